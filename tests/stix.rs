//! STIX 2.1 and TAXII 2.1 with the ecosystem's own clients, on real node
//! processes: releases flow, `tisa taxii` serves KR's holdings and the OASIS
//! `taxii2-client` pulls them (paging, `added_after`), `stix2` parses and
//! `stix2-validator` validates every page and every `tisa export` bundle;
//! credentials are required; KR's collection holds exactly what KR holds
//! (control: JP's holds JP's). Then the round trip: JP's export of a KR
//! report, fed back by `tisa feed stix`, is refused at JP (laundering) and
//! taken by KR on another deployment with the same content and markings.
//!
//! The Python clients (stix2 3.0.2, taxii2-client 2.3.0, stix2-validator
//! 3.2.0) are installed by `scripts/test` into `.tisa/py`.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;
use tisa_core::Party;

/// `.tisa/py`, where `scripts/test` installs the Python clients.
fn python_path() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tisa").join("py");
    assert!(
        p.join("taxii2client").is_dir() && p.join("stix2validator").is_dir() && p.join("stix2").is_dir(),
        "the Python STIX clients are missing: run ./scripts/test (or `python3 -m pip install --target .tisa/py \
         stix2==3.0.2 taxii2-client==2.3.0 stix2-validator==3.2.0`)"
    );
    p
}

/// Runs tests/fixtures/stix_clients.py with `args`; its JSON output.
fn clients(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stix_clients.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .env("PYTHONPATH", python_path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3");
    assert!(out.status.success(), "stix_clients.py {args:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stix_clients.py output: {e}: {}", describe(&out)))
}

