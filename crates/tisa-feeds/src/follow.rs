//! Following a file by name, like `tail -F`: when the file at the path is
//! replaced (a log rotation moves it away and creates a new one), the
//! follower finishes the old file and goes on with the new one from its
//! start; when the file it reads shrinks (truncated in place), it reads it
//! again from the start.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What [`Followed::at_end`] found once everything readable was read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing new yet: wait, then read again.
    Nothing,
    /// The file grew since the read that found its end: read again now.
    Grew,
    /// The file shrank below what was read: reading again from its start.
    Truncated,
    /// Another file is at the path now: reading that one from its start.
    Replaced,
}

/// A file read by name.
pub(crate) struct Followed {
    path: PathBuf,
    reader: BufReader<File>,
    id: Option<FileId>,
}

/// Which file a path names (device and inode).
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<FileId> {
    None
}

impl Followed {
    /// Opens the file at `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<Followed> {
        let file = File::open(path)?;
        let id = file_id(&file.metadata()?);
        Ok(Followed { path: path.to_owned(), reader: BufReader::new(file), id })
    }

    /// The reader of the file currently followed.
    pub(crate) fn reader(&mut self) -> &mut BufReader<File> {
        &mut self.reader
    }

    /// Called when a read found the end: whether the file grew, shrank or
    /// was replaced in the meantime. The old file is read to its end before
    /// the follower moves on to a new one, so nothing written to it before
    /// the rotation is lost.
    pub(crate) fn at_end(&mut self) -> std::io::Result<Change> {
        let pos = self.reader.stream_position()?;
        let len = self.reader.get_ref().metadata()?.len();
        if len > pos {
            return Ok(Change::Grew);
        }
        if len < pos {
            self.reader.seek(SeekFrom::Start(0))?;
            return Ok(Change::Truncated);
        }
        // Moved away and not yet recreated: keep the old one meanwhile.
        let Ok(meta) = std::fs::metadata(&self.path) else { return Ok(Change::Nothing) };
        if self.id.is_none() || file_id(&meta) == self.id {
            return Ok(Change::Nothing);
        }
        *self = Followed::open(&self.path)?;
        Ok(Change::Replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Write};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tisa-follow-{name}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    fn read_all(f: &mut Followed) -> String {
        let mut s = String::new();
        while f.reader().read_line(&mut s).unwrap() > 0 {}
        s
    }

    fn append(path: &Path, s: &str) {
        std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn follows_a_rotated_file_by_name_after_finishing_the_old_one() {
        let dir = scratch("rotate");
        let path = dir.join("feed.jsonl");
        std::fs::write(&path, "a\n").unwrap();
        let mut f = Followed::open(&path).unwrap();
        assert_eq!(read_all(&mut f), "a\n");
        assert_eq!(f.at_end().unwrap(), Change::Nothing);

        // Rotated: moved away (and written to once more), then recreated.
        let old = dir.join("feed.jsonl.1");
        std::fs::rename(&path, &old).unwrap();
        assert_eq!(f.at_end().unwrap(), Change::Nothing, "no file at the path yet: keep the old one");
        append(&old, "b\n");
        std::fs::write(&path, "c\n").unwrap();
        assert_eq!(f.at_end().unwrap(), Change::Grew, "the old file is finished first");
        assert_eq!(read_all(&mut f), "b\n");
        assert_eq!(f.at_end().unwrap(), Change::Replaced);
        assert_eq!(read_all(&mut f), "c\n");
        assert_eq!(f.at_end().unwrap(), Change::Nothing, "the old file is never read again");
        append(&path, "d\n");
        assert_eq!(f.at_end().unwrap(), Change::Grew);
        assert_eq!(read_all(&mut f), "d\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reads_a_truncated_file_again_from_the_start() {
        let dir = scratch("truncate");
        let path = dir.join("feed.jsonl");
        std::fs::write(&path, "first line\n").unwrap();
        let mut f = Followed::open(&path).unwrap();
        assert_eq!(read_all(&mut f), "first line\n");
        std::fs::write(&path, "x\n").unwrap();
        assert_eq!(f.at_end().unwrap(), Change::Truncated);
        assert_eq!(read_all(&mut f), "x\n");
        let _ = std::fs::remove_dir_all(dir);
    }
}
