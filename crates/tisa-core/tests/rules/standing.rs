//! Standing grants: consent given in advance, revocable at once.

use super::*;

#[test]
fn a_standing_grant_releases_covered_reports_without_a_request() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    assert_eq!(sim.grant(KR, doc.clone()), Ok(doc.clone()));
    assert_eq!(sim.grants(KR).len(), 1);
    assert!(!sim.grants(KR)[0].revoked);
    sim.drive();
    assert_eq!(sim.grants(US).iter().map(|g| (&g.grant.doc, g.revoked)).collect::<Vec<_>>(), [(&doc, false)]);
    // JP learns only that the grant stands (KR's signed statement), nothing else.
    assert!(sim.sent_to(JP).iter().all(|e| matches!(e.payload, Payload::Standing(_))), "{:?}", sim.sent_to(JP));
    assert!(sim.events(JP).is_empty() && sim.inbox(JP).is_empty());

    // Covered: forwarded as soon as the hub holds it, nobody asked.
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "g1")).unwrap();
    sim.drive();
    assert!(opened(&sim).is_empty());
    assert_eq!(requests_sent(&sim), 0);
    assert!(sim.pending(KR).is_empty());
    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].delivery.header, sub.header);
    assert_eq!(inbox[0].delivery.released, Released::Full(content("g1", true)));
    assert_eq!(inbox[0].delivery.basis, Basis::Trilateral);
    assert_eq!(inbox[0].delivery.request_id, Some(rid("KR-0001", 1, JP)));
    assert_eq!(grant_of(&sim, JP, "KR-0001").map(|g| g.doc), Some(doc.clone()));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Forwarded { tearline_only: false }));

    // Not covered: another category, or the other nation's reports: a request as usual.
    sim.submit(KR, "KR-0002", draft(NkNuclear, Secret, "USA,JPN", "g2")).unwrap();
    sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j1")).unwrap();
    // Never beyond releasable-to or the policy.
    sim.submit(KR, "KR-0003", draft(NkMissile, Secret, "USA", "g3")).unwrap();
    sim.submit(KR, "KR-0004", draft(Other, Secret, "USA,JPN", "g4")).unwrap();
    sim.drive();
    assert_eq!(
        opened(&sim).iter().map(|r| r.request_id.clone()).collect::<Vec<_>>(),
        [rid("KR-0002", 1, JP), rid("JP-0001", 1, KR)]
    );
    assert_eq!(sim.inbox(JP).len(), 1);
    assert!(sim.inbox(KR).is_empty());

    // A narrower grant: NK_NUCLEAR up to CONFIDENTIAL, lapsing in an hour.
    let mut narrow = sim.grant_doc(KR, "KR-G-2", &[NkNuclear], Confidential, false);
    narrow.not_after = Some(Timestamp(sim.now.0 + HOUR));
    sim.grant(KR, narrow).unwrap();
    sim.submit(KR, "KR-0005", draft(NkNuclear, Secret, "USA,JPN", "g5")).unwrap();
    sim.submit(KR, "KR-0006", draft(NkNuclear, Confidential, "USA,JPN", "g6")).unwrap();
    sim.drive();
    assert!(!sim.has(JP, "KR-0005", 1));
    assert!(sim.has(JP, "KR-0006", 1));
    sim.advance(HOUR);
    sim.submit(KR, "KR-0007", draft(NkNuclear, Confidential, "USA,JPN", "g7")).unwrap();
    sim.drive();
    assert!(!sim.has(JP, "KR-0007", 1), "the grant lapsed");
    assert!(opened(&sim).iter().any(|r| r.request_id == rid("KR-0007", 1, JP)));

    // A tearline-only grant from JP: the tearline alone; a report without one waits for a request.
    sim.grant(JP, sim.grant_doc(JP, "JP-G-1", &[NkMissile, NkNuclear], Secret, true)).unwrap();
    sim.submit(JP, "JP-0002", draft(NkMissile, Secret, "USA,KOR", "j2")).unwrap();
    sim.submit(JP, "JP-0003", draft_no_tearline(NkMissile, Secret, "USA,KOR", "j3")).unwrap();
    sim.drive();
    let kr = sim.inbox(KR);
    assert_eq!(kr.len(), 1);
    assert_eq!(kr[0].delivery.released, Released::Tearline(content("j2", true).tearline.unwrap()));
    assert_eq!(sim.recipient_state(JP, "JP-0002", 1, KR), Some(RecipientState::Delivered { tearline_only: true }));
    assert!(opened(&sim).iter().any(|r| r.request_id == rid("JP-0003", 1, KR)));
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?}: {:?}", sim.rejected(p));
    }
}

