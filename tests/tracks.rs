//! Live missile-warning tracks through the real CLI, on the enforced
//! topology: under KR's standing grant for NK_MISSILE, `tisa feed tracks`
//! at KR reaches JP's `tisa watch` update by update, in order, and `tisa
//! tracks` at JP shows the latest position; without a grant (JP → KR) a
//! track stays with the hub and never reaches KR.

use crate::common;

use crate::common::ctl::*;
use crate::common::{describe, Background, Deadline};
use serde_json::Value;
use tisa_core::Party;
use tisa_kit::cluster::Cluster;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

/// One fixture line: track `id`, update `seq`.
fn update(id: &str, seq: u32, rel_to: &str) -> String {
    let lat = 39.5 + f64::from(seq) * 0.25;
    let lon = 126.0 + f64::from(seq) * 0.75;
    serde_json::json!({
        "track_id": id,
        "seq": seq,
        "classification": "secret",
        "rel_to": rel_to,
        "launch": {"lat": 39.03, "lon": 125.75, "at": "2024-05-27T14:32:10Z"},
        "position": {"lat": lat, "lon": lon, "alt_km": 100.0 * f64::from(seq), "at": 1_716_820_330_000u64 + 30_000 * u64::from(seq)},
        "impact": {"lat": 40.8, "lon": 135.2},
    })
    .to_string()
}

fn fixture(c: &Cluster, name: &str, lines: &[String]) -> String {
    let path = c.dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_string_lossy().into_owned()
}

fn feed(c: &Cluster, party: Party, file: &str) {
    let out = op(c, party, false, &["feed", "tracks", file]);
    assert!(out.status.success(), "feed tracks failed: {}", describe(&out));
}

