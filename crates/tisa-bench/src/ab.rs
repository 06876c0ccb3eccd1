//! `tisa bench --ab`: two variants of tisa measured **in one run**, side
//! by side, taking turns.
//!
//! On this kind of machine (two shared cores, a disk whose latency depends
//! on what ran just before) two runs of the same binary minutes apart
//! differ by more than most changes buy, so alternating whole runs cannot
//! resolve them. Here both variants run at once: cluster A (this binary's
//! nodes) and cluster B (`--ab-bin`'s nodes, and/or the nodes with
//! `--ab-env` set), each its own broker and three node processes. Only one
//! is driven at a time: for each latency path they take turns a block of
//! samples at a time, in the order A B B A A B … (so neither is always
//! first after a switch), and each pair of adjacent blocks is compared.
//! The throughput bursts take turns the same way. What drifts over the run
//! drifts for both.
//!
//! Reported per path: each side's percentiles, B ÷ A, and the pairs of
//! blocks: how many B's median was lower in, the median of B − A, and a
//! two-sided sign test's p (what chance alone would give as lopsided a
//! count if the two were the same). `--ab` with neither option compares
//! the binary with itself: what the method's own noise looks like.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tisa_core::{Category, Party, TrackId};
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest};

use crate::tisa_paths::{
    ask, broker_options, manual_once, nodes_cpu_us, operator, standing_grant, standing_once, start_cluster,
    submit_batches, track_once, warm_up, Watch,
};
use crate::{progress, quantile_us, Sizes};

/// What to compare: B's binary and the environment its nodes get.
#[derive(Debug, Clone, Default)]
pub(crate) struct Variant {
    pub(crate) bin: Option<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
    /// Samples per block (latency paths; the manual path's blocks are a fifth of it).
    pub(crate) block: usize,
    /// Throughput bursts per side.
    pub(crate) rounds: usize,
}

/// `KEY=VALUE` for `--ab-env`.
pub(crate) fn parse_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected KEY=VALUE, e.g. TISA_CHECKS_AHEAD=on"))?;
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        return Err(format!("{k:?}: an environment variable's name is upper-case letters, digits and _"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Which side's turn block `k` starts with: A B B A A B B A …
fn a_first(k: usize) -> bool {
    k.is_multiple_of(2)
}

/// One side's figures (µs).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub(crate) struct Side {
    samples: usize,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
}

fn side(samples: &[Duration]) -> Side {
    let mut v = samples.to_vec();
    v.sort();
    let at = |p: f64| quantile_us(&v, p);
    Side { samples: v.len(), p50_us: at(0.5), p90_us: at(0.9), p99_us: at(0.99) }
}

/// A latency path compared.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub(crate) struct Compared {
    name: String,
    fsync: String,
    sent_per_side: usize,
    a: Side,
    b: Side,
    b_over_a_p50: f64,
    b_over_a_p99: f64,
    /// Pairs of adjacent blocks (one of each side, both with samples).
    pairs: usize,
    /// Pairs in which B's block median was the lower.
    b_lower_pairs: usize,
    /// The median over pairs of (B's block median − A's), µs.
    median_pair_diff_us: f64,
    /// Two-sided sign test over the pairs (ties left out).
    sign_test_p: f64,
}

/// Two-sided exact sign test: the chance of a split at least as lopsided
/// as `k` of `n` under a fair coin.
pub(crate) fn sign_test(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let tail = k.min(n - k);
    // ln C(n, i) built up term by term; each term's probability is C(n, i) / 2^n.
    let mut ln_c = 0.0f64;
    let mut sum = 0.0f64;
    for i in 0..=tail {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        sum += (ln_c - n as f64 * std::f64::consts::LN_2).exp();
    }
    (2.0 * sum).min(1.0)
}

fn median_us(v: &[Duration]) -> Option<f64> {
    let s = side(v);
    (s.samples > 0).then_some(s.p50_us)
}

