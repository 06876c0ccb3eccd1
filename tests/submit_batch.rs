//! The submit-batch call across processes (issue 18): a feed or tool signs
//! many submissions with one signature, and their requests' actions with
//! one more (Merkle roots, each document with its inclusion proof). Each
//! report is still checked on its own at every node: KR checks each
//! request's action and submission, the hub and JP the submission the
//! manifest carries (the two-person rule compares its key). Each attack
//! sits in a batch whose other members are its control: the same batch,
//! the same signatures, accepted where the attack was not made. A batch
//! travels as one `submit-batch` message, each request in it checked as if
//! it came alone.

use crate::common;

use crate::common::ctl::*;
use tisa_core::sign::{ActionDoc, Manifest, Nonce, SubmissionDoc};
use tisa_core::*;
use tisa_transport::{ControlClient, ControlReply, ControlRequest};

fn draft(i: usize) -> ReportDraft {
    let content =
        Content { title: Sensitive::new(format!("batch report {i}")), body: Sensitive::new("b"), ..Default::default() };
    missile_draft([Party::Us, Party::Jp].into_iter().collect(), content)
}

fn submission(d: &ReportDraft, key: &Identity, nonce: u8) -> Vec<u8> {
    let doc = SubmissionDoc::of(
        Party::Kr,
        d.category,
        d.classification,
        d.releasable_to,
        &d.content,
        None,
        tisa_transport::wall_clock(),
        Nonce([nonce; 16]),
        key.key_id(),
    );
    doc.to_bytes()
}

fn action(req: &ControlRequest, key: &Identity, nonce: u8) -> Vec<u8> {
    ActionDoc::new(
        Party::Kr,
        Verb::Submit,
        req.payload_sha256(),
        tisa_transport::wall_clock(),
        Nonce([nonce; 16]),
        key.key_id(),
    )
    .to_bytes()
}

/// The report id of a submitted reply; the error code otherwise.
fn outcome(r: &ControlReply) -> Result<String, String> {
    match r {
        ControlReply::Submitted(s) => Ok(s.header.id.to_string()),
        ControlReply::Error { code, message } => Err(format!("{code}: {message}")),
        other => Err(format!("{other:?}")),
    }
}

