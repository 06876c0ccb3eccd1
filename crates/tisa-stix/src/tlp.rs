//! TLP 2.0 as STIX 2.1 markings: the five official marking-definition
//! objects published by OASIS in `cti-stix-common-objects`
//! (`objects/marking-definition/` and
//! `extension-definition-specifications/tlp-2.0/`), with their ids exactly
//! as published there — several crates get them wrong, so the test below
//! asserts each one.
//!
//! How tisa chooses a report's TLP ([`Tlp::for_classification`]): a report
//! reaches a party under the arrangement, and may go no further without its
//! originator's consent, so nothing tisa exports is CLEAR or GREEN.
//! UNCLASSIFIED → AMBER (the receiving organisation and its clients, on a
//! need to know); CONFIDENTIAL and SECRET → AMBER+STRICT (the receiving
//! organisation only); TOP SECRET → RED (the named recipients only).
//! CLEAR and GREEN are still read on import.

use std::collections::BTreeMap;

use serde_json::json;
use tisa_core::Classification;

use crate::model::{MarkingDefinition, SPEC_VERSION};

/// The TLP 2.0 marking extension's definition id (OASIS).
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
/// When OASIS created the TLP 2.0 marking definitions.
pub const TLP2_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// A TLP 2.0 level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tlp {
    /// TLP:CLEAR.
    Clear,
    /// TLP:GREEN.
    Green,
    /// TLP:AMBER.
    Amber,
    /// TLP:AMBER+STRICT.
    AmberStrict,
    /// TLP:RED.
    Red,
}

impl Tlp {
    /// Every level, least restrictive first.
    pub const ALL: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];

    /// The official marking-definition id.
    pub fn id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// `TLP:AMBER+STRICT`.
    pub fn name(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The extension's `tlp_2_0` value (`amber+strict`).
    pub fn value(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The level of the official marking-definition `id`, if it is one.
    pub fn from_id(id: &str) -> Option<Tlp> {
        Tlp::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The level tisa marks a report of this classification with (module docs).
    pub fn for_classification(c: Classification) -> Tlp {
        match c {
            Classification::Unclassified => Tlp::Amber,
            Classification::Confidential | Classification::Secret => Tlp::AmberStrict,
            Classification::TopSecret => Tlp::Red,
        }
    }

    /// The official marking-definition object, as OASIS publishes it.
    pub fn marking(self) -> MarkingDefinition {
        let mut extensions = BTreeMap::new();
        extensions.insert(
            TLP2_EXTENSION.to_owned(),
            json!({"extension_type": "property-extension", "tlp_2_0": self.value()}),
        );
        MarkingDefinition {
            ty: "marking-definition".into(),
            spec_version: SPEC_VERSION.into(),
            id: self.id().into(),
            created: TLP2_CREATED.into(),
            name: Some(self.name().into()),
            extensions,
            ..MarkingDefinition::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids as published by OASIS in oasis-open/cti-stix-common-objects:
    /// `objects/marking-definition/marking-definition--<id>.json` (GREEN,
    /// AMBER+STRICT, RED) and `extension-definition-specifications/tlp-2.0/`
    /// (`examples/tlp-clear.json`, `examples/tlp-amber.json`, and the
    /// extension's schema `extension-definition--60a3c5c5-….json`, whose
    /// `definitions` enumerate all five ids).
    #[test]
    fn official_oasis_tlp2_ids() {
        let expected = [
            (Tlp::Clear, "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR", "clear"),
            (Tlp::Green, "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN", "green"),
            (Tlp::Amber, "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER", "amber"),
            (
                Tlp::AmberStrict,
                "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
                "TLP:AMBER+STRICT",
                "amber+strict",
            ),
            (Tlp::Red, "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED", "red"),
        ];
        for (tlp, id, name, value) in expected {
            assert_eq!(tlp.id(), id);
            assert_eq!(tlp.name(), name);
            assert_eq!(Tlp::from_id(id), Some(tlp));
            let m = serde_json::to_value(tlp.marking()).unwrap();
            assert_eq!(
                m,
                serde_json::json!({
                    "type": "marking-definition",
                    "spec_version": "2.1",
                    "id": id,
                    "created": "2022-10-01T00:00:00.000Z",
                    "name": name,
                    "extensions": {
                        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                            "extension_type": "property-extension",
                            "tlp_2_0": value
                        }
                    }
                })
            );
        }
        assert_eq!(TLP2_EXTENSION, "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d");
        // TLP 1.0's AMBER (stix2 python's TLP_AMBER) is not a TLP 2.0 id.
        assert_eq!(Tlp::from_id("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"), None);
    }

    #[test]
    fn never_clear_or_green_on_export() {
        for c in Classification::ALL {
            assert!(Tlp::for_classification(c) >= Tlp::Amber);
        }
        assert_eq!(Tlp::for_classification(Classification::Secret), Tlp::AmberStrict);
        assert_eq!(Tlp::for_classification(Classification::TopSecret), Tlp::Red);
    }
}
