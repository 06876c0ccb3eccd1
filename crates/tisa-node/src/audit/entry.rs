//! One line of the audit log, what an input and its events become, and the
//! helpers both the log and its verification use.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tisa_core::sign::{sha256, valid_name, GrantDoc, RevocationDoc};
use tisa_core::{Basis, Command, Decision, Event, Input, LoggedInput, Party, Payload, Stage, Timestamp};

use super::log::AuditLog;
use super::{HEAD_DOC, HEAD_FILE};

/// The signed chain head carried by a `HEAD` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// Seq of the entry before the HEAD entry (0 for an empty chain).
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// The node key's registered name.
    pub signer: String,
    /// The node key's public half (hex), for exports; trust comes from the agreement.
    pub public: String,
    /// Ed25519 signature (hex) over the head document.
    pub signature: String,
}

/// Another party's audit chain head, as this node received it (verified).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerHead {
    /// Whose chain (`KOR`, `USA`, `JPN`).
    pub party: String,
    /// Seq of the last entry it covered.
    pub seq: u64,
    /// That entry's hash (hex).
    pub hash: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1-based, contiguous.
    pub seq: u64,
    /// When, by the node's clock (for events: the `now` of their input).
    pub at_ms: u64,
    /// The node's party (`KOR`, `USA`, `JPN`).
    pub party: String,
    /// Who acted: the party, or the operator when known.
    pub actor: String,
    /// The key id of the operator's (or feed's) signed action, when the
    /// entry comes from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `SUBMIT`, `DECIDED`, … `HEAD`.
    pub kind: String,
    /// The report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    /// Its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The release request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The standing grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// One line of ids and enum names.
    pub detail: String,
    /// The input-log record that caused it (none for MALFORMED, UNVERIFIABLE and HEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_seq: Option<u64>,
    /// Its rank among the entries that input caused (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_part: Option<u32>,
    /// HEAD only: the signed chain head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<SignedHead>,
    /// RECEIPT only: the recipient's audit chain head that came with its
    /// receipt (signature verified on arrival): evidence of how far that
    /// party's log reached, for `tisa audit verify --peer-log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_head: Option<PeerHead>,
    /// Hash of the previous entry (hex; zeros for the first).
    pub prev: String,
    /// SHA-256(prev ‖ canonical bytes of this entry without `hash`), hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl Entry {
    /// The canonical bytes the hash covers: the entry without `hash`.
    pub fn canonical(&self) -> Vec<u8> {
        let mut e = self.clone();
        e.hash = String::new();
        serde_json::to_vec(&e).unwrap_or_default()
    }

    /// The hash this entry must carry, given its `prev`.
    pub fn compute_hash(&self) -> Option<[u8; 32]> {
        let prev = unhex32(&self.prev)?;
        let mut bytes = prev.to_vec();
        bytes.extend_from_slice(&self.canonical());
        Some(sha256(&bytes))
    }

    /// The line as written (without the newline).
    pub fn line(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// For an entry whose `hash` is still empty and whose `prev` is the hex
    /// of `prev`: appends its line, with the hash it must carry, to `out`
    /// (exactly [`Entry::line`] of the entry with that hash), and returns
    /// the hash. One serialization and no copy of the entry: `hash` is the
    /// last field, so the canonical bytes are the line up to its closing
    /// brace.
    pub fn seal_into(&self, prev: &[u8; 32], out: &mut Vec<u8>) -> [u8; 32] {
        use sha2::{Digest as _, Sha256};
        let start = out.len();
        if serde_json::to_writer(&mut *out, self).is_err() || out.last() != Some(&b'}') {
            out.truncate(start);
            return [0; 32];
        }
        let mut h = Sha256::new();
        h.update(prev);
        h.update(&out[start..]);
        let hash: [u8; 32] = h.finalize().into();
        out.pop();
        out.extend_from_slice(b",\"hash\":\"");
        let mut hexed = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(hash, &mut hexed);
        out.extend_from_slice(&hexed);
        out.extend_from_slice(b"\"}");
        hash
    }
}

/// A stable code for why a signed action was refused.
pub(crate) fn unauthorized_code(why: &tisa_core::sign::AuthError) -> &'static str {
    use tisa_core::sign::{AuthError as A, KeyError as K};
    match why {
        A::Unsigned(..) => "UNSIGNED",
        A::Malformed => "MALFORMED_ACTION",
        A::Key(K::NotAKeyId(_)) => "NOT_A_KEY_ID",
        A::Key(K::Unknown { .. }) => "UNKNOWN_KEY",
        A::Key(K::OtherParty { .. }) => "OTHER_PARTYS_KEY",
        A::Key(K::Role { .. }) => "MISSING_ROLE",
        A::Key(K::BadSignature(_)) => "BAD_SIGNATURE",
        A::KeyMismatch { .. } => "KEY_MISMATCH",
        A::WrongParty { .. } => "WRONG_PARTY",
        A::WrongVerb { .. } => "WRONG_VERB",
        A::PayloadMismatch(_) => "PAYLOAD_MISMATCH",
        A::Stale { .. } => "STALE",
        A::Replayed { .. } => "REPLAYED",
    }
}

