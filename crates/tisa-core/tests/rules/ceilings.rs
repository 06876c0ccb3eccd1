//! Per-link classification ceilings: refused at submit, held at the hub,
//! refused by the recipient.

use super::*;

#[test]
fn above_the_ceiling_is_refused_at_submit() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkNuclear, TopSecret, "USA,JPN", "ts")),
        Err(CommandError::AboveCeiling { classification: TopSecret, ceiling: Secret, hub: US, nation: KR })
    );
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkNuclear, TopSecret, "USA", "ts")),
        Err(CommandError::AboveCeiling { classification: TopSecret, ceiling: Secret, hub: US, nation: JP })
    );
    assert!(sim.log().is_empty());
    assert!(sim.status(KR).is_empty() && sim.status(JP).is_empty());

    // The hub refuses (and does not hold) a hand-made report above the link ceiling.
    let header = ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: sim.now,
        category: NkNuclear,
        classification: TopSecret,
        releasable_to: rel("USA,JPN"),
    };
    let env = envelope(KR, "KR.x.1", sim.now, Payload::Report(signed_report(header, content("ts", true))));
    let reason = expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: US,
            why: NotReleasable::AboveCeiling { classification: TopSecret, ceiling: Secret }
        }
    );
    assert!(sim.inbox(US).is_empty());
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn above_the_third_partys_ceiling_is_held_at_the_hub() {
    let policy = Policy { jp_ceiling: Confidential, ..Policy::default() };
    let mut sim = Sim::with_policy(policy);
    let why = NotReleasable::AboveCeiling { classification: Secret, ceiling: Confidential };
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "s")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why }]);
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1));
    assert!(opened(&sim).is_empty());
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::NotReleasable(why),
    }));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::NotReleasable(why)));
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);

    // JP may not even send SECRET; CONFIDENTIAL goes through once approved.
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j")),
        Err(CommandError::AboveCeiling { classification: Secret, ceiling: Confidential, hub: US, nation: JP })
    );
    sim.submit(KR, "KR-0002", draft(NkMissile, Confidential, "USA,JPN", "c")).unwrap();
    sim.drive();
    sim.approve(KR, &rid("KR-0002", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0002", 1));
    assert!(!sim.has(JP, "KR-0001", 1));
}

#[test]
fn a_nation_refuses_deliveries_that_break_scope_or_ceiling() {
    let mut sim = Sim::new();
    let now = sim.now;
    let header = |category, classification| ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: now,
        category,
        classification,
        releasable_to: rel("USA,JPN"),
    };
    // Genuinely signed by KR's node, and approved for JP by a KR approver:
    // only the rule is broken.
    let deliver = |h: ReportHeader| {
        let report = signed_report(h, content("d", true));
        let consent = kr_approval(&report.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
        trilateral(&report, JP, false, Some(consent))
    };
    let r = expect_rejected(
        &mut sim,
        JP,
        US,
        envelope(US, "US.x.1", now, Payload::Delivery(deliver(header(Other, Secret)))),
        "NOT_RELEASABLE",
    );
    assert!(matches!(r, RejectReason::NotReleasable { why: NotReleasable::OutOfScope(Other), .. }));
    let r = expect_rejected(
        &mut sim,
        JP,
        US,
        envelope(US, "US.x.2", now, Payload::Delivery(deliver(header(NkMissile, TopSecret)))),
        "NOT_RELEASABLE",
    );
    assert!(matches!(r, RejectReason::NotReleasable { why: NotReleasable::AboveCeiling { .. }, .. }));
    assert!(sim.inbox(JP).is_empty());
}
