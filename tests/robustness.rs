//! Hostile and broken conditions across real processes: malformed wire
//! messages, forged and replayed messages, secrets in trace logs, a killed
//! node, and the CLI's errors.

use crate::common;

use std::time::Duration;

use crate::common::*;
use tisa_core::sign::{DecisionDoc, Verdict};
use tisa_core::Party::{self, Jp, Kr, Us};
use tisa_core::{
    Basis, Category, Classification, Content, Delivery, Envelope, Identity, MessageId, PartySet, Payload, Released,
    Report, ReportHeader, ReportId, RequestId, Sensitive, Signed, PROTOCOL_VERSION,
};
use tisa_node::clock::now;
use tisa_transport::convert::{decision_from_signed, manifest_digest};
use tisa_transport::{decode_envelope, encode_envelope};

fn envelope(sender: Party, message_id: &str, payload: Payload, agreement: tisa_core::AgreementTag) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new(message_id).unwrap(),
        sender,
        sent_at: now(),
        agreement,
        payload,
    }
}

fn report(id: &str, originator: Party, rel_to: &str, text: &str) -> Report {
    Report {
        header: ReportHeader {
            id: ReportId::new(id).unwrap(),
            revision: 1,
            originator,
            created_at: now(),
            category: Category::NkMissile,
            classification: Classification::Secret,
            releasable_to: rel_to.parse::<PartySet>().unwrap(),
        },
        content: Content {
            title: Sensitive::new(format!("{text} title")),
            body: Sensitive::new(format!("{text} body")),
            tearline: None,
            source: Sensitive::default(),
        },
        // Well-formed on the wire; never verified, since these never decode.
        manifest: Signed {
            bytes: b"tisa.v1.manifest\n".to_vec(),
            signer: "kr-node".into(),
            signature: [0; 64],
            batch: None,
        },
    }
}

/// An approval of `request` (report `report`, revision 1, for JP), signed by
/// `identity` (whatever name it claims).
fn approval(identity: &Identity, report: &Report, request: &str) -> tisa_core::ReleaseDecision {
    let doc = DecisionDoc {
        manifest_sha256: manifest_digest(&report.manifest),
        request_id: RequestId::new(request).unwrap(),
        report_id: report.header.id.clone(),
        revision: report.header.revision,
        recipient: Jp,
        verdict: Verdict::ApproveFull,
        reason: String::new(),
        decided_at: now(),
        operator: identity.name().to_owned(),
    };
    decision_from_signed(identity.sign(doc.to_bytes())).expect("a well-formed decision")
}

fn approver(c: &TestCluster, party: Party) -> Identity {
    tisa_deploy::keys::load(&c.approver_key(party, false)).expect("approver key").identity
}

