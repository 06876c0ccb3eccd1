//! Signatures over canonical documents.
//!
//! A signature never covers a re-encoding of protobuf: it covers a small,
//! canonical text document carried as raw bytes next to the data it
//! describes. The receiver parses the bytes, checks that they describe
//! exactly what it received, and verifies the ed25519 signature against the
//! agreement's registered keys. Documents:
//!
//! - **manifest** (signed by the originator's node): report id, revision,
//!   originator, creation time, category, classification, releasable-to, and
//!   the SHA-256 of the title, body, tearline and source. A tearline-only
//!   recipient checks the tearline against its hash without ever seeing the body.
//! - **decision** (signed by an originator's approver): the manifest's
//!   SHA-256, the request id, report, revision, recipient and the decision.
//!   It cannot be replayed for another report, revision or party.
//! - **grant** / **revocation** (signed by an originator's approver): a
//!   standing pre-approval for a recipient, categories and a maximum
//!   classification; and its withdrawal.
//!
//! - **track** (signed by the originator's node): one update of a live
//!   missile-warning track — track id, sequence number, originator,
//!   category (always NK_MISSILE), classification, releasable-to, launch
//!   point and time, current position, altitude and observation time,
//!   predicted impact point, and when the node issued it.
//!
//! Format: a first line naming the document (`tisa.v1.manifest`), then
//! `key=value` lines in a fixed order, each ending in `\n`. Parsing is strict
//! and re-serialises to check the bytes are canonical.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::message::{Content, GeoPoint, ReportHeader};
use crate::policy::{KeyEntry, KeyRole, Policy};
use crate::types::{Category, Classification, Party, PartySet, ReportId, RequestId, Timestamp, TrackId};

/// Domain separation prefix of every signature.
const SIG_CONTEXT: &[u8] = b"tisa-signature-v1\0";

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

fn hex(d: &Digest32) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Digest32> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Why a signed document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Not a well-formed canonical document of the expected kind.
    #[error("malformed {0} document")]
    Malformed(&'static str),
    /// The signer is not a registered key of the expected party and role.
    #[error("{signer:?} is not a registered {role} key of {party}")]
    UnknownSigner {
        /// The claimed signer.
        signer: String,
        /// Expected party.
        party: Party,
        /// Expected role.
        role: &'static str,
    },
    /// The signature does not verify.
    #[error("bad signature by {0:?}")]
    BadSignature(String),
    /// The document does not describe what it came with.
    #[error("{0} does not match the data it came with")]
    Mismatch(&'static str),
}

/// A canonical document with its signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The canonical bytes.
    pub bytes: Vec<u8>,
    /// Name of the signing key (as registered in the agreement).
    pub signer: String,
    /// Ed25519 signature over the context prefix and `bytes`.
    pub signature: [u8; 64],
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes hold only ids, enum names and hashes, but stay terse.
        write!(f, "Signed {{ {} bytes by {:?} }}", self.bytes.len(), self.signer)
    }
}

/// A private signing key with the name it is registered under.
#[derive(Clone)]
pub struct Identity {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity {{ {:?}, <secret> }}", self.name)
    }
}

impl Identity {
    /// From a 32-byte ed25519 seed.
    pub fn from_seed(name: impl Into<String>, seed: [u8; 32]) -> Identity {
        Identity { name: name.into(), key: SigningKey::from_bytes(&seed) }
    }
    /// Its registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    /// Its seed (for writing a key file).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// Signs canonical bytes.
    pub fn sign(&self, bytes: Vec<u8>) -> Signed {
        let mut msg = SIG_CONTEXT.to_vec();
        msg.extend_from_slice(&bytes);
        Signed { signature: self.key.sign(&msg).to_bytes(), signer: self.name.clone(), bytes }
    }
}

fn role_name(r: KeyRole) -> &'static str {
    match r {
        KeyRole::Node => "node",
        KeyRole::Approver => "approver",
    }
}

/// Verifies `s` as signed by a registered key of `party` in `role`.
pub fn verify<'p>(policy: &'p Policy, party: Party, role: KeyRole, s: &Signed) -> Result<&'p KeyEntry, SigError> {
    let entry = policy.keys_of(party, role).find(|k| k.name == s.signer).ok_or_else(|| SigError::UnknownSigner {
        signer: s.signer.clone(),
        party,
        role: role_name(role),
    })?;
    let key = VerifyingKey::from_bytes(&entry.public).map_err(|_| SigError::BadSignature(s.signer.clone()))?;
    let mut msg = SIG_CONTEXT.to_vec();
    msg.extend_from_slice(&s.bytes);
    key.verify(&msg, &Signature::from_bytes(&s.signature)).map_err(|_| SigError::BadSignature(s.signer.clone()))?;
    Ok(entry)
}

