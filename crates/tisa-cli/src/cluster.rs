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
        let child = Command::new(bin)
            .args(["node", "--party", party.lower()])
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("spawning {} node", party))?;
        Ok(NodeProcess { party, child: Some(child), stdout, stderr })
    }

    /// Waits (up to `timeout`) for the node's readiness line.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if std::fs::read_to_string(&self.stdout).is_ok_and(|s| s.contains(READY_LINE)) {
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

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
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
    /// The broker.
    pub nats: NatsServer,
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
    /// and waits until all are ready.
    pub fn start(
        bin: &Path,
        nats: NatsServer,
        args: impl Fn(Party) -> Vec<String>,
        envs: &[(String, String)],
    ) -> Result<Cluster> {
        let dir = scratch_dir("cluster")?;
        let mut nodes = Vec::new();
        for party in Party::ALL {
            let mut a = vec!["--nats".to_owned(), nats.url().to_owned()];
            a.extend(args(party));
            nodes.push(NodeProcess::spawn(bin, party, &a, envs, &dir)?);
        }
        for n in &mut nodes {
            n.wait_ready(Duration::from_secs(30))?;
        }
        Ok(Cluster { nats, broker_dir: None, nodes, dir, bin: bin.to_owned() })
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
        let generated = crate::broker::generate(&broker_dir, crate::DEFAULT_NATS_URL)?;
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
            Some(path) => crate::config::load(&path)?.own,
            None => tisa_transport::Endpoint::open(self.nats.url()),
        };
        ep.url = self.nats.url().to_owned();
        Ok(ep)
    }

    /// The node of `party`.
    pub fn node(&mut self, party: Party) -> &mut NodeProcess {
        let i = Party::ALL.iter().position(|p| *p == party).unwrap_or(0);
        &mut self.nodes[i]
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
