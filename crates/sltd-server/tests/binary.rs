//! Tests of the `sltdd` binary as an operator runs it: configuration errors
//! (exit 64), `--check-config`, SIGHUP (reload and audit log reopening),
//! SIGTERM, and that no document number of a miss appears in any output.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_testkit::process::{Program, Run};
use sltd_testkit::sltdd::Sltdd;

fn sltdd() -> Program {
    Program::at(env!("CARGO_BIN_EXE_sltdd"))
}

fn run_to_end(args: &[&str]) -> (i32, String) {
    let Run {
        status,
        stdout,
        stderr,
        ..
    } = sltdd().run(args);
    (status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn configuration_errors_exit_64_with_a_clear_message() {
    let (dir, index, _) = temp_index(10);
    let index = index.to_str().unwrap();
    let w = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let unknown_key = w("unknown.toml", "[limits]\nmax_bacth = 5\n");
    let zero_batch = w("zero.toml", "[limits]\nmax_batch = 0\n");
    let not_toml = w("broken.toml", "index = \n");
    let same_port = w(
        "same.toml",
        "listen = \"127.0.0.1:7000\"\nadmin_listen = \"127.0.0.1:7000\"\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--index"),
        (vec!["--index", "/nonexistent/index.sltd"], "not a file"),
        (vec!["--config", "/nonexistent.toml"], "cannot read config"),
        (
            vec!["--config", &unknown_key, "--index", index],
            "max_bacth",
        ),
        (
            vec!["--config", &zero_batch, "--index", index],
            "limits.max_batch",
        ),
        (vec!["--config", &not_toml, "--index", index], "broken.toml"),
        (
            vec!["--config", &same_port, "--index", index],
            "admin_listen",
        ),
        (vec!["--index", index, "--no-such-flag"], "no-such-flag"),
        (vec!["--index", index, "--listen", "nowhere"], "--listen"),
        (vec!["--index", index, "--demo"], "cannot be used"),
        (vec!["--index", index, "--tls-cert", "/x.pem"], "tls.key"),
        (
            vec![
                "--index",
                index,
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--tls-cert",
                "/nonexistent/cert.pem",
                "--tls-key",
                "/nonexistent/key.pem",
            ],
            "certificate",
        ),
        (
            vec![
                "--index",
                index,
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--audit-log",
                "/nonexistent/dir/audit.jsonl",
            ],
            "audit",
        ),
    ];
    for (args, needle) in cases {
        let (code, text) = run_to_end(&args);
        assert_eq!(code, 64, "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {needle:?} not in {text}");
    }
    let (code, text) = run_to_end(&["--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("--demo") && text.contains("Examples"));
}

#[test]
fn check_config_verifies_the_index() {
    let (dir, index, recs) = temp_index(100);
    let (code, text) = run_to_end(&["--index", index.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("{} records", recs.len())), "{text}");
    assert!(text.contains("configuration ok"), "{text}");
    let mut bytes = std::fs::read(&index).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = dir.path().join("bad.sltd");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, text) = run_to_end(&["--index", bad.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("checksum"), "{text}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_audit_rotation_and_no_missed_number_in_any_output() {
    let (dir, index, mut recs) = temp_index(2_000);
    let audit = dir.path().join("audit.jsonl");
    let mut daemon = Sltdd::start(
        &sltdd(),
        &[
            "--index",
            index.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
            // As chatty as it gets: even debug logs must not carry a miss.
            "--log-filter",
            "debug",
            // Reloads only on SIGHUP here.
            "--no-watch",
        ],
    );
    daemon.wait_ready();
    let mut c = sltd_proto::v1::lookup_client::LookupClient::connect(daemon.url())
        .await
        .unwrap();
    let numbers: std::collections::HashSet<String> =
        recs.iter().map(|r| r.key.number.to_string()).collect();
    let misses: Vec<String> = (0..40)
        .map(|i| format!("NOTLISTED{i:05}"))
        .filter(|n| !numbers.contains(n))
        .collect();
    assert_eq!(misses.len(), 40);

    // Misses through every RPC, a hit, and invalid queries around a miss.
    for m in &misses[..10] {
        let r = c
            .check(doc("unary", m, "UTO", "P"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.verdict, pb::Verdict::NoHit as i32);
    }
    let batch: Vec<_> = misses[10..20]
        .iter()
        .map(|m| doc("batch", m, "", ""))
        .collect();
    c.check_batch(pb::CheckBatchRequest { queries: batch })
        .await
        .unwrap();
    let stream: Vec<_> = misses[20..30]
        .iter()
        .map(|m| doc("stream", m, "D", ""))
        .collect();
    let out = c
        .check_stream(tokio_stream::iter(stream))
        .await
        .unwrap()
        .into_inner();
    let answers: Vec<_> = tokio_stream::StreamExt::collect::<Vec<_>>(out).await;
    assert_eq!(answers.len(), 10);
    let err = c
        .check(doc("bad", &format!("{}.", misses[30]), "", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let _ = c
        .check(doc("bad", &misses[31], "NOTASTATE", ""))
        .await
        .unwrap_err();
    c.check(doc("hit-1", "L898902C3", "UTO", "")).await.unwrap();

    // Log rotation: move the audit file away, SIGHUP, the next hit goes to
    // a new file.
    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&audit, &rotated).unwrap();
    // SIGHUP also reloads: give it a new data set with one more record.
    recs.push(sltd_model::Record {
        key: sltd_model::DocumentKey::normalise("UTO", "AFTERHUP1").unwrap(),
        ..recs[0]
    });
    write_index(&index, &recs, now());
    daemon.process().signal("HUP");
    let mut c2 = c.clone();
    assert!(
        eventually(10, || {
            let mut c = c2.clone();
            async move {
                c.check(doc("", "AFTERHUP1", "UTO", ""))
                    .await
                    .map(|r| r.into_inner().verdict == pb::Verdict::Hit as i32)
                    .unwrap_or(false)
            }
        })
        .await,
        "SIGHUP did not reload: {}",
        daemon.process().output()
    );
    c2.check(doc("hit-2", "D23145890", "UTO", ""))
        .await
        .unwrap();
    for m in &misses[32..] {
        c.check(doc("after", m, "", "")).await.unwrap();
    }
    assert!(read(&rotated).contains("hit-1"));
    assert!(!read(&rotated).contains("hit-2"));
    assert!(read(&audit).contains("hit-2"), "audit not reopened");

    // SIGTERM: drains and exits 0.
    daemon.process().signal("TERM");
    // Waits for the pipes to be read to the end too.
    let status = daemon.process_mut().wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status:?}");

    let everything = format!(
        "{}\n{}\n{}",
        daemon.process().output(),
        read(&audit),
        read(&rotated)
    );
    assert!(everything.contains("SIGTERM received"), "{everything}");
    assert!(everything.contains("SIGHUP received"));
    for m in &misses {
        assert!(
            !everything.contains(m.as_str()),
            "{m} appears in the output:\n{everything}"
        );
    }
}
