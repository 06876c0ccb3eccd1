//! `--cluster N` (per-nation mode): each nation's broker as a JetStream
//! cluster of N servers (3 survives the loss of one, 5 of two).
//!
//! - Servers `tisa-<n>-1` … `tisa-<n>-N`, configs `nats-<n>-<i>.conf`, each
//!   with its own store (`<store>-<n>-<i>`) and `sync_interval: always`
//!   like a single server; one JetStream domain per nation, as before.
//! - **Routes only within a nation**: cluster name `tisa-<n>`; each server
//!   lists the other servers of its own nation, never another nation's.
//!   The nations' clusters are still joined only by leaf connections to
//!   US's (each of a nation's servers dials one, to any of US's servers).
//! - **Routes authenticated**: one route user per nation with a random
//!   password, in a fragment per server (`cluster-<n>-<i>.conf`, mode
//!   0600) that also holds the route URLs (they carry the password); the
//!   server config includes it and holds no secret.
//! - **Route permissions**: a route carries only the nation's own subjects
//!   (`tisa.<n>.>`, `tisa.ctl.<n>.>`; US's: both national links too), its
//!   users' inbox prefixes, and the subjects NATS itself needs to
//!   replicate JetStream (`$JS.>`, `$JSC.>`, `$NRG.>`, `$SYS.>`, `$LDS.>`,
//!   `_R_.>`, `_INBOX.>`).
//! - Node and CLI configs get every server of their nation (`url` lists
//!   them, comma-separated) and `replicas = N`: each stream and consumer a
//!   node creates is kept by N servers.
//!
//! URLs: `--kr-url` (and the others, and `--us-leaf-url`) take N URLs
//! separated by commas, or one: then the i-th server (from 0) listens on
//! its port + 3·i (the defaults of the three nations interleave). A
//! server's route port is its client port + [`Options::route_port_offset`]
//! (2000: 4222 → 6222).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use tisa_core::Party;
use tisa_transport::subjects::{self, Role};

use super::{host_port, listen_host, quote, quote_list, strip_scheme, Options, TlsFiles};
use crate::secret::write_secret;

/// Cluster sizes `--cluster` accepts: one server, or a majority that
/// survives one (3) or two (5) lost servers.
pub const SIZES: [usize; 3] = [1, 3, 5];

/// One server of a nation's broker.
#[derive(Clone, Debug)]
pub struct Server {
    /// `tisa-kr` (a single server) or `tisa-kr-2`.
    pub name: String,
    /// Its file-name suffix: `kr` or `kr-2`.
    pub suffix: String,
    /// Its client URL.
    pub url: String,
    /// Its route listener (host as in the URL, port): clusters only.
    pub route: Option<(String, u16)>,
    /// US's servers: the leaf listener the nations' servers dial.
    pub leaf_url: String,
}

/// `n` URLs from a comma-separated list of `n`, or from one (port + 3·i).
pub fn expand(list: &str, n: usize, what: &str) -> Result<Vec<String>> {
    let urls: Vec<String> = list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
    match urls.as_slice() {
        [one] if n > 1 => {
            let (host, port) = host_port(one)?;
            let scheme = one.split_once("://").map_or("nats", |(s, _)| s);
            (0..n)
                .map(|i| {
                    let p = u16::try_from(usize::from(port) + 3 * i)
                        .map_err(|_| anyhow::anyhow!("{what}: port {port} + {} is out of range", 3 * i))?;
                    Ok(format!("{scheme}://{host}:{p}"))
                })
                .collect()
        }
        _ if urls.len() == n => Ok(urls),
        _ => bail!("{what}: give {n} URLs separated by commas (one per server of the cluster), or one"),
    }
}

/// The servers of `party`'s broker.
pub fn servers(opts: &Options, party: Party) -> Result<Vec<Server>> {
    let n = opts.cluster;
    if !SIZES.contains(&n) {
        bail!("--cluster {n}: use 3 (survives one lost server) or 5 (two); 1 is a single server");
    }
    let urls = expand(opts.nation_url(party), n, &format!("--{}-url", party.lower()))?;
    let leafs = if party.is_hub() { expand(&opts.us_leaf_url, n, "--us-leaf-url")? } else { vec![String::new(); n] };
    urls.into_iter()
        .zip(leafs)
        .enumerate()
        .map(|(i, (url, leaf_url))| {
            let (suffix, route) = if n == 1 {
                (party.lower().to_owned(), None)
            } else {
                let (host, port) = host_port(&url)?;
                let route_port =
                    u16::try_from(usize::from(port) + usize::from(opts.route_port_offset)).map_err(|_| {
                        anyhow::anyhow!("{url}: its route port (+{}) is out of range", opts.route_port_offset)
                    })?;
                (format!("{}-{}", party.lower(), i + 1), Some((host, route_port)))
            };
            Ok(Server { name: format!("tisa-{suffix}"), suffix, url, route, leaf_url })
        })
        .collect()
}

