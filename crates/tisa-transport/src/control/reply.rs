//! What a node answers its operator: one [`ControlReply`], built by the
//! node from the core's own types and decoded by the CLI into the same
//! types (content the node keeps in its body store is filled in first).

use tisa_core::{
    Decision, GrantView, HeldKind, HeldView, HubState, InboxEntry, Page, Party, PendingView, RecipientState, RequestId,
    RetractionNote, RevisionStatus, Sensitive, SubmitNote, Submitted, Timestamp, TrackEntry, TrackSubmitted,
};

use super::lanes::{EarlyForwardHealth, TrackLaneHealth};
use crate::convert::{
    grant_from_signed, header_from, non_empty, non_zero, not_releasable_from, not_releasable_to, opt_party_from,
    party_from, party_to, report_from, report_to_proto, request_id, signed_from, signed_to, verdict_from, verdict_to,
    Wire,
};
use crate::error::DecodeError;
use crate::proto;

/// A node's answer to a [`ControlRequest`](super::ControlRequest).
// Built once per call and encoded (or decoded and printed) at once: the
// size of its largest variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlReply {
    /// Refused; nothing changed.
    Error {
        /// Stable code (`INVALID`, `UNKNOWN_REQUEST`, `EXPIRED`, …).
        code: String,
        /// One line, ids and enum names only.
        message: String,
    },
    /// `submit`: the revision submitted (or, for a duplicate, the existing one).
    Submitted(Submitted),
    /// `pending`: requests awaiting this party's decision.
    Pending(Page<PendingView>),
    /// `decide`: the decision was taken and sent.
    Decided {
        /// The request.
        request_id: RequestId,
        /// The decision.
        decision: Decision,
    },
    /// `inbox`: reports received.
    Inbox(Page<InboxEntry>),
    /// `status`, `retract`: where this party's reports stand.
    Status(Page<RevisionStatus>),
    /// `health`.
    Health(Health),
    /// `grants` (for `grant` and `revoke`: the one affected).
    Grants(Vec<GrantView>),
    /// `draft`: the decision document to sign.
    DecisionDocument(Vec<u8>),
    /// `track`: the update as issued.
    Track(TrackSubmitted),
    /// `tracks`: the latest update per track.
    Tracks(Page<TrackEntry>),
    /// `deadletter`: dead letters, newest first, and how many the stream holds.
    DeadLetters(Vec<DeadLetter>, u64),
    /// `held`: what is held for want of a fresh grant-standing statement.
    Held(Page<HeldView>),
    /// `bundle-export`: a page of a signed bundle.
    BundlePage(crate::bundle::BundlePage),
    /// `courier-copy`: messages kept for the next bundle.
    Copied(u32),
    /// `bundle-import`: what a page of a bundle did.
    BundleImported {
        /// Messages taken in.
        taken: u32,
        /// This node's off-line messages the bundle acknowledged.
        acknowledged: u32,
        /// Messages the rules refused: `<message id> <CODE>: <why>`.
        refused: Vec<String>,
    },
}

impl ControlReply {
    /// A refusal.
    pub fn error(code: &str, message: impl std::fmt::Display) -> ControlReply {
        ControlReply::Error { code: code.to_owned(), message: message.to_string() }
    }
}

