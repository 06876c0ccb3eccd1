//! The node's own durable state: an append-only log of every
//! state-changing input ([`crate::wal`]: one `fdatasync` per group commit),
//! and `node.redb` for the rest: the ids of the messages already handed to
//! the broker, report bodies, refused commands, the audit head.
//!
//! The core is deterministic: given the same inputs with the same `now`s
//! and the same instance id, it reaches the same state and emits the same
//! messages with the same ids. So the node's state is rebuilt after a crash
//! (even `kill -9`) by replaying the log into a fresh core; messages whose
//! ids are not recorded as sent are sent again (receivers are idempotent).
//!
//! It also keeps the head (seq, hash) of the audit log ([`crate::audit`]),
//! so that entries cut off the end of `audit.log` are detected, and the
//! report bodies (content and signed manifest) the core keeps out of memory
//! ([`tisa_core::body`]): a body is written without an fsync of its own,
//! because the input it came from is in the log, and replay writes it again.
//!
//! `node.redb` is never on the path from an input to its effects: what it
//! holds besides the audit head is derived from the input log (bodies,
//! refusals) or only saves work (a lost `sent` record means a duplicate the
//! receiver absorbs). Its writes are not fsync'd one by one; a checkpoint
//! makes them durable at most [`CHECKPOINT_EVERY`] apart (and on a clean
//! stop), which also lets redb reuse its freed pages. Stores written before
//! the input log moved out of redb keep their logged inputs in its `inputs`
//! table; the log goes on from there in `wal/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, Durability, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition};
use tisa_core::{BodyKey, LoggedInput, Report, Stash};
use tisa_transport::Wire;

use crate::wal::Wal;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INPUTS: TableDefinition<u64, &[u8]> = TableDefinition::new("inputs");
const SENT: TableDefinition<&str, ()> = TableDefinition::new("sent");
/// `"head"` → the audit log's head: seq (8 bytes, big-endian) ‖ SHA-256 (32 bytes).
const AUDIT: TableDefinition<&str, &[u8]> = TableDefinition::new("audit");
/// `"ID.rREVISION"` → the body (a wire report: content and manifest).
const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bodies");
/// Commands that were refused when they were applied: input seq → the
/// reply sent (encoded). Replay does not apply them again, so a later
/// agreement (say, without the two-person rule) cannot turn a refusal into
/// an effect no one asked for again.
const REFUSED: TableDefinition<u64, &[u8]> = TableDefinition::new("refused");
/// Off-line passage: `"acks.KR"` → the id of the last bundle imported from
/// that peer (32 bytes) ‖ its messages' ids, newline-separated (what the
/// next bundle to it acknowledges).
const COURIER: TableDefinition<&str, &[u8]> = TableDefinition::new("courier");

/// redb's page cache. Its default (1 GiB) would let the node's memory grow
/// with the store; the hot pages (the log's tail, recent bodies) fit in far less.
const CACHE_BYTES: usize = 8 << 20;

/// What the next bundle to a peer acknowledges: the id of the last bundle
/// imported from it and its messages' ids.
pub type CourierAcks = ([u8; 32], Vec<String>);

/// How far apart `node.redb`'s durable checkpoints are at most (while it is written to).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long sent records and the audit head may wait in memory
/// ([`Store::mark_sent`], [`Store::set_audit_head`]).
pub const SENT_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// How many sent records may wait in memory before they are written at once.
const SENT_BUFFER_MAX: usize = 1024;

/// The store's file name in the data directory.
pub const FILE: &str = "node.redb";

/// A storage failure. The node refuses the input that could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("node store {path}: {reason}")]
pub struct StoreError {
    path: PathBuf,
    reason: String,
}

