//! The broker and control-plane attacks of the #14 review, replayed with
//! raw NATS clients and the credentials `tisa broker config` generates: no
//! party can drive another party's node, or put anything in a third
//! party's account, in either broker mode.
//!
//! Every protection has its control: the same attempt succeeding where
//! exactly that one protection is missing. The switch is always the test
//! editing the generated config text (one permission put back), never a
//! product option. Absence is asserted only after a legitimate message on
//! the same path (a canary) has arrived, or after the node has counted its
//! refusal (a refusal is final: the call is never answered later).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::Bytes;
use common::{canary, counter, draft, nats_bin, submit, wait_for, ClusterPermit, TestCluster};
use futures::StreamExt;
use tisa_core::Party;
use tisa_kit::natsd::NatsServer;
use tisa_transport::subjects::{inbox_prefix, Role};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

// ------------------------------------------------------------ raw clients

/// An async raw client (own runtime) with one generated user's credentials.
struct Raw {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Raw {
    /// Connects to `url` as the user whose seed is `<dir>/<seed>.nk`.
    fn connect(url: &str, dir: &Path, seed: &str, inbox: &str) -> Raw {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let errs = errors.clone();
        let seed_text = std::fs::read_to_string(dir.join(format!("{seed}.nk"))).unwrap();
        let opts = async_nats::ConnectOptions::new()
            .nkey(seed_text.trim().to_owned())
            .custom_inbox_prefix(inbox)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |ev| {
                let errs = errs.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = ev {
                        errs.lock().unwrap().push(e.to_string());
                    }
                }
            });
        let client = rt.block_on(opts.connect(url)).unwrap_or_else(|e| panic!("{seed} on {url}: {e}"));
        Raw { rt, client, errors }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Waits until the server reported a permissions violation mentioning `subject`.
    fn wait_violation(&self, subject: &str) {
        wait_for(&format!("a permissions violation on {subject}"), || {
            self.errors()
                .iter()
                .any(|e| e.to_lowercase().contains("permissions violation") && e.contains(subject))
                .then_some(())
        });
    }

    fn publish(&self, subject: &str, payload: Bytes) {
        self.rt.block_on(async {
            self.client.publish(subject.to_owned(), payload).await.unwrap();
            self.client.flush().await.unwrap();
        });
    }

    fn publish_with_reply(&self, subject: &str, reply: &str, payload: Bytes) {
        self.rt.block_on(async {
            self.client.publish_with_reply(subject.to_owned(), reply.to_owned(), payload).await.unwrap();
            self.client.flush().await.unwrap();
        });
    }

    /// Creates (if missing) `stream` listening on `subjects`, a work queue
    /// as the nodes make theirs, with the durable consumer `durable`.
    fn ensure_stream(&self, name: &str, subjects: &[&str], durable: &str) {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            let s = js
                .get_or_create_stream(stream::Config {
                    name: name.to_owned(),
                    subjects: subjects.iter().map(|s| s.to_string()).collect(),
                    retention: stream::RetentionPolicy::WorkQueue,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("create {name}: {e}"));
            s.get_or_create_consumer(
                durable,
                pull::Config { durable_name: Some(durable.to_owned()), ..Default::default() },
            )
            .await
            .unwrap_or_else(|e| panic!("consumer {durable} on {name}: {e}"));
        });
    }

    /// Reads `stream` through `durable` (never acknowledging: the stream
    /// keeps everything) until a message containing `marker` arrived;
    /// returns every message read, `(subject, payload)`.
    fn read_until(&self, name: &str, durable: &str, marker: &str) -> Vec<(String, Bytes)> {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            let s = js.get_stream(name).await.unwrap_or_else(|e| panic!("stream {name}: {e}"));
            let c: jetstream::consumer::PullConsumer = s.get_consumer(durable).await.unwrap();
            let mut messages = c.messages().await.unwrap();
            let mut out: Vec<(String, Bytes)> = Vec::new();
            let deadline = tokio::time::Instant::now() + common::WAIT;
            while !out.iter().any(|(_, p)| contains(p, marker)) {
                match tokio::time::timeout_at(deadline, messages.next()).await {
                    Ok(Some(Ok(m))) => out.push((m.subject.to_string(), m.payload.clone())),
                    Ok(Some(Err(e))) => panic!("reading {name}: {e}"),
                    Ok(None) | Err(_) => panic!("{marker} never reached {name}; read {out:?}"),
                }
            }
            out
        })
    }

    /// How many messages `stream` holds (STREAM.INFO).
    fn stream_count(&self, name: &str) -> u64 {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            let mut s = js.get_stream(name).await.unwrap_or_else(|e| panic!("stream {name}: {e}"));
            s.info().await.unwrap().state.messages
        })
    }
}

