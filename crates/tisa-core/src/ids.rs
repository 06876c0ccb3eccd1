//! Identifiers: reports, release requests, envelopes and tracks. Each is
//! validated once, at construction, so that every id the core holds is safe
//! in logs and in NATS payloads.

use std::fmt;
use std::str::FromStr;

use crate::types::{truncate, ParseError, Party};

/// An identifier's text: inline up to [`Text::INLINE`] bytes (every id a
/// node makes itself, and most ids of reports, fit), shared on the heap
/// beyond. A node holds an id in several places for up to millions of
/// reports: inline, a copy is 24 bytes and no allocation; an `Arc<str>`
/// (what every id was) costs a 16-byte pointer per copy plus a 48-byte
/// heap block per id.
#[derive(Clone)]
enum Text {
    /// The length, then the bytes (ASCII: ids are validated first).
    Inline(u8, [u8; Text::INLINE]),
    Heap(std::sync::Arc<str>),
}

impl Text {
    /// The longest id kept inline.
    const INLINE: usize = 22;

    fn new(s: String) -> Text {
        if s.len() <= Text::INLINE {
            let mut b = [0u8; Text::INLINE];
            b[..s.len()].copy_from_slice(s.as_bytes());
            Text::Inline(s.len() as u8, b)
        } else {
            Text::Heap(s.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Only whole validated (ASCII) ids are stored, so this never
            // falls back to the empty string.
            Text::Inline(n, b) => std::str::from_utf8(&b[..usize::from(*n)]).unwrap_or_default(),
            Text::Heap(s) => s,
        }
    }
}

// Equality, order and hash are the text's, whichever way it is kept.
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Text {}
impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}
impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        ///
        /// Inline up to 22 characters, shared beyond: a node holds each id
        /// in several places (maps, requests, deadlines) for up to millions
        /// of reports, and a clone is a copy of 24 bytes or a reference
        /// count, never an allocation.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Text);

        impl $name {
            /// Validates and wraps an identifier: 1 to 128 characters of
            /// `A-Z a-z 0-9 - _ .` (safe in logs and in NATS subjects' payloads).
            pub fn new(s: impl Into<String>) -> Result<Self, ParseError> {
                let s = s.into();
                validate_id(&s).map_err(|why| ParseError::BadId { what: $what, value: truncate(&s), why })?;
                Ok($name(Text::new(s)))
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
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
        let (prefix, _) = self.as_str().split_once('-')?;
        Party::ALL.into_iter().find(|p| p.code() == prefix)
    }
}

impl ReportId {
    /// The party whose code prefixes this id, if any.
    pub fn prefix_party(&self) -> Option<Party> {
        let (prefix, _) = self.as_str().split_once('-')?;
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
        let report = report.as_str();
        let suffix = format!(".r{revision}.{}", recipient.code());
        if report.len() + suffix.len() <= 128 {
            return RequestId(Text::new(format!("{report}{suffix}")));
        }
        // Too long to keep whole: truncate the report part, but add a hash of
        // the whole id, so that two long ids sharing a prefix (the
        // originator's prefix is always kept) never share a request id.
        let hash =
            report.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let suffix = format!(".h{hash:016x}{suffix}");
        let keep = 128usize.saturating_sub(suffix.len()).min(report.len());
        RequestId(Text::new(format!("{}{suffix}", &report[..keep])))
    }

    /// The report this id names, when it has the shape [`RequestId::for_release`]
    /// gives it (`<report>.r<revision>.<recipient code>`); `None` otherwise.
    /// (An id shortened with a hash names only a prefix of its report.)
    pub fn report(&self) -> Option<ReportId> {
        let (rest, recipient) = self.as_str().rsplit_once('.')?;
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

    #[test]
    fn an_id_is_the_same_inline_or_shared() {
        // 22 characters inline, 23 on the heap: the same text either way.
        for len in [1, 21, 22, 23, 64, 128] {
            let text: String = "K".repeat(len);
            let id = ReportId::new(text.clone()).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(matches!(id.0, Text::Inline(..)), len <= Text::INLINE, "{len}");
            assert_eq!(id.to_string(), text);
        }
        // Order, equality and hash follow the text, across the two forms.
        let short = ReportId::new("KR-b").unwrap();
        let long = ReportId::new(format!("KR-a{}", "x".repeat(40))).unwrap();
        assert!(long < short);
        let hash = |id: &ReportId| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
        };
        let a = ReportId(Text::Heap("KR-1".into()));
        let b = ReportId::new("KR-1").unwrap();
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
        assert_eq!(std::mem::size_of::<ReportId>(), 24);
    }
}
