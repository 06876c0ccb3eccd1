//! A node's connections: one per link, plus its own control connection.
//! Publishing (durable, batched, acknowledged by the receiver's stream),
//! the control subscription, replies and events.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use bytes::Bytes;
use futures::{stream, Stream, StreamExt};
use tisa_core::{Authorization, Envelope, Party, Transmit};
use tokio::sync::Notify;
use tracing::{error, warn};

use crate::control::WatchEvents;
use crate::control::{decode_request, ControlReply, ControlRequest, StreamHealth, StreamPeer, WatchEvent};
use crate::convert::{encode_envelope, Wire};
use crate::error::{DecodeError, TransportError};
use crate::subjects;

use super::chain::{Chain, Outcome, Place, Ticket};
use super::deadletter::DeadLetterBox;
use super::inbound::{receiving_stream, stream_name, tokio_stream_of, track_stream_name, Inbound, Pump};
use super::{connect_with_retry, connect_with_retry_notifying, prove_ready, LinkUrls};

/// How long a sender waits for the receiver's stream to acknowledge a publish.
pub const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a node keeps trying to set up its streams before it gives up starting.
pub const SETUP_PATIENCE: Duration = Duration::from_secs(30);
/// [`Links::send_many`]: at most this many publishes awaiting their acknowledgement at once.
pub const SEND_WINDOW: usize = 256;

/// At most this many envelopes in one broker message (a batch).
pub const BATCH_MAX: usize = 64;

/// At most this many bytes of envelopes in one batch (an envelope larger
/// than this goes alone; the broker's `max_payload` is the hard limit).
pub const BATCH_BYTES: usize = 256 * 1024;

/// An [`proto::EnvelopeBatch`](crate::proto::EnvelopeBatch) from envelopes
/// already encoded: field 1 (`repeated Envelope`) is each one's bytes,
/// length-delimited, in order, then fields 2 and 3 (the protocol version)
/// — what prost would write, without encoding any envelope twice.
fn batch_of(encoded: &[&[u8]]) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let mut out = Vec::with_capacity(encoded.iter().map(|e| e.len() + 6).sum::<usize>() + 4);
    for e in encoded {
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(e.len() as u64, &mut out);
        out.extend_from_slice(e);
    }
    for (field, v) in [(2, tisa_core::PROTOCOL_VERSION), (3, tisa_core::PROTOCOL_VERSION_MINOR)] {
        if v != 0 {
            encode_key(field, WireType::Varint, &mut out);
            encode_varint(u64::from(v), &mut out);
        }
    }
    out
}

/// The receiver's stream's acknowledgement of one publish (see [`Links::publish_many`]).
pub type AckWait = futures::future::BoxFuture<'static, Result<(), TransportError>>;

type Chains = Arc<std::sync::Mutex<std::collections::HashMap<Party, Chain>>>;

/// Settles the publish that took `ticket` in `to`'s chain.
fn settle(chains: &Chains, to: Party, ticket: Ticket, outcome: Outcome) {
    if let Ok(mut all) = chains.lock() {
        all.entry(to).or_default().settle(ticket, outcome);
    }
}

/// A control request from the operator's CLI, with where to answer.
#[derive(Debug)]
pub struct ControlCall {
    /// The subject it came on.
    pub subject: String,
    /// Where to send the reply (absent if the caller wants none).
    pub reply_to: Option<async_nats::Subject>,
    /// The decoded requests with their signed actions, or why each could
    /// not be decoded: one, or a submit batch's in order.
    pub requests: Vec<Result<(ControlRequest, Option<Authorization>), DecodeError>>,
    /// A submit batch (`submit-batch`): answered with one
    /// [`encode_replies`](crate::control::batch::encode_replies) message,
    /// a reply per request ([`Links::reply_batch`]).
    pub batch: bool,
}

/// A control request on its verb's subject.
fn single_call(m: async_nats::Message) -> ControlCall {
    ControlCall {
        subject: m.subject.to_string(),
        reply_to: m.reply.clone(),
        requests: vec![decode_request(&m.subject, &m.payload)],
        batch: false,
    }
}

