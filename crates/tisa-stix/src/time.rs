//! STIX and TAXII timestamps: RFC 3339 in UTC with millisecond precision
//! (`2026-12-03T17:31:59.123Z`), from and to tisa's epoch milliseconds.

use ::time::format_description::well_known::Rfc3339;
use ::time::macros::format_description;
use ::time::OffsetDateTime;
use tisa_core::Timestamp;

/// `ms` since the epoch as a STIX timestamp (millisecond precision, `Z`).
pub fn format(ms: Timestamp) -> String {
    let nanos = i128::from(ms.as_millis()) * 1_000_000;
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// A STIX/TAXII timestamp (any RFC 3339 form) as epoch milliseconds
/// (finer precision is cut, never rounded up).
pub fn parse(s: &str) -> Result<Timestamp, String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| format!("not an RFC 3339 timestamp ({e})"))?;
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    u64::try_from(ms).map(Timestamp).map_err(|_| "a timestamp before 1970".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Timestamp(1_764_783_119_123);
        let s = format(t);
        assert_eq!(s, "2025-12-03T17:31:59.123Z");
        assert_eq!(parse(&s), Ok(t));
        assert_eq!(parse("2025-12-03T17:31:59.123456Z"), Ok(t));
        assert_eq!(parse("2025-12-03T18:31:59.123+01:00"), Ok(t));
        assert!(parse("yesterday").is_err());
        assert_eq!(format(Timestamp(0)), "1970-01-01T00:00:00.000Z");
    }
}
