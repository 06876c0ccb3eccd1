//! Off-line passage: a report above the links' ceilings travels only in
//! bundles (the `Sim`'s courier), along the on-line route, with explicit
//! per-report consent; every node takes a bundle's messages as it takes
//! on-line ones. The `Sim` itself asserts that nothing above a link's
//! ceiling ever goes on-line.

use super::*;

fn policy() -> Policy {
    Policy { offline_ceiling: TopSecret, ..Policy::default() }
}

fn offline(d: ReportDraft) -> ReportDraft {
    ReportDraft { offline: true, ..d }
}

/// KR submits a TOP SECRET report off-line and approves it for JP.
fn submitted_and_approved(sim: &mut Sim) -> RequestId {
    sim.submit(KR, "KR-0001", offline(draft(NkNuclear, TopSecret, "USA,JPN", "ts"))).unwrap();
    let r = rid("KR-0001", 1, JP);
    let pending = sim.pending(KR);
    assert_eq!(pending.len(), 1, "the request opens at KR at once: {pending:?}");
    assert_eq!(pending[0].request.request_id, r);
    sim.approve(KR, &r, false).unwrap();
    r
}

#[test]
fn an_over_ceiling_report_passes_off_line_and_its_receipt_comes_back_the_same_way() {
    let mut sim = Sim::with_policy(policy());
    submitted_and_approved(&mut sim);
    // Nothing on-line: the report and the decision wait for a courier.
    assert_eq!(sim.in_flight_total(), 0);
    let kinds: Vec<&str> = sim.offline_waiting(KR, US).iter().map(|e| e.payload.kind()).collect();
    assert_eq!(kinds, ["report", "decision"]);

    assert_eq!(sim.carry(KR, US), 2);
    assert!(sim.has(US, "KR-0001", 1));
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 1), "nothing went on-line to JP");
    let to_jp: Vec<&str> = sim.offline_waiting(US, JP).iter().map(|e| e.payload.kind()).collect();
    assert_eq!(to_jp, ["delivery"]);

    sim.carry(US, JP);
    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].offline, "JP's inbox marks it off-line");
    assert_eq!(inbox[0].delivery.header.classification, TopSecret);
    sim.drive();
    assert!(sim.offline_waiting(JP, US).iter().any(|e| e.payload.kind() == "receipt"));

    sim.carry(JP, US);
    sim.drive();
    sim.carry(US, KR);
    sim.drive();
    let st = sim.node(KR).report_status(&report_id("KR-0001")).unwrap();
    assert!(st[0].receipts.contains_key(&JP), "KR holds JP's receipt: {st:?}");
    // Everything went through the courier; the links carried none of it.
    assert!(sim.log().iter().filter(|s| !s.transmit.offline).all(|s| !matches!(
        &s.transmit.envelope.payload,
        Payload::Report(_) | Payload::Delivery(_) | Payload::ReleaseDecision(_) | Payload::Receipt(_)
    )));
}

