//! Broker-enforced isolation: with the deployment `tisa broker config`
//! generates, one nation's credentials find no path to the other nation.
//!
//! Every test first shows its control: the very same attempt *leaks* on an
//! open, unauthenticated server (so the test can fail), and asserts absence
//! only after a legitimate canary sent in the same test has arrived.

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use bytes::Bytes;
use common::{canary, ClusterPermit, BIN};
use futures::StreamExt;
use tisa_cli::cluster::Cluster;
use tisa_core::*;
use tisa_transport::{encode_envelope, ControlClient, ControlRequest, ListQuery, ReplyView};
use tokio::sync::mpsc;

fn nats_bin() -> std::path::PathBuf {
    tisa_cli::natsd::locate().unwrap_or_else(|| {
        panic!("nats-server not found: run `{}` in the repository root", tisa_cli::natsd::install_command())
    })
}

async fn start(secured: bool) -> (Cluster, ClusterPermit) {
    tokio::task::spawn_blocking(move || {
        let permit = ClusterPermit::acquire();
        let c = if secured {
            Cluster::start_secured(Path::new(BIN), &nats_bin(), |_| Vec::new(), &[])
        } else {
            Cluster::start(Path::new(BIN), tisa_cli::natsd::NatsServer::start_for_tests(), |_| Vec::new(), &[])
        };
        (c.unwrap_or_else(|e| panic!("cannot start cluster: {e:#}")), permit)
    })
    .await
    .unwrap()
}

/// An attacker's raw connection with `party`'s node credentials (secured) or
/// none (open). Server errors (permission violations) are collected.
async fn attacker(c: &Cluster, party: Party) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut opts = ConnectOptions::new().event_callback(move |ev| {
        let tx = tx.clone();
        async move {
            if let Event::ServerError(e) = ev {
                let _ = tx.send(e.to_string());
            }
        }
    });
    if let Some(dir) = &c.broker_dir {
        let seed = std::fs::read_to_string(dir.join(format!("{}-node.nk", party.lower()))).unwrap();
        opts = opts
            .nkey(seed.trim().to_owned())
            .custom_inbox_prefix(tisa_transport::subjects::inbox_prefix(party, tisa_transport::subjects::Role::Node));
    }
    (opts.connect(c.nats.url()).await.unwrap(), rx)
}

async fn client(c: &Cluster, p: Party) -> ControlClient {
    ControlClient::connect(&c.cli_endpoint(p).unwrap(), p, Duration::from_secs(10)).await.unwrap()
}

async fn ask(c: &ControlClient, req: ControlRequest) -> ReplyView {
    match c.call(&req).await.unwrap() {
        ReplyView::Error { code, message } => panic!("refused: {code} {message}"),
        r => r,
    }
}

async fn inbox_ids(c: &ControlClient) -> Vec<String> {
    let ReplyView::Inbox(items, _) =
        ask(c, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!("not an inbox")
    };
    items.iter().map(|(d, _)| d.header.id.to_string()).collect()
}

/// A legitimate trilateral release from `from` to `to` (through US), waited
/// for until `to` holds it. Returns the report id.
async fn legit_release(c: &Cluster, from: Party, to: Party) -> String {
    let (orig, recv) = (client(c, from).await, client(c, to).await);
    let rel: PartySet = [Party::Us, to].into_iter().collect();
    let draft = Draft {
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: rel,
        content: Content { title: Sensitive::new(canary("legit")), body: Sensitive::new("b"), ..Default::default() },
        corrects: None,
    };
    let ReplyView::Submitted { report_id, .. } = ask(&orig, ControlRequest::Submit(draft)).await else { panic!() };
    let request_id = wait_async(|| async {
        let ReplyView::Pending(items, _) = ask(&orig, ControlRequest::Pending(ListQuery::default())).await else {
            return None;
        };
        items.into_iter().find(|i| i.request.report_id.as_str() == report_id).map(|i| i.request.request_id)
    })
    .await;
    ask(&orig, ControlRequest::Decide { request_id, decision: Decision::ApproveFull }).await;
    let id = report_id.clone();
    wait_async(|| async { inbox_ids(&recv).await.contains(&id).then_some(()) }).await;
    report_id
}

async fn wait_async<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {:?}", common::WAIT);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A delivery of a made-up `attacker` report, addressed to `victim` as if the
/// hub had released it, and with a matching request id: on an open broker
/// the victim cannot tell it from a real one.
fn forged_delivery(attacker: Party, victim: Party, title: &str) -> Vec<u8> {
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
    encode_envelope(&Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new("US.forged.1").unwrap(),
        sender: Party::Us,
        sent_at: Timestamp(1),
        payload: Payload::Delivery(Delivery {
            header,
            released: Released::Full(Content {
                title: Sensitive::new(title),
                body: Sensitive::new("x"),
                ..Default::default()
            }),
            basis: Basis::Trilateral,
            request_id: Some(RequestId::for_release(&id, 1, victim)),
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
        format!("tisa.ctl.{v}.inbox"),
        format!("tisa.ctl.{v}.events"),
        "$JS.API.INFO".to_owned(),
        "$JS.API.STREAM.LIST".to_owned(),
    ]
}

/// What the attacker tries: read everything of the victim's, and inject a
/// forged delivery on every victim subject. Returns (messages read, errors).
async fn attack(c: &Cluster, attacker_party: Party, victim: Party) -> (usize, Vec<String>, String) {
    let (conn, mut errors) = attacker(c, attacker_party).await;
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
    ] {
        subs.push(conn.subscribe(s).await.unwrap());
    }
    let title = canary("forged");
    let forged = Bytes::from(forged_delivery(attacker_party, victim, &title));
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
            if m.subject.contains(&format!(".{v}.")) || m.subject.starts_with("_INBOX") {
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
    let ReplyView::Inbox(items, _) =
        ask(&client(c, victim).await, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!()
    };
    items.iter().any(|(d, _)| matches!(&d.released, Released::Full(c) if c.title.expose() == title))
}

async fn isolation(attacker_party: Party, victim: Party) {
    // Control: on an open server the attack works.
    {
        let (open, _permit) = start(false).await;
        let (read, _errs, title) = attack(&open, attacker_party, victim).await;
        assert!(read > 0, "control: on an open server the attacker should read the victim's traffic");
        assert!(
            victim_holds(&open, victim, &title).await,
            "control: on an open server the forged delivery should reach the victim"
        );
    }
    // The generated deployment: nothing gets through, and the broker says so.
    let (secured, _permit) = start(true).await;
    let (read, errs, title) = attack(&secured, attacker_party, victim).await;
    assert_eq!(read, 0, "{attacker_party} credentials read {read} messages of {victim}'s");
    assert!(
        !victim_holds(&secured, victim, &title).await,
        "a forged delivery from {attacker_party} credentials reached {victim}"
    );
    assert!(
        errs.iter().any(|e| e.to_lowercase().contains("permissions violation")),
        "the broker should refuse explicitly (Permissions Violation); got {errs:?}"
    );
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
        let (c, _permit) = start(secured).await;
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
