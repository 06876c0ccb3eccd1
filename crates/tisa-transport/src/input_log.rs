//! Encoding of a node's durable input log (`proto/tisa/v1/store.proto`):
//! one [`LoggedInput`] per record. A command is logged as the control
//! request it came from (plus, for a submit, the report id the node chose),
//! so the log needs nothing of its own when a command is added.
//!
//! Report bodies in the node's store are wire reports ([`Report`](tisa_core::Report)'s
//! [`Wire`] impl).

use tisa_core::{Command, Input, LoggedInput, Party, Timestamp};

use crate::control::{CommandRequest, ControlRequest};
use crate::convert::{party_from, party_to, report_id, signed_from, signed_to, Wire};
use crate::error::DecodeError;
use crate::proto;

/// The input-log record of a message that arrived on `link` at `at`,
/// written from the envelope's bytes as they came
/// ([`crate::decode_inbound_shared`]) instead of encoding the decoded
/// envelope again: a nested message is its bytes, length-prefixed, so the
/// record decodes to `LoggedInput { at, input: Input::Message { link,
/// envelope } }` for the envelope those bytes decode to (byte for byte the
/// same record when the sender encoded it as this node would).
pub fn encode_inbound(at: Timestamp, link: Party, envelope: &[u8]) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
    // `LoggedInput { at_ms = 1, inbound = 2: LoggedInbound { link = 1, envelope = 2 } }`,
    // fields in order and proto3 defaults left out, as prost writes them.
    let (at_ms, link) = (at.as_millis(), party_to(link) as u64);
    let link_len = if link != 0 { key_len(1) + encoded_len_varint(link) } else { 0 };
    let inner = link_len + key_len(2) + encoded_len_varint(envelope.len() as u64) + envelope.len();
    let mut out = Vec::with_capacity(inner + 24);
    if at_ms != 0 {
        encode_key(1, WireType::Varint, &mut out);
        encode_varint(at_ms, &mut out);
    }
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(inner as u64, &mut out);
    if link != 0 {
        encode_key(1, WireType::Varint, &mut out);
        encode_varint(link, &mut out);
    }
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(envelope.len() as u64, &mut out);
    out.extend_from_slice(envelope);
    out
}

impl Wire for LoggedInput {
    type Proto = proto::LoggedInput;

    fn to_proto(&self) -> Self::Proto {
        use proto::logged_input::Input as I;
        let (input, report_id) = match &self.input {
            Input::Message { link, envelope } => (
                I::Inbound(proto::LoggedInbound { link: party_to(*link), envelope: Some(envelope.to_proto()) }),
                String::new(),
            ),
            Input::Command(c, auth) => {
                let id = match c {
                    Command::Submit { report_id, .. } => report_id.to_string(),
                    _ => String::new(),
                };
                let mut p = ControlRequest::from(CommandRequest::from(c.clone())).to_proto();
                p.authorization = auth.as_ref().map(|a| signed_to(&a.action));
                (I::Command(p), id)
            }
            Input::Courier { link, envelope } => (
                I::Courier(proto::LoggedInbound { link: party_to(*link), envelope: Some(envelope.to_proto()) }),
                String::new(),
            ),
            Input::TrackWindow { link, envelope, first_seq, updates } => (
                I::TrackWindow(proto::LoggedTrackWindow {
                    latest: Some(proto::LoggedInbound { link: party_to(*link), envelope: Some(envelope.to_proto()) }),
                    first_seq: *first_seq,
                    updates: *updates,
                }),
                String::new(),
            ),
            Input::Timeout => (I::Timeout(true), String::new()),
            Input::LinkUp { link } => (I::LinkUp(party_to(*link)), String::new()),
        };
        proto::LoggedInput { at_ms: self.at.as_millis(), input: Some(input), report_id }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        use proto::logged_input::Input as I;
        let input = match p.input.ok_or(DecodeError::Missing("logged_input.input"))? {
            I::Inbound(i) => Input::Message {
                link: party_from("logged_inbound.link", i.link)?,
                envelope: Wire::from_proto(i.envelope.ok_or(DecodeError::Missing("logged_inbound.envelope"))?)?,
            },
            I::Command(mut c) => {
                let action = c.authorization.take().map(|s| signed_from("authorization", Some(s))).transpose()?;
                let (request, auth) = ControlRequest::from_signed_proto(c, action)?;
                let request = request.split().map_err(|_| DecodeError::Inconsistent("a logged command is a query"))?;
                let id = p.report_id;
                Input::Command(request.into_command(|| report_id("report_id", id))?, auth)
            }
            I::Courier(i) => Input::Courier {
                link: party_from("logged_courier.link", i.link)?,
                envelope: Wire::from_proto(i.envelope.ok_or(DecodeError::Missing("logged_courier.envelope"))?)?,
            },
            I::TrackWindow(w) => {
                let i = w.latest.ok_or(DecodeError::Missing("logged_track_window.latest"))?;
                Input::TrackWindow {
                    link: party_from("logged_track_window.link", i.link)?,
                    envelope: Wire::from_proto(
                        i.envelope.ok_or(DecodeError::Missing("logged_track_window.envelope"))?,
                    )?,
                    first_seq: w.first_seq,
                    updates: w.updates,
                }
            }
            I::Timeout(_) => Input::Timeout,
            I::LinkUp(l) => Input::LinkUp { link: party_from("logged_input.link_up", l)? },
        };
        Ok(LoggedInput { at: Timestamp(p.at_ms), input })
    }
}
