//! The attack catalogue of docs/FEED.md: each attack is played by an
//! untrusted mirror (a directory the client syncs from) and must be refused
//! with its own reason, leaving the installed data exactly as it was.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use sltd_feed::delta::{self, DeltaHeader};
use sltd_feed::keys::KeySet;
use sltd_feed::keys::SecretKey;
use sltd_feed::metadata::{Checkpoint, FileRef, Limits, Root};
use sltd_feed::{FeedError, b64, hex, layout, now_unix, sha256, unb64};
use sltd_publisher::Publisher;
use sltd_sync::source::DirSource;
use sltd_sync::{SyncError, SyncOptions};
use tempfile::TempDir;

/// A feed at sequence 4 (no snapshots), the checkpoints and deltas of every
/// sequence, and a fork that diverged after sequence 2.
struct Chain {
    tmp: TempDir,
    feed: PathBuf,
    fork: PathBuf,
    key: SecretKey,
    cps: Vec<Vec<u8>>,
}

impl Chain {
    fn new(limits: Limits) -> Chain {
        let tmp = tempfile::tempdir().unwrap();
        let feed = tmp.path().join("feed");
        let fork = tmp.path().join("fork");
        let key = key(1);
        let mut p = init(&feed, "main", &[&key], 1, limits);
        let mut cps = vec![std::fs::read(feed.join(layout::CHECKPOINT)).unwrap()];
        let mut v = records(400, 11);
        for seq in 1..=4u64 {
            publish(&mut p, v.clone(), &[&key]);
            cps.push(std::fs::read(feed.join(layout::CHECKPOINT)).unwrap());
            if seq == 2 {
                copy_dir(&feed, &fork);
                let mut f = Publisher::open(&fork).unwrap();
                publish(&mut f, mutate(&v, 1, 1, 999), &[&key]);
            }
            v = mutate(&v, 2, 3, 20 + seq);
        }
        Chain {
            tmp,
            feed,
            fork,
            key,
            cps,
        }
    }

    fn trust(&self) -> PathBuf {
        self.feed.join("1.root.json")
    }

    fn root(&self) -> Root {
        Root::from_trusted_bytes(&std::fs::read(self.trust()).unwrap()).unwrap()
    }

    /// A mirror: a copy of the feed whose checkpoint is the one of `seq`.
    fn mirror(&self, name: &str, seq: usize) -> PathBuf {
        let m = self.tmp.path().join(name);
        copy_dir(&self.feed, &m);
        std::fs::write(m.join(layout::CHECKPOINT), &self.cps[seq]).unwrap();
        m
    }

    /// A data directory synced to `seq`.
    fn client_at(&self, name: &str, seq: usize) -> PathBuf {
        let m = self.mirror(&format!("{name}-mirror"), seq);
        let data = self.tmp.path().join(name);
        sync_dir(&m, &self.trust(), &data).unwrap();
        assert_eq!(current(&data).unwrap().1, seq as u64);
        data
    }

    fn checkpoint(&self, seq: usize) -> Checkpoint {
        Checkpoint::verify_signed(&self.root(), &self.cps[seq]).unwrap()
    }
}

fn delta_path(feed: &Path, seq: u64) -> PathBuf {
    feed.join(layout::delta_path(seq))
}

/// Syncs `data` from `mirror` and checks the refusal and that nothing
/// changed.
fn refused(
    mirror: &Path,
    trust: &Path,
    data: &Path,
    opts: SyncOptions,
    check: impl Fn(&FeedError) -> bool,
) -> String {
    let before = current(data);
    let served_before = before.as_ref().map(|_| served(data));
    let err = sync_from(&DirSource::new(mirror), trust, data, opts)
        .expect_err("the attack must be refused");
    let SyncError::Feed(e) = &err else {
        panic!("not a feed refusal: {err}")
    };
    assert!(check(e), "unexpected refusal: {e:?}");
    assert!(err.is_refusal());
    assert_eq!(current(data), before, "installed generation unchanged");
    if let Some(s) = served_before {
        assert_eq!(served(data), s, "served records unchanged");
    }
    let status = sltd_datadir::DataDir::open(data).unwrap().status().unwrap();
    assert_eq!(status.last_error_kind.as_deref(), Some(e.kind()));
    e.to_string()
}

