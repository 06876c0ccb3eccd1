//! Export (inbox → STIX) and import (STIX → drafts), in process: versions,
//! tearline-only releases, markings, and the import's refusals, each with
//! its control (the same object without the offending part is accepted).

use serde_json::{json, Value};
use tisa_core::{
    Basis, Category, Classification, Content, Delivery, InboxEntry, Party, PartySet, Released, ReportHeader, ReportId,
    RetractionNote, Sensitive, Signed, Timestamp,
};
use tisa_stix::import::{self, Flags, Refusal};
use tisa_stix::markings::{self, ACS_EXTENSION};
use tisa_stix::tlp::Tlp;
use tisa_stix::{export, ids};

fn header(id: &str, rev: u32, at: u64, class: Classification) -> ReportHeader {
    ReportHeader {
        id: ReportId::new(id).unwrap(),
        revision: rev,
        originator: Party::Kr,
        created_at: Timestamp(at),
        category: Category::NkMissile,
        classification: class,
        releasable_to: "USA,JPN".parse().unwrap(),
    }
}

fn entry(h: ReportHeader, released: Released, received: u64) -> InboxEntry {
    InboxEntry {
        delivery: Delivery {
            header: h,
            released,
            basis: Basis::Trilateral,
            request_id: None,
            manifest: Signed::unsigned(Vec::new(), String::new()),
            consent: None,
        },
        received_at: Timestamp(received),
        retracted: None,
        body: None,
        offline: false,
    }
}

fn full(title: &str, body: &str, tearline: Option<&str>) -> Released {
    Released::Full(Content {
        title: Sensitive::new(title),
        body: Sensitive::new(body),
        tearline: tearline.map(Sensitive::new),
        source: Sensitive::new("SRC_SECRET"),
    })
}

fn objects(entries: &[export::Entry]) -> Vec<Value> {
    entries.iter().map(|e| e.object.clone()).collect()
}

const T0: u64 = 1_764_000_000_000;

#[test]
fn revisions_are_versions_and_a_retraction_revokes() {
    let mut r2 = entry(header("KR-1", 2, T0 + 10_000, Classification::Secret), full("t2", "b2", None), T0 + 11_000);
    let r1 = entry(header("KR-1", 1, T0, Classification::Secret), full("t1", "b1", Some("tl1")), T0 + 1_000);
    r2.retracted = Some(RetractionNote { retracted_at: Timestamp(T0 + 20_000), reason: Sensitive::new("wrong") });
    let all = export::entries(Party::Jp, &[r2, r1]);
    let reports: Vec<&export::Entry> = all.iter().filter(|e| e.ty == "report").collect();
    assert_eq!(reports.len(), 3, "two revisions and the revoked version");
    let id = ids::report("KR-1");
    assert!(reports.iter().all(|e| e.id == id));
    let created: Vec<&str> = reports.iter().map(|e| e.object["created"].as_str().unwrap()).collect();
    assert!(created.iter().all(|c| *c == created[0]), "one created for every version");
    let modified: Vec<&str> = reports.iter().map(|e| e.version.as_str()).collect();
    assert!(modified[0] < modified[1] && modified[1] < modified[2], "{modified:?}");
    assert_eq!(reports[2].object["revoked"], json!(true));
    assert_eq!(reports[0].object["name"], "t1");
    assert_eq!(reports[0].object["created_by_ref"], ids::party(Party::Kr));
    let marks = reports[0].object["object_marking_refs"].as_array().unwrap();
    assert!(marks.contains(&json!(Tlp::AmberStrict.id())), "{marks:?}");
    // The full release's tearline carries the tearline marking (granular).
    assert_eq!(reports[0].object["granular_markings"][0]["marking_ref"], markings::tearline_marking().id);
    // Every referenced identity and marking is in the collection, once.
    let ids_present: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    for r in &reports {
        for m in r.object["object_marking_refs"].as_array().unwrap() {
            assert_eq!(ids_present.iter().filter(|i| **i == m.as_str().unwrap()).count(), 1, "{m}");
        }
    }
    // The ACS marking: classification, releasable-to, originator, custodian.
    let acs = all.iter().find(|e| e.object["extensions"].get(ACS_EXTENSION).is_some()).unwrap();
    let ext = &acs.object["extensions"][ACS_EXTENSION];
    assert_eq!(ext["control_set"]["classification"], "S");
    assert_eq!(ext["control_set"]["permitted_nationalities"], json!(["USA", "JPN"]));
    assert_eq!(ext["responsible_entity_originator"], "KOR.GOV");
    assert_eq!(ext["responsible_entity_custodian"], "JPN.GOV");
    // Sorted by date added.
    assert!(all.windows(2).all(|w| w[0].date_added <= w[1].date_added));
}

