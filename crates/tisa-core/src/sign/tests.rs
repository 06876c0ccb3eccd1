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
    let m = Manifest::of(&header(), &c, "kim", Some(crate::policy::KeyId::of(&[9; 32])));
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

// ---- operator documents signed by key id (#14) ----

use crate::policy::{KeyId, Verb};
use std::time::Duration;

const NOW: Timestamp = Timestamp(1_000_000_000);

fn entry(party: Party, name: &str, role: KeyRole, id: &Identity) -> KeyEntry {
    KeyEntry { party, name: name.into(), role, public: id.public() }
}

/// KR: kim (submitter+reader), lee (approver), feed; JP: sato (approver).
fn ops() -> (Policy, Identity, Identity, Identity, Identity) {
    let kim = Identity::from_seed("kim", [11; 32]);
    let lee = Identity::from_seed("lee", [12; 32]);
    let feed = Identity::from_seed("kr-feed", [13; 32]);
    let sato = Identity::from_seed("sato", [14; 32]);
    let mut p = Policy::default();
    p.keys.push(entry(Party::Kr, "kim", KeyRole::Submitter, &kim));
    p.keys.push(entry(Party::Kr, "kim", KeyRole::Reader, &kim));
    p.keys.push(entry(Party::Kr, "lee", KeyRole::Approver, &lee));
    p.keys.push(entry(Party::Kr, "kr-feed", KeyRole::Feed, &feed));
    p.keys.push(entry(Party::Jp, "sato", KeyRole::Approver, &sato));
    (p, kim, lee, feed, sato)
}

fn action(id: &Identity, party: Party, verb: Verb, payload: &[u8], at: Timestamp, nonce: u8) -> Signed {
    id.sign_by_id(ActionDoc::new(party, verb, sha256(payload), at, Nonce([nonce; 16]), id.key_id()).to_bytes())
}

#[test]
fn key_ids_roles_and_verbs_parse_back() {
    let id = Identity::from_seed("kim", [1; 32]);
    let k = id.key_id();
    assert_eq!(k.to_string().len(), 16);
    assert_eq!(k.to_string().parse::<KeyId>().unwrap(), k);
    assert_eq!(k, KeyId::of(&id.public()));
    assert!(k.to_string().to_uppercase().parse::<KeyId>().is_err(), "upper case is not canonical");
    assert!("0123".parse::<KeyId>().is_err());
    for r in KeyRole::ALL {
        assert_eq!(r.as_str().parse::<KeyRole>().unwrap(), r);
    }
    for v in Verb::ALL {
        assert_eq!(v.as_str().parse::<Verb>().unwrap(), v);
        assert!(!v.roles().is_empty());
    }
    assert!("boss".parse::<KeyRole>().is_err());
    // The one table: an approver decides but neither submits nor tracks nor audits.
    assert!(Verb::Decide.roles().contains(&KeyRole::Approver));
    assert!(!Verb::Submit.roles().contains(&KeyRole::Approver));
    assert!(!Verb::Track.roles().contains(&KeyRole::Approver));
    assert!(!Verb::Audit.roles().contains(&KeyRole::Approver));
    assert!(!Verb::Decide.roles().contains(&KeyRole::Submitter));
    assert!(Verb::Retract.roles().contains(&KeyRole::Submitter) && Verb::Retract.roles().contains(&KeyRole::Approver));
    assert!(!Verb::Retract.roles().contains(&KeyRole::Reader));
}

#[test]
fn action_round_trips_and_is_canonical() {
    let d = ActionDoc::new(Party::Kr, Verb::Retract, sha256(b"payload"), NOW, Nonce([7; 16]), KeyId::of(&[1; 32]));
    let b = d.to_bytes();
    assert_eq!(ActionDoc::parse(&b).unwrap(), d);
    let text = String::from_utf8(b).unwrap();
    assert!(text.starts_with("tisa.v1.action\nparty=KR\nverb=retract\npayload_sha256="), "{text}");
    assert!(ActionDoc::parse(text.replace("verb=retract", "verb=RETRACT").as_bytes()).is_err());
    assert!(ActionDoc::parse(text.replace(&"07".repeat(16), &"07".repeat(15)).as_bytes()).is_err(), "short nonce");
}

