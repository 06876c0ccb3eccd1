//! Corrections and retractions: the originator can take a report back
//! (every revision) with a retraction signed by its node. It travels the
//! report's path, needs no new approval, and every holder marks the report.
//! Also: the recipient's signed audit head that a receipt may carry.

mod common;

use common::*;

const ID: &str = "KR-ret";

fn released(sim: &mut Sim) {
    sim.submit(KR, ID, draft(Category::NkNuclear, Classification::Secret, "USA,JPN", "ret")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.approve(KR, &rid, false).unwrap();
    sim.drive();
    assert!(sim.has(JP, ID, 1));
}

fn retracted_at(sim: &Sim, p: Party, id: &str) -> Vec<Option<RetractionNote>> {
    sim.inbox(p).into_iter().filter(|e| e.delivery.header.id.as_str() == id).map(|e| e.retracted).collect()
}

#[test]
fn a_retraction_reaches_every_holder_without_a_new_approval() {
    let mut sim = Sim::new();
    released(&mut sim);
    let decisions = sim.decisions_sent(ID, 1).len();
    let doc = sim.retract(KR, ID, "source withdrew the claim").unwrap();
    sim.drive();
    assert_eq!(sim.decisions_sent(ID, 1).len(), decisions, "no new approval");
    for p in [US, JP] {
        let marks = retracted_at(&sim, p, ID);
        assert_eq!(marks.len(), 1);
        let note = marks[0].clone().expect("marked retracted");
        assert_eq!(note.retracted_at, doc.retracted_at);
        assert_eq!(note.reason.expose(), "source withdrew the claim");
        assert!(sim
            .events(p)
            .iter()
            .any(|e| matches!(e, Event::Retracted { report_id, .. } if report_id.as_str() == ID)));
    }
    let st = sim.status(KR).into_iter().find(|s| s.header.id.as_str() == ID).unwrap();
    assert_eq!(st.retracted_at, Some(doc.retracted_at));
    assert!(st.retraction_confirmed, "the hub confirmed it");
    // Final: no correction, no second retraction.
    let again = sim.correct(KR, ID, draft(Category::NkNuclear, Classification::Secret, "USA,JPN", "ret2"));
    assert_eq!(again.unwrap_err(), CommandError::Retracted(report_id(ID)));
    assert_eq!(sim.retract(KR, ID, "again").unwrap_err(), CommandError::Retracted(report_id(ID)));
}

#[test]
fn every_revision_is_marked() {
    let mut sim = Sim::new();
    released(&mut sim);
    sim.correct(KR, ID, draft(Category::NkNuclear, Classification::Secret, "USA,JPN", "ret-r2")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.approve(KR, &rid, false).unwrap();
    sim.drive();
    assert!(sim.has(JP, ID, 2));
    sim.retract(KR, ID, "both wrong").unwrap();
    sim.drive();
    let marks = retracted_at(&sim, JP, ID);
    assert_eq!(marks.len(), 2);
    assert!(marks.iter().all(Option::is_some));
}

#[test]
fn retracting_before_release_withdraws_the_request_and_nothing_moves() {
    let mut sim = Sim::new();
    sim.submit(KR, ID, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "early")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.retract(KR, ID, "premature").unwrap();
    sim.drive();
    assert!(sim.pending(KR).is_empty(), "the request is withdrawn");
    assert_eq!(sim.approve(KR, &rid, false).unwrap_err(), CommandError::Retracted(report_id(ID)));
    assert_eq!(sim.recipient_state(KR, ID, 1, JP), Some(RecipientState::Withdrawn));
    // A decision signed earlier and replayed at the hub moves nothing.
    let manifest = sim.report_sent(ID, 1).manifest;
    let doc = decision_doc(&manifest, ID, 1, JP, Verdict::ApproveFull, sim.now, approver_names(KR)[0]);
    let d = signed_decision(&doc, &approver(KR, 0));
    sim.inject(US, KR, envelope(KR, "KR.replay.1", sim.now, Payload::ReleaseDecision(d)));
    sim.drive();
    assert!(!sim.has(JP, ID, 1));
    assert!(sim.rejected(US).iter().any(|r| r.code() == "RETRACTED"));
    // Expiry later says nothing more.
    let n = sim.sent(US, KR).len();
    sim.advance(2 * DAY);
    sim.drive();
    assert_eq!(sim.sent(US, KR).len(), n);
    assert!(sim.deliveries_to(JP).is_empty());
}

#[test]
fn only_the_originator_can_retract() {
    let mut sim = Sim::new();
    released(&mut sim);
    let doc = RetractionDoc {
        report_id: report_id(ID),
        originator: KR,
        retracted_at: sim.now,
        reason: "forged".into(),
        operator: String::new(),
    };
    // The hub (or anyone) signing KR's retraction: refused by JP.
    for key in [node_key(US), rogue("kr-node"), approver(KR, 0)] {
        let mut signed = key.sign(doc.to_bytes());
        signed.signer = "kr-node".into();
        let r = Retraction { doc: doc.clone(), signed };
        sim.inject(JP, US, envelope(US, &format!("US.forged.{}", key.name()), sim.now, Payload::Retraction(r)));
    }
    sim.drive();
    assert!(retracted_at(&sim, JP, ID).iter().all(Option::is_none));
    assert_eq!(sim.rejected(JP).iter().filter(|r| r.code() == "UNVERIFIED").count(), 3, "{:?}", sim.rejected(JP));
    // A reason swapped under a genuine signature is refused too.
    let genuine = node_key(KR).sign(doc.to_bytes());
    let swapped = Retraction { doc: RetractionDoc { reason: "other".into(), ..doc.clone() }, signed: genuine };
    sim.inject(JP, US, envelope(US, "US.swapped", sim.now, Payload::Retraction(swapped)));
    assert!(retracted_at(&sim, JP, ID).iter().all(Option::is_none));
    // JP cannot retract KR's report at the hub either.
    let jp_signed = node_key(JP).sign(RetractionDoc { originator: JP, ..doc.clone() }.to_bytes());
    let r = Retraction { doc: RetractionDoc { originator: JP, ..doc }, signed: jp_signed };
    sim.inject(US, JP, envelope(JP, "JP.x", sim.now, Payload::Retraction(r)));
    assert!(retracted_at(&sim, US, ID).iter().all(Option::is_none));
}

#[test]
fn a_lost_retraction_is_sent_again_until_the_hub_confirms() {
    let mut sim = Sim::new();
    released(&mut sim);
    sim.retract(KR, ID, "lost once").unwrap();
    assert_eq!(sim.drop_link(KR, US).len(), 1);
    assert!(!sim.status(KR)[0].retraction_confirmed);
    sim.link_up(KR, US);
    sim.drive();
    assert!(sim.status(KR)[0].retraction_confirmed);
    assert!(retracted_at(&sim, JP, ID)[0].is_some());
    // Lost on the way to JP: the hub tells it again when the link comes back.
    let mut sim = Sim::new();
    released(&mut sim);
    sim.retract(KR, ID, "lost at JP").unwrap();
    sim.step_link(KR, US).unwrap();
    assert_eq!(sim.drop_link(US, JP).len(), 1);
    sim.link_up(US, JP);
    sim.drive();
    assert!(retracted_at(&sim, JP, ID)[0].is_some());
    // Confirmed: nothing more to send.
    let n = sim.sent_count();
    sim.link_up(KR, US);
    assert_eq!(sim.sent_count(), n);
}

#[test]
fn a_delivery_arriving_after_its_retraction_is_refused() {
    let mut sim = Sim::new();
    let g = sim.grant_doc(KR, "KR-G-1", &[Category::NkMissile], Classification::Secret, false);
    sim.grant(KR, g).unwrap();
    sim.drive();
    sim.submit(KR, ID, draft(Category::NkMissile, Classification::Secret, "USA,JPN", "late")).unwrap();
    sim.step_link(KR, US).unwrap(); // the hub forwards under the grant
    let delivery = sim.take_next(US, JP).expect("a delivery to JP");
    sim.retract(KR, ID, "withdrawn").unwrap();
    sim.drive(); // the retraction overtakes the delivery
    sim.inject(JP, US, delivery);
    assert!(!sim.has(JP, ID, 1), "a retracted report is not taken in");
    assert!(sim.rejected(JP).iter().any(|r| r.code() == "RETRACTED"));
}

#[test]
fn the_hubs_own_report_is_retracted_bilaterally() {
    let mut sim = Sim::new();
    let id = "US-own";
    sim.submit(US, id, draft(Category::Other, Classification::Secret, "KOR,JPN", "u")).unwrap();
    sim.drive();
    sim.retract(US, id, "superseded").unwrap();
    sim.drive();
    for p in [KR, JP] {
        assert!(retracted_at(&sim, p, id)[0].is_some(), "{p:?}");
    }
}

#[test]
fn a_receipt_may_carry_the_recipients_signed_audit_head() {
    let mut sim = Sim::new();
    released(&mut sim);
    let Payload::Receipt(mut receipt) =
        sim.sent(JP, US).into_iter().find(|e| matches!(e.payload, Payload::Receipt(_))).cloned().unwrap().payload
    else {
        unreachable!()
    };
    let head = AuditHeadDoc { party: JP, seq: 41, hash: [7; 32] };
    // Forged head (not JP's node key): the whole receipt is refused.
    receipt.audit_head = Some(node_key(US).sign(head.to_bytes()));
    let mut forged = receipt.clone();
    if let Some(h) = &mut forged.audit_head {
        h.signer = "jp-node".into();
    }
    sim.inject(KR, US, envelope(US, "US.h1", sim.now, Payload::Receipt(forged)));
    assert!(sim.rejected(KR).iter().any(|r| r.code() == "UNVERIFIED"));
    // Genuine: verified and reported with the receipt. (A fresh node, so the
    // receipt is new to it.)
    let mut sim2 = Sim::new();
    released_without_receipt(&mut sim2);
    receipt.audit_head = Some(node_key(JP).sign(head.to_bytes()));
    sim2.inject(KR, US, envelope(US, "US.h2", sim2.now, Payload::Receipt(receipt)));
    let got = sim2.events(KR).iter().find_map(|e| match e {
        Event::ReceiptReceived { audit_head, .. } => Some(audit_head.clone()),
        _ => None,
    });
    assert_eq!(got, Some(Some(head)));
}

/// Like `released`, but JP's receipt never reaches KR.
fn released_without_receipt(sim: &mut Sim) {
    sim.submit(KR, ID, draft(Category::NkNuclear, Classification::Secret, "USA,JPN", "ret")).unwrap();
    sim.drive();
    let rid = sim.pending(KR)[0].request.request_id.clone();
    sim.approve(KR, &rid, false).unwrap();
    sim.step_link(KR, US).unwrap();
    sim.step_link(US, JP).unwrap();
    sim.drop_link(JP, US);
    sim.drive();
    assert!(sim.has(JP, ID, 1));
}