async fn track_seqs(c: &Cluster, party: Party) -> Vec<(String, u32)> {
    let ControlReply::Tracks(tisa_core::Page { items, .. }) =
        ask(&client(c, party).await, ControlRequest::Tracks(ListQuery { limit: 1000, ..Default::default() })).await
    else {
        panic!("not a track list")
    };
    items.iter().map(|tisa_core::TrackEntry { update: u, .. }| (u.doc.track_id.to_string(), u.doc.seq)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_flow_under_a_standing_grant_and_only_then() {
    let c = start(true).await;
    const N: u32 = 4;

    // KR pre-approves NK_MISSILE up to SECRET for JP; wait until the hub holds it.
    let g = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let grant_id = g["items"][0]["grant_id"].as_str().unwrap().to_owned();
    let (cr, gid) = (&c, &grant_id);
    wait_async(|| async move {
        let ControlReply::Grants(items) =
            ask(&client(cr, Party::Us).await, ControlRequest::Grants(ListQuery::default())).await
        else {
            panic!()
        };
        items
            .iter()
            .any(|tisa_core::GrantView { grant: g, revoked, .. }| g.doc.grant_id == *gid && !*revoked)
            .then_some(())
    })
    .await;

    // JP watches; KR feeds N updates of one track.
    let mut watch = Background::spawn(&c, Party::Jp, &["watch", "--json", "--count", &N.to_string()]);
    watch.wait_stderr("watching");
    let dry = op(&c, Party::Kr, false, &["feed", "tracks", "--dry-run", "-"]);
    assert!(dry.status.success(), "{}", describe(&dry));
    let kr_lines: Vec<String> = (1..=N).map(|s| update("KR-T-2024-001", s, "USA,JPN")).collect();
    feed(&c, Party::Kr, &fixture(&c, "kr-tracks.jsonl", &kr_lines));
    // Feeding the same file again submits nothing new.
    feed(&c, Party::Kr, &fixture(&c, "kr-tracks.jsonl", &kr_lines));

    let (status, out) = watch.wait_exit();
    assert!(status.success(), "watch exited with {status}: {out:?}");
    assert_eq!(out.len(), N as usize, "{out:?}");
    for (i, line) in out.iter().enumerate() {
        let ev: Value = serde_json::from_str(line).unwrap();
        assert_eq!(ev["kind"], "TRACK", "{ev}");
        assert_eq!(ev["track_id"], "KR-T-2024-001", "{ev}");
        assert_eq!(ev["seq"], i as u64 + 1, "in order: {out:?}");
        assert_eq!(ev["originator"], "KOR", "{ev}");
        let detail = ev["detail"].as_str().unwrap();
        let seq = i as u32 + 1;
        assert!(detail.contains(&format!("t+{}s", 30 * seq)), "time since launch: {detail}");
        assert!(detail.contains(&format!("alt={:.1}km", 100.0 * f64::from(seq))), "{detail}");
        assert!(detail.contains("impact=40.800000,135.200000"), "{detail}");
        assert!(detail.contains(&format!("grant={grant_id}")), "{detail}");
    }

    // JP's latest position (committed a window behind the lane).
    wait_track(&c, Party::Jp, "KR-T-2024-001", N).await;
    let t = op_json(&c, Party::Jp, false, &["tracks"]);
    let items = t["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{t}");
    let last = &items[0];
    assert_eq!(last["track_id"], "KR-T-2024-001");
    assert_eq!(last["seq"], N);
    assert_eq!(last["position"]["lat"], 39.5 + f64::from(N) * 0.25, "{last}");
    assert_eq!(last["position"]["lon"], 126.0 + f64::from(N) * 0.75, "{last}");
    assert_eq!(last["position"]["alt_km"], 400.0, "{last}");
    assert_eq!(last["grant_id"], grant_id.as_str(), "{last}");
    let text = op(&c, Party::Jp, false, &["tracks"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("KR-T-2024-001 #4"), "{}", describe(&text));

    // JP → KR without any grant of JP's: the hub holds the track…
    feed(&c, Party::Jp, &fixture(&c, "jp-tracks.jsonl", &[update("JP-T-1", 1, "USA,KOR")]));
    let cr = &c;
    wait_async(|| async move { track_seqs(cr, Party::Us).await.contains(&("JP-T-1".to_owned(), 1)).then_some(()) })
        .await;
    // …and a later track of the hub's own to KR (the canary) arrives, but JP's never does.
    feed(&c, Party::Us, &fixture(&c, "us-tracks.jsonl", &[update("US-T-1", 1, "KOR")]));
    wait_async(|| async move { track_seqs(cr, Party::Kr).await.contains(&("US-T-1".to_owned(), 1)).then_some(()) })
        .await;
    let kr = track_seqs(&c, Party::Kr).await;
    assert!(!kr.iter().any(|(id, _)| id == "JP-T-1"), "a JP track reached KR without a grant: {kr:?}");
    assert!(!track_seqs(&c, Party::Jp).await.iter().any(|(id, _)| id == "US-T-1"), "not releasable to JP");
}

/// `tisa health --json` at `party`: its track lane's figures.
fn lane_health(c: &Cluster, party: Party) -> Value {
    op_json(c, party, false, &["health"])["track_lane"].clone()
}

/// What an audit log says of track `id`: its windows' details, and every
/// sequence number it names (a `TRACK` entry's, a window's range).
fn audited_track(entries: &[Value], id: &str) -> (Vec<String>, std::collections::BTreeSet<u32>) {
    let mut windows = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for e in entries.iter().filter(|e| e["report_id"] == id) {
        let seq = e["revision"].as_u64().unwrap_or(0) as u32;
        match e["kind"].as_str() {
            Some("TRACK") => {
                named.insert(seq);
            }
            Some("TRACK_WINDOW") => {
                let detail = e["detail"].as_str().unwrap_or_default().to_owned();
                let range = detail.strip_prefix("seq=").and_then(|r| r.split(' ').next()).unwrap_or_default();
                let (first, last) = range.split_once("..").expect("a window's range");
                assert_eq!(last.parse::<u32>().unwrap(), seq, "{e}");
                named.extend(first.parse::<u32>().unwrap()..=seq);
                windows.push(format!("{detail} grant={}", e["grant_id"].as_str().unwrap_or("-")));
            }
            _ => {}
        }
    }
    (windows, named)
}

/// KR's standing grant for NK_MISSILE to JP in force, and one update all
/// the way to JP (so that the grant stands there).
async fn granted_and_warm(c: &Cluster) {
    grant_in_force(c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    feed(c, Party::Kr, &fixture(c, "warm.jsonl", &[update("KR-T-WARM", 1, "USA,JPN")]));
    wait_track(c, Party::Jp, "KR-T-WARM", 1).await;
}

/// Waits until `party`'s node holds `(id, seq)` as a track's latest state.
async fn wait_track(c: &Cluster, party: Party, id: &str, seq: u32) {
    let want = (id.to_owned(), seq);
    let want = &want;
    wait_async(|| async move { track_seqs(c, party).await.contains(want).then_some(()) }).await;
}

/// Feeds KR's update `seq` of eight tracks at once (one batch: published
/// together) and waits until JP holds them all; returns whether JP takes
/// its track streams' copies behind the lane, and the copies it took
/// meanwhile (at least the eight) and in how many hand-overs.
async fn burst(c: &Cluster, seq: u32) -> (bool, u64, u64) {
    let figures = |c: &Cluster| {
        let h = lane_health(c, Party::Jp);
        let n = |k: &str| h[k].as_u64().unwrap_or_else(|| panic!("no {k}: {h}"));
        (h["stream_paced"] == true, n("stream_copies"), n("stream_takes"))
    };
    let (_, copies, takes) = figures(c);
    let ids: Vec<String> = (1..=8).map(|i| format!("KR-T-BURST-{i}")).collect();
    let lines: Vec<String> = ids.iter().map(|id| update(id, seq, "USA,JPN")).collect();
    feed(c, Party::Kr, &fixture(c, &format!("burst{seq}.jsonl"), &lines));
    for id in &ids {
        wait_track(c, Party::Jp, id, seq).await;
    }
    let (paced, copies_now, takes_now) = figures(c);
    assert!(copies_now >= copies + 8, "JP took each update's stream copy: {copies} → {copies_now}");
    (paced, copies_now - copies, takes_now - takes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_track_lane_passes_updates_ahead_of_the_commit_and_can_be_turned_off() {
    let mut c = start(true).await;
    let g = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let grant_id = g["items"][0]["grant_id"].as_str().unwrap().to_owned();
    let cr = &c;
    wait_async(|| async move {
        let ControlReply::Grants(items) =
            ask(&client(cr, Party::Us).await, ControlRequest::Grants(ListQuery::default())).await
        else {
            panic!()
        };
        (!items.is_empty()).then_some(())
    })
    .await;

    // On (the default): the hub's lane forwards each update, JP's shows it,
    // once: JP's watch sees each sequence number exactly once, in order.
    const N: u32 = 8;
    let mut watch = Background::spawn(&c, Party::Jp, &["watch", "--json", "--count", &N.to_string()]);
    watch.wait_stderr("watching");
    let lines: Vec<String> = (1..=N).map(|s| update("KR-T-LANE", s, "USA,JPN")).collect();
    feed(&c, Party::Kr, &fixture(&c, "lane.jsonl", &lines));
    let (status, out) = watch.wait_exit();
    assert!(status.success(), "{out:?}");
    let seqs: Vec<u64> =
        out.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=u64::from(N)).collect::<Vec<_>>());
    wait_track(&c, Party::Jp, "KR-T-LANE", N).await;
    for p in [Party::Us, Party::Jp] {
        let h = lane_health(&c, p);
        assert_eq!(h["enabled"], true, "{p}: {h}");
        assert!(h["passed"].as_u64().unwrap() >= u64::from(N), "{p}: the lane passed every update: {h}");
        assert_eq!(h["dropped"], 0, "{p}: {h}");
    }
    // JP committed their stream copies in windows (at least one; no more
    // windows than copies, no more copies than updates).
    let h = lane_health(&c, Party::Jp);
    let (windows, copies) = (h["windows"].as_u64().unwrap(), h["windowed"].as_u64().unwrap());
    assert!(windows >= 1 && windows <= copies && copies <= u64::from(N), "JP: {h}");
    // The committed path took every update too, a window at a time: JP's
    // audit log names each sequence number, in a window's range (or, for
    // a copy the lane had not passed when its stream copy came, alone).
    let jp_audit = audit_entries(&c.dir.join("jp-data"));
    let (windows, named) = audited_track(&jp_audit, "KR-T-LANE");
    assert!(!windows.is_empty(), "JP committed the lane's updates in windows: {jp_audit:?}");
    for seq in 1..=N {
        assert!(named.contains(&seq), "seq {seq} is not in JP's audit log: {windows:?} {named:?}");
    }
    // Each names the link and the grant the updates came under.
    let under = format!("link=USA grant={grant_id}");
    assert!(windows.iter().all(|w| w.ends_with(&under)), "{windows:?}");
    // JP takes the stream's copies behind the lane, several a hand-over.
    let (paced, copies, takes) = burst(&c, 1).await;
    assert!(paced && takes < copies, "JP took a burst's {copies} copies in {takes} hand-overs");

    // Control: off at the hub and at JP, the lane passes nothing, and
    // updates still flow (committed first, as every other input).
    // JP also takes the stream's copies as they are stored (the control of
    // the pacing above: the same burst comes one a hand-over).
    for p in [Party::Us, Party::Jp] {
        let n = c.node(p);
        n.set_env("TISA_TRACK_LANE", Some("off"));
        if p == Party::Jp {
            n.set_env("TISA_TRACK_PACED", Some("off"));
        }
        n.restart(std::time::Duration::from_secs(60)).unwrap();
    }
    // KR checks signatures while it commits (TISA_CHECKS_AHEAD=on); JP
    // keeps the default (off): the control.
    c.node(Party::Kr).set_env("TISA_CHECKS_AHEAD", Some("on"));
    c.node(Party::Kr).restart(std::time::Duration::from_secs(60)).unwrap();
    // KR's health counts its commits with how long each took: the update
    // fed next is one more (an operator's command is committed before it
    // leaves).
    let commits = |c: &Cluster| op_json(c, Party::Kr, false, &["health"])["commits"].clone();
    let ahead = |c: &Cluster, p| op_json(c, p, false, &["health"])["checks_ahead"].clone();
    let (before, ahead_before) = (commits(&c), ahead(&c, Party::Kr));
    assert!(before["count"].as_u64().unwrap() >= 1, "{before}");
    assert!(before["p99_us_at_least"].as_f64().unwrap() >= before["p50_us_at_least"].as_f64().unwrap(), "{before}");
    const M: u32 = 2 * N;
    let lines: Vec<String> = (N + 1..=M).map(|s| update("KR-T-LANE", s, "USA,JPN")).collect();
    feed(&c, Party::Kr, &fixture(&c, "lane2.jsonl", &lines));
    wait_track(&c, Party::Jp, "KR-T-LANE", M).await;
    let after = commits(&c);
    assert!(after["count"].as_u64().unwrap() > before["count"].as_u64().unwrap(), "{before} → {after}");
    // …and KR checked the feed's signed command while that commit synced;
    // JP, off by default, checked none so (its core checks each itself).
    let ahead_after = ahead(&c, Party::Kr);
    assert_eq!(ahead_after["enabled"], true, "{ahead_after}");
    let checks = |h: &serde_json::Value| h["checks"].as_u64().unwrap();
    assert!(checks(&ahead_after) > checks(&ahead_before), "{ahead_before} → {ahead_after}");
    assert!(ahead_after["by_helper"].as_u64().unwrap() <= checks(&ahead_after), "{ahead_after}");
    let jp = ahead(&c, Party::Jp);
    assert_eq!((jp["enabled"].clone(), checks(&jp)), (serde_json::json!(false), 0), "{jp}");
    let text = String::from_utf8_lossy(&op(&c, Party::Kr, false, &["health"]).stdout).into_owned();
    assert!(text.contains("commits: ") && text.contains("write + fdatasync p50 "), "{text}");
    assert!(text.contains("signature checks while committing: "), "{text}");
    for p in [Party::Us, Party::Jp] {
        let h = lane_health(&c, p);
        assert_eq!(h["enabled"], false, "{p}: {h}");
        assert_eq!(h["passed"], 0, "{p}: {h}");
    }
    // The same burst's stream copies reach JP's node one a hand-over.
    let (paced, copies, takes) = burst(&c, 2).await;
    assert!(!paced && takes == copies, "JP took a burst's {copies} copies in {takes} hand-overs");
    // …and each is committed alone: no window names one (the control of
    // the windows above: only what the lane passed waits for one).
    let (windows, named) = audited_track(&audit_entries(&c.dir.join("jp-data")), "KR-T-LANE");
    assert!((N + 1..=M).all(|seq| named.contains(&seq)), "{named:?}");
    let last = |w: &String| w.strip_prefix("seq=").and_then(|r| r.split([' ', '.']).nth(2)).map(str::parse::<u32>);
    assert!(windows.iter().all(|w| matches!(last(w), Some(Ok(l)) if l <= N)), "{windows:?}");
    // A value that is neither on nor off is refused at start.
    let n = c.node(Party::Jp);
    n.set_env("TISA_TRACK_LANE", Some("of"));
    assert!(n.restart(std::time::Duration::from_secs(20)).is_err(), "a typo must not start the node");
    assert!(n.log().contains("TISA_TRACK_LANE"), "{}", n.log_tail(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_with_a_track_window_open_loses_none_of_its_updates() {
    use std::time::Duration;
    let mut c = start(true).await;
    granted_and_warm(&c).await;

    // JP crashes (abort, as kill -9) as it commits its first track window.
    let line = "tisa: failpoint before-commit:track-window hit";
    let jp = c.node(Party::Jp);
    jp.set_env("TISA_FAILPOINT", Some("before-commit:track-window"));
    jp.restart_cleanly(Duration::from_secs(60)).unwrap();
    const N: u32 = 5;
    let mut watch = Background::spawn(&c, Party::Jp, &["watch", "--json", "--count", &N.to_string()]);
    watch.wait_stderr("watching");
    let lines: Vec<String> = (1..=N).map(|s| update("KR-T-WIN", s, "USA,JPN")).collect();
    feed(&c, Party::Kr, &fixture(&c, "win.jsonl", &lines));
    // JP's lane showed every update before the crash…
    let (status, out) = watch.wait_exit();
    assert!(status.success(), "{out:?}");
    let mut deadline = Deadline::after(Duration::from_secs(60), "JP reaches its failpoint");
    while !c.node(Party::Jp).log().contains(line) {
        deadline.pause().await;
    }
    let mut deadline = Deadline::after(Duration::from_secs(30), "JP's process ends");
    while c.node(Party::Jp).is_running() {
        deadline.pause().await;
    }
    // …and committed not all of them: those in the window are not in its
    // audit log (the control of what follows: they are named after the
    // restart only because the broker redelivered them). A copy whose
    // stream copy came before the lane passed it was committed alone.
    let (_, before) = audited_track(&audit_entries(&c.dir.join("jp-data")), "KR-T-WIN");
    assert!(before.len() < N as usize, "JP committed {before:?} before its window");

    // Started again: the broker redelivers the copies the window held
    // (never acknowledged), and JP commits every one of them.
    let jp = c.node(Party::Jp);
    jp.set_env("TISA_FAILPOINT", None);
    jp.restart(Duration::from_secs(60)).unwrap();
    wait_track(&c, Party::Jp, "KR-T-WIN", N).await;
    let (_, after) = audited_track(&audit_entries(&c.dir.join("jp-data")), "KR-T-WIN");
    assert_eq!(after, (1..=N).collect(), "JP's audit log names every update after the restart");
}

/// One of JP's inbound streams as JP's link user sees it.
async fn jp_stream(c: &Cluster, name: &str) -> async_nats::jetstream::stream::Info {
    let dir = c.broker_dir.as_ref().expect("a secured cluster");
    let cfg = tisa_deploy::config::load(&dir.join("jp-node.toml")).unwrap();
    let endpoint = tisa_transport::Endpoint { url: c.nats.url().to_owned(), ..cfg.jp.unwrap() };
    let client = tisa_transport::connect_once(&endpoint, "test-jp-stream").await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_stream(name).await.unwrap().cached_info().clone()
}

/// JP away while KR's track runs long: JP's track stream keeps each
/// track's latest `TRACK_KEEP` updates (its link stream none: a dense
/// track cannot fill it and hold reports up behind it), and back, JP
/// takes the latest. Control: the hub forwarded every update (its audit
/// names them all); only JP's stream let the oldest go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_away_finds_each_tracks_latest_updates_and_no_track_in_its_link_stream() {
    use std::time::Duration;
    use tisa_transport::conn::TRACK_KEEP;
    let mut c = start(true).await;
    granted_and_warm(&c).await;

    c.node(Party::Jp).terminate(Duration::from_secs(30)).unwrap();
    const EXTRA: u32 = 200;
    let n = TRACK_KEEP as u32 + EXTRA;
    // Positions of a long track stay in range: those of its first 60 updates, over again.
    let long = |seq: u32| {
        let mut v: Value = serde_json::from_str(&update("KR-T-LONG", 1 + seq % 60, "USA,JPN")).unwrap();
        v["seq"] = seq.into();
        v.to_string()
    };
    let mut lines: Vec<String> = (1..=n).map(long).collect();
    lines.extend((1..=3).map(|s| update("KR-T.SHORT", s, "USA,JPN")));
    feed(&c, Party::Kr, &fixture(&c, "long.jsonl", &lines));
    // The hub forwarded all of them (control: nothing was dropped before JP's stream).
    let hub_dir = c.dir.join("us-data");
    wait_async(|| async {
        let (_, named) = audited_track(&audit_entries(&hub_dir), "KR-T-LONG");
        (named.len() == n as usize).then_some(())
    })
    .await;
    let (_, short) = audited_track(&audit_entries(&hub_dir), "KR-T.SHORT");
    assert_eq!(short, (1..=3).collect(), "the hub forwarded the short track");
    // JP's track stream stored every one of them (and the warm-up's
    // update, taken before): the control of what it kept, the latest
    // TRACK_KEEP of the long track and all of the short one.
    let (want, stored) = (TRACK_KEEP as u64 + 3, u64::from(n) + 4);
    let cr = &c;
    let tracks = wait_async(|| async move {
        let s = jp_stream(cr, "TISA_JP_DOWN_TRACK").await;
        (s.state.messages == want && s.state.last_sequence >= stored).then_some(s)
    })
    .await;
    assert_eq!(tracks.config.max_messages_per_subject, TRACK_KEEP);
    // JP's link stream took none of them.
    let link = jp_stream(&c, "TISA_JP_DOWN").await;
    assert!(link.state.messages < u64::from(EXTRA), "JP's link stream holds {} messages", link.state.messages);

    // Back: JP takes what its stream kept, the latest of each track.
    c.node(Party::Jp).restart(Duration::from_secs(60)).unwrap();
    wait_track(&c, Party::Jp, "KR-T-LONG", n).await;
    wait_track(&c, Party::Jp, "KR-T.SHORT", 3).await;
    let jp_dir = c.dir.join("jp-data");
    let (_, long) = audited_track(&audit_entries(&jp_dir), "KR-T-LONG");
    assert_eq!(long, (EXTRA + 1..=n).collect(), "JP committed exactly what its stream kept");
    let (_, short) = audited_track(&audit_entries(&jp_dir), "KR-T.SHORT");
    assert_eq!(short, (1..=3).collect());
}

/// A broker store of an earlier version: JP's link stream takes every
/// subject of the link, tracks included, so JP's track stream cannot be
/// made beside it. JP's links refuse to come up, with one line naming the
/// fix; control: with the stream narrowed as that line says (the only
/// change), they come up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_stream_of_an_earlier_version_is_refused_with_its_fix() {
    use async_nats::jetstream::stream;
    use tisa_transport::{Endpoint, LinkUrls, Links};
    let nats = tisa_kit::natsd::NatsServer::start_for_tests();
    let ep = Endpoint { url: nats.url().to_owned(), ..Endpoint::default() };
    let js = async_nats::jetstream::new(tisa_transport::connect_once(&ep, "test-old").await.unwrap());
    let old = stream::Config {
        name: "TISA_JP_DOWN".into(),
        subjects: vec!["tisa.jp.down.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        ..Default::default()
    };
    js.create_stream(old.clone()).await.unwrap();
    let urls = LinkUrls { own: ep.clone(), kr: ep.clone(), jp: ep.clone() };
    let links = Links::connect(Party::Jp, &urls).await.unwrap();
    let err = links.subscribe().await.err().expect("JP's links must not come up on the old stream");
    let line = err.to_string();
    assert!(matches!(err, tisa_transport::TransportError::StreamLayout { .. }), "{line}");
    assert!(
        line.contains("nats stream edit TISA_JP_DOWN --subjects 'tisa.jp.down.*'") && !line.contains('\n'),
        "{line}"
    );
    js.update_stream(stream::Config { subjects: vec!["tisa.jp.down.*".into()], ..old }).await.unwrap();
    let up = Links::connect(Party::Jp, &urls).await.unwrap().subscribe().await;
    assert!(up.is_ok(), "narrowed, JP's links come up: {:?}", up.err());
    let tracks = js.get_stream("TISA_JP_DOWN_TRACK").await.unwrap().cached_info().config.clone();
    assert_eq!(tracks.subjects, ["tisa.jp.down.track.>"]);
}

/// JP's whole site out of reach (its server down, per-nation): the hub
/// cannot publish to JP at all, so what it owes JP waits in its outbox.
/// Of a dense track's updates only the newest waits there (latest wins),
/// however many came; back, JP gets the newest. The outbox's own unit
/// test (`egress`) has the control: updates no newer one supersedes, and
/// everything that is not a track, all stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dense_track_to_a_site_out_of_reach_waits_as_its_newest_update() {
    let mut c = tokio::task::spawn_blocking(|| {
        common::TestCluster::builder().without_tap().broker(common::Broker::PerNation).start()
    })
    .await
    .unwrap();
    granted_and_warm(&c).await;

    c.server("tisa-jp").unwrap().kill();
    // One update at a time, each committed at the hub before the next (its
    // own track window): each makes the hub owe JP an update.
    const N: u32 = 6;
    for seq in 1..=N {
        feed(&c, Party::Kr, &fixture(&c, &format!("out{seq}.jsonl"), &[update("KR-T-OUT", seq, "USA,JPN")]));
        wait_track(&c, Party::Us, "KR-T-OUT", seq).await;
    }
    // What waits for JP is the newest update only (a standing notice or a
    // hello may wait beside it). `tisa health` fails while the outbox is
    // stuck; its JSON still says why.
    let health = |c: &Cluster| {
        let out = op(c, Party::Us, false, &["health", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
    };
    let h =
        wait_async(|| async { Some(health(&c)).filter(|h| h["tracks_superseded"].as_u64() >= Some(u64::from(N) - 1)) })
            .await;
    assert!(h["outbox"].as_u64() <= Some(3), "the hub's outbox holds more than the newest update: {h}");
    assert!(h["send_error"]["stream"].is_string(), "{h}");

    // Back: JP gets the newest.
    c.server("tisa-jp").unwrap().start_again().unwrap();
    // (JP's node answers once it is back on its server.)
    wait_async(|| async {
        let out = op(&c, Party::Jp, false, &["tracks", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["items"].as_array()?.iter().any(|t| t["track_id"] == "KR-T-OUT" && t["seq"] == N).then_some(())
    })
    .await;
    wait_async(|| async { (health(&c)["outbox"] == 0).then_some(()) }).await;
}
