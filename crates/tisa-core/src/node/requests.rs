//! Release requests as a node keeps them: the originator's to decide in
//! one dense table, keyed by what a request id derives from
//! ([`RequestId::for_release`]: report, revision, recipient), the id itself
//! never stored, the report by its position in the originator's table of
//! reports (4 bytes, not its id again). A request is 32 bytes here, where a
//! map by id of whole [`ReleaseRequest`]s held the report id twice and the
//! request id twice more, for up to millions of requests. The hub keeps
//! each request it opened with its held report (`hub::HeldReports`: one
//! third party, at most one request), in the same [`TrackedRequest`] form.
//!
//! Entries are never removed, so an entry's index is stable: the node's
//! deadlines name requests by it ([`Deadlines`]: `deadlines`; at the hub,
//! by the held report's position).

use std::collections::HashMap;

use super::deadlines::Deadlines;
use super::own::Reports;
use crate::ids::{ReportId, RequestId};
use crate::message::{ReleaseDecision, ReleaseRequest};
use crate::sign::Verdict;
use crate::types::{Party, Timestamp};

/// What a request id derives from: the report, its revision, the recipient.
pub(super) type RequestKey = (ReportId, u32, Party);

/// Where a release request stands, at the hub (which opened it) and at the
/// originator (which decides it). One byte: a denial's reason is kept
/// apart (the originator's in the decision it sent, the hub's beside its
/// held reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RequestState {
    /// Awaiting the originator's decision, until its deadline.
    Open,
    Decided(Verdict),
    Expired,
    /// The originator retracted the report before deciding.
    Withdrawn,
}

/// A time in two 4-byte halves: a request's two times then take 16 bytes
/// aligned to 4, so its one-byte state costs no padding of 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp([u32; 2]);

impl Stamp {
    fn new(t: Timestamp) -> Stamp {
        Stamp([(t.0 >> 32) as u32, t.0 as u32])
    }
    fn get(self) -> Timestamp {
        Timestamp((u64::from(self.0[0]) << 32) | u64::from(self.0[1]))
    }
}

/// A release request and where it stands (its key and id are the table's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TrackedRequest {
    /// When the hub opened the request.
    requested_at: Stamp,
    /// After this instant the request counts as denied.
    expires_at: Stamp,
    pub(super) state: RequestState,
}

impl TrackedRequest {
    /// Request `r`, in `state`.
    pub(super) fn new(r: &ReleaseRequest, state: RequestState) -> TrackedRequest {
        TrackedRequest { requested_at: Stamp::new(r.requested_at), expires_at: Stamp::new(r.expires_at), state }
    }

    /// When the hub opened the request.
    pub(super) fn requested_at(&self) -> Timestamp {
        self.requested_at.get()
    }

    /// After this instant the request counts as denied.
    pub(super) fn expires_at(&self) -> Timestamp {
        self.expires_at.get()
    }

    /// The request as sent and shown, under `key`.
    pub(super) fn request(&self, key: &RequestKey) -> ReleaseRequest {
        let (report_id, revision, recipient) = key.clone();
        ReleaseRequest {
            request_id: RequestId::for_release(&report_id, revision, recipient),
            report_id,
            revision,
            recipient,
            requested_at: self.requested_at(),
            expires_at: self.expires_at(),
        }
    }
}

/// One request in the originator's table: its key (the report by its
/// position in [`Reports`]) and where it stands.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    report: u32,
    revision: u32,
    recipient: Party,
    pub(super) tracked: TrackedRequest,
}

impl Entry {
    /// The key of this request (`None` only for a report not in `reports`,
    /// which never happens: requests are recorded for own reports alone).
    pub(super) fn key(&self, reports: &Reports) -> Option<RequestKey> {
        Some((reports.id_at(self.report as usize)?.clone(), self.revision, self.recipient))
    }

    /// Whether the request still awaits a decision at `now`.
    pub(super) fn is_open(&self, now: Timestamp) -> bool {
        self.tracked.state == RequestState::Open && self.tracked.expires_at() > now
    }
}

