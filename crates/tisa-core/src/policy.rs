//! The agreed policy (the "follow-up consultations"): what may travel
//! trilaterally, up to which classification, and how long a release request
//! stays open. Data, not code: nodes receive it at start-up.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::report::ReportHeader;
use crate::types::{truncate, Category, Classification, ParseError, Party, PartySet};

/// What a registered public key may sign for its party. An operator's key
/// may hold several roles (one [`KeyEntry`] per role); which verb needs
/// which role is [`Verb::roles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRole {
    /// The party's node: report manifests, receipts.
    Node,
    /// An operator who may approve or deny releases and issue standing grants.
    Approver,
    /// An operator who submits reports (and may retract them).
    Submitter,
    /// An operator who may read report content (inbox, `show`, exports).
    Reader,
    /// An operator who may query the audit trail.
    Auditor,
    /// A feed (a source process): submits reports and tracks.
    Feed,
    /// The party's roster key: signs the party's operator roster.
    Roster,
    /// The party's agreement signer: signs agreement versions
    /// (`tisa.v1.agreement`). A version is in force only when a signer of
    /// each of the three parties, registered in the previous version, signed it.
    Signer,
}

impl KeyRole {
    /// Every role.
    pub const ALL: [KeyRole; 8] = [
        KeyRole::Node,
        KeyRole::Approver,
        KeyRole::Submitter,
        KeyRole::Reader,
        KeyRole::Auditor,
        KeyRole::Feed,
        KeyRole::Roster,
        KeyRole::Signer,
    ];

    /// Its name in files and documents (`node`, `approver`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Node => "node",
            KeyRole::Approver => "approver",
            KeyRole::Submitter => "submitter",
            KeyRole::Reader => "reader",
            KeyRole::Auditor => "auditor",
            KeyRole::Feed => "feed",
            KeyRole::Roster => "roster",
            KeyRole::Signer => "signer",
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyRole {
    type Err = ParseError;
    /// Accepts the names of [`KeyRole::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| ParseError::UnknownRole(truncate(s)))
    }
}

/// How signed documents name their signer: the first 16 hex characters
/// (8 bytes) of the SHA-256 of its ed25519 public key. Names stay labels
/// for display; the key id is what is checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The key id of `public`.
    pub fn of(public: &[u8; 32]) -> KeyId {
        let d: [u8; 32] = Sha256::digest(public).into();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::text::fmt_hex(f, &self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = ParseError;
    /// Exactly 16 lower-case hex characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError::BadKeyId(truncate(s));
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad());
        }
        let mut id = [0u8; 8];
        for (i, o) in id.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
        }
        Ok(KeyId(id))
    }
}

/// What an operator's signed action asks for: each state-changing verb,
/// and reads of content and of the audit trail. [`Verb::roles`] is the one
/// table of which role may do what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Submit a report or a correction.
    Submit,
    /// Issue a live track update.
    Track,
    /// Approve or deny a release request.
    Decide,
    /// Propose (issue) a standing grant.
    Grant,
    /// Revoke a standing grant.
    Revoke,
    /// Co-sign a proposed standing grant (two-person rule).
    Cosign,
    /// Retract a report.
    Retract,
    /// Export or import an off-line bundle (`tisa bundle`).
    Courier,
    /// Read report content: inbox pages, `show`, pending with titles, exports.
    Read,
    /// Query the audit trail.
    Audit,
}

impl Verb {
    /// Every verb.
    pub const ALL: [Verb; 10] = [
        Verb::Submit,
        Verb::Track,
        Verb::Decide,
        Verb::Grant,
        Verb::Revoke,
        Verb::Cosign,
        Verb::Retract,
        Verb::Courier,
        Verb::Read,
        Verb::Audit,
    ];

    /// Its name in action documents (`submit`, `decide`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Submit => "submit",
            Verb::Track => "track",
            Verb::Decide => "decide",
            Verb::Grant => "grant",
            Verb::Revoke => "revoke",
            Verb::Cosign => "cosign",
            Verb::Retract => "retract",
            Verb::Courier => "courier",
            Verb::Read => "read",
            Verb::Audit => "audit",
        }
    }

    /// The roles any one of which allows the verb. Approver implies
    /// nothing beyond what is listed here.
    pub fn roles(self) -> &'static [KeyRole] {
        match self {
            Verb::Submit | Verb::Track => &[KeyRole::Submitter, KeyRole::Feed],
            // A bundle carries released reports out of the node (export) or
            // into it (import): the party's approvers carry it.
            Verb::Decide | Verb::Grant | Verb::Revoke | Verb::Cosign | Verb::Courier => &[KeyRole::Approver],
            Verb::Retract => &[KeyRole::Submitter, KeyRole::Approver],
            Verb::Read => &[KeyRole::Reader, KeyRole::Approver, KeyRole::Submitter],
            Verb::Audit => &[KeyRole::Auditor],
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verb {
    type Err = ParseError;
    /// Accepts the names of [`Verb::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| ParseError::UnknownVerb(truncate(s)))
    }
}

