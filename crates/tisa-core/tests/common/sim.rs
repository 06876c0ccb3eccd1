//! The simulation: three nodes, a fake clock, one queue per directed
//! link, and what every node sent.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::*;

/// Asserts that `sent` holds only what a node may answer a repeated message
/// with (reconciliation): messages from `node` back to `sender`, of the kinds
/// that tell where things stand (progress, the open request, the decision
/// or receipt already given) — never a delivery, grant or anything to a
/// third party.
pub fn assert_answers_only(sent: &[Sent], node: Party, sender: Party, what: &str) {
    for s in sent {
        let kind = s.transmit.envelope.payload.kind();
        assert!(
            s.from == node
                && s.transmit.to == sender
                && matches!(kind, "progress" | "request" | "decision" | "receipt"),
            "{what} produced a {kind} from {:?} to {:?}: {:?}",
            s.from,
            s.transmit.to,
            s.transmit
        );
    }
}

/// One transmit, as the harness saw it leave a node.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Clock when it was drained.
    pub at: Timestamp,
    /// The node that emitted it.
    pub from: Party,
    /// What it emitted.
    pub transmit: Transmit,
}

/// Three nodes, a fake clock and the links between them.
pub struct Sim {
    /// The simulated clock, shared by all three nodes.
    pub now: Timestamp,
    /// The policy every node runs with.
    pub policy: Policy,
    nodes: Vec<Node>,
    /// In-flight envelopes per directed link, tagged with a global sequence
    /// number so that [`Sim::step`] can deliver in global send order.
    queues: BTreeMap<(Party, Party), VecDeque<(u64, Envelope)>>,
    seq: u64,
    events: [Vec<Event>; 3],
    log: Vec<Sent>,
    /// How many envelopes have been handed to a node (deliveries and injections).
    pub delivered: usize,
    /// Each node's body store (the nodes keep bodies outside, as the shell runs them).
    bodies: [HashMap<BodyKey, Report>; 3],
    /// Off-line messages per directed link, waiting for a courier ([`Sim::carry`]).
    courier: BTreeMap<(Party, Party), VecDeque<Envelope>>,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

impl Sim {
    /// Three nodes under the default policy, clock at [`T0`].
    pub fn new() -> Sim {
        Sim::with_policy(Policy::default())
    }

    /// Three nodes under `policy`, clock at [`T0`].
    pub fn with_policy(policy: Policy) -> Sim {
        Sim::with_policies(policy.clone(), policy.clone(), policy)
    }

    /// Three nodes that disagree on the policy (a misconfiguration), clock
    /// at [`T0`]. `policy` is the hub's.
    /// Every policy gets the deployment's keys unless it registers its own.
    pub fn with_policies(kr: Policy, us: Policy, jp: Policy) -> Sim {
        let (kr, us, jp) = (with_keys(kr), with_keys(us), with_keys(jp));
        let policy = us.clone();
        let nodes = [(KR, kr), (US, us), (JP, jp)]
            .into_iter()
            .map(|(p, pol)| {
                Node::new(p, pol, 0x1000 + idx(p) as u64, node_key(p))
                    .expect("the node key is registered")
                    .keep_bodies_outside()
            })
            .collect();
        Sim {
            now: Timestamp(T0),
            policy,
            nodes,
            queues: LINKS.iter().map(|l| (*l, VecDeque::new())).collect(),
            seq: 0,
            events: Default::default(),
            log: Vec::new(),
            delivered: 0,
            bodies: Default::default(),
            courier: BTreeMap::new(),
        }
    }

    /// Gives `p` a later agreement version (with the deployment's keys),
    /// to take effect at its `effective_at`.
    pub fn stage(&mut self, p: Party, policy: Policy) -> Result<(), CommandError> {
        self.nodes[idx(p)].stage_agreement(with_keys(policy))
    }

    /// Read access to a node (for its queries).
    pub fn node(&self, p: Party) -> &Node {
        &self.nodes[idx(p)]
    }

    /// Write access to a node, for a call the harness has no helper for;
    /// follow it with [`Sim::flushed`].
    pub fn node_mut(&mut self, p: Party) -> &mut Node {
        &mut self.nodes[idx(p)]
    }

    /// Drains `p`'s outputs after a call through [`Sim::node_mut`].
    pub fn flushed(&mut self, p: Party) {
        self.flush(p);
    }

