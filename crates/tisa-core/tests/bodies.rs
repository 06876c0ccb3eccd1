//! Report bodies outside the core: what a node keeps in memory is the
//! header and digests; content and manifest go to the shell's store and
//! come back only to be sent or shown. Driven by hand (not the Sim) so that
//! every stash and every transmit that needs a body is seen.

mod common;

use std::collections::HashMap;

use common::*;
use tisa_core::{BodyKey, FillError, Node, Payload, Released, Report, Transmit};

/// A node as its shell runs it: bodies outside, in `store`.
struct Outside {
    node: Node,
    store: HashMap<BodyKey, Report>,
    /// Transmits that named a body (before it was filled).
    needed: Vec<Transmit>,
}

impl Outside {
    fn new(p: Party) -> Outside {
        let node = Node::new(p, default_policy(), 7, node_key(p)).expect("registered").keep_bodies_outside();
        Outside { node, store: HashMap::new(), needed: Vec::new() }
    }

    /// Stashes to the store, then the transmits, filled from it.
    fn drain(&mut self) -> Vec<Transmit> {
        while let Some(s) = self.node.poll_stash() {
            self.store.insert(s.key, s.body);
        }
        let mut out = Vec::new();
        while let Some(mut t) = self.node.poll_transmit() {
            if let Some(k) = t.body.clone() {
                self.needed.push(t.clone());
                t.fill(&self.store[&k]).expect("the body was stashed");
            }
            out.push(t);
        }
        while self.node.poll_event().is_some() {}
        out
    }
}

fn deliver(to: &mut Outside, from: Party, ts: Vec<Transmit>) {
    let me = to.node.party();
    for t in ts.into_iter().filter(|t| t.to == me) {
        to.node.handle_message(Timestamp(T0), from, t.envelope);
    }
}

/// KR submits report `id` (tag `tag`, for JP), the hub asks, KR approves
/// (the tearline only, if so): the hub's transmits after the approval.
fn submit_and_approve(kr: &mut Outside, us: &mut Outside, id: &str, tag: &str, tearline_only: bool) -> Vec<Transmit> {
    let d = draft(Category::NkMissile, Classification::Secret, "USA,JPN", tag);
    kr.node.submit(Timestamp(T0), report_id(id), d).unwrap();
    let out = kr.drain();
    assert!(kr.needed.is_empty(), "a fresh report goes out with its content in hand");
    deliver(us, KR, out);
    let out = us.drain();
    deliver(kr, US, out);
    kr.drain();
    kr.node.approve(Timestamp(T0), &rid(id, 1, JP), tearline_only, &approver(KR, 0)).unwrap();
    let out = kr.drain();
    deliver(us, KR, out);
    us.drain()
}

/// [`submit_and_approve`] of `KR-b1` between two nodes with bodies outside.
fn approved_flow() -> (Outside, Outside, Vec<Transmit>) {
    let (mut kr, mut us) = (Outside::new(KR), Outside::new(US));
    let out = submit_and_approve(&mut kr, &mut us, "KR-b1", "b", false);
    (kr, us, out)
}