/// A public signing key registered in the agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The party it signs for.
    pub party: Party,
    /// Its holder (`kr-node`, an operator's name).
    pub name: String,
    /// What it may sign.
    pub role: KeyRole,
    /// Ed25519 public key.
    pub public: [u8; 32],
}

impl KeyEntry {
    /// Its key id (how signed documents name it).
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public)
    }
}

/// Which agreement a node enforces: its version and the SHA-256 of its
/// canonical form. Every envelope carries the sender's; peers compare
/// them, and trilateral releases stop while they differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AgreementTag {
    /// The agreement's version.
    pub version: u32,
    /// SHA-256 of its canonical form (all zero: not from a signed file).
    pub hash: [u8; 32],
}

impl fmt::Display for AgreementTag {
    /// `v2 (3f9a1c0e…)`: the version and the first 8 hex digits of the hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{} (", self.version)?;
        crate::text::fmt_hex(f, &self.hash[..4])?;
        f.write_str("…)")
    }
}

/// The policy the core enforces: the agreement in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Version of the agreement this policy comes from.
    pub version: u32,
    /// SHA-256 of the agreement's canonical form (all zero for a policy
    /// not read from a file, as in the core's tests).
    pub hash: [u8; 32],
    /// When this version takes effect (Unix ms; 0: from the start). Nodes
    /// holding a chain switch to a later version at this instant, together.
    pub effective_at: crate::types::Timestamp,
    /// Categories that may travel to a third party through the hub.
    pub scope: Vec<Category>,
    /// Highest classification that may cross the hub–KR link (either way).
    pub kr_ceiling: Classification,
    /// Highest classification that may cross the hub–JP link (either way).
    pub jp_ceiling: Classification,
    /// Highest classification that may pass off-line (`tisa bundle`), on
    /// either link, with per-report consent: above a link's ceiling and up
    /// to this one, a report travels only off-line.
    pub offline_ceiling: Classification,
    /// How long a release request stays open before it counts as denied.
    pub request_expiry: Duration,
    /// Whether an approval must come from an operator other than the submitter.
    pub two_person_rule: bool,
    /// How fresh a grant-standing statement must be for a recipient to take
    /// a delivery or track under the grant (the originator issues one every
    /// third of it): a hub withholding a revocation can use the grant for at
    /// most this long. Absorbs the clock skew between parties.
    pub standing_window: Duration,
    /// Registered public keys: the agreement's node and roster keys and
    /// the rosters' operators, one entry per role a key holds.
    pub keys: Vec<KeyEntry>,
    /// How far a signed action's time may be from the node's clock, either way.
    pub clock_skew: Duration,
}

impl Default for Policy {
    /// The 2014 arrangement: NK nuclear and missile programmes only, SECRET
    /// ceiling on both links, requests open for 24 hours, grant-standing
    /// statements fresh for 60 seconds.
    fn default() -> Self {
        Policy {
            version: 1,
            hash: [0; 32],
            effective_at: crate::types::Timestamp(0),
            scope: vec![Category::NkNuclear, Category::NkMissile],
            kr_ceiling: Classification::Secret,
            jp_ceiling: Classification::Secret,
            offline_ceiling: Classification::Secret,
            request_expiry: Duration::from_secs(24 * 3600),
            two_person_rule: false,
            standing_window: Duration::from_secs(60),
            keys: Vec::new(),
            clock_skew: Duration::from_secs(120),
        }
    }
}

/// Why a report may not go to a given recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReleasable {
    /// The category is outside the trilateral scope.
    OutOfScope(Category),
    /// The classification is above a link's ceiling.
    AboveCeiling {
        /// The report's classification.
        classification: Classification,
        /// The lowest ceiling on its path.
        ceiling: Classification,
    },
    /// The releasable-to list does not name the recipient.
    NotInReleasableTo,
    /// The recipient is not a third party for this report.
    NotAThirdParty,
}

impl NotReleasable {
    /// A stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            NotReleasable::OutOfScope(_) => "OUT_OF_SCOPE",
            NotReleasable::AboveCeiling { .. } => "ABOVE_CEILING",
            NotReleasable::NotInReleasableTo => "NOT_IN_RELEASABLE_TO",
            NotReleasable::NotAThirdParty => "NOT_A_THIRD_PARTY",
        }
    }
}

impl fmt::Display for NotReleasable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReleasable::OutOfScope(c) => write!(f, "{c} is outside the trilateral scope"),
            NotReleasable::AboveCeiling { classification, ceiling } => {
                write!(f, "{classification} is above the {ceiling} ceiling")
            }
            NotReleasable::NotInReleasableTo => f.write_str("not in the releasable-to list"),
            NotReleasable::NotAThirdParty => f.write_str("not a third party for this report"),
        }
    }
}

impl Policy {
    /// Which agreement this is (version and hash), as peers compare it.
    pub fn tag(&self) -> AgreementTag {
        AgreementTag { version: self.version, hash: self.hash }
    }

