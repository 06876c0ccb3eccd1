//! Where an own revision stands, as the originator keeps it for each of up
//! to millions of revisions: [`HubState`] and [`RecipientState`] made
//! compact. A rejection's text is kept apart (rare: the originator's
//! `rejections`); a pending request's id is not kept (it derives from the
//! report, revision and recipient, [`RequestId::for_release`]) nor its
//! deadline (the request's, in the originator's table); receipts take 8
//! bytes until one comes. 1, 4 and 8 bytes instead of 48, 32 per recipient
//! and 48. The queries show the public forms ([`AtHub::view`],
//! [`AtRecipient::view`]).

use std::collections::BTreeMap;

use super::views::{HubState, RecipientState};
use crate::ids::{ReportId, RequestId};
use crate::policy::NotReleasable;
use crate::types::{Party, Timestamp};

/// Where a revision stands with the hub ([`HubState`], compact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum AtHub {
    Sent,
    Accepted,
    /// The rejection's code and detail are kept apart (rare; one byte here
    /// where a box made this 16).
    Rejected,
    Own,
}

impl AtHub {
    /// The public form; `rejection` gives a rejection's code and detail.
    pub(super) fn view<'a>(&self, rejection: impl FnOnce() -> Option<&'a (String, String)>) -> HubState {
        match self {
            AtHub::Sent => HubState::Sent,
            AtHub::Accepted => HubState::Accepted,
            AtHub::Rejected => {
                let (code, detail) = rejection().cloned().unwrap_or_default();
                HubState::Rejected { code, detail }
            }
            AtHub::Own => HubState::Own,
        }
    }
}

/// Where a revision stands with one recipient ([`RecipientState`] without
/// the request id, which derives from the revision and the recipient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // as in RecipientState
pub(super) enum AtRecipient {
    Waiting,
    NotReleasable(NotReleasable),
    /// The deadline is the request's.
    Requested,
    Approved {
        tearline_only: bool,
    },
    Denied,
    Expired,
    Withdrawn,
    Delivered {
        tearline_only: bool,
    },
}

impl AtRecipient {
    /// The public form, for revision `revision` of `report` to
    /// `recipient`, whose pending request (if it is one) expires at `expires_at`.
    pub(super) fn view(
        self,
        report: &ReportId,
        revision: u32,
        recipient: Party,
        expires_at: Option<Timestamp>,
    ) -> RecipientState {
        match self {
            AtRecipient::Waiting => RecipientState::Waiting,
            AtRecipient::NotReleasable(why) => RecipientState::NotReleasable(why),
            AtRecipient::Requested => RecipientState::Requested {
                request_id: RequestId::for_release(report, revision, recipient),
                // Every request marked here is in the originator's table.
                expires_at: expires_at.unwrap_or(Timestamp(0)),
            },
            AtRecipient::Approved { tearline_only } => RecipientState::Approved { tearline_only },
            AtRecipient::Denied => RecipientState::Denied,
            AtRecipient::Expired => RecipientState::Expired,
            AtRecipient::Withdrawn => RecipientState::Withdrawn,
            AtRecipient::Delivered { tearline_only } => RecipientState::Delivered { tearline_only },
        }
    }
}

/// A map keyed by party, inline: a report has at most three parties, and
/// a node tracks one per report for up to millions of reports (a B-tree
/// node would be a 400-byte allocation each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PartyMap<V>([Option<V>; 3]);

impl<V> Default for PartyMap<V> {
    fn default() -> Self {
        PartyMap([None, None, None])
    }
}

impl<V> PartyMap<V> {
    fn slot(p: Party) -> usize {
        match p {
            Party::Kr => 0,
            Party::Us => 1,
            Party::Jp => 2,
        }
    }
    pub(super) fn insert(&mut self, p: Party, v: V) {
        self.0[Self::slot(p)] = Some(v);
    }
    pub(super) fn contains_key(&self, p: &Party) -> bool {
        self.0[Self::slot(*p)].is_some()
    }
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().flatten()
    }
    /// Entries in `Party::ALL` order (the order of a `BTreeMap<Party, _>`).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&'static Party, &V)> {
        Party::ALL.iter().zip(&self.0).filter_map(|(p, v)| Some((p, v.as_ref()?)))
    }
    pub(super) fn to_btree(&self) -> BTreeMap<Party, V>
    where
        V: Clone,
    {
        self.iter().map(|(p, v)| (*p, v.clone())).collect()
    }
}

/// Verified receipts, by recipient: none while the revision is pending (8
/// bytes), in a box of their own once one came.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Receipts(Option<Box<PartyMap<Timestamp>>>);

impl Receipts {
    /// Whether `p`'s receipt came.
    pub(super) fn has(&self, p: Party) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(&p))
    }
    /// `p` committed the delivery at `at`.
    pub(super) fn insert(&mut self, p: Party, at: Timestamp) {
        self.0.get_or_insert_with(Default::default).insert(p, at);
    }
    /// By recipient, for the status query.
    pub(super) fn to_btree(&self) -> BTreeMap<Party, Timestamp> {
        self.0.as_ref().map(|m| m.to_btree()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Category;

    #[test]
    fn the_compact_forms_show_as_the_public_ones_with_the_derived_request_id() {
        let id = ReportId::new("KR-7").unwrap();
        let states = [
            (AtRecipient::Waiting, RecipientState::Waiting),
            (
                AtRecipient::NotReleasable(NotReleasable::OutOfScope(Category::NkNuclear)),
                RecipientState::NotReleasable(NotReleasable::OutOfScope(Category::NkNuclear)),
            ),
            (
                AtRecipient::Requested,
                RecipientState::Requested {
                    request_id: RequestId::new("KR-7.r2.JP").unwrap(),
                    expires_at: Timestamp(9),
                },
            ),
            (AtRecipient::Approved { tearline_only: true }, RecipientState::Approved { tearline_only: true }),
            (AtRecipient::Denied, RecipientState::Denied),
            (AtRecipient::Expired, RecipientState::Expired),
            (AtRecipient::Withdrawn, RecipientState::Withdrawn),
            (AtRecipient::Delivered { tearline_only: false }, RecipientState::Delivered { tearline_only: false }),
        ];
        for (kept, shown) in states {
            assert_eq!(kept.view(&id, 2, Party::Jp, Some(Timestamp(9))), shown);
        }
        let mut receipts = Receipts::default();
        assert!(!receipts.has(Party::Jp) && receipts.to_btree().is_empty());
        receipts.insert(Party::Jp, Timestamp(5));
        assert!(receipts.has(Party::Jp) && !receipts.has(Party::Us));
        assert_eq!(receipts.to_btree(), BTreeMap::from([(Party::Jp, Timestamp(5))]));
        assert_eq!(std::mem::size_of::<Receipts>(), 8);
        let text = ("CONFLICT".to_owned(), "KR-7 r2".to_owned());
        assert_eq!(
            AtHub::Rejected.view(|| Some(&text)),
            HubState::Rejected { code: "CONFLICT".to_owned(), detail: "KR-7 r2".to_owned() }
        );
        assert_eq!(AtHub::Sent.view(|| Some(&text)), HubState::Sent);
        assert_eq!(std::mem::size_of::<AtHub>(), 1);
        assert_eq!(std::mem::size_of::<PartyMap<AtRecipient>>(), 6);
    }
}
