//! The rules a border post applies before it believes the feed: the chain
//! of roots from the pinned one (rebuilt every sync, probing the feed for
//! the next version), what the post must forget when keys are retired,
//! accepting a checkpoint against what the post already knows, and checking
//! that what it applied (deltas, a snapshot) reaches exactly the
//! checkpoint's state.
//!
//! With the per-file checks in [`crate::metadata`] (signatures, expiry,
//! signed lengths and hashes), [`crate::delta`] (sequence, chain, body) and
//! [`crate::snapshot`] (chunks), every attack of `docs/FEED.md` section 1
//! is refused in this crate, each by one rule with its own [`FeedError`]
//! variant and a test below. The sync only fetches bytes and calls these.

use crate::FeedError;
use crate::encoding::{Hash32, hex};
use crate::keys::KeySet;
use crate::metadata::{Checkpoint, MAX_ROOT_STEPS, Root, RootHistory, SnapshotManifest};
use crate::state::StateHash;

/// The roots a post trusts: the pinned root, then each later version
/// verified from the one before ([`Root::verify_next`]). Files signed under
/// any of them verify ([`RootHistory`]); checkpoints only under the newest.
#[derive(Clone, Debug)]
pub struct RootChain {
    pin_sha256: Hash32,
    roots: Vec<Root>,
}

impl RootChain {
    /// A chain of one: the root the operator pinned, which must be signed
    /// by a threshold of its own root-role keys.
    pub fn from_pin(pinned: &[u8]) -> Result<RootChain, FeedError> {
        Ok(RootChain {
            pin_sha256: crate::sha256(pinned),
            roots: vec![Root::from_trusted_bytes(pinned)?],
        })
    }

    /// The SHA-256 of the pinned root file: what a post records to notice
    /// that its pin was replaced.
    pub fn pin_sha256(&self) -> &Hash32 {
        &self.pin_sha256
    }

    pub fn pinned(&self) -> &Root {
        &self.roots[0]
    }

    /// Verifies `bytes` as the next root version and appends it.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<&Root, FeedError> {
        let next = self.newest().verify_next(bytes)?;
        self.roots.push(next);
        Ok(self.newest())
    }

    /// Whether what a post learned under root `version` came from keys
    /// retired since: `version` is not in the chain, or the newest root's
    /// root-role or online-role keys are not the ones `version` listed.
    /// Such knowledge (a high-water mark, installed data as a floor) is
    /// forgotten (TUF 5.3.11): a key thief's checkpoint with a huge sequence
    /// must not lock the post out once the keys are rotated.
    pub fn retired_since(&self, version: u64) -> bool {
        let Some(then) = self.at(version) else {
            return true;
        };
        let now = self.newest();
        !same_keys(&then.online_keys, &now.online_keys)
            || !same_keys(&then.root_keys, &now.root_keys)
    }
}

fn same_keys(a: &KeySet, b: &KeySet) -> bool {
    fn ids(k: &KeySet) -> Vec<&str> {
        let mut v: Vec<&str> = k.keys.iter().map(|p| p.keyid.as_str()).collect();
        v.sort_unstable();
        v
    }
    a.threshold == b.threshold && ids(a) == ids(b)
}

impl RootHistory for RootChain {
    fn newest(&self) -> &Root {
        self.roots.last().unwrap_or(&self.roots[0])
    }

    fn at(&self, version: u64) -> Option<&Root> {
        let first = self.roots[0].version;
        let i = usize::try_from(version.checked_sub(first)?).ok()?;
        self.roots.get(i)
    }
}

