//! The operator's client for its own node's control subjects.

use std::time::Duration;

use async_nats::Client;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tisa_core::sign::{ActionDoc, Nonce};
use tisa_core::{Identity, KeyRole, Party, Timestamp};

use crate::control::{ControlReply, ControlRequest, WatchEvent, WatchEvents};
use crate::convert::Wire;
use crate::error::{DecodeError, TransportError};
use crate::subjects;

use super::{connect_watching, prove_ready, Endpoint};

/// A key the client may sign actions with, and the roles its party's
/// roster gives it.
#[derive(Clone, Debug)]
pub struct Signer {
    /// The key.
    pub identity: Identity,
    /// Its roles.
    pub roles: Vec<KeyRole>,
}

/// An operator's client for its own node's control subjects. With
/// signers ([`ControlClient::with_signers`]) it signs every request that
/// needs it (a `tisa.v1.action`) with the first key whose roles allow the
/// verb; the operator's CLI holds one key, tools acting for several
/// operators (demo, bench, tests) may hold more.
pub struct ControlClient {
    client: Client,
    party: Party,
    url: String,
    timeout: Duration,
    signers: Vec<Signer>,
    /// The broker's latest permissions violation on this connection: a
    /// request it refused fails at once, naming it, instead of timing out.
    violations: tokio::sync::watch::Receiver<Option<String>>,
}

impl ControlClient {
    /// Connects to `url` to talk to `party`'s node.
    /// Replies come to the operators' inbox prefix `_INBOX_<p>_cli`
    /// whatever the endpoint says: the node answers nowhere else
    /// ([`subjects::reply_allowed`]).
    pub async fn connect(ep: &Endpoint, party: Party, timeout: Duration) -> Result<ControlClient, TransportError> {
        let ep = Endpoint { inbox_prefix: Some(subjects::inbox_prefix(party, subjects::Role::Cli)), ..ep.clone() };
        let (tx, violations) = tokio::sync::watch::channel(None);
        let client = connect_watching(&ep, &format!("tisa-{}-cli", party.lower()), Some(tx)).await?;
        Ok(ControlClient { client, party, url: ep.url.clone(), timeout, signers: Vec::new(), violations })
    }

    /// Signs requests with these keys from now on.
    #[must_use]
    pub fn with_signers(mut self, signers: Vec<Signer>) -> ControlClient {
        self.signers = signers;
        self
    }

