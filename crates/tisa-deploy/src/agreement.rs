//! The agreement file (`agreement.toml`): the arrangement's policy as
//! versioned data. [`DEFAULT`] reproduces the 2014 arrangement and is the
//! built-in default. Errors point at the line (and column) at fault.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use tisa_core::{Category, Classification, KeyEntry, KeyRole, Party, Policy};
use toml::Spanned;

/// The built-in agreement: the 2014 arrangement (`agreement/default.toml`).
pub const DEFAULT: &str = include_str!("../../../agreement/default.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: Spanned<i64>,
    #[serde(default)]
    name: String,
    hub: Spanned<String>,
    scope: Spanned<Vec<Spanned<String>>>,
    request_expiry: Spanned<String>,
    #[serde(default)]
    two_person_rule: bool,
    /// How far a signed operator action's time may be from a node's clock.
    #[serde(default)]
    clock_skew: Option<Spanned<String>>,
    #[serde(default)]
    standing_statement_window: Option<Spanned<String>>,
    #[serde(default)]
    link: Vec<Link>,
    /// The highest classification that may pass off-line (`tisa bundle`);
    /// absent: the lower link ceiling (nothing more than on-line).
    #[serde(default)]
    offline_ceiling: Option<Spanned<String>>,
    #[serde(default)]
    key: Vec<Key>,
    #[serde(default)]
    roster: Vec<RosterRef>,
    /// When this version takes effect (RFC 3339); required from version 2.
    #[serde(default)]
    effective_at: Option<Spanned<String>>,
    /// The version this one follows (required from version 2).
    #[serde(default)]
    previous: Option<Spanned<PreviousRef>>,
    /// The parties' signatures (`tisa agreement sign`): not part of the
    /// canonical form they sign.
    #[serde(default)]
    signature: Vec<SignatureTable>,
}

/// `previous = { file = "agreement-v1.toml", sha256 = "…" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousRef {
    file: String,
    sha256: String,
}

/// `[[signature]] party = "KR" key = "<key id>" signature = "<base64>"`
/// (the signed `tisa.v1.agreement` document is rebuilt from the file).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureTable {
    party: Spanned<String>,
    key: Spanned<String>,
    signature: Spanned<String>,
}

/// `[[roster]] party = "KOR" file = "kr-roster.toml"`: the party's signed
/// operator roster (a path relative to the agreement file).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterRef {
    party: Spanned<String>,
    file: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    parties: Spanned<Vec<Spanned<String>>>,
    ceiling: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    bilateral_agreement: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    party: Spanned<String>,
    name: Spanned<String>,
    role: Spanned<String>,
    public: Spanned<String>,
}

/// A validated agreement.
#[derive(Clone, Debug)]
pub struct Agreement {
    /// Its name.
    pub name: String,
    /// The policy the core enforces.
    pub policy: Policy,
    /// Each party's roster file, as the agreement names it (relative to
    /// the agreement file); [`load`] verifies them and adds their operators.
    pub rosters: Vec<(Party, String)>,
    /// SHA-256 of the canonical form (also `policy.hash`).
    pub sha256: [u8; 32],
    /// The version this one follows: its file (relative to this one) and hash.
    pub previous: Option<(String, [u8; 32])>,
    /// The parties' signatures, as `tisa.v1.agreement` documents rebuilt
    /// from the file (verified by [`crate::chain`]).
    pub signatures: Vec<tisa_core::Signed>,
}

/// An invalid agreement: where and why.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct AgreementError {
    /// File name (or `<built-in>`).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

struct Ctx<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> AgreementError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        AgreementError { origin: self.origin.to_owned(), line, column, message: message.into() }
    }

    fn party(&self, s: &Spanned<String>) -> Result<Party, AgreementError> {
        s.get_ref().parse().map_err(|e| self.err(s.span(), format!("{e}")))
    }
}

