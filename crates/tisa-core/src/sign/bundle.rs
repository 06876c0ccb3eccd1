//! The document a node signs over an off-line bundle: who exports it to
//! whom, under which agreement, the SHA-256 of every envelope it carries
//! (in order), and the message ids of the peer's off-line envelopes it has
//! taken in (so the peer stops exporting them again).

use super::canonical::{canonical, hex, unhex, Digest32, Doc, Reader, SigError};
use crate::ids::MessageId;
use crate::policy::AgreementTag;
use crate::types::{Party, Timestamp};

/// `tisa.v1.bundle`, signed by the exporting node's key. A bundle's
/// envelopes are those the on-line path would have sent over the same link;
/// the signature stands in for the link's authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleDoc {
    /// The exporting party (its node signs).
    pub from: Party,
    /// The only party that may import it (the other end of a link).
    pub to: Party,
    /// When it was exported, by the exporter's clock.
    pub created_at: Timestamp,
    /// The agreement the exporter enforced.
    pub agreement: AgreementTag,
    /// SHA-256 of each envelope's encoding, in the bundle's order.
    pub envelopes: Vec<Digest32>,
    /// Message ids of `to`'s off-line envelopes the exporter took in.
    pub acks: Vec<MessageId>,
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

impl BundleDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("bundle")
            .kv("from", self.from.code())
            .kv("to", self.to.code())
            .kv("created_at", self.created_at.as_millis())
            .kv("agreement_version", self.agreement.version)
            .kv("agreement_sha256", hex(&self.agreement.hash))
            .kv("envelopes", list(&self.envelopes, hex))
            .kv("acks", list(&self.acks, ToString::to_string))
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<BundleDoc, SigError> {
        const K: &str = "bundle";
        let bad = || SigError::Malformed(K);
        let mut r = Reader::new(bytes, K)?;
        let from = r.parse("from")?;
        let to = r.parse("to")?;
        let created_at = Timestamp(r.parse("created_at")?);
        let version = r.parse("agreement_version")?;
        let hash = r.digest("agreement_sha256")?;
        let envelopes = split(r.get("envelopes")?).map(|s| unhex(s).ok_or_else(bad)).collect::<Result<_, _>>()?;
        let acks = split(r.get("acks")?).map(|s| MessageId::new(s).map_err(|_| bad())).collect::<Result<_, _>>()?;
        r.end()?;
        let d = BundleDoc { from, to, created_at, agreement: AgreementTag { version, hash }, envelopes, acks };
        canonical(bytes, d, BundleDoc::to_bytes, K)
    }
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|x| !x.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_changed_byte() {
        let d = BundleDoc {
            from: Party::Kr,
            to: Party::Us,
            created_at: Timestamp(5),
            agreement: AgreementTag { version: 2, hash: [7; 32] },
            envelopes: vec![[1; 32], [2; 32]],
            acks: vec![MessageId::new("US.00000000000000ff.3").unwrap()],
        };
        let bytes = d.to_bytes();
        assert_eq!(BundleDoc::parse(&bytes).unwrap(), d);
        let empty = BundleDoc { envelopes: vec![], acks: vec![], ..d.clone() };
        assert_eq!(BundleDoc::parse(&empty.to_bytes()).unwrap(), empty);
        // Another recipient: a different document (a signature over one
        // does not cover the other).
        let to_jp = String::from_utf8(bytes).unwrap().replace("to=US", "to=JP");
        assert_eq!(BundleDoc::parse(to_jp.as_bytes()).unwrap().to, Party::Jp);
    }
}
