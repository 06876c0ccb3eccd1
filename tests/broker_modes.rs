//! The other broker deployments `tisa broker config` generates: one
//! nats-server per nation (`--mode per-nation`), TLS (`--tls`), and
//! JetStream enabled per account with limits (both modes).
//!
//! Like `isolation.rs`, every negative test first shows its control: the
//! same attempt succeeds on an open server (so the test can fail), and an
//! absence is asserted only after a legitimate canary that travels the same
//! path has arrived. Operators are driven with the real `tisa` binary and
//! the generated CLI configs (`--config <p>-cli.toml`, `--nats` only to
//! point at the dynamic port).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    canary, cli_json, creds, nats_bin, wait_for, Broker, Capture, ClusterPermit, RawNats, TestCluster, BIN, WAIT,
};
use serde_json::Value;
use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_kit::natsd::NatsServer;
use tisa_transport::subjects::Role;

fn start(broker: Broker) -> TestCluster {
    TestCluster::builder().broker(broker).start()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_else(|| panic!("no items in {v}"))
}

/// A full trilateral release `from` → US → `to`, driven by the operators:
/// submit, wait for the release request, approve, wait until `to` holds it
/// with the body intact. Returns the report id.
fn release(c: &Cluster, from: Party, to: Party) -> String {
    let rel = if to == Party::Jp { "USA,JPN" } else { "USA,KOR" };
    let (title, body) = (canary("legit_title"), canary("legit_body"));
    let v = cli_json(
        c,
        from,
        &[
            "submit",
            "--category",
            "missile",
            "--classification",
            "secret",
            "--rel-to",
            rel,
            "--title",
            &title,
            "--body",
            &body,
        ],
    );
    let id = v["report_id"].as_str().unwrap_or_else(|| panic!("no report_id in {v}")).to_owned();
    let rid = wait_for(&format!("{from} has a release request for {id}"), || {
        items(&cli_json(c, from, &["pending", "--limit", "1000"]))
            .into_iter()
            .find(|i| i["report_id"] == id.as_str())
            .and_then(|i| i["request_id"].as_str().map(str::to_owned))
    });
    let v = cli_json(c, from, &["approve", &rid]);
    assert_eq!(v["decision"], "approved", "{v}");
    let got = wait_for(&format!("{to}'s inbox holds {id}"), || {
        items(&cli_json(c, to, &["inbox", "--limit", "1000"])).into_iter().find(|i| i["report_id"] == id.as_str())
    });
    assert_eq!(got["body"], body.as_str(), "{got}");
    id
}

// -------------------------------------------------------- (a) per-nation

/// Three servers, and the arrangement still works end to end: KR → US → JP
/// and JP → US → KR, each node on its own server, the hub on all three.
#[test]
fn per_nation_release_flows_across_three_servers() {
    let c = start(Broker::PerNation);
    let urls: Vec<&str> = Party::ALL.iter().map(|p| c.nats_of(*p).url()).collect();
    assert!(urls[0] != urls[1] && urls[1] != urls[2] && urls[0] != urls[2], "one server per party: {urls:?}");
    let dir = c.broker_dir.clone().unwrap();
    for p in [Party::Kr, Party::Jp] {
        let cfg = tisa_deploy::config::load(&dir.join(format!("{}-node.toml", p.lower()))).unwrap();
        let (own, other) = if p == Party::Kr { (&cfg.kr, &cfg.jp) } else { (&cfg.jp, &cfg.kr) };
        assert!(own.is_some() && other.is_none(), "{p}'s node config has its own link only");
    }
    let us = tisa_deploy::config::load(&dir.join("us-node.toml")).unwrap();
    assert!(us.kr.is_some() && us.jp.is_some(), "the hub's config has both links");
    release(&c, Party::Kr, Party::Jp);
    release(&c, Party::Jp, Party::Kr);
    // A live track too, through the track streams (KR's on US's server,
    // JP's on JP's) under KR's standing grant.
    common::grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let track = serde_json::json!({
        "track_id": "KR-T-PN.1", "seq": 1, "classification": "secret", "rel_to": "USA,JPN",
        "launch": {"lat": 39.03, "lon": 125.75, "at": "2024-05-27T14:32:10Z"},
        "position": {"lat": 40.0, "lon": 128.0, "alt_km": 100.0, "at": 1_716_820_360_000u64},
    });
    let file = c.dir.join("pn-track.jsonl");
    std::fs::write(&file, format!("{track}\n")).unwrap();
    let out = common::op(&c, Party::Kr, false, &["feed", "tracks", &file.to_string_lossy()]);
    assert!(out.status.success(), "{}", common::describe(&out));
    wait_for("JP holds KR's track", || {
        items(&cli_json(&c, Party::Jp, &["tracks"])).into_iter().find(|t| t["track_id"] == "KR-T-PN.1" && t["seq"] == 1)
    });
    // Every node keeps its dead letters on its own server, the hub too.
    for p in Party::ALL {
        let v = cli_json(&c, p, &["deadletter", "list"]);
        assert_eq!(v["total"], 0, "{p}: {v}");
    }
}

