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

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tisa_core::sign::{sha256, valid_name, GrantDoc, RevocationDoc};
use tisa_core::{Basis, Decision, Event, Identity, KeyRole, Party, Payload, Policy, Signed, Stage, Timestamp};
use tisa_transport::store::{Input, LoggedInput};
use tisa_transport::{ControlRequest, DeadLetter};
use tracing::{error, warn};

use crate::store::Store;

/// The log's file name in the data directory.
pub const LOG_FILE: &str = "audit.log";
/// The side file holding the latest head (seq, hash).
pub const HEAD_FILE: &str = "audit.head";
/// A signed HEAD entry follows every this many entries.
pub const HEAD_EVERY: u64 = 64;
/// The first line of a signed head document.
pub const HEAD_DOC: &str = "tisa.v1.audit-head";

const ZERO: [u8; 32] = [0; 32];

/// The signed chain head carried by a `HEAD` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// Seq of the entry before the HEAD entry (0 for an empty chain).
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// The node key's registered name.
    pub signer: String,
    /// The node key's public half (hex), for exports; trust comes from the agreement.
    pub public: String,
    /// Ed25519 signature (hex) over the head document.
    pub signature: String,
}

/// Another party's audit chain head, as this node received it (verified).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerHead {
    /// Whose chain (`KOR`, `USA`, `JPN`).
    pub party: String,
    /// Seq of the last entry it covered.
    pub seq: u64,
    /// That entry's hash (hex).
    pub hash: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1-based, contiguous.
    pub seq: u64,
    /// When, by the node's clock (for events: the `now` of their input).
    pub at_ms: u64,
    /// The node's party (`KOR`, `USA`, `JPN`).
    pub party: String,
    /// Who acted: the party, or the operator when known.
    pub actor: String,
    /// `SUBMIT`, `DECIDED`, … `HEAD`.
    pub kind: String,
    /// The report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    /// Its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The release request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The standing grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// One line of ids and enum names.
    pub detail: String,
    /// The input-log record that caused it (none for MALFORMED, UNVERIFIABLE and HEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_seq: Option<u64>,
    /// Its rank among the entries that input caused (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_part: Option<u32>,
    /// HEAD only: the signed chain head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<SignedHead>,
    /// RECEIPT only: the recipient's audit chain head that came with its
    /// receipt (signature verified on arrival): evidence of how far that
    /// party's log reached, for `tisa audit verify --peer-log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_head: Option<PeerHead>,
    /// Hash of the previous entry (hex; zeros for the first).
    pub prev: String,
    /// SHA-256(prev ‖ canonical bytes of this entry without `hash`), hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl Entry {
    /// The canonical bytes the hash covers: the entry without `hash`.
    pub fn canonical(&self) -> Vec<u8> {
        let mut e = self.clone();
        e.hash = String::new();
        serde_json::to_vec(&e).unwrap_or_default()
    }

    /// The hash this entry must carry, given its `prev`.
    pub fn compute_hash(&self) -> Option<[u8; 32]> {
        let prev = unhex32(&self.prev)?;
        let mut bytes = prev.to_vec();
        bytes.extend_from_slice(&self.canonical());
        Some(sha256(&bytes))
    }

    /// The line as written (without the newline).
    pub fn line(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The document a HEAD entry signs.
pub fn head_document(party: &str, seq: u64, hash_hex: &str) -> Vec<u8> {
    format!("{HEAD_DOC}\nparty={party}\nseq={seq}\nhash={hash_hex}\n").into_bytes()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower-case hex of any length.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    (0..s.len() / 2).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Parses a 32-byte hex digest.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s).and_then(|v| <[u8; 32]>::try_from(v).ok())
}

/// An audit log failure.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {reason}")]
pub struct AuditError {
    path: PathBuf,
    reason: String,
}

/// What the entries of one input need to know about it (taken before the
/// input is moved into the core).
#[derive(Debug)]
pub struct InputNote {
    seq: u64,
    at: Timestamp,
    /// The submitting operator, for a submit.
    actor: Option<String>,
    /// A grant or revocation the input carries.
    grant: Option<GrantNote>,
    /// Its message id, for an inbound message.
    message_id: Option<String>,
}

#[derive(Debug)]
struct GrantNote {
    kind: &'static str,
    grant_id: String,
    operator: String,
    recipient: Option<Party>,
    detail: String,
}

/// The audit log of one node. See the module docs.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head_file: File,
    party: Party,
    identity: Identity,
    seq: u64,
    hash: [u8; 32],
    /// Entries since the last HEAD.
    since_head: u64,
    last_is_head: bool,
    /// The last (input_seq, input_part) in the file: replay skips up to it.
    last_input: Option<(u64, u32)>,
    /// (kind, grant id) → input_seq of its first GRANT/REVOCATION entry.
    grants_seen: HashMap<(String, String), u64>,
    /// Head last recorded in the store and side file.
    synced: u64,
    /// After a write failure nothing more is written until a restart,
    /// whose replay writes what is missing (no gap, no duplicate).
    broken: bool,
    /// Group commit ([`AuditLog::defer`]): entries are written but not
    /// fsync'd, and the head not recorded, until [`AuditLog::flush`].
    deferred: bool,
    /// Entries written since the last fsync.
    unsynced: bool,
    /// A signed HEAD was appended while deferred: record the head durably at the flush.
    durable_due: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog {{ {}, seq {} }}", self.path.display(), self.seq)
    }
}

fn wall_now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Keeps only characters of ids and enum names (for strings a peer chose).
fn clean(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')).take(80).collect()
}

/// The `audit.head` side file: fixed size, rewritten in place.
fn head_line(seq: u64, hash: &[u8; 32]) -> String {
    format!("tisa-audit-head v1 seq={seq:020} hash={}\n", hex(hash))
}

