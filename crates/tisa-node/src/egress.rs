//! Outputs: the core's transmits (bodies filled from the store, published
//! in batches without waiting, recorded as sent once acknowledged, the
//! rest kept in the outbox and retried) and its events (logged and
//! published for `tisa watch`).

use futures::StreamExt;
use tisa_core::text::loggable;
use tisa_core::{BodyKey, Event, FillError, Party, Payload, Report, Timestamp, Transmit};
use tisa_transport::control::watch_event;
use tisa_transport::TransportError;
use tracing::{debug, error, info, warn};

use crate::actor::{Acked, Actor, SendTrouble};
use crate::clock::now;

/// The events every report or track update causes on its way: logged at
/// debug, not info (the others are rare and worth a line each).
const HOT_PATH_EVENTS: &[&str] = &[
    "SUBMITTED",
    "REPORT_HELD",
    "RELEASE_REQUESTED",
    "DECIDED",
    "FORWARDED",
    "RECEIVED",
    "RECEIPT",
    "PROGRESS",
    "TRACK",
    "TRACK_FORWARDED",
    "TRACK_WINDOW",
];

/// At most this many published messages awaiting their acknowledgement; beyond, the loop waits.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

impl Actor {
    /// Drains the core's outputs: transmits first, then events.
    pub(crate) async fn drain(&mut self) {
        // The lane judges by what was just committed before any of its
        // effects (a revocation's, say) is published.
        self.refresh_lane();
        let mut out = Vec::new();
        let mut stored = Vec::new();
        let queued = std::mem::take(&mut self.queued);
        for t in queued.into_iter().chain(std::iter::from_fn(|| self.core.poll_transmit())) {
            // Stored already by the lane's copy: recorded as sent.
            if self.lane.as_ref().is_some_and(|l| l.stored_already(&t)) {
                stored.push(t.envelope.message_id.to_string());
                continue;
            }
            // Being forwarded by the lane: held until that copy is settled.
            if self.lane.as_ref().is_some_and(|l| l.sending(&t)) {
                self.held_for_lane.push(t);
                continue;
            }
            out.push(t);
        }
        if let Err(e) = self.store.mark_sent(&stored) {
            warn!(error = %e, "cannot record track updates the lane sent; they will be re-sent after a restart");
        }
        self.send_all(out).await;
        let at = now();
        let mut events = Vec::new();
        let mut shown = Vec::new();
        while let Some(ev) = self.audited.pop_front().or_else(|| self.core.poll_event()) {
            if matches!(ev, Event::Rejected { .. }) {
                self.counters.rejected += 1;
            }
            let w = watch_event(&ev, at);
            // Ids and enum names only; the title stays out of logs. The
            // detail may carry a peer's text (its rejection detail, a name
            // from a message): control characters escaped. Refusals are
            // warnings; the steps every report or track update takes are at
            // debug (each is in the audit log and on the events subject: an
            // INFO line per event was a tenth of a node's CPU under load);
            // the rest (held for the agreement, expired, retracted…) at info.
            let report = w.report_id.as_deref().unwrap_or("-");
            let request = w.request_id.as_deref().unwrap_or("-");
            let detail = loggable(&w.detail);
            match &ev {
                Event::Rejected { .. } | Event::RejectionReceived { .. } => {
                    warn!(event = %w.kind, report, revision = w.revision, request, %detail, "event")
                }
                _ if HOT_PATH_EVENTS.contains(&w.kind.as_str()) => {
                    debug!(event = %w.kind, report, revision = w.revision, request, %detail, "event")
                }
                _ => info!(event = %w.kind, report, revision = w.revision, request, %detail, "event"),
            }
            // Shown by the lane already: in the audit log, not published twice.
            if !self.lane.as_ref().is_some_and(|l| l.shown_else_claim(&ev)) {
                shown.extend(crate::timeline::shown(&ev));
                events.push(w);
            }
        }
        crate::timeline::stamp_all(crate::timeline::Step::Shown, &shown);
        // One message per drain (cut to size), not one per event.
        if let Err(e) = self.links.publish_events(&events).await {
            warn!(error = %e, events = events.len(), "cannot publish events");
        }
        // The audit entries of the inputs just applied were written, not
        // fsync'd: the inputs were fdatasync'd before they were applied, and
        // the audit log is derived from them (entries a power loss cuts off
        // are written again, the same, from the input log on start; a
        // process crash loses nothing, they are in the page cache). The
        // actor makes the file durable every `AUDIT_SYNC_EVERY`, off this path.
    }

