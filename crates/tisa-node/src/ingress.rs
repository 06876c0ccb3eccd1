//! Inputs in: messages from the links, group-committed (logged in one store
//! transaction, applied in order, audited, then acknowledged), and dead
//! letters for what cannot be taken. The group commit is also how control
//! commands and timer and link-up inputs reach the core.
//!
//! Bad input and limits. Inbound streams are work queues (`retention:
//! workqueue`, `discard: new`): a message leaves the stream when its node
//! acknowledges or terminates it, so a stream and its account's JetStream
//! storage (`tisa broker config --js-max-file`) hold only what is not yet
//! taken, and a full one *refuses* new messages rather than dropping old
//! ones. The sender keeps refused messages in its outbox (retried every 2 s),
//! logs an `error!` naming the stream, the broker's reason and what to do,
//! and `tisa health` shows the outbox and the error and exits 1 until it
//! drains. A message that does not decode (garbage, truncated protobuf, wrong
//! kind for its subject, bad fields, another major protocol version:
//! `VERSION_MISMATCH`, also logged as an `error!` naming the peer and both
//! versions) or decodes but does not verify
//! (`UNVERIFIED`, `FORGED_SENDER`, `WRONG_ORIGINATOR`, `BAD_REPORT_ID`,
//! `UNEXPECTED_MESSAGE`, `BAD_TRACK`; the core also sends its rejection
//! notice) is written to the node's dead-letter stream — subject, link,
//! inbound stream and sequence, `Nats-Msg-Id` and envelope message id when
//! they are valid ids (the latter read from the leading fields of a broken
//! envelope), size, delivery count, time, class, reason code and a detail
//! that never echoes a value from the message — with an acknowledged publish
//! (deduplicated by inbound stream and sequence), then audited (`MALFORMED` /
//! `UNVERIFIABLE`), and only then is the original terminated or acknowledged.
//! If the dead letter cannot be written, the original stays unacknowledged
//! and the broker redelivers it after 5 s (`dead_letter_errors` in `tisa
//! health`; for an unverifiable one, re-applying it changes no state). State-
//! dependent refusals of well-formed messages (unknown request, expired, not
//! releasable…) are ordinary rejections, not dead letters. Oversize fields
//! are refused at submit (the CLI and the core check
//! `tisa_core::node::limits`), and a request or envelope larger than the
//! broker's `max_payload` is refused before publishing, naming both sizes.

use tisa_core::text::loggable;
use tisa_core::{CommandError, Event, Input, LoggedInput, MessageId, Party, RejectReason, Timestamp};
use tisa_transport::conn::Ack;
use tisa_transport::{ControlReply, DeadLetter, DecodeError, Inbound, InboundMeta, WatchEvent};
use tracing::{debug, error, warn};

use crate::actor::Actor;
use crate::audit::InputNote;
use crate::clock::now;
use crate::store::StoreError;
use crate::windows::track_of;

/// Where an inbound message came from: the link and the subject (for log
/// lines and dead letters).
pub(crate) struct Origin {
    pub(crate) link: Party,
    pub(crate) subject: String,
}

/// A message whose inputs are being committed: its broker handle, the
/// message ids of its envelopes, where it came from and where it sat.
pub(crate) type Committed = (Ack, Vec<MessageId>, Origin, InboundMeta);

/// What applying one input returned: a command's reply, or nothing.
pub(crate) type Applied = Option<Result<ControlReply, CommandError>>;

