//! The originator's side of a report's flow: submitting reports and
//! corrections, deciding the hub's release requests, and what the hub
//! reports back (requests, progress, receipts, rejections). Every party
//! originates; the hub's own reports go out bilaterally from here too.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::event::Event;
use super::hub::{delivery_of, Forwarded};
use super::marks::{AtHub, AtRecipient, PartyMap, Receipts};
use super::own::{OwnRevision, Reports};
use super::requests::RequestKey;
use super::requests::Requests;
use super::views::RevisionStatus;
use super::{limits, two_persons, Node, RequestState};
use crate::body::{content_digest, ReportRef};
use crate::error::{CommandError, RejectReason, TextField};
use crate::ids::{ReportId, RequestId};
use crate::message::{
    Basis, Decision, Grant, Payload, Progress, Receipt, Rejection, ReleaseDecision, ReleaseRequest, Report, Retraction,
    Revocation, Stage,
};
use crate::policy::{KeyId, KeyRole, NotReleasable};
use crate::report::{Content, ReportHeader};
use crate::sign::{self, AuditHeadDoc, DecisionDoc, Digest32, Identity, Manifest, Signed, SubmissionDoc, Verdict};
use crate::types::{Category, Classification, Party, PartySet, Sensitive, Timestamp};

/// A report as the operator submits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportDraft {
    /// What it is about.
    pub category: Category,
    /// Its classification, checked at submit against the ceiling of
    /// every link it would cross.
    pub classification: Classification,
    /// Who may ever see it (a limit, not consent).
    pub releasable_to: PartySet,
    /// Title, text, optional tearline and source: never logged.
    pub content: Content,
    /// `Some(id)`: issue a new revision of this party's report `id`.
    pub corrects: Option<ReportId>,
    /// The submitting operator's name (a label), or empty.
    pub submitted_by: String,
    /// The key that signed the submit request (set by the node from the
    /// verified signed action, never from the request): the two-person
    /// rule compares it with the approver's key.
    pub submitter_key: Option<KeyId>,
    /// The submitter's signed `tisa.v1.submission` (from the CLI or feed,
    /// signed with its own key): checked against this draft and carried in
    /// the manifest, so the hub and the recipient verify who submitted.
    pub submission: Option<Signed>,
    /// An idempotency key from the report's source (`usgs:<event id>`, a
    /// CSV row's id, a webhook's id). A second submit with the same key and
    /// the same content is a no-op; with different content it becomes a new
    /// revision of the same report.
    pub source_key: Option<String>,
    /// Pass it off-line (`tisa bundle`), never on-line: checked against the
    /// agreement's off-line ceiling instead of the links' ceilings; its
    /// release requests open here at once, for an approver to decide before
    /// export, and no standing grant applies to it.
    pub offline: bool,
}

/// A note on a submission: a recipient in the releasable-to list that the
/// report will not reach, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitNote {
    /// A party in the releasable-to list.
    pub recipient: Party,
    /// Why it will not go there.
    pub why: NotReleasable,
}

/// Result of a successful submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The new report's header (id and revision included).
    pub header: ReportHeader,
    /// Recipients it will not reach.
    pub notes: Vec<SubmitNote>,
    /// The source key was already submitted with this very content: nothing
    /// was sent, and `header` is the existing revision's.
    pub duplicate: bool,
}

/// What a party keeps as an originator.
#[derive(Debug, Default)]
pub(super) struct Originator {
    /// Its reports, by id, in submission order.
    pub(super) reports: Reports,
    /// Release requests for its decision, by request, in arrival order.
    pub(super) requests: Requests,
    /// The hub's rejections of its revisions (rare), by report and
    /// revision: code and detail.
    pub(super) rejections: HashMap<(ReportId, u32), Box<(String, String)>>,
    /// Source keys (idempotent submits from feeds): the report, and the
    /// revision last submitted under the key with its content's digest.
    pub(super) sources: HashMap<String, (ReportId, u32, Digest32)>,
    /// Its revocations of standing grants (re-sent on reconciliation).
    pub(super) revocations: IndexMap<String, Revocation>,
    /// Grants proposed under the two-person rule, awaiting a second
    /// approver's co-signature (not in force, not sent).
    pub(super) proposed: IndexMap<String, Grant>,
}