/// Parses `audit.head` (None if absent).
pub fn read_head_file(dir: &Path) -> Result<Option<(u64, [u8; 32])>, String> {
    let text = match std::fs::read_to_string(dir.join(HEAD_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    // Created empty when the log is opened, written with the first entry:
    // a node stopped before it audited anything leaves it empty.
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{HEAD_FILE} is malformed");
    let rest = text.trim_end().strip_prefix("tisa-audit-head v1 seq=").ok_or_else(bad)?;
    let (seq, hash) = rest.split_once(" hash=").ok_or_else(bad)?;
    Ok(Some((seq.parse().map_err(|_| bad())?, unhex32(hash).ok_or_else(bad)?)))
}

impl AuditLog {
    fn err(&self, e: impl std::fmt::Display) -> AuditError {
        AuditError { path: self.path.clone(), reason: e.to_string() }
    }

    /// Opens (or creates) `<dir>/audit.log` for `party`, signing heads with
    /// `identity`. Checks that the file reaches the head recorded in
    /// `store` and in `audit.head` (refuses to start otherwise: entries were
    /// removed, and writing on would overwrite the evidence). Returns the
    /// log and the last input-log seq it holds entries for.
    pub fn open(
        dir: &Path,
        party: Party,
        identity: Identity,
        store: &mut Store,
    ) -> Result<(AuditLog, Option<u64>), AuditError> {
        let path = dir.join(LOG_FILE);
        let fail = |e: &dyn std::fmt::Display| AuditError { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(fail(&e)),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| fail(&e))?;
        // A torn last write (power loss, full disk) leaves a line without
        // its newline: drop it; replay writes that entry again.
        if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            warn!(path = %path.display(), dropped_bytes = bytes.len() - keep, "audit log ends in an incomplete entry (torn write); dropped it");
            file.set_len(keep as u64).map_err(|e| fail(&e))?;
            file.sync_all().map_err(|e| fail(&e))?;
            bytes.truncate(keep);
        }
        let mut recorded = Vec::new();
        if let Some(h) = store.audit_head().map_err(|e| fail(&e))? {
            recorded.push(("the node store", h));
        }
        if let Some(h) = read_head_file(dir).map_err(|e| fail(&e))? {
            recorded.push((HEAD_FILE, h));
        }
        let mut log = AuditLog {
            path: path.clone(),
            file,
            head_file: OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(HEAD_FILE))
                .map_err(|e| fail(&e))?,
            party,
            identity,
            seq: 0,
            hash: ZERO,
            since_head: 0,
            last_is_head: false,
            last_input: None,
            grants_seen: HashMap::new(),
            synced: 0,
            broken: false,
            deferred: false,
            unsynced: false,
            durable_due: false,
        };
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let e: Entry = match serde_json::from_str(line) {
                Ok(e) => e,
                Err(err) if i + 1 == lines.len() => {
                    return Err(fail(&format!(
                        "its last entry (line {}) is unreadable ({err}); run `tisa audit verify` and keep the file as evidence",
                        i + 1
                    )))
                }
                Err(_) => {
                    warn!(path = %path.display(), line = i + 1, "unreadable audit entry; run `tisa audit verify`");
                    continue;
                }
            };
            for (source, (seq, hash)) in &recorded {
                if e.seq == *seq && unhex32(&e.hash) != Some(*hash) {
                    return Err(fail(&format!(
                        "entry seq {seq} (line {}) does not match the head recorded in {source}: the log was altered; run `tisa audit verify`",
                        i + 1
                    )));
                }
            }
            if let (Some(s), Some(p)) = (e.input_seq, e.input_part) {
                log.last_input = log.last_input.max(Some((s, p)));
                if let (Some(g), "GRANT" | "REVOCATION") = (&e.grant_id, e.kind.as_str()) {
                    log.grants_seen.entry((e.kind.clone(), g.clone())).or_insert(s);
                }
            }
            log.seq = e.seq;
            log.hash = unhex32(&e.hash).unwrap_or(ZERO);
            log.last_is_head = e.kind == "HEAD";
            log.since_head = if log.last_is_head { 0 } else { log.since_head + 1 };
        }
        let previous = recorded.iter().map(|(_, h)| *h).max_by_key(|(s, _)| *s);
        for (source, (seq, _)) in &recorded {
            if *seq > log.seq && log.seq > 0 {
                return Err(fail(&format!(
                    "entries are missing at its end: it ends at seq {} but {source} recorded seq {seq}. Keep it as evidence (`tisa audit verify`), then move it aside to start a new log",
                    log.seq
                )));
            }
        }
        log.synced = log.seq;
        if log.seq == 0 {
            if let Some((seq, hash)) = previous.filter(|(s, _)| *s > 0) {
                // The file was moved aside (or removed): a new log starts,
                // and says where the previous one ended.
                warn!(path = %path.display(), previous_seq = seq, "starting a new audit log; the previous one is not here");
                log.append_head(format!("new log: the previous log ended at seq {seq} hash {}", hex(&hash)))
                    .and_then(|()| log.sync(store, true))
                    .map_err(|e| fail(&e))?;
            }
        }
        let last = log.last_input.map(|(s, _)| s);
        Ok((log, last))
    }

    /// Notes what the entries of input `seq` need from it. Call before the
    /// input is applied (it is moved into the core).
    pub fn note(&self, seq: u64, l: &LoggedInput) -> InputNote {
        let mut note = InputNote { seq, at: l.at, actor: None, grant: None, message_id: None };
        let grant = |doc: &GrantDoc| GrantNote {
            kind: "GRANT",
            grant_id: doc.grant_id.clone(),
            operator: doc.operator.clone(),
            recipient: Some(doc.recipient),
            detail: format!(
                "originator={} categories={} max_classification={} tearline_only={} not_after_ms={}",
                doc.originator,
                doc.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
                doc.max_classification,
                doc.tearline_only,
                doc.not_after.map_or("-".to_owned(), |t| t.as_millis().to_string()),
            ),
        };
        let revocation = |doc: &RevocationDoc| GrantNote {
            kind: "REVOCATION",
            grant_id: doc.grant_id.clone(),
            operator: doc.operator.clone(),
            recipient: None,
            detail: format!("originator={}", doc.originator),
        };
        match &l.input {
            Input::Command { request: ControlRequest::Submit(d), .. } => {
                note.actor = Some(d.submitted_by.clone()).filter(|s| valid_name(s));
            }
            Input::Command { request: ControlRequest::Retract { operator, .. }, .. } => {
                note.actor = Some(operator.clone()).filter(|s| valid_name(s));
            }
            Input::Command { request: ControlRequest::Grant(s), .. } => {
                note.grant = GrantDoc::parse(&s.bytes).ok().map(|d| grant(&d));
            }
            Input::Command { request: ControlRequest::Revoke(s), .. } => {
                note.grant = RevocationDoc::parse(&s.bytes).ok().map(|d| revocation(&d));
            }
            Input::Inbound { envelope, .. } => {
                note.message_id = Some(envelope.message_id.to_string());
                note.grant = match &envelope.payload {
                    Payload::Grant(g) => Some(grant(&g.doc)),
                    Payload::Revocation(r) => Some(revocation(&r.doc)),
                    _ => None,
                };
            }
            _ => {}
        }
        note
    }

    /// Records what one input caused: `events`, drained from the core right
    /// after applying it (`command_ok`: a command input succeeded). On
    /// replay, entries already in the file are skipped. Then records the
    /// head in `store` and `audit.head`.
    pub fn record(
        &mut self,
        store: &mut Store,
        note: InputNote,
        command_ok: bool,
        events: &[Event],
    ) -> Result<(), AuditError> {
        if self.broken {
            return Ok(());
        }
        let mut part = 0u32;
        let mut rejected = HashSet::new();
        for ev in events {
            if let Event::Rejected { message_id, .. } = ev {
                rejected.insert(message_id.to_string());
            }
            let e = self.describe(&note, ev);
            self.emit(e, note.seq, part)?;
            part += 1;
        }
        if let Some(g) = note.grant {
            let accepted = command_ok && note.message_id.as_ref().is_none_or(|id| !rejected.contains(id));
            let key = (g.kind.to_owned(), g.grant_id.clone());
            // Once per grant (a peer may send the same grant again).
            let seen = self.grants_seen.get(&key).is_some_and(|first| *first < note.seq);
            if accepted && !seen {
                let e = Entry {
                    at_ms: note.at.as_millis(),
                    actor: if valid_name(&g.operator) { g.operator } else { self.party.to_string() },
                    kind: g.kind.to_owned(),
                    recipient: g.recipient.map(|p| p.to_string()),
                    grant_id: Some(clean(&g.grant_id)),
                    detail: g.detail,
                    ..Entry::default()
                };
                self.emit(e, note.seq, part)?;
                self.grants_seen.entry(key).or_insert(note.seq);
            }
        }
        self.after_append(store)
    }

    /// Records a dead letter: `MALFORMED` (could not be decoded; never
    /// logged as an input) or `UNVERIFIABLE` (decoded, logged as an input
    /// and refused, and also dead-lettered). Ids, sizes and the reason only.
    pub fn record_dead_letter(&mut self, store: &mut Store, d: &DeadLetter) {
        if self.broken {
            return;
        }
        let mut detail = format!(
            "subject={} link={} reason={} dead_letter={} stream={} stream_seq={} size={}",
            clean(&d.subject),
            d.link.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            clean(&d.reason),
            d.seq,
            clean(&d.stream),
            d.stream_seq.unwrap_or(0),
            d.size
        );
        if let Some(id) = &d.message_id {
            detail.push_str(&format!(" message_id={}", clean(id)));
        }
        let e = Entry {
            at_ms: wall_now().as_millis(),
            actor: self.party.to_string(),
            kind: clean(&d.class),
            detail,
            ..Entry::default()
        };
        let r = self.append(e).and_then(|()| self.after_append(store));
        if let Err(e) = r {
            error!(error = %e, "cannot write the audit log");
        }
    }

    /// On clean shutdown: signs the head (unless the last entry is a HEAD)
    /// and records it durably.
    pub fn close(&mut self, store: &mut Store) -> Result<(), AuditError> {
        if self.broken || self.seq == 0 {
            return Ok(());
        }
        if !self.last_is_head {
            self.append_head(format!("chain head seq={}", self.seq))?;
        }
        self.sync(store, true)
    }

    /// The current head (seq, hash).
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash)
    }

    /// The current head, signed with the node's key (document
    /// `tisa.v1.audit-head`), to carry in this node's receipts.
    pub fn signed_head(&self) -> Signed {
        self.identity.sign(head_document(&self.party.to_string(), self.seq, &hex(&self.hash)))
    }

    fn describe(&self, note: &InputNote, ev: &Event) -> Entry {
        let w = tisa_transport::control::watch_event(ev, note.at);
        let mut e = Entry {
            at_ms: note.at.as_millis(),
            actor: self.party.to_string(),
            kind: w.kind.clone(),
            report_id: w.report_id.clone(),
            revision: (w.revision > 0).then_some(w.revision),
            request_id: w.request_id.clone(),
            recipient: w.recipient.map(|p| p.to_string()),
            ..Entry::default()
        };
        let basis = |b: &Basis| match b {
            Basis::Trilateral => "TRILATERAL",
            Basis::Bilateral => "BILATERAL",
        };
        #[allow(unreachable_patterns)] // robust to events added to the core later
        match ev {
            Event::Submitted { header } => {
                e.kind = "SUBMIT".into();
                if let Some(op) = &note.actor {
                    e.actor = op.clone();
                }
                e.detail = format!(
                    "category={} classification={} rel_to={}",
                    header.category, header.classification, header.releasable_to
                );
            }
            Event::ReportHeld { header } => {
                e.detail = format!(
                    "originator={} category={} classification={} rel_to={}",
                    header.originator, header.category, header.classification, header.releasable_to
                );
            }
            Event::ReleaseRequested { request } => {
                e.detail = format!("expires_at_ms={}", request.expires_at.as_millis());
            }
            Event::Decided { decision } => {
                if valid_name(&decision.operator) {
                    e.actor = decision.operator.clone();
                }
                let verdict = match decision.decision {
                    Decision::ApproveFull => "APPROVE_FULL",
                    Decision::ApproveTearline => "APPROVE_TEARLINE",
                    Decision::Deny { .. } => "DENY",
                };
                let by = decision.report_id.prefix_party().map_or("-".to_owned(), |p| p.to_string());
                e.detail =
                    format!("verdict={verdict} approver_party={by} decided_at_ms={}", decision.decided_at.as_millis());
            }
            Event::Forwarded { header, basis: b, tearline_only, .. } => {
                e.detail = format!(
                    "originator={} basis={} tearline_only={tearline_only} category={} classification={}",
                    header.originator,
                    basis(b),
                    header.category,
                    header.classification
                );
            }
            // The title stays out: ids and enum names only.
            Event::Received { header, basis: b, tearline_only, .. } => {
                e.detail = format!(
                    "originator={} basis={} tearline_only={tearline_only} category={} classification={}",
                    header.originator,
                    basis(b),
                    header.category,
                    header.classification
                );
            }
            Event::Progress { progress } => {
                e.detail = match &progress.stage {
                    Stage::Accepted => "stage=ACCEPTED".to_owned(),
                    Stage::NotReleasable(why) => format!("stage=NOT_RELEASABLE why={}", why.code()),
                    Stage::Forwarded { tearline_only } => format!("stage=FORWARDED tearline_only={tearline_only}"),
                    Stage::Denied => "stage=DENIED".to_owned(),
                    Stage::Expired => "stage=EXPIRED".to_owned(),
                    Stage::Retracted => "stage=RETRACTED".to_owned(),
                };
            }
            Event::ReceiptReceived { receipt, audit_head } => {
                e.detail = format!(
                    "recipient={} received_at_ms={} manifest_sha256={}",
                    receipt.recipient,
                    receipt.received_at.as_millis(),
                    hex(&receipt.manifest_sha256)
                );
                e.peer_head = audit_head.as_ref().map(|h| PeerHead {
                    party: h.party.to_string(),
                    seq: h.seq,
                    hash: hex(&h.hash),
                });
            }
            Event::Retracted { originator, .. } => {
                if let Some(op) = &note.actor {
                    e.actor = op.clone();
                }
                e.detail = format!("originator={originator} scope=ALL_REVISIONS");
            }
            Event::RetractionForwarded { recipient, .. } => {
                e.detail = format!("recipient={recipient} approval=NOT_NEEDED");
            }
            Event::Reconciled { link, resent } => {
                e.detail = format!("link={link} resent={resent}");
            }
            Event::Expired { request } => {
                e.detail = format!("expires_at_ms={} counts_as=DENY", request.expires_at.as_millis());
            }
            Event::Rejected { link, kind, message_id, reason } => {
                e.detail =
                    format!("code={} kind={kind} message_id={} link={link}", reason.code(), clean(message_id.as_str()));
            }
            Event::RejectionReceived { link, rejection } => {
                // The peer's free-text detail is left out.
                e.detail = format!(
                    "code={} refers_to={} link={link}",
                    clean(&rejection.code),
                    clean(rejection.refers_to.as_str())
                );
            }
            _ => {}
        }
        e
    }

    /// Writes `e` as the entry (input_seq, part), unless replay already did.
    fn emit(&mut self, mut e: Entry, input_seq: u64, part: u32) -> Result<(), AuditError> {
        if self.last_input.is_some_and(|last| (input_seq, part) <= last) {
            return Ok(()); // already in the file (replay)
        }
        e.input_seq = Some(input_seq);
        e.input_part = Some(part);
        self.append(e)?;
        self.last_input = Some((input_seq, part));
        Ok(())
    }

    /// Chains, writes and fsyncs one entry.
    fn append(&mut self, mut e: Entry) -> Result<(), AuditError> {
        e.seq = self.seq + 1;
        e.party = self.party.to_string();
        e.prev = hex(&self.hash);
        e.hash = String::new();
        let hash = e.compute_hash().unwrap_or(ZERO);
        e.hash = hex(&hash);
        let mut line = e.line();
        line.push(b'\n');
        let r = self.file.write_all(&line).and_then(|()| if self.deferred { Ok(()) } else { self.file.sync_data() });
        if let Err(err) = r {
            self.broken = true;
            return Err(self.err(format!(
                "cannot write entry seq {} ({err}); nothing more is written until the node restarts",
                e.seq
            )));
        }
        self.seq = e.seq;
        self.hash = hash;
        self.last_is_head = e.kind == "HEAD";
        self.since_head = if self.last_is_head { 0 } else { self.since_head + 1 };
        Ok(())
    }

    fn append_head(&mut self, detail: String) -> Result<(), AuditError> {
        let party = self.party.to_string();
        let hash_hex = hex(&self.hash);
        let signed: Signed = self.identity.sign(head_document(&party, self.seq, &hash_hex));
        let e = Entry {
            at_ms: wall_now().as_millis(),
            actor: party,
            kind: "HEAD".into(),
            detail,
            head: Some(SignedHead {
                seq: self.seq,
                hash: hash_hex,
                signer: signed.signer,
                public: hex(&self.identity.public()),
                signature: hex(&signed.signature),
            }),
            ..Entry::default()
        };
        self.append(e)
    }

    /// After appends: a signed HEAD every [`HEAD_EVERY`] entries, then the
    /// head recorded in the store and the side file.
    fn after_append(&mut self, store: &mut Store) -> Result<(), AuditError> {
        let mut durable = false;
        if self.since_head >= HEAD_EVERY {
            self.append_head(format!("chain head seq={}", self.seq))?;
            durable = true;
        }
        if self.deferred {
            self.unsynced |= self.seq != self.synced;
            self.durable_due |= durable;
            return Ok(());
        }
        self.sync(store, durable)
    }

    /// Group commit: until [`AuditLog::flush`], entries are written without
    /// an fsync each and the head is not recorded. Safe because the inputs
    /// they describe are already committed to the store (replay rewrites
    /// whatever a crash cuts off) and the head is recorded only after the
    /// file is fsync'd, so it never runs ahead of the file.
    pub fn defer(&mut self) {
        self.deferred = true;
    }

    /// Ends [`AuditLog::defer`]: one fsync for every entry written since,
    /// then the head recorded in the store and `audit.head`.
    pub fn flush(&mut self, store: &mut Store) -> Result<(), AuditError> {
        self.deferred = false;
        if self.broken || !std::mem::take(&mut self.unsynced) {
            return Ok(());
        }
        if let Err(err) = self.file.sync_data() {
            self.broken = true;
            return Err(self.err(format!(
                "cannot fsync entries up to seq {} ({err}); nothing more is written until the node restarts",
                self.seq
            )));
        }
        let durable = std::mem::take(&mut self.durable_due);
        self.sync(store, durable)
    }

    /// Ends [`AuditLog::defer`] like [`AuditLog::flush`], but hands the
    /// blocking part (the fsync of the log, the side file) to the caller to
    /// run on another thread ([`PendingFlush::run`]), so that the node goes
    /// on meanwhile; [`AuditLog::finish_flush`] then records the head. Entries
    /// appended in between are covered by the next flush. `None`: nothing to
    /// fsync.
    pub fn begin_flush(&mut self) -> Result<Option<PendingFlush>, AuditError> {
        self.deferred = false;
        if self.broken || !std::mem::take(&mut self.unsynced) {
            return Ok(None);
        }
        let durable = std::mem::take(&mut self.durable_due);
        let clone = |f: &File| f.try_clone().map_err(|e| self.err(format!("cannot share the audit log's handle: {e}")));
        let (file, head_file) = match (clone(&self.file), clone(&self.head_file)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                self.broken = true;
                return Err(e);
            }
        };
        Ok(Some(PendingFlush { file, head_file, seq: self.seq, hash: self.hash, durable, result: Ok(()) }))
    }

    /// Records the head a [`PendingFlush`] made durable (in the store; the
    /// side file was written by the flush itself). A failed fsync stops the
    /// log until a restart, like a failed write.
    pub fn finish_flush(&mut self, store: &mut Store, done: PendingFlush) -> Result<(), AuditError> {
        if let Err(err) = done.result {
            self.broken = true;
            return Err(self.err(format!(
                "cannot fsync entries up to seq {} ({err}); nothing more is written until the node restarts",
                done.seq
            )));
        }
        // A later head may have been recorded meanwhile (an entry written
        // outside a group is fsync'd and recorded at once): never go back.
        if done.seq >= self.synced {
            store.set_audit_head(done.seq, &done.hash, done.durable).map_err(|e| self.err(e))?;
            self.synced = done.seq;
        }
        Ok(())
    }

    fn sync(&mut self, store: &mut Store, durable: bool) -> Result<(), AuditError> {
        if self.synced == self.seq && !durable {
            return Ok(());
        }
        let line = head_line(self.seq, &self.hash);
        self.head_file
            .write_all_at(line.as_bytes(), 0)
            .and_then(|()| self.head_file.sync_data())
            .map_err(|e| self.err(format!("cannot write {HEAD_FILE}: {e}")))?;
        store.set_audit_head(self.seq, &self.hash, durable).map_err(|e| self.err(e))?;
        self.synced = self.seq;
        Ok(())
    }
}

