//! The console's routes and the guard every request passes: the `Host`
//! header must name the console itself (a page on another site cannot
//! reach it through DNS rebinding), and every answer carries a strict
//! Content-Security-Policy and no-cache, no-referrer, no-framing headers.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use serde::Deserialize;
use tisa_core::{Decision, Page, PendingView, RequestId, Timestamp};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::pages;
use crate::session::{self, Refusal};
use crate::Console;

/// The policy every page is served under: nothing but the console's own
/// stylesheet and script (no inline script, no `eval`), live updates from
/// itself only, forms only to itself, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's router.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pending))
        .route("/console.css", get(css))
        .route("/console.js", get(js))
        .route("/events", get(crate::live::events))
        .route("/login", get(login))
        .route("/logout", post(logout))
        .route("/inbox", get(crate::inbox::page))
        .route("/status", get(crate::status::page))
        .route("/grants", get(crate::grants::page).post(crate::grants::issue))
        .route("/grants/{id}/revoke", post(crate::grants::revoke))
        .route("/grants/{id}/cosign", post(crate::grants::cosign))
        .route("/map", get(crate::tracks::page))
        .route("/health", get(crate::health::page))
        .route("/audit", get(crate::audit::page))
        .route("/requests/{id}", get(request))
        .route("/requests/{id}/decide", post(decide))
        .layer(axum::middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Refuses a request whose `Host` is not the console's; adds the security headers.
async fn guard(State(c): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut res = if c.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        next.run(req).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, "this console answers only under its own address\n").into_response()
    };
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}

pub(crate) fn now_ms() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::cookie_session)
        .map(str::to_owned)
}

/// The session of a page request, or the refusal to answer with.
pub(crate) fn logged_in(c: &Console, headers: &HeaderMap) -> Result<session::Session, Box<Response>> {
    c.sessions().check(session_id(headers).as_deref(), Instant::now()).map_err(|e| Box::new(refused(c, e)))
}

/// The session of a form, its CSRF token checked, or the refusal to answer with.
pub(crate) fn form_session(
    c: &Console,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<session::Session, Box<Response>> {
    c.sessions().check_form(session_id(headers).as_deref(), csrf, Instant::now()).map_err(|e| Box::new(refused(c, e)))
}

/// A page of the console, logged in.
pub(crate) fn page(c: &Console, s: &session::Session, title: &str, body: Markup) -> Response {
    html_page(StatusCode::OK, pages::layout(c.party(), title, Some(&s.csrf), None, body))
}

/// The node did not answer as asked.
pub(crate) fn node_error(c: &Console, s: &session::Session, e: impl std::fmt::Display) -> Response {
    error(c, StatusCode::BAD_GATEWAY, Some(&s.csrf), &format!("the node did not answer: {e}"))
}

pub(crate) fn html_page(status: StatusCode, m: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], m.into_string()).into_response()
}

/// An error page (logged in or not).
pub(crate) fn error(c: &Console, status: StatusCode, csrf: Option<&str>, message: &str) -> Response {
    html_page(status, pages::layout(c.party(), "Not done", csrf, None, pages::error(message)))
}

pub(crate) fn refused(c: &Console, r: Refusal) -> Response {
    let status = match r {
        Refusal::NoSession | Refusal::BadLogin => StatusCode::UNAUTHORIZED,
        Refusal::BadCsrf => StatusCode::FORBIDDEN,
    };
    error(c, status, None, &r.to_string())
}

