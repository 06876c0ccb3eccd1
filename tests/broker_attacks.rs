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

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{canary, counter, draft, nats_bin, submit, wait_for, ClusterPermit, TestCluster};
use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::Bytes;
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
        Raw::try_connect(url, dir, seed, inbox).unwrap_or_else(|e| panic!("{seed} on {url}: {e}"))
    }

    /// Connects, or the server's refusal.
    fn try_connect(url: &str, dir: &Path, seed: &str, inbox: &str) -> Result<Raw, String> {
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
        let client = rt.block_on(opts.connect(url)).map_err(|e| e.to_string())?;
        Ok(Raw { rt, client, errors })
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
    /// Generates with `opts`, lets `edit` rewrite the server configs
    /// (`(server's party, text)`), and starts every server (per-nation:
    /// US's first, on a free leaf port; each nation's once its leaf is up).
    fn start(opts: &tisa_deploy::broker::Options, edit: impl Fn(&mut [(Option<Party>, String)])) -> Deployment {
        let permit = ClusterPermit::acquire();
        let dir = tisa_kit::natsd::scratch_dir("attacks").unwrap();
        let mut opts = opts.clone();
        if opts.mode == tisa_deploy::broker::Mode::PerNation {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            opts.us_leaf_url = format!("nats://127.0.0.1:{port}");
        }
        let mut generated = tisa_deploy::broker::generate_with(&dir, &opts).unwrap().servers;
        generated.sort_by_key(|(p, _)| !p.is_none_or(|p| p.is_hub()));
        let mut texts: Vec<(Option<Party>, String)> =
            generated.iter().map(|(p, conf)| (*p, std::fs::read_to_string(conf).unwrap())).collect();
        edit(&mut texts);
        let mut servers = Vec::new();
        for ((p, conf), (_, text)) in generated.iter().zip(&texts) {
            std::fs::write(conf, text).unwrap();
            let s = NatsServer::start(&nats_bin(), &["-c", &conf.to_string_lossy()])
                .unwrap_or_else(|e| panic!("nats-server refused {}: {e:#}", conf.display()));
            servers.push((*p, s));
        }
        for (p, s) in &servers {
            if p.is_some_and(|p| !p.is_hub()) {
                s.wait_leaf(common::WAIT).unwrap();
            }
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
    confused_deputy(common::Broker::Shared);
}

/// [`shared_confused_deputy_reply_subject_is_refused_and_nothing_reaches_jp`]
/// with one server per nation: JP's stream is on JP's server, behind its leaf.
#[test]
fn per_nation_confused_deputy_reply_subject_is_refused_and_nothing_reaches_jp() {
    confused_deputy(common::Broker::PerNation);
}

fn confused_deputy(broker: common::Broker) {
    let mut c = TestCluster::builder().broker(broker).start();
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
    let cli = Raw::connect(c.nats_of(Party::Us).url(), &dir, "us-cli", &inbox_prefix(Party::Us, Role::Cli));
    cli.publish_with_reply("tisa.ctl.us.inbox", "tisa.jp.down.delivery", Bytes::from(req.encode_signed(Some(&action))));
    wait_for("the US node counts the refused reply subject", || {
        (counter(&c, Party::Us, "refused_replies") >= 1).then_some(())
    });
    assert!(c.log(Party::Us).contains("reply subject outside the operators' inbox"), "{}", c.log(Party::Us));
    // The canary: US's own report to JP travels to JP's stream.
    let us = draft("missile", "secret", "USA,JPN", "us_canary");
    submit(&c, Party::Us, &us);
    let jp = Raw::connect(c.nats_of(Party::Jp).url(), &dir, "jp-link", &inbox_prefix(Party::Jp, Role::NationLink));
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
    control_user_cannot_publish_on_a_link(&tisa_deploy::broker::Options::shared("nats://127.0.0.1:4222"));
}

/// [`shared_control_user_cannot_publish_on_a_link_even_as_a_reply`] on one
/// server per nation: the forgery would cross US's server, `LINK_JP` and
/// JP's leaf into JP's stream on JP's server.
#[test]
fn per_nation_control_user_cannot_publish_on_a_link_even_as_a_reply() {
    control_user_cannot_publish_on_a_link(&tisa_deploy::broker::Options::per_nation());
}

fn control_user_cannot_publish_on_a_link(opts: &tisa_deploy::broker::Options) {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Case {
        Generated,
        LinkSubjectPutBack,
        AllowResponsesPutBack,
    }
    for case in [Case::LinkSubjectPutBack, Case::AllowResponsesPutBack, Case::Generated] {
        let d = Deployment::start(opts, |texts| {
            for (_, text) in texts.iter_mut().filter(|(p, _)| p.is_none_or(|p| p.is_hub())) {
                *text = match case {
                    Case::Generated => text.clone(),
                    Case::LinkSubjectPutBack => edit_user(text, "us-node", |b| allow_publish(b, "tisa.jp.down.>")),
                    Case::AllowResponsesPutBack => edit_user(text, "us-node", allow_responses),
                };
            }
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

// ------------------- (2) the hub's link user in KR's account (spy, inject, ack)

/// Where the hub's KR link user sits in a deployment: the generated one
/// (US's account; per-nation: on US's server, KR's joined by a leaf), or
/// the control, "old-style": the same user (same key) in KR's own account
/// with the JetStream API (`$JS.API.>`, `$JS.ACK.>`) put back, and KR's
/// link user with them too; KR's account no longer imports its up
/// subjects, so the hub's stream of them sits in KR's account, as it did
/// before #14.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setup {
    Generated,
    OldStyle,
}

fn modes() -> [tisa_deploy::broker::Options; 2] {
    [tisa_deploy::broker::Options::shared("nats://127.0.0.1:4222"), tisa_deploy::broker::Options::per_nation()]
}

/// The user block named `user` (`# us-link-kr …` comment to its closing `} }`).
fn user_block(text: &str, user: &str) -> String {
    let start = text.find(&format!("# {user}")).unwrap_or_else(|| panic!("no user {user} in:\n{text}"));
    let end = start + text[start..].find("} }\n").unwrap() + 4;
    text[start..end].to_owned()
}

fn old_style(texts: &mut [(Option<Party>, String)]) {
    let hub_conf = texts.iter().position(|(p, _)| p.is_none_or(|p| p.is_hub())).unwrap();
    let kr_conf = texts.iter().position(|(p, _)| p.is_none_or(|p| p == Party::Kr)).unwrap();
    let block = user_block(&texts[hub_conf].1, "us-link-kr");
    if hub_conf == kr_conf {
        // Shared: the key moves from US's account (a key lives in one account).
        let t = &mut texts[hub_conf].1;
        *t = t.replacen(&format!("      {block}"), "", 1);
    }
    let moved = allow_publish(&allow_publish(&block, "$JS.API.>"), "$JS.ACK.>");
    let t = texts[kr_conf].1.clone();
    let t = edit_user(&t, "kr-link", |b| allow_publish(&allow_publish(b, "$JS.API.>"), "$JS.ACK.>"));
    // Into KR's account (its users list is the first after `  KR {`).
    let kr = t.find("  KR {").unwrap();
    let users = kr + t[kr..].find("    users = [\n").unwrap() + "    users = [\n".len();
    let mut t = format!("{}      {moved}{}", &t[..users], &t[users..]);
    // KR's account no longer imports its up subjects: the stream there takes them.
    let import = t.lines().find(|l| l.contains("subject: \"tisa.kr.up.>\"")).unwrap().to_owned();
    t = t.replacen(&format!("{import}\n"), "", 1);
    texts[kr_conf].1 = t;
}

fn start_attack(opts: &tisa_deploy::broker::Options, setup: Setup) -> Deployment {
    Deployment::start(opts, |texts| {
        if setup == Setup::OldStyle {
            old_style(texts)
        }
    })
}

/// The hub's KR link user, where its credentials open a server: US's
/// (generated) or KR's (old-style, per-nation).
fn hub_link(d: &Deployment, setup: Setup) -> Raw {
    let server = if setup == Setup::OldStyle { Party::Kr } else { Party::Us };
    d.connect(server, "us-link-kr", &inbox_prefix(Party::Kr, Role::Link))
}

fn is_per_nation(opts: &tisa_deploy::broker::Options) -> bool {
    opts.mode == tisa_deploy::broker::Mode::PerNation
}

impl Raw {
    /// Tries to create `config`; the error, if refused.
    fn try_create_stream(&self, config: stream::Config) -> Result<(), String> {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            tokio::time::timeout(Duration::from_secs(3), js.create_stream(config))
                .await
                .map_err(|_| "no answer".to_owned())?
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    /// A request; the answer, if any came within 2 s.
    fn try_request(&self, subject: &str) -> Option<String> {
        self.rt.block_on(async {
            let r = tokio::time::timeout(Duration::from_secs(2), self.client.request(subject.to_owned(), Bytes::new()));
            r.await.ok()?.ok().map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        })
    }

    /// How many messages `name` holds, if this user may ask.
    fn try_stream_count(&self, name: &str) -> Option<u64> {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            let mut s = tokio::time::timeout(Duration::from_secs(3), js.get_stream(name)).await.ok()?.ok()?;
            Some(s.info().await.ok()?.state.messages)
        })
    }

    /// A JetStream publish; whether a stream acknowledged it.
    fn js_publish(&self, subject: &str, payload: Bytes) -> bool {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            match js.publish(subject.to_owned(), payload).await {
                Ok(ack) => matches!(tokio::time::timeout(Duration::from_secs(3), ack).await, Ok(Ok(_))),
                Err(_) => false,
            }
        })
    }

    /// Pulls (no wait) from `stream`/`durable` and acknowledges everything
    /// it gets; how many it took away.
    fn take_away(&self, name: &str, durable: &str) -> usize {
        self.rt.block_on(async {
            let js = jetstream::new(self.client.clone());
            let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(3), js.get_stream(name)).await else { return 0 };
            let Ok(c) = s.get_consumer::<pull::Config>(durable).await else { return 0 };
            let Ok(mut batch) = c.fetch().max_messages(100).messages().await else { return 0 };
            let mut n = 0;
            while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), batch.next()).await {
                if m.double_ack().await.is_ok() {
                    n += 1;
                }
            }
            n
        })
    }

    /// Subscribes to `subject`; the messages, as they come.
    fn capture(&self, subject: &str) -> common::Capture {
        let mut sub = self.rt.block_on(self.client.subscribe(subject.to_owned())).unwrap();
        self.rt.block_on(self.client.flush()).unwrap();
        let cap = common::Capture::default();
        let store = cap.clone();
        self.rt.spawn(async move {
            while let Some(m) = sub.next().await {
                store.push(m.subject.to_string(), m.payload);
            }
        });
        cap
    }
}

