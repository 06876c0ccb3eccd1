//! The inbox page: reports this party received, newest first, searched by
//! text and filtered by originator, category, classification and date;
//! retracted and corrected reports marked; one report's revisions a link
//! away (`/inbox?report=ID`).
//!
//! The node filters by originator, category, classification and `since`
//! and pages the list; the console reads at most [`MAX_PAGES`] pages and
//! applies the text search and the `until` date itself (report text never
//! goes to the node in a query).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tisa_core::{Category, Classification, InboxEntry, InboxFilter, Page, Party, Released, ReportId, Timestamp};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::pages;
use crate::routes::{error, html_page, refused, session_id};
use crate::Console;

/// The most node pages (of up to 1000 entries each) one inbox view reads.
pub const MAX_PAGES: usize = 10;
/// The most entries one inbox view shows.
pub const SHOWN: usize = 200;

/// The inbox's query string (every field optional; empty means "any").
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    /// Text to find in the title, body, tearline or source (any case).
    #[serde(default)]
    pub q: String,
    /// `KOR`, `USA`, `JPN` (or the codes).
    #[serde(default)]
    pub originator: String,
    /// A category.
    #[serde(default)]
    pub category: String,
    /// A classification.
    #[serde(default)]
    pub classification: String,
    /// Received on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub since: String,
    /// Received on or before this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub until: String,
    /// One report only: every revision.
    #[serde(default)]
    pub report: String,
}

/// The query, checked: what the node filters, and what the console does.
struct Wanted {
    filter: InboxFilter,
    report: Option<ReportId>,
    text: Option<String>,
    until: Option<Timestamp>,
}

fn opt<T: std::str::FromStr>(s: &str, what: &str) -> Result<Option<T>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| format!("unknown {what} {s:?}: pick one from the list"))
}

/// The first millisecond of a UTC day `YYYY-MM-DD` (`end`: of the next day).
fn day(s: &str, end: bool) -> Result<Option<Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let t = tisa_deploy::chain::parse_time(&format!("{s}T00:00:00Z"))
        .map_err(|_| format!("{s:?} is not a date: write it as 2027-01-31"))?;
    Ok(Some(if end { Timestamp(t.as_millis().saturating_add(86_400_000)) } else { t }))
}

impl InboxQuery {
    fn wanted(&self) -> Result<Wanted, String> {
        let filter = InboxFilter {
            since: day(&self.since, false)?,
            originator: opt::<Party>(&self.originator, "originator")?,
            category: opt::<Category>(&self.category, "category")?,
            classification: opt::<Classification>(&self.classification, "classification")?,
            newest_first: true,
        };
        let report = opt::<ReportId>(&self.report, "report id")?;
        let text = Some(self.q.trim().to_lowercase()).filter(|t| !t.is_empty());
        Ok(Wanted { filter, report, text, until: day(&self.until, true)? })
    }
}

/// Whether `e` holds `needle` (lower case) in any of its text.
fn holds(e: &InboxEntry, needle: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    match &e.delivery.released {
        Released::Full(c) => {
            has(c.title.expose())
                || has(c.body.expose())
                || c.tearline.as_ref().is_some_and(|t| has(t.expose()))
                || has(c.source.expose())
        }
        Released::Tearline(t) => has(t.expose()),
    }
}

/// The entries the node holds for `w`, newest first, with the text and
/// `until` filters applied; and whether the node had more than was read.
async fn fetch(c: &Console, w: &Wanted) -> Result<(Vec<InboxEntry>, bool), String> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..MAX_PAGES {
        let q = ListQuery {
            after,
            limit: 1000,
            report_id: w.report.clone(),
            inbox: w.filter.clone(),
            ..ListQuery::default()
        };
        let page = match tisa_kit::operator::ask(&c.client, ControlRequest::Inbox(q)).await {
            Ok(ControlReply::Inbox(Page { items, next_after })) => (items, next_after),
            Ok(other) => return Err(tisa_kit::operator::unexpected(&other).to_string()),
            Err(e) => return Err(format!("{e:#}")),
        };
        out.extend(
            page.0
                .into_iter()
                .filter(|e| w.until.is_none_or(|u| e.received_at < u) && w.text.as_deref().is_none_or(|t| holds(e, t))),
        );
        match page.1 {
            Some(next) => after = Some(next),
            None => return Ok((out, false)),
        }
    }
    Ok((out, true))
}

