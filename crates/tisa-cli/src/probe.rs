//! `tisa probe URL`: can this machine (or container) reach a NATS server?
//!
//! Resolves the host, opens a TCP connection and reads the server's `INFO`
//! line, the first thing every nats-server sends; it neither authenticates
//! nor sends anything. Exit 0 when reachable; exit 1 with one line naming the
//! reason when not: `name not resolvable`, `connection refused`, `timeout`,
//! `network unreachable`, `host unreachable`, `not a NATS server`, …. The
//! compose tests use it from inside `node-kr` to show that JP's broker does
//! not exist for KR's containers (by name or by address).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

/// Why a server is not reachable: a short, stable reason plus details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// `name not resolvable`, `connection refused`, `timeout`, …
    pub reason: &'static str,
    /// What the system said, if anything.
    pub detail: String,
}

/// What a reachable server said about itself.
#[derive(Debug, Clone)]
pub struct Reachable {
    /// The address that answered.
    pub address: SocketAddr,
    /// The `INFO` line's JSON object.
    pub info: serde_json::Value,
    /// Connect plus `INFO`, in milliseconds.
    pub elapsed_ms: u64,
}

/// Splits `nats://host:port` (or `tls://`, or bare `host[:port]`; port 4222
/// by default; IPv6 literals in brackets) into host and port.
pub fn host_port(url: &str) -> Result<(String, u16)> {
    let rest = match url.split_once("://") {
        Some(("nats" | "tls" | "ws" | "wss", rest)) => rest,
        Some((scheme, _)) => bail!("unsupported scheme {scheme:?} in {url} (use nats:// or tls://)"),
        None => url,
    };
    // Credentials and paths are not part of the address.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| anyhow::anyhow!("unclosed [ in {url}"))?;
        (host.to_owned(), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    if host.is_empty() {
        bail!("no host in {url}");
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| anyhow::anyhow!("bad port {p:?} in {url}"))?,
        None => 4222,
    };
    Ok((host, port))
}

fn classify(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::TimedOut => "timeout",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => "connection closed before INFO",
        _ => "connection failed",
    }
}

/// Probes `url` within `timeout` (resolution, connection and `INFO` together).
pub async fn probe(url: &str, timeout: Duration) -> Result<Result<Reachable, Unreachable>> {
    let (host, port) = host_port(url)?;
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || Unreachable { reason: "timeout", detail: format!("no answer within {timeout:?}") };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), port))).await {
            Err(_) => return Ok(Err(timed_out())),
            Ok(Err(e)) => return Ok(Err(Unreachable { reason: "name not resolvable", detail: e.to_string() })),
            Ok(Ok(a)) => a.collect(),
        };
    if addrs.is_empty() {
        return Ok(Err(Unreachable { reason: "name not resolvable", detail: format!("{host} has no address") }));
    }
    // Each address in turn (like a client would); the last failure is the reason.
    let mut last = timed_out();
    for addr in addrs {
        let mut stream = match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
            Err(_) => return Ok(Err(timed_out())),
            Ok(Err(e)) => {
                last = Unreachable { reason: classify(&e), detail: format!("{addr}: {e}") };
                continue;
            }
            Ok(Ok(s)) => s,
        };
        let mut buf = Vec::with_capacity(1024);
        let line = loop {
            if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                break String::from_utf8_lossy(&buf[..end]).trim_end().to_owned();
            }
            if buf.len() > 64 * 1024 {
                break String::from_utf8_lossy(&buf).into_owned();
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Err(_) => return Ok(Err(Unreachable { reason: "timeout", detail: format!("{addr}: no INFO") })),
                Ok(Ok(0)) => {
                    return Ok(Err(Unreachable {
                        reason: "connection closed before INFO",
                        detail: format!("{addr} closed the connection"),
                    }))
                }
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Ok(Err(Unreachable { reason: classify(&e), detail: format!("{addr}: {e}") })),
            }
        };
        let info = line
            .strip_prefix("INFO ")
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .filter(|v| v.is_object());
        return Ok(match info {
            Some(info) => Ok(Reachable { address: addr, info, elapsed_ms: start.elapsed().as_millis() as u64 }),
            None => Err(Unreachable {
                reason: "not a NATS server",
                detail: format!("{addr} answered without an INFO line ({} bytes)", line.len()),
            }),
        });
    }
    Ok(Err(last))
}

/// `tisa probe`: prints what answered (or JSON) and exits 0, or prints one
/// line `error: URL: REASON (DETAIL)` on stderr (and JSON on stdout with
/// `--json`) and exits 1.
pub async fn run(url: &str, timeout: Duration, as_json: bool) -> Result<ExitCode> {
    match probe(url, timeout).await? {
        Ok(r) => {
            let s = |k: &str| r.info.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            if as_json {
                println!(
                    "{}",
                    json!({
                        "url": url,
                        "reachable": true,
                        "address": r.address.to_string(),
                        "server_name": s("server_name"),
                        "server_id": s("server_id"),
                        "version": s("version"),
                        "tls_required": r.info.get("tls_required").and_then(|v| v.as_bool()).unwrap_or(false),
                        "elapsed_ms": r.elapsed_ms,
                    })
                );
            } else {
                println!(
                    "{url}: reachable at {} (nats-server {} {:?}, {} ms)",
                    r.address,
                    s("version"),
                    s("server_name"),
                    r.elapsed_ms
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(u) => {
            if as_json {
                println!("{}", json!({ "url": url, "reachable": false, "reason": u.reason, "detail": u.detail }));
            }
            eprintln!("error: {url}: {} ({})", u.reason, u.detail);
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(host_port("nats://nats-kr:4222").unwrap(), ("nats-kr".into(), 4222));
        assert_eq!(host_port("tls://u:p@10.0.0.1:7422/x").unwrap(), ("10.0.0.1".into(), 7422));
        assert_eq!(host_port("nats-jp").unwrap(), ("nats-jp".into(), 4222));
        assert_eq!(host_port("nats://[::1]:4223").unwrap(), ("::1".into(), 4223));
        assert!(host_port("http://x:1").is_err());
        assert!(host_port("nats://x:port").is_err());
        assert!(host_port("nats://:4222").is_err());
    }

    #[tokio::test]
    async fn refused_unresolvable_not_nats_and_nats() {
        // A port nobody listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let r = probe(&format!("nats://127.0.0.1:{port}"), Duration::from_secs(2)).await.unwrap();
        assert_eq!(r.unwrap_err().reason, "connection refused");

        let r = probe("nats://no-such-host.invalid:4222", Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.unwrap_err().reason, "name not resolvable");

        for (greeting, want) in [
            (&b"HTTP/1.1 400 Bad Request\r\n"[..], Err("not a NATS server")),
            (&b"INFO {\"server_id\":\"X\",\"version\":\"2.15.1\",\"server_name\":\"tisa-kr\"}\r\n"[..], Ok("tisa-kr")),
        ] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let g = greeting.to_vec();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                let (mut s, _) = l.accept().await.unwrap();
                s.write_all(&g).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            });
            let r = probe(&format!("nats://{addr}"), Duration::from_secs(2)).await.unwrap();
            match want {
                Ok(name) => assert_eq!(r.unwrap().info["server_name"], name),
                Err(reason) => assert_eq!(r.unwrap_err().reason, reason),
            }
        }

        // Accepts but never speaks: a timeout.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let r = probe(&format!("nats://{addr}"), Duration::from_millis(300)).await.unwrap();
        assert_eq!(r.unwrap_err().reason, "timeout");
        drop(l);
    }
}
