//! Node state survives `kill -9`: each node logs every state-changing input
//! (fsync'd) before applying it, and replays the log on start.

use crate::common;

use std::time::Duration;

use crate::common::canary;
use crate::common::ctl::*;
use tisa_core::*;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

fn draft(title: &str, source_key: Option<&str>) -> ReportDraft {
    let body = if source_key.is_some() { format!("{title} body") } else { canary("body") };
    ReportDraft {
        offline: false,
        category: Category::NkMissile,
        classification: Classification::Secret,
        releasable_to: [Party::Us, Party::Jp].into_iter().collect(),
        content: Content { title: Sensitive::new(title), body: Sensitive::new(body), ..Default::default() },
        corrects: None,
        submitted_by: String::new(),
        submitter_key: None,
        submission: None,
        source_key: source_key.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_survives_kill_9() {
    let mut c = start(true).await;
    let restart = |c: &mut tisa_kit::cluster::Cluster, p: Party| {
        let n = c.node(p);
        n.kill();
        n.restart(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{p} did not come back: {e:#}"));
    };

    // KR submits; the hub asks for release.
    let kr = client(&c, Party::Kr).await;
    let title = canary("r1");
    let ControlReply::Submitted(tisa_core::Submitted { header: tisa_core::ReportHeader { id: report_id, .. }, .. }) =
        ask(&kr, ControlRequest::Submit(draft(&title, None))).await
    else {
        panic!()
    };
    let report_id = report_id.to_string();
    let key = canary("feed");
    let ControlReply::Submitted(tisa_core::Submitted {
        header: tisa_core::ReportHeader { id: fed, .. },
        duplicate,
        ..
    }) = ask(&kr, ControlRequest::Submit(draft("feed item", Some(&key)))).await
    else {
        panic!()
    };
    let fed = fed.to_string();
    assert!(!duplicate);
    let pending = |kr: tisa_transport::ControlClient, id: String| async move {
        wait_async(|| async {
            let ControlReply::Pending(tisa_core::Page { items, .. }) =
                ask(&kr, ControlRequest::Pending(ListQuery::default())).await
            else {
                return None;
            };
            items.into_iter().find(|i| i.request.report_id.as_str() == id).map(|i| i.request.request_id)
        })
        .await
    };
    let rq = pending(kr, report_id.clone()).await;

    // kill -9 KR: its reports, the pending request and the source key survive.
    restart(&mut c, Party::Kr);
    let kr = client(&c, Party::Kr).await;
    assert_eq!(pending(kr, report_id.clone()).await, rq, "the pending request survived");
    // Its title comes from the report bodies in the node store, not from memory.
    let kr = client(&c, Party::Kr).await;
    let ControlReply::Pending(tisa_core::Page { items, .. }) =
        ask(&kr, ControlRequest::Pending(ListQuery::default())).await
    else {
        panic!()
    };
    let item = items.iter().find(|i| i.request.report_id.as_str() == report_id).expect("still pending");
    assert_eq!(item.title.expose(), title, "the operator sees the title after a kill -9");
    assert!(!item.manifest.bytes.is_empty(), "and the signed manifest");
    let kr = client(&c, Party::Kr).await;
    let ControlReply::Submitted(tisa_core::Submitted {
        header: tisa_core::ReportHeader { id: again, .. },
        duplicate,
        ..
    }) = ask(&kr, ControlRequest::Submit(draft("feed item", Some(&key)))).await
    else {
        panic!()
    };
    let again = again.to_string();
    assert!(duplicate, "the source key is remembered across a kill -9");
    assert_eq!(again, fed);
    let ControlReply::Status(tisa_core::Page { items, .. }) =
        ask(&kr, ControlRequest::Status(ListQuery::default())).await
    else {
        panic!()
    };
    assert_eq!(items.len(), 2, "exactly the two reports, no more");

    // kill -9 the hub: it still holds the report and the open request.
    restart(&mut c, Party::Us);
    approve(&c, &kr, Party::Kr, rq, Decision::ApproveFull).await;
    let jp = client(&c, Party::Jp).await;
    let id = report_id.clone();
    wait_async(|| async { inbox_ids(&jp).await.contains(&id).then_some(()) }).await;

    // kill -9 JP: the report is still there, once.
    restart(&mut c, Party::Jp);
    let jp = client(&c, Party::Jp).await;
    let ids = inbox_ids(&jp).await;
    assert_eq!(ids.iter().filter(|x| **x == report_id).count(), 1, "JP holds it exactly once after a restart");
    // What the hub released after its own kill -9 (read back from its body
    // store) and what JP shows after its own (from its store) is the report KR wrote.
    let ControlReply::Inbox(tisa_core::Page { items, .. }) =
        ask(&jp, ControlRequest::Inbox(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!()
    };
    let tisa_core::InboxEntry { delivery: d, .. } = items
        .iter()
        .find(|tisa_core::InboxEntry { delivery: d, .. }| d.header.id.as_str() == report_id)
        .expect("in JP's inbox");
    match &d.released {
        Released::Full(c) => {
            assert_eq!(c.title.expose(), title);
            assert!(c.body.expose().starts_with("CANARY_body_"), "the body survives: {:?}", c.body.len());
        }
        other => panic!("expected the full report, got {other:?}"),
    }
    // And the flow goes on: a later release still arrives.
    legit_release(&c, Party::Kr, Party::Jp).await;
    // KR's status says so once the hub's progress notice came (it may wait
    // a while to go with others: `tisa_node::notices`).
    let kr = client(&c, Party::Kr).await;
    let query = ListQuery { report_id: Some(ReportId::new(report_id).unwrap()), ..Default::default() };
    let (kr, query) = (&kr, &query);
    wait_async(|| async move {
        let ControlReply::Status(tisa_core::Page { items, .. }) = ask(kr, ControlRequest::Status(query.clone())).await
        else {
            return None;
        };
        (items[0].recipients.values().next().map(|r| r.code()) == Some("DELIVERED")).then_some(())
    })
    .await;
    // …and JP's signed receipt travels back to KR through the hub.
    wait_async(|| async move {
        let ControlReply::Status(tisa_core::Page { items, .. }) = ask(kr, ControlRequest::Status(query.clone())).await
        else {
            return None;
        };
        items[0].receipts.get(&Party::Jp).copied()
    })
    .await;
}

/// A node stopping cleanly hands the link messages it was given and did
/// not take back to the broker, so that its next instance gets them at
/// once — not after the consumer's acknowledgement wait (5 s), with every
/// later message of the link held behind them in stream order. Control:
/// the same stop without handing back; the next instance waits that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_hands_back_what_it_did_not_take() {
    use futures::StreamExt;
    use std::time::Instant;
    use tisa_transport::conn::inbound::ACK_WAIT;
    use tisa_transport::subjects::{self, Direction};
    use tisa_transport::Links;
    let nats = tisa_kit::natsd::NatsServer::start_for_tests();
    let (ep, urls) = one_server(&nats);
    let js = async_nats::jetstream::new(tisa_transport::connect_once(&ep, "test-hub").await.unwrap());
    const N: usize = 3;

    // `party`'s node up (its link stream and consumer made), N messages
    // from the hub stored in its link stream and delivered to it, untaken;
    // then the node goes (handing back or not). Returns how long its next
    // instance took to be given all N.
    let run = |party: Party, hand_back: bool| {
        let (urls, js) = (urls.clone(), js.clone());
        async move {
            let links = Links::connect(party, &urls).await.unwrap();
            let (inbound, _calls, _ups, _early) = links.subscribe().await.unwrap();
            let subject = subjects::link_kinds(party, Direction::Down).replace('*', "receipt");
            for i in 0..N {
                js.publish(subject.clone(), format!("not an envelope {i}").into()).await.unwrap().await.unwrap();
            }
            // In the node's hands, not taken: read through the pump here and
            // put back in front of the rest, as if still waiting in its queue.
            let mut inbound = inbound;
            let mut held = Vec::new();
            for _ in 0..N {
                held.push(tokio::time::timeout(Duration::from_secs(30), inbound.next()).await.unwrap().unwrap());
            }
            let inbound = futures::stream::iter(held).chain(inbound);
            let stopped = Instant::now();
            if hand_back {
                tisa_transport::conn::inbound::hand_back(&links, inbound).await;
            } else {
                drop(inbound);
            }
            drop(links);
            let next = Links::connect(party, &urls).await.unwrap();
            let (mut inbound, _calls, _ups, _early) = next.subscribe().await.unwrap();
            for _ in 0..N {
                let m = tokio::time::timeout(Duration::from_secs(30), inbound.next()).await.unwrap().unwrap();
                m.ack.ack().await.unwrap();
            }
            stopped.elapsed()
        }
    };
    let handed = run(Party::Kr, true).await;
    assert!(handed < ACK_WAIT / 2, "handed back: the next instance had them in {handed:?}");
    let control = run(Party::Jp, false).await;
    assert!(control >= ACK_WAIT * 4 / 5, "not handed back: {control:?} (the acknowledgement wait is {ACK_WAIT:?})");
}

/// A track stream's copy whose early copy the node never read (published
/// while it was reconnecting, or its subscription fell behind) is still
/// taken: the paced pump, nudged by no early copy here (the lane's stream
/// is never read), looks in the stream every `TRACK_PULL_EVERY` anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_copy_without_its_early_copy_is_still_taken() {
    use futures::StreamExt;
    use tisa_transport::subjects::{self, Direction};
    use tisa_transport::Links;
    let nats = tisa_kit::natsd::NatsServer::start_for_tests();
    let (ep, urls) = one_server(&nats);
    let js = async_nats::jetstream::new(tisa_transport::connect_once(&ep, "test-hub").await.unwrap());
    let links = Links::connect(Party::Jp, &urls).await.unwrap();
    assert!(links.paced_track_streams(), "paced by default");
    let (mut inbound, _calls, _ups, _early_never_read) = links.subscribe().await.unwrap();
    const N: usize = 3;
    for i in 0..N {
        let subject = subjects::track(Party::Jp, Direction::Down, &format!("T-{i}"));
        js.publish(subject, format!("not an envelope {i}").into()).await.unwrap().await.unwrap();
    }
    for i in 0..N {
        let m = tokio::time::timeout(Duration::from_secs(30), inbound.next())
            .await
            .unwrap_or_else(|_| panic!("copy {i} of {N} was never taken"))
            .unwrap();
        assert!(m.subject.contains(".track.") && !m.meta.early, "{m:?}");
        m.ack.term().await.unwrap();
    }
    let (copies, _) = links.track_stream_takes();
    assert_eq!(copies, N as u64);
}

/// After its connection comes back, each of a link's two pumps checks its
/// stream and consumer (the link stream's then reports the link up: the
/// node reconciles with its peer). One notification used to wake only one
/// of the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnection_both_pumps_of_a_link_check_their_streams() {
    use futures::StreamExt;
    use tisa_transport::Links;
    let mut nats = tisa_kit::natsd::NatsServer::start_for_tests();
    let (_, urls) = one_server(&nats);
    let links = Links::connect(Party::Jp, &urls).await.unwrap();
    let (_inbound, _calls, mut ups, _early) = links.subscribe().await.unwrap();
    assert_eq!(links.reconnections_checked(), 0);
    nats.restart().unwrap();
    let up = tokio::time::timeout(Duration::from_secs(60), ups.next()).await.expect("the link reported up");
    assert_eq!(up, Some(Party::Us));
    let links = &links;
    common::wait_async(|| async move { (links.reconnections_checked() >= 2).then_some(()) }).await;
    assert_eq!(links.reconnections_checked(), 2, "one reconnection, two pumps");
}

/// Every link and the node's own connection on one test server: its
/// endpoint, and the URLs of a node's links.
fn one_server(nats: &tisa_kit::natsd::NatsServer) -> (tisa_transport::Endpoint, tisa_transport::LinkUrls) {
    let ep = tisa_transport::Endpoint { url: nats.url().to_owned(), ..Default::default() };
    let urls = tisa_transport::LinkUrls { own: ep.clone(), kr: ep.clone(), jp: ep.clone() };
    (ep, urls)
}
