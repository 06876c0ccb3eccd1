//! What arrives on a link: the receiver's stream and durable pull consumer
//! (in the receiver's own account), and the pump task that feeds their
//! messages to the node, setting them up again after a reconnection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, Stream, StreamExt};
use tisa_core::{Envelope, Party};
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use super::order::Reorder;
use crate::convert::decode_inbound_shared;
use crate::error::{DecodeError, TransportError};
use crate::subjects;

/// A message that arrived on a link, decoded or not.
#[derive(Debug)]
pub struct Inbound {
    /// The peer at the other end of the link.
    pub link: Party,
    /// The subject it came on.
    pub subject: String,
    /// The decoded envelope (or, from a batch, envelopes, in order), or why
    /// the message could not be decoded.
    pub result: Result<Vec<Envelope>, DecodeError>,
    /// Each decoded envelope's bytes as they came, in order (shared with
    /// the broker message, not copied): what the node logs. Empty for an
    /// early track copy (never logged) and for what did not decode.
    pub raw: Vec<bytes::Bytes>,
    /// Where it sat in the broker, for a dead letter (never its bytes).
    pub meta: InboundMeta,
    /// Acknowledges it to the broker: call only once the node has durably
    /// committed its effect (an unacknowledged message is redelivered).
    pub ack: Ack,
}

/// Where an inbound message sat in the broker: what a dead letter records
/// about it besides the reason. Ids are kept only if they are valid ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboundMeta {
    /// The inbound stream that holds it.
    pub stream: String,
    /// Its sequence in that stream.
    pub stream_seq: Option<u64>,
    /// How many times the broker has delivered it.
    pub delivered: u64,
    /// The `Nats-Msg-Id` header, if a valid id.
    pub broker_message_id: Option<String>,
    /// For a message that did not decode: the envelope's message id, if its
    /// leading fields could be read and it is a valid id.
    pub message_id: Option<String>,
    /// Payload size in bytes.
    pub size: usize,
    /// An early copy of a live track update, read off its subject as the
    /// sender published it (the real-time lane), not from the stream: it is
    /// not acknowledged, and never dead-lettered (the stream's own copy
    /// follows and is, if need be). See [`early_tracks`].
    pub early: bool,
}

impl InboundMeta {
    fn of(m: &async_nats::jetstream::Message, stream: &str, decoded: bool) -> InboundMeta {
        let info = m.info().ok();
        let valid = |s: &str| tisa_core::MessageId::new(s).ok().map(|id| id.to_string());
        InboundMeta {
            stream: stream.to_owned(),
            stream_seq: info.as_ref().map(|i| i.stream_sequence),
            delivered: info.as_ref().map_or(0, |i| u64::try_from(i.delivered).unwrap_or(0)),
            broker_message_id: m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .and_then(|v| valid(v.as_str())),
            message_id: if decoded {
                None
            } else {
                crate::convert::peek_message_id(&m.payload).map(|id| id.to_string())
            },
            size: m.payload.len(),
            early: false,
        }
    }
}

/// The real-time lane for live missile tracks: `peer`'s track updates to
/// this node, read off `subject` (the link's inbound track subjects)
/// by a plain subscription on the link's own connection, as the sender
/// publishes them, without waiting for the stream to store them and the
/// consumer to pull them (the stream's fsync, the pull). The same message
/// also reaches the stream and is taken from there as usual (committed,
/// acknowledged, dead-lettered if bad): the early copy only comes first.
/// Tracks are latest-wins, so the copy the node takes second changes
/// nothing. The subscription needs no permission the link user lacks: it
/// reads exactly what its stream reads.
///
/// The subscription itself is the stream the lane reads (decoded as the
/// lane takes each message): no task of its own between the connection
/// and the lane, one hand-off less per hop (#18: a task's wake-up on two
/// shared cores costs tens of microseconds, more at the tail).
///
/// Each copy nudges `nudge` (the link's paced track pump, if any:
/// [`super::track_pump`]).
pub(crate) async fn early_tracks(
    client: &async_nats::Client,
    peer: Party,
    subject: String,
    nudge: Option<Arc<Notify>>,
) -> Result<impl futures::Stream<Item = Inbound> + Unpin + Send + use<>, TransportError> {
    use futures::StreamExt as _;
    let sub = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| TransportError::Subscribe { subject: subject.clone(), reason: e.to_string() })?;
    Ok(sub.map(move |m| {
        if let Some(n) = &nudge {
            n.notify_one();
        }
        let meta = InboundMeta { size: m.payload.len(), early: true, ..InboundMeta::default() };
        let result = crate::convert::decode_inbound(&m.subject, &m.payload);
        Inbound { link: peer, subject: m.subject.to_string(), result, raw: Vec::new(), meta, ack: Ack(None) }
    }))
}

