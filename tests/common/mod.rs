//! Shared harness of the cross-process integration tests.
//!
//! Every test starts its own real `nats-server` (dynamic port) and the three
//! real `tisa node` processes (KR, US, JP), then drives them with the real
//! `tisa` binary, exactly as an operator would.
//!
//! Synchronisation rules (so the tests never flake and never lie):
//! - Nothing waits with a fixed sleep; [`wait_until`] polls a condition
//!   against a generous deadline ([`WAIT`]).
//! - To show that something did NOT arrive, a later legitimate message that
//!   travels the same ordered path is made to arrive first (a "canary"), and
//!   only then is absence asserted. See [`relay_canary`] and [`us_canary`].
//! - Absence is checked twice: in the node's answers (`inbox`) and on the
//!   wire, by a raw tap on every hub→nation subject ([`TestCluster::crossed_to`]),
//!   because a nation's node refusing a leaked report is not the same as the
//!   hub never sending it.
//!
//! Operator decisions are signed with the party's first approver key of the
//! cluster's generated deployment (`--key`), as the operator's CLI would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tisa_core::Party;

/// The `tisa` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tisa");

/// How long any single condition may take to become true. Generous on
/// purpose: the machine has two cores and may be compiling at the same time.
pub const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ limit

/// At most this many clusters run at once, across all tests of one test
/// binary. A cluster is a nats-server plus three `tisa node` processes (each
/// with a two-thread tokio runtime), and every check spawns short-lived `tisa`
/// CLI processes. The CI machine and the developer's box have 2 cores; more
/// than two clusters at once oversubscribe them badly (and cargo runs as many
/// test threads as there are cores, or more with `--test-threads`), turning
/// every deadline into a coin toss. Two keeps both cores busy and no more.
pub const MAX_CLUSTERS: usize = 2;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A slot in the counting semaphore; released on drop.
pub struct ClusterPermit(());

impl ClusterPermit {
    /// Blocks until fewer than [`MAX_CLUSTERS`] clusters are running.
    pub fn acquire() -> ClusterPermit {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_CLUSTERS {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        ClusterPermit(())
    }
}

impl Drop for ClusterPermit {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        FREED.notify_one();
    }
}

// ---------------------------------------------------------------- cluster

/// Options for [`TestCluster`].
#[derive(Default)]
pub struct ClusterBuilder {
    args: Vec<(Option<Party>, Vec<String>)>,
    env: Vec<(String, String)>,
}

