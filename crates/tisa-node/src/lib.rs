//! # tisa-node
//!
//! The thin IO shell around [`tisa_core::Node`]: one actor per party (Alice
//! Ryhl's "actors with tokio"). [`spawn`] starts one task that owns the
//! core and loops over `tokio::select!` on inbound NATS messages, operator
//! control calls, publish acknowledgements, link-ups, the core's timer and
//! shutdown. After every input it drains the core's outputs in the
//! documented order: transmits, then events, then the next timeout.
//!
//! The actor never decides anything: scope, consent, releasability and
//! classification are the core's. It converts nothing either: the transport
//! crate hands it domain types.
//!
//! - `actor`: [`spawn`], the task and its select loop.
//! - `replay`: the state rebuilt from the input log on start; `apply`, the
//!   one way an input reaches the core.
//! - `ingress`: inbound messages, the group commit, dead letters.
//! - `ahead`: signature checks run while a group commit syncs.
//! - `egress`: transmits (bodies filled, batches, acknowledgements, the
//!   outbox) and events.
//! - `notices`: progress notices and receipts held back a while, to go
//!   together after the deliveries.
//! - `control`: the operator's calls (commands and queries).
//! - `lane`: the real-time lane for missile tracks, on its own task.
//! - `courier`: off-line passage: what waits for the next bundle, bundle
//!   export and import.
//! - [`store`]: the node's durable state (the input log, bodies, sent records).
//! - [`audit`]: the audit trail (`audit.log`, hash-chained, with signed heads).
//! - [`failpoint`]: named crash points for fault tests.
//! - [`timeline`]: a track update's or a report's steps through the node, for measuring.
//! - [`clock`]: the wall clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod actor;
mod ahead;
pub mod audit;
pub mod clock;
mod control;
mod courier;
mod early;
mod egress;
pub mod failpoint;
mod ingress;
mod lane;
mod notices;
mod replay;
mod resend;
pub mod store;
pub mod timeline;
mod wal;
mod windows;

pub use actor::{spawn, NodeConfig, NodeError, Reload};
