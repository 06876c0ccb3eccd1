//! # tisa-transport
//!
//! The edge of tisa: the only crate that knows NATS and protobuf.
//!
//! - [`proto`]: code generated from `proto/tisa/v1/*.proto` (package `tisa.v1`).
//! - [`convert`]: strict prost ⇄ domain conversion (`tisa_core` types).
//! - [`subjects`]: every subject tisa uses, who publishes and who subscribes.
//! - [`control`]: the operator ⇄ own-node control protocol in domain terms.
//! - [`conn`]: connections with retry, readiness probes, the node's links and
//!   the operator's control client.
//! - [`clock`]: the wall clock (`now`), read in one place for the shell, the CLI and the tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// Generated protobuf types (package `tisa.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/tisa.v1.rs"));
}

pub mod clock;
pub mod conn;
pub mod control;
pub mod convert;
pub mod error;
pub mod store;
pub mod subjects;

pub use conn::{
    connect_once, prove_ready, AckWait, ControlCall, ControlClient, DeadLetterBox, Endpoint, Inbound, InboundMeta,
    LinkUrls, Links,
};
pub use control::{
    ControlReply, ControlRequest, DeadLetter, Health, ListQuery, RecipientView, ReplyView, SendError, StatusView,
    WatchEvent,
};
pub use convert::{decode_envelope, decode_inbound, encode_batch, encode_envelope};
pub use error::{DecodeError, TransportError};
