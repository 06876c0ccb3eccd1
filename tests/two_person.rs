//! The two-person rule across processes, on the generated deployment whose
//! agreement (the built-in one) turns it on (issue 14): it compares keys,
//! never names, and a standing grant needs a second approver's co-signature
//! from that approver's own process. Each attack with its control: the same
//! attempt accepted once the agreement's rule is off (edited, nodes
//! restarted: the rule is agreed policy, never a node option). Both broker
//! modes (shared; one server per nation).

use crate::in_both_broker_modes;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::cli::{describe, grant_in_force, one_line_error, op, op_args, op_json, tisa, tisa_command};
use crate::common::cluster::{Broker, TestCluster};
use crate::common::flow::{draft, inbox, submit_json, wait_inbox, wait_request_id};
use crate::common::wait::wait_until;
use serde_json::Value;
use tisa_core::Party;

const WAIT: Duration = Duration::from_secs(60);

in_both_broker_modes!(
    one_key_cannot_submit_and_approve_the_same_release,
    a_single_approvers_grant_releases_nothing_until_cosigned,
);

/// Turns the agreement's two-person rule off (version 2, in effect now,
/// signed by the three parties) and restarts every node on it.
fn rule_off(c: &mut TestCluster) {
    let path = c.agreement();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("two_person_rule = true"), "the built-in agreement has the rule on");
    let keys = path.parent().unwrap();
    tisa_deploy::chain::amend(&path, keys, tisa_core::Timestamp(now_ms()), |t| {
        t.replace("two_person_rule = true", "two_person_rule = false")
    })
    .unwrap();
    c.restart_all(WAIT);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn key_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn jp_has(c: &TestCluster, id: &str) -> bool {
    inbox(c, Party::Jp).iter().any(|i| i["report_id"] == id)
}

