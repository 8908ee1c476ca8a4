//! The publisher's own guarantees: an interrupted publication is finished
//! by the next one, a truncated export and unlisted keys are refused, and
//! what it signs verifies the way a client checks it.

use std::collections::BTreeMap;

use sltd_feed::keys::SecretKey;
use sltd_feed::metadata::{Checkpoint, Limits};
use sltd_feed::{layout, now_unix};
use sltd_model::{DocumentKey, Record};
use sltd_publisher::{
    InitOptions, PublishError, PublishOptions, Publisher, PublisherConfig, RoleKeys,
};

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// `n` generated records, one per key.
fn sorted(n: u64, seed: u64) -> Vec<Record> {
    let by_key: BTreeMap<DocumentKey, Record> = sltd_export::generate::generate(n, seed)
        .map(|r| (r.key, r))
        .collect();
    by_key.into_values().collect()
}

#[test]
fn publisher_finishes_an_interrupted_publication() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feed");
    let a = key(1);
    let (r1, r2) = (key(101), key(102));
    let mut opts = InitOptions {
        feed: "t".into(),
        root_keys: RoleKeys {
            keys: vec![r1.public().clone(), r2.public().clone()],
            threshold: 1,
        },
        online_keys: RoleKeys {
            keys: vec![a.public().clone()],
            threshold: 1,
        },
        root_expires_at: now_unix() + 1000,
        max_checkpoint_validity: 7 * 86_400,
        limits: Limits::default(),
        config: PublisherConfig::default(),
        now: now_unix(),
    };
    // One offline key is not enough to hold the root.
    let e = Publisher::init(&dir, &opts, &[&r1, &a]).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
    opts.root_keys.threshold = 2;
    // A checkpoint TTL beyond what the root allows is refused.
    let mut long = opts.clone();
    long.max_checkpoint_validity = 86_400;
    assert!(Publisher::init(&dir, &long, &[&r1, &r2, &a]).is_err());
    // The online key is needed to sign the first checkpoint.
    assert!(Publisher::init(&dir, &opts, &[&r1, &r2]).is_err());
    let mut p = Publisher::init(&dir, &opts, &[&r1, &r2, &a]).unwrap();
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
    assert!(matches!(e, PublishError::Refused { .. }), "{e}");
    // Signing with a key the root does not list is refused.
    assert!(p.refresh(&[&key(9)], now_unix()).is_err());
    // The offline root keys do not sign checkpoints.
    assert!(p.refresh(&[&r1, &r2], now_unix()).is_err());
    let root = p.root().clone();
    let cp =
        Checkpoint::verify_signed(&root, &std::fs::read(dir.join(layout::CHECKPOINT)).unwrap())
            .unwrap();
    assert_eq!(cp.sequence, 2);
}
