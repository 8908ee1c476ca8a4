//! Format-level tests of the feed: root chain rules, delta and snapshot
//! round trips, the publisher's recovery, and the data directory's
//! installation, garbage collection, rollback, lock and freshness.

use sltd_feed::datadir::{CurrentWatch, DataDir, NewGeneration};
use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::freshness::{Freshness, FreshnessPolicy};
use sltd_feed::keys::{KeySet, SecretKey};
use sltd_feed::metadata::{Checkpoint, Limits, Root};
use sltd_feed::publish::{InitOptions, PublishOptions, Publisher, PublisherConfig, diff, state_of};
use sltd_feed::snapshot::{decode_chunk, encode_chunks};
use sltd_feed::state::StateHash;
use sltd_feed::{FeedError, layout, now_unix};
use sltd_index::{BuildOptions, IndexBuilder, IndexKind};
use sltd_model::Record;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn root(version: u64, keys: &[&SecretKey], threshold: usize) -> Root {
    Root {
        feed: "t".into(),
        version,
        expires_at: now_unix() + 1000,
        keys: KeySet {
            keys: keys.iter().map(|k| k.public().clone()).collect(),
            threshold,
        },
        limits: Limits::default(),
    }
}

fn sorted(n: u64, seed: u64) -> Vec<Record> {
    let mut v: Vec<Record> = sltd_export::generate::generate(n, seed).collect();
    sltd_feed::publish::canonicalise(&mut v);
    v
}

#[test]
fn root_chain_rules() {
    let (a, b, c) = (key(1), key(2), key(3));
    let r1 = root(1, &[&a, &b], 2);
    let r1b = Root::from_trusted_bytes(&r1.seal(&[&a, &b])).unwrap();
    assert!(matches!(
        Root::from_trusted_bytes(&r1.seal(&[&a])),
        Err(FeedError::BelowThreshold { .. })
    ));
    let r2 = root(2, &[&c], 1);
    // Old threshold and new threshold: accepted.
    assert_eq!(r1b.verify_next(&r2.seal(&[&a, &b, &c])).unwrap().version, 2);
    // Only one old key.
    assert!(matches!(
        r1b.verify_next(&r2.seal(&[&a, &c])),
        Err(FeedError::BelowThreshold { .. })
    ));
    // Only the old keys.
    assert!(matches!(
        r1b.verify_next(&r2.seal(&[&a, &b])),
        Err(FeedError::UnknownKey { .. })
    ));
    // A version gap.
    let r3 = root(3, &[&c], 1);
    assert!(matches!(
        r1b.verify_next(&r3.seal(&[&a, &b, &c])),
        Err(FeedError::RootVersion {
            expected: 2,
            found: 3
        })
    ));
    // Another feed.
    let mut other = root(2, &[&c], 1);
    other.feed = "u".into();
    assert!(matches!(
        r1b.verify_next(&other.seal(&[&a, &b, &c])),
        Err(FeedError::FeedMismatch { .. })
    ));
    // Expiry.
    assert!(r1b.check_expiry(now_unix()).is_ok());
    assert!(matches!(
        r1b.check_expiry(now_unix() + 2000),
        Err(FeedError::RootExpired { .. })
    ));
    // A key listed twice or a threshold above the key count is malformed.
    let mut dup = root(1, &[&a, &a], 1);
    dup.keys.threshold = 1;
    assert!(Root::from_trusted_bytes(&dup.seal(&[&a])).is_err());
    let high = root(1, &[&a], 2);
    assert!(Root::from_trusted_bytes(&high.seal(&[&a])).is_err());
}

