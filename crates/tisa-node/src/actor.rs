use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tisa_core::{
    CommandError, Event, Identity, InboxEntry, Node, Page, Party, PendingView, Policy, ReportId, Timestamp, Transmit,
};
use tisa_transport::store::{Input, LoggedInput};

use crate::audit::{AuditLog, InputNote};
use crate::store::{Store, StoreError};
use tisa_transport::control::{watch_event, DEFAULT_LIMIT};
use tisa_transport::{
    ControlCall, ControlReply, ControlRequest, DeadLetter, Health, Inbound, InboundMeta, LinkUrls, Links,
    TransportError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Which party this node is.
    pub party: Party,
    /// Where its brokers are.
    pub urls: LinkUrls,
    /// The agreed policy.
    pub policy: Policy,
    /// The node's signing key (registered in the agreement as its node key).
    pub identity: Identity,
    /// Where the node keeps its state (an input log it replays on start).
    pub data_dir: std::path::PathBuf,
    /// How often the node reconciles with every peer even if no link came
    /// back (a backstop: links that come back reconcile at once).
    pub reconcile_every: Duration,
}

/// Why a node stopped or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Subscribing or proving readiness failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The actor is gone (shut down).
    #[error("the node has shut down")]
    Gone,
    /// The configuration is unusable (e.g. an unregistered key).
    #[error("cannot start: {0}")]
    Config(String),
    /// The node's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a report body a transmit or a query needs could not be had.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    /// The store could not be read.
    #[error("report body store: {0}")]
    Store(#[from] StoreError),
    /// The store has no body under the key, or not the one the core expects.
    #[error("report body store: {0}")]
    Fill(#[from] tisa_core::FillError),
}

impl BodyError {
    /// The reply to a query that needed the body.
    fn reply(&self) -> ControlReply {
        info!(code = "STORAGE", error = %self, "command refused");
        ControlReply::Error { code: "STORAGE".into(), message: self.to_string() }
    }
}

/// A cloneable handle to a running node. The node stops when the shutdown
/// token is cancelled (not when handles drop, since NATS keeps it busy).
#[derive(Clone, Debug)]
pub struct NodeHandle {
    tx: mpsc::Sender<(ControlRequest, oneshot::Sender<ControlReply>)>,
}

impl NodeHandle {
    /// Runs a control request in the actor and returns its reply.
    pub async fn call(&self, req: ControlRequest) -> Result<ControlReply, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((req, tx)).await.map_err(|_| NodeError::Gone)?;
        rx.await.map_err(|_| NodeError::Gone)
    }
}

/// Starts a node: connects (retrying while the broker is unreachable),
/// subscribes, proves readiness, logs `node ready`, then serves until
/// `shutdown` is cancelled. `ready` is notified once the node is ready.
pub fn spawn(
    config: NodeConfig,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<()>>,
) -> (NodeHandle, JoinHandle<Result<(), NodeError>>) {
    let (tx, rx) = mpsc::channel(64);
    let span = info_span!("node", party = %config.party);
    let task = tokio::spawn(run(config, shutdown, rx, ready).instrument(span));
    (NodeHandle { tx }, task)
}

fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[derive(Default)]
struct Counters {
    malformed: u64,
    rejected: u64,
    received: u64,
    sent: u64,
    dead_letters: u64,
    dead_letter_errors: u64,
}

/// Why the outbox is not draining (for `tisa health` and the error log).
struct SendTrouble {
    stream: String,
    reason: String,
    since: Timestamp,
    logged_at: Timestamp,
}

/// Where an inbound message came from (for log lines).
struct Probe {
    link: Party,
    subject: String,
}

struct Actor {
    core: Node,
    links: Links,
    store: Store,
    /// The audit trail (`audit.log`), and the events it has recorded that `drain` has not published yet.
    audit: AuditLog,
    audited: std::collections::VecDeque<Event>,
    /// Messages the broker has not acknowledged yet; retried until it does.
    outbox: Vec<Transmit>,
    /// Published messages whose acknowledgement is awaited (pipelined: the
    /// loop goes on meanwhile); recorded as sent only once acknowledged.
    in_flight: futures::stream::FuturesUnordered<futures::future::BoxFuture<'static, Acked>>,
    started_at: Timestamp,
    counters: Counters,
    /// Set while sends fail; cleared once the outbox is empty again.
    send_trouble: Option<SendTrouble>,
    /// The audit log's fsync in progress, on a blocking thread.
    audit_flush: Option<tokio::task::JoinHandle<crate::audit::PendingFlush>>,
}

