//! `tisa node`: its options (clap) and running the node (tisa-node's actor)
//! until a signal.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tisa_core::{Classification, Party};
use tisa_deploy::{config, keys, parse_duration, DEFAULT_NATS_URL};

#[derive(Args, Debug)]
#[command(after_help = "Fault testing: TISA_FAILPOINT=<step>:<what>[:<nth>] makes the node print \
`tisa: failpoint <step>:<what> hit` on stderr and abort the nth time (default 1) it reaches that step. \
Steps: before-commit, after-commit (an input written to the store; not yet applied nor acknowledged), \
before-send, after-send (a publish acknowledged by the receiver's stream; not yet recorded as sent). \
<what>: the envelope kind (report, request, decision, delivery, progress, rejection, grant, revocation, \
track, receipt); for the commit steps also ctl.submit, ctl.decide, ctl.grant, ctl.revoke, ctl.track, timeout. \
With a trailing `:stall` the node prints the same line and waits there for good instead (its other tasks \
go on), for tests that look at what left it. An unknown name stops the node at start.\n\n\
Missile tracks: a peer's track update is judged and passed on (forwarded by the hub, shown by a \
recipient) as soon as it is published, ahead of the node's commit, by the same rules; its stream copy \
is then committed and audited as every input. TISA_TRACK_LANE=off passes it on only after its \
commit. The stream copies are taken behind the lane, in batches (50 ms after an early copy, and every \
500 ms); TISA_TRACK_PACED=off takes each as the stream stores it. `tisa health` shows what the lane \
passed, left and dropped, and the copies taken.\n\n\
Hub (US) only: a batch of messages from the links (which the broker redelivers until the hub \
acknowledges them after its commit) is applied first, the deliveries it makes are published at once, \
then it is committed, audited and acknowledged; grants, revocations, commands and timers are committed \
first. A crash before the commit loses nothing: the broker redelivers, and the recipient takes each \
report revision once. TISA_EARLY_FORWARD=off commits first, as the other nodes do.\n\n\
Notices: progress notices and receipts (what became of a party's report) wait up to 20 ms and go \
together, after the deliveries; a message of another kind to the same peer takes them with it, ahead \
of it. TISA_COALESCE_NOTICES=off sends each at once. `tisa health` shows how many were held.\n\n\
Measuring: TISA_TIMELINE=<dir> appends each step a track update or a report passes in this node (called, \
committed, sent; lane-in, lane-judged, lane-out; in, shown) to <dir>/<KR|US|JP>.tsv with the wall-clock time; \
`tisa bench --timeline` uses it. TOKIO_WORKER_THREADS sets the node's worker threads (default 2).")]
pub(crate) struct NodeArgs {
    /// This node's party: kr|us|jp (or KOR|USA|JPN); taken from --config if absent.
    #[arg(long, env = "TISA_PARTY")]
    party: Option<Party>,
    /// Node config file (per link: URL and credentials), e.g. tisa-broker/kr-node.toml.
    #[arg(long, env = "TISA_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The node's signing key (`tisa keys generate --party P`), registered in the agreement.
    #[arg(long, env = "TISA_NODE_KEY")]
    key: Option<std::path::PathBuf>,
    /// Where the node keeps its state (an fsync'd input log, replayed on start) [default: tisa-data/<party>].
    #[arg(long, env = "TISA_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// NATS URL of this party's own broker (control subjects; the link for KR/JP); overrides the config's URLs [default: nats://127.0.0.1:4222].
    #[arg(long, env = "TISA_NATS_URL")]
    nats: Option<String>,
    /// US only: NATS URL of the US–KR link (default: --nats).
    #[arg(long)]
    kr_nats: Option<String>,
    /// US only: NATS URL of the US–JP link (default: --nats).
    #[arg(long)]
    jp_nats: Option<String>,
    /// The agreement file (versioned policy) [default: the built-in 2014 agreement].
    #[arg(long, env = "TISA_AGREEMENT")]
    agreement: Option<std::path::PathBuf>,
    /// Override: highest classification on both links.
    #[arg(long)]
    ceiling: Option<Classification>,
    /// Highest classification on the US–KR link (overrides --ceiling).
    #[arg(long)]
    kr_ceiling: Option<Classification>,
    /// Highest classification on the US–JP link (overrides --ceiling).
    #[arg(long)]
    jp_ceiling: Option<Classification>,
    /// Override: how long a release request stays open before it counts as denied.
    #[arg(long, value_parser = parse_duration)]
    request_expiry: Option<Duration>,
    /// Override: how fresh a grant-standing statement must be for this node to take a
    /// delivery or track under the grant (and a third of it: how often this node issues one).
    #[arg(long, value_parser = parse_duration)]
    standing_window: Option<Duration>,
    /// How often to reconcile with every peer end to end even when no link came back
    /// (re-send what the peer may not hold; links that come back reconcile at once).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    reconcile_every: Duration,
}

