//! # tisa-cli
//!
//! The `tisa` command line: the clap definitions and the dispatch, and the
//! commands that print. `tisa node` runs a party's node; `submit`,
//! `pending`, `approve`, `deny`, `retract`, `inbox`, `watch`, `tracks`, `held`,
//! `status`, `health`, `standing` and `deadletter list` talk to the
//! operator's own node over its private control subjects; `demo` starts a
//! broker and three nodes and plays the arrangement end to end.
//!
//! - `ops`: the operator commands' options; `commands`: what they print (text/JSON).
//! - `review`: what an approver reads and signs: `show`, `pending [--full]`, `approve`, `deny`.
//! - `node`: `tisa node`'s options and running the node.
//! - `deploy`: `tisa keys|agreement|broker` (the files are `tisa_deploy`'s).
//! - `demo`: the scripted scenario (on `tisa_kit`'s cluster).
//! - `audit`: `tisa audit show|verify|export`, reading a node's hash-chained audit log.
//! - [`probe`]: `tisa probe URL`, whether a NATS server is reachable from here (name, TCP, `INFO`).
//! - `logging`: tracing set-up (stderr, never report content).
//! - `output`: a closed stdout (`tisa inbox | head -1`) ends any command quietly, never in a panic.
//!
//! Elsewhere: `tisa feed …` is `tisa_feeds`, `tisa bench` is `tisa_bench`,
//! `tisa export` and `tisa taxii` are `tisa_stix`;
//! both keep their options with them.

mod audit;
mod bundle;
mod commands;
mod demo;
mod deploy;
mod held;
mod logging;
mod node;
mod notify;
mod ops;
mod output;
pub mod probe;
mod review;
mod roster;
mod standing;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tisa_core::Decision;
use tisa_deploy::parse_duration;
use tisa_kit::Common;

use deploy::{AgreementCommand, BrokerCommand, KeysCommand};
use node::NodeArgs;
use ops::{
    ApproveArgs, DeadletterCommand, DenyArgs, ListArgs, RetractArgs, StandingCommand, StatusArgs, SubmitArgs, WatchArgs,
};

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
    /// List release requests awaiting your party's decision (`--full`: each with the whole report).
    Pending(PendingArgs),
    /// Show a release request awaiting your decision with the whole report it would release
    /// (title, body, tearline, source, submitter, markings, revision), or a report you received.
    Show(ShowArgs),
    /// Approve a release request (in full, or the tearline only).
    Approve(ApproveArgs),
    /// Deny a release request, for good.
    Deny(DenyArgs),
    /// Retract one of your reports (every revision): holders see it marked retracted.
    /// Needs no approval; open release requests for it are withdrawn. Final.
    Retract(RetractArgs),
    /// List reports your party has received, oldest first, or filtered and newest first
    /// (`--format stix`: the whole inbox as a STIX 2.1 bundle).
    Inbox(InboxArgs),
    /// Stream what arrives and what happens to your party's reports (and each live track
    /// update as it comes; the committed path's track windows are in `tisa audit`).
    Watch(WatchArgs),
    /// Run a command or post to a local webhook on what you must act on: a release request, one
    /// about to expire, a denial, an expiry, a retraction (ids and markings, never content).
    Notify(notify::NotifyArgs),
    /// Live missile-warning tracks your node knows: the latest update of each.
    Tracks(ListArgs),
    /// Deliveries and track updates under another party's standing grant that your node holds
    /// because no fresh statement that the grant still stands came with them (ids only). The next
    /// fresh statement releases them; a revocation refuses them. Nothing held is lost.
    Held(ListArgs),
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
    Bench(tisa_bench::BenchArgs),
    /// Broker deployment: generate a nats-server config that enforces the topology.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// The agreement (versioned policy): validate a file, or show the effective policy.
    #[command(subcommand)]
    Agreement(AgreementCommand),
    /// Signing keys: generate a node or operator (approver) key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Your party's operator roster: sign a new version, or show and verify one.
    #[command(subcommand)]
    Roster(roster::RosterCommand),
    /// Standing pre-approvals: grant, co-sign, revoke, list (signed by your approver key).
    #[command(subcommand)]
    Standing(StandingCommand),
    /// Feeds: plug real sources (USGS, CNS CSV, JSON Lines, webhook, STIX, TAXII) into your own node.
    #[command(subcommand)]
    Feed(tisa_feeds::FeedCommand),
    /// Export what your party holds as a STIX 2.1 bundle (TLP 2.0, ACS 3.0 markings).
    #[command(long_about = tisa_stix::cli::EXPORT_HELP)]
    Export(tisa_stix::cli::ExportArgs),
    /// Serve what your party holds as a read-only TAXII 2.1 collection (MISP, OpenCTI, …).
    #[command(long_about = tisa_stix::cli::TAXII_HELP)]
    Taxii(tisa_stix::cli::TaxiiArgs),
    /// Serve your operator console in a browser (loopback): read each release request's whole report and sign the decision.
    Console(tisa_console::cli::ConsoleArgs),
    /// The node's audit log (hash-chained, signed heads): show, verify, export for an auditor.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Off-line passage: export the messages waiting for a peer as a signed file, import one.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
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
struct InboxArgs {
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    filter: ops::InboxFilterArgs,
    /// `stix`: print the inbox as a STIX 2.1 bundle (like `tisa export --format stix`): all of it,
    /// or what came since `--since`. The other filters and paging are refused with it, never ignored.
    #[arg(long, value_enum, conflicts_with_all = ["originator", "category", "classification", "newest_first", "after", "limit"])]
    format: Option<tisa_stix::cli::Format>,
}

