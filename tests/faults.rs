//! Fault tests across processes, on the generated secured deployment.
//!
//! - **Failpoints** (`TISA_FAILPOINT`, see `tisa_node::failpoint`): every
//!   node crashes (abort) at each commit and publish of the manual release
//!   flow (KR submits → US requests → KR approves → US forwards → JP
//!   receives and signs a receipt → the receipt reaches KR); it is restarted
//!   without the failpoint and the flow completes, with JP's audit log
//!   holding the report exactly once. One cluster per crashing node; the
//!   cases of that node run one after the other in it.
//! - **nats-server restarted** (same port, same store directory) in the
//!   middle of a stream of reports: nothing is lost, nothing is doubled.
//! - **The same report injected twice with different message ids** (a new
//!   envelope id and a new `Nats-Msg-Id`, published with KR's credentials):
//!   one delivery.
//!
//! Why these fail without durability: each case needs state committed
//! before the crash after it. Before arming a case, a *sentinel* report is
//! submitted and its release request is left open at KR (so KR and the hub
//! hold it); it is approved only after the crashed node came back, and must
//! then travel the whole way. After every case, KR must still list every
//! report of the earlier cases (and of one delivered before the first
//! crash) with JP's receipt, and JP must still hold
//! each exactly once (audit log and inbox). A node that did not replay its
//! input log would come back empty and fail these; one that acknowledged
//! before committing would lose the input it crashed on. (`kill -9` and
//! abort leave the page cache intact, so they cannot show a missing fsync;
//! only a power cut would.) Checked by breaking the node on purpose: with
//! the replay skipped, with inbound messages acknowledged (confirmed) before
//! their commit, or with messages recorded as sent before they are
//! published, the matrices fail.

use crate::common;

use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use crate::common::ctl::*;
use crate::common::fault::*;
use crate::common::{canary, Deadline};
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

const RESTART: Duration = Duration::from_secs(30);
/// The node's failpoint variable (`tisa_node::failpoint::ENV`).
const FAILPOINT: &str = "TISA_FAILPOINT";

/// One report through the manual flow, driven one idempotent pass at a
/// time, so that it survives any node crashing in between.
struct Flow {
    draft: ReportDraft,
    report: Option<String>,
    /// Whether to approve its release request (a sentinel waits first).
    approve: bool,
}

impl Flow {
    fn new(label: &str) -> Flow {
        Flow { draft: draft(&canary(label)), report: None, approve: true }
    }

    /// One pass: submit (until KR answers), approve (while KR lists the
    /// request), and report whether KR shows JP's receipt. Every failed call
    /// is simply retried on the next pass.
    async fn step(&mut self, c: &Cluster, kr: &ControlClient) -> bool {
        if self.report.is_none() {
            match kr.call(&ControlRequest::Submit(self.draft.clone())).await {
                Ok(ControlReply::Submitted(tisa_core::Submitted {
                    header: tisa_core::ReportHeader { id: report_id, .. },
                    ..
                })) => self.report = Some(report_id.to_string()),
                _ => return false,
            }
        }
        let id = self.report.clone().unwrap();
        if self.approve {
            let Ok(ControlReply::Pending(tisa_core::Page { items, .. })) =
                kr.call(&ControlRequest::Pending(ListQuery::default())).await
            else {
                return false;
            };
            if let Some(p) = items.into_iter().find(|i| i.request.report_id.as_str() == id) {
                let key = tisa_deploy::keys::load(&c.approver_key(Party::Kr, false)).unwrap();
                // Refused if already decided (a reply lost in a crash): fine.
                let _ = tisa_kit::sign_and_decide(kr, &key, p.request.request_id, Decision::ApproveFull).await;
                return false;
            }
        }
        let q = ListQuery { report_id: Some(ReportId::new(id).unwrap()), ..Default::default() };
        let Ok(ControlReply::Status(tisa_core::Page { items, .. })) = kr.call(&ControlRequest::Status(q)).await else {
            return false;
        };
        items.first().is_some_and(|i| i.receipts.contains_key(&Party::Jp))
    }