/// The broker's handle on one delivered message.
pub struct Ack(pub(crate) Option<async_nats::jetstream::Message>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

impl Ack {
    /// A handle with nothing to acknowledge (an early copy's; tests).
    pub fn none() -> Ack {
        Ack(None)
    }

    /// Acknowledges: the broker will not deliver it again.
    pub async fn ack(self) -> Result<(), TransportError> {
        match self.0 {
            Some(m) => {
                m.ack().await.map_err(|e| TransportError::Publish { subject: "ack".into(), reason: e.to_string() })
            }
            None => Ok(()),
        }
    }

    /// Hands it back untaken: the broker delivers it again at once (to the
    /// node's next instance), not after [`ACK_WAIT`].
    pub async fn nak(self) -> Result<(), TransportError> {
        match self.0 {
            Some(m) => m
                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                .await
                .map_err(|e| TransportError::Publish { subject: "nak".into(), reason: e.to_string() }),
            None => Ok(()),
        }
    }

    /// Gives up on it for good (malformed input, already dead-lettered).
    pub async fn term(self) -> Result<(), TransportError> {
        match self.0 {
            Some(m) => m
                .ack_with(async_nats::jetstream::AckKind::Term)
                .await
                .map_err(|e| TransportError::Publish { subject: "term".into(), reason: e.to_string() }),
            None => Ok(()),
        }
    }
}

/// How long the broker waits for an acknowledgement before redelivering.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// The stream holding what `receiver` receives on the link with `nation`:
/// `TISA_KR_DOWN` (KR's), `TISA_KR_UP` (the hub's, from KR), …
pub fn stream_name(nation: Party, dir: subjects::Direction) -> String {
    format!(
        "TISA_{}_{}",
        nation.code(),
        match dir {
            subjects::Direction::Up => "UP",
            subjects::Direction::Down => "DOWN",
        }
    )
}

/// The stream holding the live track updates `receiver` receives on the
/// link with `nation`: `TISA_KR_DOWN_TRACK`, `TISA_KR_UP_TRACK`, …
pub fn track_stream_name(nation: Party, dir: subjects::Direction) -> String {
    format!("{}_TRACK", stream_name(nation, dir))
}

/// How many updates of each track a track stream keeps (the latest ones;
/// an older one goes when a newer one comes): the backstop for a receiver
/// that was away is each track's latest, never the whole history, so a
/// dense track cannot fill the receiver's storage. Twice the most a node
/// holds unacknowledged in its track windows (`tisa_node::windows`), so a
/// node killed with windows open still finds every update they held.
pub const TRACK_KEEP: i64 = 2048;

/// The stream in which `to` keeps what `from` sends it (`None`: no such link).
pub fn receiving_stream(from: Party, to: Party) -> Option<String> {
    match (from.is_hub(), to.is_hub()) {
        (false, true) => Some(stream_name(from, subjects::Direction::Up)),
        (true, false) => Some(stream_name(to, subjects::Direction::Down)),
        _ => None,
    }
}

/// Warns when an existing stream has another replica count than the
/// deployment asks for (nodes may not update streams: an operator does).
pub(crate) fn warn_replicas(stream: &str, has: usize, wanted: usize) {
    if has.max(1) != wanted.max(1) {
        warn!(stream, replicas = has.max(1), configured = wanted.max(1), "the stream exists with another replica count than configured; change it with the nats CLI (`nats stream edit --replicas`) as an operator of the account");
    }
}

/// How long the inbound pump of a link waits before it tries again to set
/// up its stream and consumer after a failure (doubling up to 5 s).
pub(crate) const PUMP_RETRY: Duration = Duration::from_millis(200);

/// A stream over a bounded channel's receiver.
pub(crate) fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Unpin + Send + use<T> {
    Box::pin(stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

type Messages = async_nats::jetstream::consumer::pull::Stream;
pub(crate) type PullConsumer = async_nats::jetstream::consumer::PullConsumer;

/// The inbound side of one link: the receiver's stream and durable pull
/// consumer, and the task that feeds their messages to the node.
pub(crate) struct Pump {
    pub(crate) js: async_nats::jetstream::Context,
    pub(crate) stream: String,
    pub(crate) durable: String,
    pub(crate) subject: String,
    pub(crate) peer: Party,
    /// How many servers of the cluster keep the stream and the consumer.
    pub(crate) replicas: usize,
    /// The link's track stream ([`TRACK_KEEP`] updates per track, a
    /// subject each), not its link stream (everything else, in order).
    pub(crate) track: bool,
    /// What the node's pumps did (shared by all of them).
    pub(crate) counts: Arc<super::track_pump::PumpCounts>,
}

impl Pump {
    /// [`Pump::setup_consumer`], and the consumer's messages as the
    /// stream stores them (a pull always pending).
    pub(crate) async fn setup(&self) -> Result<(Messages, u64), TransportError> {
        let (consumer, first_seq) = self.setup_consumer().await?;
        Ok((self.messages(&consumer).await?, first_seq))
    }

    /// The consumer's messages as the stream stores them (a pull always
    /// pending, armed before this returns).
    pub(crate) async fn messages(&self, consumer: &PullConsumer) -> Result<Messages, TransportError> {
        consumer.messages().await.map_err(|e| self.setup_failed(&e))
    }

    fn setup_failed(&self, e: &dyn std::fmt::Display) -> TransportError {
        TransportError::Subscribe { subject: self.subject.clone(), reason: format!("stream {}: {e}", self.stream) }
    }

    /// Creates the stream and the consumer if missing; returns the
    /// consumer and the stream's first sequence (everything below it is
    /// gone: acknowledged or removed).
    pub(crate) async fn setup_consumer(&self) -> Result<(PullConsumer, u64), TransportError> {
        use async_nats::jetstream::{consumer, stream as js_stream};
        let fail = |e: &dyn std::fmt::Display| self.setup_failed(e);
        let (discard, per_subject) = if self.track {
            // The backstop for a receiver that was away: each track's
            // latest updates; a newer one pushes the oldest of its own
            // track out, never anything else.
            (js_stream::DiscardPolicy::Old, TRACK_KEEP)
        } else {
            // A full stream refuses new messages (the sender keeps them
            // and retries); nothing is discarded.
            (js_stream::DiscardPolicy::New, -1)
        };
        let stream = self
            .js
            .get_or_create_stream(js_stream::Config {
                name: self.stream.clone(),
                subjects: vec![self.subject.clone()],
                storage: js_stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                max_message_size: 1024 * 1024,
                // An inbox: a message leaves the stream once the node has
                // acknowledged (or terminated) it, so the stream (and the
                // account's JetStream storage) holds only what is not
                // yet taken.
                retention: js_stream::RetentionPolicy::WorkQueue,
                discard,
                max_messages_per_subject: per_subject,
                // Each of `replicas` servers stores (and fsyncs) every
                // message before the stream acknowledges it.
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| fail(&e))?;
        let first_seq = stream.cached_info().state.first_sequence;
        let config = &stream.cached_info().config;
        if config.subjects != [self.subject.clone()] {
            return Err(TransportError::StreamLayout {
                stream: self.stream.clone(),
                has: config.subjects.join(" "),
                wanted: self.subject.clone(),
            });
        }
        if self.track && config.max_messages_per_subject != TRACK_KEEP {
            warn!(stream = %self.stream, keeps = config.max_messages_per_subject, wanted = TRACK_KEEP, "the track stream keeps another number of updates per track than this version; change it with the nats CLI (`nats stream edit --max-msgs-per-subject`) as an operator of the account");
        }
        if config.retention != js_stream::RetentionPolicy::WorkQueue {
            warn!(stream = %self.stream, "stream predates work-queue retention: taken messages stay in it and count against the account's JetStream limits; recreate it when drained");
        }
        warn_replicas(&self.stream, config.num_replicas, self.replicas);
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &self.durable,
                consumer::pull::Config {
                    durable_name: Some(self.durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: 10_000,
                    // The consumer's state (what was acknowledged) is
                    // replicated like the stream's messages.
                    num_replicas: self.replicas,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(&e))?;
        Ok((consumer, first_seq))
    }

    /// The stream's first sequence now (`None`: its info could not be had in time).
    async fn first_seq(&self) -> Option<u64> {
        // One STREAM.INFO request: the stream handle comes with its info.
        let ask = self.js.get_stream(&self.stream);
        let s = tokio::time::timeout(Duration::from_secs(5), ask).await.ok()?.ok()?;
        Some(s.cached_info().state.first_sequence)
    }

    /// [`Pump::setup_consumer`], retried (doubling from [`PUMP_RETRY`] up
    /// to 2 s) until it succeeds or `patience` has passed; then its last
    /// error.
    pub(crate) async fn setup_patiently(&self, patience: Duration) -> Result<(PullConsumer, u64), TransportError> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut delay = PUMP_RETRY;
        loop {
            match self.setup_consumer().await {
                Ok(m) => return Ok(m),
                Err(e @ TransportError::StreamLayout { .. }) => return Err(e),
                Err(e) if tokio::time::Instant::now() + delay >= deadline => return Err(e),
                Err(e) => {
                    warn!(link = %self.peer, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot set up the link's stream yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Feeds messages to the node, in the order the stream stored them
    /// ([`Reorder`]), until it is gone. Sets the stream and consumer up
    /// again after a reconnection or a consumer failure, and then reports
    /// the link as up (the node reconciles with its peer).
    pub(crate) async fn run(
        self,
        (mut messages, first_seq): (Messages, u64),
        mut reconnected: tokio::sync::watch::Receiver<u64>,
        tx: tokio::sync::mpsc::Sender<Inbound>,
        up: tokio::sync::mpsc::Sender<Party>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let peer = self.peer;
        // The link stream is handed over in the order it stored its
        // messages. The track stream is not: it drops a track's older
        // updates as newer ones come (gaps that never fill), and its
        // updates are latest-wins.
        let mut order: Option<Reorder<Inbound>> = (!self.track).then(Reorder::default);
        if let Some(order) = order.as_mut() {
            order.floor(first_seq, Instant::now());
        }
        let mut check = tokio::time::interval(HOLD_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Deliver until the connection is re-established or the consumer fails.
            loop {
                tokio::select! {
                    _ = tx.closed() => return self.give_back(Some(messages), order, Vec::new()).await,
                    _ = stop.changed() => return self.give_back(Some(messages), order, Vec::new()).await,
                    r = reconnected.changed() => {
                        if r.is_err() {
                            // The links are gone: so is the node.
                            return self.give_back(Some(messages), order, Vec::new()).await;
                        }
                        info!(link = %peer, stream = %self.stream, "link reconnected: checking its stream and consumer");
                        self.counts.rechecked();
                        break;
                    }
                    _ = check.tick(), if order.as_ref().is_some_and(Reorder::holding) => {
                        let Some(order) = order.as_mut() else { continue };
                        let ready = self.check_gap(order).await;
                        if let Err(rest) = hand_over(&tx, ready).await {
                            return self.give_back(Some(messages), Some(std::mem::take(order)), rest).await;
                        }
                    }
                    m = messages.next() => match m {
                        Some(Ok(m)) => {
                            let inbound = self.inbound_of(m);
                            let seq = inbound.meta.stream_seq;
                            let ready = match order.as_mut() {
                                Some(order) => order.offer(seq, inbound, Instant::now()),
                                None => vec![inbound],
                            };
                            if self.track {
                                self.counts.took(ready.len());
                            }
                            if let Err(rest) = hand_over(&tx, ready).await {
                                return self.give_back(Some(messages), order, rest).await;
                            }
                        }
                        Some(Err(e)) => {
                            warn!(link = %peer, stream = %self.stream, error = %e, "stream consumer failed; setting it up again");
                            break;
                        }
                        None => {
                            warn!(link = %peer, stream = %self.stream, "stream consumer ended; setting it up again");
                            break;
                        }
                    }
                }
            }
            messages = match self.setup_again(&tx, &mut stop, || self.setup()).await {
                Some((m, first_seq)) => {
                    let ready = order.as_mut().map(|o| o.floor(first_seq, Instant::now())).unwrap_or_default();
                    if let Err(rest) = hand_over(&tx, ready).await {
                        return self.give_back(Some(m), order, rest).await;
                    }
                    m
                }
                None => return self.give_back(None, order, Vec::new()).await,
            };
            // The broker may have lost what it held for this link: reconcile
            // (the link stream's pump says so; tracks are latest-wins).
            if !self.track {
                let _ = up.try_send(peer);
            }
        }
    }

    /// A delivered message as the node takes it.
    pub(crate) fn inbound_of(&self, m: async_nats::jetstream::Message) -> Inbound {
        let (result, raw) = match decode_inbound_shared(&m.subject, &m.payload) {
            Ok(parts) => {
                let (envs, raw) = parts.into_iter().unzip();
                (Ok(envs), raw)
            }
            Err(e) => (Err(e), Vec::new()),
        };
        let meta = InboundMeta::of(&m, &self.stream, result.is_ok());
        Inbound { link: self.peer, subject: m.subject.to_string(), meta, result, raw, ack: Ack(Some(m)) }
    }

    /// Sets the stream and consumer up again with `setup` (after a
    /// reconnection or a failure), retrying (doubling from [`PUMP_RETRY`]
    /// up to 5 s; every 5 s if the stream's layout is wrong) until it
    /// succeeds; `None` if the node is gone or stopping meanwhile.
    pub(crate) async fn setup_again<T, F>(
        &self,
        tx: &tokio::sync::mpsc::Sender<Inbound>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        setup: impl Fn() -> F,
    ) -> Option<T>
    where
        F: std::future::Future<Output = Result<T, TransportError>>,
    {
        let mut delay = PUMP_RETRY;
        loop {
            let wait = match setup().await {
                Ok(t) => return Some(t),
                Err(e @ TransportError::StreamLayout { .. }) => {
                    error!(link = %self.peer, error = %e, "the link's stream cannot be used");
                    Duration::from_secs(5)
                }
                Err(e) => {
                    warn!(link = %self.peer, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot set up the link's stream yet");
                    let d = delay;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    d
                }
            };
            tokio::select! {
                _ = tx.closed() => return None,
                _ = stop.changed() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The node is gone (stopping): stops pulling, then hands every
    /// message it was given and did not take back to the broker (`rest`,
    /// and those `order` held), so that the node's next instance gets them
    /// at once rather than after [`ACK_WAIT`] — and the link stream's later
    /// messages are not held behind them until then. (A node that crashes
    /// hands nothing back: those wait for [`ACK_WAIT`].)
    pub(crate) async fn give_back(
        &self,
        mut messages: Option<Messages>,
        order: Option<Reorder<Inbound>>,
        rest: Vec<Inbound>,
    ) {
        use futures::FutureExt as _;
        // What the client has received and not passed on yet goes back too
        // (what is still on its way when the pull stops comes again after
        // the acknowledgement wait).
        let mut received = Vec::new();
        if let Some(m) = messages.as_mut() {
            while let Some(Some(Ok(msg))) = m.next().now_or_never() {
                received.push(Ack(Some(msg)));
            }
        }
        // No more pull requests, and the broker knows it before the first
        // message comes back (a connection's messages are taken in order).
        drop(messages);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.js.client().flush()).await;
        let held = order.map(|mut o| o.take_all()).unwrap_or_default();
        let n = nak_all(rest.into_iter().chain(held).map(|i| i.ack).chain(received)).await;
        if n > 0 {
            info!(link = %self.peer, stream = %self.stream, messages = n, "stopping: handed untaken messages back to the broker");
        }
    }

    /// While later messages wait for an earlier one: asks the stream
    /// whether the gap is gone for good (below its first sequence), and
    /// gives up on order after [`super::order::GIVE_UP`]; returns what that
    /// releases.
    async fn check_gap(&self, order: &mut Reorder<Inbound>) -> Vec<Inbound> {
        let mut ready = match self.first_seq().await {
            Some(first) => order.floor(first, Instant::now()),
            None => Vec::new(),
        };
        if let Some((gap, more)) = order.give_up(Instant::now()) {
            warn!(link = %self.peer, stream = %self.stream, from = gap.from, to = gap.to, "stream messages did not arrive in time; handing over later ones out of order (the core takes each once; the peers' reconciliation re-sends anything owed)");
            ready.extend(more);
        } else if let Some((next, first)) = order.waiting_for() {
            debug!(link = %self.peer, stream = %self.stream, next, first, "holding later messages until an earlier one is redelivered");
        }
        ready
    }
}

/// Stopping: the pumps stop pulling and hand back what they hold
/// ([`crate::Links::stop_pumps`], [`Pump::give_back`]); then the link
/// messages handed to the node that it has not taken (`inbound`, the
/// stream [`crate::Links::subscribe`] gave it) go back to the broker: the
/// node's next instance gets them now — not after the consumer's
/// acknowledgement wait ([`ACK_WAIT`]), with every later message of the
/// link held behind them in stream order. (In that order: handed back
/// while a pump still pulled, a message could come straight back to it.)
pub async fn hand_back(links: &crate::Links, mut inbound: impl futures::Stream<Item = Inbound> + Unpin) {
    use futures::{FutureExt as _, StreamExt as _};
    links.stop_pumps().await;
    let mut untaken = Vec::new();
    while let Some(Some(m)) = inbound.next().now_or_never() {
        untaken.push(m);
    }
    drop(inbound);
    let n = nak_all(untaken.into_iter().map(|i| i.ack)).await;
    if n > 0 {
        info!(messages = n, "stopping: handed untaken link messages back to the broker");
    }
}

/// Hands each message back to the broker (delivered again at once);
/// returns how many.
async fn nak_all(back: impl IntoIterator<Item = Ack>) -> usize {
    let mut n = 0;
    for ack in back {
        n += 1;
        if let Err(e) = ack.nak().await {
            warn!(error = %e, "cannot hand a message back; the broker delivers it again after its acknowledgement wait");
        }
    }
    n
}

/// Hands `ready` to the node in order; if the node is gone, what it did
/// not take.
pub(crate) async fn hand_over(
    tx: &tokio::sync::mpsc::Sender<Inbound>,
    ready: Vec<Inbound>,
) -> Result<(), Vec<Inbound>> {
    let mut ready = ready.into_iter();
    while let Some(inbound) = ready.next() {
        if let Err(tokio::sync::mpsc::error::SendError(back)) = tx.send(inbound).await {
            return Err(std::iter::once(back).chain(ready).collect());
        }
    }
    Ok(())
}

/// How often a pump holding later messages asks the stream about the gap.
const HOLD_CHECK: Duration = Duration::from_secs(2);
