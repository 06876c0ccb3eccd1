//! The run's report: the machine, tisa ÷ raw ratios, the targets, and the
//! tables (or the JSON document).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use tisa_core::Party;

use crate::floor::{Floors, Steps, APPROVAL, STANDING, TRACK};
use crate::{PathResult, PAYLOAD};

pub(crate) fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

pub(crate) fn machine(nats_bin: &Path, load_at_start: Option<String>) -> Value {
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

/// Target (a)'s ceiling: what tisa's throughput under `always` would be ÷
/// the lazy relay's if its three nodes cost no CPU at all, the broker and
/// the submitting bench costing what they did per report (a saturated
/// machine's throughput is its cores' time ÷ the CPU per report).
fn ceiling_a(tisa_always: &PathResult, relay_lazy: Option<&PathResult>) -> Option<Value> {
    let cpu = &tisa_always.cpu_us_per_msg;
    let others = cpu.get("nats_server")? + cpu.get("bench")?;
    let relay = relay_lazy.filter(|r| usable_baseline(r))?.msgs_per_s?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok()? as f64;
    if others <= 0.0 || relay <= 0.0 {
        return None;
    }
    let v = cores * 1e6 / others / relay;
    Some(json!({
        "value": v,
        "out_of_reach": v < 1.0,
        "what": "tisa ÷ relay if the nodes cost nothing: cores ÷ (the broker's + the bench's CPU per report under always) \
                 ÷ the lazy relay's reports/s",
        "relay_lazy_machine_cpu_us_per_msg": relay_lazy.and_then(|r| r.cpu_us_per_msg.get("machine").copied()),
        "tisa_always_broker_cpu_us_per_report": cpu.get("nats_server"),
    }))
}

/// Whether a raw throughput path can stand as a baseline: a durable one
/// (JetStream) that lost messages stalled (its counter gave up), so its
/// rate would flatter tisa; its ratios are left out (the targets read
/// n/a) rather than taken against it. Core NATS paths may drop by design.
fn usable_baseline(r: &PathResult) -> bool {
    let durable = matches!(r.name.as_str(), "raw/nats_durable_relay" | "raw/js_publish");
    !(durable && r.lost > 0)
}

fn find<'a>(paths: &'a [PathResult], name: &str, fsync: &str) -> Option<&'a PathResult> {
    paths.iter().find(|p| p.name == name && p.fsync == fsync)
}

