//! # tisa-kit
//!
//! What the `tisa` command line, its demo, benchmark and feeds, and the
//! cross-process tests share, none of it a command of its own:
//!
//! - [`natsd`]: finding/installing and running nats-server.
//! - [`cluster`]: running `tisa node` processes (a broker and three nodes).
//! - [`operator`]: the operator's side of the control protocol: the options
//!   every operator command takes, calls to the party's own node, signing a
//!   release decision locally.
//! - [`grants`]: standing grants issued and revoked, signed locally.
//! - [`util`]: signals and UTC times.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cluster;
pub mod grants;
pub mod natsd;
pub mod operator;
pub mod util;

pub use operator::{sign_and_decide, Common, Ctx};
