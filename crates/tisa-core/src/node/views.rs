//! Queries (getters on `&self`) and what they return: the status of own
//! reports, pending requests, the inbox, grants and tracks, a page at a
//! time. Views that show content name their body for the shell to fill
//! from its store ([`InboxEntry::fill`], [`PendingView::fill`]).

use std::collections::BTreeMap;

use super::tracks::TrackEntry;
use super::{limits, Node};
use crate::body::{blank_signed, fill_delivery, FillError};
use crate::error::CommandError;
use crate::ids::{ReportId, RequestId, TrackId};
use crate::message::{Delivery, Grant, ReleaseRequest, Report};
use crate::policy::NotReleasable;
use crate::report::{BodyKey, Content, ReportHeader};
use crate::sign::Signed;
use crate::types::{Category, Classification, Party, Sensitive, Timestamp};

/// Where one revision of an own report stands with the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubState {
    /// Sent; the hub has not confirmed yet.
    Sent,
    /// The hub holds it.
    Accepted,
    /// The hub refused it.
    Rejected {
        /// Rejection code.
        code: String,
        /// Rejection detail (ids only).
        detail: String,
    },
    /// This party is the hub.
    Own,
}

/// Where one revision of an own report stands with one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientState {
    /// Waiting for the hub to ask for release.
    Waiting,
    /// The policy keeps it from this recipient.
    NotReleasable(NotReleasable),
    /// The hub asked; awaiting this party's decision.
    Requested {
        /// The request to decide (what `tisa approve` and `deny` take).
        request_id: RequestId,
        /// When it counts as denied.
        expires_at: Timestamp,
    },
    /// Approved; the hub has not confirmed forwarding yet.
    Approved {
        /// Whether only the tearline is released.
        tearline_only: bool,
    },
    /// Denied (final).
    Denied,
    /// Expired (counts as denied).
    Expired,
    /// The originator retracted the report before it was released here.
    Withdrawn,
    /// The hub forwarded it (or, for the hub's own report, sent it).
    Delivered {
        /// Whether only the tearline is released.
        tearline_only: bool,
    },
}

impl RecipientState {
    /// Stable machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            RecipientState::Waiting => "WAITING",
            RecipientState::NotReleasable(_) => "NOT_RELEASABLE",
            RecipientState::Requested { .. } => "RELEASE_REQUESTED",
            RecipientState::Approved { .. } => "APPROVED",
            RecipientState::Denied => "DENIED",
            RecipientState::Expired => "EXPIRED",
            RecipientState::Withdrawn => "WITHDRAWN",
            RecipientState::Delivered { .. } => "DELIVERED",
        }
    }
}

/// Status of one revision of an own report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionStatus {
    /// The revision's header.
    pub header: ReportHeader,
    /// Where it stands with the hub.
    pub hub: HubState,
    /// Where it stands with each recipient other than the hub.
    pub recipients: BTreeMap<Party, RecipientState>,
    /// Signed receipts: when each recipient committed the delivery.
    pub receipts: BTreeMap<Party, Timestamp>,
    /// When this party retracted the report (every revision), if it did.
    pub retracted_at: Option<Timestamp>,
    /// Whether the hub has confirmed it holds the retraction (always true at the hub).
    pub retraction_confirmed: bool,
    /// The whole revision (content, signed manifest) when one report's
    /// status was asked for in full ([`Node::report_status_full`]).
    pub report: Option<Report>,
    /// When set, `report` is to be filled from the body store ([`RevisionStatus::fill`]).
    pub body: Option<BodyKey>,
}

/// A release request awaiting (or past) this party's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingView {
    /// The request, with its deadline.
    pub request: ReleaseRequest,
    /// The header of the revision it would release.
    pub header: ReportHeader,
    /// The report's title (the operator's own report).
    pub title: Sensitive,
    /// Whether a tearline exists (so tearline-only approval is possible).
    pub has_tearline: bool,
    /// The report's signed manifest (an approver signs its SHA-256).
    pub manifest: Signed,
    /// When set, `title` and `manifest` are blank: fill them from the
    /// body store ([`PendingView::fill`]).
    pub body: Option<BodyKey>,
    /// The whole report (title, body, tearline, source) when one report's
    /// requests were asked for ([`Node::pending_for`]); `None` in a list.
    pub content: Option<Content>,
}

/// A standing grant as one node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantView {
    /// The signed grant, as issued.
    pub grant: Grant,
    /// Whether it has been revoked.
    pub revoked: bool,
    /// Proposed under the two-person rule, awaiting a second approver's
    /// co-signature: not in force.
    pub proposed: bool,
}

