//! Report flows through the real CLI on a [`TestCluster`]: drafts, submit,
//! pending, inbox, status, decisions, and the canaries that make an absence
//! provable ([`relay_canary`], [`us_canary`], [`assert_never_received`]).

use std::process::Output;

use serde_json::Value;
use tisa_core::Party;

use super::canary;
use super::cli::{cli, cli_json, describe};
use super::cluster::TestCluster;
use super::wait::wait_for;

// -------------------------------------------------------------- reports

/// A report for `tisa submit`.
#[derive(Clone, Debug)]
pub struct Draft {
    pub category: &'static str,
    pub classification: &'static str,
    pub rel_to: &'static str,
    pub title: String,
    pub body: String,
    pub tearline: Option<String>,
    pub source: Option<String>,
    pub corrects: Option<String>,
}

/// A draft with canary title and body (labelled `label`).
pub fn draft(category: &'static str, classification: &'static str, rel_to: &'static str, label: &str) -> Draft {
    Draft {
        category,
        classification,
        rel_to,
        title: canary(&format!("{label}_title")),
        body: canary(&format!("{label}_body")),
        tearline: None,
        source: None,
        corrects: None,
    }
}

impl Draft {
    /// The `tisa submit` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "submit",
            "--category",
            self.category,
            "--classification",
            self.classification,
            "--rel-to",
            self.rel_to,
            "--title",
            &self.title,
            "--body",
            &self.body,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, v) in [("--tearline", &self.tearline), ("--source", &self.source), ("--corrects", &self.corrects)] {
            if let Some(v) = v {
                a.push(flag.to_owned());
                a.push(v.clone());
            }
        }
        a
    }
}

/// Runs `tisa submit` (text mode, no `--json`).
pub fn submit_raw(c: &TestCluster, party: Party, d: &Draft) -> Output {
    let args = d.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(c, party, &args)
}

/// Submits with `--json`; returns the reply (`report_id`, `revision`, `notes`).
pub fn submit_json(c: &TestCluster, party: Party, d: &Draft) -> Value {
    let args = d.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_json(c, party, &args)
}

/// Submits; returns the new report id.
pub fn submit(c: &TestCluster, party: Party, d: &Draft) -> String {
    let v = submit_json(c, party, d);
    v["report_id"].as_str().unwrap_or_else(|| panic!("no report_id in {v}")).to_owned()
}

// ---------------------------------------------------------------- queries

fn items(v: Value, what: &str) -> Vec<Value> {
    match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        _ => panic!("{what}: no items array in {v}"),
    }
}

/// Release requests awaiting `party`'s decision (first 1000).
pub fn pending(c: &TestCluster, party: Party) -> Vec<Value> {
    items(cli_json(c, party, &["pending", "--limit", "1000"]), "pending")
}

/// `party`'s whole inbox, page after page (a page holds at most what the
/// broker takes in one message).
pub fn inbox(c: &TestCluster, party: Party) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["inbox", "--limit", "1000"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let page = cli_json(c, party, &args);
        after = page["next_after"].as_str().map(str::to_owned);
        all.extend(items(page, "inbox"));
        if after.is_none() {
            return all;
        }
    }
}

