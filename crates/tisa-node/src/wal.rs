//! The input log: an append-only write-ahead log in preallocated segment
//! files, one write and one `fdatasync` per group commit.
//!
//! Every state-changing input is appended here, and made durable, before
//! the core applies it and before anything it caused is published or
//! acknowledged (`ingress`). A redb commit touched 12–16 scattered pages
//! plus an fsync (0.55–0.93 ms); a sequential append into space allocated
//! in advance is one `fdatasync` of the data alone (no file-size or block
//! allocation metadata to journal).
//!
//! Layout: `<data-dir>/wal/<first seq, 20 digits>.log`, each segment
//! preallocated to [`SEGMENT_BYTES`] (`fallocate`; a batch larger than
//! that gets a segment of its own size). A record is
//!
//! ```text
//! len: u32 LE | crc32 of (seq ‖ payload): u32 LE | seq: u64 LE | payload (len bytes)
//! ```
//!
//! Seqs run on without a gap, across segments. Reading stops at the first
//! record that is not the next seq with a matching checksum: the end of
//! what was written (the rest of a segment is zeros), or a write torn by a
//! power loss (then that batch was never acknowledged, nor applied). On
//! open, the last segment is scanned to its end, and a torn tail is
//! overwritten by the next append. A torn record in any segment but the
//! last is corruption, not a crash (a segment is only left once fsync'd),
//! and the node refuses to start.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Space allocated for a segment in advance.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// Record header: length, checksum, seq.
const HEADER: usize = 16;
/// A payload larger than this is not a record (a corrupt length).
const MAX_RECORD: u32 = 256 << 20;

/// A write-ahead log failure, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("input log {path}: {reason}")]
pub struct WalError {
    path: PathBuf,
    reason: String,
}

fn fail(path: &Path, e: impl std::fmt::Display) -> WalError {
    WalError { path: path.to_owned(), reason: e.to_string() }
}

/// One segment: its first seq, file, and the end of its valid records.
#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    /// Bytes of valid records (where the next append goes, for the last).
    end: u64,
    /// Space allocated (for the last: when to roll over).
    size: u64,
}

/// The log: its segments, the one appended to, the next seq.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    segments: Vec<Segment>,
    file: Option<File>,
    next: u64,
    /// Where the last read ended (seq, segment index, offset): replay reads
    /// in chunks, each from where the previous one stopped.
    cursor: Option<(u64, usize, u64)>,
    /// Space allocated per segment ([`SEGMENT_BYTES`]).
    segment_bytes: u64,
}

impl Wal {
    /// Opens (or creates) the log in `<data_dir>/wal`. `base` is the seq the
    /// first record gets if the log is new (inputs before it live in an
    /// older store). Scans every segment; a torn tail of the last is cut off.
    pub fn open(data_dir: &Path, base: u64) -> Result<Wal, WalError> {
        Wal::open_sized(data_dir, base, SEGMENT_BYTES)
    }

