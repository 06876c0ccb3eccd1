//! Off-line passage across real processes: `tisa submit --offline`, `tisa
//! bundle export` at the originator, `import` and `export` at the hub,
//! `import` at the recipient, and the receipt carried back the same way;
//! tampered, misaddressed and stale bundles refused, each with its control.

use std::path::{Path, PathBuf};

use crate::common::ctl::{audit_entries, data_dir};
use crate::common::*;
use serde_json::Value;
use tisa_core::Party::{self, Jp, Kr, Us};

/// `tisa submit` of a report `d` at `party`, `--offline` if asked.
fn submit_args(d: &Draft, offline: bool) -> Vec<String> {
    let mut a = d.args();
    if offline {
        a.push("--offline".into());
    }
    a
}

/// `tisa bundle export --to TO --out FILE` at `from` (its approver's key).
fn export(c: &TestCluster, from: Party, to: Party, name: &str) -> (PathBuf, Value) {
    let path = c.dir.join(format!("{name}.tisa-bundle"));
    let v = op_json(c, from, true, &["bundle", "export", "--to", to.lower(), "--out", path.to_str().unwrap()]);
    (path, v)
}

/// `tisa bundle import FILE` at `at` (its approver's key).
fn import(c: &TestCluster, at: Party, path: &Path) -> std::process::Output {
    op(c, at, true, &["bundle", "import", path.to_str().unwrap(), "--json"])
}

