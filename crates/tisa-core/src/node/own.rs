//! An originator's own reports, as it keeps them for up to millions of
//! them (issue #18): in submission order, found by id through a table of
//! positions; each report's first revision inline.

use super::marks::{AtHub, AtRecipient, PartyMap, Receipts};
use super::views::RevisionStatus;
use crate::body::ReportRef;
use crate::ids::ReportId;
use crate::message::Retraction;
use crate::types::{Party, Timestamp};

/// An originator's reports in submission order, found by id through a
/// table of their positions (4 bytes a report), not an `IndexMap` (which
/// keeps each id again beside the report, with its hash and an 8-byte
/// index: 40 bytes more a report).
#[derive(Debug, Default)]
pub(super) struct Reports {
    reports: Vec<OwnReport>,
    /// Positions in `reports`, by the report's id.
    index: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl Reports {
    fn hash(&self, id: &ReportId) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, id)
    }

    /// The position of report `id` (stable: reports are never removed).
    pub(super) fn position(&self, id: &ReportId) -> Option<usize> {
        let at =
            self.index.find(self.hash(id), |&i| self.reports.get(i as usize).is_some_and(|r| r.id() == Some(id)))?;
        Some(*at as usize)
    }

    /// The id of the report at position `i`.
    pub(super) fn id_at(&self, i: usize) -> Option<&ReportId> {
        self.reports.get(i)?.id()
    }

    /// The report `id`.
    pub(super) fn get(&self, id: &ReportId) -> Option<&OwnReport> {
        self.reports.get(self.position(id)?)
    }

    /// The report `id`, to change it.
    pub(super) fn get_mut(&mut self, id: &ReportId) -> Option<&mut OwnReport> {
        let i = self.position(id)?;
        self.reports.get_mut(i)
    }

    /// Whether there is a report `id`.
    pub(super) fn contains_key(&self, id: &ReportId) -> bool {
        self.position(id).is_some()
    }

    /// Every report, in submission order.
    pub(super) fn values(&self) -> impl Iterator<Item = &OwnReport> {
        self.reports.iter()
    }

    /// The reports from position `i` on, in submission order.
    pub(super) fn values_from(&self, i: usize) -> impl Iterator<Item = &OwnReport> {
        self.reports.get(i..).unwrap_or_default().iter()
    }

    /// Adds `revision` to report `id` (a new report if there is none):
    /// the revision's header names `id`.
    pub(super) fn push_revision(&mut self, id: &ReportId, revision: OwnRevision) {
        if let Some(r) = self.get_mut(id) {
            r.revisions.push(revision);
            return;
        }
        let hash = self.hash(id);
        // More than 4 billion reports is far beyond memory.
        let i = u32::try_from(self.reports.len()).unwrap_or(u32::MAX);
        self.reports.push(OwnReport { revisions: Revisions::One(revision), retraction: None });
        let (reports, hasher) = (&self.reports, &self.hasher);
        // Growing the table hashes every report's id again, as `hash` does.
        self.index.insert_unique(hash, i, |&j| match reports.get(j as usize).and_then(OwnReport::id) {
            Some(id) => std::hash::BuildHasher::hash_one(hasher, id),
            None => 0,
        });
    }
}

#[derive(Clone, Debug)]
pub(super) struct OwnReport {
    pub(super) revisions: Revisions,
    /// This party's retraction, and whether the hub confirmed it (boxed:
    /// rare, and every report has the slot).
    pub(super) retraction: Option<Box<(Retraction, bool)>>,
}

/// A report's revisions, in order: the first inline (most reports have
/// one: no allocation of their own, where a vector of one took a 128-byte
/// heap block besides its 24 bytes), all in a vector once it is corrected.
#[derive(Clone, Debug)]
pub(super) enum Revisions {
    One(OwnRevision),
    Many(Vec<OwnRevision>),
}

impl Revisions {
    /// Adds the next revision.
    pub(super) fn push(&mut self, revision: OwnRevision) {
        match self {
            Revisions::Many(all) => all.push(revision),
            Revisions::One(_) => {
                let Revisions::One(first) = std::mem::replace(self, Revisions::Many(Vec::with_capacity(2))) else {
                    return;
                };
                *self = Revisions::Many(vec![first, revision]);
            }
        }
    }
}

