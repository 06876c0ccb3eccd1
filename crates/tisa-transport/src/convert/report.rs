//! Reports, their headers and deliveries, and why a report is not releasable.

use tisa_core::{
    Basis, Consent, Content, Delivery, NotReleasable, Released, Report, ReportHeader, Sensitive, Signed, Timestamp,
};

use super::{
    category_from, category_to, class_from, class_to, decision_from_signed, grant_from_signed, opt_request_id,
    parties_from, parties_to, party_from, party_to, report_id, signed_from, signed_to, Wire,
};
use crate::error::DecodeError;
use crate::proto;

/// Header + content → wire report.
pub(crate) fn report_to_proto(
    h: &ReportHeader,
    c: Option<&Content>,
    tearline: Option<&Sensitive>,
    manifest: Option<&Signed>,
) -> proto::IntelligenceReport {
    proto::IntelligenceReport {
        id: h.id.to_string(),
        revision: h.revision,
        originator: party_to(h.originator),
        created_at_ms: h.created_at.as_millis(),
        category: category_to(h.category),
        classification: class_to(h.classification),
        releasable_to: parties_to(h.releasable_to),
        title: c.map(|c| c.title.expose().to_owned()).unwrap_or_default(),
        body: c.map(|c| c.body.expose().to_owned()).unwrap_or_default(),
        tearline: tearline.or_else(|| c.and_then(|c| c.tearline.as_ref())).map(|t| t.expose().to_owned()),
        source_description: c.map(|c| c.source.expose().to_owned()).unwrap_or_default(),
        manifest: manifest.map(signed_to),
    }
}

pub(crate) fn header_from(r: &proto::IntelligenceReport) -> Result<ReportHeader, DecodeError> {
    if r.revision == 0 {
        return Err(DecodeError::Missing("report.revision"));
    }
    Ok(ReportHeader {
        id: report_id("report.id", r.id.clone())?,
        revision: r.revision,
        originator: party_from("report.originator", r.originator)?,
        created_at: Timestamp(r.created_at_ms),
        category: category_from(r.category)?,
        classification: class_from("report.classification", r.classification)?,
        releasable_to: parties_from(&r.releasable_to)?,
    })
}

pub(crate) fn report_from(r: proto::IntelligenceReport) -> Result<Report, DecodeError> {
    let header = header_from(&r)?;
    let manifest = signed_from("report.manifest", r.manifest)?;
    let content = Content {
        title: Sensitive::new(r.title),
        body: Sensitive::new(r.body),
        tearline: r.tearline.map(Sensitive::new),
        source: Sensitive::new(r.source_description),
    };
    Ok(Report { header, content, manifest })
}

/// A full report with its content and signed manifest (a report envelope,
/// a body in the node's store).
impl Wire for Report {
    type Proto = proto::IntelligenceReport;

    fn to_proto(&self) -> Self::Proto {
        report_to_proto(&self.header, Some(&self.content), None, Some(&self.manifest))
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        report_from(p)
    }
}

/// A header alone: a report without content or manifest.
impl Wire for ReportHeader {
    type Proto = proto::IntelligenceReport;

    fn to_proto(&self) -> Self::Proto {
        report_to_proto(self, None, None, None)
    }

    fn from_proto(p: Self::Proto) -> Result<Self, DecodeError> {
        header_from(&p)
    }
}

impl Wire for Delivery {
    type Proto = proto::Delivery;

    fn to_proto(&self) -> Self::Proto {
        use proto::delivery::Consent as C;
        let (report, tearline_only) = match &self.released {
            Released::Full(c) => (report_to_proto(&self.header, Some(c), None, Some(&self.manifest)), false),
            Released::Tearline(t) => (report_to_proto(&self.header, None, Some(t), Some(&self.manifest)), true),
        };
        let consent = self.consent.as_ref().map(|c| match c {
            Consent::Decision(dec) => C::Decision(signed_to(&dec.signed)),
            Consent::Grant(g) => C::Grant(signed_to(&g.signed)),
        });
        let grant_cosign = match &self.consent {
            Some(Consent::Grant(g)) => g.cosign.as_ref().map(signed_to),
            _ => None,
        };
        proto::Delivery {
            report: Some(report),
            basis: match self.basis {
                Basis::Trilateral => proto::Basis::Trilateral,
                Basis::Bilateral => proto::Basis::Bilateral,
            } as i32,
            request_id: self.request_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            tearline_only,
            consent,
            grant_cosign,
        }
    }

