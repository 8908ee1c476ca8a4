//! End to end: publish -> static HTTP server -> sync -> the data directory
//! answers the new record and no longer answers a deleted one; then
//! directory sync, conditional GET, compaction, resume and the no-Range
//! fallback.

mod common;

use std::net::TcpListener;

use common::*;
use sltd_datadir::DataDir;
use sltd_feed::metadata::Limits;
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, Query, Record, Reference, Status,
};
use sltd_publisher::serve::{ServeOptions, StaticServer};
use sltd_publisher::{RoleKeys, RotateOptions};
use sltd_sync::source::{HttpOptions, HttpSource};
use sltd_sync::{Compaction, CompactionPolicy, SyncOptions};

fn serve(dir: &std::path::Path, opts: ServeOptions) -> StaticServer {
    StaticServer::start(TcpListener::bind("127.0.0.1:0").unwrap(), dir, opts).unwrap()
}

fn new_record(number: &str) -> Record {
    Record {
        key: DocumentKey::normalise("D", number).unwrap(),
        doc_type: DocumentType::normalise("P").unwrap(),
        status: Status::Stolen,
        reported_on: Date::from_ymd(2025, 1, 2).unwrap(),
        reporting_state: None,
        reference: Reference::new("E2E").unwrap(),
    }
}

