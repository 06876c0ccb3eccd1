//! The actor: one task per node that owns the core, started by [`spawn`].
//! It restores the state ([`crate::replay`]), connects, then loops over
//! `tokio::select!` and hands each input to the module that handles it:
//! inbound messages to [`crate::ingress`], control calls to
//! [`crate::control`], acknowledgements and retries to [`crate::egress`].

use std::time::Duration;

use futures::StreamExt;
use tisa_core::{Event, Identity, Input, Node, Party, Policy, Timestamp, Transmit};
use tisa_transport::{LinkUrls, Links, TransportError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

use crate::audit::{AuditLog, PendingFlush};
use crate::clock::now;
use crate::store::{Store, StoreError};

/// Everything a node needs to start.
#[derive(Clone)]
pub struct NodeConfig {
    /// Which party this node is.
    pub party: Party,
    /// Where its brokers are.
    pub urls: LinkUrls,
    /// The agreed policy: the first version of the agreement's chain
    /// (replay starts under it).
    pub policy: Policy,
    /// The chain's later versions, oldest first: each takes effect at its
    /// `effective_at`, during replay as when live.
    pub later: Vec<Policy>,
    /// Reads the agreement's chain again (on SIGHUP): its versions, oldest
    /// first, verified. Versions after those the node holds are staged.
    pub reload: Option<Reload>,
    /// The node's signing key (registered in the agreement as its node key).
    pub identity: Identity,
    /// Where the node keeps its state (an input log it replays on start).
    pub data_dir: std::path::PathBuf,
    /// How often the node reconciles with every peer even if no link came
    /// back (a backstop: links that come back reconcile at once).
    pub reconcile_every: Duration,
}

/// Reads and verifies the agreement's chain again: every version's policy,
/// oldest first, or why it cannot be used (one line).
pub type Reload = std::sync::Arc<dyn Fn() -> Result<Vec<Policy>, String> + Send + Sync>;

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Subscribing or proving readiness failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The configuration is unusable (e.g. an unregistered key).
    #[error("cannot start: {0}")]
    Config(String),
    /// The node's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node stopped because its state ran ahead of its input log (a
    /// commit failed after the inputs were applied, `early`): a restart
    /// replays the log.
    #[error("stopped: {0}; restart the node (it replays its input log; the broker redelivers what was not committed)")]
    Stopped(String),
}

/// Starts a node: restores its state, connects (retrying while the broker
/// is unreachable), subscribes, proves readiness, logs `node ready`, then
/// serves until `shutdown` is cancelled. `ready` is notified once the node
/// is ready.
pub fn spawn(
    config: NodeConfig,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<()>>,
) -> JoinHandle<Result<(), NodeError>> {
    let span = info_span!("node", party = %config.party);
    tokio::spawn(run(config, shutdown, ready).instrument(span))
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) malformed: u64,
    pub(crate) rejected: u64,
    pub(crate) received: u64,
    pub(crate) sent: u64,
    pub(crate) dead_letters: u64,
    pub(crate) dead_letter_errors: u64,
    /// Control calls refused for their reply subject (not under the operators' inbox).
    pub(crate) refused_replies: u64,
    /// The hub's batches applied before their commit, and the deliveries
    /// published so (`early`).
    pub(crate) early_batches: u64,
    pub(crate) early_deliveries: u64,
    /// Track windows committed, and the copies they took (`windows`).
    pub(crate) track_windows: u64,
    pub(crate) track_windowed: u64,
    /// Track updates dropped from the outbox, superseded while waiting.
    pub(crate) tracks_superseded: u64,
}

/// Why the outbox is not draining (for `tisa health` and the error log).
pub(crate) struct SendTrouble {
    pub(crate) stream: String,
    pub(crate) reason: String,
    pub(crate) since: Timestamp,
    pub(crate) logged_at: Timestamp,
}

/// A published message and whether its receiver's stream acknowledged it.
pub(crate) type Acked = (Vec<Transmit>, Result<(), TransportError>);

