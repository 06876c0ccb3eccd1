//! `tisa feed tracks [FILE|-] [--follow]`: live missile-warning tracks, one
//! update a line, submitted through your own node's `track` path. The hub
//! forwards them to the other nation only under your standing grant for
//! NK_MISSILE (`tisa standing grant --category missile`), never by request.

use super::LineSource;
use std::process::ExitCode;
use tisa_core::text::loggable;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Map, Value};
use tisa_core::{Classification, GeoPoint, PartySet, Timestamp, TrackDraft, TrackId};
use tisa_transport::{ControlReply, ControlRequest};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::jsonl::{spawn_reader, Lines};
use super::{clip, FeedOptions};

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const LONG_HELP: &str = "Reads live missile-warning track updates as JSON Lines and submits each to your own node:\n\n  \
{\"track_id\": \"KR-T-2024-001\", \"seq\": 3, \"classification\": \"secret\", \"rel_to\": \"USA,JPN\",\n   \
\"launch\": {\"lat\": 39.03, \"lon\": 125.75, \"at\": \"2024-05-27T14:32:10Z\"},\n   \
\"position\": {\"lat\": 39.8, \"lon\": 128.1, \"alt_km\": 412.5, \"at\": \"2024-05-27T14:34:40Z\"},\n   \
\"impact\": {\"lat\": 40.8, \"lon\": 135.2}}\n\n\
track_id (prefixed with your party's code), seq (increasing per track, from 1), launch and position are \
required; times are RFC 3339 (any offset: Z, +09:00) or Unix milliseconds; impact is optional; classification and rel_to may \
instead come from --classification / --rel-to; other fields are refused. Your node signs each update; the \
hub forwards it to the other nation only under your standing grant for NK_MISSILE. Re-feeding the same \
update submits nothing; an older sequence number is refused. Bad lines are reported with their line \
number and skipped (exit 1); updates older than one already issued are counted as stale and skipped, \
so a file can be fed again.";

#[derive(Args, Debug)]
#[command(
    long_about = LONG_HELP,
    after_help = "Example: tisa feed tracks --config tisa-broker/kr-cli.toml tracks.jsonl\n\
         Follow:   tisa feed tracks --config tisa-broker/kr-cli.toml --follow /var/spool/tisa/tracks.jsonl"
)]
pub struct TracksArgs {
    #[command(flatten)]
    opts: FeedOptions,
    #[command(flatten)]
    lines: LineSource,
}

const FIELDS: [&str; 7] = ["track_id", "seq", "classification", "rel_to", "launch", "position", "impact"];

fn obj<'a>(v: &'a Value, name: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let Value::Object(o) = v else { return Err(format!("{name} must be an object")) };
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown field {name}.{}", clip(k, 40)));
    }
    Ok(o)
}

fn degrees(o: &Map<String, Value>, name: &str, key: &str, max: f64) -> Result<i32, String> {
    let v = o.get(key).and_then(Value::as_f64).ok_or_else(|| format!("{name}.{key} must be a number"))?;
    if !(-max..=max).contains(&v) {
        return Err(format!("{name}.{key} is out of range (±{max})"));
    }
    Ok((v * 1e6).round() as i32)
}

fn point(o: &Map<String, Value>, name: &str) -> Result<GeoPoint, String> {
    Ok(GeoPoint { lat_e6: degrees(o, name, "lat", 90.0)?, lon_e6: degrees(o, name, "lon", 180.0)? })
}

/// Unix milliseconds, or an RFC 3339 time with any offset (`2024-05-27T14:32:10Z`,
/// `2024-05-27T23:32:10+09:00`, optional fraction); an impossible date is refused.
pub(crate) fn parse_time(v: &Value) -> Result<Timestamp, String> {
    if let Some(ms) = v.as_u64() {
        return Ok(Timestamp(ms));
    }
    let s = v.as_str().ok_or("a time must be RFC 3339 (e.g. 2024-05-27T14:32:10Z) or Unix milliseconds")?;
    tisa_deploy::chain::parse_time(s).map_err(|e| format!("{:?}: {e}", clip(s, 40)))
}

