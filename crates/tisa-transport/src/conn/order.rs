//! Hands a link's messages to the node in the order its stream stored them.
//!
//! The peer is the only publisher into the receiver's stream (the broker
//! lets no one else publish there), so the stream's sequences are
//! consecutive in the order the peer's messages were stored. A consumer
//! delivers in that order while every server is up; but when a stream or
//! consumer leader moves (a server killed, its store repaired), a delivery
//! in flight on the old leader comes again after later ones. [`Reorder`]
//! holds the later ones until the earlier one is there.
//!
//! A gap can also be one that never fills: messages acknowledged before a
//! reconnection or a restart are gone from the work-queue stream. The
//! stream's first sequence says so (everything below it is gone), and the
//! pump asks for it while it holds anything ([`Reorder::floor`]). Should a
//! gap outlive [`GIVE_UP`] anyway, the held messages go to the node
//! regardless ([`Reorder::give_up`]): the flow never stops for the sake of
//! order (the core is idempotent and each delivery is checked on its own).
//!
//! Sans-IO: time comes in as an argument.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a gap may hold later messages back, without any progress,
/// before they are handed over out of order. Well above the consumer's
/// acknowledgement wait (a delivery lost with a leader comes again after
/// it) and a leader election on a noisy machine.
pub const GIVE_UP: Duration = Duration::from_secs(45);

/// Puts a stream's deliveries back in stream order (see the module docs).
#[derive(Debug)]
pub struct Reorder<T> {
    /// The next stream sequence to hand over.
    next: u64,
    /// Later deliveries waiting for `next`, by stream sequence.
    held: BTreeMap<u64, T>,
    /// Since when something has been held without progress.
    stalled_since: Option<Instant>,
}

/// A gap given up on: sequences `from..to` never came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The first missing sequence.
    pub from: u64,
    /// The first sequence handed over after the gap.
    pub to: u64,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder { next: 1, held: BTreeMap::new(), stalled_since: None }
    }
}

impl<T> Reorder<T> {
    /// The stream's first sequence, from its info (at setup, and while
    /// holding): everything below it was acknowledged or removed, so no gap
    /// below it will ever fill. Returns what that releases, in order.
    pub fn floor(&mut self, first_seq: u64, now: Instant) -> Vec<T> {
        if first_seq > self.next {
            self.next = first_seq;
        }
        self.release(now)
    }

    /// A delivery at stream sequence `seq` (`None`: unknown, handed over
    /// at once). Returns what may go to the node now, in stream order. A
    /// delivery below the next expected sequence is a redelivery of one
    /// already handed over (or of one the node has yet to acknowledge): it
    /// goes at once (the node takes it once).
    pub fn offer(&mut self, seq: Option<u64>, item: T, now: Instant) -> Vec<T> {
        let Some(seq) = seq else { return vec![item] };
        if seq < self.next {
            return vec![item];
        }
        // A redelivery of a held one replaces it: its newest delivery is the one to acknowledge.
        self.held.insert(seq, item);
        self.release(now)
    }

    /// Everything held, in stream order, and nothing held any more (the
    /// pump stopping: it hands them back to the broker).
    pub fn take_all(&mut self) -> Vec<T> {
        self.stalled_since = None;
        std::mem::take(&mut self.held).into_values().collect()
    }

    /// Whether later deliveries are waiting for an earlier one.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The gap being waited for: (next expected, first held).
    pub fn waiting_for(&self) -> Option<(u64, u64)> {
        self.held.keys().next().map(|first| (self.next, *first))
    }

    /// After [`GIVE_UP`] without progress, hands over what is held (in
    /// order), skipping the gap; `None` before that or when nothing is held.
    pub fn give_up(&mut self, now: Instant) -> Option<(Skipped, Vec<T>)> {
        let since = self.stalled_since?;
        if now.saturating_duration_since(since) < GIVE_UP {
            return None;
        }
        let first = *self.held.keys().next()?;
        let skipped = Skipped { from: self.next, to: first };
        self.next = first;
        Some((skipped, self.release(now)))
    }

