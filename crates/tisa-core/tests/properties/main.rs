//! Random interleavings of the three parties on the fake clock, checked
//! against an oracle that knows nothing of the core's internals: it keeps its
//! own log of what the originators submitted, approved, denied, granted and
//! revoked (and of when each of those reached the hub, and each revocation
//! the recipient), and judges by the rules of the arrangement alone:
//!
//! - every delivery the hub sends: justified by an approval that reached the
//!   hub in time, or by a grant the hub held and had not seen revoked;
//! - every report that lands in an inbox, when it lands (whoever built it,
//!   the genuine hub or a compromised one): justified by a logged approval of
//!   exactly that report, revision, recipient and form, or by a logged grant
//!   covering it whose revocation had not reached the recipient; never out of
//!   scope, over a ceiling or not releasable; content exactly as submitted.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256).

#[path = "../common/mod.rs"]
mod common;

mod actions;
mod forge;
mod oracle;
mod world;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use actions::*;
use common::*;
use oracle::*;
use proptest::prelude::*;
use world::*;

proptest! {
    #![proptest_config(config())]

    /// Whatever the parties, the network, the clock and an attacker
    /// (including a compromised hub) do, every report in every inbox got
    /// there by the rules.
    #[test]
    fn safety(policy in policy(), actions in prop::collection::vec(action(), 1..150)) {
        let mut w = World::new(policy);
        for a in &actions {
            w.run(a)?;
        }
        w.settle()?;
        w.sim.advance(3 * DAY);
        w.settle()?;
        // Only the grant-standing statements' timer is left (a grant that
        // stands is restated every period).
        let period = Duration::from_millis(duration_ms(w.sim.node(KR).policy().standing_period()));
        for p in Party::ALL {
            let t = w.sim.node(p).poll_timeout();
            prop_assert!(
                t.is_none() || t == Some(w.sim.now.saturating_add(period)),
                "{:?} still has a timer at {:?} after every request expired",
                p,
                t
            );
        }
    }

    /// With every message delivered (in any cross-link order), every request
    /// approved in time by a second person, and grants issued and revoked,
    /// every eligible report reaches its third party, and nobody refuses anything.
    #[test]
    fn liveness(
        policy in policy().prop_map(|p| Policy { request_expiry: Duration::from_millis(DAY), ..p }),
        actions in prop::collection::vec(prop_oneof![
            2 => submit(false),
            6 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
            1 => (1..=10 * SECOND).prop_map(|ms| Action::Advance { ms }),
            1 => grant(false),
            1 => revoke(),
        ], 1..120),
        tearline_bias in any::<u64>(),
    ) {
        let mut w = World::new(policy);
        let approve_all = |w: &mut World| -> Result<(), TestCaseError> {
            for nation in Party::NATIONS {
                for v in w.sim.pending(nation) {
                    let tearline = v.has_tearline && (tearline_bias >> (w.o.next % 64)) & 1 == 1;
                    let kind = if tearline { Kind::Tearline } else { Kind::Full };
                    let pos = w.sim.pending(nation).iter().position(|x| x.request == v.request).unwrap();
                    let submitter = &w.o.submitted[&(v.header.id.as_str().to_owned(), v.header.revision)].submitter;
                    let who = usize::from(submitter == approver_names(nation)[0]);
                    w.run(&Action::Decide { nation: idx(nation) / 2, from_pending: true, pick: pos, kind, who })?;
                    prop_assert!(w.sim.pending(nation).iter().all(|x| x.request != v.request), "approval failed");
                }
            }
            Ok(())
        };
        for a in &actions {
            w.run(a)?;
            approve_all(&mut w)?;
        }
        while w.sim.in_flight_total() > 0 {
            w.settle()?;
            approve_all(&mut w)?;
        }
        // Fail-closed, not a loss of liveness: a delivery held for want of a
        // fresh statement whose grant's revocation arrives first is refused.
        let revoked: HashSet<&String> = w.o.revocations.keys().collect();
        let mut held_then_revoked: HashSet<(Party, String, u32)> = HashSet::new();
        for p in Party::NATIONS {
            for e in w.sim.events(p) {
                if let Event::Held { kind: HeldKind::Delivery, id, revision, grant_id, .. } = e {
                    if revoked.contains(grant_id) && !w.sim.has(p, id, *revision) {
                        held_then_revoked.insert((p, id.clone(), *revision));
                    }
                }
            }
        }
        for p in Party::ALL {
            let refused: Vec<_> = w
                .sim
                .rejected(p)
                .into_iter()
                .filter(|r| !matches!(r, RejectReason::GrantNotValid(g) if revoked.contains(g)))
                .collect();
            prop_assert!(refused.is_empty(), "{:?} refused {:?}", p, refused);
            let n = w.sim.rejected(p).len() - refused.len();
            prop_assert_eq!(n, held_then_revoked.iter().filter(|(q, _, _)| *q == p).count(), "{:?}: refusals under revoked grants are the held ones", p);
        }
        for ((id, rev), s) in &w.o.submitted {
            let targets: Vec<Party> = match s.originator.other_nation() {
                Some(third) => {
                    prop_assert!(w.sim.has(US, id, *rev), "the hub does not hold {}/{}", id, rev);
                    if w.o.trilateral_ok(s, third) { vec![third] } else { vec![] }
                }
                None => s.rel.iter().collect(),
            };
            for t in Party::NATIONS {
                if t != s.originator && !held_then_revoked.contains(&(t, id.clone(), *rev)) {
                    prop_assert_eq!(w.sim.has(t, id, *rev), targets.contains(&t), "{}/{} at {:?}: {:?}", id, rev, t, s);
                }
            }
            for t in targets.into_iter().filter(|t| !held_then_revoked.contains(&(*t, id.clone(), *rev))) {
                let st = w.sim.recipient_state(s.originator, id, *rev, t);
                prop_assert!(matches!(st, Some(RecipientState::Delivered { .. })), "{}/{} for {:?} is {:?}", id, rev, t, st);
            }
        }
    }
}
