//! NATS connections: the node's links and control subscription, and the
//! operator's control client.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use async_nats::{Client, ConnectOptions, Event as NatsEvent};
use bytes::Bytes;
use futures::{stream, Stream, StreamExt};
use tisa_core::{Envelope, Party, Transmit};
use tracing::{debug, error, info, warn};

use crate::control::{self, ControlReply, ControlRequest, DeadLetter, ReplyView, WatchEvent};
use crate::convert::{decode_inbound, encode_envelope};
use crate::error::{DecodeError, TransportError};
use crate::subjects;

/// How long readiness probes may take before we call the broker unresponsive.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom to connect. Its `Debug` never shows the seed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// NATS URL.
    pub url: String,
    /// The user's nkey seed (`SU…`), if the broker requires authentication.
    pub nkey_seed: Option<String>,
    /// The user's private request/reply inbox prefix (e.g. `_INBOX_kr_cli`),
    /// so no other user can read its replies.
    pub inbox_prefix: Option<String>,
    /// A CA certificate (PEM) to trust for the broker's TLS certificate; when
    /// set, the connection must use TLS.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "<redacted>"))
            .field("inbox_prefix", &self.inbox_prefix)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

impl Endpoint {
    /// An unauthenticated endpoint.
    pub fn open(url: impl Into<String>) -> Endpoint {
        Endpoint { url: url.into(), ..Endpoint::default() }
    }
}

fn options(name: &str, ep: &Endpoint) -> ConnectOptions {
    options_notifying(name, ep, None)
}

/// Connection options; `reconnected` (if any) is notified every time the
/// connection is (re)established, so the link can check its stream and
/// reconcile with its peer.
fn options_notifying(name: &str, ep: &Endpoint, reconnected: Option<Arc<Notify>>) -> ConnectOptions {
    let link = name.to_owned();
    // Only a connection that comes back after a disconnection is a
    // reconnection (async-nats also reports the first connection).
    let was_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut opts = ConnectOptions::new();
    if let Some(seed) = &ep.nkey_seed {
        opts = opts.nkey(seed.clone());
    }
    if let Some(prefix) = &ep.inbox_prefix {
        opts = opts.custom_inbox_prefix(prefix);
    }
    if let Some(ca) = &ep.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    // Pings every 10 s: a dead connection (a network cut, a moved peer) is
    // noticed in seconds, not minutes, and the client reconnects.
    opts.name(name)
        .ping_interval(Duration::from_secs(10))
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(3))
        .event_callback(move |ev| {
            let link = link.clone();
            let reconnected = reconnected.clone();
            let was_down = was_down.clone();
            async move {
                use std::sync::atomic::Ordering;
                match ev {
                    NatsEvent::Connected => {
                        info!(connection = %link, "connected to NATS");
                        if let Some(n) = reconnected.filter(|_| was_down.swap(false, Ordering::SeqCst)) {
                            n.notify_one();
                        }
                    }
                    NatsEvent::Disconnected => {
                        was_down.store(true, Ordering::SeqCst);
                        warn!(connection = %link, "disconnected from NATS; reconnecting")
                    }
                    // Permission violations surface only here (async-nats 0.51).
                    NatsEvent::ServerError(e) => error!(connection = %link, error = %e, "NATS server error"),
                    NatsEvent::SlowConsumer(sid) => warn!(connection = %link, sid, "slow consumer: messages dropped"),
                    other => debug!(connection = %link, event = %other, "NATS event"),
                }
            }
        })
}

/// Connects once (no retry): for the CLI, which should fail fast.
pub async fn connect_once(ep: &Endpoint, name: &str) -> Result<Client, TransportError> {
    options(name, ep)
        .connect(&ep.url)
        .await
        .map_err(|e| TransportError::Connect { url: ep.url.clone(), reason: e.to_string() })
}

/// Connects, retrying with exponential backoff (100 ms … 5 s) until the
/// broker answers. Logs every failed attempt; never gives up on its own
/// (callers race it against shutdown).
pub async fn connect_with_retry(ep: &Endpoint, name: &str) -> Client {
    connect_with_retry_notifying(ep, name, None).await
}

