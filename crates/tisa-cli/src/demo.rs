//! `tisa demo`: starts a nats-server and the three node processes, then plays
//! the arrangement through the same control client the CLI commands use.
//! Every step waits on a condition with a deadline; any broken expectation
//! makes the demo fail (non-zero exit).

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tisa_core::{
    Category, Classification, Content, Decision, Page, Party, PartySet, Released, ReportDraft, ReportId, Sensitive,
};
use tisa_transport::{ControlClient, ControlReply, ControlRequest, ListQuery};

use tisa_kit::cluster::Cluster;
use tisa_kit::natsd;

const STEP_TIMEOUT: Duration = Duration::from_secs(20);

struct Demo {
    started: Instant,
    clients: Vec<(Party, ControlClient)>,
    approvers: Vec<(Party, tisa_deploy::keys::Key)>,
}

impl Demo {
    fn say(&self, who: &str, what: impl AsRef<str>) {
        println!("[{:>6.2}s] {who:<3} {}", self.started.elapsed().as_secs_f64(), what.as_ref());
    }

    fn client(&self, p: Party) -> &ControlClient {
        self.clients.iter().find(|(q, _)| *q == p).map(|(_, c)| c).unwrap_or(&self.clients[0].1)
    }

    async fn ask(&self, p: Party, req: ControlRequest) -> Result<ControlReply> {
        match self.client(p).call(&req).await? {
            ControlReply::Error { code, message } => bail!("{p} refused: {message} [{code}]"),
            r => Ok(r),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &self,
        p: Party,
        category: Category,
        classification: Classification,
        rel_to: &str,
        title: &str,
        body: &str,
        tearline: Option<&str>,
    ) -> Result<ReportId> {
        let draft = ReportDraft {
            offline: false,
            category,
            classification,
            releasable_to: rel_to.parse::<PartySet>()?,
            content: Content {
                title: Sensitive::new(title),
                body: Sensitive::new(body),
                tearline: tearline.map(Sensitive::new),
                source: Sensitive::new("demo"),
            },
            corrects: None,
            submitted_by: String::new(),
            submitter_key: None,
            submission: None,
            source_key: None,
        };
        let ControlReply::Submitted(s) = self.ask(p, ControlRequest::Submit(draft)).await? else {
            bail!("unexpected reply to submit")
        };
        let report_id = s.header.id;
        self.say(p.code(), format!("submits {category} {classification} \"{title}\" REL TO {rel_to} → {report_id}"));
        for n in s.notes {
            self.say(
                p.code(),
                format!("  note: not releasable to {}: {} (stays bilateral with USA)", n.recipient, n.why),
            );
        }
        Ok(report_id)
    }

    async fn wait_request(&self, p: Party, report: &ReportId) -> Result<String> {
        let rid = wait_for(&format!("release request for {report} at {p}"), || async {
            let ControlReply::Pending(Page { items, .. }) =
                self.ask(p, ControlRequest::Pending(ListQuery::default())).await?
            else {
                return Ok(None);
            };
            Ok(items.into_iter().find(|i| i.request.report_id == *report).map(|i| i.request))
        })
        .await?;
        self.say("US", format!("asks {p} to release {} r{} to {}", rid.report_id, rid.revision, rid.recipient));
        Ok(rid.request_id.to_string())
    }

    async fn decide(&self, p: Party, request_id: &str, decision: Decision) -> Result<()> {
        let what = decision.describe();
        let key = self.approvers.iter().find(|(q, _)| *q == p).map(|(_, k)| k).context("no approver key")?;
        match tisa_kit::sign_and_decide(self.client(p), key, request_id.parse()?, decision).await? {
            ControlReply::Decided { .. } => {}
            other => bail!("unexpected reply {other:?}"),
        }
        self.say(p.code(), format!("{what} {request_id}"));
        Ok(())
    }

    async fn inbox_has(&self, p: Party, report: &ReportId) -> Result<Option<Released>> {
        let ControlReply::Inbox(Page { items, .. }) =
            self.ask(p, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await?
        else {
            return Ok(None);
        };
        Ok(items.into_iter().find(|e| e.delivery.header.id == *report).map(|e| e.delivery.released))
    }

    async fn wait_received(&self, p: Party, report: &ReportId) -> Result<Released> {
        let released = wait_for(&format!("{report} in {p}'s inbox"), || self.inbox_has(p, report)).await?;
        let what = match &released {
            Released::Full(c) => format!("receives {report}: \"{}\"", c.title.expose()),
            Released::Tearline(t) => format!("receives {report}, tearline only: \"{}\"", t.expose()),
        };
        self.say(p.code(), what);
        Ok(released)
    }

    async fn wait_state(&self, p: Party, report: &ReportId, recipient: Party, state: &str) -> Result<()> {
        wait_for(&format!("{report} {state} for {recipient} in {p}'s status"), || async {
            let q = ListQuery { report_id: Some(report.clone()), ..Default::default() };
            let ControlReply::Status(Page { items, .. }) = self.ask(p, ControlRequest::Status(q)).await? else {
                return Ok(None);
            };
            Ok(items.iter().any(|s| s.recipients.get(&recipient).is_some_and(|r| r.code() == state)).then_some(()))
        })
        .await?;
        self.say(p.code(), format!("status of {report}: {recipient} {state}"));
        Ok(())
    }
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {STEP_TIMEOUT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs the demo.
pub async fn run(keep_running: bool) -> Result<ExitCode> {
    let bin = std::env::current_exe().context("locating the tisa binary")?;
    let nats_bin = natsd::locate_or_install()?;
    let envs = vec![("RUST_LOG".to_owned(), std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()))];
    let nb = nats_bin.clone();
    let cluster =
        tokio::task::spawn_blocking(move || Cluster::start_secured(&bin, &nb, |_| Vec::new(), &envs)).await??;
    let url = cluster.nats.url().to_owned();
    let broker_dir = cluster.broker_dir.clone().unwrap_or_default();
    println!("tisa demo: nats-server {} at {url}", nats_bin.display());
    println!("broker config generated by `tisa broker config` in {}:", broker_dir.display());
    println!("  accounts KR, US, JP; exports/imports only US<->KR and US<->JP; per-user permissions; nkey auth");
    println!("three node processes up (KR, US, JP), each with its own credentials; logs in {}", cluster.dir.display());
    println!("KR and JP each hold one link, to US; no KR<->JP path exists in the broker.\n");

    let mut clients = Vec::new();
    for p in Party::ALL {
        clients.push((p, cluster.operator_client(p).await?));
    }
    let mut approvers = Vec::new();
    for p in Party::ALL {
        approvers.push((p, tisa_deploy::keys::load(&cluster.approver_key(p, false))?));
    }
    let d = Demo { started: Instant::now(), clients, approvers };

    println!("— 1. KR reports a missile launch; JP gets it only after KR approves");
    let launch = d
        .submit(
            Party::Kr,
            Category::NkMissile,
            Classification::Secret,
            "USA,JPN",
            "Ballistic missile launch from Sunan",
            "Launch detected 05:32 KST, apogee ~1,000 km, impact in the East Sea outside the EEZ.",
            Some("North Korea launched a ballistic missile into the East Sea."),
        )
        .await?;
    let rq = d.wait_request(Party::Kr, &launch).await?;
    if d.inbox_has(Party::Jp, &launch).await?.is_some() {
        bail!("JP holds {launch} before KR approved");
    }
    d.say("JP", format!("does not hold {launch} yet (no approval)"));
    d.decide(Party::Kr, &rq, Decision::ApproveFull).await?;
    d.wait_received(Party::Jp, &launch).await?;
    d.wait_state(Party::Kr, &launch, Party::Jp, "DELIVERED").await?;

    println!("\n— 2. JP reports a nuclear-test indicator; KR gets the tearline after JP approves");
    let quake = d
        .submit(
            Party::Jp,
            Category::NkNuclear,
            Classification::Confidential,
            "USA,KOR",
            "Seismic event near Punggye-ri",
            "M4.9 at 0 km depth, 41.28N 129.08E; waveform consistent with an explosion.",
            Some("A seismic event consistent with a nuclear test occurred near Punggye-ri."),
        )
        .await?;
    let rq = d.wait_request(Party::Jp, &quake).await?;
    d.decide(Party::Jp, &rq, Decision::ApproveTearline).await?;
    match d.wait_received(Party::Kr, &quake).await? {
        Released::Tearline(_) => {}
        Released::Full(_) => bail!("KR received the full body of {quake} after a tearline-only approval"),
    }

    println!("\n— 3. KR denies a release: the report never reaches JP");
    let denied = d
        .submit(
            Party::Kr,
            Category::NkMissile,
            Classification::Secret,
            "USA,JPN",
            "Engine test at Sohae",
            "Sensitive collection details.",
            None,
        )
        .await?;
    let rq = d.wait_request(Party::Kr, &denied).await?;
    d.decide(Party::Kr, &rq, Decision::Deny { reason: "source protection".into() }).await?;
    d.wait_state(Party::Kr, &denied, Party::Jp, "DENIED").await?;

    println!("\n— 4. Bilateral only: REL TO USA, and an OTHER-category report, stay with US");
    let rel_usa = d
        .submit(
            Party::Kr,
            Category::NkMissile,
            Classification::Secret,
            "USA",
            "TEL movements",
            "Bilateral report.",
            None,
        )
        .await?;
    let other = d
        .submit(
            Party::Kr,
            Category::Other,
            Classification::Confidential,
            "USA,JPN",
            "Maritime incident",
            "Not NK nuclear/missile.",
            None,
        )
        .await?;
    for r in [&rel_usa, &other] {
        wait_for(&format!("{r} at US"), || d.inbox_has(Party::Us, r)).await?;
        d.say("US", format!("holds {r}"));
    }

    println!("\n— 5. The hub's own report goes bilaterally to both");
    let us_own = d
        .submit(
            Party::Us,
            Category::NkMissile,
            Classification::Secret,
            "KOR,JPN",
            "Launch assessment",
            "US assessment.",
            None,
        )
        .await?;
    d.wait_received(Party::Kr, &us_own).await?;
    d.wait_received(Party::Jp, &us_own).await?;

    println!("\n— 6. Checking what JP holds");
    // JP received us_own after every earlier step was processed by the hub,
    // so anything that was going to reach JP from steps 1-4 has reached it.
    for r in [&denied, &rel_usa, &other] {
        if d.inbox_has(Party::Jp, r).await?.is_some() {
            bail!("JP holds {r}, which must never reach it");
        }
    }
    d.say("JP", "holds exactly what KR and US released to it: the launch report and the US assessment");
    println!("\ndemo complete: every rule held.");

    if keep_running {
        println!("\nNodes keep running. Try, in another terminal:");
        let kr = broker_dir.join("kr-cli.toml");
        let jp = broker_dir.join("jp-cli.toml");
        println!("  export TISA_NATS_URL={url}");
        println!(
            "  tisa submit --config {} --category missile --classification secret --rel-to USA,JPN --title T --body B",
            kr.display()
        );
        println!("  tisa pending --config {}", kr.display());
        println!("  tisa approve --config {} REQUEST_ID", kr.display());
        println!("  tisa inbox --config {}", jp.display());
        println!("Ctrl-C stops everything.");
        let s = tisa_kit::util::shutdown_signal().await;
        println!("{s}: stopping");
    }
    // Clients first, then nodes, then the broker: nobody sees the broker vanish.
    drop(d);
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}
