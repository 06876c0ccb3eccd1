//! Standing grants and their revocations, signed by an originator's approver.

use super::canonical::{canonical, categories_str, Doc, Reader, SigError};
use super::keys::valid_name;
use super::track::TrackDoc;
use crate::report::ReportHeader;
use crate::types::{Category, Classification, Party, Timestamp};

/// A standing pre-approval: the originator releases, in advance, every report
/// of these categories up to this classification to this recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantDoc {
    /// Chosen by the originator, prefixed with its code (`KR-G-…`).
    pub grant_id: String,
    /// The party that grants.
    pub originator: Party,
    /// The third party it releases to.
    pub recipient: Party,
    /// Categories covered.
    pub categories: Vec<Category>,
    /// Highest classification covered.
    pub max_classification: Classification,
    /// Release only the tearline (reports without one are not covered).
    pub tearline_only: bool,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it lapses, if ever.
    pub not_after: Option<Timestamp>,
    /// The approver who issued it.
    pub operator: String,
}

impl GrantDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("grant")
            .kv("grant_id", &self.grant_id)
            .kv("originator", self.originator.code())
            .kv("recipient", self.recipient.code())
            .kv("categories", categories_str(&self.categories))
            .kv("max_classification", self.max_classification)
            .kv("tearline_only", self.tearline_only)
            .kv("issued_at", self.issued_at.as_millis())
            .kv("not_after", self.not_after.map_or("-".to_owned(), |t| t.as_millis().to_string()))
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<GrantDoc, SigError> {
        const K: &str = "grant";
        let mut r = Reader::new(bytes, K)?;
        let grant_id = r.get("grant_id")?.to_owned();
        let originator = r.parse("originator")?;
        let recipient = r.parse("recipient")?;
        let categories = r
            .get("categories")?
            .split(',')
            .map(|c| c.parse().map_err(|_| SigError::Malformed(K)))
            .collect::<Result<Vec<Category>, _>>()?;
        let max_classification = r.parse("max_classification")?;
        let tearline_only = r.parse("tearline_only")?;
        let issued_at = Timestamp(r.parse("issued_at")?);
        let not_after = match r.get("not_after")? {
            "-" => None,
            t => Some(Timestamp(t.parse().map_err(|_| SigError::Malformed(K))?)),
        };
        let operator = r.get("operator")?.to_owned();
        r.end()?;
        if !valid_name(&grant_id) {
            return Err(SigError::Malformed(K));
        }
        let g = GrantDoc {
            grant_id,
            originator,
            recipient,
            categories,
            max_classification,
            tearline_only,
            issued_at,
            not_after,
            operator,
        };
        canonical(bytes, g, GrantDoc::to_bytes, K)
    }

    /// Whether the grant covers `header` for `recipient` at `now`. It releases
    /// in advance: a report made before it was issued (perhaps one already
    /// denied) is not covered.
    pub fn covers(&self, header: &ReportHeader, recipient: Party, now: Timestamp) -> bool {
        self.originator == header.originator
            && self.recipient == recipient
            && self.categories.contains(&header.category)
            && header.classification <= self.max_classification
            && header.created_at >= self.issued_at
            && self.not_after.is_none_or(|t| now < t)
    }
}

impl GrantDoc {
    /// Whether the grant covers track update `t` for `recipient` at `now`:
    /// NK_MISSILE, up to its classification, issued by the originator's node
    /// no earlier than the grant. A tearline-only grant covers no track (a
    /// track has no tearline).
    pub fn covers_track(&self, t: &TrackDoc, recipient: Party, now: Timestamp) -> bool {
        self.originator == t.originator
            && self.recipient == recipient
            && !self.tearline_only
            && self.categories.contains(&Category::NkMissile)
            && t.classification <= self.max_classification
            && t.issued_at >= self.issued_at
            && self.not_after.is_none_or(|n| now < n)
    }
}

/// Withdrawal of a standing grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationDoc {
    /// The grant withdrawn.
    pub grant_id: String,
    /// The party whose grant it is (the approver's party).
    pub originator: Party,
    /// When the approver revoked it (its clock).
    pub revoked_at: Timestamp,
    /// The approver who revoked it.
    pub operator: String,
}

impl RevocationDoc {
    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("revocation")
            .kv("grant_id", &self.grant_id)
            .kv("originator", self.originator.code())
            .kv("revoked_at", self.revoked_at.as_millis())
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<RevocationDoc, SigError> {
        const K: &str = "revocation";
        let mut r = Reader::new(bytes, K)?;
        let d = RevocationDoc {
            grant_id: r.get("grant_id")?.to_owned(),
            originator: r.parse("originator")?,
            revoked_at: Timestamp(r.parse("revoked_at")?),
            operator: r.get("operator")?.to_owned(),
        };
        r.end()?;
        canonical(bytes, d, RevocationDoc::to_bytes, K)
    }
}
