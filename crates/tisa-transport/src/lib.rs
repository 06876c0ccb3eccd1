//! # tisa-transport
//!
//! The edge of tisa: the only crate that knows NATS and protobuf.
//!
//! - [`proto`]: code generated from `proto/tisa/v1/*.proto` (package `tisa.v1`).
//! - [`convert`]: the [`Wire`] trait, strict prost ⇄ domain conversion
//!   (`tisa_core` types), and envelopes.
//! - [`control`]: the operator ⇄ own-node control protocol in domain terms
//!   (one request type, one reply type; "Adding a command" is there).
//! - [`bundle`]: off-line bundles: export and import pages, the file.
//! - [`input_log`]: the encoding of a node's input log.
//! - [`subjects`]: every subject tisa uses, who publishes and who subscribes.
//! - [`conn`]: connections with retry, readiness probes, the node's links,
//!   its dead-letter stream and the operator's control client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// Generated protobuf types (package `tisa.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/tisa.v1.rs"));
}

pub mod bundle;
pub mod conn;
pub mod control;
pub mod convert;
pub mod error;
pub mod input_log;
pub mod subjects;

pub use conn::{
    connect_once, prove_ready, sign_action, sign_submission, wall_clock, AckWait, ControlCall, ControlClient,
    DeadLetterBox, Endpoint, Inbound, InboundMeta, LinkUrls, Links, Signer,
};
pub use control::{
    AgreementHealth, ChecksAheadHealth, CommandRequest, CommitHealth, ControlReply, ControlRequest, DeadLetter,
    DecisionQuery, EarlyForwardHealth, Health, ListQuery, NoticeHealth, Query, Retract, SendError, StreamHealth,
    StreamPeer, TrackLaneHealth, WatchEvent, WatchEvents,
};
pub use convert::{decode_envelope, decode_inbound, decode_inbound_shared, encode_batch, encode_envelope, Wire};
pub use error::{DecodeError, TransportError};