/// `GET /inbox`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<InboxQuery>) -> Response {
    let s = match c.sessions().check(session_id(&headers).as_deref(), Instant::now()) {
        Ok(s) => s,
        Err(e) => return refused(&c, e),
    };
    let w = match q.wanted() {
        Ok(w) => w,
        Err(e) => return error(&c, StatusCode::BAD_REQUEST, Some(&s.csrf), &e),
    };
    match fetch(&c, &w).await {
        Ok((entries, more)) => html_page(
            StatusCode::OK,
            pages::layout(c.party(), "Inbox", Some(&s.csrf), None, render(&q, &entries, more)),
        ),
        Err(e) => error(&c, StatusCode::BAD_GATEWAY, Some(&s.csrf), &format!("the node did not answer: {e}")),
    }
}

fn select<T: Copy + std::fmt::Display>(
    name: &str,
    label: &str,
    all: &[T],
    chosen: &str,
    value: fn(T) -> String,
) -> Markup {
    html! {
        label { (label) " "
            select name=(name) {
                option value="" { "any" }
                @for v in all {
                    @let val = value(*v);
                    option value=(val) selected[val.eq_ignore_ascii_case(chosen.trim())] { (v) }
                }
            }
        }
    }
}

fn filters(q: &InboxQuery) -> Markup {
    html! {
        form.filters method="get" action="/inbox" {
            label { "Text " input type="search" name="q" value=(q.q) placeholder="title, body, tearline, source"; }
            (select("originator", "From", &Party::ALL, &q.originator, |p| p.trigraph().to_owned()))
            (select("category", "Category", &Category::ALL, &q.category, |c| c.as_str().to_owned()))
            (select("classification", "Classification", &Classification::ALL, &q.classification, |c| c.as_str().to_owned()))
            label { "Received from " input type="date" name="since" value=(q.since); }
            label { "to " input type="date" name="until" value=(q.until); }
            @if !q.report.is_empty() { input type="hidden" name="report" value=(q.report); }
            button type="submit" { "Search" }
            " " a href="/inbox" { "clear" }
        }
    }
}

/// The inbox: the filters, then each entry (newest first).
pub fn render(q: &InboxQuery, entries: &[InboxEntry], more: bool) -> Markup {
    // The latest revision of each report on the page: older ones are corrected.
    let mut latest: HashMap<&str, u32> = HashMap::new();
    for e in entries {
        let h = &e.delivery.header;
        let r = latest.entry(h.id.as_str()).or_insert(0);
        *r = (*r).max(h.revision);
    }
    html! {
        h1 {
            @if q.report.is_empty() { "Inbox" } @else { "Every revision of " (q.report) }
        }
        (filters(q))
        p.count {
            (entries.len().min(SHOWN)) " of " (entries.len()) " shown, newest first"
            @if more { " (more are older: narrow the search or the dates)" }
        }
        @for e in entries.iter().take(SHOWN) {
            @let newest = latest.get(e.delivery.header.id.as_str()).copied().unwrap_or(0);
            (entry(e, newest))
        }
    }
}

