//! A deterministic, in-memory simulation of the three parties (in the style
//! of quinn's `Pair` and str0m's `progress`): three [`Node`]s, a fake clock,
//! and one FIFO queue of in-flight envelopes per directed link.
//!
//! Only the links KR<->US and JP<->US exist. Every transmit a node emits is
//! checked as it is drained: a node that addresses KR<->JP (or itself), or
//! that puts another party's name in its envelope's sender, makes the
//! harness panic.
//!
//! The deployment is fixed and deterministic: each party has a node key and
//! two approver keys (see [`node_key`], [`approver`]), all registered in the
//! policy every node runs with ([`with_keys`]).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

pub use tisa_core::*;

pub const KR: Party = Party::Kr;
pub const US: Party = Party::Us;
pub const JP: Party = Party::Jp;

/// 2014-12-29T00:00:00Z (the arrangement's signature), in ms since the epoch.
pub const T0: u64 = 1_419_811_200_000;
pub const SECOND: u64 = 1_000;
pub const MINUTE: u64 = 60 * SECOND;
pub const HOUR: u64 = 60 * MINUTE;
pub const DAY: u64 = 24 * HOUR;

// ----------------------------------------------------------------------
// The deployment: keys
// ----------------------------------------------------------------------

/// Name of `p`'s node key.
pub fn node_name(p: Party) -> &'static str {
    match p {
        Party::Kr => "kr-node",
        Party::Us => "us-node",
        Party::Jp => "jp-node",
    }
}

/// Names of `p`'s two approvers.
pub fn approver_names(p: Party) -> [&'static str; 2] {
    match p {
        Party::Kr => ["kim", "park"],
        Party::Us => ["smith", "jones"],
        Party::Jp => ["sato", "tanaka"],
    }
}

/// A deterministic seed: party, role (0 node, 1 approver), index.
fn seed(p: Party, role: u8, i: u8) -> [u8; 32] {
    let mut s = [0x5a_u8; 32];
    s[0] = idx(p) as u8;
    s[1] = role;
    s[2] = i;
    s
}

/// `p`'s node key (signs `p`'s manifests).
pub fn node_key(p: Party) -> Identity {
    Identity::from_seed(node_name(p), seed(p, 0, 0))
}

/// `p`'s approver `i` (0 or 1).
pub fn approver(p: Party, i: usize) -> Identity {
    Identity::from_seed(approver_names(p)[i], seed(p, 1, i as u8))
}

/// A key that is registered nowhere, under any name (e.g. a stolen name).
pub fn rogue(name: &str) -> Identity {
    Identity::from_seed(name, [0xee; 32])
}

/// Every key of the deployment, as the agreement registers them.
pub fn keys() -> Vec<KeyEntry> {
    let mut out = Vec::new();
    for p in Party::ALL {
        let n = node_key(p);
        out.push(KeyEntry { party: p, name: n.name().to_owned(), role: KeyRole::Node, public: n.public() });
        for i in 0..2 {
            let a = approver(p, i);
            out.push(KeyEntry { party: p, name: a.name().to_owned(), role: KeyRole::Approver, public: a.public() });
        }
    }
    out
}

/// `policy` with the deployment's keys registered (if it registers none).
pub fn with_keys(mut policy: Policy) -> Policy {
    if policy.keys.is_empty() {
        policy.keys = keys();
    }
    policy
}

/// The default policy with the deployment's keys.
pub fn default_policy() -> Policy {
    with_keys(Policy::default())
}

/// The directed links that exist, in a fixed order.
pub const LINKS: [(Party, Party); 4] = [(KR, US), (JP, US), (US, KR), (US, JP)];

/// Whether a link between `a` and `b` exists.
pub fn link_exists(a: Party, b: Party) -> bool {
    a != b && (a.is_hub() || b.is_hub())
}