/// Whether `name` is a valid key/operator name: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

// ------------------------------------------------------------ writer/reader

struct Doc(String);

impl Doc {
    fn new(kind: &str) -> Doc {
        Doc(format!("tisa.v1.{kind}\n"))
    }
    fn kv(mut self, k: &str, v: impl fmt::Display) -> Doc {
        self.0.push_str(&format!("{k}={v}\n"));
        self
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

struct Reader<'a> {
    kind: &'static str,
    lines: std::str::Split<'a, char>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], kind: &'static str) -> Result<Reader<'a>, SigError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SigError::Malformed(kind))?;
        let body = text.strip_suffix('\n').ok_or(SigError::Malformed(kind))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(&format!("tisa.v1.{kind}")[..]) {
            return Err(SigError::Malformed(kind));
        }
        Ok(Reader { kind, lines })
    }
    fn get(&mut self, key: &str) -> Result<&'a str, SigError> {
        let line = self.lines.next().ok_or(SigError::Malformed(self.kind))?;
        let (k, v) = line.split_once('=').ok_or(SigError::Malformed(self.kind))?;
        if k != key {
            return Err(SigError::Malformed(self.kind));
        }
        Ok(v)
    }
    fn parse<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, SigError> {
        self.get(key)?.parse().map_err(|_| SigError::Malformed(self.kind))
    }
    fn digest(&mut self, key: &str) -> Result<Digest32, SigError> {
        unhex(self.get(key)?).ok_or(SigError::Malformed(self.kind))
    }
    fn end(mut self) -> Result<(), SigError> {
        if self.lines.next().is_some() {
            return Err(SigError::Malformed(self.kind));
        }
        Ok(())
    }
}

fn parties_str(s: PartySet) -> String {
    s.iter().map(Party::code).collect::<Vec<_>>().join(",")
}

fn categories_str(c: &[Category]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

/// Checks that parsing then writing gives back exactly `bytes`.
fn canonical<T>(bytes: &[u8], doc: T, write: impl Fn(&T) -> Vec<u8>, kind: &'static str) -> Result<T, SigError> {
    if write(&doc) != bytes {
        return Err(SigError::Malformed(kind));
    }
    Ok(doc)
}

// ------------------------------------------------------------ manifest

/// What an originator signs about one revision of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The report's header.
    pub header: ReportHeader,
    /// SHA-256 of the title.
    pub title_sha256: Digest32,
    /// SHA-256 of the body.
    pub body_sha256: Digest32,
    /// SHA-256 of the tearline, if there is one.
    pub tearline_sha256: Option<Digest32>,
    /// SHA-256 of the source description.
    pub source_sha256: Digest32,
    /// The operator who submitted it (`-` if not identified).
    pub submitted_by: String,
}

