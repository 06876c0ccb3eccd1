//! Each nation's broker as a JetStream cluster of three servers
//! (`tisa broker config --cluster 3`): losing a server, or a server's disk,
//! loses nothing and does not stop the flow.
//!
//! Nine nats-servers (KR's, US's, JP's clusters, joined only by leaf
//! connections to US's) and the three nodes, on loopback. Every stream is
//! kept by three servers; `tisa health` shows each stream's leader and
//! replicas, and the tests find leaders through it.
//!
//! What "nothing lost" means here is checked twice: end to end (every
//! report reaches JP exactly once with its receipt home, in KR's order,
//! leaders moving or not) and at the broker (where
//! a lost stream message could otherwise be masked by the nodes'
//! end-to-end reconciliation, the scenario makes sure no node reconciled,
//! so every report JP took came out of the stream).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::fault::*;
use crate::common::{op, Broker, TestCluster};
use futures::StreamExt as _;
use serde_json::Value;
use tisa_core::Party;
use tisa_kit::cluster::Cluster;

/// Generous: a leader election, a reconnection and a retried publish on a noisy 2-core machine.
const CLUSTER_WAIT: Duration = Duration::from_secs(90);

/// One clustered deployment at a time (nine servers and three nodes keep
/// two cores busy); held for the whole test.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start_cluster(args: &'static [&'static str]) -> TestCluster {
    tokio::task::spawn_blocking(move || {
        TestCluster::builder()
            .broker(Broker::Generated(tisa_deploy::broker::Options::per_nation_cluster(3)))
            .all_args(args)
            .start()
    })
    .await
    .unwrap()
}

/// `party`'s streams as `tisa health --json` shows them (empty if the node did not answer).
fn streams(c: &Cluster, party: Party) -> Vec<Value> {
    let out = op(c, party, false, &["health", "--json", "--timeout", "10s"]);
    serde_json::from_slice::<Value>(&out.stdout).ok().and_then(|v| v["streams"].as_array().cloned()).unwrap_or_default()
}

fn stream(c: &Cluster, party: Party, name: &str) -> Option<Value> {
    streams(c, party).into_iter().find(|s| s["name"] == name)
}

/// Waits until `party`'s node names a leader of `name` other than `not`.
fn wait_leader(c: &Cluster, party: Party, name: &str, not: Option<&str>) -> String {
    common::wait_until(
        Instant::now() + CLUSTER_WAIT,
        &format!("{party}: a leader of {name} other than {not:?}"),
        || {
            let s = stream(c, party, name)?;
            let leader = s["leader"].as_str().filter(|l| !l.is_empty() && Some(*l) != not)?;
            Some(leader.to_owned())
        },
    )
}

/// Waits until every stream of `party`'s node has all its replicas
/// current, with no warning (a restarted server has caught up).
fn wait_all_current(c: &Cluster, party: Party) {
    common::wait_until(
        Instant::now() + CLUSTER_WAIT,
        &format!("{party}: every stream with 3 current replicas"),
        || {
            let s = streams(c, party);
            (s.len() >= 2 && s.iter().all(|s| s["replicas"] == 3 && s["current"] == 3 && s["warning"].is_null()))
                .then_some(())
        },
    );
}

/// One more report from KR, and its receipt from JP: the flow goes on.
async fn flows(kr: &tisa_transport::ControlClient, what: &str) {
    let id = submit_retrying(kr, &draft(&common::canary("probe"))).await;
    all_receipted(kr, &[id], CLUSTER_WAIT, what).await;
}

/// `n` reports from KR, submitted (committed at KR) but not waited for:
/// in flight when the next fault strikes.
async fn in_flight(kr: &tisa_transport::ControlClient, label: &str, n: usize, ids: &mut Vec<String>) {
    for i in 0..n {
        ids.push(submit_retrying(kr, &draft(&common::canary(&format!("{label}-{i}")))).await);
    }
}

/// Ids of `kind` entries in `party`'s audit log, in log order, among `ids`.
fn audited(c: &Cluster, party: Party, kind: &str, ids: &HashMap<String, usize>) -> Vec<String> {
    ordered(&audit(c, party), kind, ids)
}

