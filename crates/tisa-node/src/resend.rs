//! Identical re-sends: a CLI or feed that timed out sends the very same
//! signed request again. Its action's nonce is spent, so the core would
//! refuse it as a replay; instead the node answers with the original
//! reply, kept here by the hash of the signed action (bytes and signature)
//! for as long as the action could still be fresh (2 × the clock skew).
//! Filled live and while the input log is replayed at start, so a restart
//! keeps it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tisa_core::sign::{sha256, Digest32};
use tisa_core::{Authorization, CommandError, Timestamp};
use tisa_transport::ControlReply;

use crate::ingress::Applied;

/// Replies of recent authorized commands, by their signed action.
#[derive(Default)]
pub(crate) struct Resends {
    by_action: HashMap<Digest32, (Digest32, ControlReply)>,
    order: VecDeque<(Timestamp, Digest32)>,
}

fn key(a: &Authorization) -> Digest32 {
    let mut b = a.action.bytes.clone();
    b.extend_from_slice(&a.action.signature);
    sha256(&b)
}

impl Resends {
    /// The original reply to exactly this signed request, if it is recent.
    pub(crate) fn get(&self, a: &Authorization) -> Option<ControlReply> {
        let (payload, reply) = self.by_action.get(&key(a))?;
        (*payload == a.payload_sha256).then(|| reply.clone())
    }

    /// Keeps the reply to a command applied at `at`, unless its action was
    /// refused (only an authorized action is anyone's to re-send).
    pub(crate) fn put(&mut self, at: Timestamp, a: &Authorization, applied: &Applied, skew: Duration) {
        let reply = match applied {
            Some(Err(CommandError::Unauthorized(_))) | None => return,
            Some(Ok(r)) => r.clone(),
            Some(Err(e)) => crate::control::refused_reply(e),
        };
        self.put_reply(at, a, reply, skew);
    }

    /// Keeps `reply` as the outcome of the command signed by `a`.
    pub(crate) fn put_reply(&mut self, at: Timestamp, a: &Authorization, reply: ControlReply, skew: Duration) {
        if matches!(&reply, ControlReply::Error { code, .. } if code == "UNAUTHORIZED") {
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
        self.by_action.insert(k, (a.payload_sha256, reply));
        self.order.push_back((at, k));
    }
}
