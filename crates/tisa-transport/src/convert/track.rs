//! Live missile tracks: signed updates (between parties) and unsigned drafts
//! (an operator's `track` request; the node signs).

use tisa_core::sign::TrackDoc;
use tisa_core::{GeoPoint, Timestamp, TrackDraft, TrackId, TrackUpdate};

use super::{
    class_from, class_to, grant_from_signed, parties_from, parties_to, party_to, signed_from, signed_to, Wire,
};
use crate::error::DecodeError;
use crate::proto;

fn point_to(p: GeoPoint) -> proto::GeoPoint {
    proto::GeoPoint { lat_e6: p.lat_e6, lon_e6: p.lon_e6 }
}

fn point_from(field: &'static str, p: Option<proto::GeoPoint>) -> Result<GeoPoint, DecodeError> {
    let p = p.ok_or(DecodeError::Missing(field))?;
    let g = GeoPoint { lat_e6: p.lat_e6, lon_e6: p.lon_e6 };
    if !g.is_valid() {
        return Err(DecodeError::Inconsistent("a latitude or longitude is out of range"));
    }
    Ok(g)
}

/// A track's fields (the draft's, plus originator and issue time when signed).
fn track_fields(d: &TrackDoc) -> proto::TrackUpdate {
    proto::TrackUpdate {
        track_id: d.track_id.to_string(),
        seq: d.seq,
        originator: party_to(d.originator),
        classification: class_to(d.classification),
        releasable_to: parties_to(d.releasable_to),
        launch: Some(point_to(d.launch)),
        launched_at_ms: d.launched_at.as_millis(),
        position: Some(point_to(d.position)),
        altitude_m: d.altitude_m,
        observed_at_ms: d.observed_at.as_millis(),
        impact: d.impact.map(point_to),
        issued_at_ms: d.issued_at.as_millis(),
        signed: None,
        grant: None,
        grant_cosign: None,
    }
}

/// A signed track update. Strict: every field must equal the signed document's.
impl Wire for TrackUpdate {
    type Proto = proto::TrackUpdate;

    fn to_proto(&self) -> Self::Proto {
        proto::TrackUpdate {
            signed: Some(signed_to(&self.signed)),
            grant: self.consent.as_ref().map(|g| signed_to(&g.signed)),
            grant_cosign: self.consent.as_ref().and_then(|g| g.cosign.as_ref()).map(signed_to),
            ..track_fields(&self.doc)
        }
    }

    fn from_proto(t: Self::Proto) -> Result<Self, DecodeError> {
        let signed = signed_from("track.signed", t.signed.clone())?;
        let doc = TrackDoc::parse(&signed.bytes).map_err(|_| DecodeError::Inconsistent("malformed track document"))?;
        let fields = proto::TrackUpdate { signed: None, grant: None, grant_cosign: None, ..t.clone() };
        if fields != track_fields(&doc) {
            return Err(DecodeError::Inconsistent("track fields differ from the signed track document"));
        }
        let consent = match t.grant {
            None => None,
            Some(g) => Some(grant_from_signed(signed_from("track.grant", Some(g))?, t.grant_cosign)?),
        };
        Ok(TrackUpdate { doc, signed, consent })
    }
}

/// The wire form of a `track` control request (unsigned). The node signs: a
/// request carrying a signature, grant, originator or issue time is refused.
impl Wire for TrackDraft {
    type Proto = proto::TrackUpdate;

    fn to_proto(&self) -> Self::Proto {
        proto::TrackUpdate {
            track_id: self.track_id.to_string(),
            seq: self.seq,
            originator: 0,
            classification: class_to(self.classification),
            releasable_to: parties_to(self.releasable_to),
            launch: Some(point_to(self.launch)),
            launched_at_ms: self.launched_at.as_millis(),
            position: Some(point_to(self.position)),
            altitude_m: self.altitude_m,
            observed_at_ms: self.observed_at.as_millis(),
            impact: self.impact.map(point_to),
            issued_at_ms: 0,
            signed: None,
            grant: None,
            grant_cosign: None,
        }
    }

    fn from_proto(t: Self::Proto) -> Result<Self, DecodeError> {
        if t.signed.is_some()
            || t.grant.is_some()
            || t.grant_cosign.is_some()
            || t.originator != 0
            || t.issued_at_ms != 0
        {
            return Err(DecodeError::Inconsistent(
                "a track request carries no signature, grant, originator or issue time",
            ));
        }
        Ok(TrackDraft {
            track_id: TrackId::new(t.track_id)
                .map_err(|source| DecodeError::BadId { field: "track.track_id", source })?,
            seq: t.seq,
            classification: class_from("track.classification", t.classification)?,
            releasable_to: parties_from(&t.releasable_to)?,
            launch: point_from("track.launch", t.launch)?,
            launched_at: Timestamp(t.launched_at_ms),
            position: point_from("track.position", t.position)?,
            altitude_m: t.altitude_m,
            observed_at: Timestamp(t.observed_at_ms),
            impact: t.impact.map(|p| point_from("track.impact", Some(p))).transpose()?,
        })
    }
}
