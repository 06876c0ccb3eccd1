//! The hub's side of a national report's flow: holding it, asking its
//! originator for consent, forwarding it under a signed decision or a
//! standing grant, and passing the recipient's receipt back. Only the hub
//! (US) keeps this state; at a nation it stays empty.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::deadlines::Deadlines;
use super::event::Event;
use super::requests::{key_of, RequestKey, TrackedRequest};
use super::views::{InboxEntry, RetractionNote};
use super::{two_persons, Node, RequestState};
use crate::body::{blank_signed, ReportRef};
use crate::error::RejectReason;
use crate::ids::{ReportId, RequestId};
use crate::message::{
    Basis, Consent, Decision, Delivery, Payload, Progress, Receipt, ReleaseDecision, ReleaseRequest, Released, Report,
    Revocation, Stage,
};
use crate::policy::{KeyRole, NotReleasable};
use crate::report::Content;
use crate::sign::{self, DecisionDoc, Verdict};
use crate::types::{Party, Sensitive, Timestamp};

/// What the hub keeps.
#[derive(Debug, Default)]
pub(super) struct Hub {
    /// National reports held, by (id, revision), in arrival order: the
    /// hub's inbox (one entry per report, not a second copy in
    /// `Node::inbox`, which stays empty at the hub).
    /// Each with the release request opened for it, if one was (a national
    /// report has one third party: at most one request).
    pub(super) held: HeldReports,
    /// Deliveries sent, by (report, revision, recipient), in order.
    pub(super) forwarded: IndexMap<(ReportId, u32, Party), Forwarded>,
    /// Revocations passed on to the recipient (re-sent on reconciliation).
    pub(super) revocations: IndexMap<String, Revocation>,
}

/// The reports the hub holds, in arrival order, found by (id, revision)
/// through a table of 4-byte positions: not a `HashMap` (a table of whole
/// entries, half empty after each doubling) nor an `IndexMap` (the id and
/// revision again beside each report, with a hash and an 8-byte index).
#[derive(Debug, Default)]
pub(super) struct HeldReports {
    held: Vec<Held>,
    /// Positions in `held`, by the report's id and revision.
    index: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
    /// Request ids shortened with a hash (a report id too long to keep
    /// whole) do not name their report: by id, for the few there are.
    shortened: HashMap<RequestId, usize>,
    /// The reasons of the denials received, by the held report's position
    /// (a request's state keeps only its verdict).
    denials: HashMap<u32, String>,
}

