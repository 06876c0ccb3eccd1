//! The control protocol and the input log: every request and every reply
//! round-trips through its one `Wire` impl, a command becomes its core
//! `Command` and back, and anything contradictory is refused.

use std::collections::BTreeMap;

use prost::Message;
use tisa_core::*;
use tisa_transport::bundle::{ExportRequest, ImportRequest};
use tisa_transport::control::{decode_request, CourierCopy, Retract};
use tisa_transport::{
    proto, subjects, CommandRequest, ControlReply, ControlRequest, DeadLetter, DecisionQuery, DecodeError, Health,
    ListQuery, Query, SendError, WatchEvent, Wire,
};

fn header() -> ReportHeader {
    ReportHeader {
        id: ReportId::new("KR-abc").unwrap(),
        revision: 2,
        originator: Party::Kr,
        created_at: Timestamp(1_419_811_200_000),
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: "USA,JPN".parse().unwrap(),
    }
}

fn content() -> Content {
    Content {
        title: Sensitive::new("t"),
        body: Sensitive::new("b"),
        tearline: Some(Sensitive::new("tl")),
        source: Sensitive::new("s"),
    }
}

fn manifest() -> Signed {
    Identity::from_seed("kr-node", [1; 32]).sign(sign::Manifest::of(&header(), &content(), "kim", None).to_bytes())
}

fn kim() -> Identity {
    Identity::from_seed("kim", [2; 32])
}

fn decision_doc(verdict: sign::Verdict) -> Signed {
    let doc = sign::DecisionDoc {
        manifest_sha256: sign::sha256(&manifest().bytes),
        request_id: RequestId::for_release(&header().id, 2, Party::Jp),
        report_id: header().id,
        revision: 2,
        recipient: Party::Jp,
        verdict,
        reason: if verdict == sign::Verdict::Deny { "no".into() } else { String::new() },
        decided_at: Timestamp(3),
        operator: "kim".into(),
    };
    kim().sign(doc.to_bytes())
}

fn grant() -> Grant {
    let doc = sign::GrantDoc {
        grant_id: "KR-G-1".into(),
        originator: Party::Kr,
        recipient: Party::Jp,
        categories: vec![Category::NkMissile],
        max_classification: Classification::Secret,
        tearline_only: false,
        issued_at: Timestamp(1),
        not_after: Some(Timestamp(99)),
        operator: "kim".into(),
    };
    Grant { signed: kim().sign(doc.to_bytes()), doc, cosign: None }
}

fn track_draft() -> TrackDraft {
    let p = |lat: f64, lon: f64| GeoPoint { lat_e6: (lat * 1e6) as i32, lon_e6: (lon * 1e6) as i32 };
    TrackDraft {
        track_id: TrackId::new("KR-T-1").unwrap(),
        seq: 1,
        classification: Classification::Secret,
        releasable_to: "USA,JPN".parse().unwrap(),
        launch: p(39.0, 125.7),
        launched_at: Timestamp(5),
        position: p(39.5, 128.0),
        altitude_m: 400_000,
        observed_at: Timestamp(9),
        impact: Some(p(40.0, 134.0)),
    }
}

/// A signed track update, as KR's core issues it.
fn track() -> TrackUpdate {
    let node_key = Identity::from_seed("kr-node", [1; 32]);
    let mut policy = Policy::default();
    policy.keys.push(KeyEntry {
        party: Party::Kr,
        name: "kr-node".into(),
        role: KeyRole::Node,
        public: node_key.public(),
    });
    let mut kr = Node::new(Party::Kr, policy, 7, node_key).unwrap();
    kr.track(Timestamp(10), track_draft()).unwrap().update
}

fn draft() -> ReportDraft {
    ReportDraft {
        offline: false,
        category: Category::NkNuclear,
        classification: Classification::Confidential,
        releasable_to: "USA,JPN".parse().unwrap(),
        content: content(),
        corrects: Some(header().id),
        submitted_by: "kim".into(),
        submitter_key: None,
        submission: None,
        source_key: Some("usgs:1".into()),
    }
}

fn query() -> ListQuery {
    ListQuery {
        after: Some("KR-abc.r2".into()),
        limit: 7,
        report_id: Some(header().id),
        inbox: InboxFilter {
            since: Some(Timestamp(5)),
            originator: Some(Party::Jp),
            category: Some(Category::NkNuclear),
            classification: Some(Classification::Secret),
            newest_first: true,
        },
        full: true,
    }
}

