//! The control protocol between an operator's CLI and its own node, in
//! domain terms, plus its wire encoding. Requests go to
//! `tisa.ctl.<party>.<verb>`; the node's events go to `tisa.ctl.<party>.events`.

use prost::Message;
use tisa_core::{
    Category, Classification, Content, Decision, Delivery, Event, Grant, GrantView, InboxEntry, Page, Party,
    PendingView, RecipientState, ReleaseRequest, Report, ReportDraft, ReportHeader, ReportId, RequestId,
    RetractionNote, RevisionStatus, Sensitive, Signed, Stage, Submitted, Timestamp,
};
use tisa_core::{TrackDraft, TrackEntry, TrackSubmitted, TrackUpdate};

use crate::convert::*;
use crate::error::DecodeError;
use crate::proto;

/// A page request. `limit` 0 means the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Cursor: the previous page's `next_after`.
    pub after: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: usize,
    /// For `status`: only this report.
    pub report_id: Option<ReportId>,
}

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;

/// What the CLI asks its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlRequest {
    /// Submit a report or a correction.
    Submit(ReportDraft),
    /// Release requests awaiting this party's decision.
    Pending(ListQuery),
    /// Approve or deny a release request: a decision document signed by
    /// one of the party's approvers.
    Decide(Signed),
    /// Issue a standing grant (signed grant document).
    Grant(Signed),
    /// Revoke a standing grant (signed revocation document).
    Revoke(Signed),
    /// Standing grants this node knows.
    Grants(ListQuery),
    /// The decision document to sign for a pending request.
    Draft {
        /// The request.
        request_id: RequestId,
        /// The decision.
        decision: Decision,
        /// The approver (signing key's name).
        operator: String,
    },
    /// Reports received.
    Inbox(ListQuery),
    /// Where this party's reports stand.
    Status(ListQuery),
    /// Liveness and counters.
    Health,
    /// Issue one live missile-track update (the node signs it).
    Track(TrackDraft),
    /// The latest update of every track the node knows.
    Tracks(ListQuery),
    /// Retract one of this party's reports (every revision); the node signs it.
    Retract {
        /// The report.
        report_id: ReportId,
        /// Why (shown to holders, never logged).
        reason: String,
        /// The operator asking, or empty.
        operator: String,
    },
    /// The most recent dead letters (`limit` only), newest first.
    DeadLetters(ListQuery),
}

impl ControlRequest {
    /// The subject verb for this request.
    pub fn verb(&self) -> &'static str {
        match self {
            ControlRequest::Submit(_) => "submit",
            ControlRequest::Pending(_) => "pending",
            ControlRequest::Decide(_) => "decide",
            ControlRequest::Grant(_) => "grant",
            ControlRequest::Revoke(_) => "revoke",
            ControlRequest::Grants(_) => "grants",
            ControlRequest::Draft { .. } => "draft",
            ControlRequest::Inbox(_) => "inbox",
            ControlRequest::Status(_) => "status",
            ControlRequest::Health => "health",
            ControlRequest::Track(_) => "track",
            ControlRequest::Tracks(_) => "tracks",
            ControlRequest::Retract { .. } => "retract",
            ControlRequest::DeadLetters(_) => "deadletter",
        }
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
    /// Why sending is stuck, while the outbox is not empty.
    pub send_error: Option<SendError>,
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

/// Encodes a dead letter (the dead-letter stream's message payload).
pub fn encode_dead_letter(d: &DeadLetter) -> Vec<u8> {
    dead_letter_to_proto(d).encode_to_vec()
}

/// Decodes a dead letter read back from the stream (`seq` set by the caller).
pub fn decode_dead_letter(bytes: &[u8]) -> Result<DeadLetter, DecodeError> {
    dead_letter_from_proto(proto::DeadLetter::decode(bytes)?)
}

fn dead_letter_to_proto(d: &DeadLetter) -> proto::DeadLetter {
    proto::DeadLetter {
        seq: d.seq,
        at_ms: d.at.as_millis(),
        subject: d.subject.clone(),
        link: d.link.map(party_to).unwrap_or(0),
        stream: d.stream.clone(),
        stream_seq: d.stream_seq.unwrap_or(0),
        broker_message_id: d.broker_message_id.clone().unwrap_or_default(),
        message_id: d.message_id.clone().unwrap_or_default(),
        size: d.size,
        delivered: d.delivered,
        class: d.class.clone(),
        reason: d.reason.clone(),
        detail: d.detail.clone(),
    }
}

fn dead_letter_from_proto(p: proto::DeadLetter) -> Result<DeadLetter, DecodeError> {
    Ok(DeadLetter {
        seq: p.seq,
        at: Timestamp(p.at_ms),
        subject: p.subject,
        link: opt_party_from("link", p.link)?,
        stream: p.stream,
        stream_seq: (p.stream_seq != 0).then_some(p.stream_seq),
        broker_message_id: uncursor(p.broker_message_id),
        message_id: uncursor(p.message_id),
        size: p.size,
        delivered: p.delivered,
        class: p.class,
        reason: p.reason,
        detail: p.detail,
    })
}

/// What the node answers (server side: core types).
#[derive(Clone, Debug)]
pub enum ControlReply {
    /// Refused; nothing changed.
    Error {
        /// Stable code.
        code: String,
        /// One line.
        message: String,
    },
    /// Submitted.
    Submitted(Submitted),
    /// Pending requests.
    Pending(Page<PendingView>),
    /// Decision sent.
    Decided {
        /// The request.
        request_id: RequestId,
        /// The decision.
        decision: Decision,
    },
    /// Received reports.
    Inbox(Page<InboxEntry>),
    /// Own reports' status.
    Status(Page<RevisionStatus>),
    /// Health.
    Health(Health),
    /// Standing grants (for `grant`/`revoke`: the one affected).
    Grants(Vec<GrantView>),
    /// A document to sign.
    Draft(Vec<u8>),
    /// A track update issued.
    Track(TrackSubmitted),
    /// Latest update per track.
    Tracks(Page<TrackEntry>),
    /// Dead letters, newest first, and how many the stream holds.
    DeadLetters(Vec<DeadLetter>, u64),
}

/// A note from a submission, as the CLI sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteView {
    /// The recipient it will not reach.
    pub recipient: Party,
    /// Code (`OUT_OF_SCOPE`, …).
    pub code: String,
    /// One line.
    pub detail: String,
}

