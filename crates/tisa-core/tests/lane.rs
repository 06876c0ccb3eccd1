//! The real-time lane for live missile tracks (`node::lane`): every early
//! copy is judged by the lane on a snapshot of the receiving node, then
//! handed to that node's committed path, and the two must agree — the
//! committed path is the oracle. Each refusal has its control: the same
//! update passing where the one thing wrong is put right.

mod common;

use std::sync::Arc;

use common::*;

const WINDOW: u64 = 60 * SECOND;

fn tdraft(id: &str, seq: u32) -> TrackDraft {
    TrackDraft {
        track_id: TrackId::new(id).unwrap(),
        seq,
        classification: Classification::Secret,
        releasable_to: rel("USA,JPN"),
        launch: GeoPoint { lat_e6: 39_030_000, lon_e6: 125_750_000 },
        launched_at: Timestamp(T0),
        position: GeoPoint { lat_e6: 39_500_000 + seq as i32, lon_e6: 127_000_000 },
        altitude_m: 1000 * seq as i32,
        observed_at: Timestamp(T0 + u64::from(seq)),
        impact: None,
    }
}

fn missile_grant(sim: &mut Sim) {
    let doc = sim.grant_doc(KR, "KR-G-1", &[Category::NkMissile], Classification::Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.drive();
}

/// What the committed path did with one envelope.
#[derive(Debug, PartialEq)]
enum Effect {
    /// Sent a track on to this party under this grant.
    Forwarded(Party, Option<String>, u32),
    /// Took it as the latest state of its track.
    Shown(u32),
    /// Refused it with this code.
    Rejected(&'static str),
    /// Held it for want of a fresh statement.
    Held,
    /// Nothing (stale, no grant, another agreement version).
    Nothing,
}

/// One lane per party, as each node's shell keeps one, with the view it
/// holds.
struct Lanes([Lane; 3], [Arc<LaneView>; 3]);

fn at(p: Party) -> usize {
    Party::ALL.iter().position(|q| *q == p).unwrap()
}

impl Lanes {
    fn new(sim: &Sim) -> Lanes {
        let views = Party::ALL.map(|p| Arc::new(sim.node(p).lane_view()));
        Lanes(views.clone().map(|v| Lane::new(v, 0xa11e)), views)
    }
    fn of(&mut self, p: Party) -> &mut Lane {
        &mut self.0[at(p)]
    }

    /// The lane of `to` judges `env` on `to`'s view, refreshed as the
    /// shell refreshes it after a group commit: only when the one it holds
    /// is no longer current (`Node::lane_view_is_current`; so every test
    /// here also checks that nothing the lane reads changes unseen); then
    /// `to`'s core takes it.
    fn judge_then_commit(&mut self, sim: &mut Sim, to: Party, from: Party, env: Envelope) -> (LaneOutcome, Effect) {
        if !sim.node(to).lane_view_is_current(&self.1[at(to)]) {
            self.1[at(to)] = Arc::new(sim.node(to).lane_view());
        }
        let view = self.1[at(to)].clone();
        let lane = self.of(to);
        lane.set_view(view);
        let out = lane.handle(sim.now, from, env.clone());
        let (events, sent) = (sim.events(to).len(), sim.log().len());
        sim.inject(to, from, env);
        let effect = effect_of(sim, to, events, sent);
        agree(&out, &effect);
        (out, effect)
    }

    /// The next envelope in flight on `from → to`, through lane and core.
    fn deliver(&mut self, sim: &mut Sim, from: Party, to: Party) -> (LaneOutcome, Effect) {
        let env = sim.take_next(from, to).expect("something in flight");
        self.judge_then_commit(sim, to, from, env)
    }
}

fn effect_of(sim: &Sim, p: Party, events_before: usize, sent_before: usize) -> Effect {
    for e in &sim.events(p)[events_before..] {
        match e {
            Event::Rejected { reason, .. } => return Effect::Rejected(reason.code()),
            Event::Held { .. } => return Effect::Held,
            _ => {}
        }
    }
    for s in &sim.log()[sent_before..] {
        if let Payload::Track(t) = &s.transmit.envelope.payload {
            return Effect::Forwarded(s.transmit.to, t.consent.as_ref().map(|g| g.doc.grant_id.clone()), t.doc.seq);
        }
    }
    if !p.is_hub() {
        for e in &sim.events(p)[events_before..] {
            if let Event::TrackUpdated { update } = e {
                return Effect::Shown(update.doc.seq);
            }
        }
    }
    Effect::Nothing
}

/// The oracle: the lane passes exactly what the committed path passes, the
/// same way, and drops only what it refuses, for the same reason.
fn agree(out: &LaneOutcome, effect: &Effect) {
    match (out, effect) {
        (LaneOutcome::Forward(t), Effect::Forwarded(to, grant, seq)) => {
            let Payload::Track(u) = &t.envelope.payload else { panic!("a lane forward is a track") };
            assert_eq!(
                (t.to, u.consent.as_ref().map(|g| g.doc.grant_id.clone()), u.doc.seq),
                (*to, grant.clone(), *seq)
            );
        }
        (LaneOutcome::Show(u), Effect::Shown(seq)) => assert_eq!(u.doc.seq, *seq),
        (LaneOutcome::Dropped(r), Effect::Rejected(code)) => assert_eq!(r.code(), *code),
        (LaneOutcome::Left(_), Effect::Nothing | Effect::Held) => {}
        (out, effect) => panic!("the lane and the committed path disagree: lane {out:?}, core {effect:?}"),
    }
}

fn is_forward(o: &LaneOutcome) -> bool {
    matches!(o, LaneOutcome::Forward(_))
}

fn is_show(o: &LaneOutcome) -> bool {
    matches!(o, LaneOutcome::Show(_))
}

#[test]
fn under_a_grant_the_hub_forwards_and_the_recipient_shows_as_the_committed_path_does() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    for seq in 1..=3 {
        sim.track(KR, tdraft("KR-T-1", seq)).unwrap();
        let (out, effect) = lanes.deliver(&mut sim, KR, US);
        assert_eq!(effect, Effect::Forwarded(JP, Some("KR-G-1".into()), seq));
        let LaneOutcome::Forward(t) = out else { panic!("forwarded") };
        // The lane's own envelope: sent by the hub, under its agreement,
        // with an id of the lane's instance (never one of the core's).
        assert_eq!(t.envelope.sender, US);
        assert_eq!(t.envelope.agreement, sim.node(US).policy().tag());
        assert_eq!(t.envelope.message_id.as_str(), format!("US.{:016x}.{seq}", 0xa11e));
        assert!(!t.offline);
        let (out, effect) = lanes.deliver(&mut sim, US, JP);
        assert!(is_show(&out), "{out:?}");
        assert_eq!(effect, Effect::Shown(seq));
    }
    assert_eq!(lanes.of(US).counts(), LaneCounts { passed: 3, left: 0, dropped: 0 });
    assert_eq!(lanes.of(JP).counts(), LaneCounts { passed: 3, left: 0, dropped: 0 });
}

#[test]
fn a_copy_seen_again_or_an_older_one_is_left_to_the_committed_path() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    sim.track(KR, tdraft("KR-T-1", 2)).unwrap();
    let first = sim.take_next(KR, US).unwrap();
    let second = sim.take_next(KR, US).unwrap();
    assert!(is_forward(&lanes.judge_then_commit(&mut sim, US, KR, second.clone()).0));
    // The stream's copy of the same update, and an older one: left, and the
    // committed path does nothing with them either.
    assert!(matches!(lanes.judge_then_commit(&mut sim, US, KR, second).0, LaneOutcome::Left(_)));
    assert!(matches!(lanes.judge_then_commit(&mut sim, US, KR, first).0, LaneOutcome::Left(_)));
    assert_eq!(lanes.of(US).counts(), LaneCounts { passed: 1, left: 2, dropped: 0 });
}