/// One of each request, every field set.
fn requests() -> Vec<ControlRequest> {
    let request_id = RequestId::for_release(&header().id, 2, Party::Jp);
    vec![
        ControlRequest::Submit(draft()),
        ControlRequest::Submit(ReportDraft { corrects: None, source_key: None, ..draft() }),
        ControlRequest::Decide(decision_doc(sign::Verdict::ApproveFull)),
        ControlRequest::Grant(grant().signed),
        ControlRequest::Revoke(kim().sign(b"tisa.v1.revocation\n".to_vec())),
        ControlRequest::Cosign(kim().sign_by_id(b"tisa.v1.cosign\n".to_vec())),
        ControlRequest::Track(track_draft()),
        ControlRequest::Retract(Retract { report_id: header().id, reason: "withdrawn".into(), operator: "kim".into() }),
        ControlRequest::Pending(query()),
        ControlRequest::Inbox(ListQuery::default()),
        ControlRequest::Status(query()),
        ControlRequest::Health,
        ControlRequest::Grants(query()),
        ControlRequest::DecisionDocument(DecisionQuery {
            request_id: request_id.clone(),
            decision: Decision::ApproveTearline,
            operator: "kim".into(),
        }),
        ControlRequest::DecisionDocument(DecisionQuery {
            request_id,
            decision: Decision::Deny { reason: "source protection".into() },
            operator: "kim".into(),
        }),
        ControlRequest::Tracks(query()),
        ControlRequest::DeadLetters(ListQuery { limit: 3, ..Default::default() }),
        ControlRequest::Held(ListQuery::default()),
        ControlRequest::BundleExport(ExportRequest { to: Party::Us, bundle: None, first: 0 }),
        ControlRequest::BundleExport(ExportRequest { to: Party::Us, bundle: Some([9; 32]), first: 7 }),
        ControlRequest::BundleImport(Box::new(ImportRequest {
            document: kim().sign(b"tisa.v1.bundle\n".to_vec()),
            first: 3,
            envelopes: vec![vec![1, 2, 3], vec![]],
        })),
        ControlRequest::CourierCopy(CourierCopy { to: Party::Us, report_id: header().id }),
    ]
}

#[test]
fn every_request_round_trips_on_its_verbs_subject() {
    let mut verbs = std::collections::BTreeSet::new();
    for req in requests() {
        let subject = subjects::control(Party::Kr, req.verb());
        assert_eq!(decode_request(&subject, &req.encode()).unwrap(), (req.clone(), None), "{}", req.verb());
        verbs.insert(req.verb());
        // On another verb's subject it is refused.
        let other = if req.verb() == "health" { "inbox" } else { "health" };
        let err = decode_request(&subjects::control(Party::Kr, other), &req.encode()).unwrap_err();
        assert!(matches!(err, DecodeError::KindMismatch { .. }), "{err}");
    }
    // The samples cover every verb, and the subjects are exactly the verbs.
    let all: std::collections::BTreeSet<&str> = ControlRequest::VERBS.iter().copied().collect();
    assert_eq!(verbs, all);
    assert_eq!(subjects::VERBS, ControlRequest::VERBS);
    assert_eq!(all.len(), ControlRequest::VERBS.len(), "no verb twice");
}

#[test]
fn a_request_is_a_command_or_a_query_and_a_command_is_a_core_input() {
    let mut commands = Vec::new();
    for req in requests() {
        let verb = req.verb();
        match req.clone().split() {
            Ok(command) => {
                assert!(ControlRequest::COMMAND_VERBS.contains(&verb), "{verb}");
                assert_eq!(ControlRequest::from(command.clone()), req);
                let id = ReportId::new("KR-new").unwrap();
                let core = command.clone().into_command(|| Ok::<_, ()>(id.clone())).unwrap();
                assert_eq!(core.verb(), verb, "the core's name for it is its verb");
                assert_eq!(CommandRequest::from(core.clone()), command, "and back");
                if let Command::Submit { report_id, .. } = &core {
                    assert_eq!(*report_id, id, "a submit takes the id the node chose");
                }
                commands.push(verb);
            }
            Err(q) => {
                assert!(!ControlRequest::COMMAND_VERBS.contains(&verb), "{verb}");
                assert_eq!(q.verb(), verb);
                assert_eq!(ControlRequest::from(q), req);
            }
        }
    }
    commands.sort();
    commands.dedup();
    let mut expected = ControlRequest::COMMAND_VERBS.to_vec();
    expected.sort();
    assert_eq!(commands, expected);
    // Only a submit asks for a new report id.
    let decide = CommandRequest::Decide(decision_doc(sign::Verdict::Deny));
    assert!(decide.into_command(|| Err::<ReportId, _>("no id needed")).is_ok());
    let submit = CommandRequest::Submit(draft());
    assert_eq!(submit.into_command(|| Err::<ReportId, _>("no id")), Err("no id"));
    assert!(matches!(ControlRequest::Health.split(), Err(Query::Health)));
}

