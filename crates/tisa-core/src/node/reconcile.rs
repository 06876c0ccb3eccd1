//! End-to-end reconciliation: what each party re-sends when a link comes
//! back (a broker may lose what it acknowledged), and how the hub answers
//! an originator that sends a report it already holds.

use std::collections::BTreeSet;

use super::event::Event;
use super::hub::delivery_of;
use super::marks::{AtHub, AtRecipient};
use super::own::OwnRevision;
use super::{Node, RequestState};
use crate::ids::RequestId;
use crate::message::{Payload, Progress, Report, Stage};
use crate::report::BodyKey;
use crate::sign::Verdict;
use crate::types::{Party, Timestamp};

impl Node {
    /// Re-sends to the peer at the other end of `link` what it may not
    /// know (see [`Node::handle_link_up`]):
    ///
    /// - a nation re-sends every own report revision that has no final
    ///   outcome yet (the hub answers a report it already holds with where
    ///   it stands: progress, the open request, the receipt), its
    ///   retractions the hub has not confirmed, its grants and revocations,
    ///   and the newest statement of each grant that stands;
    /// - the hub re-sends every delivery to that nation that has no receipt
    ///   yet, the revocations and retractions it passed on to it, and the
    ///   newest statement of each grant that stands for it.
    pub(super) fn resend_to(&mut self, now: Timestamp, link: Party) {
        // Each with the body it needs from the store, if any.
        let mut out: Vec<(Payload, Option<BodyKey>)> = Vec::new();
        if self.party.is_hub() {
            let aligned = self.trilateral_aligned();
            let mut held_back = false;
            for ((id, rev, to), f) in &self.hub.forwarded {
                // Trilateral deliveries wait while the agreement versions differ.
                if *to != link || f.receipt.is_some() {
                    continue;
                }
                if f.consent.is_some() && !aligned {
                    held_back = true;
                    continue;
                }
                out.extend(self.forwarded_again(id, *rev, *to, f));
            }
            for r in self.hub.revocations.values() {
                if Some(link) == r.doc.originator.other_nation() {
                    out.push((Payload::Revocation(r.clone()), None));
                }
            }
            self.chain.held_back |= held_back;
            out.extend(self.standing_to_resend(link).into_iter().map(|p| (p, None)));
            let mut told = BTreeSet::new();
            for (id, _, to) in self.hub.forwarded.keys() {
                if *to == link && told.insert(id.clone()) {
                    if let Some(r) = self.retractions.get(id) {
                        out.push((Payload::Retraction(r.clone()), None));
                    }
                }
            }
        } else {
            for own in self.originator.reports.values() {
                if let Some((r, confirmed)) = own.retraction.as_deref() {
                    if !confirmed {
                        out.push((Payload::Retraction(r.clone()), None));
                    }
                    continue;
                }
                for rev in &own.revisions {
                    if needs_hub(rev) {
                        out.push((Payload::Report(rev.report.blank()), Some(rev.report.key())));
                    }
                }
            }
            for g in self.grants.values() {
                out.push((Payload::Grant(g.grant.clone()), None));
            }
            for r in self.originator.revocations.values() {
                out.push((Payload::Revocation(r.clone()), None));
            }
            out.extend(self.standing_to_resend(link).into_iter().map(|p| (p, None)));
        }
        // What passes off-line is never re-sent on-line: a lost bundle's
        // messages go again in the next bundle (`tisa bundle export`
        // carries everything the peer has not acknowledged).
        out.retain(|(p, _)| !self.concerns_offline(p));
        let resent = u32::try_from(out.len()).unwrap_or(u32::MAX);
        for (p, body) in out {
            self.send_body(now, link, p, body);
        }
        if resent > 0 {
            self.events.push_back(Event::Reconciled { link, resent });
        }
    }

    /// Hub: the delivery of revision `rev` of `id` it sent `to` (under `f`),
    /// blank, to send again, with the body it needs.
    pub(super) fn forwarded_again(
        &self,
        id: &crate::ids::ReportId,
        rev: u32,
        to: Party,
        f: &super::hub::Forwarded,
    ) -> Option<(Payload, Option<BodyKey>)> {
        let report = match &f.consent {
            Some(_) => self.hub.held.get(&(id.clone(), rev)).map(|h| &h.report),
            None => self.own_revision(id, rev).map(|r| &r.report),
        }?;
        let (d, _) = delivery_of(report, None, to, f.tearline_only, f.consent.clone())?;
        Some((Payload::Delivery(d), Some(report.key())))
    }

    /// Hub: answers an originator that sent a report the hub already holds
    /// (after a loss, or on reconciliation) with everything it would have
    /// been told: accepted, and for the third party where the release
    /// stands (the open request again, not releasable, forwarded with the
    /// receipt if one came, denied or expired), or that it is retracted.
    pub(super) fn hub_answer(&mut self, now: Timestamp, link: Party, report: &Report) {
        let h = &report.header;
        let progress = |recipient, stage| {
            Payload::Progress(Progress { report_id: h.id.clone(), revision: h.revision, recipient, stage })
        };
        if self.retractions.contains_key(&h.id) {
            let p = Progress { report_id: h.id.clone(), revision: 0, recipient: None, stage: Stage::Retracted };
            self.send(now, link, Payload::Progress(p));
            return;
        }
        let mut out = vec![progress(None, Stage::Accepted)];
        if let Some(third) = link.other_nation().filter(|t| h.releasable_to.contains(*t)) {
            let rid = RequestId::for_release(&h.id, h.revision, third);
            let offline = self.passes_offline(&h.id, h.revision);
            if let Err(why) = self.policy.check_trilateral_via(h, third, offline) {
                out.push(progress(Some(third), Stage::NotReleasable(why)));
            } else if let Some(f) = self.hub.forwarded.get(&(h.id.clone(), h.revision, third)) {
                out.push(progress(Some(third), Stage::Forwarded { tearline_only: f.tearline_only }));
                if let Some(r) = &f.receipt {
                    out.push(Payload::Receipt(r.clone()));
                }
            } else if let Some((request, t)) = self.hub.held.get_request(&rid) {
                match &t.state {
                    // Off-line, the originator opened it itself (`courier`).
                    RequestState::Open if offline => {}
                    RequestState::Open => out.push(Payload::ReleaseRequest(request)),
                    RequestState::Decided(Verdict::Deny) => out.push(progress(Some(third), Stage::Denied)),
                    RequestState::Expired => out.push(progress(Some(third), Stage::Expired)),
                    RequestState::Decided(_) | RequestState::Withdrawn => {}
                }
            }
        }
        for p in out {
            self.send(now, link, p);
        }
    }
}

/// Originator: whether a revision still needs the hub (no final outcome
/// that the hub has confirmed): re-sent on reconciliation.
fn needs_hub(r: &OwnRevision) -> bool {
    match r.hub {
        AtHub::Sent => true,
        AtHub::Rejected | AtHub::Own => false,
        AtHub::Accepted => r.recipients.iter().any(|(p, s)| match s {
            AtRecipient::Waiting | AtRecipient::Approved { .. } => true,
            AtRecipient::Delivered { .. } => !r.receipts.has(*p),
            _ => false,
        }),
    }
}
