//! `tisa notify`: tells the operator about what they must act on, by
//! running a command or posting to a local webhook — a release request
//! (`RELEASE_REQUESTED`), one about to expire (`EXPIRING`, a configurable
//! time before), a denial (`DENIED`), an expiry (`EXPIRED`), a retraction of a
//! report this party holds (`RETRACTED`). A notification carries ids and
//! markings, never content: no title, body, tearline, source or reason.
//!
//! It follows the node's event stream (as `tisa watch` does) and reads
//! where the party's own reports stand (`status`: headers and states, no
//! content read) for the markings and the expiry times.

use std::collections::HashSet;
use std::net::IpAddr;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use futures::StreamExt;
use serde_json::{json, Value};
use tisa_core::{Page, RecipientState, RevisionStatus, Timestamp};
use tisa_kit::operator::{ask, unexpected};
use tisa_kit::{Common, Ctx};
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery, WatchEvent};

/// `tisa notify`.
#[derive(Args, Debug)]
#[command(
    after_help = "Each notification is one JSON object: {\"event\", \"party\", \"at\", \"report_id\", \"revision\", \
\"request_id\", \"originator\", \"recipient\", \"category\", \"classification\", \"expires_at\"} (absent fields null). \
--exec runs the command with sh -c, the object on its standard input and each field in TISA_<FIELD> variables \
(TISA_EVENT, TISA_REPORT_ID, …); --webhook POSTs it as application/json. Both may be given. It is also printed \
(one line each; --json: the object).\n\nExample: tisa notify --config kr-cli.toml --key kr-kim.key \
--exec 'notify-send \"tisa: $TISA_EVENT $TISA_REQUEST_ID\"' --remind-before 2h"
)]
pub struct NotifyArgs {
    /// The operator options (party, broker, credentials, your key: it reads your reports' status).
    #[command(flatten)]
    pub common: Common,
    /// Run this shell command for each notification.
    #[arg(long, value_name = "COMMAND")]
    pub exec: Option<String>,
    /// POST each notification to this local URL (loopback only: http://127.0.0.1:PORT/PATH).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Remind this long before an open release request expires (e.g. 1h, 30m).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub remind_before: Duration,
    /// Exit after this many notifications.
    #[arg(long)]
    pub count: Option<usize>,
}

/// The events that notify, by `tisa watch` kind.
fn kind(w: &WatchEvent) -> Option<&'static str> {
    match w.kind.as_str() {
        "RELEASE_REQUESTED" => Some("RELEASE_REQUESTED"),
        "DECIDED" if w.detail == "denied" => Some("DENIED"),
        "EXPIRED" => Some("EXPIRED"),
        "RETRACTED" => Some("RETRACTED"),
        _ => None,
    }
}

/// An open release request of one's own, as the status shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Open {
    /// The request.
    pub request_id: String,
    /// When it counts as denied.
    pub expires_at: Timestamp,
    /// The notification it makes (without `event`).
    pub fields: Value,
}

/// Every open request in the party's own reports' status.
pub fn open_requests(items: &[RevisionStatus]) -> Vec<Open> {
    let mut out = Vec::new();
    for s in items {
        let h = &s.header;
        for (to, st) in &s.recipients {
            if let RecipientState::Requested { request_id, expires_at } = st {
                out.push(Open {
                    request_id: request_id.to_string(),
                    expires_at: *expires_at,
                    fields: json!({
                        "report_id": h.id.as_str(), "revision": h.revision, "request_id": request_id.as_str(),
                        "originator": h.originator.trigraph(), "recipient": to.trigraph(),
                        "category": h.category.as_str(), "classification": h.classification.as_str(),
                        "expires_at": expires_at.to_string(),
                    }),
                });
            }
        }
    }
    out
}