#[test]
fn an_action_is_accepted_only_from_a_registered_key_of_this_party_with_the_role() {
    let (p, kim, lee, feed, sato) = ops();
    let body = b"submit request bytes";
    // Controls: the submitter and the feed may submit; the approver may decide.
    let ok = verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&kim, Party::Kr, Verb::Submit, body, NOW, 1),
    );
    assert_eq!(ok.unwrap().0.key_id, kim.key_id());
    assert!(verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&feed, Party::Kr, Verb::Submit, body, NOW, 1)
    )
    .is_ok());
    assert!(verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Decide,
        &sha256(body),
        &action(&lee, Party::Kr, Verb::Decide, body, NOW, 1)
    )
    .is_ok());

    // A made-up key file named after a real operator: unknown key.
    let fake_kim = Identity::from_seed("kim", [99; 32]);
    let e = verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&fake_kim, Party::Kr, Verb::Submit, body, NOW, 1),
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::Key(KeyError::Unknown { .. })), "{e}");
    assert!(e.to_string().contains(&fake_kim.key_id().to_string()), "names the key id: {e}");

    // Another party's approver at KR's node.
    let e = verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Decide,
        &sha256(body),
        &action(&sato, Party::Kr, Verb::Decide, body, NOW, 1),
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::Key(KeyError::OtherParty { owner, .. }) if owner.contains(Party::Jp)), "{e}");

    // The wrong role: an approver submitting, a submitter deciding, a reader retracting.
    let e = verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&lee, Party::Kr, Verb::Submit, body, NOW, 1),
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::Key(KeyError::Role { .. })), "{e}");
    assert!(e.to_string().contains("submitter|feed"), "{e}");
    assert!(verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Decide,
        &sha256(body),
        &action(&kim, Party::Kr, Verb::Decide, body, NOW, 1)
    )
    .is_err());
    assert!(verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Track,
        &sha256(body),
        &action(&lee, Party::Kr, Verb::Track, body, NOW, 1)
    )
    .is_err());

    // A signature by another key over the same document.
    let mut forged = action(&kim, Party::Kr, Verb::Submit, body, NOW, 1);
    forged.signature = fake_kim.sign(forged.bytes.clone()).signature;
    let e = verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &forged).unwrap_err();
    assert!(matches!(e, AuthError::Key(KeyError::BadSignature(_))), "{e}");

    // The signer field naming another key than the document.
    let mut swapped = action(&kim, Party::Kr, Verb::Submit, body, NOW, 1);
    swapped.signer = feed.key_id().to_string();
    assert!(matches!(
        verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &swapped),
        Err(AuthError::KeyMismatch { .. })
    ));
}

#[test]
fn an_action_covers_one_party_one_verb_one_payload_and_is_fresh() {
    let (p, kim, _, _, _) = ops();
    let body = b"request";
    let good = action(&kim, Party::Kr, Verb::Submit, body, NOW, 1);
    assert!(verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &good).is_ok(), "control");
    assert!(matches!(
        verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(b"other request"), &good),
        Err(AuthError::PayloadMismatch(_))
    ));
    assert!(matches!(
        verify_action(&p, Party::Kr, NOW, Verb::Retract, &sha256(body), &good),
        Err(AuthError::WrongVerb { .. })
    ));
    let for_jp = action(&kim, Party::Jp, Verb::Submit, body, NOW, 1);
    assert!(matches!(
        verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &for_jp),
        Err(AuthError::WrongParty { .. })
    ));
    // Freshness: at the skew's edge accepted, beyond it refused, either way.
    let skew = p.clock_skew;
    let edge = Timestamp(NOW.0 - skew.as_millis() as u64);
    assert!(verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&kim, Party::Kr, Verb::Submit, body, edge, 1)
    )
    .is_ok());
    let old = Timestamp(edge.0 - 1);
    let e = verify_action(
        &p,
        Party::Kr,
        NOW,
        Verb::Submit,
        &sha256(body),
        &action(&kim, Party::Kr, Verb::Submit, body, old, 1),
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::Stale { .. }), "{e}");
    let future = NOW.saturating_add(skew + Duration::from_millis(1));
    assert!(matches!(
        verify_action(
            &p,
            Party::Kr,
            NOW,
            Verb::Submit,
            &sha256(body),
            &action(&kim, Party::Kr, Verb::Submit, body, future, 1)
        ),
        Err(AuthError::Stale { .. })
    ));
    let mut malformed = good.clone();
    malformed.bytes.push(b'x');
    assert_eq!(verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &malformed), Err(AuthError::Malformed));
}

