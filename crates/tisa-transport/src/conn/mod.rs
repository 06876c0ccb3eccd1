//! NATS connections: where and as whom to connect, with retry and backoff,
//! and readiness probes.
//!
//! - [`links`]: a node's connections ([`Links`]): its links (publishing,
//!   batches, acknowledgements), its control subscription and events.
//! - [`inbound`]: what arrives on a link ([`Inbound`]), the receiver's
//!   stream and durable consumer, and the pump that feeds the node.
//! - `chain`: where a sender's publishes stand in its peer's stream (order through failovers).
//! - [`track_pump`]: a link's track stream, taken behind the real-time lane.
//! - [`deadletter`]: a node's dead-letter stream ([`DeadLetterBox`]).
//! - [`control_client`]: the operator's client ([`ControlClient`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event as NatsEvent};
use bytes::Bytes;
use futures::StreamExt;
use tisa_core::Party;
use tracing::{debug, error, info, warn};

use crate::error::TransportError;
use crate::subjects;

mod chain;
pub mod control_client;
pub mod deadletter;
pub mod inbound;
pub mod links;
pub mod order;
pub mod track_pump;

pub use control_client::{sign_action, sign_submission, wall_clock, ControlClient, Signer};
pub use deadletter::{dead_letter_stream, DeadLetterBox, DEAD_LETTER_MAX};
pub use inbound::{receiving_stream, stream_name, track_stream_name, Ack, Inbound, InboundMeta, ACK_WAIT, TRACK_KEEP};
pub use links::{AckWait, ControlCall, Links, BATCH_BYTES, BATCH_MAX, PUBLISH_ACK_TIMEOUT, SEND_WINDOW};

/// How long readiness probes may take before we call the broker unresponsive.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom to connect. Its `Debug` never shows the seed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// NATS URL, or several separated by commas (the servers of one
    /// JetStream cluster: the client picks one and moves to another when
    /// it fails).
    pub url: String,
    /// The user's nkey seed (`SU…`), if the broker requires authentication.
    pub nkey_seed: Option<String>,
    /// The user's private request/reply inbox prefix (e.g. `_INBOX_kr_cli`),
    /// so no other user can read its replies.
    pub inbox_prefix: Option<String>,
    /// A CA certificate (PEM) to trust for the broker's TLS certificate; when
    /// set, the connection must use TLS.
    pub tls_ca: Option<std::path::PathBuf>,
    /// How many servers of the broker's cluster keep each stream (and
    /// consumer) created through this connection; 0 or 1: one server.
    pub replicas: usize,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "<redacted>"))
            .field("inbox_prefix", &self.inbox_prefix)
            .field("tls_ca", &self.tls_ca)
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl Endpoint {
    /// An unauthenticated endpoint.
    pub fn open(url: impl Into<String>) -> Endpoint {
        Endpoint { url: url.into(), ..Endpoint::default() }
    }

    /// The servers to try: every URL of the comma-separated list.
    pub fn servers(&self) -> Vec<&str> {
        self.url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
    }

    /// The replica count of the streams created through this connection (at least 1).
    pub fn stream_replicas(&self) -> usize {
        self.replicas.max(1)
    }
}

/// The latest permissions violation the broker reported on a connection
/// (async-nats 0.51 tells them only to its event callback).
pub(crate) type Violations = tokio::sync::watch::Sender<Option<String>>;

/// Counts a connection's reconnections: each of a link's pumps watches it
/// (its own receiver), so that every one of them sees each reconnection
/// (a `Notify` woke only one of a link's two pumps).
pub(crate) type Reconnections = Arc<tokio::sync::watch::Sender<u64>>;

/// Connection options; `reconnected` (if any) counts every time the
/// connection is established again, so the link can check its streams and
/// reconcile with its peer.
pub(crate) fn options_notifying(name: &str, ep: &Endpoint, reconnected: Option<Reconnections>) -> ConnectOptions {
    options_with(name, ep, reconnected, None)
}

