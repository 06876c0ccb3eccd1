//! Receipts: the recipient signs one after committing a delivery; the hub
//! passes it back to the originator once and cannot invent one.

mod common;

use common::*;
use tisa_core::sign::{sha256, ReceiptDoc};

fn released_kr_report(sim: &mut Sim) -> String {
    let id = "KR-r1";
    sim.submit(KR, id, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "r")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.approve(KR, &rid, false).unwrap();
    sim.drive();
    id.to_owned()
}

fn receipts(sim: &Sim, p: Party, id: &str) -> Vec<(Party, Timestamp)> {
    sim.status(p).into_iter().filter(|s| s.header.id.as_str() == id).flat_map(|s| s.receipts.into_iter()).collect()
}

#[test]
fn the_originator_gets_the_recipients_signed_receipt_once() {
    let mut sim = Sim::new();
    let id = released_kr_report(&mut sim);
    assert!(sim.has(JP, &id, 1));
    let got = receipts(&sim, KR, &id);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, JP);
    assert!(sim
        .events(KR)
        .iter()
        .any(|e| matches!(e, Event::ReceiptReceived { receipt, .. } if receipt.recipient == JP)));
    // A replay of the receipt at the hub is not passed on again.
    let receipt = sim.sent(JP, US).into_iter().find(|e| matches!(e.payload, Payload::Receipt(_))).cloned().unwrap();
    let before = sim.sent(US, KR).len();
    sim.inject(US, JP, receipt);
    sim.drive();
    assert_eq!(sim.sent(US, KR).len(), before, "the hub passes a receipt on once");
}

#[test]
fn the_hub_cannot_invent_a_receipt() {
    let mut sim = Sim::new();
    let id = "KR-r2";
    sim.submit(KR, id, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "r")).unwrap();
    sim.drive();
    // Never approved: JP holds nothing. The hub forges JP's receipt.
    let manifest = sim.report_sent(id, 1).manifest;
    let doc = ReceiptDoc {
        report_id: ReportId::new(id).unwrap(),
        revision: 1,
        recipient: JP,
        manifest_sha256: sha256(&manifest.bytes),
        received_at: Timestamp(T0),
    };
    for key in [node_key(US), rogue("jp-node")] {
        let mut signed = key.sign(doc.to_bytes());
        signed.signer = "jp-node".into();
        let env = envelope(
            US,
            "US.forged.1",
            Timestamp(T0),
            Payload::Receipt(Receipt { doc: doc.clone(), signed, audit_head: None }),
        );
        sim.inject(KR, US, env);
        sim.drive();
    }
    assert!(receipts(&sim, KR, id).is_empty(), "a forged receipt was accepted");
    assert_eq!(
        sim.rejected(KR).iter().filter(|r| r.code() == "UNVERIFIED").count(),
        2,
        "both forgeries refused as unverifiable: {:?}",
        sim.rejected(KR)
    );
}

#[test]
fn the_hubs_own_reports_get_receipts_too() {
    let mut sim = Sim::new();
    let id = "US-r3";
    sim.submit(US, id, draft(Category::Other, Classification::Secret, "KOR,JPN", "u")).unwrap();
    sim.drive();
    let mut got = receipts(&sim, US, id);
    got.sort();
    assert_eq!(got.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![KR, JP]);
}
