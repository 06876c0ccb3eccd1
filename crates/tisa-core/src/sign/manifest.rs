//! The manifest: what an originator's node signs about one revision of a report.

use super::action::Nonce;
use super::batch::{BatchProof, MAX_PATH};
use super::canonical::{canonical, content_digests, hex, parties_str, sha256, unhex, Digest32, Doc, Reader, SigError};
use super::keys::{valid_name, verify_key, Signed};
use super::submission::SubmissionDoc;
use crate::ids::ReportId;
use crate::policy::{KeyId, KeyRole, Policy};
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
    /// The submitter's own signature over its `tisa.v1.submission`, carried
    /// in the manifest so that it travels wherever the report goes: the hub
    /// and the recipient rebuild the submission from the manifest and
    /// verify it against the originator's registered submitter (or feed)
    /// keys ([`Manifest::verified_submitter`]).
    pub submission: Option<SubmissionSig>,
}

/// The parts of a `tisa.v1.submission` a manifest does not already hold,
/// and its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionSig {
    /// The report the submitter said it corrects.
    pub corrects: Option<ReportId>,
    /// When, by the submitter's clock.
    pub issued_at: Timestamp,
    /// The submission's nonce.
    pub nonce: Nonce,
    /// Ed25519 over the submission document, by `submitter_key`, or, with
    /// `batch`, over the root of the submitter's batch (a feed or tool that
    /// signs many submissions at once: see [`super::batch`]).
    pub signature: [u8; 64],
    /// The submission's inclusion proof in the submitter's signed batch;
    /// `None`: signed directly.
    pub batch: Option<Box<BatchProof>>,
}

impl Manifest {
    /// The manifest of `header` + `content`.
    pub fn of(header: &ReportHeader, content: &Content, submitted_by: &str, submitter_key: Option<KeyId>) -> Manifest {
        let (title_sha256, body_sha256, tearline_sha256, source_sha256) = content_digests(content);
        Manifest {
            header: header.clone(),
            title_sha256,
            body_sha256,
            tearline_sha256,
            source_sha256,
            submitted_by: if valid_name(submitted_by) { submitted_by.to_owned() } else { "-".to_owned() },
            submitter_key,
            submission: None,
        }
    }

    /// With the submitter's signed `tisa.v1.submission` (already verified
    /// by the originator): its key becomes the submitter key. The
    /// signature and, if the submitter signed a batch, the inclusion proof
    /// come from `signed`.
    pub fn with_submission(mut self, doc: &SubmissionDoc, signed: &Signed) -> Manifest {
        self.submitter_key = Some(doc.key_id);
        self.submission = Some(SubmissionSig {
            corrects: doc.corrects.clone(),
            issued_at: doc.issued_at,
            nonce: doc.nonce,
            signature: signed.signature,
            batch: signed.batch.clone(),
        });
        self
    }

    /// The submission document this manifest carries the signature of.
    pub fn submission_doc(&self) -> Option<SubmissionDoc> {
        let (s, key) = (self.submission.as_ref()?, self.submitter_key?);
        let h = &self.header;
        Some(SubmissionDoc {
            party: h.originator,
            category: h.category,
            classification: h.classification,
            releasable_to: h.releasable_to,
            title_sha256: self.title_sha256,
            body_sha256: self.body_sha256,
            tearline_sha256: self.tearline_sha256,
            source_sha256: self.source_sha256,
            corrects: s.corrects.clone(),
            issued_at: s.issued_at,
            nonce: s.nonce,
            key_id: key,
        })
    }

    /// Who submitted, as the submitter's own signature proves it: `None`
    /// if the manifest carries no submission (then no one's key counts for
    /// the two-person rule), the key if its signature verifies as one of
    /// the originator's submitter or feed keys, an error otherwise.
    pub fn verified_submitter(&self, policy: &Policy) -> Result<Option<KeyId>, SigError> {
        let Some((doc, signed)) = self.submission_signed() else { return Ok(None) };
        verify_key(policy, doc.party, &[KeyRole::Submitter, KeyRole::Feed], "submit", &signed)
            .map_err(|_| SigError::Mismatch("submission signature"))?;
        Ok(Some(doc.key_id))
    }

