//! `tisa broker config`: nats-server configurations that enforce the
//! arrangement's topology in the broker itself, plus per-party credentials.
//!
//! Users. Each node has a **control user** (`<p>-node`: its control
//! subjects, events, its dead-letter stream, replies to its operators'
//! inbox `_INBOX_<p>_cli.>` and nowhere else) and a **link user** per link
//! (`kr-link`, `jp-link`: a nation's end; `us-link-kr`, `us-link-jp`: the
//! hub's ends): a link user publishes only its direction of its link and
//! reads only its own inbound stream. A control connection can never
//! publish on a link, so a control request with a forged reply subject
//! (`tisa.jp.down.delivery`) cannot put anything on a link even if the node
//! answered it (it does not: `subjects::reply_allowed`). No user has
//! `allow_responses`. Operators (`<p>-cli`) have control requests and events.
//!
//! JetStream. No user is granted `$JS.API.>` or `$JS.ACK.>`. Each gets the
//! exact API subjects of its own streams and consumer
//! (`subjects::js_inbound_api`, `js_dead_letter_api`): a link user
//! `$JS.API.STREAM.INFO|CREATE.<its inbound stream>`,
//! `$JS.API.CONSUMER.INFO|CREATE|MSG.NEXT.<stream>.<its durable>` and
//! `$JS.ACK.<stream>.<durable>.>`; a control user the same three stream
//! subjects (`INFO`, `CREATE`, `MSG.GET`) of its dead-letter stream;
//! operators none. No stream list, update, delete or account info for
//! anyone. JetStream APIs are never exported.
//!
//! Shared mode (`--mode shared`: one nats-server, three accounts):
//! - accounts `KR`, `US`, `JP`; a subject published in one account is
//!   invisible in the others unless exported and imported;
//! - the only exports/imports are the national links: KR exports
//!   `tisa.kr.down.>` to US and imports `tisa.kr.up.>` from US (as
//!   services: the receiver's stream answers the sender); JP likewise.
//!   Nothing connects KR and JP;
//! - every user lives in its own party's account (the hub's link users in
//!   US), with the permissions above and a private inbox prefix, so no
//!   user can read another's replies;
//! - users authenticate with nkeys: the server config holds only public
//!   keys; each seed is written to its own file with mode 0600.
//!
//! Per-nation mode (`--mode per-nation`: one nats-server per party,
//! `nats-kr.conf`, `nats-us.conf`, `nats-jp.conf`; [`per_nation`]): each
//! server holds only its own party's account and users (US's also the
//! hub's link users `us-link-kr`, `us-link-jp`). KR's and JP's servers
//! dial leaf connections to US's (`--us-leaf-url`), bound at both ends to
//! JetStream-less link accounts that carry only the national link
//! subjects; JetStream domains `kr`, `us`, `jp`. KR and JP have no
//! credentials on each other's server, nor on US's, and the hub none on
//! theirs.
//!
//! Both modes:
//! - JetStream is enabled per account with limits (`jetstream { max_mem,
//!   max_file, max_streams, max_consumers }`) and a `store_dir` per server;
//! - `--tls`: a CA and a server certificate (SANs `localhost`, `127.0.0.1`,
//!   `nats-kr`, `nats-us`, `nats-jp`) are generated; every server requires
//!   TLS of every client, and node/CLI configs get `tls://` URLs and
//!   `tls_ca_file = "ca.pem"`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tisa_core::Party;
use tisa_transport::subjects::{self, Role};

use crate::config::{ConfigFile, EndpointFile};

pub mod cluster;
pub mod per_nation;
use crate::secret::write_secret;

/// Default URL of KR's server in per-nation mode.
pub const DEFAULT_KR_URL: &str = "nats://127.0.0.1:4222";
/// Default URL of US's server in per-nation mode.
pub const DEFAULT_US_URL: &str = "nats://127.0.0.1:4223";
/// Default URL of JP's server in per-nation mode.
pub const DEFAULT_JP_URL: &str = "nats://127.0.0.1:4224";
/// Default leaf-node URL of US's server in per-nation mode (the nations'
/// servers dial out to it).
pub const DEFAULT_US_LEAF_URL: &str = "nats://127.0.0.1:7422";