/// A node's health and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The node's party.
    pub party: Party,
    /// tisa version.
    pub version: String,
    /// Start time.
    pub started_at: Timestamp,
    /// The node's clock now.
    pub now: Timestamp,
    /// Undecodable messages dropped.
    pub malformed: u64,
    /// Messages the core refused.
    pub rejected: u64,
    /// Messages received on links.
    pub received: u64,
    /// Messages sent on links.
    pub sent: u64,
    /// Whether every connection is up.
    pub connected: bool,
    /// Version of the agreement in force.
    pub agreement_version: u32,
    /// Messages dead-lettered since start.
    pub dead_letters: u64,
    /// Dead letters that could not be written (the original is redelivered).
    pub dead_letter_errors: u64,
    /// Messages not yet accepted by the receiver's stream (kept, retried).
    pub outbox: u64,
    /// Track updates dropped from the outbox while they waited: a newer one
    /// of the same track to the same peer superseded them (latest wins).
    pub tracks_superseded: u64,
    /// Off-line messages waiting for the next bundle (`tisa bundle export`).
    pub offline_waiting: u64,
    /// Why sending is stuck, while the outbox is not empty.
    pub send_error: Option<SendError>,
    /// Deliveries and track updates held for want of a fresh grant-standing statement.
    pub held: u64,
    /// Control calls refused for a reply subject outside the operators' inbox.
    pub refused_replies: u64,
    /// The real-time lane for missile tracks.
    pub track_lane: TrackLaneHealth,
    /// The hub's deliveries published before its commit.
    pub early_forward: EarlyForwardHealth,
    /// Notices to an originator held back to go together.
    pub notices: super::NoticeHealth,
    /// How long its group commits took (input log write and `fdatasync`).
    pub commits: super::CommitHealth,
    /// Signature checks run while its group commits synced.
    pub checks_ahead: super::ChecksAheadHealth,
    /// The node's streams as the broker's cluster sees them.
    pub streams: Vec<super::StreamHealth>,
    /// The agreement in force, what the peers enforce, and why trilateral
    /// releases stop if they do.
    pub agreement: AgreementHealth,
}

/// The agreement part of [`Health`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgreementHealth {
    /// SHA-256 of the canonical form in force (hex).
    pub sha256: String,
    /// Later versions given, with when each takes effect.
    pub staged: Vec<String>,
    /// What each peer last said it enforces.
    pub peers: Vec<String>,
    /// Why trilateral releases stop (empty: they may go).
    pub mismatches: Vec<String>,
    /// Trilateral messages not taken for being sent under another version.
    pub ignored: u64,
    /// Why the last reload of the agreement file was refused (empty: none was).
    pub reload_error: String,
}

/// Why a node's messages are not getting through (shown by `tisa health`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// The receiver's stream that refused or did not answer.
    pub stream: String,
    /// One line: the broker's reason and what to do.
    pub reason: String,
    /// Since when (the first failure of this episode).
    pub since: Timestamp,
}

/// A message a node could not take, as kept in its dead-letter stream:
/// where it came from and why, never any byte of its payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// Position in the dead-letter stream (0 until written).
    pub seq: u64,
    /// When it was dead-lettered.
    pub at: Timestamp,
    /// The subject it came on.
    pub subject: String,
    /// The link it came from.
    pub link: Option<Party>,
    /// The inbound stream that held it.
    pub stream: String,
    /// Its sequence in that stream.
    pub stream_seq: Option<u64>,
    /// The broker's message id (`Nats-Msg-Id`), if a valid id.
    pub broker_message_id: Option<String>,
    /// The envelope's message id, if readable and valid.
    pub message_id: Option<String>,
    /// Payload size in bytes.
    pub size: u64,
    /// Deliveries by the broker so far.
    pub delivered: u64,
    /// `MALFORMED` or `UNVERIFIABLE`.
    pub class: String,
    /// Reason code (`PROTOBUF`, `KIND_MISMATCH`, `UNVERIFIED`, …).
    pub reason: String,
    /// One line of fixed text, field names, ids and numbers.
    pub detail: String,
}

/// The stable name of where a revision stands with the hub: `SENT`,
/// `ACCEPTED`, `REJECTED`, `OWN`.
pub fn hub_code(h: &HubState) -> &'static str {
    match h {
        HubState::Sent => "SENT",
        HubState::Accepted => "ACCEPTED",
        HubState::Rejected { .. } => "REJECTED",
        HubState::Own => "OWN",
    }
}

/// A page's items and cursor on the wire.
fn page_to<T: Wire>(p: &Page<T>) -> (Vec<T::Proto>, String) {
    (p.items.iter().map(Wire::to_proto).collect(), p.next_after.clone().unwrap_or_default())
}

fn page_from<T: Wire>(items: Vec<T::Proto>, next_after: String) -> Result<Page<T>, DecodeError> {
    Ok(Page {
        items: items.into_iter().map(T::from_proto).collect::<Result<_, _>>()?,
        next_after: non_empty(next_after),
    })
}

impl Wire for ControlReply {
    type Proto = proto::ControlReply;

