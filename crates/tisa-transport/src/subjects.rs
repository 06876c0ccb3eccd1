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
//! | `tisa.kr.up.track.<track>` | KR node | US node | `Envelope{track}` (live missile track; [`track`]) |
//! | `tisa.kr.up.receipt` | KR node | US node | `Envelope{receipt}` (KR's signed receipt for a delivery) |
//! | `tisa.kr.up.retraction` | KR node | US node | `Envelope{retraction}` (KR retracts its report) |
//! | `tisa.kr.up.standing` | KR node | US node | `Envelope{standing}` (KR's grant still stands, signed by its node) |
//! | `tisa.kr.up.rejection` | KR node | US node | `Envelope{rejection}` |
//! | `tisa.kr.up.batch` | KR node | US node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.kr.down.request` | US node | KR node | `Envelope{release_request}` |
//! | `tisa.kr.down.delivery` | US node | KR node | `Envelope{delivery}` |
//! | `tisa.kr.down.progress` | US node | KR node | `Envelope{progress}` |
//! | `tisa.kr.down.revocation` | US node | KR node | `Envelope{revocation}` (JP's grant withdrawn) |
//! | `tisa.kr.down.track.<track>` | US node | KR node | `Envelope{track}` (under JP's grant, or US's own) |
//! | `tisa.kr.down.receipt` | US node | KR node | `Envelope{receipt}` (JP's receipt for a KR report, passed on unchanged) |
//! | `tisa.kr.down.retraction` | US node | KR node | `Envelope{retraction}` (a retraction of a report KR holds: JP's or US's) |
//! | `tisa.kr.down.standing` | US node | KR node | `Envelope{standing}` (JP's grant still stands, passed on unchanged) |
//! | `tisa.kr.down.rejection` | US node | KR node | `Envelope{rejection}` |
//! | `tisa.kr.down.batch` | US node | KR node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.jp.up.report` | JP node | US node | `Envelope{report}` |
//! | `tisa.jp.up.decision` | JP node | US node | `Envelope{release_decision}` |
//! | `tisa.jp.up.grant` | JP node | US node | `Envelope{grant}` |
//! | `tisa.jp.up.revocation` | JP node | US node | `Envelope{revocation}` |
//! | `tisa.jp.up.track.<track>` | JP node | US node | `Envelope{track}` (live missile track) |
//! | `tisa.jp.up.receipt` | JP node | US node | `Envelope{receipt}` |
//! | `tisa.jp.up.retraction` | JP node | US node | `Envelope{retraction}` (JP retracts its report) |
//! | `tisa.jp.up.standing` | JP node | US node | `Envelope{standing}` (JP's grant still stands, signed by its node) |
//! | `tisa.jp.up.rejection` | JP node | US node | `Envelope{rejection}` |
//! | `tisa.jp.up.batch` | JP node | US node | `EnvelopeBatch` (several of the envelopes above, in order, in one broker message) |
//! | `tisa.jp.down.request` | US node | JP node | `Envelope{release_request}` |
//! | `tisa.jp.down.delivery` | US node | JP node | `Envelope{delivery}` |
//! | `tisa.jp.down.progress` | US node | JP node | `Envelope{progress}` |
//! | `tisa.jp.down.revocation` | US node | JP node | `Envelope{revocation}` (KR's grant withdrawn) |
//! | `tisa.jp.down.track.<track>` | US node | JP node | `Envelope{track}` (under KR's grant, or US's own) |
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
//! | `_INBOX_<p>_cli.>` | party p's node (control replies, only here: [`reply_allowed`]) | party p's CLI | the operators' request/reply inbox |
//! | `_INBOX_<p>_node.>`, `_INBOX_<n>_link.>`, `_INBOX_us_link_<n>.>` | the broker (JetStream API answers, stream acknowledgements) | that user | each user's private inbox |
//! | `$JS.API.<verb>.<stream>…`, `$JS.ACK.<stream>.<durable>.>` | the user reading that stream | the broker | exactly its own streams' and consumer's ([`js_inbound_api`]) |
//!
//! `<p>` is `kr`, `us` or `jp`. A link's receiver keeps what arrives in two
//! streams of its own account: the link stream (`TISA_<N>_<DIR>`,
//! [`link_kinds`]: every kind but tracks, in order) and the track stream
//! (`TISA_<N>_<DIR>_TRACK`, [`track_all`]: each live track's latest
//! updates, a subject per track, so a dense track never fills the link
//! stream nor holds a report up behind it).
//!
//! A national node publishes only on its `up`
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