async fn inbox(c: &ControlClient) -> Vec<InboxEntry> {
    let ControlReply::Inbox(Page { items, .. }) =
        ask(c, ControlRequest::Inbox(tisa_transport::ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!("not an inbox")
    };
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_signed_submission_is_checked_per_report_at_every_node() {
    let c = start(true).await;
    let (kr, us, jp) = (client(&c, Party::Kr).await, client(&c, Party::Us).await, client(&c, Party::Jp).await);
    let submitter = c.signers(Party::Kr).unwrap().into_iter().find(|s| s.roles.contains(&KeyRole::Submitter)).unwrap();
    let key = submitter.identity;

    // The call itself: six reports, one signature for their submissions
    // and one for their requests; each one accepted.
    let replies = kr.submit_batch((0..6).map(draft).collect()).await;
    let ids: Vec<String> = replies.iter().map(|r| outcome(r.as_ref().unwrap()).unwrap()).collect();
    assert_eq!(ids.len(), 6);
    // The hub checked each report's batch-signed submission against KR's
    // roster (a proof that did not verify would be a dead letter there).
    let held = wait_async(|| async {
        let items = inbox(&us).await;
        let ours: Vec<InboxEntry> =
            items.into_iter().filter(|e| ids.contains(&e.delivery.header.id.to_string())).collect();
        (ours.len() == 6).then_some(ours)
    })
    .await;
    for e in &held {
        let m = Manifest::parse(&e.delivery.manifest.bytes).unwrap();
        assert_eq!(m.submitter_key, Some(key.key_id()));
        let proof = m.submission.as_ref().and_then(|s| s.batch.as_ref()).expect("the submission's batch proof");
        assert_eq!(proof.size, 6, "one signature over the six submissions");
    }
    // Released to JP by KR's approver (another key than the submitter's:
    // the two-person rule compared the batch-proven key): JP holds it.
    // The hub's request reaches KR after the hub holds the report: wait for it.
    let request_id = RequestId::for_release(&ReportId::new(ids[0].clone()).unwrap(), 1, Party::Jp);
    wait_async(|| async {
        let ControlReply::Pending(Page { items, .. }) =
            ask(&kr, ControlRequest::Pending(tisa_transport::ListQuery::default())).await
        else {
            return None;
        };
        items.iter().any(|i| i.request.request_id == request_id).then_some(())
    })
    .await;
    approve(&c, &kr, Party::Kr, request_id, Decision::ApproveFull).await;
    let first = ids[0].clone();
    wait_async(|| async { inbox_ids(&jp).await.contains(&first).then_some(()) }).await;

    // Attacks, signed as the call signs: four requests, their submissions
    // under one root and their actions under another.
    let drafts: Vec<ReportDraft> = (10..14).map(draft).collect();
    let subs = key.sign_batch_by_id(drafts.iter().enumerate().map(|(i, d)| submission(d, &key, i as u8)).collect());
    let mut reqs: Vec<ControlRequest> = drafts
        .into_iter()
        .zip(subs)
        .map(|(d, s)| ControlRequest::Submit(ReportDraft { submission: Some(s), ..d }))
        .collect();
    // [3]: its submission's proof altered (before the actions are signed:
    // the request's action is good, only the submission's proof is wrong).
    if let ControlRequest::Submit(d) = &mut reqs[3] {
        d.submission.as_mut().unwrap().batch.as_mut().unwrap().path[0][0] ^= 1;
    }
    let mut docs: Vec<Vec<u8>> = reqs.iter().zip(100..).map(|(r, n)| action(r, &key, n)).collect();
    // [2]: an action over another payload (a request never sent).
    docs[2] = action(&ControlRequest::Submit(draft(99)), &key, 99);
    let mut actions = key.sign_batch_by_id(docs);
    // [1]: its action's proof altered.
    actions[1].batch.as_mut().unwrap().path[0][0] ^= 1;
    // All in one `submit-batch` message, with a query slipped in as [4]
    // (signed by a key that may read): each request is answered on its own.
    let read = ControlRequest::Inbox(tisa_transport::ListQuery::default());
    let read_action = kr.action_for(&read).expect("the analyst signs reads");
    let mut items: Vec<(ControlRequest, Signed)> = reqs.into_iter().zip(actions).collect();
    items.push((read.clone(), read_action.clone()));
    let sent = kr.call_batch(&items).await;
    assert_eq!(sent.len(), 5);
    let e4 = outcome(sent[4].as_ref().unwrap()).unwrap_err();
    assert!(e4.starts_with("BAD_REQUEST") && e4.contains("does not match"), "a query in a submit batch: {e4}");
    // Its control: the same signed read alone, on its own subject, is answered.
    assert!(matches!(kr.call_raw(&read, Some(&read_action)).await.unwrap(), ControlReply::Inbox(_)));
    let got: Vec<Result<String, String>> = sent[..4].iter().map(|r| outcome(r.as_ref().unwrap())).collect();
    assert!(got[0].is_ok(), "control: the untouched member of the same batch: {got:?}");
    let e1 = got[1].as_ref().unwrap_err();
    assert!(e1.starts_with("UNAUTHORIZED"), "altered action proof: {e1}");
    let e2 = got[2].as_ref().unwrap_err();
    assert!(e2.starts_with("UNAUTHORIZED"), "an action over another payload: {e2}");
    let e3 = got[3].as_ref().unwrap_err();
    assert!(e3.contains("submission"), "altered submission proof: {e3}");
    // Nothing of the refused three went anywhere; the control reached the hub.
    let control = got[0].clone().unwrap();
    wait_async(|| async { inbox_ids(&us).await.contains(&control).then_some(()) }).await;
    assert_eq!(inbox(&us).await.len(), 7, "six and the control, none of the refused");
}

/// A feed submits what it has read together: the lines of one read go as
/// one batch (one signature over their submissions), and a line that
/// revises an earlier one of the same read waits for it (a batch never
/// holds one source key twice), so it becomes revision 2 of that report.
/// Control: a read of one line is signed directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_signs_each_read_as_one_batch_and_keeps_revisions_in_order() {
    let c = start(true).await;
    let dir = std::env::temp_dir().join(format!("tisa-submit-batch-{}-{}", std::process::id(), common::canary("d")));
    std::fs::create_dir_all(&dir).unwrap();
    let line = |id: &str, body: &str| {
        serde_json::json!({"id": id, "category": "missile", "classification": "secret", "rel_to": "USA",
            "title": format!("t {id}"), "body": body})
        .to_string()
    };
    let file = dir.join("reports.jsonl");
    let text = [line("b-1", "first"), line("b-2", "second"), line("b-3", "third"), line("b-1", "corrected")];
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
    let path = file.to_string_lossy().into_owned();
    let out = op(&c, Party::Kr, false, &["feed", "jsonl", "--json", &path]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let sent: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(&str, u64)> =
        sent.iter().map(|v| (v["source_key"].as_str().unwrap(), v["revision"].as_u64().unwrap())).collect();
    assert_eq!(got, [("jsonl:b-1", 1), ("jsonl:b-2", 1), ("jsonl:b-3", 1), ("jsonl:b-1", 2)]);
    assert_eq!(sent[0]["report_id"], sent[3]["report_id"], "the correction revises the same report");
    // Another read of one new line.
    std::fs::write(&file, line("b-4", "alone") + "\n").unwrap();
    let out = op(&c, Party::Kr, false, &["feed", "jsonl", "--json", &path]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let alone: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();

    // At the hub, each as its manifest carries it: the first three under one
    // batch signature of three, the correction (a batch of its own) and the
    // lone line signed directly.
    let us = client(&c, Party::Us).await;
    let want = |v: &serde_json::Value| (v["report_id"].as_str().unwrap().to_owned(), v["revision"].as_u64().unwrap());
    let mut wanted: Vec<(String, u64)> = sent.iter().map(want).collect();
    wanted.push(want(&alone));
    let held = wait_async(|| async {
        let items = inbox(&us).await;
        let found: Vec<Option<u32>> = wanted
            .iter()
            .map(|(id, rev)| {
                let e = items
                    .iter()
                    .find(|e| e.delivery.header.id.as_str() == id && u64::from(e.delivery.header.revision) == *rev)?;
                let m = Manifest::parse(&e.delivery.manifest.bytes).unwrap();
                Some(m.submission.as_ref().unwrap().batch.as_ref().map_or(1, |p| p.size))
            })
            .collect();
        found.iter().all(Option::is_some).then(|| found.into_iter().flatten().collect::<Vec<u32>>())
    })
    .await;
    assert_eq!(held, [3, 3, 3, 1, 1], "batch sizes as the hub holds them");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A submit batch is answered only to the operators' own inbox, like any
/// control call: with a reply subject elsewhere (here JP's delivery
/// subject, the confused deputy of #14) the node refuses the whole message
/// before anything is logged (counted), and nothing is submitted. Control:
/// the same message, the same signatures, with the caller's own reply
/// subject, submits both reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_batch_is_answered_only_to_the_operators_inbox() {
    let c = start(true).await;
    let kr = client(&c, Party::Kr).await;
    let submitter = c.signers(Party::Kr).unwrap().into_iter().find(|s| s.roles.contains(&KeyRole::Submitter)).unwrap();
    let key = submitter.identity;
    let drafts: Vec<ReportDraft> = (20..22).map(draft).collect();
    let subs =
        key.sign_batch_by_id(drafts.iter().enumerate().map(|(i, d)| submission(d, &key, 50 + i as u8)).collect());
    let reqs: Vec<ControlRequest> = drafts
        .into_iter()
        .zip(subs)
        .map(|(d, s)| ControlRequest::Submit(ReportDraft { submission: Some(s), ..d }))
        .collect();
    let actions = key.sign_batch_by_id(reqs.iter().zip(60..).map(|(r, n)| action(r, &key, n)).collect());
    let payload = tisa_transport::control::batch::encode_batch(
        reqs.iter().zip(&actions).map(|(r, a)| r.encode_signed(Some(a))).collect(),
    );
    let raw = tisa_transport::connect_once(&c.cli_endpoint(Party::Kr).unwrap(), "kr-batch-deputy").await.unwrap();
    let subject = tisa_transport::subjects::submit_batch(Party::Kr);
    let before = counter(&c, Party::Kr, "refused_replies").await;
    raw.publish_with_reply(subject.clone(), "tisa.jp.down.delivery", payload.clone().into()).await.unwrap();
    raw.flush().await.unwrap();
    wait_async(|| async { (counter(&c, Party::Kr, "refused_replies").await > before).then_some(()) }).await;
    let titles = || async {
        let ControlReply::Status(Page { items, .. }) =
            ask(&kr, ControlRequest::Status(tisa_transport::ListQuery { limit: 1000, ..Default::default() })).await
        else {
            panic!("not a status")
        };
        items.len()
    };
    assert_eq!(titles().await, 0, "nothing submitted from a refused batch");
    // Control: the caller's own reply subject.
    let answer = raw.request(subject, payload.into()).await.unwrap();
    let replies = tisa_transport::control::batch::decode_replies(&answer.payload, 2).unwrap();
    assert!(replies.iter().all(|r| outcome(r).is_ok()), "{replies:?}");
    assert_eq!(titles().await, 2, "control: the same batch answered to the inbox submits both");
}
