//! A data directory damaged outside the programs' control (a disk error,
//! an operator's hand): a `CURRENT` that holds garbage, a generation file
//! that does not parse. The post recovers by itself: the newest valid
//! generation is served, `sltdd --check-config` does not keep the unit
//! from starting (status 64 is the unit's "never restart"), and the next
//! `sltd-sync run` (or `--resync`) completes and repairs `CURRENT`.

use std::path::{Path, PathBuf};

use sltd_testkit::feed::Feed;
use sltd_testkit::fixtures::{miss_number, new_record, records, write_export};
use sltd_testkit::sltdd::Sltdd;

use crate::common::{arg, check, programs, status, sync};

/// A post synced to sequence 2 (a snapshot, then a delta): two
/// generations in its data directory.
fn post_at_two(work: &Path) -> (Feed, PathBuf) {
    let p = programs();
    let mut recs = records(1_000);
    let first = work.join("first.csv");
    write_export(&first, &recs);
    let feed = Feed::create(&p.sltd, work, &[]);
    feed.publish(&p.sltd, &first, true);
    let data = work.join("DATA");
    sync(arg(&feed.dir), &data, &feed.trust).success();
    recs.push(new_record(&miss_number(5)));
    let second = work.join("second.csv");
    write_export(&second, &recs);
    feed.publish(&p.sltd, &second, false);
    let r = sync(arg(&feed.dir), &data, &feed.trust).success().json();
    assert_eq!(r["sequence"], 2, "{r}");
    (feed, data)
}

fn current(data: &Path) -> String {
    std::fs::read_to_string(data.join("CURRENT")).unwrap()
}

#[test]
fn a_garbage_current_falls_back_to_the_newest_generation_and_is_repaired() {
    let p = programs();
    let work = tempfile::tempdir().unwrap();
    let (feed, data) = post_at_two(work.path());
    let good = current(&data);
    std::fs::write(data.join("CURRENT"), b"\x00\x1b[2J not a generation\n").unwrap();

    p.sltdd
        .run(["--data-dir", arg(&data), "--check-config"])
        .success();
    let (run, st) = status(&data);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(st["sequence"], 2, "{st}");
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);
    let (hit, v) = check(&daemon.url(), &miss_number(5));
    assert_eq!(hit.code(), Some(0), "{hit}");
    assert_eq!(v["dataset"]["sequence"], 2, "{v}");

    let r = sync(arg(&feed.dir), &data, &feed.trust).success().json();
    assert_eq!(r["sequence"], 2, "{r}");
    assert_eq!(current(&data), good, "the sync points CURRENT at it again");

    std::fs::write(data.join("CURRENT"), b"garbage").unwrap();
    let resync = p
        .sync
        .run([
            "--feed",
            arg(&feed.dir),
            "--data-dir",
            arg(&data),
            "--trust",
            arg(&feed.trust),
            "run",
            "--resync",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(resync["sequence"], 2, "{resync}");
    assert!(resync["installed"].is_string(), "{resync}");
}

#[test]
fn a_generation_file_that_does_not_parse_falls_back_to_the_previous_one() {
    let p = programs();
    let work = tempfile::tempdir().unwrap();
    let (feed, data) = post_at_two(work.path());
    let id = current(&data);
    let broken = data.join("generations").join(format!("{}.json", id.trim()));
    std::fs::write(&broken, b"{\"format\": 1, trailing garbage").unwrap();

    p.sltdd
        .run(["--data-dir", arg(&data), "--check-config"])
        .success();
    let (run, st) = status(&data);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(st["sequence"], 1, "the previous generation: {st}");

    // The next sync starts from sequence 1 and installs 2 again.
    let r = sync(arg(&feed.dir), &data, &feed.trust).success().json();
    assert_eq!(r["sequence"], 2, "{r}");
    assert_eq!(r["deltas_applied"], 1, "{r}");
    let (_, st) = status(&data);
    assert_eq!(st["sequence"], 2, "{st}");
    assert_ne!(current(&data), id);
}