/// Every one of `ids` reached JP exactly once and its receipt came home.
/// Returns how many reports JP received after one KR submitted later,
/// among every report KR submitted (the probes between faults too), not
/// only `ids` (the callers expect none: each sender chains its publishes
/// so a stream stores them in the order sent, and each receiver takes a
/// stream's messages in stream order, whatever order a failover
/// redelivers them in).
async fn all_once(c: &Cluster, ids: &[String], within: Duration) -> usize {
    let index: HashMap<String, usize> = ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
    assert_eq!(index.len(), ids.len(), "distinct reports");
    // KR's audit log (a status page holds at most 1,000 reports).
    tokio::task::block_in_place(|| {
        common::wait_until(Instant::now() + within, "KR holds JP's receipt for every report", || {
            let receipts: std::collections::HashSet<String> =
                audited(c, Party::Kr, "RECEIPT", &index).into_iter().collect();
            (receipts.len() == ids.len()).then_some(())
        })
    });
    let (kr, jp) = tokio::task::block_in_place(|| (audit(c, Party::Kr), audit(c, Party::Jp)));
    assert_eq!(ordered(&kr, "SUBMIT", &index).len(), ids.len(), "KR submitted each once");
    assert_eq!(ordered(&jp, "RECEIVED", &index).len(), ids.len(), "JP received each exactly once");
    let submitted: Vec<&str> =
        kr.iter().filter(|e| e["kind"] == "SUBMIT").filter_map(|e| e["report_id"].as_str()).collect();
    let position: HashMap<&str, usize> = submitted.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut latest = 0;
    let mut late = 0;
    for e in jp.iter().filter(|e| e["kind"] == "RECEIVED") {
        let Some(p) = e["report_id"].as_str().and_then(|id| position.get(id)) else { continue };
        if *p < latest {
            eprintln!("JP received {} (KR's #{p}) after KR's #{latest}", e["report_id"]);
            late += 1;
        }
        latest = latest.max(*p);
    }
    late
}

/// How many times the hub's node reconciled with `peer` (a link came back).
fn reconciles(c: &TestCluster, peer: Party) -> usize {
    c.log(Party::Us).lines().filter(|l| l.contains("link back: reconciling") && l.contains(peer.code())).count()
}

// ------------------------------------------------------------- leaders

