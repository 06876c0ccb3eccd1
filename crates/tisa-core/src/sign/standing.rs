//! A grant-standing statement, signed by the originator's node: "grant G,
//! whose signed document has this hash, still stands at `issued_at`". The
//! originator issues one on a timer while the grant stands (not revoked,
//! not lapsed); the recipient takes a delivery or track under the grant
//! only while it holds a fresh one, so a hub that withholds a revocation
//! can use the grant for at most one window (`Policy::standing_window`).

use super::canonical::{canonical, hex, Doc, Reader, SigError};
use super::keys::valid_name;
use crate::types::{Party, Timestamp};

/// The statement that a standing grant still stands, as the originator's node signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandingDoc {
    /// The grant it speaks for.
    pub grant_id: String,
    /// SHA-256 of the grant's signed document bytes: the statement is for
    /// exactly that grant, never another one under the same id.
    pub grant_sha256: [u8; 32],
    /// The party whose grant it is (its node signs).
    pub originator: Party,
    /// Increasing per grant (a later statement supersedes an earlier one).
    pub seq: u64,
    /// When the originator's node issued it (its clock).
    pub issued_at: Timestamp,
}

impl StandingDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("standing")
            .kv("grant_id", &self.grant_id)
            .kv("grant_sha256", hex(&self.grant_sha256))
            .kv("originator", self.originator.code())
            .kv("seq", self.seq)
            .kv("issued_at", self.issued_at.as_millis())
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<StandingDoc, SigError> {
        const K: &str = "standing";
        let mut r = Reader::new(bytes, K)?;
        let d = StandingDoc {
            grant_id: r.get("grant_id")?.to_owned(),
            grant_sha256: r.digest("grant_sha256")?,
            originator: r.parse("originator")?,
            seq: r.parse("seq")?,
            issued_at: Timestamp(r.parse("issued_at")?),
        };
        r.end()?;
        if !valid_name(&d.grant_id) {
            return Err(SigError::Malformed(K));
        }
        canonical(bytes, d, StandingDoc::to_bytes, K)
    }

    /// Whether the statement is fresh at `now` (the reader's clock): issued
    /// at most `window` before or after it. The window absorbs the clock
    /// skew between the originator and the reader.
    pub fn fresh_at(&self, now: Timestamp, window: std::time::Duration) -> bool {
        let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        now.as_millis().abs_diff(self.issued_at.as_millis()) <= window
    }
}