    /// Hands over the held deliveries from `next` on while they are consecutive.
    fn release(&mut self, now: Instant) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            // At `next`, or below it (the floor rose past it): hand over.
            let seq = *entry.key();
            out.push(entry.remove());
            self.next = self.next.max(seq + 1);
        }
        self.stalled_since = match (self.held.is_empty(), out.is_empty(), self.stalled_since) {
            (true, _, _) => None,
            (false, false, _) | (false, true, None) => Some(now),
            (false, true, Some(since)) => Some(since),
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_stopping_pump_takes_everything_held_in_order() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(1, now);
        // 1 is missing: 3 and 2 are held (the control: nothing goes).
        assert!(r.offer(Some(3), "c", now).is_empty() && r.offer(Some(2), "b", now).is_empty());
        assert!(r.holding());
        assert_eq!(r.take_all(), vec!["b", "c"]);
        assert!(!r.holding() && r.waiting_for().is_none());
        assert!(r.give_up(now + GIVE_UP * 2).is_none(), "nothing left to give up on");
    }

    #[test]
    fn in_order_deliveries_pass_straight_through() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(1, now);
        for s in 1..=5u64 {
            assert_eq!(r.offer(Some(s), s, now), vec![s]);
        }
        assert!(!r.holding());
    }

    #[test]
    fn a_later_delivery_waits_for_the_earlier_one_then_both_go_in_order() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(1, now);
        assert_eq!(r.offer(Some(1), 1, now), vec![1]);
        assert!(r.offer(Some(3), 3, now).is_empty());
        assert!(r.offer(Some(4), 4, now).is_empty());
        assert_eq!(r.waiting_for(), Some((2, 3)));
        assert_eq!(r.offer(Some(2), 2, now), vec![2, 3, 4]);
        assert!(!r.holding());
        // A redelivery of one already handed over goes at once (the node takes it once).
        assert_eq!(r.offer(Some(3), 33, now), vec![33]);
    }

    #[test]
    fn the_streams_first_sequence_ends_a_gap_that_will_never_fill() {
        let now = t0();
        let mut r = Reorder::default();
        // A restart: the stream starts at 10 (everything below was acknowledged).
        assert!(r.floor(10, now).is_empty());
        assert_eq!(r.offer(Some(10), 10, now), vec![10]);
        // 11 was acknowledged before the restart (gone), 12 arrives: held…
        assert!(r.offer(Some(12), 12, now).is_empty());
        // …until the stream says everything below 12 is gone.
        assert!(r.floor(11, now).is_empty(), "11 may still come");
        assert_eq!(r.floor(12, now), vec![12]);
        // A floor below what was handed over changes nothing.
        assert!(r.floor(3, now).is_empty());
        assert_eq!(r.offer(Some(13), 13, now), vec![13]);
    }

    #[test]
    fn a_gap_that_outlives_the_limit_is_skipped_and_the_flow_goes_on() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(1, now);
        assert!(r.offer(Some(2), 2, now).is_empty());
        assert!(r.give_up(now + GIVE_UP - Duration::from_millis(1)).is_none());
        // Progress elsewhere does not exist here; after the limit the held ones go.
        let (skipped, out) = r.give_up(now + GIVE_UP).unwrap();
        assert_eq!(skipped, Skipped { from: 1, to: 2 });
        assert_eq!(out, vec![2]);
        assert!(!r.holding());
        // The late one, should it come after all, still goes (the node takes it once).
        assert_eq!(r.offer(Some(1), 1, now + GIVE_UP), vec![1]);
    }

    #[test]
    fn progress_restarts_the_give_up_clock() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(1, now);
        assert!(r.offer(Some(2), 2, now).is_empty());
        assert!(r.offer(Some(4), 4, now).is_empty());
        let later = now + GIVE_UP - Duration::from_secs(1);
        assert_eq!(r.offer(Some(1), 1, later), vec![1, 2]);
        assert!(r.give_up(now + GIVE_UP).is_none(), "the clock restarted at the progress");
        assert!(r.give_up(later + GIVE_UP).is_some());
    }

    #[test]
    fn deliveries_without_a_sequence_are_not_held() {
        let now = t0();
        let mut r = Reorder::default();
        r.floor(5, now);
        assert!(r.offer(Some(7), 7, now).is_empty());
        assert_eq!(r.offer(None, 0, now), vec![0]);
    }

    /// Control: a shuffled delivery order comes out in stream order, and
    /// without the reorder it would not have.
    #[test]
    fn any_delivery_order_comes_out_in_stream_order() {
        let now = t0();
        let orders: [&[u64]; 4] = [&[3, 1, 2, 5, 4], &[5, 4, 3, 2, 1], &[2, 3, 4, 5, 1], &[1, 4, 3, 4, 2, 5]];
        for order in orders {
            let mut r = Reorder::default();
            r.floor(1, now);
            let out: Vec<u64> = order.iter().flat_map(|s| r.offer(Some(*s), *s, now)).collect();
            let mut want: Vec<u64> = out.clone();
            want.sort_unstable();
            assert_eq!(out, want, "delivered as {order:?}");
            assert_eq!(out.len(), 5, "each once (a redelivery of a held one replaces it): {order:?}");
            assert_ne!(order.to_vec(), want, "the input itself was out of order");
        }
    }
}
