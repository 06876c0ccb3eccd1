//! What a party holds — its inbox: every revision released to it, as
//! released (in full, or the tearline only), and retractions — as STIX 2.1
//! objects, each with the time it was added to this party's store.
//!
//! One tisa report is one STIX `report` id; each revision is a version of
//! it (`modified` = the revision's creation time); a retraction is a last
//! version with `revoked: true`. Each version refers to the originating
//! party's `identity` (`created_by_ref`, `object_refs`) and carries its
//! markings: the official TLP 2.0 marking ([`crate::tlp`]) and an ACS 3.0
//! marking with classification, releasable-to and originator
//! ([`crate::markings`]). A tearline-only delivery exports the tearline and
//! nothing else (its `name` says so: the title was not released), with the
//! tearline statement as a granular marking; a full delivery's tearline is
//! marked the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tisa_core::{InboxEntry, Party, Released, Timestamp};

use crate::markings::{self, TisaExt};
use crate::model::{to_value, Bundle, Common, GranularMarking, Report, SPEC_VERSION};
use crate::tlp::Tlp;
use crate::{ids, time};

/// One STIX object (one version of it) in what a party holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// When it was added to the party's store (TAXII `date_added`).
    pub date_added: Timestamp,
    /// Its STIX id.
    pub id: String,
    /// Its STIX type.
    pub ty: String,
    /// Its version (`modified`, or `created` for objects never versioned).
    pub version: String,
    /// The object.
    pub object: Value,
    /// The tisa report (id) it shows, for the audit trail; `None` for
    /// identities and markings.
    pub report_id: Option<String>,
}

/// Every object (every version) of what `holder` holds, given its inbox
/// `entries` (any order), sorted by date added, then id and version.
/// Identities, markings and tisa's extension definition come once each,
/// added with the first report that refers to them.
pub fn entries(holder: Party, inbox: &[InboxEntry]) -> Vec<Entry> {
    let mut by_report: BTreeMap<&str, Vec<&InboxEntry>> = BTreeMap::new();
    for e in inbox {
        by_report.entry(e.delivery.header.id.as_str()).or_default().push(e);
    }
    let mut out = Vec::new();
    let mut deps: BTreeMap<String, Entry> = BTreeMap::new();
    for revisions in by_report.values_mut() {
        revisions.sort_by_key(|e| e.delivery.header.revision);
        let created = revisions.first().map_or(Timestamp(0), |e| e.delivery.header.created_at);
        let mut last: Option<(Report, Timestamp)> = None;
        for e in revisions.iter() {
            let (report, refs) = version(holder, e, created);
            add_deps(&mut deps, holder, e, &refs, e.received_at);
            out.push(entry(&report, e.received_at, &e.delivery.header.id.to_string()));
            last = Some((report, e.received_at));
        }
        let retraction = revisions.iter().find_map(|e| e.retracted.as_ref());
        if let (Some(note), Some((mut report, received))) = (retraction, last) {
            let prev = time::parse(&report.common.modified).unwrap_or(Timestamp(0));
            let at = Timestamp(note.retracted_at.as_millis().max(prev.as_millis() + 1));
            report.common.modified = time::format(at);
            report.common.revoked = true;
            if let Some(ext) = report.common.extensions.get_mut(&markings::extension_id()) {
                ext["retraction_reason"] = Value::String(note.reason.expose().to_owned());
            }
            let rid = revisions.first().map(|e| e.delivery.header.id.to_string()).unwrap_or_default();
            out.push(entry(&report, Timestamp(at.as_millis().max(received.as_millis())), &rid));
        }
    }
    out.extend(deps.into_values());
    out.sort_by(|a, b| (a.date_added, &a.id, &a.version).cmp(&(b.date_added, &b.id, &b.version)));
    out
}

/// A bundle of `entries` (what [`entries`] gave, possibly filtered).
pub fn bundle(entries: &[Entry]) -> Bundle {
    Bundle::new(entries.iter().map(|e| e.object.clone()).collect())
}

/// Only what was added after `since`, with the identities and markings
/// those objects refer to (whenever those were added).
pub fn since(all: Vec<Entry>, since: Timestamp) -> Vec<Entry> {
    let newer: Vec<&Entry> = all.iter().filter(|e| e.date_added > since).collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for e in &newer {
        wanted.extend(refs_of(&e.object));
    }
    all.iter().filter(|e| e.date_added > since || (e.report_id.is_none() && wanted.contains(&e.id))).cloned().collect()
}

