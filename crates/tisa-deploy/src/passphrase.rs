//! Key files protected by a passphrase: the seed sealed with
//! XChaCha20-Poly1305 under a key derived from the passphrase by Argon2id.
//!
//! A sealed key file carries a `[sealed]` table instead of `seed`; its
//! party, name and role are bound to the ciphertext (associated data), so
//! a file whose header was edited, or whose ciphertext was altered, is
//! refused like a wrong passphrase. The passphrase comes from
//! `TISA_KEY_PASSPHRASE_FILE` (a file holding it; one trailing newline is
//! dropped) or `TISA_KEY_PASSPHRASE`, when generating (`tisa keys generate
//! --passphrase-file F`) and whenever a sealed key is loaded.

use std::path::Path;

use anyhow::{bail, Context, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The environment variable naming a file that holds the passphrase.
pub const PASSPHRASE_FILE_ENV: &str = "TISA_KEY_PASSPHRASE_FILE";
/// The environment variable holding the passphrase itself.
pub const PASSPHRASE_ENV: &str = "TISA_KEY_PASSPHRASE";

/// Argon2id memory in KiB (64 MiB), passes and lanes for new files (RFC 9106's second recommendation, one lane).
const M_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_LANES: u32 = 1;
/// The most a file may ask for (a tampered file must not exhaust memory or time).
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_LANES: u32 = 16;

const KDF: &str = "argon2id";
const CIPHER: &str = "xchacha20poly1305";

/// A passphrase (wiped from memory when dropped).
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// A passphrase from its bytes; refuses an empty one.
    pub fn new(bytes: Vec<u8>) -> Result<Passphrase> {
        let p = Passphrase(Zeroizing::new(bytes));
        if p.0.is_empty() {
            bail!("the key passphrase is empty: put a non-empty passphrase in the file or variable");
        }
        Ok(p)
    }

    /// Reads a passphrase file (one trailing `\n` or `\r\n` dropped).
    pub fn from_file(path: &Path) -> Result<Passphrase> {
        let mut bytes = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read the key passphrase file {}", path.display()))?,
        );
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Passphrase::new(bytes.to_vec())
    }

    /// The passphrase the environment gives: `TISA_KEY_PASSPHRASE_FILE`,
    /// else `TISA_KEY_PASSPHRASE`, else none.
    pub fn from_env() -> Result<Option<Passphrase>> {
        if let Some(f) = std::env::var_os(PASSPHRASE_FILE_ENV).filter(|f| !f.is_empty()) {
            return Passphrase::from_file(Path::new(&f)).map(Some);
        }
        match std::env::var(PASSPHRASE_ENV) {
            Ok(p) => Passphrase::new(p.into_bytes()).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{PASSPHRASE_ENV} is not UTF-8: use {PASSPHRASE_FILE_ENV}"),
        }
    }
}

/// The `[sealed]` table of a key file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// `argon2id`.
    pub kdf: String,
    /// Argon2 memory, KiB.
    pub m_kib: u32,
    /// Argon2 passes.
    pub t_cost: u32,
    /// Argon2 lanes.
    pub p_lanes: u32,
    /// Argon2 salt, base64 (16 bytes).
    pub salt: String,
    /// `xchacha20poly1305`.
    pub cipher: String,
    /// Nonce, base64 (24 bytes).
    pub nonce: String,
    /// The sealed seed and its tag, base64 (48 bytes).
    pub ciphertext: String,
}

fn derive(pass: &Passphrase, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Zeroizing<[u8; 32]>> {
    let params = Params::new(m, t, p, Some(32)).map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(&pass.0, salt, key.as_mut())
        .map_err(|e| anyhow::anyhow!("cannot derive the key from the passphrase: {e}"))?;
    Ok(key)
}

/// Seals `seed` under `pass`, binding `header` (the file's party, name and role).
pub fn seal(seed: &[u8; 32], pass: &Passphrase, header: &str) -> Result<Sealed> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut nonce = [0u8; 24];
    rand::fill(&mut nonce);
    let key = derive(pass, &salt, M_KIB, T_COST, P_LANES)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: seed, aad: aad(header).as_bytes() })
        .map_err(|_| anyhow::anyhow!("cannot seal the key"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Sealed {
        kdf: KDF.to_owned(),
        m_kib: M_KIB,
        t_cost: T_COST,
        p_lanes: P_LANES,
        salt: b64.encode(salt),
        cipher: CIPHER.to_owned(),
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(ct),
    })
}

/// Opens a sealed seed. `file` names the key file in errors.
pub fn open(s: &Sealed, pass: &Passphrase, header: &str, file: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let bad = |what: &str| anyhow::anyhow!("invalid key file {}: {what}", file.display());
    if s.kdf != KDF || s.cipher != CIPHER {
        return Err(bad(&format!("unsupported sealing {}/{} (this version: {KDF}/{CIPHER})", s.kdf, s.cipher)));
    }
    if s.m_kib > MAX_M_KIB || s.t_cost > MAX_T_COST || s.p_lanes > MAX_P_LANES {
        return Err(bad("Argon2 parameters beyond this version's limits"));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = b64.decode(s.salt.trim()).map_err(|_| bad("salt is not base64"))?;
    let nonce: [u8; 24] = b64
        .decode(s.nonce.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("nonce must be 24 bytes of base64"))?;
    let ct = b64.decode(s.ciphertext.trim()).map_err(|_| bad("ciphertext is not base64"))?;
    let key = derive(pass, &salt, s.m_kib, s.t_cost, s.p_lanes).map_err(|e| bad(&e.to_string()))?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let seed = Zeroizing::new(
        cipher.decrypt(XNonce::from_slice(&nonce), Payload { msg: &ct, aad: aad(header).as_bytes() }).map_err(|_| {
            anyhow::anyhow!(
                "wrong passphrase for key file {} (or the file was altered): check {PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}",
                file.display()
            )
        })?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if seed.len() != 32 {
        return Err(bad("sealed seed is not 32 bytes"));
    }
    out.copy_from_slice(&seed);
    Ok(out)
}

fn aad(header: &str) -> String {
    format!("tisa-key-sealed-v1\n{header}")
}
