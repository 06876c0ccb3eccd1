//! Track windows: the committed path's share of the real-time lane's work,
//! written behind (issue #18, item 4).
//!
//! With the lane on, the stream copy of a peer's track update is kept,
//! unacknowledged, in a window per link, track and grant, for at most
//! [`TRACK_WINDOW`]. Then the copies the lane passed (the hub forwarded
//! them, a recipient showed them; each asked once of the lane) are one
//! input ([`Input::TrackWindow`]): their latest applied as any message
//! (checked again, kept, held, forwarded or refused by the core), the window
//! audited (`TRACK_WINDOW`: track, sequence range, count, grant). Every
//! other copy (the lane left it, dropped it, or never saw its early copy)
//! is committed alone in the same commit, as any message: checked, refused
//! with a notice and a dead letter if bad. The copies are acknowledged once
//! it is committed. One commit and one audit entry per window instead of
//! one per update; the updates before the latest are superseded (latest
//! wins) and named only by the window's range.
//!
//! Kept whatever the lane's verdict, because a stream copy often comes
//! before the lane has judged its early copy (the lane verifies signatures
//! first): asked at once, a third of the hub's copies in a lazy-fsync bench
//! were not passed yet and were committed alone.
//!
//! Nothing is lost to a crash: until its window is committed, every copy
//! is unacknowledged, so the broker redelivers it, and the node then takes
//! it as any other input (the lane has not passed a redelivered copy, so it
//! is committed alone). Windows are flushed well before
//! [`ACK_WAIT`](tisa_transport::conn::ACK_WAIT), when
//! [`WINDOW_COPIES_MAX`] copies wait, and on a clean stop.

use std::collections::HashMap;
use std::time::Duration;

use crate::ingress::Committed;
use tisa_core::{Envelope, Input, LoggedInput, Party, Payload, Timestamp, TrackId};

/// How long the windows stay open after the first stream copy came (they
/// are all closed together). The committed state (`tisa tracks`, the audit
/// log) lags the lane by this plus the pump's wait before it takes the
/// stream's copies (`TRACK_PULL_DELAY`, 50 ms after an early copy; up to
/// `TRACK_PULL_EVERY` for a copy the lane never saw:
/// `tisa_transport::conn::track_pump`).
pub(crate) const TRACK_WINDOW: Duration = Duration::from_millis(250);

/// Copies kept unacknowledged in open windows, at most: at this many, the
/// windows are flushed at once (well below the consumer's `max_ack_pending`).
pub(crate) const WINDOW_COPIES_MAX: usize = 1024;

// The track stream keeps each track's latest `TRACK_KEEP` updates: with
// every open window's copies (and as many again in flight) below that, a
// node killed with windows open finds each of their copies in the stream.
const _: () = assert!(2 * WINDOW_COPIES_MAX as i64 <= tisa_transport::conn::TRACK_KEEP);

/// `(link, track, grant)`: what one window gathers.
type Key = (Party, TrackId, Option<String>);

