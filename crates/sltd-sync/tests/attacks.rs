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
use sltd_publisher::{Publisher, RoleKeys, RotateOptions};
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

/// Rotates the online role of the feed in `dir` to `online` (threshold
/// `threshold`), signed by the test root keys; re-signs the checkpoint.
fn rotate_online(dir: &Path, online: &[&SecretKey], threshold: usize) -> Publisher {
    let mut p = Publisher::open(dir).unwrap();
    let [r1, r2] = root_keys();
    let now = now_unix();
    let opts = RotateOptions {
        root_keys: None,
        online_keys: Some(RoleKeys {
            keys: online.iter().map(|k| k.public().clone()).collect(),
            threshold,
        }),
        max_checkpoint_validity: None,
        expires_at: now + 86_400 * 30,
        now,
    };
    let mut signers = vec![&r1, &r2];
    signers.extend_from_slice(online);
    p.rotate_root(&opts, &signers).unwrap();
    p
}

/// A checkpoint of `seq` signed by the online key, with a fresh issue time.
fn forged_checkpoint(c: &Chain, sequence: u64, edit: impl FnOnce(&mut Checkpoint)) -> Vec<u8> {
    let mut cp = c.checkpoint(4);
    cp.sequence = sequence;
    cp.delta = Some(FileRef {
        sequence,
        length: 100,
        sha256: hex(&[7; 32]),
    });
    edit(&mut cp);
    cp.seal(&[&c.key])
}

#[test]
fn a_stolen_online_key_cannot_rotate_the_root() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let m = c.mirror("m", 4);
    let evil = key(66);
    let mut root = c.root();
    root.version = 2;
    root.online_keys = KeySet {
        keys: vec![evil.public().clone()],
        threshold: 1,
    };
    // Signed by the online key (and the thief's): not root keys.
    std::fs::write(m.join(layout::root_path(2)), root.seal(&[&c.key, &evil])).unwrap();
    let msg = refused_dir(
        &m,
        &c.trust(),
        &data,
        |e| matches!(e, FeedError::UnknownKey { role, .. } if role.contains("old keys")),
    );
    assert!(msg.contains("root rotation"), "{msg}");
}

#[test]
fn a_fast_forward_by_a_stolen_key_ends_with_the_rotation() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 3);
    let other = c.client_at("other", 2);
    // The thief of the online key shows the posts sequence 10^12.
    let m = c.mirror("m", 3);
    std::fs::write(
        m.join(layout::CHECKPOINT),
        forged_checkpoint(&c, 1_000_000_000_000, |_| {}),
    )
    .unwrap();
    let before = served(&data);
    assert!(sync_dir(&m, &c.trust(), &data).is_err());
    assert!(sync_dir(&m, &c.trust(), &other).is_err());
    assert_eq!(served(&data), before);
    // Until the keys are rotated, the honest feed is a rollback.
    refused_dir(&c.feed, &c.trust(), &data, |e| {
        matches!(e, FeedError::Rollback { .. })
    });
    let resync = SyncOptions {
        resync: true,
        ..SyncOptions::default()
    };
    refused(&c.feed, &c.trust(), &data, resync.clone(), |e| {
        matches!(e, FeedError::Rollback { .. })
    });
    // The publisher retires the stolen key and publishes on.
    let k2 = key(2);
    let mut p = rotate_online(&c.feed, &[&k2], 1);
    let next = mutate(p.records(), 1, 2, 77);
    publish(&mut p, next, &[&k2]);
    let r = sync_dir(&c.feed, &c.trust(), &data).unwrap();
    assert!(r.forgot_retired && !r.pin_changed);
    assert_eq!((r.sequence, r.deltas_applied), (5, 2));
    assert_eq!(served(&data), model(p.records()));
    // A second post, locked the same way, recovers with --resync too.
    let r = sync_from(&DirSource::new(&c.feed), &c.trust(), &other, resync).unwrap();
    assert!(r.forgot_retired);
    assert_eq!(served(&other), model(p.records()));
    // The retired key can no longer fast-forward anyone.
    std::fs::copy(
        c.feed.join(layout::root_path(2)),
        m.join(layout::root_path(2)),
    )
    .unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(
            e,
            FeedError::UnknownKey {
                role: "checkpoint",
                ..
            }
        )
    });
}