/// `tisa.<nation>.<dir>.*`: the link stream's subjects, every kind of one
/// direction of one link but live tracks (a track's subject has one token
/// more, so the two streams never overlap).
pub fn link_kinds(nation: Party, dir: Direction) -> String {
    format!("tisa.{}.{}.*", nation.lower(), dir.as_str())
}

/// `tisa.<nation>.<dir>.track.>`: every live track update on one direction
/// of one link, the track stream's subjects.
pub fn track_all(nation: Party, dir: Direction) -> String {
    format!("tisa.{}.{}.track.>", nation.lower(), dir.as_str())
}

/// The last token of a track's subject: its id, each `.` written `~` (a
/// subject token holds no `.`; an id never holds `~`, so two tracks never
/// share a subject, and the track stream keeps each one's updates apart).
pub fn track_token(track_id: &str) -> String {
    track_id.replace('.', "~")
}

/// `tisa.<nation>.<dir>.track.<token>`: where updates of `track_id` travel
/// on one direction of one link ([`track_token`]).
pub fn track(nation: Party, dir: Direction, track_id: &str) -> String {
    format!("tisa.{}.{}.track.{}", nation.lower(), dir.as_str(), track_token(track_id))
}

/// The track token of a track subject (`tisa.<n>.<dir>.track.<token>`);
/// `None` for any other subject (a track sent by an older node on
/// `tisa.<n>.<dir>.track` has none).
pub fn track_token_of(subject: &str) -> Option<&str> {
    let mut t = subject.splitn(5, '.');
    match (t.next(), t.next(), t.next(), t.next(), t.next()) {
        (Some("tisa"), Some(_), Some(_), Some("track"), Some(token)) => Some(token),
        _ => None,
    }
}

/// Subject on which `from` sends an update of `track_id` to `to` (`None`:
/// no such link).
pub fn outbound_track(from: Party, to: Party, track_id: &str) -> Option<String> {
    match (from.is_hub(), to.is_hub()) {
        (false, true) => Some(track(from, Direction::Up, track_id)),
        (true, false) => Some(track(to, Direction::Down, track_id)),
        _ => None,
    }
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

/// What `party`'s node reads, per link: `(peer, nation, direction)` of
/// the link's inbound side ([`link_kinds`] into the link stream,
/// [`track_all`] into the track stream).
pub fn inbound(party: Party) -> Vec<(Party, Party, Direction)> {
    if party.is_hub() {
        Party::NATIONS.iter().map(|n| (*n, *n, Direction::Up)).collect()
    } else {
        vec![(Party::HUB, party, Direction::Down)]
    }
}

/// Kinds a nation sends up to the hub (`tisa.<nation>.up.<kind>`).
pub const UP_KINDS: [&str; 11] = [
    "report",
    "decision",
    "grant",
    "revocation",
    "track",
    "receipt",
    "retraction",
    "standing",
    "rejection",
    "hello",
    BATCH,
];

/// Kinds the hub sends down to a nation (`tisa.<nation>.down.<kind>`).
pub const DOWN_KINDS: [&str; 11] = [
    "request",
    "delivery",
    "progress",
    "revocation",
    "track",
    "receipt",
    "retraction",
    "standing",
    "rejection",
    "hello",
    BATCH,
];

/// The subject kind of an [`EnvelopeBatch`](crate::proto::EnvelopeBatch): several envelopes to
/// the same peer in one broker message (one stored write, one acknowledgement).
pub const BATCH: &str = "batch";

/// Every concrete subject `party`'s node reads, per link: `(peer,
/// subject)`: each kind's subject (into the link stream; a track on
/// `…track` is what an older node sent) and one track's own
/// (`…track.T-1`, into the track stream).
pub fn inbound_subjects(party: Party) -> Vec<(Party, String)> {
    let of = |peer: Party, n: Party, dir: Direction, kinds: &'static [&'static str]| {
        kinds.iter().map(move |k| (peer, data(n, dir, k))).chain([(peer, track(n, dir, "T-1"))])
    };
    if party.is_hub() {
        Party::NATIONS.iter().flat_map(|n| of(*n, *n, Direction::Up, &UP_KINDS)).collect()
    } else {
        of(Party::HUB, party, Direction::Down, &DOWN_KINDS).collect()
    }
}

