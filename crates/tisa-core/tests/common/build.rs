//! Building inputs by hand: drafts, envelopes, and signed documents (as
//! an originator would sign them, or as a forger would).

use std::time::Duration;

use super::*;

/// A report id.
pub fn report_id(s: &str) -> ReportId {
    ReportId::new(s).expect("valid report id")
}

/// The request id the hub uses to ask about `id` revision `rev` for `recipient`.
pub fn rid(id: &str, rev: u32, recipient: Party) -> RequestId {
    RequestId::for_release(&report_id(id), rev, recipient)
}

/// A releasable-to set, e.g. `rel("USA,JPN")`.
pub fn rel(s: &str) -> PartySet {
    s.parse().expect("valid releasable-to")
}

/// Canary content: every field carries `tag` and a marker that must never
/// show up in a log line or reach a party it was not released to.
pub fn content(tag: &str, tearline: bool) -> Content {
    Content {
        title: Sensitive::new(format!("CANARY-TITLE-{tag}")),
        body: Sensitive::new(format!("CANARY-BODY-{tag}: launch window and telemetry")),
        tearline: tearline.then(|| Sensitive::new(format!("CANARY-TEARLINE-{tag}: a launch occurred"))),
        source: Sensitive::new(format!("CANARY-SOURCE-{tag}: a human source")),
    }
}

/// Who submits the test drafts: an operator who is no one's approver.
pub const CLERK: &str = "duty-officer";

/// A draft with canary content tagged `tag` and a tearline.
pub fn draft(category: Category, classification: Classification, releasable_to: &str, tag: &str) -> ReportDraft {
    ReportDraft {
        offline: false,
        category,
        classification,
        releasable_to: rel(releasable_to),
        content: content(tag, true),
        corrects: None,
        submitted_by: CLERK.to_owned(),
        // Drafts here are KR's, JP's or US's alike: the clerk's key is party-blind.
        submitter_key: submitter_key(Party::Kr, CLERK),
        submission: None,
        source_key: None,
    }
}

/// A draft without a tearline.
pub fn draft_no_tearline(
    category: Category,
    classification: Classification,
    releasable_to: &str,
    tag: &str,
) -> ReportDraft {
    ReportDraft { content: content(tag, false), ..draft(category, classification, releasable_to, tag) }
}

/// A hand-made envelope (for forged or replayed input).
pub fn envelope(sender: Party, message_id: &str, sent_at: Timestamp, payload: Payload) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: MessageId::new(message_id).expect("valid message id"),
        sender,
        sent_at,
        agreement: tisa_core::Policy::default().tag(),
        payload,
    }
}

/// Every piece of report content (title, body, tearline, source) a payload carries, exposed.
pub fn exposed(p: &Payload) -> Vec<String> {
    match p {
        Payload::Report(r) => content_strings(&r.content),
        Payload::Delivery(d) => released_strings(&d.released),
        _ => Vec::new(),
    }
}

/// Every piece of content in `c`, exposed.
pub fn content_strings(c: &Content) -> Vec<String> {
    let mut v = vec![c.title.expose().to_owned(), c.body.expose().to_owned(), c.source.expose().to_owned()];
    v.extend(c.tearline.iter().map(|t| t.expose().to_owned()));
    v
}

/// Every piece of content in `r`, exposed.
pub fn released_strings(r: &Released) -> Vec<String> {
    match r {
        Released::Full(c) => content_strings(c),
        Released::Tearline(t) => vec![t.expose().to_owned()],
    }
}

/// A duration in ms.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("fits")
}

// ----------------------------------------------------------------------
// Signed documents, built by hand (as an originator, or as a forger)
// ----------------------------------------------------------------------

#[allow(unused_imports)]
pub use tisa_core::sign::{
    sha256, AuditHeadDoc, DecisionDoc, GrantDoc, Manifest, RetractionDoc, RevocationDoc, Verdict,
};