fn scratch(c: &TestCluster, name: &str) -> PathBuf {
    let d = c.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `tisa export --format stix` as `party` (its analyst's reader key) into a file.
fn export(c: &TestCluster, party: Party, out: &Path) -> Value {
    let key = c.operator_key(party, "analyst");
    let o = op(
        c,
        party,
        false,
        &["export", "--format", "stix", "--out", out.to_str().unwrap(), "--key", key.to_str().unwrap()],
    );
    assert!(o.status.success(), "export as {party}: {}", describe(&o));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// A running `tisa taxii` for `party`, with user `<p>-analyst` (password
/// `pw`, bearer secret `tok`). Returns it and its discovery URL.
fn taxii_server(c: &TestCluster, party: Party) -> (Background, String) {
    taxii_server_with(c, party, "")
}

/// [`taxii_server`] with `extra` appended to its config.
fn taxii_server_with(c: &TestCluster, party: Party, extra: &str) -> (Background, String) {
    let dir = scratch(c, &format!("taxii-{}", party.lower()));
    let hash = |s: &str| {
        let mut cmd = tisa_command(&["taxii", "--hash-secret"]);
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), s.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let cfg = dir.join("taxii.toml");
    let text = format!(
        "node_config = {:?}\nnats = {:?}\nlisten = \"127.0.0.1:0\"\n[[user]]\nname = \"{p}-analyst\"\nkey = {:?}\npassword_hash = {:?}\ntoken_hash = {:?}\n",
        c.cli_config(party).unwrap(),
        c.nats_of(party).url(),
        c.operator_key(party, "analyst"),
        hash(&format!("pw-{p}", p = party.lower())),
        hash("tok"),
        p = party.lower(),
    );
    std::fs::write(&cfg, text + extra).unwrap();
    let mut bg = Background::spawn_args(&["taxii".into(), "--config".into(), cfg.to_string_lossy().into_owned()]);
    let line = bg.wait_stdout("the listening line", |l| l.starts_with("tisa taxii listening on "));
    let url = line.split_whitespace().nth(4).unwrap().to_owned();
    (bg, url)
}

fn pull(party: Party, url: &str) -> Value {
    let p = party.lower();
    clients(&["pull", url, &format!("{p}-analyst"), &format!("pw-{p}"), &format!("{p}-analyst.tok")])
}

fn report_ids(pulled: &Value) -> BTreeSet<String> {
    pulled["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "report")
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn stix_report(id: &str) -> String {
    tisa_stix::ids::report(id)
}

#[test]
fn taxii_clients_pull_exactly_what_kr_holds() {
    let c = TestCluster::builder().secured().start();
    // JP → KR, tearline only.
    let mut j1 = draft("missile", "secret", "USA,KOR", "j1");
    j1.tearline = Some(canary("j1_tearline"));
    let j1_id = submit(&c, Party::Jp, &j1);
    let rid = wait_request_id(&c, Party::Jp, &j1_id, 1);
    let v = cli_json(&c, Party::Jp, &["approve", &rid, "--tearline-only"]);
    assert_eq!(v["decision"], "approved (tearline only)", "{v}");
    wait_inbox(&c, Party::Kr, &j1_id, 1);
    // JP → KR in full, corrected (r2), then retracted.
    let j2 = draft("nuclear", "confidential", "USA,KOR", "j2");
    let j2_id = submit(&c, Party::Jp, &j2);
    approve(&c, Party::Jp, &wait_request_id(&c, Party::Jp, &j2_id, 1));
    wait_inbox(&c, Party::Kr, &j2_id, 1);
    let mut j2b = draft("nuclear", "confidential", "USA,KOR", "j2b");
    j2b.corrects = Some(j2_id.clone());
    assert_eq!(submit(&c, Party::Jp, &j2b), j2_id);
    approve(&c, Party::Jp, &wait_request_id(&c, Party::Jp, &j2_id, 2));
    wait_inbox(&c, Party::Kr, &j2_id, 2);
    let v = cli_json(&c, Party::Jp, &["retract", &j2_id, "--reason", "superseded"]);
    assert_eq!(v["report_id"], j2_id.as_str(), "{v}");
    wait_for("KR sees the retraction", || {
        inbox(&c, Party::Kr).iter().any(|i| i["report_id"] == j2_id.as_str() && i["retracted"] == true).then_some(())
    });
    // US → KR bilateral; US → JP only; KR → JP: KR holds none of the last two.
    let u1_id = submit(&c, Party::Us, &draft("other", "secret", "KOR", "u1"));
    wait_inbox(&c, Party::Kr, &u1_id, 1);
    let u2 = draft("other", "secret", "JPN", "u2");
    let u2_id = submit(&c, Party::Us, &u2);
    wait_inbox(&c, Party::Jp, &u2_id, 1);
    let k1 = draft("missile", "secret", "USA,JPN", "k1");
    let k1_id = submit(&c, Party::Kr, &k1);
    approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &k1_id, 1));
    wait_inbox(&c, Party::Jp, &k1_id, 1);

    let (kr_server, kr_url) = taxii_server(&c, Party::Kr);
    let kr = pull(Party::Kr, &kr_url);

    // Credentials: none or a wrong password is refused; control: the right
    // password (the whole pull below) and the bearer token work.
    assert_eq!(kr["no_credentials_status"], 401, "{kr}");
    assert_eq!(kr["wrong_password_status"], 401, "{kr}");
    assert_eq!(kr["bearer_status"], 200, "{kr}");
    assert_eq!(kr["collections"].as_array().unwrap().len(), 1);
    assert_eq!(kr["collections"][0]["can_read"], true);
    assert_eq!(kr["collections"][0]["can_write"], false);
    // Exactly what KR holds.
    let held: BTreeSet<String> = [&j1_id, &j2_id, &u1_id].iter().map(|i| stix_report(i)).collect();
    assert_eq!(report_ids(&kr), held, "KR's collection: {kr}");
    let text = kr.to_string();
    for secret in [&u2.title, &u2.body, &k1.title, &k1.body, &j1.title, &j1.body] {
        assert!(!text.contains(secret.as_str()), "KR's TAXII pull shows {secret}");
    }
    // The tearline-only release: the tearline alone.
    let tl = kr["objects"].as_array().unwrap().iter().find(|o| o["id"] == stix_report(&j1_id)).unwrap();
    assert_eq!(tl["object"]["description"], j1.tearline.clone().unwrap().as_str());
    // Paging and versions: every page validated and parsed, nothing missing.
    assert!(kr["pages"].as_u64().unwrap() >= 3, "{kr}");
    assert_eq!(kr["validator_errors"], Value::Array(vec![]), "stix2-validator errors: {kr}");
    let all_versions = kr["all_versions"].as_array().unwrap();
    assert_eq!(kr["parsed"].as_u64().unwrap() as usize, kr["objects"].as_array().unwrap().len() + all_versions.len());
    let j2_versions = all_versions.iter().filter(|v| v[0] == stix_report(&j2_id).as_str()).count();
    assert_eq!(j2_versions, 3, "r1, r2 and the revoked version: {kr}");
    let j2_last = kr["objects"].as_array().unwrap().iter().find(|o| o["id"] == stix_report(&j2_id)).unwrap();
    assert_eq!(j2_last["revoked"], true, "{j2_last}");
    // added_after: exactly the versions the manifest dates after the cut.
    let cut = kr["added_after"].as_str().unwrap();
    let expected: BTreeSet<(String, String)> = kr["manifest"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["date_added"].as_str().unwrap() > cut)
        .map(|m| (m["id"].as_str().unwrap().to_owned(), m["version"].as_str().unwrap().to_owned()))
        .collect();
    let after: BTreeSet<(String, String)> = kr["after_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v[0].as_str().unwrap().to_owned(), v[1].as_str().unwrap().to_owned()))
        .collect();
    assert!(!after.is_empty() && after.len() < all_versions.len(), "{kr}");
    assert_eq!(after, expected);
    assert_eq!(kr["headers"]["content-type"], "application/taxii+json;version=2.1");
    assert!(
        kr["headers"]["x-taxii-date-added-first"].is_string() && kr["headers"]["x-taxii-date-added-last"].is_string()
    );
    // Every pull is a read the node authorised and audited as KR's analyst.
    let audit = common::fault::audit(&c, Party::Kr);
    let reads: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "READ" && e["actor"].as_str().is_some_and(|a| a.contains("kr-analyst")))
        .collect();
    assert!(reads.iter().any(|e| e.to_string().contains(&j2_id)), "no READ naming {j2_id} by kr-analyst: {reads:?}");
    drop(kr_server);

    // Control: JP's collection holds what JP holds (KR's and the US's reports for JP).
    let (_jp_server, jp_url) = taxii_server(&c, Party::Jp);
    let jp = pull(Party::Jp, &jp_url);
    let jp_ids = report_ids(&jp);
    assert!(jp_ids.contains(&stix_report(&k1_id)) && jp_ids.contains(&stix_report(&u2_id)), "{jp}");
    assert!(!jp_ids.contains(&stix_report(&u1_id)), "{jp}");
    assert_eq!(jp["validator_errors"], Value::Array(vec![]), "{jp}");

    // `tisa export` bundles: valid, parsed, and the same reports as TAXII.
    let dir = scratch(&c, "export");
    let (kr_file, jp_file) = (dir.join("kr.json"), dir.join("jp.json"));
    let kr_bundle = export(&c, Party::Kr, &kr_file);
    export(&c, Party::Jp, &jp_file);
    let v = clients(&["validate", kr_file.to_str().unwrap(), jp_file.to_str().unwrap()]);
    for f in v["files"].as_array().unwrap() {
        assert_eq!(f["valid"], true, "{f}");
        assert_eq!(f["errors"], Value::Array(vec![]), "{f}");
        assert!(f["parsed"].as_u64().unwrap() > 0, "{f}");
    }
    let exported: BTreeSet<String> = kr_bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "report")
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported, held);
}

#[test]
fn round_trip_and_no_laundering() {
    let dir = std::env::temp_dir().join(format!("tisa-stix-rt-{}", canary("d")));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("jp.json");
    let mut k = draft("missile", "secret", "USA,JPN", "rt");
    k.tearline = Some(canary("rt_tearline"));
    k.source = Some(canary("rt_source"));
    let (jp_item, jp_bundle) = {
        let c = TestCluster::builder().secured().start();
        let id = submit(&c, Party::Kr, &k);
        approve(&c, Party::Kr, &wait_request_id(&c, Party::Kr, &id, 1));
        let item = wait_inbox(&c, Party::Jp, &id, 1);
        let b = export(&c, Party::Jp, &bundle);
        // JP cannot release as its own what it received from KR: refused.
        let out = op(&c, Party::Jp, false, &["feed", "stix", bundle.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("came from tisa") && err.contains("only KOR may release it"), "{err}");
        assert!(status_list(&c, Party::Jp).is_empty(), "JP submitted nothing");
        // Control: a national tool's bundle, the same report without tisa's marks, goes through at JP.
        let national = dir.join("national.json");
        std::fs::write(&national, national_bundle(&b)).unwrap();
        let out = op(&c, Party::Jp, false, &["feed", "stix", "--json", national.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(status_list(&c, Party::Jp).len(), 1);
        (item, b)
    };
    // Another deployment: KR, the originator, brings its report home.
    let c = TestCluster::builder().secured().start();
    let out = op(&c, Party::Kr, false, &["feed", "stix", "--json", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let line: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["outcome"], "new", "{line}");
    let new_id = line["report_id"].as_str().unwrap().to_owned();
    // Fed again: nothing new (same STIX id and version).
    let again = op(&c, Party::Kr, false, &["feed", "stix", "--json", bundle.to_str().unwrap()]);
    assert!(
        again.status.success() && String::from_utf8_lossy(&again.stderr).contains("1 unchanged"),
        "{}",
        describe(&again)
    );
    // The US holds it (bilateral): same content as JP held in the first deployment.
    let us_item = wait_inbox(&c, Party::Us, &new_id, 1);
    for field in ["title", "body", "tearline", "source", "category", "classification", "releasable_to"] {
        assert_eq!(us_item[field], jp_item[field], "{field}: {us_item} vs {jp_item}");
    }
    // Same markings: the US's export marks it as JP's did.
    let us_bundle = export(&c, Party::Us, &dir.join("us.json"));
    assert_eq!(markings_of(&us_bundle), markings_of(&jp_bundle));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn taxii_over_tls() {
    let c = TestCluster::builder().broker(Broker::PerNationTls).start();
    let broker = c.broker_dir.clone().unwrap();
    let tls = format!("[tls]\ncert = {:?}\nkey = {:?}\n", broker.join("server.pem"), broker.join("server-key.pem"));
    // A TAXII user must be a reader of this party: JP's reader key or KR's
    // feed key (no reader role) is refused at start, before anything is served.
    for (key, name) in
        [(c.operator_key(Party::Jp, "analyst"), "jp-analyst"), (c.operator_key(Party::Kr, "feed"), "kr-feed")]
    {
        let cfg = c.dir.join(format!("taxii-bad-{name}.toml"));
        let text = format!(
            "node_config = {:?}\nnats = {:?}\nlisten = \"127.0.0.1:0\"\n[[user]]\nname = \"{name}\"\nkey = {:?}\npassword_hash = \"x\"\n",
            c.cli_config(Party::Kr).unwrap(),
            c.nats_of(Party::Kr).url(),
            key
        );
        std::fs::write(&cfg, text).unwrap();
        let err = one_line_error(&tisa(&["taxii", "--config", cfg.to_str().unwrap()]), name);
        assert!(err.contains("is not a reader key of KOR"), "{err}");
    }
    // Control: KR's analyst (a reader of KR) serves.
    let (_server, url) = taxii_server_with(&c, Party::Kr, &tls);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = broker.join("ca.pem");
    let v = clients(&["tls", &url, "kr-analyst", "pw-kr", ca.to_str().unwrap()]);
    assert_eq!(v["collections"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["plain_http"].as_str().unwrap().starts_with("refused"), "{v}");
    assert_eq!(v["untrusted"], "certificate refused", "{v}");
}

/// `party`'s own reports (`tisa status --json` items).
fn status_list(c: &TestCluster, party: Party) -> Vec<Value> {
    let v = cli_json(c, party, &["status", "--limit", "1000"]);
    v["items"].as_array().cloned().unwrap_or_default()
}

/// TLP name, ACS classification, permitted nationalities and originator of the (one) report in `bundle`.
fn markings_of(bundle: &Value) -> (String, Value, Value, Value) {
    let objects = bundle["objects"].as_array().unwrap();
    let report = objects.iter().find(|o| o["type"] == "report").unwrap();
    let marking = |id: &Value| objects.iter().find(|o| o["id"] == *id).unwrap().clone();
    let refs = report["object_marking_refs"].as_array().unwrap();
    let mut tlp = String::new();
    let mut acs = Value::Null;
    for r in refs {
        let m = marking(r);
        if let Some(ext) = m["extensions"].get(tisa_stix::markings::ACS_EXTENSION) {
            acs = ext.clone();
        } else {
            tlp = m["name"].as_str().unwrap().to_owned();
        }
    }
    (
        tlp,
        acs["control_set"]["classification"].clone(),
        acs["control_set"]["permitted_nationalities"].clone(),
        acs["responsible_entity_originator"].clone(),
    )
}

/// `b` as a national tool would send it: the report's content, labels and
/// ACS marking with JP's own originator; no tisa extension or identity.
fn national_bundle(b: &Value) -> String {
    let objects = b["objects"].as_array().unwrap();
    let mut report = objects.iter().find(|o| o["type"] == "report").unwrap().clone();
    let r = report.as_object_mut().unwrap();
    r.remove("extensions");
    r.remove("created_by_ref");
    r.remove("granular_markings");
    r.insert("id".into(), Value::String("report--1f4e9a52-3c1b-4d0e-9b7a-2a6c5d4e3f21".into()));
    let acs_id = "marking-definition--4a1e2b3c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
    r.insert("object_marking_refs".into(), serde_json::json!([acs_id]));
    let acs = serde_json::json!({
        "type": "marking-definition", "spec_version": "2.1", "id": acs_id, "created": "2026-01-01T00:00:00.000Z",
        "extensions": {tisa_stix::markings::ACS_EXTENSION: {
            "extension_type": "property-extension", "identifier": "isa:jp.1", "create_date_time": "2026-01-01T00:00:00Z",
            "responsible_entity_custodian": "JPN.MOD", "responsible_entity_originator": "JPN.MOD",
            "policy_reference": tisa_stix::markings::ACS_POLICY,
            "control_set": {"classification": "C", "permitted_nationalities": ["USA"]}}}
    });
    serde_json::json!({"type": "bundle", "id": "bundle--5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", "objects": [report, acs]}).to_string()
}