#[test]
fn the_hub_forwards_an_approved_report_from_its_store_not_its_memory() {
    let (kr, us, out) = approved_flow();
    // Both nodes stashed the whole report under its key.
    let key = BodyKey { report_id: report_id("KR-b1"), revision: 1 };
    for n in [&kr, &us] {
        let body = n.store.get(&key).expect("stashed");
        assert_eq!(body.content, content("b", true));
        assert!(!body.manifest.bytes.is_empty());
    }
    // The delivery the approval released needed the body: the hub held no content.
    assert_eq!(us.needed.len(), 1, "{:?}", us.needed);
    let blank = &us.needed[0];
    assert_eq!(blank.body.as_ref(), Some(&key));
    match &blank.envelope.payload {
        Payload::Delivery(d) => {
            assert_eq!(d.released, Released::Full(Default::default()), "blank until filled");
            assert!(d.manifest.bytes.is_empty());
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
    // Filled, it is the report KR wrote.
    let d = out.iter().find_map(|t| match &t.envelope.payload {
        Payload::Delivery(d) if t.to == JP => Some(d),
        _ => None,
    });
    assert_eq!(d.expect("a delivery to JP").released, Released::Full(content("b", true)));
}

#[test]
fn a_body_that_is_not_the_reports_is_refused_by_fill_and_by_the_recipient() {
    let (_, us, _) = approved_flow();
    let key = BodyKey { report_id: report_id("KR-b1"), revision: 1 };
    let mut t = us.needed[0].clone();
    // Another report's body: fill refuses it.
    let mut other = us.store[&key].clone();
    other.header.revision = 2;
    assert_eq!(t.clone().fill(&other), Err(FillError::Mismatch(key.clone())));
    // A damaged store (same header and manifest, other text): fill cannot
    // tell, but the recipient checks the content against the signed manifest.
    let mut damaged = us.store[&key].clone();
    damaged.content.body = tisa_core::Sensitive::new("something else");
    t.fill(&damaged).unwrap();
    let mut jp = Outside::new(JP);
    jp.node.handle_message(Timestamp(T0), US, t.envelope);
    let out = jp.drain();
    assert!(jp.store.is_empty(), "nothing stashed from a refused delivery");
    assert!(
        out.iter().any(|t| matches!(&t.envelope.payload, Payload::Rejection(r) if r.code == "UNVERIFIED")),
        "{out:?}"
    );
    assert!(jp.node.inbox(None, 10).unwrap().items.is_empty());
}

#[test]
fn the_recipient_keeps_what_was_released_and_shows_it_from_the_store() {
    let (_, _, out) = approved_flow();
    let mut jp = Outside::new(JP);
    deliver(&mut jp, US, out);
    jp.drain();
    let mut page = jp.node.inbox(None, 10).unwrap();
    assert_eq!(page.items.len(), 1);
    let e = &mut page.items[0];
    let key = e.body.clone().expect("an inbox entry names its body");
    assert_eq!(e.delivery.released, Released::Full(Default::default()), "blank in the core");
    e.fill(&jp.store[&key]).unwrap();
    assert_eq!(e.delivery.released, Released::Full(content("b", true)));
    assert!(e.body.is_none());
}

#[test]
fn a_tearline_release_stores_only_the_tearline_at_the_recipient() {
    let (mut kr, mut us) = (Outside::new(KR), Outside::new(US));
    let out = submit_and_approve(&mut kr, &mut us, "KR-t1", "t", true);
    let mut jp = Outside::new(JP);
    deliver(&mut jp, US, out);
    jp.drain();
    let body = &jp.store[&BodyKey { report_id: report_id("KR-t1"), revision: 1 }];
    assert_eq!(content_strings(&body.content).concat().matches("CANARY-").count(), 1, "{body:?}");
    assert!(body.content.tearline.is_some());
    assert!(body.content.body.expose().is_empty() && body.content.title.expose().is_empty());
}

#[test]
fn a_node_that_keeps_bodies_in_memory_fills_everything_itself() {
    let mut kr = Outside::new(KR);
    let mut us = Outside { node: Node::new(US, default_policy(), 7, node_key(US)).unwrap(), ..Outside::new(US) };
    let out = submit_and_approve(&mut kr, &mut us, "KR-m1", "m", false);
    assert!(us.store.is_empty() && us.needed.is_empty(), "no stash, no blank transmit in memory mode");
    assert!(out.iter().any(|t| matches!(&t.envelope.payload,
        Payload::Delivery(d) if d.released == Released::Full(content("m", true)))));
    let pending_title = us.node.inbox(None, 10).unwrap().items[0].delivery.released.clone();
    assert_eq!(pending_title, Released::Full(content("m", true)), "queries come filled");
}