#[test]
fn without_a_grant_the_hub_lane_forwards_nothing() {
    let mut sim = Sim::new();
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    let (out, effect) = lanes.deliver(&mut sim, KR, US);
    assert!(matches!(out, LaneOutcome::Left(_)), "{out:?}");
    assert_eq!(effect, Effect::Nothing);
    // Control: once KR grants, the next update goes on.
    missile_grant(&mut sim);
    sim.track(KR, tdraft("KR-T-1", 2)).unwrap();
    assert!(is_forward(&lanes.deliver(&mut sim, KR, US).0));
}

#[test]
fn an_update_under_a_revoked_grant_is_dropped() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    sim.step_link(KR, US).unwrap();
    let in_flight = sim.take_next(US, JP).unwrap();
    let before = Arc::new(sim.node(JP).lane_view());
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    let (out, effect) = lanes.judge_then_commit(&mut sim, JP, US, in_flight.clone());
    assert!(matches!(&out, LaneOutcome::Dropped(RejectReason::GrantNotValid(id)) if id == "KR-G-1"), "{out:?}");
    assert_eq!(effect, Effect::Rejected("GRANT_NOT_VALID"));
    // Control: the same update, judged as JP stood before the revocation, is shown.
    let mut control = Lane::new(before, 1);
    assert!(is_show(&control.handle(sim.now, US, in_flight)));
    // And the hub's lane forwards nothing more under it.
    sim.track(KR, tdraft("KR-T-1", 2)).unwrap();
    let (out, effect) = lanes.deliver(&mut sim, KR, US);
    assert!(matches!(out, LaneOutcome::Left(_)));
    assert_eq!(effect, Effect::Nothing);
}