/// A submit batch: a message that cannot be read as one is a single error,
/// which answers every request the caller sent in it.
fn batch_call(m: async_nats::Message) -> ControlCall {
    ControlCall {
        subject: m.subject.to_string(),
        reply_to: m.reply.clone(),
        requests: crate::control::batch::decode_batch(&m.payload).unwrap_or_else(|e| vec![Err(e)]),
        batch: true,
    }
}

/// A node's connections: one per link, plus its own control connection.
pub struct Links {
    party: Party,
    /// `(peer, client, reconnected)` per link: `reconnected` counts
    /// the times that connection was established again.
    links: Vec<(Party, Client, super::Reconnections)>,
    /// `(peer, replicas)`: how many servers keep each link's inbound stream.
    replicas: Vec<(Party, usize)>,
    control: Client,
    dead_letters: DeadLetterBox,
    /// Per peer: where its stream stands ([`Chain`]).
    chains: Chains,
    /// Held from taking a place in a chain until the publish is handed to
    /// the connection, so publishes reach the wire in the order of their
    /// places (the actor and the track lane both publish).
    send_order: tokio::sync::Mutex<()>,
    /// Tells the inbound pumps to stop pulling and hand back what they
    /// hold ([`Links::stop_pumps`]).
    stop_pumps: tokio::sync::watch::Sender<bool>,
    /// The inbound pumps' tasks.
    pumps: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Whether the track streams are taken behind the lane ([`super::track_pump`]).
    paced_tracks: bool,
    /// What the pumps did.
    counts: Arc<super::track_pump::PumpCounts>,
}

impl Links {
    /// Connects every link (retrying until each broker answers; an error
    /// only if a broker refuses the credentials).
    pub async fn connect(party: Party, urls: &LinkUrls) -> Result<Links, TransportError> {
        let control = connect_with_retry(&urls.own, &format!("tisa-{}-control", party.lower())).await?;
        let mut links = Vec::new();
        let mut replicas = Vec::new();
        for (peer, _, _) in subjects::inbound(party) {
            // The link's own user (never the control user): the hub's for
            // each nation, a nation's for its one link with the hub.
            let nation = if party.is_hub() { peer } else { party };
            let url = if nation == Party::Kr { &urls.kr } else { &urls.jp };
            let name = format!("tisa-{}-link-{}", party.lower(), if party.is_hub() { peer.lower() } else { "us" });
            let reconnected: super::Reconnections = Arc::new(tokio::sync::watch::Sender::new(0));
            let client = connect_with_retry_notifying(url, &name, Some(reconnected.clone())).await?;
            links.push((peer, client, reconnected));
            replicas.push((peer, url.stream_replicas()));
        }
        let dead_letters = DeadLetterBox {
            js: async_nats::jetstream::new(control.clone()),
            party,
            replicas: urls.own.stream_replicas(),
        };
        Ok(Links {
            party,
            links,
            replicas,
            control,
            dead_letters,
            chains: Chains::default(),
            send_order: Default::default(),
            stop_pumps: tokio::sync::watch::Sender::new(false),
            pumps: Default::default(),
            paced_tracks: true,
            counts: Default::default(),
        })
    }

    /// Whether the track streams' copies are taken behind the real-time
    /// lane, in batches (on, the default), or as each is stored
    /// ([`super::track_pump`]). Before [`Links::subscribe`].
    pub fn pace_track_streams(mut self, on: bool) -> Links {
        self.paced_tracks = on;
        self
    }

    /// How many times a pump checked its stream and consumer after its
    /// link's connection came back (each of a link's two pumps once each).
    pub fn reconnections_checked(&self) -> u64 {
        self.counts.rechecks()
    }

    /// Whether the track streams' copies are taken behind the lane.
    pub fn paced_track_streams(&self) -> bool {
        self.paced_tracks
    }

    /// The track streams' copies taken, and the hand-overs they came in.
    pub fn track_stream_takes(&self) -> (u64, u64) {
        self.counts.takes()
    }

