//! # tisa-bench
//!
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
//!
//! Modules: `raw` (the raw NATS baselines), `floor` (the serial steps
//! alone), `tisa_paths` (tisa's paths and the nodes' figures), `scale` (the
//! in-process core at scale), `report` (ratios, targets, tables); this file
//! holds the options, the result type and the run.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

mod ab;
mod floor;
mod pace;
mod raw;
mod report;
mod scale;
mod timeline;
mod tisa_paths;

use raw::{raw_core_pubsub, raw_core_relay, raw_durable_relay, raw_js_publish, raw_latency, start_raw};
use report::{loadavg, machine, print_tables, ratios, targets};
use scale::{run_scale, scale_child, scale_hub};
use tisa_paths::tisa_paths;

/// Payload size of every raw message and every report body.
const PAYLOAD: usize = 256;
/// Publishes in flight for the raw JetStream paths (as in issue #8).
const IN_FLIGHT: usize = 256;
/// Concurrent submits to the KR node in the throughput run (as many as the raw paths keep in flight).
const SUBMIT_CONCURRENCY: usize = IN_FLIGHT;
/// How long a path may go without progress before it is cut off and its
/// remainder counted as lost.
const STALL: Duration = Duration::from_secs(30);

/// `tisa bench`'s options.
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
    /// Start the latency paths' samples (raw 2-hop, standing, tracks, approvals) this many milliseconds apart
    /// instead of each right after the one before arrived (0, the default): e.g. 100 for a track updating ten times a
    /// second. The idle time between samples is then part of what is measured.
    #[arg(long, default_value_t = 0, conflicts_with_all = ["ab", "ab_bin", "ab_env"])]
    latency_pace_ms: u64,
    /// Samples of the manual path (operator approval → JP delivered) [default: 200; --quick: 5].
    #[arg(long)]
    manual_samples: Option<usize>,
    /// Pending release requests built up at the KR node before its RSS and decision time are measured
    /// [default: 100000; --quick: 20].
    #[arg(long)]
    node_pending: Option<usize>,
    /// Reports per batch signature in the bulk submissions (throughput, pending build-up), as a feed sends them:
    /// one signature over the batch's submissions and one over their requests' actions. `1`: each report signed
    /// and sent alone, as `tisa submit` does.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    submit_batch: u16,
    /// Pending-request counts for the scale run (KR and hub cores with their node stores, no NATS), comma-separated
    /// [default: 10000,100000,1000000; --quick: 100,1000]. `0` skips it.
    #[arg(long, value_delimiter = ',')]
    scale: Option<Vec<usize>>,
    /// Decisions timed at each scale size [default: 1000; --quick: 20].
    #[arg(long)]
    scale_decisions: Option<usize>,
    /// Within-run A/B: instead of the figures against raw NATS, two clusters
    /// side by side, A (this binary's nodes) and B, taking turns on tisa's
    /// latency paths a block of samples at a time (A B B A …) and on the
    /// throughput bursts; B ÷ A per path, with a sign test over the pairs of
    /// blocks. Alone: B is this binary too (the method's own noise).
    #[arg(long)]
    ab: bool,
    /// A/B: B's nodes run this tisa binary (implies --ab).
    #[arg(long, value_name = "PATH")]
    ab_bin: Option<std::path::PathBuf>,
    /// A/B: an environment variable B's nodes get, e.g. `TISA_CHECKS_AHEAD=on` (repeatable; implies --ab).
    #[arg(long, value_name = "KEY=VALUE", value_parser = ab::parse_env)]
    ab_env: Vec<(String, String)>,
    /// A/B: samples per block on the latency paths (the manual path's blocks are a fifth) [default: 25; --quick: 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    ab_block: Option<u32>,
    /// A/B: throughput bursts per side, `--reports` split among them [default: 4; --quick: 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    ab_rounds: Option<u32>,
    /// Also time each track update and each standing report step by step through the three nodes (the nodes write each step,
    /// `TISA_TIMELINE`; a few µs a step on the path measured): per step p50, p90, p99 and the slowest 1 %'s mean.
    #[arg(long, conflicts_with_all = ["ab", "ab_bin", "ab_env"])]
    timeline: bool,
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
    /// How far apart the latency paths' samples start (`None`: back to back).
    pace: Option<std::time::Duration>,
    manual: usize,
    node_pending: usize,
    submit_batch: usize,
    scale: Vec<usize>,
    scale_decisions: usize,
    timeline: bool,
}

