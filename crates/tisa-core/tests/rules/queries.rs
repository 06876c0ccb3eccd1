//! Queries: paging through pending requests, the inbox and status; where a
//! revision stands with the hub.

use super::*;

#[test]
fn pending_pages() {
    let mut sim = Sim::new();
    for i in 1..=5 {
        sim.submit(KR, &format!("KR-000{i}"), draft(NkMissile, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.drive();
    let rids: Vec<String> = (1..=5).map(|i| rid(&format!("KR-000{i}"), 1, JP).as_str().to_owned()).collect();
    let node = sim.node(KR);
    let now = sim.now;
    let ids =
        |p: &Page<PendingView>| p.items.iter().map(|v| v.request.request_id.as_str().to_owned()).collect::<Vec<_>>();

    let p1 = node.pending(now, None, 2).unwrap();
    assert_eq!(ids(&p1), rids[0..2]);
    assert_eq!(p1.next_after.as_deref(), Some(rids[1].as_str()));
    let p2 = node.pending(now, p1.next_after.as_deref(), 2).unwrap();
    assert_eq!(ids(&p2), rids[2..4]);
    assert_eq!(p2.next_after.as_deref(), Some(rids[3].as_str()));
    let p3 = node.pending(now, p2.next_after.as_deref(), 2).unwrap();
    assert_eq!(ids(&p3), rids[4..5]);
    assert_eq!(p3.next_after, None);
    let p4 = node.pending(now, Some(&rids[4]), 2).unwrap();
    assert!(p4.items.is_empty() && p4.next_after.is_none());
    let all = node.pending(now, None, 5).unwrap();
    assert_eq!(ids(&all), rids);
    assert_eq!(all.next_after, None);
    assert_eq!(node.pending(now, None, 10_000).unwrap().items.len(), 5);
    let one = node.pending(now, None, 0).unwrap();
    assert_eq!(ids(&one), rids[0..1], "limit 0 means 1");
    assert_eq!(one.next_after.as_deref(), Some(rids[0].as_str()));
    assert_eq!(node.pending(now, Some("nope"), 2), Err(CommandError::UnknownCursor("nope".into())));
    // Expired requests are not pending.
    assert!(node.pending(Sim::at(DAY), None, 10).unwrap().items.is_empty());

    // Decided requests leave the list, and a cursor naming one still
    // continues after it: the list may change between pages (an approver
    // decides the last request of a page, then reads the next).
    sim.approve(KR, &rid("KR-0001", 1, JP), false).unwrap();
    sim.approve(KR, &rid("KR-0002", 1, JP), false).unwrap();
    let node = sim.node(KR);
    assert_eq!(ids(&node.pending(now, None, 10).unwrap()), rids[2..]);
    let after_decided = node.pending(now, Some(&rids[1]), 2).unwrap();
    assert_eq!(ids(&after_decided), rids[2..4]);
    assert_eq!(after_decided.next_after.as_deref(), Some(rids[3].as_str()));
    assert_eq!(ids(&node.pending(now, Some(&rids[0]), 10).unwrap()), rids[2..], "the decided one before is not listed");
    // A request never opened names nothing (control).
    let never = rid("KR-0009", 1, JP);
    assert_eq!(node.pending(now, Some(never.as_str()), 2), Err(CommandError::UnknownCursor(never.as_str().into())));
}

#[test]
fn inbox_and_status_pages() {
    let mut sim = Sim::new();
    for i in 1..=4 {
        sim.submit(KR, &format!("KR-000{i}"), draft(NkMissile, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.correct(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "2b")).unwrap();
    sim.drive();
    for v in sim.pending(KR) {
        sim.approve(KR, &v.request.request_id, false).unwrap();
    }
    sim.drive();

    let expected = ["KR-0001.r1", "KR-0002.r1", "KR-0003.r1", "KR-0004.r1", "KR-0002.r2"];
    let jp = sim.node(JP);
    let cursors = |p: &Page<InboxEntry>| {
        p.items.iter().map(|e| inbox_cursor(&e.delivery.header.id, e.delivery.header.revision)).collect::<Vec<_>>()
    };
    let p1 = jp.inbox(None, 3).unwrap();
    assert_eq!(cursors(&p1), expected[..3]);
    assert_eq!(p1.next_after.as_deref(), Some("KR-0003.r1"));
    let p2 = jp.inbox(p1.next_after.as_deref(), 3).unwrap();
    assert_eq!(cursors(&p2), expected[3..]);
    assert_eq!(p2.next_after, None);
    assert_eq!(jp.inbox(Some("KR-0009.r1"), 3), Err(CommandError::UnknownCursor("KR-0009.r1".into())));
    assert_eq!(cursors(&jp.inbox(Some("KR-0004.r1"), 0).unwrap()), ["KR-0002.r2"]);

    // Status: submission order by report, every revision.
    let kr = sim.node(KR);
    let cur = |p: &Page<RevisionStatus>| {
        p.items.iter().map(|s| inbox_cursor(&s.header.id, s.header.revision)).collect::<Vec<_>>()
    };
    let s1 = kr.status(None, 2).unwrap();
    assert_eq!(cur(&s1), ["KR-0001.r1", "KR-0002.r1"]);
    assert_eq!(s1.next_after.as_deref(), Some("KR-0002.r1"));
    let s2 = kr.status(s1.next_after.as_deref(), 2).unwrap();
    assert_eq!(cur(&s2), ["KR-0002.r2", "KR-0003.r1"]);
    let s3 = kr.status(s2.next_after.as_deref(), 2).unwrap();
    assert_eq!(cur(&s3), ["KR-0004.r1"]);
    assert_eq!(s3.next_after, None);
    assert!(matches!(kr.status(Some("KR-0001"), 2), Err(CommandError::UnknownCursor(_))));
    for c in ["KR-0002.r9", "KR-0002.r01", "KR-0009.r1"] {
        assert_eq!(kr.status(Some(c), 2), Err(CommandError::UnknownCursor(c.into())), "{c}");
    }
    // Every page, one at a time, is the whole list once, in order.
    let mut one_by_one = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let p = kr.status(after.as_deref(), 1).unwrap();
        one_by_one.extend(cur(&p));
        match p.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(one_by_one, ["KR-0001.r1", "KR-0002.r1", "KR-0002.r2", "KR-0003.r1", "KR-0004.r1"]);
    assert!(kr
        .status(None, 100)
        .unwrap()
        .items
        .iter()
        .all(|s| s.recipients[&JP] == RecipientState::Delivered { tearline_only: false }));
    let rs = kr.report_status(&report_id("KR-0002")).unwrap();
    assert_eq!(rs.iter().map(|s| s.header.revision).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(kr.report_status(&report_id("KR-0009")), Err(CommandError::UnknownReport(report_id("KR-0009"))));
    assert!(jp.status(None, 10).unwrap().items.is_empty());
}

#[test]
fn a_rejection_of_one_revision_does_not_stick_to_the_next() {
    // KR's node is misconfigured with a TOP_SECRET ceiling: the hub refuses
    // revision 1, but KR has already issued revision 2 at SECRET.
    let kr = Policy { kr_ceiling: TopSecret, ..Policy::default() };
    let mut sim = Sim::with_policies(kr, Policy::default(), Policy::default());
    sim.submit(KR, "KR-0001", draft(NkMissile, TopSecret, "USA", "a")).unwrap();
    sim.correct(KR, "KR-0001", draft(NkMissile, Secret, "USA", "b")).unwrap();
    sim.drive();
    assert!(!sim.has(US, "KR-0001", 1));
    assert!(sim.has(US, "KR-0001", 2));
    assert!(matches!(sim.hub_state(KR, "KR-0001", 1), HubState::Rejected { ref code, .. } if code == "NOT_RELEASABLE"));
    assert_eq!(sim.hub_state(KR, "KR-0001", 2), HubState::Accepted, "the hub holds revision 2 and said so");
}

#[test]
fn a_stale_rejection_notice_does_not_outrank_the_hubs_acceptance() {
    let mut sim = Sim::new();
    sim.submit(KR, "KR-0001", draft(NkMissile, Secret, "USA", "a")).unwrap();
    // Before the hub's answer arrives, a notice about another message naming the report.
    let notice = Rejection {
        refers_to: MessageId::new("KR.0.99").unwrap(),
        code: "CONFLICT".into(),
        detail: "report KR-0001 revision 7 conflicts with the copy already held".into(),
        report_id: Some(report_id("KR-0001")),
        request_id: None,
    };
    sim.inject(KR, US, envelope(US, "US.n.1", sim.now, Payload::Rejection(notice)));
    sim.drive();
    assert!(sim.has(US, "KR-0001", 1));
    assert_eq!(sim.hub_state(KR, "KR-0001", 1), HubState::Accepted);
}

#[test]
fn pending_for_one_report_is_that_reports_open_requests() {
    let mut sim = Sim::new();
    for i in 1..=3 {
        sim.submit(KR, &format!("KR-000{i}"), draft(NkMissile, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.correct(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "2b")).unwrap();
    sim.drive();
    let now = sim.now;
    let node = sim.node(KR);
    // Oracle: the whole pending list, filtered.
    let all = node.pending(now, None, 100).unwrap().items;
    for id in ["KR-0001", "KR-0002", "KR-0003", "KR-0009"] {
        let got: Vec<_> = node.pending_for(now, &report_id(id)).into_iter().map(|v| v.request).collect();
        let want: Vec<_> =
            all.iter().filter(|v| v.request.report_id.as_str() == id).map(|v| v.request.clone()).collect();
        assert_eq!(got, want, "{id}");
    }
    let both = node.pending_for(now, &report_id("KR-0002"));
    assert_eq!(both.iter().map(|v| v.request.revision).collect::<Vec<_>>(), [1, 2], "both revisions, in order");
    assert!(both.iter().all(|v| v.content.is_some()), "each with its report");
    assert!(node.pending_for(Sim::at(DAY), &report_id("KR-0001")).is_empty(), "expired: not pending");
    sim.approve(KR, &rid("KR-0002", 1, JP), false).unwrap();
    let left = sim.node(KR).pending_for(now, &report_id("KR-0002"));
    assert_eq!(left.iter().map(|v| v.request.revision).collect::<Vec<_>>(), [2], "the decided one left");
}

/// Paging any way through the inbox (a nation's, and the reports the hub
/// holds), filtered or not, oldest or newest first, a page of any size at
/// a time, gives the whole list once, in order: each page starts right
/// after its cursor, found by index.
#[test]
fn inbox_pages_in_every_order_and_filter_cover_it_once() {
    let mut sim = Sim::new();
    for i in 1..=7 {
        let category = if i % 3 == 0 { NkNuclear } else { NkMissile };
        sim.submit(KR, &format!("KR-000{i}"), draft(category, Secret, "USA,JPN", &i.to_string())).unwrap();
    }
    sim.correct(KR, "KR-0002", draft(NkMissile, Secret, "USA,JPN", "2b")).unwrap();
    sim.drive();
    for v in sim.pending(KR) {
        sim.approve(KR, &v.request.request_id, false).unwrap();
    }
    sim.drive();
    let cursor = |e: &InboxEntry| inbox_cursor(&e.delivery.header.id, e.delivery.header.revision);
    for p in [JP, US] {
        let node = sim.node(p);
        let everything =
            |f: &InboxFilter| node.inbox_filtered(f, None, 1000).unwrap().items.iter().map(cursor).collect::<Vec<_>>();
        let oldest = everything(&InboxFilter::default());
        assert_eq!(oldest.len(), 8, "{p}: {oldest:?}");
        let mut newest = everything(&InboxFilter { newest_first: true, ..InboxFilter::default() });
        newest.reverse();
        assert_eq!(newest, oldest, "{p}: newest first is the same list backwards");
        for newest_first in [false, true] {
            for category in [None, Some(NkMissile), Some(NkNuclear)] {
                let f = InboxFilter { newest_first, category, ..InboxFilter::default() };
                let whole = everything(&f);
                for limit in 1..=3 {
                    let paged: Vec<String> =
                        all_pages(|after| node.inbox_filtered(&f, after, limit)).iter().map(cursor).collect();
                    assert_eq!(paged, whole, "{p} newest_first={newest_first} {category:?} limit={limit}");
                }
            }
        }
        let f = InboxFilter { newest_first: true, ..InboxFilter::default() };
        let missing = "KR-0002.r3";
        assert_eq!(node.inbox_filtered(&f, Some(missing), 2), Err(CommandError::UnknownCursor(missing.into())));
    }
}