#[test]
fn revoking_a_grant_stops_forwards_and_the_recipient_refuses_deliveries_under_it() {
    let mut sim = Sim::new();
    sim.grant(KR, sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false)).unwrap();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    let g = grant_of(&sim, JP, "KR-0001").unwrap();

    // A report sent before the revocation still goes (the hub sees it first); one sent after does not.
    sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    let doc = sim.revoke(KR, "KR-G-1").unwrap();
    assert_eq!((doc.grant_id.as_str(), doc.originator), ("KR-G-1", KR));
    assert!(sim.grants(KR)[0].revoked);
    sim.submit(KR, "KR-0003", draft(NkMissile, Secret, "USA,JPN", "c")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0002", 1));
    assert!(!sim.has(JP, "KR-0003", 1));
    assert!(sim.grants(US)[0].revoked);
    assert_eq!(opened(&sim).iter().map(|r| r.request_id.clone()).collect::<Vec<_>>(), [rid("KR-0003", 1, JP)]);
    // The hub told JP at once.
    assert!(sim.sent(US, JP).iter().any(|e| matches!(&e.payload, Payload::Revocation(r) if r.doc == doc)));
    assert!(sim.rejected(JP).is_empty());

    // A (compromised or lagging) hub's delivery under the revoked grant is refused.
    let r3 = sim.report_sent("KR-0003", 1);
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![(
            "KR-0003 under the revoked grant",
            trilateral(&r3, JP, false, Some(Consent::Grant(g.into()))),
            "GRANT_NOT_VALID",
        )],
    );
    // KR may still approve it item by item.
    sim.approve(KR, &rid("KR-0003", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0003", 1));

    // A delivery made under the grant that reaches JP after the revocation notice is refused.
    let mut sim = Sim::new();
    sim.grant(KR, sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false)).unwrap();
    sim.drive();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.step_link(KR, US).unwrap();
    let forwarded = sim.take_next(US, JP).expect("forwarded under the grant");
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
    expect_rejected(&mut sim, JP, US, forwarded, "GRANT_NOT_VALID");
    assert!(sim.inbox(JP).is_empty());
}

