//! The edge is strict: every payload round-trips, and anything unspecified,
//! contradictory or mislabelled is refused rather than defaulted.

use prost::Message;
use tisa_core::*;
use tisa_transport::{decode_envelope, encode_envelope, proto, subjects, DecodeError};

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

fn decision(verdict: sign::Verdict) -> ReleaseDecision {
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
    tisa_transport::convert::decision_from_signed(Identity::from_seed("kim", [2; 32]).sign(doc.to_bytes())).unwrap()
}

fn env(payload: Payload) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("US.1.1").unwrap(),
        sender: Party::Us,
        sent_at: Timestamp(5),
        agreement: tisa_core::AgreementTag::default(),
        payload,
    }
}

fn roundtrip(e: Envelope) {
    let subject = format!("tisa.kr.down.{}", e.payload.kind());
    let back = decode_envelope(&subject, &encode_envelope(&e)).unwrap();
    assert_eq!(back, e);
}

#[test]
fn every_payload_round_trips() {
    let rid = RequestId::for_release(&header().id, 2, Party::Jp);
    roundtrip(env(Payload::Report(Report { header: header(), content: content(), manifest: manifest() })));
    roundtrip(env(Payload::ReleaseRequest(ReleaseRequest {
        request_id: rid.clone(),
        report_id: header().id,
        revision: 2,
        recipient: Party::Jp,
        requested_at: Timestamp(1),
        expires_at: Timestamp(2),
    })));
    for verdict in [sign::Verdict::ApproveFull, sign::Verdict::ApproveTearline, sign::Verdict::Deny] {
        roundtrip(env(Payload::ReleaseDecision(decision(verdict))));
    }
    roundtrip(env(Payload::Delivery(Delivery {
        header: header(),
        released: Released::Full(content()),
        basis: Basis::Trilateral,
        request_id: Some(rid.clone()),
        manifest: manifest(),
        consent: Some(Consent::Decision(Box::new(decision(sign::Verdict::ApproveFull)))),
    })));
    roundtrip(env(Payload::Delivery(Delivery {
        header: header(),
        released: Released::Tearline(Sensitive::new("tl")),
        basis: Basis::Trilateral,
        request_id: Some(rid.clone()),
        manifest: manifest(),
        consent: Some(Consent::Decision(Box::new(decision(sign::Verdict::ApproveFull)))),
    })));
    for stage in [
        Stage::Accepted,
        Stage::NotReleasable(NotReleasable::OutOfScope(Category::Other)),
        Stage::NotReleasable(NotReleasable::AboveCeiling {
            classification: Classification::TopSecret,
            ceiling: Classification::Secret,
        }),
        Stage::NotReleasable(NotReleasable::NotInReleasableTo),
        Stage::Forwarded { tearline_only: true },
        Stage::Denied,
        Stage::Expired,
        Stage::Retracted,
    ] {
        let recipient = if matches!(stage, Stage::Accepted | Stage::Retracted) { None } else { Some(Party::Jp) };
        roundtrip(env(Payload::Progress(Progress { report_id: header().id, revision: 2, recipient, stage })));
    }
    roundtrip(env(Payload::Rejection(Rejection {
        refers_to: MessageId::new("KR.1.9").unwrap(),
        code: "CONFLICT".into(),
        detail: "x".into(),
        report_id: Some(header().id),
        request_id: None,
    })));
}

