//! Queries (getters on `&self`) and what they return: the status of own
//! reports, pending requests, the inbox, grants and tracks, a page at a
//! time. Views that show content name their body for the shell to fill
//! from its store ([`InboxEntry::fill`], [`PendingView::fill`]).

use std::collections::BTreeMap;

use super::tracks::TrackEntry;
use super::{limits, Node, RequestState};
use crate::body::{blank_signed, fill_delivery, FillError};
use crate::error::CommandError;
use crate::ids::{ReportId, RequestId};
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
        let open = self.open_requests(now).filter_map(|r| Some((r.request_id.to_string(), self.pending_view(r)?)));
        let mut page = paginate(open, after, limit)?;
        self.fill_in_memory(&mut page.items, |v| v.body.as_ref(), PendingView::fill);
        Ok(page)
    }

    /// The open release requests for one of this party's reports, each with
    /// the whole report (what an approver reads before deciding).
    pub fn pending_for(&self, now: Timestamp, report: &ReportId) -> Vec<PendingView> {
        let mut items: Vec<PendingView> = self
            .open_requests(now)
            .filter(|r| &r.report_id == report)
            .filter_map(|r| Some(PendingView { content: Some(Content::default()), ..self.pending_view(r)? }))
            .collect();
        self.fill_in_memory(&mut items, |v| v.body.as_ref(), PendingView::fill);
        items
    }

    /// The requests still open at `now`, in the order they came.
    fn open_requests(&self, now: Timestamp) -> impl Iterator<Item = ReleaseRequest> + '_ {
        self.originator
            .requests
            .iter()
            .filter(move |(_, e)| e.tracked.state == RequestState::Open && e.tracked.expires_at() > now)
            .filter_map(|(_, e)| Some(e.tracked.request(&e.key(&self.originator.reports)?)))
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
        let items = self
            .originator
            .reports
            .values()
            .flat_map(|o| o.revisions.iter().map(move |r| (r, o.retraction.as_deref())))
            .map(|(r, t)| (inbox_cursor(&r.report.header.id, r.report.header.revision), self.originator.status(r, t)));
        paginate(items, after, limit)
    }

    /// The latest update of every track this party knows (own, held at the
    /// hub, or received), in order of first appearance; the cursor is the track id.
    pub fn tracks(&self, after: Option<&str>, limit: usize) -> Result<Page<TrackEntry>, CommandError> {
        paginate(self.tracks.iter().map(|(id, e)| (id.to_string(), e.clone())), after, limit)
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

pub(super) fn paginate<T>(
    items: impl Iterator<Item = (String, T)>,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<T>, CommandError> {
    let limit = limit.clamp(1, limits::PAGE);
    let mut items = items.peekable();
    if let Some(cursor) = after {
        loop {
            match items.next() {
                Some((key, _)) if key == cursor => break,
                Some(_) => continue,
                None => return Err(CommandError::UnknownCursor(cursor.chars().take(140).collect())),
            }
        }
    }
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
    let next_after = if items.peek().is_some() { last } else { None };
    Ok(Page { items: out, next_after })
}
