//! Batch signatures: one ed25519 signature over the root of a Merkle tree
//! of documents, each document carrying its inclusion proof.
//!
//! Under load a node signs many documents of one kind at once (the
//! manifests of one drain of submissions, the receipts of one drain of
//! deliveries). Instead of one signature each, it signs a `tisa.v1.batch`
//! document naming the root of a Merkle tree over them, and each document
//! travels with that one signature and its path to the root
//! ([`BatchProof`]). Each document still verifies on its own, without the
//! others: hash it, walk the path, check the signature over the root. A
//! receiver verifies the root's signature once per batch (the signature
//! cache remembers it; see `cache`); every further document of the batch
//! costs a few SHA-256 compressions.
//!
//! The tree is RFC 9162's (Certificate Transparency v2, §2.1): leaves
//! hashed as `SHA-256(0x00 ‖ document)`, interior nodes as
//! `SHA-256(0x01 ‖ left ‖ right)` (so no interior node is a leaf's hash),
//! the tree left-complete, proofs checked by its verification algorithm
//! (§2.1.3.2). The signed root document names its kind on its first line,
//! so a root signature can never pass for a signature over a document of
//! another kind, and a batch of one is signed directly, without a tree.

use sha2::{Digest as _, Sha256};

use super::canonical::{canonical, hex, Digest32, Doc, Reader, SigError};

/// Most documents one batch signature may cover (a proof is at most 16 hashes).
pub const MAX_BATCH: u32 = 1 << 16;
/// Most hashes in an inclusion proof ([`MAX_BATCH`]'s depth).
pub const MAX_PATH: usize = 16;

/// Where a document sits in a signed batch: its index, the batch's size and
/// the sibling hashes from its leaf up to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProof {
    /// The document's leaf index, `< size`.
    pub index: u32,
    /// How many documents the batch signature covers (2 ..= [`MAX_BATCH`]).
    pub size: u32,
    /// The audit path, leaf first (at most [`MAX_PATH`]).
    pub path: Vec<Digest32>,
}

impl BatchProof {
    /// Whether its index, size and path length are within bounds: the one
    /// definition, used at the wire's edge and before walking a proof.
    pub fn well_formed(&self) -> bool {
        (2..=MAX_BATCH).contains(&self.size) && self.index < self.size && self.path.len() <= MAX_PATH
    }
}

/// `tisa.v1.batch`: what a batch signature covers — the size of the tree
/// and its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDoc {
    /// How many documents (leaves).
    pub size: u32,
    /// The Merkle tree hash over them.
    pub root: Digest32,
}

impl BatchDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("batch").kv("size", self.size).kv("root", hex(&self.root)).bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<BatchDoc, SigError> {
        const K: &str = "batch";
        let mut r = Reader::new(bytes, K)?;
        let d = BatchDoc { size: r.parse("size")?, root: r.digest("root")? };
        r.end()?;
        canonical(bytes, d, BatchDoc::to_bytes, K)
    }
}

/// A document's leaf hash: `SHA-256(0x00 ‖ document)`.
pub fn leaf_hash(document: &[u8]) -> Digest32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(document);
    h.finalize().into()
}

/// An interior node's hash: `SHA-256(0x01 ‖ left ‖ right)`.
fn node_hash(left: &Digest32, right: &Digest32) -> Digest32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root and each leaf's proof, for 2 ..= [`MAX_BATCH`] leaves (`None`
/// otherwise). Built level by level: a level's odd last node is carried up
/// unchanged, which yields RFC 9162's left-complete tree.
pub fn tree(leaves: &[Digest32]) -> Option<(Digest32, Vec<BatchProof>)> {
    let size = u32::try_from(leaves.len()).ok().filter(|n| (2..=MAX_BATCH).contains(n))?;
    let mut proofs: Vec<BatchProof> = (0..size).map(|index| BatchProof { index, size, path: Vec::new() }).collect();
    let mut level = leaves.to_vec();
    // Which leaves each node of the current level covers: a contiguous range.
    let mut width = 1usize;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for (i, pair) in level.chunks(2).enumerate() {
            if let [left, right] = pair {
                // Every leaf under the left node gets the right one, and the reverse.
                let left_leaves = (2 * i) * width..((2 * i + 1) * width).min(leaves.len());
                let right_leaves = (2 * i + 1) * width..((2 * i + 2) * width).min(leaves.len());
                for p in &mut proofs[left_leaves] {
                    p.path.push(*right);
                }
                for p in &mut proofs[right_leaves] {
                    p.path.push(*left);
                }
                next.push(node_hash(left, right));
            } else {
                next.push(pair[0]);
            }
        }
        level = next;
        width *= 2;
    }
    Some((level[0], proofs))
}

