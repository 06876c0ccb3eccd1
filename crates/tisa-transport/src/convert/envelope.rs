//! Envelopes and the payloads they carry between parties, batches, and the
//! message id of an envelope that does not decode.

use std::ops::Range;

use prost::Message;
use tisa_core::{
    Envelope, MessageId, Payload, Progress, Receipt, Rejection, ReleaseRequest, Retraction, Stage, Standing, Timestamp,
    PROTOCOL_VERSION, PROTOCOL_VERSION_MINOR,
};

use super::{
    decision_from_signed, grant_from_signed, not_releasable_from, not_releasable_to, opt_party_from, opt_report_id,
    opt_request_id, party_from, party_to, report_id, request_id, revocation_from_signed, signed_from, signed_to, Wire,
};
use crate::error::DecodeError;
use crate::proto;

/// Encodes an envelope for the wire.
pub fn encode_envelope(env: &Envelope) -> Vec<u8> {
    env.encode()
}

/// Decodes what arrived on a link subject: one envelope (its payload kind
/// must match the subject), or on a `batch` subject every envelope of an
/// [`proto::EnvelopeBatch`], in order (at least one; any bad one fails the batch).
pub fn decode_inbound(subject: &str, bytes: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    Ok(decode_inbound_parts(subject, bytes)?.into_iter().map(|(e, _)| e).collect())
}

/// [`decode_inbound`], each envelope with its own bytes as they came: a
/// slice of `bytes`, shared, not copied (the node logs an inbound message
/// as these bytes, [`crate::input_log::encode_inbound`], instead of
/// encoding the decoded envelope again).
pub fn decode_inbound_shared(
    subject: &str,
    bytes: &bytes::Bytes,
) -> Result<Vec<(Envelope, bytes::Bytes)>, DecodeError> {
    Ok(decode_inbound_parts(subject, bytes)?.into_iter().map(|(e, r)| (e, bytes.slice(r))).collect())
}

/// What [`decode_inbound`] decodes, each envelope with where its bytes lie.
fn decode_inbound_parts(subject: &str, bytes: &[u8]) -> Result<Vec<(Envelope, Range<usize>)>, DecodeError> {
    if crate::subjects::kind_of(subject) != crate::subjects::BATCH {
        return decode_envelope(subject, bytes).map(|e| vec![(e, 0..bytes.len())]);
    }
    if let Some(v) = leading_version(bytes, BATCH_VERSION_FIELDS).filter(|v| v.0 != PROTOCOL_VERSION) {
        return Err(DecodeError::VersionMismatch { major: v.0, minor: v.1 });
    }
    let (ranges, version) = batch_parts(bytes)?;
    let envelopes: Vec<proto::Envelope> =
        ranges.iter().map(|r| proto::Envelope::decode(&bytes[r.clone()])).collect::<Result<_, _>>()?;
    if envelopes.is_empty() {
        return Err(DecodeError::Missing("envelope_batch.envelopes"));
    }
    if version.0 != PROTOCOL_VERSION {
        // A batch of a version before batches carried one: name its envelopes'.
        let (major, minor) = envelopes.first().map_or((0, 0), |e| (e.version, e.version_minor));
        return Err(DecodeError::VersionMismatch { major, minor });
    }
    envelopes.into_iter().zip(ranges).map(|(e, r)| Ok((Envelope::from_proto(e)?, r))).collect()
}

/// Where each envelope of a batch lies in its bytes, in order, and the
/// batch's version (major, minor).
type BatchParts = (Vec<Range<usize>>, (u32, u32));

/// The fields of an [`proto::EnvelopeBatch`] as they lie in `bytes`: where
/// each envelope is (field 1, in order), and the batch's version (fields 2
/// and 3). A field prost would refuse is refused with prost's error.
fn batch_parts(bytes: &[u8]) -> Result<BatchParts, DecodeError> {
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
    let (mut ranges, mut version) = (Vec::new(), (0u32, 0u32));
    let mut buf = bytes;
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf)?;
        let field = buf;
        // Checks the field (its length within the batch, …) and steps over it.
        skip_field(wire_type, tag, &mut buf, DecodeContext::default())?;
        let mut value = field;
        match (tag, wire_type) {
            (1, WireType::LengthDelimited) => {
                let len = decode_varint(&mut value)? as usize;
                let start = bytes.len() - value.len();
                ranges.push(start..start + len);
            }
            // Out-of-range versions are truncated as prost truncates them.
            (2, WireType::Varint) => version.0 = decode_varint(&mut value)? as u32,
            (3, WireType::Varint) => version.1 = decode_varint(&mut value)? as u32,
            // A known field of another wire type: prost's own refusal.
            (1..=3, _) => {
                let e = proto::EnvelopeBatch::decode(bytes).err();
                return Err(e.map_or(DecodeError::Inconsistent("a batch field of another wire type"), Into::into));
            }
            _ => {}
        }
    }
    Ok((ranges, version))
}

