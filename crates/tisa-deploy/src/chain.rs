//! The agreement as a chain of versions, each signed by all three parties.
//!
//! A version's **canonical form** is its TOML parsed, minus the
//! `[[signature]]` tables, written as JSON with sorted keys and no
//! whitespace: comments and layout do not change it, every value does. Its
//! SHA-256 is what each party signs (`tisa.v1.agreement`, by a `signer` key)
//! and what nodes compare. Version 1 is in force when signed by a signer of
//! each party that it registers itself; version N+1 names version N's file
//! and hash (`previous`) and is in force when signed by a signer of each
//! party that **version N** registers, so trust passes from version to
//! version (as TUF's root rotation). Every version after the first names the
//! instant it takes effect (`effective_at`), so that nodes given it ahead
//! switch together, without a restart.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use tisa_core::sign::{check_agreement_signed, AgreementDoc};
use tisa_core::{KeyRole, Policy, Timestamp};

use crate::agreement::{self, Agreement};

/// How many versions a chain may hold (a guard against a loop of files).
const MAX_VERSIONS: usize = 10_000;

/// SHA-256 of the canonical form of agreement text `text`.
pub fn canonical_sha256(text: &str) -> Result<[u8; 32], String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    table.remove("signature");
    let mut out = String::new();
    write_canonical(&toml::Value::Table(table), &mut out)?;
    Ok(tisa_core::sign::sha256(out.as_bytes()))
}

fn write_canonical(v: &toml::Value, out: &mut String) -> Result<(), String> {
    match v {
        toml::Value::String(s) => out.push_str(&serde_json::to_string(s).map_err(|e| e.to_string())?),
        toml::Value::Integer(i) => out.push_str(&i.to_string()),
        toml::Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        toml::Value::Float(_) | toml::Value::Datetime(_) => {
            return Err("an agreement holds no floating-point numbers or bare dates: quote times as strings".into())
        }
        toml::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out)?;
            }
            out.push(']');
        }
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
                out.push(':');
                write_canonical(&t[k], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Parses an RFC 3339 time (`2027-01-01T00:00:00Z`, `2027-01-01T09:00:00+09:00`).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e}): write it as 2027-01-01T00:00:00Z"))?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map(Timestamp).map_err(|_| "a time before 1970".to_owned())
}

/// A time as RFC 3339 in UTC, to the millisecond.
pub fn format_time(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{} ms", t.as_millis()))
}

/// 64 hex digits to bytes.
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Bytes as lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// One version of the chain and the file it came from.
#[derive(Clone, Debug)]
pub struct Version {
    /// Its file.
    pub path: PathBuf,
    /// It, with its rosters' operators in its policy.
    pub agreement: Agreement,
}

/// A verified chain, oldest version first.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Every version, from version 1.
    pub versions: Vec<Version>,
}

impl Chain {
    /// The newest version (the file the chain was read from).
    pub fn newest(&self) -> &Agreement {
        // A chain is never empty (`read` returns at least the file it read).
        &self.versions[self.versions.len() - 1].agreement
    }

    /// Every version's policy, oldest first: a node starts on the first and
    /// switches to each of the others at its `effective_at`.
    pub fn policies(&self) -> Vec<Policy> {
        self.versions.iter().map(|v| v.agreement.policy.clone()).collect()
    }
}

/// Reads the chain that ends at `path` (following each version's
/// `previous` file) and verifies it: each link's hash and version number,
/// effective times in order, and every version signed by a signer of each
/// party registered in the version before it (version 1: in itself).
/// Errors are one line naming the file and what to do.
pub fn read(path: &Path) -> Result<Chain> {
    let mut versions = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(p) = next.take() {
        if versions.len() >= MAX_VERSIONS {
            bail!("{}: more than {MAX_VERSIONS} versions (a loop of previous files?)", path.display());
        }
        let a = agreement::load_file(&p)?;
        if let Some(later) = versions.last() {
            let later: &Version = later;
            let (_, want) = later.agreement.previous.as_ref().context("checked below")?;
            if a.sha256 != *want {
                bail!(
                    "{}: names {} as its previous version with hash {}, but that file's hash is {}: the previous file was changed, or is not the one the parties signed",
                    later.path.display(),
                    p.display(),
                    hex(want),
                    hex(&a.sha256)
                );
            }
            if a.policy.version + 1 != later.agreement.policy.version {
                bail!(
                    "{}: version {} follows version {} in {}: versions go up by one",
                    later.path.display(),
                    later.agreement.policy.version,
                    a.policy.version,
                    p.display()
                );
            }
            if a.policy.effective_at > later.agreement.policy.effective_at {
                bail!("{}: takes effect before the version it follows", later.path.display());
            }
        }
        let dir = p.parent().unwrap_or(Path::new("."));
        next = a.previous.as_ref().map(|(f, _)| dir.join(f));
        versions.push(Version { path: p, agreement: a });
    }
    versions.reverse();
    for i in 0..versions.len() {
        let v = &versions[i];
        let vouching = if i == 0 { &v.agreement.policy } else { &versions[i - 1].agreement.policy };
        check_agreement_signed(
            vouching,
            v.agreement.policy.version,
            v.agreement.sha256,
            v.agreement.previous.as_ref().map(|(_, h)| *h),
            &v.agreement.signatures,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: agreement version {} is {e}; each party signs with `tisa agreement sign {} --key <its signer key>`",
                v.path.display(),
                v.agreement.policy.version,
                v.path.display()
            )
        })?;
    }
    Ok(Chain { versions })
}

