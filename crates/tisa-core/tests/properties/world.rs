//! The driver: the three nodes (the `Sim`) with the oracle beside them,
//! running actions and judging what every node did after each one.

use super::*;

pub(crate) struct World {
    pub(crate) sim: Sim,
    pub(crate) o: Oracle,
    /// Events already judged, per node.
    pub(crate) judged: [usize; 3],
    /// Log entries already searched for hub forwards.
    pub(crate) hub_judged: usize,
    /// `Received` events per (node, id, revision).
    pub(crate) received: HashMap<(Party, String, u32), usize>,
    /// (to, link, message id) handed over and accepted at least once.
    pub(crate) accepted: HashSet<(Party, Party, MessageId)>,
    pub(crate) forged: usize,
    /// Logical time: one tick per envelope handed over and per command.
    pub(crate) tick: u64,
    pub(crate) grants_issued: usize,
}

pub(crate) fn party(i: usize) -> Party {
    Party::ALL[i % 3]
}

/// The deployment's approver named `name`, if any.
pub(crate) fn approver_named(name: &str) -> Option<Identity> {
    Party::ALL.into_iter().flat_map(|p| (0..2).map(move |i| approver(p, i))).find(|a| a.name() == name)
}

impl World {
    pub(crate) fn new(policy: Policy) -> World {
        World {
            o: Oracle::new(&policy),
            sim: Sim::with_policy(policy),
            judged: [0; 3],
            hub_judged: 0,
            received: HashMap::new(),
            accepted: HashSet::new(),
            forged: 0,
            tick: 0,
            grants_issued: 0,
        }
    }

    /// The last message `p` put on the wire.
    pub(crate) fn last_sent(&self, p: Party) -> Option<&Payload> {
        self.sim.log().iter().rev().find(|s| s.from == p).map(|s| &s.transmit.envelope.payload)
    }