fn idx(p: Party) -> usize {
    match p {
        Party::Kr => 0,
        Party::Us => 1,
        Party::Jp => 2,
    }
}

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
        }
    }

    /// Read access to a node (for its queries).
    pub fn node(&self, p: Party) -> &Node {
        &self.nodes[idx(p)]
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
            self.seq += 1;
            self.queues.get_mut(&(p, t.to)).expect("link queue").push_back((self.seq, t.envelope.clone()));
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
    pub fn submit(&mut self, p: Party, id: &str, draft: ReportDraft) -> Result<Submitted, CommandError> {
        let id = ReportId::new(id).expect("test report ids are valid");
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

// ----------------------------------------------------------------------
// Building inputs
// ----------------------------------------------------------------------

/// A report id.
pub fn report_id(s: &str) -> ReportId {
    ReportId::new(s).expect("valid report id")
}

/// The request id the hub uses to ask about `id` revision `rev` for `recipient`.
pub fn rid(id: &str, rev: u32, recipient: Party) -> RequestId {
    RequestId::for_release(&report_id(id), rev, recipient)
}

/// A releasable-to set, e.g. `rel("USA,JPN")`.
pub fn rel(s: &str) -> PartySet {
    s.parse().expect("valid releasable-to")
}

/// Canary content: every field carries `tag` and a marker that must never
/// show up in a log line or reach a party it was not released to.
pub fn content(tag: &str, tearline: bool) -> Content {
    Content {
        title: Sensitive::new(format!("CANARY-TITLE-{tag}")),
        body: Sensitive::new(format!("CANARY-BODY-{tag}: launch window and telemetry")),
        tearline: tearline.then(|| Sensitive::new(format!("CANARY-TEARLINE-{tag}: a launch occurred"))),
        source: Sensitive::new(format!("CANARY-SOURCE-{tag}: a human source")),
    }
}

/// Who submits the test drafts: an operator who is no one's approver.
pub const CLERK: &str = "duty-officer";

/// A draft with canary content tagged `tag` and a tearline.
pub fn draft(category: Category, classification: Classification, releasable_to: &str, tag: &str) -> ReportDraft {
    ReportDraft {
        category,
        classification,
        releasable_to: rel(releasable_to),
        content: content(tag, true),
        corrects: None,
        submitted_by: CLERK.to_owned(),
        source_key: None,
    }
}

/// A draft without a tearline.
pub fn draft_no_tearline(
    category: Category,
    classification: Classification,
    releasable_to: &str,
    tag: &str,
) -> ReportDraft {
    ReportDraft { content: content(tag, false), ..draft(category, classification, releasable_to, tag) }
}

/// A hand-made envelope (for forged or replayed input).
pub fn envelope(sender: Party, message_id: &str, sent_at: Timestamp, payload: Payload) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new(message_id).expect("valid message id"),
        sender,
        sent_at,
        payload,
    }
}

/// Every piece of report content (title, body, tearline, source) a payload carries, exposed.
pub fn exposed(p: &Payload) -> Vec<String> {
    match p {
        Payload::Report(r) => content_strings(&r.content),
        Payload::Delivery(d) => released_strings(&d.released),
        _ => Vec::new(),
    }
}

/// Every piece of content in `c`, exposed.
pub fn content_strings(c: &Content) -> Vec<String> {
    let mut v = vec![c.title.expose().to_owned(), c.body.expose().to_owned(), c.source.expose().to_owned()];
    v.extend(c.tearline.iter().map(|t| t.expose().to_owned()));
    v
}

/// Every piece of content in `r`, exposed.
pub fn released_strings(r: &Released) -> Vec<String> {
    match r {
        Released::Full(c) => content_strings(c),
        Released::Tearline(t) => vec![t.expose().to_owned()],
    }
}

/// A duration in ms.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("fits")
}

// ----------------------------------------------------------------------
// Signed documents, built by hand (as an originator, or as a forger)
// ----------------------------------------------------------------------

#[allow(unused_imports)]
pub use tisa_core::sign::{
    sha256, AuditHeadDoc, DecisionDoc, GrantDoc, Manifest, RetractionDoc, RevocationDoc, Verdict,
};