fn refused_dir(
    mirror: &Path,
    trust: &Path,
    data: &Path,
    check: impl Fn(&FeedError) -> bool,
) -> String {
    refused(mirror, trust, data, SyncOptions::default(), check)
}

/// Re-signs a checkpoint payload with other keys.
fn reseal(cp: &Checkpoint, keys: &[&SecretKey]) -> Vec<u8> {
    cp.seal(keys)
}

#[test]
fn bad_signature() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let m = c.mirror("m", 3);
    // Change a byte of the signed payload, keep the signature.
    let mut env: serde_json::Value = serde_json::from_slice(&c.cps[3]).unwrap();
    let payload = unb64(env["payload"].as_str().unwrap()).unwrap();
    let text = String::from_utf8(payload)
        .unwrap()
        .replace("\"sequence\":3", "\"sequence\":4");
    env["payload"] = b64(text.as_bytes()).into();
    std::fs::write(
        m.join(layout::CHECKPOINT),
        serde_json::to_vec(&env).unwrap(),
    )
    .unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::BadSignature { .. })
    });
    // The honest feed still syncs afterwards.
    sync_dir(&c.feed, &c.trust(), &data).unwrap();
}

#[test]
fn unknown_key() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let m = c.mirror("m", 3);
    std::fs::write(
        m.join(layout::CHECKPOINT),
        reseal(&c.checkpoint(3), &[&key(9)]),
    )
    .unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::UnknownKey { .. })
    });
}

#[test]
fn below_threshold_and_same_key_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let (a, b) = (key(1), key(2));
    let mut p = init(&feed, "two", &[&a, &b], 2, Limits::default());
    publish(&mut p, records(100, 1), &[&a, &b]);
    let data = tmp.path().join("data");
    let trust = feed.join("1.root.json");
    sync_dir(&feed, &trust, &data).unwrap();
    let root = Root::from_trusted_bytes(&std::fs::read(&trust).unwrap()).unwrap();
    let mut cp = Checkpoint::verify_signed(
        &root,
        &std::fs::read(feed.join(layout::CHECKPOINT)).unwrap(),
    )
    .unwrap();
    cp.issued_at += 1;
    let m = tmp.path().join("m");
    copy_dir(&feed, &m);
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&a])).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(
            e,
            FeedError::BelowThreshold {
                valid: 1,
                threshold: 2,
                ..
            }
        )
    });
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&a, &a])).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::DuplicateKey { .. })
    });
    // Both keys: accepted.
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&b, &a])).unwrap();
    sync_dir(&m, &trust, &data).unwrap();
}

#[test]
fn rollback_to_an_older_checkpoint() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 3);
    let m = c.mirror("m", 2);
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(
            e,
            FeedError::Rollback {
                known: 3,
                offered: 2
            }
        )
    });
}

