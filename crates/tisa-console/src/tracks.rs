//! The map page (`/map`): the live missile tracks this node knows (its own
//! and those released to it), on the region's map, with a table of each
//! track's latest update.
//!
//! The node keeps each track's latest update only; the path so far is the
//! launch point and the positions this console has seen (it remembers each
//! update it fetched), so a console started mid-flight draws the path from
//! the launch point straight to the first position it saw.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use tisa_core::{GeoPoint, Page, TrackEntry};
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::map::{self, MapTrack};
use crate::routes::{logged_in, node_error, page as answer};
use crate::Console;

/// The most positions remembered per track (the oldest go first; the
/// launch point is drawn all the same).
pub const MAX_POSITIONS: usize = 2000;

/// Each track's positions seen so far (by sequence number), oldest first.
#[derive(Default)]
pub struct Paths(Mutex<HashMap<String, Vec<(u32, GeoPoint)>>>);

impl Paths {
    /// Records the latest updates; returns each track's path so far.
    pub fn record(&self, entries: &[TrackEntry]) -> HashMap<String, Vec<GeoPoint>> {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for e in entries {
            let d = &e.update.doc;
            let path = seen.entry(d.track_id.to_string()).or_default();
            if path.last().is_none_or(|(seq, _)| *seq < d.seq) {
                path.push((d.seq, d.position));
                if path.len() > MAX_POSITIONS {
                    path.remove(0);
                }
            }
        }
        seen.iter().map(|(id, p)| (id.clone(), p.iter().map(|(_, g)| *g).collect())).collect()
    }
}

/// The node's tracks (latest update each), newest launch first.
pub(crate) async fn fetch(c: &Console) -> Result<Vec<TrackEntry>, String> {
    let q = ListQuery { limit: 1000, ..ListQuery::default() };
    match tisa_kit::operator::ask(&c.client, ControlRequest::Tracks(q)).await {
        Ok(ControlReply::Tracks(Page { mut items, .. })) => {
            items.sort_by_key(|e| std::cmp::Reverse(e.update.doc.launched_at));
            Ok(items)
        }
        Ok(other) => Err(tisa_kit::operator::unexpected(&other).to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// `GET /map`.
pub(crate) async fn page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match logged_in(&c, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match fetch(&c).await {
        Ok(entries) => {
            let paths = c.paths.record(&entries);
            answer(&c, &s, "Missile tracks", render(&entries, &paths))
        }
        Err(e) => node_error(&c, &s, e),
    }
}

fn deg(g: GeoPoint) -> String {
    format!("{:.2}°N {:.2}°E", f64::from(g.lat_e6) / 1e6, f64::from(g.lon_e6) / 1e6)
}

/// The table's columns.
const COLUMNS: [&str; 8] =
    ["Track", "From", "Markings", "Launched", "Launch point", "Position (update)", "Altitude", "Predicted impact"];

/// One track's table row (the page's script fills the same cells live).
fn row(e: &TrackEntry) -> [String; 8] {
    let d = &e.update.doc;
    [
        d.track_id.to_string(),
        d.originator.code().to_owned(),
        d.classification.to_string(),
        d.launched_at.to_string(),
        deg(d.launch),
        format!("{} at {} (#{})", deg(d.position), d.observed_at, d.seq),
        format!("{:.1} km", f64::from(d.altitude_m) / 1000.0),
        d.impact.map_or_else(|| "not estimated".to_owned(), deg),
    ]
}

/// The tracks as the map draws them.
fn map_tracks<'a>(
    entries: &'a [TrackEntry],
    ids: &'a [String],
    paths: &'a HashMap<String, Vec<GeoPoint>>,
) -> Vec<MapTrack<'a>> {
    entries
        .iter()
        .zip(ids)
        .map(|(e, id)| {
            let d = &e.update.doc;
            MapTrack {
                id,
                launch: d.launch,
                path: paths.get(id).map_or(&[][..], Vec::as_slice),
                impact: d.impact,
                altitude_km: f64::from(d.altitude_m) / 1000.0,
            }
        })
        .collect()
}

/// A track for live updates: its shapes and its table row.
#[derive(serde::Serialize)]
struct LiveTrack {
    #[serde(flatten)]
    shape: map::Shape,
    row: [String; 8],
}

/// The tracks now, as the `tracks` live event sends them (JSON).
pub(crate) async fn live(c: &Console) -> Result<String, String> {
    let entries = fetch(c).await?;
    let paths = c.paths.record(&entries);
    let ids: Vec<String> = entries.iter().map(|e| e.update.doc.track_id.to_string()).collect();
    let shapes = map::shapes(&map_tracks(&entries, &ids, &paths));
    let tracks: Vec<LiveTrack> =
        shapes.into_iter().zip(&entries).map(|(shape, e)| LiveTrack { shape, row: row(e) }).collect();
    serde_json::to_string(&serde_json::json!({ "tracks": tracks })).map_err(|e| e.to_string())
}

/// The map and the table (live updates redraw both: `/console.js`).
pub fn render(entries: &[TrackEntry], paths: &HashMap<String, Vec<GeoPoint>>) -> Markup {
    let ids: Vec<String> = entries.iter().map(|e| e.update.doc.track_id.to_string()).collect();
    let tracks = map_tracks(entries, &ids, paths);
    html! {
        h1 { "Missile tracks" }
        p.legend {
            span.key.launch {} " launch point  " span.key.path {} " path so far  "
            span.key.position {} " current position  " span.key.impact {} " predicted impact"
        }
        (map::render(&tracks))
        p id="no-tracks" hidden[!entries.is_empty()] { "No track: none issued here, and none released to you." }
        table id="tracks" {
            thead { tr { @for h in COLUMNS { th { (h) } } } }
            tbody {
                @for e in entries {
                    tr { @for cell in row(e) { td { (cell) } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::{Classification, Party, PartySet, Signed, Timestamp, TrackDoc, TrackId, TrackUpdate};

    fn entry(seq: u32, lat_e6: i32) -> TrackEntry {
        let point = |lat_e6| GeoPoint { lat_e6, lon_e6: 130_000_000 };
        let doc = TrackDoc {
            track_id: TrackId::new("KR-T-1").expect("a track id"),
            seq,
            originator: Party::Kr,
            classification: Classification::Secret,
            releasable_to: PartySet::EMPTY,
            launch: point(39_000_000),
            launched_at: Timestamp(0),
            position: point(lat_e6),
            altitude_m: 0,
            observed_at: Timestamp(0),
            impact: None,
            issued_at: Timestamp(0),
        };
        let signed = Signed::unsigned(Vec::new(), String::new());
        TrackEntry { update: TrackUpdate { doc, signed, consent: None }, received_at: Timestamp(0) }
    }

    #[test]
    fn the_path_grows_by_new_updates_only_and_is_bounded() {
        let p = Paths::default();
        p.record(&[entry(1, 39_500_000)]);
        p.record(&[entry(1, 39_500_000)]);
        let got = p.record(&[entry(2, 40_000_000)]);
        assert_eq!(got["KR-T-1"].iter().map(|g| g.lat_e6).collect::<Vec<_>>(), [39_500_000, 40_000_000]);
        // An older update seen late does not go back in time.
        assert_eq!(p.record(&[entry(1, 39_500_000)])["KR-T-1"].len(), 2);
        for seq in 3..(MAX_POSITIONS as u32 + 10) {
            p.record(&[entry(seq, 40_000_000)]);
        }
        assert_eq!(p.record(&[])["KR-T-1"].len(), MAX_POSITIONS);
    }
}
