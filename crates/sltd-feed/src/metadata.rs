//! The signed metadata files: root, checkpoint and snapshot manifest, and the
//! rules a client applies to each before trusting it. Payloads are JSON
//! inside a signed envelope ([`crate::keys`]); a field this version does not
//! know is ignored, a missing or duplicated one is refused.

use serde::{Deserialize, Serialize};

use crate::FeedError;
use crate::encoding::{Hash32, hex, parse_hash_hex};
use crate::freshness::has_expired;
use crate::keys::{Envelope, KeySet, PublicKey, SecretKey, decode_public, seal};

/// The spec version every payload carries; a reader refuses another one.
pub const SPEC_VERSION: u32 = 2;

pub const ROOT_TYPE: &str = "application/vnd.sltd.root+json;v=2";
pub const CHECKPOINT_TYPE: &str = "application/vnd.sltd.checkpoint+json;v=2";
pub const SNAPSHOT_TYPE: &str = "application/vnd.sltd.snapshot+json;v=2";
pub const DELTA_TYPE: &str = "application/vnd.sltd.delta+json;v=2";

/// Bound on a root file before any root is trusted to give a better one.
pub const MAX_ROOT_BYTES: u64 = 1 << 20;
/// Most root versions a client trusts after its pinned one.
pub const MAX_ROOT_STEPS: u64 = 1024;

