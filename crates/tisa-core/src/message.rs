//! The messages parties exchange, as domain types. The wire format
//! (`proto/tisa/v1/*.proto`) mirrors these; the transport crate converts.

use crate::ids::{MessageId, ReportId, RequestId};
use crate::policy::{AgreementTag, NotReleasable};
use crate::report::{BodyKey, Content, ReportHeader};
use crate::sign::{
    DecisionDoc, GrantDoc, ReceiptDoc, RetractionDoc, RevocationDoc, Signed, StandingDoc, TrackDoc, Verdict,
};
use crate::types::{Party, Sensitive, Timestamp};

/// Protocol major version carried in every envelope and batch: a node
/// refuses a peer message of another major (`VERSION_MISMATCH`). 2 since
/// #14 (signed operator actions, grant statements): formats changed, and
/// there were no deployments to migrate. 3 since #17: every envelope
/// carries the sender's agreement version and hash.
pub const PROTOCOL_VERSION: u32 = 3;
/// Protocol minor version: additions a node of the same major can ignore.
pub const PROTOCOL_VERSION_MINOR: u32 = 0;

/// An intelligence report: header plus content, and the originator node's
/// signature over its canonical manifest ([`crate::sign::Manifest`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Routing and policy metadata.
    pub header: ReportHeader,
    /// Title, text, tearline and source: never logged.
    pub content: Content,
    /// The signed manifest (covers the header and the content's hashes).
    pub manifest: Signed,
}

/// The hub asks a report's originator to release one revision to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// Deterministic id, see [`RequestId::for_release`].
    pub request_id: RequestId,
    /// The report whose revision `revision` would be released.
    pub report_id: ReportId,
    /// Which revision: a correction needs a request of its own.
    pub revision: u32,
    /// The third party it would go to.
    pub recipient: Party,
    /// When the hub opened the request.
    pub requested_at: Timestamp,
    /// After this instant the request counts as denied.
    pub expires_at: Timestamp,
}

impl ReleaseRequest {
    /// A new request, opened `now`, for revision `h.revision` of report
    /// `h.id` to `recipient`, open for `expiry`.
    pub fn open(
        h: &crate::report::ReportHeader,
        recipient: Party,
        now: Timestamp,
        expiry: std::time::Duration,
    ) -> Self {
        ReleaseRequest {
            request_id: RequestId::for_release(&h.id, h.revision, recipient),
            report_id: h.id.clone(),
            revision: h.revision,
            recipient,
            requested_at: now,
            expires_at: now.saturating_add(expiry),
        }
    }
}

/// What the originator decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Release the whole report (title, body, tearline, source).
    ApproveFull,
    /// Release only the tearline text, never the body.
    ApproveTearline,
    /// Refuse, for good.
    Deny {
        /// The originator's reason (operational text, not report content).
        reason: String,
    },
}

impl Decision {
    /// `approved`, `approved (tearline only)` or `denied`.
    pub fn describe(&self) -> &'static str {
        match self {
            Decision::ApproveFull => "approved",
            Decision::ApproveTearline => "approved (tearline only)",
            Decision::Deny { .. } => "denied",
        }
    }
    /// Whether this is an approval.
    pub fn is_approval(&self) -> bool {
        !matches!(self, Decision::Deny { .. })
    }

    /// The decision a signed decision document records: its verdict and,
    /// for a denial, its reason.
    pub fn of_doc(doc: &DecisionDoc) -> Decision {
        Decision::from_verdict(doc.verdict, doc.reason.clone())
    }

    /// The decision a verdict and reason state (the reason counts only for a
    /// denial). The one conversion from a document's verdict to a decision.
    pub fn from_verdict(verdict: Verdict, reason: String) -> Decision {
        match verdict {
            Verdict::ApproveFull => Decision::ApproveFull,
            Verdict::ApproveTearline => Decision::ApproveTearline,
            Verdict::Deny => Decision::Deny { reason },
        }
    }

    /// The verdict and reason an approver signs for this decision (the
    /// reason is empty for an approval).
    pub fn verdict(&self) -> (Verdict, &str) {
        match self {
            Decision::ApproveFull => (Verdict::ApproveFull, ""),
            Decision::ApproveTearline => (Verdict::ApproveTearline, ""),
            Decision::Deny { reason } => (Verdict::Deny, reason),
        }
    }
}

/// The originator's answer to a release request. On the wire only `signed`
/// travels; the other fields are parsed from its canonical document
/// ([`crate::sign::DecisionDoc`]), so they cannot disagree with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseDecision {
    /// The request decided.
    pub request_id: RequestId,
    /// Must match the request's report.
    pub report_id: ReportId,
    /// Must match the request's revision.
    pub revision: u32,
    /// Must match the request's recipient.
    pub recipient: Party,
    /// Approve in full, tearline only, or deny (with a reason).
    pub decision: Decision,
    /// When the originator decided.
    pub decided_at: Timestamp,
    /// The approver who decided.
    pub operator: String,
    /// SHA-256 of the report's manifest bytes.
    pub manifest_sha256: [u8; 32],
    /// The approver's signature over the decision document.
    pub signed: Signed,
}

