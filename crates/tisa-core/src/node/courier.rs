//! Off-line passage ("information can also pass off-line"): the same
//! messages as on-line, along the same route (originator → hub →
//! recipient, and receipts back), carried in signed bundles by a courier
//! or an air-gapped network instead of the broker.
//!
//! - A report submitted `offline` is checked against the agreement's
//!   off-line ceiling instead of the links' ceilings, and its release
//!   request opens at the originator at once, so an approver decides before
//!   export: only explicit per-report consent travels off-line, never a
//!   standing grant (a courier cannot carry a grant's freshness).
//! - Every message about a report passing off-line, and every answer to a
//!   message that came off-line, is marked [`Transmit::offline`]: the shell
//!   keeps it for the next bundle to that peer and never publishes it, so
//!   nothing above a link's ceiling ever crosses the link. Reconciliation
//!   does not re-send them on-line either.
//! - A message imported from a bundle ([`Node::handle_courier`]) is taken
//!   exactly as one from the link (the originator's signature, consent,
//!   policy, scope, duplicates), under the off-line ceiling; the hub applies
//!   no standing grant to it. A bundle's own signature ([`Node::verify_bundle`])
//!   stands in for the link's authentication, and is checked by the shell
//!   before any of its messages is logged.
//!
//! [`Transmit::offline`]: crate::Transmit::offline

use std::collections::HashSet;

use super::marks::AtRecipient;
use super::{Node, RequestState};
use crate::error::CommandError;
use crate::ids::ReportId;
use crate::message::{Envelope, Payload, ReleaseRequest};
use crate::policy::KeyRole;
use crate::report::ReportHeader;
use crate::sign::{self, BundleDoc, SigError, Signed};
use crate::types::{Party, Timestamp};

/// What a node keeps about off-line passage.
#[derive(Debug, Default)]
pub(super) struct Courier {
    /// Report revisions passing off-line: submitted so here, or taken in
    /// from a bundle.
    pub(super) reports: HashSet<(ReportId, u32)>,
    /// The input being handled came off-line: what it makes goes off-line.
    pub(super) active: bool,
}

/// Why a bundle is refused before any of its messages is looked at
/// (fields: the exporter, the party it was exported for, this party).
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Its document does not parse, or its signature is not the sending
    /// node's registered key.
    #[error("the bundle's signature does not verify ({0}): it was altered, or not exported by the node it names")]
    Signature(SigError),
    /// It was exported for another party.
    #[error("this bundle was exported by {from} for {to}, not for {here}: import it at {to}")]
    WrongParty { from: Party, to: Party, here: Party },
    /// No link joins its exporter and this party (KR and JP share only
    /// through the hub, off-line too).
    #[error("there is no {from}-{here} link: off-line passage follows the on-line route, through {hub}")]
    NoLink { from: Party, here: Party, hub: Party },
}

impl Node {
    /// A message that arrived off-line, from a bundle exported by `link`
    /// (verified by the shell with [`Node::verify_bundle`]): taken as
    /// [`Node::handle_message`] takes one from the link, under the off-line
    /// ceiling, and everything it makes goes back off-line.
    pub fn handle_courier(&mut self, now: Timestamp, link: Party, env: Envelope) {
        self.courier.active = true;
        self.handle_message(now, link, env);
        self.courier.active = false;
    }

    /// Whether the input being handled came off-line.
    pub(super) fn offline_input(&self) -> bool {
        self.courier.active
    }

    /// Whether this revision passes off-line.
    pub(super) fn passes_offline(&self, id: &ReportId, revision: u32) -> bool {
        self.courier.reports.contains(&(id.clone(), revision))
    }

    /// Whether `p` concerns a report revision passing off-line (and so may
    /// only travel off-line).
    pub(super) fn concerns_offline(&self, p: &Payload) -> bool {
        if self.courier.reports.is_empty() {
            return false;
        }
        match p.report_revision() {
            Some((id, Some(rev))) => self.passes_offline(id, rev),
            // A rejection names the report only: any revision of it.
            Some((id, None)) => self.courier.reports.iter().any(|(i, _)| i == id),
            None => false,
        }
    }

