//! `tisa bench`: what the arrangement's guarantees cost, measured in one run
//! against raw NATS on the same machine.
//!
//! For each fsync setting (`sync_interval: always`, or nats-server's lazy
//! default of 2 minutes) it starts its own nats-server twice: a plain one
//! with JetStream for the raw baselines (driven by async-nats in this
//! process), and the generated secured deployment (`tisa broker config`,
//! three accounts) with three real `tisa node` processes for the tisa
//! paths, which this process drives as the operators do (over the control
//! subjects, signing with the approver keys like the CLI).
//!
//! Every figure is a ratio to its raw counterpart *in the same run*:
//! absolute figures on a shared machine are noise. For throughput the
//! ratio is tisa ÷ raw messages per second (≥ 1 means tisa is as fast); for
//! latency it is tisa ÷ raw at the same percentile (≤ 3 is the p50 target).
//!
//! The scale figures (time per decision, memory at 10k … 1M pending release
//! requests) are measured on KR's core and node store in a child process
//! (`--scale-child`), with the hub's core and store in another
//! (`--scale-hub`) over pipes, so each RSS is its own; plus the KR node's
//! RSS at the number of pending requests reached through the node
//! (`--node-pending`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::{stream, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tisa_core::{
    Category, Classification, Content, Decision, GeoPoint, Party, PartySet, ReportDraft, ReportId, RequestId,
    Sensitive, Timestamp, TrackDraft, TrackId,
};
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery, WatchEvent};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::natsd::{scratch_dir, NatsServer};

/// Payload size of every raw message and every report body.
const PAYLOAD: usize = 256;
/// Publishes in flight for the raw JetStream paths (as in issue #8).
const IN_FLIGHT: usize = 256;
/// Concurrent submits to the KR node in the throughput run (as many as the raw paths keep in flight).
const SUBMIT_CONCURRENCY: usize = IN_FLIGHT;
/// How long a path may go without progress before it is cut off and its
/// remainder counted as lost.
const STALL: Duration = Duration::from_secs(30);

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Print one JSON document (per path: msgs_per_s or latency percentiles,
    /// delivered, lost, and the tisa/raw ratio) instead of tables.
    #[arg(long)]
    json: bool,
    /// A smoke run with tiny sizes (seconds, not minutes): checks the shape, not the speed.
    #[arg(long)]
    quick: bool,
    /// Which broker fsync setting(s) to run every durable figure under:
    /// `always` (fsync before every acknowledgement), `lazy` (nats-server's 2-minute default), or `both`.
    #[arg(long, default_value = "both", value_parser = ["always", "lazy", "both"])]
    fsync: String,
    /// Reports KR submits in the tisa throughput run (under a standing approval) [default: 10000; --quick: 20].
    #[arg(long)]
    reports: Option<usize>,
    /// Messages in each raw core NATS throughput run (pub/sub, naive relay) [default: 200000; --quick: 500].
    #[arg(long)]
    raw_messages: Option<usize>,
    /// Messages in each raw JetStream throughput run (acked publish, durable relay)
    /// [default: 20000; --quick: 500].
    #[arg(long)]
    raw_js_messages: Option<usize>,
    /// Samples per latency path (tisa standing, raw 2-hop, tracks) [default: 1000; --quick: 10].
    #[arg(long)]
    latency_samples: Option<usize>,
    /// Samples of the manual path (operator approval → JP delivered) [default: 200; --quick: 5].
    #[arg(long)]
    manual_samples: Option<usize>,
    /// Pending release requests built up at the KR node before its RSS and decision time are measured
    /// [default: 100000; --quick: 20].
    #[arg(long)]
    node_pending: Option<usize>,
    /// Pending-request counts for the scale run (KR and hub cores with their node stores, no NATS), comma-separated
    /// [default: 10000,100000,1000000; --quick: 100,1000]. `0` skips it.
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<usize>>,
    /// Decisions timed at each scale size [default: 1000; --quick: 20].
    #[arg(long)]
    scale_decisions: Option<usize>,
    /// Internal: run one scale measurement (KR side) with this many pending requests and print it as JSON.
    #[arg(long, hide = true)]
    scale_child: Option<usize>,
    /// Internal: the hub's side of a scale measurement (frames over stdin/stdout).
    #[arg(long, hide = true)]
    scale_hub: bool,
}

struct Sizes {
    reports: usize,
    raw: usize,
    raw_js: usize,
    latency: usize,
    manual: usize,
    node_pending: usize,
    scale: Vec<usize>,
    scale_decisions: usize,
}

impl BenchArgs {
    fn sizes(&self) -> Sizes {
        let q = self.quick;
        Sizes {
            reports: self.reports.unwrap_or(if q { 20 } else { 10_000 }),
            raw: self.raw_messages.unwrap_or(if q { 500 } else { 200_000 }),
            raw_js: self.raw_js_messages.unwrap_or(if q { 500 } else { 20_000 }),
            latency: self.latency_samples.unwrap_or(if q { 10 } else { 1000 }),
            manual: self.manual_samples.unwrap_or(if q { 5 } else { 200 }),
            node_pending: self.node_pending.unwrap_or(if q { 20 } else { 100_000 }),
            scale: self.scale.clone().unwrap_or(if q { vec![100, 1000] } else { vec![10_000, 100_000, 1_000_000] }),
            scale_decisions: self.scale_decisions.unwrap_or(if q { 20 } else { 1000 }),
        }
    }
}

/// One measured path.
#[derive(Serialize, Debug, Clone, Default)]
pub struct PathResult {
    /// `raw/core_relay`, `tisa/standing_throughput`, …
    name: String,
    /// `always` or `lazy` (the broker's fsync setting during the run).
    fsync: String,
    /// `throughput` or `latency`.
    kind: &'static str,
    /// What was measured, in words.
    what: String,
    /// Messages (or reports, or updates) sent.
    sent: u64,
    /// How many arrived at the far end.
    delivered: u64,
    /// `sent - delivered`.
    lost: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msgs_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p999_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_us: Option<f64>,
    /// The raw counterpart the main ratio is taken against (tisa paths only).
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<String>,
    /// tisa ÷ raw: msgs/s for throughput, p50 for latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    /// tisa throughput only: how long the submits alone took (the KR node's intake).
    #[serde(skip_serializing_if = "Option::is_none")]
    submit_phase_s: Option<f64>,
    /// Every ratio: per baseline (throughput), or per percentile (latency).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ratios: BTreeMap<String, f64>,
}

/// Latency samples → percentiles (µs).
fn percentiles(mut v: Vec<Duration>) -> (usize, f64, f64, f64, f64) {
    v.sort();
    let n = v.len();
    let at = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        v[i].as_secs_f64() * 1e6
    };
    (n, at(0.50), at(0.99), at(0.999), at(1.0))
}

fn latency_result(name: &str, fsync: &str, what: &str, sent: usize, samples: Vec<Duration>) -> PathResult {
    let (n, p50, p99, p999, max) = percentiles(samples);
    PathResult {
        name: name.into(),
        fsync: fsync.into(),
        kind: "latency",
        what: what.into(),
        sent: sent as u64,
        delivered: n as u64,
        lost: (sent - n.min(sent)) as u64,
        samples: Some(n),
        p50_us: Some(p50),
        p99_us: Some(p99),
        p999_us: Some(p999),
        max_us: Some(max),
        ..Default::default()
    }
}

