//! Standing grants issued and revoked by an approver: the document built
//! and signed in the operator's own process (the node never holds an
//! approver's key), the same for `tisa standing` and the console.

use anyhow::Result;
use tisa_core::sign::{GrantDoc, RevocationDoc};
use tisa_core::{Category, Classification, GrantView, Party};
use tisa_transport::{ControlClient, ControlReply, ControlRequest};

use crate::operator::{ask, unexpected};

/// What a new standing grant covers.
#[derive(Clone, Debug)]
pub struct GrantInput {
    /// The third party it releases to.
    pub to: Party,
    /// The categories covered.
    pub categories: Vec<Category>,
    /// The highest classification covered.
    pub max: Classification,
    /// The tearline only.
    pub tearline_only: bool,
    /// How long it lasts (`None`: until revoked).
    pub expires_in: Option<std::time::Duration>,
}

/// Issues `party`'s grant `g`, signed with `key`; the node's reply (the
/// grant, in force or proposed under the two-person rule).
pub async fn issue(
    client: &ControlClient,
    party: Party,
    key: &tisa_deploy::keys::Key,
    g: GrantInput,
) -> Result<Vec<GrantView>> {
    let now = tisa_transport::wall_clock();
    let doc = GrantDoc {
        grant_id: format!("{}-G-{}", party.code(), &format!("{:032x}", rand::random::<u128>())[..16]),
        originator: party,
        recipient: g.to,
        categories: g.categories,
        max_classification: g.max,
        tearline_only: g.tearline_only,
        issued_at: now,
        not_after: g.expires_in.map(|d| now.saturating_add(d)),
        operator: key.identity.name().to_owned(),
    };
    let reply = ask(client, ControlRequest::Grant(key.identity.sign(doc.to_bytes()))).await?;
    let ControlReply::Grants(items) = reply else { return Err(unexpected(&reply)) };
    Ok(items)
}

/// Revokes `party`'s grant `grant_id`, signed with `key`; the node's reply.
pub async fn revoke(
    client: &ControlClient,
    party: Party,
    key: &tisa_deploy::keys::Key,
    grant_id: &str,
) -> Result<Vec<GrantView>> {
    let doc = RevocationDoc {
        grant_id: grant_id.to_owned(),
        originator: party,
        revoked_at: tisa_transport::wall_clock(),
        operator: key.identity.name().to_owned(),
    };
    let reply = ask(client, ControlRequest::Revoke(key.identity.sign(doc.to_bytes()))).await?;
    let ControlReply::Grants(items) = reply else { return Err(unexpected(&reply)) };
    Ok(items)
}
