//! End to end, not only hop by hop, across real processes: a broker can lose
//! what it acknowledged (its store lost or rolled back). Each party keeps
//! what it owes until the final outcome and reconciles when a link comes
//! back; the broker's streams and consumers are set up again by the nodes.
//! Also: retractions and peer-held audit heads through the real CLI.

use std::path::Path;
use std::time::Duration;

use crate::common::ctl::*;
use crate::common::{canary, describe, one_line_error, tisa};
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

/// How many times `kind` was audited for report `id` in `dir`.
fn audited(dir: &Path, kind: &str, id: &str) -> usize {
    audit_entries(dir).iter().filter(|e| e["kind"] == kind && e["report_id"] == id).count()
}

fn missile(title: &str) -> ReportDraft {
    ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
        content: Content { title: Sensitive::new(title), body: Sensitive::new(canary("body")), ..Default::default() },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: None,
    }
}

async fn submit(kr: &ControlClient, d: ReportDraft) -> String {
    let ControlReply::Submitted(tisa_core::Submitted { header: tisa_core::ReportHeader { id: report_id, .. }, .. }) =
        ask(kr, ControlRequest::Submit(d)).await
    else {
        panic!()
    };
    report_id.to_string()
}

/// KR's view of its report's stage with JP (`lifecycle` as `tisa status` computes it).
async fn kr_state(kr: &ControlClient, id: &str) -> Option<(String, bool)> {
    let q = ListQuery { report_id: Some(ReportId::new(id).unwrap()), ..Default::default() };
    let ControlReply::Status(tisa_core::Page { items, .. }) = ask(kr, ControlRequest::Status(q)).await else {
        return None;
    };
    let s = items.first()?;
    Some((s.recipients.get(&Party::Jp)?.code().to_owned(), s.receipts.contains_key(&Party::Jp)))
}

