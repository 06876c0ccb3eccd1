//! The missile-track map, drawn on the server as SVG: the region's land
//! from Natural Earth's public-domain coastline (`assets/coastline.json`,
//! made by `scripts/coastline.py`), a 5° graticule, a few cities for
//! orientation, and per track its launch point, its path so far, its
//! current position and its predicted impact. Pure: data in, markup out.

use std::sync::OnceLock;

use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use tisa_core::GeoPoint;

/// The committed coastline (see `assets/README.md`).
const COASTLINE: &str = include_str!("../assets/coastline.json");

/// The map's width in SVG units.
pub const WIDTH: f64 = 1000.0;

#[derive(Deserialize)]
struct Coastline {
    bbox: [f64; 4],
    land: Vec<Land>,
}

#[derive(Deserialize)]
struct Land {
    ring: Vec<[f64; 2]>,
}

fn coastline() -> Option<&'static Coastline> {
    static C: OnceLock<Option<Coastline>> = OnceLock::new();
    C.get_or_init(|| match serde_json::from_str(COASTLINE) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "console: the committed coastline does not parse; the map shows the sea only");
            None
        }
    })
    .as_ref()
}

/// An equirectangular projection of the region, longitudes shortened by
/// the cosine of its middle latitude (so the shapes look right there).
#[derive(Clone, Copy)]
struct Projection {
    west: f64,
    north: f64,
    kx: f64,
    ky: f64,
    height: f64,
}

impl Projection {
    fn new([west, south, east, north]: [f64; 4]) -> Projection {
        let mid = ((south + north) / 2.0).to_radians().cos();
        let kx = WIDTH / (east - west);
        let ky = kx / mid;
        Projection { west, north, kx, ky, height: (north - south) * ky }
    }

    fn xy(&self, lon: f64, lat: f64) -> (f64, f64) {
        ((lon - self.west) * self.kx, (self.north - lat) * self.ky)
    }

    fn point(&self, p: GeoPoint) -> (f64, f64) {
        self.xy(f64::from(p.lon_e6) / 1e6, f64::from(p.lat_e6) / 1e6)
    }
}

fn points(pts: impl IntoIterator<Item = (f64, f64)>) -> String {
    pts.into_iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
}

/// Cities for orientation: name, longitude, latitude.
const CITIES: &[(&str, f64, f64)] = &[
    ("Seoul", 126.98, 37.57),
    ("Pyongyang", 125.75, 39.02),
    ("Tokyo", 139.69, 35.69),
    ("Busan", 129.08, 35.18),
    ("Sapporo", 141.35, 43.06),
    ("Vladivostok", 131.89, 43.12),
    ("Shanghai", 121.47, 31.23),
];

/// One track as the map draws it.
pub struct MapTrack<'a> {
    /// The track id (an id: never free text, escaped all the same).
    pub id: &'a str,
    /// Launch point.
    pub launch: GeoPoint,
    /// Positions seen so far, oldest first, the current one last.
    pub path: &'a [GeoPoint],
    /// Predicted impact, if estimated.
    pub impact: Option<GeoPoint>,
    /// Current altitude, km.
    pub altitude_km: f64,
}

/// A track in the map's coordinates: what the SVG draws, and what live
/// updates send the page's script (`/console.js` draws the same shapes).
#[derive(Debug, Serialize)]
pub struct Shape {
    /// The track id.
    pub id: String,
    /// Launch point.
    pub launch: (f64, f64),
    /// Positions seen so far, the current one last.
    pub path: Vec<(f64, f64)>,
    /// Predicted impact.
    pub impact: Option<(f64, f64)>,
    /// "ID · 450 km".
    pub label: String,
}

/// The region's projection (the coastline's box).
fn projection() -> Projection {
    Projection::new(coastline().map_or([119.0, 29.0, 149.0, 48.0], |c| c.bbox))
}

