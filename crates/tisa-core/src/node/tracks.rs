//! Live missile-warning tracks across the roles: the originator signs
//! updates, the hub forwards them only under a standing grant (a track
//! never opens a release request), recipients verify and keep the latest.

use super::event::Event;
use super::Node;
use crate::error::{CommandError, RejectReason};
use crate::ids::{MessageId, TrackId};
use crate::message::{Grant, Payload, TrackUpdate};
use crate::policy::{KeyRole, NotReleasable, Policy};
use crate::sign::{self, GrantDoc, TrackDoc};
use crate::types::{Classification, GeoPoint, Party, PartySet, Timestamp};

/// A live missile-track update as the originator's operator (or feed) gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackDraft {
    /// The track, prefixed with this party's code (`KR-T-…`).
    pub track_id: TrackId,
    /// Sequence number, increasing per track.
    pub seq: u32,
    /// Its classification, checked like a report's.
    pub classification: Classification,
    /// Who may ever see it (a limit, not consent).
    pub releasable_to: PartySet,
    /// Launch point.
    pub launch: GeoPoint,
    /// Launch time.
    pub launched_at: Timestamp,
    /// Current position.
    pub position: GeoPoint,
    /// Current altitude, metres.
    pub altitude_m: i32,
    /// When the position was observed.
    pub observed_at: Timestamp,
    /// Predicted impact point, if any.
    pub impact: Option<GeoPoint>,
}

/// Result of a successful track command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackSubmitted {
    /// The signed update (the existing one for a duplicate).
    pub update: TrackUpdate,
    /// This very update was already issued: nothing was sent.
    pub duplicate: bool,
}

/// The latest known state of one track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackEntry {
    /// The latest update of the track (the highest sequence number seen).
    pub update: TrackUpdate,
    /// When it arrived (or was issued), by this node's clock.
    pub received_at: Timestamp,
}

impl Node {
    /// Issues one update of a live missile-warning track (NK_MISSILE),
    /// signed with this node's key. A nation sends it to the hub, which
    /// passes it to the other nation only under this party's standing grant;
    /// the hub sends its own tracks bilaterally per releasable-to. The same
    /// update again is a no-op (`duplicate`); an older or conflicting
    /// sequence number is refused.
    pub fn track(&mut self, now: Timestamp, draft: TrackDraft) -> Result<TrackSubmitted, CommandError> {
        let TrackDraft {
            track_id,
            seq,
            classification,
            releasable_to,
            launch,
            launched_at,
            position,
            altitude_m,
            observed_at,
            impact,
        } = draft;
        if track_id.prefix_party() != Some(self.party) {
            return Err(CommandError::BadTrackIdPrefix { id: track_id, prefix: self.party.code() });
        }
        if seq == 0 {
            return Err(CommandError::BadTrack("sequence numbers start at 1"));
        }
        if !launch.is_valid() || !position.is_valid() || impact.is_some_and(|p| !p.is_valid()) {
            return Err(CommandError::BadTrack("latitude must be within ±90° and longitude within ±180°"));
        }
        if observed_at < launched_at {
            return Err(CommandError::BadTrack("observed before launch"));
        }
        let rel = super::check_markings(&self.policy, self.party, classification, releasable_to)?;
        if let Some(latest) = self.tracks.get(&track_id) {
            let l = &latest.update.doc;
            let same = l.seq == seq
                && l.classification == classification
                && l.releasable_to == rel
                && l.launch == launch
                && l.launched_at == launched_at
                && l.position == position
                && l.altitude_m == altitude_m
                && l.observed_at == observed_at
                && l.impact == impact;
            if same {
                return Ok(TrackSubmitted { update: latest.update.clone(), duplicate: true });
            }
            if seq <= l.seq {
                return Err(CommandError::StaleTrack { track: track_id, seq, latest: l.seq });
            }
        }
        let doc = TrackDoc {
            track_id: track_id.clone(),
            seq,
            originator: self.party,
            classification,
            releasable_to: rel,
            launch,
            launched_at,
            position,
            altitude_m,
            observed_at,
            impact,
            issued_at: now,
        };
        let signed = self.identity.sign(doc.to_bytes());
        let update = TrackUpdate { doc, signed, consent: None };
        self.tracks.insert(track_id.clone(), TrackEntry { update: update.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: Box::new(update.clone()) });
        if self.party.is_hub() {
            for p in rel.iter() {
                if self.policy.ceiling(p) >= classification {
                    self.send(now, p, Payload::Track(update.clone()));
                    self.events.push_back(Event::TrackForwarded {
                        track_id: track_id.clone(),
                        seq,
                        recipient: p,
                        grant_id: None,
                    });
                }
            }
        } else {
            self.send(now, Party::HUB, Payload::Track(update.clone()));
        }
        Ok(TrackSubmitted { update, duplicate: false })
    }