/// A pending request with the operator's own report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingItemView {
    /// The request.
    pub request: ReleaseRequest,
    /// The report.
    pub report: Report,
}

/// Where one revision stands with one recipient, as the CLI sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientView {
    /// The recipient.
    pub recipient: Party,
    /// State code (`DELIVERED`, …).
    pub state: String,
    /// Detail (reason for NOT_RELEASABLE).
    pub detail: String,
    /// The request, if one was opened.
    pub request_id: Option<String>,
    /// When the request expires, if open.
    pub expires_at: Option<Timestamp>,
    /// Tearline only?
    pub tearline_only: bool,
    /// When the recipient committed it, from its signed receipt.
    pub receipt_at: Option<Timestamp>,
}

/// Status of one revision, as the CLI sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusView {
    /// The header.
    pub header: ReportHeader,
    /// `SENT`, `ACCEPTED`, `REJECTED`, `OWN`.
    pub hub: String,
    /// Rejection detail, if any.
    pub hub_detail: String,
    /// Per recipient.
    pub recipients: Vec<RecipientView>,
    /// When this party retracted the report, if it did.
    pub retracted_at: Option<Timestamp>,
    /// Whether the hub confirmed it holds the retraction.
    pub retraction_confirmed: bool,
}

/// The node's answer, as the CLI decodes it.
#[derive(Clone, Debug)]
pub enum ReplyView {
    /// Refused.
    Error {
        /// Code.
        code: String,
        /// One line.
        message: String,
    },
    /// Submitted.
    Submitted {
        /// New report id.
        report_id: String,
        /// Revision.
        revision: u32,
        /// Recipients it will not reach.
        notes: Vec<NoteView>,
        /// Already submitted with this content: nothing was sent.
        duplicate: bool,
    },
    /// Pending requests.
    Pending(Vec<PendingItemView>, Option<String>),
    /// Decision sent.
    Decided {
        /// The request.
        request_id: String,
        /// `approved`, `approved (tearline only)`, `denied`.
        decision: &'static str,
    },
    /// Received reports: what arrived, when, and the originator's
    /// retraction if it has retracted the report since.
    Inbox(Vec<(Delivery, Timestamp, Option<RetractionNote>)>, Option<String>),
    /// Own reports.
    Status(Vec<StatusView>, Option<String>),
    /// Health.
    Health(Health),
    /// Standing grants, with whether each is revoked.
    Grants(Vec<(Grant, bool)>),
    /// A document to sign.
    Draft(Vec<u8>),
    /// A track update issued (`true`: it was a duplicate, nothing sent).
    Track(TrackUpdate, bool),
    /// Latest update per track, with when each arrived, and the next cursor.
    Tracks(Vec<(TrackUpdate, Timestamp)>, Option<String>),
    /// Dead letters, newest first, and how many the stream holds.
    DeadLetters(Vec<DeadLetter>, u64),
}

