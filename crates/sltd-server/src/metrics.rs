//! Prometheus metrics, served on the admin listener only.
//!
//! The per-query counters are looked up once at start and kept as handles,
//! so the hot path pays an atomic add, not a label-map lookup.

use std::sync::atomic::AtomicU64;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use sltd_datadir::SyncStatus;
use sltd_proto::status::code_name;

use crate::dataset::Dataset;
use sltd_feed::freshness::Freshness;

/// The RPCs, as metric labels.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::enum_variant_names)]
pub enum Rpc {
    Check,
    CheckBatch,
    CheckStream,
    GetStatus,
}

/// The verdicts, as metric labels: the API's names (`sltd.v1.Verdict`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum VerdictLabel {
    Hit,
    NoHit,
    InvalidQuery,
}

impl VerdictLabel {
    /// The label value, as the API names the verdict.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLabel::Hit => "HIT",
            VerdictLabel::NoHit => "NO_HIT",
            VerdictLabel::InvalidQuery => "INVALID_QUERY",
        }
    }
}

impl EncodeLabelValue for VerdictLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    rpc: Rpc,
    verdict: VerdictLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    rpc: Rpc,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    rpc: Rpc,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatasetLabels {
    content_id: String,
    source: String,
}

/// An RPC's name, as in its label.
pub fn rpc_name(rpc: Rpc) -> &'static str {
    match rpc {
        Rpc::Check => "Check",
        Rpc::CheckBatch => "CheckBatch",
        Rpc::CheckStream => "CheckStream",
        Rpc::GetStatus => "GetStatus",
    }
}

const RPCS: [Rpc; 4] = [
    Rpc::Check,
    Rpc::CheckBatch,
    Rpc::CheckStream,
    Rpc::GetStatus,
];
/// The RPCs that check documents (indexes 0..3 of `RPCS`).
const CHECK_RPCS: [Rpc; 3] = [Rpc::Check, Rpc::CheckBatch, Rpc::CheckStream];
const VERDICTS: [VerdictLabel; 3] = [
    VerdictLabel::Hit,
    VerdictLabel::NoHit,
    VerdictLabel::InvalidQuery,
];

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    checks: [[Counter; 3]; 3],
    possible_match_checks: [Counter; 3],
    latency: [Histogram; 4],
    errors: Family<ErrorLabels, Counter>,
    batch_size: Histogram,
    reloads: Family<ResultLabels, Counter>,
    audit_errors: Counter,
    refused: Family<RefusedLabels, Counter>,
    dataset_age: Gauge,
    dataset_freshness: Gauge,
    dataset_records: Gauge,
    dataset_sequence: Gauge<u64, AtomicU64>,
    dataset_info: Family<DatasetLabels, Gauge>,
    serving: Gauge,
    /// Present only when the data set comes from a data directory that
    /// `sltd-sync` keeps.
    sync_failures: Family<NoLabels, Gauge>,
    sync_last_success: Family<NoLabels, Gauge>,
    sync_last_attempt: Family<NoLabels, Gauge>,
    /// The latency histograms alone, for the status page's percentiles.
    latency_registry: Registry,
}

/// The label set of a metric that is present or absent as a whole.
type NoLabels = [(&'static str, &'static str); 0];

/// Cumulative latency buckets of one RPC: (upper bound in seconds, calls
/// at or under it), the last bound `+Inf`.
pub type LatencyBuckets = Vec<(f64, u64)>;

