//! `tisa feed usgs`: polls the USGS earthquake catalogue (GeoJSON: an FDSN
//! `format=geojson` query or a summary feed) and turns events near nuclear
//! test sites that look like explosions into NK_NUCLEAR reports.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;
use tisa_core::text::loggable;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::Value;
use tisa_core::{Category, Classification, PartySet};
use tracing::{info, warn};

use super::{clip, FeedOptions, Item, Outcome, Sink, SubmitError, Tally};
use tisa_deploy::parse_duration;
use tisa_kit::util::utc;

/// FDSN event query over the Korean peninsula (33–43.5° N, 124–131.5° E),
/// newest first; `--window` adds the `starttime`.
pub const DEFAULT_URL: &str = "https://earthquake.usgs.gov/fdsnws/event/1/query?format=geojson\
&minlatitude=33&maxlatitude=43.5&minlongitude=124&maxlongitude=131.5&orderby=time";

/// Largest response accepted.
const MAX_BODY: u64 = 32 * 1024 * 1024;

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const LONG_HELP: &str =
    "Polls the USGS earthquake catalogue (GeoJSON) and submits an NK_NUCLEAR report to your own node for \
every event near a nuclear test site that is typed \"nuclear explosion\", or is shallow and strong enough \
(depth ≤ --max-depth-km and magnitude ≥ --min-magnitude).\n\n\
Each report's idempotency key is `usgs:<id>`, where <id> is the smallest of the event's ids (the GeoJSON `ids` \
aliases), so an event whose preferred id changes stays one report; an update of the event (magnitude, review \
status, `updated` time…) becomes a new revision of that report, and an unchanged event submits nothing. \
Fetch errors, HTTP errors and malformed JSON are logged and retried with exponential backoff \
(--backoff-min doubling up to --backoff-max); --once makes a single attempt and exits non-zero if it failed.";

#[derive(Args, Debug)]
#[command(
    long_about = LONG_HELP,
    after_help = "Example: tisa feed usgs --config tisa-broker/jp-cli.toml --rel-to USA,KOR --interval 2m\n\
         Dry run:  tisa feed usgs --once --dry-run"
)]
pub struct UsgsArgs {
    #[command(flatten)]
    opts: FeedOptions,
    /// GeoJSON URL: an FDSN event query with format=geojson, or a summary feed
    /// (e.g. https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/all_day.geojson).
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// For an FDSN query URL without `starttime`: ask for events since now minus this (0 to leave the URL as is).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    window: Duration,
    /// Time between polls.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    interval: Duration,
    /// A test site, NAME:LAT,LON (decimal degrees); repeatable.
    #[arg(long = "site", value_name = "NAME:LAT,LON", value_parser = parse_site, default_value = "Punggye-ri:41.28,129.08")]
    sites: Vec<Site>,
    /// Only events within this distance of a site (km).
    #[arg(long, default_value_t = 25.0, value_parser = parse_nonneg)]
    radius_km: f64,
    /// "Shallow": depth at most this (km).
    #[arg(long, default_value_t = 5.0, value_parser = parse_nonneg)]
    max_depth_km: f64,
    /// Shallow events need at least this magnitude (events typed "nuclear explosion" need none).
    #[arg(long, default_value_t = 4.0)]
    min_magnitude: f64,
    /// Classification of the reports.
    #[arg(long, default_value = "unclassified")]
    classification: Classification,
    /// Releasable-to of the reports (a limit, never consent; your own party is implied).
    #[arg(long = "rel-to", default_value = "KOR,USA,JPN")]
    rel_to: PartySet,
    /// Poll once and exit (non-zero if the fetch or a submission failed).
    #[arg(long)]
    once: bool,
    /// First retry delay after a failed poll.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    backoff_min: Duration,
    /// Longest retry delay (the delay doubles after each failure up to this).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    backoff_max: Duration,
    /// Give up on one HTTP request after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    http_timeout: Duration,
}

/// A test site.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

fn parse_site(s: &str) -> Result<Site, String> {
    let err = || format!("invalid site {s:?}: expected NAME:LAT,LON, e.g. Punggye-ri:41.28,129.08");
    let (name, coords) = s.rsplit_once(':').ok_or_else(err)?;
    let (lat, lon) = coords.split_once(',').ok_or_else(err)?;
    let lat: f64 = lat.trim().parse().map_err(|_| err())?;
    let lon: f64 = lon.trim().parse().map_err(|_| err())?;
    let name = name.trim();
    if name.is_empty() || name.len() > 80 || !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(err());
    }
    Ok(Site { name: name.to_owned(), lat, lon })
}

