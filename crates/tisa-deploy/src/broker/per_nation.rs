//! Per-nation mode: one nats-server per party, joined by **leaf nodes**.
//!
//! - KR's server holds KR's account only (`kr-node`, `kr-cli`, `kr-link`;
//!   JetStream domain `kr`) and a JetStream-less account `LINK_US` with no
//!   users. It dials out one leaf connection to US's server, bound to
//!   `LINK_US` here and, by its nkey (`leaf-kr`), to `LINK_KR` there. KR's
//!   account exports `tisa.kr.down.>` (its inbound stream) to `LINK_US`
//!   and imports `tisa.kr.up.>` from it: nothing else of KR's (control
//!   subjects, JetStream API, inboxes) exists in `LINK_US`, so nothing else
//!   crosses the leaf. JP's likewise.
//! - US's server holds US's account (`us-node`, `us-cli`, and the hub's link
//!   users `us-link-kr`, `us-link-jp`; JetStream domain `us`, where the
//!   hub's inbound streams `TISA_KR_UP`, `TISA_JP_UP` live) and the
//!   JetStream-less `LINK_KR` and `LINK_JP`, whose only users are the
//!   nations' leaf credentials (leaf connections only). US exports
//!   `tisa.kr.up.>` to `LINK_KR` and imports `tisa.kr.down.>` from it.
//! - The hub's node connects to US's server only. No user of one party
//!   exists on another party's server, and no account holds two parties'
//!   streams or control subjects. KR's and JP's servers are joined only
//!   through US's, and only on the national link subjects (leaf nodes are
//!   acyclic: a message from KR's leaf is never sent back out to a leaf
//!   bound to another account).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use tisa_core::Party;

use super::{
    cluster, host_port, listen_host, quote, quote_list, write_party_account, write_party_configs, write_server_header,
    Generated, Mode, Options, TlsFiles,
};
use crate::secret::write_secret;

/// The link account on US's server that `nation`'s leaf connection is bound to.
pub fn hub_link_account(nation: Party) -> String {
    format!("LINK_{}", nation.code())
}

/// The link account on a nation's server that its leaf connection is bound to.
pub const NATION_LINK_ACCOUNT: &str = "LINK_US";

/// The file (next to `nats-<nation>.conf`, mode 0600) holding the nation's
/// leaf nkey seed as a config fragment (`nkey: "SU…"`), included by the
/// server config, which itself holds no secret.
pub fn leaf_seed_file(nation: Party) -> String {
    format!("leaf-{}.nkey.conf", nation.lower())
}

/// The link account's block: no JetStream; the link subjects only, as
/// services to and from `party_account`; `users` (leaf credentials) if any.
fn write_link_account(
    conf: &mut String,
    name: &str,
    party_account: &str,
    nation: Party,
    hub_side: bool,
    leaf_user: Option<&str>,
) -> Result<()> {
    let n = nation.lower();
    // On US's server the link account hears the nation up and speaks down;
    // on the nation's server, the other way round.
    let (from_party, to_party) = if hub_side { ("up", "down") } else { ("down", "up") };
    writeln!(conf, "  # The {} leaf's account: no JetStream, the link subjects only.", nation.code())?;
    writeln!(conf, "  {name} {{")?;
    if let Some(pk) = leaf_user {
        writeln!(conf, "    users = [ {{ nkey: \"{pk}\", allowed_connection_types: [\"LEAFNODE\"] }} ]   # leaf-{n}")?;
    }
    writeln!(
        conf,
        "    imports = [ {{ service: {{ account: {party_account}, subject: \"tisa.{n}.{from_party}.>\" }} }} ]"
    )?;
    writeln!(conf, "    exports = [ {{ service: \"tisa.{n}.{to_party}.>\", accounts: [{party_account}] }} ]")?;
    writeln!(conf, "  }}")?;
    Ok(())
}