impl Manifest {
    /// The manifest of `header` + `content`.
    pub fn of(header: &ReportHeader, content: &Content, submitted_by: &str) -> Manifest {
        Manifest {
            header: header.clone(),
            title_sha256: sha256(content.title.expose().as_bytes()),
            body_sha256: sha256(content.body.expose().as_bytes()),
            tearline_sha256: content.tearline.as_ref().map(|t| sha256(t.expose().as_bytes())),
            source_sha256: sha256(content.source.expose().as_bytes()),
            submitted_by: if valid_name(submitted_by) { submitted_by.to_owned() } else { "-".to_owned() },
        }
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        Doc::new("manifest")
            .kv("id", &h.id)
            .kv("revision", h.revision)
            .kv("originator", h.originator.code())
            .kv("created_at", h.created_at.as_millis())
            .kv("category", h.category)
            .kv("classification", h.classification)
            .kv("releasable_to", parties_str(h.releasable_to))
            .kv("title_sha256", hex(&self.title_sha256))
            .kv("body_sha256", hex(&self.body_sha256))
            .kv("tearline_sha256", self.tearline_sha256.as_ref().map_or("-".to_owned(), hex))
            .kv("source_sha256", hex(&self.source_sha256))
            .kv("submitted_by", &self.submitted_by)
            .bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, SigError> {
        const K: &str = "manifest";
        let mut r = Reader::new(bytes, K)?;
        let id = ReportId::new(r.get("id")?).map_err(|_| SigError::Malformed(K))?;
        let revision = r.parse("revision")?;
        let originator = r.parse("originator")?;
        let created_at = Timestamp(r.parse("created_at")?);
        let category = r.parse("category")?;
        let classification = r.parse("classification")?;
        let releasable_to = r.parse("releasable_to")?;
        let title_sha256 = r.digest("title_sha256")?;
        let body_sha256 = r.digest("body_sha256")?;
        let tearline_sha256 = match r.get("tearline_sha256")? {
            "-" => None,
            h => Some(unhex(h).ok_or(SigError::Malformed(K))?),
        };
        let source_sha256 = r.digest("source_sha256")?;
        let submitted_by = r.get("submitted_by")?.to_owned();
        r.end()?;
        let m = Manifest {
            header: ReportHeader { id, revision, originator, created_at, category, classification, releasable_to },
            title_sha256,
            body_sha256,
            tearline_sha256,
            source_sha256,
            submitted_by,
        };
        canonical(bytes, m, Manifest::to_bytes, K)
    }

    /// Checks a full release against the manifest.
    pub fn check_content(&self, content: &Content) -> Result<(), SigError> {
        let ok = sha256(content.title.expose().as_bytes()) == self.title_sha256
            && sha256(content.body.expose().as_bytes()) == self.body_sha256
            && content.tearline.as_ref().map(|t| sha256(t.expose().as_bytes())) == self.tearline_sha256
            && sha256(content.source.expose().as_bytes()) == self.source_sha256;
        if ok {
            Ok(())
        } else {
            Err(SigError::Mismatch("content"))
        }
    }

    /// Checks a tearline-only release against the manifest.
    pub fn check_tearline(&self, tearline: &str) -> Result<(), SigError> {
        if self.tearline_sha256 == Some(sha256(tearline.as_bytes())) {
            Ok(())
        } else {
            Err(SigError::Mismatch("tearline"))
        }
    }
}

// ------------------------------------------------------------ decision

/// What the originator decided, as signed by its approver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Release everything.
    ApproveFull,
    /// Release only the tearline.
    ApproveTearline,
    /// Refuse, for good.
    Deny,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::ApproveFull => "APPROVE_FULL",
            Verdict::ApproveTearline => "APPROVE_TEARLINE",
            Verdict::Deny => "DENY",
        }
    }
    fn parse(s: &str) -> Option<Verdict> {
        match s {
            "APPROVE_FULL" => Some(Verdict::ApproveFull),
            "APPROVE_TEARLINE" => Some(Verdict::ApproveTearline),
            "DENY" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

/// A release decision, as its approver signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionDoc {
    /// SHA-256 of the report's canonical manifest.
    pub manifest_sha256: Digest32,
    /// The request decided.
    pub request_id: RequestId,
    /// The report.
    pub report_id: ReportId,
    /// The revision.
    pub revision: u32,
    /// The recipient.
    pub recipient: Party,
    /// The verdict.
    pub verdict: Verdict,
    /// For a denial: why (one line, operational text).
    pub reason: String,
    /// When, by the approver's clock.
    pub decided_at: Timestamp,
    /// The approver (also the signing key's name).
    pub operator: String,
}

impl DecisionDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("decision")
            .kv("manifest_sha256", hex(&self.manifest_sha256))
            .kv("request_id", &self.request_id)
            .kv("report_id", &self.report_id)
            .kv("revision", self.revision)
            .kv("recipient", self.recipient.code())
            .kv("verdict", self.verdict.as_str())
            .kv("reason", one_line(&self.reason))
            .kv("decided_at", self.decided_at.as_millis())
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<DecisionDoc, SigError> {
        const K: &str = "decision";
        let mut r = Reader::new(bytes, K)?;
        let d = DecisionDoc {
            manifest_sha256: r.digest("manifest_sha256")?,
            request_id: RequestId::new(r.get("request_id")?).map_err(|_| SigError::Malformed(K))?,
            report_id: ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?,
            revision: r.parse("revision")?,
            recipient: r.parse("recipient")?,
            verdict: Verdict::parse(r.get("verdict")?).ok_or(SigError::Malformed(K))?,
            reason: r.get("reason")?.to_owned(),
            decided_at: Timestamp(r.parse("decided_at")?),
            operator: r.get("operator")?.to_owned(),
        };
        r.end()?;
        canonical(bytes, d, DecisionDoc::to_bytes, K)
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

// ------------------------------------------------------------ grants

/// A standing pre-approval: the originator releases, in advance, every report
/// of these categories up to this classification to this recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantDoc {
    /// Chosen by the originator, prefixed with its code (`KR-G-…`).
    pub grant_id: String,
    /// The party that grants.
    pub originator: Party,
    /// The third party it releases to.
    pub recipient: Party,
    /// Categories covered.
    pub categories: Vec<Category>,
    /// Highest classification covered.
    pub max_classification: Classification,
    /// Release only the tearline (reports without one are not covered).
    pub tearline_only: bool,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it lapses, if ever.
    pub not_after: Option<Timestamp>,
    /// The approver who issued it.
    pub operator: String,
}

impl GrantDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("grant")
            .kv("grant_id", &self.grant_id)
            .kv("originator", self.originator.code())
            .kv("recipient", self.recipient.code())
            .kv("categories", categories_str(&self.categories))
            .kv("max_classification", self.max_classification)
            .kv("tearline_only", self.tearline_only)
            .kv("issued_at", self.issued_at.as_millis())
            .kv("not_after", self.not_after.map_or("-".to_owned(), |t| t.as_millis().to_string()))
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<GrantDoc, SigError> {
        const K: &str = "grant";
        let mut r = Reader::new(bytes, K)?;
        let grant_id = r.get("grant_id")?.to_owned();
        let originator = r.parse("originator")?;
        let recipient = r.parse("recipient")?;
        let categories = r
            .get("categories")?
            .split(',')
            .map(|c| c.parse().map_err(|_| SigError::Malformed(K)))
            .collect::<Result<Vec<Category>, _>>()?;
        let max_classification = r.parse("max_classification")?;
        let tearline_only = r.parse("tearline_only")?;
        let issued_at = Timestamp(r.parse("issued_at")?);
        let not_after = match r.get("not_after")? {
            "-" => None,
            t => Some(Timestamp(t.parse().map_err(|_| SigError::Malformed(K))?)),
        };
        let operator = r.get("operator")?.to_owned();
        r.end()?;
        if !valid_name(&grant_id) {
            return Err(SigError::Malformed(K));
        }
        let g = GrantDoc {
            grant_id,
            originator,
            recipient,
            categories,
            max_classification,
            tearline_only,
            issued_at,
            not_after,
            operator,
        };
        canonical(bytes, g, GrantDoc::to_bytes, K)
    }

    /// Whether the grant covers `header` for `recipient` at `now`. It releases
    /// in advance: a report made before it was issued (perhaps one already
    /// denied) is not covered.
    pub fn covers(&self, header: &ReportHeader, recipient: Party, now: Timestamp) -> bool {
        self.originator == header.originator
            && self.recipient == recipient
            && self.categories.contains(&header.category)
            && header.classification <= self.max_classification
            && header.created_at >= self.issued_at
            && self.not_after.is_none_or(|t| now < t)
    }
}

