//! Consent: a national report reaches the third party only after its
//! originator approves exactly that report, revision and recipient; a denial
//! is final.

use super::*;

fn trilateral_release(orig: Party, third: Party) {
    let mut sim = Sim::new();
    let id = format!("{}-0001", orig.code());
    let rel_to = format!("USA,{}", third.trigraph());
    let d = draft(NkMissile, Secret, &rel_to, "a");
    let submitted_content = d.content.clone();
    let sub = sim.submit(orig, &id, d).expect("submit");
    assert_eq!(sub.header.id.as_str(), id);
    assert_eq!(sub.header.revision, 1);
    assert_eq!(sub.header.originator, orig);
    assert_eq!(sub.header.created_at, sim.now);
    assert_eq!(sub.header.releasable_to, rel(&rel_to));
    assert!(sub.notes.is_empty(), "{:?}", sub.notes);
    assert_eq!(sim.events(orig), &[Event::Submitted { header: sub.header.clone() }]);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Waiting));
    assert_eq!(sim.hub_state(orig, &id, 1), HubState::Sent);

    sim.drive();

    // The hub holds it and asks the originator, for exactly this recipient.
    let r = rid(&id, 1, third);
    let req = ReleaseRequest {
        request_id: r.clone(),
        report_id: report_id(&id),
        revision: 1,
        recipient: third,
        requested_at: sim.now,
        expires_at: Sim::at(DAY),
    };
    assert_eq!(
        sim.events(US),
        &[Event::ReportHeld { header: sub.header.clone() }, Event::ReleaseRequested { request: req.clone() }]
    );
    let held = sim.inbox(US);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].delivery.released, Released::Full(submitted_content.clone()));
    let pending = sim.pending(orig);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request, req);
    assert_eq!(pending[0].header, sub.header);
    assert_eq!(pending[0].title, submitted_content.title);
    assert!(pending[0].has_tearline);
    assert_eq!(sim.hub_state(orig, &id, 1), HubState::Accepted);
    assert_eq!(
        sim.recipient_state(orig, &id, 1, third),
        Some(RecipientState::Requested { request_id: r.clone(), expires_at: req.expires_at })
    );
    assert_untouched(&sim, third);

    // The originator approves: the third party receives it, exactly once.
    sim.approve(orig, &r, false).expect("approve");
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Approved { tearline_only: false }));
    sim.drive();
    let inbox = sim.inbox(third);
    assert_eq!(inbox.len(), 1);
    let e = &inbox[0];
    assert_eq!(e.delivery.header, sub.header);
    assert_eq!(e.delivery.released, Released::Full(submitted_content.clone()));
    assert_eq!(e.delivery.basis, Basis::Trilateral);
    assert_eq!(e.delivery.request_id, Some(r.clone()));
    assert_eq!(e.received_at, sim.now);
    assert_eq!(
        sim.events(third),
        &[Event::Received {
            header: sub.header.clone(),
            basis: Basis::Trilateral,
            tearline_only: false,
            title: Some(submitted_content.title.clone()),
        }]
    );
    assert_eq!(sim.deliveries_to(third).len(), 1);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(sim.pending(orig).is_empty());
    assert!(progress(&sim, orig).contains(&Progress {
        report_id: report_id(&id),
        revision: 1,
        recipient: Some(third),
        stage: Stage::Forwarded { tearline_only: false },
    }));
    assert!(sim.events(US).iter().any(|e| matches!(e,
        Event::Forwarded { recipient, basis: Basis::Trilateral, tearline_only: false, .. } if *recipient == third)));

    // Nothing more, ever: not after a day, not after the request would have expired.
    sim.advance(2 * DAY);
    sim.drive();
    assert_eq!(sim.deliveries_to(third).len(), 1);
    assert_eq!(sim.received(third).len(), 1);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(sim.rejected(US).is_empty() && sim.rejected(KR).is_empty() && sim.rejected(JP).is_empty());
    // The originator's own report never comes back to it.
    assert!(sim.deliveries_to(orig).is_empty());
}

#[test]
fn kr_report_reaches_jp_exactly_once_after_kr_approves() {
    trilateral_release(KR, JP);
}

#[test]
fn jp_report_reaches_kr_exactly_once_after_jp_approves() {
    trilateral_release(JP, KR);
}

#[test]
fn nothing_reaches_the_third_party_before_approval() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    for _ in 0..23 {
        sim.advance(HOUR);
        sim.drive();
    }
    assert_eq!(sim.pending(KR).len(), 1);
    assert_untouched(&sim, JP);
}

#[test]
fn deny_is_final() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    sim.advance(HOUR);
    sim.deny(KR, &r, "protect the source").expect("deny");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
    assert!(sim.pending(KR).is_empty());
    let deny_env = sim.in_flight(KR, US).pop().expect("decision in flight");
    sim.drive();
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Denied && p.recipient == Some(JP)));
    assert!(sim
        .events(US)
        .iter()
        .any(|e| matches!(e, Event::Decided { decision } if matches!(decision.decision, Decision::Deny { .. }))));

    // Locally: no second decision of any kind.
    let already = CommandError::AlreadyDecided { request: r.clone(), decision: "denied" };
    assert_eq!(sim.approve(KR, &r, false), Err(already.clone()));
    assert_eq!(sim.approve(KR, &r, true), Err(already.clone()));
    assert_eq!(sim.deny(KR, &r, "again"), Err(already));
    assert_eq!(sim.in_flight_total(), 0);

    // At the hub: a replayed (or forged) approval from KR is rejected.
    let now = sim.now;
    for (i, d) in [Decision::ApproveFull, Decision::ApproveTearline, Decision::Deny { reason: "other reason".into() }]
        .into_iter()
        .enumerate()
    {
        let env = envelope(
            KR,
            &format!("KR.replay.{i}"),
            now,
            Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, d, now)),
        );
        let reason = expect_rejected(&mut sim, US, KR, env, "ALREADY_DECIDED");
        assert_eq!(reason, RejectReason::AlreadyDecided(r.clone()));
    }
    // An exact duplicate of the denial is simply absorbed.
    let log0 = sim.log().len();
    sim.inject(US, KR, deny_env);
    assert_eq!(sim.log().len(), log0);

    // And nothing ever goes to JP, not even after the request would have expired.
    sim.advance(3 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
    assert!(!progress(&sim, KR).iter().any(|p| p.stage == Stage::Expired), "a decided request does not expire");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
}

#[test]
fn deny_needs_a_reason() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.deny(KR, &r, "  "), Err(CommandError::Empty(TextField::Reason)));
    let long = "x".repeat(limits::REASON + 1);
    assert!(matches!(sim.deny(KR, &r, &long), Err(CommandError::TooLong { field: TextField::Reason, .. })));
    assert_eq!(sim.pending(KR).len(), 1, "a refused command changes nothing");
    assert_eq!(sim.in_flight_total(), 0);
}