/// The message kind a subject names: the fourth token of a link or
/// control subject (`tisa.kr.up.report`, `tisa.kr.up.track.KR-T1`,
/// `tisa.ctl.kr.submit`), else the last.
pub fn kind_of(subject: &str) -> &str {
    match subject.split('.').nth(3) {
        Some(kind) if subject.starts_with("tisa.") => kind,
        _ => subject.rsplit('.').next().unwrap_or(subject),
    }
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

/// `tisa.ctl.<party>.submit-batch`: many submits in one message
/// ([`crate::control::batch`]).
pub fn submit_batch(party: Party) -> String {
    control(party, crate::control::batch::SUBMIT_BATCH_VERB)
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

/// The JetStream API subjects (`$JS.API.…`) a user needs for one inbound
/// stream of its own account and its one durable pull consumer: look the
/// stream and the consumer up, create them if missing, pull. Nothing else
/// (no other stream, no list, no update, no delete, no account info).
pub fn js_inbound_api(stream: &str, durable: &str) -> Vec<String> {
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.INFO.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"),
    ]
}

/// The acknowledgements of one durable consumer's messages (`$JS.ACK.<stream>.<durable>.>`).
pub fn js_ack(stream: &str, durable: &str) -> String {
    format!("$JS.ACK.{stream}.{durable}.>")
}

/// The JetStream API subjects of a node's dead-letter stream: look it up,
/// create it, read a message back (`tisa deadletter list`).
pub fn js_dead_letter_api(party: Party) -> Vec<String> {
    let stream = crate::conn::dead_letter_stream(party);
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.CREATE.{stream}"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
    ]
}

/// The durable consumer name with which `party`'s node reads its inbound streams.
pub fn durable(party: Party) -> String {
    format!("{}-node", party.lower())
}

/// A NATS user of a deployment. Each node has two kinds of users: its
/// control user ([`Role::Node`]) and a link user per link ([`Role::Link`]
/// for the hub's, [`Role::NationLink`] for a nation's): a control
/// connection can never publish on a link, and a link connection never
/// touches a control subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The party's node, its control connection: control subjects, events,
    /// its dead-letter stream, replies to its operators' inboxes.
    Node,
    /// The party's operator CLI.
    Cli,
    /// The US hub's link user for the US–`party` link (`party` names the
    /// nation): `permissions(nation, Role::Link)`.
    Link,
    /// A nation's link user, its end of its link with the hub:
    /// `permissions(nation, Role::NationLink)`.
    NationLink,
}

impl Role {
    /// `node`, `cli` or `link`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Cli => "cli",
            Role::Link | Role::NationLink => "link",
        }
    }
}

/// The private request/reply inbox prefix of `party`'s `role` user. For
/// [`Role::Link`], `party` is the nation and the user is the hub's:
/// `_INBOX_us_link_<nation>`; a nation's link user: `_INBOX_<nation>_link`.
pub fn inbox_prefix(party: Party, role: Role) -> String {
    match role {
        Role::Link => format!("_INBOX_{}_link_{}", Party::HUB.lower(), party.lower()),
        _ => format!("_INBOX_{}_{}", party.lower(), role.as_str()),
    }
}

/// Whether `party`'s node may answer a control call on `reply`: only a
/// subject under its operators' private inbox prefix (`_INBOX_<p>_cli.`).
/// Anything else (another party's link subject, a control subject, an
/// inbox of another user) is refused: a caller cannot make the node
/// publish where the caller could not.
pub fn reply_allowed(party: Party, reply: &str) -> bool {
    let prefix = inbox_prefix(party, Role::Cli);
    reply.strip_prefix(prefix.as_str()).and_then(|rest| rest.strip_prefix('.')).is_some_and(|rest| {
        !rest.is_empty() && !rest.contains(['*', '>', ' ', '\t', '\r', '\n']) && !rest.split('.').any(str::is_empty)
    })
}

