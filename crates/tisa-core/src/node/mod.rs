//! The per-party state machine.
//!
//! One [`Node`] type plays every role its party has: each party originates
//! reports and decides their release; the hub (US) also holds the nations'
//! reports, asks their originators for consent and forwards; a nation also
//! receives what is released to it.
//!
//! # Driving it
//! Inputs: [`Node::handle_message`] (from the transport), [`Node::handle_timeout`]
//! (when [`Node::poll_timeout`] is due), [`Node::handle_link_up`] (a link
//! came back, or the periodic check), and the commands ([`Node::submit`],
//! [`Node::approve`], [`Node::deny`], [`Node::decide`], [`Node::grant`],
//! [`Node::revoke`], [`Node::track`], [`Node::retract`]). After **every**
//! input, drain [`Node::poll_stash`] (bodies kept outside), then
//! [`Node::poll_transmit`] until `None`, then [`Node::poll_event`] until
//! `None`, then re-arm the timer from [`Node::poll_timeout`]. The core never
//! reads a clock and never does IO.
//!
//! # Layout
//! This file holds the state, the inputs and the outputs. The flow of a
//! report is split by role: `originator` (submit, decide, what the hub
//! reports back), `hub` (hold, ask, forward, pass receipts back) and
//! `recipient` (verify and take in deliveries). What spans all three roles
//! is split by feature: `grants` (standing pre-approvals), `tracks` (live
//! missile tracks), `standing` (statements that a grant still stands, and
//! what a recipient holds until a fresh one comes), `retraction` and
//! `reconcile` (re-sending what a peer may have lost). `views` holds the
//! queries and what they return, `event` what happened.

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;

use crate::body::Stash;
use crate::error::{CommandError, RejectReason};
use crate::ids::{MessageId, ReportId, RequestId, TrackId};
use crate::message::{
    Consent, Envelope, Grant, Payload, Progress, Rejection, Report, Retraction, Stage, Transmit, PROTOCOL_VERSION,
};
use crate::policy::{KeyRole, Policy};
use crate::report::BodyKey;
use crate::sign::{Identity, Replays};
use crate::types::{Classification, Party, PartySet, Timestamp};

mod agreement;
mod auth;
mod courier;
mod deadlines;
mod event;
mod grants;
mod hub;
mod lane;
mod marks;
mod originator;
mod own;
mod recipient;
mod reconcile;
mod requests;
mod retraction;
mod seal;
mod standing;
mod tracks;
mod views;

pub use agreement::AgreementView;
pub use courier::BundleError;
pub use event::{Event, HeldKind};
pub use lane::{Lane, LaneCounts, LaneOutcome, LaneView};
pub use originator::{ReportDraft, SubmitNote, Submitted};
pub use standing::{held_cursor, HeldView};
pub use tracks::{TrackDraft, TrackEntry, TrackSubmitted};
pub use views::{
    inbox_cursor, GrantView, HubState, InboxEntry, InboxFilter, Page, PendingView, RecipientState, RetractionNote,
    RevisionStatus,
};

pub use auth::Authorized;
use deadlines::Deadlines;
use hub::Hub;
use originator::Originator;
use recipient::Received;
use requests::RequestState;
use standing::Freshness;

/// Size limits, in bytes, of a report's text fields, named for them (NATS's
/// default maximum payload is 1 MiB; a report must fit with room for its
/// envelope), and of a query's page.
#[allow(missing_docs)] // the constants are named for their fields
pub mod limits {
    pub const TITLE: usize = 256;
    pub const BODY: usize = 256 * 1024;
    pub const TEARLINE: usize = 64 * 1024;
    /// The source description.
    pub const SOURCE: usize = 1024;
    /// A denial's or a retraction's reason.
    pub const REASON: usize = 1024;
    /// Largest page a query returns (items, not bytes).
    pub const PAGE: usize = 1000;
}

/// The two-person rule, by keys: an approval counts only from a key other
/// than the one that signed the submission; a submission no key signed
/// (`None`) cannot satisfy the rule. Names are labels and never compared.
pub(crate) fn two_persons(submitter: Option<crate::policy::KeyId>, approver: crate::policy::KeyId) -> bool {
    submitter.is_some_and(|s| s != approver)
}