/// Builds the chain a sync trusts, every time from the pinned root: the
/// roots stored by earlier syncs (`stored(v)`, `None` when there is none)
/// must each verify as the next link, or the sync stops
/// ([`FeedError::StoredRoot`]: a planted or damaged file is never skipped);
/// then the feed is probed for the next version (`probe(v)`, `None` when
/// the feed has none) until it has no newer one, and each new root is
/// handed to `on_new` to be stored. What a checkpoint claims plays no part:
/// the checkpoint must then verify under the newest root. At most
/// [`MAX_ROOT_STEPS`] versions after the pinned one.
pub fn build_root_chain<E: From<FeedError>>(
    pinned: &[u8],
    mut stored: impl FnMut(u64) -> Result<Option<Vec<u8>>, E>,
    mut probe: impl FnMut(u64) -> Result<Option<Vec<u8>>, E>,
    mut on_new: impl FnMut(&Root, &[u8]) -> Result<(), E>,
) -> Result<RootChain, E> {
    let mut chain = RootChain::from_pin(pinned)?;
    let last = chain.pinned().version.saturating_add(MAX_ROOT_STEPS);
    let mut from_store = true;
    while chain.newest().version < last {
        let version = chain.newest().version + 1;
        if from_store {
            match stored(version)? {
                Some(bytes) => {
                    chain.extend(&bytes).map_err(|e| FeedError::StoredRoot {
                        version,
                        reason: e.to_string(),
                    })?;
                    continue;
                }
                None => from_store = false,
            }
        }
        let Some(bytes) = probe(version)? else {
            break;
        };
        let root = chain.extend(&bytes)?;
        on_new(root, &bytes)?;
    }
    Ok(chain)
}

/// A checkpoint a post verified before: sequence, state root, issue time,
/// and the root version and pin it was verified under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub sequence: u64,
    pub state_root: Hash32,
    /// `None` in records written before issue times were kept.
    pub issued_at: Option<i64>,
    pub root_version: Option<u64>,
}

/// What a post knows before it accepts a checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostKnowledge<'a> {
    /// The highest checkpoint verified so far. `None` before the first:
    /// sequence 0, the empty state.
    pub highest: Option<Known>,
    /// The installed data, if any.
    pub installed: Option<Installed<'a>>,
    /// The pin the knowledge was learned under (`None`: not recorded).
    pub pin_sha256: Option<Hash32>,
}

/// The data a post has installed.
#[derive(Clone, Copy, Debug)]
pub struct Installed<'a> {
    pub feed: &'a str,
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
    /// The issue time of the checkpoint it was verified against.
    pub as_of: i64,
    /// The root version that checkpoint was signed under.
    pub root_version: Option<u64>,
}

/// A checkpoint accepted, and what the post set aside to accept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub checkpoint: Checkpoint,
    /// The pin changed since the post's knowledge was recorded: all of it
    /// was set aside.
    pub pin_changed: bool,
    /// Knowledge learned under keys retired since (or under another pin)
    /// was set aside (TUF 5.3.11 fast-forward recovery).
    pub forgot: bool,
    /// The installed data may serve as the base for the deltas up to the
    /// checkpoint: always when it was not set aside; otherwise only when it
    /// is not beyond (nor beside) the checkpoint. When it may not, the post
    /// starts over from a snapshot.
    pub installed_is_base: bool,
}

/// Whether the pin a post's knowledge was recorded under differs from the
/// one it is given now. A post with nothing recorded has not changed pin.
pub fn pin_changed(recorded: Option<&Hash32>, chain: &RootChain, has_knowledge: bool) -> bool {
    has_knowledge && recorded != Some(chain.pin_sha256())
}