/// KR's own operator traffic: the CLI's request on `tisa.ctl.kr.submit`
/// and the node's reply on the CLI's inbox, each carrying `secret`; then a
/// later request carrying `marker`, which KR's node (a raw stand-in with
/// its credentials) sees: everything before it has been routed.
fn kr_operator_traffic(d: &Deployment, secret: &str) {
    let node = d.connect(Party::Kr, "kr-node", &inbox_prefix(Party::Kr, Role::Node));
    let seen = node.capture("tisa.ctl.kr.submit");
    let cli = d.connect(Party::Kr, "kr-cli", &inbox_prefix(Party::Kr, Role::Cli));
    cli.publish_with_reply("tisa.ctl.kr.submit", "_INBOX_kr_cli.spy.1", Bytes::from(format!("request {secret}")));
    node.publish("_INBOX_kr_cli.spy.1", Bytes::from(format!("reply {secret}")));
    let marker = canary("kr_marker");
    cli.publish("tisa.ctl.kr.submit", Bytes::from(marker.clone()));
    wait_for("KR's node sees its operator's later request", || seen.contains(&marker).then_some(()));
}

/// The spy stream: with the hub's link credentials, a stream capturing
/// KR's control subjects and KR's operators' inbox. Generated: nothing of
/// KR's reaches it (and, per-nation, KR's server refuses the credentials
/// outright). Control (old-style): it captures KR's request and reply.
#[test]
fn the_hubs_link_credentials_cannot_spy_on_krs_control_plane() {
    for opts in modes() {
        for setup in [Setup::OldStyle, Setup::Generated] {
            let what = format!("{:?} {setup:?}", opts.mode);
            let d = start_attack(&opts, setup);
            if is_per_nation(&opts) && setup == Setup::Generated {
                let r = Raw::try_connect(&d.url(Party::Kr), &d.dir, "us-link-kr", "_INBOX_us_link_kr");
                let err = r.err().unwrap_or_else(|| panic!("{what}: the hub's link credentials opened KR's server"));
                assert!(err.to_lowercase().contains("authorization violation"), "{what}: {err}");
            }
            let hub = hub_link(&d, setup);
            // KR's JetStream API: its account's (old-style) or, per-nation,
            // its domain's across the leaf.
            let kr_api = ["$JS.API.INFO", "$JS.kr.API.INFO"].map(|s| hub.try_request(s));
            if setup == Setup::OldStyle {
                assert!(
                    kr_api[0]
                        .as_deref()
                        .is_some_and(|a| a.contains("account_info_response") && !a.contains("\"error\":")),
                    "control ({what}): the hub's link user reaches KR's JetStream API: {kr_api:?}"
                );
            } else {
                for a in &kr_api {
                    assert!(a.is_none(), "{what}: the hub's link user got a JetStream answer: {a:?}");
                }
            }
            // The stream name the hub's own inbound stream has: the one it may create.
            let created = hub.try_create_stream(stream::Config {
                name: "TISA_KR_UP".into(),
                subjects: vec!["tisa.ctl.kr.>".into(), "_INBOX_kr_cli.>".into()],
                ..Default::default()
            });
            let secret = canary("kr_control_secret");
            kr_operator_traffic(&d, &secret);
            let held = if created.is_ok() { hub.try_stream_count("TISA_KR_UP").unwrap_or(0) } else { 0 };
            if setup == Setup::OldStyle {
                assert!(created.is_ok(), "control ({what}): the spy stream is created: {created:?}");
                assert!(held >= 2, "control ({what}): the spy stream captures KR's request and reply: {held}");
            } else {
                assert_eq!(held, 0, "{what}: the hub's spy stream captured {held} messages of KR's control plane");
            }
        }
    }
}

