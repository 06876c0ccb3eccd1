//! The scale run: KR's core and node store in one child process
//! (`--scale-child`), the hub's in another (`--scale-hub`), over pipes (no
//! NATS); time per decision and memory at 10k … 1M pending requests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use tisa_core::{Category, Party, ReportId, Timestamp};
use tisa_kit::natsd::scratch_dir;
use tisa_node::clock;

use crate::tisa_paths::{draft, rss_kb};
use crate::{percentiles, progress};

#[derive(Serialize, Debug)]
pub(crate) struct ScaleResult {
    pending: usize,
    build_s: f64,
    decisions: usize,
    decision_mean_us: f64,
    decision_p50_us: f64,
    decision_p99_us: f64,
    pending_page_us: f64,
    rss_mb_before: f64,
    /// The KR process: its core and its node store (bodies on disk, redb's cache).
    rss_mb: f64,
    /// The hub's process (its core and store), holding the same reports and requests.
    hub_rss_mb: f64,
    /// KR's store on disk (input log not included: the scale run logs no inputs).
    kr_store_mb: f64,
}

/// One frame of envelopes between the scale child (KR) and its hub
/// process: the sender's `now`, then each envelope as its subject kind and
/// its wire encoding. A frame with `u32::MAX` envelopes asks the hub for
/// its RSS (answered in `now`).
fn write_frame(w: &mut impl std::io::Write, now: u64, envs: &[tisa_core::Envelope]) -> std::io::Result<()> {
    w.write_all(&now.to_le_bytes())?;
    w.write_all(&(envs.len() as u32).to_le_bytes())?;
    for e in envs {
        let kind = e.payload.kind().as_bytes();
        let bytes = tisa_transport::encode_envelope(e);
        w.write_all(&[kind.len() as u8])?;
        w.write_all(kind)?;
        w.write_all(&(bytes.len() as u32).to_le_bytes())?;
        w.write_all(&bytes)?;
    }
    w.flush()
}

/// Reads a frame: `(now, envelopes)`, or `None` at the end of the input;
/// `(now, None)` for an RSS request.
#[allow(clippy::type_complexity)]
fn read_frame(r: &mut impl std::io::Read) -> Result<Option<(u64, Option<Vec<tisa_core::Envelope>>)>> {
    let mut b8 = [0u8; 8];
    match r.read_exact(&mut b8) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    let mut b4 = [0u8; 4];
    r.read_exact(&mut b4)?;
    let n = u32::from_le_bytes(b4);
    if n == u32::MAX {
        return Ok(Some((u64::from_le_bytes(b8), None)));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut k = [0u8; 1];
        r.read_exact(&mut k)?;
        let mut kind = vec![0u8; k[0] as usize];
        r.read_exact(&mut kind)?;
        r.read_exact(&mut b4)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(b4) as usize];
        r.read_exact(&mut bytes)?;
        let subject = format!("bench.{}", String::from_utf8_lossy(&kind));
        out.push(tisa_transport::decode_envelope(&subject, &bytes)?);
    }
    Ok(Some((u64::from_le_bytes(b8), Some(out))))
}

/// A core as a node runs it (bodies outside, in a node store in `dir`):
/// applies nothing itself; [`ScaleNode::drain`] writes what it stashed and
/// returns its transmits, filled from the store.
struct ScaleNode {
    core: tisa_core::Node,
    store: tisa_node::store::Store,
    commits: u32,
}

impl ScaleNode {
    fn new(party: Party, policy: tisa_core::Policy, identity: tisa_core::Identity, dir: &Path) -> Result<ScaleNode> {
        let core = tisa_core::Node::new(party, policy, 1, identity)?.keep_bodies_outside();
        Ok(ScaleNode { core, store: tisa_node::store::Store::open(dir)?, commits: 0 })
    }

    fn drain(&mut self, events: &mut Vec<tisa_core::Event>) -> Result<Vec<tisa_core::Transmit>> {
        let stashes: Vec<_> = std::iter::from_fn(|| self.core.poll_stash()).collect();
        self.store.stage_bodies(stashes)?;
        self.commits += 1;
        if self.commits.is_multiple_of(64) {
            // A node makes its writes durable with every input's commit; so does this.
            self.store.sync()?;
        }
        let mut out = Vec::new();
        while let Some(mut t) = self.core.poll_transmit() {
            if let Some(k) = t.body.clone() {
                let body = self.store.body(&k)?.with_context(|| format!("no body {k}"))?;
                t.fill(&body)?;
            }
            out.push(t);
        }
        events.extend(std::iter::from_fn(|| self.core.poll_event()));
        Ok(out)
    }
}

