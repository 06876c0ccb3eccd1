//! #14 (ident): every state-changing request to a node is signed by a key
//! its party registered, across processes, on the generated (secured)
//! deployment, each attack with its control.

use crate::common::cluster::Broker;
use crate::common::ctl::*;
use tisa_core::{Party, ReportId};
use tisa_transport::{sign_action, ControlReply, ControlRequest, Retract};

fn retract(id: &str) -> ControlRequest {
    ControlRequest::Retract(Retract {
        report_id: ReportId::new(id).unwrap(),
        reason: "wrong".into(),
        operator: "kim".into(),
    })
}

fn code(r: &ControlReply) -> Option<&str> {
    match r {
        ControlReply::Error { code, .. } => Some(code.as_str()),
        _ => None,
    }
}

/// An unsigned retract sent as a raw request with KR's CLI credentials is
/// refused and nothing is retracted; the same request signed by KR's
/// analyst is accepted (control). A replayed signed request is refused;
/// an identical re-send gets its original outcome; a fresh one is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_replayed_and_foreign_requests_are_refused_shared() {
    unsigned_replayed_and_foreign_requests_are_refused(Broker::Shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_replayed_and_foreign_requests_are_refused_per_nation() {
    unsigned_replayed_and_foreign_requests_are_refused(Broker::PerNation).await;
}

async fn unsigned_replayed_and_foreign_requests_are_refused(broker: Broker) {
    let c =
        tokio::task::spawn_blocking(move || TestCluster::builder().without_tap().broker(broker).start()).await.unwrap();
    let id = legit_release(&c, Party::Kr, Party::Jp).await;
    let kr = client(&c, Party::Kr).await;

    // Unsigned, on the wire as the CLI's credentials allow.
    let r = kr.call_raw(&retract(&id), None).await.unwrap();
    assert_eq!(code(&r), Some("UNAUTHORIZED"), "{r:?}");
    let ControlReply::Error { message, .. } = &r else { unreachable!() };
    assert!(message.contains("not signed") && message.contains("--key"), "one clear line: {message}");

    // Another party's approver key (JP's) at KR's node.
    let jp_key = tisa_deploy::keys::load(&c.approver_key(Party::Jp, false)).unwrap().identity;
    let foreign = sign_action(Party::Kr, &retract(&id), &jp_key);
    let r = kr.call_raw(&retract(&id), Some(&foreign)).await.unwrap();
    assert_eq!(code(&r), Some("UNAUTHORIZED"), "{r:?}");
    let ControlReply::Error { message, .. } = &r else { unreachable!() };
    assert!(message.contains("belongs to JPN"), "{message}");

    // A made-up key file named after KR's analyst.
    let fake = tisa_core::Identity::from_seed("kr-analyst", [42; 32]);
    let r = kr.call_raw(&retract(&id), Some(&sign_action(Party::Kr, &retract(&id), &fake))).await.unwrap();
    assert_eq!(code(&r), Some("UNAUTHORIZED"), "{r:?}");

    // Reading a report's status (it shows the title) unsigned: refused;
    // control: the analyst's signed read below (`kr.call`) is answered.
    let status = ControlRequest::Status(tisa_transport::ListQuery {
        report_id: Some(ReportId::new(&id).unwrap()),
        ..Default::default()
    });
    let r = kr.call_raw(&status, None).await.unwrap();
    assert_eq!(code(&r), Some("UNAUTHORIZED"), "an unsigned status read: {r:?}");

    // Nothing was retracted so far.
    let ControlReply::Status(p) = kr
        .call(&ControlRequest::Status(tisa_transport::ListQuery {
            report_id: Some(ReportId::new(&id).unwrap()),
            ..Default::default()
        }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(p.items.iter().all(|s| s.retracted_at.is_none()), "refused requests changed nothing");

    // Control: the same request signed by KR's analyst is accepted.
    let analyst = tisa_deploy::keys::load(&c.operator_key(Party::Kr, "analyst")).unwrap().identity;
    let signed = sign_action(Party::Kr, &retract(&id), &analyst);
    let first = kr.call_raw(&retract(&id), Some(&signed)).await.unwrap();
    assert!(matches!(first, ControlReply::Status(_)), "{first:?}");
    // An identical re-send (a CLI retrying after a timeout): the original outcome.
    let again = kr.call_raw(&retract(&id), Some(&signed)).await.unwrap();
    assert_eq!(again, first, "an identical re-send gets its original reply");
    // The same action over another request: a replay, refused.
    let other = retract("KR-other");
    let replay = kr.call_raw(&other, Some(&signed)).await.unwrap();
    assert_eq!(code(&replay), Some("UNAUTHORIZED"), "{replay:?}");
    // A fresh, signed request is taken (and refused on its merits only).
    let fresh = kr.call_raw(&retract(&id), Some(&sign_action(Party::Kr, &retract(&id), &analyst))).await.unwrap();
    assert_eq!(
        code(&fresh),
        Some("INVALID"),
        "a second retraction is refused by the rules, not the signature: {fresh:?}"
    );

    // Every refusal is audited by key id.
    let entries = audit_entries(&data_dir(&c, Party::Kr));
    let refused: Vec<_> = entries.iter().filter(|e| e["kind"] == "UNAUTHORIZED").collect();
    assert!(refused.iter().any(|e| e["key_id"] == jp_key.key_id().to_string()), "{refused:#?}");
    assert!(refused.iter().any(|e| e["key_id"] == fake.key_id().to_string()), "{refused:#?}");
    assert!(refused.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("code=UNSIGNED")), "{refused:#?}");
}