/// The document a HEAD entry signs.
pub fn head_document(party: &str, seq: u64, hash_hex: &str) -> Vec<u8> {
    format!("{HEAD_DOC}\nparty={party}\nseq={seq}\nhash={hash_hex}\n").into_bytes()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Parses lower-case hex of any length.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    (0..s.len() / 2).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Parses a 32-byte hex digest.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s).and_then(|v| <[u8; 32]>::try_from(v).ok())
}

/// What the entries of one input need to know about it (taken before the
/// input is moved into the core).
#[derive(Debug)]
pub struct InputNote {
    pub(super) seq: u64,
    pub(super) at: Timestamp,
    /// The submitting operator, for a submit.
    pub(super) actor: Option<String>,
    /// A grant or revocation the input carries.
    pub(super) grant: Option<GrantNote>,
    /// Its message id, for an inbound message.
    pub(super) message_id: Option<String>,
    /// The key id that signed a command's action.
    pub(super) key_id: Option<String>,
}

/// A grant or revocation an input carries, for its audit entry.
#[derive(Debug)]
pub(super) struct GrantNote {
    pub(super) kind: &'static str,
    pub(super) grant_id: String,
    pub(super) operator: String,
    pub(super) recipient: Option<Party>,
    pub(super) detail: String,
}

/// Keeps only characters of ids and enum names (for strings a peer chose).
pub(super) fn clean(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')).take(80).collect()
}

/// The `audit.head` side file: fixed size, rewritten in place.
pub(super) fn head_line(seq: u64, hash: &[u8; 32]) -> String {
    format!("tisa-audit-head v1 seq={seq:020} hash={}\n", hex(hash))
}