    /// Stops the inbound pumps: each stops pulling, hands what it holds
    /// back to the broker, and ends; returns once every one has (or after
    /// a few seconds). What they handed to the node before is the node's
    /// to hand back ([`crate::conn::inbound::hand_back`]).
    pub async fn stop_pumps(&self) {
        self.stop_pumps.send_replace(true);
        let tasks = self.pumps.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(Duration::from_secs(3), all).await.is_err() {
            warn!("an inbound pump did not stop in time; what it holds comes again after the acknowledgement wait");
        }
    }

    /// The stream of what this node receives from `peer`: the receiver
    /// owns it, in its own account.
    fn inbound_stream(&self, peer: Party) -> String {
        let (nation, dir) =
            if self.party.is_hub() { (peer, subjects::Direction::Up) } else { (self.party, subjects::Direction::Down) };
        stream_name(nation, dir)
    }

    /// The stream of the live track updates this node receives from `peer`.
    fn inbound_track_stream(&self, peer: Party) -> String {
        let (nation, dir) =
            if self.party.is_hub() { (peer, subjects::Direction::Up) } else { (self.party, subjects::Direction::Down) };
        track_stream_name(nation, dir)
    }

    /// Every stream of this node (inbound, two per link; its dead letters)
    /// as the broker's cluster sees it: replicas, leader, each replica's
    /// state. Asked of the broker concurrently, each within `timeout` (a
    /// stream whose info does not come says why).
    pub async fn streams_health(&self, timeout: Duration) -> Vec<StreamHealth> {
        let mut asks = Vec::new();
        for (peer, client, _) in &self.links {
            asks.push((self.inbound_stream(*peer), async_nats::jetstream::new(client.clone())));
            asks.push((self.inbound_track_stream(*peer), async_nats::jetstream::new(client.clone())));
        }
        asks.push((super::dead_letter_stream(self.party), self.dead_letters.js.clone()));
        futures::future::join_all(asks.into_iter().map(|(name, js)| async move {
            match tokio::time::timeout(timeout, js.get_stream(&name)).await {
                Ok(Ok(s)) => stream_health(name, s.cached_info()),
                Ok(Err(e)) => StreamHealth { name, error: e.to_string(), ..StreamHealth::default() },
                Err(_) => {
                    StreamHealth { name, error: format!("no answer within {timeout:?}"), ..StreamHealth::default() }
                }
            }
        }))
        .await
    }

    fn replicas_of(&self, peer: Party) -> usize {
        self.replicas.iter().find(|(p, _)| *p == peer).map_or(1, |(_, r)| *r)
    }

    /// The node's dead-letter stream.
    pub fn dead_letters(&self) -> &DeadLetterBox {
        &self.dead_letters
    }

