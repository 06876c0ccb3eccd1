//! Signing keys: generation, key files, and the agreement's `[[key]]` entries.
//!
//! A key file (TOML, mode 0600) holds a party, a name, its roles
//! (`role`, comma-separated) and the ed25519 seed. The node signs report
//! manifests with its `node` key; an operator signs every request to its
//! node (a `tisa.v1.action`) and release decisions, grants and revocations
//! with their own key, locally in the CLI — the node never holds operators'
//! keys. Which role may do what: `tisa_core::Verb::roles`.
//!
//! A key file may carry its seed sealed under a passphrase (a `[sealed]`
//! table instead of `seed`; [`crate::passphrase`]): `tisa keys generate
//! --passphrase-file F` writes one, and loading it takes the passphrase from
//! `TISA_KEY_PASSPHRASE_FILE` or `TISA_KEY_PASSPHRASE`. Plaintext key files
//! still load as before.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tisa_core::{Identity, KeyRole, Party};

/// A key file's contents.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    party: String,
    name: String,
    role: String,
    /// The seed in the clear (base64), or…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    /// …sealed under a passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<crate::passphrase::Sealed>,
}

impl KeyFile {
    /// What a sealed seed is bound to: the file's party, name and role.
    /// Every field that says whose key this is, and for what, belongs here
    /// (a new one appended): an edited header then fails like a wrong passphrase.
    fn sealed_header(&self) -> String {
        format!("party={}\nname={}\nrole={}", self.party, self.name, self.role)
    }
}

/// A loaded key.
#[derive(Clone, Debug)]
pub struct Key {
    /// Whose.
    pub party: Party,
    /// Its first role (node, approver, submitter, ...).
    pub role: KeyRole,
    /// Every role it holds.
    pub roles: Vec<KeyRole>,
    /// The signing identity (name + secret).
    pub identity: Identity,
}

impl Key {
    /// Whether it holds `role`.
    pub fn has(&self, role: KeyRole) -> bool {
        self.roles.contains(&role)
    }

    /// It, as a control client's signer.
    pub fn signer(&self) -> tisa_transport::Signer {
        tisa_transport::Signer { identity: self.identity.clone(), roles: self.roles.clone() }
    }
}

fn role_str(r: KeyRole) -> &'static str {
    r.as_str()
}

fn roles_str(roles: &[KeyRole]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

/// Parses `approver,reader` (roles, comma-separated).
pub fn parse_roles(s: &str) -> Result<Vec<KeyRole>> {
    let roles = s.split(',').map(|r| r.trim().parse::<KeyRole>()).collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        bail!("a key needs at least one role");
    }
    Ok(roles)
}

/// Generates a key for `party`: its node key (`operator` = None, named
/// `<p>-node`) or an approver key named `operator`. Writes `<out>/<name>.key`
/// (mode 0600) and returns its path and the `[[key]]` agreement entry.
pub fn generate(party: Party, operator: Option<&str>, out: &Path) -> Result<(PathBuf, String)> {
    generate_with(party, operator, out, None)
}

/// [`generate`], with the seed sealed under `passphrase` if given.
pub fn generate_with(
    party: Party,
    operator: Option<&str>,
    out: &Path,
    passphrase: Option<&crate::passphrase::Passphrase>,
) -> Result<(PathBuf, String)> {
    match operator {
        None => generate_operator(party, &format!("{}-node", party.lower()), &[KeyRole::Node], out, passphrase),
        Some(op) => generate_operator(party, op, &[KeyRole::Approver], out, passphrase),
    }
}