/// The state machine of one party. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Node {
    party: Party,
    policy: Policy,
    identity: Identity,
    /// As an originator (every party): own reports, the requests for its
    /// decision, source keys, its revocations.
    originator: Originator,
    /// As the hub (US only; empty at a nation): national reports held,
    /// requests opened, deliveries sent, revocations passed on.
    hub: Hub,
    /// Reports received, by (id, revision), in arrival order: deliveries at
    /// a recipient, national reports at the hub.
    inbox: IndexMap<(ReportId, u32), Received>,
    /// Retractions of reports this party holds or passed on, by report
    /// (the hub's own included, to pass on again on reconciliation).
    retractions: HashMap<ReportId, Retraction>,
    /// Standing grants: issued (originator), held (hub).
    grants: IndexMap<String, GrantView>,
    /// The grants that reports and deliveries kept here were released
    /// under, one shared copy each (by grant id, the latest version seen):
    /// a consent kept per report is a pointer, not a copy of the grant.
    shared_grants: HashMap<String, std::sync::Arc<Grant>>,
    /// Revoked grant ids (every role).
    revoked: HashSet<String>,
    /// Live missile tracks: the latest update of each (own, held or
    /// received), by first appearance.
    tracks: IndexMap<TrackId, TrackEntry>,
    /// Grant-standing statements, and what a recipient holds for want of a
    /// fresh one (`standing`).
    freshness: Freshness,
    /// Open requests' deadlines (the hub's requests at the hub, the
    /// originator's at a nation).
    deadlines: Deadlines,
    /// The names of the operators who submitted the reports it keeps.
    names: crate::body::Names,
    /// Distinguishes this run's message ids from other runs'.
    instance: u64,
    /// Sequence number of the last message id issued.
    next_seq: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Bodies kept in memory (the default); `None` once they go to the
    /// shell's store ([`Node::keep_bodies_outside`]).
    bodies: Option<HashMap<BodyKey, Report>>,
    stashes: VecDeque<Stash>,
    /// The nonces of operators' actions still within the clock skew.
    replays: Replays,
    /// Later agreement versions, and what the peers enforce (`agreement`).
    chain: agreement::Chain,
    /// Reports passing off-line, and whether the input being handled came
    /// off-line (`courier`).
    courier: courier::Courier,
    /// This node's documents waiting for the next batch signature (`seal`).
    seal: seal::Seal,
}

impl Node {
    /// A fresh node for `party` under `policy`, signing with `identity`
    /// (which must be registered in the policy as a node key of `party`).
    /// `instance` distinguishes this run's message ids from other runs' (the
    /// shell passes a random value).
    pub fn new(party: Party, policy: Policy, instance: u64, identity: Identity) -> Result<Node, CommandError> {
        let registered =
            policy.keys_of(party, KeyRole::Node).any(|k| k.name == identity.name() && k.public == identity.public());
        if !registered {
            return Err(CommandError::UnregisteredNodeKey(identity.name().to_owned()));
        }
        Ok(Node {
            party,
            policy,
            identity,
            originator: Originator::default(),
            hub: Hub::default(),
            inbox: IndexMap::new(),
            retractions: HashMap::new(),
            grants: IndexMap::new(),
            shared_grants: HashMap::new(),
            revoked: HashSet::new(),
            tracks: IndexMap::new(),
            freshness: Freshness::default(),
            deadlines: Deadlines::default(),
            names: Default::default(),
            instance,
            next_seq: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            bodies: Some(HashMap::new()),
            stashes: VecDeque::new(),
            replays: Replays::default(),
            chain: agreement::Chain::default(),
            courier: courier::Courier::default(),
            seal: seal::Seal::default(),
        })
    }

    /// Keeps report bodies (content and manifest) outside the core: they
    /// come out as [`Stash`]es ([`Node::poll_stash`]) for the shell's body
    /// store, and transmits and queries that need one name it for the shell
    /// to fill ([`Transmit::body`]). Call before the first input.
    #[must_use]
    pub fn keep_bodies_outside(mut self) -> Node {
        self.bodies = None;
        self
    }

    /// This node's party.
    pub fn party(&self) -> Party {
        self.party
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Next message to send. Drain until `None` after every input.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.seal();
        self.transmits.pop_front()
    }

    /// Next body to write to the body store (only with
    /// [`Node::keep_bodies_outside`]). Drain after every input, before
    /// filling its transmits.
    #[must_use]
    pub fn poll_stash(&mut self) -> Option<Stash> {
        self.seal();
        self.stashes.pop_front()
    }

