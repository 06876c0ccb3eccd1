//! The per-party state machine.
//!
//! One [`Node`] type plays either role: a nation (KR or JP: originates
//! reports, decides releases, receives released reports) or the hub (US:
//! holds national reports, asks originators for consent, forwards, and
//! sends its own reports bilaterally).
//!
//! # Driving it
//! Inputs: [`Node::handle_message`] (from the transport), [`Node::handle_timeout`]
//! (when [`Node::poll_timeout`] is due), and the commands [`Node::submit`],
//! [`Node::approve`], [`Node::deny`]. After **every** input, drain
//! [`Node::poll_transmit`] until `None`, then [`Node::poll_event`] until
//! `None`, then re-arm the timer from [`Node::poll_timeout`]. The core never
//! reads a clock and never does IO.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use indexmap::IndexMap;

use crate::body::{blank_signed, content_digest, fill_delivery, FillError, ReportRef, Stash};
use crate::error::{CommandError, RejectReason};
use crate::ids::*;
use crate::message::*;
use crate::policy::{KeyRole, NotReleasable, Policy};
use crate::report::*;
use crate::sign::{
    self, AuditHeadDoc, DecisionDoc, GrantDoc, Identity, Manifest, RetractionDoc, RevocationDoc, Signed, TrackDoc,
    Verdict,
};
use crate::types::*;

/// Size limits, in bytes, of a report's text fields (NATS's default maximum
/// payload is 1 MiB; a report must fit with room for its envelope).
pub mod limits {
    /// Title.
    pub const TITLE: usize = 256;
    /// Body.
    pub const BODY: usize = 256 * 1024;
    /// Tearline.
    pub const TEARLINE: usize = 64 * 1024;
    /// Source description.
    pub const SOURCE: usize = 1024;
    /// A denial's reason.
    pub const REASON: usize = 1024;
    /// Largest page a query returns.
    pub const PAGE: usize = 1000;
}

/// A report as the operator submits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// What it is about.
    pub category: Category,
    /// Its classification.
    pub classification: Classification,
    /// Who may ever see it (a limit, not consent).
    pub releasable_to: PartySet,
    /// The content.
    pub content: Content,
    /// `Some(id)`: issue a new revision of this party's report `id`.
    pub corrects: Option<ReportId>,
    /// The submitting operator's name (for the two-person rule), or empty.
    pub submitted_by: String,
    /// An idempotency key from the report's source (`usgs:<event id>`, a
    /// CSV row's id, a webhook's id). A second submit with the same key and
    /// the same content is a no-op; with different content it becomes a new
    /// revision of the same report.
    pub source_key: Option<String>,
}

/// A note on a submission: a recipient in the releasable-to list that the
/// report will not reach, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitNote {
    /// The recipient.
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

/// A live missile-track update as the originator's operator (or feed) gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackDraft {
    /// The track, prefixed with this party's code (`KR-T-…`).
    pub track_id: TrackId,
    /// Sequence number, increasing per track.
    pub seq: u32,
    /// Classification.
    pub classification: Classification,
    /// Who may ever see it (a limit, not consent).
    pub releasable_to: PartySet,
    /// Launch point.
    pub launch: GeoPoint,
    /// Launch time.
    pub launched_at: Timestamp,
    /// Current position.
    pub position: GeoPoint,
    /// Current altitude, metres.
    pub altitude_m: i32,
    /// When the position was observed.
    pub observed_at: Timestamp,
    /// Predicted impact point, if any.
    pub impact: Option<GeoPoint>,
}

/// Result of a successful track command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackSubmitted {
    /// The signed update (the existing one for a duplicate).
    pub update: TrackUpdate,
    /// This very update was already issued: nothing was sent.
    pub duplicate: bool,
}

/// The latest known state of one track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackEntry {
    /// The latest update.
    pub update: TrackUpdate,
    /// When it arrived (or was issued), by this node's clock.
    pub received_at: Timestamp,
}

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
        /// The request.
        request_id: RequestId,
        /// When it counts as denied.
        expires_at: Timestamp,
    },
    /// Approved; the hub has not confirmed forwarding yet.
    Approved {
        /// Tearline only?
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
        /// Tearline only?
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
}

/// A release request awaiting (or past) this party's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingView {
    /// The request.
    pub request: ReleaseRequest,
    /// The report's header.
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
}

/// A standing grant as one node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantView {
    /// The grant.
    pub grant: Grant,
    /// Whether it has been revoked.
    pub revoked: bool,
}

/// A report this party received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// What arrived.
    pub delivery: Delivery,
    /// When it arrived, by this node's clock.
    pub received_at: Timestamp,
    /// The originator has retracted the report since.
    pub retracted: Option<RetractionNote>,
    /// When set, what was released and the manifest are blank: fill them
    /// from the body store ([`InboxEntry::fill`]).
    pub body: Option<BodyKey>,
}

/// A retraction as a holder of the report sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractionNote {
    /// When the originator retracted it (its clock).
    pub retracted_at: Timestamp,
    /// The originator's reason (shown to operators; never logged).
    pub reason: Sensitive,
}

/// A page of results: `next_after` is the cursor for the next page, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` when this was the last.
    pub next_after: Option<String>,
}

/// Something that happened, for logs, `tisa watch` and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// This party submitted a report (or revision).
    Submitted {
        /// Its header.
        header: ReportHeader,
    },
    /// The hub now holds a national report.
    ReportHeld {
        /// Its header.
        header: ReportHeader,
    },
    /// A release request was opened (hub) or received (originator).
    ReleaseRequested {
        /// The request.
        request: ReleaseRequest,
    },
    /// A release decision was taken (originator) or recorded (hub).
    Decided {
        /// The decision.
        decision: ReleaseDecision,
    },
    /// The hub sent a report to a nation (trilateral forward, or its own bilateral report).
    Forwarded {
        /// The report.
        header: ReportHeader,
        /// The recipient.
        recipient: Party,
        /// Basis.
        basis: Basis,
        /// Tearline only?
        tearline_only: bool,
    },
    /// This party received a report.
    Received {
        /// Its header.
        header: ReportHeader,
        /// Basis.
        basis: Basis,
        /// Tearline only?
        tearline_only: bool,
        /// Its title, if released (for `watch`; never logged).
        title: Option<Sensitive>,
    },
    /// The hub told this originator how its report stands.
    Progress {
        /// The progress.
        progress: Progress,
    },
    /// A release request expired (counts as denied).
    Expired {
        /// The request.
        request: ReleaseRequest,
    },
    /// This party refused an incoming message.
    Rejected {
        /// The link it came in on.
        link: Party,
        /// Its kind.
        kind: &'static str,
        /// Its message id.
        message_id: MessageId,
        /// Why.
        reason: RejectReason,
    },
    /// A track's latest state changed here (issued by this party, held by
    /// the hub, or received).
    TrackUpdated {
        /// The update (ids and numbers only: it may be logged).
        update: TrackUpdate,
    },
    /// The hub sent a track update to a nation (under the originator's
    /// standing grant, or its own track bilaterally).
    TrackForwarded {
        /// The track.
        track_id: TrackId,
        /// The update's sequence number.
        seq: u32,
        /// The recipient.
        recipient: Party,
        /// The standing grant it went under (`None`: the hub's own track).
        grant_id: Option<String>,
    },
    /// A peer refused one of this party's messages.
    RejectionReceived {
        /// The peer.
        link: Party,
        /// The notice.
        rejection: Rejection,
    },
    /// A recipient's signed receipt for one of this party's reports (or,
    /// at the hub, one passed on to its originator).
    ReceiptReceived {
        /// The verified receipt.
        receipt: crate::sign::ReceiptDoc,
        /// The recipient's signed audit chain head that came with it, verified.
        audit_head: Option<AuditHeadDoc>,
    },
    /// A report was retracted: issued here (originator), or learnt from its
    /// originator (hub, holder).
    Retracted {
        /// The report (every revision).
        report_id: ReportId,
        /// Its originator.
        originator: Party,
    },
    /// The hub passed a retraction on to a party that holds the report.
    RetractionForwarded {
        /// The report.
        report_id: ReportId,
        /// The holder told.
        recipient: Party,
    },
    /// A link came back (or the periodic check ran): this party re-sent
    /// what the peer may not know (end-to-end reconciliation).
    Reconciled {
        /// The peer.
        link: Party,
        /// How many messages were re-sent.
        resent: u32,
    },
}