/// Parses one track line. Errors name the field, never quote coordinates.
pub(crate) fn parse_track(
    text: &str,
    classification: Option<Classification>,
    rel_to: Option<PartySet>,
) -> Result<TrackDraft, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let o = obj(&v, "the line", &FIELDS)?;
    let track_id = o.get("track_id").and_then(Value::as_str).ok_or("track_id must be a string")?;
    let track_id = TrackId::new(track_id).map_err(|e| e.to_string())?;
    let seq = o
        .get("seq")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .filter(|s| *s > 0)
        .ok_or("seq must be an integer from 1")?;
    let classification = match o.get("classification") {
        Some(c) => c.as_str().ok_or("classification must be a string")?.parse().map_err(|e| format!("{e}"))?,
        None => classification.ok_or("no classification (give it, or --classification)")?,
    };
    let rel_to = match o.get("rel_to") {
        Some(Value::String(s)) => s.parse().map_err(|e| format!("{e}"))?,
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| p.as_str().ok_or("rel_to entries must be strings".to_owned())?.parse().map_err(|e| format!("{e}")))
            .collect::<Result<PartySet, String>>()?,
        Some(_) => return Err("rel_to must be a string or an array".into()),
        None => rel_to.ok_or("no rel_to (give it, or --rel-to)")?,
    };
    let launch = obj(o.get("launch").ok_or("launch is required")?, "launch", &["lat", "lon", "at"])?;
    let position = obj(o.get("position").ok_or("position is required")?, "position", &["lat", "lon", "alt_km", "at"])?;
    let alt_km = position.get("alt_km").and_then(Value::as_f64).ok_or("position.alt_km must be a number")?;
    if !(-1000.0..=100_000.0).contains(&alt_km) {
        return Err("position.alt_km is out of range".into());
    }
    let impact = match o.get("impact") {
        None | Some(Value::Null) => None,
        Some(i) => Some(point(obj(i, "impact", &["lat", "lon"])?, "impact")?),
    };
    Ok(TrackDraft {
        track_id,
        seq,
        classification,
        releasable_to: rel_to,
        launch: point(launch, "launch")?,
        launched_at: parse_time(launch.get("at").ok_or("launch.at is required")?)?,
        position: point(position, "position")?,
        altitude_m: (alt_km * 1000.0).round() as i32,
        observed_at: parse_time(position.get("at").ok_or("position.at is required")?)?,
        impact,
    })
}

fn draft_json(d: &TrackDraft) -> Value {
    json!({
        "dry_run": true,
        "track_id": d.track_id.as_str(),
        "seq": d.seq,
        "classification": d.classification.as_str(),
        "releasable_to": d.releasable_to.iter().map(|p| p.trigraph()).collect::<Vec<_>>(),
        "launch": d.launch.to_string(),
        "launched_at_ms": d.launched_at.as_millis(),
        "position": d.position.to_string(),
        "altitude_m": d.altitude_m,
        "observed_at_ms": d.observed_at.as_millis(),
        "impact": d.impact.map(|p| p.to_string()),
    })
}