/// One event from `tisa.ctl.<party>.events`, as `watch` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// `SUBMITTED`, `RECEIVED`, …
    pub kind: String,
    /// When, by the node's clock.
    pub at: Timestamp,
    /// The report, if any.
    pub report_id: Option<String>,
    /// Its revision (0 if none).
    pub revision: u32,
    /// The request, if any.
    pub request_id: Option<String>,
    /// Originator.
    pub originator: Option<Party>,
    /// Recipient.
    pub recipient: Option<Party>,
    /// Category.
    pub category: Option<Category>,
    /// Classification.
    pub classification: Option<Classification>,
    /// One line of ids and enum names.
    pub detail: String,
    /// Title of a received full release (shown by `watch`, never logged).
    pub title: Option<Sensitive>,
    /// Tearline only?
    pub tearline_only: bool,
}

// ------------------------------------------------------------ requests

/// Encodes a request (client side).
pub fn encode_request(req: &ControlRequest) -> Vec<u8> {
    request_to_proto(req).encode_to_vec()
}

pub(crate) fn request_to_proto(req: &ControlRequest) -> proto::ControlRequest {
    use proto::control_request::Request as R;
    let list = |q: &ListQuery| proto::ListRequest {
        after: q.after.clone().unwrap_or_default(),
        limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
        report_id: q.report_id.as_ref().map(ToString::to_string).unwrap_or_default(),
    };
    let r = match req {
        ControlRequest::Submit(d) => R::Submit(proto::SubmitRequest {
            category: category_to(d.category),
            classification: class_to(d.classification),
            releasable_to: parties_to(d.releasable_to),
            title: d.content.title.expose().to_owned(),
            body: d.content.body.expose().to_owned(),
            tearline: d.content.tearline.as_ref().map(|t| t.expose().to_owned()),
            source_description: d.content.source.expose().to_owned(),
            corrects: d.corrects.as_ref().map(ToString::to_string).unwrap_or_default(),
            submitted_by: d.submitted_by.clone(),
            source_key: d.source_key.clone().unwrap_or_default(),
        }),
        ControlRequest::Pending(q) => R::Pending(list(q)),
        ControlRequest::Decide(s) => R::Decide(proto::DecideRequest { decision: Some(signed_to(s)) }),
        ControlRequest::Grant(s) => R::Grant(signed_to(s)),
        ControlRequest::Revoke(s) => R::Revoke(signed_to(s)),
        ControlRequest::Track(d) => R::Track(track_draft_to_proto(d)),
        ControlRequest::Tracks(q) => R::Tracks(list(q)),
        ControlRequest::DeadLetters(q) => R::DeadLetters(list(q)),
        ControlRequest::Grants(q) => R::Grants(list(q)),
        ControlRequest::Draft { request_id, decision, operator } => R::Draft(proto::DraftRequest {
            request_id: request_id.to_string(),
            decision: decision_kind_to(decision),
            reason: match decision {
                Decision::Deny { reason } => reason.clone(),
                _ => String::new(),
            },
            operator: operator.clone(),
        }),
        ControlRequest::Inbox(q) => R::Inbox(list(q)),
        ControlRequest::Status(q) => R::Status(list(q)),
        ControlRequest::Health => R::Health(proto::HealthRequest {}),
        ControlRequest::Retract { report_id, reason, operator } => R::Retract(proto::RetractRequest {
            report_id: report_id.to_string(),
            reason: reason.clone(),
            operator: operator.clone(),
        }),
    };
    proto::ControlRequest { request: Some(r) }
}

/// Decodes a request received on `subject` (node side); the request kind must
/// match the subject's verb.
pub fn decode_request(subject: &str, bytes: &[u8]) -> Result<ControlRequest, DecodeError> {
    let req = request_from_proto(proto::ControlRequest::decode(bytes)?)?;
    let verb = crate::subjects::kind_of(subject);
    if verb != req.verb() {
        return Err(DecodeError::KindMismatch { subject: verb.to_owned(), payload: req.verb() });
    }
    Ok(req)
}

