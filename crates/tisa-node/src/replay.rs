//! Rebuilding a node's state on start: every logged input, replayed into
//! the (deterministic) core in order, and [`apply`], the one way an input
//! reaches the core, live or replayed.

use tisa_core::{CommandError, Event, Input, LoggedInput, Node, Transmit};
use tisa_transport::{ControlReply, Wire as _};

use crate::actor::NodeError;
use crate::audit::AuditLog;
use crate::resend::Resends;
use crate::store::Store;

/// Replay reads the input log this many records at a time.
const REPLAY_CHUNK: usize = 4096;

/// Applies one state-changing input to the core. Used live (after the
/// input is logged) and on replay. A command returns its reply.
pub(crate) fn apply(core: &mut Node, l: LoggedInput) -> Option<Result<ControlReply, CommandError>> {
    let now = l.at;
    match l.input {
        Input::Message { link, envelope } => {
            core.handle_message(now, link, envelope);
            None
        }
        Input::Courier { link, envelope } => {
            core.handle_courier(now, link, envelope);
            None
        }
        Input::TrackWindow { link, envelope, first_seq, updates } => {
            core.handle_track_window(now, link, envelope, first_seq, updates);
            None
        }
        Input::Timeout => {
            core.handle_timeout(now);
            None
        }
        Input::LinkUp { link } => {
            core.handle_link_up(now, link);
            None
        }
        Input::Command(command, auth) => Some(crate::control::execute(core, now, command, auth.as_ref())),
    }
}

/// Replays the input log into `core`, a chunk at a time (the log is never
/// all in memory, nor every message it made), writing the audit entries
/// the log lacks and the bodies a crash kept from the disk. Returns how many
/// inputs were replayed and the messages not recorded as sent (to send again).
pub(crate) fn replay(
    core: &mut Node,
    store: &mut Store,
    audit: &mut AuditLog,
    resends: &mut Resends,
) -> Result<(usize, Vec<Transmit>), NodeError> {
    let mut replayed = 0;
    let mut resend = Vec::new();
    loop {
        let chunk = store.inputs_from(replayed as u64, REPLAY_CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        let seqs = chunk.first().map_or(0, |c| c.0)..chunk.last().map_or(0, |c| c.0 + 1);
        let refused = store.refused_in(seqs)?;
        replayed += chunk.len();
        for (seq, l) in chunk {
            // The audit log writes only what it does not hold yet (crash between input and audit).
            let note = audit.note(seq, &l);
            let (at, auth) = match &l.input {
                Input::Command(_, Some(a)) => (l.at, Some(a.clone())),
                _ => (l.at, None),
            };
            // A command refused when it was applied stays refused: it is
            // not re-evaluated under the agreement the node starts with.
            if matches!(l.input, Input::Command(..)) {
                if let Some(reply) = refused.get(&seq) {
                    if let (Some(a), Ok(reply)) = (&auth, ControlReply::decode(reply)) {
                        resends.put_reply(at, a, &reply, core.policy().clock_skew);
                    }
                    audit.record(store, note, false, &[]).map_err(|e| NodeError::Config(e.to_string()))?;
                    continue;
                }
            }
            let r = apply(core, l);
            if let Some(a) = &auth {
                resends.put(at, a, &r, core.policy().clock_skew);
            }
            let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
            audit
                .record(store, note, !matches!(r, Some(Err(_))), &events)
                .map_err(|e| NodeError::Config(e.to_string()))?;
        }
        // Bodies a crash kept from reaching the disk are written again.
        let stashes: Vec<_> = std::iter::from_fn(|| core.poll_stash()).collect();
        store.put_missing_bodies(&stashes)?;
        let out: Vec<Transmit> = std::iter::from_fn(|| core.poll_transmit()).collect();
        let sent = store.were_sent(out.iter().map(|t| t.envelope.message_id.as_str()))?;
        resend.extend(out.into_iter().zip(sent).filter(|(_, s)| !s).map(|(t, _)| t));
    }
    Ok((replayed, resend))
}