    fn to_proto(&self) -> Self::Proto {
        use proto::control_reply::Reply as R;
        let r = match self {
            ControlReply::Error { code, message } => {
                R::Error(proto::ErrorReply { code: code.clone(), message: message.clone() })
            }
            ControlReply::Submitted(s) => R::Submitted(s.to_proto()),
            ControlReply::Pending(page) => {
                let (items, next_after) = page_to(page);
                R::Pending(proto::PendingList { items, next_after })
            }
            ControlReply::Decided { request_id, decision } => {
                let (verdict, reason) = decision.verdict();
                R::Decided(proto::DecideReply {
                    request_id: request_id.to_string(),
                    decision: verdict_to(verdict),
                    reason: reason.to_owned(),
                })
            }
            ControlReply::Inbox(page) => {
                let (items, next_after) = page_to(page);
                R::Inbox(proto::InboxList { items, next_after })
            }
            ControlReply::Status(page) => {
                let (items, next_after) = page_to(page);
                R::Status(proto::StatusList { items, next_after })
            }
            ControlReply::Health(h) => R::Health(h.to_proto()),
            ControlReply::Grants(items) => {
                R::Grants(proto::GrantList { items: items.iter().map(Wire::to_proto).collect() })
            }
            ControlReply::DecisionDocument(bytes) => R::Draft(bytes.clone()),
            ControlReply::Track(t) => R::Track(t.to_proto()),
            ControlReply::Tracks(page) => {
                let (items, next_after) = page_to(page);
                R::Tracks(proto::TrackList { items, next_after })
            }
            ControlReply::DeadLetters(items, total) => R::DeadLetters(proto::DeadLetterList {
                items: items.iter().map(Wire::to_proto).collect(),
                total: *total,
            }),
            ControlReply::Held(page) => {
                let (items, next_after) = page_to(page);
                R::Held(proto::HeldList { items, next_after })
            }
            ControlReply::BundlePage(p) => R::BundlePage(p.to_proto()),
            ControlReply::Copied(n) => R::Copied(*n),
            ControlReply::BundleImported { taken, acknowledged, refused } => {
                R::BundleImported(proto::BundleImportReply {
                    taken: *taken,
                    acknowledged: *acknowledged,
                    refused: refused.clone(),
                })
            }
        };
        proto::ControlReply { reply: Some(r) }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        use proto::control_reply::Reply as R;
        Ok(match p.reply.ok_or(DecodeError::Missing("reply"))? {
            R::Error(e) => ControlReply::Error { code: e.code, message: e.message },
            R::Submitted(s) => ControlReply::Submitted(Wire::from_proto(s)?),
            R::Pending(l) => ControlReply::Pending(page_from(l.items, l.next_after)?),
            R::Decided(d) => ControlReply::Decided {
                request_id: request_id("decided.request_id", d.request_id)?,
                decision: Decision::from_verdict(verdict_from(d.decision)?, d.reason),
            },
            R::Inbox(l) => ControlReply::Inbox(page_from(l.items, l.next_after)?),
            R::Status(l) => ControlReply::Status(page_from(l.items, l.next_after)?),
            R::Health(h) => ControlReply::Health(Wire::from_proto(h)?),
            R::Grants(l) => {
                ControlReply::Grants(l.items.into_iter().map(GrantView::from_proto).collect::<Result<_, _>>()?)
            }
            R::Draft(b) => ControlReply::DecisionDocument(b),
            R::Track(t) => ControlReply::Track(Wire::from_proto(t)?),
            R::Tracks(l) => ControlReply::Tracks(page_from(l.items, l.next_after)?),
            R::DeadLetters(l) => ControlReply::DeadLetters(
                l.items.into_iter().map(DeadLetter::from_proto).collect::<Result<_, _>>()?,
                l.total,
            ),
            R::Held(l) => ControlReply::Held(page_from(l.items, l.next_after)?),
            R::BundlePage(p) => ControlReply::BundlePage(Wire::from_proto(p)?),
            R::Copied(n) => ControlReply::Copied(n),
            R::BundleImported(r) => {
                ControlReply::BundleImported { taken: r.taken, acknowledged: r.acknowledged, refused: r.refused }
            }
        })
    }
}

impl Wire for Submitted {
    type Proto = proto::SubmitReply;

