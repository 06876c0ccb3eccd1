//! `tisa bench --timeline`: where a track update's or a standing report's
//! time goes, step by step. The nodes write each step an update or a
//! report passes ([`tisa_node::timeline`], `TISA_TIMELINE`); the bench adds
//! when it sent each and when JP's event (`TRACK`, `RECEIVED`) reached it,
//! then sets the four files side by side by update or report. Per step:
//! p50, p90, p99 and least of the time from the step before, and the mean
//! over the slowest 1 % (where the tail goes).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use tisa_core::Party;
use tisa_node::timeline::{file_of, Step};

/// One update or report the bench timed: its key in the nodes' files, when
/// it was sent and when its event came (wall clock, ns since the Unix epoch).
pub(crate) struct Sample {
    pub(crate) key: String,
    pub(crate) sent_ns: u128,
    pub(crate) event_ns: u128,
}

/// Now on the wall clock, ns since the Unix epoch (as the nodes write it).
pub(crate) fn wall_ns() -> u128 {
    tisa_node::clock::now_ns()
}

/// Which path a timeline follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A track update: KR's track command → JP's `TRACK` event.
    Track,
    /// A report under a standing grant: KR's submit → JP's `RECEIVED` event.
    Standing,
}

impl Route {
    /// Its name in the JSON and the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::Track => "track",
            Route::Standing => "standing",
        }
    }

    /// The steps of the path in order, as `(who, step)`. A track update:
    /// the bench sends, KR takes, commits and publishes, the hub's lane and
    /// JP's each read, check and pass it on, the bench sees JP's event. A
    /// standing report: KR takes, commits and publishes; the hub's actor
    /// takes it and publishes the delivery (before its own commit); JP's
    /// actor takes the delivery, commits it and shows it.
    fn path(self) -> Vec<(&'static str, &'static str)> {
        let mut v = vec![("bench", "sent")];
        v.extend([Step::Called, Step::Committed, Step::Sent].map(|s| (Party::Kr.code(), s.name())));
        match self {
            Route::Track => {
                for p in [Party::Us, Party::Jp] {
                    v.extend([Step::LaneIn, Step::LaneJudged, Step::LaneOut].map(|s| (p.code(), s.name())));
                }
            }
            Route::Standing => {
                v.extend([Step::In, Step::Sent].map(|s| (Party::Us.code(), s.name())));
                v.extend([Step::In, Step::Committed, Step::Shown].map(|s| (Party::Jp.code(), s.name())));
            }
        }
        v.push(("bench", "event"));
        v
    }
}

/// The nodes' lines in `dir`: `(who, step, key)` → ns (the first, if an
/// update or report passed a step twice).
pub(crate) fn read(dir: &Path) -> Lines {
    let mut at = HashMap::new();
    for p in Party::ALL {
        let Ok(text) = std::fs::read_to_string(file_of(dir, p)) else { continue };
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(step), Some(key), Some(ns)) = (f.next(), f.next(), f.next().and_then(|n| n.parse().ok())) else {
                continue;
            };
            at.entry((p.code(), step.to_owned(), key.to_owned())).or_insert(ns);
        }
    }
    at
}

/// The `q` quantile of `sorted` (ascending; NaN for none).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    crate::quantile(sorted, q).unwrap_or(f64::NAN)
}

