//! The two-person rule: the submitter may not approve the release; enforced
//! by the hub and the recipient too. It compares **keys** (the key that
//! signed the submission, recorded in the manifest, against the approver's
//! verified key), never names.

use super::*;

#[test]
fn two_person_rule_the_submitter_may_not_approve_the_release() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let by = |who: &str, tag: &str| ReportDraft {
        submitted_by: who.into(),
        submitter_key: submitter_key(KR, who),
        submission: None,
        ..draft(NkMissile, Secret, "USA,JPN", tag)
    };
    sim.submit(KR, "KR-0001", by("kim", "a")).unwrap();
    sim.submit(KR, "KR-0002", by("", "b")).unwrap();
    sim.submit(KR, "KR-0003", by("kim", "c")).unwrap();
    sim.drive();
    let (r1, r2, r3) = (rid("KR-0001", 1, JP), rid("KR-0002", 1, JP), rid("KR-0003", 1, JP));
    let kim = approver(KR, 0);
    let park = approver(KR, 1);
    assert_eq!(sim.approve_as(KR, &r1, false, &kim), Err(CommandError::SameOperator("kim".into())));
    assert_eq!(sim.approve_as(KR, &r1, true, &kim), Err(CommandError::SameOperator("kim".into())));
    // The CLI's path (a document signed outside the node) is held to the same rule.
    let doc = sim.node(KR).decision_doc(sim.now, &r1, Verdict::ApproveFull, "", "kim").unwrap();
    assert_eq!(sim.decide(KR, kim.sign(doc.to_bytes())), Err(CommandError::SameOperator("kim".into())));
    // A submission by no one in particular cannot satisfy the rule.
    assert!(matches!(sim.approve_as(KR, &r2, false, &park), Err(CommandError::SameOperator(_))));
    assert_eq!(sim.pending(KR).len(), 3);
    assert_eq!(sim.in_flight_total(), 0, "a refused approval sends nothing");
    // Another approver may approve; the submitter may still deny.
    sim.approve_as(KR, &r1, false, &park).unwrap();
    sim.deny_as(KR, &r3, "on reflection, no", &kim).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(!sim.has(JP, "KR-0003", 1));
    let Some(Consent::Decision(d)) = &sim.inbox(JP)[0].delivery.consent else { panic!() };
    assert_eq!(d.operator, "park");

    // Without the rule, the submitter may approve.
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", by("kim", "a")).unwrap();
    sim.drive();
    sim.approve_as(KR, &rid("KR-0001", 1, JP), false, &kim).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn two_person_rule_is_enforced_by_the_hub_and_the_recipient() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    sim.submit(
        KR,
        "KR-0001",
        ReportDraft {
            submitted_by: "kim".into(),
            submitter_key: submitter_key(KR, "kim"),
            submission: None,
            ..draft(NkMissile, Secret, "USA,JPN", "a")
        },
    )
    .unwrap();
    sim.drive();
    let r = sim.report_sent("KR-0001", 1);
    let now = sim.now;
    let by_kim = signed_decision(
        &decision_doc(&r.manifest, "KR-0001", 1, JP, Verdict::ApproveFull, now, "kim"),
        &approver(KR, 0),
    );
    // A KR node that skips the rule: the hub refuses the decision, and the request stays open.
    let env = envelope(KR, "KR.x.1", now, Payload::ReleaseDecision(by_kim.clone()));
    let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{reason:?}");
    assert!(sim.forwarded_to(JP).is_empty());
    // A hub that skips it: JP refuses.
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![(
            "approved by its submitter",
            trilateral(&r, JP, false, Some(Consent::Decision(Box::new(by_kim)))),
            "UNVERIFIED",
        )],
    );
    // A second person's approval goes through both.
    sim.approve_as(KR, &rid("KR-0001", 1, JP), false, &approver(KR, 1)).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