/// The node's store (one redb file in the data directory).
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The input log from `legacy` on.
    wal: Wal,
    /// Inputs before this seq are in redb's `inputs` table (a store written
    /// before the input log moved out of redb); 0 for a new store.
    legacy: u64,
    next_seq: u64,
    /// When redb last committed durably.
    checkpointed: std::time::Instant,
    /// Bodies stashed since the last write transaction, encoded, by key:
    /// written with the next one (the next input's append, the next sent
    /// records), so that they cost no transaction of their own.
    staged: std::collections::HashMap<String, Vec<u8>>,
    /// Sent records not written yet ([`Store::mark_sent`]).
    sent_buffer: Vec<String>,
    /// The audit head recorded without an fsync, not written yet.
    head_buffer: Option<(u64, [u8; 32])>,
    /// How long each group commit's append (write and `fdatasync`) took.
    commits: tisa_transport::CommitHealth,
}

/// Staged bodies beyond this many are written in a transaction of their
/// own. Staged bodies are held encoded in memory (a few KB each), and the
/// allocator keeps what the largest batch took: 512 hold ~1 MB where 4096
/// held ~8 MB in every process that takes reports in bulk.
const STAGED_MAX: usize = 512;

impl Store {
    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError { path: self.path.clone(), reason: e.to_string() }
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE);
        let fail = |e: &dyn std::fmt::Display| StoreError { path: path.clone(), reason: e.to_string() };
        // Report text lives here: the directory 0700, the file 0600,
        // whatever the umask (created empty for redb to initialise).
        tisa_fs::private_dir(dir).map_err(|e| fail(&e))?;
        tisa_fs::ensure_private_file(&path).map_err(|e| fail(&e))?;
        // A reader (`tisa audit verify` on a stopped node) holds the file
        // for a moment: wait for it rather than fail the start.
        let mut tries = 0;
        let db = loop {
            match Database::builder().set_cache_size(CACHE_BYTES).create(&path) {
                Err(DatabaseError::DatabaseAlreadyOpen) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                r => break r.map_err(|e| fail(&e))?,
            }
        };
        let w = db.begin_write().map_err(|e| fail(&e))?;
        {
            w.open_table(META).map_err(|e| fail(&e))?;
            w.open_table(INPUTS).map_err(|e| fail(&e))?;
            w.open_table(SENT).map_err(|e| fail(&e))?;
            w.open_table(AUDIT).map_err(|e| fail(&e))?;
            w.open_table(BODIES).map_err(|e| fail(&e))?;
            w.open_table(REFUSED).map_err(|e| fail(&e))?;
            w.open_table(COURIER).map_err(|e| fail(&e))?;
        }
        w.commit().map_err(|e| fail(&e))?;
        // Inputs logged before the log moved out of redb end here; the log
        // in wal/ goes on from there (a new store: from 0).
        let legacy = {
            let r = db.begin_read().map_err(|e| fail(&e))?;
            let t = r.open_table(INPUTS).map_err(|e| fail(&e))?;
            let last = t.last().map_err(|e| fail(&e))?.map(|(k, _)| k.value() + 1);
            last.unwrap_or(0)
        };
        let wal = Wal::open(dir, legacy).map_err(|e| fail(&e))?;
        if wal.first_seq() != legacy && legacy > 0 {
            return Err(fail(&format!(
                "the input log in wal/ starts at input {}, but node.redb's inputs end before {legacy}: the data directory was mixed from two nodes; restore it from a backup",
                wal.first_seq()
            )));
        }
        let mut store = Store {
            db,
            path,
            wal,
            legacy,
            next_seq: 0,
            checkpointed: std::time::Instant::now(),
            staged: Default::default(),
            sent_buffer: Vec::new(),
            head_buffer: None,
            commits: Default::default(),
        };
        store.next_seq = store.wal.next_seq();
        Ok(store)
    }

    /// This node's instance id: chosen at first start, kept for ever (the
    /// core's message ids derive from it, so replay reproduces them).
    pub fn instance(&mut self) -> Result<u64, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        if let Some(v) = r.open_table(META).map_err(|e| self.err(e))?.get("instance").map_err(|e| self.err(e))? {
            return Ok(v.value());
        }
        drop(r);
        let instance: u64 = rand::random();
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META).map_err(|e| self.err(e))?.insert("instance", instance).map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))?;
        Ok(instance)
    }

    /// Up to `max` logged inputs from sequence number `from` on, in order
    /// (replay reads the log a chunk at a time, not all at once).
    pub fn inputs_from(&mut self, from: u64, max: usize) -> Result<Vec<(u64, LoggedInput)>, StoreError> {
        let mut out = Vec::new();
        if from < self.legacy {
            let r = self.db.begin_read().map_err(|e| self.err(e))?;
            let t = r.open_table(INPUTS).map_err(|e| self.err(e))?;
            for item in t.range(from..self.legacy).map_err(|e| self.err(e))?.take(max) {
                let (k, v) = item.map_err(|e| self.err(e))?;
                let input =
                    LoggedInput::decode(v.value()).map_err(|e| self.err(format!("record {}: {e}", k.value())))?;
                out.push((k.value(), input));
            }
        }
        let from = out.last().map_or(from, |(k, _)| k + 1).max(self.legacy);
        let more = max - out.len();
        for (seq, bytes) in self.wal.read_from(from, more).map_err(|e| self.err(e))? {
            let input = LoggedInput::decode(&bytes).map_err(|e| self.err(format!("input {seq}: {e}")))?;
            out.push((seq, input));
        }
        Ok(out)
    }

    /// Replay: writes the stashed bodies the store lacks (a crash kept them
    /// from the disk), leaving those it holds alone; no fsync of its own
    /// (the inputs they came from are logged).
    pub fn put_missing_bodies(&mut self, stashes: &[Stash]) -> Result<(), StoreError> {
        if stashes.is_empty() {
            return Ok(());
        }
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.set_durability(Durability::None).map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(BODIES).map_err(|e| self.err(e))?;
            for s in stashes {
                let key = s.key.to_string();
                if t.get(key.as_str()).map_err(|e| self.err(e))?.is_some() {
                    continue;
                }
                t.insert(key.as_str(), s.body.encode().as_slice()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stages the core's stashed bodies: they go to disk with the next
    /// write transaction (no fsync, no transaction of their own; the inputs
    /// they came from are logged, and replay writes lost ones again).
    pub fn stage_bodies(&mut self, stashes: Vec<Stash>) -> Result<(), StoreError> {
        for s in stashes {
            self.staged.insert(s.key.to_string(), s.body.encode());
        }
        if self.staged.len() > STAGED_MAX {
            let w = self.begin_lazy()?;
            self.write_staged(&w)?;
            w.commit().map_err(|e| self.err(e))?;
            self.staged.clear();
        }
        Ok(())
    }

    /// Writes the staged bodies in `w` (cleared by the caller once `w` commits).
    fn write_staged(&self, w: &redb::WriteTransaction) -> Result<(), StoreError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let mut t = w.open_table(BODIES).map_err(|e| self.err(e))?;
        for (k, v) in &self.staged {
            t.insert(k.as_str(), v.as_slice()).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The stored (or staged) body under `key`, if any.
    pub fn body(&self, key: &BodyKey) -> Result<Option<Report>, StoreError> {
        let k = key.to_string();
        if let Some(v) = self.staged.get(&k) {
            return Report::decode(v).map(Some).map_err(|e| self.err(format!("body {key}: {e}")));
        }
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BODIES).map_err(|e| self.err(e))?;
        let Some(v) = t.get(key.to_string().as_str()).map_err(|e| self.err(e))? else { return Ok(None) };
        Report::decode(v.value()).map(Some).map_err(|e| self.err(format!("body {key}: {e}")))
    }

    /// [`Store::append_encoded`] of inputs, encoded here (the node logs
    /// encoded records: `ingress::encode_inputs`; tests).
    #[cfg(test)]
    pub fn append(&mut self, inputs: &[LoggedInput]) -> Result<u64, StoreError> {
        let payloads: Vec<Vec<u8>> = inputs.iter().map(LoggedInput::encode).collect();
        self.append_encoded(&payloads)
    }

    /// Appends encoded inputs ([`LoggedInput::encode`], or a message's
    /// record written from its bytes) durably (one write and one
    /// `fdatasync` of the input log) before they are applied. Returns the
    /// sequence number of the first (the others follow). If a power loss
    /// tears the write, a prefix of the batch may survive: as if the node
    /// had stopped after committing those alone (none was applied or
    /// acknowledged yet).
    pub fn append_encoded(&mut self, payloads: &[Vec<u8>]) -> Result<u64, StoreError> {
        let t = std::time::Instant::now();
        let first = self.wal.append(payloads).map_err(|e| self.err(e))?;
        self.commits.record(t.elapsed());
        self.next_seq = self.wal.next_seq();
        Ok(first)
    }

    /// How long the group commits since start took (`tisa health`).
    pub fn commits(&self) -> &tisa_transport::CommitHealth {
        &self.commits
    }

    /// A write transaction for records that need no fsync of their own:
    /// durable if the last checkpoint is [`CHECKPOINT_EVERY`] old.
    fn begin_lazy(&mut self) -> Result<redb::WriteTransaction, StoreError> {
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        if self.checkpointed.elapsed() >= CHECKPOINT_EVERY {
            self.checkpointed = std::time::Instant::now();
        } else {
            w.set_durability(Durability::None).map_err(|e| self.err(e))?;
        }
        Ok(w)
    }

    /// Records the audit log's head (its last entry's seq and hash).
    /// `durable`: fsync'd now; otherwise it waits in memory and is written
    /// with the sent records ([`Store::flush_lazy`]), durable with the next
    /// durable commit (a crash can only make the recorded head lag the file,
    /// never run ahead of it: the file is fsync'd first).
    pub fn set_audit_head(&mut self, seq: u64, hash: &[u8; 32], durable: bool) -> Result<(), StoreError> {
        self.head_buffer = Some((seq, *hash));
        if !durable {
            return Ok(());
        }
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        self.write_lazy(&w)?;
        w.commit().map_err(|e| self.err(e))?;
        self.lazy_written();
        Ok(())
    }

    /// The audit log's head as last recorded, if any.
    pub fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        match self.head_buffer {
            Some(h) => Ok(Some(h)),
            None => read_head(&self.db).map_err(|e| self.err(e)),
        }
    }

    /// Records messages as handed to the broker. Not fsync'd on its own: it
    /// becomes durable with the next input's commit, and a record lost in a
    /// crash only means the message is sent again after the restart (the
    /// receiver's stream deduplicates by message id, the receiver's core is
    /// idempotent), never that one is lost.
    ///
    /// The records wait in memory for [`Store::flush_lazy`] (the actor calls
    /// it every [`SENT_FLUSH_EVERY`]) or until `SENT_BUFFER_MAX` wait:
    /// one store transaction for many acknowledgements, not one each (a
    /// transaction was a tenth of a node's time on the path of a track
    /// update). They were never durable at once: a crash loses at most the
    /// records since the last checkpoint either way.
    pub fn mark_sent(&mut self, ids: &[String]) -> Result<(), StoreError> {
        self.sent_buffer.extend(ids.iter().cloned());
        if self.sent_buffer.len() >= SENT_BUFFER_MAX {
            self.flush_lazy()?;
        }
        Ok(())
    }

    /// Whether sent records or the audit head wait in memory.
    pub fn lazy_waiting(&self) -> bool {
        !self.sent_buffer.is_empty() || self.head_buffer.is_some()
    }

    /// Writes what waits in memory (sent records, the audit head, staged
    /// bodies) in one transaction, durable if a checkpoint is due.
    pub fn flush_lazy(&mut self) -> Result<(), StoreError> {
        if !self.lazy_waiting() {
            return Ok(());
        }
        let w = self.begin_lazy()?;
        self.write_lazy(&w)?;
        w.commit().map_err(|e| self.err(e))?;
        self.lazy_written();
        Ok(())
    }

    /// Writes the sent records, the audit head and the staged bodies that
    /// wait in memory into `w` ([`Store::lazy_written`] once it commits).
    fn write_lazy(&self, w: &redb::WriteTransaction) -> Result<(), StoreError> {
        if !self.sent_buffer.is_empty() {
            let mut t = w.open_table(SENT).map_err(|e| self.err(e))?;
            for id in &self.sent_buffer {
                t.insert(id.as_str(), ()).map_err(|e| self.err(e))?;
            }
        }
        if let Some((seq, hash)) = &self.head_buffer {
            let mut t = w.open_table(AUDIT).map_err(|e| self.err(e))?;
            t.insert("head", encode_head(*seq, hash).as_slice()).map_err(|e| self.err(e))?;
        }
        self.write_staged(w)
    }

    fn lazy_written(&mut self) {
        self.sent_buffer.clear();
        self.head_buffer = None;
        self.staged.clear();
    }

    /// Records commands refused when applied (`seq`, the reply sent),
    /// durably: replay does not apply them again (a crash between the
    /// input's commit and this record re-evaluates it under the agreement
    /// in force then).
    pub fn mark_refused(&mut self, refused: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        if refused.is_empty() {
            return Ok(());
        }
        // Durable now (refusals are rare): a restart under a changed
        // agreement must find every refusal recorded.
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(REFUSED).map_err(|e| self.err(e))?;
            for (seq, reply) in refused {
                t.insert(*seq, reply.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// The commands among inputs `seqs` that were refused when applied,
    /// with their replies (one read for a replay chunk).
    pub fn refused_in(&self, seqs: std::ops::Range<u64>) -> Result<HashMap<u64, Vec<u8>>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(REFUSED).map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in t.range(seqs).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.insert(k.value(), v.value().to_vec());
        }
        Ok(out)
    }

    /// Makes every earlier commit durable (one fsync'd, empty transaction):
    /// on a clean stop, so that what was recorded as sent without its own
    /// fsync is not sent again after the restart.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        self.write_lazy(&w)?;
        w.commit().map_err(|e| self.err(e))?;
        self.lazy_written();
        self.checkpointed = std::time::Instant::now();
        Ok(())
    }

    /// Records what the next bundle to `peer` acknowledges: the last bundle
    /// imported from it (`bundle`) and its messages' ids.
    pub fn set_courier_acks(
        &mut self,
        peer: tisa_core::Party,
        bundle: &[u8; 32],
        ids: &[tisa_core::MessageId],
    ) -> Result<(), StoreError> {
        let mut v = bundle.to_vec();
        v.extend_from_slice(ids.iter().map(|i| i.as_str()).collect::<Vec<_>>().join("\n").as_bytes());
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(COURIER).map_err(|e| self.err(e))?;
            t.insert(format!("acks.{}", peer.code()).as_str(), v.as_slice()).map_err(|e| self.err(e))?;
        }
        self.write_staged(&w)?;
        w.commit().map_err(|e| self.err(e))?;
        self.staged.clear();
        Ok(())
    }

    /// What [`Store::set_courier_acks`] last recorded for `peer`.
    pub fn courier_acks(&self, peer: tisa_core::Party) -> Result<Option<CourierAcks>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(COURIER).map_err(|e| self.err(e))?;
        let Some(v) = t.get(format!("acks.{}", peer.code()).as_str()).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let v = v.value();
        let Some((id, rest)) = v.split_first_chunk::<32>() else { return Err(self.err("courier acks are malformed")) };
        let text = std::str::from_utf8(rest).map_err(|e| self.err(e))?;
        Ok(Some((*id, text.split('\n').filter(|s| !s.is_empty()).map(str::to_owned).collect())))
    }

    /// Which of `ids` were handed to the broker (one lookup each, so that
    /// the set of every id ever sent never has to be in memory).
    pub fn were_sent<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<Vec<bool>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(SENT).map_err(|e| self.err(e))?;
        ids.map(|id| {
            if self.sent_buffer.iter().any(|s| s == id) {
                return Ok(true);
            }
            t.get(id).map(|v| v.is_some()).map_err(|e| self.err(e))
        })
        .collect()
    }

    /// Number of logged inputs.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// Whether nothing is logged yet.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }
}