/// The hub's side of a scale measurement (`--scale-hub`): a US core fed
/// KR's envelopes over stdin, answering over stdout; what it forwards to JP
/// is built (bodies filled) and dropped.
pub(crate) fn scale_hub() -> Result<()> {
    let dir = PathBuf::from(std::env::var("TISA_SCALE_DIR").context("TISA_SCALE_DIR")?);
    let policy = tisa_deploy::agreement::load(Some(&dir.join("agreement.toml")))?.policy;
    let key = tisa_deploy::keys::load(&dir.join("us-node.key"))?;
    let mut us = ScaleNode::new(Party::Us, policy, key.identity, &dir.join("us"))?;
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::new(stdin.lock());
    let stdout = std::io::stdout();
    let mut output = std::io::BufWriter::new(stdout.lock());
    while let Some((now, envs)) = read_frame(&mut input)? {
        let Some(envs) = envs else {
            write_frame(&mut output, rss_kb(std::process::id()).unwrap_or(0), &[])?;
            continue;
        };
        for e in envs {
            us.core.handle_message(Timestamp(now), Party::Kr, e);
        }
        let mut events = Vec::new();
        let back: Vec<_> =
            us.drain(&mut events)?.into_iter().filter(|t| t.to == Party::Kr).map(|t| t.envelope).collect();
        write_frame(&mut output, now, &back)?;
    }
    Ok(())
}