    /// Hands `env` to `to` on `link`, keeping the oracle's log of arrivals,
    /// judging every forward the hub makes and every report entering an
    /// inbox, and asserting that repeating an accepted envelope is a no-op.
    pub(crate) fn hand(&mut self, to: Party, link: Party, env: Envelope) -> Result<bool, TestCaseError> {
        self.tick += 1;
        let (tick, now) = (self.tick, self.sim.now);
        if link == env.sender {
            match &env.payload {
                Payload::Report(r) if to.is_hub() => {
                    let key = (r.header.id.as_str().to_owned(), r.header.revision);
                    if self.o.sent_reports.get(&key) == Some(r) && link == r.header.originator {
                        self.o.at_hub.entry(key).or_insert(now);
                    }
                }
                Payload::ReleaseDecision(d) if to.is_hub() => {
                    let key = (d.report_id.as_str().to_owned(), d.revision, d.recipient);
                    if self.o.decision_msgs.get(&key) == Some(d) && key.0.starts_with(link.code()) {
                        self.o.decision_at_hub.entry(key).or_insert(now);
                    }
                }
                Payload::Grant(g)
                    if to.is_hub()
                        && self
                            .o
                            .grants
                            .get(&g.doc.grant_id)
                            .is_some_and(|lg| lg.msg == *g && lg.originator == link) =>
                {
                    self.o.grant_at_hub.entry(g.doc.grant_id.clone()).or_insert(tick);
                }
                Payload::Standing(st)
                    if to == st.doc.originator.other_nation().unwrap_or(US)
                        && link == US
                        && self.o.statements.contains(st) =>
                {
                    self.o
                        .standing_at_recipient
                        .entry(st.doc.grant_id.clone())
                        .or_default()
                        .push((tick, st.doc.issued_at));
                }
                Payload::Revocation(r) => {
                    let id = &r.doc.grant_id;
                    if self.o.revocations.get(id).is_some_and(|v| v.contains(r)) {
                        let g = &self.o.grants[id];
                        if to.is_hub() && link == g.originator {
                            self.o.revoked_at_hub.entry(id.clone()).or_insert(tick);
                        } else if to == g.recipient && link == US {
                            self.o.revoked_at_recipient.entry(id.clone()).or_insert(tick);
                        }
                    }
                }
                _ => {}
            }
        }
        let tag = (to, link, env.message_id.clone());
        let repeat = self.accepted.contains(&tag);
        let kind_in = env.payload.kind();
        let inbox0 = if to.is_hub() { 0 } else { self.sim.inbox(to).len() };
        let (log0, ev0) = (self.sim.log().len(), self.sim.events(to).len());
        self.sim.inject(to, link, env);
        let new_events = &self.sim.events(to)[ev0..];
        let rejected =
            new_events.iter().any(|e| matches!(e, Event::Rejected { message_id, .. } if *message_id == tag.2));
        // A held delivery or track refused later (its grant revoked or
        // lapsed) counts as refused from then on.
        for e in new_events {
            if let Event::Rejected { link: l, message_id, .. } = e {
                self.accepted.remove(&(to, *l, message_id.clone()));
            }
        }
        let new_events = &self.sim.events(to)[ev0..];
        if repeat {
            // A repeat is answered (reconciliation: where the report stands,
            // the open request, the decision or receipt already given), back
            // to its sender only, and never moves anything to anyone else.
            for sent in &self.sim.log()[log0..] {
                let kind = sent.transmit.envelope.payload.kind();
                prop_assert!(
                    sent.from == to
                        && sent.transmit.to == link
                        && matches!(kind, "progress" | "request" | "decision" | "receipt"),
                    "a repeat of an accepted {} envelope at {:?} produced a {} to {}",
                    kind_in,
                    to,
                    kind,
                    sent.transmit.to
                );
            }
            prop_assert!(
                new_events.iter().all(|e| matches!(e, Event::Progress { .. } | Event::RejectionReceived { .. })),
                "a repeat of an accepted envelope produced {:?}",
                new_events
            );
        } else if !rejected {
            self.accepted.insert(tag);
        }
        // Whatever the hub forwarded while handling this input.
        self.judge_hub_log(tick)?;
        // Whatever entered a nation's inbox, judged as it enters.
        if !to.is_hub() {
            let inbox = self.sim.inbox(to);
            for e in &inbox[inbox0..] {
                let key = (e.delivery.header.id.as_str().to_owned(), e.delivery.header.revision);
                prop_assert!(self.o.receipts.insert((to, key), (tick, now)).is_none(), "an inbox entry came twice");
                let tearline_only = matches!(e.delivery.released, Released::Tearline(_));
                self.o
                    .judge_receipt(to, &e.delivery, Some(&e.delivery.released), tearline_only, (tick, now))
                    .map_err(TestCaseError::fail)?;
            }
        }
        Ok(rejected)
    }

