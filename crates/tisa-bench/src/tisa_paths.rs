//! tisa's paths: the generated secured deployment, three `tisa node`
//! processes, driven as the operators drive them (control subjects, approver
//! keys); plus node startup, idle RSS and the KR node at `--node-pending`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use tisa_core::{
    Category, Classification, Content, Decision, GeoPoint, Party, PartySet, ReportDraft, ReportId, RequestId,
    Sensitive, Timestamp, TrackDraft, TrackId,
};
use tisa_kit::cluster::Cluster;
use tisa_node::clock;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery, WatchEvent};
use tokio::sync::mpsc;

use crate::pace::Pacer;
use crate::{
    cpu_now, cpu_per_msg, io_per_msg, latency_result, percentiles, proc_io, progress, throughput_result, PathResult,
    Sizes, PAYLOAD, STALL, SUBMIT_CONCURRENCY,
};

/// What one node's watch stream has shown, with when it arrived here.
pub(crate) struct Watch {
    task: tokio::task::JoinHandle<()>,
    rx: mpsc::UnboundedReceiver<(Instant, WatchEvent)>,
    seen: HashMap<(String, String, u32), (Instant, WatchEvent)>,
    counts: HashMap<String, usize>,
}

impl Watch {
    pub(crate) async fn start(c: &Cluster, party: Party) -> Result<Watch> {
        let client = operator(c, party).await?;
        let mut events = client.watch().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Some(ev) = events.next().await {
                if let Ok(ev) = ev {
                    if tx.send((Instant::now(), ev)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Watch { task, rx, seen: HashMap::new(), counts: HashMap::new() })
    }

    fn take(&mut self, at: Instant, ev: WatchEvent, keep: bool) {
        *self.counts.entry(ev.kind.clone()).or_default() += 1;
        if keep {
            let key = (ev.kind.clone(), ev.report_id.clone().unwrap_or_default(), ev.revision);
            self.seen.entry(key).or_insert((at, ev));
        }
    }

    /// Waits (up to `timeout`) for event `kind` about `id` (revision `rev`, 0 = any first).
    async fn wait(&mut self, kind: &str, id: &str, rev: u32, timeout: Duration) -> Option<(Instant, WatchEvent)> {
        let key = (kind.to_owned(), id.to_owned(), rev);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.seen.remove(&key) {
                return Some(v);
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, ev))) => self.take(at, ev, true),
                _ => return None,
            }
        }
    }

    /// Waits until `n` events of `kind` have been seen in total, or nothing new for `STALL`.
    pub(crate) async fn wait_count(&mut self, kind: &str, n: usize) -> usize {
        loop {
            let have = self.counts.get(kind).copied().unwrap_or(0);
            if have >= n {
                return have;
            }
            match tokio::time::timeout(STALL, self.rx.recv()).await {
                Ok(Some((at, ev))) => self.take(at, ev, false),
                _ => return have,
            }
        }
    }

    /// How many events of `kind` have been seen so far.
    pub(crate) fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    /// Stops watching (closes the connection before the broker goes away).
    pub(crate) fn stop(self) {
        self.task.abort();
    }

    /// Forgets everything seen so far.
    pub(crate) fn clear(&mut self) {
        while let Ok((at, ev)) = self.rx.try_recv() {
            self.take(at, ev, false);
        }
        self.seen.clear();
    }
}

pub(crate) async fn operator(c: &Cluster, party: Party) -> Result<ControlClient> {
    Ok(ControlClient::connect(&c.cli_endpoint(party)?, party, Duration::from_secs(120))
        .await?
        .with_signers(c.signers(party)?))
}

/// Each of `parties`' commit histograms (`tisa health`), to take what a
/// path's run added ([`phase_commits`]).
async fn commit_readings(c: &Cluster, parties: &[Party]) -> Result<Vec<CommitReading>> {
    let mut out = Vec::new();
    for p in parties {
        match ask(&operator(c, *p).await?, ControlRequest::Health).await? {
            ControlReply::Health(h) => out.push((*p, h.commits, h.checks_ahead)),
            other => bail!("{p}'s health came back as {other:?}"),
        }
    }
    Ok(out)
}

/// A node's commit histogram and checks ahead, as its health gave them.
type CommitReading = (Party, tisa_transport::CommitHealth, tisa_transport::ChecksAheadHealth);