/// Every id an object refers to (markings, identities, extension definitions).
fn refs_of(o: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["created_by_ref"] {
        if let Some(s) = o.get(key).and_then(Value::as_str) {
            out.push(s.to_owned());
        }
    }
    for key in ["object_marking_refs", "object_refs"] {
        if let Some(a) = o.get(key).and_then(Value::as_array) {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    if let Some(a) = o.get("granular_markings").and_then(Value::as_array) {
        out.extend(a.iter().filter_map(|g| g.get("marking_ref")).filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(m) = o.get("extensions").and_then(Value::as_object) {
        out.extend(m.keys().filter(|k| k.starts_with("extension-definition--")).cloned());
        if m.contains_key(&markings::extension_id()) {
            out.push(ids::tisa());
        }
    }
    out
}

fn entry(report: &Report, date_added: Timestamp, report_id: &str) -> Entry {
    Entry {
        date_added,
        id: report.common.id.clone(),
        ty: "report".into(),
        version: report.common.modified.clone(),
        object: to_value(report),
        report_id: Some(report_id.to_owned()),
    }
}

/// The STIX version of one inbox entry, and the ids of the objects it refers to.
fn version(holder: Party, e: &InboxEntry, created: Timestamp) -> (Report, Vec<String>) {
    let h = &e.delivery.header;
    let ext_id = markings::extension_id();
    let tlp = Tlp::for_classification(h.classification);
    let acs = markings::acs(holder, h.originator, h.classification, h.releasable_to);
    let tearline_marking = markings::tearline_marking().id;
    let tearline_selector = format!("extensions.{ext_id}.tearline");
    let (name, description, tearline, source, released, selectors) = match &e.delivery.released {
        Released::Full(c) => {
            let tearline = c.tearline.as_ref().map(|t| t.expose().to_owned());
            let source = Some(c.source.expose().to_owned()).filter(|s| !s.is_empty());
            let selectors = if tearline.is_some() { vec![tearline_selector] } else { Vec::new() };
            (c.title.expose().to_owned(), c.body.expose().to_owned(), tearline, source, "full", selectors)
        }
        Released::Tearline(t) => (
            format!("Tearline of {} r{} (title not released)", h.id, h.revision),
            t.expose().to_owned(),
            Some(t.expose().to_owned()),
            None,
            "tearline",
            vec!["description".to_owned(), tearline_selector],
        ),
    };
    let ext = TisaExt {
        extension_type: "property-extension".into(),
        report_id: h.id.to_string(),
        revision: h.revision,
        originator: h.originator.trigraph().into(),
        category: h.category.as_str().into(),
        classification: h.classification.as_str().into(),
        releasable_to: h.releasable_to.iter().map(|p| p.trigraph().to_owned()).collect(),
        released: released.into(),
        tearline,
        source,
        retraction_reason: None,
    };
    let originator = ids::party(h.originator);
    let granular_markings = if selectors.is_empty() {
        Vec::new()
    } else {
        vec![GranularMarking { marking_ref: tearline_marking.clone(), selectors }]
    };
    let report = Report {
        ty: "report".into(),
        common: Common {
            spec_version: SPEC_VERSION.into(),
            id: ids::report(h.id.as_str()),
            created: time::format(created),
            modified: time::format(h.created_at.max(created)),
            created_by_ref: Some(originator.clone()),
            revoked: false,
            labels: vec![h.category.as_str().to_lowercase().replace('_', "-")],
            object_marking_refs: vec![tlp.id().to_owned(), acs.id.clone()],
            granular_markings,
            extensions: BTreeMap::from([(ext_id.clone(), to_value(&ext))]),
        },
        name,
        description: Some(description),
        report_types: vec!["threat-report".into()],
        published: time::format(h.created_at),
        object_refs: vec![originator.clone()],
    };
    let mut refs = vec![originator, tlp.id().to_owned(), acs.id, ext_id, ids::tisa()];
    if !report.common.granular_markings.is_empty() {
        refs.push(tearline_marking);
    }
    (report, refs)
}

/// Adds the identities and markings `refs` names (once each, with the
/// earliest date added).
fn add_deps(deps: &mut BTreeMap<String, Entry>, holder: Party, e: &InboxEntry, refs: &[String], at: Timestamp) {
    let h = &e.delivery.header;
    let acs = markings::acs(holder, h.originator, h.classification, h.releasable_to);
    let tlp = Tlp::for_classification(h.classification);
    let candidates: Vec<(String, &str, String, Value)> = vec![
        (
            ids::party(h.originator),
            "identity",
            markings::TISA_CREATED.into(),
            to_value(&markings::party_identity(h.originator)),
        ),
        (ids::tisa(), "identity", markings::TISA_CREATED.into(), to_value(&markings::tisa_identity())),
        (tlp.id().into(), "marking-definition", crate::tlp::TLP2_CREATED.into(), to_value(&tlp.marking())),
        (acs.id.clone(), "marking-definition", acs.created.clone(), to_value(&acs)),
        (
            markings::extension_id(),
            "extension-definition",
            markings::TISA_CREATED.into(),
            to_value(&markings::extension_definition()),
        ),
        (
            markings::tearline_marking().id,
            "marking-definition",
            markings::TISA_CREATED.into(),
            to_value(&markings::tearline_marking()),
        ),
    ];
    for (id, ty, version, object) in candidates {
        if !refs.contains(&id) {
            continue;
        }
        let d = deps.entry(id.clone()).or_insert_with(|| Entry {
            date_added: at,
            id,
            ty: ty.into(),
            version,
            object,
            report_id: None,
        });
        d.date_added = d.date_added.min(at);
    }
}
