//! Standing grants across the roles: the originator issues and revokes
//! them (signed by an approver; under the two-person rule a grant is only
//! proposed until a second approver co-signs it), the hub holds them and
//! forwards under them, the recipient learns of revocations at once.

use super::views::GrantView;
use super::Node;
use crate::error::{CommandError, RejectReason};
use crate::message::{Grant, Payload, Revocation};
use crate::policy::KeyRole;
use crate::sign::{self, check_cosigned, CosignDoc, GrantDoc, RevocationDoc, Signed};
use crate::types::{Party, Timestamp};

impl Node {
    /// Issues a standing grant signed by one of this party's approvers and
    /// sends it to the hub. Under the two-person rule it is only proposed:
    /// it takes effect when a second approver co-signs it ([`Node::cosign`]).
    pub fn grant(&mut self, now: Timestamp, signed: Signed) -> Result<GrantDoc, CommandError> {
        let unverified = |why| CommandError::Unverified { what: "grant", why };
        if self.party.is_hub() {
            return Err(CommandError::BadGrant("the hub does not grant releases of national reports"));
        }
        sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?;
        let doc = GrantDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer {
            return Err(unverified(sign::SigError::Mismatch("operator")));
        }
        if doc.originator != self.party {
            return Err(CommandError::BadGrant("a grant's originator must be this party"));
        }
        if Some(doc.recipient) != self.party.other_nation() {
            return Err(CommandError::BadGrant("a grant's recipient must be the other nation"));
        }
        if doc.categories.is_empty() || doc.categories.iter().any(|c| !self.policy.in_scope(*c)) {
            return Err(CommandError::BadGrant("a grant covers only categories in the trilateral scope"));
        }
        if !doc.grant_id.starts_with(&format!("{}-", self.party.code())) {
            return Err(CommandError::BadGrant("a grant id must start with this party's code"));
        }
        if self.grants.contains_key(&doc.grant_id) || self.originator.proposed.contains_key(&doc.grant_id) {
            return Err(CommandError::BadGrant("this grant id is already used"));
        }
        let grant = Grant { doc: doc.clone(), signed, cosign: None };
        if self.policy.two_person_rule {
            self.originator.proposed.insert(doc.grant_id.clone(), grant);
        } else {
            self.put_in_force(now, grant);
        }
        Ok(doc)
    }

    /// Co-signs a proposed grant (two-person rule): `signed` is a
    /// `tisa.v1.cosign` over the proposal's exact document, by an approver
    /// key of this party other than the proposer's. The grant then takes
    /// effect and goes to the hub with both signatures.
    pub fn cosign(&mut self, now: Timestamp, signed: Signed) -> Result<GrantDoc, CommandError> {
        let unverified = |why| CommandError::Unverified { what: "cosignature", why };
        if !self.policy.two_person_rule {
            return Err(CommandError::BadGrant("the agreement has no two-person rule: grants need no co-signature"));
        }
        let doc = CosignDoc::parse(&signed.bytes).map_err(unverified)?;
        let Some(proposal) = self.originator.proposed.get(&doc.grant_id) else {
            return Err(if self.grants.contains_key(&doc.grant_id) {
                CommandError::BadGrant("this grant is already co-signed and in force")
            } else {
                CommandError::UnknownGrant(doc.grant_id)
            });
        };
        match check_cosigned(&self.policy, self.party, &proposal.signed, Some(&signed)) {
            Ok(_) => {}
            Err(sign::SigError::Mismatch(why)) if why.starts_with("two-person rule") => {
                return Err(CommandError::SameOperator(proposal.doc.operator.clone()));
            }
            Err(why) => return Err(unverified(why)),
        }
        let Some(mut grant) = self.originator.proposed.shift_remove(&doc.grant_id) else {
            return Err(CommandError::UnknownGrant(doc.grant_id));
        };
        grant.cosign = Some(signed);
        let issued = grant.doc.clone();
        self.put_in_force(now, grant);
        Ok(issued)
    }

    /// A grant takes effect: recorded, sent to the hub, and stated as
    /// standing at once, then on the timer (`standing`).
    fn put_in_force(&mut self, now: Timestamp, grant: Grant) {
        self.grants
            .insert(grant.doc.grant_id.clone(), GrantView { grant: grant.clone(), revoked: false, proposed: false });
        self.send(now, Party::HUB, Payload::Grant(grant.clone()));
        self.issue_standing(now, &grant);
    }

