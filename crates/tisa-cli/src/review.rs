//! What an approver reads before deciding and what they signed: `tisa show`
//! (a release request or a report, whole), `tisa pending [--full]`, and
//! `tisa approve|deny`, which echo the report's title and the signed decision.

use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tisa_core::sign::{sha256, DecisionDoc, Manifest};
use tisa_core::{Content, Decision, InboxEntry, Page, PendingView, ReportId, RequestId, RevisionStatus, Signed};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use tisa_kit::operator::{ask, call, decide_signed, decide_viewed, find_request, pending_for, unexpected, Refused};
use tisa_kit::Ctx;

use crate::commands::{header_json, inbox_entry_json, print_inbox_entry, print_json, print_status, status_json};

/// `tisa pending`: open release requests, titles only; with `full`, each
/// with the whole report (one more question to the node per report).
pub async fn pending(c: &Ctx, after: Option<String>, limit: usize, full: bool) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::Pending(ListQuery { after, limit, ..ListQuery::default() })).await?;
    let ControlReply::Pending(Page { mut items, next_after: next }) = reply else { return Err(unexpected(&reply)) };
    if full && !items.is_empty() {
        let client = c.client().await?;
        let mut whole: Vec<PendingView> = Vec::new();
        for i in &items {
            if !whole.iter().any(|w| w.header.id == i.header.id) {
                whole.extend(pending_for(&client, &i.header.id).await?);
            }
        }
        for i in &mut items {
            if let Some(w) = whole.iter().find(|w| w.request.request_id == i.request.request_id) {
                i.content = w.content.clone();
            }
        }
    }
    if c.json {
        let items: Vec<Value> = items.iter().map(pending_json).collect();
        print_json(&json!({"items": items, "next_after": next}));
    } else if items.is_empty() {
        println!("no release requests awaiting {}'s decision", c.party);
    } else {
        for i in &items {
            let h = &i.header;
            println!(
                "{}  release {} r{} to {}?  {} {}  \"{}\"{}  expires {}",
                i.request.request_id,
                h.id,
                h.revision,
                i.request.recipient,
                h.category,
                h.classification,
                i.title.expose(),
                if i.has_tearline { "  [has tearline]" } else { "" },
                i.request.expires_at,
            );
            if full {
                print_pending_details(i);
            }
        }
        if let Some(n) = next {
            println!("more: --after {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One pending request in `--json` (with `body`, `tearline`, `source` and
/// the submitter when the whole report is there).
fn pending_json(i: &PendingView) -> Value {
    let mut v = header_json(&i.header);
    v["request_id"] = json!(i.request.request_id.as_str());
    v["recipient"] = json!(i.request.recipient.trigraph());
    v["requested_at_ms"] = json!(i.request.requested_at.as_millis());
    v["expires_at_ms"] = json!(i.request.expires_at.as_millis());
    v["title"] = json!(i.title.expose());
    v["has_tearline"] = json!(i.has_tearline);
    if let Some(content) = &i.content {
        v["body"] = json!(content.body.expose());
        v["tearline"] = json!(content.tearline.as_ref().map(|t| t.expose()));
        v["source"] = json!(content.source.expose());
        v["submitter"] = submitter_json(&i.manifest);
    }
    v
}

/// Who submitted the revision, as its signed manifest says (the node
/// verified the submitter's signature when it took the report).
fn submitter_json(manifest: &Signed) -> Value {
    match Manifest::parse(&manifest.bytes) {
        Ok(m) => json!({"name": m.submitted_by, "key_id": m.submitter_key.map(|k| k.to_string())}),
        Err(_) => Value::Null,
    }
}

fn submitter_line(manifest: &Signed) -> String {
    match Manifest::parse(&manifest.bytes) {
        Ok(m) => match m.submitter_key {
            Some(k) => format!("{} (key id {k}, signature verified by the node)", m.submitted_by),
            None => format!("{} (no signed submission)", m.submitted_by),
        },
        Err(_) => "unknown (unreadable manifest)".to_owned(),
    }
}

/// The body, tearline, source and submitter of a pending request (indented).
fn print_pending_details(i: &PendingView) {
    let Some(content) = &i.content else { return };
    print_content(content);
    println!("  submitted by: {}", submitter_line(&i.manifest));
    println!("  requested {}, expires {}", i.request.requested_at, i.request.expires_at);
}

fn print_content(c: &Content) {
    println!("  title:    {}", c.title.expose());
    println!("  body:     {}", c.body.expose());
    match &c.tearline {
        Some(t) => println!("  tearline: {}", t.expose()),
        None => println!("  tearline: (none: only a release in full is possible)"),
    }
    println!("  source:   {}", if c.source.is_empty() { "-" } else { c.source.expose() });
}

/// `tisa show ID`: a release request awaiting your decision (the whole
/// report it would release), or a report: one of yours (every revision,
/// whole, and where it stands with each recipient: open requests, what was
/// released how), or one you received (every revision in your inbox).
pub async fn show(c: &Ctx, id: &str) -> Result<ExitCode> {
    let probe = ControlRequest::Pending(ListQuery::default());
    c.check_signable(&probe)?;
    let client = c.client().await?;
    let request = RequestId::new(id).ok();
    if let Some((rid, report)) = request.as_ref().and_then(|r| Some((r, r.report()?))) {
        let Some(v) = find_request(&client, rid).await? else {
            bail!(
                "{} has no open release request {id} (decided, expired or unknown): `tisa show {report}` shows the report and where it stands",
                c.party
            );
        };
        if c.json {
            print_json(&json!({"request": pending_json(&v)}));
        } else {
            print_request(&v);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = ReportId::new(id)?;
    // One of your own reports: every revision, whole, and where it stands.
    let q = ListQuery { report_id: Some(report.clone()), full: true, ..ListQuery::default() };
    let own = match ask(&client, ControlRequest::Status(q)).await {
        Ok(ControlReply::Status(p)) => p.items,
        Ok(other) => return Err(unexpected(&other)),
        Err(e) if e.downcast_ref::<Refused>().is_some_and(|r| r.code == "UNKNOWN_REPORT") => Vec::new(),
        Err(e) => return Err(e),
    };
    let q = ListQuery { report_id: Some(report.clone()), ..ListQuery::default() };
    let reply = ask(&client, ControlRequest::Inbox(q)).await?;
    let ControlReply::Inbox(Page { items: received, .. }) = reply else { return Err(unexpected(&reply)) };
    if own.is_empty() && received.is_empty() {
        bail!(
            "{report} is neither one of {}'s reports nor in its inbox: check the id (`tisa status`, `tisa inbox`)",
            c.party
        );
    }
    if c.json {
        print_json(&json!({
            "revisions": own.iter().map(own_json).collect::<Vec<_>>(),
            "received": received.iter().map(inbox_entry_json).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for s in &own {
        print_status(s);
        if let Some(r) = &s.report {
            print_content(&r.content);
            println!("  submitted by: {}", submitter_line(&r.manifest));
        }
    }
    print_received(&received);
    Ok(ExitCode::SUCCESS)
}

/// One revision of an own report in `--json`: where it stands, and the whole report.
fn own_json(s: &RevisionStatus) -> Value {
    let mut v = status_json(s);
    if let Some(r) = &s.report {
        v["title"] = json!(r.content.title.expose());
        v["body"] = json!(r.content.body.expose());
        v["tearline"] = json!(r.content.tearline.as_ref().map(|t| t.expose()));
        v["source"] = json!(r.content.source.expose());
        v["submitter"] = submitter_json(&r.manifest);
    }
    v
}

fn print_request(v: &PendingView) {
    let h = &v.header;
    println!(
        "release request {}: {} r{} to {}, awaiting your decision",
        v.request.request_id, h.id, h.revision, v.request.recipient
    );
    println!("  markings: {} {}  REL TO {}  created {}", h.category, h.classification, h.releasable_to, h.created_at);
    print_pending_details(v);
    println!(
        "  decide:   tisa approve {id} [--tearline-only]  |  tisa deny {id} --reason R",
        id = v.request.request_id
    );
}

fn print_received(received: &[InboxEntry]) {
    for e in received {
        print_inbox_entry(e);
        println!("  submitted by: {}", submitter_line(&e.delivery.manifest));
    }
}

/// `tisa approve|deny`: signs the decision with your approver key and says
/// what was decided about which report, and what was signed.
pub async fn decide(c: &Ctx, request_id: &str, decision: Decision) -> Result<ExitCode> {
    let request_id = RequestId::new(request_id)?;
    let key = c.approver()?;
    let client = c.client().await?;
    // The report as it stands before the decision: the decision document
    // is built from it here (its manifest's hash), one round trip fewer;
    // without it (the view could not be read), the node drafts it.
    let before = find_request(&client, &request_id).await.ok().flatten();
    let (reply, doc, bytes) = match &before {
        Some(v) => decide_viewed(&client, &key, v, decision).await?,
        None => decide_signed(&client, &key, request_id, decision).await?,
    };
    let ControlReply::Decided { request_id, decision } = reply else { return Err(unexpected(&reply)) };
    // The title shown is the signed revision's only if its manifest is the one signed.
    let title = before.filter(|v| sha256(&v.manifest.bytes) == doc.manifest_sha256).map(|v| v.title);
    let signed = signed_summary(&doc, &bytes, &key.identity);
    if c.json {
        print_json(&json!({
            "request_id": request_id.as_str(),
            "decision": decision.describe(),
            "report_id": doc.report_id.as_str(),
            "revision": doc.revision,
            "recipient": doc.recipient.trigraph(),
            "title": title.as_ref().map(|t| t.expose()),
            "signed": signed,
        }));
    } else {
        println!("{request_id}: {}", decision.describe());
        let title = title.map(|t| format!(" \"{}\"", t.expose())).unwrap_or_default();
        let what = match decision {
            Decision::ApproveFull => "released in full (title, body, tearline, source)",
            Decision::ApproveTearline => "released as its tearline only",
            Decision::Deny { .. } => "not released, for good",
        };
        println!("  {} r{}{title} to {}: {what}", doc.report_id, doc.revision, doc.recipient);
        println!(
            "  signed by {} (key id {}): decision sha256 {}, over the report's manifest sha256 {}",
            signed["operator"].as_str().unwrap_or_default(),
            signed["key_id"].as_str().unwrap_or_default(),
            signed["sha256"].as_str().unwrap_or_default(),
            signed["manifest_sha256"].as_str().unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What was signed: the decision document's hash, the manifest it covers, who and when.
fn signed_summary(doc: &DecisionDoc, bytes: &[u8], by: &tisa_core::Identity) -> Value {
    let hex = tisa_deploy::chain::hex;
    json!({
        "document": "tisa.v1.decision",
        "sha256": hex(&sha256(bytes)),
        "manifest_sha256": hex(&doc.manifest_sha256),
        "verdict": doc.verdict.as_str(),
        "reason": (!doc.reason.is_empty()).then_some(&doc.reason),
        "decided_at_ms": doc.decided_at.as_millis(),
        "operator": by.name(),
        "key_id": by.key_id().to_string(),
    })
}
