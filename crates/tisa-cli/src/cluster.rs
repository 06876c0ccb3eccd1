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
        Ok(Cluster { nats, nodes, dir, bin: bin.to_owned() })
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
    }
}
