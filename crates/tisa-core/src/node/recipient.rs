//! A holder's side: taking in a delivery only after verifying the
//! originator's signed manifest and consent, signing a receipt, and keeping
//! the report in the inbox. (The hub holds national reports in the same
//! inbox; see `hub`.)

use super::hub::Held;
use super::views::{
    inbox_cursor, paginate, parse_inbox_cursor, unknown_cursor, InboxEntry, InboxFilter, Page, RetractionNote,
};
use super::{two_persons, Node};
use crate::body::blank_signed;
use crate::error::{CommandError, RejectReason};
use crate::ids::{MessageId, ReportId, RequestId};
use crate::message::{Basis, Consent, Delivery, Payload, Released, Report};
use crate::policy::{KeyRole, NotReleasable};
use crate::report::{BodyKey, Content, ReportHeader};
use crate::sign::{self, DecisionDoc, GrantDoc, Manifest, Signed, Verdict};
use crate::types::{Party, Sensitive, Timestamp};

/// A report received (a delivery at its recipient, a national report at
/// the hub), as the inbox keeps it: what the entry needs besides its body,
/// compactly (one per report received, for up to millions), and the
/// manifest's hash (to recognise the same delivery again).
#[derive(Clone, Debug)]
pub(super) struct Received {
    pub(super) header: ReportHeader,
    pub(super) tearline_only: bool,
    pub(super) basis: Basis,
    pub(super) request_id: Option<RequestId>,
    pub(super) consent: Option<Box<Consent>>,
    pub(super) received_at: Timestamp,
    pub(super) retracted: Option<Box<RetractionNote>>,
    pub(super) manifest_sha256: sign::Digest32,
    /// It arrived off-line (in a bundle).
    pub(super) offline: bool,
}

impl Received {
    /// The inbox entry, its body blank (named for the store).
    pub(super) fn entry(&self) -> InboxEntry {
        let released = if self.tearline_only {
            Released::Tearline(Sensitive::default())
        } else {
            Released::Full(Content::default())
        };
        InboxEntry {
            delivery: Delivery {
                header: self.header.clone(),
                released,
                basis: self.basis,
                request_id: self.request_id.clone(),
                manifest: blank_signed(),
                consent: self.consent.as_deref().cloned(),
            },
            received_at: self.received_at,
            retracted: self.retracted.as_deref().cloned(),
            body: Some(BodyKey::of(&self.header)),
            offline: self.offline,
        }
    }
}

impl Node {
    /// Reports this party received, in arrival order.
    pub fn inbox(&self, after: Option<&str>, limit: usize) -> Result<Page<InboxEntry>, CommandError> {
        self.inbox_filtered(&InboxFilter::default(), after, limit)
    }