/// The state the actor's task owns.
pub(crate) struct Actor {
    pub(crate) core: Node,
    pub(crate) links: std::sync::Arc<Links>,
    pub(crate) store: Store,
    /// The audit trail (`audit.log`).
    pub(crate) audit: AuditLog,
    /// Events the audit log has recorded that `drain` has not published yet.
    pub(crate) audited: std::collections::VecDeque<Event>,
    /// Messages the broker has not acknowledged yet; retried until it does.
    pub(crate) outbox: Vec<Transmit>,
    /// Messages held back behind one being retried (to keep each stream in
    /// the order sent) wait in the outbox: retry as soon as a publish is
    /// acknowledged, not on the next tick: the peers whose publishes were
    /// acknowledged since the last look.
    pub(crate) retry_now: Vec<Party>,
    /// Published messages whose acknowledgement is awaited (pipelined: the
    /// loop goes on meanwhile); recorded as sent only once acknowledged.
    pub(crate) in_flight: futures::stream::FuturesUnordered<futures::future::BoxFuture<'static, Acked>>,
    pub(crate) started_at: Timestamp,
    pub(crate) counters: Counters,
    /// Set while sends fail; cleared once the outbox is empty again.
    pub(crate) send_trouble: Option<SendTrouble>,
    /// The audit log's fsync in progress, on a blocking thread.
    pub(crate) audit_flush: Option<JoinHandle<PendingFlush>>,
    /// Replies of recent commands, for identical re-sends.
    pub(crate) resends: crate::resend::Resends,
    /// Nonces of recent reads of content (reads are not logged).
    pub(crate) read_replays: tisa_core::sign::Replays,
    /// Reads the agreement's chain again (SIGHUP).
    pub(crate) reload: Option<Reload>,
    /// Why the last reload was refused (empty: none was).
    pub(crate) reload_error: String,
    /// Off-line passage: what waits for the next bundle (`courier`).
    pub(crate) courier: crate::courier::Courier,
    /// The real-time lane for missile tracks (`None`: `TISA_TRACK_LANE=off`).
    pub(crate) lane: Option<crate::lane::LaneHandle>,
    /// A group commit since the lane's view was last refreshed.
    pub(crate) lane_stale: bool,
    /// The hub publishes deliveries before their commit (`early`).
    pub(crate) early_forward: bool,
    /// Transmits an early batch left for `drain`, in the core's order.
    pub(crate) queued: Vec<Transmit>,
    /// Track updates of the committed path whose copy the lane is
    /// forwarding: sent (or recorded as sent) once that copy is settled.
    pub(crate) held_for_lane: Vec<Transmit>,
    /// Notices to originators held back to go together (`notices`).
    pub(crate) notices: crate::notices::Notices,
    /// Stream copies of track updates (every one while the lane runs),
    /// waiting for their window's commit (`windows`).
    pub(crate) windows: crate::windows::Windows,
    /// Why the node must stop (its core ran ahead of its log).
    pub(crate) fatal: Option<String>,
    /// Signature checks run while each group commit syncs (`None`: unless
    /// `TISA_CHECKS_AHEAD=on`).
    pub(crate) ahead: Option<crate::ahead::Ahead>,
}

/// How often the audit log is fsync'd (and its head recorded in the store
/// and `audit.head`) while entries are written: the entries of inputs are
/// derived from the input log, which is fdatasync'd at every group commit,
/// so this bounds only how much replay writes again after a power loss.
pub(crate) const AUDIT_SYNC_EVERY: Duration = Duration::from_secs(1);

/// Group commit: at most this many inputs in one store transaction.
const BATCH_MAX: usize = 256;

/// `first` plus every item `stream` has ready now (none is waited for), up to [`BATCH_MAX`].
fn ready_batch<T>(first: T, stream: &mut (impl futures::Stream<Item = T> + Unpin)) -> Vec<T> {
    use futures::FutureExt;
    let mut batch = vec![first];
    while batch.len() < BATCH_MAX {
        match stream.next().now_or_never() {
            Some(Some(item)) => batch.push(item),
            _ => break,
        }
    }
    batch
}

/// An on/off setting from the environment: `default` unless `var` is `on`
/// or `off`; any other value stops the node (a typo must not switch it
/// silently). `TISA_TRACK_LANE` (`lane`), `TISA_EARLY_FORWARD` (`early`)
/// and `TISA_TRACK_PACED` (`tisa_transport::conn::track_pump`), on by
/// default; `TISA_CHECKS_AHEAD` (`ahead`), off by default.
fn switch_from_env(var: &str, default: bool) -> Result<bool, NodeError> {
    match std::env::var(var).as_deref() {
        Err(_) | Ok("") => Ok(default),
        Ok("on") => Ok(true),
        Ok("off") => Ok(false),
        Ok(other) => {
            Err(NodeError::Config(format!("{var}={} is neither on nor off", tisa_core::text::loggable(other))))
        }
    }
}