impl Originator {
    /// Where revision `rev` of an own report stands (`retraction`: the
    /// report's), for the status query.
    pub(super) fn status(&self, rev: &OwnRevision, retraction: Option<&(Retraction, bool)>) -> RevisionStatus {
        let h = &rev.report.header;
        let expires_at = |p: Party| {
            let key: RequestKey = (h.id.clone(), h.revision, p);
            self.requests.by_key(&key, &self.reports).map(|t| t.expires_at())
        };
        let rejection = || self.rejections.get(&(h.id.clone(), h.revision)).map(|r| &**r);
        rev.status(retraction, expires_at, rejection)
    }
}

impl Node {
    /// Submits a new report (or, with `draft.corrects`, a new revision).
    /// `id` is used for a new report and ignored for a correction; it must
    /// carry this party's prefix (`KR-…`).
    pub fn submit(&mut self, now: Timestamp, id: ReportId, draft: ReportDraft) -> Result<Submitted, CommandError> {
        let ReportDraft {
            offline,
            category,
            classification,
            releasable_to,
            content,
            mut corrects,
            submitted_by,
            submitter_key,
            submission,
            source_key,
        } = draft;
        // The submitter's own signature, over exactly this submission.
        let submission = match submission {
            None => None,
            Some(signed) => {
                let bad = |why| CommandError::Unverified { what: "submission", why };
                let doc = SubmissionDoc::parse(&signed.bytes).map_err(bad)?;
                let entry =
                    sign::verify_key(&self.policy, self.party, &[KeyRole::Submitter, KeyRole::Feed], "submit", &signed)
                        .map_err(|_| bad(sign::SigError::Mismatch("submission signature")))?;
                let as_drafted = SubmissionDoc::of(
                    self.party,
                    category,
                    classification,
                    releasable_to,
                    &content,
                    corrects.clone(),
                    doc.issued_at,
                    doc.nonce,
                    entry.key_id(),
                );
                if doc != as_drafted || submitter_key.is_some_and(|k| k != doc.key_id) {
                    return Err(bad(sign::SigError::Mismatch("submission")));
                }
                Some((doc, signed))
            }
        };
        if let Some(key) = &source_key {
            if key.is_empty() || key.len() > 256 || key.chars().any(char::is_control) {
                return Err(CommandError::BadSourceKey);
            }
            if let Some((existing, revision, digest)) = self.originator.sources.get(key).cloned() {
                if let Some(latest) = self.originator.reports.get(&existing).and_then(|o| o.revisions.last()) {
                    let h = &latest.report.header;
                    let rel: PartySet = releasable_to.iter().filter(|p| *p != self.party).collect();
                    let same_rel = h.releasable_to == rel;
                    if h.revision == revision
                        && digest == content_digest(&content)
                        && h.category == category
                        && h.classification == classification
                        && same_rel
                    {
                        return Ok(Submitted { header: h.clone(), notes: Vec::new(), duplicate: true });
                    }
                }
                corrects = Some(existing);
            }
        }
        check_text(TextField::Title, &content.title, limits::TITLE, true)?;
        check_text(TextField::Body, &content.body, limits::BODY, true)?;
        check_text(TextField::Source, &content.source, limits::SOURCE, false)?;
        if let Some(t) = &content.tearline {
            check_text(TextField::Tearline, t, limits::TEARLINE, true)?;
        }
        let rel = super::check_markings_via(&self.policy, self.party, classification, releasable_to, offline)?;
        if offline && self.party.is_hub() {
            // The hub's own reports go bilaterally, on-line.
            return Err(CommandError::OfflineFromHub);
        }
        let (id, revision) = match corrects {
            Some(orig) => {
                let own =
                    self.originator.reports.get(&orig).ok_or_else(|| CommandError::UnknownReport(orig.clone()))?;
                if own.retraction.is_some() {
                    return Err(CommandError::Retracted(orig));
                }
                let next = own.revisions.len() as u32 + 1;
                (orig, next)
            }
            None => {
                if id.prefix_party() != Some(self.party) {
                    return Err(CommandError::BadReportIdPrefix { id, prefix: self.party.code() });
                }
                if self.originator.reports.contains_key(&id) {
                    return Err(CommandError::DuplicateReportId(id));
                }
                (id, 1)
            }
        };
        let header = ReportHeader {
            id: id.clone(),
            revision,
            originator: self.party,
            created_at: now,
            category,
            classification,
            releasable_to: rel,
        };
        let mut m = Manifest::of(&header, &content, &submitted_by, submitter_key);
        if let Some((doc, signature)) = &submission {
            m = m.with_submission(doc, signature);
        }
        let manifest = self.sign_later(m.to_bytes());
        let digest = source_key.as_ref().map(|_| content_digest(&content));
        let report = Report { header: header.clone(), content, manifest };
        let reference = ReportRef::of(&report, &m, &mut self.names);

        let mut notes = Vec::new();
        let mut recipients = PartyMap::default();
        if self.party.is_hub() {
            // The hub's own report goes bilaterally to each nation named.
            for p in rel.iter() {
                match self.policy.check_bilateral(&header, p) {
                    Ok(()) => {
                        if let Some((delivery, _)) = delivery_of(&reference, Some(&report), p, false, None) {
                            self.send(now, p, Payload::Delivery(delivery));
                        }
                        let f = Forwarded { consent: None, tearline_only: false, receipt: None };
                        self.hub.forwarded.insert((header.id.clone(), header.revision, p), f);
                        self.events.push_back(Event::Forwarded {
                            header: header.clone(),
                            recipient: p,
                            basis: Basis::Bilateral,
                            tearline_only: false,
                        });
                        recipients.insert(p, AtRecipient::Delivered { tearline_only: false });
                    }
                    Err(why) => {
                        notes.push(SubmitNote { recipient: p, why });
                        recipients.insert(p, AtRecipient::NotReleasable(why));
                    }
                }
            }
        } else {
            if offline {
                self.courier.reports.insert((header.id.clone(), header.revision));
            }
            if let Some(third) = self.party.other_nation() {
                if rel.contains(third) {
                    match self.policy.check_trilateral_via(&header, third, offline) {
                        Ok(()) => {
                            recipients.insert(third, AtRecipient::Waiting);
                        }
                        Err(why) => {
                            notes.push(SubmitNote { recipient: third, why });
                            recipients.insert(third, AtRecipient::NotReleasable(why));
                        }
                    }
                }
            }
            self.send(now, Party::HUB, Payload::Report(report.clone()));
        }
        self.stash(report);
        let revision_state = OwnRevision {
            report: reference,
            hub: if self.party.is_hub() { AtHub::Own } else { AtHub::Sent },
            recipients,
            receipts: Receipts::default(),
        };
        self.originator.reports.push_revision(&id, revision_state);
        if let (Some(key), Some(digest)) = (source_key, digest) {
            self.originator.sources.insert(key, (header.id.clone(), header.revision, digest));
        }
        self.events.push_back(Event::Submitted { header: header.clone() });
        if offline {
            self.open_offline_requests(now, &header);
        }
        Ok(Submitted { header, notes, duplicate: false })
    }