impl HeldReports {
    fn hash(&self, id: &ReportId, revision: u32) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, (id, revision))
    }

    /// The position of revision `revision` of report `id` among those held.
    pub(super) fn position(&self, id: &ReportId, revision: u32) -> Option<usize> {
        let named = |h: &Held| h.report.header.id == *id && h.report.header.revision == revision;
        let at = self.index.find(self.hash(id, revision), |&i| self.held.get(i as usize).is_some_and(named))?;
        Some(*at as usize)
    }

    /// The revision `revision` of report `id`, if held.
    pub(super) fn get(&self, (id, revision): &(ReportId, u32)) -> Option<&Held> {
        self.held.get(self.position(id, *revision)?)
    }

    /// Records request `r`, for a held report, in `state`; returns its
    /// index (the held report's position), `None` if the report is not held.
    pub(super) fn insert_request(&mut self, r: &ReleaseRequest, state: RequestState) -> Option<usize> {
        let i = self.position(&r.report_id, r.revision)?;
        let h = self.held.get_mut(i)?;
        h.request = Some(TrackedRequest::new(r, state));
        self.denials.remove(&u32::try_from(i).unwrap_or(u32::MAX));
        if key_of(&r.request_id).as_ref() != Some(&(r.report_id.clone(), r.revision, r.recipient)) {
            self.shortened.insert(r.request_id.clone(), i);
        }
        Some(i)
    }

    /// The index of the request `id`, if the hub opened it.
    pub(super) fn index_of(&self, id: &RequestId) -> Option<usize> {
        // A shortened id may also parse as the id of another report (its
        // shortened part): the shortened one is meant.
        if let Some(i) = self.shortened.get(id) {
            return Some(*i);
        }
        let (report, revision, recipient) = key_of(id)?;
        let i = self.position(&report, revision)?;
        let h = self.held.get(i)?;
        (h.request.is_some() && h.third() == Some(recipient)).then_some(i)
    }

    /// The request `id`: the request as sent, and where it stands.
    pub(super) fn get_request(&self, id: &RequestId) -> Option<(ReleaseRequest, &TrackedRequest)> {
        let h = self.held.get(self.index_of(id)?)?;
        let t = h.request.as_ref()?;
        Some((t.request(&h.request_key()?), t))
    }

    /// The request at index `i`, and where it stands, to change it.
    pub(super) fn request_at_mut(&mut self, i: usize) -> Option<(ReleaseRequest, &mut TrackedRequest)> {
        let h = self.held.get_mut(i)?;
        let key = h.request_key()?;
        let t = h.request.as_mut()?;
        Some((t.request(&key), t))
    }

    /// Records decision `d` for the request at index `i`.
    pub(super) fn decided(&mut self, i: usize, d: &Decision) {
        let Some(t) = self.held.get_mut(i).and_then(|h| h.request.as_mut()) else { return };
        let (verdict, reason) = d.verdict();
        t.state = RequestState::Decided(verdict);
        if verdict == Verdict::Deny {
            self.denials.insert(u32::try_from(i).unwrap_or(u32::MAX), reason.to_owned());
        }
    }

    /// The decision recorded for the request at index `i`, if decided.
    pub(super) fn decision(&self, i: usize) -> Option<Decision> {
        let RequestState::Decided(verdict) = self.held.get(i)?.request?.state else { return None };
        let reason = self.denials.get(&u32::try_from(i).ok()?).cloned().unwrap_or_default();
        Some(Decision::from_verdict(verdict, reason))
    }

    /// Withdraws every open request for report `id` (it was retracted) and
    /// drops its deadline: it can no longer be decided, nor expire.
    pub(super) fn withdraw_open(&mut self, id: &ReportId, deadlines: &mut Deadlines) {
        for (i, h) in self.held.iter_mut().enumerate() {
            if h.report.header.id != *id {
                continue;
            }
            if let Some(t) = h.request.as_mut().filter(|t| t.state == RequestState::Open) {
                t.state = RequestState::Withdrawn;
                deadlines.remove(t.expires_at(), i);
            }
        }
    }

    /// Holds `h` (new: the caller checked it is not held).
    pub(super) fn insert(&mut self, h: Held) {
        let hash = self.hash(&h.report.header.id, h.report.header.revision);
        // More than 4 billion reports is far beyond memory.
        let i = u32::try_from(self.held.len()).unwrap_or(u32::MAX);
        self.held.push(h);
        let (held, hasher) = (&self.held, &self.hasher);
        // Growing the table hashes every report's key again, as `hash` does.
        self.index.insert_unique(hash, i, |&j| match held.get(j as usize) {
            Some(h) => std::hash::BuildHasher::hash_one(hasher, (&h.report.header.id, h.report.header.revision)),
            None => 0,
        });
    }

    /// The reports held at positions `range`, in arrival order (none beyond the end).
    pub(super) fn slice(&self, range: std::ops::Range<usize>) -> &[Held] {
        self.held.get(range).unwrap_or_default()
    }

    /// How many reports are held.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// Every report held, in arrival order, to change it.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Held> {
        self.held.iter_mut()
    }
}

/// A national report the hub holds: what the core keeps of it, and what
/// its inbox entry shows besides (a report held is received bilaterally,
/// whole, under no consent).
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) report: ReportRef,
    pub(super) received_at: Timestamp,
    /// Boxed: rare, and every held report has the slot.
    pub(super) retracted: Option<Box<RetractionNote>>,
    /// It arrived off-line (in a bundle).
    pub(super) offline: bool,
    /// The release request the hub opened for it (to its third party).
    pub(super) request: Option<TrackedRequest>,
}

impl Held {
    /// The third party a request for this report goes to: the other nation.
    fn third(&self) -> Option<Party> {
        self.report.header.originator.other_nation()
    }

    /// What the id of a request for this report derives from.
    fn request_key(&self) -> Option<RequestKey> {
        Some((self.report.header.id.clone(), self.report.header.revision, self.third()?))
    }

    /// The inbox entry, its body blank (named for the store): what the
    /// hub's inbox kept for a held report when it kept one of its own.
    pub(super) fn entry(&self) -> InboxEntry {
        InboxEntry {
            delivery: Delivery {
                header: self.report.header.clone(),
                released: Released::Full(Content::default()),
                basis: Basis::Bilateral,
                request_id: None,
                manifest: blank_signed(),
                consent: None,
            },
            received_at: self.received_at,
            retracted: self.retracted.as_deref().cloned(),
            body: Some(self.report.key()),
            offline: self.offline,
        }
    }
}