/// The originator's release requests, in the order they were opened.
#[derive(Debug, Default)]
pub(super) struct Requests {
    /// In the order opened.
    table: Vec<Entry>,
    /// Positions in `table`, by key (4 bytes each: an `IndexMap` would keep
    /// each key's hash and an 8-byte index besides).
    index: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
    /// Ids shortened with a hash (a report id too long to keep whole) do
    /// not name their key: by id, for the few there are.
    shortened: HashMap<RequestId, usize>,
    /// The decision sent for each decided request, by index: to send again
    /// if the hub asks again.
    sent: HashMap<u32, Box<ReleaseDecision>>,
}

/// The key `id` names when it has the shape [`RequestId::for_release`]
/// gives an id kept whole (`<report>.r<revision>.<recipient code>`).
pub(super) fn key_of(id: &RequestId) -> Option<RequestKey> {
    let report = id.report()?;
    let (rest, code) = id.as_str().rsplit_once('.')?;
    let recipient = Party::ALL.into_iter().find(|p| p.code() == code)?;
    let revision = rest.rsplit_once(".r")?.1.parse().ok()?;
    let key = (report, revision, recipient);
    (RequestId::for_release(&key.0, key.1, key.2) == *id).then_some(key)
}

/// An index as the tables keep it. More than 4 billion requests or reports
/// is far beyond memory.
fn small(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Requests {
    fn hash(&self, report: u32, revision: u32, recipient: Party) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, (report, revision, recipient))
    }

    /// The position of the request for the report at position `report`.
    fn position(&self, report: u32, revision: u32, recipient: Party) -> Option<usize> {
        let named = |e: &Entry| (e.report, e.revision, e.recipient) == (report, revision, recipient);
        let hash = self.hash(report, revision, recipient);
        let at = self.index.find(hash, |&i| self.table.get(i as usize).is_some_and(named))?;
        Some(*at as usize)
    }

    fn position_of(&self, key: &RequestKey, reports: &Reports) -> Option<usize> {
        self.position(small(reports.position(&key.0)?), key.1, key.2)
    }

    /// The index of the request `id`, if this table has it.
    pub(super) fn index_of(&self, id: &RequestId, reports: &Reports) -> Option<usize> {
        // A shortened id may also parse as the id of another report (its
        // shortened part): the shortened one is meant.
        if let Some(i) = self.shortened.get(id) {
            return Some(*i);
        }
        self.position_of(&key_of(id)?, reports)
    }

    /// Where the request under `key` stands.
    pub(super) fn by_key(&self, key: &RequestKey, reports: &Reports) -> Option<&TrackedRequest> {
        self.table.get(self.position_of(key, reports)?).map(|e| &e.tracked)
    }

    /// The request `id`: the request as sent, and where it stands.
    pub(super) fn get(&self, id: &RequestId, reports: &Reports) -> Option<(ReleaseRequest, &TrackedRequest)> {
        let e = self.table.get(self.index_of(id, reports)?)?;
        Some((e.tracked.request(&e.key(reports)?), &e.tracked))
    }

    /// The request at index `i`, and where it stands, to change it.
    pub(super) fn at_mut(&mut self, i: usize, reports: &Reports) -> Option<(ReleaseRequest, &mut TrackedRequest)> {
        let e = self.table.get_mut(i)?;
        let key = e.key(reports)?;
        Some((e.tracked.request(&key), &mut e.tracked))
    }

    /// Records request `r` (new: the caller checked that its id is not
    /// here) in `state`; returns its index. `None` if its report is not
    /// in `reports` (requests are for own reports).
    pub(super) fn insert(&mut self, r: &ReleaseRequest, state: RequestState, reports: &Reports) -> Option<usize> {
        let report = small(reports.position(&r.report_id)?);
        let tracked = TrackedRequest::new(r, state);
        let named = key_of(&r.request_id).as_ref() == Some(&(r.report_id.clone(), r.revision, r.recipient));
        let i = match self.position(report, r.revision, r.recipient) {
            Some(i) => {
                // Not new after all: replaced in place, as a map would.
                if let Some(entry) = self.table.get_mut(i) {
                    entry.tracked = tracked;
                }
                self.sent.remove(&small(i));
                i
            }
            None => {
                let hash = self.hash(report, r.revision, r.recipient);
                let i = self.table.len();
                self.table.push(Entry { report, revision: r.revision, recipient: r.recipient, tracked });
                let (table, hasher) = (&self.table, &self.hasher);
                // Growing the index hashes every key again, as `hash` does.
                self.index.insert_unique(hash, small(i), |&j| match table.get(j as usize) {
                    Some(e) => std::hash::BuildHasher::hash_one(hasher, (e.report, e.revision, e.recipient)),
                    None => 0,
                });
                i
            }
        };
        if !named {
            self.shortened.insert(r.request_id.clone(), i);
        }
        Some(i)
    }

    /// Every request with its index, in the order opened.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.table.iter().enumerate()
    }

    /// The requests for report `id` still open at `now`, in the order opened.
    pub(super) fn open_of_report<'a>(
        &'a self,
        id: &ReportId,
        reports: &Reports,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.of_report(id, reports).filter_map(|i| self.table.get(i)).filter(move |e| e.is_open(now))
    }

    /// The indexes of the requests for report `id`, in the order opened.
    pub(super) fn of_report<'a>(&'a self, id: &ReportId, reports: &Reports) -> impl Iterator<Item = usize> + 'a {
        let report = reports.position(id).map(small);
        self.iter().filter(move |(_, e)| Some(e.report) == report).map(|(i, _)| i)
    }

    /// The decision sent for the request at index `i`.
    pub(super) fn sent(&self, i: usize) -> Option<&ReleaseDecision> {
        self.sent.get(&small(i)).map(|d| &**d)
    }

    /// Records `d`, sent for the request at index `i`, and the request decided.
    pub(super) fn decided(&mut self, i: usize, d: ReleaseDecision) {
        if let Some(e) = self.table.get_mut(i) {
            e.tracked.state = RequestState::Decided(d.decision.verdict().0);
            self.sent.insert(small(i), Box::new(d));
        }
    }

    /// Withdraws every open request for report `id` (it was retracted) and
    /// drops its deadline: it can no longer be decided, nor expire.
    pub(super) fn withdraw_open(&mut self, id: &ReportId, reports: &Reports, deadlines: &mut Deadlines) {
        let Some(report) = reports.position(id).map(small) else { return };
        for (i, e) in self.table.iter_mut().enumerate() {
            if e.report == report && e.tracked.state == RequestState::Open {
                e.tracked.state = RequestState::Withdrawn;
                deadlines.remove(e.tracked.expires_at(), i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ReportRef;
    use crate::node::marks::{AtHub, PartyMap, Receipts};
    use crate::node::own::OwnRevision;

    fn request(report: &str, revision: u32, recipient: Party, expires: u64) -> ReleaseRequest {
        let report_id = ReportId::new(report).unwrap();
        ReleaseRequest {
            request_id: RequestId::for_release(&report_id, revision, recipient),
            report_id,
            revision,
            recipient,
            requested_at: Timestamp(1),
            expires_at: Timestamp(expires),
        }
    }

    /// An originator's reports: each of `rs`'s, revision 1.
    fn reports(rs: &[ReleaseRequest]) -> Reports {
        let mut reports = Reports::default();
        for r in rs {
            if !reports.contains_key(&r.report_id) {
                let report = ReportRef::sample(r.report_id.as_str(), 1);
                let revision = OwnRevision {
                    report,
                    hub: AtHub::Sent,
                    recipients: PartyMap::default(),
                    receipts: Receipts::default(),
                };
                reports.push_revision(&r.report_id, revision);
            }
        }
        reports
    }

    #[test]
    fn a_request_is_found_by_its_id_and_given_back_whole() {
        let mut t = Requests::default();
        // Kept whole, and shortened with a hash (a report id of 128 characters).
        let long = format!("KR-{}", "x".repeat(125));
        let rs =
            [request("KR-1", 1, Party::Jp, 10), request("KR-1", 2, Party::Jp, 20), request(&long, 3, Party::Jp, 30)];
        let own = reports(&rs);
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.insert(r, RequestState::Open, &own), Some(n));
        }
        assert_eq!(t.shortened.len(), 1, "only the shortened id is stored");
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.index_of(&r.request_id, &own), Some(n));
            let (back, tracked) = t.get(&r.request_id, &own).unwrap();
            assert_eq!(back, *r);
            assert_eq!(tracked.state, RequestState::Open);
        }
        // Ids that name no request here: another revision, recipient, a stranger.
        for id in ["KR-1.r3.JP", "KR-1.r1.US", "KR-2.r1.JP", "KR-1", "KR-1.r01.JP"] {
            assert_eq!(t.index_of(&RequestId::new(id).unwrap(), &own), None, "{id}");
        }
        // Not an own report: not recorded.
        assert_eq!(t.insert(&request("KR-9", 1, Party::Jp, 10), RequestState::Open, &own), None);
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn requests_are_found_in_the_order_opened_as_the_table_grows() {
        let mut t = Requests::default();
        let rs: Vec<_> = (0..3000).map(|i| request(&format!("KR-{}", (i * 7919) % 3000), 1, Party::Jp, i)).collect();
        // The reports in another order than their requests.
        let mut by_id = rs.clone();
        by_id.sort_by(|a, b| a.report_id.cmp(&b.report_id));
        let own = reports(&by_id);
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.insert(r, RequestState::Open, &own), Some(n));
        }
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.index_of(&r.request_id, &own), Some(n));
            let key = (r.report_id.clone(), 1, Party::Jp);
            assert_eq!(t.by_key(&key, &own).map(|x| x.expires_at()), Some(r.expires_at));
        }
        let order: Vec<ReleaseRequest> = t.iter().map(|(_, e)| e.tracked.request(&e.key(&own).unwrap())).collect();
        assert_eq!(order, rs);
        // The same key again replaces in place (as a map would), its decision gone.
        let again = request("KR-5", 1, Party::Jp, 99);
        let i = t.index_of(&again.request_id, &own).unwrap();
        let d = ReleaseDecision {
            request_id: again.request_id.clone(),
            report_id: again.report_id.clone(),
            revision: 1,
            recipient: Party::Jp,
            decision: crate::message::Decision::Deny { reason: "no".to_owned() },
            decided_at: Timestamp(2),
            operator: "kr-approver".to_owned(),
            manifest_sha256: [0; 32],
            signed: crate::body::blank_signed(),
        };
        t.decided(i, d.clone());
        assert_eq!(t.sent(i), Some(&d));
        assert_eq!(t.get(&again.request_id, &own).map(|(_, x)| x.state), Some(RequestState::Decided(Verdict::Deny)));
        assert_eq!(t.of_report(&again.report_id, &own).collect::<Vec<_>>(), [i]);
        assert_eq!(t.insert(&again, RequestState::Expired, &own), Some(i));
        assert_eq!(
            t.get(&again.request_id, &own).map(|(r, x)| (r.expires_at, x.state)),
            Some((Timestamp(99), RequestState::Expired))
        );
        assert_eq!(t.sent(i), None);
    }

    #[test]
    fn withdrawing_drops_the_deadlines_of_open_requests_only() {
        let mut t = Requests::default();
        let mut d = Deadlines::default();
        let rs =
            [request("KR-1", 1, Party::Jp, 10), request("KR-2", 1, Party::Jp, 5), request("KR-1", 2, Party::Jp, 7)];
        let own = reports(&rs);
        for (n, r) in rs.iter().enumerate() {
            d.insert(r.expires_at, t.insert(r, RequestState::Open, &own).unwrap());
            assert_eq!(d.first(), Some(Timestamp(if n == 0 { 10 } else { 5 })));
        }
        t.withdraw_open(&ReportId::new("KR-1").unwrap(), &own, &mut d);
        assert_eq!(d.pop_due(Timestamp(4)), None);
        assert_eq!(d.pop_due(Timestamp(100)), Some(1));
        assert_eq!(d.pop_due(Timestamp(100)), None, "KR-1's two were withdrawn");
        let states: Vec<RequestState> = t.iter().map(|(_, e)| e.tracked.state).collect();
        assert_eq!(states, [RequestState::Withdrawn, RequestState::Open, RequestState::Withdrawn]);
    }
}
