//! `tisa feed webhook --listen ADDR --token-file F`: accepts the generic
//! report object by HTTP POST (bearer token), keyed `webhook:<id>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tisa_core::text::loggable;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tisa_core::{Classification, PartySet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, Semaphore};
use tracing::{info, warn};

use super::{parse_generic, Defaults, FeedOptions, Outcome, Sink, SubmitError};

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const LONG_HELP: &str =
    "Listens for reports by HTTP POST to / or /reports: a JSON object, the same as one line of \
`tisa feed jsonl` ({\"id\", \"category\", \"classification\", \"rel_to\", \"title\", \"body\", \"tearline\"?, \
\"source\"?}), with `Authorization: Bearer <token>` where <token> is the content of --token-file. Each is \
submitted to your own node with the idempotency key `webhook:<id>`.\n\n\
Answers: 202 with {\"report_id\", \"revision\", \"duplicate\", \"source_key\"} when the node took it (or \
already had it: duplicate true); 401 without the right token; 400 with the reason for bad JSON or fields (or \
a report the node refused); 413 for a body over --max-bytes; 411 without a Content-Length; 404/405 for other \
paths and methods; 503 when the node does not answer (retry later). One request per connection; submissions \
go to the node one at a time, in arrival order. The token never appears in logs.\n\n\
This is plain HTTP: listen on loopback, or put a TLS-terminating proxy in front.";

#[derive(Args, Debug)]
#[command(
    long_about = LONG_HELP,
    after_help = "Example: tisa feed webhook --config tisa-broker/kr-cli.toml --listen 127.0.0.1:8787 --token-file /etc/tisa/webhook.token\n\
         Then:    curl -H \"Authorization: Bearer $(cat /etc/tisa/webhook.token)\" --data-binary @report.json http://127.0.0.1:8787/reports"
)]
pub struct WebhookArgs {
    #[command(flatten)]
    opts: FeedOptions,
    /// Address to listen on, e.g. 127.0.0.1:8787 (port 0: any free port; the chosen address is logged).
    #[arg(long)]
    listen: String,
    /// File holding the bearer token (its content, trimmed; keep it mode 0600).
    #[arg(long)]
    token_file: PathBuf,
    /// Largest request body accepted (bytes; K and M suffixes allowed).
    #[arg(long, default_value = "1M", value_parser = parse_bytes)]
    max_bytes: u64,
    /// Classification for objects that have none.
    #[arg(long)]
    classification: Option<Classification>,
    /// Releasable-to for objects that have none, e.g. USA,JPN.
    #[arg(long = "rel-to")]
    rel_to: Option<PartySet>,
    /// Exit after the first report accepted (202).
    #[arg(long)]
    once: bool,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1024),
        Some((i, 'm' | 'M')) => (&t[..i], 1024 * 1024),
        _ => (t, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.saturating_mul(mul)),
        _ => Err(format!("invalid size {s:?} (e.g. 65536, 256K, 1M)")),
    }
}

