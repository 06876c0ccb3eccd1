//! `tisa feed cns-csv FILE`: imports the CNS North Korea Missile Test
//! Database (James Martin Center for Nonproliferation Studies, published by
//! NTI) as NK_MISSILE reports, one per row, keyed `cns:<F1>`.

use std::collections::HashMap;
use std::process::ExitCode;
use tisa_core::text::loggable;

use anyhow::{bail, Context, Result};
use clap::Args;
use tisa_core::{limits, Category, Classification, PartySet};
use tracing::{info, warn};

use super::{clip, stderr_is_tty, FeedOptions, Item, Sink, SubmitError, Tally};

/// `tisa feed … --help`: what the feed reads, field by field.
pub(crate) const LONG_HELP: &str =
    "Imports the CNS North Korea Missile Test Database (CSV, as published: columns F1, Date, \
Date Entered/Updated, Launch Time (UTC), Missile Name, Missile Type, Launch Agency/Authority, Facility Name, \
Facility Location, Other Name, Facility Latitude, Facility Longitude, Landing Location, Apogee, Distance \
Travelled, Confirmation Status, Test Outcome, Additional Information, Source(s)) into your own node: one \
NK_MISSILE report per row, keyed `cns:<F1>`.\n\n\
Re-importing the same file submits nothing new (the node answers `duplicate`); a row whose content changed \
becomes a new revision of its report. Dates such as 9-Apr-84, Sep-84 or 12-Feb-2017 are read (two-digit \
years: 50–99 → 19xx, 00–49 → 20xx); free text such as `1,380 km` or `Unknown` is kept readable. Bad rows \
(unreadable date or coordinates, wrong number of fields, missing or repeated F1) are reported with their \
line number and do not stop the import. Prints a summary (imported / unchanged / revised / bad) on stderr; \
exits 1 if any row was bad or refused, 0 otherwise.";

#[derive(Args, Debug)]
#[command(
    long_about = LONG_HELP,
    after_help = "Example: tisa feed cns-csv --config tisa-broker/kr-cli.toml --rel-to USA,JPN cns_missile_tests.csv"
)]
pub struct CsvArgs {
    #[command(flatten)]
    opts: FeedOptions,
    /// The CSV file (`-` for stdin).
    file: std::path::PathBuf,
    /// Classification of the reports.
    #[arg(long, default_value = "unclassified")]
    classification: Classification,
    /// Releasable-to of the reports (a limit, never consent; your own party is implied).
    #[arg(long = "rel-to", default_value = "KOR,USA,JPN")]
    rel_to: PartySet,
    /// Read the file once and exit (what this command always does; accepted for symmetry with the other feeds).
    #[arg(long)]
    once: bool,
}

/// The columns, by their normalised header names.
const COLUMNS: [&str; 19] = [
    "f1",
    "date",
    "date entered/updated",
    "launch time (utc)",
    "missile name",
    "missile type",
    "launch agency/authority",
    "facility name",
    "facility location",
    "other name",
    "facility latitude",
    "facility longitude",
    "landing location",
    "apogee",
    "distance travelled",
    "confirmation status",
    "test outcome",
    "additional information",
    "source(s)",
];
const REQUIRED: [&str; 3] = ["f1", "date", "missile name"];

fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A date from the database: `YYYY-MM-DD`, or `YYYY-MM` when only the month is known.
pub(crate) fn parse_date(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("cannot read {:?} as a date (expected e.g. 9-Apr-84, Sep-84 or 12-Feb-2017)", clip(s, 40));
    let year = |y: &str| -> Option<i32> {
        let n: i32 = y.parse().ok()?;
        match y.len() {
            2 => Some(if n >= 50 { 1900 + n } else { 2000 + n }),
            4 if (1900..=2100).contains(&n) => Some(n),
            _ => None,
        }
    };
    let month = |m: &str| -> Option<u32> {
        const FULL: [&str; 12] = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        let m = m.to_lowercase();
        let m = if m == "sept" { "sep".to_owned() } else { m };
        FULL.iter().position(|f| *f == m || (m.len() == 3 && f.starts_with(&m))).map(|i| i as u32 + 1)
    };
    let days_in = |y: i32, m: u32| -> u32 {
        match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    };
    let parts: Vec<&str> = s.split(['-', ' ', '/']).filter(|p| !p.is_empty()).collect();
    let (y, m, d) = match parts.as_slice() {
        // 9-Apr-84, 12-Feb-2017
        [d, m, y] if m.chars().all(|c| c.is_ascii_alphabetic()) => {
            (year(y).ok_or_else(bad)?, month(m).ok_or_else(bad)?, Some(d.parse::<u32>().map_err(|_| bad())?))
        }
        // 2017-02-12
        [y, m, d] if y.len() == 4 && s.contains('-') => {
            (year(y).ok_or_else(bad)?, m.parse::<u32>().map_err(|_| bad())?, Some(d.parse::<u32>().map_err(|_| bad())?))
        }
        // 2/12/2017 (month first, as spreadsheets write it)
        [m, d, y] if s.contains('/') => {
            (year(y).ok_or_else(bad)?, m.parse::<u32>().map_err(|_| bad())?, Some(d.parse::<u32>().map_err(|_| bad())?))
        }
        // Sep-84, Sep-1984
        [m, y] => (year(y).ok_or_else(bad)?, month(m).ok_or_else(bad)?, None),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    match d {
        Some(d) if d == 0 || d > days_in(y, m) => Err(bad()),
        Some(d) => Ok(format!("{y:04}-{m:02}-{d:02}")),
        None => Ok(format!("{y:04}-{m:02}")),
    }
}

/// Free text that means "not known".
fn unknown(s: &str) -> bool {
    let l = s.trim().to_lowercase();
    matches!(l.as_str(), "" | "unknown" | "n/a" | "na" | "-" | "—" | "none" | "unk" | "not known" | "?")
}

/// A distance such as `1,380 km`, `~550km`, `70` → `1380 km`; `Unknown` →
/// `unknown`; other text is kept as written.
pub(crate) fn parse_km(s: &str) -> String {
    let t = s.trim();
    if unknown(t) {
        return "unknown".to_owned();
    }
    let mut rest = t.trim_start_matches(['~', '≈']).trim_start();
    let lower = rest.to_lowercase();
    let mut approx = t.starts_with(['~', '≈']);
    for p in ["approximately ", "approx. ", "approx ", "about ", "around ", "c. "] {
        if lower.starts_with(p) {
            rest = &rest[p.len()..];
            approx = true;
            break;
        }
    }
    let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.').collect();
    let unit = rest[num.len()..].trim().to_lowercase();
    let value = num.replace(',', "").parse::<f64>().ok().filter(|v| v.is_finite());
    match value {
        Some(v) if matches!(unit.as_str(), "" | "km" | "kilometers" | "kilometres") => {
            let v = if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v}") };
            format!("{}{v} km", if approx { "about " } else { "" })
        }
        _ => clip(t, 200),
    }
}

fn parse_time(s: &str) -> String {
    let t = s.trim();
    if unknown(t) {
        return "unknown".to_owned();
    }
    let parts: Vec<&str> = t.trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace()).split(':').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
    match nums.as_deref() {
        Some([h, m]) if *h < 24 && *m < 60 => format!("{h:02}:{m:02} UTC"),
        Some([h, m, sec]) if *h < 24 && *m < 60 && *sec < 61 => format!("{h:02}:{m:02}:{sec:02} UTC"),
        _ => clip(t, 60),
    }
}

fn parse_coord(s: &str, what: &str, max: f64) -> Result<Option<f64>, String> {
    let t = s.trim();
    if unknown(t) {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= max => Ok(Some(v)),
        _ => Err(format!("{what}: cannot read {:?} as decimal degrees", clip(t, 40))),
    }
}

/// One row, by column name.
struct Row<'a> {
    cols: &'a HashMap<&'static str, usize>,
    fields: Vec<String>,
}

impl Row<'_> {
    fn get(&self, col: &str) -> &str {
        self.cols.get(col).and_then(|i| self.fields.get(*i)).map(|s| s.trim()).unwrap_or_default()
    }
    fn text(&self, col: &str) -> Option<&str> {
        let v = self.get(col);
        (!unknown(v)).then_some(v)
    }
}

