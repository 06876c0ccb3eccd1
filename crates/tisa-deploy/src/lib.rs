//! # tisa-deploy
//!
//! What a deployment is made of, as files: generated, loaded and checked
//! here, shared by the `tisa` command line (`tisa agreement`, `tisa keys`,
//! `tisa broker config`, `--config`), the kit that starts test clusters and
//! the demo, and the benchmark.
//!
//! - [`agreement`]: the agreement file (versioned policy, public keys).
//! - [`chain`]: its versions, each signed by the three parties: canonical
//!   form, `tisa agreement sign`, verification of the chain.
//! - [`keys`]: signing keys (node and approver key files).
//! - [`passphrase`]: key files sealed under a passphrase.
//! - [`broker`]: generated nats-server deployments and per-party credentials.
//! - [`config`]: the node and CLI config files `broker` writes.
//! - [`secret`]: writing secret files (mode 0600).
//! - [`duration`]: durations as written in the agreement and on the command line (`24h`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agreement;
pub mod broker;
pub mod chain;
pub mod config;
pub mod duration;
pub mod keys;
pub mod passphrase;
pub mod roster;
pub mod secret;

pub use duration::{human_duration, parse_duration};
pub use secret::write_secret;

/// Default NATS URL when neither `--nats` nor `TISA_NATS_URL` (nor a config
/// file) says otherwise; the default of `tisa broker config --url`.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
