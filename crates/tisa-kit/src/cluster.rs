//! Running `tisa node` processes: the demo and the cross-process tests use
//! this to start the three parties as separate OS processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tisa_core::Party;

use crate::natsd::{scratch_dir, NatsServer};

/// The line a node prints on stdout once its subscriptions are proven live.
pub const READY_LINE: &str = "tisa node ready";

/// One `tisa node` child process; killed on drop.
pub struct NodeProcess {
    /// Its party.
    pub party: Party,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    bin: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    /// Readiness lines seen before the current process started.
    ready_before: usize,
}

fn open_append(p: &Path) -> std::io::Result<std::fs::File> {
    tisa_fs::open_private(std::fs::OpenOptions::new().create(true).append(true), p)
}

impl NodeProcess {
    /// Spawns `bin node --party P ARGS…`, stdout and stderr to files in `dir`.
    pub fn spawn(
        bin: &Path,
        party: Party,
        args: &[String],
        envs: &[(String, String)],
        dir: &Path,
    ) -> Result<NodeProcess> {
        let stdout = dir.join(format!("{}.out", party.lower()));
        let stderr = dir.join(format!("{}.log", party.lower()));
        let mut n = NodeProcess {
            party,
            child: None,
            stdout,
            stderr,
            bin: bin.to_owned(),
            args: args.to_vec(),
            envs: envs.to_vec(),
            ready_before: 0,
        };
        n.start()?;
        Ok(n)
    }

    fn start(&mut self) -> Result<()> {
        self.ready_before = self.ready_count();
        let child = Command::new(&self.bin)
            .args(["node", "--party", self.party.lower()])
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(open_append(&self.stdout)?)
            .stderr(open_append(&self.stderr)?)
            .spawn()
            .with_context(|| format!("spawning {} node", self.party))?;
        self.child = Some(child);
        Ok(())
    }

    fn ready_count(&self) -> usize {
        std::fs::read_to_string(&self.stdout).map(|s| s.matches(READY_LINE).count()).unwrap_or(0)
    }

    /// Starts the node again with the same arguments (after `kill` or
    /// `terminate`) and waits until the new process is ready.
    pub fn restart(&mut self, timeout: Duration) -> Result<()> {
        self.kill();
        self.start()?;
        self.wait_ready(timeout)
    }

    /// Stops the node cleanly (SIGTERM: it finishes what it is doing and
    /// records its state durably), then starts it again and waits until it is ready.
    pub fn restart_cleanly(&mut self, timeout: Duration) -> Result<()> {
        self.terminate(timeout)?;
        self.start()?;
        self.wait_ready(timeout)
    }

