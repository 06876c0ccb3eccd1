//! `tisa console`: its options and run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tisa_kit::Common;

/// `tisa console --help`: what it does, at length.
pub const HELP: &str = "Serves your party's operator console in a browser: the release requests awaiting your \
decision (soonest to expire first, with age, markings, submitter and why no standing grant covers each), each with \
the whole report (title, body, tearline, source, the verified submitter; for a correction, what changed since the \
previous revision), and approve in full, approve the tearline only, or deny with a reason, on the same page; \
afterwards the page shows what was signed. Also: the inbox (search and filters), the status of your reports per \
recipient, standing grants (issue, revoke, co-sign), the missile tracks on a map, health, and with --data-dir the \
node's audit log, verified. Decisions and grants are signed here with your approver key (--key): it never leaves \
this process, and the node never sees it. At start the console prints a single-use login link (or writes it to \
--login-file, mode 0600); a session then lives in an HttpOnly, SameSite=Strict cookie until you log out or leave \
it idle. Every form carries a CSRF token; the only script is the console's own (live updates), under a strict \
Content-Security-Policy; requests naming another host are refused. Loopback only, unless served over TLS \
(--tls-cert, --tls-key; the session cookie is then Secure; --host names the console's address as the browser \
shows it).";

/// `tisa console`.
#[derive(Args, Debug)]
#[command(
    long_about = HELP,
    after_help = "Example: tisa console --config tisa-broker/kr-cli.toml --key kr-kim.key --listen 127.0.0.1:8080"
)]
pub struct ConsoleArgs {
    /// The operator options (party, broker, credentials, your approver key).
    #[command(flatten)]
    pub common: Common,
    /// Where to listen (loopback only without TLS; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Write the login link to this file (mode 0600) instead of printing it.
    #[arg(long)]
    pub login_file: Option<PathBuf>,
    /// How long the login link stays usable (e.g. 2m, 90s).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub login_ttl: Duration,
    /// How long a session lasts without a request (e.g. 15m).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// The node's data directory, when the console runs on the node's machine: the audit page
    /// reads and verifies its audit log.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The agreement registering the node's key (the audit log's signed heads are checked
    /// against it) [default: built-in].
    #[arg(long, env = "TISA_AGREEMENT")]
    pub agreement: Option<PathBuf>,
    /// Serve over TLS with this certificate chain (PEM); then --listen may be a network address.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A host name the console answers to (the name in the browser's address bar), repeatable.
    #[arg(long = "host", value_name = "NAME")]
    pub names: Vec<String>,
}

/// Runs `tisa console` until Ctrl-C or SIGTERM.
pub async fn console(a: ConsoleArgs) -> Result<ExitCode> {
    let ctx = a.common.resolve()?;
    let key = ctx.approver()?;
    let client = ctx.client().await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => return,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        s.cancel();
    });
    let audit = match a.data_dir {
        Some(dir) => Some((dir, tisa_deploy::agreement::load(a.agreement.as_deref())?.policy)),
        None => None,
    };
    let opts = crate::Options {
        listen: a.listen,
        login_file: a.login_file,
        login_ttl: a.login_ttl,
        idle: a.idle_timeout,
        audit,
        tls: a.tls_cert.zip(a.tls_key),
        names: a.names,
    };
    crate::serve(client, key, opts, stop).await?;
    Ok(ExitCode::SUCCESS)
}
