//! SIGKILL at random moments during `sltd-sync run` and `sltd-sync compact`:
//! afterwards the data directory must load (CURRENT names a complete,
//! verifiable generation serving exactly the records of its sequence) and
//! the next run must complete. Where the trial starts from an installed
//! generation, `sltdd` serves the same data directory throughout and a
//! checker keeps sending batches of known hits and misses: every check must
//! answer with the right verdict, and the daemon must end on the final
//! sequence. Ignored by default (a few minutes); run with
//! `cargo test -p sltd-sync --test sigkill -- --ignored`, and set
//! `SLTD_SIGKILL_TRIALS` for another number of trials than 50.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use sltd_datadir::DataDir;
use sltd_feed::metadata::Limits;
use sltd_model::{DocumentKey, Record};
use sltd_testkit::process::Program;
use sltd_testkit::sltdd::Sltdd;

/// Trials when `SLTD_SIGKILL_TRIALS` is not set.
const DEFAULT_TRIALS: u64 = 50;

fn trials() -> u64 {
    match std::env::var("SLTD_SIGKILL_TRIALS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("SLTD_SIGKILL_TRIALS={v:?}: expected a positive integer")),
        Err(_) => DEFAULT_TRIALS,
    }
}

/// What a trial kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `run` from an empty data directory, without compaction (snapshot).
    Snapshot,
    /// `run` from sequence 3 with compaction due at the end (deltas,
    /// segment merge, compaction).
    DeltaCompact,
    /// `run` from an empty data directory with compaction allowed.
    SnapshotCompact,
    /// `run` from sequence 3 without compaction (deltas, segment stack).
    Delta,
    /// `compact` of a generation at sequence 6 with three delta segments.
    Compact,
}

const KINDS: [Kind; 5] = [
    Kind::Snapshot,
    Kind::DeltaCompact,
    Kind::SnapshotCompact,
    Kind::Delta,
    Kind::Compact,
];

