//! The oracle: its own log of what the originators submitted, approved,
//! denied, granted and revoked, and the rules of the arrangement alone to
//! judge every delivery and every inbox entry by. It knows nothing of the
//! core's internals.

use super::*;

pub(crate) type Key = (String, u32);
pub(crate) type ReleaseKey = (String, u32, Party);

/// What an originator submitted, as the driver saw it.
#[derive(Clone, Debug)]
pub(crate) struct Sub {
    pub(crate) originator: Party,
    pub(crate) category: Category,
    pub(crate) classification: Classification,
    /// Releasable-to without the originator itself.
    pub(crate) rel: PartySet,
    pub(crate) content: Content,
    pub(crate) created_at: Timestamp,
    /// The operator named as submitter ("" for nobody).
    pub(crate) submitter: String,
}

/// A standing grant as the driver issued it.
#[derive(Clone, Debug)]
pub(crate) struct LoggedGrant {
    pub(crate) originator: Party,
    pub(crate) recipient: Party,
    pub(crate) categories: Vec<Category>,
    pub(crate) max: Classification,
    pub(crate) tearline_only: bool,
    pub(crate) issued_at: Timestamp,
    pub(crate) not_after: Option<Timestamp>,
    /// The message its originator's node sent (for recognising it on the wire).
    pub(crate) msg: Grant,
}

/// The rules of the arrangement, restated independently of the core.
pub(crate) struct Oracle {
    /// Ceilings, expiry and two-person rule of the agreed policy (the scope is the 2014 one).
    pub(crate) kr_ceiling: Classification,
    pub(crate) jp_ceiling: Classification,
    pub(crate) expiry: u64,
    pub(crate) two_person: bool,
    pub(crate) next: usize,
    pub(crate) ids: BTreeMap<Party, Vec<String>>,
    pub(crate) revisions: HashMap<String, u32>,
    pub(crate) submitted: HashMap<Key, Sub>,
    /// The report each originator put on the wire for each submission.
    pub(crate) sent_reports: HashMap<Key, Report>,
    /// Request ids the hub may open, and what each names.
    pub(crate) requests: Vec<(RequestId, ReleaseKey)>,
    pub(crate) by_rid: HashMap<RequestId, ReleaseKey>,
    /// When each genuine national report first reached the hub.
    pub(crate) at_hub: HashMap<Key, Timestamp>,
    /// Successful decide commands: when, what, and at which tick.
    pub(crate) decisions: HashMap<ReleaseKey, Vec<(Timestamp, Kind, u64)>>,
    /// The decision message each successful decide command sent.
    pub(crate) decision_msgs: HashMap<ReleaseKey, ReleaseDecision>,
    /// When each logged decision first reached the hub.
    pub(crate) decision_at_hub: HashMap<ReleaseKey, Timestamp>,
    /// Successful grant commands, and the tick each grant reached the hub.
    pub(crate) grants: BTreeMap<String, LoggedGrant>,
    pub(crate) grant_at_hub: HashMap<String, u64>,
    /// Successful revoke commands' messages, and the tick the first of them
    /// reached the hub, and the grant's recipient.
    pub(crate) revocations: HashMap<String, Vec<Revocation>>,
    pub(crate) revoked_at_hub: HashMap<String, u64>,
    pub(crate) revoked_at_recipient: HashMap<String, u64>,
    /// How fresh a grant-standing statement must be (the agreed window).
    pub(crate) window: u64,
    /// Grant-standing statements each originator put on the wire.
    pub(crate) statements: Vec<Standing>,
    /// When each genuine statement (its issue time) reached the grant's
    /// recipient, by grant: (tick, issued at).
    pub(crate) standing_at_recipient: HashMap<String, Vec<(u64, Timestamp)>>,
    /// (report, revision, recipient) the hub forwarded.
    pub(crate) forwarded: HashSet<ReleaseKey>,
    /// When each report entered each nation's inbox (tick, clock).
    pub(crate) receipts: HashMap<(Party, Key), (u64, Timestamp)>,
}

pub(crate) fn in_scope(c: Category) -> bool {
    matches!(c, Category::NkNuclear | Category::NkMissile)
}