/// A delivery the hub sent to a nation, kept (as the consent it went
/// under: the content stays with the held report, or the hub's own, not
/// twice) until its receipt arrives — re-sent on reconciliation — and the
/// receipt once it has.
#[derive(Clone, Debug)]
pub(super) struct Forwarded {
    /// The originator's consent; `None` for the hub's own report (bilateral).
    pub(super) consent: Option<Consent>,
    pub(super) tearline_only: bool,
    pub(super) receipt: Option<Receipt>,
}

/// The delivery of `r` to `recipient`: bilateral (the hub's own, in full)
/// without `consent`, trilateral under it. With `full` (the report in hand)
/// the content goes inline; without it the delivery is blank and needs its
/// body from the store (the flag returned). `None` if a tearline-only
/// release has no tearline.
pub(super) fn delivery_of(
    r: &ReportRef,
    full: Option<&Report>,
    recipient: Party,
    tearline_only: bool,
    consent: Option<Consent>,
) -> Option<(Delivery, bool)> {
    if tearline_only && !r.has_tearline {
        return None;
    }
    let (released, manifest, blank) = match full {
        Some(report) if tearline_only => {
            (Released::Tearline(report.content.tearline.clone()?), report.manifest.clone(), false)
        }
        Some(report) => (Released::Full(report.content.clone()), report.manifest.clone(), false),
        None if tearline_only => (Released::Tearline(Sensitive::default()), blank_signed(), true),
        None => (Released::Full(Content::default()), blank_signed(), true),
    };
    let h = &r.header;
    let (basis, request_id) = match &consent {
        Some(_) => (Basis::Trilateral, Some(RequestId::for_release(&h.id, h.revision, recipient))),
        None => (Basis::Bilateral, None),
    };
    Some((Delivery { header: h.clone(), released, basis, request_id, manifest, consent }, blank))
}

impl Node {
    pub(super) fn hub_on_report(&mut self, now: Timestamp, link: Party, report: Report) -> Result<(), RejectReason> {
        let h = &report.header;
        if h.originator != link {
            return Err(RejectReason::WrongOriginator { report: h.id.clone(), claimed: h.originator, link });
        }
        if h.id.prefix_party() != Some(h.originator) || h.revision == 0 {
            return Err(RejectReason::BadReportId(h.id.clone()));
        }
        if !h.releasable_to.contains(Party::HUB) {
            return Err(RejectReason::NotReleasable {
                report: h.id.clone(),
                recipient: Party::HUB,
                why: NotReleasable::NotInReleasableTo,
            });
        }
        // Off-line, up to the agreement's off-line ceiling; on-line, the link's.
        let offline = self.offline_input();
        let ceiling = if offline { self.policy.offline_ceiling } else { self.policy.ceiling(link) };
        if h.classification > ceiling {
            return Err(RejectReason::NotReleasable {
                report: h.id.clone(),
                recipient: Party::HUB,
                why: NotReleasable::AboveCeiling { classification: h.classification, ceiling },
            });
        }
        let m = self.verify_manifest(&report.manifest, h, Some(&report.content), None)?;
        let key = (h.id.clone(), h.revision);
        if let Some(existing) = self.hub.held.get(&key) {
            // The content was just checked against the manifest: the same
            // manifest is the same report.
            let existing = &existing.report;
            return if existing.header == *h && existing.manifest_sha256 == sign::sha256(&report.manifest.bytes) {
                // Already held (a duplicate, or the originator reconciling):
                // tell it again where the report stands.
                self.hub_answer(now, link, &report);
                Ok(())
            } else {
                Err(RejectReason::Conflict { report: key.0, revision: key.1 })
            };
        }
        if self.retractions.contains_key(&h.id) {
            return Err(RejectReason::Retracted(h.id.clone()));
        }
        if offline {
            self.courier.reports.insert(key.clone());
        }
        let header = report.header.clone();
        let reference = ReportRef::of(&report, &m, &mut self.names);
        self.hub.held.insert(Held {
            report: reference.clone(),
            received_at: now,
            retracted: None,
            offline,
            request: None,
        });
        self.stash(report.clone());
        self.events.push_back(Event::ReportHeld { header: header.clone() });
        self.send(
            now,
            link,
            Payload::Progress(Progress {
                report_id: header.id.clone(),
                revision: header.revision,
                recipient: None,
                stage: Stage::Accepted,
            }),
        );
        let Some(third) = link.other_nation() else { return Ok(()) };
        if !header.releasable_to.contains(third) {
            return Ok(()); // bilateral only: nothing to ask
        }
        if let Err(why) = self.policy.check_trilateral_via(&header, third, offline) {
            self.send(
                now,
                link,
                Payload::Progress(Progress {
                    report_id: header.id.clone(),
                    revision: header.revision,
                    recipient: Some(third),
                    stage: Stage::NotReleasable(why),
                }),
            );
            return Ok(());
        }
        // A signed, unrevoked standing grant is consent given in advance
        // (never off-line: a courier cannot carry its freshness).
        let grant = self
            .grants
            .values()
            .filter(|_| !offline)
            .filter(|g| !g.revoked && g.grant.doc.covers(&header, third, now))
            .find(|g| !g.grant.doc.tearline_only || report.content.tearline.is_some())
            // The shared copy if it is this grant (no copy per report).
            // (`Err`: a new one, to be kept.)
            .map(|g| {
                super::kept_grant(&self.shared_grants, &g.grant).ok_or_else(|| std::sync::Arc::new(g.grant.clone()))
            });
        if let Some(grant) = grant {
            let grant = grant.unwrap_or_else(|new| self.share_grant(new));
            self.forward(now, &reference, Some(&report), third, grant.doc.tearline_only, Consent::Grant(grant))?;
            return Ok(());
        }
        let request = ReleaseRequest::open(&header, third, now, self.policy.request_expiry);
        if let Some(i) = self.hub.held.insert_request(&request, RequestState::Open) {
            self.deadlines.insert(request.expires_at, i);
        }
        // Off-line, the originator opened the request itself at submit (the
        // hub could not ask in time); its decision comes in the same bundle
        // or a later one.
        if !offline {
            self.send(now, link, Payload::ReleaseRequest(request.clone()));
        }
        self.events.push_back(Event::ReleaseRequested { request });
        Ok(())
    }