/// The blocking half of a group's audit flush ([`AuditLog::begin_flush`]).
pub struct PendingFlush {
    file: File,
    head_file: File,
    seq: u64,
    hash: [u8; 32],
    durable: bool,
    result: Result<(), String>,
}

impl PendingFlush {
    /// Blocking: fsyncs the log (every entry written so far), then writes
    /// and fsyncs the side file with the head it covers.
    pub fn run(mut self) -> PendingFlush {
        let line = head_line(self.seq, &self.hash);
        self.result = self
            .file
            .sync_data()
            .and_then(|()| self.head_file.write_all_at(line.as_bytes(), 0))
            .and_then(|()| self.head_file.sync_data())
            .map_err(|e| e.to_string());
        self
    }
}

// ------------------------------------------------------------ verification

/// A head recorded outside the file (the store, `audit.head`, an export).
#[derive(Clone, Debug)]
pub struct KnownHead {
    /// Where it was recorded (for messages).
    pub source: String,
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Why verification failed: where (1-based line, seq when known) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", place(*line, *seq))]
pub struct VerifyError {
    /// The line at fault, if one is.
    pub line: Option<usize>,
    /// Its seq, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

fn place(line: Option<usize>, seq: Option<u64>) -> String {
    match (line, seq) {
        (Some(l), Some(s)) => format!("line {l} (seq {s}): "),
        (Some(l), None) => format!("line {l}: "),
        (None, _) => String::new(),
    }
}

/// What a successful verification found.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The log's party (trigraph), if it has entries.
    pub party: Option<String>,
    /// Number of entries.
    pub entries: u64,
    /// The last entry's hash (hex; zeros if empty).
    pub last_hash: String,
    /// Number of HEAD entries, all verified.
    pub heads: u64,
    /// The latest HEAD entry.
    pub last_head: Option<Entry>,
}

/// Parses an audit log's lines, strictly (each must be a canonical entry).
pub fn parse_lines(bytes: &[u8]) -> Result<Vec<Entry>, VerifyError> {
    let at = |line: usize, seq: Option<u64>, reason: String| VerifyError { line: Some(line), seq, reason };
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            return Err(at(
                n,
                None,
                "incomplete entry at the end of the file (no newline): a torn write or an edit".into(),
            ));
        };
        let raw = &rest[..end];
        rest = &rest[end + 1..];
        let e: Entry = serde_json::from_slice(raw)
            .map_err(|err| at(n, None, format!("not a valid audit entry ({err}): the line was edited")))?;
        if e.line() != raw {
            return Err(at(n, Some(e.seq), "not in canonical form: the line was edited".into()));
        }
        out.push(e);
    }
    Ok(out)
}