    /// Originator: opens the release request of an off-line report for
    /// each third party it may reach, here and now (the hub cannot ask
    /// before the bundle reaches it): an approver decides before export.
    pub(super) fn open_offline_requests(&mut self, now: Timestamp, h: &ReportHeader) {
        let Some(third) = self.party.other_nation() else { return };
        if self.policy.check_trilateral_via(h, third, true).is_err() {
            return;
        }
        let request = ReleaseRequest::open(h, third, now, self.policy.request_expiry);
        if let Some(i) = self.originator.requests.insert(&request, RequestState::Open, &self.originator.reports) {
            self.deadlines.insert(request.expires_at, i);
        }
        self.set_recipient_state(&h.id, h.revision, third, AtRecipient::Requested);
        self.events.push_back(super::Event::ReleaseRequested { request });
    }

    /// Verifies a bundle's signed document: signed by the node key the
    /// agreement registers for the party it names as exporter, exported
    /// for this party, over an existing link. Its envelopes' hashes are the
    /// shell's to check against it.
    pub fn verify_bundle(&self, signed: &Signed) -> Result<BundleDoc, BundleError> {
        let doc = BundleDoc::parse(&signed.bytes).map_err(BundleError::Signature)?;
        sign::verify(&self.policy, doc.from, KeyRole::Node, signed).map_err(BundleError::Signature)?;
        if doc.to != self.party {
            return Err(BundleError::WrongParty { from: doc.from, to: doc.to, here: self.party });
        }
        let linked = doc.from != self.party && (self.party.is_hub() || doc.from.is_hub());
        if !linked {
            return Err(BundleError::NoLink { from: doc.from, here: self.party, hub: Party::HUB });
        }
        Ok(doc)
    }

    /// Signs a bundle's document with this node's key (the shell fills it:
    /// the envelopes' hashes and the acknowledgements).
    pub fn sign_bundle(&self, doc: &BundleDoc) -> Signed {
        self.identity.sign(doc.to_bytes())
    }

    /// A courier copy: what this node sent `to` about report `id` on-line
    /// goes again off-line (a link down for long; a copy by hand). The
    /// originator sends its revisions and its decisions; the hub its
    /// deliveries to `to`. Receivers take a copy once, whichever way it
    /// came first. Returns how many messages are kept for the next bundle.
    pub fn courier_copy(&mut self, now: Timestamp, to: Party, id: &ReportId) -> Result<u32, CommandError> {
        if to == self.party || !(self.party.is_hub() || to.is_hub()) {
            return Err(CommandError::NoLink { from: self.party, to, hub: Party::HUB });
        }
        if self.retracted_here(id) {
            return Err(CommandError::Retracted(id.clone()));
        }
        let mut out: Vec<(Payload, Option<crate::report::BodyKey>)> = Vec::new();
        if self.party.is_hub() {
            for ((rid, rev, recipient), f) in &self.hub.forwarded {
                if rid == id && *recipient == to {
                    out.extend(self.forwarded_again(rid, *rev, to, f));
                }
            }
        } else if let Some(own) = self.originator.reports.get(id) {
            for rev in &own.revisions {
                out.push((Payload::Report(rev.report.blank()), Some(rev.report.key())));
            }
            let requests = &self.originator.requests;
            for d in requests.of_report(id, &self.originator.reports).filter_map(|i| requests.sent(i)) {
                out.push((Payload::ReleaseDecision(d.clone()), None));
            }
        }
        let classification = match out.first() {
            Some((Payload::Delivery(d), _)) => d.header.classification,
            Some((Payload::Report(r), _)) => r.header.classification,
            _ => return Err(CommandError::UnknownReport(id.clone())),
        };
        if classification > self.policy.offline_ceiling {
            let ceiling = self.policy.offline_ceiling;
            return Err(CommandError::AboveOfflineCeiling { classification, ceiling });
        }
        let n = u32::try_from(out.len()).unwrap_or(u32::MAX);
        self.courier.active = true;
        for (p, body) in out {
            self.send_body(now, to, p, body);
        }
        self.courier.active = false;
        Ok(n)
    }

    /// Whether an off-line message still may be exported: not about a
    /// report retracted since (its consent went with it).
    pub fn exportable(&self, p: &Payload) -> bool {
        let carries_consent = matches!(p, Payload::Report(_) | Payload::Delivery(_) | Payload::ReleaseDecision(_));
        !carries_consent || p.report_revision().is_none_or(|(id, _)| !self.retracted_here(id))
    }

    /// Whether this node knows report `id` retracted: its own, or one it
    /// holds or passed on.
    fn retracted_here(&self, id: &ReportId) -> bool {
        self.retractions.contains_key(id) || self.originator.reports.get(id).is_some_and(|o| o.retraction.is_some())
    }
}