/// Garbage, a truncated valid envelope and a valid envelope on the wrong
/// kind's subject, on `tisa.kr.up.report` (read by the US hub) and
/// `tisa.jp.down.delivery` (read by JP): the nodes keep running, count each as
/// malformed, log the subject (never the payload), and still relay.
#[test]
fn malformed_wire_messages_are_counted_logged_and_survived() {
    let mut c = TestCluster::start();
    let raw = RawNats::connect(c.url());
    let us0 = counter(&c, Us, "malformed");
    let jp0 = counter(&c, Jp, "malformed");
    let us_rejected0 = counter(&c, Us, "rejected");

    let marker = canary("malformed_payload");
    let mut garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    garbage.extend_from_slice(marker.as_bytes());

    let up = "tisa.kr.up.report";
    let down = "tisa.jp.down.delivery";
    // A valid KR report envelope, and a valid US delivery envelope to JP.
    let rep = report("KR-malformed-0001", Kr, "USA,JPN", &marker);
    let rep_env = encode_envelope(&envelope(Kr, "KR.raw.1", Payload::Report(rep.clone()), Default::default()));
    let del = Delivery {
        header: ReportHeader { originator: Us, id: ReportId::new("US-malformed-0001").unwrap(), ..rep.header.clone() },
        released: Released::Full(rep.content.clone()),
        basis: Basis::Bilateral,
        request_id: None,
        manifest: rep.manifest.clone(),
        consent: None,
    };
    let del_env = encode_envelope(&envelope(Us, "US.raw.1", Payload::Delivery(del), Default::default()));
    assert!(decode_envelope(up, &rep_env).is_ok() && decode_envelope(down, &del_env).is_ok());

    let sends: [(&str, Vec<u8>); 6] = [
        (up, garbage.clone()),
        (up, rep_env[..rep_env.len() / 2].to_vec()),
        (up, del_env.clone()), // a delivery on a report subject
        (down, garbage.clone()),
        (down, del_env[..del_env.len() / 2].to_vec()),
        (down, rep_env.clone()), // a report on a delivery subject
    ];
    for (subject, bytes) in &sends {
        assert!(decode_envelope(subject, bytes).is_err(), "test bug: {subject} payload decodes");
        raw.publish(subject, bytes.clone());
    }

    wait_for("US counts 3 malformed messages", || (counter(&c, Us, "malformed") == us0 + 3).then_some(()));
    wait_for("JP counts 3 malformed messages", || (counter(&c, Jp, "malformed") == jp0 + 3).then_some(()));
    for p in Party::ALL {
        assert!(c.node(p).is_running(), "{p} node died");
    }
    assert_eq!(counter(&c, Us, "rejected"), us_rejected0, "malformed is not rejected: nothing was decoded");

    let us_log = c.log(Us);
    let jp_log = c.log(Jp);
    assert!(us_log.lines().any(|l| l.contains(up) && l.contains("malformed")), "US log:\n{us_log}");
    assert!(jp_log.lines().any(|l| l.contains(down) && l.contains("malformed")), "JP log:\n{jp_log}");
    for (p, log) in [(Us, &us_log), (Jp, &jp_log)] {
        assert!(!log.contains(&marker), "{p} logged a payload:\n{log}");
    }

    // Nothing of it reached anyone's inbox, and the relay still works.
    relay_canary(&c, Kr);
    relay_canary(&c, Jp);
    for p in Party::ALL {
        let inbox = cli_json(&c, p, &["inbox", "--limit", "1000"]).to_string();
        assert!(!inbox.contains(&marker) && !inbox.contains("-malformed-"), "{p}: {inbox}");
    }
    assert_eq!(counter(&c, Us, "malformed"), us0 + 3);
    assert_eq!(counter(&c, Jp, "malformed"), jp0 + 3);
}

