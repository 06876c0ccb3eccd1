//! The operator commands: each connects to the party's broker, asks its own
//! node over the private control subjects, and prints text or JSON.

use std::process::ExitCode;

use anyhow::{bail, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use tisa_core::{
    Category, Classification, Content, Delivery, HubState, InboxEntry, Page, PartySet, RecipientState, Released,
    ReportDraft, ReportHeader, ReportId, RevisionStatus, Sensitive, Timestamp,
};
use tisa_transport::control::hub_code;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery, Retract, WatchEvent};

use tisa_kit::operator::{call, unexpected};
use tisa_kit::util::utc;
use tisa_kit::Ctx;

/// What `tisa submit` collected.
pub struct SubmitInput {
    pub category: Category,
    pub classification: Classification,
    pub rel_to: PartySet,
    pub title: String,
    pub body: String,
    pub tearline: Option<String>,
    pub source: String,
    pub corrects: Option<String>,
    pub source_key: Option<String>,
    /// Pass it off-line only.
    pub offline: bool,
}

pub(crate) fn print_json(v: &Value) {
    println!("{v}");
}

pub(crate) fn header_json(h: &ReportHeader) -> Value {
    json!({
        "report_id": h.id.as_str(),
        "revision": h.revision,
        "originator": h.originator.trigraph(),
        "created_at_ms": h.created_at.as_millis(),
        "category": h.category.as_str(),
        "classification": h.classification.as_str(),
        "releasable_to": h.releasable_to.iter().map(|p| p.trigraph()).collect::<Vec<_>>(),
    })
}

/// Refuses a field over its limit before anything is sent, naming the field,
/// its size and the limit (the node checks the same limits).
fn check_size(field: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        bail!("{field} is {} bytes; the limit is {max} bytes", text.len());
    }
    Ok(())
}