/// A map keyed by party, inline: a report has at most three parties, and
/// a node tracks one per report for up to millions of reports (a B-tree
/// node would be a 400-byte allocation each).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PartyMap<V>([Option<V>; 3]);

impl<V> Default for PartyMap<V> {
    fn default() -> Self {
        PartyMap([None, None, None])
    }
}

impl<V> PartyMap<V> {
    fn slot(p: Party) -> usize {
        match p {
            Party::Kr => 0,
            Party::Us => 1,
            Party::Jp => 2,
        }
    }
    fn insert(&mut self, p: Party, v: V) {
        self.0[Self::slot(p)] = Some(v);
    }
    fn contains_key(&self, p: &Party) -> bool {
        self.0[Self::slot(*p)].is_some()
    }
    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().flatten()
    }
    /// Entries in `Party::ALL` order (the order of a `BTreeMap<Party, _>`).
    fn iter(&self) -> impl Iterator<Item = (&'static Party, &V)> {
        Party::ALL.iter().zip(&self.0).filter_map(|(p, v)| Some((p, v.as_ref()?)))
    }
    fn to_btree(&self) -> BTreeMap<Party, V>
    where
        V: Clone,
    {
        self.iter().map(|(p, v)| (*p, v.clone())).collect()
    }
}

#[derive(Clone, Debug)]
struct OwnReport {
    revisions: Vec<OwnRevision>,
    /// This party's retraction, and whether the hub confirmed it (boxed:
    /// rare, and every report has the slot).
    retraction: Option<Box<(Retraction, bool)>>,
}

#[derive(Clone, Debug)]
struct OwnRevision {
    /// The report; its body is in the body store.
    report: ReportRef,
    hub: HubState,
    recipients: PartyMap<RecipientState>,
    /// Verified receipts, by recipient: when it committed the delivery.
    receipts: PartyMap<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RequestState {
    Open,
    Decided(Decision),
    Expired,
    /// The originator retracted the report before deciding.
    Withdrawn,
}

#[derive(Clone, Debug)]
struct TrackedRequest {
    request: ReleaseRequest,
    state: RequestState,
    /// Originator side: the decision sent, to send again if the hub asks again.
    sent: Option<Box<ReleaseDecision>>,
}

/// Hub side: a delivery sent to a nation, kept (as the consent it went
/// under: the content stays in `held` or `own`, not twice) until its receipt
/// arrives — re-sent on reconciliation — and the receipt once it has.
#[derive(Clone, Debug)]
struct Forwarded {
    /// The originator's consent; `None` for the hub's own report (bilateral).
    consent: Option<Consent>,
    tearline_only: bool,
    receipt: Option<Receipt>,
}

/// The delivery of `r` to `recipient`: bilateral (the hub's own, in full)
/// without `consent`, trilateral under it. With `full` (the report in hand)
/// the content goes inline; without it the delivery is blank and needs its
/// body from the store (the flag returned). `None` if a tearline-only
/// release has no tearline.
fn delivery_of(
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

/// A report received (a delivery at its recipient, a national report at
/// the hub), as the inbox keeps it: what the entry needs besides its body,
/// compactly (one per report received, for up to millions), and the
/// manifest's hash (to recognise the same delivery again).
#[derive(Clone, Debug)]
struct Received {
    header: ReportHeader,
    tearline_only: bool,
    basis: Basis,
    request_id: Option<RequestId>,
    consent: Option<Box<Consent>>,
    received_at: Timestamp,
    retracted: Option<Box<RetractionNote>>,
    manifest_sha256: sign::Digest32,
}

impl Received {
    /// The inbox entry, its body blank (named for the store).
    fn entry(&self) -> InboxEntry {
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
        }
    }
}

/// The state machine of one party. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Node {
    party: Party,
    policy: Policy,
    identity: Identity,
    /// Standing grants: issued (originator), held (hub).
    grants: IndexMap<String, GrantView>,
    /// Revoked grant ids (every role).
    revoked: std::collections::HashSet<String>,
    /// Source keys of own reports (idempotent submits from feeds): the
    /// report, and the revision last submitted under the key with its
    /// content's digest.
    sources: HashMap<String, (ReportId, u32, sign::Digest32)>,
    /// Originator: this party's revocations (re-sent on reconciliation).
    own_revocations: IndexMap<String, Revocation>,
    /// Hub: revocations passed on to the recipient (re-sent on reconciliation).
    held_revocations: IndexMap<String, Revocation>,
    /// Hub: deliveries sent, by (report, revision, recipient), in order.
    forwarded: IndexMap<(ReportId, u32, Party), Forwarded>,
    /// Hub and holders: retractions received, by report.
    retractions: HashMap<ReportId, Retraction>,
    /// Recipient: the receipt signed for each delivery (sent again when the
    /// same delivery arrives again).
    receipts_sent: HashMap<(ReportId, u32), Receipt>,
    instance: u64,
    next_seq: u64,
    /// Reports this party originated, by id, in submission order.
    own: IndexMap<ReportId, OwnReport>,
    /// Originator side: requests for this party's decision, in arrival order.
    decisions: IndexMap<RequestId, TrackedRequest>,
    /// Hub side: national reports held, by (id, revision).
    held: HashMap<(ReportId, u32), ReportRef>,
    /// Hub side: release requests opened.
    hub_requests: HashMap<RequestId, TrackedRequest>,
    /// Reports received, by (id, revision), in arrival order.
    inbox: IndexMap<(ReportId, u32), Received>,
    /// Open requests' deadlines (either side).
    deadlines: BTreeSet<(Timestamp, RequestId)>,
    /// Live missile tracks: the latest update of each (own, held or received), by first appearance.
    tracks: IndexMap<TrackId, TrackEntry>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Bodies kept in memory (the default); `None` once they go to the
    /// shell's store ([`Node::keep_bodies_outside`]).
    bodies: Option<HashMap<BodyKey, Report>>,
    stashes: VecDeque<Stash>,
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
            grants: IndexMap::new(),
            revoked: std::collections::HashSet::new(),
            sources: HashMap::new(),
            own_revocations: IndexMap::new(),
            held_revocations: IndexMap::new(),
            forwarded: IndexMap::new(),
            retractions: HashMap::new(),
            receipts_sent: HashMap::new(),
            instance,
            next_seq: 0,
            own: IndexMap::new(),
            decisions: IndexMap::new(),
            held: HashMap::new(),
            hub_requests: HashMap::new(),
            inbox: IndexMap::new(),
            deadlines: BTreeSet::new(),
            tracks: IndexMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            bodies: Some(HashMap::new()),
            stashes: VecDeque::new(),
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

    // ------------------------------------------------------------------
    // Outputs
    // ------------------------------------------------------------------

    /// Next message to send. Drain until `None` after every input.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next body to write to the body store (only with
    /// [`Node::keep_bodies_outside`]). Drain after every input, before
    /// filling its transmits.
    #[must_use]
    pub fn poll_stash(&mut self) -> Option<Stash> {
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
        self.deadlines.first().map(|(t, _)| *t)
    }

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

