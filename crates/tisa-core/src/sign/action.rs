//! The signed action: every state-changing control request and every read
//! of content carries one, signed by the operator's (or feed's) key in
//! its own process. The node's core verifies it before the command has
//! any effect: a registered key of this party with a role allowed for the
//! verb, fresh (within the agreement's clock skew), over exactly the
//! request's payload bytes, and never seen before ([`Replays`]).

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use super::canonical::{canonical, hex, Digest32, Doc, Reader, SigError};
use super::keys::{verify_key, KeyError, Signed};
use crate::policy::{KeyEntry, KeyId, Policy, Verb};
use crate::types::{Party, Timestamp};

/// A nonce: 128 random bits, as 32 lower-case hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nonce(pub [u8; 16]);

impl std::fmt::Display for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::text::fmt_hex(f, &self.0)
    }
}

impl std::str::FromStr for Nonce {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(());
        }
        let mut n = [0u8; 16];
        for (i, o) in n.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or(())?, 16).map_err(|_| ())?;
        }
        Ok(Nonce(n))
    }
}

/// `tisa.v1.action`: who asks this party's node to do what, over which
/// exact request bytes, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionDoc {
    /// The party whose node is asked.
    pub party: Party,
    /// What is asked.
    pub verb: Verb,
    /// SHA-256 of the exact request payload bytes.
    pub payload_sha256: Digest32,
    /// When, by the signer's clock.
    pub issued_at: Timestamp,
    /// Random, once per action.
    pub nonce: Nonce,
    /// The signing key.
    pub key_id: KeyId,
}

impl ActionDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("action")
            .kv("party", self.party.code())
            .kv("verb", self.verb)
            .kv("payload_sha256", hex(&self.payload_sha256))
            .kv("issued_at", self.issued_at.as_millis())
            .kv("nonce", self.nonce)
            .kv("key_id", self.key_id)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<ActionDoc, SigError> {
        const K: &str = "action";
        let mut r = Reader::new(bytes, K)?;
        let d = ActionDoc {
            party: r.parse("party")?,
            verb: r.parse("verb")?,
            payload_sha256: r.digest("payload_sha256")?,
            issued_at: Timestamp(r.parse("issued_at")?),
            nonce: r.parse("nonce")?,
            key_id: r.parse("key_id")?,
        };
        r.end()?;
        canonical(bytes, d, ActionDoc::to_bytes, K)
    }

    /// The action for a request payload of SHA-256 `payload_sha256`
    /// (what the CLI signs).
    pub fn new(
        party: Party,
        verb: Verb,
        payload_sha256: Digest32,
        issued_at: Timestamp,
        nonce: Nonce,
        key_id: KeyId,
    ) -> Self {
        ActionDoc { party, verb, payload_sha256, issued_at, nonce, key_id }
    }
}

/// The signed action that came with a command (`tisa.v1.action`, see
/// [`crate::sign::verify_action`]) and the SHA-256 of the request payload
/// it must cover, computed by the shell from the request it decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The operator's (or feed's) signed action.
    pub action: Signed,
    /// SHA-256 of the request's payload bytes.
    pub payload_sha256: Digest32,
}