#[test]
fn tampered_forged_or_misaddressed_updates_are_dropped() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    sim.step_link(KR, US).unwrap();
    let genuine = sim.take_next(US, JP).unwrap();
    let Payload::Track(good) = genuine.payload.clone() else { panic!("a track") };
    let with = |t: TrackUpdate| Envelope { payload: Payload::Track(t), ..genuine.clone() };
    // The position moved after signing.
    let mut moved = good.clone();
    moved.doc.position.lat_e6 += 1;
    // Re-signed by another key claiming KR's name.
    let mut forged = good.clone();
    forged.signed = Identity::from_seed("kr-node", [9; 32]).sign(forged.doc.to_bytes());
    // A grant signed by nobody the agreement knows.
    let mut bad_grant = good.clone();
    let mut g = bad_grant.consent.clone().unwrap();
    g.signed = rogue("kim").sign(g.doc.to_bytes());
    bad_grant.consent = Some(g);
    // KR's update with its grant stripped.
    let mut no_consent = good.clone();
    no_consent.consent = None;
    for (t, code) in
        [(moved, "UNVERIFIED"), (forged, "UNVERIFIED"), (bad_grant, "UNVERIFIED"), (no_consent, "NO_CONSENT")]
    {
        let (out, effect) = lanes.judge_then_commit(&mut sim, JP, US, with(t));
        assert!(matches!(&out, LaneOutcome::Dropped(r) if r.code() == code), "{out:?}");
        assert_eq!(effect, Effect::Rejected(code));
    }
    // Claiming to come from KR on the hub's link.
    let forged_sender = Envelope { sender: KR, ..genuine.clone() };
    let out = lanes.of(JP).handle(sim.now, US, forged_sender);
    assert!(matches!(out, LaneOutcome::Dropped(RejectReason::ForgedSender { .. })), "{out:?}");
    // Control: the genuine update passes.
    let (out, effect) = lanes.judge_then_commit(&mut sim, JP, US, genuine);
    assert!(is_show(&out));
    assert_eq!(effect, Effect::Shown(1));
    assert_eq!(lanes.of(JP).counts(), LaneCounts { passed: 1, left: 0, dropped: 5 });
}