/// Compares the blocks each side took (block `k` of A beside block `k` of B).
pub(crate) fn compare(name: &str, fsync: &str, sent: usize, a: &[Vec<Duration>], b: &[Vec<Duration>]) -> Compared {
    let all = |v: &[Vec<Duration>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let (sa, sb) = (side(&all(a)), side(&all(b)));
    let mut diffs: Vec<f64> = a.iter().zip(b).filter_map(|(x, y)| Some(median_us(y)? - median_us(x)?)).collect();
    diffs.sort_by(f64::total_cmp);
    let lower = diffs.iter().filter(|d| **d < 0.0).count();
    let untied = diffs.iter().filter(|d| **d != 0.0).count();
    let median = if diffs.is_empty() {
        f64::NAN
    } else if diffs.len() % 2 == 1 {
        diffs[diffs.len() / 2]
    } else {
        (diffs[diffs.len() / 2 - 1] + diffs[diffs.len() / 2]) / 2.0
    };
    Compared {
        name: name.to_owned(),
        fsync: fsync.to_owned(),
        sent_per_side: sent,
        b_over_a_p50: sb.p50_us / sa.p50_us,
        b_over_a_p99: sb.p99_us / sa.p99_us,
        a: sa,
        b: sb,
        pairs: diffs.len(),
        b_lower_pairs: lower,
        median_pair_diff_us: median,
        sign_test_p: sign_test(lower, untied),
    }
}

/// One cluster and what drives it.
struct Rig {
    c: Cluster,
    kr: ControlClient,
    key: tisa_deploy::keys::Key,
    jp: Watch,
    krw: Watch,
    track: TrackId,
    seq: u32,
    next: usize,
}

impl Rig {
    async fn start(bin: &Path, nats_bin: &Path, always: bool, env: Vec<(String, String)>, label: &str) -> Result<Rig> {
        let c = start_cluster(bin, nats_bin, broker_options(always), env).await?;
        standing_grant(&c).await?;
        warm_up(&c).await?;
        let kr = operator(&c, Party::Kr).await?;
        let key = tisa_deploy::keys::load(&c.approver_key(Party::Kr, false))?;
        let jp = Watch::start(&c, Party::Jp).await?;
        let krw = Watch::start(&c, Party::Kr).await?;
        let track = TrackId::new(format!("KR-T-AB-{label}-{}", if always { "always" } else { "lazy" }))?;
        Ok(Rig { c, kr, key, jp, krw, track, seq: 0, next: 1 })
    }

    /// What each node says is switched on (read back, not assumed), and its version.
    async fn switches(&self) -> Result<Value> {
        let mut m = serde_json::Map::new();
        for p in Party::ALL {
            let ControlReply::Health(h) = ask(&operator(&self.c, p).await?, ControlRequest::Health).await? else {
                bail!("{p}'s health came back as something else");
            };
            m.insert(
                p.code().into(),
                json!({"version": h.version, "checks_ahead": h.checks_ahead.enabled,
                    "early_forward": h.early_forward.enabled, "track_lane": h.track_lane.enabled}),
            );
        }
        Ok(Value::Object(m))
    }

    fn id(&mut self) -> usize {
        self.next += 1;
        self.next
    }

    async fn sample(&mut self, kind: Kind) -> Result<Option<Duration>> {
        let i = self.id();
        match kind {
            Kind::Standing => standing_once(&self.kr, &mut self.jp, i).await.map(|(_, took)| took),
            Kind::Track => {
                self.seq += 1;
                track_once(&self.kr, &mut self.jp, &self.track, self.seq).await
            }
            Kind::Manual => {
                Ok(manual_once(&self.kr, &self.key, &mut self.krw, &mut self.jp, i, &mut crate::pace::Pacer::new(None))
                    .await?
                    .and_then(|(_, e)| e))
            }
        }
    }

    /// A burst of `n` reports under the standing grant: reports/s (submit
    /// to JP's last `RECEIVED`, seen here), the three nodes' CPU µs per
    /// report, and how many did not arrive.
    async fn burst(&mut self, n: usize, batch: usize) -> Result<(f64, f64, usize)> {
        self.jp.clear();
        let before = self.jp.count("RECEIVED");
        let cpu_before = nodes_cpu_us(&mut self.c);
        let t = Instant::now();
        let ok =
            submit_batches(&self.kr, Category::NkMissile, n, batch).await.into_iter().filter(|r| r.is_ok()).count();
        let got = self.jp.wait_count("RECEIVED", before + ok).await - before;
        let secs = t.elapsed().as_secs_f64().max(1e-6);
        let cpu: u64 =
            cpu_before.iter().zip(nodes_cpu_us(&mut self.c)).filter_map(|(b, a)| Some(a?.saturating_sub((*b)?))).sum();
        Ok((got as f64 / secs, cpu as f64 / n.max(1) as f64, n - got.min(n)))
    }

    fn stop(self) {
        self.jp.stop();
        self.krw.stop();
    }
}

/// Which latency path a sample takes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Standing,
    Track,
    Manual,
}

