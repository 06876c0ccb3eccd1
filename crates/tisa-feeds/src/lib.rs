//! # tisa-feeds
//!
//! `tisa feed …`: real sources plugged into **your own** party's node.
//!
//! Every feed turns what it reads into ordinary report drafts and submits
//! them through the node's control `submit` path (`tisa_transport::ControlRequest::Submit`,
//! exactly like `tisa submit`), so scope, signatures, approvals and audit all
//! apply: a feed never talks to the other parties and never bypasses its
//! node. Each draft carries an idempotency key (`ReportDraft.source_key`:
//! `usgs:<event>`, `cns:<F1>`, `jsonl:<id>`, `webhook:<id>`); the node
//! answers `duplicate` for the same key with the same content (nothing is
//! sent) and makes a new revision of the same report when the content
//! changed. So running a feed twice, or re-importing a file, is harmless.
//!
//! - [`usgs`]: USGS earthquake GeoJSON → NK_NUCLEAR reports near test sites.
//! - [`cns`]: the CNS North Korea Missile Test Database (CSV) → NK_MISSILE.
//! - [`jsonl`]: JSON Lines, one report object a line (file, stdin, `--follow`).
//! - [`webhook`]: the same JSON object by HTTP POST, with a bearer token.
//! - [`stix`]: STIX 2.1 bundles (`feed stix`) and TAXII 2.1 collections
//!   (`feed taxii`) from a national tool (`tisa_stix::import`).
//! - [`tracks`]: live missile-warning track updates (JSON Lines) through the
//!   node's `track` path (not reports: forwarded only under a standing grant).
//!
//! Logs (stderr, `tracing`) carry source keys, report ids and counts, never
//! a report's title, body, tearline or source; what a feed submits (or,
//! with `--dry-run`, would submit) is printed on stdout.
//!
//! Each feed's command-line options (clap) live with the feed: adding a feed
//! is a module here, a variant of [`FeedCommand`] and an arm of [`run`]; the
//! `tisa` binary only embeds `FeedCommand` as `tisa feed`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cns;
mod follow;
mod jsonl;
mod stix;
mod tracks;
mod usgs;
mod webhook;

use std::process::ExitCode;
use tisa_core::text::loggable;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tisa_core::{limits, Category, Classification, Content, PartySet, ReportDraft, Sensitive};
use tisa_transport::{ControlClient, ControlReply};
use tracing::{info, warn};

use tisa_kit::{Common, Ctx};

/// `tisa feed …`.
#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Poll USGS earthquake GeoJSON; events near nuclear test sites become NK_NUCLEAR reports.
    #[command(long_about = usgs::LONG_HELP)]
    Usgs(usgs::UsgsArgs),
    /// Import the CNS North Korea Missile Test Database (CSV) as NK_MISSILE reports.
    #[command(name = "cns-csv", long_about = cns::LONG_HELP)]
    CnsCsv(cns::CsvArgs),
    /// Read reports as JSON Lines (one object a line) from a file or stdin.
    #[command(long_about = jsonl::LONG_HELP)]
    Jsonl(jsonl::JsonlArgs),
    /// Accept reports by HTTP POST (JSON object, bearer token).
    #[command(long_about = webhook::LONG_HELP)]
    Webhook(webhook::WebhookArgs),
    /// Read live missile-warning track updates as JSON Lines (forwarded under your standing grant).
    #[command(long_about = tracks::LONG_HELP)]
    Tracks(tracks::TracksArgs),
    /// Import a STIX 2.1 bundle's report and indicator objects (markings from ACS 3.0, or flags).
    #[command(long_about = stix::STIX_HELP)]
    Stix(stix::StixArgs),
    /// Pull a TAXII 2.1 collection and import it like `feed stix`.
    #[command(long_about = stix::TAXII_HELP)]
    Taxii(stix::TaxiiArgs),
}

