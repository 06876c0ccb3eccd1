//! The TAXII 2.1 endpoints (read-only): discovery, API root, collections,
//! objects (and one object's versions), manifest. Thin handlers: the
//! filters are [`super::filter`]'s, the objects [`crate::export`]'s.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State as AxState};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::filter::{page, select, Params};
use super::{auth, State};
use crate::export::Entry;
use crate::{time, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE};

type St = AxState<Arc<State>>;
type Pairs = Query<Vec<(String, String)>>;

/// The router.
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/tisa/", get(api_root))
        .route("/tisa/collections/", get(collections))
        .route("/tisa/collections/{cid}/", get(collection))
        .route("/tisa/collections/{cid}/objects/", get(objects))
        .route("/tisa/collections/{cid}/objects/{oid}/", get(object))
        .route("/tisa/collections/{cid}/objects/{oid}/versions/", get(versions))
        .route("/tisa/collections/{cid}/manifest/", get(manifest))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found", "no such TAXII endpoint") })
        .with_state(state)
}

/// A TAXII error message.
fn error(status: StatusCode, title: &str, description: &str) -> Response {
    let body = json!({"title": title, "description": description, "http_status": status.as_u16().to_string()});
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tisa\", Bearer"));
    }
    r
}

/// A TAXII JSON response, with the date-added headers when given.
fn taxii(body: Value, added: Option<(&Entry, &Entry)>) -> Response {
    let mut r = body.to_string().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE));
    if let Some((first, last)) = added {
        for (name, e) in [("x-taxii-date-added-first", first), ("x-taxii-date-added-last", last)] {
            if let Ok(v) = HeaderValue::from_str(&time::format(e.date_added)) {
                h.insert(name, v);
            }
        }
    }
    r
}

/// An authenticated TAXII user (index into the state's readers), after
/// the `Accept` header is checked.
struct User(usize);

impl FromRequestParts<Arc<State>> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        if let Some(accept) = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
            let ok = accept.split(',').any(|a| {
                let a = a.trim().to_ascii_lowercase().replace(' ', "");
                a.starts_with("application/taxii+json") || a.starts_with("*/*") || a.starts_with("application/*")
            });
            if !ok {
                return Err(error(StatusCode::NOT_ACCEPTABLE, "not acceptable", TAXII_MEDIA_TYPE));
            }
        }
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let creds = state.credentials.clone();
        let found =
            tokio::task::spawn_blocking(move || auth::authenticate(&creds, header.as_deref())).await.ok().flatten();
        match found {
            Some(i) => Ok(User(i)),
            None => {
                warn!(path = %parts.uri.path(), "TAXII request refused: no valid credentials");
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "give a TAXII user's credentials (Basic or Bearer)",
                ))
            }
        }
    }
}

async fn discovery(_u: User, AxState(state): St, headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
    let root = format!("{}://{host}/tisa/", state.scheme);
    taxii(
        json!({
            "title": "tisa",
            "description": "What this party holds through tisa, as STIX 2.1 (read-only).",
            "default": root,
            "api_roots": [root],
        }),
        None,
    )
}

async fn api_root(_u: User) -> Response {
    taxii(
        json!({
            "title": "tisa",
            "description": "One collection: the reports this party holds (its inbox), every revision and retraction.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 104_857_600u64,
        }),
        None,
    )
}