/// The names the generated server certificate is valid for.
pub const TLS_NAMES: [&str; 5] = ["localhost", "127.0.0.1", "nats-kr", "nats-us", "nats-jp"];

/// How the broker is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One nats-server, three accounts.
    Shared,
    /// One nats-server per party.
    PerNation,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Mode, String> {
        match s {
            "shared" => Ok(Mode::Shared),
            "per-nation" => Ok(Mode::PerNation),
            other => Err(format!("unknown mode {other:?} (use `shared` or `per-nation`)")),
        }
    }
}

/// JetStream limits of every account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsLimits {
    /// Memory storage, nats-server size syntax (`64M`).
    pub max_mem: String,
    /// File storage, nats-server size syntax (`1G`).
    pub max_file: String,
    /// Streams.
    pub max_streams: u32,
    /// Consumers.
    pub max_consumers: u32,
}

impl Default for JsLimits {
    fn default() -> JsLimits {
        JsLimits { max_mem: "64M".into(), max_file: "1G".into(), max_streams: 16, max_consumers: 64 }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Shared or per-nation.
    pub mode: Mode,
    /// Shared mode: the broker's URL (host and port also go into the server config).
    pub url: String,
    /// Per-nation mode: KR's server.
    pub kr_url: String,
    /// Per-nation mode: US's server.
    pub us_url: String,
    /// Per-nation mode: JP's server.
    pub jp_url: String,
    /// Per-nation mode: US's leaf-node listener, which KR's and JP's servers dial.
    pub us_leaf_url: String,
    /// JetStream storage directory; default `<out>/jetstream`. Per-nation
    /// mode appends `-<nation>` (each server needs its own).
    pub store_dir: Option<PathBuf>,
    /// JetStream limits of every account.
    pub limits: JsLimits,
    /// Generate a CA and a server certificate; require TLS of every client.
    pub tls: bool,
    /// fsync JetStream before every acknowledgement (`sync_interval: always`);
    /// `false` keeps nats-server's default (every 2 minutes): faster, but
    /// acknowledged messages can be lost on a power failure.
    pub fsync_always: bool,
    /// Per-nation mode: servers per nation (1, 3 or 5; [`cluster`]).
    pub cluster: usize,
    /// Clusters: a server's route port is its client port plus this.
    pub route_port_offset: u16,
}

impl Options {
    /// Shared mode on `url`, default limits, no TLS.
    pub fn shared(url: &str) -> Options {
        Options {
            mode: Mode::Shared,
            url: url.to_owned(),
            kr_url: DEFAULT_KR_URL.to_owned(),
            us_url: DEFAULT_US_URL.to_owned(),
            jp_url: DEFAULT_JP_URL.to_owned(),
            us_leaf_url: DEFAULT_US_LEAF_URL.to_owned(),
            store_dir: None,
            limits: JsLimits::default(),
            fsync_always: true,
            tls: false,
            cluster: 1,
            route_port_offset: 2000,
        }
    }

    /// Per-nation mode on the default URLs, default limits, no TLS.
    pub fn per_nation() -> Options {
        Options { mode: Mode::PerNation, ..Options::shared(crate::DEFAULT_NATS_URL) }
    }

    /// Per-nation mode with a JetStream cluster of `n` servers per nation.
    pub fn per_nation_cluster(n: usize) -> Options {
        Options { cluster: n, ..Options::per_nation() }
    }

