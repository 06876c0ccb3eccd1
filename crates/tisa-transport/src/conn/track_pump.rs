//! A link's track stream, taken behind the real-time lane (#18).
//!
//! The lane acts on each track update's early copy, read off its subject as
//! published; the stream's copy is only what the committed path commits, in
//! a track window, up to 250 ms later (`tisa_node::windows`). Pulled as the
//! stream stores it, that copy woke the receiver's connection, its pump and
//! its actor at the very moment the lane was handling the early copy, on the
//! same two cores: measured in one run, the track path's p50 was 100–140 µs
//! (5–8 %) slower than without the stream's copies.
//!
//! So a paced pump keeps no pull pending. Nudged by each early copy of its
//! link, it waits [`TRACK_PULL_DELAY`] (more copies come meanwhile, the
//! stream stores them), then takes whatever the stream holds in one go
//! ([`TRACK_PULL_MAX`] at a time, as many pulls as it takes). With no early
//! copy it still looks every [`TRACK_PULL_EVERY`]: a copy whose early copy
//! the lane never saw (published while this node was away or reconnecting)
//! is taken then. Nothing is acknowledged here: the node acknowledges each
//! copy once its window is committed, and what it never acknowledges is
//! delivered again. `TISA_TRACK_PACED=off` pulls as the stream stores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::inbound::{hand_over, Inbound, PullConsumer, Pump};

/// How long a paced pump waits after an early copy before it takes the
/// stream's copies: they lag the lane by about this much more.
pub const TRACK_PULL_DELAY: Duration = Duration::from_millis(50);

/// How often a paced pump looks in its stream without an early copy.
pub const TRACK_PULL_EVERY: Duration = Duration::from_millis(500);

/// The most copies one pull takes.
pub const TRACK_PULL_MAX: usize = 256;

/// How long one pull's answer may take before the pump sets the consumer
/// up again.
const PULL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node's pumps did: the track streams' copies they took, the
/// hand-overs to the node those came in (one a copy, unpaced), and their
/// checks of stream and consumer after a reconnection.
#[derive(Debug, Default)]
pub(crate) struct PumpCounts {
    copies: AtomicU64,
    handovers: AtomicU64,
    rechecks: AtomicU64,
}

impl PumpCounts {
    /// One hand-over of `n` copies (none: nothing).
    pub(crate) fn took(&self, n: usize) {
        if n > 0 {
            self.copies.fetch_add(n as u64, Ordering::Relaxed);
            self.handovers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(copies, hand-overs)`.
    pub(crate) fn takes(&self) -> (u64, u64) {
        (self.copies.load(Ordering::Relaxed), self.handovers.load(Ordering::Relaxed))
    }

    /// A pump checked its stream and consumer after a reconnection.
    pub(crate) fn rechecked(&self) {
        self.rechecks.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times pumps did.
    pub(crate) fn rechecks(&self) -> u64 {
        self.rechecks.load(Ordering::Relaxed)
    }
}

/// What a paced pump does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// Take what the stream holds.
    Pull,
    /// Set the consumer up again (the connection came back, a pull failed).
    SetUp,
    /// Nothing more: the node is gone or stopping.
    Gone,
}

/// Why a pull stopped short.
enum Short {
    /// The node is gone: what it did not take.
    Gone(Vec<Inbound>),
    /// The pull failed: set the consumer up again.
    Failed(String),
}

impl Pump {
    /// Feeds the track stream's copies to the node, paced behind the lane
    /// (module docs), until it is gone. Sets the consumer up again after a
    /// reconnection or a failed pull.
    pub(crate) async fn run_paced(
        self,
        (mut consumer, _): (PullConsumer, u64),
        nudge: Arc<Notify>,
        mut reconnected: tokio::sync::watch::Receiver<u64>,
        tx: tokio::sync::mpsc::Sender<Inbound>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut idle = tokio::time::interval(TRACK_PULL_EVERY);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next = Wake::Pull;
        loop {
            if next == Wake::Pull {
                idle.reset();
                match self.pull_all(&consumer, &tx).await {
                    Ok(()) => {}
                    Err(Short::Gone(rest)) => return self.give_back(None, None, rest).await,
                    Err(Short::Failed(e)) => {
                        warn!(link = %self.peer, stream = %self.stream, error = %e, "cannot pull from the track stream; setting it up again");
                        next = Wake::SetUp;
                    }
                }
            }
            if next == Wake::SetUp {
                consumer = match self.setup_again(&tx, &mut stop, || self.setup_consumer()).await {
                    Some((c, _)) => c,
                    None => return self.give_back(None, None, Vec::new()).await,
                };
                next = Wake::Pull;
                continue;
            }
            next = self.wait(&nudge, &mut reconnected, &mut idle, &tx, &mut stop).await;
            if next == Wake::Gone {
                return self.give_back(None, None, Vec::new()).await;
            }
        }
    }

    /// Waits for what the pump does next: a pull (an early copy came, and
    /// [`TRACK_PULL_DELAY`] passed; or [`TRACK_PULL_EVERY`] passed), a new
    /// setup (the connection came back), or nothing more (the node is gone
    /// or stopping).
    async fn wait(
        &self,
        nudge: &Notify,
        reconnected: &mut tokio::sync::watch::Receiver<u64>,
        idle: &mut tokio::time::Interval,
        tx: &tokio::sync::mpsc::Sender<Inbound>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Wake {
        let wake = tokio::select! {
            _ = tx.closed() => return Wake::Gone,
            _ = stop.changed() => return Wake::Gone,
            // Err: the links are gone, and so is the node.
            r = reconnected.changed() => if r.is_ok() { Wake::SetUp } else { Wake::Gone },
            _ = nudge.notified() => Wake::Pull,
            _ = idle.tick() => return Wake::Pull,
        };
        match wake {
            Wake::SetUp => {
                info!(link = %self.peer, stream = %self.stream, "link reconnected: checking its track stream and consumer");
                self.counts.rechecked();
                Wake::SetUp
            }
            // Let more early copies come, and the stream store them.
            Wake::Pull => tokio::select! {
                _ = tx.closed() => Wake::Gone,
                _ = stop.changed() => Wake::Gone,
                _ = tokio::time::sleep(TRACK_PULL_DELAY) => Wake::Pull,
            },
            Wake::Gone => Wake::Gone,
        }
    }

    /// Takes everything the stream holds for this consumer now, handing
    /// each pull's copies to the node together.
    async fn pull_all(&self, consumer: &PullConsumer, tx: &tokio::sync::mpsc::Sender<Inbound>) -> Result<(), Short> {
        loop {
            let pull = async {
                let batch = consumer.fetch().max_messages(TRACK_PULL_MAX).messages().await?;
                Ok::<_, async_nats::Error>(batch.collect::<Vec<_>>().await)
            };
            let got = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
                Ok(Ok(got)) => got,
                Ok(Err(e)) => return Err(Short::Failed(e.to_string())),
                Err(_) => return Err(Short::Failed(format!("no answer in {} s", PULL_TIMEOUT.as_secs()))),
            };
            let mut failed = None;
            let mut ready = Vec::with_capacity(got.len());
            for m in got {
                match m {
                    Ok(m) => ready.push(self.inbound_of(m)),
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            let full = ready.len() >= TRACK_PULL_MAX;
            self.counts.took(ready.len());
            hand_over(tx, ready).await.map_err(Short::Gone)?;
            match failed {
                Some(e) => return Err(Short::Failed(e)),
                None if full => continue,
                None => return Ok(()),
            }
        }
    }
}
