//! A party's operator roster: who may act for it, with which key and which
//! roles. The party owns it and changes it alone: it is signed by the
//! party's `roster` key, which the agreement registers. Every node loads
//! the three rosters at start; their operators join the policy's keys.

use std::collections::HashSet;

use super::canonical::{canonical, hex, unhex, Doc, Reader, SigError};
use super::keys::{valid_name, verify_key, KeyError, Signed};
use crate::policy::{KeyEntry, KeyId, KeyRole, Policy};
use crate::types::{Party, PartySet, Timestamp};

/// One operator (or feed) of a roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterOperator {
    /// A label for display and audit (the key id is what counts).
    pub name: String,
    /// Ed25519 public key.
    pub public: [u8; 32],
    /// Its roles (never `node` or `roster`: those keys are the agreement's).
    pub roles: Vec<KeyRole>,
}

impl RosterOperator {
    /// Its key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public)
    }
}

/// `tisa.v1.roster`, signed by the party's roster key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterDoc {
    /// Whose roster.
    pub party: Party,
    /// Bumped by the party on every change.
    pub version: u32,
    /// When the party issued this version.
    pub issued_at: Timestamp,
    /// Its operators.
    pub operators: Vec<RosterOperator>,
}

/// Why a roster was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// Not signed by the party's registered roster key.
    #[error("the roster of {0} is not signed by its roster key: {1}")]
    Key(Party, KeyError),
    /// Not a canonical roster document.
    #[error("malformed roster document: {0}")]
    Malformed(SigError),
    /// The document is another party's.
    #[error("the roster names {doc}, but it was loaded as {party}'s")]
    WrongParty {
        /// The party it names.
        doc: Party,
        /// The party expected.
        party: Party,
    },
    /// An operator entry that cannot be accepted.
    #[error("roster of {party}, operator {name:?}: {why}")]
    BadOperator {
        /// The roster's party.
        party: Party,
        /// The operator's name.
        name: String,
        /// What is wrong (fixed text).
        why: &'static str,
    },
    /// The roster lists a key registered for another party.
    #[error("roster of {party}, operator {name:?}: key {key} is registered for {owner}; a roster lists only its own party's keys")]
    OtherPartysKey {
        /// The roster's party.
        party: Party,
        /// The operator's name.
        name: String,
        /// The key.
        key: KeyId,
        /// The party it is registered for.
        owner: PartySet,
    },
}

fn roles_str(roles: &[KeyRole]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

impl RosterDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut d = Doc::new("roster")
            .kv("party", self.party.code())
            .kv("version", self.version)
            .kv("issued_at", self.issued_at.as_millis())
            .kv("operators", self.operators.len());
        for o in &self.operators {
            d = d.kv("operator", format!("{};{};{};{}", o.name, o.key_id(), hex(&o.public), roles_str(&o.roles)));
        }
        d.bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form.
    pub fn parse(bytes: &[u8]) -> Result<RosterDoc, SigError> {
        const K: &str = "roster";
        let bad = || SigError::Malformed(K);
        let mut r = Reader::new(bytes, K)?;
        let party = r.parse("party")?;
        let version = r.parse("version")?;
        let issued_at = Timestamp(r.parse("issued_at")?);
        let n: usize = r.parse("operators")?;
        let mut operators = Vec::new();
        for _ in 0..n {
            let line = r.get("operator")?;
            let mut f = line.split(';');
            let (Some(name), Some(id), Some(public), Some(roles), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            let public = unhex(public).ok_or_else(bad)?;
            if id.parse::<KeyId>().map_err(|_| bad())? != KeyId::of(&public) {
                return Err(SigError::Mismatch("roster key id"));
            }
            let roles = roles.split(',').map(|r| r.parse().map_err(|_| bad())).collect::<Result<Vec<KeyRole>, _>>()?;
            operators.push(RosterOperator { name: name.to_owned(), public, roles });
        }
        r.end()?;
        canonical(bytes, RosterDoc { party, version, issued_at, operators }, RosterDoc::to_bytes, K)
    }

    /// Verifies `signed` as `party`'s roster, signed by its roster key in
    /// `policy`, and checks every operator: a valid unique name, a unique
    /// key not registered for anyone else, operator roles only.
    pub fn verify(policy: &Policy, party: Party, signed: &Signed) -> Result<RosterDoc, RosterError> {
        verify_key(policy, party, &[KeyRole::Roster], "sign its roster", signed)
            .map_err(|e| RosterError::Key(party, e))?;
        let doc = RosterDoc::parse(&signed.bytes).map_err(RosterError::Malformed)?;
        if doc.party != party {
            return Err(RosterError::WrongParty { doc: doc.party, party });
        }
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        for o in &doc.operators {
            let bad = |why| RosterError::BadOperator { party, name: o.name.clone(), why };
            if !valid_name(&o.name) {
                return Err(bad("a name is 1-64 characters of A-Z a-z 0-9 . _ -"));
            }
            if !names.insert(o.name.as_str()) {
                return Err(bad("listed twice"));
            }
            if !keys.insert(o.public) {
                return Err(bad("its key is listed twice"));
            }
            if o.roles.is_empty()
                || o.roles.iter().any(|r| matches!(r, KeyRole::Node | KeyRole::Roster | KeyRole::Signer))
            {
                return Err(bad("an operator holds one or more of approver, submitter, reader, auditor, feed"));
            }
            let owner = policy.key_parties(o.key_id());
            if !owner.is_empty() {
                if owner == PartySet::from_iter([party]) {
                    return Err(bad("its key is already the agreement's node or roster key"));
                }
                return Err(RosterError::OtherPartysKey { party, name: o.name.clone(), key: o.key_id(), owner });
            }
        }
        Ok(doc)
    }

    /// Its operators as policy keys: one entry per role.
    pub fn entries(&self) -> Vec<KeyEntry> {
        let mut out = Vec::new();
        for o in &self.operators {
            for r in &o.roles {
                out.push(KeyEntry { party: self.party, name: o.name.clone(), role: *r, public: o.public });
            }
        }
        out
    }
}

impl Policy {
    /// Adds the verified rosters' operators to the keys. Each roster is
    /// verified against the keys as they are before any roster is added,
    /// so one party's roster cannot list a key another roster lists either.
    pub fn with_rosters(mut self, rosters: &[(Party, Signed)]) -> Result<Policy, RosterError> {
        let mut docs = Vec::new();
        for (party, signed) in rosters {
            docs.push(RosterDoc::verify(&self, *party, signed)?);
        }
        let mut seen: std::collections::HashMap<KeyId, Party> = std::collections::HashMap::new();
        for d in &docs {
            for o in &d.operators {
                if let Some(owner) = seen.insert(o.key_id(), d.party) {
                    return Err(RosterError::OtherPartysKey {
                        party: d.party,
                        name: o.name.clone(),
                        key: o.key_id(),
                        owner: PartySet::from_iter([owner]),
                    });
                }
            }
        }
        for d in docs {
            self.keys.extend(d.entries());
        }
        Ok(self)
    }
}