/// Size bounds a root imposes on every file a client downloads.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_checkpoint_bytes: u64,
    pub max_delta_bytes: u64,
    /// Bound on a delta's decompressed operations.
    pub max_delta_raw_bytes: u64,
    pub max_manifest_bytes: u64,
    /// Bound on one snapshot chunk, compressed and decompressed.
    pub max_chunk_bytes: u64,
    /// Bound on the number of records in a state.
    pub max_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_checkpoint_bytes: 64 << 10,
            max_delta_bytes: 256 << 20,
            max_delta_raw_bytes: 1 << 30,
            max_manifest_bytes: 16 << 20,
            max_chunk_bytes: 64 << 20,
            max_records: 1 << 30,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct KeyJson {
    keyid: String,
    public_key: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct RoleJson {
    threshold: usize,
    keys: Vec<KeyJson>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct RolesJson {
    root: RoleJson,
    online: RoleJson,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct RootJson {
    spec_version: u32,
    feed: String,
    version: u64,
    expires_at: i64,
    roles: RolesJson,
    max_checkpoint_validity: i64,
    limits: Limits,
}

/// Root metadata: who may sign what. The **root** role's keys (kept
/// offline) sign only root metadata; the **online** role's keys sign
/// checkpoints, deltas and snapshot manifests. No key holds both roles, so
/// the keys on the publishing machine can never rotate the root.
#[derive(Debug, Clone)]
pub struct Root {
    pub feed: String,
    pub version: u64,
    pub expires_at: i64,
    /// Offline keys: sign root metadata (this version's and the next's).
    pub root_keys: KeySet,
    /// Online keys: sign checkpoints, deltas and snapshot manifests.
    pub online_keys: KeySet,
    /// The longest a checkpoint may be valid (`expires_at - issued_at`,
    /// seconds): how long stolen online keys can freeze a post.
    pub max_checkpoint_validity: i64,
    pub limits: Limits,
}

fn role_json(keys: &KeySet) -> RoleJson {
    RoleJson {
        threshold: keys.threshold,
        keys: keys
            .keys
            .iter()
            .map(|k| KeyJson {
                keyid: k.keyid.clone(),
                public_key: crate::encoding::b64(k.key.as_bytes()),
            })
            .collect(),
    }
}

fn role_from_json(role: &'static str, j: &RoleJson) -> Result<KeySet, FeedError> {
    let bad =
        |reason: String| FeedError::malformed("root metadata", format!("{role} role: {reason}"));
    let mut keys: Vec<PublicKey> = Vec::new();
    for k in &j.keys {
        let pk = PublicKey::new(decode_public(&k.public_key)?);
        if pk.keyid != k.keyid {
            return Err(bad("a key id does not match its key".into()));
        }
        if keys.iter().any(|x| x.keyid == pk.keyid) {
            return Err(bad("a key is listed twice".into()));
        }
        keys.push(pk);
    }
    if j.threshold == 0 || j.threshold > keys.len() {
        return Err(bad(format!(
            "threshold {} with {} keys",
            j.threshold,
            keys.len()
        )));
    }
    Ok(KeySet {
        keys,
        threshold: j.threshold,
    })
}

impl Root {
    /// Signs this root with `signers` (root-role keys; for a rotation, old
    /// and new ones).
    pub fn seal(&self, signers: &[&SecretKey]) -> Vec<u8> {
        let j = RootJson {
            spec_version: SPEC_VERSION,
            feed: self.feed.clone(),
            version: self.version,
            expires_at: self.expires_at,
            roles: RolesJson {
                root: role_json(&self.root_keys),
                online: role_json(&self.online_keys),
            },
            max_checkpoint_validity: self.max_checkpoint_validity,
            limits: self.limits.clone(),
        };
        seal(
            ROOT_TYPE,
            &serde_json::to_vec(&j).unwrap_or_default(),
            signers,
        )
    }

    /// Reads a root without checking signatures (used only to learn the
    /// keys a root claims, before checking it signs itself).
    fn parse_unverified(bytes: &[u8]) -> Result<(Envelope, Root), FeedError> {
        if bytes.len() as u64 > MAX_ROOT_BYTES {
            return Err(FeedError::TooLarge {
                what: "root metadata".into(),
                limit: MAX_ROOT_BYTES,
            });
        }
        let env = Envelope::parse(bytes, "root metadata", ROOT_TYPE)?;
        let j: RootJson = serde_json::from_slice(&env.payload)
            .map_err(|e| FeedError::malformed("root metadata", e))?;
        if j.spec_version != SPEC_VERSION {
            return Err(FeedError::malformed(
                "root metadata",
                format!("spec version {}", j.spec_version),
            ));
        }
        let root_keys = role_from_json("root", &j.roles.root)?;
        let online_keys = role_from_json("online", &j.roles.online)?;
        if let Some(k) = root_keys
            .keys
            .iter()
            .find(|k| online_keys.keys.iter().any(|o| o.keyid == k.keyid))
        {
            return Err(FeedError::malformed(
                "root metadata",
                format!("key {} holds both the root and the online role", k.keyid),
            ));
        }
        if j.feed.is_empty() || j.feed.len() > 128 {
            return Err(FeedError::malformed(
                "root metadata",
                "feed name must be 1 to 128 bytes",
            ));
        }
        if j.max_checkpoint_validity < 1 {
            return Err(FeedError::malformed(
                "root metadata",
                "max_checkpoint_validity must be at least 1 second",
            ));
        }
        let root = Root {
            feed: j.feed,
            version: j.version,
            expires_at: j.expires_at,
            root_keys,
            online_keys,
            max_checkpoint_validity: j.max_checkpoint_validity,
            limits: j.limits,
        };
        Ok((env, root))
    }

    /// Reads the initial root a client pins (`--trust FILE`): it must be
    /// signed by a threshold of its own root-role keys.
    pub fn from_trusted_bytes(bytes: &[u8]) -> Result<Root, FeedError> {
        let (env, root) = Self::parse_unverified(bytes)?;
        env.verify(&root.root_keys, "root metadata")?;
        Ok(root)
    }

    /// Verifies `bytes` as the next root after `self`: version exactly
    /// `self.version + 1`, the same feed, signed by a threshold of the old
    /// root-role keys and by a threshold of the new ones.
    pub fn verify_next(&self, bytes: &[u8]) -> Result<Root, FeedError> {
        let (env, next) = Self::parse_unverified(bytes)?;
        env.verify(&self.root_keys, "root rotation (old keys)")?;
        env.verify(&next.root_keys, "root rotation (new keys)")?;
        if next.version != self.version + 1 {
            return Err(FeedError::RootVersion {
                expected: self.version + 1,
                found: next.version,
            });
        }
        if next.feed != self.feed {
            return Err(FeedError::FeedMismatch {
                expected: self.feed.clone(),
                found: next.feed,
            });
        }
        Ok(next)
    }

    /// Refuses an expired root.
    pub fn check_expiry(&self, now: i64) -> Result<(), FeedError> {
        if has_expired(now, self.expires_at) {
            return Err(FeedError::RootExpired {
                version: self.version,
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }

    pub(crate) fn check_feed(&self, found: &str) -> Result<(), FeedError> {
        if found != self.feed {
            return Err(FeedError::FeedMismatch {
                expected: self.feed.clone(),
                found: found.into(),
            });
        }
        Ok(())
    }
}

/// The roots a post trusts, oldest to newest: a file signed before a
/// rotation (a delta, a snapshot manifest) names the root version whose
/// online keys signed it and is checked against that root, while sizes are
/// bounded by the newest. A single [`Root`] is a history of one version.
pub trait RootHistory {
    /// The newest trusted root.
    fn newest(&self) -> &Root;
    /// The trusted root of `version`, if it is one of these.
    fn at(&self, version: u64) -> Option<&Root>;

    /// The root that `what`, naming `version`, must verify under: refused
    /// when the post does not trust that version.
    fn signed_under(&self, what: &'static str, version: u64) -> Result<&Root, FeedError> {
        self.at(version)
            .ok_or_else(|| FeedError::UnknownRootVersion {
                what,
                root_version: version,
                newest: self.newest().version,
            })
    }
}

impl RootHistory for Root {
    fn newest(&self) -> &Root {
        self
    }

    fn at(&self, version: u64) -> Option<&Root> {
        (version == self.version).then_some(self)
    }
}

/// A file named and bounded by signed metadata: its length and SHA-256.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub sequence: u64,
    pub length: u64,
    pub sha256: String,
}

impl FileRef {
    pub fn hash(&self) -> Option<Hash32> {
        parse_hash_hex(&self.sha256)
    }

    /// Checks that `bytes`, the file `what`, are exactly the signed file:
    /// its length (`Truncated`, `TooLarge`) and its hash (`HashMismatch`).
    pub fn check(&self, what: &str, bytes: &[u8]) -> Result<(), FeedError> {
        let len = bytes.len() as u64;
        if len < self.length {
            return Err(FeedError::Truncated {
                what: what.into(),
                expected: self.length,
                actual: len,
            });
        }
        if len > self.length {
            return Err(FeedError::TooLarge {
                what: what.into(),
                limit: self.length,
            });
        }
        if self.hash() != Some(crate::sha256(bytes)) {
            return Err(FeedError::HashMismatch { what: what.into() });
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct CheckpointJson {
    spec_version: u32,
    feed: String,
    root_version: u64,
    sequence: u64,
    state_root: String,
    record_count: u64,
    issued_at: i64,
    expires_at: i64,
    // Both pointers must be present, `null` when there is nothing to point
    // at: serde would read a missing `Option` as `None`, giving a second
    // encoding of the same checkpoint.
    #[serde(deserialize_with = "Option::deserialize")]
    delta: Option<FileRef>,
    #[serde(deserialize_with = "Option::deserialize")]
    snapshot: Option<FileRef>,
}

/// The signed statement "at `issued_at`, feed `feed` is at `sequence` with
/// state root `state_root`; believe it until `expires_at`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub feed: String,
    pub root_version: u64,
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The delta that produced this sequence (none at sequence 0).
    pub delta: Option<FileRef>,
    /// The newest snapshot's manifest.
    pub snapshot: Option<FileRef>,
}

fn hash_field(what: &'static str, text: &str) -> Result<Hash32, FeedError> {
    parse_hash_hex(text)
        .ok_or_else(|| FeedError::malformed(what, "a hash is not 64 lowercase hex digits"))
}

impl Checkpoint {
    pub fn seal(&self, signers: &[&SecretKey]) -> Vec<u8> {
        let j = CheckpointJson {
            spec_version: SPEC_VERSION,
            feed: self.feed.clone(),
            root_version: self.root_version,
            sequence: self.sequence,
            state_root: hex(&self.state_root),
            record_count: self.record_count,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            delta: self.delta.clone(),
            snapshot: self.snapshot.clone(),
        };
        seal(
            CHECKPOINT_TYPE,
            &serde_json::to_vec(&j).unwrap_or_default(),
            signers,
        )
    }

    /// The root version a checkpoint names, read without verification (of
    /// a checkpoint a post stored after verifying it). Never used to decide
    /// which roots to trust: the client probes the feed for those.
    pub fn claimed_root_version(bytes: &[u8]) -> Result<u64, FeedError> {
        let env = Envelope::parse(bytes, "checkpoint", CHECKPOINT_TYPE)?;
        let j: CheckpointJson = serde_json::from_slice(&env.payload)
            .map_err(|e| FeedError::malformed("checkpoint", e))?;
        Ok(j.root_version)
    }

    /// Verifies a checkpoint under `root` at time `now`: bounded size,
    /// signatures, feed name, root version and expiry. Rollback and fork
    /// checks against what the client knows are in [`Checkpoint::check_against`].
    pub fn verify(root: &Root, bytes: &[u8], now: i64) -> Result<Checkpoint, FeedError> {
        Self::verify_signed(root, bytes).and_then(|c| {
            if has_expired(now, c.expires_at) {
                return Err(FeedError::CheckpointExpired {
                    expires_at: c.expires_at,
                    now,
                });
            }
            Ok(c)
        })
    }

    /// As [`Checkpoint::verify`] without the expiry check (for reading back
    /// a checkpoint installed earlier).
    pub fn verify_signed(root: &Root, bytes: &[u8]) -> Result<Checkpoint, FeedError> {
        if bytes.len() as u64 > root.limits.max_checkpoint_bytes {
            return Err(FeedError::TooLarge {
                what: "checkpoint".into(),
                limit: root.limits.max_checkpoint_bytes,
            });
        }
        let env = Envelope::parse(bytes, "checkpoint", CHECKPOINT_TYPE)?;
        env.verify(&root.online_keys, "checkpoint")?;
        let j: CheckpointJson = serde_json::from_slice(&env.payload)
            .map_err(|e| FeedError::malformed("checkpoint", e))?;
        if j.spec_version != SPEC_VERSION {
            return Err(FeedError::malformed(
                "checkpoint",
                format!("spec version {}", j.spec_version),
            ));
        }
        root.check_feed(&j.feed)?;
        if j.root_version != root.version {
            return Err(FeedError::CheckpointRootVersion {
                signed_under: root.version,
                claimed: j.root_version,
            });
        }
        if j.expires_at.saturating_sub(j.issued_at) > root.max_checkpoint_validity {
            return Err(FeedError::CheckpointValidity {
                issued_at: j.issued_at,
                expires_at: j.expires_at,
                max: root.max_checkpoint_validity,
            });
        }
        if j.record_count > root.limits.max_records {
            return Err(FeedError::TooLarge {
                what: "checkpoint record count".into(),
                limit: root.limits.max_records,
            });
        }
        for r in j.delta.iter().chain(&j.snapshot) {
            hash_field("checkpoint", &r.sha256)?;
        }
        check_pointers(root, j.sequence, j.delta.as_ref(), j.snapshot.as_ref())?;
        Ok(Checkpoint {
            feed: j.feed,
            root_version: j.root_version,
            sequence: j.sequence,
            state_root: hash_field("checkpoint", &j.state_root)?,
            record_count: j.record_count,
            issued_at: j.issued_at,
            expires_at: j.expires_at,
            delta: j.delta,
            snapshot: j.snapshot,
        })
    }

    /// As [`Checkpoint::check_against`] for the installed state, whose
    /// record count is known too: at the installed sequence the signed
    /// `record_count` must be the installed one.
    pub fn check_against_installed(
        &self,
        sequence: u64,
        state_root: &Hash32,
        record_count: u64,
    ) -> Result<(), FeedError> {
        self.check_against(sequence, state_root)?;
        if self.sequence == sequence {
            self.check_state(state_root, record_count)?;
        }
        Ok(())
    }

    /// Checks that a state the client holds at this checkpoint's sequence
    /// is the one it signs: the same state root and the same record count.
    pub fn check_state(&self, state_root: &Hash32, record_count: u64) -> Result<(), FeedError> {
        crate::trust::check_state_reached(
            "checkpoint record_count",
            self.sequence,
            &self.state_root,
            self.record_count,
            crate::trust::ReachedState {
                root: state_root,
                count: record_count,
            },
        )
    }

    /// Refuses a checkpoint that goes back (`Rollback`) or that names another
    /// root for a sequence already verified (`Fork`).
    pub fn check_against(&self, known_sequence: u64, known_root: &Hash32) -> Result<(), FeedError> {
        if self.sequence < known_sequence {
            return Err(FeedError::Rollback {
                known: known_sequence,
                offered: self.sequence,
            });
        }
        if self.sequence == known_sequence && self.state_root != *known_root {
            return Err(FeedError::Fork {
                sequence: self.sequence,
                known_root: hex(known_root),
                offered_root: hex(&self.state_root),
            });
        }
        Ok(())
    }
}

/// The checkpoint's pointers must agree with its sequence: the delta is
/// `null` exactly at sequence 0 and otherwise the one that produced the
/// sequence; a snapshot is not newer than the checkpoint; both fit the
/// root's bounds for the files they name.
fn check_pointers(
    root: &Root,
    sequence: u64,
    delta: Option<&FileRef>,
    snapshot: Option<&FileRef>,
) -> Result<(), FeedError> {
    let bad = |reason: String| Err(FeedError::malformed("checkpoint", reason));
    match delta {
        None if sequence > 0 => return bad(format!("sequence {sequence} without its delta")),
        Some(_) if sequence == 0 => return bad("a delta at sequence 0".into()),
        Some(d) if d.sequence != sequence => {
            return bad(format!(
                "the delta pointer names sequence {}, the checkpoint is at {sequence}",
                d.sequence
            ));
        }
        Some(d) if d.length > root.limits.max_delta_bytes => {
            return Err(FeedError::TooLarge {
                what: format!("delta {} (as pinned by the checkpoint)", d.sequence),
                limit: root.limits.max_delta_bytes,
            });
        }
        _ => {}
    }
    if let Some(s) = snapshot {
        if s.sequence > sequence {
            return bad(format!(
                "the snapshot pointer names sequence {}, after the checkpoint's {sequence}",
                s.sequence
            ));
        }
        if s.length > root.limits.max_manifest_bytes {
            return Err(FeedError::TooLarge {
                what: format!(
                    "snapshot manifest {} (as pinned by the checkpoint)",
                    s.sequence
                ),
                limit: root.limits.max_manifest_bytes,
            });
        }
    }
    Ok(())
}

/// One chunk of a snapshot, as listed in its manifest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// File name in the snapshot's directory.
    pub file: String,
    pub length: u64,
    pub raw_length: u64,
    pub records: u64,
    pub sha256: String,
}

impl ChunkRef {
    /// The chunk as a signed file reference of the snapshot at `sequence`
    /// (its length and hash), to bound and check its download.
    pub fn file_ref(&self, sequence: u64) -> FileRef {
        FileRef {
            sequence,
            length: self.length,
            sha256: self.sha256.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct ManifestJson {
    spec_version: u32,
    feed: String,
    root_version: u64,
    sequence: u64,
    state_root: String,
    record_count: u64,
    issued_at: i64,
    chunks: Vec<ChunkRef>,
}

/// A snapshot: the full record set at `sequence`, in chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotManifest {
    pub feed: String,
    /// The root whose online keys signed the manifest.
    pub root_version: u64,
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
    pub issued_at: i64,
    pub chunks: Vec<ChunkRef>,
}

impl SnapshotManifest {
    pub fn seal(&self, signers: &[&SecretKey]) -> Vec<u8> {
        let j = ManifestJson {
            spec_version: SPEC_VERSION,
            feed: self.feed.clone(),
            root_version: self.root_version,
            sequence: self.sequence,
            state_root: hex(&self.state_root),
            record_count: self.record_count,
            issued_at: self.issued_at,
            chunks: self.chunks.clone(),
        };
        seal(
            SNAPSHOT_TYPE,
            &serde_json::to_vec(&j).unwrap_or_default(),
            signers,
        )
    }

    /// Verifies a manifest: signed by the online keys of the root version
    /// it names (one of `roots`), bounded by the newest root's limits. The
    /// caller has already checked its length and hash against the
    /// checkpoint's pointer.
    pub fn verify(roots: &impl RootHistory, bytes: &[u8]) -> Result<SnapshotManifest, FeedError> {
        let root = roots.newest();
        if bytes.len() as u64 > root.limits.max_manifest_bytes {
            return Err(FeedError::TooLarge {
                what: "snapshot manifest".into(),
                limit: root.limits.max_manifest_bytes,
            });
        }
        let env = Envelope::parse(bytes, "snapshot manifest", SNAPSHOT_TYPE)?;
        let j: ManifestJson = serde_json::from_slice(&env.payload)
            .map_err(|e| FeedError::malformed("snapshot manifest", e))?;
        let signer = roots.signed_under("snapshot manifest", j.root_version)?;
        env.verify(&signer.online_keys, "snapshot manifest")?;
        if j.spec_version != SPEC_VERSION {
            return Err(FeedError::malformed("snapshot manifest", "spec version"));
        }
        root.check_feed(&j.feed)?;
        let mut total = 0u64;
        for (i, c) in j.chunks.iter().enumerate() {
            hash_field("snapshot manifest", &c.sha256)?;
            if c.file != crate::layout::chunk_file_name(i) {
                return Err(FeedError::malformed(
                    "snapshot manifest",
                    "chunk names out of order",
                ));
            }
            if c.records == 0 {
                return Err(FeedError::malformed(
                    "snapshot manifest",
                    format!("chunk {} holds no records", c.file),
                ));
            }
            if c.length > root.limits.max_chunk_bytes || c.raw_length > root.limits.max_chunk_bytes
            {
                return Err(FeedError::TooLarge {
                    what: format!("snapshot chunk {}", c.file),
                    limit: root.limits.max_chunk_bytes,
                });
            }
            total = total.saturating_add(c.records);
        }
        if total != j.record_count || j.record_count > root.limits.max_records {
            return Err(FeedError::malformed(
                "snapshot manifest",
                "chunk record counts do not add up",
            ));
        }
        Ok(SnapshotManifest {
            feed: j.feed,
            root_version: j.root_version,
            sequence: j.sequence,
            state_root: hash_field("snapshot manifest", &j.state_root)?,
            record_count: j.record_count,
            issued_at: j.issued_at,
            chunks: j.chunks,
        })
    }
}