impl ClusterBuilder {
    /// Extra `tisa node` arguments for one party.
    pub fn node_args(mut self, party: Party, args: &[&str]) -> Self {
        self.args.push((Some(party), args.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Extra `tisa node` arguments for every party.
    pub fn all_args(mut self, args: &[&str]) -> Self {
        self.args.push((None, args.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// An environment variable for every node (e.g. `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Waits for a permit, starts nats-server and the three nodes, and waits
    /// until every node has printed its readiness line.
    pub fn start(self) -> TestCluster {
        let permit = ClusterPermit::acquire();
        let nats = tisa_kit::natsd::NatsServer::start_for_tests();
        let args = self.args;
        let inner = tisa_kit::cluster::Cluster::start(
            std::path::Path::new(BIN),
            nats,
            |party| {
                args.iter().filter(|(p, _)| p.is_none_or(|p| p == party)).flat_map(|(_, a)| a.iter().cloned()).collect()
            },
            &self.env,
        )
        .unwrap_or_else(|e| panic!("cannot start the cluster: {e:#}"));
        // A wire tap on every hub→nation subject, live before anything is
        // submitted: what crossed a link, not just what a node accepted.
        let tap_conn = RawNats::connect(inner.nats.url());
        let tap = tap_conn.capture("tisa.*.down.>");
        TestCluster { tap, tap_conn, barriers: Mutex::default(), inner, _permit: permit }
    }
}

/// A running nats-server + KR, US and JP nodes, holding a [`ClusterPermit`].
/// Dereferences to [`tisa_kit::cluster::Cluster`] (`node(p).kill()`, logs…).
pub struct TestCluster {
    // Field order matters: the tap goes first, the processes stop before the
    // permit is released.
    tap: Capture,
    tap_conn: RawNats,
    barriers: Mutex<std::collections::HashMap<Party, String>>,
    inner: tisa_kit::cluster::Cluster,
    _permit: ClusterPermit,
}

impl TestCluster {
    /// A cluster with default options.
    pub fn start() -> TestCluster {
        TestCluster::builder().start()
    }

    /// A cluster with options.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The broker's URL.
    pub fn url(&self) -> &str {
        self.inner.nats.url()
    }

    /// Records that `marker` (a canary's body) was the last thing the hub sent
    /// `nation` and that it has arrived.
    pub fn note_barrier(&self, nation: Party, marker: &str) {
        self.barriers.lock().unwrap_or_else(|e| e.into_inner()).insert(nation, marker.to_owned());
    }

    /// The last canary that arrived at `nation`, if any.
    pub fn barrier(&self, nation: Party) -> Option<String> {
        self.barriers.lock().unwrap_or_else(|e| e.into_inner()).get(&nation).cloned()
    }

    /// Everything the wire tap saw on the hub→`nation` link: `(subject, payload)`.
    pub fn crossed_to(&self, nation: Party) -> Vec<(String, bytes::Bytes)> {
        let prefix = format!("tisa.{}.down.", nation.lower());
        self.tap.messages().into_iter().filter(|(s, _)| s.starts_with(&prefix)).collect()
    }

    /// Asserts that none of `secrets` ever crossed the hub→`nation` link (in
    /// any message), nor any of `reports` in a delivery, once `marker` (sent
    /// to `nation` after everything of interest) has been seen crossing it:
    /// the tap sees one link's messages in the order the hub sent them.
    pub fn assert_never_crossed(&self, nation: Party, marker: &str, secrets: &[&str], reports: &[&str]) {
        wait_for(&format!("the wire tap sees {marker} cross to {nation}"), || {
            self.crossed_to(nation).iter().any(|(_, p)| contains(p, marker)).then_some(())
        });
        for (subject, payload) in self.crossed_to(nation) {
            for s in secrets {
                assert!(!contains(&payload, s), "{s:?} crossed to {nation} on {subject}");
            }
            if subject.ends_with(".delivery") {
                for r in reports {
                    assert!(!contains(&payload, r), "report {r} was delivered to {nation} on {subject}");
                }
            }
        }
    }

    /// Everything `party`'s node has logged so far (its stderr).
    pub fn log(&self, party: Party) -> String {
        self.inner.nodes.iter().find(|n| n.party == party).map(|n| n.log()).unwrap_or_default()
    }
}

impl Deref for TestCluster {
    type Target = tisa_kit::cluster::Cluster;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test harness shows this output for failing tests only.
            eprintln!("---- node logs (kept in {}) ----", self.inner.dir.display());
            for n in &self.inner.nodes {
                eprintln!("---- {} ----\n{}", n.party, n.log_tail(30));
            }
        }
    }
}

// -------------------------------------------------------------------- CLI

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

/// Verbs that sign with the operator's approver key.
const SIGNING_VERBS: [&str; 3] = ["approve", "deny", "standing"];

/// The arguments of an operator command as `party` on the cluster's broker.
/// Decisions are signed with `party`'s first approver key (as the operator's
/// own CLI would), unless the caller passes `--key` itself.
fn operator_args(c: &TestCluster, party: Party, args: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(["--party".to_owned(), party.lower().to_owned(), "--nats".to_owned(), c.url().to_owned()]);
    if args.first().is_some_and(|v| SIGNING_VERBS.contains(v)) && !args.contains(&"--key") {
        a.extend(["--key".to_owned(), c.approver_key(party, false).to_string_lossy().into_owned()]);
    }
    a
}

/// Runs an operator command as `party` against the cluster's broker.
pub fn cli(c: &TestCluster, party: Party, args: &[&str]) -> Output {
    let a = operator_args(c, party, args);
    tisa(&a.iter().map(String::as_str).collect::<Vec<_>>())
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

/// Runs an operator command with `--json`, asserts success, parses stdout.
pub fn cli_json(c: &TestCluster, party: Party, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = cli(c, party, &a);
    assert!(out.status.success(), "`tisa {}` as {party} failed: {}", a.join(" "), describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`tisa {}` printed invalid JSON ({e}): {}", a.join(" "), describe(&out)))
}

/// Asserts that a command failed (non-zero) with a one-line reason on stderr
/// (`error: …`) and nothing on stdout; returns that line.
pub fn one_line_error(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: expected failure, got {}", describe(out));
    assert_ne!(out.status.code(), Some(0), "{what}: {}", describe(out));
    assert!(out.stdout.is_empty(), "{what}: expected nothing on stdout, got {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected exactly one line on stderr, got {}", describe(out));
    assert!(lines[0].starts_with("error: "), "{what}: expected `error: …`, got {}", describe(out));
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

/// Runs an operator command that must fail; returns its one-line error.
pub fn cli_err(c: &TestCluster, party: Party, args: &[&str]) -> String {
    let out = cli(c, party, args);
    one_line_error(&out, &format!("`tisa {}` as {party}", args.join(" ")))
}

// ------------------------------------------------------------------ waits

/// Polls `f` until it returns `Some`, or panics with `what` at `deadline`.
pub fn wait_until<T>(deadline: Instant, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut interval = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out waiting until {what}");
        }
        // Polling interval, not synchronisation: the condition decides.
        std::thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
        interval = (interval * 2).min(Duration::from_millis(200));
    }
}

/// [`wait_until`] with the default deadline ([`WAIT`] from now).
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_until(Instant::now() + WAIT, what, f)
}

// ---------------------------------------------------------------- canaries

/// A unique marker string, e.g. for a title or body, that no other string in
/// the test contains (fixed-width counter and an end mark: never a prefix of
/// another canary).
pub fn canary(label: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("CANARY_{label}_{}_{:05}_{:08x}_Z", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos as u32)
}

// -------------------------------------------------------------- reports

/// A report for `tisa submit`.
#[derive(Clone, Debug)]
pub struct Draft {
    pub category: &'static str,
    pub classification: &'static str,
    pub rel_to: &'static str,
    pub title: String,
    pub body: String,
    pub tearline: Option<String>,
    pub source: Option<String>,
    pub corrects: Option<String>,
}

/// A draft with canary title and body (labelled `label`).
pub fn draft(category: &'static str, classification: &'static str, rel_to: &'static str, label: &str) -> Draft {
    Draft {
        category,
        classification,
        rel_to,
        title: canary(&format!("{label}_title")),
        body: canary(&format!("{label}_body")),
        tearline: None,
        source: None,
        corrects: None,
    }
}

impl Draft {
    /// The `tisa submit` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "submit",
            "--category",
            self.category,
            "--classification",
            self.classification,
            "--rel-to",
            self.rel_to,
            "--title",
            &self.title,
            "--body",
            &self.body,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, v) in [("--tearline", &self.tearline), ("--source", &self.source), ("--corrects", &self.corrects)] {
            if let Some(v) = v {
                a.push(flag.to_owned());
                a.push(v.clone());
            }
        }
        a
    }
}

/// Runs `tisa submit` (text mode, no `--json`).
pub fn submit_raw(c: &TestCluster, party: Party, d: &Draft) -> Output {
    let args = d.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(c, party, &args)
}

/// Submits with `--json`; returns the reply (`report_id`, `revision`, `notes`).
pub fn submit_json(c: &TestCluster, party: Party, d: &Draft) -> Value {
    let args = d.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_json(c, party, &args)
}

/// Submits; returns the new report id.
pub fn submit(c: &TestCluster, party: Party, d: &Draft) -> String {
    let v = submit_json(c, party, d);
    v["report_id"].as_str().unwrap_or_else(|| panic!("no report_id in {v}")).to_owned()
}

// ---------------------------------------------------------------- queries

fn items(v: Value, what: &str) -> Vec<Value> {
    match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        _ => panic!("{what}: no items array in {v}"),
    }
}

/// Release requests awaiting `party`'s decision (first 1000).
pub fn pending(c: &TestCluster, party: Party) -> Vec<Value> {
    items(cli_json(c, party, &["pending", "--limit", "1000"]), "pending")
}

/// `party`'s inbox (first 1000 items).
pub fn inbox(c: &TestCluster, party: Party) -> Vec<Value> {
    items(cli_json(c, party, &["inbox", "--limit", "1000"]), "inbox")
}

/// `party`'s inbox as plain text (what an operator reads).
pub fn inbox_text(c: &TestCluster, party: Party) -> String {
    let out = cli(c, party, &["inbox", "--limit", "1000"]);
    assert!(out.status.success(), "inbox as {party}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Status of every revision of one of `party`'s reports.
pub fn status(c: &TestCluster, party: Party, report_id: &str) -> Vec<Value> {
    items(cli_json(c, party, &["status", report_id]), "status")
}

/// `tisa health --json`.
pub fn health(c: &TestCluster, party: Party) -> Value {
    cli_json(c, party, &["health"])
}

/// A counter from `tisa health --json`.
pub fn counter(c: &TestCluster, party: Party, name: &str) -> u64 {
    let h = health(c, party);
    h[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {h}"))
}

/// Items of `list` about report `id` revision `rev`.
pub fn matching<'a>(list: &'a [Value], id: &str, rev: u64) -> Vec<&'a Value> {
    list.iter().filter(|v| v["report_id"] == id && v["revision"] == rev).collect()
}

/// The state of `recipient` (trigraph) in one revision's status item.
pub fn recipient_state(item: &Value, recipient: &str) -> Option<String> {
    item["recipients"]
        .as_array()?
        .iter()
        .find(|r| r["recipient"] == recipient)
        .and_then(|r| r["state"].as_str())
        .map(str::to_owned)
}

/// Waits until `party` has a pending request for `id` revision `rev`; returns it.
pub fn wait_pending(c: &TestCluster, party: Party, id: &str, rev: u64) -> Value {
    wait_for(&format!("{party} has a pending request for {id} r{rev}"), || {
        matching(&pending(c, party), id, rev).first().map(|v| (*v).clone())
    })
}

/// Waits until `party`'s pending request for `id` r`rev` appears; returns its id.
pub fn wait_request_id(c: &TestCluster, party: Party, id: &str, rev: u64) -> String {
    let p = wait_pending(c, party, id, rev);
    p["request_id"].as_str().unwrap_or_else(|| panic!("no request_id in {p}")).to_owned()
}

/// Waits until `party`'s inbox holds `id` revision `rev`; returns the item.
pub fn wait_inbox(c: &TestCluster, party: Party, id: &str, rev: u64) -> Value {
    wait_for(&format!("{party}'s inbox holds {id} r{rev}"), || {
        matching(&inbox(c, party), id, rev).first().map(|v| (*v).clone())
    })
}

/// Waits until `owner`'s status of `id` r`rev` shows `recipient` in `state`.
pub fn wait_recipient_state(c: &TestCluster, owner: Party, id: &str, rev: u64, recipient: &str, state: &str) {
    wait_for(&format!("{owner}'s status shows {recipient} {state} for {id} r{rev}"), || {
        let s = status(c, owner, id);
        let item = s.iter().find(|v| v["revision"] == rev)?;
        (recipient_state(item, recipient).as_deref() == Some(state)).then_some(())
    })
}

/// Waits until `owner`'s status of `id` r`rev` shows hub state `hub`.
pub fn wait_hub_state(c: &TestCluster, owner: Party, id: &str, rev: u64, hub: &str) {
    wait_for(&format!("{owner}'s status shows hub {hub} for {id} r{rev}"), || {
        let s = status(c, owner, id);
        let item = s.iter().find(|v| v["revision"] == rev)?;
        (item["hub"] == hub).then_some(())
    })
}

/// Approves a request (in full) as `party`; asserts success.
pub fn approve(c: &TestCluster, party: Party, request_id: &str) {
    let v = cli_json(c, party, &["approve", request_id]);
    assert_eq!(v["decision"], "approved", "{v}");
}

/// Denies a request as `party`; asserts success.
pub fn deny(c: &TestCluster, party: Party, request_id: &str, reason: &str) {
    let v = cli_json(c, party, &["deny", request_id, "--reason", reason]);
    assert_eq!(v["decision"], "denied", "{v}");
}

// ------------------------------------------------------------- barriers

/// A canary relayed the trilateral way: `originator` (KR or JP) submits an
/// in-scope report releasable to the other nation, approves it, and it is
/// waited for in the other nation's inbox. CONFIDENTIAL, so that it passes
/// any ceiling a test sets. Returns its id.
///
/// Everything `originator` sent the hub before (reports, decisions) and
/// everything the hub sent the recipient because of it travelled the same
/// ordered connections before this canary, so once it has arrived, an absence
/// at the recipient is real.
pub fn relay_canary(c: &TestCluster, originator: Party) -> String {
    let recipient = originator.other_nation().expect("a nation");
    let rel = if originator == Party::Kr { "USA,JPN" } else { "USA,KOR" };
    let d = draft("missile", "confidential", rel, "relay_canary");
    let id = submit(c, originator, &d);
    let rid = wait_request_id(c, originator, &id, 1);
    approve(c, originator, &rid);
    let got = wait_inbox(c, recipient, &id, 1);
    assert_eq!(got["body"], d.body.as_str(), "{got}");
    c.note_barrier(recipient, &d.body);
    id
}

/// A canary sent bilaterally by the hub to `nation`: the US submits its own
/// report releasable to `nation` only, and it is waited for in `nation`'s
/// inbox. Everything the hub sent `nation` before this submission arrives
/// before it. Returns its id.
pub fn us_canary(c: &TestCluster, nation: Party) -> String {
    let rel = if nation == Party::Kr { "KOR" } else { "JPN" };
    let d = draft("other", "confidential", rel, "us_canary");
    let id = submit(c, Party::Us, &d);
    let got = wait_inbox(c, nation, &id, 1);
    assert_eq!(got["basis"], "BILATERAL", "{got}");
    c.note_barrier(nation, &d.body);
    id
}

/// Asserts that `party` never received report `id` (any revision): it is not
/// in `party`'s inbox, none of `secrets` appears anywhere in its inbox (JSON
/// or text), and — on the wire — no delivery of `id` and none of `secrets`
/// ever crossed the hub→`party` link. Call it only after a canary
/// ([`relay_canary`], [`us_canary`]) has arrived at `party`.
pub fn assert_never_received(c: &TestCluster, party: Party, id: &str, secrets: &[&str]) {
    let marker = c
        .barrier(party)
        .unwrap_or_else(|| panic!("test bug: assert absence at {party} only after a canary has arrived there"));
    let json = cli_json(c, party, &["inbox", "--limit", "1000"]);
    let list = items(json.clone(), "inbox");
    assert!(list.iter().all(|v| v["report_id"] != id), "{party} must never receive {id}; inbox: {json}");
    let text = inbox_text(c, party);
    let json = json.to_string();
    for s in secrets {
        assert!(!json.contains(s) && !text.contains(s), "{party}'s inbox shows {s:?}:\n{json}\n{text}");
    }
    c.assert_never_crossed(party, &marker, secrets, &[id]);
}

// --------------------------------------------------------------- raw NATS

/// A raw NATS client (not a tisa node): to forge, replay and capture wire
/// messages. Runs its own small tokio runtime so tests stay synchronous.
pub struct RawNats {
    pub client: async_nats::Client,
    rt: tokio::runtime::Runtime,
}

/// Messages captured on one subject (or wildcard).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<(String, bytes::Bytes)>>>);

impl Capture {
    /// Payloads captured so far, in arrival order.
    pub fn payloads(&self) -> Vec<bytes::Bytes> {
        self.messages().into_iter().map(|(_, p)| p).collect()
    }

    /// `(subject, payload)` of every message captured so far, in arrival order.
    pub fn messages(&self) -> Vec<(String, bytes::Bytes)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Whether `haystack` contains the bytes of `needle`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    !n.is_empty() && haystack.windows(n.len()).any(|w| w == n)
}

impl RawNats {
    /// Connects to `url`.
    pub fn connect(url: &str) -> RawNats {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime");
        let client = rt.block_on(async_nats::connect(url)).unwrap_or_else(|e| panic!("raw connect to {url}: {e}"));
        RawNats { client, rt }
    }

    /// Proves that everything this connection sent so far has been processed
    /// by the server (its SUBs are live, its PUBs routed): the server handles
    /// one connection's protocol in order.
    pub fn sync(&self) {
        self.rt
            .block_on(tisa_transport::prove_ready(&self.client, Party::Us))
            .unwrap_or_else(|e| panic!("raw NATS sync: {e}"));
    }

    /// Publishes `payload` on `subject` and [`RawNats::sync`]s.
    pub fn publish(&self, subject: &str, payload: impl Into<bytes::Bytes>) {
        let payload = payload.into();
        self.rt
            .block_on(self.client.publish(subject.to_owned(), payload))
            .unwrap_or_else(|e| panic!("raw publish on {subject}: {e}"));
        self.sync();
    }

    /// Starts capturing every message on `subject`; live when this returns.
    pub fn capture(&self, subject: &str) -> Capture {
        let mut sub = self
            .rt
            .block_on(self.client.subscribe(subject.to_owned()))
            .unwrap_or_else(|e| panic!("raw subscribe to {subject}: {e}"));
        self.sync();
        let cap = Capture::default();
        let store = cap.0.clone();
        self.rt.spawn(async move {
            while let Some(m) = sub.next().await {
                store.lock().unwrap_or_else(|e| e.into_inner()).push((m.subject.to_string(), m.payload));
            }
        });
        cap
    }
}

// -------------------------------------------------------- background CLI

/// A `tisa` command running in the background (e.g. `watch`), killed on drop.
/// Its stdout and stderr are read line by line as they come.
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
            Err(RecvTimeoutError::Timeout) => panic!("no line {what} within {WAIT:?}; seen: {seen:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("output closed before a line {what}; seen: {seen:?}"),
        }
    }
}

impl Background {
    /// Spawns an operator command as `party` (see [`cli`]), output piped.
    pub fn spawn(c: &TestCluster, party: Party, args: &[&str]) -> Background {
        let a = operator_args(c, party, args);
        let mut child = tisa_command(&a.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {BIN}: {e}"));
        let stdout = line_reader(child.stdout.take().expect("piped stdout"));
        let stderr = line_reader(child.stderr.take().expect("piped stderr"));
        Background { child, stdout, stderr, stdout_seen: Vec::new(), stderr_seen: Vec::new() }
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
    pub fn wait_exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
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
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
