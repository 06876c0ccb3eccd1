//! Random interleavings of the three parties on the fake clock, checked
//! against an oracle that knows nothing of the core's internals: it keeps its
//! own log of what the originators submitted, approved and denied (and of
//! when each report reached the hub), and judges every report that lands in
//! an inbox by the rules of the arrangement alone.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use common::*;
use proptest::prelude::*;

// ----------------------------------------------------------------------
// Actions
// ----------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Action {
    /// A party submits a report, or a correction of one of its reports.
    /// (`long`: an id long enough that request ids must be shortened.)
    Submit {
        party: usize,
        category: usize,
        classification: usize,
        rel: u8,
        tearline: bool,
        corrects: Option<usize>,
        long: bool,
    },
    /// A nation decides a request: one of its pending ones, or any it may have been asked.
    Decide { nation: usize, from_pending: bool, pick: usize, kind: Kind },
    /// Deliver up to `n` envelopes in order on one link.
    Deliver { link: usize, n: usize },
    /// Hand any envelope ever sent to any node, on any existing link.
    Replay { pick: usize, link: usize },
    /// Move the clock (firing due timers).
    Advance { ms: u64 },
    /// Inject a forged or inconsistent message.
    Forge { forgery: Forgery, pick: usize, alt: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Full,
    Tearline,
    Deny,
}

#[derive(Clone, Copy, Debug)]
enum Forgery {
    /// Any envelope ever sent, re-signed with a sender that is not the link's peer.
    WrongSender,
    /// A decision on a nation's request, sent by the other nation.
    WrongNation,
    /// A decision that was sent, replayed with one of request/report/revision/recipient altered.
    AlteredDecision,
    /// A delivery of a nation's report that was never approved, from a sender
    /// that is not the hub or over a link that is not the hub's.
    UnapprovedDelivery,
    /// A report whose originator is not the party on the link.
    WrongOriginator,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![3 => Just(Kind::Full), 2 => Just(Kind::Tearline), 2 => Just(Kind::Deny)]
}

fn submit() -> impl Strategy<Value = Action> {
    (
        prop_oneof![3 => Just(0usize), 1 => Just(1usize), 3 => Just(2usize)],
        prop_oneof![3 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)],
        prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => Just(2usize), 1 => Just(3usize)],
        // Mostly the whole trilateral set, often the hub and one nation, sometimes anything.
        prop_oneof![4 => Just(0b111u8), 3 => (0u8..8).prop_map(|b| b | 0b010), 1 => 0u8..8],
        prop::bool::weighted(0.7),
        prop::option::weighted(0.2, any::<usize>()),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(party, category, classification, rel, tearline, corrects, long)| Action::Submit {
            party,
            category,
            classification,
            rel,
            tearline,
            corrects,
            long,
        })
}

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1..=10 * SECOND,
        3 => 1..=2 * HOUR,
        1 => 20 * HOUR..=30 * HOUR,
    ]
}