/// One window: the copies it took, in the order they came, each with
/// its broker handle and where it came from (for its dead letter).
struct Window {
    copies: Vec<(Envelope, Committed)>,
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

/// What a flush commits: one input per window (and one per copy the lane
/// did not pass), and the copies to acknowledge once they are committed.
pub(crate) struct Flush {
    pub(crate) inputs: Vec<LoggedInput>,
    /// Each copy, with the message id of the input that took it (a
    /// window's latest, or the copy itself alone).
    pub(crate) acks: Vec<Committed>,
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
    /// Keeps `env`, a stream copy of a track update, in its window, with
    /// the broker's handle on it and where it came from (`copy`; its
    /// message ids are filled in when the window closes).
    pub(crate) fn keep(&mut self, env: Envelope, copy: Committed) {
        let Some((track, _, grant)) = track_of(&env) else { return };
        let key = (copy.2.link, track.clone(), grant.map(str::to_owned));
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.copies += 1;
        match self.open.get_mut(&key) {
            Some(w) => w.copies.push((env, copy)),
            None => {
                self.order.push(key.clone());
                self.open.insert(key, Window { copies: vec![(env, copy)] });
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

    /// Closes every open window, in the order they opened, as inputs at
    /// `at`: the copies `passed` says the lane passed (asked once per
    /// copy) make one `TrackWindow` (their latest, their range, their
    /// count); every other copy (the lane left it, dropped it, or never
    /// saw it) is one `Message`, committed and checked alone as before.
    pub(crate) fn take(&mut self, at: Timestamp, mut passed: impl FnMut(Party, &TrackId, u32) -> bool) -> Flush {
        let mut flush = Flush { inputs: Vec::new(), acks: Vec::with_capacity(self.copies), through: Vec::new() };
        for key in std::mem::take(&mut self.order) {
            let Some(w) = self.open.remove(&key) else { continue };
            let (link, track, _) = key;
            let seq = |env: &Envelope| track_of(env).map_or(0, |(_, s, _)| s);
            let (in_window, alone): (Vec<_>, Vec<_>) =
                w.copies.into_iter().partition(|(env, _)| passed(link, &track, seq(env)));
            for (envelope, mut copy) in alone {
                copy.1 = vec![envelope.message_id.clone()];
                flush.acks.push(copy);
                flush.inputs.push(LoggedInput { at, input: Input::Message { link, envelope } });
            }
            let Some(latest) = (0..in_window.len()).max_by_key(|&i| seq(&in_window[i].0)) else { continue };
            let first_seq = in_window.iter().map(|(env, _)| seq(env)).min().unwrap_or(0);
            let updates = u32::try_from(in_window.len()).unwrap_or(u32::MAX);
            let mut window = None;
            for (i, (env, mut copy)) in in_window.into_iter().enumerate() {
                // A refusal of the window's input names its latest's id:
                // that copy's.
                if i == latest {
                    copy.1 = vec![env.message_id.clone()];
                    window = Some(env);
                }
                flush.acks.push(copy);
            }
            if let Some(envelope) = window {
                flush.through.push((track, seq(&envelope)));
                flush.inputs.push(LoggedInput { at, input: Input::TrackWindow { link, envelope, first_seq, updates } });
            }
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

    /// A copy's handle and origin, as the node keeps it (from KR).
    fn held() -> Committed {
        let origin = crate::ingress::Origin { link: Party::Kr, subject: "tisa.kr.up.track".into() };
        (tisa_transport::conn::Ack::none(), Vec::new(), origin, Default::default())
    }

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
            w.keep(copy("KR-T-1", seq), held());
        }
        w.keep(copy("KR-T-2", 7), held());
        assert!(w.due().is_some());
        let f = w.take(Timestamp(10), |_, _, _| true);
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
        assert!(w.due().is_none() && w.take(Timestamp(11), |_, _, _| true).inputs.is_empty(), "all closed");
    }

    #[test]
    fn a_copy_the_lane_did_not_pass_is_committed_alone() {
        let mut w = Windows::default();
        for seq in [1, 2, 3, 4] {
            w.keep(copy("KR-T-1", seq), held());
        }
        // The lane passed 1 and 3 only (it dropped 2: a bad copy; it had
        // not seen 4 yet): 2 and 4 are checked by the committed path alone.
        let f = w.take(Timestamp(10), |_, _, seq| seq % 2 == 1);
        let inputs: Vec<_> = f
            .inputs
            .iter()
            .map(|l| match &l.input {
                Input::Message { envelope, .. } => ("message", track_of(envelope).map_or(0, |(_, s, _)| s), 0),
                Input::TrackWindow { envelope, first_seq, .. } => {
                    ("window", track_of(envelope).map_or(0, |(_, s, _)| s), *first_seq)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(inputs, [("message", 2, 0), ("message", 4, 0), ("window", 3, 1)]);
        assert_eq!(f.acks.len(), 4, "every copy is acknowledged after the commit");
        // Each refusal finds its copy's dead letter: a copy alone by its
        // own id, the window's input by its latest's (one copy, once).
        let ids: Vec<Vec<String>> = f.acks.iter().map(|c| c.1.iter().map(ToString::to_string).collect()).collect();
        assert_eq!(ids, [vec!["KR.1.2".to_owned()], vec!["KR.1.4".into()], vec![], vec!["KR.1.3".into()]]);
        // Control: all passed, one window.
        for seq in [1, 2, 3, 4] {
            w.keep(copy("KR-T-1", seq), held());
        }
        assert_eq!(w.take(Timestamp(11), |_, _, _| true).inputs.len(), 1);
    }

    #[test]
    fn windows_are_flushed_before_too_many_copies_wait() {
        let mut w = Windows::default();
        for seq in 1..WINDOW_COPIES_MAX as u32 {
            w.keep(copy("KR-T-1", seq), held());
        }
        assert!(!w.full());
        w.keep(copy("KR-T-1", WINDOW_COPIES_MAX as u32), held());
        assert!(w.full(), "at the limit: flush now");
    }
}
