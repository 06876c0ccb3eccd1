//! Keys and signatures: a signed document ([`Signed`]), a private key with
//! its registered name ([`Identity`]), and verification against the keys the
//! agreement registers ([`verify`]).

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};

use super::batch::BatchProof;
use super::canonical::{SigError, SIG_CONTEXT};
use crate::policy::{KeyEntry, KeyId, KeyRole, Policy};
use crate::types::{Party, PartySet};

/// A canonical document with its signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The canonical bytes.
    pub bytes: Vec<u8>,
    /// Name of the signing key (as registered in the agreement).
    pub signer: String,
    /// Ed25519 signature over the context prefix and `bytes`, or, with
    /// `batch`, over the context prefix and the `tisa.v1.batch` root that
    /// the proof leads to from `bytes` (see [`super::batch`]).
    pub signature: [u8; 64],
    /// The inclusion proof of a batch signature; `None`: signed directly.
    pub batch: Option<Box<BatchProof>>,
}

impl Signed {
    /// A document with no signature yet (blank bodies, and the core's
    /// documents waiting for their batch: see [`Signed::is_pending`]).
    pub fn unsigned(bytes: Vec<u8>, signer: String) -> Signed {
        Signed { bytes, signer, signature: [0; 64], batch: None }
    }

    /// Whether it is still waiting for its signature (never valid: an
    /// all-zero ed25519 signature verifies for no document).
    pub fn is_pending(&self) -> bool {
        self.batch.is_none() && self.signature == [0; 64]
    }

    /// The bytes the signature covers: the document itself, or the root
    /// document its batch proof leads to (`None`: a malformed proof).
    pub(super) fn covered(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match &self.batch {
            None => Some(std::borrow::Cow::Borrowed(&self.bytes)),
            Some(p) => super::batch::signed_root(p, &self.bytes).map(std::borrow::Cow::Owned),
        }
    }

    /// Whether the signature (direct or batch) verifies with `public`.
    fn verifies_with(&self, public: &[u8; 32]) -> bool {
        self.covered().is_some_and(|m| super::cache::check(public, &m, &self.signature))
    }
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes hold only ids, enum names and hashes, but stay terse.
        write!(f, "Signed {{ {} bytes by {:?} }}", self.bytes.len(), self.signer)
    }
}

/// A private signing key with the name it is registered under.
#[derive(Clone)]
pub struct Identity {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity {{ {:?}, <secret> }}", self.name)
    }
}

impl Identity {
    /// From a 32-byte ed25519 seed.
    pub fn from_seed(name: impl Into<String>, seed: [u8; 32]) -> Identity {
        Identity { name: name.into(), key: SigningKey::from_bytes(&seed) }
    }
    /// Its registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    /// Its seed (for writing a key file).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// Its key id (how documents signed by key id name it).
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }
    /// Signs canonical bytes, naming the signer by its registered name.
    pub fn sign(&self, bytes: Vec<u8>) -> Signed {
        let mut msg = SIG_CONTEXT.to_vec();
        msg.extend_from_slice(&bytes);
        Signed { signature: self.key.sign(&msg).to_bytes(), signer: self.name.clone(), bytes, batch: None }
    }
    /// Signs several canonical documents with one signature: over the root
    /// of a Merkle tree of them, each returned with its inclusion proof
    /// (see [`super::batch`]). One document alone is signed directly; more
    /// than [`super::batch::MAX_BATCH`] are split into batches of at most that many.
    pub fn sign_batch(&self, documents: Vec<Vec<u8>>) -> Vec<Signed> {
        self.sign_batch_as(documents, &self.name)
    }
    /// [`Identity::sign_batch`], naming the signer by its key id (a feed or
    /// tool signing many submissions and actions at once).
    pub fn sign_batch_by_id(&self, documents: Vec<Vec<u8>>) -> Vec<Signed> {
        self.sign_batch_as(documents, &self.key_id().to_string())
    }
    fn sign_batch_as(&self, documents: Vec<Vec<u8>>, signer: &str) -> Vec<Signed> {
        let mut out = Vec::with_capacity(documents.len());
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            let chunk: Vec<Vec<u8>> = documents.by_ref().take(super::batch::MAX_BATCH as usize).collect();
            let leaves: Vec<_> = chunk.iter().map(|d| super::batch::leaf_hash(d)).collect();
            match super::batch::tree(&leaves) {
                None => out.extend(chunk.into_iter().map(|d| Signed { signer: signer.to_owned(), ..self.sign(d) })),
                Some((root, proofs)) => {
                    let root = self.sign(super::batch::BatchDoc { size: proofs.len() as u32, root }.to_bytes());
                    out.extend(chunk.into_iter().zip(proofs).map(|(bytes, p)| Signed {
                        bytes,
                        signer: signer.to_owned(),
                        signature: root.signature,
                        batch: Some(Box::new(p)),
                    }));
                }
            }
        }
        out
    }
    /// Signs canonical bytes, naming the signer by its key id (operator
    /// documents: actions, submissions, cosignatures, rosters).
    pub fn sign_by_id(&self, bytes: Vec<u8>) -> Signed {
        Signed { signer: self.key_id().to_string(), ..self.sign(bytes) }
    }
}

