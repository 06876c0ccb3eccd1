//! Random interleavings of the three parties on the fake clock, checked
//! against an oracle that knows nothing of the core's internals: it keeps its
//! own log of what the originators submitted, approved, denied, granted and
//! revoked (and of when each of those reached the hub, and each revocation
//! the recipient), and judges by the rules of the arrangement alone:
//!
//! - every delivery the hub sends: justified by an approval that reached the
//!   hub in time, or by a grant the hub held and had not seen revoked;
//! - every report that lands in an inbox, when it lands (whoever built it,
//!   the genuine hub or a compromised one): justified by a logged approval of
//!   exactly that report, revision, recipient and form, or by a logged grant
//!   covering it whose revocation had not reached the recipient; never out of
//!   scope, over a ceiling or not releasable; content exactly as submitted.
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
    /// (`long`: an id long enough that request ids must be shortened;
    /// `submitter`: the clerk, either approver, or nobody.)
    Submit {
        party: usize,
        category: usize,
        classification: usize,
        rel: u8,
        tearline: bool,
        corrects: Option<usize>,
        long: bool,
        submitter: usize,
    },
    /// A nation decides a request, as approver `who`: one of its pending
    /// ones, or any it may have been asked.
    Decide { nation: usize, from_pending: bool, pick: usize, kind: Kind, who: usize },
    /// A nation issues a standing grant (`cats`: bits over `Category::ALL`;
    /// out-of-scope or empty ones must be refused).
    Grant { nation: usize, cats: u8, max: usize, tearline_only: bool, lapse: Option<u64>, who: usize },
    /// A nation revokes one of its grants (perhaps again).
    Revoke { nation: usize, pick: usize, who: usize },
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
    /// A decision that was sent, replayed with one of request/report/revision/recipient altered
    /// (in its fields, or re-signed), or presented whole as another request's.
    AlteredDecision,
    /// A delivery of a nation's report from a sender that is not the hub or
    /// over a link that is not the hub's.
    UnapprovedDelivery,
    /// A report whose originator is not the party on the link.
    WrongOriginator,
    /// A report on its originator's link whose manifest does not verify:
    /// tampered content or header, signed by another key, another's manifest.
    TamperedReport,
    /// A delivery crafted by a compromised hub, on the genuine hub→nation
    /// link with sender US: no consent, consent replayed from elsewhere or
    /// signed by a wrong key, tampered content, header or manifest.
    HubDelivery,
    /// A nation's approver grants or revokes under the other nation's grant ids.
    CrossParty,
    /// Grants and revocations signed by a key that may not sign them, relayed
    /// by the other nation, or not matching their signed bytes.
    BadGrant,
    /// Under the two-person rule, an approval signed by the report's own
    /// submitter: sent by its originator's node (skipping the rule), or
    /// delivered by a compromised hub.
    SelfApproval,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![3 => Just(Kind::Full), 2 => Just(Kind::Tearline), 2 => Just(Kind::Deny)]
}

fn submit(nobody: bool) -> impl Strategy<Value = Action> {
    (
        prop_oneof![3 => Just(0usize), 1 => Just(1usize), 3 => Just(2usize)],
        prop_oneof![3 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)],
        prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => Just(2usize), 1 => Just(3usize)],
        // Mostly the whole trilateral set, often the hub and one nation, sometimes anything.
        prop_oneof![4 => Just(0b111u8), 3 => (0u8..8).prop_map(|b| b | 0b010), 1 => 0u8..8],
        prop::bool::weighted(0.7),
        prop::option::weighted(0.2, any::<usize>()),
        prop::bool::weighted(0.15),
        if nobody { (0..4usize).boxed() } else { (0..3usize).boxed() },
    )
        .prop_map(|(party, category, classification, rel, tearline, corrects, long, submitter)| Action::Submit {
            party,
            category,
            classification,
            rel,
            tearline,
            corrects,
            long,
            submitter,
        })
}

fn decide() -> impl Strategy<Value = Action> {
    (0..2usize, prop::bool::weighted(0.85), any::<usize>(), kind(), 0..2usize)
        .prop_map(|(nation, from_pending, pick, kind, who)| Action::Decide { nation, from_pending, pick, kind, who })
}

fn grant(lapsing: bool) -> impl Strategy<Value = Action> {
    (
        0..2usize,
        // Mostly valid (NK_NUCLEAR and/or NK_MISSILE), sometimes anything (OTHER, none).
        if lapsing { prop_oneof![6 => 1u8..4, 1 => 0u8..8].boxed() } else { (1u8..4).boxed() },
        prop_oneof![1 => Just(1usize), 3 => Just(2usize), 1 => Just(3usize)],
        prop::bool::weighted(0.3),
        if lapsing { prop::option::weighted(0.3, 1..=2 * HOUR).boxed() } else { Just(None).boxed() },
        0..2usize,
    )
        .prop_map(|(nation, cats, max, tearline_only, lapse, who)| Action::Grant {
            nation,
            cats,
            max,
            tearline_only,
            lapse,
            who,
        })
}

