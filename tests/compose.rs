//! docker-compose: three nations on their own networks (`docker-compose.yml`),
//! and a smoke run of each nation as a three-server cluster
//! (`docker-compose.cluster.yml`), one stack at a time.
//!
//! One test brings up the whole stack (three brokers, three nodes, six
//! containers: more at once would swamp two cores) under a project name of
//! its own, drives it with the real CLI through `docker-compose exec -T` (CI
//! has no terminal), and takes it down with `down -v` even when it fails
//! (the [`Stack`] guard). Steps, in order:
//!
//! - topology: every node on its own nation's network only; each nation's
//!   broker also on its link network with nats-us (it dials its leaf
//!   connection there); nats-us, the hub's broker, the only container on
//!   both link networks;
//! - (b) from inside node-kr, `tisa probe` reaches nats-kr (control) but not
//!   nats-jp, node-jp, nats-us (no such names) nor nats-jp's address, which
//!   node-jp reaches (control; node-us reaches nats-us);
//! - (a) the demo scenario: KR submits a missile report REL TO USA,JPN, the
//!   hub asks KR for its release, KR approves with its approver key (piped on
//!   stdin: approver keys never enter a container), JP receives it;
//! - (c) JP's node stopped while KR submits and approves: JetStream keeps the
//!   delivery in JP's stream; started again, JP holds it exactly once;
//! - (d) nats-jp cut off jp-link mid-flow (`docker network disconnect`: its
//!   leaf connection to US's broker is gone): the hub's outbox retries;
//!   reconnected, JP holds it exactly once;
//! - (e) nats-kr and node-us restarted mid-flow: nothing lost;
//! - every report reached JP exactly once (inbox and audit log), and every
//!   node's audit chain verifies;
//! - (f) after `down -v`, no container, network or volume of the project is left.
//!
//! Without Docker the test says so and passes, except with `CI=true`, where a
//! missing Docker is a failure. Images: `scripts/compose images` builds the
//! local broker and base images (cached), `docker-compose up --build` the
//! node image from the binary under test. Every wait has a deadline; none is
//! a fixed sleep.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{canary, describe, wait_until, ClusterPermit, BIN};
use serde_json::Value;

/// Deadline of a single condition (a message crossing, a node coming back).
const WAIT: Duration = Duration::from_secs(60);
/// Deadline of the whole stack being up and healthy (includes the image build).
const UP: Duration = Duration::from_secs(180);
/// Deadline of a delivery after node-us rejoins jp-net. Usually seconds (the
/// hub's TCP connection survives when Docker gives it its address back);
/// when it does not, async-nats notices the dead connection only after its
/// pings go unanswered (2 × 60 s by default) and then reconnects.
const REJOIN: Duration = Duration::from_secs(240);

