//! Every NATS subject tisa uses. `<kind>` is the payload kind of the envelope, and a
//! message whose payload does not match its subject is refused as malformed.
//! The broker permissions of a deployment are generated from this module
//! ([`permissions`], used by `tisa broker config`).
//!
//! | subject | publisher | subscriber | payload |
//! |---|---|---|---|
//! | `tisa.kr.up.report` | KR node | US node | `Envelope{report}` |
//! | `tisa.kr.up.decision` | KR node | US node | `Envelope{release_decision}` |
//! | `tisa.kr.up.grant` | KR node | US node | `Envelope{grant}` |
//! | `tisa.kr.up.revocation` | KR node | US node | `Envelope{revocation}` |
//! | `tisa.kr.up.track` | KR node | US node | `Envelope{track}` (live missile track) |
//! | `tisa.kr.up.receipt` | KR node | US node | `Envelope{receipt}` (KR's signed receipt for a delivery) |
//! | `tisa.kr.up.retraction` | KR node | US node | `Envelope{retraction}` (KR retracts its report) |
//! | `tisa.kr.up.standing` | KR node | US node | `Envelope{standing}` (KR's grant still stands, signed by its node) |
//! | `tisa.kr.up.rejection` | KR node | US node | `Envelope{rejection}` |
//! | `tisa.kr.up.batch` | KR node | US node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.kr.down.request` | US node | KR node | `Envelope{release_request}` |
//! | `tisa.kr.down.delivery` | US node | KR node | `Envelope{delivery}` |
//! | `tisa.kr.down.progress` | US node | KR node | `Envelope{progress}` |
//! | `tisa.kr.down.revocation` | US node | KR node | `Envelope{revocation}` (JP's grant withdrawn) |
//! | `tisa.kr.down.track` | US node | KR node | `Envelope{track}` (under JP's grant, or US's own) |
//! | `tisa.kr.down.receipt` | US node | KR node | `Envelope{receipt}` (JP's receipt for a KR report, passed on unchanged) |
//! | `tisa.kr.down.retraction` | US node | KR node | `Envelope{retraction}` (a retraction of a report KR holds: JP's or US's) |
//! | `tisa.kr.down.standing` | US node | KR node | `Envelope{standing}` (JP's grant still stands, passed on unchanged) |
//! | `tisa.kr.down.rejection` | US node | KR node | `Envelope{rejection}` |
//! | `tisa.kr.down.batch` | US node | KR node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.jp.up.report` | JP node | US node | `Envelope{report}` |
//! | `tisa.jp.up.decision` | JP node | US node | `Envelope{release_decision}` |
//! | `tisa.jp.up.grant` | JP node | US node | `Envelope{grant}` |
//! | `tisa.jp.up.revocation` | JP node | US node | `Envelope{revocation}` |
//! | `tisa.jp.up.track` | JP node | US node | `Envelope{track}` (live missile track) |
//! | `tisa.jp.up.receipt` | JP node | US node | `Envelope{receipt}` |
//! | `tisa.jp.up.retraction` | JP node | US node | `Envelope{retraction}` (JP retracts its report) |
//! | `tisa.jp.up.standing` | JP node | US node | `Envelope{standing}` (JP's grant still stands, signed by its node) |
//! | `tisa.jp.up.rejection` | JP node | US node | `Envelope{rejection}` |
//! | `tisa.jp.up.batch` | JP node | US node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.jp.down.request` | US node | JP node | `Envelope{release_request}` |
//! | `tisa.jp.down.delivery` | US node | JP node | `Envelope{delivery}` |
//! | `tisa.jp.down.progress` | US node | JP node | `Envelope{progress}` |
//! | `tisa.jp.down.revocation` | US node | JP node | `Envelope{revocation}` (KR's grant withdrawn) |
//! | `tisa.jp.down.track` | US node | JP node | `Envelope{track}` (under KR's grant, or US's own) |
//! | `tisa.jp.down.receipt` | US node | JP node | `Envelope{receipt}` (KR's receipt for a JP report) |
//! | `tisa.jp.down.retraction` | US node | JP node | `Envelope{retraction}` (a retraction of a report JP holds: KR's or US's) |
//! | `tisa.jp.down.standing` | US node | JP node | `Envelope{standing}` (KR's grant still stands, passed on unchanged) |
//! | `tisa.jp.down.rejection` | US node | JP node | `Envelope{rejection}` |
//! | `tisa.jp.down.batch` | US node | JP node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.ctl.<p>.submit` | party p's CLI | party p's node | `ControlRequest{submit}` → `ControlReply` |
//! | `tisa.ctl.<p>.pending` | party p's CLI | party p's node | `ControlRequest{pending}` → `ControlReply` |
//! | `tisa.ctl.<p>.decide` | party p's CLI | party p's node | `ControlRequest{decide}` → `ControlReply` |
//! | `tisa.ctl.<p>.inbox` | party p's CLI | party p's node | `ControlRequest{inbox}` → `ControlReply` |
//! | `tisa.ctl.<p>.status` | party p's CLI | party p's node | `ControlRequest{status}` → `ControlReply` |
//! | `tisa.ctl.<p>.health` | party p's CLI | party p's node | `ControlRequest{health}` → `ControlReply` |
//! | `tisa.ctl.<p>.draft` | party p's CLI | party p's node | `ControlRequest{draft}` → decision document to sign |
//! | `tisa.ctl.<p>.grant` | party p's CLI | party p's node | `ControlRequest{grant}` (signed) → `ControlReply` |
//! | `tisa.ctl.<p>.revoke` | party p's CLI | party p's node | `ControlRequest{revoke}` (signed) → `ControlReply` |
//! | `tisa.ctl.<p>.grants` | party p's CLI | party p's node | `ControlRequest{grants}` → `ControlReply` |
//! | `tisa.ctl.<p>.track` | party p's CLI | party p's node | `ControlRequest{track}` (logged like submit) → `ControlReply` |
//! | `tisa.ctl.<p>.tracks` | party p's CLI | party p's node | `ControlRequest{tracks}` → `ControlReply` |
//! | `tisa.ctl.<p>.retract` | party p's CLI | party p's node | `ControlRequest{retract}` (logged like submit) → `ControlReply{status}` |
//! | `tisa.ctl.<p>.deadletter` | party p's CLI | party p's node | `ControlRequest{dead_letters}` → `ControlReply` (newest first) |
//! | `tisa.<p>.deadletter` | party p's node | its own stream `TISA_<P>_DEADLETTER` (read back by the node only) | `DeadLetter` (reason and ids, never payload bytes) |
//! | `tisa.ctl.<p>.events` | party p's node | party p's CLI (`watch`) | `NodeEvent` |
//! | `tisa.ctl.<p>.probe.<id>` | party p's node or CLI | itself | readiness probe (opaque) |
//! | `_INBOX_<p>_<role>.>` | party p's node (replies) | that user | request/reply inboxes, private per user (`<role>`: `node`, `cli`) |
//!
//! `<p>` is `kr`, `us` or `jp`. A national node publishes only on its `up`
//! subjects (and its own dead-letter subject) and subscribes only to its `down`
//! subjects; only the US node touches both nations' subjects. Control and
//! dead-letter subjects never leave the party.
//!
//!
//! There is no KR↔JP subject.