/// Republish injection: with the hub's link credentials, a stream on a
/// subject the hub may publish (`tisa.kr.down.inject`) republishing onto
/// `tisa.ctl.kr.submit`, then a publish there. Generated: KR's node (its
/// credentials' subscription) never sees it; a later operator request
/// does arrive. Control (old-style): KR's node receives the injection.
#[test]
fn the_hubs_link_credentials_cannot_inject_into_krs_node() {
    for opts in modes() {
        for setup in [Setup::OldStyle, Setup::Generated] {
            let what = format!("{:?} {setup:?}", opts.mode);
            let d = start_attack(&opts, setup);
            let node = d.connect(Party::Kr, "kr-node", &inbox_prefix(Party::Kr, Role::Node));
            let seen = node.capture("tisa.ctl.kr.submit");
            let hub = hub_link(&d, setup);
            let created = hub.try_create_stream(stream::Config {
                name: "TISA_KR_UP".into(),
                subjects: vec!["tisa.kr.down.inject".into()],
                republish: Some(stream::Republish {
                    source: "tisa.kr.down.inject".into(),
                    destination: "tisa.ctl.kr.submit".into(),
                    headers_only: false,
                }),
                ..Default::default()
            });
            let injected = canary("injected");
            hub.js_publish("tisa.kr.down.inject", Bytes::from(injected.clone()));
            if setup == Setup::OldStyle {
                assert!(created.is_ok(), "control ({what}): {created:?}");
                wait_for(&format!("control ({what}): KR's node receives the injection"), || {
                    seen.contains(&injected).then_some(())
                });
            } else {
                let cli = d.connect(Party::Kr, "kr-cli", &inbox_prefix(Party::Kr, Role::Cli));
                let marker = canary("kr_marker");
                cli.publish("tisa.ctl.kr.submit", Bytes::from(marker.clone()));
                wait_for("KR's node sees its operator's request", || seen.contains(&marker).then_some(()));
                assert!(!seen.contains(&injected), "{what}: the hub's injection reached KR's node");
            }
        }
    }
}