fn contains(payload: &[u8], needle: &str) -> bool {
    common::contains(payload, needle)
}

// ------------------------------------------------- generated deployments

/// A generated deployment on real nats-servers, without nodes, with the
/// test's edit of the config text (`None`: as generated).
struct Deployment {
    dir: PathBuf,
    servers: Vec<(Option<Party>, NatsServer)>,
    _permit: ClusterPermit,
}

impl Deployment {
    fn start(opts: &tisa_deploy::broker::Options, edit: impl Fn(Option<Party>, String) -> String) -> Deployment {
        let permit = ClusterPermit::acquire();
        let dir = tisa_kit::natsd::scratch_dir("attacks").unwrap();
        let generated = tisa_deploy::broker::generate_with(&dir, opts).unwrap();
        let mut servers = Vec::new();
        for (p, conf) in &generated.servers {
            let text = edit(*p, std::fs::read_to_string(conf).unwrap());
            std::fs::write(conf, text).unwrap();
            let s = NatsServer::start(&nats_bin(), &["-c", &conf.to_string_lossy()])
                .unwrap_or_else(|e| panic!("nats-server refused {}: {e:#}", conf.display()));
            servers.push((*p, s));
        }
        Deployment { dir, servers, _permit: permit }
    }

    /// The server `party`'s users connect to.
    fn url(&self, party: Party) -> String {
        self.servers.iter().find(|(p, _)| p.is_none_or(|p| p == party)).map(|(_, s)| s.url().to_owned()).unwrap()
    }

    fn connect(&self, server_of: Party, seed: &str, inbox: &str) -> Raw {
        Raw::connect(&self.url(server_of), &self.dir, seed, inbox)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The generated config text with one user's block edited: `user` is the
/// comment naming it (`us-node`), `f` rewrites the block.
fn edit_user(text: &str, user: &str, f: impl Fn(&str) -> String) -> String {
    let start = text.find(&format!("# {user}\n")).unwrap_or_else(|| panic!("no user {user} in:\n{text}"));
    let end = start + text[start..].find("} }\n").unwrap() + 4;
    let edited = f(&text[start..end]);
    assert_ne!(edited, text[start..end], "test bug: the edit changed nothing");
    format!("{}{}{}", &text[..start], edited, &text[end..])
}

/// Puts `subject` back into a user block's publish allow list.
fn allow_publish(block: &str, subject: &str) -> String {
    block.replacen("publish: { allow: [", &format!("publish: {{ allow: [\"{subject}\", "), 1)
}

/// Puts blanket `allow_responses` back into a user block.
fn allow_responses(block: &str) -> String {
    block.replacen("\n      } }\n", "\n          allow_responses: true\n      } }\n", 1)
}

// --------------------------------------------- (1) the confused deputy

/// Shared mode, end to end: a US operator sends `tisa.ctl.us.inbox` (a
/// properly signed read) with the reply subject `tisa.jp.down.delivery`.
/// Before #14 the US node answered there and KR's unapproved report landed
/// in JP's inbound stream. Now the node refuses the call (counted, never
/// answered) and JP's stream holds only the legitimate canary.
/// Control: the same request with the operator's own reply subject gets
/// the inbox with KR's report in it (what the deputy would have leaked).
#[test]
fn shared_confused_deputy_reply_subject_is_refused_and_nothing_reaches_jp() {
    let mut c = TestCluster::builder().secured().start();
    let dir = c.broker_dir.clone().unwrap();
    // KR's report for JP, not approved: US holds it (bilateral), JP must not.
    let kr = draft("missile", "secret", "USA,JPN", "kr_unapproved");
    let kr_id = submit(&c, Party::Kr, &kr);
    wait_for(&format!("US's inbox holds {kr_id}"), || {
        common::inbox(&c, Party::Us).iter().any(|i| i["report_id"] == kr_id.as_str()).then_some(())
    });
    // JP's node is stopped: its inbound stream keeps whatever arrives.
    c.node(Party::Jp).kill();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let us_ops = rt.block_on(c.operator_client(Party::Us)).unwrap();
    let req = ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() });
    // Control: with its own reply subject the signed read returns KR's report.
    let ControlReply::Inbox(page) = rt.block_on(us_ops.call(&req)).unwrap() else { panic!("not an inbox") };
    assert!(
        page.items.iter().any(|e| e.delivery.header.id.as_str() == kr_id),
        "control: the US operator's own read returns KR's report"
    );
    // The attack: a fresh signed read, answered to JP's link subject.
    let action = us_ops.action_for(&req).expect("the US analyst signs reads");
    let cli = Raw::connect(c.nats.url(), &dir, "us-cli", &inbox_prefix(Party::Us, Role::Cli));
    cli.publish_with_reply("tisa.ctl.us.inbox", "tisa.jp.down.delivery", Bytes::from(req.encode_signed(Some(&action))));
    wait_for("the US node counts the refused reply subject", || {
        (counter(&c, Party::Us, "refused_replies") >= 1).then_some(())
    });
    assert!(c.log(Party::Us).contains("reply subject outside the operators' inbox"), "{}", c.log(Party::Us));
    // The canary: US's own report to JP travels to JP's stream.
    let us = draft("missile", "secret", "USA,JPN", "us_canary");
    submit(&c, Party::Us, &us);
    let jp = Raw::connect(c.nats.url(), &dir, "jp-link", &inbox_prefix(Party::Jp, Role::NationLink));
    let held = jp.read_until("TISA_JP_DOWN", "jp-node", &us.title);
    for (subject, payload) in &held {
        assert!(!contains(payload, &kr.title) && !contains(payload, &kr.body), "KR's report reached JP on {subject}");
    }
    drop(rt);
}

