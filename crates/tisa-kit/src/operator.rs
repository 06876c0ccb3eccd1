//! The operator's side of the control protocol, shared by the `tisa`
//! operator commands, the feeds, the demo and the benchmark: the options
//! every operator command takes ([`Common`]), their resolved context
//! ([`Ctx`]), calls to the party's own node, and signing a release decision
//! locally ([`sign_and_decide`]: the node never holds an approver's key).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use tisa_core::{Decision, Party, PendingView, ReportId, RequestId};
use tisa_deploy::parse_duration;
use tisa_transport::{ControlClient, ControlReply, ControlRequest, DecisionQuery, ListQuery};

/// Co-signs `party`'s proposed standing grant `grant` as `cosigner` (the
/// two-person rule): the co-signature and the request's signed action are
/// both `cosigner`'s, as from that person's own process. Returns the node's
/// reply (the grant, now in force, or why not).
pub async fn cosign_grant(
    client: &ControlClient,
    party: Party,
    grant: &tisa_core::Signed,
    cosigner: &tisa_core::Identity,
) -> Result<ControlReply> {
    let doc = tisa_core::sign::GrantDoc::parse(&grant.bytes)?;
    let now = tisa_transport::wall_clock();
    let cosign = tisa_core::sign::CosignDoc::of(&doc.grant_id, party, &grant.bytes, now, cosigner.key_id());
    let req = ControlRequest::Cosign(cosigner.sign_by_id(cosign.to_bytes()));
    let action = tisa_transport::sign_action(party, &req, cosigner);
    Ok(client.call_raw(&req, Some(&action)).await?)
}

/// Options shared by every operator command.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Your party: kr|us|jp (or KOR|USA|JPN); taken from --config if absent.
    #[arg(long, env = "TISA_PARTY")]
    pub party: Option<Party>,
    /// NATS URL of your party's broker [default: from --config, else nats://127.0.0.1:4222].
    #[arg(long, env = "TISA_NATS_URL")]
    pub nats: Option<String>,
    /// Your CLI config file (URL and credentials), e.g. tisa-broker/kr-cli.toml.
    #[arg(long, env = "TISA_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Your signing key (from `tisa keys generate --operator NAME --role ROLES`): signs every request
    /// that changes state or reads report content, and decisions and grants.
    #[arg(long, env = "TISA_KEY")]
    pub key: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the node's answer (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// An operator command's resolved context.
pub struct Ctx {
    /// The party.
    pub party: Party,
    /// Its broker endpoint.
    pub ep: tisa_transport::Endpoint,
    /// JSON output?
    pub json: bool,
    /// Reply timeout.
    pub timeout: Duration,
    /// The operator's key file, if given.
    pub key: Option<std::path::PathBuf>,
    /// The key, once loaded: a file is read at most once per command, so
    /// `--key /dev/stdin` (a key piped in, as into a container) works.
    loaded: std::sync::OnceLock<tisa_deploy::keys::Key>,
}

impl Ctx {
    /// The operator's approver key (required for decisions and grants).
    pub fn approver(&self) -> anyhow::Result<tisa_deploy::keys::Key> {
        let path = self.key.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this needs your approver key: --key FILE (or TISA_KEY); create one with `tisa keys generate --party {} --operator NAME`",
                self.party.lower()
            )
        })?;
        let key = self.load(path)?;
        if key.party != self.party || !key.has(tisa_core::KeyRole::Approver) {
            anyhow::bail!("{} is not an approver key of {}", path.display(), self.party);
        }
        Ok(key)
    }

    /// The operator's key, if given (`--key`), checked to be this party's.
    pub fn key(&self) -> anyhow::Result<Option<tisa_deploy::keys::Key>> {
        let Some(path) = &self.key else { return Ok(None) };
        let key = self.load(path)?;
        if key.party != self.party {
            anyhow::bail!(
                "{} is a key of {}, not {}: use a key of your own party",
                path.display(),
                key.party,
                self.party
            );
        }
        Ok(Some(key))
    }

    /// The key file at `path`, read on first use only.
    fn load(&self, path: &std::path::Path) -> anyhow::Result<tisa_deploy::keys::Key> {
        if let Some(k) = self.loaded.get() {
            return Ok(k.clone());
        }
        let k = tisa_deploy::keys::load(path)?;
        Ok(self.loaded.get_or_init(|| k).clone())
    }

    /// A client of the party's own node that signs with the operator's key (if given).
    pub async fn client(&self) -> Result<ControlClient> {
        let signers = self.key()?.map(|k| vec![k.signer()]).unwrap_or_default();
        Ok(ControlClient::connect(&self.ep, self.party, self.timeout).await?.with_signers(signers))
    }

    /// Refuses, before anything is sent, a request that must be signed
    /// when no key was given: one line naming the role it needs.
    pub fn check_signable(&self, req: &ControlRequest) -> Result<()> {
        match req.action_verb() {
            Some(verb) if self.key.is_none() => {
                let roles = verb.roles().iter().map(|r| r.as_str()).collect::<Vec<_>>().join("|");
                bail!(
                    "`{}` must be signed: give your key with --key FILE (or TISA_KEY), a key with the {roles} role; \
                     create one with `tisa keys generate --party {} --operator NAME --role {}`",
                    req.verb(),
                    self.party.lower(),
                    verb.roles()[0].as_str()
                )
            }
            _ => Ok(()),
        }
    }
}

