//! Off-line bundles on the wire and on disk: the pages of `bundle-export`
//! and `bundle-import`, and the file a courier carries
//! ([`proto::BundleFile`]). A bundle's envelopes are encoded exactly as
//! on-line ([`crate::encode_envelope`]); its signed `tisa.v1.bundle`
//! document names each by SHA-256.

use prost::Message as _;
use tisa_core::sign::{sha256, BundleDoc, Digest32, SigError};
use tisa_core::{Envelope, Party, Signed};

use crate::convert::{party_from, party_to, signed_from, signed_to, Wire};
use crate::error::DecodeError;
use crate::proto;

/// The `format` of a bundle file.
pub const FORMAT: &str = "tisa-bundle-v1";

/// At most this many messages in one bundle (its document names each by
/// hash and must fit one broker message); the rest wait for the next.
pub const MAX_MESSAGES: usize = 2000;

/// Which page of a bundle to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRequest {
    /// The peer it is for.
    pub to: Party,
    /// `None`: build and sign a new bundle; `Some`: a later page of this one.
    pub bundle: Option<Digest32>,
    /// Index of the page's first message.
    pub first: u32,
}

/// One page of a bundle (`bundle-export`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundlePage {
    /// The signed `tisa.v1.bundle` document.
    pub document: Signed,
    /// Index of `envelopes[0]` in the bundle.
    pub first: u32,
    /// Encoded envelopes.
    pub envelopes: Vec<Vec<u8>>,
    /// How many the bundle holds.
    pub total: u32,
    /// Messages for the peer beyond this bundle's cap.
    pub left: u32,
}

/// A page of a bundle to import (`bundle-import`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// The bundle's signed document.
    pub document: Signed,
    /// Index of `envelopes[0]` in the bundle.
    pub first: u32,
    /// Encoded envelopes.
    pub envelopes: Vec<Vec<u8>>,
}

/// Why a bundle page does not match its document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The document does not parse.
    #[error("the bundle's document is malformed: {0}")]
    Document(SigError),
    /// An envelope is not the one the signed document names.
    #[error("message {index} of the bundle is not the one its signature covers: the bundle was altered")]
    Altered {
        /// Its index in the bundle.
        index: usize,
    },
    /// An envelope does not decode, or names another sender.
    #[error("message {index} of the bundle is not a message from {from}: {why}")]
    Bad {
        /// Its index in the bundle.
        index: usize,
        /// The exporter.
        from: Party,
        /// Why.
        why: String,
    },
}

impl ImportRequest {
    /// Checks every envelope against the document's hashes and decodes it
    /// (its sender must be the exporter). Nothing is taken unless all are.
    pub fn envelopes_checked(&self, doc: &BundleDoc) -> Result<Vec<Envelope>, PageError> {
        checked(doc, self.first as usize, &self.envelopes)
    }
}

/// Envelopes `first`, `first + 1`, … of the bundle `doc` describes, each
/// checked against its hash and decoded (its sender must be the exporter).
fn checked(doc: &BundleDoc, first: usize, envelopes: &[Vec<u8>]) -> Result<Vec<Envelope>, PageError> {
    envelopes
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let index = first + i;
            if doc.envelopes.get(index) != Some(&sha256(bytes)) {
                return Err(PageError::Altered { index });
            }
            let env =
                Envelope::decode(bytes).map_err(|e| PageError::Bad { index, from: doc.from, why: e.to_string() })?;
            if env.sender != doc.from {
                let why = format!("its sender is {}", env.sender);
                return Err(PageError::Bad { index, from: doc.from, why });
            }
            Ok(env)
        })
        .collect()
}

/// A bundle file: its signed document and every envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    /// The signed `tisa.v1.bundle` document.
    pub document: Signed,
    /// Encoded envelopes, in order.
    pub envelopes: Vec<Vec<u8>>,
}

impl BundleFile {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        proto::BundleFile {
            format: FORMAT.into(),
            document: Some(signed_to(&self.document)),
            envelopes: self.envelopes.clone(),
        }
        .encode_to_vec()
    }

    /// Reads a bundle file (not yet verified: the node verifies).
    pub fn from_bytes(bytes: &[u8]) -> Result<BundleFile, DecodeError> {
        let p = proto::BundleFile::decode(bytes)?;
        if p.format != FORMAT {
            return Err(DecodeError::Inconsistent("not a tisa bundle (format is not tisa-bundle-v1)"));
        }
        Ok(BundleFile { document: signed_from("bundle.document", p.document)?, envelopes: p.envelopes })
    }

    /// Its document, parsed (its signature is the node's to verify).
    pub fn doc(&self) -> Result<BundleDoc, SigError> {
        BundleDoc::parse(&self.document.bytes)
    }

    /// Checks every envelope against the document and decodes it.
    pub fn envelopes_checked(&self) -> Result<(BundleDoc, Vec<Envelope>), PageError> {
        let doc = self.doc().map_err(PageError::Document)?;
        if doc.envelopes.len() != self.envelopes.len() {
            return Err(PageError::Altered { index: self.envelopes.len().min(doc.envelopes.len()) });
        }
        let envs = checked(&doc, 0, &self.envelopes)?;
        Ok((doc, envs))
    }
}

impl Wire for ExportRequest {
    type Proto = proto::BundleExportRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::BundleExportRequest {
            to: party_to(self.to),
            bundle_sha256: self.bundle.map(|d| d.to_vec()).unwrap_or_default(),
            first: self.first,
        }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        let bundle = match p.bundle_sha256.len() {
            0 => None,
            32 => {
                let mut d = [0u8; 32];
                d.copy_from_slice(&p.bundle_sha256);
                Some(d)
            }
            _ => return Err(DecodeError::Inconsistent("bundle_sha256 is not 32 bytes")),
        };
        Ok(ExportRequest { to: party_from("bundle_export.to", p.to)?, bundle, first: p.first })
    }
}

impl Wire for ImportRequest {
    type Proto = proto::BundleImportRequest;

    fn to_proto(&self) -> Self::Proto {
        proto::BundleImportRequest {
            document: Some(signed_to(&self.document)),
            first: self.first,
            envelopes: self.envelopes.clone(),
        }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        Ok(ImportRequest {
            document: signed_from("bundle_import.document", p.document)?,
            first: p.first,
            envelopes: p.envelopes,
        })
    }
}

impl Wire for BundlePage {
    type Proto = proto::BundlePage;

    fn to_proto(&self) -> Self::Proto {
        proto::BundlePage {
            document: Some(signed_to(&self.document)),
            first: self.first,
            envelopes: self.envelopes.clone(),
            total: self.total,
            left: self.left,
        }
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        Ok(BundlePage {
            document: signed_from("bundle_page.document", p.document)?,
            first: p.first,
            envelopes: p.envelopes,
            total: p.total,
            left: p.left,
        })
    }
}

/// SHA-256 of a bundle's signed document: its id.
pub fn bundle_id(document: &Signed) -> Digest32 {
    sha256(&document.bytes)
}
