//! Operator rosters across processes (issue 14): each party lists its own
//! operators in a roster signed by its roster key, which the agreement
//! registers and points at. KR adds an operator by signing a new roster
//! version, without changing the agreement; a roster altered after signing,
//! or signed by another party's roster key, is refused (the node does not
//! start, `tisa roster show` says why) — each with its control.

use crate::common;

use std::path::Path;
use std::time::Duration;

use crate::common::cli::{describe, one_line_error, op, tisa};
use crate::common::cluster::TestCluster;
use crate::common::flow::{draft, wait_inbox};
use tisa_core::sign::RosterDoc;
use tisa_core::Party;

const WAIT: Duration = Duration::from_secs(60);

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// KR's current operators as `--operator NAME:ROLES:PUBLIC` arguments.
fn operators(roster: &Path) -> Vec<String> {
    let doc = RosterDoc::parse(&tisa_deploy::roster::read(roster).unwrap().bytes).unwrap();
    doc.operators.iter().map(tisa_deploy::roster::operator_arg).collect()
}

fn sign(party: &str, key: &Path, version: &str, ops: &[String], out: &Path) -> std::process::Output {
    let mut a: Vec<String> =
        ["roster", "sign", "--party", party, "--key", &s(key), "--version", version, "--out", &s(out)]
            .map(String::from)
            .to_vec();
    for o in ops {
        a.extend(["--operator".to_owned(), o.clone()]);
    }
    tisa(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

fn submit_as(c: &TestCluster, key: &Path, label: &str) -> std::process::Output {
    let mut a = draft("missile", "secret", "USA,JPN", label).args();
    a.extend(["--key".into(), s(key), "--json".into()]);
    op(c, Party::Kr, false, &a.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_party_adds_an_operator_by_its_own_signed_roster_and_forgeries_are_refused() {
    let mut c = TestCluster::builder().secured().start();
    let dir = c.dir.join("keys");
    let (agreement, roster) = (c.agreement(), dir.join("kr-roster.toml"));
    let text = std::fs::read_to_string(&agreement).unwrap();
    assert!(text.contains("[[roster]]") && text.contains("kr-roster.toml"), "the agreement points at the rosters");
    assert!(!text.contains("kr-analyst"), "operators are in the rosters, not the agreement");

    // KR's new operator, not yet on the roster: refused.
    let out = tisa(&[
        "keys",
        "generate",
        "--party",
        "kr",
        "--operator",
        "kr-lee",
        "--role",
        "submitter,reader",
        "--out",
        &s(&dir),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let lee = dir.join("kr-lee.key");
    let e = one_line_error(&submit_as(&c, &lee, "before"), "an operator not on the roster");
    assert!(e.contains("not registered"), "{e}");

    // KR signs roster version 2 with lee; the agreement does not change.
    let public = tisa_deploy::keys::load(&lee).unwrap().identity.public();
    let mut ops = operators(&roster);
    let lee_op = tisa_core::sign::RosterOperator {
        name: "kr-lee".into(),
        public,
        roles: vec![tisa_core::KeyRole::Submitter, tisa_core::KeyRole::Reader],
    };
    ops.push(tisa_deploy::roster::operator_arg(&lee_op));
    let genuine_v1 = std::fs::read(&roster).unwrap();
    let out = sign("kr", &dir.join("kr-roster.key"), "2", &ops, &roster);
    assert!(out.status.success(), "{}", describe(&out));
    c.restart_all(WAIT);
    assert_eq!(std::fs::read_to_string(&agreement).unwrap(), text, "the agreement is unchanged");
    let out = submit_as(&c, &lee, "after");
    assert!(out.status.success(), "lee, on KR's roster v2, submits: {}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["report_id"].as_str().unwrap().to_owned();
    let rq = common::flow::wait_request_id(&c, Party::Kr, &id, 1);
    assert!(op(&c, Party::Kr, true, &["approve", &rq]).status.success());
    wait_inbox(&c, Party::Jp, &id, 1);

    // Altered after signing (lee made an approver): refused; control: the genuine file.
    let genuine = std::fs::read_to_string(&roster).unwrap();
    let show = |what: &str| {
        let out = tisa(&["roster", "show", &s(&roster), "--agreement", &s(&agreement)]);
        (out.status.success(), describe(&out), what.to_owned())
    };
    assert!(show("genuine").0, "control: the genuine roster verifies: {}", show("genuine").1);
    // The document says version 2; the signature covers it.
    let tampered = genuine.replace("version=2", "version=9");
    std::fs::write(&roster, &tampered).unwrap();
    assert_ne!(tampered, genuine, "the test altered the roster");
    let (ok, out, _) = show("tampered");
    assert!(!ok, "an altered roster verifies: {out}");
    assert!(out.contains("roster"), "{out}");
    c.node(Party::Kr).terminate(WAIT).unwrap();
    let e = c.node(Party::Kr).restart(Duration::from_secs(20)).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("roster"), "the node refuses to start on it, saying why: {e}");

    // Signed by JP's roster key: refused too.
    let out = sign("kr", &dir.join("jp-roster.key"), "3", &ops, &roster);
    assert!(!out.status.success(), "the CLI refuses to sign KR's roster with JP's key");
    std::fs::write(&roster, &genuine_v1).unwrap();
    let jp_signed = {
        let jp = tisa_deploy::keys::load(&dir.join("jp-roster.key")).unwrap();
        let ops: Vec<_> = ops.iter().map(|o| tisa_deploy::roster::parse_operator(o).unwrap()).collect();
        tisa_deploy::roster::write(&roster, Party::Kr, 3, tisa_core::Timestamp(1), ops, &jp.identity).unwrap();
        std::fs::read_to_string(&roster).unwrap()
    };
    assert!(jp_signed.contains("tisa.v1.roster"));
    assert!(!show("jp-signed").0, "KR's roster signed by JP's roster key verifies");

    // Control: the genuine (v2) roster back, KR's node starts again.
    std::fs::write(&roster, &genuine).unwrap();
    c.node(Party::Kr).restart(WAIT).unwrap();
}
