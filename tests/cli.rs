//! The command line's own behaviour, without a broker (or with only a broker):
//! its reader going away, what it refuses to overwrite, wrong credentials, a
//! broker that is down, errors under `--json`, help texts, dry runs.

use std::io::Write as _;
use std::process::{Output, Stdio};

use crate::common::*;
use serde_json::json;

/// `tisa … | head -1`: once the reader is gone, a command that prints ends
/// quietly (status 0, no panic), whichever command it is.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    for args in [&["agreement", "show"][..], &["agreement", "show", "--json"]] {
        // The pipe's reading end is closed before the command starts: its
        // first write fails with EPIPE, whatever the timing.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = tisa_command(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "tisa {args:?}: {stderr}");
        assert!(stderr.is_empty(), "tisa {args:?}: nothing to say: {stderr}");
        assert_eq!(out.status.code(), Some(0), "tisa {args:?}: {stderr}");
    }
}

/// A second `tisa broker config` into the same directory would replace every
/// party's credentials: refused (one line saying what to do) without `--force`.
#[test]
fn broker_config_refuses_to_overwrite_credentials_without_force() {
    let dir = tisa_kit::natsd::scratch_dir("cli-broker").unwrap();
    let out_dir = dir.join("broker");
    let out = out_dir.to_str().unwrap();
    let first = tisa(&["broker", "config", "--out", out]);
    assert!(first.status.success(), "{}", describe(&first));
    let seed = out_dir.join("kr-node.nk");
    let before = std::fs::read_dir(&out_dir).unwrap().count();
    let kr_seed = std::fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));

    let again = tisa(&["broker", "config", "--out", out]);
    let line = one_line_error(&again, "a second broker config");
    assert!(line.contains("--force") && line.contains("another --out"), "{line}");
    assert_eq!(std::fs::read(&seed).unwrap(), kr_seed, "the credentials are untouched");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), before);

    let forced = tisa(&["broker", "config", "--out", out, "--force"]);
    assert!(forced.status.success(), "{}", describe(&forced));
    assert_ne!(std::fs::read(&seed).unwrap(), kr_seed, "--force writes new credentials");
    let _ = std::fs::remove_dir_all(dir);
}