async fn connect_with_retry_notifying(ep: &Endpoint, name: &str, reconnected: Option<Arc<Notify>>) -> Client {
    let url = &ep.url;
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    loop {
        match options_notifying(name, ep, reconnected.clone()).connect(url).await {
            Ok(c) => return c,
            Err(e) => {
                warn!(connection = %name, %url, attempt, retry_in_ms = delay.as_millis() as u64, error = %e, "NATS unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Proves that every subscription made on `client` so far is live on the
/// server: subscribes to a fresh probe subject, publishes on it from the same
/// connection and waits for the message. The server handles one connection's
/// protocol in order, so once the probe arrives, earlier SUBs are in force.
/// (`Client::flush` alone does not prove this.)
pub async fn prove_ready(client: &Client, party: Party) -> Result<(), TransportError> {
    let subject = subjects::probe(party, &client.new_inbox().replace(['_', '.'], ""));
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| TransportError::Subscribe { subject: subject.clone(), reason: e.to_string() })?;
    let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
    let mut interval = Duration::from_millis(20);
    loop {
        client
            .publish(subject.clone(), Bytes::from_static(b"probe"))
            .await
            .map_err(|e| TransportError::Publish { subject: subject.clone(), reason: e.to_string() })?;
        match tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + interval), sub.next()).await {
            Ok(Some(_)) => break,
            Ok(None) => return Err(TransportError::NotReady(PROBE_TIMEOUT)),
            Err(_) if tokio::time::Instant::now() >= deadline => return Err(TransportError::NotReady(PROBE_TIMEOUT)),
            Err(_) => interval = (interval * 2).min(Duration::from_secs(1)),
        }
    }
    let _ = sub.unsubscribe().await;
    Ok(())
}

/// A node's connections: where and as whom.
#[derive(Clone, Debug)]
pub struct LinkUrls {
    /// The party's own broker (control subjects, and the link for a nation).
    pub own: Endpoint,
    /// For the hub: the broker of the US–KR link.
    pub kr: Endpoint,
    /// For the hub: the broker of the US–JP link.
    pub jp: Endpoint,
}

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
        }
    }
}

/// The broker's handle on one delivered message.
pub struct Ack(Option<async_nats::jetstream::Message>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

impl Ack {
    /// Acknowledges: the broker will not deliver it again.
    pub async fn ack(self) -> Result<(), TransportError> {
        match self.0 {
            Some(m) => {
                m.ack().await.map_err(|e| TransportError::Publish { subject: "ack".into(), reason: e.to_string() })
            }
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
/// How long a sender waits for the receiver's stream to acknowledge a publish.
pub const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// [`Links::send_many`]: at most this many publishes awaiting their acknowledgement at once.
pub const SEND_WINDOW: usize = 256;

/// At most this many envelopes in one broker message (a batch).
pub const BATCH_MAX: usize = 64;

/// At most this many bytes of envelopes in one batch (an envelope larger
/// than this goes alone; the broker's `max_payload` is the hard limit).
pub const BATCH_BYTES: usize = 256 * 1024;

/// An [`proto::EnvelopeBatch`](crate::proto::EnvelopeBatch) from envelopes
/// already encoded: field 1 (`repeated Envelope`) is each one's bytes,
/// length-delimited, in order — what prost would write, without encoding
/// any envelope twice.
fn batch_of(encoded: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.iter().map(|e| e.len() + 6).sum());
    for e in encoded {
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(e.len() as u64, &mut out);
        out.extend_from_slice(e);
    }
    out
}

/// The receiver's stream's acknowledgement of one publish (see [`Links::publish_many`]).
pub type AckWait = futures::future::BoxFuture<'static, Result<(), TransportError>>;

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

/// The stream in which `to` keeps what `from` sends it (`None`: no such link).
pub fn receiving_stream(from: Party, to: Party) -> Option<String> {
    match (from.is_hub(), to.is_hub()) {
        (false, true) => Some(stream_name(from, subjects::Direction::Up)),
        (true, false) => Some(stream_name(to, subjects::Direction::Down)),
        _ => None,
    }
}

/// The party's dead-letter stream: `TISA_KR_DEADLETTER`, …
pub fn dead_letter_stream(party: Party) -> String {
    format!("TISA_{}_DEADLETTER", party.code())
}

/// Most dead letters a node's stream keeps (the oldest go first; every dead
/// letter is also in the node's audit log for good).
pub const DEAD_LETTER_MAX: i64 = 10_000;

/// A node's dead-letter stream, in its own account on its own broker (the
/// control connection): written by the node, read back for `tisa deadletter list`.
#[derive(Clone)]
pub struct DeadLetterBox {
    js: async_nats::jetstream::Context,
    party: Party,
}

impl std::fmt::Debug for DeadLetterBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&dead_letter_stream(self.party))
    }
}

