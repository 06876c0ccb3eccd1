//! Batch signatures: the manifests (and receipts) a node makes between two
//! drains of its output are signed with one signature over a Merkle root;
//! each still verifies on its own, and a proof altered in any way is refused.

use super::*;
use tisa_core::sign::{self, BatchDoc, BatchProof};

/// Submits `n` reports at KR before its output is drained (as under load:
/// one drain per group commit), then drains it.
fn submit_batch(sim: &mut Sim, n: usize) {
    let now = sim.now;
    for i in 1..=n {
        let id = ReportId::new(format!("KR-{i:04}")).unwrap();
        let d = draft(NkMissile, Secret, "USA,JPN", &format!("b{i}"));
        sim.node_mut(KR).submit(now, id, d).unwrap();
    }
    assert_eq!(sim.node(KR).unsealed(), n, "signed only when the output is drained");
    sim.flushed(KR);
    assert_eq!(sim.node(KR).unsealed(), 0);
}

fn reports(envs: &[Envelope]) -> Vec<Report> {
    envs.iter()
        .filter_map(|e| match &e.payload {
            Payload::Report(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn manifests_made_together_share_one_signature_and_each_verifies_alone() {
    let mut sim = Sim::new();
    submit_batch(&mut sim, 5);
    let sent = reports(&sim.in_flight(KR, US));
    assert_eq!(sent.len(), 5);
    let root_sig = sent[0].manifest.signature;
    for (i, r) in sent.iter().enumerate() {
        let p = r.manifest.batch.as_deref().expect("a batch proof");
        assert_eq!((p.index, p.size), (i as u32, 5));
        assert_eq!(r.manifest.signature, root_sig, "one signature for the batch");
        // Each one alone, against the registered node key.
        assert!(sign::verify(&sim.policy, KR, KeyRole::Node, &r.manifest).is_ok());
        assert!(sign::verify(&sim.policy, US, KeyRole::Node, &r.manifest).is_err(), "another party's key");
    }
    // The body kept for later sends carries the same signature.
    sim.drive();
    assert_eq!(sim.inbox(US).len(), 5, "the hub took every report of the batch");
    assert!(sim.rejections(US, KR).is_empty());
    // One report alone is signed directly.
    let now = sim.now;
    sim.node_mut(KR).submit(now, ReportId::new("KR-0100").unwrap(), draft(NkMissile, Secret, "USA", "x")).unwrap();
    sim.flushed(KR);
    let alone = reports(&sim.in_flight(KR, US));
    assert_eq!(alone.len(), 1);
    assert!(alone[0].manifest.batch.is_none());
    assert!(sign::verify(&sim.policy, KR, KeyRole::Node, &alone[0].manifest).is_ok());
}

#[test]
fn the_hub_refuses_a_manifest_whose_batch_proof_was_altered() {
    let mut sim = Sim::new();
    submit_batch(&mut sim, 6);
    let envs = sim.drop_link(KR, US);
    let Payload::Report(r) = envs[2].payload.clone() else { panic!("a report") };
    let Payload::Report(other) = envs[3].payload.clone() else { panic!("a report") };
    let p = r.manifest.batch.as_deref().cloned().expect("a proof");
    let with = |proof: Option<BatchProof>| {
        let mut env = envs[2].clone();
        let Payload::Report(x) = &mut env.payload else { unreachable!() };
        x.manifest.batch = proof.map(Box::new);
        env
    };
    let mut changed = p.clone();
    changed.path[0][0] ^= 1;
    let mut short = p.clone();
    short.path.pop();
    let cases = [
        ("another index", with(Some(BatchProof { index: 3, ..p.clone() }))),
        ("another size", with(Some(BatchProof { size: 7, ..p.clone() }))),
        ("a sibling changed", with(Some(changed))),
        ("a hash left out", with(Some(short))),
        ("no proof: the root's signature as if over the document", with(None)),
        ("another report's proof", with(other.manifest.batch.as_deref().cloned())),
    ];
    for (what, env) in cases {
        let before = sim.rejections(US, KR).len();
        sim.inject(US, KR, env);
        assert_eq!(sim.rejections(US, KR).len(), before + 1, "{what}: refused");
        assert!(!sim.has(US, "KR-0003", 1), "{what}: not held");
    }
    // The root document alone, as a "manifest": malformed.
    let mut root_only = envs[2].clone();
    let Payload::Report(x) = &mut root_only.payload else { unreachable!() };
    let root_doc = BatchDoc { size: p.size, root: [0; 32] };
    assert!(BatchDoc::parse(&root_doc.to_bytes()).is_ok(), "a well-formed root document, refused as a manifest");
    x.manifest.bytes = root_doc.to_bytes();
    x.manifest.batch = None;
    let before = sim.rejections(US, KR).len();
    sim.inject(US, KR, root_only);
    assert_eq!(sim.rejections(US, KR).len(), before + 1);
    // Control: the same report with its proof as sent is taken.
    sim.inject(US, KR, envs[2].clone());
    assert!(sim.has(US, "KR-0003", 1), "the untouched proof verifies");
}

#[test]
fn receipts_of_deliveries_taken_in_together_are_signed_as_one_batch() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    submit_batch(&mut sim, 4);
    while sim.step_link(KR, US).is_some() {}
    // JP takes the four deliveries in before draining its output.
    let now = sim.now;
    let deliveries = sim.drop_link(US, JP);
    let again = deliveries.iter().find(|e| matches!(e.payload, Payload::Delivery(_))).cloned().unwrap();
    assert_eq!(deliveries.iter().filter(|e| matches!(e.payload, Payload::Delivery(_))).count(), 4);
    for env in deliveries {
        sim.node_mut(JP).handle_message(now, US, env);
    }
    sim.flushed(JP);
    let receipts_env = sim.in_flight(JP, US);
    let receipts: Vec<Receipt> = sim
        .in_flight(JP, US)
        .into_iter()
        .filter_map(|e| match e.payload {
            Payload::Receipt(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(receipts.len(), 4);
    for r in &receipts {
        assert_eq!(r.signed.batch.as_deref().map(|p| p.size), Some(4));
        assert!(sign::verify(&sim.policy, JP, KeyRole::Node, &r.signed).is_ok());
    }
    // The same delivery again: a receipt for the same document, byte for
    // byte (derived from the inbox, not a kept copy), signed (alone now).
    // (Later: a receipt signed now would name another time.)
    sim.drop_link(JP, US);
    sim.advance_without_timers(5_000);
    sim.inject(JP, US, again);
    let resent: Vec<Envelope> = sim.drop_link(JP, US);
    let Some(Payload::Receipt(r)) = resent.iter().map(|e| e.payload.clone()).find(|p| matches!(p, Payload::Receipt(_)))
    else {
        panic!("the receipt again: {resent:?}")
    };
    assert!(!r.signed.is_pending() && r.signed.batch.is_none(), "a receipt alone is signed directly");
    assert!(sign::verify(&sim.policy, JP, KeyRole::Node, &r.signed).is_ok());
    let first = receipts.iter().find(|f| f.doc.report_id == r.doc.report_id).expect("its first receipt");
    assert_eq!(r.signed.bytes, first.signed.bytes, "the same document as the first receipt");
    assert_eq!(r.doc, first.doc);
    for env in receipts_env {
        sim.inject(US, JP, env);
    }
    sim.drive();
    // The hub passed them on and KR recorded each.
    let recorded = sim.events(KR).iter().filter(|e| matches!(e, Event::ReceiptReceived { .. })).count();
    assert_eq!(recorded, 4);
    assert!(sim.rejections(US, JP).is_empty() && sim.rejections(KR, US).is_empty());
}

/// The grant a report is released under is kept once, shared by every
/// report released under it (a pointer each, not a copy per report: the
/// grant with its signatures is larger than what is kept of a report): at
/// the hub, which forwards under it, and at the recipient, where each
/// delivery arrives with its own decoded copy. Each entry still holds
/// exactly the grant it came under. (Without the sharing the pointers
/// differ: the hub's forwards each a copy, the recipient's entries each
/// the copy it decoded.)
#[test]
fn deliveries_under_one_grant_share_one_copy_of_it() {
    use std::sync::Arc;
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    sim.grant(KR, doc).unwrap();
    sim.drive();
    submit_batch(&mut sim, 3);
    while sim.step_link(KR, US).is_some() {}
    let grant_of = |c: &Option<Consent>| match c {
        Some(Consent::Grant(g)) => g.clone(),
        other => panic!("not under the grant: {other:?}"),
    };
    // The hub's three deliveries carry one shared grant.
    let now = sim.now;
    let deliveries: Vec<Envelope> =
        sim.drop_link(US, JP).into_iter().filter(|e| matches!(e.payload, Payload::Delivery(_))).collect();
    assert_eq!(deliveries.len(), 3);
    let sent: Vec<Arc<Grant>> = deliveries
        .iter()
        .map(|e| match &e.payload {
            Payload::Delivery(d) => grant_of(&d.consent),
            _ => unreachable!(),
        })
        .collect();
    assert!(sent.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "the hub forwards one shared grant");
    // At JP each arrives decoded on its own (a copy each), and is kept shared.
    for mut env in deliveries {
        if let Payload::Delivery(d) = &mut env.payload {
            let own = Arc::new((*grant_of(&d.consent)).clone());
            d.consent = Some(Consent::Grant(own));
        }
        sim.node_mut(JP).handle_message(now, US, env);
    }
    sim.flushed(JP);
    let kept: Vec<Arc<Grant>> = sim.inbox(JP).iter().map(|e| grant_of(&e.delivery.consent)).collect();
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|g| **g == *sent[0]), "each the grant it came under");
    assert!(kept.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "JP keeps one shared copy");
}