/// The commits each node made since `before` was read, as figures.
async fn phase_commits(
    c: &Cluster,
    before: &[CommitReading],
) -> Result<std::collections::BTreeMap<String, crate::CommitFigures>> {
    let parties: Vec<Party> = before.iter().map(|(p, ..)| *p).collect();
    let after = commit_readings(c, &parties).await?;
    Ok(after
        .iter()
        .zip(before)
        .filter_map(|((p, a, ah), (_, b, bh))| {
            let ahead = (ah.checks.saturating_sub(bh.checks), ah.by_helper.saturating_sub(bh.by_helper));
            Some((p.code().to_owned(), crate::CommitFigures::of(&a.since(b), ahead)?))
        })
        .collect())
}

pub(crate) async fn ask(c: &ControlClient, req: ControlRequest) -> Result<ControlReply> {
    match c.call(&req).await? {
        ControlReply::Error { code, message } => bail!("refused: {message} [{code}]"),
        r => Ok(r),
    }
}

pub(crate) fn draft(category: Category, i: usize) -> ReportDraft {
    ReportDraft {
        offline: false,
        category,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect::<PartySet>(),
        content: Content {
            title: Sensitive::new(format!("bench report {i}")),
            body: Sensitive::new("x".repeat(PAYLOAD)),
            tearline: None,
            source: Sensitive::new("bench"),
        },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: None,
    }
}