use tisa_core::Party;

/// Which way along a national link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Nation → hub.
    Up,
    /// Hub → nation.
    Down,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// `tisa.<nation>.<dir>.<kind>`.
pub fn data(nation: Party, dir: Direction, kind: &str) -> String {
    format!("tisa.{}.{}.{kind}", nation.lower(), dir.as_str())
}

/// Wildcard for everything on one direction of one national link.
pub fn data_all(nation: Party, dir: Direction) -> String {
    format!("tisa.{}.{}.>", nation.lower(), dir.as_str())
}

/// Subject on which `from` sends a message of `kind` to `to`. `None` if no
/// such link exists (KR↔JP, or a party to itself): there is no subject for it.
pub fn outbound(from: Party, to: Party, kind: &str) -> Option<String> {
    match (from.is_hub(), to.is_hub()) {
        (false, true) => Some(data(from, Direction::Up, kind)),
        (true, false) => Some(data(to, Direction::Down, kind)),
        _ => None,
    }
}

/// What `party`'s node subscribes to, per link: `(peer, subject)`.
pub fn inbound(party: Party) -> Vec<(Party, String)> {
    if party.is_hub() {
        Party::NATIONS.iter().map(|n| (*n, data_all(*n, Direction::Up))).collect()
    } else {
        vec![(Party::HUB, data_all(party, Direction::Down))]
    }
}

