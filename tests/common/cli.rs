//! The one `tisa` runner: any command ([`tisa`]), a party's operator on any
//! cluster ([`op`], [`cli`]), and commands left running in the background
//! ([`Background`]).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use serde_json::Value;
use tisa_core::Party;
use tisa_kit::cluster::Cluster;

use super::wait::{wait_for, WAIT};

/// The `tisa` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tisa");

/// `tisa ARGS…`, with settings from the test's own environment removed, so
/// that only the arguments count and stderr holds only what the command says.
pub fn tisa_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for var in
        ["RUST_LOG", "TISA_LOG_FORMAT", "TISA_PARTY", "TISA_NATS_URL", "TISA_CONFIG", "TISA_KEY", "TISA_NODE_KEY"]
    {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `tisa ARGS…` (see [`tisa_command`]) and waits for it.
pub fn tisa(args: &[&str]) -> Output {
    tisa_command(args).output().unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

/// Describes an output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that a command failed (non-zero) with a one-line reason on stderr
/// (`error: …`) and nothing on stdout but, under `--json`, the same reason
/// as one JSON object (`{"error": {"message": …}}`); returns that line.
pub fn one_line_error(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: expected failure, got {}", describe(out));
    assert_ne!(out.status.code(), Some(0), "{what}: {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected exactly one line on stderr, got {}", describe(out));
    assert!(lines[0].starts_with("error: "), "{what}: expected `error: …`, got {}", describe(out));
    if !out.stdout.is_empty() {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{what}: expected nothing on stdout or a JSON error ({e}), got {}", describe(out))
        });
        assert_eq!(v["error"]["message"].as_str(), lines[0].strip_prefix("error: "), "{what}: {}", describe(out));
    }
    lines[0].to_owned()
}

/// Like [`one_line_error`] for argument errors reported by the parser (clap):
/// exit code 2; the first line is `error: <reason>`; what follows is only
/// clap's usage hint. Returns the whole of stderr.
pub fn usage_error(out: &Output, what: &str) -> String {
    assert_eq!(out.status.code(), Some(2), "{what}: expected a usage error (exit 2), got {}", describe(out));
    assert!(out.stdout.is_empty(), "{what}: expected nothing on stdout, got {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{what}: expected `error: …` first, got {}", describe(out));
    assert_eq!(stderr.matches("error:").count(), 1, "{what}: one error expected, got {}", describe(out));
    stderr
}

// --------------------------------------------------------------- operators

/// The arguments of an operator command as `party` on cluster `c`: its CLI
/// config on a secured cluster (its credentials), else `--party`; `--nats`
/// pointing at `party`'s server (dynamic port); with `key`, `party`'s first
/// approver key (`--key`).
pub fn op_args(c: &Cluster, party: Party, key: bool, args: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match c.cli_config(party) {
        Some(cfg) => a.extend(["--config".into(), cfg.to_string_lossy().into_owned()]),
        None => a.extend(["--party".into(), party.lower().to_owned()]),
    }
    a.extend(["--nats".into(), c.urls_of(party)]);
    if key {
        a.extend(["--key".into(), c.approver_key(party, false).to_string_lossy().into_owned()]);
    } else if let Some(op) = operator_for(args) {
        a.extend(["--key".into(), c.operator_key(party, op).to_string_lossy().into_owned()]);
    }
    a
}

/// The operator whose key signs `args` when the caller gives none: the
/// feed's for a feed, the analyst's (submitter, reader) for submitting,
/// retracting and reading. Decisions and grants are left to the caller
/// ([`cli`] adds the approver's), so a test can leave the key out.
fn operator_for(args: &[&str]) -> Option<&'static str> {
    if args.contains(&"--key") || args.contains(&"--dry-run") {
        return None;
    }
    match *args.first()? {
        "feed" => Some("feed"),
        "submit" | "retract" | "pending" | "inbox" | "status" | "show" => Some("analyst"),
        _ => None,
    }
}

