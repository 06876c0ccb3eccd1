//! A retraction, signed by the originator's node.

use super::canonical::{canonical, hex, sha256, Doc, Reader, SigError};
use crate::ids::ReportId;
use crate::types::{Party, Timestamp};

/// Withdrawal of a report already submitted (every revision): signed by
/// the originator's node. It travels the path the report took and needs no
/// new approval: it only takes information back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractionDoc {
    /// The report withdrawn (all its revisions).
    pub report_id: ReportId,
    /// Its originator (the signer's party).
    pub originator: Party,
    /// When, by the originator's clock.
    pub retracted_at: Timestamp,
    /// Why, in the operator's words (shown to holders; never logged).
    pub reason: String,
    /// The operator who asked for it (empty if unknown).
    pub operator: String,
}

impl RetractionDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("retraction")
            .kv("report_id", &self.report_id)
            .kv("originator", self.originator.code())
            .kv("retracted_at", self.retracted_at.as_millis())
            .kv("reason_sha256", hex(&sha256(self.reason.as_bytes())))
            .kv("operator", if self.operator.is_empty() { "-" } else { &self.operator })
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]); `reason` is the text that travels beside
    /// the document (its hash is what is signed).
    pub fn parse(bytes: &[u8], reason: &str) -> Result<RetractionDoc, SigError> {
        const K: &str = "retraction";
        let mut r = Reader::new(bytes, K)?;
        let report_id = ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?;
        let originator = r.parse("originator")?;
        let retracted_at = Timestamp(r.parse("retracted_at")?);
        if r.digest("reason_sha256")? != sha256(reason.as_bytes()) {
            return Err(SigError::Mismatch("retraction reason"));
        }
        let operator = match r.get("operator")? {
            "-" => String::new(),
            o => o.to_owned(),
        };
        r.end()?;
        let d = RetractionDoc { report_id, originator, retracted_at, reason: reason.to_owned(), operator };
        canonical(bytes, d, RetractionDoc::to_bytes, K)
    }
}
