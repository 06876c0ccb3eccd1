//! The console's other pages in a real browser, across real processes:
//! a correction's request page shows what changed since the previous
//! revision; JP's inbox marks the corrected and the retracted report,
//! links a report's revisions, searches text and filters by category;
//! KR's status page follows a report to its signed receipt; standing grants
//! are issued, co-signed (by a second approver's own console) and revoked
//! as signed forms (a form without its CSRF token, or with a wrong one, is
//! refused and changes nothing; the control goes through); health and the
//! verified audit log.

use crate::common;
use crate::driver;

use crate::common::cli::op_json;
use crate::common::console::{start_console, start_console_with};
use crate::common::flow::{approve, draft, submit, wait_inbox, wait_request_id};
use driver::{Browser, Driver};
use serde_json::json;
use tisa_core::Party;

fn log_in(b: &Browser, link: &str) {
    b.goto(link);
    assert!(b.text("h1").contains("awaiting your decision"), "after the login link: {}", b.text("main"));
}

/// KR's grants as `tisa standing list --json` shows them: (id, proposed, revoked).
fn grants(c: &common::cluster::TestCluster) -> Vec<(String, bool, bool)> {
    let v = op_json(c, Party::Kr, true, &["standing", "list"]);
    let items = v["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|g| {
            let id = g["grant_id"].as_str().unwrap_or_default().to_owned();
            (id, g["proposed"] == true, g["revoked"] == true)
        })
        .collect()
}