/// Parses and validates an agreement. `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Agreement, AgreementError> {
    let cx = Ctx { origin, text };
    let file: File = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.err(span, e.message().to_owned())
    })?;
    let version = u32::try_from(*file.version.get_ref())
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| cx.err(file.version.span(), "version must be a whole number ≥ 1"))?;
    let hub = cx.party(&file.hub)?;
    if hub != Party::HUB {
        return Err(cx.err(file.hub.span(), format!("the hub must be USA (the arrangement's hub), not {hub}")));
    }
    let mut scope = Vec::new();
    for c in file.scope.get_ref() {
        let cat: Category = c.get_ref().parse().map_err(|e| cx.err(c.span(), format!("{e}")))?;
        if cat == Category::Other {
            return Err(cx.err(c.span(), "OTHER cannot be in the trilateral scope"));
        }
        if scope.contains(&cat) {
            return Err(cx.err(c.span(), format!("{cat} is listed twice")));
        }
        scope.push(cat);
    }
    if scope.is_empty() {
        return Err(cx.err(file.scope.span(), "scope must name at least one category"));
    }
    let request_expiry = crate::duration::parse_duration(file.request_expiry.get_ref())
        .map_err(|e| cx.err(file.request_expiry.span(), e))?;
    if request_expiry.is_zero() {
        return Err(cx.err(file.request_expiry.span(), "request_expiry must be longer than zero"));
    }
    let standing_window = match &file.standing_statement_window {
        None => Policy::default().standing_window,
        Some(w) => {
            let d = crate::duration::parse_duration(w.get_ref()).map_err(|e| cx.err(w.span(), e))?;
            if d < std::time::Duration::from_secs(1) {
                return Err(cx.err(w.span(), "standing_statement_window must be at least 1s"));
            }
            d
        }
    };
    let clock_skew = match &file.clock_skew {
        None => Policy::default().clock_skew,
        Some(s) => {
            let d = crate::duration::parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), e))?;
            if d.is_zero() {
                return Err(cx.err(s.span(), "clock_skew must be longer than zero"));
            }
            d
        }
    };
    let mut ceilings = [None, None]; // KR, JP
    for link in &file.link {
        let ps = link.parties.get_ref();
        if ps.len() != 2 {
            return Err(cx.err(link.parties.span(), "a link joins exactly two parties"));
        }
        let (a, b) = (cx.party(&ps[0])?, cx.party(&ps[1])?);
        let nation = match (a.is_hub(), b.is_hub()) {
            (true, false) => b,
            (false, true) => a,
            (true, true) => return Err(cx.err(link.parties.span(), "a link joins two different parties")),
            (false, false) => {
                return Err(cx.err(
                    link.parties.span(),
                    format!(
                        "there is no {a}-{b} link in the arrangement: {a} and {b} share only through the hub (USA)"
                    ),
                ))
            }
        };
        let ceiling: Classification =
            link.ceiling.get_ref().parse().map_err(|e| cx.err(link.ceiling.span(), format!("{e}")))?;
        let slot = &mut ceilings[usize::from(nation == Party::Jp)];
        if slot.is_some() {
            return Err(cx.err(link.parties.span(), format!("the USA-{nation} link is listed twice")));
        }
        *slot = Some(ceiling);
    }
    let [Some(kr_ceiling), Some(jp_ceiling)] = ceilings else {
        let missing = if ceilings[0].is_none() { "USA-KOR" } else { "USA-JPN" };
        return Err(cx.err(0..0, format!("the {missing} link is missing (add a [[link]] table)")));
    };
    let offline_ceiling = match &file.offline_ceiling {
        None => kr_ceiling.min(jp_ceiling),
        Some(c) => c.get_ref().parse().map_err(|e| cx.err(c.span(), format!("{e}")))?,
    };
    let mut keys: Vec<KeyEntry> = Vec::new();
    let mut seen = BTreeSet::new();
    for k in &file.key {
        let party = cx.party(&k.party)?;
        let role: KeyRole = k.role.get_ref().parse().map_err(|e| cx.err(k.role.span(), format!("{e}")))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(k.public.get_ref().trim())
            .map_err(|e| cx.err(k.public.span(), format!("public key is not base64: {e}")))?;
        let public: [u8; 32] =
            raw.try_into().map_err(|_| cx.err(k.public.span(), "public key must be 32 bytes (ed25519)"))?;
        let name = k.name.get_ref().trim().to_owned();
        if name.is_empty() || name.len() > 64 {
            return Err(cx.err(k.name.span(), "a key's name must be 1 to 64 characters"));
        }
        // One key may hold several roles (one [[key]] each), for one party and holder.
        if !seen.insert((public, role)) {
            return Err(cx.err(k.public.span(), "this public key is listed twice"));
        }
        if keys.iter().any(|e| e.public == public && (e.party != party || e.name != name)) {
            return Err(cx.err(k.public.span(), "this public key is listed for another party or holder"));
        }
        keys.push(KeyEntry { party, name, role, public });
    }
    let mut rosters = Vec::new();
    for r in &file.roster {
        let party = cx.party(&r.party)?;
        if rosters.iter().any(|(p, _)| *p == party) {
            return Err(cx.err(r.party.span(), format!("{party}'s roster is listed twice")));
        }
        if !keys.iter().any(|k| k.party == party && k.role == KeyRole::Roster) {
            return Err(cx.err(
                r.party.span(),
                format!("{party} has a roster but no roster key: add a [[key]] with role = \"roster\""),
            ));
        }
        rosters.push((party, r.file.get_ref().clone()));
    }
    let sha256 = crate::chain::canonical_sha256(text).map_err(|e| cx.err(0..0, e))?;
    let effective_at = match &file.effective_at {
        None if version > 1 => {
            return Err(cx.err(
                file.version.span(),
                "a version after the first must say when it takes effect: effective_at = \"2027-01-01T00:00:00Z\"",
            ))
        }
        None => tisa_core::Timestamp(0),
        Some(t) => crate::chain::parse_time(t.get_ref()).map_err(|e| cx.err(t.span(), e))?,
    };
    let previous = match (&file.previous, version) {
        (None, 1) => None,
        (None, _) => {
            return Err(cx.err(
                file.version.span(),
                "a version after the first must name the one it follows: previous = { file = \"…\", sha256 = \"…\" }",
            ))
        }
        (Some(p), 1) => return Err(cx.err(p.span(), "version 1 follows no other version: remove previous")),
        (Some(p), _) => {
            let r = p.get_ref();
            let hash = crate::chain::unhex(&r.sha256)
                .ok_or_else(|| cx.err(p.span(), "previous.sha256 must be 64 hex digits (`tisa agreement history`)"))?;
            Some((r.file.clone(), hash))
        }
    };
    let mut signatures = Vec::new();
    for t in &file.signature {
        let party = cx.party(&t.party)?;
        let key: tisa_core::KeyId =
            t.key.get_ref().parse().map_err(|e| cx.err(t.key.span(), format!("signature key: {e}")))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t.signature.get_ref().trim())
            .map_err(|e| cx.err(t.signature.span(), format!("signature is not base64: {e}")))?;
        let signature: [u8; 64] =
            raw.try_into().map_err(|_| cx.err(t.signature.span(), "a signature is 64 bytes (ed25519)"))?;
        let doc = tisa_core::sign::AgreementDoc {
            version,
            agreement_sha256: sha256,
            previous_sha256: previous.as_ref().map(|(_, h)| *h),
            party,
            key_id: key,
        };
        signatures.push(tisa_core::Signed { bytes: doc.to_bytes(), signer: key.to_string(), signature, batch: None });
    }
    Ok(Agreement {
        rosters,
        name: file.name,
        sha256,
        previous,
        signatures,
        policy: Policy {
            version,
            hash: sha256,
            effective_at,
            scope,
            kr_ceiling,
            jp_ceiling,
            offline_ceiling,
            request_expiry,
            two_person_rule: file.two_person_rule,
            standing_window,
            keys,
            clock_skew,
        },
    })
}

