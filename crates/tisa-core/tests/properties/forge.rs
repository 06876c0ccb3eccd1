//! The attacker's actions: forged and inconsistent messages, each of which
//! the receiving node must refuse, with the code the forgery calls for.

use super::*;

impl World {
    /// Injects a forgery and asserts it was refused (and answered at most by
    /// a rejection notice), or, for a delivery crafted by the hub, that it
    /// was either refused or judged justified as it entered the inbox.
    pub(crate) fn forge(&mut self, forgery: Forgery, pick: usize, alt: usize) -> Result<(), TestCaseError> {
        let now = self.sim.now;
        self.forged += 1;
        let mid = |who: Party, n: usize| MessageId::new(format!("{}.forged.{n}", who.code())).expect("id");
        let n = self.forged;
        let (to, link, env) = match forgery {
            Forgery::WrongSender => {
                let log = self.sim.log();
                if log.is_empty() {
                    return Ok(());
                }
                let mut env = log[pick % log.len()].transmit.envelope.clone();
                let (from, to) = LINKS[alt % 4];
                let others: Vec<Party> = Party::ALL.into_iter().filter(|q| *q != from).collect();
                env.sender = others[(alt / 4) % 2];
                env.message_id = mid(env.sender, n);
                (to, from, env)
            }
            Forgery::WrongNation => {
                if self.o.requests.is_empty() {
                    return Ok(());
                }
                let (_, (id, rev, recipient)) = self.o.requests[pick % self.o.requests.len()].clone();
                let manifest = self.o.sent_reports[&(id.clone(), rev)].manifest.clone();
                // The recipient (or the hub) approves on the originator's behalf.
                let verdict = [Verdict::ApproveFull, Verdict::ApproveTearline, Verdict::Deny][alt % 3];
                let signer = if (alt / 3).is_multiple_of(2) { approver(recipient, 0) } else { approver(US, 1) };
                let doc = decision_doc(&manifest, &id, rev, recipient, verdict, now, signer.name());
                let d = signed_decision(&doc, &signer);
                (US, recipient, envelope(recipient, mid(recipient, n).as_str(), now, Payload::ReleaseDecision(d)))
            }
            Forgery::AlteredDecision => {
                let sent: Vec<Envelope> = self
                    .sim
                    .log()
                    .iter()
                    .filter(|s| matches!(s.transmit.envelope.payload, Payload::ReleaseDecision(_)))
                    .map(|s| s.transmit.envelope.clone())
                    .collect();
                if sent.is_empty() {
                    return Ok(());
                }
                let mut env = sent[pick % sent.len()].clone();
                let Payload::ReleaseDecision(d) = &mut env.payload else { unreachable!() };
                let mut doc = DecisionDoc::parse(&d.signed.bytes).expect("a sent decision parses");
                // Presented whole, consistently, as the decision on another of
                // its originator's requests (only the signed bytes disagree).
                let originator = d.report_id.prefix_party().expect("prefixed");
                let others: Vec<(RequestId, ReleaseKey)> = self
                    .o
                    .requests
                    .iter()
                    .filter(|(r, k)| *r != d.request_id && k.0.starts_with(originator.code()))
                    .cloned()
                    .collect();
                if alt % 5 == 4 && !others.is_empty() {
                    let (r, (id, rev, recipient)) = others[(alt / 5) % others.len()].clone();
                    d.request_id = r;
                    d.report_id = report_id(&id);
                    d.revision = rev;
                    d.recipient = recipient;
                    d.manifest_sha256 = sha256(&self.o.sent_reports[&(id, rev)].manifest.bytes);
                    env.message_id = mid(env.sender, n);
                    let to_link = env.sender;
                    return self.expect_refused(forgery, US, to_link, env);
                }
                match alt % 4 {
                    0 => {
                        let others: Vec<&RequestId> =
                            self.o.requests.iter().map(|(r, _)| r).filter(|r| **r != d.request_id).collect();
                        doc.request_id = match others.as_slice() {
                            [] => rid(d.report_id.as_str(), 999, d.recipient),
                            o => o[(alt / 4) % o.len()].clone(),
                        };
                    }
                    1 => {
                        let ids: Vec<&String> =
                            self.o.ids.values().flatten().filter(|i| **i != d.report_id.as_str()).collect();
                        doc.report_id = match ids.as_slice() {
                            [] => report_id("KR-9999"),
                            o => report_id(o[(alt / 4) % o.len()]),
                        };
                    }
                    2 => doc.revision = doc.revision.wrapping_add(1 + (alt / 4 % 3) as u32),
                    _ => {
                        let others: Vec<Party> = Party::ALL.into_iter().filter(|q| *q != doc.recipient).collect();
                        doc.recipient = others[(alt / 4) % 2];
                    }
                }
                // Either the fields alone are altered, next to the genuine
                // signature, or the approver signs the altered document.
                let altered = if (alt / 16).is_multiple_of(2) {
                    let signed = d.signed.clone();
                    ReleaseDecision {
                        request_id: doc.request_id,
                        report_id: doc.report_id,
                        revision: doc.revision,
                        recipient: doc.recipient,
                        signed,
                        ..d.clone()
                    }
                } else {
                    signed_decision(&doc, &approver_named(&doc.operator).expect("a deployment approver"))
                };
                *d = altered;
                env.message_id = mid(env.sender, n);
                (US, env.sender, env)
            }
            Forgery::UnapprovedDelivery => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let origin = s.originator;
                let third = origin.other_nation().expect("a nation");
                let report = &self.o.sent_reports[key];
                let consents = self.consents();
                let consent = consents.get((alt / 6) % (consents.len() + 1)).cloned();
                let d = trilateral(report, third, !alt.is_multiple_of(2), consent);
                // The originator itself, or the hub's name on the nations' direct link.
                let (sender, link) = [(origin, US), (US, origin), (origin, origin)][(alt / 2) % 3];
                (third, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Delivery(d)))
            }
            Forgery::WrongOriginator => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let other = s.originator.other_nation().expect("a nation");
                let mut r = self.o.sent_reports[key].clone();
                // The other nation passes it off as its own, or relays it under its originator's name.
                let (sender, link) = if alt.is_multiple_of(2) {
                    r.header.originator = other;
                    (s.originator, s.originator)
                } else {
                    (other, other)
                };
                (US, link, envelope(sender, mid(sender, n).as_str(), now, Payload::Report(r)))
            }
            Forgery::TamperedReport => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                let (key, s) = &national[pick % national.len()];
                let origin = s.originator;
                let mut r = self.o.sent_reports[key].clone();
                let forged = Sensitive::new(format!("FORGED-{n}"));
                match alt % 6 {
                    0 => r.content.body = forged,
                    1 => r.content.tearline = Some(forged),
                    2 => r.header.classification = Classification::Unclassified,
                    3 => r.header.releasable_to.insert(origin.other_nation().expect("a nation")),
                    4 => {
                        let wrong = [approver(origin, 0), node_key(US), rogue(node_name(origin))];
                        r.manifest = wrong[(alt / 6) % 3].sign(r.manifest.bytes.clone());
                    }
                    _ => {
                        let mut others: Vec<(&Key, &Report)> =
                            self.o.sent_reports.iter().filter(|(k, _)| *k != key).collect();
                        others.sort_by(|a, b| a.0.cmp(b.0));
                        let Some((_, other)) = others.get((alt / 6) % others.len().max(1)) else { return Ok(()) };
                        r.manifest = other.manifest.clone();
                    }
                }
                if r == self.o.sent_reports[key] {
                    return Ok(()); // the change changed nothing
                }
                (US, origin, envelope(origin, mid(origin, n).as_str(), now, Payload::Report(r)))
            }
            Forgery::HubDelivery => {
                let national = self.national();
                if national.is_empty() {
                    return Ok(());
                }
                // Mostly reports that may travel at all (so the consent is what is tested).
                let eligible: Vec<&(Key, Sub)> = national
                    .iter()
                    .filter(|(_, s)| s.originator.other_nation().is_some_and(|t| self.o.trilateral_ok(s, t)))
                    .collect();
                let (key, s) = match eligible.as_slice() {
                    e if !e.is_empty() && !pick.is_multiple_of(4) => e[(pick / 4) % e.len()].clone(),
                    _ => national[pick % national.len()].clone(),
                };
                let origin = s.originator;
                let third = origin.other_nation().expect("a nation");
                let report = self.o.sent_reports[&key].clone();
                let tearline_only = alt & 1 == 1;
                let sel = alt >> 4;
                // Any consent ever sent, or often one about this report or from its originator.
                let consents = self.consents();
                let related: Vec<&Consent> = consents
                    .iter()
                    .filter(|c| match c {
                        Consent::Decision(d) => d.report_id.as_str() == key.0,
                        Consent::Grant(g) => g.doc.originator == origin,
                    })
                    .collect();
                let any_consent = match related.as_slice() {
                    r if !r.is_empty() && sel & 1 == 1 => Some(r[(sel >> 1) % r.len()].clone()),
                    _ => consents.get((sel >> 1) % (consents.len() + 1)).cloned(),
                };
                let wrong_keys =
                    [approver(third, 0), approver(US, 0), node_key(origin), rogue(approver_names(origin)[sel % 2])];
                let signer = &wrong_keys[(sel / 2) % 4];
                let mut d = trilateral(&report, third, tearline_only, None);
                match (alt >> 1) % 8 {
                    // No consent at all.
                    0 => {}
                    // Any decision or grant ever sent, whatever it names.
                    1 | 2 => d.consent = any_consent,
                    // An approval of exactly this, signed by a key that may not approve it.
                    3 => {
                        let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
                        let doc = decision_doc(&report.manifest, &key.0, key.1, third, verdict, now, signer.name());
                        d.consent = Some(Consent::Decision(Box::new(signed_decision(&doc, signer))));
                    }
                    // A grant covering exactly this, signed by a key that may not grant.
                    4 => {
                        let doc = GrantDoc {
                            grant_id: format!("{}-G-forged-{n}", origin.code()),
                            originator: origin,
                            recipient: third,
                            categories: vec![s.category],
                            max_classification: s.classification,
                            tearline_only,
                            issued_at: s.created_at,
                            not_after: None,
                            operator: signer.name().to_owned(),
                        };
                        d.consent = Some(Consent::Grant(grant_msg(&doc, signer).into()));
                    }
                    // Tampered content.
                    5 => {
                        d.consent = any_consent;
                        let forged = Sensitive::new(format!("FORGED-{n}"));
                        d.released = match (d.released, sel % 3) {
                            (Released::Tearline(_), _) => Released::Tearline(forged),
                            (Released::Full(c), 0) => Released::Full(Content { body: forged, ..c }),
                            (Released::Full(c), 1) => Released::Full(Content { tearline: Some(forged), ..c }),
                            (Released::Full(c), _) => Released::Full(Content { title: forged, ..c }),
                        };
                    }
                    // Another report's manifest (perhaps its content too).
                    6 => {
                        d.consent = any_consent;
                        let mut others: Vec<(&Key, &Report)> = self.o.sent_reports.iter().collect();
                        others.sort_by(|a, b| a.0.cmp(b.0));
                        let other = others[sel % others.len()].1;
                        d.manifest = other.manifest.clone();
                        if (sel / 7).is_multiple_of(2) {
                            d.released = trilateral(other, third, tearline_only, None).released;
                        }
                    }
                    // A header widened, down-marked or re-categorised.
                    _ => {
                        d.consent = any_consent;
                        match sel % 3 {
                            0 => d.header.releasable_to.insert(third),
                            1 => d.header.classification = Classification::Unclassified,
                            _ => {
                                d.header.category = match d.header.category {
                                    Category::NkMissile => Category::NkNuclear,
                                    _ => Category::NkMissile,
                                }
                            }
                        }
                    }
                }
                (third, US, envelope(US, mid(US, n).as_str(), now, Payload::Delivery(d)))
            }
            Forgery::CrossParty => {
                let x = Party::NATIONS[alt % 2];
                let y = x.other_nation().expect("a nation");
                let theirs: Vec<&String> =
                    self.o.grants.iter().filter(|(_, g)| g.originator == y).map(|(id, _)| id).collect();
                let id = match theirs.as_slice() {
                    [] => format!("{}-G-{}", y.code(), 1 + (alt >> 2) % 5),
                    _ if (alt >> 1) & 1 == 1 => format!("{}-G-{}", y.code(), self.grants_issued + 1 + (alt >> 2) % 3),
                    t => t[(alt >> 2) % t.len()].clone(),
                };
                let signer = approver(x, (alt >> 5) & 1);
                let payload = if (alt >> 6) & 1 == 0 {
                    let doc = RevocationDoc {
                        grant_id: id,
                        originator: x,
                        revoked_at: now,
                        operator: signer.name().to_owned(),
                    };
                    Payload::Revocation(revocation_msg(&doc, &signer))
                } else {
                    let doc = GrantDoc {
                        grant_id: id,
                        originator: x,
                        recipient: y,
                        categories: vec![Category::NkNuclear, Category::NkMissile],
                        max_classification: Classification::Secret,
                        tearline_only: false,
                        issued_at: now,
                        not_after: None,
                        operator: signer.name().to_owned(),
                    };
                    Payload::Grant(grant_msg(&doc, &signer))
                };
                (US, x, envelope(x, mid(x, n).as_str(), now, payload))
            }
            Forgery::BadGrant => {
                let x = Party::NATIONS[alt % 2];
                let y = x.other_nation().expect("a nation");
                let mine: Vec<LoggedGrant> = self.o.grants.values().filter(|g| g.originator == x).cloned().collect();
                let wrong = [approver(y, 0), node_key(x), rogue(approver_names(x)[0]), approver(US, 0)];
                let signer = &wrong[(alt >> 3) % 4];
                let fresh = GrantDoc {
                    grant_id: format!("{}-G-bad-{n}", x.code()),
                    originator: x,
                    recipient: y,
                    categories: vec![Category::NkNuclear, Category::NkMissile],
                    max_classification: Classification::Secret,
                    tearline_only: false,
                    issued_at: now,
                    not_after: None,
                    operator: signer.name().to_owned(),
                };
                let logged = mine.get((alt >> 5) % mine.len().max(1)).cloned();
                match ((alt >> 1) % 4, logged) {
                    // Relayed by the other nation.
                    (1, Some(g)) => (US, y, envelope(y, mid(y, n).as_str(), now, Payload::Grant(g.msg))),
                    // A revocation of it, signed by a key that may not revoke.
                    (2, Some(g)) => {
                        let doc = RevocationDoc {
                            grant_id: g.msg.doc.grant_id.clone(),
                            originator: x,
                            revoked_at: now,
                            operator: signer.name().to_owned(),
                        };
                        (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Revocation(revocation_msg(&doc, signer))))
                    }
                    // Widened next to its genuine signature.
                    (3, Some(g)) => {
                        let mut msg = g.msg.clone();
                        msg.doc.grant_id = fresh.grant_id.clone();
                        msg.doc.max_classification = Classification::TopSecret;
                        msg.doc.categories = vec![Category::NkNuclear, Category::NkMissile];
                        (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Grant(msg)))
                    }
                    // A new grant signed by a key that may not grant.
                    _ => (US, x, envelope(x, mid(x, n).as_str(), now, Payload::Grant(grant_msg(&fresh, signer)))),
                }
            }
            Forgery::SelfApproval => {
                // Requests not decided yet (the hub absorbs a second decision
                // with the same verdict on a decided request as a no-op).
                let open: Vec<ReleaseKey> = self
                    .o
                    .requests
                    .iter()
                    .map(|(_, k)| k.clone())
                    .filter(|k| !self.o.decisions.contains_key(k))
                    .collect();
                if !self.o.two_person || open.is_empty() {
                    return Ok(());
                }
                let (id, rev, recipient) = open[pick % open.len()].clone();
                let s = &self.o.submitted[&(id.clone(), rev)];
                let origin = s.originator;
                // The submitter, or (for a report nobody signed for) any approver.
                let signer = approver_named(&s.submitter)
                    .filter(|a| approver_names(origin).contains(&a.name()))
                    .or_else(|| s.submitter.is_empty().then(|| approver(origin, alt % 2)));
                let Some(signer) = signer else { return Ok(()) };
                let report = &self.o.sent_reports[&(id.clone(), rev)];
                let tearline_only = (alt / 2) % 2 == 1 && report.content.tearline.is_some();
                let verdict = if tearline_only { Verdict::ApproveTearline } else { Verdict::ApproveFull };
                let d = signed_decision(
                    &decision_doc(&report.manifest, &id, rev, recipient, verdict, now, signer.name()),
                    &signer,
                );
                if (alt / 4).is_multiple_of(2) {
                    (US, origin, envelope(origin, mid(origin, n).as_str(), now, Payload::ReleaseDecision(d)))
                } else {
                    let delivery = trilateral(report, recipient, tearline_only, Some(Consent::Decision(Box::new(d))));
                    (recipient, US, envelope(US, mid(US, n).as_str(), now, Payload::Delivery(delivery)))
                }
            }
        };
        self.expect_refused(forgery, to, link, env)
    }

    /// Hands a forgery to `to` on `link` and asserts it was refused (see [`World::forge`]).
    pub(crate) fn expect_refused(
        &mut self,
        forgery: Forgery,
        to: Party,
        link: Party,
        env: Envelope,
    ) -> Result<(), TestCaseError> {
        let log0 = self.sim.log().len();
        let inbox0 = self.sim.inbox(to).len();
        let kind = env.payload.kind();
        let rejected = self.hand(to, link, env)?;
        let answers = &self.sim.log()[log0..];
        if matches!(forgery, Forgery::HubDelivery) && !rejected {
            // Accepted: `hand` judged it as it entered the inbox.
            // The only answer: the recipient's signed receipt, to the hub
            // (none for an exact duplicate of what it already holds).
            let only_receipt = answers.is_empty()
                || (answers.len() == 1
                    && answers[0].transmit.to == US
                    && matches!(answers[0].transmit.envelope.payload, Payload::Receipt(_)));
            prop_assert!(only_receipt, "an accepted delivery is answered by exactly one receipt: {:?}", answers);
            return Ok(());
        }
        prop_assert!(
            rejected,
            "{:?} at {:?} on link {:?} was not refused: {:?}",
            forgery,
            to,
            link,
            self.sim.events(to).last()
        );
        prop_assert_eq!(self.sim.inbox(to).len(), inbox0);
        prop_assert!(
            answers.len() <= 1
                && answers.iter().all(|s| s.from == to
                    && s.transmit.to == link
                    && matches!(s.transmit.envelope.payload, Payload::Rejection(_)))
        );
        prop_assert_eq!(answers.len(), usize::from(link_exists(to, link) && kind != "rejection"));
        Ok(())
    }
}
