//! The control protocol between an operator's CLI and its own node, in
//! domain terms, and its wire encoding. Requests go to
//! `tisa.ctl.<party>.<verb>` (request/reply); the node's events go to
//! `tisa.ctl.<party>.events`. Nothing here ever leaves the party.
//!
//! - [`request`]: [`ControlRequest`], one variant per verb, declared once in
//!   `control_requests!`, which also splits it into [`CommandRequest`]
//!   (changes state: logged as a core [`Command`](tisa_core::Command), then
//!   applied) and [`Query`] (only reads), and gives the verb lists that the
//!   subjects ([`crate::subjects::VERBS`]), the broker permissions and the
//!   node's failpoint names (`ctl.<verb>`) derive from.
//! - [`reply`]: [`ControlReply`], one type for both ends: the node builds it
//!   from the core's own types, the CLI decodes it into the same types.
//! - [`batch`]: many submits in one message (`submit-batch`), one reply message.
//! - [`events`]: [`WatchEvent`] for `tisa watch`.
//! - [`fit`]: replies cut to the broker's `max_payload` (pages) or refused with an error reply.
//! - [`streams`]: [`StreamHealth`], `tisa health`'s per-stream replication.
//! - [`lanes`]: what the paths ahead of the commit did ([`TrackLaneHealth`], [`EarlyForwardHealth`]), and the notices held back behind them ([`NoticeHealth`]).
//!
//! Each type converts to and from its protobuf message through
//! [`Wire`](crate::convert::Wire), once.
//!
//! # Adding a command
//!
//! 1. **The protocol** (here and `proto/tisa/v1/control.proto`): the request
//!    message and the `ControlRequest` oneof case (and a reply case and
//!    message if no existing reply fits); one line in `control_requests!`
//!    (verb, variant, payload: under `commands` if it changes state, under
//!    `queries` otherwise); the variant's arms in `impl Wire for
//!    ControlRequest` (and for a new reply, a [`ControlReply`] variant and
//!    its arms in `impl Wire for ControlReply`); a `Wire` impl for any new
//!    payload type. A command is also a core input: its variant of
//!    [`tisa_core::Command`] (with the core method it calls, the rule
//!    itself) and its arms in [`CommandRequest::into_command`] and
//!    `From<Command> for CommandRequest`.
//! 2. **The node's handler** (`tisa-node`, module `control`): a query's
//!    arm in `Actor::answer`, or a command's arm in `execute`.
//! 3. **The CLI** (`tisa-cli`): the clap subcommand, the call and the
//!    printing (text and `--json`).
//!
//! Nothing else: the subjects, the broker permissions, the input log's
//! encoding (a command is logged as its request) and the failpoint names
//! follow from step 1, and the compiler points at every match to extend.

pub mod batch;
pub mod commits;
pub mod events;
pub mod fit;
pub mod lanes;
pub mod reply;
pub mod request;
pub mod streams;

pub use commits::{ChecksAheadHealth, CommitHealth, COMMIT_BUCKETS};
pub use events::{track_detail, watch_event, WatchEvent, WatchEvents};
pub use lanes::{EarlyForwardHealth, NoticeHealth, TrackLaneHealth};
pub use reply::{hub_code, AgreementHealth, ControlReply, DeadLetter, Health, SendError};
pub use request::{
    decode_request, CommandRequest, ControlRequest, CourierCopy, DecisionQuery, ListQuery, Query, Retract,
    DEFAULT_LIMIT,
};
pub use streams::{StreamHealth, StreamPeer};