/// The tracks in the map's coordinates.
pub fn shapes(tracks: &[MapTrack]) -> Vec<Shape> {
    let p = projection();
    tracks
        .iter()
        .map(|t| Shape {
            id: t.id.to_owned(),
            launch: p.point(t.launch),
            path: t.path.iter().map(|g| p.point(*g)).collect(),
            impact: t.impact.map(|g| p.point(g)),
            label: format!("{} · {:.0} km", t.id, t.altitude_km),
        })
        .collect()
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

/// The map: land, graticule, cities, then each track on top.
pub fn render(tracks: &[MapTrack]) -> Markup {
    let p = projection();
    let bbox = coastline().map_or([119.0, 29.0, 149.0, 48.0], |c| c.bbox);
    let view = format!("0 0 {WIDTH:.0} {:.0}", p.height);
    let (west, south, east, north) = (bbox[0], bbox[1], bbox[2], bbox[3]);
    let lons: Vec<f64> =
        (0..).map(|i| (west / 5.0).ceil() * 5.0 + 5.0 * f64::from(i)).take_while(|l| *l <= east).collect();
    let lats: Vec<f64> =
        (0..).map(|i| (south / 5.0).ceil() * 5.0 + 5.0 * f64::from(i)).take_while(|l| *l <= north).collect();
    html! {
        svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox=(view) role="img" aria-label="Missile tracks on a map of the region" {
            rect.sea x="0" y="0" width=(WIDTH) height=(format!("{:.0}", p.height)) {}
            @if let Some(c) = coastline() {
                @for l in &c.land {
                    polygon.land points=(points(l.ring.iter().map(|[lon, lat]| p.xy(*lon, *lat)))) {}
                }
            }
            @for lon in &lons {
                @let (x, _) = p.xy(*lon, north);
                line.grid x1=(f(x)) y1="0" x2=(f(x)) y2=(f(p.height)) {}
                text.gridlabel x=(f(x + 3.0)) y=(f(p.height - 6.0)) { (lon) "°E" }
            }
            @for lat in &lats {
                @let (_, y) = p.xy(west, *lat);
                line.grid x1="0" y1=(f(y)) x2=(WIDTH) y2=(f(y)) {}
                text.gridlabel x="4" y=(f(y - 4.0)) { (lat) "°N" }
            }
            @for (name, lon, lat) in CITIES {
                @let (x, y) = p.xy(*lon, *lat);
                circle.city cx=(f(x)) cy=(f(y)) r="3" {}
                text.city x=(f(x + 5.0)) y=(f(y + 4.0)) { (name) }
            }
            @for t in shapes(tracks) { (track(&t)) }
        }
    }
}

/// One track's shapes (`/console.js` `draw` makes the same elements).
fn track(t: &Shape) -> Markup {
    let (lx, ly) = t.launch;
    let path = points(std::iter::once(t.launch).chain(t.path.iter().copied()));
    let now = t.path.last().copied();
    html! {
        g.track data-track=(t.id) {
            polyline.path points=(path) {}
            @if let (Some((x, y)), Some((ix, iy))) = (now, t.impact) {
                line.predicted x1=(f(x)) y1=(f(y)) x2=(f(ix)) y2=(f(iy)) {}
                g.impact {
                    circle cx=(f(ix)) cy=(f(iy)) r="9" {}
                    line x1=(f(ix - 6.0)) y1=(f(iy - 6.0)) x2=(f(ix + 6.0)) y2=(f(iy + 6.0)) {}
                    line x1=(f(ix - 6.0)) y1=(f(iy + 6.0)) x2=(f(ix + 6.0)) y2=(f(iy - 6.0)) {}
                }
            }
            rect.launch x=(f(lx - 5.0)) y=(f(ly - 5.0)) width="10" height="10" {}
            @if let Some((x, y)) = now {
                circle.position cx=(f(x)) cy=(f(y)) r="6" {}
                text.tracklabel x=(f(x - 20.0)) y=(f(y + 26.0)) { (t.label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_coastline_parses_and_covers_the_region() {
        let c = coastline().expect("assets/coastline.json parses");
        assert!(c.land.len() >= 5, "Korea, Japan and the coasts around");
        for l in &c.land {
            for [lon, lat] in &l.ring {
                assert!((c.bbox[0]..=c.bbox[2]).contains(lon) && (c.bbox[1]..=c.bbox[3]).contains(lat));
            }
        }
    }

    #[test]
    fn the_projection_puts_the_corners_at_the_corners_and_east_right_of_west() {
        let p = Projection::new([119.0, 29.0, 149.0, 48.0]);
        assert_eq!(p.xy(119.0, 48.0), (0.0, 0.0));
        let (x, y) = p.xy(149.0, 29.0);
        assert!((x - WIDTH).abs() < 1e-9 && (y - p.height).abs() < 1e-9);
        let seoul = p.xy(126.98, 37.57);
        let tokyo = p.xy(139.69, 35.69);
        assert!(tokyo.0 > seoul.0 && tokyo.1 > seoul.1, "Tokyo lies east and a little south of Seoul");
    }
}
