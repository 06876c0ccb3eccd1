//! Feeds (`tisa feed …`), with no outside network: USGS GeoJSON fixtures are
//! served by a scripted HTTP server on loopback started by each test; the
//! CNS CSV and JSON Lines come from files and stdin; the webhook is called
//! over loopback. The end-to-end tests run the real feeds against the three
//! node processes on the enforced topology and show that what a feed
//! submits travels like any other report, once.

use crate::common;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::ctl::*;
use crate::common::{describe, tisa, tisa_command, Background, WAIT};
use serde_json::{json, Value};
use tisa_core::{Category, Classification, Content, Party, Released, ReportDraft, Sensitive};
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

// ---------------------------------------------------------------- fixtures

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn scratch(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tisa-feeds-{label}-{}-{}", std::process::id(), common::canary("d")));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A scripted HTTP server on loopback: answers each request with the next
/// scripted response, then with `then` (which the test may change), and
/// records when each request came and its request line.
struct HttpFixture {
    addr: SocketAddr,
    state: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
}

struct Script {
    next: VecDeque<(u16, String)>,
    then: (u16, String),
    requests: Vec<(Instant, String)>,
}

impl HttpFixture {
    fn start(next: Vec<(u16, String)>, then: (u16, String)) -> HttpFixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(Script { next: next.into(), then, requests: Vec::new() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
                let (code, body) = {
                    let mut s = st.lock().unwrap();
                    s.requests.push((Instant::now(), line));
                    s.next.pop_front().unwrap_or_else(|| s.then.clone())
                };
                let reason = match code {
                    200 => "OK",
                    500 => "Internal Server Error",
                    503 => "Service Unavailable",
                    _ => "Other",
                };
                let resp = format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        HttpFixture { addr, state, stop }
    }

    /// The FDSN-style query URL on this server.
    fn url(&self) -> String {
        format!("http://{}/fdsnws/event/1/query?format=geojson", self.addr)
    }

    fn then(&self, r: (u16, String)) {
        self.state.lock().unwrap().then = r;
    }

    fn requests(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for HttpFixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn ok(body: String) -> (u16, String) {
    (200, body)
}

// --------------------------------------------------------------- processes

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn keys(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["source_key"].as_str().unwrap_or_default().to_owned()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run(args: &[&str]) -> Output {
    tisa(args)
}

/// `tisa ARGS` fed `input` on stdin.
fn run_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child =
        tisa_command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The webhook's address, from its "listening on http://ADDR/reports" log line.
fn listening(p: &mut Background) -> SocketAddr {
    let l = p.wait_stderr("listening on http://");
    let rest = &l[l.find("http://").unwrap() + 7..];
    rest[..rest.find('/').unwrap()].parse().unwrap_or_else(|e| panic!("bad address in {l}: {e}"))
}

/// One HTTP request over loopback; returns the status and the JSON body.
fn http(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    // The server may answer (413, 401) before reading all of a large body.
    let _ = s.write_all(req.as_bytes());
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code: u16 =
        text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

// ------------------------------------------------------------------ USGS

#[test]
fn usgs_dry_run_keeps_explosion_like_events_near_test_sites() {
    let srv = HttpFixture::start(vec![], ok(fixture("usgs_v1.geojson")));
    let url = srv.url();
    let out = run(&["feed", "usgs", "--once", "--dry-run", "--json", "--url", &url]);
    assert!(out.status.success(), "{}", describe(&out));
    let items = json_lines(&out.stdout);
    // The 2017 test (typed nuclear explosion, preferred id at00ovnzaq, aliases
    // at00ovnzaq and us2000aert: the smallest is the key) and the 2016 test.
    // Left out: a deeper earthquake nearby, a shallow M2.9 nearby, and a
    // shallow M5.4 near Pohang (far from the site).
    assert_eq!(keys(&items), ["usgs:at00ovnzaq", "usgs:us10006p1f"], "{}", describe(&out));
    let e = &items[0];
    assert_eq!(e["dry_run"], true);
    assert_eq!(e["category"], "NK_NUCLEAR");
    assert_eq!(e["classification"], "UNCLASSIFIED");
    assert_eq!(e["releasable_to"], json!(["KOR", "USA", "JPN"]));
    let title = e["title"].as_str().unwrap();
    assert!(title.contains("M6.1") && title.contains("nuclear explosion") && title.contains("Punggye-ri"), "{title}");
    let body = e["body"].as_str().unwrap();
    for want in [
        "nuclear explosion",
        "6.1 mb",
        "Origin time:   2017-09-03T03:30:01Z",
        "41.3324° N, 129.0297° E",
        "22 km ENE of Sungjibaegam",
        "Depth:         0.0 km",
        "Punggye-ri (41.2800° N, 129.0800° E), 7.2 km away",
        "USGS event id: at00ovnzaq (ids: at00ovnzaq, us2000aert)",
        "Review status: automatic",
        "https://earthquake.usgs.gov/earthquakes/eventpage/at00ovnzaq",
    ] {
        assert!(body.contains(want), "body lacks {want:?}:\n{body}");
    }
    assert!(e["source"].as_str().unwrap().contains("at00ovnzaq"), "{e}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for left_out in ["us7000k9mm", "us2000awgz", "us2000bmcg"] {
        assert!(!stdout.contains(left_out), "{left_out} should be filtered out: {stdout}");
    }
    let err = stderr(&out);
    assert!(err.contains("matched=2 far_from_sites=1 too_deep=1 too_weak=1"), "{err}");
    // One request, for the FDSN query with a time window added.
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].1.starts_with("GET /fdsnws/event/1/query?format=geojson&starttime=20"), "{reqs:?}");

    // The thresholds are the operator's: another site, deeper, weaker.
    let out = run(&["feed", "usgs", "--once", "--dry-run", "--json", "--url", &url, "--site", "Pohang:36.03,129.36"]);
    let items = json_lines(&out.stdout);
    assert_eq!(keys(&items), ["usgs:us2000bmcg"], "{}", describe(&out));
    let t = items[0]["title"].as_str().unwrap();
    assert!(t.contains("shallow earthquake") && t.contains("Pohang"), "{t}");
    assert!(items[0]["body"].as_str().unwrap().contains("possible explosion"), "{}", items[0]);
    let out = run(&[
        "feed",
        "usgs",
        "--once",
        "--dry-run",
        "--json",
        "--url",
        &url,
        "--max-depth-km",
        "40",
        "--min-magnitude",
        "2.5",
    ]);
    assert_eq!(
        keys(&json_lines(&out.stdout)),
        ["usgs:at00ovnzaq", "usgs:us7000k9mm", "usgs:us2000awgz", "usgs:us10006p1f"],
        "{}",
        describe(&out)
    );

    // Text: each report with its source key.
    let out = run(&["feed", "usgs", "--once", "--dry-run", "--url", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would submit usgs:at00ovnzaq  NK_NUCLEAR UNCLASSIFIED"), "{text}");
    assert!(text.contains("would submit usgs:us10006p1f"), "{text}");
}

#[test]
fn usgs_backs_off_through_http_errors_and_malformed_json() {
    let srv = HttpFixture::start(
        vec![(500, "oops".into()), ok(fixture("usgs_malformed.geojson")), (503, String::new())],
        ok(fixture("usgs_v1.geojson")),
    );
    let args: Vec<String> = [
        "feed",
        "usgs",
        "--dry-run",
        "--json",
        "--url",
        &srv.url(),
        "--interval",
        "1h",
        "--backoff-min",
        "300ms",
        "--backoff-max",
        "5s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Background::spawn_args(&args);
    let l = p.wait_stderr("retrying in 300ms");
    assert!(l.contains("fetch failed: HTTP 500"), "{l}");
    let l = p.wait_stderr("retrying in 600ms");
    assert!(l.contains("malformed JSON"), "{l}");
    let l = p.wait_stderr("retrying in 1200ms");
    assert!(l.contains("HTTP 503"), "{l}");
    p.wait_stdout("the 2017 test", |l| l.contains("usgs:at00ovnzaq"));
    p.wait_stdout("the 2016 test", |l| l.contains("usgs:us10006p1f"));
    p.wait_stderr("poll succeeded again");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 4, "three failures, one success, then the next poll an hour away: {reqs:?}");
    // Exponential backoff: each wait at least the delay it announced.
    for (i, min_ms) in [300u64, 600, 1200].into_iter().enumerate() {
        let gap = reqs[i + 1].0.duration_since(reqs[i].0);
        assert!(
            gap >= Duration::from_millis(min_ms),
            "retry {} came after {gap:?}, before its {min_ms} ms backoff",
            i + 1
        );
    }
    let err = p.kill_stderr();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn usgs_once_exits_non_zero_when_the_fetch_fails() {
    let last_line = |out: &Output| stderr(out).lines().last().unwrap_or_default().to_owned();
    for (resp, want) in [
        ((500, "oops".to_owned()), "fetch failed: HTTP 500"),
        (ok(fixture("usgs_malformed.geojson")), "malformed JSON"),
    ] {
        let srv = HttpFixture::start(vec![], resp);
        let out = run(&["feed", "usgs", "--once", "--dry-run", "--url", &srv.url(), "--backoff-min", "10ms"]);
        assert!(!out.status.success(), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        let l = last_line(&out);
        assert!(l.starts_with("error: ") && l.contains(want), "{}", describe(&out));
        assert_eq!(srv.requests().len(), 1, "--once makes a single attempt");
    }
    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run(&["feed", "usgs", "--once", "--dry-run", "--url", &format!("http://127.0.0.1:{port}/x")]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(last_line(&out).contains("cannot reach the server"), "{}", describe(&out));
    // Not dry: the node must be reachable; no party, no run.
    let out = run(&["feed", "usgs", "--once", "--url", "http://127.0.0.1:1/x"]);
    assert!(!out.status.success());
    assert!(last_line(&out).contains("which party?"), "{}", describe(&out));
}

// ------------------------------------------------------------------- CSV

#[test]
fn cns_csv_reports_bad_rows_by_line_and_keeps_going() {
    let file = fixture_path("cns_missile_tests.csv");
    let out = run(&["feed", "cns-csv", "--dry-run", "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "bad rows make the exit status 1: {}", describe(&out));
    let items = json_lines(&out.stdout);
    assert_eq!(keys(&items), ["cns:1", "cns:2", "cns:3", "cns:5", "cns:8"], "{}", describe(&out));
    let err = stderr(&out);
    for (line, why) in [
        (6, "Date: cannot read \"32-Jan-06\""),
        (8, "expected 19 fields, found 3"),
        (9, "Facility Latitude"),
        (10, "F1 5 repeats line 7"),
        (12, "F1 (the row's id) is empty"),
    ] {
        assert!(err.contains(&format!("line {line}: bad row: {why}")), "no line {line} ({why}) in:\n{err}");
    }
    assert_eq!(err.matches("bad row").count(), 5, "{err}");
    assert!(err.contains("10 rows: 5 would be submitted (dry run), 5 bad"), "{err}");
    assert!(!err.contains('\r'), "no progress indicator when stderr is not a terminal: {err:?}");
    let by_key = |k: &str| items.iter().find(|v| v["source_key"] == k).unwrap().clone();
    let body = |k: &str| by_key(k)["body"].as_str().unwrap().to_owned();
    assert_eq!(by_key("cns:1")["category"], "NK_MISSILE");
    assert!(body("cns:1").contains("Date:               1984-04-09"), "{}", body("cns:1"));
    assert!(body("cns:2").contains("Date:               1984-09\n"), "{}", body("cns:2"));
    assert!(body("cns:5").contains("Date:               2017-02-12"), "{}", body("cns:5"));
    assert!(body("cns:5").contains("Launch time:        22:55 UTC"), "{}", body("cns:5"));
    assert!(body("cns:3").contains("Distance travelled: 1380 km"), "{}", body("cns:3"));
    assert!(
        body("cns:3").contains("satellite.\nThe third stage failed"),
        "a quoted multi-line field: {}",
        body("cns:3")
    );
    assert!(body("cns:1").contains("Apogee:             unknown"), "{}", body("cns:1"));
    assert!(body("cns:8").contains("Apogee:             4475 km"), "{}", body("cns:8"));
    let t = by_key("cns:8")["title"].as_str().unwrap().to_owned();
    assert!(t.contains("Hwasong-15 (ICBM)") && t.contains("2017-11-29") && t.contains("Success"), "{t}");
    assert!(by_key("cns:3")["source"].as_str().unwrap().contains("KCNA, 4 September 1998"));

    // Not a CNS file: one clear error.
    let dir = scratch("csv");
    let other = dir.join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let out = run(&["feed", "cns-csv", "--dry-run", other.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a CNS missile test CSV: no column \"f1\""), "{}", describe(&out));
    let _ = std::fs::remove_dir_all(dir);
}

// ----------------------------------------------------------------- JSONL

fn obj(id: &str, extra: Value) -> String {
    let mut v = json!({"id": id, "category": "missile", "classification": "secret", "rel_to": "USA,JPN", "title": format!("t {id}"), "body": format!("b {id}")});
    for (k, x) in extra.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v.to_string()
}

#[test]
fn jsonl_reports_bad_lines_and_follows_a_file() {
    let input = [
        obj("a-1", json!({})),
        String::new(),
        r#"{"id": "a-2", "category": "missile", "#.to_owned(),
        obj("a-3", json!({"title": null})),
        obj("42", json!({"id": 42, "category": "nuclear", "rel_to": ["USA", "JPN"], "tearline": "tl"})),
        obj("a-5", json!({"titel": "typo"})),
        obj("a-6", json!({"classification": null, "rel_to": null})),
    ]
    .join("\n");
    let out = run_with_stdin(
        &["feed", "jsonl", "--dry-run", "--json", "--classification", "confidential", "--rel-to", "USA", "-"],
        &input,
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let items = json_lines(&out.stdout);
    assert_eq!(keys(&items), ["jsonl:a-1", "jsonl:42", "jsonl:a-6"], "{}", describe(&out));
    assert_eq!(items[1]["category"], "NK_NUCLEAR");
    assert_eq!(items[1]["tearline"], "tl");
    assert_eq!(items[2]["classification"], "CONFIDENTIAL", "the default from --classification");
    assert_eq!(items[2]["releasable_to"], json!(["USA"]), "the default from --rel-to");
    let err = stderr(&out);
    for (line, why) in [(3, "invalid JSON"), (4, "missing field title"), (6, "unknown field \"titel\"")] {
        assert!(err.contains(&format!("stdin: line {line}: bad line: {why}")), "line {line}: {why}:\n{err}");
    }
    assert!(err.contains("3 would be submitted (dry run), 3 bad"), "{err}");
    // Without defaults, an object must say its classification and rel_to.
    let out = run_with_stdin(&["feed", "jsonl", "--dry-run"], &obj("a-6", json!({"classification": null})));
    assert!(stderr(&out).contains("line 1: bad line: missing field classification"), "{}", describe(&out));

    // --follow: lines appended later, a line written in two pieces, a truncated file, a rotated one.
    let dir = scratch("jsonl");
    let file = dir.join("reports.jsonl");
    std::fs::write(&file, format!("{}\n", obj("f-1", json!({})))).unwrap();
    let mut p = Background::spawn_args(&[
        "feed".into(),
        "jsonl".into(),
        "--dry-run".into(),
        "--json".into(),
        "--follow".into(),
        "--poll".into(),
        "20ms".into(),
        file.to_string_lossy().into_owned(),
    ]);
    p.wait_stdout("f-1", |l| l.contains("jsonl:f-1"));
    let append = |s: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(s.as_bytes()).unwrap();
    };
    let f2 = obj("f-2", json!({}));
    let (a, b) = f2.split_at(f2.len() / 2);
    append(a);
    append(&format!("{b}\n{}\n", obj("f-3", json!({}))));
    p.wait_stdout("f-2", |l| l.contains("jsonl:f-2"));
    p.wait_stdout("f-3", |l| l.contains("jsonl:f-3"));
    std::fs::write(&file, format!("{}\n", obj("f-4", json!({})))).unwrap();
    p.wait_stderr("was truncated");
    p.wait_stdout("f-4", |l| l.contains("jsonl:f-4"));
    // Rotated (moved away, a new file created at the path): followed by name.
    std::fs::rename(&file, dir.join("reports.jsonl.1")).unwrap();
    std::fs::write(&file, format!("{}\n", obj("f-5", json!({})))).unwrap();
    p.wait_stderr("was replaced (rotated)");
    p.wait_stdout("f-5", |l| l.contains("jsonl:f-5"));
    let err = p.kill_stderr();
    assert!(!err.contains("bad line"), "a line is read only once complete: {err}");
    let _ = std::fs::remove_dir_all(dir);
}

// --------------------------------------------------------------- webhook

const TOKEN: &str = "tok-5b0f0f7d9c3e4a1f8e2d6c7b";

fn token_file(dir: &Path) -> PathBuf {
    let f = dir.join("webhook.token");
    std::fs::write(&f, format!("{TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    f
}

#[test]
fn webhook_requires_the_token_and_valid_reports() {
    let dir = scratch("webhook");
    let tf = token_file(&dir);
    let mut p = Background::spawn_args(&[
        "feed".into(),
        "webhook".into(),
        "--dry-run".into(),
        "--json".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--token-file".into(),
        tf.to_string_lossy().into_owned(),
        "--max-bytes".into(),
        "4096".into(),
    ]);
    let addr = listening(&mut p);
    let bearer = format!("Bearer {TOKEN}");
    let good = obj("w-1", json!({}));

    let (code, v) = http(addr, "POST", "/reports", None, &good);
    assert_eq!(code, 401, "no token: {v}");
    assert!(v["error"].as_str().unwrap().contains("unauthorized"), "{v}");
    let (code, _) = http(addr, "POST", "/reports", Some("Bearer not-the-token"), &good);
    assert_eq!(code, 401, "wrong token");
    let (code, _) = http(addr, "POST", "/reports", Some(&format!("Basic {TOKEN}")), &good);
    assert_eq!(code, 401, "another scheme");
    let (code, _) = http(addr, "POST", "/reports", Some(&format!("Bearer {TOKEN}x")), &good);
    assert_eq!(code, 401, "a longer token");
    let (code, _) = http(addr, "GET", "/reports", Some(&bearer), "");
    assert_eq!(code, 405);
    let (code, _) = http(addr, "POST", "/elsewhere", Some(&bearer), &good);
    assert_eq!(code, 404);
    for (body, why) in [
        ("{not json".to_owned(), "invalid JSON"),
        (obj("w-2", json!({"title": null})), "missing field title"),
        (obj("w-2", json!({"category": "weather"})), "category"),
        (obj("w-2", json!({"classification": "cosmic"})), "classification"),
        (obj("w-2", json!({"body": "   "})), "body is empty"),
        ("[]".to_owned(), "expected a JSON object"),
    ] {
        let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &body);
        assert_eq!(code, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{body}: {v}");
    }
    let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &obj("w-3", json!({"body": "x".repeat(5000)})));
    assert_eq!(code, 413, "{v}");
    let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &good);
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["source_key"], "webhook:w-1");
    assert_eq!(v["dry_run"], true);
    let line = p.wait_stdout("the accepted report", |l| l.contains("webhook:w-1"));
    let item: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(item["title"], "t w-1");
    let err = p.kill_stderr();
    assert!(err.contains("status=401") && err.contains("status=413") && err.contains("status=202"), "{err}");
    assert!(!err.contains(TOKEN), "the token must never be logged:\n{err}");

    // --once: exits after the first accepted report (not after a refused one).
    let mut p = Background::spawn_args(&[
        "feed".into(),
        "webhook".into(),
        "--dry-run".into(),
        "--once".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--token-file".into(),
        tf.to_string_lossy().into_owned(),
    ]);
    let addr = listening(&mut p);
    assert_eq!(http(addr, "POST", "/reports", Some("Bearer nope"), &good).0, 401);
    assert_eq!(http(addr, "POST", "/reports", Some(&bearer), &good).0, 202);
    let (status, err) = p.wait_exit_stderr();
    assert!(status.success(), "{err}");
    assert!(err.contains("--once"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

// ------------------------------------------------------------ end to end

/// `party`'s inbox: (report id, revision, originator, body or tearline).
async fn inbox(c: &Cluster, party: Party) -> Vec<(String, u32, Party, String)> {
    let ControlReply::Inbox(tisa_core::Page { items, .. }) =
        ask(&client(c, party).await, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!("not an inbox")
    };
    items
        .iter()
        .map(|tisa_core::InboxEntry { delivery: d, .. }| {
            let text = match &d.released {
                Released::Full(c) => c.body.expose().to_owned(),
                Released::Tearline(t) => t.expose().to_owned(),
            };
            (d.header.id.to_string(), d.header.revision, d.header.originator, text)
        })
        .collect()
}

fn count(inbox: &[(String, u32, Party, String)], id: &str, rev: u32) -> usize {
    inbox.iter().filter(|(i, r, _, _)| i == id && *r == rev).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usgs_reports_reach_kr_once_and_updates_become_revisions() {
    let c = start(true).await;
    // JP pre-approves its NK_NUCLEAR reports for KR (signed standing grant).
    grant_in_force(&c, Party::Jp, &["--to", "kr", "--category", "nuclear", "--max-classification", "secret"]);

    let srv = HttpFixture::start(vec![], ok(fixture("usgs_v1.geojson")));
    let url = srv.url();
    let feed = ["feed", "usgs", "--once", "--json", "--url", url.as_str()];
    let out = op(&c, Party::Jp, false, &feed);
    assert!(out.status.success(), "{}", describe(&out));
    let sent = json_lines(&out.stdout);
    assert_eq!(keys(&sent), ["usgs:at00ovnzaq", "usgs:us10006p1f"], "{}", describe(&out));
    assert!(sent.iter().all(|v| v["outcome"] == "new" && v["revision"] == 1), "{sent:?}");
    let id17 = sent[0]["report_id"].as_str().unwrap().to_owned();
    let id16 = sent[1]["report_id"].as_str().unwrap().to_owned();
    assert!(id17.starts_with("JP-") && id16.starts_with("JP-"), "{sent:?}");
    assert!(stderr(&out).contains("usgs: 2 imported, 0 unchanged, 0 revised, 0 bad"), "{}", describe(&out));

    // Through the hub to KR, under JP's grant.
    let (a, b) = (id17.clone(), id16.clone());
    let cr = &c;
    wait_async(|| {
        let (a, b) = (a.clone(), b.clone());
        async move {
            let ids = inbox_ids(&client(cr, Party::Kr).await).await;
            (ids.contains(&a) && ids.contains(&b)).then_some(())
        }
    })
    .await;

    // The same feed again: the node answers duplicate; nothing is sent.
    let out = op(&c, Party::Jp, false, &feed);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "nothing new to print: {}", describe(&out));
    assert!(stderr(&out).contains("usgs: 0 imported, 2 unchanged, 0 revised, 0 bad"), "{}", describe(&out));

    // USGS reviews the 2017 event: new magnitude, the NEIC id preferred.
    // Same event (same smallest alias): a new revision of the same report.
    srv.then(ok(fixture("usgs_v2.geojson")));
    let out = op(&c, Party::Jp, false, &feed);
    assert!(out.status.success(), "{}", describe(&out));
    let sent = json_lines(&out.stdout);
    assert_eq!(sent.len(), 1, "{}", describe(&out));
    assert_eq!(sent[0]["source_key"], "usgs:at00ovnzaq");
    assert_eq!(sent[0]["outcome"], "revised");
    assert_eq!(sent[0]["report_id"], id17.as_str());
    assert_eq!(sent[0]["revision"], 2);
    assert!(stderr(&out).contains("usgs: 0 imported, 1 unchanged, 1 revised, 0 bad"), "{}", describe(&out));
    // And once more: nothing.
    let out = op(&c, Party::Jp, false, &feed);
    assert!(out.stdout.is_empty() && out.status.success(), "{}", describe(&out));

    // A later legitimate JP→KR release travels the same ordered path: once
    // it is in, everything the feed caused has arrived.
    let canary = legit_release(&c, Party::Jp, Party::Kr).await;
    let kr = inbox(&c, Party::Kr).await;
    assert_eq!(count(&kr, &canary, 1), 1);
    assert_eq!(count(&kr, &id17, 1), 1, "{kr:?}");
    assert_eq!(count(&kr, &id17, 2), 1, "{kr:?}");
    assert_eq!(count(&kr, &id16, 1), 1, "{kr:?}");
    assert_eq!(kr.iter().filter(|(i, ..)| *i == id17 || *i == id16).count(), 3, "exactly once each: {kr:?}");
    let body = |rev: u32| kr.iter().find(|(i, r, ..)| *i == id17 && *r == rev).unwrap().3.clone();
    assert!(body(1).contains("6.1 mb") && body(1).contains("automatic"), "{}", body(1));
    assert!(body(2).contains("6.3 mb") && body(2).contains("reviewed"), "{}", body(2));
    assert!(kr.iter().filter(|(i, ..)| *i == id17).all(|(_, _, o, _)| *o == Party::Jp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_import_and_webhook_reach_the_hub_once() {
    let c = start(true).await;
    let file = fixture_path("cns_missile_tests.csv");
    let import = ["feed", "cns-csv", "--json", "--rel-to", "USA,JPN", file.to_str().unwrap()];
    let out = op(&c, Party::Kr, false, &import);
    assert_eq!(out.status.code(), Some(1), "bad rows: exit 1 after importing the rest: {}", describe(&out));
    let sent = json_lines(&out.stdout);
    assert_eq!(keys(&sent), ["cns:1", "cns:2", "cns:3", "cns:5", "cns:8"], "{}", describe(&out));
    assert!(sent.iter().all(|v| v["outcome"] == "new"), "{sent:?}");
    let err = stderr(&out);
    assert!(err.contains("10 rows: 5 imported, 0 unchanged, 0 revised, 5 bad"), "{err}");
    assert!(err.contains("line 6: bad row") && err.contains("line 12: bad row"), "{err}");
    let ids: Vec<String> = sent.iter().map(|v| v["report_id"].as_str().unwrap().to_owned()).collect();
    let cr = &c;
    let want = ids.clone();
    wait_async(|| {
        let want = want.clone();
        async move {
            let us = inbox_ids(&client(cr, Party::Us).await).await;
            want.iter().all(|i| us.contains(i)).then_some(())
        }
    })
    .await;

    // Re-import: nothing new submitted.
    let out = op(&c, Party::Kr, false, &import);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(stderr(&out).contains("10 rows: 0 imported, 5 unchanged, 0 revised, 5 bad"), "{}", describe(&out));

    // The webhook, on KR's node.
    let dir = scratch("webhook-e2e");
    let tf = token_file(&dir);
    let tfs = tf.to_string_lossy().into_owned();
    let mut p = Background::spawn_args(&op_args(
        &c,
        Party::Kr,
        false,
        &["feed", "webhook", "--listen", "127.0.0.1:0", "--token-file", &tfs, "--json"],
    ));
    let addr = listening(&mut p);
    let bearer = format!("Bearer {TOKEN}");
    let report = obj("hook-1", json!({"category": "nuclear", "rel_to": "USA"}));
    let (code, _) = http(addr, "POST", "/reports", Some("Bearer wrong"), &report);
    assert_eq!(code, 401);
    let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &report);
    assert_eq!(code, 202, "{v}");
    let hook = v["report_id"].as_str().unwrap().to_owned();
    assert!(hook.starts_with("KR-"), "{v}");
    assert_eq!(v["revision"], 1);
    assert_eq!(v["duplicate"], false);
    assert_eq!(v["source_key"], "webhook:hook-1");
    let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &report);
    assert_eq!(code, 202, "{v}");
    assert_eq!((v["report_id"].as_str(), v["duplicate"].as_bool()), (Some(hook.as_str()), Some(true)), "{v}");
    let changed = obj("hook-1", json!({"category": "nuclear", "rel_to": "USA", "body": "corrected"}));
    let (code, v) = http(addr, "POST", "/reports", Some(&bearer), &changed);
    assert_eq!(code, 202, "{v}");
    assert_eq!(
        (v["report_id"].as_str(), v["revision"].as_u64(), v["duplicate"].as_bool()),
        (Some(hook.as_str()), Some(2), Some(false)),
        "{v}"
    );
    // A report the node refuses (above the link's SECRET ceiling): 400 with the node's reason.
    let (code, v) =
        http(addr, "POST", "/reports", Some(&bearer), &obj("hook-2", json!({"classification": "top_secret"})));
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("refused by the node"), "{v}");

    // A later KR report is the canary on the KR→US link.
    let canary = ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: "USA".parse().unwrap(),
        content: Content { title: Sensitive::new("canary"), body: Sensitive::new("canary"), ..Default::default() },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: None,
    };
    let ControlReply::Submitted(tisa_core::Submitted { header: tisa_core::ReportHeader { id: canary, .. }, .. }) =
        ask(&client(&c, Party::Kr).await, ControlRequest::Submit(canary)).await
    else {
        panic!()
    };
    let canary = canary.to_string();
    let cid = canary.clone();
    wait_async(|| {
        let cid = cid.clone();
        async move { inbox_ids(&client(cr, Party::Us).await).await.contains(&cid).then_some(()) }
    })
    .await;
    let us = inbox(&c, Party::Us).await;
    for id in &ids {
        assert_eq!(us.iter().filter(|(i, ..)| i == id).count(), 1, "{id} exactly once at the hub: {us:?}");
    }
    assert_eq!(count(&us, &hook, 1), 1, "{us:?}");
    assert_eq!(count(&us, &hook, 2), 1, "{us:?}");
    assert_eq!(us.iter().find(|(i, r, ..)| *i == hook && *r == 2).unwrap().3, "corrected");
    let err = p.kill_stderr();
    assert!(!err.contains(TOKEN), "the token must never be logged:\n{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// JSON Lines through KR's node to the hub: each line once; a re-read of the
/// same file submits nothing; a changed line becomes a revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_reaches_the_hub_once() {
    let c = start(true).await;
    let dir = scratch("jsonl-e2e");
    let file = dir.join("reports.jsonl");
    let lines = [obj("j-1", json!({"rel_to": "USA"})), obj("j-2", json!({"rel_to": "USA"}))];
    std::fs::write(&file, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let path = file.to_string_lossy().into_owned();
    let out = op(&c, Party::Kr, false, &["feed", "jsonl", "--json", &path]);
    assert!(out.status.success(), "{}", describe(&out));
    let sent = json_lines(&out.stdout);
    assert_eq!(keys(&sent), ["jsonl:j-1", "jsonl:j-2"], "{}", describe(&out));
    let ids: Vec<String> = sent.iter().map(|v| v["report_id"].as_str().unwrap().to_owned()).collect();
    let cr = &c;
    let want = ids.clone();
    wait_async(|| {
        let want = want.clone();
        async move {
            let us = inbox_ids(&client(cr, Party::Us).await).await;
            want.iter().all(|i| us.contains(i)).then_some(())
        }
    })
    .await;
    // The same file again: nothing new.
    let out = op(&c, Party::Kr, false, &["feed", "jsonl", "--json", &path]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "a re-read submitted again: {}", describe(&out));
    // A changed line: a new revision of the same report.
    std::fs::write(&file, format!("{}\n", obj("j-1", json!({"rel_to": "USA", "body": "corrected"})))).unwrap();
    let out = op(&c, Party::Kr, false, &["feed", "jsonl", "--json", &path]);
    let sent = json_lines(&out.stdout);
    assert_eq!(sent.len(), 1, "{}", describe(&out));
    assert_eq!(
        (sent[0]["report_id"].as_str(), sent[0]["revision"].as_u64()),
        (Some(ids[0].as_str()), Some(2)),
        "{}",
        describe(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
