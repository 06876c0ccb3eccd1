//! The operator's client for its own node's control subjects.

use std::time::Duration;

use async_nats::Client;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tisa_core::Party;

use crate::control::{ControlReply, ControlRequest, WatchEvent};
use crate::convert::Wire;
use crate::error::{DecodeError, TransportError};
use crate::subjects;

use super::{connect_once, prove_ready, Endpoint};

/// An operator's client for its own node's control subjects.
pub struct ControlClient {
    client: Client,
    party: Party,
    url: String,
    timeout: Duration,
}

impl ControlClient {
    /// Connects to `url` to talk to `party`'s node.
    pub async fn connect(ep: &Endpoint, party: Party, timeout: Duration) -> Result<ControlClient, TransportError> {
        let client = connect_once(ep, &format!("tisa-{}-cli", party.lower())).await?;
        Ok(ControlClient { client, party, url: ep.url.clone(), timeout })
    }

    /// Sends a request and waits for the node's reply.
    pub async fn call(&self, req: &ControlRequest) -> Result<ControlReply, TransportError> {
        use async_nats::RequestErrorKind;
        let subject = subjects::control(self.party, req.verb());
        let payload = req.encode();
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(TransportError::TooLarge {
                what: format!("the {} request", req.verb()),
                size: payload.len(),
                limit,
            });
        }
        let fut = self.client.request(subject.clone(), Bytes::from(payload));
        let msg = match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => return Err(TransportError::Timeout { party: self.party, timeout: self.timeout }),
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {
                return Err(TransportError::NoNode {
                    party: self.party,
                    lower: self.party.lower(),
                    url: self.url.clone(),
                })
            }
            Ok(Err(e)) if e.kind() == RequestErrorKind::TimedOut => {
                return Err(TransportError::Timeout { party: self.party, timeout: self.timeout })
            }
            Ok(Err(e)) => return Err(TransportError::Request { subject, reason: e.to_string() }),
            Ok(Ok(m)) => m,
        };
        Ok(ControlReply::decode(&msg.payload)?)
    }

    /// Subscribes to the node's event stream; returns once the subscription
    /// is proven live, so no event published afterwards is missed.
    pub async fn watch(
        &self,
    ) -> Result<impl Stream<Item = Result<WatchEvent, DecodeError>> + Unpin + use<>, TransportError> {
        let subject = subjects::events(self.party);
        let sub = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|e| TransportError::Subscribe { subject, reason: e.to_string() })?;
        prove_ready(&self.client, self.party).await?;
        Ok(sub.map(|m| WatchEvent::decode(&m.payload)))
    }
}
