//! Forged and inconsistent input: wrong senders, links that do not exist,
//! decisions and reports that do not match, messages of the wrong kind or
//! basis.

use super::*;

#[test]
fn wrong_sender_for_the_link_is_forged() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    // JP's name on KR's link, KR's name on JP's link, the hub's name on a nation's link.
    let mut env = envelope(JP, "JP.x.1", now, report.clone());
    assert_eq!(
        expect_rejected(&mut sim, US, KR, env.clone(), "FORGED_SENDER"),
        RejectReason::ForgedSender { claimed: JP, link: KR }
    );
    env.sender = KR;
    assert_eq!(
        expect_rejected(&mut sim, US, JP, env.clone(), "FORGED_SENDER"),
        RejectReason::ForgedSender { claimed: KR, link: JP }
    );
    env.sender = US;
    expect_rejected(&mut sim, US, JP, env, "FORGED_SENDER");
    // At a nation: anything not signed by the hub on the hub's link.
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    for (i, sender) in [KR, JP].into_iter().enumerate() {
        let env = envelope(sender, &format!("X.x.{i}"), now, delivery.clone());
        assert_eq!(
            expect_rejected(&mut sim, JP, US, env, "FORGED_SENDER"),
            RejectReason::ForgedSender { claimed: sender, link: US }
        );
    }
    sim.drive();
    assert!(sim.inbox(JP).is_empty() && sim.received(JP).is_empty());
    assert_eq!(sim.inbox(US).len(), 1);
}

#[test]
fn messages_on_links_that_do_not_exist_are_refused_silently() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    // KR straight to JP (with either name), JP straight to KR, a node to itself.
    expect_rejected(&mut sim, JP, KR, envelope(KR, "KR.x.1", now, delivery.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, JP, KR, envelope(US, "US.x.1", now, delivery.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, KR, JP, envelope(JP, "JP.x.1", now, report.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, US, US, envelope(US, "US.x.2", now, report.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, KR, KR, envelope(KR, "KR.x.2", now, report), "UNEXPECTED_MESSAGE");
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
}

#[test]
fn a_decision_from_the_wrong_nation_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let r = rid("KR-0001", 1, JP);
    // Signed by JP's own approver: JP may not decide KR's report.
    for (i, d) in [Decision::ApproveFull, Decision::Deny { reason: "sabotage".into() }].into_iter().enumerate() {
        let d = decision_by(&sim, "KR-0001", 1, JP, d, now, &approver(JP, 1));
        let env = envelope(JP, &format!("JP.x.{i}"), now, Payload::ReleaseDecision(d));
        assert_eq!(expect_rejected(&mut sim, US, JP, env, "NOT_ORIGINATOR"), RejectReason::NotOriginator(r.clone()));
    }
    // Signed by a KR approver but sent by JP: not a key of the party on the link.
    let d = decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now);
    let reason =
        expect_rejected(&mut sim, US, JP, envelope(JP, "JP.y.1", now, Payload::ReleaseDecision(d)), "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }));
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
    // The request is untouched: KR still decides, and JP gets it once.
    assert_eq!(sim.pending(KR).len(), 1);
    sim.approve(KR, &r, false).unwrap();
    sim.drive();
    assert_eq!(sim.deliveries_to(JP).len(), 1);
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn a_decision_that_does_not_match_its_request_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    kr_report_requested(&mut sim, "KR-0002", "b");
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a2")).unwrap();
    sim.drive();
    let now = sim.now;
    let good = decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now);
    let good_doc = DecisionDoc::parse(&good.signed.bytes).unwrap();
    type Alter = fn(&mut DecisionDoc);
    let alter: [(&str, Alter); 6] = [
        ("report", |d| d.report_id = report_id("KR-0002")),
        ("revision", |d| d.revision = 2),
        ("revision0", |d| d.revision = 0),
        ("recipient-us", |d| d.recipient = US),
        ("recipient-kr", |d| d.recipient = KR),
        ("request", |d| d.request_id = rid("KR-0002", 1, JP)),
    ];
    // A KR approver signs a document that does not match the request it names.
    for (i, (what, f)) in alter.iter().enumerate() {
        let mut doc = DecisionDoc { operator: "park".into(), ..good_doc.clone() };
        f(&mut doc);
        let d = signed_decision(&doc, &approver(KR, 1));
        let env = envelope(KR, &format!("KR.x.{i}"), now, Payload::ReleaseDecision(d.clone()));
        let reason = expect_rejected(&mut sim, US, KR, env, "REQUEST_MISMATCH");
        assert_eq!(reason, RejectReason::RequestMismatch(d.request_id), "{what}");
    }
    // The same alterations made to the fields only, next to the genuine signature.
    for (i, (what, f)) in alter.iter().enumerate() {
        let mut doc = good_doc.clone();
        f(&mut doc);
        let mut d = good.clone();
        (d.request_id, d.report_id, d.revision, d.recipient) =
            (doc.request_id, doc.report_id, doc.revision, doc.recipient);
        let env = envelope(KR, &format!("KR.z.{i}"), now, Payload::ReleaseDecision(d));
        let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{what}: {reason:?}");
    }
    let mut doc = good_doc.clone();
    doc.request_id = rid("KR-0001", 7, JP);
    let d = signed_decision(&doc, &approver(KR, 0));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.y.1", now, Payload::ReleaseDecision(d)), "UNKNOWN_REQUEST");
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.forwarded_to(JP).is_empty());
    assert_eq!(sim.pending(KR).len(), 3);
}