/// Accepts the checkpoint `bytes` at `now`: the newest root must not have
/// expired, the checkpoint must verify under it ([`Checkpoint::verify`]:
/// size, online-role signatures, feed, root version, validity, expiry), the
/// installed data must be of the same feed, and the checkpoint must not go
/// back from (`Rollback`, `IssuedAtRollback`) or disagree with (`Fork`) the
/// highest verified checkpoint or the installed data, as far as that
/// knowledge was learned under keys still trusted and under this pin.
pub fn accept_checkpoint(
    chain: &RootChain,
    bytes: &[u8],
    now: i64,
    post: &PostKnowledge<'_>,
) -> Result<Accepted, FeedError> {
    let root = chain.newest();
    root.check_expiry(now)?;
    let cp = Checkpoint::verify(root, bytes, now)?;
    let has_knowledge = post.highest.is_some() || post.installed.is_some();
    let pin_changed = pin_changed(post.pin_sha256.as_ref(), chain, has_knowledge);
    let pinned = chain.pinned().version;
    let trusted = |v: Option<u64>| !pin_changed && !chain.retired_since(v.unwrap_or(pinned));
    let mut forgot = false;
    match post.highest.filter(|k| {
        let keep = trusted(k.root_version);
        forgot |= !keep;
        keep
    }) {
        Some(k) => {
            cp.check_against(k.sequence, &k.state_root)?;
            check_issued_at(&cp, k.sequence, k.issued_at)?;
        }
        None => cp.check_against(0, &StateHash::empty().root())?,
    }
    let mut installed_is_base = true;
    if let Some(installed) = post.installed {
        if installed.feed != root.feed {
            return Err(FeedError::FeedMismatch {
                expected: root.feed.clone(),
                found: installed.feed.to_string(),
            });
        }
        if trusted(installed.root_version) {
            cp.check_against_installed(
                installed.sequence,
                &installed.state_root,
                installed.record_count,
            )?;
            check_issued_at(&cp, installed.sequence, Some(installed.as_of))?;
        } else {
            forgot = true;
            installed_is_base = installed.sequence < cp.sequence
                || (installed.sequence == cp.sequence
                    && cp
                        .check_state(&installed.state_root, installed.record_count)
                        .is_ok());
        }
    }
    Ok(Accepted {
        checkpoint: cp,
        pin_changed,
        forgot,
        installed_is_base,
    })
}

