//! The missile-track map in a real browser, across real processes: under
//! KR's standing grant, a track fed on KR (`tisa feed tracks`, update after
//! update) appears on JP's console map — launch point, path so far, current
//! position, predicted impact — drawn over the region's coastline, live
//! (server-sent events; the page is not reloaded). Control: before the
//! feed, JP's map has no track. The same over TLS (a self-signed
//! certificate): login, Secure cookie, live update.

use crate::common;
use crate::driver;

use crate::common::cli::{grant_in_force, op, op_json};
use crate::common::console::{start_console, start_console_with};
use crate::common::describe;
use crate::common::wait::wait_for;
use driver::Driver;
use tisa_core::Party;

const TRACK: &str = "KR-T-2026-001";

/// Update `seq` of the track: heading east-north-east from near Pyongyang
/// towards the Sea of Japan.
fn update(seq: u32) -> String {
    serde_json::json!({
        "track_id": TRACK,
        "seq": seq,
        "classification": "secret",
        "rel_to": "USA,JPN",
        "launch": {"lat": 39.03, "lon": 125.75, "at": "2026-05-27T14:32:10Z"},
        "position": {"lat": 39.3 + 0.35 * f64::from(seq), "lon": 126.6 + 1.5 * f64::from(seq), "alt_km": 150.0 * f64::from(seq),
                     "at": 1_779_892_330_000u64 + 60_000 * u64::from(seq)},
        "impact": {"lat": 40.9, "lon": 135.6},
    })
    .to_string()
}

#[test]
fn a_track_fed_on_kr_appears_on_jps_map() {
    let Some(driver) = Driver::start("browser map test") else { return };
    let c = common::cluster::TestCluster::builder().start();
    let g = grant_in_force(&c, Party::Kr, &["--to", "jp", "--category", "missile", "--max-classification", "secret"]);
    let grant_id = g["items"][0]["grant_id"].as_str().unwrap_or_default().to_owned();
    wait_for("the hub holds KR's grant", || {
        let v = op_json(&c, Party::Us, false, &["standing", "list"]);
        v["items"].as_array()?.iter().any(|g| g["grant_id"] == grant_id.as_str()).then_some(())
    });
    let jp_console = start_console(&c, Party::Jp);
    let jp = driver.browser("JP");
    jp.goto(&jp_console.link);
    let map = format!("{}/map", jp_console.base);
    jp.goto(&map);
    // Control: the map is drawn (land), and no track is on it yet.
    assert!(jp.count("svg#map polygon.land") >= 5, "the coastline is drawn");
    assert_eq!(jp.count("svg#map g.track"), 0);
    assert!(jp.text("#no-tracks").contains("No track"), "{}", jp.text("main"));
    jp.js("window.__samePage = true;", vec![]);

    for seq in 1..=3 {
        let file = c.dir.join(format!("track-{seq}.jsonl"));
        std::fs::write(&file, update(seq) + "\n").expect("the feed file");
        let out = op(&c, Party::Kr, false, &["feed", "tracks", &file.to_string_lossy()]);
        assert!(out.status.success(), "feed tracks: {}", describe(&out));
        // Live: the page updates itself (no reload: its marker survives).
        jp.wait_text("#tracks", &format!("(#{seq})"), false);
        assert_eq!(jp.js("return window.__samePage === true;", vec![]), serde_json::json!(true), "not reloaded");
    }
    assert!(jp.js("return document.getElementById('no-tracks').hidden;", vec![]) == serde_json::json!(true));
    let sel = format!("svg#map g.track[data-track='{TRACK}']");
    assert_eq!(jp.count(&sel), 1, "{}", jp.text("main"));
    for part in ["rect.launch", "polyline.path", "circle.position", "g.impact", "line.predicted"] {
        assert_eq!(jp.count(&format!("{sel} {part}")), 1, "the track's {part}");
    }
    let path = jp.js(
        "return document.querySelector(arguments[0]).getAttribute('points').trim().split(/\\s+/).length;",
        vec![serde_json::json!(format!("{sel} polyline.path"))],
    );
    assert_eq!(path, serde_json::json!(4), "the path: the launch point and the three positions seen");
    let label = jp.text(&format!("{sel} text.tracklabel"));
    assert!(label.contains(TRACK) && label.contains("450 km"), "{label}");
    let row = jp.text("#tracks");
    assert!(row.contains("40.35°N 131.10°E") && row.contains("40.90°N 135.60°E"), "position and impact: {row}");
    jp.screenshot("jp-map");
    // The page as the server draws it on a reload: the same track, the same path.
    jp.goto(&map);
    assert_eq!(jp.count(&sel), 1);
    let path = jp.js(
        "return document.querySelector(arguments[0]).getAttribute('points').trim().split(/\\s+/).length;",
        vec![serde_json::json!(format!("{sel} polyline.path"))],
    );
    assert_eq!(path, serde_json::json!(4), "the server draws the same path");

    // Over TLS (a self-signed certificate): the login's Secure cookie holds
    // in the browser, and the live stream updates the map there too.
    let dir = crate::common::Scratch::new("console-tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write the certificate");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write the key");
    let (cert, key) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let tls =
        start_console_with(&c, Party::Jp, false, &["--tls-cert", &cert, "--tls-key", &key, "--host", "localhost"]);
    let jp2 = driver.browser("JP over TLS");
    jp2.goto(&tls.link);
    assert!(jp2.text("h1").contains("awaiting your decision"), "logged in over TLS: {}", jp2.text("main"));
    jp2.goto(&format!("{}/map", tls.base));
    jp2.js("window.__samePage = true;", vec![]);
    let file = c.dir.join("track-4.jsonl");
    std::fs::write(&file, update(4) + "\n").expect("the feed file");
    let out = op(&c, Party::Kr, false, &["feed", "tracks", &file.to_string_lossy()]);
    assert!(out.status.success(), "feed tracks: {}", describe(&out));
    jp2.wait_text("#tracks", "(#4)", false);
    assert_eq!(jp2.js("return window.__samePage === true;", vec![]), serde_json::json!(true), "live over TLS");
}