/// A report this party received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// The delivery as it arrived (released content and manifest blank
    /// while `body` is set).
    pub delivery: Delivery,
    /// When it arrived, by this node's clock.
    pub received_at: Timestamp,
    /// The originator has retracted the report since.
    pub retracted: Option<RetractionNote>,
    /// When set, what was released and the manifest are blank: fill them
    /// from the body store ([`InboxEntry::fill`]).
    pub body: Option<BodyKey>,
    /// It arrived off-line, in a bundle (`tisa bundle import`).
    pub offline: bool,
}

/// A retraction as a holder of the report sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractionNote {
    /// When the originator retracted it (its clock).
    pub retracted_at: Timestamp,
    /// The originator's reason (shown to operators; never logged).
    pub reason: Sensitive,
}

/// Which received reports an inbox page lists, and in which order. The
/// default: every report, oldest first (in arrival order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxFilter {
    /// Only reports received at or after this instant (this node's clock).
    pub since: Option<Timestamp>,
    /// Only reports of this originator.
    pub originator: Option<Party>,
    /// Only reports of this category.
    pub category: Option<Category>,
    /// Only reports of this classification.
    pub classification: Option<Classification>,
    /// Newest first.
    pub newest_first: bool,
}

impl InboxFilter {
    pub(super) fn admits(&self, h: &ReportHeader, received_at: Timestamp) -> bool {
        self.since.is_none_or(|t| received_at >= t)
            && self.originator.is_none_or(|p| h.originator == p)
            && self.category.is_none_or(|c| h.category == c)
            && self.classification.is_none_or(|c| h.classification == c)
    }
}

/// A page of results: `next_after` is the cursor for the next page, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// At most the page's limit of items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` when this was the last.
    pub next_after: Option<String>,
}

impl InboxEntry {
    /// Fills what was released and the manifest ([`InboxEntry::body`]) from
    /// the stored report under that key.
    pub fn fill(&mut self, body: &Report) -> Result<(), FillError> {
        let Some(key) = self.body.clone() else { return Ok(()) };
        fill_delivery(&mut self.delivery, &key, body)?;
        self.body = None;
        Ok(())
    }
}

impl RevisionStatus {
    /// Fills the whole revision ([`RevisionStatus::body`]) from the stored
    /// report under that key.
    pub fn fill(&mut self, body: &Report) -> Result<(), FillError> {
        let Some(key) = self.body.clone() else { return Ok(()) };
        if body.header != self.header {
            return Err(FillError::Mismatch(key));
        }
        self.report = Some(body.clone());
        self.body = None;
        Ok(())
    }
}

impl PendingView {
    /// Fills the title and the manifest ([`PendingView::body`]) from the
    /// stored report under that key.
    pub fn fill(&mut self, body: &Report) -> Result<(), FillError> {
        let Some(key) = self.body.clone() else { return Ok(()) };
        if body.header != self.header {
            return Err(FillError::Mismatch(key));
        }
        self.title = body.content.title.clone();
        self.manifest = body.manifest.clone();
        if self.content.is_some() {
            self.content = Some(body.content.clone());
        }
        self.body = None;
        Ok(())
    }
}