#[test]
fn retractions_and_receipts_with_audit_heads_round_trip() {
    let kr = Identity::from_seed("kr-node", [1; 32]);
    let doc = sign::RetractionDoc {
        report_id: header().id,
        originator: Party::Kr,
        retracted_at: Timestamp(9),
        reason: "source withdrew".into(),
        operator: "kim".into(),
    };
    let r = Retraction { doc: doc.clone(), signed: kr.sign(doc.to_bytes()) };
    roundtrip(env(Payload::Retraction(r.clone())));
    // The reason travels beside the document, which signs its hash: a
    // changed reason does not decode.
    let mut wire = proto::Envelope::decode(&encode_envelope(&env(Payload::Retraction(r)))[..]).unwrap();
    if let Some(proto::envelope::Payload::Retraction(p)) = &mut wire.payload {
        p.reason = "something else".into();
    }
    assert!(decode_envelope("tisa.kr.down.retraction", &wire.encode_to_vec()).is_err());
    let rdoc = sign::ReceiptDoc {
        report_id: header().id,
        revision: 2,
        recipient: Party::Jp,
        manifest_sha256: sign::sha256(&manifest().bytes),
        received_at: Timestamp(4),
    };
    let jp = Identity::from_seed("jp-node", [3; 32]);
    let head = sign::AuditHeadDoc { party: Party::Jp, seq: 12, hash: [9; 32] };
    for audit_head in [None, Some(jp.sign(head.to_bytes()))] {
        roundtrip(env(Payload::Receipt(Receipt { doc: rdoc.clone(), signed: jp.sign(rdoc.to_bytes()), audit_head })));
    }
}

#[test]
fn tearline_only_delivery_never_carries_the_body_on_the_wire() {
    let e = env(Payload::Delivery(Delivery {
        header: header(),
        released: Released::Tearline(Sensitive::new("tl")),
        basis: Basis::Trilateral,
        request_id: None,
        manifest: manifest(),
        consent: None,
    }));
    let p = proto::Envelope::decode(encode_envelope(&e).as_slice()).unwrap();
    let Some(proto::envelope::Payload::Delivery(d)) = p.payload else { panic!("not a delivery") };
    let r = d.report.unwrap();
    assert!(d.tearline_only);
    assert!(r.title.is_empty() && r.body.is_empty() && r.source_description.is_empty());
}

#[test]
fn tearline_only_delivery_with_a_body_is_refused() {
    let e = env(Payload::Delivery(Delivery {
        header: header(),
        released: Released::Full(content()),
        basis: Basis::Trilateral,
        request_id: None,
        manifest: manifest(),
        consent: None,
    }));
    let mut p = proto::Envelope::decode(encode_envelope(&e).as_slice()).unwrap();
    if let Some(proto::envelope::Payload::Delivery(d)) = p.payload.as_mut() {
        d.tearline_only = true;
    }
    let err = decode_envelope("tisa.jp.down.delivery", &p.encode_to_vec()).unwrap_err();
    assert!(matches!(err, DecodeError::Inconsistent(_)), "{err}");
}

#[test]
fn garbage_truncation_and_mislabelled_kinds_are_refused() {
    let e = env(Payload::Report(Report { header: header(), content: content(), manifest: manifest() }));
    let bytes = encode_envelope(&e);
    assert!(decode_envelope("tisa.kr.up.report", b"\xff\xff\xff garbage").is_err());
    assert!(decode_envelope("tisa.kr.up.report", &bytes[..bytes.len() / 2]).is_err());
    let err = decode_envelope("tisa.kr.up.decision", &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::KindMismatch { .. }), "{err}");
    assert!(decode_envelope("tisa.kr.up.report", &[]).is_err(), "an empty envelope has no payload");
}

#[test]
fn unspecified_enums_and_bad_ids_are_refused() {
    let e = env(Payload::Report(Report { header: header(), content: content(), manifest: manifest() }));
    let good = proto::Envelope::decode(encode_envelope(&e).as_slice()).unwrap();
    let mutate = |f: &mut dyn FnMut(&mut proto::IntelligenceReport)| {
        let mut p = good.clone();
        if let Some(proto::envelope::Payload::Report(r)) = p.payload.as_mut() {
            f(r);
        }
        decode_envelope("tisa.kr.up.report", &p.encode_to_vec())
    };
    assert!(mutate(&mut |r| r.category = 0).is_err());
    assert!(mutate(&mut |r| r.classification = 99).is_err());
    assert!(mutate(&mut |r| r.originator = 0).is_err());
    assert!(mutate(&mut |r| r.releasable_to.push(0)).is_err());
    assert!(mutate(&mut |r| r.id = "KR-bad id with spaces".into()).is_err());
    assert!(mutate(&mut |r| r.revision = 0).is_err());
    let mut p = good.clone();
    p.version = PROTOCOL_VERSION + 1;
    p.version_minor = 7;
    let e = decode_envelope("tisa.kr.up.report", &p.encode_to_vec()).unwrap_err();
    assert!(matches!(e, DecodeError::VersionMismatch { major, minor: 7 } if major == PROTOCOL_VERSION + 1), "{e}");
    assert_eq!(e.code(), "VERSION_MISMATCH");
    // Control: the same envelope with this major (any minor) decodes.
    p.version = PROTOCOL_VERSION;
    assert!(decode_envelope("tisa.kr.up.report", &p.encode_to_vec()).is_ok());
    let mut p = good;
    p.sender = 0;
    assert!(decode_envelope("tisa.kr.up.report", &p.encode_to_vec()).is_err());
}

