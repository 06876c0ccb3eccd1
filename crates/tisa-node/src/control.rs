//! The node's side of the control protocol: every call its operator makes.
//! Commands become core inputs (logged, applied, [`execute`]d) and queries
//! are answered from the core and the store ([`Actor::answer`]). This is
//! where a new operator command is handled (see "Adding a command" in
//! `tisa_transport::control`).

use tisa_core::node::limits;
use tisa_core::text::loggable;
use tisa_core::{
    Authorization, Authorized, BodyKey, Command, CommandError, FillError, InboxEntry, LoggedInput, Node, Page,
    PendingView, Report, ReportId, RevisionStatus, Timestamp, Verb,
};
use tisa_transport::convert::decision_from_signed;
use tisa_transport::{
    subjects, AgreementHealth, CommandRequest, ControlCall, ControlReply, Health, Query, SendError, TrackLaneHealth,
};
use tracing::{debug, error, info, warn};

use crate::actor::Actor;
use crate::clock::now;
use crate::egress::BodyError;
use crate::ingress::Applied;

/// Applies a command to the core (live, after it is logged, and on
/// replay) and gives its reply. Its signed action is verified first
/// ([`Node::authorize`]); the names recorded as submitter and retracting
/// operator are those of the key that signed it, not what the request says.
pub(crate) fn execute(
    core: &mut Node,
    now: Timestamp,
    mut command: Command,
    auth: Option<&Authorization>,
) -> Result<ControlReply, CommandError> {
    let who = core.authorize(now, command.action_verb(), auth)?;
    match &mut command {
        Command::Submit { draft, .. } => {
            // The submitter's own signed submission is required, by the
            // key that signed the request (the core checks it against the
            // draft and carries it in the manifest).
            let doc = draft
                .submission
                .as_ref()
                .ok_or(tisa_core::sign::SigError::Mismatch("submission (missing: the CLI signs one with your key)"))
                .and_then(|s| tisa_core::sign::SubmissionDoc::parse(&s.bytes))
                .map_err(|why| CommandError::Unverified { what: "submission", why })?;
            if doc.key_id != who.key_id {
                return Err(CommandError::Unverified {
                    what: "submission",
                    why: tisa_core::sign::SigError::Mismatch("the submission's key (it must sign the request too)"),
                });
            }
            draft.submitted_by = who.name;
            draft.submitter_key = Some(who.key_id);
        }
        Command::Retract { operator, .. } => *operator = who.name,
        // A co-signature counts only from the person asking: the key that
        // signed the request must be the one that signed the co-signature
        // (one process holding two keys cannot satisfy the rule alone).
        Command::Cosign(signed) => {
            let doc = tisa_core::sign::CosignDoc::parse(&signed.bytes)
                .map_err(|why| CommandError::Unverified { what: "cosignature", why })?;
            if doc.key_id != who.key_id {
                return Err(CommandError::Unverified {
                    what: "cosignature",
                    why: tisa_core::sign::SigError::Mismatch("the co-signature's key (it must sign the request too)"),
                });
            }
        }
        _ => {}
    }
    let grants = |core: &Node, id: &str| {
        ControlReply::Grants(core.grants().into_iter().filter(|g| g.grant.doc.grant_id == id).collect())
    };
    match command {
        Command::Submit { report_id, draft } => core.submit(now, report_id, draft).map(ControlReply::Submitted),
        Command::Decide(signed) => {
            core.decide(now, signed).map(|d| ControlReply::Decided { request_id: d.request_id, decision: d.decision })
        }
        Command::Grant(signed) => core.grant(now, signed).map(|doc| grants(core, &doc.grant_id)),
        Command::Revoke(signed) => core.revoke(now, signed).map(|doc| grants(core, &doc.grant_id)),
        Command::Cosign(signed) => core.cosign(now, signed).map(|doc| grants(core, &doc.grant_id)),
        Command::Track(draft) => core.track(now, draft).map(ControlReply::Track),
        Command::CourierCopy { to, report_id } => core.courier_copy(now, to, &report_id).map(ControlReply::Copied),
        Command::Retract { report_id, reason, operator } => core
            .retract(now, &report_id, &reason, &operator)
            .and_then(|_| core.report_status(&report_id))
            .map(|items| ControlReply::Status(Page { items, next_after: None })),
    }
}

