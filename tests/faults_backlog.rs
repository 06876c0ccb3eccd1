//! JP's node is down while KR submits 10,000 in-scope reports under a
//! standing grant; the hub forwards them into JP's stream; JP returns and
//! gets all 10,000, each exactly once (counted in its audit log), in KR's
//! submission order; KR gets JP's receipt for each.
//!
//! Its own test binary, so it runs once, alone with its cluster. It prints
//! how long each phase took on this machine (`--nocapture`).

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::ctl::*;
use crate::common::fault::*;
use futures::StreamExt as _;
use serde_json::Value;
use tisa_core::*;

const N: usize = 10_000;
/// Fails if a phase makes no progress for this long (not a speed target:
/// only a stall detector; the whole test may take minutes).
const STALL: Duration = Duration::from_secs(120);

/// Waits until `party`'s audit log holds `kind` entries for all of `ids`,
/// failing only if the count stops growing for [`STALL`]. Returns the entries.
fn wait_all(c: &tisa_kit::cluster::Cluster, party: Party, kind: &str, ids: &HashMap<String, usize>) -> Vec<Value> {
    let mut last = (0, Instant::now());
    loop {
        let entries = audit(c, party);
        let n = ordered(&entries, kind, ids).len();
        if n >= ids.len() {
            return entries;
        }
        if n > last.0 {
            last = (n, Instant::now());
        }
        assert!(last.1.elapsed() < STALL, "{party}: {n} of {} {kind} entries, no progress for {STALL:?}", ids.len());
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_reports_wait_for_jp_and_arrive_once_in_order() {
    let mut c = start(true).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    // JP's stream and consumer exist: one covered report goes through first.
    let first = submit_retrying(&kr, &draft(&common::canary("first"))).await;
    all_receipted(&kr, std::slice::from_ref(&first), FLOW, "the first report").await;

    c.node(Party::Jp).kill();
    let t0 = Instant::now();
    // Several submits in flight at once (the node still commits them one by one).
    let kr = std::sync::Arc::new(quick_client(&c, Party::Kr).await);
    let ids: Vec<String> = futures::stream::iter(0..N)
        .map(|i| {
            let kr = kr.clone();
            async move { submit_retrying(&kr, &draft(&format!("backlog-{i}"))).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let submitted = t0.elapsed();
    let index: HashMap<String, usize> = ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
    assert_eq!(index.len(), N, "10,000 distinct reports");

    // The hub forwards every one into JP's stream while JP is down.
    let us = tokio::task::block_in_place(|| wait_all(&c, Party::Us, "FORWARDED", &index));
    let forwarded = t0.elapsed();
    assert!(!c.node(Party::Jp).is_running());

    // JP returns.
    let t1 = Instant::now();
    tokio::task::block_in_place(|| c.node(Party::Jp).restart(Duration::from_secs(60))).unwrap();
    let jp = tokio::task::block_in_place(|| wait_all(&c, Party::Jp, "RECEIVED", &index));
    let received = t1.elapsed();
    let kra = tokio::task::block_in_place(|| wait_all(&c, Party::Kr, "RECEIPT", &index));
    let receipted = t1.elapsed();
    eprintln!(
        "{N} reports: submitted in {:.1} s, forwarded by {:.1} s; JP back: all received in {:.1} s, all receipts at KR in {:.1} s",
        submitted.as_secs_f64(),
        forwarded.as_secs_f64(),
        received.as_secs_f64(),
        receipted.as_secs_f64()
    );

    // Each exactly once, in KR's submission order (KR's audit log says in
    // which order its node committed them).
    let kr_order = ordered(&audit(&c, Party::Kr), "SUBMIT", &index);
    assert_eq!(kr_order.len(), N, "KR submitted each once");
    let jp_order = ordered(&jp, "RECEIVED", &index);
    assert_eq!(jp_order.len(), N, "JP's audit log holds each report exactly once");
    assert_eq!(jp_order, kr_order, "JP received them in KR's submission order");
    assert_eq!(ordered(&us, "FORWARDED", &index), kr_order, "the hub forwarded each once, in order");
    assert_eq!(ordered(&kra, "RECEIPT", &index).len(), N, "KR recorded each receipt once");
}
