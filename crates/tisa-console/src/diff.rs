//! What a correction changed: a line diff (the `similar` crate) of a
//! revision's text — title, body, tearline, source — against the previous
//! revision's, shown on the request page. Every line is report text, so
//! every line is escaped by the template like the rest.

use maud::{html, Markup};
use similar::{ChangeTag, TextDiff};
use tisa_core::{Content, Page, ReportId};
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

/// A revision's text as the diff compares it: one labelled block per field.
fn text(c: &Content) -> String {
    let mut s = format!("Title: {}\n", c.title.expose());
    s.push_str("Body:\n");
    s.push_str(c.body.expose());
    s.push('\n');
    match &c.tearline {
        Some(t) => s.push_str(&format!("Tearline: {}\n", t.expose())),
        None => s.push_str("Tearline: (none)\n"),
    }
    s.push_str(&format!("Source: {}\n", c.source.expose()));
    s
}

/// The content of `report`'s revision `revision - 1` (own reports only:
/// the node keeps every revision of what this party wrote).
pub async fn previous(client: &ControlClient, report: &ReportId, revision: u32) -> Option<Content> {
    if revision < 2 {
        return None;
    }
    let q = ListQuery { report_id: Some(report.clone()), full: true, limit: 1000, ..ListQuery::default() };
    let Ok(ControlReply::Status(Page { items, .. })) = tisa_kit::operator::ask(client, ControlRequest::Status(q)).await
    else {
        return None;
    };
    items.into_iter().find(|s| s.header.revision == revision - 1).and_then(|s| s.report).map(|r| r.content)
}

/// The lines removed (`-`) and added (`+`) from `old` to `new`, with the
/// unchanged ones for context.
pub fn render(old: &Content, new: &Content, old_revision: u32) -> Markup {
    let (a, b) = (text(old), text(new));
    let diff = TextDiff::from_lines(&a, &b);
    html! {
        section.diff {
            h2 { "Changed since revision " (old_revision) }
            pre.diff {
                @for change in diff.iter_all_changes() {
                    @let line = change.value().trim_end_matches('\n');
                    @match change.tag() {
                        ChangeTag::Delete => span.del { "- " (line) },
                        ChangeTag::Insert => span.ins { "+ " (line) },
                        ChangeTag::Equal => span.same { "  " (line) },
                    }
                }
            }
        }
    }
}
