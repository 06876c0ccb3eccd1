//! `tisa feed stix FILE` and `tisa feed taxii URL --collection ID`: STIX
//! `report` and `indicator` objects from a national tool become reports of
//! your party (`tisa_stix::import`: markings decide, flags fill in, no
//! default classification; key `stix:<id>`, the version's `modified` in
//! the source line, so a new version becomes a new revision; objects that
//! came from tisa or name another party as originator are refused).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use tisa_core::text::loggable;
use tisa_stix::import::{self, Flags, Imported};
use tracing::{info, warn};

use super::{FeedOptions, Item, Sink, SubmitError, Tally};

/// What fills in where an object's markings say nothing.
#[derive(Args, Debug, Clone)]
pub struct StixFlags {
    /// Category for objects without a category label (nk-missile, nk-nuclear, other).
    #[arg(long)]
    pub category: Option<tisa_core::Category>,
    /// Classification for objects without an ACS marking (there is no default).
    #[arg(long)]
    pub classification: Option<tisa_core::Classification>,
    /// Releasable-to for objects without an ACS marking, e.g. USA,JPN.
    #[arg(long = "rel-to")]
    pub rel_to: Option<tisa_core::PartySet>,
}

impl StixFlags {
    fn flags(&self) -> Flags {
        Flags { category: self.category, classification: self.classification, rel_to: self.rel_to }
    }
}

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const STIX_HELP: &str =
    "Imports the `report` and `indicator` objects of a STIX 2.1 bundle (a file, or - for stdin) as reports \
of your party, through your own node. Classification and releasable-to come from the object's ACS 3.0 marking \
(control_set.classification, permitted_nationalities), the category from its labels (nk-missile, nk-nuclear, other); \
--classification, --rel-to and --category apply only where the object says nothing, and an object with no \
classification at all is refused. The idempotency key is stix:<id>: the same version imports once, a new version \
(another `modified`) becomes a new revision. Objects exported by tisa are refused unless your party originated them, \
and so are objects created by another party's identity or whose ACS originator is another party: a report you \
received cannot be released again as yours.";

#[derive(Args, Debug)]
#[command(
    long_about = STIX_HELP,
    after_help = "Example: tisa feed stix --config tisa-broker/kr-cli.toml --key kr-feed.key national-tool.json"
)]
pub struct StixArgs {
    #[command(flatten)]
    opts: FeedOptions,
    #[command(flatten)]
    flags: StixFlags,
    /// The bundle (a file, or - for stdin).
    file: std::path::PathBuf,
}

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const TAXII_HELP: &str =
    "Pulls every object of a TAXII 2.1 collection (paging with `next`), then imports it like \
`tisa feed stix`.";

#[derive(Args, Debug)]
#[command(
    long_about = TAXII_HELP,
    after_help = "Example: tisa feed taxii --config tisa-broker/kr-cli.toml --key kr-feed.key \\\n    \
https://cti.example.kr/api1/ --collection 91a7b528-80eb-42ed-a74d-c6fbd5a26116 --user tisa --password-file pw"
)]
pub struct TaxiiArgs {
    #[command(flatten)]
    opts: FeedOptions,
    #[command(flatten)]
    flags: StixFlags,
    /// The API root, e.g. https://cti.example.kr/api1/.
    url: String,
    /// The collection id.
    #[arg(long)]
    collection: String,
    /// HTTP Basic user (with --password-file).
    #[arg(long, requires = "password_file")]
    user: Option<String>,
    /// A file holding the Basic password.
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
    /// A file holding a bearer token.
    #[arg(long, conflicts_with = "user")]
    token_file: Option<std::path::PathBuf>,
    /// Only objects added after this time (RFC 3339).
    #[arg(long)]
    added_after: Option<String>,
    /// Objects per request.
    #[arg(long, default_value_t = 100)]
    page: usize,
}

pub async fn run_file(a: StixArgs) -> Result<ExitCode> {
    let text = if a.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?
    };
    let party = party_of(&a.opts)?;
    let outcomes =
        import::import(&text, party, a.flags.flags()).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    submit_all(&a.opts, outcomes, "stix").await
}

