//! The arrangement's rules, enforced across real processes: consent (deny is
//! final, expiry counts as denial), scope (OTHER stays with the US), the
//! releasable-to limit and the classification ceilings.

use crate::common::*;
use tisa_core::Party::{Jp, Kr, Us};

/// KR denies: JP never gets the report; approving afterwards fails with a
/// one-line error saying the decision is final; status shows DENIED.
#[test]
fn denied_report_never_reaches_jp_and_denial_is_final() {
    let c = TestCluster::start();
    let d = draft("missile", "secret", "USA,JPN", "denied");
    let id = submit(&c, Kr, &d);
    let rid = wait_request_id(&c, Kr, &id, 1);
    deny(&c, Kr, &rid, "source protection");
    wait_recipient_state(&c, Kr, &id, 1, "JPN", "DENIED");
    assert!(matching(&pending(&c, Kr), &id, 1).is_empty(), "a denied request is no longer pending");

    // KR's later approval of another report travels after the denial.
    relay_canary(&c, Kr);
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title]);

    let err = cli_err(&c, Kr, &["approve", &rid]);
    assert!(err.contains("final"), "{err}");
    assert!(err.contains(&rid), "{err}");
    let err = cli_err(&c, Kr, &["deny", &rid, "--reason", "again"]);
    assert!(err.contains("final"), "{err}");

    // The refused approval sent nothing: still denied, still not at JP.
    relay_canary(&c, Kr);
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title]);
    let s = status(&c, Kr, &id);
    assert_eq!(recipient_state(&s[0], "JPN").as_deref(), Some("DENIED"), "{s:?}");
    // The hub holds it all the same (it is KR's bilateral partner).
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
}

/// An OTHER report rel-to USA,JPN: the submission notes that it stays with
/// the USA; the US holds it; nobody asks KR; JP never receives it.
#[test]
fn other_category_stays_with_the_usa() {
    let c = TestCluster::start();
    let d = draft("other", "secret", "USA,JPN", "other");
    let out = submit_raw(&c, Kr, &d);
    assert!(out.status.success(), "{}", describe(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(id.starts_with("KR-"), "{}", describe(&out));
    let note = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(note.contains("JPN") && note.contains("stays") && note.contains("USA"), "{}", describe(&out));
    assert!(note.contains("OTHER"), "the note says why: {}", describe(&out));

    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
    assert_eq!(us["category"], "OTHER", "{us}");
    wait_hub_state(&c, Kr, &id, 1, "ACCEPTED");
    let s = status(&c, Kr, &id);
    assert_eq!(recipient_state(&s[0], "JPN").as_deref(), Some("NOT_RELEASABLE"), "{s:?}");

    // A later in-scope report's request reaches KR after anything about this one.
    relay_canary(&c, Kr);
    assert!(pending(&c, Kr).is_empty(), "nobody may ask KR to release an OTHER report");
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title]);
    let s = status(&c, Kr, &id);
    assert_eq!(recipient_state(&s[0], "JPN").as_deref(), Some("NOT_RELEASABLE"), "{s:?}");
}

/// rel-to USA only stays with the US; rel-to JPN without USA is refused at
/// submission (a national report travels through the hub).
#[test]
fn releasable_to_limits_where_a_report_goes() {
    let c = TestCluster::start();
    let d = draft("missile", "secret", "USA", "usa_only");
    let id = submit(&c, Kr, &d);
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "{us}");
    wait_hub_state(&c, Kr, &id, 1, "ACCEPTED");

    let refused = draft("missile", "secret", "JPN", "jpn_only");
    let err = one_line_error(&submit_raw(&c, Kr, &refused), "KR report rel-to JPN only");
    assert!(err.contains("USA"), "{err}");
    let refused_jp = draft("nuclear", "secret", "KOR", "kor_only");
    let err = one_line_error(&submit_raw(&c, Jp, &refused_jp), "JP report rel-to KOR only");
    assert!(err.contains("USA"), "{err}");

    relay_canary(&c, Kr);
    assert!(pending(&c, Kr).is_empty(), "nothing to ask about a USA-only report");
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title, &refused.body]);
    let s = status(&c, Kr, &id);
    assert!(recipient_state(&s[0], "JPN").is_none(), "JPN is not a recipient: {s:?}");
    // The refused reports went nowhere.
    let all = cli_json(&c, Us, &["inbox", "--limit", "1000"]).to_string();
    assert!(!all.contains(&refused.body) && !all.contains(&refused_jp.body), "{all}");
    relay_canary(&c, Jp);
    assert_never_received(&c, Kr, "no-such-id", &[&refused_jp.body]);
}