    /// `req`, and if it is a submit without the submitter's signed
    /// submission, with one by the key that will sign its action.
    pub fn with_submission<'r>(&self, req: &'r ControlRequest) -> std::borrow::Cow<'r, ControlRequest> {
        use std::borrow::Cow;
        let ControlRequest::Submit(d) = req else { return Cow::Borrowed(req) };
        match self.signer_for(tisa_core::Verb::Submit) {
            Some(s) if d.submission.is_none() => Cow::Owned(ControlRequest::Submit(tisa_core::ReportDraft {
                submission: Some(sign_submission(self.party, d, &s.identity)),
                ..d.clone()
            })),
            _ => Cow::Borrowed(req),
        }
    }

    /// The first key whose roles allow `verb`.
    fn signer_for(&self, verb: tisa_core::Verb) -> Option<&Signer> {
        self.signers.iter().find(|s| s.roles.iter().any(|r| verb.roles().contains(r)))
    }

    /// The signed action for `req`, if it needs one and a signer may give it.
    pub fn action_for(&self, req: &ControlRequest) -> Option<tisa_core::Signed> {
        let signer = self.signer_for(req.action_verb()?)?;
        Some(sign_action(self.party, req, &signer.identity))
    }

    /// Sends a request (signed if it needs it and a signer may sign it)
    /// and waits for the node's reply.
    pub async fn call(&self, req: &ControlRequest) -> Result<ControlReply, TransportError> {
        let req = self.with_submission(req);
        let action = self.action_for(&req);
        self.call_raw(&req, action.as_ref()).await
    }

    /// Sends `req` with exactly the signed action `action` (none, another
    /// key's, the same one again) and waits for the reply.
    pub async fn call_raw(
        &self,
        req: &ControlRequest,
        action: Option<&tisa_core::Signed>,
    ) -> Result<ControlReply, TransportError> {
        let subject = subjects::control(self.party, req.verb());
        let payload = req.encode_signed(action);
        let answer = self.request(subject, payload, || format!("the {} request", req.verb())).await?;
        Ok(ControlReply::decode(&answer)?)
    }

    /// Sends `payload` on `subject` and waits for the answer's payload.
    async fn request(
        &self,
        subject: String,
        payload: Vec<u8>,
        what: impl FnOnce() -> String,
    ) -> Result<Bytes, TransportError> {
        use async_nats::RequestErrorKind;
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(TransportError::TooLarge { what: what(), size: payload.len(), limit });
        }
        let mut violations = self.violations.clone();
        violations.mark_unchanged();
        let fut = self.client.request(subject.clone(), Bytes::from(payload));
        let answer = tokio::select! {
            a = tokio::time::timeout(self.timeout, fut) => a,
            Ok(()) = violations.changed() => {
                let detail = violations.borrow().clone().unwrap_or_default();
                return Err(TransportError::PermissionViolation { party: self.party, lower: self.party.lower(), detail });
            }
        };
        match answer {
            Err(_) => Err(TransportError::Timeout { party: self.party, timeout: self.timeout }),
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {
                Err(TransportError::NoNode { party: self.party, lower: self.party.lower(), url: self.url.clone() })
            }
            Ok(Err(e)) if e.kind() == RequestErrorKind::TimedOut => {
                Err(TransportError::Timeout { party: self.party, timeout: self.timeout })
            }
            Ok(Err(e)) => Err(TransportError::Request { subject, reason: e.to_string() }),
            Ok(Ok(m)) => Ok(m.payload),
        }
    }

    /// Sends submit requests, each with exactly its signed action, in as
    /// few `submit-batch` messages as the broker's `max_payload` allows
    /// (a request too large alone is refused here, as [`Self::call_raw`]
    /// would); the replies come back in order. A batch whose answer was too
    /// large for the broker is asked again request by request, each an
    /// identical re-send: the node answers those from what it kept, without
    /// applying anything twice.
    pub async fn call_batch(
        &self,
        reqs: &[(ControlRequest, tisa_core::Signed)],
    ) -> Vec<Result<ControlReply, TransportError>> {
        use crate::control::batch::{batch_len, decode_replies, encode_batch, MAX_BATCH};
        let limit = match self.client.server_info().max_payload {
            0 => usize::MAX,
            n => n,
        };
        // Consecutive runs of requests, each within the limit (a request
        // over it alone is a run of its own, refused by `request`).
        let mut runs: Vec<(std::ops::Range<usize>, Vec<Vec<u8>>)> = Vec::new();
        let (mut start, mut run, mut size) = (0, Vec::new(), 0);
        for (i, (r, a)) in reqs.iter().enumerate() {
            let encoded = r.encode_signed(Some(a));
            let len = batch_len([encoded.len()]);
            if !run.is_empty() && (size + len > limit || run.len() >= MAX_BATCH) {
                runs.push((start..i, std::mem::take(&mut run)));
                (start, size) = (i, 0);
            }
            size += len;
            run.push(encoded);
        }
        if !run.is_empty() {
            runs.push((start..reqs.len(), run));
        }
        let subject = subjects::submit_batch(self.party);
        let (runs, payloads): (Vec<_>, Vec<_>) = runs.into_iter().unzip();
        let sends = runs.iter().zip(payloads).map(|(run, requests)| {
            let payload = encode_batch(requests);
            let n = run.len();
            let subject = subject.clone();
            async move {
                let answer = self.request(subject, payload, || format!("a submit batch of {n}")).await?;
                Ok::<_, TransportError>(decode_replies(&answer, n)?)
            }
        });
        let answers = futures::future::join_all(sends).await;
        let mut out = Vec::with_capacity(reqs.len());
        for (run, answer) in runs.into_iter().zip(answers) {
            match answer {
                Ok(rs)
                    if run.len() > 1
                        && rs.iter().all(|r| matches!(r, ControlReply::Error { code, .. } if code == "TOO_LARGE")) =>
                {
                    let again = reqs[run].iter().map(|(r, a)| self.call_raw(r, Some(a)));
                    out.extend(futures::future::join_all(again).await);
                }
                Ok(rs) => out.extend(rs.into_iter().map(Ok)),
                Err(e) => out.extend(run.map(|_| Err(e.clone()))),
            }
        }
        out
    }

    /// Submits many reports at once, as a feed with a backlog or a bulk
    /// import does: the key that may submit signs every submission with one
    /// signature, and every request's action with one more (each over the
    /// root of a Merkle tree, each document with its inclusion proof: see
    /// `tisa_core::sign::batch`), then the requests go together and the
    /// replies come back in the order of `drafts`. Each report still
    /// carries its own verifiable submission, and each request its own
    /// action (nonce, payload hash, freshness): the node checks each as if
    /// it came alone, and pays for one ed25519 verification per batch
    /// instead of two per report, as do the hub and the recipient for the
    /// submission. Keep a batch to what is sent within the agreement's
    /// clock skew (a few hundred reports). Without a key that may submit,
    /// each request goes unsigned and the node refuses it, saying why.
    pub async fn submit_batch(&self, drafts: Vec<tisa_core::ReportDraft>) -> Vec<Result<ControlReply, TransportError>> {
        let Some(signer) = self.signer_for(tisa_core::Verb::Submit) else {
            let reqs: Vec<ControlRequest> = drafts.into_iter().map(ControlRequest::Submit).collect();
            return futures::future::join_all(reqs.iter().map(|r| self.call_raw(r, None))).await;
        };
        let key = &signer.identity;
        let mut drafts = drafts;
        let unsigned: Vec<usize> = (0..drafts.len()).filter(|&i| drafts[i].submission.is_none()).collect();
        let docs = unsigned.iter().map(|&i| submission_doc(self.party, &drafts[i], key).to_bytes()).collect();
        for (i, s) in unsigned.into_iter().zip(key.sign_batch_by_id(docs)) {
            drafts[i].submission = Some(s);
        }
        let reqs: Vec<ControlRequest> = drafts.into_iter().map(ControlRequest::Submit).collect();
        let actions = key.sign_batch_by_id(reqs.iter().map(|r| action_doc(self.party, r, key).to_bytes()).collect());
        self.call_batch(&reqs.into_iter().zip(actions).collect::<Vec<_>>()).await
    }

    /// The party whose node this client talks to.
    pub fn party(&self) -> Party {
        self.party
    }

    /// Subscribes to the node's event stream; returns once the subscription
    /// is proven live, so no event published afterwards is missed.
    pub async fn watch(
        &self,
    ) -> Result<impl Stream<Item = Result<WatchEvent, DecodeError>> + Unpin + use<>, TransportError> {
        let subject = subjects::events(self.party);
        let sub = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|e| TransportError::Subscribe { subject, reason: e.to_string() })?;
        prove_ready(&self.client, self.party).await?;
        // Each message carries the events of one drain, in order.
        Ok(sub.flat_map(|m| {
            let events: Vec<Result<WatchEvent, DecodeError>> = match WatchEvents::decode(&m.payload) {
                Ok(WatchEvents(evs)) => evs.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(events)
        }))
    }
}

