//! The one wait-until with a deadline: polls a condition (blocking, or async
//! for the in-process clients) until it holds, and fails the test with what
//! it waited for when the deadline passes. The poll interval grows from
//! 10 ms to 200 ms: a polling interval, not synchronisation.
//!
//! [`wait_until`] and [`wait_until_async`] take the condition as a closure;
//! [`Deadline`] is the same wait for a condition a closure cannot hold (one
//! that borrows mutably, or one that must explain itself on failure).

use std::future::Future;
use std::time::{Duration, Instant};

/// How long any single condition may take to become true. Generous on
/// purpose: the machine has two cores and may be compiling at the same time.
pub const WAIT: Duration = Duration::from_secs(20);

const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(200);

/// A wait in progress: `while !condition { deadline.pause() }`.
pub struct Deadline {
    at: Instant,
    what: String,
    interval: Duration,
}

impl Deadline {
    /// A wait for `what`, failing at `at`.
    pub fn at(at: Instant, what: impl Into<String>) -> Deadline {
        Deadline { at, what: what.into(), interval: FIRST_POLL }
    }

    /// A wait for `what`, failing `within` from now.
    pub fn after(within: Duration, what: impl Into<String>) -> Deadline {
        Deadline::at(Instant::now() + within, what)
    }

    /// Whether the deadline has passed (to fail with a message of one's own).
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The next poll interval; panics with what was awaited if the deadline has passed.
    fn next(&mut self) -> Duration {
        if self.passed() {
            panic!("timed out waiting until {}", self.what);
        }
        let pause = self.interval.min(self.at.saturating_duration_since(Instant::now()));
        self.interval = (self.interval * 2).min(MAX_POLL);
        pause
    }

    /// Sleeps until the next poll (blocking).
    pub fn pause_blocking(&mut self) {
        std::thread::sleep(self.next());
    }

    /// Sleeps until the next poll (async).
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.next()).await;
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` at `deadline`.
pub fn wait_until<T>(deadline: Instant, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut d = Deadline::at(deadline, what);
    loop {
        if let Some(v) = f() {
            return v;
        }
        d.pause_blocking();
    }
}

/// [`wait_until`] with the default deadline ([`WAIT`] from now).
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_until(Instant::now() + WAIT, what, f)
}

/// [`wait_until`] for async conditions (in-process clients, inside a tokio test).
pub async fn wait_until_async<T, F, Fut>(deadline: Instant, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut d = Deadline::at(deadline, what);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        d.pause().await;
    }
}

/// [`wait_until_async`] with the default deadline, for a condition that needs no name.
pub async fn wait_async<T, F, Fut>(f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_until_async(Instant::now() + WAIT, &format!("the condition holds (within {WAIT:?})"), f).await
}
