//! The raw NATS baselines: the same traffic as tisa's paths, driven by
//! async-nats against a plain nats-server with JetStream (no tisa).

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use tisa_kit::natsd::{scratch_dir, NatsServer};

use crate::{
    cpu_now, cpu_per_msg, io_per_msg, latency_result, payload, proc_io, throughput_result, PathResult, IN_FLIGHT,
};

/// A plain nats-server with JetStream under the given fsync setting.
pub(crate) struct RawServer {
    pub(crate) nats: NatsServer,
    dir: PathBuf,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn start_raw(bin: &Path, fsync_always: bool) -> Result<RawServer> {
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

pub(crate) async fn raw_core_pubsub(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
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

pub(crate) async fn raw_core_relay(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
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

pub(crate) async fn raw_latency(url: &str, samples: usize, pace: Option<Duration>, fsync: &str) -> Result<PathResult> {
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
    let mut pacer = crate::pace::Pacer::new(pace);
    for _ in 0..samples {
        pacer.next().await;
        let t = Instant::now();
        kr.publish("lat.kr.up", p.clone()).await?;
        kr.flush().await?;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(2), sub_jp.next()).await {
            v.push(t.elapsed());
        }
    }
    relay.abort();
    Ok(PathResult {
        started_apart_min_us: pacer.least_apart_us(),
        ..latency_result("raw/core_2hop_latency", fsync, "one message at a time KR→US→JP over core NATS", samples, v)
    })
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

pub(crate) async fn raw_js_publish(url: &str, n: usize, fsync: &str) -> Result<PathResult> {
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

pub(crate) async fn raw_durable_relay(url: &str, nats_pid: u32, n: usize, fsync: &str) -> Result<PathResult> {
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
    let procs = [("nats_server", Some(nats_pid)), ("bench", Some(std::process::id()))];
    let cpu_before = cpu_now(&procs);
    let io_before = proc_io(nats_pid);
    let start = Instant::now();
    publish_acked(&js_kr, "raw.durable.kr.up", n).await?;
    let (got, last) = counter.await?;
    let cpu = cpu_per_msg(&cpu_before, &cpu_now(&procs), got);
    let io = io_per_msg(&io_before, &proc_io(nats_pid), got);
    hub.abort();
    let secs = last.map_or(0.0, |l| (l - start).as_secs_f64());
    let _ = js_kr.delete_stream("RAW_KR_UP").await;
    let _ = js_kr.delete_stream("RAW_JP_DOWN").await;
    let mut r = throughput_result(
        "raw/nats_durable_relay",
        fsync,
        "durable relay from NATS alone: KR→stream, hub pulls, republishes with ack, then acks; JP pulls",
        n,
        got,
        secs,
    );
    r.cpu_us_per_msg = cpu;
    r.broker_io_per_msg = io;
    Ok(r)
}