fn entry(e: &InboxEntry, newest: u32) -> Markup {
    let d = &e.delivery;
    let h = &d.header;
    let all = format!("/inbox?report={}", h.id.as_str());
    html! {
        article.entry.retracted[e.retracted.is_some()] {
            p.meta {
                strong { (h.id.as_str()) " r" (h.revision) }
                " from " (h.originator.code()) " · "
                span.marking { (h.classification) " · " (h.category) }
                " · received " (e.received_at)
                @if e.offline { " · " span.offline title="imported from a bundle (tisa bundle import)" { "off-line" } }
                @if h.revision > 1 || newest > h.revision { " · " a href=(all) { "every revision" } }
            }
            @if let Some(r) = &e.retracted {
                p.flag { "RETRACTED by " (h.originator.code()) " at " (r.retracted_at) ": " (r.reason.expose()) }
            }
            @if newest > h.revision {
                p.flag.corrected { "CORRECTED: revision " (newest) " replaces this one" }
            } @else if h.revision > 1 {
                p.note { "Correction: revision " (h.revision) " of this report" }
            }
            @match &d.released {
                Released::Full(c) => {
                    h2 { (c.title.expose()) }
                    pre.body { (c.body.expose()) }
                    @if let Some(t) = &c.tearline { p { strong { "Tearline: " } (t.expose()) } }
                    @if !c.source.is_empty() { p { strong { "Source: " } (c.source.expose()) } }
                }
                Released::Tearline(t) => {
                    p.note { "Tearline only (the originator released this text, not the report)" }
                    pre.body { (t.expose()) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_came_off_line_is_marked_so() {
        let header = tisa_core::ReportHeader {
            id: tisa_core::ReportId::new("KR-0001").expect("an id"),
            revision: 1,
            originator: Party::Kr,
            created_at: tisa_core::Timestamp(0),
            category: Category::NkNuclear,
            classification: tisa_core::Classification::TopSecret,
            releasable_to: "USA,JPN".parse().expect("parties"),
        };
        let delivery = tisa_core::Delivery {
            header,
            released: Released::Tearline(tisa_core::Sensitive::new("tl")),
            basis: tisa_core::Basis::Trilateral,
            request_id: None,
            manifest: tisa_core::Signed::unsigned(Vec::new(), String::new()),
            consent: None,
        };
        let e =
            InboxEntry { delivery, received_at: tisa_core::Timestamp(1), retracted: None, body: None, offline: true };
        assert!(entry(&e, 1).into_string().contains(">off-line<"));
        // Control: the same report on-line carries no mark.
        let online = InboxEntry { offline: false, ..e };
        assert!(!entry(&online, 1).into_string().contains("off-line"));
    }

    #[test]
    fn the_query_is_checked_and_dates_cover_whole_utc_days() {
        let q = InboxQuery {
            originator: "KOR".into(),
            category: "NK_MISSILE".into(),
            since: "2027-01-31".into(),
            until: "2027-01-31".into(),
            q: "  Launch ".into(),
            ..InboxQuery::default()
        };
        let w = q.wanted().expect("a valid query");
        assert_eq!(w.filter.originator, Some(Party::Kr));
        assert_eq!(w.filter.category, Some(Category::NkMissile));
        assert!(w.filter.newest_first);
        let since = w.filter.since.expect("since").as_millis();
        assert_eq!(w.until.expect("until").as_millis() - since, 86_400_000, "until covers the whole day");
        assert_eq!(w.text.as_deref(), Some("launch"), "searched in lower case, trimmed");
        // Empty means any.
        let w = InboxQuery::default().wanted().expect("the empty query");
        assert_eq!(w.filter, InboxFilter { newest_first: true, ..InboxFilter::default() });
        assert!(w.text.is_none() && w.until.is_none() && w.report.is_none());
        // Refusals name the field.
        for (q, word) in [
            (InboxQuery { since: "31/01/2027".into(), ..InboxQuery::default() }, "not a date"),
            (InboxQuery { originator: "FRA".into(), ..InboxQuery::default() }, "originator"),
            (InboxQuery { classification: "cosmic".into(), ..InboxQuery::default() }, "classification"),
        ] {
            let e = q.wanted().err().expect("refused");
            assert!(e.contains(word), "{e}");
        }
    }
}
