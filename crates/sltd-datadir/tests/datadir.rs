//! The data directory: installation, garbage collection, rollback, the
//! lock, freshness, and opening a generation verified.

use std::collections::BTreeMap;

use sltd_datadir::{
    CurrentWatch, DataDir, DataDirError, GenerationOpener, NewGeneration, OpenOptions,
};
use sltd_feed::freshness::{Freshness, FreshnessPolicy};
use sltd_feed::state::StateHash;
use sltd_index::{BuildOptions, IndexBuilder, IndexKind};
use sltd_model::{DocumentKey, Record};

/// `n` generated records, one per key.
fn sorted(n: u64, seed: u64) -> Vec<Record> {
    let by_key: BTreeMap<DocumentKey, Record> = sltd_export::generate::generate(n, seed)
        .map(|r| (r.key, r))
        .collect();
    by_key.into_values().collect()
}

fn write_generation(d: &DataDir, seq: u64, recs: &[Record]) -> sltd_datadir::Generation {
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
    let base = d.write_base(seq, &built.bytes).unwrap();
    let buckets = d.write_buckets(seq, &h).unwrap();
    let checkpoint = d.write_checkpoint(seq, b"{}").unwrap();
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
    let opener = GenerationOpener::new(OpenOptions::SERVE);
    let (current, idx) = d.open_current(&opener).unwrap().unwrap();
    assert_eq!(current.id, g3.id);
    assert_eq!(idx.base().header().record_count, 70);
    assert_eq!(d.load_state(&g3).unwrap().count(), 70);
    // Rollback.
    let back = d.rollback().unwrap();
    assert_eq!(back.id, g2.id);
    assert_eq!(d.current_id().unwrap(), Some(g2.id.clone()));
    // The lock is exclusive.
    let l = d.lock().unwrap();
    assert!(matches!(d.lock(), Err(DataDirError::Locked { .. })));
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
    // A corrupt CURRENT is an error, not a panic; the generation served
    // falls back to the newest one that reads back.
    std::fs::write(tmp.path().join("CURRENT"), b"../../etc\n").unwrap();
    assert!(d.current_id().is_err());
    let newest = d.generations().unwrap().pop().unwrap();
    assert_eq!(d.current().unwrap().map(|g| g.id), Some(newest));
}

/// A generation of `base` records with one segment per entry of `layers`
/// (oldest first), and the model of what it serves.
fn layered_generation(
    d: &DataDir,
    base: &[Record],
    layers: &[Vec<sltd_index::Entry>],
) -> (sltd_datadir::Generation, BTreeMap<DocumentKey, Record>) {
    use sltd_index::Entry;
    let mut model: BTreeMap<DocumentKey, Record> = base.iter().map(|r| (r.key, *r)).collect();
    let mut b = IndexBuilder::new(BuildOptions {
        kind: IndexKind::Base,
        ..BuildOptions::default()
    });
    for r in base {
        b.push(*r);
    }
    let base_path = d.write_base(0, &b.finish().unwrap().bytes).unwrap();
    let mut segments = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        for e in layer {
            match e {
                Entry::Record(r) => model.insert(r.key, *r),
                Entry::Deleted(k) => model.remove(k),
            };
        }
        let seg = d
            .write_segment(i as u64 + 1, [0; 32], layer.iter().copied(), 0)
            .unwrap()
            .unwrap();
        segments.push(seg);
    }
    let h = StateHash::of(model.values());
    let seq = layers.len() as u64;
    let g = d
        .install(NewGeneration {
            feed: "t".into(),
            sequence: seq,
            state_root: h.root(),
            record_count: model.len() as u64,
            as_of: 1000,
            expires_at: 5000,
            base: base_path,
            segments,
            buckets: d.write_buckets(seq, &h).unwrap(),
            checkpoint: d.write_checkpoint(seq, b"{}").unwrap(),
        })
        .unwrap();
    (g, model)
}

fn served(index: &sltd_index::LayeredIndex<impl AsRef<[u8]>>) -> BTreeMap<DocumentKey, Record> {
    let mut out = BTreeMap::new();
    index
        .for_each_record(|r| {
            out.insert(r.key, r);
        })
        .unwrap();
    out
}

