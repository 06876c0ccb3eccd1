//! `tisa console` across real processes: KR's approver reads the whole
//! report in the browser's pages and signs the decision there; JP gets what
//! was approved, in full or as the tearline alone, and nothing denied.
//!
//! Driven over HTTP (ureq; a raw socket where the test must forge a
//! header): the login link works once, pages need the session, forms need
//! the session's CSRF token, another `Host` is refused, report text with
//! markup shows as text. Each refusal has its control: the same request
//! with the missing piece put back goes through.

use crate::common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use crate::common::cluster::TestCluster;
use crate::common::flow::{draft, inbox, pending, submit, wait_inbox, wait_recipient_state, wait_request_id};
use tisa_core::Party;

/// A console's HTTP side: its address and the agent (no redirects followed,
/// statuses returned rather than raised).
struct Http {
    base: String,
    agent: ureq::Agent,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("an HTTP answer");
    let headers = r.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned())).collect();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Reply { status: r.status().as_u16(), headers, body }
}

impl Http {
    fn new(base: &str) -> Http {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build();
        Http { base: base.to_owned(), agent: ureq::Agent::new_with_config(config) }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        reply(req.call())
    }

    fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        reply(req.send_form(form.iter().copied()))
    }
}

/// The status code of a GET of `path` sent with `Host: host` (a raw
/// request: the forged header is the point).
fn status_with_host(base: &str, path: &str, host: &str, cookie: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the console");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// `name="csrf" value="…"` in a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn an_approver_reads_the_whole_report_and_decides_in_the_console() {
    let c = TestCluster::builder().start();
    // A report whose title and body hold markup and script; one to deny; one with a tearline.
    let mut a = draft("missile", "secret", "USA,JPN", "console_full");
    a.title = format!("<script>alert('x')</script><b>{}</b>", a.title);
    a.tearline = Some(common::canary("console_full_tearline"));
    let a_title = a.title.clone();
    let a_body = a.body.clone();
    let a_id = submit(&c, Party::Kr, &a);
    let b_id = submit(&c, Party::Kr, &draft("nuclear", "secret", "USA,JPN", "console_denied"));
    let mut t = draft("missile", "secret", "USA,JPN", "console_tearline");
    t.tearline = Some(common::canary("console_only_tearline"));
    let t_tearline = t.tearline.clone().unwrap();
    let t_id = submit(&c, Party::Kr, &t);
    let a_rq = wait_request_id(&c, Party::Kr, &a_id, 1);
    let b_rq = wait_request_id(&c, Party::Kr, &b_id, 1);
    let t_rq = wait_request_id(&c, Party::Kr, &t_id, 1);

    let common::console::ConsoleProc { process: console, base, link, dir: _dir } =
        common::console::start_console(&c, Party::Kr);
    let http = Http::new(&base);

    // No session: refused (pages and the live-update stream; its control,
    // a session's stream updating the page, is in tests/browser.rs).
    assert_eq!(http.get("/", None).status, 401);
    assert_eq!(http.get("/events", None).status, 401);
    // The one script is the console's own, and only it may run.
    let js = http.get("/console.js", None);
    assert!(js.status == 200 && js.body.contains("textContent"), "{}", js.body);
    for sink in [".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
        assert!(!js.body.contains(sink), "the script never parses text as markup or code: {sink}");
    }
    // The login link: a session cookie, HttpOnly and SameSite=Strict; once only.
    let login_path = link.trim_start_matches(&base);
    let r = http.get(login_path, None);
    assert_eq!(r.status, 303, "{}", r.body);
    let set_cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "over plain HTTP the cookie cannot be Secure: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert_eq!(http.get(login_path, None).status, 401, "a login link works once");

    // The pending page: every request, report text escaped, a strict CSP.
    let r = http.get("/", Some(&cookie));
    assert_eq!(r.status, 200, "{}", r.body);
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{:?}", r.headers);
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    for rq in [&a_rq, &b_rq, &t_rq] {
        assert!(r.body.contains(rq.as_str()), "{rq} listed");
    }
    assert!(!r.body.contains("<script>"), "report markup is never markup: {}", r.body);
    assert!(r.body.contains("&lt;script&gt;alert"), "it shows as text");
    assert!(r.body.contains("no standing grant to JP"), "why each request was asked");
    // Another Host is refused (control: the console's own, same cookie).
    assert_eq!(status_with_host(&base, "/", "evil.example", &cookie), 421);
    assert_eq!(status_with_host(&base, "/", base.trim_start_matches("http://"), &cookie), 200);

    // The request page: the whole report, and the forms.
    let r = http.get(&format!("/requests/{a_rq}"), Some(&cookie));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&a_body), "the body is shown");
    assert!(r.body.contains(a.tearline.as_deref().unwrap()), "the tearline is shown");
    assert!(!r.body.contains(&a_title), "the raw title never appears unescaped");
    let csrf = csrf_of(&r.body);
    let decide = format!("/requests/{a_rq}/decide");
    // Forms without the token, with a wrong one, or without the session are refused…
    assert_eq!(http.post(&decide, Some(&cookie), &[("action", "approve")]).status, 403);
    assert_eq!(http.post(&decide, Some(&cookie), &[("action", "approve"), ("csrf", &"0".repeat(64))]).status, 403);
    assert_eq!(http.post(&decide, None, &[("action", "approve"), ("csrf", &csrf)]).status, 401);
    // …and decided nothing: the request is still open.
    assert!(
        pending(&c, Party::Kr).iter().any(|p| p["request_id"] == a_rq.as_str()),
        "still pending after the refusals"
    );
    // Control: with the session and its token, the approval is signed and JP gets the report in full.
    let r = http.post(&decide, Some(&cookie), &[("action", "approve"), ("csrf", &csrf)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("approved") && r.body.contains("Decision document sha256"), "{}", r.body);
    let got = wait_inbox(&c, Party::Jp, &a_id, 1);
    assert_eq!(got["tearline_only"], false, "{got}");
    assert_eq!(got["body"].as_str(), Some(a_body.as_str()));

    // Deny with a reason: JP never gets it.
    let r = http.post(
        &format!("/requests/{b_rq}/decide"),
        Some(&cookie),
        &[("action", "deny"), ("reason", "not now"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("denied"), "{}", r.body);
    wait_recipient_state(&c, Party::Kr, &b_id, 1, "JPN", "DENIED");

    // The tearline only: JP gets the tearline, never the title or body.
    let r = http.post(&format!("/requests/{t_rq}/decide"), Some(&cookie), &[("action", "tearline"), ("csrf", &csrf)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let got = wait_inbox(&c, Party::Jp, &t_id, 1);
    assert_eq!(got["tearline_only"], true, "{got}");
    assert_eq!(got["tearline"].as_str(), Some(t_tearline.as_str()));
    assert!(got["body"].is_null() && got["title"].is_null(), "{got}");
    assert!(
        !inbox(&c, Party::Jp).iter().any(|i| i["report_id"] == b_id.as_str()),
        "the denied report never reached JP"
    );

    // Logout ends the session.
    assert_eq!(http.post("/logout", Some(&cookie), &[("csrf", &csrf)]).status, 200);
    assert_eq!(http.get("/", Some(&cookie)).status, 401, "the session ended");
    drop(console);
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM) files.
fn self_signed(dir: &std::path::Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("a self-signed certificate");
    let (cert, key) = (dir.join("console.crt"), dir.join("console.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write the certificate");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write the key");
    (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned())
}

#[test]
fn over_tls_the_console_may_listen_on_a_network_and_its_cookie_is_secure() {
    let c = TestCluster::builder().start();
    let dir = common::Scratch::new("console-tls");
    let (cert, key) = self_signed(&dir);
    // Without TLS a network address is refused, in one line…
    let out = common::cli::op(&c, Party::Kr, true, &["console", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success(), "{}", common::describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"), "{}", common::describe(&out));
    // …and with TLS it is served (control), over TLS only.
    let console = common::console::start_console_with(
        &c,
        Party::Kr,
        false,
        &["--tls-cert", &cert, "--tls-key", &key, "--host", "localhost"],
    );
    assert!(console.link.starts_with("https://localhost:"), "{}", console.link);
    let port = console.link.trim_start_matches("https://localhost:").split('/').next().unwrap_or_default().to_owned();
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build(),
    );
    let https = Http { base: format!("https://localhost:{port}"), agent };
    assert_eq!(https.get("/", None).status, 401, "no session over TLS either");
    let r = https.get(console.link.trim_start_matches(&https.base), None);
    assert_eq!(r.status, 303, "{}", r.body);
    let set_cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    let page = https.get("/", Some(&cookie));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("awaiting your decision"), "{}", page.body);
    // Plain HTTP to the TLS port gets no page, even with the session's cookie
    // (which over TLS gets the page, just above).
    let plain = Http::new(&format!("http://127.0.0.1:{port}"));
    let answer = plain.agent.get(format!("{}/", plain.base)).header("Cookie", &cookie).call();
    assert!(answer.is_err() || answer.is_ok_and(|r| r.status() != 200), "cleartext must not be served");
    drop(console);
}