impl Actor {
    /// Every control call that was ready, as one group commit: the commands
    /// are logged in one store transaction and applied in order, then the
    /// queries answered, the effects sent, and only then every reply (so a
    /// caller that sees its reply can rely on the messages being on their way).
    pub(crate) async fn on_calls(&mut self, calls: Vec<ControlCall>) {
        let at = now();
        // A reply slot per request; where to answer each call, with its slots.
        let mut replies: Vec<Option<ControlReply>> = Vec::new();
        let mut answers = Vec::new();
        let mut inputs = Vec::new();
        let mut queries = Vec::new();
        let timed = crate::timeline::commands(&calls);
        crate::timeline::stamp_all(crate::timeline::Step::Called, &timed);
        let called_ns = crate::timeline::now_if_on();
        for ControlCall { subject, reply_to, requests, batch } in calls {
            // A reply goes only to the operators' own inbox: a caller cannot
            // make the node publish where it could not (another party's
            // link subject, a control subject). Refused before anything is
            // decoded, logged or answered.
            if !reply_to.as_deref().is_some_and(|r| subjects::reply_allowed(self.core.party(), r)) {
                self.refuse_reply_subject(&subject, reply_to.as_deref());
                continue;
            }
            let first = replies.len();
            for request in requests {
                let slot = replies.len();
                let reply = match request.map(|(r, auth)| (r.split(), auth)) {
                    // An identical re-send of a recent command: its original reply.
                    // (Kept encoded by this node, it decodes; were it not to, the
                    // caller still hears back rather than waiting in vain.)
                    Ok((Ok(_), Some(auth))) if self.resends.contains(&auth) => {
                        Some(self.resends.get(&auth).unwrap_or_else(|| {
                            ControlReply::error(
                                "INTERNAL",
                                "the original reply to this re-sent request cannot be read; see `tisa status`",
                            )
                        }))
                    }
                    Ok((Ok(command), auth)) => match self.prepare(command) {
                        Ok(command) => {
                            inputs.push((slot, LoggedInput { at, input: tisa_core::Input::Command(command, auth) }));
                            None
                        }
                        Err(reply) => Some(*reply),
                    },
                    Ok((Err(query), auth)) => {
                        queries.push((slot, query, auth));
                        None
                    }
                    Err(e) => {
                        warn!(subject = %loggable(&subject), error = %loggable(&e.to_string()), "bad control request");
                        Some(ControlReply::error("BAD_REQUEST", e))
                    }
                };
                replies.push(reply);
            }
            answers.push((reply_to, subject, batch, first..replies.len()));
        }
        if !inputs.is_empty() {
            let (slots, logged): (Vec<usize>, Vec<LoggedInput>) = inputs.into_iter().unzip();
            let auths: Vec<Option<Authorization>> = logged
                .iter()
                .map(|l| match &l.input {
                    tisa_core::Input::Command(_, auth) => auth.clone(),
                    _ => None,
                })
                .collect();
            let committed = self.log_and_apply_all(logged);
            crate::timeline::stamp_all(crate::timeline::Step::Committed, &timed);
            match committed {
                Ok(results) => {
                    let skew = self.core.policy().clock_skew;
                    for ((slot, r), auth) in slots.into_iter().zip(results).zip(auths) {
                        if let Some(a) = &auth {
                            self.resends.put(at, a, &r, skew);
                        }
                        replies[slot] = Some(command_reply(r));
                    }
                }
                Err(e) => {
                    error!(commands = slots.len(), error = %e, "cannot persist commands; refused");
                    for slot in slots {
                        replies[slot] = Some(ControlReply::error("STORAGE", &e));
                    }
                }
            }
            // A submit's report id is known once it was applied.
            let submitted = crate::timeline::submitted(&replies);
            crate::timeline::stamp_all_at(crate::timeline::Step::Called, &submitted, called_ns);
            crate::timeline::stamp_all(crate::timeline::Step::Committed, &submitted);
        }
        for (slot, query, auth) in queries {
            replies[slot] = Some(match self.authorize_query(&query, auth.as_ref()) {
                Ok(Some(who)) if matches!(query, Query::BundleExport(_) | Query::BundleImport(_)) => match query {
                    Query::BundleExport(r) => self.bundle_export(&who, r),
                    Query::BundleImport(r) => self.bundle_import(&who, *r),
                    _ => ControlReply::error("INTERNAL", "not a bundle request"),
                },
                Ok(who) => {
                    let reply = self.answer(query).await;
                    if let Some(who) = who {
                        self.audit_read(&who, &reply);
                    }
                    reply
                }
                Err(e) => refused(&e),
            });
        }
        self.drain().await;
        let replies: Vec<ControlReply> =
            replies.into_iter().map(|r| r.unwrap_or_else(|| ControlReply::error("INTERNAL", "no result"))).collect();
        for (to, subject, batch, slots) in answers {
            let Some(to) = to else {
                debug!(subject = %loggable(&subject), "control request without reply subject");
                continue;
            };
            let sent = match (batch, replies.get(slots)) {
                (true, Some(rs)) => self.links.reply_batch(to, rs).await,
                (false, Some([reply])) => self.links.reply(to, reply).await,
                _ => Ok(()),
            };
            if let Err(e) = sent {
                error!(error = %e, "cannot answer control request");
            }
        }
    }

