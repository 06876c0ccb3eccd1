//! The node's own durable state: an append-only log of every
//! state-changing input (redb, fsync on every commit), plus the ids of the
//! messages already handed to the broker.
//!
//! The core is deterministic: given the same inputs with the same `now`s
//! and the same instance id, it reaches the same state and emits the same
//! messages with the same ids. So the node's state is rebuilt after a crash
//! (even `kill -9`) by replaying the log into a fresh core; messages whose
//! ids are not recorded as sent are sent again (receivers are idempotent).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tisa_transport::store::{decode_logged, encode_logged, LoggedInput};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INPUTS: TableDefinition<u64, &[u8]> = TableDefinition::new("inputs");
const SENT: TableDefinition<&str, ()> = TableDefinition::new("sent");

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
    next_seq: u64,
}

impl Store {
    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError { path: self.path.clone(), reason: e.to_string() }
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("node.redb");
        let fail = |e: &dyn std::fmt::Display| StoreError { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let db = Database::create(&path).map_err(|e| fail(&e))?;
        let mut store = Store { db, path, next_seq: 0 };
        let w = store.db.begin_write().map_err(|e| store.err(e))?;
        {
            w.open_table(META).map_err(|e| store.err(e))?;
            w.open_table(INPUTS).map_err(|e| store.err(e))?;
            w.open_table(SENT).map_err(|e| store.err(e))?;
        }
        w.commit().map_err(|e| store.err(e))?;
        let r = store.db.begin_read().map_err(|e| store.err(e))?;
        let t = r.open_table(INPUTS).map_err(|e| store.err(e))?;
        store.next_seq = match t.last().map_err(|e| store.err(e))? {
            Some((k, _)) => k.value() + 1,
            None => 0,
        };
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

    /// Every logged input, in order. Undecodable records are an error.
    pub fn inputs(&self) -> Result<Vec<LoggedInput>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(INPUTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let input = decode_logged(v.value()).map_err(|e| self.err(format!("record {}: {e}", k.value())))?;
            out.push(input);
        }
        Ok(out)
    }

    /// Appends inputs durably (one fsync'd transaction) before they are applied.
    pub fn append(&mut self, inputs: &[LoggedInput]) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(INPUTS).map_err(|e| self.err(e))?;
            for (i, input) in inputs.iter().enumerate() {
                t.insert(self.next_seq + i as u64, encode_logged(input).as_slice()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))?;
        self.next_seq += inputs.len() as u64;
        Ok(())
    }

    /// Records messages as handed to the broker.
    pub fn mark_sent(&mut self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(SENT).map_err(|e| self.err(e))?;
            for id in ids {
                t.insert(id.as_str(), ()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ids of messages already handed to the broker.
    pub fn sent(&self) -> Result<HashSet<String>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(SENT).map_err(|e| self.err(e))?;
        let mut out = HashSet::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, _) = item.map_err(|e| self.err(e))?;
            out.insert(k.value().to_owned());
        }
        Ok(out)
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
