//! Revocation that does not trust the hub, across processes on the generated
//! deployments, shared and per nation (issue 14, part 3):
//!
//! - **the withheld revocation**: the hub (played by the test with the hub's
//!   own broker credentials, as a compromised hub would) acks KR's revocation
//!   away from its own consumer, so its node never learns of it, and forwards
//!   a report KR submitted *after* revoking under the revoked grant. With a
//!   short statement window JP holds that report (`tisa held`, `HELD` in its
//!   audit), never in its inbox; the **control** is the same attack with a
//!   window longer than the attack takes: JP accepts the report, so the
//!   freshness check, not something else, is what stopped it;
//! - **JP down longer than the window** while a backlog under a grant waits:
//!   on its return every report is held (its statements are stale) and then
//!   released by KR's next statement: each delivered exactly once, none
//!   refused.
//!
//! Two clusters at a time at most (the harness's permits); each test waits
//! on conditions with deadlines. The one wait on the clock is the scenario
//! itself: "longer than the window" is a time, not an event.

use crate::common;
use crate::in_both_broker_modes;

use std::time::{Duration, Instant};

use crate::common::cli::{cli_json, grant_in_force, op_json};
use crate::common::cluster::{Broker, TestCluster};
use crate::common::fault::audit;
use crate::common::flow::{draft, inbox, submit, Draft};
use crate::common::wait::wait_until;
use futures::StreamExt;
use serde_json::Value;
use tisa_core::Party;
use tisa_transport::subjects;

/// Generous: two noisy cores, three nodes and a broker.
const WAIT: Duration = Duration::from_secs(60);

in_both_broker_modes!(
    a_withheld_revocation_holds_what_the_hub_forwards_after_the_window,
    control_within_the_window_the_same_attack_is_accepted,
    jp_down_longer_than_the_window_gets_its_backlog_once_none_refused,
);

/// The short statement window of the attack runs (statements every second).
const SHORT: &str = "3s";
/// A window far longer than any run: the control.
const LONG: &str = "600s";

fn cluster(broker: Broker, window: &str) -> TestCluster {
    TestCluster::builder().broker(broker).all_args(&["--standing-window", window]).start()
}

fn missile(label: &str) -> Draft {
    draft("missile", "secret", "USA,JPN", label)
}

/// KR grants NK_MISSILE up to SECRET to JP; returns the grant id once the
/// hub holds it.
fn grant(c: &TestCluster) -> String {
    let g = grant_in_force(c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let id = g["items"][0]["grant_id"].as_str().unwrap_or_else(|| panic!("no grant id in {g}")).to_owned();
    wait_until(Instant::now() + WAIT, "the hub holds KR's grant", || {
        let l = op_json(c, Party::Us, false, &["standing", "list"]);
        l["items"].as_array()?.iter().any(|i| i["grant_id"] == id.as_str()).then_some(())
    });
    id
}

fn jp_count(c: &TestCluster, id: &str) -> usize {
    inbox(c, Party::Jp).iter().filter(|i| i["report_id"] == id).count()
}

fn wait_jp(c: &TestCluster, id: &str) {
    wait_until(Instant::now() + WAIT, &format!("JP's inbox holds {id}"), || (jp_count(c, id) > 0).then_some(()));
}

fn held(c: &TestCluster, party: Party) -> Vec<Value> {
    let v = cli_json(c, party, &["held"]);
    v["items"].as_array().cloned().unwrap_or_default()
}

fn audit_of(c: &TestCluster, party: Party, kind: &str, id: &str) -> usize {
    audit(c, party).iter().filter(|e| e["kind"] == kind && e["report_id"] == id).count()
}

/// The compromised hub: with the hub's own credentials it takes KR's
/// revocation of `grant_id` off the hub's inbound stream and acknowledges it
/// (everything else it hands back at once), so the hub's node never sees it.
/// Returns once the revocation is gone.
async fn withhold_revocation(c: &TestCluster, grant_id: &str) {
    use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
    let dir = c.broker_dir.as_ref().expect("a generated deployment");
    // The hub's link user for KR's link (its control user has no link).
    let seed = std::fs::read_to_string(dir.join("us-link-kr.nk")).expect("the hub's credentials");
    let client = async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .custom_inbox_prefix(subjects::inbox_prefix(Party::Kr, subjects::Role::Link))
        .connect(c.nats.url())
        .await
        .expect("connect with the hub's credentials");
    let js = jetstream::new(client);
    let stream = tisa_transport::conn::stream_name(Party::Kr, subjects::Direction::Up);
    let consumer: PullConsumer =
        js.get_consumer_from_stream("us-node", &stream).await.expect("the hub's consumer of KR's link");
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "KR's revocation of {grant_id} never reached the hub's stream");
        let mut batch = consumer
            .fetch()
            .max_messages(16)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .expect("fetch from the hub's consumer");
        while let Some(m) = batch.next().await {
            let m = m.expect("a message");
            let envs = tisa_transport::decode_inbound(m.subject.as_str(), &m.payload).unwrap_or_default();
            let revocation = envs
                .iter()
                .any(|e| matches!(&e.payload, tisa_core::Payload::Revocation(r) if r.doc.grant_id == grant_id));
            if revocation {
                // Confirmed by the server before the hub comes back (a plain
                // ack could still be in flight, and the revocation redelivered).
                m.double_ack().await.expect("ack the revocation away");
                return;
            }
            m.ack_with(AckKind::Nak(None)).await.expect("hand the rest back");
        }
    }
}

