//! Publisher + sync against a `BTreeMap` model: random sequences of full
//! exports (with duplicate keys, changes and removals) are published, and
//! after every sync the data directory serves exactly the model's records.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use sltd_feed::metadata::Limits;
use sltd_model::{DocumentKey, Record, Status};
use sltd_sync::source::DirSource;
use sltd_sync::{Compaction, CompactionPolicy, SyncOptions};

/// The model: per key, the record with the greatest precedence.
fn expected(export: &[Record]) -> BTreeMap<DocumentKey, Record> {
    let mut m: BTreeMap<DocumentKey, Record> = BTreeMap::new();
    for r in export {
        match m.get(&r.key) {
            Some(old) if old.precedence(r) != std::cmp::Ordering::Less => {}
            _ => {
                m.insert(r.key, *r);
            }
        }
    }
    m
}

#[derive(Debug, Clone)]
struct Step {
    keep: Vec<bool>,
    flip: Vec<bool>,
    sync: bool,
    snapshot: bool,
    compaction: u8,
}

fn step(pool: usize) -> impl Strategy<Value = Step> {
    (
        proptest::collection::vec(any::<bool>(), pool),
        proptest::collection::vec(proptest::bool::weighted(0.1), pool),
        proptest::bool::weighted(0.6),
        proptest::bool::weighted(0.2),
        0u8..3,
    )
        .prop_map(|(keep, flip, sync, snapshot, compaction)| Step {
            keep,
            flip,
            sync,
            snapshot,
            compaction,
        })
}

const POOL: usize = 48;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sync_matches_the_model(steps in proptest::collection::vec(step(POOL), 1..7), seed in 0u64..1000) {
        let tmp = tempfile::tempdir().unwrap();
        let feed = tmp.path().join("feed");
        let data = tmp.path().join("data");
        let k = key(7);
        let mut p = init(&feed, "model", &[&k], 1, Limits::default());
        let trust = feed.join("1.root.json");
        // The pool has some keys twice, so exports carry duplicates.
        let mut pool = records(POOL as u64 - 8, seed);
        for i in 0..8 {
            let mut dup = pool[i * 3];
            dup.reported_on = sltd_model::Date::from_days(dup.reported_on.days().wrapping_add(1 + i as u16));
            pool.push(dup);
        }
        let mut last = Vec::new();
        for s in &steps {
            let export: Vec<Record> = pool
                .iter()
                .zip(&s.keep)
                .zip(&s.flip)
                .filter(|((_, keep), _)| **keep)
                .map(|((r, _), flip)| {
                    let mut r = *r;
                    if *flip {
                        r.status = if r.status == Status::Revoked { Status::Lost } else { Status::Revoked };
                    }
                    r
                })
                .collect();
            publish_opts(&mut p, export.clone(), &[&k], s.snapshot);
            prop_assert_eq!(model(p.records()), expected(&export));
            last = export;
            if s.sync {
                let opts = SyncOptions {
                    compaction: CompactionPolicy {
                        max_segments: 2,
                        mode: [Compaction::Never, Compaction::Auto, Compaction::Always][s.compaction as usize],
                        ..CompactionPolicy::default()
                    },
                    ..SyncOptions::default()
                };
                sync_from(&DirSource::new(&feed), &trust, &data, opts).unwrap();
                prop_assert_eq!(served(&data), expected(&last));
            }
        }
        sync_dir(&feed, &trust, &data).unwrap();
        prop_assert_eq!(served(&data), expected(&last));
        prop_assert_eq!(current(&data).unwrap().1, p.checkpoint().sequence);
    }
}