/// The nodes' lines, as [`read`] gives them.
pub(crate) type Lines = HashMap<(&'static str, String, String), u128>;

/// The timeline of `samples` along `route` from the nodes' lines.
pub(crate) fn analyse(at: &Lines, route: Route, samples: &[Sample]) -> Value {
    let path = route.path();
    let mut missing: HashMap<String, u64> = HashMap::new();
    // Each complete update's times at every step, in path order.
    let mut rows: Vec<Vec<i128>> = Vec::new();
    for s in samples {
        let mut row = Vec::with_capacity(path.len());
        for &(who, step) in &path {
            let ns = match (who, step) {
                ("bench", "sent") => Some(s.sent_ns),
                ("bench", _) => Some(s.event_ns),
                _ => at.get(&(who, step.to_owned(), s.key.clone())).copied(),
            };
            match ns {
                Some(ns) => row.push(ns as i128),
                None => *missing.entry(format!("{who} {step}")).or_default() += 1,
            }
        }
        if row.len() == path.len() {
            rows.push(row);
        }
    }
    let us = |ns: i128| ns as f64 / 1e3;
    rows.sort_by_key(|r| r[r.len() - 1] - r[0]);
    let slowest = &rows[rows.len() - (rows.len() / 100).max(1).min(rows.len())..];
    let steps: Vec<Value> = (1..path.len())
        .map(|i| {
            let mut d: Vec<f64> = rows.iter().map(|r| us(r[i] - r[i - 1])).collect();
            d.sort_by(f64::total_cmp);
            let tail = if slowest.is_empty() {
                f64::NAN
            } else {
                slowest.iter().map(|r| us(r[i] - r[i - 1])).sum::<f64>() / slowest.len() as f64
            };
            json!({
                "from": format!("{} {}", path[i - 1].0, path[i - 1].1),
                "to": format!("{} {}", path[i].0, path[i].1),
                "min_us": quantile(&d, 0.0), "p50_us": quantile(&d, 0.5), "p90_us": quantile(&d, 0.9),
                "p99_us": quantile(&d, 0.99), "slowest_1pct_mean_us": tail,
            })
        })
        .collect();
    let mut total: Vec<f64> = rows.iter().map(|r| us(r[r.len() - 1] - r[0])).collect();
    total.sort_by(f64::total_cmp);
    json!({
        "samples": samples.len(),
        "complete": rows.len(),
        "missing": missing,
        "total": {"p50_us": quantile(&total, 0.5), "p90_us": quantile(&total, 0.9), "p99_us": quantile(&total, 0.99)},
        "steps": steps,
    })
}

/// The timelines as tables (after the bench's others): per fsync
/// setting, per route.
pub(crate) fn print(timelines: &Value) {
    let Some(m) = timelines.as_object() else { return };
    for (fsync, routes) in m {
        for route in [Route::Track, Route::Standing] {
            if let Some(t) = routes.get(route.name()) {
                print_one(&format!("{} [{fsync}]", route.name()), t);
            }
        }
    }
}

fn print_one(title: &str, t: &Value) {
    {
        println!(
            "\n{title}, step by step ({} of {} seen at every step; µs from the step before)",
            t["complete"], t["samples"]
        );
        println!("{:<16} {:<16} {:>7} {:>7} {:>7} {:>12}", "from", "to", "p50", "p90", "p99", "slowest 1 %");
        let steps = t["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
        for s in steps {
            println!(
                "{:<16} {:<16} {:>7.0} {:>7.0} {:>7.0} {:>12.0}",
                s["from"].as_str().unwrap_or("?"),
                s["to"].as_str().unwrap_or("?"),
                s["p50_us"].as_f64().unwrap_or(f64::NAN),
                s["p90_us"].as_f64().unwrap_or(f64::NAN),
                s["p99_us"].as_f64().unwrap_or(f64::NAN),
                s["slowest_1pct_mean_us"].as_f64().unwrap_or(f64::NAN),
            );
        }
        if let Some(missing) = t["missing"].as_object().filter(|m| !m.is_empty()) {
            println!("steps not seen: {}", Value::Object(missing.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(
        key: &str,
        start: u128,
        gaps: &[(&'static str, &str, u128)],
    ) -> Vec<((&'static str, String, String), u128)> {
        let mut t = start;
        gaps.iter()
            .map(|(who, step, gap)| {
                t += gap;
                ((*who, (*step).to_owned(), key.to_owned()), t)
            })
            .collect()
    }

    const STEPS: [(&str, &str, u128); 9] = [
        ("KR", "called", 200_000),
        ("KR", "committed", 300_000),
        ("KR", "sent", 50_000),
        ("US", "lane-in", 300_000),
        ("US", "lane-judged", 60_000),
        ("US", "lane-out", 20_000),
        ("JP", "lane-in", 280_000),
        ("JP", "lane-judged", 70_000),
        ("JP", "lane-out", 20_000),
    ];

    #[test]
    fn each_step_is_the_time_from_the_one_before_and_an_update_missing_one_is_left_out() {
        let mut at = HashMap::new();
        let mut samples = Vec::new();
        for i in 0..10u128 {
            let key = format!("KR-T-1#{i}");
            let start = 1_000_000_000 * i;
            // Update 9 is ten times slower at the hub: the tail's step.
            let mut steps = STEPS;
            if i == 9 {
                steps[3].2 = 3_000_000;
            }
            at.extend(lines(&key, start, &steps));
            let end: u128 = start + steps.iter().map(|s| s.2).sum::<u128>() + 190_000;
            samples.push(Sample { key, sent_ns: start, event_ns: end });
        }
        // An eleventh whose JP lane-in is missing (the lane was off, say).
        let mut partial = lines("KR-T-1#10", 50_000_000_000, &STEPS);
        partial.retain(|((who, step, _), _)| !(*who == "JP" && step == "lane-in"));
        at.extend(partial);
        samples.push(Sample { key: "KR-T-1#10".into(), sent_ns: 50_000_000_000, event_ns: 50_002_000_000 });
        let t = analyse(&at, Route::Track, &samples);
        assert_eq!((t["samples"].as_u64(), t["complete"].as_u64()), (Some(11), Some(10)));
        assert_eq!(t["missing"]["JP lane-in"], 1);
        let steps = t["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 10);
        assert_eq!((steps[0]["from"].as_str(), steps[0]["to"].as_str()), (Some("bench sent"), Some("KR called")));
        assert_eq!(steps[0]["p50_us"], 200.0);
        assert_eq!(steps[1]["p50_us"], 300.0);
        assert_eq!(steps[9]["to"], "bench event");
        assert_eq!(steps[9]["p50_us"], 190.0);
        // The hub's hop: 300 µs at p50, the slow update in the tail.
        assert_eq!(steps[3]["to"], "US lane-in");
        assert_eq!((steps[3]["p50_us"].as_f64(), steps[3]["p99_us"].as_f64()), (Some(300.0), Some(3000.0)));
        assert_eq!(steps[3]["slowest_1pct_mean_us"], 3000.0);
        assert_eq!(steps[4]["slowest_1pct_mean_us"], 60.0, "the slowest update's other steps as usual");
        assert_eq!(t["total"]["p50_us"], 1490.0);
    }

    #[test]
    fn a_standing_report_goes_through_the_hubs_actor_and_jps_commit_not_the_lanes() {
        let steps = |r: Route| r.path().iter().map(|(w, s)| format!("{w} {s}")).collect::<Vec<_>>();
        assert_eq!(
            steps(Route::Standing),
            [
                "bench sent",
                "KR called",
                "KR committed",
                "KR sent",
                "US in",
                "US sent",
                "JP in",
                "JP committed",
                "JP shown",
                "bench event"
            ]
        );
        assert!(
            steps(Route::Track).contains(&"US lane-in".to_owned())
                && !steps(Route::Track).contains(&"US in".to_owned())
        );
        // One report's lines, read with the track route: every lane step missing.
        let mut at = HashMap::new();
        let gaps = [
            ("KR", "called", 1),
            ("KR", "committed", 1),
            ("KR", "sent", 1),
            ("US", "in", 1),
            ("US", "sent", 1),
            ("JP", "in", 1),
            ("JP", "committed", 1),
            ("JP", "shown", 1),
        ];
        at.extend(lines("KR-1", 0, &gaps));
        let s = || vec![Sample { key: "KR-1".into(), sent_ns: 0, event_ns: 20 }];
        assert_eq!(analyse(&at, Route::Standing, &s())["complete"], 1);
        let t = analyse(&at, Route::Track, &s());
        assert_eq!((t["complete"].as_u64(), t["missing"]["US lane-in"].as_u64()), (Some(0), Some(1)));
    }

    #[test]
    fn no_complete_update_gives_empty_figures_not_a_panic() {
        let t = analyse(&HashMap::new(), Route::Track, &[Sample { key: "x#1".into(), sent_ns: 1, event_ns: 2 }]);
        assert_eq!(t["complete"], 0);
        assert_eq!(t["missing"]["KR called"], 1);
        assert!(t["steps"][0]["p50_us"].is_null(), "NaN is null in JSON: {}", t["steps"][0]);
    }
}
