//! One test per rule of the arrangement, end to end through the three nodes.

mod common;

use common::*;
use Category::*;
use Classification::*;

// ----------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------

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
    Consent::Decision(signed_decision(&doc, &approver(KR, 0)))
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

// ----------------------------------------------------------------------
// The trilateral release, both ways
// ----------------------------------------------------------------------

fn trilateral_release(orig: Party, third: Party) {
    let mut sim = Sim::new();
    let id = format!("{}-0001", orig.code());
    let rel_to = format!("USA,{}", third.trigraph());
    let d = draft(NkMissile, Secret, &rel_to, "a");
    let submitted_content = d.content.clone();
    let sub = sim.submit(orig, &id, d).expect("submit");
    assert_eq!(sub.header.id.as_str(), id);
    assert_eq!(sub.header.revision, 1);
    assert_eq!(sub.header.originator, orig);
    assert_eq!(sub.header.created_at, sim.now);
    assert_eq!(sub.header.releasable_to, rel(&rel_to));
    assert!(sub.notes.is_empty(), "{:?}", sub.notes);
    assert_eq!(sim.events(orig), &[Event::Submitted { header: sub.header.clone() }]);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Waiting));
    assert_eq!(sim.hub_state(orig, &id, 1), HubState::Sent);

    sim.drive();

    // The hub holds it and asks the originator, for exactly this recipient.
    let r = rid(&id, 1, third);
    let req = ReleaseRequest {
        request_id: r.clone(),
        report_id: report_id(&id),
        revision: 1,
        recipient: third,
        requested_at: sim.now,
        expires_at: Sim::at(DAY),
    };
    assert_eq!(
        sim.events(US),
        &[Event::ReportHeld { header: sub.header.clone() }, Event::ReleaseRequested { request: req.clone() }]
    );
    let held = sim.inbox(US);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].delivery.released, Released::Full(submitted_content.clone()));
    let pending = sim.pending(orig);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request, req);
    assert_eq!(pending[0].header, sub.header);
    assert_eq!(pending[0].title, submitted_content.title);
    assert!(pending[0].has_tearline);
    assert_eq!(sim.hub_state(orig, &id, 1), HubState::Accepted);
    assert_eq!(
        sim.recipient_state(orig, &id, 1, third),
        Some(RecipientState::Requested { request_id: r.clone(), expires_at: req.expires_at })
    );
    assert_untouched(&sim, third);

    // The originator approves: the third party receives it, exactly once.
    sim.approve(orig, &r, false).expect("approve");
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Approved { tearline_only: false }));
    sim.drive();
    let inbox = sim.inbox(third);
    assert_eq!(inbox.len(), 1);
    let e = &inbox[0];
    assert_eq!(e.delivery.header, sub.header);
    assert_eq!(e.delivery.released, Released::Full(submitted_content.clone()));
    assert_eq!(e.delivery.basis, Basis::Trilateral);
    assert_eq!(e.delivery.request_id, Some(r.clone()));
    assert_eq!(e.received_at, sim.now);
    assert_eq!(
        sim.events(third),
        &[Event::Received {
            header: sub.header.clone(),
            basis: Basis::Trilateral,
            tearline_only: false,
            title: Some(submitted_content.title.clone()),
        }]
    );
    assert_eq!(sim.deliveries_to(third).len(), 1);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(sim.pending(orig).is_empty());
    assert!(progress(&sim, orig).contains(&Progress {
        report_id: report_id(&id),
        revision: 1,
        recipient: Some(third),
        stage: Stage::Forwarded { tearline_only: false },
    }));
    assert!(sim.events(US).iter().any(|e| matches!(e,
        Event::Forwarded { recipient, basis: Basis::Trilateral, tearline_only: false, .. } if *recipient == third)));

    // Nothing more, ever: not after a day, not after the request would have expired.
    sim.advance(2 * DAY);
    sim.drive();
    assert_eq!(sim.deliveries_to(third).len(), 1);
    assert_eq!(sim.received(third).len(), 1);
    assert_eq!(sim.recipient_state(orig, &id, 1, third), Some(RecipientState::Delivered { tearline_only: false }));
    assert!(sim.rejected(US).is_empty() && sim.rejected(KR).is_empty() && sim.rejected(JP).is_empty());
    // The originator's own report never comes back to it.
    assert!(sim.deliveries_to(orig).is_empty());
}

#[test]
fn kr_report_reaches_jp_exactly_once_after_kr_approves() {
    trilateral_release(KR, JP);
}

#[test]
fn jp_report_reaches_kr_exactly_once_after_jp_approves() {
    trilateral_release(JP, KR);
}

// ----------------------------------------------------------------------
// Consent
// ----------------------------------------------------------------------

#[test]
fn nothing_reaches_the_third_party_before_approval() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    for _ in 0..23 {
        sim.advance(HOUR);
        sim.drive();
    }
    assert_eq!(sim.pending(KR).len(), 1);
    assert_untouched(&sim, JP);
}

#[test]
fn deny_is_final() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    sim.advance(HOUR);
    sim.deny(KR, &r, "protect the source").expect("deny");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
    assert!(sim.pending(KR).is_empty());
    let deny_env = sim.in_flight(KR, US).pop().expect("decision in flight");
    sim.drive();
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Denied && p.recipient == Some(JP)));
    assert!(sim
        .events(US)
        .iter()
        .any(|e| matches!(e, Event::Decided { decision } if matches!(decision.decision, Decision::Deny { .. }))));

    // Locally: no second decision of any kind.
    let already = CommandError::AlreadyDecided { request: r.clone(), decision: "denied" };
    assert_eq!(sim.approve(KR, &r, false), Err(already.clone()));
    assert_eq!(sim.approve(KR, &r, true), Err(already.clone()));
    assert_eq!(sim.deny(KR, &r, "again"), Err(already));
    assert_eq!(sim.in_flight_total(), 0);

    // At the hub: a replayed (or forged) approval from KR is rejected.
    let now = sim.now;
    for (i, d) in [Decision::ApproveFull, Decision::ApproveTearline, Decision::Deny { reason: "other reason".into() }]
        .into_iter()
        .enumerate()
    {
        let env = envelope(
            KR,
            &format!("KR.replay.{i}"),
            now,
            Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, d, now)),
        );
        let reason = expect_rejected(&mut sim, US, KR, env, "ALREADY_DECIDED");
        assert_eq!(reason, RejectReason::AlreadyDecided(r.clone()));
    }
    // An exact duplicate of the denial is simply absorbed.
    let log0 = sim.log().len();
    sim.inject(US, KR, deny_env);
    assert_eq!(sim.log().len(), log0);

    // And nothing ever goes to JP, not even after the request would have expired.
    sim.advance(3 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
    assert!(!progress(&sim, KR).iter().any(|p| p.stage == Stage::Expired), "a decided request does not expire");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
}

#[test]
fn deny_needs_a_reason() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.deny(KR, &r, "  "), Err(CommandError::Empty(TextField::Reason)));
    let long = "x".repeat(limits::REASON + 1);
    assert!(matches!(sim.deny(KR, &r, &long), Err(CommandError::TooLong { field: TextField::Reason, .. })));
    assert_eq!(sim.pending(KR).len(), 1, "a refused command changes nothing");
    assert_eq!(sim.in_flight_total(), 0);
}

// ----------------------------------------------------------------------
// Expiry
// ----------------------------------------------------------------------

