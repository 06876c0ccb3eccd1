//! The submission: what the submitting operator (or feed) signs in its own
//! process about a report it submits. It travels with the report, so the
//! hub and the recipient can check who submitted (a key of the
//! originator's roster) and that it describes the manifest's report; the
//! two-person rule compares its key with the decision's.

use super::canonical::{canonical, content_digests, hex, parties_str, unhex, Digest32, Doc, Reader, SigError};
use crate::ids::ReportId;
use crate::policy::KeyId;
use crate::report::Content;
use crate::sign::action::Nonce;
use crate::types::{Category, Classification, Party, PartySet, Timestamp};

/// `tisa.v1.submission`, signed by the submitter's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionDoc {
    /// The submitting party.
    pub party: Party,
    /// The report's category.
    pub category: Category,
    /// Its classification.
    pub classification: Classification,
    /// Its releasable-to list, as the submitter gave it (the originator
    /// itself left out).
    pub releasable_to: PartySet,
    /// SHA-256 of the title.
    pub title_sha256: Digest32,
    /// SHA-256 of the body.
    pub body_sha256: Digest32,
    /// SHA-256 of the tearline, if there is one.
    pub tearline_sha256: Option<Digest32>,
    /// SHA-256 of the source description.
    pub source_sha256: Digest32,
    /// The report it corrects, if any.
    pub corrects: Option<ReportId>,
    /// When, by the submitter's clock.
    pub issued_at: Timestamp,
    /// Random, once per submission.
    pub nonce: Nonce,
    /// The submitter's key.
    pub key_id: KeyId,
}

impl SubmissionDoc {
    /// The submission of `content` with these header fields.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        party: Party,
        category: Category,
        classification: Classification,
        releasable_to: PartySet,
        content: &Content,
        corrects: Option<ReportId>,
        issued_at: Timestamp,
        nonce: Nonce,
        key_id: KeyId,
    ) -> SubmissionDoc {
        let (title_sha256, body_sha256, tearline_sha256, source_sha256) = content_digests(content);
        SubmissionDoc {
            party,
            category,
            classification,
            releasable_to: releasable_to.iter().filter(|p| *p != party).collect(),
            title_sha256,
            body_sha256,
            tearline_sha256,
            source_sha256,
            corrects,
            issued_at,
            nonce,
            key_id,
        }
    }

    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("submission")
            .kv("party", self.party.code())
            .kv("category", self.category)
            .kv("classification", self.classification)
            .kv("releasable_to", parties_str(self.releasable_to))
            .kv("title_sha256", hex(&self.title_sha256))
            .kv("body_sha256", hex(&self.body_sha256))
            .kv("tearline_sha256", self.tearline_sha256.as_ref().map_or("-".to_owned(), hex))
            .kv("source_sha256", hex(&self.source_sha256))
            .kv("corrects", self.corrects.as_ref().map_or("-".to_owned(), ToString::to_string))
            .kv("issued_at", self.issued_at.as_millis())
            .kv("nonce", self.nonce)
            .kv("key_id", self.key_id)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<SubmissionDoc, SigError> {
        const K: &str = "submission";
        let mut r = Reader::new(bytes, K)?;
        let party = r.parse("party")?;
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
        let corrects = match r.get("corrects")? {
            "-" => None,
            id => Some(ReportId::new(id).map_err(|_| SigError::Malformed(K))?),
        };
        let d = SubmissionDoc {
            party,
            category,
            classification,
            releasable_to,
            title_sha256,
            body_sha256,
            tearline_sha256,
            source_sha256,
            corrects,
            issued_at: Timestamp(r.parse("issued_at")?),
            nonce: r.parse("nonce")?,
            key_id: r.parse("key_id")?,
        };
        r.end()?;
        canonical(bytes, d, SubmissionDoc::to_bytes, K)
    }

    /// Checks that it describes `content` (the submit request's text).
    pub fn check_content(&self, content: &Content) -> Result<(), SigError> {
        if content_digests(content) == (self.title_sha256, self.body_sha256, self.tearline_sha256, self.source_sha256) {
            Ok(())
        } else {
            Err(SigError::Mismatch("submission"))
        }
    }
}