impl GrantDoc {
    /// Whether the grant covers track update `t` for `recipient` at `now`:
    /// NK_MISSILE, up to its classification, issued by the originator's node
    /// no earlier than the grant. A tearline-only grant covers no track (a
    /// track has no tearline).
    pub fn covers_track(&self, t: &TrackDoc, recipient: Party, now: Timestamp) -> bool {
        self.originator == t.originator
            && self.recipient == recipient
            && !self.tearline_only
            && self.categories.contains(&Category::NkMissile)
            && t.classification <= self.max_classification
            && t.issued_at >= self.issued_at
            && self.not_after.is_none_or(|n| now < n)
    }
}

// ------------------------------------------------------------ tracks

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

    /// Canonical bytes.
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

    /// Parses canonical bytes.
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

/// A recipient's receipt: it holds this revision of this report, durably.
/// Signed by the recipient's node after its commit; the hub passes it back
/// to the originator and cannot invent one. Ids and a hash only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptDoc {
    /// The report.
    pub report_id: ReportId,
    /// The revision.
    pub revision: u32,
    /// The recipient that signs.
    pub recipient: Party,
    /// SHA-256 of the manifest it received (binds the receipt to the content).
    pub manifest_sha256: Digest32,
    /// When it committed the delivery, by its clock.
    pub received_at: Timestamp,
}