    /// Revokes one of this party's standing grants (signed by an approver);
    /// the hub stops using it and tells the recipient at once.
    pub fn revoke(&mut self, now: Timestamp, signed: Signed) -> Result<RevocationDoc, CommandError> {
        let unverified = |why| CommandError::Unverified { what: "revocation", why };
        sign::verify(&self.policy, self.party, KeyRole::Approver, &signed).map_err(unverified)?;
        let doc = RevocationDoc::parse(&signed.bytes).map_err(unverified)?;
        if doc.operator != signed.signer || doc.originator != self.party {
            return Err(unverified(sign::SigError::Mismatch("revocation")));
        }
        // A proposal nobody co-signed yet is withdrawn (the hub never knew of it).
        if self.originator.proposed.shift_remove(&doc.grant_id).is_some() {
            return Ok(doc);
        }
        let g = self.grants.get_mut(&doc.grant_id).ok_or_else(|| CommandError::UnknownGrant(doc.grant_id.clone()))?;
        g.revoked = true;
        self.revoked.insert(doc.grant_id.clone());
        let r = Revocation { doc: doc.clone(), signed };
        self.originator.revocations.insert(doc.grant_id.clone(), r.clone());
        self.send(now, Party::HUB, Payload::Revocation(r));
        Ok(doc)
    }

    pub(super) fn hub_on_grant(&mut self, link: Party, g: Grant) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "grant", why };
        sign::verify(&self.policy, link, KeyRole::Approver, &g.signed).map_err(bad)?;
        if GrantDoc::parse(&g.signed.bytes).map_err(bad)? != g.doc
            || g.doc.operator != g.signed.signer
            || g.doc.originator != link
            || Some(g.doc.recipient) != link.other_nation()
            // Grant ids are one namespace at the hub: a party may use only its own prefix.
            || !g.doc.grant_id.starts_with(&format!("{}-", link.code()))
        {
            return Err(bad(sign::SigError::Mismatch("grant")));
        }
        check_cosigned(&self.policy, link, &g.signed, g.cosign.as_ref()).map_err(bad)?;
        if let Some(existing) = self.grants.get(&g.doc.grant_id) {
            return if existing.grant == g { Ok(()) } else { Err(RejectReason::GrantNotValid(g.doc.grant_id.clone())) };
        }
        let revoked = self.revoked.contains(&g.doc.grant_id);
        self.grants.insert(g.doc.grant_id.clone(), GrantView { grant: g, revoked, proposed: false });
        Ok(())
    }

    pub(super) fn hub_on_revocation(&mut self, now: Timestamp, link: Party, r: Revocation) -> Result<(), RejectReason> {
        let bad = |why| RejectReason::Unverified { what: "revocation", why };
        sign::verify(&self.policy, link, KeyRole::Approver, &r.signed).map_err(bad)?;
        if RevocationDoc::parse(&r.signed.bytes).map_err(bad)? != r.doc
            || r.doc.operator != r.signed.signer
            || r.doc.originator != link
            // Only the originator's own grants (see `hub_on_grant`).
            || !r.doc.grant_id.starts_with(&format!("{}-", link.code()))
        {
            return Err(bad(sign::SigError::Mismatch("revocation")));
        }
        if !self.revoked.insert(r.doc.grant_id.clone()) {
            return Ok(()); // duplicate
        }
        if let Some(g) = self.grants.get_mut(&r.doc.grant_id) {
            g.revoked = true;
        }
        // The recipient learns at once, so it refuses anything still in flight under it.
        if let Some(third) = link.other_nation() {
            self.hub.revocations.insert(r.doc.grant_id.clone(), r.clone());
            self.send(now, third, Payload::Revocation(r));
        }
        Ok(())
    }

    pub(super) fn recipient_on_revocation(&mut self, now: Timestamp, r: Revocation) -> Result<(), RejectReason> {
        let originator = r.doc.originator;
        if Some(originator) != self.party.other_nation() {
            return Err(RejectReason::UnexpectedMessage { kind: "revocation", link: Party::HUB });
        }
        let bad = |why| RejectReason::Unverified { what: "revocation", why };
        sign::verify(&self.policy, originator, KeyRole::Approver, &r.signed).map_err(bad)?;
        if RevocationDoc::parse(&r.signed.bytes).map_err(bad)? != r.doc || r.doc.operator != r.signed.signer {
            return Err(bad(sign::SigError::Mismatch("revocation")));
        }
        // What is held under it is refused now (`standing`).
        if self.revoked.insert(r.doc.grant_id.clone()) {
            self.settle_held(now, &r.doc.grant_id);
        }
        Ok(())
    }
}
