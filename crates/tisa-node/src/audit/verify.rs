//! Verifying an audit log: the chain, the signed heads, and that it
//! reaches every head recorded outside it.

use tisa_core::{KeyRole, Party, Policy, Signed};

use super::entry::{head_document, hex, unhex, unhex32, Entry, SignedHead};
use super::ZERO;

/// A head recorded outside the file (the store, `audit.head`, an export).
#[derive(Clone, Debug)]
pub struct KnownHead {
    /// Where it was recorded (for messages).
    pub source: String,
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Why verification failed: where (1-based line, seq when known) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", place(*line, *seq))]
pub struct VerifyError {
    /// The line at fault, if one is.
    pub line: Option<usize>,
    /// Its seq, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

fn place(line: Option<usize>, seq: Option<u64>) -> String {
    match (line, seq) {
        (Some(l), Some(s)) => format!("line {l} (seq {s}): "),
        (Some(l), None) => format!("line {l}: "),
        (None, _) => String::new(),
    }
}

/// What a successful verification found.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The log's party (trigraph), if it has entries.
    pub party: Option<String>,
    /// Number of entries.
    pub entries: u64,
    /// The last entry's hash (hex; zeros if empty).
    pub last_hash: String,
    /// Number of HEAD entries, all verified.
    pub heads: u64,
    /// The latest HEAD entry.
    pub last_head: Option<Entry>,
}

/// Parses an audit log's lines, strictly (each must be a canonical entry).
pub fn parse_lines(bytes: &[u8]) -> Result<Vec<Entry>, VerifyError> {
    let at = |line: usize, seq: Option<u64>, reason: String| VerifyError { line: Some(line), seq, reason };
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            return Err(at(
                n,
                None,
                "incomplete entry at the end of the file (no newline): a torn write or an edit".into(),
            ));
        };
        let raw = &rest[..end];
        rest = &rest[end + 1..];
        let e: Entry = serde_json::from_slice(raw)
            .map_err(|err| at(n, None, format!("not a valid audit entry ({err}): the line was edited")))?;
        if e.line() != raw {
            return Err(at(n, Some(e.seq), "not in canonical form: the line was edited".into()));
        }
        out.push(e);
    }
    Ok(out)
}

/// Verifies an audit log: the chain (every entry's hash, every `prev`,
/// contiguous seqs from 1, one party, no input's entry twice), every HEAD's
/// signature against `policy`'s node keys of the party (when `policy` is
/// given), and that the file reaches every `known` head. Names the first
/// line at fault.
pub fn verify(bytes: &[u8], policy: Option<&Policy>, known: &[KnownHead]) -> Result<Summary, VerifyError> {
    let entries = parse_lines(bytes)?;
    let at = |line: usize, seq: u64, reason: String| VerifyError { line: Some(line), seq: Some(seq), reason };
    let mut prev = ZERO;
    let mut s = Summary::default();
    let mut last_input: Option<(u64, u32)> = None;
    for (i, e) in entries.iter().enumerate() {
        let line = i + 1;
        let expected = i as u64 + 1;
        if e.seq != expected {
            let reason = match entries.iter().skip(i + 1).position(|x| x.seq == expected) {
                Some(j) => format!("out of order: expected seq {expected} here, it is at line {}", line + 1 + j),
                None if e.seq > expected => {
                    format!("entries removed: seq {expected} to {} are missing before it", e.seq - 1)
                }
                None => format!("out of order or duplicated: expected seq {expected}"),
            };
            return Err(at(line, e.seq, reason));
        }
        if unhex32(&e.prev) != Some(prev) {
            return Err(at(
                line,
                e.seq,
                "chain broken: prev is not the hash of the entry before (an entry was removed, reordered or edited)"
                    .into(),
            ));
        }
        match (e.compute_hash(), unhex32(&e.hash)) {
            (Some(h), Some(stored)) if h == stored => prev = h,
            _ => return Err(at(line, e.seq, "hash mismatch: the entry was edited".into())),
        }
        match &s.party {
            None => s.party = Some(e.party.clone()),
            Some(p) if *p != e.party => {
                return Err(at(line, e.seq, format!("party {} differs from the log's party {p}", e.party)))
            }
            _ => {}
        }
        if let (Some(is), Some(ip)) = (e.input_seq, e.input_part) {
            if last_input.is_some_and(|l| (is, ip) <= l) {
                return Err(at(line, e.seq, format!("duplicate or out-of-order entry for input {is} part {ip}")));
            }
            last_input = Some((is, ip));
        }
        if e.kind == "HEAD" {
            let h = e.head.as_ref().ok_or_else(|| at(line, e.seq, "HEAD entry without a signed head".into()))?;
            let before = if i == 0 { hex(&ZERO) } else { entries[i - 1].hash.clone() };
            if h.seq != expected - 1 || h.hash != before {
                return Err(at(line, e.seq, "HEAD does not name the entry before it".into()));
            }
            if let Some(policy) = policy {
                verify_head(policy, &e.party, h).map_err(|r| at(line, e.seq, r))?;
            }
            s.heads += 1;
            s.last_head = Some(e.clone());
        } else if e.head.is_some() {
            return Err(at(line, e.seq, "a signed head on a non-HEAD entry".into()));
        }
    }
    s.entries = entries.len() as u64;
    s.last_hash = hex(&prev);
    for k in known {
        if k.seq > s.entries {
            let ends = match entries.last() {
                Some(e) => format!("the log ends at seq {} (line {})", e.seq, entries.len()),
                None => "the log is empty".to_owned(),
            };
            return Err(VerifyError {
                line: None,
                seq: None,
                reason: format!(
                    "entries missing at the end: {ends} but {} records seq {} (seq {} to {} were cut off)",
                    k.source,
                    k.seq,
                    s.entries + 1,
                    k.seq
                ),
            });
        }
        if k.seq > 0 {
            let i = usize::try_from(k.seq - 1).unwrap_or(usize::MAX);
            if entries.get(i).and_then(|e| unhex32(&e.hash)) != Some(k.hash) {
                return Err(at(i + 1, k.seq, format!("does not match the head recorded in {}", k.source)));
            }
        }
    }
    Ok(s)
}

/// Verifies a HEAD's signature against the node keys `policy` registers for `party`.
pub fn verify_head(policy: &Policy, party: &str, h: &SignedHead) -> Result<(), String> {
    let p: Party = party.parse().map_err(|_| format!("unknown party {party:?}"))?;
    let signature =
        unhex(&h.signature).and_then(|v| <[u8; 64]>::try_from(v).ok()).ok_or("HEAD signature is malformed")?;
    let signed =
        Signed { bytes: head_document(party, h.seq, &h.hash), signer: h.signer.clone(), signature, batch: None };
    let entry = tisa_core::sign::verify(policy, p, KeyRole::Node, &signed)
        .map_err(|e| format!("HEAD signature does not verify against the agreement: {e}"))?;
    if hex(&entry.public) != h.public {
        return Err(format!("HEAD names a public key other than {}'s registered one", h.signer));
    }
    Ok(())
}