/// Encodes envelopes for a `batch` subject.
pub fn encode_batch(envs: &[&Envelope]) -> Vec<u8> {
    proto::EnvelopeBatch {
        envelopes: envs.iter().map(|e| e.to_proto()).collect(),
        version: PROTOCOL_VERSION,
        version_minor: PROTOCOL_VERSION_MINOR,
    }
    .encode_to_vec()
}

/// Envelope fields `version`, `version_minor`.
const ENVELOPE_VERSION_FIELDS: (u64, u64) = (1, 5);
/// EnvelopeBatch fields `version`, `version_minor`.
const BATCH_VERSION_FIELDS: (u64, u64) = (2, 3);

/// The protocol version (major, minor) from the leading fields of `bytes`,
/// read before the rest is decoded (another major may lay its payload out
/// differently, or a message may be cut short after it). `None` if the major
/// field does not come before the end or the damage.
fn leading_version(bytes: &[u8], (major_field, minor_field): (u64, u64)) -> Option<(u32, u32)> {
    let (mut major, mut minor) = (None, 0u32);
    scan_leading_fields(bytes, |field, value| {
        if let FieldValue::Varint(v) = value {
            if field == major_field {
                major = u32::try_from(v).ok().or(Some(u32::MAX));
            } else if field == minor_field {
                minor = u32::try_from(v).unwrap_or(u32::MAX);
            }
        }
        true
    });
    major.map(|m| (m, minor))
}

/// A field's value as [`scan_leading_fields`] sees it.
enum FieldValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Calls `visit` with each top-level field of `bytes` in order until the
/// end, the first damage, or `visit` returning `false`.
fn scan_leading_fields<'a>(bytes: &'a [u8], mut visit: impl FnMut(u64, FieldValue<'a>) -> bool) {
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
    let mut next = || -> Option<(u64, FieldValue<'a>)> {
        let key = varint(bytes, &mut i)?;
        let (field, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => FieldValue::Varint(varint(bytes, &mut i)?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                i = i.checked_add(n).filter(|e| *e <= bytes.len())?;
                FieldValue::Fixed
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut i)?).ok()?;
                let end = i.checked_add(len)?;
                let value = bytes.get(i..end)?;
                i = end;
                FieldValue::Bytes(value)
            }
            _ => return None,
        };
        Some((field, value))
    };
    while let Some((field, value)) = next() {
        if !visit(field, value) {
            return;
        }
    }
}

/// Decodes an envelope received on `subject`; its payload kind must match the
/// subject's last token.
pub fn decode_envelope(subject: &str, bytes: &[u8]) -> Result<Envelope, DecodeError> {
    if let Some(v) = leading_version(bytes, ENVELOPE_VERSION_FIELDS).filter(|v| v.0 != PROTOCOL_VERSION) {
        return Err(DecodeError::VersionMismatch { major: v.0, minor: v.1 });
    }
    let env = Envelope::decode(bytes)?;
    let subject_kind = crate::subjects::kind_of(subject);
    if subject_kind != env.payload.kind() {
        return Err(DecodeError::KindMismatch { subject: subject_kind.to_owned(), payload: env.payload.kind() });
    }
    // A track's own subject names its track: the track stream keeps each
    // subject's latest updates, so an update on another track's subject
    // would push that track's out.
    if let (Some(token), tisa_core::Payload::Track(t)) = (crate::subjects::track_token_of(subject), &env.payload) {
        if token != crate::subjects::track_token(t.doc.track_id.as_str()) {
            return Err(DecodeError::Inconsistent("the track subject names another track than the update"));
        }
    }
    Ok(env)
}

/// The envelope's message id, read from the leading fields of bytes that
/// may not decode as a whole (a truncated or otherwise broken envelope), for
/// dead letters. `None` unless field 2 comes before the damage and is a
/// valid message id (so it can never carry arbitrary payload text).
pub fn peek_message_id(bytes: &[u8]) -> Option<MessageId> {
    let mut found = None;
    scan_leading_fields(bytes, |field, value| match value {
        FieldValue::Bytes(v) if field == 2 => {
            found = std::str::from_utf8(v).ok().and_then(|s| MessageId::new(s).ok());
            false
        }
        _ => true,
    });
    found
}

