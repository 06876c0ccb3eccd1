//! `tisa bench --quick --json` runs end to end (its own nats-servers, three
//! real node processes per fsync setting, the in-process scale child) and
//! reports every path with sane fields, and tisa loses nothing. It checks
//! the shape and the correctness of the figures, never their speed.

use crate::common;

use crate::common::{describe, tisa, tisa_command, ClusterPermit};
use serde_json::Value;

const THROUGHPUT: &[&str] =
    &["raw/core_pubsub", "raw/core_relay", "raw/js_publish", "raw/nats_durable_relay", "tisa/standing_throughput"];
const LATENCY: &[&str] = &[
    "raw/core_2hop_latency",
    "tisa/standing_latency",
    "tisa/manual_latency",
    "tisa/decision_call",
    "tisa/track_latency",
];

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("{k} is not a number in {v}"))
}

#[test]
fn quick_bench_reports_every_path_and_tisa_loses_nothing() {
    let _permit = ClusterPermit::acquire();
    let out = tisa(&[
        "bench",
        "--quick",
        "--json",
        "--fsync",
        "both",
        "--reports",
        "15",
        "--node-pending",
        "10",
        "--scale",
        "50,200",
        "--scale-decisions",
        "10",
    ]);
    assert!(out.status.success(), "tisa bench failed: {}", describe(&out));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)));
    assert!(num(&doc["machine"], "cores") >= 1.0, "{}", doc["machine"]);
    let paths = doc["paths"].as_array().unwrap();
    for fsync in ["always", "lazy"] {
        let find = |name: &str| {
            paths
                .iter()
                .find(|p| p["name"] == name && p["fsync"] == fsync)
                .unwrap_or_else(|| panic!("no path {name} under fsync {fsync}: {paths:?}"))
        };
        for name in THROUGHPUT.iter().chain(LATENCY) {
            let p = find(name);
            let (sent, delivered, lost) = (num(p, "sent"), num(p, "delivered"), num(p, "lost"));
            assert!(sent > 0.0 && delivered <= sent && lost == sent - delivered, "{p}");
            if name.starts_with("tisa/") {
                assert_eq!(lost, 0.0, "tisa lost messages: {p}");
            }
            if THROUGHPUT.contains(name) {
                assert_eq!(p["kind"], "throughput", "{p}");
                assert!(num(p, "msgs_per_s") > 0.0 && num(p, "seconds") > 0.0, "{p}");
            } else {
                assert_eq!(p["kind"], "latency", "{p}");
                let (p50, p99, p999, max) = (num(p, "p50_us"), num(p, "p99_us"), num(p, "p999_us"), num(p, "max_us"));
                assert!(0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max, "{p}");
                assert_eq!(num(p, "samples"), delivered, "{p}");
            }
            // Every tisa figure (except the bare decision round trips) has its raw counterpart's ratio.
            if name.starts_with("tisa/") && *name != "tisa/decision_call" {
                assert!(p["baseline"].is_string(), "{p}");
                assert!(num(p, "ratio") > 0.0, "{p}");
            }
        }
        let tp = find("tisa/standing_throughput");
        assert_eq!(num(tp, "sent"), 15.0, "{tp}");
        for (k, raw) in [
            ("nats_durable_relay", "raw/nats_durable_relay"),
            ("raw_js_publish", "raw/js_publish"),
            ("raw_core_relay", "raw/core_relay"),
        ] {
            // A durable baseline that lost messages stalled: no ratio is taken against it.
            let lossy = raw != "raw/core_relay" && num(find(raw), "lost") > 0.0;
            assert!(lossy || tp["ratios"][k].as_f64().is_some_and(|r| r > 0.0), "no ratio {k}: {tp}");
            assert!(!lossy || tp["ratios"][k].is_null(), "a ratio to a lossy baseline {k}: {tp}");
        }
        // Each throughput run says what it cost the machine per message: the
        // broker, this process and (tisa) the three nodes, and their total.
        for (name, parts) in [
            ("raw/nats_durable_relay", &["nats_server", "bench"][..]),
            ("tisa/standing_throughput", &["nats_server", "bench", "nodes"][..]),
        ] {
            let cpu = &find(name)["cpu_us_per_msg"];
            let sum: f64 = parts.iter().map(|k| num(cpu, k)).sum();
            assert!(parts.iter().all(|k| num(cpu, k) >= 0.0), "{name}: {cpu}");
            assert!((num(cpu, "machine") - sum).abs() < 1e-6, "{name}: the machine is its parts: {cpu}");
            // The broker took in and sent out at least the messages themselves.
            let io = &find(name)["broker_io_per_msg"];
            assert!(num(io, "rchar") > 0.0 && num(io, "wchar") > 0.0 && num(io, "syscw") > 0.0, "{name}: {io}");
        }
        let nodes = &doc["nodes"][fsync];
        for party in ["KR", "US", "JP"] {
            assert!(num(&nodes["startup_to_ready_ms"], party) > 0.0, "{nodes}");
            assert!(num(&nodes["idle_rss_mb"], party) > 0.0, "{nodes}");
        }
        assert_eq!(num(&nodes["pending"], "reached"), 10.0, "{nodes}");
        // The guarantees in force, read back from the agreement the nodes ran under.
        let st = &doc["settings"][fsync];
        assert_eq!(st["two_person_rule"], true, "{st}");
        assert_eq!(num(st, "freshness_window_ms"), 60_000.0, "{st}");
        assert!(st["broker_fsync"].as_str().is_some_and(|b| b.starts_with(fsync)), "{st}");
        assert!(st["node_fsync"].is_string(), "{st}");
        // The throughput run submitted as a feed does (the default batch).
        assert_eq!(num(st, "submit_batch"), 64.0, "{st}");
        // The track updates took the real-time lane: the hub forwarded and JP
        // showed every one of them (the --quick run sends 10), dropping none.
        for party in ["US", "JP"] {
            let l = &st["track_lane"][party];
            assert_eq!(l["enabled"], true, "{st}");
            assert!(num(l, "passed") >= 10.0 && num(l, "dropped") == 0.0, "{party}: {l}");
        }
        // The hub published deliveries before its commit (the standing-grant
        // runs before the tracks: at least the --quick run's 10 latency reports).
        let e = &st["early_forward"];
        assert_eq!(e["enabled"], true, "{st}");
        assert!(num(e, "deliveries") >= 10.0, "{e}");
        assert!(num(&nodes["pending"], "kr_rss_mb") > 0.0, "{nodes}");
    }
    let always = paths.iter().find(|p| p["name"] == "tisa/standing_throughput" && p["fsync"] == "always").unwrap();
    let relay_lazy = paths.iter().find(|p| p["name"] == "raw/nats_durable_relay" && p["fsync"] == "lazy").unwrap();
    assert!(
        num(relay_lazy, "lost") > 0.0 || always["ratios"]["nats_durable_relay_lazy"].as_f64().is_some(),
        "no stretch ratio: {always}"
    );
    let scale = doc["scale"].as_array().unwrap();
    assert_eq!(scale.iter().map(|s| num(s, "pending")).collect::<Vec<_>>(), vec![50.0, 200.0], "{scale:?}");
    for s in scale {
        assert_eq!(num(s, "decisions"), 10.0, "{s}");
        assert!(num(s, "decision_p50_us") > 0.0 && num(s, "rss_mb") > 0.0, "{s}");
    }
    let targets = doc["targets"].as_array().unwrap();
    assert!(targets.len() >= 8, "{targets:?}");
    // (a)'s ceiling: the broker's and the bench's CPU alone, as if the nodes
    // cost nothing (absent when this short run's 10 ms CPU ticks read none;
    // `report::tests` checks the arithmetic).
    let a = targets.iter().find(|t| t["target"].as_str().is_some_and(|n| n.contains("(a)"))).unwrap();
    let c = &a["ceiling"];
    assert!(c.is_null() || (num(c, "value") > 0.0 && c["out_of_reach"] == (num(c, "value") < 1.0)), "{a}");
    // The serial steps measured alone, and every latency target's floor built from them.
    let floors = &doc["floors"];
    for k in [
        "fdatasync_p50_us",
        "fdatasync_p99_us",
        "fdatasync_lone_p50_us",
        "fdatasync_lone_p99_us",
        "fdatasync_lone_min_us",
        "sign_p50_us",
        "sign_min_us",
        "verify_p50_us",
        "verify_min_us",
    ] {
        assert!(num(floors, k) > 0.0, "{floors}");
    }
    // Lone fdatasync probed at the start and at the end; the floor takes the lower.
    let probes = floors["lone_probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{floors}");
    let lowest = probes.iter().filter_map(|p| p[1].as_f64()).fold(f64::INFINITY, f64::min);
    assert_eq!(num(floors, "fdatasync_lone_p99_us"), lowest, "{floors}");
    let latency_targets: Vec<&Value> = targets
        .iter()
        .filter(|t| {
            t["target"].as_str().is_some_and(|n| n.starts_with('[') && (n.contains("p50") || n.contains("p99")))
        })
        .collect();
    assert_eq!(latency_targets.len(), 5, "{targets:?}");
    for t in latency_targets {
        let f = &t["floor"];
        assert!(num(f, "value") > 0.0 && f["over_limit"] == (num(f, "value") > num(t, "limit")), "{t}");
        assert!(num(&f["steps"], "hops") == 4.0 && num(&f["steps"], "verifies") >= 3.0, "{t}");
        let q = if t["target"].as_str().is_some_and(|n| n.contains("p99")) { "p99" } else { "p50" };
        assert_eq!(f["quantile"], q, "{t}");
        // Its fdatasync never above the lone probe's.
        assert!(num(&f["fdatasync_us"], "p99") <= num(floors, "fdatasync_lone_p99_us"), "{t}");
    }
    // Each tisa latency path carries the commits KR (and JP, except for
    // tracks) made during it, as the nodes counted them: KR commits at
    // least once per sample (the operator's command, before it leaves).
    for p in doc["paths"].as_array().unwrap().iter().filter(|p| {
        ["tisa/standing_latency", "tisa/track_latency", "tisa/manual_latency"].contains(&p["name"].as_str().unwrap())
    }) {
        let kr = &p["commits"]["KR"];
        assert!(num(kr, "count") >= num(p, "samples"), "{p}");
        assert!(num(kr, "min_us") <= num(kr, "p50_us") && num(kr, "p50_us") <= num(kr, "p99_us"), "{p}");
        assert_eq!(p["commits"]["JP"].is_null(), p["name"] == "tisa/track_latency", "{p}");
    }
    assert!(targets.iter().all(|t| t["target"].is_string() && t["limit"].is_number()), "{targets:?}");

    // No timeline unless asked for (`timeline_…` below).
    assert!(doc["timeline"].is_null(), "{}", doc["timeline"]);
    assert_eq!(doc["settings"]["lazy"]["timeline"], false);

    // The table form prints the same paths.
    let out = tisa(&["bench", "--quick", "--fsync", "lazy", "--scale", "0"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in THROUGHPUT.iter().chain(LATENCY) {
        assert!(text.contains(name), "{name} missing from the table:\n{text}");
    }
    // With what each tisa latency path's commits took, and the floors.
    assert!(text.contains("KR's commits during it: ") && text.contains("JP's commits during it: "), "{text}");
    assert!(text.contains("lone p50 "), "{text}");
}

/// `tisa bench --timeline`: each track update and each standing report
/// timed step by step through the three nodes, every one seen at every
/// step, each step after the one before. Control: with the track lanes off
/// (the nodes inherit the bench's environment), the hub's and JP's lane
/// steps are never reached, so no update is complete and the missing steps
/// are named; the reports, which never take the lane, are all complete.
/// The first run also starts each path's samples 50 ms apart
/// (`--latency-pace-ms`); the second, back to back, is its control.
#[test]
fn a_timeline_times_each_step_of_a_track_update_and_a_report_and_names_steps_never_reached() {
    let _permit = ClusterPermit::acquire();
    let args = ["bench", "--quick", "--json", "--fsync", "lazy", "--scale", "0", "--timeline"];
    let run = |lane: &str, pace: &[&str]| {
        let out = tisa_command(&[&args[..], pace].concat()).env("TISA_TRACK_LANE", lane).output().expect("run tisa");
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)))
    };
    // The samples started 50 ms apart (`--latency-pace-ms`), each path's.
    let doc = run("on", &["--latency-pace-ms", "50"]);
    assert_eq!(doc["settings"]["lazy"]["timeline"], true);
    assert_eq!(doc["sizes"]["latency_pace_ms"], 50);
    let least_apart = |doc: &Value, name: &str| {
        let paths = doc["paths"].as_array().unwrap();
        let p = paths.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}: {paths:?}"));
        num(p, "started_apart_min_us")
    };
    for name in ["raw/core_2hop_latency", "tisa/standing_latency", "tisa/track_latency", "tisa/manual_latency"] {
        assert!(least_apart(&doc, name) >= 50_000.0, "{name}: {doc}");
    }
    let reports_complete = |doc: &Value| {
        let t = &doc["timeline"]["lazy"]["standing"];
        let names: Vec<&str> = t["steps"].as_array().unwrap().iter().map(|s| s["to"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "KR called",
                "KR committed",
                "KR sent",
                "US in",
                "US sent",
                "JP in",
                "JP committed",
                "JP shown",
                "bench event"
            ]
        );
        assert!(num(t, "samples") >= 10.0 && num(t, "complete") == num(t, "samples"), "{t}");
    };
    reports_complete(&doc);
    let t = &doc["timeline"]["lazy"]["track"];
    let samples = num(t, "samples");
    assert!(samples >= 10.0 && num(t, "complete") == samples, "{t}");
    let steps = t["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["to"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "KR called",
            "KR committed",
            "KR sent",
            "US lane-in",
            "US lane-judged",
            "US lane-out",
            "JP lane-in",
            "JP lane-judged",
            "JP lane-out",
            "bench event"
        ]
    );
    assert_eq!(steps[0]["from"], "bench sent");
    for (i, s) in steps.iter().enumerate() {
        // Each step's `from` is the step before's `to`; no step before its predecessor.
        if i > 0 {
            assert_eq!(s["from"], steps[i - 1]["to"], "{s}");
        }
        assert!(num(s, "min_us") >= 0.0 && num(s, "p50_us") <= num(s, "p99_us"), "{s}");
    }
    let sum: f64 = steps.iter().map(|s| num(s, "p50_us")).sum();
    assert!(sum > 0.0 && num(&t["total"], "p99_us") >= num(&t["total"], "p50_us"), "{t}");

    // The control: back to back (no pace), as before.
    let doc = run("off", &[]);
    assert!(least_apart(&doc, "tisa/track_latency") < 50_000.0, "{doc}");
    reports_complete(&doc);
    let t = &doc["timeline"]["lazy"]["track"];
    assert_eq!(num(t, "complete"), 0.0, "{t}");
    for step in ["US lane-in", "JP lane-out"] {
        assert_eq!(t["missing"][step].as_f64(), Some(num(t, "samples")), "{step}: {t}");
    }
    assert!(t["missing"]["KR committed"].is_null(), "KR's steps do not depend on the lanes: {t}");
}