fn query(data: &std::path::Path, number: &str) -> Vec<Record> {
    let (_, idx) = open_current(data).unwrap();
    let mut out = Vec::new();
    idx.lookup(
        &Query::number(DocumentNumber::normalise(number).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn publish_serve_sync_query() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let data = tmp.path().join("data");
    let k = key(1);
    let mut p = init(&feed, "e2e", &[&k], 1, Limits::default());
    let v1 = records(3000, 1);
    publish_opts(&mut p, v1.clone(), &[&k], true);
    let server = serve(&feed, ServeOptions::default());
    let http = HttpSource::new(&server.url(), HttpOptions::default()).unwrap();
    let trust = feed.join("1.root.json");
    let no_compact = SyncOptions {
        compaction: CompactionPolicy {
            mode: Compaction::Never,
            ..CompactionPolicy::default()
        },
        ..SyncOptions::default()
    };

    // First sync takes the snapshot.
    let r = sync_from(&http, &trust, &data, no_compact.clone()).unwrap();
    assert_eq!(r.snapshot, Some(1));
    assert_eq!(served(&data), model(&v1));
    let victim = v1[10];
    assert_eq!(query(&data, victim.key.number.as_str()).len(), 1);

    // A new record and a deletion arrive as a delta segment.
    let mut v2: Vec<Record> = v1.iter().filter(|r| r.key != victim.key).copied().collect();
    v2.push(new_record("E2ENEW001"));
    let rep = publish(&mut p, v2.clone(), &[&k]);
    assert_eq!((rep.upserts, rep.deletes), (1, 1));
    let r = sync_from(&http, &trust, &data, no_compact.clone()).unwrap();
    assert_eq!((r.deltas_applied, r.snapshot, r.sequence), (1, None, 2));
    let g = DataDir::open(&data).unwrap().current().unwrap().unwrap();
    assert_eq!(
        g.segments.len(),
        1,
        "a small delta is installed as a segment"
    );
    assert_eq!(query(&data, "E2ENEW001").len(), 1);
    assert!(
        query(&data, victim.key.number.as_str())
            .iter()
            .all(|r| r.key != victim.key)
    );
    assert_eq!(served(&data), model(&v2));
    assert!(g.previous.is_some(), "the previous generation is kept");

    // Nothing new: a conditional GET, nothing installed.
    let r = sync_from(&http, &trust, &data, no_compact.clone()).unwrap();
    assert!(r.not_modified);
    assert_eq!(r.installed, None);

    // Compaction merges the segment into a new base; same answers.
    let always = SyncOptions {
        compaction: CompactionPolicy {
            mode: Compaction::Always,
            ..CompactionPolicy::default()
        },
        ..SyncOptions::default()
    };
    let v3 = mutate(&v2, 5, 20, 77);
    publish(&mut p, v3.clone(), &[&k]);
    let r = sync_from(&http, &trust, &data, always).unwrap();
    assert!(r.compacted);
    let g = DataDir::open(&data).unwrap().current().unwrap().unwrap();
    assert!(g.segments.is_empty());
    assert_eq!(served(&data), model(&v3));
    assert_eq!(query(&data, "E2ENEW001").len(), 1);

    // Rollback points CURRENT at the previous generation.
    let d = DataDir::open(&data).unwrap();
    let prev = d.rollback().unwrap();
    assert_eq!(prev.sequence, 3);
    assert_eq!(served(&data), model(&v3));
}

#[test]
fn directory_source_for_air_gapped_posts() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let data = tmp.path().join("data");
    let k = key(2);
    let mut p = init(&feed, "usb", &[&k], 1, Limits::default());
    let mut v = records(500, 2);
    // No snapshot: a fresh post replays every delta from sequence 1.
    for i in 0..4 {
        publish(&mut p, v.clone(), &[&k]);
        v = mutate(&v, 3, 7, 100 + i);
    }
    let want = model(p.records());
    let trust = feed.join("1.root.json");
    let r = sync_dir(&feed, &trust, &data).unwrap();
    assert_eq!(r.deltas_applied, 4);
    assert_eq!(served(&data), want);
    let st = DataDir::open(&data).unwrap().status().unwrap();
    assert!(st.last_success.is_some());
    assert_eq!(st.consecutive_failures, 0);
}

#[test]
fn interrupted_downloads_resume_and_plain_servers_work() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(3);
    let mut p = init(&feed, "resume", &[&k], 1, Limits::default());
    publish_opts(&mut p, records(20_000, 3), &[&k], true);
    let trust = feed.join("1.root.json");
    let want = model(p.records());
    let chunk_len = std::fs::metadata(feed.join(sltd_feed::layout::chunk_path(1, 0)))
        .unwrap()
        .len();

    // The server cuts the first response for each file after 64 KiB.
    let cutting = serve(
        &feed,
        ServeOptions {
            cut_after: Some(64 << 10),
            ..Default::default()
        },
    );
    let http = HttpSource::new(&cutting.url(), HttpOptions::default()).unwrap();
    let data = tmp.path().join("data-resume");
    let err = sync_from(&http, &trust, &data, SyncOptions::default()).unwrap_err();
    assert_eq!(err.kind(), "fetch", "{err}");
    assert_eq!(
        current(&data),
        None,
        "nothing installed after a broken download"
    );
    let r = sync_from(&http, &trust, &data, SyncOptions::default()).unwrap();
    // The second run fetched only the rest of the chunk (plus metadata).
    assert!(
        r.bytes_downloaded < chunk_len - (60 << 10),
        "resumed: {} bytes downloaded, chunk is {chunk_len}",
        r.bytes_downloaded
    );
    assert_eq!(served(&data), want);

    // A server without Range support: the same cut, then a full download.
    let plain = serve(
        &feed,
        ServeOptions {
            cut_after: Some(64 << 10),
            no_range: true,
        },
    );
    let http = HttpSource::new(&plain.url(), HttpOptions::default()).unwrap();
    let data = tmp.path().join("data-plain");
    assert!(sync_from(&http, &trust, &data, SyncOptions::default()).is_err());
    let r = sync_from(&http, &trust, &data, SyncOptions::default()).unwrap();
    assert!(r.bytes_downloaded >= chunk_len);
    assert_eq!(served(&data), want);
}