fn parse_nonneg(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a non-negative number, got {s:?}")),
    }
}

// ---------------------------------------------------------------- events

/// One event from the GeoJSON, with what tisa uses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quake {
    pub id: String,
    /// Every id of the event (`ids` plus `id`), sorted, unique.
    pub aliases: Vec<String>,
    pub mag: Option<f64>,
    pub mag_type: String,
    pub kind: String,
    pub place: String,
    pub time_ms: i64,
    pub updated_ms: Option<i64>,
    pub lat: f64,
    pub lon: f64,
    pub depth_km: Option<f64>,
    pub url: String,
    pub status: String,
}

/// Parses a FeatureCollection (or a single Feature). A feature without an
/// id, time or coordinates is skipped and counted.
pub(crate) fn parse_geojson(text: &str) -> Result<(Vec<Quake>, usize), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let features: Vec<&Value> = match v.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => v
            .get("features")
            .and_then(Value::as_array)
            .ok_or("malformed GeoJSON: a FeatureCollection without a features array")?
            .iter()
            .collect(),
        Some("Feature") => vec![&v],
        _ => return Err("malformed GeoJSON: expected a FeatureCollection".into()),
    };
    let mut out = Vec::new();
    let mut skipped = 0;
    for f in features {
        match quake(f) {
            Some(q) => out.push(q),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn quake(f: &Value) -> Option<Quake> {
    let p = f.get("properties")?;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let id = f.get("id").and_then(Value::as_str)?.trim().to_owned();
    let c = f.get("geometry")?.get("coordinates")?.as_array()?;
    let lon = c.first()?.as_f64()?;
    let lat = c.get(1)?.as_f64()?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let mut aliases: Vec<String> =
        s("ids").split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
    if !id.is_empty() {
        aliases.push(id.clone());
    }
    aliases.sort();
    aliases.dedup();
    aliases.retain(|a| a.len() <= 64 && !a.chars().any(|c| c.is_control() || c.is_whitespace()));
    if aliases.is_empty() {
        return None;
    }
    Some(Quake {
        id,
        aliases,
        mag: p.get("mag").and_then(Value::as_f64),
        mag_type: s("magType"),
        kind: s("type").to_lowercase(),
        place: s("place"),
        time_ms: p.get("time")?.as_i64()?,
        updated_ms: p.get("updated").and_then(Value::as_i64),
        lat,
        lon,
        depth_km: c.get(2).and_then(Value::as_f64),
        url: s("url"),
        status: s("status"),
    })
}

/// Great-circle distance in km (haversine, mean Earth radius).
pub(crate) fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

/// The filter: which events become reports.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub sites: Vec<Site>,
    pub radius_km: f64,
    pub max_depth_km: f64,
    pub min_magnitude: f64,
}

/// Why an event matched, and where.
#[derive(Clone, Debug)]
pub(crate) struct Match {
    pub site: Site,
    pub distance_km: f64,
    pub typed_nuclear: bool,
}

/// Why an event was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    Far,
    Deep,
    Weak,
}

impl Filter {
    pub fn assess(&self, q: &Quake) -> Result<Match, Skip> {
        let nearest = self
            .sites
            .iter()
            .map(|s| (s, distance_km(q.lat, q.lon, s.lat, s.lon)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, d)| *d <= self.radius_km);
        let Some((site, d)) = nearest else { return Err(Skip::Far) };
        let m = Match { site: site.clone(), distance_km: d, typed_nuclear: q.kind == "nuclear explosion" };
        if m.typed_nuclear {
            return Ok(m);
        }
        if !q.depth_km.is_some_and(|z| z <= self.max_depth_km) {
            return Err(Skip::Deep);
        }
        if !q.mag.is_some_and(|x| x >= self.min_magnitude) {
            return Err(Skip::Weak);
        }
        Ok(m)
    }
}

/// Maps every alias ever seen to the key it was reported under, so an event
/// that gains a new (smaller) alias while this feed runs keeps its key.
#[derive(Default)]
pub(crate) struct Aliases(HashMap<String, String>);

impl Aliases {
    /// The event's key: the key of an alias seen before, else its smallest alias.
    pub fn key(&mut self, q: &Quake) -> String {
        let known = q.aliases.iter().filter_map(|a| self.0.get(a)).min().cloned();
        let id = known.unwrap_or_else(|| q.aliases[0].clone());
        for a in &q.aliases {
            self.0.insert(a.clone(), id.clone());
        }
        format!("usgs:{id}")
    }
}

