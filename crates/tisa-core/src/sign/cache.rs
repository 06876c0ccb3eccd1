//! Signature checks paid once: public keys kept decompressed, and
//! signatures that verified remembered by a hash of everything the check
//! covered.
//!
//! Verifying an ed25519 signature costs 70–80 µs on the reference machine,
//! about a fifth of it decompressing the public key again. The same
//! signatures come back often: a standing grant travels with every delivery
//! and every track update under it, a node's signed audit head with every
//! receipt of one drain. A check is a pure function of (public key,
//! signed bytes, signature), so its success can be remembered under a
//! SHA-256 of exactly those three ([`tag`]): a hit proves that the very
//! same key, bytes and signature verified before. Only successes are
//! remembered (a failure is checked again each time, and stays a failure);
//! each table is bounded, the oldest success forgotten first. The cache is
//! process-wide (several nodes in one test process share it: a success
//! under one policy is a fact about the key, bytes and signature alone;
//! whether the key is registered for the party and role is checked by the
//! caller every time, before this).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::canonical::SIG_CONTEXT;

/// Successful checks remembered (32 bytes each, plus the table's overhead).
const MAX_VERIFIED: usize = 16_384;
/// Decompressed public keys kept (keys come from the agreement, not from input).
const MAX_KEYS: usize = 1_024;

#[derive(Default)]
struct Cache {
    keys: HashMap<[u8; 32], VerifyingKey>,
    verified: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
static HITS: AtomicU64 = AtomicU64::new(0);
static CHECKS: AtomicU64 = AtomicU64::new(0);

fn lock() -> MutexGuard<'static, Cache> {
    // A panic elsewhere while holding the lock leaves the tables consistent
    // (each update is one insert or removal): go on with them.
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a remembered success is keyed by: SHA-256 over a domain tag, the
/// public key, the signature and the signed bytes (the first two fixed in
/// size, so the concatenation is unambiguous).
fn tag(public: &[u8; 32], bytes: &[u8], signature: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tisa.verified\0");
    h.update(public);
    h.update(signature);
    h.update(bytes);
    h.finalize().into()
}

/// Whether `signature` is a valid ed25519 signature by `public` over
/// `SIG_CONTEXT ‖ bytes`: remembered if it was checked before, verified
/// (and remembered if valid) otherwise.
pub(super) fn check(public: &[u8; 32], bytes: &[u8], signature: &[u8; 64]) -> bool {
    CHECKS.fetch_add(1, Ordering::Relaxed);
    let t = tag(public, bytes, signature);
    let key = {
        let mut c = lock();
        if c.verified.contains(&t) {
            HITS.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        match c.keys.get(public) {
            Some(k) => *k,
            None => {
                let Ok(k) = VerifyingKey::from_bytes(public) else { return false };
                if c.keys.len() >= MAX_KEYS {
                    c.keys.clear();
                }
                c.keys.insert(*public, k);
                k
            }
        }
    };
    // Verified outside the lock: other nodes' threads go on meanwhile.
    let mut msg = Vec::with_capacity(SIG_CONTEXT.len() + bytes.len());
    msg.extend_from_slice(SIG_CONTEXT);
    msg.extend_from_slice(bytes);
    if key.verify(&msg, &Signature::from_bytes(signature)).is_err() {
        return false;
    }
    lock().remember(t);
    true
}

impl Cache {
    /// Remembers a success, forgetting the oldest beyond [`MAX_VERIFIED`].
    fn remember(&mut self, t: [u8; 32]) {
        if self.verified.insert(t) {
            self.order.push_back(t);
            while self.order.len() > MAX_VERIFIED {
                if let Some(old) = self.order.pop_front() {
                    self.verified.remove(&old);
                }
            }
        }
    }
}

/// Forgets every success remembered (tests: each node's checks as if it
/// ran in its own process, nothing learnt from another node's).
pub fn forget_verified() {
    let mut c = lock();
    c.verified.clear();
    c.order.clear();
}

/// Signature checks since the process started, and how many of them were
/// answered from the cache (for `tisa bench` and the tests).
pub fn verify_stats() -> (u64, u64) {
    (CHECKS.load(Ordering::Relaxed), HITS.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn signed(seed: u8, bytes: &[u8]) -> ([u8; 32], [u8; 64]) {
        let k = SigningKey::from_bytes(&[seed; 32]);
        let mut msg = SIG_CONTEXT.to_vec();
        msg.extend_from_slice(bytes);
        (k.verifying_key().to_bytes(), k.sign(&msg).to_bytes())
    }

    #[test]
    fn a_remembered_success_is_for_that_key_those_bytes_and_that_signature_only() {
        let (public, sig) = signed(7, b"tisa.v1.test\nn=1\n");
        // Control: it verifies, twice (the second time from the cache).
        let (_, hits) = verify_stats();
        assert!(check(&public, b"tisa.v1.test\nn=1\n", &sig));
        assert!(check(&public, b"tisa.v1.test\nn=1\n", &sig));
        assert!(verify_stats().1 > hits, "the second check is answered from the cache");
        // Other bytes, another key, another signature: each checked anew, and refused.
        assert!(!check(&public, b"tisa.v1.test\nn=2\n", &sig));
        let (other, other_sig) = signed(8, b"tisa.v1.test\nn=1\n");
        assert!(!check(&other, b"tisa.v1.test\nn=1\n", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!check(&public, b"tisa.v1.test\nn=1\n", &bad));
        // The other key's own signature is fine.
        assert!(check(&other, b"tisa.v1.test\nn=1\n", &other_sig));
    }

    #[test]
    fn a_failure_is_never_remembered() {
        let (public, sig) = signed(9, b"tisa.v1.test\nn=3\n");
        let mut bad = sig;
        bad[0] ^= 0x80;
        for _ in 0..3 {
            assert!(!check(&public, b"tisa.v1.test\nn=3\n", &bad));
        }
        assert!(!lock().verified.contains(&tag(&public, b"tisa.v1.test\nn=3\n", &bad)));
        assert!(check(&public, b"tisa.v1.test\nn=3\n", &sig));
    }

    #[test]
    fn the_table_is_bounded() {
        let (public, _) = signed(10, b"x");
        let mut c = Cache::default();
        for i in 0..(MAX_VERIFIED + 10) as u64 {
            c.remember(tag(&public, &i.to_le_bytes(), &[0; 64]));
        }
        assert_eq!((c.verified.len(), c.order.len()), (MAX_VERIFIED, MAX_VERIFIED));
        assert!(!c.verified.contains(&tag(&public, &0u64.to_le_bytes(), &[0; 64])), "the oldest is forgotten");
        let newest = (MAX_VERIFIED + 9) as u64;
        assert!(c.verified.contains(&tag(&public, &newest.to_le_bytes(), &[0; 64])));
    }
}
