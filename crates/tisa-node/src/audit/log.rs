//! Writing the audit log: chaining, group commit and fsync, signed heads,
//! and the head recorded in the store and the side file.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use tisa_core::sign::valid_name;
use tisa_core::{Event, Identity, Party, Signed};
use tisa_transport::DeadLetter;
use tracing::{error, warn};

use super::entry::{clean, head_document, head_line, hex, read_head_file, unhex32, Entry, InputNote, SignedHead};
use super::{HEAD_EVERY, HEAD_FILE, LOG_FILE, ZERO};
use crate::store::Store;

/// Entries waiting in memory beyond this many bytes are written at once
/// rather than at the end of the group commit ([`AuditLog::write_pending`]).
const WRITE_AT: usize = 256 * 1024;

/// An audit log failure.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {reason}")]
pub struct AuditError {
    path: PathBuf,
    reason: String,
}

/// The audit log of one node. See the module docs.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head_file: File,
    pub(super) party: Party,
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
    /// Head last recorded in the store and side file: everything up to it is fsync'd.
    synced: u64,
    /// After a write failure nothing more is written until a restart,
    /// whose replay writes what is missing (no gap, no duplicate).
    broken: bool,
    /// Entries written since the last fsync (those of inputs: derived
    /// from the input log, made durable by [`AuditLog::flush`] or
    /// [`AuditLog::begin_flush`] when the node chooses).
    unsynced: bool,
    /// A signed HEAD was appended since the last flush: record the head durably at the next.
    durable_due: bool,
    /// The `at_ms` of the last entry: a HEAD that follows an input's
    /// entries takes it, so replay writes the same HEAD again.
    last_at: u64,
    /// The last head signed for a receipt ([`AuditLog::signed_head`]), by entry seq.
    head_signed: Option<(u64, Signed)>,
    /// Lines appended but not yet written: an input's entries go to the
    /// file in one write, at the end of the call that recorded them
    /// ([`AuditLog::after_append`]), never later than an fsync.
    out: Vec<u8>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog {{ {}, seq {} }}", self.path.display(), self.seq)
    }
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
        tisa_fs::private_dir(dir).map_err(|e| fail(&e))?;
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(fail(&e)),
        };
        let file = tisa_fs::open_private(OpenOptions::new().create(true).append(true), &path).map_err(|e| fail(&e))?;
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
            head_file: tisa_fs::open_private(
                OpenOptions::new().create(true).truncate(false).write(true),
                &dir.join(HEAD_FILE),
            )
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
            unsynced: false,
            durable_due: false,
            last_at: 0,
            head_signed: None,
            out: Vec::new(),
        };
        // Entries after the head last recorded durably were written but
        // perhaps never fsync'd (those of inputs are, by design, only at
        // times: the input log holds what they derive from). A power loss
        // may leave them cut, zeroed or half-written: each must chain on;
        // from the first that does not, the tail is cut off (kept aside)
        // and replay writes it again, the same entries with the same hashes.
        let durable = recorded.iter().map(|(_, (s, _))| *s).max().unwrap_or(0);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let mut offset = 0usize;
        for (i, raw) in lines.iter().enumerate() {
            let line = raw.strip_suffix(b"\n").unwrap_or(raw);
            let parsed = serde_json::from_slice::<Entry>(line);
            if log.seq >= durable && !log.chains_on(parsed.as_ref().ok()) {
                log.cut_tail(&bytes[offset..], offset as u64, durable)?;
                break;
            }
            offset += raw.len();
            let e: Entry = match parsed {
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
            log.last_at = e.at_ms;
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
        // What the file holds now is the durable head (made so here: a
        // process killed before its fsync left it in the page cache).
        log.file.sync_data().map_err(|e| fail(&e))?;
        log.synced = log.seq;
        if log.seq == 0 {
            if let Some((seq, hash)) = previous.filter(|(s, _)| *s > 0) {
                // The file was moved aside (or removed): a new log starts,
                // and says where the previous one ended.
                warn!(path = %path.display(), previous_seq = seq, "starting a new audit log; the previous one is not here");
                log.append_head(
                    crate::clock::now().as_millis(),
                    format!("new log: the previous log ended at seq {seq} hash {}", hex(&hash)),
                )
                .and_then(|()| log.fsync())
                .and_then(|()| log.sync(store, true))
                .map_err(|e| fail(&e))?;
            }
        }
        let last = log.last_input.map(|(s, _)| s);
        Ok((log, last))
    }

    /// Whether `e` is the next entry of the chain as it stands: the next
    /// seq, chained to the last hash, its own hash right.
    fn chains_on(&self, e: Option<&Entry>) -> bool {
        e.is_some_and(|e| {
            e.seq == self.seq + 1
                && unhex32(&e.prev) == Some(self.hash)
                && e.compute_hash().is_some_and(|h| unhex32(&e.hash) == Some(h))
        })
    }

    /// Cuts the log at `at` (bytes `tail` from there on, all after the
    /// durable head `durable`): kept aside in `audit.log.cut-<next seq>`,
    /// never just lost, then gone from the log.
    fn cut_tail(&mut self, tail: &[u8], at: u64, durable: u64) -> Result<(), AuditError> {
        let aside = self.path.with_file_name(format!("{LOG_FILE}.cut-{}", self.seq + 1));
        let lines = tail.split_inclusive(|b| *b == b'\n').count();
        // Zeros (space a power loss left unwritten) are not worth keeping.
        let kept = tail.iter().any(|b| *b != 0);
        if kept {
            tisa_fs::write_private(&aside, tail)
                .map_err(|e| self.err(format!("cannot keep its cut tail aside: {e}")))?;
        }
        warn!(
            path = %self.path.display(),
            durable_seq = durable,
            from_seq = self.seq + 1,
            lines,
            bytes = tail.len(),
            aside = %if kept { aside.display().to_string() } else { "-".to_owned() },
            "audit entries after the last durable head do not chain on (a power loss cut them); cut off, replay writes them again from the input log"
        );
        self.file.set_len(at).and_then(|()| self.file.sync_all()).map_err(|e| self.err(e))
    }

    /// Records what one input caused: `events`, drained from the core right
    /// after applying it (`command_ok`: a command input succeeded). On
    /// replay, entries already in the file are skipped.
    ///
    /// Written, not fsync'd: the input is in the input log, fdatasync'd
    /// before it was applied, and replay derives the same entries from it
    /// (the core is deterministic; a HEAD takes the time of the entry before
    /// it), so a power loss takes back nothing a receipt could have named.
    /// The node makes them durable at times ([`AuditLog::begin_flush`]).
    /// One exception: a refused command's entries (replay does not apply
    /// it again, `replay`) are fsync'd at once.
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
        let derived = command_ok || part == 0;
        self.after_append(store, !derived)
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
            at_ms: crate::clock::now().as_millis(),
            actor: self.party.to_string(),
            kind: clean(&d.class),
            detail,
            ..Entry::default()
        };
        let r = self.append(e).and_then(|()| self.after_append(store, true));
        if let Err(e) = r {
            error!(error = %e, "cannot write the audit log");
        }
    }

    /// Records a read of content (`READ`: who, by key id and name, and
    /// which reports) or a refused one (`UNAUTHORIZED`). Reads are not
    /// inputs: like dead letters, they are written at once.
    pub fn record_read(&mut self, store: &mut Store, key_id: Option<String>, name: Option<&str>, detail: String) {
        let kind = if name.is_none() { "UNAUTHORIZED" } else { "READ" };
        self.record_not_input(store, kind, key_id, name, detail);
    }

    /// Records an operator's action that is not an input (an off-line
    /// bundle exported, imported or refused): `kind`, who by key id and
    /// name, what.
    pub fn record_operator(&mut self, store: &mut Store, kind: &str, key_id: String, name: &str, detail: String) {
        self.record_not_input(store, kind, Some(key_id), Some(name), detail);
    }

    fn record_not_input(
        &mut self,
        store: &mut Store,
        kind: &str,
        key_id: Option<String>,
        name: Option<&str>,
        detail: String,
    ) {
        if self.broken {
            return;
        }
        let e = Entry {
            at_ms: crate::clock::now().as_millis(),
            actor: name.filter(|n| valid_name(n)).map_or_else(|| self.party.to_string(), str::to_owned),
            key_id: key_id.map(|k| clean(&k)),
            kind: kind.to_owned(),
            detail,
            ..Entry::default()
        };
        let r = self.append(e).and_then(|()| self.after_append(store, true));
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
            self.append_head(crate::clock::now().as_millis(), format!("chain head seq={}", self.seq))?;
        }
        self.fsync()?;
        self.unsynced = false;
        self.durable_due = false;
        self.sync(store, true)
    }

    /// The current head (seq, hash).
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash)
    }

    /// The head (seq, hash), signed with the node's key (document
    /// `tisa.v1.audit-head`), to carry in this node's receipts. A receipt
    /// never names entries a power loss could take back: every entry up to
    /// the head is fsync'd or derived from inputs the input log holds
    /// (see [`AuditLog::record`]), and a receipt leaves only after the
    /// input that made it was committed and audited, so the head covers
    /// the delivery it is for.
    ///
    /// Signed once per head: the receipts of one drain carry the same
    /// signature, which the originator then verifies once.
    pub fn signed_head(&mut self) -> Signed {
        if let Some((seq, s)) = &self.head_signed {
            if *seq == self.seq {
                return s.clone();
            }
        }
        let s = self.identity.sign(head_document(&self.party.to_string(), self.seq, &hex(&self.hash)));
        self.head_signed = Some((self.seq, s.clone()));
        s
    }

    /// Whether entries were written since the last fsync.
    pub fn unsynced(&self) -> bool {
        self.unsynced && !self.broken
    }

    /// Whether a write or fsync failed: nothing more is written (or made
    /// durable) until a restart.
    pub fn is_broken(&self) -> bool {
        self.broken
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

    /// Chains and writes one entry (the caller decides when it is fsync'd).
    fn append(&mut self, mut e: Entry) -> Result<(), AuditError> {
        e.seq = self.seq + 1;
        e.party = self.party.to_string();
        e.prev = hex(&self.hash);
        e.hash = String::new();
        let hash = e.seal_into(&self.hash, &mut self.out);
        self.out.push(b'\n');
        self.seq = e.seq;
        self.hash = hash;
        self.last_at = e.at_ms;
        self.unsynced = true;
        self.last_is_head = e.kind == "HEAD";
        self.since_head = if self.last_is_head { 0 } else { self.since_head + 1 };
        Ok(())
    }

    fn append_head(&mut self, at_ms: u64, detail: String) -> Result<(), AuditError> {
        let party = self.party.to_string();
        let hash_hex = hex(&self.hash);
        let signed: Signed = self.identity.sign(head_document(&party, self.seq, &hash_hex));
        let e = Entry {
            at_ms,
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

    /// After appends: a signed HEAD every [`HEAD_EVERY`] entries (at the
    /// time of the entry before it: replay writes the same one); then, if
    /// `now` (what replay cannot write again), the fsync and the head
    /// recorded in the store and the side file.
    fn after_append(&mut self, store: &mut Store, now: bool) -> Result<(), AuditError> {
        if self.since_head >= HEAD_EVERY {
            self.append_head(self.last_at, format!("chain head seq={}", self.seq))?;
            self.durable_due = true;
        }
        if now {
            self.flush(store)?;
        } else if self.out.len() >= WRITE_AT {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes what waits in memory, in one `write`: the node calls it once
    /// per group commit, after the inputs' entries are recorded (a `write`
    /// per input was a twentieth of a node's CPU under load). Until then a
    /// process crash loses them from the file, not from the log: replay
    /// derives them from the inputs the input log holds, as after a power
    /// loss. Anything fsync'd or recorded at once is written first.
    pub fn write_pending(&mut self) -> Result<(), AuditError> {
        if self.broken {
            return Ok(());
        }
        self.write_out()
    }

    /// Writes the lines appended since the last write, in one write; a
    /// failure stops the log until a restart (whose replay writes them).
    fn write_out(&mut self) -> Result<(), AuditError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.out);
        self.out.clear();
        if let Err(err) = r {
            self.broken = true;
            return Err(self.err(format!(
                "cannot write entries up to seq {} ({err}); nothing more is written until the node restarts",
                self.seq
            )));
        }
        Ok(())
    }

    /// Fsyncs the file, or stops the log until a restart.
    fn fsync(&mut self) -> Result<(), AuditError> {
        self.write_out()?;
        if let Err(err) = self.file.sync_data() {
            self.broken = true;
            return Err(self.err(format!(
                "cannot fsync entries up to seq {} ({err}); nothing more is written until the node restarts",
                self.seq
            )));
        }
        Ok(())
    }

    /// One fsync for every entry written since the last, then the head
    /// recorded in the store and `audit.head`.
    pub fn flush(&mut self, store: &mut Store) -> Result<(), AuditError> {
        if self.broken || !std::mem::take(&mut self.unsynced) {
            return Ok(());
        }
        self.fsync()?;
        let durable = std::mem::take(&mut self.durable_due);
        self.sync(store, durable)
    }

    /// [`AuditLog::flush`], but hands the blocking part (the fsync of the
    /// log, the side file) to the caller to run on another thread
    /// ([`PendingFlush::run`]), so that the node goes on meanwhile;
    /// [`AuditLog::finish_flush`] then records the head. Entries appended in
    /// between are covered by the next flush. `None`: nothing to fsync.
    pub fn begin_flush(&mut self) -> Result<Option<PendingFlush>, AuditError> {
        if self.broken || !std::mem::take(&mut self.unsynced) {
            return Ok(None);
        }
        self.write_out()?;
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