impl Node {
    /// Release requests still awaiting this party's decision, oldest first.
    pub fn pending(
        &self,
        now: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PendingView>, CommandError> {
        // Straight to the request after the cursor (by its key), whether
        // or not that one is still open: the list may change between pages
        // (an approver decides the last request of a page before reading the
        // next).
        let reqs = &self.originator.requests;
        let start = match after {
            None => 0,
            Some(c) => {
                let id = RequestId::new(c).map_err(|_| unknown_cursor(c))?;
                reqs.index_of(&id, &self.originator.reports).ok_or_else(|| unknown_cursor(c))? + 1
            }
        };
        let open = reqs.iter().skip(start).filter(move |(_, e)| e.is_open(now));
        let mut page = paginate(open, limit, |(_, e)| {
            let r = e.tracked.request(&e.key(&self.originator.reports)?);
            Some((r.request_id.to_string(), self.pending_view(r)?))
        });
        self.fill_in_memory(&mut page.items, |v| v.body.as_ref(), PendingView::fill);
        Ok(page)
    }

    /// The open release requests for one of this party's reports, each with
    /// the whole report (what an approver reads before deciding).
    pub fn pending_for(&self, now: Timestamp, report: &ReportId) -> Vec<PendingView> {
        // Only the report's requests are built (an approver's `tisa approve`
        // asks for them: with a million pending, building every open request
        // to keep a report's few stalled the node).
        let reports = &self.originator.reports;
        let mut items: Vec<PendingView> = self
            .originator
            .requests
            .open_of_report(report, reports, now)
            .filter_map(|e| Some(e.tracked.request(&e.key(reports)?)))
            .filter_map(|r| Some(PendingView { content: Some(Content::default()), ..self.pending_view(r)? }))
            .collect();
        self.fill_in_memory(&mut items, |v| v.body.as_ref(), PendingView::fill);
        items
    }

    fn pending_view(&self, request: ReleaseRequest) -> Option<PendingView> {
        let rev = self.own_revision(&request.report_id, request.revision)?;
        Some(PendingView {
            request,
            header: rev.report.header.clone(),
            title: Sensitive::default(),
            has_tearline: rev.report.has_tearline,
            manifest: blank_signed(),
            body: Some(rev.report.key()),
            content: None,
        })
    }

    /// With bodies kept in memory, fills query results here (the shell
    /// fills them from its store otherwise).
    pub(super) fn fill_in_memory<T>(
        &self,
        items: &mut [T],
        key: impl Fn(&T) -> Option<&BodyKey>,
        fill: impl Fn(&mut T, &Report) -> Result<(), FillError>,
    ) {
        let Some(bodies) = &self.bodies else { return };
        for item in items {
            if let Some(b) = key(item).and_then(|k| bodies.get(k)) {
                // In memory, a body is there and matches: the core stashed it.
                let _ = fill(item, b);
            }
        }
    }

    /// Status of this party's own reports (every revision), in submission order.
    pub fn status(&self, after: Option<&str>, limit: usize) -> Result<Page<RevisionStatus>, CommandError> {
        // Straight to the cursor's report by its index, then past its
        // revision: a page deep into a long list costs its own rows only.
        let reports = &self.originator.reports;
        let (from, skip) = match after {
            None => (0, 0),
            Some(c) => {
                let unknown = || unknown_cursor(c);
                let (id, revision) = parse_inbox_cursor(c).ok_or_else(unknown)?;
                let at = reports.position(&id).ok_or_else(unknown)?;
                let own = reports.values_from(at).next().ok_or_else(unknown)?;
                let k = own.revisions.iter().position(|r| r.report.header.revision == revision).ok_or_else(unknown)?;
                (at, k + 1)
            }
        };
        let rows = reports.values_from(from).enumerate().flat_map(move |(i, o)| {
            let skip = if i == 0 { skip } else { 0 };
            o.revisions.iter().skip(skip).map(move |r| (r, o.retraction.as_deref()))
        });
        Ok(paginate(rows, limit, |(r, t)| {
            Some((inbox_cursor(&r.report.header.id, r.report.header.revision), self.originator.status(r, t)))
        }))
    }

    /// The latest update of every track this party knows (own, held at the
    /// hub, or received), in order of first appearance; the cursor is the track id.
    pub fn tracks(&self, after: Option<&str>, limit: usize) -> Result<Page<TrackEntry>, CommandError> {
        let from = match after {
            None => 0,
            Some(c) => {
                let id = TrackId::new(c).map_err(|_| unknown_cursor(c))?;
                self.tracks.get_index_of(&id).ok_or_else(|| unknown_cursor(c))? + 1
            }
        };
        let rows = self.tracks.get_range(from..).into_iter().flat_map(|s| s.iter());
        Ok(paginate(rows, limit, |(id, e)| Some((id.to_string(), e.clone()))))
    }

    /// Status of every revision of one own report.
    pub fn report_status(&self, id: &ReportId) -> Result<Vec<RevisionStatus>, CommandError> {
        let own = self.originator.reports.get(id).ok_or_else(|| CommandError::UnknownReport(id.clone()))?;
        Ok(own.revisions.iter().map(|r| self.originator.status(r, own.retraction.as_deref())).collect())
    }

    /// [`Node::report_status`], each revision with its whole report (what
    /// `tisa show` prints of an own report).
    pub fn report_status_full(&self, id: &ReportId) -> Result<Vec<RevisionStatus>, CommandError> {
        let own = self.originator.reports.get(id).ok_or_else(|| CommandError::UnknownReport(id.clone()))?;
        let mut items: Vec<RevisionStatus> = own
            .revisions
            .iter()
            .map(|r| RevisionStatus {
                body: Some(r.report.key()),
                ..self.originator.status(r, own.retraction.as_deref())
            })
            .collect();
        self.fill_in_memory(&mut items, |s| s.body.as_ref(), RevisionStatus::fill);
        Ok(items)
    }

    /// Standing grants this node knows (issued, or held at the hub), oldest first.
    pub fn grants(&self) -> Vec<GrantView> {
        let proposed =
            self.originator.proposed.values().map(|g| GrantView { grant: g.clone(), revoked: false, proposed: true });
        self.grants.values().cloned().chain(proposed).collect()
    }
}

/// Cursor of an inbox or status item: `ID.rREVISION`.
pub fn inbox_cursor(id: &ReportId, revision: u32) -> String {
    format!("{id}.r{revision}")
}

/// The report and revision an [`inbox_cursor`] names (`None`: not one;
/// the revision as `{n}` writes it: digits, no leading zero).
pub(super) fn parse_inbox_cursor(cursor: &str) -> Option<(ReportId, u32)> {
    let (id, n) = cursor.rsplit_once(".r")?;
    let canonical = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
    let revision = n.parse().ok().filter(|_| canonical)?;
    Some((ReportId::new(id).ok()?, revision))
}

/// The error for a paging cursor that names nothing in its list.
pub(super) fn unknown_cursor(cursor: &str) -> CommandError {
    CommandError::UnknownCursor(cursor.chars().take(140).collect())
}

/// One page of `rows` (what follows the cursor, in the order listed): at
/// most `limit` (clamped to `1..=PAGE`) items. `make` turns a row into its
/// cursor and item (`None`: not listed) and runs only for the page's rows
/// and the rows up to one more item (which tells whether a next page
/// exists). The caller starts `rows` right after the cursor, by index: a
/// page deep into a long list costs its own rows only (building, then
/// dropping, every row before the cursor made reading a whole list page by
/// page quadratic in items built).
pub(super) fn paginate<R, T>(
    rows: impl Iterator<Item = R>,
    limit: usize,
    make: impl FnMut(R) -> Option<(String, T)>,
) -> Page<T> {
    let limit = limit.clamp(1, limits::PAGE);
    let mut items = rows.filter_map(make);
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < limit {
        match items.next() {
            Some((key, item)) => {
                last = Some(key);
                out.push(item);
            }
            None => break,
        }
    }
    let next_after = if items.next().is_some() { last } else { None };
    Page { items: out, next_after }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Pages of rows `0..n` (each its own cursor; odd rows not listed),
    /// `limit` at a time, each page's rows starting right after the cursor
    /// (as the node's queries start them, by index), counting the items built.
    fn pages(n: u32, limit: usize, built: &Cell<usize>) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let from = after.as_deref().map_or(0, |c| c.parse::<u32>().unwrap() + 1);
            let make = |r: u32| {
                built.set(built.get() + 1);
                r.is_multiple_of(2).then(|| (r.to_string(), r))
            };
            let page = paginate(from..n, limit, make);
            out.push(page.items);
            match page.next_after {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_order() {
        for (n, limit) in [(0, 3), (1, 1), (10, 3), (11, 5), (20, 10), (7, 1000)] {
            let built = Cell::new(0);
            let got: Vec<u32> = pages(n, limit, &built).concat();
            let want: Vec<u32> = (0..n).filter(|r| r.is_multiple_of(2)).collect();
            assert_eq!(got, want, "n={n} limit={limit}");
        }
    }

    /// Reading a whole list page by page builds each item about once: 2,000
    /// rows, 1,000 listed 10 at a time, built the 2,000 rows plus a
    /// look-ahead a page (building every row before the cursor, as paging
    /// once did, built about 101,000).
    #[test]
    fn reading_a_list_page_by_page_builds_each_item_about_once() {
        let built = Cell::new(0);
        let got = pages(2_000, 10, &built);
        assert_eq!(got.len(), 100);
        assert!(built.get() <= 2_000 + 2 * 100, "{} items built for 2,000 rows", built.get());
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let page = |rows: std::ops::Range<u32>, limit| paginate(rows, limit, |r| Some((r.to_string(), r)));
        assert_eq!(page(0..5, 2).next_after.as_deref(), Some("1"));
        assert_eq!(page(3..5, 2).next_after, None, "the last page");
        assert_eq!(page(0..5, 0).items, [0], "limit 0 means 1");
        let odd = paginate(0..5u32, 2, |r| (r < 3).then(|| (r.to_string(), r)));
        assert_eq!((odd.items, odd.next_after), (vec![0, 1], Some("1".to_owned())), "row 2 still follows");
        let none_after = paginate(0..5u32, 2, |r| (r < 2).then(|| (r.to_string(), r)));
        assert_eq!(none_after.next_after, None, "nothing listed follows");
    }

    #[test]
    fn an_inbox_cursor_is_parsed_exactly() {
        let id = ReportId::new("KR-0001").unwrap();
        for rev in [0, 1, 7, 10, 4_294_967_295] {
            assert_eq!(parse_inbox_cursor(&inbox_cursor(&id, rev)), Some((id.clone(), rev)), "{rev}");
        }
        for c in ["KR-0001", "KR-0001.r", "KR-0001.r01", "KR-0001.r+1", "KR-0001.r4294967296", ".r1", "KR-0001.r1 "] {
            assert_eq!(parse_inbox_cursor(c), None, "{c}");
        }
        let odd = ReportId::new("KR-0001.r5").unwrap();
        assert_eq!(parse_inbox_cursor("KR-0001.r5.r1"), Some((odd, 1)));
    }
}
