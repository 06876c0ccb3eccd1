//! Live missile-warning tracks: forwarded by the hub only under the
//! originator's standing grant, never by a release request.

mod common;

use common::*;

fn pt(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint { lat_e6: (lat * 1e6).round() as i32, lon_e6: (lon * 1e6).round() as i32 }
}

fn tdraft(id: &str, seq: u32, classification: Classification, rel_to: &str) -> TrackDraft {
    TrackDraft {
        track_id: TrackId::new(id).unwrap(),
        seq,
        classification,
        releasable_to: rel(rel_to),
        launch: pt(39.03, 125.75),
        launched_at: Timestamp(T0),
        position: pt(39.5 + f64::from(seq) * 0.1, 127.0 + f64::from(seq) * 0.2),
        altitude_m: 50_000 * seq as i32,
        observed_at: Timestamp(T0 + u64::from(seq) * 10 * SECOND),
        impact: Some(pt(40.8, 135.2)),
    }
}

fn missile_grant(sim: &mut Sim, p: Party, id: &str, max: Classification) {
    let doc = sim.grant_doc(p, id, &[Category::NkMissile], max, false);
    sim.grant(p, doc).unwrap();
    sim.drive();
}

fn tracks_at(sim: &Sim, p: Party) -> Vec<TrackEntry> {
    all_pages(|after| sim.node(p).tracks(after, 1000))
}

fn track_updates(sim: &Sim, p: Party) -> Vec<(String, u32)> {
    sim.events(p)
        .iter()
        .filter_map(|e| match e {
            Event::TrackUpdated { update } => Some((update.doc.track_id.to_string(), update.doc.seq)),
            _ => None,
        })
        .collect()
}

