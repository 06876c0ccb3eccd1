//! Keys and signed manifests: a node signs with its registered key; the hub
//! and the recipient refuse manifests or content that do not verify.

use super::*;

#[test]
fn a_node_signs_with_its_registered_node_key() {
    let policy = default_policy();
    for p in Party::ALL {
        assert!(Node::new(p, policy.clone(), 1, node_key(p)).is_ok());
    }
    let cases = [
        (KR, approver(KR, 0)),   // an approver key, not a node key
        (KR, node_key(JP)),      // another party's node key
        (US, node_key(KR)),      // another party's node key
        (KR, rogue("kr-node")),  // the right name, another key
        (JP, rogue("stranger")), // registered nowhere
    ];
    for (p, id) in cases {
        let err = Node::new(p, policy.clone(), 1, id.clone()).map(|_| ()).unwrap_err();
        assert_eq!(err, CommandError::UnregisteredNodeKey(id.name().to_owned()), "{p:?} {id:?}");
    }
    assert!(Node::new(KR, Policy::default(), 1, node_key(KR)).is_err(), "no keys registered at all");

    // What a node sends carries its node's signature over the canonical manifest.
    let mut sim = Sim::new();
    sim.submit(
        KR,
        "KR-0001",
        ReportDraft {
            submitted_by: "kim".into(),
            submitter_key: submitter_key(KR, "kim"),
            submission: None,
            ..draft(NkMissile, Secret, "USA,JPN", "m")
        },
    )
    .unwrap();
    sim.submit(
        KR,
        "KR-0002",
        ReportDraft { submitted_by: "not a name!".into(), submitter_key: None, ..draft(NkMissile, Secret, "USA", "n") },
    )
    .unwrap();
    for (id, submitter) in [("KR-0001", "kim"), ("KR-0002", "-")] {
        let r = sim.report_sent(id, 1);
        assert_eq!(r.manifest.signer, "kr-node");
        assert!(tisa_core::sign::verify(&sim.policy, KR, KeyRole::Node, &r.manifest).is_ok());
        let m = Manifest::parse(&r.manifest.bytes).unwrap();
        assert_eq!(m.header, r.header);
        assert_eq!(m.submitted_by, submitter);
        assert_eq!(m.submitter_key, submitter_key(KR, submitter.trim_start_matches('-')));
        assert!(m.check_content(&r.content).is_ok());
        assert!(!String::from_utf8(r.manifest.bytes.clone()).unwrap().contains("CANARY"), "hashes, not content");
    }
}

#[test]
fn the_hub_refuses_reports_whose_manifest_does_not_verify() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    let genuine = sim.take_next(KR, US).unwrap();
    let Payload::Report(r) = genuine.payload.clone() else { panic!() };
    let other = sim.report_sent("KR-0002", 1);
    let now = sim.now;
    let bytes = r.manifest.bytes.clone();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let re_signed = |h: &ReportHeader, c: &Content| manifest(h, c, CLERK, &node_key(KR));
    let with_manifest = |m: Signed| Report { manifest: m, ..r.clone() };
    let with_content = |f: fn(&mut Content)| {
        let mut x = r.clone();
        f(&mut x.content);
        x
    };
    let with_header = |f: fn(&mut ReportHeader)| {
        let mut x = r.clone();
        f(&mut x.header);
        x
    };
    let down_marked = {
        let mut h = r.header.clone();
        h.classification = Confidential;
        h
    };
    let cases: Vec<(&str, Report)> = vec![
        ("unsigned", with_manifest(Signed { signature: [0; 64], ..r.manifest.clone() })),
        ("signed by a KR approver", with_manifest(approver(KR, 0).sign(bytes.clone()))),
        ("signed by JP's node", with_manifest(node_key(JP).sign(bytes.clone()))),
        ("signed by the hub's node", with_manifest(node_key(US).sign(bytes.clone()))),
        ("signed by an impostor kr-node", with_manifest(rogue("kr-node").sign(bytes.clone()))),
        (
            "someone else's signature",
            with_manifest(Signed { signature: other.manifest.signature, ..r.manifest.clone() }),
        ),
        (
            "tampered manifest bytes",
            Report {
                header: down_marked.clone(),
                manifest: Signed {
                    bytes: text.replace("classification=SECRET", "classification=CONFIDENTIAL").into_bytes(),
                    ..r.manifest.clone()
                },
                ..r.clone()
            },
        ),
        ("header down-marked", Report { header: down_marked, ..r.clone() }),
        ("category changed", with_header(|h| h.category = NkNuclear)),
        ("releasable-to changed", with_header(|h| h.releasable_to = rel("USA"))),
        ("creation time changed", with_header(|h| h.created_at = Timestamp(h.created_at.0 + 1))),
        ("body tampered", with_content(|c| c.body = Sensitive::new("CANARY-BODY-x"))),
        ("title tampered", with_content(|c| c.title = Sensitive::new("CANARY-TITLE-x"))),
        ("source tampered", with_content(|c| c.source = Sensitive::new("CANARY-SOURCE-x"))),
        ("tearline tampered", with_content(|c| c.tearline = Some(Sensitive::new("CANARY-TEARLINE-x")))),
        ("tearline removed", with_content(|c| c.tearline = None)),
        ("another report's manifest", with_manifest(other.manifest.clone())),
        ("malformed", with_manifest(node_key(KR).sign(b"tisa.v1.manifest\nid=KR-0001\n".to_vec()))),
        ("empty", with_manifest(node_key(KR).sign(Vec::new()))),
        (
            "re-signed with another submitter but a tampered body",
            Report {
                manifest: re_signed(&r.header, &content("a", true)),
                content: Content { body: Sensitive::new("CANARY-BODY-y"), ..r.content.clone() },
                ..r.clone()
            },
        ),
    ];
    for (i, (what, report)) in cases.into_iter().enumerate() {
        let env = envelope(KR, &format!("KR.m.{i}"), now, Payload::Report(report));
        let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "manifest", .. }), "{what}: {reason:?}");
    }
    assert!(sim.inbox(US).is_empty(), "nothing unverified is held");
    assert!(opened(&sim).is_empty());
    // The genuine report still goes through.
    sim.inject(US, KR, genuine);
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1) && sim.has(US, "KR-0002", 1));
    assert_eq!(opened(&sim).len(), 2);
    assert_untouched(&sim, JP);
}