#[test]
fn replay_skip_and_reorder_of_deltas() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let trust = c.trust();
    // Replay: delta 2 served where delta 3 belongs.
    let m = c.mirror("replay", 4);
    std::fs::copy(delta_path(&c.feed, 2), delta_path(&m, 3)).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(
            e,
            FeedError::DeltaReplay {
                expected: 3,
                found: 2
            }
        )
    });
    // Skip: delta 4 served where delta 3 belongs.
    let m = c.mirror("skip", 4);
    std::fs::copy(delta_path(&c.feed, 4), delta_path(&m, 3)).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(
            e,
            FeedError::DeltaGap {
                expected: 3,
                found: 4
            }
        )
    });
    // Reorder: deltas 3 and 4 swapped.
    let m = c.mirror("reorder", 4);
    std::fs::copy(delta_path(&c.feed, 4), delta_path(&m, 3)).unwrap();
    std::fs::copy(delta_path(&c.feed, 3), delta_path(&m, 4)).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::DeltaGap { .. })
    });
    // A missing delta with no snapshot to fall back on.
    let m = c.mirror("missing", 4);
    std::fs::remove_file(delta_path(&m, 3)).unwrap();
    let err = sync_from(&DirSource::new(&m), &trust, &data, SyncOptions::default()).unwrap_err();
    assert!(matches!(err, SyncError::NotFound { .. }), "{err}");
    assert_eq!(current(&data).unwrap().1, 2);
    sync_dir(&c.feed, &trust, &data).unwrap();
    assert_eq!(current(&data).unwrap().1, 4);
}

#[test]
fn forked_checkpoint() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 3);
    // The fork signed another state for sequence 3.
    refused_dir(&c.fork, &c.trust(), &data, |e| {
        matches!(e, FeedError::Fork { sequence: 3, .. })
    });
    // A client still at 2 that fetches the fork's checkpoint 3 and then the
    // main feed's delta 3 detects the split at the delta's roots.
    let data2 = c.client_at("data2", 2);
    let m = c.tmp.path().join("mixed");
    copy_dir(&c.fork, &m);
    std::fs::copy(delta_path(&c.feed, 3), delta_path(&m, 3)).unwrap();
    refused_dir(&m, &c.trust(), &data2, |e| {
        matches!(
            e,
            FeedError::HashMismatch { .. }
                | FeedError::TooLarge { .. }
                | FeedError::Truncated { .. }
        )
    });
}

#[test]
fn expired_checkpoint() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let cp = c.checkpoint(4);
    let opts = SyncOptions {
        now: Some(cp.expires_at + 1),
        ..SyncOptions::default()
    };
    let msg = refused(&c.feed, &c.trust(), &data, opts, |e| {
        matches!(e, FeedError::CheckpointExpired { .. })
    });
    assert!(msg.contains("expired"), "{msg}");
}

#[test]
fn tampered_snapshot_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(1);
    let mut p = init(&feed, "snap", &[&k], 1, Limits::default());
    publish_opts(&mut p, records(2000, 5), &[&k], true);
    let m = tmp.path().join("m");
    copy_dir(&feed, &m);
    let chunk = m.join(layout::chunk_path(1, 0));
    let mut b = std::fs::read(&chunk).unwrap();
    b[100] ^= 0x20;
    std::fs::write(&chunk, b).unwrap();
    let data = tmp.path().join("data");
    let trust = feed.join("1.root.json");
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::HashMismatch { .. })
    });
    assert_eq!(current(&data), None);
    sync_dir(&feed, &trust, &data).unwrap();
}

#[test]
fn state_root_mismatch_after_apply() {
    // A delta correctly signed (a publisher bug or a stolen key) whose
    // operations do not produce the root it claims.
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 3);
    let m = c.mirror("m", 3);
    let cp3 = c.checkpoint(3);
    let recs = records(3, 4242);
    let ops: Vec<delta::Op> = {
        let mut v: Vec<_> = recs.iter().map(|r| delta::Op::Upsert(*r)).collect();
        v.sort_by(|a, b| a.key().cmp(b.key()));
        v
    };
    let wrong = sha256(b"not the state");
    let header = DeltaHeader {
        feed: "main".into(),
        root_version: 1,
        sequence: 4,
        prev_state_root: cp3.state_root,
        state_root: wrong,
        prev_record_count: cp3.record_count,
        record_count: cp3.record_count + 3,
        issued_at: now_unix(),
        upserts: 3,
        deletes: 0,
    };
    let bytes = delta::encode(&header, &ops, &[&c.key]).unwrap();
    std::fs::write(delta_path(&m, 4), &bytes).unwrap();
    let cp = Checkpoint {
        sequence: 4,
        state_root: wrong,
        record_count: cp3.record_count + 3,
        delta: Some(FileRef {
            sequence: 4,
            length: bytes.len() as u64,
            sha256: hex(&sha256(&bytes)),
        }),
        ..cp3
    };
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&c.key])).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::StateRootMismatch { sequence: 4, .. })
    });
}