// --------------------------------------------------- (b) per-nation isolation

/// What KR's node credentials try against JP: read everything, forge a
/// delivery to JP. Returns (attacker's capture, JP-side observer's capture,
/// the forged canary, the attacker's connection).
fn attack_jp(c: &Cluster, attacker: RawNats, observer: &RawNats) -> (Vec<Capture>, Capture, String, RawNats) {
    let observed = observer.capture_unsynced("tisa.jp.down.>");
    observer.sync_as(Party::Jp);
    let read: Vec<Capture> = [">", "tisa.>", "tisa.jp.>", "tisa.ctl.jp.>", "_INBOX.>", "_INBOX_jp_cli.>"]
        .iter()
        .map(|s| attacker.capture_unsynced(s))
        .collect();
    attacker.flush();
    let forged = canary("forged_delivery");
    for s in ["tisa.jp.down.delivery", "tisa.jp.down.request", "tisa.ctl.jp.inbox", "tisa.ctl.jp.events"] {
        attacker.publish_unsynced(s, forged.clone());
    }
    attacker.flush();
    // The canaries: legitimate releases towards JP and back.
    release(c, Party::Kr, Party::Jp);
    release(c, Party::Jp, Party::Kr);
    assert!(observed.on("tisa.jp.down.delivery") >= 1, "the observer saw the legitimate delivery to JP");
    (read, observed, forged, attacker)
}

#[test]
fn per_nation_kr_credentials_reach_nothing_of_jp() {
    // Control: on an open server, the same attempt reads JP's traffic and
    // puts the forged delivery on JP's subject.
    {
        let c = start(Broker::Open);
        let attacker = RawNats::try_connect(c.nats.url(), None, None).unwrap();
        let observer = RawNats::try_connect(c.nats.url(), None, None).unwrap();
        let (read, observed, forged, _a) = attack_jp(&c, attacker, &observer);
        let n: usize = read.iter().map(|r| r.others_on(".jp.", &forged)).sum();
        assert!(n > 0, "control: on an open server the attacker should read JP's traffic");
        assert!(observed.contains(&forged), "control: on an open server the forgery should reach JP's subject");
    }
    // Per-nation: KR's node credentials, on KR's server (the only one they open).
    let c = start(Broker::PerNation);
    let kr = c.nats_of(Party::Kr).url().to_owned();
    let jp = c.nats_of(Party::Jp).url().to_owned();
    let attacker = RawNats::try_connect(&kr, Some(creds(&c, "kr-node.nk", Party::Kr, Role::Node)), None).unwrap();
    // The observer sits where JP's node does: JP's link credentials on JP's server.
    let observer = RawNats::try_connect(&jp, Some(creds(&c, "jp-link.nk", Party::Jp, Role::NationLink)), None).unwrap();
    let (read, observed, forged, attacker) = attack_jp(&c, attacker, &observer);
    let n: usize = read.iter().map(|r| r.others_on(".jp.", &forged) + r.on("_INBOX")).sum();
    assert_eq!(n, 0, "KR credentials read {n} messages of JP's");
    assert!(!observed.contains(&forged), "a forgery from KR credentials reached JP's subjects");
    let errs = attacker.wait_error("permissions violation");
    assert!(errs.iter().any(|e| e.contains("tisa.jp.down.delivery")), "refused explicitly: {errs:?}");

    // KR's credentials (node and operator) on JP's and US's servers: refused
    // at the door. Control: the same credentials are accepted by KR's server.
    for (file, role) in [("kr-node.nk", Role::Node), ("kr-cli.nk", Role::Cli)] {
        assert!(
            RawNats::try_connect(&kr, Some(creds(&c, file, Party::Kr, role)), None).is_ok(),
            "control: {file} on KR's server"
        );
        for (victim, url) in [(Party::Jp, &jp), (Party::Us, &c.nats_of(Party::Us).url().to_owned())] {
            let err = RawNats::try_connect(url, Some(creds(&c, file, Party::Kr, role)), None)
                .err()
                .unwrap_or_else(|| panic!("{file} was accepted by {victim}'s server"));
            assert!(err.to_lowercase().contains("authorization violation"), "{file} on {victim}'s server: {err}");
        }
    }
    // Nor does the hub's KR-link credential open JP's server.
    let err = RawNats::try_connect(&jp, Some(creds(&c, "us-link-kr.nk", Party::Kr, Role::Link)), None)
        .err()
        .expect("us-link-kr accepted by JP's server");
    assert!(err.to_lowercase().contains("authorization violation"), "{err}");
}