/// [`options_notifying`], also telling `violations` (if any) of every
/// permissions violation the broker reports.
fn options_with(
    name: &str,
    ep: &Endpoint,
    reconnected: Option<Reconnections>,
    violations: Option<Violations>,
) -> ConnectOptions {
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
            let violations = violations.clone();
            async move {
                use std::sync::atomic::Ordering;
                match ev {
                    NatsEvent::Connected => {
                        info!(connection = %link, "connected to NATS");
                        if let Some(n) = reconnected.filter(|_| was_down.swap(false, Ordering::SeqCst)) {
                            n.send_modify(|count| *count += 1);
                        }
                    }
                    NatsEvent::Disconnected => {
                        was_down.store(true, Ordering::SeqCst);
                        warn!(connection = %link, "disconnected from NATS; reconnecting")
                    }
                    // Permission violations surface only here (async-nats 0.51).
                    NatsEvent::ServerError(e) => match (&violations, &e) {
                        // Told to the caller, whose request fails naming it.
                        (Some(v), async_nats::ServerError::Other(msg))
                            if msg.to_lowercase().contains("permissions violation") =>
                        {
                            debug!(connection = %link, error = %e, "NATS server error");
                            v.send_replace(Some(msg.clone()));
                        }
                        _ => error!(connection = %link, error = %e, "NATS server error"),
                    },
                    NatsEvent::SlowConsumer(sid) => warn!(connection = %link, sid, "slow consumer: messages dropped"),
                    other => debug!(connection = %link, event = %other, "NATS event"),
                }
            }
        })
}

/// Connects once (no retry): for the CLI, which should fail fast.
pub async fn connect_once(ep: &Endpoint, name: &str) -> Result<Client, TransportError> {
    connect_watching(ep, name, None).await
}

/// [`connect_once`], telling `violations` of the broker's permissions violations.
pub(crate) async fn connect_watching(
    ep: &Endpoint,
    name: &str,
    violations: Option<Violations>,
) -> Result<Client, TransportError> {
    options_with(name, ep, None, violations)
        .connect(ep.servers().as_slice())
        .await
        .map_err(|e| connect_error(ep, name, &e))
}

/// Credentials the broker refuses are a configuration error, never a
/// transient one: said with what to check.
fn connect_error(ep: &Endpoint, name: &str, e: &async_nats::ConnectError) -> TransportError {
    use async_nats::ConnectErrorKind::{Authentication, AuthorizationViolation};
    match e.kind() {
        AuthorizationViolation | Authentication => {
            TransportError::Unauthorized { url: ep.url.clone(), name: name.to_owned(), reason: e.to_string() }
        }
        _ => TransportError::Connect { url: ep.url.clone(), reason: e.to_string() },
    }
}

/// Connects, retrying with exponential backoff (100 ms … 5 s) until the
/// broker answers. Logs every failed attempt; gives up only when the broker
/// refuses the credentials (callers race it against shutdown).
pub async fn connect_with_retry(ep: &Endpoint, name: &str) -> Result<Client, TransportError> {
    connect_with_retry_notifying(ep, name, None).await
}

pub(crate) async fn connect_with_retry_notifying(
    ep: &Endpoint,
    name: &str,
    reconnected: Option<Reconnections>,
) -> Result<Client, TransportError> {
    let url = &ep.url;
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    loop {
        match options_notifying(name, ep, reconnected.clone()).connect(ep.servers().as_slice()).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                if let refused @ TransportError::Unauthorized { .. } = connect_error(ep, name, &e) {
                    return Err(refused);
                }
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
    /// The party's own broker, as the node's control user.
    pub own: Endpoint,
    /// The US–KR link's user and broker (the hub's, or KR's node's own link user).
    pub kr: Endpoint,
    /// The US–JP link's user and broker (the hub's, or JP's node's own link user).
    pub jp: Endpoint,
}
