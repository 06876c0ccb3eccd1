//! Off-line passage in the shell: the core marks what may only travel
//! off-line ([`Transmit::offline`]); here it is kept for the next bundle
//! and never published, exported as a signed bundle a page at a time
//! (`tisa bundle export`), and a bundle's messages are taken in
//! (`tisa bundle import`) as inputs of their own, exactly as if from the
//! link.
//!
//! Nothing is lost: an off-line message stays (and goes into every bundle
//! exported for its peer) until a bundle from that peer acknowledges it;
//! then it is recorded as sent, like an on-line message the broker
//! acknowledged, so a restart's replay does not bring it back. Each bundle
//! acknowledges the messages of the last bundle imported from its peer
//! (which carried everything the peer had not seen acknowledged).
//! Importing the same bundle twice, or a message that also came on-line,
//! changes nothing: the core takes a duplicate once.

use std::collections::HashMap;

use tisa_core::sign::{sha256, BundleDoc, Digest32};
use tisa_core::{Authorized, Event, Input, LoggedInput, MessageId, Party, Payload, Transmit};
use tisa_transport::bundle::{bundle_id, BundleFile, BundlePage, ExportRequest, ImportRequest, MAX_MESSAGES};
use tisa_transport::{encode_envelope, ControlReply};
use tracing::{info, warn};

use crate::actor::Actor;
use crate::clock::now;

/// Room kept in a page for its document and framing besides the envelopes.
const PAGE_FRAMING: usize = 4096;

/// What the shell keeps for off-line passage.
#[derive(Default)]
pub(crate) struct Courier {
    /// Off-line messages not yet acknowledged by their peer, in the order made.
    out: Vec<Transmit>,
    /// The bundle last exported (its id, the file, messages left beyond it):
    /// its later pages are read from here.
    exported: Option<(Digest32, BundleFile, u32)>,
    /// Per peer: the last bundle imported from it and its messages' ids,
    /// acknowledged in every bundle exported to it.
    acks: HashMap<Party, (Digest32, Vec<MessageId>)>,
}

impl Courier {
    /// How many off-line messages wait for `peer` (all peers: `None`).
    pub(crate) fn waiting(&self, peer: Option<Party>) -> usize {
        self.out.iter().filter(|t| peer.is_none_or(|p| t.to == p)).count()
    }
}

impl Actor {
    /// Keeps off-line transmits for the next bundle (never published).
    pub(crate) fn keep_offline(&mut self, ts: Vec<Transmit>) {
        if ts.is_empty() {
            return;
        }
        info!(messages = ts.len(), "kept for off-line passage (tisa bundle export)");
        self.courier.out.extend(ts);
    }

    /// `bundle-export`: the first page builds and signs a bundle of every
    /// off-line message waiting for the peer (up to [`MAX_MESSAGES`]),
    /// later pages come from it.
    pub(crate) fn bundle_export(&mut self, who: &Authorized, req: ExportRequest) -> ControlReply {
        let me = self.core.party();
        if req.to == me || !(me.is_hub() || req.to.is_hub()) {
            return ControlReply::error(
                "NO_LINK",
                format!("there is no {me}-{} link: a bundle goes to the other end of a link (through the hub)", req.to),
            );
        }
        let page_of = |file: &BundleFile, left: u32, first: u32, budget: usize| {
            let mut envelopes = Vec::new();
            let mut size = 0;
            for e in file.envelopes.iter().skip(first as usize) {
                if !envelopes.is_empty() && size + e.len() + 8 > budget {
                    break;
                }
                size += e.len() + 8;
                envelopes.push(e.clone());
            }
            ControlReply::BundlePage(BundlePage {
                document: file.document.clone(),
                first,
                envelopes,
                total: u32::try_from(file.envelopes.len()).unwrap_or(u32::MAX),
                left,
            })
        };
        let budget = self.links.max_payload().saturating_sub(PAGE_FRAMING);
        if let Some(id) = req.bundle {
            return match &self.courier.exported {
                Some((have, file, left)) if *have == id => {
                    let budget = budget.saturating_sub(file.document.bytes.len());
                    page_of(file, *left, req.first, budget)
                }
                _ => ControlReply::error("UNKNOWN_BUNDLE", "that bundle is no longer at hand: export again"),
            };
        }
        match self.build_bundle(req.to) {
            Ok((file, left)) => {
                let id = bundle_id(&file.document);
                let count = file.envelopes.len();
                let detail = format!("verb=courier export to={} messages={count} bundle={}", req.to, hex16(&id));
                self.audit.record_operator(&mut self.store, "BUNDLE_EXPORT", who.key_id.to_string(), &who.name, detail);
                let messages = u32::try_from(count).unwrap_or(u32::MAX);
                self.audited.push_back(Event::BundleExported { peer: req.to, messages, sha256: id, key: who.key_id });
                let budget = budget.saturating_sub(file.document.bytes.len());
                let reply = page_of(&file, left, 0, budget);
                self.courier.exported = Some((id, file, left));
                reply
            }
            Err(e) => ControlReply::error("STORAGE", e),
        }
    }