/// Runs `tisa ARGS` as `party`'s operator (see [`op_args`]).
pub fn op(c: &Cluster, party: Party, key: bool, args: &[&str]) -> Output {
    let a = op_args(c, party, key, args);
    tisa(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// [`op`] with `--json`, asserting success; the parsed output.
pub fn op_json(c: &Cluster, party: Party, key: bool, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = op(c, party, key, &a);
    assert!(out.status.success(), "`tisa {}` as {party} failed: {}", a.join(" "), describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`tisa {}` printed invalid JSON ({e}): {}", a.join(" "), describe(&out)))
}

/// `tisa standing grant ARGS…` as `party`'s first approver; under the
/// two-person rule the grant is only proposed, so `party`'s second approver
/// co-signs it (`tisa standing cosign`, with its own key, as another person
/// would). Returns the grant in force, as `--json` prints it.
pub fn grant_in_force(c: &Cluster, party: Party, args: &[&str]) -> Value {
    let mut a = vec!["standing", "grant"];
    a.extend_from_slice(args);
    let g = op_json(c, party, true, &a);
    if g["items"][0]["proposed"] != true {
        return g;
    }
    let id = g["items"][0]["grant_id"].as_str().unwrap_or_else(|| panic!("no grant id in {g}")).to_owned();
    let second = c.approver_key(party, true).to_string_lossy().into_owned();
    let v = op_json(c, party, false, &["standing", "cosign", &id, "--key", &second]);
    assert_eq!(v["items"][0]["proposed"], false, "co-signed grant still proposed: {v}");
    v
}

/// Verbs that sign with the operator's approver key.
const SIGNING_VERBS: [&str; 3] = ["approve", "deny", "standing"];

/// Whether an operator command signs (a signing verb) and brings no `--key`
/// of its own: then [`cli`] adds the party's first approver key.
fn signs(args: &[&str]) -> bool {
    args.first().is_some_and(|v| SIGNING_VERBS.contains(v)) && !args.contains(&"--key")
}

/// Runs an operator command as `party`; decisions are signed with `party`'s
/// first approver key (as the operator's own CLI would), unless the caller
/// passes `--key` itself.
pub fn cli(c: &Cluster, party: Party, args: &[&str]) -> Output {
    op(c, party, signs(args), args)
}

/// Runs an operator command with `--json`, asserts success, parses stdout.
pub fn cli_json(c: &Cluster, party: Party, args: &[&str]) -> Value {
    op_json(c, party, signs(args), args)
}

/// Runs an operator command that must fail; returns its one-line error.
pub fn cli_err(c: &Cluster, party: Party, args: &[&str]) -> String {
    let out = cli(c, party, args);
    one_line_error(&out, &format!("`tisa {}` as {party}", args.join(" ")))
}

// -------------------------------------------------------- background CLI

/// A `tisa` command running in the background (`watch`, a feed), killed on
/// drop. Its stdout and stderr are read line by line as they come.
pub struct Background {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// stdout lines seen so far.
    pub stdout_seen: Vec<String>,
    /// stderr lines seen so far.
    pub stderr_seen: Vec<String>,
}

fn line_reader(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (up to [`WAIT`]) for a line of `rx` matching `pred`, keeping every
/// line in `seen`.
fn wait_line(rx: &Receiver<String>, seen: &mut Vec<String>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                seen.push(line.clone());
                if pred(&line) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("no line {what} within {WAIT:?}; seen: {seen:#?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("output closed before a line {what}; seen: {seen:#?}"),
        }
    }
}

/// Every line `rx` still gives until it closes (up to [`WAIT`] per line).
fn drain(rx: &Receiver<String>, mut lines: Vec<String>) -> Vec<String> {
    while let Ok(l) = rx.recv_timeout(WAIT) {
        lines.push(l);
    }
    lines
}

impl Background {
    /// Spawns `tisa ARGS` (see [`tisa_command`]), output piped.
    pub fn spawn_args(args: &[String]) -> Background {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = tisa_command(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {BIN}: {e}"));
        let stdout = line_reader(child.stdout.take().expect("piped stdout"));
        let stderr = line_reader(child.stderr.take().expect("piped stderr"));
        Background { child, stdout, stderr, stdout_seen: Vec::new(), stderr_seen: Vec::new() }
    }

    /// Spawns an operator command as `party` (see [`cli`]), output piped.
    pub fn spawn(c: &Cluster, party: Party, args: &[&str]) -> Background {
        Background::spawn_args(&op_args(c, party, signs(args), args))
    }

    /// Waits (up to [`WAIT`]) for a stderr line containing `needle`.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        wait_line(&self.stderr, &mut self.stderr_seen, &format!("containing {needle:?} on stderr"), |l| {
            l.contains(needle)
        })
    }

    /// Waits (up to [`WAIT`]) for a stdout line for which `pred` holds.
    pub fn wait_stdout(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_line(&self.stdout, &mut self.stdout_seen, &format!("{what} on stdout"), pred)
    }

    /// Waits (up to [`WAIT`]) for the process to exit; returns its status and
    /// every stdout line it printed.
    pub fn wait_exit(mut self) -> (ExitStatus, Vec<String>) {
        let status = wait_for("the background command exits", || self.child.try_wait().ok().flatten());
        let deadline = Instant::now() + WAIT;
        let mut lines = std::mem::take(&mut self.stdout_seen);
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open after exit; seen: {lines:?}"),
            }
        }
        (status, lines)
    }

    /// Waits (up to [`WAIT`]) for the process to exit; returns its status and
    /// all of its stderr.
    pub fn wait_exit_stderr(mut self) -> (ExitStatus, String) {
        let status = wait_for("the background command exits", || self.child.try_wait().ok().flatten());
        let lines = drain(&self.stderr, std::mem::take(&mut self.stderr_seen));
        (status, lines.join("\n"))
    }

    /// Kills the process; returns all of its stderr.
    pub fn kill_stderr(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drain(&self.stderr, std::mem::take(&mut self.stderr_seen)).join("\n")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