/// Names are labels: a submission labelled with another operator's name but
/// signed by kim's key cannot be approved by kim (a name-based rule would
/// let it through: the control is park, whose key differs, approving it);
/// and a submission labelled "kim" but signed by park's key can be approved
/// by kim.
#[test]
fn two_person_rule_compares_keys_not_names() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let (kim, park) = (approver(KR, 0), approver(KR, 1));
    let labelled = |name: &str, key: &Identity, tag: &str| ReportDraft {
        submitted_by: name.into(),
        submitter_key: Some(key.key_id()),
        submission: None,
        ..draft(NkMissile, Secret, "USA,JPN", tag)
    };
    sim.submit(KR, "KR-0001", labelled("park", &kim, "a")).unwrap();
    sim.submit(KR, "KR-0002", labelled("kim", &park, "b")).unwrap();
    sim.drive();
    let (r1, r2) = (rid("KR-0001", 1, JP), rid("KR-0002", 1, JP));
    // kim's key signed KR-0001, whatever its label says.
    assert!(matches!(sim.approve_as(KR, &r1, false, &kim), Err(CommandError::SameOperator(_))));
    let m = Manifest::parse(&sim.report_sent("KR-0001", 1).manifest.bytes).unwrap();
    assert_eq!((m.submitted_by.as_str(), m.submitter_key), ("park", Some(kim.key_id())));
    // Control: another key approves it.
    sim.approve_as(KR, &r1, false, &park).unwrap();
    // The label "kim" does not stop kim approving what park's key signed.
    sim.approve_as(KR, &r2, false, &kim).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1) && sim.has(JP, "KR-0002", 1));
}

/// Under the rule a standing grant needs two approvers: one proposes it (not
/// in force, not sent), a second co-signs it with another key; the same key
/// cannot co-sign its own proposal. Control: without the rule one approver's
/// grant is in force at once.
#[test]
fn under_the_rule_a_grant_needs_a_second_approvers_cosignature() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let (kim, park) = (approver(KR, 0), approver(KR, 1));
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let signed = kim.sign(doc.to_bytes());
    assert_eq!(sim.grant_signed(KR, signed.clone()), Ok(doc.clone()));
    sim.drive();
    assert!(sim.grants(KR)[0].proposed, "only proposed");
    assert!(sim.grants(US).is_empty(), "a proposal is not sent to the hub");
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 1), "a proposal releases nothing");
    assert_eq!(sim.pending(KR).len(), 1, "the report waits for a per-item decision");

    // The proposer's own key cannot co-sign; nor can a key of another party.
    assert!(matches!(sim.cosign_as(KR, &signed, &kim), Err(CommandError::SameOperator(_))));
    assert!(matches!(sim.cosign_as(KR, &signed, &approver(JP, 0)), Err(CommandError::Unverified { .. })));
    assert!(sim.grants(KR)[0].proposed);
    // A second approver co-signs: in force, at the hub with both signatures.
    sim.cosign_as(KR, &signed, &park).unwrap();
    sim.drive();
    let kr = sim.grants(KR);
    assert!(!kr[0].proposed && kr[0].grant.cosign.is_some());
    assert_eq!(sim.grants(US).len(), 1);
    sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0002", 1), "the co-signed grant releases covered reports");
    let inbox = sim.inbox(JP);
    let entry = inbox.iter().find(|e| e.delivery.header.id.as_str() == "KR-0002").expect("in JP's inbox");
    let Some(Consent::Grant(g)) = &entry.delivery.consent else { panic!("not under the grant") };
    assert!(g.cosign.is_some(), "the recipient holds both signatures");

    // Control: without the rule the same single-approver grant is in force at once.
    let mut sim = Sim::new();
    sim.grant_signed(KR, kim.sign(doc.to_bytes())).unwrap();
    sim.drive();
    assert!(!sim.grants(KR)[0].proposed);
    assert_eq!(sim.grants(US).len(), 1);
}

