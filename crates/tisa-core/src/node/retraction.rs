//! Retractions across the roles: the originator signs one (every
//! revision; final), the hub withdraws open requests and passes it to
//! every party it delivered to, holders mark their inbox entries.
//!
//! In detail: The originator's node signs a `tisa.v1.retraction` (report,
//! originator, time, SHA-256 of the reason, operator); the reason travels
//! beside it. It goes the report's way — to the hub, which withdraws open
//! requests, marks what it holds, passes it to every party it delivered a
//! revision to (no new approval: it only takes information back) and confirms
//! to the originator with `Progress{stage: RETRACTED, revision: 0}` — and
//! each holder verifies the originator's signature and marks its inbox
//! entries. A retraction is final; a delivery or decision for a retracted
//! report is refused (`RETRACTED`).

use super::event::Event;
use super::marks::AtRecipient;
use super::views::RetractionNote;
use super::{limits, Node};
use crate::error::{CommandError, RejectReason, TextField};
use crate::ids::ReportId;
use crate::message::{Payload, Progress, Retraction, Stage};
use crate::policy::KeyRole;
use crate::sign::{self, RetractionDoc};
use crate::types::{Party, Sensitive, Timestamp};

impl Node {
    /// Retracts one of this party's reports (every revision), signed with
    /// this node's key, for the reason given (shown to holders, never
    /// logged). Open release requests for it are withdrawn; the retraction
    /// travels the report's path and needs no new approval: every party that
    /// holds a revision marks it retracted. Final: a retracted report cannot
    /// be corrected, released or retracted again.
    pub fn retract(
        &mut self,
        now: Timestamp,
        id: &ReportId,
        reason: &str,
        operator: &str,
    ) -> Result<RetractionDoc, CommandError> {
        if reason.trim().is_empty() {
            return Err(CommandError::Empty(TextField::Reason));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: TextField::Reason, len: reason.len(), max: limits::REASON });
        }
        let own = self.originator.reports.get(id).ok_or_else(|| CommandError::UnknownReport(id.clone()))?;
        if own.retraction.is_some() {
            return Err(CommandError::Retracted(id.clone()));
        }
        let doc = RetractionDoc {
            report_id: id.clone(),
            originator: self.party,
            retracted_at: now,
            reason: reason.to_owned(),
            operator: if sign::valid_name(operator) { operator.to_owned() } else { String::new() },
        };
        let r = Retraction { doc: doc.clone(), signed: self.identity.sign(doc.to_bytes()) };
        let is_hub = self.party.is_hub();
        if let Some(own) = self.originator.reports.get_mut(id) {
            own.retraction = Some(Box::new((r.clone(), is_hub)));
            for rev in &mut own.revisions {
                for state in rev.recipients.values_mut() {
                    if matches!(state, AtRecipient::Waiting | AtRecipient::Requested | AtRecipient::Approved { .. }) {
                        *state = AtRecipient::Withdrawn;
                    }
                }
            }
        }
        // Requests awaiting this party's decision are withdrawn.
        self.originator.requests.withdraw_open(id, &self.originator.reports, &mut self.deadlines);
        if is_hub {
            self.retractions.insert(id.clone(), r.clone());
            // The hub's own report: tell every nation that received a revision.
            for to in self.holders(id) {
                self.send(now, to, Payload::Retraction(r.clone()));
                self.events.push_back(Event::RetractionForwarded { report_id: id.clone(), recipient: to });
            }
        } else {
            self.send(now, Party::HUB, Payload::Retraction(r));
        }
        self.events.push_back(Event::Retracted { report_id: id.clone(), originator: self.party });
        Ok(doc)
    }

    /// Verifies a retraction as signed by its originator's node.
    fn verify_retraction(&self, r: &Retraction) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "retraction", why };
        if r.doc.report_id.prefix_party() != Some(r.doc.originator) {
            return Err(RejectReason::BadReportId(r.doc.report_id.clone()));
        }
        sign::verify(&self.policy, r.doc.originator, KeyRole::Node, &r.signed).map_err(bad)?;
        if RetractionDoc::parse(&r.signed.bytes, &r.doc.reason).map_err(bad)? != r.doc {
            return Err(bad(sign::SigError::Mismatch("retraction")));
        }
        Ok(())
    }

    /// Marks every held revision of a retracted report; whether any was new.
    fn mark_retracted(&mut self, r: &Retraction) -> bool {
        let mut any = false;
        let note = || RetractionNote { retracted_at: r.doc.retracted_at, reason: Sensitive::new(&r.doc.reason) };
        // A nation's inbox, or the hub's (its held reports).
        let received = self.inbox.iter_mut().map(|((id, _), e)| (id, &mut e.retracted));
        let held = self.hub.held.iter_mut().map(|e| (&e.report.header.id, &mut e.retracted));
        for (id, retracted) in received.chain(held) {
            if *id == r.doc.report_id && retracted.is_none() {
                *retracted = Some(Box::new(note()));
                any = true;
            }
        }
        any
    }

    pub(super) fn hub_on_retraction(&mut self, now: Timestamp, link: Party, r: Retraction) -> Result<(), RejectReason> {
        if r.doc.originator != link {
            return Err(RejectReason::WrongOriginator {
                report: r.doc.report_id.clone(),
                claimed: r.doc.originator,
                link,
            });
        }
        self.verify_retraction(&r)?;
        let id = r.doc.report_id.clone();
        let confirm = Progress { report_id: id.clone(), revision: 0, recipient: None, stage: Stage::Retracted };
        if let Some(existing) = self.retractions.get(&id) {
            if *existing != r {
                return Err(RejectReason::Conflict { report: id, revision: 0 });
            }
            self.send(now, link, Payload::Progress(confirm)); // duplicate: confirm again
            return Ok(());
        }
        self.retractions.insert(id.clone(), r.clone());
        self.mark_retracted(&r);
        // Release requests still open for it are withdrawn: nothing more moves.
        self.hub.held.withdraw_open(&id, &mut self.deadlines);
        self.events.push_back(Event::Retracted { report_id: id.clone(), originator: link });
        // Every party that holds a revision learns, with no new approval:
        // a retraction only takes information back.
        for to in self.holders(&id) {
            self.send(now, to, Payload::Retraction(r.clone()));
            self.events.push_back(Event::RetractionForwarded { report_id: id.clone(), recipient: to });
        }
        self.send(now, link, Payload::Progress(confirm));
        Ok(())
    }

    pub(super) fn holder_on_retraction(&mut self, now: Timestamp, r: Retraction) -> Result<(), RejectReason> {
        let originator = r.doc.originator;
        if originator == self.party {
            return Err(RejectReason::OwnReport(r.doc.report_id.clone()));
        }
        self.verify_retraction(&r)?;
        let id = r.doc.report_id.clone();
        if let Some(existing) = self.retractions.get(&id) {
            return if *existing == r { Ok(()) } else { Err(RejectReason::Conflict { report: id, revision: 0 }) };
        }
        // Kept even if no revision arrived yet: a late delivery is refused.
        self.retractions.insert(id.clone(), r.clone());
        self.mark_retracted(&r);
        self.events.push_back(Event::Retracted { report_id: id.clone(), originator });
        // Any revision held for want of a statement is refused now.
        for grant_id in self.held_grants_of(&id) {
            self.settle_held(now, &grant_id);
        }
        Ok(())
    }
}
