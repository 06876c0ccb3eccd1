//! The real-time lane for missile tracks, on its own task: the early copies
//! of the peers' track updates (read off their subject as published) are
//! judged by [`tisa_core::Lane`] on the node's latest [`LaneView`] and
//! forwarded (hub) or shown (a `TRACK` event on the events subject) at
//! once, never behind a group commit. The actor sends a fresh view after
//! every group commit (before the commit's effects are published) and reads
//! what the lane showed, so that its own `TRACK` event for the same update
//! is not published twice (the audit log records it as usual).
//!
//! A track update the hub's lane forwarded and the other nation's stream
//! acknowledged is not published again when the committed path forwards
//! the same update (the same track and sequence number to the same party,
//! perhaps under another of the originator's grants): it is recorded as
//! sent, as if that copy had been stored — one stored copy, one commit at
//! the recipient. One not acknowledged yet goes again (a stale copy the
//! recipient ignores).
//!
//! `TISA_TRACK_LANE=off` turns the lane off: early copies are then
//! committed before they are acted on, as every other input.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use tisa_core::{Envelope, Event, Lane, LaneCounts, LaneOutcome, LaneView, Party, Payload, TrackId, Transmit};
use tisa_transport::control::watch_event;
use tisa_transport::{Inbound, Links, TrackLaneHealth};
use tokio::sync::watch;
use tracing::{debug, warn, Instrument};

use crate::clock::now;
use crate::timeline::Step;

/// Tracks the lane remembers as shown, and forwards as stored, at most
/// (beyond that it forgets them all: the actor may then publish a `TRACK`
/// event the lane published already, which watchers take as a repeat, or
/// send a forward again, which the recipient takes as stale).
const REMEMBERED_MAX: usize = 4096;

/// What names a forwarded track update: `(track, sequence number, to)`.
fn forward_key(t: &Transmit) -> Option<(TrackId, u32, Party)> {
    match &t.envelope.payload {
        Payload::Track(u) if !t.offline => Some((u.doc.track_id.clone(), u.doc.seq, t.to)),
        _ => None,
    }
}

/// Track updates the lane forwarded that the receiver's stream stored:
/// `(track, sequence number, to)`.
type Stored = Arc<Mutex<HashSet<(TrackId, u32, Party)>>>;

/// The updates the lane passed (forwarded or showed) whose stream copies
/// the committed path has not asked about yet: `(link, track, seq)`.
type Passed = Arc<Mutex<HashSet<(Party, TrackId, u32)>>>;

/// The actor's side of the lane.
pub(crate) struct LaneHandle {
    view: watch::Sender<Arc<LaneView>>,
    passed: Passed,
    shown: Arc<Mutex<HashMap<TrackId, u32>>>,
    stored: Stored,
    /// Track updates the lane forwarded whose acknowledgement has not come.
    sending: Stored,
    /// Notified whenever one of those is settled (stored or not).
    pub(crate) settled: Arc<tokio::sync::Notify>,
    counts: Arc<Mutex<LaneCounts>>,
}

impl LaneHandle {
    fn new(view: watch::Sender<Arc<LaneView>>) -> LaneHandle {
        LaneHandle {
            view,
            passed: Default::default(),
            shown: Default::default(),
            stored: Default::default(),
            sending: Default::default(),
            settled: Default::default(),
            counts: Default::default(),
        }
    }

    /// The node's state may have changed (a group commit): judge by it
    /// from now on. A new view is taken only if the one the lane holds is
    /// no longer what `core` would give (most commits change nothing the
    /// lane reads: building one copies the agreement's keys, the grants and
    /// the statements; measured in one run, a report's path 1–3 % faster).
    pub(crate) fn refresh(&self, core: &tisa_core::Node) {
        if !core.lane_view_is_current(&self.view.borrow()) {
            self.view.send_replace(Arc::new(core.lane_view()));
        }
    }

    /// Whether this update (or a later one of its track) was shown
    /// already, by the lane or by an earlier call; if not, it counts as
    /// shown from now on: the caller shows it. Checked and recorded under
    /// the lane's own lock, so that of the lane and the committed path
    /// exactly one shows each update, whichever comes first.
    pub(crate) fn shown_else_claim(&self, ev: &Event) -> bool {
        let Event::TrackUpdated { update } = ev else { return false };
        self.shown.lock().map(|mut m| claimed(&mut m, &update.doc.track_id, update.doc.seq)).unwrap_or(false)
    }