    /// Whether KR lists the release request (submitted, held by the hub, asked).
    async fn pending(&mut self, kr: &ControlClient) -> bool {
        if self.report.is_none() {
            match kr.call(&ControlRequest::Submit(self.draft.clone())).await {
                Ok(ControlReply::Submitted(tisa_core::Submitted {
                    header: tisa_core::ReportHeader { id: report_id, .. },
                    ..
                })) => self.report = Some(report_id.to_string()),
                _ => return false,
            }
        }
        let id = self.report.as_deref().unwrap();
        let Ok(ControlReply::Pending(tisa_core::Page { items, .. })) =
            kr.call(&ControlRequest::Pending(ListQuery::default())).await
        else {
            return false;
        };
        items.iter().any(|i| i.request.report_id.as_str() == id)
    }

    async fn complete(&mut self, c: &Cluster, kr: &ControlClient, what: &str) -> String {
        let mut deadline = Deadline::after(FLOW, format!("{what}: the flow completes"));
        while !self.step(c, kr).await {
            deadline.pause().await;
        }
        self.report.clone().unwrap()
    }
}

/// JP holds `id` exactly once: in its audit log (one RECEIVED entry) and in
/// its inbox; the hub forwarded it once; KR recorded JP's receipt once.
async fn delivered_once(c: &Cluster, id: &str, what: &str) {
    let jp = audit(c, Party::Jp);
    assert_eq!(count(&jp, "RECEIVED", id), 1, "{what}: JP's audit log must hold {id} exactly once");
    assert_eq!(count(&audit(c, Party::Us), "FORWARDED", id), 1, "{what}: the hub forwarded {id} once");
    assert_eq!(count(&audit(c, Party::Kr), "RECEIPT", id), 1, "{what}: KR recorded JP's receipt for {id} once");
    let inbox = inbox_ids(&client(c, Party::Jp).await).await;
    assert_eq!(inbox.iter().filter(|x| *x == id).count(), 1, "{what}: JP's inbox must hold {id} once");
}

