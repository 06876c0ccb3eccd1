//! Keys and signatures: a signed document ([`Signed`]), a private key with
//! its registered name ([`Identity`]), and verification against the keys the
//! agreement registers ([`verify`]).

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use super::canonical::{SigError, SIG_CONTEXT};
use crate::policy::{KeyEntry, KeyRole, Policy};
use crate::types::Party;

/// A canonical document with its signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The canonical bytes.
    pub bytes: Vec<u8>,
    /// Name of the signing key (as registered in the agreement).
    pub signer: String,
    /// Ed25519 signature over the context prefix and `bytes`.
    pub signature: [u8; 64],
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
    /// Signs canonical bytes.
    pub fn sign(&self, bytes: Vec<u8>) -> Signed {
        let mut msg = SIG_CONTEXT.to_vec();
        msg.extend_from_slice(&bytes);
        Signed { signature: self.key.sign(&msg).to_bytes(), signer: self.name.clone(), bytes }
    }
}

fn role_name(r: KeyRole) -> &'static str {
    match r {
        KeyRole::Node => "node",
        KeyRole::Approver => "approver",
    }
}

/// Verifies `s` as signed by a registered key of `party` in `role`.
pub fn verify<'p>(policy: &'p Policy, party: Party, role: KeyRole, s: &Signed) -> Result<&'p KeyEntry, SigError> {
    let entry = policy.keys_of(party, role).find(|k| k.name == s.signer).ok_or_else(|| SigError::UnknownSigner {
        signer: s.signer.clone(),
        party,
        role: role_name(role),
    })?;
    let key = VerifyingKey::from_bytes(&entry.public).map_err(|_| SigError::BadSignature(s.signer.clone()))?;
    let mut msg = SIG_CONTEXT.to_vec();
    msg.extend_from_slice(&s.bytes);
    key.verify(&msg, &Signature::from_bytes(&s.signature)).map_err(|_| SigError::BadSignature(s.signer.clone()))?;
    Ok(entry)
}

/// Whether `name` is a valid key/operator name: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