impl BenchArgs {
    fn sizes(&self) -> Sizes {
        let q = self.quick;
        Sizes {
            reports: self.reports.unwrap_or(if q { 20 } else { 10_000 }),
            raw: self.raw_messages.unwrap_or(if q { 500 } else { 200_000 }),
            raw_js: self.raw_js_messages.unwrap_or(if q { 500 } else { 20_000 }),
            latency: self.latency_samples.unwrap_or(if q { 10 } else { 1000 }),
            pace: (self.latency_pace_ms > 0).then(|| std::time::Duration::from_millis(self.latency_pace_ms)),
            manual: self.manual_samples.unwrap_or(if q { 5 } else { 200 }),
            node_pending: self.node_pending.unwrap_or(if q { 20 } else { 100_000 }),
            submit_batch: usize::from(self.submit_batch),
            scale: self.scale.clone().unwrap_or(if q { vec![100, 1000] } else { vec![10_000, 100_000, 1_000_000] }),
            scale_decisions: self.scale_decisions.unwrap_or(if q { 20 } else { 1000 }),
            timeline: self.timeline,
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
    /// Throughput paths: CPU time per message (µs) spent during the run by
    /// `nats_server`, by this process (`bench`: the raw paths' clients, or
    /// the tisa paths' submitter and watchers), by the three `nodes`
    /// together (tisa paths), and the `machine`'s total of those. On a
    /// saturated machine throughput is its cores' time ÷ `machine`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    cpu_us_per_msg: BTreeMap<String, f64>,
    /// Throughput paths: what nats-server moved per message during the
    /// run, from `/proc/<pid>/io`: `rchar`/`wchar` (bytes read and written:
    /// sockets and files), `syscr`/`syscw` (read and write calls),
    /// `write_bytes` (bytes that went to the disk).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    broker_io_per_msg: BTreeMap<String, f64>,
    /// Every ratio: per baseline (throughput), or per percentile (latency).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ratios: BTreeMap<String, f64>,
    /// Latency paths: the least time between two samples' starts (µs), as
    /// they were sent (`--latency-pace-ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    started_apart_min_us: Option<f64>,
    /// tisa latency paths: the group commits KR and JP made during the
    /// path's run, as each node counted them (`tisa health`): `count`, and
    /// at least how long (µs) the least (`min_us`), the median and the
    /// 99th percentile commit took (write to the input log and `fdatasync`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    commits: BTreeMap<String, CommitFigures>,
}

/// A node's group commits during one path's run (µs, each at least).
#[derive(Serialize, Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct CommitFigures {
    pub count: u64,
    pub min_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Signature checks the node ran while these commits synced, and how
    /// many of them on its helper thread (`tisa_node::ahead`).
    pub checks_ahead: u64,
    pub checks_ahead_by_helper: u64,
}

impl CommitFigures {
    /// From a node's commits during the run (none: no figures), and its
    /// checks ahead meanwhile (checks, of them by the helper).
    pub(crate) fn of(h: &tisa_transport::CommitHealth, ahead: (u64, u64)) -> Option<CommitFigures> {
        Some(CommitFigures {
            count: h.count(),
            min_us: h.quantile_at_least_us(0.0)?,
            p50_us: h.quantile_at_least_us(0.5)?,
            p99_us: h.quantile_at_least_us(0.99)?,
            checks_ahead: ahead.0,
            checks_ahead_by_helper: ahead.1,
        })
    }
}

/// The `p` quantile of samples sorted ascending: the least sample with at
/// least that share of them at or below it (none for no samples).
fn quantile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
}

/// [`quantile`] in µs (NaN for none).
fn quantile_us(sorted: &[Duration], p: f64) -> f64 {
    quantile(sorted, p).map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

/// Latency samples → percentiles (µs).
fn percentiles(mut v: Vec<Duration>) -> (usize, f64, f64, f64, f64) {
    v.sort();
    let at = |p: f64| quantile_us(&v, p);
    (v.len(), at(0.50), at(0.99), at(0.999), at(1.0))
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

/// CPU time (µs) used so far by the processes `pids`, each by name.
fn cpu_now(pids: &[(&str, Option<u32>)]) -> Vec<(String, Option<u64>)> {
    pids.iter().map(|(n, p)| ((*n).to_owned(), p.and_then(tisa_paths::cpu_us))).collect()
}

/// A process's I/O counters from `/proc/<pid>/io`, by name.
fn proc_io(pid: u32) -> BTreeMap<String, u64> {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    Some((k.trim().to_owned(), v.trim().parse().ok()?))
                })
                .filter(|(k, _)| ["rchar", "wchar", "syscr", "syscw", "write_bytes"].contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// Per message: each I/O counter's growth from `before` to `after` over `n` messages.
fn io_per_msg(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, n: usize) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, a)| Some((k.clone(), a.saturating_sub(*before.get(k)?) as f64 / n.max(1) as f64)))
        .collect()
}