#[test]
fn a_decision_and_its_verdict_convert_both_ways() {
    for d in [Decision::ApproveFull, Decision::ApproveTearline, Decision::Deny { reason: "no".into() }] {
        let (verdict, reason) = d.verdict();
        assert_eq!(Decision::from_verdict(verdict, reason.to_owned()), d);
    }
    // A decision document's fields come from the signed document.
    for verdict in [sign::Verdict::ApproveFull, sign::Verdict::ApproveTearline, sign::Verdict::Deny] {
        let d = tisa_transport::convert::decision_from_signed(decision_doc(verdict)).unwrap();
        assert_eq!(d.decision.verdict().0, verdict);
    }
}

fn status(hub: HubState, states: Vec<(Party, RecipientState)>, receipts: Vec<(Party, Timestamp)>) -> RevisionStatus {
    RevisionStatus {
        header: header(),
        hub,
        recipients: states.into_iter().collect(),
        receipts: receipts.into_iter().collect(),
        retracted_at: Some(Timestamp(77)),
        retraction_confirmed: true,
        report: None,
        body: None,
    }
}

/// One of each reply, and each state of the nested enums.
fn replies() -> Vec<ControlReply> {
    let request_id = RequestId::for_release(&header().id, 2, Party::Jp);
    let request = ReleaseRequest {
        request_id: request_id.clone(),
        report_id: header().id,
        revision: 2,
        recipient: Party::Jp,
        requested_at: Timestamp(1),
        expires_at: Timestamp(2),
    };
    let delivery = Delivery {
        header: header(),
        released: Released::Full(content()),
        basis: Basis::Trilateral,
        request_id: Some(request_id.clone()),
        manifest: manifest(),
        consent: Some(Consent::Grant(grant().into())),
    };
    let note = |why| SubmitNote { recipient: Party::Jp, why };
    let pending = PendingView {
        request: request.clone(),
        header: header(),
        title: Sensitive::new("t"),
        has_tearline: true,
        manifest: manifest(),
        body: None,
        content: None,
    };
    let mut statuses = vec![RevisionStatus {
        report: Some(Report { header: header(), content: content(), manifest: manifest() }),
        ..status(HubState::Accepted, vec![], vec![])
    }];
    for hub in [
        HubState::Sent,
        HubState::Accepted,
        HubState::Own,
        HubState::Rejected { code: "CONFLICT".into(), detail: "a: b".into() },
    ] {
        statuses.push(status(hub, vec![(Party::Jp, RecipientState::Waiting)], vec![]));
    }
    for (st, receipt) in [
        (RecipientState::NotReleasable(NotReleasable::OutOfScope(Category::Other)), false),
        (
            RecipientState::NotReleasable(NotReleasable::AboveCeiling {
                classification: Classification::TopSecret,
                ceiling: Classification::Secret,
            }),
            false,
        ),
        (RecipientState::NotReleasable(NotReleasable::NotInReleasableTo), false),
        (RecipientState::NotReleasable(NotReleasable::NotAThirdParty), false),
        (RecipientState::Requested { request_id: request_id.clone(), expires_at: Timestamp(5) }, false),
        (RecipientState::Approved { tearline_only: true }, false),
        (RecipientState::Denied, false),
        (RecipientState::Expired, false),
        (RecipientState::Withdrawn, false),
        (RecipientState::Delivered { tearline_only: false }, false),
        (RecipientState::Delivered { tearline_only: true }, true),
    ] {
        let receipts = if receipt { vec![(Party::Jp, Timestamp(8))] } else { vec![] };
        statuses.push(status(
            HubState::Accepted,
            vec![(Party::Jp, st), (Party::Us, RecipientState::Waiting)],
            receipts,
        ));
    }
    vec![
        ControlReply::error("EXPIRED", "request KR-abc expired"),
        ControlReply::Submitted(Submitted {
            header: header(),
            notes: vec![
                note(NotReleasable::OutOfScope(Category::Other)),
                note(NotReleasable::AboveCeiling {
                    classification: Classification::TopSecret,
                    ceiling: Classification::Secret,
                }),
                note(NotReleasable::NotInReleasableTo),
            ],
            duplicate: true,
        }),
        ControlReply::Pending(Page {
            // In a list, and as one report's requests (with the whole report).
            items: vec![pending.clone(), PendingView { content: Some(content()), ..pending }],
            next_after: Some("x".into()),
        }),
        ControlReply::Decided { request_id: request_id.clone(), decision: Decision::Deny { reason: "no".into() } },
        ControlReply::Decided { request_id, decision: Decision::ApproveTearline },
        ControlReply::Inbox(Page {
            items: vec![
                InboxEntry {
                    delivery: delivery.clone(),
                    received_at: Timestamp(4),
                    retracted: None,
                    body: None,
                    offline: false,
                },
                InboxEntry {
                    delivery: Delivery {
                        released: Released::Tearline(Sensitive::new("tl")),
                        consent: None,
                        ..delivery
                    },
                    received_at: Timestamp(4),
                    retracted: Some(RetractionNote { retracted_at: Timestamp(6), reason: Sensitive::new("why") }),
                    body: None,
                    offline: true,
                },
            ],
            next_after: None,
        }),
        ControlReply::Status(Page { items: statuses, next_after: Some("KR-abc".into()) }),
        ControlReply::Health(Health {
            party: Party::Us,
            version: "0.1.0".into(),
            started_at: Timestamp(1),
            now: Timestamp(2),
            malformed: 3,
            rejected: 4,
            received: 5,
            sent: 6,
            connected: false,
            agreement_version: 7,
            dead_letters: 8,
            dead_letter_errors: 9,
            outbox: 10,
            tracks_superseded: 21,
            offline_waiting: 3,
            send_error: Some(SendError { stream: "TISA_JP_DOWN".into(), reason: "full".into(), since: Timestamp(11) }),
            held: 12,
            refused_replies: 13,
            track_lane: tisa_transport::TrackLaneHealth {
                enabled: true,
                passed: 16,
                left: 17,
                dropped: 18,
                windows: 19,
                windowed: 20,
                stream_paced: true,
                stream_copies: 25,
                stream_takes: 26,
            },
            early_forward: tisa_transport::EarlyForwardHealth { enabled: true, batches: 19, deliveries: 20 },
            notices: tisa_transport::NoticeHealth { coalesced: true, held: 25, sends: 26 },
            commits: tisa_transport::CommitHealth { buckets: vec![0, 0, 21, 0, 22] },
            checks_ahead: tisa_transport::ChecksAheadHealth { enabled: true, checks: 23, by_helper: 24 },
            streams: vec![tisa_transport::StreamHealth {
                name: "TISA_KR_UP".into(),
                replicas: 3,
                cluster: "tisa-us".into(),
                leader: "tisa-us-2".into(),
                peers: vec![tisa_transport::StreamPeer {
                    name: "tisa-us-1".into(),
                    current: true,
                    offline: false,
                    lag: 14,
                    active_ms: 15,
                }],
                error: String::new(),
            }],
            agreement: tisa_transport::AgreementHealth {
                sha256: "ab".repeat(32),
                staged: vec!["v2 (abababab…) at 5 ms".into()],
                peers: vec!["KOR v1 (abababab…)".into(), "JPN not heard from yet".into()],
                mismatches: vec!["JPN enforces agreement v2 (…), this node v1 (…)".into()],
                ignored: 14,
                reload_error: "version 2 takes effect at 5 ms, which has passed".into(),
            },
        }),
        ControlReply::Grants(vec![GrantView { grant: grant(), revoked: true, proposed: false }]),
        ControlReply::DecisionDocument(b"tisa.v1.decision\n".to_vec()),
        ControlReply::Track(TrackSubmitted { update: track(), duplicate: false }),
        ControlReply::Tracks(Page {
            items: vec![TrackEntry {
                update: TrackUpdate { consent: Some(grant()), ..track() },
                received_at: Timestamp(3),
            }],
            next_after: None,
        }),
        ControlReply::DeadLetters(
            vec![DeadLetter {
                seq: 4,
                at: Timestamp(5),
                subject: "tisa.kr.down.report".into(),
                link: Some(Party::Us),
                stream: "TISA_KR_DOWN".into(),
                stream_seq: Some(9),
                broker_message_id: Some("US.1.2".into()),
                message_id: None,
                size: 12,
                delivered: 2,
                class: "MALFORMED".into(),
                reason: "PROTOBUF".into(),
                detail: "x".into(),
            }],
            40,
        ),
        ControlReply::Held(Page {
            items: vec![
                HeldView {
                    kind: HeldKind::Delivery,
                    id: "KR-abc".into(),
                    revision: 2,
                    originator: Party::Kr,
                    grant_id: "KR-G-1".into(),
                    held_at: Timestamp(13),
                    statement_issued_at: Some(Timestamp(7)),
                },
                HeldView {
                    kind: HeldKind::Track,
                    id: "KR-T-1".into(),
                    revision: 9,
                    originator: Party::Kr,
                    grant_id: "KR-G-1".into(),
                    held_at: Timestamp(14),
                    statement_issued_at: None,
                },
            ],
            next_after: Some("track:KR-T-1".into()),
        }),
    ]
}

