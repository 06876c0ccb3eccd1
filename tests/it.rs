//! The cross-process integration tests, as **one** test binary.
//!
//! Every `tests/<name>.rs` is a module of this binary (`cargo test --release
//! --test it <name>::` runs one file's tests), not a binary of its own:
//! each of 38 binaries linked the whole tree again, which took most of a
//! cold build's last five minutes. The root `Cargo.toml` sets `autotests =
//! false`, so a new file here counts only once it is declared below;
//! [`every_test_file_is_declared`] fails until it is.
//!
//! `common` is the one shared harness; `driver` the browser tests' WebDriver
//! helpers. libtest runs the tests of all files on its threads (one per
//! core); the cluster tests bound themselves to two clusters at a time
//! (`common::cluster::MAX_CLUSTERS`).

mod common;
#[path = "browser/driver.rs"]
mod driver;

mod agreement;
mod audit;
mod bench;
mod broker_attacks;
mod broker_modes;
mod browser;
mod browser_map;
mod browser_pages;
mod cli;
mod cluster;
mod compose;
mod console;
mod deadletter;
mod demo;
mod durability;
mod early_forward;
mod faults;
mod faults_backlog;
mod feeds;
mod file_modes;
mod forgery;
mod freshness;
mod ident;
mod isolation;
mod key_passphrase;
mod notify;
mod offline;
mod reconcile;
mod relay;
mod robustness;
mod roster;
mod rules;
mod standing;
mod stix;
mod submit_batch;
mod tracks;
mod two_person;
mod wire_version;

/// The `tests/*.rs` files that `source` (this file) does not declare as
/// modules (`mod <name>;`), this file aside.
fn undeclared(files: &[String], source: &str) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.as_str() != "it")
        .filter(|f| !source.lines().any(|l| l.trim() == format!("mod {f};")))
        .cloned()
        .collect()
}

/// The stems of the `*.rs` files directly in `tests/`.
fn test_files() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files
}

/// With `autotests = false`, a test file nobody declares would silently
/// never run.
#[test]
fn every_test_file_is_declared() {
    let files = test_files();
    assert!(files.len() > 30, "found only {files:?} in tests/");
    let missing = undeclared(&files, include_str!("it.rs"));
    assert!(missing.is_empty(), "tests/{{{}}}.rs never run: declare them in tests/it.rs", missing.join(","));
}

/// Control: the same check finds a file this binary does not declare.
#[test]
fn a_file_left_undeclared_is_found() {
    let mut files = test_files();
    files.push("left_out".to_owned());
    assert_eq!(undeclared(&files, include_str!("it.rs")), vec!["left_out".to_owned()]);
    let without_relay = include_str!("it.rs").replace("mod relay;", "");
    assert_eq!(undeclared(&test_files(), &without_relay), vec!["relay".to_owned()]);
}