#[test]
fn grants_that_cannot_be_issued_are_refused() {
    let mut sim = Sim::new();
    let base = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let bad = |f: fn(&mut GrantDoc)| {
        let mut d = base.clone();
        f(&mut d);
        d
    };
    let bad_grant = |why: &'static str| Err(CommandError::BadGrant(why));
    assert_eq!(sim.grant(KR, bad(|d| d.recipient = US)), bad_grant("a grant's recipient must be the other nation"));
    assert_eq!(sim.grant(KR, bad(|d| d.recipient = KR)), bad_grant("a grant's recipient must be the other nation"));
    assert_eq!(
        sim.grant(KR, bad(|d| d.categories = vec![NkMissile, Other])),
        bad_grant("a grant covers only categories in the trilateral scope")
    );
    assert!(sim.grant(KR, bad(|d| d.categories = vec![])).is_err());
    assert_eq!(sim.grant(KR, bad(|d| d.originator = JP)), bad_grant("a grant's originator must be this party"));
    assert_eq!(
        sim.grant(KR, bad(|d| d.grant_id = "JP-G-1".into())),
        bad_grant("a grant id must start with this party's code")
    );
    assert_eq!(
        sim.grant(US, sim.grant_doc(US, "US-G-1", &[NkMissile], Secret, false)),
        bad_grant("the hub does not grant releases of national reports")
    );
    // Signed by a key that may not grant for KR.
    let signed_by = |id: &Identity| {
        let d = GrantDoc { operator: id.name().to_owned(), ..base.clone() };
        id.sign(d.to_bytes())
    };
    for id in [approver(JP, 0), approver(US, 0), node_key(KR), rogue("kim")] {
        let e = sim.grant_signed(KR, signed_by(&id)).unwrap_err();
        assert!(matches!(e, CommandError::Unverified { what: "grant", .. }), "{id:?}: {e:?}");
    }
    // An approver signing in another's name.
    let e = sim.grant_signed(KR, approver(KR, 1).sign(base.to_bytes())).unwrap_err();
    assert!(matches!(e, CommandError::Unverified { what: "grant", .. }), "{e:?}");
    assert!(sim.grants(KR).is_empty());
    assert!(sim.log().is_empty(), "a refused grant sends nothing");

    // A valid one, once.
    sim.grant(KR, base.clone()).unwrap();
    assert_eq!(sim.grant(KR, base.clone()), bad_grant("this grant id is already used"));
    // Revocations: of an unknown grant, or not by a KR approver.
    assert_eq!(sim.revoke(KR, "KR-G-9"), Err(CommandError::UnknownGrant("KR-G-9".into())));
    let rev = sim.revocation_doc(KR, "KR-G-1");
    for id in [approver(JP, 0), node_key(KR), rogue("kim")] {
        let doc = RevocationDoc { operator: id.name().to_owned(), ..rev.clone() };
        assert!(matches!(sim.revoke_signed(KR, id.sign(doc.to_bytes())), Err(CommandError::Unverified { .. })));
    }
    let other = RevocationDoc { originator: JP, ..rev.clone() };
    assert!(matches!(
        sim.revoke_signed(KR, approver(KR, 0).sign(other.to_bytes())),
        Err(CommandError::Unverified { .. })
    ));
    assert!(!sim.grants(KR)[0].revoked);
    let sent: Vec<&str> = sim.log().iter().map(|s| s.transmit.envelope.payload.kind()).collect();
    assert_eq!(sent, ["grant", "standing"], "only the valid grant (and the statement that it stands) was sent");
}

#[test]
fn the_hub_and_the_recipient_refuse_grants_and_revocations_that_do_not_verify() {
    let mut sim = Sim::new();
    let now = sim.now;
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let genuine = grant_msg(&doc, &approver(KR, 0));
    let cases: Vec<(Party, Party, Grant)> = vec![
        (KR, KR, grant_msg(&GrantDoc { operator: "sato".into(), ..doc.clone() }, &approver(JP, 0))),
        (KR, KR, grant_msg(&GrantDoc { operator: "kr-node".into(), ..doc.clone() }, &node_key(KR))),
        (KR, KR, grant_msg(&doc, &rogue("kim"))),
        (KR, KR, Grant { doc: GrantDoc { max_classification: TopSecret, ..doc.clone() }, ..genuine.clone() }),
        (KR, KR, grant_msg(&GrantDoc { recipient: US, ..doc.clone() }, &approver(KR, 0))),
        (KR, KR, grant_msg(&GrantDoc { recipient: KR, ..doc.clone() }, &approver(KR, 0))),
        (KR, KR, grant_msg(&GrantDoc { originator: JP, recipient: KR, ..doc.clone() }, &approver(KR, 0))),
        // KR's genuine grant, relayed by JP.
        (JP, JP, genuine.clone()),
    ];
    for (i, (sender, link, g)) in cases.into_iter().enumerate() {
        let env = envelope(sender, &format!("X.g.{i}"), now, Payload::Grant(g));
        let reason = expect_rejected(&mut sim, US, link, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "grant", .. }), "case {i}: {reason:?}");
    }
    assert!(sim.grants(US).is_empty());
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 1), "no grant took effect");
    assert_eq!(opened(&sim).len(), 1);

    // KR's real grant, then revocations it never signed.
    sim.grant(KR, doc.clone()).unwrap();
    sim.drive();
    let rev = sim.revocation_doc(KR, "KR-G-1");
    let cases: Vec<(Party, Revocation)> = vec![
        (KR, revocation_msg(&RevocationDoc { operator: "sato".into(), ..rev.clone() }, &approver(JP, 0))),
        (KR, revocation_msg(&rev, &rogue("kim"))),
        (
            KR,
            Revocation {
                doc: RevocationDoc { grant_id: "KR-G-2".into(), ..rev.clone() },
                ..revocation_msg(&rev, &approver(KR, 0))
            },
        ),
        (JP, revocation_msg(&rev, &approver(KR, 0))),
    ];
    for (i, (link, r)) in cases.into_iter().enumerate() {
        let env = envelope(link, &format!("X.r.{i}"), now, Payload::Revocation(r));
        let reason = expect_rejected(&mut sim, US, link, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "revocation", .. }), "case {i}: {reason:?}");
    }
    // At JP: a revocation of KR's grant not signed by KR, or of JP's own.
    let env = envelope(
        US,
        "US.r.1",
        now,
        Payload::Revocation(revocation_msg(
            &RevocationDoc { operator: "smith".into(), ..rev.clone() },
            &approver(US, 0),
        )),
    );
    expect_rejected(&mut sim, JP, US, env, "UNVERIFIED");
    let jp_rev = RevocationDoc { grant_id: "JP-G-1".into(), originator: JP, operator: "sato".into(), ..rev.clone() };
    let env = envelope(US, "US.r.2", now, Payload::Revocation(revocation_msg(&jp_rev, &approver(JP, 0))));
    expect_rejected(&mut sim, JP, US, env, "UNEXPECTED_MESSAGE");
    // The grant still works, end to end.
    assert!(!sim.grants(US)[0].revoked);
    sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0002", 1));
}