/// Waits for the audit fsync in progress; never, if there is none.
async fn audit_flushed(
    h: &mut Option<tokio::task::JoinHandle<crate::audit::PendingFlush>>,
) -> Result<crate::audit::PendingFlush, tokio::task::JoinError> {
    match h {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

/// A published message and whether its receiver's stream acknowledged it.
type Acked = (Vec<Transmit>, Result<(), TransportError>);

/// At most this many published messages awaiting their acknowledgement; beyond, the loop waits.
const MAX_IN_FLIGHT: usize = 4096;

/// Applies one state-changing input to the core. Used live (after the
/// input is logged) and on replay. Commands return their result.
fn apply(core: &mut Node, l: LoggedInput) -> Option<Result<ControlReply, CommandError>> {
    let now = l.at;
    match l.input {
        Input::Inbound { link, envelope } => {
            core.handle_message(now, link, envelope);
            None
        }
        Input::Timeout => {
            core.handle_timeout(now);
            None
        }
        Input::LinkUp { link } => {
            core.handle_link_up(now, link);
            None
        }
        Input::Command { request, report_id } => Some(match request {
            ControlRequest::Submit(draft) => match report_id {
                Some(id) => core.submit(now, id, draft).map(ControlReply::Submitted),
                None => Err(CommandError::MissingReportId),
            },
            ControlRequest::Decide(signed) => core
                .decide(now, signed)
                .map(|d| ControlReply::Decided { request_id: d.request_id, decision: d.decision }),
            ControlRequest::Grant(signed) => core.grant(now, signed).map(|doc| {
                ControlReply::Grants(
                    core.grants().into_iter().filter(|g| g.grant.doc.grant_id == doc.grant_id).collect(),
                )
            }),
            ControlRequest::Revoke(signed) => core.revoke(now, signed).map(|doc| {
                ControlReply::Grants(
                    core.grants().into_iter().filter(|g| g.grant.doc.grant_id == doc.grant_id).collect(),
                )
            }),
            ControlRequest::Track(draft) => core.track(now, draft).map(ControlReply::Track),
            ControlRequest::Retract { report_id, reason, operator } => core
                .retract(now, &report_id, &reason, &operator)
                .and_then(|_| core.report_status(&report_id))
                .map(|items| ControlReply::Status(Page { items, next_after: None })),
            // Queries are never logged.
            query => Err(CommandError::NotACommand(query.verb())),
        }),
    }
}

/// Whether a control request changes state (and so is logged).
fn changes_state(req: &ControlRequest) -> bool {
    matches!(
        req,
        ControlRequest::Submit(_)
            | ControlRequest::Decide(_)
            | ControlRequest::Grant(_)
            | ControlRequest::Revoke(_)
            | ControlRequest::Track(_)
            | ControlRequest::Retract { .. }
    )
}

async fn run(
    config: NodeConfig,
    shutdown: CancellationToken,
    mut rx: mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlReply>)>,
    ready: Option<oneshot::Sender<()>>,
) -> Result<(), NodeError> {
    let party = config.party;
    crate::failpoint::init().map_err(|e| NodeError::Config(e.to_string()))?;
    // Refuse to start on a key the agreement does not know, before touching the network.
    let mut store = Store::open(&config.data_dir)?;
    let instance = store.instance()?;
    let (mut audit, _) = AuditLog::open(&config.data_dir, party, config.identity.clone(), &mut store)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    // Report bodies live in the store, not in the core's memory.
    let mut core = Node::new(party, config.policy, instance, config.identity)
        .map_err(|e| NodeError::Config(e.to_string()))?
        .keep_bodies_outside();
    // Rebuild the state: replay every logged input into the core, a chunk
    // at a time (the log is never all in memory, nor every message it made).
    let mut replayed = 0;
    let mut resend = Vec::new();
    loop {
        let chunk = store.inputs_from(replayed as u64, REPLAY_CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        replayed += chunk.len();
        for (seq, l) in chunk {
            // The audit log writes only what it does not hold yet (crash between input and audit).
            let note = audit.note(seq, &l);
            let r = apply(&mut core, l);
            let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
            audit
                .record(&mut store, note, !matches!(r, Some(Err(_))), &events)
                .map_err(|e| NodeError::Config(e.to_string()))?;
        }
        // Bodies a crash kept from reaching the disk are written again.
        let stashes: Vec<_> = std::iter::from_fn(|| core.poll_stash()).collect();
        store.put_missing_bodies(&stashes)?;
        let out: Vec<Transmit> = std::iter::from_fn(|| core.poll_transmit()).collect();
        let sent = store.were_sent(out.iter().map(|t| t.envelope.message_id.as_str()))?;
        resend.extend(out.into_iter().zip(sent).filter(|(_, s)| !s).map(|(t, _)| t));
    }
    if replayed > 0 {
        info!(inputs = replayed, resend = resend.len(), data_dir = %config.data_dir.display(), "state restored from the input log");
    }
    info!(own = %config.urls.own.url, kr = %config.urls.kr.url, jp = %config.urls.jp.url, authenticated = config.urls.own.nkey_seed.is_some(), "starting");
    let links = tokio::select! {
        links = Links::connect(party, &config.urls) => links,
        _ = shutdown.cancelled() => {
            info!("shutdown requested before the broker answered");
            return Ok(());
        }
    };
    let (mut inbound, mut calls, mut link_ups) = tokio::select! {
        r = links.subscribe() => r?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let peers: Vec<Party> = tisa_transport::subjects::inbound(party).into_iter().map(|(p, _)| p).collect();
    let mut actor = Actor {
        core,
        links,
        store,
        audit,
        audited: Default::default(),
        outbox: Vec::new(),
        in_flight: Default::default(),
        started_at: now(),
        counters: Counters::default(),
        send_trouble: None,
        audit_flush: None,
    };
    actor.send_all(resend).await;
    // Coming up is a link coming back: reconcile with every peer, end to end
    // (the broker may have lost what it acknowledged while this node was down).
    for p in &peers {
        actor.link_up(*p);
    }
    actor.drain().await;
    info!(instance = format!("{instance:016x}"), "node ready");
    if let Some(r) = ready {
        let _ = r.send(());
    }
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconcile = tokio::time::interval_at(
        tokio::time::Instant::now() + config.reconcile_every,
        config.reconcile_every.max(Duration::from_secs(1)),
    );
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let sleep = match actor.core.poll_timeout() {
            Some(at) => Duration::from_millis(at.as_millis().saturating_sub(now().as_millis())),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(msg) = inbound.next() => {
                let batch = ready_batch(msg, &mut inbound);
                actor.on_inbound_batch(batch).await
            }
            Some(call) = calls.next() => {
                let batch = ready_batch(call, &mut calls);
                actor.on_calls(batch).await
            }
            done = audit_flushed(&mut actor.audit_flush) => actor.on_audit_flushed(done),
            Some(acked) = actor.in_flight.next(), if !actor.in_flight.is_empty() => {
                let batch = ready_batch(acked, &mut actor.in_flight);
                actor.on_acked(batch);
            }
            Some(peer) = link_ups.next() => {
                info!(link = %peer, "link back: reconciling with the peer");
                actor.link_up(peer);
            }
            _ = reconcile.tick() => {
                for p in &peers {
                    actor.link_up(*p);
                }
            }
            Some((req, reply)) = rx.recv() => {
                let r = actor.on_request(req);
                let _ = reply.send(r);
            }
                        _ = retry.tick(), if !actor.outbox.is_empty() => {
                let again = std::mem::take(&mut actor.outbox);
                info!(messages = again.len(), "retrying unacknowledged messages");
                actor.send_all_as(again, false).await;
            }
            _ = tokio::time::sleep(sleep) => actor.log_and_apply(Input::Timeout, now()).map(|_| ()).unwrap_or_else(|e| error!(error = %e, "cannot persist a timer input")),
        }
        actor.drain().await;
    }
    actor.links.flush().await;
    // Record what the streams acknowledge in the next moments (the rest is re-sent after a restart).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(acked)) = tokio::time::timeout_at(deadline, actor.in_flight.next()).await {
        actor.on_acked(vec![acked]);
    }
    if let Err(e) = actor.store.sync() {
        warn!(error = %e, "cannot make the sent records durable; those messages will be re-sent after the restart");
    }
    // The audit fsync in progress, and its successor if entries came meanwhile.
    while let Some(h) = actor.audit_flush.take() {
        let done = h.await;
        actor.on_audit_flushed(done);
    }
    if let Err(e) = actor.audit.flush(&mut actor.store) {
        error!(error = %e, "cannot write the audit log");
    }
    if let Err(e) = actor.audit.close(&mut actor.store) {
        error!(error = %e, "cannot sign the audit log's head");
    }
    info!("node stopped");
    Ok(())
}

/// Replay reads the input log this many records at a time.
const REPLAY_CHUNK: usize = 4096;

/// Group commit: at most this many inputs in one store transaction.
const BATCH_MAX: usize = 256;

/// `first` plus every item `stream` has ready now (none is waited for), up to [`BATCH_MAX`].
fn ready_batch<T>(first: T, stream: &mut (impl futures::Stream<Item = T> + Unpin)) -> Vec<T> {
    use futures::FutureExt;
    let mut batch = vec![first];
    while batch.len() < BATCH_MAX {
        match stream.next().now_or_never() {
            Some(Some(item)) => batch.push(item),
            _ => break,
        }
    }
    batch
}

impl Actor {
    /// Logs and applies a link-up input: the core re-sends what `peer` may not hold.
    fn link_up(&mut self, peer: Party) {
        if let Err(e) = self.log_and_apply(Input::LinkUp { link: peer }, now()) {
            error!(link = %peer, error = %e, "cannot persist a link-up input; reconciliation skipped");
        }
    }

    /// Publishes transmits without waiting for their acknowledgements (the
    /// loop records each as sent once its receiver's stream acknowledged it,
    /// so a restart does not send it again; anything not recorded is
    /// re-sent, anything refused or timed out goes to the outbox).
    async fn send_all(&mut self, out: Vec<Transmit>) {
        self.send_all_as(out, true).await
    }

    /// [`Actor::send_all`]; with `batch` false, one broker message per
    /// transmit (outbox retries: what a receiver refused as a batch, e.g.
    /// for want of space, may go through one by one).
    async fn send_all_as(&mut self, mut out: Vec<Transmit>, batch: bool) {
        if out.is_empty() {
            return;
        }
        self.fill_bodies(&mut out);
        if out.is_empty() {
            return;
        }
        for t in &mut out {
            // This node's own receipts carry its audit chain head, signed:
            // the originator keeps it as evidence of how far this log reached.
            if let tisa_core::Payload::Receipt(r) = &mut t.envelope.payload {
                if r.doc.recipient == self.core.party() && r.audit_head.is_none() {
                    r.audit_head = Some(self.audit.signed_head());
                }
            }
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
            match self.body(&key).and_then(|body| Ok(t.fill(&body)?)) {
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
    fn on_acked(&mut self, batch: Vec<Acked>) {
        let mut sent = Vec::new();
        for (ts, r) in batch {
            match r {
                Ok(()) => {
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
                    self.outbox.extend(ts);
                }
            }
        }
        self.note_outbox();
        if let Err(e) = self.store.mark_sent(&sent) {
            warn!(error = %e, "cannot record sent messages; they will be re-sent after a restart");
        }
    }

    /// Every inbound message that was ready, as one group commit: the
    /// decoded ones are logged in one store transaction, applied in order,
    /// their audit entries fsync'd once, and only then acknowledged (an
    /// unacknowledged message is redelivered; inputs are idempotent).
    async fn on_inbound_batch(&mut self, batch: Vec<Inbound>) {
        let at = now();
        let mut inputs = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        for msg in batch {
            match msg.result {
                Ok(envs) => {
                    self.counters.received += 1;
                    let ids: Vec<tisa_core::MessageId> = envs.iter().map(|e| e.message_id.clone()).collect();
                    for env in envs {
                        debug!(subject = %msg.subject, link = %msg.link, message_id = %env.message_id, kind = env.payload.kind(), "received");
                        inputs.push(LoggedInput { at, input: Input::Inbound { link: msg.link, envelope: env } });
                    }
                    let probe = Probe { link: msg.link, subject: msg.subject };
                    acks.push((msg.ack, ids, probe, msg.meta));
                }
                Err(e) => {
                    let probe = Probe { link: msg.link, subject: msg.subject };
                    self.on_malformed(probe, msg.meta, msg.ack, e).await
                }
            }
        }
        if inputs.is_empty() {
            return;
        }
        let n = inputs.len();
        let seen = self.audited.len();
        match self.log_and_apply_all(inputs) {
            // Committed: the broker may forget them.
            Ok(_) => {
                'messages: for (ack, message_ids, probe, meta) in acks {
                    // Decoded, but its signature, sender or key did not
                    // verify: refused (the core sent the notice) and
                    // dead-lettered (each such envelope of a batch). If a
                    // dead letter cannot be written, the message stays
                    // unacknowledged and is redelivered (re-applying it
                    // changes no state).
                    for message_id in message_ids {
                        let unverifiable = self.audited.iter().skip(seen).find_map(|ev| match ev {
                            Event::Rejected { message_id: id, reason, .. } if *id == message_id => unverifiable(reason),
                            _ => None,
                        });
                        if let Some((code, detail)) = unverifiable {
                            let d =
                                dead_letter(&probe, &meta, "UNVERIFIABLE", code, detail, Some(message_id.to_string()));
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
            // Not committed: leave them unacknowledged, the broker redelivers them.
            Err(e) => error!(messages = n, error = %e, "cannot persist inbound messages; they will be redelivered"),
        }
    }

    /// A message that could not be decoded (decoded ones go through
    /// [`Actor::on_inbound_batch`]): dead-lettered first (reason and ids,
    /// never the payload); only then is the original given up, so it is
    /// never lost silently: if the dead letter cannot be written, it stays
    /// unacknowledged and the broker redelivers it.
    async fn on_malformed(
        &mut self,
        msg: Probe,
        meta: InboundMeta,
        ack: tisa_transport::conn::Ack,
        e: tisa_transport::DecodeError,
    ) {
        self.counters.received += 1;
        let d = dead_letter(&msg, &meta, "MALFORMED", e.code(), e.redacted(), meta.message_id.clone());
        if !self.dead_letter(d).await {
            return;
        }
        self.counters.malformed += 1;
        let w = tisa_transport::WatchEvent {
            kind: "MALFORMED".into(),
            at: now(),
            report_id: None,
            revision: 0,
            request_id: None,
            originator: None,
            recipient: None,
            category: None,
            classification: None,
            detail: format!("{} from {}: {} {}", msg.subject, msg.link, e.code(), e.redacted()),
            title: None,
            tearline_only: false,
        };
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
        match self.links.dead_letters().put(&d).await {
            Ok(seq) => {
                d.seq = seq;
                self.counters.dead_letters += 1;
                self.audit.record_dead_letter(&mut self.store, &d);
                // Subject, link, ids and reason: never the payload.
                warn!(
                    subject = %d.subject,
                    link = %msg_link(&d),
                    class = %d.class,
                    reason = %d.reason,
                    detail = %d.detail,
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
                    subject = %d.subject,
                    link = %msg_link(&d),
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

    /// `tisa deadletter list`: read back from the dead-letter stream.
    async fn list_dead_letters(&mut self, limit: usize) -> ControlReply {
        let limit = if limit == 0 { DEFAULT_LIMIT } else { limit.min(tisa_core::node::limits::PAGE) };
        match self.links.dead_letters().list(limit).await {
            Ok((items, total)) => ControlReply::DeadLetters(items, total),
            Err(e) => {
                error!(error = %e, "cannot read the dead-letter stream");
                ControlReply::Error { code: "UNAVAILABLE".into(), message: e.to_string() }
            }
        }
    }

    /// Remembers why a send failed; an `error!` on the first failure of an
    /// episode (and once a minute while it lasts) names the stream, the
    /// broker's reason and what to do.
    fn note_send_failure(&mut self, to: tisa_core::Party, e: &TransportError) {
        let now = now();
        let stream = tisa_transport::conn::receiving_stream(self.core.party(), to).unwrap_or_default();
        let (since, logged_at) = match &self.send_trouble {
            Some(t) => (t.since, t.logged_at),
            None => (now, Timestamp(0)),
        };
        let log = self.send_trouble.as_ref().is_none_or(|t| t.stream != stream)
            || now.as_millis().saturating_sub(logged_at.as_millis()) >= 60_000;
        if log {
            error!(stream = %stream, to = %to, outbox = self.outbox.len() + 1, since_ms = since.as_millis(), error = %e, "messages are not getting through; they are kept in the outbox and retried (nothing is dropped)");
        }
        self.send_trouble =
            Some(SendTrouble { stream, reason: e.to_string(), since, logged_at: if log { now } else { logged_at } });
    }

    /// Clears the send trouble once nothing waits any more.
    fn note_outbox(&mut self) {
        if self.outbox.is_empty() {
            if let Some(t) = self.send_trouble.take() {
                info!(stream = %t.stream, since_ms = t.since.as_millis(), "messages are getting through again; the outbox is empty");
            }
        }
    }

    /// Every control call that was ready, as one group commit: the
    /// state-changing requests are logged in one store transaction and
    /// applied in order, then the queries answered, the effects sent, and
    /// only then every reply (so a caller that sees its reply can rely on
    /// the messages being on their way).
    async fn on_calls(&mut self, calls: Vec<ControlCall>) {
        let at = now();
        let mut replies = Vec::new();
        let mut inputs = Vec::new();
        let mut queries = Vec::new();
        for ControlCall { subject, reply_to, request } in calls {
            let slot = replies.len();
            let reply = match request {
                Ok(req) if changes_state(&req) => match self.prepare(req) {
                    Ok(input) => {
                        inputs.push((slot, LoggedInput { at, input }));
                        None
                    }
                    Err(reply) => Some(*reply),
                },
                Ok(req) => {
                    queries.push((slot, req));
                    None
                }
                Err(e) => {
                    warn!(subject = %subject, error = %e, "bad control request");
                    Some(ControlReply::Error { code: "BAD_REQUEST".into(), message: e.to_string() })
                }
            };
            replies.push((reply_to, subject, reply));
        }
        if !inputs.is_empty() {
            let (slots, logged): (Vec<usize>, Vec<LoggedInput>) = inputs.into_iter().unzip();
            match self.log_and_apply_all(logged) {
                Ok(results) => {
                    for (slot, r) in slots.into_iter().zip(results) {
                        replies[slot].2 = Some(command_reply(r));
                    }
                }
                Err(e) => {
                    error!(commands = slots.len(), error = %e, "cannot persist commands; refused");
                    for slot in slots {
                        replies[slot].2 = Some(ControlReply::Error { code: "STORAGE".into(), message: e.to_string() });
                    }
                }
            }
        }
        for (slot, req) in queries {
            let reply = match req {
                ControlRequest::DeadLetters(q) => self.list_dead_letters(q.limit).await,
                req => self.on_request(req),
            };
            replies[slot].2 = Some(reply);
        }
        self.drain().await;
        for (to, subject, reply) in replies {
            let reply =
                reply.unwrap_or_else(|| ControlReply::Error { code: "INTERNAL".into(), message: "no result".into() });
            match to {
                Some(to) => {
                    if let Err(e) = self.links.reply(to, &reply).await {
                        error!(error = %e, "cannot answer control request");
                    }
                }
                None => debug!(subject = %subject, "control request without reply subject"),
            }
        }
    }

    /// Logs an input durably, then applies it.
    fn log_and_apply(
        &mut self,
        input: Input,
        at: Timestamp,
    ) -> Result<Option<Result<ControlReply, CommandError>>, StoreError> {
        let mut r = self.log_and_apply_all(vec![LoggedInput { at, input }])?;
        Ok(r.pop().flatten())
    }

    /// Logs inputs durably in one store transaction (one fsync), then
    /// applies them in order, writing their audit entries (fsync'd once for
    /// all of them by the next [`Actor::drain`], after the effects are
    /// published: see there). Returns each input's result, in order.
    fn log_and_apply_all(
        &mut self,
        inputs: Vec<LoggedInput>,
    ) -> Result<Vec<Option<Result<ControlReply, CommandError>>>, StoreError> {
        for l in &inputs {
            crate::failpoint::before_commit(&l.input);
        }
        let first = self.store.append(&inputs)?;
        for l in &inputs {
            crate::failpoint::after_commit(&l.input);
        }
        debug!(inputs = inputs.len(), first, "group commit");
        self.audit.defer();
        let mut out = Vec::with_capacity(inputs.len());
        for (i, l) in inputs.into_iter().enumerate() {
            let note = self.audit.note(first + i as u64, &l);
            let r = apply(&mut self.core, l);
            self.audit_input(note, &r);
            out.push(r);
        }
        let stashes: Vec<_> = std::iter::from_fn(|| self.core.poll_stash()).collect();
        if let Err(e) = self.store.stage_bodies(stashes) {
            error!(error = %e, "cannot write report bodies (their inputs are logged: a restart writes them again)");
        }
        Ok(out)
    }

    /// Records the events of the input just applied in the audit log, and
    /// keeps them for `drain` to publish.
    fn audit_input(&mut self, note: InputNote, r: &Option<Result<ControlReply, CommandError>>) {
        let events: Vec<Event> = std::iter::from_fn(|| self.core.poll_event()).collect();
        if let Err(e) = self.audit.record(&mut self.store, note, !matches!(r, Some(Err(_))), &events) {
            error!(error = %e, "cannot write the audit log");
        }
        self.audited.extend(events);
    }

    /// The input a state-changing request becomes (a submit gets its report id), or why it is refused.
    fn prepare(&mut self, req: ControlRequest) -> Result<Input, Box<ControlReply>> {
        let report_id = match &req {
            ControlRequest::Submit(_) => {
                match ReportId::new(format!("{}-{}", self.core.party().code(), uuid::Uuid::now_v7().simple())) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        return Err(Box::new(ControlReply::Error { code: "INTERNAL".into(), message: e.to_string() }))
                    }
                }
            }
            ControlRequest::Decide(signed) => {
                if let Err(e) = tisa_transport::convert::decision_from_signed(signed.clone()) {
                    return Err(Box::new(ControlReply::Error { code: "BAD_REQUEST".into(), message: e.to_string() }));
                }
                None
            }
            _ => None,
        };
        Ok(Input::Command { request: req, report_id })
    }

    fn on_request(&mut self, req: ControlRequest) -> ControlReply {
        let now = now();
        if changes_state(&req) {
            return match self.prepare(req) {
                Err(reply) => *reply,
                Ok(input) => match self.log_and_apply(input, now) {
                    Err(e) => {
                        error!(error = %e, "cannot persist a command; refused");
                        ControlReply::Error { code: "STORAGE".into(), message: e.to_string() }
                    }
                    Ok(r) => command_reply(r),
                },
            };
        }
        let limit = |l: usize| if l == 0 { DEFAULT_LIMIT } else { l };
        let result = match req {
            ControlRequest::Pending(q) => match self.core.pending(now, q.after.as_deref(), limit(q.limit)) {
                Ok(mut p) => match self.fill_items(&mut p.items, |v| v.body.as_ref(), PendingView::fill) {
                    Ok(()) => Ok(ControlReply::Pending(p)),
                    Err(e) => return e.reply(),
                },
                Err(e) => Err(e),
            },
            ControlRequest::Grants(_) => Ok(ControlReply::Grants(self.core.grants())),
            ControlRequest::Submit(_)
            | ControlRequest::Decide(_)
            | ControlRequest::Grant(_)
            | ControlRequest::Revoke(_)
            | ControlRequest::Track(_)
            | ControlRequest::Retract { .. } => {
                // Handled above (logged, then applied).
                return ControlReply::Error { code: "INTERNAL".into(), message: "unreachable".into() };
            }
            ControlRequest::Draft { request_id, decision, operator } => {
                let (verdict, reason) = match &decision {
                    tisa_core::Decision::ApproveFull => (tisa_core::sign::Verdict::ApproveFull, ""),
                    tisa_core::Decision::ApproveTearline => (tisa_core::sign::Verdict::ApproveTearline, ""),
                    tisa_core::Decision::Deny { reason } => (tisa_core::sign::Verdict::Deny, reason.as_str()),
                };
                self.core
                    .decision_doc(now, &request_id, verdict, reason, &operator)
                    .map(|doc| ControlReply::Draft(doc.to_bytes()))
            }
            ControlRequest::Tracks(q) => self.core.tracks(q.after.as_deref(), limit(q.limit)).map(ControlReply::Tracks),
            ControlRequest::DeadLetters(_) => {
                // Read from the broker: served in `on_calls` (control subjects).
                return ControlReply::Error {
                    code: "UNSUPPORTED".into(),
                    message: "dead letters are listed over the control subjects".into(),
                };
            }
            ControlRequest::Inbox(q) => match self.core.inbox(q.after.as_deref(), limit(q.limit)) {
                Ok(mut p) => match self.fill_items(&mut p.items, |e| e.body.as_ref(), InboxEntry::fill) {
                    Ok(()) => Ok(ControlReply::Inbox(p)),
                    Err(e) => return e.reply(),
                },
                Err(e) => Err(e),
            },
            ControlRequest::Status(q) => match &q.report_id {
                Some(id) => {
                    self.core.report_status(id).map(|items| ControlReply::Status(Page { items, next_after: None }))
                }
                None => self.core.status(q.after.as_deref(), limit(q.limit)).map(ControlReply::Status),
            },
            ControlRequest::Health => Ok(ControlReply::Health(Health {
                party: self.core.party(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_at: self.started_at,
                now,
                malformed: self.counters.malformed,
                rejected: self.counters.rejected,
                received: self.counters.received,
                sent: self.counters.sent,
                connected: self.links.connected(),
                agreement_version: self.core.policy().version,
                dead_letters: self.counters.dead_letters,
                dead_letter_errors: self.counters.dead_letter_errors,
                outbox: self.outbox.len() as u64,
                send_error: self.send_trouble.as_ref().filter(|_| !self.outbox.is_empty()).map(|t| {
                    tisa_transport::SendError { stream: t.stream.clone(), reason: t.reason.clone(), since: t.since }
                }),
            })),
        };
        result.unwrap_or_else(|e| {
            info!(code = command_code(&e), error = %e, "command refused");
            ControlReply::Error { code: command_code(&e).into(), message: e.to_string() }
        })
    }

    /// A report body from the store, or why it cannot be had.
    fn body(&self, key: &tisa_core::BodyKey) -> Result<tisa_core::Report, BodyError> {
        self.store.body(key)?.ok_or_else(|| tisa_core::FillError::Missing(key.clone()).into())
    }

    /// Fills a query's items (inbox entries, pending requests) from the body store.
    fn fill_items<T>(
        &self,
        items: &mut [T],
        key: impl Fn(&T) -> Option<&tisa_core::BodyKey>,
        fill: impl Fn(&mut T, &tisa_core::Report) -> Result<(), tisa_core::FillError>,
    ) -> Result<(), BodyError> {
        for item in items {
            if let Some(k) = key(item) {
                fill(item, &self.body(k)?)?;
            }
        }
        Ok(())
    }

    /// Drains the core's outputs: transmits first, then events.
    async fn drain(&mut self) {
        let mut out = Vec::new();
        while let Some(t) = self.core.poll_transmit() {
            out.push(t);
        }
        self.send_all(out).await;
        while let Some(ev) = self.audited.pop_front().or_else(|| self.core.poll_event()) {
            if matches!(ev, Event::Rejected { .. }) {
                self.counters.rejected += 1;
            }
            let w = watch_event(&ev, now());
            // Ids and enum names only; the title stays out of logs.
            let report = w.report_id.as_deref().unwrap_or("-");
            let request = w.request_id.as_deref().unwrap_or("-");
            match &ev {
                Event::Rejected { .. } | Event::RejectionReceived { .. } => {
                    warn!(event = %w.kind, report, revision = w.revision, request, detail = %w.detail, "event")
                }
                _ => info!(event = %w.kind, report, revision = w.revision, request, detail = %w.detail, "event"),
            }
            if let Err(e) = self.links.publish_event(&w).await {
                warn!(error = %e, "cannot publish event");
            }
        }
        // The audit entries of the inputs just applied were written (not
        // fsync'd) before their effects were published; their fsync runs on
        // another thread while the node goes on. The inputs themselves were
        // fsync'd before they were applied, and the audit log is
        // replay-idempotent: entries a power loss cuts off are written again
        // from the input log on start. (A process crash loses nothing: the
        // entries are in the page cache.) Keeping the fsync off the path from
        // input to publish cuts the latency per hop.
        self.start_audit_flush();
    }

    /// Starts the fsync of the audit entries written so far on a blocking
    /// thread, unless one is running (its successor starts when it ends).
    fn start_audit_flush(&mut self) {
        if self.audit_flush.is_some() {
            return;
        }
        match self.audit.begin_flush() {
            Ok(Some(p)) => self.audit_flush = Some(tokio::task::spawn_blocking(move || p.run())),
            Ok(None) => {}
            Err(e) => error!(error = %e, "cannot write the audit log"),
        }
    }

    /// An audit fsync ended: records the head it covers, then starts the
    /// next one if entries were written meanwhile.
    fn on_audit_flushed(&mut self, done: Result<crate::audit::PendingFlush, tokio::task::JoinError>) {
        self.audit_flush = None;
        match done {
            Ok(done) => {
                if let Err(e) = self.audit.finish_flush(&mut self.store, done) {
                    error!(error = %e, "cannot write the audit log");
                }
            }
            Err(e) => error!(error = %e, "the audit log's fsync did not run"),
        }
        self.start_audit_flush();
    }
}

fn msg_link(d: &DeadLetter) -> String {
    d.link.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

/// A dead letter for a message that arrived on `msg` (ids and reason only).
fn dead_letter(
    msg: &Probe,
    meta: &InboundMeta,
    class: &str,
    reason: &str,
    detail: String,
    message_id: Option<String>,
) -> DeadLetter {
    DeadLetter {
        seq: 0,
        at: now(),
        subject: msg.subject.clone(),
        link: Some(msg.link),
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
fn unverifiable(reason: &tisa_core::RejectReason) -> Option<(&'static str, String)> {
    use tisa_core::sign::SigError;
    use tisa_core::RejectReason as R;
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

/// The reply to a logged and applied command.
fn command_reply(r: Option<Result<ControlReply, CommandError>>) -> ControlReply {
    match r {
        Some(Ok(reply)) => reply,
        Some(Err(e)) => {
            info!(code = command_code(&e), error = %e, "command refused");
            ControlReply::Error { code: command_code(&e).into(), message: e.to_string() }
        }
        None => ControlReply::Error { code: "INTERNAL".into(), message: "no result".into() },
    }
}

fn command_code(e: &CommandError) -> &'static str {
    match e {
        CommandError::UnknownReport(_) => "UNKNOWN_REPORT",
        CommandError::UnknownRequest(_) => "UNKNOWN_REQUEST",
        CommandError::AlreadyDecided { .. } => "ALREADY_DECIDED",
        CommandError::Expired(_) => "EXPIRED",
        CommandError::NoTearline(_) => "NO_TEARLINE",
        CommandError::AboveCeiling { .. } => "ABOVE_CEILING",
        CommandError::HubCannotDecide => "NOT_ORIGINATOR",
        CommandError::UnknownCursor(_) => "UNKNOWN_CURSOR",
        CommandError::StaleTrack { .. } => "STALE_TRACK",
        _ => "INVALID",
    }
}
