//! # tisa-stix
//!
//! tisa in the ecosystem's language: what a party holds as **STIX 2.1**
//! (`tisa export --format stix`, `tisa inbox --format stix`), a read-only
//! **TAXII 2.1** collection of it (`tisa taxii`), and STIX bundles from a
//! national tool turned into tisa reports (`tisa feed stix|taxii`, in
//! `tisa-feeds`, using [`import`]).
//!
//! The STIX types are written here with serde. Crates checked (crates.io /
//! docs.rs, 2026): `stix2` 0.1.1, `stix-rs` 0.1.0 and `stixflayer` 0.1.x are
//! first releases with one maintainer each and no TLP 2.0 or ACS 3.0
//! marking support we could verify against OASIS; `rstix` is a reserved
//! name with no code. tisa needs a handful of object types and the exact
//! marking ids, so it writes them itself ([`model`]) and asserts the ids
//! against the OASIS `cti-stix-common-objects` repository ([`tlp`]).
//!
//! - [`time`]: STIX/TAXII timestamps (RFC 3339, UTC, milliseconds).
//! - [`ids`]: deterministic STIX ids (UUIDv5 in tisa's namespace) for
//!   reports, parties' identities, markings and the collection.
//! - [`tlp`]: the five official TLP 2.0 marking definitions and their extension.
//! - [`model`]: the STIX objects tisa writes and reads.
//! - [`markings`]: classification, releasable-to and originator as an ACS 3.0
//!   marking, the tearline statement, tisa's extension definition.
//! - [`export`]: what a party holds (its inbox) → versioned STIX objects.
//! - [`import`]: STIX report/indicator objects → report drafts, refusing
//!   what came from tisa or names another party as originator.
//! - [`taxii`]: the read-only TAXII 2.1 server (axum), reading through the
//!   party's own node with a reader's key.
//! - [`cli`]: `tisa export`, `tisa taxii`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod export;
pub mod ids;
pub mod import;
pub mod markings;
pub mod model;
pub mod taxii;
pub mod time;
pub mod tlp;

/// The STIX media type of the objects tisa serves.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The TAXII 2.1 media type.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
