//! Where an own revision stands, as the originator keeps it for each of up
//! to millions of revisions: [`HubState`] and [`RecipientState`] made
//! compact. A rejection's text is boxed (rare), and a pending request's id
//! is not kept (it derives from the report, revision and recipient,
//! [`RequestId::for_release`]): 16 bytes each instead of 48 and 32. The
//! queries show the public forms ([`AtHub::view`], [`AtRecipient::view`]).

use super::views::{HubState, RecipientState};
use crate::ids::{ReportId, RequestId};
use crate::policy::NotReleasable;
use crate::types::{Party, Timestamp};

/// Where a revision stands with the hub ([`HubState`], compact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum AtHub {
    Sent,
    Accepted,
    /// The rejection's code and detail.
    Rejected(Box<(String, String)>),
    Own,
}

impl AtHub {
    /// The public form.
    pub(super) fn view(&self) -> HubState {
        match self {
            AtHub::Sent => HubState::Sent,
            AtHub::Accepted => HubState::Accepted,
            AtHub::Rejected(r) => HubState::Rejected { code: r.0.clone(), detail: r.1.clone() },
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
    Requested { expires_at: Timestamp },
    Approved { tearline_only: bool },
    Denied,
    Expired,
    Withdrawn,
    Delivered { tearline_only: bool },
}

impl AtRecipient {
    /// The public form, for revision `revision` of `report` to `recipient`.
    pub(super) fn view(self, report: &ReportId, revision: u32, recipient: Party) -> RecipientState {
        match self {
            AtRecipient::Waiting => RecipientState::Waiting,
            AtRecipient::NotReleasable(why) => RecipientState::NotReleasable(why),
            AtRecipient::Requested { expires_at } => RecipientState::Requested {
                request_id: RequestId::for_release(report, revision, recipient),
                expires_at,
            },
            AtRecipient::Approved { tearline_only } => RecipientState::Approved { tearline_only },
            AtRecipient::Denied => RecipientState::Denied,
            AtRecipient::Expired => RecipientState::Expired,
            AtRecipient::Withdrawn => RecipientState::Withdrawn,
            AtRecipient::Delivered { tearline_only } => RecipientState::Delivered { tearline_only },
        }
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
                AtRecipient::Requested { expires_at: Timestamp(9) },
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
            assert_eq!(kept.view(&id, 2, Party::Jp), shown);
        }
        let rejected = AtHub::Rejected(Box::new(("CONFLICT".to_owned(), "KR-7 r2".to_owned())));
        assert_eq!(rejected.view(), HubState::Rejected { code: "CONFLICT".to_owned(), detail: "KR-7 r2".to_owned() });
        assert_eq!(std::mem::size_of::<AtHub>(), 16);
        assert_eq!(std::mem::size_of::<Option<AtRecipient>>(), 16);
    }
}
