//! The agreed policy (the "follow-up consultations"): what may travel
//! trilaterally, up to which classification, and how long a release request
//! stays open. Data, not code: nodes receive it at start-up.

use std::fmt;
use std::time::Duration;

use crate::report::ReportHeader;
use crate::types::{Category, Classification, Party, PartySet};

/// What a registered public key may sign for its party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// The party's node: report manifests, receipts.
    Node,
    /// An operator who may approve or deny releases and issue standing grants.
    Approver,
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

/// The policy the core enforces: the agreement in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Version of the agreement this policy comes from.
    pub version: u32,
    /// Categories that may travel to a third party through the hub.
    pub scope: Vec<Category>,
    /// Highest classification that may cross the hub–KR link (either way).
    pub kr_ceiling: Classification,
    /// Highest classification that may cross the hub–JP link (either way).
    pub jp_ceiling: Classification,
    /// How long a release request stays open before it counts as denied.
    pub request_expiry: Duration,
    /// Whether an approval must come from an operator other than the submitter.
    pub two_person_rule: bool,
    /// How fresh a grant-standing statement must be for a recipient to take
    /// a delivery or track under the grant (the originator issues one every
    /// third of it): a hub withholding a revocation can use the grant for at
    /// most this long. Absorbs the clock skew between parties.
    pub standing_window: Duration,
    /// Registered public keys.
    pub keys: Vec<KeyEntry>,
}

impl Default for Policy {
    /// The 2014 arrangement: NK nuclear and missile programmes only, SECRET
    /// ceiling on both links, requests open for 24 hours, grant-standing
    /// statements fresh for 60 seconds.
    fn default() -> Self {
        Policy {
            version: 1,
            scope: vec![Category::NkNuclear, Category::NkMissile],
            kr_ceiling: Classification::Secret,
            jp_ceiling: Classification::Secret,
            request_expiry: Duration::from_secs(24 * 3600),
            two_person_rule: false,
            standing_window: Duration::from_secs(60),
            keys: Vec::new(),
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
        if h.originator.is_hub() || recipient.is_hub() || recipient == h.originator {
            return Err(NotReleasable::NotAThirdParty);
        }
        if !self.in_scope(h.category) {
            return Err(NotReleasable::OutOfScope(h.category));
        }
        let ceiling = self.ceiling(h.originator).min(self.ceiling(recipient));
        if h.classification > ceiling {
            return Err(NotReleasable::AboveCeiling { classification: h.classification, ceiling });
        }
        if !h.releasable_to.contains(recipient) {
            return Err(NotReleasable::NotInReleasableTo);
        }
        Ok(())
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
