//! The health page: the node's liveness and counters, its connections,
//! what is stuck in its outbox, its streams, and the agreement it enforces
//! against what its peers enforce.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use tisa_transport::{ControlReply, ControlRequest, Health};

use crate::routes::{logged_in, node_error, page as answer};
use crate::Console;

/// `GET /health`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match logged_in(&c, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match tisa_kit::operator::ask(&c.client, ControlRequest::Health).await {
        Ok(ControlReply::Health(h)) => answer(&c, &s, "Health", render(&h)),
        Ok(other) => node_error(&c, &s, tisa_kit::operator::unexpected(&other)),
        Err(e) => node_error(&c, &s, format!("{e:#}")),
    }
}

/// The node's health.
pub fn render(h: &Health) -> Markup {
    let ok = h.connected && h.send_error.is_none() && h.agreement.mismatches.is_empty();
    html! {
        h1 { "Health of " (h.party.code()) "'s node" }
        p class=(if ok { "ok" } else { "error" }) id="verdict" {
            @if ok { "Healthy: connected, nothing stuck, the peers enforce the same agreement." }
            @else { "Needs attention: see below." }
        }
        dl {
            dt { "Version" } dd { (h.version) }
            dt { "Up since" } dd { (h.started_at) " (node clock now " (h.now) ")" }
            dt { "Connections" } dd { @if h.connected { "all up" } @else { strong.soon { "not all up" } } }
            dt { "Received / sent" } dd { (h.received) " / " (h.sent) }
            dt { "Malformed / refused" } dd { (h.malformed) " / " (h.rejected) }
            dt { "Outbox (not yet accepted)" } dd {
                (h.outbox)
                @if h.tracks_superseded > 0 { " (" (h.tracks_superseded) " track updates superseded while waiting)" }
            }
            @if let Some(e) = &h.send_error {
                dt { "Sending stuck" } dd.soon { (e.stream) ": " (e.reason) " since " (e.since) }
            }
            dt { "Dead letters" } dd { (h.dead_letters) @if h.dead_letter_errors > 0 { " (" (h.dead_letter_errors) " not written)" } }
            dt { "Held (no fresh grant standing)" } dd { (h.held) }
            dt { "Refused reply subjects" } dd { (h.refused_replies) }
            @if let (Some(p50), Some(p99)) = (h.commits.quantile_at_least_us(0.5), h.commits.quantile_at_least_us(0.99)) {
                dt { "Commits (input log write + fdatasync)" } dd id="commits" {
                    (h.commits.count()) " since start; p50 " (format!("{:.2}", p50 / 1e3)) " ms, p99 "
                    (format!("{:.2}", p99 / 1e3)) " ms"
                }
            }
            dt { "Track lane (passed / left / dropped)" } dd {
                @if h.track_lane.enabled {
                    (h.track_lane.passed) " / " (h.track_lane.left) " / "
                    @if h.track_lane.dropped > 0 { strong.soon { (h.track_lane.dropped) } } @else { "0" }
                } @else { "off" }
            }
            @if h.track_lane.enabled {
                dt { "Track windows committed (windows / copies)" } dd {
                    (h.track_lane.windows) " / " (h.track_lane.windowed)
                }
            }
            dt { "Track streams' copies taken (copies / hand-overs)" } dd {
                (h.track_lane.stream_copies) " / " (h.track_lane.stream_takes)
                @if !h.track_lane.stream_paced { " (as stored: TISA_TRACK_PACED=off)" }
            }
            @if h.party == tisa_core::Party::Us {
                dt { "Deliveries before the commit (batches / deliveries)" } dd {
                    @if h.early_forward.enabled {
                        (h.early_forward.batches) " / " (h.early_forward.deliveries)
                    } @else { "off" }
                }
            }
            dt { "Notices to originators held back (notices / sent together)" } dd {
                @if h.notices.coalesced { (h.notices.held) " / " (h.notices.sends) } @else { "off" }
            }
            dt { "Agreement" } dd { "version " (h.agreement_version) ", sha256 " code { (h.agreement.sha256) } }
            @for p in &h.agreement.peers { dt { "Peer enforces" } dd { (p) } }
            @for s in &h.agreement.staged { dt { "Staged" } dd { (s) } }
            @for m in &h.agreement.mismatches { dt { "Trilateral releases stop" } dd.soon { (m) } }
            @if !h.agreement.reload_error.is_empty() { dt { "Agreement reload refused" } dd.soon { (h.agreement.reload_error) } }
        }
        @if !h.streams.is_empty() {
            h2 { "Streams" }
            table {
                thead { tr { th { "Stream" } th { "Replicas" } th { "Cluster" } th { "Leader" } th { "Error" } } }
                tbody {
                    @for s in &h.streams {
                        tr { td { (s.name) } td { (s.replicas) } td { (s.cluster) } td { (s.leader) } td { (s.error) } }
                    }
                }
            }
        }
    }
}