#[test]
fn a_nation_cannot_revoke_or_preempt_the_other_nations_grants() {
    let mut sim = Sim::new();
    let now = sim.now;
    sim.grant(KR, sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false)).unwrap();
    sim.drive();
    // JP's approver revokes KR's grant, and pre-empts the ids of KR's next ones.
    let jp = |grant_id: &str| RevocationDoc {
        grant_id: grant_id.into(),
        originator: JP,
        revoked_at: now,
        operator: "sato".into(),
    };
    for (i, id) in ["KR-G-1", "KR-G-2"].into_iter().enumerate() {
        let env =
            envelope(JP, &format!("JP.r.{i}"), now, Payload::Revocation(revocation_msg(&jp(id), &approver(JP, 0))));
        sim.inject(US, JP, env);
    }
    let squat = GrantDoc {
        originator: JP,
        recipient: KR,
        operator: "sato".into(),
        ..sim.grant_doc(KR, "KR-G-3", &[NkNuclear], Secret, true)
    };
    sim.inject(US, JP, envelope(JP, "JP.g.1", now, Payload::Grant(grant_msg(&squat, &approver(JP, 0)))));
    sim.drive();
    assert_eq!(sim.rejected(US).len(), 3, "{:?}", sim.rejected(US));
    assert!(sim.grants(US).iter().all(|g| !g.revoked && g.grant.doc.originator == KR));

    // KR's grants all work.
    sim.grant(KR, sim.grant_doc(KR, "KR-G-2", &[NkNuclear], Secret, false)).unwrap();
    sim.grant(KR, sim.grant_doc(KR, "KR-G-3", &[NkNuclear], Secret, false)).unwrap();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.submit(KR, "KR-0002", draft(NkNuclear, Secret, "USA,JPN", "b")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1) && sim.has(JP, "KR-0002", 1));
    assert_eq!(sim.grants(US).len(), 3);
    assert!(opened(&sim).is_empty());
}

