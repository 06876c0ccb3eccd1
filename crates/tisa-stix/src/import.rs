//! STIX `report` and `indicator` objects from a national tool → tisa
//! report drafts (`tisa feed stix FILE`, `tisa feed taxii URL`).
//!
//! - **Markings decide, flags fill in.** Classification and releasable-to
//!   come from the object's ACS 3.0 marking (`control_set.classification`,
//!   `permitted_nationalities`), the category from its labels (`nk-missile`,
//!   `nk-nuclear`, `other`, or `missile`, `nuclear`); a flag
//!   (`--classification`, `--rel-to`, `--category`) applies only where the
//!   object says nothing. An object with no classification from either is
//!   refused: there is no default classification.
//! - **Idempotency.** The key is `stix:<id>`, and the version's `modified`
//!   is part of the report (its source line), so the same version imports
//!   once and a new version becomes a new revision of the same report.
//! - **No laundering.** An object that came from tisa (it carries tisa's
//!   extension) is refused unless this party is its originator (then it is
//!   this party's own report coming home, e.g. to another deployment); so
//!   is an object created by another party's identity, or whose ACS
//!   originator is another party. A report this party received from
//!   another therefore cannot be re-released as its own.
//! - Revoked objects are skipped (use `tisa retract`); other types ignored.

use serde_json::Value;
use tisa_core::{Category, Classification, Party, PartySet};

use crate::ids;
use crate::markings::{AcsView, TisaExt};
use crate::model::{Common, Indicator, MarkingDefinition, Report};

/// Where a value comes from when the object says nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// `--category`.
    pub category: Option<Category>,
    /// `--classification`.
    pub classification: Option<Classification>,
    /// `--rel-to`.
    pub rel_to: Option<PartySet>,
}

/// One report to submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The idempotency key, `stix:<id>`.
    pub key: String,
    /// The STIX id and version (for messages).
    pub stix_id: String,
    /// Its `modified`.
    pub modified: String,
    /// Category.
    pub category: Category,
    /// Classification.
    pub classification: Classification,
    /// Releasable-to (never the importing party itself).
    pub rel_to: PartySet,
    /// Title (`name`).
    pub title: String,
    /// Body (`description`; an indicator's pattern is appended).
    pub body: String,
    /// Tearline (only from tisa's own extension).
    pub tearline: Option<String>,
    /// Source line.
    pub source: String,
}

/// Why an object was not imported: ids and field names only, never content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It carries tisa's extension and this party is not its originator.
    #[error("{id}: came from tisa (a report of {originator}): only {originator} may release it")]
    FromTisa {
        /// The STIX id.
        id: String,
        /// The originator it names.
        originator: String,
    },
    /// Created by another party's tisa identity.
    #[error("{id}: created by {party} (created_by_ref): only {party} may release it")]
    CreatedByOtherParty {
        /// The STIX id.
        id: String,
        /// The party.
        party: Party,
    },
    /// Its ACS marking names another party as originator.
    #[error("{id}: its ACS marking names {originator} as originator: only {party} may release it")]
    OriginatorOtherParty {
        /// The STIX id.
        id: String,
        /// The ACS originator code.
        originator: String,
        /// Whose it is.
        party: Party,
    },
    /// A required value is missing and no flag gives it.
    #[error("{id}: no {what}: {hint}")]
    Missing {
        /// The STIX id.
        id: String,
        /// What is missing.
        what: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// Malformed.
    #[error("{id}: invalid {what}: {why}")]
    Invalid {
        /// The STIX id (or `?`).
        id: String,
        /// Which object or property.
        what: &'static str,
        /// Why (no content).
        why: String,
    },
    /// Revoked by its creator.
    #[error("{id}: revoked (not imported; retract the report with `tisa retract` if it was)")]
    Revoked {
        /// The STIX id.
        id: String,
    },
}

/// The outcome for every report and indicator object in `text` (a STIX
/// bundle, a TAXII envelope, or a JSON array of objects), oldest version
/// first; other object types are ignored. Errs if `text` is none of those.
pub fn import(text: &str, party: Party, flags: Flags) -> Result<Vec<Result<Imported, Refusal>>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let objects = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bundle") || o.contains_key("objects") => {
            match o.get("objects") {
                Some(Value::Array(a)) => a.clone(),
                None => Vec::new(),
                Some(_) => return Err("`objects` is not a list".into()),
            }
        }
        _ => return Err("expected a STIX bundle (or a TAXII envelope, or a list of objects)".into()),
    };
    objects_outcomes(&objects, party, flags)
}

/// [`import`] over parsed objects.
pub fn objects_outcomes(
    objects: &[Value],
    party: Party,
    flags: Flags,
) -> Result<Vec<Result<Imported, Refusal>>, String> {
    let markings: Vec<MarkingDefinition> = objects
        .iter()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("marking-definition"))
        .filter_map(|o| serde_json::from_value(o.clone()).ok())
        .collect();
    let mut wanted: Vec<(String, &Value)> = objects
        .iter()
        .filter(|o| matches!(o.get("type").and_then(Value::as_str), Some("report" | "indicator")))
        .map(|o| (o.get("modified").and_then(Value::as_str).unwrap_or_default().to_owned(), o))
        .collect();
    // Oldest version first (timestamps of one format order as strings; parse to be sure).
    wanted.sort_by_key(|(m, _)| crate::time::parse(m).map(|t| t.as_millis()).unwrap_or(0));
    Ok(wanted.into_iter().map(|(_, o)| one(o, party, flags, &markings)).collect())
}

/// The content of a report or indicator object.
struct Parsed {
    common: Common,
    ty: &'static str,
    title: String,
    body: String,
}