/// Where a line-based feed (`jsonl`, `tracks`) reads from, and the defaults
/// for lines that leave classification or releasability out.
#[derive(Args, Debug, Clone)]
pub struct LineSource {
    /// The file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub file: std::path::PathBuf,
    /// Keep reading lines appended to FILE until interrupted, by name (like tail -F): a rotated file is
    /// finished and the new one at the path read from its start; a truncated file is read again.
    #[arg(long, conflicts_with = "once")]
    pub follow: bool,
    /// Read to the end once and exit (the default without --follow).
    #[arg(long)]
    pub once: bool,
    /// Classification for lines that have none.
    #[arg(long)]
    pub classification: Option<tisa_core::Classification>,
    /// Releasable-to for lines that have none, e.g. USA,JPN.
    #[arg(long = "rel-to")]
    pub rel_to: Option<tisa_core::PartySet>,
    /// With --follow: how often to look for new lines.
    #[arg(long, default_value = "250ms", value_parser = tisa_deploy::parse_duration)]
    pub poll: std::time::Duration,
}

/// Options every feed shares: the operator options of every command
/// (your party, broker, credentials, `--json`, `--timeout`) and `--dry-run`.
#[derive(Args, Debug, Clone)]
pub struct FeedOptions {
    /// The operator options (party, broker, credentials, `--json`, `--timeout`).
    #[command(flatten)]
    pub common: Common,
    /// Print each report it would submit, with its source key, instead of
    /// submitting it (text, or JSON with --json); the node is not contacted.
    /// With your party known (--party or --config), each is checked against the
    /// agreement's link ceilings as your node would, and refused if over.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: the agreement whose ceilings are checked [default: the built-in one].
    #[arg(long, env = "TISA_AGREEMENT", requires = "dry_run")]
    pub agreement: Option<std::path::PathBuf>,
}

impl FeedOptions {
    /// For a dry run: the party and the agreement's policy to check what
    /// would be submitted against, if the party is known (else a warning).
    pub(crate) fn dry_run_policy(&self) -> Result<Option<(tisa_core::Party, tisa_core::Policy)>> {
        let policy = tisa_deploy::agreement::load(self.agreement.as_deref())?.policy;
        let party = self.common.party.or_else(|| self.common.resolve().ok().map(|c| c.party));
        if party.is_none() {
            warn!("dry run without --party or --config: the agreement's link ceilings are not checked");
        }
        Ok(party.map(|p| (p, policy)))
    }
}

/// Runs a feed.
pub async fn run(cmd: FeedCommand) -> Result<ExitCode> {
    match cmd {
        FeedCommand::Usgs(a) => usgs::run(a).await,
        FeedCommand::CnsCsv(a) => cns::run(a).await,
        FeedCommand::Jsonl(a) => jsonl::run(a).await,
        FeedCommand::Webhook(a) => webhook::run(a).await,
        FeedCommand::Tracks(a) => tracks::run(a).await,
        FeedCommand::Stix(a) => stix::run_file(a).await,
        FeedCommand::Taxii(a) => stix::run_taxii(a).await,
    }
}

// ---------------------------------------------------------------- items

/// One report a feed wants submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    /// The idempotency key (`usgs:…`, `cns:…`, …).
    pub key: String,
    pub category: Category,
    pub classification: Classification,
    pub rel_to: PartySet,
    pub title: String,
    pub body: String,
    pub tearline: Option<String>,
    pub source: String,
}

impl Item {
    /// The checks the node would make on the text fields, done first so a
    /// bad item is reported with its line or request, not as a node error.
    pub fn check(&self) -> Result<(), String> {
        check_key(&self.key)?;
        let field = |name: &str, s: &str, max: usize, required: bool| -> Result<(), String> {
            if required && s.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
            if s.len() > max {
                return Err(format!("{name} is too long ({} bytes, at most {max})", s.len()));
            }
            Ok(())
        };
        field("title", &self.title, limits::TITLE, true)?;
        field("body", &self.body, limits::BODY, true)?;
        field("source", &self.source, limits::SOURCE, false)?;
        if let Some(t) = &self.tearline {
            field("tearline", t, limits::TEARLINE, true)?;
        }
        if self.rel_to.is_empty() {
            return Err("rel_to names no party".into());
        }
        Ok(())
    }

    fn draft(&self, submitted_by: &str) -> ReportDraft {
        ReportDraft {
            offline: false,
            category: self.category,
            classification: self.classification,
            releasable_to: self.rel_to,
            content: Content {
                title: Sensitive::new(self.title.clone()),
                body: Sensitive::new(self.body.clone()),
                tearline: self.tearline.clone().map(Sensitive::new),
                source: Sensitive::new(self.source.clone()),
            },
            corrects: None,
            submitted_by: submitted_by.to_owned(),
            submitter_key: None,
            submission: None,
            source_key: Some(self.key.clone()),
        }
    }

