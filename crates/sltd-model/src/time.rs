//! Time as the feed and every sltd program handle it: Unix seconds inside
//! files and messages, RFC 3339 (UTC, whole seconds) wherever a person reads
//! one, and a span of time (an age, a threshold) in the words of
//! [`format_span`]. One reading of the clock and one format, so
//! `sltd-sync status`, the daemon's status page, `sltd check`, the desk and
//! error messages print a time the same way.

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

/// A span of seconds as a person reads it, in its two largest units, the
/// second left out when zero: `45 s`, `12 min 5 s`, `3 h 12 min`,
/// `1 day 2 h`, `3 days`. A negative span (a clock behind the data) is
/// `0 s`.
pub fn format_span(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let two = |a: String, b: i64, unit: &str| {
        if b == 0 { a } else { format!("{a} {b} {unit}") }
    };
    match (d, h, m) {
        (0, 0, 0) => format!("{sec} s"),
        (0, 0, _) => two(format!("{m} min"), sec, "s"),
        (0, _, _) => two(format!("{h} h"), m, "min"),
        (1, _, _) => two("1 day".to_string(), h, "h"),
        _ => two(format!("{d} days"), h, "h"),
    }
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
    fn spans_read_well() {
        assert_eq!(format_span(0), "0 s");
        assert_eq!(format_span(45), "45 s");
        assert_eq!(format_span(60), "1 min");
        assert_eq!(format_span(125), "2 min 5 s");
        assert_eq!(format_span(3 * 3600), "3 h");
        assert_eq!(format_span(3 * 3600 + 12 * 60 + 7), "3 h 12 min");
        assert_eq!(format_span(86_400), "1 day");
        assert_eq!(format_span(86_400 + 7200), "1 day 2 h");
        assert_eq!(format_span(2 * 86_400), "2 days");
        assert_eq!(format_span(2 * 86_400 + 3600 + 59), "2 days 1 h");
        assert_eq!(format_span(-5), "0 s");
        assert_eq!(
            format_span(i64::MAX),
            format!("{} days 15 h", i64::MAX / 86_400)
        );
    }

    #[test]
    fn clock_readings() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert!(now_unix() > 1_700_000_000);
    }
}
