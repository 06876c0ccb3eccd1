//! Consent as the recipient checks it: deliveries forged by the hub are
//! refused.

use super::*;

#[test]
fn a_delivery_forged_by_the_hub_without_krs_decision_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = sim.report_sent("KR-0001", 1);
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            ("full, no consent", trilateral(&r, JP, false, None), "NO_CONSENT"),
            ("tearline, no consent", trilateral(&r, JP, true, None), "NO_CONSENT"),
        ],
    );
    // Not after KR approves either: the hub may not drop the consent.
    sim.approve(KR, &rid("KR-0001", 1, JP), true).unwrap();
    let Payload::ReleaseDecision(_) = sim.in_flight(KR, US)[0].payload else { panic!() };
    hub_forgeries_refused(&mut sim, JP, vec![("full, no consent", trilateral(&r, JP, false, None), "NO_CONSENT")]);
    sim.drive();
    assert_eq!(sim.inbox(JP).len(), 1);
    assert!(matches!(sim.inbox(JP)[0].delivery.released, Released::Tearline(_)));
}

#[test]
fn a_decision_signed_by_the_wrong_key_is_refused_by_the_recipient() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = sim.report_sent("KR-0001", 1);
    let now = sim.now;
    let doc = |operator: &str| decision_doc(&r.manifest, "KR-0001", 1, JP, Verdict::ApproveFull, now, operator);
    let with = |doc: DecisionDoc, signer: &Identity| {
        trilateral(&r, JP, false, Some(Consent::Decision(Box::new(signed_decision(&doc, signer)))))
    };
    let genuine = signed_decision(&doc("kim"), &approver(KR, 0));
    let mut tampered = genuine.clone();
    tampered.signed.bytes = doc("kim").to_bytes().into_iter().map(|b| if b == b'9' { b'8' } else { b }).collect();
    tampered.signed.bytes = DecisionDoc { decided_at: Timestamp(now.0 + 1), ..doc("kim") }.to_bytes();
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            ("a JP approver", with(doc("sato"), &approver(JP, 0)), "UNVERIFIED"),
            ("a hub approver", with(doc("smith"), &approver(US, 1)), "UNVERIFIED"),
            ("KR's node key", with(doc("kr-node"), &node_key(KR)), "UNVERIFIED"),
            ("the hub's node key", with(doc("us-node"), &node_key(US)), "UNVERIFIED"),
            ("an impostor named kim", with(doc("kim"), &rogue("kim")), "UNVERIFIED"),
            ("park signing as kim", with(doc("kim"), &approver(KR, 1)), "UNVERIFIED"),
            (
                "kim's signature over other bytes",
                trilateral(&r, JP, false, Some(Consent::Decision(Box::new(tampered)))),
                "UNVERIFIED",
            ),
            (
                "unsigned",
                {
                    let mut d = genuine.clone();
                    d.signed.signature = [0; 64];
                    trilateral(&r, JP, false, Some(Consent::Decision(Box::new(d))))
                },
                "UNVERIFIED",
            ),
        ],
    );
    // The same document, signed by KR's approver, is consent (the recipient
    // needs nothing else); KR's own approval then is a mere duplicate.
    let d = with(doc("kim"), &approver(KR, 0));
    sim.inject(JP, US, envelope(US, "US.ok.1", now, Payload::Delivery(d)));
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(sim.rejected(JP).len() == 8);
}

