//! Bad input and limits across real processes: malformed and unverifiable
//! messages end up in the receiving node's dead-letter stream (reason and
//! ids, never their bytes) and its audit log while the flow goes on; a full
//! receiving stream keeps the sender's messages and says so in `tisa health`
//! until space frees up; oversize submissions are refused at the CLI.

use crate::common;

use std::time::Duration;

use crate::common::ctl::*;
use crate::common::{canary, cli, cli_json, describe, one_line_error, tisa, wait_for, Broker};
use serde_json::Value;
use tisa_core::*;
use tisa_kit::cluster::Cluster;
use tisa_transport::subjects;
use tisa_transport::{decode_envelope, encode_envelope};

fn dead_letters(c: &Cluster, p: Party) -> Vec<Value> {
    cli_json(c, p, &["deadletter", "list", "--limit", "1000"])["items"].as_array().cloned().unwrap_or_default()
}

/// Who legitimately publishes on `subject` (a nation's `up`, the hub's `down`).
fn publisher(subject: &str) -> Party {
    let mut t = subject.split('.');
    let (nation, dir) = (t.nth(1).unwrap(), t.next().unwrap());
    match dir {
        "up" => nation.parse().unwrap(),
        _ => Party::Us,
    }
}

fn report(id: &str, originator: Party, text: &str, signer: &str) -> Report {
    Report {
        header: ReportHeader {
            id: ReportId::new(id).unwrap(),
            revision: 1,
            originator,
            created_at: Timestamp(1),
            category: Category::NkMissile,
            classification: Classification::Secret,
            releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
        },
        content: Content {
            title: Sensitive::new(format!("{text} title")),
            body: Sensitive::new(format!("{text} body")),
            tearline: None,
            source: Sensitive::default(),
        },
        // A registered signer, but not its signature.
        manifest: Signed {
            bytes: b"tisa.v1.manifest\n".to_vec(),
            signer: signer.to_owned(),
            signature: [7; 64],
            batch: None,
        },
    }
}

fn envelope(sender: Party, message_id: &str, payload: Payload) -> Vec<u8> {
    encode_envelope(&Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new(message_id).unwrap(),
        sender,
        sent_at: Timestamp(1),
        agreement: tisa_core::AgreementTag::default(),
        payload,
    })
}

