//! The release decision an originator's approver signs.

use super::canonical::{canonical, hex, one_line, Digest32, Doc, Reader, SigError};
use crate::ids::{ReportId, RequestId};
use crate::types::{Party, Timestamp};

/// What the originator decided, as signed by its approver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Release everything.
    ApproveFull,
    /// Release only the tearline.
    ApproveTearline,
    /// Refuse, for good.
    Deny,
}

impl Verdict {
    /// The verdict as the signed document writes it (`APPROVE_FULL`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::ApproveFull => "APPROVE_FULL",
            Verdict::ApproveTearline => "APPROVE_TEARLINE",
            Verdict::Deny => "DENY",
        }
    }
    fn parse(s: &str) -> Option<Verdict> {
        match s {
            "APPROVE_FULL" => Some(Verdict::ApproveFull),
            "APPROVE_TEARLINE" => Some(Verdict::ApproveTearline),
            "DENY" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

/// A release decision, as its approver signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionDoc {
    /// SHA-256 of the report's canonical manifest.
    pub manifest_sha256: Digest32,
    /// The request decided.
    pub request_id: RequestId,
    /// The report the request is about (must match it).
    pub report_id: ReportId,
    /// Its revision (must match the request's).
    pub revision: u32,
    /// The third party it is released to (must match the request's).
    pub recipient: Party,
    /// Release in full, the tearline only, or deny.
    pub verdict: Verdict,
    /// For a denial: why (one line, operational text).
    pub reason: String,
    /// When, by the approver's clock.
    pub decided_at: Timestamp,
    /// The approver (also the signing key's name).
    pub operator: String,
}

impl DecisionDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("decision")
            .kv("manifest_sha256", hex(&self.manifest_sha256))
            .kv("request_id", &self.request_id)
            .kv("report_id", &self.report_id)
            .kv("revision", self.revision)
            .kv("recipient", self.recipient.code())
            .kv("verdict", self.verdict.as_str())
            .kv("reason", one_line(&self.reason))
            .kv("decided_at", self.decided_at.as_millis())
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<DecisionDoc, SigError> {
        const K: &str = "decision";
        let mut r = Reader::new(bytes, K)?;
        let d = DecisionDoc {
            manifest_sha256: r.digest("manifest_sha256")?,
            request_id: RequestId::new(r.get("request_id")?).map_err(|_| SigError::Malformed(K))?,
            report_id: ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?,
            revision: r.parse("revision")?,
            recipient: r.parse("recipient")?,
            verdict: Verdict::parse(r.get("verdict")?).ok_or(SigError::Malformed(K))?,
            reason: r.get("reason")?.to_owned(),
            decided_at: Timestamp(r.parse("decided_at")?),
            operator: r.get("operator")?.to_owned(),
        };
        r.end()?;
        canonical(bytes, d, DecisionDoc::to_bytes, K)
    }
}
