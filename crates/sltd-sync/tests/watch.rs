//! `sltd-sync watch` as an operator runs it: it syncs at once, keeps going
//! on its schedule, and SIGTERM or SIGINT stop it cleanly (exit 0, the lock
//! released, the data directory complete).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sltd_datadir::DataDir;
use sltd_feed::metadata::Limits;

fn start_watch(feed: &Path, trust: &Path, data: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sltd-sync"))
        .arg("--feed")
        .arg(feed)
        .arg("--data-dir")
        .arg(data)
        .arg("--trust")
        .arg(trust)
        .args(["watch", "--interval", "1h"])
        .env("SLTD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sltd-sync watch")
}

/// Waits (a hang guard, not a measurement) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop_with(signal: &str, mut child: Child) -> (i32, String) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal}");
    let mut waited = None;
    wait_for("sltd-sync watch to exit", || {
        waited = child.try_wait().unwrap();
        waited.is_some()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (waited.unwrap().code().unwrap_or(-1), err)
}

#[test]
fn sigterm_and_sigint_stop_watch_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(8);
    let mut p = init(&feed, "watch", &[&k], 1, Limits::default());
    let recs = records(300, 8);
    publish(&mut p, recs.clone(), &[&k]);
    let trust = feed.join(sltd_feed::layout::root_path(1));
    for signal in ["-TERM", "-INT"] {
        let data = tmp.path().join(format!("data{signal}"));
        let child = start_watch(&feed, &trust, &data);
        // The first sync runs at once; the next is an hour away.
        wait_for("the first sync", || {
            DataDir::open(&data)
                .and_then(|d| d.status())
                .is_ok_and(|s| s.last_success.is_some())
        });
        let (code, err) = stop_with(signal, child);
        assert_eq!(code, 0, "{signal}: {err}");
        assert!(err.contains("watch stopped"), "{signal}: {err}");
        assert_eq!(served(&data), model(&recs));
        // The lock went with the process.
        assert!(DataDir::open(&data).unwrap().lock().is_ok());
    }
}