/// The withheld-revocation attack; returns the ids of the two reports KR
/// submitted after revoking, which the hub, not knowing of the revocation,
/// forwards.
fn withheld_revocation(c: &mut TestCluster) -> [String; 2] {
    let g = grant(c);
    // The grant works: a covered report reaches JP with no approval.
    let before = submit(c, Party::Kr, &missile("before_revoke"));
    wait_jp(c, &before);

    // The hub goes quiet; KR revokes; the compromised hub drops the revocation.
    c.node(Party::Us).terminate(WAIT).expect("stop the hub");
    let r = op_json(c, Party::Kr, true, &["standing", "revoke", &g]);
    assert_eq!(r["items"][0]["revoked"], true, "{r}");
    let revoked_at = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(withhold_revocation(c, &g));

    // KR submits after revoking; the hub comes back knowing nothing of it.
    let after = [submit(c, Party::Kr, &missile("after_revoke")), submit(c, Party::Kr, &missile("after_revoke_2"))];
    // The scenario's time: the attack runs longer than the short window.
    let window = Duration::from_secs(3);
    wait_until(revoked_at + window + Duration::from_secs(2), "no event: the window's time", || {
        (Instant::now() >= revoked_at + window + Duration::from_secs(1)).then_some(())
    });
    c.node(Party::Us).restart(WAIT).expect("restart the hub");
    after
}

fn a_withheld_revocation_holds_what_the_hub_forwards_after_the_window(broker: Broker) {
    let mut c = cluster(broker, SHORT);
    let after = withheld_revocation(&mut c);
    // JP holds both: committed, not in the inbox, not refused.
    wait_until(Instant::now() + WAIT, "JP holds the reports sent under the revoked grant", || {
        let h = held(&c, Party::Jp);
        after.iter().all(|a| h.iter().any(|h| h["id"] == a.as_str())).then_some(())
    });
    for a in &after {
        assert_eq!(jp_count(&c, a), 0, "a report submitted after the revocation reached JP's inbox");
        assert!(audit_of(&c, Party::Jp, "HELD", a) >= 1, "JP's audit does not record the hold");
    }
    // `tisa held` pages: one item a page, the second after the first's cursor.
    let first = cli_json(&c, Party::Jp, &["held", "--limit", "1"]);
    let next = first["next_after"].as_str().unwrap_or_else(|| panic!("no next page: {first}")).to_owned();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");
    let second = cli_json(&c, Party::Jp, &["held", "--limit", "1", "--after", &next]);
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1), "{second}");
    assert!(second["next_after"].is_null(), "{second}");
    let paged = [&first["items"][0]["id"], &second["items"][0]["id"]];
    assert_eq!(paged, [after[0].as_str(), after[1].as_str()], "{first} {second}");
    // KR issues no statement for a revoked grant, so nothing releases them:
    // a later legitimate release (manual, approved) reaching JP is the canary
    // that JP has processed everything the hub sent before it.
    let canary = submit(&c, Party::Kr, &draft("nuclear", "secret", "USA,JPN", "canary"));
    let rq = common::flow::wait_request_id(&c, Party::Kr, &canary, 1);
    common::flow::approve(&c, Party::Kr, &rq);
    wait_jp(&c, &canary);
    for a in &after {
        assert_eq!(jp_count(&c, a), 0, "a held report was released without a fresh statement");
    }
}

fn control_within_the_window_the_same_attack_is_accepted(broker: Broker) {
    let mut c = cluster(broker, LONG);
    let after = withheld_revocation(&mut c);
    // Within the window the hub can still use the grant: the bound is the window.
    for a in &after {
        wait_jp(&c, a);
    }
    assert!(held(&c, Party::Jp).is_empty(), "nothing is held within the window");
}

fn jp_down_longer_than_the_window_gets_its_backlog_once_none_refused(broker: Broker) {
    let mut c = cluster(broker, SHORT);
    grant(&c);
    c.node(Party::Jp).terminate(WAIT).expect("stop JP");
    let down_at = Instant::now();
    let ids: Vec<String> = (0..3).map(|i| submit(&c, Party::Kr, &missile(&format!("backlog{i}")))).collect();
    // The hub forwards them into JP's stream while JP is down.
    for id in &ids {
        common::flow::wait_recipient_state(&c, Party::Kr, id, 1, "JPN", "DELIVERED");
    }
    let window = Duration::from_secs(3);
    wait_until(down_at + window + Duration::from_secs(3), "no event: the window's time", || {
        (Instant::now() >= down_at + window + Duration::from_secs(1)).then_some(())
    });
    c.node(Party::Jp).restart(WAIT).expect("restart JP");
    for id in &ids {
        wait_jp(&c, id);
    }
    // Every report exactly once; each was held first (stale statements), none refused.
    for id in &ids {
        assert_eq!(jp_count(&c, id), 1, "{id} not delivered exactly once");
        assert!(audit_of(&c, Party::Jp, "HELD", id) >= 1, "{id} was not held on JP's return");
    }
    assert!(held(&c, Party::Jp).is_empty(), "JP still holds something");
    let refused: Vec<Value> = audit(&c, Party::Jp)
        .into_iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| ["REJECTED", "MALFORMED", "UNVERIFIABLE", "VERSION_MISMATCH"].contains(&k))
        })
        .collect();
    assert!(refused.is_empty(), "JP refused something: {refused:?}");
}
