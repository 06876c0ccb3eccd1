//! Node and CLI config files (TOML): per link, the broker URL and the
//! credentials. `tisa broker config` writes them; `tisa node --config` and
//! the operator commands' `--config` read them.
//!
//! ```toml
//! party = "kr"
//! [own]                        # the party's own broker, as the node's control user
//! url = "nats://127.0.0.1:4222"
//! nkey_seed_file = "kr-node.nk"   # relative to this file; mode 0600
//! inbox_prefix = "_INBOX_kr_node"
//! # tls_ca_file = "ca.pem"      # with `tisa broker config --tls`: trust this CA, require TLS
//! # With `tisa broker config --cluster 3`: every server of the nation's
//! # cluster, and the replicas of each stream the node creates there.
//! # url = "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222"
//! # replicas = 3
//! [kr]                         # the US–KR link, as the node's link user
//! url = "nats://127.0.0.1:4222"
//! nkey_seed_file = "kr-link.nk"
//! inbox_prefix = "_INBOX_kr_link"
//! # The US hub's node config has [kr] and [jp] (its us-link-kr, us-link-jp
//! # users); a nation's has its own link only. Without it, the link uses [own].
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tisa_core::Party;
use tisa_transport::Endpoint;

/// One connection: where and as whom.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EndpointFile {
    /// NATS URL, or the comma-separated URLs of every server of a cluster.
    pub url: String,
    /// File holding the user's nkey seed, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey_seed_file: Option<PathBuf>,
    /// The user's private inbox prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_prefix: Option<String>,
    /// CA certificate (PEM) that signed the broker's TLS certificate, relative
    /// to the config file; when present the connection must use TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// How many servers of the cluster keep each stream the node creates
    /// through this connection (absent: one; `tisa broker config --cluster N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
}

/// A node's or an operator's config file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `kr`, `us` or `jp`.
    pub party: String,
    /// The party's own broker.
    pub own: EndpointFile,
    /// The US–KR link (the hub's, or KR's node's link user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kr: Option<EndpointFile>,
    /// The US–JP link (the hub's, or JP's node's link user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jp: Option<EndpointFile>,
    /// Node configs: the node's signing key file, relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// A loaded config: party and resolved endpoints (seeds read).
#[derive(Clone, Debug)]
pub struct Config {
    /// The party.
    pub party: Party,
    /// Own broker.
    pub own: Endpoint,
    /// US–KR link (hub, or KR's node).
    pub kr: Option<Endpoint>,
    /// US–JP link (hub, or JP's node).
    pub jp: Option<Endpoint>,
    /// The signing key file, resolved against the config's directory.
    pub key_file: Option<PathBuf>,
}

/// Loads and validates a config file; errors name the file and, for syntax
/// errors, the line and column.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?;
    let party: Party = file.party.parse().with_context(|| format!("invalid config {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let endpoint = |ef: &EndpointFile| -> Result<Endpoint> {
        let nkey_seed = match &ef.nkey_seed_file {
            Some(f) => {
                let p = base.join(f);
                let seed =
                    std::fs::read_to_string(&p).with_context(|| format!("cannot read nkey seed {}", p.display()))?;
                let seed = seed.trim().to_owned();
                if !seed.starts_with("SU") {
                    bail!("{} does not hold a user nkey seed (SU…)", p.display());
                }
                Some(seed)
            }
            None => None,
        };
        let tls_ca = match &ef.tls_ca_file {
            Some(f) => {
                let p = base.join(f);
                if !p.is_file() {
                    bail!("cannot read TLS CA certificate {} (tls_ca_file in {})", p.display(), path.display());
                }
                Some(p)
            }
            None => None,
        };
        Ok(Endpoint {
            url: ef.url.clone(),
            nkey_seed,
            inbox_prefix: ef.inbox_prefix.clone(),
            tls_ca,
            replicas: ef.replicas.unwrap_or(1),
        })
    };
    if (party == Party::Kr && file.jp.is_some()) || (party == Party::Jp && file.kr.is_some()) {
        bail!("invalid config {}: a nation's node has one link, its own ([{}])", path.display(), party.lower());
    }
    Ok(Config {
        party,
        own: endpoint(&file.own)?,
        kr: file.kr.as_ref().map(endpoint).transpose()?,
        jp: file.jp.as_ref().map(endpoint).transpose()?,
        key_file: file.key_file.as_ref().map(|k| base.join(k)),
    })
}