#[test]
fn corrections_inbox_status_grants_health_and_audit_in_a_real_browser() {
    let Some(driver) = Driver::start("browser page tests") else { return };
    let c = common::cluster::TestCluster::builder().start();
    let kr_data = common::ctl::data_dir(&c, Party::Kr);
    let agreement = c.agreement();
    let (kd, ag) = (kr_data.to_string_lossy().into_owned(), agreement.to_string_lossy().into_owned());
    let kr_console = start_console_with(&c, Party::Kr, false, &["--data-dir", &kd, "--agreement", &ag]);
    let kr2_console = start_console_with(&c, Party::Kr, true, &[]);
    let jp_console = start_console(&c, Party::Jp);
    let us_console = start_console(&c, Party::Us);

    // A report, released; then its correction, awaiting a decision.
    // (Readable text: this page's screenshot is the README's.)
    let mut x1 = draft("missile", "secret", "USA,JPN", "pages_first");
    let tag = x1.body.clone();
    x1.title = "Probable IRBM launch from the Jagang province area".to_owned();
    x1.body = format!(
        "At 05:42 KST a probable IRBM was launched eastward from the Jagang province area.\n\
         Apogee about 1,100 km; flight time about 38 minutes.\n\
         Predicted impact in the Sea of Japan, outside Japan's EEZ.\nRef. {tag}"
    );
    x1.tearline = Some("A ballistic missile launch from North Korea was detected this morning.".to_owned());
    x1.source = Some("KR radar network, track KR-T-2026-001".to_owned());
    let x = submit(&c, Party::Kr, &x1);
    approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &x, 1));
    let mut x2 = x1.clone();
    x2.corrects = Some(x.clone());
    x2.body = x1
        .body
        .replace(
            "Apogee about 1,100 km; flight time about 38 minutes.",
            "Apogee about 1,250 km; flight time about 41 minutes.",
        )
        .replace("outside Japan's EEZ", "about 200 km inside Japan's EEZ");
    assert_eq!(submit(&c, Party::Kr, &x2), x, "a correction keeps the report id");
    let x2_rq = wait_request_id(&c, Party::Kr, &x, 2);
    // Another, released and then retracted.
    let y1 = draft("nuclear", "secret", "USA,JPN", "pages_retracted");
    let y = submit(&c, Party::Kr, &y1);
    approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &y, 1));
    wait_inbox(&c, Party::Jp, &y, 1);
    op_json(&c, Party::Kr, false, &["retract", &y, "--reason", "source withdrawn"]);

    // The correction's page: what changed since revision 1, then approve it.
    let kr = driver.browser("KR");
    log_in(&kr, &kr_console.link);
    kr.goto(&format!("{}/requests/{x2_rq}", kr_console.base));
    assert!(kr.text("section.diff h2").contains("since revision 1"), "{}", kr.text("main"));
    assert!(kr.text("pre.diff").contains(&tag), "the diff shows the unchanged lines too");
    let removed: Vec<String> = serde_json::from_value(
        kr.js("return [...document.querySelectorAll('pre.diff span.del')].map(e => e.textContent);", vec![]),
    )
    .unwrap_or_default();
    let added: Vec<String> = serde_json::from_value(
        kr.js("return [...document.querySelectorAll('pre.diff span.ins')].map(e => e.textContent);", vec![]),
    )
    .unwrap_or_default();
    assert_eq!(
        removed,
        [
            "- Apogee about 1,100 km; flight time about 38 minutes.",
            "- Predicted impact in the Sea of Japan, outside Japan's EEZ."
        ],
        "the two lines that changed, and only them"
    );
    assert_eq!(
        added,
        [
            "+ Apogee about 1,250 km; flight time about 41 minutes.",
            "+ Predicted impact in the Sea of Japan, about 200 km inside Japan's EEZ."
        ],
        "the two lines that changed, and only them"
    );
    kr.screenshot("kr-request-diff");
    kr.click_load("#approve button");
    assert!(kr.text("h1").contains("approved"), "{}", kr.text("main"));

    // JP's inbox: the correction, the corrected revision marked, the retraction marked.
    wait_inbox(&c, Party::Jp, &x, 2);
    let jp = driver.browser("JP");
    log_in(&jp, &jp_console.link);
    jp.goto(&format!("{}/inbox", jp_console.base));
    jp.wait_text("main", "RETRACTED", true);
    let corrected = jp.text("article.entry p.corrected");
    assert!(corrected.contains("revision 2 replaces this one"), "r1 is marked corrected: {}", jp.text("main"));
    let retracted = jp.text("article.retracted");
    assert!(retracted.contains(&y) && retracted.contains("source withdrawn"), "{retracted}");
    jp.screenshot("jp-inbox-marked");
    jp.click_load(&format!("a[href='/inbox?report={x}']"));
    assert_eq!(jp.count("article.entry"), 2, "every revision of {x}: {}", jp.text("main"));
    // Search and filters (controls: each finds what it should, and only that).
    jp.goto(&format!("{}/inbox?q=inside+japan%27s+eez", jp_console.base));
    assert_eq!(jp.count("article.entry"), 1, "the correction only: {}", jp.text("main"));
    assert!(jp.text("article.entry").contains("r2"));
    jp.goto(&format!("{}/inbox?category=NK_NUCLEAR", jp_console.base));
    assert_eq!(jp.count("article.entry"), 1, "{}", jp.text("main"));
    assert!(jp.text("article.entry").contains(&y));
    jp.goto(&format!("{}/inbox?category=NK_MISSILE&originator=KOR", jp_console.base));
    assert_eq!(jp.count("article.entry"), 2, "{}", jp.text("main"));

    // KR's status page: the correction reaches its signed receipt.
    kr.goto(&format!("{}/status?report={x}", kr_console.base));
    kr.wait_text("main", "RECEIPT", true);
    kr.screenshot("kr-status");

    // Standing grants: a form without its token changes nothing…
    kr.goto(&format!("{}/grants", kr_console.base));
    kr.js("document.querySelector('#grant input[name=csrf]').remove();", vec![]);
    kr.click_load("#grant button");
    assert!(kr.text("p.error").contains("CSRF"), "{}", kr.text("main"));
    assert!(grants(&c).is_empty(), "the refused form issued nothing");
    // …the control issues it (proposed: the two-person rule is on).
    kr.goto(&format!("{}/grants", kr_console.base));
    kr.click_load("#grant button");
    assert!(kr.text("#done").contains("Signed and issued"), "{}", kr.text("main"));
    let g = grants(&c);
    assert_eq!(g.len(), 1, "{g:?}");
    let (gid, proposed, revoked) = g[0].clone();
    assert!(proposed && !revoked, "{g:?}");
    // A second approver co-signs it from their own console.
    let kr2 = driver.browser("KR second approver");
    log_in(&kr2, &kr2_console.link);
    kr2.goto(&format!("{}/grants", kr2_console.base));
    kr2.click_load(&format!("form[action='/grants/{gid}/cosign'] button"));
    assert!(kr2.text("#grants").contains("in force (co-signed)"), "{}", kr2.text("main"));
    assert_eq!(grants(&c), vec![(gid.clone(), false, false)]);
    kr2.screenshot("kr-grants");
    // Revoke: a wrong token is refused, the control revokes it.
    kr.goto(&format!("{}/grants", kr_console.base));
    let revoke = format!("form[action='/grants/{gid}/revoke']");
    kr.js(
        &format!("document.querySelector(\"{revoke} input[name=csrf]\").value = arguments[0];"),
        vec![json!("f".repeat(64))],
    );
    kr.click_load(&format!("{revoke} button"));
    assert!(kr.text("p.error").contains("CSRF"), "{}", kr.text("main"));
    assert_eq!(grants(&c), vec![(gid.clone(), false, false)], "the refused form revoked nothing");
    kr.goto(&format!("{}/grants", kr_console.base));
    kr.click_load(&format!("{revoke} button"));
    assert!(kr.text("#done").contains("revoked"), "{}", kr.text("main"));
    assert_eq!(grants(&c), vec![(gid, false, true)]);

    // Health, and the audit log verified (with --data-dir; without it, said so).
    kr.goto(&format!("{}/health", kr_console.base));
    assert!(kr.text("#verdict").starts_with("Healthy"), "{}", kr.text("main"));
    // How long KR's commits take (it committed the decisions above).
    assert!(kr.text("#commits").contains("since start; p50 "), "{}", kr.text("main"));
    kr.screenshot("kr-health");
    // The hub's shows what it delivered before its commit (the released reports above).
    let us = driver.browser("US");
    log_in(&us, &us_console.link);
    us.goto(&format!("{}/health", us_console.base));
    assert!(us.text("main").contains("Deliveries before the commit"), "{}", us.text("main"));
    us.screenshot("us-health");
    kr.goto(&format!("{}/audit", kr_console.base));
    assert!(kr.text("#verdict").starts_with("Verified"), "{}", kr.text("main"));
    assert!(kr.text("#entries").contains("DECIDED"), "{}", kr.text("main"));
    kr.screenshot("kr-audit");
    jp.goto(&format!("{}/audit", jp_console.base));
    assert!(jp.text("p.error").contains("--data-dir"), "{}", jp.text("main"));
}