impl DeadLetterBox {
    fn fail(&self, e: &dyn std::fmt::Display) -> TransportError {
        TransportError::Publish { subject: subjects::dead_letter(self.party), reason: e.to_string() }
    }

    /// Creates the stream if it does not exist.
    pub async fn ensure(&self) -> Result<async_nats::jetstream::stream::Stream, TransportError> {
        use async_nats::jetstream::stream as js_stream;
        self.js
            .get_or_create_stream(js_stream::Config {
                name: dead_letter_stream(self.party),
                subjects: vec![subjects::dead_letter(self.party)],
                storage: js_stream::StorageType::File,
                max_messages: DEAD_LETTER_MAX,
                discard: js_stream::DiscardPolicy::Old,
                max_message_size: 64 * 1024,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| self.fail(&format!("stream {}: {e}", dead_letter_stream(self.party))))
    }

    /// Writes a dead letter durably (acknowledged by the stream); returns
    /// its sequence there. Deduplicated by the inbound stream and sequence,
    /// so a redelivered message is not dead-lettered twice.
    pub async fn put(&self, d: &DeadLetter) -> Result<u64, TransportError> {
        use async_nats::jetstream::context::PublishErrorKind;
        let subject = subjects::dead_letter(self.party);
        let publish = || async {
            let mut msg = async_nats::jetstream::message::PublishMessage::build()
                .payload(Bytes::from(control::encode_dead_letter(d)));
            if let Some(seq) = d.stream_seq {
                msg = msg.message_id(format!("dl.{}.{seq}", d.stream));
            }
            let ack = self.js.send_publish(subject.clone(), msg).await?;
            match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                Ok(r) => r,
                Err(_) => Err(PublishErrorKind::TimedOut.into()),
            }
        };
        let ack = match publish().await {
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                self.ensure().await?;
                publish().await
            }
            r => r,
        }
        .map_err(|e| self.fail(&e))?;
        Ok(ack.sequence)
    }

    /// The `limit` most recent dead letters, newest first, and how many the
    /// stream holds.
    pub async fn list(&self, limit: usize) -> Result<(Vec<DeadLetter>, u64), TransportError> {
        let stream = self.ensure().await?;
        let info = stream.get_info().await.map_err(|e| self.fail(&e))?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        let mut seq = last;
        while out.len() < limit && seq >= first.max(1) {
            match stream.get_raw_message(seq).await {
                Ok(m) => {
                    let mut d = control::decode_dead_letter(&m.payload).unwrap_or_else(|e| DeadLetter {
                        class: "UNREADABLE".into(),
                        reason: e.code().into(),
                        ..DeadLetter::default()
                    });
                    d.seq = seq;
                    out.push(d);
                }
                Err(e) if e.kind() == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(self.fail(&e)),
            }
            seq -= 1;
        }
        Ok((out, info.state.messages))
    }
}

/// A control request from the operator's CLI, with where to answer.
#[derive(Debug)]
pub struct ControlCall {
    /// The subject it came on.
    pub subject: String,
    /// Where to send the reply (absent if the caller wants none).
    pub reply_to: Option<async_nats::Subject>,
    /// The decoded request, or why it could not be decoded.
    pub request: Result<ControlRequest, DecodeError>,
}

