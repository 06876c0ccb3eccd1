//! Standing pre-approvals through the real CLI, on the enforced topology:
//! a signed grant lets covered reports flow without a per-item approval; a
//! revocation stops that at once; what a grant does not cover still waits
//! for the originator.

use crate::common::ctl::*;
use crate::common::{canary, describe, one_line_error};
use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

fn submit(c: &Cluster, category: &str, title: &str) -> String {
    let v = op_json(
        c,
        Party::Kr,
        false,
        &[
            "submit",
            "--category",
            category,
            "--classification",
            "secret",
            "--rel-to",
            "USA,JPN",
            "--title",
            title,
            "--body",
            "b",
        ],
    );
    v["report_id"].as_str().unwrap().to_owned()
}

async fn jp_holds(c: &Cluster, id: &str) -> bool {
    inbox_ids(&client(c, Party::Jp).await).await.iter().any(|x| x == id)
}

async fn pending_for(c: &Cluster, id: &str) -> Option<String> {
    let ControlReply::Pending(tisa_core::Page { items, .. }) =
        ask(&client(c, Party::Kr).await, ControlRequest::Pending(ListQuery::default())).await
    else {
        panic!()
    };
    items.into_iter().find(|i| i.request.report_id.as_str() == id).map(|i| i.request.request_id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_pre_approve_and_revocations_stop_at_once() {
    let c = start(true).await;

    // Errors first: no key; a grant to the hub; a category outside the scope.
    let e = one_line_error(
        &op(
            &c,
            Party::Kr,
            false,
            &["standing", "grant", "--to", "jp", "--category", "missile", "--max-classification", "secret"],
        ),
        "grant without a key",
    );
    assert!(e.contains("approver key"), "{e}");
    let e = one_line_error(
        &op(
            &c,
            Party::Kr,
            true,
            &["standing", "grant", "--to", "us", "--category", "missile", "--max-classification", "secret"],
        ),
        "grant to the hub",
    );
    assert!(e.contains("recipient must be the other nation"), "{e}");
    let e = one_line_error(
        &op(
            &c,
            Party::Kr,
            true,
            &["standing", "grant", "--to", "jp", "--category", "other", "--max-classification", "secret"],
        ),
        "grant of OTHER",
    );
    assert!(e.contains("trilateral scope"), "{e}");

    // KR pre-approves NK_MISSILE up to SECRET for JP.
    let g = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let grant_id = g["items"][0]["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(g["items"][0]["revoked"], false);

    // A covered report reaches JP with no per-item approval.
    let covered = submit(&c, "missile", &canary("covered"));
    let id = covered.clone();
    wait_async(|| async { jp_holds(&c, &id).await.then_some(()) }).await;
    assert_eq!(pending_for(&c, &covered).await, None, "no release request for a covered report");
    // KR learns it from the hub's progress notice, which may wait a while
    // to go with others (`tisa_node::notices`).
    let delivered = |st: &serde_json::Value| st["items"][0]["recipients"][0]["state"] == "DELIVERED";
    wait_async(|| async { delivered(&op_json(&c, Party::Kr, false, &["status", &covered])).then_some(()) }).await;
    // The hub holds the grant.
    let held = op_json(&c, Party::Us, false, &["standing", "list"]);
    assert_eq!(held["items"][0]["grant_id"], grant_id.as_str(), "{held}");

    // Not covered (NK_NUCLEAR): waits for KR.
    let nuclear = submit(&c, "nuclear", &canary("nuclear"));
    let id = nuclear.clone();
    wait_async(|| async { pending_for(&c, &id).await }).await;

    // Revoke: the list says so, at KR and at the hub.
    let r = op_json(&c, Party::Kr, true, &["standing", "revoke", &grant_id]);
    assert_eq!(r["items"][0]["revoked"], true, "{r}");
    let gid = &grant_id;
    let c_ref = &c;
    wait_async(|| async move {
        let ControlReply::Grants(items) =
            ask(&client(c_ref, Party::Us).await, ControlRequest::Grants(ListQuery::default())).await
        else {
            panic!()
        };
        items
            .iter()
            .any(|tisa_core::GrantView { grant: g, revoked, .. }| g.doc.grant_id == *gid && *revoked)
            .then_some(())
    })
    .await;

    // After the revocation a missile report waits for approval again…
    let after = submit(&c, "missile", &canary("after_revoke"));
    let id = after.clone();
    wait_async(|| async { pending_for(&c, &id).await }).await;
    // …and does not reach JP: a later, approved report is the canary.
    let canary_id = legit_release(&c, Party::Kr, Party::Jp).await;
    assert!(jp_holds(&c, &canary_id).await);
    assert!(!jp_holds(&c, &after).await, "a report after the revocation reached JP without approval");
    assert!(!jp_holds(&c, &nuclear).await, "an uncovered report reached JP without approval");

    // Approving through the CLI (signed with the approver key) still works.
    let rq = pending_for(&c, &after).await.unwrap();
    let out = op(&c, Party::Kr, true, &["approve", &rq]);
    assert!(out.status.success(), "{}", describe(&out));
    let id = after.clone();
    wait_async(|| async { jp_holds(&c, &id).await.then_some(()) }).await;
}