/// Broker permissions of `party`'s `role` user, derived from the subject
/// table above: `(publish allow, subscribe allow)`. Nothing else is
/// allowed; no user has `allow_responses` (a reply goes only where the
/// permissions say) and no user is granted `$JS.API.>`: each gets the exact
/// JetStream API subjects of its own streams and consumers
/// ([`js_inbound_api`], [`js_dead_letter_api`]).
///
/// - `Role::Node`: the node's control user ([`control_permissions`]).
/// - `Role::Cli`: the operators: control requests, events.
/// - `Role::NationLink` (`party` a nation): its node's end of its link:
///   publish up, its inbound streams `TISA_<N>_DOWN`, `TISA_<N>_DOWN_TRACK`
///   and their consumers.
/// - `Role::Link` (`party` a nation): the hub's end of the US–`party` link:
///   publish down, the hub's inbound streams `TISA_<N>_UP`, `TISA_<N>_UP_TRACK`
///   and their consumers.
pub fn permissions(party: Party, role: Role) -> (Vec<String>, Vec<String>) {
    match role {
        Role::Node | Role::Cli => control_permissions(party, role),
        Role::Link | Role::NationLink => {
            let (nation, holder, out, inn) = if role == Role::Link {
                (party, Party::HUB, Direction::Down, Direction::Up)
            } else {
                (party, party, Direction::Up, Direction::Down)
            };
            let durable = durable(holder);
            let mut publish = vec![data_all(nation, out)];
            // Its two inbound streams: the link's and the tracks'.
            for stream in [crate::conn::stream_name(nation, inn), crate::conn::track_stream_name(nation, inn)] {
                publish.extend(js_inbound_api(&stream, &durable));
                publish.push(js_ack(&stream, &durable));
            }
            let probe = format!("tisa.ctl.{}.probe.>", holder.lower());
            publish.push(probe.clone());
            // Its inbound direction too (the stream reads it; a plain
            // subscription sees only what the stream sees).
            let subscribe = vec![data_all(nation, inn), probe, format!("{}.>", inbox_prefix(party, role))];
            (publish, subscribe)
        }
    }
}

