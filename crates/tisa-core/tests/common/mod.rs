//! A deterministic, in-memory simulation of the three parties (in the style
//! of quinn's `Pair` and str0m's `progress`): three [`Node`]s, a fake clock,
//! and one FIFO queue of in-flight envelopes per directed link.
//!
//! Only the links KR<->US and JP<->US exist. Every transmit a node emits is
//! checked as it is drained: a node that addresses KR<->JP (or itself), or
//! that puts another party's name in its envelope's sender, makes the
//! harness panic.
//!
//! The deployment is fixed and deterministic: each party has a node key and
//! two approver keys (see [`node_key`], [`approver`]), all registered in the
//! policy every node runs with ([`with_keys`]).
// Each test binary uses a part of this module.
#![allow(dead_code, unused_imports)]

pub use tisa_core::*;

mod build;
mod sim;

pub use build::*;
pub use sim::*;

pub const KR: Party = Party::Kr;
pub const US: Party = Party::Us;
pub const JP: Party = Party::Jp;

/// 2014-12-29T00:00:00Z (the arrangement's signature), in ms since the epoch.
pub const T0: u64 = 1_419_811_200_000;
pub const SECOND: u64 = 1_000;
pub const MINUTE: u64 = 60 * SECOND;
pub const HOUR: u64 = 60 * MINUTE;
pub const DAY: u64 = 24 * HOUR;

// ----------------------------------------------------------------------
// The deployment: keys
// ----------------------------------------------------------------------

/// Name of `p`'s node key.
pub fn node_name(p: Party) -> &'static str {
    match p {
        Party::Kr => "kr-node",
        Party::Us => "us-node",
        Party::Jp => "jp-node",
    }
}

/// Names of `p`'s two approvers.
pub fn approver_names(p: Party) -> [&'static str; 2] {
    match p {
        Party::Kr => ["kim", "park"],
        Party::Us => ["smith", "jones"],
        Party::Jp => ["sato", "tanaka"],
    }
}

/// A deterministic seed: party, role (0 node, 1 approver), index.
fn seed(p: Party, role: u8, i: u8) -> [u8; 32] {
    let mut s = [0x5a_u8; 32];
    s[0] = idx(p) as u8;
    s[1] = role;
    s[2] = i;
    s
}

/// `p`'s node key (signs `p`'s manifests).
pub fn node_key(p: Party) -> Identity {
    Identity::from_seed(node_name(p), seed(p, 0, 0))
}

/// `p`'s approver `i` (0 or 1).
pub fn approver(p: Party, i: usize) -> Identity {
    Identity::from_seed(approver_names(p)[i], seed(p, 1, i as u8))
}

/// The key that signed a submission by `name` of `p`, as the node records
/// it from the verified signed action: an approver's own key, the clerk's
/// (a submitter's key; the core never checks it against the agreement, the
/// shell has), or none for "".
pub fn submitter_key(p: Party, name: &str) -> Option<KeyId> {
    match name {
        "" => None,
        n if n == CLERK => Some(clerk(p).key_id()),
        n => {
            Some(approver_names(p).iter().position(|a| *a == n).map_or(rogue(n).key_id(), |i| approver(p, i).key_id()))
        }
    }
}

/// `p`'s clerk: a submitter (the default drafts' submitter).
pub fn clerk(p: Party) -> Identity {
    Identity::from_seed(CLERK, seed(p, 2, 0))
}

/// A key that is registered nowhere, under any name (e.g. a stolen name).
pub fn rogue(name: &str) -> Identity {
    Identity::from_seed(name, [0xee; 32])
}

/// Every key of the deployment, as the agreement registers them.
pub fn keys() -> Vec<KeyEntry> {
    let mut out = Vec::new();
    for p in Party::ALL {
        let n = node_key(p);
        out.push(KeyEntry { party: p, name: n.name().to_owned(), role: KeyRole::Node, public: n.public() });
        for i in 0..2 {
            let a = approver(p, i);
            out.push(KeyEntry { party: p, name: a.name().to_owned(), role: KeyRole::Approver, public: a.public() });
            // Approvers may submit too (the two-person rule is about keys).
            out.push(KeyEntry { party: p, name: a.name().to_owned(), role: KeyRole::Submitter, public: a.public() });
        }
        let c = clerk(p);
        out.push(KeyEntry { party: p, name: c.name().to_owned(), role: KeyRole::Submitter, public: c.public() });
    }
    out
}

/// `policy` with the deployment's keys registered (if it registers none).
pub fn with_keys(mut policy: Policy) -> Policy {
    if policy.keys.is_empty() {
        policy.keys = keys();
    }
    policy
}

/// The default policy with the deployment's keys.
pub fn default_policy() -> Policy {
    with_keys(Policy::default())
}

/// The directed links that exist, in a fixed order.
pub const LINKS: [(Party, Party); 4] = [(KR, US), (JP, US), (US, KR), (US, JP)];

/// Whether a link between `a` and `b` exists.
pub fn link_exists(a: Party, b: Party) -> bool {
    a != b && (a.is_hub() || b.is_hub())
}

/// The slot of `p` in per-party arrays.
fn idx(p: Party) -> usize {
    match p {
        Party::Kr => 0,
        Party::Us => 1,
        Party::Jp => 2,
    }
}