#[test]
fn every_reply_round_trips() {
    for r in replies() {
        assert_eq!(ControlReply::decode(&r.encode()).unwrap(), r);
    }
}

#[test]
fn a_reply_that_contradicts_itself_is_refused() {
    let submitted = ControlReply::Submitted(Submitted { header: header(), notes: vec![], duplicate: false });
    let mutate = |r: &ControlReply, f: &dyn Fn(&mut proto::control_reply::Reply)| {
        let mut p = r.to_proto();
        f(p.reply.as_mut().unwrap());
        ControlReply::from_proto(p)
    };
    use proto::control_reply::Reply as R;
    assert!(mutate(&submitted, &|r| if let R::Submitted(s) = r {
        s.revision = 3
    })
    .is_err());
    assert!(mutate(&submitted, &|r| if let R::Submitted(s) = r {
        s.report = None
    })
    .is_err());
    let st = ControlReply::Status(Page {
        items: vec![status(HubState::Sent, vec![(Party::Jp, RecipientState::Waiting)], vec![])],
        next_after: None,
    });
    let e = mutate(&st, &|r| {
        if let R::Status(l) = r {
            l.items[0].hub = "LOST".into()
        }
    })
    .unwrap_err();
    assert!(matches!(e, DecodeError::Inconsistent(_)), "{e}");
    let e = mutate(&st, &|r| {
        if let R::Status(l) = r {
            l.items[0].recipients[0].state = "MAYBE".into()
        }
    })
    .unwrap_err();
    assert!(matches!(e, DecodeError::Inconsistent(_)), "{e}");
    let e = mutate(&st, &|r| {
        if let R::Status(l) = r {
            l.items[0].recipients[0].state = "NOT_RELEASABLE".into();
        }
    })
    .unwrap_err();
    assert!(matches!(e, DecodeError::Missing(_)), "a reason is required: {e}");
    assert!(ControlReply::decode(&proto::ControlReply { reply: None }.encode_to_vec()).is_err());
}