#[test]
fn a_nonce_is_accepted_once_and_forgotten_after_twice_the_skew() {
    let skew = Duration::from_secs(120);
    let d = |n: u8, at: Timestamp| {
        ActionDoc::new(Party::Kr, Verb::Submit, sha256(b""), at, Nonce([n; 16]), KeyId::of(&[1; 32]))
    };
    let mut r = Replays::default();
    assert!(r.check(&d(1, NOW), NOW, skew).is_ok(), "control: first use");
    assert!(matches!(r.check(&d(1, NOW), NOW, skew), Err(AuthError::Replayed { .. })), "replay");
    assert!(r.check(&d(2, NOW), NOW, skew).is_ok(), "another nonce");
    let other_key = ActionDoc { key_id: KeyId::of(&[2; 32]), ..d(1, NOW) };
    assert!(r.check(&other_key, NOW, skew).is_ok(), "same nonce, another key");
    assert_eq!(r.len(), 3);
    let later = NOW.saturating_add(3 * skew);
    assert!(r.check(&d(3, later), later, skew).is_ok());
    assert_eq!(r.len(), 1, "older entries pruned");
}

fn content() -> Content {
    Content {
        title: Sensitive::new("t"),
        body: Sensitive::new("b"),
        tearline: Some(Sensitive::new("tl")),
        source: Sensitive::new("s"),
    }
}

#[test]
fn submission_round_trips_and_matches_its_manifest() {
    let c = content();
    let h = header();
    let s = SubmissionDoc::of(
        Party::Kr,
        h.category,
        h.classification,
        "KOR,USA,JPN".parse().unwrap(),
        &c,
        None,
        NOW,
        Nonce([3; 16]),
        KeyId::of(&[1; 32]),
    );
    assert_eq!(s.releasable_to, h.releasable_to, "the originator is left out");
    assert_eq!(SubmissionDoc::parse(&s.to_bytes()).unwrap(), s);
    assert!(s.check_content(&c).is_ok());
    assert!(s.check_content(&Content { body: Sensitive::new("B"), ..c.clone() }).is_err());
    // The submission a manifest carries is rebuilt from the manifest itself:
    // it is the one signed only for the report the manifest describes.
    let m = Manifest::of(&h, &c, "kim", None).with_submission(&s, &Signed::unsigned(Vec::new(), String::new()));
    assert_eq!(m.submission_doc(), Some(s.clone()), "control");
    let other =
        Manifest::of(&ReportHeader { classification: Classification::Confidential, ..h.clone() }, &c, "kim", None)
            .with_submission(&s, &Signed::unsigned(Vec::new(), String::new()));
    assert_ne!(other.submission_doc(), Some(s.clone()));
    let corr = SubmissionDoc { corrects: Some(ReportId::new("KR-1").unwrap()), tearline_sha256: None, ..s };
    assert_eq!(SubmissionDoc::parse(&corr.to_bytes()).unwrap(), corr);
}

/// `n` submissions of KR's feed, one nonce each, for header `h`'s report.
fn submissions(feed: &Identity, h: &ReportHeader, n: u8) -> Vec<SubmissionDoc> {
    (0..n)
        .map(|i| {
            let rel = h.releasable_to;
            SubmissionDoc::of(
                Party::Kr,
                h.category,
                h.classification,
                rel,
                &content(),
                None,
                NOW,
                Nonce([i; 16]),
                feed.key_id(),
            )
        })
        .collect()
}

/// `docs` signed by `key` with one batch signature, each with its proof.
fn batch_signed(key: &Identity, docs: &[SubmissionDoc]) -> Vec<Signed> {
    key.sign_batch_by_id(docs.iter().map(SubmissionDoc::to_bytes).collect())
}