/// `tisa node`: runs the party's node until SIGINT/SIGTERM.
pub(crate) async fn run(a: NodeArgs) -> anyhow::Result<ExitCode> {
    use tisa_node::{spawn, NodeConfig};
    use tisa_transport::LinkUrls;
    let cfg = a.config.as_deref().map(config::load).transpose()?;
    let party = match (a.party, &cfg) {
        (Some(p), Some(c)) if p != c.party => {
            anyhow::bail!("--party {p} contradicts the config file's party {}", c.party)
        }
        (Some(p), _) => p,
        (None, Some(c)) => c.party,
        (None, None) => anyhow::bail!("which party? give --party kr|us|jp (or --config FILE)"),
    };
    if party != Party::HUB && (a.kr_nats.is_some() || a.jp_nats.is_some()) {
        anyhow::bail!("--kr-nats/--jp-nats are for the US hub only; {party} has one link: use --nats");
    }
    let key_path = a.key.clone().or_else(|| cfg.as_ref().and_then(|c| c.key_file.clone())).ok_or_else(|| {
        anyhow::anyhow!(
            "no signing key: give --key FILE (create one with `tisa keys generate --party {}`)",
            party.lower()
        )
    })?;
    let key = keys::load(&key_path)?;
    let data_dir = a.data_dir.clone().unwrap_or_else(|| std::path::PathBuf::from("tisa-data").join(party.lower()));
    if key.party != party || key.role != tisa_core::KeyRole::Node {
        anyhow::bail!("{} is not a node key of {party}", key_path.display());
    }
    let overrides = Overrides {
        ceiling: a.ceiling,
        kr_ceiling: a.kr_ceiling,
        jp_ceiling: a.jp_ceiling,
        request_expiry: a.request_expiry,
        standing_window: a.standing_window,
    };
    if let Some(w) = a.standing_window {
        anyhow::ensure!(w >= Duration::from_secs(1), "--standing-window must be at least 1s");
    }
    let agreement_path = a.agreement.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "no agreement: give --agreement FILE, the agreement signed by the three parties (`tisa agreement sign`)"
        )
    })?;
    let mut chain = chain_policies(&agreement_path, &overrides)?;
    let policy = chain.remove(0);
    let newest = chain.last().unwrap_or(&policy);
    tracing::info!(
        agreement_version = newest.version,
        agreement_sha256 = %tisa_deploy::chain::hex(&newest.hash),
        versions = chain.len() + 1,
        kr_ceiling = %newest.kr_ceiling,
        jp_ceiling = %newest.jp_ceiling,
        request_expiry_s = newest.request_expiry.as_secs(),
        standing_window_ms = newest.standing_window.as_millis() as u64,
        "agreement chain verified"
    );
    if overrides.any() {
        tracing::warn!(
            "policy overridden on the command line: this node enforces a policy the parties did not sign, under its own hash; peers stop trilateral releases with it unless they run the same overrides"
        );
    }
    let reload: tisa_node::Reload = {
        let (path, overrides) = (agreement_path.clone(), overrides.clone());
        std::sync::Arc::new(move || chain_policies(&path, &overrides).map_err(|e| format!("{e:#}")))
    };
    use tisa_transport::Endpoint;
    let mut own = cfg.as_ref().map(|c| c.own.clone()).unwrap_or_else(|| Endpoint::open(DEFAULT_NATS_URL));
    let mut kr = cfg.as_ref().and_then(|c| c.kr.clone()).unwrap_or_else(|| own.clone());
    let mut jp = cfg.as_ref().and_then(|c| c.jp.clone()).unwrap_or_else(|| own.clone());
    if let Some(url) = &a.nats {
        own.url = url.clone();
        kr.url = url.clone();
        jp.url = url.clone();
    }
    if let Some(url) = a.kr_nats {
        kr.url = url;
    }
    if let Some(url) = a.jp_nats {
        jp.url = url;
    }
    let urls = LinkUrls { own, kr, jp };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = spawn(
        NodeConfig {
            party,
            urls,
            policy,
            later: chain,
            reload: Some(reload),
            identity: key.identity,
            data_dir,
            reconcile_every: a.reconcile_every,
        },
        shutdown.clone(),
        Some(ready_tx),
    );
    tokio::spawn(async move {
        if ready_rx.await.is_ok() {
            // The one machine-readable line on stdout; logs go to stderr.
            println!("{} party={}", tisa_kit::cluster::READY_LINE, party.code());
        }
    });
    let signals = tisa_kit::util::shutdown_signal();
    tokio::pin!(task);
    tokio::select! {
        r = &mut task => {
            r??;
            return Ok(ExitCode::SUCCESS);
        }
        s = signals => tracing::info!(signal = s, "shutting down"),
    }
    shutdown.cancel();
    task.await??;
    Ok(ExitCode::SUCCESS)
}