    /// Whether `t` (a transmit of the committed path) is a track update the
    /// lane forwarded and its receiver's stream stored already; forgotten
    /// once asked.
    pub(crate) fn stored_already(&self, t: &Transmit) -> bool {
        forward_key(t).is_some_and(|k| self.stored.lock().is_ok_and(|mut s| s.remove(&k)))
    }

    /// Whether `t` is a track update the lane is forwarding now (its
    /// acknowledgement not come yet): the committed path waits for that
    /// ([`LaneHandle::settled`]) rather than send a second copy.
    pub(crate) fn sending(&self, t: &Transmit) -> bool {
        forward_key(t).is_some_and(|k| self.sending.lock().is_ok_and(|s| s.contains(&k)))
    }

    /// Whether the lane passed exactly this update of `track` from `link`
    /// (its stream copy then goes in its track window's one input,
    /// [`crate::windows`]); forgotten once asked.
    pub(crate) fn take_passed(&self, link: Party, track: &TrackId, seq: u32) -> bool {
        self.passed.lock().is_ok_and(|mut m| m.remove(&(link, track.clone(), seq)))
    }

    /// A track window through `(track, seq)` was committed: the forwards
    /// the lane made of that track before `seq` need no more remembering
    /// (the committed path asks only about the latest, `seq`, which it
    /// forgets once asked).
    pub(crate) fn forget_before(&self, through: &[(TrackId, u32)]) {
        if let Ok(mut s) = self.stored.lock() {
            s.retain(|(t, seq, _)| !through.iter().any(|(tt, last)| tt == t && seq < last));
        }
    }

    /// What it has done, for `tisa health`.
    pub(crate) fn health(&self) -> TrackLaneHealth {
        let c = self.counts.lock().map(|c| *c).unwrap_or_default();
        TrackLaneHealth { enabled: true, passed: c.passed, left: c.left, dropped: c.dropped, ..Default::default() }
    }
}

/// Starts the lane's task over `early` (the early copies of track updates).
pub(crate) fn spawn(
    links: Arc<Links>,
    view: LaneView,
    early: impl Stream<Item = Inbound> + Unpin + Send + 'static,
) -> LaneHandle {
    let view = Arc::new(view);
    let (tx, rx) = watch::channel(Arc::clone(&view));
    let handle = LaneHandle::new(tx);
    let task = Task {
        links,
        lane: Lane::new(view, rand::random()),
        views: rx,
        passed: handle.passed.clone(),
        shown: handle.shown.clone(),
        stored: handle.stored.clone(),
        sending: handle.sending.clone(),
        settled: handle.settled.clone(),
        counts: handle.counts.clone(),
    };
    tokio::spawn(task.run(early).instrument(tracing::Span::current()));
    handle
}

/// A forward of the lane is settled: recorded as stored if it was, no
/// longer being sent, and the actor told (it sends or drops the copies it
/// held back meanwhile).
fn settle(
    sending: &Stored,
    stored: &Stored,
    settled: &tokio::sync::Notify,
    key: Option<&(TrackId, u32, Party)>,
    was_stored: bool,
) {
    if let Some(k) = key {
        if was_stored {
            if let Ok(mut s) = stored.lock() {
                if s.len() >= REMEMBERED_MAX {
                    s.clear();
                }
                s.insert(k.clone());
            }
        }
        if let Ok(mut s) = sending.lock() {
            s.remove(k);
        }
    }
    settled.notify_one();
}

/// Whether `seq` of `track` (or a later update) was shown already;
/// records it as shown if not.
fn claimed(shown: &mut HashMap<TrackId, u32>, track: &TrackId, seq: u32) -> bool {
    if shown.get(track).is_some_and(|s| *s >= seq) {
        return true;
    }
    if shown.len() >= REMEMBERED_MAX && !shown.contains_key(track) {
        shown.clear();
    }
    shown.insert(track.clone(), seq);
    false
}

struct Task {
    links: Arc<Links>,
    lane: Lane,
    views: watch::Receiver<Arc<LaneView>>,
    passed: Passed,
    shown: Arc<Mutex<HashMap<TrackId, u32>>>,
    stored: Stored,
    sending: Stored,
    settled: Arc<tokio::sync::Notify>,
    counts: Arc<Mutex<LaneCounts>>,
}