#[test]
fn a_root_planted_in_the_data_directory_is_refused() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 2);
    let evil = key(66);
    let mut root = c.root();
    root.version = 2;
    root.root_keys = KeySet {
        keys: vec![evil.public().clone()],
        threshold: 1,
    };
    root.online_keys = KeySet {
        keys: vec![key(67).public().clone()],
        threshold: 1,
    };
    // Self-signed and naming the feed, as the old client accepted.
    let roots = data.join("state/roots");
    std::fs::create_dir_all(&roots).unwrap();
    std::fs::write(roots.join("2.root.json"), root.seal(&[&evil])).unwrap();
    let m = c.mirror("m", 4);
    let cp = Checkpoint {
        root_version: 2,
        ..c.checkpoint(4)
    };
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&key(67)])).unwrap();
    let msg = refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::StoredRoot { version: 2, .. })
    });
    assert!(msg.contains("state/roots"), "{msg}");
    // An unreadable stored root is an error too, not a fallback.
    std::fs::write(roots.join("2.root.json"), b"{ not json").unwrap();
    refused_dir(&c.feed, &c.trust(), &data, |e| {
        matches!(e, FeedError::StoredRoot { version: 2, .. })
    });
    // Removing it (as the message says) rebuilds the chain from the feed.
    std::fs::remove_dir_all(&roots).unwrap();
    assert_eq!(sync_dir(&c.feed, &c.trust(), &data).unwrap().sequence, 4);
}

#[test]
fn a_stored_root_is_kept_when_a_mirror_withholds_it() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 4);
    let old_cp = std::fs::read(c.feed.join(layout::CHECKPOINT)).unwrap();
    let k2 = key(2);
    rotate_online(&c.feed, &[&k2], 1);
    sync_dir(&c.feed, &c.trust(), &data).unwrap();
    assert!(data.join("state/roots/2.root.json").exists());
    // A mirror without 2.root.json, serving the checkpoint of root 1.
    let m = c.mirror("m", 4);
    std::fs::remove_file(m.join(layout::root_path(2))).unwrap();
    std::fs::write(m.join(layout::CHECKPOINT), old_cp).unwrap();
    // The post still trusts root 2 (stored): the old key's checkpoint is
    // refused.
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(
            e,
            FeedError::UnknownKey {
                role: "checkpoint",
                ..
            }
        )
    });
    // A checkpoint claiming a root the feed does not have is refused; the
    // claim makes the post fetch nothing.
    let mut cp = c.checkpoint(4);
    cp.root_version = 9;
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&k2])).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(
            e,
            FeedError::CheckpointRootVersion {
                signed_under: 2,
                claimed: 9
            }
        )
    });
}

#[test]
fn a_replaced_pin_is_detected_and_the_post_follows_it() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 4);
    // The publisher starts a new feed of the same name with new keys (a
    // recovery after losing the root keys) and the operator re-pins.
    let fresh = c.tmp.path().join("fresh");
    let k9 = key(9);
    let mut p = init(&fresh, "main", &[&k9], 1, Limits::default());
    publish(&mut p, records(50, 3), &[&k9]);
    publish_opts(&mut p, records(60, 3), &[&k9], true);
    let new_pin = c.tmp.path().join("new-pin.json");
    std::fs::copy(fresh.join("1.root.json"), &new_pin).unwrap();
    let r = sync_dir(&fresh, &new_pin, &data).unwrap();
    assert!(r.pin_changed && r.forgot_retired);
    assert_eq!((r.sequence, r.snapshot), (2, Some(2)));
    assert_eq!(served(&data), model(p.records()));
    // With the pin unchanged, nothing is set aside.
    let r = sync_dir(&fresh, &new_pin, &data).unwrap();
    assert!(!r.pin_changed && !r.forgot_retired);
    // The old feed, under the new pin, is refused.
    refused_dir(&c.feed, &new_pin, &data, |e| {
        matches!(e, FeedError::UnknownKey { .. })
    });
}

#[test]
fn a_checkpoint_valid_longer_than_the_root_allows_is_refused() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 3);
    let m = c.mirror("m", 4);
    let mut cp = c.checkpoint(4);
    cp.expires_at = cp.issued_at + 7 * 86_400 + 1;
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&c.key])).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::CheckpointValidity { .. })
    });
}

#[test]
fn a_checkpoint_issued_earlier_for_a_known_sequence_is_refused() {
    let c = Chain::new(Limits::default());
    let data = c.client_at("data", 4);
    let mut cp = c.checkpoint(4);
    cp.issued_at -= 60;
    cp.expires_at -= 60;
    let m = c.mirror("m", 4);
    std::fs::write(m.join(layout::CHECKPOINT), cp.seal(&[&c.key])).unwrap();
    refused_dir(&m, &c.trust(), &data, |e| {
        matches!(e, FeedError::IssuedAtRollback { sequence: 4, .. })
    });
    // The same issue time again is no change, and accepted.
    assert!(sync_dir(&c.feed, &c.trust(), &data).is_ok());
}
