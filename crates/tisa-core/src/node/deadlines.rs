//! Open requests' deadlines, earliest first: by time, then the request's
//! index in its role's table (issue #18: up to millions of them).
//!
//! A sorted sequence cut into blocks of at most `B` entries, each a ring
//! buffer of 12-byte entries: deadlines almost always arrive in order
//! (`now` plus the agreement's expiry), so an insert is an append to the
//! last block, the earliest is the first block's front (popped in O(1)),
//! and a decision's removal is two binary searches and a shift within one
//! block. 12 bytes a deadline, where a `BTreeSet<(Timestamp, u32)>` took
//! about 34 (16-byte keys in nodes of 11, half full when filled in order).
//!
//! Not a timer wheel: a wheel's slot holds many deadlines and gives only
//! its start as the next timeout, where [`Deadlines::first`] is exact (the
//! node's `poll_timeout` names the earliest deadline itself).

use std::collections::VecDeque;

use crate::types::Timestamp;

/// One deadline: its time (in two halves, so that an entry takes 12 bytes,
/// not 16) and the request's index. The derived order is (time, index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    hi: u32,
    lo: u32,
    index: u32,
}

impl Entry {
    fn new(at: Timestamp, i: usize) -> Entry {
        // A table of more than 4 billion requests is far beyond memory.
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        Entry { hi: (at.0 >> 32) as u32, lo: at.0 as u32, index }
    }

    fn at(self) -> Timestamp {
        Timestamp((u64::from(self.hi) << 32) | u64::from(self.lo))
    }
}

/// The deadlines, in blocks of at most `B` entries (`B` a parameter for
/// the tests, which use small blocks to split and merge often).
#[derive(Debug)]
pub(super) struct Deadlines<const B: usize = 1024> {
    /// None empty; each sorted, and every entry of a block before every
    /// entry of the next.
    blocks: VecDeque<VecDeque<Entry>>,
}

impl<const B: usize> Default for Deadlines<B> {
    fn default() -> Self {
        Deadlines { blocks: VecDeque::new() }
    }
}

impl<const B: usize> Deadlines<B> {
    /// The request at index `i` expires at `at`.
    pub(super) fn insert(&mut self, at: Timestamp, i: usize) {
        let e = Entry::new(at, i);
        let last = self.blocks.back().and_then(|b| b.back().copied());
        if last.is_none_or(|l| l < e) {
            // In order: appended.
            match self.blocks.back_mut() {
                Some(b) if b.len() < B => b.push_back(e),
                _ => self.blocks.push_back(VecDeque::from([e])),
            }
            return;
        }
        // Out of order: into the first block whose last entry is not before it.
        let k = self.blocks.partition_point(|b| b.back().is_some_and(|l| *l < e));
        let Some(b) = self.blocks.get_mut(k) else { return };
        let at = match b.binary_search(&e) {
            Ok(_) => return, // already there
            Err(at) => at,
        };
        b.insert(at, e);
        if b.len() > B {
            let upper = b.split_off(b.len() / 2);
            self.blocks.insert(k + 1, upper);
        }
    }

    /// The request at index `i` no longer expires at `at` (decided, withdrawn).
    pub(super) fn remove(&mut self, at: Timestamp, i: usize) {
        let e = Entry::new(at, i);
        let k = self.blocks.partition_point(|b| b.back().is_some_and(|l| *l < e));
        let Some(b) = self.blocks.get_mut(k) else { return };
        let Ok(at) = b.binary_search(&e) else { return };
        b.remove(at);
        self.tidy(k);
    }

    /// After a removal from block `k`: drops it if empty, merges it with a
    /// neighbour while the two fit in half a block, gives back most of its
    /// room once it is mostly empty. So blocks never take more than about
    /// four times what their entries need, whatever is removed.
    fn tidy(&mut self, k: usize) {
        let Some(len) = self.blocks.get(k).map(VecDeque::len) else { return };
        if len == 0 {
            self.blocks.remove(k);
            return;
        }
        for (a, z) in [(k, k + 1), (k.wrapping_sub(1), k)] {
            let fits = match (self.blocks.get(a), self.blocks.get(z)) {
                (Some(x), Some(y)) => x.len() + y.len() <= B / 2,
                _ => false,
            };
            if fits {
                if let Some(mut moved) = self.blocks.remove(z) {
                    if let Some(into) = self.blocks.get_mut(a) {
                        into.append(&mut moved);
                    }
                }
                return;
            }
        }
        if let Some(b) = self.blocks.get_mut(k) {
            if b.len() < b.capacity() / 4 {
                b.shrink_to(b.len() * 2);
            }
        }
    }

    /// The earliest deadline.
    pub(super) fn first(&self) -> Option<Timestamp> {
        self.blocks.front().and_then(|b| b.front()).map(|e| e.at())
    }

