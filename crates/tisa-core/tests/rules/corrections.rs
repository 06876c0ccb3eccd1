//! Corrections: a new revision of the same id needs its own approval.

use super::*;

#[test]
fn a_correction_needs_its_own_approval() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "r1");
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));

    let sub = sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "r2")).unwrap();
    assert_eq!((sub.header.id.as_str(), sub.header.revision), ("KR-0001", 2));
    sim.drive();
    let r2 = rid("KR-0001", 2, JP);
    assert_ne!(r2, rid("KR-0001", 1, JP));
    assert_eq!(opened(&sim).last().map(|r| r.request_id.clone()), Some(r2.clone()));
    let pending = sim.pending(KR);
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].request.request_id.clone(), pending[0].header.revision), (r2, 2));
    sim.advance(2 * DAY);
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 2));
    assert_eq!(sim.deliveries_to(JP).len(), 1);
    assert_eq!(sim.recipient_state(KR, "KR-0001", 2, JP), Some(RecipientState::Expired));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: false }));
}

#[test]
fn approving_revision_1_does_not_release_revision_2() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "r1")).unwrap();
    // The id argument is ignored for a correction.
    let mut d2 = draft(NkMissile, Secret, "USA,JPN", "r2");
    d2.corrects = Some(report_id("KR-0001"));
    let sub2 = sim.submit(KR, "KR-9999", d2).unwrap();
    assert_eq!((sub2.header.id.as_str(), sub2.header.revision), ("KR-0001", 2));
    sim.drive();
    assert_eq!(sim.pending(KR).len(), 2);

    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(!sim.has(JP, "KR-0001", 2));

    // Reusing revision 1's approval for revision 2 is refused: presented as
    // revision 2's (the signed document still says revision 1) ...
    let now = sim.now;
    let genuine = sim.decisions_sent("KR-0001", 1).pop().expect("KR's approval of revision 1");
    let r2 = sim.report_sent("KR-0001", 2);
    let mut d = genuine.clone();
    d.revision = 2;
    d.request_id = rid("KR-0001", 2, JP);
    d.manifest_sha256 = sha256(&r2.manifest.bytes);
    let reason =
        expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.1", now, Payload::ReleaseDecision(d)), "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{reason:?}");
    // ... or re-signed for revision 2 on revision 1's request.
    let mut doc = DecisionDoc::parse(&genuine.signed.bytes).unwrap();
    doc.revision = 2;
    let d = signed_decision(&doc, &approver(KR, 0));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.2", now, Payload::ReleaseDecision(d)), "REQUEST_MISMATCH");
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 2));
    assert!(sim.rejected(JP).is_empty(), "the hub forwarded nothing for JP to refuse");
    assert_eq!(sim.forwarded_to(JP).len(), 1);

    sim.approve(KR, &rid("KR-0001", 2, JP), false).unwrap();
    sim.drive();
    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[1].delivery.header.revision, 2);
    assert_eq!(inbox[1].delivery.released, Released::Full(content("r2", true)));
    assert_eq!(inbox[0].delivery.released, Released::Full(content("r1", true)));
}

#[test]
fn a_correction_is_judged_on_its_own_header() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "r1");
    let sub = sim.correct(KR, "KR-0001", draft(Other, Secret, "USA,JPN", "r2")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why: NotReleasable::OutOfScope(Other) }]);
    sim.drive();
    assert_eq!(opened(&sim).len(), 1, "no request for the out-of-scope revision");
    assert_eq!(sim.pending(KR).len(), 1);
}

#[test]
fn corrections_of_unknown_or_foreign_reports_are_refused() {
    let mut sim = Sim::new();
    sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j")).unwrap();
    sim.drive();
    assert_eq!(
        sim.correct(KR, "KR-0404", draft(NkMissile, Secret, "USA,JPN", "x")),
        Err(CommandError::UnknownReport(report_id("KR-0404")))
    );
    assert_eq!(
        sim.correct(KR, "JP-0001", draft(NkMissile, Secret, "USA,JPN", "x")),
        Err(CommandError::UnknownReport(report_id("JP-0001")))
    );
    assert!(sim.status(KR).is_empty());
    assert!(sim.sent(KR, US).is_empty());
}