pub async fn run(args: TracksArgs) -> Result<ExitCode> {
    let json = args.opts.common.json;
    let dry_check = if args.opts.dry_run { args.opts.dry_run_policy()? } else { None };
    let client = if args.opts.dry_run {
        None
    } else {
        let ctx = args.opts.common.resolve()?;
        if ctx.key.is_none() {
            anyhow::bail!(
                "track updates are signed: give the feed's key with --key FILE (or TISA_KEY), a key with the feed role; \
                 create one with `tisa keys generate --party {} --operator NAME --role feed`",
                ctx.party.lower()
            );
        }
        Some(ctx.client().await?)
    };
    let (tx, mut rx) = mpsc::channel::<Lines>(4);
    let name = if args.lines.file.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        loggable(&args.lines.file.display().to_string()).into_owned()
    };
    spawn_reader(args.lines.file.clone(), args.lines.follow, args.lines.poll, tx)?;
    info!(file = %name, follow = args.lines.follow, dry_run = client.is_none(), "reading track updates");
    let stop = tisa_kit::util::shutdown_signal();
    tokio::pin!(stop);
    let (mut sent, mut unchanged, mut stale, mut bad) = (0usize, 0usize, 0usize, 0usize);
    // Updates go one by one, each the latest for its track, as they were read.
    let mut queue = std::collections::VecDeque::new();
    loop {
        let Some((n, line)) = queue.pop_front() else {
            tokio::select! {
                l = rx.recv() => match l {
                    Some(l) => queue.extend(l),
                    None => break,
                },
                s = &mut stop => {
                    info!(signal = s, "stopping");
                    break;
                }
            }
            continue;
        };
        let text = match line {
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => t,
            Err(why) => {
                warn!("{name}: line {n}: bad line: {}", loggable(&why.to_string()));
                bad += 1;
                continue;
            }
        };
        let draft = match parse_track(text.trim(), args.lines.classification, args.lines.rel_to) {
            Ok(d) => d,
            Err(why) => {
                warn!("{name}: line {n}: bad line: {}", loggable(&why.to_string()));
                bad += 1;
                continue;
            }
        };
        let Some(client) = &client else {
            let checked = dry_check.as_ref().map(|(party, policy)| {
                tisa_core::node::check_markings(policy, *party, draft.classification, draft.releasable_to)
            });
            if let Some(Err(why)) = checked {
                warn!(track_id = %draft.track_id, seq = draft.seq, "{name}: line {n}: not submitted: {why} (your node would refuse it)");
                bad += 1;
                continue;
            }
            if json {
                println!("{}", draft_json(&draft));
            } else {
                println!(
                    "would submit {} #{}  {} REL TO {}  pos {} alt {} m",
                    draft.track_id,
                    draft.seq,
                    draft.classification,
                    draft.releasable_to,
                    draft.position,
                    draft.altitude_m
                );
            }
            sent += 1;
            continue;
        };
        let (track_id, seq) = (draft.track_id.clone(), draft.seq);
        match client.call(&ControlRequest::Track(draft)).await {
            Ok(ControlReply::Track(t)) if t.duplicate => unchanged += 1,
            Ok(ControlReply::Track(t)) => {
                let u = t.update;
                sent += 1;
                info!(track_id = %track_id, seq, "track update submitted");
                if json {
                    println!("{}", json!({"track_id": u.doc.track_id.as_str(), "seq": u.doc.seq, "outcome": "new"}));
                } else {
                    println!("{} #{}  new", u.doc.track_id, u.doc.seq);
                }
            }
            // Re-feeding a file: older updates were superseded already.
            Ok(ControlReply::Error { code, .. }) if code == "STALE_TRACK" => {
                tracing::debug!(track_id = %track_id, seq, "stale: a newer update was already issued");
                stale += 1;
            }
            Ok(ControlReply::Error { code, message }) => {
                warn!(track_id = %track_id, seq, "{name}: line {n}: not submitted: {} [{}]", loggable(&message), loggable(&code));
                bad += 1;
            }
            Ok(other) => anyhow::bail!("unexpected reply from the node: {other:?}"),
            Err(e) => {
                eprintln!("tracks: stopped at line {n}: {sent} submitted, {unchanged} unchanged, {bad} bad");
                return Err(anyhow::anyhow!("{e}").context(format!("stopped at line {n}")));
            }
        }
    }
    if client.is_none() {
        eprintln!("tracks: {name}: {sent} would be submitted (dry run), {bad} bad");
    } else {
        eprintln!("tracks: {name}: {sent} submitted, {unchanged} unchanged, {stale} stale, {bad} bad");
    }
    Ok(if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_track_line() {
        let d = parse_track(
            r#"{"track_id":"KR-T-1","seq":2,"classification":"secret","rel_to":["USA","JPN"],
               "launch":{"lat":39.03,"lon":125.75,"at":"2024-05-27T14:32:10Z"},
               "position":{"lat":39.8,"lon":128.1,"alt_km":412.5,"at":1716820480000},
               "impact":{"lat":40.8,"lon":135.2}}"#,
            None,
            None,
        )
        .unwrap();
        assert_eq!(d.seq, 2);
        assert_eq!(d.launched_at, Timestamp(1_716_820_330_000));
        assert_eq!(d.altitude_m, 412_500);
        assert_eq!(d.position, GeoPoint { lat_e6: 39_800_000, lon_e6: 128_100_000 });
        assert_eq!(d.impact, Some(GeoPoint { lat_e6: 40_800_000, lon_e6: 135_200_000 }));
        assert!(parse_track(r#"{"track_id":"KR-T-1","seq":0}"#, None, None).is_err());
        assert!(parse_track(r#"{"track_id":"KR-T-1","seq":1,"x":1}"#, None, None).unwrap_err().contains("unknown"));
        assert_eq!(parse_time(&json!("1970-01-01T00:00:01.5Z")).unwrap(), Timestamp(1500));
    }

    #[test]
    fn times_take_any_offset_and_refuse_impossible_dates() {
        // The same instant in Seoul/Tokyo time and in UTC.
        assert_eq!(parse_time(&json!("2024-05-27T23:32:10+09:00")).unwrap(), Timestamp(1_716_820_330_000));
        assert_eq!(parse_time(&json!("2024-05-27T14:32:10Z")).unwrap(), Timestamp(1_716_820_330_000));
        for bad in ["2026-02-31T00:00:00Z", "2025-02-29T12:00:00Z", "2024-04-31T00:00:00Z", "2024-05-27T24:00:00Z"] {
            assert!(parse_time(&json!(bad)).is_err(), "{bad} is not a date");
        }
        assert!(parse_time(&json!("1969-12-31T23:59:59Z")).is_err(), "before 1970");
    }
}
