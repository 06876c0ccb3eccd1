//! Signatures over canonical documents.
//!
//! A signature never covers a re-encoding of protobuf: it covers a small,
//! canonical text document carried as raw bytes next to the data it
//! describes. The receiver parses the bytes, checks that they describe
//! exactly what it received, and verifies the ed25519 signature against the
//! agreement's registered keys. Documents:
//!
//! - **manifest** (signed by the originator's node): report id, revision,
//!   originator, creation time, category, classification, releasable-to, and
//!   the SHA-256 of the title, body, tearline and source. A tearline-only
//!   recipient checks the tearline against its hash without ever seeing the body.
//! - **decision** (signed by an originator's approver): the manifest's
//!   SHA-256, the request id, report, revision, recipient and the decision.
//!   It cannot be replayed for another report, revision or party.
//! - **grant** / **revocation** (signed by an originator's approver): a
//!   standing pre-approval for a recipient, categories and a maximum
//!   classification; and its withdrawal.
//!
//! - **track** (signed by the originator's node): one update of a live
//!   missile-warning track — track id, sequence number, originator,
//!   category (always NK_MISSILE), classification, releasable-to, launch
//!   point and time, current position, altitude and observation time,
//!   predicted impact point, and when the node issued it.
//!
//! In full (ed25519 over `"tisa-signature-v1\0" ‖ document`):
//!
//! | document | signed by | contents |
//! |---|---|---|
//! | `tisa.v1.manifest` | originator's node key | id, revision, originator, created-at, category, classification, releasable-to, SHA-256 of title, body, tearline, source, submitting operator (a label) and the key id that signed the submission (what the two-person rule compares) |
//! | `tisa.v1.decision` | originator's approver key | SHA-256 of the manifest bytes, request id, report id, revision, recipient, verdict, reason, time, approver |
//! | `tisa.v1.grant` | originator's approver key | grant id, originator, recipient, categories, max classification, tearline-only, issued, lapses, approver |
//! | `tisa.v1.revocation` | originator's approver key | grant id, originator, time, approver |
//! | `tisa.v1.receipt` | recipient's node key | report id, revision, recipient, SHA-256 of the manifest received, commit time (no content); travels with the recipient's signed `tisa.v1.audit-head` |
//! | `tisa.v1.retraction` | originator's node key | report id, originator, time, SHA-256 of the reason, operator |
//! | `tisa.v1.audit-head` | a node's key | party, seq and hash of the last audit entry (HEAD entries; receipts) |
//! | `tisa.v1.action` | an operator's or feed's key (by key id) | party, verb, SHA-256 of the request payload bytes, issue time, nonce, key id: every state-changing control request and content read |
//! | `tisa.v1.submission` | the submitter's key (by key id) | party, category, classification, releasable-to, SHA-256 of title, body, tearline, source, corrected report, issue time, nonce, key id; travels with the report |
//! | `tisa.v1.cosign` | a second approver's key (by key id) | grant id, originator, SHA-256 of the grant document, time, key id: under the two-person rule a grant takes effect, and the hub and the recipient accept it, only with one by another approver key ([`check_cosigned`]) |
//! | `tisa.v1.agreement` | each party's agreement-signer key (by key id) | version, SHA-256 of the agreement's canonical form, SHA-256 of the previous version's, party, key id: a version is in force only with one from each of the three parties, by keys the previous version registers ([`check_agreement_signed`]) |
//! | `tisa.v1.roster` | the party's roster key (by key id) | party, version, issue time, operators (name, key id, public key, roles) |
//! | `tisa.v1.track` | originator's node key | track id, sequence number, originator, category (NK_MISSILE), classification, releasable-to, launch point and time, position, altitude, observation time, predicted impact, issue time |
//! | `tisa.v1.bundle` | the exporting node's key | from, to, export time, agreement version and hash, SHA-256 of each envelope carried, message ids of the peer's off-line envelopes taken in: an off-line bundle (`tisa bundle`), standing in for the link's authentication |
//! | `tisa.v1.batch` | a node's key | the size and the Merkle root (RFC 9162) of a batch of that node's documents (manifests, receipts): one signature for all of them, each document carrying its inclusion proof in [`Signed::batch`] and verifying on its own ([`verify`] walks the proof); a batch of one is signed directly |
//! | `tisa.v1.standing` | originator's node key | grant id, SHA-256 of the grant's signed bytes, originator, per-grant sequence number, issue time: the grant still stands (issued on a timer; a recipient uses a grant only while it holds a fresh one) |
//!
//! Format: a first line naming the document (`tisa.v1.manifest`), then
//! `key=value` lines in a fixed order, each ending in `\n`. Parsing is strict
//! and re-serialises to check the bytes are canonical.
//!
//! Operator documents name their signer by key id ([`crate::policy::KeyId`]:
//! 16 hex characters of the SHA-256 of the public key) and are checked with
//! [`verify_key`] against the roles the policy's keys hold.
//!
//! Submodules: `canonical` (the format, digests, [`SigError`]), `keys`
//! ([`Signed`], [`Identity`], [`verify`], [`verify_key`]), `batch` (the
//! Merkle tree of batch signatures), `cache` (checks paid once), `ahead` (checks
//! run before the core asks for them), then one per document. Every
//! public item is re-exported here; import from `tisa_core::sign`.

mod action;
mod agreement;
mod ahead;
mod batch;
mod bundle;
mod cache;
mod canonical;
mod cosign;
mod decision;
mod grant;
mod keys;
mod manifest;
mod receipt;
mod retraction;
mod roster;
mod standing;
mod submission;
mod track;

#[cfg(test)]
mod tests;

pub use action::{verify_action, ActionDoc, AuthError, Authorization, Nonce, Replays};
pub use agreement::{check_agreement_signed, AgreementDoc, AgreementSigError};
pub use ahead::{checks_for, Check, MAX_KEYS_AHEAD};
pub use batch::{BatchDoc, BatchProof, MAX_BATCH, MAX_PATH};
pub use bundle::BundleDoc;
pub use cache::{forget_verified, verify_stats};
pub use canonical::{sha256, Digest32, SigError};
pub use cosign::{check_cosigned, CosignDoc};
pub use decision::{DecisionDoc, Verdict};
pub use grant::{GrantDoc, RevocationDoc};
pub use keys::{valid_name, verify, verify_key, Identity, KeyError, Signed};
pub use manifest::{Manifest, SubmissionSig};
pub use receipt::{AuditHeadDoc, ReceiptDoc};
pub use retraction::RetractionDoc;
pub use roster::{RosterDoc, RosterError, RosterOperator};
pub use standing::StandingDoc;
pub use submission::SubmissionDoc;
pub use track::TrackDoc;
