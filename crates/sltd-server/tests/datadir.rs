//! The daemon on a data directory: publish with the feed publisher, sync
//! with the sync engine, serve with `DataDirSource`, then publish a change
//! and watch the daemon switch to it without failing a query.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, doc};
use sltd_feed::keys::SecretKey;
use sltd_feed::metadata::Limits;
use sltd_feed::now_unix;
use sltd_model::{Date, DocumentKey, DocumentType, Record, Reference, Status};
use sltd_proto::v1 as pb;
use sltd_publisher::{InitOptions, PublishOptions, Publisher, PublisherConfig, RoleKeys};
use sltd_server::{AuditLog, Config, DataDirSource, DatasetSource, ReloadTrigger};
use sltd_sync::source::DirSource;
use sltd_sync::{SyncOptions, Syncer};
use tonic::transport::Channel;

type Client = pb::lookup_client::LookupClient<Channel>;

fn publisher(feed: &Path, key: &SecretKey, ttl: i64) -> Publisher {
    let now = now_unix();
    let offline = [
        SecretKey::from_seed(&[201; 32]),
        SecretKey::from_seed(&[202; 32]),
    ];
    let opts = InitOptions {
        feed: "test".into(),
        root_keys: RoleKeys {
            keys: offline.iter().map(|k| k.public().clone()).collect(),
            threshold: 2,
        },
        online_keys: RoleKeys {
            keys: vec![key.public().clone()],
            threshold: 1,
        },
        root_expires_at: now + 365 * 86_400,
        max_checkpoint_validity: ttl.max(7 * 86_400),
        limits: Limits::default(),
        config: PublisherConfig {
            checkpoint_ttl: ttl,
            snapshot_every: 0,
            snapshot_change_permille: 1001,
            ..PublisherConfig::default()
        },
        now,
    };
    Publisher::init(feed, &opts, &[key, &offline[0], &offline[1]]).expect("init feed")
}

fn publish(p: &mut Publisher, key: &SecretKey, records: Vec<Record>, snapshot: bool) {
    p.publish(
        records,
        &[key],
        PublishOptions {
            now: now_unix(),
            snapshot,
            max_delete_permille: None,
        },
    )
    .expect("publish");
}

fn sync(feed: &Path, data: &Path) {
    let trust = std::fs::read(feed.join("1.root.json")).expect("root");
    Syncer::new(&DirSource::new(feed), data, trust, SyncOptions::default())
        .expect("syncer")
        .run()
        .expect("sync");
}

fn new_record(number: &str) -> Record {
    Record {
        key: DocumentKey::normalise("UTO", number).unwrap(),
        doc_type: DocumentType::normalise("P").unwrap(),
        status: Status::Stolen,
        reported_on: Date::from_ymd(2026, 11, 1).unwrap(),
        reporting_state: None,
        reference: Reference::new("NEW-1").unwrap(),
    }
}

async fn verdict(c: &mut Client, number: &str) -> (pb::Verdict, pb::CheckResponse) {
    let r = c
        .check(doc("", number, "UTO", ""))
        .await
        .expect("check")
        .into_inner();
    (pb::Verdict::try_from(r.verdict).unwrap(), r)
}