    fn json(&self) -> Value {
        json!({
            "dry_run": true,
            "source_key": self.key,
            "category": self.category.as_str(),
            "classification": self.classification.as_str(),
            "releasable_to": self.rel_to.iter().map(|p| p.trigraph()).collect::<Vec<_>>(),
            "title": self.title,
            "body": self.body,
            "tearline": self.tearline,
            "source": self.source,
        })
    }

    fn text(&self) -> String {
        let mut s = format!(
            "would submit {}  {} {}  REL TO {}\n  title:    {}\n",
            self.key, self.category, self.classification, self.rel_to, self.title
        );
        let mut lines = self.body.lines();
        s.push_str(&format!("  body:     {}\n", lines.next().unwrap_or_default()));
        for l in lines {
            s.push_str(&format!("            {l}\n"));
        }
        if let Some(t) = &self.tearline {
            s.push_str(&format!("  tearline: {t}\n"));
        }
        if !self.source.is_empty() {
            s.push_str(&format!("  source:   {}\n", self.source));
        }
        s
    }
}

/// A source key's rules (the node's, checked early): 1–256 bytes, no
/// control characters.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.len() > 256 {
        return Err(format!("the source key is too long ({} bytes, at most 256)", key.len()));
    }
    if key.chars().any(char::is_control) {
        return Err("the id contains control characters".into());
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ----------------------------------------------------------------- sink

/// What became of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A new report.
    New { report_id: String, revision: u32 },
    /// A new revision of the report this key already made.
    Revised { report_id: String, revision: u32 },
    /// Same key, same content: the node sent nothing.
    Unchanged { report_id: String, revision: u32 },
    /// `--dry-run`: printed, not submitted.
    DryRun,
}

impl Outcome {
    pub fn report_id(&self) -> Option<&str> {
        match self {
            Outcome::New { report_id, .. }
            | Outcome::Revised { report_id, .. }
            | Outcome::Unchanged { report_id, .. } => Some(report_id),
            Outcome::DryRun => None,
        }
    }

    pub fn revision(&self) -> u32 {
        match self {
            Outcome::New { revision, .. } | Outcome::Revised { revision, .. } | Outcome::Unchanged { revision, .. } => {
                *revision
            }
            Outcome::DryRun => 0,
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Outcome::New { .. } => "new",
            Outcome::Revised { .. } => "revised",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::DryRun => "dry-run",
        }
    }
}

/// Why an item was not submitted.
#[derive(Debug)]
pub(crate) enum SubmitError {
    /// The node refused this report (scope, ceiling, size…): one line, with
    /// the node's code. The other items can still go.
    Refused(String),
    /// The node could not be reached or did not answer: nothing can go.
    Node(anyhow::Error),
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Refused(m) => write!(f, "refused by the node: {m}"),
            SubmitError::Node(e) => write!(f, "{e:#}"),
        }
    }
}

/// Most reports a feed submits with one batch signature (what it sends
/// within the agreement's clock skew, with room to spare).
pub(crate) const SUBMIT_BATCH: usize = 256;

// One sink per process: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Mode {
    /// Printed, not sent; checked against the policy when the party is known.
    DryRun(Option<(tisa_core::Party, tisa_core::Policy)>),
    Node {
        ctx: Ctx,
        client: Option<ControlClient>,
        submitted_by: String,
    },
}

/// Where a feed's items go: the party's own node, or (`--dry-run`) stdout.
pub(crate) struct Sink {
    mode: Mode,
    json: bool,
}