#[test]
fn root_rotation_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let data = tmp.path().join("data");
    let (a, b) = (key(4), key(5));
    let mut p = init(&feed, "rotate", &[&a], 1, Limits::default());
    publish(&mut p, records(200, 4), &[&a]);
    let trust = feed.join("1.root.json");
    sync_dir(&feed, &trust, &data).unwrap();
    // Rotate the online key to b: signed by the root keys, the checkpoint
    // re-signed with b.
    let [r1, r2] = root_keys();
    let now = sltd_feed::now_unix();
    let rotation = RotateOptions {
        root_keys: None,
        online_keys: Some(RoleKeys {
            keys: vec![b.public().clone()],
            threshold: 1,
        }),
        max_checkpoint_validity: None,
        expires_at: now + 86_400 * 30,
        now,
    };
    // Without the new online key the checkpoint cannot be re-signed: refused
    // before anything is written.
    assert!(p.rotate_root(&rotation, &[&r1, &r2]).is_err());
    assert!(!feed.join("2.root.json").exists());
    // The online key alone cannot rotate the root.
    assert!(p.rotate_root(&rotation, &[&a, &b]).is_err());
    p.rotate_root(&rotation, &[&r1, &r2, &b]).unwrap();
    assert_eq!(p.checkpoint().root_version, 2);
    let v2 = mutate(p.records(), 1, 1, 5);
    publish(&mut p, v2, &[&b]);
    let r = sync_dir(&feed, &trust, &data).unwrap();
    assert_eq!(r.sequence, 2);
    assert_eq!(served(&data), model(p.records()));
    // The old key alone can no longer publish.
    let mut p = sltd_publisher::Publisher::open(&feed).unwrap();
    assert!(p.refresh(&[&a], sltd_feed::now_unix()).is_err());
}

#[test]
fn a_rotation_that_drops_a_key_keeps_every_post_working() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let (k1, k2, k3) = (key(11), key(12), key(13));
    let [r1, r2] = root_keys();
    let r3 = key(203);
    let mut p = init(&feed, "drop", &[&k1, &k2], 2, Limits::default());
    let trust = feed.join("1.root.json");
    // Sequences 1..=4, a snapshot at 2; a post synced at each sequence.
    let mut v = records(300, 21);
    let mut posts = vec![(0, tmp.path().join("post-0"))];
    sync_dir(&feed, &trust, &posts[0].1).unwrap();
    for seq in 1..=4u64 {
        publish_opts(&mut p, v.clone(), &[&k1, &k2], seq == 2);
        let data = tmp.path().join(format!("post-{seq}"));
        sync_dir(&feed, &trust, &data).unwrap();
        posts.push((seq, data));
        v = mutate(&v, 2, 3, 40 + seq);
    }
    // Rotate the online keys {k1, k2} -> {k2, k3} and the root keys
    // {r1, r2} -> {r2, r3}, all 2 of 2; k1 and r1 are dropped.
    let now = sltd_feed::now_unix();
    let rotation = RotateOptions {
        root_keys: Some(RoleKeys {
            keys: vec![r2.public().clone(), r3.public().clone()],
            threshold: 2,
        }),
        online_keys: Some(RoleKeys {
            keys: vec![k2.public().clone(), k3.public().clone()],
            threshold: 2,
        }),
        max_checkpoint_validity: None,
        expires_at: now + 86_400 * 30,
        now,
    };
    p.rotate_root(&rotation, &[&r1, &r2, &r3, &k2, &k3])
        .unwrap();
    // Every post and a fresh one follow the re-signed checkpoint: the
    // snapshot and deltas signed by {k1, k2} verify under root 1.
    let fresh = tmp.path().join("fresh-before");
    let r = sync_dir(&feed, &trust, &fresh).unwrap();
    assert_eq!((r.sequence, r.snapshot), (4, Some(2)));
    assert_eq!(served(&fresh), model(p.records()));
    // One more publication under the new keys only.
    publish(&mut p, v.clone(), &[&k2, &k3]);
    assert!(p.refresh(&[&k1, &k2], sltd_feed::now_unix()).is_err());
    let want = model(p.records());
    for (seq, data) in &posts {
        let r =
            sync_dir(&feed, &trust, data).unwrap_or_else(|e| panic!("post at sequence {seq}: {e}"));
        assert_eq!(r.sequence, 5, "post at sequence {seq}");
        assert!(r.forgot_retired, "the keys changed");
        assert_eq!(served(data), want, "post at sequence {seq}");
    }
    let fresh = tmp.path().join("fresh-after");
    let r = sync_dir(&feed, &trust, &fresh).unwrap();
    assert_eq!((r.sequence, r.snapshot, r.deltas_applied), (5, Some(2), 3));
    assert_eq!(served(&fresh), want);
}