#[test]
fn delta_round_trip_and_canonical_order() {
    let a = key(1);
    let r = Root::from_trusted_bytes(&root(1, &[&a], 1).seal(&[&a])).unwrap();
    let old = sorted(300, 1);
    let new = sorted(320, 2);
    let ops = diff(&old, &new);
    let prev = state_of(&old);
    let next = state_of(&new);
    let header = DeltaHeader {
        feed: "t".into(),
        sequence: 5,
        prev_state_root: prev.root(),
        state_root: next.root(),
        prev_record_count: old.len() as u64,
        record_count: new.len() as u64,
        issued_at: 1,
        upserts: ops.iter().filter(|o| matches!(o, Op::Upsert(_))).count() as u64,
        deletes: ops.iter().filter(|o| matches!(o, Op::Delete(_))).count() as u64,
    };
    let bytes = delta::encode(&header, &ops, &[&a]).unwrap();
    let v = delta::verify(&r, &bytes, 5, &prev.root()).unwrap();
    assert_eq!(v.ops, ops);
    assert_eq!(v.header, header);
    // Applying the ops to the old state's hash gives the new root.
    let model: std::collections::BTreeMap<_, _> = old.iter().map(|r| (r.key, *r)).collect();
    let mut pending = sltd_feed::apply::PendingState::new(&model, prev.clone(), 4);
    pending.apply(&v).unwrap();
    assert_eq!(pending.root(), &next.root());
    // Out-of-order operations are refused at encoding.
    let mut rev = ops.clone();
    rev.reverse();
    assert!(delta::encode(&header, &rev, &[&a]).is_err());
    // Wrong position or start.
    assert!(matches!(
        delta::verify(&r, &bytes, 6, &prev.root()),
        Err(FeedError::DeltaReplay { .. })
    ));
    assert!(matches!(
        delta::verify(&r, &bytes, 4, &prev.root()),
        Err(FeedError::DeltaGap { .. })
    ));
    assert!(matches!(
        delta::verify(&r, &bytes, 5, &next.root()),
        Err(FeedError::DeltaChainBroken { .. })
    ));
    // Any flipped byte is refused, never a panic.
    for i in (0..bytes.len()).step_by(31) {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        assert!(
            delta::verify(&r, &b, 5, &prev.root()).is_err(),
            "flip at {i}"
        );
    }
}

#[test]
fn snapshot_chunks_round_trip() {
    let a = key(1);
    let r = Root::from_trusted_bytes(&root(1, &[&a], 1).seal(&[&a])).unwrap();
    let recs = sorted(5000, 3);
    let chunks = encode_chunks(&recs, 16 << 10).unwrap();
    assert!(chunks.len() > 3);
    let mut out = Vec::new();
    let mut last = None;
    for (c, bytes) in &chunks {
        decode_chunk(&r, c, bytes, last.as_ref(), &mut out).unwrap();
        last = out.last().map(|r: &Record| r.key);
    }
    assert_eq!(out, recs);
    // Chunks out of order are refused.
    let mut o = Vec::new();
    decode_chunk(&r, &chunks[1].0, &chunks[1].1, None, &mut o).unwrap();
    let after = o.last().map(|r| r.key);
    assert!(decode_chunk(&r, &chunks[0].0, &chunks[0].1, after.as_ref(), &mut o).is_err());
}

#[test]
fn publisher_finishes_an_interrupted_publication() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feed");
    let a = key(1);
    let opts = InitOptions {
        feed: "t".into(),
        keys: vec![a.public().clone()],
        threshold: 1,
        root_expires_at: now_unix() + 1000,
        limits: Limits::default(),
        config: PublisherConfig::default(),
        now: now_unix(),
    };
    let mut p = Publisher::init(&dir, &opts, &[&a]).unwrap();
    let popts = PublishOptions {
        now: now_unix(),
        snapshot: false,
        max_delete_permille: Some(100),
    };
    p.publish(sorted(100, 1), &[&a], popts).unwrap();
    let cp1 = std::fs::read(dir.join(layout::CHECKPOINT)).unwrap();
    p.publish(sorted(110, 1), &[&a], popts).unwrap();
    // Simulate a crash before the checkpoint of sequence 2 was written.
    std::fs::write(dir.join(layout::CHECKPOINT), &cp1).unwrap();
    let mut p = Publisher::open(&dir).unwrap();
    assert_eq!(p.checkpoint().sequence, 1);
    let r = p.publish(sorted(110, 1), &[&a], popts).unwrap();
    assert!(r.unchanged);
    assert_eq!(p.checkpoint().sequence, 2);
    assert!(p.checkpoint().delta.is_some());
    // A truncated export that would delete most records is refused.
    let e = p.publish(sorted(10, 1), &[&a], popts).unwrap_err();
    assert!(matches!(e, FeedError::Publish { .. }), "{e}");
    // Signing with a key the root does not list is refused.
    assert!(p.refresh(&[&key(9)], now_unix()).is_err());
    let root = p.root().clone();
    let cp =
        Checkpoint::verify_signed(&root, &std::fs::read(dir.join(layout::CHECKPOINT)).unwrap())
            .unwrap();
    assert_eq!(cp.sequence, 2);
}

