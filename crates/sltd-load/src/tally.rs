//! What a run measured: latency histograms (HDR, 1 µs to 60 s, three
//! significant digits), requests, documents, errors and wrong answers, and
//! the report every load generator prints from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::drive::{Failure, Outcome};

/// Latency bounds of the histograms, microseconds.
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// Microseconds, at least one (the histogram's lowest value).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The latency distribution of a run, microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Latencies and counts of a run, or of one worker of it (see
/// [`Tally::merge`]).
#[derive(Clone, Debug)]
pub struct Tally {
    /// From the intended send time (open loop) or the send (closed loop).
    latency: Histogram<u64>,
    /// Open loop only: from the actual send. A wide gap between the two
    /// means the load generator itself was late (CPU contention).
    service: Histogram<u64>,
    requests: u64,
    keys: u64,
    errors: u64,
    /// `errors` by [`Failure::kind`].
    errors_by_kind: BTreeMap<String, u64>,
    mismatches: u64,
    first_error: Option<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            service: histogram(),
            requests: 0,
            keys: 0,
            errors: 0,
            errors_by_kind: BTreeMap::new(),
            mismatches: 0,
            first_error: None,
        }
    }

    /// One request and what came of it, `latency` after it was sent.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        match outcome {
            Ok(a) => {
                self.latency.saturating_record(micros(latency));
                self.keys += a.keys;
                self.mismatches += u64::from(!a.correct);
            }
            Err(e) => self.note_error(e),
        }
    }

    /// One open-loop request: `latency` from its intended send time,
    /// `service` from its actual send.
    pub fn record_scheduled(&mut self, outcome: Outcome, latency: Duration, service: Duration) {
        if outcome.is_ok() {
            self.service.saturating_record(micros(service));
        }
        self.record(outcome, latency);
    }

    /// A request that failed before it could be sent or answered.
    pub fn failed(&mut self, error: impl Into<Failure>) {
        self.requests += 1;
        self.note_error(error.into());
    }

    /// `count` requests sent and never answered.
    pub fn unanswered(&mut self, count: u64) {
        if count == 0 {
            return;
        }
        self.requests += count;
        self.add_errors("unanswered", count);
        self.first_error
            .get_or_insert_with(|| format!("{count} requests unanswered at the end"));
    }

    /// An error not tied to one request (a broken stream, an answer nobody
    /// asked for).
    pub fn error(&mut self, error: impl Into<Failure>) {
        self.note_error(error.into());
    }

    fn note_error(&mut self, error: Failure) {
        self.add_errors(&error.kind, 1);
        self.first_error.get_or_insert(error.message);
    }

    fn add_errors(&mut self, kind: &str, count: u64) {
        self.errors += count;
        match self.errors_by_kind.get_mut(kind) {
            Some(n) => *n += count,
            None => {
                self.errors_by_kind.insert(kind.to_owned(), count);
            }
        }
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.requests += other.requests;
        self.keys += other.keys;
        self.errors += other.errors;
        for (kind, n) in &other.errors_by_kind {
            *self.errors_by_kind.entry(kind.clone()).or_default() += n;
        }
        self.mismatches += other.mismatches;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Requests sent (batches count once), answered or not.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Documents asked about in answered requests.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Requests that failed, plus errors outside any one request.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// How many errors of each [`Failure::kind`], by kind.
    pub fn errors_by_kind(&self) -> &BTreeMap<String, u64> {
        &self.errors_by_kind
    }

    /// The errors in a few words: `3 (UNAVAILABLE 2, UNKNOWN 1)`, or `0`.
    pub fn errors_text(&self) -> String {
        let mut text = self.errors.to_string();
        for (i, (kind, n)) in self.errors_by_kind.iter().enumerate() {
            let sep = if i == 0 { " (" } else { ", " };
            let _ = write!(text, "{sep}{kind} {n}");
        }
        if !self.errors_by_kind.is_empty() {
            text.push(')');
        }
        text
    }

    /// Answered requests with at least one wrong verdict.
    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }

    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// The latency distribution of answered requests.
    pub fn latency(&self) -> Percentiles {
        Percentiles::of(&self.latency)
    }

    /// The open-loop latency from each actual send, when there is one.
    pub fn service(&self) -> Option<Percentiles> {
        (!self.service.is_empty()).then(|| Percentiles::of(&self.service))
    }

    /// Every request answered and every answer right; and there was at
    /// least one request (an empty run proves nothing).
    pub fn passed(&self) -> bool {
        self.requests > 0 && self.errors == 0 && self.mismatches == 0
    }

    /// The report's figures over a measured window of `measured`: counts,
    /// rates and percentiles (field names end in their unit).
    pub fn summary(&self, measured: Duration) -> Map<String, Value> {
        let secs = measured.as_secs_f64();
        let per_second = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let l = self.latency();
        let s = self.service();
        let v = json!({
            "duration_s": secs,
            "requests": self.requests,
            "keys": self.keys,
            "errors": self.errors,
            "errors_by_kind": self.errors_by_kind,
            "mismatches": self.mismatches,
            "throughput_rps": per_second(self.requests),
            "keys_per_s": per_second(self.keys),
            "mean_us": l.mean_us,
            "p50_us": l.p50_us,
            "p90_us": l.p90_us,
            "p99_us": l.p99_us,
            "p999_us": l.p999_us,
            "max_us": l.max_us,
            "service_p50_us": s.map(|s| s.p50_us),
            "service_p99_us": s.map(|s| s.p99_us),
            "service_p999_us": s.map(|s| s.p999_us),
            "first_error": self.first_error,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::Answer;

    fn ok(keys: u64, correct: bool) -> Outcome {
        Ok(Answer { keys, correct })
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let mut t = Tally::new();
        // 1..=1000 µs, once each: below 2048 the histogram is exact.
        for us in 1..=1000u64 {
            t.record(ok(1, true), Duration::from_micros(us));
        }
        let p = t.latency();
        assert_eq!(
            (p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us),
            (500, 900, 990, 999, 1000)
        );
        assert!((p.mean_us - 500.5).abs() < 1e-9, "{}", p.mean_us);
        // Above that, three significant digits.
        let mut t = Tally::new();
        t.record(ok(1, true), Duration::from_millis(12_345));
        let max = t.latency().max_us;
        assert!(max.abs_diff(12_345_000) <= 12_345_000 / 1000, "{max}");
        // Zero latency counts as the lowest value; beyond the bounds
        // saturates instead of being lost.
        let mut t = Tally::new();
        t.record(ok(1, true), Duration::ZERO);
        t.record(ok(1, true), Duration::from_secs(3600));
        let p = t.latency();
        assert_eq!(p.p50_us, 1);
        assert!(p.max_us >= HIGHEST_US - HIGHEST_US / 1000, "{}", p.max_us);
    }

    #[test]
    fn counts_merge_and_the_run_passes_only_when_all_is_right() {
        let mut a = Tally::new();
        assert!(!a.passed(), "an empty run proves nothing");
        a.record(ok(300, true), Duration::from_micros(40));
        assert!(a.passed());
        let mut b = Tally::new();
        b.record(ok(300, false), Duration::from_micros(80));
        b.record(
            Err(Failure::new("DEADLINE_EXCEEDED", "deadline exceeded")),
            Duration::from_micros(5),
        );
        b.failed(Failure::new("overloaded", "client overloaded"));
        b.error("stream broken");
        b.unanswered(3);
        a.error(Failure::new("DEADLINE_EXCEEDED", "again"));
        a.merge(&b);
        assert_eq!(a.requests(), 1 + 3 + 3);
        assert_eq!(a.keys(), 600);
        assert_eq!(a.mismatches(), 1);
        assert_eq!(a.errors(), 1 + 1 + 1 + 1 + 3);
        let kinds: Vec<(&str, u64)> = a
            .errors_by_kind()
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(
            kinds,
            [
                ("DEADLINE_EXCEEDED", 2),
                ("error", 1),
                ("overloaded", 1),
                ("unanswered", 3)
            ]
        );
        assert_eq!(
            a.errors_text(),
            "7 (DEADLINE_EXCEEDED 2, error 1, overloaded 1, unanswered 3)"
        );
        assert_eq!(
            a.summary(Duration::from_secs(1))["errors_by_kind"]["unanswered"],
            3
        );
        assert_eq!(a.first_error(), Some("again"));
        assert!(!a.passed());
        // Latencies of failed requests are not in the distribution.
        assert_eq!(a.latency().p50_us, 40);
        assert_eq!(a.latency().max_us, 80);
    }

    #[test]
    fn the_summary_reports_rates_over_the_measured_window() {
        let mut t = Tally::new();
        for _ in 0..50 {
            t.record_scheduled(
                ok(2, true),
                Duration::from_micros(900),
                Duration::from_micros(100),
            );
        }
        let s = t.summary(Duration::from_millis(500));
        assert_eq!(s["requests"], 50);
        assert_eq!(s["throughput_rps"], 100.0);
        assert_eq!(s["keys_per_s"], 200.0);
        assert_eq!(s["p99_us"], 900);
        assert_eq!(s["service_p99_us"], 100);
        assert_eq!(s["first_error"], Value::Null);
        assert_eq!(s["errors_by_kind"], json!({}));
        assert_eq!(t.errors_text(), "0");
        // No window (stopped during the warm-up): no division by zero.
        let s = Tally::new().summary(Duration::ZERO);
        assert_eq!(s["throughput_rps"], 0.0);
        assert_eq!(s["service_p50_us"], Value::Null);
    }
}
