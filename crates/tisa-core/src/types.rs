//! Domain vocabulary: parties, categories, classifications, time, content
//! that must not be logged, points on the earth, and why text did not parse.
//! A leaf: it imports nothing from the rest of the crate.
//!
//! These types are the core's own. They are not prost types and never will be:
//! the transport crate converts the wire format into them at the edge.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One of the three signatories of the 2014 arrangement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    /// Republic of Korea.
    Kr,
    /// United States: the hub, the only party on both national links.
    Us,
    /// Japan.
    Jp,
}

impl Party {
    /// Every party, in a stable order.
    pub const ALL: [Party; 3] = [Party::Kr, Party::Us, Party::Jp];
    /// The hub of the arrangement (the US Department of Defense in 2014).
    pub const HUB: Party = Party::Us;
    /// The two nations that talk to each other only through the hub.
    pub const NATIONS: [Party; 2] = [Party::Kr, Party::Jp];

    /// Lower-case two-letter code, as used in NATS subjects (`kr`, `us`, `jp`).
    pub fn lower(self) -> &'static str {
        match self {
            Party::Kr => "kr",
            Party::Us => "us",
            Party::Jp => "jp",
        }
    }

    /// Two-letter code (`KR`), used as the prefix of the party's report ids.
    pub fn code(self) -> &'static str {
        match self {
            Party::Kr => "KR",
            Party::Us => "US",
            Party::Jp => "JP",
        }
    }

    /// ISO 3166 alpha-3 trigraph (`KOR`), as used in "REL TO" markings.
    pub fn trigraph(self) -> &'static str {
        match self {
            Party::Kr => "KOR",
            Party::Us => "USA",
            Party::Jp => "JPN",
        }
    }

    /// Whether this party is the hub.
    pub fn is_hub(self) -> bool {
        self == Party::HUB
    }

    /// For a nation, the other nation: the third party its reports may reach
    /// only through the hub. `None` for the hub.
    pub fn other_nation(self) -> Option<Party> {
        match self {
            Party::Kr => Some(Party::Jp),
            Party::Jp => Some(Party::Kr),
            Party::Us => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Party::Kr => 1,
            Party::Us => 2,
            Party::Jp => 4,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.trigraph())
    }
}

impl FromStr for Party {
    type Err = ParseError;
    /// Accepts `kr|us|jp` and `KOR|USA|JPN`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kr" | "kor" => Ok(Party::Kr),
            "us" | "usa" => Ok(Party::Us),
            "jp" | "jpn" => Ok(Party::Jp),
            _ => Err(ParseError::UnknownParty(truncate(s))),
        }
    }
}

/// A set of parties (a "releasable to" list). Ordered, duplicate-free.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PartySet(u8);

impl PartySet {
    /// The empty set.
    pub const EMPTY: PartySet = PartySet(0);

