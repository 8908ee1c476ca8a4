//! One freshness rule across programs: for the same data directory at the
//! same moment, `sltd-sync status --json` and a running `sltdd` (its
//! `GetStatus` and a `Check` answer) report the same FRESH, STALE or
//! EXPIRED, on both sides of the stale threshold and of the checkpoint's
//! expiry. Both binaries run for real, configured with the same
//! `stale_after` key in their config files.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{doc, http};
use sltd_datadir::{DataDir, NewGeneration};
use sltd_feed::now_unix;
use sltd_feed::state::StateHash;
use sltd_index::{BuildOptions, IndexBuilder};
use sltd_proto::v1 as pb;

const SLTDD: &str = env!("CARGO_BIN_EXE_sltdd");
const HOUR: i64 = 3600;

/// The `sltd-sync` binary of this build. It belongs to another package, so
/// cargo gives no path to it here: build it (a no-op when up to date) and
/// take the path cargo reports.
fn sltd_sync_binary() -> PathBuf {
    let mut c = Command::new(env!("CARGO"));
    c.args([
        "build",
        "--locked",
        "-p",
        "sltd-sync",
        "--bin",
        "sltd-sync",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        c.arg("--release");
    }
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build -p sltd-sync failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "sltd-sync")
        .and_then(|v| v["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the sltd-sync executable")
}

/// Installs a generation of the specimen records at `sequence` whose
/// checkpoint was issued at `as_of` and expires at `expires_at`, as
/// `sltd-sync` would after verifying it.
fn install(data: &DataDir, sequence: u64, as_of: i64, expires_at: i64) {
    let records = sltd_export::generate::specimen_records();
    let hash = StateHash::of(&records);
    let mut b = IndexBuilder::new(BuildOptions {
        feed_sequence: sequence,
        state_root: hash.root(),
        ..BuildOptions::default()
    });
    for r in &records {
        b.push(*r);
    }
    let base = data
        .write_base(sequence, &b.finish().unwrap().bytes)
        .unwrap();
    data.install(NewGeneration {
        feed: "freshness".into(),
        sequence,
        state_root: hash.root(),
        record_count: records.len() as u64,
        as_of,
        expires_at,
        base,
        segments: Vec::new(),
        buckets: data.write_buckets(sequence, &hash).unwrap(),
        checkpoint: data.write_checkpoint(sequence, b"{}").unwrap(),
    })
    .unwrap();
}

/// `sltdd` on 127.0.0.1:0, stopped when dropped.
struct Sltdd {
    child: Child,
    grpc: String,
    admin: std::net::SocketAddr,
}

impl Sltdd {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(SLTDD)
            .args(["--config", config.to_str().unwrap(), "--log-format", "json"])
            .env_remove("SLTDD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sltdd");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("listening"))
                {
                    let _ = tx.send((v["grpc"].to_string(), v["admin"].to_string()));
                }
            }
        });
        let (grpc, admin) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("sltdd printed its addresses");
        Self {
            child,
            grpc: grpc.trim_matches('"').to_string(),
            admin: admin.trim_matches('"').parse().unwrap(),
        }
    }
}

impl Drop for Sltdd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sltd-sync status --json`: the freshness it prints and its exit status.
fn sync_status(sltd_sync: &Path, config: &Path) -> (String, i32) {
    let out = Command::new(sltd_sync)
        .args(["--config", config.to_str().unwrap(), "status", "--json"])
        .env_remove("SLTD_SYNC_CONFIG")
        .output()
        .expect("run sltd-sync status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    (
        v["freshness"].as_str().unwrap_or("none").to_string(),
        out.status.code().unwrap_or(-1),
    )
}

/// The proto's name for a freshness code: the spelling every program uses.
fn name(code: i32) -> &'static str {
    pb::Freshness::try_from(code).map_or("?", |f| f.as_str_name())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_status_and_daemon_answers_agree() {
    let sltd_sync = tokio::task::spawn_blocking(sltd_sync_binary).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("DATA");
    let data = DataDir::create(&data_path).unwrap();
    let now = now_unix();
    // The first generation, so that the daemon has something to serve.
    install(&data, 1, now - HOUR, now + 24 * HOUR);
    let toml_path = data_path.to_str().unwrap().replace('\\', "\\\\");
    let sync_config = dir.path().join("sltd-sync.toml");
    std::fs::write(
        &sync_config,
        format!("data_dir = \"{toml_path}\"\nstale_after = \"2h\"\n"),
    )
    .unwrap();
    let daemon_config = dir.path().join("sltdd.toml");
    std::fs::write(
        &daemon_config,
        format!(
            "data_dir = \"{toml_path}\"\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [reload]\nwatch = false\n[freshness]\nstale_after = \"2h\"\n"
        ),
    )
    .unwrap();
    let daemon = Sltdd::start(&daemon_config);
    assert!(
        common::eventually(60, || async {
            http(daemon.admin, "GET", "/readyz").await.0 == 200
        })
        .await,
        "sltdd became ready"
    );
    let mut client = pb::lookup_client::LookupClient::connect(format!("http://{}", daemon.grpc))
        .await
        .unwrap();

    // (as-of age, time to expiry, what both must say, sltd-sync's exit
    // status). Margins of half an hour or more: the answers come seconds
    // apart. The exact boundaries are unit tests of the rule.
    let cases = [
        (HOUR, 24 * HOUR, "FRESH", 0),
        (3 * HOUR, 24 * HOUR, "STALE", 4),
        (3 * HOUR, HOUR / 2, "STALE", 4),
        (HOUR, -HOUR / 2, "EXPIRED", 5),
        (3 * HOUR, -HOUR / 2, "EXPIRED", 5),
    ];
    for (i, (age, to_expiry, want, exit)) in cases.into_iter().enumerate() {
        let sequence = i as u64 + 2;
        let now = now_unix();
        install(&data, sequence, now - age, now + to_expiry);
        let (code, body) = http(daemon.admin, "POST", "/reload").await;
        assert_eq!(code, 200, "{body}");

        let status = client
            .get_status(pb::GetStatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .dataset
            .unwrap();
        assert_eq!(status.sequence, sequence);
        let answer = client
            .check(doc("", "L898902C3", "UTO", ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.verdict, pb::Verdict::Hit as i32);
        let answered = answer.dataset.unwrap();
        let (synced, synced_exit) = tokio::task::spawn_blocking({
            let (s, c) = (sltd_sync.clone(), sync_config.clone());
            move || sync_status(&s, &c)
        })
        .await
        .unwrap();

        let case = format!("age {age} s, expiry in {to_expiry} s");
        assert_eq!(synced, want, "sltd-sync status, {case}");
        assert_eq!(synced_exit, exit, "sltd-sync status exit, {case}");
        assert_eq!(name(status.freshness), want, "GetStatus, {case}");
        assert_eq!(name(answered.freshness), want, "Check, {case}");
    }
}