#[test]
fn a_batch_signed_submission_travels_in_the_manifest_and_verifies_on_its_own() {
    let (policy, kim, _, feed, _) = ops();
    let h = header();
    let docs = submissions(&feed, &h, 5);
    let signed = batch_signed(&feed, &docs);
    assert!(signed.iter().all(|s| s.batch.is_some() && s.signer == feed.key_id().to_string()));
    let manifest = |doc: &SubmissionDoc, s: &Signed| {
        let m = Manifest::of(&h, &content(), "kr-feed", None).with_submission(doc, s);
        Manifest::parse(&m.to_bytes()).unwrap()
    };
    for (doc, s) in docs.iter().zip(&signed) {
        // Control: each one, alone, through the manifest's canonical form.
        let m = manifest(doc, s);
        assert_eq!(m.verified_submitter(&policy), Ok(Some(feed.key_id())));
        // A changed sibling, another leaf index, no proof at all: refused.
        let mut changed = s.clone();
        changed.batch.as_mut().unwrap().path[0][5] ^= 1;
        assert!(manifest(doc, &changed).verified_submitter(&policy).is_err());
        let mut moved = s.clone();
        let p = moved.batch.as_mut().unwrap();
        p.index = (p.index + 1) % p.size;
        assert!(manifest(doc, &moved).verified_submitter(&policy).is_err());
        let direct = Signed { batch: None, ..s.clone() };
        assert!(manifest(doc, &direct).verified_submitter(&policy).is_err());
    }
    // One batch's proof does not carry another submission (a sixth, signed
    // directly, given the proof and root signature of the first).
    let sixth = &submissions(&feed, &h, 6)[5];
    assert!(manifest(sixth, &signed[0]).verified_submitter(&policy).is_err());
    // A batch by a key of another party's roster, or with no submit role, is refused.
    let strangers = Identity::from_seed("x", [99; 32]);
    let theirs = batch_signed(&strangers, &submissions(&strangers, &h, 2));
    assert!(manifest(&submissions(&strangers, &h, 1)[0], &theirs[0]).verified_submitter(&policy).is_err());
    let kim_docs = submissions(&kim, &h, 2);
    let kim_batch = batch_signed(&kim, &kim_docs);
    assert_eq!(manifest(&kim_docs[1], &kim_batch[1]).verified_submitter(&policy), Ok(Some(kim.key_id())), "control");
    // A directly signed submission reads as before: four fields, no proof.
    let direct = manifest(&docs[0], &feed.sign_by_id(docs[0].to_bytes()));
    assert_eq!(direct.verified_submitter(&policy), Ok(Some(feed.key_id())));
    let text = String::from_utf8(direct.to_bytes()).unwrap();
    let line = text.lines().find(|l| l.starts_with("submission=")).unwrap();
    assert_eq!(line.split(',').count(), 4, "{line}");
}