    fn from_proto(d: Self::Proto) -> Result<Self, DecodeError> {
        use proto::delivery::Consent as C;
        let mut r = d.report.ok_or(DecodeError::Missing("delivery.report"))?;
        let header = header_from(&r)?;
        let manifest = signed_from("delivery.report.manifest", r.manifest.take())?;
        let consent = match d.consent {
            None => None,
            Some(C::Decision(s)) => {
                Some(Consent::Decision(Box::new(decision_from_signed(signed_from("delivery.decision", Some(s))?)?)))
            }
            Some(C::Grant(s)) => {
                Some(Consent::Grant(grant_from_signed(signed_from("delivery.grant", Some(s))?, d.grant_cosign)?.into()))
            }
        };
        let released = if d.tearline_only {
            if !r.title.is_empty() || !r.body.is_empty() || !r.source_description.is_empty() {
                return Err(DecodeError::Inconsistent("tearline-only delivery carries title, body or source"));
            }
            Released::Tearline(Sensitive::new(r.tearline.ok_or(DecodeError::Missing("delivery.report.tearline"))?))
        } else {
            Released::Full(Content {
                title: Sensitive::new(r.title),
                body: Sensitive::new(r.body),
                tearline: r.tearline.map(Sensitive::new),
                source: Sensitive::new(r.source_description),
            })
        };
        let basis = match proto::Basis::try_from(d.basis) {
            Ok(proto::Basis::Trilateral) => Basis::Trilateral,
            Ok(proto::Basis::Bilateral) => Basis::Bilateral,
            _ => return Err(DecodeError::BadEnum { field: "delivery.basis", value: d.basis }),
        };
        Ok(Delivery {
            header,
            released,
            basis,
            request_id: opt_request_id("delivery.request_id", d.request_id)?,
            manifest,
            consent,
        })
    }
}

/// Why a report is not releasable, as flat wire fields (a `Progress`, a
/// submit's note, a recipient's status): code, category, classification,
/// ceiling (the last three 0 where the reason has none).
pub(crate) fn not_releasable_to(w: NotReleasable) -> (String, i32, i32, i32) {
    let (category, classification, ceiling) = match w {
        NotReleasable::OutOfScope(c) => (category_to(c), 0, 0),
        NotReleasable::AboveCeiling { classification, ceiling } => (0, class_to(classification), class_to(ceiling)),
        _ => (0, 0, 0),
    };
    (w.code().to_owned(), category, classification, ceiling)
}

/// The inverse of [`not_releasable_to`]; `fields` names the code's, the
/// classification's and the ceiling's fields (for errors).
pub(crate) fn not_releasable_from(
    fields: [&'static str; 3],
    code: &str,
    category: i32,
    classification: i32,
    ceiling: i32,
) -> Result<NotReleasable, DecodeError> {
    match code {
        "OUT_OF_SCOPE" => Ok(NotReleasable::OutOfScope(category_from(category)?)),
        "ABOVE_CEILING" => Ok(NotReleasable::AboveCeiling {
            classification: class_from(fields[1], classification)?,
            ceiling: class_from(fields[2], ceiling)?,
        }),
        "NOT_IN_RELEASABLE_TO" => Ok(NotReleasable::NotInReleasableTo),
        "NOT_A_THIRD_PARTY" => Ok(NotReleasable::NotAThirdParty),
        _ => Err(DecodeError::Missing(fields[0])),
    }
}