    /// Waits (up to `timeout`) for the node's readiness line.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.ready_count() > self.ready_before {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("{} node exited ({status}) before it was ready:\n{}", self.party, self.log_tail(40));
                }
            }
            if Instant::now() > deadline {
                bail!("{} node not ready within {timeout:?}:\n{}", self.party, self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the node logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The OS process id of the running node, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sets (`Some`) or removes (`None`) an environment variable for the
    /// next start (e.g. `TISA_FAILPOINT` before a `restart`).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.envs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.envs.push((key.to_owned(), v.to_owned()));
        }
    }

    /// Waits (up to `timeout`) for the process to exit on its own, reaps it
    /// and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(c) = self.child.as_mut() else { bail!("{} node is not running", self.party) };
            if let Some(status) = c.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} node still running after {timeout:?}:\n{}", self.party, self.log_tail(20));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (up to `timeout`) for a clean exit; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let Some(mut c) = self.child.take() else { bail!("already stopped") };
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().context("running kill -TERM")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                bail!("node did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A nats-server plus the three node processes.
pub struct Cluster {
    /// The broker (per-nation deployments: US's server).
    pub nats: NatsServer,
    /// Per-nation deployments: KR's and JP's servers.
    pub extra_nats: Vec<(Party, NatsServer)>,
    /// For a secured cluster: the `tisa broker config` output (configs, seeds).
    pub broker_dir: Option<PathBuf>,
    /// KR, US, JP, in that order.
    pub nodes: Vec<NodeProcess>,
    /// Where node logs go.
    pub dir: PathBuf,
    /// The `tisa` binary.
    pub bin: PathBuf,
}

impl Cluster {
    /// Starts the three nodes against `nats`, each with `args(party)` added,
    /// and waits until all are ready. Every cluster gets a fresh deployment
    /// of keys (a node key and two approvers per party) and an agreement
    /// registering them (the built-in policy plus those keys).
    pub fn start(
        bin: &Path,
        nats: NatsServer,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        let dir = scratch_dir("cluster")?;
        let keys_dir = dir.join("keys");
        let agreement = tisa_deploy::keys::generate_deployment(&keys_dir, tisa_deploy::agreement::DEFAULT)?;
        let mut nodes = Vec::new();
        for party in Party::ALL {
            let mut a = vec![
                "--nats".to_owned(),
                nats.url().to_owned(),
                "--agreement".to_owned(),
                agreement.to_string_lossy().into_owned(),
                "--key".to_owned(),
                keys_dir.join(format!("{}-node.key", party.lower())).to_string_lossy().into_owned(),
                "--data-dir".to_owned(),
                dir.join(format!("{}-data", party.lower())).to_string_lossy().into_owned(),
            ];
            a.extend(args(party));
            nodes.push(NodeProcess::spawn(bin, party, &a, envs, &dir)?);
        }
        for n in &mut nodes {
            n.wait_ready(Duration::from_secs(30))?;
        }
        Ok(Cluster { nats, broker_dir: None, nodes, dir, bin: bin.to_owned(), extra_nats: Vec::new() })
    }

    /// The agreement file the nodes run under.
    pub fn agreement(&self) -> PathBuf {
        self.dir.join("keys").join("agreement.toml")
    }

    /// An approver key file of `party` (`second`: a different operator, for
    /// the two-person rule).
    pub fn approver_key(&self, party: Party, second: bool) -> PathBuf {
        let name = if second { "approver2" } else { "approver" };
        self.dir.join("keys").join(format!("{}-{name}.key", party.lower()))
    }

    /// The key file of `party`'s operator `op` (`analyst`, `approver`,
    /// `approver2`, `feed`, `auditor`: `tisa_deploy::keys::DEPLOYMENT_OPERATORS`).
    pub fn operator_key(&self, party: Party, op: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{}-{op}.key", party.lower()))
    }

    /// Signers for a tool acting as several of `party`'s operators at once
    /// (demo, benchmark, tests): the analyst (submits, reads), the first
    /// approver (decides, grants), the feed (tracks); a client picks the
    /// first whose roles allow the verb.
    pub fn signers(&self, party: Party) -> anyhow::Result<Vec<tisa_transport::Signer>> {
        ["analyst", "approver", "feed"]
            .iter()
            .map(|op| Ok(tisa_deploy::keys::load(&self.operator_key(party, op))?.signer()))
            .collect()
    }

    /// A client of `party`'s node as its operators ([`Cluster::signers`]).
    pub async fn operator_client(&self, party: Party) -> anyhow::Result<tisa_transport::ControlClient> {
        let ep = self.cli_endpoint(party)?;
        let c = tisa_transport::ControlClient::connect(&ep, party, std::time::Duration::from_secs(10)).await?;
        Ok(c.with_signers(self.signers(party)?))
    }

    /// The node key file of `party`.
    pub fn node_key(&self, party: Party) -> PathBuf {
        self.dir.join("keys").join(format!("{}-node.key", party.lower()))
    }

    /// Like [`Cluster::start`], but on the enforced topology: generates a
    /// shared-mode broker config (`tisa broker config`), starts `nats_bin`
    /// with it on a dynamic port, and starts each node with its own
    /// credentials (`--config <p>-node.toml`).
    pub fn start_secured(
        bin: &Path,
        nats_bin: &Path,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        let broker_dir = scratch_dir("broker")?;
        let generated = tisa_deploy::broker::generate(&broker_dir, tisa_deploy::DEFAULT_NATS_URL)?;
        let conf = generated.server_conf.to_string_lossy().into_owned();
        let nats = NatsServer::start(nats_bin, &["-c", &conf])?;
        let dir = broker_dir.clone();
        let mut cluster = Cluster::start(
            bin,
            nats,
            |p| {
                let mut a = vec![
                    "--config".to_owned(),
                    dir.join(format!("{}-node.toml", p.lower())).to_string_lossy().into_owned(),
                ];
                a.extend(args(p));
                a
            },
            envs,
        )?;
        cluster.broker_dir = Some(broker_dir);
        Ok(cluster)
    }

    /// The operator CLI config of `party` (secured clusters only).
    pub fn cli_config(&self, party: Party) -> Option<PathBuf> {
        self.broker_dir.as_ref().map(|d| d.join(format!("{}-cli.toml", party.lower())))
    }

    /// Where and as whom `party`'s operator connects.
    pub fn cli_endpoint(&self, party: Party) -> Result<tisa_transport::Endpoint> {
        let mut ep = match self.cli_config(party) {
            Some(path) => tisa_deploy::config::load(&path)?.own,
            None => tisa_transport::Endpoint::open(self.nats.url()),
        };
        ep.url = self.urls_of(party);
        Ok(ep)
    }

    /// The URL of every server `party`'s node and operators use, comma-separated.
    pub fn urls_of(&self, party: Party) -> String {
        urls_of(&self.nats, &self.extra_nats, party)
    }

    /// Every server of the deployment, with its party (shared mode: `None`).
    pub fn servers_mut(&mut self) -> impl Iterator<Item = &mut NatsServer> {
        std::iter::once(&mut self.nats).chain(self.extra_nats.iter_mut().map(|(_, s)| s))
    }

    /// The server named `name` (a cluster's `tisa-kr-2`, …).
    pub fn server(&mut self, name: &str) -> Result<&mut NatsServer> {
        self.servers_mut().find(|s| s.name() == name).with_context(|| format!("no server named {name}"))
    }

    /// The node of `party`.
    pub fn node(&mut self, party: Party) -> &mut NodeProcess {
        let i = Party::ALL.iter().position(|p| *p == party).unwrap_or(0);
        &mut self.nodes[i]
    }

    /// The server `party`'s node (own connection) and operator use: its own
    /// server in a per-nation deployment, else the one broker.
    pub fn nats_of(&self, party: Party) -> &NatsServer {
        self.extra_nats.iter().find(|(p, _)| *p == party).map_or(&self.nats, |(_, s)| s)
    }

    /// Like [`Cluster::start_secured`], but one nats-server per party
    /// (`tisa broker config --mode per-nation`): each node connects only to
    /// its own server; KR's and JP's servers dial a leaf connection to US's
    /// (started first; each nation's is ready once its leaf is up).
    pub fn start_per_nation(
        bin: &Path,
        nats_bin: &Path,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        Cluster::start_generated(bin, nats_bin, &tisa_deploy::broker::Options::per_nation(), args, envs)
    }

    /// [`Cluster::start_per_nation`] with `--tls`: every server requires TLS,
    /// every client trusts the generated CA.
    pub fn start_per_nation_tls(
        bin: &Path,
        nats_bin: &Path,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        let opts = tisa_deploy::broker::Options { tls: true, ..tisa_deploy::broker::Options::per_nation() };
        Cluster::start_generated(bin, nats_bin, &opts, args, envs)
    }

    /// Generates a deployment with `opts` (`tisa broker config`), starts one
    /// `nats_bin` per generated server config on a dynamic port (the
    /// command line's `-a 127.0.0.1 -p -1` override the config's host and
    /// port), and starts each node with its own config, overriding only the
    /// URLs with the real ports (`--nats`, and for the US `--kr-nats`,
    /// `--jp-nats`); the credentials stay those of the config.
    pub fn start_generated(
        bin: &Path,
        nats_bin: &Path,
        opts: &tisa_deploy::broker::Options,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        Cluster::start_generated_prepared(bin, nats_bin, opts, args, envs, |_| Ok(()))
    }

    /// [`Cluster::start_generated`], calling `prepare` with the generated
    /// deployment's directory before any server starts (a test may route
    /// a cluster's routes through proxies, or narrow a node's URLs). A
    /// clustered deployment's configs already hold the real ports, so its
    /// nodes get no `--nats` override.
    pub fn start_generated_prepared(
        bin: &Path,
        nats_bin: &Path,
        opts: &tisa_deploy::broker::Options,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Cluster> {
        let broker_dir = scratch_dir("broker")?;
        let mut opts = opts.clone();
        let clustered = opts.cluster > 1;
        if opts.mode == tisa_deploy::broker::Mode::PerNation {
            // US's leaf listener on a free port, which the nations' servers dial.
            opts.us_leaf_url = free_urls(opts.cluster, 0)?;
        }
        if clustered {
            // Every server's client port (and route port, at the offset)
            // known before any starts: the routes name them.
            opts.route_port_offset = ROUTE_PORT_OFFSET;
            opts.kr_url = free_urls(opts.cluster, ROUTE_PORT_OFFSET)?;
            opts.us_url = free_urls(opts.cluster, ROUTE_PORT_OFFSET)?;
            opts.jp_url = free_urls(opts.cluster, ROUTE_PORT_OFFSET)?;
        }
        let generated = tisa_deploy::broker::generate_with(&broker_dir, &opts)?;
        prepare(&broker_dir)?;
        let mut servers = Vec::new();
        // The hub's server first: the nations' servers dial it.
        let mut confs = generated.servers.clone();
        confs.sort_by_key(|(p, _)| !p.is_none_or(|p| p.is_hub()));
        for (p, conf) in &confs {
            let name = conf.file_stem().map(|s| s.to_string_lossy().replacen("nats-", "tisa-", 1)).unwrap_or_default();
            let conf = conf.to_string_lossy().into_owned();
            let server = if clustered {
                let party = p.context("a cluster's server belongs to a party")?;
                let urls = if party == Party::Kr {
                    &opts.kr_url
                } else if party == Party::Us {
                    &opts.us_url
                } else {
                    &opts.jp_url
                };
                let i: usize = name.rsplit('-').next().and_then(|i| i.parse().ok()).context("server number")?;
                let url = urls.split(',').nth(i - 1).context("server URL")?;
                let port = url.rsplit(':').next().context("port")?;
                NatsServer::start_on(nats_bin, port, &["-c", &conf])?
            } else {
                NatsServer::start(nats_bin, &["-c", &conf])?
            };
            servers.push((*p, server.named(&name)));
        }
        for (p, s) in &servers {
            if p.is_some_and(|p| !p.is_hub()) {
                s.wait_leaf(Duration::from_secs(30))?;
            }
            if clustered {
                // JetStream takes requests once its cluster has elected a metadata leader.
                s.wait_log("metadata leader", Duration::from_secs(60))?;
            }
        }
        let hub = servers
            .iter()
            .position(|(p, _)| p.is_none_or(|p| p.is_hub()))
            .context("no server for the hub was generated")?;
        let (_, nats) = servers.remove(hub);
        let extra_nats: Vec<(Party, NatsServer)> = servers.into_iter().filter_map(|(p, s)| Some((p?, s))).collect();
        let url_of = |party: Party| -> String { urls_of(&nats, &extra_nats, party) };
        let dir = scratch_dir("cluster")?;
        let keys_dir = dir.join("keys");
        let agreement = tisa_deploy::keys::generate_deployment(&keys_dir, tisa_deploy::agreement::DEFAULT)?;
        let mut nodes = Vec::new();
        for party in Party::ALL {
            let config = broker_dir.join(format!("{}-node.toml", party.lower()));
            let mut a = vec!["--config".to_owned(), config.to_string_lossy().into_owned()];
            if !clustered {
                a.extend(["--nats".to_owned(), url_of(party)]);
            }
            a.extend([
                "--agreement".to_owned(),
                agreement.to_string_lossy().into_owned(),
                "--key".to_owned(),
                keys_dir.join(format!("{}-node.key", party.lower())).to_string_lossy().into_owned(),
                "--data-dir".to_owned(),
                dir.join(format!("{}-data", party.lower())).to_string_lossy().into_owned(),
            ]);
            if party.is_hub() && !clustered {
                // The hub's links are on its own server (per-nation: the
                // nations' servers join it by leaf connections).
                a.extend(["--kr-nats".to_owned(), url_of(Party::Us), "--jp-nats".to_owned(), url_of(Party::Us)]);
            }
            a.extend(args(party));
            nodes.push(NodeProcess::spawn(bin, party, &a, envs, &dir)?);
        }
        for n in &mut nodes {
            n.wait_ready(Duration::from_secs(30))?;
        }
        Ok(Cluster { nats, extra_nats, broker_dir: Some(broker_dir), nodes, dir, bin: bin.to_owned() })
    }
}

/// Clusters in tests: a server's route port is its client port plus this.
pub const ROUTE_PORT_OFFSET: u16 = 1000;
// (20000 + 9999 + 1000 stays below 32768.)

/// `n` loopback URLs on free ports, comma-separated; with `offset` > 0,
/// each port's `+ offset` is free too (the route port). The ports are
/// below Linux's ephemeral range (32768…), so no outgoing connection takes
/// one between this check and the server's start.
fn free_urls(n: usize, offset: u16) -> Result<String> {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Each call moves on, so clusters started one after another (or two
    // at once) do not pick the same ports.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() as u16).wrapping_mul(7919);
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let mut urls = Vec::new();
    for _ in 0..20_000 {
        if urls.len() == n {
            break;
        }
        let port = 20_000 + (seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000);
        if free(port) && (offset == 0 || free(port + offset)) {
            urls.push(format!("nats://127.0.0.1:{port}"));
        }
    }
    if urls.len() < n {
        bail!("no {n} free loopback ports between 20000 and 31000");
    }
    Ok(urls.join(","))
}

/// Every server of `party` (the one broker, or its own servers), comma-separated.
fn urls_of(nats: &NatsServer, extra: &[(Party, NatsServer)], party: Party) -> String {
    let own: Vec<&str> = extra.iter().filter(|(p, _)| *p == party).map(|(_, s)| s.url()).collect();
    if party.is_hub() || own.is_empty() {
        std::iter::once(nats.url()).chain(own).collect::<Vec<_>>().join(",")
    } else {
        own.join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        if std::env::var_os("TISA_KEEP_LOGS").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if let Some(d) = &self.broker_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