/// A node's connections: one per link, plus its own control connection.
pub struct Links {
    party: Party,
    /// `(peer, client, reconnected)` per link: `reconnected` is notified
    /// whenever that connection is (re)established.
    links: Vec<(Party, Client, Arc<Notify>)>,
    control: Client,
    dead_letters: DeadLetterBox,
}

/// How long the inbound pump of a link waits before it tries again to set
/// up its stream and consumer after a failure (doubling up to 5 s).
const PUMP_RETRY: Duration = Duration::from_millis(200);

impl Links {
    /// Connects every link (retrying until each broker answers).
    pub async fn connect(party: Party, urls: &LinkUrls) -> Links {
        let control = connect_with_retry(&urls.own, &format!("tisa-{}-control", party.lower())).await;
        let mut links = Vec::new();
        for (peer, _) in subjects::inbound(party) {
            let url = match (party.is_hub(), peer) {
                (true, Party::Kr) => &urls.kr,
                (true, _) => &urls.jp,
                (false, _) => &urls.own,
            };
            let name = format!("tisa-{}-link-{}", party.lower(), if party.is_hub() { peer.lower() } else { "us" });
            let reconnected = Arc::new(Notify::new());
            let client = connect_with_retry_notifying(url, &name, Some(reconnected.clone())).await;
            links.push((peer, client, reconnected));
        }
        let dead_letters = DeadLetterBox { js: async_nats::jetstream::new(control.clone()), party };
        Links { party, links, control, dead_letters }
    }

    /// The node's dead-letter stream.
    pub fn dead_letters(&self) -> &DeadLetterBox {
        &self.dead_letters
    }

    /// Subscribes to every inbound link subject and every control verb, and
    /// proves the subscriptions live. Returns the merged inbound stream, the
    /// control-call stream, and the link-up stream: a link's peer, each
    /// time that link came back after a reconnection or had to set up its
    /// stream again (the broker may have lost what it held: reconcile).
    ///
    /// Each link's inbound side is a small pump task that owns the
    /// receiver's stream and durable consumer in the receiver's account: it
    /// creates them if missing, and sets them up again whenever its
    /// connection is re-established or the consumer fails (a broker
    /// restarted, or its store lost), so delivery resumes by itself.
    pub async fn subscribe(
        &self,
    ) -> Result<
        (
            impl Stream<Item = Inbound> + Unpin + Send + use<>,
            impl Stream<Item = ControlCall> + Unpin + Send + use<>,
            impl Stream<Item = Party> + Unpin + Send + use<>,
        ),
        TransportError,
    > {
        let (tx, rx) = tokio::sync::mpsc::channel::<Inbound>(256);
        let (up_tx, up_rx) = tokio::sync::mpsc::channel::<Party>(16);
        for ((peer, subject), (_, client, reconnected)) in subjects::inbound(self.party).into_iter().zip(&self.links) {
            // The receiver owns the stream of what it receives, in its own account.
            let (nation, dir) = if self.party.is_hub() {
                (peer, subjects::Direction::Up)
            } else {
                (self.party, subjects::Direction::Down)
            };
            let pump = Pump {
                js: async_nats::jetstream::new(client.clone()),
                stream: stream_name(nation, dir),
                durable: format!("{}-node", self.party.lower()),
                subject,
                peer,
            };
            // The first setup must succeed before the node declares itself ready.
            let messages = pump.setup().await?;
            tokio::spawn(pump.run(messages, reconnected.clone(), tx.clone(), up_tx.clone()));
        }
        let inbound = tokio_stream_of(rx);
        let link_ups = tokio_stream_of(up_rx);
        let mut calls = Vec::new();
        for verb in subjects::VERBS {
            let subject = subjects::control(self.party, verb);
            let sub = self
                .control
                .subscribe(subject.clone())
                .await
                .map_err(|e| TransportError::Subscribe { subject: subject.clone(), reason: e.to_string() })?;
            calls.push(sub.map(|m| ControlCall {
                subject: m.subject.to_string(),
                reply_to: m.reply.clone(),
                request: control::decode_request(&m.subject, &m.payload),
            }));
        }
        if let Err(e) = self.dead_letters.ensure().await {
            // Not fatal: a dead letter that cannot be written leaves its
            // message unacknowledged (redelivered), and `put` retries this.
            error!(error = %e, "cannot create the dead-letter stream");
        }
        for (_, client, _) in &self.links {
            prove_ready(client, self.party).await?;
        }
        prove_ready(&self.control, self.party).await?;
        Ok((inbound, stream::select_all(calls), link_ups))
    }

