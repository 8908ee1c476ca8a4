//! A new publication while `sltd loadgen` drives the daemon: `sltd-sync`
//! installs the next generation, the daemon switches to it, and not one
//! check fails or gets a wrong verdict; a deleted document stops answering
//! and a new one answers.

use std::time::Duration;

use sltd_testkit::feed::Feed;
use sltd_testkit::fixtures::{miss_number, new_record, records, write_export};
use sltd_testkit::http::metric_sum;
use sltd_testkit::process::Stream;
use sltd_testkit::sltdd::Sltdd;
use sltd_testkit::{READY_TIMEOUT, wait};

use crate::common::{CLIENT_TIMEOUT, arg, check, programs, sync};

/// Checks the daemon has answered so far.
fn answered(daemon: &Sltdd) -> f64 {
    metric_sum(&daemon.metrics(), "sltd_checks_total")
}

#[test]
fn a_new_generation_is_switched_to_under_load_with_no_failed_check() {
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let first = records(3_000);
    let deleted = "L898902C3";
    let added = miss_number(11);
    // The next export: one document recovered (deleted), one newly listed.
    let mut second: Vec<_> = first
        .iter()
        .filter(|r| r.key.number.as_str() != deleted)
        .copied()
        .collect();
    second.push(new_record(&added));
    let (first_csv, second_csv) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
    write_export(&first_csv, &first);
    write_export(&second_csv, &second);
    // The load draws its hits from what both generations hold, so every
    // verdict is the same before, during and after the switch.
    let common: Vec<_> = second
        .iter()
        .filter(|r| r.key.number.as_str() != added)
        .copied()
        .collect();
    let keys = dir.path().join("keys.csv");
    write_export(&keys, &common);

    let feed = Feed::create(&p.sltd, dir.path(), &[]);
    feed.publish(&p.sltd, &first_csv, true);
    let data = dir.path().join("DATA");
    sync(arg(&feed.dir), &data, &feed.trust).success();
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);
    let (run, v) = check(&daemon.url(), deleted);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(v["dataset"]["sequence"], 1);

    // Open loop, half hits, until interrupted.
    let mut load = p.sltd.spawn([
        "loadgen",
        "--server",
        &daemon.url(),
        "--keys",
        arg(&keys),
        "--rate",
        "200",
        "--duration",
        "3600",
        "--warmup",
        "0",
        "--hit-ratio",
        "0.5",
        "--connections",
        "2",
        "--threads",
        "1",
        "--timeout",
        CLIENT_TIMEOUT,
        "--json",
    ]);
    load.wait_for_line(
        Stream::Stderr,
        READY_TIMEOUT,
        "the loadgen's start line",
        |l| l.contains("Ctrl-C stops early").then_some(()),
    );
    let before = answered(&daemon);
    wait::until(READY_TIMEOUT, "the load to reach the daemon", || {
        (answered(&daemon) >= before + 100.0).then_some(())
    });

    feed.publish(&p.sltd, &second_csv, false);
    let report = sync(arg(&feed.dir), &data, &feed.trust).success().json();
    assert_eq!(report["sequence"], 2, "{report}");
    wait::until_every(
        Duration::from_millis(100),
        READY_TIMEOUT,
        "the daemon to switch to sequence 2",
        || {
            let (run, v) = check(&daemon.url(), &added);
            (run.code() == Some(0) && v["dataset"]["sequence"] == 2).then_some(())
        },
    );
    let at_switch = answered(&daemon);
    wait::until(READY_TIMEOUT, "the load to go on after the switch", || {
        (answered(&daemon) >= at_switch + 100.0).then_some(())
    });
    assert!(load.is_running(), "{}", load.output());
    load.signal("INT");
    let status = load.wait_exit(READY_TIMEOUT);
    let out = load.lines(Stream::Stdout).join("\n");
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("loadgen printed no JSON report ({e}):\n{}", load.output()));
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert!(v["requests"].as_u64().unwrap() >= 200, "{v}");
    assert!(status.success(), "{status}: {}", load.output());

    let (run, v) = check(&daemon.url(), deleted);
    assert_eq!(
        run.code(),
        Some(1),
        "the recovered document still answers: {run}"
    );
    assert_eq!(v["dataset"]["sequence"], 2);
    let (run, _) = check(&daemon.url(), &added);
    assert_eq!(run.code(), Some(0), "{run}");
}