fn throughput_result(name: &str, fsync: &str, what: &str, sent: usize, delivered: usize, secs: f64) -> PathResult {
    PathResult {
        name: name.into(),
        fsync: fsync.into(),
        kind: "throughput",
        what: what.into(),
        sent: sent as u64,
        delivered: delivered as u64,
        lost: (sent - delivered.min(sent)) as u64,
        seconds: Some(secs),
        msgs_per_s: Some(if secs > 0.0 { delivered as f64 / secs } else { 0.0 }),
        ..Default::default()
    }
}

fn payload() -> Bytes {
    Bytes::from(vec![b'x'; PAYLOAD])
}

fn progress(json: bool, msg: impl AsRef<str>) {
    // Progress goes to stderr in both modes; stdout is the result.
    let _ = json;
    eprintln!("bench: {}", msg.as_ref());
}

// ---------------------------------------------------------------- raw NATS

/// A plain nats-server with JetStream under the given fsync setting.
struct RawServer {
    nats: NatsServer,
    dir: PathBuf,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_raw(bin: &Path, fsync_always: bool) -> Result<RawServer> {
    let dir = scratch_dir("bench-raw")?;
    let conf = dir.join("raw.conf");
    std::fs::write(
        &conf,
        format!(
            "jetstream {{\n  store_dir: {}\n  sync_interval: {}\n}}\n",
            serde_json::to_string(&dir.join("jetstream").to_string_lossy())?,
            if fsync_always { "always" } else { "2m" }
        ),
    )?;
    let nats = NatsServer::start(bin, &["-c", &conf.to_string_lossy()])?;
    Ok(RawServer { nats, dir })
}

async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Counts messages on `sub` until `n` arrived or nothing came for `quiet`;
/// returns the count and when the last one arrived.
async fn count_until(mut sub: async_nats::Subscriber, n: usize, quiet: Duration) -> (usize, Option<Instant>) {
    let mut got = 0;
    let mut last = None;
    while got < n {
        match tokio::time::timeout(quiet, sub.next()).await {
            Ok(Some(_)) => {
                got += 1;
                last = Some(Instant::now());
            }
            _ => break,
        }
    }
    (got, last)
}

async fn raw_core_pubsub(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
    let (publ, subc) = (connect(url).await?, connect(url).await?);
    let sub = subc.subscribe("raw.core").await?;
    live(&subc).await?;
    let counter = tokio::spawn(count_until(sub, n, Duration::from_secs(2)));
    let p = payload();
    let start = Instant::now();
    for _ in 0..n {
        publ.publish("raw.core", p.clone()).await?;
    }
    publ.flush().await?;
    let (got, last) = counter.await?;
    let secs = last.map_or(0.0, |l| (l - start).as_secs_f64());
    Ok(throughput_result("raw/core_pubsub", fsync, "core NATS publish → one subscriber", n, got, secs))
}

/// Proves every subscription made on `c` so far is live on the server
/// (`flush` does not: a publish from another connection right after it can be lost).
async fn live(c: &async_nats::Client) -> Result<()> {
    tisa_transport::prove_ready(c, tisa_core::Party::Us).await.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn raw_core_relay(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
    let (kr, us, jp) = (connect(url).await?, connect(url).await?, connect(url).await?);
    let sub_jp = jp.subscribe("raw.jp.down").await?;
    live(&jp).await?;
    let mut sub_us = us.subscribe("raw.kr.up").await?;
    live(&us).await?;
    let relay = tokio::spawn(async move {
        while let Some(m) = sub_us.next().await {
            if us.publish("raw.jp.down", m.payload).await.is_err() {
                break;
            }
        }
    });
    let counter = tokio::spawn(count_until(sub_jp, n, Duration::from_secs(2)));
    let p = payload();
    let start = Instant::now();
    for _ in 0..n {
        kr.publish("raw.kr.up", p.clone()).await?;
    }
    kr.flush().await?;
    let (got, last) = counter.await?;
    relay.abort();
    let secs = last.map_or(0.0, |l| (l - start).as_secs_f64());
    Ok(throughput_result(
        "raw/core_relay",
        fsync,
        "naive KR→US→JP relay over core NATS (no acks, no store)",
        n,
        got,
        secs,
    ))
}

async fn raw_latency(url: &str, samples: usize, fsync: &str) -> Result<PathResult> {
    let (kr, us, jp) = (connect(url).await?, connect(url).await?, connect(url).await?);
    let mut sub_jp = jp.subscribe("lat.jp.down").await?;
    live(&jp).await?;
    let mut sub_us = us.subscribe("lat.kr.up").await?;
    live(&us).await?;
    let relay = tokio::spawn(async move {
        while let Some(m) = sub_us.next().await {
            if us.publish("lat.jp.down", m.payload).await.is_err() {
                break;
            }
            let _ = us.flush().await;
        }
    });
    // Warm up the path (and prove both subscriptions live) before timing.
    let p = payload();
    loop {
        kr.publish("lat.kr.up", p.clone()).await?;
        kr.flush().await?;
        if tokio::time::timeout(Duration::from_millis(200), sub_jp.next()).await.is_ok() {
            break;
        }
    }
    let mut v = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        kr.publish("lat.kr.up", p.clone()).await?;
        kr.flush().await?;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(2), sub_jp.next()).await {
            v.push(t.elapsed());
        }
    }
    relay.abort();
    Ok(latency_result("raw/core_2hop_latency", fsync, "one message at a time KR→US→JP over core NATS", samples, v))
}

async fn make_stream(
    js: &async_nats::jetstream::Context,
    name: &str,
    subject: &str,
) -> Result<async_nats::jetstream::stream::Stream> {
    use async_nats::jetstream::stream;
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating stream {name}"))
}

/// Publishes `n` messages on `subject` with acks, `IN_FLIGHT` at a time; returns how many were acked.
async fn publish_acked(js: &async_nats::jetstream::Context, subject: &str, n: usize) -> Result<usize> {
    let p = payload();
    let mut acks = futures::stream::FuturesUnordered::new();
    let mut acked = 0;
    for _ in 0..n {
        if acks.len() >= IN_FLIGHT {
            if let Some(r) = acks.next().await {
                acked += usize::from(matches!(r, Ok(Ok(_))));
            }
        }
        let fut = js.publish(subject.to_owned(), p.clone()).await?;
        acks.push(tokio::time::timeout(Duration::from_secs(10), fut.into_future()));
    }
    while let Some(r) = acks.next().await {
        acked += usize::from(matches!(r, Ok(Ok(_))));
    }
    Ok(acked)
}