#[test]
fn a_nation_refuses_its_own_report() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.report_sent("KR-0001", 1);
    assert_eq!(report.header, sub.header);
    for (i, basis) in [Basis::Trilateral, Basis::Bilateral].into_iter().enumerate() {
        let d = Delivery { basis, ..trilateral(&report, KR, false, None) };
        assert_eq!(d.request_id, Some(rid("KR-0001", 1, KR)));
        let env = envelope(US, &format!("US.x.{i}"), now, Payload::Delivery(d));
        assert_eq!(expect_rejected(&mut sim, KR, US, env, "OWN_REPORT"), RejectReason::OwnReport(report_id("KR-0001")));
    }
    assert!(sim.inbox(KR).is_empty());
}

#[test]
fn a_report_must_come_from_its_originator() {
    let mut sim = Sim::new();
    let now = sim.now;
    let header = |id: &str, originator: Party, revision: u32| ReportHeader {
        id: report_id(id),
        revision,
        originator,
        created_at: now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("USA,KOR,JPN"),
    };
    let report = |h| Payload::Report(signed_report(h, content("f", true)));
    // KR passing off a report as JP's.
    let r = expect_rejected(
        &mut sim,
        US,
        KR,
        envelope(KR, "KR.x.1", now, report(header("JP-0001", JP, 1))),
        "WRONG_ORIGINATOR",
    );
    assert_eq!(r, RejectReason::WrongOriginator { report: report_id("JP-0001"), claimed: JP, link: KR });
    expect_rejected(
        &mut sim,
        US,
        KR,
        envelope(KR, "KR.x.2", now, report(header("US-0001", US, 1))),
        "WRONG_ORIGINATOR",
    );
    // KR's own name on another prefix, or revision 0.
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.3", now, report(header("JP-0001", KR, 1))), "BAD_REPORT_ID");
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.4", now, report(header("KR-0001", KR, 0))), "BAD_REPORT_ID");
    sim.drive();
    assert!(sim.inbox(US).is_empty());
    assert!(opened(&sim).is_empty());
    assert_untouched(&sim, JP);
}

