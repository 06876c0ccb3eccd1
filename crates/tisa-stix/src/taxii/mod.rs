//! A read-only TAXII 2.1 server of what one party holds.
//!
//! One API root (`/tisa/`), one collection (`can_read`, never `can_write`):
//! the party's inbox as STIX ([`crate::export`]). Every request is
//! authenticated ([`auth`]: Basic or bearer, credentials stored hashed,
//! each user a reader of the party); every request that reads objects reads
//! the party's node afresh, signed with that user's reader key, so the node
//! authorises it (`authorize_read`) and audits it as a `READ` by that reader
//! naming the reports; the server logs which objects it served to whom.
//! The node never sees HTTP credentials; this server never sees another
//! party's node. Loopback by default; HTTPS with `[tls]` ([`tls`]); plain
//! HTTP on a non-loopback address needs `--insecure-plain-http`.
//!
//! - [`config`]: the config file; [`auth`]: credentials; [`filter`]:
//!   TAXII filters and paging; `routes`: the HTTP endpoints.

pub mod auth;
pub mod config;
pub mod filter;
mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tisa_core::{InboxEntry, KeyRole, Party};
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};
use tracing::info;

use crate::export::{self, Entry};

/// A TAXII user as the server holds it: credentials and a client of the
/// party's node signing with the user's reader key.
pub struct Reader {
    /// The user (its key's name).
    pub name: String,
    /// Its client of the node.
    pub client: ControlClient,
}

/// The server's state.
pub struct State {
    /// Whose collection.
    pub party: Party,
    /// The collection id.
    pub collection: String,
    /// Credentials, in the order of [`State::readers`].
    pub credentials: Vec<auth::Stored>,
    /// The node clients, one per user.
    pub readers: Vec<Reader>,
    /// `http` or `https` (for the URLs discovery gives).
    pub scheme: &'static str,
}

impl State {
    /// Every object of the collection, read now from the node as reader `i`
    /// (every page a signed, audited read).
    pub async fn objects(&self, i: usize) -> Result<Vec<Entry>, String> {
        let reader = self.readers.get(i).ok_or("no such reader")?;
        let inbox = read_inbox(&reader.client).await.map_err(|e| format!("{e:#}"))?;
        Ok(export::entries(self.party, &inbox))
    }
}

/// Every entry of the party's inbox, page by page (each page a signed read).
pub async fn read_inbox(client: &ControlClient) -> Result<Vec<InboxEntry>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let req = ControlRequest::Inbox(ListQuery { after: after.clone(), limit: 1000, ..ListQuery::default() });
        match client.call(&req).await? {
            ControlReply::Inbox(page) => {
                out.extend(page.items);
                match page.next_after {
                    Some(n) => after = Some(n),
                    None => return Ok(out),
                }
            }
            ControlReply::Error { code, message } => bail!("{message} [{code}]"),
            other => bail!("unexpected reply from the node: {other:?}"),
        }
    }
}

/// Options of a run.
pub struct Options {
    /// The config file.
    pub config: std::path::PathBuf,
    /// Overrides its `listen`.
    pub listen: Option<String>,
    /// Allow a non-loopback address without TLS.
    pub insecure_plain_http: bool,
    /// Node call timeout.
    pub timeout: Duration,
}

/// Loads the config, connects every user's client to the node, binds, and
/// serves until SIGINT/SIGTERM. Prints `tisa taxii listening on http://ADDR/taxii2/`
/// on stdout once bound.
pub async fn run(opts: Options) -> Result<()> {
    let file = config::load(&opts.config)?;
    let common = tisa_kit::Common {
        party: None,
        nats: file.nats.clone(),
        config: Some(file.node_config.clone()),
        key: None,
        json: false,
        timeout: opts.timeout,
    };
    let ctx = common.resolve()?;
    let mut credentials = Vec::new();
    let mut readers = Vec::new();
    for u in &file.users {
        let key = tisa_deploy::keys::load(&u.key)?;
        if key.party != ctx.party || !key.has(KeyRole::Reader) {
            bail!(
                "{}: user {}'s key is not a reader key of {}: use a key with the reader role",
                opts.config.display(),
                u.name,
                ctx.party
            );
        }
        if key.identity.name() != u.name {
            bail!(
                "{}: user {} has the key of {}: name each user after its reader key",
                opts.config.display(),
                u.name,
                key.identity.name()
            );
        }
        let client = ControlClient::connect(&ctx.ep, ctx.party, ctx.timeout)
            .await
            .with_context(|| format!("cannot reach {}'s node", ctx.party))?
            .with_signers(vec![key.signer()]);
        credentials.push(auth::Stored {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            token_hash: u.token_hash.clone(),
        });
        readers.push(Reader { name: u.name.clone(), client });
    }
    let listen = opts.listen.unwrap_or(file.listen);
    let addr: SocketAddr =
        listen.parse().with_context(|| format!("--listen {listen}: not an address like 127.0.0.1:9580"))?;
    if !addr.ip().is_loopback() && file.tls.is_none() && !opts.insecure_plain_http {
        bail!("--listen {addr} is not loopback and no [tls] is configured: add [tls] cert/key, or pass --insecure-plain-http");
    }
    let scheme = if file.tls.is_some() { "https" } else { "http" };
    let state = Arc::new(State {
        party: ctx.party,
        collection: crate::ids::collection(ctx.party),
        credentials,
        readers,
        scheme,
    });
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    info!(party = %ctx.party, %bound, scheme, users = state.readers.len(), "TAXII 2.1 server up");
    let stop = async {
        let s = tisa_kit::util::shutdown_signal().await;
        info!(signal = s, "stopping");
    };
    let router = routes::router(state.clone());
    match &file.tls {
        Some(t) => {
            let tls = tls::TlsListener::new(listener, &t.cert, &t.key)?;
            println!("tisa taxii listening on {scheme}://{bound}/taxii2/ collection {}", state.collection);
            axum::serve(tls, router).with_graceful_shutdown(stop).await?;
        }
        None => {
            println!("tisa taxii listening on {scheme}://{bound}/taxii2/ collection {}", state.collection);
            axum::serve(listener, router).with_graceful_shutdown(stop).await?;
        }
    }
    Ok(())
}