fn expiry(policy: Policy) {
    let ttl = duration_ms(policy.request_expiry);
    let mut sim = Sim::with_policy(policy);
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.node(US).poll_timeout(), Some(Sim::at(ttl)));
    assert_eq!(sim.node(KR).poll_timeout(), Some(Sim::at(ttl)));

    sim.advance(ttl - 1);
    assert_eq!(sim.pending(KR).len(), 1, "still open one ms before expiry");
    assert!(!sim.events(US).iter().any(|e| matches!(e, Event::Expired { .. })));

    sim.advance(1);
    assert!(sim.pending(KR).is_empty());
    assert!(sim.events(US).iter().any(|e| matches!(e, Event::Expired { request } if request.request_id == r)));
    assert!(sim.events(KR).iter().any(|e| matches!(e, Event::Expired { request } if request.request_id == r)));
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::Expired(r.clone())));
    assert_eq!(sim.approve(KR, &r, true), Err(CommandError::Expired(r.clone())));
    assert_eq!(sim.deny(KR, &r, "late"), Err(CommandError::Expired(r.clone())));
    sim.drive();
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::Expired
    }));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    assert_eq!(sim.node(US).poll_timeout(), None);
    assert_eq!(sim.node(KR).poll_timeout(), None);

    // A decision that still reaches the hub is refused.
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.late.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "EXPIRED"), RejectReason::Expired(r));
    sim.advance(DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn requests_expire_after_24_hours_by_default() {
    assert_eq!(Policy::default().request_expiry, std::time::Duration::from_secs(24 * 3600));
    expiry(Policy::default());
}

#[test]
fn requests_expire_after_a_custom_short_expiry() {
    expiry(Policy { request_expiry: std::time::Duration::from_secs(90), ..Policy::default() });
}

#[test]
fn approval_one_ms_before_expiry_is_honoured() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    sim.advance(DAY - 1);
    sim.approve(KR, &rid("KR-0001", 1, JP), false).expect("still open");
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

fn decision_arrives_late(timers_on_time: bool) {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let r = rid("KR-0001", 1, JP);
    sim.advance(DAY - 1);
    sim.approve(KR, &r, false).expect("approved in time");
    // ... but the decision is still in flight when the request expires.
    if timers_on_time {
        sim.advance(1);
        assert!(sim.events(US).iter().any(|e| matches!(e, Event::Expired { .. })));
    } else {
        sim.advance_without_timers(1);
    }
    let rejections0 = sim.rejected(US).len();
    sim.drive();
    assert_eq!(sim.rejected(US).len(), rejections0 + 1);
    assert_eq!(sim.rejected(US).last(), Some(&&RejectReason::Expired(r.clone())));
    let notices = sim.rejections(US, KR);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].code, "EXPIRED");
    assert_eq!(notices[0].request_id, Some(r.clone()));
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Expired));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    sim.advance(DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn a_decision_reaching_the_hub_after_expiry_is_rejected() {
    decision_arrives_late(true);
}

#[test]
fn a_decision_reaching_the_hub_after_expiry_is_rejected_even_if_the_hub_timer_is_late() {
    decision_arrives_late(false);
}

#[test]
fn a_request_that_arrives_already_expired_cannot_be_approved() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.step_link(KR, US).unwrap();
    // The request spends more than a day on the wire.
    sim.advance(DAY + 1);
    sim.drive();
    let r = rid("KR-0001", 1, JP);
    assert!(sim.pending(KR).is_empty());
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::Expired(r)));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    sim.drive();
    assert_untouched(&sim, JP);
}

// ----------------------------------------------------------------------
// Tearlines
// ----------------------------------------------------------------------

#[test]
fn tearline_only_approval_releases_only_the_tearline() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "t");
    let c = content("t", true);
    let tearline = c.tearline.clone().unwrap();
    let r = rid("KR-0001", 1, JP);
    sim.approve(KR, &r, true).expect("tearline approval");
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Approved { tearline_only: true }));
    sim.drive();

    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].delivery.header, sub.header);
    assert_eq!(inbox[0].delivery.released, Released::Tearline(tearline.clone()));
    assert_eq!(inbox[0].delivery.basis, Basis::Trilateral);
    assert_eq!(
        sim.events(JP),
        &[Event::Received { header: sub.header.clone(), basis: Basis::Trilateral, tearline_only: true, title: None }]
    );
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: true }));
    assert!(sim.events(US).iter().any(|e| matches!(e, Event::Forwarded { tearline_only: true, .. })));
    assert!(progress(&sim, KR).iter().any(|p| p.stage == Stage::Forwarded { tearline_only: true }));

    // The title, body and source reach JP by no path: not in any envelope...
    let secret = [c.title.expose(), c.body.expose(), c.source.expose()];
    for env in sim.sent_to(JP) {
        for s in exposed(&env.payload) {
            assert_eq!(s, tearline.expose(), "only the tearline may travel to JP");
            assert!(!secret.contains(&s.as_str()));
        }
    }
    // ... nor anywhere in JP's state.
    for e in sim.inbox(JP) {
        assert_eq!(released_strings(&e.delivery.released), vec![tearline.expose().to_owned()]);
    }
    assert!(sim.node(JP).status(None, 1000).unwrap().items.is_empty());
    assert!(sim.pending(JP).is_empty());
    for e in sim.events(JP) {
        if let Event::Received { title, .. } = e {
            assert!(title.is_none());
        }
    }
}

#[test]
fn tearline_only_approval_of_a_report_without_tearline_is_refused() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft_no_tearline(NkNuclear, Confidential, "USA,JPN", "n")).unwrap();
    sim.drive();
    let r = rid("KR-0001", 1, JP);
    assert!(!sim.pending(KR)[0].has_tearline);
    assert_eq!(sim.approve(KR, &r, true), Err(CommandError::NoTearline(report_id("KR-0001"))));
    assert_eq!(sim.pending(KR).len(), 1, "the request stays open");
    assert_eq!(sim.in_flight_total(), 0);

    // A hand-made tearline-only decision is refused by the hub too.
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveTearline, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "NO_TEARLINE"), RejectReason::NoTearline(report_id("KR-0001")));
    sim.drive();
    assert_untouched(&sim, JP);

    // A full approval still works.
    sim.approve(KR, &r, false).unwrap();
    sim.drive();
    assert_eq!(sim.inbox(JP)[0].delivery.released, Released::Full(content("n", false)));
}

// ----------------------------------------------------------------------
// Scope, releasable-to and ceilings
// ----------------------------------------------------------------------

#[test]
fn other_category_stays_with_the_hub() {
    let mut sim = Sim::new();
    let d = draft(Other, Secret, "USA,JPN", "o");
    let c = d.content.clone();
    let sub = sim.submit(KR, "KR-0001", d).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why: NotReleasable::OutOfScope(Other) }]);
    assert_eq!(
        sim.recipient_state(KR, "KR-0001", 1, JP),
        Some(RecipientState::NotReleasable(NotReleasable::OutOfScope(Other)))
    );
    sim.drive();
    let held = sim.inbox(US);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].delivery.header, sub.header);
    assert_eq!(held[0].delivery.released, Released::Full(c));
    assert!(opened(&sim).is_empty());
    assert_eq!(requests_sent(&sim), 0);
    assert!(sim.pending(KR).is_empty());
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::NotReleasable(NotReleasable::OutOfScope(Other)),
    }));
    let r = rid("KR-0001", 1, JP);
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::UnknownRequest(r.clone())));
    let now = sim.now;
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    expect_rejected(&mut sim, US, KR, env, "UNKNOWN_REQUEST");
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn scope_is_policy_data() {
    let mut sim = Sim::with_policy(Policy { scope: vec![NkNuclear], ..Policy::default() });
    let sub = sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "m")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: KR, why: NotReleasable::OutOfScope(NkMissile) }]);
    sim.drive();
    assert!(opened(&sim).is_empty());
    sim.submit(JP, "JP-0002", draft(NkNuclear, Secret, "USA,KOR", "n")).unwrap();
    sim.drive();
    assert_eq!(opened(&sim).len(), 1);
    assert_untouched(&sim, KR);
}

#[test]
fn releasable_to_usa_only_stays_with_the_hub() {
    let mut sim = Sim::new();
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "u")).unwrap();
    assert!(sub.notes.is_empty());
    assert_eq!(sub.header.releasable_to, rel("USA"));
    // Naming oneself changes nothing.
    let sub2 = sim.submit(KR, "KR-0002", draft(NkMissile, Secret, "KOR,USA", "u2")).unwrap();
    assert_eq!(sub2.header.releasable_to, rel("USA"));
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1) && sim.has(US, "KR-0002", 1));
    assert!(opened(&sim).is_empty());
    assert_eq!(requests_sent(&sim), 0);
    for p in progress(&sim, KR) {
        assert_eq!((p.stage, p.recipient), (Stage::Accepted, None));
    }
    assert!(sim.status(KR).iter().all(|s| s.recipients.is_empty() && s.hub == HubState::Accepted));
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn a_national_report_must_be_releasable_to_the_hub() {
    let mut sim = Sim::new();
    let e = CommandError::MustIncludeHub { party: KR, hub: US };
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "JPN", "x")), Err(e));
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "KOR,JPN", "x")).unwrap_err(),
        CommandError::MustIncludeHub { party: KR, hub: US }
    );
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "KOR", "x")),
        Err(CommandError::MustIncludeHub { party: JP, hub: US })
    );
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "KOR", "x")), Err(CommandError::NoRecipient));
    assert_eq!(sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "", "x")), Err(CommandError::NoRecipient));
    assert!(sim.log().is_empty() && sim.status(KR).is_empty() && sim.status(JP).is_empty());

    // A hand-made report that skips the rule is refused at the hub and not held.
    let mut h = ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: sim.now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("JPN"),
    };
    let env = envelope(KR, "KR.x.1", sim.now, Payload::Report(signed_report(h.clone(), content("x", true))));
    let reason = expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable { report: h.id.clone(), recipient: US, why: NotReleasable::NotInReleasableTo }
    );
    h.releasable_to = PartySet::EMPTY;
    let env = envelope(KR, "KR.x.2", sim.now, Payload::Report(signed_report(h, content("x", true))));
    expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert!(sim.inbox(US).is_empty());
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn above_the_ceiling_is_refused_at_submit() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkNuclear, TopSecret, "USA,JPN", "ts")),
        Err(CommandError::AboveCeiling { classification: TopSecret, ceiling: Secret, hub: US, nation: KR })
    );
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkNuclear, TopSecret, "USA", "ts")),
        Err(CommandError::AboveCeiling { classification: TopSecret, ceiling: Secret, hub: US, nation: JP })
    );
    assert!(sim.log().is_empty());
    assert!(sim.status(KR).is_empty() && sim.status(JP).is_empty());

    // The hub refuses (and does not hold) a hand-made report above the link ceiling.
    let header = ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: sim.now,
        category: NkNuclear,
        classification: TopSecret,
        releasable_to: rel("USA,JPN"),
    };
    let env = envelope(KR, "KR.x.1", sim.now, Payload::Report(signed_report(header, content("ts", true))));
    let reason = expect_rejected(&mut sim, US, KR, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: US,
            why: NotReleasable::AboveCeiling { classification: TopSecret, ceiling: Secret }
        }
    );
    assert!(sim.inbox(US).is_empty());
    sim.drive();
    assert_untouched(&sim, JP);
}

