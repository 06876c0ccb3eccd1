//! Checks ahead: a signature check resolved to the public key, the bytes
//! the signature covers and the signature, so that it can run before the
//! core asks for it — on another thread, while the input that carries it
//! is being committed (an `fdatasync` the core's thread only waits for).
//!
//! A check that succeeds is remembered by the cache (`cache`), so the
//! core's own check of the same key, bytes and signature is answered from
//! it; one that fails is remembered by nothing (the core checks it again,
//! and refuses). Running a check ahead proves nothing by itself: the core
//! still picks the key the agreement registers for the party and role the
//! document needs, and the cache is keyed by that key, the bytes and the
//! signature together. Which keys a check ahead tries is only a guess at
//! that choice (every registered key the signer field names).

use super::cache;
use super::keys::Signed;
use crate::policy::{KeyId, Policy};

/// Most keys one document is checked against ahead (a name registered by
/// several parties): a bound on the work a message can cause here.
pub const MAX_KEYS_AHEAD: usize = 4;

/// One signature check, resolved: see the module's documentation.
#[derive(Clone)]
pub struct Check {
    public: [u8; 32],
    covered: Vec<u8>,
    signature: [u8; 64],
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Terse, as `Signed`'s: the key's id and the bytes' length.
        write!(f, "Check {{ {} bytes by key {} }}", self.covered.len(), KeyId::of(&self.public))
    }
}

impl Check {
    /// Runs the check; a success is remembered for the core's own check.
    pub fn run(&self) -> bool {
        cache::check(&self.public, &self.covered, &self.signature)
    }
}

/// Adds the checks of `s` against each key of `policy` that its signer
/// field names (by registered name, or by key id), at most
/// [`MAX_KEYS_AHEAD`]. A document still waiting for its signature, or
/// with a malformed batch proof, adds none.
pub fn checks_for(policy: &Policy, s: &Signed, out: &mut Vec<Check>) {
    if s.is_pending() {
        return;
    }
    let Some(covered) = s.covered() else { return };
    let id: Option<KeyId> = s.signer.parse().ok();
    let mut tried: Vec<[u8; 32]> = Vec::new();
    for k in &policy.keys {
        if tried.len() == MAX_KEYS_AHEAD {
            break;
        }
        let named = k.name == s.signer || id.is_some_and(|id| k.key_id() == id);
        if named && !tried.contains(&k.public) {
            tried.push(k.public);
            out.push(Check { public: k.public, covered: covered.to_vec(), signature: s.signature });
        }
    }
}
