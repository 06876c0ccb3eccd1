//! Expiry: unanswered release requests expire and count as denied; a late
//! decision is refused.

use super::*;

fn expiry(policy: Policy) {
    let ttl = duration_ms(policy.request_expiry);
    let mut sim = Sim::with_policy(policy);
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.node(US).poll_timeout(), Some(Sim::at(ttl)));
    assert_eq!(sim.node(KR).poll_timeout(), Some(Sim::at(ttl)));

    sim.advance(ttl - 1);
    assert_eq!(sim.pending(KR).len(), 1, "still open one ms before expiry");
    assert!(!sim.events(US).iter().any(|e| matches!(e, Event::Expired { .. })));

    sim.advance(1);
    assert!(sim.pending(KR).is_empty());
    assert!(sim.events(US).iter().any(|e| matches!(e, Event::Expired { request } if request.request_id == r)));
    assert!(sim.events(KR).iter().any(|e| matches!(e, Event::Expired { request } if request.request_id == r)));
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::Expired(r.clone())));
    assert_eq!(sim.approve(KR, &r, true), Err(CommandError::Expired(r.clone())));
    assert_eq!(sim.deny(KR, &r, "late"), Err(CommandError::Expired(r.clone())));
    sim.drive();
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::Expired
    }));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    assert_eq!(sim.node(US).poll_timeout(), None);
    assert_eq!(sim.node(KR).poll_timeout(), None);

    // A decision that still reaches the hub is refused.
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.late.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "EXPIRED"), RejectReason::Expired(r));
    sim.advance(DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn requests_expire_after_24_hours_by_default() {
    assert_eq!(Policy::default().request_expiry, std::time::Duration::from_secs(24 * 3600));
    expiry(Policy::default());
}

#[test]
fn requests_expire_after_a_custom_short_expiry() {
    expiry(Policy { request_expiry: std::time::Duration::from_secs(90), ..Policy::default() });
}

#[test]
fn approval_one_ms_before_expiry_is_honoured() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    sim.advance(DAY - 1);
    sim.approve(KR, &rid("KR-0001", 1, JP), false).expect("still open");
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

fn decision_arrives_late(timers_on_time: bool) {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    sim.advance(DAY - 1);
    sim.approve(KR, &r, false).expect("approved in time");
    // ... but the decision is still in flight when the request expires.
    if timers_on_time {
        sim.advance(1);
        assert!(sim.events(US).iter().any(|e| matches!(e, Event::Expired { .. })));
    } else {
        sim.advance_without_timers(1);
    }
    let rejections0 = sim.rejected(US).len();
    sim.drive();
    assert_eq!(sim.rejected(US).len(), rejections0 + 1);
    assert_eq!(sim.rejected(US).last(), Some(&&RejectReason::Expired(r.clone())));
    let notices = sim.rejections(US, KR);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].code, "EXPIRED");
    assert_eq!(notices[0].request_id, Some(r.clone()));
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Expired));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    sim.advance(DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn a_decision_reaching_the_hub_after_expiry_is_rejected() {
    decision_arrives_late(true);
}

#[test]
fn a_decision_reaching_the_hub_after_expiry_is_rejected_even_if_the_hub_timer_is_late() {
    decision_arrives_late(false);
}

#[test]
fn a_request_that_arrives_already_expired_cannot_be_approved() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.step_link(KR, US).unwrap();
    // The request spends more than a day on the wire.
    sim.advance(DAY + 1);
    sim.drive();
    let r = rid("KR-0001", 1, JP);
    assert!(sim.pending(KR).is_empty());
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::Expired(r)));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    sim.drive();
    assert_untouched(&sim, JP);
}