    /// Signs a bundle of what waits for `to`: bodies filled, receipts with
    /// this node's audit head; messages about a report retracted since are
    /// dropped (recorded as sent: their consent went with the report).
    fn build_bundle(&mut self, to: Party) -> Result<(BundleFile, u32), String> {
        let (mine, rest): (Vec<Transmit>, Vec<Transmit>) =
            std::mem::take(&mut self.courier.out).into_iter().partition(|t| t.to == to);
        self.courier.out = rest;
        let (keep, dropped): (Vec<Transmit>, Vec<Transmit>) =
            mine.into_iter().partition(|t| self.core.exportable(&t.envelope.payload));
        if !dropped.is_empty() {
            let ids: Vec<String> = dropped.iter().map(|t| t.envelope.message_id.to_string()).collect();
            warn!(messages = ids.len(), "off-line messages about retracted reports dropped, not exported");
            if let Err(e) = self.store.mark_sent(&ids) {
                warn!(error = %e, "cannot record dropped off-line messages (a restart drops them again)");
            }
        }
        self.courier.out.extend(keep.iter().cloned());
        let left = u32::try_from(keep.len().saturating_sub(MAX_MESSAGES)).unwrap_or(u32::MAX);
        // The bundle leaves the node's hands: every audit entry durable first.
        if let Err(e) = self.audit.flush(&mut self.store) {
            return Err(format!("cannot make the audit log durable before export: {e}"));
        }
        let mut envelopes = Vec::new();
        for mut t in keep.into_iter().take(MAX_MESSAGES) {
            if let Some(key) = t.body.clone() {
                if let Err(e) = self.body(&key).and_then(|b| t.fill(&b).map_err(Into::into)) {
                    return Err(format!("cannot read a report body to export: {e}"));
                }
            }
            if let Payload::Receipt(r) = &mut t.envelope.payload {
                if r.doc.recipient == self.core.party() && r.audit_head.is_none() {
                    r.audit_head = Some(self.audit.signed_head());
                }
            }
            // Sent now, under the agreement in force now (a version that
            // took effect while it waited is the one the receiver compares).
            t.envelope.agreement = self.core.policy().tag();
            envelopes.push(encode_envelope(&t.envelope));
        }
        let acks = self.courier.acks.get(&to).map(|(_, ids)| ids.clone()).unwrap_or_default();
        let doc = BundleDoc {
            from: self.core.party(),
            to,
            created_at: now(),
            agreement: self.core.policy().tag(),
            envelopes: envelopes.iter().map(|e| sha256(e)).collect(),
            acks,
        };
        let document = self.core.sign_bundle(&doc);
        Ok((BundleFile { document, envelopes }, left))
    }

