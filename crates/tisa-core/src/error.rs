//! Error types of the core. Every message names ids and enum values only,
//! never a report's title, body, tearline or source.
//!
//! Variant fields are named for what they hold (`report`, `revision`,
//! `request`, `recipient`, `link`, `track`, `why`: the rule or the
//! signature check that failed) and documented only where the name does
//! not say it all.

use std::fmt;

use thiserror::Error;

use crate::ids::{ReportId, RequestId, TrackId};
use crate::policy::NotReleasable;
use crate::sign::{AuthError, SigError};
use crate::types::{Classification, Party};

/// A text field of a command, named in the errors about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    /// A report's title.
    Title,
    /// A report's full text.
    Body,
    /// A report's tearline.
    Tearline,
    /// A report's source description.
    Source,
    /// The reason of a denial or a retraction.
    Reason,
}

impl TextField {
    /// The field's name in messages (`title`, `reason`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TextField::Title => "title",
            TextField::Body => "body",
            TextField::Tearline => "tearline",
            TextField::Source => "source",
            TextField::Reason => "reason",
        }
    }
}

impl fmt::Display for TextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command (submit, decide, grant, track, retract, ...) or a query was
/// refused. Nothing was sent and no state changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[allow(missing_docs)] // variant fields: see the module docs
pub enum CommandError {
    /// A required text field is empty (or only blanks).
    #[error("{0} must not be empty")]
    Empty(TextField),
    /// A text field is over its limit ([`crate::node::limits`]).
    #[error("{field} is {len} bytes; the limit is {max}")]
    TooLong {
        field: TextField,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The releasable-to list has no recipient.
    #[error("releasable-to must name at least one party other than the originator")]
    NoRecipient,
    /// A national report must be releasable to the hub it travels through.
    #[error("a {party} report travels through the hub: releasable-to must include {hub}")]
    MustIncludeHub {
        /// The submitting party.
        party: Party,
        hub: Party,
    },
    /// Above the ceiling of a link the report would cross.
    #[error("{classification} is above the {ceiling} ceiling of the {hub}-{nation} link; pass it off-line (`tisa submit --offline`, then `tisa bundle export`)")]
    AboveCeiling {
        classification: Classification,
        ceiling: Classification,
        hub: Party,
        /// The nation at the other end of the link.
        nation: Party,
    },
    /// Above the agreement's off-line ceiling: it cannot pass at all.
    #[error("{classification} is above the agreement's off-line ceiling {ceiling}: tisa cannot pass it, on-line or off-line")]
    AboveOfflineCeiling { classification: Classification, ceiling: Classification },
    /// No link joins the two parties (off-line passage follows the route).
    #[error("there is no {from}-{to} link: off-line passage follows the on-line route, through {hub}")]
    NoLink { from: Party, to: Party, hub: Party },
    /// The hub's own reports go bilaterally, on-line.
    #[error(
        "the hub's own reports go on-line (bilaterally); --offline is for a nation's report passing through the hub"
    )]
    OfflineFromHub,
    /// A correction names a report this party did not originate.
    #[error("report {0} is not one of this party's reports")]
    UnknownReport(ReportId),
    /// A report id is already used.
    #[error("report id {0} is already used")]
    DuplicateReportId(ReportId),
    /// A report id does not carry this party's prefix.
    #[error("report id {id} must start with {prefix}-")]
    BadReportIdPrefix { id: ReportId, prefix: &'static str },
    /// No pending release request with this id.
    #[error("no release request {0} awaits this party's decision")]
    UnknownRequest(RequestId),
    /// The request was already approved or denied.
    #[error("release request {request} was already {decision}; a decision is final")]
    AlreadyDecided {
        request: RequestId,
        /// `approved` or `denied`.
        decision: &'static str,
    },
    /// The request expired and counts as denied.
    #[error("release request {0} has expired and counts as denied")]
    Expired(RequestId),
    /// The report was retracted: no new revision, decision or second retraction.
    #[error("report {0} was retracted; it can no longer be corrected, released or retracted again")]
    Retracted(ReportId),
    /// Tearline-only approval of a report that has no tearline.
    #[error("report {0} has no tearline; approve in full or deny")]
    NoTearline(ReportId),
    /// A staged agreement version is not the next one.
    #[error("agreement version {version} is not the next after version {last}: stage the versions in order")]
    AgreementNotNext {
        /// The version offered.
        version: u32,
        /// The last version the node holds.
        last: u32,
    },
    /// The node's own signing key is not registered in the agreement.
    #[error("this node's key {0:?} is not registered in the agreement as a node key of this party")]
    UnregisteredNodeKey(String),
    /// A signed document from the operator did not verify.
    #[error("cannot accept the signed {what}: {why}")]
    Unverified {
        /// What was signed: `decision`, `grant` or `revocation`.
        what: &'static str,
        why: SigError,
    },
    /// The signed document does not match the request or report it names.
    #[error("the signed decision does not match release request {0}")]
    DecisionMismatch(RequestId),
    /// Two-person rule: the approver submitted the report.
    #[error("two-person rule: {0} submitted this report and may not also approve its release")]
    SameOperator(String),
    /// A grant that cannot be issued.
    #[error("invalid grant: {0}")]
    BadGrant(&'static str),
    /// No such grant.
    #[error("no grant {0} issued by this party")]
    UnknownGrant(String),
    /// A source key that is empty, too long or has control characters.
    #[error("a source key must be 1 to 256 printable characters")]
    BadSourceKey,
    /// A paging cursor that names no item.
    #[error("--after {0:?} names no item in this list")]
    UnknownCursor(String),
    /// The hub makes no release decisions.
    #[error("the hub does not decide releases; only originators do")]
    HubCannotDecide,
    /// A track id does not carry this party's prefix.
    #[error("track id {id} must start with {prefix}-")]
    BadTrackIdPrefix { id: TrackId, prefix: &'static str },
    /// A track update that is not newer than the latest one of its track.
    #[error("track {track} sequence {seq} is not newer than {latest}")]
    StaleTrack {
        track: TrackId,
        /// The update's sequence number.
        seq: u32,
        /// The latest sequence number already issued.
        latest: u32,
    },
    /// A track update with invalid fields.
    #[error("invalid track update: {0}")]
    BadTrack(&'static str),
    /// The request's signed action was refused (unsigned, unknown key,
    /// another party's key, a missing role, stale, replayed, ...).
    #[error(transparent)]
    Unauthorized(AuthError),
}

/// Why an incoming message was refused. Sent back to the peer as a
/// rejection notice (code and ids only) and reported as an event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[allow(missing_docs)] // variant fields: see the module docs
pub enum RejectReason {
    /// The envelope's sender is not the party at the other end of the link.
    #[error("envelope claims sender {claimed} but arrived on the link from {link}")]
    ForgedSender {
        /// The claimed sender.
        claimed: Party,
        /// The link it came in on.
        link: Party,
    },
    /// This kind of message is never sent to this party on this link.
    #[error("{kind} messages are not accepted from {link}")]
    UnexpectedMessage { kind: &'static str, link: Party },
    /// A report whose originator is not the party on the link it came from.
    #[error("report {report} claims originator {claimed} but came from {link}")]
    WrongOriginator {
        report: ReportId,
        /// The claimed originator.
        claimed: Party,
        link: Party,
    },
    /// A report id without its originator's prefix.
    #[error("report id {0} does not carry its originator's prefix")]
    BadReportId(ReportId),
    /// Same id and revision, different content.
    #[error("report {report} revision {revision} conflicts with the copy already held")]
    Conflict { report: ReportId, revision: u32 },
    /// The message refers to a report that is not known here.
    #[error("unknown report {report} revision {revision}")]
    UnknownReport { report: ReportId, revision: u32 },
    /// The message refers to a request that is not known here.
    #[error("unknown release request {0}")]
    UnknownRequest(RequestId),
    /// A decision or request whose fields do not match the request.
    #[error("release request {0} does not match the report, revision or recipient it names")]
    RequestMismatch(RequestId),
    /// A decision from a party that did not originate the report.
    #[error("only the originator may decide release request {0}")]
    NotOriginator(RequestId),
    /// A second, different decision on a decided request.
    #[error("release request {0} is already decided")]
    AlreadyDecided(RequestId),
    /// The decision arrived after the request expired.
    #[error("release request {0} expired before the decision arrived")]
    Expired(RequestId),
    /// Tearline-only approval of a report without a tearline.
    #[error("report {0} has no tearline to release")]
    NoTearline(ReportId),
    /// A report that may not go to the party it was sent to.
    #[error("report {report} may not go to {recipient}: {why}")]
    NotReleasable {
        report: ReportId,
        recipient: Party,
        /// The rule it breaks.
        why: NotReleasable,
    },
    /// A report this party originated, sent back to it.
    #[error("report {0} is this party's own")]
    OwnReport(ReportId),
    /// A signature or signed document did not verify.
    #[error("unverifiable {what}: {why}")]
    Unverified {
        /// What was being verified.
        what: &'static str,
        why: SigError,
    },
    /// A trilateral delivery without the originator's consent.
    #[error("report {0} carries no consent of its originator")]
    NoConsent(ReportId),
    /// Consent under a revoked or lapsed grant, or one that does not cover the report.
    #[error("grant {0} is revoked, lapsed or does not cover this report")]
    GrantNotValid(String),
    /// A track update that may not go to the party it was sent to.
    #[error("track {track} may not go to {recipient}: {why}")]
    TrackNotReleasable {
        track: TrackId,
        recipient: Party,
        /// The rule it breaks.
        why: NotReleasable,
    },
    /// A track update whose id, originator or fields are inconsistent.
    #[error("track {track}: {why}")]
    BadTrack {
        track: TrackId,
        /// What is wrong (fixed text).
        why: &'static str,
    },
    /// A trilateral track update without the originator's standing grant.
    #[error("track {0} carries no standing grant of its originator")]
    TrackNoConsent(TrackId),
    /// The report was retracted by its originator: nothing more moves for it.
    #[error("report {0} was retracted by its originator")]
    Retracted(ReportId),
}

impl RejectReason {
    /// A stable machine-readable code for the wire and for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::ForgedSender { .. } => "FORGED_SENDER",
            RejectReason::UnexpectedMessage { .. } => "UNEXPECTED_MESSAGE",
            RejectReason::WrongOriginator { .. } => "WRONG_ORIGINATOR",
            RejectReason::BadReportId(_) => "BAD_REPORT_ID",
            RejectReason::Conflict { .. } => "CONFLICT",
            RejectReason::UnknownReport { .. } => "UNKNOWN_REPORT",
            RejectReason::UnknownRequest(_) => "UNKNOWN_REQUEST",
            RejectReason::RequestMismatch(_) => "REQUEST_MISMATCH",
            RejectReason::NotOriginator(_) => "NOT_ORIGINATOR",
            RejectReason::AlreadyDecided(_) => "ALREADY_DECIDED",
            RejectReason::Expired(_) => "EXPIRED",
            RejectReason::NoTearline(_) => "NO_TEARLINE",
            RejectReason::NotReleasable { .. } => "NOT_RELEASABLE",
            RejectReason::OwnReport(_) => "OWN_REPORT",
            RejectReason::Unverified { .. } => "UNVERIFIED",
            RejectReason::NoConsent(_) => "NO_CONSENT",
            RejectReason::GrantNotValid(_) => "GRANT_NOT_VALID",
            RejectReason::TrackNotReleasable { .. } => "NOT_RELEASABLE",
            RejectReason::BadTrack { .. } => "BAD_TRACK",
            RejectReason::TrackNoConsent(_) => "NO_CONSENT",
            RejectReason::Retracted(_) => "RETRACTED",
        }
    }
}