/// The leader of each cluster's flow stream is killed (-9) mid-flow, then
/// the server that took over: the flow goes on while each is down, and
/// every report reaches JP exactly once with its receipt home.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_stream_leaders_mid_flow_loses_nothing_and_does_not_stop_the_flow() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut c = start_cluster(&[]).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    flows(&kr, "the first report").await;
    // Every stream is kept by three servers, each current, and has a leader.
    for p in Party::ALL {
        tokio::task::block_in_place(|| wait_all_current(&c, p));
    }
    let t0 = Instant::now();
    let mut ids = Vec::new();
    // The hub's inbound stream from KR (US's cluster), JP's inbound stream
    // (JP's), KR's inbound stream (KR's: the receipts come home on it).
    for (party, name) in [(Party::Us, "TISA_KR_UP"), (Party::Jp, "TISA_JP_DOWN"), (Party::Kr, "TISA_KR_DOWN")] {
        for round in ["its leader", "the server that took over"] {
            let victim = tokio::task::block_in_place(|| wait_leader(&c, party, name, None));
            in_flight(&kr, name, 10, &mut ids).await;
            eprintln!("{name}: killing {round}, {victim} ({:.1} s)", t0.elapsed().as_secs_f64());
            c.server(&victim).unwrap().kill();
            tokio::task::block_in_place(|| wait_leader(&c, party, name, Some(&victim)));
            flows(&kr, &format!("{name} with {victim} down")).await;
            // Below its replica count: `tisa health` warns (and stops once it has caught up).
            let warned = tokio::task::block_in_place(|| {
                common::wait_until(Instant::now() + CLUSTER_WAIT, &format!("{party} warns about {name}"), || {
                    let s = stream(&c, party, name)?;
                    (s["current"] == 2).then(|| s["warning"].as_str().map(str::to_owned)).flatten()
                })
            });
            assert!(warned.contains("2 of 3") && warned.contains(&victim), "{warned}");
            c.server(&victim).unwrap().start_again().unwrap();
            tokio::task::block_in_place(|| wait_all_current(&c, party));
        }
    }
    let late = all_once(&c, &ids, CLUSTER_WAIT).await;
    eprintln!(
        "{} reports, {late} overtaken by a later one; six kills in {:.1} s",
        ids.len(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(late, 0, "JP received them in KR's order");
}

// ------------------------------------------------------------- disks

/// The JetStream store of `server` (`tisa-jp-2`) in the generated deployment.
fn store_of(c: &Cluster, server: &str) -> PathBuf {
    let suffix = server.strip_prefix("tisa-").unwrap();
    c.broker_dir.as_ref().unwrap().join(format!("jetstream-{suffix}"))
}

/// Every file under `dir` whose name ends with `ext`.
fn files(dir: &std::path::Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
    out
}

/// Corrupts a stream's message blocks on disk: flips a byte in the middle
/// of each and cuts the last one in half.
fn corrupt(store: &std::path::Path, stream: &str) -> usize {
    let dir = files(store, ".blk").into_iter().filter(|p| p.to_string_lossy().contains(stream)).collect::<Vec<_>>();
    assert!(!dir.is_empty(), "no message blocks of {stream} under {}", store.display());
    for f in &dir {
        let mut bytes = std::fs::read(f).unwrap();
        if !bytes.is_empty() {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x5a;
        }
        std::fs::write(f, &bytes).unwrap();
    }
    let last = dir.iter().max().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(last).unwrap().set_len(len / 2).unwrap();
    dir.len()
}

/// JP's inbound stream as JP's link user sees it (JP's node is down).
async fn jp_stream(c: &Cluster) -> Option<async_nats::jetstream::stream::Info> {
    let cfg = tisa_deploy::config::load(&c.broker_dir.as_ref()?.join("jp-node.toml")).ok()?;
    let client = tisa_transport::connect_once(&cfg.jp?, "test-jp-stream").await.ok()?;
    let js = async_nats::jetstream::new(client);
    let s = tokio::time::timeout(Duration::from_secs(5), js.get_stream("TISA_JP_DOWN")).await.ok()?.ok()?;
    Some(s.cached_info().clone())
}

/// Waits until JP's stream has a leader and two current replicas and
/// holds every message from `first` on without a gap, up to at least
/// `last_seq` (nothing is taken from it while JP's node is down; the hub
/// may add to it meanwhile, e.g. a standing grant's periodic notice).
async fn wait_jp_stream_whole(
    c: &Cluster,
    first: u64,
    last_seq: u64,
    what: &str,
) -> async_nats::jetstream::stream::Info {
    // The last state seen, for the message should it never become whole.
    let seen = Mutex::new(String::from("no stream info"));
    let deadline = Instant::now() + CLUSTER_WAIT;
    let found = common::wait_until_async(deadline + Duration::from_secs(5), what, || async {
        if Instant::now() > deadline {
            return Some(None);
        }
        let i = jp_stream(c).await?;
        let cl = i.cluster.clone()?;
        *seen.lock().unwrap() = format!("{:?}, {:?}", i.state, cl);
        let whole = cl.leader.is_some()
            && cl.replicas.len() == 2
            && cl.replicas.iter().all(|r| r.current && !r.offline)
            && i.state.first_sequence == first
            && i.state.last_sequence >= last_seq
            && i.state.messages == i.state.last_sequence + 1 - first;
        whole.then_some(Some(i))
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "timed out waiting until {what} (every message from {first} to at least {last_seq}); last seen: {}",
            seen.lock().unwrap()
        )
    })
}