#[derive(Args, Debug)]
struct PendingArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Each request with the whole report: body, tearline, source and who submitted it.
    #[arg(long)]
    full: bool,
}

#[derive(Args, Debug)]
struct ShowArgs {
    #[command(flatten)]
    common: tisa_kit::Common,
    /// A release request's id (see `tisa pending`), or a report's id (your inbox, or your own
    /// report's open requests).
    id: String,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Leave the broker and the three nodes running after the scenario (Ctrl-C stops them).
    #[arg(long)]
    keep_running: bool,
}

/// The async runtime's worker threads: two (a node's actor and its
/// connections; measured no slower than more on a 2-core machine), or
/// `TOKIO_WORKER_THREADS` when set (for measuring, e.g. `tisa bench
/// --ab-env TOKIO_WORKER_THREADS=1`). Read here rather than by tokio, which
/// would panic on a value that is not a number.
fn worker_threads(var: Option<&str>) -> Result<usize, String> {
    match var {
        None | Some("") => Ok(2),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS={} is not a number of threads from 1 to 64; unset it for the default (2)",
                tisa_core::text::loggable(v)
            )),
        },
    }
}

/// Entry point of the `tisa` binary.
pub fn main() -> ExitCode {
    // `tisa … | head -1`: a reader that stopped reading ends us quietly.
    output::install_panic_hook();
    let json = output::json_requested();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if json && e.use_stderr() {
                commands::print_json(&output::usage_json(&e));
            }
            e.exit()
        }
    };
    // Long-running services (the node, feeds) log at info by default.
    let is_node = matches!(cli.command, Command::Node(_) | Command::Feed(_) | Command::Taxii(_) | Command::Console(_));
    logging::init_tracing(if is_node { "info" } else { "warn" });
    let threads = match worker_threads(std::env::var("TOKIO_WORKER_THREADS").ok().as_deref()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build() {
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
            if json {
                commands::print_json(&output::error_json(&e));
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Node(a) => node::run(a).await,
        Command::Submit(a) => ops::submit(a).await,
        Command::Pending(PendingArgs { list: a, full }) => {
            review::pending(&a.common.resolve()?, a.after, a.limit, full).await
        }
        Command::Show(a) => review::show(&a.common.resolve()?, &a.id).await,
        Command::Approve(a) => {
            let decision = if a.tearline_only { Decision::ApproveTearline } else { Decision::ApproveFull };
            review::decide(&a.common.resolve()?, &a.request_id, decision).await
        }
        Command::Deny(a) => {
            review::decide(&a.common.resolve()?, &a.request_id, Decision::Deny { reason: a.reason }).await
        }
        Command::Retract(a) => commands::retract(&a.common.resolve()?, &a.report_id, a.reason).await,
        Command::Inbox(InboxArgs { list: a, filter, format: Some(tisa_stix::cli::Format::Stix) }) => {
            tisa_stix::cli::write_bundle(&a.common.resolve()?, filter.filter().since, None).await
        }
        Command::Inbox(InboxArgs { list: a, filter, format: None }) => {
            commands::inbox(&a.common.resolve()?, a.after, a.limit, filter.filter()).await
        }
        Command::Watch(a) => commands::watch(&a.common.resolve()?, a.count).await,
        Command::Notify(a) => notify::notify(a).await,
        Command::Tracks(a) => commands::tracks(&a.common.resolve()?, a.after, a.limit).await,
        Command::Held(a) => held::held(&a.common.resolve()?, a.after, a.limit).await,
        Command::Status(a) => commands::status(&a.common.resolve()?, a.report_id, a.after, a.limit).await,
        Command::Health(c) => commands::health(&c.resolve()?).await,
        Command::Deadletter(DeadletterCommand::List { common, limit }) => {
            commands::dead_letters(&common.resolve()?, limit).await
        }
        Command::Probe(a) => probe::run(&a.url, a.timeout, a.json).await,
        Command::Demo(a) => demo::run(a.keep_running).await,
        Command::Bench(a) => tisa_bench::run(a).await,
        Command::Feed(f) => tisa_feeds::run(f).await,
        Command::Audit(c) => audit::run(c),
        Command::Bundle(c) => bundle::run(c).await,
        Command::Export(a) => tisa_stix::cli::export(a).await,
        Command::Taxii(a) => tisa_stix::cli::taxii(a).await,
        Command::Console(a) => tisa_console::cli::console(a).await,
        Command::Standing(c) => ops::standing(c).await,
        Command::Keys(c) => deploy::run_keys(c),
        Command::Roster(c) => roster::run(c),
        Command::Agreement(c) => deploy::run_agreement(c),
        Command::Broker(c) => deploy::run_broker(c),
    }
}

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn an_inbox_as_stix_refuses_the_filters_it_cannot_apply() {
        use clap::Parser;
        let parse = |args: &[&str]| super::Cli::try_parse_from([&["tisa", "inbox", "--party", "jp"], args].concat());
        for refused in [
            &["--from", "kr"][..],
            &["--category", "nuclear"],
            &["--classification", "secret"],
            &["--newest-first"],
            &["--after", "KR-1.r1"],
            &["--limit", "5"],
        ] {
            let e =
                parse(&[&["--format", "stix"], refused].concat()).err().unwrap_or_else(|| panic!("{refused:?} taken"));
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{refused:?}: {e}");
            // Control: the same filter without `--format stix` is taken.
            assert!(parse(refused).is_ok(), "{refused:?}");
        }
        assert!(parse(&["--format", "stix", "--since", "24h"]).is_ok());
        assert!(parse(&["--format", "stix"]).is_ok(), "the default --limit is no conflict");
    }

    #[test]
    fn worker_threads_default_to_two_and_a_bad_setting_is_one_line_not_a_panic() {
        assert_eq!(worker_threads(None), Ok(2));
        assert_eq!(worker_threads(Some("")), Ok(2));
        assert_eq!(worker_threads(Some("1")), Ok(1));
        assert_eq!(worker_threads(Some(" 4 ")), Ok(4));
        for bad in ["0", "65", "two", "-1", "1\n2"] {
            let e = worker_threads(Some(bad)).unwrap_err();
            assert!(e.starts_with("TOKIO_WORKER_THREADS=") && !e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
