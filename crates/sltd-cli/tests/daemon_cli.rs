//! `sltd check` and `sltd loadgen` against a daemon started in this test
//! process on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sltd_server::{AuditLog, Config, Daemon, IndexFileSource};
use sltd_testkit::fixtures::{TD3, now, records, write_export, write_index};
use sltd_testkit::pki::Pki;
use sltd_testkit::process::{Program, Run};

struct Fixture {
    _dir: tempfile::TempDir,
    csv: PathBuf,
    server: String,
    daemon: Arc<Daemon>,
    runtime: tokio::runtime::Runtime,
}

/// An index and its CSV export (specimens + 3000 records), served.
fn fixture() -> Fixture {
    fixture_with(Config::default(), None)
}

/// As [`fixture`], with `config`; `dir` holds files the config refers to.
fn fixture_with(config: Config, dir: Option<tempfile::TempDir>) -> Fixture {
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let records = records(3_000);
    let csv = dir.path().join("export.csv");
    write_export(&csv, &records);
    let index = dir.path().join("index.sltd");
    write_index(&index, &records, now());
    let f = serve(dir, csv, &index, config);
    f.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), f.daemon.wait_serving())
            .await
            .unwrap();
    });
    f
}

/// A daemon serving `index` (whether it can be loaded or not) on
/// 127.0.0.1:0; `csv` is the export of what it should serve.
fn serve(dir: tempfile::TempDir, csv: PathBuf, index: &Path, config: Config) -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, daemon) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let daemon = Daemon::new(
            config,
            Arc::new(IndexFileSource::new(index)),
            AuditLog::writer(std::io::sink()),
        );
        let d = Arc::clone(&daemon);
        tokio::spawn(sltd_server::run(d, listener, None, std::future::pending()));
        (addr, daemon)
    });
    Fixture {
        _dir: dir,
        csv,
        server: format!("http://{addr}"),
        daemon,
        runtime,
    }
}