/// A checkpoint of `sequence` must not be issued before one already
/// verified for it.
fn check_issued_at(cp: &Checkpoint, sequence: u64, known: Option<i64>) -> Result<(), FeedError> {
    match known {
        Some(known) if cp.sequence == sequence && cp.issued_at < known => {
            Err(FeedError::IssuedAtRollback {
                sequence,
                known,
                offered: cp.issued_at,
            })
        }
        _ => Ok(()),
    }
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

    /// The offline root-role keys of the test roots.
    fn root_keys() -> [SecretKey; 2] {
        [key(101), key(102)]
    }

    /// A root whose online role is `keys` with `threshold`, and whose root
    /// role is [`root_keys`], 2 of 2.
    fn root(feed: &str, version: u64, keys: &[&SecretKey], threshold: usize) -> Root {
        let rk = root_keys();
        Root {
            feed: feed.into(),
            version,
            expires_at: NOW + 1000,
            root_keys: KeySet {
                keys: rk.iter().map(|k| k.public().clone()).collect(),
                threshold: 2,
            },
            online_keys: KeySet {
                keys: keys.iter().map(|k| k.public().clone()).collect(),
                threshold,
            },
            max_checkpoint_validity: 1000,
            limits: Limits::default(),
        }
    }

    fn sealed(r: &Root) -> Vec<u8> {
        let rk = root_keys();
        r.seal(&[&rk[0], &rk[1]])
    }

    fn chain_of(r: &Root) -> RootChain {
        RootChain::from_pin(&sealed(r)).unwrap()
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

    /// Accepts under `r`, with the knowledge recorded under `r`'s pin
    /// unless the test says otherwise.
    fn accept(r: &RootChain, cp: &[u8], post: PostKnowledge<'_>) -> Result<Checkpoint, FeedError> {
        let post = PostKnowledge {
            pin_sha256: post.pin_sha256.or(Some(*r.pin_sha256())),
            ..post
        };
        accept_checkpoint(r, cp, NOW, &post).map(|a| a.checkpoint)
    }

    fn known(sequence: u64, state_root: Hash32) -> Option<Known> {
        Some(Known {
            sequence,
            state_root,
            issued_at: None,
            root_version: Some(1),
        })
    }

    fn installed(feed: &str, sequence: u64, state_root: Hash32) -> Option<Installed<'_>> {
        Some(Installed {
            feed,
            sequence,
            state_root,
            record_count: 0,
            as_of: NOW - 100,
            root_version: Some(1),
        })
    }

    fn nothing() -> PostKnowledge<'static> {
        PostKnowledge::default()
    }

    #[test]
    fn an_honest_checkpoint_is_accepted() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let cp = checkpoint(3, [3; 32]);
        let post = PostKnowledge {
            highest: known(2, [2; 32]),
            installed: installed("f", 2, [2; 32]),
            ..nothing()
        };
        assert_eq!(accept(&r, &cp.seal(&[&a]), post).unwrap(), cp);
        // The same checkpoint again (nothing new) is not a fork.
        let again = PostKnowledge {
            highest: known(3, [3; 32]),
            ..post
        };
        assert!(accept(&r, &cp.seal(&[&a]), again).is_ok());
    }

    #[test]
    fn forged_or_tampered_checkpoint() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
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
        let r = chain_of(&root("f", 1, &[&a], 1));
        let cp = checkpoint(3, [3; 32]).seal(&[&key(9)]);
        assert!(matches!(
            accept(&r, &cp, nothing()),
            Err(FeedError::UnknownKey { .. })
        ));
    }

    #[test]
    fn one_stolen_key_is_below_the_threshold_however_often_it_signs() {
        let (a, b) = (key(1), key(2));
        let r = chain_of(&root("f", 1, &[&a, &b], 2));
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
        let r = chain_of(&root("f", 1, &[&a], 1));
        let old = checkpoint(2, [2; 32]).seal(&[&a]);
        let highest = PostKnowledge {
            highest: known(3, [3; 32]),
            installed: None,
            ..nothing()
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
            installed: installed("f", 3, [3; 32]),
            ..nothing()
        };
        assert!(matches!(
            accept(&r, &old, installed),
            Err(FeedError::Rollback { .. })
        ));
    }

    #[test]
    fn fork_another_state_for_a_known_sequence() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let other = checkpoint(3, [7; 32]).seal(&[&a]);
        let post = PostKnowledge {
            highest: known(3, [3; 32]),
            installed: None,
            ..nothing()
        };
        assert!(matches!(
            accept(&r, &other, post),
            Err(FeedError::Fork { sequence: 3, .. })
        ));
    }

    #[test]
    fn freeze_expired_checkpoint_and_expired_root() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
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
        let old_root = chain_of(&old_root);
        assert!(matches!(
            accept(&old_root, &cp.seal(&[&a]), nothing()),
            Err(FeedError::RootExpired { .. })
        ));
    }

    #[test]
    fn files_mixed_from_two_feeds() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let mut cp = checkpoint(3, [3; 32]);
        cp.feed = "g".into();
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::FeedMismatch { .. })
        ));
        // Data installed from another feed.
        let post = PostKnowledge {
            highest: None,
            installed: installed("g", 1, [1; 32]),
            ..nothing()
        };
        assert!(matches!(
            accept(&r, &checkpoint(3, [3; 32]).seal(&[&a]), post),
            Err(FeedError::FeedMismatch { .. })
        ));
    }

    #[test]
    fn checkpoint_claiming_another_root_version() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
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

    /// A chain built from `pinned` with nothing stored and the feed's
    /// roots `feed` (version 2 first), storing what it trusts in `stored`.
    fn build(
        pinned: &[u8],
        stored_in: &[Vec<u8>],
        feed: &[Vec<u8>],
        stored: &mut Vec<Vec<u8>>,
    ) -> Result<RootChain, FeedError> {
        build_root_chain(
            pinned,
            |v| Ok::<_, FeedError>(stored_in.get((v - 2) as usize).cloned()),
            |v| Ok(feed.get((v - 2) as usize).cloned()),
            |_, bytes| {
                stored.push(bytes.to_vec());
                Ok(())
            },
        )
    }

    /// Root `version` with online key `online` and root-role keys `rk`
    /// (2 of 2), signed by `signers`.
    fn rotated(
        version: u64,
        online: &SecretKey,
        rk: [&SecretKey; 2],
        signers: &[&SecretKey],
    ) -> Vec<u8> {
        let mut r = root("f", version, &[online], 1);
        r.root_keys = KeySet {
            keys: rk.iter().map(|k| k.public().clone()).collect(),
            threshold: 2,
        };
        r.seal(signers)
    }

    #[test]
    fn root_chain_building_and_rotation() {
        let (a, b, evil) = (key(1), key(2), key(66));
        let [r1, r2] = root_keys();
        let r3 = key(103);
        let pinned = sealed(&root("f", 1, &[&a], 1));
        // Version 2 moves the online role to b and the root role to {r2, r3}.
        let v2 = rotated(2, &b, [&r2, &r3], &[&r1, &r2, &r3]);
        let mut cp = checkpoint(3, [3; 32]);
        cp.root_version = 2;
        let cp = cp.seal(&[&b]);
        let mut stored = Vec::new();
        // The feed is probed: the new root is found, stored and trusted,
        // whatever the checkpoint claims.
        let chain = build(&pinned, &[], std::slice::from_ref(&v2), &mut stored).unwrap();
        assert_eq!(chain.newest().version, 2);
        assert_eq!(stored, vec![v2.clone()]);
        assert!(accept(&chain, &cp, nothing()).is_ok());
        // Once stored, the chain is rebuilt from the store and the feed is
        // only asked for version 3.
        let mut asked = Vec::new();
        let chain = build_root_chain(
            &pinned,
            |v| Ok::<_, FeedError>((v == 2).then(|| v2.clone())),
            |v| {
                asked.push(v);
                Ok(None)
            },
            |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!((chain.newest().version, asked), (2, vec![3]));
        // The checkpoint still signed under version 1 no longer verifies.
        let old = checkpoint(3, [3; 32]).seal(&[&a]);
        assert!(accept(&chain, &old, nothing()).is_err());
        // Signed only by the new root keys: refused as a rotation by old keys.
        let hijack = rotated(2, &key(68), [&evil, &key(67)], &[&evil, &key(67)]);
        let e = build(&pinned, &[], std::slice::from_ref(&hijack), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&e, FeedError::UnknownKey { role, .. } if role.contains("old keys")),
            "{e:?}"
        );
        // The online key alone cannot rotate the root: it holds no root role.
        let by_online = rotated(2, &b, [&r1, &r2], &[&a, &b]);
        assert!(build(&pinned, &[], &[by_online], &mut Vec::new()).is_err());
        // Not signed by the new keys it lists.
        let half = rotated(2, &b, [&r2, &r3], &[&r1, &r2]);
        let e = build(&pinned, &[], &[half], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&e, FeedError::BelowThreshold { role, .. } if role.contains("new keys")),
            "{e:?}"
        );
        // A version skipped in the chain.
        let skip = rotated(3, &b, [&r1, &r2], &[&r1, &r2]);
        assert!(matches!(
            build(&pinned, &[], &[skip], &mut Vec::new()),
            Err(FeedError::RootVersion {
                expected: 2,
                found: 3
            })
        ));
        // A root planted in the store that does not chain from the pin is
        // an error, not skipped and not trusted.
        let e = build(
            &pinned,
            &[hijack],
            std::slice::from_ref(&v2),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            matches!(e, FeedError::StoredRoot { version: 2, .. }),
            "{e:?}"
        );
        let e = build(&pinned, &[b"junk".to_vec()], &[], &mut Vec::new()).unwrap_err();
        assert!(
            matches!(e, FeedError::StoredRoot { version: 2, .. }),
            "{e:?}"
        );
        // A root that holds one key in both roles is refused.
        let mut both = root("f", 1, &[&r1], 1);
        both.online_keys.keys.push(a.public().clone());
        assert!(RootChain::from_pin(&sealed(&both)).is_err());
    }

    #[test]
    fn files_signed_before_a_rotation_verify_under_their_root() {
        let (a, b) = (key(1), key(2));
        let [r1, r2] = root_keys();
        let pinned = sealed(&root("f", 1, &[&a], 1));
        let v2 = rotated(2, &b, [&r1, &r2], &[&r1, &r2]);
        let chain = build(&pinned, &[], &[v2], &mut Vec::new()).unwrap();
        assert_eq!(chain.at(1).unwrap().online_keys.keys[0].keyid, a.keyid());
        assert_eq!(chain.at(2).unwrap().online_keys.keys[0].keyid, b.keyid());
        assert!(chain.at(3).is_none() && chain.at(0).is_none());
        assert!(matches!(
            chain.signed_under("delta", 3),
            Err(FeedError::UnknownRootVersion {
                root_version: 3,
                newest: 2,
                ..
            })
        ));
        // Knowledge from version 1 came from a retired online key.
        assert!(chain.retired_since(1) && !chain.retired_since(2));
    }

    #[test]
    fn fast_forward_by_a_retired_key_is_forgotten() {
        let (a, b) = (key(1), key(2));
        let [r1, r2] = root_keys();
        let pinned = sealed(&root("f", 1, &[&a], 1));
        let v1 = chain_of(&root("f", 1, &[&a], 1));
        // A thief of `a` signed sequence 10^12; the post remembered it.
        let post = PostKnowledge {
            highest: known(1_000_000_000_000, [9; 32]),
            installed: installed("f", 4, [4; 32]),
            ..nothing()
        };
        let mut honest = checkpoint(5, [5; 32]);
        assert!(matches!(
            accept(&v1, &honest.seal(&[&a]), post),
            Err(FeedError::Rollback { .. })
        ));
        // A root rotation that keeps the same keys forgets nothing.
        let same = rotated(2, &a, [&r1, &r2], &[&r1, &r2]);
        let chain = build(&pinned, &[], &[same], &mut Vec::new()).unwrap();
        honest.root_version = 2;
        assert!(matches!(
            accept(&chain, &honest.seal(&[&a]), post),
            Err(FeedError::Rollback { .. })
        ));
        // Rotating the online key forgets what the retired key taught.
        let v2 = rotated(2, &b, [&r1, &r2], &[&r1, &r2]);
        let chain = build(&pinned, &[], &[v2], &mut Vec::new()).unwrap();
        let post = PostKnowledge {
            pin_sha256: Some(*chain.pin_sha256()),
            ..post
        };
        let a2 = accept_checkpoint(&chain, &honest.seal(&[&b]), NOW, &post).unwrap();
        assert!(a2.forgot && a2.installed_is_base && !a2.pin_changed);
        // Installed data beyond the checkpoint (forged under the retired
        // key) is no base for deltas: the post starts over.
        let ahead = PostKnowledge {
            installed: installed("f", 7, [7; 32]),
            ..post
        };
        let a3 = accept_checkpoint(&chain, &honest.seal(&[&b]), NOW, &ahead).unwrap();
        assert!(a3.forgot && !a3.installed_is_base);
        // The retired key's own checkpoints no longer verify.
        assert!(accept(&chain, &honest.seal(&[&a]), post).is_err());
    }

    /// Every chain of up to five roots whose rotations each keep the keys,
    /// change the online key or change a root key: the chain answers
    /// `at` and `retired_since` as a map from version to key sets does.
    #[test]
    fn chains_agree_with_a_model_of_their_key_sets() {
        use std::collections::BTreeMap;
        for pattern in 0..3u32.pow(4) {
            let (mut online, mut spare) = (1u8, 110u8);
            let [r1, r2] = root_keys();
            let mut roots = vec![(r1.clone(), r2.clone())];
            let mut model: BTreeMap<u64, (u8, String)> = BTreeMap::new();
            model.insert(1, (online, r2.keyid().to_string()));
            let pinned = sealed(&root("f", 1, &[&key(online)], 1));
            let mut feed = Vec::new();
            let mut p = pattern;
            for version in 2..=5u64 {
                let (a, b) = roots.last().cloned().unwrap();
                let (na, nb) = match p % 3 {
                    0 => (a.clone(), b.clone()),
                    1 => {
                        online += 1;
                        (a.clone(), b.clone())
                    }
                    _ => {
                        spare += 1;
                        (a.clone(), key(spare))
                    }
                };
                p /= 3;
                feed.push(rotated(version, &key(online), [&na, &nb], &[&a, &b, &nb]));
                model.insert(version, (online, nb.keyid().to_string()));
                roots.push((na, nb));
            }
            let chain = build(&pinned, &[], &feed, &mut Vec::new()).unwrap();
            let newest = model[&5].clone();
            for v in 0..=6u64 {
                assert_eq!(chain.at(v).map(|r| r.version), model.get(&v).map(|_| v));
                let retired = model.get(&v).is_none_or(|keys| *keys != newest);
                assert_eq!(chain.retired_since(v), retired, "pattern {pattern} v{v}");
            }
        }
    }

    #[test]
    fn a_changed_pin_sets_the_knowledge_aside() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let post = PostKnowledge {
            highest: known(9, [9; 32]),
            installed: None,
            pin_sha256: Some([0; 32]),
        };
        let cp = checkpoint(5, [5; 32]).seal(&[&a]);
        let got = accept_checkpoint(&r, &cp, NOW, &post).unwrap();
        assert!(got.pin_changed && got.forgot);
        assert!(!pin_changed(None, &r, false), "a new post has no pin yet");
        assert!(pin_changed(None, &r, true));
        assert!(!pin_changed(Some(r.pin_sha256()), &r, true));
    }

    #[test]
    fn issued_at_never_goes_back_for_a_sequence() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let cp = checkpoint(3, [3; 32]);
        let mut k = known(3, [3; 32]).unwrap();
        k.issued_at = Some(cp.issued_at + 1);
        let post = PostKnowledge {
            highest: Some(k),
            ..nothing()
        };
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), post),
            Err(FeedError::IssuedAtRollback { sequence: 3, .. })
        ));
        k.issued_at = Some(cp.issued_at);
        let post = PostKnowledge {
            highest: Some(k),
            ..nothing()
        };
        assert!(accept(&r, &cp.seal(&[&a]), post).is_ok());
        // Against the installed data's as-of too.
        let mut inst = installed("f", 3, [3; 32]).unwrap();
        inst.as_of = cp.issued_at + 5;
        let post = PostKnowledge {
            installed: Some(inst),
            ..nothing()
        };
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), post),
            Err(FeedError::IssuedAtRollback { .. })
        ));
        // A higher sequence may carry any issue time.
        let next = checkpoint(4, [4; 32]).seal(&[&a]);
        assert!(accept(&r, &next, post).is_ok());
    }

    #[test]
    fn a_checkpoint_valid_longer_than_the_root_allows_is_refused() {
        let a = key(1);
        let r = chain_of(&root("f", 1, &[&a], 1));
        let mut cp = checkpoint(3, [3; 32]);
        cp.expires_at = cp.issued_at + 1000;
        assert!(accept(&r, &cp.seal(&[&a]), nothing()).is_ok());
        cp.expires_at = cp.issued_at + 1001;
        assert!(matches!(
            accept(&r, &cp.seal(&[&a]), nothing()),
            Err(FeedError::CheckpointValidity { max: 1000, .. })
        ));
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
        let r = chain_of(&root("f", 1, &[&a], 1));
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
            root_version: 1,
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