async fn js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], pages::JS).into_response()
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::CSS).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// The login link: a fresh session, in a cookie, then the pending page.
async fn login(State(c): State<Arc<Console>>, Query(q): Query<LoginQuery>) -> Response {
    let r = c.sessions().login(q.token.as_deref().unwrap_or(""), Instant::now());
    match r {
        Ok((id, _)) => {
            tracing::info!(party = %c.party(), "console: logged in (a new session)");
            let cookie = session::set_cookie(&id, c.secure);
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/".to_owned()), (header::SET_COOKIE, cookie)]).into_response()
        }
        Err(e) => refused(&c, e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let id = session_id(&headers);
    let checked = c.sessions().check_form(id.as_deref(), f.csrf.as_deref(), Instant::now());
    if let Err(e) = checked {
        return refused(&c, e);
    }
    if let Some(id) = id {
        c.sessions().end(&id);
    }
    let page = pages::layout(c.party(), "Logged out", None, None, maud::html! { h1 { "Logged out" } });
    let mut res = html_page(StatusCode::OK, page);
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// The open requests, in one list.
async fn open_requests(c: &Console) -> Result<Vec<PendingView>, String> {
    let q = ListQuery { limit: 1000, ..ListQuery::default() };
    match tisa_kit::operator::ask(&c.client, ControlRequest::Pending(q)).await {
        Ok(ControlReply::Pending(Page { items, .. })) => Ok(items),
        Ok(other) => Err(tisa_kit::operator::unexpected(&other).to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn pending(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match c.sessions().check(session_id(&headers).as_deref(), Instant::now()) {
        Ok(s) => s,
        Err(e) => return refused(&c, e),
    };
    match open_requests(&c).await {
        Ok(mut items) => {
            items.sort_by_key(|v| v.request.expires_at);
            let grants = grants(&c).await;
            let now = now_ms();
            let n = items.len();
            let rows: Vec<(PendingView, String)> = items
                .into_iter()
                .map(|v| {
                    let why = why_asked(&v, grants.as_deref(), now);
                    (v, why)
                })
                .collect();
            html_page(
                StatusCode::OK,
                pages::layout(c.party(), "Pending", Some(&s.csrf), Some(n), pages::pending(&rows, now)),
            )
        }
        Err(e) => error(&c, StatusCode::BAD_GATEWAY, Some(&s.csrf), &format!("the node did not answer: {e}")),
    }
}

/// The party's standing grants (`None`: the node did not say).
async fn grants(c: &Console) -> Option<Vec<tisa_core::GrantView>> {
    let q = ListQuery { limit: 1000, ..ListQuery::default() };
    match tisa_kit::operator::ask(&c.client, ControlRequest::Grants(q)).await {
        Ok(ControlReply::Grants(items)) => Some(items),
        _ => None,
    }
}

fn why_asked(v: &PendingView, grants: Option<&[tisa_core::GrantView]>, now: Timestamp) -> String {
    match grants {
        Some(g) => crate::why::uncovered(v, g, now),
        None => "unknown (the node did not list the standing grants)".to_owned(),
    }
}

/// The open request `id` with its whole report, if there is one.
async fn find(c: &Console, id: &str) -> Result<Option<PendingView>, String> {
    let Ok(rid) = RequestId::new(id) else { return Ok(None) };
    tisa_kit::operator::find_request(&c.client, &rid).await.map_err(|e| format!("{e:#}"))
}

fn gone(c: &Console, csrf: &str, id: &str) -> Response {
    error(
        c,
        StatusCode::NOT_FOUND,
        Some(csrf),
        &format!("there is no open release request {id} (decided, expired or unknown): `tisa status` shows where a report stands"),
    )
}

async fn request(State(c): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match c.sessions().check(session_id(&headers).as_deref(), Instant::now()) {
        Ok(s) => s,
        Err(e) => return refused(&c, e),
    };
    match find(&c, &id).await {
        Ok(Some(v)) => {
            let now = now_ms();
            let why = why_asked(&v, grants(&c).await.as_deref(), now);
            let prev = crate::diff::previous(&c.client, &v.header.id, v.header.revision).await;
            let changed = match (&prev, &v.content) {
                (Some(p), Some(cur)) => Some(crate::diff::render(p, cur, v.header.revision - 1)),
                _ => None,
            };
            html_page(
                StatusCode::OK,
                pages::layout(c.party(), &id, Some(&s.csrf), None, pages::request(&v, &why, &s.csrf, now, changed)),
            )
        }
        Ok(None) => gone(&c, &s.csrf, &id),
        Err(e) => error(&c, StatusCode::BAD_GATEWAY, Some(&s.csrf), &format!("the node did not answer: {e}")),
    }
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: Option<String>,
    action: Option<String>,
    reason: Option<String>,
}

/// Signs the decision with the operator's key (it never leaves this
/// process) and shows what was signed.
async fn decide(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Response {
    let s = match c.sessions().check_form(session_id(&headers).as_deref(), f.csrf.as_deref(), Instant::now()) {
        Ok(s) => s,
        Err(e) => return refused(&c, e),
    };
    let decision = match f.action.as_deref() {
        Some("approve") => Decision::ApproveFull,
        Some("tearline") => Decision::ApproveTearline,
        Some("deny") => match f.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Decision::Deny { reason: r.to_owned() },
            None => return error(&c, StatusCode::BAD_REQUEST, Some(&s.csrf), "a denial needs a reason"),
        },
        _ => return error(&c, StatusCode::BAD_REQUEST, Some(&s.csrf), "no such decision"),
    };
    let Ok(rid) = RequestId::new(&id) else { return gone(&c, &s.csrf, &id) };
    let before = find(&c, &id).await.ok().flatten();
    let (reply, doc, bytes) = match tisa_kit::operator::decide_signed(&c.client, &c.key, rid, decision).await {
        Ok(r) => r,
        Err(e) => {
            return error(&c, StatusCode::BAD_GATEWAY, Some(&s.csrf), &format!("not decided: {e:#}"));
        }
    };
    let ControlReply::Decided { request_id, decision } = reply else {
        return error(&c, StatusCode::BAD_GATEWAY, Some(&s.csrf), "the node answered something else than a decision");
    };
    tracing::info!(party = %c.party(), request = %request_id, decision = %decision.describe(), "console: decided");
    let hex = tisa_deploy::chain::hex;
    let manifest_sha256 = hex(&doc.manifest_sha256);
    let title = before
        .filter(|v| tisa_core::sign::sha256(&v.manifest.bytes) == doc.manifest_sha256)
        .map(|v| v.title.expose().to_owned());
    let signed = pages::Signed {
        request_id: request_id.as_str(),
        decision: decision.describe().to_owned(),
        report: format!("{} r{} to {}", doc.report_id, doc.revision, doc.recipient),
        title,
        operator: format!("{} (key id {})", c.key.identity.name(), c.key.identity.key_id()),
        sha256: hex(&tisa_core::sign::sha256(&bytes)),
        manifest_sha256,
    };
    html_page(StatusCode::OK, pages::layout(c.party(), "Decided", Some(&s.csrf), None, pages::decided(&signed)))
}