/// With JP's node down, the hub's deliveries wait in JP's stream. One JP
/// server's store is corrupted (a byte flipped in every message block, the
/// last cut in half) and the server restarted; then another server's store
/// is wiped and it is restarted. Each time the cluster repairs the server
/// from the majority: the stream holds the same messages, all replicas
/// current. Then JP's node comes back: every report arrives
/// once, in order, its receipt home, and the hub never reconciled with JP
/// (nothing was re-sent: every report came out of the repaired stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_or_wiped_server_store_is_repaired_from_the_majority() {
    let _one = ONE_AT_A_TIME.lock().await;
    // No periodic reconciliation: only the stream can bring JP its reports.
    let mut c = start_cluster(&["--reconcile-every", "1h"]).await;
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    flows(&kr, "the first report").await;
    tokio::task::block_in_place(|| wait_all_current(&c, Party::Jp));
    c.node(Party::Jp).kill();
    let hub_reconciled = reconciles(&c, Party::Jp);
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(submit_retrying(&kr, &draft(&format!("disk-{i}"))).await);
    }
    let index: HashMap<String, usize> = ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
    tokio::task::block_in_place(|| {
        common::wait_until(Instant::now() + CLUSTER_WAIT, "the hub forwards every report into JP's stream", || {
            (audited(&c, Party::Us, "FORWARDED", &index).len() == ids.len()).then_some(())
        })
    });
    let before = common::wait_async(|| jp_stream(&c)).await;
    let (messages, first, last_seq) = (before.state.messages, before.state.first_sequence, before.state.last_sequence);
    assert!(messages > 0, "the deliveries wait in JP's stream: {:?}", before.state);

    // One server's store corrupted: the stream's leader.
    let corrupted = before.cluster.clone().and_then(|c| c.leader).expect("JP's stream has a leader");
    c.server(&corrupted).unwrap().kill();
    let blocks = corrupt(&store_of(&c, &corrupted), "TISA_JP_DOWN");
    c.server(&corrupted).unwrap().start_again().unwrap();
    let after = wait_jp_stream_whole(&c, first, last_seq, "JP's stream whole again after the corruption").await;
    eprintln!(
        "{corrupted}: {blocks} block(s) corrupted; repaired, leader now {:?}",
        after.cluster.and_then(|c| c.leader)
    );

    // Another server's store wiped.
    let wiped = ["tisa-jp-1", "tisa-jp-2", "tisa-jp-3"].into_iter().find(|s| *s != corrupted).unwrap().to_owned();
    c.server(&wiped).unwrap().kill();
    std::fs::remove_dir_all(store_of(&c, &wiped)).unwrap();
    c.server(&wiped).unwrap().start_again().unwrap();
    wait_jp_stream_whole(&c, first, last_seq, "JP's stream whole again after the wipe").await;

    // (Leaving the stream to the two repaired servers alone, by killing the
    // third before JP's node returns, is not asserted: in 2 of 6 runs JP's
    // JetStream answered 503 "temporarily unavailable" for over 30 s and
    // JP's node gave up starting; see the report of issue #19.)
    tokio::task::block_in_place(|| c.node(Party::Jp).restart(Duration::from_secs(60))).unwrap();
    assert_eq!(all_once(&c, &ids, CLUSTER_WAIT).await, 0, "JP received them in KR's submission order");
    assert_eq!(reconciles(&c, Party::Jp), hub_reconciled, "the hub re-sent nothing to JP: it all came from the stream");
    tokio::task::block_in_place(|| wait_all_current(&c, Party::Jp));
}

// ------------------------------------------------------------- rolling restart

/// A rolling restart of all nine servers (each stopped cleanly, started
/// again, and caught up before the next) while 1,000 reports flow: each
/// reaches JP exactly once with its receipt home, in KR's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_server_while_a_thousand_reports_flow() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut c = start_cluster(&[]).await;
    let kr = std::sync::Arc::new(quick_client(&c, Party::Kr).await);
    grant_missile(&c, &kr).await;
    flows(&kr, "the first report").await;
    let t0 = Instant::now();
    let servers: Vec<(Party, String)> =
        Party::ALL.into_iter().flat_map(|p| (1..=3).map(move |i| (p, format!("tisa-{}-{i}", p.lower())))).collect();
    let mut ids = Vec::new();
    for (n, (party, name)) in servers.iter().enumerate() {
        // A ninth of the reports in flight (submitted, not yet through) as the server goes down.
        let chunk = 1000 / servers.len() + usize::from(n < 1000 % servers.len());
        let start = ids.len();
        let more: Vec<String> = futures::stream::iter(start..start + chunk)
            .map(|i| {
                let kr = kr.clone();
                async move { submit_retrying(&kr, &draft(&common::canary(&format!("rolling-{i}")))).await }
            })
            .buffered(16)
            .collect()
            .await;
        ids.extend(more);
        let s = c.server(name).unwrap();
        s.stop(Duration::from_secs(30)).unwrap();
        s.start_again().unwrap();
        tokio::task::block_in_place(|| wait_all_current(&c, *party));
        eprintln!("{name} restarted ({:.1} s, {} reports submitted)", t0.elapsed().as_secs_f64(), ids.len());
    }
    assert_eq!(ids.len(), 1000);
    let late = all_once(&c, &ids, CLUSTER_WAIT * 2).await;
    eprintln!(
        "1000 reports through a rolling restart in {:.1} s, {late} overtaken by a later one",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(late, 0, "JP received them in KR's order");
}

