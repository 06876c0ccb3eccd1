//! The manifest: what an originator's node signs about one revision of a report.

use super::canonical::{canonical, hex, parties_str, sha256, unhex, Digest32, Doc, Reader, SigError};
use super::keys::valid_name;
use crate::ids::ReportId;
use crate::policy::KeyId;
use crate::report::{Content, ReportHeader};
use crate::types::Timestamp;

/// What an originator signs about one revision of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The header, signed field by field (id to releasable-to).
    pub header: ReportHeader,
    /// SHA-256 of the title.
    pub title_sha256: Digest32,
    /// SHA-256 of the body.
    pub body_sha256: Digest32,
    /// SHA-256 of the tearline, if there is one.
    pub tearline_sha256: Option<Digest32>,
    /// SHA-256 of the source description.
    pub source_sha256: Digest32,
    /// The operator who submitted it (`-` if not identified).
    pub submitted_by: String,
    /// The key that signed the submission (the node records the verified
    /// key of the operator's signed action): what the two-person rule
    /// compares, at originator, hub and recipient. `None`: no one's.
    pub submitter_key: Option<KeyId>,
}

impl Manifest {
    /// The manifest of `header` + `content`.
    pub fn of(header: &ReportHeader, content: &Content, submitted_by: &str, submitter_key: Option<KeyId>) -> Manifest {
        Manifest {
            header: header.clone(),
            title_sha256: sha256(content.title.expose().as_bytes()),
            body_sha256: sha256(content.body.expose().as_bytes()),
            tearline_sha256: content.tearline.as_ref().map(|t| sha256(t.expose().as_bytes())),
            source_sha256: sha256(content.source.expose().as_bytes()),
            submitted_by: if valid_name(submitted_by) { submitted_by.to_owned() } else { "-".to_owned() },
            submitter_key,
        }
    }

    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        Doc::new("manifest")
            .kv("id", &h.id)
            .kv("revision", h.revision)
            .kv("originator", h.originator.code())
            .kv("created_at", h.created_at.as_millis())
            .kv("category", h.category)
            .kv("classification", h.classification)
            .kv("releasable_to", parties_str(h.releasable_to))
            .kv("title_sha256", hex(&self.title_sha256))
            .kv("body_sha256", hex(&self.body_sha256))
            .kv("tearline_sha256", self.tearline_sha256.as_ref().map_or("-".to_owned(), hex))
            .kv("source_sha256", hex(&self.source_sha256))
            .kv("submitted_by", &self.submitted_by)
            .kv("submitter_key", self.submitter_key.map_or("-".to_owned(), |k| k.to_string()))
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, SigError> {
        const K: &str = "manifest";
        let mut r = Reader::new(bytes, K)?;
        let id = ReportId::new(r.get("id")?).map_err(|_| SigError::Malformed(K))?;
        let revision = r.parse("revision")?;
        let originator = r.parse("originator")?;
        let created_at = Timestamp(r.parse("created_at")?);
        let category = r.parse("category")?;
        let classification = r.parse("classification")?;
        let releasable_to = r.parse("releasable_to")?;
        let title_sha256 = r.digest("title_sha256")?;
        let body_sha256 = r.digest("body_sha256")?;
        let tearline_sha256 = match r.get("tearline_sha256")? {
            "-" => None,
            h => Some(unhex(h).ok_or(SigError::Malformed(K))?),
        };
        let source_sha256 = r.digest("source_sha256")?;
        let submitted_by = r.get("submitted_by")?.to_owned();
        let submitter_key = match r.get("submitter_key")? {
            "-" => None,
            k => Some(k.parse().map_err(|_| SigError::Malformed(K))?),
        };
        r.end()?;
        let m = Manifest {
            header: ReportHeader { id, revision, originator, created_at, category, classification, releasable_to },
            title_sha256,
            body_sha256,
            tearline_sha256,
            source_sha256,
            submitted_by,
            submitter_key,
        };
        canonical(bytes, m, Manifest::to_bytes, K)
    }

    /// Checks a full release against the manifest.
    pub fn check_content(&self, content: &Content) -> Result<(), SigError> {
        let ok = sha256(content.title.expose().as_bytes()) == self.title_sha256
            && sha256(content.body.expose().as_bytes()) == self.body_sha256
            && content.tearline.as_ref().map(|t| sha256(t.expose().as_bytes())) == self.tearline_sha256
            && sha256(content.source.expose().as_bytes()) == self.source_sha256;
        if ok {
            Ok(())
        } else {
            Err(SigError::Mismatch("content"))
        }
    }

    /// Checks a tearline-only release against the manifest.
    pub fn check_tearline(&self, tearline: &str) -> Result<(), SigError> {
        if self.tearline_sha256 == Some(sha256(tearline.as_bytes())) {
            Ok(())
        } else {
            Err(SigError::Mismatch("tearline"))
        }
    }
}