/// Forgery and replay on the wire, with KR's real bytes captured raw. (a)
/// Decisions for KR's pending request A that KR's approvers never signed:
/// KR's real (other) decision replayed by JP on JP's link; an approval of A
/// signed with JP's approver key but claiming KR's approver, sent as KR on
/// JP's link and, as if by KR's node, on KR's link; and one honestly from
/// JP's approver (JP is not the originator). The US rejects every one and A
/// never reaches JP. (b) KR's report bytes replayed twice open no second
/// request.
#[test]
fn forged_and_replayed_messages_are_rejected() {
    let c = TestCluster::start();
    let raw = RawNats::connect(c.url());
    let kr_decisions = raw.capture("tisa.kr.up.decision");
    let kr_reports = raw.capture("tisa.kr.up.report");

    let a = draft("missile", "secret", "USA,JPN", "forge_a");
    let a_id = submit(&c, Kr, &a);
    let a_rid = wait_request_id(&c, Kr, &a_id, 1);
    let b = draft("missile", "secret", "USA,JPN", "forge_b");
    let b_id = submit(&c, Kr, &b);
    let b_rid = wait_request_id(&c, Kr, &b_id, 1);
    deny(&c, Kr, &b_rid, "not this one");

    let real = wait_for("KR's decision is captured", || kr_decisions.payloads().first().cloned());
    let real_env = decode_envelope("tisa.kr.up.decision", &real).expect("KR's real decision decodes");
    assert_eq!(real_env.sender, Kr);
    let Payload::ReleaseDecision(real_decision) = &real_env.payload else { panic!("{real_env:?}") };
    assert_eq!(real_decision.request_id.as_str(), b_rid);
    let (a_bytes, a_report) = wait_for("KR's report A is captured", || {
        kr_reports.payloads().into_iter().find_map(|p| match decode_envelope("tisa.kr.up.report", &p) {
            Ok(Envelope { payload: Payload::Report(r), .. }) if r.header.id.as_str() == a_id => Some((p, r)),
            _ => None,
        })
    });

    // (a) Decisions KR's approvers never signed.
    let jp_key = approver(&c, Jp);
    let posing = Identity::from_seed(approver(&c, Kr).name(), jp_key.seed()); // JP's key, KR's approver's name
    let tag = common::agreement_tag(&c);
    let as_kr = envelope(Kr, "KR.forged.1", Payload::ReleaseDecision(approval(&posing, &a_report, &a_rid)), tag);
    let as_kr_on_kr_link =
        envelope(Kr, "KR.forged.2", Payload::ReleaseDecision(approval(&posing, &a_report, &a_rid)), tag);
    let as_jp = envelope(Jp, "JP.forged.3", Payload::ReleaseDecision(approval(&jp_key, &a_report, &a_rid)), tag);
    let rejected0 = counter(&c, Us, "rejected");
    raw.publish("tisa.jp.up.decision", real.clone()); // KR's real bytes, replayed by JP
    raw.publish("tisa.jp.up.decision", encode_envelope(&as_kr)); // JP posing as KR
    raw.publish("tisa.jp.up.decision", encode_envelope(&as_jp)); // JP is not the originator
    raw.publish("tisa.kr.up.decision", encode_envelope(&as_kr_on_kr_link)); // KR's link, not KR's signature
    wait_for("the US rejects all four", || (counter(&c, Us, "rejected") >= rejected0 + 4).then_some(()));
    assert_eq!(counter(&c, Us, "rejected"), rejected0 + 4);
    let us_log = c.log(Us);
    for code in ["FORGED_SENDER", "NOT_ORIGINATOR", "UNVERIFIED"] {
        assert!(us_log.contains(code), "US log lacks {code}:\n{us_log}");
    }

    us_canary(&c, Jp);
    assert_never_received(&c, Jp, &a_id, &[&a.body, &a.title]);
    assert_never_received(&c, Jp, &b_id, &[&b.body, &b.title]);
    assert_eq!(matching(&pending(&c, Kr), &a_id, 1).len(), 1, "A still awaits KR's own decision");
    let s = status(&c, Kr, &a_id);
    assert_eq!(recipient_state(&s[0], "JPN").as_deref(), Some("RELEASE_REQUESTED"), "{s:?}");

    // (b) KR's report bytes replayed twice on KR's link.
    let received0 = counter(&c, Us, "received");
    raw.publish("tisa.kr.up.report", a_bytes.clone());
    raw.publish("tisa.kr.up.report", a_bytes);
    wait_for("the US has read both replays", || (counter(&c, Us, "received") >= received0 + 2).then_some(()));
    // A later report's request reaches KR after anything the replays caused.
    let later = submit(&c, Kr, &draft("missile", "secret", "USA,JPN", "forge_later"));
    wait_request_id(&c, Kr, &later, 1);
    let p = pending(&c, Kr);
    assert_eq!(matching(&p, &a_id, 1).len(), 1, "exactly one request for A: {p:?}");
    assert_eq!(p.len(), 2, "A and the later report only: {p:?}");
    assert_eq!(matching(&inbox(&c, Us), &a_id, 1).len(), 1, "the US holds A once");
    assert_eq!(counter(&c, Kr, "rejected"), 0, "KR saw nothing it had to refuse");

    // The genuine decision still works.
    approve(&c, Kr, &a_rid);
    let got = wait_inbox(&c, Jp, &a_id, 1);
    assert_eq!(got["body"], a.body.as_str(), "{got}");
}