    /// Drains a node's transmits (checking every one of them) and events.
    fn flush(&mut self, p: Party) {
        let i = idx(p);
        while let Some(s) = self.nodes[i].poll_stash() {
            assert_eq!(s.key, BodyKey::of(&s.body.header), "{p:?} stashed a body under another key");
            self.bodies[i].insert(s.key, s.body);
        }
        while let Some(mut t) = self.nodes[i].poll_transmit() {
            if let Some(k) = t.body.clone() {
                let body = self.bodies[i].get(&k).unwrap_or_else(|| panic!("{p:?} needs body {k}, never stashed"));
                t.fill(body).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            }
            assert!(
                link_exists(p, t.to),
                "{p:?} addressed a {} to {:?}: there is no {p:?}<->{:?} link",
                t.envelope.payload.kind(),
                t.to,
                t.to
            );
            assert_eq!(t.envelope.sender, p, "{p:?} emitted an envelope claiming sender {:?}", t.envelope.sender);
            assert_eq!(t.envelope.version, PROTOCOL_VERSION);
            if t.offline {
                self.courier.entry((p, t.to)).or_default().push_back(t.envelope.clone());
            } else {
                // Nothing above a link's ceiling ever goes on-line.
                let nation = if p.is_hub() { t.to } else { p };
                let ceiling = self.nodes[i].policy().ceiling(nation);
                let class = match &t.envelope.payload {
                    Payload::Report(r) => Some(r.header.classification),
                    Payload::Delivery(d) => Some(d.header.classification),
                    _ => None,
                };
                assert!(
                    class.is_none_or(|c| c <= ceiling),
                    "{p:?} put a {:?} {} on the {nation:?} link (ceiling {ceiling:?})",
                    class,
                    t.envelope.payload.kind()
                );
                self.seq += 1;
                self.queues.get_mut(&(p, t.to)).expect("link queue").push_back((self.seq, t.envelope.clone()));
            }
            self.log.push(Sent { at: self.now, from: p, transmit: t });
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events[i].push(e);
        }
    }

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

    /// `submit` at `p`, now.
    pub fn submit(&mut self, p: Party, id: &str, mut draft: ReportDraft) -> Result<Submitted, CommandError> {
        let id = ReportId::new(id).expect("test report ids are valid");
        // As the CLI does: the submitter signs its submission with its own
        // key (found by the draft's key, else by its name among `p`'s).
        if draft.submission.is_none() {
            let people = [clerk(p), approver(p, 0), approver(p, 1)];
            let who = people
                .iter()
                .find(|i| Some(i.key_id()) == draft.submitter_key)
                .or_else(|| people.iter().find(|i| i.name() == draft.submitted_by));
            if let Some(who) = who {
                let doc = tisa_core::sign::SubmissionDoc::of(
                    p,
                    draft.category,
                    draft.classification,
                    draft.releasable_to,
                    &draft.content,
                    draft.corrects.clone(),
                    self.now,
                    tisa_core::sign::Nonce([7; 16]),
                    who.key_id(),
                );
                draft.submitter_key = Some(who.key_id());
                draft.submission = Some(who.sign_by_id(doc.to_bytes()));
            }
        }
        let r = self.nodes[idx(p)].submit(self.now, id, draft);
        if let Ok(s) = &r {
            assert_eq!(
                s.header.id.prefix_party(),
                Some(p),
                "{p:?} issued report id {} without its prefix",
                s.header.id
            );
            assert_eq!(s.header.originator, p);
        }
        self.flush(p);
        r
    }

    /// `handle_link_up` at `p` for its link to `link`, now (reconciliation).
    pub fn link_up(&mut self, p: Party, link: Party) {
        self.nodes[idx(p)].handle_link_up(self.now, link);
        self.flush(p);
    }

    /// Every node reconciles with every peer (a broker that lost everything came back).
    pub fn all_links_up(&mut self) {
        for (a, b) in LINKS {
            self.link_up(a, b);
        }
    }

    /// `retract` at `p`, now, by its clerk.
    pub fn retract(&mut self, p: Party, id: &str, reason: &str) -> Result<RetractionDoc, CommandError> {
        let r = self.nodes[idx(p)].retract(self.now, &report_id(id), reason, CLERK);
        self.flush(p);
        r
    }