pub(crate) fn request_from_proto(p: proto::ControlRequest) -> Result<ControlRequest, DecodeError> {
    use proto::control_request::Request as R;
    let list = |q: proto::ListRequest| -> Result<ListQuery, DecodeError> {
        Ok(ListQuery {
            after: (!q.after.is_empty()).then_some(q.after),
            limit: usize::try_from(q.limit).unwrap_or(usize::MAX),
            report_id: if q.report_id.is_empty() { None } else { Some(report_id("report_id", q.report_id)?) },
        })
    };
    let req = match p.request.ok_or(DecodeError::Missing("request"))? {
        R::Submit(s) => ControlRequest::Submit(ReportDraft {
            category: category_from(s.category)?,
            classification: class_from("classification", s.classification)?,
            releasable_to: parties_from(&s.releasable_to)?,
            content: Content {
                title: Sensitive::new(s.title),
                body: Sensitive::new(s.body),
                tearline: s.tearline.map(Sensitive::new),
                source: Sensitive::new(s.source_description),
            },
            corrects: if s.corrects.is_empty() { None } else { Some(report_id("corrects", s.corrects)?) },
            submitted_by: s.submitted_by,
            source_key: (!s.source_key.is_empty()).then_some(s.source_key),
        }),
        R::Pending(q) => ControlRequest::Pending(list(q)?),
        R::Decide(d) => ControlRequest::Decide(signed_from("decision", d.decision)?),
        R::Grant(s) => ControlRequest::Grant(signed_from("grant", Some(s))?),
        R::Revoke(s) => ControlRequest::Revoke(signed_from("revoke", Some(s))?),
        R::Grants(q) => ControlRequest::Grants(list(q)?),
        R::Draft(d) => ControlRequest::Draft {
            request_id: request_id("request_id", d.request_id)?,
            decision: decision_from(d.decision, d.reason)?,
            operator: d.operator,
        },
        R::Inbox(q) => ControlRequest::Inbox(list(q)?),
        R::Status(q) => ControlRequest::Status(list(q)?),
        R::Health(_) => ControlRequest::Health,
        R::Track(t) => ControlRequest::Track(track_draft_from(t)?),
        R::Tracks(q) => ControlRequest::Tracks(list(q)?),
        R::Retract(r) => ControlRequest::Retract {
            report_id: report_id("retract.report_id", r.report_id)?,
            reason: r.reason,
            operator: r.operator,
        },
        R::DeadLetters(q) => ControlRequest::DeadLetters(list(q)?),
    };
    Ok(req)
}

// ------------------------------------------------------------ replies

fn cursor(c: &Option<String>) -> String {
    c.clone().unwrap_or_default()
}

