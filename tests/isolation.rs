//! Broker-enforced isolation: with the deployment `tisa broker config`
//! generates, one nation's credentials find no path to the other nation.
//!
//! Every test first shows its control: the very same attempt *leaks* on an
//! open, unauthenticated server (so the test can fail), and asserts absence
//! only after a legitimate canary sent in the same test has arrived.

use crate::common;

use std::time::Duration;

use crate::common::canary;
use crate::common::ctl::*;
use bytes::Bytes;
use futures::StreamExt;
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{encode_envelope, ControlReply, ControlRequest, ListQuery};

/// A delivery of a made-up `attacker` report, addressed to `victim` as if
/// the hub had released it, signed with the attacker's own node and approver
/// keys: the attacker party consents to its own report, but tries to skip
/// the hub. On an open broker the victim cannot tell it from a real release.
fn forged_delivery(c: &Cluster, attacker: Party, victim: Party, title: &str) -> Vec<u8> {
    use tisa_core::sign::{sha256, DecisionDoc, Manifest, Verdict};
    let node = tisa_deploy::keys::load(&c.node_key(attacker)).unwrap().identity;
    let approver = tisa_deploy::keys::load(&c.approver_key(attacker, false)).unwrap().identity;
    let id = ReportId::new(format!("{}-forged{}", attacker.code(), std::process::id())).unwrap();
    let header = ReportHeader {
        id: id.clone(),
        revision: 1,
        originator: attacker,
        created_at: Timestamp(1),
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: [Party::Us, victim].into_iter().collect(),
    };
    let content = Content { title: Sensitive::new(title), body: Sensitive::new("x"), ..Default::default() };
    // Submitted by the attacker's analyst, approved by its approver: two keys.
    let analyst = tisa_deploy::keys::load(&c.operator_key(attacker, "analyst")).unwrap().identity;
    let sub = tisa_core::sign::SubmissionDoc::of(
        attacker,
        header.category,
        header.classification,
        header.releasable_to,
        &content,
        None,
        Timestamp(1),
        tisa_core::sign::Nonce([3; 16]),
        analyst.key_id(),
    );
    let m = Manifest::of(&header, &content, analyst.name(), Some(analyst.key_id()))
        .with_submission(&sub, &analyst.sign_by_id(sub.to_bytes()));
    let manifest = node.sign(m.to_bytes());
    let doc = DecisionDoc {
        manifest_sha256: sha256(&manifest.bytes),
        request_id: RequestId::for_release(&id, 1, victim),
        report_id: id.clone(),
        revision: 1,
        recipient: victim,
        verdict: Verdict::ApproveFull,
        reason: String::new(),
        decided_at: Timestamp(2),
        operator: approver.name().to_owned(),
    };
    let decision = tisa_transport::convert::decision_from_signed(approver.sign(doc.to_bytes())).unwrap();
    encode_envelope(&Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("US.forged.1").unwrap(),
        sender: Party::Us,
        sent_at: Timestamp(1),
        agreement: common::agreement_tag(c),
        payload: Payload::Delivery(Delivery {
            header,
            released: Released::Full(content),
            basis: Basis::Trilateral,
            request_id: Some(RequestId::for_release(&id, 1, victim)),
            manifest,
            consent: Some(Consent::Decision(Box::new(decision))),
        }),
    })
}

/// Every subject of the victim's, and the broad wildcards.
fn victim_subjects(victim: Party) -> Vec<String> {
    let v = victim.lower();
    vec![
        format!("tisa.{v}.down.delivery"),
        format!("tisa.{v}.down.request"),
        format!("tisa.{v}.up.report"),
        format!("tisa.{v}.up.decision"),
        format!("tisa.ctl.{v}.submit"),
        format!("tisa.ctl.{v}.submit-batch"),
        format!("tisa.ctl.{v}.inbox"),
        format!("tisa.ctl.{v}.events"),
        "$JS.API.INFO".to_owned(),
        "$JS.API.STREAM.LIST".to_owned(),
        // Service responses (stream acks) crossing accounts and leafs.
        "_R_.forged.1".to_owned(),
    ]
}

