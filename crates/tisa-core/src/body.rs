//! Report bodies outside the core's memory.
//!
//! A report's *body* is what is big and needed rarely: its content (title,
//! text, tearline, source) and the originator's signed manifest. The core
//! keeps of each report only its header and a few digests (`ReportRef`);
//! the body goes to a body store that the shell owns (a table on disk), so a
//! node's memory grows with the number of reports it tracks, not with their
//! size.
//!
//! The exchange stays sans-IO:
//! - when the core accepts a report (a submit, a report at the hub, a
//!   delivery at its recipient) it emits a [`Stash`] ([`crate::Node::poll_stash`]):
//!   the shell writes the body under its [`BodyKey`];
//! - when the core later sends a report or a delivery whose body it no
//!   longer has in hand (after an approval, on reconciliation), the
//!   [`crate::Transmit`] names the body it needs ([`crate::Transmit::body`])
//!   and the shell fills it in ([`crate::Transmit::fill`]) before sending;
//! - queries that show content ([`crate::InboxEntry`], [`crate::PendingView`])
//!   name their body the same way.
//!
//! A node built with [`crate::Node::new`] keeps bodies in memory itself
//! (tests, embedding) and fills everything before it leaves the core;
//! [`crate::Node::keep_bodies_outside`] switches to the store.

use crate::message::{Delivery, Payload, Released, Report, Transmit};
use crate::policy::KeyId;
use crate::report::{BodyKey, Content, ReportHeader};
use crate::sign::{self, Digest32, Manifest, Signed};

/// Output: write `body` to the body store under `key` (replacing what is
/// there: only verified bodies are stashed, and a node stashes each
/// revision in one form, so a second write is the same bytes). It needs no
/// fsync of its own: the input that produced it is in the node's log, and
/// replaying the log stashes it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stash {
    /// The store key: the report's id and revision.
    pub key: BodyKey,
    /// The report as this node holds it. At the recipient of a
    /// tearline-only release, the content is the tearline alone (title,
    /// body and source empty).
    pub body: Report,
}

/// Why a body could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    /// The store has no body under the key.
    #[error("no body for {0} in the body store")]
    Missing(BodyKey),
    /// The stored body is not the one the core expects (another report, or
    /// another manifest): the store is damaged.
    #[error("the body stored for {0} does not match the report the node holds")]
    Mismatch(BodyKey),
    /// A tearline-only release of a body that has no tearline.
    #[error("the body stored for {0} has no tearline")]
    NoTearline(BodyKey),
}

/// What the core keeps of a report in memory; the body is in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReportRef {
    pub(crate) header: ReportHeader,
    /// SHA-256 of the manifest's bytes (decisions and receipts name it).
    pub(crate) manifest_sha256: Digest32,
    /// Who submitted it, from the manifest: the name (named in the
    /// two-person rule's refusal) and the submitting key (what the rule
    /// compares), interned together, see [`Names`].
    pub(crate) submitter: Name,
    pub(crate) has_tearline: bool,
}

impl ReportRef {
    /// What the core keeps of `report`, whose (signed or verified) manifest is `manifest`.
    pub(crate) fn of(report: &Report, manifest: &Manifest, names: &mut Names) -> ReportRef {
        ReportRef {
            header: report.header.clone(),
            manifest_sha256: sign::sha256(&report.manifest.bytes),
            submitter: names.intern(&manifest.submitted_by, manifest.submitter_key),
            has_tearline: report.content.tearline.is_some(),
        }
    }

    pub(crate) fn key(&self) -> BodyKey {
        BodyKey::of(&self.header)
    }

    /// The report with a blank body, to be filled from the store.
    pub(crate) fn blank(&self) -> Report {
        Report { header: self.header.clone(), content: Content::default(), manifest: blank_signed() }
    }

    /// A KR report `id`, `revision` as the unit tests of the roles' tables keep it.
    #[cfg(test)]
    pub(crate) fn sample(id: &str, revision: u32) -> ReportRef {
        use crate::types::{Category, Classification, Party, PartySet, Timestamp};
        let header = ReportHeader {
            id: crate::ids::ReportId::new(id).unwrap(),
            revision,
            originator: Party::Kr,
            created_at: Timestamp(1),
            category: Category::NkNuclear,
            classification: Classification::Secret,
            releasable_to: PartySet::EMPTY,
        };
        ReportRef {
            header,
            manifest_sha256: [0; 32],
            submitter: Names::default().intern("kim", None),
            has_tearline: false,
        }
    }
}