impl Actor {
    /// Every inbound message that was ready, as one group commit: the
    /// decoded ones are logged in one input-log append (one fdatasync),
    /// applied in order, audited, and only then acknowledged (an
    /// unacknowledged message is redelivered; inputs are idempotent).
    pub(crate) async fn on_inbound_batch(&mut self, batch: Vec<Inbound>) {
        let at = now();
        let taken_ns = crate::timeline::now_if_on();
        let mut inputs = Vec::with_capacity(batch.len());
        // Each input's envelope bytes as they came (logged as they are).
        let mut raw = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        for msg in batch {
            // A track update's stream copy waits for its window (lane on).
            let Some(msg) = self.window_or(msg) else { continue };
            let origin = Origin { link: msg.link, subject: msg.subject };
            let early = msg.meta.early;
            match msg.result {
                Ok(envs) => {
                    // An early track copy is counted when its stream copy comes.
                    if !early {
                        self.counters.received += 1;
                    }
                    let ids: Vec<MessageId> = envs.iter().map(|e| e.message_id.clone()).collect();
                    let mut bytes = msg.raw.into_iter();
                    for env in envs {
                        debug!(subject = %loggable(&origin.subject), link = %origin.link, message_id = %env.message_id, kind = env.payload.kind(), "received");
                        inputs.push(LoggedInput { at, input: Input::Message { link: origin.link, envelope: env } });
                        raw.push(bytes.next());
                    }
                    acks.push((msg.ack, ids, origin, msg.meta));
                }
                Err(e) => self.on_malformed(origin, msg.meta, msg.ack, e).await,
            }
        }
        if self.windows.full() {
            self.flush_windows().await;
        }
        if inputs.is_empty() {
            return;
        }
        let n = inputs.len();
        let seen = self.audited.len();
        let timed = crate::timeline::received(&inputs);
        crate::timeline::stamp_all_at(crate::timeline::Step::In, &timed, taken_ns);
        let committed = if self.may_go_early(&inputs) {
            // The hub: applied, deliveries published, then committed (`early`).
            if let Err(why) = self.apply_publish_commit(inputs, &raw).await {
                self.fatal = Some(why);
                return;
            }
            Ok(())
        } else {
            self.log_and_apply_shared(inputs, &raw).map(|_| ())
        };
        match committed {
            // Committed: the broker may forget them.
            Ok(()) => {
                crate::timeline::stamp_all(crate::timeline::Step::Committed, &timed);
                self.settle_committed(seen, acks).await
            }
            // Not committed: leave them unacknowledged, the broker redelivers them.
            Err(e) => error!(messages = n, error = %e, "cannot persist inbound messages; they will be redelivered"),
        }
    }

    /// Messages whose inputs were just committed (their events audited
    /// from `seen` on): those refused as unverifiable are dead-lettered,
    /// then each is acknowledged.
    async fn settle_committed(&mut self, seen: usize, acks: Vec<Committed>) {
        // The refusals among this batch's events, by message id (one
        // pass over the events, not one per message).
        let mut refusals: std::collections::HashMap<MessageId, (&'static str, String)> = Default::default();
        for ev in self.audited.iter().skip(seen) {
            if let Event::Rejected { message_id, reason, .. } = ev {
                if let Some(u) = unverifiable(reason) {
                    refusals.entry(message_id.clone()).or_insert(u);
                }
            }
        }
        'messages: for (ack, message_ids, origin, meta) in acks {
            // Decoded, but its signature, sender or key did not
            // verify: refused (the core sent the notice) and
            // dead-lettered (each such envelope of a batch). If a
            // dead letter cannot be written, the message stays
            // unacknowledged and is redelivered (re-applying it
            // changes no state).
            for message_id in message_ids {
                // An early copy's stream copy is dead-lettered, not it.
                if let Some((code, detail)) = refusals.get(&message_id).filter(|_| !meta.early).cloned() {
                    let d = dead_letter_of(&origin, &meta, "UNVERIFIABLE", code, detail, Some(message_id.to_string()));
                    if !self.dead_letter(d).await {
                        continue 'messages;
                    }
                }
            }
            if let Err(e) = ack.ack().await {
                warn!(error = %e, "cannot acknowledge; the broker will redeliver (harmless: inputs are idempotent)");
            }
        }
    }

