//! The agreement in force: trilateral releases stop while the parties
//! enforce different versions and go once they agree; a version staged
//! ahead takes effect on every node at its time.

use super::*;
use tisa_core::AgreementTag;

const ID: &str = "KR-0001";

fn v2(at: u64) -> Policy {
    // Version 2 narrows the scope to missiles: what changes is visible.
    Policy { version: 2, hash: [2; 32], effective_at: Sim::at(at), scope: vec![NkMissile], ..Policy::default() }
}

/// KR submits a missile report for JP and approves it.
fn submit_and_approve(sim: &mut Sim, id: &str) {
    sim.submit(KR, id, draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    let rid = rid(id, 1, JP);
    sim.approve(KR, &rid, false).unwrap();
    sim.drive();
}

fn got(sim: &Sim, id: &str) -> bool {
    sim.has(JP, id, 1)
}

#[test]
fn mismatched_versions_stop_trilateral_release_until_they_agree() {
    // Control: every node on version 1, the release goes through.
    let mut same = Sim::new();
    same.all_links_up();
    same.drive();
    submit_and_approve(&mut same, ID);
    assert!(got(&same, ID), "control: the same release under one version reaches JP");

    // JP enforces version 2 (a review found KR, US, JP on 1, 1 and 2).
    let mut sim = Sim::with_policies(Policy::default(), Policy::default(), v2(0));
    sim.all_links_up();
    sim.drive();
    submit_and_approve(&mut sim, ID);
    assert!(!got(&sim, ID), "the hub released to JP while JP enforces another version");
    assert!(sim.deliveries_to(JP).is_empty(), "nothing went to JP");
    let view = sim.node(US).agreement_view();
    assert_eq!(view.in_force.version, 1);
    assert_eq!(view.mismatches().len(), 1, "{view:?}");
    assert!(view.mismatches()[0].contains("JPN enforces agreement v2"), "{:?}", view.mismatches());
    assert!(sim.events(US).iter().any(|e| matches!(e, Event::HeldForAgreement { recipient: JP, .. })));
    // Bilateral traffic and the originator's own flow go on: KR still got its progress.
    assert!(sim.events(KR).iter().any(|e| matches!(e, Event::Progress { .. })));

    // KR and US stage version 2 at a time: when it comes, the three agree
    // and the hub sends what waited.
    let at = 5_000;
    sim.stage(KR, v2(at)).unwrap();
    sim.stage(US, v2(at)).unwrap();
    sim.advance(at - 1);
    sim.drive();
    assert!(!got(&sim, ID), "released before the versions agreed");
    sim.advance(1);
    sim.drive();
    assert!(got(&sim, ID), "the held release did not go once the versions agreed");
    assert!(sim.node(US).agreement_view().mismatches().is_empty());
    assert_eq!(sim.node(JP).inbox(None, 10).unwrap().items.len(), 1, "held once");
}

#[test]
fn a_recipient_ignores_a_release_sent_under_another_version() {
    let mut sim = Sim::new();
    sim.submit(KR, ID, draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    sim.approve(KR, &rid(ID, 1, JP), false).unwrap();
    sim.step_link(KR, US).unwrap();
    let mut env = sim.take_next(US, JP).expect("the hub sent the delivery");
    assert!(matches!(env.payload, Payload::Delivery(_)));
    let original = env.clone();
    env.agreement = AgreementTag { version: 2, hash: [9; 32] };
    sim.inject(JP, US, env);
    assert!(!got(&sim, ID), "JP took a release sent under a version it does not enforce");
    assert_eq!(sim.node(JP).agreement_view().ignored, 1);
    assert!(sim.events(JP).iter().any(|e| matches!(e, Event::NotUnderAgreement { kind: "delivery", .. })));
    // Control: the very same delivery under JP's own version is taken.
    sim.inject(JP, US, original);
    assert!(got(&sim, ID), "control: the same delivery under JP's version is taken");
}

#[test]
fn a_staged_version_takes_effect_on_every_node_at_its_time() {
    let mut sim = Sim::new();
    let at = 60_000;
    for p in Party::ALL {
        sim.stage(p, v2(at)).unwrap();
        assert_eq!(sim.node(p).agreement_view().staged.len(), 1);
    }
    // Until then version 1 is in force: NK_NUCLEAR still travels.
    sim.submit(KR, "KR-0002", draft(NkNuclear, Secret, "USA,JPN", "n")).unwrap();
    sim.drive();
    sim.approve(KR, &rid("KR-0002", 1, JP), false).unwrap();
    sim.drive();
    assert!(got(&sim, "KR-0002"));
    sim.advance(at - 1);
    assert!(Party::ALL.iter().all(|p| sim.node(*p).policy().version == 1));
    sim.advance(1);
    for p in Party::ALL {
        assert_eq!(sim.node(p).policy().version, 2, "{p:?} did not switch at the agreed time");
        assert!(sim.events(p).iter().any(|e| matches!(e, Event::AgreementSwitched { to, .. } if to.version == 2)));
    }
    sim.drive();
    assert!(sim.node(US).agreement_view().mismatches().is_empty(), "hellos carried the new version");
    // Version 2's scope is in force: a nuclear report no longer travels, a missile one does.
    sim.submit(KR, "KR-0003", draft(NkNuclear, Secret, "USA,JPN", "n2")).unwrap();
    sim.drive();
    assert!(sim.pending(KR).is_empty(), "version 2 put NK_NUCLEAR out of scope: nothing to approve");
    submit_and_approve(&mut sim, "KR-0004");
    assert!(got(&sim, "KR-0004"));
}

#[test]
fn versions_are_staged_in_order() {
    let mut sim = Sim::new();
    let v3 = Policy { version: 3, ..v2(10) };
    assert!(matches!(sim.stage(KR, v3.clone()), Err(CommandError::AgreementNotNext { version: 3, last: 1 })));
    sim.stage(KR, v2(10)).unwrap();
    sim.stage(KR, Policy { effective_at: Sim::at(20), ..v3 }).unwrap();
}