    /// Submits a new revision of `id` (the draft's `corrects` is set to `id`).
    pub fn correct(&mut self, p: Party, id: &str, mut draft: ReportDraft) -> Result<Submitted, CommandError> {
        draft.corrects = Some(ReportId::new(id).expect("valid id"));
        self.submit(p, id, draft)
    }

    /// `approve` at `p`, now, as `p`'s first approver.
    pub fn approve(&mut self, p: Party, rid: &RequestId, tearline_only: bool) -> Result<(), CommandError> {
        self.approve_as(p, rid, tearline_only, &approver(p, 0))
    }

    /// `approve` at `p`, now, signed by `who`.
    pub fn approve_as(
        &mut self,
        p: Party,
        rid: &RequestId,
        tearline_only: bool,
        who: &Identity,
    ) -> Result<(), CommandError> {
        let r = self.nodes[idx(p)].approve(self.now, rid, tearline_only, who);
        self.flush(p);
        r
    }

    /// `deny` at `p`, now, as `p`'s first approver.
    pub fn deny(&mut self, p: Party, rid: &RequestId, reason: &str) -> Result<(), CommandError> {
        self.deny_as(p, rid, reason, &approver(p, 0))
    }

    /// `deny` at `p`, now, signed by `who`.
    pub fn deny_as(&mut self, p: Party, rid: &RequestId, reason: &str, who: &Identity) -> Result<(), CommandError> {
        let r = self.nodes[idx(p)].deny(self.now, rid, reason, who);
        self.flush(p);
        r
    }

    /// `track` at `p`, now: one live missile-track update.
    pub fn track(&mut self, p: Party, draft: TrackDraft) -> Result<TrackSubmitted, CommandError> {
        let r = self.nodes[idx(p)].track(self.now, draft);
        self.flush(p);
        r
    }

    /// `decide` at `p`, now: a decision document signed outside the node (the CLI's path).
    pub fn decide(&mut self, p: Party, signed: Signed) -> Result<(), CommandError> {
        let r = self.nodes[idx(p)].decide(self.now, signed).map(|_| ());
        self.flush(p);
        r
    }

    /// A standing grant by `p`'s first approver, issued now: `id` to the
    /// other nation, for `categories` up to `max`.
    pub fn grant_doc(
        &self,
        p: Party,
        id: &str,
        categories: &[Category],
        max: Classification,
        tearline_only: bool,
    ) -> GrantDoc {
        GrantDoc {
            grant_id: id.to_owned(),
            originator: p,
            recipient: p.other_nation().unwrap_or(Party::Jp),
            categories: categories.to_vec(),
            max_classification: max,
            tearline_only,
            issued_at: self.now,
            not_after: None,
            operator: approver_names(p)[0].to_owned(),
        }
    }

    /// `grant` at `p`, now, of `doc` signed by `p`'s approver named in it
    /// (or its first approver if it names someone else).
    pub fn grant(&mut self, p: Party, doc: GrantDoc) -> Result<GrantDoc, CommandError> {
        let who = (0..2).map(|i| approver(p, i)).find(|a| a.name() == doc.operator).unwrap_or_else(|| approver(p, 0));
        self.grant_signed(p, who.sign(doc.to_bytes()))
    }

    /// `grant` at `p`, now, of an already signed document.
    pub fn grant_signed(&mut self, p: Party, signed: Signed) -> Result<GrantDoc, CommandError> {
        let r = self.nodes[idx(p)].grant(self.now, signed);
        self.flush(p);
        r
    }

    /// Co-signs `p`'s proposed grant of document `grant` as `cosigner`, now
    /// (two-person rule).
    pub fn cosign_as(&mut self, p: Party, grant: &Signed, cosigner: &Identity) -> Result<GrantDoc, CommandError> {
        let id = GrantDoc::parse(&grant.bytes).map(|d| d.grant_id).unwrap_or_default();
        let doc = tisa_core::sign::CosignDoc::of(&id, p, &grant.bytes, self.now, cosigner.key_id());
        let r = self.nodes[idx(p)].cosign(self.now, cosigner.sign_by_id(doc.to_bytes()));
        self.flush(p);
        r
    }

    /// The revocation document of `p`'s grant `id`, now, by `p`'s first approver.
    pub fn revocation_doc(&self, p: Party, id: &str) -> RevocationDoc {
        RevocationDoc {
            grant_id: id.to_owned(),
            originator: p,
            revoked_at: self.now,
            operator: approver_names(p)[0].to_owned(),
        }
    }

