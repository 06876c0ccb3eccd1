//! prost ⇄ domain conversion: the only place that knows both.
//!
//! Decoding is strict: unspecified enums, bad ids and contradictory fields
//! are errors, never defaults, so the core only ever sees well-formed input.

use prost::Message;
use tisa_core::sign::{sha256, DecisionDoc, GrantDoc, RevocationDoc, TrackDoc, Verdict};
use tisa_core::{
    Basis, Category, Classification, Consent, Content, Decision, Delivery, Envelope, Grant, MessageId, NotReleasable,
    Party, PartySet, Payload, Progress, Rejection, ReleaseDecision, ReleaseRequest, Released, Report, ReportHeader,
    ReportId, RequestId, Revocation, Sensitive, Signed, Stage, Timestamp, PROTOCOL_VERSION,
};
use tisa_core::{GeoPoint, TrackDraft, TrackId, TrackUpdate};

use crate::error::DecodeError;
use crate::proto;

/// Encodes an envelope for the wire.
pub fn encode_envelope(env: &Envelope) -> Vec<u8> {
    envelope_to_proto(env).encode_to_vec()
}

/// Decodes what arrived on a link subject: one envelope (its payload kind
/// must match the subject), or on a `batch` subject every envelope of an
/// [`proto::EnvelopeBatch`], in order (at least one; any bad one fails the batch).
pub fn decode_inbound(subject: &str, bytes: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    if crate::subjects::kind_of(subject) != crate::subjects::BATCH {
        return decode_envelope(subject, bytes).map(|e| vec![e]);
    }
    let b = proto::EnvelopeBatch::decode(bytes)?;
    if b.envelopes.is_empty() {
        return Err(DecodeError::Missing("envelope_batch.envelopes"));
    }
    b.envelopes.into_iter().map(envelope_from_proto).collect()
}

/// Encodes envelopes for a `batch` subject.
pub fn encode_batch(envs: &[&Envelope]) -> Vec<u8> {
    proto::EnvelopeBatch { envelopes: envs.iter().map(|e| envelope_to_proto(e)).collect() }.encode_to_vec()
}

/// Decodes an envelope received on `subject`; its payload kind must match the
/// subject's last token.
pub fn decode_envelope(subject: &str, bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let p = proto::Envelope::decode(bytes)?;
    let env = envelope_from_proto(p)?;
    let subject_kind = crate::subjects::kind_of(subject);
    if subject_kind != env.payload.kind() {
        return Err(DecodeError::KindMismatch { subject: subject_kind.to_owned(), payload: env.payload.kind() });
    }
    Ok(env)
}

/// The envelope's message id, read from the leading fields of bytes that
/// may not decode as a whole (a truncated or otherwise broken envelope), for
/// dead letters. `None` unless field 2 comes before the damage and is a
/// valid message id (so it can never carry arbitrary payload text).
pub fn peek_message_id(bytes: &[u8]) -> Option<MessageId> {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut i = 0usize;
    while i < bytes.len() {
        let key = varint(bytes, &mut i)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(bytes, &mut i)?;
            }
            1 => i = i.checked_add(8)?,
            5 => i = i.checked_add(4)?,
            2 => {
                let len = usize::try_from(varint(bytes, &mut i)?).ok()?;
                let end = i.checked_add(len)?;
                let value = bytes.get(i..end)?;
                if field == 2 {
                    return MessageId::new(std::str::from_utf8(value).ok()?).ok();
                }
                i = end;
            }
            _ => return None,
        }
    }
    None
}

// ---------------------------------------------------------------- enums

pub(crate) fn party_to(p: Party) -> i32 {
    (match p {
        Party::Kr => proto::Party::Kr,
        Party::Us => proto::Party::Us,
        Party::Jp => proto::Party::Jp,
    }) as i32
}