    /// The decision document an approver signs to decide `request_id`
    /// (for operators who sign outside the node: the CLI).
    pub fn decision_doc(
        &self,
        now: Timestamp,
        request_id: &RequestId,
        verdict: Verdict,
        reason: &str,
        operator: &str,
    ) -> Result<DecisionDoc, CommandError> {
        if self.party.is_hub() {
            return Err(CommandError::HubCannotDecide);
        }
        let (req, tracked) = self
            .originator
            .requests
            .get(request_id, &self.originator.reports)
            .ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        let req = &req;
        match &tracked.state {
            RequestState::Open if req.expires_at > now => {}
            RequestState::Open | RequestState::Expired => return Err(CommandError::Expired(request_id.clone())),
            RequestState::Withdrawn => return Err(CommandError::Retracted(req.report_id.clone())),
            RequestState::Decided(v) => {
                return Err(CommandError::AlreadyDecided {
                    request: request_id.clone(),
                    decision: if *v == Verdict::Deny { "denied" } else { "approved" },
                })
            }
        }
        if verdict == Verdict::Deny && reason.trim().is_empty() {
            return Err(CommandError::Empty(TextField::Reason));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: TextField::Reason, len: reason.len(), max: limits::REASON });
        }
        let rev = self
            .own_revision(&req.report_id, req.revision)
            .ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        Ok(DecisionDoc {
            manifest_sha256: rev.report.manifest_sha256,
            request_id: req.request_id.clone(),
            report_id: req.report_id.clone(),
            revision: req.revision,
            recipient: req.recipient,
            verdict,
            reason: reason.to_owned(),
            decided_at: now,
            operator: operator.to_owned(),
        })
    }

    /// Approves release request `request_id`, in full or tearline only,
    /// signing the decision with `approver`'s key.
    pub fn approve(
        &mut self,
        now: Timestamp,
        request_id: &RequestId,
        tearline_only: bool,
        approver: &Identity,
    ) -> Result<(), CommandError> {
        let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
        let doc = self.decision_doc(now, request_id, verdict, "", approver.name())?;
        self.decide(now, approver.sign(doc.to_bytes())).map(|_| ())
    }

    /// Denies release request `request_id`, for good, signing with `approver`'s key.
    pub fn deny(
        &mut self,
        now: Timestamp,
        request_id: &RequestId,
        reason: &str,
        approver: &Identity,
    ) -> Result<(), CommandError> {
        if reason.trim().is_empty() {
            return Err(CommandError::Empty(TextField::Reason));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: TextField::Reason, len: reason.len(), max: limits::REASON });
        }
        let doc = self.decision_doc(now, request_id, Verdict::Deny, reason, approver.name())?;
        self.decide(now, approver.sign(doc.to_bytes())).map(|_| ())
    }

    /// Takes a release decision signed by one of this party's approvers
    /// (outside the node, e.g. by the operator's CLI) and sends it to the
    /// hub. Returns the decision as sent (its fields are the signed
    /// document's).
    pub fn decide(&mut self, now: Timestamp, signed: Signed) -> Result<ReleaseDecision, CommandError> {
        if self.party.is_hub() {
            return Err(CommandError::HubCannotDecide);
        }
        let unverified = |why| CommandError::Unverified { what: "decision", why };
        let approver_key =
            sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?.key_id();
        let doc = DecisionDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer {
            return Err(unverified(sign::SigError::Mismatch("operator")));
        }
        let request_id = doc.request_id.clone();
        self.expire_due(now);
        let (req, tracked) = self
            .originator
            .requests
            .get(&request_id, &self.originator.reports)
            .ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        match &tracked.state {
            RequestState::Open => {}
            RequestState::Expired => return Err(CommandError::Expired(request_id)),
            RequestState::Withdrawn => return Err(CommandError::Retracted(req.report_id.clone())),
            RequestState::Decided(v) => {
                return Err(CommandError::AlreadyDecided {
                    request: request_id,
                    decision: if *v == Verdict::Deny { "denied" } else { "approved" },
                })
            }
        }
        let rev = self
            .own_revision(&req.report_id, req.revision)
            .ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        if doc.report_id != req.report_id
            || doc.revision != req.revision
            || doc.recipient != req.recipient
            || doc.manifest_sha256 != rev.report.manifest_sha256
        {
            return Err(CommandError::DecisionMismatch(request_id));
        }
        // Keys, not names: the approver's verified key against the key that signed the submission.
        if self.policy.two_person_rule
            && doc.verdict != Verdict::Deny
            && !two_persons(self.names.key(rev.report.submitter), approver_key)
        {
            return Err(CommandError::SameOperator(self.names.get(rev.report.submitter).to_owned()));
        }
        if doc.verdict == Verdict::ApproveTearline && !rev.report.has_tearline {
            return Err(CommandError::NoTearline(req.report_id.clone()));
        }
        let decision = Decision::of_doc(&doc);
        if !decision.is_approval() && doc.reason.trim().is_empty() {
            return Err(CommandError::Empty(TextField::Reason));
        }
        let msg = ReleaseDecision {
            request_id: req.request_id.clone(),
            report_id: req.report_id.clone(),
            revision: req.revision,
            recipient: req.recipient,
            decision: decision.clone(),
            decided_at: doc.decided_at,
            operator: doc.operator.clone(),
            manifest_sha256: doc.manifest_sha256,
            signed,
        };
        if let Some(i) = self.originator.requests.index_of(&request_id, &self.originator.reports) {
            self.originator.requests.decided(i, msg.clone());
            self.deadlines.remove(req.expires_at, i);
        }
        let state = match &decision {
            Decision::ApproveFull => AtRecipient::Approved { tearline_only: false },
            Decision::ApproveTearline => AtRecipient::Approved { tearline_only: true },
            Decision::Deny { .. } => AtRecipient::Denied,
        };
        self.set_recipient_state(&req.report_id, req.revision, req.recipient, state);
        self.send(now, Party::HUB, Payload::ReleaseDecision(msg.clone()));
        self.events.push_back(Event::Decided { decision: msg.clone() });
        Ok(msg)
    }

    pub(super) fn originator_on_request(&mut self, now: Timestamp, r: ReleaseRequest) -> Result<(), RejectReason> {
        let rid = r.request_id.clone();
        if let Some((e, _)) = self.originator.requests.get(&rid, &self.originator.reports) {
            // An off-line report's request was opened here at submit, with
            // this node's times: the hub's copy differs only in them.
            let e = &e;
            let same = if self.courier.reports.contains(&(r.report_id.clone(), r.revision)) {
                (&e.report_id, e.revision, e.recipient) == (&r.report_id, r.revision, r.recipient)
            } else {
                *e == r
            };
            if !same {
                return Err(RejectReason::RequestMismatch(rid));
            }
            // The hub asks again (it never got the decision, or is
            // reconciling): send the same signed decision again.
            let i = self.originator.requests.index_of(&rid, &self.originator.reports);
            if let Some(d) = i.and_then(|i| self.originator.requests.sent(i)).cloned() {
                self.send(now, Party::HUB, Payload::ReleaseDecision(d));
            }
            return Ok(());
        }
        if self.originator.reports.get(&r.report_id).is_some_and(|o| o.retraction.is_some()) {
            return Err(RejectReason::Retracted(r.report_id.clone()));
        }
        if rid != RequestId::for_release(&r.report_id, r.revision, r.recipient) {
            return Err(RejectReason::RequestMismatch(rid));
        }
        let rev = self
            .own_revision(&r.report_id, r.revision)
            .ok_or_else(|| RejectReason::UnknownReport { report: r.report_id.clone(), revision: r.revision })?;
        let header = rev.report.header.clone();
        let offline = self.courier.reports.contains(&(header.id.clone(), header.revision));
        self.policy.check_trilateral_via(&header, r.recipient, offline).map_err(|why| RejectReason::NotReleasable {
            report: r.report_id.clone(),
            recipient: r.recipient,
            why,
        })?;
        let expired = r.expires_at <= now;
        let state = if expired { RequestState::Expired } else { RequestState::Open };
        let i = self.originator.requests.insert(&r, state, &self.originator.reports);
        if expired {
            self.set_recipient_state(&r.report_id, r.revision, r.recipient, AtRecipient::Expired);
            self.events.push_back(Event::Expired { request: r });
        } else {
            if let Some(i) = i {
                self.deadlines.insert(r.expires_at, i);
            }
            self.set_recipient_state(&r.report_id, r.revision, r.recipient, AtRecipient::Requested);
            self.events.push_back(Event::ReleaseRequested { request: r });
        }
        Ok(())
    }

    pub(super) fn originator_on_progress(&mut self, p: Progress) -> Result<(), RejectReason> {
        let unknown = || RejectReason::UnknownReport { report: p.report_id.clone(), revision: p.revision };
        if p.stage == Stage::Retracted {
            // The hub holds this party's retraction (every revision).
            let Some((_, confirmed)) =
                self.originator.reports.get_mut(&p.report_id).and_then(|o| o.retraction.as_deref_mut())
            else {
                return Err(unknown());
            };
            if !*confirmed {
                *confirmed = true;
                self.events.push_back(Event::Progress { progress: p });
            }
            return Ok(());
        }
        let Some(rev) = self.own_revision_mut(&p.report_id, p.revision) else { return Err(unknown()) };
        match (&p.stage, p.recipient) {
            (Stage::Accepted, None) => {
                // The hub names this very revision: it holds it, whatever
                // rejection notice naming the report came in before.
                rev.hub = AtHub::Accepted;
            }
            (stage, Some(r)) if rev.recipients.contains_key(&r) => {
                rev.hub = AtHub::Accepted;
                let next = match stage {
                    Stage::NotReleasable(why) => AtRecipient::NotReleasable(*why),
                    Stage::Forwarded { tearline_only } => AtRecipient::Delivered { tearline_only: *tearline_only },
                    Stage::Denied => AtRecipient::Denied,
                    Stage::Expired => AtRecipient::Expired,
                    Stage::Accepted | Stage::Retracted => return Err(unknown()),
                };
                rev.recipients.insert(r, next);
                if *stage == Stage::Expired {
                    let rid = RequestId::for_release(&p.report_id, p.revision, r);
                    self.mark_expired(&rid);
                }
            }
            _ => return Err(unknown()),
        }
        self.events.push_back(Event::Progress { progress: p });
        Ok(())
    }

    pub(super) fn originator_on_receipt(&mut self, r: Receipt) -> Result<(), RejectReason> {
        if r.doc.report_id.prefix_party() != Some(self.party) || Some(r.doc.recipient) != self.party.other_nation() {
            return Err(RejectReason::UnexpectedMessage { kind: "receipt", link: Party::HUB });
        }
        // The hub cannot invent one: it must carry the recipient's signature.
        let audit_head = self.verify_receipt(&r)?;
        if self.record_receipt(&r.doc)? {
            self.events.push_back(Event::ReceiptReceived { receipt: r.doc, audit_head });
        }
        Ok(())
    }

    /// Verifies a receipt as signed by its recipient's node.
    /// Verifies a receipt as signed by its recipient's node, and the audit
    /// head that came with it (signed by the same party's node), if any.
    pub(super) fn verify_receipt(&self, r: &Receipt) -> Result<Option<AuditHeadDoc>, RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "receipt", why };
        sign::verify(&self.policy, r.doc.recipient, KeyRole::Node, &r.signed).map_err(bad)?;
        if sign::ReceiptDoc::parse(&r.signed.bytes).map_err(bad)? != r.doc {
            return Err(bad(sign::SigError::Mismatch("receipt")));
        }
        let Some(head) = &r.audit_head else { return Ok(None) };
        let bad = |why| RejectReason::Unverified { what: "audit head", why };
        sign::verify(&self.policy, r.doc.recipient, KeyRole::Node, head).map_err(bad)?;
        let doc = AuditHeadDoc::parse(&head.bytes).map_err(bad)?;
        if doc.party != r.doc.recipient {
            return Err(bad(sign::SigError::Mismatch("audit head party")));
        }
        Ok(Some(doc))
    }

    /// Records a verified receipt on an own report; `Ok(false)` if already known.
    pub(super) fn record_receipt(&mut self, doc: &sign::ReceiptDoc) -> Result<bool, RejectReason> {
        let unknown = || RejectReason::UnknownReport { report: doc.report_id.clone(), revision: doc.revision };
        let rev = self.own_revision_mut(&doc.report_id, doc.revision).ok_or_else(unknown)?;
        if rev.report.manifest_sha256 != doc.manifest_sha256 {
            return Err(RejectReason::Unverified { what: "receipt", why: sign::SigError::Mismatch("manifest hash") });
        }
        if rev.receipts.has(doc.recipient) {
            return Ok(false);
        }
        rev.receipts.insert(doc.recipient, doc.received_at);
        Ok(true)
    }

    pub(super) fn on_rejection(&mut self, link: Party, r: Rejection) {
        // If the hub refused one of our reports, record it on the report.
        if let Some(id) = &r.report_id {
            if let Some(own) = self.originator.reports.get_mut(id) {
                for rev in own.revisions.iter_mut().filter(|rev| rev.hub == AtHub::Sent) {
                    rev.hub = AtHub::Rejected;
                    let key = (id.clone(), rev.report.header.revision);
                    self.originator.rejections.insert(key, Box::new((r.code.clone(), r.detail.clone())));
                }
            }
        }
        self.events.push_back(Event::RejectionReceived { link, rejection: r });
    }

    pub(super) fn own_revision(&self, id: &ReportId, revision: u32) -> Option<&OwnRevision> {
        let idx = usize::try_from(revision).ok()?.checked_sub(1)?;
        self.originator.reports.get(id)?.revisions.get(idx)
    }

    pub(super) fn own_revision_mut(&mut self, id: &ReportId, revision: u32) -> Option<&mut OwnRevision> {
        let idx = usize::try_from(revision).ok()?.checked_sub(1)?;
        self.originator.reports.get_mut(id)?.revisions.get_mut(idx)
    }

    pub(super) fn set_recipient_state(&mut self, id: &ReportId, revision: u32, recipient: Party, state: AtRecipient) {
        if let Some(rev) = self.own_revision_mut(id, revision) {
            rev.recipients.insert(recipient, state);
        }
    }

    fn mark_expired(&mut self, rid: &RequestId) {
        let Some(i) = self.originator.requests.index_of(rid, &self.originator.reports) else { return };
        if let Some((_, t)) = self.originator.requests.at_mut(i, &self.originator.reports) {
            if t.state == RequestState::Open {
                t.state = RequestState::Expired;
                self.deadlines.remove(t.expires_at(), i);
            }
        }
    }
}

fn check_text(field: TextField, s: &Sensitive, max: usize, required: bool) -> Result<(), CommandError> {
    if required && s.expose().trim().is_empty() {
        return Err(CommandError::Empty(field));
    }
    if s.len() > max {
        return Err(CommandError::TooLong { field, len: s.len(), max });
    }
    Ok(())
}