    fn nation_url(&self, party: Party) -> &str {
        match party {
            Party::Kr => &self.kr_url,
            Party::Us => &self.us_url,
            Party::Jp => &self.jp_url,
        }
    }
}

/// What `generate` wrote.
#[derive(Debug)]
pub struct Generated {
    /// The first nats-server config (shared mode: the only one).
    pub server_conf: PathBuf,
    /// Every nats-server config: `(None, nats-server.conf)` in shared mode,
    /// `(Some(party), nats-<p>.conf)` for KR, US, JP in per-nation mode.
    pub servers: Vec<(Option<Party>, PathBuf)>,
    /// `(party, role, config file)` for every node and CLI.
    pub configs: Vec<(Party, Role, PathBuf)>,
    /// With `--tls`: the CA certificate clients must trust.
    pub tls_ca: Option<PathBuf>,
}

impl Generated {
    /// The server config `party`'s users connect to.
    pub fn server_of(&self, party: Party) -> &Path {
        self.servers.iter().find(|(p, _)| p.is_none_or(|p| p == party)).map_or(&self.server_conf, |(_, f)| f)
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
}

fn strip_scheme(url: &str) -> &str {
    url.strip_prefix("nats://").or_else(|| url.strip_prefix("tls://")).unwrap_or(url)
}

fn host_port(url: &str) -> Result<(String, u16)> {
    let rest = strip_scheme(url);
    let (host, port) = rest.rsplit_once(':').with_context(|| format!("URL {url} has no port"))?;
    let port: u16 = port.trim_end_matches('/').parse().with_context(|| format!("URL {url} has a bad port"))?;
    Ok((host.to_owned(), port))
}

/// The URL clients use (or URLs, comma-separated): `tls://` when TLS is
/// required, else as given.
fn client_url(url: &str, tls: bool) -> String {
    if tls {
        url.split(',').map(|u| format!("tls://{}", strip_scheme(u.trim()))).collect::<Vec<_>>().join(",")
    } else {
        url.to_owned()
    }
}

/// Where a server listens for `host` of its URL: a DNS name
/// (`nats://nats-kr:4222` in a compose file) is for the clients; the server
/// itself listens on every interface.
fn listen_host(host: &str) -> String {
    let is_address = host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok();
    if is_address {
        host.to_owned()
    } else {
        "0.0.0.0".to_owned()
    }
}

/// Validates a nats-server size (`64M`, `1G`, `512MB`, `1048576`) and
/// returns it normalised to upper case.
pub fn parse_size(s: &str) -> std::result::Result<String, String> {
    let t = s.trim().to_ascii_uppercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.parse::<u64>().is_err() {
        return Err(format!("invalid size {s:?} (try 64M, 1G)"));
    }
    if !matches!(unit, "" | "K" | "KB" | "M" | "MB" | "G" | "GB" | "T" | "TB") {
        return Err(format!("invalid size unit in {s:?} (use K, M, G or T)"));
    }
    Ok(t)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_owned())
    } else {
        Ok(std::env::current_dir().context("cannot read the current directory")?.join(p))
    }
}

/// One NATS user of a generated server config.
struct User {
    /// `kr-node`, `us-link`, …: a comment in the server config; the seed file is `<seed_name>.nk`.
    name: String,
    seed_name: String,
    publish: Vec<String>,
    subscribe: Vec<String>,
}

/// Creates `user`'s nkey (seed to `<seed_name>.nk`, mode 0600) and appends
/// its entry to `conf`.
fn write_user(conf: &mut String, out: &Path, user: &User) -> Result<()> {
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().map_err(|e| anyhow::anyhow!("nkey generation failed: {e}"))?;
    write_secret(&out.join(format!("{}.nk", user.seed_name)), &format!("{seed}\n"))?;
    writeln!(conf, "      # {}", user.name)?;
    writeln!(conf, "      {{ nkey: \"{}\", permissions: {{", kp.public_key())?;
    writeln!(conf, "          publish: {{ allow: [{}] }}", quote_list(&user.publish))?;
    writeln!(conf, "          subscribe: {{ allow: [{}] }}", quote_list(&user.subscribe))?;
    writeln!(conf, "      }} }}")?;
    Ok(())
}

fn party_user(party: Party, role: Role) -> User {
    let name = format!("{}-{}", party.lower(), role.as_str());
    let (publish, subscribe) = subjects::permissions(party, role);
    User { seed_name: name.clone(), name, publish, subscribe }
}

/// The hub's link user for the US–`nation` link (`us-link-<nation>`).
fn hub_link_user(nation: Party) -> User {
    let (publish, subscribe) = subjects::permissions(nation, Role::Link);
    let seed_name = format!("{}-link-{}", Party::HUB.lower(), nation.lower());
    User {
        name: format!("{seed_name} (the US hub's end of the US-{} link)", nation.code()),
        seed_name,
        publish,
        subscribe,
    }
}

