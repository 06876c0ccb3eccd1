//! The real-time lane for live missile tracks (issue #18).
//!
//! A track update is "latest wins": what matters is how soon the newest
//! one is seen. The committed path makes it wait for a group commit (an
//! fdatasync) at every hop. The lane judges a track update read off its
//! subject as it is published, on a snapshot of the node's state
//! ([`LaneView`], taken again by the shell after any group commit that
//! changed it: [`Node::lane_view_is_current`]), by the very
//! rules the committed path uses (`tracks::TrackRules`), and says at once
//! what to do: the hub forwards it to the other nation under the
//! originator's grant ([`LaneOutcome::Forward`]), a recipient shows it
//! ([`LaneOutcome::Show`]). Anything that fails a check is dropped
//! ([`LaneOutcome::Dropped`], counted: fail-closed); anything the lane
//! cannot decide alone (a track to be held for want of a fresh grant
//! statement, another agreement version, one already seen) is left to the
//! committed path ([`LaneOutcome::Left`]).
//!
//! The lane never changes the core's state, so replay stays exact. The
//! same message's stream copy still takes the committed path: logged,
//! applied, audited, forwarded durably, acknowledged, and refused with a
//! rejection notice and a dead letter if bad. So nothing the lane does is
//! lost to a crash (the stream redelivers what was not committed), and the
//! audit trail has every update, written behind. The lane acts before the
//! node's own commit only on what the broker redelivers and what is
//! idempotent downstream (a later copy of a track update is stale); an
//! originator's own track (an operator's command, which arrives once) is
//! committed before it is sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::tracks::{self, TrackRules};
use super::Node;
use crate::error::RejectReason;
use crate::ids::{MessageId, TrackId};
use crate::message::{Envelope, Grant, Payload, Standing, TrackUpdate, Transmit, PROTOCOL_VERSION};
use crate::policy::Policy;
use crate::sign;
use crate::types::{Party, Timestamp};

/// What the lane needs of a node's state to judge a track update: the
/// agreement in force, whether the peers enforce it, the grants and
/// revocations held, and the grant-standing statements held.
#[derive(Clone, Debug)]
pub struct LaneView {
    party: Party,
    policy: Policy,
    aligned: bool,
    grants: Vec<(Grant, bool)>,
    revoked: HashSet<String>,
    statements: BTreeMap<String, Standing>,
}

impl TrackRules for LaneView {
    fn party(&self) -> Party {
        self.party
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
    fn grant_revoked(&self, grant_id: &str) -> bool {
        self.revoked.contains(grant_id)
    }
    fn grant_standing(&self, g: &Grant, now: Timestamp) -> bool {
        self.statements
            .get(&g.doc.grant_id)
            .is_some_and(|s| statement_stands_for(s, g, now, self.policy.standing_window))
    }
    fn agreement_aligned(&self) -> bool {
        self.aligned
    }
    fn held_grants(&self) -> Box<dyn Iterator<Item = (&Grant, bool)> + '_> {
        Box::new(self.grants.iter().map(|(g, r)| (g, *r)))
    }
}

impl Node {
    /// A snapshot of what the real-time lane needs to judge track updates
    /// as this node would now ([`Lane::set_view`]).
    pub fn lane_view(&self) -> LaneView {
        LaneView {
            party: self.party,
            policy: self.policy.clone(),
            aligned: self.trilateral_aligned(),
            grants: self.grants.values().map(|g| (g.grant.clone(), g.revoked)).collect(),
            revoked: self.revoked.clone(),
            statements: self.freshness.statements.clone(),
        }
    }

    /// Whether `view` is what [`Node::lane_view`] would give now, compared
    /// field by field without building a new one (a view takes a copy of
    /// the agreement's keys, the grants and the statements: the shell
    /// checks the lane's after every group commit, and most commits
    /// change none of it). Never true when they differ; a grant table
    /// reordered with the same contents reads as different (a harmless
    /// refresh).
    pub fn lane_view_is_current(&self, view: &LaneView) -> bool {
        // Every field named: a field added to the view must be compared.
        let LaneView { party, policy, aligned, grants, revoked, statements } = view;
        *party == self.party
            && *aligned == self.trilateral_aligned()
            && *policy == self.policy
            && *revoked == self.revoked
            && *statements == self.freshness.statements
            && grants.len() == self.grants.len()
            && grants.iter().zip(self.grants.values()).all(|((g, r), v)| *r == v.revoked && *g == v.grant)
    }
}

/// What the lane does with one track update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaneOutcome {
    /// Hub: publish this at once (the update under the originator's grant,
    /// to the other nation).
    Forward(Transmit),
    /// Recipient: show this update at once (it passed every check).
    Show(TrackUpdate),
    /// Not for the lane to decide (why): the committed path decides.
    Left(&'static str),
    /// It failed a check: dropped here (the committed path refuses its
    /// stream copy, with a rejection notice and a dead letter).
    Dropped(RejectReason),
}

/// How many track updates the lane passed, left and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneCounts {
    /// Forwarded (hub) or shown (recipient).
    pub passed: u64,
    /// Left to the committed path.
    pub left: u64,
    /// Dropped for failing a check.
    pub dropped: u64,
}