    /// The received reports `filter` admits, in its order (`after`: a
    /// cursor of the previous page under the same filter).
    pub fn inbox_filtered(
        &self,
        filter: &InboxFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboxEntry>, CommandError> {
        let rows = self.received_after(after, filter.newest_first)?;
        let rows = rows.filter(|(_, e)| filter.admits(e.header(), e.received_at()));
        let mut page = paginate(rows, limit, |((id, rev), e)| Some((inbox_cursor(id, rev), e.entry())));
        self.fill_in_memory(&mut page.items, |e| e.body.as_ref(), InboxEntry::fill);
        Ok(page)
    }

    /// Every revision of one report this party received, oldest first.
    pub fn inbox_for(&self, report: &ReportId) -> Vec<InboxEntry> {
        let mut items: Vec<InboxEntry> =
            self.received().filter(|((id, _), _)| *id == report).map(|(_, e)| e.entry()).collect();
        self.fill_in_memory(&mut items, |e| e.body.as_ref(), InboxEntry::fill);
        items
    }

    /// The reports this party received, in arrival order: a nation's
    /// inbox, or the reports the hub holds (its inbox; one of the two is
    /// always empty).
    fn received(&self) -> impl DoubleEndedIterator<Item = ((&ReportId, u32), InboxRow<'_>)> {
        self.received_range(0, usize::MAX)
    }

    /// Those of [`Node::received`] at positions `lo..hi` (clamped to the end).
    fn received_range(
        &self,
        lo: usize,
        hi: usize,
    ) -> impl DoubleEndedIterator<Item = ((&ReportId, u32), InboxRow<'_>)> {
        let n = self.inbox.len();
        let inbox = self.inbox.get_range(lo.min(n)..hi.min(n)).into_iter().flat_map(|s| s.iter());
        let inbox = inbox.map(|((id, rev), e)| ((id, *rev), InboxRow::Received(e)));
        let held = self.hub.held.slice(lo.saturating_sub(n)..hi.saturating_sub(n).min(self.hub.held.len()));
        let held = held.iter().map(|e| ((&e.report.header.id, e.report.header.revision), InboxRow::Held(e)));
        inbox.chain(held)
    }

    /// The reports received after the one `after` names (newest first:
    /// before it), in the order asked: straight to it by its index, so a
    /// page deep into a long inbox costs its own rows only.
    #[allow(clippy::type_complexity)]
    fn received_after(
        &self,
        after: Option<&str>,
        newest_first: bool,
    ) -> Result<Box<dyn Iterator<Item = ((&ReportId, u32), InboxRow<'_>)> + '_>, CommandError> {
        let n = self.inbox.len();
        let total = n + self.hub.held.len();
        let at = match after {
            None => None,
            Some(c) => {
                let (id, rev) = parse_inbox_cursor(c).ok_or_else(|| unknown_cursor(c))?;
                let held = || self.hub.held.position(&id, rev).map(|j| n + j);
                Some(self.inbox.get_index_of(&(id.clone(), rev)).or_else(held).ok_or_else(|| unknown_cursor(c))?)
            }
        };
        Ok(match (at, newest_first) {
            (None, false) => Box::new(self.received_range(0, total)),
            (None, true) => Box::new(self.received_range(0, total).rev()),
            (Some(k), false) => Box::new(self.received_range(k + 1, total)),
            (Some(k), true) => Box::new(self.received_range(0, k).rev()),
        })
    }
}

/// One received report: in a nation's inbox, or held at the hub.
enum InboxRow<'a> {
    Received(&'a Received),
    Held(&'a Held),
}

impl InboxRow<'_> {
    fn header(&self) -> &ReportHeader {
        match self {
            InboxRow::Received(e) => &e.header,
            InboxRow::Held(e) => &e.report.header,
        }
    }

    fn received_at(&self) -> Timestamp {
        match self {
            InboxRow::Received(e) => e.received_at,
            InboxRow::Held(e) => e.received_at,
        }
    }

    fn entry(&self) -> InboxEntry {
        match self {
            InboxRow::Received(e) => e.entry(),
            InboxRow::Held(e) => e.entry(),
        }
    }
}

impl Node {
    pub(super) fn recipient_on_delivery(
        &mut self,
        now: Timestamp,
        message_id: MessageId,
        d: Delivery,
    ) -> Result<(), RejectReason> {
        let h = &d.header;
        if h.originator == self.party {
            return Err(RejectReason::OwnReport(h.id.clone()));
        }
        if h.id.prefix_party() != Some(h.originator) || h.revision == 0 {
            return Err(RejectReason::BadReportId(h.id.clone()));
        }
        // An exact duplicate of what was accepted is absorbed, even if its
        // grant has since been revoked or has lapsed.
        let again = self.inbox.get(&(h.id.clone(), h.revision)).filter(|e| same_delivery(e, &d));
        if let Some(doc) = again.map(|e| self.receipt_doc(e)) {
            // The hub did not get the receipt (or is reconciling): a receipt
            // for the same document again.
            let r = self.signed_receipt(doc);
            self.send(now, Party::HUB, Payload::Receipt(r));
            return Ok(());
        }
        // An exact duplicate of what is held stays held: only a statement,
        // a revocation, a lapse or a retraction settles it.
        if self.held_delivery(&(h.id.clone(), h.revision)).is_some_and(|e| same_delivery(e, &d)) {
            return Ok(());
        }
        if self.retractions.contains_key(&h.id) {
            return Err(RejectReason::Retracted(h.id.clone()));
        }
        let not_releasable = |why| RejectReason::NotReleasable { report: h.id.clone(), recipient: self.party, why };
        match (h.originator.is_hub(), d.basis) {
            (true, Basis::Bilateral) => {
                self.policy.check_bilateral(h, self.party).map_err(not_releasable)?;
                if d.request_id.is_some() || d.consent.is_some() || matches!(d.released, Released::Tearline(_)) {
                    return Err(RejectReason::UnexpectedMessage { kind: "delivery", link: Party::HUB });
                }
            }
            (false, Basis::Trilateral) => {
                let offline = self.offline_input();
                self.policy.check_trilateral_via(h, self.party, offline).map_err(not_releasable)?;
                let expected = RequestId::for_release(&h.id, h.revision, self.party);
                if d.request_id.as_ref() != Some(&expected) {
                    return Err(RejectReason::RequestMismatch(d.request_id.clone().unwrap_or(expected)));
                }
                // Off-line, only explicit per-report consent: a courier
                // cannot carry a grant's freshness.
                if offline && matches!(d.consent, Some(Consent::Grant(_))) {
                    return Err(RejectReason::NoConsent(h.id.clone()));
                }
                self.verify_consent(now, &d)?;
            }
            _ => return Err(not_releasable(NotReleasable::NotAThirdParty)),
        }
        // The originator's own signature over what arrived: the hub cannot
        // alter a report, nor forge one.
        match &d.released {
            Released::Full(c) => self.verify_manifest(&d.manifest, h, Some(c), None)?,
            Released::Tearline(t) => self.verify_manifest(&d.manifest, h, None, Some(t))?,
        };
        let key = (h.id.clone(), h.revision);
        if let Some(existing) = self.inbox.get(&key).or_else(|| self.held_delivery(&key)) {
            return if same_delivery(existing, &d) {
                Ok(())
            } else {
                Err(RejectReason::Conflict { report: key.0, revision: key.1 })
            };
        }
        let (tearline_only, title) = match &d.released {
            Released::Full(c) => (false, Some(c.title.clone())),
            Released::Tearline(_) => (true, None),
        };
        // Under a grant, only while a fresh statement that it stands is held
        // here; otherwise held (see `standing`).
        let hold_under = match &d.consent {
            Some(Consent::Grant(g)) if !self.standing_fresh(g, now) => Some(g.doc.grant_id.clone()),
            _ => None,
        };
        // The body to the store: what was released, with the manifest.
        let content = match &d.released {
            Released::Full(c) => c.clone(),
            Released::Tearline(t) => Content { tearline: Some(t.clone()), ..Content::default() },
        };
        let body = Report { header: d.header.clone(), content, manifest: d.manifest.clone() };
        let received = Received {
            header: d.header,
            tearline_only,
            basis: d.basis,
            request_id: d.request_id,
            consent: d.consent.map(|c| Box::new(self.share_consent(c))),
            received_at: now,
            retracted: None,
            manifest_sha256: sign::sha256(&d.manifest.bytes),
            offline: self.offline_input(),
        };
        if received.offline {
            self.courier.reports.insert((received.header.id.clone(), received.header.revision));
        }
        self.stash(body);
        match hold_under {
            Some(grant_id) => self.hold_delivery(message_id, received, title, grant_id),
            None => self.take_in(now, received, title),
        }
        Ok(())
    }

    /// Verifies a signed manifest against the originator's node keys and
    /// against what it came with, and the submitter's signature it carries:
    /// the returned manifest names a submitter key only if that key's own
    /// signature proves it (what the two-person rule then compares).
    pub(super) fn verify_manifest(
        &self,
        manifest: &Signed,
        header: &ReportHeader,
        content: Option<&Content>,
        tearline: Option<&Sensitive>,
    ) -> Result<Manifest, RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "manifest", why };
        sign::verify(&self.policy, header.originator, KeyRole::Node, manifest).map_err(bad)?;
        let mut m = Manifest::parse(&manifest.bytes).map_err(bad)?;
        m.submitter_key = m.verified_submitter(&self.policy).map_err(bad)?;
        if m.header != *header {
            return Err(bad(sign::SigError::Mismatch("manifest header")));
        }
        if let Some(c) = content {
            m.check_content(c).map_err(bad)?;
        }
        if let Some(t) = tearline {
            m.check_tearline(t.expose()).map_err(bad)?;
        }
        Ok(m)
    }