pub(crate) fn party_from(field: &'static str, v: i32) -> Result<Party, DecodeError> {
    match proto::Party::try_from(v) {
        Ok(proto::Party::Kr) => Ok(Party::Kr),
        Ok(proto::Party::Us) => Ok(Party::Us),
        Ok(proto::Party::Jp) => Ok(Party::Jp),
        _ => Err(DecodeError::BadEnum { field, value: v }),
    }
}

pub(crate) fn opt_party_from(field: &'static str, v: i32) -> Result<Option<Party>, DecodeError> {
    if v == 0 {
        Ok(None)
    } else {
        party_from(field, v).map(Some)
    }
}

pub(crate) fn category_to(c: Category) -> i32 {
    (match c {
        Category::NkNuclear => proto::Category::NkNuclear,
        Category::NkMissile => proto::Category::NkMissile,
        Category::Other => proto::Category::Other,
    }) as i32
}

pub(crate) fn category_from(v: i32) -> Result<Category, DecodeError> {
    match proto::Category::try_from(v) {
        Ok(proto::Category::NkNuclear) => Ok(Category::NkNuclear),
        Ok(proto::Category::NkMissile) => Ok(Category::NkMissile),
        Ok(proto::Category::Other) => Ok(Category::Other),
        _ => Err(DecodeError::BadEnum { field: "category", value: v }),
    }
}

pub(crate) fn class_to(c: Classification) -> i32 {
    (match c {
        Classification::Unclassified => proto::Classification::Unclassified,
        Classification::Confidential => proto::Classification::Confidential,
        Classification::Secret => proto::Classification::Secret,
        Classification::TopSecret => proto::Classification::TopSecret,
    }) as i32
}

pub(crate) fn class_from(field: &'static str, v: i32) -> Result<Classification, DecodeError> {
    match proto::Classification::try_from(v) {
        Ok(proto::Classification::Unclassified) => Ok(Classification::Unclassified),
        Ok(proto::Classification::Confidential) => Ok(Classification::Confidential),
        Ok(proto::Classification::Secret) => Ok(Classification::Secret),
        Ok(proto::Classification::TopSecret) => Ok(Classification::TopSecret),
        _ => Err(DecodeError::BadEnum { field, value: v }),
    }
}

pub(crate) fn decision_kind_to(d: &Decision) -> i32 {
    (match d {
        Decision::ApproveFull => proto::DecisionKind::ApproveFull,
        Decision::ApproveTearline => proto::DecisionKind::ApproveTearline,
        Decision::Deny { .. } => proto::DecisionKind::Deny,
    }) as i32
}

pub(crate) fn decision_from(v: i32, reason: String) -> Result<Decision, DecodeError> {
    match proto::DecisionKind::try_from(v) {
        Ok(proto::DecisionKind::ApproveFull) => Ok(Decision::ApproveFull),
        Ok(proto::DecisionKind::ApproveTearline) => Ok(Decision::ApproveTearline),
        Ok(proto::DecisionKind::Deny) => Ok(Decision::Deny { reason }),
        _ => Err(DecodeError::BadEnum { field: "decision", value: v }),
    }
}

pub(crate) fn parties_to(s: PartySet) -> Vec<i32> {
    s.iter().map(party_to).collect()
}

pub(crate) fn parties_from(v: &[i32]) -> Result<PartySet, DecodeError> {
    v.iter().map(|p| party_from("releasable_to", *p)).collect()
}

pub(crate) fn report_id(field: &'static str, s: String) -> Result<ReportId, DecodeError> {
    ReportId::new(s).map_err(|source| DecodeError::BadId { field, source })
}

pub(crate) fn request_id(field: &'static str, s: String) -> Result<RequestId, DecodeError> {
    RequestId::new(s).map_err(|source| DecodeError::BadId { field, source })
}

fn opt_report_id(field: &'static str, s: String) -> Result<Option<ReportId>, DecodeError> {
    if s.is_empty() {
        Ok(None)
    } else {
        report_id(field, s).map(Some)
    }
}

fn opt_request_id(field: &'static str, s: String) -> Result<Option<RequestId>, DecodeError> {
    if s.is_empty() {
        Ok(None)
    } else {
        request_id(field, s).map(Some)
    }
}

