//! `tisa roster sign|show`: a party's own operator roster (see
//! `tisa_deploy::roster`): it adds or removes operators by signing a new
//! version with its roster key, without the other parties re-agreeing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;
use tisa_core::sign::RosterDoc;
use tisa_core::{KeyRole, Party};
use tisa_deploy::{keys, roster};

#[derive(Subcommand, Debug)]
pub(crate) enum RosterCommand {
    /// Sign your party's roster (a new version replaces the old one): every
    /// operator as NAME:ROLES:PUBLIC, with the roster key the agreement
    /// registers for your party (`tisa keys generate --operator NAME --role roster`).
    Sign {
        /// Your party: kr|us|jp.
        #[arg(long)]
        party: Party,
        /// Your party's roster key file.
        #[arg(long)]
        key: PathBuf,
        /// The roster's version (higher than the one it replaces).
        #[arg(long)]
        version: u32,
        /// An operator: NAME:ROLES:PUBLIC (roles comma-separated: submitter,
        /// approver, reader, auditor, feed; the public key in base64, as
        /// `tisa keys generate` prints it). Repeat for each operator.
        #[arg(long = "operator", required = true)]
        operators: Vec<String>,
        /// Where to write it (the file the agreement's [[roster]] names).
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a roster file and check it against an agreement.
    Show {
        /// The roster file.
        file: PathBuf,
        /// Check it against this agreement (its rosters are loaded too).
        #[arg(long, env = "TISA_AGREEMENT")]
        agreement: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: RosterCommand) -> Result<ExitCode> {
    match cmd {
        RosterCommand::Sign { party, key, version, operators, out } => {
            let key = keys::load(&key)?;
            if key.party != party || !key.has(KeyRole::Roster) {
                bail!(
                    "{} is not {party}'s roster key: sign with the key the agreement registers as its roster key",
                    key.identity.name()
                );
            }
            let ops = operators.iter().map(|o| roster::parse_operator(o)).collect::<Result<Vec<_>>>()?;
            let now = tisa_node::clock::now();
            roster::write(&out, party, version, now, ops, &key.identity)?;
            eprintln!(
                "wrote {} ({party}'s roster, version {version}): give it to every party's node with the agreement",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        RosterCommand::Show { file, agreement, json } => {
            let signed = roster::read(&file)?;
            let doc = RosterDoc::parse(&signed.bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if let Some(a) = &agreement {
                let policy =
                    tisa_deploy::agreement::parse(&std::fs::read_to_string(a)?, &a.display().to_string())?.policy;
                RosterDoc::verify(&policy, doc.party, &signed)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            }
            if json {
                let ops: Vec<_> = doc
                    .operators
                    .iter()
                    .map(|o| json!({"name": o.name, "key_id": o.key_id().to_string(), "roles": o.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()}))
                    .collect();
                println!(
                    "{}",
                    json!({"party": doc.party.trigraph(), "version": doc.version, "operators": ops, "verified": agreement.is_some()})
                );
            } else {
                println!(
                    "roster of {}, version {}{}",
                    doc.party,
                    doc.version,
                    if agreement.is_some() { " (signature verified)" } else { "" }
                );
                for o in &doc.operators {
                    let roles: Vec<_> = o.roles.iter().map(|r| r.as_str()).collect();
                    println!("  {}  key {}  {}", o.name, o.key_id(), roles.join(","));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
