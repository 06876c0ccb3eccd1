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
use tisa_core::{Event, Lane, LaneCounts, LaneOutcome, LaneView, Party, Payload, TrackId, Transmit};
use tisa_transport::control::watch_event;
use tisa_transport::{Inbound, Links, TrackLaneHealth};
use tokio::sync::watch;
use tracing::{debug, warn, Instrument};

use crate::clock::now;

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

/// The actor's side of the lane.
pub(crate) struct LaneHandle {
    view: watch::Sender<Arc<LaneView>>,
    shown: Arc<Mutex<HashMap<TrackId, u32>>>,
    stored: Stored,
    counts: Arc<Mutex<LaneCounts>>,
}

impl LaneHandle {
    /// The node's state changed (a group commit): judge by it from now on.
    pub(crate) fn set_view(&self, view: LaneView) {
        self.view.send_replace(Arc::new(view));
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

    /// What it has done, for `tisa health`.
    pub(crate) fn health(&self) -> TrackLaneHealth {
        let c = self.counts.lock().map(|c| *c).unwrap_or_default();
        TrackLaneHealth { enabled: true, passed: c.passed, left: c.left, dropped: c.dropped }
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
    let handle =
        LaneHandle { view: tx, shown: Default::default(), stored: Default::default(), counts: Default::default() };
    let task = Task {
        links,
        lane: Lane::new(view, rand::random()),
        views: rx,
        shown: handle.shown.clone(),
        stored: handle.stored.clone(),
        counts: handle.counts.clone(),
    };
    tokio::spawn(task.run(early).instrument(tracing::Span::current()));
    handle
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
    shown: Arc<Mutex<HashMap<TrackId, u32>>>,
    stored: Stored,
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
                match self.lane.handle(now(), msg.link, env) {
                    LaneOutcome::Forward(t) => match self.links.publish_lane(&t).await {
                        Ok(ack) => {
                            let key = forward_key(&t);
                            let stored = self.stored.clone();
                            tokio::spawn(async move {
                                match ack.await {
                                    Ok(()) => {
                                        if let (Some(key), Ok(mut s)) = (key, stored.lock()) {
                                            if s.len() >= REMEMBERED_MAX {
                                                s.clear();
                                            }
                                            s.insert(key);
                                        }
                                    }
                                    Err(e) => {
                                        debug!(error = %e, "a track update the lane forwarded was not stored; the committed path sends it")
                                    }
                                }
                            });
                        }
                        Err(e) => {
                            debug!(error = %e, "the lane did not forward a track update; the committed path sends it")
                        }
                    },
                    LaneOutcome::Show(update) => {
                        // Shown by the committed path already (it committed
                        // the stream's copy first): not again.
                        let shown =
                            self.shown.lock().map(|mut m| claimed(&mut m, &update.doc.track_id, update.doc.seq));
                        if shown.unwrap_or(false) {
                            continue;
                        }
                        let w = watch_event(&Event::TrackUpdated { update: Box::new(update) }, now());
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