/// Waits for the audit fsync in progress; never, if there is none.
async fn audit_flushed(h: &mut Option<JoinHandle<PendingFlush>>) -> Result<PendingFlush, tokio::task::JoinError> {
    match h {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

async fn run(
    config: NodeConfig,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<()>>,
) -> Result<(), NodeError> {
    let party = config.party;
    crate::failpoint::init().map_err(|e| NodeError::Config(e.to_string()))?;
    crate::timeline::init(party).map_err(NodeError::Config)?;
    let lane_on = switch_from_env("TISA_TRACK_LANE", true)?;
    let early_forward = switch_from_env("TISA_EARLY_FORWARD", true)? && party == Party::Us;
    let coalesce_notices = switch_from_env("TISA_COALESCE_NOTICES", true)?;
    // Off by default: measured in one run against the same nodes without
    // it, it made a report's path no faster (`ahead`'s docs).
    let checks_ahead = switch_from_env("TISA_CHECKS_AHEAD", false)?;
    // On by default: the track streams' copies are taken behind the lane,
    // in batches (`tisa_transport::conn::track_pump`).
    let paced_tracks = switch_from_env("TISA_TRACK_PACED", true)?;
    // Refuse to start on a key the agreement does not know, before touching the network.
    let mut store = Store::open(&config.data_dir)?;
    let instance = store.instance()?;
    let (mut audit, _) = AuditLog::open(&config.data_dir, party, config.identity.clone(), &mut store)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    // Report bodies live in the store, not in the core's memory.
    let mut core = Node::new(party, config.policy, instance, config.identity)
        .map_err(|e| NodeError::Config(e.to_string()))?
        .keep_bodies_outside();
    for p in config.later {
        core.stage_agreement(p).map_err(|e| NodeError::Config(e.to_string()))?;
    }
    let mut resends = crate::resend::Resends::default();
    let (replayed, resend) = crate::replay::replay(&mut core, &mut store, &mut audit, &mut resends)?;
    // What replay wrote into the audit log, durable once.
    audit.flush(&mut store).map_err(|e| NodeError::Config(e.to_string()))?;
    if replayed > 0 {
        info!(inputs = replayed, resend = resend.len(), data_dir = %config.data_dir.display(), "state restored from the input log");
    }
    info!(own = %config.urls.own.url, kr = %config.urls.kr.url, jp = %config.urls.jp.url, authenticated = config.urls.own.nkey_seed.is_some(), "starting");
    let links = tokio::select! {
        links = Links::connect(party, &config.urls) => links?.pace_track_streams(paced_tracks),
        _ = shutdown.cancelled() => {
            info!("shutdown requested before the broker answered");
            return Ok(());
        }
    };
    let links = std::sync::Arc::new(links);
    let (inbound, mut calls, mut link_ups, early) = tokio::select! {
        r = links.subscribe() => r?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    // Early track copies: to the lane's own task, or (lane off) committed
    // like every other input.
    let (mut inbound, lane): (futures::stream::BoxStream<'static, _>, _) = if lane_on {
        (inbound.boxed(), Some(crate::lane::spawn(links.clone(), core.lane_view(), early)))
    } else {
        info!("the real-time track lane is off (TISA_TRACK_LANE=off): track updates are committed before they are passed on");
        (futures::stream::select(inbound, early).boxed(), None)
    };
    let settled = lane.as_ref().map(|l| l.settled.clone());
    let peers: Vec<Party> = tisa_transport::subjects::inbound(party).into_iter().map(|(p, _, _)| p).collect();
    let mut actor = Actor {
        core,
        links,
        store,
        audit,
        audited: Default::default(),
        outbox: Vec::new(),
        retry_now: Vec::new(),
        in_flight: Default::default(),
        started_at: now(),
        counters: Counters::default(),
        send_trouble: None,
        audit_flush: None,
        resends,
        read_replays: Default::default(),
        reload: config.reload,
        reload_error: String::new(),
        courier: Default::default(),
        lane,
        lane_stale: false,
        early_forward,
        queued: Vec::new(),
        held_for_lane: Vec::new(),
        notices: crate::notices::Notices::new(!coalesce_notices),
        windows: Default::default(),
        fatal: None,
        ahead: if checks_ahead { crate::ahead::Ahead::start() } else { None },
    };
    actor.load_courier_acks();
    actor.send_all(resend).await;
    // Coming up is a link coming back: reconcile with every peer, end to end
    // (the broker may have lost what it acknowledged while this node was down).
    for p in &peers {
        actor.link_up(*p);
    }
    actor.drain().await;
    info!(instance = format!("{instance:016x}"), "node ready");
    if let Some(r) = ready {
        let _ = r.send(());
    }
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconcile = tokio::time::interval_at(
        tokio::time::Instant::now() + config.reconcile_every,
        config.reconcile_every.max(Duration::from_secs(1)),
    );
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut audit_sync = tokio::time::interval(AUDIT_SYNC_EVERY);
    audit_sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent_flush = tokio::time::interval(crate::store::SENT_FLUSH_EVERY);
    sent_flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| NodeError::Config(format!("cannot watch SIGHUP: {e}")))?;
    loop {
        let sleep = match actor.core.poll_timeout() {
            Some(at) => Duration::from_millis(at.as_millis().saturating_sub(now().as_millis())),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(msg) = inbound.next() => {
                let batch = ready_batch(msg, &mut inbound);
                actor.on_inbound_batch(batch).await;
                if let Some(why) = actor.fatal.take() {
                    // No clean stop: nothing of the uncommitted batch may be recorded as sent.
                    error!(error = %why, "the input log cannot take what the node applied; stopping");
                    return Err(NodeError::Stopped(why));
                }
            }
            Some(call) = calls.next() => {
                let batch = ready_batch(call, &mut calls);
                actor.on_calls(batch).await
            }
            () = lane_settled(settled.as_deref()), if !actor.held_for_lane.is_empty() => {
                let held = std::mem::take(&mut actor.held_for_lane);
                actor.queued.extend(held);
            }
            () = crate::windows::due(actor.windows.due()) => actor.flush_windows().await,
            () = crate::notices::due(actor.notices.due()) => actor.send_held_notices().await,
            done = audit_flushed(&mut actor.audit_flush) => actor.on_audit_flushed(done),
            Some(acked) = actor.in_flight.next(), if !actor.in_flight.is_empty() => {
                let batch = ready_batch(acked, &mut actor.in_flight);
                actor.on_acked(batch);
                let progressed = std::mem::take(&mut actor.retry_now);
                if !progressed.is_empty() && !actor.outbox.is_empty() {
                    actor.retry_outbox_for(Some(&progressed)).await;
                }
            }
            Some(peer) = link_ups.next() => {
                info!(link = %peer, "link back: reconciling with the peer");
                actor.link_up(peer);
            }
            _ = reconcile.tick() => {
                for p in &peers {
                    actor.link_up(*p);
                }
            }
            _ = retry.tick(), if !actor.outbox.is_empty() => actor.retry_outbox_for(None).await,
            _ = audit_sync.tick(), if actor.audit_flush.is_none() && actor.audit.unsynced() => {
                actor.start_audit_flush();
                continue;
            }
            _ = sent_flush.tick(), if actor.store.lazy_waiting() => {
                if let Err(e) = actor.store.flush_lazy() {
                    warn!(error = %e, "cannot record sent messages; they will be re-sent after a restart");
                }
                continue;
            }
            Some(()) = hangup.recv() => actor.reload_agreement(),
            _ = tokio::time::sleep(sleep) => actor.timeout(),
        }
        actor.drain().await;
        // What drain published is in the connections' queues: let their
        // tasks write it before this task blocks in the next commit's
        // fdatasync (a task woken from here waits in this worker's next
        // slot, which no other worker takes).
        tokio::task::yield_now().await;
    }
    // Link messages handed over and not taken go back to the broker at once.
    tisa_transport::conn::inbound::hand_back(&actor.links, inbound).await;
    actor.stop().await;
    info!("node stopped");
    Ok(())
}

impl Actor {
    /// SIGHUP: reads the agreement's chain again and stages the versions
    /// after those the node holds; each must take effect later than now (a
    /// version given late would change what was already decided: restart
    /// the node instead, and replay applies it from its time). Those the
    /// node holds must be unchanged.
    fn reload_agreement(&mut self) {
        let Some(reload) = self.reload.clone() else { return };
        let result = reload().and_then(|chain| {
            let view = self.core.agreement_view();
            let held: Vec<_> = std::iter::once(view.in_force).chain(view.staged.iter().map(|(t, _)| *t)).collect();
            let now = now();
            let mut staged = 0;
            for p in chain {
                if let Some(h) = held.iter().find(|t| t.version == p.version) {
                    if *h != p.tag() {
                        return Err(format!(
                            "version {} in the file is not the version {} this node holds: the chain was rewritten",
                            p.tag(),
                            h
                        ));
                    }
                    continue;
                }
                if p.version < view.in_force.version {
                    continue;
                }
                if p.effective_at <= now {
                    return Err(format!(
                        "version {} takes effect at {} ms, which has passed: restart the node to take it",
                        p.version,
                        p.effective_at.as_millis()
                    ));
                }
                let tag = p.tag();
                self.core.stage_agreement(p).map_err(|e| e.to_string())?;
                info!(agreement = %tag, "agreement version staged");
                staged += 1;
            }
            Ok(staged)
        });
        match result {
            Ok(n) => {
                info!(staged = n, "agreement reloaded");
                self.reload_error.clear();
            }
            Err(e) => {
                error!(error = %e, "agreement reload refused; the versions held stay in force");
                self.reload_error = e;
            }
        }
    }

    /// Logs and applies a link-up input: the core re-sends what `peer` may not hold.
    fn link_up(&mut self, peer: Party) {
        if let Err(e) = self.log_and_apply(Input::LinkUp { link: peer }, now()) {
            error!(link = %peer, error = %e, "cannot persist a link-up input; reconciliation skipped");
        }
    }

    /// Logs and applies a timer input.
    fn timeout(&mut self) {
        if let Err(e) = self.log_and_apply(Input::Timeout, now()) {
            error!(error = %e, "cannot persist a timer input");
        }
    }

    /// A clean stop: flushes the connections, records what the streams
    /// acknowledge in the next moments (the rest is re-sent after a
    /// restart), makes the store durable and signs the audit log's head.
    async fn stop(&mut self) {
        self.flush_windows().await;
        self.drain().await;
        self.send_held_notices().await;
        self.links.flush().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(acked)) = tokio::time::timeout_at(deadline, self.in_flight.next()).await {
            self.on_acked(vec![acked]);
        }
        if let Err(e) = self.store.sync() {
            warn!(error = %e, "cannot make the sent records durable; those messages will be re-sent after the restart");
        }
        // The audit fsync in progress; then `close` signs the head and
        // fsyncs everything written since.
        if let Some(h) = self.audit_flush.take() {
            let done = h.await;
            self.on_audit_flushed(done);
        }
        if let Err(e) = self.audit.close(&mut self.store) {
            error!(error = %e, "cannot sign the audit log's head");
        }
    }

    /// Starts the fsync of the audit entries written so far on a blocking
    /// thread, unless one is running (its successor starts when it ends).
    pub(crate) fn start_audit_flush(&mut self) {
        if self.audit_flush.is_some() {
            return;
        }
        match self.audit.begin_flush() {
            Ok(Some(p)) => self.audit_flush = Some(tokio::task::spawn_blocking(move || p.run())),
            Ok(None) => {}
            Err(e) => error!(error = %e, "cannot write the audit log"),
        }
    }

    /// An audit fsync ended: records the head it covers (the next starts
    /// on the next `AUDIT_SYNC_EVERY` tick).
    fn on_audit_flushed(&mut self, done: Result<PendingFlush, tokio::task::JoinError>) {
        self.audit_flush = None;
        match done {
            Ok(done) => {
                if let Err(e) = self.audit.finish_flush(&mut self.store, done) {
                    error!(error = %e, "cannot write the audit log");
                }
            }
            Err(e) => error!(error = %e, "the audit log's fsync did not run"),
        }
    }
}

/// Resolves when the lane has settled one of its forwards (never without a lane).
async fn lane_settled(settled: Option<&tokio::sync::Notify>) {
    match settled {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}