async fn raw_js_publish(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
    let client = connect(url).await?;
    let js = async_nats::jetstream::new(client);
    make_stream(&js, "RAW_JS", "raw.js").await?;
    let start = Instant::now();
    let acked = publish_acked(&js, "raw.js", n).await?;
    let secs = start.elapsed().as_secs_f64();
    let _ = js.delete_stream("RAW_JS").await;
    Ok(throughput_result(
        "raw/js_publish",
        fsync,
        "JetStream acknowledged publish, file store, 256 in flight",
        n,
        acked,
        secs,
    ))
}

async fn pull(
    stream: &async_nats::jetstream::stream::Stream,
    durable: &str,
) -> Result<async_nats::jetstream::consumer::pull::Stream> {
    use async_nats::jetstream::consumer;
    let c: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(durable.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: 10_000,
            ..Default::default()
        })
        .await?;
    Ok(c.messages().await?)
}

async fn raw_durable_relay(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
    let (kr, us, jp) = (connect(url).await?, connect(url).await?, connect(url).await?);
    let (js_kr, js_us, js_jp) =
        (async_nats::jetstream::new(kr), async_nats::jetstream::new(us), async_nats::jetstream::new(jp));
    let up = make_stream(&js_us, "RAW_KR_UP", "raw.durable.kr.up").await?;
    let down = make_stream(&js_jp, "RAW_JP_DOWN", "raw.durable.jp.down").await?;
    // The hub: pull from KR's stream, republish into JP's with ack, and only then ack the source.
    let mut hub_in = pull(&up, "us-hub").await?;
    let hub = tokio::spawn(async move {
        let mut pending = futures::stream::FuturesUnordered::new();
        loop {
            tokio::select! {
                Some(m) = hub_in.next(), if pending.len() < IN_FLIGHT => {
                    let Ok(m) = m else { continue };
                    let Ok(fut) = js_us.publish("raw.durable.jp.down", m.payload.clone()).await else { continue };
                    pending.push(async move {
                        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), fut.into_future()).await {
                            let _ = m.ack().await;
                        }
                    });
                }
                Some(()) = pending.next(), if !pending.is_empty() => {}
                else => break,
            }
        }
    });
    let mut jp_in = pull(&down, "jp").await?;
    let counter = tokio::spawn(async move {
        let mut got = 0usize;
        let mut last = None;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(5), jp_in.next()).await {
                Ok(Some(Ok(m))) => {
                    let _ = m.ack().await;
                    got += 1;
                    last = Some(Instant::now());
                }
                Ok(Some(Err(_))) => {}
                _ => break,
            }
        }
        (got, last)
    });
    let start = Instant::now();
    publish_acked(&js_kr, "raw.durable.kr.up", n).await?;
    let (got, last) = counter.await?;
    hub.abort();
    let secs = last.map_or(0.0, |l| (l - start).as_secs_f64());
    let _ = js_kr.delete_stream("RAW_KR_UP").await;
    let _ = js_kr.delete_stream("RAW_JP_DOWN").await;
    Ok(throughput_result(
        "raw/nats_durable_relay",
        fsync,
        "durable relay from NATS alone: KR→stream, hub pulls, republishes with ack, then acks; JP pulls",
        n,
        got,
        secs,
    ))
}

// ---------------------------------------------------------------- tisa

/// What one node's watch stream has shown, with when it arrived here.
struct Watch {
    task: tokio::task::JoinHandle<()>,
    rx: mpsc::UnboundedReceiver<(Instant, WatchEvent)>,
    seen: HashMap<(String, String, u32), (Instant, WatchEvent)>,
    counts: HashMap<String, usize>,
}

impl Watch {
    async fn start(c: &Cluster, party: Party) -> Result<Watch> {
        let client = operator(c, party).await?;
        let mut events = client.watch().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Some(ev) = events.next().await {
                if let Ok(ev) = ev {
                    if tx.send((Instant::now(), ev)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Watch { task, rx, seen: HashMap::new(), counts: HashMap::new() })
    }

    fn take(&mut self, at: Instant, ev: WatchEvent, keep: bool) {
        *self.counts.entry(ev.kind.clone()).or_default() += 1;
        if keep {
            let key = (ev.kind.clone(), ev.report_id.clone().unwrap_or_default(), ev.revision);
            self.seen.entry(key).or_insert((at, ev));
        }
    }

    /// Waits (up to `timeout`) for event `kind` about `id` (revision `rev`, 0 = any first).
    async fn wait(&mut self, kind: &str, id: &str, rev: u32, timeout: Duration) -> Option<(Instant, WatchEvent)> {
        let key = (kind.to_owned(), id.to_owned(), rev);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.seen.remove(&key) {
                return Some(v);
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, ev))) => self.take(at, ev, true),
                _ => return None,
            }
        }
    }

    /// Waits until `n` events of `kind` have been seen in total, or nothing new for `STALL`.
    async fn wait_count(&mut self, kind: &str, n: usize) -> usize {
        loop {
            let have = self.counts.get(kind).copied().unwrap_or(0);
            if have >= n {
                return have;
            }
            match tokio::time::timeout(STALL, self.rx.recv()).await {
                Ok(Some((at, ev))) => self.take(at, ev, false),
                _ => return have,
            }
        }
    }

    /// Stops watching (closes the connection before the broker goes away).
    fn stop(self) {
        self.task.abort();
    }

    /// Forgets everything seen so far.
    fn clear(&mut self) {
        while let Ok((at, ev)) = self.rx.try_recv() {
            self.take(at, ev, false);
        }
        self.seen.clear();
    }
}

async fn operator(c: &Cluster, party: Party) -> Result<ControlClient> {
    Ok(ControlClient::connect(&c.cli_endpoint(party)?, party, Duration::from_secs(120)).await?)
}

async fn ask(c: &ControlClient, req: ControlRequest) -> Result<ControlReply> {
    match c.call(&req).await? {
        ControlReply::Error { code, message } => bail!("refused: {message} [{code}]"),
        r => Ok(r),
    }
}

fn draft(category: Category, i: usize) -> ReportDraft {
    ReportDraft {
        category,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect::<PartySet>(),
        content: Content {
            title: Sensitive::new(format!("bench report {i}")),
            body: Sensitive::new("x".repeat(PAYLOAD)),
            tearline: None,
            source: Sensitive::new("bench"),
        },
        corrects: None,
        submitted_by: String::new(),
        source_key: None,
    }
}