/// The fragment holding server `s`'s route credentials and route URLs.
pub fn route_file(s: &Server) -> String {
    format!("cluster-{}.conf", s.suffix)
}

/// A fresh route password (32 random bytes, hex).
pub fn route_password() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The only subjects a route of `party`'s cluster carries (both ways).
pub fn route_subjects(party: Party) -> Vec<String> {
    let p = party.lower();
    let mut s = vec![format!("tisa.{p}.>"), format!("tisa.ctl.{p}.>")];
    let mut roles = vec![(party, Role::Node), (party, Role::Cli)];
    if party.is_hub() {
        for n in Party::NATIONS {
            s.push(format!("tisa.{}.>", n.lower()));
            roles.push((n, Role::Link));
        }
    } else {
        roles.push((party, Role::NationLink));
    }
    s.extend(roles.into_iter().map(|(p, r)| format!("{}.>", subjects::inbox_prefix(p, r))));
    // What NATS itself needs: JetStream's API, acks and flow control;
    // its cluster meta layer and Raft groups; the system account; leaf
    // loop detection; service responses; its internal inboxes.
    s.extend(["$JS.>", "$JSC.>", "$NRG.>", "$SYS.>", "$LDS.>", "_R_.>", "_INBOX.>"].map(str::to_owned));
    s
}

/// Writes server `me`'s `cluster { … }` block into `conf` and its route
/// fragment (credentials, the other servers' route URLs) next to it.
pub(super) fn write_block(
    conf: &mut String,
    out: &Path,
    party: Party,
    me: &Server,
    all: &[Server],
    password: &str,
    tls: Option<&TlsFiles>,
) -> Result<()> {
    let Some((host, port)) = &me.route else { return Ok(()) };
    let user = format!("route-{}", party.lower());
    let routes: Vec<String> = all
        .iter()
        .filter(|s| s.name != me.name)
        .filter_map(|s| s.route.as_ref())
        .map(|(h, p)| format!("nats-route://{user}:{password}@{h}:{p}"))
        .collect();
    let fragment = format!(
        "# Route credentials and URLs of {} (secret: the URLs carry the password).\nauthorization {{ user: {}, password: {} }}\nroutes = [ {} ]\n",
        me.name,
        quote(&user),
        quote(password),
        quote_list(&routes)
    );
    write_secret(&out.join(route_file(me)), &fragment)?;
    let allow = quote_list(&route_subjects(party));
    writeln!(
        conf,
        "# {}'s broker is a cluster of {} servers. Routes join only {}'s own servers,",
        party.code(),
        all.len(),
        party.code()
    )?;
    writeln!(conf, "# authenticated (route user and password in the 0600 fragment), and carry only")?;
    writeln!(conf, "# {}'s subjects and what NATS needs to replicate JetStream.", party.code())?;
    writeln!(
        conf,
        "cluster {{\n  name: {}\n  host: {}\n  port: {port}",
        quote(&format!("tisa-{}", party.lower())),
        quote(&listen_host(host))
    )?;
    writeln!(conf, "  include {}", quote(&route_file(me)))?;
    writeln!(conf, "  permissions {{\n    import: {{ allow: [{allow}] }}\n    export: {{ allow: [{allow}] }}\n  }}")?;
    if let Some(t) = tls {
        writeln!(
            conf,
            "  tls {{\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n    timeout: 2\n  }}",
            quote(&t.cert.to_string_lossy()),
            quote(&t.key.to_string_lossy()),
            quote(&t.ca.to_string_lossy())
        )?;
    }
    writeln!(conf, "}}\n")?;
    Ok(())
}

/// The leaf remote's URLs: every one of US's leaf listeners.
pub fn leaf_remote_urls(us: &[Server]) -> Vec<String> {
    us.iter().map(|s| format!("nats-leaf://{}", strip_scheme(&s.leaf_url))).collect()
}