impl Wire for Envelope {
    type Proto = proto::Envelope;

    fn to_proto(&self) -> Self::Proto {
        use proto::envelope::Payload as P;
        let payload = match &self.payload {
            Payload::Report(r) => P::Report(r.to_proto()),
            Payload::ReleaseRequest(r) => P::ReleaseRequest(r.to_proto()),
            Payload::ReleaseDecision(d) => {
                P::ReleaseDecision(proto::ReleaseDecision { signed: Some(signed_to(&d.signed)) })
            }
            Payload::Grant(g) => {
                P::Grant(proto::Grant { signed: Some(signed_to(&g.signed)), cosign: g.cosign.as_ref().map(signed_to) })
            }
            Payload::Revocation(r) => P::Revocation(proto::Revocation { signed: Some(signed_to(&r.signed)) }),
            Payload::Receipt(r) => P::Receipt(proto::Receipt {
                signed: Some(signed_to(&r.signed)),
                audit_head: r.audit_head.as_ref().map(signed_to),
            }),
            Payload::Retraction(r) => {
                P::Retraction(proto::Retraction { signed: Some(signed_to(&r.signed)), reason: r.doc.reason.clone() })
            }
            Payload::Standing(st) => P::Standing(proto::Standing { signed: Some(signed_to(&st.signed)) }),
            Payload::Delivery(d) => P::Delivery(d.to_proto()),
            Payload::Track(t) => P::Track(t.to_proto()),
            Payload::Progress(p) => P::Progress(p.to_proto()),
            Payload::Rejection(r) => P::Rejection(r.to_proto()),
            Payload::Hello => P::Hello(proto::Hello {}),
        };
        proto::Envelope {
            version: self.version,
            version_minor: PROTOCOL_VERSION_MINOR,
            message_id: self.message_id.to_string(),
            sender: party_to(self.sender),
            sent_at_ms: self.sent_at.as_millis(),
            agreement_version: self.agreement.version,
            agreement_sha256: self.agreement.hash.to_vec(),
            payload: Some(payload),
        }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        use proto::envelope::Payload as P;
        if p.version != PROTOCOL_VERSION {
            return Err(DecodeError::VersionMismatch { major: p.version, minor: p.version_minor });
        }
        let payload = match p.payload.ok_or(DecodeError::Missing("envelope.payload"))? {
            P::Report(r) => Payload::Report(Wire::from_proto(r)?),
            P::ReleaseRequest(r) => Payload::ReleaseRequest(ReleaseRequest::from_proto(r)?),
            P::ReleaseDecision(d) => {
                Payload::ReleaseDecision(decision_from_signed(signed_from("release_decision.signed", d.signed)?)?)
            }
            P::Grant(g) => Payload::Grant(grant_from_signed(signed_from("grant.signed", g.signed)?, g.cosign)?),
            P::Revocation(r) => {
                Payload::Revocation(revocation_from_signed(signed_from("revocation.signed", r.signed)?)?)
            }
            P::Receipt(r) => {
                let signed = signed_from("receipt.signed", r.signed)?;
                let doc = tisa_core::sign::ReceiptDoc::parse(&signed.bytes)
                    .map_err(|_| DecodeError::Inconsistent("malformed receipt document"))?;
                let audit_head = r.audit_head.map(|h| signed_from("receipt.audit_head", Some(h))).transpose()?;
                Payload::Receipt(Receipt { doc, signed, audit_head })
            }
            P::Retraction(r) => {
                if r.reason.len() > tisa_core::node::limits::REASON {
                    return Err(DecodeError::Inconsistent("retraction reason over its limit"));
                }
                let signed = signed_from("retraction.signed", r.signed)?;
                let doc = tisa_core::sign::RetractionDoc::parse(&signed.bytes, &r.reason)
                    .map_err(|_| DecodeError::Inconsistent("malformed retraction document or reason"))?;
                Payload::Retraction(Retraction { doc, signed })
            }
            P::Standing(st) => {
                let signed = signed_from("standing.signed", st.signed)?;
                let doc = tisa_core::sign::StandingDoc::parse(&signed.bytes)
                    .map_err(|_| DecodeError::Inconsistent("malformed standing statement"))?;
                Payload::Standing(Standing { doc, signed })
            }
            P::Delivery(d) => Payload::Delivery(Wire::from_proto(d)?),
            P::Track(t) => Payload::Track(Wire::from_proto(t)?),
            P::Progress(pr) => Payload::Progress(Progress::from_proto(pr)?),
            P::Rejection(r) => Payload::Rejection(Rejection::from_proto(r)?),
            P::Hello(_) => Payload::Hello,
        };
        let hash: [u8; 32] = p
            .agreement_sha256
            .try_into()
            .map_err(|_| DecodeError::Inconsistent("envelope.agreement_sha256 is not 32 bytes"))?;
        Ok(Envelope {
            version: p.version,
            message_id: MessageId::new(p.message_id)
                .map_err(|source| DecodeError::BadId { field: "envelope.message_id", source })?,
            sender: party_from("envelope.sender", p.sender)?,
            sent_at: Timestamp(p.sent_at_ms),
            agreement: tisa_core::AgreementTag { version: p.agreement_version, hash },
            payload,
        })
    }
}