    /// Judges every delivery the hub put on the wire since the last call,
    /// and keeps the statements originators issued.
    pub(crate) fn judge_hub_log(&mut self, tick: u64) -> Result<(), TestCaseError> {
        let new: Vec<Sent> = self.sim.log()[self.hub_judged..].to_vec();
        self.hub_judged = self.sim.log().len();
        for s in new {
            match (s.from, &s.transmit.envelope.payload) {
                (Party::Us, Payload::Delivery(d)) => {
                    self.o.judge_forward(s.transmit.to, d, tick, s.at).map_err(TestCaseError::fail)?
                }
                (from, Payload::Standing(st)) if from == st.doc.originator => self.o.statements.push(st.clone()),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn check(&mut self) -> Result<(), TestCaseError> {
        self.judge_hub_log(self.tick)?;
        for p in Party::ALL {
            let events = self.sim.events(p)[self.judged[idx(p)]..].to_vec();
            self.judged[idx(p)] += events.len();
            for e in events {
                if let Event::Rejected { link, message_id, .. } = &e {
                    self.accepted.remove(&(p, *link, message_id.clone()));
                }
                if let Event::Received { header, basis, tearline_only, .. } = e {
                    prop_assert!(!p.is_hub(), "the hub received a delivery");
                    let key = (header.id.as_str().to_owned(), header.revision);
                    let receipt = self.o.receipts.get(&(p, key)).copied();
                    prop_assert!(receipt.is_some(), "{:?} announced {:?}, which is not in its inbox", p, header);
                    let d = Delivery {
                        header: header.clone(),
                        released: Released::Tearline(Sensitive::default()),
                        basis,
                        request_id: None,
                        manifest: Signed::unsigned(Vec::new(), String::new()),
                        consent: None,
                    };
                    self.o.judge_receipt(p, &d, None, tearline_only, receipt.unwrap()).map_err(TestCaseError::fail)?;
                    let n = self.received.entry((p, header.id.as_str().to_owned(), header.revision)).or_default();
                    *n += 1;
                    prop_assert_eq!(*n, 1, "{:?} received {:?} twice", p, header);
                }
            }
        }
        for p in Party::ALL {
            let inbox = self.sim.inbox(p);
            let mut keys = BTreeSet::new();
            for e in &inbox {
                let d = &e.delivery;
                prop_assert!(
                    keys.insert((d.header.id.clone(), d.header.revision)),
                    "{:?} holds {:?} twice",
                    p,
                    d.header
                );
                if p.is_hub() {
                    self.o.judge_held(d).map_err(TestCaseError::fail)?;
                    continue;
                }
                let key = (d.header.id.as_str().to_owned(), d.header.revision);
                let receipt = self.o.receipts.get(&(p, key)).copied();
                prop_assert!(receipt.is_some(), "{:?} holds {:?}, which never entered its inbox", p, d.header);
                let tearline_only = matches!(d.released, Released::Tearline(_));
                self.o
                    .judge_receipt(p, d, Some(&d.released), tearline_only, receipt.unwrap())
                    .map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    }

    pub(crate) fn run(&mut self, a: &Action) -> Result<(), TestCaseError> {
        match a {
            Action::Submit { party: pi, category, classification, rel, tearline, corrects, long, submitter } => {
                self.submit(party(*pi), *category, *classification, *rel, *tearline, *corrects, *long, *submitter)?
            }
            Action::Decide { nation, from_pending, pick, kind, who } => {
                self.decide(Party::NATIONS[*nation], *from_pending, *pick, *kind, *who)?
            }
            Action::Grant { nation, cats, max, tearline_only, lapse, who } => {
                self.grant(Party::NATIONS[*nation], *cats, *max, *tearline_only, *lapse, *who)?
            }
            Action::Revoke { nation, pick, who } => self.revoke(Party::NATIONS[*nation], *pick, *who)?,
            Action::Deliver { link, n } => {
                let (from, to) = LINKS[*link];
                for _ in 0..*n {
                    let Some(env) = self.sim.take_next(from, to) else { break };
                    self.hand(to, from, env)?;
                }
            }
            Action::Replay { pick, link } => {
                let log = self.sim.log();
                if !log.is_empty() {
                    let env = log[pick % log.len()].transmit.envelope.clone();
                    let (from, to) = LINKS[*link];
                    self.hand(to, from, env)?;
                }
            }
            Action::Advance { ms } => self.sim.advance(*ms),
            Action::Forge { forgery, pick, alt } => self.forge(*forgery, *pick, *alt)?,
        }
        self.check()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn submit(
        &mut self,
        p: Party,
        category: usize,
        classification: usize,
        rel_bits: u8,
        tearline: bool,
        corrects: Option<usize>,
        long: bool,
        submitter: usize,
    ) -> Result<(), TestCaseError> {
        self.tick += 1;
        let category = Category::ALL[category];
        let classification = Classification::ALL[classification];
        let rel: PartySet =
            Party::ALL.into_iter().enumerate().filter(|(i, _)| rel_bits & (1 << i) != 0).map(|(_, p)| p).collect();
        let own = self.o.ids.entry(p).or_default();
        let (id, corrects) = match corrects {
            Some(i) if !own.is_empty() => (own[i % own.len()].clone(), true),
            _ if long => (format!("{}-{}{:04}", p.code(), "L".repeat(118), own.len() + 1), false),
            _ => (format!("{}-{:04}", p.code(), own.len() + 1), false),
        };
        self.o.next += 1;
        let content = content(&format!("s{}", self.o.next), tearline);
        let submitter = [CLERK, approver_names(p)[0], approver_names(p)[1], ""][submitter % 4].to_owned();
        let draft = ReportDraft {
            offline: false,
            category,
            classification,
            releasable_to: rel,
            content: content.clone(),
            corrects: corrects.then(|| report_id(&id)),
            submitted_by: submitter.clone(),
            submitter_key: submitter_key(p, &submitter),
            submission: None,
            source_key: None,
        };

        // What the rules say should happen.
        let mut to: PartySet = PartySet::EMPTY;
        for q in rel.iter().filter(|q| *q != p) {
            to.insert(q);
        }
        let ok = if to.is_empty() {
            false
        } else if p.is_hub() {
            to.iter().all(|q| classification <= self.o.ceiling(q))
        } else {
            to.contains(US) && classification <= self.o.ceiling(p)
        };

        let result = if corrects { self.sim.correct(p, &id, draft) } else { self.sim.submit(p, &id, draft) };
        prop_assert_eq!(
            result.is_ok(),
            ok,
            "submit by {:?} of {:?} {:?} to {:?}: {:?}",
            p,
            category,
            classification,
            rel,
            result
        );
        let Ok(s) = result else { return Ok(()) };
        let revision = self.o.revisions.get(&id).copied().unwrap_or(0) + 1;
        prop_assert_eq!((s.header.id.as_str(), s.header.revision), (id.as_str(), revision));
        prop_assert_eq!(s.header.releasable_to, to);
        let sub =
            Sub { originator: p, category, classification, rel: to, content, created_at: self.sim.now, submitter };
        let expected_notes = match p.other_nation() {
            Some(third) if to.contains(third) && !self.o.trilateral_ok(&sub, third) => 1,
            _ => 0,
        };
        prop_assert_eq!(s.notes.len(), expected_notes, "notes {:?} for {:?}", s.notes, sub);
        self.o.revisions.insert(id.clone(), revision);
        if !corrects {
            self.o.ids.entry(p).or_default().push(id.clone());
        }
        if let Some(third) = p.other_nation() {
            let r = rid(&id, revision, third);
            self.o.requests.push((r.clone(), (id.clone(), revision, third)));
            prop_assert!(self.o.by_rid.insert(r, (id.clone(), revision, third)).is_none(), "request ids collide");
            let Some(Payload::Report(report)) = self.last_sent(p) else {
                return Err(TestCaseError::fail("a nation's submit sent no report"));
            };
            prop_assert_eq!(&report.header, &s.header);
            prop_assert_eq!(&report.content, &sub.content);
            self.o.sent_reports.insert((id.clone(), revision), report.clone());
        }
        self.o.submitted.insert((id, revision), sub);
        Ok(())
    }

    pub(crate) fn decide(
        &mut self,
        p: Party,
        from_pending: bool,
        pick: usize,
        kind: Kind,
        who: usize,
    ) -> Result<(), TestCaseError> {
        self.tick += 1;
        let candidates: Vec<RequestId> = if from_pending {
            let pending = self.sim.pending(p);
            for v in &pending {
                let named = (v.request.report_id.as_str().to_owned(), v.request.revision, v.request.recipient);
                prop_assert_eq!(
                    self.o.by_rid.get(&v.request.request_id),
                    Some(&named),
                    "pending view names another report"
                );
                prop_assert_eq!(
                    Some(v.request.expires_at),
                    self.o.expires_at(&(named.0.clone(), named.1)),
                    "expiry is not hub arrival + policy"
                );
                prop_assert_eq!(Some(&v.manifest), self.o.sent_reports.get(&(named.0, named.1)).map(|r| &r.manifest));
            }
            pending.into_iter().map(|v| v.request.request_id).collect()
        } else {
            self.o.requests.iter().filter(|(_, k)| k.0.starts_with(p.code())).map(|(r, _)| r.clone()).collect()
        };
        if candidates.is_empty() {
            return Ok(());
        }
        let r = candidates[pick % candidates.len()].clone();
        let approver = approver(p, who);
        let result = match kind {
            Kind::Full => self.sim.approve_as(p, &r, false, &approver),
            Kind::Tearline => self.sim.approve_as(p, &r, true, &approver),
            Kind::Deny => self.sim.deny_as(p, &r, "not now", &approver),
        };
        let key = self.o.by_rid.get(&r).cloned().expect("known request");
        let s = &self.o.submitted[&(key.0.clone(), key.1)];
        let same_person = s.submitter.is_empty() || s.submitter == approver.name();
        if self.o.two_person && kind != Kind::Deny && same_person {
            prop_assert!(
                result.is_err(),
                "two-person rule: {} approved what {:?} submitted",
                approver.name(),
                s.submitter
            );
        }
        if result.is_ok() {
            prop_assert_eq!(s.originator, p);
            prop_assert!(
                kind != Kind::Tearline || s.content.tearline.is_some(),
                "tearline-only approval without a tearline"
            );
            let expires = self.o.expires_at(&(key.0.clone(), key.1));
            prop_assert!(expires.is_some_and(|t| self.sim.now < t), "{:?} decided {:?} outside its window", p, key);
            let (now, tick) = (self.sim.now, self.tick);
            let log = self.o.decisions.entry(key.clone()).or_default();
            prop_assert!(log.is_empty(), "a second decision on {:?}: {:?} then {:?}", key, log, kind);
            log.push((now, kind, tick));
            let Some(Payload::ReleaseDecision(d)) = self.last_sent(p).cloned() else {
                return Err(TestCaseError::fail("a decision sent nothing"));
            };
            prop_assert_eq!(&d.operator, approver.name());
            self.o.decision_msgs.insert(key, d);
        }
        Ok(())
    }

    pub(crate) fn grant(
        &mut self,
        p: Party,
        cats: u8,
        max: usize,
        tearline_only: bool,
        lapse: Option<u64>,
        who: usize,
    ) -> Result<(), TestCaseError> {
        self.tick += 1;
        self.grants_issued += 1;
        let now = self.sim.now;
        let categories: Vec<Category> =
            Category::ALL.into_iter().enumerate().filter(|(i, _)| cats & (1 << i) != 0).map(|(_, c)| c).collect();
        let signer = approver(p, who);
        let recipient = p.other_nation().expect("a nation");
        let doc = GrantDoc {
            grant_id: format!("{}-G-{}", p.code(), self.grants_issued),
            originator: p,
            recipient,
            categories: categories.clone(),
            max_classification: Classification::ALL[max],
            tearline_only,
            issued_at: now,
            not_after: lapse.map(|ms| Timestamp(now.0 + ms)),
            operator: signer.name().to_owned(),
        };
        let signed = signer.sign(doc.to_bytes());
        let mut result = self.sim.grant_signed(p, signed.clone());
        // Under the two-person rule the grant is only proposed: the other
        // approver co-signs it at once (the rule's refusals are rule tests).
        let cosign = if self.o.two_person && result.is_ok() {
            let cosigner = approver(p, (who + 1) % 2);
            result = self.sim.cosign_as(p, &signed, &cosigner);
            let id = &doc.grant_id;
            let d = tisa_core::sign::CosignDoc::of(id, p, &signed.bytes, now, cosigner.key_id());
            Some(cosigner.sign_by_id(d.to_bytes()))
        } else {
            None
        };
        let valid = !categories.is_empty() && categories.iter().all(|c| in_scope(*c));
        prop_assert_eq!(result.is_ok(), valid, "grant {:?}: {:?}", doc, result);
        if result.is_err() {
            return Ok(());
        }
        prop_assert_eq!(result.as_ref().ok(), Some(&doc));
        let msg = Grant { doc: doc.clone(), signed, cosign };
        let grant_sent =
            self.sim.log().iter().rev().find(|s| s.from == p && s.transmit.envelope.payload.kind() == "grant");
        prop_assert_eq!(grant_sent.map(|s| &s.transmit.envelope.payload), Some(&Payload::Grant(msg.clone())));
        let logged = LoggedGrant {
            originator: p,
            recipient,
            categories,
            max: doc.max_classification,
            tearline_only,
            issued_at: now,
            not_after: doc.not_after,
            msg,
        };
        self.o.grants.insert(doc.grant_id, logged);
        Ok(())
    }

    pub(crate) fn revoke(&mut self, p: Party, pick: usize, who: usize) -> Result<(), TestCaseError> {
        self.tick += 1;
        let mine: Vec<String> =
            self.o.grants.iter().filter(|(_, g)| g.originator == p).map(|(id, _)| id.clone()).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let id = mine[pick % mine.len()].clone();
        let signer = approver(p, who);
        let doc = RevocationDoc {
            grant_id: id.clone(),
            originator: p,
            revoked_at: self.sim.now,
            operator: signer.name().to_owned(),
        };
        let signed = signer.sign(doc.to_bytes());
        let result = self.sim.revoke_signed(p, signed.clone());
        prop_assert_eq!(result.as_ref().ok(), Some(&doc), "revoke: {:?}", result);
        let msg = Revocation { doc, signed };
        prop_assert_eq!(self.last_sent(p), Some(&Payload::Revocation(msg.clone())));
        self.o.revocations.entry(id).or_default().push(msg);
        Ok(())
    }

    /// National submissions, in a stable order.
    pub(crate) fn national(&self) -> Vec<(Key, Sub)> {
        let mut v: Vec<(Key, Sub)> = self
            .o
            .submitted
            .iter()
            .filter(|(_, s)| !s.originator.is_hub())
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every payload of one kind ever sent, by anyone.
    pub(crate) fn sent_payloads<T>(&self, f: impl Fn(&Payload) -> Option<T>) -> Vec<T> {
        self.sim.log().iter().filter_map(|s| f(&s.transmit.envelope.payload)).collect()
    }

    /// Every consent ever put on the wire (decisions and grants).
    pub(crate) fn consents(&self) -> Vec<Consent> {
        let mut v: Vec<Consent> = self.sent_payloads(|p| match p {
            Payload::ReleaseDecision(d) => Some(Consent::Decision(Box::new(d.clone()))),
            Payload::Grant(g) => Some(Consent::Grant(g.clone().into())),
            _ => None,
        });
        v.sort_by_key(|c| format!("{c:?}"));
        v
    }

    /// Delivers everything in flight, checking as it goes.
    pub(crate) fn settle(&mut self) -> Result<(), TestCaseError> {
        let mut n = 0;
        loop {
            let Some((from, to)) = LINKS.into_iter().find(|(f, t)| !self.sim.in_flight(*f, *t).is_empty()) else {
                return Ok(());
            };
            self.run(&Action::Deliver { link: LINKS.iter().position(|l| *l == (from, to)).unwrap(), n: 1 })?;
            n += 1;
            prop_assert!(n < 100_000, "never quiet");
        }
    }
}

pub(crate) fn idx(p: Party) -> usize {
    match p {
        Party::Kr => 0,
        Party::Us => 1,
        Party::Jp => 2,
    }
}
