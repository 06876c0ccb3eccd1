//! How long a node's commits take: every group commit's write to the input
//! log and its `fdatasync`, as a histogram since the node started
//! (`tisa health`). A commit is on the path of everything that arrives
//! once (an operator's command is committed before its effect leaves), so
//! this is the disk's share of a node's latency, as the node saw it.

use std::time::Duration;

/// Buckets per doubling of the duration.
const PER_DOUBLING: f64 = 8.0;
/// Buckets in all: from 1 µs to 2^25 µs (about 34 s), the last open-ended.
pub const COMMIT_BUCKETS: usize = 200;

/// A node's group commits since it started, by how long each took
/// (bucket `i` holds those of `2^(i/8)` µs up to `2^((i+1)/8)` µs; under
/// 1 µs counts in the first, over the range in the last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitHealth {
    /// Commits per bucket; trailing empty buckets may be left out.
    pub buckets: Vec<u64>,
}

/// The bucket of `us` microseconds.
fn bucket(us: f64) -> usize {
    if us < 1.0 {
        return 0;
    }
    ((us.log2() * PER_DOUBLING) as usize).min(COMMIT_BUCKETS - 1)
}

/// The lower edge of bucket `i` (µs).
fn lower_edge(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        (i as f64 / PER_DOUBLING).exp2()
    }
}

impl CommitHealth {
    /// Counts one commit that took `took`.
    pub fn record(&mut self, took: Duration) {
        let b = bucket(took.as_secs_f64() * 1e6);
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] = self.buckets[b].saturating_add(1);
    }

    /// Commits counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The commits counted since `earlier` (a reading of the same node
    /// taken before this one).
    pub fn since(&self, earlier: &CommitHealth) -> CommitHealth {
        let buckets =
            self.buckets.iter().enumerate().map(|(i, n)| n.saturating_sub(*earlier.buckets.get(i).unwrap_or(&0)));
        CommitHealth { buckets: buckets.collect() }
    }

    /// At least how long the `q`-quantile commit took (µs): the lower edge
    /// of its bucket (a figure never above the true one, within 9 %); none
    /// without commits.
    pub fn quantile_at_least_us(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the q-quantile, 1-based, as the bench's percentiles take it.
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(lower_edge(i));
            }
        }
        None
    }

    /// The buckets as sent: without trailing empty ones.
    pub(crate) fn to_wire(&self) -> Vec<u64> {
        let end = self.buckets.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
        self.buckets[..end].to_vec()
    }

    /// From the wire: at most [`COMMIT_BUCKETS`] buckets.
    pub(crate) fn from_wire(buckets: Vec<u64>) -> Result<CommitHealth, crate::DecodeError> {
        if buckets.len() > COMMIT_BUCKETS {
            return Err(crate::DecodeError::Inconsistent("health: more commit buckets than there are"));
        }
        Ok(CommitHealth { buckets })
    }
}

/// Signature checks run while group commits synced (`tisa_node::ahead`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChecksAheadHealth {
    /// Whether the node does (off unless `TISA_CHECKS_AHEAD=on`).
    pub enabled: bool,
    /// Checks handed out since start.
    pub checks: u64,
    /// Of them, run by the helper thread while the sync ran (the rest by
    /// the actor after it).
    pub by_helper: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn quantiles_are_read_at_the_lower_edge_of_their_bucket() {
        let mut h = CommitHealth::default();
        // 98 fast commits (40 µs), 2 slow ones (1.5 ms).
        for _ in 0..98 {
            h.record(us(40));
        }
        h.record(us(1500));
        h.record(us(1500));
        assert_eq!(h.count(), 100);
        let p50 = h.quantile_at_least_us(0.5).unwrap();
        assert!(p50 <= 40.0 && p50 > 40.0 / 1.1, "{p50}");
        // The 99th of 100 is the 99th commit: a slow one.
        let p99 = h.quantile_at_least_us(0.99).unwrap();
        assert!(p99 <= 1500.0 && p99 > 1500.0 / 1.1, "{p99}");
        // The control: with one slow commit only, the 99th is a fast one.
        let mut one = CommitHealth::default();
        for _ in 0..99 {
            one.record(us(40));
        }
        one.record(us(1500));
        assert!(one.quantile_at_least_us(0.99).unwrap() <= 40.0);
        assert_eq!(CommitHealth::default().quantile_at_least_us(0.5), None);
    }

    #[test]
    fn a_phase_is_the_difference_of_two_readings() {
        let mut h = CommitHealth::default();
        for _ in 0..1000 {
            h.record(us(30));
        }
        let before = h.clone();
        for _ in 0..10 {
            h.record(us(900));
        }
        let phase = h.since(&before);
        assert_eq!(phase.count(), 10);
        assert!(phase.quantile_at_least_us(0.5).unwrap() > 800.0);
        // The control: over the whole run the fast ones dominate.
        assert!(h.quantile_at_least_us(0.5).unwrap() < 31.0);
    }

    #[test]
    fn extremes_land_in_the_end_buckets_and_the_wire_form_round_trips() {
        let mut h = CommitHealth::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(3600));
        assert_eq!(h.buckets.len(), COMMIT_BUCKETS);
        assert_eq!((h.buckets[0], h.buckets[COMMIT_BUCKETS - 1]), (1, 1));
        let mut short = CommitHealth::default();
        short.record(us(100));
        assert_eq!(CommitHealth::from_wire(short.to_wire()).unwrap(), short);
        assert_eq!(CommitHealth::default().to_wire(), Vec::<u64>::new());
        assert!(CommitHealth::from_wire(vec![0; COMMIT_BUCKETS + 1]).is_err());
    }
}
