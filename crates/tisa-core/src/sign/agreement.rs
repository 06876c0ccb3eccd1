//! `tisa.v1.agreement`: one party's signature over one agreement version.
//! A version is in force only when an agreement-signer key of **each** of
//! the three parties signed it, each key registered in the previous
//! version (the first version: in itself). The file format, the canonical
//! form and the chain of files are `tisa_deploy::agreement`'s; the rule is
//! here ([`check_agreement_signed`]).

use super::canonical::{canonical, hex, unhex, Digest32, Doc, Reader, SigError};
use super::keys::{verify_key, Identity, KeyError, Signed};
use crate::policy::{KeyId, KeyRole, Policy};
use crate::types::Party;

/// What one party signs about one agreement version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementDoc {
    /// The version signed.
    pub version: u32,
    /// SHA-256 of its canonical form.
    pub agreement_sha256: Digest32,
    /// SHA-256 of the previous version's canonical form (`None` for the first).
    pub previous_sha256: Option<Digest32>,
    /// The party signing.
    pub party: Party,
    /// The signer's key.
    pub key_id: KeyId,
}

impl AgreementDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("agreement")
            .kv("version", self.version)
            .kv("agreement_sha256", hex(&self.agreement_sha256))
            .kv("previous_sha256", self.previous_sha256.as_ref().map_or_else(|| "-".to_owned(), hex))
            .kv("party", self.party.code())
            .kv("key_id", self.key_id)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<AgreementDoc, SigError> {
        const K: &str = "agreement";
        let mut r = Reader::new(bytes, K)?;
        let version = r.parse("version")?;
        let agreement_sha256 = r.digest("agreement_sha256")?;
        let previous_sha256 = match r.get("previous_sha256")? {
            "-" => None,
            s => Some(unhex(s).ok_or(SigError::Malformed(K))?),
        };
        let d = AgreementDoc {
            version,
            agreement_sha256,
            previous_sha256,
            party: r.parse("party")?,
            key_id: r.parse("key_id")?,
        };
        r.end()?;
        canonical(bytes, d, AgreementDoc::to_bytes, K)
    }

    /// `identity`'s signature, for `party`, over this version.
    pub fn sign(
        identity: &Identity,
        party: Party,
        version: u32,
        agreement_sha256: Digest32,
        previous_sha256: Option<Digest32>,
    ) -> Signed {
        let doc = AgreementDoc { version, agreement_sha256, previous_sha256, party, key_id: identity.key_id() };
        identity.sign_by_id(doc.to_bytes())
    }
}

/// Why an agreement version is not in force.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgreementSigError {
    /// A signature is not a canonical `tisa.v1.agreement` document.
    #[error("signature {index} is not an agreement signature: {error}")]
    Malformed {
        /// Its position among the version's signatures (from 1).
        index: usize,
        /// Why.
        error: SigError,
    },
    /// A signature names another version or hash: the file changed after it was signed.
    #[error("the signature by key {key} ({party}) is over another text of the agreement: the file was changed after it was signed; sign it again")]
    OtherText {
        /// The signer's key.
        key: KeyId,
        /// The party it signed for.
        party: Party,
    },
    /// A signature by a key the chain does not register as that party's signer.
    #[error("the signature for {party} is not by a signer key that version {vouching} registers: {error}")]
    NotVouched {
        /// The party it claims to sign for.
        party: Party,
        /// The version whose keys vouch (the previous one; this one for the first).
        vouching: u32,
        /// Why the key does not count.
        error: KeyError,
    },
    /// Not every party signed.
    #[error("not signed by {missing} (each of KOR, USA and JPN must sign with a signer key registered in version {vouching}): it is not in force")]
    Missing {
        /// The parties whose signature is missing, `KOR, JPN`.
        missing: String,
        /// The version whose keys vouch.
        vouching: u32,
    },
}

/// Checks that version `version` with canonical hash `sha256` (following
/// the version hashed `previous`, if any) is signed by an agreement-signer
/// key of each of the three parties, each key registered in `vouching` (the
/// previous version; for the first version, the version itself). Every
/// signature present must verify: one that does not is an error too, never
/// silently skipped.
pub fn check_agreement_signed(
    vouching: &Policy,
    version: u32,
    sha256: Digest32,
    previous: Option<Digest32>,
    signatures: &[Signed],
) -> Result<(), AgreementSigError> {
    let mut signed = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        let doc =
            AgreementDoc::parse(&s.bytes).map_err(|error| AgreementSigError::Malformed { index: i + 1, error })?;
        if doc.version != version || doc.agreement_sha256 != sha256 || doc.previous_sha256 != previous {
            return Err(AgreementSigError::OtherText { key: doc.key_id, party: doc.party });
        }
        if s.signer != doc.key_id.to_string() {
            return Err(AgreementSigError::Malformed { index: i + 1, error: SigError::Mismatch("signer") });
        }
        verify_key(vouching, doc.party, &[KeyRole::Signer], "sign the agreement", s).map_err(|error| match error {
            // A vouched signer's key whose signature does not verify over
            // this text: the text changed after it was signed.
            KeyError::BadSignature(key) => AgreementSigError::OtherText { key, party: doc.party },
            error => AgreementSigError::NotVouched { party: doc.party, vouching: vouching.version, error },
        })?;
        signed.push(doc.party);
    }
    let missing: Vec<&str> = Party::ALL.iter().filter(|p| !signed.contains(p)).map(|p| p.trigraph()).collect();
    if !missing.is_empty() {
        return Err(AgreementSigError::Missing { missing: missing.join(", "), vouching: vouching.version });
    }
    Ok(())
}