// ------------------------------------------------------------- partition

/// What the partition test keeps: the proxies that carry JP's routes, by
/// (from server, to server), numbered 1 to 3.
type RouteProxies = Arc<Mutex<Vec<(usize, usize, common::proxy::Proxy)>>>;

/// `key: value` (the first number after `key`) in `text` from `after` on.
fn number_after(text: &str, after: &str, key: &str) -> u16 {
    let rest = &text[text.find(after).unwrap()..];
    let rest = &rest[rest.find(key).unwrap() + key.len()..];
    rest.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// Routes JP's cluster through one proxy per direction of each route
/// (server i dials server j through proxy (i, j)); each server advertises
/// an address where nothing listens, so none learns a direct way to
/// another. JP's node is given jp-1 and jp-2 only (a client stays on the
/// server it is connected to: on a partitioned one it would wait for the
/// heal).
fn route_jp_through_proxies(dir: &Path, proxies: &RouteProxies) {
    let route_port = |i: usize| {
        number_after(&std::fs::read_to_string(dir.join(format!("nats-jp-{i}.conf"))).unwrap(), "cluster {", "port:")
    };
    for i in 1..=3 {
        let fragment_path = dir.join(format!("cluster-jp-{i}.conf"));
        let fragment = std::fs::read_to_string(&fragment_path).unwrap();
        let password = fragment.split("password: \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let mut routes = Vec::new();
        for j in (1..=3).filter(|j| *j != i) {
            let p = common::proxy::Proxy::start(([127, 0, 0, 1], route_port(j)).into());
            routes.push(format!("\"nats-route://route-jp:{password}@{}\"", p.addr()));
            proxies.lock().unwrap().push((i, j, p));
        }
        let auth = fragment.lines().find(|l| l.starts_with("authorization")).unwrap();
        let text = format!("{auth}\nroutes = [ {} ]\nadvertise: \"127.0.0.1:1\"\n", routes.join(", "));
        std::fs::write(&fragment_path, text).unwrap();
    }
    let node = dir.join("jp-node.toml");
    let text = std::fs::read_to_string(&node).unwrap();
    let urls = text.lines().find(|l| l.starts_with("url = ")).unwrap().to_owned();
    let two: Vec<&str> = urls.trim_start_matches("url = \"").trim_end_matches('"').split(',').take(2).collect();
    std::fs::write(&node, text.replace(&urls, &format!("url = \"{}\"", two.join(",")))).unwrap();
}

/// Starts a server that dials tisa-kr-1's route port as a member of
/// KR's cluster, with the route user and password of `creds`'s cluster
/// (from its route fragment); returns whether KR's cluster took it in
/// (`false`: tisa-kr-1 refused the route). Either shows in its log.
fn route_into_kr(c: &Cluster, creds: Party) -> bool {
    let dir = c.broker_dir.as_ref().unwrap();
    let fragment = std::fs::read_to_string(dir.join(format!("cluster-{}-1.conf", creds.lower()))).unwrap();
    let password = fragment.split("password: \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let port = number_after(&std::fs::read_to_string(dir.join("nats-kr-1.conf")).unwrap(), "cluster {", "port:");
    let scratch = crate::common::Scratch::new("intruder");
    let conf = scratch.join("intruder.conf");
    let user = format!("route-{}", creds.lower());
    std::fs::write(
        &conf,
        format!(
            "server_name: \"dialer-{creds}\"\nlisten: \"127.0.0.1:-1\"\ncluster {{\n  name: \"tisa-kr\"\n  listen: \"127.0.0.1:-1\"\n  routes = [ \"nats-route://{user}:{password}@127.0.0.1:{port}\" ]\n}}\n"
        ),
    )
    .unwrap();
    let s = tisa_kit::natsd::NatsServer::start(&common::nats_bin(), &["-c", &conf.to_string_lossy()]).unwrap();
    let log = s.dir().join("nats-server.log");
    common::wait_until(Instant::now() + CLUSTER_WAIT, "the dialer's route taken or refused", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Taken: KR's other servers learn of it and route to it as well (a
        // route with any address but the one it dialed). Refused: tisa-kr-1
        // answers the route's CONNECT with an authorization violation.
        let dialed = format!("127.0.0.1:{port} -");
        if text.lines().any(|l| l.contains("Route connection created") && !l.contains(&dialed)) {
            Some(true)
        } else if text.contains("Route Error 'Authorization Violation'") {
            Some(false)
        } else {
            None
        }
    })
}

/// A server with another nation's route credentials cannot join KR's
/// cluster (with KR's own it can). JP's server tisa-jp-3 is cut off from
/// the other two (its route connections go through proxies the test cuts;
/// it keeps its clients and its leaf to US). The majority goes on: reports flow to JP and receipts
/// come home. After the heal, tisa-jp-3 catches up, and JP's inbox holds
/// each report exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cut_off_from_its_cluster_stops_nothing_and_duplicates_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let proxies: RouteProxies = Arc::default();
    let p = proxies.clone();
    let c = tokio::task::spawn_blocking(move || {
        TestCluster::builder()
            .broker(Broker::Generated(tisa_deploy::broker::Options::per_nation_cluster(3)))
            .prepare(Box::new(move |dir| route_jp_through_proxies(dir, &p)))
            .start()
    })
    .await
    .unwrap();
    // Routes stay inside a nation: a server with JP's (or US's) route
    // credentials cannot join KR's cluster; control: with KR's own it can.
    tokio::task::block_in_place(|| {
        assert!(!route_into_kr(&c, Party::Jp), "JP's route credentials must not open a route into KR's cluster");
        assert!(!route_into_kr(&c, Party::Us), "US's route credentials must not open a route into KR's cluster");
        assert!(route_into_kr(&c, Party::Kr), "control: KR's own route credentials do");
    });
    let kr = quick_client(&c, Party::Kr).await;
    grant_missile(&c, &kr).await;
    flows(&kr, "the first report").await;
    tokio::task::block_in_place(|| wait_all_current(&c, Party::Jp));
    let mut ids = Vec::new();
    in_flight(&kr, "before-cut", 10, &mut ids).await;
    let cut = |on: bool| {
        for (i, j, p) in proxies.lock().unwrap().iter() {
            if *i == 3 || *j == 3 {
                if on {
                    p.cut()
                } else {
                    p.heal()
                }
            }
        }
    };
    let leader = jp_stream(&c).await.and_then(|i| i.cluster?.leader);
    cut(true);
    let t0 = Instant::now();
    // The cut is real: the majority sees tisa-jp-3 drop out of JP's stream.
    let seen = common::wait_until_async(Instant::now() + CLUSTER_WAIT, "the majority loses tisa-jp-3", || async {
        let cl = jp_stream(&c).await?.cluster?;
        let gone = cl.leader.as_deref() != Some("tisa-jp-3")
            && cl.replicas.iter().any(|r| r.name == "tisa-jp-3" && (r.offline || !r.current));
        gone.then(|| format!("{cl:?}"))
    })
    .await;
    eprintln!("leader before the cut: {leader:?}; after: {seen}");
    // The majority side goes on.
    in_flight(&kr, "cut", 10, &mut ids).await;
    flows(&kr, "with tisa-jp-3 cut off").await;
    eprintln!("the flow went on {:.1} s after the cut", t0.elapsed().as_secs_f64());
    all_once(&c, &ids, CLUSTER_WAIT).await;
    cut(false);
    tokio::task::block_in_place(|| wait_all_current(&c, Party::Jp));
    eprintln!("tisa-jp-3 caught up {:.1} s after the cut", t0.elapsed().as_secs_f64());
    in_flight(&kr, "healed", 10, &mut ids).await;
    flows(&kr, "after the heal").await;
    all_once(&c, &ids, CLUSTER_WAIT).await;
    // No duplicate in JP's inbox.
    let inbox = common::op_json(&c, Party::Jp, false, &["inbox", "--limit", "1000"]);
    let listed: Vec<&str> = inbox["items"].as_array().unwrap().iter().filter_map(|i| i["report_id"].as_str()).collect();
    for id in &ids {
        assert_eq!(listed.iter().filter(|l| **l == id.as_str()).count(), 1, "{id} once in JP's inbox");
    }
}
