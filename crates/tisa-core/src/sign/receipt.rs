//! Documents a node signs about its own holdings: a receipt for a
//! delivery, and the head of its audit chain.

use super::canonical::{canonical, hex, Digest32, Doc, Reader, SigError};
use crate::ids::ReportId;
use crate::types::{Party, Timestamp};

/// A recipient's receipt: it holds this revision of this report, durably.
/// Signed by the recipient's node after its commit; the hub passes it back
/// to the originator and cannot invent one. Ids and a hash only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptDoc {
    /// The report received.
    pub report_id: ReportId,
    /// The revision received.
    pub revision: u32,
    /// The recipient that signs.
    pub recipient: Party,
    /// SHA-256 of the manifest it received (binds the receipt to the content).
    pub manifest_sha256: Digest32,
    /// When it committed the delivery, by its clock.
    pub received_at: Timestamp,
}

impl ReceiptDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("receipt")
            .kv("report_id", &self.report_id)
            .kv("revision", self.revision)
            .kv("recipient", self.recipient.code())
            .kv("manifest_sha256", hex(&self.manifest_sha256))
            .kv("received_at", self.received_at.as_millis())
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<ReceiptDoc, SigError> {
        const K: &str = "receipt";
        let mut r = Reader::new(bytes, K)?;
        let d = ReceiptDoc {
            report_id: ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?,
            revision: r.parse("revision")?,
            recipient: r.parse("recipient")?,
            manifest_sha256: r.digest("manifest_sha256")?,
            received_at: Timestamp(r.parse("received_at")?),
        };
        r.end()?;
        canonical(bytes, d, ReceiptDoc::to_bytes, K)
    }
}

/// The head of a node's audit chain (seq, hash), signed with the node's
/// key: the document of the audit log's `HEAD` entries, also carried in
/// receipts so that a peer holds evidence of how far the chain reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHeadDoc {
    /// The party whose chain it is.
    pub party: Party,
    /// Seq of the last entry covered (0: empty chain).
    pub seq: u64,
    /// That entry's hash.
    pub hash: Digest32,
}

impl AuditHeadDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("audit-head").kv("party", self.party).kv("seq", self.seq).kv("hash", hex(&self.hash)).bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<AuditHeadDoc, SigError> {
        const K: &str = "audit-head";
        let mut r = Reader::new(bytes, K)?;
        let d = AuditHeadDoc { party: r.parse("party")?, seq: r.parse("seq")?, hash: r.digest("hash")? };
        r.end()?;
        canonical(bytes, d, AuditHeadDoc::to_bytes, K)
    }
}