/// Policy settings given on the command line (for tests and drills).
#[derive(Clone, Default)]
struct Overrides {
    ceiling: Option<tisa_core::Classification>,
    kr_ceiling: Option<tisa_core::Classification>,
    jp_ceiling: Option<tisa_core::Classification>,
    request_expiry: Option<Duration>,
    standing_window: Option<Duration>,
}

impl Overrides {
    fn any(&self) -> bool {
        self.describe().is_some()
    }

    /// What is overridden, as one line (`None`: nothing).
    fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(c) = self.ceiling {
            parts.push(format!("ceiling={c}"));
        }
        if let Some(c) = self.kr_ceiling {
            parts.push(format!("kr_ceiling={c}"));
        }
        if let Some(c) = self.jp_ceiling {
            parts.push(format!("jp_ceiling={c}"));
        }
        if let Some(e) = self.request_expiry {
            parts.push(format!("request_expiry_ms={}", e.as_millis()));
        }
        if let Some(w) = self.standing_window {
            parts.push(format!("standing_window_ms={}", w.as_millis()));
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Applies them to `policy`. The result is not the signed agreement, so
    /// its hash changes with what was overridden: peers see another
    /// agreement (and stop trilateral releases) unless they run the same.
    fn apply(&self, mut policy: tisa_core::Policy) -> tisa_core::Policy {
        let Some(what) = self.describe() else { return policy };
        if let Some(c) = self.ceiling {
            policy.kr_ceiling = c;
            policy.jp_ceiling = c;
        }
        if let Some(c) = self.kr_ceiling {
            policy.kr_ceiling = c;
        }
        if let Some(c) = self.jp_ceiling {
            policy.jp_ceiling = c;
        }
        if let Some(e) = self.request_expiry {
            policy.request_expiry = e;
        }
        if let Some(w) = self.standing_window {
            policy.standing_window = w;
        }
        let mut bytes = policy.hash.to_vec();
        bytes.extend_from_slice(format!("\0overridden:{what}").as_bytes());
        policy.hash = tisa_core::sign::sha256(&bytes);
        policy
    }
}

/// The verified chain at `path`, every version's policy oldest first, with
/// the command line's overrides applied.
fn chain_policies(path: &std::path::Path, overrides: &Overrides) -> anyhow::Result<Vec<tisa_core::Policy>> {
    Ok(tisa_deploy::chain::read(path)?.policies().into_iter().map(|p| overrides.apply(p)).collect())
}