#[test]
fn there_is_no_subject_between_the_nations() {
    for kind in ["report", "decision", "delivery", "request", "progress", "rejection"] {
        assert_eq!(subjects::outbound(Party::Kr, Party::Jp, kind), None);
        assert_eq!(subjects::outbound(Party::Jp, Party::Kr, kind), None);
        assert_eq!(subjects::outbound(Party::Kr, Party::Kr, kind), None);
    }
    assert_eq!(subjects::outbound(Party::Kr, Party::Us, "report").as_deref(), Some("tisa.kr.up.report"));
    assert_eq!(subjects::outbound(Party::Us, Party::Jp, "delivery").as_deref(), Some("tisa.jp.down.delivery"));
    for track in ["KR-T-1", "JP-T.2"] {
        assert_eq!(subjects::outbound_track(Party::Kr, Party::Jp, track), None);
        assert_eq!(subjects::outbound_track(Party::Jp, Party::Kr, track), None);
    }
    assert_eq!(subjects::outbound_track(Party::Kr, Party::Us, "KR-T.1").as_deref(), Some("tisa.kr.up.track.KR-T~1"));
    assert_eq!(subjects::outbound_track(Party::Us, Party::Jp, "KR-T-1").as_deref(), Some("tisa.jp.down.track.KR-T-1"));
    // A nation reads only its own down subjects: its link stream's and its track stream's.
    use subjects::Direction::Down;
    assert_eq!(subjects::inbound(Party::Kr), vec![(Party::Us, Party::Kr, Down)]);
    assert_eq!(subjects::inbound(Party::Jp), vec![(Party::Us, Party::Jp, Down)]);
    assert_eq!(subjects::link_kinds(Party::Jp, Down), "tisa.jp.down.*");
    assert_eq!(subjects::track_all(Party::Jp, Down), "tisa.jp.down.track.>");
}

/// The link stream takes one token after the direction, the track stream
/// two or more: no subject is both (the broker refuses overlapping
/// streams), and every kind lands in exactly one.
#[test]
fn every_link_subject_lands_in_exactly_one_of_the_two_streams() {
    fn matches(pattern: &str, subject: &str) -> bool {
        let (p, s): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), subject.split('.').collect());
        for (i, t) in p.iter().enumerate() {
            match *t {
                ">" => return s.len() > i,
                "*" if i < s.len() => {}
                t if s.get(i) == Some(&t) => {}
                _ => return false,
            }
        }
        p.len() == s.len()
    }
    use subjects::Direction::{Down, Up};
    for (n, dir, kinds) in [(Party::Kr, Up, &subjects::UP_KINDS), (Party::Jp, Down, &subjects::DOWN_KINDS)] {
        let (link, track) = (subjects::link_kinds(n, dir), subjects::track_all(n, dir));
        for k in kinds.iter() {
            let s = subjects::data(n, dir, k);
            assert!(matches(&link, &s) && !matches(&track, &s), "{s}");
        }
        let t = subjects::track(n, dir, "KR-T.1");
        assert!(matches(&track, &t) && !matches(&link, &t), "{t}");
        assert_eq!(subjects::kind_of(&t), "track");
        assert_eq!(subjects::track_token_of(&t), Some("KR-T~1"));
        assert_eq!(subjects::track_token_of(&subjects::data(n, dir, "track")), None);
        // Control: the old single stream took both.
        assert!(matches(&subjects::data_all(n, dir), &t) && matches(&subjects::data_all(n, dir), &link));
    }
}

