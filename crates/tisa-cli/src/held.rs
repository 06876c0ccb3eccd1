//! `tisa held`: deliveries and track updates the node holds for want of a
//! fresh grant-standing statement (ids only, never content).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use tisa_core::Page;
use tisa_kit::operator::{call, unexpected};
use tisa_kit::util::utc;
use tisa_kit::Ctx;
use tisa_transport::{ControlReply, ControlRequest, ListQuery};

use crate::commands::print_json;

/// `tisa held`: what the node holds for want of a fresh grant-standing statement.
pub async fn held(c: &Ctx, after: Option<String>, limit: usize) -> Result<ExitCode> {
    let reply = call(c, ControlRequest::Held(ListQuery { after, limit, ..ListQuery::default() })).await?;
    let ControlReply::Held(Page { items, next_after: next }) = reply else { return Err(unexpected(&reply)) };
    if c.json {
        let items: Vec<Value> = items
            .iter()
            .map(|h| {
                json!({
                    "kind": h.kind.code(),
                    "id": h.id,
                    "revision": h.revision,
                    "originator": h.originator.trigraph(),
                    "grant_id": h.grant_id,
                    "held_at_ms": h.held_at.as_millis(),
                    "statement_issued_at_ms": h.statement_issued_at.map(|t| t.as_millis()),
                })
            })
            .collect();
        print_json(&json!({"items": items, "next_after": next}));
    } else if items.is_empty() {
        println!("{} holds nothing", c.party);
    } else {
        for h in &items {
            let last = h.statement_issued_at.map_or("none".to_owned(), |t| utc(t.as_millis()));
            println!(
                "{} {} #{}  from {} under grant {}  held since {}  newest statement {}",
                h.kind.code(),
                h.id,
                h.revision,
                h.originator,
                h.grant_id,
                utc(h.held_at.as_millis()),
                last
            );
        }
    }
    if let (false, Some(n)) = (c.json, &next) {
        eprintln!("more: --after {n}");
    }
    Ok(ExitCode::SUCCESS)
}
