//! Revocation that does not trust the hub: a delivery or track under a
//! standing grant is taken only with a fresh statement, signed by the
//! originator's node, that the grant still stands; otherwise it is held
//! (committed, neither in the inbox nor refused) until a fresh statement
//! releases it or a revocation refuses it. Each refusal or hold is paired
//! with its control: the same attempt taken where only the freshness differs.

use super::*;
use tisa_core::sign::{ReceiptDoc, StandingDoc};

/// The agreed window (the default policy's: 60 s) and its third.
const WINDOW: u64 = 60 * SECOND;
const PERIOD: u64 = 20 * SECOND;

fn held(sim: &Sim, p: Party) -> Vec<(HeldKind, String)> {
    sim.node(p).held().into_iter().map(|h| (h.kind, h.id)).collect()
}

/// Statements `p` put on the wire.
fn statements_from(sim: &Sim, p: Party) -> Vec<Standing> {
    sim.log()
        .iter()
        .filter(|s| s.from == p)
        .filter_map(|s| match &s.transmit.envelope.payload {
            Payload::Standing(st) => Some(st.clone()),
            _ => None,
        })
        .collect()
}

/// Receipts KR recorded.
fn receipts(sim: &Sim) -> Vec<ReceiptDoc> {
    sim.events(KR)
        .iter()
        .filter_map(|e| match e {
            Event::ReceiptReceived { receipt, .. } => Some(receipt.clone()),
            _ => None,
        })
        .collect()
}

/// KR's missile grant, issued now and delivered everywhere (with its first statement).
fn kr_grant(sim: &mut Sim) -> GrantDoc {
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    sim.grant(KR, doc.clone()).unwrap();
    sim.drive();
    doc
}

#[test]
fn the_originator_states_its_grant_stands_at_once_then_every_third_of_the_window_until_revoked() {
    let mut sim = Sim::new();
    assert_eq!(sim.node(KR).policy().standing_window, std::time::Duration::from_millis(WINDOW));
    assert_eq!(sim.node(KR).poll_timeout(), None, "no grant, no statement timer");
    kr_grant(&mut sim);
    let first = statements_from(&sim, KR);
    assert_eq!(first.len(), 1, "one statement right after the grant");
    assert_eq!((first[0].doc.seq, first[0].doc.issued_at), (1, sim.now));
    assert_eq!(first[0].doc.grant_sha256, tisa_core::sign::sha256(&sim.grants(KR)[0].grant.signed.bytes));
    assert_eq!(sim.node(KR).poll_timeout(), Some(Timestamp(sim.now.0 + PERIOD)));
    // The hub passed it on to the recipient, unchanged.
    assert_eq!(statements_from(&sim, US), first);
    for _ in 0..3 {
        sim.advance(PERIOD);
    }
    let seqs: Vec<u64> = statements_from(&sim, KR).iter().map(|s| s.doc.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    assert_eq!(sim.node(KR).poll_timeout(), None, "none after a revocation");
    sim.advance(10 * WINDOW);
    assert_eq!(statements_from(&sim, KR).len(), 4);
    // A lapsing grant: none at or after its lapse.
    let mut lapsing = sim.grant_doc(KR, "KR-G-2", &[NkMissile], Secret, false);
    lapsing.not_after = Some(Timestamp(sim.now.0 + PERIOD + 1));
    sim.grant(KR, lapsing).unwrap();
    sim.advance(PERIOD);
    sim.advance(PERIOD);
    let g2: Vec<_> = statements_from(&sim, KR).into_iter().filter(|s| s.doc.grant_id == "KR-G-2").collect();
    assert_eq!(g2.len(), 2, "at issue and one period later, not after the lapse");
    assert_eq!(sim.node(KR).poll_timeout(), None);
}

#[test]
fn a_delivery_without_a_fresh_statement_is_held_then_released_by_a_fresh_one() {
    // Control: within the window a covered report goes straight in.
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    sim.advance_without_timers(WINDOW);
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(held(&sim, JP).is_empty());

    // One millisecond past it (KR's timer late, or its statements lost),
    // the same report is held: committed, not in the inbox, not refused.
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    sim.advance_without_timers(WINDOW + 1);
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 1));
    assert_eq!(held(&sim, JP), [(HeldKind::Delivery, "KR-0001".to_owned())]);
    assert!(sim.rejected(JP).is_empty());
    assert!(sim.events(JP).iter().any(|e| matches!(e, Event::Held { grant_id, .. } if grant_id == "KR-G-1")));
    assert_eq!(sim.node(JP).held()[0].statement_issued_at, Some(Timestamp(T0)));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(receipts(&sim).is_empty(), "no receipt while held");
    // The same delivery again (the hub reconciling) stays held, once.
    sim.link_up(US, JP);
    sim.drive();
    assert_eq!(held(&sim, JP).len(), 1);
    assert!(sim.rejected(JP).is_empty());

    // KR's timer fires: a fresh statement releases it, exactly once, with a receipt.
    sim.fire_timers();
    sim.drive();
    assert!(held(&sim, JP).is_empty());
    assert_eq!(sim.inbox(JP).iter().filter(|e| e.delivery.header.id.as_str() == "KR-0001").count(), 1);
    assert_eq!(sim.inbox(JP)[0].delivery.released, Released::Full(content("a", true)));
    let received = sim.events(JP).iter().filter(|e| matches!(e, Event::Received { .. })).count();
    assert_eq!(received, 1);
    assert_eq!(receipts(&sim).len(), 1);
    sim.link_up(US, JP);
    sim.drive();
    assert_eq!(sim.events(JP).iter().filter(|e| matches!(e, Event::Received { .. })).count(), 1);
    assert!(sim.rejected(JP).is_empty());
}