    /// Publishes a transmit on the link to its recipient and waits for the
    /// receiver's stream to acknowledge it.
    pub async fn send(&self, t: &Transmit) -> Result<(), TransportError> {
        self.send_many(std::slice::from_ref(t)).await.pop().unwrap_or(Ok(()))
    }

    /// Publishes transmits on their links and awaits the receivers'
    /// acknowledgements together (pipelined, not one round trip each).
    /// Returns, in order, whether each was acknowledged: only an `Ok` may be
    /// recorded as sent; anything else must be retried.
    pub async fn send_many(&self, ts: &[Transmit]) -> Vec<Result<(), TransportError>> {
        let mut out: Vec<Option<Result<(), TransportError>>> = (0..ts.len()).map(|_| None).collect();
        for (offset, chunk) in ts.chunks(SEND_WINDOW).enumerate().map(|(i, c)| (i * SEND_WINDOW, c)) {
            let groups = self.publish_many(chunk, true).await;
            let (indices, waits): (Vec<Vec<usize>>, Vec<AckWait>) = groups.into_iter().unzip();
            for (idx, r) in indices.into_iter().zip(futures::future::join_all(waits).await) {
                for i in idx {
                    out[offset + i] = Some(match &r {
                        Ok(()) => Ok(()),
                        Err(e) => Err(TransportError::Publish { subject: "batch".into(), reason: e.to_string() }),
                    });
                }
            }
        }
        out.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    /// Hands transmits to their links' connections without waiting for
    /// the receivers' streams. Transmits to the same peer go together, in
    /// their order, as one [`proto::EnvelopeBatch`](crate::proto::EnvelopeBatch)
    /// per [`BATCH_MAX`] envelopes (or [`BATCH_BYTES`] bytes) on the link's
    /// `batch` subject — one stored write and one acknowledgement for all of
    /// them; a transmit alone goes on its own kind's subject. Returns, for
    /// each broker message, the indices (into `ts`) of the transmits it
    /// carries and the future of its acknowledgement (`Ok` only once the
    /// receiver's stream acknowledged it; an error after
    /// [`PUBLISH_ACK_TIMEOUT`]). Publishes leave in order on each connection,
    /// so each stream stores them in order.
    ///
    /// With `batch` false every transmit goes alone (a retry: a batch the
    /// receiver refused, e.g. for want of space, may go through one by one).
    pub async fn publish_many(&self, ts: &[Transmit], batch: bool) -> Vec<(Vec<usize>, AckWait)> {
        let max = if batch { BATCH_MAX } else { 1 };
        // Each envelope is encoded once (a batch is their bytes, framed).
        let encoded: Vec<Vec<u8>> = ts.iter().map(|t| encode_envelope(&t.envelope)).collect();
        let mut out = Vec::new();
        // Per peer, in order; then cut into batches.
        let mut peers: Vec<(Party, Vec<usize>)> = Vec::new();
        for (i, t) in ts.iter().enumerate() {
            match peers.iter_mut().find(|(p, _)| *p == t.to) {
                Some((_, v)) => v.push(i),
                None => peers.push((t.to, vec![i])),
            }
        }
        for (_, idx) in peers {
            let mut group: Vec<usize> = Vec::new();
            let mut bytes = 0usize;
            for i in idx {
                let size = encoded[i].len();
                if !group.is_empty() && (group.len() >= max || bytes + size > BATCH_BYTES) {
                    let g = std::mem::take(&mut group);
                    out.push(self.publish_group(ts, &encoded, g).await);
                    bytes = 0;
                }
                group.push(i);
                bytes += size;
            }
            if !group.is_empty() {
                out.push(self.publish_group(ts, &encoded, group).await);
            }
        }
        out
    }

    /// Publishes one broker message carrying `ts[i]` for every `i` in `group` (same peer).
    async fn publish_group(&self, ts: &[Transmit], encoded: &[Vec<u8>], group: Vec<usize>) -> (Vec<usize>, AckWait) {
        let envs: Vec<(&Envelope, &[u8])> = group.iter().map(|i| (&ts[*i].envelope, encoded[*i].as_slice())).collect();
        let to = ts[group[0]].to;
        let wait: AckWait = match self.publish_durable(to, &envs).await {
            Ok((subject, stream, ack)) => Box::pin(async move {
                match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(not_accepted(&stream, &subject, &e)),
                    Err(_) => Err(TransportError::NotAccepted {
                        stream,
                        subject,
                        reason: "no acknowledgement in time".into(),
                        hint: "the broker or the link may be slow or down; the message is kept and retried every 2 s",
                    }),
                }
            }),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        };
        (group, wait)
    }