fn sync_command(feed: &Path, trust: &Path, data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sltd-sync"));
    c.arg("--feed")
        .arg(feed)
        .arg("--data-dir")
        .arg(data)
        .arg("--trust")
        .arg(trust);
    c.env("SLTD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn run_sync(feed: &Path, trust: &Path, data: &Path, compact: bool) -> std::process::Child {
    let mut c = sync_command(feed, trust, data);
    c.arg("run");
    if !compact {
        c.arg("--no-compact");
    }
    c.spawn().expect("spawn sltd-sync")
}

fn run_compact(feed: &Path, trust: &Path, data: &Path) -> std::process::Child {
    let mut c = sync_command(feed, trust, data);
    c.arg("compact");
    c.spawn().expect("spawn sltd-sync compact")
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

/// Sends the batch file `probe` to `daemon` over and over until stopped,
/// each time with `sltd check`; returns the rounds done and every failure
/// (an error, or a verdict that is not the expected one of its line).
fn checker(
    sltd: Program,
    url: String,
    probe: PathBuf,
    expected: Vec<&'static str>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut rounds, mut failures) = (0u64, Vec::new());
        while !stop.load(Ordering::Relaxed) || rounds == 0 {
            let out = sltd
                .command([
                    "check",
                    "--server",
                    url.as_str(),
                    "--batch-file",
                    probe.to_str().unwrap(),
                    "--no-possible-matches",
                    "--json",
                ])
                .output()
                .expect("run sltd check");
            rounds += 1;
            let text = String::from_utf8_lossy(&out.stdout);
            let verdicts: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["verdict"].as_str().map(str::to_string))
                .collect();
            if verdicts != expected {
                failures.push(format!(
                    "round {rounds}: exit {:?}, verdicts {verdicts:?}, stderr {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        (rounds, failures)
    })
}

#[test]
#[ignore = "slow: 50 trials of SIGKILL; run by .ci/run"]
fn sigkill_at_random_points_leaves_a_loadable_data_dir() {
    let trials = trials();
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
    // is the one of sequence 3, and one at sequence 6 with the three deltas
    // stacked as segments (what `compact` merges).
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
    let at_six = tmp.path().join("at-six-segments");
    copy_dir(&at_three, &at_six);
    assert!(
        run_sync(&feed, &trust, &at_six, false)
            .wait()
            .unwrap()
            .success()
    );
    assert_eq!(current(&at_six).unwrap().1, 6);
    let (_, idx) = open_current(&at_six).unwrap();
    assert!(
        !idx.segments().is_empty(),
        "the generation to compact has delta segments"
    );
    drop(idx);
    let final_model = models.last().unwrap().clone();

    // Checks the daemon answers during the trials: records every sequence
    // from 3 to 6 holds, and numbers none holds.
    let sltdd = Program::find("sltdd");
    let sltd = Program::find("sltd");
    let stable: Vec<Record> = models[3]
        .values()
        .filter(|r| (4..=6).all(|s| models[s].contains_key(&r.key)))
        .step_by(997)
        .take(20)
        .cloned()
        .collect();
    assert_eq!(stable.len(), 20);
    let mut probe_records = stable.clone();
    let mut expected = vec!["HIT"; stable.len()];
    for i in 0..20 {
        let r = sltd_testkit::fixtures::new_record(&sltd_testkit::fixtures::miss_number(i));
        assert!(models.iter().all(|m| !m.contains_key(&r.key)));
        probe_records.push(r);
        expected.push("NO_HIT");
    }
    let probe = tmp.path().join("probe.csv");
    sltd_testkit::fixtures::write_export(&probe, &probe_records);

    // How long uninterrupted runs take for each kind, to spread the kills
    // over them.
    let start_of = |kind: Kind| match kind {
        Kind::Snapshot | Kind::SnapshotCompact => None,
        Kind::Delta | Kind::DeltaCompact => Some(at_three.as_path()),
        Kind::Compact => Some(at_six.as_path()),
    };
    let spawn = |kind: Kind, data: &Path| match kind {
        Kind::Snapshot | Kind::Delta => run_sync(&feed, &trust, data, false),
        Kind::SnapshotCompact | Kind::DeltaCompact => run_sync(&feed, &trust, data, true),
        Kind::Compact => run_compact(&feed, &trust, data),
    };
    let durations: Vec<Duration> = KINDS
        .iter()
        .map(|&kind| {
            let probe = tmp.path().join(format!("probe-{kind:?}"));
            if let Some(s) = start_of(kind) {
                copy_dir(s, &probe);
            }
            let t = Instant::now();
            assert!(spawn(kind, &probe).wait().unwrap().success(), "{kind:?}");
            if kind == Kind::Compact || kind == Kind::DeltaCompact {
                let (_, idx) = open_current(&probe).unwrap();
                assert!(idx.segments().is_empty(), "{kind:?} compacts");
            }
            t.elapsed().max(Duration::from_millis(20))
        })
        .collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed = 0;
    let mut checks = 0;
    for trial in 0..trials {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let kind = KINDS[(trial % KINDS.len() as u64) as usize];
        let data = tmp.path().join(format!("data-{trial}"));
        if let Some(s) = start_of(kind) {
            copy_dir(s, &data);
        }
        // From an installed generation, a daemon serves the same directory
        // throughout the trial.
        let daemon = start_of(kind).map(|_| {
            let d = Sltdd::start_ready(
                &sltdd,
                &[
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--audit-log",
                    "/dev/null",
                ],
            );
            let stop = Arc::new(AtomicBool::new(false));
            let h = checker(
                sltd.clone(),
                d.url(),
                probe.clone(),
                expected.clone(),
                stop.clone(),
            );
            (d, stop, h)
        });
        let frac = (rng >> 11) as f64 / (1u64 << 53) as f64;
        let delay = durations[(trial % KINDS.len() as u64) as usize].mul_f64(frac * 0.9);
        let mut child = spawn(kind, &data);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        check_loadable(&data, &models);
        let status = run_sync(&feed, &trust, &data, true).wait().unwrap();
        assert!(
            status.success(),
            "trial {trial} ({kind:?}): the next run completes"
        );
        assert_eq!(served(&data), final_model, "trial {trial}");
        assert_eq!(current(&data).unwrap().1, 6);
        if let Some((mut d, stop, h)) = daemon {
            sltd_testkit::wait::until(
                sltd_testkit::READY_TIMEOUT,
                "sltdd to serve sequence 6",
                || {
                    let (code, body) = sltd_testkit::http::get(d.admin(), "/status").ok()?;
                    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
                    (code == 200 && v["dataset"]["sequence"] == 6).then_some(())
                },
            );
            stop.store(true, Ordering::Relaxed);
            let (rounds, failures) = h.join().unwrap();
            assert!(
                failures.is_empty(),
                "trial {trial} ({kind:?}): every check answers right: {failures:#?}\n{}",
                d.process().output()
            );
            assert!(d.process_mut().is_running(), "trial {trial}: sltdd runs");
            checks += rounds;
        }
        std::fs::remove_dir_all(&data).unwrap();
    }
    eprintln!("{trials} trials, {killed} killed mid-run, {checks} rounds of checks answered");
    assert!(
        killed * 5 >= trials * 2,
        "enough trials were killed mid-run ({killed} of {trials})"
    );
    assert!(
        checks >= trials / 2,
        "the daemon was checked ({checks} rounds)"
    );
}