// ---------------------------------------------------------------- signatures

pub(crate) fn signed_to(s: &Signed) -> proto::Signed {
    proto::Signed { document: s.bytes.clone(), signer: s.signer.clone(), signature: s.signature.to_vec() }
}

pub(crate) fn signed_from(field: &'static str, s: Option<proto::Signed>) -> Result<Signed, DecodeError> {
    let s = s.ok_or(DecodeError::Missing(field))?;
    let signature: [u8; 64] =
        s.signature.try_into().map_err(|_| DecodeError::Inconsistent("a signature must be 64 bytes"))?;
    if s.document.len() > 4096 || s.signer.len() > 64 {
        return Err(DecodeError::Inconsistent("signed document or signer name too long"));
    }
    Ok(Signed { bytes: s.document, signer: s.signer, signature })
}

/// A release decision from its signed document (fields come from the
/// document, so they cannot disagree with what was signed).
pub fn decision_from_signed(signed: Signed) -> Result<ReleaseDecision, DecodeError> {
    let doc =
        DecisionDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed decision document"))?;
    let decision = match doc.verdict {
        Verdict::ApproveFull => Decision::ApproveFull,
        Verdict::ApproveTearline => Decision::ApproveTearline,
        Verdict::Deny => Decision::Deny { reason: doc.reason.clone() },
    };
    Ok(ReleaseDecision {
        request_id: doc.request_id,
        report_id: doc.report_id,
        revision: doc.revision,
        recipient: doc.recipient,
        decision,
        decided_at: doc.decided_at,
        operator: doc.operator,
        manifest_sha256: doc.manifest_sha256,
        signed,
    })
}

/// A grant from its signed document.
pub fn grant_from_signed(signed: Signed) -> Result<Grant, DecodeError> {
    let doc = GrantDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed grant document"))?;
    Ok(Grant { doc, signed })
}

/// A revocation from its signed document.
pub fn revocation_from_signed(signed: Signed) -> Result<Revocation, DecodeError> {
    let doc =
        RevocationDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed revocation document"))?;
    Ok(Revocation { doc, signed })
}

/// SHA-256 of a signed manifest's bytes (what a decision names).
pub fn manifest_digest(manifest: &Signed) -> [u8; 32] {
    sha256(&manifest.bytes)
}

// ---------------------------------------------------------------- reports

/// Header + content → wire report.
pub(crate) fn report_to_proto(
    h: &ReportHeader,
    c: Option<&Content>,
    tearline: Option<&Sensitive>,
    manifest: Option<&Signed>,
) -> proto::IntelligenceReport {
    proto::IntelligenceReport {
        id: h.id.to_string(),
        revision: h.revision,
        originator: party_to(h.originator),
        created_at_ms: h.created_at.as_millis(),
        category: category_to(h.category),
        classification: class_to(h.classification),
        releasable_to: parties_to(h.releasable_to),
        title: c.map(|c| c.title.expose().to_owned()).unwrap_or_default(),
        body: c.map(|c| c.body.expose().to_owned()).unwrap_or_default(),
        tearline: tearline.or_else(|| c.and_then(|c| c.tearline.as_ref())).map(|t| t.expose().to_owned()),
        source_description: c.map(|c| c.source.expose().to_owned()).unwrap_or_default(),
        manifest: manifest.map(signed_to),
    }
}

pub(crate) fn header_from(r: &proto::IntelligenceReport) -> Result<ReportHeader, DecodeError> {
    if r.revision == 0 {
        return Err(DecodeError::Missing("report.revision"));
    }
    Ok(ReportHeader {
        id: report_id("report.id", r.id.clone())?,
        revision: r.revision,
        originator: party_from("report.originator", r.originator)?,
        created_at: Timestamp(r.created_at_ms),
        category: category_from(r.category)?,
        classification: class_from("report.classification", r.classification)?,
        releasable_to: parties_from(&r.releasable_to)?,
    })
}