#[test]
fn a_conflicting_copy_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let Payload::Report(mut report) = sim.sent(KR, US)[0].payload.clone() else { panic!() };
    let original = report.clone();
    // Another body under the same revision, signed by KR's node (a KR node
    // that reuses a revision number): a conflict.
    report.content.body = Sensitive::new("CANARY-BODY-a: something else");
    report.manifest = manifest(&report.header, &report.content, CLERK, &node_key(KR));
    let r = expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.1", now, Payload::Report(report)), "CONFLICT");
    assert_eq!(r, RejectReason::Conflict { report: report_id("KR-0001"), revision: 1 });
    let mut report = original.clone();
    report.header.classification = Confidential;
    report.manifest = manifest(&report.header, &report.content, CLERK, &node_key(KR));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.2", now, Payload::Report(report.clone())), "CONFLICT");
    // The same changes without KR's signature do not even verify.
    report.manifest = original.manifest.clone();
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.3", now, Payload::Report(report)), "UNVERIFIED");
    let mut report = original.clone();
    report.content.body = Sensitive::new("CANARY-BODY-a: something else");
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.4", now, Payload::Report(report)), "UNVERIFIED");
    assert_eq!(sim.inbox(US)[0].delivery.released, Released::Full(original.content.clone()));
    assert_eq!(opened(&sim).len(), 1);

    // A nation refuses a second, different copy of what it holds: here the
    // tearline alone, approved by KR's other approver (genuine in every respect).
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    let Payload::Delivery(held) = sim.sent(US, JP)[0].payload.clone() else { panic!() };
    let doc = decision_doc(&original.manifest, "KR-0001", 1, JP, Verdict::ApproveTearline, now, "park");
    let consent = Consent::Decision(Box::new(signed_decision(&doc, &approver(KR, 1))));
    let d = trilateral(&original, JP, true, Some(consent));
    let r = expect_rejected(&mut sim, JP, US, envelope(US, "US.x.1", now, Payload::Delivery(d)), "CONFLICT");
    assert_eq!(r, RejectReason::Conflict { report: report_id("KR-0001"), revision: 1 });
    assert_eq!(sim.inbox(JP)[0].delivery, held);
}

#[test]
fn messages_of_the_wrong_kind_for_the_receiver_are_refused() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    let request = sim.sent(US, KR).iter().find(|e| e.payload.kind() == "request").unwrap().payload.clone();
    let progress = sim.sent(US, KR)[0].payload.clone();
    assert_eq!(sim.report_sent("KR-0001", 1).header, sub.header);
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    let decision = Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now));
    // A report sent to a nation.
    let r = expect_rejected(&mut sim, JP, US, envelope(US, "US.x.1", now, report.clone()), "UNEXPECTED_MESSAGE");
    assert_eq!(r, RejectReason::UnexpectedMessage { kind: "report", link: US });
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.2", now, report), "UNEXPECTED_MESSAGE");
    // A decision sent to a nation.
    expect_rejected(&mut sim, JP, US, envelope(US, "US.x.3", now, decision), "UNEXPECTED_MESSAGE");
    // Requests, deliveries and progress sent to the hub.
    for (i, p) in [request, delivery, progress].into_iter().enumerate() {
        expect_rejected(&mut sim, US, KR, envelope(KR, &format!("KR.x.{i}"), now, p), "UNEXPECTED_MESSAGE");
    }
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
}