/// The manifest of `header` + `content`, signed by `signer`.
pub fn manifest(header: &ReportHeader, content: &Content, submitted_by: &str, signer: &Identity) -> Signed {
    signer.sign(Manifest::of(header, content, submitted_by).to_bytes())
}

/// A report as `header.originator`'s node would send it (genuinely signed).
pub fn signed_report(header: ReportHeader, content: Content) -> Report {
    let manifest = manifest(&header, &content, CLERK, &node_key(header.originator));
    Report { header, content, manifest }
}

/// The decision document on revision `rev` of `id` for `recipient`, about `manifest`.
#[allow(clippy::too_many_arguments)]
pub fn decision_doc(
    manifest: &Signed,
    id: &str,
    rev: u32,
    recipient: Party,
    verdict: Verdict,
    at: Timestamp,
    operator: &str,
) -> DecisionDoc {
    DecisionDoc {
        manifest_sha256: sha256(&manifest.bytes),
        request_id: rid(id, rev, recipient),
        report_id: report_id(id),
        revision: rev,
        recipient,
        verdict,
        reason: if verdict == Verdict::Deny { "no".to_owned() } else { String::new() },
        decided_at: at,
        operator: operator.to_owned(),
    }
}

/// The domain decision of a verdict.
pub fn decision_of(doc: &DecisionDoc) -> Decision {
    match doc.verdict {
        Verdict::ApproveFull => Decision::ApproveFull,
        Verdict::ApproveTearline => Decision::ApproveTearline,
        Verdict::Deny => Decision::Deny { reason: doc.reason.clone() },
    }
}

/// A release decision whose fields are those of `signed`'s document (as the
/// transport builds it from the wire, where only the signed bytes travel).
pub fn release_decision(signed: Signed) -> ReleaseDecision {
    let doc = DecisionDoc::parse(&signed.bytes).expect("a well-formed decision document");
    ReleaseDecision {
        request_id: doc.request_id.clone(),
        report_id: doc.report_id.clone(),
        revision: doc.revision,
        recipient: doc.recipient,
        decision: decision_of(&doc),
        decided_at: doc.decided_at,
        operator: doc.operator.clone(),
        manifest_sha256: doc.manifest_sha256,
        signed,
    }
}

/// `doc`, signed by `signer`, as a release decision.
pub fn signed_decision(doc: &DecisionDoc, signer: &Identity) -> ReleaseDecision {
    release_decision(signer.sign(doc.to_bytes()))
}

/// A grant message: `doc` signed by `signer`.
pub fn grant_msg(doc: &GrantDoc, signer: &Identity) -> Grant {
    Grant { doc: doc.clone(), signed: signer.sign(doc.to_bytes()) }
}

/// A revocation message: `doc` signed by `signer`.
pub fn revocation_msg(doc: &RevocationDoc, signer: &Identity) -> Revocation {
    Revocation { doc: doc.clone(), signed: signer.sign(doc.to_bytes()) }
}

/// The hub's own `report`, delivered over a bilateral link.
pub fn bilateral(report: &Report) -> Delivery {
    Delivery {
        header: report.header.clone(),
        released: Released::Full(report.content.clone()),
        basis: Basis::Bilateral,
        request_id: None,
        manifest: report.manifest.clone(),
        consent: None,
    }
}

/// A trilateral delivery of `report` to `to` as the hub would build it.
pub fn trilateral(report: &Report, to: Party, tearline_only: bool, consent: Option<Consent>) -> Delivery {
    let released = if tearline_only {
        Released::Tearline(report.content.tearline.clone().unwrap_or_default())
    } else {
        Released::Full(report.content.clone())
    };
    Delivery {
        header: report.header.clone(),
        released,
        basis: Basis::Trilateral,
        request_id: Some(RequestId::for_release(&report.header.id, report.header.revision, to)),
        manifest: report.manifest.clone(),
        consent,
    }
}
