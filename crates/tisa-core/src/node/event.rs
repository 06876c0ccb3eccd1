//! What happened: one [`Event`] per fact, for logs, `tisa watch`, the
//! audit log and tests. Ids and enum values only, except the title a
//! recipient's `watch` shows (wrapped in [`Sensitive`]: never logged).
//!
//! Variant fields are named for what they hold (`header`, `request`,
//! `decision`, `recipient`, `basis`, `tearline_only`, `link`: the peer,
//! `reason`: why) and documented only where the name does not say it all.

use crate::error::RejectReason;
use crate::ids::{MessageId, ReportId, TrackId};
use crate::message::{Basis, Progress, Rejection, ReleaseDecision, ReleaseRequest, TrackUpdate};
use crate::policy::{AgreementTag, KeyId, Verb};
use crate::report::ReportHeader;
use crate::sign::AuthError;
use crate::sign::{AuditHeadDoc, ReceiptDoc};
use crate::types::{Party, Sensitive};

/// Something that happened, for logs, `tisa watch` and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields: see the module docs
pub enum Event {
    /// This party submitted a report (or revision).
    Submitted { header: ReportHeader },
    /// The hub now holds a national report.
    ReportHeld { header: ReportHeader },
    /// A release request was opened (hub) or received (originator).
    ReleaseRequested { request: ReleaseRequest },
    /// A release decision was taken (originator) or recorded (hub).
    Decided { decision: ReleaseDecision },
    /// The hub sent a report to a nation (trilateral forward, or its own bilateral report).
    Forwarded { header: ReportHeader, recipient: Party, basis: Basis, tearline_only: bool },
    /// This party received a report.
    Received {
        header: ReportHeader,
        basis: Basis,
        tearline_only: bool,
        /// Its title, if released (for `watch`; never logged).
        title: Option<Sensitive>,
    },
    /// The hub told this originator how its report stands.
    Progress { progress: Progress },
    /// A release request expired (counts as denied).
    Expired { request: ReleaseRequest },
    /// This party refused an incoming message.
    Rejected {
        /// The link it came in on.
        link: Party,
        kind: &'static str,
        message_id: MessageId,
        reason: RejectReason,
    },
    /// A track's latest state changed here (issued by this party, held by
    /// the hub, or received).
    TrackUpdated {
        /// The update (ids and numbers only: it may be logged). Boxed: it
        /// carries the grant and its co-signature.
        update: Box<TrackUpdate>,
    },
    /// The hub sent a track update to a nation (under the originator's
    /// standing grant, or its own track bilaterally).
    TrackForwarded {
        track_id: TrackId,
        /// The update's sequence number.
        seq: u32,
        recipient: Party,
        /// The standing grant it went under (`None`: the hub's own track).
        grant_id: Option<String>,
    },
    /// A window of a peer's updates of one track, passed by the real-time
    /// lane ahead of their commit, was committed (its latest applied): the
    /// audit trail's record of them (`Node::handle_track_window`).
    TrackWindow {
        /// The link they came on.
        link: Party,
        track_id: TrackId,
        /// The lowest and highest sequence numbers in the window.
        first_seq: u32,
        last_seq: u32,
        /// How many copies the window took.
        updates: u32,
        /// The originator's standing grant they came under (`None`: none
        /// with them: a nation's update to the hub, or the hub's own).
        grant_id: Option<String>,
    },
    /// A peer refused one of this party's messages.
    RejectionReceived { link: Party, rejection: Rejection },
    /// A recipient's signed receipt for one of this party's reports (or,
    /// at the hub, one passed on to its originator).
    ReceiptReceived {
        receipt: ReceiptDoc,
        /// The recipient's signed audit chain head that came with it, verified.
        audit_head: Option<AuditHeadDoc>,
    },
    /// A report was retracted: issued here (originator), or learnt from its
    /// originator (hub, holder).
    Retracted {
        /// The report (every revision).
        report_id: ReportId,
        originator: Party,
    },
    /// The hub passed a retraction on to a party that holds the report.
    RetractionForwarded {
        report_id: ReportId,
        /// The holder told.
        recipient: Party,
    },
    /// A delivery or track update under a standing grant arrived without a
    /// fresh statement that the grant stands: held (committed, neither in
    /// the inbox nor refused) until one releases it or a revocation refuses it.
    Held {
        kind: HeldKind,
        /// The report id, or the track id.
        id: String,
        /// The report's revision, or the track update's sequence number.
        revision: u32,
        originator: Party,
        grant_id: String,
    },
    /// A link came back (or the periodic check ran): this party re-sent
    /// what the peer may not know (end-to-end reconciliation).
    Reconciled {
        link: Party,
        /// How many messages were re-sent.
        resent: u32,
    },
    /// Hub: a national report was released to `recipient` but waits while
    /// the parties enforce different agreement versions.
    HeldForAgreement { header: ReportHeader, recipient: Party },
    /// A staged agreement version took effect.
    AgreementSwitched { from: AgreementTag, to: AgreementTag },
    /// A peer said it enforces another agreement than this node: trilateral
    /// releases stop until the versions agree.
    AgreementMismatch { link: Party, theirs: AgreementTag, ours: AgreementTag },
    /// A trilateral delivery or track the hub sent under another agreement
    /// version was not taken (the hub sends it again once they agree).
    NotUnderAgreement { link: Party, kind: &'static str, theirs: AgreementTag, ours: AgreementTag },
    /// An operator exported an off-line bundle for `peer` (`tisa bundle export`).
    BundleExported {
        peer: Party,
        /// How many messages it carries.
        messages: u32,
        /// SHA-256 of its signed document (names every message by hash).
        sha256: crate::sign::Digest32,
        /// The operator's key.
        key: KeyId,
    },
    /// An operator imported an off-line bundle from `peer` (`tisa bundle
    /// import`); each message it carried is an input of its own.
    BundleImported {
        peer: Party,
        /// How many messages were taken in (a duplicate counts).
        messages: u32,
        sha256: crate::sign::Digest32,
        key: KeyId,
    },
    /// An operator's request was refused before it had any effect: its
    /// signed action was missing, of an unknown key, another party's key,
    /// a key without the role, stale or replayed (audited by key id).
    Unauthorized {
        /// What was asked.
        verb: Verb,
        /// The key that signed it, if it named one.
        key: Option<KeyId>,
        /// Why.
        why: AuthError,
    },
}

/// What a held item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldKind {
    /// A report delivered under a standing grant.
    Delivery,
    /// A live missile-track update forwarded under a standing grant.
    Track,
}

impl HeldKind {
    /// `DELIVERY` or `TRACK`.
    pub fn code(self) -> &'static str {
        match self {
            HeldKind::Delivery => "DELIVERY",
            HeldKind::Track => "TRACK",
        }
    }
}