/// Garbage bytes and a real envelope cut short, on every inbound link
/// subject of every node, each published with the credentials of that
/// subject's legitimate publisher (the only ones the broker lets publish
/// there): every one is dead-lettered by its reader with a reason and
/// without its bytes (a canary inside never shows in the list, the logs or
/// the audit log), the audit log records it, and reports still flow. A
/// decodable report with a bad manifest signature is dead-lettered as
/// UNVERIFIABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_protobuf_on_every_subject_are_dead_lettered() {
    let c = start(true).await;
    let marker = canary("dead_letter_payload");
    let mut garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    garbage.extend_from_slice(marker.as_bytes());

    let mut expected: Vec<(Party, String, Vec<u8>, Option<String>)> = Vec::new();
    let mut n = 0;
    for reader in Party::ALL {
        for (_, subject) in subjects::inbound_subjects(reader) {
            n += 1;
            let from = publisher(&subject);
            let id = format!("{}.dlq.{n}", from.code());
            let rep = report(&format!("{}-dlq-{n}", from.code()), from, &marker, "nobody");
            let full = envelope(from, &id, Payload::Report(rep));
            let cut = full[..full.len() - 3].to_vec();
            assert!(decode_envelope(&subject, &cut).is_err(), "test bug: the cut envelope decodes");
            assert!(common::contains(&cut, &marker), "test bug: the cut envelope lost the canary");
            expected.push((reader, subject.clone(), garbage.clone(), None));
            expected.push((reader, subject, cut, Some(id)));
        }
    }
    let kinds = tisa_transport::subjects::UP_KINDS.len();
    assert_eq!(kinds, tisa_transport::subjects::DOWN_KINDS.len());
    // Each kind's subject, and one track's own (into the track stream).
    assert_eq!(expected.len(), 2 * (2 * (kinds + 1) + 2 * (kinds + 1)), "every inbound subject of every node");
    assert!(expected.iter().any(|(_, s, _, _)| s.ends_with(".track.T-1")), "the track streams' too");
    assert!(expected.iter().any(|(_, s, _, _)| s.ends_with(".batch")), "batches are dead-lettered too");
    let mut conns = std::collections::HashMap::new();
    for (_, subject, bytes, _) in &expected {
        // The publisher's link user for this subject's link.
        let from = publisher(subject);
        let nation: Party = subject.split('.').nth(1).unwrap().parse().unwrap();
        if let std::collections::hash_map::Entry::Vacant(e) = conns.entry((from, nation)) {
            e.insert(link_attacker(&c, from, nation).await);
        }
        let (raw, _) = &conns[&(from, nation)];
        raw.publish(subject.clone(), bytes.clone().into()).await.unwrap();
    }
    for (raw, _) in conns.values() {
        raw.flush().await.unwrap();
    }

    for p in Party::ALL {
        let want: Vec<_> = expected.iter().filter(|(r, ..)| *r == p).collect();
        let got = wait_async(|| async {
            let d = tokio::task::block_in_place(|| dead_letters(&c, p));
            (d.len() >= want.len()).then_some(d)
        })
        .await;
        assert_eq!(got.len(), want.len(), "{p}: one dead letter per bad message: {got:?}");
        for (_, subject, bytes, id) in &want {
            let link = if p.is_hub() { publisher(subject) } else { Party::Us };
            let d = got
                .iter()
                .find(|d| d["subject"] == subject.as_str() && d["size"] == bytes.len() as u64)
                .unwrap_or_else(|| panic!("{p}: no dead letter for {} bytes on {subject}: {got:?}", bytes.len()));
            assert_eq!(d["class"], "MALFORMED", "{d}");
            assert_eq!(d["reason"], "PROTOBUF", "{d}");
            assert!(!d["detail"].as_str().unwrap().is_empty(), "{d}");
            assert_eq!(d["link"], link.trigraph(), "{d}");
            assert!(d["stream_seq"].as_u64().unwrap() > 0, "{d}");
            assert!(d["seq"].as_u64().unwrap() > 0, "{d}");
            assert_eq!(d["message_id"].as_str(), id.as_deref(), "the envelope's id, read before the damage: {d}");
        }
        let text = cli(&c, p, &["deadletter", "list", "--limit", "1000"]);
        assert!(text.status.success(), "{}", describe(&text));
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(text.contains("PROTOBUF") && text.contains("MALFORMED"), "{text}");
        for out in [serde_json::to_string(&got).unwrap(), text] {
            assert!(!out.contains(&marker) && !out.contains("CANARY"), "{p}'s dead letters show payload bytes: {out}");
        }
        // The audit log records each one (subject, reason, its dead-letter seq).
        let audit = audit_entries(&data_dir(&c, p));
        for (_, subject, ..) in &want {
            let k = audit
                .iter()
                .filter(|e| e["kind"] == "MALFORMED")
                .filter(|e| e["detail"].as_str().unwrap().contains(&format!("subject={subject} ")))
                .count();
            assert_eq!(k, 2, "{p}'s audit log records both bad messages on {subject}");
        }
        let h = tokio::task::block_in_place(|| cli_json(&c, p, &["health"]));
        assert_eq!(h["malformed"], want.len() as u64, "{h}");
        assert_eq!(h["dead_letters"], want.len() as u64, "{h}");
        assert_eq!(h["dead_letter_errors"], 0, "{h}");
    }

    // A decodable KR report whose manifest signature does not verify.
    let kr_node = tisa_deploy::keys::load(&c.node_key(Party::Kr)).unwrap().identity.name().to_owned();
    let bad = envelope(
        Party::Kr,
        "KR.dlq.unverified",
        Payload::Report(report("KR-dlq-unverified", Party::Kr, &marker, &kr_node)),
    );
    assert!(decode_envelope("tisa.kr.up.report", &bad).is_ok());
    let (raw, _) = &conns[&(Party::Kr, Party::Kr)];
    raw.publish("tisa.kr.up.report", bad.into()).await.unwrap();
    raw.flush().await.unwrap();
    let d = wait_async(|| async {
        let d = tokio::task::block_in_place(|| dead_letters(&c, Party::Us));
        d.into_iter().find(|d| d["class"] == "UNVERIFIABLE")
    })
    .await;
    assert_eq!(d["reason"], "UNVERIFIED", "{d}");
    assert_eq!(d["message_id"], "KR.dlq.unverified", "{d}");
    assert_eq!(d["subject"], "tisa.kr.up.report", "{d}");
    assert!(d["detail"].as_str().unwrap().contains("bad signature"), "{d}");
    let usd = data_dir(&c, Party::Us);
    wait_async(|| async { audit_entries(&usd).iter().any(|e| e["kind"] == "UNVERIFIABLE").then_some(()) }).await;

    // The flow continues, both ways.
    legit_release(&c, Party::Kr, Party::Jp).await;
    legit_release(&c, Party::Jp, Party::Kr).await;

    // Two decodable KR track updates whose signatures do not verify: the
    // hub's track lane drops them, and their stream copies, kept in a
    // track window like every track copy, are not taken into the window
    // (the lane did not pass them) but committed alone: each refused and
    // dead-lettered like any unverifiable message (a window would have
    // applied only the latest).
    let tag = tisa_deploy::agreement::load_file(&c.agreement()).unwrap().policy.tag();
    for seq in [1, 2] {
        let doc = TrackDoc {
            track_id: TrackId::new("KR-T-DLQ").unwrap(),
            seq,
            originator: Party::Kr,
            classification: Classification::Secret,
            releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
            launch: GeoPoint { lat_e6: 39_000_000, lon_e6: 125_000_000 },
            launched_at: Timestamp(1),
            position: GeoPoint { lat_e6: 40_000_000, lon_e6: 128_000_000 },
            altitude_m: 100_000,
            observed_at: Timestamp(2),
            impact: None,
            issued_at: Timestamp(3),
        };
        let signed = Signed { bytes: doc.to_bytes(), signer: kr_node.clone(), signature: [7; 64], batch: None };
        // Under the agreement in force, so that the lane judges it.
        let bad = encode_envelope(&Envelope {
            version: PROTOCOL_VERSION,
            message_id: MessageId::new(format!("KR.dlq.track{seq}")).unwrap(),
            sender: Party::Kr,
            sent_at: Timestamp(1),
            agreement: tag,
            payload: Payload::Track(TrackUpdate { doc, signed, consent: None }),
        });
        raw.publish("tisa.kr.up.track.KR-T-DLQ", bad.into()).await.unwrap();
    }
    raw.flush().await.unwrap();
    for seq in [1, 2] {
        let id = format!("KR.dlq.track{seq}");
        let d = wait_async(|| async {
            let d = tokio::task::block_in_place(|| dead_letters(&c, Party::Us));
            d.into_iter().find(|d| d["message_id"] == id.as_str())
        })
        .await;
        assert_eq!((d["class"].as_str(), d["reason"].as_str()), (Some("UNVERIFIABLE"), Some("UNVERIFIED")), "{d}");
    }
    let h = tokio::task::block_in_place(|| cli_json(&c, Party::Us, &["health"]));
    assert_eq!(h["track_lane"]["dropped"], 2, "the hub's lane dropped them first: {h}");
    assert_eq!(h["track_lane"]["windowed"], 0, "no window took them: {h}");

    for p in Party::ALL {
        let log = c.nodes.iter().find(|n| n.party == p).unwrap().log();
        assert!(log.contains("dead-lettered"), "{p} logs its dead letters");
        assert!(!log.contains(&marker), "{p} logged payload bytes");
        let audit = std::fs::read_to_string(data_dir(&c, p).join("audit.log")).unwrap();
        assert!(!audit.contains(&marker), "{p}'s audit log holds payload bytes");
    }
}

