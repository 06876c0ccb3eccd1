//! `tisa audit show|verify|export`: reading a node's audit log
//! (`<data_dir>/audit.log`, see `tisa_node::audit`) offline, also while
//! the node runs.
//!
//! The chain head a node records after every input lives in two places: its
//! redb store and the `audit.head` side file. redb lets one process open the
//! store at a time, so while the node runs only the side file is readable;
//! `verify` reads the side file first, then the store when it can (node
//! stopped, read-only, nothing repaired), then the log (in that order, so a
//! node appending meanwhile never makes a good log look truncated).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use tisa_core::{KeyEntry, KeyRole, Party, Policy};
use tisa_node::audit::{self as log, Entry, KnownHead, SignedHead, HEAD_DOC, HEAD_FILE, LOG_FILE};

/// `tisa audit …`
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the audit log's entries (ids and enum names only).
    Show(ShowArgs),
    /// Check the chain, the signed heads and that nothing was cut off the end; exits non-zero on failure.
    Verify(VerifyArgs),
    /// Write a self-contained copy for an auditor: the entries, the latest signed head and its public key.
    Export(ExportArgs),
}

/// Which node's data directory.
#[derive(Args, Debug)]
pub struct Where {
    /// The node's data directory (holds audit.log) [default: tisa-data/<party>].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The node's party (kr|us|jp), for the default data directory.
    #[arg(long)]
    party: Option<Party>,
}

impl Where {
    fn dir(&self) -> Result<PathBuf> {
        match (&self.data_dir, self.party) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(p)) => Ok(PathBuf::from("tisa-data").join(p.lower())),
            (None, None) => bail!("which node? give --data-dir DIR or --party kr|us|jp (reads tisa-data/<party>)"),
        }
    }
}

/// `tisa audit show`
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    at: Where,
    /// Print the entries as JSON lines, as stored.
    #[arg(long)]
    json: bool,
    /// Only the last N entries.
    #[arg(long)]
    limit: Option<usize>,
}

/// `tisa audit verify`
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    at: Where,
    /// The agreement registering the node's key (HEAD signatures are checked against it) [default: built-in].
    #[arg(long, env = "TISA_AGREEMENT")]
    agreement: Option<PathBuf>,
    /// Verify an export (`tisa audit export`) instead of a data directory.
    #[arg(long, conflicts_with_all = ["data_dir", "party"])]
    export: Option<PathBuf>,
    /// A peer's audit log (its data directory or audit.log), repeatable: the signed
    /// audit heads this log's party put in its receipts, which the peer recorded, must
    /// all be reached — so entries cut off the end are detected even if this node's
    /// own recorded heads were lost with them.
    #[arg(long = "peer-log", value_name = "PATH")]
    peer_logs: Vec<PathBuf>,
}

/// `tisa audit export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    at: Where,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
}

/// An export: everything an auditor needs to check the log on their own.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Export {
    format: String,
    party: Option<String>,
    exported_at_ms: u64,
    /// How to check it.
    how_to_verify: String,
    /// The chain head: the last entry's seq and hash.
    head_seq: u64,
    head_hash: String,
    /// The latest HEAD entry: the signed head.
    signed_head: Option<Entry>,
    /// Entries after the signed head (chained, not yet signed).
    unsigned_after: u64,
    /// The node key's name and public half (hex) the signed head verifies with.
    signer: Option<String>,
    public_key: Option<String>,
    /// The entries, as stored.
    entries: Vec<Entry>,
}

const EXPORT_FORMAT: &str = "tisa-audit-export-v1";

/// Runs `tisa audit …`.
pub fn run(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Show(a) => show(&a.at.dir()?, a.json, a.limit),
        AuditCommand::Verify(a) => match &a.export {
            Some(f) => verify_export(f, a.agreement.as_deref(), &a.peer_logs),
            None => verify(&a.at.dir()?, a.at.party, a.agreement.as_deref(), &a.peer_logs),
        },
        AuditCommand::Export(a) => export(&a.at.dir()?, &a.out),
    }
}