fn forgery() -> impl Strategy<Value = Forgery> {
    prop_oneof![
        Just(Forgery::WrongSender),
        Just(Forgery::WrongNation),
        Just(Forgery::AlteredDecision),
        Just(Forgery::UnapprovedDelivery),
        Just(Forgery::WrongOriginator),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => submit(),
        4 => (0..2usize, prop::bool::weighted(0.85), any::<usize>(), kind())
            .prop_map(|(nation, from_pending, pick, kind)| Action::Decide { nation, from_pending, pick, kind }),
        8 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
        2 => (any::<usize>(), 0..4usize).prop_map(|(pick, link)| Action::Replay { pick, link }),
        2 => advance().prop_map(|ms| Action::Advance { ms }),
        2 => (forgery(), any::<usize>(), any::<usize>()).prop_map(|(forgery, pick, alt)| Action::Forge { forgery, pick, alt }),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let ceiling = prop_oneof![1 => Just(Classification::Confidential), 3 => Just(Classification::Secret), 1 => Just(Classification::TopSecret)];
    let expiry = prop_oneof![1 => Just(10 * MINUTE), 1 => Just(2 * HOUR), 2 => Just(DAY)];
    (ceiling.clone(), ceiling, expiry).prop_map(|(kr_ceiling, jp_ceiling, expiry)| Policy {
        kr_ceiling,
        jp_ceiling,
        request_expiry: Duration::from_millis(expiry),
        ..Policy::default()
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, max_shrink_iters: 4096, ..ProptestConfig::default() }
}

// ----------------------------------------------------------------------
// The oracle
// ----------------------------------------------------------------------

type Key = (String, u32);
type ReleaseKey = (String, u32, Party);

/// What an originator submitted, as the driver saw it.
#[derive(Clone, Debug)]
struct Sub {
    originator: Party,
    category: Category,
    classification: Classification,
    /// Releasable-to without the originator itself.
    rel: PartySet,
    content: Content,
    created_at: Timestamp,
}

/// The rules of the arrangement, restated independently of the core.
struct Oracle {
    /// Ceilings and expiry of the agreed policy (the scope is the 2014 one).
    kr_ceiling: Classification,
    jp_ceiling: Classification,
    expiry: u64,
    next: usize,
    ids: BTreeMap<Party, Vec<String>>,
    revisions: HashMap<String, u32>,
    submitted: HashMap<Key, Sub>,
    /// Request ids the hub may open, and what each names.
    requests: Vec<(RequestId, ReleaseKey)>,
    by_rid: HashMap<RequestId, ReleaseKey>,
    /// When each genuine national report first reached the hub (the hub opens
    /// its release request right then).
    at_hub: HashMap<Key, Timestamp>,
    /// Successful decide commands.
    decisions: HashMap<ReleaseKey, Vec<(Timestamp, Kind)>>,
    /// When each logged decision first reached the hub.
    decision_at_hub: HashMap<ReleaseKey, Timestamp>,
}

fn in_scope(c: Category) -> bool {
    matches!(c, Category::NkNuclear | Category::NkMissile)
}

impl Oracle {
    fn new(p: &Policy) -> Oracle {
        Oracle {
            kr_ceiling: p.kr_ceiling,
            jp_ceiling: p.jp_ceiling,
            expiry: duration_ms(p.request_expiry),
            next: 0,
            ids: BTreeMap::new(),
            revisions: HashMap::new(),
            submitted: HashMap::new(),
            requests: Vec::new(),
            by_rid: HashMap::new(),
            at_hub: HashMap::new(),
            decisions: HashMap::new(),
            decision_at_hub: HashMap::new(),
        }
    }

    fn ceiling(&self, p: Party) -> Classification {
        match p {
            Party::Kr => self.kr_ceiling,
            Party::Jp => self.jp_ceiling,
            Party::Us => Classification::TopSecret,
        }
    }

    /// May `s` ever travel, through the hub, to the other nation `to`?
    fn trilateral_ok(&self, s: &Sub, to: Party) -> bool {
        !s.originator.is_hub()
            && !to.is_hub()
            && to != s.originator
            && in_scope(s.category)
            && s.classification <= self.ceiling(s.originator).min(self.ceiling(to))
            && s.rel.contains(to)
    }

    /// When the request for `key` expires (or would), if the report reached the hub.
    fn expires_at(&self, key: &Key) -> Option<Timestamp> {
        self.at_hub.get(key).map(|t| Timestamp(t.0 + self.expiry))
    }

    /// The verdict on a report found in `at`'s inbox (or announced by a
    /// `Received` event, `released: None`).
    fn judge(&self, at: Party, d: &Delivery, released: Option<&Released>, tearline_only: bool) -> Result<(), String> {
        let h = &d.header;
        let key = (h.id.as_str().to_owned(), h.revision);
        let s = self.submitted.get(&key).ok_or_else(|| format!("{at:?} holds {key:?}, which nobody submitted"))?;
        let expect = (s.originator, s.category, s.classification, s.rel, s.created_at);
        let got = (h.originator, h.category, h.classification, h.releasable_to, h.created_at);
        if expect != got {
            return Err(format!("{at:?} holds {key:?} with header {got:?}, submitted as {expect:?}"));
        }
        if s.originator == at {
            return Err(format!("{at:?} was delivered its own report {key:?}"));
        }
        if at.is_hub() {
            if d.basis != Basis::Bilateral || released.is_some_and(|r| *r != Released::Full(s.content.clone())) {
                return Err(format!("the hub holds {key:?} differing from what was submitted"));
            }
            return Ok(());
        }
        if s.originator.is_hub() {
            if d.basis != Basis::Bilateral || d.request_id.is_some() || tearline_only {
                return Err(format!("{at:?}: the hub's {key:?} arrived as {:?}", d.basis));
            }
            if !s.rel.contains(at) || s.classification > self.ceiling(at) {
                return Err(format!("{at:?} received the hub's {key:?} against releasable-to or its ceiling"));
            }
            if released.is_some_and(|r| *r != Released::Full(s.content.clone())) {
                return Err(format!("{at:?} received the hub's {key:?} with other content"));
            }
            return Ok(());
        }
        // A national report, at the other nation.
        if !self.trilateral_ok(s, at) {
            return Err(format!(
                "{at:?} received {key:?}, out of scope, above a ceiling or not releasable to it: {s:?}"
            ));
        }
        if d.basis != Basis::Trilateral {
            return Err(format!("{at:?} received {key:?} as {:?}", d.basis));
        }
        if released.is_some() && d.request_id != Some(rid(&key.0, key.1, at)) {
            return Err(format!("{at:?} received {key:?} naming request {:?}", d.request_id));
        }
        let rk = (key.0.clone(), key.1, at);
        let decisions = self.decisions.get(&rk).map(Vec::as_slice).unwrap_or_default();
        if decisions.iter().any(|(_, k)| *k == Kind::Deny) {
            return Err(format!("{at:?} received {key:?}, which its originator denied: {decisions:?}"));
        }
        let expires =
            self.expires_at(&key).ok_or_else(|| format!("{at:?} received {key:?}, which never reached the hub"))?;
        let approvals: Vec<_> = decisions.iter().filter(|(t, _)| *t < expires).collect();
        let [(_, kind)] = approvals.as_slice() else {
            return Err(format!(
                "{at:?} received {key:?} without exactly one approval before {expires:?}: {decisions:?}"
            ));
        };
        let reached = self.decision_at_hub.get(&rk);
        if reached.is_none_or(|t| *t >= expires) {
            return Err(format!(
                "{at:?} received {key:?}, but the approval reached the hub at {reached:?}, expiry {expires:?}"
            ));
        }
        if (*kind == Kind::Tearline) != tearline_only {
            return Err(format!(
                "{at:?} received {key:?} (tearline only: {tearline_only}) but it was approved {kind:?}"
            ));
        }
        match released {
            None => Ok(()),
            Some(Released::Full(c)) if *kind == Kind::Full && *c == s.content => Ok(()),
            Some(Released::Tearline(t)) if *kind == Kind::Tearline && s.content.tearline.as_ref() == Some(t) => Ok(()),
            Some(_) => Err(format!("{at:?} received {key:?} with content other than what was approved")),
        }
    }
}

// ----------------------------------------------------------------------
// The driver
// ----------------------------------------------------------------------

struct World {
    sim: Sim,
    o: Oracle,
    /// Events already judged, per node.
    judged: [usize; 3],
    /// `Received` events per (node, id, revision).
    received: HashMap<(Party, String, u32), usize>,
    /// (to, link, message id) handed over and accepted at least once.
    accepted: HashSet<(Party, Party, MessageId)>,
    forged: usize,
}

fn party(i: usize) -> Party {
    Party::ALL[i % 3]
}

impl World {
    fn new(policy: Policy) -> World {
        World {
            o: Oracle::new(&policy),
            sim: Sim::with_policy(policy),
            judged: [0; 3],
            received: HashMap::new(),
            accepted: HashSet::new(),
            forged: 0,
        }
    }

    /// Hands `env` to `to` on `link`, keeping the oracle's log of arrivals
    /// at the hub and asserting that repeating an accepted envelope is a no-op.
    fn hand(&mut self, to: Party, link: Party, env: Envelope) -> Result<bool, TestCaseError> {
        if let Payload::Report(r) = &env.payload {
            let key = (r.header.id.as_str().to_owned(), r.header.revision);
            let genuine = self
                .o
                .submitted
                .get(&key)
                .is_some_and(|s| s.content == r.content && s.originator == r.header.originator);
            if to.is_hub() && link == env.sender && link == r.header.originator && genuine {
                self.o.at_hub.entry(key).or_insert(self.sim.now);
            }
        }
        if let Payload::ReleaseDecision(d) = &env.payload {
            let key = (d.report_id.as_str().to_owned(), d.revision, d.recipient);
            let kind = match d.decision {
                Decision::ApproveFull => Kind::Full,
                Decision::ApproveTearline => Kind::Tearline,
                Decision::Deny { .. } => Kind::Deny,
            };
            let logged = self.o.decisions.get(&key).is_some_and(|v| v.iter().any(|(_, k)| *k == kind));
            let genuine = logged && d.request_id == rid(&key.0, key.1, key.2) && key.0.starts_with(link.code());
            if to.is_hub() && link == env.sender && genuine {
                self.o.decision_at_hub.entry(key).or_insert(self.sim.now);
            }
        }
        let tag = (to, link, env.message_id.clone());
        let repeat = self.accepted.contains(&tag);
        let (log0, ev0) = (self.sim.log().len(), self.sim.events(to).len());
        self.sim.inject(to, link, env);
        let new_events = &self.sim.events(to)[ev0..];
        let rejected = new_events.iter().any(|e| matches!(e, Event::Rejected { .. }));
        if repeat {
            prop_assert_eq!(self.sim.log().len(), log0, "a repeat of an accepted envelope produced transmits");
            prop_assert!(
                new_events.iter().all(|e| matches!(e, Event::Progress { .. } | Event::RejectionReceived { .. })),
                "a repeat of an accepted envelope produced {:?}",
                new_events
            );
        } else if !rejected {
            self.accepted.insert(tag);
        }
        Ok(rejected)
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        for p in Party::ALL {
            let events = self.sim.events(p)[self.judged[idx(p)]..].to_vec();
            self.judged[idx(p)] += events.len();
            for e in events {
                if let Event::Received { header, basis, tearline_only, .. } = e {
                    prop_assert!(!p.is_hub(), "the hub received a delivery");
                    let d = Delivery {
                        header: header.clone(),
                        released: Released::Tearline(Sensitive::default()),
                        basis,
                        request_id: None,
                    };
                    self.o.judge(p, &d, None, tearline_only).map_err(TestCaseError::fail)?;
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
                let tearline_only = matches!(d.released, Released::Tearline(_));
                self.o.judge(p, d, Some(&d.released), tearline_only).map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    }

    fn run(&mut self, a: &Action) -> Result<(), TestCaseError> {
        match a {
            Action::Submit { party: pi, category, classification, rel, tearline, corrects, long } => {
                self.submit(party(*pi), *category, *classification, *rel, *tearline, *corrects, *long)?
            }
            Action::Decide { nation, from_pending, pick, kind } => {
                self.decide(Party::NATIONS[*nation], *from_pending, *pick, *kind)?
            }
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
    fn submit(
        &mut self,
        p: Party,
        category: usize,
        classification: usize,
        rel_bits: u8,
        tearline: bool,
        corrects: Option<usize>,
        long: bool,
    ) -> Result<(), TestCaseError> {
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
        let draft = Draft {
            category,
            classification,
            releasable_to: rel,
            content: content.clone(),
            corrects: corrects.then(|| report_id(&id)),
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
        let sub = Sub { originator: p, category, classification, rel: to, content, created_at: self.sim.now };
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
        }
        self.o.submitted.insert((id, revision), sub);
        Ok(())
    }

    fn decide(&mut self, p: Party, from_pending: bool, pick: usize, kind: Kind) -> Result<(), TestCaseError> {
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
                    self.o.expires_at(&(named.0, named.1)),
                    "expiry is not hub arrival + policy"
                );
            }
            pending.into_iter().map(|v| v.request.request_id).collect()
        } else {
            self.o.requests.iter().filter(|(_, k)| k.0.starts_with(p.code())).map(|(r, _)| r.clone()).collect()
        };
        if candidates.is_empty() {
            return Ok(());
        }
        let r = candidates[pick % candidates.len()].clone();
        let result = match kind {
            Kind::Full => self.sim.approve(p, &r, false),
            Kind::Tearline => self.sim.approve(p, &r, true),
            Kind::Deny => self.sim.deny(p, &r, "not now"),
        };
        if result.is_ok() {
            let key = self.o.by_rid.get(&r).cloned().expect("known request");
            let s = &self.o.submitted[&(key.0.clone(), key.1)];
            prop_assert_eq!(s.originator, p);
            prop_assert!(
                kind != Kind::Tearline || s.content.tearline.is_some(),
                "tearline-only approval without a tearline"
            );
            let expires = self.o.expires_at(&(key.0.clone(), key.1));
            prop_assert!(expires.is_some_and(|t| self.sim.now < t), "{:?} decided {:?} outside its window", p, key);
            let log = self.o.decisions.entry(key.clone()).or_default();
            prop_assert!(log.is_empty(), "a second decision on {:?}: {:?} then {:?}", key, log, kind);
            log.push((self.sim.now, kind));
        }
        Ok(())
    }

    /// Injects a forgery and asserts it was refused (and answered at most by a rejection notice).
    fn forge(&mut self, forgery: Forgery, pick: usize, alt: usize) -> Result<(), TestCaseError> {
        let now = self.sim.now;
        self.forged += 1;
        let mid = |who: Party, n: usize| MessageId::new(format!("{}.forged.{n}", who.code())).expect("id");
        let n = self.forged;
        let (to, link, env) = match forgery {
            Forgery::WrongSender => {
                let log = self.sim.log();
                if log.is_empty() {
                    return Ok(());
                }
                let mut env = log[pick % log.len()].transmit.envelope.clone();
                let (from, to) = LINKS[alt % 4];
                let others: Vec<Party> = Party::ALL.into_iter().filter(|q| *q != from).collect();
                env.sender = others[(alt / 4) % 2];
                env.message_id = mid(env.sender, n);
                (to, from, env)
            }
            Forgery::WrongNation => {
                if self.o.requests.is_empty() {
                    return Ok(());
                }
                let (r, (id, rev, recipient)) = self.o.requests[pick % self.o.requests.len()].clone();
                // The recipient (or its impersonator) approves on its own behalf.
                let decision =
                    [Decision::ApproveFull, Decision::ApproveTearline, Decision::Deny { reason: "x".into() }][alt % 3]
                        .clone();
                let d = ReleaseDecision {
                    request_id: r,
                    report_id: report_id(&id),
                    revision: rev,
                    recipient,
                    decision,
                    decided_at: now,
                };
                (US, recipient, envelope(recipient, mid(recipient, n).as_str(), now, Payload::ReleaseDecision(d)))
            }
            Forgery::AlteredDecision => {
                let sent: Vec<Envelope> = self
                    .sim
                    .log()
                    .iter()
                    .filter(|s| matches!(s.transmit.envelope.payload, Payload::ReleaseDecision(_)))
                    .map(|s| s.transmit.envelope.clone())
                    .collect();
                if sent.is_empty() {
                    return Ok(());
                }
                let mut env = sent[pick % sent.len()].clone();
                let Payload::ReleaseDecision(d) = &mut env.payload else { unreachable!() };
                match alt % 4 {
                    0 => {
                        let others: Vec<&RequestId> =
                            self.o.requests.iter().map(|(r, _)| r).filter(|r| **r != d.request_id).collect();
                        d.request_id = match others.as_slice() {
                            [] => rid(d.report_id.as_str(), 999, d.recipient),
                            o => o[(alt / 4) % o.len()].clone(),
                        };
                    }
                    1 => {
                        let ids: Vec<&String> =
                            self.o.ids.values().flatten().filter(|i| **i != d.report_id.as_str()).collect();
                        d.report_id = match ids.as_slice() {
                            [] => report_id("KR-9999"),
                            o => report_id(o[(alt / 4) % o.len()]),
                        };
                    }
                    2 => d.revision = d.revision.wrapping_add(1 + (alt / 4 % 3) as u32),
                    _ => {
                        let others: Vec<Party> = Party::ALL.into_iter().filter(|q| *q != d.recipient).collect();
                        d.recipient = others[(alt / 4) % 2];
                    }
                }
                env.message_id = mid(env.sender, n);
                (US, env.sender, env)
            }
            Forgery::UnapprovedDelivery => {
                let national: Vec<(&Key, &Sub)> =
                    self.o.submitted.iter().filter(|(_, s)| !s.originator.is_hub()).collect();
                if national.is_empty() {
                    return Ok(());
                }
                let mut national = national;
                national.sort_by(|a, b| a.0.cmp(b.0));
                let ((id, rev), s) = national[pick % national.len()];
                let origin = s.originator;
                let third = origin.other_nation().expect("a nation");
                let d = Delivery {
                    header: ReportHeader {
                        id: report_id(id),
                        revision: *rev,
                        originator: origin,
                        created_at: s.created_at,
                        category: s.category,
                        classification: s.classification,
                        releasable_to: s.rel,
                    },
                    released: if alt.is_multiple_of(2) {
                        Released::Full(s.content.clone())
                    } else {
                        Released::Tearline(s.content.tearline.clone().unwrap_or_default())
                    },
                    basis: Basis::Trilateral,
                    request_id: Some(rid(id, *rev, third)),
                };
                // The originator itself, or the hub's name on the nations' direct link.
                let (sender, link) = [(origin, US), (US, origin), (origin, origin)][(alt / 2) % 3];
                (third, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Delivery(d)))
            }
            Forgery::WrongOriginator => {
                let national: Vec<(&Key, &Sub)> =
                    self.o.submitted.iter().filter(|(_, s)| !s.originator.is_hub()).collect();
                if national.is_empty() {
                    return Ok(());
                }
                let mut national = national;
                national.sort_by(|a, b| a.0.cmp(b.0));
                let ((id, rev), s) = national[pick % national.len()];
                let other = s.originator.other_nation().expect("a nation");
                let mut header = ReportHeader {
                    id: report_id(id),
                    revision: *rev,
                    originator: s.originator,
                    created_at: s.created_at,
                    category: s.category,
                    classification: s.classification,
                    releasable_to: s.rel,
                };
                // The other nation passes it off as its own, or relays it under its originator's name.
                let (sender, link) = if alt.is_multiple_of(2) {
                    header.originator = other;
                    (s.originator, s.originator)
                } else {
                    (other, other)
                };
                let r = Report { header, content: s.content.clone() };
                (US, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Report(r)))
            }
        };
        let log0 = self.sim.log().len();
        let inbox0 = self.sim.inbox(to).len();
        let kind = env.payload.kind();
        let rejected = self.hand(to, link, env)?;
        prop_assert!(
            rejected,
            "{:?} at {:?} on link {:?} was not refused: {:?}",
            forgery,
            to,
            link,
            self.sim.events(to).last()
        );
        prop_assert_eq!(self.sim.inbox(to).len(), inbox0);
        let answers = &self.sim.log()[log0..];
        prop_assert!(
            answers.len() <= 1
                && answers.iter().all(|s| s.from == to
                    && s.transmit.to == link
                    && matches!(s.transmit.envelope.payload, Payload::Rejection(_)))
        );
        prop_assert_eq!(answers.len(), usize::from(link_exists(to, link) && kind != "rejection"));
        Ok(())
    }

    /// Delivers everything in flight, checking as it goes.
    fn settle(&mut self) -> Result<(), TestCaseError> {
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

fn idx(p: Party) -> usize {
    match p {
        Party::Kr => 0,
        Party::Us => 1,
        Party::Jp => 2,
    }
}

// ----------------------------------------------------------------------
// Properties
// ----------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Whatever the parties, the network, the clock and an attacker do,
    /// every report in every inbox got there by the rules.
    #[test]
    fn safety(policy in policy(), actions in prop::collection::vec(action(), 1..150)) {
        let mut w = World::new(policy);
        for a in &actions {
            w.run(a)?;
        }
        w.settle()?;
        w.sim.advance(3 * DAY);
        w.settle()?;
        for p in Party::ALL {
            prop_assert_eq!(w.sim.node(p).poll_timeout(), None, "{:?} still has a timer after every request expired", p);
        }
    }

    /// With every message delivered (in any cross-link order) and every
    /// request approved in time, every eligible report reaches its third
    /// party, and nobody refuses anything.
    #[test]
    fn liveness(
        policy in policy().prop_map(|p| Policy { request_expiry: Duration::from_millis(DAY), ..p }),
        actions in prop::collection::vec(prop_oneof![
            2 => submit(),
            6 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
            1 => (1..=10 * SECOND).prop_map(|ms| Action::Advance { ms }),
        ], 1..120),
        tearline_bias in any::<u64>(),
    ) {
        let mut w = World::new(policy);
        let approve_all = |w: &mut World| -> Result<(), TestCaseError> {
            for nation in Party::NATIONS {
                for v in w.sim.pending(nation) {
                    let tearline = v.has_tearline && (tearline_bias >> (w.o.next % 64)) & 1 == 1;
                    let kind = if tearline { Kind::Tearline } else { Kind::Full };
                    let pos = w.sim.pending(nation).iter().position(|x| x.request == v.request).unwrap();
                    w.run(&Action::Decide { nation: idx(nation) / 2, from_pending: true, pick: pos, kind })?;
                    prop_assert!(w.sim.pending(nation).iter().all(|x| x.request != v.request), "approval failed");
                }
            }
            Ok(())
        };
        for a in &actions {
            w.run(a)?;
            approve_all(&mut w)?;
        }
        while w.sim.in_flight_total() > 0 {
            w.settle()?;
            approve_all(&mut w)?;
        }
        for p in Party::ALL {
            prop_assert!(w.sim.rejected(p).is_empty(), "{:?} refused {:?}", p, w.sim.rejected(p));
        }
        for ((id, rev), s) in &w.o.submitted {
            let targets: Vec<Party> = match s.originator.other_nation() {
                Some(third) => {
                    prop_assert!(w.sim.has(US, id, *rev), "the hub does not hold {}/{}", id, rev);
                    if w.o.trilateral_ok(s, third) { vec![third] } else { vec![] }
                }
                None => s.rel.iter().collect(),
            };
            for t in Party::NATIONS {
                if t != s.originator {
                    prop_assert_eq!(w.sim.has(t, id, *rev), targets.contains(&t), "{}/{} at {:?}: {:?}", id, rev, t, s);
                }
            }
            for t in targets {
                let st = w.sim.recipient_state(s.originator, id, *rev, t);
                prop_assert!(matches!(st, Some(RecipientState::Delivered { .. })), "{}/{} for {:?} is {:?}", id, rev, t, st);
            }
        }
    }
}