    /// Whether `p` is in the set.
    pub fn contains(self, p: Party) -> bool {
        self.0 & p.bit() != 0
    }
    /// Adds `p`.
    pub fn insert(&mut self, p: Party) {
        self.0 |= p.bit();
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Members in `Party::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = Party> {
        Party::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Party> for PartySet {
    fn from_iter<I: IntoIterator<Item = Party>>(iter: I) -> Self {
        let mut s = PartySet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PartySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for PartySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Party::trigraph).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for PartySet {
    type Err = ParseError;
    /// Parses a comma-separated list such as `USA,JPN` or `us,jp`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',').filter(|t| !t.trim().is_empty()).map(Party::from_str).collect()
    }
}

/// What a report is about. Only North Korean nuclear and missile programmes
/// are in the trilateral scope (by default; the policy decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// North Korea's nuclear programme (tests, facilities, material).
    NkNuclear,
    /// North Korea's missile programme (launches, engines, sites).
    NkMissile,
    /// Anything else: bilateral with the hub only.
    Other,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 3] = [Category::NkNuclear, Category::NkMissile, Category::Other];
    /// Canonical name (`NK_NUCLEAR`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NkNuclear => "NK_NUCLEAR",
            Category::NkMissile => "NK_MISSILE",
            Category::Other => "OTHER",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ParseError;
    /// Accepts `nuclear|nk_nuclear|missile|nk_missile|other`, in any case, `-` or `_`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "nuclear" | "nk_nuclear" => Ok(Category::NkNuclear),
            "missile" | "nk_missile" => Ok(Category::NkMissile),
            "other" => Ok(Category::Other),
            _ => Err(ParseError::UnknownCategory(truncate(s))),
        }
    }
}

/// Security classification, ordered from lowest to highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Classification {
    /// UNCLASSIFIED.
    Unclassified,
    /// CONFIDENTIAL.
    Confidential,
    /// SECRET (the default link ceiling).
    Secret,
    /// TOP SECRET.
    TopSecret,
}

impl Classification {
    /// Every level, lowest first.
    pub const ALL: [Classification; 4] =
        [Classification::Unclassified, Classification::Confidential, Classification::Secret, Classification::TopSecret];
    /// Canonical name (`TOP_SECRET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Unclassified => "UNCLASSIFIED",
            Classification::Confidential => "CONFIDENTIAL",
            Classification::Secret => "SECRET",
            Classification::TopSecret => "TOP_SECRET",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Classification {
    type Err = ParseError;
    /// Accepts full names (`top_secret`, `top-secret`) and the usual letters (`u|c|s|ts`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "unclassified" | "u" => Ok(Classification::Unclassified),
            "confidential" | "c" => Ok(Classification::Confidential),
            "secret" | "s" => Ok(Classification::Secret),
            "top_secret" | "topsecret" | "ts" => Ok(Classification::TopSecret),
            _ => Err(ParseError::UnknownClassification(truncate(s))),
        }
    }
}

/// Milliseconds since the Unix epoch. The core never reads a clock: every
/// `now` is handed in by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }
    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
    /// `self - earlier`, or zero.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// RFC 3339 (ISO 8601) in UTC, to the second: `2014-12-29T00:00:00Z`. How
/// text output shows a time (JSON output keeps the milliseconds).
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let mo = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(mo <= 2);
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

/// Content that must never be logged: titles, bodies, tearlines, sources.
///
/// Its `Debug` prints only the length, so a `{:?}` of any message or report
/// cannot leak content into a log line. There is deliberately no `Display`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps content.
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(s.into())
    }
    /// The content, for the few places that must show or send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// A point on the earth, in millionths of a degree (WGS 84). Integers, so
/// that a signed track document is canonical.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GeoPoint {
    /// Latitude, µ°, -90e6..=90e6.
    pub lat_e6: i32,
    /// Longitude, µ°, -180e6..=180e6.
    pub lon_e6: i32,
}

impl GeoPoint {
    /// Whether the coordinates are on the earth.
    pub fn is_valid(self) -> bool {
        self.lat_e6.abs() <= 90_000_000 && self.lon_e6.abs() <= 180_000_000
    }
}

impl std::fmt::Display for GeoPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let deg = |v: i32| {
            let sign = if v < 0 { "-" } else { "" };
            let a = v.unsigned_abs();
            format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
        };
        write!(f, "{},{}", deg(self.lat_e6), deg(self.lon_e6))
    }
}

/// A value given as text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not one of `kr|us|jp|KOR|USA|JPN`.
    #[error("unknown party {0:?} (expected kr, us, jp or KOR, USA, JPN)")]
    UnknownParty(String),
    /// Not a known category.
    #[error("unknown category {0:?} (expected nuclear, missile or other)")]
    UnknownCategory(String),
    /// Not a known classification.
    #[error("unknown classification {0:?} (expected unclassified, confidential, secret or top_secret)")]
    UnknownClassification(String),
    /// An identifier that breaks the id rules.
    #[error("invalid {what} {value:?}: {why}")]
    BadId {
        /// Which kind of id.
        what: &'static str,
        /// The offending value, truncated.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a known key role.
    #[error("unknown key role {0:?} (expected node, approver, submitter, reader, auditor, feed or roster)")]
    UnknownRole(String),
    /// Not a known action verb.
    #[error("unknown action verb {0:?}")]
    UnknownVerb(String),
    /// Not a key id (16 lower-case hex characters).
    #[error("invalid key id {0:?} (expected 16 lower-case hex characters)")]
    BadKeyId(String),
}

/// Caps user-supplied text echoed in errors (ids and enum names only, never content).
pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}