#[test]
fn watch_events_round_trip() {
    let full = WatchEvent {
        kind: "RECEIVED".into(),
        at: Timestamp(3),
        report_id: Some("KR-abc".into()),
        revision: 2,
        request_id: Some("r".into()),
        originator: Some(Party::Kr),
        recipient: Some(Party::Jp),
        category: Some(Category::NkMissile),
        classification: Some(Classification::Secret),
        detail: "trilateral".into(),
        title: Some(Sensitive::new("t")),
        tearline_only: true,
    };
    let empty = WatchEvent {
        report_id: None,
        request_id: None,
        originator: None,
        recipient: None,
        category: None,
        classification: None,
        title: None,
        ..full.clone()
    };
    for w in [full, empty] {
        assert_eq!(WatchEvent::decode(&w.encode()).unwrap(), w);
    }
}

/// What `tisa watch` shows of a time in an event's detail is RFC 3339 UTC, never epoch milliseconds.
#[test]
fn watch_event_details_show_times_in_rfc3339() {
    let id = ReportId::new("KR-abc").unwrap();
    let request = ReleaseRequest {
        request_id: RequestId::for_release(&id, 2, Party::Jp),
        report_id: id,
        revision: 2,
        recipient: Party::Jp,
        requested_at: Timestamp(1_716_820_000_000),
        expires_at: Timestamp(1_716_820_330_000),
    };
    let w = tisa_transport::control::watch_event(&node::Event::ReleaseRequested { request }, Timestamp(0));
    assert_eq!(w.detail, "expires at 2024-05-27T14:32:10Z");
}

