//! The co-signature of a standing grant: under the two-person rule a
//! grant proposed by one approver goes to the hub only once a second
//! approver, from their own process, signs this over the grant document.

use super::canonical::{canonical, hex, sha256, Digest32, Doc, Reader, SigError};
use super::grant::GrantDoc;
use super::keys::{valid_name, verify, verify_key, KeyError, Signed};
use crate::policy::{KeyId, KeyRole, Policy};
use crate::types::{Party, Timestamp};

/// `tisa.v1.cosign`, signed by the second approver's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignDoc {
    /// The grant co-signed.
    pub grant_id: String,
    /// The granting party.
    pub originator: Party,
    /// SHA-256 of the grant document's bytes (exactly that grant).
    pub grant_sha256: Digest32,
    /// When, by the co-signer's clock.
    pub cosigned_at: Timestamp,
    /// The co-signer's key.
    pub key_id: KeyId,
}

impl CosignDoc {
    /// The co-signature of grant document `grant_bytes`.
    pub fn of(grant_id: &str, originator: Party, grant_bytes: &[u8], cosigned_at: Timestamp, key_id: KeyId) -> Self {
        CosignDoc { grant_id: grant_id.to_owned(), originator, grant_sha256: sha256(grant_bytes), cosigned_at, key_id }
    }

    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("cosign")
            .kv("grant_id", &self.grant_id)
            .kv("originator", self.originator.code())
            .kv("grant_sha256", hex(&self.grant_sha256))
            .kv("cosigned_at", self.cosigned_at.as_millis())
            .kv("key_id", self.key_id)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<CosignDoc, SigError> {
        const K: &str = "cosign";
        let mut r = Reader::new(bytes, K)?;
        let d = CosignDoc {
            grant_id: r.get("grant_id")?.to_owned(),
            originator: r.parse("originator")?,
            grant_sha256: r.digest("grant_sha256")?,
            cosigned_at: Timestamp(r.parse("cosigned_at")?),
            key_id: r.parse("key_id")?,
        };
        r.end()?;
        if !valid_name(&d.grant_id) {
            return Err(SigError::Malformed(K));
        }
        canonical(bytes, d, CosignDoc::to_bytes, K)
    }

    /// Checks that it co-signs exactly the grant document `grant_bytes`.
    pub fn check_grant(&self, grant_bytes: &[u8]) -> Result<(), SigError> {
        if self.grant_sha256 == sha256(grant_bytes) {
            Ok(())
        } else {
            Err(SigError::Mismatch("cosignature"))
        }
    }
}

/// Whether grant `grant` (signed by one of `originator`'s approvers) may be
/// used under `policy`: with the two-person rule, only with `cosign`, a
/// `tisa.v1.cosign` over exactly that grant document, signed by **another**
/// approver key of `originator` (keys compared, never names). Without the
/// rule, always. The originator, the hub and the recipient all call it.
pub fn check_cosigned(
    policy: &Policy,
    originator: Party,
    grant: &Signed,
    cosign: Option<&Signed>,
) -> Result<Option<CosignDoc>, SigError> {
    if !policy.two_person_rule {
        return Ok(None);
    }
    let cosign = cosign.ok_or(SigError::Mismatch("two-person rule: the grant is not co-signed"))?;
    let cosigner =
        verify_key(policy, originator, &[KeyRole::Approver], "co-sign grants", cosign).map_err(|e| match e {
            KeyError::BadSignature(k) => SigError::BadSignature(k.to_string()),
            _ => SigError::UnknownSigner {
                signer: cosign.signer.chars().take(40).collect(),
                party: originator,
                role: "approver",
            },
        })?;
    let doc = CosignDoc::parse(&cosign.bytes)?;
    let proposed = GrantDoc::parse(&grant.bytes)?;
    if doc.key_id != cosigner.key_id() || doc.originator != originator || doc.grant_id != proposed.grant_id {
        return Err(SigError::Mismatch("cosignature"));
    }
    doc.check_grant(&grant.bytes)?;
    let proposer = verify(policy, originator, KeyRole::Approver, grant)?;
    if proposer.key_id() == cosigner.key_id() {
        return Err(SigError::Mismatch("two-person rule: the grant is co-signed by the key that proposed it"));
    }
    Ok(Some(doc))
}