async fn submit(c: &ControlClient, d: ReportDraft) -> Result<String> {
    match ask(c, ControlRequest::Submit(d)).await? {
        ControlReply::Submitted(s) => Ok(s.header.id.to_string()),
        other => bail!("unexpected reply {other:?}"),
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn now_ms() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// KR's standing grant to JP for NK_MISSILE up to SECRET, waited for until the hub holds it.
async fn standing_grant(c: &Cluster) -> Result<String> {
    let key = crate::keys::load(&c.approver_key(Party::Kr, false))?;
    let doc = tisa_core::sign::GrantDoc {
        grant_id: format!("KR-G-BENCH-{:08x}", rand::random::<u32>()),
        originator: Party::Kr,
        recipient: Party::Jp,
        categories: vec![Category::NkMissile],
        max_classification: Classification::Secret,
        tearline_only: false,
        issued_at: now_ms(),
        not_after: None,
        operator: key.identity.name().to_owned(),
    };
    let id = doc.grant_id.clone();
    ask(&operator(c, Party::Kr).await?, ControlRequest::Grant(key.identity.sign(doc.to_bytes()))).await?;
    let us = operator(c, Party::Us).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let ControlReply::Grants(items) = ask(&us, ControlRequest::Grants(ListQuery::default())).await? {
            if items.iter().any(|g| g.grant.doc.grant_id == id && !g.revoked) {
                return Ok(id);
            }
        }
        if Instant::now() > deadline {
            bail!("the hub did not receive the standing grant within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every report id in JP's inbox, with when JP committed it.
async fn jp_inbox(c: &Cluster) -> Result<HashMap<String, Timestamp>> {
    let jp = operator(c, Party::Jp).await?;
    let mut out = HashMap::new();
    let mut after = None;
    loop {
        let r =
            ask(&jp, ControlRequest::Inbox(ListQuery { after: after.clone(), limit: 200, report_id: None })).await?;
        let ControlReply::Inbox(tisa_core::Page { items, next_after: next }) = r else { bail!("not an inbox") };
        for e in items {
            out.insert(e.delivery.header.id.to_string(), e.received_at);
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

struct TisaRun {
    paths: Vec<PathResult>,
    nodes: Value,
}

async fn tisa_paths(bin: &Path, nats_bin: &Path, fsync_always: bool, s: &Sizes, json: bool) -> Result<TisaRun> {
    let fsync = if fsync_always { "always" } else { "lazy" };
    let mut paths = Vec::new();
    // Start: the generated secured deployment (three accounts, nkeys), one broker.
    let opts = crate::broker::Options { fsync_always, ..crate::broker::Options::shared(crate::DEFAULT_NATS_URL) };
    let (bin2, nats2) = (bin.to_owned(), nats_bin.to_owned());
    let t = Instant::now();
    let mut c =
        tokio::task::spawn_blocking(move || Cluster::start_generated(&bin2, &nats2, &opts, |_| Vec::new(), &[]))
            .await??;
    let cluster_start = t.elapsed();
    progress(json, format!("[{fsync}] cluster up in {:.0} ms", cluster_start.as_secs_f64() * 1e3));

    let grant = standing_grant(&c).await?;
    let wait = Duration::from_secs(30);
    {
        // One report end to end, so that every node has logged an input (a node that has
        // logged none cannot restart today: its empty audit.head is "malformed").
        let mut jp_watch = Watch::start(&c, Party::Jp).await?;
        let id = submit(&operator(&c, Party::Kr).await?, draft(Category::NkMissile, 0)).await?;
        jp_watch.wait("RECEIVED", &id, 1, wait).await.context("the warm-up report did not reach JP")?;
    }
    // Startup-to-ready per node: stop each cleanly (SIGTERM), then time a start from
    // process spawn to the readiness line (one logged input to replay); then idle RSS.
    let mut startup = serde_json::Map::new();
    let mut idle = serde_json::Map::new();
    for p in Party::ALL {
        tokio::task::block_in_place(|| c.node(p).terminate(Duration::from_secs(30)))?;
        let t = Instant::now();
        tokio::task::block_in_place(|| c.node(p).restart(Duration::from_secs(30)))?;
        startup.insert(p.code().into(), json!(t.elapsed().as_secs_f64() * 1e3));
    }
    // Let every node settle (connections, probes) before reading its idle RSS.
    for p in Party::ALL {
        ask(&operator(&c, p).await?, ControlRequest::Health).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in Party::ALL {
        let kb = c.node(p).pid().and_then(rss_kb);
        idle.insert(p.code().into(), json!(kb.map(|k| k as f64 / 1024.0)));
    }
    let kr = operator(&c, Party::Kr).await?;
    let key = crate::keys::load(&c.approver_key(Party::Kr, false))?;
    let mut jp_watch = Watch::start(&c, Party::Jp).await?;
    let mut kr_watch = Watch::start(&c, Party::Kr).await?;

    // End-to-end latency under the standing grant: one report at a time.
    progress(json, format!("[{fsync}] tisa latency under a standing grant ({} reports)", s.latency));
    let mut v = Vec::new();
    for i in 0..s.latency {
        let t = Instant::now();
        let id = submit(&kr, draft(Category::NkMissile, i)).await?;
        if let Some((at, _)) = jp_watch.wait("RECEIVED", &id, 1, wait).await {
            v.push(at - t);
        }
    }
    paths.push(latency_result(
        "tisa/standing_latency",
        fsync,
        "KR submit → JP delivered (committed, RECEIVED event), standing grant, one at a time",
        s.latency,
        v,
    ));

    // Live missile track updates: KR feed → JP watch.
    progress(json, format!("[{fsync}] tisa track updates ({} updates)", s.latency));
    let track = TrackId::new(format!("KR-T-BENCH-{fsync}"))?;
    let mut v = Vec::new();
    for seq in 1..=s.latency as u32 {
        let t0 = 1_716_820_330_000u64;
        let d = TrackDraft {
            track_id: track.clone(),
            seq,
            classification: Classification::Secret,
            releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
            launch: GeoPoint { lat_e6: 39_030_000, lon_e6: 125_750_000 },
            launched_at: Timestamp(t0),
            position: GeoPoint { lat_e6: 39_500_000 + (seq as i32 % 1000) * 1000, lon_e6: 126_000_000 },
            altitude_m: 100_000,
            observed_at: Timestamp(t0 + u64::from(seq) * 100),
            impact: Some(GeoPoint { lat_e6: 40_800_000, lon_e6: 135_200_000 }),
        };
        let t = Instant::now();
        ask(&kr, ControlRequest::Track(d)).await?;
        if let Some((at, _)) = jp_watch.wait("TRACK", track.as_str(), seq, wait).await {
            v.push(at - t);
        }
    }
    paths.push(latency_result(
        "tisa/track_latency",
        fsync,
        "KR track update (signed) → JP watch TRACK event, standing grant, one at a time",
        s.latency,
        v,
    ));

    // The manual path: a report the grant does not cover (NK_NUCLEAR) waits for KR's
    // operator; time from the approval (draft, sign, decide) to JP's delivery.
    progress(json, format!("[{fsync}] tisa manual approvals ({})", s.manual));
    let mut v = Vec::new();
    let mut decide = Vec::new();
    for i in 0..s.manual {
        let id = submit(&kr, draft(Category::NkNuclear, i)).await?;
        let Some((_, ev)) = kr_watch.wait("RELEASE_REQUESTED", &id, 1, wait).await else { continue };
        let Some(rq) = ev.request_id else { continue };
        let t = Instant::now();
        crate::commands::sign_and_decide(&kr, &key, RequestId::new(rq)?, Decision::ApproveFull).await?;
        decide.push(t.elapsed());
        if let Some((at, _)) = jp_watch.wait("RECEIVED", &id, 1, wait).await {
            v.push(at - t);
        }
    }
    paths.push(latency_result(
        "tisa/manual_latency",
        fsync,
        "KR operator approval (draft, sign, decide) → JP delivered, one at a time",
        s.manual,
        v,
    ));
    paths.push(latency_result(
        "tisa/decision_call",
        fsync,
        "KR operator's decision round trips alone (draft + decide replies), few pending",
        s.manual,
        decide,
    ));

    // Throughput: a burst of reports under the standing grant.
    progress(json, format!("[{fsync}] tisa throughput ({} reports under a standing grant)", s.reports));
    jp_watch.clear();
    let before = jp_watch.counts.get("RECEIVED").copied().unwrap_or(0);
    let start_ms = now_ms();
    let start = Instant::now();
    let ids: Vec<Result<String>> = stream::iter(0..s.reports)
        .map(|i| submit(&kr, draft(Category::NkMissile, i)))
        .buffer_unordered(SUBMIT_CONCURRENCY)
        .collect()
        .await;
    let submitted: HashSet<String> = ids.into_iter().filter_map(Result::ok).collect();
    let submit_secs = start.elapsed().as_secs_f64();
    jp_watch.wait_count("RECEIVED", before + s.reports).await;
    let inbox = jp_inbox(&c).await?;
    let times: Vec<u64> = submitted.iter().filter_map(|id| inbox.get(id)).map(|t| t.as_millis()).collect();
    let last = times.iter().max().copied().unwrap_or(start_ms.as_millis());
    let secs = (last.saturating_sub(start_ms.as_millis()) as f64 / 1e3).max(1e-3);
    let mut r = throughput_result(
        "tisa/standing_throughput",
        fsync,
        "KR→US→JP reports under a standing grant: durable, signed, policy-checked (JP inbox commit times)",
        s.reports,
        times.len(),
        secs,
    );
    r.submit_phase_s = Some(submit_secs);
    paths.push(r);

    // Scale through the node: build up pending requests at KR, then its RSS and decision time.
    progress(json, format!("[{fsync}] {} pending release requests at the KR node", s.node_pending));
    kr_watch.clear();
    let requested_before = kr_watch.counts.get("RELEASE_REQUESTED").copied().unwrap_or(0);
    let t = Instant::now();
    let ids: Vec<String> = stream::iter(0..s.node_pending)
        .map(|i| submit(&kr, draft(Category::NkNuclear, i)))
        .buffer_unordered(SUBMIT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let reached = kr_watch.wait_count("RELEASE_REQUESTED", requested_before + s.node_pending).await - requested_before;
    let build_s = t.elapsed().as_secs_f64();
    let rss = c.node(Party::Kr).pid().and_then(rss_kb);
    let sample: Vec<&String> = ids.iter().step_by((ids.len() / 20).max(1)).collect();
    let mut decide = Vec::new();
    for id in sample {
        // The request id is derived from report, revision and recipient.
        let rq = RequestId::for_release(&ReportId::new(id.clone())?, 1, Party::Jp);
        let t = Instant::now();
        if crate::commands::sign_and_decide(&kr, &key, rq, Decision::ApproveFull).await.is_ok() {
            decide.push(t.elapsed());
        }
    }
    let (n, p50, p99, _, _) = percentiles(decide);
    let nodes = json!({
        "cluster_start_ms": cluster_start.as_secs_f64() * 1e3,
        "startup_to_ready_ms": startup,
        "idle_rss_mb": idle,
        "grant_id": grant,
        "pending": {
            "requested": s.node_pending,
            "reached": reached,
            "build_s": build_s,
            "kr_rss_mb": rss.map(|k| k as f64 / 1024.0),
            "decisions_timed": n,
            "decision_p50_us": p50,
            "decision_p99_us": p99,
        },
    });
    jp_watch.stop();
    kr_watch.stop();
    drop(kr);
    // Give the aborted watchers a moment to close their connections before the broker stops.
    tokio::task::yield_now().await;
    drop(c);
    Ok(TisaRun { paths, nodes })
}

// ---------------------------------------------------------------- scale (in-process core)

#[derive(Serialize, Debug)]
struct ScaleResult {
    pending: usize,
    build_s: f64,
    decisions: usize,
    decision_mean_us: f64,
    decision_p50_us: f64,
    decision_p99_us: f64,
    pending_page_us: f64,
    rss_mb_before: f64,
    /// The KR process: its core and its node store (bodies on disk, redb's cache).
    rss_mb: f64,
    /// The hub's process (its core and store), holding the same reports and requests.
    hub_rss_mb: f64,
    /// KR's store on disk (input log not included: the scale run logs no inputs).
    kr_store_mb: f64,
}

/// One frame of envelopes between the scale child (KR) and its hub
/// process: the sender's `now`, then each envelope as its subject kind and
/// its wire encoding. A frame with `u32::MAX` envelopes asks the hub for
/// its RSS (answered in `now`).
fn write_frame(w: &mut impl std::io::Write, now: u64, envs: &[tisa_core::Envelope]) -> std::io::Result<()> {
    w.write_all(&now.to_le_bytes())?;
    w.write_all(&(envs.len() as u32).to_le_bytes())?;
    for e in envs {
        let kind = e.payload.kind().as_bytes();
        let bytes = tisa_transport::encode_envelope(e);
        w.write_all(&[kind.len() as u8])?;
        w.write_all(kind)?;
        w.write_all(&(bytes.len() as u32).to_le_bytes())?;
        w.write_all(&bytes)?;
    }
    w.flush()
}

/// Reads a frame: `(now, envelopes)`, or `None` at the end of the input;
/// `(now, None)` for an RSS request.
#[allow(clippy::type_complexity)]
fn read_frame(r: &mut impl std::io::Read) -> Result<Option<(u64, Option<Vec<tisa_core::Envelope>>)>> {
    let mut b8 = [0u8; 8];
    match r.read_exact(&mut b8) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    let mut b4 = [0u8; 4];
    r.read_exact(&mut b4)?;
    let n = u32::from_le_bytes(b4);
    if n == u32::MAX {
        return Ok(Some((u64::from_le_bytes(b8), None)));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut k = [0u8; 1];
        r.read_exact(&mut k)?;
        let mut kind = vec![0u8; k[0] as usize];
        r.read_exact(&mut kind)?;
        r.read_exact(&mut b4)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(b4) as usize];
        r.read_exact(&mut bytes)?;
        let subject = format!("bench.{}", String::from_utf8_lossy(&kind));
        out.push(tisa_transport::decode_envelope(&subject, &bytes)?);
    }
    Ok(Some((u64::from_le_bytes(b8), Some(out))))
}

/// A core as a node runs it (bodies outside, in a node store in `dir`):
/// applies nothing itself; [`ScaleNode::drain`] writes what it stashed and
/// returns its transmits, filled from the store.
struct ScaleNode {
    core: tisa_core::Node,
    store: tisa_node::store::Store,
    commits: u32,
}

impl ScaleNode {
    fn new(party: Party, policy: tisa_core::Policy, identity: tisa_core::Identity, dir: &Path) -> Result<ScaleNode> {
        let core = tisa_core::Node::new(party, policy, 1, identity)?.keep_bodies_outside();
        Ok(ScaleNode { core, store: tisa_node::store::Store::open(dir)?, commits: 0 })
    }

    fn drain(&mut self, events: &mut Vec<tisa_core::Event>) -> Result<Vec<tisa_core::Transmit>> {
        let stashes: Vec<_> = std::iter::from_fn(|| self.core.poll_stash()).collect();
        self.store.stage_bodies(stashes)?;
        self.commits += 1;
        if self.commits.is_multiple_of(64) {
            // A node makes its writes durable with every input's commit; so does this.
            self.store.sync()?;
        }
        let mut out = Vec::new();
        while let Some(mut t) = self.core.poll_transmit() {
            if let Some(k) = t.body.clone() {
                let body = self.store.body(&k)?.with_context(|| format!("no body {k}"))?;
                t.fill(&body)?;
            }
            out.push(t);
        }
        events.extend(std::iter::from_fn(|| self.core.poll_event()));
        Ok(out)
    }
}

/// The hub's side of a scale measurement (`--scale-hub`): a US core fed
/// KR's envelopes over stdin, answering over stdout; what it forwards to JP
/// is built (bodies filled) and dropped.
fn scale_hub() -> Result<()> {
    let dir = PathBuf::from(std::env::var("TISA_SCALE_DIR").context("TISA_SCALE_DIR")?);
    let policy = crate::agreement::load(Some(&dir.join("agreement.toml")))?.policy;
    let key = crate::keys::load(&dir.join("us-node.key"))?;
    let mut us = ScaleNode::new(Party::Us, policy, key.identity, &dir.join("us"))?;
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::new(stdin.lock());
    let stdout = std::io::stdout();
    let mut output = std::io::BufWriter::new(stdout.lock());
    while let Some((now, envs)) = read_frame(&mut input)? {
        let Some(envs) = envs else {
            write_frame(&mut output, rss_kb(std::process::id()).unwrap_or(0), &[])?;
            continue;
        };
        for e in envs {
            us.core.handle_message(Timestamp(now), Party::Kr, e);
        }
        let mut events = Vec::new();
        let back: Vec<_> =
            us.drain(&mut events)?.into_iter().filter(|t| t.to == Party::Kr).map(|t| t.envelope).collect();
        write_frame(&mut output, now, &back)?;
    }
    Ok(())
}

/// One scale measurement: a KR core as its node runs it (bodies in its
/// store on disk), with the hub's core in a process of its own over pipes
/// (so that each RSS is its own). `n` reports submitted at KR
/// (NK_NUCLEAR, no grant) and routed, so KR holds `n` pending release
/// requests; then `decisions` of them decided (decision document,
/// signature, `decide` at KR, the hub's verification and forward — its body
/// read back from the hub's store — and KR's progress), each timed.
fn scale_child(n: usize, decisions: usize) -> Result<ScaleResult> {
    use std::io::BufRead as _;
    use tisa_core::Event;
    let dir = scratch_dir("bench-scale")?;
    let agreement = crate::keys::generate_deployment(&dir, crate::agreement::DEFAULT)?;
    if agreement != dir.join("agreement.toml") {
        std::fs::copy(&agreement, dir.join("agreement.toml"))?;
    }
    let policy = crate::agreement::load(Some(&agreement))?.policy;
    let kr_key = crate::keys::load(&dir.join("kr-node.key"))?;
    let approver = crate::keys::load(&dir.join("kr-approver.key"))?;
    let self_rss = || rss_kb(std::process::id()).map_or(0.0, |k| k as f64 / 1024.0);
    let rss_before = self_rss();
    let mut hub = HubChild(
        std::process::Command::new(std::env::current_exe()?)
            .args(["bench", "--scale-hub"])
            .env("TISA_SCALE_DIR", &dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting the scale hub")?,
    );
    let mut to_hub = std::io::BufWriter::new(hub.0.stdin.take().context("hub stdin")?);
    let mut from_hub = std::io::BufReader::new(hub.0.stdout.take().context("hub stdout")?);
    let mut kr = ScaleNode::new(Party::Kr, policy, kr_key.identity, &dir.join("kr"))?;
    let mut now = now_ms();
    // Everything KR sends goes to the hub; everything the hub answers comes back, until quiet.
    let mut route = |kr: &mut ScaleNode, now: Timestamp, events: &mut Vec<Event>| -> Result<()> {
        loop {
            let out: Vec<_> = kr.drain(events)?.into_iter().map(|t| t.envelope).collect();
            if out.is_empty() {
                return Ok(());
            }
            write_frame(&mut to_hub, now.as_millis(), &out)?;
            let (_, back) = read_frame(&mut from_hub)?.context("the scale hub stopped")?;
            for e in back.unwrap_or_default() {
                kr.core.handle_message(now, Party::Us, e);
            }
        }
    };
    let every = (n / decisions.max(1)).max(1);
    let mut sample = Vec::new();
    let mut events = Vec::new();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        // A burst of submits, then one exchange with the hub (as a node's group commit would).
        now = Timestamp(now.as_millis() + 1);
        for _ in 0..256.min(n - i) {
            let id = ReportId::new(format!("KR-{i:012}"))?;
            kr.core.submit(now, id, draft(Category::NkNuclear, i))?;
            i += 1;
        }
        route(&mut kr, now, &mut events)?;
        for ev in events.drain(..) {
            if let Event::ReleaseRequested { request } = ev {
                let k = request.report_id.as_str().trim_start_matches("KR-").parse::<usize>().unwrap_or(1);
                if k % every == 0 && sample.len() < decisions {
                    sample.push(request.request_id);
                }
            }
        }
    }
    let build_s = t.elapsed().as_secs_f64();
    kr.store.sync()?;
    let rss = self_rss();
    let t = Instant::now();
    let page = kr.core.pending(now, None, 100)?;
    let pending_page_us = t.elapsed().as_secs_f64() * 1e6;
    if page.items.len() < 100.min(n) {
        bail!("only {} pending requests were built up", page.items.len());
    }
    let mut times = Vec::new();
    for rq in sample {
        now = Timestamp(now.as_millis() + 1);
        let t = Instant::now();
        let doc =
            kr.core.decision_doc(now, &rq, tisa_core::sign::Verdict::ApproveFull, "", approver.identity.name())?;
        kr.core.decide(now, approver.identity.sign(doc.to_bytes()))?;
        route(&mut kr, now, &mut events)?;
        events.clear();
        times.push(t.elapsed());
    }
    write_frame(&mut to_hub, 0, &[]).ok();
    // The RSS request: a frame whose count is u32::MAX.
    {
        use std::io::Write as _;
        to_hub.write_all(&0u64.to_le_bytes())?;
        to_hub.write_all(&u32::MAX.to_le_bytes())?;
        to_hub.flush()?;
    }
    let _ = read_frame(&mut from_hub)?; // the empty answer to the empty frame
    let hub_rss = read_frame(&mut from_hub)?.map_or(0.0, |(kb, _)| kb as f64 / 1024.0);
    drop(to_hub);
    let _ = from_hub.fill_buf();
    let _ = hub.0.wait();
    let disk_mb = dir_size(&dir.join("kr")) as f64 / 1048576.0;
    let _ = std::fs::remove_dir_all(&dir);
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len().max(1) as f64 * 1e6;
    let (k, p50, p99, _, _) = percentiles(times);
    Ok(ScaleResult {
        pending: n,
        build_s,
        decisions: k,
        decision_mean_us: mean,
        decision_p50_us: p50,
        decision_p99_us: p99,
        pending_page_us,
        rss_mb_before: rss_before,
        rss_mb: rss,
        hub_rss_mb: hub_rss,
        kr_store_mb: disk_mb,
    })
}

/// The scale run's hub process: killed if the run ends early (an error),
/// reaped either way.
struct HubChild(std::process::Child);

impl Drop for HubChild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn run_scale(sizes: &[usize], decisions: usize, json: bool) -> Result<Vec<Value>> {
    let exe = std::env::current_exe()?;
    let mut out = Vec::new();
    for &n in sizes.iter().filter(|n| **n > 0) {
        progress(json, format!("scale: {n} pending requests (KR and hub cores with their stores, no NATS)"));
        let o = std::process::Command::new(&exe)
            .args(["bench", "--scale-child", &n.to_string(), "--scale-decisions", &decisions.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running the scale child")?;
        if !o.status.success() {
            bail!("scale child for {n} failed ({})", o.status);
        }
        out.push(serde_json::from_slice(&o.stdout).context("the scale child's output")?);
    }
    Ok(out)
}

// ---------------------------------------------------------------- the run

fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn machine(nats_bin: &Path, load_at_start: Option<String>) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_owned())
    });
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    let nats = std::process::Command::new(nats_bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "mem_gb": mem.map(|k| (k as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "nats_server": nats,
        "network": "loopback",
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": loadavg(),
        "payload_bytes": PAYLOAD,
    })
}

fn find<'a>(paths: &'a [PathResult], name: &str, fsync: &str) -> Option<&'a PathResult> {
    paths.iter().find(|p| p.name == name && p.fsync == fsync)
}

/// Fills in every tisa path's ratios to its raw counterparts.
fn ratios(paths: &mut [PathResult]) {
    let snapshot = paths.to_vec();
    for p in paths.iter_mut().filter(|p| p.name.starts_with("tisa/")) {
        let f = p.fsync.clone();
        if p.kind == "throughput" {
            let mine = p.msgs_per_s.unwrap_or(0.0);
            for (key, name, fsync) in [
                ("nats_durable_relay", "raw/nats_durable_relay", f.as_str()),
                ("raw_js_publish", "raw/js_publish", f.as_str()),
                ("raw_core_relay", "raw/core_relay", f.as_str()),
                ("raw_core_pubsub", "raw/core_pubsub", f.as_str()),
                ("nats_durable_relay_lazy", "raw/nats_durable_relay", "lazy"),
            ] {
                if key == "nats_durable_relay_lazy" && f != "always" {
                    continue;
                }
                if let Some(raw) = find(&snapshot, name, fsync).and_then(|r| r.msgs_per_s).filter(|r| *r > 0.0) {
                    p.ratios.insert(key.into(), mine / raw);
                }
            }
            p.baseline = Some("raw/nats_durable_relay".into());
            p.ratio = p.ratios.get("nats_durable_relay").copied();
        } else if p.name != "tisa/decision_call" {
            if let Some(raw) = find(&snapshot, "raw/core_2hop_latency", &f) {
                for (key, mine, theirs) in
                    [("p50", p.p50_us, raw.p50_us), ("p99", p.p99_us, raw.p99_us), ("p999", p.p999_us, raw.p999_us)]
                {
                    if let (Some(a), Some(b)) = (mine, theirs) {
                        if b > 0.0 && a.is_finite() {
                            p.ratios.insert(key.into(), a / b);
                        }
                    }
                }
                p.baseline = Some("raw/core_2hop_latency".into());
                p.ratio = p.ratios.get("p50").copied();
            }
        }
    }
}

fn targets(paths: &[PathResult], nodes: &BTreeMap<String, Value>, scale: &[Value]) -> Vec<Value> {
    let mut t = Vec::new();
    let mut add = |what: String, value: Option<f64>, op: &str, limit: f64| {
        let met = value.map(|v| if op == ">=" { v >= limit } else { v <= limit });
        t.push(json!({"target": what, "value": value, "op": op, "limit": limit, "met": met}));
    };
    for f in ["always", "lazy"] {
        if let Some(p) = find(paths, "tisa/standing_throughput", f) {
            add(
                format!("[{f}] tisa throughput with 0 lost ÷ NATS-only durable relay"),
                p.ratio.filter(|_| p.lost == 0),
                ">=",
                1.0,
            );
            if f == "always" {
                add(
                    "[always] stretch: tisa throughput ÷ NATS-only durable relay with lazy fsync".into(),
                    p.ratios.get("nats_durable_relay_lazy").copied(),
                    ">=",
                    1.0,
                );
            }
        }
    }
    if let Some(p) = find(paths, "tisa/standing_latency", "lazy") {
        add("[lazy] end-to-end p50 ÷ raw 2-hop p50".into(), p.ratios.get("p50").copied(), "<=", 3.0);
        add("[lazy] end-to-end p99 (ms)".into(), p.p99_us.map(|v| v / 1e3), "<=", 2.0);
    }
    if let Some(p) = find(paths, "tisa/manual_latency", "lazy") {
        add("[lazy] approval → delivery p50 (ms)".into(), p.p50_us.map(|v| v / 1e3), "<=", 1.0);
    }
    if let Some(p) = find(paths, "tisa/track_latency", "lazy") {
        add("[lazy] missile track p99 (ms)".into(), p.p99_us.map(|v| v / 1e3), "<=", 5.0);
    }
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    if let (Some(first), Some(last)) = (scale.first(), scale.last()) {
        let n = get(last, "pending").unwrap_or(0.0);
        add(format!("KR RSS (core + store) at {n} pending (MB)"), get(last, "rss_mb"), "<=", 200.0);
        if let (Some(a), Some(b)) = (get(first, "decision_p50_us"), get(last, "decision_p50_us")) {
            add(
                format!("per-decision p50 at {n} ÷ at {} pending (flat: ≤ 1.5)", get(first, "pending").unwrap_or(0.0)),
                Some(b / a),
                "<=",
                1.5,
            );
        }
    }
    for (f, n) in nodes {
        if let Some(idle) = n.get("idle_rss_mb").and_then(Value::as_object) {
            let max =
                idle.values().filter_map(Value::as_f64).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            add(format!("[{f}] node idle RSS, largest of three (MB)"), max, "<=", 30.0);
        }
    }
    t
}

fn fmt(v: Option<f64>, scale: f64, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.*}", prec, v / scale),
        _ => "-".into(),
    }
}

fn print_tables(doc: &Value, paths: &[PathResult]) {
    let m = &doc["machine"];
    println!(
        "tisa bench — {} cores ({}), {}, {}, {}-byte payloads",
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        m["nats_server"].as_str().unwrap_or("nats-server ?"),
        m["network"].as_str().unwrap_or(""),
        PAYLOAD
    );
    println!("ratios are tisa ÷ raw within this run (throughput: ≥ 1 is as fast; latency: lower is better)\n");
    println!(
        "{:<26} {:<6} {:>9} {:>9} {:>7} {:>12}  ratio",
        "throughput", "fsync", "sent", "delivered", "lost", "msgs/s"
    );
    for p in paths.iter().filter(|p| p.kind == "throughput") {
        let ratios = p.ratios.iter().map(|(k, v)| format!("{k}={v:.3}")).collect::<Vec<_>>().join(" ");
        println!(
            "{:<26} {:<6} {:>9} {:>9} {:>7} {:>12}  {}",
            p.name,
            p.fsync,
            p.sent,
            p.delivered,
            p.lost,
            fmt(p.msgs_per_s, 1.0, 0),
            ratios
        );
    }
    println!(
        "\n{:<26} {:<6} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9}  ratio (÷ raw 2-hop)",
        "latency", "fsync", "samples", "lost", "p50 µs", "p99 µs", "p999 µs", "max µs"
    );
    for p in paths.iter().filter(|p| p.kind == "latency") {
        let ratios = p.ratios.iter().map(|(k, v)| format!("{k}={v:.2}")).collect::<Vec<_>>().join(" ");
        println!(
            "{:<26} {:<6} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9}  {}",
            p.name,
            p.fsync,
            p.samples.unwrap_or(0),
            p.lost,
            fmt(p.p50_us, 1.0, 0),
            fmt(p.p99_us, 1.0, 0),
            fmt(p.p999_us, 1.0, 0),
            fmt(p.max_us, 1.0, 0),
            ratios
        );
    }
    if let Some(nodes) = doc["nodes"].as_object() {
        println!("\nnodes (fsync: startup-to-ready ms KR/US/JP; idle RSS MB KR/US/JP; KR at N pending)");
        for (f, n) in nodes {
            let three = |k: &str, prec: usize| {
                Party::ALL.iter().map(|p| fmt(n[k][p.code()].as_f64(), 1.0, prec)).collect::<Vec<_>>().join("/")
            };
            let pd = &n["pending"];
            println!(
                "  {f:<6} startup {} ms; idle RSS {} MB; {} pending (of {}) built in {} s: KR RSS {} MB, decision p50 {} µs p99 {} µs",
                three("startup_to_ready_ms", 0),
                three("idle_rss_mb", 1),
                pd["reached"],
                pd["requested"],
                fmt(pd["build_s"].as_f64(), 1.0, 1),
                fmt(pd["kr_rss_mb"].as_f64(), 1.0, 1),
                fmt(pd["decision_p50_us"].as_f64(), 1.0, 0),
                fmt(pd["decision_p99_us"].as_f64(), 1.0, 0),
            );
        }
    }
    if let Some(scale) = doc["scale"].as_array().filter(|s| !s.is_empty()) {
        println!("\nscale: KR core + node store (bodies on disk) and the hub's in processes of their own, no NATS");
        println!(
            "{:>10} {:>9} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
            "pending", "build s", "decision µs", "p50 µs", "p99 µs", "page µs", "KR RSS MB", "hub RSS", "KR disk MB"
        );
        for s in scale {
            println!(
                "{:>10} {:>9} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
                s["pending"].as_u64().unwrap_or(0),
                fmt(s["build_s"].as_f64(), 1.0, 1),
                fmt(s["decision_mean_us"].as_f64(), 1.0, 0),
                fmt(s["decision_p50_us"].as_f64(), 1.0, 0),
                fmt(s["decision_p99_us"].as_f64(), 1.0, 0),
                fmt(s["pending_page_us"].as_f64(), 1.0, 0),
                fmt(s["rss_mb"].as_f64(), 1.0, 1),
                fmt(s["hub_rss_mb"].as_f64(), 1.0, 1),
                fmt(s["kr_store_mb"].as_f64(), 1.0, 0),
            );
        }
    }
    if let Some(t) = doc["targets"].as_array() {
        println!("\ntargets");
        for x in t {
            let met = match x["met"].as_bool() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            println!(
                "  {:<7} {} = {} ({} {})",
                met,
                x["target"].as_str().unwrap_or(""),
                fmt(x["value"].as_f64(), 1.0, 3),
                x["op"].as_str().unwrap_or(""),
                x["limit"]
            );
        }
    }
}

/// `tisa bench`.
pub async fn run(a: BenchArgs) -> Result<ExitCode> {
    let s = a.sizes();
    if a.scale_hub {
        return tokio::task::block_in_place(scale_hub).map(|()| ExitCode::SUCCESS);
    }
    if let Some(n) = a.scale_child {
        let r = tokio::task::block_in_place(|| scale_child(n, s.scale_decisions))?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let bin = std::env::current_exe().context("locating the tisa binary")?;
    let nats_bin = crate::natsd::locate_or_install()?;
    let settings: Vec<bool> = match a.fsync.as_str() {
        "always" => vec![true],
        "lazy" => vec![false],
        _ => vec![true, false],
    };
    let started = Instant::now();
    let load_at_start = loadavg();
    let mut paths = Vec::new();
    let mut nodes = BTreeMap::new();
    for &always in &settings {
        let f = if always { "always" } else { "lazy" };
        progress(a.json, format!("[{f}] raw NATS baselines ({} core, {} JetStream messages)", s.raw, s.raw_js));
        {
            let raw = start_raw(&nats_bin, always)?;
            let url = raw.nats.url().to_owned();
            paths.push(raw_core_pubsub(&url, s.raw, f).await?);
            paths.push(raw_core_relay(&url, s.raw, f).await?);
            paths.push(raw_latency(&url, s.latency, f).await?);
            paths.push(raw_js_publish(&url, s.raw_js, f).await?);
            paths.push(raw_durable_relay(&url, s.raw_js, f).await?);
        }
        let run = tisa_paths(&bin, &nats_bin, always, &s, a.json).await?;
        paths.extend(run.paths);
        nodes.insert(f.to_owned(), run.nodes);
    }
    let scale = if s.scale.iter().any(|n| *n > 0) {
        tokio::task::block_in_place(|| run_scale(&s.scale, s.scale_decisions, a.json))?
    } else {
        Vec::new()
    };
    ratios(&mut paths);
    let targets = targets(&paths, &nodes, &scale);
    let doc = json!({
        "machine": machine(&nats_bin, load_at_start),
        "quick": a.quick,
        "sizes": {
            "reports": s.reports, "raw_messages": s.raw, "raw_js_messages": s.raw_js, "latency_samples": s.latency,
            "manual_samples": s.manual, "node_pending": s.node_pending, "scale": s.scale,
            "scale_decisions": s.scale_decisions,
        },
        "elapsed_s": started.elapsed().as_secs_f64(),
        "paths": paths,
        "nodes": nodes,
        "scale": scale,
        "scale_note": "KR's core and node store (report bodies on disk, redb cache 32 MiB) in one process, the hub's in \
    another, over pipes (no NATS), one pair per size; each RSS is that process's whole resident set",
        "targets": targets,
    });
    if a.json {
        println!("{doc}");
    } else {
        print_tables(&doc, &paths);
    }
    Ok(ExitCode::SUCCESS)
}