    /// Gives the lane a fresh view if inputs were applied since the last.
    pub(crate) fn refresh_lane(&mut self) {
        if let Some(lane) = self.lane.as_ref().filter(|_| self.lane_stale) {
            lane.refresh(&self.core);
            self.lane_stale = false;
        }
    }

    /// Publishes transmits without waiting for their acknowledgements (the
    /// loop records each as sent once its receiver's stream acknowledged it,
    /// so a restart does not send it again; anything not recorded is
    /// re-sent, anything refused or timed out goes to the outbox).
    /// Notices to an originator (progress, receipts) may be held back a
    /// while, to go together (`crate::notices`).
    pub(crate) async fn send_all(&mut self, out: Vec<Transmit>) {
        let out = self.notices.sort(out, tokio::time::Instant::now());
        self.send_all_as(out, true).await
    }

    /// Sends the notices held back (their wait is over, or the node stops).
    pub(crate) async fn send_held_notices(&mut self) {
        let held = self.notices.take();
        self.send_all_as(held, true).await
    }

    /// Sends the outbox again (for `peers` only, if given), one broker
    /// message per transmit (what a receiver refused as a batch, e.g. for
    /// want of space, may go through one by one), in the order first sent.
    /// What waits behind a publish still in flight to its peer stays.
    pub(crate) async fn retry_outbox_for(&mut self, peers: Option<&[Party]>) {
        let (mut again, wait): (Vec<Transmit>, Vec<Transmit>) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|t| peers.is_none_or(|p| p.contains(&t.to)) && self.links.ready_for(t.to));
        self.outbox = wait;
        if again.is_empty() {
            return;
        }
        // In the order they were first sent (failures come back in any order).
        again.sort_by_key(send_order);
        if self.send_trouble.is_some() {
            info!(messages = again.len(), "retrying unacknowledged messages");
        } else {
            debug!(messages = again.len(), "sending messages held back to keep the order");
        }
        self.send_all_as(again, false).await;
    }

    /// [`Actor::send_all`]; with `batch` false, one broker message per transmit.
    async fn send_all_as(&mut self, out: Vec<Transmit>, batch: bool) {
        // What may only travel off-line is never published: it waits for
        // the next bundle (`courier`).
        let (offline, mut out): (Vec<Transmit>, Vec<Transmit>) = out.into_iter().partition(|t| t.offline);
        self.keep_offline(offline);
        if out.is_empty() {
            return;
        }
        crate::timeline::stamp_all(crate::timeline::Step::Sent, &crate::timeline::updates(&out));
        if batch && !self.outbox.is_empty() {
            // New messages for a peer never overtake older ones waiting in
            // the outbox: they join them there, and go after them.
            let (wait, go): (Vec<Transmit>, Vec<Transmit>) =
                out.into_iter().partition(|t| self.outbox.iter().any(|o| o.to == t.to));
            let track = wait.iter().any(|t| matches!(t.envelope.payload, Payload::Track(_)));
            self.outbox.extend(wait);
            if track {
                self.drop_superseded_tracks();
            }
            out = go;
        }
        self.fill_bodies(&mut out);
        if out.is_empty() {
            return;
        }
        // This node's own receipts carry its audit chain head, signed: the
        // originator keeps it as evidence of how far this log reached. The
        // head covers their entries (audited when their input was applied),
        // and a power loss cannot take it back (`AuditLog::signed_head`).
        for t in &mut out {
            if let Payload::Receipt(r) = &mut t.envelope.payload {
                if r.doc.recipient == self.core.party() && r.audit_head.is_none() {
                    r.audit_head = Some(self.audit.signed_head());
                }
            }
        }
        for t in &mut out {
            crate::failpoint::before_send(t.envelope.payload.kind());
        }
        // One broker message per batch of transmits to the same peer.
        let groups = self.links.publish_many(&out, batch).await;
        let mut slots: Vec<Option<Transmit>> = out.into_iter().map(Some).collect();
        for (idx, wait) in groups {
            let ts: Vec<Transmit> = idx.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)).collect();
            self.in_flight.push(Box::pin(async move { (ts, wait.await) }));
        }
        // Back-pressure: a receiver that stopped acknowledging must not grow this without bound.
        while self.in_flight.len() > MAX_IN_FLIGHT {
            match self.in_flight.next().await {
                Some(acked) => self.on_acked(vec![acked]),
                None => break,
            }
        }
    }

    /// A report body from the store, or why it cannot be had.
    pub(crate) fn body(&self, key: &BodyKey) -> Result<Report, BodyError> {
        match self.store.body(key)? {
            Some(b) => Ok(b),
            None => Err(FillError::Missing(key.clone()).into()),
        }
    }

    /// Fills the report bodies that transmits need from the store. One that
    /// cannot be filled waits in the outbox (retried, never sent blank).
    fn fill_bodies(&mut self, out: &mut Vec<Transmit>) {
        if out.iter().all(|t| t.body.is_none()) {
            return;
        }
        let mut ready = Vec::with_capacity(out.len());
        for mut t in out.drain(..) {
            let Some(key) = t.body.clone() else {
                ready.push(t);
                continue;
            };
            match self.body(&key).and_then(|body| t.fill(&body).map_err(BodyError::from)) {
                Ok(()) => ready.push(t),
                Err(e) => {
                    error!(body = %key, to = %t.to, kind = t.envelope.payload.kind(), error = %e, "cannot read a report body to send; kept in the outbox (a restart's replay rewrites lost bodies)");
                    self.outbox.push(t);
                }
            }
        }
        *out = ready;
    }

    /// Acknowledged (or failed) publishes: records the acknowledged ones as
    /// sent in one store write; the others wait in the outbox for a retry.
    pub(crate) fn on_acked(&mut self, batch: Vec<Acked>) {
        let mut sent = Vec::new();
        for (ts, r) in batch {
            match r {
                Err(TransportError::HeldForOrder { .. }) => {
                    // Not a failure: it waits behind an earlier one.
                    self.outbox.extend(ts.into_iter().filter(|t| !matches!(t.envelope.payload, Payload::Hello)));
                }
                Ok(()) => {
                    if let Some(t) = ts.first() {
                        if !self.retry_now.contains(&t.to) {
                            self.retry_now.push(t.to);
                        }
                    }
                    for t in ts {
                        let kind = t.envelope.payload.kind();
                        crate::failpoint::after_send(kind);
                        self.counters.sent += 1;
                        debug!(to = %t.to, kind, message_id = %t.envelope.message_id, "sent");
                        sent.push(t.envelope.message_id.to_string());
                    }
                }
                Err(e) => {
                    if let Some(t) = ts.first() {
                        warn!(to = %t.to, messages = ts.len(), first = %t.envelope.message_id, error = %e, "not acknowledged yet; will retry");
                        self.note_send_failure(t.to, &e);
                    }
                    // A `hello` is best-effort (every other message carries
                    // the agreement too, and the next link-up says it again):
                    // one the receiver's stream did not take yet is dropped,
                    // never kept as a stuck message.
                    self.outbox.extend(ts.into_iter().filter(|t| !matches!(t.envelope.payload, Payload::Hello)));
                }
            }
        }
        self.note_outbox();
        if let Err(e) = self.store.mark_sent(&sent) {
            warn!(error = %e, "cannot record sent messages; they will be re-sent after a restart");
        }
    }

    /// Remembers why a send failed; an `error!` on the first failure of an
    /// episode (and once a minute while it lasts) names the stream, the
    /// broker's reason and what to do.
    fn note_send_failure(&mut self, to: Party, e: &TransportError) {
        let now = now();
        let stream = tisa_transport::conn::receiving_stream(self.core.party(), to).unwrap_or_default();
        let (since, logged_at) = match &self.send_trouble {
            Some(t) => (t.since, t.logged_at),
            None => (now, Timestamp(0)),
        };
        let log = self.send_trouble.as_ref().is_none_or(|t| t.stream != stream)
            || now.as_millis().saturating_sub(logged_at.as_millis()) >= 60_000;
        if log {
            error!(stream = %stream, to = %to, outbox = self.outbox.len() + 1, since_ms = since.as_millis(), error = %e, "messages are not getting through; they are kept in the outbox and retried (nothing is dropped but a track update a newer one of its track supersedes)");
        }
        self.send_trouble =
            Some(SendTrouble { stream, reason: e.to_string(), since, logged_at: if log { now } else { logged_at } });
    }

    /// Latest wins, while the outbox waits: an update of a track that a
    /// newer one of the same track, to the same peer, also waits behind is
    /// dropped (it would be stale on arrival). A receiver whose broker is
    /// out of reach so keeps the sender's outbox at one update per track,
    /// however dense the track and long the outage.
    fn drop_superseded_tracks(&mut self) {
        let dropped = superseded_tracks_dropped(&mut self.outbox);
        if dropped > 0 {
            self.counters.tracks_superseded += dropped as u64;
            debug!(
                dropped,
                outbox = self.outbox.len(),
                "track updates waiting in the outbox superseded by newer ones of their tracks (latest wins)"
            );
        }
    }

    /// Clears the send trouble once nothing waits any more.
    fn note_outbox(&mut self) {
        self.drop_superseded_tracks();
        if self.outbox.is_empty() {
            if let Some(t) = self.send_trouble.take() {
                info!(stream = %t.stream, since_ms = t.since.as_millis(), "messages are getting through again; the outbox is empty");
            }
        }
    }
}