fn collection_json(state: &State) -> Value {
    json!({
        "id": state.collection,
        "title": format!("What {} holds", state.party.trigraph()),
        "description": "Reports released to this party through tisa (tearline-only releases as the tearline alone), \
    with TLP 2.0 and ACS 3.0 markings.",
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

async fn collections(_u: User, AxState(state): St) -> Response {
    taxii(json!({"collections": [collection_json(&state)]}), None)
}

/// The collection's objects, or an error response (unknown collection,
/// bad filter, node unavailable).
async fn read(
    state: &State,
    user: &User,
    cid: &str,
    pairs: &[(String, String)],
) -> Result<(Vec<Entry>, Params), Response> {
    if cid != state.collection {
        return Err(error(StatusCode::NOT_FOUND, "no such collection", cid));
    }
    let params = Params::parse(pairs).map_err(|e| error(StatusCode::BAD_REQUEST, "bad filter", &e))?;
    let all = state.objects(user.0).await.map_err(|e| {
        warn!(error = %tisa_core::text::loggable(&e), "cannot read the node");
        error(StatusCode::SERVICE_UNAVAILABLE, "node unavailable", "the party's node did not answer; try again")
    })?;
    Ok((all, params))
}

/// Logs what was served to whom (ids only).
fn served(state: &State, user: &User, what: &str, items: &[&Entry]) {
    let name = state.readers.get(user.0).map_or("?", |r| r.name.as_str());
    let ids: Vec<&str> = items.iter().map(|e| e.id.as_str()).collect();
    let reports: Vec<&str> = items.iter().filter_map(|e| e.report_id.as_deref()).collect();
    info!(user = %name, what, count = ids.len(), objects = %ids.join(","), reports = %reports.join(","), "TAXII objects served");
}

fn envelope(state: &State, user: &User, items: Vec<&Entry>, more: bool, next: Option<String>) -> Response {
    served(state, user, "objects", &items);
    let added = items.first().zip(items.last()).map(|(a, b)| (*a, *b));
    let mut body = json!({"more": more, "objects": items.iter().map(|e| e.object.clone()).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    taxii(body, added)
}

async fn collection(u: User, AxState(state): St, Path(cid): Path<String>) -> Response {
    if cid != state.collection {
        return error(StatusCode::NOT_FOUND, "no such collection", &cid);
    }
    let _ = u;
    taxii(collection_json(&state), None)
}

async fn objects(u: User, AxState(state): St, Path(cid): Path<String>, Query(q): Pairs) -> Response {
    list(&state, &u, &cid, &q, None).await
}

async fn object(u: User, AxState(state): St, Path((cid, oid)): Path<(String, String)>, Query(q): Pairs) -> Response {
    list(&state, &u, &cid, &q, Some(oid)).await
}

/// An envelope of the collection's objects (of `oid` alone, if given).
async fn list(state: &State, u: &User, cid: &str, q: &[(String, String)], oid: Option<String>) -> Response {
    let (all, mut p) = match read(state, u, cid, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(oid) = oid {
        if !all.iter().any(|e| e.id == oid) {
            return error(StatusCode::NOT_FOUND, "no such object", &oid);
        }
        p.ids = vec![oid];
    }
    let selected = select(&all, &p);
    let (items, more, next) = page(&selected, &p);
    envelope(state, u, items, more, next)
}

async fn versions(u: User, AxState(state): St, Path((cid, oid)): Path<(String, String)>, Query(q): Pairs) -> Response {
    let (all, mut p) = match read(&state, &u, &cid, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !all.iter().any(|e| e.id == oid) {
        return error(StatusCode::NOT_FOUND, "no such object", &oid);
    }
    p.ids = vec![oid];
    p.versions = super::filter::Versions::All;
    let selected = select(&all, &p);
    let (items, more, next) = page(&selected, &p);
    served(&state, &u, "versions", &items);
    let added = items.first().zip(items.last()).map(|(a, b)| (*a, *b));
    let mut body = json!({"more": more, "versions": items.iter().map(|e| e.version.clone()).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    taxii(body, added)
}

async fn manifest(u: User, AxState(state): St, Path(cid): Path<String>, Query(q): Pairs) -> Response {
    let (all, p) = match read(&state, &u, &cid, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let selected = select(&all, &p);
    let (items, more, next) = page(&selected, &p);
    served(&state, &u, "manifest", &items);
    let added = items.first().zip(items.last()).map(|(a, b)| (*a, *b));
    let records: Vec<Value> = items
        .iter()
        .map(|e| json!({"id": e.id, "date_added": time::format(e.date_added), "version": e.version, "media_type": STIX_MEDIA_TYPE}))
        .collect();
    let mut body = json!({"more": more, "objects": records});
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    taxii(body, added)
}
