//! Time as the feed and every sltd program handle it: Unix seconds inside
//! files and messages, RFC 3339 (UTC, whole seconds) wherever a person reads
//! one. One reading of the clock and one format, so `sltd-sync status`, the
//! daemon, `sltd check` and error messages print a time the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first second RFC 3339 cannot write (year 10000).
const END_OF_RFC3339: i64 = 253_402_300_800;

/// Current Unix time in seconds (negative before 1970, which only a broken
/// clock reports).
pub fn now_unix() -> i64 {
    unix_seconds(SystemTime::now())
}

/// A system time as Unix seconds, saturating at the ends of `i64`.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Unix seconds as RFC 3339, `YYYY-MM-DDTHH:MM:SSZ`. A time RFC 3339 cannot
/// write (before 1970 or after 9999) is written `@SECONDS` rather than
/// refused: it usually comes from a file being diagnosed.
pub fn format_unix(secs: i64) -> String {
    if !(0..END_OF_RFC3339).contains(&secs) {
        return format!("@{secs}");
    }
    let t = UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs());
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_out_of_range() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_unix(END_OF_RFC3339 - 1), "9999-12-31T23:59:59Z");
        assert_eq!(format_unix(END_OF_RFC3339), "@253402300800");
        assert_eq!(format_unix(-1), "@-1");
        assert_eq!(format_unix(i64::MIN), format!("@{}", i64::MIN));
    }

    #[test]
    fn clock_readings() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert!(now_unix() > 1_700_000_000);
    }
}
