//! Raw NATS connections (not tisa nodes): to forge, replay and capture wire
//! messages, and to attack a deployment with some party's credentials. Each
//! runs its own small tokio runtime so that synchronous tests can use it
//! (so: never create or drop one inside an async test).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use bytes::Bytes;
use futures::StreamExt;
use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_transport::subjects::{inbox_prefix, Role};

use super::wait::wait_for;

/// A raw NATS client with its own runtime; server errors (permission
/// violations) are collected.
pub struct RawNats {
    pub client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
    rt: tokio::runtime::Runtime,
}

/// Messages captured on one subject (or wildcard).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<(String, Bytes)>>>);

impl Capture {
    /// Records one message (for captures fed by other clients).
    pub fn push(&self, subject: String, payload: Bytes) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((subject, payload));
    }

    /// Payloads captured so far, in arrival order.
    pub fn payloads(&self) -> Vec<Bytes> {
        self.messages().into_iter().map(|(_, p)| p).collect()
    }

    /// `(subject, payload)` of every message captured so far, in arrival order.
    pub fn messages(&self) -> Vec<(String, Bytes)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether any payload contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.messages().iter().any(|(_, p)| String::from_utf8_lossy(p).contains(needle))
    }

    /// How many messages arrived on subjects containing `subject_part`.
    pub fn on(&self, subject_part: &str) -> usize {
        self.messages().iter().filter(|(s, _)| s.contains(subject_part)).count()
    }

    /// Messages on `subject_part` other than the reader's own (`own` marks their payload).
    pub fn others_on(&self, subject_part: &str, own: &str) -> usize {
        self.messages()
            .iter()
            .filter(|(s, p)| s.contains(subject_part) && !String::from_utf8_lossy(p).contains(own))
            .count()
    }
}

/// Whether `haystack` contains the bytes of `needle`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    !n.is_empty() && haystack.windows(n.len()).any(|w| w == n)
}

/// Credentials of a generated user of a secured cluster: `(seed, inbox prefix)`.
pub fn creds(c: &Cluster, seed_file: &str, party: Party, role: Role) -> (String, String) {
    let dir = c.broker_dir.as_ref().expect("a secured cluster");
    let seed = std::fs::read_to_string(dir.join(seed_file)).unwrap_or_else(|e| panic!("{seed_file}: {e}"));
    (seed.trim().to_owned(), inbox_prefix(party, role))
}

impl RawNats {
    /// Connects to `url` without credentials; panics if refused.
    pub fn connect(url: &str) -> RawNats {
        RawNats::try_connect(url, None, None).unwrap_or_else(|e| panic!("raw connect to {url}: {e}"))
    }

    /// Connects to `url`, with `creds` (see [`creds`]) and trusting `ca` if
    /// given; the server's refusal as text.
    pub fn try_connect(url: &str, creds: Option<(String, String)>, ca: Option<&Path>) -> Result<RawNats, String> {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
        let errors = Arc::new(Mutex::new(Vec::new()));
        let errs = errors.clone();
        let mut opts = ConnectOptions::new().connection_timeout(Duration::from_secs(5)).event_callback(move |ev| {
            let errs = errs.clone();
            async move {
                if let Event::ServerError(e) = ev {
                    errs.lock().unwrap_or_else(|e| e.into_inner()).push(e.to_string());
                }
            }
        });
        if let Some((seed, inbox)) = creds {
            opts = opts.nkey(seed).custom_inbox_prefix(inbox);
        }
        if let Some(ca) = ca {
            opts = opts.add_root_certificates(ca.to_owned()).require_tls(true);
        }
        let client = rt.block_on(opts.connect(url)).map_err(|e| format!("{e} ({:?})", e.kind()))?;
        Ok(RawNats { client, errors, rt })
    }

    /// Proves that everything this connection sent so far has been processed
    /// by the server (its SUBs are live, its PUBs routed): the server handles
    /// one connection's protocol in order. The probe is `party`'s.
    pub fn sync_as(&self, party: Party) {
        self.rt
            .block_on(tisa_transport::prove_ready(&self.client, party))
            .unwrap_or_else(|e| panic!("raw NATS sync: {e}"));
    }

    /// [`RawNats::sync_as`] the hub (an open server).
    pub fn sync(&self) {
        self.sync_as(Party::Us);
    }

    /// Publishes `payload` on `subject` and [`RawNats::sync`]s.
    pub fn publish(&self, subject: &str, payload: impl Into<Bytes>) {
        self.publish_unsynced(subject, payload);
        self.sync();
    }

    /// Publishes without waiting for the server (it may refuse: see [`RawNats::wait_error`]).
    pub fn publish_unsynced(&self, subject: &str, payload: impl Into<Bytes>) {
        let payload = payload.into();
        self.rt
            .block_on(self.client.publish(subject.to_owned(), payload))
            .unwrap_or_else(|e| panic!("raw publish on {subject}: {e}"));
    }

    /// Flushes what this connection wrote.
    pub fn flush(&self) {
        self.rt.block_on(self.client.flush()).unwrap_or_else(|e| panic!("raw flush: {e}"));
    }

    /// Starts capturing every message on `subject`; live once the server
    /// has processed the subscription (see [`RawNats::sync_as`]).
    pub fn capture_unsynced(&self, subject: &str) -> Capture {
        let mut sub = self
            .rt
            .block_on(self.client.subscribe(subject.to_owned()))
            .unwrap_or_else(|e| panic!("raw subscribe to {subject}: {e}"));
        let cap = Capture::default();
        let store = cap.0.clone();
        self.rt.spawn(async move {
            while let Some(m) = sub.next().await {
                store.lock().unwrap_or_else(|e| e.into_inner()).push((m.subject.to_string(), m.payload));
            }
        });
        cap
    }

    /// Starts capturing every message on `subject`; live when this returns.
    pub fn capture(&self, subject: &str) -> Capture {
        let cap = self.capture_unsynced(subject);
        self.sync();
        cap
    }

    /// A request; `Ok(payload)` if anyone answered within 2 s.
    pub fn request(&self, subject: &str) -> Result<String, String> {
        self.requests(&[subject]).remove(0)
    }

    /// Several requests at once, each `Ok(payload)` if answered within 2 s.
    pub fn requests(&self, subjects: &[&str]) -> Vec<Result<String, String>> {
        let calls = subjects.iter().map(|s| {
            let fut = self.client.request(s.to_string(), Bytes::new());
            async move {
                match tokio::time::timeout(Duration::from_secs(2), fut).await {
                    Ok(Ok(m)) => Ok(String::from_utf8_lossy(&m.payload).into_owned()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                }
            }
        });
        self.rt.block_on(futures::future::join_all(calls))
    }

    /// Waits (up to [`super::WAIT`]) until a server error containing `needle` arrived.
    pub fn wait_error(&self, needle: &str) -> Vec<String> {
        wait_for(&format!("a server error containing {needle:?}"), || {
            let errs = self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
            errs.iter().any(|e| e.to_lowercase().contains(needle)).then_some(errs)
        })
    }
}