/// The manifest of `header` + `content`, signed by `signer`.
pub fn manifest(header: &ReportHeader, content: &Content, submitted_by: &str, signer: &Identity) -> Signed {
    signer.sign(Manifest::of(header, content, submitted_by, submitter_key(header.originator, submitted_by)).to_bytes())
}

/// A report as `header.originator`'s node would send it (genuinely signed).
pub fn signed_report(header: ReportHeader, content: Content) -> Report {
    let manifest = manifest(&header, &content, CLERK, &node_key(header.originator));
    Report { header, content, manifest }
}

/// The decision document on revision `rev` of `id` for `recipient`, about `manifest`.
#[allow(clippy::too_many_arguments)]
pub fn decision_doc(
    manifest: &Signed,
    id: &str,
    rev: u32,
    recipient: Party,
    verdict: Verdict,
    at: Timestamp,
    operator: &str,
) -> DecisionDoc {
    DecisionDoc {
        manifest_sha256: sha256(&manifest.bytes),
        request_id: rid(id, rev, recipient),
        report_id: report_id(id),
        revision: rev,
        recipient,
        verdict,
        reason: if verdict == Verdict::Deny { "no".to_owned() } else { String::new() },
        decided_at: at,
        operator: operator.to_owned(),
    }
}

/// The domain decision of a verdict.
pub fn decision_of(doc: &DecisionDoc) -> Decision {
    match doc.verdict {
        Verdict::ApproveFull => Decision::ApproveFull,
        Verdict::ApproveTearline => Decision::ApproveTearline,
        Verdict::Deny => Decision::Deny { reason: doc.reason.clone() },
    }
}

/// A release decision whose fields are those of `signed`'s document (as the
/// transport builds it from the wire, where only the signed bytes travel).
pub fn release_decision(signed: Signed) -> ReleaseDecision {
    let doc = DecisionDoc::parse(&signed.bytes).expect("a well-formed decision document");
    ReleaseDecision {
        request_id: doc.request_id.clone(),
        report_id: doc.report_id.clone(),
        revision: doc.revision,
        recipient: doc.recipient,
        decision: decision_of(&doc),
        decided_at: doc.decided_at,
        operator: doc.operator.clone(),
        manifest_sha256: doc.manifest_sha256,
        signed,
    }
}

/// `doc`, signed by `signer`, as a release decision.
pub fn signed_decision(doc: &DecisionDoc, signer: &Identity) -> ReleaseDecision {
    release_decision(signer.sign(doc.to_bytes()))
}

/// A grant message: `doc` signed by `signer`.
pub fn grant_msg(doc: &GrantDoc, signer: &Identity) -> Grant {
    Grant { doc: doc.clone(), signed: signer.sign(doc.to_bytes()), cosign: None }
}

/// A revocation message: `doc` signed by `signer`.
pub fn revocation_msg(doc: &RevocationDoc, signer: &Identity) -> Revocation {
    Revocation { doc: doc.clone(), signed: signer.sign(doc.to_bytes()) }
}

/// The hub's own `report`, delivered over a bilateral link.
pub fn bilateral(report: &Report) -> Delivery {
    Delivery {
        header: report.header.clone(),
        released: Released::Full(report.content.clone()),
        basis: Basis::Bilateral,
        request_id: None,
        manifest: report.manifest.clone(),
        consent: None,
    }
}

/// A trilateral delivery of `report` to `to` as the hub would build it.
pub fn trilateral(report: &Report, to: Party, tearline_only: bool, consent: Option<Consent>) -> Delivery {
    let released = if tearline_only {
        Released::Tearline(report.content.tearline.clone().unwrap_or_default())
    } else {
        Released::Full(report.content.clone())
    };
    Delivery {
        header: report.header.clone(),
        released,
        basis: Basis::Trilateral,
        request_id: Some(RequestId::for_release(&report.header.id, report.header.revision, to)),
        manifest: report.manifest.clone(),
        consent,
    }
}
