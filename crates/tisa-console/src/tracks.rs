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

/// The map and the table.
pub fn render(entries: &[TrackEntry], paths: &HashMap<String, Vec<GeoPoint>>) -> Markup {
    let ids: Vec<String> = entries.iter().map(|e| e.update.doc.track_id.to_string()).collect();
    let tracks: Vec<MapTrack> = entries
        .iter()
        .zip(&ids)
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
        .collect();
    html! {
        h1 { "Missile tracks" }
        p.legend {
            span.key.launch {} " launch point  " span.key.path {} " path so far  "
            span.key.position {} " current position  " span.key.impact {} " predicted impact"
        }
        (map::render(&tracks))
        @if entries.is_empty() {
            p id="no-tracks" { "No track: none issued here, and none released to you." }
        } @else {
            table id="tracks" {
                thead { tr {
                    th { "Track" } th { "From" } th { "Markings" } th { "Launched" } th { "Launch point" }
                    th { "Position (update)" } th { "Altitude" } th { "Predicted impact" }
                } }
                tbody {
                    @for e in entries {
                        @let d = &e.update.doc;
                        tr {
                            td { (d.track_id.to_string()) }
                            td { (d.originator.code()) }
                            td.marking { (d.classification) }
                            td { (d.launched_at) }
                            td { (deg(d.launch)) }
                            td { (deg(d.position)) " at " (d.observed_at) " (#" (d.seq) ")" }
                            td { (format!("{:.1}", f64::from(d.altitude_m) / 1000.0)) " km" }
                            td { @if let Some(i) = d.impact { (deg(i)) } @else { "not estimated" } }
                        }
                    }
                }
            }
        }
    }
}
