//! Every message delivered twice, or a whole day replayed, changes nothing.

use super::*;

#[test]
fn every_message_delivered_twice_is_idempotent() {
    let mut sim = Sim::new();
    busy_day(&mut sim, Sim::drive_twice);
    assert_eq!(sim.inbox(JP).len(), 4);
    assert_eq!(sim.inbox(KR).len(), 3);
    assert_eq!(sim.inbox(US).len(), 9);
    assert_eq!(sim.received(JP).len(), 4);
    assert_eq!(sim.received(KR).len(), 3);
    assert!(grant_of(&sim, JP, "KR-0004").is_some() && grant_of(&sim, KR, "JP-0003").is_some());
    assert!(!sim.has(JP, "KR-0005", 1));
    assert_eq!(sim.grants(US).iter().map(|g| g.revoked).collect::<Vec<_>>(), [true, false]);
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?}: {:?}", sim.rejected(p));
    }
}

#[test]
fn replaying_the_whole_day_changes_nothing() {
    let mut sim = Sim::new();
    busy_day(&mut sim, Sim::drive);
    let snapshot = |sim: &Sim| {
        Party::ALL.map(|p| (sim.inbox(p), sim.status(p), sim.pending(p), sim.node(p).poll_timeout(), sim.grants(p)))
    };
    let before = snapshot(&sim);
    let log: Vec<Sent> = sim.log().to_vec();
    assert!(log.len() > 20);
    for replay in [log.clone(), log.iter().rev().cloned().collect()] {
        let n = sim.log().len();
        for s in replay {
            let m = sim.log().len();
            let (to, from) = (s.transmit.to, s.from);
            sim.inject(to, from, s.transmit.envelope);
            assert_answers_only(&sim.log()[m..], to, from, "a replayed message");
        }
        // The answers (where each thing stands) change nothing either.
        sim.drive();
        assert!(sim.log().len() > n);
        assert_eq!(snapshot(&sim), before);
    }
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?}: {:?}", sim.rejected(p));
    }
    assert_eq!(sim.received(JP).len(), 4);
    assert_eq!(sim.received(KR).len(), 3);
}