/// Generates a key named `name` for `party` holding `roles` (its seed
/// sealed under `passphrase` if given). Writes `<out>/<p>-<name>.key`
/// (mode 0600) and returns its path and the agreement's `[[key]]` entries
/// (one per role).
pub fn generate_operator(
    party: Party,
    name: &str,
    roles: &[KeyRole],
    out: &Path,
    passphrase: Option<&crate::passphrase::Passphrase>,
) -> Result<(PathBuf, String)> {
    if !tisa_core::sign::valid_name(name) {
        bail!("operator name {name:?} must be 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    if roles.is_empty() {
        bail!("a key needs at least one role");
    }
    let name = name.to_owned();
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let identity = Identity::from_seed(name.clone(), seed);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut file = KeyFile {
        party: party.code().to_owned(),
        name: name.clone(),
        role: roles_str(roles),
        seed: None,
        sealed: None,
    };
    match passphrase {
        Some(p) => file.sealed = Some(crate::passphrase::seal(&seed, p, &file.sealed_header())?),
        None => file.seed = Some(b64.encode(seed)),
    }
    tisa_fs::private_dir(out).with_context(|| format!("cannot create {}", out.display()))?;
    let prefix = format!("{}-", party.lower());
    let file_name = if name.starts_with(&prefix) { format!("{name}.key") } else { format!("{prefix}{name}.key") };
    let path = out.join(file_name);
    if path.exists() {
        bail!("{} already exists; refusing to overwrite a key", path.display());
    }
    let text = format!(
        "# tisa signing key ({} {} of {}, key id {}). SECRET: keep it mode 0600.\n{}",
        roles_str(roles),
        name,
        party,
        identity.key_id(),
        toml::to_string(&file)?
    );
    crate::secret::write_secret(&path, &text)?;
    let entry: String = roles.iter().map(|r| agreement_entry(party, &name, *r, &identity.public())).collect();
    Ok((path, entry))
}

/// The `[[key]]` table registering a public key in the agreement.
pub fn agreement_entry(party: Party, name: &str, role: KeyRole, public: &[u8; 32]) -> String {
    format!(
        "\n[[key]]\nparty = \"{}\"\nname = \"{}\"\nrole = \"{}\"\npublic = \"{}\"\n",
        party.code(),
        name,
        role_str(role),
        base64::engine::general_purpose::STANDARD.encode(public)
    )
}

/// Loads a key file (a sealed one with the passphrase from the environment).
pub fn load(path: &Path) -> Result<Key> {
    load_with(path, None)
}

/// Loads a key file; a sealed one with `passphrase`, or if none with the
/// passphrase from the environment.
pub fn load_with(path: &Path, passphrase: Option<&crate::passphrase::Passphrase>) -> Result<Key> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key {}", path.display()))?;
    let f: KeyFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid key file {}: {e}", path.display()))?;
    let party: Party = f.party.parse().with_context(|| format!("invalid key file {}", path.display()))?;
    let roles = parse_roles(&f.role).with_context(|| format!("invalid key file {}", path.display()))?;
    let role = roles[0];
    let seed: [u8; 32] = match (&f.seed, &f.sealed) {
        (Some(seed), None) => base64::engine::general_purpose::STANDARD
            .decode(seed.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .with_context(|| format!("invalid key file {}: seed must be 32 bytes of base64", path.display()))?,
        (None, Some(sealed)) => {
            let pass = match passphrase {
                Some(p) => p,
                None => &crate::passphrase::Passphrase::from_env()?.with_context(|| {
                    format!(
                        "key file {} is protected by a passphrase: set {} to a file holding it (or {})",
                        path.display(),
                        crate::passphrase::PASSPHRASE_FILE_ENV,
                        crate::passphrase::PASSPHRASE_ENV
                    )
                })?,
            };
            *crate::passphrase::open(sealed, pass, &f.sealed_header(), path)?
        }
        _ => bail!("invalid key file {}: it needs exactly one of seed and [sealed]", path.display()),
    };
    Ok(Key { party, role, roles, identity: Identity::from_seed(f.name, seed) })
}

/// The operators a generated deployment gives each party, by name suffix
/// (`kr-analyst`, ...), with their roles: two approvers so the two-person
/// rule can be kept.
pub const DEPLOYMENT_OPERATORS: [(&str, &[KeyRole]); 5] = [
    ("analyst", &[KeyRole::Submitter, KeyRole::Reader]),
    ("approver", &[KeyRole::Approver, KeyRole::Reader]),
    ("approver2", &[KeyRole::Approver, KeyRole::Reader]),
    ("feed", &[KeyRole::Feed]),
    ("auditor", &[KeyRole::Auditor]),
];

/// A deployment's worth of keys and the agreement registering them: per
/// party a node key, an agreement signer key (`<dir>/<p>-signer.key`, which
/// signs the agreement: it is in force, signed by all three) and a roster
/// key in the agreement, and the operators of
/// [`DEPLOYMENT_OPERATORS`] (`<dir>/<p>-<operator>.key`) in the party's own
/// signed roster (`<dir>/<p>-roster.toml`, which the agreement points at).
/// Returns the agreement's path.
pub fn generate_deployment(dir: &Path, base_agreement: &str) -> Result<PathBuf> {
    generate_deployment_with(dir, base_agreement, true)
}

/// [`generate_deployment`]; with `rosters` false the operators are
/// `[[key]]` tables of the agreement itself (one file to hand out, as
/// `scripts/compose` deploys it).
pub fn generate_deployment_with(dir: &Path, base_agreement: &str, rosters: bool) -> Result<PathBuf> {
    let mut agreement = base_agreement.to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    for party in Party::ALL {
        let (_, e) = generate(party, None, dir)?;
        agreement.push_str(&e);
        // The party's agreement signer (`<p>-signer.key`): signs this version below.
        let (_, e) = generate_operator(party, &format!("{}-signer", party.lower()), &[KeyRole::Signer], dir, None)?;
        agreement.push_str(&e);
        if !rosters {
            for (op, roles) in DEPLOYMENT_OPERATORS {
                let (_, e) = generate_operator(party, &format!("{}-{op}", party.lower()), roles, dir, None)?;
                agreement.push_str(&e);
            }
            continue;
        }
        let roster_name = format!("{}-roster", party.lower());
        let (roster_key, e) = generate_operator(party, &roster_name, &[KeyRole::Roster], dir, None)?;
        agreement.push_str(&e);
        let mut operators = Vec::new();
        for (op, roles) in DEPLOYMENT_OPERATORS {
            let (path, _) = generate_operator(party, &format!("{}-{op}", party.lower()), roles, dir, None)?;
            let k = load(&path)?;
            operators.push(tisa_core::sign::RosterOperator {
                name: k.identity.name().to_owned(),
                public: k.identity.public(),
                roles: roles.to_vec(),
            });
        }
        let file = format!("{roster_name}.toml");
        let key = load(&roster_key)?;
        crate::roster::write(&dir.join(&file), party, 1, tisa_core::Timestamp(now), operators, &key.identity)?;
        agreement.push_str(&format!("\n[[roster]]\nparty = \"{}\"\nfile = \"{file}\"\n", party.code()));
    }
    let path = dir.join("agreement.toml");
    std::fs::write(&path, agreement).with_context(|| format!("cannot write {}", path.display()))?;
    // Signed by the three parties' signers, as a real deployment's would be.
    crate::chain::sign_all(&path, dir)?;
    crate::agreement::load(Some(&path))?;
    Ok(path)
}
