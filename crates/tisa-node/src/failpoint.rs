//! Named failpoints, for fault tests across processes.
//!
//! `TISA_FAILPOINT=<step>:<what>` (optionally `…:<nth>`, 1-based, default 1)
//! makes the node crash the `nth` time it reaches that step: it writes one
//! line to stderr, `tisa: failpoint <step>:<what> hit`, and calls
//! [`std::process::abort`] (no destructors, no flush: a crash, like
//! `kill -9`). The variable is read once, when the node starts; a value
//! that names no step is refused (the node does not start), so a typo
//! cannot make a test pass by never firing. Unset, each check is one load
//! of an initialised `OnceLock`. With `…:stall` the node prints the same
//! line and stops there for good instead (the actor's task waits; where it
//! cannot, its thread), so that a test can look at what the node's other
//! tasks did meanwhile, then kill it.
//!
//! Steps, on both sides of each commit and each publish:
//!
//! | step | where |
//! |---|---|
//! | `before-commit:<what>` | an input is about to be written to the node's input log (`wal/`) |
//! | `after-commit:<what>` | the input is durable, not yet applied to the core nor acknowledged (broker ack for a message, reply for a command) |
//! | `before-send:<kind>` | a message is about to be published to the receiver's stream |
//! | `after-send:<kind>` | the receiver's stream acknowledged it; not yet recorded as sent |
//!
//! `<what>` is the envelope kind of a message from a peer (`report`,
//! `request`, `decision`, `delivery`, `progress`, `rejection`, `grant`,
//! `revocation`, `track`, `receipt`: the last token of its subject),
//! `ctl.<verb>` for an operator command (`ctl.submit`, `ctl.decide`,
//! `ctl.grant`, `ctl.revoke`, `ctl.track`), `timeout` for the core's
//! timer, `link-up`, or `track-window` for a window of track updates the
//! real-time lane passed (`crate::windows`). `<kind>` is the envelope kind of the message sent.
//!
//! The manual release flow maps onto them as: KR submits
//! (`ctl.submit` at KR, `report` sent by KR, `report` at US); US requests
//! (`request` sent by US, `request` at KR); KR approves (`ctl.decide` at KR,
//! `decision` sent by KR, `decision` at US); US forwards (`delivery` sent by
//! US, `delivery` at JP); JP's receipt (`receipt` sent by JP, `receipt` at
//! US, `receipt` sent by US, `receipt` at KR).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use std::borrow::Cow;

use tisa_core::Input;
use tisa_transport::ControlRequest;

/// The environment variable naming the failpoint.
pub const ENV: &str = "TISA_FAILPOINT";

/// The steps.
pub const STEPS: [&str; 4] = ["before-commit", "after-commit", "before-send", "after-send"];

/// Envelope kinds (sent and received).
pub const KINDS: [&str; 11] = [
    "report",
    "request",
    "decision",
    "delivery",
    "progress",
    "rejection",
    "grant",
    "revocation",
    "track",
    "receipt",
    "retraction",
];

/// Inputs that are not messages from a peer (commit steps only), besides
/// `ctl.<verb>` for each command ([`ControlRequest::COMMAND_VERBS`]).
pub const LOCAL: [&str; 3] = ["timeout", "link-up", "track-window"];

/// Whether `what` names an input that is not a message from a peer.
fn is_local(what: &str) -> bool {
    LOCAL.contains(&what) || what.strip_prefix("ctl.").is_some_and(|v| ControlRequest::COMMAND_VERBS.contains(&v))
}

struct Armed {
    step: &'static str,
    what: String,
    nth: u64,
    hits: AtomicU64,
    /// `…:stall`: the node's actor stops there (its other tasks go on)
    /// until it is killed, instead of aborting.
    stall: bool,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// A `TISA_FAILPOINT` value that names no step.
#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV}={0:?} names no failpoint (expected <step>:<what>[:<nth>][:stall], step one of before-commit, after-commit, \
     before-send, after-send; see `tisa node --help`)"
)]
pub struct BadFailpoint(String);

