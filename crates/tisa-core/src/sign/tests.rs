//! Round trips and canonical form of the signed documents.

use super::*;
use crate::ids::{ReportId, RequestId};
use crate::policy::{KeyEntry, KeyRole, Policy};
use crate::report::{Content, ReportHeader};
use crate::types::{Category, Classification, Party, Sensitive, Timestamp};

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
    let c =
        Content { title: Sensitive::new("t"), body: Sensitive::new("b"), tearline: None, source: Sensitive::new("") };
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
    policy.keys.push(KeyEntry { party: Party::Kr, name: "kim".into(), role: KeyRole::Approver, public: id.public() });
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