/// JP's account has a tiny JetStream storage limit and JP's node is
/// stopped, so JP's stream fills while KR keeps submitting under a standing
/// grant: the US hub keeps what JP's stream refuses, logs an error naming the
/// stream, and `tisa health` fails saying why. Once JP's node is back and
/// drains its stream, every report arrives exactly once.
#[test]
fn a_full_receiving_stream_keeps_messages_and_says_so() {
    let opts = tisa_deploy::broker::Options {
        limits: tisa_deploy::broker::JsLimits { max_file: "24K".into(), ..Default::default() },
        ..tisa_deploy::broker::Options::shared(tisa_deploy::DEFAULT_NATS_URL)
    };
    let mut c = TestCluster::builder().broker(Broker::Generated(opts)).start();
    let grant = common::cli::grant_in_force(
        &c,
        Party::Kr,
        &["--to", "jp", "--category", "missile", "--max-classification", "secret"],
    );
    let grant_id = grant["items"][0]["grant_id"].as_str().unwrap().to_owned();
    wait_for("the hub holds KR's grant", || {
        cli_json(&c, Party::Us, &["standing", "list"]).to_string().contains(&grant_id).then_some(())
    });
    c.node(Party::Jp).terminate(Duration::from_secs(20)).unwrap();

    let body = "x".repeat(2000);
    let mut ids = Vec::new();
    for i in 0..16 {
        let v = cli_json(
            &c,
            Party::Kr,
            &[
                "submit",
                "--category",
                "missile",
                "--classification",
                "secret",
                "--rel-to",
                "USA,JPN",
                "--title",
                &format!("full stream {i}"),
                "--body",
                &body,
            ],
        );
        ids.push(v["report_id"].as_str().unwrap().to_owned());
    }

    // The hub says so: health fails, names JP's stream and the reason.
    let out = wait_for("the US health reports messages stuck at JP's stream", || {
        let out = cli(&c, Party::Us, &["health", "--json"]);
        let h: Value = serde_json::from_slice(&out.stdout).ok()?;
        (h["send_error"]["stream"] == "TISA_JP_DOWN").then_some((out, h))
    });
    let (out, h) = out;
    assert!(!out.status.success(), "health must fail while messages are stuck: {}", describe(&out));
    assert!(h["outbox"].as_u64().unwrap() > 0, "{h}");
    let reason = h["send_error"]["reason"].as_str().unwrap();
    assert!(reason.contains("full") && reason.contains("kept"), "the reason says what and what to do: {reason}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:") && stderr.contains("TISA_JP_DOWN"), "{stderr}");
    let text = cli(&c, Party::Us, &["health"]);
    assert!(
        !text.status.success() && String::from_utf8_lossy(&text.stderr).contains("not delivered"),
        "{}",
        describe(&text)
    );
    let us_log = c.nodes[1].log();
    assert!(
        us_log.lines().any(|l| l.contains("ERROR") && l.contains("TISA_JP_DOWN") && l.contains("not getting through")),
        "US log:\n{us_log}"
    );

    // JP comes back and drains: everything arrives, once; the hub is healthy again.
    c.node(Party::Jp).restart(Duration::from_secs(30)).unwrap();
    let inbox = wait_for("JP holds all 16 reports", || {
        let v = cli_json(&c, Party::Jp, &["inbox", "--limit", "1000"]);
        let items = v["items"].as_array().cloned().unwrap_or_default();
        ids.iter().all(|id| items.iter().any(|i| i["report_id"] == id.as_str())).then_some(items)
    });
    for id in &ids {
        assert_eq!(inbox.iter().filter(|i| i["report_id"] == id.as_str()).count(), 1, "{id} once in JP's inbox");
    }
    wait_for("the US health is clean again", || {
        let out = cli(&c, Party::Us, &["health", "--json"]);
        let h: Value = serde_json::from_slice(&out.stdout).ok()?;
        (out.status.success() && h["outbox"] == 0 && h["send_error"].is_null()).then_some(())
    });
    let jpd = data_dir(&c, Party::Jp);
    let out = tisa(&["audit", "show", "--data-dir", jpd.to_str().unwrap(), "--json", "--limit", "100000"]);
    assert!(out.status.success(), "{}", describe(&out));
    let entries: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for id in &ids {
        let n = entries.iter().filter(|e| e["kind"] == "RECEIVED" && e["report_id"] == id.as_str()).count();
        assert_eq!(n, 1, "JP's audit log records {id} received exactly once");
    }
}

