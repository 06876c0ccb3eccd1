//! The wall clock, read in one place.
//!
//! The core never reads the clock: every input carries `now`. The shell, the
//! operator's CLI (grants, revocations), the benchmark and the tests take
//! `now` from here.

use tisa_core::Timestamp;

/// Now, in Unix milliseconds (0 if the system clock is before 1970;
/// saturating far in the future).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_the_arrangement_was_signed() {
        // 2014-12-29, the day the arrangement was signed.
        assert!(super::now().as_millis() > 1_419_811_200_000);
    }
}