#[test]
fn a_grant_that_does_not_cover_the_report_is_no_consent() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.submit(KR, "KR-0002", draft(NkNuclear, Confidential, "USA,JPN", "b")).unwrap();
    sim.drive();
    let (r1, r2) = (sim.report_sent("KR-0001", 1), sim.report_sent("KR-0002", 1));
    let base = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let kr = |d: GrantDoc| Some(Consent::Grant(grant_msg(&d, &approver(KR, 0)).into()));
    let nuclear_confidential =
        GrantDoc { categories: vec![NkNuclear], max_classification: Confidential, ..base.clone() };
    let lapsed = GrantDoc { not_after: Some(sim.now), ..base.clone() };
    let to_us = GrantDoc { recipient: US, ..base.clone() };
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            ("another category", trilateral(&r1, JP, false, kr(nuclear_confidential.clone())), "GRANT_NOT_VALID"),
            (
                "above its classification",
                trilateral(&r1, JP, false, kr(GrantDoc { max_classification: Confidential, ..base.clone() })),
                "GRANT_NOT_VALID",
            ),
            ("lapsed", trilateral(&r1, JP, false, kr(lapsed)), "GRANT_NOT_VALID"),
            ("for another recipient", trilateral(&r1, JP, false, kr(to_us)), "GRANT_NOT_VALID"),
            (
                "JP's grant for KR's report",
                trilateral(
                    &r1,
                    JP,
                    false,
                    Some(Consent::Grant(
                        grant_msg(&GrantDoc { operator: "sato".into(), ..base.clone() }, &approver(JP, 0)).into(),
                    )),
                ),
                "UNVERIFIED",
            ),
            (
                "signed by KR's node",
                trilateral(
                    &r1,
                    JP,
                    false,
                    Some(Consent::Grant(
                        grant_msg(&GrantDoc { operator: "kr-node".into(), ..base.clone() }, &node_key(KR)).into(),
                    )),
                ),
                "UNVERIFIED",
            ),
            (
                "a doc that is not what was signed",
                trilateral(
                    &r1,
                    JP,
                    false,
                    Some(Consent::Grant(
                        Grant { doc: base.clone(), ..grant_msg(&nuclear_confidential, &approver(KR, 0)) }.into(),
                    )),
                ),
                "GRANT_NOT_VALID",
            ),
        ],
    );
    // The covering grant is consent (the positive control), with KR's node's
    // statement that it stands.
    let g = grant_msg(&nuclear_confidential, &approver(KR, 0));
    let st = tisa_core::sign::StandingDoc {
        grant_id: g.doc.grant_id.clone(),
        grant_sha256: tisa_core::sign::sha256(&g.signed.bytes),
        originator: KR,
        seq: 1,
        issued_at: sim.now,
    };
    let st = Standing { signed: node_key(KR).sign(st.to_bytes()), doc: st };
    sim.inject(JP, US, envelope(US, "US.ok.0", sim.now, Payload::Standing(st)));
    sim.inject(
        JP,
        US,
        envelope(US, "US.ok.1", sim.now, Payload::Delivery(trilateral(&r2, JP, false, kr(nuclear_confidential)))),
    );
    assert!(sim.has(JP, "KR-0002", 1));
    assert!(!sim.has(JP, "KR-0001", 1));
}

#[test]
fn a_later_grant_does_not_release_reports_made_before_it() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    kr_report_requested(&mut sim, "KR-0002", "b");
    sim.deny(KR, &rid("KR-0001", 1, JP), "protect the source").unwrap();
    sim.drive();
    sim.advance(HOUR);
    sim.grant(KR, sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false)).unwrap();
    sim.drive();
    let g = sim.grants(KR)[0].grant.clone();
    // A hub pairing the new grant with reports made before it: the denied one,
    // and one still waiting for KR's decision.
    let (r1, r2) = (sim.report_sent("KR-0001", 1), sim.report_sent("KR-0002", 1));
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            (
                "denied, then a grant",
                trilateral(&r1, JP, false, Some(Consent::Grant(g.clone().into()))),
                "GRANT_NOT_VALID",
            ),
            (
                "pending, then a grant",
                trilateral(&r2, JP, false, Some(Consent::Grant(g.clone().into()))),
                "GRANT_NOT_VALID",
            ),
        ],
    );
    // A report made after it is covered.
    sim.submit(KR, "KR-0003", draft(NkMissile, Secret, "USA,JPN", "c")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0003", 1));
    assert!(!sim.has(JP, "KR-0001", 1) && !sim.has(JP, "KR-0002", 1));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
}
