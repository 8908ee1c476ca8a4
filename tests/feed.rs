//! The signed feed end to end: `sltd feed keygen/init/publish`, `sltd feed
//! serve`, `sltd-sync run` over HTTP and from a directory, `sltd-sync
//! status`, `sltdd --data-dir` answering `sltd check`; a replayed older
//! checkpoint refused; an expired feed still answered and reported
//! EXPIRED; two root keys at init and an online key rotation followed by
//! posts behind and fresh.

use std::time::Duration;

use sltd_testkit::feed::{Feed, FeedServer};
use sltd_testkit::fixtures::{TD3, miss_number, new_record, records, write_export};
use sltd_testkit::sltdd::Sltdd;
use sltd_testkit::wait;

use crate::common::{CLIENT_TIMEOUT, arg, check, programs, status, sync};

#[test]
fn a_published_feed_is_synced_over_http_and_from_a_directory_and_served() {
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_export(&csv, &records(3_000));
    let feed = Feed::create(&p.sltd, dir.path(), &[]);
    feed.publish(&p.sltd, &csv, true);
    let server = FeedServer::start(&p.sltd, &feed.dir);

    let over_http = dir.path().join("DATA-http");
    let from_media = dir.path().join("DATA-media");
    for (source, data) in [(server.url(), &over_http), (arg(&feed.dir), &from_media)] {
        let report = sync(source, data, &feed.trust).success().json();
        assert_eq!(report["sequence"], 1, "{report}");
        assert!(report["installed"].is_string(), "{report}");
    }
    let (run, a) = status(&over_http);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(a["freshness"], "FRESH");
    assert_eq!(a["sequence"], 1);
    let (_, b) = status(&from_media);
    for field in ["sequence", "state_root", "record_count"] {
        assert_eq!(a[field], b[field], "{field}: {a} {b}");
    }
    // Nothing new: the next run installs nothing.
    let again = sync(server.url(), &over_http, &feed.trust).success().json();
    assert_eq!(again["sequence"], 1);
    assert!(again["installed"].is_null(), "{again}");

    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&over_http)]);
    let (run, v) = check(&daemon.url(), "L898902C3");
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["dataset"]["sequence"], 1);
    assert_eq!(v["dataset"]["freshness"], "FRESH");
    assert_eq!(v["dataset"]["record_count"], a["record_count"]);
    let (run, v) = check(&daemon.url(), &miss_number(3));
    assert_eq!(run.code(), Some(1), "{run}");
    assert_eq!(v["verdict"], "NO_HIT");
    p.sltd
        .run([
            "check",
            "--server",
            &daemon.url(),
            "--timeout",
            CLIENT_TIMEOUT,
            "--mrz",
            TD3,
        ])
        .expect_code(0);
}

#[test]
fn a_replayed_older_checkpoint_is_refused_and_the_installed_data_keeps_serving() {
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let mut recs = records(3_000);
    let first = dir.path().join("first.csv");
    write_export(&first, &recs);
    let feed = Feed::create(&p.sltd, dir.path(), &[]);
    feed.publish(&p.sltd, &first, true);
    // What a hostile mirror keeps: the feed at sequence 1.
    let old = feed.copy_to(&dir.path().join("OLD-FEED"));
    let added = miss_number(7);
    recs.push(new_record(&added));
    let second = dir.path().join("second.csv");
    write_export(&second, &recs);
    feed.publish(&p.sltd, &second, false);

    let data = dir.path().join("DATA");
    let report = sync(arg(&feed.dir), &data, &feed.trust).success().json();
    assert_eq!(report["sequence"], 2, "{report}");
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);
    let (run, v) = check(&daemon.url(), &added);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(v["dataset"]["sequence"], 2);

    let mirror = FeedServer::start(&p.sltd, &old);
    let refused = sync(mirror.url(), &data, &feed.trust).expect_code(1);
    assert!(
        refused.stderr.contains("refused") && refused.stderr.contains("rollback"),
        "{refused}"
    );
    let (_, st) = status(&data);
    assert_eq!(st["sequence"], 2, "{st}");
    assert_eq!(st["last_error_kind"], "rollback", "{st}");
    // The daemon still serves what was installed.
    let (run, v) = check(&daemon.url(), &added);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(v["dataset"]["sequence"], 2);
}