#[test]
fn grants_revocations_and_tracks_round_trip() {
    let kim = Identity::from_seed("kim", [2; 32]);
    let gdoc = sign::GrantDoc {
        grant_id: "KR-G-1".into(),
        originator: Party::Kr,
        recipient: Party::Jp,
        categories: vec![Category::NkMissile],
        max_classification: Classification::Secret,
        tearline_only: false,
        issued_at: Timestamp(1),
        not_after: None,
        operator: "kim".into(),
    };
    let grant = Grant { doc: gdoc.clone(), signed: kim.sign(gdoc.to_bytes()), cosign: None };
    roundtrip(env(Payload::Grant(grant.clone())));
    let rdoc = sign::RevocationDoc {
        grant_id: "KR-G-1".into(),
        originator: Party::Kr,
        revoked_at: Timestamp(2),
        operator: "kim".into(),
    };
    roundtrip(env(Payload::Revocation(Revocation { doc: rdoc.clone(), signed: kim.sign(rdoc.to_bytes()) })));

    // A track, as KR's node emits it (signed with its node key).
    let node_key = Identity::from_seed("kr-node", [1; 32]);
    let mut policy = Policy::default();
    policy.keys.push(KeyEntry {
        party: Party::Kr,
        name: "kr-node".into(),
        role: KeyRole::Node,
        public: node_key.public(),
    });
    let mut kr = Node::new(Party::Kr, policy, 7, node_key).unwrap();
    let p = |lat: f64, lon: f64| GeoPoint { lat_e6: (lat * 1e6) as i32, lon_e6: (lon * 1e6) as i32 };
    kr.track(
        Timestamp(10),
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
        },
    )
    .unwrap();
    let t = kr.poll_transmit().expect("the track goes to the hub");
    assert_eq!(t.envelope.payload.kind(), "track");
    let back = decode_envelope("tisa.kr.up.track.KR-T-1", &encode_envelope(&t.envelope)).unwrap();
    assert_eq!(back, t.envelope);
    // An older node's subject names no track: taken.
    assert_eq!(decode_envelope("tisa.kr.up.track", &encode_envelope(&t.envelope)).unwrap(), t.envelope);
    // On another track's subject (it would push that track's updates out
    // of the receiver's track stream): refused.
    let err = decode_envelope("tisa.kr.up.track.KR-T-2", &encode_envelope(&t.envelope)).unwrap_err();
    assert!(matches!(err, DecodeError::Inconsistent(_)), "{err}");
    // With the grant attached as consent (hub → recipient), too.
    let Payload::Track(mut u) = t.envelope.payload.clone() else { panic!() };
    u.consent = Some(grant);
    roundtrip(env(Payload::Track(u)));
}

#[test]
fn a_broken_envelope_yields_its_message_id_only_if_readable_and_valid() {
    use tisa_transport::convert::peek_message_id;
    let env = Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("KR.peek.1").unwrap(),
        sender: Party::Kr,
        sent_at: Timestamp(1),
        agreement: tisa_core::AgreementTag::default(),
        payload: Payload::Report(Report { header: header(), content: content(), manifest: manifest() }),
    };
    let bytes = encode_envelope(&env);
    for cut in [bytes.len() - 1, bytes.len() / 2, 13] {
        assert_eq!(peek_message_id(&bytes[..cut]).map(|m| m.to_string()).as_deref(), Some("KR.peek.1"), "cut {cut}");
    }
    assert_eq!(peek_message_id(&bytes[..12]), None, "the id itself is cut");
    assert_eq!(peek_message_id(&[0xff, 0xff, 0xff, 0xff, 0x0f, b'x']), None);
    // A message id that is not a valid id (payload text) is never returned.
    let p = proto::Envelope { version: 1, message_id: "secret words here".into(), ..Default::default() };
    assert_eq!(peek_message_id(&p.encode_to_vec()), None);
}

