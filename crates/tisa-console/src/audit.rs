//! The audit page: the node's audit log (its latest entries: ids and enum
//! names only) and its verification — the hash chain, every signed head
//! against the agreement's registered node key, and that the log reaches
//! the head the node recorded beside it (nothing cut off the end).
//!
//! The log is a file of the node's data directory, so the page needs the
//! console to run on the node's machine with `--data-dir`; otherwise it
//! says so. It is read fresh on each view (the node appends meanwhile).

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use tisa_node::audit::{self as log, Entry, KnownHead, Summary, HEAD_FILE, LOG_FILE};

use crate::routes::{logged_in, page as answer};
use crate::Console;

/// How many of the latest entries the page lists.
pub const SHOWN: usize = 200;

/// What the page found in a data directory.
pub struct AuditView {
    /// The latest entries, newest first.
    pub entries: Vec<Entry>,
    /// How many the log holds.
    pub total: usize,
    /// The verification: what it found, or why it failed.
    pub verified: Result<Summary, String>,
}

/// Reads and verifies `dir`'s audit log against `policy`: the recorded
/// head is read before the log, so a node appending meanwhile never makes
/// a good log look cut short.
pub fn read(dir: &Path, policy: &tisa_core::Policy) -> Result<AuditView, String> {
    let mut known = Vec::new();
    match log::read_head_file(dir) {
        Ok(Some((seq, hash))) => known.push(KnownHead { source: HEAD_FILE.into(), seq, hash }),
        Ok(None) => {}
        Err(e) => return Err(format!("{}: {e}", dir.join(HEAD_FILE).display())),
    }
    let path = dir.join(LOG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let verified = log::verify(&bytes, Some(policy), &known).map_err(|e| e.to_string());
    let mut entries = log::parse_lines(&bytes).unwrap_or_default();
    let total = entries.len();
    entries.reverse();
    entries.truncate(SHOWN);
    Ok(AuditView { entries, total, verified })
}

/// `GET /audit`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match logged_in(&c, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let body = match &c.audit {
        None => html! {
            h1 { "Audit log" }
            p.error { "This console cannot read the node's audit log: start it on the node's machine with \
                       --data-dir DIR (the node's data directory)." }
        },
        Some((dir, policy)) => match read(dir, policy) {
            Ok(v) => render(&v),
            Err(e) => html! { h1 { "Audit log" } p.error { (e) } },
        },
    };
    answer(&c, &s, "Audit", body)
}

/// The verification, then the entries.
pub fn render(v: &AuditView) -> Markup {
    html! {
        h1 { "Audit log" }
        @match &v.verified {
            Ok(s) => p.ok id="verdict" {
                "Verified: " (s.entries) " entries chained, " (s.heads) " signed heads valid, the recorded head reached; last hash "
                code { (s.last_hash) }
            },
            Err(e) => p.error id="verdict" { "NOT VERIFIED: " (e) },
        }
        p.count { "The latest " (v.entries.len()) " of " (v.total) " entries, newest first" }
        table id="entries" {
            thead { tr { th { "Seq" } th { "At" } th { "Kind" } th { "Actor" } th { "Report" } th { "Request / to / grant" } th { "Detail" } } }
            tbody {
                @for e in &v.entries {
                    tr {
                        td { (e.seq) }
                        td { (tisa_core::Timestamp(e.at_ms)) }
                        td { (e.kind) }
                        td { (e.actor) }
                        td { @if let Some(r) = &e.report_id { (r) @if let Some(n) = e.revision { " r" (n) } } }
                        td {
                            @if let Some(r) = &e.request_id { (r) " " }
                            @if let Some(r) = &e.recipient { "to " (r) " " }
                            @if let Some(g) = &e.grant_id { (g) }
                        }
                        td { (e.detail) }
                    }
                }
            }
        }
    }
}