/// One scale measurement: a KR core as its node runs it (bodies in its
/// store on disk), with the hub's core in a process of its own over pipes
/// (so that each RSS is its own). `n` reports submitted at KR
/// (NK_NUCLEAR, no grant) and routed, so KR holds `n` pending release
/// requests; then `decisions` of them decided (decision document,
/// signature, `decide` at KR, the hub's verification and forward — its body
/// read back from the hub's store — and KR's progress), each timed.
pub(crate) fn scale_child(n: usize, decisions: usize) -> Result<ScaleResult> {
    use std::io::BufRead as _;
    use tisa_core::Event;
    let dir = scratch_dir("bench-scale")?;
    let agreement = tisa_deploy::keys::generate_deployment(&dir, tisa_deploy::agreement::DEFAULT)?;
    if agreement != dir.join("agreement.toml") {
        std::fs::copy(&agreement, dir.join("agreement.toml"))?;
    }
    let policy = tisa_deploy::agreement::load(Some(&agreement))?.policy;
    let kr_key = tisa_deploy::keys::load(&dir.join("kr-node.key"))?;
    let approver = tisa_deploy::keys::load(&dir.join("kr-approver.key"))?;
    // The core is driven directly here (no control calls), so the submitting
    // key the node would record from the signed request is set as the node
    // would: the analyst's (the two-person rule compares it with the approver's).
    let analyst = tisa_deploy::keys::load(&dir.join("kr-analyst.key"))?;
    let self_rss = || rss_kb(std::process::id()).map_or(0.0, |k| k as f64 / 1024.0);
    let rss_before = self_rss();
    let mut hub = HubChild(
        std::process::Command::new(std::env::current_exe()?)
            .args(["bench", "--scale-hub"])
            .env("TISA_SCALE_DIR", &dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting the scale hub")?,
    );
    let mut to_hub = std::io::BufWriter::new(hub.0.stdin.take().context("hub stdin")?);
    let mut from_hub = std::io::BufReader::new(hub.0.stdout.take().context("hub stdout")?);
    let mut kr = ScaleNode::new(Party::Kr, policy, kr_key.identity, &dir.join("kr"))?;
    let mut now = clock::now();
    // Everything KR sends goes to the hub; everything the hub answers comes back, until quiet.
    let mut route = |kr: &mut ScaleNode, now: Timestamp, events: &mut Vec<Event>| -> Result<()> {
        loop {
            let out: Vec<_> = kr.drain(events)?.into_iter().map(|t| t.envelope).collect();
            if out.is_empty() {
                return Ok(());
            }
            write_frame(&mut to_hub, now.as_millis(), &out)?;
            let (_, back) = read_frame(&mut from_hub)?.context("the scale hub stopped")?;
            for e in back.unwrap_or_default() {
                kr.core.handle_message(now, Party::Us, e);
            }
        }
    };
    let every = (n / decisions.max(1)).max(1);
    let mut sample = Vec::new();
    let mut events = Vec::new();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        // A burst of submits, then one exchange with the hub (as a node's group commit would).
        now = Timestamp(now.as_millis() + 1);
        for _ in 0..256.min(n - i) {
            let id = ReportId::new(format!("KR-{i:012}"))?;
            let mut d = draft(Category::NkNuclear, i);
            d.submitted_by = analyst.identity.name().to_owned();
            d.submitter_key = Some(analyst.identity.key_id());
            d.submission = Some(tisa_transport::sign_submission(Party::Kr, &d, &analyst.identity));
            kr.core.submit(now, id, d)?;
            i += 1;
        }
        route(&mut kr, now, &mut events)?;
        for ev in events.drain(..) {
            if let Event::ReleaseRequested { request } = ev {
                let k = request.report_id.as_str().trim_start_matches("KR-").parse::<usize>().unwrap_or(1);
                if k % every == 0 && sample.len() < decisions {
                    sample.push(request.request_id);
                }
            }
        }
    }
    let build_s = t.elapsed().as_secs_f64();
    kr.store.sync()?;
    let rss = self_rss();
    let t = Instant::now();
    let page = kr.core.pending(now, None, 100)?;
    let pending_page_us = t.elapsed().as_secs_f64() * 1e6;
    if page.items.len() < 100.min(n) {
        bail!("only {} pending requests were built up", page.items.len());
    }
    let mut times = Vec::new();
    for rq in sample {
        now = Timestamp(now.as_millis() + 1);
        let t = Instant::now();
        let doc =
            kr.core.decision_doc(now, &rq, tisa_core::sign::Verdict::ApproveFull, "", approver.identity.name())?;
        kr.core.decide(now, approver.identity.sign(doc.to_bytes()))?;
        route(&mut kr, now, &mut events)?;
        events.clear();
        times.push(t.elapsed());
    }
    write_frame(&mut to_hub, 0, &[]).ok();
    // The RSS request: a frame whose count is u32::MAX.
    {
        use std::io::Write as _;
        to_hub.write_all(&0u64.to_le_bytes())?;
        to_hub.write_all(&u32::MAX.to_le_bytes())?;
        to_hub.flush()?;
    }
    let _ = read_frame(&mut from_hub)?; // the empty answer to the empty frame
    let hub_rss = read_frame(&mut from_hub)?.map_or(0.0, |(kb, _)| kb as f64 / 1024.0);
    drop(to_hub);
    let _ = from_hub.fill_buf();
    let _ = hub.0.wait();
    let disk_mb = dir_size(&dir.join("kr")) as f64 / 1048576.0;
    let _ = std::fs::remove_dir_all(&dir);
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len().max(1) as f64 * 1e6;
    let (k, p50, p99, _, _) = percentiles(times);
    Ok(ScaleResult {
        pending: n,
        build_s,
        decisions: k,
        decision_mean_us: mean,
        decision_p50_us: p50,
        decision_p99_us: p99,
        pending_page_us,
        rss_mb_before: rss_before,
        rss_mb: rss,
        hub_rss_mb: hub_rss,
        kr_store_mb: disk_mb,
    })
}

/// The scale run's hub process: killed if the run ends early (an error),
/// reaped either way.
struct HubChild(std::process::Child);

impl Drop for HubChild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(crate) fn run_scale(sizes: &[usize], decisions: usize, json: bool) -> Result<Vec<Value>> {
    let exe = std::env::current_exe()?;
    let mut out = Vec::new();
    for &n in sizes.iter().filter(|n| **n > 0) {
        progress(json, format!("scale: {n} pending requests (KR and hub cores with their stores, no NATS)"));
        let o = std::process::Command::new(&exe)
            .args(["bench", "--scale-child", &n.to_string(), "--scale-decisions", &decisions.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running the scale child")?;
        if !o.status.success() {
            bail!("scale child for {n} failed ({})", o.status);
        }
        out.push(serde_json::from_slice(&o.stdout).context("the scale child's output")?);
    }
    Ok(out)
}