    pub(super) fn hub_on_decision(
        &mut self,
        now: Timestamp,
        link: Party,
        d: ReleaseDecision,
    ) -> Result<(), RejectReason> {
        let rid = d.request_id.clone();
        let unverified = |why| RejectReason::Unverified { what: "decision", why };
        let approver_key = sign::verify(&self.policy, link, KeyRole::Approver, &d.signed).map_err(unverified)?.key_id();
        // Act only on what the approver signed: every field must be the signed document's.
        let doc = DecisionDoc::parse(&d.signed.bytes).map_err(unverified)?;
        let signed_decision = ReleaseDecision {
            request_id: doc.request_id.clone(),
            report_id: doc.report_id.clone(),
            revision: doc.revision,
            recipient: doc.recipient,
            decision: Decision::of_doc(&doc),
            decided_at: doc.decided_at,
            operator: doc.operator.clone(),
            manifest_sha256: doc.manifest_sha256,
            signed: d.signed.clone(),
        };
        if signed_decision != d || doc.operator != d.signed.signer {
            return Err(unverified(sign::SigError::Mismatch("decision")));
        }
        let i = self.hub.held.index_of(&rid).ok_or_else(|| RejectReason::UnknownRequest(rid.clone()))?;
        let (req, tracked) =
            self.hub.held.get_request(&rid).ok_or_else(|| RejectReason::UnknownRequest(rid.clone()))?;
        if req.report_id.prefix_party() != Some(link) {
            return Err(RejectReason::NotOriginator(rid));
        }
        if req.report_id != d.report_id || req.revision != d.revision || req.recipient != d.recipient {
            return Err(RejectReason::RequestMismatch(rid));
        }
        match &tracked.state {
            RequestState::Open => {}
            RequestState::Expired => return Err(RejectReason::Expired(rid)),
            RequestState::Withdrawn => return Err(RejectReason::Retracted(req.report_id.clone())),
            RequestState::Decided(_) if self.hub.held.decision(i).as_ref() == Some(&d.decision) => return Ok(()), // duplicate
            RequestState::Decided(_) => return Err(RejectReason::AlreadyDecided(rid)),
        }
        let key = (req.report_id.clone(), req.revision);
        let report = self
            .hub
            .held
            .get(&key)
            .map(|h| h.report.clone())
            .ok_or_else(|| RejectReason::UnknownReport { report: key.0.clone(), revision: key.1 })?;
        if d.manifest_sha256 != report.manifest_sha256 {
            return Err(RejectReason::Unverified { what: "decision", why: sign::SigError::Mismatch("manifest hash") });
        }
        // The recipient would refuse it: do not forward it (nor count the request decided).
        if self.policy.two_person_rule
            && d.decision.is_approval()
            && !two_persons(self.names.key(report.submitter), approver_key)
        {
            return Err(unverified(sign::SigError::Mismatch("two-person rule")));
        }
        let recipient = req.recipient;
        if let Decision::Deny { .. } = &d.decision {
            self.send(
                now,
                link,
                Payload::Progress(Progress {
                    report_id: key.0.clone(),
                    revision: key.1,
                    recipient: Some(recipient),
                    stage: Stage::Denied,
                }),
            );
        } else {
            let tearline_only = d.decision == Decision::ApproveTearline;
            self.forward(now, &report, None, recipient, tearline_only, Consent::Decision(Box::new(d.clone())))?;
        }
        self.hub.held.decided(i, &d.decision);
        self.deadlines.remove(req.expires_at, i);
        self.events.push_back(Event::Decided { decision: d });
        Ok(())
    }