/// A standing pre-approval, signed by one of the originator's approvers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The document, as parsed from `signed` (receivers check they agree).
    pub doc: GrantDoc,
    /// The canonical document with the approver's signature: what a
    /// receiver verifies against the agreement's keys.
    pub signed: Signed,
    /// Under the two-person rule, a second approver's `tisa.v1.cosign` over
    /// exactly this grant document (signed by key id): without it the
    /// originator does not issue the grant, and the hub and the recipient
    /// refuse it.
    pub cosign: Option<Signed>,
}

/// Withdrawal of a standing grant, signed by one of the originator's approvers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The document, as parsed from `signed` (receivers check they agree).
    pub doc: RevocationDoc,
    /// The canonical document with the approver's signature: what a
    /// receiver verifies against the agreement's keys.
    pub signed: Signed,
}

/// A grant-standing statement, signed by the originator's node (see
/// [`StandingDoc`]): originator → hub, hub → recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The document, as parsed from `signed` (receivers check they agree).
    pub doc: StandingDoc,
    /// The originator node's signature over it.
    pub signed: Signed,
}

/// Why the hub may release a national report to a third party: the
/// originator's consent, verifiable by the recipient.
// The decision boxed (264 bytes inline made every consent that size, a
// shared grant's too, in every delivery kept); the grant shared (one per
// grant however many reports it covers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consent {
    /// A per-item approval of exactly this report, revision and recipient.
    Decision(Box<ReleaseDecision>),
    /// A standing pre-approval covering it: shared, not copied, by every
    /// report a node keeps under it ([`Node`](crate::Node) interns it).
    Grant(std::sync::Arc<Grant>),
}

/// What a recipient is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    /// Everything (a full approval, or the hub's own bilateral report).
    Full(Content),
    /// Only the tearline text: no title, body or source.
    Tearline(Sensitive),
}

/// On what basis a report reached its recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// A national report the originator approved for this recipient.
    Trilateral,
    /// The sender's own report over a bilateral link.
    Bilateral,
}

/// A report delivered to a recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The report's header, unchanged from the originator's.
    pub header: ReportHeader,
    /// Everything, or the tearline alone (as the consent says).
    pub released: Released,
    /// Why it may be here.
    pub basis: Basis,
    /// For a trilateral release, the request it answers (derived from the
    /// report, revision and recipient).
    pub request_id: Option<RequestId>,
    /// The originator node's signed manifest.
    pub manifest: Signed,
    /// For a trilateral release: the originator's signed consent.
    pub consent: Option<Consent>,
}

/// Where a report stands, as the hub tells its originator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The hub holds the report.
    Accepted,
    /// The hub will not pass it to this recipient (and asks no one).
    NotReleasable(NotReleasable),
    /// The hub passed it to the recipient.
    Forwarded {
        /// Whether only the tearline went.
        tearline_only: bool,
    },
    /// The hub recorded the originator's denial.
    Denied,
    /// The request expired at the hub: counts as denied.
    Expired,
    /// The hub holds the originator's retraction of the report (every
    /// revision; `Progress::revision` is 0) and has passed it on.
    Retracted,
}

/// Hub → originator: progress of one of the originator's reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The report concerned.
    pub report_id: ReportId,
    /// Its revision (0 with [`Stage::Retracted`]: every revision).
    pub revision: u32,
    /// The recipient concerned (`None` for [`Stage::Accepted`]).
    pub recipient: Option<Party>,
    /// Where the report stands at the hub (for `recipient`, if named).
    pub stage: Stage,
}

/// A refused message, sent back to its sender. Carries codes and ids, never content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The refused envelope's message id.
    pub refers_to: MessageId,
    /// Stable code ([`crate::RejectReason::code`]).
    pub code: String,
    /// Human-readable reason, built from ids and enum values only.
    pub detail: String,
    /// The report concerned, if any.
    pub report_id: Option<ReportId>,
    /// The request concerned, if any.
    pub request_id: Option<RequestId>,
}

/// One update of a live missile-warning track (always NK_MISSILE): the
/// originator node's signed document, plus, for a trilateral forward, the
/// originator's standing grant that allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackUpdate {
    /// The signed fields (parsed from `signed`).
    pub doc: TrackDoc,
    /// The originator node's signature over the canonical `tisa.v1.track` document.
    pub signed: Signed,
    /// Hub → third party only: the originator's standing grant covering it.
    pub consent: Option<Grant>,
}

