//! End-to-end relaying across real processes: trilateral releases through the
//! US hub (both directions, full and tearline-only), the hub's own bilateral
//! reports, corrections, paging and `tisa watch`.

use crate::common::*;
use serde_json::json;
use tisa_core::Party::{Jp, Kr, Us};

/// KR missile SECRET rel-to USA,JPN: KR sees the release request, approves,
/// JP receives it exactly once with its body; KR's status shows JPN
/// DELIVERED; the US hub holds it.
#[test]
fn kr_report_approved_by_kr_reaches_jp_exactly_once() {
    let c = TestCluster::start();
    let mut d = draft("missile", "secret", "USA,JPN", "kr_to_jp");
    d.source = Some(canary("kr_to_jp_source"));
    let id = submit(&c, Kr, &d);

    let p = wait_pending(&c, Kr, &id, 1);
    assert_eq!(p["recipient"], "JPN", "{p}");
    assert_eq!(p["title"], d.title.as_str(), "{p}");
    assert_eq!(p["classification"], "SECRET", "{p}");
    let rid = p["request_id"].as_str().expect("request_id").to_owned();
    // The plain-text listing an operator reads names the request too.
    let text = cli(&c, Kr, &["pending"]);
    assert!(text.status.success(), "{}", describe(&text));
    assert!(String::from_utf8_lossy(&text.stdout).contains(&rid), "{}", describe(&text));
    wait_recipient_state(&c, Kr, &id, 1, "JPN", "RELEASE_REQUESTED");

    let out = cli(&c, Kr, &["approve", &rid]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"), "{}", describe(&out));

    let got = wait_inbox(&c, Jp, &id, 1);
    assert_eq!(got["body"], d.body.as_str(), "{got}");
    assert_eq!(got["title"], d.title.as_str(), "{got}");
    assert_eq!(got["source"], d.source.as_deref().unwrap(), "{got}");
    assert_eq!(got["originator"], "KOR", "{got}");
    assert_eq!(got["basis"], "TRILATERAL", "{got}");
    assert_eq!(got["request_id"], rid.as_str(), "{got}");
    assert_eq!(got["tearline_only"], false, "{got}");
    assert_eq!(got["category"], "NK_MISSILE", "{got}");
    assert_eq!(got["classification"], "SECRET", "{got}");

    wait_recipient_state(&c, Kr, &id, 1, "JPN", "DELIVERED");
    assert!(matching(&pending(&c, Kr), &id, 1).is_empty(), "the request is decided, no longer pending");

    // Exactly once: anything else the hub sent JP about it would be there
    // before this canary.
    us_canary(&c, Jp);
    let jp = inbox(&c, Jp);
    assert_eq!(matching(&jp, &id, 1).len(), 1, "{jp:?}");
    assert_eq!(jp.iter().filter(|v| v["report_id"] == id.as_str()).count(), 1, "{jp:?}");
    // The inbox would fold an identical duplicate: count what crossed JP's
    // link instead — the report and the canary, nothing else.
    // (Besides `hello`s, which say only which agreement the hub enforces.)
    let crossed: Vec<&str> = c
        .crossed_to(Jp)
        .iter()
        .flat_map(|(s, p)| tisa_transport::decode_inbound(s, p).unwrap_or_default())
        .map(|e| e.payload.kind())
        .filter(|k| *k != "hello")
        .collect();
    assert_eq!(crossed.len(), 2, "JP received exactly two messages: {crossed:?}");
    let copies = c.crossed_to(Jp).iter().filter(|(_, p)| contains(p, &d.body)).count();
    assert_eq!(copies, 1, "the body crossed the US–JP link exactly once");

    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
    assert_eq!(us["originator"], "KOR", "{us}");
}

/// The symmetric path: a JP nuclear report, approved by JP, reaches KR.
#[test]
fn jp_report_approved_by_jp_reaches_kr() {
    let c = TestCluster::start();
    let d = draft("nuclear", "confidential", "USA,KOR", "jp_to_kr");
    let id = submit(&c, Jp, &d);
    let rid = wait_request_id(&c, Jp, &id, 1);
    assert!(pending(&c, Kr).is_empty(), "KR decides nothing about JP's report");
    approve(&c, Jp, &rid);

    let got = wait_inbox(&c, Kr, &id, 1);
    assert_eq!(got["body"], d.body.as_str(), "{got}");
    assert_eq!(got["originator"], "JPN", "{got}");
    assert_eq!(got["basis"], "TRILATERAL", "{got}");
    assert_eq!(got["category"], "NK_NUCLEAR", "{got}");
    wait_recipient_state(&c, Jp, &id, 1, "KOR", "DELIVERED");
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
}

/// Tearline-only approval: JP gets the tearline and nothing else; the body,
/// title and source canaries appear nowhere in JP's inbox.
#[test]
fn tearline_only_approval_releases_only_the_tearline() {
    let c = TestCluster::start();
    let mut d = draft("missile", "secret", "USA,JPN", "tearline");
    d.tearline = Some(canary("tearline_text"));
    d.source = Some(canary("tearline_source"));
    let id = submit(&c, Kr, &d);
    let p = wait_pending(&c, Kr, &id, 1);
    assert_eq!(p["has_tearline"], true, "{p}");
    let rid = p["request_id"].as_str().unwrap().to_owned();

    // The approver reads the whole report before deciding: `show`, `pending --full`.
    let (tearline, source) = (d.tearline.as_deref().unwrap(), d.source.as_deref().unwrap());
    let shown = cli_json(&c, Kr, &["show", &rid]);
    let r = &shown["request"];
    assert_eq!(
        (&r["title"], &r["body"], &r["tearline"], &r["source"]),
        (&json!(d.title), &json!(d.body), &json!(tearline), &json!(source)),
        "{shown}"
    );
    assert_eq!(
        (&r["revision"], &r["recipient"], &r["classification"]),
        (&json!(1), &json!("JPN"), &json!("SECRET")),
        "{shown}"
    );
    assert_eq!(r["submitter"]["name"], "kr-analyst", "{shown}");
    let text = String::from_utf8(cli(&c, Kr, &["show", &rid]).stdout).unwrap();
    for want in [d.title.as_str(), &d.body, tearline, source, "kr-analyst", "tisa approve"] {
        assert!(text.contains(want), "`tisa show` lacks {want}: {text}");
    }
    let full = cli_json(&c, Kr, &["pending", "--full"]);
    let item = full["items"].as_array().unwrap().iter().find(|i| i["request_id"] == rid.as_str()).unwrap();
    assert_eq!((&item["body"], &item["source"]), (&json!(d.body), &json!(source)), "{full}");
    assert!(cli_json(&c, Kr, &["pending"])["items"][0]["body"].is_null(), "a list shows titles only");

    // Approving says what was released and what was signed.
    let v = cli_json(&c, Kr, &["approve", &rid, "--tearline-only"]);
    assert_eq!(v["decision"], "approved (tearline only)", "{v}");
    assert_eq!((&v["title"], &v["report_id"], &v["recipient"]), (&json!(d.title), &json!(id), &json!("JPN")), "{v}");
    assert_eq!(v["signed"]["verdict"], "APPROVE_TEARLINE", "{v}");
    assert_eq!(v["signed"]["manifest_sha256"].as_str().map(str::len), Some(64), "{v}");

    let got = wait_inbox(&c, Jp, &id, 1);
    assert_eq!(got["tearline_only"], true, "{got}");
    assert_eq!(got["tearline"], d.tearline.as_deref().unwrap(), "{got}");
    assert!(got["body"].is_null(), "{got}");
    assert!(got["title"].is_null(), "{got}");
    assert!(got["source"].is_null(), "{got}");

    let text = inbox_text(&c, Jp);
    assert!(text.contains(d.tearline.as_deref().unwrap()), "{text}");
    let shown = cli_json(&c, Jp, &["show", &id]);
    assert_eq!(shown["received"][0]["tearline"], tearline, "{shown}");
    assert!(shown["received"][0]["body"].is_null(), "{shown}");
    assert_never_received_content(&c, &[&d.body, &d.title, d.source.as_deref().unwrap()]);
    // Nor did they ever cross the US–JP link, in any message.
    us_canary(&c, Jp);
    let marker = c.barrier(Jp).unwrap();
    c.assert_never_crossed(Jp, &marker, &[&d.body, &d.title, d.source.as_deref().unwrap()], &[]);

    wait_for("KR's status shows JPN DELIVERED (tearline only)", || {
        let s = status(&c, Kr, &id);
        let r = s[0]["recipients"].as_array()?.iter().find(|r| r["recipient"] == "JPN")?.clone();
        (r["state"] == "DELIVERED" && r["tearline_only"] == true).then_some(())
    });

    // The hub holds the full report.
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");

    // KR's own report, whole, with what was released to whom.
    let own = cli_json(&c, Kr, &["show", &id]);
    let r = &own["revisions"][0];
    assert_eq!(
        (&r["body"], &r["source"], &r["submitter"]["name"]),
        (&json!(d.body), &json!(source), &json!("kr-analyst")),
        "{own}"
    );
    let jp = r["recipients"].as_array().unwrap().iter().find(|x| x["recipient"] == "JPN").unwrap();
    assert_eq!((&jp["state"], &jp["tearline_only"]), (&json!("DELIVERED"), &json!(true)), "{own}");
    let text = String::from_utf8(cli(&c, Kr, &["show", &id]).stdout).unwrap();
    assert!(text.contains(&d.body) && text.contains("JPN: ") && text.contains("(tearline only)"), "{text}");
}

fn assert_never_received_content(c: &TestCluster, secrets: &[&str]) {
    let json = cli_json(c, Jp, &["inbox", "--limit", "1000"]).to_string();
    let text = inbox_text(c, Jp);
    for s in secrets {
        assert!(!json.contains(s), "JP's inbox JSON shows {s:?}: {json}");
        assert!(!text.contains(s), "JP's inbox text shows {s:?}: {text}");
    }
}

/// The hub's own report rel-to KOR,JPN reaches both nations bilaterally; one
/// rel-to KOR only never reaches JP.
#[test]
fn us_own_reports_go_bilaterally_and_only_where_named() {
    let c = TestCluster::start();
    let both = draft("nuclear", "secret", "KOR,JPN", "us_both");
    let v = submit_json(&c, Us, &both);
    assert_eq!(v["notes"].as_array().map(Vec::len), Some(0), "{v}");
    let both_id = v["report_id"].as_str().unwrap().to_owned();
    for p in [Kr, Jp] {
        let got = wait_inbox(&c, p, &both_id, 1);
        assert_eq!(got["basis"], "BILATERAL", "{got}");
        assert_eq!(got["originator"], "USA", "{got}");
        assert_eq!(got["body"], both.body.as_str(), "{got}");
        assert!(got["request_id"].is_null(), "{got}");
    }
    // The receipts may wait a while to go with others (`tisa_node::notices`).
    wait_recipient_state(&c, Us, &both_id, 1, "KOR", "DELIVERED");
    wait_recipient_state(&c, Us, &both_id, 1, "JPN", "DELIVERED");
    let s = status(&c, Us, &both_id);
    assert_eq!(s[0]["hub"], "OWN", "{s:?}");
    assert!(pending(&c, Kr).is_empty() && pending(&c, Jp).is_empty(), "nobody is asked about the hub's own report");

    let kr_only = draft("missile", "secret", "KOR", "us_kr_only");
    let kr_only_id = submit(&c, Us, &kr_only);
    let got = wait_inbox(&c, Kr, &kr_only_id, 1);
    assert_eq!(got["body"], kr_only.body.as_str(), "{got}");
    us_canary(&c, Jp);
    assert_never_received(&c, Jp, &kr_only_id, &[&kr_only.body, &kr_only.title]);
}

/// `--corrects ID` issues revision 2, which needs its own approval:
/// approving r1 delivers r1 only; r2 reaches JP only once approved itself.
#[test]
fn correction_is_a_new_revision_needing_its_own_approval() {
    let c = TestCluster::start();
    let r1 = draft("missile", "secret", "USA,JPN", "corr_r1");
    let id = submit(&c, Kr, &r1);
    let rid1 = wait_request_id(&c, Kr, &id, 1);

    let mut r2 = draft("missile", "secret", "USA,JPN", "corr_r2");
    r2.corrects = Some(id.clone());
    let out = submit_raw(&c, Kr, &r2);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id, "a correction keeps the report id");
    assert!(String::from_utf8_lossy(&out.stderr).contains("revision 2"), "{}", describe(&out));
    let rid2 = wait_request_id(&c, Kr, &id, 2);
    assert_ne!(rid1, rid2);

    approve(&c, Kr, &rid1);
    let got1 = wait_inbox(&c, Jp, &id, 1);
    assert_eq!(got1["body"], r1.body.as_str(), "{got1}");
    us_canary(&c, Jp);
    let jp = inbox(&c, Jp);
    assert!(matching(&jp, &id, 2).is_empty(), "r2 must wait for its own approval: {jp:?}");
    assert!(!serde_json::Value::Array(jp).to_string().contains(&r2.body));
    c.assert_never_crossed(Jp, &c.barrier(Jp).unwrap(), &[&r2.body, &r2.title], &[]);
    wait_recipient_state(&c, Kr, &id, 2, "JPN", "RELEASE_REQUESTED");

    approve(&c, Kr, &rid2);
    let got2 = wait_inbox(&c, Jp, &id, 2);
    assert_eq!(got2["body"], r2.body.as_str(), "{got2}");
    assert_eq!(got2["revision"], 2, "{got2}");
    let jp = inbox(&c, Jp);
    assert_eq!(matching(&jp, &id, 1).len(), 1, "{jp:?}");
    assert_eq!(matching(&jp, &id, 1)[0]["body"], r1.body.as_str(), "r1 unchanged: {jp:?}");
    wait_recipient_state(&c, Kr, &id, 2, "JPN", "DELIVERED");
    let s = status(&c, Kr, &id);
    assert_eq!(s.len(), 2, "{s:?}");
}

