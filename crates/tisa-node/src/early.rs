//! The hub's deliveries published before their commit (issue #18: a node
//! may forward before its own commit only what the broker redelivers and
//! what is idempotent downstream).
//!
//! A report crosses the hub: KR's report (or KR's decision on it) arrives
//! on the hub's inbound stream, and the hub's delivery to JP used to wait
//! for the hub's group commit (an fdatasync). For a batch of messages from
//! the links, which the broker redelivers until the hub acknowledges them
//! after its commit, the hub now applies the batch first, publishes the
//! deliveries it made at once, and only then commits, audits and
//! acknowledges. Why that loses and doubles nothing:
//!
//! - **A crash before the commit** loses the inputs and the state after
//!   them, as if they had never come: they are unacknowledged, so the
//!   broker redelivers them, and the restarted hub makes the same
//!   deliveries again. The recipient takes each revision of a report once
//!   (its effect is exactly-once per report, revision and recipient), and
//!   its receipt follows its own commit.
//! - **No sent record before the commit.** Acknowledgements are taken by
//!   the actor's loop after this batch; a batch that would have to wait
//!   for some (back-pressure) does not go early. So a message id an
//!   uncommitted input used is never taken as sent after a restart.
//! - **Only deliveries, and only at the head of each peer's queue**: what
//!   the core made before them for the same peer (a revocation, a standing
//!   statement, a rejection) keeps its place ahead of them ([`heads`]).
//! - **Nothing that must be committed first**: a batch with a grant or a
//!   revocation, an operator's command, a timer or a link-up, and
//!   everything at KR and JP (a recipient's receipt and `RECEIVED` follow
//!   its commit) take the ordinary group commit (`ingress`).
//! - **A commit that fails** leaves the core ahead of its log: the node
//!   stops (without recording anything as sent); a restart replays the log
//!   and takes the redelivered messages again.
//!
//! `TISA_EARLY_FORWARD=off` commits first, as the other nodes do.

use tisa_core::{Input, LoggedInput, Party, Payload, Transmit};

use crate::actor::Actor;

/// Splits the core's transmits, in its order, into the deliveries at the
/// head of each peer's queue (before anything else for that peer) and the
/// rest, each in order. Off-line ones are never early.
fn heads(all: Vec<Transmit>) -> (Vec<Transmit>, Vec<Transmit>) {
    split_heads(all, |t| t.to, |t| matches!(t.envelope.payload, Payload::Delivery(_)) && !t.offline)
}

/// [`heads`] over any items: those `eligible` that come before every other
/// item for the same peer, and the rest.
fn split_heads<T>(all: Vec<T>, peer: impl Fn(&T) -> Party, eligible: impl Fn(&T) -> bool) -> (Vec<T>, Vec<T>) {
    let mut blocked: Vec<Party> = Vec::new();
    let (mut early, mut rest) = (Vec::new(), Vec::new());
    for t in all {
        let p = peer(&t);
        if eligible(&t) && !blocked.contains(&p) {
            early.push(t);
        } else {
            if !blocked.contains(&p) {
                blocked.push(p);
            }
            rest.push(t);
        }
    }
    (early, rest)
}

impl Actor {
    /// Whether this batch may be applied before its commit: the hub, with
    /// `TISA_EARLY_FORWARD` on, and messages from the links only, none a
    /// grant or a revocation.
    pub(crate) fn may_go_early(&self, inputs: &[LoggedInput]) -> bool {
        self.early_forward
            && inputs.iter().all(|l| {
                matches!(&l.input, Input::Message { envelope, .. }
                    if !matches!(envelope.payload, Payload::Grant(_) | Payload::Revocation(_)))
            })
    }

    /// The batch applied, the deliveries at the head of each peer's queue
    /// published, then the batch committed and audited (see the module
    /// docs). The other transmits wait for `drain`. `Err`: the commit
    /// failed after the inputs were applied; the node must stop.
    pub(crate) async fn apply_publish_commit(
        &mut self,
        inputs: Vec<LoggedInput>,
        raw: &[Option<bytes::Bytes>],
    ) -> Result<(), String> {
        let payloads = crate::ingress::encode_inputs(&inputs, raw);
        let kinds: Vec<&'static str> = inputs
            .iter()
            .map(|l| match &l.input {
                Input::Message { envelope, .. } => envelope.payload.kind(),
                _ => "",
            })
            .collect();
        let first = self.store.len();
        self.lane_stale = true;
        let mut applied = Vec::with_capacity(inputs.len());
        for (i, l) in inputs.into_iter().enumerate() {
            let note = self.audit.note(first + i as u64, &l);
            let r = crate::replay::apply(&mut self.core, l);
            let events: Vec<_> = std::iter::from_fn(|| self.core.poll_event()).collect();
            applied.push((note, r, events));
        }
        self.stage_stashes();
        // The lane judges by what was applied before anything it caused leaves.
        self.refresh_lane();
        let (early, rest) = heads(std::iter::from_fn(|| self.core.poll_transmit()).collect());
        self.counters.early_batches += 1;
        if self.in_flight.len() + early.len() <= crate::egress::MAX_IN_FLIGHT {
            self.counters.early_deliveries += early.len() as u64;
            self.send_all(early).await;
        } else {
            // Publishing would wait for acknowledgements (and record them).
            self.queued.extend(early);
        }
        self.queued.extend(rest);
        // Let the connections write the deliveries before the fdatasync
        // blocks this worker (see the actor's loop).
        tokio::task::yield_now().await;
        if kinds.iter().any(|k| crate::failpoint::before_commit_message(k)) {
            std::future::pending::<()>().await;
        }
        let committed = self.store.append_encoded(&payloads).map_err(|e| e.to_string())?;
        if committed != first {
            return Err(format!("the input log numbered the batch from {committed}, the core from {first}"));
        }
        if kinds.iter().any(|k| crate::failpoint::after_commit_message(k)) {
            std::future::pending::<()>().await;
        }
        for (note, r, events) in applied {
            self.audit_events(note, &r, events);
        }
        self.write_audit();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_heads;
    use tisa_core::Party::{Jp, Kr};

    #[test]
    fn only_deliveries_ahead_of_everything_else_for_their_peer_go_early() {
        // (peer, is a delivery, name), in the core's order.
        let all = vec![
            (Jp, true, "d1"),
            (Kr, false, "p1"),
            (Jp, true, "d2"),
            (Kr, true, "d3"),
            (Jp, false, "r1"),
            (Jp, true, "d4"),
        ];
        let (early, rest) = split_heads(all, |t| t.0, |t| t.1);
        let names = |v: Vec<(tisa_core::Party, bool, &'static str)>| v.into_iter().map(|t| t.2).collect::<Vec<_>>();
        // d3 waits behind p1 (KR's queue), d4 behind r1 (JP's).
        assert_eq!(names(early), ["d1", "d2"]);
        assert_eq!(names(rest), ["p1", "d3", "r1", "d4"]);
    }

    #[test]
    fn nothing_goes_early_where_nothing_is_eligible() {
        let all = vec![(Jp, false, "a"), (Kr, false, "b")];
        let (early, rest) = split_heads(all, |t| t.0, |t| t.1);
        assert!(early.is_empty());
        assert_eq!(rest.len(), 2);
    }
}