/// The root `proof` leads to from `leaf`, by RFC 9162's verification
/// algorithm (§2.1.3.2); `None` if the proof is malformed for its index and
/// size (too long, too short, index out of range, size out of bounds).
pub fn root_from(proof: &BatchProof, leaf: Digest32) -> Option<Digest32> {
    if !proof.well_formed() {
        return None;
    }
    let (mut f, mut s) = (proof.index, proof.size - 1);
    let mut r = leaf;
    for p in &proof.path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// What the batch signature over `document` with `proof` must cover: the
/// `tisa.v1.batch` bytes of the root the proof leads to.
pub(super) fn signed_root(proof: &BatchProof, document: &[u8]) -> Option<Vec<u8>> {
    let root = root_from(proof, leaf_hash(document))?;
    Some(BatchDoc { size: proof.size, root }.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162 §2.1.1's definition, recursively: the independent oracle.
    fn mth(leaves: &[Digest32]) -> Digest32 {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
    }

    /// RFC 9162 §2.1.3.1's PATH(m, D[n]), recursively.
    fn path(m: usize, leaves: &[Digest32]) -> Vec<Digest32> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Digest32> {
        (0..n).map(|i| leaf_hash(format!("doc {i}").as_bytes())).collect()
    }

    #[test]
    fn tree_and_proofs_are_rfc_9162s_for_every_size_up_to_70() {
        for n in 2..=70 {
            let l = leaves(n);
            let (root, proofs) = tree(&l).unwrap();
            assert_eq!(root, mth(&l), "root of {n}");
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.path, path(i, &l), "path of {i} in {n}");
                assert_eq!(root_from(p, l[i]), Some(root), "verifies {i} in {n}");
            }
        }
    }

    #[test]
    fn a_proof_holds_only_for_its_own_leaf_index_and_size() {
        let l = leaves(13);
        let (root, proofs) = tree(&l).unwrap();
        for (i, p) in proofs.iter().enumerate() {
            // Control: the proof as built leads to the root.
            assert_eq!(root_from(p, l[i]), Some(root));
            // Another leaf, another index, another size, a shortened or
            // lengthened path, a changed sibling: never the root.
            assert_ne!(root_from(p, l[(i + 1) % 13]), Some(root));
            for j in (0..13).filter(|&j| j != i) {
                assert_ne!(root_from(&BatchProof { index: j as u32, ..p.clone() }, l[i]), Some(root), "{i} as {j}");
            }
            // Another size may lead to the same hash (the left of a tree does
            // not depend on its right), but the size is in what is signed.
            let doc = format!("doc {i}");
            let signed = signed_root(p, doc.as_bytes()).unwrap();
            assert_eq!(BatchDoc::parse(&signed).unwrap(), BatchDoc { size: 13, root });
            for size in [2, 12, 14, 16, 26] {
                assert_ne!(
                    signed_root(&BatchProof { size, ..p.clone() }, doc.as_bytes()),
                    Some(signed.clone()),
                    "{i} in {size}"
                );
            }
            let mut short = p.clone();
            short.path.pop();
            assert_ne!(root_from(&short, l[i]), Some(root));
            let mut long = p.clone();
            long.path.push(root);
            assert_ne!(root_from(&long, l[i]), Some(root));
            let mut changed = p.clone();
            changed.path[0][0] ^= 1;
            assert_ne!(root_from(&changed, l[i]), Some(root));
        }
    }

    #[test]
    fn sizes_and_paths_out_of_bounds_are_refused() {
        assert!(tree(&leaves(1)).is_none(), "a batch of one is signed directly");
        assert!(tree(&[]).is_none());
        let leaf = leaf_hash(b"x");
        let bad = [
            BatchProof { index: 0, size: 1, path: vec![] },
            BatchProof { index: 2, size: 2, path: vec![leaf] },
            BatchProof { index: 0, size: MAX_BATCH + 1, path: vec![leaf; 17] },
            BatchProof { index: 0, size: 2, path: vec![leaf; MAX_PATH + 1] },
        ];
        for p in bad {
            assert_eq!(root_from(&p, leaf), None, "{p:?}");
        }
        // Control: a well-formed two-leaf proof.
        assert!(root_from(&BatchProof { index: 0, size: 2, path: vec![leaf] }, leaf).is_some());
    }

    #[test]
    fn a_leaf_is_never_an_interior_node() {
        // Second-preimage: the bytes of an interior node (two child hashes)
        // presented as a one-document "leaf" hash differently.
        let l = leaves(2);
        let (root, _) = tree(&l).unwrap();
        let mut two = Vec::new();
        two.extend_from_slice(&l[0]);
        two.extend_from_slice(&l[1]);
        assert_ne!(leaf_hash(&two), root);
    }

    #[test]
    fn the_root_document_is_canonical() {
        let d = BatchDoc { size: 7, root: [9; 32] };
        assert_eq!(BatchDoc::parse(&d.to_bytes()).unwrap(), d);
        let text = String::from_utf8(d.to_bytes()).unwrap();
        assert!(text.starts_with("tisa.v1.batch\n"), "{text}");
        assert!(BatchDoc::parse(text.replace("size=7", "size=07").as_bytes()).is_err());
    }
}
