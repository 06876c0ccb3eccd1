//! Signature checks run while a group commit's `fdatasync` runs.
//!
//! The actor's thread only waits while the input log is synced; the
//! signatures the core will check when it applies the batch (found by
//! [`tisa_core::ahead::checks_ahead`]) are checked meanwhile on a helper
//! thread, and what verifies is remembered by the core's process-wide
//! cache, so the core's own checks are then hits. After its sync the actor
//! takes any check the helper has not started (each is claimed once, by
//! whichever thread comes first), so a slow helper never delays a commit
//! by more than the check it is in. The core decides exactly as before:
//! see [`tisa_core::sign::Check`].
//!
//! `TISA_CHECKS_AHEAD=off` turns it off (each check is then done by the core, after
//! the commit, on the actor's thread).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use tisa_core::sign::Check;
use tracing::warn;

/// One batch's checks, claimed one at a time by the helper and the actor.
pub(crate) struct Job {
    checks: Vec<Check>,
    next: AtomicUsize,
}

impl Job {
    /// Runs the checks no one has claimed yet; returns how many it ran.
    fn work(&self) -> u64 {
        let mut ran = 0;
        while let Some(c) = self.checks.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            c.run();
            ran += 1;
        }
        ran
    }
}

/// The helper thread, and what it did (for `tisa health`).
pub(crate) struct Ahead {
    jobs: Option<Sender<Arc<Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stats: Arc<Stats>,
}

/// Checks run ahead since start, and how many of them on the helper.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) checks: AtomicU64,
    pub(crate) by_helper: AtomicU64,
}

impl Ahead {
    /// Starts the helper thread (`None` if the system refuses a thread:
    /// the core then checks everything itself).
    pub(crate) fn start() -> Option<Ahead> {
        let (tx, rx) = channel::<Arc<Job>>();
        let stats = Arc::new(Stats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("tisa-checks-ahead".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    s.by_helper.fetch_add(job.work(), Ordering::Relaxed);
                }
            })
            .map_err(|e| warn!(error = %e, "cannot start the thread for checks ahead: the core checks each signature itself"))
            .ok()?;
        Some(Ahead { jobs: Some(tx), thread: Some(thread), stats })
    }

    /// Hands `checks` to the helper; the caller finishes the job with
    /// [`Ahead::finish`] once its commit is done.
    pub(crate) fn begin(&self, checks: Vec<Check>) -> Option<Arc<Job>> {
        if checks.is_empty() {
            return None;
        }
        self.stats.checks.fetch_add(checks.len() as u64, Ordering::Relaxed);
        let job = Arc::new(Job { checks, next: AtomicUsize::new(0) });
        if let Some(tx) = &self.jobs {
            // A helper gone (it cannot panic on a check) leaves the job to the actor.
            let _ = tx.send(job.clone());
        }
        Some(job)
    }

    /// Runs what the helper has not started of `job`.
    pub(crate) fn finish(job: Option<Arc<Job>>) {
        if let Some(job) = job {
            job.work();
        }
    }

    /// Checks run ahead since start, and how many of them on the helper.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.stats.checks.load(Ordering::Relaxed), self.stats.by_helper.load(Ordering::Relaxed))
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        // Closing the channel ends the helper's loop.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