pub(crate) fn report_from(r: proto::IntelligenceReport) -> Result<Report, DecodeError> {
    let header = header_from(&r)?;
    let manifest = signed_from("report.manifest", r.manifest)?;
    let content = Content {
        title: Sensitive::new(r.title),
        body: Sensitive::new(r.body),
        tearline: r.tearline.map(Sensitive::new),
        source: Sensitive::new(r.source_description),
    };
    Ok(Report { header, content, manifest })
}

fn stage_parts(stage: &Stage) -> (proto::Stage, Option<NotReleasable>, bool) {
    match stage {
        Stage::Accepted => (proto::Stage::Accepted, None, false),
        Stage::NotReleasable(w) => (proto::Stage::NotReleasable, Some(*w), false),
        Stage::Forwarded { tearline_only } => (proto::Stage::Forwarded, None, *tearline_only),
        Stage::Denied => (proto::Stage::Denied, None, false),
        Stage::Expired => (proto::Stage::Expired, None, false),
        Stage::Retracted => (proto::Stage::Retracted, None, false),
    }
}

fn not_releasable_from(p: &proto::Progress) -> Result<NotReleasable, DecodeError> {
    match p.not_releasable_code.as_str() {
        "OUT_OF_SCOPE" => Ok(NotReleasable::OutOfScope(category_from(p.category)?)),
        "ABOVE_CEILING" => Ok(NotReleasable::AboveCeiling {
            classification: class_from("progress.classification", p.classification)?,
            ceiling: class_from("progress.ceiling", p.ceiling)?,
        }),
        "NOT_IN_RELEASABLE_TO" => Ok(NotReleasable::NotInReleasableTo),
        "NOT_A_THIRD_PARTY" => Ok(NotReleasable::NotAThirdParty),
        _ => Err(DecodeError::Missing("progress.not_releasable_code")),
    }
}

// ---------------------------------------------------------------- tracks

fn point_to(p: GeoPoint) -> proto::GeoPoint {
    proto::GeoPoint { lat_e6: p.lat_e6, lon_e6: p.lon_e6 }
}

fn point_from(field: &'static str, p: Option<proto::GeoPoint>) -> Result<GeoPoint, DecodeError> {
    let p = p.ok_or(DecodeError::Missing(field))?;
    let g = GeoPoint { lat_e6: p.lat_e6, lon_e6: p.lon_e6 };
    if !g.is_valid() {
        return Err(DecodeError::Inconsistent("a latitude or longitude is out of range"));
    }
    Ok(g)
}

/// A track's fields (the draft's, plus originator and issue time when signed).
fn track_fields(d: &TrackDoc) -> proto::TrackUpdate {
    proto::TrackUpdate {
        track_id: d.track_id.to_string(),
        seq: d.seq,
        originator: party_to(d.originator),
        classification: class_to(d.classification),
        releasable_to: parties_to(d.releasable_to),
        launch: Some(point_to(d.launch)),
        launched_at_ms: d.launched_at.as_millis(),
        position: Some(point_to(d.position)),
        altitude_m: d.altitude_m,
        observed_at_ms: d.observed_at.as_millis(),
        impact: d.impact.map(point_to),
        issued_at_ms: d.issued_at.as_millis(),
        signed: None,
        grant: None,
    }
}

/// A signed track update → wire.
pub(crate) fn track_to_proto(t: &TrackUpdate) -> proto::TrackUpdate {
    proto::TrackUpdate {
        signed: Some(signed_to(&t.signed)),
        grant: t.consent.as_ref().map(|g| signed_to(&g.signed)),
        ..track_fields(&t.doc)
    }
}

/// A track draft → the wire form of a `track` control request (unsigned).
pub(crate) fn track_draft_to_proto(d: &TrackDraft) -> proto::TrackUpdate {
    proto::TrackUpdate {
        track_id: d.track_id.to_string(),
        seq: d.seq,
        originator: 0,
        classification: class_to(d.classification),
        releasable_to: parties_to(d.releasable_to),
        launch: Some(point_to(d.launch)),
        launched_at_ms: d.launched_at.as_millis(),
        position: Some(point_to(d.position)),
        altitude_m: d.altitude_m,
        observed_at_ms: d.observed_at.as_millis(),
        impact: d.impact.map(point_to),
        issued_at_ms: 0,
        signed: None,
        grant: None,
    }
}