impl std::ops::Deref for Revisions {
    type Target = [OwnRevision];
    fn deref(&self) -> &[OwnRevision] {
        match self {
            Revisions::One(r) => std::slice::from_ref(r),
            Revisions::Many(all) => all,
        }
    }
}

impl std::ops::DerefMut for Revisions {
    fn deref_mut(&mut self) -> &mut [OwnRevision] {
        match self {
            Revisions::One(r) => std::slice::from_mut(r),
            Revisions::Many(all) => all,
        }
    }
}

impl<'a> IntoIterator for &'a Revisions {
    type Item = &'a OwnRevision;
    type IntoIter = std::slice::Iter<'a, OwnRevision>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Revisions {
    type Item = &'a mut OwnRevision;
    type IntoIter = std::slice::IterMut<'a, OwnRevision>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[derive(Clone, Debug)]
pub(super) struct OwnRevision {
    /// The report; its body is in the body store.
    pub(super) report: ReportRef,
    pub(super) hub: AtHub,
    pub(super) recipients: PartyMap<AtRecipient>,
    /// Verified receipts, by recipient: when it committed the delivery.
    pub(super) receipts: Receipts,
}

impl OwnReport {
    /// The report's id (its first revision's; a report has at least one).
    fn id(&self) -> Option<&ReportId> {
        self.revisions.first().map(|r| &r.report.header.id)
    }
}

impl OwnRevision {
    /// Where this revision stands, for the status query: `expires_at`
    /// gives the deadline of its pending request to a recipient (the
    /// originator's table has it), `rejection` the hub's rejection's code
    /// and detail (kept apart).
    pub(super) fn status<'a>(
        &self,
        retraction: Option<&(Retraction, bool)>,
        expires_at: impl Fn(Party) -> Option<Timestamp>,
        rejection: impl FnOnce() -> Option<&'a (String, String)>,
    ) -> RevisionStatus {
        let h = &self.report.header;
        RevisionStatus {
            header: self.report.header.clone(),
            hub: self.hub.view(rejection),
            recipients: self
                .recipients
                .iter()
                .map(|(p, s)| (*p, s.view(&h.id, h.revision, *p, expires_at(*p))))
                .collect(),
            receipts: self.receipts.to_btree(),
            retracted_at: retraction.map(|(r, _)| r.doc.retracted_at),
            retraction_confirmed: retraction.is_some_and(|(_, c)| *c),
            report: None,
            body: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(id: &str, revision: u32) -> OwnRevision {
        let report = ReportRef::sample(id, revision);
        OwnRevision { report, hub: AtHub::Sent, recipients: PartyMap::default(), receipts: Receipts::default() }
    }

    #[test]
    fn reports_are_found_by_id_in_submission_order_as_the_table_grows() {
        let mut reports = Reports::default();
        let ids: Vec<String> = (0..5000).map(|i| format!("KR-{}", (i * 7919) % 5000)).collect();
        for id in &ids {
            reports.push_revision(&ReportId::new(id).unwrap(), revision(id, 1));
        }
        // A correction is a revision of the same report, not a new one.
        reports.push_revision(&ReportId::new(&ids[3]).unwrap(), revision(&ids[3], 2));
        let order: Vec<&str> = reports.values().filter_map(|r| r.id()).map(ReportId::as_str).collect();
        assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
        for (n, id) in ids.iter().enumerate() {
            let r = reports.get(&ReportId::new(id).unwrap()).unwrap();
            assert_eq!(r.id().unwrap().as_str(), id);
            assert_eq!(r.revisions.len(), if n == 3 { 2 } else { 1 });
        }
        // Revisions in order, the first kept inline until there are two.
        let corrected = reports.get(&ReportId::new(&ids[3]).unwrap()).unwrap();
        let revisions: Vec<u32> = corrected.revisions.iter().map(|r| r.report.header.revision).collect();
        assert_eq!(revisions, [1, 2]);
        assert!(matches!(reports.get(&ReportId::new(&ids[4]).unwrap()).unwrap().revisions, Revisions::One(_)));
        assert_eq!(std::mem::size_of::<OwnReport>(), std::mem::size_of::<OwnRevision>() + 8);
        assert!(!reports.contains_key(&ReportId::new("KR-5000").unwrap()));
        assert!(reports.get_mut(&ReportId::new("JP-1").unwrap()).is_none());
    }
}
