//! One update of a live missile-warning track, signed by its originator's node.

use super::canonical::{canonical, parties_str, Doc, Reader, SigError};
use crate::ids::TrackId;
use crate::types::{Category, Classification, GeoPoint, Party, PartySet, Timestamp};

/// One update of a live missile-warning track, as its originator's node signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackDoc {
    /// Chosen by the originator, prefixed with its code (`KR-T-…`).
    pub track_id: TrackId,
    /// Sequence number, increasing per track (later updates supersede earlier ones).
    pub seq: u32,
    /// The party that observes the track and alone may consent to its release.
    pub originator: Party,
    /// Classification (checked against each link's ceiling).
    pub classification: Classification,
    /// Parties it may ever reach: a limit, never consent.
    pub releasable_to: PartySet,
    /// Launch point.
    pub launch: GeoPoint,
    /// Launch time.
    pub launched_at: Timestamp,
    /// Current position.
    pub position: GeoPoint,
    /// Current altitude, metres.
    pub altitude_m: i32,
    /// When the current position was observed.
    pub observed_at: Timestamp,
    /// Predicted impact point, if estimated.
    pub impact: Option<GeoPoint>,
    /// When the originator's node issued this update (its clock).
    pub issued_at: Timestamp,
}

impl TrackDoc {
    /// The category of every track.
    pub const CATEGORY: Category = Category::NkMissile;

    /// The canonical bytes: what is signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let pt = |p: &GeoPoint| format!("{},{}", p.lat_e6, p.lon_e6);
        Doc::new("track")
            .kv("track_id", &self.track_id)
            .kv("seq", self.seq)
            .kv("originator", self.originator.code())
            .kv("category", Self::CATEGORY)
            .kv("classification", self.classification)
            .kv("releasable_to", parties_str(self.releasable_to))
            .kv("launch_e6", pt(&self.launch))
            .kv("launched_at", self.launched_at.as_millis())
            .kv("position_e6", pt(&self.position))
            .kv("altitude_m", self.altitude_m)
            .kv("observed_at", self.observed_at.as_millis())
            .kv("impact_e6", self.impact.as_ref().map_or("-".to_owned(), pt))
            .kv("issued_at", self.issued_at.as_millis())
            .bytes()
    }

    /// Parses `bytes`, refusing anything but the canonical form
    /// ([`SigError::Malformed`]).
    pub fn parse(bytes: &[u8]) -> Result<TrackDoc, SigError> {
        const K: &str = "track";
        let point = |s: &str| -> Result<GeoPoint, SigError> {
            let (a, b) = s.split_once(',').ok_or(SigError::Malformed(K))?;
            let p = GeoPoint {
                lat_e6: a.parse().map_err(|_| SigError::Malformed(K))?,
                lon_e6: b.parse().map_err(|_| SigError::Malformed(K))?,
            };
            if p.is_valid() {
                Ok(p)
            } else {
                Err(SigError::Malformed(K))
            }
        };
        let mut r = Reader::new(bytes, K)?;
        let track_id = TrackId::new(r.get("track_id")?).map_err(|_| SigError::Malformed(K))?;
        let seq = r.parse("seq")?;
        let originator = r.parse("originator")?;
        if r.parse::<Category>("category")? != Self::CATEGORY {
            return Err(SigError::Malformed(K));
        }
        let classification = r.parse("classification")?;
        let releasable_to = r.parse("releasable_to")?;
        let launch = point(r.get("launch_e6")?)?;
        let launched_at = Timestamp(r.parse("launched_at")?);
        let position = point(r.get("position_e6")?)?;
        let altitude_m = r.parse("altitude_m")?;
        let observed_at = Timestamp(r.parse("observed_at")?);
        let impact = match r.get("impact_e6")? {
            "-" => None,
            p => Some(point(p)?),
        };
        let issued_at = Timestamp(r.parse("issued_at")?);
        r.end()?;
        let d = TrackDoc {
            track_id,
            seq,
            originator,
            classification,
            releasable_to,
            launch,
            launched_at,
            position,
            altitude_m,
            observed_at,
            impact,
            issued_at,
        };
        canonical(bytes, d, TrackDoc::to_bytes, K)
    }
}