fn lat_lon(lat: f64, lon: f64) -> String {
    format!(
        "{:.4}° {}, {:.4}° {}",
        lat.abs(),
        if lat < 0.0 { 'S' } else { 'N' },
        lon.abs(),
        if lon < 0.0 { 'W' } else { 'E' }
    )
}

fn utc_ms(ms: i64) -> String {
    utc(u64::try_from(ms).unwrap_or(0))
}

/// The report for a matching event.
pub(crate) fn render(
    q: &Quake,
    m: &Match,
    key: String,
    f: &Filter,
    classification: Classification,
    rel_to: PartySet,
) -> Item {
    let mag = match q.mag {
        Some(x) if q.mag_type.is_empty() => format!("{x:.1}"),
        Some(x) => format!("{x:.1} {}", q.mag_type),
        None => "unknown".to_owned(),
    };
    let kind = if q.kind.is_empty() { "seismic event" } else { q.kind.as_str() };
    let what = if m.typed_nuclear { kind.to_owned() } else { format!("shallow {kind}") };
    let short_mag = q.mag.map(|x| format!("M{x:.1} ")).unwrap_or_default();
    let title = clip(
        &format!("USGS: {short_mag}{what} {:.0} km from {} test site", m.distance_km, m.site.name),
        tisa_core::limits::TITLE,
    );
    let id = key.trim_start_matches("usgs:").to_owned();
    let reason = if m.typed_nuclear {
        "USGS types it a nuclear explosion".to_owned()
    } else {
        format!(
            "shallow (depth ≤ {} km) and magnitude ≥ {} within {} km of a test site: possible explosion",
            f.max_depth_km, f.min_magnitude, f.radius_km
        )
    };
    let depth = q.depth_km.map_or("unknown".to_owned(), |z| format!("{z:.1} km"));
    let mut body = format!(
        "USGS reports a {what} of magnitude {mag}, {:.1} km from the {} nuclear test site.\n\n\
         Why reported:  {reason}\n\
         Magnitude:     {mag}\n\
         USGS type:     {kind}\n\
         Origin time:   {}\n\
         Location:      {}{}\n\
         Depth:         {depth}\n\
         Test site:     {} ({}), {:.1} km away\n",
        m.distance_km,
        m.site.name,
        utc_ms(q.time_ms),
        lat_lon(q.lat, q.lon),
        if q.place.is_empty() { String::new() } else { format!(" ({})", q.place) },
        m.site.name,
        lat_lon(m.site.lat, m.site.lon),
        m.distance_km,
    );
    if !q.status.is_empty() {
        body.push_str(&format!("Review status: {}\n", q.status));
    }
    body.push_str(&format!("USGS event id: {id}"));
    if q.aliases.len() > 1 {
        body.push_str(&format!(" (ids: {})", q.aliases.join(", ")));
    }
    body.push('\n');
    if let Some(u) = q.updated_ms {
        body.push_str(&format!("USGS updated:  {}\n", utc_ms(u)));
    }
    if !q.url.is_empty() {
        body.push_str(&format!("Link:          {}\n", q.url));
    }
    Item {
        key,
        category: Category::NkNuclear,
        classification,
        rel_to,
        title,
        body: clip(&body, tisa_core::limits::BODY),
        tearline: None,
        source: clip(&format!("USGS earthquake catalogue (ComCat), event {id}"), tisa_core::limits::SOURCE),
    }
}

// ----------------------------------------------------------------- fetch