    /// Hub: sends `report` to `recipient` under `consent`, after re-checking
    /// every rule, and tells the originator. With `full` (the report in
    /// hand) the content goes inline; otherwise from the body store.
    fn forward(
        &mut self,
        now: Timestamp,
        report: &ReportRef,
        full: Option<&Report>,
        recipient: Party,
        tearline_only: bool,
        consent: Consent,
    ) -> Result<(), RejectReason> {
        let id = report.header.id.clone();
        let offline = self.passes_offline(&id, report.header.revision);
        self.policy
            .check_trilateral_via(&report.header, recipient, offline)
            .map_err(|why| RejectReason::NotReleasable { report: id.clone(), recipient, why })?;
        let (delivery, blank) = delivery_of(report, full, recipient, tearline_only, Some(consent.clone()))
            .ok_or_else(|| RejectReason::NoTearline(id.clone()))?;
        let f = Forwarded { consent: Some(consent), tearline_only, receipt: None };
        self.hub.forwarded.insert((id.clone(), report.header.revision, recipient), f);
        if !self.trilateral_aligned() {
            // Released, but not sent while the parties enforce different
            // agreement versions: reconciliation sends it once they agree.
            self.chain.held_back = true;
            self.events.push_back(Event::HeldForAgreement { header: report.header.clone(), recipient });
            return Ok(());
        }
        self.send_body(now, recipient, Payload::Delivery(delivery), blank.then(|| report.key()));
        self.events.push_back(Event::Forwarded {
            header: report.header.clone(),
            recipient,
            basis: Basis::Trilateral,
            tearline_only,
        });
        self.send(
            now,
            report.header.originator,
            Payload::Progress(Progress {
                report_id: id,
                revision: report.header.revision,
                recipient: Some(recipient),
                stage: Stage::Forwarded { tearline_only },
            }),
        );
        Ok(())
    }

    pub(super) fn hub_on_receipt(&mut self, now: Timestamp, link: Party, r: Receipt) -> Result<(), RejectReason> {
        if r.doc.recipient != link {
            return Err(RejectReason::Unverified { what: "receipt", why: sign::SigError::Mismatch("recipient") });
        }
        let audit_head = self.verify_receipt(&r)?;
        let fkey = (r.doc.report_id.clone(), r.doc.revision, r.doc.recipient);
        match r.doc.report_id.prefix_party() {
            Some(Party::Us) => {
                if self.record_receipt(&r.doc)? {
                    if let Some(f) = self.hub.forwarded.get_mut(&fkey) {
                        f.receipt = Some(r.clone());
                    }
                    self.events.push_back(Event::ReceiptReceived { receipt: r.doc, audit_head });
                }
            }
            Some(originator) if Some(originator) == link.other_nation() => {
                let key = (r.doc.report_id.clone(), r.doc.revision);
                let held = self
                    .hub
                    .held
                    .get(&key)
                    .ok_or_else(|| RejectReason::UnknownReport { report: key.0.clone(), revision: key.1 })?;
                if held.report.manifest_sha256 != r.doc.manifest_sha256 {
                    return Err(RejectReason::Unverified {
                        what: "receipt",
                        why: sign::SigError::Mismatch("manifest hash"),
                    });
                }
                // Pass it on unchanged, once: only the recipient's signature
                // counts. Kept, to answer the originator's reconciliation.
                let f = self
                    .hub
                    .forwarded
                    .get_mut(&fkey)
                    .ok_or_else(|| RejectReason::UnknownReport { report: fkey.0.clone(), revision: fkey.1 })?;
                if f.receipt.is_some() {
                    return Ok(());
                }
                f.receipt = Some(r.clone());
                self.events.push_back(Event::ReceiptReceived { receipt: r.doc.clone(), audit_head });
                self.send(now, originator, Payload::Receipt(r));
            }
            _ => return Err(RejectReason::BadReportId(r.doc.report_id.clone())),
        }
        Ok(())
    }