#[test]
fn above_the_third_partys_ceiling_is_held_at_the_hub() {
    let policy = Policy { jp_ceiling: Confidential, ..Policy::default() };
    let mut sim = Sim::with_policy(policy);
    let why = NotReleasable::AboveCeiling { classification: Secret, ceiling: Confidential };
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "s")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why }]);
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1));
    assert!(opened(&sim).is_empty());
    assert!(progress(&sim, KR).contains(&Progress {
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient: Some(JP),
        stage: Stage::NotReleasable(why),
    }));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::NotReleasable(why)));
    sim.advance(2 * DAY);
    sim.drive();
    assert_untouched(&sim, JP);

    // JP may not even send SECRET; CONFIDENTIAL goes through once approved.
    assert_eq!(
        sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j")),
        Err(CommandError::AboveCeiling { classification: Secret, ceiling: Confidential, hub: US, nation: JP })
    );
    sim.submit(KR, "KR-0002", draft(NkMissile, Confidential, "USA,JPN", "c")).unwrap();
    sim.drive();
    sim.approve(KR, &rid("KR-0002", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0002", 1));
    assert!(!sim.has(JP, "KR-0001", 1));
}

#[test]
fn releasable_to_is_a_limit_not_consent() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    sim.advance(DAY);
    sim.drive();
    sim.advance(DAY);
    sim.drive();
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Expired));
    assert_untouched(&sim, JP);
}

#[test]
fn approval_cannot_widen_releasable_to() {
    let mut sim = Sim::new();
    let sub = sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "w")).unwrap();
    sim.drive();
    let now = sim.now;
    let r = rid("KR-0001", 1, JP);
    let request = |recipient: Party| ReleaseRequest {
        request_id: rid("KR-0001", 1, recipient),
        report_id: report_id("KR-0001"),
        revision: 1,
        recipient,
        requested_at: now,
        expires_at: Sim::at(DAY),
    };

    // A hand-made request for JP is refused by KR: nothing to approve.
    let env = envelope(US, "US.x.1", now, Payload::ReleaseRequest(request(JP)));
    let reason = expect_rejected(&mut sim, KR, US, env, "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: JP,
            why: NotReleasable::NotInReleasableTo
        }
    );
    assert!(sim.pending(KR).is_empty());
    assert_eq!(sim.approve(KR, &r, false), Err(CommandError::UnknownRequest(r.clone())));
    // Requests for the hub or the originator itself are not third parties.
    for (i, p) in [US, KR].into_iter().enumerate() {
        let env = envelope(US, &format!("US.x.{}", i + 2), now, Payload::ReleaseRequest(request(p)));
        let reason = expect_rejected(&mut sim, KR, US, env, "NOT_RELEASABLE");
        assert!(matches!(reason, RejectReason::NotReleasable { why: NotReleasable::NotAThirdParty, .. }));
    }
    // A request whose id does not match what it names.
    let mut bad = request(JP);
    bad.request_id = rid("KR-0002", 1, JP);
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.9", now, Payload::ReleaseRequest(bad)), "REQUEST_MISMATCH");

    // A hand-made approval for JP reaches a hub that never opened such a request.
    let env = envelope(
        KR,
        "KR.x.1",
        now,
        Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now)),
    );
    assert_eq!(expect_rejected(&mut sim, US, KR, env, "UNKNOWN_REQUEST"), RejectReason::UnknownRequest(r.clone()));

    // And JP itself refuses a delivery the releasable-to list does not allow,
    // even with KR's genuine signature over the report and an approval for JP.
    let report = sim.report_sent("KR-0001", 1);
    assert_eq!(report.header, sub.header);
    let consent = kr_approval(&report.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let delivery = trilateral(&report, JP, false, Some(consent));
    assert_eq!(delivery.request_id, Some(r));
    let reason =
        expect_rejected(&mut sim, JP, US, envelope(US, "US.x.10", now, Payload::Delivery(delivery)), "NOT_RELEASABLE");
    assert_eq!(
        reason,
        RejectReason::NotReleasable {
            report: report_id("KR-0001"),
            recipient: JP,
            why: NotReleasable::NotInReleasableTo
        }
    );
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.received(JP).is_empty());
}

#[test]
fn a_nation_refuses_deliveries_that_break_scope_or_ceiling() {
    let mut sim = Sim::new();
    let now = sim.now;
    let header = |category, classification| ReportHeader {
        id: report_id("KR-0001"),
        revision: 1,
        originator: KR,
        created_at: now,
        category,
        classification,
        releasable_to: rel("USA,JPN"),
    };
    // Genuinely signed by KR's node, and approved for JP by a KR approver:
    // only the rule is broken.
    let deliver = |h: ReportHeader| {
        let report = signed_report(h, content("d", true));
        let consent = kr_approval(&report.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
        trilateral(&report, JP, false, Some(consent))
    };
    let r = expect_rejected(
        &mut sim,
        JP,
        US,
        envelope(US, "US.x.1", now, Payload::Delivery(deliver(header(Other, Secret)))),
        "NOT_RELEASABLE",
    );
    assert!(matches!(r, RejectReason::NotReleasable { why: NotReleasable::OutOfScope(Other), .. }));
    let r = expect_rejected(
        &mut sim,
        JP,
        US,
        envelope(US, "US.x.2", now, Payload::Delivery(deliver(header(NkMissile, TopSecret)))),
        "NOT_RELEASABLE",
    );
    assert!(matches!(r, RejectReason::NotReleasable { why: NotReleasable::AboveCeiling { .. }, .. }));
    assert!(sim.inbox(JP).is_empty());
}

// ----------------------------------------------------------------------
// Corrections
// ----------------------------------------------------------------------

#[test]
fn a_correction_needs_its_own_approval() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "r1");
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));

    let sub = sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "r2")).unwrap();
    assert_eq!((sub.header.id.as_str(), sub.header.revision), ("KR-0001", 2));
    sim.drive();
    let r2 = rid("KR-0001", 2, JP);
    assert_ne!(r2, rid("KR-0001", 1, JP));
    assert_eq!(opened(&sim).last().map(|r| r.request_id.clone()), Some(r2.clone()));
    let pending = sim.pending(KR);
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].request.request_id.clone(), pending[0].header.revision), (r2, 2));
    sim.advance(2 * DAY);
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 2));
    assert_eq!(sim.deliveries_to(JP).len(), 1);
    assert_eq!(sim.recipient_state(KR, "KR-0001", 2, JP), Some(RecipientState::Expired));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Delivered { tearline_only: false }));
}