    /// `revoke` at `p`, now, of grant `id`, by `p`'s first approver.
    pub fn revoke(&mut self, p: Party, id: &str) -> Result<RevocationDoc, CommandError> {
        let doc = self.revocation_doc(p, id);
        self.revoke_signed(p, approver(p, 0).sign(doc.to_bytes()))
    }

    /// `revoke` at `p`, now, of an already signed document.
    pub fn revoke_signed(&mut self, p: Party, signed: Signed) -> Result<RevocationDoc, CommandError> {
        let r = self.nodes[idx(p)].revoke(self.now, signed);
        self.flush(p);
        r
    }

    // ------------------------------------------------------------------
    // The network
    // ------------------------------------------------------------------

    /// Hands `env` to `to` as if it arrived on the link from `link` (which
    /// need not exist: this is how tests inject forged or misrouted input).
    pub fn inject(&mut self, to: Party, link: Party, env: Envelope) {
        self.delivered += 1;
        self.nodes[idx(to)].handle_message(self.now, link, env);
        self.flush(to);
    }

    /// Hands `env` to `to` as the latest of a track window from `link`
    /// (`Node::handle_track_window`): what the shell commits for the
    /// updates its real-time lane passed.
    pub fn window(&mut self, to: Party, link: Party, env: Envelope, first_seq: u32, updates: u32) {
        self.delivered += 1;
        self.nodes[idx(to)].handle_track_window(self.now, link, env, first_seq, updates);
        self.flush(to);
    }

    /// A courier carries every off-line message waiting on `from -> to` (a
    /// bundle): each is handed to `to` as off-line input. Returns how many.
    pub fn carry(&mut self, from: Party, to: Party) -> usize {
        let envs: Vec<Envelope> = self.courier.get_mut(&(from, to)).map(|q| q.drain(..).collect()).unwrap_or_default();
        for env in &envs {
            self.carry_one(to, from, env.clone());
        }
        envs.len()
    }

    /// Hands `env` to `to` as off-line input from `link` (a bundle's message).
    pub fn carry_one(&mut self, to: Party, link: Party, env: Envelope) {
        self.delivered += 1;
        self.nodes[idx(to)].handle_courier(self.now, link, env);
        self.flush(to);
    }

    /// Off-line messages waiting on `from -> to`.
    pub fn offline_waiting(&self, from: Party, to: Party) -> Vec<Envelope> {
        self.courier.get(&(from, to)).map(|q| q.iter().cloned().collect()).unwrap_or_default()
    }

    /// Delivers the oldest in-flight envelope on `from -> to`, if any, and
    /// returns it.
    pub fn step_link(&mut self, from: Party, to: Party) -> Option<Envelope> {
        let (_, env) = self.queues.get_mut(&(from, to))?.pop_front()?;
        self.inject(to, from, env.clone());
        Some(env)
    }

    /// Delivers the oldest in-flight envelope across all links (global send
    /// order). Returns whether there was one.
    pub fn step(&mut self) -> bool {
        let next = self.queues.iter().filter_map(|(l, q)| q.front().map(|(s, _)| (*s, *l))).min().map(|(_, l)| l);
        match next {
            Some((from, to)) => self.step_link(from, to).is_some(),
            None => false,
        }
    }

    /// Like [`Sim::step`], but hands the same envelope to its recipient a
    /// second time and asserts that the duplicate produced no inbox entry, no
    /// event (a repeated progress notice may be re-reported), and no transmit
    /// but answers to its sender (see [`assert_answers_only`]).
    pub fn step_twice(&mut self) -> bool {
        let next = self.queues.iter().filter_map(|(l, q)| q.front().map(|(s, _)| (*s, *l))).min().map(|(_, l)| l);
        let Some((from, to)) = next else { return false };
        let env = self.step_link(from, to).expect("front exists");
        let (log, ev, inbox) = (self.log.len(), self.events(to).len(), self.inbox(to).len());
        self.inject(to, from, env.clone());
        assert_answers_only(&self.log[log..], to, from, &format!("duplicate {} to {to:?}", env.payload.kind()));
        let new_events: Vec<&Event> =
            self.events(to)[ev..].iter().filter(|e| !matches!(e, Event::Progress { .. })).collect();
        assert!(new_events.is_empty(), "duplicate {} to {to:?} produced events: {new_events:?}", env.payload.kind());
        assert_eq!(self.inbox(to).len(), inbox, "duplicate {} to {to:?} added an inbox entry", env.payload.kind());
        true
    }