    /// Submits a new report (or, with `draft.corrects`, a new revision).
    /// `id` is used for a new report and ignored for a correction; it must
    /// carry this party's prefix (`KR-…`).
    pub fn submit(&mut self, now: Timestamp, id: ReportId, draft: Draft) -> Result<Submitted, CommandError> {
        let Draft { category, classification, releasable_to, content, mut corrects, submitted_by, source_key } = draft;
        if let Some(key) = &source_key {
            if key.is_empty() || key.len() > 256 || key.chars().any(char::is_control) {
                return Err(CommandError::BadSourceKey);
            }
            if let Some((existing, revision, digest)) = self.sources.get(key).cloned() {
                if let Some(latest) = self.own.get(&existing).and_then(|o| o.revisions.last()) {
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
        check_text("title", &content.title, limits::TITLE, true)?;
        check_text("body", &content.body, limits::BODY, true)?;
        check_text("source", &content.source, limits::SOURCE, false)?;
        if let Some(t) = &content.tearline {
            check_text("tearline", t, limits::TEARLINE, true)?;
        }
        let mut rel = PartySet::EMPTY;
        for p in releasable_to.iter().filter(|p| *p != self.party) {
            rel.insert(p);
        }
        if rel.is_empty() {
            return Err(CommandError::NoRecipient);
        }
        // Ceiling of every link the report crosses.
        if self.party.is_hub() {
            for p in rel.iter() {
                self.check_link_ceiling(classification, p)?;
            }
        } else {
            if !rel.contains(Party::HUB) {
                return Err(CommandError::MustIncludeHub { party: self.party, hub: Party::HUB });
            }
            self.check_link_ceiling(classification, self.party)?;
        }
        let (id, revision) = match corrects {
            Some(orig) => {
                let own = self.own.get(&orig).ok_or_else(|| CommandError::UnknownReport(orig.clone()))?;
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
                if self.own.contains_key(&id) {
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
        let m = Manifest::of(&header, &content, &submitted_by);
        let manifest = self.identity.sign(m.to_bytes());
        let digest = source_key.as_ref().map(|_| content_digest(&content));
        let report = Report { header: header.clone(), content, manifest };
        let reference = ReportRef::of(&report, &m);

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
                        self.forwarded.insert((header.id.clone(), header.revision, p), f);
                        self.events.push_back(Event::Forwarded {
                            header: header.clone(),
                            recipient: p,
                            basis: Basis::Bilateral,
                            tearline_only: false,
                        });
                        recipients.insert(p, RecipientState::Delivered { tearline_only: false });
                    }
                    Err(why) => {
                        notes.push(SubmitNote { recipient: p, why });
                        recipients.insert(p, RecipientState::NotReleasable(why));
                    }
                }
            }
        } else {
            if let Some(third) = self.party.other_nation() {
                if rel.contains(third) {
                    match self.policy.check_trilateral(&header, third) {
                        Ok(()) => {
                            recipients.insert(third, RecipientState::Waiting);
                        }
                        Err(why) => {
                            notes.push(SubmitNote { recipient: third, why });
                            recipients.insert(third, RecipientState::NotReleasable(why));
                        }
                    }
                }
            }
            self.send(now, Party::HUB, Payload::Report(report.clone()));
        }
        self.stash(report);
        let revision_state = OwnRevision {
            report: reference,
            hub: if self.party.is_hub() { HubState::Own } else { HubState::Sent },
            recipients,
            receipts: PartyMap::default(),
        };
        self.own
            .entry(id)
            .or_insert_with(|| OwnReport { revisions: Vec::with_capacity(1), retraction: None })
            .revisions
            .push(revision_state);
        if let (Some(key), Some(digest)) = (source_key, digest) {
            self.sources.insert(key, (header.id.clone(), header.revision, digest));
        }
        self.events.push_back(Event::Submitted { header: header.clone() });
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
        let tracked = self.decisions.get(request_id).ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        let req = &tracked.request;
        match &tracked.state {
            RequestState::Open if req.expires_at > now => {}
            RequestState::Open | RequestState::Expired => return Err(CommandError::Expired(request_id.clone())),
            RequestState::Withdrawn => return Err(CommandError::Retracted(req.report_id.clone())),
            RequestState::Decided(d) => {
                return Err(CommandError::AlreadyDecided {
                    request: request_id.clone(),
                    decision: if d.is_approval() { "approved" } else { "denied" },
                })
            }
        }
        if verdict == Verdict::Deny && reason.trim().is_empty() {
            return Err(CommandError::Empty("reason"));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: "reason", len: reason.len(), max: limits::REASON });
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
        self.decide(now, approver.sign(doc.to_bytes()))
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
            return Err(CommandError::Empty("reason"));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: "reason", len: reason.len(), max: limits::REASON });
        }
        let doc = self.decision_doc(now, request_id, Verdict::Deny, reason, approver.name())?;
        self.decide(now, approver.sign(doc.to_bytes()))
    }

    /// Takes a release decision signed by one of this party's approvers
    /// (outside the node, e.g. by the operator's CLI) and sends it to the hub.
    pub fn decide(&mut self, now: Timestamp, signed: Signed) -> Result<(), CommandError> {
        if self.party.is_hub() {
            return Err(CommandError::HubCannotDecide);
        }
        let unverified = |why| CommandError::Unverified { what: "decision", why };
        sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?;
        let doc = DecisionDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer {
            return Err(unverified(sign::SigError::Mismatch("operator")));
        }
        let request_id = doc.request_id.clone();
        self.expire_due(now);
        let tracked =
            self.decisions.get(&request_id).ok_or_else(|| CommandError::UnknownRequest(request_id.clone()))?;
        match &tracked.state {
            RequestState::Open => {}
            RequestState::Expired => return Err(CommandError::Expired(request_id)),
            RequestState::Withdrawn => return Err(CommandError::Retracted(tracked.request.report_id.clone())),
            RequestState::Decided(d) => {
                return Err(CommandError::AlreadyDecided {
                    request: request_id,
                    decision: if d.is_approval() { "approved" } else { "denied" },
                })
            }
        }
        let req = tracked.request.clone();
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
        if self.policy.two_person_rule && doc.verdict != Verdict::Deny {
            let submitter = &*rev.report.submitted_by;
            if submitter == doc.operator || submitter == "-" {
                return Err(CommandError::SameOperator(submitter.to_owned()));
            }
        }
        if doc.verdict == Verdict::ApproveTearline && !rev.report.has_tearline {
            return Err(CommandError::NoTearline(req.report_id.clone()));
        }
        let decision = match doc.verdict {
            Verdict::ApproveFull => Decision::ApproveFull,
            Verdict::ApproveTearline => Decision::ApproveTearline,
            Verdict::Deny => {
                if doc.reason.trim().is_empty() {
                    return Err(CommandError::Empty("reason"));
                }
                Decision::Deny { reason: doc.reason.clone() }
            }
        };
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
        if let Some(t) = self.decisions.get_mut(&request_id) {
            t.state = RequestState::Decided(decision.clone());
            t.sent = Some(Box::new(msg.clone()));
        }
        self.deadlines.remove(&(req.expires_at, req.request_id.clone()));
        let state = match &decision {
            Decision::ApproveFull => RecipientState::Approved { tearline_only: false },
            Decision::ApproveTearline => RecipientState::Approved { tearline_only: true },
            Decision::Deny { .. } => RecipientState::Denied,
        };
        self.set_recipient_state(&req.report_id, req.revision, req.recipient, state);
        self.send(now, Party::HUB, Payload::ReleaseDecision(msg.clone()));
        self.events.push_back(Event::Decided { decision: msg });
        Ok(())
    }

    /// Issues a standing grant signed by one of this party's approvers and
    /// sends it to the hub.
    pub fn grant(&mut self, now: Timestamp, signed: Signed) -> Result<GrantDoc, CommandError> {
        let unverified = |why| CommandError::Unverified { what: "grant", why };
        if self.party.is_hub() {
            return Err(CommandError::BadGrant("the hub does not grant releases of national reports"));
        }
        sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?;
        let doc = GrantDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer {
            return Err(unverified(sign::SigError::Mismatch("operator")));
        }
        if doc.originator != self.party {
            return Err(CommandError::BadGrant("a grant's originator must be this party"));
        }
        if Some(doc.recipient) != self.party.other_nation() {
            return Err(CommandError::BadGrant("a grant's recipient must be the other nation"));
        }
        if doc.categories.is_empty() || doc.categories.iter().any(|c| !self.policy.in_scope(*c)) {
            return Err(CommandError::BadGrant("a grant covers only categories in the trilateral scope"));
        }
        if !doc.grant_id.starts_with(&format!("{}-", self.party.code())) {
            return Err(CommandError::BadGrant("a grant id must start with this party's code"));
        }
        if self.grants.contains_key(&doc.grant_id) {
            return Err(CommandError::BadGrant("this grant id is already used"));
        }
        let grant = Grant { doc: doc.clone(), signed };
        self.grants.insert(doc.grant_id.clone(), GrantView { grant: grant.clone(), revoked: false });
        self.send(now, Party::HUB, Payload::Grant(grant));
        Ok(doc)
    }

    /// Revokes one of this party's standing grants (signed by an approver);
    /// the hub stops using it and tells the recipient at once.
    pub fn revoke(&mut self, now: Timestamp, signed: Signed) -> Result<RevocationDoc, CommandError> {
        let unverified = |why| CommandError::Unverified { what: "revocation", why };
        sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?;
        let doc = RevocationDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer || doc.originator != self.party {
            return Err(unverified(sign::SigError::Mismatch("revocation")));
        }
        let g = self.grants.get_mut(&doc.grant_id).ok_or_else(|| CommandError::UnknownGrant(doc.grant_id.clone()))?;
        g.revoked = true;
        self.revoked.insert(doc.grant_id.clone());
        let r = Revocation { doc: doc.clone(), signed };
        self.own_revocations.insert(doc.grant_id.clone(), r.clone());
        self.send(now, Party::HUB, Payload::Revocation(r));
        Ok(doc)
    }

    /// Issues one update of a live missile-warning track (NK_MISSILE),
    /// signed with this node's key. A nation sends it to the hub, which
    /// passes it to the other nation only under this party's standing grant;
    /// the hub sends its own tracks bilaterally per releasable-to. The same
    /// update again is a no-op (`duplicate`); an older or conflicting
    /// sequence number is refused.
    pub fn track(&mut self, now: Timestamp, draft: TrackDraft) -> Result<TrackSubmitted, CommandError> {
        let TrackDraft {
            track_id,
            seq,
            classification,
            releasable_to,
            launch,
            launched_at,
            position,
            altitude_m,
            observed_at,
            impact,
        } = draft;
        if track_id.prefix_party() != Some(self.party) {
            return Err(CommandError::BadTrackIdPrefix { id: track_id, prefix: self.party.code() });
        }
        if seq == 0 {
            return Err(CommandError::BadTrack("sequence numbers start at 1"));
        }
        if !launch.is_valid() || !position.is_valid() || impact.is_some_and(|p| !p.is_valid()) {
            return Err(CommandError::BadTrack("latitude must be within ±90° and longitude within ±180°"));
        }
        if observed_at < launched_at {
            return Err(CommandError::BadTrack("observed before launch"));
        }
        let rel: PartySet = releasable_to.iter().filter(|p| *p != self.party).collect();
        if rel.is_empty() {
            return Err(CommandError::NoRecipient);
        }
        if self.party.is_hub() {
            for p in rel.iter() {
                self.check_link_ceiling(classification, p)?;
            }
        } else {
            if !rel.contains(Party::HUB) {
                return Err(CommandError::MustIncludeHub { party: self.party, hub: Party::HUB });
            }
            self.check_link_ceiling(classification, self.party)?;
        }
        if let Some(latest) = self.tracks.get(&track_id) {
            let l = &latest.update.doc;
            let same = l.seq == seq
                && l.classification == classification
                && l.releasable_to == rel
                && l.launch == launch
                && l.launched_at == launched_at
                && l.position == position
                && l.altitude_m == altitude_m
                && l.observed_at == observed_at
                && l.impact == impact;
            if same {
                return Ok(TrackSubmitted { update: latest.update.clone(), duplicate: true });
            }
            if seq <= l.seq {
                return Err(CommandError::StaleTrack { track: track_id, seq, latest: l.seq });
            }
        }
        let doc = TrackDoc {
            track_id: track_id.clone(),
            seq,
            originator: self.party,
            classification,
            releasable_to: rel,
            launch,
            launched_at,
            position,
            altitude_m,
            observed_at,
            impact,
            issued_at: now,
        };
        let signed = self.identity.sign(doc.to_bytes());
        let update = TrackUpdate { doc, signed, consent: None };
        self.tracks.insert(track_id.clone(), TrackEntry { update: update.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: update.clone() });
        if self.party.is_hub() {
            for p in rel.iter() {
                if self.policy.ceiling(p) >= classification {
                    self.send(now, p, Payload::Track(update.clone()));
                    self.events.push_back(Event::TrackForwarded {
                        track_id: track_id.clone(),
                        seq,
                        recipient: p,
                        grant_id: None,
                    });
                }
            }
        } else {
            self.send(now, Party::HUB, Payload::Track(update.clone()));
        }
        Ok(TrackSubmitted { update, duplicate: false })
    }

    /// Standing grants this node knows (issued, or held at the hub), oldest first.
    pub fn grants(&self) -> Vec<GrantView> {
        self.grants.values().cloned().collect()
    }

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
            return Err(CommandError::Empty("reason"));
        }
        if reason.len() > limits::REASON {
            return Err(CommandError::TooLong { field: "reason", len: reason.len(), max: limits::REASON });
        }
        let own = self.own.get(id).ok_or_else(|| CommandError::UnknownReport(id.clone()))?;
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
        if let Some(own) = self.own.get_mut(id) {
            own.retraction = Some(Box::new((r.clone(), is_hub)));
            for rev in &mut own.revisions {
                for state in rev.recipients.values_mut() {
                    if matches!(
                        state,
                        RecipientState::Waiting | RecipientState::Requested { .. } | RecipientState::Approved { .. }
                    ) {
                        *state = RecipientState::Withdrawn;
                    }
                }
            }
        }
        // Requests awaiting this party's decision are withdrawn.
        withdraw_open(self.decisions.values_mut(), id, &mut self.deadlines);
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

    /// Nations the hub sent any revision of `id` to, in first-sent order.
    fn holders(&self, id: &ReportId) -> Vec<Party> {
        let mut out = Vec::new();
        for (rid, _, to) in self.forwarded.keys() {
            if rid == id && !out.contains(to) {
                out.push(*to);
            }
        }
        out
    }

    /// End-to-end reconciliation with the peer at the other end of `link`,
    /// to be called whenever that link comes back (a reconnect, a stream
    /// that had to be created again, a restart) and periodically. The
    /// broker acknowledges what it stored, but a broker can lose what it
    /// acknowledged (a store lost or rolled back), so each party re-sends
    /// what the peer may not know and every receiver is idempotent:
    ///
    /// - a nation re-sends every own report revision that has no final
    ///   outcome yet (the hub answers a report it already holds with where
    ///   it stands: progress, the open request, the receipt), its
    ///   retractions the hub has not confirmed, its grants and revocations;
    /// - the hub re-sends every delivery to that nation that has no receipt
    ///   yet, and the revocations and retractions it passed on to it.
    pub fn handle_link_up(&mut self, now: Timestamp, link: Party) {
        self.expire_due(now);
        if link == self.party || (!self.party.is_hub() && link != Party::HUB) {
            return;
        }
        // Each with the body it needs from the store, if any.
        let mut out: Vec<(Payload, Option<BodyKey>)> = Vec::new();
        if self.party.is_hub() {
            for ((id, rev, to), f) in &self.forwarded {
                if *to != link || f.receipt.is_some() {
                    continue;
                }
                let key = (id.clone(), *rev);
                let report = match &f.consent {
                    Some(_) => self.held.get(&key),
                    None => self.own_revision(id, *rev).map(|r| &r.report),
                };
                let Some(report) = report else { continue };
                if let Some((d, _)) = delivery_of(report, None, *to, f.tearline_only, f.consent.clone()) {
                    out.push((Payload::Delivery(d), Some(report.key())));
                }
            }
            for r in self.held_revocations.values() {
                if Some(link) == r.doc.originator.other_nation() {
                    out.push((Payload::Revocation(r.clone()), None));
                }
            }
            let mut told = BTreeSet::new();
            for (id, _, to) in self.forwarded.keys() {
                if *to == link && told.insert(id.clone()) {
                    if let Some(r) = self.retractions.get(id) {
                        out.push((Payload::Retraction(r.clone()), None));
                    }
                }
            }
        } else {
            for own in self.own.values() {
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
            for r in self.own_revocations.values() {
                out.push((Payload::Revocation(r.clone()), None));
            }
        }
        let resent = u32::try_from(out.len()).unwrap_or(u32::MAX);
        for (p, body) in out {
            self.send_body(now, link, p, body);
        }
        if resent > 0 {
            self.events.push_back(Event::Reconciled { link, resent });
        }
    }

    /// Hub: answers an originator that sent a report the hub already holds
    /// (after a loss, or on reconciliation) with everything it would have
    /// been told: accepted, and for the third party where the release
    /// stands (the open request again, not releasable, forwarded with the
    /// receipt if one came, denied or expired), or that it is retracted.
    fn hub_answer(&mut self, now: Timestamp, link: Party, report: &Report) {
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
            if let Err(why) = self.policy.check_trilateral(h, third) {
                out.push(progress(Some(third), Stage::NotReleasable(why)));
            } else if let Some(f) = self.forwarded.get(&(h.id.clone(), h.revision, third)) {
                out.push(progress(Some(third), Stage::Forwarded { tearline_only: f.tearline_only }));
                if let Some(r) = &f.receipt {
                    out.push(Payload::Receipt(r.clone()));
                }
            } else if let Some(t) = self.hub_requests.get(&rid) {
                match &t.state {
                    RequestState::Open => out.push(Payload::ReleaseRequest(t.request.clone())),
                    RequestState::Decided(Decision::Deny { .. }) => out.push(progress(Some(third), Stage::Denied)),
                    RequestState::Expired => out.push(progress(Some(third), Stage::Expired)),
                    RequestState::Decided(_) | RequestState::Withdrawn => {}
                }
            }
        }
        for p in out {
            self.send(now, link, p);
        }
    }

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

    /// A timer input: expires every open request whose deadline is `<= now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.expire_due(now);
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
            match env.payload {
                Payload::Rejection(r) => {
                    self.on_rejection(link, r);
                    Ok(())
                }
                p if self.party.is_hub() => self.hub_input(now, link, p),
                p => self.nation_input(now, p),
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

    fn hub_input(&mut self, now: Timestamp, link: Party, payload: Payload) -> Result<(), RejectReason> {
        match payload {
            Payload::Report(r) => self.hub_on_report(now, link, r),
            Payload::ReleaseDecision(d) => self.hub_on_decision(now, link, d),
            Payload::Grant(g) => self.hub_on_grant(link, g),
            Payload::Revocation(r) => self.hub_on_revocation(now, link, r),
            Payload::Track(t) => self.hub_on_track(now, link, t),
            Payload::Receipt(r) => self.hub_on_receipt(now, link, r),
            Payload::Retraction(r) => self.hub_on_retraction(now, link, r),
            other => Err(RejectReason::UnexpectedMessage { kind: other.kind(), link }),
        }
    }

    fn nation_input(&mut self, now: Timestamp, payload: Payload) -> Result<(), RejectReason> {
        match payload {
            Payload::ReleaseRequest(r) => self.nation_on_request(now, r),
            Payload::Delivery(d) => self.nation_on_delivery(now, d),
            Payload::Progress(p) => self.nation_on_progress(p),
            Payload::Revocation(r) => self.nation_on_revocation(r),
            Payload::Track(t) => self.nation_on_track(now, t),
            Payload::Receipt(r) => self.nation_on_receipt(r),
            Payload::Retraction(r) => self.nation_on_retraction(r),
            other => Err(RejectReason::UnexpectedMessage { kind: other.kind(), link: Party::HUB }),
        }
    }

    fn hub_on_report(&mut self, now: Timestamp, link: Party, report: Report) -> Result<(), RejectReason> {
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
        let ceiling = self.policy.ceiling(link);
        if h.classification > ceiling {
            return Err(RejectReason::NotReleasable {
                report: h.id.clone(),
                recipient: Party::HUB,
                why: NotReleasable::AboveCeiling { classification: h.classification, ceiling },
            });
        }
        let m = self.verify_manifest(&report.manifest, h, Some(&report.content), None)?;
        let key = (h.id.clone(), h.revision);
        if let Some(existing) = self.held.get(&key) {
            // The content was just checked against the manifest: the same
            // manifest is the same report.
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
        let header = report.header.clone();
        let reference = ReportRef::of(&report, &m);
        self.held.insert(key.clone(), reference.clone());
        self.inbox.insert(
            key,
            Received {
                header: header.clone(),
                tearline_only: false,
                basis: Basis::Bilateral,
                request_id: None,
                consent: None,
                received_at: now,
                retracted: None,
                manifest_sha256: reference.manifest_sha256,
            },
        );
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
        if let Err(why) = self.policy.check_trilateral(&header, third) {
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
        // A signed, unrevoked standing grant is consent given in advance.
        let grant = self
            .grants
            .values()
            .filter(|g| !g.revoked && g.grant.doc.covers(&header, third, now))
            .find(|g| !g.grant.doc.tearline_only || report.content.tearline.is_some())
            .map(|g| g.grant.clone());
        if let Some(grant) = grant {
            self.forward(now, &reference, Some(&report), third, grant.doc.tearline_only, Consent::Grant(grant))?;
            return Ok(());
        }
        let request = ReleaseRequest {
            request_id: RequestId::for_release(&header.id, header.revision, third),
            report_id: header.id.clone(),
            revision: header.revision,
            recipient: third,
            requested_at: now,
            expires_at: now.saturating_add(self.policy.request_expiry),
        };
        self.deadlines.insert((request.expires_at, request.request_id.clone()));
        self.hub_requests.insert(
            request.request_id.clone(),
            TrackedRequest { request: request.clone(), state: RequestState::Open, sent: None },
        );
        self.send(now, link, Payload::ReleaseRequest(request.clone()));
        self.events.push_back(Event::ReleaseRequested { request });
        Ok(())
    }

    fn hub_on_decision(&mut self, now: Timestamp, link: Party, d: ReleaseDecision) -> Result<(), RejectReason> {
        let rid = d.request_id.clone();
        let unverified = |why| RejectReason::Unverified { what: "decision", why };
        sign::verify(&self.policy, link, KeyRole::Approver, &d.signed).map_err(unverified)?;
        // Act only on what the approver signed: every field must be the signed document's.
        let doc = DecisionDoc::parse(&d.signed.bytes).map_err(unverified)?;
        let signed_decision = ReleaseDecision {
            request_id: doc.request_id.clone(),
            report_id: doc.report_id.clone(),
            revision: doc.revision,
            recipient: doc.recipient,
            decision: match doc.verdict {
                Verdict::ApproveFull => Decision::ApproveFull,
                Verdict::ApproveTearline => Decision::ApproveTearline,
                Verdict::Deny => Decision::Deny { reason: doc.reason.clone() },
            },
            decided_at: doc.decided_at,
            operator: doc.operator.clone(),
            manifest_sha256: doc.manifest_sha256,
            signed: d.signed.clone(),
        };
        if signed_decision != d || doc.operator != d.signed.signer {
            return Err(unverified(sign::SigError::Mismatch("decision")));
        }
        let tracked = self.hub_requests.get(&rid).ok_or_else(|| RejectReason::UnknownRequest(rid.clone()))?;
        let req = &tracked.request;
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
            RequestState::Decided(prev) if *prev == d.decision => return Ok(()), // duplicate
            RequestState::Decided(_) => return Err(RejectReason::AlreadyDecided(rid)),
        }
        let req = req.clone();
        let key = (req.report_id.clone(), req.revision);
        let report = self
            .held
            .get(&key)
            .cloned()
            .ok_or_else(|| RejectReason::UnknownReport { report: key.0.clone(), revision: key.1 })?;
        if d.manifest_sha256 != report.manifest_sha256 {
            return Err(RejectReason::Unverified { what: "decision", why: sign::SigError::Mismatch("manifest hash") });
        }
        // The recipient would refuse it: do not forward it (nor count the request decided).
        if self.policy.two_person_rule && d.decision.is_approval() {
            let submitter = &*report.submitted_by;
            if submitter == d.operator || submitter == "-" {
                return Err(unverified(sign::SigError::Mismatch("two-person rule")));
            }
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
            self.forward(now, &report, None, recipient, tearline_only, Consent::Decision(d.clone()))?;
        }
        if let Some(t) = self.hub_requests.get_mut(&rid) {
            t.state = RequestState::Decided(d.decision.clone());
        }
        self.deadlines.remove(&(req.expires_at, rid));
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
        self.policy.check_trilateral(&report.header, recipient).map_err(|why| RejectReason::NotReleasable {
            report: id.clone(),
            recipient,
            why,
        })?;
        let (delivery, blank) = delivery_of(report, full, recipient, tearline_only, Some(consent.clone()))
            .ok_or_else(|| RejectReason::NoTearline(id.clone()))?;
        self.send_body(now, recipient, Payload::Delivery(delivery), blank.then(|| report.key()));
        let f = Forwarded { consent: Some(consent), tearline_only, receipt: None };
        self.forwarded.insert((id.clone(), report.header.revision, recipient), f);
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

    fn hub_on_grant(&mut self, link: Party, g: Grant) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "grant", why };
        sign::verify(&self.policy, link, KeyRole::Approver, &g.signed).map_err(bad)?;
        if GrantDoc::parse(&g.signed.bytes).map_err(bad)? != g.doc
            || g.doc.operator != g.signed.signer
            || g.doc.originator != link
            || Some(g.doc.recipient) != link.other_nation()
            // Grant ids are one namespace at the hub: a party may use only its own prefix.
            || !g.doc.grant_id.starts_with(&format!("{}-", link.code()))
        {
            return Err(bad(sign::SigError::Mismatch("grant")));
        }
        if let Some(existing) = self.grants.get(&g.doc.grant_id) {
            return if existing.grant == g { Ok(()) } else { Err(RejectReason::GrantNotValid(g.doc.grant_id.clone())) };
        }
        let revoked = self.revoked.contains(&g.doc.grant_id);
        self.grants.insert(g.doc.grant_id.clone(), GrantView { grant: g, revoked });
        Ok(())
    }

    fn hub_on_revocation(&mut self, now: Timestamp, link: Party, r: Revocation) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "revocation", why };
        sign::verify(&self.policy, link, KeyRole::Approver, &r.signed).map_err(bad)?;
        if RevocationDoc::parse(&r.signed.bytes).map_err(bad)? != r.doc
            || r.doc.operator != r.signed.signer
            || r.doc.originator != link
            // Only the originator's own grants (see `hub_on_grant`).
            || !r.doc.grant_id.starts_with(&format!("{}-", link.code()))
        {
            return Err(bad(sign::SigError::Mismatch("revocation")));
        }
        if !self.revoked.insert(r.doc.grant_id.clone()) {
            return Ok(()); // duplicate
        }
        if let Some(g) = self.grants.get_mut(&r.doc.grant_id) {
            g.revoked = true;
        }
        // The recipient learns at once, so it refuses anything still in flight under it.
        if let Some(third) = link.other_nation() {
            self.held_revocations.insert(r.doc.grant_id.clone(), r.clone());
            self.send(now, third, Payload::Revocation(r));
        }
        Ok(())
    }

    /// Checks a track update's id and the originator node's signature over
    /// exactly its fields.
    fn verify_track(&self, t: &TrackUpdate) -> Result<(), RejectReason> {
        let d = &t.doc;
        if d.track_id.prefix_party() != Some(d.originator) || d.seq == 0 {
            return Err(RejectReason::BadTrack { track: d.track_id.clone(), why: "id prefix or sequence number" });
        }
        let bad = |why| RejectReason::Unverified { what: "track", why };
        sign::verify(&self.policy, d.originator, KeyRole::Node, &t.signed).map_err(bad)?;
        if TrackDoc::parse(&t.signed.bytes).map_err(bad)? != *d {
            return Err(bad(sign::SigError::Mismatch("track")));
        }
        Ok(())
    }

    /// Whether `t` is older than (or the same as) the latest update held of its track.
    fn track_is_stale(&self, t: &TrackUpdate) -> bool {
        self.tracks.get(&t.doc.track_id).is_some_and(|e| e.update.doc.seq >= t.doc.seq)
    }

    fn hub_on_track(&mut self, now: Timestamp, link: Party, t: TrackUpdate) -> Result<(), RejectReason> {
        let d = &t.doc;
        if d.originator != link {
            return Err(RejectReason::BadTrack {
                track: d.track_id.clone(),
                why: "originator is not the sending nation",
            });
        }
        if t.consent.is_some() {
            return Err(RejectReason::UnexpectedMessage { kind: "track", link });
        }
        let refuse = |why| RejectReason::TrackNotReleasable { track: d.track_id.clone(), recipient: Party::HUB, why };
        if !d.releasable_to.contains(Party::HUB) {
            return Err(refuse(NotReleasable::NotInReleasableTo));
        }
        let ceiling = self.policy.ceiling(link);
        if d.classification > ceiling {
            return Err(refuse(NotReleasable::AboveCeiling { classification: d.classification, ceiling }));
        }
        self.verify_track(&t)?;
        if self.track_is_stale(&t) {
            return Ok(()); // stale or duplicate: the latest state stands
        }
        self.tracks.insert(d.track_id.clone(), TrackEntry { update: t.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: t.clone() });
        // Forward only under the originator's signed, unrevoked standing
        // grant; a track never opens a release request.
        let Some(third) = link.other_nation() else { return Ok(()) };
        if self.policy.check_track(link, d.classification, d.releasable_to, third).is_err() {
            return Ok(());
        }
        let grant = self
            .grants
            .values()
            .find(|g| {
                !g.revoked && !self.revoked.contains(&g.grant.doc.grant_id) && g.grant.doc.covers_track(d, third, now)
            })
            .map(|g| g.grant.clone());
        if let Some(grant) = grant {
            let grant_id = grant.doc.grant_id.clone();
            let (track_id, seq) = (d.track_id.clone(), d.seq);
            self.send(now, third, Payload::Track(TrackUpdate { consent: Some(grant), ..t }));
            self.events.push_back(Event::TrackForwarded { track_id, seq, recipient: third, grant_id: Some(grant_id) });
        }
        Ok(())
    }

    fn nation_on_track(&mut self, now: Timestamp, t: TrackUpdate) -> Result<(), RejectReason> {
        let d = &t.doc;
        if d.originator == self.party {
            return Err(RejectReason::BadTrack { track: d.track_id.clone(), why: "this party's own track" });
        }
        let refuse = |why| RejectReason::TrackNotReleasable { track: d.track_id.clone(), recipient: self.party, why };
        if d.originator.is_hub() {
            // The hub's own track, bilaterally.
            if t.consent.is_some() {
                return Err(RejectReason::UnexpectedMessage { kind: "track", link: Party::HUB });
            }
            let ceiling = self.policy.ceiling(self.party);
            if d.classification > ceiling {
                return Err(refuse(NotReleasable::AboveCeiling { classification: d.classification, ceiling }));
            }
            if !d.releasable_to.contains(self.party) {
                return Err(refuse(NotReleasable::NotInReleasableTo));
            }
        } else {
            self.policy.check_track(d.originator, d.classification, d.releasable_to, self.party).map_err(refuse)?;
        }
        self.verify_track(&t)?;
        if !d.originator.is_hub() {
            let Some(g) = &t.consent else { return Err(RejectReason::TrackNoConsent(d.track_id.clone())) };
            let bad = |why| RejectReason::Unverified { what: "grant", why };
            sign::verify(&self.policy, d.originator, KeyRole::Approver, &g.signed).map_err(bad)?;
            if GrantDoc::parse(&g.signed.bytes).map_err(bad)? != g.doc || g.doc.operator != g.signed.signer {
                return Err(bad(sign::SigError::Mismatch("grant")));
            }
            if self.revoked.contains(&g.doc.grant_id) || !g.doc.covers_track(d, self.party, now) {
                return Err(RejectReason::GrantNotValid(g.doc.grant_id.clone()));
            }
        }
        if self.track_is_stale(&t) {
            return Ok(()); // stale or duplicate: the latest state stands
        }
        self.tracks.insert(d.track_id.clone(), TrackEntry { update: t.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: t });
        Ok(())
    }

    fn nation_on_revocation(&mut self, r: Revocation) -> Result<(), RejectReason> {
        let originator = r.doc.originator;
        if Some(originator) != self.party.other_nation() {
            return Err(RejectReason::UnexpectedMessage { kind: "revocation", link: Party::HUB });
        }
        let bad = |why| RejectReason::Unverified { what: "revocation", why };
        sign::verify(&self.policy, originator, KeyRole::Approver, &r.signed).map_err(bad)?;
        if RevocationDoc::parse(&r.signed.bytes).map_err(bad)? != r.doc || r.doc.operator != r.signed.signer {
            return Err(bad(sign::SigError::Mismatch("revocation")));
        }
        self.revoked.insert(r.doc.grant_id);
        Ok(())
    }

    /// Verifies a signed manifest against the originator's node keys and
    /// against what it came with.
    fn verify_manifest(
        &self,
        manifest: &Signed,
        header: &ReportHeader,
        content: Option<&Content>,
        tearline: Option<&Sensitive>,
    ) -> Result<Manifest, RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "manifest", why };
        sign::verify(&self.policy, header.originator, KeyRole::Node, manifest).map_err(bad)?;
        let m = Manifest::parse(&manifest.bytes).map_err(bad)?;
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
                sign::verify(&self.policy, h.originator, KeyRole::Approver, &dec.signed).map_err(bad)?;
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
                    let submitter = Manifest::parse(&d.manifest.bytes).map(|m| m.submitted_by).unwrap_or_default();
                    if submitter == doc.operator || submitter == "-" {
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

    fn nation_on_request(&mut self, now: Timestamp, r: ReleaseRequest) -> Result<(), RejectReason> {
        let rid = r.request_id.clone();
        if let Some(existing) = self.decisions.get(&rid) {
            if existing.request != r {
                return Err(RejectReason::RequestMismatch(rid));
            }
            // The hub asks again (it never got the decision, or is
            // reconciling): send the same signed decision again.
            if let Some(d) = existing.sent.clone() {
                self.send(now, Party::HUB, Payload::ReleaseDecision(*d));
            }
            return Ok(());
        }
        if self.own.get(&r.report_id).is_some_and(|o| o.retraction.is_some()) {
            return Err(RejectReason::Retracted(r.report_id.clone()));
        }
        if rid != RequestId::for_release(&r.report_id, r.revision, r.recipient) {
            return Err(RejectReason::RequestMismatch(rid));
        }
        let rev = self
            .own_revision(&r.report_id, r.revision)
            .ok_or_else(|| RejectReason::UnknownReport { report: r.report_id.clone(), revision: r.revision })?;
        let header = rev.report.header.clone();
        self.policy.check_trilateral(&header, r.recipient).map_err(|why| RejectReason::NotReleasable {
            report: r.report_id.clone(),
            recipient: r.recipient,
            why,
        })?;
        let expired = r.expires_at <= now;
        let state = if expired { RequestState::Expired } else { RequestState::Open };
        self.decisions.insert(rid.clone(), TrackedRequest { request: r.clone(), state, sent: None });
        if expired {
            self.set_recipient_state(&r.report_id, r.revision, r.recipient, RecipientState::Expired);
            self.events.push_back(Event::Expired { request: r });
        } else {
            self.deadlines.insert((r.expires_at, rid.clone()));
            self.set_recipient_state(
                &r.report_id,
                r.revision,
                r.recipient,
                RecipientState::Requested { request_id: rid, expires_at: r.expires_at },
            );
            self.events.push_back(Event::ReleaseRequested { request: r });
        }
        Ok(())
    }

    fn nation_on_delivery(&mut self, now: Timestamp, d: Delivery) -> Result<(), RejectReason> {
        let h = &d.header;
        if h.originator == self.party {
            return Err(RejectReason::OwnReport(h.id.clone()));
        }
        if h.id.prefix_party() != Some(h.originator) || h.revision == 0 {
            return Err(RejectReason::BadReportId(h.id.clone()));
        }
        // An exact duplicate of what was accepted is absorbed, even if its
        // grant has since been revoked or has lapsed.
        if self.inbox.get(&(h.id.clone(), h.revision)).is_some_and(|e| same_delivery(e, &d)) {
            // The hub did not get the receipt (or is reconciling): the same one again.
            if let Some(r) = self.receipts_sent.get(&(h.id.clone(), h.revision)).cloned() {
                self.send(now, Party::HUB, Payload::Receipt(r));
            }
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
                self.policy.check_trilateral(h, self.party).map_err(not_releasable)?;
                let expected = RequestId::for_release(&h.id, h.revision, self.party);
                if d.request_id.as_ref() != Some(&expected) {
                    return Err(RejectReason::RequestMismatch(d.request_id.clone().unwrap_or(expected)));
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
        if let Some(existing) = self.inbox.get(&key) {
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
        self.events.push_back(Event::Received { header: d.header.clone(), basis: d.basis, tearline_only, title });
        // The shell logged this input before applying it, so it is committed:
        // sign a receipt (ids and the manifest's hash only) for the originator.
        let doc = sign::ReceiptDoc {
            report_id: d.header.id.clone(),
            revision: d.header.revision,
            recipient: self.party,
            manifest_sha256: sign::sha256(&d.manifest.bytes),
            received_at: now,
        };
        let signed = self.identity.sign(doc.to_bytes());
        let receipt = Receipt { doc, signed, audit_head: None };
        self.receipts_sent.insert(key.clone(), receipt.clone());
        self.send(now, Party::HUB, Payload::Receipt(receipt));
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
            consent: d.consent.map(Box::new),
            received_at: now,
            retracted: None,
            manifest_sha256: sign::sha256(&d.manifest.bytes),
        };
        self.inbox.insert(key, received);
        self.stash(body);
        Ok(())
    }

    /// Verifies a receipt as signed by its recipient's node.
    /// Verifies a receipt as signed by its recipient's node, and the audit
    /// head that came with it (signed by the same party's node), if any.
    fn verify_receipt(&self, r: &Receipt) -> Result<Option<AuditHeadDoc>, RejectReason> {
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
    fn record_receipt(&mut self, doc: &sign::ReceiptDoc) -> Result<bool, RejectReason> {
        let unknown = || RejectReason::UnknownReport { report: doc.report_id.clone(), revision: doc.revision };
        let rev = self.own_revision_mut(&doc.report_id, doc.revision).ok_or_else(unknown)?;
        if rev.report.manifest_sha256 != doc.manifest_sha256 {
            return Err(RejectReason::Unverified { what: "receipt", why: sign::SigError::Mismatch("manifest hash") });
        }
        if rev.receipts.contains_key(&doc.recipient) {
            return Ok(false);
        }
        rev.receipts.insert(doc.recipient, doc.received_at);
        Ok(true)
    }

    fn hub_on_receipt(&mut self, now: Timestamp, link: Party, r: Receipt) -> Result<(), RejectReason> {
        if r.doc.recipient != link {
            return Err(RejectReason::Unverified { what: "receipt", why: sign::SigError::Mismatch("recipient") });
        }
        let audit_head = self.verify_receipt(&r)?;
        let fkey = (r.doc.report_id.clone(), r.doc.revision, r.doc.recipient);
        match r.doc.report_id.prefix_party() {
            Some(Party::Us) => {
                if self.record_receipt(&r.doc)? {
                    if let Some(f) = self.forwarded.get_mut(&fkey) {
                        f.receipt = Some(r.clone());
                    }
                    self.events.push_back(Event::ReceiptReceived { receipt: r.doc, audit_head });
                }
            }
            Some(originator) if Some(originator) == link.other_nation() => {
                let key = (r.doc.report_id.clone(), r.doc.revision);
                let held = self
                    .held
                    .get(&key)
                    .ok_or_else(|| RejectReason::UnknownReport { report: key.0.clone(), revision: key.1 })?;
                if held.manifest_sha256 != r.doc.manifest_sha256 {
                    return Err(RejectReason::Unverified {
                        what: "receipt",
                        why: sign::SigError::Mismatch("manifest hash"),
                    });
                }
                // Pass it on unchanged, once: only the recipient's signature
                // counts. Kept, to answer the originator's reconciliation.
                let f = self
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

    fn nation_on_receipt(&mut self, r: Receipt) -> Result<(), RejectReason> {
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
        for ((id, _), e) in self.inbox.iter_mut() {
            if *id == r.doc.report_id && e.retracted.is_none() {
                e.retracted = Some(Box::new(RetractionNote {
                    retracted_at: r.doc.retracted_at,
                    reason: Sensitive::new(&r.doc.reason),
                }));
                any = true;
            }
        }
        any
    }

    fn hub_on_retraction(&mut self, now: Timestamp, link: Party, r: Retraction) -> Result<(), RejectReason> {
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
        withdraw_open(self.hub_requests.values_mut(), &id, &mut self.deadlines);
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

    fn nation_on_retraction(&mut self, r: Retraction) -> Result<(), RejectReason> {
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
        self.events.push_back(Event::Retracted { report_id: id, originator });
        Ok(())
    }

    fn nation_on_progress(&mut self, p: Progress) -> Result<(), RejectReason> {
        let unknown = || RejectReason::UnknownReport { report: p.report_id.clone(), revision: p.revision };
        if p.stage == Stage::Retracted {
            // The hub holds this party's retraction (every revision).
            let Some((_, confirmed)) = self.own.get_mut(&p.report_id).and_then(|o| o.retraction.as_deref_mut()) else {
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
                rev.hub = HubState::Accepted;
            }
            (stage, Some(r)) if rev.recipients.contains_key(&r) => {
                rev.hub = HubState::Accepted;
                let next = match stage {
                    Stage::NotReleasable(why) => RecipientState::NotReleasable(*why),
                    Stage::Forwarded { tearline_only } => RecipientState::Delivered { tearline_only: *tearline_only },
                    Stage::Denied => RecipientState::Denied,
                    Stage::Expired => RecipientState::Expired,
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

    fn on_rejection(&mut self, link: Party, r: Rejection) {
        // If the hub refused one of our reports, record it on the report.
        if let Some(id) = &r.report_id {
            if let Some(own) = self.own.get_mut(id) {
                for rev in own.revisions.iter_mut().filter(|rev| rev.hub == HubState::Sent) {
                    rev.hub = HubState::Rejected { code: r.code.clone(), detail: r.detail.clone() };
                }
            }
        }
        self.events.push_back(Event::RejectionReceived { link, rejection: r });
    }

    // ------------------------------------------------------------------
    // Queries (getters on &self)
    // ------------------------------------------------------------------

    /// Release requests still awaiting this party's decision, oldest first.
    pub fn pending(
        &self,
        now: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PendingView>, CommandError> {
        let open = self
            .decisions
            .iter()
            .filter(|(_, t)| t.state == RequestState::Open && t.request.expires_at > now)
            .filter_map(|(id, t)| {
                let rev = self.own_revision(&t.request.report_id, t.request.revision)?;
                Some((
                    id.as_str().to_owned(),
                    PendingView {
                        request: t.request.clone(),
                        header: rev.report.header.clone(),
                        title: Sensitive::default(),
                        has_tearline: rev.report.has_tearline,
                        manifest: blank_signed(),
                        body: Some(rev.report.key()),
                    },
                ))
            });
        let mut page = paginate(open, after, limit)?;
        self.fill_in_memory(&mut page.items, |v| v.body.as_ref(), PendingView::fill);
        Ok(page)
    }

    /// Reports this party received, in arrival order.
    pub fn inbox(&self, after: Option<&str>, limit: usize) -> Result<Page<InboxEntry>, CommandError> {
        let items = self.inbox.iter().map(|((id, rev), e)| (inbox_cursor(id, *rev), e.entry()));
        let mut page = paginate(items, after, limit)?;
        self.fill_in_memory(&mut page.items, |e| e.body.as_ref(), InboxEntry::fill);
        Ok(page)
    }

    /// With bodies kept in memory, fills query results here (the shell
    /// fills them from its store otherwise).
    fn fill_in_memory<T>(
        &self,
        items: &mut [T],
        key: impl Fn(&T) -> Option<&BodyKey>,
        fill: impl Fn(&mut T, &Report) -> Result<(), crate::body::FillError>,
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
            .own
            .values()
            .flat_map(|o| o.revisions.iter().map(move |r| (r, o.retraction.as_deref())))
            .map(|(r, t)| (inbox_cursor(&r.report.header.id, r.report.header.revision), revision_status(r, t)));
        paginate(items, after, limit)
    }

    /// The latest update of every track this party knows (own, held at the
    /// hub, or received), in order of first appearance; the cursor is the track id.
    pub fn tracks(&self, after: Option<&str>, limit: usize) -> Result<Page<TrackEntry>, CommandError> {
        paginate(self.tracks.iter().map(|(id, e)| (id.to_string(), e.clone())), after, limit)
    }

    /// Status of every revision of one own report.
    pub fn report_status(&self, id: &ReportId) -> Result<Vec<RevisionStatus>, CommandError> {
        let own = self.own.get(id).ok_or_else(|| CommandError::UnknownReport(id.clone()))?;
        Ok(own.revisions.iter().map(|r| revision_status(r, own.retraction.as_deref())).collect())
    }

    // ------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------

    fn check_link_ceiling(&self, classification: Classification, nation: Party) -> Result<(), CommandError> {
        let ceiling = self.policy.ceiling(nation);
        if classification > ceiling {
            return Err(CommandError::AboveCeiling { classification, ceiling, hub: Party::HUB, nation });
        }
        Ok(())
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
        let envelope = Envelope { version: PROTOCOL_VERSION, message_id, sender: self.party, sent_at: now, payload };
        let mut t = Transmit { to, envelope, body };
        if let Some(b) = t.body.as_ref().and_then(|k| self.bodies.as_ref()?.get(k)) {
            // In memory, a body is there and matches: the core stashed it.
            let _ = t.fill(b);
        }
        self.transmits.push_back(t);
    }

    /// Keeps a verified body: in memory, or out to the shell's store.
    fn stash(&mut self, body: Report) {
        let key = BodyKey::of(&body.header);
        match &mut self.bodies {
            Some(m) => {
                m.insert(key, body);
            }
            None => self.stashes.push_back(Stash { key, body }),
        }
    }

    fn own_revision(&self, id: &ReportId, revision: u32) -> Option<&OwnRevision> {
        let idx = usize::try_from(revision).ok()?.checked_sub(1)?;
        self.own.get(id)?.revisions.get(idx)
    }

    fn own_revision_mut(&mut self, id: &ReportId, revision: u32) -> Option<&mut OwnRevision> {
        let idx = usize::try_from(revision).ok()?.checked_sub(1)?;
        self.own.get_mut(id)?.revisions.get_mut(idx)
    }

    fn set_recipient_state(&mut self, id: &ReportId, revision: u32, recipient: Party, state: RecipientState) {
        if let Some(rev) = self.own_revision_mut(id, revision) {
            rev.recipients.insert(recipient, state);
        }
    }

    fn mark_expired(&mut self, rid: &RequestId) {
        if let Some(t) = self.decisions.get_mut(rid) {
            if t.state == RequestState::Open {
                t.state = RequestState::Expired;
                self.deadlines.remove(&(t.request.expires_at, rid.clone()));
            }
        }
    }

    fn expire_due(&mut self, now: Timestamp) {
        while let Some((at, rid)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, rid.clone()));
            if self.party.is_hub() {
                let Some(t) = self.hub_requests.get_mut(&rid) else { continue };
                if t.state != RequestState::Open {
                    continue;
                }
                t.state = RequestState::Expired;
                let req = t.request.clone();
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
                let Some(t) = self.decisions.get_mut(&rid) else { continue };
                if t.state != RequestState::Open {
                    continue;
                }
                t.state = RequestState::Expired;
                let req = t.request.clone();
                self.set_recipient_state(&req.report_id, req.revision, req.recipient, RecipientState::Expired);
                self.events.push_back(Event::Expired { request: req });
            }
        }
    }
}

/// Withdraws every open request for report `id` (it was retracted) and
/// drops its deadline: it can no longer be decided, nor expire.
fn withdraw_open<'a>(
    requests: impl Iterator<Item = &'a mut TrackedRequest>,
    id: &ReportId,
    deadlines: &mut BTreeSet<(Timestamp, RequestId)>,
) {
    for t in requests.filter(|t| t.request.report_id == *id && t.state == RequestState::Open) {
        t.state = RequestState::Withdrawn;
        deadlines.remove(&(t.request.expires_at, t.request.request_id.clone()));
    }
}

/// Originator: whether a revision still needs the hub (no final outcome
/// that the hub has confirmed): re-sent on reconciliation.
fn needs_hub(r: &OwnRevision) -> bool {
    match r.hub {
        HubState::Sent => true,
        HubState::Rejected { .. } | HubState::Own => false,
        HubState::Accepted => r.recipients.iter().any(|(p, s)| match s {
            RecipientState::Waiting | RecipientState::Approved { .. } => true,
            RecipientState::Delivered { .. } => !r.receipts.contains_key(p),
            _ => false,
        }),
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

fn revision_status(r: &OwnRevision, retraction: Option<&(Retraction, bool)>) -> RevisionStatus {
    RevisionStatus {
        header: r.report.header.clone(),
        hub: r.hub.clone(),
        recipients: r.recipients.to_btree(),
        receipts: r.receipts.to_btree(),
        retracted_at: retraction.map(|(r, _)| r.doc.retracted_at),
        retraction_confirmed: retraction.is_some_and(|(_, c)| *c),
    }
}

/// Cursor of an inbox or status item: `ID.rREVISION`.
pub fn inbox_cursor(id: &ReportId, revision: u32) -> String {
    format!("{id}.r{revision}")
}

fn check_text(field: &'static str, s: &Sensitive, max: usize, required: bool) -> Result<(), CommandError> {
    if required && s.expose().trim().is_empty() {
        return Err(CommandError::Empty(field));
    }
    if s.len() > max {
        return Err(CommandError::TooLong { field, len: s.len(), max });
    }
    Ok(())
}

fn paginate<T>(
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
        self.body = None;
        Ok(())
    }
}