pub async fn run_taxii(a: TaxiiArgs) -> Result<ExitCode> {
    let party = party_of(&a.opts)?;
    let auth = match (&a.user, &a.password_file, &a.token_file) {
        (Some(u), Some(p), _) => {
            let pw = read_secret(p)?;
            use base64::Engine;
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"))))
        }
        (_, _, Some(t)) => Some(format!("Bearer {}", read_secret(t)?)),
        _ => None,
    };
    let base = format!("{}/collections/{}/objects/", a.url.trim_end_matches('/'), a.collection);
    let added_after = a.added_after.clone();
    let page = a.page.max(1);
    let objects = tokio::task::spawn_blocking(move || pull(&base, auth.as_deref(), added_after.as_deref(), page))
        .await
        .context("the TAXII pull stopped")??;
    info!(objects = objects.len(), "pulled from the TAXII collection");
    let outcomes = import::objects_outcomes(&objects, party, a.flags.flags()).map_err(|e| anyhow::anyhow!("{e}"))?;
    submit_all(&a.opts, outcomes, "taxii").await
}

fn read_secret(p: &std::path::Path) -> Result<String> {
    let s = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(s.strip_suffix('\n').unwrap_or(&s).to_owned())
}

/// Every object of the collection, page by page (`more`/`next`).
fn pull(base: &str, auth: Option<&str>, added_after: Option<&str>, page: usize) -> Result<Vec<Value>> {
    let agent = ureq::Agent::new_with_defaults();
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100_000 {
        let mut req = agent.get(base).header("Accept", tisa_stix::TAXII_MEDIA_TYPE).query("limit", page.to_string());
        if let Some(t) = added_after {
            req = req.query("added_after", t);
        }
        if let Some(n) = &next {
            req = req.query("next", n);
        }
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(|e| anyhow::anyhow!("TAXII request to {base} failed: {e}"))?;
        let v: Value = resp.body_mut().read_json().map_err(|e| anyhow::anyhow!("TAXII answer is not JSON: {e}"))?;
        if let Some(Value::Array(objs)) = v.get("objects") {
            out.extend(objs.iter().cloned());
        }
        next = v.get("next").and_then(Value::as_str).map(str::to_owned);
        if v.get("more").and_then(Value::as_bool) != Some(true) || next.is_none() {
            return Ok(out);
        }
    }
    anyhow::bail!("the TAXII collection did not stop paging")
}

fn party_of(opts: &FeedOptions) -> Result<tisa_core::Party> {
    opts.common.resolve().map(|c| c.party)
}

fn item(i: Imported) -> Item {
    Item {
        key: i.key,
        category: i.category,
        classification: i.classification,
        rel_to: i.rel_to,
        title: i.title,
        body: i.body,
        tearline: i.tearline,
        source: i.source,
    }
}

async fn submit_all(
    opts: &FeedOptions,
    outcomes: Vec<Result<Imported, import::Refusal>>,
    name: &str,
) -> Result<ExitCode> {
    let mut sink = Sink::new(opts)?;
    let mut tally = Tally::default();
    let mut items = Vec::new();
    for o in outcomes {
        match o {
            Ok(i) => items.push(item(i)),
            Err(why) => {
                warn!("{name}: refused: {}", loggable(&why.to_string()));
                eprintln!("refused: {why}");
                tally.bad += 1;
            }
        }
    }
    // In batches (one signature for a batch's submissions, one for their requests).
    let mut lost = None;
    for (it, result) in items.iter().zip(sink.submit_all(&items).await) {
        match result {
            Ok(o) => tally.add(&o),
            Err(SubmitError::Refused(why)) => {
                warn!(key = %loggable(&it.key), "{name}: not submitted: {}", loggable(&why));
                eprintln!("not submitted: {}: {why}", it.key);
                tally.bad += 1;
            }
            Err(SubmitError::Node(e)) => lost = lost.or(Some(e)),
        }
    }
    if let Some(e) = lost {
        eprintln!("{name}: stopped: {}", tally.summary(sink.dry_run()));
        return Err(e);
    }
    eprintln!("{name}: {}", tally.summary(sink.dry_run()));
    Ok(if tally.bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