impl Task {
    async fn run(mut self, mut early: impl Stream<Item = Inbound> + Unpin) {
        while let Some(msg) = early.next().await {
            if self.views.has_changed().unwrap_or(false) {
                let view = self.views.borrow_and_update().clone();
                self.lane.set_view(view);
            }
            let envelopes = match msg.result {
                Ok(envs) => envs,
                Err(e) => {
                    // Its stream copy follows and is dead-lettered then.
                    debug!(link = %msg.link, error = %e.code(), "an early track copy did not decode");
                    continue;
                }
            };
            for env in envelopes {
                let message_id = env.message_id.clone();
                let timed = crate::timeline::key_of(&env);
                crate::timeline::stamp_all(Step::LaneIn, timed.as_slice());
                let outcome = self.lane.handle(now(), msg.link, env);
                crate::timeline::stamp_all(Step::LaneJudged, timed.as_slice());
                if let LaneOutcome::Forward(Transmit {
                    envelope: Envelope { payload: Payload::Track(t), .. }, ..
                })
                | LaneOutcome::Show(t) = &outcome
                {
                    self.record_passed(msg.link, &t.doc.track_id, t.doc.seq);
                }
                match outcome {
                    LaneOutcome::Forward(t) => {
                        crate::timeline::stamp_all(Step::LaneOut, timed.as_slice());
                        self.forward(&t).await;
                    }
                    LaneOutcome::Show(update) => {
                        // Shown by the committed path already (it committed
                        // the stream's copy first): not again.
                        let shown =
                            self.shown.lock().map(|mut m| claimed(&mut m, &update.doc.track_id, update.doc.seq));
                        if shown.unwrap_or(false) {
                            continue;
                        }
                        let w = watch_event(&Event::TrackUpdated { update: Box::new(update) }, now());
                        crate::timeline::stamp_all(Step::LaneOut, timed.as_slice());
                        if let Err(e) = self.links.publish_events(std::slice::from_ref(&w)).await {
                            warn!(error = %e, "cannot publish a track event");
                        }
                    }
                    LaneOutcome::Left(why) => {
                        debug!(link = %msg.link, %message_id, why, "track update left to the committed path")
                    }
                    // Ids and the reason's code only; the committed path
                    // refuses the stream's copy (notice, dead letter, audit).
                    LaneOutcome::Dropped(r) => {
                        warn!(link = %msg.link, %message_id, reason = r.code(), "the track lane dropped an update that failed a check")
                    }
                }
            }
            if let Ok(mut c) = self.counts.lock() {
                *c = self.lane.counts();
            }
        }
    }

    /// Records that the lane passed `seq` of `track` from `link` (before
    /// it acts on it). Beyond [`REMEMBERED_MAX`] unasked, all are
    /// forgotten: their stream copies are then committed alone.
    fn record_passed(&self, link: Party, track: &TrackId, seq: u32) {
        if let Ok(mut m) = self.passed.lock() {
            if m.len() >= REMEMBERED_MAX {
                m.clear();
            }
            m.insert((link, track.clone(), seq));
        }
    }

