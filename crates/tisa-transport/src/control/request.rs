//! What an operator's CLI asks its own node: one [`ControlRequest`]
//! variant per verb, each on its own subject `tisa.ctl.<party>.<verb>`.

use tisa_core::sign::{sha256, Digest32};
use tisa_core::{
    Authorization, Command, Content, Decision, InboxFilter, ReportDraft, ReportId, RequestId, Sensitive, Signed,
    Timestamp, TrackDraft, Verb,
};

use crate::convert::{
    category_from, category_to, class_from, class_to, opt_party_from, opt_report_id, parties_from, parties_to,
    party_to, report_id, request_id, signed_from, signed_to, verdict_from, verdict_to, Wire,
};
use crate::error::DecodeError;
use crate::proto;

/// Re-emits `$x`; lets a macro repetition that is driven by a type bind a
/// payload (`Variant(x)`) only for the variants that have one.
macro_rules! bind {
    ($x:ident, $t:ty) => {
        $x
    };
}

/// Declares the requests, each once, with its verb: generates
/// [`ControlRequest`] (every request), [`CommandRequest`] (those that
/// change state), [`Query`] (those that only read), the split between
/// them, and the verb lists the subjects and broker permissions derive from.
macro_rules! control_requests {
    (
        commands { $( $(#[$cdoc:meta])* $cverb:literal => $cvar:ident($cty:ty), )* }
        queries { $( $(#[$qdoc:meta])* $qverb:literal => $qvar:ident $(($qty:ty))?, )* }
    ) => {
        /// What an operator's CLI asks its own node, on `tisa.ctl.<party>.<verb>`.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum ControlRequest {
            $( $(#[$cdoc])* $cvar($cty), )*
            $( $(#[$qdoc])* $qvar $(($qty))?, )*
        }

        /// A [`ControlRequest`] that changes the node's state: it becomes a
        /// core [`Command`] ([`CommandRequest::into_command`]), logged in
        /// the node's input log, then applied.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum CommandRequest {
            $( $(#[$cdoc])* $cvar($cty), )*
        }

        /// A [`ControlRequest`] that only reads (never logged).
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Query {
            $( $(#[$qdoc])* $qvar $(($qty))?, )*
        }

        impl ControlRequest {
            /// Every verb, one subject each (`tisa.ctl.<party>.<verb>`).
            pub const VERBS: &'static [&'static str] = &[$($cverb,)* $($qverb,)*];

            /// The verbs of the requests that change state (a node's
            /// failpoints name them `ctl.<verb>`).
            pub const COMMAND_VERBS: &'static [&'static str] = &[$($cverb,)*];

            /// The subject verb of this request.
            pub fn verb(&self) -> &'static str {
                match self {
                    $( Self::$cvar(..) => $cverb, )*
                    $( Self::$qvar { .. } => $qverb, )*
                }
            }

            /// A command (it changes state) or a query.
            pub fn split(self) -> Result<CommandRequest, Query> {
                match self {
                    $( Self::$cvar(x) => Ok(CommandRequest::$cvar(x)), )*
                    $( Self::$qvar $((bind!(x, $qty)))? => Err(Query::$qvar $((bind!(x, $qty)))?), )*
                }
            }
        }

        impl From<CommandRequest> for ControlRequest {
            fn from(c: CommandRequest) -> Self {
                match c {
                    $( CommandRequest::$cvar(x) => Self::$cvar(x), )*
                }
            }
        }

        impl From<Query> for ControlRequest {
            fn from(q: Query) -> Self {
                match q {
                    $( Query::$qvar $((bind!(x, $qty)))? => Self::$qvar $((bind!(x, $qty)))?, )*
                }
            }
        }

        impl Query {
            /// The subject verb of this query.
            pub fn verb(&self) -> &'static str {
                match self {
                    $( Self::$qvar { .. } => $qverb, )*
                }
            }
        }
    };
}

control_requests! {
    commands {
        /// Submit a report or a correction.
        "submit" => Submit(ReportDraft),
        /// Approve or deny a release request: a decision document signed by
        /// one of the party's approvers (the CLI signs it locally).
        "decide" => Decide(Signed),
        /// Issue a standing grant (a signed grant document).
        "grant" => Grant(Signed),
        /// Revoke a standing grant (a signed revocation document).
        "revoke" => Revoke(Signed),
        /// Co-sign a proposed standing grant (two-person rule; a signed
        /// cosign document, by a second approver).
        "cosign" => Cosign(Signed),
        /// Issue one live missile-track update (the node signs it).
        "track" => Track(TrackDraft),
        /// Retract one of this party's reports (every revision); the node
        /// signs the retraction. Answered with the report's status.
        "retract" => Retract(Retract),
        /// A courier copy of one report for the next bundle to a peer.
        "courier-copy" => CourierCopy(CourierCopy),
    }
    queries {
        /// Release requests awaiting this party's decision.
        "pending" => Pending(ListQuery),
        /// Reports received.
        "inbox" => Inbox(ListQuery),
        /// Where this party's reports stand (`report_id`: one report).
        "status" => Status(ListQuery),
        /// Liveness and counters.
        "health" => Health,
        /// Standing grants this node knows.
        "grants" => Grants(ListQuery),
        /// The decision document to sign for a pending request (the verb
        /// predates the name: `draft`).
        "draft" => DecisionDocument(DecisionQuery),
        /// The latest update of every track the node knows.
        "tracks" => Tracks(ListQuery),
        /// The most recent dead letters (`limit` only), newest first.
        "deadletter" => DeadLetters(ListQuery),
        /// What is held for want of a fresh grant-standing statement.
        "held" => Held(ListQuery),
        /// A page of a signed off-line bundle for one peer (`tisa bundle
        /// export`). Not a logged command: what it carries was logged when
        /// it was made; the export is audited.
        "bundle-export" => BundleExport(crate::bundle::ExportRequest),
        /// A page of a bundle to take in (`tisa bundle import`): each of its
        /// messages is logged as an input of its own, as if from the link.
        "bundle-import" => BundleImport(Box<crate::bundle::ImportRequest>),
    }
}

/// A page request. `limit` 0 means the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Cursor: the previous page's `next_after`.
    pub after: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: usize,
    /// For `status`, `inbox` and `pending`: only this report (for
    /// `pending`, each open request with the whole report).
    pub report_id: Option<ReportId>,
    /// For `inbox`: which reports, in which order.
    pub inbox: InboxFilter,
    /// For `status` of one report (`report_id`): each revision with its whole report.
    pub full: bool,
}

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;

impl ListQuery {
    /// The page size asked for: the default for 0, never more than `max`.
    pub fn page_size(&self, max: usize) -> usize {
        if self.limit == 0 {
            DEFAULT_LIMIT
        } else {
            self.limit.min(max)
        }
    }
}

/// Which decision document to prepare (`ControlRequest::DecisionDocument`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionQuery {
    /// The request.
    pub request_id: RequestId,
    /// The decision.
    pub decision: Decision,
    /// The approver (the signing key's name).
    pub operator: String,
}

/// A courier copy to make (`ControlRequest::CourierCopy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CourierCopy {
    /// The peer whose next bundle carries it.
    pub to: tisa_core::Party,
    /// The report.
    pub report_id: ReportId,
}

/// A retraction to issue (`ControlRequest::Retract`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retract {
    /// The report (every revision).
    pub report_id: ReportId,
    /// Why (shown to holders, never logged).
    pub reason: String,
    /// The operator asking, or empty.
    pub operator: String,
}

impl CommandRequest {
    /// The core command this request asks for. A submit takes the id the
    /// node chose for the new report (`new_id` is called for a submit only).
    pub fn into_command<E>(self, new_id: impl FnOnce() -> Result<ReportId, E>) -> Result<Command, E> {
        Ok(match self {
            CommandRequest::Submit(draft) => Command::Submit { report_id: new_id()?, draft },
            CommandRequest::Decide(s) => Command::Decide(s),
            CommandRequest::Grant(s) => Command::Grant(s),
            CommandRequest::Revoke(s) => Command::Revoke(s),
            CommandRequest::Cosign(s) => Command::Cosign(s),
            CommandRequest::Track(d) => Command::Track(d),
            CommandRequest::Retract(r) => {
                Command::Retract { report_id: r.report_id, reason: r.reason, operator: r.operator }
            }
            CommandRequest::CourierCopy(c) => Command::CourierCopy { to: c.to, report_id: c.report_id },
        })
    }
}

/// The request a command came from (a submit's report id is dropped: the
/// input log keeps it beside the request).
impl From<Command> for CommandRequest {
    fn from(c: Command) -> Self {
        match c {
            Command::Submit { draft, .. } => CommandRequest::Submit(draft),
            Command::Decide(s) => CommandRequest::Decide(s),
            Command::Grant(s) => CommandRequest::Grant(s),
            Command::Revoke(s) => CommandRequest::Revoke(s),
            Command::Cosign(s) => CommandRequest::Cosign(s),
            Command::Track(d) => CommandRequest::Track(d),
            Command::Retract { report_id, reason, operator } => {
                CommandRequest::Retract(Retract { report_id, reason, operator })
            }
            Command::CourierCopy { to, report_id } => CommandRequest::CourierCopy(CourierCopy { to, report_id }),
        }
    }
}

impl ControlRequest {
    /// The verb its signed action must name, if it needs one: every
    /// command, and the reads of report content (inbox, pending, status).
    pub fn action_verb(&self) -> Option<Verb> {
        match self {
            ControlRequest::Submit(_) => Some(Verb::Submit),
            ControlRequest::Decide(_) => Some(Verb::Decide),
            ControlRequest::Grant(_) => Some(Verb::Grant),
            ControlRequest::Revoke(_) => Some(Verb::Revoke),
            ControlRequest::Cosign(_) => Some(Verb::Cosign),
            ControlRequest::Track(_) => Some(Verb::Track),
            ControlRequest::Retract(_) => Some(Verb::Retract),
            // Status shows the titles of this party's reports: content.
            ControlRequest::Inbox(_) | ControlRequest::Pending(_) | ControlRequest::Status(_) => Some(Verb::Read),
            ControlRequest::BundleExport(_) | ControlRequest::BundleImport(_) | ControlRequest::CourierCopy(_) => {
                Some(Verb::Courier)
            }
            ControlRequest::Health
            | ControlRequest::Grants(_)
            | ControlRequest::DecisionDocument(_)
            | ControlRequest::Tracks(_)
            | ControlRequest::DeadLetters(_)
            | ControlRequest::Held(_) => None,
        }
    }

    /// SHA-256 of its payload, what a signed action covers: its encoding
    /// without the action.
    pub fn payload_sha256(&self) -> Digest32 {
        sha256(&self.encode())
    }

    /// Its encoding with the signed action `action` attached.
    pub fn encode_signed(&self, action: Option<&Signed>) -> Vec<u8> {
        use prost::Message as _;
        let mut p = self.to_proto();
        p.authorization = action.map(signed_to);
        p.encode_to_vec()
    }

    /// Decodes a request and its signed action (with the payload hash it must cover).
    pub fn decode_signed(bytes: &[u8]) -> Result<(ControlRequest, Option<Authorization>), DecodeError> {
        use prost::Message as _;
        let mut p = proto::ControlRequest::decode(bytes)?;
        let action = p.authorization.take().map(|s| signed_from("authorization", Some(s))).transpose()?;
        Self::from_signed_proto(p, action)
    }

    /// A request from its proto (its `authorization` already taken out as `action`).
    pub(crate) fn from_signed_proto(
        p: proto::ControlRequest,
        action: Option<Signed>,
    ) -> Result<(ControlRequest, Option<Authorization>), DecodeError> {
        let req = ControlRequest::from_proto(p)?;
        let auth = action.map(|action| Authorization { action, payload_sha256: req.payload_sha256() });
        Ok((req, auth))
    }
}

/// Decodes a request received on `subject` (node side), with its signed
/// action; the request kind must match the subject's verb.
pub fn decode_request(subject: &str, bytes: &[u8]) -> Result<(ControlRequest, Option<Authorization>), DecodeError> {
    let (req, auth) = ControlRequest::decode_signed(bytes)?;
    let verb = crate::subjects::kind_of(subject);
    if verb != req.verb() {
        return Err(DecodeError::KindMismatch { subject: verb.to_owned(), payload: req.verb() });
    }
    Ok((req, auth))
}

impl Wire for ControlRequest {
    type Proto = proto::ControlRequest;

    fn to_proto(&self) -> Self::Proto {
        use proto::control_request::Request as R;
        let r = match self {
            ControlRequest::Submit(d) => R::Submit(d.to_proto()),
            ControlRequest::Decide(s) => R::Decide(proto::DecideRequest { decision: Some(signed_to(s)) }),
            ControlRequest::Grant(s) => R::Grant(signed_to(s)),
            ControlRequest::Revoke(s) => R::Revoke(signed_to(s)),
            ControlRequest::Cosign(s) => R::Cosign(signed_to(s)),
            ControlRequest::Track(d) => R::Track(d.to_proto()),
            ControlRequest::Retract(r) => R::Retract(r.to_proto()),
            ControlRequest::CourierCopy(c) => {
                R::CourierCopy(proto::CourierCopyRequest { to: party_to(c.to), report_id: c.report_id.to_string() })
            }
            ControlRequest::Pending(q) => R::Pending(q.to_proto()),
            ControlRequest::Inbox(q) => R::Inbox(q.to_proto()),
            ControlRequest::Status(q) => R::Status(q.to_proto()),
            ControlRequest::Health => R::Health(proto::HealthRequest {}),
            ControlRequest::Grants(q) => R::Grants(q.to_proto()),
            ControlRequest::DecisionDocument(q) => R::Draft(q.to_proto()),
            ControlRequest::Tracks(q) => R::Tracks(q.to_proto()),
            ControlRequest::DeadLetters(q) => R::DeadLetters(q.to_proto()),
            ControlRequest::Held(q) => R::Held(q.to_proto()),
            ControlRequest::BundleExport(q) => R::BundleExport(q.to_proto()),
            ControlRequest::BundleImport(q) => R::BundleImport(q.to_proto()),
        };
        proto::ControlRequest { request: Some(r), authorization: None }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        use proto::control_request::Request as R;
        Ok(match p.request.ok_or(DecodeError::Missing("request"))? {
            R::Submit(s) => ControlRequest::Submit(Wire::from_proto(s)?),
            R::Decide(d) => ControlRequest::Decide(signed_from("decision", d.decision)?),
            R::Grant(s) => ControlRequest::Grant(signed_from("grant", Some(s))?),
            R::Revoke(s) => ControlRequest::Revoke(signed_from("revoke", Some(s))?),
            R::Cosign(s) => ControlRequest::Cosign(signed_from("cosign", Some(s))?),
            R::Track(t) => ControlRequest::Track(Wire::from_proto(t)?),
            R::Retract(r) => ControlRequest::Retract(Wire::from_proto(r)?),
            R::CourierCopy(c) => ControlRequest::CourierCopy(CourierCopy {
                to: crate::convert::party_from("courier_copy.to", c.to)?,
                report_id: report_id("courier_copy.report_id", c.report_id)?,
            }),
            R::Pending(q) => ControlRequest::Pending(Wire::from_proto(q)?),
            R::Inbox(q) => ControlRequest::Inbox(Wire::from_proto(q)?),
            R::Status(q) => ControlRequest::Status(Wire::from_proto(q)?),
            R::Health(_) => ControlRequest::Health,
            R::Grants(q) => ControlRequest::Grants(Wire::from_proto(q)?),
            R::Draft(d) => ControlRequest::DecisionDocument(Wire::from_proto(d)?),
            R::Tracks(q) => ControlRequest::Tracks(Wire::from_proto(q)?),
            R::DeadLetters(q) => ControlRequest::DeadLetters(Wire::from_proto(q)?),
            R::Held(q) => ControlRequest::Held(Wire::from_proto(q)?),
            R::BundleExport(q) => ControlRequest::BundleExport(Wire::from_proto(q)?),
            R::BundleImport(q) => ControlRequest::BundleImport(Box::new(Wire::from_proto(q)?)),
        })
    }
}

/// A report as an operator submits it.
impl Wire for ReportDraft {
    type Proto = proto::SubmitRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::SubmitRequest {
            category: category_to(self.category),
            classification: class_to(self.classification),
            releasable_to: parties_to(self.releasable_to),
            title: self.content.title.expose().to_owned(),
            body: self.content.body.expose().to_owned(),
            tearline: self.content.tearline.as_ref().map(|t| t.expose().to_owned()),
            source_description: self.content.source.expose().to_owned(),
            corrects: self.corrects.as_ref().map(ToString::to_string).unwrap_or_default(),
            submitted_by: self.submitted_by.clone(),
            source_key: self.source_key.clone().unwrap_or_default(),
            submission: self.submission.as_ref().map(signed_to),
            offline: self.offline,
        }
    }

    fn from_proto(s: Self::Proto) -> Result<Self, DecodeError> {
        Ok(ReportDraft {
            offline: s.offline,
            category: category_from(s.category)?,
            classification: class_from("classification", s.classification)?,
            releasable_to: parties_from(&s.releasable_to)?,
            content: Content {
                title: Sensitive::new(s.title),
                body: Sensitive::new(s.body),
                tearline: s.tearline.map(Sensitive::new),
                source: Sensitive::new(s.source_description),
            },
            corrects: opt_report_id("corrects", s.corrects)?,
            submitted_by: s.submitted_by,
            // Never from the wire: the node sets it from the verified signed action.
            submitter_key: None,
            submission: s.submission.map(|x| signed_from("submission", Some(x))).transpose()?,
            source_key: (!s.source_key.is_empty()).then_some(s.source_key),
        })
    }
}

impl Wire for ListQuery {
    type Proto = proto::ListRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::ListRequest {
            after: self.after.clone().unwrap_or_default(),
            limit: u32::try_from(self.limit).unwrap_or(u32::MAX),
            report_id: self.report_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            since_ms: self.inbox.since.map_or(0, |t| t.as_millis()),
            originator: self.inbox.originator.map_or(0, party_to),
            category: self.inbox.category.map_or(0, category_to),
            classification: self.inbox.classification.map_or(0, class_to),
            newest_first: self.inbox.newest_first,
            full: self.full,
        }
    }

    fn from_proto(q: Self::Proto) -> Result<Self, DecodeError> {
        Ok(ListQuery {
            after: (!q.after.is_empty()).then_some(q.after),
            limit: usize::try_from(q.limit).unwrap_or(usize::MAX),
            report_id: opt_report_id("report_id", q.report_id)?,
            inbox: InboxFilter {
                since: (q.since_ms > 0).then_some(Timestamp(q.since_ms)),
                originator: opt_party_from("list.originator", q.originator)?,
                category: (q.category != 0).then(|| category_from(q.category)).transpose()?,
                classification: (q.classification != 0)
                    .then(|| class_from("list.classification", q.classification))
                    .transpose()?,
                newest_first: q.newest_first,
            },
            full: q.full,
        })
    }
}

impl Wire for DecisionQuery {
    type Proto = proto::DraftRequest;

    fn to_proto(&self) -> Self::Proto {
        let (verdict, reason) = self.decision.verdict();
        proto::DraftRequest {
            request_id: self.request_id.to_string(),
            decision: verdict_to(verdict),
            reason: reason.to_owned(),
            operator: self.operator.clone(),
        }
    }

    fn from_proto(d: Self::Proto) -> Result<Self, DecodeError> {
        Ok(DecisionQuery {
            request_id: request_id("request_id", d.request_id)?,
            decision: Decision::from_verdict(verdict_from(d.decision)?, d.reason),
            operator: d.operator,
        })
    }
}

impl Wire for Retract {
    type Proto = proto::RetractRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::RetractRequest {
            report_id: self.report_id.to_string(),
            reason: self.reason.clone(),
            operator: self.operator.clone(),
        }
    }

    fn from_proto(r: Self::Proto) -> Result<Self, DecodeError> {
        Ok(Retract { report_id: report_id("retract.report_id", r.report_id)?, reason: r.reason, operator: r.operator })
    }
}
