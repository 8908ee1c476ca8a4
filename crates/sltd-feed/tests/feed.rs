//! Format-level tests of the feed: root chain rules, delta and snapshot
//! round trips.

use std::collections::BTreeMap;

use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::keys::{KeySet, SecretKey};
use sltd_feed::metadata::{Limits, Root};
use sltd_feed::snapshot::{decode_chunk, encode_chunks};
use sltd_feed::state::StateHash;
use sltd_feed::{FeedError, now_unix};
use sltd_model::{DocumentKey, Record};

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// The key of the online role in [`root`]'s roots.
fn online() -> SecretKey {
    key(50)
}

/// A root whose root role is `keys` with `threshold` (online role: [`online`]).
fn root(version: u64, keys: &[&SecretKey], threshold: usize) -> Root {
    Root {
        feed: "t".into(),
        version,
        expires_at: now_unix() + 1000,
        root_keys: KeySet {
            keys: keys.iter().map(|k| k.public().clone()).collect(),
            threshold,
        },
        online_keys: KeySet {
            keys: vec![online().public().clone()],
            threshold: 1,
        },
        max_checkpoint_validity: 86_400,
        limits: Limits::default(),
    }
}

/// `n` generated records, one per key, ascending by key.
fn sorted(n: u64, seed: u64) -> Vec<Record> {
    let by_key: BTreeMap<DocumentKey, Record> = sltd_export::generate::generate(n, seed)
        .map(|r| (r.key, r))
        .collect();
    by_key.into_values().collect()
}

/// The operations that turn `old` into `new`, from a map of both.
fn diff(old: &[Record], new: &[Record]) -> Vec<Op> {
    let mut ops: BTreeMap<DocumentKey, Op> =
        old.iter().map(|r| (r.key, Op::Delete(r.key))).collect();
    for r in new {
        if old.iter().any(|o| o == r) {
            ops.remove(&r.key);
        } else {
            ops.insert(r.key, Op::Upsert(*r));
        }
    }
    ops.into_values().collect()
}

fn state_of(records: &[Record]) -> StateHash {
    StateHash::of(records)
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
    dup.root_keys.threshold = 1;
    assert!(Root::from_trusted_bytes(&dup.seal(&[&a])).is_err());
    let high = root(1, &[&a], 2);
    assert!(Root::from_trusted_bytes(&high.seal(&[&a])).is_err());
}

#[test]
fn delta_round_trip_and_canonical_order() {
    let (k, a) = (key(1), online());
    let r = Root::from_trusted_bytes(&root(1, &[&k], 1).seal(&[&k])).unwrap();
    let old = sorted(300, 1);
    let new = sorted(320, 2);
    let ops = diff(&old, &new);
    let prev = state_of(&old);
    let next = state_of(&new);
    let header = DeltaHeader {
        feed: "t".into(),
        root_version: 1,
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
    // Signed by the root role's key, which signs only roots.
    assert!(matches!(
        delta::verify(
            &r,
            &delta::encode(&header, &ops, &[&k]).unwrap(),
            5,
            &prev.root()
        ),
        Err(FeedError::UnknownKey { .. })
    ));
    // Naming a root version the verifier does not hold.
    let later = DeltaHeader {
        root_version: 2,
        ..header.clone()
    };
    assert!(matches!(
        delta::verify(
            &r,
            &delta::encode(&later, &ops, &[&a]).unwrap(),
            5,
            &prev.root()
        ),
        Err(FeedError::UnknownRootVersion {
            root_version: 2,
            ..
        })
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
