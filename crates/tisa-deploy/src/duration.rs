//! Durations as people write them, in the agreement (`request_expiry =
//! "24h"`) and on the command line (`--timeout 10s`).

use std::time::Duration;

/// Parses `500ms`, `30s`, `5m`, `24h`, `2d` and combinations such as
/// `1h30m` or `1d 12h` (humantime's syntax); a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = s.parse().map_err(|_| format!("invalid duration {s:?}: too large"))?;
        return Ok(Duration::from_secs(n));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e} (try 30s, 5m, 1h30m, 24h)"))
}

/// `24h`, `90s`, `1500ms`: the largest unit that divides evenly.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, n) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= n && ms.is_multiple_of(n) {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d 12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
    }
}