/// TOP_SECRET is refused at submission (pass it off-line). With the
/// US–JP ceiling at CONFIDENTIAL, a SECRET KR report rel-to USA,JPN is held by
/// the US, KR sees JPN NOT_RELEASABLE, KR is never asked, JP never gets it.
#[test]
fn classification_ceilings_are_enforced() {
    // Every node with the same override (one alone would enforce another
    // agreement than its peers, and trilateral releases would stop).
    let c = TestCluster::builder().all_args(&["--jp-ceiling", "confidential"]).start();

    let ts = draft("missile", "top_secret", "USA,JPN", "top_secret");
    let err = one_line_error(&submit_raw(&c, Kr, &ts), "TOP_SECRET submission");
    assert!(err.contains("off-line"), "{err}");
    assert!(err.contains("TOP_SECRET"), "{err}");

    let d = draft("missile", "secret", "USA,JPN", "above_jp_ceiling");
    let id = submit(&c, Kr, &d);
    let us = wait_inbox(&c, Us, &id, 1);
    assert_eq!(us["body"], d.body.as_str(), "the hub holds it: {us}");
    wait_recipient_state(&c, Kr, &id, 1, "JPN", "NOT_RELEASABLE");
    let s = status(&c, Kr, &id);
    let jpn = s[0]["recipients"].as_array().unwrap().iter().find(|r| r["recipient"] == "JPN").unwrap().clone();
    assert!(jpn["detail"].as_str().unwrap_or_default().contains("CONFIDENTIAL"), "{jpn}");

    relay_canary(&c, Kr);
    assert!(pending(&c, Kr).is_empty(), "KR must not be asked to release above the ceiling");
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title, &ts.body]);
    let all = cli_json(&c, Us, &["inbox", "--limit", "1000"]).to_string();
    assert!(!all.contains(&ts.body), "the TOP_SECRET report went nowhere: {all}");
}

/// A request left undecided expires (3 s here): status shows EXPIRED, a late
/// approval is refused, and JP never gets the report.
#[test]
fn undecided_request_expires_and_counts_as_denied() {
    let c = TestCluster::builder().all_args(&["--request-expiry", "3s"]).start();
    // The hub's own events show when its expiry has run.
    let mut hub = Background::spawn(&c, Us, &["watch", "--json"]);
    hub.wait_stderr("watching");

    let d = draft("missile", "secret", "USA,JPN", "expiry");
    let id = submit(&c, Kr, &d);
    let p = wait_pending(&c, Kr, &id, 1);
    let rid = p["request_id"].as_str().unwrap().to_owned();
    let window = p["expires_at_ms"].as_u64().unwrap() - p["requested_at_ms"].as_u64().unwrap();
    assert_eq!(window, 3000, "{p}");

    wait_recipient_state(&c, Kr, &id, 1, "JPN", "EXPIRED");
    assert!(matching(&pending(&c, Kr), &id, 1).is_empty(), "an expired request is no longer pending");
    let err = cli_err(&c, Kr, &["approve", &rid]);
    assert!(err.contains("expired"), "{err}");

    hub.wait_stdout("the hub's EXPIRED event", |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|e| e["kind"] == "EXPIRED" && e["report_id"] == id.as_str())
    });
    // Whatever the hub sent JP when the request expired went before this.
    us_canary(&c, Jp);
    assert_never_received(&c, Jp, &id, &[&d.body, &d.title]);
    let s = status(&c, Kr, &id);
    assert_eq!(recipient_state(&s[0], "JPN").as_deref(), Some("EXPIRED"), "{s:?}");
    // The US still holds it; only the release to JP counts as denied.
    assert_eq!(wait_inbox(&c, Us, &id, 1)["body"], d.body.as_str());
}