fn import_ok(c: &TestCluster, at: Party, path: &Path) -> Value {
    let out = import(c, at, path);
    assert!(out.status.success(), "import at {at}: {}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The kinds and report ids a bundle file lists (`tisa bundle show --json`).
fn listed(path: &Path) -> Vec<(String, String)> {
    let out = tisa(&["bundle", "show", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap().to_owned(), m["report_id"].as_str().unwrap_or("-").to_owned()))
        .collect()
}

fn audit_kinds(c: &TestCluster, p: Party) -> Vec<String> {
    audit_entries(&data_dir(c, p)).iter().map(|e| e["kind"].as_str().unwrap_or("").to_owned()).collect()
}

/// A TOP SECRET KR report (above both links' SECRET ceiling) is approved for
/// off-line passage, exported at KR, imported and relayed by US, imported
/// at JP (marked off-line in its inbox), and JP's receipt comes back to KR
/// the same way. Its body never crosses the US–JP link.
#[test]
fn an_over_ceiling_report_passes_off_line_through_the_hub_and_its_receipt_comes_back() {
    let c = TestCluster::start();
    let d = draft("nuclear", "top_secret", "USA,JPN", "offline_ts");
    // Control: on-line, it is refused at submit and names the way out.
    let err = cli_err(&c, Kr, &d.args().iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("pass it off-line"), "{err}");

    let a = submit_args(&d, true);
    let v = cli_json(&c, Kr, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let id = v["report_id"].as_str().unwrap().to_owned();
    let p = wait_pending(&c, Kr, &id, 1);
    assert_eq!(p["classification"], "TOP_SECRET", "{p}");
    let rid = p["request_id"].as_str().unwrap().to_owned();
    let out = cli(&c, Kr, &["approve", &rid]);
    assert!(out.status.success(), "{}", describe(&out));

    // KR → US: the report and KR's signed decision.
    let (kr_us, v) = export(&c, Kr, Us, "kr-us");
    assert_eq!(v["messages"], 2, "{v}");
    let kinds: Vec<String> = listed(&kr_us).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["report", "decision"]);
    // KR cannot export to JP: there is no KR-JP link, off-line either.
    let err = one_line_error(
        &op(&c, Kr, true, &["bundle", "export", "--to", "jp", "--out", c.dir.join("x").to_str().unwrap()]),
        "export KR→JP",
    );
    assert!(err.contains("no KOR-JPN link") || err.contains("no KR-JP link") || err.contains("link"), "{err}");

    let v = import_ok(&c, Us, &kr_us);
    assert_eq!(v["messages"], 2, "{v}");
    let held = wait_inbox(&c, Us, &id, 1);
    assert_eq!(held["offline"], true, "{held}");

    // US → JP: the delivery under KR's decision.
    let (us_jp, _) = export(&c, Us, Jp, "us-jp");
    assert!(listed(&us_jp).contains(&("delivery".to_owned(), id.clone())), "{:?}", listed(&us_jp));
    import_ok(&c, Jp, &us_jp);
    let got = wait_inbox(&c, Jp, &id, 1);
    assert_eq!(
        (got["offline"].clone(), got["body"].clone()),
        (Value::Bool(true), Value::from(d.body.as_str())),
        "{got}"
    );
    assert_eq!(got["classification"], "TOP_SECRET", "{got}");
    // Re-importing the same bundle changes nothing.
    import_ok(&c, Jp, &us_jp);
    assert_eq!(matching(&inbox(&c, Jp), &id, 1).len(), 1);

    // The receipt, back the same way: JP → US → KR.
    let (jp_us, _) = export(&c, Jp, Us, "jp-us");
    assert!(listed(&jp_us).contains(&("receipt".to_owned(), id.clone())), "{:?}", listed(&jp_us));
    import_ok(&c, Us, &jp_us);
    let (us_kr, _) = export(&c, Us, Kr, "us-kr");
    assert!(listed(&us_kr).contains(&("receipt".to_owned(), id.clone())), "{:?}", listed(&us_kr));
    let v = import_ok(&c, Kr, &us_kr);
    assert!(v["acknowledged"].as_u64().unwrap() >= 2, "US's bundle acknowledges KR's report and decision: {v}");
    wait_for("KR holds JP's receipt", || {
        let s = status(&c, Kr, &id);
        let jp = s.first()?["recipients"].as_array()?.iter().find(|r| r["recipient"] == "JPN")?.clone();
        jp["receipt_at_ms"].as_u64().map(|_| ())
    });
    // Acknowledged messages are not exported again.
    let (again, v) = export(&c, Kr, Us, "kr-us-again");
    assert_eq!(v["messages"], 0, "{v} {:?}", listed(&again));

    // On the wire: the body never crossed the US–JP link.
    assert_eq!(c.crossed_to(Jp).iter().filter(|(_, p)| contains(p, &d.body)).count(), 0);
    // Each audit log records what was exported and imported.
    for (p, want) in [
        (Kr, ["BUNDLE_EXPORT", "BUNDLE_IMPORT"]),
        (Us, ["BUNDLE_IMPORT", "BUNDLE_EXPORT"]),
        (Jp, ["BUNDLE_IMPORT", "BUNDLE_EXPORT"]),
    ] {
        let kinds = audit_kinds(&c, p);
        for k in want {
            assert!(kinds.iter().any(|x| x == k), "{p}'s audit log has {k}: {kinds:?}");
        }
    }
}

/// A bundle altered after export, a bundle for KR imported at JP, and a
/// report retracted before export are refused; each control passes.
#[test]
fn tampered_misaddressed_and_retracted_bundles_are_refused() {
    let c = TestCluster::start();
    let d = draft("missile", "top_secret", "USA,JPN", "offline_bad");
    let a = submit_args(&d, true);
    let id =
        cli_json(&c, Kr, &a.iter().map(String::as_str).collect::<Vec<_>>())["report_id"].as_str().unwrap().to_owned();
    let rid = wait_pending(&c, Kr, &id, 1)["request_id"].as_str().unwrap().to_owned();
    assert!(cli(&c, Kr, &["approve", &rid]).status.success());
    // Only a registered approver's signature exports or imports: a
    // submitter/reader key of KR is refused, and so is KR's approver key at US.
    let analyst = c.operator_key(Kr, "analyst").to_string_lossy().into_owned();
    let denied = c.dir.join("denied.tisa-bundle");
    let args = ["bundle", "export", "--to", "us", "--out", denied.to_str().unwrap(), "--key", &analyst];
    let err = one_line_error(&op(&c, Kr, false, &args), "export with a reader key");
    // The node refuses it: the key holds no role that may carry a bundle.
    assert!(err.contains("[UNAUTHORIZED]") && err.contains("approver role"), "{err}");
    assert!(!denied.exists(), "nothing was written");
    // Control: KR's approver exports.
    let (good, _) = export(&c, Kr, Us, "good");
    let bytes = std::fs::read(&good).unwrap();
    let kr_approver = c.approver_key(Kr, false).to_string_lossy().into_owned();
    let err = one_line_error(
        &op(&c, Us, false, &["bundle", "import", good.to_str().unwrap(), "--key", &kr_approver]),
        "import at US with KR's approver key",
    );
    assert!(err.contains("is a key of KOR, not USA"), "{err}");
    assert!(!inbox(&c, Us).iter().any(|e| e["report_id"] == id.as_str()), "nothing was taken");

    // 1. A byte of the body changed: refused before anything is sent.
    let at = bytes.windows(d.body.len()).position(|w| w == d.body.as_bytes()).expect("the body is in the bundle");
    let mut body_changed = bytes.clone();
    body_changed[at] ^= 0x01;
    let altered = c.dir.join("altered.tisa-bundle");
    std::fs::write(&altered, &body_changed).unwrap();
    let err = one_line_error(&import(&c, Us, &altered), "altered bundle");
    assert!(err.contains("altered"), "{err}");
    // 2. The signed document changed (its time): the node refuses the signature.
    let doc_at = bytes.windows(11).position(|w| w == b"created_at=").unwrap() + 11;
    let mut doc_changed = bytes.clone();
    doc_changed[doc_at] = if doc_changed[doc_at] == b'1' { b'2' } else { b'1' };
    let resigned = c.dir.join("doc-altered.tisa-bundle");
    std::fs::write(&resigned, &doc_changed).unwrap();
    let err = one_line_error(&import(&c, Us, &resigned), "bundle with an altered document");
    assert!(err.contains("signature"), "{err}");
    assert!(!inbox(&c, Us).iter().any(|e| e["report_id"] == id.as_str()), "nothing of it was taken");
    // 3. KR's bundle for US, imported at JP: refused.
    let err = one_line_error(&import(&c, Jp, &good), "a bundle for US at JP");
    assert!(err.contains("not for"), "{err}");
    // Control: the untouched bundle imports at US.
    import_ok(&c, Us, &good);
    wait_inbox(&c, Us, &id, 1);
    // A bundle US exported for KR, carried to JP: refused; at KR: taken.
    let (for_kr, _) = export(&c, Us, Kr, "us-kr");
    let err = one_line_error(&import(&c, Jp, &for_kr), "a bundle for KR at JP");
    assert!(err.contains("not for"), "{err}");
    import_ok(&c, Kr, &for_kr);

    // 4. Retracted before export: the export no longer carries it (control:
    // it did before), and an older bundle carrying it is refused.
    let d2 = draft("nuclear", "top_secret", "USA,JPN", "offline_retracted");
    let a2 = submit_args(&d2, true);
    let id2 =
        cli_json(&c, Kr, &a2.iter().map(String::as_str).collect::<Vec<_>>())["report_id"].as_str().unwrap().to_owned();
    let rid2 = wait_pending(&c, Kr, &id2, 1)["request_id"].as_str().unwrap().to_owned();
    assert!(cli(&c, Kr, &["approve", &rid2]).status.success());
    let (before, _) = export(&c, Kr, Us, "before-retraction");
    assert!(listed(&before).iter().any(|(k, r)| k == "report" && *r == id2), "control: {:?}", listed(&before));
    let out = cli(&c, Kr, &["retract", &id2, "--reason", "withdrawn"]);
    assert!(out.status.success(), "{}", describe(&out));
    let (after, _) = export(&c, Kr, Us, "after-retraction");
    assert!(!listed(&after).iter().any(|(_, r)| *r == id2), "{:?}", listed(&after));
    // The retraction reached US on-line; the stale bundle's report is refused there.
    wait_for("US knows the retraction", || audit_kinds(&c, Us).iter().any(|k| k == "RETRACTED").then_some(()));
    let out = import(&c, Us, &before);
    assert!(!out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused: Vec<&str> = v["refused"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(refused.iter().any(|r| r.contains("RETRACTED")), "{v}");
    assert!(!inbox(&c, Us).iter().any(|e| e["report_id"] == id2.as_str()), "the retracted report is not held");
}

/// A report delivered on-line, then carried off-line too (`bundle export
/// --report`: a courier copy, as while a link is down), is held once.
#[test]
fn a_report_delivered_on_line_and_imported_off_line_is_held_once() {
    let c = TestCluster::start();
    let d = draft("missile", "secret", "USA,JPN", "both_ways");
    let id = submit(&c, Kr, &d);
    let rid = wait_pending(&c, Kr, &id, 1)["request_id"].as_str().unwrap().to_owned();
    assert!(cli(&c, Kr, &["approve", &rid]).status.success());
    let online = wait_inbox(&c, Jp, &id, 1);
    assert_eq!(online["offline"], false, "{online}");

    let path = c.dir.join("kr-us-copy.tisa-bundle");
    let v =
        op_json(&c, Kr, true, &["bundle", "export", "--to", "us", "--out", path.to_str().unwrap(), "--report", &id]);
    assert_eq!(v["messages"], 2, "the report and KR's decision: {v}");
    import_ok(&c, Us, &path);
    let path = c.dir.join("us-jp-copy.tisa-bundle");
    let v =
        op_json(&c, Us, true, &["bundle", "export", "--to", "jp", "--out", path.to_str().unwrap(), "--report", &id]);
    assert_eq!(v["messages"], 1, "US's delivery: {v}");
    assert!(listed(&path).contains(&("delivery".to_owned(), id.clone())));
    let watch_before = audit_kinds(&c, Jp).iter().filter(|k| *k == "RECEIVED").count();
    let v = import_ok(&c, Jp, &path);
    assert_eq!(v["refused"].as_array().map(Vec::len), Some(0), "{v}");
    // Held once: one inbox entry, no second arrival in JP's audit log.
    assert_eq!(matching(&inbox(&c, Jp), &id, 1).len(), 1);
    assert_eq!(audit_kinds(&c, Jp).iter().filter(|k| *k == "RECEIVED").count(), watch_before);
    assert!(audit_kinds(&c, Jp).iter().any(|k| k == "BUNDLE_IMPORT"), "control: the bundle was imported");
}