    /// `bundle-import`: verifies the bundle's signature (the exporter's
    /// registered node key, for this party, over a link) and that every
    /// message of the page is one it names, then logs and applies each as
    /// an input from the exporter. The first page also applies the
    /// bundle's acknowledgements.
    pub(crate) fn bundle_import(&mut self, who: &Authorized, req: ImportRequest) -> ControlReply {
        let doc = match self.core.verify_bundle(&req.document) {
            Ok(d) => d,
            Err(e) => return self.refuse_bundle(who, "BUNDLE_REFUSED", &e.to_string()),
        };
        let envelopes = match req.envelopes_checked(&doc) {
            Ok(e) => e,
            Err(e) => return self.refuse_bundle(who, "BUNDLE_ALTERED", &e.to_string()),
        };
        let id = bundle_id(&req.document);
        let at = now();
        let from = doc.from;
        // A message sent under another agreement than this node enforces may
        // not be taken now (a trilateral release waits until the versions
        // agree): it is not acknowledged, so the exporter carries it again.
        let ours = self.core.policy().tag();
        let ids: Vec<MessageId> =
            envelopes.iter().filter(|e| e.agreement == ours).map(|e| e.message_id.clone()).collect();
        let inputs: Vec<LoggedInput> = envelopes
            .into_iter()
            .map(|envelope| LoggedInput { at, input: Input::Courier { link: from, envelope } })
            .collect();
        let taken = u32::try_from(inputs.len()).unwrap_or(u32::MAX);
        let seen = self.audited.len();
        if let Err(e) = self.log_and_apply_all(inputs) {
            return ControlReply::error("STORAGE", format!("cannot log the bundle's messages: {e}"));
        }
        let refused: Vec<String> = self
            .audited
            .iter()
            .skip(seen)
            .filter_map(|ev| match ev {
                Event::Rejected { message_id, reason, .. } => Some(format!("{message_id} {}: {reason}", reason.code())),
                Event::NotUnderAgreement { kind, theirs, ours, .. } => Some(format!(
                    "{kind} NOT_UNDER_AGREEMENT: exported under agreement {theirs}, this node enforces {ours}; import it again once the versions agree"
                )),
                _ => None,
            })
            .collect();
        // What to acknowledge in the next bundle to the exporter.
        let entry = self.courier.acks.entry(from).or_insert_with(|| (id, Vec::new()));
        if entry.0 != id {
            *entry = (id, Vec::new());
        }
        for m in ids {
            if !entry.1.contains(&m) {
                entry.1.push(m);
            }
        }
        if let Err(e) = self.store.set_courier_acks(from, &entry.0, &entry.1) {
            warn!(error = %e, "cannot record what to acknowledge to {from} (the next bundle may ask for it again)");
        }
        let acknowledged = if req.first == 0 { self.acknowledged(from, &doc.acks) } else { 0 };
        if req.first == 0 {
            let detail = format!(
                "verb=courier import from={from} messages={} acknowledged={acknowledged} bundle={}",
                doc.envelopes.len(),
                hex16(&id)
            );
            self.audit.record_operator(&mut self.store, "BUNDLE_IMPORT", who.key_id.to_string(), &who.name, detail);
            let messages = u32::try_from(doc.envelopes.len()).unwrap_or(u32::MAX);
            self.audited.push_back(Event::BundleImported { peer: from, messages, sha256: id, key: who.key_id });
        }
        ControlReply::BundleImported { taken, acknowledged, refused }
    }

    /// The peer took in these off-line messages: recorded as sent, no
    /// longer exported.
    fn acknowledged(&mut self, peer: Party, acks: &[MessageId]) -> u32 {
        let (done, keep): (Vec<Transmit>, Vec<Transmit>) = std::mem::take(&mut self.courier.out)
            .into_iter()
            .partition(|t| t.to == peer && acks.contains(&t.envelope.message_id));
        self.courier.out = keep;
        let ids: Vec<String> = done.iter().map(|t| t.envelope.message_id.to_string()).collect();
        if let Err(e) = self.store.mark_sent(&ids) {
            warn!(error = %e, "cannot record acknowledged off-line messages (a restart keeps them for export)");
        }
        u32::try_from(ids.len()).unwrap_or(u32::MAX)
    }

    /// A bundle refused before anything of it was taken: audited, answered.
    fn refuse_bundle(&mut self, who: &Authorized, code: &str, why: &str) -> ControlReply {
        warn!(code, error = %tisa_core::text::loggable(why), "bundle refused");
        let detail = format!("verb=courier import refused code={code}");
        self.audit.record_operator(&mut self.store, "BUNDLE_REFUSED", who.key_id.to_string(), &who.name, detail);
        ControlReply::error(code, why)
    }

    /// On start: what to acknowledge to each peer, as last recorded.
    pub(crate) fn load_courier_acks(&mut self) {
        for peer in [Party::Kr, Party::Us, Party::Jp] {
            match self.store.courier_acks(peer) {
                Ok(Some((id, ids))) => {
                    let ids = ids.into_iter().filter_map(|s| MessageId::new(s).ok()).collect();
                    self.courier.acks.insert(peer, (id, ids));
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "cannot read what to acknowledge to {peer}"),
            }
        }
    }
}

/// The first 16 hex digits of a bundle's id.
fn hex16(d: &Digest32) -> String {
    crate::audit::hex(&d[..8])
}