    /// Hands envelopes for `to` to its link's connection as one broker
    /// message (one envelope: on its kind's subject; several: a batch);
    /// returns the subject, the receiving stream and the future of its
    /// acknowledgement.
    async fn publish_durable(
        &self,
        to: Party,
        envs: &[(&Envelope, &[u8])],
    ) -> Result<(String, String, async_nats::jetstream::context::PublishAckFuture), TransportError> {
        let (kind, payload, msg_id) = match envs {
            [(one, bytes)] => (one.payload.kind(), bytes.to_vec(), one.message_id.to_string()),
            [(first, _), .., (last, _)] => (
                subjects::BATCH,
                batch_of(&envs.iter().map(|(_, b)| *b).collect::<Vec<_>>()),
                format!("{}+{}+{}", first.message_id, envs.len(), last.message_id),
            ),
            [] => return Err(TransportError::Publish { subject: "-".into(), reason: "nothing to publish".into() }),
        };
        let subject = subjects::outbound(self.party, to, kind).ok_or_else(|| TransportError::Publish {
            subject: format!("<{}→{}>", self.party, to),
            reason: "no such link in the arrangement".to_owned(),
        })?;
        let client = self.links.iter().find(|(peer, _, _)| *peer == to).map(|(_, c, _)| c).ok_or_else(|| {
            TransportError::Publish { subject: subject.clone(), reason: "no connection for this link".to_owned() }
        })?;
        // Durable: the receiver's stream acknowledges (deduplicating by message id).
        let limit = client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(TransportError::TooLarge {
                what: format!("{kind} envelope {msg_id} to {to}"),
                size: payload.len(),
                limit,
            });
        }
        let js = async_nats::jetstream::new(client.clone());
        let msg =
            async_nats::jetstream::message::PublishMessage::build().payload(Bytes::from(payload)).message_id(msg_id);
        let stream = receiving_stream(self.party, to).unwrap_or_default();
        let ack = js.send_publish(subject.clone(), msg).await.map_err(|e| not_accepted(&stream, &subject, &e))?;
        Ok((subject, stream, ack))
    }

    /// Answers a control call.
    pub async fn reply(&self, to: async_nats::Subject, reply: &ControlReply) -> Result<(), TransportError> {
        self.control
            .publish(to.clone(), Bytes::from(control::encode_reply(reply)))
            .await
            .map_err(|e| TransportError::Publish { subject: to.to_string(), reason: e.to_string() })
    }

    /// Publishes an event on `tisa.ctl.<party>.events`.
    pub async fn publish_event(&self, ev: &WatchEvent) -> Result<(), TransportError> {
        let subject = subjects::events(self.party);
        self.control
            .publish(subject.clone(), Bytes::from(control::encode_watch_event(ev)))
            .await
            .map_err(|e| TransportError::Publish { subject, reason: e.to_string() })
    }

    /// Whether every connection is currently up.
    pub fn connected(&self) -> bool {
        use async_nats::connection::State;
        self.links
            .iter()
            .map(|(_, c, _)| c)
            .chain(std::iter::once(&self.control))
            .all(|c| c.connection_state() == State::Connected)
    }

    /// Flushes every connection (best effort, for shutdown).
    pub async fn flush(&self) {
        for c in self.links.iter().map(|(_, c, _)| c).chain(std::iter::once(&self.control)) {
            let _ = c.flush().await;
        }
    }
}