#[test]
fn oversized_and_truncated_files() {
    let limits = Limits {
        max_delta_bytes: 64 << 10,
        ..Limits::default()
    };
    let c = Chain::new(limits);
    let data = c.client_at("data", 2);
    let trust = c.trust();
    // A delta in the middle of the chain is bounded by the root's limit.
    let m = c.mirror("big", 4);
    std::fs::write(delta_path(&m, 3), vec![0u8; 200 << 10]).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::TooLarge { .. })
    });
    // The checkpoint's own delta is bounded by its signed length.
    let m = c.mirror("appended", 4);
    let mut b = std::fs::read(delta_path(&c.feed, 4)).unwrap();
    b.extend_from_slice(&[0u8; 10]);
    std::fs::write(delta_path(&m, 4), b).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::TooLarge { .. })
    });
    // Truncated: the last delta (signed length) and a middle one (signed
    // body length in its header).
    let m = c.mirror("short", 4);
    let b = std::fs::read(delta_path(&c.feed, 4)).unwrap();
    std::fs::write(delta_path(&m, 4), &b[..b.len() - 10]).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::Truncated { .. })
    });
    let m = c.mirror("short-mid", 4);
    let b = std::fs::read(delta_path(&c.feed, 3)).unwrap();
    std::fs::write(delta_path(&m, 3), &b[..b.len() - 10]).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::Truncated { .. })
    });
    // An oversized checkpoint.
    let m = c.mirror("bigcp", 4);
    std::fs::write(m.join(layout::CHECKPOINT), vec![b' '; 2 << 20]).unwrap();
    refused_dir(&m, &trust, &data, |e| {
        matches!(e, FeedError::TooLarge { .. })
    });
    sync_dir(&c.feed, &trust, &data).unwrap();
}

#[test]
fn files_mixed_from_two_feeds() {
    // Two feeds signed by the same key: signatures verify, the feed name
    // does not match.
    let c = Chain::new(Limits::default());
    let other = c.tmp.path().join("other");
    let mut p = init(&other, "other", &[&c.key], 1, Limits::default());
    let mut v = records(400, 11);
    for seq in 1..=3 {
        publish(&mut p, v.clone(), &[&c.key]);
        v = mutate(&v, 1, 1, 50 + seq);
    }
    let data = c.client_at("data", 2);
    let m = c.mirror("m", 4);
    std::fs::copy(delta_path(&other, 3), delta_path(&m, 3)).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::FeedMismatch { .. })
    });
    let m = c.mirror("m2", 4);
    std::fs::copy(other.join(layout::CHECKPOINT), m.join(layout::CHECKPOINT)).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::FeedMismatch { .. })
    });
}

#[test]
fn root_rotation_signed_only_by_new_keys() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let m = c.mirror("m", 4);
    let evil = key(66);
    let mut root = c.root();
    root.version = 2;
    root.root_keys = KeySet {
        keys: vec![key(67).public().clone()],
        threshold: 1,
    };
    root.online_keys = KeySet {
        keys: vec![evil.public().clone()],
        threshold: 1,
    };
    std::fs::write(m.join(layout::root_path(2)), root.seal(&[&key(67)])).unwrap();
    let cp = Checkpoint {
        root_version: 2,
        ..c.checkpoint(4)
    };
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&evil])).unwrap();
    let msg = refused_dir(
        &m,
        &c.trust(),
        &data,
        |e| matches!(e, FeedError::UnknownKey { role, .. } if role.contains("old keys")),
    );
    assert!(msg.contains("root rotation"), "{msg}");
}
