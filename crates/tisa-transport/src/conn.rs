//! NATS connections: the node's links and control subscription, and the
//! operator's control client.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event as NatsEvent};
use bytes::Bytes;
use futures::{stream, Stream, StreamExt};
use tisa_core::{Envelope, Party, Transmit};
use tracing::{debug, error, info, warn};

use crate::control::{self, ControlReply, ControlRequest, ReplyView, WatchEvent};
use crate::convert::{decode_envelope, encode_envelope};
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
    let link = name.to_owned();
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
            async move {
                match ev {
                    NatsEvent::Connected => info!(connection = %link, "connected to NATS"),
                    NatsEvent::Disconnected => warn!(connection = %link, "disconnected from NATS; reconnecting"),
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
    let url = &ep.url;
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    loop {
        match options(name, ep).connect(url).await {
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
    /// The decoded envelope, or why it could not be decoded.
    pub result: Result<Envelope, DecodeError>,
    /// Acknowledges it to the broker: call only once the node has durably
    /// committed its effect (an unacknowledged message is redelivered).
    pub ack: Ack,
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
    /// `(peer, client)` per link.
    links: Vec<(Party, Client)>,
    control: Client,
}

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
            links.push((peer, connect_with_retry(url, &name).await));
        }
        Links { party, links, control }
    }

    /// Subscribes to every inbound link subject and every control verb, and
    /// proves the subscriptions live. Returns the merged inbound stream and
    /// the control-call stream.
    pub async fn subscribe(
        &self,
    ) -> Result<
        (impl Stream<Item = Inbound> + Unpin + Send + use<>, impl Stream<Item = ControlCall> + Unpin + Send + use<>),
        TransportError,
    > {
        use async_nats::jetstream::{self, consumer, stream as js_stream};
        let mut inbound = Vec::new();
        for ((peer, subject), (_, client)) in subjects::inbound(self.party).into_iter().zip(&self.links) {
            // The receiver owns the stream of what it receives, in its own account.
            let (nation, dir) = if self.party.is_hub() {
                (peer, subjects::Direction::Up)
            } else {
                (self.party, subjects::Direction::Down)
            };
            let name = stream_name(nation, dir);
            let fail = |e: &dyn std::fmt::Display| TransportError::Subscribe {
                subject: subject.clone(),
                reason: format!("stream {name}: {e}"),
            };
            let js = jetstream::new(client.clone());
            let stream = js
                .get_or_create_stream(js_stream::Config {
                    name: name.clone(),
                    subjects: vec![subject.clone()],
                    storage: js_stream::StorageType::File,
                    duplicate_window: Duration::from_secs(120),
                    max_message_size: 1024 * 1024,
                    ..Default::default()
                })
                .await
                .map_err(|e| fail(&e))?;
            let durable = format!("{}-node", self.party.lower());
            let consumer: consumer::PullConsumer = stream
                .get_or_create_consumer(
                    &durable,
                    consumer::pull::Config {
                        durable_name: Some(durable.clone()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: ACK_WAIT,
                        max_ack_pending: 10_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| fail(&e))?;
            let messages = consumer.messages().await.map_err(|e| fail(&e))?;
            inbound.push(
                messages
                    .filter_map(move |m| async move {
                        match m {
                            Ok(m) => Some(Inbound {
                                link: peer,
                                subject: m.subject.to_string(),
                                result: decode_envelope(&m.subject, &m.payload),
                                ack: Ack(Some(m)),
                            }),
                            Err(e) => {
                                warn!(link = %peer, error = %e, "stream consumer error; continuing");
                                None
                            }
                        }
                    })
                    .boxed(),
            );
        }
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
        for (_, client) in &self.links {
            prove_ready(client, self.party).await?;
        }
        prove_ready(&self.control, self.party).await?;
        Ok((stream::select_all(inbound), stream::select_all(calls)))
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
        let mut out = Vec::with_capacity(ts.len());
        for chunk in ts.chunks(SEND_WINDOW) {
            let waits = self.publish_many(chunk).await;
            out.extend(futures::future::join_all(waits).await);
        }
        out
    }

    /// Hands transmits to their links' connections without waiting for
    /// the receivers' streams: returns, in order, the future of each one's
    /// acknowledgement (`Ok` only once its stream acknowledged it; an error
    /// after [`PUBLISH_ACK_TIMEOUT`]). Publishes leave in order on each
    /// connection, so each stream stores them in order.
    pub async fn publish_many(&self, ts: &[Transmit]) -> Vec<AckWait> {
        let mut out: Vec<AckWait> = Vec::with_capacity(ts.len());
        for t in ts {
            match self.publish_durable(t).await {
                Ok((subject, ack)) => out.push(Box::pin(async move {
                    let fail = |e: &dyn std::fmt::Display| TransportError::Publish {
                        subject: subject.clone(),
                        reason: e.to_string(),
                    };
                    match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(fail(&e)),
                        Err(_) => Err(fail(&"no acknowledgement from the receiver's stream in time")),
                    }
                })),
                Err(e) => out.push(Box::pin(std::future::ready(Err(e)))),
            }
        }
        out
    }

    /// Hands one transmit to its link's connection; returns the subject and
    /// the future of the receiver's stream's acknowledgement.
    async fn publish_durable(
        &self,
        t: &Transmit,
    ) -> Result<(String, async_nats::jetstream::context::PublishAckFuture), TransportError> {
        let kind = t.envelope.payload.kind();
        let subject = subjects::outbound(self.party, t.to, kind).ok_or_else(|| TransportError::Publish {
            subject: format!("<{}→{}>", self.party, t.to),
            reason: "no such link in the arrangement".to_owned(),
        })?;
        let client = self.links.iter().find(|(peer, _)| *peer == t.to).map(|(_, c)| c).ok_or_else(|| {
            TransportError::Publish { subject: subject.clone(), reason: "no connection for this link".to_owned() }
        })?;
        // Durable: the receiver's stream acknowledges (deduplicating by message id).
        let js = async_nats::jetstream::new(client.clone());
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(Bytes::from(encode_envelope(&t.envelope)))
            .message_id(t.envelope.message_id.as_str());
        let ack = js
            .send_publish(subject.clone(), msg)
            .await
            .map_err(|e| TransportError::Publish { subject: subject.clone(), reason: e.to_string() })?;
        Ok((subject, ack))
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
            .map(|(_, c)| c)
            .chain(std::iter::once(&self.control))
            .all(|c| c.connection_state() == State::Connected)
    }

    /// Flushes every connection (best effort, for shutdown).
    pub async fn flush(&self) {
        for c in self.links.iter().map(|(_, c)| c).chain(std::iter::once(&self.control)) {
            let _ = c.flush().await;
        }
    }
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
        let fut = self.client.request(subject.clone(), Bytes::from(control::encode_request(req)));
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
