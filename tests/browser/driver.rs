//! A real browser for the console tests: Debian's headless Chromium driven
//! through its WebDriver (`chromedriver`, Debian's `chromium-driver`) with
//! fantoccini. Nothing is downloaded at run time.
//!
//! [`Driver::start`] finds both programs (`$CHROME` and `$CHROMEDRIVER`, or
//! `chromium` and `chromedriver` on `PATH`); without them a test says
//! SKIPPED, except under `CI=true`, where a missing browser fails the run
//! (`scripts/test` installs it when it can). Each [`Browser`] is its own
//! WebDriver session: its own profile, so its own cookies. The calls block
//! (the cluster harness is blocking); waits poll with a deadline.

#![allow(dead_code)] // each test file uses some of it

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::wait::{Deadline, WAIT};

/// `name` as given by `var`, or found on `PATH`.
fn program(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Where screenshots go: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("screenshots")
}

/// A running chromedriver.
pub struct Driver {
    rt: Arc<tokio::runtime::Runtime>,
    child: Child,
    url: String,
    chrome: PathBuf,
}

impl Driver {
    /// Starts chromedriver, or returns `None` having said SKIPPED (a panic
    /// under `CI=true`).
    pub fn start(test: &str) -> Option<Driver> {
        let (chrome, driver) = match (program("CHROME", "chromium"), program("CHROMEDRIVER", "chromedriver")) {
            (Some(c), Some(d)) => (c, d),
            (c, d) => {
                let why = format!(
                    "no headless browser (chromium: {}, chromedriver: {}); `apt-get install chromium chromium-driver`",
                    c.map_or("missing".into(), |p| p.display().to_string()),
                    d.map_or("missing".into(), |p| p.display().to_string()),
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and the browser tests need a browser: {why}");
                }
                let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why} (with CI=true this is a failure)");
                return None;
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let mut d = Deadline::after(WAIT, format!("chromedriver listens on port {port}"));
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            d.pause_blocking();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the WebDriver client");
        Some(Driver { rt: Arc::new(rt), child, url: format!("http://127.0.0.1:{port}"), chrome })
    }

    /// A new browser (a WebDriver session with a fresh profile).
    pub fn browser(&self, name: &str) -> Browser {
        // Self-signed certificates are accepted (the TLS test's console has one).
        let caps = json!({
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": self.chrome.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,1000", "--hide-scrollbars", "--lang=en-US"],
            }
        });
        let caps: serde_json::Map<String, Value> = serde_json::from_value(caps).expect("capabilities");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = self
            .rt
            .block_on(ClientBuilder::new(connector).capabilities(caps).connect(&self.url))
            .unwrap_or_else(|e| panic!("cannot open a browser session: {e}"));
        Browser { rt: self.rt.clone(), client: Some(client), name: name.to_owned() }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser: blocking calls on its WebDriver session.
pub struct Browser {
    rt: Arc<tokio::runtime::Runtime>,
    client: Option<Client>,
    name: String,
}

impl Browser {
    fn c(&self) -> &Client {
        self.client.as_ref().expect("the session is open until drop")
    }

    fn run<T, E: std::fmt::Display>(&self, what: &str, f: impl std::future::Future<Output = Result<T, E>>) -> T {
        self.rt.block_on(f).unwrap_or_else(|e| panic!("{} browser: {what}: {e}", self.name))
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.c().goto(url));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.run(&format!("run {script}"), self.c().execute(script, args))
    }

    /// The `textContent` of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        let v =
            self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", vec![json!(css)]);
        v.as_str().unwrap_or_default().to_owned()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> u64 {
        self.js("return document.querySelectorAll(arguments[0]).length;", vec![json!(css)]).as_u64().unwrap_or(0)
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) {
        let e = self.run(&format!("find {css}"), self.c().find(Locator::Css(css)));
        self.run(&format!("click {css}"), e.click());
    }

    /// Clicks the first element matching `css` and waits until the next
    /// page has loaded (a link followed, a form submitted).
    pub fn click_load(&self, css: &str) {
        self.js("window.__tisaBefore = true;", vec![]);
        self.click(css);
        let mut d = Deadline::after(WAIT, format!("{}'s next page loads after clicking {css}", self.name));
        let loaded = "return !window.__tisaBefore && document.readyState === 'complete';";
        while self.js(loaded, vec![]) != json!(true) {
            d.pause_blocking();
        }
    }

    /// Types `text` into the first element matching `css`.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.run(&format!("find {css}"), self.c().find(Locator::Css(css)));
        self.run(&format!("type into {css}"), e.send_keys(text));
    }

    /// Reloads the page until the text of `css` holds `needle` (or fails at the deadline).
    pub fn wait_text(&self, css: &str, needle: &str, reload: bool) -> String {
        let mut d = Deadline::after(WAIT, format!("{}'s page shows {needle:?} in {css}", self.name));
        loop {
            let t = self.text(css);
            if t.contains(needle) {
                return t;
            }
            d.pause_blocking();
            if reload {
                self.run("reload", self.c().refresh());
            }
        }
    }

    /// The cookie `name` (HttpOnly ones too).
    pub fn cookie(&self, name: &str) -> fantoccini::cookies::Cookie<'static> {
        self.run(&format!("read cookie {name}"), self.c().get_named_cookie(name))
    }

    /// Puts a cookie back (for the current page's site).
    pub fn add_cookie(&self, cookie: fantoccini::cookies::Cookie<'static>) {
        self.run("add a cookie", self.c().add_cookie(cookie));
    }

    /// Forgets every cookie.
    pub fn clear_cookies(&self) {
        self.run("delete the cookies", self.c().delete_all_cookies());
    }

    /// Saves the viewport as `target/screenshots/<name>.png` (the window is
    /// first made as tall as the page, up to 3000 px); returns the path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let h = self.js("return document.documentElement.scrollHeight;", vec![]).as_u64().unwrap_or(1000);
        let h = u32::try_from(h.clamp(600, 3000)).unwrap_or(1000);
        self.run("resize", self.c().set_window_size(1280, h + 140));
        let png = self.run("screenshot", self.c().screenshot());
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        let _ = writeln!(std::io::stderr(), "screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
    }
}
