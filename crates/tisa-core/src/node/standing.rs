//! Revocation that does not trust the hub: grant-standing statements and
//! held deliveries.
//!
//! - **Originator.** While one of its grants stands (not revoked, not
//!   lapsed) it signs a `tisa.v1.standing` statement with its node key
//!   right after issuing the grant and then every
//!   [`Policy::standing_period`](crate::Policy::standing_period) (a third of
//!   the window), on the core's timer, and sends it to the hub. None after
//!   a revocation.
//! - **Hub.** Keeps the newest statement per grant, passes each new one to
//!   the recipient, and sends the newest again on reconciliation. The hub
//!   does not attach statements to deliveries, nor hold anything for them:
//!   the recipient decides, so a hub that lies gains nothing.
//! - **Recipient.** Takes a delivery or track under a grant only while it
//!   holds a statement for exactly that grant (same hash) issued within
//!   [`Policy::standing_window`](crate::Policy::standing_window) of its own
//!   `now` (the window absorbs clock skew). Otherwise the item is **held**:
//!   committed and verified in full (the shell logged it; the body is
//!   stored), neither in the inbox nor refused. The next fresh statement
//!   releases every held item of the grant, in arrival order (received
//!   once, receipts as usual); a revocation, a lapse or a retraction refuses
//!   them (a rejection to the hub, as for any refused delivery). A held
//!   track keeps only its newest update (later updates supersede earlier
//!   ones, as for live tracks). A hub that withholds a revocation can
//!   therefore use the grant for at most one window.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

use super::event::{Event, HeldKind};
use super::recipient::Received;
use super::tracks::TrackEntry;
use super::views::{paginate, parse_inbox_cursor, unknown_cursor, Page};
use super::Node;
use crate::error::{CommandError, RejectReason};
use crate::ids::{MessageId, ReportId, TrackId};
use crate::message::{Consent, Grant, Payload, Receipt, Rejection, Standing, TrackUpdate};
use crate::policy::KeyRole;
use crate::sign::{self, StandingDoc};
use crate::types::{Party, Sensitive, Timestamp};

/// What the statements and held items take: kept in [`Node`].
#[derive(Debug, Default)]
pub(super) struct Freshness {
    /// The newest statement per grant: issued (originator), passed on
    /// (hub), received (recipient). Ordered, so that what is sent from it
    /// comes out in the same order on replay.
    pub(super) statements: BTreeMap<String, Standing>,
    /// Recipient: deliveries held for want of a fresh statement, in arrival order.
    held: IndexMap<(ReportId, u32), HeldDelivery>,
    /// Recipient: the newest track update held per track.
    held_tracks: IndexMap<TrackId, HeldTrack>,
    /// Originator: grants found lapsed by the timer (no more statements).
    lapsed: BTreeSet<String>,
}

/// A delivery held at its recipient: verified in full, its body stored.
#[derive(Debug)]
struct HeldDelivery {
    received: Received,
    title: Option<Sensitive>,
    message_id: MessageId,
    grant_id: String,
}

#[derive(Debug)]
struct HeldTrack {
    update: TrackUpdate,
    message_id: MessageId,
    held_at: Timestamp,
}

/// An item a recipient holds until a fresh grant-standing statement
/// releases it or a revocation refuses it (ids only, no content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldView {
    /// A delivery or a track update.
    pub kind: HeldKind,
    /// The report id, or the track id.
    pub id: String,
    /// The report's revision, or the track update's sequence number.
    pub revision: u32,
    /// The party whose grant it came under.
    pub originator: Party,
    /// The grant.
    pub grant_id: String,
    /// When it arrived, by this node's clock.
    pub held_at: Timestamp,
    /// When the newest statement this node holds for the grant was issued
    /// (the originator's clock), if it holds one.
    pub statement_issued_at: Option<Timestamp>,
}

/// The paging cursor of a held item: `delivery:<report id>.r<revision>` or
/// `track:<track id>` (the kind first, so that the two never collide).
pub fn held_cursor(h: &HeldView) -> String {
    match h.kind {
        HeldKind::Delivery => format!("delivery:{}.r{}", h.id, h.revision),
        HeldKind::Track => format!("track:{}", h.id),
    }
}