#[test]
fn approving_revision_1_does_not_release_revision_2() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "r1")).unwrap();
    // The id argument is ignored for a correction.
    let mut d2 = draft(NkMissile, Secret, "USA,JPN", "r2");
    d2.corrects = Some(report_id("KR-0001"));
    let sub2 = sim.submit(KR, "KR-9999", d2).unwrap();
    assert_eq!((sub2.header.id.as_str(), sub2.header.revision), ("KR-0001", 2));
    sim.drive();
    assert_eq!(sim.pending(KR).len(), 2);

    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
    assert!(!sim.has(JP, "KR-0001", 2));

    // Reusing revision 1's approval for revision 2 is refused: presented as
    // revision 2's (the signed document still says revision 1) ...
    let now = sim.now;
    let genuine = sim.decisions_sent("KR-0001", 1).pop().expect("KR's approval of revision 1");
    let r2 = sim.report_sent("KR-0001", 2);
    let mut d = genuine.clone();
    d.revision = 2;
    d.request_id = rid("KR-0001", 2, JP);
    d.manifest_sha256 = sha256(&r2.manifest.bytes);
    let reason =
        expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.1", now, Payload::ReleaseDecision(d)), "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{reason:?}");
    // ... or re-signed for revision 2 on revision 1's request.
    let mut doc = DecisionDoc::parse(&genuine.signed.bytes).unwrap();
    doc.revision = 2;
    let d = signed_decision(&doc, &approver(KR, 0));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.2", now, Payload::ReleaseDecision(d)), "REQUEST_MISMATCH");
    sim.drive();
    assert!(!sim.has(JP, "KR-0001", 2));
    assert!(sim.rejected(JP).is_empty(), "the hub forwarded nothing for JP to refuse");
    assert_eq!(sim.forwarded_to(JP).len(), 1);

    sim.approve(KR, &rid("KR-0001", 2, JP), false).unwrap();
    sim.drive();
    let inbox = sim.inbox(JP);
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[1].delivery.header.revision, 2);
    assert_eq!(inbox[1].delivery.released, Released::Full(content("r2", true)));
    assert_eq!(inbox[0].delivery.released, Released::Full(content("r1", true)));
}

#[test]
fn a_correction_is_judged_on_its_own_header() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "r1");
    let sub = sim.correct(KR, "KR-0001", draft(Other, Secret, "USA,JPN", "r2")).unwrap();
    assert_eq!(sub.notes, vec![SubmitNote { recipient: JP, why: NotReleasable::OutOfScope(Other) }]);
    sim.drive();
    assert_eq!(opened(&sim).len(), 1, "no request for the out-of-scope revision");
    assert_eq!(sim.pending(KR).len(), 1);
}

#[test]
fn corrections_of_unknown_or_foreign_reports_are_refused() {
    let mut sim = Sim::new();
    sim.submit(JP, "JP-0001", draft(NkMissile, Secret, "USA,KOR", "j")).unwrap();
    sim.drive();
    assert_eq!(
        sim.correct(KR, "KR-0404", draft(NkMissile, Secret, "USA,JPN", "x")),
        Err(CommandError::UnknownReport(report_id("KR-0404")))
    );
    assert_eq!(
        sim.correct(KR, "JP-0001", draft(NkMissile, Secret, "USA,JPN", "x")),
        Err(CommandError::UnknownReport(report_id("JP-0001")))
    );
    assert!(sim.status(KR).is_empty());
    assert!(sim.sent(KR, US).is_empty());
}

// ----------------------------------------------------------------------
// The hub's own reports
// ----------------------------------------------------------------------

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

#[test]
fn report_ids_carry_their_originators_prefix_and_are_unique() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.submit(US, "KR-0001", draft(NkMissile, Secret, "KOR", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("KR-0001"), prefix: "US" })
    );
    assert_eq!(
        sim.submit(KR, "US-0001", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("US-0001"), prefix: "KR" })
    );
    assert_eq!(
        sim.submit(JP, "KR-0001", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { id: report_id("KR-0001"), prefix: "JP" })
    );
    assert!(matches!(
        sim.submit(KR, "KR", draft(NkMissile, Secret, "USA", "x")),
        Err(CommandError::BadReportIdPrefix { .. })
    ));
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "x")).unwrap();
    assert_eq!(
        sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "y")),
        Err(CommandError::DuplicateReportId(report_id("KR-0001")))
    );
    assert_eq!(sim.status(KR).len(), 1);
}

#[test]
fn report_text_is_checked_at_submit() {
    let mut sim = Sim::new();
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.title = Sensitive::new(" ");
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Title)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.body = Sensitive::new("");
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Body)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.tearline = Some(Sensitive::new(""));
    assert_eq!(sim.submit(KR, "KR-0001", d), Err(CommandError::Empty(TextField::Tearline)));
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.title = Sensitive::new("t".repeat(limits::TITLE + 1));
    assert!(matches!(sim.submit(KR, "KR-0001", d), Err(CommandError::TooLong { field: TextField::Title, .. })));
    // An empty source is fine.
    let mut d = draft(NkMissile, Secret, "USA,JPN", "x");
    d.content.source = Sensitive::new("");
    sim.submit(KR, "KR-0001", d).unwrap();
    assert_eq!(sim.log().len(), 1);
}

// ----------------------------------------------------------------------
// Duplicates
// ----------------------------------------------------------------------

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

#[test]
fn every_message_delivered_twice_is_idempotent() {
    let mut sim = Sim::new();
    busy_day(&mut sim, Sim::drive_twice);
    assert_eq!(sim.inbox(JP).len(), 4);
    assert_eq!(sim.inbox(KR).len(), 3);
    assert_eq!(sim.inbox(US).len(), 9);
    assert_eq!(sim.received(JP).len(), 4);
    assert_eq!(sim.received(KR).len(), 3);
    assert!(grant_of(&sim, JP, "KR-0004").is_some() && grant_of(&sim, KR, "JP-0003").is_some());
    assert!(!sim.has(JP, "KR-0005", 1));
    assert_eq!(sim.grants(US).iter().map(|g| g.revoked).collect::<Vec<_>>(), [true, false]);
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?}: {:?}", sim.rejected(p));
    }
}

#[test]
fn replaying_the_whole_day_changes_nothing() {
    let mut sim = Sim::new();
    busy_day(&mut sim, Sim::drive);
    let snapshot = |sim: &Sim| {
        Party::ALL.map(|p| (sim.inbox(p), sim.status(p), sim.pending(p), sim.node(p).poll_timeout(), sim.grants(p)))
    };
    let before = snapshot(&sim);
    let log: Vec<Sent> = sim.log().to_vec();
    assert!(log.len() > 20);
    for replay in [log.clone(), log.iter().rev().cloned().collect()] {
        let n = sim.log().len();
        for s in replay {
            let m = sim.log().len();
            let (to, from) = (s.transmit.to, s.from);
            sim.inject(to, from, s.transmit.envelope);
            assert_answers_only(&sim.log()[m..], to, from, "a replayed message");
        }
        // The answers (where each thing stands) change nothing either.
        sim.drive();
        assert!(sim.log().len() > n);
        assert_eq!(snapshot(&sim), before);
    }
    for p in Party::ALL {
        assert!(sim.rejected(p).is_empty(), "{p:?}: {:?}", sim.rejected(p));
    }
    assert_eq!(sim.received(JP).len(), 4);
    assert_eq!(sim.received(KR).len(), 3);
}

// ----------------------------------------------------------------------
// Forged and inconsistent input
// ----------------------------------------------------------------------

#[test]
fn wrong_sender_for_the_link_is_forged() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    // JP's name on KR's link, KR's name on JP's link, the hub's name on a nation's link.
    let mut env = envelope(JP, "JP.x.1", now, report.clone());
    assert_eq!(
        expect_rejected(&mut sim, US, KR, env.clone(), "FORGED_SENDER"),
        RejectReason::ForgedSender { claimed: JP, link: KR }
    );
    env.sender = KR;
    assert_eq!(
        expect_rejected(&mut sim, US, JP, env.clone(), "FORGED_SENDER"),
        RejectReason::ForgedSender { claimed: KR, link: JP }
    );
    env.sender = US;
    expect_rejected(&mut sim, US, JP, env, "FORGED_SENDER");
    // At a nation: anything not signed by the hub on the hub's link.
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    for (i, sender) in [KR, JP].into_iter().enumerate() {
        let env = envelope(sender, &format!("X.x.{i}"), now, delivery.clone());
        assert_eq!(
            expect_rejected(&mut sim, JP, US, env, "FORGED_SENDER"),
            RejectReason::ForgedSender { claimed: sender, link: US }
        );
    }
    sim.drive();
    assert!(sim.inbox(JP).is_empty() && sim.received(JP).is_empty());
    assert_eq!(sim.inbox(US).len(), 1);
}

