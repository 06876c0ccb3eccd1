//! What a tisa report's markings say, in forms a receiving tool reads:
//!
//! - **ACS 3.0** ([`acs`]): classification (`U`/`C`/`S`/`TS`), releasable-to
//!   (`permitted_nationalities`, GENC trigraphs) and the originator
//!   (`responsible_entity_originator`, `KOR.GOV`), in the ISA Access Control
//!   Specification marking extension OASIS publishes in
//!   `cti-stix-common-objects` (`extension-definition--3a65884d-…`). It is
//!   the one published STIX marking that carries exactly these three, so a
//!   tool that knows ACS needs nothing of tisa's; a tisa-only extension
//!   would be understood by no one. The custodian is the exporting party.
//! - the **tearline** statement ([`tearline_marking`]), a granular marking
//!   on the released tearline text;
//! - tisa's own **extension** ([`TisaExt`], [`extension_definition`]) for
//!   what STIX has no property for: tisa's report id and revision, the
//!   category, what was released (full or tearline), the tearline, the
//!   source, a retraction's reason. Its presence also tells the import that
//!   an object came from tisa.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tisa_core::{Classification, Party, PartySet};

use crate::ids;
use crate::model::{Common, ExtensionDefinition, MarkingDefinition, SPEC_VERSION};

/// The ACS 3.0 marking extension's definition id (OASIS).
pub const ACS_EXTENSION: &str = "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce";
/// ACS policy: deny unless a control permits.
pub const ACS_POLICY: &str = "urn:isa:policy:acs:ns:v3.0?privdefault=deny&sharedefault=deny";
/// When tisa's fixed objects (markings, extension, identities) were created:
/// the day the arrangement was signed.
pub const TISA_CREATED: &str = "2014-12-29T00:00:00.000Z";

/// The ACS organisation code of a party's government (`KOR.GOV`).
pub fn org(p: Party) -> String {
    format!("{}.GOV", p.trigraph())
}

/// ACS `control_set.classification`.
pub fn acs_class(c: Classification) -> &'static str {
    match c {
        Classification::Unclassified => "U",
        Classification::Confidential => "C",
        Classification::Secret => "S",
        Classification::TopSecret => "TS",
    }
}

/// The classification of an ACS code.
pub fn class_of_acs(s: &str) -> Option<Classification> {
    Classification::ALL.into_iter().find(|c| acs_class(*c) == s)
}

/// The ACS 3.0 marking of a report of `originator`, `class`, releasable to
/// `rel_to`, held by `custodian` (deterministic id per combination).
pub fn acs(custodian: Party, originator: Party, class: Classification, rel_to: PartySet) -> MarkingDefinition {
    let nationalities: Vec<&str> = rel_to.iter().map(|p| p.trigraph()).collect();
    let name = format!(
        "{} // REL TO {} (originator {})",
        class.as_str().replace('_', " "),
        nationalities.join(", "),
        originator.trigraph()
    );
    let key = format!("acs:{}:{}:{}:{}", custodian.trigraph(), originator.trigraph(), class.as_str(), rel_to);
    let id = ids::stix_id("marking-definition", &key);
    let uuid = id.trim_start_matches("marking-definition--").to_owned();
    let mut extensions = BTreeMap::new();
    extensions.insert(
        ACS_EXTENSION.to_owned(),
        json!({
            "extension_type": "property-extension",
            "identifier": format!("isa:tisa.{uuid}"),
            "name": name,
            "create_date_time": TISA_CREATED,
            "responsible_entity_custodian": org(custodian),
            "responsible_entity_originator": org(originator),
            "policy_reference": ACS_POLICY,
            "control_set": {
                "classification": acs_class(class),
                "permitted_nationalities": nationalities,
            },
        }),
    );
    MarkingDefinition {
        ty: "marking-definition".into(),
        spec_version: SPEC_VERSION.into(),
        id,
        created: TISA_CREATED.into(),
        name: Some(name),
        extensions,
        ..MarkingDefinition::default()
    }
}

/// What an ACS marking says (as far as tisa reads it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcsView {
    /// `control_set.classification`, if it is one of U/C/S/TS.
    pub classification: Option<Classification>,
    /// `control_set.permitted_nationalities` that are tisa parties.
    pub rel_to: PartySet,
    /// Whether it named any permitted nationality at all.
    pub names_nationalities: bool,
    /// `responsible_entity_originator`, as given.
    pub originator: Option<String>,
}