    /// Keeps `msg` in its track window if it is the stream copy of a track
    /// update and the lane runs (`crate::windows`); otherwise gives it back.
    fn window_or(&mut self, msg: Inbound) -> Option<Inbound> {
        let track = match &msg.result {
            Ok(envs) if !msg.meta.early && envs.len() == 1 => envs.first().and_then(track_of).is_some(),
            _ => false,
        };
        if self.lane.is_none() || !track {
            return Some(msg);
        }
        self.counters.received += 1;
        let origin = Origin { link: msg.link, subject: msg.subject };
        if let Ok(Some(env)) = msg.result.map(|mut envs| envs.pop()) {
            self.windows.keep(env, (msg.ack, Vec::new(), origin, msg.meta));
        }
        None
    }

    /// Commits every open track window (one input for the copies the lane
    /// passed, one for each other copy) and then settles their copies as
    /// any committed message's (dead letter if refused as unverifiable,
    /// acknowledgement); if the commit fails, they stay unacknowledged and
    /// the broker redelivers them.
    pub(crate) async fn flush_windows(&mut self) {
        let lane = self.lane.as_ref();
        let flush = self.windows.take(now(), |link, track, seq| lane.is_some_and(|l| l.take_passed(link, track, seq)));
        if flush.inputs.is_empty() {
            return;
        }
        let (mut windows, mut windowed) = (0u64, 0u64);
        for l in &flush.inputs {
            if let Input::TrackWindow { updates, .. } = &l.input {
                windows += 1;
                windowed += u64::from(*updates);
            }
        }
        let copies = flush.acks.len();
        let seen = self.audited.len();
        match self.log_and_apply_all(flush.inputs) {
            Ok(_) => {
                debug!(windows, windowed, copies, "track windows committed");
                self.counters.track_windows += windows;
                self.counters.track_windowed += windowed;
                if let Some(lane) = &self.lane {
                    lane.forget_before(&flush.through);
                }
                self.settle_committed(seen, flush.acks).await;
            }
            Err(e) => {
                error!(windows, copies, error = %e, "cannot commit track windows; their copies will be redelivered")
            }
        }
    }

    /// A message that could not be decoded (decoded ones go through
    /// [`Actor::on_inbound_batch`]): dead-lettered first (reason and ids,
    /// never the payload); only then is the original given up, so it is
    /// never lost silently: if the dead letter cannot be written, it stays
    /// unacknowledged and the broker redelivers it.
    async fn on_malformed(&mut self, origin: Origin, meta: InboundMeta, ack: Ack, e: DecodeError) {
        if meta.early {
            // The stream's copy of it follows, and is dead-lettered then.
            debug!(subject = %loggable(&origin.subject), link = %origin.link, error = %e.code(), "an early track copy did not decode");
            return;
        }
        self.counters.received += 1;
        if let DecodeError::VersionMismatch { major, minor } = &e {
            error!(
                peer = %origin.link,
                peer_version = %format!("{major}.{minor}"),
                our_version = %format!("{}.{}", tisa_core::PROTOCOL_VERSION, tisa_core::PROTOCOL_VERSION_MINOR),
                subject = %loggable(&origin.subject),
                "{} speaks tisa protocol {major}.{minor}, this node {}.{}: its message is dead-lettered (VERSION_MISMATCH); run the same major version of tisa on both sides of the link",
                origin.link,
                tisa_core::PROTOCOL_VERSION,
                tisa_core::PROTOCOL_VERSION_MINOR
            );
        }
        let d = dead_letter_of(&origin, &meta, "MALFORMED", e.code(), e.redacted(), meta.message_id.clone());
        if !self.dead_letter(d).await {
            return;
        }
        self.counters.malformed += 1;
        let detail = format!("{} from {}: {} {}", origin.subject, origin.link, e.code(), e.redacted());
        let w = WatchEvent::bare("MALFORMED", now(), detail);
        if let Err(e) = self.links.publish_event(&w).await {
            warn!(error = %e, "cannot publish event");
        }
        if let Err(e) = ack.term().await {
            warn!(error = %e, "cannot terminate a malformed message");
        }
    }

