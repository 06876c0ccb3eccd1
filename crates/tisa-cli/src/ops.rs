//! The operator commands' options (clap) and the dispatch of those that need
//! more than one line; what they print is in `commands`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use tisa_core::{Category, Classification, Party, PartySet};
use tisa_deploy::parse_duration;
use tisa_kit::Common;

use crate::commands;

#[derive(Subcommand, Debug)]
pub(crate) enum DeadletterCommand {
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
pub(crate) enum StandingCommand {
    /// Pre-approve releases of your reports of these categories, up to a classification, to a recipient.
    /// Under the agreement's two-person rule this only proposes the grant: it takes effect once a
    /// second approver co-signs it (`tisa standing cosign GRANT_ID` with their own key).
    Grant(GrantArgs),
    /// Co-sign a grant another approver proposed (two-person rule), with your own approver key:
    /// the grant then takes effect and goes to the hub with both signatures.
    Cosign {
        #[command(flatten)]
        common: Common,
        /// The proposed grant's id (see `tisa standing list`: PROPOSED).
        grant_id: String,
    },
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
pub(crate) struct GrantArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// The recipient (the other nation).
    #[arg(long)]
    pub(crate) to: Party,
    /// Categories covered, e.g. missile or missile,nuclear.
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) category: Vec<Category>,
    /// Highest classification covered.
    #[arg(long)]
    pub(crate) max_classification: Classification,
    /// Release only the tearline (reports without one are not covered).
    #[arg(long)]
    pub(crate) tearline_only: bool,
    /// Lapse after this long (e.g. 30d); default: until revoked.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) expires_in: Option<Duration>,
}

#[derive(Args, Debug)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// nuclear|missile|other (NK_NUCLEAR, NK_MISSILE, OTHER).
    #[arg(long)]
    pub(crate) category: Category,
    /// unclassified|confidential|secret|top_secret.
    #[arg(long)]
    pub(crate) classification: Classification,
    /// Parties it may ever reach, e.g. USA,JPN (a limit, never consent).
    #[arg(long = "rel-to")]
    pub(crate) rel_to: PartySet,
    /// Title.
    #[arg(long)]
    pub(crate) title: String,
    /// Body text (or use --body-file).
    #[arg(long, conflicts_with = "body_file", required_unless_present = "body_file")]
    pub(crate) body: Option<String>,
    /// Read the body from a file (`-` for stdin).
    #[arg(long)]
    pub(crate) body_file: Option<std::path::PathBuf>,
    /// Sanitised text that may be released on its own.
    #[arg(long)]
    pub(crate) tearline: Option<String>,
    /// Source description (protected like the body).
    #[arg(long, default_value = "")]
    pub(crate) source: String,
    /// Issue a new revision of this report of yours (needs its own approval).
    #[arg(long)]
    pub(crate) corrects: Option<String>,
    /// Idempotency key from the source (e.g. usgs:us7000abcd): the same key with the
    /// same content submits nothing; with new content it becomes a new revision.
    #[arg(long)]
    pub(crate) source_key: Option<String>,
    /// Pass it off-line only (`tisa bundle export`), e.g. above the link's ceiling: checked
    /// against the agreement's off-line ceiling; its release request opens at once for an
    /// approver (`tisa pending`, `tisa approve`); no standing grant applies.
    #[arg(long)]
    pub(crate) offline: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// At most this many items (1–1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue after this cursor (the previous page's `next_after`).
    #[arg(long)]
    pub(crate) after: Option<String>,
}

/// `tisa inbox`'s filters and order.
#[derive(Args, Debug)]
pub(crate) struct InboxFilterArgs {
    /// Only reports received since this time: RFC 3339 (2024-05-27T09:00:00+09:00) or that long
    /// ago (24h, 7d, 1h30m).
    #[arg(long, value_parser = parse_since)]
    since: Option<tisa_core::Timestamp>,
    /// Only reports of this originator: kr|us|jp.
    #[arg(long = "from")]
    originator: Option<Party>,
    /// Only reports of this category: nuclear|missile|other.
    #[arg(long)]
    category: Option<Category>,
    /// Only reports of this classification.
    #[arg(long)]
    classification: Option<Classification>,
    /// Newest first (default: oldest first, in arrival order).
    #[arg(long)]
    newest_first: bool,
}

impl InboxFilterArgs {
    pub(crate) fn filter(&self) -> tisa_core::InboxFilter {
        tisa_core::InboxFilter {
            since: self.since,
            originator: self.originator,
            category: self.category,
            classification: self.classification,
            newest_first: self.newest_first,
        }
    }
}

/// An RFC 3339 time, or a duration meaning that long ago.
fn parse_since(s: &str) -> Result<tisa_core::Timestamp, String> {
    if let Ok(t) = tisa_deploy::chain::parse_time(s) {
        return Ok(t);
    }
    let ago = parse_duration(s).map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a duration (24h, 7d)"))?;
    let now = tisa_node::clock::now();
    Ok(tisa_core::Timestamp(now.as_millis().saturating_sub(u64::try_from(ago.as_millis()).unwrap_or(u64::MAX))))
}

#[derive(Args, Debug)]
pub(crate) struct ApproveArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// The release request's id (see `tisa pending`).
    pub(crate) request_id: String,
    /// Release only the tearline text, never the body.
    #[arg(long)]
    pub(crate) tearline_only: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DenyArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// The release request's id (see `tisa pending`).
    pub(crate) request_id: String,
    /// Why (kept with the decision; operational text, not report content).
    #[arg(long)]
    pub(crate) reason: String,
}

#[derive(Args, Debug)]
pub(crate) struct RetractArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// The report's id (see `tisa status`).
    pub(crate) report_id: String,
    /// Why (shown to every party that holds it; never logged).
    #[arg(long)]
    pub(crate) reason: String,
}

#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Exit after this many events.
    #[arg(long)]
    pub(crate) count: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Only this report (all its revisions).
    pub(crate) report_id: Option<String>,
    /// At most this many items (1–1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue after this cursor (the previous page's `next_after`).
    #[arg(long)]
    pub(crate) after: Option<String>,
}

/// `tisa submit`: the body from `--body`, `--body-file FILE` or stdin (`-`).
pub(crate) async fn submit(a: SubmitArgs) -> Result<ExitCode> {
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
            offline: a.offline,
        },
    )
    .await
}

/// `tisa standing grant|revoke|list`.
pub(crate) async fn standing(cmd: StandingCommand) -> Result<ExitCode> {
    match cmd {
        StandingCommand::Grant(g) => {
            crate::standing::standing_grant(
                &g.common.resolve()?,
                crate::standing::GrantInput {
                    to: g.to,
                    categories: g.category,
                    max: g.max_classification,
                    tearline_only: g.tearline_only,
                    expires_in: g.expires_in,
                },
            )
            .await
        }
        StandingCommand::Revoke { common, grant_id } => {
            crate::standing::standing_revoke(&common.resolve()?, &grant_id).await
        }
        StandingCommand::Cosign { common, grant_id } => {
            crate::standing::standing_cosign(&common.resolve()?, &grant_id).await
        }
        StandingCommand::List(common) => crate::standing::standing_list(&common.resolve()?).await,
    }
}
