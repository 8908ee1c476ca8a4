//! Retrying calls the way gRPC clients do: a gRPC service config file
//! (`--service-config`, the JSON that grpc-go, grpc-java and grpcio take as
//! `grpc.service_config`) names the methods to retry, on which status
//! codes, how many times and with what backoff (gRFC A6). `Check`,
//! `CheckBatch` and `GetStatus` only read, so a call refused by a replica
//! that went away mid-call can be sent again; `deploy/cluster/` ships such
//! a file. tonic has no service config support, so this module is it, for
//! the part sltd's clients use: `methodConfig` with `name`, `retryPolicy`
//! and `timeout`.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::Rng;
use serde::Deserialize;
use sltd_proto::status::code_by_name;
use tonic::{Code, Status};

/// gRFC A6 caps the attempts of a call, whatever the file says.
const MAX_ATTEMPTS_CAP: u32 = 5;

/// The parts of a gRPC service config that sltd's clients apply.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceConfig {
    methods: Vec<(MethodName, MethodConfig)>,
}

/// Which calls a method config applies to: one method, every method of a
/// service (no `method`), or every call (no `service` either).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct MethodName {
    #[serde(default)]
    service: String,
    #[serde(default)]
    method: String,
}

/// What applies to the calls of one method.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MethodConfig {
    pub(crate) retry: Option<RetryPolicy>,
    /// Deadline of each attempt.
    pub(crate) timeout: Option<Duration>,
}

/// When and how often to send a failed call again.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included (2 to 5).
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) backoff_multiplier: f64,
    pub(crate) retryable: Vec<Code>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    #[serde(default)]
    method_config: Vec<FileMethodConfig>,
    /// Chooses among the addresses a name resolves to; sltd's clients dial
    /// the one address given, so there is nothing to choose.
    #[serde(default)]
    #[allow(dead_code)]
    load_balancing_config: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileMethodConfig {
    #[serde(default)]
    name: Vec<MethodName>,
    retry_policy: Option<FileRetryPolicy>,
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileRetryPolicy {
    max_attempts: u32,
    initial_backoff: String,
    max_backoff: String,
    backoff_multiplier: f64,
    retryable_status_codes: Vec<serde_json::Value>,
}

/// A protobuf JSON duration: decimal seconds with an `s` suffix (`0.1s`).
fn duration(field: &str, text: &str) -> anyhow::Result<Duration> {
    let secs = text
        .strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("{field}: {text:?} is not a duration such as \"0.1s\""))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{field}: {text:?} must be more than 0s"))
}

/// A status code by its name (`UNAVAILABLE`) or number (14).
fn status_code(v: &serde_json::Value) -> anyhow::Result<Code> {
    let code = match v {
        serde_json::Value::String(s) => code_by_name(s),
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Code::from_i32)
            .filter(|c| *c != Code::Unknown || n.as_i64() == Some(2)),
        _ => None,
    };
    code.filter(|c| *c != Code::Ok).with_context(|| {
        format!("retryableStatusCodes: {v} is not a gRPC status code such as \"UNAVAILABLE\"")
    })
}

