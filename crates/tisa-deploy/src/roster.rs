//! Operator rosters: each party's own list of its operators (name, public
//! key, roles), a `tisa.v1.roster` document signed by that party's roster
//! key. The agreement registers each party's roster key and points at its
//! roster file (`[[roster]] party = "KOR" file = "kr-roster.toml"`), so a
//! party adds or removes operators by signing a new roster, without the
//! other two re-agreeing. Every node verifies every roster against the
//! agreement when it loads it ([`tisa_core::sign::RosterDoc::verify`]): a
//! roster signed by any other key, altered, of another party, or listing
//! another party's key is refused with one line naming the file.
//!
//! File format (TOML): `document` (the canonical document, exactly the
//! signed bytes), `signer` (the roster key's id) and `signature` (base64).

use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tisa_core::sign::{RosterDoc, RosterOperator};
use tisa_core::{Identity, KeyRole, Party, Signed, Timestamp};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    document: String,
    signer: String,
    signature: String,
}

/// Reads a roster file: the signed document, not yet verified.
pub fn read(path: &Path) -> Result<Signed> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read roster {}", path.display()))?;
    let f: File = toml::from_str(&text).with_context(|| format!("roster {} is not a roster file", path.display()))?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(f.signature.trim())
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .with_context(|| format!("roster {}: the signature is not 64 bytes of base64", path.display()))?;
    Ok(Signed { bytes: f.document.into_bytes(), signer: f.signer, signature: sig, batch: None })
}

/// Signs `party`'s roster (version `version`, issued `now`) with its roster
/// key and writes it to `out`.
pub fn write(
    out: &Path,
    party: Party,
    version: u32,
    now: Timestamp,
    operators: Vec<RosterOperator>,
    key: &Identity,
) -> Result<()> {
    let doc = RosterDoc { party, version, issued_at: now, operators };
    let signed = key.sign_by_id(doc.to_bytes());
    let file = File {
        document: String::from_utf8(signed.bytes).context("a roster document is text")?,
        signer: signed.signer,
        signature: base64::engine::general_purpose::STANDARD.encode(signed.signature),
    };
    let text = format!(
        "# Operator roster of {party}, version {version}: signed by {party}'s roster key; the agreement points at this file.\n{}",
        toml::to_string(&file)?
    );
    // Not secret (every party's node reads it), but written like every file
    // tisa creates in its directories: mode 0600, atomically.
    tisa_fs::write_private(out, text.as_bytes()).with_context(|| format!("cannot write {}", out.display()))
}

/// An operator from `NAME:ROLES:PUBLIC` (roles comma-separated, the public
/// key in base64, as `tisa keys generate` prints it).
pub fn parse_operator(s: &str) -> Result<RosterOperator> {
    let mut parts = s.splitn(3, ':');
    let (Some(name), Some(roles), Some(public)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("an operator is NAME:ROLES:PUBLIC (e.g. lee:submitter,reader:<base64 public key>), not {s:?}");
    };
    let roles: Vec<KeyRole> = crate::keys::parse_roles(roles)?;
    let raw =
        base64::engine::general_purpose::STANDARD.decode(public.trim()).context("the public key is not base64")?;
    let public: [u8; 32] = raw.try_into().map_err(|_| anyhow::anyhow!("the public key must be 32 bytes (ed25519)"))?;
    Ok(RosterOperator { name: name.to_owned(), public, roles })
}

/// `o` as `tisa roster sign --operator` takes it: `NAME:ROLES:PUBLIC`.
pub fn operator_arg(o: &RosterOperator) -> String {
    let roles: Vec<&str> = o.roles.iter().map(|r| r.as_str()).collect();
    format!("{}:{}:{}", o.name, roles.join(","), base64::engine::general_purpose::STANDARD.encode(o.public))
}