/// What the attacker tries: read everything of the victim's, and inject a
/// forged delivery on every victim subject. Returns (messages read, errors).
async fn attack(c: &Cluster, attacker_party: Party, victim: Party, link: bool) -> (usize, Vec<String>, String) {
    // The party's node's control user, or its link user.
    let (conn, mut errors) =
        if link { link_attacker(c, attacker_party, attacker_party).await } else { attacker(c, attacker_party).await };
    let v = victim.lower();
    let mut subs = Vec::new();
    for s in [
        format!("tisa.{v}.>"),
        "tisa.>".to_owned(),
        ">".to_owned(),
        format!("tisa.ctl.{v}.>"),
        "_INBOX.>".to_owned(),
        format!("_INBOX_{v}_cli.>"),
        "$JS.API.>".to_owned(),
        // Service responses: they cross leafs and account boundaries
        // bypassing permissions, limited only by the account binding.
        "_R_.>".to_owned(),
    ] {
        subs.push(conn.subscribe(s).await.unwrap());
    }
    let title = canary("forged");
    let forged = Bytes::from(forged_delivery(c, attacker_party, victim, &title));
    for s in victim_subjects(victim) {
        conn.publish(s, forged.clone()).await.unwrap();
    }
    conn.flush().await.unwrap();

    // The canary: a legitimate release towards the victim, then one back.
    legit_release(c, attacker_party, victim).await;
    legit_release(c, victim, attacker_party).await;
    conn.flush().await.unwrap();

    // Count what the attacker's subscriptions saw of the victim's traffic.
    let mut read = 0;
    for mut sub in subs {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), sub.next()).await {
            if m.subject.contains(&format!(".{v}.")) || m.subject.starts_with("_INBOX") || m.subject.starts_with("_R_")
            {
                read += 1;
            }
        }
    }
    let mut errs = Vec::new();
    while let Ok(e) = errors.try_recv() {
        errs.push(e);
    }
    (read, errs, title)
}

async fn victim_holds(c: &Cluster, victim: Party, title: &str) -> bool {
    let ControlReply::Inbox(tisa_core::Page { items, .. }) =
        ask(&client(c, victim).await, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!()
    };
    items.iter().any(|tisa_core::InboxEntry { delivery: d, .. }| matches!(&d.released, Released::Full(c) if c.title.expose() == title))
}

async fn isolation(attacker_party: Party, victim: Party) {
    // Control: on an open server the attack works.
    {
        let open = start(false).await;
        let (read, _errs, title) = attack(&open, attacker_party, victim, false).await;
        assert!(read > 0, "control: on an open server the attacker should read the victim's traffic");
        assert!(
            victim_holds(&open, victim, &title).await,
            "control: on an open server the forged delivery should reach the victim"
        );
    }
    // The generated deployment: nothing gets through with either of the
    // party's node users (control and link), and the broker says so.
    let secured = start(true).await;
    for link in [false, true] {
        let who = format!("{attacker_party} {} credentials", if link { "link" } else { "node" });
        let (read, errs, title) = attack(&secured, attacker_party, victim, link).await;
        assert_eq!(read, 0, "{who} read {read} messages of {victim}'s");
        assert!(!victim_holds(&secured, victim, &title).await, "a forged delivery from {who} reached {victim}");
        assert!(
            errs.iter().any(|e| e.to_lowercase().contains("permissions violation")),
            "the broker should refuse {who} explicitly (Permissions Violation); got {errs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kr_credentials_find_no_path_to_jp() {
    isolation(Party::Kr, Party::Jp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jp_credentials_find_no_path_to_kr() {
    isolation(Party::Jp, Party::Kr).await;
}

/// A user cannot read another user's request/reply traffic through `_INBOX`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_user_reads_another_users_replies() {
    for secured in [false, true] {
        let c = start(secured).await;
        // KR's node credentials try to read KR's operator replies.
        let (conn, _errs) = attacker(&c, Party::Kr).await;
        let mut subs = Vec::new();
        for s in ["_INBOX.>", "_INBOX_kr_cli.>", ">"] {
            subs.push(conn.subscribe(s).await.unwrap());
        }
        conn.flush().await.unwrap();
        // The canary: the operator's own request gets its reply.
        let kr = client(&c, Party::Kr).await;
        for _ in 0..3 {
            ask(&kr, ControlRequest::Health).await;
        }
        conn.flush().await.unwrap();
        let mut read = 0;
        for mut sub in subs {
            while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), sub.next()).await {
                if m.subject.starts_with("_INBOX") {
                    read += 1;
                }
            }
        }
        if secured {
            assert_eq!(read, 0, "another user read {read} of KR's operator replies");
        } else {
            assert!(read > 0, "control: on an open server replies are readable");
        }
    }
}