/// The report for one row.
fn render(row: &Row<'_>, classification: Classification, rel_to: PartySet) -> Result<Item, String> {
    let f1 = row.get("f1");
    if f1.is_empty() {
        return Err("F1 (the row's id) is empty".into());
    }
    if f1.len() > 64 || f1.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("F1 must be a short id without spaces".into());
    }
    let date = parse_date(row.get("date")).map_err(|e| format!("Date: {e}"))?;
    let lat = parse_coord(row.get("facility latitude"), "Facility Latitude", 90.0)?;
    let lon = parse_coord(row.get("facility longitude"), "Facility Longitude", 180.0)?;
    let entered = row.text("date entered/updated").map(|d| parse_date(d).unwrap_or_else(|_| clip(d, 40)));
    let name = row.text("missile name").unwrap_or("Unknown missile");
    let kind = row.text("missile type");
    let facility = row.text("facility name");
    let outcome = row.text("test outcome");

    let mut title = format!("CNS: {name}");
    if let Some(k) = kind {
        title.push_str(&format!(" ({k})"));
    }
    title.push_str(&format!(" launch on {date}"));
    if let Some(f) = facility {
        title.push_str(&format!(" from {f}"));
    }
    if let Some(o) = outcome {
        title.push_str(&format!(": {o}"));
    }

    let or_unknown = |c: &str| row.text(c).unwrap_or("unknown").to_owned();
    let mut place = or_unknown("facility name");
    if let Some(o) = row.text("other name") {
        place.push_str(&format!(" (also: {o})"));
    }
    if let Some(l) = row.text("facility location") {
        place.push_str(&format!(", {l}"));
    }
    if let (Some(la), Some(lo)) = (lat, lon) {
        place.push_str(&format!(
            " — {:.4}° {}, {:.4}° {}",
            la.abs(),
            if la < 0.0 { 'S' } else { 'N' },
            lo.abs(),
            if lo < 0.0 { 'W' } else { 'E' }
        ));
    }
    let mut body = format!(
        "CNS North Korea Missile Test Database, entry F1 {f1}.\n\n\
         Date:               {date}\n\
         Launch time:        {}\n\
         Missile:            {name}{}\n\
         Launch agency:      {}\n\
         Facility:           {place}\n\
         Landing location:   {}\n\
         Apogee:             {}\n\
         Distance travelled: {}\n\
         Confirmation:       {}\n\
         Outcome:            {}\n",
        parse_time(row.get("launch time (utc)")),
        kind.map(|k| format!(" ({k})")).unwrap_or_default(),
        or_unknown("launch agency/authority"),
        or_unknown("landing location"),
        parse_km(row.get("apogee")),
        parse_km(row.get("distance travelled")),
        or_unknown("confirmation status"),
        or_unknown("test outcome"),
    );
    if let Some(e) = entered {
        body.push_str(&format!("Entered/updated:    {e}\n"));
    }
    if let Some(info) = row.text("additional information") {
        body.push_str(&format!("\nAdditional information:\n{info}\n"));
    }
    let source = match row.text("source(s)") {
        Some(s) => format!("CNS North Korea Missile Test Database (F1 {f1}); sources: {s}"),
        None => format!("CNS North Korea Missile Test Database (F1 {f1})"),
    };
    Ok(Item {
        key: format!("cns:{f1}"),
        category: Category::NkMissile,
        classification,
        rel_to,
        title: clip(&title, limits::TITLE),
        body: clip(&body, limits::BODY),
        tearline: None,
        source: clip(&source, limits::SOURCE),
    })
}