fn tracks_sent(sim: &Sim, from: Party, to: Party) -> Vec<TrackUpdate> {
    sim.sent(from, to)
        .into_iter()
        .filter_map(|e| match &e.payload {
            Payload::Track(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn forwarded_under_a_standing_grant_and_latest_state_kept() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.advance(SECOND);
    for seq in 1..=3 {
        sim.track(KR, tdraft("KR-T-1", seq, Classification::Secret, "USA,JPN")).unwrap();
        sim.drive();
    }
    assert_eq!(track_updates(&sim, JP), vec![("KR-T-1".into(), 1), ("KR-T-1".into(), 2), ("KR-T-1".into(), 3)]);
    let jp = tracks_at(&sim, JP);
    assert_eq!(jp.len(), 1);
    assert_eq!(jp[0].update.doc.seq, 3);
    assert_eq!(jp[0].update.doc.position, tdraft("KR-T-1", 3, Classification::Secret, "").position);
    assert_eq!(jp[0].update.consent.as_ref().map(|g| g.doc.grant_id.as_str()), Some("KR-G-1"));
    assert_eq!(tracks_at(&sim, US)[0].update.doc.seq, 3);
    assert_eq!(tracks_at(&sim, KR)[0].update.doc.seq, 3);
    // No release request was ever opened for a track.
    assert!(sim.sent(US, KR).iter().all(|e| !matches!(e.payload, Payload::ReleaseRequest(_))));
    assert!(sim.rejected(JP).is_empty() && sim.rejected(US).is_empty());
}

/// Tracks page one at a time in order of first appearance, each page
/// right after its cursor; a cursor naming no track is refused.
#[test]
fn tracks_page_in_order_of_first_appearance() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.advance(SECOND);
    for (id, seq) in [("KR-T-3", 1), ("KR-T-1", 1), ("KR-T-2", 1), ("KR-T-1", 2), ("KR-T-3", 2)] {
        sim.track(KR, tdraft(id, seq, Classification::Secret, "USA,JPN")).unwrap();
        sim.drive();
    }
    for p in [KR, US, JP] {
        let one_by_one: Vec<(String, u32)> = all_pages(|after| sim.node(p).tracks(after, 1))
            .iter()
            .map(|t| (t.update.doc.track_id.to_string(), t.update.doc.seq))
            .collect();
        assert_eq!(one_by_one, [("KR-T-3".into(), 2), ("KR-T-1".into(), 2), ("KR-T-2".into(), 1)], "{p}");
        let after_last = sim.node(p).tracks(Some("KR-T-2"), 1).unwrap();
        assert!(after_last.items.is_empty() && after_last.next_after.is_none());
        assert_eq!(sim.node(p).tracks(Some("KR-T-9"), 1), Err(CommandError::UnknownCursor("KR-T-9".into())));
    }
}

/// The windows `p` recorded: `(link, track, first, last, updates, grant)`.
fn windows_at(sim: &Sim, p: Party) -> Vec<(Party, String, u32, u32, u32, Option<String>)> {
    sim.events(p)
        .iter()
        .filter_map(|e| match e {
            Event::TrackWindow { link, track_id, first_seq, last_seq, updates, grant_id } => {
                Some((*link, track_id.to_string(), *first_seq, *last_seq, *updates, grant_id.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_track_window_takes_its_latest_by_the_same_rules_and_records_its_range() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.advance(SECOND);
    for seq in 1..=3 {
        sim.track(KR, tdraft("KR-T-1", seq, Classification::Secret, "USA,JPN")).unwrap();
    }
    // The hub commits KR's three updates as one window: the latest is
    // kept and forwarded (once), the window recorded.
    let ups: Vec<Envelope> = std::iter::from_fn(|| sim.take_next(KR, US)).collect();
    assert_eq!(ups.len(), 3);
    sim.window(US, KR, ups[2].clone(), 1, 3);
    assert_eq!(tracks_at(&sim, US)[0].update.doc.seq, 3);
    assert_eq!(tracks_sent(&sim, US, JP).iter().map(|t| t.doc.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(windows_at(&sim, US), [(KR, "KR-T-1".into(), 1, 3, 3, None)]);
    // JP commits the hub's forward as a window: checked again, under the grant.
    let down = sim.take_next(US, JP).unwrap();
    sim.window(JP, US, down.clone(), 2, 2);
    assert_eq!(tracks_at(&sim, JP)[0].update.doc.seq, 3);
    assert_eq!(track_updates(&sim, JP), [("KR-T-1".into(), 3)]);
    assert_eq!(windows_at(&sim, JP), [(US, "KR-T-1".into(), 2, 3, 2, Some("KR-G-1".into()))]);
    // A window of a stale update changes nothing (latest wins), recorded all the same.
    sim.window(JP, US, down, 3, 1);
    assert_eq!(track_updates(&sim, JP).len(), 1);
    assert_eq!(windows_at(&sim, JP).len(), 2);
    // A window is judged as its latest message is: once the grant is
    // revoked, an update under it is refused, and the state stays.
    sim.track(KR, tdraft("KR-T-1", 4, Classification::Secret, "USA,JPN")).unwrap();
    sim.step_link(KR, US).unwrap();
    let under_revoked = sim.take_next(US, JP).unwrap();
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    sim.window(JP, US, under_revoked.clone(), 4, 1);
    assert!(matches!(sim.rejected(JP).last(), Some(RejectReason::GrantNotValid(id)) if id == "KR-G-1"));
    assert_eq!(tracks_at(&sim, JP)[0].update.doc.seq, 3);
    // Control: the same update before the revocation is taken.
    let mut control = Sim::new();
    missile_grant(&mut control, KR, "KR-G-1", Classification::Secret);
    control.advance(SECOND);
    control.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    control.step_link(KR, US).unwrap();
    let fresh = control.take_next(US, JP).unwrap();
    control.window(JP, US, fresh, 1, 1);
    assert_eq!(tracks_at(&control, JP).len(), 1, "the control: a window under a standing grant is taken");
}

#[test]
fn without_a_grant_a_track_stays_with_the_hub() {
    let mut sim = Sim::new();
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert_eq!(tracks_at(&sim, US).len(), 1, "the hub holds it");
    assert!(tracks_sent(&sim, US, JP).is_empty());
    assert!(tracks_at(&sim, JP).is_empty());
    assert!(sim.sent(US, KR).iter().all(|e| !matches!(e.payload, Payload::ReleaseRequest(_))), "no request");
    // A grant for nuclear only, or to a tearline only, does not cover it either.
    let doc = sim.grant_doc(KR, "KR-G-N", &[Category::NkNuclear], Classification::Secret, false);
    sim.grant(KR, doc).unwrap();
    let doc = sim.grant_doc(KR, "KR-G-T", &[Category::NkMissile], Classification::Secret, true);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    sim.track(KR, tdraft("KR-T-1", 2, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert!(tracks_sent(&sim, US, JP).is_empty());
}

#[test]
fn revocation_stops_forwarding_at_once() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert_eq!(tracks_sent(&sim, US, JP).len(), 1);
    // An update in flight when the grant is revoked is refused by JP.
    sim.track(KR, tdraft("KR-T-1", 2, Classification::Secret, "USA,JPN")).unwrap();
    sim.step_link(KR, US).unwrap();
    let in_flight = sim.take_next(US, JP).unwrap();
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    sim.inject(JP, US, in_flight);
    assert!(sim.rejected(JP).iter().any(|r| matches!(r, RejectReason::GrantNotValid(id) if id == "KR-G-1")));
    // Nothing more is forwarded.
    sim.track(KR, tdraft("KR-T-1", 3, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert_eq!(tracks_sent(&sim, US, JP).len(), 2);
    assert_eq!(tracks_at(&sim, JP)[0].update.doc.seq, 1);
    assert_eq!(tracks_at(&sim, US)[0].update.doc.seq, 3);
}

#[test]
fn scope_ceiling_and_releasable_to_are_enforced() {
    // Over the ceiling: refused at the command.
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::TopSecret);
    assert!(matches!(
        sim.track(KR, tdraft("KR-T-1", 1, Classification::TopSecret, "USA,JPN")),
        Err(CommandError::AboveCeiling { .. })
    ));
    // Not releasable to JP: held by the hub, never forwarded.
    sim.track(KR, tdraft("KR-T-2", 1, Classification::Secret, "USA")).unwrap();
    sim.drive();
    assert!(tracks_sent(&sim, US, JP).is_empty());
    assert_eq!(tracks_at(&sim, US).len(), 1);

    // JP's ceiling lower than KR's: the hub does not forward.
    let low = Policy { jp_ceiling: Classification::Confidential, ..Policy::default() };
    let mut sim = Sim::with_policy(low);
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert!(tracks_sent(&sim, US, JP).is_empty());

    // NK_MISSILE out of scope (hub's policy): nothing forwarded.
    let nuclear_only = Policy { scope: vec![Category::NkNuclear], ..Policy::default() };
    let mut sim = Sim::with_policies(Policy::default(), nuclear_only, Policy::default());
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.drive();
    assert!(tracks_sent(&sim, US, JP).is_empty());
}

#[test]
fn recipient_rechecks_scope_ceiling_and_releasable_to() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::TopSecret);
    let grant = sim.grants(KR)[0].grant.clone();
    let now = sim.now;
    let make = |seq: u32, classification: Classification, rel_to: &str| {
        let d = tdraft("KR-T-9", seq, classification, rel_to);
        let doc = TrackDoc {
            track_id: d.track_id,
            seq,
            originator: KR,
            classification,
            releasable_to: rel(rel_to),
            launch: d.launch,
            launched_at: d.launched_at,
            position: d.position,
            altitude_m: d.altitude_m,
            observed_at: d.observed_at,
            impact: d.impact,
            issued_at: now,
        };
        let signed = node_key(KR).sign(doc.to_bytes());
        TrackUpdate { doc, signed, consent: Some(grant.clone()) }
    };
    let cases = [
        (make(1, Classification::TopSecret, "USA,JPN"), "NOT_RELEASABLE"),
        (make(2, Classification::Secret, "USA"), "NOT_RELEASABLE"),
        (TrackUpdate { consent: None, ..make(3, Classification::Secret, "USA,JPN") }, "NO_CONSENT"),
    ];
    for (i, (t, code)) in cases.into_iter().enumerate() {
        sim.inject(JP, US, envelope(US, &format!("US.x.{i}"), now, Payload::Track(t)));
        assert_eq!(sim.rejected(JP).last().map(|r| r.code()), Some(code));
    }
    assert!(tracks_at(&sim, JP).is_empty());
    // A recipient whose policy leaves NK_MISSILE out of scope refuses it too.
    let nuclear_only = Policy { scope: vec![Category::NkNuclear], ..Policy::default() };
    let mut sim2 = Sim::with_policies(Policy::default(), Policy::default(), nuclear_only);
    sim2.inject(JP, US, envelope(US, "US.x.9", now, Payload::Track(make(4, Classification::Secret, "USA,JPN"))));
    assert!(matches!(
        sim2.rejected(JP).last(),
        Some(RejectReason::TrackNotReleasable { why: NotReleasable::OutOfScope(Category::NkMissile), .. })
    ));
    // The good one is accepted.
    sim.inject(JP, US, envelope(US, "US.x.ok", now, Payload::Track(make(5, Classification::Secret, "USA,JPN"))));
    assert_eq!(tracks_at(&sim, JP).len(), 1);
}

#[test]
fn forged_or_tampered_tracks_are_refused_at_the_recipient() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.step_link(KR, US).unwrap();
    let good = tracks_sent(&sim, US, JP).pop().unwrap();
    let now = sim.now;
    let send = |sim: &mut Sim, i: u32, t: TrackUpdate| {
        sim.inject(JP, US, envelope(US, &format!("US.f.{i}"), now, Payload::Track(t)));
    };
    // The hub moves the position (fields no longer match the signed document).
    let mut moved = good.clone();
    moved.doc.position.lat_e6 += 1;
    moved.doc.seq = 2;
    send(&mut sim, 1, moved);
    // The hub re-signs a new document with its own key, claiming KR's name.
    let mut forged = good.clone();
    forged.doc.seq = 3;
    forged.signed = Identity::from_seed("kr-node", [9; 32]).sign(forged.doc.to_bytes());
    send(&mut sim, 2, forged);
    // A document signed by the US node key, claiming KR originated it.
    let mut us_signed = good.clone();
    us_signed.doc.seq = 4;
    us_signed.signed = node_key(US).sign(us_signed.doc.to_bytes());
    send(&mut sim, 3, us_signed);
    // A forged grant.
    let mut bad_grant = good.clone();
    let mut g = bad_grant.consent.clone().unwrap();
    g.signed = rogue("kim").sign(g.doc.to_bytes());
    bad_grant.consent = Some(g);
    send(&mut sim, 4, bad_grant);
    let codes: Vec<&str> = sim.rejected(JP).iter().map(|r| r.code()).collect();
    assert_eq!(codes, ["UNVERIFIED", "UNVERIFIED", "UNVERIFIED", "UNVERIFIED"]);
    assert!(tracks_at(&sim, JP).is_empty());
    // The genuine one is accepted.
    sim.drive();
    assert_eq!(tracks_at(&sim, JP).len(), 1);
    // A JP track sent back to JP is refused as its own.
    let mut own = Sim::new();
    own.track(JP, tdraft("JP-T-1", 1, Classification::Secret, "USA,KOR")).unwrap();
    let t = tracks_sent(&own, JP, US).pop().unwrap();
    own.inject(JP, US, envelope(US, "US.o.1", now, Payload::Track(t)));
    assert_eq!(own.rejected(JP).last().map(|r| r.code()), Some("BAD_TRACK"));
}

#[test]
fn stale_and_duplicate_sequence_numbers_are_ignored() {
    let mut sim = Sim::new();
    missile_grant(&mut sim, KR, "KR-G-1", Classification::Secret);
    sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")).unwrap();
    sim.track(KR, tdraft("KR-T-1", 2, Classification::Secret, "USA,JPN")).unwrap();
    // Re-submitting the same update is a no-op; an older one is refused.
    assert!(sim.track(KR, tdraft("KR-T-1", 2, Classification::Secret, "USA,JPN")).unwrap().duplicate);
    assert!(matches!(
        sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "USA,JPN")),
        Err(CommandError::StaleTrack { latest: 2, .. })
    ));
    let kr_to_us = sim.in_flight(KR, US);
    assert_eq!(kr_to_us.len(), 2);
    // Deliver seq 2 before seq 1, and each twice.
    sim.drop_link(KR, US);
    for env in [&kr_to_us[1], &kr_to_us[1], &kr_to_us[0], &kr_to_us[0]] {
        sim.inject(US, KR, env.clone());
    }
    sim.drive_twice();
    assert!(sim.rejected(US).is_empty() && sim.rejected(JP).is_empty());
    assert_eq!(tracks_sent(&sim, US, JP).iter().map(|t| t.doc.seq).collect::<Vec<_>>(), [2]);
    assert_eq!(track_updates(&sim, JP), [("KR-T-1".to_owned(), 2)]);
    assert_eq!(tracks_at(&sim, JP)[0].update.doc.seq, 2);
}

#[test]
fn the_hubs_own_tracks_go_bilaterally_per_releasable_to() {
    let mut sim = Sim::new();
    sim.track(US, tdraft("US-T-1", 1, Classification::Secret, "KOR")).unwrap();
    sim.drive();
    assert_eq!(tracks_at(&sim, KR).len(), 1);
    assert!(tracks_at(&sim, JP).is_empty());
    assert!(matches!(
        sim.track(US, tdraft("KR-T-1", 1, Classification::Secret, "KOR")),
        Err(CommandError::BadTrackIdPrefix { .. })
    ));
    assert!(matches!(
        sim.track(KR, tdraft("KR-T-1", 1, Classification::Secret, "JPN")),
        Err(CommandError::MustIncludeHub { .. })
    ));
}

#[test]
fn track_documents_are_canonical() {
    let d = TrackDoc {
        track_id: TrackId::new("KR-T-1").unwrap(),
        seq: 7,
        originator: KR,
        classification: Classification::Secret,
        releasable_to: rel("USA,JPN"),
        launch: pt(39.03, 125.75),
        launched_at: Timestamp(T0),
        position: pt(-1.5, -170.25),
        altitude_m: -3,
        observed_at: Timestamp(T0 + 1),
        impact: None,
        issued_at: Timestamp(T0 + 2),
    };
    let b = d.to_bytes();
    assert_eq!(TrackDoc::parse(&b).unwrap(), d);
    let s = String::from_utf8(b).unwrap();
    assert!(TrackDoc::parse(s.replace("seq=7", "seq=07").as_bytes()).is_err());
    assert!(TrackDoc::parse(s.replace("NK_MISSILE", "NK_NUCLEAR").as_bytes()).is_err());
}