#[test]
fn messages_on_links_that_do_not_exist_are_refused_silently() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    // KR straight to JP (with either name), JP straight to KR, a node to itself.
    expect_rejected(&mut sim, JP, KR, envelope(KR, "KR.x.1", now, delivery.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, JP, KR, envelope(US, "US.x.1", now, delivery.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, KR, JP, envelope(JP, "JP.x.1", now, report.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, US, US, envelope(US, "US.x.2", now, report.clone()), "UNEXPECTED_MESSAGE");
    expect_rejected(&mut sim, KR, KR, envelope(KR, "KR.x.2", now, report), "UNEXPECTED_MESSAGE");
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
}

#[test]
fn a_decision_from_the_wrong_nation_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let r = rid("KR-0001", 1, JP);
    // Signed by JP's own approver: JP may not decide KR's report.
    for (i, d) in [Decision::ApproveFull, Decision::Deny { reason: "sabotage".into() }].into_iter().enumerate() {
        let d = decision_by(&sim, "KR-0001", 1, JP, d, now, &approver(JP, 1));
        let env = envelope(JP, &format!("JP.x.{i}"), now, Payload::ReleaseDecision(d));
        assert_eq!(expect_rejected(&mut sim, US, JP, env, "NOT_ORIGINATOR"), RejectReason::NotOriginator(r.clone()));
    }
    // Signed by a KR approver but sent by JP: not a key of the party on the link.
    let d = decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now);
    let reason =
        expect_rejected(&mut sim, US, JP, envelope(JP, "JP.y.1", now, Payload::ReleaseDecision(d)), "UNVERIFIED");
    assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }));
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
    // The request is untouched: KR still decides, and JP gets it once.
    assert_eq!(sim.pending(KR).len(), 1);
    sim.approve(KR, &r, false).unwrap();
    sim.drive();
    assert_eq!(sim.deliveries_to(JP).len(), 1);
    assert!(sim.has(JP, "KR-0001", 1));
}

#[test]
fn a_decision_that_does_not_match_its_request_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    kr_report_requested(&mut sim, "KR-0002", "b");
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a2")).unwrap();
    sim.drive();
    let now = sim.now;
    let good = decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now);
    let good_doc = DecisionDoc::parse(&good.signed.bytes).unwrap();
    type Alter = fn(&mut DecisionDoc);
    let alter: [(&str, Alter); 6] = [
        ("report", |d| d.report_id = report_id("KR-0002")),
        ("revision", |d| d.revision = 2),
        ("revision0", |d| d.revision = 0),
        ("recipient-us", |d| d.recipient = US),
        ("recipient-kr", |d| d.recipient = KR),
        ("request", |d| d.request_id = rid("KR-0002", 1, JP)),
    ];
    // A KR approver signs a document that does not match the request it names.
    for (i, (what, f)) in alter.iter().enumerate() {
        let mut doc = DecisionDoc { operator: "park".into(), ..good_doc.clone() };
        f(&mut doc);
        let d = signed_decision(&doc, &approver(KR, 1));
        let env = envelope(KR, &format!("KR.x.{i}"), now, Payload::ReleaseDecision(d.clone()));
        let reason = expect_rejected(&mut sim, US, KR, env, "REQUEST_MISMATCH");
        assert_eq!(reason, RejectReason::RequestMismatch(d.request_id), "{what}");
    }
    // The same alterations made to the fields only, next to the genuine signature.
    for (i, (what, f)) in alter.iter().enumerate() {
        let mut doc = good_doc.clone();
        f(&mut doc);
        let mut d = good.clone();
        (d.request_id, d.report_id, d.revision, d.recipient) =
            (doc.request_id, doc.report_id, doc.revision, doc.recipient);
        let env = envelope(KR, &format!("KR.z.{i}"), now, Payload::ReleaseDecision(d));
        let reason = expect_rejected(&mut sim, US, KR, env, "UNVERIFIED");
        assert!(matches!(reason, RejectReason::Unverified { what: "decision", .. }), "{what}: {reason:?}");
    }
    let mut doc = good_doc.clone();
    doc.request_id = rid("KR-0001", 7, JP);
    let d = signed_decision(&doc, &approver(KR, 0));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.y.1", now, Payload::ReleaseDecision(d)), "UNKNOWN_REQUEST");
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.forwarded_to(JP).is_empty());
    assert_eq!(sim.pending(KR).len(), 3);
}

#[test]
fn a_nation_refuses_its_own_report() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.report_sent("KR-0001", 1);
    assert_eq!(report.header, sub.header);
    for (i, basis) in [Basis::Trilateral, Basis::Bilateral].into_iter().enumerate() {
        let d = Delivery { basis, ..trilateral(&report, KR, false, None) };
        assert_eq!(d.request_id, Some(rid("KR-0001", 1, KR)));
        let env = envelope(US, &format!("US.x.{i}"), now, Payload::Delivery(d));
        assert_eq!(expect_rejected(&mut sim, KR, US, env, "OWN_REPORT"), RejectReason::OwnReport(report_id("KR-0001")));
    }
    assert!(sim.inbox(KR).is_empty());
}

#[test]
fn a_report_must_come_from_its_originator() {
    let mut sim = Sim::new();
    let now = sim.now;
    let header = |id: &str, originator: Party, revision: u32| ReportHeader {
        id: report_id(id),
        revision,
        originator,
        created_at: now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("USA,KOR,JPN"),
    };
    let report = |h| Payload::Report(signed_report(h, content("f", true)));
    // KR passing off a report as JP's.
    let r = expect_rejected(
        &mut sim,
        US,
        KR,
        envelope(KR, "KR.x.1", now, report(header("JP-0001", JP, 1))),
        "WRONG_ORIGINATOR",
    );
    assert_eq!(r, RejectReason::WrongOriginator { report: report_id("JP-0001"), claimed: JP, link: KR });
    expect_rejected(
        &mut sim,
        US,
        KR,
        envelope(KR, "KR.x.2", now, report(header("US-0001", US, 1))),
        "WRONG_ORIGINATOR",
    );
    // KR's own name on another prefix, or revision 0.
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.3", now, report(header("JP-0001", KR, 1))), "BAD_REPORT_ID");
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.4", now, report(header("KR-0001", KR, 0))), "BAD_REPORT_ID");
    sim.drive();
    assert!(sim.inbox(US).is_empty());
    assert!(opened(&sim).is_empty());
    assert_untouched(&sim, JP);
}

#[test]
fn a_conflicting_copy_is_refused() {
    let mut sim = Sim::new();
    kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let Payload::Report(mut report) = sim.sent(KR, US)[0].payload.clone() else { panic!() };
    let original = report.clone();
    // Another body under the same revision, signed by KR's node (a KR node
    // that reuses a revision number): a conflict.
    report.content.body = Sensitive::new("CANARY-BODY-a: something else");
    report.manifest = manifest(&report.header, &report.content, CLERK, &node_key(KR));
    let r = expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.1", now, Payload::Report(report)), "CONFLICT");
    assert_eq!(r, RejectReason::Conflict { report: report_id("KR-0001"), revision: 1 });
    let mut report = original.clone();
    report.header.classification = Confidential;
    report.manifest = manifest(&report.header, &report.content, CLERK, &node_key(KR));
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.2", now, Payload::Report(report.clone())), "CONFLICT");
    // The same changes without KR's signature do not even verify.
    report.manifest = original.manifest.clone();
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.3", now, Payload::Report(report)), "UNVERIFIED");
    let mut report = original.clone();
    report.content.body = Sensitive::new("CANARY-BODY-a: something else");
    expect_rejected(&mut sim, US, KR, envelope(KR, "KR.x.4", now, Payload::Report(report)), "UNVERIFIED");
    assert_eq!(sim.inbox(US)[0].delivery.released, Released::Full(original.content.clone()));
    assert_eq!(opened(&sim).len(), 1);

    // A nation refuses a second, different copy of what it holds: here the
    // tearline alone, approved by KR's other approver (genuine in every respect).
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.drive();
    let Payload::Delivery(held) = sim.sent(US, JP)[0].payload.clone() else { panic!() };
    let doc = decision_doc(&original.manifest, "KR-0001", 1, JP, Verdict::ApproveTearline, now, "park");
    let consent = Consent::Decision(signed_decision(&doc, &approver(KR, 1)));
    let d = trilateral(&original, JP, true, Some(consent));
    let r = expect_rejected(&mut sim, JP, US, envelope(US, "US.x.1", now, Payload::Delivery(d)), "CONFLICT");
    assert_eq!(r, RejectReason::Conflict { report: report_id("KR-0001"), revision: 1 });
    assert_eq!(sim.inbox(JP)[0].delivery, held);
}

