//! The canonical document format every signature covers: a first line
//! naming the document (`tisa.v1.manifest`), then `key=value` lines in a
//! fixed order, each ending in `\n`. [`Doc`] writes it; [`Reader`] parses
//! it strictly, and [`canonical`] re-serialises what was parsed to check
//! that the bytes were canonical. Also the digests the documents carry.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::types::{Category, Party, PartySet};

/// Domain separation prefix of every signature.
pub(super) const SIG_CONTEXT: &[u8] = b"tisa-signature-v1\0";

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

/// The digests of a report's content that documents sign instead of the
/// text (manifest, submission): title, body, tearline (if any), source.
pub(super) fn content_digests(c: &crate::report::Content) -> (Digest32, Digest32, Option<Digest32>, Digest32) {
    (
        sha256(c.title.expose().as_bytes()),
        sha256(c.body.expose().as_bytes()),
        c.tearline.as_ref().map(|t| sha256(t.expose().as_bytes())),
        sha256(c.source.expose().as_bytes()),
    )
}

/// Lowercase hex, written by the `hex` crate's table into one buffer (its
/// `encode` goes a `char` at a time: a tenth of the nodes' time spent on
/// documents went there; they are written and re-written on every
/// report's path).
pub(super) fn hex(d: &Digest32) -> String {
    hex_bytes(d)
}

/// [`hex`] of any length.
pub(super) fn hex_bytes(d: &[u8]) -> String {
    let mut buf = vec![0u8; d.len() * 2];
    // Fails only if the buffer is not twice the input's length.
    let _ = ::hex::encode_to_slice(d, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// A 32-byte digest from 64 hex digits (either case here; a document's
/// canonical check then refuses uppercase).
pub(super) fn unhex(s: &str) -> Option<Digest32> {
    let mut out = [0u8; 32];
    ::hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Why a signed document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Not a well-formed canonical document of the expected kind.
    #[error("malformed {0} document")]
    Malformed(&'static str),
    /// The signer is not a registered key of the expected party and role.
    #[error("{signer:?} is not a registered {role} key of {party}")]
    UnknownSigner {
        /// The claimed signer.
        signer: String,
        /// Expected party.
        party: Party,
        /// Expected role.
        role: &'static str,
    },
    /// The signature does not verify.
    #[error("bad signature by {0:?}")]
    BadSignature(String),
    /// The document does not describe what it came with.
    #[error("{0} does not match the data it came with")]
    Mismatch(&'static str),
}

/// A document being written: one buffer, sized for most kinds and shrunk
/// to fit at the end, each field formatted straight into it (documents
/// are written on every report's path, and written again to check that a
/// parsed one is canonical).
pub(super) struct Doc(String);

impl Doc {
    pub(super) fn new(kind: &str) -> Doc {
        let mut s = String::with_capacity(768);
        s.push_str("tisa.v1.");
        s.push_str(kind);
        s.push('\n');
        Doc(s)
    }
    pub(super) fn kv(mut self, k: &str, v: impl fmt::Display) -> Doc {
        use fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = writeln!(self.0, "{k}={v}");
        self
    }
    pub(super) fn bytes(mut self) -> Vec<u8> {
        // Documents are kept (pending state holds manifests): no slack.
        self.0.shrink_to_fit();
        self.0.into_bytes()
    }
}

pub(super) struct Reader<'a> {
    kind: &'static str,
    lines: std::str::Split<'a, char>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], kind: &'static str) -> Result<Reader<'a>, SigError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SigError::Malformed(kind))?;
        let body = text.strip_suffix('\n').ok_or(SigError::Malformed(kind))?;
        let mut lines = body.split('\n');
        if lines.next().and_then(|first| first.strip_prefix("tisa.v1.")) != Some(kind) {
            return Err(SigError::Malformed(kind));
        }
        Ok(Reader { kind, lines })
    }
    pub(super) fn get(&mut self, key: &str) -> Result<&'a str, SigError> {
        let line = self.lines.next().ok_or(SigError::Malformed(self.kind))?;
        let (k, v) = line.split_once('=').ok_or(SigError::Malformed(self.kind))?;
        if k != key {
            return Err(SigError::Malformed(self.kind));
        }
        Ok(v)
    }
    pub(super) fn parse<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, SigError> {
        self.get(key)?.parse().map_err(|_| SigError::Malformed(self.kind))
    }
    pub(super) fn digest(&mut self, key: &str) -> Result<Digest32, SigError> {
        unhex(self.get(key)?).ok_or(SigError::Malformed(self.kind))
    }
    pub(super) fn end(mut self) -> Result<(), SigError> {
        if self.lines.next().is_some() {
            return Err(SigError::Malformed(self.kind));
        }
        Ok(())
    }
}

pub(super) fn parties_str(s: PartySet) -> String {
    s.iter().map(Party::code).collect::<Vec<_>>().join(",")
}

pub(super) fn categories_str(c: &[Category]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

/// Checks that parsing then writing gives back exactly `bytes`.
pub(super) fn canonical<T>(
    bytes: &[u8],
    doc: T,
    write: impl Fn(&T) -> Vec<u8>,
    kind: &'static str,
) -> Result<T, SigError> {
    if write(&doc) != bytes {
        return Err(SigError::Malformed(kind));
    }
    Ok(doc)
}

/// Folds a free-text field onto one line (documents are line-based).
pub(super) fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod hex_tests {
    #[test]
    fn hex_is_lowercase_two_digits_a_byte_and_reads_back() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex_bytes(&bytes), want);
        let d: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        assert_eq!(super::unhex(&super::hex(&d)), Some(d));
        assert_eq!(super::hex_bytes(&[]), "");
    }
}
