//! The console's pages, server-rendered with maud: every value from a
//! report (title, body, tearline, source, names) is escaped by the
//! template. The one script (`/console.js`, live updates) inserts text
//! through DOM APIs only, so nothing can insert report text as markup.

use maud::{html, Markup, DOCTYPE};
use tisa_core::sign::Manifest;
use tisa_core::{Party, PendingView, Timestamp};

/// The console's only script: live updates (`/console.js`; see [`crate::live`]).
pub const JS: &str = include_str!("../assets/console.js");

/// The stylesheet (`/console.css`; the Content-Security-Policy allows
/// styles from the console itself only).
pub const CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}\
header{background:#12263a;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center}\
header a{color:#fff}header form{margin-left:auto}header nav{display:flex;gap:1.2rem}\
main{padding:1rem 1.2rem;max-width:80rem}h1{font-size:1.6rem;overflow-wrap:anywhere}\
td.title a{font-weight:600}small.id{color:#555;font-family:monospace;font-size:.8rem}\
.tag{background:#e8eef5;border-radius:.3rem;padding:0 .3rem;font-size:.8rem;white-space:nowrap}\
dd pre{background:#f6f7f9;padding:.4rem .6rem;border-left:3px solid #12263a}dd{margin:0;overflow-wrap:anywhere}\
#approve button,#tearline button{background:#1e7e34;color:#fff;border:0;border-radius:.3rem}\
button.danger{background:#a93226;color:#fff;border:0;border-radius:.3rem}form.grant{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:center;background:#fff;border:1px solid #d8dde3;padding:.6rem}\
td form{display:inline}\
svg#map{width:100%;height:auto;border:1px solid #9fb3c8;background:#cfe3f3;display:block}\
svg .sea{fill:#cfe3f3}svg .land{fill:#efeadf;stroke:#8a7f6a;stroke-width:1}\
svg .grid{stroke:#9fb3c8;stroke-width:.6;stroke-dasharray:3 4}svg .gridlabel{fill:#4a6078;font-size:12px}\
svg .city{fill:#333;font-size:13px}svg circle.city{fill:#333}\
svg .path{fill:none;stroke:#c0392b;stroke-width:3}svg .predicted{stroke:#c0392b;stroke-width:2;stroke-dasharray:8 6}\
svg .launch{fill:#12263a}svg .position{fill:#c0392b;stroke:#fff;stroke-width:2}\
svg .impact circle{fill:none;stroke:#8e44ad;stroke-width:3}svg .impact line{stroke:#8e44ad;stroke-width:3}\
svg .tracklabel{fill:#7b1d12;font-size:15px;font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3}\
.legend .key{display:inline-block;width:.9rem;height:.9rem;vertical-align:middle;margin-left:.8rem}\
.key.launch{background:#12263a}.key.path{background:#c0392b;height:.25rem}.key.position{background:#c0392b;border-radius:50%}\
.key.impact{border:3px solid #8e44ad;border-radius:50%;width:.6rem;height:.6rem}\
#entries{table-layout:fixed;font-size:.85rem}#entries td{overflow-wrap:anywhere}\
#entries th:nth-child(1){width:3rem}#entries th:nth-child(2){width:7rem}#entries th:nth-child(3){width:9rem}\
#entries th:nth-child(4){width:7rem}#entries th:nth-child(5),#entries th:nth-child(6){width:13rem}\
pre.diff{background:#fff;border:1px solid #d8dde3;padding:.6rem;font-family:monospace;font-size:.9rem}\
span.del{background:#fdecea;color:#922;display:block}span.ins{background:#eafaf1;color:#185c2c;display:block}span.same{color:#555;display:block}\
#deny button{background:#a93226;color:#fff;border:0;border-radius:.3rem}\
table{border-collapse:collapse;width:100%;background:#fff}\
th,td{border-bottom:1px solid #d8dde3;padding:.4rem .5rem;text-align:left;vertical-align:top}\
th{background:#eef1f4}\
.badge{background:#c0392b;color:#fff;border-radius:1rem;padding:0 .5rem;font-weight:bold}.badge:empty{display:none}\
.marking{font-weight:bold;letter-spacing:.03em}\
.offline{font-weight:bold;color:#5b2a86}\
.soon{color:#c0392b;font-weight:bold}\
section.report{background:#fff;border:1px solid #d8dde3;padding:1rem;margin:1rem 0}\
pre{white-space:pre-wrap;font-family:inherit;margin:.2rem 0}\
dl{display:grid;grid-template-columns:12rem 1fr;gap:.3rem .8rem}dt{font-weight:bold}\
.decide{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}\
.decide form{background:#fff;border:1px solid #d8dde3;padding:.8rem}\
button{font-size:1rem;padding:.4rem .8rem}\
textarea{width:20rem;height:4rem;display:block;margin:.3rem 0}\
.error{background:#fdecea;border:1px solid #c0392b;padding:1rem}\
.ok{background:#eafaf1;border:1px solid #27ae60;padding:1rem}\
form.filters{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:center;background:#fff;border:1px solid #d8dde3;padding:.6rem}\
article.entry{background:#fff;border:1px solid #d8dde3;padding:.6rem 1rem;margin:.8rem 0}\
article.entry h2{font-size:1.15rem;margin:.3rem 0}\
article.retracted{border-left:.4rem solid #c0392b;background:#fbf3f2}\
.meta{color:#444;margin:0}.flag{color:#c0392b;font-weight:bold;margin:.3rem 0}.note{color:#555;font-style:italic;margin:.3rem 0}\
.count{color:#555}";

/// The pages after "Pending", in the header.
const NAV: &[(&str, &str)] = &[
    ("/inbox", "Inbox"),
    ("/map", "Tracks"),
    ("/status", "Status"),
    ("/grants", "Standing grants"),
    ("/audit", "Audit"),
    ("/health", "Health"),
];

/// Every page: the party, the navigation, logout (with the session's CSRF token).
pub fn layout(party: Party, title: &str, csrf: Option<&str>, pending: Option<usize>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tisa console · " (party) }
                link rel="stylesheet" href="/console.css";
                @if csrf.is_some() { script src="/console.js" defer {} }
            }
            body {
                header {
                    strong { "tisa · " (party.code()) }
                    @if csrf.is_some() {
                        nav {
                            a href="/" {
                                "Pending "
                                span.badge id="pending-count" { @if let Some(n) = pending.filter(|n| *n > 0) { (n) } }
                            }
                            @for (href, label) in NAV { a href=(href) { (label) } }
                        }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=[csrf];
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// "in 3 h 20 min" / "4 min ago" from `now` to `at`.
fn relative(at: Timestamp, now: Timestamp) -> String {
    let (a, n) = (at.as_millis(), now.as_millis());
    let d = std::time::Duration::from_secs(a.abs_diff(n) / 1000);
    let text = if d.as_secs() < 60 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() < 3600 {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{} h {} min", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    };
    if a >= n {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// Who submitted the revision, as its signed manifest says.
fn submitter(v: &PendingView) -> String {
    match Manifest::parse(&v.manifest.bytes) {
        Ok(m) => match m.submitter_key {
            Some(k) => format!("{} (key id {k}, signature verified by the node)", m.submitted_by),
            None => format!("{} (no signed submission)", m.submitted_by),
        },
        Err(_) => "unknown (unreadable manifest)".to_owned(),
    }
}

/// Who submitted, in a few words (the request page says it in full).
fn submitter_short(v: &PendingView) -> String {
    match Manifest::parse(&v.manifest.bytes) {
        Ok(m) if m.submitter_key.is_some() => format!("{} (verified)", m.submitted_by),
        Ok(m) => format!("{} (unsigned)", m.submitted_by),
        Err(_) => "unknown".to_owned(),
    }
}

/// The open release requests (in the order given: soonest to expire
/// first), each with why no standing grant covers it.
pub fn pending(items: &[(PendingView, String)], now: Timestamp) -> Markup {
    html! {
        h1 { "Release requests awaiting your decision" }
        @if items.is_empty() {
            p { "None: nothing awaits your decision." }
        } @else {
            table {
                thead { tr {
                    th { "Report" } th { "To" } th { "Markings" } th { "Submitted by" }
                    th { "Asked" } th { "Expires" } th { "Why you are asked" }
                } }
                tbody {
                    @for (v, why) in items {
                        @let h = &v.header;
                        @let soon = v.request.expires_at.as_millis().saturating_sub(now.as_millis()) < 3_600_000;
                        tr {
                            td.title {
                                a href={ "/requests/" (v.request.request_id.as_str()) } { (v.title.expose()) }
                                @if v.has_tearline { " " span.tag { "has tearline" } }
                                br; small.id { (h.id.as_str()) " r" (h.revision) }
                            }
                            td { (v.request.recipient.code()) }
                            td.marking { (h.classification) br; (h.category) }
                            td { (submitter_short(v)) }
                            td { (relative(v.request.requested_at, now)) }
                            td class=[soon.then_some("soon")] { (relative(v.request.expires_at, now)) }
                            td { (why) }
                        }
                    }
                }
            }
        }
    }
}

/// One request with the whole report, why no standing grant covers it,
/// and the three decisions.
pub fn request(v: &PendingView, why: &str, csrf: &str, now: Timestamp, changed: Option<Markup>) -> Markup {
    let h = &v.header;
    let id = v.request.request_id.as_str();
    let action = format!("/requests/{id}/decide");
    html! {
        h1 { "Release " (h.id.as_str()) " r" (h.revision) " to " (v.request.recipient.code()) "?" }
        p.marking { (h.classification) " · " (h.category) " · REL TO " (h.releasable_to) }
        section.report {
            @match &v.content {
                Some(c) => {
                    dl {
                        dt { "Title" } dd { (c.title.expose()) }
                        dt { "Body" } dd { pre { (c.body.expose()) } }
                        dt { "Tearline" } dd {
                            @match &c.tearline {
                                Some(t) => pre { (t.expose()) },
                                None => em { "none: only a release in full is possible" },
                            }
                        }
                        dt { "Source" } dd { @if c.source.is_empty() { "-" } @else { (c.source.expose()) } }
                        dt { "Submitted by" } dd { (submitter(v)) }
                        dt { "Created" } dd { (h.created_at) }
                        dt { "Asked" } dd { (v.request.requested_at) " (" (relative(v.request.requested_at, now)) ")" }
                        dt { "Expires" } dd { (v.request.expires_at) " (" (relative(v.request.expires_at, now)) ")" }
                        dt { "Why you are asked" } dd { (why) }
                    }
                }
                None => p.error { "The node did not send the report's content; do not decide without reading it." }
            }
        }
        @if let Some(d) = changed { (d) }
        div.decide {
            form id="approve" method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="approve";
                button type="submit" { "Approve: release in full" }
            }
            @if v.has_tearline {
                form id="tearline" method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="action" value="tearline";
                    button type="submit" { "Approve the tearline only" }
                }
            }
            form id="deny" method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="deny";
                label for="reason" { "Reason for denying" }
                textarea id="reason" name="reason" required {}
                button type="submit" { "Deny" }
            }
        }
    }
}

/// What was decided and signed.
pub struct Signed<'a> {
    /// The request.
    pub request_id: &'a str,
    /// "approved", "approved (tearline only)", "denied: …".
    pub decision: String,
    /// The report, its revision and the recipient.
    pub report: String,
    /// Its title, if the signed manifest is the one shown.
    pub title: Option<String>,
    /// The signer's name and key id.
    pub operator: String,
    /// SHA-256 of the signed decision document, and of the manifest it covers.
    pub sha256: String,
    /// SHA-256 of the report's manifest the decision covers.
    pub manifest_sha256: String,
}

/// The page after a decision: what was signed.
pub fn decided(s: &Signed) -> Markup {
    html! {
        h1 { (s.request_id) ": " (s.decision) }
        div.ok {
            dl {
                dt { "Report" } dd { (s.report) }
                @if let Some(t) = &s.title { dt { "Title" } dd { (t) } }
                dt { "Signed by" } dd { (s.operator) }
                dt { "Decision document sha256" } dd { code { (s.sha256) } }
                dt { "Over the manifest sha256" } dd { code { (s.manifest_sha256) } }
            }
        }
        p { a href="/" { "Back to the pending requests" } }
    }
}

/// An error, in one sentence saying what to do.
pub fn error(message: &str) -> Markup {
    html! {
        h1 { "Not done" }
        p.error { (message) }
        p { a href="/" { "Back to the pending requests" } }
    }
}