/// Adds `key`'s signature (it must hold the `signer` role) to the
/// agreement file at `path`: a `[[signature]]` table appended to the text,
/// which leaves the canonical form, and the other parties' signatures,
/// unchanged. Returns the version signed and whether the file changed (a
/// key signs a version once).
pub fn sign(path: &Path, key: &crate::keys::Key) -> Result<(u32, bool)> {
    if !key.has(KeyRole::Signer) {
        bail!(
            "{} is not an agreement signer key (its roles: {}): use the party's key with the signer role",
            key.identity.name(),
            key.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read agreement {}", path.display()))?;
    let a = agreement::parse(&text, &path.display().to_string())?;
    let id = key.identity.key_id();
    if a.signatures.iter().any(|s| s.signer == id.to_string()) {
        return Ok((a.policy.version, false));
    }
    let prev = a.previous.as_ref().map(|(_, h)| *h);
    let signed = AgreementDoc::sign(&key.identity, key.party, a.policy.version, a.sha256, prev);
    let mut out = text;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "\n[[signature]]\nparty = \"{}\"\nkey = \"{id}\"\nsignature = \"{}\"\n",
        key.party.code(),
        base64::engine::general_purpose::STANDARD.encode(signed.signature)
    ));
    tisa_fs::write_private(path, out.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((a.policy.version, true))
}

/// The chain as JSON (`tisa agreement history --json`).
pub fn history_json(chain: &Chain) -> serde_json::Value {
    serde_json::Value::Array(
        chain
            .versions
            .iter()
            .map(|v| {
                let a = &v.agreement;
                serde_json::json!({
                    "version": a.policy.version,
                    "file": v.path.display().to_string(),
                    "sha256": hex(&a.sha256),
                    "previous_sha256": a.previous.as_ref().map(|(_, h)| hex(h)),
                    "effective_at": (a.policy.effective_at.as_millis() > 0).then(|| format_time(a.policy.effective_at)),
                    "signed_by": a.signatures.iter().filter_map(|s| {
                        let d = AgreementDoc::parse(&s.bytes).ok()?;
                        let name = a.policy.key_roles(d.party, d.key_id).first().map(|k| k.name.clone())
                            .or_else(|| v_prev_name(chain, a.policy.version, d.party, d.key_id));
                        Some(serde_json::json!({"party": d.party.trigraph(), "key": d.key_id.to_string(), "name": name}))
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The name the version before `version` gives signer `key` of `party`.
fn v_prev_name(chain: &Chain, version: u32, party: tisa_core::Party, key: tisa_core::KeyId) -> Option<String> {
    let prev = chain.versions.iter().find(|v| v.agreement.policy.version + 1 == version)?;
    prev.agreement.policy.key_roles(party, key).first().map(|k| k.name.clone())
}

/// Signs the agreement at `path` with every `<p>-signer.key` in `keys_dir`
/// (a deployment generated in one place, as the demo and tests do).
pub fn sign_all(path: &Path, keys_dir: &Path) -> Result<()> {
    for p in tisa_core::Party::ALL {
        let key = crate::keys::load(&keys_dir.join(format!("{}-signer.key", p.lower())))?;
        sign(path, &key)?;
    }
    Ok(())
}

/// Signs the agreement at `path` again, as it now reads, with the
/// deployment's signer keys in `keys_dir` (its old signatures dropped): for
/// a deployment generated in one place whose text was changed in place
/// (e.g. a key appended with `tisa keys generate --append-to`).
pub fn resign_all(path: &Path, keys_dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    tisa_fs::write_private(path, strip_signatures(&text).as_bytes())?;
    sign_all(path, keys_dir)
}

/// Writes the next version of the agreement at `path` (a deployment
/// generated in one place): the current file is kept as
/// `agreement-v<N>.toml` beside it, and `path` becomes version N+1, the
/// text `edit` makes of it, following version N, in effect at
/// `effective_at`, signed with the deployment's signer keys in `keys_dir`.
pub fn amend(path: &Path, keys_dir: &Path, effective_at: Timestamp, edit: impl Fn(&str) -> String) -> Result<u32> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let current = agreement::parse(&text, &path.display().to_string())?;
    let n = current.policy.version;
    let old_name = format!("agreement-v{n}.toml");
    let dir = path.parent().unwrap_or(Path::new("."));
    tisa_fs::write_private(&dir.join(&old_name), text.as_bytes())?;
    let unsigned: String = strip_signatures(&text);
    let mut body = String::new();
    for line in edit(&unsigned).lines() {
        if line.starts_with("version = ") || line.starts_with("effective_at = ") || line.starts_with("previous = ") {
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    let head = format!(
        "version = {}\neffective_at = \"{}\"\nprevious = {{ file = \"{old_name}\", sha256 = \"{}\" }}\n",
        n + 1,
        format_time(effective_at),
        hex(&current.sha256)
    );
    tisa_fs::write_private(path, format!("{head}{body}").as_bytes())?;
    sign_all(path, keys_dir)?;
    Ok(n + 1)
}

/// The text without its `[[signature]]` tables (each three lines, as
/// [`sign`] writes them).
pub fn strip_signatures(text: &str) -> String {
    let mut out = String::new();
    let mut skip = 0;
    for line in text.lines() {
        if line == "[[signature]]" {
            skip = 3;
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