/// Wrong credentials are named at once, never waited for. An operator with a
/// node's credentials: the broker refuses the subject, and the command says
/// so instead of "did not answer" after its timeout. A node whose nkey the
/// broker does not know: it stops with what to check instead of retrying forever.
#[test]
fn wrong_credentials_are_named_not_waited_for() {
    let scratch = tisa_kit::natsd::scratch_dir("cli-creds").unwrap();
    let (ours, theirs) = (scratch.join("broker"), scratch.join("other"));
    for d in [&ours, &theirs] {
        let out = tisa(&["broker", "config", "--out", d.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    let conf = ours.join("nats-server.conf");
    let nats = tisa_kit::natsd::NatsServer::start(&nats_bin(), &["-c", conf.to_str().unwrap()]).unwrap();
    let node_config = ours.join("kr-node.toml");
    let node_config = node_config.to_str().unwrap();

    let out = tisa(&["health", "--config", node_config, "--nats", nats.url(), "--timeout", "20s"]);
    let err = one_line_error(&out, "health with a node's credentials");
    assert!(err.contains("Permissions Violation") && err.contains("kr-cli.toml"), "{err}");

    // KR's node with a seed of another deployment.
    std::fs::copy(theirs.join("kr-node.nk"), ours.join("kr-node.nk")).unwrap();
    let keys = scratch.join("keys");
    let agreement = tisa_deploy::keys::generate_deployment(&keys, tisa_deploy::agreement::DEFAULT).unwrap();
    let (node_key, data) = (keys.join("kr-node.key"), scratch.join("kr-data"));
    let args = [
        "node",
        "--party",
        "kr",
        "--config",
        node_config,
        "--nats",
        nats.url(),
        "--agreement",
        agreement.to_str().unwrap(),
        "--key",
        node_key.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let mut node = Background::spawn_args(&args.map(str::to_owned));
    let line = node.wait_stderr("refused the credentials");
    assert!(line.contains("nkey seed file"), "{line}");
    let (status, _) = node.wait_exit();
    assert!(!status.success(), "the node stops: {status}");
    drop(nats);
    let _ = std::fs::remove_dir_all(scratch);
}

/// With the broker down, a read-only command says so in one line; under
/// `--json` also as a JSON object on stdout (as any error, a usage error too).
#[test]
fn reads_with_the_broker_down_say_so_in_text_and_json() {
    let dir = tisa_kit::natsd::scratch_dir("cli-down").unwrap();
    let (key, _) = tisa_deploy::keys::generate_operator(
        tisa_core::Party::Kr,
        "kr-reader",
        &[tisa_core::KeyRole::Reader],
        &dir,
        None,
    )
    .unwrap();
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    for verb in ["pending", "inbox", "status"] {
        let out = tisa(&[verb, "--party", "kr", "--nats", &url, "--key", key.to_str().unwrap()]);
        let err = one_line_error(&out, verb);
        assert!(err.contains(&url) && err.contains("broker down") && err.contains("tisa probe"), "{verb}: {err}");
    }
    // Under --json the error is also a JSON object on stdout.
    let out = tisa(&["inbox", "--json", "--party", "kr", "--nats", &url, "--key", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("broker down")), "{v}");
    let out = tisa(&["inbox", "--json", "--party", "kr", "--limit", "many"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert_eq!(v["error"]["code"], "USAGE", "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("--limit")), "{v}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `--help` of each feed (and of `export`, `taxii`) says what it reads, field
/// by field or column by column, not only its one-line summary.
#[test]
fn feed_help_lists_the_fields_it_reads() {
    for (args, want) in [
        (&["feed", "jsonl", "--help"][..], "id (a string or an integer)"),
        (&["feed", "tracks", "--help"], "track_id (prefixed"),
        (&["feed", "cns-csv", "--help"], "Missile Name"),
        (&["feed", "webhook", "--help"], "a JSON object, the same as one line of"),
        (&["feed", "stix", "--help"], "control_set.classification"),
        (&["feed", "usgs", "--help"], "Polls the USGS earthquake catalogue"),
        (&["export", "--help"], "Reading needs your reader key"),
    ] {
        let out = tisa(args);
        assert!(out.status.success(), "{}", describe(&out));
        // As wrapped to the terminal: words, whatever the line breaks.
        let help = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains(want), "tisa {args:?} lacks {want:?}:\n{help}");
    }
}

/// `tisa ARGS` fed `input` on stdin.
fn with_stdin(args: &[&str], input: &str) -> Output {
    let mut child =
        tisa_command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// What a command printed on stdout, one JSON value a line.
fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A feed's `--dry-run` with the party known checks the agreement's link
/// ceilings as the node will: a TOP SECRET KR report or track is refused here too.
#[test]
fn dry_runs_check_the_agreements_ceilings() {
    let report = |id: &str, class: &str| {
        json!({"id": id, "category": "missile", "classification": class, "rel_to": "USA,JPN", "title": "t", "body": "b"})
            .to_string()
    };
    let input = [report("c-1", "secret"), report("c-2", "top_secret")].join("\n");
    let out = with_stdin(&["feed", "jsonl", "--dry-run", "--json", "--party", "kr", "-"], &input);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let keys: Vec<_> = json_lines(&out).iter().map(|v| v["source_key"].as_str().map(str::to_owned)).collect();
    assert_eq!(keys, [Some("jsonl:c-1".to_owned())], "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: not submitted") && err.contains("above the SECRET ceiling"), "{err}");

    let track = |seq: u32, class: &str| {
        json!({"track_id": "KR-T-1", "seq": seq, "classification": class, "rel_to": "USA,JPN",
            "launch": {"lat": 39.0, "lon": 125.7, "at": "2024-05-27T14:32:10Z"},
            "position": {"lat": 39.8, "lon": 128.1, "alt_km": 400.0, "at": "2024-05-27T23:34:40+09:00"}})
        .to_string()
    };
    let input = [track(1, "secret"), track(2, "top_secret")].join("\n");
    let out = with_stdin(&["feed", "tracks", "--dry-run", "--json", "--party", "kr", "-"], &input);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let seqs: Vec<_> = json_lines(&out).iter().map(|v| v["seq"].as_u64()).collect();
    assert_eq!(seqs, [Some(1)], "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: not submitted"), "{}", describe(&out));
}