#[test]
fn messages_of_the_wrong_kind_for_the_receiver_are_refused() {
    let mut sim = Sim::new();
    let sub = kr_report_requested(&mut sim, "KR-0001", "a");
    let now = sim.now;
    let report = sim.sent(KR, US)[0].payload.clone();
    let request = sim.sent(US, KR).iter().find(|e| e.payload.kind() == "request").unwrap().payload.clone();
    let progress = sim.sent(US, KR)[0].payload.clone();
    assert_eq!(sim.report_sent("KR-0001", 1).header, sub.header);
    let delivery = Payload::Delivery(approved_delivery(&sim, "KR-0001", 1, false));
    let decision = Payload::ReleaseDecision(decision(&sim, "KR-0001", 1, JP, Decision::ApproveFull, now));
    // A report sent to a nation.
    let r = expect_rejected(&mut sim, JP, US, envelope(US, "US.x.1", now, report.clone()), "UNEXPECTED_MESSAGE");
    assert_eq!(r, RejectReason::UnexpectedMessage { kind: "report", link: US });
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.2", now, report), "UNEXPECTED_MESSAGE");
    // A decision sent to a nation.
    expect_rejected(&mut sim, JP, US, envelope(US, "US.x.3", now, decision), "UNEXPECTED_MESSAGE");
    // Requests, deliveries and progress sent to the hub.
    for (i, p) in [request, delivery, progress].into_iter().enumerate() {
        expect_rejected(&mut sim, US, KR, envelope(KR, &format!("KR.x.{i}"), now, p), "UNEXPECTED_MESSAGE");
    }
    sim.drive();
    assert!(sim.inbox(JP).is_empty());
}

