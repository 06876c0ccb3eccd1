//! Signature checks run while a group commit's `fdatasync` runs.
//!
//! The actor's thread only waits while the input log is synced; the
//! signatures the core will check when it applies the batch (found by
//! [`tisa_core::ahead::checks_ahead`]) are checked meanwhile on a helper
//! thread, and what verifies is remembered by the core's process-wide
//! cache, so the core's own checks are then hits. After its sync the actor
//! takes any check the helper has not started (each is claimed once, by
//! whichever thread comes first), so a slow helper never delays a commit
//! by more than the check it is in (the actor waits for that one, a
//! little, rather than do it again). The core decides exactly as before:
//! see [`tisa_core::sign::Check`].
//!
//! Only for small batches ([`MAX_INPUTS`]): a larger one means the node is
//! busy, the other core too, and a thread cannot add CPU; handing checks
//! across would only add the cost of the handing (measured: −14–29 %
//! standing throughput with every batch's checks handed over).
//!
//! **Off by default**; `TISA_CHECKS_AHEAD=on` turns it on. Off, each check
//! is done by the core, after the commit, on the actor's thread. Inside a
//! node it halves the work after a sync (probed: KR p50 307 → 121 µs), but
//! measured end to end in one run beside the same nodes without it
//! (`tisa bench --ab-env`, two shared cores, nats-server and three nodes
//! on them), a report's path was no faster with it (p50 from 2.5 %
//! slower to 1 % faster over 8 comparisons, slower in the only ones
//! beyond chance): waking a thread on a core that the broker and the
//! other nodes want at that moment costs about what the checks it takes
//! off the path save. A machine with cores to spare may differ; measure it
//! there with `tisa bench --ab`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tisa_core::sign::Check;
use tracing::warn;

/// The most inputs a group commit may hold for its checks to run ahead.
pub(crate) const MAX_INPUTS: usize = 4;

/// How long the actor waits, asleep, after its sync, for a check the
/// helper is in the middle of (rather than run it again itself): about
/// one verification.
const WAIT_FOR_HELPER: Duration = Duration::from_micros(250);

/// One batch's checks, claimed one at a time by the helper and the actor.
pub(crate) struct Job {
    checks: Vec<Check>,
    next: AtomicUsize,
    /// Checks finished, and its signal.
    done: Mutex<usize>,
    finished: Condvar,
}

impl Job {
    fn new(checks: Vec<Check>) -> Job {
        Job { checks, next: AtomicUsize::new(0), done: Mutex::new(0), finished: Condvar::new() }
    }

    fn done(&self) -> MutexGuard<'_, usize> {
        // A count: consistent whatever a panic elsewhere left.
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the checks no one has claimed yet; returns how many it ran.
    fn work(&self) -> u64 {
        let mut ran = 0;
        while let Some(c) = self.checks.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            c.run();
            *self.done() += 1;
            self.finished.notify_all();
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
        let job = Arc::new(Job::new(checks));
        if let Some(tx) = &self.jobs {
            // A helper gone (it cannot panic on a check) leaves the job to the actor.
            let _ = tx.send(job.clone());
        }
        Some(job)
    }

    /// Runs what the helper has not started of `job`, then waits (briefly:
    /// [`WAIT_FOR_HELPER`]) for the check the helper is in, whose result
    /// the core would otherwise miss in the cache and verify again.
    pub(crate) fn finish(job: Option<Arc<Job>>) {
        let Some(job) = job else { return };
        job.work();
        let len = job.checks.len();
        let done = job.done();
        if *done < len {
            let _ = job.finished.wait_timeout_while(done, WAIT_FOR_HELPER, |d| *d < len);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{Identity, KeyEntry, KeyRole, Party, Policy};

    /// `n` checks of documents signed by one registered key.
    fn checks(n: usize, tag: u8) -> Vec<Check> {
        let id = Identity::from_seed("kr-node", [tag; 32]);
        let policy = Policy {
            keys: vec![KeyEntry { party: Party::Kr, name: "kr-node".into(), role: KeyRole::Node, public: id.public() }],
            ..Default::default()
        };
        let mut out = Vec::new();
        for i in 0..n {
            tisa_core::sign::checks_for(&policy, &id.sign(format!("doc {tag} {i}").into_bytes()), &mut out);
        }
        out
    }

    #[test]
    fn each_check_is_run_once_by_the_helper_or_the_actor() {
        let ahead = Ahead::start().unwrap();
        let job = ahead.begin(checks(40, 1));
        let job2 = job.clone().unwrap();
        Ahead::finish(job);
        // The actor ran what the helper had not claimed; the helper finishes
        // what it claimed (waited for here with a deadline: the actor's own
        // wait is short and may end first on a busy machine). Each ran once.
        let done = job2.finished.wait_timeout_while(job2.done(), Duration::from_secs(20), |d| *d < 40).unwrap().0;
        assert_eq!(*done, 40);
        drop(done);
        assert!(job2.next.load(Ordering::Relaxed) >= 40);
        let (total, by_helper) = ahead.stats();
        assert_eq!(total, 40);
        assert!(by_helper <= 40);
        // Nothing to check: no job.
        assert!(ahead.begin(Vec::new()).is_none());
    }

    #[test]
    fn without_a_helper_the_actor_runs_every_check() {
        let ahead = Ahead { jobs: None, thread: None, stats: Default::default() };
        let job = ahead.begin(checks(5, 2)).unwrap();
        Ahead::finish(Some(job.clone()));
        assert_eq!(*job.done(), 5);
        assert_eq!(ahead.stats(), (5, 0));
    }
}
