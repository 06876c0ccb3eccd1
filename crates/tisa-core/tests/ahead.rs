//! Checks ahead ([`tisa_core::ahead::checks_ahead`]): every signature the
//! core checks while it applies a message or a command is found ahead, so
//! that a node's shell can check it while the input is being committed,
//! and the core's own check is then answered from the cache.
//!
//! One test in this binary on purpose: it reads the process-wide
//! verification counters, which a test running beside it would move.

mod common;

use common::*;
use tisa_core::ahead::checks_ahead;
use tisa_core::sign::{forget_verified, verify_stats, Verdict};
use tisa_core::Category::{NkMissile, NkNuclear};
use tisa_core::Classification::Secret;

/// Verifications done so far that the cache did not answer.
fn fresh() -> u64 {
    let (checks, hits) = verify_stats();
    checks - hits
}

/// What one run saw: verifications the core did itself while applying
/// inputs, checks run ahead, and inputs applied.
#[derive(Debug, Default)]
struct Seen {
    fresh_in_apply: u64,
    ahead: usize,
    inputs: usize,
}

impl Seen {
    /// Runs `input`'s checks ahead (if `ahead`) against `policy`, then
    /// `apply`, counting what the core verified itself meanwhile. Nothing
    /// another input's checks verified is remembered (as with each node in
    /// its own process, and more: not even the node's own earlier checks).
    fn apply(&mut self, ahead: bool, policy: &Policy, input: &Input, apply: impl FnOnce()) {
        forget_verified();
        if ahead {
            let checks = checks_ahead(policy, input);
            for c in &checks {
                assert!(c.run(), "a check ahead of a valid input failed: {c:?}");
            }
            self.ahead += checks.len();
        }
        let before = fresh();
        apply();
        self.fresh_in_apply += fresh() - before;
        self.inputs += 1;
    }
}

/// Delivers every in-flight message, each one's checks run ahead first if
/// `ahead`.
fn drive(sim: &mut Sim, ahead: bool, seen: &mut Seen) {
    let links = [(KR, US), (US, KR), (US, JP), (JP, US)];
    while let Some((from, to, env)) = links.iter().find_map(|&(f, t)| sim.take_next(f, t).map(|e| (f, t, e))) {
        let policy = sim.node(to).policy().clone();
        let input = Input::Message { link: from, envelope: env.clone() };
        seen.apply(ahead, &policy, &input, || sim.inject(to, from, env));
    }
}

/// A standing grant, a report it covers, and one approved per item: every
/// kind of signed message on the trilateral path (grant, standing
/// statement, report with its submitter's signature, decision, delivery
/// under a grant and under a decision, receipt with its audit head), and
/// the commands that carry signatures (a submission, a decision).
fn scenario(tag: &str, ahead: bool) -> Seen {
    let mut sim = Sim::new();
    let mut seen = Seen::default();
    let doc = sim.grant_doc(KR, &format!("KR-G-{tag}"), &[NkMissile], Secret, false);
    sim.grant(KR, doc).expect("grant");
    drive(&mut sim, ahead, &mut seen);

    // A covered report, submitted as the CLI does: with the clerk's signed submission.
    let (id, mut draft) = (format!("KR-{tag}-1"), draft(NkMissile, Secret, "USA,JPN", tag));
    let clerk = clerk(KR);
    let submission = tisa_core::sign::SubmissionDoc::of(
        KR,
        draft.category,
        draft.classification,
        draft.releasable_to,
        &draft.content,
        None,
        sim.now,
        tisa_core::sign::Nonce([9; 16]),
        clerk.key_id(),
    );
    draft.submitter_key = Some(clerk.key_id());
    draft.submission = Some(clerk.sign_by_id(submission.to_bytes()));
    let report_id = ReportId::new(&id).expect("valid id");
    let input = Input::Command(Command::Submit { report_id: report_id.clone(), draft: draft.clone() }, None);
    let now = sim.now;
    let policy = sim.node(KR).policy().clone();
    seen.apply(ahead, &policy, &input, || {
        sim.node_mut(KR).submit(now, report_id, draft).expect("submit");
        sim.flushed(KR);
    });
    drive(&mut sim, ahead, &mut seen);
    assert_eq!(sim.inbox(JP).len(), 1, "the covered report reached JP");

    // A report no grant covers: the hub asks, an approver decides (signed outside the node).
    let id = format!("KR-{tag}-2");
    sim.submit(KR, &id, draft_for(NkNuclear, tag)).expect("submit");
    drive(&mut sim, ahead, &mut seen);
    let pending = sim.pending(KR);
    let p = pending.first().expect("KR was asked");
    let who = approver(KR, 0);
    let doc = decision_doc(&p.manifest, &id, 1, JP, Verdict::ApproveFull, sim.now, who.name());
    let signed = who.sign(doc.to_bytes());
    let input = Input::Command(Command::Decide(signed.clone()), None);
    seen.apply(ahead, &policy, &input, || sim.decide(KR, signed).expect("decide"));
    drive(&mut sim, ahead, &mut seen);
    assert_eq!(sim.inbox(JP).len(), 2, "the approved report reached JP");
    seen
}

fn draft_for(category: Category, tag: &str) -> ReportDraft {
    draft(category, Secret, "USA,JPN", &format!("{tag}-b"))
}

#[test]
fn every_signature_the_core_checks_was_found_ahead() {
    // Control: without checks ahead the core verifies signatures itself
    // as it applies the inputs.
    let control = scenario("c", false);
    assert!(control.fresh_in_apply > 0, "the control verifies on its own: {control:?}");
    assert_eq!(control.ahead, 0);

    // With the checks run ahead, the core verifies nothing itself.
    let ahead = scenario("a", true);
    assert_eq!(ahead.inputs, control.inputs, "the same path: {ahead:?} vs {control:?}");
    assert!(ahead.ahead >= control.fresh_in_apply as usize, "{ahead:?} vs {control:?}");
    assert_eq!(ahead.fresh_in_apply, 0, "a signature the core checked was not found ahead: {ahead:?}");
}