/// Describes why the receiver's stream did not take a message, with what
/// the operator can do about it.
fn not_accepted(stream: &str, subject: &str, e: &async_nats::jetstream::context::PublishError) -> TransportError {
    use async_nats::jetstream::context::PublishErrorKind;
    let reason = e.to_string();
    let lower = reason.to_ascii_lowercase();
    let hint = if e.kind() == PublishErrorKind::StreamNotFound || lower.contains("no responders") {
        "the receiving stream does not exist (the receiving node creates it when it first starts: is it running?); \
         the message is kept and retried every 2 s"
    } else if lower.contains("exceeded") || lower.contains("insufficient") || lower.contains("resource") {
        "the receiving stream or its account's JetStream storage is full (is the receiving node stopped or \
         behind?); the message is kept and retried every 2 s: start or drain the receiving node, or raise the \
         account's limits (`tisa broker config --js-max-file`)"
    } else {
        "the message is kept and retried every 2 s"
    };
    TransportError::NotAccepted { stream: stream.to_owned(), subject: subject.to_owned(), reason, hint }
}

/// An operator's client for its own node's control subjects.
pub struct ControlClient {
    client: Client,
    party: Party,
    url: String,
    timeout: Duration,
}

impl ControlClient {
    /// Connects to `url` to talk to `party`'s node.
    pub async fn connect(ep: &Endpoint, party: Party, timeout: Duration) -> Result<ControlClient, TransportError> {
        let client = connect_once(ep, &format!("tisa-{}-cli", party.lower())).await?;
        Ok(ControlClient { client, party, url: ep.url.clone(), timeout })
    }

    /// Sends a request and waits for the node's reply.
    pub async fn call(&self, req: &ControlRequest) -> Result<ReplyView, TransportError> {
        use async_nats::RequestErrorKind;
        let subject = subjects::control(self.party, req.verb());
        let payload = control::encode_request(req);
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(TransportError::TooLarge {
                what: format!("the {} request", req.verb()),
                size: payload.len(),
                limit,
            });
        }
        let fut = self.client.request(subject.clone(), Bytes::from(payload));
        let msg = match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => return Err(TransportError::Timeout { party: self.party, timeout: self.timeout }),
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {
                return Err(TransportError::NoNode {
                    party: self.party,
                    lower: self.party.lower(),
                    url: self.url.clone(),
                })
            }
            Ok(Err(e)) if e.kind() == RequestErrorKind::TimedOut => {
                return Err(TransportError::Timeout { party: self.party, timeout: self.timeout })
            }
            Ok(Err(e)) => return Err(TransportError::Request { subject, reason: e.to_string() }),
            Ok(Ok(m)) => m,
        };
        Ok(control::decode_reply(&msg.payload)?)
    }

    /// Subscribes to the node's event stream; returns once the subscription
    /// is proven live, so no event published afterwards is missed.
    pub async fn watch(
        &self,
    ) -> Result<impl Stream<Item = Result<WatchEvent, DecodeError>> + Unpin + use<>, TransportError> {
        let subject = subjects::events(self.party);
        let sub = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|e| TransportError::Subscribe { subject, reason: e.to_string() })?;
        prove_ready(&self.client, self.party).await?;
        Ok(sub.map(|m| control::decode_watch_event(&m.payload)))
    }
}