impl Sink {
    /// From the shared options. Without `--dry-run` the party must be known
    /// (from `--party` or `--config`); nothing is contacted yet.
    pub fn new(opts: &FeedOptions) -> Result<Sink> {
        let json = opts.common.json;
        if opts.dry_run {
            return Ok(Sink { mode: Mode::DryRun(opts.dry_run_policy()?), json });
        }
        let ctx = opts.common.resolve()?;
        // Every submission is signed by the feed's key (role feed or submitter).
        if ctx.key.is_none() {
            anyhow::bail!(
                "a feed signs what it submits: give its key with --key FILE (or TISA_KEY), a key with the feed role; \
                 create one with `tisa keys generate --party {} --operator NAME --role feed`",
                ctx.party.lower()
            );
        }
        // The submitter's name (the node records the signing key's own).
        let submitted_by = ctx.key()?.map(|k| k.identity.name().to_owned()).unwrap_or_default();
        Ok(Sink { mode: Mode::Node { ctx, client: None, submitted_by }, json })
    }

    pub fn dry_run(&self) -> bool {
        matches!(self.mode, Mode::DryRun(_))
    }

    /// Connects to the node's broker now (a no-op when connected or dry).
    pub async fn connect(&mut self) -> Result<(), SubmitError> {
        if let Mode::Node { ctx, client, .. } = &mut self.mode {
            if client.is_none() {
                let c = ctx.client().await.map_err(SubmitError::Node)?;
                *client = Some(c);
            }
        }
        Ok(())
    }

    /// Drops the connection: the next submission connects again.
    pub fn reset(&mut self) {
        if let Mode::Node { client, .. } = &mut self.mode {
            *client = None;
        }
    }

    /// Submits one item (or prints it, dry). Prints what was sent on stdout
    /// (new reports and revisions; unchanged ones only count).
    pub async fn submit(&mut self, item: &Item) -> Result<Outcome, SubmitError> {
        let mut out = self.submit_all(std::slice::from_ref(item)).await;
        out.pop().unwrap_or_else(|| Err(SubmitError::Node(anyhow::anyhow!("no outcome for the item"))))
    }

    /// Submits several items at once (or prints them, dry), one outcome
    /// each, in order: their submissions and actions signed with one batch
    /// signature each ([`ControlClient::submit_batch`]), the requests sent
    /// together. Items with the same source key go one after another (the
    /// second may revise the first), never in the same batch; a batch holds
    /// at most [`SUBMIT_BATCH`]. Once the node cannot be reached, the rest
    /// is not sent (each says so).
    pub async fn submit_all(&mut self, items: &[Item]) -> Vec<Result<Outcome, SubmitError>> {
        let mut out: Vec<Option<Result<Outcome, SubmitError>>> = Vec::with_capacity(items.len());
        let mut batch: Vec<usize> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        let mut reached = true;
        for (i, item) in items.iter().enumerate() {
            match item.check() {
                Err(why) => out.push(Some(Err(SubmitError::Refused(why)))),
                Ok(()) => {
                    out.push(None);
                    if batch.len() == SUBMIT_BATCH || keys.contains(item.key.as_str()) {
                        reached = reached && self.send(items, &batch, &mut out).await;
                        batch.clear();
                        keys.clear();
                    }
                    keys.insert(item.key.as_str());
                    batch.push(i);
                }
            }
        }
        if reached {
            self.send(items, &batch, &mut out).await;
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(SubmitError::Node(anyhow::anyhow!("not sent: the node was not reached")))))
            .collect()
    }

    /// Sends `items[batch]` (checked) in one batch, filling `out` in order.
    /// Whether the node answered every one of them.
    async fn send(
        &mut self,
        items: &[Item],
        batch: &[usize],
        out: &mut [Option<Result<Outcome, SubmitError>>],
    ) -> bool {
        if batch.is_empty() {
            return true;
        }
        if let Err(e) = self.connect().await {
            if let Some(&first) = batch.first() {
                out[first] = Some(Err(e));
            }
            return false;
        }
        let json = self.json;
        let Mode::Node { ctx, client: Some(client), submitted_by } = &self.mode else {
            for &i in batch {
                out[i] = Some(self.print_dry(&items[i]));
            }
            return true;
        };
        let drafts = batch.iter().map(|&i| items[i].draft(submitted_by)).collect();
        let replies = client.submit_batch(drafts).await;
        let mut reached = true;
        for (&i, reply) in batch.iter().zip(replies) {
            reached &= reply.is_ok();
            let reply = reply.map_err(|e| SubmitError::Node(anyhow::anyhow!("{}'s node: {e}", ctx.party)));
            out[i] = Some(reply.and_then(|r| outcome(&items[i], r, json)));
        }
        reached
    }

    /// What a dry run prints for `item`, checked against the policy when the party is known.
    fn print_dry(&self, item: &Item) -> Result<Outcome, SubmitError> {
        if let Mode::DryRun(Some((party, policy))) = &self.mode {
            tisa_core::node::check_markings(policy, *party, item.classification, item.rel_to)
                .map_err(|e| SubmitError::Refused(format!("{e} (your node would refuse it)")))?;
        }
        if self.json {
            println!("{}", item.json());
        } else {
            print!("{}", item.text());
        }
        Ok(Outcome::DryRun)
    }
}