/// The URL to fetch now: an FDSN query without `starttime` gets one.
fn poll_url(url: &str, window: Duration) -> String {
    if window.is_zero() || !url.contains("/fdsnws/event/") || url.contains("starttime=") {
        return url.to_owned();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let start = now.saturating_sub(window).as_millis();
    let start = utc(u64::try_from(start).unwrap_or(0));
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}starttime={}", start.trim_end_matches('Z'))
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let mut resp =
        agent.get(url).header("Accept", "application/geo+json, application/json").call().map_err(|e| match e {
            ureq::Error::Timeout(_) => format!("timed out ({e})"),
            ureq::Error::Io(io) => format!("cannot reach the server: {io}"),
            other => other.to_string(),
        })?;
    let status = resp.status();
    if status.as_u16() == 204 {
        // FDSN: no events match.
        return Ok(r#"{"type":"FeatureCollection","features":[]}"#.to_owned());
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    resp.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| format!("cannot read the response: {e}"))
}

// ------------------------------------------------------------------ run

struct Feed {
    args: UsgsArgs,
    filter: Filter,
    agent: ureq::Agent,
    aliases: Aliases,
    /// Dry run: what was printed, so a long-running dry run prints only changes.
    printed: HashMap<String, Item>,
}

#[derive(Debug)]
enum PollError {
    Fetch(String),
    Node(anyhow::Error),
}

impl Feed {
    async fn poll(&mut self, sink: &mut Sink) -> Result<Tally, PollError> {
        let url = poll_url(&self.args.url, self.args.window);
        let agent = self.agent.clone();
        let u = url.clone();
        let text = tokio::task::spawn_blocking(move || fetch(&agent, &u))
            .await
            .map_err(|e| PollError::Fetch(format!("fetch task failed: {e}")))?
            .map_err(|e| PollError::Fetch(format!("{e} (from {})", redact(&url))))?;
        let (quakes, skipped) =
            parse_geojson(&text).map_err(|e| PollError::Fetch(format!("{e} (from {})", redact(&url))))?;
        if skipped > 0 {
            warn!(skipped, "features without id, time or coordinates skipped");
        }
        let mut tally = Tally::default();
        let (mut far, mut deep, mut weak, mut matched) = (0, 0, 0, 0);
        let mut items = Vec::new();
        for q in &quakes {
            let m = match self.filter.assess(q) {
                Ok(m) => m,
                Err(Skip::Far) => {
                    far += 1;
                    continue;
                }
                Err(Skip::Deep) => {
                    deep += 1;
                    continue;
                }
                Err(Skip::Weak) => {
                    weak += 1;
                    continue;
                }
            };
            matched += 1;
            let key = self.aliases.key(q);
            let item = render(q, &m, key, &self.filter, self.args.classification, self.args.rel_to);
            if sink.dry_run() && !self.args.once && self.printed.get(&item.key) == Some(&item) {
                continue;
            }
            items.push(item);
        }
        // One batch per poll (one signature for its submissions, one for their requests).
        let mut lost = None;
        for (item, result) in items.iter().zip(sink.submit_all(&items).await) {
            match result {
                Ok(o) => {
                    if o == Outcome::DryRun {
                        self.printed.insert(item.key.clone(), item.clone());
                    }
                    tally.add(&o);
                }
                Err(SubmitError::Refused(why)) => {
                    warn!(key = %loggable(&item.key), "not submitted: {}", loggable(&why.to_string()));
                    tally.bad += 1;
                }
                Err(SubmitError::Node(e)) => lost = lost.or(Some(e)),
            }
        }
        if let Some(e) = lost {
            return Err(PollError::Node(e));
        }
        info!(
            events = quakes.len(),
            matched,
            far_from_sites = far,
            too_deep = deep,
            too_weak = weak,
            "poll done: {}",
            tally.summary(sink.dry_run())
        );
        Ok(tally)
    }
}

/// The URL without its query's values would hide nothing useful; but a URL
/// may carry credentials (`user:pass@`): drop those.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Delay before retry number `failures` (1-based): min × 2^(failures−1), at most max.
pub(crate) fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    min.saturating_mul(factor).min(max.max(min))
}