/// Loads `path` and the chain of versions it ends (verified: every
/// version signed by the three parties, [`crate::chain::read`]) and returns
/// its newest version; or the built-in agreement (unsigned, registering no
/// keys: for `tisa agreement show`) if `None`.
pub fn load(path: Option<&Path>) -> Result<Agreement> {
    match path {
        None => Ok(parse(DEFAULT, "<built-in agreement>")?),
        Some(p) => Ok(crate::chain::read(p)?.newest().clone()),
    }
}

/// Loads one agreement file with its rosters' operators, without checking
/// its signatures (an agreement being drafted or signed; everything that
/// enforces one uses [`load`]).
pub fn load_file(p: &Path) -> Result<Agreement> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read agreement {}", p.display()))?;
    let mut a = parse(&text, &p.display().to_string())?;
    // Each party's roster, verified against the agreement's keys.
    let dir = p.parent().unwrap_or(Path::new("."));
    let mut signed = Vec::new();
    for (party, file) in &a.rosters {
        signed.push((*party, crate::roster::read(&dir.join(file))?));
    }
    if !signed.is_empty() {
        a.policy = a
            .policy
            .clone()
            .with_rosters(&signed)
            .map_err(|e| anyhow::anyhow!("{}: {e} (re-sign the roster with `tisa roster sign`)", p.display()))?;
    }
    Ok(a)
}

