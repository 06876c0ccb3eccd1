//! Identifiers: reports, release requests, envelopes and tracks. Each is
//! validated once, at construction, so that every id the core holds is safe
//! in logs and in NATS payloads.

use std::fmt;
use std::str::FromStr;

use crate::types::{truncate, ParseError, Party};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        ///
        /// Shared, not copied: a node holds each id in several places (maps,
        /// requests, deadlines) for up to millions of reports, and a clone
        /// is a reference count, not an allocation.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates and wraps an identifier: 1 to 128 characters of
            /// `A-Z a-z 0-9 - _ .` (safe in logs and in NATS subjects' payloads).
            pub fn new(s: impl Into<String>) -> Result<Self, ParseError> {
                let s = s.into();
                validate_id(&s).map_err(|why| ParseError::BadId { what: $what, value: truncate(&s), why })?;
                Ok($name(s.into()))
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }
    };
}

id_type!(
    /// A report's identifier, chosen by its originator and prefixed with the
    /// originator's code (`KR-…`), so ids of different parties never collide.
    ReportId,
    "report id"
);
id_type!(
    /// A release request's identifier, derived by the hub from the report,
    /// revision and recipient (see [`RequestId::for_release`]).
    RequestId,
    "request id"
);
id_type!(
    /// An envelope's identifier, unique per sender.
    MessageId,
    "message id"
);

id_type!(
    /// A live missile track's identifier, chosen by its originator and
    /// prefixed with the originator's code (`KR-T-…`).
    TrackId,
    "track id"
);

impl TrackId {
    /// The party whose code prefixes this id, if any.
    pub fn prefix_party(&self) -> Option<Party> {
        let (prefix, _) = self.0.split_once('-')?;
        Party::ALL.into_iter().find(|p| p.code() == prefix)
    }
}

impl ReportId {
    /// The party whose code prefixes this id, if any.
    pub fn prefix_party(&self) -> Option<Party> {
        let (prefix, _) = self.0.split_once('-')?;
        Party::ALL.into_iter().find(|p| p.code() == prefix)
    }
}

impl RequestId {
    /// The one request id the hub uses for releasing `report` revision
    /// `revision` to `recipient`. Deterministic, so a replayed or duplicated
    /// report can never open a second request.
    pub fn for_release(report: &ReportId, revision: u32, recipient: Party) -> RequestId {
        // A valid report id is at most 128 characters; the suffix is short,
        // and the result only uses the id alphabet.
        let suffix = format!(".r{revision}.{}", recipient.code());
        if report.0.len() + suffix.len() <= 128 {
            return RequestId(format!("{}{suffix}", report.0).into());
        }
        // Too long to keep whole: truncate the report part, but add a hash of
        // the whole id, so that two long ids sharing a prefix (the
        // originator's prefix is always kept) never share a request id.
        let hash =
            report.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let suffix = format!(".h{hash:016x}{suffix}");
        let keep = 128usize.saturating_sub(suffix.len()).min(report.0.len());
        RequestId(format!("{}{suffix}", &report.0[..keep]).into())
    }

    /// The report this id names, when it has the shape [`RequestId::for_release`]
    /// gives it (`<report>.r<revision>.<recipient code>`); `None` otherwise.
    /// (An id shortened with a hash names only a prefix of its report.)
    pub fn report(&self) -> Option<ReportId> {
        let (rest, recipient) = self.0.rsplit_once('.')?;
        let (report, revision) = rest.rsplit_once('.')?;
        let is_revision =
            revision.strip_prefix('r').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let is_party = Party::ALL.iter().any(|p| p.code() == recipient);
        (is_revision && is_party).then(|| ReportId::new(report).ok()).flatten()
    }
}

fn validate_id(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("is empty");
    }
    if s.len() > 128 {
        return Err("is longer than 128 characters");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err("may only contain A-Z, a-z, 0-9, '-', '_' and '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(id: &str) -> Option<String> {
        RequestId::new(id).ok()?.report().map(|r| r.to_string())
    }

    #[test]
    fn a_request_id_names_its_report() {
        assert_eq!(report_of("KR-abc.r2.JP"), Some("KR-abc".to_owned()));
        assert_eq!(report_of("KR-abc.r12.US"), Some("KR-abc".to_owned()));
        assert_eq!(report_of("KR-abc"), None);
        assert_eq!(report_of("KR-abc.r2"), None);
        assert_eq!(report_of("KR-abc.rx.JP"), None);
        assert_eq!(report_of("KR-abc.r2.XX"), None);
        // The inverse of `for_release`.
        let r = ReportId::new("JP-0123").unwrap();
        assert_eq!(RequestId::for_release(&r, 3, Party::Kr).report(), Some(r));
    }
}
