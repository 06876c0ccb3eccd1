//! The agreement signed by all three parties (issue 17), across processes:
//! a node refuses a version that is not signed by a signer of each party,
//! or signed by keys the chain does not vouch for; nodes on different
//! versions stop trilateral releases until they agree; a version given
//! ahead of time (SIGHUP) takes effect on every node together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::cli::{cli, describe, one_line_error, tisa};
use crate::common::cluster::TestCluster;
use crate::common::flow::{draft, inbox, status, submit, wait_inbox, wait_recipient_state, wait_request_id};
use crate::common::wait::wait_until;
use serde_json::Value;
use tisa_core::{Party, Timestamp};
use tisa_deploy::chain;

const WAIT: Duration = Duration::from_secs(60);

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The agreement text without its `[[signature]]` tables.
fn unsigned(path: &Path) -> String {
    chain::strip_signatures(&std::fs::read_to_string(path).unwrap())
}

fn sign(path: &Path, keys: &Path, party: Party) {
    let out = tisa(&["agreement", "sign", &s(path), "--key", &s(&keys.join(format!("{}-signer.key", party.lower())))]);
    assert!(out.status.success(), "sign as {party}: {}", describe(&out));
}

/// `tisa node` for KR on `agreement`: what it says when it refuses to start
/// (it checks the agreement before it touches the network).
fn node_refuses(c: &TestCluster, agreement: &Path) -> String {
    let data = c.dir.join("kr-refused");
    let out = tisa(&[
        "node",
        "--party",
        "kr",
        "--agreement",
        &s(agreement),
        "--key",
        &s(&c.node_key(Party::Kr)),
        "--data-dir",
        &s(&data),
        "--nats",
        "nats://127.0.0.1:1",
    ]);
    one_line_error(&out, "a node on an agreement not in force")
}