/// The latency paths compared: (name, which sample, samples per side, block).
fn plan(s: &Sizes, block: usize) -> [(&'static str, Kind, usize, usize); 3] {
    [
        ("tisa/standing_latency", Kind::Standing, s.latency, block),
        ("tisa/track_latency", Kind::Track, s.latency, block),
        ("tisa/manual_latency", Kind::Manual, s.manual, (block / 5).max(1)),
    ]
}

/// One throughput burst of one side.
#[derive(Serialize, Debug)]
struct Burst {
    side: &'static str,
    round: usize,
    reports: usize,
    reports_per_s: f64,
    nodes_cpu_us_per_report: f64,
    lost: usize,
}

/// The A/B run under one broker fsync setting.
pub(crate) async fn ab_run(
    bin: &Path,
    nats_bin: &Path,
    always: bool,
    s: &Sizes,
    v: &Variant,
    json: bool,
) -> Result<Value> {
    let fsync = if always { "always" } else { "lazy" };
    let b_bin = v.bin.clone().unwrap_or_else(|| bin.to_owned());
    progress(
        json,
        format!("[{fsync}] A/B: starting cluster A ({}) and cluster B ({})", bin.display(), b_bin.display()),
    );
    let mut rigs = [
        Rig::start(bin, nats_bin, always, Vec::new(), "A").await.context("starting cluster A")?,
        Rig::start(&b_bin, nats_bin, always, v.env.clone(), "B").await.context("starting cluster B")?,
    ];
    let switches = [rigs[0].switches().await?, rigs[1].switches().await?];
    let mut paths = Vec::new();
    for (name, kind, n, block) in plan(s, v.block.max(1)) {
        progress(json, format!("[{fsync}] A/B: {name}, {n} samples each, blocks of {block}"));
        let mut blocks: [Vec<Vec<Duration>>; 2] = [Vec::new(), Vec::new()];
        for k in 0..n.div_ceil(block) {
            let len = block.min(n - k * block);
            let order = if a_first(k) { [0, 1] } else { [1, 0] };
            for who in order {
                let mut got = Vec::with_capacity(len);
                for _ in 0..len {
                    got.extend(rigs[who].sample(kind).await?);
                }
                blocks[who].push(got);
            }
        }
        paths.push(compare(name, fsync, n, &blocks[0], &blocks[1]));
    }
    let rounds = v.rounds.max(1);
    let per = (s.reports / rounds).max(1);
    progress(json, format!("[{fsync}] A/B: throughput, {rounds} bursts of {per} reports each"));
    let mut bursts = Vec::new();
    for round in 0..rounds {
        for who in if a_first(round) { [0, 1] } else { [1, 0] } {
            let (reports_per_s, nodes_cpu_us_per_report, lost) = rigs[who].burst(per, s.submit_batch).await?;
            let side = ["A", "B"][who];
            bursts.push(Burst { side, round, reports: per, reports_per_s, nodes_cpu_us_per_report, lost });
        }
    }
    let mean = |side: &str, f: fn(&Burst) -> f64| -> f64 {
        let v: Vec<f64> = bursts.iter().filter(|b| b.side == side).map(f).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let rate =
        |side: &str, round: usize| bursts.iter().find(|b| b.side == side && b.round == round).map(|b| b.reports_per_s);
    let b_higher =
        (0..rounds).filter(|r| matches!((rate("A", *r), rate("B", *r)), (Some(a), Some(b)) if b > a)).count();
    let (a_rate, b_rate) = (mean("A", |b| b.reports_per_s), mean("B", |b| b.reports_per_s));
    let throughput = json!({
        "a_reports_per_s": a_rate,
        "b_reports_per_s": b_rate,
        "b_over_a": b_rate / a_rate,
        "b_higher_rounds": b_higher,
        "a_nodes_cpu_us_per_report": mean("A", |b| b.nodes_cpu_us_per_report),
        "b_nodes_cpu_us_per_report": mean("B", |b| b.nodes_cpu_us_per_report),
        "bursts": bursts,
    });
    for r in rigs {
        r.stop();
    }
    tokio::task::yield_now().await;
    Ok(json!({
        "fsync": fsync,
        "a": {"bin": bin, "env": {}, "nodes": switches[0]},
        "b": {"bin": b_bin, "env": v.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(), "nodes": switches[1]},
        "paths": paths,
        "throughput": throughput,
    }))
}

/// The A/B runs as tables.
pub(crate) fn print(runs: &[Value]) {
    for r in runs {
        println!(
            "A/B under broker fsync {} — A: {} ; B: {} {}",
            r["fsync"], r["a"]["bin"], r["b"]["bin"], r["b"]["env"]
        );
        println!(
            "  {:<24} {:>8} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>12} {:>8}",
            "path",
            "samples",
            "A p50 µs",
            "B p50 µs",
            "A p99 µs",
            "B p99 µs",
            "B÷A p50",
            "B lower in",
            "B−A med µs",
            "sign p"
        );
        for p in r["paths"].as_array().into_iter().flatten() {
            println!(
                "  {:<24} {:>8} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>7.3} {:>5}/{:<5} {:>12.0} {:>8.3}",
                p["name"].as_str().unwrap_or(""),
                p["a"]["samples"],
                p["a"]["p50_us"].as_f64().unwrap_or(f64::NAN),
                p["b"]["p50_us"].as_f64().unwrap_or(f64::NAN),
                p["a"]["p99_us"].as_f64().unwrap_or(f64::NAN),
                p["b"]["p99_us"].as_f64().unwrap_or(f64::NAN),
                p["b_over_a_p50"].as_f64().unwrap_or(f64::NAN),
                p["b_lower_pairs"],
                p["pairs"],
                p["median_pair_diff_us"].as_f64().unwrap_or(f64::NAN),
                p["sign_test_p"].as_f64().unwrap_or(f64::NAN),
            );
        }
        let t = &r["throughput"];
        println!(
            "  throughput: A {:.0} reports/s ({:.0} µs node CPU each), B {:.0} ({:.0}); B÷A {:.3}, B higher in {} of {} rounds",
            t["a_reports_per_s"].as_f64().unwrap_or(f64::NAN),
            t["a_nodes_cpu_us_per_report"].as_f64().unwrap_or(f64::NAN),
            t["b_reports_per_s"].as_f64().unwrap_or(f64::NAN),
            t["b_nodes_cpu_us_per_report"].as_f64().unwrap_or(f64::NAN),
            t["b_over_a"].as_f64().unwrap_or(f64::NAN),
            t["b_higher_rounds"],
            t["bursts"].as_array().map_or(0, |b| b.len() / 2),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::percentiles;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|u| Duration::from_micros(*u)).collect()
    }

    #[test]
    fn turns_go_a_b_b_a() {
        let order: Vec<&str> = (0..4).flat_map(|k| if a_first(k) { ["A", "B"] } else { ["B", "A"] }).collect();
        assert_eq!(order, ["A", "B", "B", "A", "A", "B", "B", "A"]);
    }

    #[test]
    fn the_sign_test_matches_the_binomial() {
        // 10 of 10 one way: 2 / 1024.
        assert!((sign_test(10, 10) - 2.0 / 1024.0).abs() < 1e-12);
        assert!((sign_test(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        // 8 of 10: 2 × (1 + 10 + 45) / 1024.
        assert!((sign_test(8, 10) - 112.0 / 1024.0).abs() < 1e-12);
        // An even split is what a fair coin gives: p = 1.
        assert_eq!(sign_test(5, 10), 1.0);
        assert_eq!(sign_test(0, 0), 1.0);
        // Large n stays finite (no 2^n overflow).
        let p = sign_test(600, 1000);
        assert!(p > 0.0 && p < 1e-8, "{p}");
    }

    #[test]
    fn blocks_are_compared_pair_by_pair() {
        // B lower in 3 of 4 pairs, by 10 µs at the median.
        let a = [us(&[100, 110, 120]), us(&[200, 210, 220]), us(&[100, 100, 100]), us(&[50])];
        let b = [us(&[90, 100, 110]), us(&[190, 200, 210]), us(&[90, 90, 90]), us(&[60])];
        let c = compare("p", "lazy", 10, &a, &b);
        assert_eq!((c.pairs, c.b_lower_pairs), (4, 3));
        assert_eq!(c.median_pair_diff_us, -10.0);
        assert_eq!(c.a.samples, 10);
        assert!((c.sign_test_p - sign_test(3, 4)).abs() < 1e-12);
        // Control: the same blocks the other way round.
        let r = compare("p", "lazy", 10, &b, &a);
        assert_eq!((r.b_lower_pairs, r.median_pair_diff_us), (1, 10.0));
        // A block with no samples (all lost) pairs with nothing.
        let a2 = [us(&[100]), Vec::new()];
        let b2 = [us(&[90]), us(&[80])];
        assert_eq!(compare("p", "lazy", 2, &a2, &b2).pairs, 1);
    }

    #[test]
    fn env_options_are_checked() {
        assert_eq!(parse_env("TISA_CHECKS_AHEAD=off"), Ok(("TISA_CHECKS_AHEAD".into(), "off".into())));
        assert_eq!(parse_env("A=").map(|(k, v)| (k, v.is_empty())), Ok(("A".into(), true)));
        assert!(parse_env("TISA_CHECKS_AHEAD").is_err());
        assert!(parse_env("=off").is_err());
        assert!(parse_env("tisa-x=1").is_err());
    }

    #[test]
    fn percentiles_agree_with_the_bench_s_own() {
        let v = us(&[5, 1, 4, 2, 3, 9, 8, 7, 6, 10]);
        let (_, p50, p99, _, _) = percentiles(v.clone());
        let s = side(&v);
        assert_eq!((s.p50_us, s.p99_us), (p50, p99));
        assert_eq!(s.p90_us, 9.0);
    }
}
