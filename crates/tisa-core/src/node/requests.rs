//! Release requests as a node keeps them: the originator's to decide in
//! one dense table, keyed by what a request id derives from
//! ([`RequestId::for_release`]: report, revision, recipient), the id itself
//! never stored. A request is about 90 bytes here, where a map by id of
//! whole [`ReleaseRequest`]s held the report id twice and the request id
//! twice more, for up to millions of requests. The hub keeps each request
//! it opened with its held report (`hub::HeldReports`: one third party,
//! at most one request), in the same [`TrackedRequest`] form.
//!
//! Entries are never removed, so an entry's index is stable: the node's
//! deadlines name requests by it ([`Deadlines`]: `deadlines`; at the hub, by the held
//! report's position).

use std::collections::HashMap;

use super::deadlines::Deadlines;

use crate::ids::{ReportId, RequestId};
use crate::message::{Decision, ReleaseDecision, ReleaseRequest};
use crate::types::{Party, Timestamp};

/// What a request id derives from: the report, its revision, the recipient.
pub(super) type RequestKey = (ReportId, u32, Party);

/// Where a release request stands, at the hub (which opened it) and at the
/// originator (which decides it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RequestState {
    /// Awaiting the originator's decision, until its deadline.
    Open,
    Decided(Decision),
    Expired,
    /// The originator retracted the report before deciding.
    Withdrawn,
}

/// A release request and where it stands (its key and id are the table's).
#[derive(Clone, Debug)]
pub(super) struct TrackedRequest {
    /// When the hub opened the request.
    pub(super) requested_at: Timestamp,
    /// After this instant the request counts as denied.
    pub(super) expires_at: Timestamp,
    pub(super) state: RequestState,
    /// Originator side: the decision sent, to send again if the hub asks again.
    pub(super) sent: Option<Box<ReleaseDecision>>,
}

impl TrackedRequest {
    /// The request as sent and shown, under `key`.
    pub(super) fn request(&self, key: &RequestKey) -> ReleaseRequest {
        let (report_id, revision, recipient) = key.clone();
        ReleaseRequest {
            request_id: RequestId::for_release(&report_id, revision, recipient),
            report_id,
            revision,
            recipient,
            requested_at: self.requested_at,
            expires_at: self.expires_at,
        }
    }
}

/// One role's release requests, in the order they were opened.
#[derive(Debug, Default)]
pub(super) struct Requests {
    /// In the order opened.
    table: Vec<(RequestKey, TrackedRequest)>,
    /// Positions in `table`, by key (4 bytes each: an `IndexMap` would keep
    /// each key's hash and an 8-byte index besides).
    index: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
    /// Ids shortened with a hash (a report id too long to keep whole) do
    /// not name their key: by id, for the few there are.
    shortened: HashMap<RequestId, usize>,
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

impl Requests {
    fn hash(&self, key: &RequestKey) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    /// The position of the request under `key`.
    fn position(&self, key: &RequestKey) -> Option<usize> {
        let at = self.index.find(self.hash(key), |&i| self.table.get(i as usize).is_some_and(|(k, _)| k == key))?;
        Some(*at as usize)
    }

    /// The index of the request `id`, if this table has it.
    pub(super) fn index_of(&self, id: &RequestId) -> Option<usize> {
        // A shortened id may also parse as the id of another report (its
        // shortened part): the shortened one is meant.
        if let Some(i) = self.shortened.get(id) {
            return Some(*i);
        }
        self.position(&key_of(id)?)
    }

    /// Where the request under `key` stands.
    pub(super) fn by_key(&self, key: &RequestKey) -> Option<&TrackedRequest> {
        self.table.get(self.position(key)?).map(|(_, t)| t)
    }

    /// The request `id`: the request as sent, and where it stands.
    pub(super) fn get(&self, id: &RequestId) -> Option<(ReleaseRequest, &TrackedRequest)> {
        let (k, t) = self.table.get(self.index_of(id)?)?;
        Some((t.request(k), t))
    }

    /// The request at index `i`, and where it stands, to change it.
    pub(super) fn at_mut(&mut self, i: usize) -> Option<(ReleaseRequest, &mut TrackedRequest)> {
        let (k, t) = self.table.get_mut(i)?;
        Some((t.request(k), &mut *t))
    }

