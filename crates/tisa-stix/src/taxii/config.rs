//! `tisa taxii --config FILE` (TOML):
//!
//! ```toml
//! node_config = "tisa-broker/kr-cli.toml"   # your party's CLI config (its node, its broker)
//! listen = "127.0.0.1:9580"                 # loopback by default
//! # nats = "nats://127.0.0.1:4222"          # overrides node_config's broker URL
//! [[user]]
//! name = "kr-misp"                          # a reader in your party's roster or agreement
//! key = "tisa-keys/kr-misp.key"             # that reader's key (signs every read of the node)
//! password_hash = "$argon2id$v=19$…"        # HTTP Basic (tisa taxii --hash-secret)
//! token_hash = "$argon2id$v=19$…"           # optional: bearer token `kr-misp.<secret>`
//! [tls]                                     # optional: HTTPS
//! cert = "taxii.pem"                        # certificate chain (PEM)
//! key = "taxii-key.pem"                     # its key (PEM, 0600)
//! ```
//!
//! Paths are relative to the file. Each TAXII user reads as its own reader
//! key: the node checks it (registered for this party, reader role) and
//! audits every read as that reader, naming the reports.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The party's CLI config (node, broker, credentials).
    pub node_config: PathBuf,
    /// Overrides the broker URL of `node_config`.
    #[serde(default)]
    pub nats: Option<String>,
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The TAXII users.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    /// Serve HTTPS with this certificate and key.
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// `[tls]`: PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain (server certificate first).
    pub cert: PathBuf,
    /// Its private key (keep it 0600).
    pub key: PathBuf,
}

/// One TAXII user.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Its name (the reader key's name).
    pub name: String,
    /// The reader's key file.
    pub key: PathBuf,
    /// Argon2id PHC string of its Basic password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Argon2id PHC string of its bearer token's secret.
    #[serde(default)]
    pub token_hash: Option<String>,
}

/// The default listen address (loopback).
pub fn default_listen() -> String {
    "127.0.0.1:9580".into()
}

/// Reads `path`, resolving relative paths against its directory.
pub fn load(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut f: File =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid TAXII config {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &Path| if p.is_relative() { base.join(p) } else { p.to_owned() };
    f.node_config = rel(&f.node_config);
    if let Some(t) = &mut f.tls {
        t.cert = rel(&t.cert);
        t.key = rel(&t.key);
    }
    for u in &mut f.users {
        u.key = rel(&u.key);
        if u.password_hash.is_none() && u.token_hash.is_none() {
            bail!("{}: user {} has neither password_hash nor token_hash", path.display(), u.name);
        }
    }
    if f.users.is_empty() {
        bail!(
            "{}: no [[user]]: add one (a reader of your party) with a password_hash from `tisa taxii --hash-secret`",
            path.display()
        );
    }
    Ok(f)
}
