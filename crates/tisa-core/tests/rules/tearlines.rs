//! Tearline-only approval releases the tearline text, never title, body or
//! source.

use super::*;

#[test]
fn tearline_only_approval_releases_only_the_tearline() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "t");
    let c = content("t", true);
    let tearline = c.tearline.clone().unwrap();
    let r = rid("KR-0001", 1, JP);
    sim.approve(KR, &r, true).expect("tearline approval");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Approved { tearline_only: true }));
    sim.drive();

    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].delivery.header, sub.header);
    assert_eq!(inbox[0].delivery.released, Released::Tearline(tearline.clone()));
    assert_eq!(inbox[0].delivery.basis, Basis::Trilateral);
    assert_eq!(
        sim.events(JP),
        &[Event::Received { header: sub.header.clone(), basis: Basis::Trilateral, tearline_only: true, title: None }]
    );
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: true }));
    assert!(sim.events(US).iter().any(|e| matches!(e, Event::Forwarded { tearline_only: true, .. })));
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Forwarded { tearline_only: true }));

    // The title, body and source reach JP by no path: not in any envelope...
    let secret = [c.title.expose(), c.body.expose(), c.source.expose()];
    for env in sim.sent_to(JP) {
        for s in exposed(&env.payload) {
            assert_eq!(s, tearline.expose(), "only the tearline may travel to JP");
            assert!(!secret.contains(&s.as_str()));
        }
    }
    // ... nor anywhere in JP's state.
    for e in sim.inbox(JP) {
        assert_eq!(released_strings(&e.delivery.released), vec![tearline.expose().to_owned()]);
    }
    assert!(sim.node(JP).status(None, 1000).unwrap().items.is_empty());
    assert!(sim.pending(JP).is_empty());
    for e in sim.events(JP) {
        if let Event::Received { title, .. } = e {
            assert!(title.is_none());
        }
    }
}

#[test]
fn tearline_only_approval_of_a_report_without_tearline_is_refused() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft_no_tearline(NkNuclear, Confidential, "USA,JPN", "n")).unwrap();
    sim.drive();
    let r = rid("KR-0001", 1, JP);
    assert!(!sim.pending(KR)[0].has_tearline);
    assert_eq!(sim.approve(KR, &r, true), Err(CommandError::NoTearline(report_id("KR-0001"))));
    assert_eq!(sim.pending(KR).len(), 1, "the request stays open");
    assert_eq!(sim.in_flight_total(), 0);

    // A hand-made tearline-only decision is refused by the hub too.
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveTearline, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "NO_TEARLINE"), RejectReason::NoTearline(report_id("KR-0001")));
    sim.drive();
    assert_untouched(&sim, JP);

    // A full approval still works.
    sim.approve(KR, &r, false).unwrap();
    sim.drive();
    assert_eq!(sim.inbox(JP)[0].delivery.released, Released::Full(content("n", false)));
}