impl Common {
    /// Resolves the options: the party (from `--party` or the config file,
    /// which must agree), the broker endpoint (the config's, `--nats` overriding
    /// its URL) and the rest as given.
    pub fn resolve(&self) -> anyhow::Result<Ctx> {
        let cfg = self.config.as_deref().map(tisa_deploy::config::load).transpose()?;
        let party = match (self.party, &cfg) {
            (Some(p), Some(c)) if p != c.party => {
                anyhow::bail!("--party {p} contradicts the config file's party {}", c.party)
            }
            (Some(p), _) => p,
            (None, Some(c)) => c.party,
            (None, None) => anyhow::bail!("which party? give --party kr|us|jp (or --config FILE)"),
        };
        let mut ep =
            cfg.map(|c| c.own).unwrap_or_else(|| tisa_transport::Endpoint::open(tisa_deploy::DEFAULT_NATS_URL));
        if let Some(url) = &self.nats {
            ep.url = url.clone();
        }
        Ok(Ctx {
            party,
            ep,
            json: self.json,
            timeout: self.timeout,
            key: self.key.clone(),
            loaded: std::sync::OnceLock::new(),
        })
    }
}

/// The node refused a request: its code (`UNAUTHORIZED`, `TOO_LARGE`, …)
/// and message (`--json` prints both).
#[derive(Debug, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct Refused {
    /// The node's code.
    pub code: String,
    /// The node's message.
    pub message: String,
}

/// A node's reply, or its refusal as an error ([`Refused`]).
fn accepted(reply: ControlReply) -> Result<ControlReply> {
    match reply {
        ControlReply::Error { code, message } => Err(Refused { code, message }.into()),
        other => Ok(other),
    }
}

/// Asks the party's own node (a fresh connection); a refusal is an error
/// carrying the node's message and code.
pub async fn call(c: &Ctx, req: ControlRequest) -> Result<ControlReply> {
    c.check_signable(&req)?;
    let client = c.client().await?;
    accepted(client.call(&req).await?)
}

/// The error for a reply of the wrong kind.
pub fn unexpected(r: &ControlReply) -> anyhow::Error {
    anyhow::anyhow!("unexpected reply from the node: {r:?}")
}

/// Asks on an open connection; a refusal is an error with the node's message and code.
pub async fn ask(client: &ControlClient, req: ControlRequest) -> Result<ControlReply> {
    accepted(client.call(&req).await?)
}

/// Decides a release request as the holder of `key`: the node prepares the
/// decision document (it knows the report's manifest); we check that it says
/// exactly what the operator asked, sign it here (the node never holds an
/// approver's key), and send it back.
pub async fn sign_and_decide(
    client: &ControlClient,
    key: &tisa_deploy::keys::Key,
    request_id: RequestId,
    decision: Decision,
) -> Result<ControlReply> {
    Ok(decide_signed(client, key, request_id, decision).await?.0)
}