    /// Writes a dead letter to the node's dead-letter stream and the audit
    /// log. `false` if the stream did not take it: the caller then leaves
    /// the original unacknowledged (the broker redelivers it after its ack wait).
    async fn dead_letter(&mut self, mut d: DeadLetter) -> bool {
        let link = d.link.map_or_else(|| "-".to_owned(), |p| p.to_string());
        match self.links.dead_letters().put(&d).await {
            Ok(seq) => {
                d.seq = seq;
                self.counters.dead_letters += 1;
                self.audit.record_dead_letter(&mut self.store, &d);
                // Subject, link, ids and reason: never the payload.
                warn!(
                    subject = %loggable(&d.subject),
                    link = %link,
                    class = %d.class,
                    reason = %d.reason,
                    detail = %loggable(&d.detail),
                    stream_seq = d.stream_seq.unwrap_or(0),
                    message_id = d.message_id.as_deref().unwrap_or("-"),
                    dead_letter = seq,
                    dead_letters_total = self.counters.dead_letters,
                    "dead-lettered a {} message",
                    d.class.to_lowercase()
                );
                true
            }
            Err(e) => {
                self.counters.dead_letter_errors += 1;
                error!(
                    subject = %loggable(&d.subject),
                    link = %link,
                    class = %d.class,
                    reason = %d.reason,
                    stream_seq = d.stream_seq.unwrap_or(0),
                    error = %e,
                    "cannot write a dead letter; the message stays unacknowledged and the broker will redeliver it"
                );
                false
            }
        }
    }

    /// Logs an input durably, then applies it.
    pub(crate) fn log_and_apply(&mut self, input: Input, at: Timestamp) -> Result<Applied, StoreError> {
        let mut r = self.log_and_apply_all(vec![LoggedInput { at, input }])?;
        Ok(r.pop().flatten())
    }

    /// The group commit: logs inputs durably in one input-log append (one
    /// fdatasync), then applies them in order, writing their audit entries
    /// (derived from the inputs just logged: not fsync'd each time, see
    /// [`crate::audit::AuditLog::record`]). Returns each input's result, in order.
    pub(crate) fn log_and_apply_all(&mut self, inputs: Vec<LoggedInput>) -> Result<Vec<Applied>, StoreError> {
        self.log_and_apply_shared(inputs, &[])
    }

    /// [`Actor::log_and_apply_all`] of inputs of which some are messages
    /// logged as their envelopes' bytes came (`raw[i]`, [`encode_inputs`]).
    pub(crate) fn log_and_apply_shared(
        &mut self,
        inputs: Vec<LoggedInput>,
        raw: &[Option<bytes::Bytes>],
    ) -> Result<Vec<Applied>, StoreError> {
        for l in &inputs {
            crate::failpoint::before_commit(&l.input);
        }
        // The signatures the batch carries are checked while its log
        // record syncs; the core's checks below are then cache hits.
        let ahead = self.ahead.as_ref().filter(|_| inputs.len() <= crate::ahead::MAX_INPUTS).and_then(|a| {
            let policy = self.core.policy();
            a.begin(inputs.iter().flat_map(|l| tisa_core::ahead::checks_ahead(policy, &l.input)).collect())
        });
        let first = self.store.append_encoded(&encode_inputs(&inputs, raw))?;
        crate::ahead::Ahead::finish(ahead);
        self.lane_stale = true;
        for l in &inputs {
            crate::failpoint::after_commit(&l.input);
        }
        debug!(inputs = inputs.len(), first, "group commit");
        let mut out = Vec::with_capacity(inputs.len());
        let mut refused = Vec::new();
        for (i, l) in inputs.into_iter().enumerate() {
            let seq = first + i as u64;
            let note = self.audit.note(seq, &l);
            let r = crate::replay::apply(&mut self.core, l);
            self.audit_input(note, &r);
            if let Some(Err(e)) = &r {
                refused.push((seq, tisa_transport::Wire::encode(&crate::control::refused_reply(e))));
            }
            out.push(r);
        }
        if let Err(e) = self.store.mark_refused(&refused) {
            error!(error = %e, "cannot record refused commands (a restart re-evaluates them)");
        }
        self.write_audit();
        self.stage_stashes();
        Ok(out)
    }

