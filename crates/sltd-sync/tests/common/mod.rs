//! Helpers shared by the sync tests: feeds built with the library
//! publisher, syncs from a directory or HTTP, and reading back what a data
//! directory serves.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;

use sltd_datadir::{DataDir, GenerationId, GenerationOpener, OpenOptions};
use sltd_feed::keys::SecretKey;
use sltd_feed::metadata::Limits;
use sltd_feed::now_unix;
use sltd_index::{Entry, LayeredIndex, SharedMmap};
use sltd_model::{DocumentKey, Record};
use sltd_publisher::{
    InitOptions, PublishOptions, PublishReport, Publisher, PublisherConfig, RoleKeys,
};
use sltd_sync::source::{DirSource, Source};
use sltd_sync::{SyncError, SyncOptions, SyncReport, Syncer};

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

pub fn records(n: u64, seed: u64) -> Vec<Record> {
    sltd_export::generate::generate(n, seed).collect()
}

/// The offline root keys of the test feeds (2 of 2).
pub fn root_keys() -> [SecretKey; 2] {
    [key(201), key(202)]
}

/// A feed whose online role is `keys` with `threshold`, and whose root role
/// is [`root_keys`].
pub fn init(
    dir: &Path,
    name: &str,
    keys: &[&SecretKey],
    threshold: usize,
    limits: Limits,
) -> Publisher {
    let now = now_unix();
    let rk = root_keys();
    let opts = InitOptions {
        feed: name.into(),
        root_keys: RoleKeys {
            keys: rk.iter().map(|k| k.public().clone()).collect(),
            threshold: 2,
        },
        online_keys: RoleKeys {
            keys: keys.iter().map(|k| k.public().clone()).collect(),
            threshold,
        },
        root_expires_at: now + 365 * 86_400,
        max_checkpoint_validity: 7 * 86_400,
        limits,
        config: PublisherConfig {
            snapshot_every: 0,
            snapshot_change_permille: 1001,
            ..PublisherConfig::default()
        },
        now,
    };
    let mut signers: Vec<&SecretKey> = keys.to_vec();
    signers.extend(rk.iter());
    Publisher::init(dir, &opts, &signers).expect("init feed")
}

pub fn publish(p: &mut Publisher, recs: Vec<Record>, keys: &[&SecretKey]) -> PublishReport {
    publish_opts(p, recs, keys, false)
}

pub fn publish_opts(
    p: &mut Publisher,
    recs: Vec<Record>,
    keys: &[&SecretKey],
    snapshot: bool,
) -> PublishReport {
    p.publish(
        recs,
        keys,
        PublishOptions {
            now: now_unix(),
            snapshot,
            max_delete_permille: None,
        },
    )
    .expect("publish")
}

pub fn sync_from(
    source: &dyn Source,
    trust: &Path,
    data: &Path,
    opts: SyncOptions,
) -> Result<SyncReport, SyncError> {
    let pinned = std::fs::read(trust).expect("read trust");
    Syncer::new(source, data, pinned, opts)?.run()
}

/// Syncs `data` from the feed directory `feed`, trusting `trust`.
pub fn sync_dir(feed: &Path, trust: &Path, data: &Path) -> Result<SyncReport, SyncError> {
    sync_from(&DirSource::new(feed), trust, data, SyncOptions::default())
}

pub fn current(data: &Path) -> Option<(GenerationId, u64)> {
    let d = DataDir::open(data).ok()?;
    d.current()
        .expect("read current")
        .map(|g| (g.id, g.sequence))
}

/// The current generation opened as the daemon opens it (every file fully
/// verified), or `None` before the first installation.
pub fn open_current(data: &Path) -> Option<(sltd_datadir::Generation, LayeredIndex<SharedMmap>)> {
    let d = DataDir::open(data).expect("open data dir");
    d.open_current(&GenerationOpener::new(OpenOptions::SERVE))
        .expect("the current generation opens and verifies")
}

/// Every record the current generation serves, via the layered view's
/// lookups.
pub fn served(data: &Path) -> BTreeMap<DocumentKey, Record> {
    let Some((g, idx)) = open_current(data) else {
        return BTreeMap::new();
    };
    let mut keys: Vec<DocumentKey> = Vec::new();
    for e in idx.base().entries() {
        keys.push(*e.expect("entry").key());
    }
    for s in idx.segments() {
        for e in s.entries() {
            keys.push(*e.expect("entry").key());
        }
    }
    let mut out = BTreeMap::new();
    for k in keys {
        if let Some(r) = idx.get(&k).expect("get") {
            out.insert(k, r);
        }
    }
    assert_eq!(
        out.len() as u64,
        g.record_count,
        "served records match the generation's count"
    );
    out
}

pub fn model(recs: &[Record]) -> BTreeMap<DocumentKey, Record> {
    let mut v = recs.to_vec();
    sltd_publisher::canonicalise(&mut v);
    v.into_iter().map(|r| (r.key, r)).collect()
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A record set changed a little: `drop` records removed from the front,
/// `add` new ones from another seed appended, and one record's status
/// changed.
pub fn mutate(base: &[Record], drop: usize, add: u64, seed: u64) -> Vec<Record> {
    let mut v: Vec<Record> = base[drop.min(base.len())..].to_vec();
    v.extend(sltd_export::generate::Generator::new(seed).take(add as usize));
    if let Some(r) = v.last_mut() {
        r.status = if r.status == sltd_model::Status::Lost {
            sltd_model::Status::Stolen
        } else {
            sltd_model::Status::Lost
        };
    }
    v
}

pub fn entries_of(data: &Path) -> usize {
    let (_, idx) = open_current(data).unwrap();
    idx.segments()
        .iter()
        .map(|s| {
            s.entries()
                .filter(|e| matches!(e, Ok(Entry::Record(_)) | Ok(Entry::Deleted(_))))
                .count()
        })
        .sum()
}
