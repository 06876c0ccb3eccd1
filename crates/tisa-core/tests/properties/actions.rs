//! What the random runs are made of: actions, forgeries, policies, and
//! the strategies that generate them.

use super::*;

#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// A party submits a report, or a correction of one of its reports.
    /// (`long`: an id long enough that request ids must be shortened;
    /// `submitter`: the clerk, either approver, or nobody.)
    Submit {
        party: usize,
        category: usize,
        classification: usize,
        rel: u8,
        tearline: bool,
        corrects: Option<usize>,
        long: bool,
        submitter: usize,
    },
    /// A nation decides a request, as approver `who`: one of its pending
    /// ones, or any it may have been asked.
    Decide { nation: usize, from_pending: bool, pick: usize, kind: Kind, who: usize },
    /// A nation issues a standing grant (`cats`: bits over `Category::ALL`;
    /// out-of-scope or empty ones must be refused).
    Grant { nation: usize, cats: u8, max: usize, tearline_only: bool, lapse: Option<u64>, who: usize },
    /// A nation revokes one of its grants (perhaps again).
    Revoke { nation: usize, pick: usize, who: usize },
    /// Deliver up to `n` envelopes in order on one link.
    Deliver { link: usize, n: usize },
    /// Hand any envelope ever sent to any node, on any existing link.
    Replay { pick: usize, link: usize },
    /// Move the clock (firing due timers).
    Advance { ms: u64 },
    /// Inject a forged or inconsistent message.
    Forge { forgery: Forgery, pick: usize, alt: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Full,
    Tearline,
    Deny,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Forgery {
    /// Any envelope ever sent, re-signed with a sender that is not the link's peer.
    WrongSender,
    /// A decision on a nation's request, sent by the other nation.
    WrongNation,
    /// A decision that was sent, replayed with one of request/report/revision/recipient altered
    /// (in its fields, or re-signed), or presented whole as another request's.
    AlteredDecision,
    /// A delivery of a nation's report from a sender that is not the hub or
    /// over a link that is not the hub's.
    UnapprovedDelivery,
    /// A report whose originator is not the party on the link.
    WrongOriginator,
    /// A report on its originator's link whose manifest does not verify:
    /// tampered content or header, signed by another key, another's manifest.
    TamperedReport,
    /// A delivery crafted by a compromised hub, on the genuine hub→nation
    /// link with sender US: no consent, consent replayed from elsewhere or
    /// signed by a wrong key, tampered content, header or manifest.
    HubDelivery,
    /// A nation's approver grants or revokes under the other nation's grant ids.
    CrossParty,
    /// Grants and revocations signed by a key that may not sign them, relayed
    /// by the other nation, or not matching their signed bytes.
    BadGrant,
    /// Under the two-person rule, an approval signed by the report's own
    /// submitter: sent by its originator's node (skipping the rule), or
    /// delivered by a compromised hub.
    SelfApproval,
}

pub(crate) fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![3 => Just(Kind::Full), 2 => Just(Kind::Tearline), 2 => Just(Kind::Deny)]
}

pub(crate) fn submit(nobody: bool) -> impl Strategy<Value = Action> {
    (
        prop_oneof![3 => Just(0usize), 1 => Just(1usize), 3 => Just(2usize)],
        prop_oneof![3 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)],
        prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => Just(2usize), 1 => Just(3usize)],
        // Mostly the whole trilateral set, often the hub and one nation, sometimes anything.
        prop_oneof![4 => Just(0b111u8), 3 => (0u8..8).prop_map(|b| b | 0b010), 1 => 0u8..8],
        prop::bool::weighted(0.7),
        prop::option::weighted(0.2, any::<usize>()),
        prop::bool::weighted(0.15),
        if nobody { (0..4usize).boxed() } else { (0..3usize).boxed() },
    )
        .prop_map(|(party, category, classification, rel, tearline, corrects, long, submitter)| Action::Submit {
            party,
            category,
            classification,
            rel,
            tearline,
            corrects,
            long,
            submitter,
        })
}

pub(crate) fn decide() -> impl Strategy<Value = Action> {
    (0..2usize, prop::bool::weighted(0.85), any::<usize>(), kind(), 0..2usize)
        .prop_map(|(nation, from_pending, pick, kind, who)| Action::Decide { nation, from_pending, pick, kind, who })
}

pub(crate) fn grant(lapsing: bool) -> impl Strategy<Value = Action> {
    (
        0..2usize,
        // Mostly valid (NK_NUCLEAR and/or NK_MISSILE), sometimes anything (OTHER, none).
        if lapsing { prop_oneof![6 => 1u8..4, 1 => 0u8..8].boxed() } else { (1u8..4).boxed() },
        prop_oneof![1 => Just(1usize), 3 => Just(2usize), 1 => Just(3usize)],
        prop::bool::weighted(0.3),
        if lapsing { prop::option::weighted(0.3, 1..=2 * HOUR).boxed() } else { Just(None).boxed() },
        0..2usize,
    )
        .prop_map(|(nation, cats, max, tearline_only, lapse, who)| Action::Grant {
            nation,
            cats,
            max,
            tearline_only,
            lapse,
            who,
        })
}

pub(crate) fn revoke() -> impl Strategy<Value = Action> {
    (0..2usize, any::<usize>(), 0..2usize).prop_map(|(nation, pick, who)| Action::Revoke { nation, pick, who })
}

pub(crate) fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1..=10 * SECOND,
        3 => 1..=2 * HOUR,
        1 => 20 * HOUR..=30 * HOUR,
    ]
}

pub(crate) fn forgery() -> impl Strategy<Value = Forgery> {
    prop_oneof![
        1 => Just(Forgery::WrongSender),
        1 => Just(Forgery::WrongNation),
        1 => Just(Forgery::AlteredDecision),
        1 => Just(Forgery::UnapprovedDelivery),
        1 => Just(Forgery::WrongOriginator),
        1 => Just(Forgery::TamperedReport),
        4 => Just(Forgery::HubDelivery),
        1 => Just(Forgery::CrossParty),
        1 => Just(Forgery::BadGrant),
        1 => Just(Forgery::SelfApproval),
    ]
}

pub(crate) fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => submit(true),
        4 => decide(),
        1 => grant(true),
        1 => revoke(),
        8 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
        2 => (any::<usize>(), 0..4usize).prop_map(|(pick, link)| Action::Replay { pick, link }),
        2 => advance().prop_map(|ms| Action::Advance { ms }),
        3 => (forgery(), any::<usize>(), any::<usize>()).prop_map(|(forgery, pick, alt)| Action::Forge { forgery, pick, alt }),
    ]
}

pub(crate) fn policy() -> impl Strategy<Value = Policy> {
    let ceiling = prop_oneof![1 => Just(Classification::Confidential), 3 => Just(Classification::Secret), 1 => Just(Classification::TopSecret)];
    let expiry = prop_oneof![1 => Just(10 * MINUTE), 1 => Just(2 * HOUR), 2 => Just(DAY)];
    (ceiling.clone(), ceiling, expiry, prop::bool::weighted(0.3)).prop_map(
        |(kr_ceiling, jp_ceiling, expiry, two_person_rule)| Policy {
            kr_ceiling,
            jp_ceiling,
            request_expiry: Duration::from_millis(expiry),
            two_person_rule,
            ..Policy::default()
        },
    )
}

pub(crate) fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, max_shrink_iters: 4096, ..ProptestConfig::default() }
}
