//! Identical re-sends: a CLI or feed that timed out sends the very same
//! signed request again. Its action's nonce is spent, so the core would
//! refuse it as a replay; instead the node answers with the original
//! reply, kept here by the hash of the signed action (bytes and signature)
//! for as long as the action could still be fresh (2 × the clock skew).
//! Filled live and while the input log is replayed at start, so a restart
//! keeps it. Each reply is kept encoded (its wire form, about a third of
//! the decoded one's memory: a submit's reply carries the report's header),
//! since a node taking a feed's burst keeps every reply of the last
//! 2 × clock skew (240 s by default).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tisa_core::sign::Digest32;
use tisa_core::{Authorization, CommandError, Timestamp};
use tisa_transport::{ControlReply, Wire as _};

use crate::ingress::Applied;

/// Replies of recent authorized commands, by their signed action.
#[derive(Default)]
pub(crate) struct Resends {
    by_action: HashMap<Digest32, (Digest32, Box<[u8]>)>,
    order: VecDeque<(Timestamp, Digest32)>,
}

/// SHA-256 of the action's bytes followed by its signature.
fn key(a: &Authorization) -> Digest32 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(&a.action.bytes);
    h.update(a.action.signature);
    h.finalize().into()
}

impl Resends {
    /// The original reply to exactly this signed request, if it is recent.
    pub(crate) fn get(&self, a: &Authorization) -> Option<ControlReply> {
        let (payload, reply) = self.by_action.get(&key(a))?;
        if *payload != a.payload_sha256 {
            return None;
        }
        // Encoded by this node from a reply it made: decodes.
        ControlReply::decode(reply).ok()
    }

    /// Whether an identical re-send of `a` has its original reply here.
    pub(crate) fn contains(&self, a: &Authorization) -> bool {
        self.by_action.get(&key(a)).is_some_and(|(payload, _)| *payload == a.payload_sha256)
    }

    /// Keeps the reply to a command applied at `at`, unless its action was
    /// refused (only an authorized action is anyone's to re-send).
    pub(crate) fn put(&mut self, at: Timestamp, a: &Authorization, applied: &Applied, skew: Duration) {
        match applied {
            Some(Err(CommandError::Unauthorized(_))) | None => {}
            Some(Ok(r)) => self.put_reply(at, a, r, skew),
            Some(Err(e)) => self.put_reply(at, a, &crate::control::refused_reply(e), skew),
        }
    }

    /// Keeps `reply` as the outcome of the command signed by `a`.
    pub(crate) fn put_reply(&mut self, at: Timestamp, a: &Authorization, reply: &ControlReply, skew: Duration) {
        if matches!(reply, ControlReply::Error { code, .. } if code == "UNAUTHORIZED") {
            return;
        }
        let keep =
            Timestamp(at.as_millis().saturating_sub(2 * u64::try_from(skew.as_millis()).unwrap_or(u64::MAX / 2)));
        while let Some((t, k)) = self.order.front().copied() {
            if t >= keep {
                break;
            }
            self.order.pop_front();
            self.by_action.remove(&k);
        }
        let k = key(a);
        self.by_action.insert(k, (a.payload_sha256, reply.encode().into_boxed_slice()));
        self.order.push_back((at, k));
    }
}

#[cfg(test)]
mod tests {
    use tisa_core::{Decision, Party, ReportId, RequestId, Signed};

    use super::*;

    fn auth(n: u8, payload: u8) -> Authorization {
        let action = Signed { bytes: vec![n; 40], signer: "kr-approver".into(), signature: [n; 64], batch: None };
        Authorization { action, payload_sha256: [payload; 32] }
    }

    /// A reply kept encoded comes back the same; only for the very same
    /// action over the very same payload, and only within 2 × the skew.
    /// Control: the kept one is found (a miss elsewhere is not for want of it).
    #[test]
    fn a_kept_reply_comes_back_the_same_for_the_same_signed_request_only() {
        let mut r = Resends::default();
        let skew = Duration::from_secs(120);
        let decided = ControlReply::Decided {
            request_id: RequestId::for_release(&ReportId::new("KR-0123456789abcdef").unwrap(), 1, Party::Jp),
            decision: Decision::ApproveFull,
        };
        r.put_reply(Timestamp(1_000), &auth(1, 7), &decided, skew);
        r.put_reply(Timestamp(1_000), &auth(2, 7), &ControlReply::error("EXPIRED", "request x expired"), skew);
        assert!(r.contains(&auth(1, 7)));
        assert_eq!(r.get(&auth(1, 7)), Some(decided));
        assert_eq!(r.get(&auth(2, 7)), Some(ControlReply::error("EXPIRED", "request x expired")));
        assert_eq!(r.get(&auth(1, 8)), None, "the same action over another payload");
        assert!(!r.contains(&auth(1, 8)));
        assert_eq!(r.get(&auth(3, 7)), None, "another action");
        // An unauthorized outcome is never kept (its nonce was not spent).
        r.put_reply(Timestamp(1_000), &auth(4, 7), &ControlReply::error("UNAUTHORIZED", "no"), skew);
        assert!(!r.contains(&auth(4, 7)));
        // Past 2 × the skew, the next put forgets it.
        r.put_reply(Timestamp(1_000 + 240_001), &auth(5, 7), &ControlReply::error("EXPIRED", "y"), skew);
        assert!(!r.contains(&auth(1, 7)) && r.contains(&auth(5, 7)));
    }
}