/// One person holding both the submitter and the approver role (one key)
/// cannot approve the release of what that key submitted; another
/// approver's key can. Control: with the rule off the same approval goes
/// through.
fn one_key_cannot_submit_and_approve_the_same_release(broker: Broker) {
    let mut c = TestCluster::builder().broker(broker).start();
    // KR registers a duty officer with both roles (one key) and restarts.
    let dir = c.dir.join("keys");
    let out = tisa(&[
        "keys",
        "generate",
        "--party",
        "kr",
        "--operator",
        "kr-duty",
        "--role",
        "submitter,approver,reader",
        "--out",
        &key_arg(&dir),
        "--append-to",
        &key_arg(&c.agreement()),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    // The key is in the agreement once the three parties sign it again.
    tisa_deploy::chain::resign_all(&c.agreement(), &dir).unwrap();
    c.restart_all(WAIT);
    let duty = key_arg(&dir.join("kr-duty.key"));

    // Submitted with the key piped on stdin (as into a container): the CLI
    // reads a key file once, so `--key /dev/stdin` works.
    let mut a = draft("missile", "secret", "USA,JPN", "duty").args();
    a.extend(["--key".into(), "/dev/stdin".into(), "--json".into()]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let args = op_args(&c, Party::Kr, false, &a);
    let mut cmd = tisa_command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(dir.join("kr-duty.key")).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "submit with the key on stdin: {}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["report_id"].as_str().unwrap().to_owned();
    let rq = wait_request_id(&c, Party::Kr, &id, 1);

    // The duty officer approves its own submission: refused, one clear line.
    let e = one_line_error(&op(&c, Party::Kr, false, &["approve", &rq, "--key", &duty]), "self-approval");
    assert!(e.contains("two-person rule"), "{e}");
    assert!(!jp_has(&c, &id));

    // A second report: another approver's key releases it.
    let mut b = draft("missile", "secret", "USA,JPN", "duty2").args();
    b.extend(["--key".into(), duty.clone()]);
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let id2 = op_json(&c, Party::Kr, false, &b)["report_id"].as_str().unwrap().to_owned();
    let rq2 = wait_request_id(&c, Party::Kr, &id2, 1);
    let ok = op(&c, Party::Kr, true, &["approve", &rq2]);
    assert!(ok.status.success(), "{}", describe(&ok));
    wait_inbox(&c, Party::Jp, &id2, 1);
    assert!(!jp_has(&c, &id), "the self-approved report never reached JP");

    // The agreement without the rule, every node restarted: the refused
    // self-approval stays refused (replay does not re-evaluate a refused
    // command under the new agreement); the request is still open.
    rule_off(&mut c);
    wait_request_id(&c, Party::Kr, &id, 1);
    assert!(!jp_has(&c, &id), "a refused approval took effect at a restart under a new agreement");
    // Control: without the rule the duty officer's new approval is taken.
    let out = op(&c, Party::Kr, false, &["approve", &rq, "--key", &duty]);
    assert!(out.status.success(), "without the rule the duty officer may approve: {}", describe(&out));
    wait_inbox(&c, Party::Jp, &id, 1);
}

/// Under the rule a standing grant from one approver is only proposed: it
/// releases nothing, its proposer's key cannot co-sign it, and it takes
/// effect once a second approver co-signs it with `tisa standing cosign`.
/// Control: with the rule off the single approver's grant is in force at once.
fn a_single_approvers_grant_releases_nothing_until_cosigned(broker: Broker) {
    let mut c = TestCluster::builder().broker(broker).start();
    let args = ["--to", "jp", "--category", "missile", "--max-classification", "secret"];
    let mut g = vec!["standing", "grant"];
    g.extend_from_slice(&args);
    let v = op_json(&c, Party::Kr, true, &g);
    assert_eq!(v["items"][0]["proposed"], true, "{v}");
    let grant_id = v["items"][0]["grant_id"].as_str().unwrap().to_owned();

    // Proposed: a covered report waits for a per-item decision at KR.
    let id = submit_json(&c, Party::Kr, &draft("missile", "secret", "USA,JPN", "proposed"))["report_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_request_id(&c, Party::Kr, &id, 1);
    let hub: Value = op_json(&c, Party::Us, false, &["standing", "list"]);
    assert!(!hub.to_string().contains(&grant_id), "the hub holds no proposal: {hub}");

    // The proposer's own key cannot co-sign.
    let first = key_arg(&c.approver_key(Party::Kr, false));
    let e = one_line_error(
        &op(&c, Party::Kr, false, &["standing", "cosign", &grant_id, "--key", &first]),
        "co-signing one's own grant",
    );
    assert!(e.contains("two-person rule"), "{e}");
    // Nor the analyst (no approver role).
    let analyst = key_arg(&c.operator_key(Party::Kr, "analyst"));
    let e = one_line_error(
        &op(&c, Party::Kr, false, &["standing", "cosign", &grant_id, "--key", &analyst]),
        "co-signing without the approver role",
    );
    assert!(e.contains("approver"), "{e}");

    // The second approver co-signs: in force; the next covered report flows.
    let second = key_arg(&c.approver_key(Party::Kr, true));
    let v = op_json(&c, Party::Kr, false, &["standing", "cosign", &grant_id, "--key", &second]);
    assert_eq!((v["items"][0]["proposed"].clone(), v["items"][0]["cosigned"].clone()), (false.into(), true.into()));
    wait_until(Instant::now() + WAIT, "the hub holds the co-signed grant", || {
        op_json(&c, Party::Us, false, &["standing", "list"]).to_string().contains(&grant_id).then_some(())
    });
    let covered = submit_json(&c, Party::Kr, &draft("missile", "secret", "USA,JPN", "cosigned"))["report_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_inbox(&c, Party::Jp, &covered, 1);
    assert!(!jp_has(&c, &id), "the report submitted under the proposal waits for its own decision");

    // Control: without the rule one approver's grant is in force at once.
    rule_off(&mut c);
    let v = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "nuclear", "--max-classification", "secret"]);
    assert_eq!(v["items"][0]["proposed"], false, "{v}");
    assert_eq!(v["items"][0]["cosigned"], false, "in force on one signature: {v}");
}