    /// Records request `r` (new: the caller checked that its id is not
    /// here) in `state`; returns its index.
    pub(super) fn insert(&mut self, r: &ReleaseRequest, state: RequestState) -> usize {
        let key = (r.report_id.clone(), r.revision, r.recipient);
        let t = TrackedRequest { requested_at: r.requested_at, expires_at: r.expires_at, state, sent: None };
        let named = key_of(&r.request_id).as_ref() == Some(&key);
        let i = match self.position(&key) {
            Some(i) => {
                // Not new after all: replaced in place, as a map would.
                if let Some(entry) = self.table.get_mut(i) {
                    entry.1 = t;
                }
                i
            }
            None => {
                let hash = self.hash(&key);
                let i = self.table.len();
                self.table.push((key, t));
                let (table, hasher) = (&self.table, &self.hasher);
                // More than 4 billion requests is far beyond memory.
                let at = u32::try_from(i).unwrap_or(u32::MAX);
                // Growing the index hashes every key again, as `hash` does.
                self.index.insert_unique(hash, at, |&j| match table.get(j as usize) {
                    Some((k, _)) => std::hash::BuildHasher::hash_one(hasher, k),
                    None => 0,
                });
                i
            }
        };
        if !named {
            self.shortened.insert(r.request_id.clone(), i);
        }
        i
    }

    /// Every request with its key and index, in the order opened.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &RequestKey, &TrackedRequest)> {
        self.table.iter().enumerate().map(|(i, (k, t))| (i, k, t))
    }

    /// Withdraws every open request for report `id` (it was retracted) and
    /// drops its deadline: it can no longer be decided, nor expire.
    pub(super) fn withdraw_open(&mut self, id: &ReportId, deadlines: &mut Deadlines) {
        for (i, (k, t)) in self.table.iter_mut().enumerate() {
            if k.0 == *id && t.state == RequestState::Open {
                t.state = RequestState::Withdrawn;
                deadlines.remove(t.expires_at, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_request_is_found_by_its_id_and_given_back_whole() {
        let mut t = Requests::default();
        // Kept whole, and shortened with a hash (a report id of 128 characters).
        let long = format!("KR-{}", "x".repeat(125));
        let rs =
            [request("KR-1", 1, Party::Jp, 10), request("KR-1", 2, Party::Jp, 20), request(&long, 3, Party::Jp, 30)];
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.insert(r, RequestState::Open), n);
        }
        assert_eq!(t.shortened.len(), 1, "only the shortened id is stored");
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.index_of(&r.request_id), Some(n));
            let (back, tracked) = t.get(&r.request_id).unwrap();
            assert_eq!(back, *r);
            assert_eq!(tracked.state, RequestState::Open);
        }
        // Ids that name no request here: another revision, recipient, a stranger.
        for id in ["KR-1.r3.JP", "KR-1.r1.US", "KR-2.r1.JP", "KR-1", "KR-1.r01.JP"] {
            assert_eq!(t.index_of(&RequestId::new(id).unwrap()), None, "{id}");
        }
    }

    #[test]
    fn requests_are_found_in_the_order_opened_as_the_table_grows() {
        let mut t = Requests::default();
        let rs: Vec<_> = (0..3000).map(|i| request(&format!("KR-{}", (i * 7919) % 3000), 1, Party::Jp, i)).collect();
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.insert(r, RequestState::Open), n);
        }
        for (n, r) in rs.iter().enumerate() {
            assert_eq!(t.index_of(&r.request_id), Some(n));
            assert_eq!(t.by_key(&(r.report_id.clone(), 1, Party::Jp)).map(|x| x.expires_at), Some(r.expires_at));
        }
        let order: Vec<ReleaseRequest> = t.iter().map(|(_, k, x)| x.request(k)).collect();
        assert_eq!(order, rs);
        // The same key again replaces in place (as a map would).
        let again = request("KR-5", 1, Party::Jp, 99);
        let i = t.index_of(&again.request_id).unwrap();
        assert_eq!(t.insert(&again, RequestState::Expired), i);
        assert_eq!(
            t.get(&again.request_id).map(|(r, x)| (r.expires_at, x.state.clone())),
            Some((Timestamp(99), RequestState::Expired))
        );
    }

    #[test]
    fn withdrawing_drops_the_deadlines_of_open_requests_only() {
        let mut t = Requests::default();
        let mut d = Deadlines::default();
        for (n, r) in
            [request("KR-1", 1, Party::Jp, 10), request("KR-2", 1, Party::Jp, 5), request("KR-1", 2, Party::Jp, 7)]
                .iter()
                .enumerate()
        {
            d.insert(r.expires_at, t.insert(r, RequestState::Open));
            assert_eq!(d.first(), Some(Timestamp(if n == 0 { 10 } else { 5 })));
        }
        t.withdraw_open(&ReportId::new("KR-1").unwrap(), &mut d);
        assert_eq!(d.pop_due(Timestamp(4)), None);
        assert_eq!(d.pop_due(Timestamp(100)), Some(1));
        assert_eq!(d.pop_due(Timestamp(100)), None, "KR-1's two were withdrawn");
        assert!(t
            .iter()
            .filter(|(_, k, _)| k.0.as_str() == "KR-1")
            .all(|(_, _, r)| r.state == RequestState::Withdrawn));
    }
}
