//! The operator console in a real browser (headless Chromium through its
//! WebDriver), across real processes: KR's approver opens the login link,
//! reads a request's whole report, approves it, and JP's approver sees the
//! report in JP's console; another is denied, a third approved as the
//! tearline alone, and JP's console shows only the tearline.
//!
//! Refusals, each with its control: a form whose CSRF token was removed,
//! or replaced, and a form sent after the session cookie was deleted, are
//! refused and decide nothing (the request stays open); the same form
//! with the token and the cookie goes through. Report text holding markup
//! and script shows as text: the DOM holds no element the report injected
//! (and no alert opened), and the text itself is on the page (the control).
//!
//! Live updates: a new request changes the pending badge without a reload.
//!
//! Screenshots of each page are saved under `target/screenshots/`.

use crate::common;
use crate::driver;

use crate::common::console::{start_console, ConsoleProc};
use crate::common::flow::{draft, pending, submit, wait_inbox, wait_recipient_state, wait_request_id, Draft};
use driver::{Browser, Driver};
use serde_json::json;
use tisa_core::Party;

/// Elements a report's markup would inject (none may exist in `main`).
const INJECTED: &str = "main script, main b, main i, main img, main iframe";

/// Whether `party`'s node still has `request_id` open.
fn is_pending(c: &common::cluster::TestCluster, party: Party, request_id: &str) -> bool {
    pending(c, party).iter().any(|p| p["request_id"] == request_id)
}

/// Logs `b` in through the console's link; asserts it lands on the pending list.
fn log_in(b: &Browser, console: &ConsoleProc) {
    b.goto(&console.link);
    assert!(b.text("h1").contains("awaiting your decision"), "after the login link: {}", b.text("main"));
}

/// The text a refused form shows (the error paragraph).
fn refusal(b: &Browser) -> String {
    assert_eq!(b.text("h1"), "Not done", "a refusal page: {}", b.text("main"));
    b.text("p.error")
}

fn markup_report() -> Draft {
    let mut a = draft("missile", "secret", "USA,JPN", "browser_full");
    a.title = format!("<script>alert('title')</script><b>{}</b>", a.title);
    a.body = format!("<img src=x onerror=alert('body')><i>{}</i>\nsecond line", a.body);
    a.tearline = Some(common::canary("browser_full_tearline"));
    a
}