#[test]
fn redacted_decode_errors_never_echo_message_values() {
    let env = Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("KR.x.1").unwrap(),
        sender: Party::Kr,
        sent_at: Timestamp(1),
        agreement: tisa_core::AgreementTag::default(),
        payload: Payload::Report(Report { header: header(), content: content(), manifest: manifest() }),
    };
    let mut p = proto::Envelope::decode(encode_envelope(&env).as_slice()).unwrap();
    p.message_id = "CANARY words".into();
    let e = decode_envelope("tisa.kr.up.report", &p.encode_to_vec()).unwrap_err();
    assert_eq!(e.code(), "BAD_ID", "{e}");
    assert!(e.to_string().contains("CANARY"), "Display echoes a truncated value: {e}");
    assert!(!e.redacted().contains("CANARY"), "{}", e.redacted());
    assert!(e.redacted().contains("message_id"), "{}", e.redacted());
}

#[test]
fn a_batch_of_another_major_version_is_refused_naming_the_peers_version() {
    use tisa_transport::{decode_inbound, encode_batch};
    let e = env(Payload::Report(Report { header: header(), content: content(), manifest: manifest() }));
    let subject = "tisa.kr.down.batch";
    // Control: this major's batch decodes.
    let good = encode_batch(&[&e]);
    assert_eq!(decode_inbound(subject, &good).unwrap().len(), 1);
    let mut b = proto::EnvelopeBatch::decode(good.as_slice()).unwrap();
    assert_eq!((b.version, b.version_minor), (PROTOCOL_VERSION, PROTOCOL_VERSION_MINOR));
    b.version = PROTOCOL_VERSION + 1;
    b.version_minor = 3;
    let err = decode_inbound(subject, &b.encode_to_vec()).unwrap_err();
    assert!(matches!(err, DecodeError::VersionMismatch { minor: 3, .. }), "{err}");
    assert_eq!(err.code(), "VERSION_MISMATCH");
    // A batch from before batches carried a version: its envelopes' version is named.
    b.version = 0;
    b.version_minor = 0;
    b.envelopes[0].version = 1;
    let err = decode_inbound(subject, &b.encode_to_vec()).unwrap_err();
    assert!(matches!(err, DecodeError::VersionMismatch { major: 1, minor: 0 }), "{err}");
    assert!(err.to_string().contains("peer speaks protocol 1.0"), "{err}");
    // An envelope of this major inside a batch of another is refused all the same.
    b.version = PROTOCOL_VERSION + 1;
    b.envelopes[0].version = PROTOCOL_VERSION;
    assert!(decode_inbound(subject, &b.encode_to_vec()).is_err());
    // A single envelope is checked before the rest of it is decoded: another
    // major whose payload no longer parses is still named a version mismatch.
    let mut bytes = proto::Envelope { version: PROTOCOL_VERSION + 1, ..Default::default() }.encode_to_vec();
    bytes.extend_from_slice(&[0x52, 0x05, 0xff]); // field 10 (report), length 5, cut short
    let err = decode_envelope("tisa.kr.up.report", &bytes).unwrap_err();
    assert_eq!(err.code(), "VERSION_MISMATCH", "{err}");
}