#[test]
fn a_recipient_refuses_deliveries_whose_manifest_or_content_does_not_verify() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    kr_report_requested(&mut sim, "KR-0002", "b");
    let r = sim.report_sent("KR-0001", 1);
    let other = sim.report_sent("KR-0002", 1);
    let now = sim.now;
    let full = kr_approval(&r.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let tear = kr_approval(&r.manifest, "KR-0001", 1, Verdict::ApproveTearline, now);
    let bytes = r.manifest.bytes.clone();
    let delivered = |manifest: Signed, released: Released, consent: &Consent| Delivery {
        manifest,
        released,
        ..trilateral(&r, JP, false, Some(consent.clone()))
    };
    let c = r.content.clone();
    let alter = |f: fn(&mut Content)| {
        let mut x = c.clone();
        f(&mut x);
        Released::Full(x)
    };
    let m = r.manifest.clone();
    let cases: Vec<(&str, Delivery)> = vec![
        ("body tampered", delivered(m.clone(), alter(|c| c.body = Sensitive::new("CANARY-BODY-x")), &full)),
        ("title tampered", delivered(m.clone(), alter(|c| c.title = Sensitive::new("CANARY-TITLE-x")), &full)),
        ("source tampered", delivered(m.clone(), alter(|c| c.source = Sensitive::new("CANARY-SOURCE-x")), &full)),
        ("tearline tampered", delivered(m.clone(), alter(|c| c.tearline = Some(Sensitive::new("x"))), &full)),
        ("tearline dropped", delivered(m.clone(), alter(|c| c.tearline = None), &full)),
        ("another report's content", delivered(m.clone(), Released::Full(other.content.clone()), &full)),
        (
            "tearline-only, tampered",
            delivered(m.clone(), Released::Tearline(Sensitive::new("CANARY-TEARLINE-x")), &tear),
        ),
        ("tearline-only, the body instead", delivered(m.clone(), Released::Tearline(c.body.clone()), &tear)),
        ("unsigned manifest", delivered(Signed { signature: [0; 64], ..m.clone() }, Released::Full(c.clone()), &full)),
        ("manifest signed by the hub", delivered(node_key(US).sign(bytes.clone()), Released::Full(c.clone()), &full)),
        (
            "manifest signed by a KR approver",
            delivered(approver(KR, 0).sign(bytes.clone()), Released::Full(c.clone()), &full),
        ),
        (
            "manifest signed by an impostor kr-node",
            delivered(rogue("kr-node").sign(bytes.clone()), Released::Full(c.clone()), &full),
        ),
        (
            "header down-marked",
            Delivery {
                header: ReportHeader { classification: Confidential, ..r.header.clone() },
                ..delivered(m.clone(), Released::Full(c.clone()), &full)
            },
        ),
        ("another report's manifest", delivered(other.manifest.clone(), Released::Full(other.content.clone()), &full)),
    ];
    for (i, (what, d)) in cases.into_iter().enumerate() {
        let env = envelope(US, &format!("US.m.{i}"), now, Payload::Delivery(d));
        let reason = expect_rejected(&mut sim, JP, US, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { .. }), "{what}: {reason:?}");
    }
    assert!(sim.inbox(JP).is_empty() && sim.received(JP).is_empty());
    // Once KR approves, the genuine report arrives.
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert_eq!(sim.inbox(JP).len(), 1);
    assert_eq!(sim.inbox(JP)[0].delivery.released, Released::Full(c));
}
