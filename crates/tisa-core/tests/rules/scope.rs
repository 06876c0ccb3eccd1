//! Scope and releasable-to: only NK nuclear and missile reports travel
//! trilaterally; releasable-to is a limit, never consent.

use super::*;

#[test]
fn other_category_stays_with_the_hub() {
    let mut sim = Sim::new();
    let d = draft(Other, Secret, "USA,JPN", "o");
    let c = d.content.clone();
    let sub = sim.submit(KR, "KR-0001", d).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why: NotReleasable::OutOfScope(Other) }]);
    assert_eq!(
        sim.recipient_state(KR, "KR-0001", 1, JP),
        Some(RecipientState::NotReleasable(NotReleasable::OutOfScope(Other)))
    );
    sim.drive();
    let held = sim.inbox(US);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].delivery.header, sub.header);
    assert_eq!(held[0].delivery.released, Released::Full(c));
    assert!(opened(&sim).is_empty());
    assert_eq!(requests_sent(&sim), 0);
    assert!(sim.pending(KR).is_empty());
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::NotReleasable(NotReleasable::OutOfScope(Other)),
    }));
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::UnknownRequest(r.clone())));
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    expect_rejected(&mut sim, US, KR, env, "UNKNOWN_REQUEST");
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn scope_is_policy_data() {
    let mut sim = Sim::with_policy(Policy { scope: vec![NkNuclear], ..Policy::default() });
    let sub = sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "m")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: KR, why: NotReleasable::OutOfScope(NkMissile) }]);
    sim.drive();
    assert!(opened(&sim).is_empty());
    sim.submit(JP, "JP-0002", draft(NkNuclear, Secret, "USA,KOR", "n")).unwrap();
    sim.drive();
    assert_eq!(opened(&sim).len(), 1);
    assert_untouched(&sim, KR);
}

#[test]
fn releasable_to_usa_only_stays_with_the_hub() {
    let mut sim = Sim::new();
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "u")).unwrap();
    assert!(sub.notes.is_empty());
    assert_eq!(sub.header.releasable_to, rel("USA"));
    // Naming oneself changes nothing.
    let sub2 = sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "KOR,USA", "u2")).unwrap();
    assert_eq!(sub2.header.releasable_to, rel("USA"));
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1) && sim.has(US, "KR-0002", 1));
    assert!(opened(&sim).is_empty());
    assert_eq!(requests_sent(&sim), 0);
    for p in progress(&sim, KR) {
        assert_eq!((p.stage, p.recipient), (Stage::Accepted, None));
    }
    assert!(sim.status(KR).iter().all(|s| s.recipients.is_empty() && s.hub == HubState::Accepted));
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn a_national_report_must_be_releasable_to_the_hub() {
    let mut sim = Sim::new();
    let e = CommandError::MustIncludeHub { party: KR, hub: US };
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "JPN", "x")), Err(e));
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "KOR,JPN", "x")).unwrap_err(),
        CommandError::MustIncludeHub { party: KR, hub: US }
    );
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "KOR", "x")),
        Err(CommandError::MustIncludeHub { party: JP, hub: US })
    );
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "KOR", "x")), Err(CommandError::NoRecipient));
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "", "x")), Err(CommandError::NoRecipient));
    assert!(sim.log().is_empty() && sim.status(KR).is_empty() && sim.status(JP).is_empty());

    // A hand-made report that skips the rule is refused at the hub and not held.
    let mut h = ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: sim.now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("JPN"),
    };
    let env = envelope(KR, "KR.x.1", sim.now, Payload::Report(signed_report(h.clone(), content("x", true))));
    let reason = expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable { report: h.id.clone(), recipient: US, why: NotReleasable::NotInReleasableTo }
    );
    h.releasable_to = PartySet::EMPTY;
    let env = envelope(KR, "KR.x.2", sim.now, Payload::Report(signed_report(h, content("x", true))));
    expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert!(sim.inbox(US).is_empty());
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn releasable_to_is_a_limit_not_consent() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    sim.advance(DAY);
    sim.drive();
    sim.advance(DAY);
    sim.drive();
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    assert_untouched(&sim, JP);
}

#[test]
fn approval_cannot_widen_releasable_to() {
    let mut sim = Sim::new();
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "w")).unwrap();
    sim.drive();
    let now = sim.now;
    let r = rid("KR-0001", 1, JP);
    let request = |recipient: Party| ReleaseRequest {
        request_id: rid("KR-0001", 1, recipient),
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient,
        requested_at: now,
        expires_at: Sim::at(DAY),
    };

    // A hand-made request for JP is refused by KR: nothing to approve.
    let env = envelope(US, "US.x.1", now, Payload::ReleaseRequest(request(JP)));
    let reason = expect_rejected(&mut sim, KR, US, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: JP,
            why: NotReleasable::NotInReleasableTo
        }
    );
    assert!(sim.pending(KR).is_empty());
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::UnknownRequest(r.clone())));
    // Requests for the hub or the originator itself are not third parties.
    for (i, p) in [US, KR].into_iter().enumerate() {
        let env = envelope(US, &format!("US.x.{}", i + 2), now, Payload::ReleaseRequest(request(p)));
        let reason = expect_rejected(&mut sim, KR, US, env, "NOT_RELEASABLE");
        assert!(matches!(reason, RejectReason::NotReleasable { why: NotReleasable::NotAThirdParty, .. }));
    }
    // A request whose id does not match what it names.
    let mut bad = request(JP);
    bad.request_id = rid("KR-0002", 1, JP);
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.9", now, Payload::ReleaseRequest(bad)), "REQUEST_MISMATCH");

    // A hand-made approval for JP reaches a hub that never opened such a request.
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "UNKNOWN_REQUEST"), RejectReason::UnknownRequest(r.clone()));

    // And JP itself refuses a delivery the releasable-to list does not allow,
    // even with KR's genuine signature over the report and an approval for JP.
    let report = sim.report_sent("KR-0001", 1);
    assert_eq!(report.header, sub.header);
    let consent = kr_approval(&report.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let delivery = trilateral(&report, JP, false, Some(consent));
    assert_eq!(delivery.request_id, Some(r));
    let reason =
        expect_rejected(&mut sim, JP, US, envelope(US, "US.x.10", now, Payload::Delivery(delivery)), "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: JP,
            why: NotReleasable::NotInReleasableTo
        }
    );
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.received(JP).is_empty());
}