fn revoke() -> impl Strategy<Value = Action> {
    (0..2usize, any::<usize>(), 0..2usize).prop_map(|(nation, pick, who)| Action::Revoke { nation, pick, who })
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
        1 => Just(Forgery::WrongSender),
        1 => Just(Forgery::WrongNation),
        1 => Just(Forgery::AlteredDecision),
        1 => Just(Forgery::UnapprovedDelivery),
        1 => Just(Forgery::WrongOriginator),
        1 => Just(Forgery::TamperedReport),
        4 => Just(Forgery::HubDelivery),
        1 => Just(Forgery::CrossParty),
        1 => Just(Forgery::BadGrant),
        1 => Just(Forgery::SelfApproval),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => submit(true),
        4 => decide(),
        1 => grant(true),
        1 => revoke(),
        8 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
        2 => (any::<usize>(), 0..4usize).prop_map(|(pick, link)| Action::Replay { pick, link }),
        2 => advance().prop_map(|ms| Action::Advance { ms }),
        3 => (forgery(), any::<usize>(), any::<usize>()).prop_map(|(forgery, pick, alt)| Action::Forge { forgery, pick, alt }),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let ceiling = prop_oneof![1 => Just(Classification::Confidential), 3 => Just(Classification::Secret), 1 => Just(Classification::TopSecret)];
    let expiry = prop_oneof![1 => Just(10 * MINUTE), 1 => Just(2 * HOUR), 2 => Just(DAY)];
    (ceiling.clone(), ceiling, expiry, prop::bool::weighted(0.3)).prop_map(
        |(kr_ceiling, jp_ceiling, expiry, two_person_rule)| Policy {
            kr_ceiling,
            jp_ceiling,
            request_expiry: Duration::from_millis(expiry),
            two_person_rule,
            ..Policy::default()
        },
    )
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
    /// The operator named as submitter ("" for nobody).
    submitter: String,
}

/// A standing grant as the driver issued it.
#[derive(Clone, Debug)]
struct LoggedGrant {
    originator: Party,
    recipient: Party,
    categories: Vec<Category>,
    max: Classification,
    tearline_only: bool,
    issued_at: Timestamp,
    not_after: Option<Timestamp>,
    /// The message its originator's node sent (for recognising it on the wire).
    msg: Grant,
}

/// The rules of the arrangement, restated independently of the core.
struct Oracle {
    /// Ceilings, expiry and two-person rule of the agreed policy (the scope is the 2014 one).
    kr_ceiling: Classification,
    jp_ceiling: Classification,
    expiry: u64,
    two_person: bool,
    next: usize,
    ids: BTreeMap<Party, Vec<String>>,
    revisions: HashMap<String, u32>,
    submitted: HashMap<Key, Sub>,
    /// The report each originator put on the wire for each submission.
    sent_reports: HashMap<Key, Report>,
    /// Request ids the hub may open, and what each names.
    requests: Vec<(RequestId, ReleaseKey)>,
    by_rid: HashMap<RequestId, ReleaseKey>,
    /// When each genuine national report first reached the hub.
    at_hub: HashMap<Key, Timestamp>,
    /// Successful decide commands: when, what, and at which tick.
    decisions: HashMap<ReleaseKey, Vec<(Timestamp, Kind, u64)>>,
    /// The decision message each successful decide command sent.
    decision_msgs: HashMap<ReleaseKey, ReleaseDecision>,
    /// When each logged decision first reached the hub.
    decision_at_hub: HashMap<ReleaseKey, Timestamp>,
    /// Successful grant commands, and the tick each grant reached the hub.
    grants: BTreeMap<String, LoggedGrant>,
    grant_at_hub: HashMap<String, u64>,
    /// Successful revoke commands' messages, and the tick the first of them
    /// reached the hub, and the grant's recipient.
    revocations: HashMap<String, Vec<Revocation>>,
    revoked_at_hub: HashMap<String, u64>,
    revoked_at_recipient: HashMap<String, u64>,
    /// (report, revision, recipient) the hub forwarded.
    forwarded: HashSet<ReleaseKey>,
    /// When each report entered each nation's inbox (tick, clock).
    receipts: HashMap<(Party, Key), (u64, Timestamp)>,
}

fn in_scope(c: Category) -> bool {
    matches!(c, Category::NkNuclear | Category::NkMissile)
}

fn kind_of(tearline_only: bool) -> Kind {
    if tearline_only {
        Kind::Tearline
    } else {
        Kind::Full
    }
}

/// Whether `released` (if known) is exactly the submitted content, in the form named.
fn content_ok(s: &Sub, released: Option<&Released>, tearline_only: bool) -> bool {
    match released {
        None => true,
        Some(Released::Full(c)) => !tearline_only && *c == s.content,
        Some(Released::Tearline(t)) => tearline_only && s.content.tearline.as_ref() == Some(t),
    }
}

