//! The wall clock, for the shell (the core never reads one: every input
//! carries its `now`).

use std::time::{SystemTime, UNIX_EPOCH};

use tisa_core::Timestamp;

/// Now, in Unix milliseconds (0 before 1970, saturating far in the future).
pub fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Now, in Unix nanoseconds: for measuring only (`crate::timeline`), never
/// for a decision.
pub fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