/// A signed retraction (see [`RetractionDoc`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retraction {
    /// The document, as parsed from `signed` (receivers check they agree).
    pub doc: RetractionDoc,
    /// The originator node's signature over it.
    pub signed: Signed,
}

/// Every message kind.
// A message is built, sent or applied, and dropped: its inline size is paid
// while it is in flight, not per report kept.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Nation → hub: a new report or revision.
    Report(Report),
    /// Hub → originator: may I release this?
    ReleaseRequest(ReleaseRequest),
    /// Originator → hub: the answer.
    ReleaseDecision(ReleaseDecision),
    /// Hub → recipient: a released report.
    Delivery(Delivery),
    /// Hub → originator: progress of a report.
    Progress(Progress),
    /// Either way: a refused message.
    Rejection(Rejection),
    /// Originator → hub: a standing pre-approval.
    Grant(Grant),
    /// Originator → hub, hub → recipient: a grant withdrawn.
    Revocation(Revocation),
    /// Originator → hub, hub → recipient: a live missile-warning track update.
    Track(TrackUpdate),
    /// Recipient → hub → originator: a signed receipt.
    Receipt(Receipt),
    /// The originator takes a report back.
    Retraction(Retraction),
    /// Originator → hub, hub → recipient: a standing grant still stands.
    Standing(Standing),
    /// Either way, on every link-up and agreement switch: nothing but the
    /// envelope, whose [`Envelope::agreement`] says which agreement the
    /// sender enforces.
    Hello,
}

/// A recipient's signed receipt for one revision of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The document, as parsed from `signed` (receivers check they agree).
    pub doc: ReceiptDoc,
    /// The recipient node's signature over it.
    pub signed: Signed,
    /// The recipient's audit chain head at the time, signed by its node
    /// (`tisa.v1.audit-head`): the originator keeps it as evidence of how
    /// far the recipient's audit log reached (entries cut off its end are
    /// then detectable). Attached by the recipient's shell; passed on
    /// unchanged by the hub.
    pub audit_head: Option<Signed>,
}

impl Payload {
    /// The report revision this message is about, if it is about one: a
    /// report, a delivery, a release request or decision, a progress notice
    /// (revision 0: every revision, after a retraction) or a receipt. A
    /// rejection names at most the report (`None` revision).
    pub fn report_revision(&self) -> Option<(&ReportId, Option<u32>)> {
        match self {
            Payload::Report(r) => Some((&r.header.id, Some(r.header.revision))),
            Payload::Delivery(d) => Some((&d.header.id, Some(d.header.revision))),
            Payload::ReleaseRequest(r) => Some((&r.report_id, Some(r.revision))),
            Payload::ReleaseDecision(d) => Some((&d.report_id, Some(d.revision))),
            Payload::Progress(p) => Some((&p.report_id, Some(p.revision))),
            Payload::Receipt(r) => Some((&r.doc.report_id, Some(r.doc.revision))),
            Payload::Rejection(r) => r.report_id.as_ref().map(|id| (id, None)),
            _ => None,
        }
    }

    /// Short name of the kind, also the last token of its NATS subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Report(_) => "report",
            Payload::ReleaseRequest(_) => "request",
            Payload::ReleaseDecision(_) => "decision",
            Payload::Delivery(_) => "delivery",
            Payload::Progress(_) => "progress",
            Payload::Rejection(_) => "rejection",
            Payload::Grant(_) => "grant",
            Payload::Revocation(_) => "revocation",
            Payload::Track(_) => "track",
            Payload::Receipt(_) => "receipt",
            Payload::Retraction(_) => "retraction",
            Payload::Standing(_) => "standing",
            Payload::Hello => "hello",
        }
    }
}

/// Every message travels in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Protocol major version ([`PROTOCOL_VERSION`]; the minor is the
    /// transport's, [`PROTOCOL_VERSION_MINOR`]).
    pub version: u32,
    /// Unique per sender.
    pub message_id: MessageId,
    /// Who sent it; must be the party at the other end of the link.
    pub sender: Party,
    /// When it was sent, by the sender's clock.
    pub sent_at: Timestamp,
    /// The agreement the sender enforced when it sent it: peers compare,
    /// and trilateral releases stop while they differ.
    pub agreement: AgreementTag,
    /// What it carries; its kind names the subject it travels on.
    pub payload: Payload,
}

/// An output of the core: send `envelope` to `to` over their link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The peer (always the hub for a nation; a nation for the hub).
    pub to: Party,
    /// The envelope to publish.
    pub envelope: Envelope,
    /// When set, the envelope's report or delivery has a blank content and
    /// manifest: fill them from the body store ([`Transmit::fill`]) before
    /// sending.
    pub body: Option<BodyKey>,
    /// Off-line only: it concerns a report passing off-line, or answers
    /// something that came off-line. The shell keeps it for the next bundle
    /// to `to` (`tisa bundle export`) and never publishes it.
    pub offline: bool,
}