pub async fn submit(c: &Ctx, input: SubmitInput) -> Result<ExitCode> {
    use tisa_core::node::limits;
    check_size("title", &input.title, limits::TITLE)?;
    check_size("body", &input.body, limits::BODY)?;
    if let Some(t) = &input.tearline {
        check_size("tearline", t, limits::TEARLINE)?;
    }
    check_size("source", &input.source, limits::SOURCE)?;
    let corrects = input.corrects.map(ReportId::new).transpose()?;
    let draft = ReportDraft {
        offline: input.offline,
        category: input.category,
        classification: input.classification,
        releasable_to: input.rel_to,
        content: Content {
            title: Sensitive::new(input.title),
            body: Sensitive::new(input.body),
            tearline: input.tearline.map(Sensitive::new),
            source: Sensitive::new(input.source),
        },
        corrects,
        // Who submitted is what the node verifies: the key that signs the
        // request (its name and key id), never a field of the request.
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: input.source_key,
    };
    let reply = call(c, ControlRequest::Submit(draft)).await?;
    let ControlReply::Submitted(s) = reply else { return Err(unexpected(&reply)) };
    let (report_id, revision, notes, duplicate) = (s.header.id, s.header.revision, s.notes, s.duplicate);
    if c.json {
        print_json(&json!({
            "report_id": report_id.as_str(),
            "revision": revision,
            "duplicate": duplicate,
            "notes": notes.iter().map(|n| json!({"recipient": n.recipient.trigraph(), "code": n.why.code(), "detail": n.why.to_string()})).collect::<Vec<_>>(),
        }));
    } else {
        println!("{report_id}");
        if duplicate {
            eprintln!("already submitted with this content (revision {revision}); nothing sent");
        } else if revision > 1 {
            eprintln!("revision {revision}: needs its own release approval");
        }
        for n in &notes {
            eprintln!("note: will not be released to {}: {} — it stays bilateral with USA", n.recipient, n.why);
        }
        if input.offline {
            eprintln!(
                "off-line: approve its release (tisa pending, tisa approve), then `tisa bundle export --to us --out FILE` for the courier"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn delivery_json(d: &Delivery) -> Value {
    let mut v = header_json(&d.header);
    v["basis"] = json!(format!("{:?}", d.basis).to_uppercase());
    v["request_id"] = json!(d.request_id.as_ref().map(|r| r.as_str()));
    match &d.released {
        Released::Full(c) => {
            v["tearline_only"] = json!(false);
            v["title"] = json!(c.title.expose());
            v["body"] = json!(c.body.expose());
            v["tearline"] = json!(c.tearline.as_ref().map(|t| t.expose()));
            v["source"] = json!(c.source.expose());
        }
        Released::Tearline(t) => {
            v["tearline_only"] = json!(true);
            v["title"] = Value::Null;
            v["body"] = Value::Null;
            v["tearline"] = json!(t.expose());
            v["source"] = Value::Null;
        }
    }
    v
}

/// One inbox entry in `--json`.
pub(crate) fn inbox_entry_json(e: &InboxEntry) -> Value {
    let (d, at, retracted) = (&e.delivery, e.received_at, &e.retracted);
    let mut v = delivery_json(d);
    v["received_at_ms"] = json!(at.as_millis());
    v["retracted"] = json!(retracted.is_some());
    v["retracted_at_ms"] = json!(retracted.as_ref().map(|r| r.retracted_at.as_millis()));
    v["retraction_reason"] = json!(retracted.as_ref().map(|r| r.reason.expose()));
    v["offline"] = json!(e.offline);
    v
}

/// One inbox entry as text: its header line, then what was released.
pub(crate) fn print_inbox_entry(e: &InboxEntry) {
    let (d, at, retracted) = (&e.delivery, e.received_at, &e.retracted);
    let h = &d.header;
    println!(
        "{} r{}  from {}  {} {}  REL TO {}  received {}{}",
        h.id,
        h.revision,
        h.originator,
        h.category,
        h.classification,
        h.releasable_to,
        at,
        if e.offline { "  (off-line)" } else { "" }
    );
    if let Some(r) = retracted {
        println!("  RETRACTED by {} at {}: {}", h.originator, r.retracted_at, r.reason.expose());
    }
    match &d.released {
        Released::Full(content) => {
            println!("  title:    {}", content.title.expose());
            println!("  body:     {}", content.body.expose());
            if let Some(t) = &content.tearline {
                println!("  tearline: {}", t.expose());
            }
            if !content.source.is_empty() {
                println!("  source:   {}", content.source.expose());
            }
        }
        Released::Tearline(t) => println!("  tearline only: {}", t.expose()),
    }
}

pub async fn inbox(c: &Ctx, after: Option<String>, limit: usize, filter: tisa_core::InboxFilter) -> Result<ExitCode> {
    let filtered = filter != tisa_core::InboxFilter { newest_first: filter.newest_first, ..Default::default() };
    let reply =
        call(c, ControlRequest::Inbox(ListQuery { after, limit, inbox: filter, ..ListQuery::default() })).await?;
    let ControlReply::Inbox(Page { items, next_after: next }) = reply else { return Err(unexpected(&reply)) };
    if c.json {
        let items: Vec<Value> = items.iter().map(inbox_entry_json).collect();
        print_json(&json!({"items": items, "next_after": next}));
    } else if items.is_empty() && filtered {
        println!("no report in {}'s inbox matches", c.party);
    } else if items.is_empty() {
        println!("{}'s inbox is empty", c.party);
    } else {
        for e in &items {
            print_inbox_entry(e);
        }
        if let Some(n) = next {
            println!("more: --after {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a watch event is about a live track (`report_id` is then the
/// track id and `revision` its sequence number).
fn is_track(w: &WatchEvent) -> bool {
    w.kind == "TRACK" || w.kind == "TRACK_FORWARDED"
}

pub(crate) fn watch_json(w: &WatchEvent) -> Value {
    if is_track(w) {
        return json!({
            "kind": w.kind,
            "at_ms": w.at.as_millis(),
            "track_id": w.report_id,
            "seq": w.revision,
            "originator": w.originator.map(|p| p.trigraph()),
            "recipient": w.recipient.map(|p| p.trigraph()),
            "category": w.category.map(|c| c.as_str()),
            "classification": w.classification.map(|c| c.as_str()),
            "detail": w.detail,
        });
    }
    json!({
        "kind": w.kind,
        "at_ms": w.at.as_millis(),
        "report_id": w.report_id,
        "revision": w.revision,
        "request_id": w.request_id,
        "originator": w.originator.map(|p| p.trigraph()),
        "recipient": w.recipient.map(|p| p.trigraph()),
        "category": w.category.map(|c| c.as_str()),
        "classification": w.classification.map(|c| c.as_str()),
        "tearline_only": w.tearline_only,
        "title": w.title.as_ref().map(|t| t.expose()),
        "detail": w.detail,
    })
}

pub(crate) fn watch_line(w: &WatchEvent) -> String {
    let mut s = format!("{}  {:<18}", utc(w.at.as_millis()), w.kind);
    if is_track(w) {
        // TRACK: latest position, altitude, time since launch and predicted impact (in `detail`).
        s.push_str(&format!(" {} #{}", w.report_id.as_deref().unwrap_or("-"), w.revision));
        if let Some(o) = w.originator {
            s.push_str(&format!(" from {o}"));
        }
        if let Some(r) = w.recipient {
            s.push_str(&format!(" to {r}"));
        }
        if let Some(k) = w.classification {
            s.push_str(&format!(" {k}"));
        }
        s.push_str(&format!(" — {}", tisa_core::text::loggable(&w.detail)));
        return s;
    }
    if let Some(r) = &w.report_id {
        s.push_str(&format!(" {r} r{}", w.revision));
    }
    if let Some(o) = w.originator {
        s.push_str(&format!(" from {o}"));
    }
    if let Some(r) = w.recipient {
        s.push_str(&format!(" to {r}"));
    }
    if let (Some(c), Some(k)) = (w.category, w.classification) {
        s.push_str(&format!(" {c} {k}"));
    }
    if let Some(t) = &w.title {
        s.push_str(&format!(" \"{}\"", tisa_core::text::loggable(t.expose())));
    }
    if !w.detail.is_empty() {
        s.push_str(&format!(" — {}", tisa_core::text::loggable(&w.detail)));
    }
    s
}

pub async fn watch(c: &Ctx, count: Option<usize>) -> Result<ExitCode> {
    let client = ControlClient::connect(&c.ep, c.party, c.timeout).await?;
    // Fail early and clearly if the node is not there.
    client.call(&ControlRequest::Health).await?;
    let mut events = client.watch().await?;
    if !c.json {
        eprintln!("watching {} (Ctrl-C to stop)", c.party);
    } else {
        eprintln!("watching");
    }
    let mut seen = 0usize;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                // A track window's commit (`TRACK_WINDOW`) is bookkeeping:
                // its updates were shown as they came; it is in the audit log.
                Some(Ok(w)) if w.kind == "TRACK_WINDOW" => {}
                Some(Ok(w)) => {
                    if c.json { print_json(&watch_json(&w)) } else { println!("{}", watch_line(&w)) }
                    seen += 1;
                    if count.is_some_and(|n| seen >= n) { break; }
                }
                Some(Err(e)) => eprintln!("warning: unreadable event: {e}"),
                None => bail!("the connection to NATS closed"),
            },
            _ = tisa_kit::util::shutdown_signal() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `tisa tracks`: the latest update of every track the node knows.
pub async fn tracks(c: &Ctx, after: Option<String>, limit: usize) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::Tracks(ListQuery { after, limit, ..ListQuery::default() })).await?;
    let ControlReply::Tracks(Page { items, next_after: next }) = reply else { return Err(unexpected(&reply)) };
    let deg = |v: i32| f64::from(v) / 1e6;
    if c.json {
        let items: Vec<Value> = items
            .iter()
            .map(|e| {
                let (u, received) = (&e.update, e.received_at);
                let d = &u.doc;
                json!({
                    "track_id": d.track_id.as_str(),
                    "seq": d.seq,
                    "originator": d.originator.trigraph(),
                    "classification": d.classification.as_str(),
                    "releasable_to": d.releasable_to.iter().map(|p| p.trigraph()).collect::<Vec<_>>(),
                    "launch": {"lat": deg(d.launch.lat_e6), "lon": deg(d.launch.lon_e6), "at_ms": d.launched_at.as_millis()},
                    "position": {
                        "lat": deg(d.position.lat_e6),
                        "lon": deg(d.position.lon_e6),
                        "alt_km": f64::from(d.altitude_m) / 1000.0,
                        "at_ms": d.observed_at.as_millis(),
                    },
                    "since_launch_s": d.observed_at.saturating_since(d.launched_at).as_secs(),
                    "impact": d.impact.map(|p| json!({"lat": deg(p.lat_e6), "lon": deg(p.lon_e6)})),
                    "issued_at_ms": d.issued_at.as_millis(),
                    "grant_id": u.consent.as_ref().map(|g| g.doc.grant_id.clone()),
                    "received_at_ms": received.as_millis(),
                })
            })
            .collect();
        print_json(&json!({"items": items, "next_after": next}));
    } else if items.is_empty() {
        println!("{} knows no tracks", c.party);
    } else {
        for e in &items {
            let u = &e.update;
            let d = &u.doc;
            println!(
                "{} #{}  from {} {}  launched {} at {}  {}",
                d.track_id,
                d.seq,
                d.originator,
                d.classification,
                d.launch,
                utc(d.launched_at.as_millis()),
                tisa_transport::control::track_detail(u)
            );
        }
    }
    if let (false, Some(n)) = (c.json, &next) {
        eprintln!("more: --after {n}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(c: &Ctx, report_id: Option<String>, after: Option<String>, limit: usize) -> Result<ExitCode> {
    let report_id = report_id.map(ReportId::new).transpose()?;
    let reply = call(c, ControlRequest::Status(ListQuery { after, limit, report_id, ..ListQuery::default() })).await?;
    let ControlReply::Status(Page { items, next_after: next }) = reply else { return Err(unexpected(&reply)) };
    if c.json {
        let items: Vec<Value> = items.iter().map(status_json).collect();
        print_json(&json!({"items": items, "next_after": next}));
    } else if items.is_empty() {
        println!("{} has submitted no reports", c.party);
    } else {
        for s in &items {
            print_status(s);
        }
        if let Some(n) = next {
            println!("more: --after {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where one revision of an own report stands, in `--json`.
pub(crate) fn status_json(s: &RevisionStatus) -> Value {
    let mut v = header_json(&s.header);
    v["hub"] = json!(hub_code(&s.hub));
    v["hub_detail"] = json!(hub_detail(&s.hub));
    v["retracted_at_ms"] = json!(s.retracted_at.map(|t| t.as_millis()));
    v["retraction_confirmed"] = json!(s.retraction_confirmed);
    v["recipients"] = s
        .recipients
        .iter()
        .map(|(p, st)| {
            let r = RecipientLine::of(st, s.receipts.get(p).copied());
            json!({
                "recipient": p.trigraph(),
                "state": st.code(),
                "detail": r.detail,
                "request_id": r.request_id,
                "expires_at_ms": r.expires_at.map(|t| t.as_millis()),
                "tearline_only": r.tearline_only,
                "receipt_at_ms": r.receipt_at.map(|t| t.as_millis()),
                "lifecycle": tisa_kit::operator::lifecycle(&s.hub, st, r.receipt_at.is_some()),
            })
        })
        .collect();
    v
}

/// Where one revision of an own report stands, as text: its header line,
/// a retraction, one line per recipient.
pub(crate) fn print_status(s: &RevisionStatus) {
    let h = &s.header;
    let detail = tisa_core::text::loggable(&hub_detail(&s.hub)).into_owned();
    let hub = if detail.is_empty() { hub_code(&s.hub).to_owned() } else { format!("{} ({detail})", hub_code(&s.hub)) };
    println!("{} r{}  {} {}  REL TO {}  hub: {}", h.id, h.revision, h.category, h.classification, h.releasable_to, hub);
    if let Some(t) = s.retracted_at {
        let confirmed = if s.retraction_confirmed { "held by the hub" } else { "not yet confirmed by the hub" };
        println!("  RETRACTED {t} ({confirmed})");
    }
    for (p, st) in &s.recipients {
        let r = RecipientLine::of(st, s.receipts.get(p).copied());
        let mut line = format!("  {p}: {}", tisa_kit::operator::lifecycle(&s.hub, st, r.receipt_at.is_some()));
        if r.tearline_only {
            line.push_str(" (tearline only)");
        }
        if let Some(t) = r.receipt_at {
            line.push_str(&format!(", signed receipt {t}"));
        }
        if let Some(id) = &r.request_id {
            line.push_str(&format!("  request {id}"));
        }
        if !r.detail.is_empty() {
            line.push_str(&format!("  — {}", tisa_core::text::loggable(&r.detail)));
        }
        println!("{line}");
    }
}

/// A rejection's code and detail, as `tisa status` shows it (empty otherwise).
fn hub_detail(hub: &HubState) -> String {
    match hub {
        HubState::Rejected { code, detail } => format!("{code}: {detail}"),
        _ => String::new(),
    }
}

/// What `tisa status` shows of one recipient's state besides its code.
struct RecipientLine {
    detail: String,
    request_id: Option<String>,
    expires_at: Option<Timestamp>,
    tearline_only: bool,
    receipt_at: Option<Timestamp>,
}

impl RecipientLine {
    fn of(st: &RecipientState, receipt_at: Option<Timestamp>) -> RecipientLine {
        let mut r = RecipientLine {
            detail: String::new(),
            request_id: None,
            expires_at: None,
            tearline_only: false,
            receipt_at,
        };
        match st {
            RecipientState::NotReleasable(why) => r.detail = why.to_string(),
            RecipientState::Requested { request_id, expires_at } => {
                r.request_id = Some(request_id.to_string());
                r.expires_at = Some(*expires_at);
            }
            RecipientState::Approved { tearline_only } | RecipientState::Delivered { tearline_only } => {
                r.tearline_only = *tearline_only
            }
            _ => {}
        }
        r
    }
}

/// `tisa retract`: the node signs a retraction of the report (every
/// revision) and sends it along the report's path.
pub async fn retract(c: &Ctx, report_id: &str, reason: String) -> Result<ExitCode> {
    let report_id = ReportId::new(report_id)?;
    // A label only: the node records the name of the key that signed the request.
    let operator = c.key()?.map(|k| k.identity.name().to_owned()).unwrap_or_default();
    let reply = call(c, ControlRequest::Retract(Retract { report_id: report_id.clone(), reason, operator })).await?;
    let ControlReply::Status(Page { items, .. }) = reply else { return Err(unexpected(&reply)) };
    let at = items.first().and_then(|s| s.retracted_at).map(|t| t.as_millis());
    if c.json {
        print_json(&json!({"report_id": report_id.as_str(), "retracted_at_ms": at, "revisions": items.len()}));
    } else {
        println!(
            "retracted {report_id} ({} revision(s)); every party that holds it will see it marked retracted",
            items.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn health(c: &Ctx) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::Health).await?;
    let ControlReply::Health(h) = reply else { return Err(unexpected(&reply)) };
    if c.json {
        print_json(&json!({
            "party": h.party.trigraph(),
            "version": h.version,
            "started_at_ms": h.started_at.as_millis(),
            "now_ms": h.now.as_millis(),
            "connected": h.connected,
            "agreement_version": h.agreement_version,
            "received": h.received,
            "sent": h.sent,
            "malformed": h.malformed,
            "rejected": h.rejected,
            "dead_letters": h.dead_letters,
            "dead_letter_errors": h.dead_letter_errors,
            "outbox": h.outbox,
            "tracks_superseded": h.tracks_superseded,
            "offline_waiting": h.offline_waiting,
            "held": h.held,
            "refused_replies": h.refused_replies,
            "track_lane": {
                "enabled": h.track_lane.enabled,
                "passed": h.track_lane.passed,
                "left": h.track_lane.left,
                "dropped": h.track_lane.dropped,
                "windows": h.track_lane.windows,
                "windowed": h.track_lane.windowed,
                "stream_paced": h.track_lane.stream_paced,
                "stream_copies": h.track_lane.stream_copies,
                "stream_takes": h.track_lane.stream_takes,
            },
            "commits": {
                "count": h.commits.count(),
                "p50_us_at_least": h.commits.quantile_at_least_us(0.5),
                "p99_us_at_least": h.commits.quantile_at_least_us(0.99),
                "buckets": h.commits.buckets,
            },
            "checks_ahead": {
                "enabled": h.checks_ahead.enabled,
                "checks": h.checks_ahead.checks,
                "by_helper": h.checks_ahead.by_helper,
            },
            "early_forward": {
                "enabled": h.early_forward.enabled,
                "batches": h.early_forward.batches,
                "deliveries": h.early_forward.deliveries,
            },
            "notices": {
                "coalesced": h.notices.coalesced,
                "held": h.notices.held,
                "sends": h.notices.sends,
            },
            "agreement": {
                "version": h.agreement_version,
                "sha256": h.agreement.sha256,
                "staged": h.agreement.staged,
                "peers": h.agreement.peers,
                "mismatches": h.agreement.mismatches,
                "ignored": h.agreement.ignored,
                "reload_error": (!h.agreement.reload_error.is_empty()).then_some(&h.agreement.reload_error),
            },
            "send_error": h.send_error.as_ref().map(|e| json!({
                "stream": e.stream,
                "reason": e.reason,
                "since_ms": e.since.as_millis(),
            })),
            "streams": h.streams.iter().map(stream_json).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "{} node {} up since {}  connected={}  received={} sent={} malformed={} rejected={}",
            h.party,
            h.version,
            utc(h.started_at.as_millis()),
            h.connected,
            h.received,
            h.sent,
            h.malformed,
            h.rejected
        );
        println!(
            "  dead letters={} (unwritable={})  outbox={} (track updates superseded={})  held={}  refused replies={}  off-line waiting={}",
            h.dead_letters, h.dead_letter_errors, h.outbox, h.tracks_superseded, h.held, h.refused_replies, h.offline_waiting
        );
        let l = &h.track_lane;
        if l.enabled {
            println!(
                "  track lane: passed={} left={} dropped={}  track windows={} (copies={})",
                l.passed, l.left, l.dropped, l.windows, l.windowed
            );
        } else {
            println!("  track lane: off (TISA_TRACK_LANE=off)");
        }
        println!(
            "  track streams' copies: {} taken in {} hand-overs ({})",
            l.stream_copies,
            l.stream_takes,
            if l.stream_paced { "behind the lane, in batches" } else { "as stored: TISA_TRACK_PACED=off" }
        );
        if let (Some(p50), Some(p99)) = (h.commits.quantile_at_least_us(0.5), h.commits.quantile_at_least_us(0.99)) {
            println!(
                "  commits: {}  write + fdatasync p50 {:.2} ms, p99 {:.2} ms (since start)",
                h.commits.count(),
                p50 / 1e3,
                p99 / 1e3
            );
        }
        let c = &h.checks_ahead;
        if c.enabled {
            println!("  signature checks while committing: {} ({} on the helper thread)", c.checks, c.by_helper);
        } else {
            println!("  signature checks while committing: off (the default; TISA_CHECKS_AHEAD=on)");
        }
        let e = &h.early_forward;
        if e.enabled {
            println!("  early forwarding: batches={} deliveries={}", e.batches, e.deliveries);
        } else if h.party == tisa_core::Party::Us {
            println!("  early forwarding: off (TISA_EARLY_FORWARD=off)");
        }
        let n = &h.notices;
        if n.coalesced {
            println!("  notices to originators held back: {} (sent together {} times)", n.held, n.sends);
        } else {
            println!("  notices to originators held back: off (TISA_COALESCE_NOTICES=off)");
        }
        for st in &h.streams {
            println!("  {}", stream_line(st));
        }
        let a = &h.agreement;
        println!(
            "  agreement v{} sha256 {}  peers: {}",
            h.agreement_version,
            a.sha256.get(..16).unwrap_or(&a.sha256),
            a.peers.join(", ")
        );
        for s in &a.staged {
            println!("  agreement staged: {s}");
        }
    }
    // A stream below its replica count: one more lost server may stop it.
    for w in h.streams.iter().filter_map(|s| s.warning()) {
        eprintln!("warning: {w}");
    }
    // A version mismatch stops trilateral releases: an operator must see it.
    for m in &h.agreement.mismatches {
        eprintln!("error: trilateral releases stopped: {m}; align the agreement versions (`tisa agreement history`)");
    }
    if !h.agreement.reload_error.is_empty() {
        eprintln!("warning: the last agreement reload was refused: {}", h.agreement.reload_error);
    }
    // Stuck messages are an operator error, never a quiet counter.
    if let Some(e) = &h.send_error {
        eprintln!("error: {} message(s) not delivered since {}: {}", h.outbox, utc(e.since.as_millis()), e.reason);
    }
    if h.dead_letter_errors > 0 {
        eprintln!("warning: {} dead letter(s) could not be written (see the node's log)", h.dead_letter_errors);
    }
    let healthy = h.connected && h.send_error.is_none() && h.agreement.mismatches.is_empty();
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One stream in `tisa health --json`.
fn stream_json(s: &tisa_transport::StreamHealth) -> Value {
    json!({
        "name": s.name,
        "replicas": s.replicas,
        "current": s.current(),
        "cluster": s.cluster,
        "leader": s.leader,
        "peers": s.peers.iter().map(|p| json!({
            "name": p.name,
            "current": p.current,
            "offline": p.offline,
            "lag": p.lag,
            "active_ms": p.active_ms,
        })).collect::<Vec<_>>(),
        "error": (!s.error.is_empty()).then_some(&s.error),
        "warning": s.warning(),
    })
}

/// One stream in `tisa health`: `TISA_KR_DOWN replicas=3 leader=tisa-kr-2 tisa-kr-1(current lag=0) …`.
fn stream_line(s: &tisa_transport::StreamHealth) -> String {
    if !s.error.is_empty() {
        return format!("stream {} unreadable", s.name);
    }
    let leader = if s.leader.is_empty() { "-" } else { &s.leader };
    let mut line = format!("stream {} replicas={} current={} leader={leader}", s.name, s.replicas.max(1), s.current());
    for p in &s.peers {
        let state = if p.offline {
            "offline"
        } else if p.current {
            "current"
        } else {
            "behind"
        };
        line.push_str(&format!(" {}({state} lag={})", p.name, p.lag));
    }
    line
}

/// `tisa deadletter list`.
pub async fn dead_letters(c: &Ctx, limit: usize) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::DeadLetters(ListQuery { limit, ..ListQuery::default() })).await?;
    let ControlReply::DeadLetters(items, total) = reply else { return Err(unexpected(&reply)) };
    if c.json {
        let items: Vec<Value> = items
            .iter()
            .map(|d| {
                json!({
                    "seq": d.seq,
                    "at_ms": d.at.as_millis(),
                    "subject": d.subject,
                    "link": d.link.map(|p| p.trigraph()),
                    "stream": d.stream,
                    "stream_seq": d.stream_seq,
                    "broker_message_id": d.broker_message_id,
                    "message_id": d.message_id,
                    "size": d.size,
                    "delivered": d.delivered,
                    "class": d.class,
                    "reason": d.reason,
                    "detail": d.detail,
                })
            })
            .collect();
        print_json(&json!({"items": items, "total": total}));
    } else if items.is_empty() {
        println!("{} has no dead letters", c.party);
    } else {
        println!(
            "{:>6}  {:<24}  {:<26}  {:<4}  {:>8}  {:<28}  {:>7}  {:<12}  {:<16}  detail",
            "seq", "time", "subject", "link", "strm_seq", "message id", "bytes", "class", "reason"
        );
        for d in &items {
            println!(
                "{:>6}  {:<24}  {:<26}  {:<4}  {:>8}  {:<28}  {:>7}  {:<12}  {:<16}  {}",
                d.seq,
                utc(d.at.as_millis()),
                d.subject,
                d.link.map_or("-", |p| p.trigraph()),
                d.stream_seq.map_or("-".to_owned(), |s| s.to_string()),
                d.message_id.as_deref().or(d.broker_message_id.as_deref()).unwrap_or("-"),
                d.size,
                d.class,
                d.reason,
                d.detail
            );
        }
        if (items.len() as u64) < total {
            println!("({} of {total} shown; --limit N for more)", items.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