pub async fn run(args: UsgsArgs) -> Result<ExitCode> {
    if args.sites.is_empty() {
        bail!("give at least one --site NAME:LAT,LON");
    }
    if !args.url.starts_with("http://") && !args.url.starts_with("https://") {
        bail!("--url must be an http:// or https:// URL");
    }
    let mut sink = Sink::new(&args.opts)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(args.http_timeout))
        .http_status_as_error(false)
        .user_agent(concat!("tisa/", env!("CARGO_PKG_VERSION"), " (feed usgs)"))
        .build()
        .into();
    let filter = Filter {
        sites: args.sites.clone(),
        radius_km: args.radius_km,
        max_depth_km: args.max_depth_km,
        min_magnitude: args.min_magnitude,
    };
    info!(
        url = %redact(&args.url),
        sites = %args.sites.iter().map(|s| format!("{}:{},{}", s.name, s.lat, s.lon)).collect::<Vec<_>>().join(" "),
        radius_km = args.radius_km,
        dry_run = sink.dry_run(),
        "USGS feed started"
    );
    let once = args.once;
    let (interval, bmin, bmax) = (args.interval, args.backoff_min, args.backoff_max);
    let mut feed = Feed { args, filter, agent, aliases: Aliases::default(), printed: HashMap::new() };
    let stop = tisa_kit::util::shutdown_signal();
    tokio::pin!(stop);
    let mut failures = 0u32;
    loop {
        let result = tokio::select! {
            r = feed.poll(&mut sink) => r,
            s = &mut stop => {
                info!(signal = s, "stopping");
                return Ok(ExitCode::SUCCESS);
            }
        };
        let wait = match result {
            Ok(t) => {
                if failures > 0 {
                    info!(after_failures = failures, "poll succeeded again");
                }
                failures = 0;
                if once {
                    eprintln!("usgs: {}", t.summary(sink.dry_run()));
                    return Ok(if t.bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
                }
                interval
            }
            Err(e) => {
                let msg = match &e {
                    PollError::Fetch(m) => format!("fetch failed: {m}"),
                    PollError::Node(e) => format!("submission failed: {e:#}"),
                };
                if once {
                    bail!("{msg}");
                }
                failures = failures.saturating_add(1);
                let d = backoff(bmin, bmax, failures);
                warn!(
                    failures,
                    retry_in_ms = d.as_millis() as u64,
                    "{msg}; retrying in {}",
                    tisa_deploy::human_duration(d)
                );
                if matches!(e, PollError::Node(_)) {
                    // Reconnect on the next attempt.
                    sink.reset();
                }
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            s = &mut stop => {
                info!(signal = s, "stopping");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: &str, lat: f64, lon: f64, depth: f64, mag: f64) -> Quake {
        Quake {
            id: "us1".into(),
            aliases: vec!["us1".into()],
            mag: Some(mag),
            mag_type: "mb".into(),
            kind: kind.into(),
            place: String::new(),
            time_ms: 0,
            updated_ms: None,
            lat,
            lon,
            depth_km: Some(depth),
            url: String::new(),
            status: String::new(),
        }
    }

    fn filter() -> Filter {
        Filter {
            sites: vec![parse_site("Punggye-ri:41.28,129.08").unwrap()],
            radius_km: 25.0,
            max_depth_km: 5.0,
            min_magnitude: 4.0,
        }
    }

    #[test]
    fn filtering() {
        let f = filter();
        assert!(f.assess(&q("nuclear explosion", 41.3323, 129.0297, 0.0, 6.3)).unwrap().typed_nuclear);
        assert!(f.assess(&q("nuclear explosion", 41.3323, 129.0297, 0.0, 2.0)).is_ok(), "typed: any magnitude");
        assert!(f.assess(&q("earthquake", 41.30, 129.10, 3.0, 4.5)).is_ok(), "shallow and strong");
        assert_eq!(f.assess(&q("earthquake", 41.30, 129.10, 12.0, 4.5)).unwrap_err(), Skip::Deep);
        assert_eq!(f.assess(&q("earthquake", 41.30, 129.10, 1.0, 3.9)).unwrap_err(), Skip::Weak);
        assert_eq!(f.assess(&q("nuclear explosion", 35.8, 129.2, 0.0, 5.0)).unwrap_err(), Skip::Far);
        let d = distance_km(41.28, 129.08, 41.3323, 129.0297);
        assert!((d - 7.1).abs() < 0.3, "{d}");
    }

    #[test]
    fn sites_and_backoff() {
        assert_eq!(parse_site("Yongbyon:39.80,125.75").unwrap().name, "Yongbyon");
        assert!(parse_site("nowhere").is_err());
        assert!(parse_site("x:91,0").is_err());
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), s(10), 1), s(1));
        assert_eq!(backoff(s(1), s(10), 3), s(4));
        assert_eq!(backoff(s(1), s(10), 30), s(10));
    }

    #[test]
    fn canonical_keys_follow_aliases() {
        let mut a = Aliases::default();
        let mut e = q("nuclear explosion", 41.3, 129.0, 0.0, 6.0);
        e.aliases = vec!["us2000aert".into()];
        assert_eq!(a.key(&e), "usgs:us2000aert");
        // Later merged with a smaller alias: still the same key in this process.
        e.aliases = vec!["at00ovnzaq".into(), "us2000aert".into()];
        assert_eq!(a.key(&e), "usgs:us2000aert");
        // A fresh process picks the smallest alias.
        assert_eq!(Aliases::default().key(&e), "usgs:at00ovnzaq");
    }

    #[test]
    fn urls() {
        let u = poll_url(DEFAULT_URL, Duration::from_secs(86_400));
        assert!(u.contains("&starttime=20"), "{u}");
        assert_eq!(poll_url("http://x/feed.geojson", Duration::from_secs(60)), "http://x/feed.geojson");
        assert_eq!(redact("https://u:p@host/x"), "https://host/x");
    }
}