    /// Forwards a track update ahead of the commit, on the link's chain.
    /// Marked as being sent before it is, and settled when its
    /// acknowledgement comes: meanwhile the committed path holds its own
    /// copy back; once stored, it does not send it again
    /// ([`LaneHandle::stored_already`]); if not, it sends it.
    async fn forward(&self, t: &Transmit) {
        let key = forward_key(t);
        if let (Some(k), Ok(mut s)) = (&key, self.sending.lock()) {
            s.insert(k.clone());
        }
        match self.links.publish_lane(t).await {
            Ok(ack) => {
                let (sending, stored, settled) = (self.sending.clone(), self.stored.clone(), self.settled.clone());
                tokio::spawn(async move {
                    let r = ack.await;
                    if let Err(e) = &r {
                        debug!(error = %e, "a track update the lane forwarded was not stored; the committed path sends it");
                    }
                    settle(&sending, &stored, &settled, key.as_ref(), r.is_ok());
                });
            }
            Err(e) => {
                debug!(error = %e, "the lane did not forward a track update; the committed path sends it");
                settle(&self.sending, &self.stored, &self.settled, key.as_ref(), false);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn handle() -> LaneHandle {
        use tisa_core::{Identity, KeyEntry, KeyRole, Node, Policy};
        let key = Identity::from_seed("us-node", [1; 32]);
        let entry = KeyEntry { party: Party::Us, name: "us-node".into(), role: KeyRole::Node, public: key.public() };
        let policy = Policy { keys: vec![entry], ..Policy::default() };
        let node = Node::new(Party::Us, policy, 1, key).expect("a node whose key the policy registers");
        let (tx, _rx) = watch::channel(Arc::new(node.lane_view()));
        LaneHandle::new(tx)
    }

    /// An envelope from `sender` carrying update `seq` of KR's track
    /// `track` (signed by a KR node key; a fixture for the shell's tests).
    pub(crate) fn kr_track(sender: Party, track: &str, seq: u32) -> Envelope {
        use tisa_core::sign::TrackDoc;
        use tisa_core::*;
        let doc = TrackDoc {
            track_id: TrackId::new(track).unwrap(),
            seq,
            originator: Party::Kr,
            classification: Classification::Secret,
            releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
            launch: GeoPoint { lat_e6: 0, lon_e6: 0 },
            launched_at: Timestamp(0),
            position: GeoPoint { lat_e6: 0, lon_e6: 0 },
            altitude_m: 0,
            observed_at: Timestamp(0),
            impact: None,
            issued_at: Timestamp(0),
        };
        let signed = Identity::from_seed("kr-node", [2; 32]).sign(doc.to_bytes());
        Envelope {
            version: PROTOCOL_VERSION,
            message_id: MessageId::new(format!("{}.1.{seq}", sender.code())).unwrap(),
            sender,
            sent_at: Timestamp(0),
            agreement: Default::default(),
            payload: Payload::Track(TrackUpdate { doc, signed, consent: None }),
        }
    }

    fn track_to(to: Party, seq: u32) -> Transmit {
        Transmit { to, envelope: kr_track(Party::Us, "KR-T-1", seq), body: None, offline: false }
    }

    #[test]
    fn the_committed_path_holds_its_copy_while_the_lane_forwards_then_sends_or_drops_it() {
        let h = handle();
        let t = track_to(Party::Jp, 2);
        let key = forward_key(&t);
        // Being forwarded: held (neither stored nor free to send).
        h.sending.lock().unwrap().insert(key.clone().unwrap());
        assert!(h.sending(&t) && !h.stored_already(&t));
        // Another update, or the same to another party, is not held.
        assert!(!h.sending(&track_to(Party::Jp, 3)) && !h.sending(&track_to(Party::Kr, 2)));
        // Stored: no longer held, and dropped by the committed path (once).
        settle(&h.sending, &h.stored, &h.settled, key.as_ref(), true);
        assert!(!h.sending(&t));
        assert!(h.stored_already(&t), "stored by the lane: not sent again");
        assert!(!h.stored_already(&t), "forgotten once asked");
        // Not stored (refused, no acknowledgement in time): no longer held,
        // and not taken as stored: the committed path sends it.
        h.sending.lock().unwrap().insert(key.clone().unwrap());
        settle(&h.sending, &h.stored, &h.settled, key.as_ref(), false);
        assert!(!h.sending(&t) && !h.stored_already(&t));
        // The actor is told each time (a permit waits if it was not waiting).
        let told = futures::FutureExt::now_or_never(h.settled.notified());
        assert!(told.is_some(), "the actor is woken to send or drop what it held");
    }

    #[test]
    fn a_committed_window_forgets_the_forwards_before_its_latest_and_keeps_the_latest() {
        let h = handle();
        for seq in 1..=3 {
            settle(&h.sending, &h.stored, &h.settled, forward_key(&track_to(Party::Jp, seq)).as_ref(), true);
        }
        h.forget_before(&[(TrackId::new("KR-T-1").unwrap(), 3)]);
        // The latest is still known as stored: the window's commit, which
        // forwards it again, drops that copy (not sent twice).
        assert!(h.stored_already(&track_to(Party::Jp, 3)));
        // The ones before are forgotten (the control: they were stored).
        assert!(!h.stored_already(&track_to(Party::Jp, 1)) && !h.stored_already(&track_to(Party::Jp, 2)));
    }

    #[test]
    fn of_the_lane_and_the_committed_path_exactly_one_shows_each_update() {
        let mut shown = HashMap::new();
        let t = TrackId::new("KR-T-1").unwrap();
        // The first to come shows it; the other does not (the control: the
        // first was not refused).
        assert!(!claimed(&mut shown, &t, 2), "the first shows seq 2");
        assert!(claimed(&mut shown, &t, 2), "the second does not show seq 2 again");
        // An older update arriving late is not shown; a newer one is, once.
        assert!(claimed(&mut shown, &t, 1));
        assert!(!claimed(&mut shown, &t, 3));
        assert!(claimed(&mut shown, &t, 3));
        // Another track is its own.
        assert!(!claimed(&mut shown, &TrackId::new("KR-T-2").unwrap(), 1));
    }
}