    /// Writes the audit entries of the group commit just applied, in one write.
    pub(crate) fn write_audit(&mut self) {
        if let Err(e) = self.audit.write_pending() {
            error!(error = %e, "cannot write the audit log");
        }
    }

    /// Stages the bodies the core stashed for the store.
    pub(crate) fn stage_stashes(&mut self) {
        let stashes: Vec<_> = std::iter::from_fn(|| self.core.poll_stash()).collect();
        if let Err(e) = self.store.stage_bodies(stashes) {
            error!(error = %e, "cannot write report bodies (their inputs are logged: a restart writes them again)");
        }
    }

    /// Records the events of the input just applied in the audit log, and
    /// keeps them for `drain` to publish.
    fn audit_input(&mut self, note: InputNote, r: &Applied) {
        let events: Vec<Event> = std::iter::from_fn(|| self.core.poll_event()).collect();
        self.audit_events(note, r, events);
    }

    /// Records `events`, what an applied input caused, in the audit log,
    /// and keeps them for `drain` to publish.
    pub(crate) fn audit_events(&mut self, note: InputNote, r: &Applied, events: Vec<Event>) {
        if let Err(e) = self.audit.record(&mut self.store, note, !matches!(r, Some(Err(_))), &events) {
            error!(error = %e, "cannot write the audit log");
        }
        self.audited.extend(events);
    }
}

/// A dead letter for a message that arrived from `origin` (ids and reason only).
fn dead_letter_of(
    origin: &Origin,
    meta: &InboundMeta,
    class: &str,
    reason: &str,
    detail: String,
    message_id: Option<String>,
) -> DeadLetter {
    DeadLetter {
        seq: 0,
        at: now(),
        subject: origin.subject.clone(),
        link: Some(origin.link),
        stream: meta.stream.clone(),
        stream_seq: meta.stream_seq,
        broker_message_id: meta.broker_message_id.clone(),
        message_id,
        size: meta.size as u64,
        delivered: meta.delivered,
        class: class.to_owned(),
        reason: reason.to_owned(),
        detail,
    }
}

/// Whether a refusal means the message itself cannot be trusted (its
/// signature, claimed sender, originator, ids or kind are wrong), as opposed
/// to a well-formed message the state refuses (unknown request, expired, not
/// releasable…), which is an ordinary rejection. Returns the code and a
/// detail that never echoes a name taken from the message.
fn unverifiable(reason: &RejectReason) -> Option<(&'static str, String)> {
    use tisa_core::sign::SigError;
    use RejectReason as R;
    let detail = match reason {
        R::Unverified { what, why } => {
            let why = match why {
                SigError::Malformed(doc) => format!("malformed {doc} document"),
                SigError::UnknownSigner { party, role, .. } => {
                    format!("signer is not a registered {role} key of {party}")
                }
                SigError::BadSignature(_) => "bad signature".to_owned(),
                SigError::Mismatch(doc) => format!("{doc} does not match the data it came with"),
            };
            format!("unverifiable {what}: {why}")
        }
        R::ForgedSender { .. } | R::WrongOriginator { .. } | R::BadReportId(_) | R::UnexpectedMessage { .. } => {
            reason.to_string()
        }
        R::BadTrack { .. } => reason.to_string(),
        _ => return None,
    };
    Some((reason.code(), detail))
}

/// The input-log records of `inputs`: a message whose envelope's bytes
/// came with it (`raw[i]`, shared with the broker message) is logged as
/// those bytes ([`tisa_transport::input_log::encode_inbound`]: the same
/// record, without encoding the decoded envelope again); anything else is
/// encoded.
pub(crate) fn encode_inputs(inputs: &[LoggedInput], raw: &[Option<bytes::Bytes>]) -> Vec<Vec<u8>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, l)| match (&l.input, raw.get(i)) {
            (Input::Message { link, .. }, Some(Some(bytes))) => {
                tisa_transport::input_log::encode_inbound(l.at, *link, bytes)
            }
            _ => tisa_transport::Wire::encode(l),
        })
        .collect()
}