/// Reads the token file: its content, trimmed; must not be empty.
fn load_token(path: &std::path::Path) -> Result<String> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = raw.trim().to_owned();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    if token.chars().any(char::is_whitespace) {
        bail!("the token in {} contains whitespace", path.display());
    }
    if token.len() < 16 {
        warn!("the webhook token is short ({} characters); use at least 32 random characters", token.len());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                warn!("the token file {} is readable by other users; chmod 600 it", path.display());
            }
        }
    }
    Ok(token)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Authorization: Bearer <token>` with the right token?
fn authorized(value: Option<&str>, token: &str) -> bool {
    match value.map(str::trim).and_then(|v| v.split_once(' ')) {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => same(t.trim().as_bytes(), token.as_bytes()),
        _ => false,
    }
}

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Time a client has to send its request head, and then its body.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections handled at once.
const MAX_CONNECTIONS: usize = 64;

/// A request head, parsed.
struct Head {
    method: String,
    path: String,
    authorization: Option<String>,
    content_length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
    /// Body bytes that arrived with the head.
    rest: Vec<u8>,
}

enum HeadError {
    /// The client went away or sent nothing in time: no answer.
    Gone,
    /// Answer with this status and message.
    Bad(u16, String),
}

async fn read_head(stream: &mut TcpStream) -> Result<Head, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(HeadError::Gone),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let content_length = match header("content-length") {
                    None => None,
                    Some(v) => Some(
                        v.trim().parse::<u64>().map_err(|_| HeadError::Bad(400, "invalid Content-Length".into()))?,
                    ),
                };
                return Ok(Head {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: req.path.unwrap_or_default().split('?').next().unwrap_or_default().to_owned(),
                    authorization: header("authorization"),
                    content_length,
                    chunked: header("transfer-encoding").is_some(),
                    expect_continue: header("expect").is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue")),
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(HeadError::Bad(431, "request head too large".into()))
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(HeadError::Bad(400, format!("malformed HTTP request: {e}"))),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes the response and closes the connection; first reads (and drops)
/// what the client may still be sending, within bounds, so that closing does
/// not reset the connection before the client has read the answer.
async fn respond(mut stream: TcpStream, status: u16, body: &Value) {
    let body = body.to_string();
    let mut extra = String::new();
    match status {
        401 => extra.push_str("WWW-Authenticate: Bearer\r\n"),
        405 => extra.push_str("Allow: POST\r\n"),
        503 => extra.push_str("Retry-After: 10\r\n"),
        _ => {}
    }
    let resp = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.write_all(resp.as_bytes())).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while drained < 4 * 1024 * 1024 {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

fn err(msg: impl Into<String>) -> Value {
    json!({ "error": msg.into() })
}

struct Shared {
    token: String,
    max_bytes: u64,
    defaults: Defaults,
    /// One submission at a time, in arrival order.
    sink: Mutex<Sink>,
}

/// Handles one connection (one request); returns whether a report was accepted.
async fn serve(shared: &Shared, mut stream: TcpStream, remote: SocketAddr) -> bool {
    let started = Instant::now();
    let mut head = match read_head(&mut stream).await {
        Ok(h) => h,
        Err(HeadError::Gone) => return false,
        Err(HeadError::Bad(status, why)) => {
            warn!(%remote, status, "request refused: {}", loggable(&why.to_string()));
            respond(stream, status, &err(why)).await;
            return false;
        }
    };
    let rest = std::mem::take(&mut head.rest);
    let (status, body) = answer(shared, &mut stream, &head, rest).await;
    let ms = started.elapsed().as_millis() as u64;
    let (method, path) = (head.method, head.path);
    if status < 400 {
        let key = body.get("source_key").and_then(Value::as_str).unwrap_or_default();
        let rid = body.get("report_id").and_then(Value::as_str).unwrap_or_default();
        info!(%remote, method = %loggable(&method), path = %loggable(&path), status, ms, key = %loggable(key), report_id = %rid, "request");
    } else {
        let why = body.get("error").and_then(Value::as_str).unwrap_or_default();
        warn!(%remote, method = %loggable(&method), path = %loggable(&path), status, ms, "request refused: {}", loggable(why));
    }
    respond(stream, status, &body).await;
    status == 202
}

async fn answer(shared: &Shared, stream: &mut TcpStream, m: &Head, mut body: Vec<u8>) -> (u16, Value) {
    if m.path != "/" && m.path != "/reports" {
        return (404, err("not found: POST reports to /reports"));
    }
    if m.method != "POST" {
        return (405, err("method not allowed: use POST"));
    }
    if !authorized(m.authorization.as_deref(), &shared.token) {
        return (401, err("unauthorized: send Authorization: Bearer <token>"));
    }
    if m.chunked {
        return (411, err("send the body with a Content-Length (chunked transfer is not accepted)"));
    }
    let Some(len) = m.content_length else { return (411, err("Content-Length required")) };
    if len > shared.max_bytes {
        return (413, err(format!("request body too large (at most {} bytes)", shared.max_bytes)));
    }
    if body.len() as u64 > len {
        return (400, err("more data than its Content-Length"));
    }
    if m.expect_continue && (body.len() as u64) < len {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    let mut chunk = [0u8; 8192];
    while body.len() < want {
        let room = (want - body.len()).min(chunk.len());
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room])).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            Ok(_) => return (400, err("the request body ended early")),
            Err(_) => return (408, err("the request body did not arrive in time")),
        }
    }
    let Ok(text) = std::str::from_utf8(&body) else { return (400, err("the body is not UTF-8")) };
    let item = match parse_generic(text, "webhook", shared.defaults) {
        Ok(i) => i,
        Err(why) => return (400, err(why)),
    };
    let mut sink = shared.sink.lock().await;
    match sink.submit(&item).await {
        Ok(Outcome::DryRun) => (202, json!({"dry_run": true, "source_key": item.key})),
        Ok(o) => (
            202,
            json!({
                "report_id": o.report_id(),
                "revision": o.revision(),
                "duplicate": matches!(o, Outcome::Unchanged { .. }),
                "source_key": item.key,
            }),
        ),
        Err(SubmitError::Refused(why)) => {
            let mut v = err(format!("refused by the node: {why}"));
            v["source_key"] = json!(item.key);
            (400, v)
        }
        Err(SubmitError::Node(e)) => {
            warn!(key = %loggable(&item.key), "node unavailable: {e:#}");
            // Connect again for the next request.
            sink.reset();
            (503, err("the node is not answering; retry later"))
        }
    }
}

pub async fn run(args: WebhookArgs) -> Result<ExitCode> {
    let token = load_token(&args.token_file)?;
    let mut sink = Sink::new(&args.opts)?;
    if !sink.dry_run() {
        sink.connect().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let addr: SocketAddr =
        args.listen.parse().with_context(|| format!("--listen {:?}: expected IP:PORT", args.listen))?;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
    info!(dry_run = sink.dry_run(), max_bytes = args.max_bytes, "webhook listening on http://{bound}/reports");
    let shared = Arc::new(Shared {
        token,
        max_bytes: args.max_bytes,
        defaults: Defaults { classification: args.classification, rel_to: args.rel_to },
        sink: Mutex::new(sink),
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let accepted = Arc::new(Notify::new());
    let stop = tisa_kit::util::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p?,
            s = &mut stop => {
                info!(signal = s, "stopping");
                break;
            }
        };
        let (stream, remote) = tokio::select! {
            c = listener.accept() => match c {
                Ok(c) => c,
                Err(e) => {
                    warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = accepted.notified(), if args.once => {
                info!("accepted one report (--once); stopping");
                break;
            }
            s = &mut stop => {
                info!(signal = s, "stopping");
                break;
            }
        };
        let (shared, accepted) = (shared.clone(), accepted.clone());
        tokio::spawn(async move {
            if serve(&shared, stream, remote).await {
                accepted.notify_one();
            }
            drop(permit);
        });
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_compare() {
        assert_eq!(parse_bytes("1M"), Ok(1024 * 1024));
        assert_eq!(parse_bytes("256K"), Ok(256 * 1024));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