fn encode_head(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.extend_from_slice(hash);
    v
}

fn read_head(db: &impl ReadableDatabase) -> Result<Option<(u64, [u8; 32])>, String> {
    let r = db.begin_read().map_err(|e| e.to_string())?;
    let t = match r.open_table(AUDIT) {
        Ok(t) => t,
        // A store written before the audit log existed.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let Some(v) = t.get("head").map_err(|e| e.to_string())? else { return Ok(None) };
    let b = v.value();
    match (b.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()), b.get(8..).and_then(|s| <[u8; 32]>::try_from(s).ok()))
    {
        (Some(seq), Some(hash)) => Ok(Some((u64::from_be_bytes(seq), hash))),
        _ => Err("malformed audit head record".into()),
    }
}

/// Reads the audit head recorded in the store of data directory `dir`,
/// read-only and without repairing anything. Fails while a node has the
/// store open (redb allows one process at a time), or if the store needs
/// recovery after a crash: callers then rely on the `audit.head` side file.
pub fn read_audit_head(dir: &Path) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let path = dir.join(FILE);
    let fail = |e: &dyn std::fmt::Display| StoreError { path: path.clone(), reason: e.to_string() };
    if !path.exists() {
        return Err(fail(&"no such file"));
    }
    let db = ReadOnlyDatabase::open(&path).map_err(|e| fail(&e))?;
    read_head(&db).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{Input, Party, Timestamp};

    fn input(i: u64) -> LoggedInput {
        LoggedInput {
            at: Timestamp(1000 + i),
            input: if i.is_multiple_of(2) { Input::Timeout } else { Input::LinkUp { link: Party::Us } },
        }
    }

    /// A store written before the input log moved out of redb: its inputs
    /// are read from redb's `inputs` table, and the log goes on in `wal/`
    /// from the next seq; a restart reads both, in order.
    #[test]
    fn a_store_with_inputs_in_redb_goes_on_in_the_input_log() {
        let d = tempfile::tempdir().unwrap();
        {
            let db = Database::create(d.path().join(FILE)).unwrap();
            let w = db.begin_write().unwrap();
            {
                let mut t = w.open_table(INPUTS).unwrap();
                for i in 0..3u64 {
                    t.insert(i, input(i).encode().as_slice()).unwrap();
                }
            }
            w.commit().unwrap();
        }
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.append(&[input(3), input(4)]).unwrap(), 3);
        drop(s);
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.len(), 5);
        let all = s.inputs_from(0, 100).unwrap();
        assert_eq!(all, (0..5).map(|i| (i, input(i))).collect::<Vec<_>>());
        // In chunks across the boundary, as replay reads.
        assert_eq!(s.inputs_from(2, 2).unwrap(), vec![(2, input(2)), (3, input(3))]);
        assert_eq!(s.inputs_from(4, 2).unwrap(), vec![(4, input(4))]);
        assert!(d.path().join("wal").join(format!("{:020}.log", 3)).exists());
    }

    #[test]
    fn a_new_store_logs_in_the_input_log_only() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.append(&[input(0), input(1)]).unwrap(), 0);
        drop(s);
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.inputs_from(0, 10).unwrap(), vec![(0, input(0)), (1, input(1))]);
        let db = s.db.begin_read().unwrap();
        assert!(db.open_table(INPUTS).unwrap().last().unwrap().is_none(), "nothing in redb's table");
    }
}