#[test]
fn the_hub_lane_drops_a_track_it_would_refuse() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    let genuine = sim.take_next(KR, US).unwrap();
    let Payload::Track(good) = genuine.payload.clone() else { panic!("a track") };
    let mut moved = good.clone();
    moved.doc.altitude_m += 1;
    let env = Envelope { payload: Payload::Track(moved), ..genuine.clone() };
    let (out, effect) = lanes.judge_then_commit(&mut sim, US, KR, env);
    assert!(matches!(out, LaneOutcome::Dropped(_)), "{out:?}");
    assert_eq!(effect, Effect::Rejected("UNVERIFIED"));
    // KR's track arriving on JP's link.
    let out = lanes.of(US).handle(sim.now, JP, Envelope { sender: JP, ..genuine.clone() });
    assert!(matches!(out, LaneOutcome::Dropped(RejectReason::BadTrack { .. })), "{out:?}");
    // Control: as sent.
    assert!(is_forward(&lanes.judge_then_commit(&mut sim, US, KR, genuine).0));
}

#[test]
fn without_a_fresh_statement_the_lane_leaves_it_to_be_held() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    // Control: fresh, shown.
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    sim.step_link(KR, US).unwrap();
    assert!(is_show(&lanes.deliver(&mut sim, US, JP).0));
    // Stale: left, and the committed path holds it.
    sim.advance_without_timers(WINDOW + 1);
    sim.track(KR, tdraft("KR-T-1", 2)).unwrap();
    sim.step_link(KR, US).unwrap();
    let (out, effect) = lanes.deliver(&mut sim, US, JP);
    assert!(matches!(out, LaneOutcome::Left(_)), "{out:?}");
    assert_eq!(effect, Effect::Held);
}

#[test]
fn under_another_agreement_version_the_lane_leaves_it() {
    let mut sim = Sim::new();
    missile_grant(&mut sim);
    let mut lanes = Lanes::new(&sim);
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    let genuine = sim.take_next(KR, US).unwrap();
    let mut other = genuine.agreement;
    other.version += 1;
    let out = lanes.of(US).handle(sim.now, KR, Envelope { agreement: other, ..genuine.clone() });
    assert!(matches!(out, LaneOutcome::Left(_)), "{out:?}");
    // Control: under the hub's own version, forwarded.
    assert!(is_forward(&lanes.judge_then_commit(&mut sim, US, KR, genuine).0));
}

#[test]
fn a_view_stays_current_until_something_the_lane_reads_changes() {
    let mut sim = Sim::new();
    let before = Party::ALL.map(|p| sim.node(p).lane_view());
    for (p, v) in Party::ALL.iter().zip(&before) {
        assert!(sim.node(*p).lane_view_is_current(v), "{p}: a view just taken is current");
    }
    // A grant: KR's and the hub's views change (JP's once its statement or
    // the grant reaches it).
    missile_grant(&mut sim);
    assert!(!sim.node(KR).lane_view_is_current(&before[at(KR)]), "KR issued a grant");
    assert!(!sim.node(US).lane_view_is_current(&before[at(US)]), "the hub holds a grant");
    let granted = Party::ALL.map(|p| sim.node(p).lane_view());
    // A report under it, delivered and receipted, and a track update: the
    // reports' state changes everywhere, nothing the lane reads does.
    sim.submit(KR, "KR-1", draft(Category::NkMissile, Classification::Secret, "USA,JPN", "a")).unwrap();
    sim.track(KR, tdraft("KR-T-1", 1)).unwrap();
    sim.drive();
    assert_eq!(sim.node(JP).inbox_for(&ReportId::new("KR-1").unwrap()).len(), 1, "delivered");
    for (p, v) in Party::ALL.iter().zip(&granted) {
        assert!(sim.node(*p).lane_view_is_current(v), "{p}: reports and tracks change no view");
    }
    // A revocation: every view changes (control: the same comparison fails).
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    for (p, v) in Party::ALL.iter().zip(&granted) {
        assert!(!sim.node(*p).lane_view_is_current(v), "{p}: the revocation changed what the lane reads");
    }
}