/// A node's or operator's control permissions: its control subjects,
/// events, readiness probes and private inbox, never a link subject. The
/// node's control user also writes its dead-letter stream and answers its
/// operators, only under their inbox prefix (`_INBOX_<p>_cli.>`).
pub fn control_permissions(party: Party, role: Role) -> (Vec<String>, Vec<String>) {
    let mut publish = Vec::new();
    let mut subscribe = Vec::new();
    let probe = format!("tisa.ctl.{}.probe.>", party.lower());
    match role {
        Role::Node => {
            publish.push(events(party));
            subscribe.extend(VERBS.iter().map(|v| control(party, v)));
            subscribe.push(submit_batch(party));
            publish.push(format!("{}.>", inbox_prefix(party, Role::Cli)));
            publish.push(dead_letter(party));
            publish.extend(js_dead_letter_api(party));
        }
        Role::Cli => {
            publish.extend(VERBS.iter().map(|v| control(party, v)));
            publish.push(submit_batch(party));
            subscribe.push(events(party));
        }
        Role::Link | Role::NationLink => return permissions(party, role),
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

    /// A stream answers each publish on the publisher's reply subject, as
    /// the server, whatever the publisher may publish itself: an operator
    /// allowed to publish into a stream could have its acknowledgement
    /// published onto the party's link (seen in a test of a feed stream the
    /// operators could write: the acknowledgement reached the hub). So no
    /// operator may publish on any subject a stream takes in.
    #[test]
    fn no_operator_publishes_into_a_stream_only_nodes_do() {
        let streams: Vec<String> = Party::NATIONS
            .iter()
            .flat_map(|n| [data_all(*n, Direction::Up), data_all(*n, Direction::Down)])
            .chain(Party::ALL.iter().map(|p| dead_letter(*p)))
            .collect();
        let captured = |s: &str| {
            streams.iter().any(|st| match st.strip_suffix(">") {
                Some(prefix) => s.starts_with(prefix),
                None => s == st,
            })
        };
        for p in Party::ALL {
            let (cli, _) = permissions(p, Role::Cli);
            assert!(!cli.iter().any(|s| captured(s)), "{p}'s operators publish into a stream: {cli:?}");
            // Control: the nodes do (their links, their dead letters).
            assert!(permissions(p, Role::Node).0.iter().any(|s| captured(s)), "{p}'s node writes its dead letters");
            if !p.is_hub() {
                assert!(permissions(p, Role::NationLink).0.iter().any(|s| captured(s)), "{p}'s link user");
            }
        }
    }

    #[test]
    fn the_node_answers_only_under_its_operators_inbox() {
        // Control: a reply subject the CLI really uses is accepted.
        assert!(reply_allowed(Party::Us, "_INBOX_us_cli.abc123.1"));
        assert!(reply_allowed(Party::Kr, "_INBOX_kr_cli.x"));
        // The confused deputy: another party's link subject, a control
        // subject, another user's inbox, another party's CLI, wildcards.
        for bad in [
            "tisa.jp.down.delivery",
            "tisa.kr.up.report",
            "tisa.ctl.us.submit",
            "_INBOX_us_node.x",
            "_INBOX_us_link_jp.x",
            "_INBOX_jp_cli.x",
            "_INBOX_us_cli",
            "_INBOX_us_cli.",
            "_INBOX_us_cli.>",
            "_INBOX_us_cli.*",
            "_INBOX_us_cli..x",
            "_INBOX_us_clix.y",
            "_INBOX.abc",
        ] {
            assert!(!reply_allowed(Party::Us, bad), "{bad} must be refused");
        }
    }

    #[test]
    fn no_user_gets_the_whole_jetstream_api_or_blanket_replies_and_control_never_touches_a_link() {
        for p in Party::ALL {
            let mut users = vec![permissions(p, Role::Node), permissions(p, Role::Cli)];
            if !p.is_hub() {
                users.push(permissions(p, Role::Link));
                users.push(permissions(p, Role::NationLink));
            }
            for (publish, subscribe) in &users {
                for s in publish.iter().chain(subscribe) {
                    assert!(!s.starts_with("$JS.API.>") && s != "$JS.>" && s != ">", "{p}: {s}");
                    assert!(!s.starts_with("$JS.ACK.>"), "{p}: {s}");
                    assert!(!s.starts_with("_INBOX.") && s != "_INBOX_>", "{p}: {s}");
                }
            }
            let (node_pub, node_sub) = permissions(p, Role::Node);
            for s in node_pub.iter().chain(&node_sub) {
                assert!(!s.contains(".up.") && !s.contains(".down."), "{p}'s control user touches a link: {s}");
            }
            assert!(node_pub.contains(&format!("{}.>", inbox_prefix(p, Role::Cli))), "{node_pub:?}");
        }
        // Each link user: only its own link's stream and consumer.
        let (publish, _) = permissions(Party::Kr, Role::Link);
        assert!(publish.contains(&"$JS.API.CONSUMER.MSG.NEXT.TISA_KR_UP.us-node".to_owned()), "{publish:?}");
        assert!(publish.contains(&"$JS.ACK.TISA_KR_UP.us-node.>".to_owned()), "{publish:?}");
        assert!(!publish.iter().any(|s| s.contains("TISA_KR_DOWN") || s.contains("tisa.kr.up")), "{publish:?}");
        let (publish, _) = permissions(Party::Kr, Role::NationLink);
        assert!(publish.contains(&"$JS.API.STREAM.CREATE.TISA_KR_DOWN".to_owned()), "{publish:?}");
        assert!(!publish.iter().any(|s| s.contains("TISA_KR_UP") || s.contains("tisa.kr.down")), "{publish:?}");
    }

    #[test]
    fn every_payload_kind_has_its_inbound_subjects() {
        assert_eq!(inbound_subjects(Party::Us).len(), 2 * (UP_KINDS.len() + 1));
        for n in Party::NATIONS {
            let subjects: Vec<String> = inbound_subjects(n).into_iter().map(|(_, s)| s).collect();
            assert_eq!(subjects.len(), DOWN_KINDS.len() + 1);
            assert!(subjects.contains(&track(n, Direction::Down, "T-1")));
            for k in DOWN_KINDS {
                assert!(subjects.contains(&data(n, Direction::Down, k)));
            }
        }
    }
}