/// Every user of `party`'s account: node (control), CLI, and its link
/// users (a nation's own; the hub's in shared mode). Returns them with the
/// role whose inbox prefix each uses.
fn account_users(party: Party, hub_links_here: &[Party]) -> Vec<(User, Party, Role)> {
    let mut users =
        vec![(party_user(party, Role::Node), party, Role::Node), (party_user(party, Role::Cli), party, Role::Cli)];
    if !party.is_hub() {
        users.push((party_user(party, Role::NationLink), party, Role::NationLink));
    }
    for n in hub_links_here {
        users.push((hub_link_user(*n), *n, Role::Link));
    }
    users
}

fn write_js_limits(conf: &mut String, l: &JsLimits) -> Result<()> {
    writeln!(
        conf,
        "    jetstream {{ max_mem: {}, max_file: {}, max_streams: {}, max_consumers: {} }}",
        l.max_mem, l.max_file, l.max_streams, l.max_consumers
    )?;
    Ok(())
}

/// The server-wide part: listen address, name, JetStream store (and
/// domain), TLS.
#[allow(clippy::too_many_arguments)]
fn write_server_header(
    conf: &mut String,
    mode: Mode,
    name: &str,
    url: &str,
    store_dir: &Path,
    tls: Option<&TlsFiles>,
    fsync_always: bool,
    domain: Option<&str>,
) -> Result<()> {
    let (mut host, port) = host_port(url)?;
    let mode = match mode {
        Mode::Shared => "shared",
        Mode::PerNation => {
            host = listen_host(&host);
            "per-nation"
        }
    };
    writeln!(conf, "# nats-server config generated by `tisa broker config --mode {mode}`.")?;
    writeln!(conf, "# Per-user permissions from the subject table in ARCHITECTURE.md. No secrets in this file.")?;
    writeln!(conf, "server_name: {}", quote(name))?;
    writeln!(conf, "host: {}\nport: {port}\n", quote(&host))?;
    writeln!(conf, "# JetStream: enabled per account below, with limits. Each node's users get the")?;
    writeln!(conf, "# exact $JS.API subjects of their own streams, no more. sync_interval: always fsyncs before")?;
    writeln!(conf, "# every acknowledgement (the only setting that survives a power failure).")?;
    let domain = domain.map(|d| format!("\n  domain: {d}")).unwrap_or_default();
    writeln!(
        conf,
        "jetstream {{\n  store_dir: {}\n  sync_interval: {}{domain}\n}}\n",
        quote(&store_dir.to_string_lossy()),
        if fsync_always { "always" } else { "2m" }
    )?;
    if let Some(t) = tls {
        writeln!(conf, "# Every client connection must use TLS.")?;
        writeln!(
            conf,
            "tls {{\n  cert_file: {}\n  key_file: {}\n  timeout: 2\n}}\n",
            quote(&t.cert.to_string_lossy()),
            quote(&t.key.to_string_lossy())
        )?;
    }
    Ok(())
}

fn endpoint_file(url: &str, seed_name: &str, inbox: String, tls: bool) -> EndpointFile {
    EndpointFile {
        url: client_url(url, tls),
        nkey_seed_file: Some(PathBuf::from(format!("{seed_name}.nk"))),
        inbox_prefix: Some(inbox),
        tls_ca_file: tls.then(|| PathBuf::from(CA_FILE)),
        replicas: None,
    }
}

fn write_config(out: &Path, party: Party, role: Role, file: &ConfigFile) -> Result<PathBuf> {
    let path = out.join(format!("{}-{}.toml", party.lower(), role.as_str()));
    let text = format!(
        "# tisa {} config for {} (generated by `tisa broker config`)\n{}",
        role.as_str(),
        party,
        toml::to_string(file)?
    );
    write_secret(&path, &text)?;
    Ok(path)
}