/// Everything so far is still there, once: KR lists exactly `reports` (in
/// order) each with JP's receipt; JP holds each once.
async fn nothing_lost(c: &Cluster, reports: &[String], what: &str) {
    let kr = client(c, Party::Kr).await;
    let ControlReply::Status(tisa_core::Page { items, .. }) =
        ask(&kr, ControlRequest::Status(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!()
    };
    let ids: Vec<String> = items.iter().map(|i| i.header.id.to_string()).collect();
    assert_eq!(ids, reports, "{what}: KR's reports");
    for i in &items {
        assert!(i.receipts.contains_key(&Party::Jp), "{what}: KR lost JP's receipt for {}", i.header.id);
    }
    let jp = audit(c, Party::Jp);
    let inbox = inbox_ids(&client(c, Party::Jp).await).await;
    for id in reports {
        assert_eq!(count(&jp, "RECEIVED", id), 1, "{what}: JP's audit log holds {id} once");
        assert_eq!(inbox.iter().filter(|x| *x == id).count(), 1, "{what}: JP's inbox holds {id} once");
    }
    assert_eq!(inbox.len(), reports.len(), "{what}: JP's inbox holds nothing else");
}

/// Runs the failpoint cases of one node, one after the other, in one cluster.
async fn crash_matrix(node: Party, failpoints: &[&str]) {
    let mut c = start(true).await;
    // A first report, delivered before any crash: every node holds state
    // from the start that each case must find again.
    let kr = quick_client(&c, Party::Kr).await;
    let mut reports = vec![Flow::new("warm_up").complete(&c, &kr, "warm-up").await];
    for fp in failpoints {
        let what = format!("{node} at {fp}");
        let began = Instant::now();
        let kr = quick_client(&c, Party::Kr).await;
        // The sentinel: submitted, held by the hub, its request open at KR.
        let mut sentinel = Flow::new("sentinel");
        sentinel.approve = false;
        let mut deadline = Deadline::after(FLOW, format!("{what}: the sentinel's request reaches KR"));
        while !sentinel.pending(&kr).await {
            deadline.pause().await;
        }

        // Arm: stop the node cleanly (nothing left to re-send at start) and
        // start it again with the failpoint.
        let n = c.node(node);
        n.set_env(FAILPOINT, Some(fp));
        n.restart_cleanly(RESTART).unwrap_or_else(|e| panic!("{what}: cannot start armed: {e:#}"));
        let kr = quick_client(&c, Party::Kr).await;

        // Drive a new report until the node dies.
        let mut flow = Flow::new("case");
        let mut deadline = Deadline::after(FLOW, format!("{what}: the node reaches its failpoint"));
        while c.node(node).is_running() {
            // At an `after-send` step the peer holds the message before the
            // node aborts, so the flow may complete just before the crash:
            // then the node must still die at its failpoint (waited for below).
            if flow.step(&c, &kr).await {
                break;
            }
            deadline.pause().await;
        }
        let n = c.node(node);
        let status = n
            .wait_exit(RESTART)
            .unwrap_or_else(|e| panic!("{what}: the flow completed but the failpoint never fired: {e:#}"));
        assert_eq!(status.signal(), Some(6), "{what}: the node must have aborted (SIGABRT), got {status}");
        let line = format!("tisa: failpoint {fp} hit");
        assert_eq!(n.log().matches(&line).count(), 1, "{what}: stderr must say `{line}` once:\n{}", n.log_tail(20));

        // Restart without it: the flow completes, the report arrives once.
        n.set_env(FAILPOINT, None);
        n.restart(RESTART).unwrap_or_else(|e| panic!("{what}: cannot restart: {e:#}"));
        let kr = quick_client(&c, Party::Kr).await;
        let id = flow.complete(&c, &kr, &what).await;
        delivered_once(&c, &id, &what).await;
        // The sentinel, held since before the crash, goes all the way too.
        sentinel.approve = true;
        let sid = sentinel.complete(&c, &kr, &format!("{what} (sentinel)")).await;
        delivered_once(&c, &sid, &format!("{what} (sentinel)")).await;
        reports.extend([sid, id]);
        nothing_lost(&c, &reports, &what).await;
        eprintln!("{what}: ok in {:.1} s", began.elapsed().as_secs_f64());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kr_crashes_at_every_step() {
    crash_matrix(
        Party::Kr,
        &[
            "before-commit:ctl.submit",
            "after-commit:ctl.submit",
            "before-send:report",
            "after-send:report",
            "before-commit:request",
            "after-commit:request",
            "before-commit:ctl.decide",
            "after-commit:ctl.decide",
            "before-send:decision",
            "after-send:decision",
            "before-commit:receipt",
            "after-commit:receipt",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn us_crashes_at_every_step() {
    crash_matrix(
        Party::Us,
        &[
            "before-commit:report",
            "after-commit:report",
            "before-send:request",
            "after-send:request",
            "before-commit:decision",
            "after-commit:decision",
            "before-send:delivery",
            "after-send:delivery",
            "before-commit:receipt",
            "after-commit:receipt",
            "before-send:receipt",
            "after-send:receipt",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jp_crashes_at_every_step() {
    crash_matrix(
        Party::Jp,
        &["before-commit:delivery", "after-commit:delivery", "before-send:receipt", "after-send:receipt"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_failpoint_stops_the_node_at_start() {
    let mut c = start(true).await;
    let n = c.node(Party::Jp);
    n.set_env(FAILPOINT, Some("before-commit:deliveries"));
    let e = n.restart(RESTART).expect_err("a node with an unknown failpoint must not start");
    assert!(format!("{e:#}").contains("names no failpoint"), "{e:#}");
    n.set_env(FAILPOINT, None);
    n.restart(RESTART).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restarted_mid_flow_loses_nothing() {
    const N: usize = 200;
    let mut c = start(true).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    // A manual release open across the restart: NK_NUCLEAR is not covered.
    let mut manual = Flow::new("manual");
    manual.draft.category = Category::NkNuclear;
    manual.approve = false;
    let mut deadline = Deadline::after(FLOW, "the manual request reaches KR");
    while !manual.pending(&kr).await {
        deadline.pause().await;
    }

    // JP is down: what the hub forwards waits in JP's stream, on the
    // server's disk, through the restart.
    c.node(Party::Jp).kill();

    // Covered reports, submitted one after another, through the restart.
    let feeder = {
        let kr = quick_client(&c, Party::Kr).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..N {
                ids.push(submit_retrying(&kr, &draft(&canary(&format!("through_{i}")))).await);
                let _ = tx.send(i);
            }
            ids
        });
        // Restart the server once a quarter is in: the rest is in flight or yet to come.
        while rx.recv().await.is_some_and(|i| i < N / 4) {}
        task
    };
    // Only once the hub has forwarded a quarter (into JP's stream) does the server go.
    let stored = tokio::task::block_in_place(|| {
        common::wait_for("the hub forwards a quarter of the reports", || {
            let n = audit(&c, Party::Us).iter().filter(|e| e["kind"] == "FORWARDED").count();
            (n >= N / 4).then_some(n)
        })
    });
    let nats = &mut c.nats;
    tokio::task::block_in_place(|| nats.restart()).unwrap_or_else(|e| panic!("cannot restart nats-server: {e:#}"));
    eprintln!("nats-server restarted with {stored} of {N} reports in JP's stream");
    let mut ids = feeder.await.unwrap();
    tokio::task::block_in_place(|| c.node(Party::Jp).restart(RESTART)).unwrap();

    // The manual release completes after the restart.
    manual.approve = true;
    ids.push(manual.complete(&c, &kr, "manual release across the restart").await);
    let kr = quick_client(&c, Party::Kr).await;
    all_receipted(&kr, &ids, FLOW, "after a nats-server restart").await;
    let (jp, us, kra) = (audit(&c, Party::Jp), audit(&c, Party::Us), audit(&c, Party::Kr));
    for id in &ids {
        assert_eq!(count(&jp, "RECEIVED", id), 1, "JP's audit log holds {id} once");
        assert_eq!(count(&us, "FORWARDED", id), 1, "the hub forwarded {id} once");
        assert_eq!(count(&kra, "RECEIPT", id), 1, "KR recorded JP's receipt for {id} once");
    }
    let inbox = inbox_ids(&client(&c, Party::Jp).await).await;
    assert_eq!(inbox.len(), N + 1, "JP's inbox holds every report, once");
    // The server really went away under every running node.
    for n in c.nodes.iter().filter(|n| n.party != Party::Jp) {
        assert!(n.log().contains("disconnected from NATS"), "{} never saw the server go", n.party);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_with_new_message_ids_is_delivered_once() {
    let c = start(true).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    // The hub's end of the KR link sees what KR publishes on it.
    let (us_tap, _) = link_attacker(&c, Party::Us, Party::Kr).await;
    let mut wire = us_tap.subscribe("tisa.kr.up.report").await.unwrap();
    tisa_transport::prove_ready(&us_tap, Party::Us).await.unwrap();

    let id = submit_retrying(&kr, &draft(&canary("twice"))).await;
    let captured = tokio::time::timeout(WAIT_WIRE, futures::StreamExt::next(&mut wire))
        .await
        .expect("KR's report on the wire")
        .unwrap();
    let original = tisa_transport::decode_envelope(&captured.subject, &captured.payload).unwrap();
    let Payload::Report(r) = &original.payload else { panic!("not a report") };
    assert_eq!(r.header.id.as_str(), id);
    all_receipted(&kr, std::slice::from_ref(&id), FLOW, "the original").await;

    // Re-published by KR's credentials: a new envelope id, a new Nats-Msg-Id.
    let (kr_raw, _) = link_attacker(&c, Party::Kr, Party::Kr).await;
    let js = async_nats::jetstream::new(kr_raw);
    for n in 0..2u32 {
        let mut copy = original.clone();
        copy.message_id = MessageId::new(format!("KR.{:016x}.{}", rand_u64(), 1_000_000 + n)).unwrap();
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(tisa_transport::encode_envelope(&copy).into())
            .message_id(copy.message_id.as_str());
        let ack = js.send_publish(captured.subject.to_string(), msg).await.unwrap().await.unwrap();
        assert!(!ack.duplicate, "the hub's stream took the copy as new (not deduplicated by the broker)");
    }
    // A later report on the same link is the barrier: once it is receipted,
    // the hub has processed both copies.
    let after = submit_retrying(&kr, &draft(&canary("after"))).await;
    all_receipted(&kr, std::slice::from_ref(&after), FLOW, "the barrier").await;

    let (jp, us, kra) = (audit(&c, Party::Jp), audit(&c, Party::Us), audit(&c, Party::Kr));
    // The copies reached the hub's core: it logged them as inputs (between
    // the original's receipt and the barrier) and they caused nothing.
    let input_of = |kind: &str, id: &str| {
        us.iter().find(|e| e["kind"] == kind && e["report_id"] == id).and_then(|e| e["input_seq"].as_u64()).unwrap()
    };
    assert!(
        input_of("REPORT_HELD", &after) >= input_of("RECEIPT", &id) + 3,
        "the hub must have logged both copies before the barrier"
    );
    assert_eq!(count(&us, "REPORT_HELD", &id), 1, "the hub holds the report once");
    assert_eq!(count(&us, "FORWARDED", &id), 1, "the hub forwarded it once");
    assert_eq!(count(&jp, "RECEIVED", &id), 1, "JP's audit log holds it once");
    assert_eq!(count(&kra, "RECEIPT", &id), 1, "KR recorded one receipt");
    let inbox = inbox_ids(&client(&c, Party::Jp).await).await;
    assert_eq!(inbox.iter().filter(|x| **x == id).count(), 1, "JP's inbox holds it once");
    assert!(inbox.contains(&after));
}

const WAIT_WIRE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failpoint_fires_on_its_nth_hit_only() {
    let mut c = start(true).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    let n = c.node(Party::Jp);
    n.set_env(FAILPOINT, Some("after-commit:delivery:2"));
    n.restart(RESTART).unwrap();
    // The first delivery passes…
    let a = submit_retrying(&kr, &draft(&canary("first"))).await;
    all_receipted(&kr, std::slice::from_ref(&a), FLOW, "the first delivery").await;
    assert!(c.node(Party::Jp).is_running(), "JP must pass its first delivery");
    // …the second one kills JP, after its commit.
    let b = submit_retrying(&kr, &draft(&canary("second"))).await;
    let n = c.node(Party::Jp);
    let status = tokio::task::block_in_place(|| n.wait_exit(FLOW)).unwrap();
    assert_eq!(status.signal(), Some(6), "{status}");
    assert_eq!(n.log().matches("tisa: failpoint after-commit:delivery hit").count(), 1);
    n.set_env(FAILPOINT, None);
    n.restart(RESTART).unwrap();
    all_receipted(&kr, &[a.clone(), b.clone()], FLOW, "after the restart").await;
    let jp = audit(&c, Party::Jp);
    assert_eq!((count(&jp, "RECEIVED", &a), count(&jp, "RECEIVED", &b)), (1, 1), "each once in JP's audit log");
}
