//! Deterministic STIX identifiers: UUIDv5 names in tisa's own namespace,
//! so that every party (and every export, every TAXII pull) names the same
//! report, party and marking with the same id, and a consumer's store
//! deduplicates them. (STIX 2.1 recommends, but does not require, UUIDv4
//! for domain objects; stable ids are what versioning needs here.)

use tisa_core::Party;
use uuid::Uuid;

/// tisa's UUIDv5 namespace (itself UUIDv5 of `tisa.stix` in the URL namespace).
pub fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"tisa.stix")
}

/// `<type>--<uuid5(namespace, type:name)>`.
pub fn stix_id(ty: &str, name: &str) -> String {
    format!("{ty}--{}", Uuid::new_v5(&namespace(), format!("{ty}:{name}").as_bytes()))
}

/// The `report` id of tisa report `report_id` (every revision: STIX versions).
pub fn report(report_id: &str) -> String {
    stix_id("report", report_id)
}

/// The `identity` of a party (the government that originates reports).
pub fn party(p: Party) -> String {
    stix_id("identity", p.trigraph())
}

/// The `identity` of tisa itself (creator of tisa's extension definition).
pub fn tisa() -> String {
    stix_id("identity", "tisa")
}

/// The TAXII collection of what `p` holds.
pub fn collection(p: Party) -> String {
    Uuid::new_v5(&namespace(), format!("collection:{}", p.trigraph()).as_bytes()).to_string()
}

/// The party whose identity `id` is, if it is one of the three.
pub fn party_of_identity(id: &str) -> Option<Party> {
    Party::ALL.into_iter().find(|p| party(*p) == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        assert_eq!(report("KR-1"), report("KR-1"));
        assert_ne!(report("KR-1"), report("KR-2"));
        assert!(report("KR-1").starts_with("report--"));
        assert_eq!(party_of_identity(&party(Party::Jp)), Some(Party::Jp));
        assert_eq!(party_of_identity(&tisa()), None);
        assert_ne!(collection(Party::Kr), collection(Party::Jp));
    }
}