fn layers_over(base: &[Record]) -> Vec<Vec<sltd_index::Entry>> {
    use sltd_index::Entry;
    let fresh = sorted(40, 99);
    vec![
        vec![Entry::Deleted(base[0].key), Entry::Record(fresh[0])],
        vec![Entry::Record(fresh[1]), Entry::Deleted(fresh[0].key)],
        vec![Entry::Record(fresh[0]), Entry::Deleted(base[5].key)],
    ]
}

#[test]
fn the_opener_verifies_once_and_shares_unchanged_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    let base = sorted(200, 4);
    let (g, model) = layered_generation(&d, &base, &layers_over(&base));
    let opener = GenerationOpener::new(OpenOptions::SERVE);
    let a = opener.open(&g).unwrap();
    assert_eq!(served(&a), model);
    // The same base map serves the next generation: not mapped (nor
    // verified) again.
    let b = opener.open(&g).unwrap();
    assert_eq!(a.base().bytes().as_ptr(), b.base().bytes().as_ptr());
    drop((a, b));
    // A file that changed under its name is opened and verified afresh,
    // and a corrupt one is refused with its path.
    let seg = &g.segments[1];
    let mut bytes = std::fs::read(seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(seg, &bytes).unwrap();
    let err = opener.open(&g).unwrap_err();
    assert!(
        matches!(&err, DataDirError::Index { path, .. } if path == seg),
        "{err}"
    );
    for opts in [OpenOptions::SERVE, OpenOptions::SYNC] {
        assert!(GenerationOpener::new(opts).open(&g).is_err());
    }
    // A file that vanished while CURRENT still names its generation is an
    // error that says so, not a retry forever.
    std::fs::remove_file(&g.segments[0]).unwrap();
    let err = d.open_current(&opener).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn compaction_and_segment_merging_keep_what_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    let base = sorted(300, 5);
    let (g, model) = layered_generation(&d, &base, &layers_over(&base));
    let opener = GenerationOpener::new(OpenOptions::SYNC);
    // More segments than allowed are merged into one, serving the same.
    let policy = sltd_datadir::CompactionPolicy {
        max_segments: 2,
        ..Default::default()
    };
    let merged = d
        .stack_segment(
            g.segments.clone(),
            None,
            g.sequence,
            g.state_root,
            &policy,
            0,
        )
        .unwrap();
    assert_eq!(merged.len(), 1);
    let stacked = sltd_index::LayeredIndex::new(
        sltd_index::open_file(&g.base, Default::default()).unwrap(),
        vec![sltd_index::open_file(&merged[0], Default::default()).unwrap()],
    )
    .unwrap();
    assert_eq!(served(&stacked), model);
    // Compaction: a new base, no segments, the same records, the same
    // state; installed as a new generation of the same sequence.
    let index = opener.open(&g).unwrap();
    use sltd_datadir::{Compaction, CompactionPolicy};
    let due = |mode, compact_permille| {
        let p = CompactionPolicy {
            mode,
            compact_permille,
            ..CompactionPolicy::default()
        };
        d.compaction_due(&index, &p)
    };
    // 6 segment entries over 300 base records: 20 per mille.
    assert!(!due(Compaction::Auto, 20) && due(Compaction::Auto, 19));
    assert!(due(Compaction::Always, 1000) && !due(Compaction::Never, 0));
    drop(index);
    let c = d.compact_current(&opener, 0).unwrap().unwrap();
    assert!(c.segments.is_empty());
    assert_eq!((c.sequence, c.state_root), (g.sequence, g.state_root));
    assert_eq!(c.previous.as_ref(), Some(&g.id));
    let index = opener.open(&c).unwrap();
    assert_eq!(served(&index), model);
    assert_eq!(d.state_of(&c, &index).unwrap().root(), c.state_root);
    assert!(
        d.compact_current(&opener, 0).unwrap().is_none(),
        "nothing left"
    );
    // Unusable buckets are recomputed from the index and checked.
    std::fs::write(&c.buckets, b"garbage").unwrap();
    assert_eq!(d.state_of(&c, &index).unwrap().root(), c.state_root);
}

#[test]
fn garbage_collection_removes_leftover_temporary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    write_generation(&d, 1, &sorted(10, 1));
    let leftover = tmp.path().join("generations").join(".sltd-abc123.tmp");
    std::fs::write(&leftover, b"half").unwrap();
    let unnamed = tmp.path().join("files").join("segment-stray.sltdidx");
    std::fs::write(&unnamed, b"x").unwrap();
    d.collect_garbage().unwrap();
    assert!(!leftover.exists() && !unnamed.exists());
    assert!(d.current().unwrap().is_some());
}