pub(crate) fn kind_of(tearline_only: bool) -> Kind {
    if tearline_only {
        Kind::Tearline
    } else {
        Kind::Full
    }
}

/// Whether `released` (if known) is exactly the submitted content, in the form named.
pub(crate) fn content_ok(s: &Sub, released: Option<&Released>, tearline_only: bool) -> bool {
    match released {
        None => true,
        Some(Released::Full(c)) => !tearline_only && *c == s.content,
        Some(Released::Tearline(t)) => tearline_only && s.content.tearline.as_ref() == Some(t),
    }
}

impl Oracle {
    pub(crate) fn new(p: &Policy) -> Oracle {
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
            window: duration_ms(p.standing_window),
            statements: Vec::new(),
            standing_at_recipient: HashMap::new(),
            forwarded: HashSet::new(),
            receipts: HashMap::new(),
        }
    }

    pub(crate) fn ceiling(&self, p: Party) -> Classification {
        match p {
            Party::Kr => self.kr_ceiling,
            Party::Jp => self.jp_ceiling,
            Party::Us => Classification::TopSecret,
        }
    }

    /// May `s` ever travel, through the hub, to the other nation `to`?
    pub(crate) fn trilateral_ok(&self, s: &Sub, to: Party) -> bool {
        !s.originator.is_hub()
            && !to.is_hub()
            && to != s.originator
            && in_scope(s.category)
            && s.classification <= self.ceiling(s.originator).min(self.ceiling(to))
            && s.rel.contains(to)
    }

    /// When the request for `key` expires (or would), if the report reached the hub.
    pub(crate) fn expires_at(&self, key: &Key) -> Option<Timestamp> {
        self.at_hub.get(key).map(|t| Timestamp(t.0 + self.expiry))
    }

    /// Whether grant `g` covers `s` for `to`, in this form, at `now`. A grant
    /// releases in advance: reports made before it was issued are not covered.
    pub(crate) fn covers(&self, g: &LoggedGrant, s: &Sub, to: Party, tearline_only: bool, now: Timestamp) -> bool {
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
    pub(crate) fn granted_at_hub(&self, s: &Sub, to: Party, tearline_only: bool, tick: u64, now: Timestamp) -> bool {
        self.grants.iter().any(|(id, g)| {
            self.covers(g, s, to, tearline_only, now)
                && self.grant_at_hub.get(id).is_some_and(|t| *t < tick)
                && self.revoked_at_hub.get(id).is_none_or(|t| *t > tick)
        })
    }

    /// A logged grant covering `s` whose revocation had not reached `to` by
    /// `tick`, and of which `to` had by then received a statement, issued by
    /// the originator, that it stands, issued within the window of `now`.
    pub(crate) fn granted_at_recipient(
        &self,
        s: &Sub,
        to: Party,
        tearline_only: bool,
        tick: u64,
        now: Timestamp,
    ) -> bool {
        self.grants.iter().any(|(id, g)| {
            self.covers(g, s, to, tearline_only, now)
                && self.revoked_at_recipient.get(id).is_none_or(|t| *t > tick)
                && self
                    .standing_at_recipient
                    .get(id)
                    .is_some_and(|v| v.iter().any(|(t, at)| *t <= tick && now.0.abs_diff(at.0) <= self.window))
        })
    }

    /// The originator's approval path: exactly one approval, of this form,
    /// decided and arrived at the hub before the request expired.
    pub(crate) fn approved_in_time(&self, key: &Key, rk: &ReleaseKey, tearline_only: bool) -> Result<(), String> {
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
    pub(crate) fn submitted_as(&self, at: Party, d: &Delivery) -> Result<(&Sub, Key), String> {
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
    pub(crate) fn bilateral_ok(
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
    pub(crate) fn trilateral_shape(
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
    pub(crate) fn judge_forward(&mut self, to: Party, d: &Delivery, tick: u64, now: Timestamp) -> Result<(), String> {
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
    pub(crate) fn judge_receipt(
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
    pub(crate) fn judge_held(&self, d: &Delivery) -> Result<(), String> {
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