#[test]
fn deliveries_on_the_wrong_basis_are_refused() {
    let mut sim = Sim::new();
    let now = sim.now;
    let h = |id: &str, originator| ReportHeader {
        id: report_id(id),
        revision: 1,
        originator,
        created_at: now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("USA,KOR,JPN"),
    };
    // Every report genuinely signed by its originator's node, and every
    // national one approved for JP by a KR approver.
    let kr = signed_report(h("KR-0001", KR), content("a", true));
    let us = signed_report(h("US-0001", US), content("a", true));
    let approval = kr_approval(&kr.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let approved = trilateral(&kr, JP, false, Some(approval.clone()));
    let bad_id = signed_report(h("JP-0001", KR), content("a", true));
    let cases = [
        // A national report passed off as bilateral.
        (Delivery { basis: Basis::Bilateral, request_id: None, consent: None, ..approved.clone() }, "NOT_RELEASABLE"),
        (Delivery { basis: Basis::Bilateral, request_id: None, ..approved.clone() }, "NOT_RELEASABLE"),
        // The hub's report passed off as trilateral.
        (trilateral(&us, JP, false, None), "NOT_RELEASABLE"),
        // A bilateral delivery naming a request, carrying a tearline only, or consent.
        (Delivery { request_id: Some(rid("US-0001", 1, JP)), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        (Delivery { released: Released::Tearline(Sensitive::new("t")), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        (
            Delivery { released: Released::Tearline(us.content.tearline.clone().unwrap()), ..bilateral(&us) },
            "UNEXPECTED_MESSAGE",
        ),
        (Delivery { consent: Some(approval), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        // A trilateral delivery without its request, or naming another.
        (Delivery { request_id: None, ..approved.clone() }, "REQUEST_MISMATCH"),
        (Delivery { request_id: Some(rid("KR-0002", 1, JP)), ..approved.clone() }, "REQUEST_MISMATCH"),
        // Bad ids.
        (trilateral(&bad_id, JP, false, None), "BAD_REPORT_ID"),
    ];
    for (i, (d, code)) in cases.into_iter().enumerate() {
        expect_rejected(&mut sim, JP, US, envelope(US, &format!("US.x.{i}"), now, Payload::Delivery(d)), code);
    }
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.received(JP).is_empty());
}

#[test]
fn progress_and_requests_for_unknown_reports_are_refused() {
    let mut sim = Sim::new();
    let now = sim.now;
    let p = Progress { report_id: report_id("KR-0404"), revision: 1, recipient: None, stage: Stage::Accepted };
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.1", now, Payload::Progress(p)), "UNKNOWN_REPORT");
    let req = ReleaseRequest {
        request_id: rid("KR-0404", 1, JP),
        report_id: report_id("KR-0404"),
        revision: 1,
        recipient: JP,
        requested_at: now,
        expires_at: Sim::at(DAY),
    };
    expect_rejected(
        &mut sim,
        KR,
        US,
        envelope(US, "US.x.2", now, Payload::ReleaseRequest(req.clone())),
        "UNKNOWN_REPORT",
    );
    // KR's request sent to JP.
    kr_report_requested(&mut sim, "KR-0404", "a");
    expect_rejected(&mut sim, JP, US, envelope(US, "US.x.3", now, Payload::ReleaseRequest(req)), "UNKNOWN_REPORT");
    // Progress for a recipient the report does not name.
    let p = Progress { report_id: report_id("KR-0404"), revision: 1, recipient: Some(US), stage: Stage::Denied };
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.4", now, Payload::Progress(p)), "UNKNOWN_REPORT");
    assert!(sim.pending(JP).is_empty());
}

#[test]
fn a_rejection_is_never_answered_with_a_rejection() {
    let mut sim = Sim::new();
    let now = sim.now;
    let notice = Rejection {
        refers_to: MessageId::new("US.0.1").unwrap(),
        code: "CONFLICT".into(),
        detail: "x".into(),
        report_id: Some(report_id("KR-0001")),
        request_id: None,
    };
    // Well-formed notices are recorded, never answered.
    for (to, link) in LINKS.map(|(a, b)| (b, a)) {
        let n0 = sim.log().len();
        sim.inject(to, link, envelope(link, "X.n.1", now, Payload::Rejection(notice.clone())));
        assert_eq!(sim.log().len(), n0);
        assert!(matches!(sim.events(to).last(), Some(Event::RejectionReceived { link: l, .. }) if *l == link));
    }
    // Malformed ones (forged sender, no such link) are refused, still silently.
    expect_rejected(&mut sim, US, KR, envelope(JP, "JP.n.1", now, Payload::Rejection(notice.clone())), "FORGED_SENDER");
    expect_rejected(&mut sim, KR, US, envelope(JP, "JP.n.2", now, Payload::Rejection(notice.clone())), "FORGED_SENDER");
    expect_rejected(&mut sim, KR, JP, envelope(JP, "JP.n.3", now, Payload::Rejection(notice)), "UNEXPECTED_MESSAGE");
    assert!(sim.log().is_empty());
    // Two parties that refuse each other's messages go quiet.
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    let env = sim.in_flight(KR, US)[0].clone();
    let Payload::Report(mut r) = env.payload.clone() else { panic!() };
    r.header.originator = JP;
    sim.drop_link(KR, US);
    sim.inject(US, KR, envelope(KR, "KR.b.1", now, Payload::Report(r)));
    sim.drive();
    assert_eq!(sim.rejections(US, KR).len(), 1);
    assert!(sim.rejections(KR, US).is_empty());
    assert!(matches!(sim.hub_state(KR, "KR-0001", 1), HubState::Sent | HubState::Rejected { .. }));
}