    /// Recipient: verifies the originator's consent to this delivery.
    fn verify_consent(&self, now: Timestamp, d: &Delivery) -> Result<(), RejectReason> {
        let h = &d.header;
        let tearline_only = matches!(d.released, Released::Tearline(_));
        match &d.consent {
            None => Err(RejectReason::NoConsent(h.id.clone())),
            Some(Consent::Decision(dec)) => {
                let bad = |why| RejectReason::Unverified { what: "decision", why };
                let approver_key =
                    sign::verify(&self.policy, h.originator, KeyRole::Approver, &dec.signed).map_err(bad)?.key_id();
                let doc = DecisionDoc::parse(&dec.signed.bytes).map_err(bad)?;
                let verdict_ok = match doc.verdict {
                    Verdict::ApproveFull => !tearline_only,
                    Verdict::ApproveTearline => tearline_only,
                    Verdict::Deny => false,
                };
                if doc.manifest_sha256 != sign::sha256(&d.manifest.bytes)
                    || doc.report_id != h.id
                    || doc.revision != h.revision
                    || doc.recipient != self.party
                    || doc.request_id != RequestId::for_release(&h.id, h.revision, self.party)
                    || doc.operator != dec.signed.signer
                    || !verdict_ok
                {
                    return Err(bad(sign::SigError::Mismatch("decision")));
                }
                if self.policy.two_person_rule {
                    // Only a submitter key its own signature proves counts.
                    let submitter = Manifest::parse(&d.manifest.bytes)
                        .ok()
                        .and_then(|m| m.verified_submitter(&self.policy).ok().flatten());
                    if !two_persons(submitter, approver_key) {
                        return Err(bad(sign::SigError::Mismatch("two-person rule")));
                    }
                }
                Ok(())
            }
            Some(Consent::Grant(g)) => {
                let bad = |why| RejectReason::Unverified { what: "grant", why };
                sign::verify(&self.policy, h.originator, KeyRole::Approver, &g.signed).map_err(bad)?;
                let doc = GrantDoc::parse(&g.signed.bytes).map_err(bad)?;
                if doc.operator != g.signed.signer {
                    return Err(bad(sign::SigError::Mismatch("grant")));
                }
                sign::check_cosigned(&self.policy, h.originator, &g.signed, g.cosign.as_ref()).map_err(bad)?;
                if self.revoked.contains(&doc.grant_id)
                    || !doc.covers(h, self.party, now)
                    || doc.tearline_only != tearline_only
                {
                    return Err(RejectReason::GrantNotValid(doc.grant_id));
                }
                Ok(())
            }
        }
    }
}

/// Whether `d` is the delivery already received as `r`: the same header,
/// basis, request and consent, the same manifest, and content that matches
/// it (the manifest was verified when `r` arrived).
fn same_delivery(r: &Received, d: &Delivery) -> bool {
    if r.tearline_only != matches!(d.released, Released::Tearline(_))
        || r.header != d.header
        || r.basis != d.basis
        || r.request_id != d.request_id
        || r.consent.as_deref() != d.consent.as_ref()
        || r.manifest_sha256 != sign::sha256(&d.manifest.bytes)
    {
        return false;
    }
    let Ok(m) = Manifest::parse(&d.manifest.bytes) else { return false };
    match &d.released {
        Released::Full(c) => m.check_content(c).is_ok(),
        Released::Tearline(t) => m.check_tearline(t.expose()).is_ok(),
    }
}
