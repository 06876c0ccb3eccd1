//! The hub's deliveries go before its commit (`tisa_node::early`), and a
//! crash there loses and doubles nothing.
//!
//! The hub is stopped just before it commits KR's report (`TISA_FAILPOINT=
//! before-commit:report:stall`: its actor waits there for good; its other
//! tasks go on). While it waits, JP already holds the report: the delivery
//! was published before the commit. What proves that JP would hold it by
//! then if it had been published: a track update KR sends after the stall,
//! which the hub's track lane (its own task) forwards on the same link,
//! behind anything the hub published before, and which JP commits in its
//! stream's order. Then the hub is killed and restarted: the broker
//! redelivers the uncommitted report, and JP still holds it exactly once,
//! the hub's audit log names its delivery once, KR has JP's receipt once.
//!
//! Control: with `TISA_EARLY_FORWARD=off` the same stall leaves JP without
//! the report when the track has arrived behind it; it comes only after
//! the restart.
//!
//! The paperwork after the deliveries (`tisa_node::notices`): the hub's
//! progress notices to KR and the receipts JP sends and the hub passes on
//! are held back a while and go together, and every receipt still reaches
//! KR. Control: `TISA_COALESCE_NOTICES=off` holds none.

use crate::common;

use std::time::Duration;

use crate::common::ctl::*;
use crate::common::fault::*;
use crate::common::{describe, op, Deadline};
use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

const RESTART: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);
const STALL: &str = "before-commit:report:stall";

/// A track update line for `tisa feed tracks` (track `id`, update `seq`).
fn track_line(id: &str, seq: u32) -> String {
    serde_json::json!({
        "track_id": id,
        "seq": seq,
        "classification": "secret",
        "rel_to": "USA,JPN",
        "launch": {"lat": 39.03, "lon": 125.75, "at": "2024-05-27T14:32:10Z"},
        "position": {"lat": 40.0, "lon": 128.0, "alt_km": 100.0, "at": 1_716_820_330_000u64 + 30_000 * u64::from(seq)},
        "impact": {"lat": 40.8, "lon": 135.2},
    })
    .to_string()
}

/// KR sends track `id`'s update `seq`; returns once JP's node has committed it.
async fn track_through(c: &Cluster, id: &str, seq: u32, what: &str) {
    let path = c.dir.join(format!("{id}-{seq}.jsonl"));
    std::fs::write(&path, track_line(id, seq) + "\n").unwrap();
    let out = op(c, Party::Kr, false, &["feed", "tracks", path.to_str().unwrap()]);
    assert!(out.status.success(), "{what}: feed tracks failed: {}", describe(&out));
    let jp = client(c, Party::Jp).await;
    let mut deadline = Deadline::after(WAIT, format!("{what}: JP commits track {id} update {seq}"));
    loop {
        let q = ListQuery { limit: 1000, ..Default::default() };
        if let ControlReply::Tracks(tisa_core::Page { items, .. }) = ask(&jp, ControlRequest::Tracks(q)).await {
            if items.iter().any(|t| t.update.doc.track_id.as_str() == id && t.update.doc.seq >= seq) {
                return;
            }
        }
        deadline.pause().await;
    }
}