/// KR's credentials acking the hub's messages away: the hub's inbound
/// stream and consumer (`TISA_KR_UP`, `us-node`, made by its link user as
/// its node does) hold a message KR sent; KR's node and link credentials
/// pull from that consumer and acknowledge what they get. Generated: they
/// get nothing (refused) and the hub's consumer still delivers the
/// message. Control (old-style: the hub's stream in KR's account, KR with
/// the JetStream API): KR takes it away and the hub never gets it.
#[test]
fn krs_credentials_cannot_ack_the_hubs_messages_away() {
    for opts in modes() {
        for setup in [Setup::OldStyle, Setup::Generated] {
            let what = format!("{:?} {setup:?}", opts.mode);
            let d = start_attack(&opts, setup);
            let hub = hub_link(&d, setup);
            hub.ensure_stream("TISA_KR_UP", &["tisa.kr.up.>"], "us-node");
            let kr_link = d.connect(Party::Kr, "kr-link", &inbox_prefix(Party::Kr, Role::NationLink));
            let sent = canary("kr_report");
            wait_for(&format!("{what}: KR's message reaches the hub's stream"), || {
                kr_link.js_publish("tisa.kr.up.report", Bytes::from(sent.clone())).then_some(())
            });
            let kr_node = d.connect(Party::Kr, "kr-node", &inbox_prefix(Party::Kr, Role::Node));
            let taken = kr_link.take_away("TISA_KR_UP", "us-node") + kr_node.take_away("TISA_KR_UP", "us-node");
            if setup == Setup::OldStyle {
                assert_eq!(taken, 1, "control ({what}): KR's credentials take the hub's message away");
                assert_eq!(hub.take_away("TISA_KR_UP", "us-node"), 0, "control ({what}): the hub lost it");
            } else {
                assert_eq!(taken, 0, "{what}: KR's credentials took {taken} of the hub's messages away");
                let held = hub.read_until("TISA_KR_UP", "us-node", &sent);
                assert_eq!(held.len(), 1, "{what}: the hub's consumer still delivers KR's message");
            }
        }
    }
}