/// Writes `party`'s account (`KR { … }`): JetStream limits, its users
/// (`hub_links`: the hub's link users it holds), and the link services.
/// Each party keeps what it receives in its own account: the receiver's
/// stream listens on its inbound subjects, which the receiver exports as a
/// *service* to the account on the other side of its link (`peer(nation)`:
/// the other party's account, or a link account in per-nation mode), so
/// the sender's publish reaches the stream and the stream's
/// acknowledgement (and `Nats-Msg-Id` dedupe) reaches the sender. Only
/// US<->KR and US<->JP. Returns the users' endpoints.
#[allow(clippy::too_many_arguments)]
fn write_party_account(
    conf: &mut String,
    out: &Path,
    party: Party,
    hub_links: &[Party],
    limits: &JsLimits,
    url: &str,
    tls: bool,
    peer: impl Fn(Party) -> String,
) -> Result<Vec<(Role, Party, EndpointFile)>> {
    writeln!(conf, "  {} {{", party.code())?;
    write_js_limits(conf, limits)?;
    writeln!(conf, "    users = [")?;
    let mut eps = Vec::new();
    for (user, p, role) in account_users(party, hub_links) {
        write_user(conf, out, &user)?;
        eps.push((role, p, endpoint_file(url, &user.seed_name, subjects::inbox_prefix(p, role), tls)));
    }
    writeln!(conf, "    ]")?;
    let nations: &[Party] = if party.is_hub() { &Party::NATIONS } else { std::slice::from_ref(&party) };
    let (exported, imported) = if party.is_hub() { ("up", "down") } else { ("down", "up") };
    writeln!(conf, "    exports = [")?;
    for n in nations {
        writeln!(conf, "      {{ service: \"tisa.{}.{exported}.>\", accounts: [{}] }}", n.lower(), peer(*n))?;
    }
    writeln!(conf, "    ]\n    imports = [")?;
    for n in nations {
        writeln!(
            conf,
            "      {{ service: {{ account: {}, subject: \"tisa.{}.{imported}.>\" }} }}",
            peer(*n),
            n.lower()
        )?;
    }
    writeln!(conf, "    ]\n  }}")?;
    Ok(eps)
}

/// Writes `party`'s node config (control user as `[own]`, each link's
/// user as `[kr]`/`[jp]`) and CLI config from its users' endpoints
/// (`(role, party or nation, endpoint)`).
fn write_party_configs(
    out: &Path,
    party: Party,
    eps: &[(Role, Party, EndpointFile)],
) -> Result<Vec<(Party, Role, PathBuf)>> {
    let find = |role: Role, p: Party| {
        eps.iter()
            .find(|(r, q, _)| *r == role && *q == p)
            .map(|(_, _, e)| e.clone())
            .with_context(|| format!("no {} user for {p}", role.as_str()))
    };
    let link = |nation: Party| -> Result<Option<EndpointFile>> {
        if party.is_hub() {
            find(Role::Link, nation).map(Some)
        } else if party == nation {
            find(Role::NationLink, nation).map(Some)
        } else {
            Ok(None)
        }
    };
    let node_file = ConfigFile {
        party: party.lower().to_owned(),
        own: find(Role::Node, party)?,
        kr: link(Party::Kr)?,
        jp: link(Party::Jp)?,
        key_file: None,
    };
    let cli_file = ConfigFile {
        party: party.lower().to_owned(),
        own: find(Role::Cli, party)?,
        kr: None,
        jp: None,
        key_file: None,
    };
    Ok(vec![
        (party, Role::Node, write_config(out, party, Role::Node, &node_file)?),
        (party, Role::Cli, write_config(out, party, Role::Cli, &cli_file)?),
    ])
}

/// Writes the shared-mode deployment (default limits, no TLS) into `out`.
/// See [`generate_with`].
pub fn generate(out: &Path, url: &str) -> Result<Generated> {
    generate_with(out, &Options::shared(url))
}

/// Writes a deployment into `out`: the nats-server config(s) (`nats-server.conf`,
/// or `nats-kr.conf`, `nats-us.conf`, `nats-jp.conf`), per party and role
/// `<p>-<role>.toml` plus the nkey seeds (`*.nk`, mode 0600), and with TLS
/// `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem` (keys mode 0600).
pub fn generate_with(out: &Path, opts: &Options) -> Result<Generated> {
    parse_size(&opts.limits.max_mem).map_err(anyhow::Error::msg)?;
    parse_size(&opts.limits.max_file).map_err(anyhow::Error::msg)?;
    if opts.cluster != 1 && opts.mode != Mode::PerNation {
        bail!("--cluster needs --mode per-nation (each nation's broker becomes a cluster)");
    }
    tisa_fs::private_dir(out).with_context(|| format!("cannot create {}", out.display()))?;
    let abs_out = std::fs::canonicalize(out).with_context(|| format!("cannot resolve {}", out.display()))?;
    let tls = if opts.tls { Some(generate_tls(&abs_out, &tls_names(opts))?) } else { None };
    let store_base = match &opts.store_dir {
        Some(d) => absolute(d)?,
        None => abs_out.join("jetstream"),
    };
    let g = match opts.mode {
        Mode::Shared => generate_shared(out, opts, &store_base, tls.as_ref())?,
        Mode::PerNation => per_nation::generate(out, opts, &store_base, tls.as_ref())?,
    };
    Ok(Generated { tls_ca: tls.map(|t| t.ca), ..g })
}