fn latency_buckets() -> Vec<f64> {
    // 10 us to ~2.6 s: sub-millisecond detail where the daemon lives.
    prometheus_client::metrics::histogram::exponential_buckets(10e-6, 2.0, 19).collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sltd");
        let checks_family = Family::<CheckLabels, Counter>::default();
        let latency_family = Family::<RpcLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let checks = CHECK_RPCS.map(|rpc| {
            VERDICTS.map(|verdict| {
                checks_family
                    .get_or_create(&CheckLabels { rpc, verdict })
                    .clone()
            })
        });
        let latency = RPCS.map(|rpc| latency_family.get_or_create(&RpcLabels { rpc }).clone());
        registry.register(
            "checks",
            "Documents checked, by RPC and verdict",
            checks_family,
        );
        let mut latency_registry = Registry::default();
        latency_registry.register("latency", "", latency_family.clone());
        let possible_family = Family::<RpcLabels, Counter>::default();
        let possible_match_checks =
            CHECK_RPCS.map(|rpc| possible_family.get_or_create(&RpcLabels { rpc }).clone());
        registry.register(
            "possible_match_checks",
            "NO_HIT answers that offered possible matches, by RPC (never hits; also counted as NO_HIT in sltd_checks)",
            possible_family,
        );
        registry.register(
            "rpc_duration_seconds",
            "Time to answer a call (a stream: each message), by RPC",
            latency_family,
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "rpc_errors",
            "Calls that failed with a gRPC error, by RPC and status code",
            errors.clone(),
        );
        let batch_size =
            Histogram::new([1.0, 10.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 5000.0]);
        registry.register(
            "batch_size",
            "Queries per CheckBatch call",
            batch_size.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reloads",
            "Data set reload attempts, by result (swapped, unchanged, refused)",
            reloads.clone(),
        );
        let audit_errors = Counter::default();
        registry.register(
            "audit_write_errors",
            "Audit lines that could not be written",
            audit_errors.clone(),
        );
        let refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "refused",
            "Connections and streams refused at a limit (limits.max_connections, limits.max_open_streams)",
            refused.clone(),
        );
        let dataset_age = Gauge::default();
        registry.register(
            "dataset_age_seconds",
            "Seconds since the served data set's as-of time",
            dataset_age.clone(),
        );
        let dataset_freshness = Gauge::default();
        registry.register(
            "dataset_freshness",
            "Freshness of the served data set: 0 fresh, 1 stale, 2 expired, -1 none loaded",
            dataset_freshness.clone(),
        );
        let dataset_records = Gauge::default();
        registry.register(
            "dataset_records",
            "Records in the served data set",
            dataset_records.clone(),
        );
        let dataset_sequence = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "dataset_sequence",
            "Feed sequence number of the served data set",
            dataset_sequence.clone(),
        );
        let dataset_info = Family::<DatasetLabels, Gauge>::default();
        registry.register(
            "dataset_info",
            "Identity of the served data set (value 1)",
            dataset_info.clone(),
        );
        let serving = Gauge::default();
        registry.register(
            "serving",
            "1 when a data set is loaded and queries are answered",
            serving.clone(),
        );
        let sync_failures = Family::<NoLabels, Gauge>::default();
        registry.register(
            "sync_consecutive_failures",
            "Syncs by sltd-sync that failed in a row, as its status file says (data directories only)",
            sync_failures.clone(),
        );
        let sync_last_success = Family::<NoLabels, Gauge>::default();
        registry.register(
            "sync_last_success_timestamp_seconds",
            "Unix time of the last successful sync by sltd-sync (data directories only)",
            sync_last_success.clone(),
        );
        let sync_last_attempt = Family::<NoLabels, Gauge>::default();
        registry.register(
            "sync_last_attempt_timestamp_seconds",
            "Unix time of the last sync attempt by sltd-sync (data directories only)",
            sync_last_attempt.clone(),
        );
        Self {
            sync_failures,
            sync_last_success,
            sync_last_attempt,
            latency_registry,
            registry,
            checks,
            possible_match_checks,
            latency,
            errors,
            batch_size,
            reloads,
            audit_errors,
            refused,
            dataset_age,
            dataset_freshness,
            dataset_records,
            dataset_sequence,
            dataset_info,
            serving,
        }
    }

    /// Counts one checked document (GetStatus checks none).
    pub fn check(&self, rpc: Rpc, verdict: VerdictLabel) {
        self.check_n(rpc, verdict, 1);
    }

    /// Counts `n` checked documents.
    pub fn check_n(&self, rpc: Rpc, verdict: VerdictLabel, n: u64) {
        if n > 0
            && let Some(row) = self.checks.get(rpc as usize)
        {
            row[verdict as usize].inc_by(n);
        }
    }

    /// Counts `n` NO_HIT answers that offered possible matches.
    pub fn possible_match_checks(&self, rpc: Rpc, n: u64) {
        if n > 0
            && let Some(c) = self.possible_match_checks.get(rpc as usize)
        {
            c.inc_by(n);
        }
    }

    pub fn latency(&self, rpc: Rpc, seconds: f64) {
        self.latency[rpc as usize].observe(seconds);
    }

    pub fn error(&self, rpc: Rpc, code: tonic::Code) {
        self.errors
            .get_or_create(&ErrorLabels {
                rpc,
                code: code_name(code),
            })
            .inc();
    }

    pub fn batch_size(&self, n: usize) {
        self.batch_size.observe(n as f64);
    }

    pub fn reload(&self, result: &str) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    pub fn audit_error(&self) {
        self.audit_errors.inc();
    }

    /// A connection closed at `limits.max_connections`.
    pub fn connection_refused(&self) {
        self.refused
            .get_or_create(&RefusedLabels { what: "connection" })
            .inc();
    }

    /// A `CheckStream` refused at `limits.max_open_streams`.
    pub fn stream_refused(&self) {
        self.refused
            .get_or_create(&RefusedLabels { what: "stream" })
            .inc();
    }

    pub fn set_serving(&self, serving: bool) {
        self.serving.set(i64::from(serving));
    }

    /// Refreshes the sync gauges from `sltd-sync`'s status (none: the data
    /// set does not come from a synced data directory, and the gauges are
    /// absent).
    pub fn set_sync(&self, status: Option<&SyncStatus>) {
        let set = |family: &Family<NoLabels, Gauge>, v: Option<i64>| match v {
            Some(v) => {
                family.get_or_create(&[]).set(v);
            }
            None => family.clear(),
        };
        set(
            &self.sync_failures,
            status.map(|s| i64::from(s.consecutive_failures)),
        );
        set(&self.sync_last_success, status.and_then(|s| s.last_success));
        set(&self.sync_last_attempt, status.and_then(|s| s.last_attempt));
    }

    /// Documents checked and hits found since start, every RPC.
    pub fn totals(&self) -> (u64, u64) {
        let checks = self.checks.iter().flatten().map(Counter::get).sum();
        let hits = self.checks.iter().map(|row| row[0].get()).sum();
        (checks, hits)
    }

    /// Every RPC's cumulative latency buckets since start, read back from
    /// the histograms' own exposition (the metrics library has no other
    /// way to read them).
    pub fn latency_buckets(&self) -> Vec<(&'static str, LatencyBuckets)> {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.latency_registry);
        RPCS.iter()
            .map(|rpc| {
                let label = format!("rpc=\"{}\"", rpc_name(*rpc));
                let buckets = text
                    .lines()
                    .filter(|l| l.starts_with("latency_bucket{") && l.contains(&label))
                    .filter_map(|l| {
                        let le = l.split("le=\"").nth(1)?.split('"').next()?;
                        let le = if le == "+Inf" {
                            f64::INFINITY
                        } else {
                            le.parse().ok()?
                        };
                        Some((le, l.rsplit(' ').next()?.parse().ok()?))
                    })
                    .collect();
                (rpc_name(*rpc), buckets)
            })
            .collect()
    }

    /// Refreshes the data set gauges (age moves with the clock, so this runs
    /// on every scrape) and renders the text exposition format.
    pub fn render(
        &self,
        dataset: Option<&Dataset>,
        now: i64,
        freshness: Option<Freshness>,
    ) -> String {
        match dataset {
            Some(ds) => {
                let m = ds.meta();
                self.dataset_age.set(m.age_seconds(now));
                self.dataset_records
                    .set(i64::try_from(m.record_count).unwrap_or(i64::MAX));
                self.dataset_sequence.set(m.sequence);
                self.dataset_info.clear();
                self.dataset_info
                    .get_or_create(&DatasetLabels {
                        content_id: m.content_id.clone(),
                        source: m.source.clone(),
                    })
                    .set(1);
            }
            None => {
                self.dataset_info.clear();
            }
        }
        self.dataset_freshness.set(match freshness {
            None => -1,
            Some(Freshness::Fresh) => 0,
            Some(Freshness::Stale) => 1,
            Some(Freshness::Expired) => 2,
        });
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
