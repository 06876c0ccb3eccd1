//! Modes under umask 022 (the common default): private files are 0600 and
//! private directories 0700; the control creates the same paths the plain
//! std way under the same umask and gets 0644 / 0755, so each test would
//! fail if the functions left the mode to the umask.
#![cfg(unix)]

use std::fs::OpenOptions;
use std::path::PathBuf;

use rustix::fs::Mode;
use tisa_fs::{ensure_private_file, mode_of, open_private, private_dir, write_private, DIR_MODE, FILE_MODE};

/// Every test in this binary runs under umask 022 (set by each; all set the same).
fn scratch(name: &str) -> PathBuf {
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let d = std::env::temp_dir().join(format!("tisa-fs-{name}-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn private_dir_is_0700_and_the_plain_way_is_0755() {
    let base = scratch("dir");
    let ours = base.join("a/b/data");
    private_dir(&ours).unwrap();
    assert_eq!(mode_of(&ours).unwrap(), DIR_MODE);
    assert_eq!(mode_of(&base.join("a")).unwrap(), DIR_MODE, "created parents are private too");
    // Control: the same directory the old way.
    let plain = base.join("c/d/data");
    std::fs::create_dir_all(&plain).unwrap();
    assert_eq!(mode_of(&plain).unwrap(), 0o755);
    // An existing 0755 data directory is made private.
    private_dir(&plain).unwrap();
    assert_eq!(mode_of(&plain).unwrap(), DIR_MODE);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn written_files_are_0600_and_the_plain_way_is_0644() {
    let base = scratch("write");
    let ours = base.join("seed.nk");
    write_private(&ours, b"SECRET").unwrap();
    assert_eq!(mode_of(&ours).unwrap(), FILE_MODE);
    assert_eq!(std::fs::read(&ours).unwrap(), b"SECRET");
    // Overwriting replaces the content whole and keeps the mode.
    write_private(&ours, b"NEW").unwrap();
    assert_eq!(std::fs::read(&ours).unwrap(), b"NEW");
    assert_eq!(mode_of(&ours).unwrap(), FILE_MODE);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // Control.
    let plain = base.join("plain.nk");
    std::fs::write(&plain, b"SECRET").unwrap();
    assert_eq!(mode_of(&plain).unwrap(), 0o644);
    // An existing 0644 file overwritten privately becomes 0600.
    write_private(&plain, b"SECRET").unwrap();
    assert_eq!(mode_of(&plain).unwrap(), FILE_MODE);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn opened_and_ensured_files_are_0600_even_when_they_existed() {
    let base = scratch("open");
    let log = base.join("audit.log");
    let mut f = open_private(OpenOptions::new().create(true).append(true), &log).unwrap();
    std::io::Write::write_all(&mut f, b"line\n").unwrap();
    assert_eq!(mode_of(&log).unwrap(), FILE_MODE);
    let store = base.join("node.redb");
    ensure_private_file(&store).unwrap();
    assert_eq!(mode_of(&store).unwrap(), FILE_MODE);
    assert_eq!(std::fs::metadata(&store).unwrap().len(), 0, "created empty");
    // Control: the same files the old way, then tightened.
    let old = base.join("old.log");
    OpenOptions::new().create(true).append(true).open(&old).unwrap();
    assert_eq!(mode_of(&old).unwrap(), 0o644);
    std::fs::write(&old, b"kept").unwrap();
    ensure_private_file(&old).unwrap();
    assert_eq!(mode_of(&old).unwrap(), FILE_MODE);
    assert_eq!(std::fs::read(&old).unwrap(), b"kept", "content untouched");
    std::fs::remove_dir_all(&base).unwrap();
}
