//! The one cluster starter ([`TestCluster`]) and the limit on clusters
//! running at once ([`ClusterPermit`]).

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_kit::natsd::NatsServer;

use super::raw::{contains, Capture, RawNats};
use super::wait::wait_for;
use super::BIN;

// ------------------------------------------------------------------ limit

/// At most this many clusters run at once, across all tests of one test
/// binary. A cluster is a nats-server plus three `tisa node` processes (each
/// with a two-thread tokio runtime), and every check spawns short-lived `tisa`
/// CLI processes. The CI machine and the developer's box have 2 cores; more
/// than two clusters at once oversubscribe them badly (and cargo runs as many
/// test threads as there are cores, or more with `--test-threads`), turning
/// every deadline into a coin toss. Two keeps both cores busy and no more.
pub const MAX_CLUSTERS: usize = 2;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Slots in the counting semaphore; released on drop. [`TestCluster`]
/// holds one; tests that run their own processes (the demo, the benchmark,
/// bare nats-servers) take one themselves; a compose stack takes them all.
pub struct ClusterPermit(usize);

impl ClusterPermit {
    /// Blocks until fewer than [`MAX_CLUSTERS`] clusters are running.
    pub fn acquire() -> ClusterPermit {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_CLUSTERS {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        ClusterPermit(1)
    }

    /// Blocks until no cluster runs, then holds every slot: for what is as
    /// heavy as several clusters (a compose stack, up to twelve containers),
    /// which must not share the two cores with one. The tests of all files
    /// run in one binary, so a compose stack would otherwise come up beside
    /// a nine-server cluster test (seen: its streams' replicas not current
    /// within the deadline).
    pub fn acquire_all() -> ClusterPermit {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n = MAX_CLUSTERS;
        ClusterPermit(MAX_CLUSTERS)
    }
}

impl Drop for ClusterPermit {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n -= self.0;
        FREED.notify_all();
    }
}

/// The nats-server binary (`tisa_kit::natsd::locate`), or a panic saying how to install it.
pub fn nats_bin() -> PathBuf {
    tisa_kit::natsd::locate().unwrap_or_else(|| {
        panic!("nats-server not found: run `{}` in the repository root", tisa_kit::natsd::install_command())
    })
}

// ---------------------------------------------------------------- cluster

/// Which broker deployment a [`TestCluster`] runs on.
#[derive(Clone, Debug, Default)]
#[allow(clippy::large_enum_variant)]
pub enum Broker {
    /// One open nats-server (no accounts, no credentials), with a wire tap.
    #[default]
    Open,
    /// The generated shared deployment (`tisa broker config`: three
    /// accounts, nkeys); each node and operator with its own credentials.
    Shared,
    /// One generated nats-server per nation (`--mode per-nation`).
    PerNation,
    /// [`Broker::PerNation`] with `--tls`.
    PerNationTls,
    /// Any generated deployment.
    Generated(tisa_deploy::broker::Options),
}

/// Options for [`TestCluster`].
#[derive(Default)]
pub struct ClusterBuilder {
    broker: Broker,
    no_tap: bool,
    args: Vec<(Option<Party>, Vec<String>)>,
    env: Vec<(String, String)>,
    prepare: Option<Prepare>,
}

/// Called with a generated deployment's directory before its servers start.
pub type Prepare = Box<dyn FnOnce(&Path) + Send>;

impl ClusterBuilder {
    /// The broker deployment (default: [`Broker::Open`]).
    pub fn broker(mut self, broker: Broker) -> Self {
        self.broker = broker;
        self
    }

    /// The generated shared deployment ([`Broker::Shared`]).
    pub fn secured(self) -> Self {
        self.broker(Broker::Shared)
    }

    /// No wire tap on an open broker (a tap runs its own tokio runtime, which
    /// cannot be dropped inside an async test).
    pub fn without_tap(mut self) -> Self {
        self.no_tap = true;
        self
    }

