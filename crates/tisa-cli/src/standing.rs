//! `tisa standing`: grant, co-sign, revoke and list standing grants, each
//! signed locally with the operator's approver key.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use tisa_core::GrantView;
use tisa_node::clock;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use tisa_kit::operator::{call, unexpected};
use tisa_kit::util::utc;
use tisa_kit::Ctx;

use crate::commands::print_json;

pub use tisa_kit::grants::GrantInput;

fn grants_json(items: &[GrantView]) -> Value {
    json!({"items": items.iter().map(|g| {
        let (d, revoked) = (&g.grant.doc, g.revoked);
        json!({
            "grant_id": d.grant_id,
            "originator": d.originator.trigraph(),
            "recipient": d.recipient.trigraph(),
            "categories": d.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "max_classification": d.max_classification.as_str(),
            "tearline_only": d.tearline_only,
            "issued_at_ms": d.issued_at.as_millis(),
            "not_after_ms": d.not_after.map(|t| t.as_millis()),
            "operator": d.operator,
            "revoked": revoked,
            "proposed": g.proposed,
            "cosigned": g.grant.cosign.is_some(),
        })
    }).collect::<Vec<_>>()})
}

fn print_grants(c: &Ctx, items: &[GrantView]) {
    if c.json {
        print_json(&grants_json(items));
        return;
    }
    if items.is_empty() {
        println!("no standing grants");
    }
    for g in items {
        let (d, revoked) = (&g.grant.doc, g.revoked);
        println!(
            "{}  {} → {}  {} up to {}{}  by {}  issued {}{}{}",
            d.grant_id,
            d.originator,
            d.recipient,
            d.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
            d.max_classification,
            if d.tearline_only { " (tearline only)" } else { "" },
            d.operator,
            utc(d.issued_at.as_millis()),
            d.not_after.map(|t| format!("  lapses {}", utc(t.as_millis()))).unwrap_or_default(),
            if revoked {
                "  REVOKED"
            } else if g.proposed {
                "  PROPOSED: not in force until a second approver co-signs (`tisa standing cosign`)"
            } else if g.grant.cosign.is_some() {
                "  (co-signed)"
            } else {
                ""
            },
        );
    }
}

pub async fn standing_grant(c: &Ctx, g: GrantInput) -> Result<ExitCode> {
    let key = c.approver()?;
    let items = tisa_kit::grants::issue(&c.client().await?, c.party, &key, g).await?;
    print_grants(c, &items);
    Ok(ExitCode::SUCCESS)
}

pub async fn standing_revoke(c: &Ctx, grant_id: &str) -> Result<ExitCode> {
    let key = c.approver()?;
    let items = tisa_kit::grants::revoke(&c.client().await?, c.party, &key, grant_id).await?;
    print_grants(c, &items);
    Ok(ExitCode::SUCCESS)
}

pub async fn standing_list(c: &Ctx) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::Grants(ListQuery::default())).await?;
    let ControlReply::Grants(items) = reply else { return Err(unexpected(&reply)) };
    print_grants(c, &items);
    Ok(ExitCode::SUCCESS)
}

/// `tisa standing cosign GRANT_ID`: a second approver co-signs a grant
/// proposed under the two-person rule, from their own process and key. It
/// signs the proposal's exact document (fetched from the node, shown back
/// in the reply), so what was proposed is what takes effect.
pub async fn standing_cosign(c: &Ctx, grant_id: &str) -> Result<ExitCode> {
    let key = c.approver()?;
    let reply = call(c, ControlRequest::Grants(ListQuery::default())).await?;
    let ControlReply::Grants(items) = reply else { return Err(unexpected(&reply)) };
    let Some(g) = items.iter().find(|g| g.grant.doc.grant_id == grant_id) else {
        anyhow::bail!("{} has no grant {grant_id:?}: see `tisa standing list`", c.party);
    };
    if !g.proposed {
        anyhow::bail!("grant {grant_id} is not awaiting a co-signature (it is in force or revoked)");
    }
    let doc =
        tisa_core::sign::CosignDoc::of(grant_id, c.party, &g.grant.signed.bytes, clock::now(), key.identity.key_id());
    let reply = call(c, ControlRequest::Cosign(key.identity.sign_by_id(doc.to_bytes()))).await?;
    let ControlReply::Grants(items) = reply else { return Err(unexpected(&reply)) };
    print_grants(c, &items);
    Ok(ExitCode::SUCCESS)
}
