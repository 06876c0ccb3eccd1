//! Which agreement is in force, and whether the peers enforce the same.
//!
//! A node holds the version in force and any later versions it was given
//! (signed by all three parties: the shell checks that before it hands
//! them over), each naming the instant it takes effect; at that instant
//! the node switches and tells its peers (every envelope carries the
//! sender's [`AgreementTag`], and a `hello` goes out on every link-up and
//! switch). Trilateral releases stop while the parties' versions differ:
//!
//! - the hub forwards a national report (or track) to the other nation
//!   only while both nations last said they enforce its own version; a
//!   release decided meanwhile waits (kept, with no receipt) and goes out
//!   by reconciliation once they agree;
//! - a recipient ignores a trilateral delivery or track sent under another
//!   version than its own (no effect, no rejection, counted): the hub
//!   re-sends it after the versions agree.
//!
//! Bilateral traffic and everything that takes consent away (denials,
//! revocations, retractions) flows regardless: deny is always possible.

use std::collections::BTreeMap;

use super::event::Event;
use super::Node;
use crate::error::CommandError;
use crate::message::Payload;
use crate::policy::{AgreementTag, Policy};
use crate::types::{Party, Timestamp};

/// The chain state of a node.
#[derive(Debug, Default)]
pub(super) struct Chain {
    /// Versions given but not yet in effect, in version order.
    pub(super) later: Vec<Policy>,
    /// What each peer last said it enforces.
    pub(super) peers: BTreeMap<Party, AgreementTag>,
    /// Trilateral messages ignored for a version mismatch.
    pub(super) ignored: u64,
    /// Hub: a trilateral delivery was kept back for a version mismatch
    /// (sent by reconciliation once the versions agree).
    pub(super) held_back: bool,
}

/// What `tisa health` shows of the agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementView {
    /// The version in force.
    pub in_force: AgreementTag,
    /// Later versions given, with when each takes effect.
    pub staged: Vec<(AgreementTag, Timestamp)>,
    /// What each peer (the hub; or both nations) last said it enforces
    /// (`None`: not heard from since this node started).
    pub peers: Vec<(Party, Option<AgreementTag>)>,
    /// Trilateral messages ignored because they were sent under another version.
    pub ignored: u64,
}

impl AgreementView {
    /// Why trilateral releases stop, if they do: one line per peer that
    /// said it enforces another version (empty: they may go).
    pub fn mismatches(&self) -> Vec<String> {
        self.peers
            .iter()
            .filter_map(|(p, t)| t.filter(|t| *t != self.in_force).map(|t| (p, t)))
            .map(|(p, t)| format!("{p} enforces agreement {t}, this node {}", self.in_force))
            .collect()
    }
}

impl Node {
    /// Gives the node a later version of the agreement, to take effect at
    /// its `effective_at` (checked by the caller: signed by the three
    /// parties, chained to the version before it). It must be the next
    /// version after the last one the node holds.
    pub fn stage_agreement(&mut self, policy: Policy) -> Result<(), CommandError> {
        let last = self.chain.later.last().map_or(self.policy.version, |p| p.version);
        if policy.version != last + 1 {
            return Err(CommandError::AgreementNotNext { version: policy.version, last });
        }
        self.chain.later.push(policy);
        Ok(())
    }

    /// The agreement in force, the versions staged and what the peers enforce.
    pub fn agreement_view(&self) -> AgreementView {
        let peers = if self.party.is_hub() { Party::NATIONS.to_vec() } else { vec![Party::HUB] };
        AgreementView {
            in_force: self.policy.tag(),
            staged: self.chain.later.iter().map(|p| (p.tag(), p.effective_at)).collect(),
            peers: peers.into_iter().map(|p| (p, self.chain.peers.get(&p).copied())).collect(),
            ignored: self.chain.ignored,
        }
    }

    /// When the next staged version takes effect.
    pub(super) fn switch_timeout(&self) -> Option<Timestamp> {
        self.chain.later.first().map(|p| p.effective_at)
    }

    /// Switches to every staged version whose time has come, and says so
    /// to the peers.
    pub(super) fn switch_due(&mut self, now: Timestamp) {
        let mut switched = false;
        while self.chain.later.first().is_some_and(|p| p.effective_at <= now) {
            let next = self.chain.later.remove(0);
            let from = self.policy.tag();
            self.policy = next;
            self.events.push_back(Event::AgreementSwitched { from, to: self.policy.tag() });
            switched = true;
        }
        if switched {
            for peer in self.link_peers() {
                self.send(now, peer, Payload::Hello);
            }
            // Releases the versions held back may now go.
            self.release_if_aligned(now);
        }
    }

    /// Records what `link`'s peer says it enforces; when that makes the
    /// parties agree, sends what waited for it.
    pub(super) fn note_peer_agreement(&mut self, now: Timestamp, link: Party, tag: AgreementTag) {
        let before = self.chain.peers.insert(link, tag);
        if before == Some(tag) {
            return;
        }
        if tag != self.policy.tag() {
            self.events.push_back(Event::AgreementMismatch { link, theirs: tag, ours: self.policy.tag() });
        }
        self.release_if_aligned(now);
    }

    /// Hub: once both nations enforce its version, re-sends to each what
    /// waited (deliveries without a receipt, among them those held back).
    fn release_if_aligned(&mut self, now: Timestamp) {
        if self.party.is_hub() && self.chain.held_back && self.trilateral_aligned() {
            self.chain.held_back = false;
            for n in Party::NATIONS {
                self.resend_to(now, n);
            }
        }
    }

    /// Whether trilateral releases may go: at the hub, neither nation last
    /// said it enforces another version than the hub's. A peer not heard
    /// from yet does not stop them (every node says hello on link-up, and
    /// the recipient checks the version of what it receives itself).
    pub(super) fn trilateral_aligned(&self) -> bool {
        let own = self.policy.tag();
        self.link_peers().iter().all(|p| self.chain.peers.get(p).is_none_or(|t| *t == own))
    }

    /// Recipient: whether a trilateral message the hub sent under `tag`
    /// may be taken; counts it otherwise.
    pub(super) fn sent_under_own_agreement(&mut self, tag: AgreementTag) -> bool {
        if tag == self.policy.tag() {
            return true;
        }
        self.chain.ignored += 1;
        false
    }

    fn link_peers(&self) -> Vec<Party> {
        if self.party.is_hub() {
            Party::NATIONS.to_vec()
        } else {
            vec![Party::HUB]
        }
    }
}