/// With every node at RUST_LOG=trace and a full flow carrying title, body,
/// tearline and source, no node log contains any of them.
#[test]
fn report_content_is_never_logged_even_at_trace() {
    let c = TestCluster::builder().env("RUST_LOG", "trace").start();

    let mut full = draft("missile", "secret", "USA,JPN", "log_full");
    full.tearline = Some(canary("log_full_tearline"));
    full.source = Some(canary("log_full_source"));
    let mut tear = draft("nuclear", "secret", "USA,KOR", "log_tear");
    tear.tearline = Some(canary("log_tear_tearline"));
    tear.source = Some(canary("log_tear_source"));
    let mut own = draft("nuclear", "secret", "KOR,JPN", "log_us");
    own.tearline = Some(canary("log_us_tearline"));
    own.source = Some(canary("log_us_source"));

    let full_id = submit(&c, Kr, &full);
    let rid = wait_request_id(&c, Kr, &full_id, 1);
    approve(&c, Kr, &rid);
    let tear_id = submit(&c, Jp, &tear);
    let rid = wait_request_id(&c, Jp, &tear_id, 1);
    let v = cli_json(&c, Jp, &["approve", &rid, "--tearline-only"]);
    assert_eq!(v["decision"], "approved (tearline only)");
    let own_id = submit(&c, Us, &own);

    assert_eq!(wait_inbox(&c, Jp, &full_id, 1)["source"], full.source.as_deref().unwrap());
    assert_eq!(wait_inbox(&c, Kr, &tear_id, 1)["tearline"], tear.tearline.as_deref().unwrap());
    wait_inbox(&c, Kr, &own_id, 1);
    wait_inbox(&c, Jp, &own_id, 1);
    wait_recipient_state(&c, Kr, &full_id, 1, "JPN", "DELIVERED");
    wait_recipient_state(&c, Jp, &tear_id, 1, "KOR", "DELIVERED");

    let secrets: Vec<&str> = [&full, &tear, &own]
        .iter()
        .flat_map(|d| [&d.title, &d.body, d.tearline.as_ref().unwrap(), d.source.as_ref().unwrap()])
        .map(String::as_str)
        .collect();
    for p in Party::ALL {
        let log = c.log(p);
        assert!(log.contains("TRACE") || log.contains("DEBUG"), "{p} is not logging at trace:\n{log}");
        for s in &secrets {
            if let Some(line) = log.lines().find(|l| l.contains(s)) {
                panic!("{p}'s log contains report content {s:?}:\n{line}");
            }
        }
    }
}