#[test]
fn a_tearline_only_release_exports_the_tearline_alone() {
    let e = entry(header("KR-2", 1, T0, Classification::Secret), Released::Tearline(Sensitive::new("TL_ONLY")), T0 + 5);
    let all = export::entries(Party::Jp, &[e]);
    let text = serde_json::to_string(&objects(&all)).unwrap();
    assert!(text.contains("TL_ONLY"));
    let report = all.iter().find(|e| e.ty == "report").unwrap();
    assert_eq!(report.object["description"], "TL_ONLY");
    assert!(report.object["name"].as_str().unwrap().contains("title not released"));
    assert_eq!(report.object["extensions"][markings::extension_id()]["released"], "tearline");
    assert!(report.object["extensions"][markings::extension_id()].get("source").is_none());
    let sel = report.object["granular_markings"][0]["selectors"].as_array().unwrap();
    assert!(sel.contains(&json!("description")));
    // Control: a full release of the same report carries its title, body and source.
    let e = entry(header("KR-2", 1, T0, Classification::Secret), full("T_FULL", "B_FULL", None), T0 + 5);
    let text = serde_json::to_string(&objects(&export::entries(Party::Jp, &[e]))).unwrap();
    assert!(text.contains("T_FULL") && text.contains("B_FULL") && text.contains("SRC_SECRET"));
}