    /// A control call whose reply subject is not under the operators'
    /// inbox prefix: logged, audited, counted, never answered or executed.
    fn refuse_reply_subject(&mut self, subject: &str, reply: Option<&str>) {
        self.counters.refused_replies += 1;
        let reply = reply.map_or_else(|| "-".to_owned(), |r| loggable(r).to_string());
        warn!(subject = %loggable(subject), reply = %reply, "control call refused: reply subject outside the operators' inbox");
        let detail = format!("code=REPLY_SUBJECT subject={} reply={}", loggable(subject), reply.replace(' ', "_"));
        self.audit.record_read(&mut self.store, None, None, detail);
    }

    /// The core command a request becomes (a submit gets its report id), or
    /// why it is refused before anything is logged.
    fn prepare(&self, request: CommandRequest) -> Result<Command, Box<ControlReply>> {
        if let CommandRequest::Decide(signed) = &request {
            if let Err(e) = decision_from_signed(signed.clone()) {
                return Err(Box::new(ControlReply::error("BAD_REQUEST", e)));
            }
        }
        let party = self.core.party();
        request
            .into_command(|| ReportId::new(format!("{}-{}", party.code(), uuid::Uuid::now_v7().simple())))
            .map_err(|e| Box::new(ControlReply::error("INTERNAL", e)))
    }

    /// Verifies the signed action of a query that reads report content
    /// (inbox, pending, status — it shows titles: [`Verb::Read`]); other
    /// queries need none. A refusal
    /// is audited by key id, like a refused command.
    fn authorize_query(
        &mut self,
        query: &Query,
        auth: Option<&Authorization>,
    ) -> Result<Option<Authorized>, CommandError> {
        let verb = match query {
            Query::Inbox(_) | Query::Pending(_) | Query::Status(_) => Verb::Read,
            Query::BundleExport(_) | Query::BundleImport(_) => Verb::Courier,
            _ => return Ok(None),
        };
        match self.core.authorize_read(now(), verb, auth, &mut self.read_replays) {
            Ok(who) => Ok(Some(who)),
            Err(e) => {
                if let CommandError::Unauthorized(why) = &e {
                    let key = auth.map(|a| a.action.signer.clone());
                    let detail = format!("verb={verb} code={}", crate::audit::unauthorized_code(why));
                    self.audit.record_read(&mut self.store, key, None, detail);
                }
                Err(e)
            }
        }
    }

    /// Audits a read of content: who (key id, name) read which reports.
    fn audit_read(&mut self, who: &Authorized, reply: &ControlReply) {
        let (what, ids): (&str, Vec<String>) = match reply {
            ControlReply::Inbox(p) => ("inbox", p.items.iter().map(|e| e.delivery.header.id.to_string()).collect()),
            ControlReply::Pending(p) => ("pending", p.items.iter().map(|v| v.request.report_id.to_string()).collect()),
            // One own report in full (`tisa show`).
            ControlReply::Status(p) if p.items.iter().any(|s| s.report.is_some()) => {
                ("status", p.items.iter().map(|s| s.header.id.to_string()).collect())
            }
            _ => return,
        };
        info!(key = %who.key_id, name = %who.name, query = what, reports = ids.len(), "content read");
        // At most 50 ids on the line; the count says how many there were.
        let shown =
            if ids.is_empty() { "-".to_owned() } else { ids.iter().take(50).cloned().collect::<Vec<_>>().join(",") };
        let detail = format!("verb=read query={what} count={} reports={shown}", ids.len());
        self.audit.record_read(&mut self.store, Some(who.key_id.to_string()), Some(&who.name), detail);
    }