fn write_generation(d: &DataDir, seq: u64, recs: &[Record]) -> sltd_feed::datadir::Generation {
    let h = StateHash::of(recs);
    let mut b = IndexBuilder::new(BuildOptions {
        kind: IndexKind::Base,
        created_at: 0,
        feed_sequence: seq,
        state_root: h.root(),
    });
    for r in recs {
        b.push(*r);
    }
    let built = b.finish().unwrap();
    let base = d.write_file("base", seq, "sltdidx", &built.bytes).unwrap();
    let buckets = d.write_file("buckets", seq, "bin", &h.to_bytes()).unwrap();
    let checkpoint = d.write_file("checkpoint", seq, "json", b"{}").unwrap();
    d.install(NewGeneration {
        feed: "t".into(),
        sequence: seq,
        state_root: h.root(),
        record_count: recs.len() as u64,
        as_of: 1000,
        expires_at: 5000,
        base,
        segments: vec![],
        buckets,
        checkpoint,
    })
    .unwrap()
}

#[test]
fn data_dir_generations_gc_rollback_lock_and_freshness() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    assert_eq!(d.current_id().unwrap(), None);
    assert!(d.current().unwrap().is_none());
    let mut watch = CurrentWatch::new(DataDir::open(tmp.path()).unwrap());
    assert!(watch.poll().unwrap().is_none());
    let g1 = write_generation(&d, 1, &sorted(50, 1));
    assert_eq!(watch.poll().unwrap().unwrap().id, g1.id);
    assert!(watch.poll().unwrap().is_none());
    let g2 = write_generation(&d, 2, &sorted(60, 2));
    assert_eq!(d.current_id().unwrap(), Some(g2.id.clone()));
    assert_eq!(g2.previous, Some(g1.id.clone()));
    let g3 = write_generation(&d, 3, &sorted(70, 3));
    assert_eq!(watch.poll().unwrap().unwrap().id, g3.id);
    // Only the current and the previous generation remain, with their files.
    assert_eq!(d.generations().unwrap(), vec![g2.id.clone(), g3.id.clone()]);
    assert!(!g1.base.exists());
    assert!(g2.base.exists() && g3.base.exists());
    let idx = g3.open_index(sltd_index::MapOptions::default()).unwrap();
    assert_eq!(idx.base().header().record_count, 70);
    assert_eq!(d.load_state(&g3).unwrap().count(), 70);
    // Rollback.
    let back = d.rollback().unwrap();
    assert_eq!(back.id, g2.id);
    assert_eq!(d.current_id().unwrap(), Some(g2.id.clone()));
    // The lock is exclusive.
    let l = d.lock().unwrap();
    assert!(matches!(d.lock(), Err(FeedError::Locked { .. })));
    drop(l);
    assert!(d.lock().is_ok());
    // Freshness.
    let p = FreshnessPolicy {
        stale_after: std::time::Duration::from_secs(100),
    };
    assert_eq!(g3.freshness(1050, &p), Freshness::Fresh);
    assert_eq!(g3.freshness(1200, &p), Freshness::Stale);
    assert_eq!(g3.freshness(5000, &p), Freshness::Stale);
    assert_eq!(g3.freshness(5001, &p), Freshness::Expired);
    // A corrupt CURRENT is an error, not a panic.
    std::fs::write(tmp.path().join("CURRENT"), b"../../etc\n").unwrap();
    assert!(d.current().is_err());
}