/// `bytes` (a built index) with one slot's fingerprint changed and every
/// checksum recomputed: intact to the checksums, wrong to the full check
/// (its record no longer matches its slot).
fn structurally_wrong(bytes: &[u8]) -> Vec<u8> {
    let mut bad = bytes.to_vec();
    // Bucket 0 of a non-empty file holds a record: its first fingerprint.
    let bucket = (0..)
        .map(|b| 256 + 64 * b)
        .find(|&at| bad[at + 5] & 0x1f != 0)
        .unwrap();
    bad[bucket + 8] ^= 0x01;
    sltd_index::reseal(&mut bad).unwrap();
    let index = sltd_index::Index::open(&bad[..]).unwrap();
    index.verify_checksums().unwrap();
    assert!(index.verify().is_err());
    bad
}

#[test]
fn installation_records_the_full_check_and_the_daemon_relies_on_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    let recs = sorted(300, 4);
    let g = write_generation(&d, 1, &recs);
    // The base was checked at installation and the generation says so,
    // bound to the file's header checksum.
    let base = sltd_index::open_file(&g.base, Default::default()).unwrap();
    assert_eq!(
        g.verified_header_checksum(&g.base),
        Some(base.header().header_checksum)
    );
    let json = std::fs::read_to_string(
        tmp.path()
            .join("generations")
            .join(format!("{}.json", g.id)),
    )
    .unwrap();
    assert!(json.contains("\"check\": \"structure\""), "{json}");
    let served = GenerationOpener::new(OpenOptions::SERVE).open(&g).unwrap();
    assert_eq!(served.base().header().record_count, 300);

    // A flipped byte anywhere in the file: refused before it serves.
    let good = std::fs::read(&g.base).unwrap();
    for at in [0, 100, 300, good.len() / 2, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x20;
        std::fs::write(&g.base, &flipped).unwrap();
        assert!(
            GenerationOpener::new(OpenOptions::SERVE).open(&g).is_err(),
            "a flip at byte {at} was served"
        );
    }

    // Another file with valid checksums under the same name: its header
    // checksum is not the one recorded, so it gets the full check, and
    // fails it.
    let wrong = structurally_wrong(&good);
    std::fs::write(&g.base, &wrong).unwrap();
    let err = GenerationOpener::new(OpenOptions::SERVE)
        .open(&g)
        .unwrap_err();
    assert!(matches!(err, DataDirError::Index { .. }), "{err}");
    // The sync, which checks only integrity, would read it: the full
    // check is what the record stands for.
    GenerationOpener::new(OpenOptions::SYNC).open(&g).unwrap();
    std::fs::write(&g.base, &good).unwrap();
    GenerationOpener::new(OpenOptions::SERVE).open(&g).unwrap();
}

#[test]
fn a_file_that_fails_the_full_check_is_not_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    let g = write_generation(&d, 1, &sorted(200, 5));
    let wrong = structurally_wrong(&std::fs::read(&g.base).unwrap());
    let base = d.write_base(2, &wrong).unwrap();
    let err = d
        .install(NewGeneration {
            feed: "t".into(),
            sequence: 2,
            state_root: g.state_root,
            record_count: g.record_count,
            as_of: 1000,
            expires_at: 5000,
            base,
            segments: vec![],
            buckets: g.buckets.clone(),
            checkpoint: g.checkpoint.clone(),
        })
        .unwrap_err();
    assert!(matches!(err, DataDirError::Index { .. }), "{err}");
    assert_eq!(d.current_id().unwrap(), Some(g.id));
}

#[test]
fn a_generation_without_the_record_gets_the_full_check() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::create(tmp.path()).unwrap();
    let g = write_generation(&d, 1, &sorted(200, 6));
    // As a build before the record existed wrote it.
    let path = tmp
        .path()
        .join("generations")
        .join(format!("{}.json", g.id));
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("verified");
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    let old = d.current().unwrap().unwrap();
    assert!(old.verified.is_empty());
    GenerationOpener::new(OpenOptions::SERVE)
        .open(&old)
        .unwrap();
    // And a structurally wrong base with valid checksums is refused.
    let wrong = structurally_wrong(&std::fs::read(&old.base).unwrap());
    std::fs::write(&old.base, &wrong).unwrap();
    assert!(
        GenerationOpener::new(OpenOptions::SERVE)
            .open(&old)
            .is_err()
    );
}