/// A stream over a bounded channel's receiver.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Unpin + Send + use<T> {
    Box::pin(stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

type Messages = async_nats::jetstream::consumer::pull::Stream;

/// The inbound side of one link: the receiver's stream and durable pull
/// consumer, and the task that feeds their messages to the node.
struct Pump {
    js: async_nats::jetstream::Context,
    stream: String,
    durable: String,
    subject: String,
    peer: Party,
}

impl Pump {
    /// Creates the stream and the consumer if missing; returns the consumer's messages.
    async fn setup(&self) -> Result<Messages, TransportError> {
        use async_nats::jetstream::{consumer, stream as js_stream};
        let fail = |e: &dyn std::fmt::Display| TransportError::Subscribe {
            subject: self.subject.clone(),
            reason: format!("stream {}: {e}", self.stream),
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
                // yet taken. A full stream refuses new messages (the
                // sender keeps them and retries); nothing is discarded.
                retention: js_stream::RetentionPolicy::WorkQueue,
                discard: js_stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| fail(&e))?;
        if stream.cached_info().config.retention != js_stream::RetentionPolicy::WorkQueue {
            warn!(stream = %self.stream, "stream predates work-queue retention: taken messages stay in it and count against the account's JetStream limits; recreate it when drained");
        }
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.durable,
                consumer::pull::Config {
                    durable_name: Some(self.durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(&e))?;
        consumer.messages().await.map_err(|e| fail(&e))
    }

    /// Feeds messages to the node until it is gone. Sets the stream and
    /// consumer up again after a reconnection or a consumer failure, and
    /// then reports the link as up (the node reconciles with its peer).
    async fn run(
        self,
        mut messages: Messages,
        reconnected: Arc<Notify>,
        tx: tokio::sync::mpsc::Sender<Inbound>,
        up: tokio::sync::mpsc::Sender<Party>,
    ) {
        let peer = self.peer;
        loop {
            // Deliver until the connection is re-established or the consumer fails.
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = reconnected.notified() => {
                        info!(link = %peer, stream = %self.stream, "link reconnected: checking its stream and consumer");
                        break;
                    }
                    m = messages.next() => match m {
                        Some(Ok(m)) => {
                            let result = decode_inbound(&m.subject, &m.payload);
                            let inbound = Inbound {
                                link: peer,
                                subject: m.subject.to_string(),
                                meta: InboundMeta::of(&m, &self.stream, result.is_ok()),
                                result,
                                ack: Ack(Some(m)),
                            };
                            if tx.send(inbound).await.is_err() {
                                return;
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
            let mut delay = PUMP_RETRY;
            messages = loop {
                match self.setup().await {
                    Ok(m) => break m,
                    Err(e) => {
                        warn!(link = %peer, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot set up the link's stream yet");
                        tokio::select! {
                            _ = tx.closed() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            };
            // The broker may have lost what it held for this link: reconcile.
            let _ = up.try_send(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{MessageId, Payload, Rejection, Timestamp, PROTOCOL_VERSION};

    fn env(n: u32) -> Envelope {
        Envelope {
            version: PROTOCOL_VERSION,
            message_id: MessageId::new(format!("US.1.{n}")).unwrap(),
            sender: Party::Us,
            sent_at: Timestamp(u64::from(n)),
            payload: Payload::Rejection(Rejection {
                refers_to: MessageId::new("KR.1.1").unwrap(),
                code: "CONFLICT".into(),
                detail: "x".repeat(n as usize * 40),
                report_id: None,
                request_id: None,
            }),
        }
    }

    #[test]
    fn a_batch_framed_from_encoded_envelopes_is_what_prost_writes_and_decodes_back() {
        let envs: Vec<Envelope> = (1..=5).map(env).collect();
        let encoded: Vec<Vec<u8>> = envs.iter().map(encode_envelope).collect();
        let framed = batch_of(&encoded.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let refs: Vec<&Envelope> = envs.iter().collect();
        assert_eq!(framed, crate::convert::encode_batch(&refs));
        assert_eq!(decode_inbound("tisa.kr.down.batch", &framed).unwrap(), envs);
        // One envelope alone on its kind's subject, not a batch.
        assert_eq!(decode_inbound("tisa.kr.down.rejection", &encoded[0]).unwrap(), vec![envs[0].clone()]);
        assert!(decode_inbound("tisa.kr.down.batch", &[]).is_err(), "an empty batch is refused");
    }
}