/// Why a signed action was refused. One line each, naming the key and
/// what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signed action came with the request.
    #[error("this {0} request is not signed: give your key with --key FILE (or TISA_KEY); it needs the {1} role")]
    Unsigned(Verb, String),
    /// Not a canonical action document.
    #[error("malformed action document: sign the request with the tisa CLI or kit")]
    Malformed,
    /// The key is unknown, of another party, lacks the role, or the signature is bad.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signer field and the document's key id differ.
    #[error("the action names key {doc} but is signed by {signer}")]
    KeyMismatch {
        /// The document's key id.
        doc: KeyId,
        /// The signer's.
        signer: String,
    },
    /// Signed for another party's node.
    #[error("the action is addressed to {doc}, not {party}: sign it for the node you send it to")]
    WrongParty {
        /// The document's party.
        doc: Party,
        /// This node's.
        party: Party,
    },
    /// Signed for another verb.
    #[error("the action authorizes {doc}, not {verb}: sign the request you send")]
    WrongVerb {
        /// The document's verb.
        doc: Verb,
        /// The request's.
        verb: Verb,
    },
    /// The payload hash does not match the request it came with.
    #[error("the action by key {0} does not cover this request's bytes: sign the request you send")]
    PayloadMismatch(KeyId),
    /// Outside the allowed clock skew.
    #[error("the action by key {key} was signed {off_s} s away from this node's clock (at most {skew_s} s): check your clock and send a fresh request")]
    Stale {
        /// The key.
        key: KeyId,
        /// Seconds between the action's time and the node's.
        off_s: u64,
        /// The allowed skew in seconds.
        skew_s: u64,
    },
    /// The (key, nonce) was used before.
    #[error("replayed action: key {key} already used nonce {nonce}; sign a fresh request")]
    Replayed {
        /// The key.
        key: KeyId,
        /// The nonce.
        nonce: Nonce,
    },
}

/// Verifies `signed` as an action of `verb` on this `party`'s node over
/// exactly the request payload of SHA-256 `payload_sha256`, at `now` (freshness within `policy.clock_skew`).
/// Replay is checked separately ([`Replays`]), as it needs state. Returns
/// the document and the key entry that allowed it (its name is a label).
pub fn verify_action<'p>(
    policy: &'p Policy,
    party: Party,
    now: Timestamp,
    verb: Verb,
    payload_sha256: &Digest32,
    signed: &Signed,
) -> Result<(ActionDoc, &'p KeyEntry), AuthError> {
    let doc = ActionDoc::parse(&signed.bytes).map_err(|_| AuthError::Malformed)?;
    if doc.key_id.to_string() != signed.signer {
        return Err(AuthError::KeyMismatch { doc: doc.key_id, signer: signed.signer.chars().take(40).collect() });
    }
    let entry = verify_key(policy, party, verb.roles(), verb.as_str(), signed)?;
    if doc.party != party {
        return Err(AuthError::WrongParty { doc: doc.party, party });
    }
    if doc.verb != verb {
        return Err(AuthError::WrongVerb { doc: doc.verb, verb });
    }
    if doc.payload_sha256 != *payload_sha256 {
        return Err(AuthError::PayloadMismatch(doc.key_id));
    }
    let off = now.as_millis().abs_diff(doc.issued_at.as_millis());
    let skew = u64::try_from(policy.clock_skew.as_millis()).unwrap_or(u64::MAX);
    if off > skew {
        return Err(AuthError::Stale { key: doc.key_id, off_s: off / 1000, skew_s: skew / 1000 });
    }
    Ok((doc, entry))
}

/// The (key, nonce) pairs of verified actions, kept as long as an action
/// with that time could still pass freshness (2 × skew; older ones fail
/// freshness anyway), so a replayed action is refused.
#[derive(Clone, Debug, Default)]
pub struct Replays {
    seen: HashSet<(KeyId, Nonce)>,
    by_time: BTreeSet<(Timestamp, KeyId, Nonce)>,
}

impl Replays {
    /// Refuses `doc` if its (key, nonce) was seen, else records it. Forgets
    /// what is older than `now - 2 × skew` first.
    pub fn check(&mut self, doc: &ActionDoc, now: Timestamp, skew: Duration) -> Result<(), AuthError> {
        let keep =
            Timestamp(now.as_millis().saturating_sub(2 * u64::try_from(skew.as_millis()).unwrap_or(u64::MAX / 2)));
        while let Some(first) = self.by_time.first().copied() {
            if first.0 >= keep {
                break;
            }
            self.by_time.remove(&first);
            self.seen.remove(&(first.1, first.2));
        }
        if !self.seen.insert((doc.key_id, doc.nonce)) {
            return Err(AuthError::Replayed { key: doc.key_id, nonce: doc.nonce });
        }
        self.by_time.insert((doc.issued_at, doc.key_id, doc.nonce));
        Ok(())
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
