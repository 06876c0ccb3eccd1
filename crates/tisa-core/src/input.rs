//! The inputs that change a node's state, as its shell logs them before
//! applying them (and replays them, in order, after a restart): a message
//! from a peer, an operator's command, the timer, a link coming back.
//!
//! The core is deterministic: the same inputs at the same `now`s reach the
//! same state and emit the same messages. Queries (pending, inbox, status,
//! …) change nothing and are not inputs.

use crate::ids::ReportId;
use crate::message::Envelope;
use crate::node::{ReportDraft, TrackDraft};
use crate::policy::Verb;
use crate::sign::{Authorization, Signed};
use crate::types::{Party, Timestamp};

/// One state-changing input to a [`Node`](crate::Node).
// A message is the largest and the most frequent input; inputs are built,
// logged and applied once each, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message that arrived on the link to `link`
    /// ([`Node::handle_message`](crate::Node::handle_message)).
    Message {
        /// The peer at the other end of the link.
        link: Party,
        /// The message.
        envelope: Envelope,
    },
    /// An operator's command, with the signed action that authorizes it
    /// (`None`: the request came unsigned, and is refused).
    Command(Command, Option<Authorization>),
    /// A message that arrived off-line, in a bundle from `link` whose
    /// signature the shell verified ([`Node::handle_courier`](crate::Node::handle_courier)).
    Courier {
        /// The party that exported the bundle (the other end of a link).
        link: Party,
        /// The message.
        envelope: Envelope,
    },
    /// A window of one track's updates from the link to `link` that the
    /// real-time lane passed (forwarded or showed) ahead of their commit,
    /// committed together: the latest of them (`envelope`) is applied as a
    /// message, the window itself is audited
    /// ([`Node::handle_track_window`](crate::Node::handle_track_window)).
    TrackWindow {
        /// The peer at the other end of the link.
        link: Party,
        /// The window's latest update (the highest sequence number).
        envelope: Envelope,
        /// The lowest sequence number in the window.
        first_seq: u32,
        /// How many stream copies the window took (each acknowledged once
        /// this input is committed).
        updates: u32,
    },
    /// The core's timer ([`Node::handle_timeout`](crate::Node::handle_timeout)).
    Timeout,
    /// The link to `link` came back, or the periodic check ran:
    /// reconcile ([`Node::handle_link_up`](crate::Node::handle_link_up)).
    LinkUp {
        /// The peer.
        link: Party,
    },
}

/// An input and the `now` the core is given with it: one record of a
/// node's input log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedInput {
    /// The core's `now`.
    pub at: Timestamp,
    /// The input.
    pub input: Input,
}

/// An operator's command that changes state. Each is one call of the core:
/// the variant names the [`Node`](crate::Node) method.
#[derive(Clone, Debug, PartialEq, Eq)]
// A command is handled one at a time and never kept in bulk: a submit's
// draft inline costs nothing worth a box (and a box would change every
// caller's construction of it).
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Submit a report or a correction ([`Node::submit`](crate::Node::submit)).
    Submit {
        /// The id the node chose for it (kept, so that replay reproduces it).
        report_id: ReportId,
        /// The report.
        draft: ReportDraft,
    },
    /// Approve or deny a release request: a decision document signed by one
    /// of the party's approvers ([`Node::decide`](crate::Node::decide)).
    Decide(Signed),
    /// Issue a standing grant (a signed grant document; [`Node::grant`](crate::Node::grant)).
    Grant(Signed),
    /// Revoke a standing grant (a signed revocation document; [`Node::revoke`](crate::Node::revoke)).
    Revoke(Signed),
    /// Co-sign a proposed standing grant (two-person rule; a signed
    /// `tisa.v1.cosign` document; [`Node::cosign`](crate::Node::cosign)).
    Cosign(Signed),
    /// Issue one live missile-track update ([`Node::track`](crate::Node::track)).
    Track(TrackDraft),
    /// A courier copy: what this node sent `to` about `report_id` goes again
    /// off-line ([`Node::courier_copy`](crate::Node::courier_copy)).
    CourierCopy {
        /// The peer.
        to: Party,
        /// The report.
        report_id: ReportId,
    },
    /// Retract one of this party's reports, every revision ([`Node::retract`](crate::Node::retract)).
    Retract {
        /// The report.
        report_id: ReportId,
        /// Why (shown to holders, never logged).
        reason: String,
        /// The operator asking, or empty.
        operator: String,
    },
}

impl Command {
    /// The operator's verb for it: `submit`, `decide`, `grant`, `revoke`,
    /// `track`, `retract`.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Submit { .. } => "submit",
            Command::Decide(_) => "decide",
            Command::Grant(_) => "grant",
            Command::Revoke(_) => "revoke",
            Command::Cosign(_) => "cosign",
            Command::Track(_) => "track",
            Command::Retract { .. } => "retract",
            Command::CourierCopy { .. } => "courier-copy",
        }
    }

    /// The verb its signed action must name (which roles may ask for it:
    /// [`Verb::roles`]).
    pub fn action_verb(&self) -> Verb {
        match self {
            Command::Submit { .. } => Verb::Submit,
            Command::Decide(_) => Verb::Decide,
            Command::Grant(_) => Verb::Grant,
            Command::Revoke(_) => Verb::Revoke,
            Command::Cosign(_) => Verb::Cosign,
            Command::Track(_) => Verb::Track,
            Command::Retract { .. } => Verb::Retract,
            Command::CourierCopy { .. } => Verb::Courier,
        }
    }
}