    /// How often an originator issues a grant-standing statement: a third of
    /// [`Policy::standing_window`] (at least 1 ms), so two may be lost in a
    /// row before the recipient holds anything.
    pub fn standing_period(&self) -> Duration {
        (self.standing_window / 3).max(Duration::from_millis(1))
    }

    /// Keys registered for `party` in `role`.
    pub fn keys_of(&self, party: Party, role: KeyRole) -> impl Iterator<Item = &KeyEntry> {
        self.keys.iter().filter(move |k| k.party == party && k.role == role)
    }

    /// The roles `id` holds for `party` (empty: not a registered key of
    /// `party`), with its public key and name.
    pub fn key_roles(&self, party: Party, id: KeyId) -> Vec<&KeyEntry> {
        self.keys.iter().filter(|k| k.party == party && k.key_id() == id).collect()
    }

    /// The parties for which `id` is registered (to say "that is a key of
    /// another party").
    pub fn key_parties(&self, id: KeyId) -> PartySet {
        self.keys.iter().filter(|k| k.key_id() == id).map(|k| k.party).collect()
    }

    /// Ceiling of the link between the hub and `nation` (the hub itself has
    /// no link of its own: `TOP_SECRET`).
    pub fn ceiling(&self, nation: Party) -> Classification {
        match nation {
            Party::Kr => self.kr_ceiling,
            Party::Jp => self.jp_ceiling,
            Party::Us => Classification::TopSecret,
        }
    }

    /// Whether `category` may travel trilaterally.
    pub fn in_scope(&self, category: Category) -> bool {
        self.scope.contains(&category)
    }

    /// The trilateral rule, minus consent: may the hub pass this national
    /// report on to `recipient` at all? Consent (an approval of exactly this
    /// report, revision and recipient) is checked separately by the caller.
    pub fn check_trilateral(&self, h: &ReportHeader, recipient: Party) -> Result<(), NotReleasable> {
        self.check_trilateral_via(h, recipient, false)
    }

    /// [`Policy::check_trilateral`] for a report passing on-line or, with
    /// `offline`, off-line (under [`Policy::offline_ceiling`] instead of the
    /// links' ceilings).
    pub fn check_trilateral_via(&self, h: &ReportHeader, recipient: Party, offline: bool) -> Result<(), NotReleasable> {
        if h.originator.is_hub() || recipient.is_hub() || recipient == h.originator {
            return Err(NotReleasable::NotAThirdParty);
        }
        if !self.in_scope(h.category) {
            return Err(NotReleasable::OutOfScope(h.category));
        }
        let ceiling = self.path_ceiling(h.originator, recipient, offline);
        if h.classification > ceiling {
            return Err(NotReleasable::AboveCeiling { classification: h.classification, ceiling });
        }
        if !h.releasable_to.contains(recipient) {
            return Err(NotReleasable::NotInReleasableTo);
        }
        Ok(())
    }

    /// The highest classification that may pass between `a` and `b`
    /// (through the hub): the lower link ceiling on-line, the off-line
    /// ceiling off-line.
    pub fn path_ceiling(&self, a: Party, b: Party, offline: bool) -> Classification {
        if offline {
            self.offline_ceiling
        } else {
            self.ceiling(a).min(self.ceiling(b))
        }
    }

    /// The trilateral rule for a live missile track (always NK_MISSILE),
    /// minus consent: may the hub pass `originator`'s track on to `recipient`?
    pub fn check_track(
        &self,
        originator: Party,
        classification: Classification,
        releasable_to: PartySet,
        recipient: Party,
    ) -> Result<(), NotReleasable> {
        if originator.is_hub() || recipient.is_hub() || recipient == originator {
            return Err(NotReleasable::NotAThirdParty);
        }
        if !self.in_scope(Category::NkMissile) {
            return Err(NotReleasable::OutOfScope(Category::NkMissile));
        }
        let ceiling = self.ceiling(originator).min(self.ceiling(recipient));
        if classification > ceiling {
            return Err(NotReleasable::AboveCeiling { classification, ceiling });
        }
        if !releasable_to.contains(recipient) {
            return Err(NotReleasable::NotInReleasableTo);
        }
        Ok(())
    }

    /// The bilateral rule for the hub's own reports: may the hub send this
    /// report to `recipient` over their bilateral link?
    pub fn check_bilateral(&self, h: &ReportHeader, recipient: Party) -> Result<(), NotReleasable> {
        if !h.originator.is_hub() || recipient.is_hub() {
            return Err(NotReleasable::NotAThirdParty);
        }
        let ceiling = self.ceiling(recipient);
        if h.classification > ceiling {
            return Err(NotReleasable::AboveCeiling { classification: h.classification, ceiling });
        }
        if !h.releasable_to.contains(recipient) {
            return Err(NotReleasable::NotInReleasableTo);
        }
        Ok(())
    }
}
