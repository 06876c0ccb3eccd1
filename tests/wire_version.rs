//! Across processes, on the generated deployment: a peer message of another
//! major protocol version is dead-lettered (`VERSION_MISMATCH`), audited and
//! named in one error line (peer, both versions, what to do), while the same
//! message with this major is taken (the control). And a peer's text cannot
//! forge a line of the node's log: a rejection detail with a newline and
//! ANSI escapes is logged escaped, on one line (the control, that the raw
//! text would forge a line through the same log format, is
//! `tisa-cli`'s `logging::tests::a_peer_detail_cannot_forge_a_log_line`).

use crate::common::ctl::*;
use crate::common::{canary, cli_json};
use prost::Message as _;
use serde_json::Value;
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::{encode_envelope, proto};

fn dead_letters(c: &Cluster, p: Party) -> Vec<Value> {
    cli_json(c, p, &["deadletter", "list", "--limit", "1000"])["items"].as_array().cloned().unwrap_or_default()
}

/// A well-formed rejection from the hub to KR (refusals need no signature).
fn rejection(message_id: &str, detail: &str) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new(message_id).unwrap(),
        sender: Party::Us,
        sent_at: Timestamp(1),
        agreement: tisa_core::AgreementTag::default(),
        payload: Payload::Rejection(Rejection {
            refers_to: MessageId::new(format!("KR.x.{message_id}")).unwrap(),
            code: "CONFLICT".into(),
            detail: detail.to_owned(),
            report_id: None,
            request_id: None,
        }),
    }
}

/// The encoded envelope with its protocol version set to `major.minor`.
fn with_version(env: &Envelope, major: u32, minor: u32) -> Vec<u8> {
    let mut p = proto::Envelope::decode(encode_envelope(env).as_slice()).unwrap();
    p.version = major;
    p.version_minor = minor;
    p.encode_to_vec()
}

/// Whether KR's audit log has taken the rejection `message_id` refers to.
fn audited_rejection(c: &Cluster, refers_to: &str) -> bool {
    audit_entries(&data_dir(c, Party::Kr))
        .iter()
        .any(|e| e["kind"] == "REJECTION_RECEIVED" && e["detail"].as_str().unwrap_or("").contains(refers_to))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_message_of_another_major_version_is_dead_lettered_with_one_clear_line() {
    let c = start(true).await;
    let (hub, _) = link_attacker(&c, Party::Us, Party::Kr).await;
    let n = canary("v").replace('_', "-");
    let newer = rejection(&format!("US.vnext.{n}"), "newer");
    let same = rejection(&format!("US.vsame.{n}"), "same");
    // A validly formed message from the hub's own credentials on its own
    // subject, but of the next major version; then (the control) the same
    // message with this major, a later minor, on the same ordered subject.
    let next = PROTOCOL_VERSION + 1;
    hub.publish("tisa.kr.down.rejection", with_version(&newer, next, 4).into()).await.unwrap();
    hub.publish("tisa.kr.down.rejection", with_version(&same, PROTOCOL_VERSION, 9).into()).await.unwrap();
    hub.flush().await.unwrap();

    // Control: this major is taken (audited as a received rejection).
    let same_ref = format!("KR.x.US.vsame.{n}");
    wait_async(|| async { audited_rejection(&c, &same_ref).then_some(()) }).await;
    // The other major, earlier on the same subject, was dead-lettered, not taken.
    let d = tokio::task::block_in_place(|| dead_letters(&c, Party::Kr));
    let ours: Vec<_> = d.iter().filter(|d| d["reason"] == "VERSION_MISMATCH").collect();
    assert_eq!(ours.len(), 1, "{d:?}");
    let d = ours[0];
    assert_eq!(d["class"], "MALFORMED", "{d}");
    assert_eq!(d["subject"], "tisa.kr.down.rejection", "{d}");
    assert_eq!(d["link"], "USA", "{d}");
    assert_eq!(d["message_id"].as_str(), Some(newer.message_id.as_str()), "{d}");
    let detail = d["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{next}.4")) && detail.contains(&format!("{PROTOCOL_VERSION}.0")), "{d}");
    assert!(!audited_rejection(&c, &format!("KR.x.US.vnext.{n}")), "the other major's message was not taken");
    assert_eq!(tokio::task::block_in_place(|| dead_letters(&c, Party::Kr)).len(), 1, "only the other major");
    // Audited.
    let audit = audit_entries(&data_dir(&c, Party::Kr));
    assert!(
        audit.iter().any(|e| e["kind"] == "MALFORMED"
            && e["detail"].as_str().unwrap().contains("reason=VERSION_MISMATCH")
            && e["detail"].as_str().unwrap().contains(newer.message_id.as_str())),
        "{audit:?}"
    );
    // One error line naming the peer, both versions and what to do.
    let log = c.log(Party::Kr);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") && l.contains("VERSION_MISMATCH")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    let l = lines[0];
    for part in ["USA", &format!("{next}.4"), &format!("{PROTOCOL_VERSION}.0"), "same major version"] {
        assert!(l.contains(part), "{part:?} missing from: {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_rejection_detail_cannot_forge_a_log_line() {
    let c = start(true).await;
    let (hub, _) = link_attacker(&c, Party::Us, Party::Kr).await;
    let n = canary("f").replace('_', "-");
    let forged = format!("2026-01-01T00:00:00.000000Z  INFO tisa_node::egress: FORGED-{n} event=RELEASED");
    let detail = format!("refused\n{forged}\r\n\x1b[2K\x1b[1A\x1b[31m\u{202e}hidden");
    let env = rejection(&format!("US.forge.{n}"), &detail);
    hub.publish("tisa.kr.down.rejection", encode_envelope(&env).into()).await.unwrap();
    hub.flush().await.unwrap();
    let refers = format!("KR.x.US.forge.{n}");
    wait_async(|| async { audited_rejection(&c, &refers).then_some(()) }).await;
    // The event's log line is written as the event is published, after the audit entry.
    let log = wait_async(|| async {
        let log = c.log(Party::Kr);
        log.contains(&format!("FORGED-{n}")).then_some(log)
    })
    .await;
    assert!(!log.lines().any(|l| l.starts_with(&forged)), "a forged line in KR's log:\n{log}");
    let line: Vec<&str> = log.lines().filter(|l| l.contains(&format!("FORGED-{n}"))).collect();
    assert_eq!(line.len(), 1, "{log}");
    assert!(line[0].contains("REJECTION_RECEIVED") && line[0].contains("refused\\n2026-01-01"), "{}", line[0]);
    assert!(!log.contains('\x1b') && !log.contains('\r') && !log.contains('\u{202e}'), "{log:?}");
}