#[test]
fn the_same_report_on_line_is_refused_by_the_hub_and_by_the_recipient() {
    let mut sim = Sim::with_policy(policy());
    submitted_and_approved(&mut sim);
    let bundle = sim.offline_waiting(KR, US);
    // The bundle's report handed to the hub on the link: above the link's ceiling.
    let reason = expect_rejected(&mut sim, US, KR, bundle[0].clone(), "NOT_RELEASABLE");
    assert!(matches!(reason, RejectReason::NotReleasable { why: NotReleasable::AboveCeiling { .. }, .. }));
    // Control: the same message off-line is taken.
    sim.carry(KR, US);
    assert!(sim.has(US, "KR-0001", 1));
    let delivery = sim.offline_waiting(US, JP)[0].clone();
    // The delivery on JP's link (a hub that ignores the ceiling): refused.
    let reason = expect_rejected(&mut sim, JP, US, delivery.clone(), "NOT_RELEASABLE");
    assert!(matches!(reason, RejectReason::NotReleasable { why: NotReleasable::AboveCeiling { .. }, .. }));
    // Control: off-line, JP takes it.
    sim.carry_one(JP, US, delivery);
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn no_standing_grant_carries_an_off_line_report() {
    let mut sim = Sim::with_policy(policy());
    let g = sim.grant_doc(KR, "KR-g1", &[NkNuclear, NkMissile], TopSecret, false);
    sim.grant(KR, g).unwrap();
    sim.drive();
    // Control: an on-line report the grant covers goes to JP without a request.
    sim.submit(KR, "KR-0001", draft(NkNuclear, Secret, "USA,JPN", "on")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    // Off-line, the grant does not apply: the hub waits for explicit consent.
    sim.submit(KR, "KR-0002", offline(draft(NkNuclear, Secret, "USA,JPN", "off"))).unwrap();
    assert_eq!(sim.carry(KR, US), 1);
    sim.drive();
    assert!(sim.offline_waiting(US, JP).is_empty(), "nothing released without a decision");
    sim.approve(KR, &rid("KR-0002", 1, JP), true).unwrap();
    sim.carry(KR, US);
    sim.drive();
    let d = sim.offline_waiting(US, JP);
    assert_eq!(d.len(), 1);
    match &d[0].payload {
        Payload::Delivery(d) => {
            assert!(matches!(d.consent, Some(Consent::Decision(_))) && matches!(d.released, Released::Tearline(_)))
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn a_report_delivered_on_line_and_off_line_is_held_once() {
    let mut sim = Sim::with_policy(policy());
    sim.submit(KR, "KR-0001", offline(draft(NkMissile, Secret, "USA,JPN", "both"))).unwrap();
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.carry(KR, US);
    sim.drive();
    let delivery = sim.offline_waiting(US, JP)[0].clone();
    // A SECRET report may also cross the link: it arrives on-line first ...
    sim.inject(JP, US, delivery.clone());
    assert!(sim.has(JP, "KR-0001", 1));
    let (inbox, received) = (sim.inbox(JP).len(), sim.received(JP).len());
    // ... and again from the bundle: held once.
    sim.carry(US, JP);
    assert_eq!((sim.inbox(JP).len(), sim.received(JP).len()), (inbox, received));
}

#[test]
fn above_the_off_line_ceiling_nothing_passes() {
    let mut sim = Sim::with_policy(Policy { offline_ceiling: Secret, ..Policy::default() });
    assert_eq!(
        sim.submit(KR, "KR-0001", offline(draft(NkNuclear, TopSecret, "USA,JPN", "ts"))),
        Err(CommandError::AboveOfflineCeiling { classification: TopSecret, ceiling: Secret })
    );
    // Control: within it, it is taken.
    assert!(sim.submit(KR, "KR-0002", offline(draft(NkNuclear, Secret, "USA,JPN", "s"))).is_ok());
}

#[test]
fn a_retracted_reports_messages_are_no_longer_exportable() {
    let mut sim = Sim::with_policy(policy());
    submitted_and_approved(&mut sim);
    let waiting = sim.offline_waiting(KR, US);
    assert!(waiting.iter().all(|e| sim.node(KR).exportable(&e.payload)), "control: exportable before");
    sim.retract(KR, "KR-0001", "withdrawn").unwrap();
    assert!(waiting.iter().all(|e| !sim.node(KR).exportable(&e.payload)));
}

#[test]
fn reconciliation_never_re_sends_an_off_line_report_on_line() {
    let mut sim = Sim::with_policy(policy());
    submitted_and_approved(&mut sim);
    sim.carry(KR, US);
    sim.drive();
    let before = sim.offline_waiting(US, JP).len();
    sim.all_links_up();
    sim.drive();
    // The Sim's own check refuses anything above a link's ceiling on-line;
    // nothing about the report was re-sent on-line, nor queued again.
    assert!(!sim.has(JP, "KR-0001", 1));
    assert_eq!(sim.offline_waiting(US, JP).len(), before);
}

#[test]
fn a_courier_copy_of_an_on_line_report_is_held_once() {
    let mut sim = Sim::with_policy(policy());
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "copy")).unwrap();
    sim.drive();
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    let (inbox, received) = (sim.inbox(JP).len(), sim.received(JP).len());
    let now = sim.now;
    // KR copies its report and decision for US; US its delivery for JP.
    assert_eq!(sim.node_mut(KR).courier_copy(now, US, &report_id("KR-0001")), Ok(2));
    sim.flushed(KR);
    assert_eq!(sim.carry(KR, US), 2);
    sim.drive();
    assert_eq!(sim.node_mut(US).courier_copy(now, JP, &report_id("KR-0001")), Ok(1));
    sim.flushed(US);
    assert_eq!(sim.carry(US, JP), 1);
    assert_eq!((sim.inbox(JP).len(), sim.received(JP).len()), (inbox, received), "held once");
    // No KR-JP copy exists.
    assert!(matches!(sim.node_mut(KR).courier_copy(now, JP, &report_id("KR-0001")), Err(CommandError::NoLink { .. })));
}
