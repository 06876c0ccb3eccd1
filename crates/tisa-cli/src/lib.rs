//! # tisa-cli
//!
//! The `tisa` command line: `tisa node` runs a party's node; `submit`,
//! `pending`, `approve`, `deny`, `inbox`, `watch`, `status`, `health` and
//! `deadletter list` talk
//! to the operator's own node over its private control subjects; `demo`
//! starts a broker and three nodes and plays the arrangement end to end.
//!
//! - [`natsd`]: finding/installing and running nats-server.
//! - [`cluster`]: running `tisa node` processes (demo and tests).
//! - `commands`: the operator commands and their text/JSON output.
//! - `demo`: the scripted scenario.
//! - `audit`: `tisa audit show|verify|export`, reading a node's hash-chained audit log.
//! - `feed`: `tisa feed usgs|cns-csv|jsonl|webhook`, sources submitting through the party's own node.
//! - `bench`: `tisa bench`, tisa against raw NATS in one run (ratios, not absolute figures).
//! - [`probe`]: `tisa probe URL`, whether a NATS server is reachable from here (name, TCP, `INFO`).

pub mod agreement;
mod audit;
mod bench;
pub mod broker;
pub mod cluster;
mod commands;
pub mod config;
mod demo;
mod feed;
pub mod keys;
pub mod natsd;
pub mod probe;
pub mod util;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tisa_core::{Category, Classification, Decision, Party, PartySet};

pub use commands::sign_and_decide;
pub use util::parse_duration;

/// Default NATS URL when neither `--nats` nor `TISA_NATS_URL` is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(Parser, Debug)]
#[command(
    name = "tisa",
    version,
    about = "Controlled trilateral intelligence sharing (KR, US, JP) over NATS",
    long_about = "tisa relays intelligence between South Korea, the United States and Japan under the rules of the \
2014 Trilateral Information Sharing Arrangement: KR and JP never talk directly; only North Korean nuclear and \
missile information travels trilaterally, through the US hub, and only after its originator approves each release.\n\n\
Run `tisa demo` to see it work end to end.",
    after_help = "Environment: TISA_NATS_URL (default for --nats), RUST_LOG (log filter), TISA_LOG_FORMAT=json, \
TISA_NATS_SERVER (nats-server binary for the demo)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a party's node (an actor owning the rules, talking NATS).
    Node(NodeArgs),
    /// Submit a report to your own node (prints its id).
    Submit(SubmitArgs),
    /// List release requests awaiting your party's decision.
    Pending(ListArgs),
    /// Approve a release request (in full, or the tearline only).
    Approve(ApproveArgs),
    /// Deny a release request, for good.
    Deny(DenyArgs),
    /// Retract one of your reports (every revision): holders see it marked retracted.
    /// Needs no approval; open release requests for it are withdrawn. Final.
    Retract(RetractArgs),
    /// List reports your party has received.
    Inbox(ListArgs),
    /// Stream what arrives and what happens to your party's reports.
    Watch(WatchArgs),
    /// Live missile-warning tracks your node knows: the latest update of each.
    Tracks(ListArgs),
    /// Show where your party's reports stand.
    Status(StatusArgs),
    /// Check that your node answers, with its counters. Exits 1 if a link is down or
    /// messages are stuck (the receiver's stream refuses them or is absent: see the printed reason).
    Health(Common),
    /// Messages your node could not take (malformed or unverifiable): reason and ids, never content.
    #[command(subcommand)]
    Deadletter(DeadletterCommand),
    /// Check that a NATS server is reachable from here: resolve, connect, read its INFO line.
    /// Exits 1 with the reason (name not resolvable, connection refused, timeout, …) if not.
    Probe(ProbeArgs),
    /// Start a broker and the three nodes, and play the arrangement end to end.
    Demo(DemoArgs),
    /// Measure what the guarantees cost: tisa against raw NATS, side by side, in one run.
    ///
    /// Starts its own nats-server (a plain one for the raw baselines, the generated secured
    /// deployment for tisa) and three `tisa node` processes, under `sync_interval: always` and/or
    /// lazy fsync, and prints per path msgs/s or latency percentiles, delivered and lost counts,
    /// and the tisa ÷ raw ratio. Only ratios within one run mean anything. Takes minutes at the
    /// default sizes (keep the machine otherwise idle); `--quick` is a smoke run of seconds.
    #[command(after_help = "Paths: raw/core_pubsub, raw/core_relay (naive KR→US→JP over core NATS), raw/js_publish \
