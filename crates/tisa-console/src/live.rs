//! Live updates: server-sent events (`GET /events`) that keep the pending
//! badge and the track map current without a reload. The page's only
//! script, `/console.js` (served by the console itself, allowed by the
//! Content-Security-Policy as `script-src 'self'`, never inline), listens
//! and inserts what arrives with `textContent` and DOM APIs, never
//! `innerHTML`.
//!
//! One subscription to the node's event stream (what `tisa watch` follows)
//! wakes every open stream; each then asks the node for the pending count
//! (from the own reports' status: no audited read of content) and the
//! tracks, and sends what changed. A slow periodic check covers what
//! no event announces (a request expiring) and a lost subscription. A
//! stream ends when its session does (logout or idleness); it does not
//! count as use of the session.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tisa_core::{Page, RecipientState};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::routes::{logged_in, session_id};
use crate::Console;

/// How often a stream checks even when no event came.
pub const FALLBACK: Duration = Duration::from_secs(10);

/// How many release requests await this party's decision: the open
/// requests in the status of its own reports (headers and states only, so
/// not a read of content: the pending list, with titles, is audited as one,
/// and a page left open must not fill the audit log).
async fn open_count(c: &Console) -> Result<usize, String> {
    let mut n = 0;
    let mut after = None;
    loop {
        let q = ListQuery { after, limit: 1000, ..ListQuery::default() };
        let (items, next) = match tisa_kit::operator::ask(&c.client, ControlRequest::Status(q)).await {
            Ok(ControlReply::Status(Page { items, next_after })) => (items, next_after),
            Ok(other) => return Err(tisa_kit::operator::unexpected(&other).to_string()),
            Err(e) => return Err(format!("{e:#}")),
        };
        n += items
            .iter()
            .flat_map(|s| s.recipients.values())
            .filter(|st| matches!(st, RecipientState::Requested { .. }))
            .count();
        match next {
            Some(a) => after = Some(a),
            None => return Ok(n),
        }
    }
}

/// Follows the node's events for as long as the console runs, waking the
/// open streams on each; resubscribes after a lost subscription.
pub async fn follow(c: Arc<Console>, stop: tokio_util::sync::CancellationToken) {
    loop {
        match c.client.watch().await {
            Ok(mut events) => loop {
                tokio::select! {
                    ev = events.next() => match ev {
                        Some(_) => { c.ticks.send_modify(|n| *n = n.wrapping_add(1)); }
                        None => break,
                    },
                    _ = stop.cancelled() => return,
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "console: cannot follow the node's events; pages check every {FALLBACK:?}")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(FALLBACK) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// `GET /events`: `pending` (the open request count) and `tracks` (the
/// map's tracks, JSON) whenever they change; first at once.
pub(crate) async fn events(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(r) = logged_in(&c, &headers) {
        return *r;
    }
    let Some(id) = session_id(&headers) else { return crate::routes::refused(&c, crate::session::Refusal::NoSession) };
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(8);
    tokio::spawn(stream(c, id, tx));
    let events =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// Sends what changed until the page goes away or the session ends.
async fn stream(c: Arc<Console>, session: String, tx: tokio::sync::mpsc::Sender<Event>) {
    let mut ticks = c.ticks.subscribe();
    let mut fallback = tokio::time::interval(FALLBACK);
    let (mut pending, mut tracks) = (None::<usize>, None::<String>);
    while c.sessions().alive(&session, Instant::now()) {
        if let Ok(n) = open_count(&c).await {
            if pending != Some(n) {
                pending = Some(n);
                if tx.send(Event::default().event("pending").data(n.to_string())).await.is_err() {
                    return;
                }
            }
        }
        if let Ok(json) = crate::tracks::live(&c).await {
            if tracks.as_deref() != Some(json.as_str()) {
                if tx.send(Event::default().event("tracks").data(&json)).await.is_err() {
                    return;
                }
                tracks = Some(json);
            }
        }
        tokio::select! {
            r = ticks.changed() => if r.is_err() { return },
            _ = fallback.tick() => {}
            _ = tx.closed() => return,
            _ = c.stop.cancelled() => return,
        }
    }
}
