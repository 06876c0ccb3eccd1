//! # tisa-node
//!
//! The thin IO shell around [`tisa_core::Node`]: one actor per party (Alice
//! Ryhl's "actors with tokio"). A cloneable [`NodeHandle`] holds a bounded
//! `mpsc::Sender`; one task owns the core and loops over `tokio::select!` on
//! inbound NATS messages, operator control calls, handle commands, the core's
//! timer and shutdown. After every input it drains the core's outputs in the
//! documented order: transmits, then events, then the next timeout.
//!
//! The actor never decides anything: scope, consent, releasability and
//! classification are the core's. It converts nothing either: the transport
//! crate hands it domain types.
//!
//! Its state lives in [`store`] (the input log) and its audit trail in
//! [`audit`] (`audit.log`, hash-chained, with signed heads).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod actor;
pub mod audit;
pub mod failpoint;
pub mod store;

pub use actor::{spawn, NodeConfig, NodeError, NodeHandle};