/// The outcome of `item` from the node's reply, printed on stdout (new
/// reports and revisions; unchanged ones only count).
fn outcome(item: &Item, reply: ControlReply, json: bool) -> Result<Outcome, SubmitError> {
    let (report_id, revision, notes, duplicate) = match reply {
        ControlReply::Submitted(s) => (s.header.id.to_string(), s.header.revision, s.notes, s.duplicate),
        ControlReply::Error { code, message } => return Err(SubmitError::Refused(format!("{message} [{code}]"))),
        other => return Err(SubmitError::Node(anyhow::anyhow!("unexpected reply from the node: {other:?}"))),
    };
    let outcome = if duplicate {
        Outcome::Unchanged { report_id, revision }
    } else if revision > 1 {
        Outcome::Revised { report_id, revision }
    } else {
        Outcome::New { report_id, revision }
    };
    let rid = outcome.report_id().unwrap_or_default();
    match &outcome {
        Outcome::Unchanged { .. } => {
            tracing::debug!(key = %loggable(&item.key), report_id = %rid, revision, "unchanged: already submitted")
        }
        _ => {
            info!(key = %loggable(&item.key), report_id = %rid, revision, "submitted ({})", outcome.word());
            for n in &notes {
                warn!(key = %loggable(&item.key), report_id = %rid, recipient = %n.recipient, code = %n.why.code(),
                    "will not be released to {}: {}; it stays bilateral with USA", n.recipient, n.why);
            }
            if json {
                println!(
                    "{}",
                    json!({
                        "source_key": item.key,
                        "report_id": rid,
                        "revision": revision,
                        "outcome": outcome.word(),
                        "notes": notes.iter().map(|n| json!({"recipient": n.recipient.trigraph(), "code": n.why.code(), "detail": n.why.to_string()})).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!("{rid} r{revision}  {:<7}  {}", outcome.word(), item.key);
            }
        }
    }
    Ok(outcome)
}

// ---------------------------------------------------------------- tally

/// Counts of what a run (or one poll) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub imported: usize,
    pub unchanged: usize,
    pub revised: usize,
    pub bad: usize,
    pub dry: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::New { .. } => self.imported += 1,
            Outcome::Revised { .. } => self.revised += 1,
            Outcome::Unchanged { .. } => self.unchanged += 1,
            Outcome::DryRun => self.dry += 1,
        }
    }

    /// `3 imported, 1 unchanged, 0 revised, 2 bad` (dry: `3 would be submitted, 2 bad`).
    pub fn summary(&self, dry: bool) -> String {
        if dry {
            format!("{} would be submitted (dry run), {} bad", self.dry, self.bad)
        } else {
            format!(
                "{} imported, {} unchanged, {} revised, {} bad",
                self.imported, self.unchanged, self.revised, self.bad
            )
        }
    }
}

// ------------------------------------------------------ generic objects

/// Defaults for generic objects (jsonl, webhook) that omit a field.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Defaults {
    pub classification: Option<Classification>,
    pub rel_to: Option<PartySet>,
}

const GENERIC_FIELDS: [&str; 8] = ["id", "category", "classification", "rel_to", "title", "body", "tearline", "source"];