/// `party`'s inbox as plain text (what an operator reads).
pub fn inbox_text(c: &TestCluster, party: Party) -> String {
    let out = cli(c, party, &["inbox", "--limit", "1000"]);
    assert!(out.status.success(), "inbox as {party}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Status of every revision of one of `party`'s reports.
pub fn status(c: &TestCluster, party: Party, report_id: &str) -> Vec<Value> {
    items(cli_json(c, party, &["status", report_id]), "status")
}

/// `tisa health --json`.
pub fn health(c: &TestCluster, party: Party) -> Value {
    cli_json(c, party, &["health"])
}

/// A counter from `tisa health --json`.
pub fn counter(c: &TestCluster, party: Party, name: &str) -> u64 {
    let h = health(c, party);
    h[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {h}"))
}

/// Items of `list` about report `id` revision `rev`.
pub fn matching<'a>(list: &'a [Value], id: &str, rev: u64) -> Vec<&'a Value> {
    list.iter().filter(|v| v["report_id"] == id && v["revision"] == rev).collect()
}

/// The state of `recipient` (trigraph) in one revision's status item.
pub fn recipient_state(item: &Value, recipient: &str) -> Option<String> {
    item["recipients"]
        .as_array()?
        .iter()
        .find(|r| r["recipient"] == recipient)
        .and_then(|r| r["state"].as_str())
        .map(str::to_owned)
}

/// Waits until `party` has a pending request for `id` revision `rev`; returns it.
pub fn wait_pending(c: &TestCluster, party: Party, id: &str, rev: u64) -> Value {
    wait_for(&format!("{party} has a pending request for {id} r{rev}"), || {
        matching(&pending(c, party), id, rev).first().map(|v| (*v).clone())
    })
}

/// Waits until `party`'s pending request for `id` r`rev` appears; returns its id.
pub fn wait_request_id(c: &TestCluster, party: Party, id: &str, rev: u64) -> String {
    let p = wait_pending(c, party, id, rev);
    p["request_id"].as_str().unwrap_or_else(|| panic!("no request_id in {p}")).to_owned()
}

/// Waits until `party`'s inbox holds `id` revision `rev`; returns the item.
pub fn wait_inbox(c: &TestCluster, party: Party, id: &str, rev: u64) -> Value {
    wait_for(&format!("{party}'s inbox holds {id} r{rev}"), || {
        matching(&inbox(c, party), id, rev).first().map(|v| (*v).clone())
    })
}

/// Waits until `owner`'s status of `id` r`rev` shows `recipient` in `state`.
pub fn wait_recipient_state(c: &TestCluster, owner: Party, id: &str, rev: u64, recipient: &str, state: &str) {
    wait_for(&format!("{owner}'s status shows {recipient} {state} for {id} r{rev}"), || {
        let s = status(c, owner, id);
        let item = s.iter().find(|v| v["revision"] == rev)?;
        (recipient_state(item, recipient).as_deref() == Some(state)).then_some(())
    })
}

/// Waits until `owner`'s status of `id` r`rev` shows hub state `hub`.
pub fn wait_hub_state(c: &TestCluster, owner: Party, id: &str, rev: u64, hub: &str) {
    wait_for(&format!("{owner}'s status shows hub {hub} for {id} r{rev}"), || {
        let s = status(c, owner, id);
        let item = s.iter().find(|v| v["revision"] == rev)?;
        (item["hub"] == hub).then_some(())
    })
}

/// Approves a request (in full) as `party`; asserts success.
pub fn approve(c: &TestCluster, party: Party, request_id: &str) {
    let v = cli_json(c, party, &["approve", request_id]);
    assert_eq!(v["decision"], "approved", "{v}");
}

/// Denies a request as `party`; asserts success.
pub fn deny(c: &TestCluster, party: Party, request_id: &str, reason: &str) {
    let v = cli_json(c, party, &["deny", request_id, "--reason", reason]);
    assert_eq!(v["decision"], "denied", "{v}");
}

// ------------------------------------------------------------- barriers

/// A canary relayed the trilateral way: `originator` (KR or JP) submits an
/// in-scope report releasable to the other nation, approves it, and it is
/// waited for in the other nation's inbox. CONFIDENTIAL, so that it passes
/// any ceiling a test sets. Returns its id.
///
/// Everything `originator` sent the hub before (reports, decisions) and
/// everything the hub sent the recipient because of it travelled the same
/// ordered connections before this canary, so once it has arrived, an absence
/// at the recipient is real.
pub fn relay_canary(c: &TestCluster, originator: Party) -> String {
    let recipient = originator.other_nation().expect("a nation");
    let rel = if originator == Party::Kr { "USA,JPN" } else { "USA,KOR" };
    let d = draft("missile", "confidential", rel, "relay_canary");
    let id = submit(c, originator, &d);
    let rid = wait_request_id(c, originator, &id, 1);
    approve(c, originator, &rid);
    let got = wait_inbox(c, recipient, &id, 1);
    assert_eq!(got["body"], d.body.as_str(), "{got}");
    c.note_barrier(recipient, &d.body);
    id
}

/// A canary sent bilaterally by the hub to `nation`: the US submits its own
/// report releasable to `nation` only, and it is waited for in `nation`'s
/// inbox. Everything the hub sent `nation` before this submission arrives
/// before it. Returns its id.
pub fn us_canary(c: &TestCluster, nation: Party) -> String {
    let rel = if nation == Party::Kr { "KOR" } else { "JPN" };
    let d = draft("other", "confidential", rel, "us_canary");
    let id = submit(c, Party::Us, &d);
    let got = wait_inbox(c, nation, &id, 1);
    assert_eq!(got["basis"], "BILATERAL", "{got}");
    c.note_barrier(nation, &d.body);
    id
}

/// Asserts that `party` never received report `id` (any revision): it is not
/// in `party`'s inbox, none of `secrets` appears anywhere in its inbox (JSON
/// or text), and — on the wire — no delivery of `id` and none of `secrets`
/// ever crossed the hub→`party` link. Call it only after a canary
/// ([`relay_canary`], [`us_canary`]) has arrived at `party`.
pub fn assert_never_received(c: &TestCluster, party: Party, id: &str, secrets: &[&str]) {
    let marker = c
        .barrier(party)
        .unwrap_or_else(|| panic!("test bug: assert absence at {party} only after a canary has arrived there"));
    let json = cli_json(c, party, &["inbox", "--limit", "1000"]);
    let list = items(json.clone(), "inbox");
    assert!(list.iter().all(|v| v["report_id"] != id), "{party} must never receive {id}; inbox: {json}");
    let text = inbox_text(c, party);
    let json = json.to_string();
    for s in secrets {
        assert!(!json.contains(s) && !text.contains(s), "{party}'s inbox shows {s:?}:\n{json}\n{text}");
    }
    c.assert_never_crossed(party, &marker, secrets, &[id]);
}
