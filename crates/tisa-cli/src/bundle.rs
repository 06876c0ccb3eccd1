//! `tisa bundle export|import|show`: off-line passage. A bundle carries
//! the messages the on-line path would have sent over one link, signed by
//! the exporting node; a courier or an air-gapped network carries the file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use tisa_core::Party;
use tisa_deploy::chain::hex;
use tisa_kit::operator::{call, unexpected};
use tisa_kit::{Common, Ctx};
use tisa_transport::bundle::{bundle_id, BundleFile, ExportRequest, ImportRequest};
use tisa_transport::{ControlReply, ControlRequest};

use crate::commands::print_json;

/// At most this many bytes of envelopes per import page (the broker's
/// default `max_payload` is 1 MiB; one envelope alone may exceed this).
const IMPORT_PAGE: usize = 512 * 1024;

#[derive(Subcommand, Debug)]
pub(crate) enum BundleCommand {
    /// Write the messages waiting for one peer as a signed bundle file (for a courier or an
    /// air-gapped network): released off-line reports with their consent, decisions,
    /// deliveries, receipts, and what this node took in from that peer's last bundle.
    ///
    /// A message stays in every bundle for the peer until a bundle from the peer acknowledges
    /// it: a lost file is replaced by exporting again. Needs an approver key.
    Export {
        #[command(flatten)]
        common: Common,
        /// The peer: us from KR or JP; kr or jp from US (no KR-JP bundle exists).
        #[arg(long)]
        to: Party,
        /// The file to write (mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// Also carry a copy of what your node already sent the peer on-line about this report
        /// (your revisions and decisions; at the hub, its deliveries), e.g. while the link is down.
        /// Repeatable. The receiver takes a report once, whichever way it came first.
        #[arg(long = "report", value_name = "REPORT_ID")]
        reports: Vec<String>,
    },
    /// Take in a bundle exported for your party: its signature (the exporting node's
    /// registered key), its recipient and every message are checked; each message is then
    /// taken as if it came on-line (signatures, consent, policy and scope), under the
    /// agreement's off-line ceiling. Importing twice changes nothing. Needs an approver key.
    Import {
        #[command(flatten)]
        common: Common,
        /// The bundle file.
        file: PathBuf,
    },
    /// List a bundle's messages (kinds and ids, no content), without importing it.
    Show {
        /// The bundle file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(cmd: BundleCommand) -> Result<ExitCode> {
    match cmd {
        BundleCommand::Export { common, to, out, reports } => {
            let c = common.resolve()?;
            for r in reports {
                let report_id =
                    tisa_core::ReportId::new(r.as_str()).map_err(|e| anyhow::anyhow!("--report {r}: {e}"))?;
                let req = ControlRequest::CourierCopy(tisa_transport::control::CourierCopy { to, report_id });
                let reply = call(&c, req).await?;
                let ControlReply::Copied(n) = reply else { return Err(unexpected(&reply)) };
                if !c.json {
                    eprintln!("{r}: {n} message(s) copied for {to}");
                }
            }
            export(&c, to, &out).await
        }
        BundleCommand::Import { common, file } => import(&common.resolve()?, &file).await,
        BundleCommand::Show { file, json } => show(&file, json),
    }
}

async fn export(c: &Ctx, to: Party, out: &std::path::Path) -> Result<ExitCode> {
    let mut req = ExportRequest { to, bundle: None, first: 0 };
    let mut file: Option<(BundleFile, u32)> = None;
    loop {
        let reply = call(c, ControlRequest::BundleExport(req.clone())).await?;
        let ControlReply::BundlePage(p) = reply else { return Err(unexpected(&reply)) };
        let (f, _) =
            file.get_or_insert_with(|| (BundleFile { document: p.document.clone(), envelopes: Vec::new() }, p.left));
        if p.document != f.document || p.first as usize != f.envelopes.len() {
            bail!("the node answered with another bundle mid-export: export again");
        }
        f.envelopes.extend(p.envelopes);
        if f.envelopes.len() >= p.total as usize {
            break;
        }
        req = ExportRequest { to, bundle: Some(bundle_id(&f.document)), first: u32::try_from(f.envelopes.len())? };
    }
    let Some((file, left)) = file else { bail!("the node sent no bundle") };
    tisa_fs::write_private(out, &file.to_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
    let id = hex(&bundle_id(&file.document));
    let doc = file.doc().map_err(|e| anyhow::anyhow!("the node signed a malformed bundle: {e}"))?;
    if c.json {
        print_json(&json!({
            "bundle": id, "from": doc.from.trigraph(), "to": to.trigraph(), "messages": file.envelopes.len(),
            "acknowledges": doc.acks.len(), "left": left, "file": out.display().to_string(),
        }));
    } else {
        println!(
            "exported {} message(s) for {to} to {} (bundle {}); it acknowledges {} of {to}'s",
            file.envelopes.len(),
            out.display(),
            &id[..16],
            doc.acks.len()
        );
        if left > 0 {
            eprintln!("{left} more message(s) wait for {to}: export again after this one");
        }
        eprintln!("carry it to {to}; there: tisa bundle import {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(c: &Ctx, path: &std::path::Path) -> Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = BundleFile::from_bytes(&bytes).with_context(|| format!("{} is not a tisa bundle", path.display()))?;
    // Every message against the signed document first: nothing of an
    // altered bundle is sent (the node checks the same, and the signature).
    let (doc, _) = file.envelopes_checked().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // Who it is for, and its signature, the node checks (and says).
    let (mut taken, mut acknowledged, mut first) = (0u32, 0u32, 0usize);
    let mut refused = Vec::new();
    loop {
        let mut envelopes = Vec::new();
        let mut size = 0;
        for e in file.envelopes.iter().skip(first) {
            if !envelopes.is_empty() && size + e.len() > IMPORT_PAGE {
                break;
            }
            size += e.len();
            envelopes.push(e.clone());
        }
        let n = envelopes.len();
        let req = ImportRequest { document: file.document.clone(), first: u32::try_from(first)?, envelopes };
        let reply = call(c, ControlRequest::BundleImport(Box::new(req))).await?;
        let ControlReply::BundleImported { taken: t, acknowledged: a, refused: r } = reply else {
            return Err(unexpected(&reply));
        };
        taken += t;
        acknowledged += a;
        refused.extend(r);
        first += n;
        if first >= file.envelopes.len() {
            break;
        }
    }
    let id = hex(&bundle_id(&file.document));
    if c.json {
        print_json(&json!({
            "bundle": id, "from": doc.from.trigraph(), "messages": taken, "acknowledged": acknowledged,
            "refused": refused,
        }));
    } else {
        println!(
            "imported {taken} message(s) from {} (bundle {}); {acknowledged} of yours acknowledged",
            doc.from,
            &id[..16]
        );
        for r in &refused {
            eprintln!("refused: {r}");
        }
        eprintln!(
            "see tisa inbox / tisa status / tisa pending; answers go back with `tisa bundle export --to {}`",
            doc.from.lower()
        );
    }
    if !refused.is_empty() {
        if !c.json {
            eprintln!("error: {} of the bundle's {taken} message(s) refused by the rules (audited; {} learns in your next bundle)", refused.len(), doc.from);
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn show(path: &std::path::Path, json: bool) -> Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = BundleFile::from_bytes(&bytes).with_context(|| format!("{} is not a tisa bundle", path.display()))?;
    let (doc, envelopes) = file.envelopes_checked().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let items: Vec<serde_json::Value> = envelopes
        .iter()
        .map(|e| {
            let (report, revision) = e.payload.report_revision().map_or((None, None), |(id, r)| (Some(id.as_str()), r));
            json!({"message_id": e.message_id.as_str(), "kind": e.payload.kind(), "report_id": report, "revision": revision})
        })
        .collect();
    if json {
        print_json(&json!({
            "bundle": hex(&bundle_id(&file.document)), "from": doc.from.trigraph(), "to": doc.to.trigraph(),
            "created_at_ms": doc.created_at.as_millis(), "agreement_version": doc.agreement.version,
            "acknowledges": doc.acks.len(), "messages": items, "signature_verified": false,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "bundle {} from {} for {}, exported {} under agreement {}; acknowledges {} message(s)",
        &hex(&bundle_id(&file.document))[..16],
        doc.from,
        doc.to,
        tisa_kit::util::utc(doc.created_at.as_millis()),
        doc.agreement,
        doc.acks.len()
    );
    for i in &items {
        println!(
            "  {:<10} {}  {} {}",
            i["kind"].as_str().unwrap_or("-"),
            i["message_id"].as_str().unwrap_or("-"),
            i["report_id"].as_str().unwrap_or("-"),
            i["revision"].as_u64().map_or(String::new(), |r| format!("r{r}"))
        );
    }
    eprintln!("(the signature is verified by `tisa bundle import` at {})", doc.to);
    Ok(ExitCode::SUCCESS)
}