/// Stalls the hub before it commits a report under KR's standing grant
/// (early forwarding `early`), then kills and restarts it; checks the
/// report arrived once. Returns whether JP held it while the hub waited.
async fn stall_the_hub(early: &str) -> bool {
    let mut c = start(true).await;
    let what = format!("TISA_EARLY_FORWARD={early}");
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    // Warm-up: a report and a track all the way, so the grant stands at JP.
    let warm = submit_retrying(&kr, &draft(&format!("warm-{early}"))).await;
    all_receipted(&kr, std::slice::from_ref(&warm), WAIT, &what).await;
    track_through(&c, "KR-T-EARLY", 1, &what).await;

    let hub = c.node(Party::Us);
    hub.set_env("TISA_FAILPOINT", Some(STALL));
    hub.set_env("TISA_EARLY_FORWARD", Some(early));
    hub.restart_cleanly(RESTART).unwrap_or_else(|e| panic!("{what}: cannot start the hub armed: {e:#}"));
    let kr = quick_client(&c, Party::Kr).await;
    let id = submit_retrying(&kr, &draft(&format!("case-{early}"))).await;
    let line = "tisa: failpoint before-commit:report hit";
    let mut deadline = Deadline::after(WAIT, format!("{what}: the hub reaches its failpoint"));
    while !c.node(Party::Us).log().contains(line) {
        deadline.pause().await;
    }
    // The barrier: a track update behind anything the hub published.
    track_through(&c, "KR-T-EARLY", 2, &what).await;
    let held = inbox_ids(&client(&c, Party::Jp).await).await.contains(&id);
    assert!(c.node(Party::Us).is_running(), "{what}: the hub waits at its failpoint");

    // Killed and started again: the report is redelivered, committed, and
    // arrives exactly once.
    let hub = c.node(Party::Us);
    hub.kill();
    hub.set_env("TISA_FAILPOINT", None);
    hub.restart(RESTART).unwrap_or_else(|e| panic!("{what}: cannot restart the hub: {e:#}"));
    let kr = quick_client(&c, Party::Kr).await;
    all_receipted(&kr, std::slice::from_ref(&id), WAIT, &what).await;
    let jp = audit(&c, Party::Jp);
    assert_eq!(count(&jp, "RECEIVED", &id), 1, "{what}: JP received {id} once");
    assert_eq!(count(&audit(&c, Party::Us), "FORWARDED", &id), 1, "{what}: the hub's audit names its delivery once");
    assert_eq!(count(&audit(&c, Party::Kr), "RECEIPT", &id), 1, "{what}: KR has JP's receipt once");
    let inbox = inbox_ids(&client(&c, Party::Jp).await).await;
    assert_eq!(inbox.iter().filter(|x| **x == id).count(), 1, "{what}: JP's inbox holds {id} once");
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_delivers_before_its_commit_and_a_crash_there_loses_and_doubles_nothing() {
    assert!(stall_the_hub("on").await, "JP must hold the report while the hub waits before its commit");
    // Control: committed first, nothing leaves before the commit.
    assert!(!stall_the_hub("off").await, "with TISA_EARLY_FORWARD=off nothing may leave before the commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_setting_stops_the_hub_at_start() {
    let mut c = start(true).await;
    let hub = c.node(Party::Us);
    hub.set_env("TISA_EARLY_FORWARD", Some("of"));
    assert!(hub.restart(Duration::from_secs(20)).is_err(), "a typo must not start the node");
    assert!(hub.log().contains("TISA_EARLY_FORWARD"), "{}", hub.log_tail(5));
}

/// KR's reports under its standing grant, one after another: the notices
/// KR gets (two progress notices a report from the hub, JP's receipt passed
/// on) and JP's receipts are held back and go together (fewer sends than
/// notices), and every receipt reaches KR. With `coalesce` off, none is
/// held. Returns the hub's and JP's notice health.
async fn notices(coalesce: &str) -> [tisa_transport::NoticeHealth; 2] {
    const N: usize = 8;
    let v = coalesce.to_owned();
    let c = tokio::task::spawn_blocking(move || {
        common::cluster::TestCluster::builder().without_tap().secured().env("TISA_COALESCE_NOTICES", &v).start()
    })
    .await
    .unwrap();
    let what = format!("TISA_COALESCE_NOTICES={coalesce}");
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(submit_retrying(&kr, &draft(&format!("notice-{coalesce}-{i}"))).await);
    }
    all_receipted(&kr, &ids, WAIT, &what).await;
    let mut out = Vec::new();
    for p in [Party::Us, Party::Jp] {
        let ControlReply::Health(h) = ask(&client(&c, p).await, ControlRequest::Health).await else { panic!("{what}") };
        out.push(h.notices);
    }
    [out[0].clone(), out[1].clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_to_the_originator_wait_to_go_together_and_all_arrive() {
    let [hub, jp] = notices("on").await;
    assert!(hub.coalesced && jp.coalesced);
    // The hub: two progress notices a report and its receipt, at least.
    assert!(hub.held >= 24 && hub.sends >= 1 && hub.sends < hub.held, "{hub:?}");
    assert!(jp.held >= 8 && jp.sends >= 1 && jp.sends <= jp.held, "{jp:?}");
    // Control: each sent at once.
    let [hub, jp] = notices("off").await;
    assert!(!hub.coalesced && !jp.coalesced);
    assert_eq!((hub.held, hub.sends, jp.held, jp.sends), (0, 0, 0, 0), "{hub:?} {jp:?}");
}
