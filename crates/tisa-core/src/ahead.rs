//! The signature checks an input will ask for, found ahead of applying it
//! ([`checks_ahead`]): a node's shell runs them on another thread while the
//! input's commit (an `fdatasync`) runs, and the core's own checks are then
//! answered from the cache. This changes what a check costs on the
//! one-at-a-time path, never what it decides: see [`crate::sign::Check`].
//!
//! Missing a signature here only leaves its check to the core; naming one
//! the core never checks only costs a verification.

use std::borrow::Cow;

use crate::input::{Command, Input};
use crate::message::{Consent, Grant, Payload};
use crate::policy::Policy;
use crate::sign::{self, Check, Manifest, Signed};

/// The checks applying `input` will ask for, resolved against `policy`'s
/// keys (each signed document against the keys its signer field names).
pub fn checks_ahead(policy: &Policy, input: &Input) -> Vec<Check> {
    let mut docs: Vec<Cow<'_, Signed>> = Vec::new();
    match input {
        Input::Message { envelope, .. } | Input::Courier { envelope, .. } | Input::TrackWindow { envelope, .. } => {
            payload_docs(&envelope.payload, &mut docs)
        }
        Input::Command(command, auth) => {
            if let Some(a) = auth {
                docs.push(Cow::Borrowed(&a.action));
            }
            match command {
                Command::Submit { draft, .. } => docs.extend(draft.submission.as_ref().map(Cow::Borrowed)),
                Command::Decide(s) | Command::Grant(s) | Command::Revoke(s) | Command::Cosign(s) => {
                    docs.push(Cow::Borrowed(s))
                }
                Command::Track(_) | Command::CourierCopy { .. } | Command::Retract { .. } => {}
            }
        }
        Input::Timeout | Input::LinkUp { .. } => {}
    }
    let mut out = Vec::new();
    for d in &docs {
        sign::checks_for(policy, d, &mut out);
    }
    out
}

/// The signed documents a message carries.
fn payload_docs<'a>(payload: &'a Payload, out: &mut Vec<Cow<'a, Signed>>) {
    match payload {
        Payload::Report(r) => manifest_docs(&r.manifest, out),
        Payload::ReleaseDecision(d) => out.push(Cow::Borrowed(&d.signed)),
        Payload::Delivery(d) => {
            manifest_docs(&d.manifest, out);
            match &d.consent {
                Some(Consent::Decision(d)) => out.push(Cow::Borrowed(&d.signed)),
                Some(Consent::Grant(g)) => grant_docs(g, out),
                None => {}
            }
        }
        Payload::Grant(g) => grant_docs(g, out),
        Payload::Revocation(r) => out.push(Cow::Borrowed(&r.signed)),
        Payload::Track(t) => {
            out.push(Cow::Borrowed(&t.signed));
            if let Some(g) = &t.consent {
                grant_docs(g, out);
            }
        }
        Payload::Receipt(r) => {
            out.push(Cow::Borrowed(&r.signed));
            out.extend(r.audit_head.as_ref().map(Cow::Borrowed));
        }
        Payload::Retraction(r) => out.push(Cow::Borrowed(&r.signed)),
        Payload::Standing(s) => out.push(Cow::Borrowed(&s.signed)),
        Payload::ReleaseRequest(_) | Payload::Progress(_) | Payload::Rejection(_) | Payload::Hello => {}
    }
}

/// A manifest's node signature, and the submitter's it carries.
fn manifest_docs<'a>(manifest: &'a Signed, out: &mut Vec<Cow<'a, Signed>>) {
    out.push(Cow::Borrowed(manifest));
    if let Some((_, submission)) = Manifest::parse(&manifest.bytes).ok().and_then(|m| m.submission_signed()) {
        out.push(Cow::Owned(submission));
    }
}

fn grant_docs<'a>(g: &'a Grant, out: &mut Vec<Cow<'a, Signed>>) {
    out.push(Cow::Borrowed(&g.signed));
    out.extend(g.cosign.as_ref().map(Cow::Borrowed));
}