    /// Takes the earliest deadline if it is due at `now`: the request's index.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<usize> {
        let b = self.blocks.front_mut()?;
        let e = *b.front()?;
        if e.at() > now {
            return None;
        }
        b.pop_front();
        self.tidy(0);
        Some(e.index as usize)
    }

    /// How many deadlines there are.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.blocks.iter().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// Every block non-empty, at most `B` long, sorted, and in order.
    fn check<const B: usize>(d: &Deadlines<B>) {
        let all: Vec<Entry> = d.blocks.iter().flatten().copied().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        assert!(d.blocks.iter().all(|b| !b.is_empty() && b.len() <= B));
        // No two neighbours that would fit in half a block (they merge).
        assert!(d.blocks.iter().zip(d.blocks.iter().skip(1)).all(|(a, b)| a.len() + b.len() > B / 2));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, usize),
        Remove(u64, usize),
        /// Removes the n-th deadline held (mod their number): a real one.
        RemoveHeld(usize),
        Pop(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct times and indexes (same deadlines, duplicates),
        // mostly rising times, and far-future ones.
        let at = prop_oneof![6 => 0u64..64, 1 => Just(u64::MAX), 1 => (u64::MAX - 4)..u64::MAX, 1 => any::<u64>()];
        prop_oneof![
            8 => (at.clone(), 0usize..40).prop_map(|(a, i)| Op::Insert(a, i)),
            2 => (at, 0usize..40).prop_map(|(a, i)| Op::Remove(a, i)),
            4 => any::<usize>().prop_map(Op::RemoveHeld),
            2 => prop_oneof![0u64..64, Just(u64::MAX)].prop_map(Op::Pop),
        ]
    }

    /// The same operations on deadlines in blocks of `B` and on a `BTreeSet`.
    fn against_the_oracle<const B: usize>(ops: &[Op], rising: bool) {
        let mut d = Deadlines::<B>::default();
        let mut oracle: BTreeSet<(u64, u32)> = BTreeSet::new();
        let mut base = 0u64;
        for op in ops {
            match *op {
                Op::Insert(at, i) => {
                    // Rising: times from a base that grows (as `now` does).
                    let at = if rising && at < 64 { base + at } else { at };
                    base += u64::from(rising);
                    d.insert(Timestamp(at), i);
                    oracle.insert((at, i as u32));
                }
                Op::Remove(at, i) => {
                    d.remove(Timestamp(at), i);
                    oracle.remove(&(at, i as u32));
                }
                Op::RemoveHeld(n) => {
                    if let Some(&(at, i)) = oracle.iter().nth(n % oracle.len().max(1)) {
                        d.remove(Timestamp(at), i as usize);
                        oracle.remove(&(at, i));
                    }
                }
                Op::Pop(now) => {
                    let want = match oracle.first() {
                        Some(&(at, _)) if at <= now => oracle.pop_first().map(|(_, i)| i as usize),
                        _ => None,
                    };
                    assert_eq!(d.pop_due(Timestamp(now)), want);
                }
            }
            assert_eq!(d.first(), oracle.first().map(|(at, _)| Timestamp(*at)));
            assert_eq!(d.len(), oracle.len());
            check(&d);
        }
        // Drained, they come out in the oracle's order.
        let mut out = Vec::new();
        while let Some(i) = d.pop_due(Timestamp(u64::MAX)) {
            out.push(i as u32);
        }
        assert_eq!(out, oracle.iter().map(|(_, i)| *i).collect::<Vec<_>>());
        assert!(d.blocks.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn deadlines_behave_as_a_sorted_set(ops in proptest::collection::vec(op(), 0..300), rising: bool) {
            against_the_oracle::<4>(&ops, rising);
            against_the_oracle::<8>(&ops, rising);
            against_the_oracle::<1024>(&ops, rising);
        }
    }

    #[test]
    fn deadlines_come_out_earliest_first_same_time_by_index() {
        let mut d = Deadlines::<4>::default();
        for (at, i) in [(5, 3), (5, 1), (2, 9), (u64::MAX, 0), (5, 2), (7, 4), (5, 1)] {
            d.insert(Timestamp(at), i);
        }
        assert_eq!(d.first(), Some(Timestamp(2)));
        assert_eq!(d.pop_due(Timestamp(1)), None, "nothing due yet");
        d.remove(Timestamp(5), 2);
        d.remove(Timestamp(6), 4); // no such deadline: nothing happens
        let mut out = Vec::new();
        while let Some(i) = d.pop_due(Timestamp(7)) {
            out.push(i);
        }
        assert_eq!(out, [9, 1, 3, 4]);
        assert_eq!(d.first(), Some(Timestamp(u64::MAX)), "the far future stays");
        assert_eq!(d.pop_due(Timestamp(u64::MAX)), Some(0));
        assert_eq!(d.first(), None);
    }

    #[test]
    fn a_million_deadlines_in_order_take_12_bytes_each() {
        assert_eq!(std::mem::size_of::<Entry>(), 12);
        let mut d: Deadlines = Deadlines::default();
        for i in 0..1_000_000usize {
            d.insert(Timestamp(1_000 + i as u64 / 256), i);
        }
        let room: usize = d.blocks.iter().map(VecDeque::capacity).sum();
        assert!(room * 12 < 1_000_000 * 12 + 1024 * 12, "{room} entries of room");
        // Removing every other one, then all: each found where it is.
        for i in (0..1_000_000usize).step_by(2) {
            d.remove(Timestamp(1_000 + i as u64 / 256), i);
        }
        assert_eq!(d.len(), 500_000);
        check(&d);
        assert_eq!(d.pop_due(Timestamp(1_000)), Some(1));
    }
}