impl Wire for ReleaseRequest {
    type Proto = proto::ReleaseRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::ReleaseRequest {
            request_id: self.request_id.to_string(),
            report_id: self.report_id.to_string(),
            revision: self.revision,
            recipient: party_to(self.recipient),
            requested_at_ms: self.requested_at.as_millis(),
            expires_at_ms: self.expires_at.as_millis(),
        }
    }

    fn from_proto(r: Self::Proto) -> Result<Self, DecodeError> {
        Ok(ReleaseRequest {
            request_id: request_id("release_request.request_id", r.request_id)?,
            report_id: report_id("release_request.report_id", r.report_id)?,
            revision: r.revision,
            recipient: party_from("release_request.recipient", r.recipient)?,
            requested_at: Timestamp(r.requested_at_ms),
            expires_at: Timestamp(r.expires_at_ms),
        })
    }
}

impl Wire for Progress {
    type Proto = proto::Progress;

    fn to_proto(&self) -> Self::Proto {
        let (stage, why, tearline_only) = match &self.stage {
            Stage::Accepted => (proto::Stage::Accepted, None, false),
            Stage::NotReleasable(w) => (proto::Stage::NotReleasable, Some(*w), false),
            Stage::Forwarded { tearline_only } => (proto::Stage::Forwarded, None, *tearline_only),
            Stage::Denied => (proto::Stage::Denied, None, false),
            Stage::Expired => (proto::Stage::Expired, None, false),
            Stage::Retracted => (proto::Stage::Retracted, None, false),
        };
        let mut out = proto::Progress {
            report_id: self.report_id.to_string(),
            revision: self.revision,
            recipient: self.recipient.map(party_to).unwrap_or(0),
            stage: stage as i32,
            tearline_only,
            ..Default::default()
        };
        if let Some(w) = why {
            (out.not_releasable_code, out.category, out.classification, out.ceiling) = not_releasable_to(w);
        }
        out
    }

    fn from_proto(pr: Self::Proto) -> Result<Self, DecodeError> {
        let stage = match proto::Stage::try_from(pr.stage) {
            Ok(proto::Stage::Accepted) => Stage::Accepted,
            Ok(proto::Stage::NotReleasable) => Stage::NotReleasable(not_releasable_from(
                ["progress.not_releasable_code", "progress.classification", "progress.ceiling"],
                &pr.not_releasable_code,
                pr.category,
                pr.classification,
                pr.ceiling,
            )?),
            Ok(proto::Stage::Forwarded) => Stage::Forwarded { tearline_only: pr.tearline_only },
            Ok(proto::Stage::Denied) => Stage::Denied,
            Ok(proto::Stage::Expired) => Stage::Expired,
            Ok(proto::Stage::Retracted) => Stage::Retracted,
            _ => return Err(DecodeError::BadEnum { field: "progress.stage", value: pr.stage }),
        };
        Ok(Progress {
            report_id: report_id("progress.report_id", pr.report_id)?,
            revision: pr.revision,
            recipient: opt_party_from("progress.recipient", pr.recipient)?,
            stage,
        })
    }
}

impl Wire for Rejection {
    type Proto = proto::Rejection;

    fn to_proto(&self) -> Self::Proto {
        proto::Rejection {
            refers_to: self.refers_to.to_string(),
            code: self.code.clone(),
            detail: self.detail.clone(),
            report_id: self.report_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            request_id: self.request_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        }
    }

    fn from_proto(r: Self::Proto) -> Result<Self, DecodeError> {
        Ok(Rejection {
            refers_to: MessageId::new(r.refers_to)
                .map_err(|source| DecodeError::BadId { field: "rejection.refers_to", source })?,
            code: r.code.chars().take(64).collect(),
            detail: r.detail.chars().take(512).collect(),
            report_id: opt_report_id("rejection.report_id", r.report_id)?,
            request_id: opt_request_id("rejection.request_id", r.request_id)?,
        })
    }
}