/// A KR node that skips the co-signature: the hub refuses its grant; a hub
/// that forwards under a single-approver (or self-co-signed) grant: JP
/// refuses. Control: the genuinely co-signed grant passes both.
#[test]
fn the_hub_and_the_recipient_refuse_a_grant_without_a_second_approver() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let (kim, park) = (approver(KR, 0), approver(KR, 1));
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    let signed = kim.sign(doc.to_bytes());
    let cosign = |who: &Identity| {
        let d = tisa_core::sign::CosignDoc::of("KR-G-1", KR, &signed.bytes, sim.now, who.key_id());
        who.sign_by_id(d.to_bytes())
    };
    let single = Grant { doc: doc.clone(), signed: signed.clone(), cosign: None };
    let selfish = Grant { cosign: Some(cosign(&kim)), ..single.clone() };
    let genuine = Grant { cosign: Some(cosign(&park)), ..single.clone() };
    let now = sim.now;
    for (i, g) in [single.clone(), selfish.clone()].into_iter().enumerate() {
        let env = envelope(KR, &format!("KR.g.{i}"), now, Payload::Grant(g));
        let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "grant", .. }), "{reason:?}");
    }
    assert!(sim.grants(US).is_empty());
    // JP, given a delivery under each by a hub that skips the rule.
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.drive();
    let r = sim.report_sent("KR-0001", 1);
    hub_forgeries_refused(
        &mut sim,
        JP,
        vec![
            (
                "under a single approver's grant",
                trilateral(&r, JP, false, Some(Consent::Grant(single.into()))),
                "UNVERIFIED",
            ),
            (
                "under a self-co-signed grant",
                trilateral(&r, JP, false, Some(Consent::Grant(selfish.into()))),
                "UNVERIFIED",
            ),
        ],
    );
    // Control: the co-signed grant is taken by the hub.
    let env = envelope(KR, "KR.g.ok", now, Payload::Grant(genuine));
    sim.inject(US, KR, env);
    sim.drive();
    assert_eq!(sim.grants(US).len(), 1, "the co-signed grant is held by the hub");
}

/// The submitter's own signature travels in the manifest: the hub (and the
/// recipient) count as submitter only a key that signature proves. A KR node
/// naming a submitter key without it, or with a signature by another key,
/// cannot get the release approved under the rule (the hub refuses kim's
/// approval as it would the submitter's own); control: the same report with
/// the clerk's genuine signature is forwarded on kim's approval.
#[test]
fn only_a_submitter_key_proven_by_its_own_signature_counts() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let (clerk, kim) = (clerk(KR), approver(KR, 0));
    let kr_node = node_key(KR);
    let now = sim.now;
    let report = |n: u32, sig_by: Option<&Identity>| {
        let header = ReportHeader {
            id: report_id(&format!("KR-000{n}")),
            revision: 1,
            originator: KR,
            created_at: now,
            category: NkMissile,
            classification: Secret,
            releasable_to: rel("USA,JPN"),
        };
        let c = content(&format!("p{n}"), true);
        let mut m = Manifest::of(&header, &c, CLERK, Some(clerk.key_id()));
        if let Some(signer) = sig_by {
            let doc = tisa_core::sign::SubmissionDoc::of(
                KR,
                NkMissile,
                Secret,
                rel("USA,JPN"),
                &c,
                None,
                now,
                tisa_core::sign::Nonce([n as u8; 16]),
                clerk.key_id(),
            );
            m = m.with_submission(&doc, &signer.sign_by_id(doc.to_bytes()));
        }
        Report { header, content: c, manifest: kr_node.sign(m.to_bytes()) }
    };
    let cases = [(1, None), (2, Some(&kim)), (3, Some(&clerk))];
    for (n, sig) in cases {
        let r = report(n, sig);
        let env = envelope(KR, &format!("KR.r.{n}"), now, Payload::Report(r.clone()));
        if n == 2 {
            // A signature by another key than the one named: the report itself is refused.
            let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
            assert!(matches!(reason, RejectReason::Unverified { what: "manifest", .. }), "{reason:?}");
            continue;
        }
        sim.inject(US, KR, env);
        let id = format!("KR-000{n}");
        let d = signed_decision(&decision_doc(&r.manifest, &id, 1, JP, Verdict::ApproveFull, now, "kim"), &kim);
        let env = envelope(KR, &format!("KR.d.{n}"), now, Payload::ReleaseDecision(d));
        if n == 1 {
            let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
            assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{reason:?}");
            assert!(sim.forwarded_to(JP).is_empty(), "no proven submitter: no approval counts");
        } else {
            sim.inject(US, KR, env);
            assert_eq!(
                sim.forwarded_to(JP).len(),
                1,
                "control: the proven clerk's report is released on kim's approval"
            );
        }
    }
}
