//! Replies that fit the broker's `max_payload`. A page of a list is cut to
//! what fits, its `next_after` then pointing after the last item kept; an
//! answer that still does not fit (one item alone too large, or an answer
//! that is not a page) becomes an error reply saying so. The broker never
//! gets a reply it would drop, so an operator never waits for one in vain.

use prost::Message;
use tisa_core::{held_cursor, inbox_cursor, Page};

use super::ControlReply;
use crate::convert::Wire;

/// Room kept for what a page holds besides its items: the `next_after`
/// cursor (an id of at most 128 characters, and its suffix) and the reply's
/// own framing.
const FRAMING: usize = 256;

/// Cuts a page of `pending`, `inbox`, `status`, `tracks` or `held` to at most
/// `limit` bytes encoded (0: no limit); other replies are returned as they are.
pub fn fit_page(reply: ControlReply, limit: usize) -> ControlReply {
    if limit == 0 {
        return reply;
    }
    match reply {
        ControlReply::Pending(p) => cut(p, limit, |v| v.request.request_id.to_string(), ControlReply::Pending),
        ControlReply::Inbox(p) => {
            cut(p, limit, |e| inbox_cursor(&e.delivery.header.id, e.delivery.header.revision), ControlReply::Inbox)
        }
        ControlReply::Status(p) => {
            cut(p, limit, |s| inbox_cursor(&s.header.id, s.header.revision), ControlReply::Status)
        }
        ControlReply::Tracks(p) => cut(p, limit, |t| t.update.doc.track_id.to_string(), ControlReply::Tracks),
        ControlReply::Held(p) => cut(p, limit, held_cursor, ControlReply::Held),
        other => other,
    }
}

/// The error reply sent instead of an answer of `size` bytes over the broker's `limit`.
pub fn too_large(size: usize, limit: usize) -> ControlReply {
    ControlReply::error(
        "TOO_LARGE",
        format!(
            "the answer is {size} bytes encoded; the broker accepts at most {limit} bytes per message \
             (max_payload): ask for less (one report, or a smaller --limit)"
        ),
    )
}

fn cut<T: Wire>(
    page: Page<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
    wrap: impl Fn(Page<T>) -> ControlReply,
) -> ControlReply {
    // What each item adds to the page: its field tag, its length, itself.
    let sizes: Vec<usize> = page
        .items
        .iter()
        .map(|i| {
            let n = i.to_proto().encoded_len();
            1 + prost::length_delimiter_len(n) + n
        })
        .collect();
    let total: usize = sizes.iter().sum();
    if total + FRAMING <= limit {
        return wrap(page);
    }
    let mut used = FRAMING;
    let keep = sizes.iter().take_while(|s| {
        used += **s;
        used <= limit
    });
    let keep = keep.count();
    if keep == 0 {
        return too_large(total + FRAMING, limit);
    }
    let mut items = page.items;
    items.truncate(keep);
    let next_after = items.last().map(&cursor);
    wrap(Page { items, next_after })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{GeoPoint, Identity, Party, PartySet, Timestamp, TrackDoc, TrackEntry, TrackId};

    fn track(n: u32) -> TrackEntry {
        let doc = TrackDoc {
            track_id: TrackId::new(format!("KR-T-{n:04}")).unwrap(),
            seq: 1,
            originator: Party::Kr,
            classification: tisa_core::Classification::Secret,
            releasable_to: "USA,JPN".parse::<PartySet>().unwrap(),
            launch: GeoPoint { lat_e6: 39_000_000, lon_e6: 125_000_000 },
            launched_at: Timestamp(1),
            position: GeoPoint { lat_e6: 40_000_000, lon_e6: 130_000_000 },
            altitude_m: 100_000,
            observed_at: Timestamp(2),
            impact: None,
            issued_at: Timestamp(3),
        };
        let signed = Identity::from_seed("kr-node", [1; 32]).sign(doc.to_bytes());
        TrackEntry { update: tisa_core::TrackUpdate { doc, signed, consent: None }, received_at: Timestamp(4) }
    }

    fn page(n: u32) -> ControlReply {
        ControlReply::Tracks(Page { items: (0..n).map(track).collect(), next_after: None })
    }

    #[test]
    fn a_page_over_the_limit_is_cut_and_points_at_the_rest() {
        let whole = page(100);
        let size = whole.encode().len();
        assert_eq!(fit_page(whole.clone(), 0), whole, "no limit");
        assert_eq!(fit_page(whole.clone(), size + FRAMING), whole, "fits");
        let cut = fit_page(whole, size / 3);
        let ControlReply::Tracks(p) = &cut else { panic!("{cut:?}") };
        assert!(p.items.len() > 10 && p.items.len() < 40, "{}", p.items.len());
        assert!(cut.encode().len() <= size / 3);
        let last = p.items.last().unwrap().update.doc.track_id.to_string();
        assert_eq!(p.next_after.as_deref(), Some(last.as_str()), "the next page starts after the last item kept");
    }

    #[test]
    fn a_held_page_is_cut_too_and_its_cursor_names_its_kind() {
        use tisa_core::{HeldKind, HeldView};
        let item = |n: u32| HeldView {
            kind: if n.is_multiple_of(2) { HeldKind::Delivery } else { HeldKind::Track },
            id: format!("KR-{n:04}"),
            revision: 1,
            originator: Party::Kr,
            grant_id: "KR-G-1".into(),
            held_at: Timestamp(1),
            statement_issued_at: None,
        };
        let whole = ControlReply::Held(Page { items: (0..200).map(item).collect(), next_after: None });
        let size = whole.encode().len();
        let cut = fit_page(whole, size / 2);
        let ControlReply::Held(p) = &cut else { panic!("{cut:?}") };
        assert!(p.items.len() > 50 && p.items.len() < 100, "{}", p.items.len());
        let last = p.items.last().unwrap();
        let want = match last.kind {
            HeldKind::Delivery => format!("delivery:{}.r1", last.id),
            HeldKind::Track => format!("track:{}", last.id),
        };
        assert_eq!(p.next_after.as_deref(), Some(want.as_str()));
    }

    #[test]
    fn an_item_too_large_alone_is_an_error_reply() {
        let one = fit_page(page(1), 100);
        let ControlReply::Error { code, message } = &one else { panic!("{one:?}") };
        assert_eq!(code, "TOO_LARGE");
        assert!(message.contains("max_payload") && message.contains("100 bytes"), "{message}");
    }
}