/// Kinds a nation sends up to the hub (`tisa.<nation>.up.<kind>`).
pub const UP_KINDS: [&str; 10] =
    ["report", "decision", "grant", "revocation", "track", "receipt", "retraction", "standing", "rejection", BATCH];

/// Kinds the hub sends down to a nation (`tisa.<nation>.down.<kind>`).
pub const DOWN_KINDS: [&str; 10] =
    ["request", "delivery", "progress", "revocation", "track", "receipt", "retraction", "standing", "rejection", BATCH];

/// The subject kind of an [`EnvelopeBatch`](crate::proto::EnvelopeBatch): several envelopes to
/// the same peer in one broker message (one stored write, one acknowledgement).
pub const BATCH: &str = "batch";

/// Every concrete subject `party`'s node reads, per link: `(peer, subject)`.
pub fn inbound_subjects(party: Party) -> Vec<(Party, String)> {
    if party.is_hub() {
        Party::NATIONS.iter().flat_map(|n| UP_KINDS.iter().map(move |k| (*n, data(*n, Direction::Up, k)))).collect()
    } else {
        DOWN_KINDS.iter().map(|k| (Party::HUB, data(party, Direction::Down, k))).collect()
    }
}

/// The last token of a subject (the message kind).
pub fn kind_of(subject: &str) -> &str {
    subject.rsplit('.').next().unwrap_or(subject)
}

/// Control verbs, one subject each: those of
/// [`ControlRequest`](crate::control::ControlRequest), declared once there.
pub const VERBS: &[&str] = crate::control::ControlRequest::VERBS;

/// `tisa.<party>.deadletter`: the party's own dead-letter stream (in its own
/// account, on its own broker). Only the party's node publishes on it; each
/// message is a `DeadLetter` record (reason and ids, never a payload).
pub fn dead_letter(party: Party) -> String {
    format!("tisa.{}.deadletter", party.lower())
}

/// `tisa.ctl.<party>.<verb>`.
pub fn control(party: Party, verb: &str) -> String {
    format!("tisa.ctl.{}.{verb}", party.lower())
}

/// `tisa.ctl.<party>.*`: what a node listens on for its operator.
pub fn control_all(party: Party) -> String {
    format!("tisa.ctl.{}.*", party.lower())
}

/// `tisa.ctl.<party>.events`.
pub fn events(party: Party) -> String {
    control(party, "events")
}

/// `tisa.ctl.<party>.probe.<id>`: a readiness probe on the party's own subjects.
pub fn probe(party: Party, id: &str) -> String {
    format!("tisa.ctl.{}.probe.{id}", party.lower())
}

/// What a node may publish to use JetStream in its own account: the API
/// (create its inbound stream and consumer, pull) and acknowledgements.
pub const JETSTREAM: [&str; 2] = ["$JS.API.>", "$JS.ACK.>"];

/// A NATS user of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The party's node.
    Node,
    /// The party's operator CLI.
    Cli,
    /// Per-nation deployments only: the US hub's user on a nation's own
    /// server, for the US end of that national link. `permissions(nation,
    /// Role::Link)` names the nation whose server (and link) it is.
    Link,
}

impl Role {
    /// `node`, `cli` or `link`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Cli => "cli",
            Role::Link => "link",
        }
    }
}

/// The private request/reply inbox prefix of `party`'s `role` user. For
/// [`Role::Link`], `party` is the nation and the user is the hub's:
/// `_INBOX_us_link_<nation>`.
pub fn inbox_prefix(party: Party, role: Role) -> String {
    match role {
        Role::Link => format!("_INBOX_{}_link_{}", Party::HUB.lower(), party.lower()),
        _ => format!("_INBOX_{}_{}", party.lower(), role.as_str()),
    }
}

