//! A deterministic, in-memory simulation of the three parties (in the style
//! of quinn's `Pair` and str0m's `progress`): three [`Node`]s, a fake clock,
//! and one FIFO queue of in-flight envelopes per directed link.
//!
//! Only the links KR<->US and JP<->US exist. Every transmit a node emits is
//! checked as it is drained: a node that addresses KR<->JP (or itself), or
//! that puts another party's name in its envelope's sender, makes the
//! harness panic.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
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
    pub fn with_policies(kr: Policy, us: Policy, jp: Policy) -> Sim {
        let policy = us.clone();
        let nodes = [(KR, kr), (US, us), (JP, jp)]
            .into_iter()
            .map(|(p, pol)| Node::new(p, pol, 0x1000 + idx(p) as u64))
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
        }
    }

    /// Read access to a node (for its queries).
    pub fn node(&self, p: Party) -> &Node {
        &self.nodes[idx(p)]
    }

    /// Drains a node's transmits (checking every one of them) and events.
    fn flush(&mut self, p: Party) {
        let i = idx(p);
        while let Some(t) = self.nodes[i].poll_transmit() {
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
    pub fn submit(&mut self, p: Party, id: &str, draft: Draft) -> Result<Submitted, CommandError> {
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

    /// Submits a new revision of `id` (the draft's `corrects` is set to `id`).
    pub fn correct(&mut self, p: Party, id: &str, mut draft: Draft) -> Result<Submitted, CommandError> {
        draft.corrects = Some(ReportId::new(id).expect("valid id"));
        self.submit(p, id, draft)
    }

    /// `approve` at `p`, now.
    pub fn approve(&mut self, p: Party, rid: &RequestId, tearline_only: bool) -> Result<(), CommandError> {
        let r = self.nodes[idx(p)].approve(self.now, rid, tearline_only);
        self.flush(p);
        r
    }

    /// `deny` at `p`, now.
    pub fn deny(&mut self, p: Party, rid: &RequestId, reason: &str) -> Result<(), CommandError> {
        let r = self.nodes[idx(p)].deny(self.now, rid, reason);
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
    /// second time and asserts that the duplicate produced no transmit, no
    /// inbox entry and no event (a repeated progress notice may be re-reported).
    pub fn step_twice(&mut self) -> bool {
        let next = self.queues.iter().filter_map(|(l, q)| q.front().map(|(s, _)| (*s, *l))).min().map(|(_, l)| l);
        let Some((from, to)) = next else { return false };
        let env = self.step_link(from, to).expect("front exists");
        let (log, ev, inbox) = (self.log.len(), self.events(to).len(), self.inbox(to).len());
        self.inject(to, from, env.clone());
        assert_eq!(
            self.log.len(),
            log,
            "duplicate {} to {to:?} produced a transmit: {:?}",
            env.payload.kind(),
            &self.log[log..]
        );
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
        all_pages(|after| self.node(p).inbox(after, 7))
    }

    /// `p`'s open release requests, now.
    pub fn pending(&self, p: Party) -> Vec<PendingView> {
        all_pages(|after| self.node(p).pending(self.now, after, 7))
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

/// A draft with canary content tagged `tag` and a tearline.
pub fn draft(category: Category, classification: Classification, releasable_to: &str, tag: &str) -> Draft {
    Draft { category, classification, releasable_to: rel(releasable_to), content: content(tag, true), corrects: None }
}

/// A draft without a tearline.
pub fn draft_no_tearline(category: Category, classification: Classification, releasable_to: &str, tag: &str) -> Draft {
    Draft { category, classification, releasable_to: rel(releasable_to), content: content(tag, false), corrects: None }
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
