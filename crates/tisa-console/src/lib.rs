//! `tisa console`: the operator's web console. An approver reads the whole
//! report a release request would release, and signs the decision, in one
//! page of a browser.
//!
//! The console runs next to the operator's CLI config and approver key, in
//! the operator's own process: the key never leaves it (the node prepares
//! the decision document, the console checks it says what was asked and
//! signs it, exactly as `tisa approve` does). Each operator runs their own
//! console with their own key.
//!
//! - [`session`]: the single-use login link, sessions, CSRF tokens;
//! - [`routes`]: the pages and forms, and the guard every request passes
//!   (`Host` checked, strict Content-Security-Policy);
//! - [`pages`]: the HTML (maud: every value escaped) and the stylesheet;
//! - [`inbox`]: the reports received, searched and filtered;
//! - [`status`]: where each own report stands per recipient;
//! - [`grants`]: standing grants listed, issued, revoked, co-signed;
//! - [`health`]: the node's health; [`audit`]: its audit log, verified;
//! - [`tracks`]: the missile-track page; [`map`]: its SVG map;
//! - [`live`]: live updates (server-sent events) for the badge and the map;
//! - [`diff`]: a correction against the previous revision;
//! - [`why`]: why no standing grant covers a request.
//!
//! Loopback only, unless served over TLS ([`tls`]: `--tls-cert`,
//! `--tls-key`), when the session cookie is also `Secure`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
pub mod cli;
pub mod diff;
pub mod grants;
pub mod health;
pub mod inbox;
pub mod live;
pub mod map;
pub mod pages;
pub mod routes;
pub mod session;
pub mod status;
pub mod tls;
pub mod tracks;
pub mod why;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tisa_core::Party;
use tisa_transport::ControlClient;

/// A running console's state.
pub struct Console {
    /// The node's control client (signing as the operator).
    pub(crate) client: ControlClient,
    /// The operator's approver key: decisions are signed here.
    pub(crate) key: tisa_deploy::keys::Key,
    /// Login links and sessions.
    sessions: Mutex<session::Sessions>,
    /// The `Host` values the console answers to.
    pub(crate) hosts: Vec<String>,
    /// Whether the session cookie is `Secure` (served over TLS).
    pub(crate) secure: bool,
    /// The node's data directory and the agreement's policy, for the audit page.
    pub(crate) audit: Option<(std::path::PathBuf, tisa_core::Policy)>,
    /// Each track's positions this console has seen.
    pub(crate) paths: tracks::Paths,
    /// Bumped on every event of the node's: wakes the live-update streams.
    pub(crate) ticks: tokio::sync::watch::Sender<u64>,
    /// Cancelled when the console stops (ends the live-update streams, so
    /// the graceful shutdown does not wait on open pages).
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

impl Console {
    pub(crate) fn party(&self) -> Party {
        self.client.party()
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, session::Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How the console serves.
pub struct Options {
    /// Where it listens (loopback; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Writes the login link to this file (mode 0600) instead of printing it.
    pub login_file: Option<std::path::PathBuf>,
    /// How long the login link stays usable.
    pub login_ttl: Duration,
    /// How long a session lasts without a request.
    pub idle: Duration,
    /// The node's data directory (the audit page reads its audit log) and
    /// the policy its signed heads verify against.
    pub audit: Option<(std::path::PathBuf, tisa_core::Policy)>,
    /// TLS: the certificate chain and the private key (PEM files).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Host names the console answers to besides its address (reached over a network).
    pub names: Vec<String>,
}

/// Serves the console until `stop` is cancelled: binds, issues the login
/// link (printed, or written to the login file), then answers.
pub async fn serve(
    client: ControlClient,
    key: tisa_deploy::keys::Key,
    opts: Options,
    stop: tokio_util::sync::CancellationToken,
) -> Result<()> {
    let acceptor = match &opts.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None if !opts.listen.ip().is_loopback() => bail!(
            "--listen {}: without TLS the console listens on loopback only; give --tls-cert and --tls-key to serve \
             on a network, or reach it through an SSH tunnel",
            opts.listen
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let (scheme, default_port) = if acceptor.is_some() { ("https", 443) } else { ("http", 80) };
    let mut hosts = vec![addr.to_string(), format!("localhost:{}", addr.port())];
    hosts.extend(opts.names.iter().map(|n| format!("{n}:{}", addr.port())));
    if addr.port() == default_port {
        hosts.extend([addr.ip().to_string(), "localhost".to_owned()]);
        hosts.extend(opts.names.iter().cloned());
    }
    let shown = opts.names.first().map_or_else(|| addr.to_string(), |n| format!("{n}:{}", addr.port()));
    let mut sessions = session::Sessions::new(opts.login_ttl, opts.idle);
    let token = sessions.issue_login(Instant::now());
    let link = format!("{scheme}://{shown}/login?token={token}");
    let party = client.party();
    let console = Arc::new(Console {
        client,
        key,
        sessions: Mutex::new(sessions),
        hosts,
        secure: acceptor.is_some(),
        audit: opts.audit,
        paths: tracks::Paths::default(),
        ticks: tokio::sync::watch::Sender::new(0),
        stop: stop.clone(),
    });
    tokio::spawn(live::follow(console.clone(), stop.clone()));
    let ttl = humantime::format_duration(opts.login_ttl);
    match &opts.login_file {
        Some(f) => {
            tisa_fs::write_private(f, format!("{link}\n").as_bytes())
                .with_context(|| format!("cannot write the login link to {}", f.display()))?;
            println!(
                "tisa console for {party} on {scheme}://{shown}/: the login link (once, within {ttl}) is in {}",
                f.display()
            );
        }
        None => println!("tisa console for {party} on {scheme}://{shown}/: log in (once, within {ttl}) at\n  {link}"),
    }
    tracing::info!(%party, %addr, "console listening");
    match acceptor {
        Some(a) => tls::serve(listener, a, routes::router(console), stop).await,
        None => axum::serve(listener, routes::router(console)).with_graceful_shutdown(stop.cancelled_owned()).await?,
    }
    Ok(())
}