#[test]
fn a_malformed_submission_proof_is_refused_when_the_manifest_is_parsed() {
    let (_, _, _, feed, _) = ops();
    let h = header();
    let docs = submissions(&feed, &h, 3);
    let signed = batch_signed(&feed, &docs);
    let good = Manifest::of(&h, &content(), "kr-feed", None).with_submission(&docs[2], &signed[2]).to_bytes();
    assert!(Manifest::parse(&good).is_ok(), "control");
    let text = String::from_utf8(good).unwrap();
    let proof = text.lines().find(|l| l.starts_with("submission=")).unwrap().rsplit(',').next().unwrap().to_owned();
    assert!(proof.starts_with("2/3/"), "{proof}");
    let hash = "ab".repeat(32);
    let long = format!("0/3/{}", vec![hash.as_str(); 17].join("."));
    for bad in ["2/1/", "3/3/", "2/3/zz", "2/3", "x/3/", "2/3/ab", long.as_str()] {
        let t = text.replace(&proof, bad);
        assert!(Manifest::parse(t.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn cosign_covers_exactly_one_grant_document() {
    let d = CosignDoc::of("KR-G-1", Party::Kr, b"grant bytes", NOW, KeyId::of(&[1; 32]));
    assert_eq!(CosignDoc::parse(&d.to_bytes()).unwrap(), d);
    assert!(d.check_grant(b"grant bytes").is_ok());
    assert!(d.check_grant(b"other grant").is_err());
    let bad = String::from_utf8(d.to_bytes()).unwrap().replace("KR-G-1", "KR G 1");
    assert!(CosignDoc::parse(bad.as_bytes()).is_err());
}

fn roster_policy() -> (Policy, Identity, Identity) {
    let kr_roster = Identity::from_seed("kr-roster", [21; 32]);
    let jp_roster = Identity::from_seed("jp-roster", [22; 32]);
    let mut p = Policy::default();
    p.keys.push(entry(Party::Kr, "kr-roster", KeyRole::Roster, &kr_roster));
    p.keys.push(entry(Party::Jp, "jp-roster", KeyRole::Roster, &jp_roster));
    (p, kr_roster, jp_roster)
}

fn roster(party: Party, ops: &[(&str, &Identity, &[KeyRole])]) -> RosterDoc {
    RosterDoc {
        party,
        version: 1,
        issued_at: NOW,
        operators: ops
            .iter()
            .map(|(n, id, roles)| RosterOperator { name: (*n).into(), public: id.public(), roles: roles.to_vec() })
            .collect(),
    }
}

#[test]
fn a_roster_counts_only_signed_by_its_partys_roster_key() {
    let (p, kr_roster, jp_roster) = roster_policy();
    let kim = Identity::from_seed("kim", [11; 32]);
    let lee = Identity::from_seed("lee", [12; 32]);
    let doc = roster(
        Party::Kr,
        &[("kim", &kim, &[KeyRole::Submitter, KeyRole::Reader]), ("lee", &lee, &[KeyRole::Approver])],
    );
    assert_eq!(RosterDoc::parse(&doc.to_bytes()).unwrap(), doc);
    let signed = kr_roster.sign_by_id(doc.to_bytes());
    assert_eq!(RosterDoc::verify(&p, Party::Kr, &signed).unwrap(), doc, "control: KR's roster key");
    // JP's roster key cannot sign KR's roster; nor can an operator.
    assert!(matches!(
        RosterDoc::verify(&p, Party::Kr, &jp_roster.sign_by_id(doc.to_bytes())),
        Err(RosterError::Key(Party::Kr, KeyError::OtherParty { .. }))
    ));
    assert!(RosterDoc::verify(&p, Party::Kr, &kim.sign_by_id(doc.to_bytes())).is_err());
    // Loaded as JP's: refused (JP's roster key did not sign it).
    assert!(RosterDoc::verify(&p, Party::Jp, &signed).is_err());
    let jp_signed_kr = jp_roster.sign_by_id(doc.to_bytes());
    assert!(matches!(RosterDoc::verify(&p, Party::Jp, &jp_signed_kr), Err(RosterError::WrongParty { .. })));

    // Its operators join the policy's keys, one entry per role.
    let p2 = p.clone().with_rosters(&[(Party::Kr, signed.clone())]).unwrap();
    assert_eq!(p2.key_roles(Party::Kr, kim.key_id()).len(), 2);
    let body = b"x";
    let a = action(&kim, Party::Kr, Verb::Submit, body, NOW, 1);
    assert!(verify_action(&p2, Party::Kr, NOW, Verb::Submit, &sha256(body), &a).is_ok(), "control: rostered submitter");
    assert!(verify_action(&p, Party::Kr, NOW, Verb::Submit, &sha256(body), &a).is_err(), "not rostered: unknown");
}

#[test]
fn a_roster_lists_only_its_own_partys_operators() {
    let (p, kr_roster, jp_roster) = roster_policy();
    let kim = Identity::from_seed("kim", [11; 32]);
    let sato = Identity::from_seed("sato", [14; 32]);
    let kr = kr_roster.sign_by_id(roster(Party::Kr, &[("kim", &kim, &[KeyRole::Submitter])]).to_bytes());
    let jp = jp_roster.sign_by_id(roster(Party::Jp, &[("sato", &sato, &[KeyRole::Approver])]).to_bytes());
    assert!(p.clone().with_rosters(&[(Party::Kr, kr.clone()), (Party::Jp, jp)]).is_ok(), "control");
    // JP's roster listing KR's operator's key.
    let jp_steals = jp_roster.sign_by_id(roster(Party::Jp, &[("kim", &kim, &[KeyRole::Approver])]).to_bytes());
    assert!(matches!(
        p.clone().with_rosters(&[(Party::Kr, kr), (Party::Jp, jp_steals)]),
        Err(RosterError::OtherPartysKey { .. })
    ));
    // Listing the other party's roster key, a node role, a name twice.
    let rk = kr_roster.sign_by_id(roster(Party::Kr, &[("x", &jp_roster, &[KeyRole::Approver])]).to_bytes());
    assert!(matches!(RosterDoc::verify(&p, Party::Kr, &rk), Err(RosterError::OtherPartysKey { .. })));
    let node = kr_roster.sign_by_id(roster(Party::Kr, &[("kim", &kim, &[KeyRole::Node])]).to_bytes());
    assert!(matches!(RosterDoc::verify(&p, Party::Kr, &node), Err(RosterError::BadOperator { .. })));
    let twice = kr_roster.sign_by_id(
        roster(Party::Kr, &[("kim", &kim, &[KeyRole::Submitter]), ("kim", &sato, &[KeyRole::Reader])]).to_bytes(),
    );
    assert!(matches!(RosterDoc::verify(&p, Party::Kr, &twice), Err(RosterError::BadOperator { .. })));
}

#[test]
fn an_agreement_version_needs_a_vouched_signer_of_each_party() {
    let signers: Vec<(Party, Identity)> =
        Party::ALL.iter().enumerate().map(|(i, p)| (*p, Identity::from_seed("s", [40 + i as u8; 32]))).collect();
    let mut p = Policy::default();
    for (party, id) in &signers {
        p.keys.push(entry(*party, &format!("{}-signer", party.lower()), KeyRole::Signer, id));
    }
    let hash = [5; 32];
    let sign =
        |i: usize, version: u32, hash: [u8; 32]| AgreementDoc::sign(&signers[i].1, signers[i].0, version, hash, None);
    let all: Vec<Signed> = (0..3).map(|i| sign(i, 1, hash)).collect();
    assert_eq!(AgreementDoc::parse(&all[0].bytes).unwrap().party, Party::Kr);
    // Control: one signature per party, by keys the vouching version registers.
    assert_eq!(check_agreement_signed(&p, 1, hash, None, &all), Ok(()));
    // Two of three.
    let e = check_agreement_signed(&p, 1, hash, None, &all[..2]).unwrap_err();
    assert!(matches!(&e, AgreementSigError::Missing { missing, .. } if missing == "JPN"), "{e}");
    // KR's signature twice does not stand for JP's.
    let e = check_agreement_signed(&p, 1, hash, None, &[all[0].clone(), all[1].clone(), all[0].clone()]).unwrap_err();
    assert!(matches!(e, AgreementSigError::Missing { .. }), "{e}");
    // A key the vouching version does not register as JP's signer (a made-up one, or JP's node key).
    let stranger = Identity::from_seed("x", [99; 32]);
    let forged = AgreementDoc::sign(&stranger, Party::Jp, 1, hash, None);
    let e = check_agreement_signed(&p, 1, hash, None, &[all[0].clone(), all[1].clone(), forged]).unwrap_err();
    assert!(matches!(e, AgreementSigError::NotVouched { party: Party::Jp, .. }), "{e}");
    // A signature over another text (the file changed after signing), or with a swapped signature.
    let e = check_agreement_signed(&p, 1, [6; 32], None, &all).unwrap_err();
    assert!(matches!(e, AgreementSigError::OtherText { .. }), "{e}");
    let mut bad = all.clone();
    bad[2].signature = bad[1].signature;
    let e = check_agreement_signed(&p, 1, hash, None, &bad).unwrap_err();
    assert!(matches!(e, AgreementSigError::OtherText { party: Party::Jp, .. }), "{e}");
    // A signature for version 1 does not count for version 2.
    let e = check_agreement_signed(&p, 2, hash, None, &all).unwrap_err();
    assert!(matches!(e, AgreementSigError::OtherText { .. }), "{e}");
}

#[test]
fn hex_display_is_the_bytes_in_lower_case_hex_at_every_length() {
    struct H(Vec<u8>);
    impl std::fmt::Display for H {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            crate::text::fmt_hex(f, &self.0)
        }
    }
    for n in [0usize, 1, 8, 16, 31, 32, 33, 64, 70] {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(H(bytes).to_string(), want, "{n} bytes");
    }
    let id = crate::policy::KeyId::of(&[9; 32]);
    assert_eq!(id.to_string().parse::<crate::policy::KeyId>().unwrap(), id, "a key id reads back");
    assert_eq!(crate::sign::Nonce([0xab; 16]).to_string(), "ab".repeat(16));
}