    /// Subscribes to every inbound link subject and every control verb, and
    /// proves the subscriptions live. Returns the merged inbound stream, the
    /// control-call stream, the link-up stream (a link's peer, each
    /// time that link came back after a reconnection or had to set up its
    /// stream again: the broker may have lost what it held, reconcile), and
    /// the early copies of the peers' track updates, read off their subject
    /// as published (the real-time lane; their stream copies come on the
    /// inbound stream as usual).
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
            impl Stream<Item = Inbound> + Unpin + Send + use<>,
        ),
        TransportError,
    > {
        let (tx, rx) = tokio::sync::mpsc::channel::<Inbound>(256);
        let (up_tx, up_rx) = tokio::sync::mpsc::channel::<Party>(16);
        let mut early = Vec::new();
        for ((peer, nation, dir), (_, client, reconnected)) in
            subjects::inbound(self.party).into_iter().zip(&self.links)
        {
            // Two pumps per link: its link stream (in order), its track
            // stream (each track's latest updates).
            let streams = [
                (self.inbound_stream(peer), subjects::link_kinds(nation, dir), false),
                (self.inbound_track_stream(peer), subjects::track_all(nation, dir), true),
            ];
            // Each early copy nudges the link's paced track pump.
            let nudge = self.paced_tracks.then(|| Arc::new(Notify::new()));
            for (stream, subject, track) in streams {
                let pump = Pump {
                    js: async_nats::jetstream::new(client.clone()),
                    stream,
                    durable: subjects::durable(self.party),
                    subject,
                    peer,
                    replicas: self.replicas_of(peer),
                    track,
                    counts: self.counts.clone(),
                };
                // A reconnection from now on is this pump's to see.
                let reconnected = reconnected.subscribe();
                // The first setup must succeed before the node declares
                // itself ready. A cluster may still be electing its leaders
                // (it just started, or lost a server): retry for a while.
                let consumer = pump.setup_patiently(SETUP_PATIENCE).await?;
                let (tx, stop) = (tx.clone(), self.stop_pumps.subscribe());
                let task = match nudge.clone().filter(|_| track) {
                    Some(nudge) => tokio::spawn(pump.run_paced(consumer, nudge, reconnected, tx, stop)),
                    None => {
                        // A pull pending before the node declares itself ready.
                        let (consumer, first_seq) = consumer;
                        let messages = (pump.messages(&consumer).await?, first_seq);
                        tokio::spawn(pump.run(messages, reconnected, tx, up_tx.clone(), stop))
                    }
                };
                if let Ok(mut p) = self.pumps.lock() {
                    p.push(task);
                }
            }
            // The real-time lane: track updates as they are published.
            early.push(super::inbound::early_tracks(client, peer, subjects::track_all(nation, dir), nudge).await?);
        }
        let inbound = tokio_stream_of(rx);
        let link_ups = tokio_stream_of(up_rx);
        let mut calls = Vec::new();
        // A subject per verb, and the submit batch's.
        let single = single_call as fn(async_nats::Message) -> ControlCall;
        let control = subjects::VERBS
            .iter()
            .map(|verb| (subjects::control(self.party, verb), single))
            .chain([(subjects::submit_batch(self.party), batch_call as fn(async_nats::Message) -> ControlCall)]);
        for (subject, call) in control {
            let sub = self
                .control
                .subscribe(subject.clone())
                .await
                .map_err(|e| TransportError::Subscribe { subject: subject.clone(), reason: e.to_string() })?;
            calls.push(sub.map(call));
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
        Ok((inbound, stream::select_all(calls), link_ups, stream::select_all(early)))
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
                // A track update goes alone, on its own subject, where the
                // receiver's real-time lane reads it as it is published.
                let track = matches!(ts[i].envelope.payload, tisa_core::Payload::Track(_));
                if !group.is_empty() && (track || group.len() >= max || bytes + size > BATCH_BYTES) {
                    let g = std::mem::take(&mut group);
                    out.push(self.publish_group(ts, &encoded, g).await);
                    bytes = 0;
                }
                group.push(i);
                bytes += size;
                if track {
                    let g = std::mem::take(&mut group);
                    out.push(self.publish_group(ts, &encoded, g).await);
                    bytes = 0;
                }
            }
            if !group.is_empty() {
                out.push(self.publish_group(ts, &encoded, group).await);
            }
        }
        out
    }

    /// Whether a publish to `to` may go now: its stream's place is known,
    /// or nothing is in flight to it (the next publish finds out). While
    /// neither, a publish is held back ([`TransportError::HeldForOrder`]).
    pub fn ready_for(&self, to: Party) -> bool {
        self.chains.lock().map(|all| all.get(&to).is_none_or(Chain::ready)).unwrap_or(true)
    }

    /// Publishes one broker message carrying `ts[i]` for every `i` in `group` (same peer).
    async fn publish_group(&self, ts: &[Transmit], encoded: &[Vec<u8>], group: Vec<usize>) -> (Vec<usize>, AckWait) {
        let envs: Vec<(&Envelope, &[u8])> = group.iter().map(|i| (&ts[*i].envelope, encoded[*i].as_slice())).collect();
        let to = ts[group[0]].to;
        let sent = match envs.as_slice() {
            [(env, bytes)] if matches!(env.payload, tisa_core::Payload::Track(_)) => {
                self.publish_track(to, env, bytes).await
            }
            _ => self.publish_durable(to, &envs).await,
        };
        let wait: AckWait = match sent {
            Ok(ack) => ack,
            Err(e) => Box::pin(std::future::ready(Err(e))),
        };
        (group, wait)
    }

    /// Publishes a track update the real-time lane passed (`Transmit` of a
    /// [`tisa_core::Lane`]) into the receiver's track stream, as the
    /// committed path does ([`Links::publish_track`]; the stream keeps one
    /// copy, by message id). Returns the future of its acknowledgement.
    pub async fn publish_lane(&self, t: &Transmit) -> Result<AckWait, TransportError> {
        let bytes = encode_envelope(&t.envelope);
        self.publish_track(t.to, &t.envelope, &bytes).await
    }

    /// Publishes a track update on its track's own subject, into the
    /// receiver's track stream (its latest [`TRACK_KEEP`](super::TRACK_KEEP)
    /// updates per track), outside the link stream's chain: tracks are
    /// latest-wins and the receiver takes each update once, in whatever
    /// order, so nothing waits for order here, and nothing the link stream
    /// carries waits behind a track. Returns the future of its
    /// acknowledgement.
    async fn publish_track(&self, to: Party, env: &Envelope, bytes: &[u8]) -> Result<AckWait, TransportError> {
        let tisa_core::Payload::Track(t) = &env.payload else {
            return self.publish_durable(to, &[(env, bytes)]).await;
        };
        let (subject, client) =
            self.link_for(to, subjects::outbound_track(self.party, to, t.doc.track_id.as_str()), bytes.len(), || {
                format!("track envelope {} to {to}", env.message_id)
            })?;
        let (nation, dir) =
            if self.party.is_hub() { (to, subjects::Direction::Down) } else { (self.party, subjects::Direction::Up) };
        let stream = track_stream_name(nation, dir);
        let js = async_nats::jetstream::new(client.clone());
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(Bytes::copy_from_slice(bytes))
            .message_id(env.message_id.to_string());
        let ack = js.send_publish(subject.clone(), msg).await.map_err(|e| not_accepted(&stream, &subject, &e))?;
        Ok(Box::pin(async move {
            match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(not_accepted(&stream, &subject, &e)),
                Err(_) => Err(no_ack_in_time(stream, subject)),
            }
        }))
    }

    /// The connection of the link to `to` and the subject to publish on
    /// (`None`: no such link in the arrangement), once the payload's `size`
    /// is known to fit the broker's `max_payload`.
    fn link_for(
        &self,
        to: Party,
        subject: Option<String>,
        size: usize,
        what: impl FnOnce() -> String,
    ) -> Result<(String, &Client), TransportError> {
        let subject = subject.ok_or_else(|| TransportError::Publish {
            subject: format!("<{}→{}>", self.party, to),
            reason: "no such link in the arrangement".to_owned(),
        })?;
        let client = self.links.iter().find(|(peer, _, _)| *peer == to).map(|(_, c, _)| c).ok_or_else(|| {
            TransportError::Publish { subject: subject.clone(), reason: "no connection for this link".to_owned() }
        })?;
        let limit = client.server_info().max_payload;
        if limit > 0 && size > limit {
            return Err(TransportError::TooLarge { what: what(), size, limit });
        }
        Ok((subject, client))
    }

    /// Hands envelopes for `to` to its link's connection as one broker
    /// message (one envelope: on its kind's subject; several: a batch),
    /// chained after the ones before it ([`Chain`]); returns the future of
    /// its acknowledgement (an error after [`PUBLISH_ACK_TIMEOUT`]).
    async fn publish_durable(&self, to: Party, envs: &[(&Envelope, &[u8])]) -> Result<AckWait, TransportError> {
        let (kind, payload, msg_id) = match envs {
            [(one, bytes)] => (one.payload.kind(), bytes.to_vec(), one.message_id.to_string()),
            [(first, _), .., (last, _)] => (
                subjects::BATCH,
                batch_of(&envs.iter().map(|(_, b)| *b).collect::<Vec<_>>()),
                format!("{}+{}+{}", first.message_id, envs.len(), last.message_id),
            ),
            [] => return Err(TransportError::Publish { subject: "-".into(), reason: "nothing to publish".into() }),
        };
        // Durable: the receiver's stream acknowledges (deduplicating by message id).
        let (subject, client) = self.link_for(to, subjects::outbound(self.party, to, kind), payload.len(), || {
            format!("{kind} envelope {msg_id} to {to}")
        })?;
        let stream = receiving_stream(self.party, to).unwrap_or_default();
        let _order = self.send_order.lock().await;
        let (place, ticket) = {
            let mut all = self.chains.lock().map_err(|_| TransportError::HeldForOrder { peer: to })?;
            all.entry(to).or_default().place().ok_or(TransportError::HeldForOrder { peer: to })?
        };
        let js = async_nats::jetstream::new(client.clone());
        let mut msg =
            async_nats::jetstream::message::PublishMessage::build().payload(Bytes::from(payload)).message_id(msg_id);
        if let Place::After(last) = place {
            msg = msg.expected_last_sequence(last);
        }
        let sent = js.send_publish(subject.clone(), msg).await.map_err(|e| not_accepted(&stream, &subject, &e));
        let ack = match sent {
            Ok(ack) => ack,
            Err(e) => {
                settle(&self.chains, to, ticket, Outcome::Failed);
                return Err(e);
            }
        };
        let chains = self.chains.clone();
        Ok(Box::pin(async move {
            let r = match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                Ok(Ok(a)) if a.duplicate => Ok(Outcome::Duplicate),
                Ok(Ok(a)) => Ok(Outcome::Stored(a.sequence)),
                Ok(Err(e)) => Err(not_accepted(&stream, &subject, &e)),
                Err(_) => Err(no_ack_in_time(stream, subject)),
            };
            settle(&chains, to, ticket, r.as_ref().copied().unwrap_or(Outcome::Failed));
            r.map(|_| ())
        }))
    }

    /// Answers a control call. Callers check [`subjects::reply_allowed`]
    /// first (the broker refuses anything else too). An answer larger than
    /// the broker accepts is replaced by an error reply saying so: the
    /// caller hears why rather than waiting in vain.
    pub async fn reply(&self, to: async_nats::Subject, reply: &ControlReply) -> Result<(), TransportError> {
        self.answer(to, reply.encode(), |e| e.encode()).await
    }

    /// Answers a submit batch: its replies in one message, in order. One
    /// too large for the broker goes as a single error reply, which the
    /// caller takes as the answer to each request.
    pub async fn reply_batch(&self, to: async_nats::Subject, replies: &[ControlReply]) -> Result<(), TransportError> {
        use crate::control::batch::encode_replies;
        self.answer(to, encode_replies(replies), |e| encode_replies(std::slice::from_ref(e))).await
    }

    /// Publishes an encoded answer to `to`; one larger than the broker
    /// accepts goes as the error saying so, encoded by `error`.
    async fn answer(
        &self,
        to: async_nats::Subject,
        mut payload: Vec<u8>,
        error: impl FnOnce(&ControlReply) -> Vec<u8>,
    ) -> Result<(), TransportError> {
        let limit = self.max_payload();
        if limit > 0 && payload.len() > limit {
            warn!(
                size = payload.len(),
                limit, "control answer larger than the broker's max_payload; sent an error instead"
            );
            payload = error(&crate::control::fit::too_large(payload.len(), limit));
        }
        self.control
            .publish(to.clone(), Bytes::from(payload))
            .await
            .map_err(|e| TransportError::Publish { subject: to.to_string(), reason: e.to_string() })
    }

    /// The largest message the broker takes on the control connection (0: unknown).
    pub fn max_payload(&self) -> usize {
        self.control.server_info().max_payload
    }

    /// Publishes an event on `tisa.ctl.<party>.events`.
    pub async fn publish_event(&self, ev: &WatchEvent) -> Result<(), TransportError> {
        self.publish_events(std::slice::from_ref(ev)).await
    }

    /// Publishes events in order, as few broker messages as fit
    /// ([`EVENTS_PER_MESSAGE_BYTES`] each; an event larger than that goes alone).
    pub async fn publish_events(&self, events: &[WatchEvent]) -> Result<(), TransportError> {
        let subject = subjects::events(self.party);
        for chunk in event_chunks(events) {
            let bytes = WatchEvents(chunk.to_vec()).encode();
            self.control
                .publish(subject.clone(), Bytes::from(bytes))
                .await
                .map_err(|e| TransportError::Publish { subject: subject.clone(), reason: e.to_string() })?;
        }
        Ok(())
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

/// A stream's replication as its info reports it.
fn stream_health(name: String, info: &async_nats::jetstream::stream::Info) -> StreamHealth {
    let cluster = info.cluster.clone().unwrap_or_default();
    StreamHealth {
        name,
        replicas: u32::try_from(info.config.num_replicas).unwrap_or(u32::MAX),
        cluster: cluster.name.unwrap_or_default(),
        leader: cluster.leader.unwrap_or_default(),
        peers: cluster
            .replicas
            .into_iter()
            .map(|p| StreamPeer {
                name: p.name,
                current: p.current,
                offline: p.offline,
                lag: p.lag.unwrap_or(0),
                active_ms: u64::try_from(p.active.as_millis()).unwrap_or(u64::MAX),
            })
            .collect(),
        error: String::new(),
    }
}

/// A publish `stream` did not acknowledge within [`PUBLISH_ACK_TIMEOUT`].
fn no_ack_in_time(stream: String, subject: String) -> TransportError {
    TransportError::NotAccepted {
        stream,
        subject,
        reason: "no acknowledgement in time".into(),
        hint: "the broker or the link may be slow or down; the message is kept and retried every 2 s",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::decode_inbound;
    use tisa_core::{MessageId, Payload, Rejection, Timestamp, PROTOCOL_VERSION};

    fn env(n: u32) -> Envelope {
        Envelope {
            version: PROTOCOL_VERSION,
            message_id: MessageId::new(format!("US.1.{n}")).unwrap(),
            sender: Party::Us,
            sent_at: Timestamp(u64::from(n)),
            agreement: tisa_core::AgreementTag::default(),
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

/// At most about this many bytes of events in one message on the events subject
/// (far below any broker's `max_payload`).
pub const EVENTS_PER_MESSAGE_BYTES: usize = 32 * 1024;

/// `events` cut into consecutive runs of at most [`EVENTS_PER_MESSAGE_BYTES`]
/// encoded (a larger event alone); none if there are no events.
fn event_chunks(events: &[WatchEvent]) -> Vec<&[WatchEvent]> {
    use prost::Message as _;
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        let n = e.to_proto().encoded_len() + 4;
        if i > start && size + n > EVENTS_PER_MESSAGE_BYTES {
            out.push(&events[start..i]);
            (start, size) = (i, 0);
        }
        size += n;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

#[cfg(test)]
mod event_chunk_tests {
    use super::*;

    fn ev(detail_len: usize) -> WatchEvent {
        WatchEvent::bare("RECEIVED", tisa_core::Timestamp(1), "x".repeat(detail_len))
    }

    #[test]
    fn events_are_cut_into_messages_in_order_none_lost() {
        assert!(event_chunks(&[]).is_empty());
        let small: Vec<WatchEvent> = (0..1000).map(|i| ev(i % 200)).collect();
        let chunks = event_chunks(&small);
        assert!(chunks.len() > 1, "1000 events of up to 200 bytes do not fit one message");
        assert_eq!(chunks.concat(), small);
        for c in &chunks {
            let bytes = WatchEvents(c.to_vec()).encode();
            assert!(bytes.len() <= EVENTS_PER_MESSAGE_BYTES, "{}", bytes.len());
            assert_eq!(WatchEvents::decode(&bytes).unwrap().0, c.to_vec());
        }
        // One event larger than a message goes alone.
        let big = vec![ev(10), ev(EVENTS_PER_MESSAGE_BYTES * 2), ev(10)];
        assert_eq!(event_chunks(&big).iter().map(|c| c.len()).collect::<Vec<_>>(), vec![1, 1, 1]);
    }
}
