//! The audit trail across processes: every node keeps a hash-chained
//! `audit.log` that `tisa audit verify` checks (chain, signed heads against
//! the agreement, nothing cut off the end), that shows any edited or
//! truncated copy, that stays free of duplicates across `kill -9` and
//! replay, and that never holds a title, body, tearline or source.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::common::ctl::*;
use crate::common::{canary, describe, one_line_error, tisa};
use serde_json::Value;
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

fn verify(c: &Cluster, dir: &Path) -> std::process::Output {
    let agreement = c.agreement();
    tisa(&["audit", "verify", "--data-dir", dir.to_str().unwrap(), "--agreement", agreement.to_str().unwrap()])
}

fn verify_ok(c: &Cluster, dir: &Path) -> String {
    let out = verify(c, dir);
    assert!(out.status.success(), "verify {}: {}", dir.display(), describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    assert!(stdout.contains(" OK: "), "{stdout}");
    stdout
}

fn verify_fails(c: &Cluster, dir: &Path, what: &str) -> String {
    one_line_error(&verify(c, dir), what)
}

fn entries(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad entry {l}: {e}")))
        .collect()
}

fn kinds(dir: &Path) -> Vec<String> {
    entries(dir).iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

/// Seqs are 1..=n, no input's entry appears twice, each decision is recorded once.
fn assert_no_duplicates(dir: &Path) {
    let es = entries(dir);
    for (i, e) in es.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{}: seqs contiguous at line {}", dir.display(), i + 1);
    }
    let mut parts = HashSet::new();
    for e in es.iter().filter(|e| e.get("input_seq").is_some()) {
        assert!(
            parts.insert((e["input_seq"].as_u64(), e["input_part"].as_u64())),
            "{}: entry duplicated: {e}",
            dir.display()
        );
    }
    let mut decided: HashMap<String, usize> = HashMap::new();
    for e in es.iter().filter(|e| e["kind"] == "DECIDED") {
        *decided.entry(e["request_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(decided.values().all(|n| *n == 1), "{}: DECIDED once per decision: {decided:?}", dir.display());
}

/// Copies a node's data directory (flat) into a scratch directory.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

fn report(title: &str, body: &str, tearline: &str, source: &str, to: Party) -> tisa_core::ReportDraft {
    tisa_core::ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: [Party::Us, to].into_iter().collect(),
        content: Content {
            title: Sensitive::new(title),
            body: Sensitive::new(body),
            tearline: Some(Sensitive::new(tearline)),
            source: Sensitive::new(source),
        },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: None,
    }
}

async fn submit(c: &ControlClient, d: tisa_core::ReportDraft) -> String {
    let ControlReply::Submitted(tisa_core::Submitted { header: tisa_core::ReportHeader { id: report_id, .. }, .. }) =
        ask(c, ControlRequest::Submit(d)).await
    else {
        panic!("not submitted")
    };
    report_id.to_string()
}

async fn pending(kr: &ControlClient, id: &str) -> RequestId {
    wait_async(|| async {
        let ControlReply::Pending(tisa_core::Page { items, .. }) =
            ask(kr, ControlRequest::Pending(ListQuery::default())).await
        else {
            return None;
        };
        items.into_iter().find(|i| i.request.report_id.as_str() == id).map(|i| i.request.request_id)
    })
    .await
}

async fn arrives(jp: &ControlClient, id: &str) {
    wait_async(|| async { inbox_ids(jp).await.iter().any(|x| x == id).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_trail_verifies_shows_tampering_and_survives_kill_9() {
    let mut c = start(true).await;
    let mut canaries = Vec::new();
    let mut content = |label: &str| {
        let v: Vec<String> =
            ["title", "body", "tearline", "source"].iter().map(|k| canary(&format!("{label}_{k}"))).collect();
        canaries.extend(v.clone());
        v
    };

    // A full release KR → JP, a denied one, and a US report to JP.
    let (kr, us, jp) = (client(&c, Party::Kr).await, client(&c, Party::Us).await, client(&c, Party::Jp).await);
    let a = content("a");
    let released = submit(&kr, report(&a[0], &a[1], &a[2], &a[3], Party::Jp)).await;
    let rq = pending(&kr, &released).await;
    approve(&c, &kr, Party::Kr, rq, Decision::ApproveFull).await;
    arrives(&jp, &released).await;
    let b = content("b");
    let denied = submit(&kr, report(&b[0], &b[1], &b[2], &b[3], Party::Jp)).await;
    let rq = pending(&kr, &denied).await;
    approve(&c, &kr, Party::Kr, rq, Decision::Deny { reason: "no".into() }).await;
    let u = content("u");
    let bilateral = submit(&us, report(&u[0], &u[1], &u[2], &u[3], Party::Jp)).await;
    arrives(&jp, &bilateral).await;

    // A message JP cannot decode is audited too (subject, link, error; never the payload).
    let (raw, _) = link_attacker(&c, Party::Us, Party::Jp).await;
    let marker = canary("garbage");
    let mut garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    garbage.extend_from_slice(marker.as_bytes());
    raw.publish("tisa.jp.down.delivery", garbage.into()).await.unwrap();
    raw.flush().await.unwrap();
    let jpd = data_dir(&c, Party::Jp);
    wait_async(|| async { kinds(&jpd).iter().any(|k| k == "MALFORMED").then_some(()) }).await;

    // Every node's log verifies while the node runs.
    for p in Party::ALL {
        verify_ok(&c, &data_dir(&c, p));
    }
    // Wait until the hub has recorded the denial too (it may trail KR's reply).
    let usd = data_dir(&c, Party::Us);
    wait_async(|| async { (kinds(&usd).iter().filter(|k| *k == "DECIDED").count() == 2).then_some(()) }).await;
    let kr_kinds = kinds(&data_dir(&c, Party::Kr));
    for k in ["SUBMIT", "RELEASE_REQUESTED", "DECIDED", "PROGRESS"] {
        assert!(kr_kinds.iter().any(|x| x == k), "KR logged {k}: {kr_kinds:?}");
    }
    let us_kinds = kinds(&usd);
    for k in ["SUBMIT", "REPORT_HELD", "RELEASE_REQUESTED", "DECIDED", "FORWARDED"] {
        assert!(us_kinds.iter().any(|x| x == k), "US logged {k}: {us_kinds:?}");
    }
    assert_eq!(kinds(&jpd).iter().filter(|k| *k == "RECEIVED").count(), 2, "JP logged both arrivals");
    // A decision's actor is its approver.
    let decided = entries(&data_dir(&c, Party::Kr)).into_iter().find(|e| e["kind"] == "DECIDED").unwrap();
    assert_ne!(decided["actor"], "KOR", "the approver is named: {decided}");

    // `show` prints the entries; `export` writes a copy an auditor verifies on their own.
    let out = tisa(&["audit", "show", "--data-dir", jpd.to_str().unwrap(), "--json", "--limit", "1"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let export = c.dir.join("jp-audit-export.json");
    let out = tisa(&["audit", "export", "--data-dir", jpd.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let agreement = c.agreement();
    let out =
        tisa(&["audit", "verify", "--export", export.to_str().unwrap(), "--agreement", agreement.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));

    // A copy of JP's data with one byte of an entry flipped: verify names the line.
    let copy = c.dir.join("jp-copy-byte");
    copy_dir(&jpd, &copy);
    let log = std::fs::read_to_string(copy.join("audit.log")).unwrap();
    let line = log.lines().position(|l| l.contains("\"RECEIVED\"")).unwrap();
    let mut bytes = log.into_bytes();
    let start: usize = std::str::from_utf8(&bytes).unwrap().lines().take(line).map(|l| l.len() + 1).sum();
    let at = start + std::str::from_utf8(&bytes[start..]).unwrap().find("basis=").unwrap() + 6;
    bytes[at] ^= 0x01;
    std::fs::write(copy.join("audit.log"), &bytes).unwrap();
    let err = verify_fails(&c, &copy, "flipped byte");
    assert!(err.contains(&format!("line {} (seq {})", line + 1, line + 1)), "names the line: {err}");

    // A copy with its last two entries cut off: verify says entries are missing at the end.
    let copy = c.dir.join("jp-copy-cut");
    copy_dir(&jpd, &copy);
    let log = std::fs::read_to_string(copy.join("audit.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let kept: String = lines[..lines.len() - 2].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(copy.join("audit.log"), kept).unwrap();
    let err = verify_fails(&c, &copy, "cut off");
    assert!(err.contains("entries missing at the end"), "{err}");

    // kill -9 mid-flow: KR holds an open request when it dies.
    let m = content("m");
    let midflow = submit(&kr, report(&m[0], &m[1], &m[2], &m[3], Party::Jp)).await;
    let rq = pending(&kr, &midflow).await;
    let restart = |c: &mut Cluster, p: Party| {
        let n = c.node(p);
        n.kill();
        n.restart(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{p} did not come back: {e:#}"));
    };
    restart(&mut c, Party::Kr);
    let kr = client(&c, Party::Kr).await;
    approve(&c, &kr, Party::Kr, rq, Decision::ApproveFull).await;
    let jp = client(&c, Party::Jp).await;
    arrives(&jp, &midflow).await;
    // …and the hub and JP die too, and replay everything on start.
    restart(&mut c, Party::Us);
    restart(&mut c, Party::Jp);
    let jp = client(&c, Party::Jp).await;
    arrives(&jp, &midflow).await;
    wait_async(|| async { (kinds(&usd).iter().filter(|k| *k == "DECIDED").count() == 3).then_some(()) }).await;
    for p in Party::ALL {
        let dir = data_dir(&c, p);
        verify_ok(&c, &dir);
        assert_no_duplicates(&dir);
    }
    assert_eq!(kinds(&data_dir(&c, Party::Kr)).iter().filter(|k| *k == "DECIDED").count(), 3);
    assert_eq!(kinds(&jpd).iter().filter(|k| *k == "RECEIVED").count(), 3, "JP logged each arrival once");

    // A clean stop signs the head; with the node stopped, its store is checked too.
    c.node(Party::Jp).terminate(Duration::from_secs(20)).unwrap();
    assert_eq!(kinds(&jpd).last().map(String::as_str), Some("HEAD"));
    let ok = verify_ok(&c, &jpd);
    assert!(ok.contains("the node store") && ok.contains("signature(s) verified"), "{ok}");
    // Under another agreement (other keys), the signed head does not verify.
    let out = tisa(&["audit", "verify", "--data-dir", jpd.to_str().unwrap()]);
    let err = one_line_error(&out, "built-in agreement");
    assert!(err.contains("signature"), "{err}");
    c.node(Party::Jp).restart(Duration::from_secs(30)).unwrap();
    verify_ok(&c, &jpd);
    assert_no_duplicates(&jpd);

    // No title, body, tearline or source anywhere in any audit log.
    for p in Party::ALL {
        let text = std::fs::read_to_string(data_dir(&c, p).join("audit.log")).unwrap();
        for s in &canaries {
            assert!(!text.contains(s.as_str()), "{p}'s audit log holds report content");
        }
        assert!(!text.contains(&marker), "{p}'s audit log holds a malformed payload");
        assert!(!text.contains("CANARY"), "{p}'s audit log holds report content");
    }
}
