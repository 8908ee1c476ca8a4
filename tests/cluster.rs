//! Replicas behind a standard load balancer: `deploy/cluster/run.sh` starts
//! three `sltdd` replicas fed by `sltd-sync` from one feed, HAProxy with
//! the shipped `deploy/cluster/haproxy.cfg` in front, and drives
//! `sltd loadgen` through it while the replicas are restarted one at a
//! time, switched to a new generation and killed. The script's own verdict
//! and its per-phase figures are both checked: a rolling restart and a new
//! generation fail no check, and with the shipped retry policy a SIGKILL
//! fails none but the committed ones: a check whose answer was already
//! under way when the replica died, which no gRPC client retries.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use sltd_testkit::ports::free_ports;
use sltd_testkit::tools;

use crate::common::programs;

/// The script's summary line, `cluster: PHASE k=v ... PHASE k=v ...`, as
/// phase -> field -> value.
fn phases(summary: &str) -> HashMap<String, HashMap<String, u64>> {
    let mut out: HashMap<String, HashMap<String, u64>> = HashMap::new();
    let mut current = None;
    for word in summary.trim_start_matches("cluster:").split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) => {
                let phase: &String = current.as_ref().expect("a phase before its fields");
                let v = v.parse().unwrap_or_else(|_| panic!("{k}={v} in {summary}"));
                out.get_mut(phase).unwrap().insert(k.to_string(), v);
            }
            None => {
                current = Some(word.to_string());
                out.insert(word.to_string(), HashMap::new());
            }
        }
    }
    out
}

#[test]
fn replicas_behind_haproxy_restart_update_and_die_under_load() {
    if !tools::present(&["haproxy", "curl"], "haproxy curl") {
        return;
    }
    let p = programs();
    let bin = p.sltdd.path().parent().unwrap().to_path_buf();
    for other in [&p.sltd, &p.sync] {
        assert_eq!(other.path().parent(), Some(bin.as_path()));
    }
    let work = tempfile::tempdir().unwrap();
    let ports: Vec<String> = free_ports(9).iter().map(u16::to_string).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("SLTD_BIN", &bin)
        .env("SLTD_CLUSTER_PORTS", ports.join(" "))
        .env("SLTD_CLUSTER_WORK", work.path())
        .env("SLTD_CLUSTER_RECORDS", "5000")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let show = || {
        let log = |name: &str| std::fs::read_to_string(work.path().join(name)).unwrap_or_default();
        format!(
            "--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- haproxy.log (end)\n{}",
            log("haproxy.log")
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert!(out.status.success(), "run.sh: {}\n{}", out.status, show());
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("cluster: "))
        .unwrap_or_else(|| panic!("no summary line\n{}", show()));
    let phases = phases(summary);
    for phase in [
        "rolling-restart",
        "new-generation",
        "sigkill-plain",
        "sigkill-retry",
    ] {
        let f = phases
            .get(phase)
            .unwrap_or_else(|| panic!("no {phase} in {summary}"));
        assert!(f["requests"] >= 200, "{phase}: {summary}");
        assert_eq!(f["mismatches"], 0, "{phase}: {summary}");
        match phase {
            "sigkill-plain" => {}
            // Only committed checks (UNKNOWN), at most those in flight.
            "sigkill-retry" => assert!(
                f["unavailable"] == 0
                    && f["errors"] == f["unknown"]
                    && f["unknown"] <= f["in_flight"]
                    && f["in_flight"] > 0,
                "{phase}: {summary}\n{}",
                show()
            ),
            _ => assert_eq!(f["errors"], 0, "{phase}: {summary}\n{}", show()),
        }
    }
}