/// Parses one generic report object (a JSON Lines line, a webhook body):
/// `{"id", "category", "classification", "rel_to", "title", "body",
/// "tearline"?, "source"?}`; `classification` and `rel_to` may come from
/// `defaults`. The source key is `<prefix>:<id>`. Errors name the field,
/// never quote the content.
pub(crate) fn parse_generic(text: &str, prefix: &str, defaults: Defaults) -> Result<Item, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(obj) = v else { return Err("expected a JSON object".into()) };
    if let Some(k) = obj.keys().find(|k| !GENERIC_FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {:?} (expected: {})", clip(k, 40), GENERIC_FIELDS.join(", ")));
    }
    let string = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} must be a string")),
        }
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        None | Some(Value::Null) => return Err("missing field id".into()),
        Some(_) => return Err("id must be a string or an integer".into()),
    };
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if id.len() > 200 {
        return Err(format!("id is too long ({} bytes, at most 200)", id.len()));
    }
    let category: Category = string("category")?
        .ok_or("missing field category (nuclear, missile or other)")?
        .parse()
        .map_err(|e| format!("category: {e}"))?;
    let classification = match string("classification")? {
        Some(c) => c.parse().map_err(|e| format!("classification: {e}"))?,
        None => defaults.classification.ok_or("missing field classification (and no --classification default)")?,
    };
    let rel_to = match obj.get("rel_to") {
        None | Some(Value::Null) => defaults.rel_to.ok_or("missing field rel_to (and no --rel-to default)")?,
        Some(Value::String(s)) => s.parse::<PartySet>().map_err(|e| format!("rel_to: {e}"))?,
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| match p {
                Value::String(s) => s.parse().map_err(|e| format!("rel_to: {e}")),
                _ => Err("rel_to must list party names".to_owned()),
            })
            .collect::<Result<PartySet, String>>()?,
        Some(_) => return Err("rel_to must be a string (\"USA,JPN\") or a list of party names".into()),
    };
    let item = Item {
        key: format!("{prefix}:{id}"),
        category,
        classification,
        rel_to,
        title: string("title")?.ok_or("missing field title")?,
        body: string("body")?.ok_or("missing field body")?,
        tearline: string("tearline")?,
        source: string("source")?.unwrap_or_default(),
    };
    item.check()?;
    Ok(item)
}

/// Whether stderr is a terminal (for progress indicators).
pub(crate) fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_objects() {
        let d = Defaults::default();
        let ok = r#"{"id": "a-1", "category": "missile", "classification": "secret", "rel_to": "USA,JPN", "title": "t", "body": "b"}"#;
        let i = parse_generic(ok, "jsonl", d).unwrap();
        assert_eq!(i.key, "jsonl:a-1");
        assert_eq!(i.rel_to.to_string(), "USA,JPN");
        let ok = r#"{"id": 7, "category": "nuclear", "classification": "c", "rel_to": ["us"], "title": "t", "body": "b", "tearline": "tl"}"#;
        assert_eq!(parse_generic(ok, "webhook", d).unwrap().key, "webhook:7");
        for (bad, why) in [
            ("{", "invalid JSON"),
            ("[1]", "expected a JSON object"),
            (
                r#"{"id":"x","category":"missile","classification":"secret","rel_to":"USA","title":"t","body":"b","bdy":"x"}"#,
                "unknown field",
            ),
            (
                r#"{"category":"missile","classification":"secret","rel_to":"USA","title":"t","body":"b"}"#,
                "missing field id",
            ),
            (
                r#"{"id":"x","category":"food","classification":"secret","rel_to":"USA","title":"t","body":"b"}"#,
                "category",
            ),
            (r#"{"id":"x","category":"missile","rel_to":"USA","title":"t","body":"b"}"#, "classification"),
            (
                r#"{"id":"x","category":"missile","classification":"secret","rel_to":"USA","title":" ","body":"b"}"#,
                "title is empty",
            ),
            (
                r#"{"id":"x","category":"missile","classification":"secret","rel_to":"MARS","title":"t","body":"b"}"#,
                "rel_to",
            ),
        ] {
            let e = parse_generic(bad, "jsonl", d).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let d = Defaults { classification: Some(Classification::Secret), rel_to: Some("USA".parse().unwrap()) };
        let i = parse_generic(r#"{"id":"x","category":"missile","title":"t","body":"b"}"#, "jsonl", d).unwrap();
        assert_eq!(i.classification, Classification::Secret);
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abc", 10), "abc");
        let c = clip("ééééé", 6);
        assert!(c.len() <= 6 && c.ends_with('…'), "{c}");
    }
}