fn national_report(extra: Value) -> Value {
    let mut o = json!({
        "type": "report", "spec_version": "2.1", "id": "report--2d5c1f3c-7e0a-4c55-9a7b-0c4e4c3b9a11",
        "created": "2026-11-30T01:00:00.000Z", "modified": "2026-11-30T01:00:00.000Z",
        "name": "Launch from Sohae", "description": "Two objects tracked.", "published": "2026-11-30T01:00:00.000Z",
        "object_refs": ["identity--8c9a7c47-1c34-4b5e-9b2e-8d1f0e6f6d01"], "labels": ["nk-missile"],
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn acs_marking(class: &str, nationalities: &[&str], originator: Option<&str>) -> Value {
    let mut ext = json!({
        "extension_type": "property-extension", "identifier": "isa:test.1", "create_date_time": "2026-01-01T00:00:00Z",
        "responsible_entity_custodian": "KOR.NIS", "policy_reference": markings::ACS_POLICY,
        "control_set": {"classification": class, "permitted_nationalities": nationalities},
    });
    if let Some(o) = originator {
        ext["responsible_entity_originator"] = json!(o);
    }
    json!({"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--6f0c7a39-7f32-4c39-8e1f-3b2b1f7c9d10",
           "created": "2026-01-01T00:00:00.000Z", "extensions": {ACS_EXTENSION: ext}})
}

fn run(objects: Vec<Value>, party: Party, flags: Flags) -> Vec<Result<import::Imported, Refusal>> {
    let bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects});
    import::import(&bundle.to_string(), party, flags).unwrap()
}

const ACS_ID: &str = "marking-definition--6f0c7a39-7f32-4c39-8e1f-3b2b1f7c9d10";

#[test]
fn markings_decide_and_there_is_no_default_classification() {
    let r = national_report(json!({"object_marking_refs": [ACS_ID]}));
    let out = run(vec![r, acs_marking("S", &["USA", "JPN", "KOR"], Some("KOR.NIS"))], Party::Kr, Flags::default());
    let i = out[0].as_ref().unwrap();
    assert_eq!((i.classification, i.category), (Classification::Secret, Category::NkMissile));
    assert_eq!(i.rel_to, "USA,JPN".parse::<PartySet>().unwrap(), "never the importing party itself");
    assert_eq!(i.key, "stix:report--2d5c1f3c-7e0a-4c55-9a7b-0c4e4c3b9a11");
    assert!(i.source.contains("2026-11-30T01:00:00.000Z"), "the version is part of the content");
    // Without a marking: refused (no default)…
    let out = run(vec![national_report(json!({}))], Party::Kr, Flags::default());
    assert!(matches!(&out[0], Err(Refusal::Missing { what: "classification", .. })), "{out:?}");
    // … control: the flags fill in.
    let flags = Flags {
        classification: Some(Classification::Confidential),
        rel_to: Some("USA".parse().unwrap()),
        ..Flags::default()
    };
    let out = run(vec![national_report(json!({}))], Party::Kr, flags);
    assert_eq!(out[0].as_ref().unwrap().classification, Classification::Confidential);
    // A flag never overrides a marking.
    let r = national_report(json!({"object_marking_refs": [ACS_ID]}));
    let out = run(vec![r, acs_marking("TS", &["USA"], None)], Party::Kr, flags);
    assert_eq!(out[0].as_ref().unwrap().classification, Classification::TopSecret);
}

#[test]
fn another_partys_originator_is_refused() {
    let r = || national_report(json!({"object_marking_refs": [ACS_ID]}));
    let out = run(vec![r(), acs_marking("S", &["USA", "KOR"], Some("JPN.MOD"))], Party::Kr, Flags::default());
    assert!(matches!(&out[0], Err(Refusal::OriginatorOtherParty { party: Party::Jp, .. })), "{out:?}");
    // Control: the same with KR's own originator.
    let out = run(vec![r(), acs_marking("S", &["USA", "JPN"], Some("KOR.MND"))], Party::Kr, Flags::default());
    assert!(out[0].is_ok(), "{out:?}");
}

#[test]
fn created_by_another_partys_identity_is_refused() {
    let flags = Flags {
        classification: Some(Classification::Secret),
        rel_to: Some("USA".parse().unwrap()),
        ..Flags::default()
    };
    let r = national_report(json!({"created_by_ref": ids::party(Party::Jp)}));
    let out = run(vec![r], Party::Kr, flags);
    assert!(matches!(&out[0], Err(Refusal::CreatedByOtherParty { party: Party::Jp, .. })), "{out:?}");
    // Control: created by KR's own identity.
    let out = run(vec![national_report(json!({"created_by_ref": ids::party(Party::Kr)}))], Party::Kr, flags);
    assert!(out[0].is_ok(), "{out:?}");
}

#[test]
fn what_came_from_tisa_goes_back_only_to_its_originator() {
    // JP holds a KR report and exports it.
    let e = entry(header("KR-9", 1, T0, Classification::Secret), full("T9", "B9", Some("TL9")), T0 + 5);
    let exported = objects(&export::entries(Party::Jp, &[e]));
    // JP importing it (laundering a report it received): refused.
    let out = run(exported.clone(), Party::Jp, Flags::default());
    assert!(matches!(&out[0], Err(Refusal::FromTisa { .. })), "{out:?}");
    // Even with the created_by_ref and ACS originator stripped, the extension says where it came from.
    let mut stripped = exported.clone();
    for o in &mut stripped {
        if o["type"] == "report" {
            o.as_object_mut().unwrap().remove("created_by_ref");
            o["object_marking_refs"] = json!([Tlp::AmberStrict.id()]);
        }
    }
    let flags = Flags {
        classification: Some(Classification::Secret),
        rel_to: Some("USA".parse().unwrap()),
        ..Flags::default()
    };
    let out = run(stripped, Party::Jp, flags);
    assert!(matches!(&out[0], Err(Refusal::FromTisa { .. })), "{out:?}");
    // Control: KR, the originator, may bring it home (same content and markings).
    let out = run(exported, Party::Kr, Flags::default());
    let i = out[0].as_ref().unwrap();
    assert_eq!((i.title.as_str(), i.body.as_str(), i.tearline.as_deref()), ("T9", "B9", Some("TL9")));
    assert_eq!((i.category, i.classification), (Category::NkMissile, Classification::Secret));
    assert_eq!(i.rel_to, "USA,JPN".parse::<PartySet>().unwrap());
    assert_eq!(i.source, "SRC_SECRET");
}

#[test]
fn indicators_and_versions() {
    let ind = |modified: &str, pattern: &str| {
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--0c3b5c0e-4b7e-4c36-9f2a-1e0f4a2b6c01",
               "created": "2026-11-30T01:00:00.000Z", "modified": modified, "name": "C2 server",
               "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-11-30T01:00:00Z", "labels": ["nk-nuclear"]})
    };
    let flags = Flags {
        classification: Some(Classification::Secret),
        rel_to: Some("USA".parse().unwrap()),
        ..Flags::default()
    };
    let out = run(
        vec![
            ind("2026-12-01T00:00:00.000Z", "[ipv4-addr:value = '10.0.0.2']"),
            ind("2026-11-30T01:00:00.000Z", "[ipv4-addr:value = '10.0.0.1']"),
        ],
        Party::Kr,
        flags,
    );
    assert_eq!(out.len(), 2);
    let (a, b) = (out[0].as_ref().unwrap(), out[1].as_ref().unwrap());
    assert_eq!(a.key, b.key, "one report, two revisions");
    assert!(a.body.contains("10.0.0.1") && b.body.contains("10.0.0.2"), "oldest version first");
    assert_eq!(a.category, Category::NkNuclear);
    assert_ne!(a.source, b.source);
    let mut revoked = national_report(json!({"revoked": true}));
    revoked["labels"] = json!(["nk-missile"]);
    assert!(matches!(&run(vec![revoked], Party::Kr, flags)[0], Err(Refusal::Revoked { .. })));
}
