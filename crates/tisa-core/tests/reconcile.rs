//! End-to-end reconciliation: a broker may lose what it acknowledged (a
//! store lost, a block corrupted), so each party keeps what it owes until the
//! final outcome and re-sends it when a link comes back; receivers are
//! idempotent and answer repeats with where things stand. Every test here
//! drops messages on the wire, then reconciles, and checks that the flow
//! completes with the report delivered exactly once and the receipt home.

mod common;

use common::*;
use proptest::prelude::*;

const ID: &str = "KR-lost";

fn submit(sim: &mut Sim) {
    sim.submit(KR, ID, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "lost")).unwrap();
}

fn receipt_home(sim: &Sim, id: &str) -> bool {
    sim.status(KR).iter().any(|s| s.header.id.as_str() == id && s.receipts.contains_key(&JP))
}

fn jp_copies(sim: &Sim, id: &str) -> usize {
    sim.received(JP).iter().filter(|e| matches!(e, Event::Received { header, .. } if header.id.as_str() == id)).count()
}

fn approve_pending(sim: &mut Sim) {
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.approve(KR, &rid, false).unwrap();
}

fn done_once(sim: &Sim, id: &str) {
    assert_eq!(jp_copies(sim, id), 1, "JP must receive {id} exactly once");
    assert_eq!(sim.inbox(JP).iter().filter(|e| e.delivery.header.id.as_str() == id).count(), 1);
    assert!(receipt_home(sim, id), "KR must hold JP's signed receipt for {id}");
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?} refused something: {:?}", sim.rejected(p));
    }
}

#[test]
fn a_report_lost_on_the_way_to_the_hub_is_sent_again() {
    let mut sim = Sim::new();
    submit(&mut sim);
    assert_eq!(sim.drop_link(KR, US).len(), 1);
    sim.drive();
    assert!(sim.pending(KR).is_empty());
    sim.link_up(KR, US);
    sim.drive();
    approve_pending(&mut sim);
    sim.drive();
    done_once(&sim, ID);
}

#[test]
fn a_lost_release_request_is_asked_again_when_the_originator_reconciles() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.step_link(KR, US).unwrap();
    // The hub's accepted notice and request are lost.
    assert_eq!(sim.drop_link(US, KR).len(), 2);
    assert!(sim.pending(KR).is_empty());
    sim.link_up(KR, US);
    sim.drive();
    assert_eq!(sim.pending(KR).len(), 1, "the hub answers a report it holds with its open request");
    approve_pending(&mut sim);
    sim.drive();
    done_once(&sim, ID);
}

#[test]
fn a_lost_decision_is_sent_again_when_the_hub_asks_again() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    approve_pending(&mut sim);
    assert_eq!(sim.drop_link(KR, US).len(), 1, "the decision is lost");
    sim.drive();
    assert!(!sim.has(JP, ID, 1));
    sim.link_up(KR, US);
    sim.drive();
    done_once(&sim, ID);
    assert_eq!(sim.decisions_sent(ID, 1).len(), 2, "the same signed decision, sent twice");
    let d = sim.decisions_sent(ID, 1);
    assert_eq!(d[0].signed, d[1].signed);
}

#[test]
fn a_lost_delivery_is_sent_again_by_the_hub() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    approve_pending(&mut sim);
    sim.step_link(KR, US).unwrap(); // the decision reaches the hub
    assert_eq!(sim.drop_link(US, JP).len(), 1, "the delivery is lost");
    sim.drive();
    assert!(!sim.has(JP, ID, 1));
    // The originator reconciling learns it was forwarded, not more.
    sim.link_up(KR, US);
    sim.drive();
    assert!(!receipt_home(&sim, ID));
    sim.link_up(US, JP);
    sim.drive();
    done_once(&sim, ID);
}

#[test]
fn a_lost_receipt_is_signed_once_and_sent_again() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    approve_pending(&mut sim);
    sim.step_link(KR, US).unwrap();
    sim.step_link(US, JP).unwrap();
    assert_eq!(sim.drop_link(JP, US).len(), 1, "JP's receipt is lost");
    sim.drive();
    assert!(!receipt_home(&sim, ID));
    sim.link_up(US, JP);
    sim.drive();
    done_once(&sim, ID);
    let receipts: Vec<&Envelope> =
        sim.sent(JP, US).into_iter().filter(|e| matches!(e.payload, Payload::Receipt(_))).collect();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].payload, receipts[1].payload, "the same receipt, not a second one");
}

#[test]
fn a_receipt_lost_on_the_way_home_is_given_again_by_the_hub() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    approve_pending(&mut sim);
    sim.step_link(KR, US).unwrap();
    sim.step_link(US, JP).unwrap();
    sim.step_link(JP, US).unwrap();
    sim.drop_link(US, KR);
    assert!(!receipt_home(&sim, ID));
    sim.link_up(KR, US);
    sim.drive();
    done_once(&sim, ID);
}