    /// Answers a query from the core (content filled from the store) or,
    /// for dead letters, from the node's dead-letter stream.
    async fn answer(&mut self, query: Query) -> ControlReply {
        let now = now();
        let result = match query {
            Query::Pending(q) => {
                let page = match &q.report_id {
                    Some(id) => Ok(Page { items: self.core.pending_for(now, id), next_after: None }),
                    None => self.core.pending(now, q.after.as_deref(), q.page_size(usize::MAX)),
                };
                page.map(|mut p| match self.fill_items(&mut p.items, |v| v.body.as_ref(), PendingView::fill) {
                    Ok(()) => self.fit(ControlReply::Pending(p), &q),
                    Err(e) => storage_error(&e),
                })
            }
            Query::Inbox(q) => {
                let page = match &q.report_id {
                    Some(id) => Ok(Page { items: self.core.inbox_for(id), next_after: None }),
                    None => self.core.inbox_filtered(&q.inbox, q.after.as_deref(), q.page_size(usize::MAX)),
                };
                page.map(|mut p| match self.fill_items(&mut p.items, |e| e.body.as_ref(), InboxEntry::fill) {
                    Ok(()) => self.fit(ControlReply::Inbox(p), &q),
                    Err(e) => storage_error(&e),
                })
            }
            Query::Status(q) => match &q.report_id {
                Some(id) if q.full => self.core.report_status_full(id).map(|mut items| {
                    match self.fill_items(&mut items, |s| s.body.as_ref(), RevisionStatus::fill) {
                        Ok(()) => ControlReply::Status(Page { items, next_after: None }),
                        Err(e) => storage_error(&e),
                    }
                }),
                Some(id) => {
                    self.core.report_status(id).map(|items| ControlReply::Status(Page { items, next_after: None }))
                }
                None => self
                    .core
                    .status(q.after.as_deref(), q.page_size(usize::MAX))
                    .map(|p| self.fit(ControlReply::Status(p), &q)),
            },
            Query::Health => {
                // The broker's view of the node's streams; bounded, so an
                // unreachable broker delays the answer by 2 s at most.
                let streams = self.links.streams_health(std::time::Duration::from_secs(2)).await;
                Ok(ControlReply::Health(self.health(now, streams)))
            }
            Query::Grants(_) => Ok(ControlReply::Grants(self.core.grants())),
            Query::DecisionDocument(q) => {
                let (verdict, reason) = q.decision.verdict();
                self.core
                    .decision_doc(now, &q.request_id, verdict, reason, &q.operator)
                    .map(|doc| ControlReply::DecisionDocument(doc.to_bytes()))
            }
            Query::Tracks(q) => self
                .core
                .tracks(q.after.as_deref(), q.page_size(usize::MAX))
                .map(|p| self.fit(ControlReply::Tracks(p), &q)),
            Query::Held(q) => self
                .core
                .held_page(q.after.as_deref(), q.page_size(usize::MAX))
                .map(|p| self.fit(ControlReply::Held(p), &q)),
            // Answered with the signed action's holder (`on_calls`).
            Query::BundleExport(_) | Query::BundleImport(_) => {
                Ok(ControlReply::error("UNAUTHORIZED", "a bundle request needs a signed action"))
            }
            Query::DeadLetters(q) => {
                return match self.links.dead_letters().list(q.page_size(limits::PAGE)).await {
                    Ok((items, total)) => ControlReply::DeadLetters(items, total),
                    Err(e) => {
                        error!(error = %e, "cannot read the dead-letter stream");
                        ControlReply::error("UNAVAILABLE", e)
                    }
                };
            }
        };
        result.unwrap_or_else(|e| refused(&e))
    }

