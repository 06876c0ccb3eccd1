//! The standing grants page: every grant the node knows, and the forms to
//! issue a grant, revoke one, or co-sign one proposed under the two-person
//! rule — each document signed here with the operator's approver key, as
//! `tisa standing` signs it, each form carrying the session's CSRF token.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tisa_core::{Category, Classification, GrantView, Party};
use tisa_kit::grants::GrantInput;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::routes::{error, form_session, logged_in, node_error, page as answer};
use crate::session::Session;
use crate::Console;

async fn list(c: &Console) -> Result<Vec<GrantView>, String> {
    match tisa_kit::operator::ask(&c.client, ControlRequest::Grants(ListQuery::default())).await {
        Ok(ControlReply::Grants(items)) => Ok(items),
        Ok(other) => Err(tisa_kit::operator::unexpected(&other).to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The grants page, with `done` (what was just signed) above the list.
async fn show(c: &Console, s: &Session, done: Option<String>) -> Response {
    match list(c).await {
        Ok(items) => answer(c, s, "Standing grants", render(c.party(), &items, &s.csrf, done.as_deref())),
        Err(e) => node_error(c, s, e),
    }
}

/// `GET /grants`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match logged_in(&c, &headers) {
        Ok(s) => show(&c, &s, None).await,
        Err(r) => *r,
    }
}

/// The new-grant form.
#[derive(Debug, Deserialize)]
pub struct GrantForm {
    csrf: Option<String>,
    to: Option<String>,
    nuclear: Option<String>,
    missile: Option<String>,
    max: Option<String>,
    tearline_only: Option<String>,
    #[serde(default)]
    expires_in: String,
}

impl GrantForm {
    fn input(&self) -> Result<GrantInput, String> {
        let to: Party = self.to.as_deref().unwrap_or("").parse().map_err(|_| "pick the recipient".to_owned())?;
        let mut categories = Vec::new();
        if self.nuclear.is_some() {
            categories.push(Category::NkNuclear);
        }
        if self.missile.is_some() {
            categories.push(Category::NkMissile);
        }
        if categories.is_empty() {
            return Err("tick at least one category".to_owned());
        }
        let max =
            self.max.as_deref().unwrap_or("").parse().map_err(|_| "pick the highest classification".to_owned())?;
        let expires_in = match self.expires_in.trim() {
            "" => None,
            d => Some(humantime::parse_duration(d).map_err(|e| format!("lasts for {d:?}: {e} (write e.g. 30d, 12h)"))?),
        };
        Ok(GrantInput { to, categories, max, tearline_only: self.tearline_only.is_some(), expires_in })
    }
}

/// `POST /grants`: issues a grant signed with the operator's key.
pub(crate) async fn issue(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<GrantForm>) -> Response {
    let s = match form_session(&c, &headers, f.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let input = match f.input() {
        Ok(i) => i,
        Err(e) => return error(&c, StatusCode::BAD_REQUEST, Some(&s.csrf), &e),
    };
    match tisa_kit::grants::issue(&c.client, c.party(), &c.key, input).await {
        Ok(items) => {
            let id = items.first().map(|g| g.grant.doc.grant_id.clone()).unwrap_or_default();
            tracing::info!(party = %c.party(), grant = %id, "console: grant issued");
            show(&c, &s, Some(format!("Signed and issued {id}"))).await
        }
        Err(e) => node_error(&c, &s, format!("not issued: {e:#}")),
    }
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /grants/{id}/revoke`.
pub(crate) async fn revoke(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let s = match form_session(&c, &headers, f.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match tisa_kit::grants::revoke(&c.client, c.party(), &c.key, &id).await {
        Ok(_) => {
            tracing::info!(party = %c.party(), grant = %id, "console: grant revoked");
            show(&c, &s, Some(format!("Signed and revoked {id}"))).await
        }
        Err(e) => node_error(&c, &s, format!("not revoked: {e:#}")),
    }
}

/// `POST /grants/{id}/cosign`: the second approver's co-signature.
pub(crate) async fn cosign(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let s = match form_session(&c, &headers, f.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let items = match list(&c).await {
        Ok(i) => i,
        Err(e) => return node_error(&c, &s, e),
    };
    let Some(g) = items.iter().find(|g| g.grant.doc.grant_id == id && g.proposed) else {
        return error(&c, StatusCode::NOT_FOUND, Some(&s.csrf), &format!("no proposed grant {id}: see the list"));
    };
    match tisa_kit::operator::cosign_grant(&c.client, c.party(), &g.grant.signed, &c.key.identity).await {
        Ok(ControlReply::Grants(_)) => show(&c, &s, Some(format!("Co-signed {id}"))).await,
        Ok(ControlReply::Error { message, .. }) => node_error(&c, &s, format!("not co-signed: {message}")),
        Ok(other) => node_error(&c, &s, tisa_kit::operator::unexpected(&other)),
        Err(e) => node_error(&c, &s, format!("not co-signed: {e:#}")),
    }
}

fn state(g: &GrantView) -> &'static str {
    if g.revoked {
        "REVOKED"
    } else if g.proposed {
        "PROPOSED (awaits a second approver)"
    } else if g.grant.cosign.is_some() {
        "in force (co-signed)"
    } else {
        "in force"
    }
}

/// The list, then the form for a new grant.
pub fn render(party: Party, items: &[GrantView], csrf: &str, done: Option<&str>) -> Markup {
    html! {
        h1 { "Standing grants" }
        @if let Some(d) = done { p.ok id="done" { (d) } }
        @if items.is_empty() { p { "No standing grant: every trilateral release asks an approver." } }
        @else {
            table id="grants" {
                thead { tr {
                    th { "Grant" } th { "To" } th { "Covers" } th { "Issued by" } th { "Issued" } th { "Lapses" } th { "State" } th {}
                } }
                tbody {
                    @for g in items {
                        @let d = &g.grant.doc;
                        tr {
                            td { code { (d.grant_id) } }
                            td { (d.recipient.code()) }
                            td {
                                (d.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))
                                " up to " (d.max_classification)
                                @if d.tearline_only { ", the tearline only" }
                            }
                            td { (d.operator) }
                            td { (d.issued_at) }
                            td { @if let Some(t) = d.not_after { (t) } @else { "never" } }
                            td { (state(g)) }
                            td {
                                @if !g.revoked && d.originator == party {
                                    form method="post" action={ "/grants/" (d.grant_id) "/revoke" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                                @if g.proposed && d.originator == party {
                                    form method="post" action={ "/grants/" (d.grant_id) "/cosign" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { "Co-sign" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Issue a standing grant" }
        form.grant id="grant" method="post" action="/grants" {
            input type="hidden" name="csrf" value=(csrf);
            label { "To " select name="to" {
                @for p in Party::ALL.iter().filter(|p| **p != party && **p != Party::Us) {
                    option value=(p.trigraph()) { (p.code()) }
                }
            } }
            label { input type="checkbox" name="missile" value="1" checked; " NK_MISSILE" }
            label { input type="checkbox" name="nuclear" value="1"; " NK_NUCLEAR" }
            label { "up to " select name="max" {
                @for k in Classification::ALL { option value=(k.as_str()) selected[k == Classification::Secret] { (k) } }
            } }
            label { input type="checkbox" name="tearline_only" value="1"; " the tearline only" }
            label { "lasts " input type="text" name="expires_in" placeholder="until revoked (or 30d, 12h)" size="16"; }
            button type="submit" { "Sign and issue" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(to: &str, nuclear: bool, missile: bool, max: &str, expires_in: &str) -> GrantForm {
        GrantForm {
            csrf: None,
            to: Some(to.into()),
            nuclear: nuclear.then(|| "1".into()),
            missile: missile.then(|| "1".into()),
            max: Some(max.into()),
            tearline_only: Some("1".into()),
            expires_in: expires_in.into(),
        }
    }

    #[test]
    fn the_grant_form_becomes_what_tisa_standing_grant_takes() {
        let g = form("JPN", true, true, "SECRET", "30d").input().expect("a valid form");
        assert_eq!(g.to, Party::Jp);
        assert_eq!(g.categories, vec![Category::NkNuclear, Category::NkMissile]);
        assert_eq!(g.max, Classification::Secret);
        assert!(g.tearline_only);
        assert_eq!(g.expires_in, Some(std::time::Duration::from_secs(30 * 86_400)));
        assert_eq!(form("JPN", false, true, "S", "").input().expect("no expiry").expires_in, None);
        for (f, word) in [
            (form("JPN", false, false, "SECRET", ""), "category"),
            (form("", true, false, "SECRET", ""), "recipient"),
            (form("JPN", true, false, "SECRET", "soon"), "lasts"),
            (form("JPN", true, false, "cosmic", ""), "classification"),
        ] {
            let e = f.input().expect_err("refused");
            assert!(e.contains(word), "{e}");
        }
    }
}