async fn submit(c: &ControlClient, d: ReportDraft) -> Result<String> {
    match ask(c, ControlRequest::Submit(d)).await? {
        ControlReply::Submitted(s) => Ok(s.header.id.to_string()),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// `n` reports of `category`, submitted as a feed does: in batches of
/// `batch` (one signature for a batch's submissions, one for their
/// requests; a batch of one is signed directly), [`SUBMIT_CONCURRENCY`]
/// reports in flight. Their ids, or why not.
pub(crate) async fn submit_batches(
    c: &ControlClient,
    category: Category,
    n: usize,
    batch: usize,
) -> Vec<Result<String>> {
    let batch = batch.max(1);
    let starts: Vec<usize> = (0..n).step_by(batch).collect();
    let batches = stream::iter(starts)
        .map(|start| async move {
            let drafts = (start..(start + batch).min(n)).map(|i| draft(category, i)).collect();
            let replies = c.submit_batch(drafts).await;
            replies
                .into_iter()
                .map(|r| match r? {
                    ControlReply::Submitted(s) => Ok(s.header.id.to_string()),
                    ControlReply::Error { code, message } => bail!("refused: {message} [{code}]"),
                    other => bail!("unexpected reply {other:?}"),
                })
                .collect::<Vec<Result<String>>>()
        })
        .buffer_unordered((SUBMIT_CONCURRENCY / batch).max(1))
        .collect::<Vec<_>>()
        .await;
    batches.into_iter().flatten().collect()
}

/// CPU time a process has used so far (user + system), in µs, from
/// `/proc/<pid>/stat` (its fields 14 and 15, in the kernel's USER_HZ
/// ticks: 100 per second on Linux whatever the kernel's own HZ).
pub(crate) fn cpu_us(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

/// The three nodes' CPU time so far (µs), in KR, US, JP order.
pub(crate) fn nodes_cpu_us(c: &mut Cluster) -> Vec<Option<u64>> {
    Party::ALL.iter().map(|p| c.node(*p).pid().and_then(cpu_us)).collect()
}

/// Every process on a report's path, by its share's name: the broker,
/// this process, the three nodes (summed as `nodes`).
fn machine_pids(c: &mut Cluster) -> Vec<(&'static str, Option<u32>)> {
    let mut v = vec![("nats_server", Some(c.nats.pid())), ("bench", Some(std::process::id()))];
    v.extend(Party::ALL.iter().map(|p| ("nodes", c.node(*p).pid())));
    v
}

/// The three nodes' resident memory now (KiB), in KR, US, JP order.
fn nodes_rss_kb(c: &mut Cluster) -> Vec<Option<u64>> {
    Party::ALL.iter().map(|p| c.node(*p).pid().and_then(rss_kb)).collect()
}

pub(crate) fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// KR's standing grant to JP for NK_MISSILE up to SECRET, waited for until the hub holds it.
pub(crate) async fn standing_grant(c: &Cluster) -> Result<String> {
    let key = tisa_deploy::keys::load(&c.approver_key(Party::Kr, false))?;
    let doc = tisa_core::sign::GrantDoc {
        grant_id: format!("KR-G-BENCH-{:08x}", rand::random::<u32>()),
        originator: Party::Kr,
        recipient: Party::Jp,
        categories: vec![Category::NkMissile],
        max_classification: Classification::Secret,
        tearline_only: false,
        issued_at: clock::now(),
        not_after: None,
        operator: key.identity.name().to_owned(),
    };
    let id = doc.grant_id.clone();
    let signed = key.identity.sign(doc.to_bytes());
    let kr = operator(c, Party::Kr).await?;
    if let ControlReply::Grants(items) = ask(&kr, ControlRequest::Grant(signed.clone())).await? {
        // Under the two-person rule KR's second approver co-signs it.
        if items.iter().any(|g| g.proposed) {
            let second = tisa_deploy::keys::load(&c.approver_key(Party::Kr, true))?;
            tisa_kit::operator::cosign_grant(&kr, Party::Kr, &signed, &second.identity).await?;
        }
    }
    let us = operator(c, Party::Us).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let ControlReply::Grants(items) = ask(&us, ControlRequest::Grants(ListQuery::default())).await? {
            if items.iter().any(|g| g.grant.doc.grant_id == id && !g.revoked) {
                return Ok(id);
            }
        }
        if Instant::now() > deadline {
            bail!("the hub did not receive the standing grant within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The broker options every bench cluster runs under: the generated
/// secured deployment (three accounts, nkeys), one broker.
pub(crate) fn broker_options(fsync_always: bool) -> tisa_deploy::broker::Options {
    tisa_deploy::broker::Options { fsync_always, ..tisa_deploy::broker::Options::shared(tisa_deploy::DEFAULT_NATS_URL) }
}

/// A bench cluster: `bin`'s three nodes (each with `envs` set) on their
/// own broker.
pub(crate) async fn start_cluster(
    bin: &Path,
    nats_bin: &Path,
    opts: tisa_deploy::broker::Options,
    envs: Vec<(String, String)>,
) -> Result<Cluster> {
    let (bin, nats) = (bin.to_owned(), nats_bin.to_owned());
    tokio::task::spawn_blocking(move || Cluster::start_generated(&bin, &nats, &opts, |_| Vec::new(), &envs)).await?
}

/// How long a sample waits for its event before it counts as lost.
const WAIT: Duration = Duration::from_secs(30);

/// One report end to end, so that every node has logged an input (a node
/// that has logged none cannot restart: its empty audit.head is "malformed").
pub(crate) async fn warm_up(c: &Cluster) -> Result<()> {
    let mut jp_watch = Watch::start(c, Party::Jp).await?;
    let id = submit(&operator(c, Party::Kr).await?, draft(Category::NkMissile, 0)).await?;
    jp_watch.wait("RECEIVED", &id, 1, WAIT).await.context("the warm-up report did not reach JP")?;
    jp_watch.stop();
    Ok(())
}

/// One standing report: KR's submit → JP's `RECEIVED` (none: it did not
/// come), with the report's id.
pub(crate) async fn standing_once(kr: &ControlClient, jp: &mut Watch, i: usize) -> Result<(String, Option<Duration>)> {
    let t = Instant::now();
    let id = submit(kr, draft(Category::NkMissile, i)).await?;
    let took = jp.wait("RECEIVED", &id, 1, WAIT).await.map(|(at, _)| at - t);
    Ok((id, took))
}

/// The `seq`th update of a bench track.
fn track_draft(track: &TrackId, seq: u32) -> TrackDraft {
    let t0 = 1_716_820_330_000u64;
    TrackDraft {
        track_id: track.clone(),
        seq,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
        launch: GeoPoint { lat_e6: 39_030_000, lon_e6: 125_750_000 },
        launched_at: Timestamp(t0),
        position: GeoPoint { lat_e6: 39_500_000 + (seq as i32 % 1000) * 1000, lon_e6: 126_000_000 },
        altitude_m: 100_000,
        observed_at: Timestamp(t0 + u64::from(seq) * 100),
        impact: Some(GeoPoint { lat_e6: 40_800_000, lon_e6: 135_200_000 }),
    }
}

/// One track update: KR's track command → JP's `TRACK` event.
pub(crate) async fn track_once(
    kr: &ControlClient,
    jp: &mut Watch,
    track: &TrackId,
    seq: u32,
) -> Result<Option<Duration>> {
    let t = Instant::now();
    ask(kr, ControlRequest::Track(track_draft(track, seq))).await?;
    Ok(jp.wait("TRACK", track.as_str(), seq, WAIT).await.map(|(at, _)| at - t))
}

/// One manual approval: a report the grant does not cover (NK_NUCLEAR)
/// waits for KR's operator, who reads the request (as `tisa approve` and
/// the console do) and signs the decision built from what it read; the
/// decision's round trip, and the time from the approval to JP's
/// delivery (none: the request or the delivery did not come). The
/// operator decides when `pacer` lets the sample start: with a pace, a
/// while after reading, as a person does.
pub(crate) async fn manual_once(
    kr: &ControlClient,
    key: &tisa_deploy::keys::Key,
    kr_watch: &mut Watch,
    jp_watch: &mut Watch,
    i: usize,
    pacer: &mut Pacer,
) -> Result<Option<(Duration, Option<Duration>)>> {
    let id = submit(kr, draft(Category::NkNuclear, i)).await?;
    let Some((_, ev)) = kr_watch.wait("RELEASE_REQUESTED", &id, 1, WAIT).await else { return Ok(None) };
    let Some(rq) = ev.request_id else { return Ok(None) };
    let Some(view) = tisa_kit::operator::find_request(kr, &RequestId::new(rq)?).await? else { return Ok(None) };
    pacer.next().await;
    let t = Instant::now();
    tisa_kit::operator::decide_viewed(kr, key, &view, Decision::ApproveFull).await?;
    let decide = t.elapsed();
    Ok(Some((decide, jp_watch.wait("RECEIVED", &id, 1, WAIT).await.map(|(at, _)| at - t))))
}

/// Every report id in JP's inbox, with when JP committed it.
async fn jp_inbox(c: &Cluster) -> Result<HashMap<String, Timestamp>> {
    let jp = operator(c, Party::Jp).await?;
    let mut out = HashMap::new();
    let mut after = None;
    loop {
        let r = ask(&jp, ControlRequest::Inbox(ListQuery { after: after.clone(), limit: 200, ..ListQuery::default() }))
            .await?;
        let ControlReply::Inbox(tisa_core::Page { items, next_after: next }) = r else { bail!("not an inbox") };
        for e in items {
            out.insert(e.delivery.header.id.to_string(), e.received_at);
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

pub(crate) struct TisaRun {
    pub(crate) paths: Vec<PathResult>,
    pub(crate) nodes: Value,
    /// The guarantees in force during the run (the agreement the nodes ran
    /// under, the broker's and the nodes' fsync).
    pub(crate) settings: Value,
    /// The track path step by step (`--timeline`).
    pub(crate) timeline: Option<Value>,
}

/// The guarantee settings a run measured: read back from the agreement the
/// nodes were started with, not assumed.
fn settings(c: &Cluster, fsync_always: bool, submit_batch: usize) -> Result<Value> {
    let a = tisa_deploy::agreement::load_file(&c.agreement())?;
    let p = &a.policy;
    Ok(json!({
        "broker_fsync": if fsync_always { "always (sync_interval: always: fsync before every acknowledgement)" }
            else { "lazy (nats-server's default: fsync every 2 minutes)" },
        "node_fsync": "the input log fdatasync'd before any input is acknowledged (every group commit), and before it \
            is applied except at the hub for link messages with early_forward (their deliveries go first, the \
            broker redelivers until the commit); the stream copies of track updates the track lane passed \
            committed a track window (at most 250 ms) at a time, acknowledged after it; the audit log derived \
            from it, fsync'd every second",
        "two_person_rule": p.two_person_rule,
        "submit_batch": submit_batch,
        "freshness_window_ms": p.standing_window.as_millis(),
        "clock_skew_ms": p.clock_skew.as_millis(),
        "agreement_version": p.version,
        "signatures": "every manifest, decision, grant, receipt, audit head, track and standing statement signed and \
            verified by each receiver (ed25519; a verified signature is remembered by the hash of key, bytes and signature)",
    }))
}

pub(crate) async fn tisa_paths(
    bin: &Path,
    nats_bin: &Path,
    fsync_always: bool,
    s: &Sizes,
    json: bool,
) -> Result<TisaRun> {
    let fsync = if fsync_always { "always" } else { "lazy" };
    let mut paths = Vec::new();
    let opts = broker_options(fsync_always);
    let t = Instant::now();
    // The nodes write each step of a track update's path here (`--timeline`).
    let timeline_dir = if s.timeline { Some(tisa_kit::natsd::scratch_dir("bench-timeline")?) } else { None };
    let envs = timeline_dir.iter().map(|d| (tisa_node::timeline::ENV.to_owned(), d.display().to_string())).collect();
    let mut c = start_cluster(bin, nats_bin, opts, envs).await?;
    let cluster_start = t.elapsed();
    let mut settings = settings(&c, fsync_always, s.submit_batch)?;
    settings["timeline"] = json!(s.timeline);
    progress(json, format!("[{fsync}] cluster up in {:.0} ms", cluster_start.as_secs_f64() * 1e3));

    let grant = standing_grant(&c).await?;
    warm_up(&c).await?;
    // Startup-to-ready per node: stop each cleanly (SIGTERM), then time a start from
    // process spawn to the readiness line (one logged input to replay); then idle RSS.
    let mut startup = serde_json::Map::new();
    let mut idle = serde_json::Map::new();
    for p in Party::ALL {
        tokio::task::block_in_place(|| c.node(p).terminate(Duration::from_secs(30)))?;
        let t = Instant::now();
        tokio::task::block_in_place(|| c.node(p).restart(Duration::from_secs(30)))?;
        startup.insert(p.code().into(), json!(t.elapsed().as_secs_f64() * 1e3));
    }
    // Let every node settle (connections, probes) before reading its idle RSS.
    for p in Party::ALL {
        ask(&operator(&c, p).await?, ControlRequest::Health).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in Party::ALL {
        let kb = c.node(p).pid().and_then(rss_kb);
        idle.insert(p.code().into(), json!(kb.map(|k| k as f64 / 1024.0)));
    }
    let kr = operator(&c, Party::Kr).await?;
    let key = tisa_deploy::keys::load(&c.approver_key(Party::Kr, false))?;
    let mut jp_watch = Watch::start(&c, Party::Jp).await?;
    // KR's events are watched only on the paths that read them (the manual
    // path, the pending build-up): a watcher decodes every event of its
    // node, on the cores the other paths are measured on.

    // End-to-end latency under the standing grant: one report at a time.
    progress(json, format!("[{fsync}] tisa latency under a standing grant ({} reports)", s.latency));
    let mut v = Vec::new();
    let commits_before = commit_readings(&c, &[Party::Kr, Party::Jp]).await?;
    let mut timed_standing = Vec::new();
    let mut pacer = Pacer::new(s.pace);
    for i in 0..s.latency {
        pacer.next().await;
        let sent_ns = crate::timeline::wall_ns();
        let (key, took) = standing_once(&kr, &mut jp_watch, i).await?;
        if let Some(d) = took.filter(|_| s.timeline) {
            timed_standing.push(crate::timeline::Sample { key, sent_ns, event_ns: sent_ns + d.as_nanos() });
        }
        v.extend(took);
    }
    paths.push(crate::PathResult {
        commits: phase_commits(&c, &commits_before).await?,
        started_apart_min_us: pacer.least_apart_us(),
        ..latency_result(
            "tisa/standing_latency",
            fsync,
            "KR submit → JP delivered (committed, RECEIVED event), standing grant, one at a time",
            s.latency,
            v,
        )
    });

    // Live missile track updates: KR feed → JP watch.
    progress(json, format!("[{fsync}] tisa track updates ({} updates)", s.latency));
    let track = TrackId::new(format!("KR-T-BENCH-{fsync}"))?;
    let mut v = Vec::new();
    // Only KR commits on a track update's path (the hub's and JP's lanes pass
    // it ahead of their commits).
    let commits_before = commit_readings(&c, &[Party::Kr]).await?;
    let mut timed = Vec::new();
    let mut pacer = Pacer::new(s.pace);
    for seq in 1..=s.latency as u32 {
        pacer.next().await;
        let sent_ns = crate::timeline::wall_ns();
        let took = track_once(&kr, &mut jp_watch, &track, seq).await?;
        if let Some(d) = took.filter(|_| s.timeline) {
            let key = tisa_node::timeline::key(&track, seq);
            timed.push(crate::timeline::Sample { key, sent_ns, event_ns: sent_ns + d.as_nanos() });
        }
        v.extend(took);
    }
    let track_commits = phase_commits(&c, &commits_before).await?;
    let timeline = timeline_dir.map(|d| {
        use crate::timeline::{analyse, read, Route};
        let lines = read(&d);
        let _ = std::fs::remove_dir_all(&d);
        json!({
            Route::Track.name(): analyse(&lines, Route::Track, &timed),
            Route::Standing.name(): analyse(&lines, Route::Standing, &timed_standing),
        })
    });
    // Whether the track updates took the real-time lane, and what it did
    // (read back from the hub's and JP's health, not assumed).
    let mut lane = serde_json::Map::new();
    let mut early = Value::Null;
    for p in [Party::Us, Party::Jp] {
        if let ControlReply::Health(h) = ask(&operator(&c, p).await?, ControlRequest::Health).await? {
            if p == Party::Us {
                // And whether the hub published deliveries before its commit.
                let e = h.early_forward;
                early = json!({"enabled": e.enabled, "batches": e.batches, "deliveries": e.deliveries});
            }
            let l = h.track_lane;
            lane.insert(
                p.code().into(),
                json!({"enabled": l.enabled, "passed": l.passed, "left": l.left, "dropped": l.dropped,
                    "windows": l.windows, "windowed": l.windowed, "stream_paced": l.stream_paced,
                    "stream_copies": l.stream_copies, "stream_takes": l.stream_takes}),
            );
        }
    }
    if let Some(m) = settings.as_object_mut() {
        m.insert("track_lane".into(), Value::Object(lane));
        m.insert("early_forward".into(), early);
    }
    paths.push(crate::PathResult {
        commits: track_commits,
        started_apart_min_us: pacer.least_apart_us(),
        ..latency_result(
            "tisa/track_latency",
            fsync,
            "KR track update (signed) → JP watch TRACK event, standing grant, one at a time",
            s.latency,
            v,
        )
    });

    // The manual path: a report the grant does not cover (NK_NUCLEAR) waits for KR's
    // operator; time from the approval (sign, decide: the request read before) to JP's delivery.
    progress(json, format!("[{fsync}] tisa manual approvals ({})", s.manual));
    let mut v = Vec::new();
    let mut decide = Vec::new();
    let commits_before = commit_readings(&c, &[Party::Kr, Party::Jp]).await?;
    let mut kr_watch = Watch::start(&c, Party::Kr).await?;
    let mut pacer = Pacer::new(s.pace);
    for i in 0..s.manual {
        let Some((d, e2e)) = manual_once(&kr, &key, &mut kr_watch, &mut jp_watch, i, &mut pacer).await? else {
            continue;
        };
        decide.push(d);
        v.extend(e2e);
    }
    paths.push(crate::PathResult {
        commits: phase_commits(&c, &commits_before).await?,
        started_apart_min_us: pacer.least_apart_us(),
        ..latency_result(
            "tisa/manual_latency",
            fsync,
            "KR operator approval (sign, decide; request read before) → JP delivered, one at a time",
            s.manual,
            v,
        )
    });
    kr_watch.stop();
    paths.push(latency_result(
        "tisa/decision_call",
        fsync,
        "KR operator's decision round trip alone (decide reply), few pending",
        s.manual,
        decide,
    ));

    // Throughput: a burst of reports under the standing grant.
    progress(json, format!("[{fsync}] tisa throughput ({} reports under a standing grant)", s.reports));
    jp_watch.clear();
    let before = jp_watch.counts.get("RECEIVED").copied().unwrap_or(0);
    let cpu_before = nodes_cpu_us(&mut c);
    let procs = machine_pids(&mut c);
    let machine_before = cpu_now(&procs);
    let io_before = proc_io(c.nats.pid());
    let rss_before = nodes_rss_kb(&mut c);
    let start_ms = clock::now();
    let start = Instant::now();
    let ids = submit_batches(&kr, Category::NkMissile, s.reports, s.submit_batch).await;
    let submitted: HashSet<String> = ids.into_iter().filter_map(Result::ok).collect();
    let submit_secs = start.elapsed().as_secs_f64();
    jp_watch.wait_count("RECEIVED", before + s.reports).await;
    // CPU per report each node spent on the burst (its receipts home included).
    let cpu_after = nodes_cpu_us(&mut c);
    let machine_cpu = cpu_per_msg(&machine_before, &cpu_now(&procs), s.reports);
    let broker_io = io_per_msg(&io_before, &proc_io(c.nats.pid()), s.reports);
    let rss_after = nodes_rss_kb(&mut c);
    // Per node and report: (after − before) ÷ reports, scaled by `unit`.
    let per_report = |before: &[Option<u64>], after: &[Option<u64>], unit: f64| -> serde_json::Map<String, Value> {
        Party::ALL
            .iter()
            .zip(before.iter().zip(after))
            .filter_map(|(p, (b, a))| {
                let d = a.as_ref()?.saturating_sub((*b)?) as f64 * unit;
                Some((p.code().to_owned(), json!(d / s.reports.max(1) as f64)))
            })
            .collect()
    };
    let cpu_per_report = per_report(&cpu_before, &cpu_after, 1.0);
    // What each node still holds per report at the end of the burst (bytes):
    // the state it keeps for every report relayed, and allocator slack.
    let rss_per_report = per_report(&rss_before, &rss_after, 1024.0);
    let inbox = jp_inbox(&c).await?;
    let times: Vec<u64> = submitted.iter().filter_map(|id| inbox.get(id)).map(|t| t.as_millis()).collect();
    let last = times.iter().max().copied().unwrap_or(start_ms.as_millis());
    let secs = (last.saturating_sub(start_ms.as_millis()) as f64 / 1e3).max(1e-3);
    let mut r = throughput_result(
        "tisa/standing_throughput",
        fsync,
        "KR→US→JP reports under a standing grant: durable, signed, policy-checked (JP inbox commit times); \
         submitted as a feed does (submit-batch: settings.submit_batch reports a batch signature)",
        s.reports,
        times.len(),
        secs,
    );
    r.submit_phase_s = Some(submit_secs);
    r.cpu_us_per_msg = machine_cpu;
    r.broker_io_per_msg = broker_io;
    paths.push(r);

    // Scale through the node: build up pending requests at KR, then its RSS and decision time.
    progress(json, format!("[{fsync}] {} pending release requests at the KR node", s.node_pending));
    let mut kr_watch = Watch::start(&c, Party::Kr).await?;
    let requested_before = kr_watch.count("RELEASE_REQUESTED");
    let t = Instant::now();
    let ids: Vec<String> = submit_batches(&kr, Category::NkNuclear, s.node_pending, s.submit_batch)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let reached = kr_watch.wait_count("RELEASE_REQUESTED", requested_before + s.node_pending).await - requested_before;
    let build_s = t.elapsed().as_secs_f64();
    let rss = c.node(Party::Kr).pid().and_then(rss_kb);
    let sample: Vec<&String> = ids.iter().step_by((ids.len() / 20).max(1)).collect();
    let mut decide = Vec::new();
    for id in sample {
        // The request id is derived from report, revision and recipient.
        let rq = RequestId::for_release(&ReportId::new(id.clone())?, 1, Party::Jp);
        // What `tisa approve` does: read the request (with its report),
        // then sign the decision built from it and send it.
        let t = Instant::now();
        let Ok(Some(view)) = tisa_kit::operator::find_request(&kr, &rq).await else { continue };
        if tisa_kit::operator::decide_viewed(&kr, &key, &view, Decision::ApproveFull).await.is_ok() {
            decide.push(t.elapsed());
        }
    }
    let (n, p50, p99, _, _) = percentiles(decide);
    let nodes = json!({
        "cluster_start_ms": cluster_start.as_secs_f64() * 1e3,
        "startup_to_ready_ms": startup,
        "idle_rss_mb": idle,
        "throughput_cpu_us_per_report": cpu_per_report,
        "throughput_rss_growth_bytes_per_report": rss_per_report,
        "grant_id": grant,
        "pending": {
            "requested": s.node_pending,
            "reached": reached,
            "build_s": build_s,
            "kr_rss_mb": rss.map(|k| k as f64 / 1024.0),
            "decisions_timed": n,
            "decision_is": "tisa approve: the request read, the decision built from it, signed and sent",
            "decision_p50_us": p50,
            "decision_p99_us": p99,
        },
    });
    jp_watch.stop();
    kr_watch.stop();
    drop(kr);
    // Give the aborted watchers a moment to close their connections before the broker stops.
    tokio::task::yield_now().await;
    drop(c);
    Ok(TisaRun { paths, nodes, settings, timeline })
}