fn generate_shared(out: &Path, opts: &Options, store_dir: &Path, tls: Option<&TlsFiles>) -> Result<Generated> {
    let url = &opts.url;
    let mut conf = String::new();
    write_server_header(&mut conf, Mode::Shared, "tisa", url, store_dir, tls, opts.fsync_always, None)?;
    writeln!(conf, "# Three accounts; exports/imports only for the US-KR and US-JP links.")?;
    writeln!(conf, "accounts {{")?;
    let mut configs = Vec::new();
    for party in Party::ALL {
        let hub_links: &[Party] = if party.is_hub() { &Party::NATIONS } else { &[] };
        let eps =
            write_party_account(&mut conf, out, party, hub_links, &opts.limits, url, tls.is_some(), |n: Party| {
                if party.is_hub() { n.code() } else { Party::HUB.code() }.to_owned()
            })?;
        configs.extend(write_party_configs(out, party, &eps)?);
    }
    writeln!(conf, "}}")?;
    let server_conf = out.join("nats-server.conf");
    std::fs::write(&server_conf, conf).with_context(|| format!("cannot write {}", server_conf.display()))?;
    if configs.is_empty() {
        bail!("nothing generated");
    }
    Ok(Generated { servers: vec![(None, server_conf.clone())], server_conf, configs, tls_ca: None })
}

/// The names the server certificate is valid for: [`TLS_NAMES`] and the
/// host of every server URL given (a cluster's `nats-kr-1`, …).
fn tls_names(opts: &Options) -> Vec<String> {
    let mut names: Vec<String> = TLS_NAMES.iter().map(|s| s.to_string()).collect();
    for list in [&opts.url, &opts.kr_url, &opts.us_url, &opts.jp_url, &opts.us_leaf_url] {
        for u in list.split(',') {
            if let Ok((host, _)) = host_port(u.trim()) {
                if !names.contains(&host) {
                    names.push(host);
                }
            }
        }
    }
    names
}

/// The CA certificate's file name in the output directory (node/CLI configs
/// refer to it relative to themselves).
pub const CA_FILE: &str = "ca.pem";

/// Where `generate_tls` wrote the TLS material.
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Generates a CA (`ca.pem`, `ca-key.pem`) and a server certificate signed
/// by it (`server.pem`, `server-key.pem`) for `names`. Keys mode 0600.
fn generate_tls(out: &Path, names: &[String]) -> Result<TlsFiles> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let tls_err = |e: rcgen::Error| anyhow::anyhow!("certificate generation failed: {e}");
    // Validity: from the start of last year (no clock-skew surprises) for 10
    // years (CA) and 5 years (server).
    let year = 1970
        + (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
            / 31_556_952) as i32;
    let not_before = rcgen::date_time_ymd(year - 1, 1, 1);

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::OrganizationName, "tisa deployment");
    ca_params.distinguished_name.push(DnType::CommonName, "tisa broker CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.not_before = not_before;
    ca_params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    let ca_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(names.to_vec()).map_err(tls_err)?;
    params.distinguished_name.push(DnType::OrganizationName, "tisa deployment");
    params.distinguished_name.push(DnType::CommonName, "tisa nats-server");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;

    let files = TlsFiles { ca: out.join(CA_FILE), cert: out.join("server.pem"), key: out.join("server-key.pem") };
    std::fs::write(&files.ca, ca_pem).with_context(|| format!("cannot write {}", files.ca.display()))?;
    write_secret(&out.join("ca-key.pem"), &ca_key_pem)?;
    std::fs::write(&files.cert, cert.pem()).with_context(|| format!("cannot write {}", files.cert.display()))?;
    write_secret(&files.key, &key.serialize_pem())?;
    Ok(files)
}