/// Tracks whose latest sequence number the lane remembers, at most; beyond
/// that it forgets them all (a forgotten track's next copy is passed again:
/// harmless, a receiver takes it as stale).
const LANE_TRACKS_MAX: usize = 4096;

/// The real-time lane of one node (sans-IO: the shell feeds it the early
/// copies of track updates and acts on what it returns).
#[derive(Debug)]
pub struct Lane {
    view: Arc<LaneView>,
    /// Its own message ids: `<party>.<instance>.<n>`, `instance` chosen by
    /// the shell at each start (never the core's).
    instance: u64,
    next_seq: u64,
    latest: HashMap<TrackId, u32>,
    counts: LaneCounts,
}

impl Lane {
    /// A lane judging by `view`; its message ids carry `instance`, which
    /// the shell draws at random at each start (ids are never reused).
    pub fn new(view: Arc<LaneView>, instance: u64) -> Lane {
        Lane { view, instance, next_seq: 0, latest: HashMap::new(), counts: LaneCounts::default() }
    }

    /// Judges by `view` from now on.
    pub fn set_view(&mut self, view: Arc<LaneView>) {
        self.view = view;
    }

    /// What it has done so far.
    pub fn counts(&self) -> LaneCounts {
        self.counts
    }

    /// Judges the early copy of `env`, which arrived on the link to `link`
    /// at `now` (this node's clock).
    pub fn handle(&mut self, now: Timestamp, link: Party, env: Envelope) -> LaneOutcome {
        let out = self.judge(now, link, env);
        match &out {
            LaneOutcome::Forward(_) | LaneOutcome::Show(_) => self.counts.passed += 1,
            LaneOutcome::Left(_) => self.counts.left += 1,
            LaneOutcome::Dropped(_) => self.counts.dropped += 1,
        }
        out
    }

    fn judge(&mut self, now: Timestamp, link: Party, env: Envelope) -> LaneOutcome {
        let view = Arc::clone(&self.view);
        let party = view.party;
        if link == party || (!party.is_hub() && link != Party::HUB) {
            return LaneOutcome::Dropped(RejectReason::UnexpectedMessage { kind: env.payload.kind(), link });
        }
        if env.sender != link {
            return LaneOutcome::Dropped(RejectReason::ForgedSender { claimed: env.sender, link });
        }
        let Payload::Track(t) = env.payload else {
            return LaneOutcome::Dropped(RejectReason::UnexpectedMessage { kind: env.payload.kind(), link });
        };
        // Another agreement version: the committed path notes it, and
        // holds or refuses what it must.
        if env.agreement != view.policy.tag() {
            return LaneOutcome::Left("another agreement version");
        }
        if party.is_hub() {
            if let Err(r) = tracks::hub_check(&*view, link, &t) {
                return LaneOutcome::Dropped(r);
            }
        } else if let Err(r) = tracks::recipient_check(&*view, now, &t) {
            return LaneOutcome::Dropped(r);
        }
        if self.latest.get(&t.doc.track_id).is_some_and(|s| *s >= t.doc.seq) {
            return LaneOutcome::Left("stale or already passed");
        }
        if party.is_hub() {
            let Some((third, grant)) = tracks::hub_onward(&*view, now, link, &t.doc) else {
                return LaneOutcome::Left("no grant covers it, or the agreement differs");
            };
            let to_send = TrackUpdate { consent: Some(grant.clone()), ..t };
            let Some(envelope) = self.envelope(now, Payload::Track(to_send.clone())) else {
                return LaneOutcome::Left("no message id");
            };
            self.remember(&to_send);
            return LaneOutcome::Forward(Transmit { to: third, envelope, body: None, offline: false });
        }
        if tracks::recipient_hold(&*view, now, &t).is_some() {
            return LaneOutcome::Left("no fresh statement that its grant stands");
        }
        self.remember(&t);
        LaneOutcome::Show(t)
    }

    fn remember(&mut self, t: &TrackUpdate) {
        if self.latest.len() >= LANE_TRACKS_MAX && !self.latest.contains_key(&t.doc.track_id) {
            self.latest.clear();
        }
        self.latest.insert(t.doc.track_id.clone(), t.doc.seq);
    }

    fn envelope(&mut self, now: Timestamp, payload: Payload) -> Option<Envelope> {
        self.next_seq += 1;
        let raw = format!("{}.{:016x}.{}", self.view.party.code(), self.instance, self.next_seq);
        Some(Envelope {
            version: PROTOCOL_VERSION,
            message_id: MessageId::new(raw).ok()?,
            sender: self.view.party,
            sent_at: now,
            agreement: self.view.policy.tag(),
            payload,
        })
    }
}

/// Whether `s` is a statement, fresh at `now`, that exactly `g` stands.
pub(super) fn statement_stands_for(s: &Standing, g: &Grant, now: Timestamp, window: std::time::Duration) -> bool {
    s.doc.originator == g.doc.originator
        && s.doc.grant_sha256 == sign::sha256(&g.signed.bytes)
        && s.doc.fresh_at(now, window)
}