fn logged(input: Input) -> LoggedInput {
    LoggedInput { at: Timestamp(42), input }
}

#[test]
fn every_input_round_trips_through_the_log() {
    let report = Report { header: header(), content: content(), manifest: manifest() };
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("KR.1.1").unwrap(),
        sender: Party::Kr,
        sent_at: Timestamp(5),
        agreement: tisa_core::AgreementTag::default(),
        payload: Payload::Report(report.clone()),
    };
    let window = Envelope {
        message_id: MessageId::new("US.1.9").unwrap(),
        sender: Party::Us,
        payload: Payload::Track(TrackUpdate { consent: Some(grant()), ..track() }),
        ..envelope.clone()
    };
    let mut inputs = vec![
        Input::Message { link: Party::Kr, envelope },
        Input::TrackWindow { link: Party::Us, envelope: window, first_seq: 3, updates: 7 },
        Input::Timeout,
        Input::LinkUp { link: Party::Jp },
    ];
    let key = Identity::from_seed("kim", [5; 32]);
    for req in requests() {
        let action = tisa_transport::sign_action(Party::Kr, &req, &key);
        let auth = Authorization { action, payload_sha256: req.payload_sha256() };
        if let Ok(c) = req.split() {
            inputs.push(Input::Command(c.clone().into_command(|| ReportId::new("KR-new")).unwrap(), None));
            inputs.push(Input::Command(c.into_command(|| ReportId::new("KR-new")).unwrap(), Some(auth)));
        }
    }
    for input in inputs {
        let l = logged(input);
        assert_eq!(LoggedInput::decode(&l.encode()).unwrap(), l);
    }
    assert_eq!(Report::decode(&report.encode()).unwrap(), report, "a body in the store");
}

#[test]
fn a_log_record_without_its_report_id_or_with_a_query_is_refused() {
    let submit =
        logged(Input::Command(Command::Submit { report_id: ReportId::new("KR-new").unwrap(), draft: draft() }, None));
    let mut p = submit.to_proto();
    p.report_id.clear();
    assert!(LoggedInput::from_proto(p).is_err(), "a submit needs the id the node chose");
    let p = proto::LoggedInput {
        at_ms: 1,
        input: Some(proto::logged_input::Input::Command(ControlRequest::Health.to_proto())),
        report_id: String::new(),
    };
    let e = LoggedInput::from_proto(p).unwrap_err();
    assert!(matches!(e, DecodeError::Inconsistent(_)), "{e}");
}

#[test]
fn a_signed_request_carries_its_action_and_the_payload_hash_it_must_cover() {
    let key = Identity::from_seed("kim", [5; 32]);
    for req in requests() {
        let action = tisa_transport::sign_action(Party::Kr, &req, &key);
        let bytes = req.encode_signed(Some(&action));
        let (back, auth) = ControlRequest::decode_signed(&bytes).unwrap();
        assert_eq!(back, req);
        let auth = auth.expect("the action travels with the request");
        assert_eq!(auth.action, action);
        let doc = tisa_core::sign::ActionDoc::parse(&action.bytes).unwrap();
        assert_eq!(auth.payload_sha256, doc.payload_sha256, "{}: the node computes what the CLI signed", req.verb());
        // Unsigned: no action; the plain encoding is the signed one minus the action.
        let (_, none) = ControlRequest::decode_signed(&req.encode()).unwrap();
        assert!(none.is_none());
    }
    // A request changed after signing no longer matches its action.
    let submit = ControlRequest::Submit(draft());
    let action = tisa_transport::sign_action(Party::Kr, &submit, &key);
    let mut other = draft();
    other.classification = Classification::Secret;
    let forged = ControlRequest::Submit(other).encode_signed(Some(&action));
    let (_, auth) = ControlRequest::decode_signed(&forged).unwrap();
    let doc = tisa_core::sign::ActionDoc::parse(&action.bytes).unwrap();
    assert_ne!(auth.unwrap().payload_sha256, doc.payload_sha256);
}

#[test]
fn statuses_keep_every_recipient_in_order() {
    let s =
        status(HubState::Own, vec![(Party::Jp, RecipientState::Denied), (Party::Kr, RecipientState::Expired)], vec![]);
    let back = RevisionStatus::decode(&s.encode()).unwrap();
    assert_eq!(
        back.recipients,
        BTreeMap::from([(Party::Kr, RecipientState::Expired), (Party::Jp, RecipientState::Denied)])
    );
}