/// The requests whose reminder is due at `now` (not reminded yet), and
/// when the next one falls due.
pub fn due<'a>(
    open: &'a [Open],
    before: Duration,
    now: Timestamp,
    reminded: &HashSet<String>,
) -> (Vec<&'a Open>, Option<Timestamp>) {
    let before_ms = u64::try_from(before.as_millis()).unwrap_or(u64::MAX);
    let mut due = Vec::new();
    let mut next: Option<Timestamp> = None;
    for o in open.iter().filter(|o| !reminded.contains(&o.request_id)) {
        let at = Timestamp(o.expires_at.as_millis().saturating_sub(before_ms));
        if at <= now {
            due.push(o);
        } else {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    (due, next)
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The party's own reports' status, every page.
async fn statuses(client: &ControlClient) -> Result<Vec<RevisionStatus>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let q = ListQuery { after, limit: 1000, ..ListQuery::default() };
        let reply = ask(client, ControlRequest::Status(q)).await?;
        let ControlReply::Status(Page { items, next_after }) = reply else { return Err(unexpected(&reply)) };
        all.extend(items);
        match next_after {
            Some(n) => after = Some(n),
            None => return Ok(all),
        }
    }
}

/// A loopback URL, or why not.
fn check_webhook(url: &str) -> Result<ureq::http::Uri> {
    let uri: ureq::http::Uri = url.parse().with_context(|| format!("--webhook {url:?} is not a URL"))?;
    let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if uri.scheme_str() != Some("http") || !local {
        bail!("--webhook {url}: only a local http:// webhook (127.0.0.1, ::1 or localhost) is allowed; notifications stay on this machine");
    }
    Ok(uri)
}

/// Where notifications go.
struct Sinks {
    party: tisa_core::Party,
    json: bool,
    exec: Option<String>,
    webhook: Option<ureq::http::Uri>,
}

impl Sinks {
    async fn send(&self, event: &str, mut fields: Value) {
        fields["event"] = json!(event);
        fields["party"] = json!(self.party.trigraph());
        fields["at"] = json!(now().to_string());
        let line = fields.to_string();
        if self.json {
            println!("{line}");
        } else {
            let f = |k: &str| fields[k].as_str().map(str::to_owned).unwrap_or_else(|| "-".to_owned());
            println!(
                "{} {event} {} r{} request {} to {} {} {}",
                f("at"),
                f("report_id"),
                fields["revision"],
                f("request_id"),
                f("recipient"),
                f("category"),
                f("classification")
            );
        }
        if let Some(cmd) = &self.exec {
            if let Err(e) = run(cmd, &fields, &line).await {
                eprintln!("warning: --exec for {event}: {e:#}");
            }
        }
        if let Some(uri) = &self.webhook {
            let (uri, body) = (uri.clone(), line.clone());
            let posted = tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent =
                    ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
                agent.post(uri).header("Content-Type", "application/json").send(body.as_bytes()).map(|_| ())
            })
            .await;
            match posted {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: --webhook for {event}: {e}"),
                Err(e) => eprintln!("warning: --webhook for {event}: {e}"),
            }
        }
    }
}

/// Runs `cmd` with `sh -c`: the notification on stdin and as TISA_* variables.
async fn run(cmd: &str, fields: &Value, line: &str) -> Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c").arg(cmd).stdin(Stdio::piped()).kill_on_drop(true);
    if let Value::Object(m) = fields {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            c.env(format!("TISA_{}", k.to_ascii_uppercase()), v);
        }
    }
    let mut child = c.spawn().context("cannot start sh")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
    }
    let status =
        tokio::time::timeout(Duration::from_secs(30), child.wait()).await.context("still running after 30 s")??;
    if !status.success() {
        bail!("exited with {status}");
    }
    Ok(())
}

/// Runs `tisa notify` until Ctrl-C (or `--count` notifications).
pub async fn notify(a: NotifyArgs) -> Result<ExitCode> {
    let c: Ctx = a.common.resolve()?;
    let webhook = a.webhook.as_deref().map(check_webhook).transpose()?;
    let sinks = Sinks { party: c.party, json: c.json, exec: a.exec, webhook };
    let client = c.client().await?;
    let mut events = client.watch().await?;
    let mut reminded = HashSet::new();
    let mut sent = 0usize;
    eprintln!(
        "notifying for {} (reminders {} before expiry; Ctrl-C to stop)",
        c.party,
        humantime::format_duration(a.remind_before)
    );
    loop {
        // Reminders due now, and when the next falls due (checked at least every minute).
        let open = open_requests(&statuses(&client).await?);
        let (now_due, next) = due(&open, a.remind_before, now(), &reminded);
        for o in now_due {
            reminded.insert(o.request_id.clone());
            sinks.send("EXPIRING", o.fields.clone()).await;
            sent += 1;
        }
        if a.count.is_some_and(|n| sent >= n) {
            return Ok(ExitCode::SUCCESS);
        }
        let wait = next.map_or(Duration::from_secs(60), |t| {
            Duration::from_millis(t.as_millis().saturating_sub(now().as_millis())).min(Duration::from_secs(60))
        });
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(w)) => if let Some(k) = kind(&w) {
                    sinks.send(k, fields(&client, &w).await).await;
                    sent += 1;
                },
                Some(Err(e)) => eprintln!("warning: unreadable event: {e}"),
                None => bail!("the connection to NATS closed"),
            },
            _ = tokio::time::sleep(wait) => {}
            _ = tisa_kit::util::shutdown_signal() => return Ok(ExitCode::SUCCESS),
        }
        if a.count.is_some_and(|n| sent >= n) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// An event's notification: its ids and markings, never its detail or
