//! One test per rule of the arrangement, end to end through the three
//! nodes (the `Sim` of `tests/common`), one file per topic. The helpers
//! below are shared by the topics.

#[path = "../common/mod.rs"]
mod common;

mod agreement;
mod batches;
mod ceilings;
mod consent;
mod corrections;
mod duplicates;
mod expiry;
mod forgery;
mod freshness;
mod hub_reports;
mod inputs;
mod offline;
mod queries;
mod redaction;
mod request_ids;
mod scope;
mod signatures;
mod standing;
mod submit;
mod tearlines;
mod two_person;

use common::*;
use Category::*;
use Classification::*;

/// Progress notices `p` received.
fn progress(sim: &Sim, p: Party) -> Vec<Progress> {
    sim.events(p)
        .iter()
        .filter_map(|e| match e {
            Event::Progress { progress } => Some(progress.clone()),
            _ => None,
        })
        .collect()
}

/// Release requests the hub opened.
fn opened(sim: &Sim) -> Vec<ReleaseRequest> {
    sim.events(US)
        .iter()
        .filter_map(|e| match e {
            Event::ReleaseRequested { request } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

/// Every release request ever put on the wire.
fn requests_sent(sim: &Sim) -> usize {
    sim.log().iter().filter(|s| matches!(s.transmit.envelope.payload, Payload::ReleaseRequest(_))).count()
}

/// Asserts nothing at all ever reached `p`: no envelope, no event, no inbox entry.
fn assert_untouched(sim: &Sim, p: Party) {
    assert!(sim.sent_to(p).is_empty(), "{p:?} was sent {:?}", sim.sent_to(p));
    assert!(sim.events(p).is_empty(), "{p:?} saw events {:?}", sim.events(p));
    assert!(sim.inbox(p).is_empty());
}

/// The originator a report id names.
fn originator_of(id: &str) -> Party {
    report_id(id).prefix_party().expect("a prefixed id")
}

/// A signed manifest of nothing in particular (for reports never sent).
fn stray_manifest() -> Signed {
    node_key(KR).sign(b"tisa.v1.manifest\n".to_vec())
}

/// A decision as the originator would send it, for hand-crafted input:
/// signed by its first approver, about the manifest it sent (if any).
fn decision(sim: &Sim, id: &str, rev: u32, recipient: Party, decision: Decision, at: Timestamp) -> ReleaseDecision {
    decision_by(sim, id, rev, recipient, decision, at, &approver(originator_of(id), 0))
}

/// Like [`decision`], signed by `signer`.
fn decision_by(
    sim: &Sim,
    id: &str,
    rev: u32,
    recipient: Party,
    decision: Decision,
    at: Timestamp,
    signer: &Identity,
) -> ReleaseDecision {
    let manifest = sim.try_report_sent(id, rev).map(|r| r.manifest).unwrap_or_else(stray_manifest);
    let verdict = match &decision {
        Decision::ApproveFull => Verdict::ApproveFull,
        Decision::ApproveTearline => Verdict::ApproveTearline,
        Decision::Deny { .. } => Verdict::Deny,
    };
    let mut doc = decision_doc(&manifest, id, rev, recipient, verdict, at, signer.name());
    if let Decision::Deny { reason } = decision {
        doc.reason = reason;
    }
    signed_decision(&doc, signer)
}

/// KR's first approver's approval of revision `rev` of `id` for JP, about `manifest`.
fn kr_approval(manifest: &Signed, id: &str, rev: u32, verdict: Verdict, at: Timestamp) -> Consent {
    let doc = decision_doc(manifest, id, rev, JP, verdict, at, approver_names(KR)[0]);
    Consent::Decision(Box::new(signed_decision(&doc, &approver(KR, 0))))
}

/// Hands `env` to `to` on `link` and asserts that it was refused with
/// `code`: exactly one `Event::Rejected` naming it, and exactly one rejection
/// notice back on the link when the link exists and `env` is not itself a
/// rejection (and no other transmit at all). Returns the reason.
fn expect_rejected(sim: &mut Sim, to: Party, link: Party, env: Envelope, code: &str) -> RejectReason {
    let (log0, ev0, inbox0) = (sim.log().len(), sim.events(to).len(), sim.inbox(to).len());
    let kind = env.payload.kind();
    let mid = env.message_id.clone();
    sim.inject(to, link, env);
    let new_events = &sim.events(to)[ev0..];
    assert_eq!(new_events.len(), 1, "expected exactly one event, got {new_events:?}");
    let reason = match &new_events[0] {
        Event::Rejected { link: l, kind: k, message_id, reason } => {
            assert_eq!((*l, *k, message_id), (link, kind, &mid));
            reason.clone()
        }
        other => panic!("expected a rejection ({code}), got {other:?}"),
    };
    assert_eq!(reason.code(), code, "{reason:?}");
    let new_tx = &sim.log()[log0..];
    if link_exists(to, link) && kind != "rejection" {
        assert_eq!(new_tx.len(), 1, "expected one rejection notice, got {new_tx:?}");
        let t = &new_tx[0].transmit;
        assert_eq!(t.to, link);
        match &t.envelope.payload {
            Payload::Rejection(r) => {
                assert_eq!(r.refers_to, mid);
                assert_eq!(r.code, code);
                assert_eq!(r.detail, reason.to_string());
            }
            other => panic!("expected a rejection notice, got {other:?}"),
        }
    } else {
        assert!(new_tx.is_empty(), "no notice may go back here, got {new_tx:?}");
    }
    assert_eq!(sim.inbox(to).len(), inbox0, "a refused message changed the inbox");
    reason
}

/// A delivery to JP of KR's revision `rev` of `id` as it went to the hub,
/// with a genuine approval by a KR approver: valid in every respect but the
/// path it takes (KR never approved it through its node).
fn approved_delivery(sim: &Sim, id: &str, rev: u32, tearline_only: bool) -> Delivery {
    let report = sim.report_sent(id, rev);
    let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
    let consent = kr_approval(&report.manifest, id, rev, verdict, sim.now);
    trilateral(&report, JP, tearline_only, Some(consent))
}

/// KR submits `id` (NK_MISSILE SECRET rel-to USA,JPN, with tearline) and everything is delivered.
fn kr_report_requested(sim: &mut Sim, id: &str, tag: &str) -> Submitted {
    let s = sim.submit(KR, id, draft(NkMissile, Secret, "USA,JPN", tag)).expect("submit");
    sim.drive();
    s
}

/// The grant consent of JP's inbox entry for `id`.
fn grant_of(sim: &Sim, to: Party, id: &str) -> Option<Grant> {
    let e = sim.inbox(to).into_iter().find(|e| e.delivery.header.id.as_str() == id)?;
    match e.delivery.consent {
        Some(Consent::Grant(g)) => Some((*g).clone()),
        _ => None,
    }
}

/// A busy day: every kind of message crosses every link.
fn busy_day(sim: &mut Sim, drive: fn(&mut Sim)) {
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "k1")).unwrap();
    sim.submit(JP, "JP-0001", draft(NkNuclear, Confidential, "USA,KOR", "j1")).unwrap();
    sim.submit(KR, "KR-0002", draft(NkNuclear, Secret, "USA,JPN", "k2")).unwrap();
    sim.submit(KR, "KR-0003", draft(Other, Secret, "USA,JPN", "k3")).unwrap();
    sim.submit(JP, "JP-0002", draft(NkMissile, Secret, "USA,KOR", "j2")).unwrap();
    sim.submit(US, "US-0001", draft(Other, Secret, "KOR,JPN", "u1")).unwrap();
    drive(sim);
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.approve(JP, &rid("JP-0001", 1, KR), true).unwrap();
    sim.deny(KR, &rid("KR-0002", 1, JP), "no").unwrap();
    drive(sim);
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "k1b")).unwrap();
    drive(sim);
    sim.approve(KR, &rid("KR-0001", 2, JP), true).unwrap();
    drive(sim);
    // Standing grants: KR-0004 and JP-0003 flow at once; after KR revokes,
    // KR-0005 waits for a request (which expires with the day).
    sim.grant(KR, sim.grant_doc(KR, "KR-G-1", &[NkNuclear], Secret, false)).unwrap();
    sim.grant(JP, sim.grant_doc(JP, "JP-G-1", &[NkMissile], Secret, true)).unwrap();
    sim.submit(KR, "KR-0004", draft(NkNuclear, Confidential, "USA,JPN", "k4")).unwrap();
    sim.submit(JP, "JP-0003", draft(NkMissile, Secret, "USA,KOR", "j3")).unwrap();
    drive(sim);
    sim.revoke(KR, "KR-G-1").unwrap();
    sim.submit(KR, "KR-0005", draft(NkNuclear, Secret, "USA,JPN", "k5")).unwrap();
    drive(sim);
    sim.advance(DAY); // JP-0002's and KR-0005's requests expire
    drive(sim);
}

/// Hands each of `cases` to JP on the genuine link from the hub, as the hub
/// (a compromised hub), and asserts JP refuses each with its code and holds nothing new.
fn hub_forgeries_refused(sim: &mut Sim, to: Party, cases: Vec<(&str, Delivery, &str)>) {
    let before = sim.inbox(to);
    for (i, (what, d, code)) in cases.into_iter().enumerate() {
        let mid = format!("US.forged.{}.{i}", sim.log().len());
        let env = envelope(US, &mid, sim.now, Payload::Delivery(d));
        let (log0, ev0) = (sim.log().len(), sim.events(to).len());
        sim.inject(to, US, env);
        let new = &sim.events(to)[ev0..];
        assert!(
            matches!(new, [Event::Rejected { reason, .. }] if reason.code() == code),
            "{what}: expected {code}, got {new:?}"
        );
        assert_eq!(sim.log().len(), log0 + 1, "{what}: one rejection notice");
    }
    assert_eq!(sim.inbox(to), before, "a forged delivery reached {to:?}'s inbox");
}