(JetStream acked publish, 256 in flight), raw/nats_durable_relay (the same relay built from JetStream alone), \
raw/core_2hop_latency; tisa/standing_throughput, tisa/standing_latency, tisa/manual_latency, tisa/decision_call, \
tisa/track_latency. Plus node startup-to-ready and idle RSS, the KR node's RSS and decision time at \
--node-pending pending requests, and the core in-process at --scale sizes (one child process each).")]
    Bench(bench::BenchArgs),
    /// Broker deployment: generate a nats-server config that enforces the topology.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// The agreement (versioned policy): validate a file, or show the effective policy.
    #[command(subcommand)]
    Agreement(AgreementCommand),
    /// Signing keys: generate a node or operator (approver) key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Standing pre-approvals: grant, revoke, list (signed by your approver key).
    #[command(subcommand)]
    Standing(StandingCommand),
    /// Feeds: plug real sources (USGS, CNS CSV, JSON Lines, webhook) into your own node.
    #[command(subcommand)]
    Feed(feed::FeedCommand),
    /// The node's audit log (hash-chained, signed heads): show, verify, export for an auditor.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

#[derive(Subcommand, Debug)]
enum DeadletterCommand {
    /// List the most recent dead letters, newest first: when, subject, link, stream
    /// sequence, message id, size, class (MALFORMED or UNVERIFIABLE) and reason.
    List {
        #[command(flatten)]
        common: Common,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a key: the party's node key, or with --operator an approver key.
    /// Writes the key file (mode 0600) and prints the [[key]] entry for the agreement.
    Generate {
        /// Whose key: kr|us|jp.
        #[arg(long)]
        party: Party,
        /// An operator (approver) name; without it, the node's key.
        #[arg(long)]
        operator: Option<String>,
        /// Directory for the key file.
        #[arg(long, default_value = "tisa-keys")]
        out: std::path::PathBuf,
        /// Also append the [[key]] entry to this agreement file.
        #[arg(long)]
        append_to: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum StandingCommand {
    /// Pre-approve releases of your reports of these categories, up to a classification, to a recipient.
    Grant(GrantArgs),
    /// Revoke a standing grant (takes effect at the hub and at the recipient at once).
    Revoke {
        #[command(flatten)]
        common: Common,
        /// The grant's id (see `tisa standing list`).
        grant_id: String,
    },
    /// List the standing grants your node knows.
    List(Common),
}

#[derive(Args, Debug)]
struct GrantArgs {
    #[command(flatten)]
    common: Common,
    /// The recipient (the other nation).
    #[arg(long)]
    to: Party,
    /// Categories covered, e.g. missile or missile,nuclear.
    #[arg(long, value_delimiter = ',', required = true)]
    category: Vec<Category>,
    /// Highest classification covered.
    #[arg(long)]
    max_classification: Classification,
    /// Release only the tearline (reports without one are not covered).
    #[arg(long)]
    tearline_only: bool,
    /// Lapse after this long (e.g. 30d); default: until revoked.
    #[arg(long, value_parser = parse_duration)]
    expires_in: Option<Duration>,
}

#[derive(Subcommand, Debug)]
enum AgreementCommand {
    /// Validate an agreement file; errors name the line and column.
    Check {
        /// The agreement file (TOML).
        file: std::path::PathBuf,
    },
    /// Print the effective policy (the built-in 2014 agreement unless --agreement is given).
    Show {
        /// An agreement file instead of the built-in one.
        #[arg(long, env = "TISA_AGREEMENT")]
        agreement: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum BrokerCommand {
    /// Write nats-server.conf plus per-party node/CLI configs and nkey seeds (mode 0600).
    Config(BrokerConfigArgs),
}

#[derive(Args, Debug)]
struct BrokerConfigArgs {
    /// Output directory.
    #[arg(long, default_value = "tisa-broker")]
    out: std::path::PathBuf,
    /// Shared mode: URL the nodes and CLIs will use to reach the broker (host and port also go into the server config).
    #[arg(long, default_value = DEFAULT_NATS_URL)]
    url: String,
    /// Deployment mode: `shared` (one nats-server, three accounts) or `per-nation` (one nats-server per party).
    #[arg(long, default_value = "shared")]
    mode: broker::Mode,
    /// Per-nation mode: URL of KR's server (host and port also go into nats-kr.conf), e.g. nats://nats-kr:4222.
    #[arg(long, default_value = broker::DEFAULT_KR_URL)]
    kr_url: String,
    /// Per-nation mode: URL of US's server.
    #[arg(long, default_value = broker::DEFAULT_US_URL)]
    us_url: String,
    /// Per-nation mode: URL of JP's server.
    #[arg(long, default_value = broker::DEFAULT_JP_URL)]
    jp_url: String,
    /// JetStream storage directory [default: <out>/jetstream; per-nation mode appends -<nation>].
    #[arg(long)]
    store_dir: Option<std::path::PathBuf>,
    /// JetStream memory storage per account.
    #[arg(long, default_value = "64M", value_parser = broker::parse_size)]
    js_max_mem: String,
    /// JetStream file storage per account.
    #[arg(long, default_value = "1G", value_parser = broker::parse_size)]
    js_max_file: String,
    /// JetStream streams per account.
    #[arg(long, default_value_t = 16)]
    js_max_streams: u32,
    /// JetStream consumers per account.
    #[arg(long, default_value_t = 64)]
    js_max_consumers: u32,
    /// Generate a CA and a server certificate and require TLS of every client (tls:// URLs, tls_ca_file in the configs).
    #[arg(long)]
    tls: bool,
    /// Let JetStream acknowledge before it fsyncs (nats-server's default, every 2 minutes):
    /// faster, but acknowledged messages can be lost on a power failure or OS crash.
    #[arg(long)]
    lazy_fsync: bool,
}

/// Options shared by every operator command.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Your party: kr|us|jp (or KOR|USA|JPN); taken from --config if absent.
    #[arg(long, env = "TISA_PARTY")]
    pub party: Option<Party>,
    /// NATS URL of your party's broker [default: from --config, else nats://127.0.0.1:4222].
    #[arg(long, env = "TISA_NATS_URL")]
    pub nats: Option<String>,
    /// Your CLI config file (URL and credentials), e.g. tisa-broker/kr-cli.toml.
    #[arg(long, env = "TISA_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Your signing key (approver key file from `tisa keys generate --operator`): signs decisions and grants.
    #[arg(long, env = "TISA_KEY")]
    pub key: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the node's answer (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Args, Debug)]
#[command(after_help = "Fault testing: TISA_FAILPOINT=<step>:<what>[:<nth>] makes the node print \
`tisa: failpoint <step>:<what> hit` on stderr and abort the nth time (default 1) it reaches that step. \
Steps: before-commit, after-commit (an input written to the store; not yet applied nor acknowledged), \
before-send, after-send (a publish acknowledged by the receiver's stream; not yet recorded as sent). \
<what>: the envelope kind (report, request, decision, delivery, progress, rejection, grant, revocation, \
track, receipt); for the commit steps also ctl.submit, ctl.decide, ctl.grant, ctl.revoke, ctl.track, timeout. \
An unknown name stops the node at start.")]
struct NodeArgs {
    /// This node's party: kr|us|jp (or KOR|USA|JPN); taken from --config if absent.
    #[arg(long, env = "TISA_PARTY")]
    party: Option<Party>,
    /// Node config file (per link: URL and credentials), e.g. tisa-broker/kr-node.toml.
    #[arg(long, env = "TISA_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The node's signing key (`tisa keys generate --party P`), registered in the agreement.
    #[arg(long, env = "TISA_NODE_KEY")]
    key: Option<std::path::PathBuf>,
    /// Where the node keeps its state (an fsync'd input log, replayed on start) [default: tisa-data/<party>].
    #[arg(long, env = "TISA_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// NATS URL of this party's own broker (control subjects; the link for KR/JP); overrides the config's URLs [default: nats://127.0.0.1:4222].
    #[arg(long, env = "TISA_NATS_URL")]
    nats: Option<String>,
    /// US only: NATS URL of the US–KR link (default: --nats).
    #[arg(long)]
    kr_nats: Option<String>,
    /// US only: NATS URL of the US–JP link (default: --nats).
    #[arg(long)]
    jp_nats: Option<String>,
    /// The agreement file (versioned policy) [default: the built-in 2014 agreement].
    #[arg(long, env = "TISA_AGREEMENT")]
    agreement: Option<std::path::PathBuf>,
    /// Override: highest classification on both links.
    #[arg(long)]
    ceiling: Option<Classification>,
    /// Highest classification on the US–KR link (overrides --ceiling).
    #[arg(long)]
    kr_ceiling: Option<Classification>,
    /// Highest classification on the US–JP link (overrides --ceiling).
    #[arg(long)]
    jp_ceiling: Option<Classification>,
    /// Override: how long a release request stays open before it counts as denied.
    #[arg(long, value_parser = parse_duration)]
    request_expiry: Option<Duration>,
    /// How often to reconcile with every peer end to end even when no link came back
    /// (re-send what the peer may not hold; links that come back reconcile at once).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    reconcile_every: Duration,
}

#[derive(Args, Debug)]
struct SubmitArgs {
    #[command(flatten)]
    common: Common,
    /// nuclear|missile|other (NK_NUCLEAR, NK_MISSILE, OTHER).
    #[arg(long)]
    category: Category,
    /// unclassified|confidential|secret|top_secret.
    #[arg(long)]
    classification: Classification,
    /// Parties it may ever reach, e.g. USA,JPN (a limit, never consent).
    #[arg(long = "rel-to")]
    rel_to: PartySet,
    /// Title.
    #[arg(long)]
    title: String,
    /// Body text (or use --body-file).
    #[arg(long, conflicts_with = "body_file", required_unless_present = "body_file")]
    body: Option<String>,
    /// Read the body from a file (`-` for stdin).
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Sanitised text that may be released on its own.
    #[arg(long)]
    tearline: Option<String>,
    /// Source description (protected like the body).
    #[arg(long, default_value = "")]
    source: String,
    /// Issue a new revision of this report of yours (needs its own approval).
    #[arg(long)]
    corrects: Option<String>,
    /// Idempotency key from the source (e.g. usgs:us7000abcd): the same key with the
    /// same content submits nothing; with new content it becomes a new revision.
    #[arg(long)]
    source_key: Option<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
    /// At most this many items (1–1000).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Continue after this cursor (the previous page's `next_after`).
    #[arg(long)]
    after: Option<String>,
}

#[derive(Args, Debug)]
struct ApproveArgs {
    #[command(flatten)]
    common: Common,
    /// The release request's id (see `tisa pending`).
    request_id: String,
    /// Release only the tearline text, never the body.
    #[arg(long)]
    tearline_only: bool,
}

#[derive(Args, Debug)]
struct DenyArgs {
    #[command(flatten)]
    common: Common,
    /// The release request's id (see `tisa pending`).
    request_id: String,
    /// Why (kept with the decision; operational text, not report content).
    #[arg(long)]
    reason: String,
}

#[derive(Args, Debug)]
struct RetractArgs {
    #[command(flatten)]
    common: Common,
    /// The report's id (see `tisa status`).
    report_id: String,
    /// Why (shown to every party that holds it; never logged).
    #[arg(long)]
    reason: String,
}

#[derive(Args, Debug)]
struct WatchArgs {
    #[command(flatten)]
    common: Common,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<usize>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    common: Common,
    /// Only this report (all its revisions).
    report_id: Option<String>,
    /// At most this many items (1–1000).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Continue after this cursor (the previous page's `next_after`).
    #[arg(long)]
    after: Option<String>,
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// The server, e.g. nats://nats-kr:4222 (port 4222 if absent).
    url: String,
    /// Give up after this long (resolution, connection and INFO together).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print JSON (also when unreachable).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Leave the broker and the three nodes running after the scenario (Ctrl-C stops them).
    #[arg(long)]
    keep_running: bool,
}

/// Entry point of the `tisa` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running services (the node, feeds) log at info by default.
    let is_node = matches!(cli.command, Command::Node(_) | Command::Feed(_));
    util::init_tracing(if is_node { "info" } else { "warn" });
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An operator command's resolved context.
pub struct Ctx {
    /// The party.
    pub party: Party,
    /// Its broker endpoint.
    pub ep: tisa_transport::Endpoint,
    /// JSON output?
    pub json: bool,
    /// Reply timeout.
    pub timeout: Duration,
    /// The operator's key file, if given.
    pub key: Option<std::path::PathBuf>,
}

impl Ctx {
    /// The operator's approver key (required for decisions and grants).
    pub fn approver(&self) -> anyhow::Result<keys::Key> {
        let path = self.key.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this needs your approver key: --key FILE (or TISA_KEY); create one with `tisa keys generate --party {} --operator NAME`",
                self.party.lower()
            )
        })?;
        let key = keys::load(path)?;
        if key.party != self.party || key.role != tisa_core::KeyRole::Approver {
            anyhow::bail!("{} is not an approver key of {}", path.display(), self.party);
        }
        Ok(key)
    }
}

impl Common {
    fn resolve(&self) -> anyhow::Result<Ctx> {
        let cfg = self.config.as_deref().map(config::load).transpose()?;
        let party = match (self.party, &cfg) {
            (Some(p), Some(c)) if p != c.party => {
                anyhow::bail!("--party {p} contradicts the config file's party {}", c.party)
            }
            (Some(p), _) => p,
            (None, Some(c)) => c.party,
            (None, None) => anyhow::bail!("which party? give --party kr|us|jp (or --config FILE)"),
        };
        let mut ep = cfg.map(|c| c.own).unwrap_or_else(|| tisa_transport::Endpoint::open(DEFAULT_NATS_URL));
        if let Some(url) = &self.nats {
            ep.url = url.clone();
        }
        Ok(Ctx { party, ep, json: self.json, timeout: self.timeout, key: self.key.clone() })
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Node(a) => run_node(a).await,
        Command::Submit(a) => {
            let body = match (&a.body, &a.body_file) {
                (Some(b), _) => b.clone(),
                (None, Some(p)) if p.as_os_str() == "-" => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                    s
                }
                (None, Some(p)) => {
                    std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?
                }
                (None, None) => String::new(),
            };
            commands::submit(
                &a.common.resolve()?,
                commands::SubmitInput {
                    category: a.category,
                    classification: a.classification,
                    rel_to: a.rel_to,
                    title: a.title,
                    body,
                    tearline: a.tearline,
                    source: a.source,
                    corrects: a.corrects,
                    source_key: a.source_key,
                },
            )
            .await
        }
        Command::Pending(a) => commands::pending(&a.common.resolve()?, a.after, a.limit).await,
        Command::Approve(a) => {
            let decision = if a.tearline_only { Decision::ApproveTearline } else { Decision::ApproveFull };
            commands::decide(&a.common.resolve()?, &a.request_id, decision).await
        }
        Command::Deny(a) => {
            commands::decide(&a.common.resolve()?, &a.request_id, Decision::Deny { reason: a.reason }).await
        }
        Command::Retract(a) => commands::retract(&a.common.resolve()?, &a.report_id, a.reason).await,
        Command::Inbox(a) => commands::inbox(&a.common.resolve()?, a.after, a.limit).await,
        Command::Watch(a) => commands::watch(&a.common.resolve()?, a.count).await,
        Command::Tracks(a) => commands::tracks(&a.common.resolve()?, a.after, a.limit).await,
        Command::Status(a) => commands::status(&a.common.resolve()?, a.report_id, a.after, a.limit).await,
        Command::Health(c) => commands::health(&c.resolve()?).await,
        Command::Deadletter(DeadletterCommand::List { common, limit }) => {
            commands::dead_letters(&common.resolve()?, limit).await
        }
        Command::Probe(a) => probe::run(&a.url, a.timeout, a.json).await,
        Command::Demo(a) => demo::run(a.keep_running).await,
        Command::Bench(a) => bench::run(a).await,
        Command::Feed(f) => feed::run(f).await,
        Command::Audit(c) => audit::run(c),
        Command::Keys(KeysCommand::Generate { party, operator, out, append_to }) => {
            let (path, entry) = keys::generate(party, operator.as_deref(), &out)?;
            if let Some(a) = &append_to {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(a)
                    .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", a.display()))?;
                f.write_all(entry.as_bytes())?;
                agreement::load(Some(a))?;
                eprintln!("appended the key to {}; bump its version and distribute it to every party", a.display());
            }
            eprintln!("wrote {} (secret, mode 0600); register its public key in the agreement:", path.display());
            print!("{entry}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Standing(StandingCommand::Grant(g)) => {
            commands::standing_grant(
                &g.common.resolve()?,
                commands::GrantInput {
                    to: g.to,
                    categories: g.category,
                    max: g.max_classification,
                    tearline_only: g.tearline_only,
                    expires_in: g.expires_in,
                },
            )
            .await
        }
        Command::Standing(StandingCommand::Revoke { common, grant_id }) => {
            commands::standing_revoke(&common.resolve()?, &grant_id).await
        }
        Command::Standing(StandingCommand::List(common)) => commands::standing_list(&common.resolve()?).await,
        Command::Agreement(AgreementCommand::Check { file }) => {
            let a = agreement::load(Some(&file))?;
            println!("{}: valid agreement version {} ({} keys)", file.display(), a.policy.version, a.policy.keys.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Agreement(AgreementCommand::Show { agreement: path, json }) => {
            let a = agreement::load(path.as_deref())?;
            let v = agreement::to_json(&a);
            if json {
                println!("{v}");
            } else {
                let p = &a.policy;
                println!("agreement version {}: {}", p.version, a.name);
                println!("hub:            USA (the only party on both links; no KOR-JPN link)");
                println!("scope:          {}", p.scope.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "));
                println!("USA-KOR link:   ceiling {}", p.kr_ceiling);
                println!("USA-JPN link:   ceiling {}", p.jp_ceiling);
                println!("request expiry: {}", util::human_duration(p.request_expiry));
                println!("two-person rule: {}", if p.two_person_rule { "yes" } else { "no" });
                println!("keys:           {}", p.keys.len());
                for k in &p.keys {
                    println!("  {} {} ({:?})", k.party, k.name, k.role);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Broker(BrokerCommand::Config(a)) => {
            let opts = broker::Options {
                mode: a.mode,
                url: a.url,
                kr_url: a.kr_url,
                us_url: a.us_url,
                jp_url: a.jp_url,
                store_dir: a.store_dir,
                limits: broker::JsLimits {
                    max_mem: a.js_max_mem,
                    max_file: a.js_max_file,
                    max_streams: a.js_max_streams,
                    max_consumers: a.js_max_consumers,
                },
                tls: a.tls,
                fsync_always: !a.lazy_fsync,
            };
            let g = broker::generate_with(&a.out, &opts)?;
            for (_, conf) in &g.servers {
                println!("wrote {}", conf.display());
            }
            for (p, role, path) in &g.configs {
                println!("wrote {} ({p} {})", path.display(), role.as_str());
            }
            if let Some(ca) = &g.tls_ca {
                println!("wrote {} (CA; server.pem, server-key.pem and ca-key.pem beside it)", ca.display());
            }
            for (p, conf) in &g.servers {
                let whose = p.map(|p| format!(" ({p})")).unwrap_or_default();
                println!("start the broker{whose}: nats-server -c {}", conf.display());
            }
            println!("start a node:     tisa node --config {}", a.out.join("kr-node.toml").display());
            println!("operator:         tisa pending --config {}", a.out.join("kr-cli.toml").display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_node(a: NodeArgs) -> anyhow::Result<ExitCode> {
    use tisa_node::{spawn, NodeConfig};
    use tisa_transport::LinkUrls;
    let cfg = a.config.as_deref().map(config::load).transpose()?;
    let party = match (a.party, &cfg) {
        (Some(p), Some(c)) if p != c.party => {
            anyhow::bail!("--party {p} contradicts the config file's party {}", c.party)
        }
        (Some(p), _) => p,
        (None, Some(c)) => c.party,
        (None, None) => anyhow::bail!("which party? give --party kr|us|jp (or --config FILE)"),
    };
    if party != Party::HUB && (a.kr_nats.is_some() || a.jp_nats.is_some()) {
        anyhow::bail!("--kr-nats/--jp-nats are for the US hub only; {party} has one link: use --nats");
    }
    let agreement = agreement::load(a.agreement.as_deref())?;
    let key_path = a.key.clone().or_else(|| cfg.as_ref().and_then(|c| c.key_file.clone())).ok_or_else(|| {
        anyhow::anyhow!(
            "no signing key: give --key FILE (create one with `tisa keys generate --party {}`)",
            party.lower()
        )
    })?;
    let key = keys::load(&key_path)?;
    let data_dir = a.data_dir.clone().unwrap_or_else(|| std::path::PathBuf::from("tisa-data").join(party.lower()));
    if key.party != party || key.role != tisa_core::KeyRole::Node {
        anyhow::bail!("{} is not a node key of {party}", key_path.display());
    }
    let mut policy = agreement.policy;
    if let Some(c) = a.ceiling {
        policy.kr_ceiling = c;
        policy.jp_ceiling = c;
    }
    if let Some(c) = a.kr_ceiling {
        policy.kr_ceiling = c;
    }
    if let Some(c) = a.jp_ceiling {
        policy.jp_ceiling = c;
    }
    if let Some(e) = a.request_expiry {
        policy.request_expiry = e;
    }
    tracing::info!(
        agreement_version = policy.version,
        kr_ceiling = %policy.kr_ceiling,
        jp_ceiling = %policy.jp_ceiling,
        request_expiry_s = policy.request_expiry.as_secs(),
        "policy in force"
    );
    use tisa_transport::Endpoint;
    let mut own = cfg.as_ref().map(|c| c.own.clone()).unwrap_or_else(|| Endpoint::open(DEFAULT_NATS_URL));
    let mut kr = cfg.as_ref().and_then(|c| c.kr.clone()).unwrap_or_else(|| own.clone());
    let mut jp = cfg.as_ref().and_then(|c| c.jp.clone()).unwrap_or_else(|| own.clone());
    if let Some(url) = &a.nats {
        own.url = url.clone();
        kr.url = url.clone();
        jp.url = url.clone();
    }
    if let Some(url) = a.kr_nats {
        kr.url = url;
    }
    if let Some(url) = a.jp_nats {
        jp.url = url;
    }
    let urls = LinkUrls { own, kr, jp };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = spawn(
        NodeConfig { party, urls, policy, identity: key.identity, data_dir, reconcile_every: a.reconcile_every },
        shutdown.clone(),
        Some(ready_tx),
    );
    tokio::spawn(async move {
        if ready_rx.await.is_ok() {
            // The one machine-readable line on stdout; logs go to stderr.
            println!("{} party={}", cluster::READY_LINE, party.code());
        }
    });
    let signals = util::shutdown_signal();
    tokio::pin!(task);
    tokio::select! {
        r = &mut task => {
            r??;
            return Ok(ExitCode::SUCCESS);
        }
        s = signals => tracing::info!(signal = s, "shutting down"),
    }
    shutdown.cancel();
    task.await??;
    Ok(ExitCode::SUCCESS)
}
