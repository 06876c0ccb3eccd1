//! # tisa-core
//!
//! The rules of the 2014 Trilateral Information Sharing Arrangement as a
//! pure state machine: no tokio, no NATS, no clock reads, no IO.
//!
//! Modules, leaves first; each imports only from those above it (checked
//! by `tests/layering.rs`):
//!
//! - [`text`]: text from outside made safe to log ([`text::loggable`]).
//! - [`types`]: parties, categories, classifications, time, [`Sensitive`]
//!   content, points on the earth, [`ParseError`].
//! - [`ids`]: report, request, message and track ids.
//! - [`report`]: a report's header and content, and the key of its body.
//! - [`policy`]: the agreed policy and the release rules.
//! - [`sign`]: the canonical documents parties sign, keys, verification.
//! - [`error`]: why a command or a message was refused.
//! - [`message`]: the messages parties exchange (domain types, not prost).
//! - [`body`]: report bodies (content, manifest) kept outside the core.
//! - [`node`]: [`Node`], one party's state machine (`handle_*` in, `poll_*`
//!   out), split by role and feature.
//!
//! - [`input`]: the inputs a node logs and applies; [`ahead`]: the
//!   signature checks an input will ask for, to run while it is committed.
//!
//! Everything that decides scope, consent, releasability and classification
//! lives here, so it is tested here, fast and deterministically.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod ahead;
pub mod body;
pub mod error;
pub mod ids;
pub mod input;
pub mod message;
pub mod node;
pub mod policy;
pub mod report;
pub mod sign;
pub mod text;
pub mod types;

pub use body::{FillError, Stash};
pub use error::{CommandError, RejectReason, TextField};
pub use ids::*;
pub use input::{Command, Input, LoggedInput};
pub use message::*;
pub use node::{
    held_cursor, inbox_cursor, limits, Authorized, Event, GrantView, HeldKind, HeldView, HubState, InboxEntry,
    InboxFilter, Lane, LaneCounts, LaneOutcome, LaneView, Node, Page, PendingView, RecipientState, ReportDraft,
    RetractionNote, RevisionStatus, SubmitNote, Submitted, TrackDraft, TrackEntry, TrackSubmitted,
};
pub use policy::{AgreementTag, KeyEntry, KeyId, KeyRole, NotReleasable, Policy, Verb};
pub use report::*;
pub use sign::{Authorization, Identity, Signed, TrackDoc};
pub use types::*;
