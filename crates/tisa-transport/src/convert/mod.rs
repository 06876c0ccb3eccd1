//! prost ⇄ domain conversion: the only place that knows both.
//!
//! One trait, [`Wire`], implemented once per domain type that has a
//! protobuf message of its own (envelopes and their payloads here, the
//! control protocol in [`crate::control`], the input log in
//! [`crate::input_log`]). Leaf values (enums, ids, signatures) have helper
//! functions that take the field's name, for error messages.
//!
//! Decoding is strict: unspecified enums, bad ids and contradictory fields
//! are errors, never defaults, so the core only ever sees well-formed input.

mod envelope;
mod report;
mod track;

use prost::Message;
use tisa_core::sign::{sha256, DecisionDoc, GrantDoc, RevocationDoc, Verdict};
use tisa_core::{
    Category, Classification, Decision, Grant, Party, PartySet, ReleaseDecision, ReportId, RequestId, Revocation,
    Signed,
};

use crate::error::DecodeError;
use crate::proto;

pub use envelope::{
    decode_envelope, decode_inbound, decode_inbound_shared, encode_batch, encode_envelope, peek_message_id,
};
pub(crate) use report::{header_from, not_releasable_from, not_releasable_to, report_from, report_to_proto};

/// A domain type and its protobuf message: the one conversion between them.
/// `from_proto` is strict (see the module docs); `from_proto(to_proto(x))`
/// gives `x` back.
pub trait Wire: Sized {
    /// The prost message.
    type Proto: Message + Default;

    /// Domain → wire.
    fn to_proto(&self) -> Self::Proto;

    /// Wire → domain, refusing anything unspecified or contradictory.
    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError>;

    /// Encodes to protobuf bytes.
    fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes protobuf bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_proto(Self::Proto::decode(bytes)?)
    }
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

pub(crate) fn opt_category_from(v: i32) -> Result<Option<Category>, DecodeError> {
    if v == 0 {
        Ok(None)
    } else {
        category_from(v).map(Some)
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

pub(crate) fn opt_class_from(field: &'static str, v: i32) -> Result<Option<Classification>, DecodeError> {
    if v == 0 {
        Ok(None)
    } else {
        class_from(field, v).map(Some)
    }
}

pub(crate) fn parties_to(s: PartySet) -> Vec<i32> {
    s.iter().map(party_to).collect()
}

pub(crate) fn parties_from(v: &[i32]) -> Result<PartySet, DecodeError> {
    v.iter().map(|p| party_from("releasable_to", *p)).collect()
}

// ---------------------------------------------------------------- decisions

pub(crate) fn verdict_to(v: Verdict) -> i32 {
    (match v {
        Verdict::ApproveFull => proto::DecisionKind::ApproveFull,
        Verdict::ApproveTearline => proto::DecisionKind::ApproveTearline,
        Verdict::Deny => proto::DecisionKind::Deny,
    }) as i32
}

pub(crate) fn verdict_from(v: i32) -> Result<Verdict, DecodeError> {
    match proto::DecisionKind::try_from(v) {
        Ok(proto::DecisionKind::ApproveFull) => Ok(Verdict::ApproveFull),
        Ok(proto::DecisionKind::ApproveTearline) => Ok(Verdict::ApproveTearline),
        Ok(proto::DecisionKind::Deny) => Ok(Verdict::Deny),
        _ => Err(DecodeError::BadEnum { field: "decision", value: v }),
    }
}

// ---------------------------------------------------------------- ids

pub(crate) fn report_id(field: &'static str, s: String) -> Result<ReportId, DecodeError> {
    ReportId::new(s).map_err(|source| DecodeError::BadId { field, source })
}

pub(crate) fn request_id(field: &'static str, s: String) -> Result<RequestId, DecodeError> {
    RequestId::new(s).map_err(|source| DecodeError::BadId { field, source })
}

pub(crate) fn opt_report_id(field: &'static str, s: String) -> Result<Option<ReportId>, DecodeError> {
    if s.is_empty() {
        Ok(None)
    } else {
        report_id(field, s).map(Some)
    }
}

pub(crate) fn opt_request_id(field: &'static str, s: String) -> Result<Option<RequestId>, DecodeError> {
    if s.is_empty() {
        Ok(None)
    } else {
        request_id(field, s).map(Some)
    }
}

/// An optional string field: empty on the wire means absent.
pub(crate) fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// An optional timestamp field: 0 on the wire means absent.
pub(crate) fn non_zero(ms: u64) -> Option<tisa_core::Timestamp> {
    (ms != 0).then_some(tisa_core::Timestamp(ms))
}

// ---------------------------------------------------------------- signatures

pub(crate) fn signed_to(s: &Signed) -> proto::Signed {
    let (batch_index, batch_size, batch_path) = match &s.batch {
        None => (0, 0, Vec::new()),
        Some(p) => (p.index, p.size, p.path.iter().map(|h| h.to_vec()).collect()),
    };
    proto::Signed {
        document: s.bytes.clone(),
        signer: s.signer.clone(),
        signature: s.signature.to_vec(),
        batch_index,
        batch_size,
        batch_path,
    }
}

pub(crate) fn signed_from(field: &'static str, s: Option<proto::Signed>) -> Result<Signed, DecodeError> {
    let s = s.ok_or(DecodeError::Missing(field))?;
    let signature: [u8; 64] =
        s.signature.try_into().map_err(|_| DecodeError::Inconsistent("a signature must be 64 bytes"))?;
    if s.document.len() > 4096 || s.signer.len() > 64 {
        return Err(DecodeError::Inconsistent("signed document or signer name too long"));
    }
    let batch = match s.batch_size {
        0 if s.batch_index == 0 && s.batch_path.is_empty() => None,
        0 => return Err(DecodeError::Inconsistent("a batch proof without a batch size")),
        size => {
            // Bounded before the hashes are copied out.
            if s.batch_path.len() > tisa_core::sign::MAX_PATH {
                return Err(DecodeError::Inconsistent("a batch proof's path is too long"));
            }
            let path = s
                .batch_path
                .into_iter()
                .map(<[u8; 32]>::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| DecodeError::Inconsistent("a batch proof's hashes must be 32 bytes"))?;
            let proof = tisa_core::sign::BatchProof { index: s.batch_index, size, path };
            if !proof.well_formed() {
                return Err(DecodeError::Inconsistent("a batch proof's size or index is out of range"));
            }
            Some(Box::new(proof))
        }
    };
    Ok(Signed { bytes: s.document, signer: s.signer, signature, batch })
}

/// A release decision from its signed document (fields come from the
/// document, so they cannot disagree with what was signed).
pub fn decision_from_signed(signed: Signed) -> Result<ReleaseDecision, DecodeError> {
    let doc =
        DecisionDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed decision document"))?;
    Ok(ReleaseDecision {
        request_id: doc.request_id,
        report_id: doc.report_id,
        revision: doc.revision,
        recipient: doc.recipient,
        decision: Decision::from_verdict(doc.verdict, doc.reason),
        decided_at: doc.decided_at,
        operator: doc.operator,
        manifest_sha256: doc.manifest_sha256,
        signed,
    })
}

/// A grant from its signed document and its co-signature, if any.
pub fn grant_from_signed(signed: Signed, cosign: Option<proto::Signed>) -> Result<Grant, DecodeError> {
    let doc = GrantDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed grant document"))?;
    let cosign = cosign.map(|c| signed_from("grant.cosign", Some(c))).transpose()?;
    Ok(Grant { doc, signed, cosign })
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