// --------------------------------------------------------------- (c) TLS

/// Speaks plain-text NATS to `addr` (`host:port`): returns the server's
/// INFO line and whether a `PING` got its `PONG`.
fn plaintext_ping(url: &str) -> (String, bool) {
    let addr = url.rsplit_once("://").map_or(url, |(_, a)| a);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut chunk = [0u8; 4096];
    while !buf.contains(&b'\n') && Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    let info = String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_owned();
    let _ = s.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n");
    let mut reply = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !String::from_utf8_lossy(&reply).contains("PONG") {
        match s.read(&mut chunk) {
            Ok(0) => break, // closed by the server
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    (info, String::from_utf8_lossy(&reply).contains("PONG"))
}

#[test]
fn tls_refuses_plaintext_and_carries_the_arrangement() {
    // Control: an open server answers a plain-text PING.
    {
        let open = NatsServer::start_for_tests();
        let (info, pong) = plaintext_ping(open.url());
        assert!(info.starts_with("INFO"), "{info}");
        assert!(pong, "control: a plain-text client gets PONG from an open server");
    }
    let c = start(Broker::PerNationTls);
    let dir = c.broker_dir.clone().unwrap();
    #[cfg(unix)]
    for key in ["server-key.pem", "ca-key.pem"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key} must be mode 0600");
    }
    let ca = dir.join("ca.pem");
    for p in Party::ALL {
        let url = c.nats_of(p).url();
        assert!(url.starts_with("tls://"), "{p}'s server advertises TLS: {url}");
        // Plain text: the server demands TLS and never answers.
        let (info, pong) = plaintext_ping(url);
        assert!(info.contains("\"tls_required\":true"), "{p}'s server must require TLS: {info}");
        assert!(!pong, "{p}'s server answered a plain-text client");
        // TLS with valid credentials but without the generated CA: refused too.
        let who = creds(&c, &format!("{}-cli.nk", p.lower()), p, Role::Cli);
        let err = RawNats::try_connect(url, Some(who.clone()), None).err().expect("connected without trusting the CA");
        assert!(!err.is_empty());
        // With the CA: accepted.
        RawNats::try_connect(url, Some(who), Some(&ca))
            .unwrap_or_else(|e| panic!("TLS with the CA to {p}'s server: {e}"));
    }
    // The generated configs carry the CA and tls:// URLs.
    for name in ["kr-node.toml", "us-node.toml", "jp-cli.toml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.contains("tls_ca_file = \"ca.pem\"") && text.contains("url = \"tls://"), "{name}:\n{text}");
    }
    // The arrangement, over TLS only.
    release(&c, Party::Kr, Party::Jp);
    release(&c, Party::Jp, Party::Kr);
}

// ----------------------------------------------------------- (d) JetStream