impl ReceiptDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("receipt")
            .kv("report_id", &self.report_id)
            .kv("revision", self.revision)
            .kv("recipient", self.recipient.code())
            .kv("manifest_sha256", hex(&self.manifest_sha256))
            .kv("received_at", self.received_at.as_millis())
            .bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<ReceiptDoc, SigError> {
        const K: &str = "receipt";
        let mut r = Reader::new(bytes, K)?;
        let d = ReceiptDoc {
            report_id: ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?,
            revision: r.parse("revision")?,
            recipient: r.parse("recipient")?,
            manifest_sha256: r.digest("manifest_sha256")?,
            received_at: Timestamp(r.parse("received_at")?),
        };
        r.end()?;
        canonical(bytes, d, ReceiptDoc::to_bytes, K)
    }
}

/// Withdrawal of a standing grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationDoc {
    /// The grant withdrawn.
    pub grant_id: String,
    /// Its originator.
    pub originator: Party,
    /// When.
    pub revoked_at: Timestamp,
    /// The approver who revoked it.
    pub operator: String,
}

impl RevocationDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("revocation")
            .kv("grant_id", &self.grant_id)
            .kv("originator", self.originator.code())
            .kv("revoked_at", self.revoked_at.as_millis())
            .kv("operator", &self.operator)
            .bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<RevocationDoc, SigError> {
        const K: &str = "revocation";
        let mut r = Reader::new(bytes, K)?;
        let d = RevocationDoc {
            grant_id: r.get("grant_id")?.to_owned(),
            originator: r.parse("originator")?,
            revoked_at: Timestamp(r.parse("revoked_at")?),
            operator: r.get("operator")?.to_owned(),
        };
        r.end()?;
        canonical(bytes, d, RevocationDoc::to_bytes, K)
    }
}

/// Withdrawal of a report already submitted (every revision): signed by
/// the originator's node. It travels the path the report took and needs no
/// new approval: it only takes information back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractionDoc {
    /// The report withdrawn (all its revisions).
    pub report_id: ReportId,
    /// Its originator (the signer's party).
    pub originator: Party,
    /// When, by the originator's clock.
    pub retracted_at: Timestamp,
    /// Why, in the operator's words (shown to holders; never logged).
    pub reason: String,
    /// The operator who asked for it (empty if unknown).
    pub operator: String,
}

impl RetractionDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("retraction")
            .kv("report_id", &self.report_id)
            .kv("originator", self.originator.code())
            .kv("retracted_at", self.retracted_at.as_millis())
            .kv("reason_sha256", hex(&sha256(self.reason.as_bytes())))
            .kv("operator", if self.operator.is_empty() { "-" } else { &self.operator })
            .bytes()
    }

    /// Parses canonical bytes; `reason` is the text that travels beside the
    /// document (its hash is what is signed).
    pub fn parse(bytes: &[u8], reason: &str) -> Result<RetractionDoc, SigError> {
        const K: &str = "retraction";
        let mut r = Reader::new(bytes, K)?;
        let report_id = ReportId::new(r.get("report_id")?).map_err(|_| SigError::Malformed(K))?;
        let originator = r.parse("originator")?;
        let retracted_at = Timestamp(r.parse("retracted_at")?);
        if r.digest("reason_sha256")? != sha256(reason.as_bytes()) {
            return Err(SigError::Mismatch("retraction reason"));
        }
        let operator = match r.get("operator")? {
            "-" => String::new(),
            o => o.to_owned(),
        };
        r.end()?;
        let d = RetractionDoc { report_id, originator, retracted_at, reason: reason.to_owned(), operator };
        canonical(bytes, d, RetractionDoc::to_bytes, K)
    }
}

/// The head of a node's audit chain (seq, hash), signed with the node's
/// key: the document of the audit log's `HEAD` entries, also carried in
/// receipts so that a peer holds evidence of how far the chain reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHeadDoc {
    /// The party whose chain it is.
    pub party: Party,
    /// Seq of the last entry covered (0: empty chain).
    pub seq: u64,
    /// That entry's hash.
    pub hash: Digest32,
}

