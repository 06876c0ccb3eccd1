//! Content at rest is its owner's only, whatever the umask: under umask 022
//! every directory tisa creates for node data, keys, credentials, logs and
//! the demo is 0700 and every file in it 0600 — `node.redb` (report text),
//! `audit.log`, `audit.head`, key files, nkey seeds, configs, node logs —
//! checked with `stat` on real node processes and on `tisa demo`. The
//! control creates the same kinds of files the plain way under the same
//! umask and gets 0644 / 0755, so the checks can fail.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{approve, canary, draft, submit, wait_inbox, wait_request_id, TestCluster};
use tisa_core::Party;

fn umask_022() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

/// Every path under `dir` (itself included) but those under `skip`
/// (nats-server's own JetStream store: the directory itself is checked).
fn walk(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
    out.push(dir.to_owned());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if skip.iter().any(|s| p.file_name().is_some_and(|n| n == *s)) {
            out.push(p);
            continue;
        }
        if p.is_dir() {
            walk(&p, skip, out);
        } else {
            out.push(p);
        }
    }
}

/// Paths whose mode is not 0700 (directories) or 0600 (files).
fn not_private(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| mode(p) != if p.is_dir() { 0o700 } else { 0o600 })
        .map(|p| format!("{} {:o}", p.display(), mode(p)))
        .collect()
}

/// Public by design: the agreement (public keys, policy) and the broker CA
/// certificate and server configs (no secrets), all inside 0700 directories.
fn public_by_design(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name == "agreement.toml" || name.starts_with("nats-") && name.ends_with(".conf")
}

/// The control: the same kinds of files and directories created the plain
/// way, under the same umask, are readable by everyone.
fn control_plain_way_is_world_readable() {
    let d = std::env::temp_dir().join(format!("tisa-modes-control-{}-{}", std::process::id(), canary("c")));
    std::fs::create_dir_all(d.join("kr-data")).unwrap();
    std::fs::write(d.join("kr-data/node.redb"), b"report text").unwrap();
    std::fs::OpenOptions::new().create(true).append(true).open(d.join("kr-data/audit.log")).unwrap();
    assert_eq!(mode(&d.join("kr-data")), 0o755);
    assert_eq!(mode(&d.join("kr-data/node.redb")), 0o644);
    assert_eq!(mode(&d.join("kr-data/audit.log")), 0o644);
    let paths = {
        let mut v = Vec::new();
        walk(&d, &[], &mut v);
        v
    };
    assert_eq!(not_private(&paths).len(), paths.len(), "the check flags every plain path");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn node_data_keys_credentials_and_logs_are_private_under_umask_022() {
    umask_022();
    control_plain_way_is_world_readable();
    let c = TestCluster::builder().secured().start();
    // Report text in KR's store, US's and JP's.
    let id = submit(&c, Party::Kr, &draft("missile", "secret", "USA,JPN", "modes"));
    approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &id, 1));
    wait_inbox(&c, Party::Jp, &id, 1);

    let mut paths = Vec::new();
    walk(&c.dir, &[], &mut paths);
    let broker = c.broker_dir.clone().unwrap();
    walk(&broker, &["jetstream"], &mut paths);
    for p in Party::ALL {
        let data = c.dir.join(format!("{}-data", p.lower()));
        for f in ["node.redb", "audit.log", "audit.head"] {
            assert!(paths.contains(&data.join(f)), "{} has no {f}", data.display());
        }
        assert!(paths.contains(&broker.join(format!("{}-node.nk", p.lower()))));
        assert!(paths.contains(&c.node_key(p)));
    }
    assert!(paths.contains(&broker.join("jetstream")), "the broker's store dir itself is checked");
    assert!(paths.iter().any(|p| p.extension().is_some_and(|e| e == "log")), "node logs are checked");
    paths.retain(|p| !public_by_design(p));
    let bad = not_private(&paths);
    assert!(bad.is_empty(), "not 0700/0600 under umask 022:\n{}", bad.join("\n"));
}

/// `tisa demo`'s temporary directories: its cluster directory (node data,
/// keys, logs) is kept with `TISA_KEEP_LOGS` and checked after the run.
#[test]
fn the_demo_directories_are_private_under_umask_022() {
    umask_022();
    let _permit = common::ClusterPermit::acquire();
    let out = Command::new(common::BIN)
        .arg("demo")
        .env("TISA_NATS_SERVER", common::nats_bin())
        .env("TISA_KEEP_LOGS", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let dir = stdout
        .lines()
        .find_map(|l| l.split_once("; logs in ").map(|(_, d)| PathBuf::from(d.trim())))
        .unwrap_or_else(|| panic!("the demo names its directory:\n{stdout}"));
    let mut paths = Vec::new();
    walk(&dir, &[], &mut paths);
    assert!(paths.iter().any(|p| p.ends_with("kr-data/node.redb")), "{paths:?}");
    paths.retain(|p| !public_by_design(p));
    let bad = not_private(&paths);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(bad.is_empty(), "not 0700/0600 under umask 022:\n{}", bad.join("\n"));
}
