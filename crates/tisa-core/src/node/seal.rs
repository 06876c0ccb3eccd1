//! The node's own documents signed a batch at a time.
//!
//! A manifest (a submission) and a receipt (a delivery taken in) are
//! signed on the report's path, once per report. Under load many of them
//! arise between two drains of the node's output, so the core signs them
//! together: [`Node::sign_later`] gives a document without a signature
//! ([`Signed::is_pending`]) and remembers where it went; before anything
//! leaves the core ([`Node::poll_transmit`], [`Node::poll_stash`]),
//! [`Node::seal`] signs everything pending with one signature over a
//! Merkle root ([`crate::sign::Identity::sign_batch`]; one document alone
//! is signed directly) and writes each document's signature and proof into
//! every copy: the transmits queued, the bodies stashed or kept in memory,
//! the receipts kept for resending. Nothing unsigned leaves the core.
//!
//! Signatures are not part of the core's deterministic state: a replay may
//! group documents into other batches and so sign them differently, but the
//! documents are the same bytes, and everything that refers to a document
//! (decisions, receipts, the hub's checks of a report sent again) names the
//! SHA-256 of its bytes, never its signature.

use std::collections::HashMap;

use super::Node;
use crate::message::Payload;
use crate::report::BodyKey;
use crate::sign::{sha256, Digest32, Signed};

/// Documents waiting for the next batch signature, and where their copies are.
#[derive(Debug, Default)]
pub(super) struct Seal {
    /// The documents, in the order they arose.
    documents: Vec<Vec<u8>>,
    /// Bodies kept in memory whose manifest's signature is pending.
    bodies: Vec<BodyKey>,
}

impl Node {
    /// `bytes`, to be signed by this node with the next batch ([`Node::seal`]).
    pub(super) fn sign_later(&mut self, bytes: Vec<u8>) -> Signed {
        self.seal.documents.push(bytes.clone());
        Signed::unsigned(bytes, self.identity.name().to_owned())
    }

    /// Notes that the body kept in memory under `key` waits for its manifest's signature.
    pub(super) fn seal_body(&mut self, key: BodyKey) {
        self.seal.bodies.push(key);
    }

    /// How many documents wait for a signature.
    pub fn unsealed(&self) -> usize {
        self.seal.documents.len()
    }

    /// Signs every pending document (one batch signature, or a direct one
    /// for a single document) and fills each copy in. Called before any
    /// output is polled; a shell need not call it.
    pub fn seal(&mut self) {
        if self.seal.documents.is_empty() {
            return;
        }
        let documents = std::mem::take(&mut self.seal.documents);
        let signed: HashMap<Digest32, Signed> =
            self.identity.sign_batch(documents).into_iter().map(|s| (sha256(&s.bytes), s)).collect();
        let fill = |s: &mut Signed| {
            if s.is_pending() {
                if let Some(done) = signed.get(&sha256(&s.bytes)) {
                    *s = done.clone();
                }
            }
        };
        for t in &mut self.transmits {
            match &mut t.envelope.payload {
                Payload::Report(r) => fill(&mut r.manifest),
                Payload::Delivery(d) => fill(&mut d.manifest),
                Payload::Receipt(r) => fill(&mut r.signed),
                _ => {}
            }
        }
        for s in &mut self.stashes {
            fill(&mut s.body.manifest);
        }
        for key in std::mem::take(&mut self.seal.bodies) {
            if let Some(b) = self.bodies.as_mut().and_then(|m| m.get_mut(&key)) {
                fill(&mut b.manifest);
            }
        }
    }
}