fn read_log(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join(LOG_FILE);
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn show(dir: &Path, json: bool, limit: Option<usize>) -> Result<ExitCode> {
    let bytes = read_log(dir)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let skip = limit.map_or(0, |n| lines.len().saturating_sub(n));
    for (i, line) in lines.iter().enumerate().skip(skip) {
        // Lenient: show what is there; `verify` judges it.
        let Ok(e) = serde_json::from_str::<Entry>(line) else {
            eprintln!("line {}: unreadable entry (run `tisa audit verify`)", i + 1);
            continue;
        };
        if json {
            println!("{line}");
            continue;
        }
        let report = match (&e.report_id, e.revision) {
            (Some(r), Some(v)) => format!(" report={r} rev={v}"),
            (Some(r), None) => format!(" report={r}"),
            _ => String::new(),
        };
        let opt = |k: &str, v: &Option<String>| v.as_ref().map(|v| format!(" {k}={v}")).unwrap_or_default();
        let input = e.input_seq.map(|s| format!(" [input {s}]")).unwrap_or_default();
        println!(
            "{:>6} {} {} {:<18} actor={}{report}{}{}{} {}{input}",
            e.seq,
            tisa_kit::util::utc(e.at_ms),
            e.party,
            e.kind,
            e.actor,
            opt("request", &e.request_id),
            opt("to", &e.recipient),
            opt("grant", &e.grant_id),
            readable_detail(&e.detail),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Heads recorded outside the log: the side file, then the store (if it can
/// be opened: not while the node runs). Read before the log.
fn recorded_heads(dir: &Path) -> Result<(Vec<KnownHead>, String)> {
    let mut known = Vec::new();
    let mut notes = Vec::new();
    match log::read_head_file(dir) {
        Ok(Some((seq, hash))) => {
            known.push(KnownHead { source: HEAD_FILE.into(), seq, hash });
            notes.push(HEAD_FILE.to_owned());
        }
        Ok(None) => {}
        Err(e) => bail!("{}: {e}", dir.join(HEAD_FILE).display()),
    }
    match tisa_node::store::read_audit_head(dir) {
        Ok(Some((seq, hash))) => {
            known.push(KnownHead { source: "the node store".into(), seq, hash });
            notes.push("the node store".to_owned());
        }
        Ok(None) => {}
        // Busy (node running) or awaiting recovery: the side file stands in.
        Err(_) => notes.push("not the node store (in use)".to_owned()),
    }
    Ok((known, notes.join(", ")))
}

/// The audit heads of `party` that peers recorded from its signed receipts
/// (`peer_head` of their RECEIPT entries), from each peer's data directory
/// or audit.log.
fn peer_heads(paths: &[PathBuf], party: Option<&str>) -> Result<Vec<KnownHead>> {
    let mut out = Vec::new();
    let Some(party) = party else { return Ok(out) };
    for p in paths {
        let file = if p.is_dir() { p.join(LOG_FILE) } else { p.clone() };
        let bytes = std::fs::read(&file).with_context(|| format!("cannot read peer log {}", file.display()))?;
        let entries = log::parse_lines(&bytes).map_err(|e| anyhow::anyhow!("peer log {}: {e}", file.display()))?;
        for e in &entries {
            let Some(h) = e.peer_head.as_ref().filter(|h| h.party == party) else { continue };
            let hash = log::unhex32(&h.hash)
                .ok_or_else(|| anyhow::anyhow!("peer log {}: seq {}: malformed peer head", file.display(), e.seq))?;
            out.push(KnownHead {
                source: format!("{}'s audit log {} (seq {}, from a signed receipt)", e.party, file.display(), e.seq),
                seq: h.seq,
                hash,
            });
        }
    }
    Ok(out)
}

/// The party of a log's first entry, if it parses.
fn log_party(bytes: &[u8]) -> Option<String> {
    log::parse_lines(bytes).ok()?.first().map(|e| e.party.clone())
}

fn party_hint(party: Option<&str>) -> String {
    party.map(|p| format!(" of {p}")).unwrap_or_default()
}

fn verify(dir: &Path, party: Option<Party>, agreement: Option<&Path>, peer_logs: &[PathBuf]) -> Result<ExitCode> {
    let a = tisa_deploy::agreement::load(agreement)?;
    let (mut known, mut against) = recorded_heads(dir)?;
    let bytes = read_log(dir)?;
    // Whose log: its entries say; an empty one needs --party.
    let party = match (log_party(&bytes), party) {
        (Some(p), _) => Some(p),
        (None, Some(p)) => Some(p.to_string()),
        (None, None) if !peer_logs.is_empty() => {
            bail!("audit log {} has no entries: give --party to check it against peer-recorded heads", dir.display())
        }
        (None, None) => None,
    };
    let peers = peer_heads(peer_logs, party.as_deref())?;
    if !peer_logs.is_empty() {
        against =
            format!("{against}{}{} peer-recorded head(s)", if against.is_empty() { "" } else { ", " }, peers.len());
    }
    known.extend(peers);
    let path = dir.join(LOG_FILE);
    let s = match log::verify(&bytes, Some(&a.policy), &known) {
        Ok(s) => s,
        Err(e) => {
            let hint = if agreement.is_none() && e.reason.contains("signature") {
                " (give --agreement FILE: the agreement registering the node's key)"
            } else {
                ""
            };
            bail!("audit log {} FAILED: {e}{hint}", path.display())
        }
    };
    let signed = s
        .last_head
        .as_ref()
        .and_then(|h| h.head.as_ref().map(|sh| format!(", signed up to seq {} by {}", sh.seq, sh.signer)))
        .unwrap_or_default();
    println!(
        "audit log {} OK: {} entries{}, head seq {} hash {}, {} HEAD signature(s) verified{signed}; end checked against {}",
        path.display(),
        s.entries,
        party_hint(s.party.as_deref()),
        s.entries,
        &s.last_hash[..16],
        s.heads,
        if against.is_empty() { "nothing (no recorded head)".to_owned() } else { against },
    );
    Ok(ExitCode::SUCCESS)
}

fn export(dir: &Path, out: &Path) -> Result<ExitCode> {
    let (known, _) = recorded_heads(dir)?;
    let bytes = read_log(dir)?;
    // Strict parse (the export carries entries, re-serialised canonically).
    let entries =
        log::parse_lines(&bytes).map_err(|e| anyhow::anyhow!("audit log {}: {e}", dir.join(LOG_FILE).display()))?;
    let last_head_at = entries.iter().rposition(|e| e.kind == "HEAD");
    let signed_head = last_head_at.map(|i| entries[i].clone());
    let sh: Option<&SignedHead> = signed_head.as_ref().and_then(|e| e.head.as_ref());
    let party = entries.first().map(|e| e.party.clone());
    let x = Export {
        format: EXPORT_FORMAT.into(),
        party: party.clone(),
        exported_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
        how_to_verify: format!(
            "entries[i].hash = SHA-256(bytes of hex entries[i].prev ‖ entries[i] serialised as compact JSON in field order without \"hash\"), \
prev of the first = 64 zeros, seq 1,2,3…; a HEAD entry's head signs \"{HEAD_DOC}\\nparty=<party>\\nseq=<seq>\\nhash=<hash>\\n\" \
(ed25519 over \"tisa-signature-v1\\0\" ‖ document) with public_key, which the agreement must register as the party's node key. \
`tisa audit verify --export FILE --agreement AGREEMENT` does all of this."
        ),
        head_seq: entries.last().map_or(0, |e| e.seq),
        head_hash: entries.last().map_or_else(|| log::hex(&[0; 32]), |e| e.hash.clone()),
        unsigned_after: last_head_at.map_or(entries.len(), |i| entries.len() - i - 1) as u64,
        signer: sh.map(|h| h.signer.clone()),
        public_key: sh.map(|h| h.public.clone()),
        signed_head: signed_head.clone(),
        entries,
    };
    let text = serde_json::to_string_pretty(&x)?;
    // Who did what, when: the owner's only (0600), like the log it comes from.
    tisa_fs::write_private(out, (text + "\n").as_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
    // Check what was exported (against its own key: the auditor checks the key with the agreement).
    let check = log::verify(&bytes, export_policy(&x).as_ref(), &known);
    match check {
        Ok(s) => {
            println!(
                "wrote {}: {} entries{}, signed head at seq {}, {} entries after it",
                out.display(),
                s.entries,
                party_hint(party.as_deref()),
                sh.map_or("-".to_owned(), |h| h.seq.to_string()),
                x.unsigned_after
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!("wrote {}, but the log does not verify: {e}", out.display()),
    }
}

/// A policy registering only the export's own key (self-consistency).
fn export_policy(x: &Export) -> Option<Policy> {
    let party: Party = x.party.as_deref()?.parse().ok()?;
    let public = <[u8; 32]>::try_from(log::unhex(x.public_key.as_deref()?)?).ok()?;
    let name = x.signer.clone()?;
    Some(Policy { keys: vec![KeyEntry { party, name, role: KeyRole::Node, public }], ..Policy::default() })
}

fn verify_export(file: &Path, agreement: Option<&Path>, peer_logs: &[PathBuf]) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let x: Export =
        serde_json::from_str(&text).with_context(|| format!("{} is not an audit export", file.display()))?;
    if x.format != EXPORT_FORMAT {
        bail!("{}: unknown export format {:?}", file.display(), x.format);
    }
    let mut bytes = Vec::new();
    for e in &x.entries {
        bytes.extend_from_slice(&e.line());
        bytes.push(b'\n');
    }
    let (policy, against) = match agreement {
        Some(p) => (tisa_deploy::agreement::load(Some(p))?.policy, "the agreement's node key"),
        None => match export_policy(&x) {
            Some(p) => (p, "the export's own key only (give --agreement to check it is the registered one)"),
            None if x.signed_head.is_none() => (Policy::default(), "no key (no signed head)"),
            None => bail!("{}: the export's signer or public key is malformed", file.display()),
        },
    };
    let mut known = match log::unhex32(&x.head_hash) {
        Some(hash) => vec![KnownHead { source: "the export's head".into(), seq: x.head_seq, hash }],
        None => bail!("{}: head_hash is malformed", file.display()),
    };
    known.extend(peer_heads(peer_logs, x.party.as_deref())?);
    match log::verify(&bytes, Some(&policy), &known) {
        Ok(s) => {
            println!(
                "audit export {} OK: {} entries{}, {} HEAD signature(s) verified with {against}",
                file.display(),
                s.entries,
                party_hint(s.party.as_deref()),
                s.heads
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let e = e.to_string().replace("line ", "entry ");
            bail!("audit export {} FAILED: {e}", file.display())
        }
    }
}

/// An entry's detail as text output shows it: each `<name>_ms=<Unix ms>`
/// (how the log records a time) as `<name>=<RFC 3339 UTC>`; the rest as is.
fn readable_detail(detail: &str) -> String {
    detail
        .split(' ')
        .map(|word| {
            let time = word.split_once("_ms=").and_then(|(name, ms)| Some((name, ms.parse::<u64>().ok()?)));
            match time {
                Some((name, ms)) => format!("{name}={}", tisa_kit::util::utc(ms)),
                None => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_details_show_times_in_rfc3339() {
        assert_eq!(
            readable_detail("verdict=APPROVE approver_party=KOR decided_at_ms=1716820330000"),
            "verdict=APPROVE approver_party=KOR decided_at=2024-05-27T14:32:10Z"
        );
        assert_eq!(readable_detail("not_after_ms=- tearline_only=false"), "not_after_ms=- tearline_only=false");
    }
}