    /// Next event. Drain until `None` after every input (after transmits).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let request = self.deadlines.first();
        [request, self.standing_timeout(), self.switch_timeout()].into_iter().flatten().min()
    }

    /// A timer input: switches to a staged agreement version whose time has
    /// come, expires every open request whose deadline is `<= now`, issues
    /// the grant-standing statements due, refuses what is held under a
    /// grant that has lapsed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.expire_due(now);
        self.standing_on_timeout(now);
    }

    /// A message that arrived on the link to `link` (the party the transport
    /// authenticated as the other end: for a nation, always the hub).
    pub fn handle_message(&mut self, now: Timestamp, link: Party, env: Envelope) {
        self.expire_due(now);
        let kind = env.payload.kind();
        let message_id = env.message_id.clone();
        let result = if link == self.party || (!self.party.is_hub() && link != Party::HUB) {
            // No such link exists: a transport bug or a forged claim.
            Err(RejectReason::UnexpectedMessage { kind, link })
        } else if env.sender != link {
            Err(RejectReason::ForgedSender { claimed: env.sender, link })
        } else {
            // A bundle's messages say what the exporter enforced when it
            // exported them, not what it enforces now.
            if !self.offline_input() {
                self.note_peer_agreement(now, link, env.agreement);
            }
            match env.payload {
                Payload::Hello => Ok(()),
                p if !self.party.is_hub() && is_trilateral(&p) && !self.sent_under_own_agreement(env.agreement) => {
                    // Not taken while the versions differ; the hub sends it
                    // again once they agree (`agreement`).
                    self.events.push_back(Event::NotUnderAgreement {
                        link,
                        kind,
                        theirs: env.agreement,
                        ours: self.policy.tag(),
                    });
                    Ok(())
                }
                Payload::Rejection(r) => {
                    self.on_rejection(link, r);
                    Ok(())
                }
                p if self.party.is_hub() => self.hub_input(now, link, p),
                p => self.nation_input(now, message_id.clone(), p),
            }
        };
        if let Err(reason) = result {
            let (report_id, request_id) = reason_ids(&reason);
            let rejection = Rejection {
                refers_to: message_id.clone(),
                code: reason.code().to_owned(),
                detail: reason.to_string(),
                report_id,
                request_id,
            };
            // Never answer a rejection with a rejection, and never send to a
            // link that does not exist.
            if kind != "rejection" && link != self.party && (self.party.is_hub() || link == Party::HUB) {
                self.send(now, link, Payload::Rejection(rejection));
            }
            self.events.push_back(Event::Rejected { link, kind, message_id, reason });
        }
    }

    /// End-to-end reconciliation with the peer at the other end of `link`,
    /// to be called whenever that link comes back (a reconnect, a stream
    /// that had to be created again, a restart) and periodically. The
    /// broker acknowledges what it stored, but a broker can lose what it
    /// acknowledged (a store lost or rolled back), so each party re-sends
    /// what the peer may not know (a nation: own revisions without a final
    /// outcome, unconfirmed retractions, grants and revocations; the hub:
    /// deliveries without a receipt, revocations and retractions passed on)
    /// and every receiver is idempotent.
    pub fn handle_link_up(&mut self, now: Timestamp, link: Party) {
        self.expire_due(now);
        if link == self.party || (!self.party.is_hub() && link != Party::HUB) {
            return;
        }
        // Which agreement this node enforces, for the peer to compare.
        self.send(now, link, Payload::Hello);
        self.resend_to(now, link);
    }

    /// What the hub takes in, from either nation: reports, decisions and the
    /// rest of the flow by role, grants, tracks, receipts, retractions.
    fn hub_input(&mut self, now: Timestamp, link: Party, payload: Payload) -> Result<(), RejectReason> {
        match payload {
            Payload::Report(r) => self.hub_on_report(now, link, r),
            Payload::ReleaseDecision(d) => self.hub_on_decision(now, link, d),
            Payload::Grant(g) => self.hub_on_grant(link, g),
            Payload::Revocation(r) => self.hub_on_revocation(now, link, r),
            Payload::Track(t) => self.hub_on_track(now, link, t),
            Payload::Receipt(r) => self.hub_on_receipt(now, link, r),
            Payload::Retraction(r) => self.hub_on_retraction(now, link, r),
            Payload::Standing(s) => self.hub_on_standing(now, link, s),
            other => Err(RejectReason::UnexpectedMessage { kind: other.kind(), link }),
        }
    }

    /// What a nation takes in, always from the hub: as an originator
    /// (requests, progress, receipts) and as a recipient (deliveries,
    /// revocations, tracks, retractions).
    fn nation_input(&mut self, now: Timestamp, message_id: MessageId, payload: Payload) -> Result<(), RejectReason> {
        match payload {
            Payload::ReleaseRequest(r) => self.originator_on_request(now, r),
            Payload::Delivery(d) => self.recipient_on_delivery(now, message_id, d),
            Payload::Progress(p) => self.originator_on_progress(p),
            Payload::Revocation(r) => self.recipient_on_revocation(now, r),
            Payload::Track(t) => self.recipient_on_track(now, message_id, t),
            Payload::Standing(s) => self.recipient_on_standing(now, s),
            Payload::Receipt(r) => self.originator_on_receipt(r),
            Payload::Retraction(r) => self.holder_on_retraction(now, r),
            other => Err(RejectReason::UnexpectedMessage { kind: other.kind(), link: Party::HUB }),
        }
    }

    fn send(&mut self, now: Timestamp, to: Party, payload: Payload) {
        self.send_body(now, to, payload, None);
    }

    /// Sends `payload`, whose report or delivery is blank if `body` names
    /// the body it needs: filled here when bodies are kept in memory, by the
    /// shell from its store otherwise.
    fn send_body(&mut self, now: Timestamp, to: Party, payload: Payload, body: Option<BodyKey>) {
        self.next_seq += 1;
        let raw = format!("{}.{:016x}.{}", self.party.code(), self.instance, self.next_seq);
        // The format above always satisfies the id rules.
        let Ok(message_id) = MessageId::new(raw) else { return };
        let envelope = Envelope {
            version: PROTOCOL_VERSION,
            message_id,
            sender: self.party,
            sent_at: now,
            agreement: self.policy.tag(),
            payload,
        };
        let offline = self.courier.active || self.concerns_offline(&envelope.payload);
        let mut t = Transmit { to, envelope, body, offline };
        if let Some(b) = t.body.as_ref().and_then(|k| self.bodies.as_ref()?.get(k)) {
            // In memory, a body is there and matches: the core stashed it.
            let _ = t.fill(b);
        }
        self.transmits.push_back(t);
    }

    /// Keeps a verified body: in memory, or out to the shell's store.
    fn stash(&mut self, body: Report) {
        let key = BodyKey::of(&body.header);
        if body.manifest.is_pending() && self.bodies.is_some() {
            self.seal_body(key.clone());
        }
        match &mut self.bodies {
            Some(m) => {
                m.insert(key, body);
            }
            None => self.stashes.push_back(Stash { key, body }),
        }
    }

    /// Brings the node up to `now` before an input: a staged agreement
    /// version whose time has come takes effect first, then open requests
    /// past their deadline expire.
    fn expire_due(&mut self, now: Timestamp) {
        self.switch_due(now);
        while let Some(i) = self.deadlines.pop_due(now) {
            if self.party.is_hub() {
                let Some((req, t)) = self.hub.held.request_at_mut(i) else { continue };
                if t.state != RequestState::Open {
                    continue;
                }
                t.state = RequestState::Expired;
                let originator = req.report_id.prefix_party().unwrap_or(Party::HUB);
                if originator != Party::HUB {
                    self.send(
                        now,
                        originator,
                        Payload::Progress(Progress {
                            report_id: req.report_id.clone(),
                            revision: req.revision,
                            recipient: Some(req.recipient),
                            stage: Stage::Expired,
                        }),
                    );
                }
                self.events.push_back(Event::Expired { request: req });
            } else {
                let Some((req, t)) = self.originator.requests.at_mut(i, &self.originator.reports) else { continue };
                if t.state != RequestState::Open {
                    continue;
                }
                t.state = RequestState::Expired;
                self.set_recipient_state(&req.report_id, req.revision, req.recipient, marks::AtRecipient::Expired);
                self.events.push_back(Event::Expired { request: req });
            }
        }
    }
}

