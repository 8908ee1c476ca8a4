//! The rules a border post applies before it believes the feed: which root
//! it starts from, walking the root chain to the version a checkpoint
//! claims, accepting a checkpoint against what the post already knows, and
//! checking that what it applied (deltas, a snapshot) reaches exactly the
//! checkpoint's state.
//!
//! With the per-file checks in [`crate::metadata`] (signatures, expiry,
//! signed lengths and hashes), [`crate::delta`] (sequence, chain, body) and
//! [`crate::snapshot`] (chunks), every attack of `docs/FEED.md` section 1
//! is refused in this crate, each by one rule with its own [`FeedError`]
//! variant and a test below. The sync only fetches bytes and calls these.

use std::ops::RangeInclusive;

use crate::FeedError;
use crate::encoding::{Hash32, hex};
use crate::metadata::{Checkpoint, MAX_ROOT_STEPS, Root, SnapshotManifest};
use crate::state::StateHash;

/// What a post knows before it accepts a checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostKnowledge<'a> {
    /// The highest checkpoint verified so far: sequence and state root.
    /// `None` before the first: sequence 0, the empty state.
    pub highest: Option<(u64, Hash32)>,
    /// The installed data, if any.
    pub installed: Option<Installed<'a>>,
}

/// The data a post has installed.
#[derive(Clone, Copy, Debug)]
pub struct Installed<'a> {
    pub feed: &'a str,
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
}

/// The root a sync starts from: the root the operator pinned, or a later
/// one stored after an earlier walk of the chain from it, when that is for
/// the same feed and newer. A stored root that no longer reads is ignored
/// (the walk starts again from the pinned root).
pub fn starting_root(pinned: &[u8], stored: Option<&[u8]>) -> Result<Root, FeedError> {
    let pinned = Root::from_trusted_bytes(pinned)?;
    if let Some(stored) = stored.and_then(|b| Root::from_trusted_bytes(b).ok())
        && stored.feed == pinned.feed
        && stored.version > pinned.version
    {
        return Ok(stored);
    }
    Ok(pinned)
}

/// The root versions to fetch, in order, to go from `trusted` to the
/// version `claimed` by a (not yet verified) checkpoint: none when the
/// claim is not newer; refused beyond [`MAX_ROOT_STEPS`].
pub fn root_versions_to_walk(
    trusted: &Root,
    claimed: u64,
) -> Result<RangeInclusive<u64>, FeedError> {
    if claimed.saturating_sub(trusted.version) > MAX_ROOT_STEPS {
        return Err(FeedError::RootVersion {
            expected: trusted.version + 1,
            found: claimed,
        });
    }
    // An empty range when `claimed <= trusted.version`.
    Ok(trusted.version + 1..=claimed)
}

/// Walks the root chain from `trusted` up to the root version the
/// checkpoint `checkpoint_bytes` claims, one version at a time: `fetch(v)`
/// gives the bytes of `v.root.json`, each must verify as the next root of
/// the one before ([`Root::verify_next`]: a threshold of the old keys and of
/// the new keys), and `on_trusted` is told of each newly trusted root (to
/// store it). The claim is only a hint: the checkpoint must then verify
/// under the root reached.
pub fn walk_root_chain<E: From<FeedError>>(
    trusted: Root,
    checkpoint_bytes: &[u8],
    mut fetch: impl FnMut(u64) -> Result<Vec<u8>, E>,
    mut on_trusted: impl FnMut(&Root, &[u8]) -> Result<(), E>,
) -> Result<Root, E> {
    let claimed = Checkpoint::claimed_root_version(checkpoint_bytes)?;
    let mut root = trusted;
    for version in root_versions_to_walk(&root, claimed)? {
        let bytes = fetch(version)?;
        root = root.verify_next(&bytes)?;
        on_trusted(&root, &bytes)?;
    }
    Ok(root)
}

/// Accepts the checkpoint `bytes` at `now`: the root reached must not have
/// expired, the checkpoint must verify under it ([`Checkpoint::verify`]:
/// size, signatures, feed, root version, expiry), the installed data must
/// be of the same feed, and the checkpoint must not go back from (`Rollback`)
/// or disagree with (`Fork`) the highest verified checkpoint or the
/// installed data.
pub fn accept_checkpoint(
    root: &Root,
    bytes: &[u8],
    now: i64,
    post: &PostKnowledge<'_>,
) -> Result<Checkpoint, FeedError> {
    root.check_expiry(now)?;
    let cp = Checkpoint::verify(root, bytes, now)?;
    let (sequence, state_root) = post
        .highest
        .unwrap_or_else(|| (0, StateHash::empty().root()));
    cp.check_against(sequence, &state_root)?;
    if let Some(installed) = post.installed {
        if installed.feed != root.feed {
            return Err(FeedError::FeedMismatch {
                expected: root.feed.clone(),
                found: installed.feed.to_string(),
            });
        }
        cp.check_against_installed(
            installed.sequence,
            &installed.state_root,
            installed.record_count,
        )?;
    }
    Ok(cp)
}

