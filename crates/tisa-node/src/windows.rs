//! Track windows: the committed path's share of the real-time lane's work,
//! written behind (issue #18, item 4).
//!
//! A peer's track update that the lane passed (the hub forwarded it, a
//! recipient showed it) needs nothing more from the committed path at once:
//! its stream copy is kept, unacknowledged, in a window per link, track and
//! grant, for at most [`TRACK_WINDOW`]. Then the window is one input
//! ([`Input::TrackWindow`]): its latest update applied as any message
//! (checked again, kept, held, forwarded or refused by the core), the window
//! audited (`TRACK_WINDOW`: track, sequence range, count, grant); the
//! copies are acknowledged once it is committed. One commit and one audit
//! entry per window instead of one per update; the updates before the
//! latest are superseded (latest wins) and named only by the window's range.
//!
//! Nothing is lost to a crash: until its window is committed, every copy
//! is unacknowledged, so the broker redelivers it, and the node then takes
//! it as any other input (the lane has not passed a redelivered copy, so it
//! is committed alone). A copy the lane did not pass (left, dropped, lane
//! off, or its stream copy came first) is committed at once, as before.
//! Windows are flushed before [`ACK_WAIT`](tisa_transport::conn::ACK_WAIT)
//! by far, and on a clean stop.

use std::collections::HashMap;
use std::time::Duration;

use tisa_core::{Envelope, Input, LoggedInput, Party, Payload, Timestamp, TrackId};
use tisa_transport::conn::Ack;

/// How long a window stays open: the committed state (`tisa tracks`, the
/// audit log) lags the lane by at most this.
pub(crate) const TRACK_WINDOW: Duration = Duration::from_millis(250);

/// Copies kept unacknowledged in open windows, at most: at this many, the
/// windows are flushed at once (well below the consumer's `max_ack_pending`).
pub(crate) const WINDOW_COPIES_MAX: usize = 1024;

/// `(link, track, grant)`: what one window gathers.
type Key = (Party, TrackId, Option<String>);

/// One window: its latest update and the copies it took.
struct Window {
    first_seq: u32,
    latest: Envelope,
    acks: Vec<Ack>,
}

/// The open windows of a node.
#[derive(Default)]
pub(crate) struct Windows {
    open: HashMap<Key, Window>,
    /// Keys in the order their windows opened (the input log's order).
    order: Vec<Key>,
    /// When the oldest open window opened.
    since: Option<tokio::time::Instant>,
    copies: usize,
}

/// What a flush commits: one input per window, and the copies to
/// acknowledge once they are committed.
pub(crate) struct Flush {
    pub(crate) inputs: Vec<LoggedInput>,
    pub(crate) acks: Vec<Ack>,
    /// `(track, last sequence number)` of each window.
    pub(crate) through: Vec<(TrackId, u32)>,
}

/// The track update an envelope carries: `(track, seq, grant)`.
pub(crate) fn track_of(env: &Envelope) -> Option<(&TrackId, u32, Option<&str>)> {
    match &env.payload {
        Payload::Track(t) => Some((&t.doc.track_id, t.doc.seq, t.consent.as_ref().map(|g| g.doc.grant_id.as_str()))),
        _ => None,
    }
}

impl Windows {
    /// Keeps `env`, a stream copy of a track update from `link` that the
    /// lane passed, in its window, with the broker's handle on it.
    pub(crate) fn keep(&mut self, link: Party, env: Envelope, ack: Ack) {
        let Some((track, seq, grant)) = track_of(&env) else { return };
        let key = (link, track.clone(), grant.map(str::to_owned));
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.copies += 1;
        match self.open.get_mut(&key) {
            Some(w) => {
                w.first_seq = w.first_seq.min(seq);
                if track_of(&w.latest).is_none_or(|(_, s, _)| seq > s) {
                    w.latest = env;
                }
                w.acks.push(ack);
            }
            None => {
                self.order.push(key.clone());
                self.open.insert(key, Window { first_seq: seq, latest: env, acks: vec![ack] });
            }
        }
    }

    /// When the oldest open window is due (`None`: none is open).
    pub(crate) fn due(&self) -> Option<tokio::time::Instant> {
        self.since.map(|s| s + TRACK_WINDOW)
    }

    /// Whether so many copies wait that the windows must be flushed now.
    pub(crate) fn full(&self) -> bool {
        self.copies >= WINDOW_COPIES_MAX
    }

    /// Closes every open window: one input each, at `at`, in the order
    /// they opened.
    pub(crate) fn take(&mut self, at: Timestamp) -> Flush {
        let mut flush = Flush { inputs: Vec::new(), acks: Vec::with_capacity(self.copies), through: Vec::new() };
        for key in std::mem::take(&mut self.order) {
            let Some(w) = self.open.remove(&key) else { continue };
            let (link, track, _) = key;
            let last = track_of(&w.latest).map_or(w.first_seq, |(_, s, _)| s);
            flush.through.push((track, last));
            let updates = u32::try_from(w.acks.len()).unwrap_or(u32::MAX);
            flush.inputs.push(LoggedInput {
                at,
                input: Input::TrackWindow { link, envelope: w.latest, first_seq: w.first_seq, updates },
            });
            flush.acks.extend(w.acks);
        }
        self.since = None;
        self.copies = 0;
        flush
    }
}

/// Resolves when the oldest open window is due; never, if none is open.
pub(crate) async fn due(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::TrackId;

    fn copy(track: &str, seq: u32) -> Envelope {
        crate::lane::tests::kr_track(Party::Kr, track, seq)
    }

    #[test]
    fn a_window_commits_its_latest_update_once_with_its_range_and_every_copy_to_acknowledge() {
        let mut w = Windows::default();
        assert!(w.due().is_none(), "nothing open: never due");
        // Out of order within the window (a redelivery, a reordering):
        // the latest is the highest sequence number, the range its lowest.
        for seq in [3, 1, 5, 2] {
            w.keep(Party::Kr, copy("KR-T-1", seq), Ack::none());
        }
        w.keep(Party::Kr, copy("KR-T-2", 7), Ack::none());
        assert!(w.due().is_some());
        let f = w.take(Timestamp(10));
        assert_eq!(f.acks.len(), 5, "every copy is acknowledged once the windows are committed");
        assert_eq!(f.through, [(TrackId::new("KR-T-1").unwrap(), 5), (TrackId::new("KR-T-2").unwrap(), 7)]);
        let windows: Vec<_> = f
            .inputs
            .iter()
            .map(|l| match &l.input {
                Input::TrackWindow { link, envelope, first_seq, updates } => {
                    (*link, track_of(envelope).map(|(t, s, _)| (t.to_string(), s)), *first_seq, *updates)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            windows,
            [(Party::Kr, Some(("KR-T-1".into(), 5)), 1, 4), (Party::Kr, Some(("KR-T-2".into(), 7)), 7, 1)],
            "one input per track, in the order the windows opened"
        );
        assert!(w.due().is_none() && w.take(Timestamp(11)).inputs.is_empty(), "all closed");
    }

    #[test]
    fn windows_are_flushed_before_too_many_copies_wait() {
        let mut w = Windows::default();
        for seq in 1..WINDOW_COPIES_MAX as u32 {
            w.keep(Party::Kr, copy("KR-T-1", seq), Ack::none());
        }
        assert!(!w.full());
        w.keep(Party::Kr, copy("KR-T-1", WINDOW_COPIES_MAX as u32), Ack::none());
        assert!(w.full(), "at the limit: flush now");
    }
}
