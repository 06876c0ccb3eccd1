//! The deployment commands (`tisa keys`, `tisa agreement`, `tisa broker`):
//! their options (clap) and what they print; the files themselves are
//! tisa-deploy's.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use tisa_core::Party;
use tisa_deploy::passphrase::Passphrase;
use tisa_deploy::{agreement, broker, chain, keys, DEFAULT_NATS_URL};

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Generate a key: the party's node key, or with --operator an operator's key
    /// (roles with --role). Writes the key file (mode 0600) and prints the
    /// [[key]] entries for the agreement (one per role) and the key id.
    Generate {
        /// Whose key: kr|us|jp.
        #[arg(long)]
        party: Party,
        /// An operator's (or feed's) name; without it, the node's key.
        #[arg(long)]
        operator: Option<String>,
        /// The key's roles, comma-separated: submitter, approver, reader, auditor, feed, roster or
        /// signer (submit: submitter|feed; decide, grant, co-sign, revoke: approver; read content:
        /// reader|approver|submitter; roster: signs your party's operator roster, `tisa roster
        /// sign`; signer: signs agreement versions for your party, `tisa agreement sign`).
        #[arg(long, default_value = "approver", requires = "operator")]
        role: String,
        /// Directory for the key file.
        #[arg(long, default_value = "tisa-keys")]
        out: std::path::PathBuf,
        /// Also append the [[key]] entry to this agreement file.
        #[arg(long)]
        append_to: Option<std::path::PathBuf>,
        /// Seal the key under the passphrase in this file (Argon2id, XChaCha20-Poly1305).
        /// Without it, TISA_KEY_PASSPHRASE_FILE or TISA_KEY_PASSPHRASE if set; else the key is
        /// written in the clear. Loading a sealed key reads the passphrase from those variables.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AgreementCommand {
    /// Validate an agreement file and the chain of versions it ends: every version signed
    /// by a signer of each party (registered in the version before it). Errors name the
    /// file, and the line and column where the text is at fault.
    Check {
        /// The agreement file (TOML).
        file: std::path::PathBuf,
    },
    /// Add your party's signature to an agreement version (a [[signature]] table appended
    /// to the file; the text it signs, and the other parties' signatures, stay unchanged).
    /// A version is in force once a signer of each of KOR, USA and JPN signed it.
    Sign {
        /// The agreement file to sign.
        file: std::path::PathBuf,
        /// Your party's agreement signer key (`tisa keys generate --operator NAME --role signer`).
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// Show the chain of versions that ends at FILE: each version's hash, the version it
    /// follows, when it takes effect and who signed it.
    History {
        /// The newest agreement file.
        file: std::path::PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the effective policy (the built-in 2014 agreement unless --agreement is given).
    Show {
        /// An agreement file instead of the built-in one.
        #[arg(long, env = "TISA_AGREEMENT")]
        agreement: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum BrokerCommand {
    /// Write nats-server.conf plus per-party node/CLI configs and nkey seeds (mode 0600).
    Config(BrokerConfigArgs),
}

#[derive(Args, Debug)]
pub(crate) struct BrokerConfigArgs {
    /// Output directory.
    #[arg(long, default_value = "tisa-broker")]
    out: std::path::PathBuf,
    /// Shared mode: URL the nodes and CLIs will use to reach the broker (host and port also go into the server config).
    #[arg(long, default_value = DEFAULT_NATS_URL)]
    url: String,
    /// Deployment mode: `shared` (one nats-server, three accounts) or `per-nation` (one nats-server per party;
    /// the default with --cluster).
    #[arg(long)]
    mode: Option<broker::Mode>,
    /// Per-nation mode: each nation's broker as a JetStream cluster of N servers (3: survives one lost
    /// server, 5: two), routes only within the nation, every stream kept by N servers.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "3")]
    cluster: Option<usize>,
    /// Per-nation mode: URL of KR's server (host and port also go into nats-kr.conf), e.g. nats://nats-kr:4222;
    /// with --cluster N, N URLs separated by commas, or one (the i-th server from 0 on its port + 3·i).
    #[arg(long, default_value = broker::DEFAULT_KR_URL)]
    kr_url: String,
    /// Per-nation mode: URL of US's server (with --cluster: as --kr-url).
    #[arg(long, default_value = broker::DEFAULT_US_URL)]
    us_url: String,
    /// Per-nation mode: URL of JP's server (with --cluster: as --kr-url).
    #[arg(long, default_value = broker::DEFAULT_JP_URL)]
    jp_url: String,
    /// Per-nation mode: US's leaf-node listener (host and port go into nats-us.conf); KR's and JP's servers dial it, e.g. nats://nats-us:7422
    /// (with --cluster: one per US server, as --kr-url).
    #[arg(long, default_value = broker::DEFAULT_US_LEAF_URL)]
    us_leaf_url: String,
    /// With --cluster: a server's route port is its client port plus this (4222 → 6222).
    #[arg(long, default_value_t = 2000)]
    route_port_offset: u16,
    /// JetStream storage directory [default: <out>/jetstream; per-nation mode appends -<nation>].
    #[arg(long)]
    store_dir: Option<std::path::PathBuf>,
    /// JetStream memory storage per account.
    #[arg(long, default_value = "64M", value_parser = broker::parse_size)]
    js_max_mem: String,
    /// JetStream file storage per account.
    #[arg(long, default_value = "1G", value_parser = broker::parse_size)]
    js_max_file: String,
    /// JetStream streams per account.
    #[arg(long, default_value_t = 16)]
    js_max_streams: u32,
    /// JetStream consumers per account.
    #[arg(long, default_value_t = 64)]
    js_max_consumers: u32,
    /// Generate a CA and a server certificate and require TLS of every client (tls:// URLs, tls_ca_file in the configs).
    #[arg(long)]
    tls: bool,
    /// Let JetStream acknowledge before it fsyncs (nats-server's default, every 2 minutes):
    /// faster, but acknowledged messages can be lost on a power failure or OS crash.
    #[arg(long)]
    lazy_fsync: bool,
    /// Write into an --out directory that is not empty, replacing its configuration and every
    /// credential in it (each node and operator then needs the new files).
    #[arg(long)]
    force: bool,
}

/// `tisa keys generate`.
pub(crate) fn run_keys(cmd: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Generate { party, operator, role, out, append_to, passphrase_file } = cmd;
    let passphrase = match &passphrase_file {
        Some(f) => Some(Passphrase::from_file(f)?),
        None => Passphrase::from_env()?,
    };
    let (path, entry) = match operator.as_deref() {
        None => keys::generate_with(party, None, &out, passphrase.as_ref())?,
        Some(op) => keys::generate_operator(party, op, &keys::parse_roles(&role)?, &out, passphrase.as_ref())?,
    };
    if let Some(a) = &append_to {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(a)
            .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", a.display()))?;
        f.write_all(entry.as_bytes())?;
        agreement::load_file(a)?;
        eprintln!(
            "appended the key to {}; bump its version, and have each party sign it (`tisa agreement sign`)",
            a.display()
        );
    }
    let sealed = if passphrase.is_some() { ", sealed under the passphrase" } else { "" };
    eprintln!("wrote {} (secret, mode 0600{sealed}); register its public key in the agreement:", path.display());
    print!("{entry}");
    Ok(ExitCode::SUCCESS)
}

/// `tisa agreement check|show`.
pub(crate) fn run_agreement(cmd: AgreementCommand) -> Result<ExitCode> {
    match cmd {
        AgreementCommand::Check { file } => {
            let chain = chain::read(&file)?;
            let a = chain.newest();
            println!(
                "{}: agreement version {} ({} keys) in force: signed by KOR, USA and JPN, chained to version 1 through {} version(s)",
                file.display(),
                a.policy.version,
                a.policy.keys.len(),
                chain.versions.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        AgreementCommand::Sign { file, key } => {
            let key = keys::load(&key)?;
            let (version, changed) = chain::sign(&file, &key)?;
            let who = format!("{} ({}, key id {})", key.identity.name(), key.party, key.identity.key_id());
            if changed {
                println!("{}: version {version} signed by {who}", file.display());
            } else {
                println!("{}: version {version} already carries the signature of {who}", file.display());
            }
            // Say what is still missing, without failing: the others sign next.
            if let Err(e) = chain::read(&file) {
                eprintln!("not in force yet: {e:#}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AgreementCommand::History { file, json } => {
            let c = chain::read(&file)?;
            let v = chain::history_json(&c);
            if json {
                println!("{v}");
            } else {
                for e in v.as_array().into_iter().flatten() {
                    println!(
                        "version {}  sha256 {}  {}",
                        e["version"],
                        e["sha256"].as_str().unwrap_or_default(),
                        e["file"].as_str().unwrap_or_default()
                    );
                    if let Some(p) = e["previous_sha256"].as_str() {
                        println!("  follows      {p}");
                    }
                    if let Some(t) = e["effective_at"].as_str() {
                        println!("  takes effect {t}");
                    }
                    for s in e["signed_by"].as_array().into_iter().flatten() {
                        println!(
                            "  signed by    {} {} (key id {})",
                            s["party"].as_str().unwrap_or_default(),
                            s["name"].as_str().unwrap_or("?"),
                            s["key"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AgreementCommand::Show { agreement: path, json } => {
            let a = agreement::load(path.as_deref())?;
            let v = agreement::to_json(&a);
            if json {
                println!("{v}");
            } else {
                let p = &a.policy;
                println!("agreement version {}: {}", p.version, a.name);
                println!("hub:            USA (the only party on both links; no KOR-JPN link)");
                println!("scope:          {}", p.scope.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "));
                println!("USA-KOR link:   ceiling {}", p.kr_ceiling);
                println!("USA-JPN link:   ceiling {}", p.jp_ceiling);
                println!("off-line:       up to {} (tisa bundle; per-report consent only)", p.offline_ceiling);
                println!("request expiry: {}", tisa_deploy::human_duration(p.request_expiry));
                println!("two-person rule: {}", if p.two_person_rule { "yes" } else { "no" });
                println!(
                    "grant-standing statements: fresh for {}, issued every {}",
                    tisa_deploy::human_duration(p.standing_window),
                    tisa_deploy::human_duration(p.standing_period())
                );
                println!("keys:           {}", p.keys.len());
                for k in &p.keys {
                    println!("  {} {} ({}, key id {})", k.party, k.name, k.role, k.key_id());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses to write into a directory that already holds files: a second
/// `tisa broker config` would replace every credential of every party.
fn refuse_non_empty(out: &std::path::Path) -> Result<()> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", out.display()),
    };
    if entries.next().is_some() {
        anyhow::bail!(
            "{} is not empty (an earlier broker configuration and its credentials?): choose another --out, \
             or pass --force to replace every credential in it",
            out.display()
        );
    }
    Ok(())
}

/// `tisa broker config`.
pub(crate) fn run_broker(cmd: BrokerCommand) -> Result<ExitCode> {
    let BrokerCommand::Config(a) = cmd;
    if !a.force {
        refuse_non_empty(&a.out)?;
    }
    let mode = match (a.mode, a.cluster) {
        (Some(broker::Mode::Shared), Some(n)) if n > 1 => {
            anyhow::bail!("--cluster needs --mode per-nation (each nation's broker becomes a cluster)")
        }
        (Some(m), _) => m,
        (None, Some(_)) => broker::Mode::PerNation,
        (None, None) => broker::Mode::Shared,
    };
    let opts = broker::Options {
        mode,
        cluster: a.cluster.unwrap_or(1),
        route_port_offset: a.route_port_offset,
        url: a.url,
        kr_url: a.kr_url,
        us_url: a.us_url,
        jp_url: a.jp_url,
        us_leaf_url: a.us_leaf_url,
        store_dir: a.store_dir,
        limits: broker::JsLimits {
            max_mem: a.js_max_mem,
            max_file: a.js_max_file,
            max_streams: a.js_max_streams,
            max_consumers: a.js_max_consumers,
        },
        tls: a.tls,
        fsync_always: !a.lazy_fsync,
    };
    let g = broker::generate_with(&a.out, &opts)?;
    for (_, conf) in &g.servers {
        println!("wrote {}", conf.display());
    }
    for (p, role, path) in &g.configs {
        println!("wrote {} ({p} {})", path.display(), role.as_str());
    }
    if let Some(ca) = &g.tls_ca {
        println!("wrote {} (CA; server.pem, server-key.pem and ca-key.pem beside it)", ca.display());
    }
    for (p, conf) in &g.servers {
        let whose = p.map(|p| format!(" ({p})")).unwrap_or_default();
        println!("start the broker{whose}: nats-server -c {}", conf.display());
    }
    println!("start a node:     tisa node --config {}", a.out.join("kr-node.toml").display());
    println!("operator:         tisa pending --config {}", a.out.join("kr-cli.toml").display());
    Ok(ExitCode::SUCCESS)
}
