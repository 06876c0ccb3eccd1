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

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> (tempdir::Dir, crate::broker::Generated) {
        let dir = tempdir::Dir::new();
        let g = crate::broker::generate_with(dir.path(), &Options::per_nation_cluster(3)).unwrap();
        (dir, g)
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                Dir(std::env::temp_dir().join(format!("tisa-cluster-gen-{}-{nanos}", std::process::id())))
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn each_nation_gets_a_cluster_whose_routes_stay_inside_it() {
        let (dir, g) = generated();
        assert_eq!(g.servers.len(), 9, "three servers per nation");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let port = |url: &str| host_port(url).unwrap().1;
        for party in Party::ALL {
            let servers = servers(&Options::per_nation_cluster(3), party).unwrap();
            let route_ports: Vec<u16> = servers.iter().map(|s| s.route.as_ref().unwrap().1).collect();
            for s in &servers {
                let conf = read(&format!("nats-{}.conf", s.suffix));
                assert!(conf.contains("sync_interval: always"), "{}", s.name);
                assert!(conf.contains(&format!("name: \"tisa-{}\"", party.lower())), "{}: cluster name", s.name);
                let fragment = read(&route_file(s));
                assert!(fragment.contains("authorization { user:"), "{}: routes authenticated", s.name);
                let password = fragment.split("password: \"").nth(1).unwrap().split('"').next().unwrap();
                assert!(password.len() >= 64 && !conf.contains(password), "{}: no secret in the server config", s.name);
                // Every route names a server of this nation, never itself, never another nation's.
                let routes: Vec<u16> = fragment
                    .split("nats-route://")
                    .skip(1)
                    .map(|r| r.split('"').next().unwrap().rsplit(':').next().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(routes.len(), 2, "{}: the two other servers", s.name);
                assert!(routes.iter().all(|p| route_ports.contains(p) && *p != s.route.as_ref().unwrap().1));
                // Route permissions: no other party's subjects (the hub's: both links).
                for other in Party::ALL.into_iter().filter(|o| *o != party) {
                    assert!(!conf.contains(&format!("\"tisa.ctl.{}.>\"", other.lower())), "{}", s.name);
                    if !party.is_hub() && !other.is_hub() {
                        assert!(!conf.contains(&format!("tisa.{}.", other.lower())), "{}: nothing of {other}", s.name);
                    }
                }
                if !party.is_hub() {
                    // Each nation's server dials a leaf to every US server's listener.
                    for us in servers_leafs() {
                        assert!(conf.contains(&format!(":{}\"", port(&us))), "{}: leaf to {us}", s.name);
                    }
                }
            }
            let node = crate::config::load(&dir.path().join(format!("{}-node.toml", party.lower()))).unwrap();
            assert_eq!(node.own.servers().len(), 3, "the node knows every server of its nation");
            assert_eq!(node.own.replicas, 3, "streams kept by three servers");
            assert!(servers.iter().all(|s| node.own.url.contains(&s.url)));
        }
    }

    fn servers_leafs() -> Vec<String> {
        servers(&Options::per_nation_cluster(3), Party::HUB).unwrap().into_iter().map(|s| s.leaf_url).collect()
    }

    #[test]
    fn cluster_sizes_and_url_lists_are_checked() {
        assert_eq!(
            expand("nats://h:4222", 3, "x").unwrap(),
            ["nats://h:4222", "nats://h:4225", "nats://h:4228"].map(String::from)
        );
        assert_eq!(expand("nats://a:1,nats://b:2,nats://c:3", 3, "x").unwrap().len(), 3);
        assert!(expand("nats://a:1,nats://b:2", 3, "--kr-url").unwrap_err().to_string().contains("--kr-url"));
        assert!(servers(&Options::per_nation_cluster(2), Party::Kr).is_err(), "two servers survive nothing");
        let shared = Options { cluster: 3, ..Options::shared(crate::DEFAULT_NATS_URL) };
        let dir = tempdir::Dir::new();
        assert!(crate::broker::generate_with(dir.path(), &shared).is_err(), "a cluster needs per-nation mode");
    }
}