/// What a [`held_cursor`] names (`None`: not a held cursor).
enum HeldCursor {
    Delivery((ReportId, u32)),
    Track(TrackId),
}

fn parse_held_cursor(cursor: &str) -> Option<HeldCursor> {
    if let Some(rest) = cursor.strip_prefix("delivery:") {
        return parse_inbox_cursor(rest).map(HeldCursor::Delivery);
    }
    let id = cursor.strip_prefix("track:")?;
    TrackId::new(id).ok().map(HeldCursor::Track)
}

impl Node {
    /// Items held for want of a fresh grant-standing statement, in arrival
    /// order (deliveries first, then tracks): all of them (see
    /// [`Node::held_page`] for a page).
    pub fn held(&self) -> Vec<HeldView> {
        self.held_rows(0, 0).collect()
    }

    /// One page of [`Node::held`]: at most `limit` items after the cursor
    /// `after` (a previous page's `next_after`, [`held_cursor`]), found by
    /// index. A cursor naming an item released since (a fresh statement
    /// came) or never held is an [`CommandError::UnknownCursor`]: what it
    /// named is gone, so the list is read again from its start.
    pub fn held_page(&self, after: Option<&str>, limit: usize) -> Result<Page<HeldView>, CommandError> {
        let (deliveries_from, tracks_from) = match after.map(|c| (c, parse_held_cursor(c))) {
            None => (0, 0),
            Some((c, None)) => return Err(unknown_cursor(c)),
            Some((c, Some(HeldCursor::Delivery(key)))) => {
                (self.freshness.held.get_index_of(&key).ok_or_else(|| unknown_cursor(c))? + 1, 0)
            }
            Some((c, Some(HeldCursor::Track(id)))) => (
                self.freshness.held.len(),
                self.freshness.held_tracks.get_index_of(&id).ok_or_else(|| unknown_cursor(c))? + 1,
            ),
        };
        Ok(paginate(self.held_rows(deliveries_from, tracks_from), limit, |h| Some((held_cursor(&h), h))))
    }