/// `tisa health --json` of `party`, whatever its exit code (1 on a mismatch).
fn health(c: &TestCluster, party: Party) -> (bool, Value, String) {
    let out = cli(c, party, &["health", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("health: {e}: {}", describe(&out)));
    (out.status.success(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_version_not_signed_by_every_party_through_the_chain_is_refused() {
    let c = TestCluster::start();
    let (agreement, keys) = (c.agreement(), c.dir.join("keys"));
    let dir = c.dir.join("variants");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["kr-roster.toml", "us-roster.toml", "jp-roster.toml"] {
        std::fs::copy(keys.join(f), dir.join(f)).unwrap();
    }
    let ok = tisa(&["agreement", "check", &s(&agreement)]);
    assert!(ok.status.success(), "control: the generated agreement is in force: {}", describe(&ok));

    // Version 1 signed by KR and US only.
    let two = dir.join("two.toml");
    std::fs::write(&two, unsigned(&agreement)).unwrap();
    sign(&two, &keys, Party::Kr);
    sign(&two, &keys, Party::Us);
    let e = node_refuses(&c, &two);
    assert!(e.contains("not signed by JPN"), "{e}");
    // Control: JP's signature puts the very same text in force.
    sign(&two, &keys, Party::Jp);
    let ok = tisa(&["agreement", "check", &s(&two)]);
    assert!(ok.status.success(), "control: signed by all three: {}", describe(&ok));

    // Changed after the three signed it.
    let changed = dir.join("changed.toml");
    std::fs::write(
        &changed,
        std::fs::read_to_string(&two).unwrap().replace("request_expiry = \"24h\"", "request_expiry = \"48h\""),
    )
    .unwrap();
    let e = node_refuses(&c, &changed);
    assert!(e.contains("changed after it was signed"), "{e}");

    // Version 2 that swaps JP's signer: JP signs with a new key that only
    // version 2 registers. Version 1's JP signer never vouched for it.
    std::fs::copy(&two, dir.join("agreement-v1.toml")).unwrap();
    let out =
        tisa(&["keys", "generate", "--party", "jp", "--operator", "jp-usurper", "--role", "signer", "--out", &s(&dir)]);
    assert!(out.status.success(), "{}", describe(&out));
    let entry = String::from_utf8(out.stdout).unwrap();
    let v1_hash = chain::read(&dir.join("agreement-v1.toml")).unwrap().newest().sha256;
    let v2_text = |extra: &str| {
        let body: String =
            unsigned(&two).lines().filter(|l| !l.starts_with("version = ")).map(|l| format!("{l}\n")).collect();
        format!(
            "version = 2\neffective_at = \"{}\"\nprevious = {{ file = \"agreement-v1.toml\", sha256 = \"{}\" }}\n{body}{extra}",
            chain::format_time(Timestamp(now_ms())),
            chain::hex(&v1_hash)
        )
    };
    let skip = dir.join("skip.toml");
    std::fs::write(&skip, v2_text(&entry)).unwrap();
    sign(&skip, &keys, Party::Kr);
    sign(&skip, &keys, Party::Us);
    let out = tisa(&["agreement", "sign", &s(&skip), "--key", &s(&dir.join("jp-usurper.key"))]);
    assert!(out.status.success(), "{}", describe(&out));
    let e = node_refuses(&c, &skip);
    assert!(e.contains("not by a signer key that version 1 registers"), "{e}");
    // Control: version 1's JP signer signs the same version 2: in force.
    sign(&skip, &keys, Party::Jp);
    let e = node_refuses(&c, &skip);
    assert!(e.contains("not by a signer key that version 1 registers"), "a bad signature is never skipped: {e}");
    let good = dir.join("good.toml");
    std::fs::write(&good, v2_text(&entry)).unwrap();
    for p in Party::ALL {
        sign(&good, &keys, p);
    }
    let ok = tisa(&["agreement", "check", &s(&good)]);
    assert!(ok.status.success(), "control: version 2 signed by version 1's signers: {}", describe(&ok));
    let h = tisa(&["agreement", "history", &s(&good), "--json"]);
    let h: Value = serde_json::from_slice(&h.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 2, "{h}");
    assert_eq!(h[1]["previous_sha256"], h[0]["sha256"], "{h}");
    assert_eq!(h[1]["signed_by"].as_array().unwrap().len(), 3, "{h}");

    // A previous file that is not the one version 2 names.
    std::fs::write(dir.join("agreement-v1.toml"), std::fs::read_to_string(&changed).unwrap()).unwrap();
    let e = node_refuses(&c, &good);
    assert!(e.contains("previous file was changed"), "{e}");
}

#[test]
fn mismatched_versions_stop_trilateral_release_until_they_agree() {
    let mut c = TestCluster::start();
    let (agreement, keys) = (c.agreement(), c.dir.join("keys"));
    let original: PathBuf = c.dir.join("agreement.orig");
    std::fs::copy(&agreement, &original).unwrap();
    // JP is handed another text (the parties signed both: a review found
    // KR, US and JP on different versions) and restarted on it.
    std::fs::write(&agreement, unsigned(&original).replace("request_expiry = \"24h\"", "request_expiry = \"12h\""))
        .unwrap();
    for p in Party::ALL {
        sign(&agreement, &keys, p);
    }
    c.node(Party::Jp).restart_cleanly(WAIT).unwrap();
    std::fs::copy(&original, &agreement).unwrap();

    let hub = wait_until(std::time::Instant::now() + WAIT, "the hub to see JP's other version", || {
        let (ok, v, err) = health(&c, Party::Us);
        (!ok).then_some((v, err))
    });
    let m = hub.0["agreement"]["mismatches"].to_string();
    assert!(m.contains("JPN enforces agreement v1"), "{}", hub.0);
    assert!(hub.1.contains("trilateral releases stopped"), "{}", hub.1);

    let d = draft("missile", "secret", "USA,JPN", "mismatch");
    let id = submit(&c, Party::Kr, &d);
    let rq = wait_request_id(&c, Party::Kr, &id, 1);
    let out = cli(&c, Party::Kr, &["approve", &rq]);
    assert!(out.status.success(), "{}", describe(&out));
    // The hub holds it back: JP does not get it however long we look (the
    // hub's watch says so; nothing in JP's inbox).
    wait_until(std::time::Instant::now() + WAIT, "the hub to keep the release back", || {
        c.log(Party::Us).contains("HELD_FOR_AGREEMENT").then_some(())
    });
    assert!(inbox(&c, Party::Jp).iter().all(|i| i["report_id"] != id.as_str()), "released to JP on another version");

    // JP back on the agreement the others enforce: the release goes, once.
    c.node(Party::Jp).restart_cleanly(WAIT).unwrap();
    wait_inbox(&c, Party::Jp, &id, 1);
    let (_, v, _) = health(&c, Party::Us);
    assert_eq!(v["agreement"]["mismatches"], serde_json::json!([]), "aligned: {v}");
    assert_eq!(inbox(&c, Party::Jp).iter().filter(|i| i["report_id"] == id.as_str()).count(), 1);
}

#[test]
fn a_version_given_ahead_takes_effect_on_every_node_at_its_time() {
    let mut c = TestCluster::start();
    let (agreement, keys) = (c.agreement(), c.dir.join("keys"));
    let pids: Vec<_> = Party::ALL.iter().map(|p| c.node(*p).pid()).collect();
    // Version 2 narrows the scope to missiles, in effect in 20 s.
    let at = now_ms() + 20_000;
    let v = chain::amend(&agreement, &keys, Timestamp(at), |t| {
        t.replace("scope = [\"NK_NUCLEAR\", \"NK_MISSILE\"]", "scope = [\"NK_MISSILE\"]")
    })
    .unwrap();
    assert_eq!(v, 2);
    for p in Party::ALL {
        let pid = c.node(p).pid().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    }
    for p in Party::ALL {
        wait_until(std::time::Instant::now() + WAIT, &format!("{p} to stage version 2"), || {
            let (_, v, _) = health(&c, p);
            (v["agreement"]["staged"].as_array().is_some_and(|a| !a.is_empty())).then_some(())
        });
        let (_, v, _) = health(&c, p);
        assert_eq!(v["agreement"]["version"], 1, "{p} switched before the agreed time: {v}");
    }
    assert!(now_ms() < at, "the test staged too slowly to check the switch time");
    for p in Party::ALL {
        wait_until(std::time::Instant::now() + WAIT, &format!("{p} to switch to version 2"), || {
            let (_, v, _) = health(&c, p);
            (v["agreement"]["version"] == 2).then_some(())
        });
        assert!(now_ms() >= at, "{p} switched early");
    }
    let after: Vec<_> = Party::ALL.iter().map(|p| c.node(*p).pid()).collect();
    assert_eq!(pids, after, "no node was restarted");
    // Version 2 is what every node enforces: nuclear is out of scope, a missile release flows.
    let n = submit(&c, Party::Kr, &draft("nuclear", "secret", "USA,JPN", "after_switch_nuclear"));
    wait_recipient_state(&c, Party::Kr, &n, 1, "JPN", "NOT_RELEASABLE");
    let m = submit(&c, Party::Kr, &draft("missile", "secret", "USA,JPN", "after_switch_missile"));
    let rq = wait_request_id(&c, Party::Kr, &m, 1);
    assert!(cli(&c, Party::Kr, &["approve", &rq]).status.success());
    wait_inbox(&c, Party::Jp, &m, 1);
    let st = status(&c, Party::Kr, &n)[0].to_string();
    assert!(st.contains("outside the trilateral scope"), "{st}");
    let (_, v, _) = health(&c, Party::Us);
    assert_eq!(v["agreement"]["mismatches"], serde_json::json!([]), "{v}");

    // A version whose time has already passed is not taken by a reload
    // (it would change what was already decided): refused, said in health.
    chain::amend(&agreement, &keys, Timestamp(now_ms()), |t| t.to_owned()).unwrap();
    let pid = c.node(Party::Kr).pid().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let v = wait_until(std::time::Instant::now() + WAIT, "KR to refuse the late version", || {
        let (_, v, _) = health(&c, Party::Kr);
        v["agreement"]["reload_error"].as_str().map(|_| v.clone())
    });
    assert!(v["agreement"]["reload_error"].as_str().unwrap().contains("has passed"), "{v}");
    assert_eq!(v["agreement"]["version"], 2, "{v}");
}