/// Whether a message a nation receives releases something trilaterally
/// (a national report or track forwarded under consent): what stops while
/// the agreement versions differ.
fn is_trilateral(p: &Payload) -> bool {
    match p {
        Payload::Delivery(d) => d.basis == crate::message::Basis::Trilateral,
        Payload::Track(t) => t.consent.is_some(),
        _ => false,
    }
}

fn reason_ids(r: &RejectReason) -> (Option<ReportId>, Option<RequestId>) {
    match r {
        RejectReason::WrongOriginator { report, .. }
        | RejectReason::Conflict { report, .. }
        | RejectReason::UnknownReport { report, .. }
        | RejectReason::NotReleasable { report, .. } => (Some(report.clone()), None),
        RejectReason::BadReportId(id) | RejectReason::NoTearline(id) | RejectReason::OwnReport(id) => {
            (Some(id.clone()), None)
        }
        RejectReason::UnknownRequest(r)
        | RejectReason::RequestMismatch(r)
        | RejectReason::NotOriginator(r)
        | RejectReason::AlreadyDecided(r)
        | RejectReason::Expired(r) => (None, Some(r.clone())),
        RejectReason::NoConsent(id) | RejectReason::Retracted(id) => (Some(id.clone()), None),
        RejectReason::ForgedSender { .. }
        | RejectReason::UnexpectedMessage { .. }
        | RejectReason::Unverified { .. }
        | RejectReason::GrantNotValid(_)
        | RejectReason::TrackNotReleasable { .. }
        | RejectReason::BadTrack { .. }
        | RejectReason::TrackNoConsent(_) => (None, None),
    }
}