/// The wire form of a `track` control request → a draft. The node signs: a
/// request carrying a signature, grant, originator or issue time is refused.
pub(crate) fn track_draft_from(t: proto::TrackUpdate) -> Result<TrackDraft, DecodeError> {
    if t.signed.is_some() || t.grant.is_some() || t.originator != 0 || t.issued_at_ms != 0 {
        return Err(DecodeError::Inconsistent("a track request carries no signature, grant, originator or issue time"));
    }
    Ok(TrackDraft {
        track_id: TrackId::new(t.track_id).map_err(|source| DecodeError::BadId { field: "track.track_id", source })?,
        seq: t.seq,
        classification: class_from("track.classification", t.classification)?,
        releasable_to: parties_from(&t.releasable_to)?,
        launch: point_from("track.launch", t.launch)?,
        launched_at: Timestamp(t.launched_at_ms),
        position: point_from("track.position", t.position)?,
        altitude_m: t.altitude_m,
        observed_at: Timestamp(t.observed_at_ms),
        impact: t.impact.map(|p| point_from("track.impact", Some(p))).transpose()?,
    })
}

/// Wire → a signed track update. Strict: every field must equal the signed
/// document's.
pub(crate) fn track_from_proto(t: proto::TrackUpdate) -> Result<TrackUpdate, DecodeError> {
    let signed = signed_from("track.signed", t.signed.clone())?;
    let doc = TrackDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed track document"))?;
    let fields = proto::TrackUpdate { signed: None, grant: None, ..t.clone() };
    if fields != track_fields(&doc) {
        return Err(DecodeError::Inconsistent("track fields differ from the signed track document"));
    }
    let consent = match t.grant {
        None => None,
        Some(g) => Some(grant_from_signed(signed_from("track.grant", Some(g))?)?),
    };
    Ok(TrackUpdate { doc, signed, consent })
}

// ---------------------------------------------------------------- envelope

pub(crate) fn envelope_to_proto(env: &Envelope) -> proto::Envelope {
    use proto::envelope::Payload as P;
    let payload = match &env.payload {
        Payload::Report(r) => P::Report(report_to_proto(&r.header, Some(&r.content), None, Some(&r.manifest))),
        Payload::ReleaseRequest(r) => P::ReleaseRequest(proto::ReleaseRequest {
            request_id: r.request_id.to_string(),
            report_id: r.report_id.to_string(),
            revision: r.revision,
            recipient: party_to(r.recipient),
            requested_at_ms: r.requested_at.as_millis(),
            expires_at_ms: r.expires_at.as_millis(),
        }),
        Payload::ReleaseDecision(d) => {
            P::ReleaseDecision(proto::ReleaseDecision { signed: Some(signed_to(&d.signed)) })
        }
        Payload::Grant(g) => P::Grant(proto::Grant { signed: Some(signed_to(&g.signed)) }),
        Payload::Revocation(r) => P::Revocation(proto::Revocation { signed: Some(signed_to(&r.signed)) }),
        Payload::Receipt(r) => P::Receipt(proto::Receipt {
            signed: Some(signed_to(&r.signed)),
            audit_head: r.audit_head.as_ref().map(signed_to),
        }),
        Payload::Retraction(r) => {
            P::Retraction(proto::Retraction { signed: Some(signed_to(&r.signed)), reason: r.doc.reason.clone() })
        }
        Payload::Delivery(d) => P::Delivery(delivery_to_proto(d)),
        Payload::Track(t) => P::Track(track_to_proto(t)),
        Payload::Progress(p) => {
            let (stage, why, tearline_only) = stage_parts(&p.stage);
            let mut out = proto::Progress {
                report_id: p.report_id.to_string(),
                revision: p.revision,
                recipient: p.recipient.map(party_to).unwrap_or(0),
                stage: stage as i32,
                tearline_only,
                ..Default::default()
            };
            if let Some(w) = why {
                out.not_releasable_code = w.code().to_owned();
                match w {
                    NotReleasable::OutOfScope(c) => out.category = category_to(c),
                    NotReleasable::AboveCeiling { classification, ceiling } => {
                        out.classification = class_to(classification);
                        out.ceiling = class_to(ceiling);
                    }
                    _ => {}
                }
            }
            P::Progress(out)
        }
        Payload::Rejection(r) => P::Rejection(proto::Rejection {
            refers_to: r.refers_to.to_string(),
            code: r.code.clone(),
            detail: r.detail.clone(),
            report_id: r.report_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            request_id: r.request_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        }),
    };
    proto::Envelope {
        version: env.version,
        message_id: env.message_id.to_string(),
        sender: party_to(env.sender),
        sent_at_ms: env.sent_at.as_millis(),
        payload: Some(payload),
    }
}

