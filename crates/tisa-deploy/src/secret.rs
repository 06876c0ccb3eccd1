//! Secret files (nkey seeds, signing keys, TLS keys): written with mode 0600
//! (`tisa_fs`: whatever the umask, atomically).

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `content` to `path` with mode 0600 (owner only).
pub fn write_secret(path: &Path, content: &str) -> Result<()> {
    tisa_fs::write_private(path, content.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
