//! What an integrator's monitoring does with `sltdd`: `promtool` accepts
//! what a plain scrape of `/metrics` gets (the Prometheus text format
//! 0.0.4), a scraper asking for OpenMetrics gets OpenMetrics; a real
//! Prometheus scrapes a daemon and answers its series back through its HTTP
//! API, loads the shipped alert rules, and evaluates every query of the
//! shipped Grafana dashboard, whose metric names are all ones the daemon
//! exports. The alert rules pass `promtool check rules` and their unit
//! tests.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use sltd_testkit::feed::Feed;
use sltd_testkit::fixtures::{miss_number, records, write_export};
use sltd_testkit::http::{self, exchange, query_encode};
use sltd_testkit::ports::free_ports;
use sltd_testkit::process::Spawned;
use sltd_testkit::sltdd::Sltdd;
use sltd_testkit::tools;
use sltd_testkit::{READY_TIMEOUT, wait};

use crate::common::{CLIENT_TIMEOUT, arg, check, programs, sync};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(rel)
}

/// Runs `promtool` in `dir` with `args` (and `stdin`), and asserts it
/// succeeded; its output.
#[track_caller]
fn promtool(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package `prometheus`)");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {args:?}: {}\n{text}",
        out.status
    );
    text
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    if !tools::present(&["promtool"], "prometheus") {
        return;
    }
    let dir = deploy("prometheus");
    let out = promtool(&dir, &["check", "rules", "sltd-alerts.yml"], None);
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
    let out = promtool(&dir, &["test", "rules", "sltd-alerts.test.yml"], None);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The PromQL expressions of the alert rules (`expr:` lines) and of the
/// dashboard (every `expr` field).
fn shipped_queries() -> Vec<(String, String)> {
    let rules = std::fs::read_to_string(deploy("prometheus/sltd-alerts.yml")).unwrap();
    let mut out: Vec<(String, String)> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .map(|e| ("sltd-alerts.yml".to_string(), e.to_string()))
        .collect();
    let text = std::fs::read_to_string(deploy("grafana/sltd-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(e)) = m.get("expr") {
                    out.push(("sltd-dashboard.json".to_string(), e.clone()));
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut out);
    out
}

/// The `sltd_` metric names a query uses.
fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = query;
    while let Some(at) = rest.find("sltd_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// A Prometheus server on 127.0.0.1 scraping `admin` every second with
/// the shipped alert rules loaded.
struct Prometheus {
    _process: Spawned,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(admin: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: sltdd\n    static_configs:\n      - targets: ['{admin}']\n",
                deploy("prometheus/sltd-alerts.yml").display()
            ),
        )
        .unwrap();
        let port = free_ports(1)[0];
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null());
        let process = Spawned::of(cmd);
        wait::until(READY_TIMEOUT, "Prometheus to be ready", || {
            matches!(http::get(addr, "/-/ready"), Ok((200, _))).then_some(())
        });
        Self {
            _process: process,
            addr,
            _dir: dir,
        }
    }

    /// `GET /api/v1/<path>`: its `data`, or the error it gave.
    fn api(&self, path: &str) -> Result<Value, String> {
        let a = exchange(self.addr, "GET", &format!("/api/v1/{path}"), &[])
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&a.body).map_err(|e| format!("{e}: {}", a.body))?;
        if v["status"] == "success" {
            Ok(v["data"].clone())
        } else {
            Err(format!("{}: {}", v["errorType"], v["error"]))
        }
    }

    /// The value of an instant query with one result, when it has one.
    fn scalar(&self, query: &str) -> Option<f64> {
        let data = self
            .api(&format!("query?query={}", query_encode(query)))
            .ok()?;
        let result = data["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }
}

#[test]
fn prometheus_scrapes_the_daemon_and_evaluates_the_shipped_rules_and_dashboard() {
    if !tools::present(&["prometheus", "promtool"], "prometheus") {
        return;
    }
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_export(&csv, &records(2_000));
    let feed = Feed::create(&p.sltd, dir.path(), &[]);
    feed.publish(&p.sltd, &csv, true);
    let data = dir.path().join("DATA");
    sync(arg(&feed.dir), &data, &feed.trust).success();
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);
    let (hits, misses) = (4u32, 7u32);
    for _ in 0..hits {
        assert_eq!(check(&daemon.url(), "L898902C3").0.code(), Some(0));
    }
    for i in 0..misses as usize {
        assert_eq!(check(&daemon.url(), &miss_number(i)).0.code(), Some(1));
    }
    // One malformed check, so that the error counter has a series.
    p.sltd
        .run([
            "check",
            "--server",
            &daemon.url(),
            "--timeout",
            CLIENT_TIMEOUT,
            "--number",
            "L898-902/C3",
        ])
        .expect_code(2);

    // A plain scrape is the 0.0.4 text, and promtool accepts it whole.
    let plain = exchange(daemon.admin(), "GET", "/metrics", &[]).unwrap();
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!plain.body.contains("# EOF"));
    promtool(dir.path(), &["check", "metrics"], Some(&plain.body));
    // A scraper that asks for OpenMetrics (as Prometheus does) gets it.
    let om = exchange(
        daemon.admin(),
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .unwrap();
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.body.ends_with("# EOF\n"));

    let prom = Prometheus::start(daemon.admin());
    let value = |q: &str, want: f64| {
        wait::until(
            READY_TIMEOUT,
            &format!("Prometheus to answer {q} = {want}"),
            || (prom.scalar(q) == Some(want)).then_some(()),
        )
    };
    value(r#"up{job="sltdd"}"#, 1.0);
    value(r#"sum(sltd_checks_total{verdict="HIT"})"#, f64::from(hits));
    value(
        r#"sum(sltd_checks_total{verdict="NO_HIT"})"#,
        f64::from(misses),
    );
    value(
        r#"sum(sltd_rpc_errors_total{rpc="Check",code="INVALID_ARGUMENT"})"#,
        1.0,
    );
    value("sltd_dataset_freshness", 0.0);
    value("sltd_dataset_sequence", 1.0);
    value("sltd_sync_consecutive_failures", 0.0);

    // The rules loaded and evaluate; nothing fires on a healthy daemon.
    let rules = wait::until(READY_TIMEOUT, "the alert rules to be evaluated", || {
        let groups = prom.api("rules").ok()?;
        let rules: Vec<Value> = groups["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        rules
            .iter()
            .all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            })
            .then_some(rules)
    });
    assert_eq!(rules.len(), 7);
    for r in &rules {
        assert_eq!(r["health"], "ok", "{r}");
        assert_eq!(r["state"], "inactive", "{r}");
    }

    // Every metric name of the shipped queries is one Prometheus ingested
    // from the daemon, and every query evaluates.
    let ingested: BTreeSet<String> = prom
        .api("label/__name__/values")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let queries = shipped_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    for (file, q) in &queries {
        let names = metric_names(q);
        // Prometheus's own `up` is the one other series a query may use.
        assert!(
            !names.is_empty() || q.starts_with("up{"),
            "{file}: {q} uses no sltd metric"
        );
        for name in &names {
            assert!(
                ingested.contains(name),
                "{file}: {q} uses {name}, which the daemon does not export: {ingested:?}"
            );
        }
        let q = q
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        prom.api(&format!("query?query={}", query_encode(&q)))
            .unwrap_or_else(|e| panic!("{file}: {q}: {e}"));
    }
}

#[test]
fn metric_names_are_read_from_queries() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(sltd_rpc_duration_seconds_bucket{rpc="Check"}[5m]))) / xsltd_not"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["sltd_rpc_duration_seconds_bucket"]
    );
}
