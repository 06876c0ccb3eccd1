//! Encoding of a node's durable input log (`proto/tisa/v1/store.proto`).

use prost::Message;
use tisa_core::{Envelope, Party, ReportId, Timestamp};

use crate::control::{request_from_proto, request_to_proto, ControlRequest};
use crate::convert::{envelope_from_proto, envelope_to_proto, party_from, party_to, report_id};
use crate::error::DecodeError;
use crate::proto;

/// One state-changing input to the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message that arrived on the link to `link`.
    Inbound {
        /// The peer.
        link: Party,
        /// The message.
        envelope: Envelope,
    },
    /// An operator command (submit, decide, grant, revoke).
    Command {
        /// The request.
        request: ControlRequest,
        /// For a submit: the id the node chose.
        report_id: Option<ReportId>,
    },
    /// A timer input.
    Timeout,
    /// The link to `link` came back (or the periodic check ran): reconcile.
    LinkUp {
        /// The peer.
        link: Party,
    },
}

/// An input with the `now` the core was given.
#[derive(Clone, Debug)]
pub struct LoggedInput {
    /// The core's `now`.
    pub at: Timestamp,
    /// The input.
    pub input: Input,
}

/// Encodes a log record.
pub fn encode_logged(l: &LoggedInput) -> Vec<u8> {
    use proto::logged_input::Input as I;
    let (input, report_id) = match &l.input {
        Input::Inbound { link, envelope } => (
            I::Inbound(proto::LoggedInbound { link: party_to(*link), envelope: Some(envelope_to_proto(envelope)) }),
            String::new(),
        ),
        Input::Command { request, report_id } => {
            (I::Command(request_to_proto(request)), report_id.as_ref().map(ToString::to_string).unwrap_or_default())
        }
        Input::Timeout => (I::Timeout(true), String::new()),
        Input::LinkUp { link } => (I::LinkUp(party_to(*link)), String::new()),
    };
    proto::LoggedInput { at_ms: l.at.as_millis(), input: Some(input), report_id }.encode_to_vec()
}

/// Decodes a log record.
pub fn decode_logged(bytes: &[u8]) -> Result<LoggedInput, DecodeError> {
    use proto::logged_input::Input as I;
    let p = proto::LoggedInput::decode(bytes)?;
    let input = match p.input.ok_or(DecodeError::Missing("logged_input.input"))? {
        I::Inbound(i) => Input::Inbound {
            link: party_from("logged_inbound.link", i.link)?,
            envelope: envelope_from_proto(i.envelope.ok_or(DecodeError::Missing("logged_inbound.envelope"))?)?,
        },
        I::Command(c) => Input::Command {
            request: request_from_proto(c)?,
            report_id: if p.report_id.is_empty() { None } else { Some(report_id("report_id", p.report_id)?) },
        },
        I::Timeout(_) => Input::Timeout,
        I::LinkUp(p) => Input::LinkUp { link: party_from("logged_input.link_up", p)? },
    };
    Ok(LoggedInput { at: Timestamp(p.at_ms), input })
}

/// Encodes a report body for the node's body store (the wire report).
pub fn encode_body(r: &tisa_core::Report) -> Vec<u8> {
    crate::convert::report_to_proto(&r.header, Some(&r.content), None, Some(&r.manifest)).encode_to_vec()
}

/// Decodes a report body from the node's body store.
pub fn decode_body(bytes: &[u8]) -> Result<tisa_core::Report, DecodeError> {
    crate::convert::report_from(proto::IntelligenceReport::decode(bytes)?)
}