/// Five bilateral KR reports at the US, paged two at a time with `--after`.
#[test]
fn inbox_pages_with_after_cursor() {
    let c = TestCluster::start();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(submit(&c, Kr, &draft("other", "confidential", "USA", &format!("page{i}"))));
    }
    wait_for("the US holds all five reports", || (inbox(&c, Us).len() == 5).then_some(()));

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = vec!["inbox", "--limit", "2"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let page = cli_json(&c, Us, &args);
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= 2, "{page}");
        pages += 1;
        seen.extend(items.iter().map(|v| v["report_id"].as_str().unwrap().to_owned()));
        match page["next_after"].as_str() {
            Some(n) => {
                assert_eq!(items.len(), 2, "a page with a next cursor is full: {page}");
                after = Some(n.to_owned());
            }
            None => {
                assert!(page["next_after"].is_null(), "{page}");
                break;
            }
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every report once, in arrival order");

    let err = cli_err(&c, Us, &["inbox", "--limit", "2", "--after", "US-no-such-cursor.r1"]);
    assert!(err.contains("--after"), "{err}");

    // Newest first, paged the same way; and filters.
    let ids_of = |v: &serde_json::Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["report_id"].as_str().unwrap().to_owned()).collect()
    };
    let first = cli_json(&c, Us, &["inbox", "--newest-first", "--limit", "2"]);
    assert_eq!(ids_of(&first), [ids[4].clone(), ids[3].clone()], "{first}");
    let after = first["next_after"].as_str().unwrap().to_owned();
    let next = cli_json(&c, Us, &["inbox", "--newest-first", "--limit", "2", "--after", &after]);
    assert_eq!(ids_of(&next), [ids[2].clone(), ids[1].clone()], "{next}");
    assert_eq!(ids_of(&cli_json(&c, Us, &["inbox", "--from", "kr", "--category", "other", "--since", "1h"])), ids);
    for filter in [&["--from", "jp"][..], &["--category", "missile"], &["--classification", "secret"]] {
        let v = cli_json(&c, Us, &[&["inbox"][..], filter].concat());
        assert!(ids_of(&v).is_empty(), "{filter:?}: {v}");
    }
    let v = cli_json(&c, Us, &["inbox", "--since", "2999-01-01T09:00:00+09:00"]);
    assert!(ids_of(&v).is_empty(), "{v}");
}

