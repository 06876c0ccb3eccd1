//! # tisa-fs
//!
//! Content at rest is readable by its owner only: every directory tisa
//! creates for data, keys or credentials is mode **0700** and every file in
//! it mode **0600**, whatever the process's umask. The mode is given at
//! creation (so no other user can open the file in between) and then set
//! explicitly with `set_permissions` (a umask can only clear bits, and a file
//! or directory that already existed keeps its old mode otherwise).
//!
//! Used by `tisa-node` (the store `node.redb`, the audit log and its head),
//! `tisa-deploy` (key files, nkey seeds, TLS keys, generated deployments) and
//! `tisa-kit` (cluster and demo directories, node logs).
//!
//! On a platform without Unix permissions the functions create and write the
//! same files without changing modes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The mode of every directory tisa keeps data, keys or credentials in.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file tisa writes there.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and any missing parents, each mode 0700) and sets `dir`
/// itself to mode 0700 even if it existed. Parents that existed are left alone.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir)?;
    set_mode(dir, DIR_MODE)
}

/// Opens `path` with `opts` (which should say `create`), creating it mode
/// 0600, and sets the open file to mode 0600 (also when it existed).
pub fn open_private(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    let f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(f)
}

/// Makes sure `path` exists as a file of mode 0600 without changing its
/// content: for files another library creates and writes (the store), which
/// then finds it in place, empty the first time.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    open_private(OpenOptions::new().create(true).append(true), path).map(drop)
}

/// Writes `content` to `path` atomically (a temporary file in the same
/// directory, fsync'd, renamed over `path`), mode 0600. A reader sees the
/// old content or the new, never a part.
pub fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = open_private(OpenOptions::new().write(true).create_new(true), &tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable once the directory is; best effort (some
    // filesystems refuse to open or fsync a directory).
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Sets `path` to `mode` (Unix permission bits).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The permission bits of `path` (0 where there are none): what the tests
/// and `stat` compare against [`DIR_MODE`] and [`FILE_MODE`].
pub fn mode_of(path: &Path) -> io::Result<u32> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        Ok(0)
    }
}

fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = format!(".{name}.tmp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    path.with_file_name(tmp)
}