fn parse(o: &Value) -> Result<Parsed, Refusal> {
    let id = o.get("id").and_then(Value::as_str).unwrap_or("?").chars().take(120).collect::<String>();
    let invalid =
        |what: &'static str, e: serde_json::Error| Refusal::Invalid { id: id.clone(), what, why: e.to_string() };
    if o.get("type").and_then(Value::as_str) == Some("report") {
        let r: Report = serde_json::from_value(o.clone()).map_err(|e| invalid("report", e))?;
        let body = r.description.clone().unwrap_or_default();
        return Ok(Parsed { common: r.common, ty: "report", title: r.name, body });
    }
    let i: Indicator = serde_json::from_value(o.clone()).map_err(|e| invalid("indicator", e))?;
    let title = i.name.clone().unwrap_or_else(|| format!("Indicator {}", i.common.id));
    let mut body = i.description.clone().unwrap_or_default();
    if !body.is_empty() {
        body.push_str("\n\n");
    }
    body.push_str(&format!("Pattern ({}): {}", i.pattern_type, i.pattern));
    if let Some(v) = &i.valid_from {
        body.push_str(&format!("\nValid from: {v}"));
    }
    Ok(Parsed { common: i.common, ty: "indicator", title, body })
}

fn one(o: &Value, party: Party, flags: Flags, markings: &[MarkingDefinition]) -> Result<Imported, Refusal> {
    let p = parse(o)?;
    let id = p.common.id.clone();
    if p.common.revoked {
        return Err(Refusal::Revoked { id });
    }
    // 1. Came from tisa: only its originator may bring it back.
    let ext = match TisaExt::of(&p.common.extensions) {
        Some(Ok(ext)) => Some(ext),
        Some(Err(why)) => return Err(Refusal::Invalid { id, what: "tisa extension", why }),
        None => None,
    };
    if let Some(ext) = &ext {
        let own = ext.originator == party.trigraph() && p.common.created_by_ref.as_deref() == Some(&ids::party(party));
        if !own {
            return Err(Refusal::FromTisa { id, originator: ext.originator.chars().take(8).collect() });
        }
    }
    // 2. Created by another party's identity.
    if let Some(other) = p.common.created_by_ref.as_deref().and_then(ids::party_of_identity) {
        if other != party {
            return Err(Refusal::CreatedByOtherParty { id, party: other });
        }
    }
    // 3. ACS markings: another party as originator is refused; the rest are the markings.
    let acs: Vec<AcsView> = p
        .common
        .object_marking_refs
        .iter()
        .filter_map(|r| markings.iter().find(|m| &m.id == r))
        .filter_map(AcsView::of)
        .collect();
    for a in &acs {
        if let Some(other) = a.originator_party().filter(|o| *o != party) {
            return Err(Refusal::OriginatorOtherParty {
                id,
                originator: a.originator.clone().unwrap_or_default().chars().take(40).collect(),
                party: other,
            });
        }
    }
    let missing = |what, hint| Refusal::Missing { id: id.clone(), what, hint };
    // The highest classification any ACS marking states.
    let classification = acs
        .iter()
        .filter_map(|a| a.classification)
        .max()
        .or_else(|| ext.as_ref().and_then(|e| e.classification.to_lowercase().parse().ok()))
        .or(flags.classification)
        .ok_or_else(|| {
            missing(
                "classification",
                "mark it with an ACS 3.0 marking (control_set.classification) or give --classification",
            )
        })?;
    let acs_rel: Vec<&AcsView> = acs.iter().filter(|a| a.names_nationalities).collect();
    let rel_to: PartySet = if let Some(first) = acs_rel.first() {
        // Releasable only where every ACS marking permits.
        let mut set = first.rel_to;
        for a in &acs_rel[1..] {
            set = set.iter().filter(|p| a.rel_to.contains(*p)).collect();
        }
        set
    } else if let Some(e) = &ext {
        e.releasable_to.iter().filter_map(|t| t.parse().ok()).collect()
    } else {
        flags.rel_to.ok_or_else(|| {
            missing("releasable-to", "mark it with an ACS 3.0 marking (permitted_nationalities) or give --rel-to")
        })?
    };
    let rel_to: PartySet = rel_to.iter().filter(|p| *p != party).collect();
    if rel_to.is_empty() {
        return Err(missing("releasable-to", "its markings permit no other tisa party (KOR, USA, JPN)"));
    }
    let category = ext
        .as_ref()
        .and_then(|e| category_of(&e.category))
        .or_else(|| p.common.labels.iter().find_map(|l| category_of(l)))
        .or(flags.category)
        .ok_or_else(|| missing("category", "label it nk-missile, nk-nuclear or other, or give --category"))?;
    if p.body.trim().is_empty() {
        return Err(missing("description", "a report needs a description: it becomes the body"));
    }
    if p.title.trim().is_empty() {
        return Err(missing("name", "it becomes the title"));
    }
    let source = match &ext {
        Some(e) => e.source.clone().unwrap_or_default(),
        None => format!("STIX {} {} modified {}", p.ty, id, p.common.modified),
    };
    Ok(Imported {
        key: format!("stix:{id}"),
        stix_id: id,
        modified: p.common.modified,
        category,
        classification,
        rel_to,
        title: p.title,
        body: p.body,
        tearline: ext.and_then(|e| e.tearline),
        source,
    })
}

/// A category from a label or tisa's name (`nk-missile`, `NK_MISSILE`, `missile`).
fn category_of(s: &str) -> Option<Category> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "nk-missile" | "missile" => Some(Category::NkMissile),
        "nk-nuclear" | "nuclear" => Some(Category::NkNuclear),
        "other" => Some(Category::Other),
        _ => None,
    }
}