/// `tisa bench --ab`: two clusters measured in one run, taking turns. B's
/// nodes got `--ab-env` and A's did not (read back from each node's health:
/// the control is A, the same binary without it), every path has both
/// sides' samples in equal numbers, and neither side lost a report.
#[test]
fn an_a_b_run_gives_the_variable_to_b_only_and_compares_every_path() {
    let _permit = ClusterPermit::acquire();
    let out = tisa(&[
        "bench",
        "--quick",
        "--json",
        "--fsync",
        "lazy",
        "--ab-env",
        "TISA_CHECKS_AHEAD=on",
        "--latency-samples",
        "6",
        "--manual-samples",
        "3",
        "--reports",
        "20",
        "--ab-block",
        "2",
    ]);
    assert!(out.status.success(), "tisa bench --ab failed: {}", describe(&out));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)));
    let runs = doc["ab"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one fsync setting: {doc}");
    let r = &runs[0];
    assert_eq!(r["fsync"], "lazy", "{r}");
    assert_eq!(r["b"]["env"]["TISA_CHECKS_AHEAD"], "on", "{r}");
    for party in ["KR", "US", "JP"] {
        assert_eq!(r["a"]["nodes"][party]["checks_ahead"], false, "A keeps the default: {r}");
        assert_eq!(r["b"]["nodes"][party]["checks_ahead"], true, "B's nodes got the variable: {r}");
        // Everything else the same on both sides.
        for k in ["early_forward", "track_lane", "version"] {
            assert_eq!(r["a"]["nodes"][party][k], r["b"]["nodes"][party][k], "{k}: {r}");
        }
    }
    let paths = r["paths"].as_array().unwrap();
    let names: Vec<&str> = paths.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["tisa/standing_latency", "tisa/track_latency", "tisa/manual_latency"], "{r}");
    for p in paths {
        let sent = num(p, "sent_per_side");
        assert_eq!(num(&p["a"], "samples"), sent, "A lost none: {p}");
        assert_eq!(num(&p["b"], "samples"), sent, "B lost none: {p}");
        for side in ["a", "b"] {
            let s = &p[side];
            assert!(
                0.0 < num(s, "p50_us") && num(s, "p50_us") <= num(s, "p90_us") && num(s, "p90_us") <= num(s, "p99_us"),
                "{p}"
            );
        }
        // Blocks of 2 (the manual path's of 1): every pair compared.
        let block = if p["name"] == "tisa/manual_latency" { 1.0 } else { 2.0 };
        assert_eq!(num(p, "pairs"), (sent / block).ceil(), "{p}");
        assert!(num(p, "b_lower_pairs") <= num(p, "pairs"), "{p}");
        let sp = num(p, "sign_test_p");
        assert!(0.0 < sp && sp <= 1.0, "{p}");
        assert!((num(p, "b_over_a_p50") - num(&p["b"], "p50_us") / num(&p["a"], "p50_us")).abs() < 1e-9, "{p}");
    }
    let t = &r["throughput"];
    let bursts = t["bursts"].as_array().unwrap();
    assert_eq!(bursts.len(), 4, "two rounds a side: {t}");
    let sides: Vec<&str> = bursts.iter().filter_map(|b| b["side"].as_str()).collect();
    assert_eq!(sides, ["A", "B", "B", "A"], "taking turns: {t}");
    for b in bursts {
        assert_eq!(num(b, "lost"), 0.0, "{b}");
        assert_eq!(num(b, "reports"), 10.0, "{b}");
        assert!(num(b, "reports_per_s") > 0.0, "{b}");
    }

    // The table form, B's nodes run from a binary given by path (a copy:
    // the table names it); and a missing B binary is one line saying what to do.
    let copy = std::env::temp_dir().join(format!("tisa-ab-copy-{}", std::process::id()));
    std::fs::copy(common::cli::BIN, &copy).unwrap();
    let copy_s = copy.to_string_lossy().into_owned();
    let out = tisa(&[
        "bench",
        "--quick",
        "--ab-bin",
        &copy_s,
        "--fsync",
        "lazy",
        "--latency-samples",
        "2",
        "--manual-samples",
        "1",
        "--reports",
        "4",
    ]);
    let _ = std::fs::remove_file(&copy);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("A/B under broker fsync")
            && text.contains("tisa/track_latency")
            && text.contains("throughput: A "),
        "{text}"
    );
    assert!(text.contains(&format!("B: \"{copy_s}\"")), "B's binary named: {text}");
    let out = tisa(&["bench", "--quick", "--ab-bin", "/nonexistent/tisa"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--ab-bin /nonexistent/tisa: no such file"),
        "{}",
        describe(&out)
    );
}