/// Per message: each name's CPU between `before` and `after` (names that
/// repeat are summed), and the `machine` total, over `n` messages. Names
/// without both readings are left out, and so is the total.
fn cpu_per_msg(before: &[(String, Option<u64>)], after: &[(String, Option<u64>)], n: usize) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let mut complete = true;
    for ((name, b), (_, a)) in before.iter().zip(after) {
        match (b, a) {
            (Some(b), Some(a)) => {
                *m.entry(name.clone()).or_insert(0.0) += a.saturating_sub(*b) as f64 / n.max(1) as f64
            }
            _ => complete = false,
        }
    }
    if complete && !m.is_empty() {
        let total = m.values().sum();
        m.insert("machine".to_owned(), total);
    }
    m
}

fn payload() -> Bytes {
    Bytes::from(vec![b'x'; PAYLOAD])
}

fn progress(json: bool, msg: impl AsRef<str>) {
    // Progress goes to stderr in both modes; stdout is the result.
    let _ = json;
    eprintln!("bench: {}", msg.as_ref());
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
    let nats_bin = tisa_kit::natsd::locate_or_install()?;
    let settings: Vec<bool> = match a.fsync.as_str() {
        "always" => vec![true],
        "lazy" => vec![false],
        _ => vec![true, false],
    };
    let started = Instant::now();
    let load_at_start = loadavg();
    if a.ab || a.ab_bin.is_some() || !a.ab_env.is_empty() {
        return ab_runs(&a, &s, &bin, &nats_bin, &settings, started, load_at_start).await;
    }
    // The serial steps' own costs, measured alone before anything else runs.
    progress(a.json, "the floors: fdatasync (back to back, lone), ed25519 sign and verify, alone");
    let floor_samples = s.latency.clamp(20, 1000);
    let floor_dir = tisa_kit::natsd::scratch_dir("bench-floor")?;
    let mut floors = tokio::task::block_in_place(|| floor::measure(&floor_dir, floor_samples))?;
    let mut paths = Vec::new();
    let mut nodes = BTreeMap::new();
    let mut settings_in_force = BTreeMap::new();
    let mut timelines = serde_json::Map::new();
    for &always in &settings {
        let f = if always { "always" } else { "lazy" };
        progress(a.json, format!("[{f}] raw NATS baselines ({} core, {} JetStream messages)", s.raw, s.raw_js));
        {
            let raw = start_raw(&nats_bin, always)?;
            let url = raw.nats.url().to_owned();
            paths.push(raw_core_pubsub(&url, s.raw, f).await?);
            paths.push(raw_core_relay(&url, s.raw, f).await?);
            paths.push(raw_latency(&url, s.latency, s.pace, f).await?);
            paths.push(raw_js_publish(&url, s.raw_js, f).await?);
            paths.push(raw_durable_relay(&url, raw.nats.pid(), s.raw_js, f).await?);
        }
        let run = tisa_paths(&bin, &nats_bin, always, &s, a.json).await?;
        paths.extend(run.paths);
        nodes.insert(f.to_owned(), run.nodes);
        settings_in_force.insert(f.to_owned(), run.settings);
        if let Some(t) = run.timeline {
            timelines.insert(f.to_owned(), t);
        }
    }
    let scale = if s.scale.iter().any(|n| *n > 0) {
        tokio::task::block_in_place(|| run_scale(&s.scale, s.scale_decisions, a.json))?
    } else {
        Vec::new()
    };
    // The lone fdatasync again, everything else stopped: the disk's state
    // drifts over a run; the floors take the lower of the two.
    progress(a.json, "the floors: lone fdatasync again");
    floors.add_lone(tokio::task::block_in_place(|| floor::measure_lone(&floor_dir, floor_samples))?);
    let _ = std::fs::remove_dir_all(&floor_dir);
    ratios(&mut paths);
    let targets = targets(&paths, &nodes, &scale, Some(&floors));
    let doc = json!({
        "machine": machine(&nats_bin, load_at_start),
        "quick": a.quick,
        "sizes": {
            "reports": s.reports, "raw_messages": s.raw, "raw_js_messages": s.raw_js, "latency_samples": s.latency,
            "latency_pace_ms": a.latency_pace_ms, "manual_samples": s.manual, "node_pending": s.node_pending, "scale": s.scale,
            "scale_decisions": s.scale_decisions,
        },
        "elapsed_s": started.elapsed().as_secs_f64(),
        "settings": settings_in_force,
        "paths": paths,
        "nodes": nodes,
        "scale": scale,
        "floors": floors,
        "scale_note": "KR's core and node store (report bodies on disk, redb cache 32 MiB) in one process, the hub's in \
    another, over pipes (no NATS), one pair per size; each RSS is that process's whole resident set",
        "targets": targets,
    });
    let mut doc = doc;
    if !timelines.is_empty() {
        doc["timeline"] = Value::Object(timelines);
    }
    if a.json {
        println!("{doc}");
    } else {
        print_tables(&doc, &paths);
        timeline::print(&doc["timeline"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// `tisa bench --ab`: the A/B runs, one per fsync setting.
async fn ab_runs(
    a: &BenchArgs,
    s: &Sizes,
    bin: &std::path::Path,
    nats_bin: &std::path::Path,
    settings: &[bool],
    started: Instant,
    load_at_start: Option<String>,
) -> Result<ExitCode> {
    if let Some(b) = &a.ab_bin {
        anyhow::ensure!(b.is_file(), "--ab-bin {}: no such file; give the path of another tisa binary", b.display());
    }
    let v = ab::Variant {
        bin: a.ab_bin.clone(),
        env: a.ab_env.clone(),
        block: a.ab_block.map_or(if a.quick { 2 } else { 25 }, |b| b as usize),
        rounds: a.ab_rounds.map_or(if a.quick { 2 } else { 4 }, |r| r as usize),
    };
    let mut runs = Vec::new();
    for &always in settings {
        runs.push(ab::ab_run(bin, nats_bin, always, s, &v, a.json).await?);
    }
    let doc = json!({
        "machine": machine(nats_bin, load_at_start),
        "machine_load_at_end": loadavg(),
        "quick": a.quick,
        "sizes": {"reports": s.reports, "latency_samples": s.latency, "manual_samples": s.manual,
            "submit_batch": s.submit_batch, "block": v.block, "rounds": v.rounds},
        "elapsed_s": started.elapsed().as_secs_f64(),
        "ab": runs,
    });
    if a.json {
        println!("{doc}");
    } else {
        ab::print(doc["ab"].as_array().map(Vec::as_slice).unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(v: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
        v.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn cpu_per_message_sums_a_name_that_repeats_and_totals_the_machine() {
        let before = reading(&[("nats_server", Some(1_000)), ("nodes", Some(100)), ("nodes", Some(200))]);
        let after = reading(&[("nats_server", Some(3_000)), ("nodes", Some(1_100)), ("nodes", Some(2_200))]);
        let m = cpu_per_msg(&before, &after, 10);
        assert_eq!(m["nats_server"], 200.0);
        assert_eq!(m["nodes"], 300.0, "both nodes, summed");
        assert_eq!(m["machine"], 500.0);
    }

    #[test]
    fn the_broker_s_io_is_read_from_proc_and_counted_per_message() {
        let mine = proc_io(std::process::id());
        for k in ["rchar", "wchar", "syscr", "syscw", "write_bytes"] {
            assert!(mine.contains_key(k), "{k} missing from {mine:?}");
        }
        let before: BTreeMap<String, u64> = [("wchar".to_owned(), 1_000), ("syscw".to_owned(), 10)].into();
        let after: BTreeMap<String, u64> =
            [("wchar".to_owned(), 5_000), ("syscw".to_owned(), 30), ("rchar".to_owned(), 9)].into();
        let per = io_per_msg(&before, &after, 4);
        assert_eq!(
            per,
            [("wchar".to_owned(), 1_000.0), ("syscw".to_owned(), 5.0)].into(),
            "no reading before: left out"
        );
    }

    #[test]
    fn a_process_without_a_reading_leaves_the_machine_total_out() {
        let before = reading(&[("nats_server", Some(1_000)), ("nodes", None)]);
        let after = reading(&[("nats_server", Some(2_000)), ("nodes", Some(5_000))]);
        let m = cpu_per_msg(&before, &after, 10);
        assert_eq!(m["nats_server"], 100.0);
        assert!(!m.contains_key("nodes") && !m.contains_key("machine"), "{m:?}");
        // Control: with both readings the total is there.
        let before = reading(&[("nats_server", Some(1_000)), ("nodes", Some(0))]);
        assert_eq!(cpu_per_msg(&before, &after, 10)["machine"], 600.0);
    }
}