    fn health(&self, now: Timestamp, streams: Vec<tisa_transport::StreamHealth>) -> Health {
        Health {
            party: self.core.party(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at,
            now,
            malformed: self.counters.malformed,
            rejected: self.counters.rejected,
            received: self.counters.received,
            sent: self.counters.sent,
            connected: self.links.connected(),
            agreement_version: self.core.policy().version,
            dead_letters: self.counters.dead_letters,
            dead_letter_errors: self.counters.dead_letter_errors,
            outbox: self.outbox.len() as u64,
            tracks_superseded: self.counters.tracks_superseded,
            offline_waiting: self.courier.waiting(None) as u64,
            send_error: self.send_trouble.as_ref().filter(|_| !self.outbox.is_empty()).map(|t| SendError {
                stream: t.stream.clone(),
                reason: t.reason.clone(),
                since: t.since,
            }),
            held: self.core.held_count() as u64,
            refused_replies: self.counters.refused_replies,
            track_lane: {
                let (stream_copies, stream_takes) = self.links.track_stream_takes();
                let lane = self.lane.as_ref().map_or_else(Default::default, |l| TrackLaneHealth {
                    windows: self.counters.track_windows,
                    windowed: self.counters.track_windowed,
                    ..l.health()
                });
                TrackLaneHealth { stream_paced: self.links.paced_track_streams(), stream_copies, stream_takes, ..lane }
            },
            commits: self.store.commits().clone(),
            checks_ahead: self.ahead.as_ref().map_or_else(Default::default, |a| {
                let (checks, by_helper) = a.stats();
                tisa_transport::ChecksAheadHealth { enabled: true, checks, by_helper }
            }),
            early_forward: tisa_transport::EarlyForwardHealth {
                enabled: self.early_forward,
                batches: self.counters.early_batches,
                deliveries: self.counters.early_deliveries,
            },
            notices: tisa_transport::NoticeHealth {
                coalesced: !self.notices.off,
                held: self.notices.counts.held,
                sends: self.notices.counts.sends,
            },
            streams,
            agreement: {
                let v = self.core.agreement_view();
                let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
                AgreementHealth {
                    sha256: hex(&v.in_force.hash),
                    staged: v.staged.iter().map(|(t, at)| format!("{t} at {at}")).collect(),
                    peers: v
                        .peers
                        .iter()
                        .map(|(p, t)| match t {
                            Some(t) => format!("{p} {t}"),
                            None => format!("{p} not heard from yet"),
                        })
                        .collect(),
                    mismatches: v.mismatches(),
                    ignored: v.ignored,
                    reload_error: self.reload_error.clone(),
                }
            },
        }
    }

    /// Fills a query's items (inbox entries, pending requests) from the body store.
    /// A page of a list cut to what the broker takes in one message (its
    /// `next_after` then points at the rest); one report's answer is never
    /// cut (the reply says it is too large instead, see `Links::reply`).
    fn fit(&self, reply: ControlReply, q: &tisa_transport::ListQuery) -> ControlReply {
        if q.report_id.is_some() {
            return reply;
        }
        tisa_transport::control::fit::fit_page(reply, self.links.max_payload())
    }

    fn fill_items<T>(
        &self,
        items: &mut [T],
        key: impl Fn(&T) -> Option<&BodyKey>,
        fill: impl Fn(&mut T, &Report) -> Result<(), FillError>,
    ) -> Result<(), BodyError> {
        for item in items {
            if let Some(k) = key(item) {
                let body = self.body(k)?;
                fill(item, &body)?;
            }
        }
        Ok(())
    }
}

/// The reply to a logged and applied command.
fn command_reply(r: Applied) -> ControlReply {
    match r {
        Some(Ok(reply)) => reply,
        Some(Err(e)) => refused(&e),
        None => ControlReply::error("INTERNAL", "no result"),
    }
}

/// A query whose report bodies the store could not give.
fn storage_error(e: &BodyError) -> ControlReply {
    info!(code = "STORAGE", error = %e, "command refused");
    ControlReply::error("STORAGE", e)
}

/// A command or query the core refused (logged: ids and enum names only).
fn refused(e: &CommandError) -> ControlReply {
    info!(code = command_code(e), error = %loggable(&e.to_string()), "command refused");
    refused_reply(e)
}

/// The reply to a refused command (not logged).
pub(crate) fn refused_reply(e: &CommandError) -> ControlReply {
    ControlReply::error(command_code(e), e)
}

fn command_code(e: &CommandError) -> &'static str {
    match e {
        CommandError::UnknownReport(_) => "UNKNOWN_REPORT",
        CommandError::UnknownRequest(_) => "UNKNOWN_REQUEST",
        CommandError::AlreadyDecided { .. } => "ALREADY_DECIDED",
        CommandError::Expired(_) => "EXPIRED",
        CommandError::NoTearline(_) => "NO_TEARLINE",
        CommandError::AboveCeiling { .. } => "ABOVE_CEILING",
        CommandError::AboveOfflineCeiling { .. } => "ABOVE_OFFLINE_CEILING",
        CommandError::NoLink { .. } => "NO_LINK",
        CommandError::HubCannotDecide => "NOT_ORIGINATOR",
        CommandError::UnknownCursor(_) => "UNKNOWN_CURSOR",
        CommandError::StaleTrack { .. } => "STALE_TRACK",
        CommandError::Unauthorized(_) => "UNAUTHORIZED",
        _ => "INVALID",
    }
}