fn uncursor(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn release_request_to_proto(r: &ReleaseRequest) -> proto::ReleaseRequest {
    proto::ReleaseRequest {
        request_id: r.request_id.to_string(),
        report_id: r.report_id.to_string(),
        revision: r.revision,
        recipient: party_to(r.recipient),
        requested_at_ms: r.requested_at.as_millis(),
        expires_at_ms: r.expires_at.as_millis(),
    }
}

fn recipient_to_proto(p: Party, s: &RecipientState) -> proto::RecipientStatus {
    let mut out = proto::RecipientStatus { recipient: party_to(p), state: s.code().to_owned(), ..Default::default() };
    match s {
        RecipientState::NotReleasable(why) => out.detail = why.to_string(),
        RecipientState::Requested { request_id, expires_at } => {
            out.request_id = request_id.to_string();
            out.expires_at_ms = expires_at.as_millis();
        }
        RecipientState::Approved { tearline_only } | RecipientState::Delivered { tearline_only } => {
            out.tearline_only = *tearline_only
        }
        _ => {}
    }
    out
}

/// Encodes a reply (node side).
pub fn encode_reply(reply: &ControlReply) -> Vec<u8> {
    use proto::control_reply::Reply as R;
    let r = match reply {
        ControlReply::Error { code, message } => {
            R::Error(proto::ErrorReply { code: code.clone(), message: message.clone() })
        }
        ControlReply::Submitted(s) => R::Submitted(proto::SubmitReply {
            report_id: s.header.id.to_string(),
            revision: s.header.revision,
            duplicate: s.duplicate,
            notes: s
                .notes
                .iter()
                .map(|n| proto::SubmitNote {
                    recipient: party_to(n.recipient),
                    code: n.why.code().to_owned(),
                    detail: n.why.to_string(),
                })
                .collect(),
        }),
        ControlReply::Pending(page) => R::Pending(proto::PendingList {
            items: page
                .items
                .iter()
                .map(|v| {
                    let content = Content { title: v.title.clone(), ..Default::default() };
                    let mut report = report_to_proto(&v.header, Some(&content), None, Some(&v.manifest));
                    if v.has_tearline {
                        report.tearline = Some(String::new());
                    }
                    proto::PendingItem { request: Some(release_request_to_proto(&v.request)), report: Some(report) }
                })
                .collect(),
            next_after: cursor(&page.next_after),
        }),
        ControlReply::Decided { request_id, decision } => {
            R::Decided(proto::DecideReply { request_id: request_id.to_string(), decision: decision_kind_to(decision) })
        }
        ControlReply::Inbox(page) => R::Inbox(proto::InboxList {
            items: page
                .items
                .iter()
                .map(|e| proto::InboxItem {
                    delivery: Some(delivery_to_proto(&e.delivery)),
                    received_at_ms: e.received_at.as_millis(),
                    retracted_at_ms: e.retracted.as_ref().map_or(0, |r| r.retracted_at.as_millis()),
                    retraction_reason: e.retracted.as_ref().map(|r| r.reason.expose().to_owned()).unwrap_or_default(),
                })
                .collect(),
            next_after: cursor(&page.next_after),
        }),
        ControlReply::Status(page) => R::Status(proto::StatusList {
            items: page
                .items
                .iter()
                .map(|s| {
                    let (hub, hub_detail) = match &s.hub {
                        tisa_core::HubState::Sent => ("SENT", String::new()),
                        tisa_core::HubState::Accepted => ("ACCEPTED", String::new()),
                        tisa_core::HubState::Rejected { code, detail } => ("REJECTED", format!("{code}: {detail}")),
                        tisa_core::HubState::Own => ("OWN", String::new()),
                    };
                    proto::ReportStatus {
                        report: Some(report_to_proto(&s.header, None, None, None)),
                        hub: hub.to_owned(),
                        hub_detail,
                        recipients: s
                            .recipients
                            .iter()
                            .map(|(p, st)| {
                                let mut r = recipient_to_proto(*p, st);
                                r.receipt_at_ms = s.receipts.get(p).map_or(0, |t| t.as_millis());
                                r
                            })
                            .collect(),
                        retracted_at_ms: s.retracted_at.map_or(0, |t| t.as_millis()),
                        retraction_confirmed: s.retraction_confirmed,
                    }
                })
                .collect(),
            next_after: cursor(&page.next_after),
        }),
        ControlReply::Health(h) => R::Health(proto::HealthReply {
            party: party_to(h.party),
            version: h.version.clone(),
            started_at_ms: h.started_at.as_millis(),
            now_ms: h.now.as_millis(),
            malformed: h.malformed,
            rejected: h.rejected,
            received: h.received,
            sent: h.sent,
            connected: h.connected,
            agreement_version: h.agreement_version,
            dead_letters: h.dead_letters,
            dead_letter_errors: h.dead_letter_errors,
            outbox: h.outbox,
            send_error: h.send_error.as_ref().map(|e| e.reason.clone()).unwrap_or_default(),
            send_error_stream: h.send_error.as_ref().map(|e| e.stream.clone()).unwrap_or_default(),
            send_error_since_ms: h.send_error.as_ref().map_or(0, |e| e.since.as_millis()),
        }),
        ControlReply::DeadLetters(items, total) => R::DeadLetters(proto::DeadLetterList {
            items: items.iter().map(dead_letter_to_proto).collect(),
            total: *total,
        }),
        ControlReply::Draft(bytes) => R::Draft(bytes.clone()),
        ControlReply::Track(t) => {
            R::Track(proto::TrackReply { update: Some(track_to_proto(&t.update)), duplicate: t.duplicate })
        }
        ControlReply::Tracks(page) => R::Tracks(proto::TrackList {
            items: page
                .items
                .iter()
                .map(|e| proto::TrackItem {
                    update: Some(track_to_proto(&e.update)),
                    received_at_ms: e.received_at.as_millis(),
                })
                .collect(),
            next_after: cursor(&page.next_after),
        }),
        ControlReply::Grants(items) => R::Grants(proto::GrantList {
            items: items
                .iter()
                .map(|g| proto::GrantItem { grant: Some(signed_to(&g.grant.signed)), revoked: g.revoked })
                .collect(),
        }),
    };
    proto::ControlReply { reply: Some(r) }.encode_to_vec()
}

/// Decodes a reply (client side).
pub fn decode_reply(bytes: &[u8]) -> Result<ReplyView, DecodeError> {
    use proto::control_reply::Reply as R;
    let p = proto::ControlReply::decode(bytes)?;
    Ok(match p.reply.ok_or(DecodeError::Missing("reply"))? {
        R::Error(e) => ReplyView::Error { code: e.code, message: e.message },
        R::Submitted(s) => ReplyView::Submitted {
            report_id: s.report_id,
            revision: s.revision,
            duplicate: s.duplicate,
            notes: s
                .notes
                .into_iter()
                .map(|n| {
                    Ok(NoteView {
                        recipient: party_from("note.recipient", n.recipient)?,
                        code: n.code,
                        detail: n.detail,
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
        },
        R::Pending(l) => ReplyView::Pending(
            l.items
                .into_iter()
                .map(|i| {
                    let r = i.request.ok_or(DecodeError::Missing("pending.request"))?;
                    let request = ReleaseRequest {
                        request_id: request_id("request_id", r.request_id)?,
                        report_id: report_id("report_id", r.report_id)?,
                        revision: r.revision,
                        recipient: party_from("recipient", r.recipient)?,
                        requested_at: Timestamp(r.requested_at_ms),
                        expires_at: Timestamp(r.expires_at_ms),
                    };
                    let report = report_from(i.report.ok_or(DecodeError::Missing("pending.report"))?)?;
                    Ok(PendingItemView { request, report })
                })
                .collect::<Result<_, DecodeError>>()?,
            uncursor(l.next_after),
        ),
        R::Decided(d) => ReplyView::Decided {
            request_id: d.request_id,
            decision: decision_from(d.decision, String::new())?.describe(),
        },
        R::Inbox(l) => ReplyView::Inbox(
            l.items
                .into_iter()
                .map(|i| {
                    let d = delivery_from(i.delivery.ok_or(DecodeError::Missing("inbox.delivery"))?)?;
                    let retracted = (i.retracted_at_ms != 0).then(|| RetractionNote {
                        retracted_at: Timestamp(i.retracted_at_ms),
                        reason: Sensitive::new(i.retraction_reason),
                    });
                    Ok((d, Timestamp(i.received_at_ms), retracted))
                })
                .collect::<Result<_, DecodeError>>()?,
            uncursor(l.next_after),
        ),
        R::Status(l) => ReplyView::Status(
            l.items
                .into_iter()
                .map(|s| {
                    let header = header_from(&s.report.ok_or(DecodeError::Missing("status.report"))?)?;
                    let recipients = s
                        .recipients
                        .into_iter()
                        .map(|r| {
                            Ok(RecipientView {
                                recipient: party_from("recipient", r.recipient)?,
                                state: r.state,
                                detail: r.detail,
                                request_id: uncursor(r.request_id),
                                expires_at: (r.expires_at_ms != 0).then_some(Timestamp(r.expires_at_ms)),
                                tearline_only: r.tearline_only,
                                receipt_at: (r.receipt_at_ms != 0).then_some(Timestamp(r.receipt_at_ms)),
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?;
                    Ok(StatusView {
                        header,
                        hub: s.hub,
                        hub_detail: s.hub_detail,
                        recipients,
                        retracted_at: (s.retracted_at_ms != 0).then_some(Timestamp(s.retracted_at_ms)),
                        retraction_confirmed: s.retraction_confirmed,
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
            uncursor(l.next_after),
        ),
        R::Health(h) => ReplyView::Health(Health {
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
            send_error: (!h.send_error.is_empty()).then_some(SendError {
                stream: h.send_error_stream,
                reason: h.send_error,
                since: Timestamp(h.send_error_since_ms),
            }),
        }),
        R::DeadLetters(l) => ReplyView::DeadLetters(
            l.items.into_iter().map(dead_letter_from_proto).collect::<Result<_, DecodeError>>()?,
            l.total,
        ),
        R::Draft(b) => ReplyView::Draft(b),
        R::Track(t) => {
            ReplyView::Track(track_from_proto(t.update.ok_or(DecodeError::Missing("track.update"))?)?, t.duplicate)
        }
        R::Tracks(l) => ReplyView::Tracks(
            l.items
                .into_iter()
                .map(|i| {
                    let u = track_from_proto(i.update.ok_or(DecodeError::Missing("tracks.update"))?)?;
                    Ok((u, Timestamp(i.received_at_ms)))
                })
                .collect::<Result<_, DecodeError>>()?,
            uncursor(l.next_after),
        ),
        R::Grants(l) => ReplyView::Grants(
            l.items
                .into_iter()
                .map(|i| Ok((grant_from_signed(signed_from("grant", i.grant)?)?, i.revoked)))
                .collect::<Result<_, DecodeError>>()?,
        ),
    })
}

// ------------------------------------------------------------ events

/// Describes a core event for `watch` (and, minus the title, for logs).
pub fn watch_event(ev: &Event, at: Timestamp) -> WatchEvent {
    let mut w = WatchEvent {
        kind: String::new(),
        at,
        report_id: None,
        revision: 0,
        request_id: None,
        originator: None,
        recipient: None,
        category: None,
        classification: None,
        detail: String::new(),
        title: None,
        tearline_only: false,
    };
    let set_header = |w: &mut WatchEvent, h: &ReportHeader| {
        w.report_id = Some(h.id.to_string());
        w.revision = h.revision;
        w.originator = Some(h.originator);
        w.category = Some(h.category);
        w.classification = Some(h.classification);
    };
    let set_request = |w: &mut WatchEvent, r: &ReleaseRequest| {
        w.report_id = Some(r.report_id.to_string());
        w.revision = r.revision;
        w.request_id = Some(r.request_id.to_string());
        w.recipient = Some(r.recipient);
        w.originator = r.report_id.prefix_party();
    };
    match ev {
        Event::Submitted { header } => {
            w.kind = "SUBMITTED".into();
            set_header(&mut w, header);
            w.detail = format!("REL TO {}", header.releasable_to);
        }
        Event::ReportHeld { header } => {
            w.kind = "REPORT_HELD".into();
            set_header(&mut w, header);
            w.detail = format!("REL TO {}", header.releasable_to);
        }
        Event::ReleaseRequested { request } => {
            w.kind = "RELEASE_REQUESTED".into();
            set_request(&mut w, request);
            w.detail = format!("expires at {} ms", request.expires_at.as_millis());
        }
        Event::Decided { decision } => {
            w.kind = "DECIDED".into();
            w.report_id = Some(decision.report_id.to_string());
            w.revision = decision.revision;
            w.request_id = Some(decision.request_id.to_string());
            w.recipient = Some(decision.recipient);
            w.originator = decision.report_id.prefix_party();
            w.tearline_only = decision.decision == Decision::ApproveTearline;
            w.detail = decision.decision.describe().to_owned();
        }
        Event::Forwarded { header, recipient, basis, tearline_only } => {
            w.kind = "FORWARDED".into();
            set_header(&mut w, header);
            w.recipient = Some(*recipient);
            w.tearline_only = *tearline_only;
            w.detail = format!("{basis:?}").to_lowercase();
        }
        Event::Received { header, basis, tearline_only, title } => {
            w.kind = "RECEIVED".into();
            set_header(&mut w, header);
            w.tearline_only = *tearline_only;
            w.title = title.clone();
            w.detail = format!("{basis:?}").to_lowercase();
        }
        Event::Progress { progress } => {
            w.kind = "PROGRESS".into();
            w.report_id = Some(progress.report_id.to_string());
            w.revision = progress.revision;
            w.recipient = progress.recipient;
            w.originator = progress.report_id.prefix_party();
            w.detail = match &progress.stage {
                Stage::Accepted => "accepted at hub".to_owned(),
                Stage::NotReleasable(why) => format!("not releasable: {why}"),
                Stage::Forwarded { tearline_only: true } => "forwarded (tearline only)".to_owned(),
                Stage::Forwarded { tearline_only: false } => "forwarded".to_owned(),
                Stage::Denied => "denied".to_owned(),
                Stage::Expired => "expired (counts as denied)".to_owned(),
                Stage::Retracted => "retraction held by the hub and passed on".to_owned(),
            };
        }
        Event::Expired { request } => {
            w.kind = "EXPIRED".into();
            set_request(&mut w, request);
            w.detail = "release request expired: counts as denied".into();
        }
        Event::Rejected { link, kind, message_id, reason } => {
            w.kind = "REJECTED".into();
            w.detail = format!("{} {kind} {message_id} from {link}: {reason}", reason.code());
        }
        Event::TrackUpdated { update } => {
            let d = &update.doc;
            w.kind = "TRACK".into();
            w.report_id = Some(d.track_id.to_string());
            w.revision = d.seq;
            w.originator = Some(d.originator);
            w.category = Some(tisa_core::TrackDoc::CATEGORY);
            w.classification = Some(d.classification);
            w.detail = track_detail(update);
        }
        Event::TrackForwarded { track_id, seq, recipient, grant_id } => {
            w.kind = "TRACK_FORWARDED".into();
            w.report_id = Some(track_id.to_string());
            w.revision = *seq;
            w.originator = track_id.prefix_party();
            w.recipient = Some(*recipient);
            w.category = Some(tisa_core::TrackDoc::CATEGORY);
            w.detail = match grant_id {
                Some(g) => format!("under grant {g}"),
                None => "bilateral".to_owned(),
            };
        }
        Event::RejectionReceived { link, rejection } => {
            w.kind = "REJECTION_RECEIVED".into();
            w.report_id = rejection.report_id.as_ref().map(ToString::to_string);
            w.request_id = rejection.request_id.as_ref().map(ToString::to_string);
            w.detail = format!("{link} refused {}: {} {}", rejection.refers_to, rejection.code, rejection.detail);
        }
        Event::ReceiptReceived { receipt, audit_head } => {
            w.kind = "RECEIPT".into();
            w.report_id = Some(receipt.report_id.to_string());
            w.revision = receipt.revision;
            w.recipient = Some(receipt.recipient);
            w.originator = receipt.report_id.prefix_party();
            w.detail = format!(
                "signed receipt from {}: committed at {} ms",
                receipt.recipient,
                receipt.received_at.as_millis()
            );
            if let Some(h) = audit_head {
                w.detail.push_str(&format!("; its audit log reached seq {}", h.seq));
            }
        }
        Event::Retracted { report_id, originator } => {
            w.kind = "RETRACTED".into();
            w.report_id = Some(report_id.to_string());
            w.originator = Some(*originator);
            w.detail = format!("{originator} retracted {report_id} (every revision)");
        }
        Event::RetractionForwarded { report_id, recipient } => {
            w.kind = "RETRACTION_FORWARDED".into();
            w.report_id = Some(report_id.to_string());
            w.originator = report_id.prefix_party();
            w.recipient = Some(*recipient);
            w.detail = format!("retraction of {report_id} passed on to {recipient}");
        }
        Event::Reconciled { link, resent } => {
            w.kind = "RECONCILED".into();
            w.recipient = Some(*link);
            w.detail =
                format!("re-sent {resent} message(s) to {link} the peer may not hold (end-to-end reconciliation)");
        }
    }
    w
}

/// One line of numbers and ids describing a track update's latest state:
/// `seq=3 pos=39.800000,127.600000 alt=150.0km t+30s impact=40.800000,135.200000 grant=KR-G-1`.
pub fn track_detail(t: &TrackUpdate) -> String {
    let d = &t.doc;
    let since = d.observed_at.saturating_since(d.launched_at).as_secs();
    let impact = d.impact.map_or("-".to_owned(), |p| p.to_string());
    let mut s = format!(
        "seq={} pos={} alt={:.1}km t+{since}s impact={impact}",
        d.seq,
        d.position,
        f64::from(d.altitude_m) / 1000.0
    );
    if let Some(g) = &t.consent {
        s.push_str(&format!(" grant={}", g.doc.grant_id));
    }
    s
}

/// Encodes a watch event for `tisa.ctl.<party>.events`.
pub fn encode_watch_event(w: &WatchEvent) -> Vec<u8> {
    proto::NodeEvent {
        kind: w.kind.clone(),
        at_ms: w.at.as_millis(),
        report_id: w.report_id.clone().unwrap_or_default(),
        revision: w.revision,
        request_id: w.request_id.clone().unwrap_or_default(),
        originator: w.originator.map(party_to).unwrap_or(0),
        recipient: w.recipient.map(party_to).unwrap_or(0),
        category: w.category.map(category_to).unwrap_or(0),
        classification: w.classification.map(class_to).unwrap_or(0),
        detail: w.detail.clone(),
        title: w.title.as_ref().map(|t| t.expose().to_owned()).unwrap_or_default(),
        tearline_only: w.tearline_only,
    }
    .encode_to_vec()
}

/// Decodes a watch event.
pub fn decode_watch_event(bytes: &[u8]) -> Result<WatchEvent, DecodeError> {
    let e = proto::NodeEvent::decode(bytes)?;
    Ok(WatchEvent {
        kind: e.kind,
        at: Timestamp(e.at_ms),
        report_id: uncursor(e.report_id),
        revision: e.revision,
        request_id: uncursor(e.request_id),
        originator: opt_party_from("originator", e.originator)?,
        recipient: opt_party_from("recipient", e.recipient)?,
        category: if e.category == 0 { None } else { Some(category_from(e.category)?) },
        classification: if e.classification == 0 {
            None
        } else {
            Some(class_from("classification", e.classification)?)
        },
        detail: e.detail,
        title: (!e.title.is_empty()).then(|| Sensitive::new(e.title)),
        tearline_only: e.tearline_only,
    })
}