impl AuditHeadDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        Doc::new("audit-head").kv("party", self.party).kv("seq", self.seq).kv("hash", hex(&self.hash)).bytes()
    }

    /// Parses canonical bytes.
    pub fn parse(bytes: &[u8]) -> Result<AuditHeadDoc, SigError> {
        const K: &str = "audit-head";
        let mut r = Reader::new(bytes, K)?;
        let d = AuditHeadDoc { party: r.parse("party")?, seq: r.parse("seq")?, hash: r.digest("hash")? };
        r.end()?;
        canonical(bytes, d, AuditHeadDoc::to_bytes, K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Sensitive;

    fn header() -> ReportHeader {
        ReportHeader {
            id: ReportId::new("KR-1").unwrap(),
            revision: 1,
            originator: Party::Kr,
            created_at: Timestamp(7),
            category: Category::NkMissile,
            classification: Classification::Secret,
            releasable_to: "USA,JPN".parse().unwrap(),
        }
    }

    #[test]
    fn manifest_round_trips_and_is_canonical() {
        let c = Content {
            title: Sensitive::new("t"),
            body: Sensitive::new("b"),
            tearline: None,
            source: Sensitive::new(""),
        };
        let m = Manifest::of(&header(), &c, "kim");
        let b = m.to_bytes();
        assert_eq!(Manifest::parse(&b).unwrap(), m);
        let mut extra = b.clone();
        extra.extend_from_slice(b"x=y\n");
        assert!(Manifest::parse(&extra).is_err());
        let spaced = String::from_utf8(b.clone()).unwrap().replace("revision=1", "revision=01");
        assert!(Manifest::parse(spaced.as_bytes()).is_err(), "non-canonical numbers are refused");
        assert!(m.check_content(&c).is_ok());
        let tampered = Content { body: Sensitive::new("B"), ..c };
        assert!(m.check_content(&tampered).is_err());
    }

    #[test]
    fn signatures_verify_only_with_the_registered_key_and_role() {
        let id = Identity::from_seed("kim", [1; 32]);
        let other = Identity::from_seed("kim", [2; 32]);
        let mut policy = Policy::default();
        policy.keys.push(KeyEntry {
            party: Party::Kr,
            name: "kim".into(),
            role: KeyRole::Approver,
            public: id.public(),
        });
        let s = id.sign(b"tisa.v1.x\n".to_vec());
        assert!(verify(&policy, Party::Kr, KeyRole::Approver, &s).is_ok());
        assert!(verify(&policy, Party::Kr, KeyRole::Node, &s).is_err(), "wrong role");
        assert!(verify(&policy, Party::Jp, KeyRole::Approver, &s).is_err(), "wrong party");
        assert!(verify(&policy, Party::Kr, KeyRole::Approver, &other.sign(s.bytes.clone())).is_err(), "wrong key");
        let mut t = s.clone();
        t.bytes.push(b'!');
        assert!(verify(&policy, Party::Kr, KeyRole::Approver, &t).is_err(), "tampered bytes");
    }

    #[test]
    fn decision_grant_and_revocation_round_trip() {
        let d = DecisionDoc {
            manifest_sha256: [3; 32],
            request_id: RequestId::new("KR-1.r1.JP").unwrap(),
            report_id: ReportId::new("KR-1").unwrap(),
            revision: 1,
            recipient: Party::Jp,
            verdict: Verdict::Deny,
            reason: "no".into(),
            decided_at: Timestamp(9),
            operator: "kim".into(),
        };
        assert_eq!(DecisionDoc::parse(&d.to_bytes()).unwrap(), d);
        let g = GrantDoc {
            grant_id: "KR-G-1".into(),
            originator: Party::Kr,
            recipient: Party::Jp,
            categories: vec![Category::NkMissile],
            max_classification: Classification::Secret,
            tearline_only: false,
            issued_at: Timestamp(1),
            not_after: Some(Timestamp(100)),
            operator: "kim".into(),
        };
        assert_eq!(GrantDoc::parse(&g.to_bytes()).unwrap(), g);
        assert!(g.covers(&header(), Party::Jp, Timestamp(50)));
        assert!(!g.covers(&header(), Party::Jp, Timestamp(100)), "lapsed");
        assert!(!g.covers(&header(), Party::Us, Timestamp(50)));
        let r = RevocationDoc {
            grant_id: "KR-G-1".into(),
            originator: Party::Kr,
            revoked_at: Timestamp(5),
            operator: "kim".into(),
        };
        assert_eq!(RevocationDoc::parse(&r.to_bytes()).unwrap(), r);
    }
}