/// [`sign_and_decide`], also returning the decision document that was
/// signed and its canonical bytes (what an approver is shown afterwards).
pub async fn decide_signed(
    client: &ControlClient,
    key: &tisa_deploy::keys::Key,
    request_id: RequestId,
    decision: Decision,
) -> Result<(ControlReply, tisa_core::sign::DecisionDoc, Vec<u8>)> {
    let operator = key.identity.name().to_owned();
    let query =
        DecisionQuery { request_id: request_id.clone(), decision: decision.clone(), operator: operator.clone() };
    let reply = ask(client, ControlRequest::DecisionDocument(query)).await?;
    let ControlReply::DecisionDocument(bytes) = reply else { return Err(unexpected(&reply)) };
    let doc = tisa_core::sign::DecisionDoc::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("the node sent an invalid decision document: {e}"))?;
    let (verdict, reason) = decision.verdict();
    let reason = reason.replace(['\n', '\r'], " ");
    if doc.request_id != request_id || doc.verdict != verdict || doc.operator != operator || doc.reason != reason {
        bail!("the node's decision document does not match what you asked; nothing was signed");
    }
    let reply = ask(client, ControlRequest::Decide(key.identity.sign(bytes.clone()))).await?;
    Ok((reply, doc, bytes))
}

/// Decides the request an approver was shown (`view`, from the node's
/// pending list) without asking the node for the decision document first:
/// the document names the SHA-256 of the very manifest the approver read,
/// the request's id, report, revision and recipient, and is signed here.
/// The node checks all of it against the request (a view out of date is
/// refused with `DECISION_MISMATCH`, nothing decided). Saves a round trip
/// per decision against [`decide_signed`].
pub async fn decide_viewed(
    client: &ControlClient,
    key: &tisa_deploy::keys::Key,
    view: &PendingView,
    decision: Decision,
) -> Result<(ControlReply, tisa_core::sign::DecisionDoc, Vec<u8>)> {
    let (verdict, reason) = decision.verdict();
    let req = &view.request;
    let now = tisa_transport::wall_clock();
    let doc = tisa_core::sign::DecisionDoc {
        manifest_sha256: tisa_core::sign::sha256(&view.manifest.bytes),
        request_id: req.request_id.clone(),
        report_id: req.report_id.clone(),
        revision: req.revision,
        recipient: req.recipient,
        verdict,
        reason: reason.replace(['\n', '\r'], " "),
        decided_at: now,
        operator: key.identity.name().to_owned(),
    };
    let bytes = doc.to_bytes();
    let reply = ask(client, ControlRequest::Decide(key.identity.sign(bytes.clone()))).await?;
    Ok((reply, doc, bytes))
}

/// The open requests for one of your reports, each with the whole report.
pub async fn pending_for(client: &ControlClient, report: &ReportId) -> Result<Vec<PendingView>> {
    let q = ListQuery { report_id: Some(report.clone()), ..ListQuery::default() };
    let reply = ask(client, ControlRequest::Pending(q)).await?;
    let ControlReply::Pending(p) = reply else { return Err(unexpected(&reply)) };
    Ok(p.items)
}

/// The open request `id`, with the whole report, if there is one.
pub async fn find_request(client: &ControlClient, id: &RequestId) -> Result<Option<PendingView>> {
    let Some(report) = id.report() else { return Ok(None) };
    Ok(pending_for(client, &report).await?.into_iter().find(|v| &v.request.request_id == id))
}

/// One revision's stage with one recipient, along the lifecycle
/// SUBMITTED → AT_HUB → RELEASE_REQUESTED → APPROVED | DENIED | EXPIRED →
/// DELIVERED → RECEIPT (or NOT_RELEASABLE, WITHDRAWN by a retraction,
/// REJECTED by the hub).
pub fn lifecycle(hub: &tisa_core::HubState, st: &tisa_core::RecipientState, receipt: bool) -> &'static str {
    match (hub, st) {
        (tisa_core::HubState::Rejected { .. }, _) => "REJECTED",
        (tisa_core::HubState::Sent, tisa_core::RecipientState::Waiting) => "SUBMITTED",
        (_, tisa_core::RecipientState::Waiting) => "AT_HUB",
        (_, tisa_core::RecipientState::Requested { .. }) => "RELEASE_REQUESTED",
        (_, tisa_core::RecipientState::Approved { .. }) => "APPROVED",
        (_, tisa_core::RecipientState::Denied) => "DENIED",
        (_, tisa_core::RecipientState::Expired) => "EXPIRED",
        (_, tisa_core::RecipientState::Withdrawn) => "WITHDRAWN",
        (_, tisa_core::RecipientState::NotReleasable(_)) => "NOT_RELEASABLE",
        (_, tisa_core::RecipientState::Delivered { .. }) if receipt => "RECEIPT",
        (_, tisa_core::RecipientState::Delivered { .. }) => "DELIVERED",
    }
}
