//! Transport errors.
use thiserror::Error;

/// A message from the wire could not become a domain message. The node logs
/// it (subject, link, this reason — never the payload), counts it and drops it.
#[derive(Clone, Debug, Error)]
pub enum DecodeError {
    /// Not valid protobuf for the expected message.
    #[error("malformed protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A required field is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// An enum field is unspecified or out of range.
    #[error("field {field} has invalid value {value}")]
    BadEnum {
        /// The field.
        field: &'static str,
        /// The raw value.
        value: i32,
    },
    /// An identifier breaks the id rules.
    #[error("field {field}: {source}")]
    BadId {
        /// The field.
        field: &'static str,
        /// Why.
        source: tisa_core::ParseError,
    },
    /// The peer speaks another major protocol version.
    #[error(
        "peer speaks protocol {major}.{minor}, this node {}.{}: run the same major version of tisa on both sides of the link",
        tisa_core::PROTOCOL_VERSION,
        tisa_core::PROTOCOL_VERSION_MINOR
    )]
    VersionMismatch {
        /// The peer's major version (0: it sent none).
        major: u32,
        /// The peer's minor version.
        minor: u32,
    },
    /// The payload's kind does not match the subject it came on.
    #[error("payload kind {payload} does not match subject kind {subject}")]
    KindMismatch {
        /// Kind named by the subject.
        subject: String,
        /// Kind of the payload.
        payload: &'static str,
    },
    /// Fields that contradict each other.
    #[error("inconsistent message: {0}")]
    Inconsistent(&'static str),
}

impl DecodeError {
    /// A stable code for dead letters, the audit log and `--json`:
    /// `PROTOBUF`, `MISSING`, `BAD_ENUM`, `BAD_ID`, `VERSION_MISMATCH`,
    /// `KIND_MISMATCH`, `INCONSISTENT`.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Protobuf(_) => "PROTOBUF",
            DecodeError::Missing(_) => "MISSING",
            DecodeError::BadEnum { .. } => "BAD_ENUM",
            DecodeError::BadId { .. } => "BAD_ID",
            DecodeError::VersionMismatch { .. } => "VERSION_MISMATCH",
            DecodeError::KindMismatch { .. } => "KIND_MISMATCH",
            DecodeError::Inconsistent(_) => "INCONSISTENT",
        }
    }

    /// One line of fixed text, field names and numbers: like `Display`, but
    /// never echoing a value taken from the message (an invalid id, an
    /// unknown party name), since those are bytes of the payload.
    pub fn redacted(&self) -> String {
        match self {
            DecodeError::BadId { field, source } => match source {
                tisa_core::ParseError::BadId { what, why, .. } => format!("field {field}: invalid {what}: {why}"),
                _ => format!("field {field}: unparseable value"),
            },
            other => other.to_string(),
        }
    }
}

/// A NATS operation failed.
#[derive(Clone, Debug, Error)]
pub enum TransportError {
    /// Could not connect.
    #[error(
        "cannot connect to NATS at {url}: {reason}: is the broker down? Your node answers only through it \
         (`tisa probe {url}` checks it from here)"
    )]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The broker refused the credentials (an unknown nkey, or none where one is needed).
    #[error(
        "the broker at {url} refused the credentials of {name} ({reason}): check the nkey seed file your config \
         names (`tisa broker config` writes each party's; a new run replaces them all)"
    )]
    Unauthorized {
        /// The URL.
        url: String,
        /// The connection's name (whose credentials).
        name: String,
        /// The broker's words.
        reason: String,
    },
    /// The broker refused a subject to these credentials.
    #[error(
        "the broker refused this to {party}'s operator credentials ({detail}): use your party's CLI config \
         (`{lower}-cli.toml` from `tisa broker config`), not a node's or another party's"
    )]
    PermissionViolation {
        /// The party asked.
        party: tisa_core::Party,
        /// Its lower-case code.
        lower: &'static str,
        /// The broker's words (`Permissions Violation for Publish to "…"`).
        detail: String,
    },
    /// A receiving stream exists with other subjects than this version
    /// reads into it (a stream made by an older version took every subject
    /// of the link, live tracks included).
    #[error(
        "stream {stream} takes `{has}` where this version needs `{wanted}` (live tracks have a stream of their \
         own): as an operator of the account, `nats stream edit {stream} --subjects '{wanted}'` (what it holds \
         stays), with the broker config of this version (`tisa broker config`), then start the node again"
    )]
    StreamLayout {
        /// The stream.
        stream: String,
        /// Its subjects now.
        has: String,
        /// The subject this version reads into it.
        wanted: String,
    },
    /// Could not subscribe.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Could not publish.
    #[error("cannot publish to {subject}: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The subscriptions could not be proven live in time.
    #[error("subscriptions not confirmed by the server within {0:?}")]
    NotReady(std::time::Duration),
    /// No node answers on the party's control subjects.
    #[error("no tisa node for {party} is answering on {url} (is `tisa node --party {lower}` running?)")]
    NoNode {
        /// The party.
        party: tisa_core::Party,
        /// Its lower-case code.
        lower: &'static str,
        /// The NATS URL.
        url: String,
    },
    /// The node did not answer in time.
    #[error("the {party} node did not answer within {timeout:?}")]
    Timeout {
        /// The party.
        party: tisa_core::Party,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// A request failed for another reason.
    #[error("request to {subject} failed: {reason}")]
    Request {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Not published yet, to keep the sender's order: an earlier message to
    /// the same peer is being retried (the sender keeps it and retries it
    /// after that one).
    #[error(
        "held back behind an earlier message to {peer} that is being retried (the stream keeps the sender's order)"
    )]
    HeldForOrder {
        /// The peer.
        peer: tisa_core::Party,
    },
    /// The receiver's stream did not take a message (absent, full, over a
    /// limit, or no answer in time). The sender keeps it and retries.
    #[error("{stream} did not accept a message on {subject}: {reason}; {hint}")]
    NotAccepted {
        /// The receiver's stream.
        stream: String,
        /// The subject.
        subject: String,
        /// The broker's reason.
        reason: String,
        /// What it means and what to do.
        hint: &'static str,
    },
    /// A message larger than the broker accepts (its `max_payload`).
    #[error("{what} is {size} bytes encoded; the broker accepts at most {limit} bytes per message (max_payload)")]
    TooLarge {
        /// What was to be sent (`the submit request`, `report envelope …`).
        what: String,
        /// Its encoded size.
        size: usize,
        /// The broker's limit.
        limit: usize,
    },
    /// The reply could not be decoded.
    #[error("unreadable reply from the node: {0}")]
    Decode(#[from] DecodeError),
}