#[test]
fn a_withheld_revocation_lets_the_hub_use_the_grant_for_at_most_one_window() {
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    let t_revoke = sim.now;
    sim.revoke(KR, "KR-G-1").unwrap();
    // The hub withholds the revocation (here: it is lost on KR's link) and
    // goes on forwarding under the grant.
    let withheld = sim.drop_link(KR, US);
    assert!(withheld.iter().any(|e| matches!(e.payload, Payload::Revocation(_))));
    // Within the window: JP still takes a report KR submitted after revoking
    // (the bound the window gives, and this test's control).
    sim.advance(WINDOW / 2);
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "after revoking")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1), "within the window the grant still works");
    // Past the window: held, whatever the hub does, for as long as it likes.
    sim.advance(WINDOW / 2 + 1);
    sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "later")).unwrap();
    sim.drive();
    for _ in 0..10 {
        sim.advance(WINDOW);
        sim.link_up(US, JP);
        sim.drive();
    }
    assert!(!sim.has(JP, "KR-0002", 1));
    assert_eq!(held(&sim, JP), [(HeldKind::Delivery, "KR-0002".to_owned())]);
    assert!(statements_from(&sim, KR).iter().all(|s| s.doc.issued_at <= t_revoke), "KR stated nothing since");
    // The revocation arrives at last (KR reconciles): the held report is refused.
    sim.link_up(KR, US);
    sim.drive();
    assert!(held(&sim, JP).is_empty());
    assert!(!sim.has(JP, "KR-0002", 1));
    assert_eq!(
        sim.rejected(JP).into_iter().cloned().collect::<Vec<_>>(),
        [RejectReason::GrantNotValid("KR-G-1".into())]
    );
    let to_hub: Vec<Rejection> = sim
        .sent_to(US)
        .into_iter()
        .filter_map(|e| match &e.payload {
            Payload::Rejection(r) if e.sender == JP => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert!(to_hub.iter().any(|r| r.code == "GRANT_NOT_VALID" && r.report_id == Some(report_id("KR-0002"))));
}

#[test]
fn only_a_statement_by_the_originators_node_for_exactly_that_grant_counts() {
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    sim.advance_without_timers(WINDOW + 1);
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert_eq!(held(&sim, JP).len(), 1);
    let genuine = statements_from(&sim, KR)[0].doc.clone();
    let fresh = StandingDoc { seq: 9, issued_at: sim.now, ..genuine.clone() };
    let sent = |sim: &mut Sim, n: u32, doc: &StandingDoc, key: &Identity| {
        let s = Standing { doc: doc.clone(), signed: key.sign(doc.to_bytes()) };
        sim.inject(JP, US, envelope(US, &format!("US.st.{n}"), sim.now, Payload::Standing(s)));
    };
    // Signed by the hub's node, or by KR's approver: refused.
    sent(&mut sim, 1, &fresh, &node_key(US));
    sent(&mut sim, 2, &fresh, &approver(KR, 0));
    assert_eq!(sim.rejected(JP).len(), 2);
    // KR's node, but for another grant document under the same id: no release.
    let other = StandingDoc { grant_sha256: [7; 32], ..fresh.clone() };
    sent(&mut sim, 3, &other, &node_key(KR));
    assert_eq!(held(&sim, JP).len(), 1);
    assert!(!sim.has(JP, "KR-0001", 1));
    // Issued too far in the future (beyond the window of JP's clock): not fresh.
    let future = StandingDoc { seq: 20, issued_at: Timestamp(sim.now.0 + WINDOW + 1), ..genuine.clone() };
    sent(&mut sim, 4, &future, &node_key(KR));
    assert_eq!(held(&sim, JP).len(), 1);
    // Control: the genuine, fresh one releases it (skew within the window is absorbed).
    let skewed = StandingDoc { seq: 21, issued_at: Timestamp(sim.now.0 + WINDOW / 2), ..genuine };
    sent(&mut sim, 5, &skewed, &node_key(KR));
    assert!(held(&sim, JP).is_empty());
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn a_track_without_a_fresh_statement_is_held_newest_only_then_released_or_refused() {
    let track = |seq: u32| TrackDraft {
        track_id: TrackId::new("KR-T-1").unwrap(),
        seq,
        classification: Secret,
        releasable_to: rel("USA,JPN"),
        launch: GeoPoint { lat_e6: 39_030_000, lon_e6: 125_750_000 },
        launched_at: Timestamp(T0),
        position: GeoPoint { lat_e6: 39_500_000, lon_e6: 127_000_000 + seq as i32 },
        altitude_m: 1000 * seq as i32,
        observed_at: Timestamp(T0 + u64::from(seq)),
        impact: None,
    };
    // Control: fresh, straight in.
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    sim.track(KR, track(1)).unwrap();
    sim.drive();
    assert_eq!(sim.node(JP).tracks(None, 10).unwrap().items.len(), 1);
    // Stale: held, the newest update only.
    sim.advance_without_timers(WINDOW + 1);
    sim.track(KR, track(2)).unwrap();
    sim.track(KR, track(3)).unwrap();
    sim.drive();
    assert_eq!(held(&sim, JP), [(HeldKind::Track, "KR-T-1".to_owned())]);
    assert_eq!(sim.node(JP).held()[0].revision, 3);
    assert_eq!(sim.node(JP).tracks(None, 10).unwrap().items[0].update.doc.seq, 1);
    // A fresh statement releases it.
    sim.fire_timers();
    sim.drive();
    assert!(held(&sim, JP).is_empty());
    assert_eq!(sim.node(JP).tracks(None, 10).unwrap().items[0].update.doc.seq, 3);
    // Stale again, then revoked: refused.
    sim.advance_without_timers(WINDOW + 1);
    sim.track(KR, track(4)).unwrap();
    sim.drive();
    assert_eq!(held(&sim, JP).len(), 1);
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    assert!(held(&sim, JP).is_empty());
    assert_eq!(sim.node(JP).tracks(None, 10).unwrap().items[0].update.doc.seq, 3);
    assert!(sim.rejected(JP).iter().any(|r| matches!(r, RejectReason::GrantNotValid(_))));
}

#[test]
fn what_is_held_under_a_lapsing_grant_is_refused_when_it_lapses() {
    let mut sim = Sim::new();
    let mut doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let lapse = Timestamp(sim.now.0 + 2 * WINDOW);
    doc.not_after = Some(lapse);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    sim.advance_without_timers(WINDOW + 1);
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert_eq!(held(&sim, JP).len(), 1);
    // JP's timer is the lapse (nothing else is due at JP).
    assert_eq!(sim.node(JP).poll_timeout(), Some(lapse));
    // KR's timer is late past the lapse: KR states nothing more, JP refuses what it held.
    sim.advance(WINDOW);
    sim.drive();
    assert_eq!(statements_from(&sim, KR).len(), 1);
    assert_eq!(sim.node(KR).poll_timeout(), None);
    assert!(held(&sim, JP).is_empty());
    assert!(!sim.has(JP, "KR-0001", 1));
    assert_eq!(
        sim.rejected(JP).into_iter().cloned().collect::<Vec<_>>(),
        [RejectReason::GrantNotValid("KR-G-1".into())]
    );
}

#[test]
fn the_hub_sends_the_newest_statement_again_when_a_link_comes_back() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.step_link(KR, US);
    sim.step_link(KR, US);
    let lost = sim.drop_link(US, JP);
    assert!(lost.iter().any(|e| matches!(e.payload, Payload::Standing(_))));
    sim.drive();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert_eq!(held(&sim, JP).len(), 1, "JP never had a statement");
    sim.link_up(US, JP);
    sim.drive();
    assert!(held(&sim, JP).is_empty());
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn what_is_held_is_listed_page_by_page_deliveries_then_tracks() {
    let track = |id: &str| TrackDraft {
        track_id: TrackId::new(id).unwrap(),
        seq: 1,
        classification: Secret,
        releasable_to: rel("USA,JPN"),
        launch: GeoPoint { lat_e6: 39_030_000, lon_e6: 125_750_000 },
        launched_at: Timestamp(T0),
        position: GeoPoint { lat_e6: 39_500_000, lon_e6: 127_000_000 },
        altitude_m: 1000,
        observed_at: Timestamp(T0 + 1),
        impact: None,
    };
    let mut sim = Sim::new();
    kr_grant(&mut sim);
    sim.advance_without_timers(WINDOW + 1);
    for n in 1..=4 {
        sim.submit(KR, &format!("KR-000{n}"), draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    }
    sim.track(KR, track("KR-T-1")).unwrap();
    sim.track(KR, track("KR-T-2")).unwrap();
    sim.drive();
    let all = sim.node(JP).held();
    let ids: Vec<&str> = all.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["KR-0001", "KR-0002", "KR-0003", "KR-0004", "KR-T-1", "KR-T-2"]);
    // Every page size reads the whole list once, in order; the cursors name their kind.
    for limit in 1..=7 {
        let (mut got, mut after, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let page = sim.node(JP).held_page(after.as_deref(), limit).unwrap();
            pages += 1;
            assert!(pages <= all.len() + 1, "limit {limit}: paging does not end (a cursor that does not advance)");
            assert!(page.items.len() <= limit);
            if let Some(n) = &page.next_after {
                assert_eq!(n, &tisa_core::held_cursor(page.items.last().unwrap()));
            }
            got.extend(page.items);
            match page.next_after {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(got, all, "limit {limit}");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}: no empty last page");
    }
    let after_d2 = sim.node(JP).held_page(Some("delivery:KR-0002.r1"), 2).unwrap();
    assert_eq!(after_d2.items, all[2..4]);
    assert_eq!(after_d2.next_after.as_deref(), Some("delivery:KR-0004.r1"));
    let after_t1 = sim.node(JP).held_page(Some("track:KR-T-1"), 5).unwrap();
    assert_eq!((after_t1.items.as_slice(), after_t1.next_after), (&all[5..], None));
    // Not a held cursor, or one naming nothing held: refused, saying which.
    for bad in ["KR-0002.r1", "delivery:KR-0002", "delivery:KR-0009.r1", "track:KR-T-9", "track:", "report:KR-0001.r1"]
    {
        let e = sim.node(JP).held_page(Some(bad), 2).unwrap_err();
        assert!(matches!(&e, CommandError::UnknownCursor(c) if c == bad), "{bad}: {e:?}");
    }
    // A fresh statement releases them all: a cursor naming one is refused
    // now (what it named is gone), where it was taken above (the control).
    sim.fire_timers();
    sim.drive();
    assert!(sim.node(JP).held().is_empty());
    let e = sim.node(JP).held_page(Some("delivery:KR-0002.r1"), 2).unwrap_err();
    assert!(matches!(e, CommandError::UnknownCursor(_)), "{e:?}");
    assert_eq!(sim.node(JP).held_page(None, 2).unwrap(), tisa_core::Page { items: vec![], next_after: None });
}
