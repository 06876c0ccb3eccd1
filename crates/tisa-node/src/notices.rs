//! Notices to a report's originator, coalesced: the deliveries first, the
//! paperwork after.
//!
//! A progress notice (the hub to an originator: accepted, forwarded…) and a
//! receipt (a recipient's, and the hub passing it on) tell a party what
//! became of its report; nobody waits on them to see a report. Sent at
//! once, each sets off work at every node it reaches (a verification, a
//! commit, events) at the very moment the report itself is on its next
//! hop, on the same cores: in one run, holding them back took a fifth off
//! a standing report's p50 (`docs/performance.md`). So a notice waits up to
//! [`NOTICE_WAIT`], and the notices held go together, in one broker message
//! per peer, as TCP delays its acknowledgements.
//!
//! Never reordered: a message of any other kind to a peer takes the
//! notices held for that peer with it, ahead of it, in the order they came.
//! Nothing is lost by waiting: a notice not yet acknowledged by its peer's
//! stream is sent again after a restart, as every transmit is, and a clean
//! stop sends what is held. `TISA_COALESCE_NOTICES=off` sends each at once.

use std::time::Duration;

use tisa_core::{Party, Payload, Transmit};
use tokio::time::Instant;

/// How long a notice waits at most for others to go with it.
pub(crate) const NOTICE_WAIT: Duration = Duration::from_millis(20);

/// Whether `t` is a notice: a progress notice or a receipt (on-line).
fn is_notice(t: &Transmit) -> bool {
    !t.offline && matches!(t.envelope.payload, Payload::Progress(_) | Payload::Receipt(_))
}

/// The notices held back, and until when.
#[derive(Default)]
pub(crate) struct Notices {
    /// Off (`TISA_COALESCE_NOTICES=off`): nothing is held.
    pub(crate) off: bool,
    held: Vec<Transmit>,
    due: Option<Instant>,
    /// Notices held so far, and the times the held ones went together.
    pub(crate) counts: NoticeCounts,
}

/// What [`Notices`] did, for `tisa health`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NoticeCounts {
    /// Notices held back.
    pub(crate) held: u64,
    /// Times the held notices went (their wait over, or with another message).
    pub(crate) sends: u64,
}

impl Notices {
    /// Nothing held; `off`: nothing ever will be.
    pub(crate) fn new(off: bool) -> Notices {
        Notices { off, ..Notices::default() }
    }

    /// What of `out` goes now, in order: for each peer that gets anything
    /// but notices, the notices held for it first, then everything of
    /// `out` for it; for a peer that gets only notices, nothing (they are
    /// held, until [`Notices::due`] at the latest).
    pub(crate) fn sort(&mut self, out: Vec<Transmit>, now: Instant) -> Vec<Transmit> {
        // Nothing held and no notice among them (most sends): as they are.
        if self.off || (self.held.is_empty() && !out.iter().any(is_notice)) {
            return out;
        }
        let urgent: Vec<Party> = out.iter().filter(|t| !is_notice(t) && !t.offline).map(|t| t.to).collect();
        let mut go = Vec::with_capacity(out.len());
        if urgent.iter().any(|p| self.held.iter().any(|h| h.to == *p)) {
            let (with, keep): (Vec<Transmit>, Vec<Transmit>) =
                std::mem::take(&mut self.held).into_iter().partition(|h| urgent.contains(&h.to));
            self.held = keep;
            self.counts.sends += 1;
            go.extend(with);
        }
        for t in out {
            if t.offline || urgent.contains(&t.to) {
                go.push(t);
            } else {
                self.counts.held += 1;
                self.held.push(t);
            }
        }
        if self.held.is_empty() {
            self.due = None;
        } else {
            self.due.get_or_insert(now + NOTICE_WAIT);
        }
        go
    }

    /// When the held notices must go (none held: never).
    pub(crate) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Every notice held, in order; none is held after.
    pub(crate) fn take(&mut self) -> Vec<Transmit> {
        self.due = None;
        if !self.held.is_empty() {
            self.counts.sends += 1;
        }
        std::mem::take(&mut self.held)
    }
}

/// Waits until the held notices are due (forever if none are held).
pub(crate) async fn due(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{Envelope, MessageId, Progress, ReportId, Stage, Timestamp};

    fn transmit(to: Party, n: u32, payload: Payload) -> Transmit {
        Transmit {
            to,
            envelope: Envelope {
                version: tisa_core::PROTOCOL_VERSION,
                message_id: MessageId::new(format!("US.m.{n}")).unwrap(),
                sender: Party::Us,
                sent_at: Timestamp(0),
                agreement: Default::default(),
                payload,
            },
            body: None,
            offline: false,
        }
    }

    fn progress(to: Party, n: u32) -> Transmit {
        let p = Progress {
            report_id: ReportId::new(format!("KR-{n}")).unwrap(),
            revision: 1,
            recipient: None,
            stage: Stage::Accepted,
        };
        transmit(to, n, Payload::Progress(p))
    }

    fn ids(ts: &[Transmit]) -> Vec<String> {
        ts.iter().map(|t| t.envelope.message_id.to_string()).collect()
    }

    #[test]
    fn a_notice_waits_and_goes_ahead_of_the_next_message_to_its_peer_never_after() {
        let t0 = Instant::now();
        let mut n = Notices::default();
        // A notice alone to KR: held, due after the wait.
        assert!(n.sort(vec![progress(Party::Kr, 1)], t0).is_empty());
        assert_eq!(n.due(), Some(t0 + NOTICE_WAIT));
        // Another, later: held too, the first's deadline kept.
        assert!(n.sort(vec![progress(Party::Kr, 2)], t0 + Duration::from_millis(5)).is_empty());
        assert_eq!(n.due(), Some(t0 + NOTICE_WAIT));
        // A message of another kind to JP takes nothing of KR's.
        let go = n.sort(vec![transmit(Party::Jp, 3, Payload::Hello)], t0);
        assert_eq!(ids(&go), ["US.m.3"]);
        // One to KR, with a notice behind it: the held notices first, then
        // both, in the order they came.
        let go = n.sort(vec![transmit(Party::Kr, 4, Payload::Hello), progress(Party::Kr, 5)], t0);
        assert_eq!(ids(&go), ["US.m.1", "US.m.2", "US.m.4", "US.m.5"]);
        assert_eq!((n.due(), n.take().len()), (None, 0));
        assert_eq!(n.counts, NoticeCounts { held: 2, sends: 1 });
        // Held ones due go together.
        assert!(n.sort(vec![progress(Party::Kr, 6), progress(Party::Jp, 7)], t0).is_empty());
        assert_eq!(ids(&n.take()), ["US.m.6", "US.m.7"]);
        assert_eq!((n.due(), n.counts.sends), (None, 2));
    }

    #[test]
    fn off_holds_nothing_and_an_off_line_notice_is_not_held() {
        let t0 = Instant::now();
        let mut n = Notices::new(true);
        assert_eq!(ids(&n.sort(vec![progress(Party::Kr, 1)], t0)), ["US.m.1"]);
        assert_eq!((n.due(), n.counts), (None, NoticeCounts::default()));
        let mut n = Notices::default();
        let mut offline = progress(Party::Kr, 2);
        offline.offline = true;
        assert_eq!(ids(&n.sort(vec![offline], t0)), ["US.m.2"]);
        assert_eq!(n.due(), None);
    }
}
