//! Why a release request was asked of the approver at all: which of the
//! party's standing grants to that recipient could have released the
//! revision without asking, and why each did not.

use tisa_core::{GrantView, PendingView, Timestamp};

/// One sentence: why no standing grant covers `v`'s release (as of `now`).
pub fn uncovered(v: &PendingView, grants: &[GrantView], now: Timestamp) -> String {
    let h = &v.header;
    let to = v.request.recipient;
    let mine: Vec<&GrantView> = grants.iter().filter(|g| g.grant.doc.recipient == to).collect();
    if mine.is_empty() {
        return format!("no standing grant to {}", to.code());
    }
    let mut why = Vec::new();
    for g in mine {
        let d = &g.grant.doc;
        let reason = if g.revoked {
            "revoked".to_owned()
        } else if g.proposed {
            "only proposed: awaiting a second approver's co-signature".to_owned()
        } else if d.not_after.is_some_and(|t| t <= now) {
            "expired".to_owned()
        } else if !d.categories.contains(&h.category) {
            let cats: Vec<String> = d.categories.iter().map(|c| c.to_string()).collect();
            format!("covers {} only", cats.join(", "))
        } else if h.classification > d.max_classification {
            format!("covers up to {} only", d.max_classification)
        } else if d.issued_at > v.request.requested_at {
            "issued after this request was opened".to_owned()
        } else if d.tearline_only && !v.has_tearline {
            "releases tearlines only, and this revision has none".to_owned()
        } else {
            "would cover it (the hub asked before it held the grant?)".to_owned()
        };
        why.push(format!("grant {} {reason}", d.grant_id));
    }
    why.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tisa_core::sign::GrantDoc;
    use tisa_core::{
        Category, Classification, Grant, Party, PartySet, ReleaseRequest, ReportHeader, ReportId, RequestId, Sensitive,
        Signed,
    };

    fn signed() -> Signed {
        Signed::unsigned(Vec::new(), String::new())
    }

    fn request(category: Category, classification: Classification) -> PendingView {
        let id = ReportId::new("KR-0001").unwrap();
        PendingView {
            request: ReleaseRequest {
                request_id: RequestId::new("KR-0001.r1.JP").unwrap(),
                report_id: id.clone(),
                revision: 1,
                recipient: Party::Jp,
                requested_at: Timestamp(1_000),
                expires_at: Timestamp(90_000),
            },
            header: ReportHeader {
                id,
                revision: 1,
                originator: Party::Kr,
                created_at: Timestamp(500),
                category,
                classification,
                releasable_to: PartySet::default(),
            },
            title: Sensitive::new("t"),
            has_tearline: false,
            manifest: signed(),
            body: None,
            content: None,
        }
    }

    fn grant(id: &str, to: Party, categories: &[Category], max: Classification) -> GrantView {
        GrantView {
            grant: Grant {
                doc: GrantDoc {
                    grant_id: id.into(),
                    originator: Party::Kr,
                    recipient: to,
                    categories: categories.to_vec(),
                    max_classification: max,
                    tearline_only: false,
                    issued_at: Timestamp(10),
                    not_after: None,
                    operator: "kim".into(),
                },
                signed: signed(),
                cosign: None,
            },
            revoked: false,
            proposed: false,
        }
    }

    #[test]
    fn says_which_grant_falls_short_and_how() {
        let v = request(Category::NkMissile, Classification::Secret);
        let now = Timestamp(2_000);
        assert_eq!(uncovered(&v, &[], now), "no standing grant to JP");
        let other = grant("g0", Party::Us, &[Category::NkMissile], Classification::Secret);
        assert_eq!(uncovered(&v, &[other], now), "no standing grant to JP", "a grant to another recipient");
        let nuclear = grant("g1", Party::Jp, &[Category::NkNuclear], Classification::Secret);
        assert!(uncovered(&v, std::slice::from_ref(&nuclear), now).contains("g1 covers"), "category");
        let low = grant("g2", Party::Jp, &[Category::NkMissile], Classification::Confidential);
        assert!(uncovered(&v, std::slice::from_ref(&low), now).contains("g2 covers up to"), "classification");
        let mut revoked = grant("g3", Party::Jp, &[Category::NkMissile], Classification::Secret);
        revoked.revoked = true;
        assert!(uncovered(&v, std::slice::from_ref(&revoked), now).contains("g3 revoked"));
        let mut proposed = grant("g4", Party::Jp, &[Category::NkMissile], Classification::Secret);
        proposed.proposed = true;
        assert!(uncovered(&v, std::slice::from_ref(&proposed), now).contains("g4 only proposed"));
        let mut expired = grant("g5", Party::Jp, &[Category::NkMissile], Classification::Secret);
        expired.grant.doc.not_after = Some(Timestamp(1_500));
        assert!(uncovered(&v, std::slice::from_ref(&expired), now).contains("g5 expired"));
        // Every grant to the recipient is named.
        let all = uncovered(&v, &[nuclear, low, revoked], now);
        assert!(all.contains("g1") && all.contains("g2") && all.contains("g3"), "{all}");
        // Control: a grant that covers it says so.
        let fits = grant("g6", Party::Jp, &[Category::NkMissile], Classification::Secret);
        assert!(uncovered(&v, &[fits], now).contains("g6 would cover it"));
    }
}