/// Reads the CSV: the reports of its good rows, with their line numbers,
/// and the bad rows' line numbers and reasons, in file order.
pub(crate) fn read(
    data: &[u8],
    classification: Classification,
    rel_to: PartySet,
) -> Result<Vec<(u64, Result<Item, String>)>> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(data);
    let headers = rdr.byte_headers().context("cannot read the CSV header")?.clone();
    let names: Vec<String> = headers.iter().map(|h| normalise_header(&String::from_utf8_lossy(h))).collect();
    let mut cols = HashMap::new();
    for c in COLUMNS {
        if let Some(i) = names.iter().position(|n| n == c) {
            cols.insert(c, i);
        }
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !cols.contains_key(c)).collect();
    if !missing.is_empty() {
        bail!(
            "not a CNS missile test CSV: no column {} in the header (line 1)",
            missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    let absent: Vec<&str> = COLUMNS.iter().copied().filter(|c| !cols.contains_key(c)).collect();
    if !absent.is_empty() {
        warn!("columns missing from the header, read as unknown: {}", absent.join(", "));
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line_before = rdr.position().line();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line_before);
                out.push((line, Err(format!("unreadable CSV: {e}"))));
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line_before);
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if record.len() != headers.len() {
            out.push((line, Err(format!("expected {} fields, found {}", headers.len(), record.len()))));
            continue;
        }
        let row = Row { cols: &cols, fields: record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect() };
        let item = render(&row, classification, rel_to);
        let item = match item {
            Ok(i) => match seen.get(&i.key) {
                Some(first) => Err(format!("F1 {} repeats line {first}", row.get("f1"))),
                None => {
                    seen.insert(i.key.clone(), line);
                    Ok(i)
                }
            },
            Err(e) => Err(e),
        };
        out.push((line, item));
    }
    Ok(out)
}

pub async fn run(args: CsvArgs) -> Result<ExitCode> {
    let data = if args.file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        v
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let name = loggable(&args.file.display().to_string()).into_owned();
    let rows = read(&data, args.classification, args.rel_to)?;
    let mut sink = Sink::new(&args.opts)?;
    if !sink.dry_run() {
        sink.connect().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    info!(file = %name, rows = rows.len(), dry_run = sink.dry_run(), "importing");
    let tty = stderr_is_tty();
    let total = rows.len();
    let mut tally = Tally::default();
    for (n, (line, row)) in rows.into_iter().enumerate() {
        if tty && (n % 10 == 0 || n + 1 == total) {
            eprint!("\r\x1b[Kcns-csv: row {}/{total}", n + 1);
        }
        let item = match row {
            Ok(i) => i,
            Err(why) => {
                if tty {
                    eprint!("\r\x1b[K");
                }
                warn!("{name}: line {line}: bad row: {}", loggable(&why.to_string()));
                tally.bad += 1;
                continue;
            }
        };
        match sink.submit(&item).await {
            Ok(o) => tally.add(&o),
            Err(SubmitError::Refused(why)) => {
                if tty {
                    eprint!("\r\x1b[K");
                }
                warn!(key = %loggable(&item.key), "{name}: line {line}: not submitted: {}", loggable(&why.to_string()));
                tally.bad += 1;
            }
            Err(SubmitError::Node(e)) => {
                if tty {
                    eprintln!();
                }
                eprintln!("cns-csv: stopped at line {line}: {}", tally.summary(sink.dry_run()));
                return Err(e.context(format!("stopped at line {line}")));
            }
        }
    }
    if tty && total > 0 {
        eprint!("\r\x1b[K");
    }
    eprintln!("cns-csv: {name}: {total} rows: {}", tally.summary(sink.dry_run()));
    Ok(if tally.bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("9-Apr-84").unwrap(), "1984-04-09");
        assert_eq!(parse_date("Sep-84").unwrap(), "1984-09");
        assert_eq!(parse_date("12-Feb-2017").unwrap(), "2017-02-12");
        assert_eq!(parse_date("4-Jul-17").unwrap(), "2017-07-04");
        assert_eq!(parse_date("29-Feb-2016").unwrap(), "2016-02-29");
        assert_eq!(parse_date("2017-11-29").unwrap(), "2017-11-29");
        assert_eq!(parse_date("11/29/2017").unwrap(), "2017-11-29");
        assert_eq!(parse_date("September-1984").unwrap(), "1984-09");
        for bad in ["", "Unknown", "32-Jan-17", "29-Feb-2017", "9-Foo-84", "9-Apr-184", "Apr", "1-2-3"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_km("1,380 km"), "1380 km");
        assert_eq!(parse_km("Unknown"), "unknown");
        assert_eq!(parse_km(""), "unknown");
        assert_eq!(parse_km("~550km"), "about 550 km");
        assert_eq!(parse_km("70"), "70 km");
        assert_eq!(parse_km("2,802.5 km"), "2802.5 km");
        assert_eq!(parse_km("over Japan"), "over Japan");
        assert_eq!(parse_time("5:28"), "05:28 UTC");
        assert_eq!(parse_time("Unknown"), "unknown");
        assert_eq!(parse_time("18:17:00"), "18:17:00 UTC");
    }
}