    /// The submission the manifest carries, rebuilt, and its signature as
    /// a document signed by key id (`None`: it carries none).
    pub fn submission_signed(&self) -> Option<(SubmissionDoc, Signed)> {
        let (doc, sig) = (self.submission_doc()?, self.submission.as_ref()?);
        let signed = Signed {
            bytes: doc.to_bytes(),
            signer: doc.key_id.to_string(),
            signature: sig.signature,
            batch: sig.batch.clone(),
        };
        Some((doc, signed))
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
            .kv("submission", self.submission.as_ref().map_or("-".to_owned(), submission_str))
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
        let submission = match r.get("submission")? {
            "-" => None,
            s => Some(parse_submission(s).ok_or(SigError::Malformed(K))?),
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
            submission,
        };
        canonical(bytes, m, Manifest::to_bytes, K)
    }

    /// Checks a full release against the manifest.
    pub fn check_content(&self, content: &Content) -> Result<(), SigError> {
        if content_digests(content) == (self.title_sha256, self.body_sha256, self.tearline_sha256, self.source_sha256) {
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

/// `corrects,issued_at,nonce,signature` (`-` for no correction; hex
/// signature), and for a batch signature `,index/size/path` (the path's
/// hashes in hex, joined by `.`; empty for none). A directly signed
/// submission reads as it always did.
fn submission_str(s: &SubmissionSig) -> String {
    let corrects = s.corrects.as_ref().map_or("-".to_owned(), ToString::to_string);
    let sig = super::canonical::hex_bytes(&s.signature);
    let mut out = format!("{corrects},{},{},{sig}", s.issued_at.as_millis(), s.nonce);
    if let Some(p) = &s.batch {
        let path: Vec<String> = p.path.iter().map(super::canonical::hex).collect();
        out.push_str(&format!(",{}/{}/{}", p.index, p.size, path.join(".")));
    }
    out
}

fn parse_submission(s: &str) -> Option<SubmissionSig> {
    let parts: Vec<&str> = s.split(',').collect();
    let (corrects, issued_at, nonce, sig, batch) = match parts[..] {
        [c, i, n, s] => (c, i, n, s, None),
        [c, i, n, s, b] => (c, i, n, s, Some(parse_proof(b)?)),
        _ => return None,
    };
    let corrects = match corrects {
        "-" => None,
        id => Some(ReportId::new(id).ok()?),
    };
    let mut signature = [0u8; 64];
    ::hex::decode_to_slice(sig, &mut signature).ok()?;
    Some(SubmissionSig {
        corrects,
        issued_at: Timestamp(issued_at.parse().ok()?),
        nonce: nonce.parse().ok()?,
        signature,
        batch,
    })
}

/// `index/size/path`, bounded before anything is decoded, well formed
/// ([`BatchProof::well_formed`]).
fn parse_proof(s: &str) -> Option<Box<BatchProof>> {
    let mut parts = s.splitn(3, '/');
    let (index, size, path) = (parts.next()?, parts.next()?, parts.next()?);
    let hashes: Vec<&str> = if path.is_empty() { Vec::new() } else { path.split('.').collect() };
    if hashes.len() > MAX_PATH {
        return None;
    }
    let mut out = Vec::with_capacity(hashes.len());
    for h in hashes {
        let mut d = [0u8; 32];
        ::hex::decode_to_slice(h, &mut d).ok()?;
        out.push(d);
    }
    let proof = BatchProof { index: index.parse().ok()?, size: size.parse().ok()?, path: out };
    proof.well_formed().then(|| Box::new(proof))
}