    /// A window of track updates from `link` that the shell's real-time
    /// lane passed ahead of their commit ([`Input::TrackWindow`](crate::Input::TrackWindow)):
    /// the latest, `envelope`, is taken as any message (checked again by
    /// the same rules: kept, held, forwarded or refused), and the window is
    /// recorded ([`Event::TrackWindow`]). The updates before it are
    /// superseded (latest wins); the window's record is what the audit
    /// trail keeps of them.
    pub fn handle_track_window(
        &mut self,
        now: Timestamp,
        link: Party,
        envelope: crate::message::Envelope,
        first_seq: u32,
        updates: u32,
    ) {
        let window = match &envelope.payload {
            Payload::Track(t) => Some(Event::TrackWindow {
                link,
                track_id: t.doc.track_id.clone(),
                first_seq: first_seq.min(t.doc.seq),
                last_seq: t.doc.seq,
                updates,
                grant_id: t.consent.as_ref().map(|g| g.doc.grant_id.clone()),
            }),
            _ => None,
        };
        self.handle_message(now, link, envelope);
        self.events.extend(window);
    }

    /// Whether `t` is older than (or the same as) the latest update held of its track.
    pub(super) fn track_is_stale(&self, t: &TrackUpdate) -> bool {
        self.tracks.get(&t.doc.track_id).is_some_and(|e| e.update.doc.seq >= t.doc.seq)
    }

    pub(super) fn hub_on_track(&mut self, now: Timestamp, link: Party, t: TrackUpdate) -> Result<(), RejectReason> {
        hub_check(self, link, &t)?;
        if self.track_is_stale(&t) {
            return Ok(()); // stale or duplicate: the latest state stands
        }
        let d = &t.doc;
        self.tracks.insert(d.track_id.clone(), TrackEntry { update: t.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: Box::new(t.clone()) });
        // Forward only under the originator's signed, unrevoked standing
        // grant; a track never opens a release request.
        if let Some((third, grant)) = hub_onward(self, now, link, d).map(|(p, g)| (p, g.clone())) {
            let grant_id = grant.doc.grant_id.clone();
            let (track_id, seq) = (d.track_id.clone(), d.seq);
            self.send(now, third, Payload::Track(TrackUpdate { consent: Some(grant), ..t }));
            self.events.push_back(Event::TrackForwarded { track_id, seq, recipient: third, grant_id: Some(grant_id) });
        }
        Ok(())
    }

    pub(super) fn recipient_on_track(
        &mut self,
        now: Timestamp,
        message_id: MessageId,
        t: TrackUpdate,
    ) -> Result<(), RejectReason> {
        recipient_check(self, now, &t)?;
        if self.track_is_stale(&t) {
            return Ok(()); // stale or duplicate: the latest state stands
        }
        // Under a grant, only while a fresh statement that it stands is held
        // here; otherwise held (see `standing`).
        if let Some(grant_id) = recipient_hold(self, now, &t) {
            self.hold_track(now, message_id, t, grant_id);
            return Ok(());
        }
        self.tracks.insert(t.doc.track_id.clone(), TrackEntry { update: t.clone(), received_at: now });
        self.events.push_back(Event::TrackUpdated { update: Box::new(t) });
        Ok(())
    }
}

/// What the track rules read of a node's state: the node itself (the
/// committed path) or a snapshot of it (the real-time lane's
/// [`LaneView`](super::lane::LaneView)). One set of rules serves both.
pub(super) trait TrackRules {
    /// Whose node this is.
    fn party(&self) -> Party;
    /// The agreement in force.
    fn policy(&self) -> &Policy;
    /// Whether the grant is known to be revoked.
    fn grant_revoked(&self, grant_id: &str) -> bool;
    /// Whether a statement that `g` stands, fresh at `now`, is held.
    fn grant_standing(&self, g: &Grant, now: Timestamp) -> bool;
    /// Hub: whether every nation enforces the hub's agreement.
    fn agreement_aligned(&self) -> bool;
    /// Hub: the standing grants held, with whether each was revoked.
    fn held_grants(&self) -> Box<dyn Iterator<Item = (&Grant, bool)> + '_>;
}

impl TrackRules for Node {
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
        self.standing_fresh(g, now)
    }
    fn agreement_aligned(&self) -> bool {
        self.trilateral_aligned()
    }
    fn held_grants(&self) -> Box<dyn Iterator<Item = (&Grant, bool)> + '_> {
        Box::new(self.grants.values().map(|g| (&g.grant, g.revoked)))
    }
}

/// Checks a track update's id and the originator node's signature over
/// exactly its fields.
fn verify_track(policy: &Policy, t: &TrackUpdate) -> Result<(), RejectReason> {
    let d = &t.doc;
    if d.track_id.prefix_party() != Some(d.originator) || d.seq == 0 {
        return Err(RejectReason::BadTrack { track: d.track_id.clone(), why: "id prefix or sequence number" });
    }
    let bad = |why| RejectReason::Unverified { what: "track", why };
    sign::verify(policy, d.originator, KeyRole::Node, &t.signed).map_err(bad)?;
    if TrackDoc::parse(&t.signed.bytes).map_err(bad)? != *d {
        return Err(bad(sign::SigError::Mismatch("track")));
    }
    Ok(())
}