fn parse(v: &str) -> Result<Armed, BadFailpoint> {
    let bad = || BadFailpoint(v.to_owned());
    let (v, stall) = match v.strip_suffix(":stall") {
        Some(rest) => (rest, true),
        None => (v, false),
    };
    let (name, nth) = match v.rsplit_once(':') {
        Some((name, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (name, n.parse::<u64>().map_err(|_| bad())?)
        }
        _ => (v, 1),
    };
    let (step, what) = name.split_once(':').ok_or_else(bad)?;
    let step = STEPS.iter().copied().find(|s| *s == step).ok_or_else(bad)?;
    let commit = step.ends_with("-commit");
    let known = KINDS.contains(&what) || (commit && is_local(what));
    if !known || nth == 0 {
        return Err(bad());
    }
    Ok(Armed { step, what: what.to_owned(), nth, hits: AtomicU64::new(0), stall })
}

/// Reads [`ENV`] (once per process; later calls only report the first
/// outcome's validity again).
pub fn init() -> Result<(), BadFailpoint> {
    let value = std::env::var(ENV).ok().filter(|v| !v.is_empty());
    let mut error = None;
    let armed = ARMED.get_or_init(|| match value.as_deref().map(parse) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            error = Some(e);
            None
        }
    });
    if let Some(a) = armed {
        tracing::warn!(
            failpoint = format!("{}:{}", a.step, a.what),
            nth = a.nth,
            "failpoint armed: this node will abort there"
        );
    }
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Aborts the process if the armed failpoint is hit; `true` if it is hit
/// and armed to stall (the caller stops there for good).
#[inline]
fn check(step: &'static str, what: impl FnOnce() -> Cow<'static, str>) -> bool {
    let Some(Some(a)) = ARMED.get() else { return false };
    if a.step != step {
        return false;
    }
    let what = what();
    if a.what != what {
        return false;
    }
    if a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.nth {
        // One line, unbuffered, then a crash: no destructors, no flush.
        eprintln!("tisa: failpoint {step}:{what} hit");
        if a.stall {
            return true;
        }
        std::process::abort();
    }
    false
}

/// A stall where the caller cannot wait: the thread stops for good, after
/// handing the runtime's other tasks to another thread (`block_in_place`),
/// so the node's connections and track lane go on.
fn stall_thread(hit: bool) {
    if hit {
        tokio::task::block_in_place(|| loop {
            std::thread::park();
        });
    }
}

/// What an input is, for the commit steps.
fn input_kind(input: &Input) -> Cow<'static, str> {
    match input {
        Input::Message { envelope, .. } => Cow::Borrowed(envelope.payload.kind()),
        Input::Courier { envelope, .. } => Cow::Owned(format!("courier.{}", envelope.payload.kind())),
        Input::TrackWindow { .. } => Cow::Borrowed("track-window"),
        Input::Timeout => Cow::Borrowed("timeout"),
        Input::LinkUp { .. } => Cow::Borrowed("link-up"),
        Input::Command(c, _) => Cow::Owned(format!("ctl.{}", c.verb())),
    }
}

/// Before an input is written to the store.
pub(crate) fn before_commit(input: &Input) {
    stall_thread(check("before-commit", || input_kind(input)));
}

/// After an input is durable, before it is applied and acknowledged.
pub(crate) fn after_commit(input: &Input) {
    stall_thread(check("after-commit", || input_kind(input)));
}

/// Before a message of `kind` from a peer is written to the store (the
/// hub's batches applied before their commit, `early`). `true`: stall
/// here (the caller's task waits for good; the node's other tasks go on).
pub(crate) fn before_commit_message(kind: &'static str) -> bool {
    check("before-commit", || Cow::Borrowed(kind))
}

/// After a message of `kind` from a peer is durable (`early`: applied,
/// not yet audited nor acknowledged). `true` as for [`before_commit_message`].
pub(crate) fn after_commit_message(kind: &'static str) -> bool {
    check("after-commit", || Cow::Borrowed(kind))
}

/// Before a message of `kind` is published.
pub(crate) fn before_send(kind: &'static str) {
    stall_thread(check("before-send", || Cow::Borrowed(kind)));
}

/// After the receiver's stream acknowledged a message of `kind`, before it is recorded as sent.
pub(crate) fn after_send(kind: &'static str) {
    stall_thread(check("after-send", || Cow::Borrowed(kind)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_counts() {
        let a = parse("before-commit:report").unwrap();
        assert_eq!((a.step, a.what.as_str(), a.nth), ("before-commit", "report", 1));
        let a = parse("after-send:receipt:3").unwrap();
        assert_eq!((a.step, a.what.as_str(), a.nth), ("after-send", "receipt", 3));
        let a = parse("after-commit:ctl.decide").unwrap();
        assert_eq!((a.step, a.what.as_str()), ("after-commit", "ctl.decide"));
        for verb in ControlRequest::COMMAND_VERBS {
            assert!(parse(&format!("before-commit:ctl.{verb}")).is_ok(), "{verb}");
        }
        for bad in [
            "",
            "report",
            "before-commit",
            "before-commit:",
            "before-commit:reports",
            "before-commit:ctl.pending",
            "before-commit:ctl.",
            "before-send:ctl.submit",
            "before-send:timeout",
            "during-send:report",
            "after-send:receipt:0",
            "after-send:receipt:x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