    /// [`Wal::open`] with segments of `segment_bytes` (tests).
    fn open_sized(data_dir: &Path, base: u64, segment_bytes: u64) -> Result<Wal, WalError> {
        let dir = data_dir.join("wal");
        tisa_fs::private_dir(&dir).map_err(|e| fail(&dir, e))?;
        let mut firsts = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| fail(&dir, e))? {
            let entry = entry.map_err(|e| fail(&dir, e))?;
            let name = entry.file_name();
            let Some(first) = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            firsts.push((first, entry.path()));
        }
        firsts.sort();
        let mut wal = Wal { dir, segments: Vec::new(), file: None, next: base, cursor: None, segment_bytes };
        let count = firsts.len();
        for (i, (first, path)) in firsts.into_iter().enumerate() {
            if i > 0 && first != wal.next {
                return Err(fail(&path, format!("segment starts at input {first}, the log before it ends at {}: a segment is missing or damaged; restore the data directory from a backup", wal.next)));
            }
            let size = std::fs::metadata(&path).map_err(|e| fail(&path, e))?.len();
            let (last, end) = scan(&path, first)?;
            let last_segment = i + 1 == count;
            if !last_segment && end < size && !zeros_from(&path, end)? {
                return Err(fail(&path, format!("a damaged record at byte {end}, and later segments follow: restore the data directory from a backup")));
            }
            wal.next = last.map_or(first, |l| l + 1);
            wal.segments.push(Segment { first, path, end, size });
        }
        if let Some(s) = wal.segments.last() {
            let file = OpenOptions::new().write(true).open(&s.path).map_err(|e| fail(&s.path, e))?;
            wal.file = Some(file);
        }
        Ok(wal)
    }

    /// The seq the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The first seq held here (inputs before it are in the older store).
    pub fn first_seq(&self) -> u64 {
        self.segments.first().map_or(self.next, |s| s.first)
    }

    /// Appends `payloads` as the next records, with one write and one
    /// `fdatasync`. Returns the first one's seq. On an error nothing is
    /// acknowledged: the caller refuses the inputs (the broker redelivers);
    /// a partial write is overwritten by the next append.
    pub fn append(&mut self, payloads: &[Vec<u8>]) -> Result<u64, WalError> {
        let first = self.next;
        let mut buf = Vec::with_capacity(payloads.iter().map(|p| p.len() + HEADER).sum());
        for (i, p) in payloads.iter().enumerate() {
            let len = u32::try_from(p.len()).ok().filter(|l| *l <= MAX_RECORD).ok_or_else(|| {
                fail(&self.dir, format!("an input of {} bytes is larger than a record may be", p.len()))
            })?;
            let seq = first + i as u64;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc(seq, p).to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
            buf.extend_from_slice(p);
        }
        let need = buf.len() as u64;
        if self.segments.last().is_none_or(|s| s.end + need > s.size) {
            self.roll(need)?;
        }
        let (Some(seg), Some(file)) = (self.segments.last_mut(), self.file.as_mut()) else {
            return Err(fail(&self.dir, "no segment to append to"));
        };
        file.write_all_at(&buf, seg.end).map_err(|e| fail(&seg.path, e))?;
        file.sync_data().map_err(|e| fail(&seg.path, e))?;
        seg.end += need;
        self.next += payloads.len() as u64;
        Ok(first)
    }

    /// Starts a new segment at the next seq, with room for at least `need`
    /// bytes; its directory entry is made durable before it is used.
    fn roll(&mut self, need: u64) -> Result<(), WalError> {
        let path = self.dir.join(format!("{:020}.log", self.next));
        let size = self.segment_bytes.max(need);
        let file = tisa_fs::open_private(OpenOptions::new().create(true).truncate(true).read(true).write(true), &path)
            .map_err(|e| fail(&path, e))?;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size).map_err(|e| fail(&path, e))?;
        file.sync_all().map_err(|e| fail(&path, e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| fail(&self.dir, e))?;
        self.segments.push(Segment { first: self.next, path, end: 0, size });
        self.file = Some(file);
        Ok(())
    }

    /// Up to `max` records from seq `from` on, in order, as `(seq, payload)`.
    pub fn read_from(&mut self, from: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
        let mut out = Vec::new();
        if from >= self.next || max == 0 {
            return Ok(out);
        }
        let Some(mut idx) = self.segments.iter().rposition(|s| s.first <= from) else { return Ok(out) };
        let (mut seq, mut offset) = match self.cursor {
            Some((s, i, o)) if s == from && i == idx => (s, o),
            _ => (self.segments[idx].first, 0),
        };
        while out.len() < max && idx < self.segments.len() {
            let seg = &self.segments[idx];
            let file = File::open(&seg.path).map_err(|e| fail(&seg.path, e))?;
            let mut r = BufReader::with_capacity(256 << 10, file);
            r.seek(SeekFrom::Start(offset)).map_err(|e| fail(&seg.path, e))?;
            while out.len() < max && offset < seg.end {
                let Some((s, payload)) = read_record(&mut r, seq).map_err(|e| fail(&seg.path, e))? else {
                    return Err(fail(&seg.path, format!("input {seq} at byte {offset} does not read back")));
                };
                offset += (HEADER + payload.len()) as u64;
                seq = s + 1;
                if s >= from {
                    out.push((s, payload));
                }
            }
            if offset >= seg.end {
                idx += 1;
                offset = 0;
            }
        }
        self.cursor = Some((seq, idx.min(self.segments.len().saturating_sub(1)), offset));
        if idx >= self.segments.len() {
            self.cursor = None;
        }
        Ok(out)
    }
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The record at the reader's position if it is seq `expect` with a
/// matching checksum; `None` at the end of what was written (or a torn write).
fn read_record(r: &mut impl Read, expect: u64) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    let mut h = [0u8; HEADER];
    match r.read_exact(&mut h) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3, s0, s1, s2, s3, s4, s5, s6, s7] = h;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let sum = u32::from_le_bytes([c0, c1, c2, c3]);
    let seq = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
    if len == 0 || len > MAX_RECORD || seq != expect {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    match r.read_exact(&mut payload) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    if crc(seq, &payload) != sum {
        return Ok(None);
    }
    Ok(Some((seq, payload)))
}

/// Scans a segment starting at `first`: the last valid seq and where the
/// valid records end.
fn scan(path: &Path, first: u64) -> Result<(Option<u64>, u64), WalError> {
    let file = File::open(path).map_err(|e| fail(path, e))?;
    let mut r = BufReader::with_capacity(256 << 10, file);
    let (mut seq, mut end, mut last) = (first, 0u64, None);
    while let Some((s, p)) = read_record(&mut r, seq).map_err(|e| fail(path, e))? {
        end += (HEADER + p.len()) as u64;
        last = Some(s);
        seq = s + 1;
    }
    Ok((last, end))
}

/// Whether everything in `path` from `offset` on is zero (never written).
fn zeros_from(path: &Path, offset: u64) -> Result<bool, WalError> {
    let mut file = File::open(path).map_err(|e| fail(path, e))?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| fail(path, e))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf).map_err(|e| fail(path, e))?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
#[path = "wal_tests.rs"]
mod tests;