async fn sent(c: &Cluster, p: Party) -> u64 {
    let ControlReply::Health(h) = ask(&client(c, p).await, ControlRequest::Health).await else { panic!() };
    h.sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_broker_store_is_reconciled_end_to_end() {
    let mut c = start(true).await;
    let g = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    assert_eq!(g["items"][0]["revoked"], false, "{g}");
    let us = client(&c, Party::Us).await;
    wait_async(|| async {
        let ControlReply::Grants(gs) = ask(&us, ControlRequest::Grants(ListQuery::default())).await else {
            return None;
        };
        (!gs.is_empty()).then_some(())
    })
    .await;

    // JP is down: the hub forwards three reports into JP's stream (acknowledged there).
    c.node(Party::Jp).kill();
    let kr = client(&c, Party::Kr).await;
    let mut forwarded = Vec::new();
    for i in 0..3 {
        forwarded.push(submit(&kr, missile(&canary(&format!("a{i}")))).await);
    }
    for id in &forwarded {
        wait_async(|| async { kr_state(&kr, id).await.filter(|(s, _)| s == "DELIVERED") }).await;
    }
    // The hub is down too: two more wait in the hub's stream of KR's messages.
    c.node(Party::Us).kill();
    let before = sent(&c, Party::Kr).await;
    let mut queued = Vec::new();
    for i in 0..2 {
        queued.push(submit(&kr, missile(&canary(&format!("b{i}")))).await);
    }
    // Acknowledged by the hub's stream (KR counts acknowledged publishes).
    wait_async(|| async { (sent(&c, Party::Kr).await >= before + 2).then_some(()) }).await;

    // The broker loses its disk: every stream, every acknowledged message.
    let store = c.broker_dir.as_ref().unwrap().join("jetstream");
    assert!(store.is_dir(), "the generated deployment keeps JetStream in {}", store.display());
    c.nats.restart_with(|| std::fs::remove_dir_all(&store).unwrap()).unwrap();
    // Nothing of the old streams survived.
    let (raw, _) = link_attacker(&c, Party::Jp, Party::Jp).await;
    let js = async_nats::jetstream::new(raw);
    assert!(js.get_stream("TISA_JP_DOWN").await.is_err(), "JP's stream was wiped");

    // The hub and JP come back; KR reconnects by itself.
    c.node(Party::Us).restart(Duration::from_secs(30)).unwrap();
    c.node(Party::Jp).restart(Duration::from_secs(30)).unwrap();
    let kr = client(&c, Party::Kr).await;
    for id in forwarded.iter().chain(&queued) {
        wait_async(|| async { kr_state(&kr, id).await.filter(|(_, receipt)| *receipt).map(|_| ()) }).await;
    }
    // Exactly once each, counted in JP's audit log (not its inbox view).
    let jpd = data_dir(&c, Party::Jp);
    for id in forwarded.iter().chain(&queued) {
        assert_eq!(audited(&jpd, "RECEIVED", id), 1, "{id} received once");
    }
    let jp_ids = inbox_ids(&client(&c, Party::Jp).await).await;
    assert_eq!(jp_ids.len(), 5, "{jp_ids:?}");
    // Both sides say they reconciled.
    for p in [Party::Kr, Party::Us] {
        let n = audit_entries(&data_dir(&c, p)).iter().filter(|e| e["kind"] == "RECONCILED").count();
        assert!(n >= 1, "{p} audited its reconciliation");
    }
    for p in Party::ALL {
        let dir = data_dir(&c, p);
        let out = tisa(&[
            "audit",
            "verify",
            "--data-dir",
            dir.to_str().unwrap(),
            "--agreement",
            c.agreement().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{p}: {}", describe(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retraction_reaches_the_holder_through_the_cli() {
    let mut c = start(true).await;
    let id = legit_release(&c, Party::Kr, Party::Jp).await;
    let reason = "source withdrew the claim";
    let out = op(&c, Party::Kr, false, &["retract", &id, "--reason", reason]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("retracted"), "{}", describe(&out));
    // JP's inbox marks it, with the reason; no approval was asked for.
    let inbox = wait_async(|| async {
        let v = op_json(&c, Party::Jp, false, &["inbox"]);
        v["items"].as_array().unwrap().iter().find(|i| i["report_id"] == id.as_str() && i["retracted"] == true).cloned()
    })
    .await;
    assert_eq!(inbox["retraction_reason"], reason, "{inbox}");
    let text = op(&c, Party::Jp, false, &["inbox"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("RETRACTED by KOR"), "{}", describe(&text));
    let st = wait_async(|| async {
        let v = op_json(&c, Party::Kr, false, &["status", &id]);
        (v["items"][0]["retraction_confirmed"] == true).then_some(v)
    })
    .await;
    assert!(st["items"][0]["retracted_at_ms"].as_u64().is_some(), "{st}");
    assert_eq!(op_json(&c, Party::Kr, false, &["pending"])["items"].as_array().unwrap().len(), 0);
    // Audited at each node; the hub passed it on without approval.
    wait_async(|| async { (audited(&data_dir(&c, Party::Jp), "RETRACTED", &id) == 1).then_some(()) }).await;
    assert_eq!(audited(&data_dir(&c, Party::Us), "RETRACTION_FORWARDED", &id), 1);
    assert_eq!(audited(&data_dir(&c, Party::Kr), "RETRACTED", &id), 1);
    // The reason is operator text: it is in no log and no audit entry.
    for p in Party::ALL {
        assert!(!c.node(p).log().contains(reason), "{p}'s log holds the reason");
        let audit = std::fs::read_to_string(data_dir(&c, p).join("audit.log")).unwrap();
        assert!(!audit.contains(reason), "{p}'s audit log holds the reason");
    }
    // Final, and clear errors.
    let e = one_line_error(&op(&c, Party::Kr, false, &["retract", &id, "--reason", "again"]), "second retraction");
    assert!(e.contains("was retracted"), "{e}");
    let e = one_line_error(&op(&c, Party::Kr, false, &["retract", &id, "--reason", " "]), "empty reason");
    assert!(e.contains("reason must not be empty"), "{e}");
    let e = one_line_error(&op(&c, Party::Kr, false, &["retract", "KR-nosuch", "--reason", "x"]), "unknown report");
    assert!(e.contains("KR-nosuch"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_holds_evidence_of_how_far_an_audit_log_reached() {
    let mut c = start(true).await;
    let id = legit_release(&c, Party::Kr, Party::Jp).await;
    let kr = client(&c, Party::Kr).await;
    wait_async(|| async { kr_state(&kr, &id).await.filter(|(_, receipt)| *receipt).map(|_| ()) }).await;
    // KR recorded JP's signed audit head from JP's receipt.
    let krd = data_dir(&c, Party::Kr);
    let receipt = wait_async(|| async {
        audit_entries(&krd).into_iter().find(|e| e["kind"] == "RECEIPT" && e["report_id"] == id.as_str())
    })
    .await;
    let head_seq = receipt["peer_head"]["seq"].as_u64().expect("a peer head in the receipt entry");
    assert_eq!(receipt["peer_head"]["party"], "JPN");

    // JP's log is cut back to before the delivery, and the heads JP recorded
    // itself (audit.head, its store) are gone with it: on its own, the copy
    // looks fine; against KR's log, the cut is found.
    c.node(Party::Jp).terminate(Duration::from_secs(20)).unwrap();
    let jpd = data_dir(&c, Party::Jp);
    let copy = c.dir.join("jp-cut");
    std::fs::create_dir_all(&copy).unwrap();
    let log = std::fs::read_to_string(jpd.join("audit.log")).unwrap();
    let keep: String = log
        .lines()
        .take_while(|l| !(l.contains("\"RECEIVED\"") && l.contains(&id)))
        .map(|l| format!("{l}\n"))
        .collect();
    let kept = keep.lines().count() as u64;
    assert!(kept < head_seq, "the cut reaches below the head JP signed");
    std::fs::write(copy.join("audit.log"), keep).unwrap();
    let agreement = c.agreement();
    let verify = |extra: &[&str]| {
        let mut a =
            vec!["audit", "verify", "--data-dir", copy.to_str().unwrap(), "--agreement", agreement.to_str().unwrap()];
        a.extend_from_slice(extra);
        tisa(&a)
    };
    let alone = verify(&[]);
    assert!(alone.status.success(), "nothing else to compare with: {}", describe(&alone));
    // JP's own reads of its inbox (audited) may precede the delivery: the
    // cut log is empty only if none did.
    if kept == 0 {
        let err = one_line_error(&verify(&["--peer-log", krd.to_str().unwrap()]), "cut log with no entries");
        assert!(err.contains("--party"), "an emptied log needs its party named: {err}");
    }
    let err = one_line_error(&verify(&["--peer-log", krd.to_str().unwrap(), "--party", "jp"]), "cut log against KR's");
    assert!(err.contains("entries missing at the end") && err.contains("KOR's audit log"), "{err}");
    // The real log passes against KR's.
    let out = tisa(&[
        "audit",
        "verify",
        "--data-dir",
        jpd.to_str().unwrap(),
        "--agreement",
        agreement.to_str().unwrap(),
        "--peer-log",
        krd.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("peer-recorded head"), "{}", describe(&out));
}