#[test]
fn batch_proofs_round_trip_and_malformed_ones_are_refused() {
    let node = Identity::from_seed("kr-node", [1; 32]);
    let docs: Vec<Vec<u8>> = (1..=3)
        .map(|rev| sign::Manifest::of(&ReportHeader { revision: rev, ..header() }, &content(), "kim", None).to_bytes())
        .collect();
    let signed = node.sign_batch(docs);
    assert!(signed.iter().all(|s| s.batch.is_some()));
    let report = |m: Signed| env(Payload::Report(Report { header: header(), content: content(), manifest: m }));
    for s in &signed {
        roundtrip(report(s.clone()));
    }
    // The proof as the wire carries it, altered field by field.
    let wire = |f: &dyn Fn(&mut proto::Signed)| {
        let mut p = proto::Envelope::decode(encode_envelope(&report(signed[1].clone())).as_slice()).unwrap();
        let Some(proto::envelope::Payload::Report(r)) = &mut p.payload else { panic!("a report") };
        f(r.manifest.as_mut().unwrap());
        decode_envelope("tisa.kr.up.report", &p.encode_to_vec())
    };
    assert!(wire(&|_| {}).is_ok(), "control: the proof as sent");
    type Alter<'a> = &'a dyn Fn(&mut proto::Signed);
    let bad: [(&str, Alter); 6] = [
        ("a batch of one", &|s| s.batch_size = 1),
        ("index beyond the size", &|s| s.batch_index = 3),
        ("an index with no size", &|s| {
            s.batch_size = 0;
            s.batch_path.clear()
        }),
        ("a short hash", &|s| s.batch_path[0].truncate(31)),
        ("a path too long", &|s| s.batch_path = vec![vec![0; 32]; sign::MAX_PATH + 1]),
        ("a size beyond the bound", &|s| s.batch_size = sign::MAX_BATCH + 1),
    ];
    for (what, f) in bad {
        assert!(matches!(wire(f), Err(DecodeError::Inconsistent(_))), "{what}");
    }
}

/// What arrived is logged as its bytes came: the record written from an
/// envelope's bytes is the record of the decoded envelope, byte for byte,
/// and decodes to the same input; each envelope of a batch comes with its
/// own bytes, shared with the batch's.
#[test]
fn an_inbound_envelope_is_logged_as_its_bytes_came() {
    use tisa_transport::input_log::encode_inbound;
    use tisa_transport::{decode_inbound_shared, encode_batch, Wire};
    let report = env(Payload::Report(Report { header: header(), content: content(), manifest: manifest() }));
    let decided = env(Payload::ReleaseDecision(decision(sign::Verdict::ApproveFull)));
    for (e, link, at) in [
        (&report, Party::Kr, Timestamp(1_716_820_330_123)),
        (&decided, Party::Jp, Timestamp(0)),
        (&report, Party::Us, Timestamp(7)),
    ] {
        let logged = LoggedInput { at, input: Input::Message { link, envelope: e.clone() } };
        let raw = encode_inbound(at, link, &encode_envelope(e));
        assert_eq!(raw, logged.encode(), "the same record");
        assert_eq!(LoggedInput::decode(&raw).unwrap(), logged);
    }
    // A batch: each envelope with exactly its own bytes.
    let batch = bytes::Bytes::from(encode_batch(&[&report, &decided]));
    let parts = decode_inbound_shared("tisa.kr.up.batch", &batch).unwrap();
    assert_eq!(parts.len(), 2);
    for ((got, raw), want) in parts.iter().zip([&report, &decided]) {
        assert_eq!(got, want);
        assert_eq!(raw.as_ref(), encode_envelope(want).as_slice());
        let within = raw.as_ptr() as usize - batch.as_ptr() as usize;
        assert!(within + raw.len() <= batch.len(), "a slice of the batch, not a copy");
    }
    let single = bytes::Bytes::from(encode_envelope(&report));
    let parts = decode_inbound_shared("tisa.kr.up.report", &single).unwrap();
    assert_eq!((parts[0].0.clone(), parts[0].1.clone()), (report.clone(), single.clone()));
    // What prost refuses in a batch is refused alike: field 1 as a varint,
    // an envelope running past the end, garbage.
    let mut wrong = vec![0x08, 0x01];
    wrong.extend_from_slice(&batch);
    let mut cut = batch.to_vec();
    cut.truncate(cut.len() - 10);
    for bad in [wrong, cut, vec![0xff, 0xff, 0xff]] {
        assert!(proto::EnvelopeBatch::decode(bad.as_slice()).is_err(), "prost refuses it");
        let e = decode_inbound_shared("tisa.kr.up.batch", &bytes::Bytes::from(bad)).unwrap_err();
        assert_eq!(e.code(), "PROTOBUF", "{e}");
    }
}
