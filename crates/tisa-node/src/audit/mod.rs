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
//! Every append is written and fsync'd. Every [`HEAD_EVERY`] entries, and
//! on clean shutdown, a `HEAD` entry signs the chain head (seq, hash) with
//! the node's key (document `tisa.v1.audit-head`). After each input the
//! head is also recorded in the node's store and in `audit.head` (a
//! fixed-size side file, fsync'd, readable while the node runs, since redb
//! allows one process at a time): a file that ends before a recorded head
//! has lost entries at its end.
//!
//! Replay-idempotent: the core is deterministic, so replaying the input log
//! on start reproduces the same events in the same order. An entry is
//! written only if its `(input_seq, input_part)` is beyond the last one in
//! the file: replay adds no duplicates, and entries for inputs that were
//! logged but not yet audited before a crash are written then.

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