    /// Extra `tisa node` arguments for one party.
    pub fn node_args(mut self, party: Party, args: &[&str]) -> Self {
        self.args.push((Some(party), args.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Extra `tisa node` arguments for every party.
    pub fn all_args(mut self, args: &[&str]) -> Self {
        self.args.push((None, args.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Called with a generated deployment's directory before its servers
    /// start ([`Broker::Generated`] only).
    pub fn prepare(mut self, f: Prepare) -> Self {
        self.prepare = Some(f);
        self
    }

    /// An environment variable for every node (e.g. `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Waits for a permit, starts the broker(s) and the three nodes, and
    /// waits until every node has printed its readiness line.
    pub fn start(self) -> TestCluster {
        let permit = ClusterPermit::acquire();
        let args = self.args;
        let node_args = |party: Party| -> Vec<String> {
            args.iter().filter(|(p, _)| p.is_none_or(|p| p == party)).flat_map(|(_, a)| a.iter().cloned()).collect()
        };
        let (bin, env) = (Path::new(BIN), &self.env[..]);
        let started = match &self.broker {
            Broker::Open => Cluster::start(bin, NatsServer::start_for_tests(), node_args, env),
            Broker::Shared => Cluster::start_secured(bin, &nats_bin(), node_args, env),
            Broker::PerNation => Cluster::start_per_nation(bin, &nats_bin(), node_args, env),
            Broker::PerNationTls => Cluster::start_per_nation_tls(bin, &nats_bin(), node_args, env),
            Broker::Generated(opts) => {
                let prepare = self.prepare;
                Cluster::start_generated_prepared(bin, &nats_bin(), opts, node_args, env, |dir| {
                    if let Some(f) = prepare {
                        f(dir);
                    }
                    Ok(())
                })
            }
        };
        let inner = started.unwrap_or_else(|e| panic!("cannot start the cluster: {e:#}"));
        // A wire tap on every hub→nation subject, live before anything is
        // submitted: what crossed a link, not just what a node accepted.
        let tap = (matches!(self.broker, Broker::Open) && !self.no_tap).then(|| {
            let conn = RawNats::connect(inner.nats.url());
            (conn.capture("tisa.*.down.>"), conn)
        });
        TestCluster { tap, barriers: Mutex::default(), inner, _permit: permit }
    }
}

/// A running broker + KR, US and JP nodes, holding a [`ClusterPermit`].
/// Dereferences to [`tisa_kit::cluster::Cluster`] (`node(p).kill()`, logs…);
/// on a failing test, prints the tail of every node's log.
pub struct TestCluster {
    // Field order matters: the tap goes first, the processes stop before the
    // permit is released.
    tap: Option<(Capture, RawNats)>,
    barriers: Mutex<std::collections::HashMap<Party, String>>,
    inner: Cluster,
    _permit: ClusterPermit,
}

impl TestCluster {
    /// A cluster with default options (open broker, wire tap).
    pub fn start() -> TestCluster {
        TestCluster::builder().start()
    }

    /// A cluster with options.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// Stops every node cleanly and starts it again (e.g. on a changed
    /// agreement or roster), waiting up to `timeout` for each.
    pub fn restart_all(&mut self, timeout: std::time::Duration) {
        for p in Party::ALL {
            self.inner.node(p).restart_cleanly(timeout).unwrap_or_else(|e| panic!("restart {p}: {e:#}"));
        }
    }

    /// The broker's URL.
    pub fn url(&self) -> &str {
        self.inner.nats.url()
    }

    /// Records that `marker` (a canary's body) was the last thing the hub sent
    /// `nation` and that it has arrived.
    pub fn note_barrier(&self, nation: Party, marker: &str) {
        self.barriers.lock().unwrap_or_else(|e| e.into_inner()).insert(nation, marker.to_owned());
    }

    /// The last canary that arrived at `nation`, if any.
    pub fn barrier(&self, nation: Party) -> Option<String> {
        self.barriers.lock().unwrap_or_else(|e| e.into_inner()).get(&nation).cloned()
    }

    /// Everything the wire tap saw on the hub→`nation` link: `(subject, payload)`.
    pub fn crossed_to(&self, nation: Party) -> Vec<(String, bytes::Bytes)> {
        let (tap, _) = self.tap.as_ref().expect("test bug: this cluster has no wire tap (open broker only)");
        let prefix = format!("tisa.{}.down.", nation.lower());
        tap.messages().into_iter().filter(|(s, _)| s.starts_with(&prefix)).collect()
    }

    /// Asserts that none of `secrets` ever crossed the hub→`nation` link (in
    /// any message), nor any of `reports` in a delivery, once `marker` (sent
    /// to `nation` after everything of interest) has been seen crossing it:
    /// the tap sees one link's messages in the order the hub sent them.
    pub fn assert_never_crossed(&self, nation: Party, marker: &str, secrets: &[&str], reports: &[&str]) {
        wait_for(&format!("the wire tap sees {marker} cross to {nation}"), || {
            self.crossed_to(nation).iter().any(|(_, p)| contains(p, marker)).then_some(())
        });
        for (subject, payload) in self.crossed_to(nation) {
            for s in secrets {
                assert!(!contains(&payload, s), "{s:?} crossed to {nation} on {subject}");
            }
            if subject.ends_with(".delivery") {
                for r in reports {
                    assert!(!contains(&payload, r), "report {r} was delivered to {nation} on {subject}");
                }
            }
        }
    }

    /// Everything `party`'s node has logged so far (its stderr).
    pub fn log(&self, party: Party) -> String {
        self.inner.nodes.iter().find(|n| n.party == party).map(|n| n.log()).unwrap_or_default()
    }
}

impl Deref for TestCluster {
    type Target = Cluster;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test harness shows this output for failing tests only.
            eprintln!("---- node logs (kept in {}) ----", self.inner.dir.display());
            for n in &self.inner.nodes {
                eprintln!("---- {} ----\n{}", n.party, n.log_tail(30));
            }
        }
    }
}

/// One `#[test]` per broker mode for each scenario `fn name(broker: Broker)`
/// named: `shared::name` and `per_nation::name`.
#[macro_export]
macro_rules! in_both_broker_modes {
    ($($scenario:ident),* $(,)?) => {
        mod shared {
            $( #[test] fn $scenario() { super::$scenario($crate::common::cluster::Broker::Shared) } )*
        }
        mod per_nation {
            $( #[test] fn $scenario() { super::$scenario($crate::common::cluster::Broker::PerNation) } )*
        }
    };
}