    fn to_proto(&self) -> Self::Proto {
        proto::SubmitReply {
            report_id: self.header.id.to_string(),
            revision: self.header.revision,
            duplicate: self.duplicate,
            notes: self
                .notes
                .iter()
                .map(|n| {
                    let (code, category, classification, ceiling) = not_releasable_to(n.why);
                    proto::SubmitNote {
                        recipient: party_to(n.recipient),
                        code,
                        detail: n.why.to_string(),
                        category,
                        classification,
                        ceiling,
                    }
                })
                .collect(),
            report: Some(self.header.to_proto()),
        }
    }

    fn from_proto(s: Self::Proto) -> Result<Self, DecodeError> {
        let header = header_from(&s.report.ok_or(DecodeError::Missing("submitted.report"))?)?;
        if header.id.as_str() != s.report_id || header.revision != s.revision {
            return Err(DecodeError::Inconsistent("submitted report id or revision differs from its header"));
        }
        let notes = s
            .notes
            .into_iter()
            .map(|n| {
                Ok(SubmitNote {
                    recipient: party_from("note.recipient", n.recipient)?,
                    why: not_releasable_from(
                        ["note.code", "note.classification", "note.ceiling"],
                        &n.code,
                        n.category,
                        n.classification,
                        n.ceiling,
                    )?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Submitted { header, notes, duplicate: s.duplicate })
    }
}

/// A pending request with the report's title, whether it has a tearline,
/// and its signed manifest (filled from the node's body store first); with
/// `content`, the whole report.
impl Wire for PendingView {
    type Proto = proto::PendingItem;

    fn to_proto(&self) -> Self::Proto {
        let title_only = tisa_core::Content { title: self.title.clone(), ..Default::default() };
        let content = self.content.as_ref().unwrap_or(&title_only);
        let mut report = report_to_proto(&self.header, Some(content), None, Some(&self.manifest));
        if self.has_tearline && report.tearline.is_none() {
            report.tearline = Some(String::new());
        }
        proto::PendingItem {
            request: Some(self.request.to_proto()),
            report: Some(report),
            full: self.content.is_some(),
        }
    }

    fn from_proto(i: Self::Proto) -> Result<Self, DecodeError> {
        let request = Wire::from_proto(i.request.ok_or(DecodeError::Missing("pending.request"))?)?;
        let r = report_from(i.report.ok_or(DecodeError::Missing("pending.report"))?)?;
        Ok(PendingView {
            request,
            has_tearline: r.content.tearline.is_some(),
            title: r.content.title.clone(),
            header: r.header,
            manifest: r.manifest,
            body: None,
            content: i.full.then_some(r.content),
        })
    }
}

/// A received report, with when it arrived and its retraction, if any
/// (filled from the node's body store first).
impl Wire for InboxEntry {
    type Proto = proto::InboxItem;

    fn to_proto(&self) -> Self::Proto {
        proto::InboxItem {
            delivery: Some(self.delivery.to_proto()),
            received_at_ms: self.received_at.as_millis(),
            retracted_at_ms: self.retracted.as_ref().map_or(0, |r| r.retracted_at.as_millis()),
            retraction_reason: self.retracted.as_ref().map(|r| r.reason.expose().to_owned()).unwrap_or_default(),
            offline: self.offline,
        }
    }

    fn from_proto(i: Self::Proto) -> Result<Self, DecodeError> {
        Ok(InboxEntry {
            delivery: Wire::from_proto(i.delivery.ok_or(DecodeError::Missing("inbox.delivery"))?)?,
            received_at: Timestamp(i.received_at_ms),
            retracted: non_zero(i.retracted_at_ms)
                .map(|at| RetractionNote { retracted_at: at, reason: Sensitive::new(i.retraction_reason) }),
            body: None,
            offline: i.offline,
        })
    }
}

/// Where one revision stands; a recipient's signed receipt travels with
/// its state (a receipt comes only from a recipient).
impl Wire for RevisionStatus {
    type Proto = proto::ReportStatus;

    fn to_proto(&self) -> Self::Proto {
        let (hub_detail, rejection_code, rejection_detail) = match &self.hub {
            HubState::Rejected { code, detail } => (format!("{code}: {detail}"), code.clone(), detail.clone()),
            _ => Default::default(),
        };
        let report = match &self.report {
            Some(r) => report_to_proto(&self.header, Some(&r.content), None, Some(&r.manifest)),
            None => self.header.to_proto(),
        };
        proto::ReportStatus {
            report: Some(report),
            full: self.report.is_some(),
            hub: hub_code(&self.hub).to_owned(),
            hub_detail,
            rejection_code,
            rejection_detail,
            recipients: self
                .recipients
                .iter()
                .map(|(p, st)| {
                    let mut r = recipient_to_proto(*p, st);
                    r.receipt_at_ms = self.receipts.get(p).map_or(0, |t| t.as_millis());
                    r
                })
                .collect(),
            retracted_at_ms: self.retracted_at.map_or(0, |t| t.as_millis()),
            retraction_confirmed: self.retraction_confirmed,
        }
    }

    fn from_proto(s: Self::Proto) -> Result<Self, DecodeError> {
        let wire = s.report.ok_or(DecodeError::Missing("status.report"))?;
        let header = header_from(&wire)?;
        let report = if s.full { Some(report_from(wire)?) } else { None };
        let hub = match s.hub.as_str() {
            "SENT" => HubState::Sent,
            "ACCEPTED" => HubState::Accepted,
            "REJECTED" => HubState::Rejected { code: s.rejection_code, detail: s.rejection_detail },
            "OWN" => HubState::Own,
            _ => return Err(DecodeError::Inconsistent("unknown hub state")),
        };
        let mut recipients = std::collections::BTreeMap::new();
        let mut receipts = std::collections::BTreeMap::new();
        for r in s.recipients {
            let p = party_from("recipient", r.recipient)?;
            if let Some(at) = non_zero(r.receipt_at_ms) {
                receipts.insert(p, at);
            }
            recipients.insert(p, recipient_from_proto(r)?);
        }
        Ok(RevisionStatus {
            header,
            hub,
            recipients,
            receipts,
            retracted_at: non_zero(s.retracted_at_ms),
            retraction_confirmed: s.retraction_confirmed,
            report,
            body: None,
        })
    }
}

fn recipient_to_proto(p: Party, s: &RecipientState) -> proto::RecipientStatus {
    let mut out = proto::RecipientStatus { recipient: party_to(p), state: s.code().to_owned(), ..Default::default() };
    match s {
        RecipientState::NotReleasable(why) => {
            out.detail = why.to_string();
            (out.not_releasable_code, out.category, out.classification, out.ceiling) = not_releasable_to(*why);
        }
        RecipientState::Requested { request_id, expires_at } => {
            out.request_id = request_id.to_string();
            out.expires_at_ms = expires_at.as_millis();
        }
        RecipientState::Approved { tearline_only } | RecipientState::Delivered { tearline_only } => {
            out.tearline_only = *tearline_only
        }
        RecipientState::Waiting | RecipientState::Denied | RecipientState::Expired | RecipientState::Withdrawn => {}
    }
    out
}

fn recipient_from_proto(r: proto::RecipientStatus) -> Result<RecipientState, DecodeError> {
    Ok(match r.state.as_str() {
        "WAITING" => RecipientState::Waiting,
        "NOT_RELEASABLE" => RecipientState::NotReleasable(not_releasable_from(
            ["recipient.not_releasable_code", "recipient.classification", "recipient.ceiling"],
            &r.not_releasable_code,
            r.category,
            r.classification,
            r.ceiling,
        )?),
        "RELEASE_REQUESTED" => RecipientState::Requested {
            request_id: request_id("recipient.request_id", r.request_id)?,
            expires_at: Timestamp(r.expires_at_ms),
        },
        "APPROVED" => RecipientState::Approved { tearline_only: r.tearline_only },
        "DENIED" => RecipientState::Denied,
        "EXPIRED" => RecipientState::Expired,
        "WITHDRAWN" => RecipientState::Withdrawn,
        "DELIVERED" => RecipientState::Delivered { tearline_only: r.tearline_only },
        _ => return Err(DecodeError::Inconsistent("unknown recipient state")),
    })
}

impl Wire for GrantView {
    type Proto = proto::GrantItem;

    fn to_proto(&self) -> Self::Proto {
        proto::GrantItem {
            grant: Some(signed_to(&self.grant.signed)),
            revoked: self.revoked,
            proposed: self.proposed,
            cosign: self.grant.cosign.as_ref().map(signed_to),
        }
    }

    fn from_proto(i: Self::Proto) -> Result<Self, DecodeError> {
        Ok(GrantView {
            grant: grant_from_signed(signed_from("grant", i.grant)?, i.cosign)?,
            revoked: i.revoked,
            proposed: i.proposed,
        })
    }
}

impl Wire for TrackSubmitted {
    type Proto = proto::TrackReply;

    fn to_proto(&self) -> Self::Proto {
        proto::TrackReply { update: Some(self.update.to_proto()), duplicate: self.duplicate }
    }

    fn from_proto(t: Self::Proto) -> Result<Self, DecodeError> {
        Ok(TrackSubmitted {
            update: Wire::from_proto(t.update.ok_or(DecodeError::Missing("track.update"))?)?,
            duplicate: t.duplicate,
        })
    }
}

impl Wire for TrackEntry {
    type Proto = proto::TrackItem;

    fn to_proto(&self) -> Self::Proto {
        proto::TrackItem { update: Some(self.update.to_proto()), received_at_ms: self.received_at.as_millis() }
    }

    fn from_proto(i: Self::Proto) -> Result<Self, DecodeError> {
        Ok(TrackEntry {
            update: Wire::from_proto(i.update.ok_or(DecodeError::Missing("tracks.update"))?)?,
            received_at: Timestamp(i.received_at_ms),
        })
    }
}

impl Wire for Health {
    type Proto = proto::HealthReply;

    fn to_proto(&self) -> Self::Proto {
        proto::HealthReply {
            party: party_to(self.party),
            version: self.version.clone(),
            started_at_ms: self.started_at.as_millis(),
            now_ms: self.now.as_millis(),
            malformed: self.malformed,
            rejected: self.rejected,
            received: self.received,
            sent: self.sent,
            connected: self.connected,
            agreement_version: self.agreement_version,
            dead_letters: self.dead_letters,
            dead_letter_errors: self.dead_letter_errors,
            outbox: self.outbox,
            tracks_superseded: self.tracks_superseded,
            offline_waiting: self.offline_waiting,
            send_error: self.send_error.as_ref().map(|e| e.reason.clone()).unwrap_or_default(),
            send_error_stream: self.send_error.as_ref().map(|e| e.stream.clone()).unwrap_or_default(),
            send_error_since_ms: self.send_error.as_ref().map_or(0, |e| e.since.as_millis()),
            held: self.held,
            refused_replies: self.refused_replies,
            track_lane: self.track_lane.enabled,
            track_lane_passed: self.track_lane.passed,
            track_lane_left: self.track_lane.left,
            track_lane_dropped: self.track_lane.dropped,
            track_windows: self.track_lane.windows,
            track_windowed: self.track_lane.windowed,
            track_stream_paced: self.track_lane.stream_paced,
            track_stream_copies: self.track_lane.stream_copies,
            track_stream_takes: self.track_lane.stream_takes,
            commit_buckets: self.commits.to_wire(),
            checks_ahead: self.checks_ahead.enabled,
            checks_ahead_total: self.checks_ahead.checks,
            checks_ahead_by_helper: self.checks_ahead.by_helper,
            early_forward: self.early_forward.enabled,
            early_forward_batches: self.early_forward.batches,
            early_forward_deliveries: self.early_forward.deliveries,
            notices_coalesced: self.notices.coalesced,
            notices_held: self.notices.held,
            notice_sends: self.notices.sends,
            streams: self.streams.iter().map(Wire::to_proto).collect(),
            agreement_sha256: self.agreement.sha256.clone(),
            agreement_staged: self.agreement.staged.clone(),
            agreement_peers: self.agreement.peers.clone(),
            agreement_mismatches: self.agreement.mismatches.clone(),
            agreement_ignored: self.agreement.ignored,
            agreement_reload_error: self.agreement.reload_error.clone(),
        }
    }

    fn from_proto(h: Self::Proto) -> Result<Self, DecodeError> {
        Ok(Health {
            party: party_from("party", h.party)?,
            version: h.version,
            started_at: Timestamp(h.started_at_ms),
            now: Timestamp(h.now_ms),
            malformed: h.malformed,
            rejected: h.rejected,
            received: h.received,
            sent: h.sent,
            connected: h.connected,
            agreement_version: h.agreement_version,
            dead_letters: h.dead_letters,
            dead_letter_errors: h.dead_letter_errors,
            outbox: h.outbox,
            tracks_superseded: h.tracks_superseded,
            offline_waiting: h.offline_waiting,
            send_error: (!h.send_error.is_empty()).then_some(SendError {
                stream: h.send_error_stream,
                reason: h.send_error,
                since: Timestamp(h.send_error_since_ms),
            }),
            held: h.held,
            refused_replies: h.refused_replies,
            track_lane: TrackLaneHealth {
                enabled: h.track_lane,
                passed: h.track_lane_passed,
                left: h.track_lane_left,
                dropped: h.track_lane_dropped,
                windows: h.track_windows,
                windowed: h.track_windowed,
                stream_paced: h.track_stream_paced,
                stream_copies: h.track_stream_copies,
                stream_takes: h.track_stream_takes,
            },
            commits: super::CommitHealth::from_wire(h.commit_buckets)?,
            checks_ahead: super::ChecksAheadHealth {
                enabled: h.checks_ahead,
                checks: h.checks_ahead_total,
                by_helper: h.checks_ahead_by_helper,
            },
            early_forward: EarlyForwardHealth {
                enabled: h.early_forward,
                batches: h.early_forward_batches,
                deliveries: h.early_forward_deliveries,
            },
            notices: super::NoticeHealth {
                coalesced: h.notices_coalesced,
                held: h.notices_held,
                sends: h.notice_sends,
            },
            streams: h.streams.into_iter().map(Wire::from_proto).collect::<Result<_, _>>()?,
            agreement: AgreementHealth {
                sha256: h.agreement_sha256,
                staged: h.agreement_staged,
                peers: h.agreement_peers,
                mismatches: h.agreement_mismatches,
                ignored: h.agreement_ignored,
                reload_error: h.agreement_reload_error,
            },
        })
    }
}

/// An item held for want of a fresh grant-standing statement.
impl Wire for HeldView {
    type Proto = proto::HeldItem;

    fn to_proto(&self) -> Self::Proto {
        proto::HeldItem {
            kind: self.kind.code().to_owned(),
            id: self.id.clone(),
            revision: self.revision,
            originator: party_to(self.originator),
            grant_id: self.grant_id.clone(),
            held_at_ms: self.held_at.as_millis(),
            statement_issued_at_ms: self.statement_issued_at.map_or(0, Timestamp::as_millis),
        }
    }

    fn from_proto(h: Self::Proto) -> Result<Self, DecodeError> {
        let kind = match h.kind.as_str() {
            "DELIVERY" => HeldKind::Delivery,
            "TRACK" => HeldKind::Track,
            _ => return Err(DecodeError::Inconsistent("held item kind")),
        };
        Ok(HeldView {
            kind,
            id: h.id,
            revision: h.revision,
            originator: party_from("held.originator", h.originator)?,
            grant_id: h.grant_id,
            held_at: Timestamp(h.held_at_ms),
            statement_issued_at: (h.statement_issued_at_ms > 0).then_some(Timestamp(h.statement_issued_at_ms)),
        })
    }
}

/// A dead letter (also the payload of the dead-letter stream's messages).
impl Wire for DeadLetter {
    type Proto = proto::DeadLetter;

    fn to_proto(&self) -> Self::Proto {
        proto::DeadLetter {
            seq: self.seq,
            at_ms: self.at.as_millis(),
            subject: self.subject.clone(),
            link: self.link.map(party_to).unwrap_or(0),
            stream: self.stream.clone(),
            stream_seq: self.stream_seq.unwrap_or(0),
            broker_message_id: self.broker_message_id.clone().unwrap_or_default(),
            message_id: self.message_id.clone().unwrap_or_default(),
            size: self.size,
            delivered: self.delivered,
            class: self.class.clone(),
            reason: self.reason.clone(),
            detail: self.detail.clone(),
        }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        Ok(DeadLetter {
            seq: p.seq,
            at: Timestamp(p.at_ms),
            subject: p.subject,
            link: opt_party_from("link", p.link)?,
            stream: p.stream,
            stream_seq: (p.stream_seq != 0).then_some(p.stream_seq),
            broker_message_id: non_empty(p.broker_message_id),
            message_id: non_empty(p.message_id),
            size: p.size,
            delivered: p.delivered,
            class: p.class,
            reason: p.reason,
            detail: p.detail,
        })
    }
}