/// title. Markings the event lacks come from the party's own reports'
/// status (with the request's expiry while it is open), or for a report
/// received, from its inbox entry's header.
async fn fields(client: &ControlClient, w: &WatchEvent) -> Value {
    let mut v = json!({
        "report_id": w.report_id, "revision": w.revision, "request_id": w.request_id,
        "originator": w.originator.map(|p| p.trigraph()), "recipient": w.recipient.map(|p| p.trigraph()),
        "category": w.category.map(|c| c.as_str()), "classification": w.classification.map(|c| c.as_str()),
        "expires_at": Value::Null,
    });
    let Some(report) = w.report_id.as_deref().and_then(|r| tisa_core::ReportId::new(r).ok()) else { return v };
    let own = w.originator == Some(client.party());
    let header = if own {
        let q = ListQuery { report_id: Some(report.clone()), ..ListQuery::default() };
        match ask(client, ControlRequest::Status(q)).await {
            Ok(ControlReply::Status(Page { items, .. })) => {
                if let Some(o) =
                    open_requests(&items).into_iter().find(|o| Some(&o.request_id) == w.request_id.as_ref())
                {
                    v["expires_at"] = o.fields["expires_at"].clone();
                }
                items.into_iter().map(|s| s.header).find(|h| h.revision == w.revision || w.revision == 0)
            }
            _ => None,
        }
    } else {
        let q = ListQuery { report_id: Some(report), limit: 1, ..ListQuery::default() };
        match ask(client, ControlRequest::Inbox(q)).await {
            Ok(ControlReply::Inbox(Page { items, .. })) => items.into_iter().next().map(|e| e.delivery.header),
            _ => None,
        }
    };
    if let Some(h) = header {
        v["category"] = json!(h.category.as_str());
        v["classification"] = json!(h.classification.as_str());
        if w.revision == 0 {
            v["revision"] = json!(h.revision);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(id: &str, expires_at: u64) -> Open {
        Open { request_id: id.into(), expires_at: Timestamp(expires_at), fields: json!({}) }
    }

    #[test]
    fn a_reminder_falls_due_the_given_time_before_expiry_once() {
        const H: u64 = 3_600_000;
        let list = [open("a", 10 * H), open("b", 3 * H)];
        let mut reminded = HashSet::new();
        // At 1 h, 1 h before: nothing due; the next is b's, at 2 h.
        let (d, next) = due(&list, Duration::from_secs(3600), Timestamp(H), &reminded);
        assert!(d.is_empty());
        assert_eq!(next, Some(Timestamp(2 * H)));
        // At 2 h: b is due (control: the same rule, later).
        let (d, next) = due(&list, Duration::from_secs(3600), Timestamp(2 * H), &reminded);
        assert_eq!(d.iter().map(|o| o.request_id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(next, Some(Timestamp(9 * H)));
        // Once only.
        reminded.insert("b".to_owned());
        let (d, _) = due(&list, Duration::from_secs(3600), Timestamp(2 * H), &reminded);
        assert!(d.is_empty());
    }

    #[test]
    fn only_a_local_webhook_is_taken() {
        for ok in ["http://127.0.0.1:9000/hook", "http://localhost/x", "http://[::1]:8080/"] {
            assert!(check_webhook(ok).is_ok(), "{ok}");
        }
        for bad in ["http://example.com/hook", "https://127.0.0.1/x", "http://10.0.0.1/x", "not a url"] {
            let e = check_webhook(bad).expect_err(bad).to_string();
            assert!(e.contains("--webhook"), "{e}");
        }
    }
}
