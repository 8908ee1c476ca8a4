//! The last hour of checks, hits and latency, for the status page of a post
//! that runs no Prometheus. The counters and histograms only grow, so the
//! last hour is now minus a sample taken an hour ago: the daemon samples
//! them once a minute and keeps an hour of samples (61 of them), nothing
//! per request.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::metrics::{LatencyBuckets, Metrics};

/// How far back the window reaches, seconds.
pub const WINDOW_SECS: i64 = 3600;
/// Time between two samples, seconds.
pub const SAMPLE_EVERY_SECS: u64 = 60;

/// The counters at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: i64,
    pub checks: u64,
    pub hits: u64,
    pub latency: Vec<(&'static str, LatencyBuckets)>,
}

impl Sample {
    /// The counters of `metrics` now.
    pub fn of(metrics: &Metrics, at: i64) -> Self {
        let (checks, hits) = metrics.totals();
        Self {
            at,
            checks,
            hits,
            latency: metrics.latency_buckets(),
        }
    }
}

/// One RPC's latency over the window.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcLatency {
    pub rpc: &'static str,
    pub calls: u64,
    /// Estimated 50th, 90th and 99th percentiles, seconds.
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// What happened between two samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Unix seconds of the start (an hour ago, or the daemon's start).
    pub since: i64,
    pub checks: u64,
    pub hits: u64,
    /// RPCs with calls in the window.
    pub latency: Vec<RpcLatency>,
}

/// The samples of the last hour, oldest first.
#[derive(Debug)]
pub struct Recent {
    samples: Mutex<VecDeque<Sample>>,
}

impl Recent {
    /// Starts with `first`, the counters at the daemon's start.
    pub fn new(first: Sample) -> Self {
        Self {
            samples: Mutex::new(VecDeque::from([first])),
        }
    }

    /// Keeps `sample`; forgets those no window can start at any more.
    pub fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = sample.at - WINDOW_SECS;
        samples.push_back(sample);
        // The oldest sample stays while the next one is still inside the
        // window: it is the window's start until then.
        while samples.len() > 1 && samples[1].at <= horizon {
            samples.pop_front();
        }
    }

    /// From the sample nearest an hour before `now` (the oldest kept) to
    /// `now`.
    pub fn window(&self, now: &Sample) -> Window {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now.at - WINDOW_SECS;
        let start = samples
            .iter()
            .find(|s| s.at >= horizon)
            .or(samples.back())
            .cloned()
            .unwrap_or_else(|| now.clone());
        drop(samples);
        let latency = now
            .latency
            .iter()
            .filter_map(|(rpc, buckets)| {
                let before = start
                    .latency
                    .iter()
                    .find(|(r, _)| r == rpc)
                    .map(|(_, b)| b.as_slice())
                    .unwrap_or(&[]);
                let delta = difference(buckets, before);
                let calls = delta.last().map_or(0, |b| b.1);
                (calls > 0).then(|| RpcLatency {
                    rpc,
                    calls,
                    p50: quantile(0.5, &delta),
                    p90: quantile(0.9, &delta),
                    p99: quantile(0.99, &delta),
                })
            })
            .collect();
        Window {
            since: start.at,
            checks: now.checks.saturating_sub(start.checks),
            hits: now.hits.saturating_sub(start.hits),
            latency,
        }
    }
}

/// `now - before`, bucket by bucket (same bounds; a missing `before` is
/// zero).
fn difference(now: &[(f64, u64)], before: &[(f64, u64)]) -> LatencyBuckets {
    now.iter()
        .map(|&(le, n)| {
            let was = before.iter().find(|(b, _)| *b == le).map_or(0, |(_, c)| *c);
            (le, n.saturating_sub(was))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated linearly inside
/// the bucket it falls in (as Prometheus's `histogram_quantile` does); in
/// the `+Inf` bucket, the highest finite bound. 0 without observations.
pub fn quantile(q: f64, buckets: &[(f64, u64)]) -> f64 {
    let total = buckets.last().map_or(0, |b| b.1);
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(le, count) in buckets {
        if count as f64 >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let in_bucket = (count - lower.1) as f64;
            if in_bucket == 0.0 {
                return le;
            }
            return lower.0 + (le - lower.0) * (rank - lower.1 as f64) / in_bucket;
        }
        lower = (le, count);
    }
    lower.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, checks: u64, hits: u64, buckets: &[(f64, u64)]) -> Sample {
        Sample {
            at,
            checks,
            hits,
            latency: vec![("Check", buckets.to_vec())],
        }
    }

    #[test]
    fn quantiles_interpolate_inside_a_bucket() {
        let b = [(0.001, 50), (0.002, 90), (0.004, 100), (f64::INFINITY, 100)];
        assert!((quantile(0.5, &b) - 0.001).abs() < 1e-12);
        assert!((quantile(0.7, &b) - 0.0015).abs() < 1e-12);
        assert!((quantile(0.95, &b) - 0.003).abs() < 1e-12);
        assert_eq!(quantile(0.5, &[(0.001, 0), (f64::INFINITY, 0)]), 0.0);
        // Beyond the last finite bound: that bound.
        assert_eq!(quantile(0.99, &[(0.001, 1), (f64::INFINITY, 10)]), 0.001);
    }

    #[test]
    fn the_window_is_the_last_hour_or_since_start() {
        let r = Recent::new(sample(1_000, 0, 0, &[(0.001, 0), (f64::INFINITY, 0)]));
        // Ten minutes in: everything since start.
        let now = sample(1_600, 40, 2, &[(0.001, 30), (f64::INFINITY, 40)]);
        let w = r.window(&now);
        assert_eq!((w.since, w.checks, w.hits), (1_000, 40, 2));
        assert_eq!(w.latency[0].calls, 40);
        // Samples every minute for two hours, 10 checks and 1 hit each.
        for m in 1..=120 {
            let n = 10 * m as u64;
            r.record(sample(
                1_000 + 60 * m,
                n,
                n / 10,
                &[(0.001, n), (f64::INFINITY, n)],
            ));
        }
        let now = sample(
            1_000 + 60 * 120 + 30,
            1_210,
            121,
            &[(0.001, 1_200), (f64::INFINITY, 1_210)],
        );
        let w = r.window(&now);
        // From the first sample inside the last hour (minute 61).
        assert_eq!(w.since, 1_000 + 60 * 61);
        assert_eq!((w.checks, w.hits), (1_210 - 610, 121 - 61));
        assert_eq!(w.latency[0].calls, 600);
        // No more than an hour of samples is kept.
        assert!(r.samples.lock().unwrap().len() <= 62);
    }

    #[test]
    fn rpcs_without_calls_in_the_window_are_left_out() {
        let r = Recent::new(sample(0, 5, 0, &[(0.001, 5), (f64::INFINITY, 5)]));
        let w = r.window(&sample(60, 5, 0, &[(0.001, 5), (f64::INFINITY, 5)]));
        assert!(w.latency.is_empty());
        assert_eq!(w.checks, 0);
    }
}
