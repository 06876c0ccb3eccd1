//! The core's check of operators' signed actions (#14): every refusal has
//! its control, the same attempt accepted where only that one thing differs.

use tisa_core::sign::{sha256, ActionDoc, AuthError, KeyError, Nonce, Replays};
use tisa_core::*;

const T0: u64 = 1_419_811_200_000;

struct Setup {
    node: Node,
    analyst: Identity,
    approver: Identity,
    jp_approver: Identity,
}

fn setup() -> Setup {
    let node_key = Identity::from_seed("kr-node", [1; 32]);
    let analyst = Identity::from_seed("kr-analyst", [2; 32]);
    let approver = Identity::from_seed("kr-approver", [3; 32]);
    let jp_approver = Identity::from_seed("jp-approver", [4; 32]);
    let e = |party, name: &str, role, id: &Identity| KeyEntry { party, name: name.into(), role, public: id.public() };
    let policy = Policy {
        keys: vec![
            e(Party::Kr, "kr-node", KeyRole::Node, &node_key),
            e(Party::Kr, "kr-analyst", KeyRole::Submitter, &analyst),
            e(Party::Kr, "kr-analyst", KeyRole::Reader, &analyst),
            e(Party::Kr, "kr-approver", KeyRole::Approver, &approver),
            e(Party::Jp, "jp-approver", KeyRole::Approver, &jp_approver),
        ],
        ..Policy::default()
    };
    Setup { node: Node::new(Party::Kr, policy, 1, node_key).unwrap(), analyst, approver, jp_approver }
}

fn auth(id: &Identity, verb: Verb, payload: &[u8], at: u64, nonce: u8) -> Authorization {
    let doc = ActionDoc::new(Party::Kr, verb, sha256(payload), Timestamp(at), Nonce([nonce; 16]), id.key_id());
    Authorization { action: id.sign_by_id(doc.to_bytes()), payload_sha256: sha256(payload) }
}

fn unauthorized(r: Result<Authorized, CommandError>) -> AuthError {
    match r {
        Err(CommandError::Unauthorized(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_command_needs_a_fresh_action_signed_by_a_registered_key_of_this_party_with_the_role() {
    let mut s = setup();
    let now = Timestamp(T0);
    // Control: the analyst submits.
    let who = s.node.authorize(now, Verb::Submit, Some(&auth(&s.analyst, Verb::Submit, b"a", T0, 1))).unwrap();
    assert_eq!((who.key_id, who.name.as_str()), (s.analyst.key_id(), "kr-analyst"));
    // Unsigned.
    let why = unauthorized(s.node.authorize(now, Verb::Retract, None));
    assert!(matches!(why, AuthError::Unsigned(Verb::Retract, _)), "{why}");
    assert!(why.to_string().contains("submitter|approver"), "names the roles: {why}");
    // A made-up key named after the real analyst.
    let fake = Identity::from_seed("kr-analyst", [9; 32]);
    let why = unauthorized(s.node.authorize(now, Verb::Submit, Some(&auth(&fake, Verb::Submit, b"a", T0, 2))));
    assert!(matches!(why, AuthError::Key(KeyError::Unknown { .. })), "{why}");
    // Another party's approver deciding at KR (control: KR's approver).
    let why = unauthorized(s.node.authorize(now, Verb::Decide, Some(&auth(&s.jp_approver, Verb::Decide, b"d", T0, 3))));
    assert!(matches!(why, AuthError::Key(KeyError::OtherParty { .. })), "{why}");
    assert!(s.node.authorize(now, Verb::Decide, Some(&auth(&s.approver, Verb::Decide, b"d", T0, 3))).is_ok());
    // The approver submitting: no submitter role (control: the analyst above).
    let why = unauthorized(s.node.authorize(now, Verb::Submit, Some(&auth(&s.approver, Verb::Submit, b"a", T0, 4))));
    assert!(matches!(why, AuthError::Key(KeyError::Role { .. })), "{why}");
    // Stale (control: within the skew).
    let old = T0 - 121_000;
    let why = unauthorized(s.node.authorize(now, Verb::Submit, Some(&auth(&s.analyst, Verb::Submit, b"a", old, 5))));
    assert!(matches!(why, AuthError::Stale { .. }), "{why}");
    assert!(s.node.authorize(now, Verb::Submit, Some(&auth(&s.analyst, Verb::Submit, b"a", T0 - 119_000, 5))).is_ok());
    // Every refusal is an event naming the key (for the audit log).
    let refused: Vec<Option<KeyId>> = std::iter::from_fn(|| s.node.poll_event())
        .filter_map(|e| match e {
            Event::Unauthorized { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            None,
            Some(fake.key_id()),
            Some(s.jp_approver.key_id()),
            Some(s.approver.key_id()),
            Some(s.analyst.key_id())
        ]
    );
}

#[test]
fn a_replayed_action_is_refused_and_a_fresh_one_accepted() {
    let mut s = setup();
    let now = Timestamp(T0);
    let a = auth(&s.analyst, Verb::Submit, b"a", T0, 7);
    assert!(s.node.authorize(now, Verb::Submit, Some(&a)).is_ok(), "first use");
    let why = unauthorized(s.node.authorize(Timestamp(T0 + 1), Verb::Submit, Some(&a)));
    assert!(matches!(why, AuthError::Replayed { .. }), "{why}");
    assert!(s.node.authorize(now, Verb::Submit, Some(&auth(&s.analyst, Verb::Submit, b"a", T0, 8))).is_ok(), "fresh");
    // Reads: checked against the shell's own replay cache, never logged.
    let mut reads = Replays::default();
    let r = auth(&s.analyst, Verb::Read, b"q", T0, 9);
    assert!(s.node.authorize_read(now, Verb::Read, Some(&r), &mut reads).is_ok());
    assert!(s.node.authorize_read(now, Verb::Read, Some(&r), &mut reads).is_err(), "a replayed read");
    let r2 = auth(&s.jp_approver, Verb::Read, b"q", T0, 10);
    assert!(s.node.authorize_read(now, Verb::Read, Some(&r2), &mut reads).is_err(), "another party's reader");
}