/// The broker layer under the node's check: the US node's control user
/// cannot publish on a link subject, neither directly nor as a "reply".
/// JP's stream (created as JP's node does) holds only the canary the hub's
/// JP link user sends after the attempts. Controls: the generated config
/// with `tisa.jp.down.>` put back into `us-node`'s publish list, and with
/// blanket `allow_responses` put back, each lets the same attempt store
/// the forgery in JP's stream.
#[test]
fn shared_control_user_cannot_publish_on_a_link_even_as_a_reply() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Case {
        Generated,
        LinkSubjectPutBack,
        AllowResponsesPutBack,
    }
    for case in [Case::LinkSubjectPutBack, Case::AllowResponsesPutBack, Case::Generated] {
        let d =
            Deployment::start(&tisa_deploy::broker::Options::shared("nats://127.0.0.1:4222"), |_, text| match case {
                Case::Generated => text,
                Case::LinkSubjectPutBack => edit_user(&text, "us-node", |b| allow_publish(b, "tisa.jp.down.>")),
                Case::AllowResponsesPutBack => edit_user(&text, "us-node", allow_responses),
            });
        let jp = d.connect(Party::Jp, "jp-link", &inbox_prefix(Party::Jp, Role::NationLink));
        jp.ensure_stream("TISA_JP_DOWN", &["tisa.jp.down.>"], "jp-node");
        let node = d.connect(Party::Us, "us-node", &inbox_prefix(Party::Us, Role::Node));
        let forged = canary("forged");
        // Direct publish (the deputy's own permission)…
        if case != Case::AllowResponsesPutBack {
            node.publish("tisa.jp.down.delivery", Bytes::from(format!("direct {forged}")));
        }
        // … and a "reply" to a request whose reply subject is JP's link.
        if case != Case::LinkSubjectPutBack {
            let mut sub = node.rt.block_on(node.client.subscribe("tisa.ctl.us.inbox")).unwrap();
            node.rt.block_on(node.client.flush()).unwrap();
            let cli = d.connect(Party::Us, "us-cli", &inbox_prefix(Party::Us, Role::Cli));
            cli.publish_with_reply("tisa.ctl.us.inbox", "tisa.jp.down.delivery", Bytes::from_static(b"ask"));
            let m = node
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), sub.next()).await })
                .unwrap()
                .unwrap();
            let reply = m.reply.expect("the request carries its reply subject");
            assert_eq!(reply.as_str(), "tisa.jp.down.delivery");
            node.publish(&reply, Bytes::from(format!("reply {forged}")));
        }
        // The canary: the hub's JP link user, on JP's link.
        let link = d.connect(Party::Us, "us-link-jp", &inbox_prefix(Party::Jp, Role::Link));
        let marker = canary("legit");
        link.publish("tisa.jp.down.progress", Bytes::from(marker.clone()));
        let held = jp.read_until("TISA_JP_DOWN", "jp-node", &marker);
        let leaked = held.iter().filter(|(_, p)| contains(p, &forged)).count();
        if case == Case::Generated {
            assert_eq!(leaked, 0, "the US control user put {leaked} messages into JP's stream");
            assert_eq!(jp.stream_count("TISA_JP_DOWN"), 1, "JP's stream holds the canary only");
            node.wait_violation("tisa.jp.down.delivery");
        } else {
            assert_eq!(leaked, 1, "control ({case:?}): the attempt should reach JP's stream: {held:?}");
        }
    }
}