/// Verifies an audit log: the chain (every entry's hash, every `prev`,
/// contiguous seqs from 1, one party, no input's entry twice), every HEAD's
/// signature against `policy`'s node keys of the party (when `policy` is
/// given), and that the file reaches every `known` head. Names the first
/// line at fault.
pub fn verify(bytes: &[u8], policy: Option<&Policy>, known: &[KnownHead]) -> Result<Summary, VerifyError> {
    let entries = parse_lines(bytes)?;
    let at = |line: usize, seq: u64, reason: String| VerifyError { line: Some(line), seq: Some(seq), reason };
    let mut prev = ZERO;
    let mut s = Summary::default();
    let mut last_input: Option<(u64, u32)> = None;
    for (i, e) in entries.iter().enumerate() {
        let line = i + 1;
        let expected = i as u64 + 1;
        if e.seq != expected {
            let reason = match entries.iter().skip(i + 1).position(|x| x.seq == expected) {
                Some(j) => format!("out of order: expected seq {expected} here, it is at line {}", line + 1 + j),
                None if e.seq > expected => {
                    format!("entries removed: seq {expected} to {} are missing before it", e.seq - 1)
                }
                None => format!("out of order or duplicated: expected seq {expected}"),
            };
            return Err(at(line, e.seq, reason));
        }
        if unhex32(&e.prev) != Some(prev) {
            return Err(at(
                line,
                e.seq,
                "chain broken: prev is not the hash of the entry before (an entry was removed, reordered or edited)"
                    .into(),
            ));
        }
        match (e.compute_hash(), unhex32(&e.hash)) {
            (Some(h), Some(stored)) if h == stored => prev = h,
            _ => return Err(at(line, e.seq, "hash mismatch: the entry was edited".into())),
        }
        match &s.party {
            None => s.party = Some(e.party.clone()),
            Some(p) if *p != e.party => {
                return Err(at(line, e.seq, format!("party {} differs from the log's party {p}", e.party)))
            }
            _ => {}
        }
        if let (Some(is), Some(ip)) = (e.input_seq, e.input_part) {
            if last_input.is_some_and(|l| (is, ip) <= l) {
                return Err(at(line, e.seq, format!("duplicate or out-of-order entry for input {is} part {ip}")));
            }
            last_input = Some((is, ip));
        }
        if e.kind == "HEAD" {
            let h = e.head.as_ref().ok_or_else(|| at(line, e.seq, "HEAD entry without a signed head".into()))?;
            let before = if i == 0 { hex(&ZERO) } else { entries[i - 1].hash.clone() };
            if h.seq != expected - 1 || h.hash != before {
                return Err(at(line, e.seq, "HEAD does not name the entry before it".into()));
            }
            if let Some(policy) = policy {
                verify_head(policy, &e.party, h).map_err(|r| at(line, e.seq, r))?;
            }
            s.heads += 1;
            s.last_head = Some(e.clone());
        } else if e.head.is_some() {
            return Err(at(line, e.seq, "a signed head on a non-HEAD entry".into()));
        }
    }
    s.entries = entries.len() as u64;
    s.last_hash = hex(&prev);
    for k in known {
        if k.seq > s.entries {
            let ends = match entries.last() {
                Some(e) => format!("the log ends at seq {} (line {})", e.seq, entries.len()),
                None => "the log is empty".to_owned(),
            };
            return Err(VerifyError {
                line: None,
                seq: None,
                reason: format!(
                    "entries missing at the end: {ends} but {} records seq {} (seq {} to {} were cut off)",
                    k.source,
                    k.seq,
                    s.entries + 1,
                    k.seq
                ),
            });
        }
        if k.seq > 0 {
            let i = usize::try_from(k.seq - 1).unwrap_or(usize::MAX);
            if entries.get(i).and_then(|e| unhex32(&e.hash)) != Some(k.hash) {
                return Err(at(i + 1, k.seq, format!("does not match the head recorded in {}", k.source)));
            }
        }
    }
    Ok(s)
}

