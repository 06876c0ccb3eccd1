//! Authorizing operators: every command and every read of content comes
//! with a signed action (`tisa.v1.action`), verified here before it has
//! any effect: a registered key of this party with a role the verb allows
//! ([`crate::Verb::roles`]), fresh within the agreement's clock skew, over
//! exactly the request's payload, and — for a command — never seen before.
//! A command's action is part of its logged input, so replaying the log
//! reproduces every verdict. A refusal is an [`Event::Unauthorized`] (the
//! audit log records it by key id) and a typed [`CommandError`].

use super::event::Event;
use super::Node;
use crate::error::CommandError;
use crate::policy::{KeyId, Verb};
use crate::sign::{verify_action, ActionDoc, AuthError, Authorization, Replays};
use crate::types::Timestamp;

/// Who a verified action came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    /// The signing key.
    pub key_id: KeyId,
    /// Its holder's name in the party's roster (a label).
    pub name: String,
    /// The action.
    pub action: ActionDoc,
}

impl Node {
    /// Verifies the signed action of a command of `verb` (see the module
    /// docs) and records its nonce. Call before the command; nothing else
    /// changes when it is refused.
    pub fn authorize(
        &mut self,
        now: Timestamp,
        verb: Verb,
        auth: Option<&Authorization>,
    ) -> Result<Authorized, CommandError> {
        let skew = self.policy.clock_skew;
        let checked = self.check_action(now, verb, auth).and_then(|a| {
            self.replays.check(&a.action, now, skew)?;
            Ok(a)
        });
        self.refused(verb, auth, checked)
    }

    /// Verifies the signed action of a read of content (`verb` is
    /// [`Verb::Read`] or [`Verb::Audit`]) against `replays`, which the
    /// shell keeps for reads (they are not logged). Pure but for `replays`.
    pub fn authorize_read(
        &self,
        now: Timestamp,
        verb: Verb,
        auth: Option<&Authorization>,
        replays: &mut Replays,
    ) -> Result<Authorized, CommandError> {
        let checked = self.check_action(now, verb, auth).and_then(|a| {
            replays.check(&a.action, now, self.policy.clock_skew)?;
            Ok(a)
        });
        checked.map_err(CommandError::Unauthorized)
    }

    fn check_action(&self, now: Timestamp, verb: Verb, auth: Option<&Authorization>) -> Result<Authorized, AuthError> {
        let auth = auth.ok_or_else(|| AuthError::Unsigned(verb, roles_of(verb)))?;
        let (action, entry) = verify_action(&self.policy, self.party, now, verb, &auth.payload_sha256, &auth.action)?;
        Ok(Authorized { key_id: action.key_id, name: entry.name.clone(), action })
    }

    fn refused(
        &mut self,
        verb: Verb,
        auth: Option<&Authorization>,
        checked: Result<Authorized, AuthError>,
    ) -> Result<Authorized, CommandError> {
        checked.map_err(|why| {
            let key = auth.and_then(|a| a.action.signer.parse().ok());
            self.events.push_back(Event::Unauthorized { verb, key, why: why.clone() });
            CommandError::Unauthorized(why)
        })
    }
}

fn roles_of(verb: Verb) -> String {
    verb.roles().iter().map(|r| r.as_str()).collect::<Vec<_>>().join("|")
}
