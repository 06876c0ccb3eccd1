//! Helpers of the fault tests (`tests/faults.rs`, `tests/faults_backlog.rs`):
//! audit logs read with the real CLI, a standing grant signed in process,
//! submits and waits that ride out crashes and outages.

use std::time::{Duration, Instant};

use serde_json::Value;
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

use super::ctl::*;
use super::{canary, cli, wait};

/// How long a flow may take to complete after a restart (redelivery after
/// the 5 s ack wait, outbox retries every 2 s, a noisy machine).
pub const FLOW: Duration = Duration::from_secs(60);

/// `tisa audit show --json` of `party`'s node: its entries.
pub fn audit(c: &Cluster, party: Party) -> Vec<Value> {
    let dir = c.dir.join(format!("{}-data", party.lower()));
    let out = cli::tisa(&["audit", "show", "--data-dir", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "audit show for {party}: {}", cli::describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}")))
        .collect()
}

/// Ids of `kind` entries in `entries` (an audit log), in log order, restricted to `ids`.
pub fn ordered(entries: &[Value], kind: &str, ids: &std::collections::HashMap<String, usize>) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind)
        .filter_map(|e| e["report_id"].as_str())
        .filter(|id| ids.contains_key(*id))
        .map(str::to_owned)
        .collect()
}

/// Audit entries of `kind` about report `id`.
pub fn count(entries: &[Value], kind: &str, id: &str) -> usize {
    entries.iter().filter(|e| e["kind"] == kind && e["report_id"] == id).count()
}

/// An operator client with a short timeout: calls to a node that is about to
/// crash must not hold the driver for long (a timed-out call is retried).
pub async fn quick_client(c: &Cluster, p: Party) -> ControlClient {
    ControlClient::connect(&c.cli_endpoint(p).unwrap(), p, Duration::from_secs(5))
        .await
        .unwrap()
        .with_signers(c.signers(p).unwrap())
}

pub fn draft(key: &str) -> ReportDraft {
    ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
        content: Content { title: Sensitive::new(canary("fault")), body: Sensitive::new("b"), ..Default::default() },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        // A source key: a submit retried after a crash is the same report.
        source_key: Some(key.to_owned()),
    }
}

/// KR's standing grant to JP for NK_MISSILE up to SECRET (signed with KR's first approver key).
pub async fn grant_missile(c: &Cluster, kr: &ControlClient) {
    let key = tisa_deploy::keys::load(&c.approver_key(Party::Kr, false)).unwrap();
    let doc = tisa_core::sign::GrantDoc {
        grant_id: format!("KR-G-{:016x}", rand_u64()),
        originator: Party::Kr,
        recipient: Party::Jp,
        categories: vec![Category::NkMissile],
        max_classification: Classification::Secret,
        tearline_only: false,
        issued_at: tisa_node::clock::now(),
        not_after: None,
        operator: key.identity.name().to_owned(),
    };
    let signed = key.identity.sign(doc.to_bytes());
    let ControlReply::Grants(items) = ask(kr, ControlRequest::Grant(signed.clone())).await else {
        panic!("not a grant reply")
    };
    // Under the two-person rule KR's second approver co-signs it, from its own key.
    if items.iter().any(|g| g.proposed) {
        let second = tisa_deploy::keys::load(&c.approver_key(Party::Kr, true)).unwrap();
        let r = tisa_kit::operator::cosign_grant(kr, Party::Kr, &signed, &second.identity).await.unwrap();
        assert!(matches!(&r, ControlReply::Grants(g) if g.iter().all(|g| !g.proposed)), "co-signing failed: {r:?}");
    }
    // The hub holds it once US lists it.
    let us = client(c, Party::Us).await;
    let id = doc.grant_id.clone();
    wait_async(|| async {
        let ControlReply::Grants(items) = ask(&us, ControlRequest::Grants(ListQuery::default())).await else {
            return None;
        };
        items
            .iter()
            .any(|tisa_core::GrantView { grant: g, revoked, .. }| g.doc.grant_id == id && !revoked)
            .then_some(())
    })
    .await;
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// Submits until KR answers (the same source key makes a retry the same report).
pub async fn submit_retrying(kr: &ControlClient, d: &ReportDraft) -> String {
    wait::wait_until_async(Instant::now() + FLOW, "KR takes a submit", || async move {
        match kr.call(&ControlRequest::Submit(d.clone())).await {
            Ok(ControlReply::Submitted(s)) => Some(s.header.id.to_string()),
            _ => None,
        }
    })
    .await
}

/// Waits until KR shows JP's receipt for every one of `ids`.
pub async fn all_receipted(kr: &ControlClient, ids: &[String], within: Duration, what: &str) {
    let mut deadline = wait::Deadline::after(within, format!("{what}: every report receipted"));
    loop {
        let q = ListQuery { limit: 100_000, ..Default::default() };
        if let Ok(ControlReply::Status(tisa_core::Page { items, .. })) = kr.call(&ControlRequest::Status(q)).await {
            let done: std::collections::HashSet<String> =
                items.iter().filter(|i| i.receipts.contains_key(&Party::Jp)).map(|i| i.header.id.to_string()).collect();
            if ids.iter().all(|id| done.contains(id)) {
                return;
            }
            assert!(
                !deadline.passed(),
                "{what}: {} of {} reports receipted within {within:?}",
                ids.iter().filter(|id| done.contains(*id)).count(),
                ids.len()
            );
        }
        deadline.pause().await;
    }
}