pub(crate) fn delivery_to_proto(d: &Delivery) -> proto::Delivery {
    use proto::delivery::Consent as C;
    let (report, tearline_only) = match &d.released {
        Released::Full(c) => (report_to_proto(&d.header, Some(c), None, Some(&d.manifest)), false),
        Released::Tearline(t) => (report_to_proto(&d.header, None, Some(t), Some(&d.manifest)), true),
    };
    let consent = d.consent.as_ref().map(|c| match c {
        Consent::Decision(dec) => C::Decision(signed_to(&dec.signed)),
        Consent::Grant(g) => C::Grant(signed_to(&g.signed)),
    });
    proto::Delivery {
        report: Some(report),
        basis: match d.basis {
            Basis::Trilateral => proto::Basis::Trilateral,
            Basis::Bilateral => proto::Basis::Bilateral,
        } as i32,
        request_id: d.request_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        tearline_only,
        consent,
    }
}

pub(crate) fn delivery_from(d: proto::Delivery) -> Result<Delivery, DecodeError> {
    use proto::delivery::Consent as C;
    let mut r = d.report.ok_or(DecodeError::Missing("delivery.report"))?;
    let header = header_from(&r)?;
    let manifest = signed_from("delivery.report.manifest", r.manifest.take())?;
    let consent = match d.consent {
        None => None,
        Some(C::Decision(s)) => {
            Some(Consent::Decision(decision_from_signed(signed_from("delivery.decision", Some(s))?)?))
        }
        Some(C::Grant(s)) => Some(Consent::Grant(grant_from_signed(signed_from("delivery.grant", Some(s))?)?)),
    };
    let released = if d.tearline_only {
        if !r.title.is_empty() || !r.body.is_empty() || !r.source_description.is_empty() {
            return Err(DecodeError::Inconsistent("tearline-only delivery carries title, body or source"));
        }
        Released::Tearline(Sensitive::new(r.tearline.ok_or(DecodeError::Missing("delivery.report.tearline"))?))
    } else {
        Released::Full(Content {
            title: Sensitive::new(r.title),
            body: Sensitive::new(r.body),
            tearline: r.tearline.map(Sensitive::new),
            source: Sensitive::new(r.source_description),
        })
    };
    let basis = match proto::Basis::try_from(d.basis) {
        Ok(proto::Basis::Trilateral) => Basis::Trilateral,
        Ok(proto::Basis::Bilateral) => Basis::Bilateral,
        _ => return Err(DecodeError::BadEnum { field: "delivery.basis", value: d.basis }),
    };
    Ok(Delivery {
        header,
        released,
        basis,
        request_id: opt_request_id("delivery.request_id", d.request_id)?,
        manifest,
        consent,
    })
}