impl RetryPolicy {
    fn from_file(p: FileRetryPolicy) -> anyhow::Result<Self> {
        if p.max_attempts < 2 {
            bail!("retryPolicy.maxAttempts must be at least 2 (the first attempt counts)");
        }
        if !(p.backoff_multiplier.is_finite() && p.backoff_multiplier > 0.0) {
            bail!("retryPolicy.backoffMultiplier must be more than 0");
        }
        if p.retryable_status_codes.is_empty() {
            bail!("retryPolicy.retryableStatusCodes must name at least one code");
        }
        Ok(Self {
            max_attempts: p.max_attempts.min(MAX_ATTEMPTS_CAP),
            initial_backoff: duration("retryPolicy.initialBackoff", &p.initial_backoff)?,
            max_backoff: duration("retryPolicy.maxBackoff", &p.max_backoff)?,
            backoff_multiplier: p.backoff_multiplier,
            retryable: p
                .retryable_status_codes
                .iter()
                .map(status_code)
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// The longest wait before retry `n` (1 for the first retry): the
    /// initial backoff grown by the multiplier, at most the maximum. The
    /// wait itself is drawn uniformly below it, so that clients refused
    /// together do not come back together.
    pub(crate) fn backoff_ceiling(&self, n: u32) -> Duration {
        let grown = self.initial_backoff.as_secs_f64()
            * self
                .backoff_multiplier
                .powi(i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX));
        Duration::try_from_secs_f64(grown)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Runs `attempt` until it succeeds, fails with a code that is not
    /// retryable, or has been tried `max_attempts` times; `on_retry` is
    /// told of each retry. The last failure is returned.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        mut attempt: F,
        mut on_retry: impl FnMut(&Status),
    ) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(s) if tries < self.max_attempts && self.retryable.contains(&s.code()) => {
                    on_retry(&s);
                    let ceiling = self.backoff_ceiling(tries);
                    let wait = ceiling.mul_f64(rand::rng().random::<f64>());
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }
}

impl ServiceConfig {
    /// Reads a service config file.
    pub(crate) fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the service config {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("service config {}", path.display()))
    }

    pub(crate) fn from_json(text: &str) -> anyhow::Result<Self> {
        let file: File = serde_json::from_str(text)?;
        let mut methods = Vec::new();
        for (i, mc) in file.method_config.into_iter().enumerate() {
            let at = || format!("methodConfig[{i}]");
            if mc.name.is_empty() {
                bail!("{}: `name` must list the methods it applies to", at());
            }
            let config = MethodConfig {
                retry: mc
                    .retry_policy
                    .map(RetryPolicy::from_file)
                    .transpose()
                    .with_context(at)?,
                timeout: mc
                    .timeout
                    .map(|t| duration("timeout", &t))
                    .transpose()
                    .with_context(at)?,
            };
            for name in mc.name {
                if name.service.is_empty() && !name.method.is_empty() {
                    bail!(
                        "{}: a name with a `method` needs its `service` (e.g. \"sltd.v1.Lookup\")",
                        at()
                    );
                }
                if methods.iter().any(|(n, _)| *n == name) {
                    bail!(
                        "{}: {}/{} is named by two method configs",
                        at(),
                        name.service,
                        name.method
                    );
                }
                methods.push((name, config.clone()));
            }
        }
        Ok(Self { methods })
    }

    /// What applies to `service/method`: its own config, else its
    /// service's, else the default (a name with neither).
    pub(crate) fn method(&self, service: &str, method: &str) -> Option<&MethodConfig> {
        let find = |s: &str, m: &str| {
            self.methods
                .iter()
                .find(|(n, _)| n.service == s && n.method == m)
                .map(|(_, c)| c)
        };
        find(service, method)
            .or_else(|| find(service, ""))
            .or_else(|| find("", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../deploy/cluster/service-config.json");

    #[test]
    fn the_shipped_config_retries_the_reads_on_unavailable_and_not_the_stream() {
        let c = ServiceConfig::from_json(SHIPPED).unwrap();
        for m in ["Check", "CheckBatch", "GetStatus"] {
            let p = c
                .method("sltd.v1.Lookup", m)
                .unwrap()
                .retry
                .clone()
                .unwrap();
            assert_eq!(p.retryable, [Code::Unavailable], "{m}");
            assert!(p.max_attempts >= 2);
        }
        assert!(
            c.method("sltd.v1.Lookup", "CheckStream")
                .is_none_or(|m| m.retry.is_none())
        );
    }

    #[test]
    fn names_match_method_then_service_then_default() {
        let c = ServiceConfig::from_json(
            r#"{"methodConfig":[
                {"name":[{"service":"a","method":"m"}],"timeout":"1s"},
                {"name":[{"service":"a"}],"timeout":"2s"},
                {"name":[{}],"timeout":"3s"}]}"#,
        )
        .unwrap();
        let t = |s, m| c.method(s, m).unwrap().timeout.unwrap().as_secs();
        assert_eq!(t("a", "m"), 1);
        assert_eq!(t("a", "n"), 2);
        assert_eq!(t("b", "m"), 3);
        assert!(
            ServiceConfig::from_json(r#"{"methodConfig":[{"name":[{"service":"a"}]}]}"#)
                .unwrap()
                .method("b", "m")
                .is_none()
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let policy = |body: &str| {
            format!(
                r#"{{"methodConfig":[{{"name":[{{"service":"s"}}],"retryPolicy":{{{body}}}}}]}}"#
            )
        };
        let ok = r#""maxAttempts":3,"initialBackoff":"0.1s","maxBackoff":"1s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE",4]"#;
        let c = ServiceConfig::from_json(&policy(ok)).unwrap();
        let p = c.method("s", "x").unwrap().retry.clone().unwrap();
        assert_eq!(p.retryable, [Code::Unavailable, Code::DeadlineExceeded]);
        for (bad, says) in [
            (
                ok.replace("\"maxAttempts\":3", "\"maxAttempts\":1"),
                "maxAttempts",
            ),
            (ok.replace("\"0.1s\"", "\"100ms\""), "initialBackoff"),
            (ok.replace("\"1s\"", "\"0s\""), "maxBackoff"),
            (ok.replace(":2,", ":0,"), "backoffMultiplier"),
            (
                ok.replace("[\"UNAVAILABLE\",4]", "[]"),
                "retryableStatusCodes",
            ),
            (ok.replace("\"UNAVAILABLE\"", "\"OFTEN\""), "OFTEN"),
            (ok.replace("\"UNAVAILABLE\"", "\"OK\""), "OK"),
            (
                ok.replace("\"maxAttempts\"", "\"maxAttempt\""),
                "maxAttempt",
            ),
        ] {
            let err = format!("{:#}", ServiceConfig::from_json(&policy(&bad)).unwrap_err());
            assert!(err.contains(says), "{bad}: {err}");
        }
        let err = ServiceConfig::from_json(r#"{"retryThrottling":{}}"#).unwrap_err();
        assert!(format!("{err:#}").contains("retryThrottling"), "{err:#}");
        let err = ServiceConfig::from_json(r#"{"methodConfig":[{"name":[{"method":"m"}]}]}"#)
            .unwrap_err();
        assert!(format!("{err:#}").contains("service"), "{err:#}");
    }

    #[test]
    fn attempts_are_capped_and_backoff_grows_to_its_maximum() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            backoff_multiplier: 2.0,
            retryable: vec![Code::Unavailable],
        };
        let ms = |n| p.backoff_ceiling(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4), ms(40)], [10, 20, 40, 50, 50]);
        let c = ServiceConfig::from_json(
            r#"{"methodConfig":[{"name":[{}],"retryPolicy":{"maxAttempts":9,"initialBackoff":"1s","maxBackoff":"1s","backoffMultiplier":1,"retryableStatusCodes":[14]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.method("x", "y")
                .unwrap()
                .retry
                .as_ref()
                .unwrap()
                .max_attempts,
            5
        );
    }

    #[tokio::test]
    async fn a_call_is_retried_only_on_a_retryable_code_and_only_so_often() {
        let p = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
            backoff_multiplier: 1.0,
            retryable: vec![Code::Unavailable],
        };
        // Fails twice, then answers: three attempts, two retries.
        let (mut calls, mut retries) = (0, 0);
        let r = p
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move {
                        if n < 3 {
                            Err(Status::unavailable("gone"))
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| retries += 1,
            )
            .await;
        assert_eq!((r.unwrap(), retries), (3, 2));
        // Always unavailable: given up after three attempts.
        let mut calls = 0;
        let r: Result<(), _> = p
            .run(
                || {
                    calls += 1;
                    async { Err(Status::unavailable("gone")) }
                },
                |_| {},
            )
            .await;
        assert_eq!((r.unwrap_err().code(), calls), (Code::Unavailable, 3));
        // Not retryable: one attempt.
        let mut calls = 0;
        let r: Result<(), _> = p
            .run(
                || {
                    calls += 1;
                    async { Err(Status::invalid_argument("bad number")) }
                },
                |_| {},
            )
            .await;
        assert_eq!((r.unwrap_err().code(), calls), (Code::InvalidArgument, 1));
    }
}