const PARTIES: [&str; 3] = ["kr", "us", "jp"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes straight to the test's stderr (not captured by the harness), so a
/// skip is visible in `cargo test` output.
fn visible(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// `docker-compose` (v1), or `docker compose` (v2) if that is what there is.
fn compose_program() -> Option<Vec<String>> {
    let ok = |prog: &str, args: &[&str]| {
        Command::new(prog).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    if ok("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else if ok("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else {
        None
    }
}

/// Why Docker cannot be used here, if it cannot.
fn docker_missing() -> Option<String> {
    match Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Err(e) => return Some(format!("docker is not installed ({e})")),
        Ok(s) if !s.success() => return Some("the Docker daemon is not reachable (`docker info` fails)".into()),
        Ok(_) => {}
    }
    compose_program().is_none().then(|| "neither docker-compose nor `docker compose` is installed".into())
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_else(|| panic!("no items in {v}"))
}

/// A compose file, its container count and how its deployment's broker
/// configs are generated (`tisa broker config` arguments).
struct Layout {
    file: &'static str,
    containers: usize,
    broker: &'static [&'static str],
}

/// `docker-compose.yml`: one server per nation.
const SINGLE: Layout = Layout {
    file: "docker-compose.yml",
    containers: 6,
    broker: &[
        "--mode",
        "per-nation",
        "--kr-url",
        "nats://nats-kr:4222",
        "--us-url",
        "nats://nats-us:4222",
        "--jp-url",
        "nats://nats-jp:4222",
        "--us-leaf-url",
        "nats://nats-us:7422",
    ],
};

/// `docker-compose.cluster.yml`: each nation a JetStream cluster of three
/// (the command line its header gives).
const CLUSTER: Layout = Layout {
    file: "docker-compose.cluster.yml",
    containers: 12,
    broker: &[
        "--cluster",
        "3",
        "--kr-url",
        "nats://nats-kr-1:4222,nats://nats-kr-2:4222,nats://nats-kr-3:4222",
        "--us-url",
        "nats://nats-us-1:4222,nats://nats-us-2:4222,nats://nats-us-3:4222",
        "--jp-url",
        "nats://nats-jp-1:4222,nats://nats-jp-2:4222,nats://nats-jp-3:4222",
        "--us-leaf-url",
        "nats://nats-us-1:7422,nats://nats-us-2:7422,nats://nats-us-3:7422",
    ],
};

/// One stack at a time (two would swamp two cores), and no cluster test
/// beside it (`ClusterPermit::acquire_all`).
static ONE_STACK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A compose project of our own, taken down with `down -v` on drop.
struct Stack {
    layout: &'static Layout,
    program: Vec<String>,
    project: String,
    /// The deployment (broker configs, credentials, keys): TISA_DEPLOY_DIR.
    deploy: PathBuf,
    env: Vec<(String, String)>,
    down: bool,
}

impl Stack {
    /// Generates a fresh deployment for a fresh project name.
    fn new(program: Vec<String>, images: Vec<(String, String)>, layout: &'static Layout) -> Stack {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let project = format!("tisatest{}x{nanos:x}", std::process::id());
        let deploy = tisa_kit::natsd::scratch_dir("compose").expect("scratch dir");
        let out = run(Command::new(BIN)
            .args(["broker", "config"])
            .args(layout.broker)
            .args(["--store-dir", "/data/jetstream", "--out"])
            .arg(deploy.join("broker")));
        assert!(out.status.success(), "tisa broker config: {}", describe(&out));
        // Operators as the agreement's own [[key]] tables: each container
        // mounts the one agreement file (as scripts/compose deploys it).
        tisa_deploy::keys::generate_deployment_with(&deploy.join("keys"), tisa_deploy::agreement::DEFAULT, false)
            .unwrap_or_else(|e| panic!("keys: {e:#}"));
        let mut env = images;
        env.push(("TISA_DEPLOY_DIR".into(), deploy.to_string_lossy().into_owned()));
        Stack { layout, program, project, deploy, env, down: false }
    }

    /// `docker-compose -f <root>/<layout's file> -p <project> ARGS…`.
    fn compose(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .arg("-f")
            .arg(root().join(self.layout.file))
            .args(["-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        cmd
    }

    fn compose_ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.compose(args))
    }

    /// The container id of `service`.
    fn container(&self, service: &str) -> String {
        let id = self.compose_ok(&["ps", "-q", service]).trim().to_owned();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }

    /// `docker-compose exec -T SERVICE tisa ARGS…`, with `stdin` piped in.
    fn tisa(&self, service: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.compose(&["exec", "-T", service, "tisa"]);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let Some(input) = stdin else { return run(&mut cmd) };
        let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// `tisa ARGS --config <party>-cli.toml --json` in node-`party`, signed by
    /// the party's analyst (submitter, reader), whose key is piped on stdin as
    /// an operator would: operator keys never enter a container.
    fn signed(&self, party: &str, args: &[&str]) -> Output {
        let key = std::fs::read(self.deploy.join(format!("keys/{party}-analyst.key"))).expect("analyst key");
        let cfg = format!("/etc/tisa/{party}-cli.toml");
        let mut a = args.to_vec();
        a.extend(["--config", &cfg, "--key", "/dev/stdin", "--json"]);
        self.tisa(&format!("node-{party}"), &a, Some(&key))
    }

    /// An operator command of `party` (its CLI config), with `--json`:
    /// `None` if it failed (e.g. the node is restarting).
    fn try_cli(&self, party: &str, args: &[&str]) -> Option<Value> {
        let out = self.signed(party, args);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    fn cli(&self, party: &str, args: &[&str]) -> Value {
        let out = self.signed(party, args);
        assert!(out.status.success(), "`tisa {}` in node-{party}: {}", args.join(" "), describe(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", describe(&out)))
    }

    /// KR submits a SECRET missile report releasable to USA and JPN; returns its id.
    fn submit(&self, label: &str) -> String {
        let (title, body) = (canary(&format!("{label}_title")), canary(&format!("{label}_body")));
        let v = self.cli(
            "kr",
            &[
                "submit",
                "--category",
                "missile",
                "--classification",
                "secret",
                "--rel-to",
                "USA,JPN",
                "--title",
                &title,
                "--body",
                &body,
            ],
        );
        v["report_id"].as_str().unwrap_or_else(|| panic!("no report_id in {v}")).to_owned()
    }

    /// Waits for the hub's release request for `id` at KR; returns its id.
    fn wait_request(&self, id: &str) -> String {
        wait_until(Instant::now() + WAIT, &format!("KR has the hub's release request for {id}"), || {
            items(&self.try_cli("kr", &["pending", "--limit", "1000"])?)
                .into_iter()
                .find(|i| i["report_id"] == id)
                .and_then(|i| i["request_id"].as_str().map(str::to_owned))
        })
    }

    /// KR's approver approves, signing with the key piped on stdin.
    fn approve(&self, request_id: &str) {
        let key = std::fs::read(self.deploy.join("keys/kr-approver.key")).expect("approver key");
        let args = ["approve", "--config", "/etc/tisa/kr-cli.toml", "--key", "/dev/stdin", "--json", request_id];
        let out = self.tisa("node-kr", &args, Some(&key));
        assert!(out.status.success(), "approve {request_id}: {}", describe(&out));
        let v: Value = serde_json::from_slice(&out.stdout).expect("approve JSON");
        assert_eq!(v["decision"], "approved", "{v}");
    }

    /// How many inbox entries JP holds for report `id` (`None`: JP not answering).
    fn jp_holds(&self, id: &str) -> Option<usize> {
        let v = self.try_cli("jp", &["inbox", "--limit", "1000"])?;
        Some(items(&v).iter().filter(|i| i["report_id"] == id).count())
    }

    /// Waits until JP holds `id`; returns the entry.
    fn wait_jp(&self, id: &str, deadline: Duration) -> Value {
        wait_until(Instant::now() + deadline, &format!("JP's inbox holds {id}"), || {
            items(&self.try_cli("jp", &["inbox", "--limit", "1000"])?).into_iter().find(|i| i["report_id"] == id)
        })
    }

    /// KR's view of `id`'s recipient JPN (WAITING, RELEASE_REQUESTED, DELIVERED…).
    fn kr_state(&self, id: &str) -> Option<String> {
        let v = self.try_cli("kr", &["status", id])?;
        let item = items(&v).into_iter().next()?;
        let r = item["recipients"].as_array()?.iter().find(|r| r["recipient"] == "JPN")?.clone();
        r["state"].as_str().map(str::to_owned)
    }

    /// Audit entries of `kind` about report `id` in `party`'s audit log.
    fn audit_count(&self, party: &str, kind: &str, id: &str) -> usize {
        let out =
            self.tisa(&format!("node-{party}"), &["audit", "show", "--data-dir", "/var/lib/tisa", "--json"], None);
        assert!(out.status.success(), "audit show in node-{party}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["kind"] == kind && e["report_id"] == id)
            .count()
    }

    /// Whether every container is running and every node healthy.
    fn healthy(&self) -> Option<()> {
        let ids = self.compose_ok(&["ps", "-q"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.len() != self.layout.containers {
            return None;
        }
        for id in ids {
            let fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
            let out = run(Command::new("docker").args(["inspect", "-f", fmt, id]));
            let s = String::from_utf8_lossy(&out.stdout);
            if !matches!(s.trim(), "running healthy" | "running none") {
                return None;
            }
        }
        Some(())
    }

    fn wait_healthy(&self, what: &str, deadline: Duration) {
        wait_until(Instant::now() + deadline, what, || self.healthy());
    }

    /// The networks (without the project prefix) `service`'s container is on.
    fn networks(&self, service: &str) -> Vec<String> {
        let out = run_ok(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            &self.container(service),
        ]));
        let prefix = format!("{}_", self.project);
        let mut n: Vec<String> =
            out.split_whitespace().map(|s| s.strip_prefix(&prefix).unwrap_or(s).to_owned()).collect();
        n.sort();
        n
    }

    /// `service`'s address on the project's `network`.
    fn address(&self, service: &str, network: &str) -> String {
        let fmt = format!("{{{{(index .NetworkSettings.Networks \"{}_{network}\").IPAddress}}}}", self.project);
        let ip = run_ok(Command::new("docker").args(["inspect", "-f", &fmt, &self.container(service)]));
        let ip = ip.trim().to_owned();
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "no address of {service} on {network}: {ip:?}");
        ip
    }

    /// Docker objects still labelled with this project: `(kind, names)`.
    fn leftovers(&self) -> Vec<(&'static str, String)> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for (kind, args) in [
            ("containers", vec!["ps", "-a", "--filter", &label, "--format", "{{.Names}}"]),
            ("networks", vec!["network", "ls", "--filter", &label, "--format", "{{.Name}}"]),
            ("volumes", vec!["volume", "ls", "--filter", &label, "--format", "{{.Name}}"]),
        ] {
            let out = run_ok(Command::new("docker").args(&args));
            let names = out.split_whitespace().collect::<Vec<_>>().join(" ");
            if !names.is_empty() {
                left.push((kind, names));
            }
        }
        // By name too, in case a label is missing.
        for (kind, args) in [
            ("networks", ["network", "ls", "--format", "{{.Name}}"]),
            ("volumes", ["volume", "ls", "--format", "{{.Name}}"]),
        ] {
            let out = run_ok(Command::new("docker").args(args));
            let names: Vec<&str> =
                out.split_whitespace().filter(|n| n.starts_with(&format!("{}_", self.project))).collect();
            if !names.is_empty() {
                left.push((kind, names.join(" ")));
            }
        }
        left
    }

    fn take_down(&mut self) {
        self.down = true;
        let out = run(&mut self.compose(&["down", "-v", "--remove-orphans", "--timeout", "10"]));
        assert!(out.status.success(), "down -v: {}", describe(&out));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let out = run(&mut self.compose(&["ps"]));
            eprintln!("---- {} ps ----\n{}", self.project, String::from_utf8_lossy(&out.stdout));
            let out = run(&mut self.compose(&["logs", "--no-color", "--tail", "25"]));
            eprintln!("---- {} logs ----\n{}", self.project, String::from_utf8_lossy(&out.stdout));
        }
        if !self.down {
            let _ = run(&mut self.compose(&["down", "-v", "--remove-orphans", "--timeout", "10"]));
        }
        // Node images superseded by this run's build (untagged): drop them.
        let _ = run(Command::new("docker").args(["image", "prune", "-f", "--filter", "label=tisa.image=node"]));
        let _ = std::fs::remove_dir_all(&self.deploy);
    }
}

/// The images: `scripts/compose images` builds the local ones (cached) and
/// `scripts/compose env` names them; NATS_IMAGE/BASE_IMAGE in the
/// environment take precedence (the script respects them).
fn images() -> Vec<(String, String)> {
    let script = root().join("scripts/compose");
    let out = run(Command::new(&script).arg("images"));
    assert!(out.status.success(), "scripts/compose images: {}", describe(&out));
    let env = run_ok(Command::new(&script).arg("env"));
    let mut images = Vec::new();
    for var in ["NATS_IMAGE", "BASE_IMAGE"] {
        let value = env
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{var}=")))
            .unwrap_or_else(|| panic!("scripts/compose env does not name {var}: {env}"));
        images.push((var.to_owned(), value.to_owned()));
    }
    images
}

fn probe(stack: &Stack, from: &str, url: &str) -> Output {
    stack.tisa(from, &["probe", url, "--timeout", "2s"], None)
}

/// Asserts that `tisa probe URL` in `from` fails with `reason`, in one line.
fn assert_unreachable(stack: &Stack, from: &str, url: &str, reasons: &[&str]) {
    let out = probe(stack, from, url);
    assert_eq!(out.status.code(), Some(1), "probe {url} from {from}: {}", describe(&out));
    assert!(out.stdout.is_empty(), "probe {url} from {from}: {}", describe(&out));
    // One line from tisa (docker compose v2 may add warnings of its own).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "probe {url} from {from}: one error line expected: {}", describe(&out));
    let line = errors[0];
    assert!(reasons.iter().any(|r| line.contains(r)), "probe {url} from {from}: expected {reasons:?}, got {line}");
}

fn assert_reachable(stack: &Stack, from: &str, url: &str, server: &str) {
    let out = probe(stack, from, url);
    assert!(out.status.success(), "probe {url} from {from}: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reachable") && text.contains(server), "probe {url} from {from}: {}", describe(&out));
}

/// The compose program, or `None` (said on stderr) when Docker is missing
/// and that is allowed (not under `CI=true`).
fn docker_or_skip(test: &str) -> Option<Vec<String>> {
    if let Some(why) = docker_missing() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and Docker is needed for tests/compose.rs: {why}");
        }
        visible(&format!("SKIPPED {test}: {why} (with CI=true this is a failure)"));
        return None;
    }
    // The node image copies target/release/tisa (deploy/Dockerfile.node): it
    // must be the binary under test.
    let built = root().join("target/release/tisa");
    assert!(
        std::fs::canonicalize(BIN).ok() == std::fs::canonicalize(&built).ok(),
        "the node image is built from {}, but the binary under test is {BIN} (CARGO_TARGET_DIR?)",
        built.display()
    );
    compose_program()
}

#[test]
fn three_nations_on_their_own_networks() {
    let Some(program) = docker_or_skip("three_nations_on_their_own_networks") else { return };
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let _alone = ClusterPermit::acquire_all();
    let mut stack = Stack::new(program, images(), &SINGLE);
    let t0 = Instant::now();
    let lap = |what: &str| visible(&format!("compose: {what} ({:.0?} since start)", t0.elapsed()));

    stack.compose_ok(&["up", "-d", "--build"]);
    stack.wait_healthy("all six containers run and the three nodes are healthy", UP);
    lap("stack up and healthy");

    // Topology: only the hub's broker is on both nations' link networks.
    assert_eq!(stack.networks("nats-us"), ["jp-link", "kr-link", "us-net"]);
    for (service, nets) in [
        ("nats-kr", &["kr-link", "kr-net"][..]),
        ("node-kr", &["kr-net"]),
        ("node-us", &["us-net"]),
        ("nats-jp", &["jp-link", "jp-net"]),
        ("node-jp", &["jp-net"]),
    ] {
        assert_eq!(stack.networks(service), nets, "{service}");
    }

    // (b) Reachability from inside node-kr, each with its control.
    let jp_ip = stack.address("nats-jp", "jp-net");
    assert_reachable(&stack, "node-kr", "nats://nats-kr:4222", "tisa-kr");
    assert_reachable(&stack, "node-jp", "nats://nats-jp:4222", "tisa-jp");
    assert_reachable(&stack, "node-jp", &format!("nats://{jp_ip}:4222"), "tisa-jp");
    assert_reachable(&stack, "node-us", "nats://nats-us:4222", "tisa-us");
    assert_unreachable(&stack, "node-kr", "nats://nats-jp:4222", &["name not resolvable"]);
    assert_unreachable(&stack, "node-kr", "nats://node-jp:4222", &["name not resolvable"]);
    assert_unreachable(&stack, "node-kr", "nats://nats-us:4222", &["name not resolvable"]);
    assert_unreachable(
        &stack,
        "node-kr",
        &format!("nats://{jp_ip}:4222"),
        &["timeout", "host unreachable", "network unreachable", "connection refused"],
    );
    lap("(b) probes");

    let mut delivered = Vec::new();

    // (a) The demo scenario end to end.
    let id = stack.submit("demo");
    let rid = stack.wait_request(&id);
    assert!(rid.ends_with(".JP"), "a release to JP: {rid}");
    stack.approve(&rid);
    let got = stack.wait_jp(&id, WAIT);
    assert_eq!(got["originator"], "KOR", "{got}");
    assert_eq!(got["basis"], "TRILATERAL", "{got}");
    assert!(got["body"].as_str().is_some_and(|b| b.contains("demo_body")), "{got}");
    delivered.push(id);
    lap("(a) KR -> US -> JP with KR's approval");

    // (c) JP's node down while KR submits and approves: JP's stream keeps it.
    stack.compose_ok(&["stop", "node-jp"]);
    let id = stack.submit("jp_down");
    let rid = stack.wait_request(&id);
    stack.approve(&rid);
    wait_until(Instant::now() + WAIT, "the hub forwards it (KR sees DELIVERED)", || {
        (stack.kr_state(&id)? == "DELIVERED").then_some(())
    });
    assert_eq!(stack.jp_holds(&id), None, "node-jp is stopped and cannot answer");
    stack.compose_ok(&["start", "node-jp"]);
    stack.wait_jp(&id, WAIT);
    delivered.push(id);
    lap("(c) node-jp stopped and started");

    // (d) JP's broker cut off its link network mid-flow (its leaf to US's).
    let jp_broker = stack.container("nats-jp");
    let jp_link = format!("{}_jp-link", stack.project);
    let id = stack.submit("cut");
    let rid = stack.wait_request(&id);
    run_ok(Command::new("docker").args(["network", "disconnect", &jp_link, &jp_broker]));
    stack.approve(&rid);
    wait_until(Instant::now() + WAIT, "the hub forwards it (KR sees DELIVERED)", || {
        (stack.kr_state(&id)? == "DELIVERED").then_some(())
    });
    assert_eq!(stack.jp_holds(&id), Some(0), "JP cannot have it while its broker is off jp-link");
    run_ok(Command::new("docker").args(["network", "connect", &jp_link, &jp_broker]));
    stack.wait_jp(&id, REJOIN);
    delivered.push(id);
    lap("(d) nats-jp off jp-link and back");

    // (e) KR's broker and the hub restarted mid-flow.
    let id = stack.submit("restarts");
    stack.compose_ok(&["restart", "nats-kr"]);
    let rid = stack.wait_request(&id);
    stack.approve(&rid);
    stack.compose_ok(&["restart", "node-us"]);
    stack.wait_jp(&id, WAIT);
    delivered.push(id);
    lap("(e) nats-kr and node-us restarted");

    // Exactly once, everywhere, after all of that (the restarted hub replayed
    // its log and re-sent what was unacknowledged).
    stack.wait_healthy("the stack is healthy again", WAIT);
    for id in &delivered {
        assert_eq!(stack.jp_holds(id), Some(1), "JP's inbox holds {id} once");
        assert_eq!(stack.audit_count("jp", "RECEIVED", id), 1, "JP's audit log records {id} once");
        assert_eq!(stack.kr_state(id).as_deref(), Some("DELIVERED"), "KR's status of {id}");
    }
    for p in PARTIES {
        let out = stack.tisa(
            &format!("node-{p}"),
            &["audit", "verify", "--data-dir", "/var/lib/tisa", "--agreement", "/etc/tisa/agreement.toml"],
            None,
        );
        assert!(out.status.success(), "audit verify in node-{p}: {}", describe(&out));
    }
    lap("exactly once; audit chains verify");

    // (f) Nothing of the project survives `down -v`.
    assert!(!stack.leftovers().is_empty(), "control: the project's objects are visible before down");
    stack.take_down();
    let left = stack.leftovers();
    assert!(left.is_empty(), "left after down -v: {left:?}");
    lap("(f) down -v left nothing");
}

/// A smoke run of `docker-compose.cluster.yml` (the cluster scenarios
/// themselves run as plain processes in `tests/cluster.rs`): twelve
/// containers come up healthy, each nation's servers only on its own
/// networks, every stream kept by three servers; a report crosses KR → US
/// → JP with KR's approval; with one of JP's servers killed, the next one
/// crosses too; `down -v` leaves nothing.
#[test]
fn three_nations_as_three_server_clusters() {
    let Some(program) = docker_or_skip("three_nations_as_three_server_clusters") else { return };
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let _alone = ClusterPermit::acquire_all();
    let mut stack = Stack::new(program, images(), &CLUSTER);
    let t0 = Instant::now();
    let lap = |what: &str| visible(&format!("compose (clusters): {what} ({:.0?} since start)", t0.elapsed()));
    stack.compose_ok(&["up", "-d", "--build"]);
    stack.wait_healthy("all twelve containers run and the three nodes are healthy", UP);
    lap("stack up and healthy");

    for i in 1..=3 {
        assert_eq!(stack.networks(&format!("nats-us-{i}")), ["jp-link", "kr-link", "us-net"]);
        assert_eq!(stack.networks(&format!("nats-kr-{i}")), ["kr-link", "kr-net"]);
        assert_eq!(stack.networks(&format!("nats-jp-{i}")), ["jp-link", "jp-net"]);
    }
    for p in PARTIES {
        let cfg = format!("/etc/tisa/{p}-cli.toml");
        let streams = wait_until(Instant::now() + WAIT, &format!("{p}: every stream with 3 current replicas"), || {
            let out = stack.tisa(&format!("node-{p}"), &["health", "--config", &cfg, "--json"], None);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let s = v["streams"].as_array()?.clone();
            (s.len() >= 2 && s.iter().all(|s| s["replicas"] == 3 && s["current"] == 3)).then_some(s)
        });
        assert!(streams.iter().all(|s| s["leader"].as_str().is_some_and(|l| !l.is_empty())), "{streams:?}");
    }
    lap("each stream kept by three servers");

    let id = stack.submit("cluster");
    let rid = stack.wait_request(&id);
    stack.approve(&rid);
    stack.wait_jp(&id, WAIT);
    lap("KR -> US -> JP with KR's approval");

    stack.compose_ok(&["kill", "nats-jp-1"]);
    let id2 = stack.submit("cluster_one_down");
    let rid = stack.wait_request(&id2);
    stack.approve(&rid);
    stack.wait_jp(&id2, WAIT);
    for id in [&id, &id2] {
        assert_eq!(stack.jp_holds(id), Some(1), "JP's inbox holds {id} once");
    }
    lap("the next report crossed with nats-jp-1 killed");

    stack.take_down();
    let left = stack.leftovers();
    assert!(left.is_empty(), "left after down -v: {left:?}");
}

/// `(service, its networks: line)` of every service in docker-compose.yml.
fn declared_networks(text: &str) -> Vec<(String, String)> {
    let (mut out, mut in_services, mut current) = (Vec::new(), false, None::<String>);
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_services = line.starts_with("services:");
            current = None;
        } else if in_services && line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            current = Some(line.trim().trim_end_matches(':').to_owned());
        } else if let (Some(c), Some(n)) = (&current, line.trim_start().strip_prefix("networks:")) {
            out.push((c.clone(), n.trim().to_owned()));
        }
    }
    out
}

/// The hub's broker (nats-us) is the only container on both nations' link
/// networks: the nations' brokers must share a network with it to dial their
/// leaf connections, and nothing else of one nation shares a network with
/// anything of the other's or with the hub's node.
#[test]
fn compose_file_puts_only_the_hub_on_both_nations_networks() {
    // Static check of docker-compose.yml: runs without Docker too.
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut declared = declared_networks(&text);
    declared.sort();
    let want: Vec<(String, String)> = [
        ("nats-jp", "[jp-net, jp-link]"),
        ("nats-kr", "[kr-net, kr-link]"),
        ("nats-us", "[us-net, kr-link, jp-link]"),
        ("node-jp", "[jp-net]"),
        ("node-kr", "[kr-net]"),
        ("node-us", "[us-net]"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(declared, want);
}