/// Signs the `tisa.v1.submission` of `draft` to `party`'s node with `key`
/// (the submitter's own statement of what it submits; it travels in the
/// report's manifest).
pub fn sign_submission(party: Party, draft: &tisa_core::ReportDraft, key: &Identity) -> tisa_core::Signed {
    key.sign_by_id(submission_doc(party, draft, key).to_bytes())
}

/// The `tisa.v1.submission` of `draft` by `key`: the wall clock, a random nonce.
fn submission_doc(party: Party, draft: &tisa_core::ReportDraft, key: &Identity) -> tisa_core::sign::SubmissionDoc {
    tisa_core::sign::SubmissionDoc::of(
        party,
        draft.category,
        draft.classification,
        draft.releasable_to,
        &draft.content,
        draft.corrects.clone(),
        wall_clock(),
        Nonce(rand::random()),
        key.key_id(),
    )
}

/// Signs the `tisa.v1.action` for `req` to `party`'s node with `key`: the
/// request's payload hash, the wall clock, a random nonce.
pub fn sign_action(party: Party, req: &ControlRequest, key: &Identity) -> tisa_core::Signed {
    key.sign_by_id(action_doc(party, req, key).to_bytes())
}

fn action_doc(party: Party, req: &ControlRequest, key: &Identity) -> ActionDoc {
    let verb = req.action_verb().unwrap_or(tisa_core::Verb::Read);
    ActionDoc::new(party, verb, req.payload_sha256(), wall_clock(), Nonce(rand::random()), key.key_id())
}

/// This machine's clock, in milliseconds since the epoch: when an
/// operator's (or feed's) signed document says it was issued.
pub fn wall_clock() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp(now)
}