/// Where a transmit stands in this node's sending order: its message id's
/// sequence (`KR.<instance>.<seq>`: the instance is kept for ever, and a
/// replay gives each message the same id again).
fn send_order(t: &Transmit) -> u64 {
    let id = t.envelope.message_id.to_string();
    id.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
}

/// Why a report body a transmit or a query needs could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The store could not be read.
    #[error("report body store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The store has no body under the key, or not the one the core expects.
    #[error("report body store: {0}")]
    Fill(#[from] FillError),
}

/// Of the track updates in `outbox`, keeps each (peer, track)'s newest
/// only; everything else stays, in its order. Returns how many it dropped.
pub(crate) fn superseded_tracks_dropped(outbox: &mut Vec<Transmit>) -> usize {
    let mut newest: std::collections::HashMap<(Party, &str), u32> = std::collections::HashMap::new();
    let mut tracks = 0;
    for t in outbox.iter() {
        if let Payload::Track(u) = &t.envelope.payload {
            tracks += 1;
            let seq = newest.entry((t.to, u.doc.track_id.as_str())).or_insert(0);
            *seq = (*seq).max(u.doc.seq);
        }
    }
    if tracks == newest.len() {
        return 0;
    }
    let keep: Vec<bool> = outbox
        .iter()
        .map(|t| match &t.envelope.payload {
            Payload::Track(u) => newest.get(&(t.to, u.doc.track_id.as_str())).is_none_or(|n| u.doc.seq >= *n),
            _ => true,
        })
        .collect();
    let before = outbox.len();
    let mut keep = keep.into_iter();
    outbox.retain(|_| keep.next().unwrap_or(true));
    before - outbox.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::tests::kr_track;

    fn track(to: Party, id: &str, seq: u32) -> Transmit {
        Transmit { to, envelope: kr_track(Party::Us, id, seq), body: None, offline: false }
    }

    fn seqs(outbox: &[Transmit]) -> Vec<(Party, String, u32)> {
        outbox
            .iter()
            .map(|t| match &t.envelope.payload {
                Payload::Track(u) => (t.to, u.doc.track_id.to_string(), u.doc.seq),
                other => (t.to, other.kind().to_owned(), 0),
            })
            .collect()
    }

    #[test]
    fn an_outbox_keeps_each_tracks_newest_update_per_peer_and_everything_else() {
        let mut hello = track(Party::Jp, "KR-T-1", 1);
        hello.envelope.payload = Payload::Hello;
        let mut outbox = vec![
            track(Party::Jp, "KR-T-1", 1),
            hello,
            track(Party::Jp, "KR-T-2", 7),
            track(Party::Jp, "KR-T-1", 3),
            track(Party::Kr, "KR-T-1", 2),
            track(Party::Jp, "KR-T-1", 2),
        ];
        // Control: nothing superseded, nothing dropped.
        let mut alone =
            vec![track(Party::Jp, "KR-T-1", 1), track(Party::Kr, "KR-T-1", 1), track(Party::Jp, "KR-T-2", 1)];
        assert_eq!(superseded_tracks_dropped(&mut alone), 0);
        assert_eq!(alone.len(), 3);
        assert_eq!(superseded_tracks_dropped(&mut outbox), 2);
        assert_eq!(
            seqs(&outbox),
            [
                (Party::Jp, "hello".to_owned(), 0),
                (Party::Jp, "KR-T-2".to_owned(), 7),
                (Party::Jp, "KR-T-1".to_owned(), 3),
                (Party::Kr, "KR-T-1".to_owned(), 2),
            ],
            "the newest of each track to each peer, the rest in order"
        );
    }
}