#[test]
fn a_decision_replayed_for_another_report_revision_or_recipient_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "r1");
    kr_report_requested(&mut sim, "KR-0002", "b");
    kr_report_requested(&mut sim, "KR-0003", "c");
    sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j1")).unwrap();
    sim.submit(JP, "JP-0002", draft(NkMissile, Secret, "USA,KOR", "j2")).unwrap();
    sim.drive();
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.deny(KR, &rid("KR-0003", 1, JP), "protect the source").unwrap();
    sim.approve(JP, &rid("JP-0001", 1, KR), false).unwrap();
    sim.drive();
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "r2")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1) && sim.has(KR, "JP-0001", 1));
    let now = sim.now;

    let r1_ok = sim.decisions_sent("KR-0001", 1).pop().unwrap();
    let kr3_deny = sim.decisions_sent("KR-0003", 1).pop().unwrap();
    let jp1_ok = sim.decisions_sent("JP-0001", 1).pop().unwrap();
    let (r1, r2) = (sim.report_sent("KR-0001", 1), sim.report_sent("KR-0001", 2));
    let (kr2, kr3) = (sim.report_sent("KR-0002", 1), sim.report_sent("KR-0003", 1));
    let jp2 = sim.report_sent("JP-0002", 1);
    let with = |r: &Report, tearline: bool, d: &ReleaseDecision| {
        trilateral(r, JP, tearline, Some(Consent::Decision(Box::new(d.clone()))))
    };
    // KR's approver signs for other recipients (KR never asked to, but it is KR's signature).
    let for_recipient = |p: Party| {
        let mut doc = decision_doc(&kr2.manifest, "KR-0002", 1, p, Verdict::ApproveFull, now, "kim");
        doc.request_id = rid("KR-0002", 1, JP);
        signed_decision(&doc, &approver(KR, 0))
    };
    let other_request = {
        let mut doc = decision_doc(&kr2.manifest, "KR-0002", 1, JP, Verdict::ApproveFull, now, "kim");
        doc.request_id = rid("KR-0001", 1, JP);
        signed_decision(&doc, &approver(KR, 0))
    };
    let other_manifest = signed_decision(
        &decision_doc(&r1.manifest, "KR-0002", 1, JP, Verdict::ApproveFull, now, "kim"),
        &approver(KR, 0),
    );
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            ("KR-0001's approval on KR-0002", with(&kr2, false, &r1_ok), "UNVERIFIED"),
            ("revision 1's approval on revision 2", with(&r2, false, &r1_ok), "UNVERIFIED"),
            ("a denial as consent", with(&kr3, false, &kr3_deny), "UNVERIFIED"),
            ("a denial as tearline consent", with(&kr3, true, &kr3_deny), "UNVERIFIED"),
            ("JP's approval of its own report", with(&kr2, false, &jp1_ok), "UNVERIFIED"),
            ("an approval for the hub", with(&kr2, false, &for_recipient(US)), "UNVERIFIED"),
            ("an approval for KR itself", with(&kr2, false, &for_recipient(KR)), "UNVERIFIED"),
            ("an approval naming another request", with(&kr2, false, &other_request), "UNVERIFIED"),
            ("an approval of another manifest", with(&kr2, false, &other_manifest), "UNVERIFIED"),
        ],
    );
    // And towards KR: JP-0001's approval replayed for JP-0002.
    let to_kr = Delivery {
        request_id: Some(rid("JP-0002", 1, KR)),
        ..trilateral(&jp2, KR, false, Some(Consent::Decision(Box::new(jp1_ok.clone()))))
    };
    hub_forgeries_refused(&mut sim, KR, vec![("JP-0001's approval on JP-0002", to_kr, "UNVERIFIED")]);
    assert_eq!(sim.inbox(JP).len(), 1);
    assert_eq!(sim.inbox(KR).len(), 1);
    // KR's own approval of revision 2 still works.
    sim.approve(KR, &rid("KR-0001", 2, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 2));
    assert!(!sim.has(JP, "KR-0002", 1) && !sim.has(JP, "KR-0003", 1) && !sim.has(KR, "JP-0002", 1));
}

#[test]
fn the_released_form_must_match_the_consent() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = sim.report_sent("KR-0001", 1);
    let now = sim.now;
    let full = kr_approval(&r.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let tear = kr_approval(&r.manifest, "KR-0001", 1, Verdict::ApproveTearline, now);
    let grant = |id: &str, tearline_only: bool| {
        let mut doc = sim.grant_doc(KR, id, &[NkMissile], Secret, tearline_only);
        doc.issued_at = Timestamp(now.0 - 1);
        Consent::Grant(grant_msg(&doc, &approver(KR, 0)).into())
    };
    let (full_grant, tearline_grant) = (grant("KR-G-1", false), grant("KR-G-2", true));
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            ("full approval, tearline released", trilateral(&r, JP, true, Some(full)), "UNVERIFIED"),
            ("tearline approval, everything released", trilateral(&r, JP, false, Some(tear)), "UNVERIFIED"),
            ("full grant, tearline released", trilateral(&r, JP, true, Some(full_grant)), "GRANT_NOT_VALID"),
            ("tearline grant, everything released", trilateral(&r, JP, false, Some(tearline_grant)), "GRANT_NOT_VALID"),
        ],
    );
}
