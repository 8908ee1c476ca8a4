//! SIGKILL at random moments during `sltd-sync run`: afterwards the data
//! directory must load (CURRENT names a complete, verifiable generation
//! serving exactly the records of its sequence) and the next run must
//! complete. Ignored by default (about a minute); run with
//! `cargo test -p sltd-sync --test sigkill -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sltd_datadir::DataDir;
use sltd_feed::metadata::Limits;
use sltd_model::{DocumentKey, Record};

fn run_sync(feed: &Path, trust: &Path, data: &Path, compact: bool) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sltd-sync"));
    c.arg("--feed")
        .arg(feed)
        .arg("--data-dir")
        .arg(data)
        .arg("--trust")
        .arg(trust)
        .arg("run");
    if !compact {
        c.arg("--no-compact");
    }
    c.env("SLTD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().expect("spawn sltd-sync")
}

fn check_loadable(data: &Path, models: &[BTreeMap<DocumentKey, Record>]) {
    let Ok(d) = DataDir::open(data) else { return };
    if let Some(g) = d.current().expect("CURRENT readable") {
        let s = served(data);
        assert_eq!(
            s, models[g.sequence as usize],
            "generation {} serves its sequence's records",
            g.id
        );
        d.load_state(&g).expect("state buckets match");
    }
}

#[test]
#[ignore = "slow: 50 trials of SIGKILL; run by .ci/run"]
fn sigkill_at_random_points_leaves_a_loadable_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(1);
    let mut p = init(&feed, "kill", &[&k], 1, Limits::default());
    let mut models = vec![BTreeMap::new()];
    let mut checkpoints = vec![std::fs::read(feed.join(sltd_feed::layout::CHECKPOINT)).unwrap()];
    let mut v = records(40_000, 9);
    for seq in 1..=6u64 {
        publish_opts(&mut p, v.clone(), &[&k], seq == 2);
        models.push(model(p.records()));
        checkpoints.push(std::fs::read(feed.join(sltd_feed::layout::CHECKPOINT)).unwrap());
        v = mutate(&v, 500, 800, 300 + seq);
    }
    let trust = feed.join("1.root.json");
    // A data directory at sequence 3, synced from a mirror whose checkpoint
    // is the one of sequence 3: half the trials start from a copy of it
    // (delta path, segment merge, compaction), half from nothing (snapshot
    // path).
    let mirror = tmp.path().join("mirror-3");
    copy_dir(&feed, &mirror);
    std::fs::write(mirror.join(sltd_feed::layout::CHECKPOINT), &checkpoints[3]).unwrap();
    let at_three = tmp.path().join("at-three");
    assert!(
        run_sync(&mirror, &trust, &at_three, false)
            .wait()
            .unwrap()
            .success()
    );
    assert_eq!(current(&at_three).unwrap().1, 3);
    let final_model = models.last().unwrap().clone();

    // How long uninterrupted runs take from each starting point, to spread
    // the kills over them.
    let time_run = |start: Option<&Path>, compact: bool| {
        let probe = tmp
            .path()
            .join(format!("probe-{}-{compact}", start.is_some()));
        if let Some(s) = start {
            copy_dir(s, &probe);
        }
        let t = Instant::now();
        assert!(
            run_sync(&feed, &trust, &probe, compact)
                .wait()
                .unwrap()
                .success()
        );
        t.elapsed().max(Duration::from_millis(20))
    };
    let durations = [
        [time_run(None, false), time_run(None, true)],
        [
            time_run(Some(&at_three), false),
            time_run(Some(&at_three), true),
        ],
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed = 0;
    for trial in 0..50u64 {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let data = tmp.path().join(format!("data-{trial}"));
        // Half the trials start from an older installed state (delta path,
        // segment merge and compaction), half from nothing (snapshot path).
        if trial % 2 == 1 {
            copy_dir(&at_three, &data);
        }
        let frac = (rng >> 11) as f64 / (1u64 << 53) as f64;
        let compact = trial % 4 == 1;
        let delay = durations[(trial % 2) as usize][compact as usize].mul_f64(frac * 0.9);
        let mut child = run_sync(&feed, &trust, &data, compact);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        check_loadable(&data, &models);
        let status = run_sync(&feed, &trust, &data, true).wait().unwrap();
        assert!(status.success(), "trial {trial}: the next run completes");
        assert_eq!(served(&data), final_model, "trial {trial}");
        assert_eq!(current(&data).unwrap().1, 6);
    }
    assert!(
        killed >= 20,
        "enough trials were killed mid-run ({killed} of 50)"
    );
}
