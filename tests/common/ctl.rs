//! In-process operator clients (async), for tests against a cluster on the
//! enforced topology: raw attacker connections with a party's credentials,
//! control calls, decisions signed in the test as the CLI signs them, and a
//! legitimate release used as a canary. `use common::ctl::*` also brings the
//! cluster starter, the CLI runner and the async wait under the names these
//! tests use.

use std::path::Path;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};
use tokio::sync::mpsc;

use super::canary;
// The names these tests use, wherever they live in `common`.
#[allow(unused_imports)]
pub use super::{
    cli::{grant_in_force, op, op_args, op_json},
    cluster::{nats_bin, TestCluster},
    wait::wait_async,
};

/// Starts a cluster (the generated shared deployment if `secured`, else an
/// open broker) from an async test.
pub async fn start(secured: bool) -> TestCluster {
    tokio::task::spawn_blocking(move || {
        let b = TestCluster::builder().without_tap();
        if secured { b.secured() } else { b }.start()
    })
    .await
    .unwrap()
}

/// An attacker's raw connection with `party`'s node (control user)
/// credentials (secured) or none (open). Server errors (permission violations) are collected.
pub async fn attacker(c: &Cluster, party: Party) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (mut opts, rx) = collecting_errors();
    if let Some(dir) = &c.broker_dir {
        let seed = std::fs::read_to_string(dir.join(format!("{}-node.nk", party.lower()))).unwrap();
        opts = opts
            .nkey(seed.trim().to_owned())
            .custom_inbox_prefix(tisa_transport::subjects::inbox_prefix(party, tisa_transport::subjects::Role::Node));
    }
    (opts.connect(c.nats.url()).await.unwrap(), rx)
}

/// Connection options whose server errors (permission violations) are
/// collected on the returned receiver.
fn collecting_errors() -> (ConnectOptions, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let opts = ConnectOptions::new().event_callback(move |ev| {
        let tx = tx.clone();
        async move {
            if let Event::ServerError(e) = ev {
                let _ = tx.send(e.to_string());
            }
        }
    });
    (opts, rx)
}

/// An attacker's raw connection with the credentials of `party`'s link
/// user for the US–`nation` link (a nation's own `<n>-link`; the hub's
/// `us-link-<n>`), or none on an open server: what a party's node uses on
/// that link. Server errors are collected.
pub async fn link_attacker(c: &Cluster, party: Party, nation: Party) -> (Client, mpsc::UnboundedReceiver<String>) {
    use tisa_transport::subjects::{inbox_prefix, Role};
    let (mut opts, rx) = collecting_errors();
    if let Some(dir) = &c.broker_dir {
        let (seed, role) = if party.is_hub() {
            (format!("us-link-{}.nk", nation.lower()), Role::Link)
        } else {
            (format!("{}-link.nk", party.lower()), Role::NationLink)
        };
        let seed = std::fs::read_to_string(dir.join(seed)).unwrap();
        opts = opts.nkey(seed.trim().to_owned()).custom_inbox_prefix(inbox_prefix(nation, role));
    }
    (opts.connect(c.nats_of(if party.is_hub() { nation } else { party }).url()).await.unwrap(), rx)
}

/// A client of `p`'s node as its operators (analyst, approver, feed: it
/// signs each request with the key whose role allows it).
pub async fn client(c: &Cluster, p: Party) -> ControlClient {
    ControlClient::connect(&c.cli_endpoint(p).unwrap(), p, Duration::from_secs(10))
        .await
        .unwrap()
        .with_signers(c.signers(p).unwrap())
}

pub async fn ask(c: &ControlClient, req: ControlRequest) -> ControlReply {
    match c.call(&req).await.unwrap() {
        ControlReply::Error { code, message } => panic!("refused: {code} {message}"),
        r => r,
    }
}

pub async fn inbox_ids(c: &ControlClient) -> Vec<String> {
    let ControlReply::Inbox(tisa_core::Page { items, .. }) =
        ask(c, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!("not an inbox")
    };
    items.iter().map(|tisa_core::InboxEntry { delivery: d, .. }| d.header.id.to_string()).collect()
}

/// A legitimate trilateral release from `from` to `to` (through US), waited
/// for until `to` holds it. Returns the report id.
pub async fn legit_release(c: &Cluster, from: Party, to: Party) -> String {
    let (orig, recv) = (client(c, from).await, client(c, to).await);
    let rel: PartySet = [Party::Us, to].into_iter().collect();
    let content = Content { title: Sensitive::new(canary("legit")), body: Sensitive::new("b"), ..Default::default() };
    let draft = missile_draft(rel, content);
    let ControlReply::Submitted(tisa_core::Submitted { header: tisa_core::ReportHeader { id: report_id, .. }, .. }) =
        ask(&orig, ControlRequest::Submit(draft)).await
    else {
        panic!()
    };
    let report_id = report_id.to_string();
    let request_id = wait_async(|| async {
        let ControlReply::Pending(tisa_core::Page { items, .. }) =
            ask(&orig, ControlRequest::Pending(ListQuery::default())).await
        else {
            return None;
        };
        items.into_iter().find(|i| i.request.report_id.as_str() == report_id).map(|i| i.request.request_id)
    })
    .await;
    approve(c, &orig, from, request_id, Decision::ApproveFull).await;
    let id = report_id.clone();
    wait_async(|| async { inbox_ids(&recv).await.contains(&id).then_some(()) }).await;
    report_id
}

/// An on-line NK_MISSILE draft at SECRET, releasable to `rel`, with
/// `content`; the CLI's client signs its submission.
pub fn missile_draft(rel: PartySet, content: Content) -> ReportDraft {
    ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: rel,
        content,
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: None,
    }
}

/// Decides `request_id` as `party`'s first approver (signed in the test, as the CLI does).
pub async fn approve(c: &Cluster, client: &ControlClient, party: Party, request_id: RequestId, decision: Decision) {
    let key = tisa_deploy::keys::load(&c.approver_key(party, false)).unwrap();
    match tisa_kit::sign_and_decide(client, &key, request_id, decision).await.unwrap() {
        ControlReply::Decided { .. } => {}
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A counter from the node's health.
pub async fn counter(c: &Cluster, party: Party, name: &str) -> u64 {
    let ControlReply::Health(h) = ask(&client(c, party).await, ControlRequest::Health).await else { panic!() };
    match name {
        "rejected" => h.rejected,
        "received" => h.received,
        "malformed" => h.malformed,
        "refused_replies" => h.refused_replies,
        _ => panic!("no counter {name}"),
    }
}

// ------------------------------------------------------------ node files

/// `party`'s data directory in a test cluster.
pub fn data_dir(c: &Cluster, p: Party) -> std::path::PathBuf {
    c.dir.join(format!("{}-data", p.lower()))
}

/// The entries of the audit log in `dir`, as JSON (a torn last line is skipped).
pub fn audit_entries(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