/// An interned submitter: an index into the node's [`Names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Name(u32);

/// Submitters, each kept once: its operator's name and the key it signed
/// with. A few operators and feeds submit up to millions of reports, and
/// each report names its submitter (4 bytes here, where a name and a key
/// of its own took 16 bytes, a 32-byte heap block and 9 bytes).
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: Vec<(Box<str>, Option<KeyId>)>,
    index: std::collections::HashMap<(Box<str>, Option<KeyId>), u32>,
}

impl Names {
    /// The submitter `name` with `key`, added if new.
    pub(crate) fn intern(&mut self, name: &str, key: Option<KeyId>) -> Name {
        let entry: (Box<str>, Option<KeyId>) = (name.into(), key);
        if let Some(i) = self.index.get(&entry) {
            return Name(*i);
        }
        // More than 4 billion distinct submitters is far beyond memory.
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(entry.clone());
        self.index.insert(entry, i);
        Name(i)
    }

    /// The operator's name of `submitter` (empty for one not from this table).
    pub(crate) fn get(&self, submitter: Name) -> &str {
        self.names.get(submitter.0 as usize).map_or("", |(s, _)| s)
    }

    /// The key `submitter` signed with (`None` for one not from this table).
    pub(crate) fn key(&self, submitter: Name) -> Option<KeyId> {
        self.names.get(submitter.0 as usize).and_then(|(_, k)| *k)
    }
}

pub(crate) fn blank_signed() -> Signed {
    Signed::unsigned(Vec::new(), String::new())
}

/// SHA-256 over a content's four field hashes (what the manifest signs):
/// equal digests, equal content.
pub(crate) fn content_digest(c: &Content) -> Digest32 {
    let mut all = Vec::with_capacity(4 * 33);
    for part in [Some(&c.title), Some(&c.body), c.tearline.as_ref(), Some(&c.source)] {
        match part {
            Some(s) => {
                all.push(1);
                all.extend_from_slice(&sign::sha256(s.expose().as_bytes()));
            }
            None => all.push(0),
        }
    }
    sign::sha256(&all)
}

/// Checks that `body` is the revision `header` names and fills `d` from it.
pub(crate) fn fill_delivery(d: &mut Delivery, key: &BodyKey, body: &Report) -> Result<(), FillError> {
    if body.header != d.header {
        return Err(FillError::Mismatch(key.clone()));
    }
    d.released = match &d.released {
        Released::Full(_) => Released::Full(body.content.clone()),
        Released::Tearline(_) => {
            Released::Tearline(body.content.tearline.clone().ok_or_else(|| FillError::NoTearline(key.clone()))?)
        }
    };
    d.manifest = body.manifest.clone();
    Ok(())
}

impl Transmit {
    /// Fills the body this transmit needs ([`Transmit::body`]) from `body`,
    /// the stored report under that key. A transmit that needs none is left
    /// as it is.
    pub fn fill(&mut self, body: &Report) -> Result<(), FillError> {
        let Some(key) = self.body.clone() else { return Ok(()) };
        match &mut self.envelope.payload {
            Payload::Report(r) => {
                if body.header != r.header {
                    return Err(FillError::Mismatch(key));
                }
                r.content = body.content.clone();
                r.manifest = body.manifest.clone();
            }
            Payload::Delivery(d) => fill_delivery(d, &key, body)?,
            _ => {}
        }
        self.body = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_kept_once_and_read_back() {
        let mut names = Names::default();
        let (k1, k2) = (Some(KeyId::of(&[1; 32])), Some(KeyId::of(&[2; 32])));
        let a = names.intern("kr-analyst", k1);
        let b = names.intern("kr-feed", k1);
        let c = names.intern("kr-analyst", k2);
        let d = names.intern("kr-analyst", None);
        assert_eq!([a, b, c, d].map(|n| n.0), [0, 1, 2, 3], "name and key together");
        assert_eq!(names.intern("kr-analyst", k1), a, "kept once");
        assert_eq!(names.names.len(), 4);
        assert_eq!((names.get(a), names.get(b), names.get(c)), ("kr-analyst", "kr-feed", "kr-analyst"));
        assert_eq!((names.key(a), names.key(c), names.key(d)), (k1, k2, None));
        assert_eq!((names.get(Name(7)), names.key(Name(7))), ("", None));
    }
}
