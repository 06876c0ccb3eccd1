//! Every NATS subject tisa uses. ARCHITECTURE.md has the same table; the
//! broker permissions of a deployment are generated from it.
//!
//! | subject                         | publisher | subscriber |
//! |---------------------------------|-----------|------------|
//! | `tisa.kr.up.<kind>`             | KR node   | US node    |
//! | `tisa.kr.down.<kind>`           | US node   | KR node    |
//! | `tisa.jp.up.<kind>`             | JP node   | US node    |
//! | `tisa.jp.down.<kind>`           | US node   | JP node    |
//! | `tisa.ctl.<party>.<verb>`       | party's CLI | party's node (replies to the CLI's inbox) |
//! | `tisa.ctl.<party>.events`       | party's node | party's CLI (`watch`) |
//! | `tisa.ctl.<party>.probe.<id>`   | party's node / CLI | itself (readiness probe) |
//! | `tisa.<party>.deadletter`       | party's node | its own stream `TISA_<P>_DEADLETTER` (read by the node) |
//!
//! `up` kinds: `report`, `decision`, `grant`, `revocation`, `track`, `receipt`, `retraction`, `rejection`.
//! `down` kinds: `request`, `delivery`, `progress`, `revocation`, `track`, `receipt`, `retraction`, `rejection`.
//! Either way, `batch`: an `EnvelopeBatch` of several of these, in order, in one broker message.
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
pub const UP_KINDS: [&str; 9] =
    ["report", "decision", "grant", "revocation", "track", "receipt", "retraction", "rejection", BATCH];

/// Kinds the hub sends down to a nation (`tisa.<nation>.down.<kind>`).
pub const DOWN_KINDS: [&str; 9] =
    ["request", "delivery", "progress", "revocation", "track", "receipt", "retraction", "rejection", BATCH];

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