impl Oracle {
    fn new(p: &Policy) -> Oracle {
        Oracle {
            kr_ceiling: p.kr_ceiling,
            jp_ceiling: p.jp_ceiling,
            expiry: duration_ms(p.request_expiry),
            two_person: p.two_person_rule,
            next: 0,
            ids: BTreeMap::new(),
            revisions: HashMap::new(),
            submitted: HashMap::new(),
            sent_reports: HashMap::new(),
            requests: Vec::new(),
            by_rid: HashMap::new(),
            at_hub: HashMap::new(),
            decisions: HashMap::new(),
            decision_msgs: HashMap::new(),
            decision_at_hub: HashMap::new(),
            grants: BTreeMap::new(),
            grant_at_hub: HashMap::new(),
            revocations: HashMap::new(),
            revoked_at_hub: HashMap::new(),
            revoked_at_recipient: HashMap::new(),
            forwarded: HashSet::new(),
            receipts: HashMap::new(),
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

    /// Whether grant `g` covers `s` for `to`, in this form, at `now`. A grant
    /// releases in advance: reports made before it was issued are not covered.
    fn covers(&self, g: &LoggedGrant, s: &Sub, to: Party, tearline_only: bool, now: Timestamp) -> bool {
        g.originator == s.originator
            && g.recipient == to
            && g.categories.contains(&s.category)
            && s.classification <= g.max
            && s.created_at >= g.issued_at
            && g.not_after.is_none_or(|t| now < t)
            && g.tearline_only == tearline_only
            && (!tearline_only || s.content.tearline.is_some())
    }

    /// A grant the hub held at `tick` and had not seen revoked, covering `s`.
    fn granted_at_hub(&self, s: &Sub, to: Party, tearline_only: bool, tick: u64, now: Timestamp) -> bool {
        self.grants.iter().any(|(id, g)| {
            self.covers(g, s, to, tearline_only, now)
                && self.grant_at_hub.get(id).is_some_and(|t| *t < tick)
                && self.revoked_at_hub.get(id).is_none_or(|t| *t > tick)
        })
    }

    /// A logged grant covering `s` whose revocation had not reached `to` by `tick`.
    fn granted_at_recipient(&self, s: &Sub, to: Party, tearline_only: bool, tick: u64, now: Timestamp) -> bool {
        self.grants.iter().any(|(id, g)| {
            self.covers(g, s, to, tearline_only, now) && self.revoked_at_recipient.get(id).is_none_or(|t| *t > tick)
        })
    }

    /// The originator's approval path: exactly one approval, of this form,
    /// decided and arrived at the hub before the request expired.
    fn approved_in_time(&self, key: &Key, rk: &ReleaseKey, tearline_only: bool) -> Result<(), String> {
        let decisions = self.decisions.get(rk).map(Vec::as_slice).unwrap_or_default();
        if decisions.iter().any(|(_, k, _)| *k == Kind::Deny) {
            return Err(format!("its originator denied it: {decisions:?}"));
        }
        let expires = self.expires_at(key).ok_or("it never reached the hub")?;
        let approvals: Vec<_> = decisions.iter().filter(|(t, _, _)| *t < expires).collect();
        let [(_, kind, _)] = approvals.as_slice() else {
            return Err(format!("not exactly one approval before {expires:?}: {decisions:?}"));
        };
        let reached = self.decision_at_hub.get(rk);
        if reached.is_none_or(|t| *t >= expires) {
            return Err(format!("the approval reached the hub at {reached:?}, expiry {expires:?}"));
        }
        if *kind != kind_of(tearline_only) {
            return Err(format!("tearline only: {tearline_only}, but approved {kind:?}"));
        }
        Ok(())
    }

    /// Checks common to every report found anywhere: it was submitted, as it
    /// says, and it is not back with its originator.
    fn submitted_as(&self, at: Party, d: &Delivery) -> Result<(&Sub, Key), String> {
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
        Ok((s, key))
    }

    /// The hub's own report, at a nation.
    fn bilateral_ok(
        &self,
        at: Party,
        s: &Sub,
        key: &Key,
        d: &Delivery,
        released: Option<&Released>,
    ) -> Result<(), String> {
        if d.basis != Basis::Bilateral || d.request_id.is_some() || matches!(released, Some(Released::Tearline(_))) {
            return Err(format!("{at:?}: the hub's {key:?} arrived as {:?}", d.basis));
        }
        if !s.rel.contains(at) || s.classification > self.ceiling(at) {
            return Err(format!("{at:?} received the hub's {key:?} against releasable-to or its ceiling"));
        }
        if released.is_some_and(|r| *r != Released::Full(s.content.clone())) {
            return Err(format!("{at:?} received the hub's {key:?} with other content"));
        }
        Ok(())
    }

    /// Checks every trilateral delivery must pass, wherever it came from.
    fn trilateral_shape(
        &self,
        at: Party,
        s: &Sub,
        key: &Key,
        d: &Delivery,
        released: Option<&Released>,
        tearline_only: bool,
    ) -> Result<(), String> {
        if !self.trilateral_ok(s, at) {
            return Err(format!("{at:?} got {key:?}, out of scope, above a ceiling or not releasable to it: {s:?}"));
        }
        if d.basis != Basis::Trilateral {
            return Err(format!("{at:?} got {key:?} as {:?}", d.basis));
        }
        if released.is_some() && d.request_id != Some(rid(&key.0, key.1, at)) {
            return Err(format!("{at:?} got {key:?} naming request {:?}", d.request_id));
        }
        if !content_ok(s, released, tearline_only) {
            return Err(format!(
                "{at:?} got {key:?} (tearline only: {tearline_only}) with content other than submitted"
            ));
        }
        Ok(())
    }

    /// A delivery the hub sent to `to` while handling the input at `tick`.
    fn judge_forward(&mut self, to: Party, d: &Delivery, tick: u64, now: Timestamp) -> Result<(), String> {
        let (s, key) = self.submitted_as(to, d)?;
        if s.originator.is_hub() {
            return self.bilateral_ok(to, s, &key, d, Some(&d.released));
        }
        let tearline_only = matches!(d.released, Released::Tearline(_));
        self.trilateral_shape(to, s, &key, d, Some(&d.released), tearline_only)?;
        let rk = (key.0.clone(), key.1, to);
        let approved = self.approved_in_time(&key, &rk, tearline_only);
        let granted = self.granted_at_hub(s, to, tearline_only, tick, now);
        if approved.is_err() && !granted {
            return Err(format!(
                "the hub forwarded {key:?} to {to:?} (tearline only: {tearline_only}) without an approval ({}) or a grant it held unrevoked",
                approved.err().unwrap_or_default()
            ));
        }
        if !self.forwarded.insert(rk) {
            return Err(format!("the hub forwarded {key:?} to {to:?} twice"));
        }
        Ok(())
    }

    /// A report in `at`'s inbox (or announced by a `Received` event,
    /// `released: None`), which entered it at `tick`.
    fn judge_receipt(
        &self,
        at: Party,
        d: &Delivery,
        released: Option<&Released>,
        tearline_only: bool,
        (tick, now): (u64, Timestamp),
    ) -> Result<(), String> {
        let (s, key) = self.submitted_as(at, d)?;
        if at.is_hub() {
            return Err("the hub received a delivery".into());
        }
        if s.originator.is_hub() {
            return self.bilateral_ok(at, s, &key, d, released);
        }
        self.trilateral_shape(at, s, &key, d, released, tearline_only)?;
        let rk = (key.0.clone(), key.1, at);
        let decisions = self.decisions.get(&rk).map(Vec::as_slice).unwrap_or_default();
        let approved = decisions.iter().any(|(_, k, t)| *k == kind_of(tearline_only) && *t < tick);
        let granted = self.granted_at_recipient(s, at, tearline_only, tick, now);
        if !approved && !granted {
            return Err(format!(
                "{at:?} received {key:?} (tearline only: {tearline_only}) with no logged approval ({decisions:?}) and no covering unrevoked grant"
            ));
        }
        Ok(())
    }

    /// What the hub holds.
    fn judge_held(&self, d: &Delivery) -> Result<(), String> {
        let (s, key) = self.submitted_as(US, d)?;
        if d.basis != Basis::Bilateral || d.released != Released::Full(s.content.clone()) {
            return Err(format!("the hub holds {key:?} differing from what was submitted"));
        }
        if self.sent_reports.get(&key).is_none_or(|r| r.manifest != d.manifest) {
            return Err(format!("the hub holds {key:?} under a manifest its originator never sent"));
        }
        Ok(())
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
    /// Log entries already searched for hub forwards.
    hub_judged: usize,
    /// `Received` events per (node, id, revision).
    received: HashMap<(Party, String, u32), usize>,
    /// (to, link, message id) handed over and accepted at least once.
    accepted: HashSet<(Party, Party, MessageId)>,
    forged: usize,
    /// Logical time: one tick per envelope handed over and per command.
    tick: u64,
    grants_issued: usize,
}

fn party(i: usize) -> Party {
    Party::ALL[i % 3]
}

/// The deployment's approver named `name`, if any.
fn approver_named(name: &str) -> Option<Identity> {
    Party::ALL.into_iter().flat_map(|p| (0..2).map(move |i| approver(p, i))).find(|a| a.name() == name)
}

impl World {
    fn new(policy: Policy) -> World {
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
    fn last_sent(&self, p: Party) -> Option<&Payload> {
        self.sim.log().iter().rev().find(|s| s.from == p).map(|s| &s.transmit.envelope.payload)
    }

    /// Hands `env` to `to` on `link`, keeping the oracle's log of arrivals,
    /// judging every forward the hub makes and every report entering an
    /// inbox, and asserting that repeating an accepted envelope is a no-op.
    fn hand(&mut self, to: Party, link: Party, env: Envelope) -> Result<bool, TestCaseError> {
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
        let inbox0 = if to.is_hub() { 0 } else { self.sim.inbox(to).len() };
        let (log0, ev0) = (self.sim.log().len(), self.sim.events(to).len());
        self.sim.inject(to, link, env);
        let new_events = &self.sim.events(to)[ev0..];
        let rejected = new_events.iter().any(|e| matches!(e, Event::Rejected { .. }));
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
                    "a repeat of an accepted envelope produced a {} to {}",
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

    /// Judges every delivery the hub put on the wire since the last call.
    fn judge_hub_log(&mut self, tick: u64) -> Result<(), TestCaseError> {
        let new: Vec<Sent> = self.sim.log()[self.hub_judged..].to_vec();
        self.hub_judged = self.sim.log().len();
        for s in new {
            if let (Party::Us, Payload::Delivery(d)) = (s.from, &s.transmit.envelope.payload) {
                self.o.judge_forward(s.transmit.to, d, tick, s.at).map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        self.judge_hub_log(self.tick)?;
        for p in Party::ALL {
            let events = self.sim.events(p)[self.judged[idx(p)]..].to_vec();
            self.judged[idx(p)] += events.len();
            for e in events {
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
                        manifest: Signed { bytes: Vec::new(), signer: String::new(), signature: [0; 64] },
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

    fn run(&mut self, a: &Action) -> Result<(), TestCaseError> {
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
    fn submit(
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
            category,
            classification,
            releasable_to: rel,
            content: content.clone(),
            corrects: corrects.then(|| report_id(&id)),
            submitted_by: submitter.clone(),
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

    fn decide(
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

    fn grant(
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
        let result = self.sim.grant_signed(p, signed.clone());
        let valid = !categories.is_empty() && categories.iter().all(|c| in_scope(*c));
        prop_assert_eq!(result.is_ok(), valid, "grant {:?}: {:?}", doc, result);
        if result.is_err() {
            return Ok(());
        }
        prop_assert_eq!(result.as_ref().ok(), Some(&doc));
        let msg = Grant { doc: doc.clone(), signed };
        prop_assert_eq!(self.last_sent(p), Some(&Payload::Grant(msg.clone())));
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

    fn revoke(&mut self, p: Party, pick: usize, who: usize) -> Result<(), TestCaseError> {
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
    fn national(&self) -> Vec<(Key, Sub)> {
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
    fn sent_payloads<T>(&self, f: impl Fn(&Payload) -> Option<T>) -> Vec<T> {
        self.sim.log().iter().filter_map(|s| f(&s.transmit.envelope.payload)).collect()
    }

    /// Every consent ever put on the wire (decisions and grants).
    fn consents(&self) -> Vec<Consent> {
        let mut v: Vec<Consent> = self.sent_payloads(|p| match p {
            Payload::ReleaseDecision(d) => Some(Consent::Decision(d.clone())),
            Payload::Grant(g) => Some(Consent::Grant(g.clone())),
            _ => None,
        });
        v.sort_by_key(|c| format!("{c:?}"));
        v
    }

    /// Injects a forgery and asserts it was refused (and answered at most by
    /// a rejection notice), or, for a delivery crafted by the hub, that it
    /// was either refused or judged justified as it entered the inbox.
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
                let (_, (id, rev, recipient)) = self.o.requests[pick % self.o.requests.len()].clone();
                let manifest = self.o.sent_reports[&(id.clone(), rev)].manifest.clone();
                // The recipient (or the hub) approves on the originator's behalf.
                let verdict = [Verdict::ApproveFull, Verdict::ApproveTearline, Verdict::Deny][alt % 3];
                let signer = if (alt / 3).is_multiple_of(2) { approver(recipient, 0) } else { approver(US, 1) };
                let doc = decision_doc(&manifest, &id, rev, recipient, verdict, now, signer.name());
                let d = signed_decision(&doc, &signer);
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
                let mut doc = DecisionDoc::parse(&d.signed.bytes).expect("a sent decision parses");
                // Presented whole, consistently, as the decision on another of
                // its originator's requests (only the signed bytes disagree).
                let originator = d.report_id.prefix_party().expect("prefixed");
                let others: Vec<(RequestId, ReleaseKey)> = self
                    .o
                    .requests
                    .iter()
                    .filter(|(r, k)| *r != d.request_id && k.0.starts_with(originator.code()))
                    .cloned()
                    .collect();
                if alt % 5 == 4 && !others.is_empty() {
                    let (r, (id, rev, recipient)) = others[(alt / 5) % others.len()].clone();
                    d.request_id = r;
                    d.report_id = report_id(&id);
                    d.revision = rev;
                    d.recipient = recipient;
                    d.manifest_sha256 = sha256(&self.o.sent_reports[&(id, rev)].manifest.bytes);
                    env.message_id = mid(env.sender, n);
                    let to_link = env.sender;
                    return self.expect_refused(forgery, US, to_link, env);
                }
                match alt % 4 {
                    0 => {
                        let others: Vec<&RequestId> =
                            self.o.requests.iter().map(|(r, _)| r).filter(|r| **r != d.request_id).collect();
                        doc.request_id = match others.as_slice() {
                            [] => rid(d.report_id.as_str(), 999, d.recipient),
                            o => o[(alt / 4) % o.len()].clone(),
                        };
                    }
                    1 => {
                        let ids: Vec<&String> =
                            self.o.ids.values().flatten().filter(|i| **i != d.report_id.as_str()).collect();
                        doc.report_id = match ids.as_slice() {
                            [] => report_id("KR-9999"),
                            o => report_id(o[(alt / 4) % o.len()]),
                        };
                    }
                    2 => doc.revision = doc.revision.wrapping_add(1 + (alt / 4 % 3) as u32),
                    _ => {
                        let others: Vec<Party> = Party::ALL.into_iter().filter(|q| *q != doc.recipient).collect();
                        doc.recipient = others[(alt / 4) % 2];
                    }
                }
                // Either the fields alone are altered, next to the genuine
                // signature, or the approver signs the altered document.
                let altered = if (alt / 16).is_multiple_of(2) {
                    let signed = d.signed.clone();
                    ReleaseDecision {
                        request_id: doc.request_id,
                        report_id: doc.report_id,
                        revision: doc.revision,
                        recipient: doc.recipient,
                        signed,
                        ..d.clone()
                    }
                } else {
                    signed_decision(&doc, &approver_named(&doc.operator).expect("a deployment approver"))
                };
                *d = altered;
                env.message_id = mid(env.sender, n);
                (US, env.sender, env)
            }
            Forgery::UnapprovedDelivery => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let origin = s.originator;
                let third = origin.other_nation().expect("a nation");
                let report = &self.o.sent_reports[key];
                let consents = self.consents();
                let consent = consents.get((alt / 6) % (consents.len() + 1)).cloned();
                let d = trilateral(report, third, !alt.is_multiple_of(2), consent);
                // The originator itself, or the hub's name on the nations' direct link.
                let (sender, link) = [(origin, US), (US, origin), (origin, origin)][(alt / 2) % 3];
                (third, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Delivery(d)))
            }
            Forgery::WrongOriginator => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let other = s.originator.other_nation().expect("a nation");
                let mut r = self.o.sent_reports[key].clone();
                // The other nation passes it off as its own, or relays it under its originator's name.
                let (sender, link) = if alt.is_multiple_of(2) {
                    r.header.originator = other;
                    (s.originator, s.originator)
                } else {
                    (other, other)
                };
                (US, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Report(r)))
            }
            Forgery::TamperedReport => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let origin = s.originator;
                let mut r = self.o.sent_reports[key].clone();
                let forged = Sensitive::new(format!("FORGED-{n}"));
                match alt % 6 {
                    0 => r.content.body = forged,
                    1 => r.content.tearline = Some(forged),
                    2 => r.header.classification = Classification::Unclassified,
                    3 => r.header.releasable_to.insert(origin.other_nation().expect("a nation")),
                    4 => {
                        let wrong = [approver(origin, 0), node_key(US), rogue(node_name(origin))];
                        r.manifest = wrong[(alt / 6) % 3].sign(r.manifest.bytes.clone());
                    }
                    _ => {
                        let mut others: Vec<(&Key, &Report)> =
                            self.o.sent_reports.iter().filter(|(k, _)| *k != key).collect();
                        others.sort_by(|a, b| a.0.cmp(b.0));
                        let Some((_, other)) = others.get((alt / 6) % others.len().max(1)) else { return Ok(()) };
                        r.manifest = other.manifest.clone();
                    }
                }
                if r == self.o.sent_reports[key] {
                    return Ok(()); // the change changed nothing
                }
                (US, origin, envelope(origin, mid(origin, n).as_str(), now, Payload::Report(r)))
            }
            Forgery::HubDelivery => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                // Mostly reports that may travel at all (so the consent is what is tested).
                let eligible: Vec<&(Key, Sub)> = national
                    .iter()
                    .filter(|(_, s)| s.originator.other_nation().is_some_and(|t| self.o.trilateral_ok(s, t)))
                    .collect();
                let (key, s) = match eligible.as_slice() {
                    e if !e.is_empty() && !pick.is_multiple_of(4) => e[(pick / 4) % e.len()].clone(),
                    _ => national[pick % national.len()].clone(),
                };
                let origin = s.originator;
                let third = origin.other_nation().expect("a nation");
                let report = self.o.sent_reports[&key].clone();
                let tearline_only = alt & 1 == 1;
                let sel = alt >> 4;
                // Any consent ever sent, or often one about this report or from its originator.
                let consents = self.consents();
                let related: Vec<&Consent> = consents
                    .iter()
                    .filter(|c| match c {
                        Consent::Decision(d) => d.report_id.as_str() == key.0,
                        Consent::Grant(g) => g.doc.originator == origin,
                    })
                    .collect();
                let any_consent = match related.as_slice() {
                    r if !r.is_empty() && sel & 1 == 1 => Some(r[(sel >> 1) % r.len()].clone()),
                    _ => consents.get((sel >> 1) % (consents.len() + 1)).cloned(),
                };
                let wrong_keys =
                    [approver(third, 0), approver(US, 0), node_key(origin), rogue(approver_names(origin)[sel % 2])];
                let signer = &wrong_keys[(sel / 2) % 4];
                let mut d = trilateral(&report, third, tearline_only, None);
                match (alt >> 1) % 8 {
                    // No consent at all.
                    0 => {}
                    // Any decision or grant ever sent, whatever it names.
                    1 | 2 => d.consent = any_consent,
                    // An approval of exactly this, signed by a key that may not approve it.
                    3 => {
                        let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
                        let doc = decision_doc(&report.manifest, &key.0, key.1, third, verdict, now, signer.name());
                        d.consent = Some(Consent::Decision(signed_decision(&doc, signer)));
                    }
                    // A grant covering exactly this, signed by a key that may not grant.
                    4 => {
                        let doc = GrantDoc {
                            grant_id: format!("{}-G-forged-{n}", origin.code()),
                            originator: origin,
                            recipient: third,
                            categories: vec![s.category],
                            max_classification: s.classification,
                            tearline_only,
                            issued_at: s.created_at,
                            not_after: None,
                            operator: signer.name().to_owned(),
                        };
                        d.consent = Some(Consent::Grant(grant_msg(&doc, signer)));
                    }
                    // Tampered content.
                    5 => {
                        d.consent = any_consent;
                        let forged = Sensitive::new(format!("FORGED-{n}"));
                        d.released = match (d.released, sel % 3) {
                            (Released::Tearline(_), _) => Released::Tearline(forged),
                            (Released::Full(c), 0) => Released::Full(Content { body: forged, ..c }),
                            (Released::Full(c), 1) => Released::Full(Content { tearline: Some(forged), ..c }),
                            (Released::Full(c), _) => Released::Full(Content { title: forged, ..c }),
                        };
                    }
                    // Another report's manifest (perhaps its content too).
                    6 => {
                        d.consent = any_consent;
                        let mut others: Vec<(&Key, &Report)> = self.o.sent_reports.iter().collect();
                        others.sort_by(|a, b| a.0.cmp(b.0));
                        let other = others[sel % others.len()].1;
                        d.manifest = other.manifest.clone();
                        if (sel / 7).is_multiple_of(2) {
                            d.released = trilateral(other, third, tearline_only, None).released;
                        }
                    }
                    // A header widened, down-marked or re-categorised.
                    _ => {
                        d.consent = any_consent;
                        match sel % 3 {
                            0 => d.header.releasable_to.insert(third),
                            1 => d.header.classification = Classification::Unclassified,
                            _ => {
                                d.header.category = match d.header.category {
                                    Category::NkMissile => Category::NkNuclear,
                                    _ => Category::NkMissile,
                                }
                            }
                        }
                    }
                }
                (third, US, envelope(US, mid(US, n).as_str(), now, Payload::Delivery(d)))
            }
            Forgery::CrossParty => {
                let x = Party::NATIONS[alt % 2];
                let y = x.other_nation().expect("a nation");
                let theirs: Vec<&String> =
                    self.o.grants.iter().filter(|(_, g)| g.originator == y).map(|(id, _)| id).collect();
                let id = match theirs.as_slice() {
                    [] => format!("{}-G-{}", y.code(), 1 + (alt >> 2) % 5),
                    _ if (alt >> 1) & 1 == 1 => format!("{}-G-{}", y.code(), self.grants_issued + 1 + (alt >> 2) % 3),
                    t => t[(alt >> 2) % t.len()].clone(),
                };
                let signer = approver(x, (alt >> 5) & 1);
                let payload = if (alt >> 6) & 1 == 0 {
                    let doc = RevocationDoc {
                        grant_id: id,
                        originator: x,
                        revoked_at: now,
                        operator: signer.name().to_owned(),
                    };
                    Payload::Revocation(revocation_msg(&doc, &signer))
                } else {
                    let doc = GrantDoc {
                        grant_id: id,
                        originator: x,
                        recipient: y,
                        categories: vec![Category::NkNuclear, Category::NkMissile],
                        max_classification: Classification::Secret,
                        tearline_only: false,
                        issued_at: now,
                        not_after: None,
                        operator: signer.name().to_owned(),
                    };
                    Payload::Grant(grant_msg(&doc, &signer))
                };
                (US, x, envelope(x, mid(x, n).as_str(), now, payload))
            }
            Forgery::BadGrant => {
                let x = Party::NATIONS[alt % 2];
                let y = x.other_nation().expect("a nation");
                let mine: Vec<LoggedGrant> = self.o.grants.values().filter(|g| g.originator == x).cloned().collect();
                let wrong = [approver(y, 0), node_key(x), rogue(approver_names(x)[0]), approver(US, 0)];
                let signer = &wrong[(alt >> 3) % 4];
                let fresh = GrantDoc {
                    grant_id: format!("{}-G-bad-{n}", x.code()),
                    originator: x,
                    recipient: y,
                    categories: vec![Category::NkNuclear, Category::NkMissile],
                    max_classification: Classification::Secret,
                    tearline_only: false,
                    issued_at: now,
                    not_after: None,
                    operator: signer.name().to_owned(),
                };
                let logged = mine.get((alt >> 5) % mine.len().max(1)).cloned();
                match ((alt >> 1) % 4, logged) {
                    // Relayed by the other nation.
                    (1, Some(g)) => (US, y, envelope(y, mid(y, n).as_str(), now, Payload::Grant(g.msg))),
                    // A revocation of it, signed by a key that may not revoke.
                    (2, Some(g)) => {
                        let doc = RevocationDoc {
                            grant_id: g.msg.doc.grant_id.clone(),
                            originator: x,
                            revoked_at: now,
                            operator: signer.name().to_owned(),
                        };
                        (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Revocation(revocation_msg(&doc, signer))))
                    }
                    // Widened next to its genuine signature.
                    (3, Some(g)) => {
                        let mut msg = g.msg.clone();
                        msg.doc.grant_id = fresh.grant_id.clone();
                        msg.doc.max_classification = Classification::TopSecret;
                        msg.doc.categories = vec![Category::NkNuclear, Category::NkMissile];
                        (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Grant(msg)))
                    }
                    // A new grant signed by a key that may not grant.
                    _ => (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Grant(grant_msg(&fresh, signer)))),
                }
            }
            Forgery::SelfApproval => {
                // Requests not decided yet (the hub absorbs a second decision
                // with the same verdict on a decided request as a no-op).
                let open: Vec<ReleaseKey> = self
                    .o
                    .requests
                    .iter()
                    .map(|(_, k)| k.clone())
                    .filter(|k| !self.o.decisions.contains_key(k))
                    .collect();
                if !self.o.two_person || open.is_empty() {
                    return Ok(());
                }
                let (id, rev, recipient) = open[pick % open.len()].clone();
                let s = &self.o.submitted[&(id.clone(), rev)];
                let origin = s.originator;
                // The submitter, or (for a report nobody signed for) any approver.
                let signer = approver_named(&s.submitter)
                    .filter(|a| approver_names(origin).contains(&a.name()))
                    .or_else(|| s.submitter.is_empty().then(|| approver(origin, alt % 2)));
                let Some(signer) = signer else { return Ok(()) };
                let report = &self.o.sent_reports[&(id.clone(), rev)];
                let tearline_only = (alt / 2) % 2 == 1 && report.content.tearline.is_some();
                let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
                let d = signed_decision(
                    &decision_doc(&report.manifest, &id, rev, recipient, verdict, now, signer.name()),
                    &signer,
                );
                if (alt / 4).is_multiple_of(2) {
                    (US, origin, envelope(origin, mid(origin, n).as_str(), now, Payload::ReleaseDecision(d)))
                } else {
                    let delivery = trilateral(report, recipient, tearline_only, Some(Consent::Decision(d)));
                    (recipient, US, envelope(US, mid(US, n).as_str(), now, Payload::Delivery(delivery)))
                }
            }
        };
        self.expect_refused(forgery, to, link, env)
    }

    /// Hands a forgery to `to` on `link` and asserts it was refused (see [`World::forge`]).
    fn expect_refused(&mut self, forgery: Forgery, to: Party, link: Party, env: Envelope) -> Result<(), TestCaseError> {
        let log0 = self.sim.log().len();
        let inbox0 = self.sim.inbox(to).len();
        let kind = env.payload.kind();
        let rejected = self.hand(to, link, env)?;
        let answers = &self.sim.log()[log0..];
        if matches!(forgery, Forgery::HubDelivery) && !rejected {
            // Accepted: `hand` judged it as it entered the inbox.
            // The only answer: the recipient's signed receipt, to the hub
            // (none for an exact duplicate of what it already holds).
            let only_receipt = answers.is_empty()
                || (answers.len() == 1
                    && answers[0].transmit.to == US
                    && matches!(answers[0].transmit.envelope.payload, Payload::Receipt(_)));
            prop_assert!(only_receipt, "an accepted delivery is answered by exactly one receipt: {:?}", answers);
            return Ok(());
        }
        prop_assert!(
            rejected,
            "{:?} at {:?} on link {:?} was not refused: {:?}",
            forgery,
            to,
            link,
            self.sim.events(to).last()
        );
        prop_assert_eq!(self.sim.inbox(to).len(), inbox0);
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

    /// Whatever the parties, the network, the clock and an attacker
    /// (including a compromised hub) do, every report in every inbox got
    /// there by the rules.
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

    /// With every message delivered (in any cross-link order), every request
    /// approved in time by a second person, and grants issued and revoked,
    /// every eligible report reaches its third party, and nobody refuses anything.
    #[test]
    fn liveness(
        policy in policy().prop_map(|p| Policy { request_expiry: Duration::from_millis(DAY), ..p }),
        actions in prop::collection::vec(prop_oneof![
            2 => submit(false),
            6 => (0..4usize, 1..4usize).prop_map(|(link, n)| Action::Deliver { link, n }),
            1 => (1..=10 * SECOND).prop_map(|ms| Action::Advance { ms }),
            1 => grant(false),
            1 => revoke(),
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
                    let submitter = &w.o.submitted[&(v.header.id.as_str().to_owned(), v.header.revision)].submitter;
                    let who = usize::from(submitter == approver_names(nation)[0]);
                    w.run(&Action::Decide { nation: idx(nation) / 2, from_pending: true, pick: pos, kind, who })?;
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
