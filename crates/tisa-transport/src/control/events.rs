//! The node's live events on `tisa.ctl.<party>.events`, as `tisa watch`
//! shows them (and, minus the title, as the node logs and audits them).

use tisa_core::{
    Category, Classification, Decision, Event, Party, ReleaseRequest, ReportHeader, Sensitive, Stage, Timestamp,
    TrackUpdate,
};

use crate::convert::{
    category_to, class_to, non_empty, opt_category_from, opt_class_from, opt_party_from, party_to, Wire,
};
use crate::error::DecodeError;
use crate::proto;

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

impl WatchEvent {
    /// An event of `kind` at `at` with `detail`, naming no report, request or party.
    pub fn bare(kind: &str, at: Timestamp, detail: String) -> WatchEvent {
        WatchEvent {
            kind: kind.to_owned(),
            at,
            report_id: None,
            revision: 0,
            request_id: None,
            originator: None,
            recipient: None,
            category: None,
            classification: None,
            detail,
            title: None,
            tearline_only: false,
        }
    }
}

/// Describes a core event for `watch` (and, minus the title, for logs).
pub fn watch_event(ev: &Event, at: Timestamp) -> WatchEvent {
    let mut w = WatchEvent::bare("", at, String::new());
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
            w.detail = format!("expires at {}", request.expires_at);
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
        Event::TrackWindow { link, track_id, first_seq, last_seq, updates, grant_id } => {
            w.kind = "TRACK_WINDOW".into();
            w.report_id = Some(track_id.to_string());
            w.revision = *last_seq;
            w.originator = track_id.prefix_party();
            w.category = Some(tisa_core::TrackDoc::CATEGORY);
            w.detail = format!("seq={first_seq}..{last_seq} updates={updates} link={link}");
            if let Some(g) = grant_id {
                w.detail.push_str(&format!(" grant={g}"));
            }
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
            w.detail = format!("signed receipt from {}: committed at {}", receipt.recipient, receipt.received_at);
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
        Event::Held { kind, id, revision, originator, grant_id } => {
            w.kind = "HELD".into();
            w.report_id = Some(id.clone());
            w.revision = *revision;
            w.originator = Some(*originator);
            w.detail = format!(
                "{} held under grant {grant_id}: no fresh statement that it stands (released by one, refused by a revocation)",
                kind.code()
            );
        }
        Event::Reconciled { link, resent } => {
            w.kind = "RECONCILED".into();
            w.recipient = Some(*link);
            w.detail =
                format!("re-sent {resent} message(s) to {link} the peer may not hold (end-to-end reconciliation)");
        }
        Event::HeldForAgreement { header, recipient } => {
            w.kind = "HELD_FOR_AGREEMENT".into();
            set_header(&mut w, header);
            w.recipient = Some(*recipient);
            w.detail = format!(
                "released to {recipient} but kept back: the parties enforce different agreement versions (sent once they agree; see tisa health)"
            );
        }
        Event::AgreementSwitched { from, to } => {
            w.kind = "AGREEMENT_SWITCHED".into();
            w.detail = format!("agreement {to} in force (was {from})");
        }
        Event::AgreementMismatch { link, theirs, ours } => {
            w.kind = "AGREEMENT_MISMATCH".into();
            w.recipient = Some(*link);
            w.detail = format!(
                "{link} enforces agreement {theirs}, this node {ours}: trilateral releases stop until they agree"
            );
        }
        Event::NotUnderAgreement { link, kind, theirs, ours } => {
            w.kind = "NOT_UNDER_AGREEMENT".into();
            w.recipient = Some(*link);
            w.detail = format!(
                "{kind} from {link} sent under agreement {theirs}, this node enforces {ours}: not taken (the hub sends it again once they agree)"
            );
        }
        Event::BundleExported { peer, messages, sha256, key } => {
            w.kind = "BUNDLE_EXPORTED".into();
            w.recipient = Some(*peer);
            w.detail = format!("bundle {} for {peer} exported by key {key}: {messages} message(s)", short(sha256));
        }
        Event::BundleImported { peer, messages, sha256, key } => {
            w.kind = "BUNDLE_IMPORTED".into();
            w.originator = Some(*peer);
            w.detail = format!("bundle {} from {peer} imported by key {key}: {messages} message(s)", short(sha256));
        }
        Event::Unauthorized { verb, key, why } => {
            w.kind = "UNAUTHORIZED".into();
            w.detail = format!("{verb} by key {} refused: {why}", key.map_or("-".to_owned(), |k| k.to_string()));
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

impl Wire for WatchEvent {
    type Proto = proto::NodeEvent;

    fn to_proto(&self) -> Self::Proto {
        proto::NodeEvent {
            kind: self.kind.clone(),
            at_ms: self.at.as_millis(),
            report_id: self.report_id.clone().unwrap_or_default(),
            revision: self.revision,
            request_id: self.request_id.clone().unwrap_or_default(),
            originator: self.originator.map(party_to).unwrap_or(0),
            recipient: self.recipient.map(party_to).unwrap_or(0),
            category: self.category.map(category_to).unwrap_or(0),
            classification: self.classification.map(class_to).unwrap_or(0),
            detail: self.detail.clone(),
            title: self.title.as_ref().map(|t| t.expose().to_owned()).unwrap_or_default(),
            tearline_only: self.tearline_only,
        }
    }

    fn from_proto(e: Self::Proto) -> Result<Self, DecodeError> {
        Ok(WatchEvent {
            kind: e.kind,
            at: Timestamp(e.at_ms),
            report_id: non_empty(e.report_id),
            revision: e.revision,
            request_id: non_empty(e.request_id),
            originator: opt_party_from("originator", e.originator)?,
            recipient: opt_party_from("recipient", e.recipient)?,
            category: opt_category_from(e.category)?,
            classification: opt_class_from("classification", e.classification)?,
            detail: e.detail,
            title: (!e.title.is_empty()).then(|| Sensitive::new(e.title)),
            tearline_only: e.tearline_only,
        })
    }
}

/// The events of one drain of a node, in order: what one message on
/// `tisa.ctl.<party>.events` carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchEvents(pub Vec<WatchEvent>);

impl Wire for WatchEvents {
    type Proto = proto::NodeEvents;

    fn to_proto(&self) -> Self::Proto {
        proto::NodeEvents { events: self.0.iter().map(Wire::to_proto).collect() }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        p.events.into_iter().map(WatchEvent::from_proto).collect::<Result<_, _>>().map(WatchEvents)
    }
}

/// The first 16 hex digits of a digest (a bundle's id in messages).
fn short(d: &tisa_core::sign::Digest32) -> String {
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}