/// A state a post computed: its root and record count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReachedState<'a> {
    pub root: &'a Hash32,
    pub count: u64,
}

/// Checks that the state reached (after the deltas, or a snapshot's
/// records) is exactly the one signed for `sequence`: root and count.
pub fn check_state_reached(
    signed_in: &'static str,
    sequence: u64,
    signed_root: &Hash32,
    signed_count: u64,
    reached: ReachedState<'_>,
) -> Result<(), FeedError> {
    if reached.root != signed_root {
        return Err(FeedError::StateRootMismatch {
            sequence,
            expected: hex(signed_root),
            computed: hex(reached.root),
        });
    }
    if reached.count != signed_count {
        return Err(FeedError::RecordCountMismatch {
            sequence,
            field: signed_in,
            signed: signed_count,
            computed: reached.count,
        });
    }
    Ok(())
}

/// Checks that a verified snapshot manifest is the one the checkpoint
/// points to (its bytes were checked against the pointer's length and hash
/// when fetched) and that it does not lie beyond the checkpoint.
pub fn check_snapshot_pointer(
    checkpoint: &Checkpoint,
    manifest: &SnapshotManifest,
) -> Result<(), FeedError> {
    let pointed = checkpoint.snapshot.as_ref().map(|s| s.sequence);
    if pointed != Some(manifest.sequence) || manifest.sequence > checkpoint.sequence {
        return Err(FeedError::malformed(
            "snapshot manifest",
            "sequence differs from the checkpoint's pointer",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! One test per attack, played against the rules above with files
    //! built in memory.

    use super::*;
    use crate::keys::{KeySet, SecretKey};
    use crate::metadata::{FileRef, Limits};
    use crate::{b64, sha256, unb64};

    const NOW: i64 = 1_800_000_000;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn root(feed: &str, version: u64, keys: &[&SecretKey], threshold: usize) -> Root {
        Root {
            feed: feed.into(),
            version,
            expires_at: NOW + 1000,
            keys: KeySet {
                keys: keys.iter().map(|k| k.public().clone()).collect(),
                threshold,
            },
            limits: Limits::default(),
        }
    }

    fn trusted(r: &Root, signers: &[&SecretKey]) -> Root {
        Root::from_trusted_bytes(&r.seal(signers)).unwrap()
    }

    fn checkpoint(sequence: u64, state_root: Hash32) -> Checkpoint {
        Checkpoint {
            feed: "f".into(),
            root_version: 1,
            sequence,
            state_root,
            record_count: 0,
            issued_at: NOW - 10,
            expires_at: NOW + 100,
            delta: (sequence > 0).then(|| FileRef {
                sequence,
                length: 100,
                sha256: hex(&[7; 32]),
            }),
            snapshot: None,
        }
    }

    fn accept(r: &Root, cp: &[u8], post: PostKnowledge<'_>) -> Result<Checkpoint, FeedError> {
        accept_checkpoint(r, cp, NOW, &post)
    }

    fn nothing() -> PostKnowledge<'static> {
        PostKnowledge::default()
    }

    #[test]
    fn an_honest_checkpoint_is_accepted() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let cp = checkpoint(3, [3; 32]);
        let post = PostKnowledge {
            highest: Some((2, [2; 32])),
            installed: Some(Installed {
                feed: "f",
                sequence: 2,
                state_root: [2; 32],
                record_count: 0,
            }),
        };
        assert_eq!(accept(&r, &cp.seal(&[&a]), post).unwrap(), cp);
        // The same checkpoint again (nothing new) is not a fork.
        let again = PostKnowledge {
            highest: Some((3, [3; 32])),
            ..post
        };
        assert!(accept(&r, &cp.seal(&[&a]), again).is_ok());
    }

    #[test]
    fn forged_or_tampered_checkpoint() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let sealed = checkpoint(3, [3; 32]).seal(&[&a]);
        let mut env: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let payload = unb64(env["payload"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(payload)
            .unwrap()
            .replace("\"sequence\":3", "\"sequence\":4");
        env["payload"] = b64(text.as_bytes()).into();
        let forged = serde_json::to_vec(&env).unwrap();
        assert!(matches!(
            accept(&r, &forged, nothing()),
            Err(FeedError::BadSignature { .. })
        ));
    }

    #[test]
    fn signed_by_a_key_the_root_does_not_list() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let cp = checkpoint(3, [3; 32]).seal(&[&key(9)]);
        assert!(matches!(
            accept(&r, &cp, nothing()),
            Err(FeedError::UnknownKey { .. })
        ));
    }

    #[test]
    fn one_stolen_key_is_below_the_threshold_however_often_it_signs() {
        let (a, b) = (key(1), key(2));
        let r = trusted(&root("f", 1, &[&a, &b], 2), &[&a, &b]);
        let cp = checkpoint(3, [3; 32]);
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::BelowThreshold {
                valid: 1,
                threshold: 2,
                ..
            })
        ));
        assert!(matches!(
            accept(&r, &cp.seal(&[&a, &a]), nothing()),
            Err(FeedError::DuplicateKey { .. })
        ));
        assert!(accept(&r, &cp.seal(&[&b, &a]), nothing()).is_ok());
    }

    #[test]
    fn rollback_to_an_older_checkpoint() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let old = checkpoint(2, [2; 32]).seal(&[&a]);
        let highest = PostKnowledge {
            highest: Some((3, [3; 32])),
            installed: None,
        };
        assert!(matches!(
            accept(&r, &old, highest),
            Err(FeedError::Rollback {
                known: 3,
                offered: 2
            })
        ));
        // Below the installed data, even when nothing higher was recorded.
        let installed = PostKnowledge {
            highest: None,
            installed: Some(Installed {
                feed: "f",
                sequence: 3,
                state_root: [3; 32],
                record_count: 0,
            }),
        };
        assert!(matches!(
            accept(&r, &old, installed),
            Err(FeedError::Rollback { .. })
        ));
    }

    #[test]
    fn fork_another_state_for_a_known_sequence() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let other = checkpoint(3, [7; 32]).seal(&[&a]);
        let post = PostKnowledge {
            highest: Some((3, [3; 32])),
            installed: None,
        };
        assert!(matches!(
            accept(&r, &other, post),
            Err(FeedError::Fork { sequence: 3, .. })
        ));
    }

    #[test]
    fn freeze_expired_checkpoint_and_expired_root() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let mut cp = checkpoint(3, [3; 32]);
        cp.expires_at = NOW - 1;
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::CheckpointExpired { .. })
        ));
        // Valid through its expiry second, as freshness counts it.
        cp.expires_at = NOW;
        assert!(accept(&r, &cp.seal(&[&a]), nothing()).is_ok());
        let mut old_root = root("f", 1, &[&a], 1);
        old_root.expires_at = NOW - 1;
        let old_root = trusted(&old_root, &[&a]);
        assert!(matches!(
            accept(&old_root, &cp.seal(&[&a]), nothing()),
            Err(FeedError::RootExpired { .. })
        ));
    }

    #[test]
    fn files_mixed_from_two_feeds() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let mut cp = checkpoint(3, [3; 32]);
        cp.feed = "g".into();
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::FeedMismatch { .. })
        ));
        // Data installed from another feed.
        let post = PostKnowledge {
            highest: None,
            installed: Some(Installed {
                feed: "g",
                sequence: 1,
                state_root: [1; 32],
                record_count: 0,
            }),
        };
        assert!(matches!(
            accept(&r, &checkpoint(3, [3; 32]).seal(&[&a]), post),
            Err(FeedError::FeedMismatch { .. })
        ));
    }

    #[test]
    fn checkpoint_claiming_another_root_version() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let mut cp = checkpoint(3, [3; 32]);
        cp.root_version = 2;
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::CheckpointRootVersion {
                signed_under: 1,
                claimed: 2
            })
        ));
    }

    #[test]
    fn root_chain_walking_and_rotation() {
        let (a, b, evil) = (key(1), key(2), key(66));
        let r1 = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let r2 = root("f", 2, &[&b], 1).seal(&[&a, &b]);
        let mut cp = checkpoint(3, [3; 32]);
        cp.root_version = 2;
        let cp = cp.seal(&[&b]);
        let mut stored = Vec::new();
        let walk = |chain: &[Vec<u8>], stored: &mut Vec<Vec<u8>>| {
            walk_root_chain(
                r1.clone(),
                &cp,
                |v| Ok::<_, FeedError>(chain[(v - 2) as usize].clone()),
                |_, bytes| {
                    stored.push(bytes.to_vec());
                    Ok(())
                },
            )
        };
        // An honest rotation: followed, stored, and the checkpoint accepted.
        let reached = walk(std::slice::from_ref(&r2), &mut stored).unwrap();
        assert_eq!(reached.version, 2);
        assert_eq!(stored, vec![r2.clone()]);
        assert!(accept(&reached, &cp, nothing()).is_ok());
        // Signed only by the new keys: refused as a rotation by old keys.
        let hijack = root("f", 2, &[&evil], 1).seal(&[&evil]);
        let e = walk(&[hijack], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&e, FeedError::UnknownKey { role, .. } if role.contains("old keys")),
            "{e:?}"
        );
        // Not signed by the new keys it lists.
        let half = root("f", 2, &[&b], 1).seal(&[&a]);
        let e = walk(&[half], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&e, FeedError::UnknownKey { role, .. } if role.contains("new keys")),
            "{e:?}"
        );
        // A version skipped in the chain.
        let skip = root("f", 3, &[&b], 1).seal(&[&a, &b]);
        assert!(matches!(
            walk(&[skip], &mut Vec::new()),
            Err(FeedError::RootVersion {
                expected: 2,
                found: 3
            })
        ));
        // A claim too far ahead is refused before anything is fetched.
        assert!(matches!(
            root_versions_to_walk(&r1, 1 + MAX_ROOT_STEPS + 1),
            Err(FeedError::RootVersion { .. })
        ));
        assert!(root_versions_to_walk(&r1, 1).unwrap().is_empty());
        // The stored root is used when it is newer and of the same feed.
        let pinned = root("f", 1, &[&a], 1).seal(&[&a]);
        assert_eq!(starting_root(&pinned, Some(&r2)).unwrap().version, 2);
        assert_eq!(starting_root(&pinned, None).unwrap().version, 1);
        assert_eq!(starting_root(&pinned, Some(b"junk")).unwrap().version, 1);
        let other_feed = root("g", 2, &[&a], 1).seal(&[&a]);
        assert_eq!(
            starting_root(&pinned, Some(&other_feed)).unwrap().version,
            1
        );
    }

    #[test]
    fn applied_state_must_reach_the_signed_one() {
        let root = StateHash::empty().root();
        let reached = ReachedState {
            root: &root,
            count: 0,
        };
        let at = "checkpoint record_count";
        assert!(check_state_reached(at, 4, &root, 0, reached).is_ok());
        assert!(matches!(
            check_state_reached(at, 4, &sha256(b"other"), 0, reached),
            Err(FeedError::StateRootMismatch { sequence: 4, .. })
        ));
        assert!(matches!(
            check_state_reached(at, 4, &root, 1, reached),
            Err(FeedError::RecordCountMismatch {
                sequence: 4,
                field: "checkpoint record_count",
                signed: 1,
                computed: 0,
            })
        ));
    }

    #[test]
    fn sequence_zero_is_the_empty_state() {
        let a = key(1);
        let r = trusted(&root("f", 1, &[&a], 1), &[&a]);
        let empty = checkpoint(0, StateHash::empty().root()).seal(&[&a]);
        assert!(accept(&r, &empty, nothing()).is_ok());
        let not_empty = checkpoint(0, [5; 32]).seal(&[&a]);
        assert!(matches!(
            accept(&r, &not_empty, nothing()),
            Err(FeedError::Fork { sequence: 0, .. })
        ));
    }

    #[test]
    fn downloads_must_be_the_signed_file() {
        let bytes = b"the signed delta".to_vec();
        let r = FileRef {
            sequence: 1,
            length: bytes.len() as u64,
            sha256: hex(&sha256(&bytes)),
        };
        assert!(r.check("delta 1", &bytes).is_ok());
        assert!(matches!(
            r.check("delta 1", &bytes[..4]),
            Err(FeedError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            r.check("delta 1", &longer),
            Err(FeedError::TooLarge { .. })
        ));
        let mut tampered = bytes.clone();
        tampered[0] ^= 1;
        assert!(matches!(
            r.check("delta 1", &tampered),
            Err(FeedError::HashMismatch { .. })
        ));
    }

    #[test]
    fn a_snapshot_must_be_the_one_the_checkpoint_points_to() {
        let mut cp = checkpoint(10, [1; 32]);
        let m = SnapshotManifest {
            feed: "f".into(),
            sequence: 8,
            state_root: [8; 32],
            record_count: 0,
            issued_at: NOW,
            chunks: Vec::new(),
        };
        assert!(check_snapshot_pointer(&cp, &m).is_err(), "no pointer");
        cp.snapshot = Some(FileRef {
            sequence: 8,
            length: 1,
            sha256: hex(&[0; 32]),
        });
        assert!(check_snapshot_pointer(&cp, &m).is_ok());
        let later = SnapshotManifest {
            sequence: 9,
            ..m.clone()
        };
        assert!(check_snapshot_pointer(&cp, &later).is_err());
        cp.sequence = 7;
        assert!(
            check_snapshot_pointer(&cp, &m).is_err(),
            "beyond the checkpoint"
        );
    }
}