    /// Delivers until nothing is in flight. Panics on a livelock.
    pub fn drive(&mut self) {
        let mut n = 0;
        while self.step() {
            n += 1;
            assert!(n < 100_000, "the parties never go quiet");
        }
    }

    /// Like [`Sim::drive`], delivering every envelope twice.
    pub fn drive_twice(&mut self) {
        let mut n = 0;
        while self.step_twice() {
            n += 1;
            assert!(n < 100_000, "the parties never go quiet");
        }
    }

    /// Envelopes in flight on `from -> to`.
    pub fn in_flight(&self, from: Party, to: Party) -> Vec<Envelope> {
        self.queues.get(&(from, to)).map(|q| q.iter().map(|(_, e)| e.clone()).collect()).unwrap_or_default()
    }

    /// Number of envelopes in flight on every link.
    pub fn in_flight_total(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Takes the oldest in-flight envelope on `from -> to` off the wire
    /// without delivering it (the caller delivers it with [`Sim::inject`]).
    pub fn take_next(&mut self, from: Party, to: Party) -> Option<Envelope> {
        self.queues.get_mut(&(from, to))?.pop_front().map(|(_, e)| e)
    }

    /// Drops everything in flight on `from -> to`.
    pub fn drop_link(&mut self, from: Party, to: Party) -> Vec<Envelope> {
        self.queues.get_mut(&(from, to)).map(|q| q.drain(..).map(|(_, e)| e).collect()).unwrap_or_default()
    }

    // ------------------------------------------------------------------
    // The clock
    // ------------------------------------------------------------------

    /// Advances the clock by `ms` and calls `handle_timeout` on every node
    /// whose timer is due. Does not deliver anything.
    pub fn advance(&mut self, ms: u64) {
        self.now = Timestamp(self.now.0 + ms);
        self.fire_timers();
    }

    /// Advances the clock without firing any timer (a shell whose timer is late).
    pub fn advance_without_timers(&mut self, ms: u64) {
        self.now = Timestamp(self.now.0 + ms);
    }

    /// Calls `handle_timeout` on every node whose timer is due.
    pub fn fire_timers(&mut self) {
        for p in Party::ALL {
            let due = self.nodes[idx(p)].poll_timeout().is_some_and(|t| t <= self.now);
            if due {
                self.nodes[idx(p)].handle_timeout(self.now);
                self.flush(p);
                if let Some(t) = self.nodes[idx(p)].poll_timeout() {
                    assert!(t > self.now, "{p:?}'s timer is still due after handle_timeout");
                }
            }
        }
    }

    /// `Timestamp` of `T0 + ms`.
    pub fn at(ms: u64) -> Timestamp {
        Timestamp(T0 + ms)
    }

    // ------------------------------------------------------------------
    // Observation
    // ------------------------------------------------------------------

    /// Every event `p` emitted so far.
    pub fn events(&self, p: Party) -> &[Event] {
        &self.events[idx(p)]
    }

    /// Every transmit so far, in order.
    pub fn log(&self) -> &[Sent] {
        &self.log
    }

    /// How many envelopes other than `hello` (which says only which
    /// agreement the sender enforces, on every link-up) went on the wire.
    pub fn sent_count(&self) -> usize {
        self.log.iter().filter(|s| !matches!(s.transmit.envelope.payload, Payload::Hello)).count()
    }

    /// Every envelope ever addressed to `p`.
    pub fn sent_to(&self, p: Party) -> Vec<&Envelope> {
        self.log.iter().filter(|s| s.transmit.to == p).map(|s| &s.transmit.envelope).collect()
    }

    /// Every envelope `from` ever addressed to `to`.
    pub fn sent(&self, from: Party, to: Party) -> Vec<&Envelope> {
        self.log.iter().filter(|s| s.from == from && s.transmit.to == to).map(|s| &s.transmit.envelope).collect()
    }

    /// Every delivery ever addressed to `p`.
    pub fn deliveries_to(&self, p: Party) -> Vec<&Delivery> {
        self.sent_to(p)
            .into_iter()
            .filter_map(|e| match &e.payload {
                Payload::Delivery(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// Every rejection notice `from` sent to `to`.
    pub fn rejections(&self, from: Party, to: Party) -> Vec<&Rejection> {
        self.sent(from, to)
            .into_iter()
            .filter_map(|e| match &e.payload {
                Payload::Rejection(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// The reasons of every `Event::Rejected` at `p`.
    pub fn rejected(&self, p: Party) -> Vec<&RejectReason> {
        self.events(p)
            .iter()
            .filter_map(|e| match e {
                Event::Rejected { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    /// The headers of every `Event::Received` at `p`.
    pub fn received(&self, p: Party) -> Vec<&Event> {
        self.events(p).iter().filter(|e| matches!(e, Event::Received { .. })).collect()
    }

    /// `p`'s whole inbox.
    pub fn inbox(&self, p: Party) -> Vec<InboxEntry> {
        let mut all = all_pages(|after| self.node(p).inbox(after, 7));
        for e in &mut all {
            if let Some(k) = e.body.clone() {
                e.fill(self.bodies[idx(p)].get(&k).expect("an inbox entry's body is stashed")).expect("fills");
            }
        }
        all
    }

    /// `p`'s open release requests, now.
    pub fn pending(&self, p: Party) -> Vec<PendingView> {
        let mut all = all_pages(|after| self.node(p).pending(self.now, after, 7));
        for v in &mut all {
            if let Some(k) = v.body.clone() {
                v.fill(self.bodies[idx(p)].get(&k).expect("a pending request's body is stashed")).expect("fills");
            }
        }
        all
    }

    /// `p`'s own reports, every revision.
    pub fn status(&self, p: Party) -> Vec<RevisionStatus> {
        all_pages(|after| self.node(p).status(after, 7))
    }

    /// Where revision `rev` of `p`'s report `id` stands with `recipient`.
    pub fn recipient_state(&self, p: Party, id: &str, rev: u32, recipient: Party) -> Option<RecipientState> {
        let st = self.node(p).report_status(&ReportId::new(id).expect("id")).expect("own report");
        st.get(rev as usize - 1)?.recipients.get(&recipient).cloned()
    }

    /// Where revision `rev` of `p`'s report `id` stands with the hub.
    pub fn hub_state(&self, p: Party, id: &str, rev: u32) -> HubState {
        let st = self.node(p).report_status(&ReportId::new(id).expect("id")).expect("own report");
        st[rev as usize - 1].hub.clone()
    }

    /// Whether `p`'s inbox holds revision `rev` of `id`.
    pub fn has(&self, p: Party, id: &str, rev: u32) -> bool {
        self.inbox(p).iter().any(|e| e.delivery.header.id.as_str() == id && e.delivery.header.revision == rev)
    }

    /// The report (with its signed manifest) its originator put on the wire
    /// for revision `rev` of `id`.
    pub fn report_sent(&self, id: &str, rev: u32) -> Report {
        self.try_report_sent(id, rev).unwrap_or_else(|| panic!("no report {id} r{rev} was ever sent"))
    }

    /// Like [`Sim::report_sent`], if it was sent.
    pub fn try_report_sent(&self, id: &str, rev: u32) -> Option<Report> {
        self.log.iter().find_map(|s| match &s.transmit.envelope.payload {
            Payload::Report(r) if r.header.id.as_str() == id && r.header.revision == rev => Some(r.clone()),
            _ => None,
        })
    }

    /// Every decision ever put on the wire for revision `rev` of `id`.
    pub fn decisions_sent(&self, id: &str, rev: u32) -> Vec<ReleaseDecision> {
        self.log
            .iter()
            .filter_map(|s| match &s.transmit.envelope.payload {
                Payload::ReleaseDecision(d) if d.report_id.as_str() == id && d.revision == rev => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every delivery the hub ever sent to `to`.
    pub fn forwarded_to(&self, to: Party) -> Vec<Delivery> {
        self.sent(US, to)
            .into_iter()
            .filter_map(|e| match &e.payload {
                Payload::Delivery(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// `p`'s standing grants, as it knows them.
    pub fn grants(&self, p: Party) -> Vec<GrantView> {
        self.node(p).grants()
    }
}

/// Collects every page of a paginated query.
pub fn all_pages<T>(mut q: impl FnMut(Option<&str>) -> Result<Page<T>, CommandError>) -> Vec<T> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = q(after.as_deref()).expect("query");
        out.extend(page.items);
        match page.next_after {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
}
