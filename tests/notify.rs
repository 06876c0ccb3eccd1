//! `tisa notify` across real processes: KR's notifier runs a command, JP's
//! posts to a local webhook, on what an operator must act on — a release
//! request, its reminder before expiry, a denial, a retraction of a report
//! JP holds — each with ids and markings and never content (no title or
//! body of the reports involved appears in any notification; control: the
//! same strings are in the reports). A webhook off this machine is refused.
//! Every wait is on a condition with a deadline.

use crate::common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::common::cli::{describe, op, Background};
use crate::common::flow::{approve, deny, draft, inbox, submit, wait_inbox, wait_request_id};
use crate::common::wait::wait_for;
use serde_json::Value;
use tisa_core::Party;

/// A local webhook: every request body it receives.
fn webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the webhook");
    let url = format!("http://{}/hook", listener.local_addr().expect("its address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let got = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut r = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                got.lock().unwrap_or_else(|e| e.into_inner()).push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = r.get_mut().write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

/// The notifications in `lines` (JSON objects) of `event` about `report`.
fn about(lines: &[String], event: &str, report: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == event && v["report_id"] == report)
        .collect()
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn notify_runs_a_command_and_posts_a_webhook_with_ids_and_markings_only() {
    let c = common::cluster::TestCluster::builder().start();
    let notes = c.dir.join("kr-notes.jsonl");
    let cmd = format!("cat >> '{}'", notes.display());
    let kr_key = c.operator_key(Party::Kr, "analyst").to_string_lossy().into_owned();
    let mut kr = Background::spawn(
        &c,
        Party::Kr,
        &["notify", "--json", "--exec", &cmd, "--remind-before", "24h", "--key", &kr_key],
    );
    kr.wait_stderr("notifying for");
    let (url, posted) = webhook();
    let jp_key = c.operator_key(Party::Jp, "analyst").to_string_lossy().into_owned();
    let mut jp = Background::spawn(&c, Party::Jp, &["notify", "--json", "--webhook", &url, "--key", &jp_key]);
    jp.wait_stderr("notifying for");

    // A release request: notified, and reminded at once (it expires within 24 h).
    let a = draft("missile", "secret", "USA,JPN", "notify_denied");
    let a_id = submit(&c, Party::Kr, &a);
    let a_rq = wait_request_id(&c, Party::Kr, &a_id, 1);
    let (req, rem) = wait_for("KR's command got the request and its reminder", || {
        let lines = read_lines(&notes);
        let (r, e) = (about(&lines, "RELEASE_REQUESTED", &a_id), about(&lines, "EXPIRING", &a_id));
        (!r.is_empty() && !e.is_empty()).then(|| (r[0].clone(), e[0].clone()))
    });
    for n in [&req, &rem] {
        assert_eq!(n["request_id"], a_rq.as_str(), "{n}");
        assert_eq!((n["category"].as_str(), n["classification"].as_str()), (Some("NK_MISSILE"), Some("SECRET")), "{n}");
        assert_eq!((n["party"].as_str(), n["recipient"].as_str()), (Some("KOR"), Some("JPN")), "{n}");
        assert!(n["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{n}");
    }
    // A denial.
    deny(&c, Party::Kr, &a_rq, "not this one");
    let denied = wait_for("KR's command got the denial", || about(&read_lines(&notes), "DENIED", &a_id).pop());
    assert_eq!(denied["request_id"], a_rq.as_str(), "{denied}");
    assert_eq!(denied["classification"], "SECRET", "{denied}");

    // A retraction of a report JP holds: JP's webhook.
    let b = draft("nuclear", "confidential", "USA,JPN", "notify_retracted");
    let b_id = submit(&c, Party::Kr, &b);
    approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &b_id, 1));
    wait_inbox(&c, Party::Jp, &b_id, 1);
    let out = op(&c, Party::Kr, false, &["retract", &b_id, "--reason", "notify_reason_secret"]);
    assert!(out.status.success(), "{}", describe(&out));
    let retracted = wait_for("JP's webhook got the retraction", || {
        about(&posted.lock().unwrap_or_else(|e| e.into_inner()), "RETRACTED", &b_id).pop()
    });
    assert_eq!((retracted["party"].as_str(), retracted["originator"].as_str()), (Some("JPN"), Some("KOR")));
    assert_eq!(
        (retracted["category"].as_str(), retracted["classification"].as_str()),
        (Some("NK_NUCLEAR"), Some("CONFIDENTIAL")),
        "{retracted}"
    );

    // Never content: no title, body or reason in any notification…
    let everything = read_lines(&notes).join("\n") + &posted.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    for secret in [&a.title, &a.body, &b.title, &b.body, &"not this one".to_owned(), &"notify_reason_secret".to_owned()]
    {
        assert!(!everything.contains(secret.as_str()), "a notification carries {secret:?}: {everything}");
    }
    // …(control: those strings are real content, here in JP's inbox).
    let held = serde_json::to_string(&inbox(&c, Party::Jp)).unwrap_or_default();
    assert!(held.contains(&b.title) && held.contains("notify_reason_secret"), "{held}");

    // A webhook off this machine is refused, in one line, before anything runs.
    let out = op(&c, Party::Kr, false, &["notify", "--webhook", "http://example.com/hook", "--key", &kr_key]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only a local http:// webhook"), "{err}");
    drop((kr, jp));
}