/// Broker permissions of `party`'s `role` user, derived from the subject
/// table above: `(publish allow, subscribe allow)`. Nothing else is allowed
/// (in particular no `$JS.API.>`: no user reaches any JetStream API).
/// A node may also answer requests it receives (`allow_responses`).
///
/// `Role::Node` here is a node whose links share its broker (shared mode,
/// or a nation's node on its own server in per-nation mode). For the hub's
/// users in per-nation mode see [`control_permissions`] (its own server) and
/// `Role::Link` (its user on each nation's server).
pub fn permissions(party: Party, role: Role) -> (Vec<String>, Vec<String>) {
    let mut publish = Vec::new();
    let mut subscribe = Vec::new();
    match role {
        Role::Node => {
            if party.is_hub() {
                for n in Party::NATIONS {
                    publish.push(data_all(n, Direction::Down));
                    subscribe.push(data_all(n, Direction::Up));
                }
            } else {
                publish.push(data_all(party, Direction::Up));
                subscribe.push(data_all(party, Direction::Down));
            }
            // JetStream (its inbound stream and consumer, acknowledgements,
            // its dead-letter stream) comes with `control_permissions`.
        }
        Role::Link => {
            // The hub's end of the US–`party` link, on `party`'s server: it
            // speaks down to that nation and hears it up, and nothing else
            // (no control subject of the nation's, no other nation).
            publish.push(data_all(party, Direction::Down));
            subscribe.push(data_all(party, Direction::Up));
            publish.extend(JETSTREAM.iter().map(|s| s.to_string()));
            let probe = format!("tisa.ctl.{}.probe.>", Party::HUB.lower());
            publish.push(probe.clone());
            subscribe.push(probe);
            subscribe.push(format!("{}.>", inbox_prefix(party, role)));
            return (publish, subscribe);
        }
        Role::Cli => {}
    }
    let (p, s) = control_permissions(party, role);
    publish.extend(p);
    subscribe.extend(s);
    (publish, subscribe)
}

/// The part of [`permissions`] that never leaves the party: its control
/// subjects, events, readiness probes and private inbox, without any link
/// subject. This is all the hub's node (`Role::Node`) may do on the US's own
/// server in per-nation mode, where its links live on the nations' servers.
pub fn control_permissions(party: Party, role: Role) -> (Vec<String>, Vec<String>) {
    let mut publish = Vec::new();
    let mut subscribe = Vec::new();
    let probe = format!("tisa.ctl.{}.probe.>", party.lower());
    match role {
        Role::Node => {
            publish.push(events(party));
            subscribe.extend(VERBS.iter().map(|v| control(party, v)));
            // Its own dead-letter stream, and JetStream within its own
            // account only (accounts isolate the API): that stream, its
            // inbound streams and consumers, and acknowledgements.
            publish.push(dead_letter(party));
            publish.extend(JETSTREAM.iter().map(|s| s.to_string()));
        }
        Role::Cli => {
            publish.extend(VERBS.iter().map(|v| control(party, v)));
            subscribe.push(events(party));
        }
        Role::Link => return permissions(party, role),
    }
    publish.push(probe.clone());
    subscribe.push(probe);
    subscribe.push(format!("{}.>", inbox_prefix(party, role)));
    (publish, subscribe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_node_publishes_its_dead_letters() {
        for p in Party::ALL {
            let dl = dead_letter(p);
            let (node, _) = permissions(p, Role::Node);
            assert!(node.contains(&dl), "{p}'s node publishes {dl}");
            let (own, _) = control_permissions(p, Role::Node);
            assert!(own.contains(&dl), "{p}'s node publishes {dl} on its own server (per-nation hub too)");
            for q in Party::ALL.into_iter().filter(|q| *q != p) {
                assert!(!permissions(q, Role::Node).0.contains(&dl), "{q}'s node may not publish {dl}");
            }
            let (cli, _) = permissions(p, Role::Cli);
            assert!(!cli.iter().any(|s| s.ends_with("deadletter") && !s.starts_with("tisa.ctl.")), "{cli:?}");
            assert!(cli.contains(&control(p, "deadletter")), "the CLI lists dead letters through the node");
            if !p.is_hub() {
                assert!(!permissions(p, Role::Link).0.contains(&dl), "the hub's link user may not publish {dl}");
            }
        }
    }

    #[test]
    fn every_payload_kind_has_its_inbound_subjects() {
        assert_eq!(inbound_subjects(Party::Us).len(), 2 * UP_KINDS.len());
        for n in Party::NATIONS {
            let subjects: Vec<String> = inbound_subjects(n).into_iter().map(|(_, s)| s).collect();
            assert_eq!(subjects.len(), DOWN_KINDS.len());
            for k in DOWN_KINDS {
                assert!(subjects.contains(&data(n, Direction::Down, k)));
            }
        }
    }
}