/// JP's process is SIGKILLed: KR and US keep working, and asking JP's node
/// fails with a one-line error saying no node answers. A SIGTERMed node exits 0.
#[test]
fn killed_node_leaves_the_others_working_and_sigterm_is_clean() {
    let mut c = TestCluster::start();
    c.node(Jp).kill();
    assert!(!c.node(Jp).is_running());

    // Once the broker has noticed the dead connection, nobody answers for JP.
    let out = wait_for("asking JP's node fails with no responders", || {
        let out = cli(&c, Jp, &["health", "--timeout", "3s"]);
        String::from_utf8_lossy(&out.stderr).contains("no tisa node").then_some(out)
    });
    let err = one_line_error(&out, "health of the killed JP node");
    assert!(err.contains("no tisa node for JPN is answering"), "{err}");

    let d = draft("other", "confidential", "USA", "after_kill");
    let id = submit(&c, Kr, &d);
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
    wait_hub_state(&c, Kr, &id, 1, "ACCEPTED");
    for p in [Kr, Us] {
        let h = health(&c, p);
        assert_eq!(h["connected"], true, "{h}");
    }
    // The trilateral path to the dead node does not wedge KR or the hub.
    let t = submit(&c, Kr, &draft("missile", "secret", "USA,JPN", "to_dead_jp"));
    let rid = wait_request_id(&c, Kr, &t, 1);
    approve(&c, Kr, &rid);
    wait_recipient_state(&c, Kr, &t, 1, "JPN", "DELIVERED");
    health(&c, Us);

    for p in [Kr, Us] {
        let status = c.node(p).terminate(Duration::from_secs(10)).expect("exits after SIGTERM");
        assert!(status.success(), "{p} node exited with {status} after SIGTERM");
        let log = c.log(p);
        assert!(log.contains("node stopped"), "{p} log:\n{log}");
    }
    let out = cli(&c, Kr, &["health", "--timeout", "3s"]);
    assert!(one_line_error(&out, "health of the stopped KR node").contains("no tisa node for KOR"));
}

/// Operator mistakes and missing infrastructure: non-zero exit, one-line reason.
#[test]
fn cli_errors_exit_non_zero_with_one_line_reason() {
    // Argument errors (reported by the parser, before any connection).
    let err = usage_error(&tisa(&["health", "--party", "xx", "--nats", "nats://127.0.0.1:1"]), "unknown party");
    let first = err.lines().next().unwrap();
    assert!(first.contains("unknown party") && first.contains("xx"), "{err}");

    let base = ["submit", "--party", "kr", "--nats", "nats://127.0.0.1:1", "--category", "missile"];
    let mut missing_title = base.to_vec();
    missing_title.extend(["--classification", "secret", "--rel-to", "USA", "--body", "b"]);
    let err = usage_error(&tisa(&missing_title), "missing --title");
    assert!(err.contains("--title"), "{err}");

    let mut bad_class = base.to_vec();
    bad_class.extend(["--classification", "ultra", "--rel-to", "USA", "--title", "t", "--body", "b"]);
    let err = usage_error(&tisa(&bad_class), "bad classification");
    let first = err.lines().next().unwrap();
    assert!(first.contains("classification") && first.contains("ultra"), "{err}");

    let err = one_line_error(
        &tisa(&["approve", "KR-x.r1.JP", "--party", "kr", "--nats", "nats://127.0.0.1:1"]),
        "approve without an approver key",
    );
    assert!(err.contains("--key"), "{err}");

    // NATS up, no node.
    let nats = tisa_kit::natsd::NatsServer::start_for_tests();
    let out = tisa(&["health", "--party", "kr", "--nats", nats.url()]);
    let err = one_line_error(&out, "health without a node");
    assert!(err.contains("no tisa node for KOR is answering"), "{err}");
    assert!(err.contains("tisa node --party kr"), "the hint names the command: {err}");
    // Reading content needs a key: refused before anything is sent.
    let out = tisa(&["pending", "--party", "jp", "--nats", nats.url()]);
    let err = one_line_error(&out, "pending without a key");
    assert!(err.contains("--key") && err.contains("reader|approver|submitter"), "{err}");
    let dir = crate::common::Scratch::new("nonode");
    let (key, _) =
        tisa_deploy::keys::generate_operator(Party::Jp, "jp-reader", &[tisa_core::KeyRole::Reader], &dir, None)
            .unwrap();
    let out = tisa(&["pending", "--party", "jp", "--nats", nats.url(), "--key", key.to_str().unwrap()]);
    assert!(one_line_error(&out, "pending without a node").contains("no tisa node for JPN"));

    // NATS unreachable: a port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = tisa(&["health", "--party", "us", "--nats", &url]);
    let err = one_line_error(&out, "health with NATS unreachable");
    assert!(err.contains("cannot connect to NATS") && err.contains(&url), "{err}");
}