/// Oversize fields are refused by the CLI before anything is sent, naming the
/// field, its size and the limit; a report that fits the field limits but
/// not the broker's `max_payload` is refused with both sizes.
#[test]
fn oversize_submissions_are_refused_with_a_clear_error() {
    let dir = tisa_kit::natsd::scratch_dir("maxpayload").unwrap();
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, format!("max_payload: 32768\njetstream {{ store_dir: \"{}\" }}\n", dir.join("js").display()))
        .unwrap();
    let nats = tisa_kit::natsd::NatsServer::start(&nats_bin(), &["-c", conf.to_str().unwrap()]).unwrap();
    let body_file = dir.join("body");
    // A submitter's key (no node runs: nothing checks it, but the CLI signs).
    let (key, _) = tisa_deploy::keys::generate_operator(
        tisa_core::Party::Kr,
        "kr-analyst",
        &[tisa_core::KeyRole::Submitter],
        &dir,
        None,
    )
    .unwrap();
    let key = key.to_string_lossy().into_owned();
    let submit = |extra: &[&str]| {
        let mut a = vec![
            "submit",
            "--key",
            &key,
            "--party",
            "kr",
            "--nats",
            nats.url(),
            "--category",
            "missile",
            "--classification",
            "secret",
            "--rel-to",
            "USA",
        ];
        a.extend_from_slice(extra);
        tisa(&a)
    };
    let long = |n: usize| "y".repeat(n);
    let title = long(limits_title() + 1);
    let err = one_line_error(&submit(&["--title", &title, "--body", "b"]), "long title");
    assert!(
        err.contains(&format!("title is {} bytes; the limit is {} bytes", limits_title() + 1, limits_title())),
        "{err}"
    );
    let tear = long(64 * 1024 + 1);
    let err = one_line_error(&submit(&["--title", "t", "--body", "b", "--tearline", &tear]), "long tearline");
    assert!(err.contains("tearline is 65537 bytes; the limit is 65536 bytes"), "{err}");
    let source = long(1025);
    let err = one_line_error(&submit(&["--title", "t", "--body", "b", "--source", &source]), "long source");
    assert!(err.contains("source is 1025 bytes; the limit is 1024 bytes"), "{err}");
    std::fs::write(&body_file, long(256 * 1024 + 1)).unwrap();
    let err = one_line_error(&submit(&["--title", "t", "--body-file", body_file.to_str().unwrap()]), "long body");
    assert!(err.contains("body is 262145 bytes; the limit is 262144 bytes"), "{err}");
    // Within the field limits, over the broker's max_payload.
    std::fs::write(&body_file, long(40_000)).unwrap();
    let err =
        one_line_error(&submit(&["--title", "t", "--body-file", body_file.to_str().unwrap()]), "over max_payload");
    assert!(
        err.contains("submit request is") && err.contains("at most 32768 bytes") && err.contains("max_payload"),
        "{err}"
    );
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

