//! The STIX 2.1 objects tisa writes and reads, as serde types. Only what
//! tisa needs: `report`, `indicator` (read), `identity`,
//! `marking-definition`, `extension-definition`, and the `bundle`. Unknown
//! properties are ignored on reading; extensions stay JSON values
//! ([`Common::extensions`]), read through [`crate::markings`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one STIX version tisa speaks.
pub const SPEC_VERSION: &str = "2.1";

/// A STIX bundle: objects in no particular order, possibly several versions
/// of one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always `bundle`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `bundle--<uuid>`.
    pub id: String,
    /// The objects (kept as JSON: a bundle may hold types tisa does not read).
    #[serde(default)]
    pub objects: Vec<Value>,
}

impl Bundle {
    /// A bundle of `objects` with a fresh id.
    pub fn new(objects: Vec<Value>) -> Bundle {
        Bundle { ty: "bundle".into(), id: format!("bundle--{}", uuid::Uuid::new_v4()), objects }
    }
}

/// The properties every STIX domain object has (those tisa uses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// `2.1`.
    pub spec_version: String,
    /// `<type>--<uuid>`.
    pub id: String,
    /// When the first version was created.
    pub created: String,
    /// When this version was made (the version's key).
    pub modified: String,
    /// The identity that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<String>,
    /// Withdrawn by its creator (final).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    /// Free labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Markings of the whole object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<String>,
    /// Markings of some of its properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granular_markings: Vec<GranularMarking>,
    /// Extensions, by extension-definition id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
}

/// A marking of some properties of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GranularMarking {
    /// The marking definition.
    pub marking_ref: String,
    /// The properties it marks (`description`, `extensions.<id>.tearline`).
    pub selectors: Vec<String>,
}

/// A STIX `report`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `report`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The common properties.
    #[serde(flatten)]
    pub common: Common,
    /// Its title.
    pub name: String,
    /// Its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Open vocabulary (`threat-report`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_types: Vec<String>,
    /// When it was published.
    pub published: String,
    /// What it is about.
    #[serde(default)]
    pub object_refs: Vec<String>,
}

/// A STIX `indicator` (read by the import only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// The common properties.
    #[serde(flatten)]
    pub common: Common,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its text.
    #[serde(default)]
    pub description: Option<String>,
    /// The detection pattern.
    pub pattern: String,
    /// The pattern's language (`stix`, `snort`, …).
    pub pattern_type: String,
    /// From when it is valid.
    #[serde(default)]
    pub valid_from: Option<String>,
}

/// A STIX `identity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Always `identity`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The common properties.
    #[serde(flatten)]
    pub common: Common,
    /// Its name.
    pub name: String,
    /// `organization`, `system`, ….
    pub identity_class: String,
    /// Open vocabulary (`government-national`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
}

/// A STIX `marking-definition` (never versioned: no `modified`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkingDefinition {
    /// Always `marking-definition`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `2.1`.
    pub spec_version: String,
    /// `marking-definition--<uuid>`.
    pub id: String,
    /// When it was created.
    pub created: String,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<String>,
    /// Its name (`TLP:AMBER+STRICT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `statement` (or `tlp` for TLP 1.0), with `definition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_type: Option<String>,
    /// `{"statement": "…"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
    /// Extensions (TLP 2.0, ACS 3.0), by extension-definition id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
}

/// A STIX `extension-definition`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtensionDefinition {
    /// Always `extension-definition`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The common properties.
    #[serde(flatten)]
    pub common: Common,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its normative definition (a URL or plain text).
    pub schema: String,
    /// Its version.
    pub version: String,
    /// `property-extension`, ….
    pub extension_types: Vec<String>,
}

/// Serialises a STIX object to JSON (infallible for these types).
pub fn to_value<T: Serialize>(o: &T) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}