/// Fills in every tisa path's ratios to its raw counterparts.
pub(crate) fn ratios(paths: &mut [PathResult]) {
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
                let raw = find(&snapshot, name, fsync).filter(|r| usable_baseline(r));
                if let Some(raw) = raw.and_then(|r| r.msgs_per_s).filter(|r| *r > 0.0) {
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

pub(crate) fn targets(
    paths: &[PathResult],
    nodes: &BTreeMap<String, Value>,
    scale: &[Value],
    floors: Option<&Floors>,
) -> Vec<Value> {
    let mut t = Vec::new();
    // A latency target's floor: its path's serial steps alone (a p50
    // target's at their medians, `floor::Floors::p50_us`; a p99 target's
    // a strict lower bound, `floor::Floors::p99_us`), in the target's unit,
    // and whether that alone is over the limit (then no tuning meets it
    // with every guarantee on: a step would have to go).
    let raw_2hop = |f: &str| find(paths, "raw/core_2hop_latency", f).and_then(|p| p.p50_us);
    let floor = |steps: Steps, path: &PathResult, q: &str, unit: &dyn Fn(f64, f64) -> f64, limit: f64| {
        let (fl, raw) = (floors?, raw_2hop(&path.fsync)?);
        // The lone probe's fdatasync, or the path's own commits (as KR and JP
        // counted them during its run) where those were faster: a floor
        // never overstates.
        let fs = path
            .commits
            .values()
            .fold(fl.lone(), |fs, c| fs.lower(crate::floor::Fsync { p50: c.p50_us, p99: c.p99_us, min: c.min_us }));
        // Checks ahead ran (the nodes counted some): they overlap the commits.
        let overlap = path.commits.values().any(|c| c.checks_ahead > 0);
        let us = if q == "p99" { fl.p99_us(steps, fs, overlap) } else { fl.p50_us(steps, raw, fs, overlap) };
        let v = unit(us, raw);
        Some(json!({
            "value": v,
            "quantile": q,
            "over_limit": v > limit,
            "fdatasync_us": {"p50": fs.p50, "p99": fs.p99, "min": fs.min},
            "steps": {
                "hops": steps.hops,
                "fsyncs": steps.fsyncs,
                "signs": steps.signs,
                "verifies": steps.verifies,
                "verifies_beside_commits": if overlap { steps.ahead } else { 0 },
            },
        }))
    };
    for f in ["always", "lazy"] {
        if let Some(p) = find(paths, "tisa/standing_throughput", f) {
            t.push(target(
                format!("[{f}] tisa throughput with 0 lost ÷ NATS-only durable relay"),
                p.ratio.filter(|_| p.lost == 0),
                ">=",
                1.0,
            ));
            if f == "always" {
                let a = target(
                    "[always] (a) tisa throughput with 0 lost ÷ NATS-only durable relay with lazy fsync".into(),
                    p.ratios.get("nats_durable_relay_lazy").copied().filter(|_| p.lost == 0),
                    ">=",
                    1.0,
                );
                t.push(with(a, "ceiling", ceiling_a(p, find(paths, "raw/nats_durable_relay", "lazy"))));
            }
        }
    }
    let ms = |us: f64, _raw: f64| us / 1e3;
    if let Some(p) = find(paths, "tisa/standing_latency", "lazy") {
        let p50 = target("[lazy] end-to-end p50 ÷ raw 2-hop p50".into(), p.ratios.get("p50").copied(), "<=", 3.0);
        t.push(with(p50, "floor", floor(STANDING, p, "p50", &|us, raw| us / raw, 3.0)));
        let p99 = target("[lazy] end-to-end p99 (ms)".into(), p.p99_us.map(|v| v / 1e3), "<=", 2.0);
        t.push(with(p99, "floor", floor(STANDING, p, "p99", &ms, 2.0)));
    }
    if let Some(p) = find(paths, "tisa/manual_latency", "lazy") {
        let x = target("[lazy] approval → delivery p50 (ms)".into(), p.p50_us.map(|v| v / 1e3), "<=", 1.0);
        t.push(with(x, "floor", floor(APPROVAL, p, "p50", &ms, 1.0)));
    }
    for f in ["always", "lazy"] {
        if let Some(p) = find(paths, "tisa/track_latency", f) {
            let x = target(format!("[{f}] (c) missile track p99 (ms)"), p.p99_us.map(|v| v / 1e3), "<=", 1.0);
            t.push(with(x, "floor", floor(TRACK, p, "p99", &ms, 1.0)));
        }
    }
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    if let (Some(first), Some(last)) = (scale.first(), scale.last()) {
        let n = get(last, "pending").unwrap_or(0.0);
        t.push(target(format!("KR RSS (core + store) at {n} pending (MB)"), get(last, "rss_mb"), "<=", 200.0));
        t.push(target(format!("hub RSS (core + store) at {n} pending (MB)"), get(last, "hub_rss_mb"), "<=", 200.0));
        if let (Some(a), Some(b)) = (get(first, "decision_p50_us"), get(last, "decision_p50_us")) {
            t.push(target(
                format!("per-decision p50 at {n} ÷ at {} pending (flat: ≤ 1.5)", get(first, "pending").unwrap_or(0.0)),
                Some(b / a),
                "<=",
                1.5,
            ));
        }
    }
    for (f, n) in nodes {
        if let Some(idle) = n.get("idle_rss_mb").and_then(Value::as_object) {
            let max =
                idle.values().filter_map(Value::as_f64).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            t.push(target(format!("[{f}] node idle RSS, largest of three (MB)"), max, "<=", 30.0));
        }
    }
    t
}

/// One target: its value against its limit.
fn target(what: String, value: Option<f64>, op: &str, limit: f64) -> Value {
    let met = value.map(|v| if op == ">=" { v >= limit } else { v <= limit });
    json!({"target": what, "value": value, "op": op, "limit": limit, "met": met})
}

/// `v` with `extra` under `key`, if there is one (a floor, a ceiling).
fn with(mut v: Value, key: &str, extra: Option<Value>) -> Value {
    if let Some(e) = extra {
        v[key] = e;
    }
    v
}

/// `k=v k=v …`, each value to `prec` decimals.
fn kv(m: &BTreeMap<String, f64>, prec: usize) -> String {
    m.iter().map(|(k, v)| format!("{k}={v:.prec$}")).collect::<Vec<_>>().join(" ")
}

fn fmt(v: Option<f64>, scale: f64, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.*}", prec, v / scale),
        _ => "-".into(),
    }
}