/// Hub: everything a nation's track update must pass before the hub keeps
/// it: sent by its originator, releasable to the hub, within the link's
/// ceiling, signed by the originator's node.
pub(super) fn hub_check(s: &impl TrackRules, link: Party, t: &TrackUpdate) -> Result<(), RejectReason> {
    let d = &t.doc;
    if d.originator != link {
        return Err(RejectReason::BadTrack { track: d.track_id.clone(), why: "originator is not the sending nation" });
    }
    if t.consent.is_some() {
        return Err(RejectReason::UnexpectedMessage { kind: "track", link });
    }
    let refuse = |why| RejectReason::TrackNotReleasable { track: d.track_id.clone(), recipient: Party::HUB, why };
    if !d.releasable_to.contains(Party::HUB) {
        return Err(refuse(NotReleasable::NotInReleasableTo));
    }
    let ceiling = s.policy().ceiling(link);
    if d.classification > ceiling {
        return Err(refuse(NotReleasable::AboveCeiling { classification: d.classification, ceiling }));
    }
    verify_track(s.policy(), t)
}

/// Hub: the other nation and the originator's grant a checked track goes
/// on under, if any: only while every nation enforces the same agreement,
/// the policy lets it through, and a signed, unrevoked standing grant
/// covers it (a track never opens a release request).
pub(super) fn hub_onward<'a>(
    s: &'a impl TrackRules,
    now: Timestamp,
    link: Party,
    d: &TrackDoc,
) -> Option<(Party, &'a Grant)> {
    let third = link.other_nation()?;
    // Latest wins: a track is not kept back while the versions differ.
    if !s.agreement_aligned() || s.policy().check_track(link, d.classification, d.releasable_to, third).is_err() {
        return None;
    }
    let grant = s
        .held_grants()
        .find(|(g, revoked)| !revoked && !s.grant_revoked(&g.doc.grant_id) && g.doc.covers_track(d, third, now))?;
    Some((third, grant.0))
}

/// Recipient: every check of a track update from the hub (the hub's own,
/// bilaterally; a nation's, under its grant, which is verified too).
pub(super) fn recipient_check(s: &impl TrackRules, now: Timestamp, t: &TrackUpdate) -> Result<(), RejectReason> {
    let d = &t.doc;
    let (party, policy) = (s.party(), s.policy());
    if d.originator == party {
        return Err(RejectReason::BadTrack { track: d.track_id.clone(), why: "this party's own track" });
    }
    let refuse = |why| RejectReason::TrackNotReleasable { track: d.track_id.clone(), recipient: party, why };
    if d.originator.is_hub() {
        // The hub's own track, bilaterally.
        if t.consent.is_some() {
            return Err(RejectReason::UnexpectedMessage { kind: "track", link: Party::HUB });
        }
        let ceiling = policy.ceiling(party);
        if d.classification > ceiling {
            return Err(refuse(NotReleasable::AboveCeiling { classification: d.classification, ceiling }));
        }
        if !d.releasable_to.contains(party) {
            return Err(refuse(NotReleasable::NotInReleasableTo));
        }
    } else {
        policy.check_track(d.originator, d.classification, d.releasable_to, party).map_err(refuse)?;
    }
    verify_track(policy, t)?;
    if !d.originator.is_hub() {
        let Some(g) = &t.consent else { return Err(RejectReason::TrackNoConsent(d.track_id.clone())) };
        let bad = |why| RejectReason::Unverified { what: "grant", why };
        sign::verify(policy, d.originator, KeyRole::Approver, &g.signed).map_err(bad)?;
        if GrantDoc::parse(&g.signed.bytes).map_err(bad)? != g.doc || g.doc.operator != g.signed.signer {
            return Err(bad(sign::SigError::Mismatch("grant")));
        }
        sign::check_cosigned(policy, d.originator, &g.signed, g.cosign.as_ref()).map_err(bad)?;
        if s.grant_revoked(&g.doc.grant_id) || !g.doc.covers_track(d, party, now) {
            return Err(RejectReason::GrantNotValid(g.doc.grant_id.clone()));
        }
    }
    Ok(())
}

/// Recipient: the grant a checked track waits under, if no fresh statement
/// that it stands is held (`standing`); `None` if it may be taken now.
pub(super) fn recipient_hold(s: &impl TrackRules, now: Timestamp, t: &TrackUpdate) -> Option<String> {
    t.consent.as_ref().filter(|g| !s.grant_standing(g, now)).map(|g| g.doc.grant_id.clone())
}
