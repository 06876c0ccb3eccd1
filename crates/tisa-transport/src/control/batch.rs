//! Many `submit` requests in one control message, on
//! `tisa.ctl.<party>.submit-batch` ([`SUBMIT_BATCH_VERB`]), answered with
//! one message: a feed's read or a bulk import costs the broker, the node
//! and the client two messages, not two per report. Each request inside is
//! an encoded [`ControlRequest`] with its own signed action, decoded and
//! checked exactly as if it had come alone on `submit`; anything but a
//! submit is refused, item by item.

use prost::Message as _;
use tisa_core::Authorization;

use super::{ControlReply, ControlRequest};
use crate::convert::Wire;
use crate::error::DecodeError;
use crate::proto;

/// The control subject's verb for a submit batch.
pub const SUBMIT_BATCH_VERB: &str = "submit-batch";

/// The most requests a node takes in one batch message (a larger one is
/// refused whole, each item answered with why).
pub const MAX_BATCH: usize = 1024;

/// A request of a batch, decoded with its signed action, or why it could not be.
pub type BatchItem = Result<(ControlRequest, Option<Authorization>), DecodeError>;

/// One batch message from requests already encoded with their actions
/// ([`ControlRequest::encode_signed`]).
pub fn encode_batch(requests: Vec<Vec<u8>>) -> Vec<u8> {
    proto::ControlBatch { requests }.encode_to_vec()
}

/// The size on the wire of a batch of requests of these encoded sizes:
/// to keep a batch under the broker's `max_payload`.
pub fn batch_len(sizes: impl IntoIterator<Item = usize>) -> usize {
    sizes.into_iter().map(|n| 1 + prost::encoding::encoded_len_varint(n as u64) + n).sum()
}

/// The requests of a batch message, in order, each decoded as a request on
/// `submit` (one that is not a submit: `KindMismatch`). `Err` if the
/// message itself cannot be read or holds more than [`MAX_BATCH`].
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<BatchItem>, DecodeError> {
    let batch = proto::ControlBatch::decode(bytes)?;
    if batch.requests.len() > MAX_BATCH {
        return Err(DecodeError::Inconsistent("a submit batch of more than 1024 requests"));
    }
    Ok(batch
        .requests
        .iter()
        .map(|r| {
            let (req, auth) = ControlRequest::decode_signed(r)?;
            match req {
                ControlRequest::Submit(_) => Ok((req, auth)),
                other => {
                    Err(DecodeError::KindMismatch { subject: SUBMIT_BATCH_VERB.to_owned(), payload: other.verb() })
                }
            }
        })
        .collect())
}

/// One message with the replies to a batch, in its order.
pub fn encode_replies(replies: &[ControlReply]) -> Vec<u8> {
    proto::ControlReplies { replies: replies.iter().map(Wire::encode).collect() }.encode_to_vec()
}

/// The replies to a batch of `n` requests. One reply alone (the node
/// refused the message as a whole: unreadable, too many requests, or its
/// answer too large) answers every request.
pub fn decode_replies(bytes: &[u8], n: usize) -> Result<Vec<ControlReply>, DecodeError> {
    let m = proto::ControlReplies::decode(bytes)?;
    let replies = m.replies.iter().map(|r| ControlReply::decode(r)).collect::<Result<Vec<_>, _>>()?;
    match replies.len() {
        k if k == n => Ok(replies),
        1 => Ok(vec![replies[0].clone(); n]),
        _ => Err(DecodeError::Inconsistent("a submit batch answered with another number of replies")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ListQuery;
    use tisa_core::{Category, Classification, Content, Party, ReportDraft};

    fn draft() -> ReportDraft {
        ReportDraft {
            category: Category::NkMissile,
            classification: Classification::Secret,
            releasable_to: [Party::Us].into_iter().collect(),
            content: Content::default(),
            corrects: None,
            submitted_by: String::new(),
            submitter_key: None,
            submission: None,
            source_key: None,
            offline: false,
        }
    }

    #[test]
    fn a_batch_decodes_to_its_requests_in_order_and_refuses_anything_but_a_submit_item_by_item() {
        let health = ControlRequest::Health.encode_signed(None);
        let inbox = ControlRequest::Inbox(ListQuery::default()).encode_signed(None);
        let submit = ControlRequest::Submit(draft()).encode_signed(None);
        let bytes = encode_batch(vec![submit.clone(), health, submit.clone(), inbox, b"\xff\xff".to_vec()]);
        let sizes = [submit.len(), 3, submit.len(), 5, 2];
        assert!(batch_len(sizes) > 0);
        let got = decode_batch(&bytes).unwrap();
        assert_eq!(got.len(), 5);
        assert!(matches!(got[0], Ok((ControlRequest::Submit(_), None))));
        assert!(matches!(got[1], Err(DecodeError::KindMismatch { payload: "health", .. })), "{:?}", got[1]);
        assert!(matches!(got[2], Ok((ControlRequest::Submit(_), None))));
        assert!(matches!(got[3], Err(DecodeError::KindMismatch { payload: "inbox", .. })));
        assert!(got[4].is_err(), "an undecodable item");
        // The control: alone, a health request decodes (the batch refused it as not a submit).
        assert!(matches!(
            ControlRequest::decode_signed(&ControlRequest::Health.encode_signed(None)),
            Ok((ControlRequest::Health, None))
        ));
    }

    #[test]
    fn a_batch_larger_than_the_bound_is_refused_whole_and_its_encoded_size_is_known() {
        let submit = ControlRequest::Submit(draft()).encode_signed(None);
        let at_bound = encode_batch(vec![submit.clone(); MAX_BATCH]);
        assert_eq!(batch_len(vec![submit.len(); MAX_BATCH]), at_bound.len());
        assert_eq!(decode_batch(&at_bound).unwrap().len(), MAX_BATCH);
        let over = encode_batch(vec![submit; MAX_BATCH + 1]);
        assert!(decode_batch(&over).is_err());
    }

    #[test]
    fn replies_come_back_in_order_and_a_single_reply_answers_them_all() {
        let rs = vec![ControlReply::error("A", "one"), ControlReply::error("B", "two")];
        assert_eq!(decode_replies(&encode_replies(&rs), 2).unwrap(), rs);
        let one = ControlReply::error("TOO_LARGE", "x");
        let whole = encode_replies(std::slice::from_ref(&one));
        assert_eq!(decode_replies(&whole, 3).unwrap(), vec![one.clone(), one.clone(), one]);
        // The wrong count is not taken as the batch's replies.
        assert!(decode_replies(&encode_replies(&rs), 3).is_err());
    }
}