/// Parses `audit.head` (None if absent).
pub fn read_head_file(dir: &Path) -> Result<Option<(u64, [u8; 32])>, String> {
    let text = match std::fs::read_to_string(dir.join(HEAD_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    // Created empty when the log is opened, written with the first entry:
    // a node stopped before it audited anything leaves it empty.
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{HEAD_FILE} is malformed");
    let rest = text.trim_end().strip_prefix("tisa-audit-head v1 seq=").ok_or_else(bad)?;
    let (seq, hash) = rest.split_once(" hash=").ok_or_else(bad)?;
    Ok(Some((seq.parse().map_err(|_| bad())?, unhex32(hash).ok_or_else(bad)?)))
}

impl AuditLog {
    /// Notes what the entries of input `seq` need from it. Call before the
    /// input is applied (it is moved into the core).
    pub fn note(&self, seq: u64, l: &LoggedInput) -> InputNote {
        let mut note = InputNote { seq, at: l.at, actor: None, grant: None, message_id: None, key_id: None };
        if let Input::Command(_, Some(auth)) = &l.input {
            note.key_id = Some(clean(&auth.action.signer));
        }
        let grant = |doc: &GrantDoc| GrantNote {
            kind: "GRANT",
            grant_id: doc.grant_id.clone(),
            operator: doc.operator.clone(),
            recipient: Some(doc.recipient),
            detail: format!(
                "originator={} categories={} max_classification={} tearline_only={} not_after_ms={}",
                doc.originator,
                doc.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
                doc.max_classification,
                doc.tearline_only,
                doc.not_after.map_or("-".to_owned(), |t| t.as_millis().to_string()),
            ),
        };
        let revocation = |doc: &RevocationDoc| GrantNote {
            kind: "REVOCATION",
            grant_id: doc.grant_id.clone(),
            operator: doc.operator.clone(),
            recipient: None,
            detail: format!("originator={}", doc.originator),
        };
        match &l.input {
            // Submit and retract: the name recorded is the signing key's
            // (checked when applied), never what the request claims; the
            // entry carries the key id.
            Input::Command(Command::Grant(s), _) => {
                note.grant = GrantDoc::parse(&s.bytes).ok().map(|d| grant(&d));
            }
            Input::Command(Command::Revoke(s), _) => {
                note.grant = RevocationDoc::parse(&s.bytes).ok().map(|d| revocation(&d));
            }
            Input::Message { envelope, .. } | Input::Courier { envelope, .. } | Input::TrackWindow { envelope, .. } => {
                note.message_id = Some(envelope.message_id.to_string());
                note.grant = match &envelope.payload {
                    Payload::Grant(g) => Some(grant(&g.doc)),
                    Payload::Revocation(r) => Some(revocation(&r.doc)),
                    _ => None,
                };
            }
            _ => {}
        }
        note
    }

    /// The entry an event of the input `note` describes: ids and enum names only.
    pub(super) fn describe(&self, note: &InputNote, ev: &Event) -> Entry {
        let w = tisa_transport::control::watch_event(ev, note.at);
        let mut e = Entry {
            at_ms: note.at.as_millis(),
            actor: self.party.to_string(),
            kind: w.kind.clone(),
            report_id: w.report_id.clone(),
            revision: (w.revision > 0).then_some(w.revision),
            request_id: w.request_id.clone(),
            recipient: w.recipient.map(|p| p.to_string()),
            key_id: note.key_id.clone(),
            ..Entry::default()
        };
        let basis = |b: &Basis| match b {
            Basis::Trilateral => "TRILATERAL",
            Basis::Bilateral => "BILATERAL",
        };
        #[allow(unreachable_patterns)] // robust to events added to the core later
        match ev {
            Event::Submitted { header } => {
                e.kind = "SUBMIT".into();
                if let Some(op) = &note.actor {
                    e.actor = op.clone();
                }
                e.detail = format!(
                    "category={} classification={} rel_to={}",
                    header.category, header.classification, header.releasable_to
                );
            }
            Event::ReportHeld { header } => {
                e.detail = format!(
                    "originator={} category={} classification={} rel_to={}",
                    header.originator, header.category, header.classification, header.releasable_to
                );
            }
            Event::ReleaseRequested { request } => {
                e.detail = format!("expires_at_ms={}", request.expires_at.as_millis());
            }
            Event::Decided { decision } => {
                if valid_name(&decision.operator) {
                    e.actor = decision.operator.clone();
                }
                let verdict = match decision.decision {
                    Decision::ApproveFull => "APPROVE_FULL",
                    Decision::ApproveTearline => "APPROVE_TEARLINE",
                    Decision::Deny { .. } => "DENY",
                };
                let by = decision.report_id.prefix_party().map_or("-".to_owned(), |p| p.to_string());
                e.detail =
                    format!("verdict={verdict} approver_party={by} decided_at_ms={}", decision.decided_at.as_millis());
            }
            Event::Forwarded { header, basis: b, tearline_only, .. } => {
                e.detail = format!(
                    "originator={} basis={} tearline_only={tearline_only} category={} classification={}",
                    header.originator,
                    basis(b),
                    header.category,
                    header.classification
                );
            }
            // The title stays out: ids and enum names only.
            Event::Received { header, basis: b, tearline_only, .. } => {
                e.detail = format!(
                    "originator={} basis={} tearline_only={tearline_only} category={} classification={}",
                    header.originator,
                    basis(b),
                    header.category,
                    header.classification
                );
            }
            Event::Progress { progress } => {
                e.detail = match &progress.stage {
                    Stage::Accepted => "stage=ACCEPTED".to_owned(),
                    Stage::NotReleasable(why) => format!("stage=NOT_RELEASABLE why={}", why.code()),
                    Stage::Forwarded { tearline_only } => format!("stage=FORWARDED tearline_only={tearline_only}"),
                    Stage::Denied => "stage=DENIED".to_owned(),
                    Stage::Expired => "stage=EXPIRED".to_owned(),
                    Stage::Retracted => "stage=RETRACTED".to_owned(),
                };
            }
            Event::ReceiptReceived { receipt, audit_head } => {
                e.detail = format!(
                    "recipient={} received_at_ms={} manifest_sha256={}",
                    receipt.recipient,
                    receipt.received_at.as_millis(),
                    hex(&receipt.manifest_sha256)
                );
                e.peer_head = audit_head.as_ref().map(|h| PeerHead {
                    party: h.party.to_string(),
                    seq: h.seq,
                    hash: hex(&h.hash),
                });
            }
            Event::Retracted { originator, .. } => {
                if let Some(op) = &note.actor {
                    e.actor = op.clone();
                }
                e.detail = format!("originator={originator} scope=ALL_REVISIONS");
            }
            Event::RetractionForwarded { recipient, .. } => {
                e.detail = format!("recipient={recipient} approval=NOT_NEEDED");
            }
            Event::Reconciled { link, resent } => {
                e.detail = format!("link={link} resent={resent}");
            }
            Event::Unauthorized { verb, key, why } => {
                e.key_id = key.map(|k| k.to_string());
                e.detail = format!("verb={verb} code={}", unauthorized_code(why));
            }
            Event::Expired { request } => {
                e.detail = format!("expires_at_ms={} counts_as=DENY", request.expires_at.as_millis());
            }
            Event::Rejected { link, kind, message_id, reason } => {
                e.detail =
                    format!("code={} kind={kind} message_id={} link={link}", reason.code(), clean(message_id.as_str()));
            }
            Event::RejectionReceived { link, rejection } => {
                // The peer's free-text detail is left out.
                e.detail = format!(
                    "code={} refers_to={} link={link}",
                    clean(&rejection.code),
                    clean(rejection.refers_to.as_str())
                );
            }
            // The track's id (as the report id), its last sequence number
            // (as the revision), the grant's id; numbers and the link.
            Event::TrackWindow { link, first_seq, last_seq, updates, grant_id, .. } => {
                e.detail = format!("seq={first_seq}..{last_seq} updates={updates} link={link}");
                e.grant_id = grant_id.as_deref().map(clean);
            }
            Event::AgreementSwitched { .. }
            | Event::AgreementMismatch { .. }
            | Event::NotUnderAgreement { .. }
            | Event::HeldForAgreement { .. }
            | Event::BundleExported { .. }
            | Event::BundleImported { .. } => {
                // Versions, hashes, parties and kinds only.
                e.detail = clean(&w.detail);
            }
            _ => {}
        }
        e
    }
}