/// An inbox page larger than the broker takes in one message (five 250 KB
/// bodies, over nats-server's default 1 MB max_payload) comes cut to what
/// fits, with the cursor of the rest: never a node that cannot answer.
#[test]
fn inbox_pages_are_cut_to_what_the_broker_takes() {
    let c = TestCluster::start();
    let dir = tisa_kit::natsd::scratch_dir("big-bodies").unwrap();
    let mut bodies = Vec::new();
    for i in 0..5 {
        let body = format!("{}{}", canary(&format!("big{i}")), "x".repeat(250 * 1024));
        let file = dir.join(format!("body{i}"));
        std::fs::write(&file, &body).unwrap();
        let (title, file) = (format!("big {i}"), file.to_string_lossy().into_owned());
        let args = ["submit", "--category", "other", "--classification", "confidential", "--rel-to", "USA"];
        let v = cli_json(&c, Kr, &[&args[..], &["--title", &title, "--body-file", &file]].concat());
        bodies.push((v["report_id"].as_str().unwrap().to_owned(), body));
    }
    let first = wait_for("the US holds all five, in more than one page", || {
        let page = cli_json(&c, Us, &["inbox", "--limit", "1000"]);
        (page["next_after"].is_string()).then_some(page)
    });
    let n = first["items"].as_array().unwrap().len();
    assert!((1..5).contains(&n), "{n} of five 250 KB reports in one page");
    assert_eq!(first["next_after"], format!("{}.r1", bodies[n - 1].0), "the rest starts after the last item shown");
    let all = inbox(&c, Us);
    assert_eq!(all.len(), 5, "every report once, page after page");
    for ((id, body), item) in bodies.iter().zip(&all) {
        assert_eq!((item["report_id"].as_str(), item["body"].as_str()), (Some(id.as_str()), Some(body.as_str())));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `tisa watch --json --count 1` at JP prints the RECEIVED event of a KR
/// report approved for JP, then exits.
#[test]
fn watch_prints_received_event() {
    let c = TestCluster::start();
    let mut w = Background::spawn(&c, Jp, &["watch", "--json", "--count", "1"]);
    w.wait_stderr("watching");

    let d = draft("missile", "secret", "USA,JPN", "watch");
    let id = submit(&c, Kr, &d);
    let rid = wait_request_id(&c, Kr, &id, 1);
    approve(&c, Kr, &rid);

    let (status, lines) = w.wait_exit();
    assert!(status.success(), "watch exited with {status}; stdout: {lines:?}");
    assert_eq!(lines.len(), 1, "one event: {lines:?}");
    let ev: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON event");
    assert_eq!(ev["kind"], "RECEIVED", "{ev}");
    assert_eq!(ev["report_id"], id.as_str(), "{ev}");
    assert_eq!(ev["revision"], 1, "{ev}");
    assert_eq!(ev["originator"], "KOR", "{ev}");
    assert_eq!(ev["title"], d.title.as_str(), "{ev}");
    assert_eq!(ev["tearline_only"], false, "{ev}");
    assert_eq!(ev["detail"], "trilateral", "{ev}");
}
