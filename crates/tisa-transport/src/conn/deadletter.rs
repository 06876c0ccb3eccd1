//! A node's dead-letter stream: what it could not take, reason and ids
//! only, in its own account on its own broker.

use std::time::Duration;

use bytes::Bytes;
use tisa_core::Party;

use crate::control::DeadLetter;
use crate::convert::Wire;
use crate::error::TransportError;
use crate::subjects;

use super::links::PUBLISH_ACK_TIMEOUT;

/// The party's dead-letter stream: `TISA_KR_DEADLETTER`, …
pub fn dead_letter_stream(party: Party) -> String {
    format!("TISA_{}_DEADLETTER", party.code())
}

/// Most dead letters a node's stream keeps (the oldest go first; every dead
/// letter is also in the node's audit log for good).
pub const DEAD_LETTER_MAX: i64 = 10_000;

/// A node's dead-letter stream, in its own account on its own broker (the
/// control connection): written by the node, read back for `tisa deadletter list`.
#[derive(Clone)]
pub struct DeadLetterBox {
    pub(crate) js: async_nats::jetstream::Context,
    pub(crate) party: Party,
    /// How many servers of the cluster keep the stream.
    pub(crate) replicas: usize,
}

impl std::fmt::Debug for DeadLetterBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&dead_letter_stream(self.party))
    }
}

impl DeadLetterBox {
    fn fail(&self, e: &dyn std::fmt::Display) -> TransportError {
        TransportError::Publish { subject: subjects::dead_letter(self.party), reason: e.to_string() }
    }

    /// Creates the stream if it does not exist.
    pub async fn ensure(&self) -> Result<async_nats::jetstream::stream::Stream, TransportError> {
        use async_nats::jetstream::stream as js_stream;
        let stream = self
            .js
            .get_or_create_stream(js_stream::Config {
                name: dead_letter_stream(self.party),
                subjects: vec![subjects::dead_letter(self.party)],
                storage: js_stream::StorageType::File,
                max_messages: DEAD_LETTER_MAX,
                discard: js_stream::DiscardPolicy::Old,
                max_message_size: 64 * 1024,
                duplicate_window: Duration::from_secs(120),
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| self.fail(&format!("stream {}: {e}", dead_letter_stream(self.party))))?;
        super::inbound::warn_replicas(
            &dead_letter_stream(self.party),
            stream.cached_info().config.num_replicas,
            self.replicas,
        );
        Ok(stream)
    }

    /// Writes a dead letter durably (acknowledged by the stream); returns
    /// its sequence there. Deduplicated by the inbound stream and sequence,
    /// so a redelivered message is not dead-lettered twice.
    pub async fn put(&self, d: &DeadLetter) -> Result<u64, TransportError> {
        use async_nats::jetstream::context::PublishErrorKind;
        let subject = subjects::dead_letter(self.party);
        let publish = || async {
            let mut msg = async_nats::jetstream::message::PublishMessage::build().payload(Bytes::from(d.encode()));
            if let Some(seq) = d.stream_seq {
                msg = msg.message_id(format!("dl.{}.{seq}", d.stream));
            }
            let ack = self.js.send_publish(subject.clone(), msg).await?;
            match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                Ok(r) => r,
                Err(_) => Err(PublishErrorKind::TimedOut.into()),
            }
        };
        let ack = match publish().await {
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                self.ensure().await?;
                publish().await
            }
            r => r,
        }
        .map_err(|e| self.fail(&e))?;
        Ok(ack.sequence)
    }

    /// The `limit` most recent dead letters, newest first, and how many the
    /// stream holds.
    pub async fn list(&self, limit: usize) -> Result<(Vec<DeadLetter>, u64), TransportError> {
        let stream = self.ensure().await?;
        let info = stream.get_info().await.map_err(|e| self.fail(&e))?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        let mut seq = last;
        while out.len() < limit && seq >= first.max(1) {
            match stream.get_raw_message(seq).await {
                Ok(m) => {
                    let mut d = DeadLetter::decode(&m.payload).unwrap_or_else(|e| DeadLetter {
                        class: "UNREADABLE".into(),
                        reason: e.code().into(),
                        ..DeadLetter::default()
                    });
                    d.seq = seq;
                    out.push(d);
                }
                Err(e) if e.kind() == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(self.fail(&e)),
            }
            seq -= 1;
        }
        Ok((out, info.state.messages))
    }
}