#[test]
fn an_approver_decides_in_a_real_browser_and_the_recipient_reads_it_there() {
    let Some(driver) = Driver::start("browser tests") else { return };
    let c = common::cluster::TestCluster::builder().start();
    let a = markup_report();
    let a_id = submit(&c, Party::Kr, &a);
    let b_id = submit(&c, Party::Kr, &draft("nuclear", "secret", "USA,JPN", "browser_denied"));
    let mut t = draft("missile", "secret", "USA,JPN", "browser_tearline");
    t.tearline = Some(common::canary("browser_only_tearline"));
    let t_tearline = t.tearline.clone().unwrap_or_default();
    let t_id = submit(&c, Party::Kr, &t);
    let a_rq = wait_request_id(&c, Party::Kr, &a_id, 1);
    let b_rq = wait_request_id(&c, Party::Kr, &b_id, 1);
    let t_rq = wait_request_id(&c, Party::Kr, &t_id, 1);
    let kr_console = start_console(&c, Party::Kr);
    let jp_console = start_console(&c, Party::Jp);
    let kr = driver.browser("KR");
    let jp = driver.browser("JP");

    // The login link, then the pending list: every request, the markup as text.
    log_in(&kr, &kr_console);
    let list = kr.text("main table");
    for rq in [&a_id, &b_id, &t_id] {
        assert!(list.contains(rq.as_str()), "{rq} listed: {list}");
    }
    assert!(list.contains(&a.title), "the title shows, markup and all, as text: {list}");
    assert_eq!(kr.count(INJECTED), 0, "the report's markup injected elements");
    assert_eq!(kr.text("#pending-count"), "3", "the badge counts the open requests");
    kr.screenshot("kr-pending");
    // Live: a new request changes the badge without a reload (the page's
    // marker survives: the same document).
    kr.js("window.__samePage = true;", vec![]);
    let extra = submit(&c, Party::Kr, &draft("missile", "secret", "USA,JPN", "browser_live"));
    wait_request_id(&c, Party::Kr, &extra, 1);
    kr.wait_text("#pending-count", "4", false);
    assert_eq!(kr.js("return window.__samePage === true;", vec![]), json!(true), "not reloaded");

    // The request page: the whole report, read before deciding.
    kr.click_load(&format!("a[href='/requests/{a_rq}']"));
    let report = kr.text("section.report");
    assert!(report.contains(&a.body), "the body, markup as text: {report}");
    assert!(report.contains(a.tearline.as_deref().unwrap_or_default()), "the tearline: {report}");
    assert!(report.contains("signature verified"), "the verified submitter: {report}");
    assert_eq!(kr.count(INJECTED), 0, "the report's markup injected elements");
    kr.screenshot("kr-request");
    kr.click_load("#approve button");
    let done = kr.text("main");
    assert!(done.contains("approved") && done.contains("Decision document sha256"), "{done}");
    assert!(done.contains(&a.title), "what was signed names the report: {done}");
    kr.screenshot("kr-decided");

    // JP's console shows the report (its markup as text).
    log_in(&jp, &jp_console);
    wait_inbox(&c, Party::Jp, &a_id, 1);
    jp.goto(&format!("{}/inbox", jp_console.base));
    let inbox = jp.wait_text("main", &a.body, true);
    assert!(inbox.contains(&a.title), "JP reads the title as text: {inbox}");
    assert_eq!(jp.count(INJECTED), 0, "the report's markup injected elements at JP");
    jp.screenshot("jp-inbox");

    // Deny, after two refused attempts: the CSRF token removed, then wrong.
    let b_page = format!("{}/requests/{b_rq}", kr_console.base);
    kr.goto(&b_page);
    kr.js("document.querySelector('#deny input[name=csrf]').remove();", vec![]);
    kr.fill("#deny textarea", "not now");
    kr.click_load("#deny button");
    assert!(refusal(&kr).contains("CSRF"), "no token: refused");
    kr.goto(&b_page);
    kr.js("document.querySelector('#deny input[name=csrf]').value = arguments[0];", vec![json!("0".repeat(64))]);
    kr.fill("#deny textarea", "not now");
    kr.click_load("#deny button");
    assert!(refusal(&kr).contains("CSRF"), "a wrong token: refused");
    kr.screenshot("kr-refused-csrf");
    assert!(is_pending(&c, Party::Kr, &b_rq), "the refused forms decided nothing");
    // Control: the same form with its token.
    kr.goto(&b_page);
    kr.fill("#deny textarea", "not now");
    kr.click_load("#deny button");
    assert!(kr.text("h1").contains("denied"), "{}", kr.text("main"));
    wait_recipient_state(&c, Party::Kr, &b_id, 1, "JPN", "DENIED");

    // The tearline only, after a refused attempt without the session cookie.
    let t_page = format!("{}/requests/{t_rq}", kr_console.base);
    kr.goto(&t_page);
    let session = kr.cookie("tisa_console");
    kr.clear_cookies();
    kr.click_load("#tearline button");
    assert!(refusal(&kr).contains("not logged in"), "no session: refused");
    assert!(is_pending(&c, Party::Kr, &t_rq), "the refused form decided nothing");
    // Control: the cookie put back, the same form goes through.
    kr.add_cookie(session);
    kr.goto(&t_page);
    kr.click_load("#tearline button");
    assert!(kr.text("h1").contains("tearline only"), "{}", kr.text("main"));
    wait_inbox(&c, Party::Jp, &t_id, 1);
    jp.goto(&format!("{}/inbox?q={}", jp_console.base, t_tearline));
    let got = jp.wait_text("main", &t_tearline, true);
    assert!(got.contains("Tearline only"), "{got}");
    assert!(!got.contains(&t.title) && !got.contains(&t.body), "JP sees only the tearline: {got}");
    jp.screenshot("jp-inbox-tearline");
    jp.goto(&format!("{}/inbox", jp_console.base));
    let all = jp.text("main");
    assert!(all.contains(&a_id) && all.contains(&t_id), "{all}");
    assert!(!all.contains(&b_id), "the denied report is not in JP's inbox (decided before the tearline arrived)");
}
