//! The node's audit log: `<data_dir>/audit.log`, append-only and
//! hash-chained, one JSON object per line.
//!
//! Every entry records what happened at this node (a report submitted,
//! held, released, received, refused…) by **ids and enum names only**: never
//! a title, body, tearline or source, and no free text from peers or
//! operators. Fields, in this order (the canonical form is this
//! serialisation, compact, absent fields omitted):
//!
//! `seq` (1-based, contiguous), `at_ms`, `party`, `actor` (the party, or
//! the operator when known: a decision's approver, a grant's issuer, the
//! submitting operator), `kind`, `report_id`, `revision`, `request_id`,
//! `recipient`, `grant_id`, `detail` (one line of ids and enum names),
//! `input_seq` and `input_part` (the input-log record that caused the
//! entry, and the entry's rank among those it caused), `head` (HEAD only),
//! `prev` (hex hash of the previous entry; zeros for the first) and `hash`
//! = SHA-256(prev ‖ the entry's canonical bytes without `hash`).
//!
//! Every [`HEAD_EVERY`] entries, and on clean shutdown, a `HEAD` entry
//! signs the chain head (seq, hash) with the node's key (document
//! `tisa.v1.audit-head`). Whenever the file is fsync'd the head is also
//! recorded in the node's store and in `audit.head` (a fixed-size side
//! file, fsync'd, readable while the node runs, since redb allows one
//! process at a time): a file that ends before a recorded head has lost
//! entries at its end.
//!
//! **Derived from the input log.** The core is deterministic, so replaying
//! the input log on start reproduces the same events in the same order,
//! and an input's entries are written, not fsync'd: the input log was
//! fdatasync'd before the input was applied, so a power loss takes back
//! nothing replay cannot write again, byte for byte (a `HEAD` among them
//! takes the time of the entry before it, not the clock). The node fsyncs
//! the file off its path every `AUDIT_SYNC_EVERY`, at a clean stop and
//! before an off-line export. What replay could not derive is fsync'd at
//! once: dead letters, reads, operators' bundle actions, a refused
//! command's entries. On open, entries after the last recorded head must
//! chain on; from the first that does not (a power loss's torn or zeroed
//! tail), the tail is cut off, kept aside as `audit.log.cut-<seq>`, and
//! written again by replay. An entry is written only if its `(input_seq,
//! input_part)` is beyond the last one in the file: replay adds no
//! duplicates.

mod entry;
mod log;
#[cfg(test)]
mod tests;
mod verify;

pub(crate) use entry::unauthorized_code;
pub use entry::{head_document, hex, read_head_file, unhex, unhex32, Entry, InputNote, PeerHead, SignedHead};
pub use log::{AuditError, AuditLog, PendingFlush};
pub use verify::{parse_lines, verify, verify_head, KnownHead, Summary, VerifyError};

/// The log's file name in the data directory.
pub const LOG_FILE: &str = "audit.log";
/// The side file holding the latest head (seq, hash).
pub const HEAD_FILE: &str = "audit.head";
/// A signed HEAD entry follows every this many entries.
pub const HEAD_EVERY: u64 = 64;
/// The first line of a signed head document.
pub const HEAD_DOC: &str = "tisa.v1.audit-head";

const ZERO: [u8; 32] = [0; 32];