pub(crate) fn envelope_from_proto(p: proto::Envelope) -> Result<Envelope, DecodeError> {
    use proto::envelope::Payload as P;
    if p.version != PROTOCOL_VERSION {
        return Err(DecodeError::Version(p.version));
    }
    let payload = match p.payload.ok_or(DecodeError::Missing("envelope.payload"))? {
        P::Report(r) => Payload::Report(report_from(r)?),
        P::ReleaseRequest(r) => Payload::ReleaseRequest(ReleaseRequest {
            request_id: request_id("release_request.request_id", r.request_id)?,
            report_id: report_id("release_request.report_id", r.report_id)?,
            revision: r.revision,
            recipient: party_from("release_request.recipient", r.recipient)?,
            requested_at: Timestamp(r.requested_at_ms),
            expires_at: Timestamp(r.expires_at_ms),
        }),
        P::ReleaseDecision(d) => {
            Payload::ReleaseDecision(decision_from_signed(signed_from("release_decision.signed", d.signed)?)?)
        }
        P::Grant(g) => Payload::Grant(grant_from_signed(signed_from("grant.signed", g.signed)?)?),
        P::Revocation(r) => Payload::Revocation(revocation_from_signed(signed_from("revocation.signed", r.signed)?)?),
        P::Receipt(r) => {
            let signed = signed_from("receipt.signed", r.signed)?;
            let doc = tisa_core::sign::ReceiptDoc::parse(&signed.bytes)
                .map_err(|_| DecodeError::Inconsistent("malformed receipt document"))?;
            let audit_head = r.audit_head.map(|h| signed_from("receipt.audit_head", Some(h))).transpose()?;
            Payload::Receipt(tisa_core::Receipt { doc, signed, audit_head })
        }
        P::Retraction(r) => {
            if r.reason.len() > tisa_core::node::limits::REASON {
                return Err(DecodeError::Inconsistent("retraction reason over its limit"));
            }
            let signed = signed_from("retraction.signed", r.signed)?;
            let doc = tisa_core::sign::RetractionDoc::parse(&signed.bytes, &r.reason)
                .map_err(|_| DecodeError::Inconsistent("malformed retraction document or reason"))?;
            Payload::Retraction(tisa_core::Retraction { doc, signed })
        }
        P::Delivery(d) => Payload::Delivery(delivery_from(d)?),
        P::Track(t) => Payload::Track(track_from_proto(t)?),
        P::Progress(pr) => {
            let stage = match proto::Stage::try_from(pr.stage) {
                Ok(proto::Stage::Accepted) => Stage::Accepted,
                Ok(proto::Stage::NotReleasable) => Stage::NotReleasable(not_releasable_from(&pr)?),
                Ok(proto::Stage::Forwarded) => Stage::Forwarded { tearline_only: pr.tearline_only },
                Ok(proto::Stage::Denied) => Stage::Denied,
                Ok(proto::Stage::Expired) => Stage::Expired,
                Ok(proto::Stage::Retracted) => Stage::Retracted,
                _ => return Err(DecodeError::BadEnum { field: "progress.stage", value: pr.stage }),
            };
            Payload::Progress(Progress {
                report_id: report_id("progress.report_id", pr.report_id)?,
                revision: pr.revision,
                recipient: opt_party_from("progress.recipient", pr.recipient)?,
                stage,
            })
        }
        P::Rejection(r) => Payload::Rejection(Rejection {
            refers_to: MessageId::new(r.refers_to)
                .map_err(|source| DecodeError::BadId { field: "rejection.refers_to", source })?,
            code: r.code.chars().take(64).collect(),
            detail: r.detail.chars().take(512).collect(),
            report_id: opt_report_id("rejection.report_id", r.report_id)?,
            request_id: opt_request_id("rejection.request_id", r.request_id)?,
        }),
    };
    Ok(Envelope {
        version: p.version,
        message_id: MessageId::new(p.message_id)
            .map_err(|source| DecodeError::BadId { field: "envelope.message_id", source })?,
        sender: party_from("envelope.sender", p.sender)?,
        sent_at: Timestamp(p.sent_at_ms),
        payload,
    })
}
