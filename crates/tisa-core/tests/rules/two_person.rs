//! The two-person rule: the submitter may not approve the release; enforced
//! by the hub and the recipient too.

use super::*;

#[test]
fn two_person_rule_the_submitter_may_not_approve_the_release() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let by =
        |who: &str, tag: &str| ReportDraft { submitted_by: who.into(), ..draft(NkMissile, Secret, "USA,JPN", tag) };
    sim.submit(KR, "KR-0001", by("kim", "a")).unwrap();
    sim.submit(KR, "KR-0002", by("", "b")).unwrap();
    sim.submit(KR, "KR-0003", by("kim", "c")).unwrap();
    sim.drive();
    let (r1, r2, r3) = (rid("KR-0001", 1, JP), rid("KR-0002", 1, JP), rid("KR-0003", 1, JP));
    let kim = approver(KR, 0);
    let park = approver(KR, 1);
    assert_eq!(sim.approve_as(KR, &r1, false, &kim), Err(CommandError::SameOperator("kim".into())));
    assert_eq!(sim.approve_as(KR, &r1, true, &kim), Err(CommandError::SameOperator("kim".into())));
    // The CLI's path (a document signed outside the node) is held to the same rule.
    let doc = sim.node(KR).decision_doc(sim.now, &r1, Verdict::ApproveFull, "", "kim").unwrap();
    assert_eq!(sim.decide(KR, kim.sign(doc.to_bytes())), Err(CommandError::SameOperator("kim".into())));
    // A submission by no one in particular cannot satisfy the rule.
    assert!(matches!(sim.approve_as(KR, &r2, false, &park), Err(CommandError::SameOperator(_))));
    assert_eq!(sim.pending(KR).len(), 3);
    assert_eq!(sim.in_flight_total(), 0, "a refused approval sends nothing");
    // Another approver may approve; the submitter may still deny.
    sim.approve_as(KR, &r1, false, &park).unwrap();
    sim.deny_as(KR, &r3, "on reflection, no", &kim).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(!sim.has(JP, "KR-0003", 1));
    let Some(Consent::Decision(d)) = &sim.inbox(JP)[0].delivery.consent else { panic!() };
    assert_eq!(d.operator, "park");

    // Without the rule, the submitter may approve.
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", by("kim", "a")).unwrap();
    sim.drive();
    sim.approve_as(KR, &rid("KR-0001", 1, JP), false, &kim).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn two_person_rule_is_enforced_by_the_hub_and_the_recipient() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    sim.submit(KR, "KR-0001", ReportDraft { submitted_by: "kim".into(), ..draft(NkMissile, Secret, "USA,JPN", "a") })
        .unwrap();
    sim.drive();
    let r = sim.report_sent("KR-0001", 1);
    let now = sim.now;
    let by_kim = signed_decision(
        &decision_doc(&r.manifest, "KR-0001", 1, JP, Verdict::ApproveFull, now, "kim"),
        &approver(KR, 0),
    );
    // A KR node that skips the rule: the hub refuses the decision, and the request stays open.
    let env = envelope(KR, "KR.x.1", now, Payload::ReleaseDecision(by_kim.clone()));
    let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{reason:?}");
    assert!(sim.forwarded_to(JP).is_empty());
    // A hub that skips it: JP refuses.
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![("approved by its submitter", trilateral(&r, JP, false, Some(Consent::Decision(by_kim))), "UNVERIFIED")],
    );
    // A second person's approval goes through both.
    sim.approve_as(KR, &rid("KR-0001", 1, JP), false, &approver(KR, 1)).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}
