//! The hub's own reports go to each nation bilaterally, per releasable-to and
//! each link's ceiling.

use super::*;

#[test]
fn us_reports_go_bilaterally_per_releasable_to() {
    let mut sim = Sim::new();
    let s1 = sim.submit(US, "US-0001", draft(Other, Secret, "KOR", "u1")).unwrap();
    let s2 = sim.submit(US, "US-0002", draft(NkNuclear, Confidential, "JPN", "u2")).unwrap();
    let s3 = sim.submit(US, "US-0003", draft(NkMissile, Unclassified, "USA,KOR,JPN", "u3")).unwrap();
    assert!(s1.notes.is_empty() && s2.notes.is_empty() && s3.notes.is_empty());
    assert_eq!(s3.header.releasable_to, rel("KOR,JPN"));
    sim.drive();
    assert_eq!(requests_sent(&sim), 0, "the hub's own reports need no one's consent");

    let kr: Vec<_> = sim.inbox(KR).into_iter().map(|e| e.delivery).collect();
    let jp: Vec<_> = sim.inbox(JP).into_iter().map(|e| e.delivery).collect();
    assert_eq!(kr.iter().map(|d| d.header.id.as_str()).collect::<Vec<_>>(), ["US-0001", "US-0003"]);
    assert_eq!(jp.iter().map(|d| d.header.id.as_str()).collect::<Vec<_>>(), ["US-0002", "US-0003"]);
    for (d, tag) in kr.iter().zip(["u1", "u3"]).chain(jp.iter().zip(["u2", "u3"])) {
        assert_eq!(d.basis, Basis::Bilateral);
        assert_eq!(d.request_id, None);
        assert_eq!(d.released, Released::Full(content(tag, true)));
    }
    assert_eq!(sim.received(KR).len(), 2);
    assert_eq!(sim.received(JP).len(), 2);

    let st = sim.status(US);
    assert_eq!(st.len(), 3);
    assert!(st.iter().all(|s| s.hub == HubState::Own));
    assert_eq!(st[2].recipients.get(&KR), Some(&RecipientState::Delivered { tearline_only: false }));
    assert_eq!(st[2].recipients.get(&JP), Some(&RecipientState::Delivered { tearline_only: false }));
    assert_eq!(st[0].recipients.keys().copied().collect::<Vec<_>>(), [KR]);

    // Ceiling per link, checked at submit.
    assert_eq!(
        sim.submit(US, "US-0004", draft(NkMissile, TopSecret, "KOR", "u4")),
        Err(CommandError::AboveCeiling { classification: TopSecret, ceiling: Secret, hub: US, nation: KR })
    );
    assert_eq!(sim.submit(US, "US-0005", draft(NkMissile, Secret, "USA", "u5")), Err(CommandError::NoRecipient));
    let r = rid("US-0001", 1, KR);
    assert_eq!(sim.approve(US, &r, false), Err(CommandError::HubCannotDecide));
    assert_eq!(sim.deny(US, &r, "no"), Err(CommandError::HubCannotDecide));
    assert_eq!(sim.in_flight_total(), 0);
}

#[test]
fn us_reports_respect_each_links_ceiling() {
    let mut sim = Sim::with_policy(Policy { jp_ceiling: Confidential, ..Policy::default() });
    assert_eq!(
        sim.submit(US, "US-0001", draft(NkMissile, Secret, "KOR,JPN", "a")),
        Err(CommandError::AboveCeiling { classification: Secret, ceiling: Confidential, hub: US, nation: JP })
    );
    assert!(sim.log().is_empty());
    sim.submit(US, "US-0002", draft(NkMissile, Secret, "KOR", "b")).unwrap();
    sim.submit(US, "US-0003", draft(NkMissile, Confidential, "KOR,JPN", "c")).unwrap();
    sim.drive();
    assert!(sim.has(KR, "US-0002", 1) && sim.has(KR, "US-0003", 1) && sim.has(JP, "US-0003", 1));
    assert_eq!(sim.inbox(JP).len(), 1);

    // JP refuses a hand-made bilateral delivery above its link's ceiling.
    let now = sim.now;
    let d = bilateral(&signed_report(
        ReportHeader {
            id: report_id("US-0009"),
            revision: 1,
            originator: US,
            created_at: now,
            category: Other,
            classification: Secret,
            releasable_to: rel("JPN"),
        },
        content("z", true),
    ));
    let reason = expect_rejected(&mut sim, JP, US, envelope(US, "US.x.1", now, Payload::Delivery(d)), "NOT_RELEASABLE");
    assert!(matches!(reason, RejectReason::NotReleasable { why: NotReleasable::AboveCeiling { .. }, .. }));
}