#[test]
fn deliveries_on_the_wrong_basis_are_refused() {
    let mut sim = Sim::new();
    let now = sim.now;
    let h = |id: &str, originator| ReportHeader {
        id: report_id(id),
        revision: 1,
        originator,
        created_at: now,
        category: NkMissile,
        classification: Secret,
        releasable_to: rel("USA,KOR,JPN"),
    };
    // Every report genuinely signed by its originator's node, and every
    // national one approved for JP by a KR approver.
    let kr = signed_report(h("KR-0001", KR), content("a", true));
    let us = signed_report(h("US-0001", US), content("a", true));
    let approval = kr_approval(&kr.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let approved = trilateral(&kr, JP, false, Some(approval.clone()));
    let bad_id = signed_report(h("JP-0001", KR), content("a", true));
    let cases = [
        // A national report passed off as bilateral.
        (Delivery { basis: Basis::Bilateral, request_id: None, consent: None, ..approved.clone() }, "NOT_RELEASABLE"),
        (Delivery { basis: Basis::Bilateral, request_id: None, ..approved.clone() }, "NOT_RELEASABLE"),
        // The hub's report passed off as trilateral.
        (trilateral(&us, JP, false, None), "NOT_RELEASABLE"),
        // A bilateral delivery naming a request, carrying a tearline only, or consent.
        (Delivery { request_id: Some(rid("US-0001", 1, JP)), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        (Delivery { released: Released::Tearline(Sensitive::new("t")), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        (
            Delivery { released: Released::Tearline(us.content.tearline.clone().unwrap()), ..bilateral(&us) },
            "UNEXPECTED_MESSAGE",
        ),
        (Delivery { consent: Some(approval), ..bilateral(&us) }, "UNEXPECTED_MESSAGE"),
        // A trilateral delivery without its request, or naming another.
        (Delivery { request_id: None, ..approved.clone() }, "REQUEST_MISMATCH"),
        (Delivery { request_id: Some(rid("KR-0002", 1, JP)), ..approved.clone() }, "REQUEST_MISMATCH"),
        // Bad ids.
        (trilateral(&bad_id, JP, false, None), "BAD_REPORT_ID"),
    ];
    for (i, (d, code)) in cases.into_iter().enumerate() {
        expect_rejected(&mut sim, JP, US, envelope(US, &format!("US.x.{i}"), now, Payload::Delivery(d)), code);
    }
    assert!(sim.inbox(JP).is_empty());
    assert!(sim.received(JP).is_empty());
}

#[test]
fn progress_and_requests_for_unknown_reports_are_refused() {
    let mut sim = Sim::new();
    let now = sim.now;
    let p = Progress { report_id: report_id("KR-0404"), revision: 1, recipient: None, stage: Stage::Accepted };
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.1", now, Payload::Progress(p)), "UNKNOWN_REPORT");
    let req = ReleaseRequest {
        request_id: rid("KR-0404", 1, JP),
        report_id: report_id("KR-0404"),
        revision: 1,
        recipient: JP,
        requested_at: now,
        expires_at: Sim::at(DAY),
    };
    expect_rejected(
        &mut sim,
        KR,
        US,
        envelope(US, "US.x.2", now, Payload::ReleaseRequest(req.clone())),
        "UNKNOWN_REPORT",
    );
    // KR's request sent to JP.
    kr_report_requested(&mut sim, "KR-0404", "a");
    expect_rejected(&mut sim, JP, US, envelope(US, "US.x.3", now, Payload::ReleaseRequest(req)), "UNKNOWN_REPORT");
    // Progress for a recipient the report does not name.
    let p = Progress { report_id: report_id("KR-0404"), revision: 1, recipient: Some(US), stage: Stage::Denied };
    expect_rejected(&mut sim, KR, US, envelope(US, "US.x.4", now, Payload::Progress(p)), "UNKNOWN_REPORT");
    assert!(sim.pending(JP).is_empty());
}

#[test]
fn a_rejection_is_never_answered_with_a_rejection() {
    let mut sim = Sim::new();
    let now = sim.now;
    let notice = Rejection {
        refers_to: MessageId::new("US.0.1").unwrap(),
        code: "CONFLICT".into(),
        detail: "x".into(),
        report_id: Some(report_id("KR-0001")),
        request_id: None,
    };
    // Well-formed notices are recorded, never answered.
    for (to, link) in LINKS.map(|(a, b)| (b, a)) {
        let n0 = sim.log().len();
        sim.inject(to, link, envelope(link, "X.n.1", now, Payload::Rejection(notice.clone())));
        assert_eq!(sim.log().len(), n0);
        assert!(matches!(sim.events(to).last(), Some(Event::RejectionReceived { link: l, .. }) if *l == link));
    }
    // Malformed ones (forged sender, no such link) are refused, still silently.
    expect_rejected(&mut sim, US, KR, envelope(JP, "JP.n.1", now, Payload::Rejection(notice.clone())), "FORGED_SENDER");
    expect_rejected(&mut sim, KR, US, envelope(JP, "JP.n.2", now, Payload::Rejection(notice.clone())), "FORGED_SENDER");
    expect_rejected(&mut sim, KR, JP, envelope(JP, "JP.n.3", now, Payload::Rejection(notice)), "UNEXPECTED_MESSAGE");
    assert!(sim.log().is_empty());
    // Two parties that refuse each other's messages go quiet.
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    let env = sim.in_flight(KR, US)[0].clone();
    let Payload::Report(mut r) = env.payload.clone() else { panic!() };
    r.header.originator = JP;
    sim.drop_link(KR, US);
    sim.inject(US, KR, envelope(KR, "KR.b.1", now, Payload::Report(r)));
    sim.drive();
    assert_eq!(sim.rejections(US, KR).len(), 1);
    assert!(sim.rejections(KR, US).is_empty());
    assert!(matches!(sim.hub_state(KR, "KR-0001", 1), HubState::Sent | HubState::Rejected { .. }));
}

// ----------------------------------------------------------------------
// Paging
// ----------------------------------------------------------------------

#[test]
fn pending_pages() {
    let mut sim = Sim::new();
    for i in 1..=5 {
        sim.submit(KR, &format!("KR-000{i}"), draft(NkMissile, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.drive();
    let rids: Vec<String> = (1..=5).map(|i| rid(&format!("KR-000{i}"), 1, JP).as_str().to_owned()).collect();
    let node = sim.node(KR);
    let now = sim.now;
    let ids =
        |p: &Page<PendingView>| p.items.iter().map(|v| v.request.request_id.as_str().to_owned()).collect::<Vec<_>>();

    let p1 = node.pending(now, None, 2).unwrap();
    assert_eq!(ids(&p1), rids[0..2]);
    assert_eq!(p1.next_after.as_deref(), Some(rids[1].as_str()));
    let p2 = node.pending(now, p1.next_after.as_deref(), 2).unwrap();
    assert_eq!(ids(&p2), rids[2..4]);
    assert_eq!(p2.next_after.as_deref(), Some(rids[3].as_str()));
    let p3 = node.pending(now, p2.next_after.as_deref(), 2).unwrap();
    assert_eq!(ids(&p3), rids[4..5]);
    assert_eq!(p3.next_after, None);
    let p4 = node.pending(now, Some(&rids[4]), 2).unwrap();
    assert!(p4.items.is_empty() && p4.next_after.is_none());
    let all = node.pending(now, None, 5).unwrap();
    assert_eq!(ids(&all), rids);
    assert_eq!(all.next_after, None);
    assert_eq!(node.pending(now, None, 10_000).unwrap().items.len(), 5);
    let one = node.pending(now, None, 0).unwrap();
    assert_eq!(ids(&one), rids[0..1], "limit 0 means 1");
    assert_eq!(one.next_after.as_deref(), Some(rids[0].as_str()));
    assert_eq!(node.pending(now, Some("nope"), 2), Err(CommandError::UnknownCursor("nope".into())));
    // Expired requests are not pending.
    assert!(node.pending(Sim::at(DAY), None, 10).unwrap().items.is_empty());

    // Decided requests leave the list (and stop being cursors).
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    let node = sim.node(KR);
    assert_eq!(ids(&node.pending(now, None, 10).unwrap()), rids[1..]);
    assert!(matches!(node.pending(now, Some(&rids[0]), 2), Err(CommandError::UnknownCursor(_))));
}

#[test]
fn inbox_and_status_pages() {
    let mut sim = Sim::new();
    for i in 1..=4 {
        sim.submit(KR, &format!("KR-000{i}"), draft(NkMissile, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.correct(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "2b")).unwrap();
    sim.drive();
    for v in sim.pending(KR) {
        sim.approve(KR, &v.request.request_id, false).unwrap();
    }
    sim.drive();

    let expected = ["KR-0001.r1", "KR-0002.r1", "KR-0003.r1", "KR-0004.r1", "KR-0002.r2"];
    let jp = sim.node(JP);
    let cursors = |p: &Page<InboxEntry>| {
        p.items.iter().map(|e| inbox_cursor(&e.delivery.header.id, e.delivery.header.revision)).collect::<Vec<_>>()
    };
    let p1 = jp.inbox(None, 3).unwrap();
    assert_eq!(cursors(&p1), expected[..3]);
    assert_eq!(p1.next_after.as_deref(), Some("KR-0003.r1"));
    let p2 = jp.inbox(p1.next_after.as_deref(), 3).unwrap();
    assert_eq!(cursors(&p2), expected[3..]);
    assert_eq!(p2.next_after, None);
    assert_eq!(jp.inbox(Some("KR-0009.r1"), 3), Err(CommandError::UnknownCursor("KR-0009.r1".into())));
    assert_eq!(cursors(&jp.inbox(Some("KR-0004.r1"), 0).unwrap()), ["KR-0002.r2"]);

    // Status: submission order by report, every revision.
    let kr = sim.node(KR);
    let cur = |p: &Page<RevisionStatus>| {
        p.items.iter().map(|s| inbox_cursor(&s.header.id, s.header.revision)).collect::<Vec<_>>()
    };
    let s1 = kr.status(None, 2).unwrap();
    assert_eq!(cur(&s1), ["KR-0001.r1", "KR-0002.r1"]);
    assert_eq!(s1.next_after.as_deref(), Some("KR-0002.r1"));
    let s2 = kr.status(s1.next_after.as_deref(), 2).unwrap();
    assert_eq!(cur(&s2), ["KR-0002.r2", "KR-0003.r1"]);
    let s3 = kr.status(s2.next_after.as_deref(), 2).unwrap();
    assert_eq!(cur(&s3), ["KR-0004.r1"]);
    assert_eq!(s3.next_after, None);
    assert!(matches!(kr.status(Some("KR-0001"), 2), Err(CommandError::UnknownCursor(_))));
    assert!(kr
        .status(None, 100)
        .unwrap()
        .items
        .iter()
        .all(|s| s.recipients[&JP] == RecipientState::Delivered { tearline_only: false }));
    let rs = kr.report_status(&report_id("KR-0002")).unwrap();
    assert_eq!(rs.iter().map(|s| s.header.revision).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(kr.report_status(&report_id("KR-0009")), Err(CommandError::UnknownReport(report_id("KR-0009"))));
    assert!(jp.status(None, 10).unwrap().items.is_empty());
}

// ----------------------------------------------------------------------
// Request ids
// ----------------------------------------------------------------------

#[test]
fn long_report_ids_get_distinct_request_ids() {
    let a = format!("KR-{}", "x".repeat(124));
    let b = format!("KR-{}y", "x".repeat(123));
    assert_eq!((a.len(), b.len()), (127, 127));
    for rev in [1, 2, u32::MAX] {
        let (ra, rb) = (rid(&a, rev, JP), rid(&b, rev, JP));
        assert!(ra.as_str().len() <= 128 && RequestId::new(ra.as_str()).is_ok());
        assert_ne!(ra, rb, "two reports share release request {ra}");
        assert_ne!(ra, rid(&a, rev, KR));
    }

    // End to end: both can be released.
    let mut sim = Sim::new();
    sim.submit(KR, &a, draft(NkMissile, Secret, "USA,JPN", "a")).unwrap();
    sim.submit(KR, &b, draft(NkMissile, Secret, "USA,JPN", "b")).unwrap();
    sim.drive();
    assert_eq!(sim.pending(KR).len(), 2);
    for v in sim.pending(KR) {
        sim.approve(KR, &v.request.request_id, false).unwrap();
    }
    sim.drive();
    assert!(sim.has(JP, &a, 1) && sim.has(JP, &b, 1));
    assert!(sim.rejected(US).is_empty() && sim.rejected(KR).is_empty());
}

// ----------------------------------------------------------------------
// Logs never carry content
// ----------------------------------------------------------------------

#[test]
fn debug_output_never_contains_report_content() {
    let mut sim = Sim::new();
    let mut results = Vec::new();
    busy_day(&mut sim, Sim::drive);
    results.push(format!("{:?}", sim.submit(KR, "KR-0009", draft(NkMissile, Secret, "USA,JPN", "z"))));
    results.push(format!("{:?}", sim.submit(KR, "KR-0010", draft(NkMissile, TopSecret, "USA,JPN", "z"))));
    results.push(format!("{:?}", sim.submit(KR, "KR-0011", draft(Other, Secret, "USA,JPN", "z"))));
    sim.drive();
    results.push(format!("{:?}", sim.pending(KR)));
    // Forged input carrying content, refused in every way we know.
    let now = sim.now;
    let Payload::Report(mut r) = sim.sent(KR, US)[0].payload.clone() else { panic!() };
    let genuine = r.clone();
    r.content.body = Sensitive::new("CANARY-BODY-conflict");
    sim.inject(US, KR, envelope(KR, "KR.f.0", now, Payload::Report(r.clone()))); // unverified
    r.manifest = manifest(&r.header, &r.content, CLERK, &node_key(KR));
    sim.inject(US, KR, envelope(KR, "KR.f.1", now, Payload::Report(r.clone()))); // conflict
    sim.inject(US, JP, envelope(KR, "KR.f.2", now, Payload::Report(r.clone())));
    // A compromised hub's tampered delivery to JP, with KR's genuine approval.
    let consent = kr_approval(&genuine.manifest, "KR-0001", 1, Verdict::ApproveFull, now);
    let tampered =
        Delivery { released: Released::Full(r.content.clone()), ..trilateral(&genuine, JP, false, Some(consent)) };
    sim.inject(JP, US, envelope(US, "US.f.0", now, Payload::Delivery(tampered)));
    r.header.originator = JP;
    sim.inject(US, KR, envelope(KR, "KR.f.3", now, Payload::Report(r.clone())));
    let d = Delivery { basis: Basis::Bilateral, request_id: None, ..trilateral(&r, JP, false, None) };
    sim.inject(KR, US, envelope(US, "US.f.1", now, Payload::Delivery(d.clone())));
    sim.inject(JP, KR, envelope(KR, "KR.f.4", now, Payload::Delivery(d)));
    sim.drive();
    assert!(sim.rejected(US).iter().any(|r| r.code() == "UNVERIFIED"));
    assert!(sim.rejected(US).iter().any(|r| r.code() == "CONFLICT"));
    assert!(sim.rejected(JP).iter().any(|r| r.code() == "UNVERIFIED"));
    results.push(format!("{:?}", sim.approve(KR, &rid("KR-0001", 1, JP), true)));

    let mut checked = 0;
    let mut check = |what: &str, s: String| {
        assert!(!s.contains("CANARY"), "{what} leaks content: {s}");
        checked += 1;
    };
    for p in Party::ALL {
        for e in sim.events(p) {
            check("event", format!("{e:?}"));
            check("event", format!("{e:#?}"));
            if let Event::Rejected { reason, .. } = e {
                check("reason", reason.to_string());
            }
        }
        check("inbox", format!("{:?}", sim.inbox(p)));
        check("status", format!("{:?}", sim.status(p)));
        check("pending", format!("{:?}", sim.pending(p)));
        check("node", format!("{:?}", sim.node(p)));
        check("grants", format!("{:?}", sim.grants(p)));
    }
    for s in sim.log() {
        check("transmit", format!("{:?}", s.transmit));
        check("transmit", format!("{:#?}", s.transmit));
    }
    for r in results {
        check("command result", r);
    }
    assert!(checked > 100);
    // The canaries are really there, for those they were released to.
    assert!(sim.inbox(JP).iter().any(|e| released_strings(&e.delivery.released).iter().any(|s| s.contains("CANARY"))));
}

// ----------------------------------------------------------------------
// Status
// ----------------------------------------------------------------------

#[test]
fn a_rejection_of_one_revision_does_not_stick_to_the_next() {
    // KR's node is misconfigured with a TOP_SECRET ceiling: the hub refuses
    // revision 1, but KR has already issued revision 2 at SECRET.
    let kr = Policy { kr_ceiling: TopSecret, ..Policy::default() };
    let mut sim = Sim::with_policies(kr, Policy::default(), Policy::default());
    sim.submit(KR, "KR-0001", draft(NkMissile, TopSecret, "USA", "a")).unwrap();
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA", "b")).unwrap();
    sim.drive();
    assert!(!sim.has(US, "KR-0001", 1));
    assert!(sim.has(US, "KR-0001", 2));
    assert!(matches!(sim.hub_state(KR, "KR-0001", 1), HubState::Rejected { ref code, .. } if code == "NOT_RELEASABLE"));
    assert_eq!(sim.hub_state(KR, "KR-0001", 2), HubState::Accepted, "the hub holds revision 2 and said so");
}

#[test]
fn a_stale_rejection_notice_does_not_outrank_the_hubs_acceptance() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "a")).unwrap();
    // Before the hub's answer arrives, a notice about another message naming the report.
    let notice = Rejection {
        refers_to: MessageId::new("KR.0.99").unwrap(),
        code: "CONFLICT".into(),
        detail: "report KR-0001 revision 7 conflicts with the copy already held".into(),
        report_id: Some(report_id("KR-0001")),
        request_id: None,
    };
    sim.inject(KR, US, envelope(US, "US.n.1", sim.now, Payload::Rejection(notice)));
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1));
    assert_eq!(sim.hub_state(KR, "KR-0001", 1), HubState::Accepted);
}

// ----------------------------------------------------------------------
// Keys and signed manifests
// ----------------------------------------------------------------------

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
    sim.submit(KR, "KR-0001", ReportDraft { submitted_by: "kim".into(), ..draft(NkMissile, Secret, "USA,JPN", "m") })
        .unwrap();
    sim.submit(
        KR,
        "KR-0002",
        ReportDraft { submitted_by: "not a name!".into(), ..draft(NkMissile, Secret, "USA", "n") },
    )
    .unwrap();
    for (id, submitter) in [("KR-0001", "kim"), ("KR-0002", "-")] {
        let r = sim.report_sent(id, 1);
        assert_eq!(r.manifest.signer, "kr-node");
        assert!(tisa_core::sign::verify(&sim.policy, KR, KeyRole::Node, &r.manifest).is_ok());
        let m = Manifest::parse(&r.manifest.bytes).unwrap();
        assert_eq!(m.header, r.header);
        assert_eq!(m.submitted_by, submitter);
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

// ----------------------------------------------------------------------
// Consent, as the recipient checks it: deliveries forged by the hub
// ----------------------------------------------------------------------

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
        trilateral(&r, JP, false, Some(Consent::Decision(signed_decision(&doc, signer))))
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
                trilateral(&r, JP, false, Some(Consent::Decision(tampered))),
                "UNVERIFIED",
            ),
            (
                "unsigned",
                {
                    let mut d = genuine.clone();
                    d.signed.signature = [0; 64];
                    trilateral(&r, JP, false, Some(Consent::Decision(d)))
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
        trilateral(r, JP, tearline, Some(Consent::Decision(d.clone())))
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
        ..trilateral(&jp2, KR, false, Some(Consent::Decision(jp1_ok.clone())))
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
        Consent::Grant(grant_msg(&doc, &approver(KR, 0)))
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

// ----------------------------------------------------------------------
// The two-person rule
// ----------------------------------------------------------------------

#[test]
fn two_person_rule_the_submitter_may_not_approve_the_release() {
    let mut sim = Sim::with_policy(Policy { two_person_rule: true, ..Policy::default() });
    let by =
        |who: &str, tag: &str| ReportDraft { submitted_by: who.into(), ..draft(NkMissile, Secret, "USA,JPN", tag) };
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
    sim.submit(KR, "KR-0001", ReportDraft { submitted_by: "kim".into(), ..draft(NkMissile, Secret, "USA,JPN", "a") })
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
        vec![("approved by its submitter", trilateral(&r, JP, false, Some(Consent::Decision(by_kim))), "UNVERIFIED")],
    );
    // A second person's approval goes through both.
    sim.approve_as(KR, &rid("KR-0001", 1, JP), false, &approver(KR, 1)).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0001", 1));
}

// ----------------------------------------------------------------------
// Standing grants
// ----------------------------------------------------------------------

/// The grant consent of JP's inbox entry for `id`.
fn grant_of(sim: &Sim, to: Party, id: &str) -> Option<Grant> {
    let e = sim.inbox(to).into_iter().find(|e| e.delivery.header.id.as_str() == id)?;
    match e.delivery.consent {
        Some(Consent::Grant(g)) => Some(g),
        _ => None,
    }
}

#[test]
fn a_standing_grant_releases_covered_reports_without_a_request() {
    let mut sim = Sim::new();
    let doc = sim.grant_doc(KR, "KR-G-1", &[NkMissile], Secret, false);
    assert_eq!(sim.grant(KR, doc.clone()), Ok(doc.clone()));
    assert_eq!(sim.grants(KR).len(), 1);
    assert!(!sim.grants(KR)[0].revoked);
    sim.drive();
    assert_eq!(sim.grants(US).iter().map(|g| (&g.grant.doc, g.revoked)).collect::<Vec<_>>(), [(&doc, false)]);
    assert_untouched(&sim, JP);

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
            trilateral(&r3, JP, false, Some(Consent::Grant(g))),
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
    assert_eq!(sim.log().len(), 1, "only the valid grant was sent");
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
    let kr = |d: GrantDoc| Some(Consent::Grant(grant_msg(&d, &approver(KR, 0))));
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
                    Some(Consent::Grant(grant_msg(
                        &GrantDoc { operator: "sato".into(), ..base.clone() },
                        &approver(JP, 0),
                    ))),
                ),
                "UNVERIFIED",
            ),
            (
                "signed by KR's node",
                trilateral(
                    &r1,
                    JP,
                    false,
                    Some(Consent::Grant(grant_msg(
                        &GrantDoc { operator: "kr-node".into(), ..base.clone() },
                        &node_key(KR),
                    ))),
                ),
                "UNVERIFIED",
            ),
            (
                "a doc that is not what was signed",
                trilateral(
                    &r1,
                    JP,
                    false,
                    Some(Consent::Grant(Grant {
                        doc: base.clone(),
                        ..grant_msg(&nuclear_confidential, &approver(KR, 0))
                    })),
                ),
                "GRANT_NOT_VALID",
            ),
        ],
    );
    // The covering grant is consent (the positive control).
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
            ("denied, then a grant", trilateral(&r1, JP, false, Some(Consent::Grant(g.clone()))), "GRANT_NOT_VALID"),
            ("pending, then a grant", trilateral(&r2, JP, false, Some(Consent::Grant(g.clone()))), "GRANT_NOT_VALID"),
        ],
    );
    // A report made after it is covered.
    sim.submit(KR, "KR-0003", draft(NkMissile, Secret, "USA,JPN", "c")).unwrap();
    sim.drive();
    assert!(sim.has(JP, "KR-0003", 1));
    assert!(!sim.has(JP, "KR-0001", 1) && !sim.has(JP, "KR-0002", 1));
    assert_eq!(sim.recipient_state(KR, "KR-0001", 1, JP), Some(RecipientState::Denied));
}