    /// The held items from these positions on: deliveries, then tracks.
    fn held_rows(&self, deliveries_from: usize, tracks_from: usize) -> impl Iterator<Item = HeldView> + '_ {
        let issued = |g: &str| self.freshness.statements.get(g).map(|s| s.doc.issued_at);
        let deliveries = self.freshness.held.get_range(deliveries_from..).into_iter().flat_map(|s| s.values());
        let deliveries = deliveries.map(move |h| HeldView {
            kind: HeldKind::Delivery,
            id: h.received.header.id.to_string(),
            revision: h.received.header.revision,
            originator: h.received.header.originator,
            grant_id: h.grant_id.clone(),
            held_at: h.received.received_at,
            statement_issued_at: issued(&h.grant_id),
        });
        let tracks = self.freshness.held_tracks.get_range(tracks_from..).into_iter().flat_map(|s| s.values());
        let tracks = tracks.filter_map(move |h| {
            let g = h.update.consent.as_ref()?;
            Some(HeldView {
                kind: HeldKind::Track,
                id: h.update.doc.track_id.to_string(),
                revision: h.update.doc.seq,
                originator: h.update.doc.originator,
                grant_id: g.doc.grant_id.clone(),
                held_at: h.held_at,
                statement_issued_at: issued(&g.doc.grant_id),
            })
        });
        deliveries.chain(tracks)
    }

    /// How many items are held (see [`Node::held`]).
    pub fn held_count(&self) -> usize {
        self.freshness.held.len() + self.freshness.held_tracks.len()
    }

    // ------------------------------------------------------------ originator

    /// Originator: signs and sends a statement that `grant_id` still stands.
    pub(super) fn issue_standing(&mut self, now: Timestamp, grant: &Grant) {
        let id = &grant.doc.grant_id;
        let seq = self.freshness.statements.get(id).map_or(1, |s| s.doc.seq.saturating_add(1));
        let doc = StandingDoc {
            grant_id: id.clone(),
            grant_sha256: sign::sha256(&grant.signed.bytes),
            originator: self.party,
            seq,
            issued_at: now,
        };
        let signed = self.identity.sign(doc.to_bytes());
        let s = Standing { doc, signed };
        self.freshness.statements.insert(id.clone(), s.clone());
        self.send(now, Party::HUB, Payload::Standing(s));
    }

    /// When the next statement of `g` (one of this party's grants) is due:
    /// `None` once it is revoked or lapses before then.
    fn standing_due(&self, g: &Grant) -> Option<Timestamp> {
        if g.doc.originator != self.party
            || self.revoked.contains(&g.doc.grant_id)
            || self.freshness.lapsed.contains(&g.doc.grant_id)
        {
            return None;
        }
        let period = u64::try_from(self.policy.standing_period().as_millis()).unwrap_or(u64::MAX);
        let due = match self.freshness.statements.get(&g.doc.grant_id) {
            Some(s) => s.doc.issued_at.saturating_add(std::time::Duration::from_millis(period)),
            None => Timestamp(0),
        };
        g.doc.not_after.is_none_or(|t| due < t).then_some(due)
    }

    /// The core's next timer for statements: the earliest statement due
    /// (originator), or the earliest lapse of a grant something is held
    /// under (recipient).
    pub(super) fn standing_timeout(&self) -> Option<Timestamp> {
        let due = self.grants.values().filter_map(|g| self.standing_due(&g.grant));
        let lapses = self.held_grants().into_iter().filter_map(|g| g.doc.not_after);
        due.chain(lapses).min()
    }

    /// Timer: issues every statement due at `now`, and refuses what is held
    /// under a grant that has lapsed.
    pub(super) fn standing_on_timeout(&mut self, now: Timestamp) {
        let due: Vec<Grant> = self
            .grants
            .values()
            .filter(|g| self.standing_due(&g.grant).is_some_and(|t| t <= now))
            .map(|g| g.grant.clone())
            .collect();
        for g in due {
            if g.doc.not_after.is_some_and(|t| t <= now) {
                // Lapsed while the timer was late: it stands no more.
                self.freshness.lapsed.insert(g.doc.grant_id);
            } else {
                self.issue_standing(now, &g);
            }
        }
        let lapsed: Vec<String> = self
            .held_grants()
            .into_iter()
            .filter(|g| g.doc.not_after.is_some_and(|t| t <= now))
            .map(|g| g.doc.grant_id.clone())
            .collect();
        for id in lapsed {
            self.settle_held(now, &id);
        }
    }

    /// The grants revisions of report `id` are held under.
    pub(super) fn held_grants_of(&self, id: &ReportId) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in self.freshness.held.values().filter(|h| h.received.header.id == *id) {
            if !out.contains(&h.grant_id) {
                out.push(h.grant_id.clone());
            }
        }
        out
    }

    /// The grants something is held under (each once).
    fn held_grants(&self) -> Vec<&Grant> {
        let mut out: Vec<&Grant> = Vec::new();
        let from_deliveries = self.freshness.held.values().filter_map(|h| match h.received.consent.as_deref() {
            Some(Consent::Grant(g)) => Some(&**g),
            _ => None,
        });
        let from_tracks = self.freshness.held_tracks.values().filter_map(|h| h.update.consent.as_ref());
        for g in from_deliveries.chain(from_tracks) {
            if !out.iter().any(|o| o.doc.grant_id == g.doc.grant_id) {
                out.push(g);
            }
        }
        out
    }

    /// Reconciliation: the newest statement of every grant that still
    /// stands, to `link` (originator: to the hub; hub: to the grant's recipient).
    pub(super) fn standing_to_resend(&self, link: Party) -> Vec<Payload> {
        self.freshness
            .statements
            .values()
            .filter(|s| !self.revoked.contains(&s.doc.grant_id))
            .filter(|s| match self.party.is_hub() {
                true => s.doc.originator.other_nation() == Some(link),
                // A nation's own only (not those it received as a recipient).
                false => s.doc.originator == self.party,
            })
            .map(|s| Payload::Standing(s.clone()))
            .collect()
    }

    // ------------------------------------------------------------------- hub

    /// Checks a statement's signature (the originator's node key) and that
    /// its fields are the signed document's.
    fn verify_standing(&self, s: &Standing) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "standing statement", why };
        sign::verify(&self.policy, s.doc.originator, KeyRole::Node, &s.signed).map_err(bad)?;
        if StandingDoc::parse(&s.signed.bytes).map_err(bad)? != s.doc
            || !s.doc.grant_id.starts_with(&format!("{}-", s.doc.originator.code()))
        {
            return Err(bad(sign::SigError::Mismatch("standing statement")));
        }
        Ok(())
    }

    /// Keeps `s` if it is the newest of its grant; whether it is.
    fn keep_newest(&mut self, s: &Standing) -> bool {
        if self.freshness.statements.get(&s.doc.grant_id).is_some_and(|old| old.doc.seq >= s.doc.seq) {
            return false; // a duplicate or an older one: the newest stands
        }
        self.freshness.statements.insert(s.doc.grant_id.clone(), s.clone());
        true
    }

    pub(super) fn hub_on_standing(&mut self, now: Timestamp, link: Party, s: Standing) -> Result<(), RejectReason> {
        if s.doc.originator != link {
            return Err(RejectReason::UnexpectedMessage { kind: "standing", link });
        }
        self.verify_standing(&s)?;
        if self.revoked.contains(&s.doc.grant_id) || !self.keep_newest(&s) {
            return Ok(());
        }
        if let Some(third) = link.other_nation() {
            self.send(now, third, Payload::Standing(s));
        }
        Ok(())
    }

    // ------------------------------------------------------------- recipient

    pub(super) fn recipient_on_standing(&mut self, now: Timestamp, s: Standing) -> Result<(), RejectReason> {
        if Some(s.doc.originator) != self.party.other_nation() {
            return Err(RejectReason::UnexpectedMessage { kind: "standing", link: Party::HUB });
        }
        self.verify_standing(&s)?;
        if self.keep_newest(&s) {
            self.settle_held(now, &s.doc.grant_id);
        }
        Ok(())
    }

    /// Whether this node holds a statement for exactly `g`, fresh at `now`.
    pub(super) fn standing_fresh(&self, g: &Grant, now: Timestamp) -> bool {
        self.freshness
            .statements
            .get(&g.doc.grant_id)
            .is_some_and(|s| super::lane::statement_stands_for(s, g, now, self.policy.standing_window))
    }

    /// Recipient: whether the delivery `key` is held, and if so whether the
    /// one held is `same` (decided by the caller's comparison).
    pub(super) fn held_delivery(&self, key: &(ReportId, u32)) -> Option<&Received> {
        self.freshness.held.get(key).map(|h| &h.received)
    }

    /// Recipient: holds a verified delivery (its body is stashed by the caller).
    pub(super) fn hold_delivery(
        &mut self,
        message_id: MessageId,
        received: Received,
        title: Option<Sensitive>,
        grant_id: String,
    ) {
        let key = (received.header.id.clone(), received.header.revision);
        self.events.push_back(Event::Held {
            kind: HeldKind::Delivery,
            id: key.0.to_string(),
            revision: key.1,
            originator: received.header.originator,
            grant_id: grant_id.clone(),
        });
        self.freshness.held.insert(key, HeldDelivery { received, title, message_id, grant_id });
    }

    /// Recipient: holds a verified track update under `grant_id`, unless a
    /// newer one of its track is held already.
    pub(super) fn hold_track(&mut self, now: Timestamp, message_id: MessageId, update: TrackUpdate, grant_id: String) {
        let id = update.doc.track_id.clone();
        if self.freshness.held_tracks.get(&id).is_some_and(|h| h.update.doc.seq >= update.doc.seq) {
            return;
        }
        self.events.push_back(Event::Held {
            kind: HeldKind::Track,
            id: id.to_string(),
            revision: update.doc.seq,
            originator: update.doc.originator,
            grant_id,
        });
        self.freshness.held_tracks.insert(id, HeldTrack { update, message_id, held_at: now });
    }

    /// Recipient: takes a delivery in (event, signed receipt to the hub,
    /// inbox); its body is already stored.
    pub(super) fn take_in(&mut self, now: Timestamp, mut received: Received, title: Option<Sensitive>) {
        let h = received.header.clone();
        self.events.push_back(Event::Received {
            header: h.clone(),
            basis: received.basis,
            tearline_only: received.tearline_only,
            title,
        });
        // The shell logged this input before applying it, so it is committed:
        // sign a receipt (ids and the manifest's hash only) for the originator.
        received.received_at = now;
        let receipt = self.signed_receipt(self.receipt_doc(&received));
        self.send(now, Party::HUB, Payload::Receipt(receipt));
        self.inbox.insert((h.id, h.revision), received);
    }

    /// Recipient: the receipt document for a delivery taken in, derived
    /// from what the inbox keeps (so the same delivery arriving again gets
    /// a receipt for the same document, byte for byte, without a copy of
    /// every receipt kept in memory).
    pub(super) fn receipt_doc(&self, received: &Received) -> sign::ReceiptDoc {
        sign::ReceiptDoc {
            report_id: received.header.id.clone(),
            revision: received.header.revision,
            recipient: self.party,
            manifest_sha256: received.manifest_sha256,
            received_at: received.received_at,
        }
    }

    /// `doc` as a receipt, signed with the next batch.
    pub(super) fn signed_receipt(&mut self, doc: sign::ReceiptDoc) -> Receipt {
        let signed = self.sign_later(doc.to_bytes());
        Receipt { doc, signed, audit_head: None }
    }

    /// Recipient: releases what is held under `grant_id` if a fresh
    /// statement for it is held, or refuses it if the grant was revoked,
    /// has lapsed, or (for a report) the report was retracted.
    pub(super) fn settle_held(&mut self, now: Timestamp, grant_id: &str) {
        let keys: Vec<(ReportId, u32)> =
            self.freshness.held.iter().filter(|(_, h)| h.grant_id == grant_id).map(|(k, _)| k.clone()).collect();
        for key in keys {
            let Some(h) = self.freshness.held.get(&key) else { continue };
            let Some(Consent::Grant(g)) = h.received.consent.as_deref() else { continue };
            let verdict = if self.revoked.contains(grant_id) || !g.doc.covers(&h.received.header, self.party, now) {
                Some(Err(RejectReason::GrantNotValid(grant_id.to_owned())))
            } else if self.retractions.contains_key(&key.0) {
                Some(Err(RejectReason::Retracted(key.0.clone())))
            } else if self.standing_fresh(g, now) {
                Some(Ok(()))
            } else {
                None // still held
            };
            let Some(verdict) = verdict else { continue };
            let Some(h) = self.freshness.held.shift_remove(&key) else { continue };
            match verdict {
                Ok(()) => self.take_in(now, h.received, h.title),
                Err(reason) => self.refuse_held(now, "delivery", h.message_id, Some(key.0), reason),
            }
        }
        let tracks: Vec<TrackId> = self
            .freshness
            .held_tracks
            .iter()
            .filter(|(_, h)| h.update.consent.as_ref().is_some_and(|g| g.doc.grant_id == grant_id))
            .map(|(k, _)| k.clone())
            .collect();
        for id in tracks {
            let Some(h) = self.freshness.held_tracks.get(&id) else { continue };
            let Some(g) = h.update.consent.as_ref() else { continue };
            let verdict = if self.revoked.contains(grant_id) || !g.doc.covers_track(&h.update.doc, self.party, now) {
                Some(Err(RejectReason::GrantNotValid(grant_id.to_owned())))
            } else if self.standing_fresh(g, now) {
                Some(Ok(()))
            } else {
                None
            };
            let Some(verdict) = verdict else { continue };
            let Some(h) = self.freshness.held_tracks.shift_remove(&id) else { continue };
            match verdict {
                Ok(()) if self.track_is_stale(&h.update) => {} // a newer update arrived meanwhile
                Ok(()) => {
                    self.tracks.insert(id, TrackEntry { update: h.update.clone(), received_at: now });
                    self.events.push_back(Event::TrackUpdated { update: Box::new(h.update) });
                }
                Err(reason) => self.refuse_held(now, "track", h.message_id, None, reason),
            }
        }
    }

    /// Refuses a held item as any refused message is refused: a rejection
    /// to the hub (ids only) and the event.
    fn refuse_held(
        &mut self,
        now: Timestamp,
        kind: &'static str,
        message_id: MessageId,
        report_id: Option<ReportId>,
        reason: RejectReason,
    ) {
        let rejection = Rejection {
            refers_to: message_id.clone(),
            code: reason.code().to_owned(),
            detail: reason.to_string(),
            report_id,
            request_id: None,
        };
        self.send(now, Party::HUB, Payload::Rejection(rejection));
        self.events.push_back(Event::Rejected { link: Party::HUB, kind, message_id, reason });
    }
}