/// Why a document signed by key id was refused: the key is unknown, of
/// another party, lacks the role, or the signature is bad. Each says
/// which key and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The signer field is not a key id.
    #[error("the signer {0:?} is not a key id; sign with a key file from `tisa keys generate`")]
    NotAKeyId(String),
    /// Not registered for any party.
    #[error("key {key} is not registered for {party}: add it to {party}'s roster, or sign with a registered key")]
    Unknown {
        /// The key.
        key: KeyId,
        /// The party it was presented to.
        party: Party,
    },
    /// Registered, but for another party.
    #[error("key {key} belongs to {owner}, not {party}: sign with a key of {party}'s roster")]
    OtherParty {
        /// The key.
        key: KeyId,
        /// The party it was presented to.
        party: Party,
        /// The party (or parties) it is registered for.
        owner: PartySet,
    },
    /// Registered for the party, without a role that allows this.
    #[error("key {key} ({name}) of {party} may not {what}: it needs the {needed} role")]
    Role {
        /// The key.
        key: KeyId,
        /// Its holder's name (a label).
        name: String,
        /// Its party.
        party: Party,
        /// What was attempted (a verb or a document).
        what: &'static str,
        /// The roles that would allow it, `a|b`.
        needed: String,
    },
    /// The signature does not verify with the registered key.
    #[error("bad signature by key {0}: the document was altered or signed with another key")]
    BadSignature(KeyId),
}

/// Verifies `s`, whose `signer` is a key id, as signed by a registered key
/// of `party` holding one of `roles` (`what` names the attempt in errors).
/// Returns the matching entry (its name is a label).
pub fn verify_key<'p>(
    policy: &'p Policy,
    party: Party,
    roles: &[KeyRole],
    what: &'static str,
    s: &Signed,
) -> Result<&'p KeyEntry, KeyError> {
    let key: KeyId = s.signer.parse().map_err(|_| KeyError::NotAKeyId(s.signer.chars().take(40).collect()))?;
    let own = policy.key_roles(party, key);
    let Some(first) = own.first() else {
        let owner = policy.key_parties(key);
        return Err(if owner.is_empty() {
            KeyError::Unknown { key, party }
        } else {
            KeyError::OtherParty { key, party, owner }
        });
    };
    let Some(entry) = own.iter().find(|k| roles.contains(&k.role)) else {
        let needed = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("|");
        return Err(KeyError::Role { key, name: first.name.clone(), party, what, needed });
    };
    if !s.verifies_with(&entry.public) {
        return Err(KeyError::BadSignature(key));
    }
    Ok(entry)
}

/// Verifies `s` as signed by a registered key of `party` in `role`.
pub fn verify<'p>(policy: &'p Policy, party: Party, role: KeyRole, s: &Signed) -> Result<&'p KeyEntry, SigError> {
    let entry = policy.keys_of(party, role).find(|k| k.name == s.signer).ok_or_else(|| SigError::UnknownSigner {
        signer: s.signer.clone(),
        party,
        role: role.as_str(),
    })?;
    if !s.verifies_with(&entry.public) {
        return Err(SigError::BadSignature(s.signer.clone()));
    }
    Ok(entry)
}

/// Whether `name` is a valid key/operator name: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
