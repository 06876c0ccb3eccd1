//! What a report is, apart from its signature: the header that routes it
//! and decides where it may go, its content, and the key its body is stored
//! under. The signed report itself ([`crate::Report`]: these plus the
//! originator's signed manifest) is a message; it lives in `message`,
//! because the signed documents (`sign`) describe headers and content and
//! so sit between the two.

use std::fmt;

use crate::ids::ReportId;
use crate::types::{Category, Classification, Party, PartySet, Sensitive, Timestamp};

/// What identifies a report and decides where it may go. Carries no content,
/// so it may be logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportHeader {
    /// Identifier chosen by the originator, prefixed with its code (`KR-…`).
    pub id: ReportId,
    /// 1 for the first issue; a correction is a new revision of the same id
    /// and needs its own approval.
    pub revision: u32,
    /// The party that wrote the report and alone may consent to its release.
    pub originator: Party,
    /// When the originator created this revision.
    pub created_at: Timestamp,
    /// What the report is about (decides trilateral scope).
    pub category: Category,
    /// Its classification (checked against each link's ceiling).
    pub classification: Classification,
    /// The parties it may ever reach. A limit, never consent.
    pub releasable_to: PartySet,
}

/// A report's content. Never logged (see [`Sensitive`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Content {
    /// Short title.
    pub title: Sensitive,
    /// Full text.
    pub body: Sensitive,
    /// Optional sanitised text written for wider release.
    pub tearline: Option<Sensitive>,
    /// Description of the source (protected like the body).
    pub source: Sensitive,
}

/// The key of a body in the store: the report's id and revision. Unique
/// per node: a node holds each revision in one form (its own, held at the
/// hub, or as released to it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // the report's id and revision
pub struct BodyKey {
    pub report_id: ReportId,
    pub revision: u32,
}

impl BodyKey {
    /// The key of `header`'s revision.
    pub fn of(header: &ReportHeader) -> BodyKey {
        BodyKey { report_id: header.id.clone(), revision: header.revision }
    }
}

impl fmt::Display for BodyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.r{}", self.report_id, self.revision)
    }
}