/// Writes the per-nation deployment (see the module docs; with
/// `opts.cluster` > 1, each nation's broker is a cluster: [`super::cluster`]).
pub(super) fn generate(out: &Path, opts: &Options, store_base: &Path, tls: Option<&TlsFiles>) -> Result<Generated> {
    let with_tls = tls.is_some();
    // The nations' leaf credentials: the public key goes into US's config,
    // the seed into a private fragment next to the nation's.
    let mut leaf_keys = Vec::new();
    for n in Party::NATIONS {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().map_err(|e| anyhow::anyhow!("nkey generation failed: {e}"))?;
        write_secret(&out.join(leaf_seed_file(n)), &format!("nkey: \"{seed}\"\n"))?;
        leaf_keys.push((n, kp.public_key()));
    }
    let us_servers = cluster::servers(opts, Party::HUB)?;
    let mut servers = Vec::new();
    let mut configs = Vec::new();
    for party in Party::ALL {
        let nation_servers = cluster::servers(opts, party)?;
        let urls = nation_servers.iter().map(|s| s.url.as_str()).collect::<Vec<_>>().join(",");
        // The accounts (users, seeds) once per nation: every server of its
        // cluster holds the same.
        let mut accounts = String::new();
        let hub_links: &[Party] = if party.is_hub() { &Party::NATIONS } else { &[] };
        let mut eps = write_party_account(&mut accounts, out, party, hub_links, &opts.limits, &urls, with_tls, |n| {
            if party.is_hub() {
                hub_link_account(n)
            } else {
                NATION_LINK_ACCOUNT.to_owned()
            }
        })?;
        if opts.cluster > 1 {
            for (_, _, ep) in &mut eps {
                ep.replicas = Some(opts.cluster);
            }
        }
        if party.is_hub() {
            for (n, pk) in &leaf_keys {
                write_link_account(&mut accounts, &hub_link_account(*n), party.code(), *n, true, Some(pk))?;
            }
        } else {
            write_link_account(&mut accounts, NATION_LINK_ACCOUNT, party.code(), party, false, None)?;
        }
        let password = cluster::route_password();
        for server in &nation_servers {
            let mut store = store_base.as_os_str().to_owned();
            store.push(format!("-{}", server.suffix));
            let mut conf = String::new();
            let domain = Some(party.lower());
            write_server_header(
                &mut conf,
                Mode::PerNation,
                &server.name,
                &server.url,
                Path::new(&store),
                tls,
                opts.fsync_always,
                domain,
            )?;
            cluster::write_block(&mut conf, out, party, server, &nation_servers, &password, tls)?;
            if party.is_hub() {
                write_leaf_listener(&mut conf, &server.leaf_url, tls)?;
            } else {
                write_leaf_remote(&mut conf, party, &cluster::leaf_remote_urls(&us_servers), tls)?;
            }
            writeln!(conf, "accounts {{\n{accounts}}}")?;
            let path = out.join(format!("nats-{}.conf", server.suffix));
            std::fs::write(&path, conf).with_context(|| format!("cannot write {}", path.display()))?;
            servers.push((Some(party), path));
        }
        configs.extend(write_party_configs(out, party, &eps)?);
    }
    let server_conf = servers.first().map(|(_, p)| p.clone()).context("nothing generated")?;
    Ok(Generated { server_conf, servers, configs, tls_ca: None })
}

/// US's server: its leaf listener, which the nations' servers dial.
fn write_leaf_listener(conf: &mut String, leaf_url: &str, tls: Option<&TlsFiles>) -> Result<()> {
    let (leaf_host, leaf_port) = host_port(leaf_url)?;
    writeln!(conf, "# US's own server: US's users (the hub's node, operators, link users), and")?;
    writeln!(conf, "# one JetStream-less link account per nation that its leaf connection is bound to.")?;
    writeln!(conf, "leafnodes {{\n  host: {}\n  port: {leaf_port}", quote(&listen_host(&leaf_host)))?;
    if let Some(t) = tls {
        writeln!(
            conf,
            "  tls {{\n    cert_file: {}\n    key_file: {}\n    timeout: 2\n  }}",
            quote(&t.cert.to_string_lossy()),
            quote(&t.key.to_string_lossy())
        )?;
    }
    writeln!(conf, "}}\n")?;
    Ok(())
}

/// A nation's server: its one way out, a leaf connection to (any of) US's servers.
fn write_leaf_remote(conf: &mut String, party: Party, us_leaf_urls: &[String], tls: Option<&TlsFiles>) -> Result<()> {
    writeln!(
        conf,
        "# {}'s own server: {}'s users only. Its one way out: a leaf connection it",
        party.code(),
        party.code()
    )?;
    writeln!(conf, "# dials to US's server, bound to the JetStream-less {NATION_LINK_ACCOUNT} account.")?;
    writeln!(conf, "leafnodes {{\n  remotes = [ {{")?;
    writeln!(conf, "    urls: [{}]", quote_list(us_leaf_urls))?;
    writeln!(conf, "    account: {NATION_LINK_ACCOUNT}")?;
    writeln!(conf, "    # the leaf nkey seed (mode 0600)")?;
    writeln!(conf, "    include {}", quote(&leaf_seed_file(party)))?;
    if let Some(t) = tls {
        writeln!(conf, "    tls {{ ca_file: {} }}", quote(&t.ca.to_string_lossy()))?;
    }
    writeln!(conf, "  }} ]\n}}\n")?;
    Ok(())
}