/// Verifies a HEAD's signature against the node keys `policy` registers for `party`.
pub fn verify_head(policy: &Policy, party: &str, h: &SignedHead) -> Result<(), String> {
    let p: Party = party.parse().map_err(|_| format!("unknown party {party:?}"))?;
    let signature =
        unhex(&h.signature).and_then(|v| <[u8; 64]>::try_from(v).ok()).ok_or("HEAD signature is malformed")?;
    let signed = Signed { bytes: head_document(party, h.seq, &h.hash), signer: h.signer.clone(), signature };
    let entry = tisa_core::sign::verify(policy, p, KeyRole::Node, &signed)
        .map_err(|e| format!("HEAD signature does not verify against the agreement: {e}"))?;
    if hex(&entry.public) != h.public {
        return Err(format!("HEAD names a public key other than {}'s registered one", h.signer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{KeyEntry, MessageId, ReleaseRequest, ReportId, RequestId};

    /// A scratch directory, removed on drop.
    struct Tmp(PathBuf);

    impl std::ops::Deref for Tmp {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(name: &str) -> Tmp {
        let d =
            std::env::temp_dir().join(format!("tisa-audit-{name}-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }

    fn identity() -> Identity {
        Identity::from_seed("kr-node", [7; 32])
    }

    fn policy() -> Policy {
        let id = identity();
        Policy {
            keys: vec![KeyEntry { party: Party::Kr, name: id.name().into(), role: KeyRole::Node, public: id.public() }],
            ..Policy::default()
        }
    }

    fn request(n: u32) -> ReleaseRequest {
        let report_id = ReportId::new(format!("KR-{n:04}")).unwrap();
        ReleaseRequest {
            request_id: RequestId::for_release(&report_id, 1, Party::Jp),
            report_id,
            revision: 1,
            recipient: Party::Jp,
            requested_at: Timestamp(1000),
            expires_at: Timestamp(2000),
        }
    }

    fn note(seq: u64) -> InputNote {
        InputNote { seq, at: Timestamp(1000 + seq), actor: None, grant: None, message_id: None }
    }

    /// A log with `inputs` inputs of two events each.
    fn build(dir: &Path, inputs: u64) -> (AuditLog, Store) {
        let mut store = Store::open(dir).unwrap();
        let (mut log, _) = AuditLog::open(dir, Party::Kr, identity(), &mut store).unwrap();
        for i in 0..inputs {
            let r = request(i as u32);
            let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
            log.record(&mut store, note(i), true, &evs).unwrap();
        }
        (log, store)
    }

    fn known(dir: &Path, store: &Store) -> Vec<KnownHead> {
        let mut k = Vec::new();
        if let Some((seq, hash)) = store.audit_head().unwrap() {
            k.push(KnownHead { source: "the node store".into(), seq, hash });
        }
        if let Some((seq, hash)) = read_head_file(dir).unwrap() {
            k.push(KnownHead { source: HEAD_FILE.into(), seq, hash });
        }
        k
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(LOG_FILE)).unwrap().lines().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn the_head_document_is_the_cores_audit_head_document() {
        let hash = [0xab; 32];
        let doc = tisa_core::sign::AuditHeadDoc { party: Party::Jp, seq: 17, hash };
        assert_eq!(head_document("JPN", 17, &hex(&hash)), doc.to_bytes());
        assert_eq!(tisa_core::sign::AuditHeadDoc::parse(&doc.to_bytes()).unwrap(), doc);
    }

    #[test]
    fn chain_verifies_with_signed_heads() {
        let dir = tmp("chain");
        let (mut log, mut store) = build(&dir, 40);
        log.close(&mut store).unwrap();
        let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
        let s = verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
        // 80 events, a HEAD after 64 of them, one on close.
        assert_eq!(s.entries, 82);
        assert_eq!(s.heads, 2);
        assert_eq!(store.audit_head().unwrap(), Some(log.head()));
        // Another node's key does not verify the heads.
        let other = Policy {
            keys: vec![KeyEntry {
                party: Party::Kr,
                name: "kr-node".into(),
                role: KeyRole::Node,
                public: Identity::from_seed("kr-node", [8; 32]).public(),
            }],
            ..Policy::default()
        };
        let e = verify(&bytes, Some(&other), &[]).unwrap_err();
        assert_eq!(e.line, Some(65), "{e}");
        assert!(e.reason.contains("signature"), "{e}");
    }

    #[test]
    fn one_byte_changed_is_detected_at_its_line() {
        let dir = tmp("byte");
        let (_log, store) = build(&dir, 5);
        let mut l = lines(&dir);
        l[3] = l[3].replacen("KR-0001", "KR-0009", 1);
        let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
        assert_eq!((e.line, e.seq), (Some(4), Some(4)), "{e}");
        assert!(e.reason.contains("edited"), "{e}");
        // A flipped byte anywhere in a line is caught at that line.
        let orig = lines(&dir);
        for pos in 0..orig[2].len() - 1 {
            let mut b = orig[2].clone().into_bytes();
            b[pos] ^= 0x01;
            let mut l = orig.clone();
            l[2] = String::from_utf8_lossy(&b).into_owned();
            let e = verify(l.concat().as_bytes(), Some(&policy()), &[]).unwrap_err();
            assert_eq!(e.line, Some(3), "byte {pos}: {e}");
        }
    }

    #[test]
    fn removed_entry_is_detected() {
        let dir = tmp("removed");
        let (_log, store) = build(&dir, 5);
        let mut l = lines(&dir);
        l.remove(4);
        let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
        assert_eq!((e.line, e.seq), (Some(5), Some(6)), "{e}");
        assert!(e.reason.contains("missing"), "{e}");
    }

    #[test]
    fn swapped_entries_are_detected() {
        let dir = tmp("swapped");
        let (_log, store) = build(&dir, 5);
        let mut l = lines(&dir);
        l.swap(2, 3);
        let e = verify(l.concat().as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
        assert_eq!((e.line, e.seq), (Some(3), Some(4)), "{e}");
        assert!(e.reason.contains("out of order"), "{e}");
    }

    #[test]
    fn cut_off_end_is_detected_with_the_recorded_head() {
        let dir = tmp("cut");
        let (_log, mut store) = build(&dir, 5);
        let l = lines(&dir);
        let cut = l[..l.len() - 2].concat();
        // The chain itself is fine: only the recorded head shows the loss.
        assert!(verify(cut.as_bytes(), Some(&policy()), &[]).is_ok());
        let e = verify(cut.as_bytes(), Some(&policy()), &known(&dir, &store)).unwrap_err();
        assert!(e.reason.contains("missing at the end"), "{e}");
        assert!(e.reason.contains("ends at seq 8 (line 8)"), "{e}");
        // And the node refuses to write on over the evidence.
        drop(_log);
        std::fs::write(dir.join(LOG_FILE), &cut).unwrap();
        let e = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap_err();
        assert!(e.to_string().contains("missing at its end"), "{e}");
    }

    #[test]
    fn a_log_moved_aside_starts_a_new_one_that_names_the_old_head() {
        let dir = tmp("moved");
        let (log, mut store) = build(&dir, 3);
        let old = log.head();
        drop(log);
        std::fs::rename(dir.join(LOG_FILE), dir.join("audit.log.old")).unwrap();
        let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        assert_eq!(last, None, "every input is audited again");
        let r = request(0);
        log.record(&mut store, note(0), true, &[Event::Expired { request: r }]).unwrap();
        drop(log);
        let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
        let entries = parse_lines(&bytes).unwrap();
        assert_eq!(entries[0].kind, "HEAD");
        assert!(
            entries[0].detail.contains(&format!("ended at seq {} hash {}", old.0, hex(&old.1))),
            "{:?}",
            entries[0]
        );
        verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
        // The node starts on it again (the recorded head moved with it).
        AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
    }

    #[test]
    fn a_node_stopped_before_its_first_entry_starts_again() {
        let dir = tmp("empty");
        let (log, mut store) = build(&dir, 0);
        drop(log);
        assert_eq!(read_head_file(&dir).unwrap(), None, "no head recorded yet");
        let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        assert_eq!(last, None);
        log.record(&mut store, note(0), true, &[Event::Expired { request: request(0) }]).unwrap();
        drop(log);
        AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        assert_eq!(read_head_file(&dir).unwrap().map(|(s, _)| s), Some(1));
    }

    #[test]
    fn replay_adds_no_duplicates_and_fills_gaps() {
        let dir = tmp("replay");
        let (log, store) = build(&dir, 3);
        drop(log);
        // A crash after the first of input 2's two entries: cut its second.
        let l = lines(&dir);
        std::fs::write(dir.join(LOG_FILE), l[..5].concat()).unwrap();
        // (the recorded head is beyond: as after a crash between the file and
        // the store, but the other way round; reset it as a crash would leave it)
        let mut store = store;
        let h = unhex32(serde_json::from_str::<Entry>(&l[4]).unwrap().hash.as_str()).unwrap();
        store.set_audit_head(5, &h, true).unwrap();
        std::fs::remove_file(dir.join(HEAD_FILE)).unwrap();
        let (mut log, last) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        assert_eq!(last, Some(2));
        // Replay all four inputs (the fourth is new).
        for i in 0..4 {
            let r = request(i as u32);
            let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
            log.record(&mut store, note(i), true, &evs).unwrap();
        }
        let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
        let s = verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap();
        assert_eq!(s.entries, 8, "each input's two entries exactly once");
        let entries = parse_lines(&bytes).unwrap();
        let parts: Vec<_> = entries.iter().map(|e| (e.input_seq.unwrap(), e.input_part.unwrap())).collect();
        assert_eq!(parts, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]);
    }

    #[test]
    fn torn_last_line_is_dropped_and_rewritten() {
        let dir = tmp("torn");
        let (log, mut store) = build(&dir, 2);
        drop(log);
        let l = lines(&dir);
        let torn = format!("{}{}", l[..3].concat(), &l[3][..20]);
        std::fs::write(dir.join(LOG_FILE), torn).unwrap();
        let h = unhex32(serde_json::from_str::<Entry>(&l[2]).unwrap().hash.as_str()).unwrap();
        store.set_audit_head(3, &h, true).unwrap();
        std::fs::remove_file(dir.join(HEAD_FILE)).unwrap();
        assert!(verify(&std::fs::read(dir.join(LOG_FILE)).unwrap(), None, &[])
            .unwrap_err()
            .reason
            .contains("incomplete"));
        let (mut log, _) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        for i in 0..2 {
            let r = request(i as u32);
            let evs = [Event::ReleaseRequested { request: r.clone() }, Event::Expired { request: r }];
            log.record(&mut store, note(i), true, &evs).unwrap();
        }
        let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
        assert_eq!(verify(&bytes, Some(&policy()), &known(&dir, &store)).unwrap().entries, 4);
        assert_eq!(std::fs::read(dir.join(LOG_FILE)).unwrap(), l.concat().into_bytes());
    }

    #[test]
    fn details_carry_no_free_text() {
        let dir = tmp("free");
        let mut store = Store::open(&dir).unwrap();
        let (mut log, _) = AuditLog::open(&dir, Party::Kr, identity(), &mut store).unwrap();
        let rejection = tisa_core::Rejection {
            refers_to: MessageId::new("US-1").unwrap(),
            code: "BAD <secret title>".into(),
            detail: "CANARY free text".into(),
            report_id: None,
            request_id: None,
        };
        log.record(&mut store, note(0), true, &[Event::RejectionReceived { link: Party::Us, rejection }]).unwrap();
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        assert!(!text.contains("CANARY") && !text.contains('<'), "{text}");
        assert!(text.contains("REJECTION_RECEIVED"), "{text}");
    }
}