#[test]
fn a_lost_revocation_is_sent_again_and_then_nothing_moves_under_the_grant() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[Category::NkMissile], Classification::Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    sim.revoke(KR, "KR-G-1").unwrap();
    assert_eq!(sim.drop_link(KR, US).len(), 1, "the revocation is lost");
    sim.link_up(KR, US);
    sim.drive();
    assert!(sim.grants(US).iter().all(|g| g.revoked), "the hub holds the revocation");
    submit(&mut sim);
    sim.drive();
    assert!(!sim.has(JP, ID, 1), "no forward under a revoked grant");
    assert_eq!(sim.pending(KR).len(), 1, "a request instead");
}

#[test]
fn everything_in_flight_lost_at_once_completes_after_every_link_comes_back() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[Category::NkMissile], Classification::Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    let ids: Vec<String> = (0..5).map(|i| format!("KR-w{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        sim.submit(KR, id, draft(Category::NkMissile, Classification::Secret, "USA,JPN", id)).unwrap();
        // A wiped store: whatever was in flight at some point is gone.
        for _ in 0..i {
            sim.step();
        }
        for (a, b) in LINKS {
            sim.drop_link(a, b);
        }
    }
    sim.drive();
    sim.all_links_up();
    sim.drive();
    // The hub reconciles again after the originators re-sent (delivery
    // obligations it only learnt of now).
    sim.all_links_up();
    sim.drive();
    for id in &ids {
        done_once(&sim, id);
    }
}

#[test]
fn final_outcomes_are_not_sent_again() {
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    approve_pending(&mut sim);
    sim.drive();
    done_once(&sim, ID);
    let denied = "KR-denied";
    sim.submit(KR, denied, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "d")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.deny(KR, &rid, "not now").unwrap();
    sim.drive();
    let (n, at) = (sim.sent_count(), sim.log().len());
    sim.all_links_up();
    assert_eq!(sim.sent_count(), n, "nothing is owed: {:?}", &sim.log()[at..]);
}

#[test]
fn a_pending_decision_is_not_chased() {
    // Awaiting this party's own operator: the hub holds the report, nothing to re-send.
    let mut sim = Sim::new();
    submit(&mut sim);
    sim.drive();
    let n = sim.sent_count();
    sim.link_up(KR, US);
    assert_eq!(sim.sent_count(), n);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever is lost (each envelope, with the probability given, at any
    /// point, for up to `lossy_rounds` rounds of reconciliation), once the
    /// network delivers again, reconciling delivers every in-scope report
    /// once under a standing grant and brings every receipt home; nothing
    /// out of scope moves.
    #[test]
    fn whatever_is_lost_reconciliation_delivers_each_report_once(
        losses in proptest::collection::vec(0u8..100, 200),
        loss_pct in 0u8..60,
        n in 1usize..6,
        other in 0usize..3,
        lossy_rounds in 0usize..8,
    ) {
        let mut sim = Sim::new();
        let doc = sim.grant_doc(KR, "KR-G-1", &[Category::NkMissile], Classification::Secret, false);
        sim.grant(KR, doc).unwrap();
        // The grant arrives (a report reaching the hub before it would open a
        // request for an operator instead: not what this property is about).
        sim.drive();
        let mut ids = Vec::new();
        for i in 0..n {
            let id = format!("KR-p{i}");
            sim.submit(KR, &id, draft(Category::NkMissile, Classification::Secret, "USA,JPN", &id)).unwrap();
            ids.push(id);
        }
        for i in 0..other {
            let id = format!("KR-o{i}");
            sim.submit(KR, &id, draft(Category::Other, Classification::Secret, "USA,JPN", &id)).unwrap();
        }
        let mut dice = losses.into_iter().cycle();
        let mut rounds = 0;
        loop {
            // Deliver or lose each envelope in flight.
            let mut steps = 0;
            while sim.in_flight_total() > 0 {
                steps += 1;
                prop_assert!(steps < 10_000, "never quiet");
                // Losses are not independent here (the dice cycle), so a
                // lossy round can drop the same message every time: the
                // network heals after `lossy_rounds`, as any real one does.
                if rounds < lossy_rounds && dice.next().unwrap_or(0) < loss_pct {
                    let link = LINKS.into_iter().find(|(a, b)| !sim.in_flight(*a, *b).is_empty());
                    if let Some((a, b)) = link {
                        sim.take_next(a, b);
                    }
                } else {
                    sim.step();
                }
            }
            let all_home = ids.iter().all(|id| receipt_home(&sim, id));
            if all_home {
                break;
            }
            rounds += 1;
            prop_assert!(
                rounds <= lossy_rounds + 2,
                "reconciliation did not complete within two rounds once the network delivered again"
            );
            sim.all_links_up();
        }
        for id in &ids {
            prop_assert_eq!(jp_copies(&sim, id), 1, "{} delivered {} times", id, jp_copies(&sim, id));
        }
        prop_assert!(sim.inbox(JP).iter().all(|e| e.delivery.header.category == Category::NkMissile));
        prop_assert_eq!(sim.inbox(JP).len(), n);
    }
}
