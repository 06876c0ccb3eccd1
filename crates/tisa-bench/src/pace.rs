//! How far apart a latency path's samples start (`--latency-pace-ms`).
//!
//! By default each sample starts as soon as the one before it arrived:
//! the nodes, the broker and the cores never idle between samples. A
//! missile-warning track updates a few times a second, and an operator
//! approves now and then, so the bench can also start the samples a fixed
//! time apart, the idle time between them part of what is measured (on a
//! virtual machine, cores and caches that idle wake up slower).

use std::time::{Duration, Instant};

/// Starts a path's samples at least `pace` apart (`None`: each right after
/// the one before), and notes how far apart they did start.
pub(crate) struct Pacer {
    pace: Option<Duration>,
    last: Option<Instant>,
    least_apart: Option<Duration>,
}

impl Pacer {
    pub(crate) fn new(pace: Option<Duration>) -> Pacer {
        Pacer { pace, last: None, least_apart: None }
    }

    /// Waits until the next sample may start: `pace` after the last one
    /// started (a sample that took longer than the pace delays the next:
    /// samples never start closer together than the pace).
    pub(crate) async fn next(&mut self) {
        if let (Some(pace), Some(last)) = (self.pace, self.last) {
            tokio::time::sleep_until((last + pace).into()).await;
        }
        let now = Instant::now();
        if let Some(last) = self.last {
            let apart = now - last;
            self.least_apart = Some(self.least_apart.map_or(apart, |l| l.min(apart)));
        }
        self.last = Some(now);
    }

    /// The least time between two samples' starts, µs (`None`: fewer than two).
    pub(crate) fn least_apart_us(&self) -> Option<f64> {
        self.least_apart.map(|d| d.as_secs_f64() * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_start_at_least_the_pace_apart_and_back_to_back_without_one() {
        let mut paced = Pacer::new(Some(Duration::from_millis(20)));
        for _ in 0..5 {
            paced.next().await;
        }
        assert!(paced.least_apart_us().unwrap() >= 20_000.0, "{:?}", paced.least_apart_us());
        // (The least of four gaps: one of them as long as 20 ms would take
        // four descheduled moments in a row.)
        // Control: with no pace, the samples start back to back.
        let mut free = Pacer::new(None);
        assert_eq!(free.least_apart_us(), None);
        for _ in 0..5 {
            free.next().await;
        }
        assert!(free.least_apart_us().unwrap() < 20_000.0, "{:?}", free.least_apart_us());
    }
}