impl AcsView {
    /// Reads the ACS extension of a marking definition, if it has one.
    pub fn of(m: &MarkingDefinition) -> Option<AcsView> {
        let ext = m.extensions.get(ACS_EXTENSION)?;
        let cs = ext.get("control_set");
        let classification = cs.and_then(|c| c.get("classification")).and_then(Value::as_str).and_then(class_of_acs);
        let nat: Vec<&str> = cs
            .and_then(|c| c.get("permitted_nationalities"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let rel_to = nat.iter().filter_map(|n| n.parse::<Party>().ok()).collect();
        let originator = ext.get("responsible_entity_originator").and_then(Value::as_str).map(str::to_owned);
        Some(AcsView { classification, rel_to, names_nationalities: !nat.is_empty(), originator })
    }

    /// The tisa party an ACS originator code belongs to (`JPN.GOV` → JP),
    /// by its country prefix.
    pub fn originator_party(&self) -> Option<Party> {
        let code = self.originator.as_deref()?;
        let country = code.split('.').next()?;
        Party::ALL.into_iter().find(|p| p.trigraph() == country)
    }
}

/// The statement marking put (granularly) on released tearline text.
pub fn tearline_marking() -> MarkingDefinition {
    MarkingDefinition {
        ty: "marking-definition".into(),
        spec_version: SPEC_VERSION.into(),
        id: ids::stix_id("marking-definition", "tearline"),
        created: TISA_CREATED.into(),
        name: Some("tisa tearline".into()),
        definition_type: Some("statement".into()),
        definition: Some(json!({"statement": "Tearline: text its originator wrote for wider release, released \
through tisa with the originator's consent. Releasing it further needs that consent too."})),
        ..MarkingDefinition::default()
    }
}

/// tisa's extension definition id.
pub fn extension_id() -> String {
    ids::stix_id("extension-definition", "tisa-report")
}

/// tisa's own identity (creator of its extension definition).
pub fn tisa_identity() -> crate::model::Identity {
    crate::model::Identity {
        ty: "identity".into(),
        common: fixed_common(ids::tisa()),
        name: "tisa".into(),
        identity_class: "system".into(),
        sectors: Vec::new(),
    }
}

/// The identity of a party's government, the originator of its reports.
pub fn party_identity(p: Party) -> crate::model::Identity {
    let name = match p {
        Party::Kr => "Republic of Korea",
        Party::Us => "United States of America",
        Party::Jp => "Japan",
    };
    crate::model::Identity {
        ty: "identity".into(),
        common: fixed_common(ids::party(p)),
        name: format!("{name} ({})", p.trigraph()),
        identity_class: "organization".into(),
        sectors: vec!["government-national".into()],
    }
}

fn fixed_common(id: String) -> Common {
    Common {
        spec_version: SPEC_VERSION.into(),
        id,
        created: TISA_CREATED.into(),
        modified: TISA_CREATED.into(),
        ..Common::default()
    }
}

/// tisa's extension definition object.
pub fn extension_definition() -> ExtensionDefinition {
    let mut common = fixed_common(extension_id());
    common.created_by_ref = Some(ids::tisa());
    ExtensionDefinition {
        ty: "extension-definition".into(),
        common,
        name: "tisa report".into(),
        description: "What a tisa report carries that STIX has no property for.".into(),
        schema: "Property extension of report: report_id (tisa's id), revision (1, 2, …), originator \
(KOR|USA|JPN), category (NK_NUCLEAR|NK_MISSILE|OTHER), classification (UNCLASSIFIED|CONFIDENTIAL|SECRET|\
TOP_SECRET), releasable_to (trigraphs), released (full|tearline: what the holder received), tearline and \
source (strings, present when released), retraction_reason (string, on a revoked version)."
            .into(),
        version: "1.0".into(),
        extension_types: vec!["property-extension".into()],
    }
}

/// tisa's extension on a `report`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TisaExt {
    /// `property-extension`.
    pub extension_type: String,
    /// tisa's report id (`KR-…`).
    pub report_id: String,
    /// Its revision.
    pub revision: u32,
    /// The originator's trigraph.
    pub originator: String,
    /// `NK_MISSILE`, ….
    pub category: String,
    /// `SECRET`, ….
    pub classification: String,
    /// Trigraphs.
    pub releasable_to: Vec<String>,
    /// `full` or `tearline`: what the holder received.
    pub released: String,
    /// The tearline, when released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tearline: Option<String>,
    /// The source description, when released (in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why the originator retracted it (on a revoked version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retraction_reason: Option<String>,
}

impl TisaExt {
    /// tisa's extension on an object's extensions, if present (and readable).
    pub fn of(extensions: &BTreeMap<String, Value>) -> Option<Result<TisaExt, String>> {
        extensions.get(&extension_id()).map(|v| serde_json::from_value(v.clone()).map_err(|e| e.to_string()))
    }
}