pub(crate) fn print_tables(doc: &Value, paths: &[PathResult]) {
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
        let ratios = kv(&p.ratios, 3);
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
        if !p.cpu_us_per_msg.is_empty() {
            println!("{:<26} {:<6} CPU µs per message: {}", "", "", kv(&p.cpu_us_per_msg, 1));
        }
        if !p.broker_io_per_msg.is_empty() {
            println!("{:<26} {:<6} nats-server I/O per message: {}", "", "", kv(&p.broker_io_per_msg, 1));
        }
    }
    println!(
        "\n{:<26} {:<6} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9}  ratio (÷ raw 2-hop)",
        "latency", "fsync", "samples", "lost", "p50 µs", "p99 µs", "p999 µs", "max µs"
    );
    let pace_ms = doc["sizes"]["latency_pace_ms"].as_u64().unwrap_or(0);
    if pace_ms > 0 {
        println!("(each path's samples started {pace_ms} ms apart, not back to back: --latency-pace-ms)");
    }
    for p in paths.iter().filter(|p| p.kind == "latency") {
        let ratios = kv(&p.ratios, 2);
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
        for (party, c) in &p.commits {
            println!(
                "{:<26} {:<6} {party}'s commits during it: {}, write + fdatasync at least p50 {:.0} µs, p99 {:.0} µs; signature checks meanwhile {} ({} on the helper)",
                "", "", c.count, c.p50_us, c.p99_us, c.checks_ahead, c.checks_ahead_by_helper
            );
        }
    }
    if let Some(nodes) = doc["nodes"].as_object() {
        println!("\nnodes (fsync: startup-to-ready ms KR/US/JP; idle RSS MB KR/US/JP; throughput CPU µs and RSS growth bytes per report KR/US/JP; KR at N pending)");
        for (f, n) in nodes {
            let three = |k: &str, prec: usize| {
                Party::ALL.iter().map(|p| fmt(n[k][p.code()].as_f64(), 1.0, prec)).collect::<Vec<_>>().join("/")
            };
            let pd = &n["pending"];
            println!(
                "  {f:<6} startup {} ms; idle RSS {} MB; CPU {} µs/report; RSS +{} B/report; {} pending (of {}) built in {} s: KR RSS {} MB, decision p50 {} µs p99 {} µs",
                three("startup_to_ready_ms", 0),
                three("idle_rss_mb", 1),
                three("throughput_cpu_us_per_report", 0),
                three("throughput_rss_growth_bytes_per_report", 0),
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
            let floor = match (x["floor"]["value"].as_f64(), x["ceiling"]["value"].as_f64()) {
                (Some(v), _) if x["floor"]["over_limit"] == true => format!("; floor {v:.3}: out of reach"),
                (Some(v), _) => format!("; floor {v:.3}"),
                (None, Some(v)) if x["ceiling"]["out_of_reach"] == true => {
                    format!("; {v:.3} with the nodes free: out of reach")
                }
                (None, Some(v)) => format!("; {v:.3} with the nodes free"),
                (None, None) => String::new(),
            };
            println!(
                "  {:<7} {} = {} ({} {}{floor})",
                met,
                x["target"].as_str().unwrap_or(""),
                fmt(x["value"].as_f64(), 1.0, 3),
                x["op"].as_str().unwrap_or(""),
                x["limit"]
            );
        }
    }
    if let Some(f) = doc["floors"].as_object() {
        let v = |k: &str| fmt(f.get(k).and_then(Value::as_f64), 1.0, 0);
        println!(
            "\nfloors (the steps alone, µs): fdatasync back to back p50 {} p99 {}, lone p50 {} p99 {}; \
             ed25519 sign p50 {}, verify p50 {}",
            v("fdatasync_p50_us"),
            v("fdatasync_p99_us"),
            v("fdatasync_lone_p50_us"),
            v("fdatasync_lone_p99_us"),
            v("sign_p50_us"),
            v("verify_p50_us")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput(name: &str, fsync: &str, msgs_per_s: f64, cpu: &[(&str, f64)]) -> PathResult {
        PathResult {
            name: name.into(),
            fsync: fsync.into(),
            kind: "throughput",
            msgs_per_s: Some(msgs_per_s),
            cpu_us_per_msg: cpu.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_durable_baseline_that_lost_messages_gives_no_ratio() {
        let tisa = throughput("tisa/standing_throughput", "always", 6_000.0, &[("nats_server", 70.0), ("bench", 30.0)]);
        let relay = |lost: u64| PathResult { lost, ..throughput("raw/nats_durable_relay", "lazy", 40_000.0, &[]) };
        let core = PathResult { lost: 5, ..throughput("raw/core_relay", "always", 90_000.0, &[]) };
        let mut paths = vec![tisa.clone(), relay(17_000), core.clone()];
        ratios(&mut paths);
        assert!(!paths[0].ratios.contains_key("nats_durable_relay_lazy"), "{:?}", paths[0].ratios);
        assert!(paths[0].ratios.contains_key("raw_core_relay"), "core NATS may drop: still a baseline");
        assert!(ceiling_a(&tisa, Some(&relay(17_000))).is_none());
        // Control: the same relay, lossless, is the baseline.
        let mut paths = vec![tisa.clone(), relay(0), core];
        ratios(&mut paths);
        assert_eq!(paths[0].ratios["nats_durable_relay_lazy"], 6_000.0 / 40_000.0);
        assert!(ceiling_a(&tisa, Some(&relay(0))).is_some());
    }

    #[test]
    fn a_s_ceiling_is_the_cores_time_over_what_the_broker_and_bench_spend() {
        let cores = std::thread::available_parallelism().unwrap().get() as f64;
        let tisa = throughput("tisa/standing_throughput", "always", 6_000.0, &[("nats_server", 70.0), ("bench", 30.0)]);
        let relay = throughput("raw/nats_durable_relay", "lazy", 40_000.0, &[("machine", 45.0)]);
        let c = ceiling_a(&tisa, Some(&relay)).unwrap();
        // cores × 1e6 µs ÷ 100 µs per report, ÷ 40,000 reports/s.
        let want = cores * 1e6 / 100.0 / 40_000.0;
        assert!((c["value"].as_f64().unwrap() - want).abs() < 1e-9, "{c}");
        assert_eq!(c["out_of_reach"], want < 1.0);
        // A slow relay leaves room: the same figures against 1,000 reports/s.
        let slow = throughput("raw/nats_durable_relay", "lazy", 1_000.0, &[]);
        assert_eq!(ceiling_a(&tisa, Some(&slow)).unwrap()["out_of_reach"], false);
        // Without the broker's reading there is no ceiling.
        let blind = throughput("tisa/standing_throughput", "always", 6_000.0, &[("bench", 30.0)]);
        assert!(ceiling_a(&blind, Some(&relay)).is_none());
    }

    #[test]
    fn a_track_floor_takes_the_path_s_own_commits_where_they_were_faster() {
        let floors = crate::floor::Floors {
            fdatasync_lone_p50_us: 400.0,
            fdatasync_lone_p99_us: 1_500.0,
            fdatasync_lone_min_us: 30.0,
            sign_min_us: 10.0,
            verify_min_us: 20.0,
            ..Default::default()
        };
        let latency = |name: &str, p99: f64| PathResult {
            name: name.into(),
            fsync: "lazy".into(),
            kind: "latency",
            p50_us: Some(p99 / 2.0),
            p99_us: Some(p99),
            ..Default::default()
        };
        let floor_of = |track: PathResult| {
            let paths = vec![latency("raw/core_2hop_latency", 100.0), track];
            let t = targets(&paths, &BTreeMap::new(), &[], Some(&floors));
            let x = t.iter().find(|t| t["target"].as_str().is_some_and(|n| n.contains("(c)"))).unwrap().clone();
            x["floor"].clone()
        };
        // One commit at its p99 plus 2 signatures and 3 verifications at their least.
        let cpu = 2.0 * 10.0 + 3.0 * 20.0;
        let alone = floor_of(latency("tisa/track_latency", 3_000.0));
        assert_eq!(alone["value"].as_f64().unwrap(), (1_500.0 + cpu) / 1e3, "{alone}");
        assert_eq!((alone["quantile"].as_str(), alone["over_limit"].as_bool()), (Some("p99"), Some(true)));
        // KR's commits during the run were faster at p99: the floor takes them.
        let kr = crate::CommitFigures { count: 1000, min_us: 25.0, p50_us: 90.0, p99_us: 600.0, ..Default::default() };
        let mut track = latency("tisa/track_latency", 3_000.0);
        track.commits.insert("KR".into(), kr);
        let lowered = floor_of(track.clone());
        assert_eq!(lowered["value"].as_f64().unwrap(), (600.0 + cpu) / 1e3, "{lowered}");
        assert_eq!(lowered["over_limit"], false);
        // Slower ones do not raise it.
        track.commits.insert("KR".into(), crate::CommitFigures { p99_us: 4_000.0, ..kr });
        assert_eq!(floor_of(track.clone())["value"].as_f64().unwrap(), (1_500.0 + cpu) / 1e3);
        // KR checked the command while its commit synced: that check counts as nothing.
        track.commits.insert("KR".into(), crate::CommitFigures { p99_us: 4_000.0, checks_ahead: 1000, ..kr });
        let beside = floor_of(track);
        assert_eq!(beside["value"].as_f64().unwrap(), (1_500.0 + cpu - 20.0) / 1e3, "{beside}");
        assert_eq!(beside["steps"]["verifies_beside_commits"], 1);
    }
}
