//! `tisa export --format stix` and `tisa taxii`: their options and runs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tisa_kit::{Common, Ctx};

use crate::{export, taxii};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A STIX 2.1 bundle (TLP 2.0 and ACS 3.0 markings).
    Stix,
}

/// `tisa export --help`: what it does, at length.
pub const EXPORT_HELP: &str =
    "Exports what your party holds (your inbox: every revision as released to you, the tearline alone \
where only the tearline was released, retractions as revoked versions) as one STIX 2.1 bundle: a `report` per \
report (one version per revision), the originating party's `identity`, the official TLP 2.0 marking and an ACS 3.0 \
marking with classification, releasable-to and originator. Reading needs your reader key (--key); the node audits \
the read.";

/// `tisa export`.
#[derive(Args, Debug)]
#[command(
    long_about = EXPORT_HELP,
    after_help = "Example: tisa export --config tisa-broker/jp-cli.toml --key jp-analyst.key --format stix --out jp.json"
)]
pub struct ExportArgs {
    /// The operator options (party, broker, credentials, your reader key).
    #[command(flatten)]
    pub common: Common,
    /// The format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Only what reached your node after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Write the bundle to this file (mode 0600) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `tisa export`.
pub async fn export(a: ExportArgs) -> Result<ExitCode> {
    let since = a.since.as_deref().map(crate::time::parse).transpose().map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let ctx = a.common.resolve()?;
    write_bundle(&ctx, since, a.out.as_deref()).await
}

/// Reads the party's whole inbox (signed, audited) and writes it as a STIX
/// bundle to `out` (0600) or stdout. Used by `export` and `inbox --format stix`.
pub async fn write_bundle(
    ctx: &Ctx,
    since: Option<tisa_core::Timestamp>,
    out: Option<&std::path::Path>,
) -> Result<ExitCode> {
    if ctx.key.is_none() {
        anyhow::bail!(
            "reading reports must be signed: give your key with --key FILE (or TISA_KEY), a key with the reader role"
        );
    }
    let client = ctx.client().await?;
    let inbox = taxii::read_inbox(&client).await?;
    let mut entries = export::entries(ctx.party, &inbox);
    if let Some(t) = since {
        entries = export::since(entries, t);
    }
    let bundle = export::bundle(&entries);
    let mut text = serde_json::to_string_pretty(&bundle)?;
    text.push('\n');
    match out {
        Some(path) => {
            tisa_fs::write_private(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} STIX objects to {}", bundle.objects.len(), path.display());
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `tisa taxii --help`: what it does, at length.
pub const TAXII_HELP: &str =
    "Serves what your party holds as a read-only TAXII 2.1 collection (API root /tisa/, discovery at \
/taxii2/), for MISP, OpenCTI or any TAXII 2.1 client. Each TAXII user is a reader of your party: the server reads \
your node with that reader's key, so the node authorises and audits every pull. Credentials are stored hashed \
(`tisa taxii --hash-secret`). Plain HTTP on loopback by default: put a TLS proxy in front for anything else.";

/// `tisa taxii`.
#[derive(Args, Debug)]
#[command(
    long_about = TAXII_HELP,
    after_help = "Example: tisa taxii --config taxii.toml\n         printf %s 'a long password' | tisa taxii --hash-secret"
)]
pub struct TaxiiArgs {
    /// The server's config file (node config, listen address, users).
    #[arg(long, required_unless_present = "hash_secret")]
    pub config: Option<PathBuf>,
    /// Listen here instead of the config's `listen` (default 127.0.0.1:9580).
    #[arg(long)]
    pub listen: Option<String>,
    /// Allow a non-loopback --listen although the server speaks plain HTTP.
    #[arg(long)]
    pub insecure_plain_http: bool,
    /// Read a secret (password or token secret) on stdin, print its Argon2id hash for the config, and exit.
    #[arg(long)]
    pub hash_secret: bool,
    /// How long to wait for the node's answers.
    #[arg(long, default_value = "10s", value_parser = tisa_deploy::parse_duration)]
    pub timeout: Duration,
}

/// Runs `tisa taxii`.
pub async fn taxii(a: TaxiiArgs) -> Result<ExitCode> {
    if a.hash_secret {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        let s = s.strip_suffix('\n').unwrap_or(&s);
        if s.is_empty() {
            anyhow::bail!("no secret on stdin: pipe the password (or the token's secret) in");
        }
        println!("{}", taxii::auth::hash_secret(s).map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?);
        return Ok(ExitCode::SUCCESS);
    }
    let config = a.config.context("--config FILE is required")?;
    taxii::run(taxii::Options {
        config,
        listen: a.listen,
        insecure_plain_http: a.insecure_plain_http,
        timeout: a.timeout,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