#[test]
fn an_expired_feed_is_still_answered_and_reported_expired() {
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_export(&csv, &records(500));
    // Checkpoints valid for half a minute, and no refresh after the first:
    // the border post is cut off from the feed.
    let feed = Feed::create(&p.sltd, dir.path(), &["--checkpoint-ttl", "30s"]);
    feed.publish(&p.sltd, &csv, true);
    let data = dir.path().join("DATA");
    sync(arg(&feed.dir), &data, &feed.trust).success();
    let (run, _) = status(&data);
    assert_eq!(run.code(), Some(0), "FRESH at first: {run}");
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);

    let st = wait::until_every(
        Duration::from_millis(500),
        Duration::from_secs(120),
        "the checkpoint to expire",
        || {
            let (run, v) = status(&data);
            (run.code() == Some(5)).then_some(v)
        },
    );
    assert_eq!(st["freshness"], "EXPIRED");
    let (run, v) = check(&daemon.url(), "L898902C3");
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["dataset"]["freshness"], "EXPIRED");
    let text = p
        .sltd
        .run([
            "check",
            "--server",
            &daemon.url(),
            "--timeout",
            CLIENT_TIMEOUT,
            "--number",
            "L898902C3",
        ])
        .expect_code(0);
    assert!(text.stdout.contains("EXPIRED"), "{text}");
    assert!(
        daemon.metrics().contains("sltd_dataset_freshness 2"),
        "{}",
        daemon.metrics()
    );
}

#[test]
fn init_wants_two_root_keys_and_rotate_root_re_signs_the_checkpoint_for_every_post() {
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    // One root key (threshold 1) is refused, as is a threshold of 1.
    for k in ["solo.key", "solo-2.key", "online.key"] {
        p.sltd
            .run(["feed", "keygen", "--output", arg(&work.join(k))])
            .success();
    }
    let solo = work.join("SOLO");
    let (solo_key, online) = (work.join("solo.key"), work.join("online.key"));
    let run = p.sltd.run([
        "feed",
        "init",
        "--dir",
        arg(&solo),
        "--root-key",
        arg(&solo_key),
        "--key",
        arg(&online),
    ]);
    assert_eq!(run.code(), Some(2), "{run}");
    assert!(run.stderr.contains("at least 2 root keys"), "{run}");
    let run = p.sltd.run([
        "feed",
        "init",
        "--dir",
        arg(&solo),
        "--root-key",
        arg(&solo_key),
        "--root-key",
        arg(&work.join("solo-2.key.pub")),
        "--root-threshold",
        "1",
        "--key",
        arg(&online),
    ]);
    assert_eq!(run.code(), Some(2), "{run}");
    assert!(run.stderr.contains("at least 2 offline keys"), "{run}");
    assert!(!solo.join("1.root.json").exists());

    let csv = work.join("export.csv");
    write_export(&csv, &records(2_000));
    let feed = Feed::create(&p.sltd, work, &[]);
    feed.publish(&p.sltd, &csv, true);
    let behind = work.join("DATA-behind");
    sync(arg(&feed.dir), &behind, &feed.trust).success();

    // Retire the online key for a new one, as the README says.
    let new_key = work.join("feed-2.key");
    p.sltd
        .run(["feed", "keygen", "--output", arg(&new_key)])
        .success();
    let new_pub = work.join("feed-2.key.pub");
    let rotate = p
        .sltd
        .run([
            "feed",
            "rotate-root",
            "--dir",
            arg(&feed.dir),
            "--key",
            arg(&feed.root_keys[0]),
            "--key",
            arg(&feed.root_keys[1]),
            "--key",
            arg(&new_key),
            "--new-key",
            arg(&new_pub),
        ])
        .success();
    assert!(rotate.stdout.contains("root version 2 written"), "{rotate}");
    assert!(
        rotate
            .stdout
            .contains("checkpoint sequence 1 re-signed under root version 2"),
        "{rotate}"
    );
    // A fresh post right after the rotation takes the snapshot signed
    // under root 1.
    let fresh = work.join("DATA-fresh");
    let r = sync(arg(&feed.dir), &fresh, &feed.trust).success().json();
    assert_eq!(
        (r["sequence"].as_u64(), r["snapshot"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    // The next publication is signed by the new key only; the old one is
    // refused.
    let csv2 = work.join("export-2.csv");
    write_export(&csv2, &records(2_100));
    let old = p.sltd.run([
        "feed",
        "publish",
        "--dir",
        arg(&feed.dir),
        "--key",
        arg(&feed.key),
        "--input",
        arg(&csv2),
    ]);
    assert_eq!(old.code(), Some(2), "{old}");
    assert!(old.stderr.contains("listed in the root"), "{old}");
    p.sltd
        .run([
            "feed",
            "publish",
            "--dir",
            arg(&feed.dir),
            "--key",
            arg(&new_key),
            "--input",
            arg(&csv2),
        ])
        .success();
    // The post synced before the rotation forgets what the retired key
    // taught; the fresh one learned under the new root already.
    for (data, forgot) in [(&behind, true), (&fresh, false)] {
        let r = sync(arg(&feed.dir), data, &feed.trust).success().json();
        assert_eq!(r["sequence"], 2, "{r}");
        assert_eq!(r["forgot_retired"], forgot, "{r}");
    }
    let (_, a) = status(&behind);
    let (_, b) = status(&fresh);
    assert_eq!(a["state_root"], b["state_root"]);
}