/// A nats-server's monitoring endpoint (started with `-m -1`), from its ports file.
fn monitoring_url(s: &NatsServer) -> String {
    let ports = std::fs::read_dir(s.dir())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))
        .expect("ports file");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(ports.path()).unwrap()).unwrap();
    v["monitoring"][0].as_str().expect("monitoring URL").to_owned()
}

fn http_get_json(url: &str) -> Value {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {url}: {e}\n{resp}"))
}

fn generate(out: &Path, args: &[&str]) {
    let o = Command::new(BIN).args(["broker", "config", "--out"]).arg(out).args(args).output().unwrap();
    assert!(o.status.success(), "tisa broker config {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The JetStream limits land in every account of every generated config,
/// the store directories are absolute and per server, and nats-server
/// 2.15.1 accepts the configs (no error or warning in its log) and applies
/// the limits (its monitoring endpoint reports them per account).
#[test]
fn jetstream_limits_are_configured_and_accepted() {
    let scratch = tisa_kit::natsd::scratch_dir("broker-js").unwrap();
    let (shared, per_nation) = (scratch.join("shared"), scratch.join("per-nation"));
    generate(&shared, &[]);
    generate(
        &per_nation,
        &[
            "--mode",
            "per-nation",
            "--js-max-mem",
            "32M",
            "--js-max-file",
            "256M",
            "--js-max-streams",
            "4",
            "--js-max-consumers",
            "8",
            "--tls",
        ],
    );
    let defaults = "jetstream { max_mem: 64M, max_file: 1G, max_streams: 16, max_consumers: 64 }";
    let custom = "jetstream { max_mem: 32M, max_file: 256M, max_streams: 4, max_consumers: 8 }";
    let confs = [
        (shared.join("nats-server.conf"), defaults, 3, shared.join("jetstream")),
        (per_nation.join("nats-kr.conf"), custom, 1, per_nation.join("jetstream-kr")),
        (per_nation.join("nats-us.conf"), custom, 1, per_nation.join("jetstream-us")),
        (per_nation.join("nats-jp.conf"), custom, 1, per_nation.join("jetstream-jp")),
    ];
    for (conf, limits, accounts, store) in &confs {
        let text = std::fs::read_to_string(conf).unwrap();
        assert_eq!(text.matches(limits).count(), *accounts, "{}: {limits} per account:\n{text}", conf.display());
        let store = std::fs::canonicalize(store.parent().unwrap()).unwrap().join(store.file_name().unwrap());
        assert!(store.is_absolute());
        assert!(text.contains(&format!("store_dir: \"{}\"", store.display())), "{}:\n{text}", conf.display());
        // Only node users (and the hub's link users) may use JetStream, in
        // their own account; operators' CLI users never.
        for block in
            text.split("# ").filter(|b| b.starts_with("kr-cli") || b.starts_with("us-cli") || b.starts_with("jp-cli"))
        {
            let user = block.split("} }").next().unwrap_or_default();
            assert!(!user.contains("$JS"), "a CLI user may not use JetStream:\n{user}");
        }
        // No user gets the whole JetStream API, acknowledgements or blanket
        // replies: each node user the exact subjects of its own streams
        // (the US's own server in per-nation mode holds no link, but the US
        // node's dead-letter stream).
        assert!(!text.contains("\"$JS.API.>\"") && !text.contains("\"$JS.ACK.>\""), "{text}");
        assert!(!text.contains("allow_responses"), "{text}");
        assert!(text.contains("\"$JS.API.STREAM.CREATE.TISA_") && text.contains("_DEADLETTER\""), "{text}");
        assert!(text.contains("deadletter\""), "each node publishes its own dead letters:\n{text}");
        assert!(text.contains("sync_interval: always"), "fsync before every acknowledgement by default:\n{text}");
    }
    // The real server accepts them and applies the limits.
    let _permit = ClusterPermit::acquire();
    for (conf, _, accounts, _) in &confs {
        let s = NatsServer::start(&nats_bin(), &["-c", &conf.to_string_lossy(), "-m", "-1"])
            .unwrap_or_else(|e| panic!("nats-server refused {}: {e:#}", conf.display()));
        let jsz = http_get_json(&format!("{}/jsz?accounts=true", monitoring_url(&s)));
        let details = jsz["account_details"].as_array().unwrap_or_else(|| panic!("{jsz}"));
        assert_eq!(details.len(), *accounts, "JetStream enabled in every account: {jsz}");
        for a in details {
            assert!(a["reserved_memory"].as_u64().unwrap_or(0) > 0, "{a}");
            assert!(a["reserved_storage"].as_u64().unwrap_or(0) > 0, "{a}");
        }
        let log = std::fs::read_to_string(s.dir().join("nats-server.log")).unwrap();
        assert!(log.contains("Starting JetStream"), "{log}");
        // (A nation's server alone cannot reach US's leaf listener: that, and only that, may fail here.)
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| (l.contains("[ERR]") || l.contains("[WRN]")) && !l.contains("connect as leafnode"))
            .collect();
        assert!(bad.is_empty(), "{}: nats-server complains:\n{}", conf.display(), bad.join("\n"));
    }
    drop(_permit);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// No party reaches the JetStream API of another's account: with KR's
/// operator (and node) credentials, `$JS.API.INFO` is refused by the broker
/// and nobody answers, in the shared deployment (JP's and US's accounts on
/// the same server) and in the per-nation one. Control: an open JetStream
/// server answers the very same request.
#[test]
fn jetstream_api_is_closed_to_other_parties() {
    {
        let store = tisa_kit::natsd::scratch_dir("js-open").unwrap();
        let open = NatsServer::start(&nats_bin(), &["-js", "-sd", &store.to_string_lossy()]).unwrap();
        let raw = RawNats::try_connect(open.url(), None, None).unwrap();
        let answer = raw.request("$JS.API.INFO").expect("control: an open JetStream server answers $JS.API.INFO");
        assert!(answer.contains("account_info_response"), "{answer}");
        drop((raw, open));
        let _ = std::fs::remove_dir_all(&store);
    }
    for kind in [Broker::Shared, Broker::PerNation] {
        let c = start(kind.clone());
        let url = c.nats_of(Party::Kr).url().to_owned();
        // KR's operators: no JetStream at all.
        let raw = RawNats::try_connect(&url, Some(creds(&c, "kr-cli.nk", Party::Kr, Role::Cli)), None).unwrap();
        let subjects = ["$JS.API.INFO", "$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES"];
        for (subject, r) in subjects.iter().zip(raw.requests(&subjects)) {
            assert!(r.is_err(), "kr-cli got a JetStream answer on {subject}: {r:?}");
        }
        let errs = raw.wait_error("permissions violation");
        assert!(errs.iter().any(|e| e.contains("$JS.API.INFO")), "{errs:?}");
        // KR's node users: the exact API of their own streams only. Not
        // even a list of streams; JP's streams are never reachable, and the
        // hub's stream of KR's messages is not KR's to read.
        let link =
            RawNats::try_connect(&url, Some(creds(&c, "kr-link.nk", Party::Kr, Role::NationLink)), None).unwrap();
        let info = link.request("$JS.API.STREAM.INFO.TISA_KR_DOWN").expect("KR's link user reads its own stream");
        assert!(info.contains("\"TISA_KR_DOWN\""), "KR keeps what it receives in its own account: {info}");
        for (file, role) in [("kr-node.nk", Role::Node), ("kr-link.nk", Role::NationLink)] {
            let raw = RawNats::try_connect(&url, Some(creds(&c, file, Party::Kr, role)), None).unwrap();
            let subjects =
                ["$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.TISA_JP_DOWN", "$JS.API.STREAM.INFO.TISA_KR_UP"];
            for (subject, r) in subjects.iter().zip(raw.requests(&subjects)) {
                assert!(r.is_err(), "{file} got a JetStream answer on {subject}: {r:?}");
            }
            let errs = raw.wait_error("permissions violation");
            assert!(errs.iter().any(|e| e.contains("$JS.API.STREAM.NAMES")), "{errs:?}");
        }
        // The canary: the arrangement itself still works on this deployment.
        release(&c, Party::Kr, Party::Jp);
    }
}