fn sltd(args: &[&str]) -> (i32, String, String) {
    let Run {
        status,
        stdout,
        stderr,
        ..
    } = Program::at(env!("CARGO_BIN_EXE_sltd")).run(args);
    (status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn check_exit_codes_and_output() {
    let f = fixture();
    let s = f.server.as_str();
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        s,
        "--number",
        "L898902C3",
        "--country",
        "UTO",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("HIT") && out.contains("STOLEN") && out.contains("UTO-TD3-0001"),
        "{out}"
    );
    assert!(out.contains("data set") && out.contains("FRESH"), "{out}");

    let (code, out, _) = sltd(&["check", "--server", s, "--number", "QQ0000000X"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NO HIT"), "{out}");

    let (code, _, err) = sltd(&["check", "--server", s, "--number", "L898.902"]);
    assert_eq!(code, 2);
    assert!(err.contains("document.number"), "{err}");

    // Host:port without a scheme, and a type filter on its first letter.
    let addr = s.trim_start_matches("http://");
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        addr,
        "--number",
        "d23145890",
        "--type",
        "ID",
    ]);
    assert_eq!(code, 0, "{out}");

    let (code, out, _) = sltd(&["check", "--server", s, "--mrz", TD3, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["mrz"]["format"], "TD3");
    assert_eq!(v["mrz"]["all_check_digits_valid"], true);
    assert_eq!(v["matches"][0]["status"], "stolen");
    assert_eq!(v["dataset"]["freshness"], "FRESH");

    // A daemon that is not there: an error, exit 2.
    let (code, _, err) = sltd(&[
        "check",
        "--server",
        "http://127.0.0.1:9",
        "--number",
        "X1",
        "--timeout",
        "2",
    ]);
    assert_eq!(code, 2);
    // The cause, and what to check.
    assert!(
        err.contains("cannot connect") && err.contains("refused") && err.contains("sltdd --listen"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn check_batch_file() {
    let f = fixture();
    let s = f.server.as_str();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.csv");
    std::fs::write(
        &manifest,
        "request_id,document_number,issuing_country,document_type\n\
         seat-1A,L898902C3,UTO,P\n\
         seat-1B,QQ0000000X,UTO,P\n\
         seat-1C,BAD.NUMBER,,\n\
         seat-1D,L8988901C,,\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        s,
        "--batch-file",
        m,
        "--batch-size",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("4 documents checked: 2 HIT, 1 no hit, 1 invalid"),
        "{out}"
    );
    assert!(out.contains("line 4: INVALID  document.number"), "{out}");
    let (code, out, _) = sltd(&["check", "--server", s, "--batch-file", m, "--json"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["request_id"], "seat-1A");
    assert_eq!(lines[1]["verdict"], "NO_HIT");
    assert_eq!(lines[2]["verdict"], "INVALID_QUERY");
    assert_eq!(lines[3]["line"], 5);

    // An export file works as a batch file too: every record is a hit.
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        s,
        "--batch-file",
        f.csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("3004 documents checked: 3004 HIT, 0 no hit, 0 invalid"),
        "{out}"
    );
}

/// `sltd loadgen` against `server`, drawing queries from `keys`, with
/// `args` after those.
fn run_loadgen(server: &str, keys: &Path, args: &[&str]) -> (i32, String, String) {
    let keys = keys.to_str().unwrap();
    let mut all = vec!["loadgen", "--server", server, "--keys", keys];
    all.extend_from_slice(args);
    sltd(&all)
}

/// A short JSON run with half hits and `extra` arguments, which must pass.
fn loadgen(f: &Fixture, extra: &[&str]) -> serde_json::Value {
    let base = [
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--hit-ratio",
        "0.5",
        "--json",
    ];
    let (code, out, err) = run_loadgen(&f.server, &f.csv, &[&base[..], extra].concat());
    assert_eq!(code, 0, "{extra:?}: {out} {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "requests",
        "errors",
        "mismatches",
        "throughput_rps",
        "keys_per_s",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
    ] {
        assert!(v[key].is_number(), "{key} missing in {v}");
    }
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert!(v["requests"].as_u64().unwrap() > 0, "{v}");
    v
}

#[test]
fn loadgen_modes_check_every_answer() {
    let f = fixture();
    let v = loadgen(&f, &["--concurrency", "4"]);
    assert_eq!(v["mode"], "unary");
    assert_eq!(v["loop"], "closed");
    let v = loadgen(&f, &["--rate", "500"]);
    assert_eq!(v["loop"], "open");
    // About rate x duration requests, whatever the daemon's speed.
    let n = v["requests"].as_u64().unwrap();
    assert!((200..=300).contains(&n), "{v}");
    let v = loadgen(&f, &["--concurrency", "2", "--batch", "100"]);
    assert_eq!(v["mode"], "batch");
    assert_eq!(
        v["keys"].as_u64().unwrap(),
        100 * v["requests"].as_u64().unwrap()
    );
    let v = loadgen(&f, &["--rate", "50", "--batch", "20"]);
    assert_eq!(v["mode"], "batch");
    let v = loadgen(&f, &["--stream", "--concurrency", "2", "--window", "16"]);
    assert_eq!(v["mode"], "stream");
}

#[test]
fn loadgen_refuses_bad_rows_unless_asked_to_skip_them_and_an_empty_export() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    let mut text = std::fs::read_to_string(&f.csv).unwrap();
    text.push_str("UTO,P,AB.12,stolen,2024-01-02,R2\n");
    std::fs::write(&bad, &text).unwrap();
    let bad_line = text.lines().count();
    let run = |keys: &Path, extra: &[&str]| {
        let base = ["--duration", "0.3", "--warmup", "0", "--json"];
        run_loadgen(&f.server, keys, &[&base[..], extra].concat())
    };
    let (code, out, err) = run(&bad, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("line {bad_line}: document_number")),
        "{err}"
    );
    assert!(out.is_empty(), "nothing may be measured: {out}");

    let (code, out, err) = run(&bad, &["--skip-invalid"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("skipped 1 invalid rows"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["errors"].as_u64(), v["mismatches"].as_u64()),
        (Some(0), Some(0))
    );

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, text.lines().next().unwrap().to_string() + "\n").unwrap();
    for ratio in ["0", "0.5"] {
        let (code, out, err) = run(&empty, &["--hit-ratio", ratio]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("no records to draw queries from"), "{err}");
    }
}

#[test]
fn loadgen_counts_failures_by_status_code_and_retries_by_the_service_config() {
    // A daemon whose index cannot be loaded answers every check
    // UNAVAILABLE ("no data set is loaded yet").
    let good = fixture();
    let dir = tempfile::tempdir().unwrap();
    let f = serve(
        dir,
        good.csv.clone(),
        Path::new("/nonexistent/index.sltd"),
        Config::default(),
    );
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster/service-config.json");
    let run = |extra: &[&str]| {
        let base = [
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--concurrency",
            "2",
            "--json",
        ];
        let (code, out, err) = run_loadgen(&f.server, &f.csv, &[&base[..], extra].concat());
        assert_eq!(code, 2, "a run with failed checks fails: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let errors = v["errors"].as_u64().unwrap();
        assert!(errors > 0, "{v}");
        assert_eq!(
            v["errors_by_kind"],
            serde_json::json!({ "UNAVAILABLE": errors }),
            "{v}"
        );
        let first = v["first_error"].as_str().unwrap();
        assert!(first.starts_with("UNAVAILABLE: "), "{first}");
        assert!(first.contains("no data set is loaded yet"), "{first}");
        v
    };
    let plain = run(&[]);
    assert_eq!(plain["retries"], 0, "{plain}");
    // The shipped policy: 4 attempts in all, on UNAVAILABLE.
    let retried = run(&["--service-config", config.to_str().unwrap()]);
    let errors = retried["errors"].as_u64().unwrap();
    assert_eq!(retried["retries"].as_u64(), Some(3 * errors), "{retried}");
    // The human report says the same.
    let args = ["--duration", "0.2", "--warmup", "0", "--concurrency", "1"];
    let (code, out, _) = run_loadgen(&f.server, &f.csv, &args);
    assert_eq!(code, 2, "{out}");
    let line = out.lines().find(|l| l.contains("errors")).unwrap();
    assert!(line.contains(" (UNAVAILABLE "), "{line}");
}

#[test]
fn loadgen_tcp_pingpong() {
    let (code, out, err) = sltd(&[
        "loadgen",
        "--tcp-pingpong",
        "--duration",
        "0.3",
        "--warmup",
        "0",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["mode"], "tcp-pingpong");
    assert!(v["requests"].as_u64().unwrap() > 10);
    assert!(v["p50_us"].as_u64().unwrap() > 0);
}

#[test]
fn check_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new().write(dir.path());
    let mut config = Config::default();
    config.tls.cert = Some(pki.server_cert.clone());
    config.tls.key = Some(pki.server_key.clone());
    config.tls.client_ca = Some(pki.ca.clone());
    let (ca, client_cert, client_key) = (pki.ca, pki.client_cert, pki.client_key);
    let f = fixture_with(config, Some(dir));
    let server = f.server.replace("http://", "https://");
    let ca = ca.to_str().unwrap();
    let (code, out, err) = sltd(&[
        "check",
        "--server",
        &server,
        "--tls-domain",
        "localhost",
        "--ca-cert",
        ca,
        "--client-cert",
        client_cert.to_str().unwrap(),
        "--client-key",
        client_key.to_str().unwrap(),
        "--number",
        "L898902C3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("HIT"), "{out}");
    // No client certificate: refused.
    let (code, _, err) = sltd(&[
        "check",
        "--server",
        &server,
        "--tls-domain",
        "localhost",
        "--ca-cert",
        ca,
        "--number",
        "L898902C3",
        "--timeout",
        "5",
    ]);
    assert_eq!(code, 2, "{err}");
    // https without a CA to trust: a clear error.
    let (code, _, err) = sltd(&["check", "--server", &server, "--number", "L898902C3"]);
    assert_eq!(code, 2);
    assert!(err.contains("--ca-cert"), "{err}");
}