async fn sequence(c: &mut Client) -> u64 {
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    s.dataset.unwrap().sequence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_current_generation_and_switches_without_failing_a_query() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, data) = (dir.path().join("FEED"), dir.path().join("DATA"));
    let key = SecretKey::from_seed(&[9; 32]);
    let mut p = publisher(&feed, &key, 7 * 86_400);
    let first: Vec<Record> = sltd_export::generate::generate(3000, 5).collect();
    publish(&mut p, &key, first.clone(), true);
    sync(&feed, &data);

    let source: Arc<dyn DatasetSource> = Arc::new(DataDirSource::new(&data));
    let server =
        TestServer::start_with(Config::default(), source, AuditLog::writer(std::io::sink())).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    let (v, r) = verdict(&mut c, "L898902C3").await;
    assert_eq!(v, pb::Verdict::Hit);
    let ds = r.dataset.unwrap();
    let seq1 = ds.sequence;
    assert!(seq1 >= 1);
    assert_eq!(ds.freshness, pb::Freshness::Fresh as i32);
    assert_eq!(verdict(&mut c, "NEWDOC001").await.0, pb::Verdict::NoHit);

    // Queries run all through the switch; every one must succeed, and say
    // either the old answer or the new one.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let mut lc = server.client().await;
        let (stop, failures, answered) = (stop.clone(), failures.clone(), answered.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match lc.check(doc("", "D23145890", "UTO", "")).await {
                    Ok(r) if r.get_ref().verdict == pb::Verdict::Hit as i32 => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // The next export: one document recovered (deleted), one newly stolen.
    let mut second: Vec<Record> = first
        .iter()
        .filter(|r| r.key.number.as_str() != "L898902C3")
        .copied()
        .collect();
    second.push(new_record("NEWDOC001"));
    publish(&mut p, &key, second, false);
    sync(&feed, &data);
    let installed = Instant::now();

    let deadline = installed + Duration::from_secs(30);
    while sequence(&mut c).await == seq1 {
        assert!(Instant::now() < deadline, "the daemon never switched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "switched to the new generation {:?} after it was installed",
        installed.elapsed()
    );
    assert_eq!(verdict(&mut c, "NEWDOC001").await.0, pb::Verdict::Hit);
    assert_eq!(verdict(&mut c, "L898902C3").await.0, pb::Verdict::NoHit);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert!(answered.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "queries failed during the switch"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_feed_still_answers_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, data) = (dir.path().join("FEED"), dir.path().join("DATA"));
    let key = SecretKey::from_seed(&[3; 32]);
    // A checkpoint valid for a few seconds, then no refresh: the post is cut
    // off from the feed.
    let mut p = publisher(&feed, &key, 3);
    publish(
        &mut p,
        &key,
        sltd_export::generate::generate(500, 2).collect(),
        true,
    );
    sync(&feed, &data);
    let source: Arc<dyn DatasetSource> = Arc::new(DataDirSource::new(&data));
    let server =
        TestServer::start_with(Config::default(), source, AuditLog::writer(std::io::sink())).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (v, r) = verdict(&mut c, "L898902C3").await;
    assert_eq!(v, pb::Verdict::Hit);
    assert_eq!(r.dataset.unwrap().freshness, pb::Freshness::Expired as i32);
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.dataset.unwrap().freshness, pb::Freshness::Expired as i32);
    let (_, metrics) = common::http(server.admin, "GET", "/metrics").await;
    assert!(metrics.contains("sltd_dataset_freshness 2"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_data_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = DataDirSource::new(dir.path()).load().unwrap_err();
    assert!(err.to_string().contains("sltd-sync run"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_checkpoint_of_the_same_data_reaches_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, data) = (dir.path().join("FEED"), dir.path().join("DATA"));
    let key = SecretKey::from_seed(&[4; 32]);
    let mut p = publisher(&feed, &key, 7 * 86_400);
    // Published three days ago: older than the 48 h stale threshold, within
    // its checkpoint's validity.
    let three_days_ago = now_unix() - 3 * 86_400;
    p.publish(
        sltd_export::generate::generate(500, 8).collect(),
        &[&key],
        PublishOptions {
            now: three_days_ago,
            snapshot: true,
            max_delete_permille: None,
        },
    )
    .expect("publish");
    sync(&feed, &data);
    let source: Arc<dyn DatasetSource> = Arc::new(DataDirSource::new(&data));
    let server =
        TestServer::start_with(Config::default(), source, AuditLog::writer(std::io::sink())).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    let (_, r) = verdict(&mut c, "L898902C3").await;
    let before = r.dataset.unwrap();
    assert_eq!(before.freshness, pb::Freshness::Stale as i32);

    // Nothing new to publish: the checkpoint is re-signed, the sync installs
    // a refresh generation of the same sequence and state root.
    p.refresh(&[&key], now_unix()).expect("refresh");
    sync(&feed, &data);
    server
        .daemon
        .reload_async(ReloadTrigger::Admin)
        .await
        .expect("reload");
    let (v, r) = verdict(&mut c, "L898902C3").await;
    assert_eq!(v, pb::Verdict::Hit);
    let after = r.dataset.unwrap();
    assert_eq!(after.sequence, before.sequence);
    assert_eq!(
        after.freshness,
        pb::Freshness::Fresh as i32,
        "the refreshed checkpoint's as-of was not taken: {after:?}"
    );
    server.stop().await;
}
