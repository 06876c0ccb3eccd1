//! The status page: where each of this party's own reports stands with
//! each recipient (the lifecycle SUBMITTED → AT_HUB → RELEASE_REQUESTED →
//! APPROVED | DENIED | EXPIRED → DELIVERED → RECEIPT), with signed receipts
//! and retractions; an open request links to its page.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tisa_core::{Page, RecipientState, ReportId, RevisionStatus};
use tisa_transport::control::hub_code;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::routes::{error, logged_in, node_error, page as answer};
use crate::Console;

/// `?report=ID`: one report only.
#[derive(Debug, Default, Deserialize)]
pub struct StatusQuery {
    #[serde(default)]
    report: String,
}

/// `GET /status`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<StatusQuery>) -> Response {
    let s = match logged_in(&c, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let report_id = match q.report.trim() {
        "" => None,
        r => match ReportId::new(r) {
            Ok(id) => Some(id),
            Err(e) => return error(&c, StatusCode::BAD_REQUEST, Some(&s.csrf), &format!("{e}")),
        },
    };
    let query = ListQuery { limit: 1000, report_id, ..ListQuery::default() };
    match tisa_kit::operator::ask(&c.client, ControlRequest::Status(query)).await {
        Ok(ControlReply::Status(Page { items, next_after })) => {
            answer(&c, &s, "Status", render(&items, next_after.is_some()))
        }
        Ok(other) => node_error(&c, &s, tisa_kit::operator::unexpected(&other)),
        Err(e) => node_error(&c, &s, format!("{e:#}")),
    }
}

/// Every revision, newest first, one row per recipient.
pub fn render(items: &[RevisionStatus], more: bool) -> Markup {
    html! {
        h1 { "Your reports, per recipient" }
        @if items.is_empty() { p { "You have submitted no report yet." } }
        @if more { p.note { "The first 1000 revisions; `tisa status --after` pages on." } }
        @for s in items.iter().rev() {
            @let h = &s.header;
            article.entry.retracted[s.retracted_at.is_some()] {
                p.meta {
                    strong { (h.id.as_str()) " r" (h.revision) }
                    " · " span.marking { (h.classification) " · " (h.category) }
                    " · REL TO " (h.releasable_to) " · created " (h.created_at)
                    " · hub: " (hub_code(&s.hub))
                    " · " a href={ "/status?report=" (h.id.as_str()) } { "this report only" }
                }
                @if let Some(t) = s.retracted_at {
                    p.flag {
                        "RETRACTED " (t)
                        @if s.retraction_confirmed { " (held by the hub)" } @else { " (not yet confirmed by the hub)" }
                    }
                }
                table {
                    thead { tr { th { "Recipient" } th { "Stage" } th { "Signed receipt" } th { "Detail" } } }
                    tbody {
                        @for (p, st) in &s.recipients {
                            @let receipt = s.receipts.get(p).copied();
                            tr {
                                td { (p.code()) }
                                td.stage { (tisa_kit::operator::lifecycle(&s.hub, st, receipt.is_some())) }
                                td { @if let Some(t) = receipt { (t) } @else { "-" } }
                                td { (detail(st)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn detail(st: &RecipientState) -> Markup {
    html! {
        @match st {
            RecipientState::Requested { request_id, expires_at } => {
                a href={ "/requests/" (request_id.as_str()) } { "decide " (request_id.as_str()) }
                " (expires " (expires_at) ")"
            }
            RecipientState::Approved { tearline_only: true } | RecipientState::Delivered { tearline_only: true } => {
                "the tearline only"
            }
            RecipientState::NotReleasable(why) => (why.to_string()),
            _ => "",
        }
    }
}