fn limits_title() -> usize {
    tisa_core::node::limits::TITLE
}

/// When JP's dead-letter stream refuses a dead letter (here: shrunk to one
/// message, discard new), the malformed message is not given up: JP logs an
/// error, counts it, leaves it unacknowledged, and once the stream takes
/// dead letters again the broker's redelivery gets it dead-lettered.
#[test]
fn a_dead_letter_that_cannot_be_written_is_not_lost() {
    use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
    let c = common::TestCluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let js = rt.block_on(async { async_nats::jetstream::new(async_nats::connect(c.url()).await.unwrap()) });
    let config = |max: i64| Config {
        name: "TISA_JP_DEADLETTER".into(),
        subjects: vec![subjects::dead_letter(Party::Jp)],
        storage: StorageType::File,
        max_messages: max,
        discard: DiscardPolicy::New,
        max_message_size: 64 * 1024,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    rt.block_on(js.update_stream(config(1))).unwrap();

    let raw = common::RawNats::connect(c.url());
    let first = [vec![0xff; 5], canary("dl_first").into_bytes()].concat();
    let second = [vec![0xff; 5], canary("dl_second").into_bytes(), b"longer".to_vec()].concat();
    raw.publish("tisa.jp.down.delivery", first.clone());
    wait_for("JP dead-letters the first", || (common::counter(&c, Party::Jp, "dead_letters") == 1).then_some(()));
    raw.publish("tisa.jp.down.delivery", second.clone());
    wait_for("JP cannot write the second", || {
        (common::counter(&c, Party::Jp, "dead_letter_errors") >= 1).then_some(())
    });
    assert_eq!(common::counter(&c, Party::Jp, "malformed"), 1, "not given up while its dead letter is unwritten");
    let log = c.log(Party::Jp);
    assert!(log.lines().any(|l| l.contains("ERROR") && l.contains("cannot write a dead letter")), "{log}");

    // Space again: the redelivered message is dead-lettered, once.
    rt.block_on(js.update_stream(config(subjects_dead_letter_max()))).unwrap();
    wait_for("JP dead-letters the second after redelivery", || {
        (common::counter(&c, Party::Jp, "dead_letters") == 2).then_some(())
    });
    let list = common::cli_json(&c, Party::Jp, &["deadletter", "list"]);
    let sizes: Vec<u64> = list["items"].as_array().unwrap().iter().map(|d| d["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, vec![second.len() as u64, first.len() as u64], "newest first, each once: {list}");
    assert!(list["items"][0]["delivered"].as_u64().unwrap() >= 2, "it was redelivered: {list}");
    assert_eq!(common::counter(&c, Party::Jp, "malformed"), 2);
    common::relay_canary(&c, Party::Kr);
}

fn subjects_dead_letter_max() -> i64 {
    tisa_transport::conn::DEAD_LETTER_MAX
}