/// The effective policy as JSON (`tisa agreement show --json`).
pub fn to_json(a: &Agreement) -> serde_json::Value {
    let p = &a.policy;
    serde_json::json!({
        "version": p.version,
        "name": a.name,
        "hub": Party::HUB.trigraph(),
        "scope": p.scope.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "links": [
            {"parties": ["USA", "KOR"], "ceiling": p.kr_ceiling.as_str()},
            {"parties": ["USA", "JPN"], "ceiling": p.jp_ceiling.as_str()},
        ],
        "offline_ceiling": p.offline_ceiling.as_str(),
        "request_expiry_ms": u64::try_from(p.request_expiry.as_millis()).unwrap_or(u64::MAX),
        "two_person_rule": p.two_person_rule,
        "standing_statement_window_ms": u64::try_from(p.standing_window.as_millis()).unwrap_or(u64::MAX),
        "clock_skew_ms": u64::try_from(p.clock_skew.as_millis()).unwrap_or(u64::MAX),
        "keys": p.keys.iter().map(|k| serde_json::json!({
            "party": k.party.trigraph(),
            "name": k.name,
            "role": k.role.as_str(),
            "public": base64::engine::general_purpose::STANDARD.encode(k.public),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_agreement_is_the_2014_arrangement() {
        let a = parse(DEFAULT, "default").unwrap();
        // Policy::default() is the core's (rule off, for its tests); the
        // built-in agreement turns the two-person rule on.
        // It also lets a report pass off-line up to TOP SECRET.
        let offline_ceiling = tisa_core::Classification::TopSecret;
        assert_eq!(a.policy, Policy { two_person_rule: true, hash: a.sha256, offline_ceiling, ..Policy::default() });
        assert_eq!(a.sha256, crate::chain::canonical_sha256(DEFAULT).unwrap());
        // The canonical form ignores comments and layout, not values.
        let relaid = format!("# a comment\n{}", DEFAULT.replace("version = 1", "version    =   1"));
        assert_eq!(crate::chain::canonical_sha256(&relaid).unwrap(), a.sha256);
        let changed = DEFAULT.replace("request_expiry = \"24h\"", "request_expiry = \"25h\"");
        assert_ne!(crate::chain::canonical_sha256(&changed).unwrap(), a.sha256);
    }

    fn err(text: &str) -> AgreementError {
        parse(text, "f.toml").unwrap_err()
    }

    #[test]
    fn a_kr_jp_link_is_refused_at_its_line() {
        let text = DEFAULT.replace("parties = [\"US\", \"JP\"]", "parties = [\"KR\", \"JP\"]");
        let e = err(&text);
        let line = text.lines().position(|l| l.contains("[\"KR\", \"JP\"]")).unwrap() + 1;
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains("no KOR-JPN link"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let text = DEFAULT.replace(
            "ceiling = \"SECRET\"\nbilateral_agreement = \"US-Japan",
            "ceiling = \"ULTRA\"\nbilateral_agreement = \"US-Japan",
        );
        let e = err(&text);
        let line = text.lines().position(|l| l.contains("ULTRA")).unwrap() + 1;
        assert_eq!((e.line, e.column), (line, 11), "{e}");
        assert!(e.to_string().starts_with(&format!("f.toml:{line}:11: unknown classification")), "{e}");

        let e =
            err(&DEFAULT.replace("scope = [\"NK_NUCLEAR\", \"NK_MISSILE\"]", "scope = [\"NK_NUCLEAR\", \"OTHER\"]"));
        assert!(e.message.contains("OTHER cannot be"), "{e}");
        let e = err(&DEFAULT.replace("hub = \"US\"", "hub = \"JP\""));
        assert!(e.message.contains("hub must be USA"), "{e}");
        let e = err(&DEFAULT.replace("version = 1", "version = 0"));
        assert!(e.message.contains("version"), "{e}");
        let e = err(&DEFAULT.replace("request_expiry = \"24h\"", "request_expiry = \"soon\""));
        assert!(e.message.contains("invalid duration"), "{e}");
        let e = err(&format!("{DEFAULT}\nsurprise = 1\n"));
        assert!(e.message.contains("unknown field"), "{e}");
        assert_eq!(e.line, DEFAULT.lines().count() + 2, "{e}");
        let e = err("version = 1\nhub = \"US\"\nscope = [\"NK_NUCLEAR\"]\nrequest_expiry = \"1h\"\n");
        assert!(e.message.contains("link is missing"), "{e}");
    }

    #[test]
    fn keys_are_checked() {
        let good = format!(
            "{DEFAULT}\n[[key]]\nparty = \"KR\"\nname = \"kim\"\nrole = \"approver\"\npublic = \"{}\"\n",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        let a = parse(&good, "f").unwrap();
        assert_eq!(a.policy.keys.len(), 1);
        assert_eq!(a.policy.keys[0].role, KeyRole::Approver);
        let e = err(&good.replace("approver", "boss"));
        assert!(e.message.contains("unknown key role"), "{e}");
        let e = err(&format!("{DEFAULT}\n[[key]]\nparty = \"KR\"\nname = \"k\"\nrole = \"node\"\npublic = \"AAAA\"\n"));
        assert!(e.message.contains("32 bytes"), "{e}");
    }
}