/// What `party` may submit, as far as its markings go: releasable to
/// someone besides itself, to the hub if it is a nation's (it travels
/// through the hub), and within the ceiling of every link it crosses.
/// Returns the recipients (releasable-to without `party`). A feed's
/// `--dry-run` asks the same question its node will.
pub fn check_markings(
    policy: &Policy,
    party: Party,
    classification: Classification,
    releasable_to: PartySet,
) -> Result<PartySet, CommandError> {
    check_markings_via(policy, party, classification, releasable_to, false)
}

/// [`check_markings`] for a report passing on-line or, with `offline`,
/// off-line (within the agreement's off-line ceiling instead of the links').
pub fn check_markings_via(
    policy: &Policy,
    party: Party,
    classification: Classification,
    releasable_to: PartySet,
    offline: bool,
) -> Result<PartySet, CommandError> {
    let rel: PartySet = releasable_to.iter().filter(|p| *p != party).collect();
    if rel.is_empty() {
        return Err(CommandError::NoRecipient);
    }
    if !party.is_hub() && !rel.contains(Party::HUB) {
        return Err(CommandError::MustIncludeHub { party, hub: Party::HUB });
    }
    // A nation's report crosses its own link; the hub's, each recipient's.
    let links: Vec<Party> = if party.is_hub() { rel.iter().collect() } else { vec![party] };
    if offline {
        let ceiling = policy.offline_ceiling;
        if classification > ceiling {
            return Err(CommandError::AboveOfflineCeiling { classification, ceiling });
        }
        return Ok(rel);
    }
    for nation in links {
        let ceiling = policy.ceiling(nation);
        if classification > ceiling {
            return Err(CommandError::AboveCeiling { classification, ceiling, hub: Party::HUB, nation });
        }
    }
    Ok(rel)
}

/// The copy of `g` kept in `shared`, if the one kept under its id is the
/// same grant (same document, signatures and co-signature).
pub(super) fn kept_grant(shared: &HashMap<String, std::sync::Arc<Grant>>, g: &Grant) -> Option<std::sync::Arc<Grant>> {
    shared.get(&g.doc.grant_id).filter(|kept| ***kept == *g).cloned()
}

impl Node {
    /// `g` as a shared copy: the one kept already if it is the same grant,
    /// else `g`, now kept.
    pub(super) fn share_grant(&mut self, g: std::sync::Arc<Grant>) -> std::sync::Arc<Grant> {
        if let Some(kept) = kept_grant(&self.shared_grants, &g) {
            return kept;
        }
        self.shared_grants.insert(g.doc.grant_id.clone(), g.clone());
        g
    }

    /// `c` with its grant (if any) shared.
    pub(super) fn share_consent(&mut self, c: Consent) -> Consent {
        match c {
            Consent::Grant(g) => Consent::Grant(self.share_grant(g)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// What a node keeps for each report and each pending release request
    /// (up to millions: issue #18, target (d)) stays as compact as it was
    /// made; a field added to one of these shows here first.
    #[test]
    fn what_is_kept_per_report_and_request_stays_compact() {
        // The originator: a revision, a report (its first revision inline),
        // its request, an id.
        assert_eq!(size_of::<super::own::OwnRevision>(), 96);
        assert_eq!(size_of::<super::own::OwnReport>(), 104);
        assert_eq!(size_of::<super::requests::Entry>(), 32);
        assert_eq!(size_of::<super::requests::TrackedRequest>(), 20);
        assert_eq!(size_of::<crate::ids::ReportId>(), 24);
        // The hub: a held report (its inbox entry and its request too).
        assert_eq!(size_of::<crate::body::ReportRef>(), 80);
        assert_eq!(size_of::<super::hub::Held>(), 120);
        // What the hub keeps per delivery until its receipt, and a
        // recipient per inbox entry, carry a consent: a pointer either way.
        assert_eq!(size_of::<Option<crate::message::Consent>>(), 16);
        assert_eq!(size_of::<super::hub::Forwarded>(), 336);
        assert_eq!(size_of::<crate::message::Delivery>(), 304);
    }
}