    /// Nations the hub sent any revision of `id` to, in first-sent order.
    pub(super) fn holders(&self, id: &ReportId) -> Vec<Party> {
        let mut out = Vec::new();
        for (rid, _, to) in self.hub.forwarded.keys() {
            if rid == id && !out.contains(to) {
                out.push(*to);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: &str, revision: u32) -> Held {
        let report = ReportRef::sample(id, revision);
        Held { report, received_at: Timestamp(2), retracted: None, offline: false, request: None }
    }

    #[test]
    fn held_reports_are_found_by_id_and_revision_in_arrival_order_as_the_table_grows() {
        let mut t = HeldReports::default();
        let keys: Vec<(String, u32)> = (0..3000).map(|i| (format!("KR-{}", (i * 7919) % 1500), 1 + i / 1500)).collect();
        for (id, rev) in &keys {
            t.insert(held(id, *rev));
        }
        let order: Vec<(String, u32)> =
            t.slice(0..t.len()).iter().map(|h| (h.report.header.id.to_string(), h.report.header.revision)).collect();
        assert_eq!(order, keys);
        for (id, rev) in &keys {
            let h = t.get(&(ReportId::new(id).unwrap(), *rev)).unwrap();
            assert_eq!((h.report.header.id.as_str(), h.report.header.revision), (id.as_str(), *rev));
        }
        assert!(t.get(&(ReportId::new("KR-1").unwrap(), 3)).is_none());
        assert!(t.get(&(ReportId::new("JP-1").unwrap(), 1)).is_none());
    }

    #[test]
    fn a_held_reports_request_is_found_by_its_id_and_withdrawn_with_its_deadline() {
        let mut t = HeldReports::default();
        let long = format!("KR-{}", "x".repeat(125));
        for id in ["KR-1", "KR-2", long.as_str()] {
            t.insert(held(id, 1));
        }
        let open = |id: &str| {
            let h = held(id, 1);
            ReleaseRequest::open(&h.report.header, Party::Jp, Timestamp(3), std::time::Duration::from_millis(10))
        };
        let mut deadlines = Deadlines::default();
        for (n, id) in ["KR-2", long.as_str()].into_iter().enumerate() {
            let r = open(id);
            let i = t.insert_request(&r, RequestState::Open).unwrap();
            assert_eq!(i, n + 1, "the held report's position");
            deadlines.insert(r.expires_at, i);
            assert_eq!(t.index_of(&r.request_id), Some(i));
            assert_eq!(t.get_request(&r.request_id).map(|(back, _)| back), Some(r));
        }
        assert_eq!(t.shortened.len(), 1, "only the shortened id is stored");
        // No request for KR-1; none to another recipient; none for a report not held.
        for id in ["KR-1.r1.JP", "KR-2.r1.US", "KR-2.r2.JP", "KR-3.r1.JP"] {
            assert_eq!(t.index_of(&RequestId::new(id).unwrap()), None, "{id}");
        }
        assert!(t.insert_request(&open("KR-9"), RequestState::Open).is_none(), "not held");
        // A decision is kept as its verdict, a denial's reason beside it.
        assert_eq!(t.decision(1), None, "not decided yet");
        let deny = Decision::Deny { reason: "not now".to_owned() };
        t.decided(1, &deny);
        assert_eq!(t.decision(1), Some(deny));
        t.decided(2, &Decision::ApproveTearline);
        assert_eq!(t.decision(2), Some(Decision::ApproveTearline));
        assert_eq!(t.denials.len(), 1, "only the denial's reason is stored");
        t.decided(0, &Decision::ApproveFull);
        assert_eq!(t.decision(0), None, "KR-1 has no request");
        t.insert_request(&open("KR-2"), RequestState::Open);
        t.withdraw_open(&ReportId::new("KR-2").unwrap(), &mut deadlines);
        assert_eq!(t.request_at_mut(1).map(|(_, r)| r.state), Some(RequestState::Withdrawn));
        assert_eq!(deadlines.pop_due(Timestamp(100)), Some(2), "KR-2's deadline dropped");
        assert_eq!(deadlines.pop_due(Timestamp(100)), None);
    }
}
