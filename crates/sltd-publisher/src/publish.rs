//! The publisher: creates a feed directory, turns each full export into a
//! signed delta and a new checkpoint, writes snapshots, rotates the root.
//!
//! The publisher's own copy of the state lives in `FEED/.publisher/` (never
//! served). A publication writes, in order: the delta, the snapshot if any,
//! the publisher state, and last the checkpoint, the one file that makes
//! the new sequence visible. A publisher killed in between leaves a state
//! one sequence ahead of the checkpoint; the next publication finishes the
//! interrupted one first (it signs the checkpoint for it).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::keys::{KeySet, PublicKey, SecretKey};
use sltd_feed::metadata::{Checkpoint, FileRef, Limits, Root, SnapshotManifest};
use sltd_feed::snapshot::{DEFAULT_CHUNK_RAW_BYTES, encode_chunks};
use sltd_feed::state::StateHash;
use sltd_feed::{
    FeedError, Hash32, decode_records, decompress_capped, encode_record, hex, layout, sha256,
};
use sltd_model::{DocumentKey, Record};

use crate::PublishError;
use crate::error::write_atomically;

const STATE_FILE: &str = "state.bin";
const CONFIG_FILE: &str = "config.json";
const STATE_MAGIC: &[u8; 8] = b"SLTDPST1";
/// Snapshots kept besides the newest (a client may be downloading one).
const SNAPSHOTS_KEPT: usize = 2;

/// Settings chosen at `init` and kept in `.publisher/config.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// Seconds a checkpoint stays valid after it is issued.
    pub checkpoint_ttl: i64,
    /// A snapshot is written every this many sequences (0: only on request).
    pub snapshot_every: u64,
    /// A snapshot is also written when a delta changes more than this
    /// fraction (per mille) of the records.
    pub snapshot_change_permille: u64,
    /// Uncompressed bytes per snapshot chunk.
    pub chunk_raw_bytes: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            checkpoint_ttl: 7 * 86_400,
            snapshot_every: 100,
            snapshot_change_permille: 250,
            chunk_raw_bytes: DEFAULT_CHUNK_RAW_BYTES,
        }
    }
}

/// The fewest root-role signatures a root may require: one stolen (or
/// lost) offline key must neither rotate the root nor block a rotation.
pub const MIN_ROOT_THRESHOLD: usize = 2;

/// Keys of one role and how many of them must sign.
#[derive(Debug, Clone)]
pub struct RoleKeys {
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

impl RoleKeys {
    fn key_set(&self) -> KeySet {
        KeySet {
            keys: self.keys.clone(),
            threshold: self.threshold,
        }
    }
}

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub feed: String,
    /// Offline keys: sign root metadata only.
    pub root_keys: RoleKeys,
    /// Online keys: sign checkpoints, deltas and snapshot manifests.
    pub online_keys: RoleKeys,
    pub root_expires_at: i64,
    /// The longest validity the root allows a checkpoint; at least
    /// `config.checkpoint_ttl`.
    pub max_checkpoint_validity: i64,
    pub limits: Limits,
    pub config: PublisherConfig,
    pub now: i64,
}

/// A root rotation: what changes (`None` keeps the current value).
#[derive(Debug, Clone)]
pub struct RotateOptions {
    pub root_keys: Option<RoleKeys>,
    pub online_keys: Option<RoleKeys>,
    pub max_checkpoint_validity: Option<i64>,
    pub expires_at: i64,
    pub now: i64,
}

/// Options of one publication.
#[derive(Debug, Clone, Copy)]
pub struct PublishOptions {
    pub now: i64,
    /// Write a snapshot whatever the policy says.
    pub snapshot: bool,
    /// Refuse a publication that deletes more than this per mille of the
    /// published records (a truncated export must not empty the feed).
    pub max_delete_permille: Option<u64>,
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Size of the delta file (0 when nothing changed).
    pub delta_bytes: u64,
    /// Sequence of a snapshot written by this publication.
    pub snapshot: Option<u64>,
    pub snapshot_bytes: u64,
    /// Nothing changed: only the checkpoint was refreshed.
    pub unchanged: bool,
}

/// A feed directory opened for publishing.
#[derive(Debug)]
pub struct Publisher {
    dir: PathBuf,
    root: Root,
    checkpoint: Checkpoint,
    config: PublisherConfig,
    /// The state at `state_sequence`, strictly ascending by key.
    state: Vec<Record>,
    state_sequence: u64,
    state_root: Hash32,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    PublishError::io(path)
}

/// Refuses a root-role threshold below [`MIN_ROOT_THRESHOLD`].
fn check_root_threshold(keys: &KeySet) -> Result<(), PublishError> {
    if keys.threshold < MIN_ROOT_THRESHOLD {
        return Err(PublishError::Refused {
            reason: format!(
                "the root role needs a threshold of at least {MIN_ROOT_THRESHOLD} offline keys (asked for {}): \
                 one stolen key must not be able to rotate the root",
                keys.threshold
            ),
        });
    }
    if keys.keys.len() < keys.threshold {
        return Err(PublishError::Refused {
            reason: format!(
                "the root role lists {} key(s), fewer than its threshold of {}: give at least {MIN_ROOT_THRESHOLD} root keys",
                keys.keys.len(),
                keys.threshold
            ),
        });
    }
    Ok(())
}

/// Chooses from `keys` those the root lists, and checks they reach its
/// threshold.
fn signers_for<'k>(
    keys: &KeySet,
    available: &[&'k SecretKey],
    role: &str,
) -> Result<Vec<&'k SecretKey>, PublishError> {
    let chosen: Vec<&SecretKey> = available
        .iter()
        .copied()
        .filter(|k| keys.keys.iter().any(|p| p.keyid == k.keyid()))
        .collect();
    if chosen.len() < keys.threshold {
        return Err(PublishError::Refused {
            reason: format!(
                "{role} needs {} signing key(s) listed in the root; {} given",
                keys.threshold,
                chosen.len()
            ),
        });
    }
    Ok(chosen)
}

fn encode_state(sequence: u64, root: &Hash32, records: &[Record]) -> Result<Vec<u8>, PublishError> {
    let mut raw = Vec::with_capacity(records.len() * 32);
    for r in records {
        encode_record(r, &mut raw);
    }
    let z = zstd::bulk::compress(&raw, 3).map_err(|e| FeedError::Encode {
        what: "publisher state",
        reason: format!("zstd: {e}"),
    })?;
    let mut out = Vec::with_capacity(z.len() + 56);
    out.extend_from_slice(STATE_MAGIC);
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(root);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&z);
    Ok(out)
}

/// Length of the publisher state's fixed header: magic, sequence, root,
/// count and raw length.
const STATE_HEADER: usize = 8 + 8 + 32 + 8 + 8;

fn decode_state(bytes: &[u8]) -> Result<(u64, Hash32, Vec<Record>), PublishError> {
    let malformed = |reason| PublishError::FeedDir {
        reason: format!("publisher state: {reason}"),
    };
    if bytes.len() < STATE_HEADER || &bytes[..8] != STATE_MAGIC {
        return Err(malformed("bad magic or too short"));
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let seq = u64_at(8);
    let mut root: Hash32 = [0; 32];
    root.copy_from_slice(&bytes[16..48]);
    let count = u64_at(48);
    let raw_len = u64_at(56);
    let raw = decompress_capped(&bytes[STATE_HEADER..], raw_len, "publisher state")?;
    let records = decode_records(&raw, "publisher state")?;
    if records.len() as u64 != count {
        return Err(malformed("record count"));
    }
    Ok((seq, root, records))
}

/// Sorts records by key and keeps, for each key, the one with the greatest
/// [`Record::precedence`], as the index builder does. Returns the number
/// dropped.
pub fn canonicalise(records: &mut Vec<Record>) -> u64 {
    records.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| a.precedence(b)));
    let before = records.len();
    // Keep the last of each run of equal keys (the greatest precedence).
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    for r in records.drain(..) {
        match out.last_mut() {
            Some(last) if last.key == r.key => *last = r,
            _ => out.push(r),
        }
    }
    *records = out;
    (before - records.len()) as u64
}

/// The operations that turn `old` into `new` (both canonical).
pub fn diff(old: &[Record], new: &[Record]) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.key == n.key => {
                if o != n {
                    ops.push(Op::Upsert(*n));
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.key < n.key => {
                ops.push(Op::Delete(o.key));
                i += 1;
            }
            (Some(o), None) => {
                ops.push(Op::Delete(o.key));
                i += 1;
            }
            (_, Some(n)) => {
                ops.push(Op::Upsert(*n));
                j += 1;
            }
            (None, None) => break,
        }
    }
    ops
}

/// The state root of a canonical record set, hashed on two threads.
pub fn state_of(records: &[Record]) -> StateHash {
    if records.len() < 100_000 {
        return StateHash::of(records);
    }
    let (a, b) = records.split_at(records.len() / 2);
    let (mut ha, hb) = std::thread::scope(|s| {
        let t = s.spawn(|| StateHash::of(b));
        (StateHash::of(a), t.join().unwrap_or_default())
    });
    ha.merge(&hb);
    ha
}

impl Publisher {
    /// Creates a feed in `dir` (which must not hold one): writes
    /// `1.root.json`, an empty state and a signed checkpoint at sequence 0.
    pub fn init(
        dir: &Path,
        opts: &InitOptions,
        signers: &[&SecretKey],
    ) -> Result<Publisher, PublishError> {
        let root_path = dir.join(layout::root_path(1));
        if root_path.exists() {
            return Err(PublishError::FeedDir {
                reason: format!("{} already holds a feed", dir.display()),
            });
        }
        let root = Root {
            feed: opts.feed.clone(),
            version: 1,
            expires_at: opts.root_expires_at,
            root_keys: opts.root_keys.key_set(),
            online_keys: opts.online_keys.key_set(),
            max_checkpoint_validity: opts.max_checkpoint_validity,
            limits: opts.limits.clone(),
        };
        check_root_threshold(&root.root_keys)?;
        if opts.config.checkpoint_ttl > opts.max_checkpoint_validity {
            return Err(PublishError::Refused {
                reason: format!(
                    "the checkpoint TTL ({} s) is longer than the validity the root allows ({} s)",
                    opts.config.checkpoint_ttl, opts.max_checkpoint_validity
                ),
            });
        }
        let root_signers = signers_for(&root.root_keys, signers, "the root")?;
        let chosen = signers_for(&root.online_keys, signers, "the checkpoint")?;
        let bytes = root.seal(&root_signers);
        // Check it the way a client will.
        Root::from_trusted_bytes(&bytes)?;
        let pdir = dir.join(layout::PUBLISHER_DIR);
        fs::create_dir_all(&pdir).map_err(io(&pdir))?;
        for sub in [layout::DELTAS_DIR, layout::SNAPSHOTS_DIR] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let mut cfg = serde_json::to_vec_pretty(&opts.config).unwrap_or_default();
        cfg.push(b'\n');
        write_atomically(&pdir.join(CONFIG_FILE), &cfg)?;
        let empty = StateHash::empty().root();
        write_atomically(&pdir.join(STATE_FILE), &encode_state(0, &empty, &[])?)?;
        write_atomically(&root_path, &bytes)?;
        let checkpoint = Checkpoint {
            feed: root.feed.clone(),
            root_version: 1,
            sequence: 0,
            state_root: empty,
            record_count: 0,
            issued_at: opts.now,
            expires_at: opts.now + opts.config.checkpoint_ttl,
            delta: None,
            snapshot: None,
        };
        // Check it the way a client will.
        Checkpoint::verify(&root, &checkpoint.seal(&chosen), opts.now)?;
        write_atomically(&dir.join(layout::CHECKPOINT), &checkpoint.seal(&chosen))?;
        Publisher::open(dir)
    }

    /// Opens an existing feed: walks the root chain from `1.root.json`,
    /// reads the checkpoint and the publisher state.
    pub fn open(dir: &Path) -> Result<Publisher, PublishError> {
        let first = dir.join(layout::root_path(1));
        let bytes = fs::read(&first).map_err(io(&first))?;
        let mut root = Root::from_trusted_bytes(&bytes)?;
        loop {
            let next = dir.join(layout::root_path(root.version + 1));
            match fs::read(&next) {
                Ok(b) => root = root.verify_next(&b)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => {
                    return Err(PublishError::Io {
                        path: next,
                        source: e,
                    });
                }
            }
        }
        let cp_path = dir.join(layout::CHECKPOINT);
        let cp_bytes = fs::read(&cp_path).map_err(io(&cp_path))?;
        let checkpoint = match Checkpoint::verify_signed(&root, &cp_bytes) {
            Ok(c) => c,
            // Just after a rotation the checkpoint may still be signed under
            // the previous root; the next publication re-signs it.
            Err(FeedError::CheckpointRootVersion { .. })
            | Err(FeedError::UnknownKey { .. })
            | Err(FeedError::BelowThreshold { .. })
                if root.version > 1 =>
            {
                let mut prev = Root::from_trusted_bytes(&bytes)?;
                while prev.version + 1 < root.version {
                    let p = dir.join(layout::root_path(prev.version + 1));
                    prev = prev.verify_next(&fs::read(&p).map_err(io(&p))?)?;
                }
                Checkpoint::verify_signed(&prev, &cp_bytes)?
            }
            Err(e) => return Err(e.into()),
        };
        let pdir = dir.join(layout::PUBLISHER_DIR);
        let cfg_path = pdir.join(CONFIG_FILE);
        let config: PublisherConfig =
            serde_json::from_slice(&fs::read(&cfg_path).map_err(io(&cfg_path))?).map_err(|e| {
                PublishError::FeedDir {
                    reason: format!("publisher config {}: {e}", cfg_path.display()),
                }
            })?;
        let st_path = pdir.join(STATE_FILE);
        let (state_sequence, state_root, state) =
            decode_state(&fs::read(&st_path).map_err(io(&st_path))?)?;
        if state_sequence != checkpoint.sequence && state_sequence != checkpoint.sequence + 1 {
            return Err(PublishError::FeedDir {
                reason: format!(
                    "publisher state is at sequence {state_sequence} but the checkpoint at {}",
                    checkpoint.sequence
                ),
            });
        }
        Ok(Publisher {
            dir: dir.to_path_buf(),
            root,
            checkpoint,
            config,
            state,
            state_sequence,
            state_root,
        })
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The published records, ascending by key.
    pub fn records(&self) -> &[Record] {
        &self.state
    }

    fn file_ref(&self, rel: &str, sequence: u64) -> Result<FileRef, PublishError> {
        let p = self.dir.join(rel);
        let b = fs::read(&p).map_err(io(&p))?;
        Ok(FileRef {
            sequence,
            length: b.len() as u64,
            sha256: hex(&sha256(&b)),
        })
    }

    fn write_checkpoint(
        &mut self,
        signers: &[&SecretKey],
        now: i64,
        delta: Option<FileRef>,
        snapshot: Option<FileRef>,
    ) -> Result<(), PublishError> {
        let chosen = signers_for(&self.root.online_keys, signers, "the checkpoint")?;
        let cp = Checkpoint {
            feed: self.root.feed.clone(),
            root_version: self.root.version,
            sequence: self.state_sequence,
            state_root: self.state_root,
            record_count: self.state.len() as u64,
            issued_at: now,
            // A rotation may have lowered the validity the root allows.
            expires_at: now
                + self
                    .config
                    .checkpoint_ttl
                    .min(self.root.max_checkpoint_validity),
            delta,
            snapshot,
        };
        write_atomically(&self.dir.join(layout::CHECKPOINT), &cp.seal(&chosen))?;
        self.checkpoint = cp;
        Ok(())
    }

    fn latest_snapshot_ref(&self) -> Result<Option<FileRef>, PublishError> {
        let seqs = self.snapshot_sequences()?;
        match seqs.last() {
            Some(&s) if s <= self.state_sequence => {
                let rel = layout::manifest_path(s);
                if self.dir.join(&rel).exists() {
                    return self.file_ref(&rel, s).map(Some);
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Sequences of the complete snapshots (those whose manifest, written
    /// last, is there), ascending.
    fn snapshot_sequences(&self) -> Result<Vec<u64>, PublishError> {
        let dir = self.dir.join(layout::SNAPSHOTS_DIR);
        let mut v = Vec::new();
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                if let Some(s) = e
                    .file_name()
                    .to_str()
                    .and_then(layout::parse_snapshot_dir_name)
                    && self.dir.join(layout::manifest_path(s)).exists()
                {
                    v.push(s);
                }
            }
        }
        v.sort_unstable();
        Ok(v)
    }

    /// Signs a checkpoint for a publication that was interrupted after the
    /// publisher state was written; does nothing otherwise.
    fn finish_interrupted(&mut self, signers: &[&SecretKey], now: i64) -> Result<(), PublishError> {
        if self.state_sequence == self.checkpoint.sequence {
            return Ok(());
        }
        tracing::warn!(
            sequence = self.state_sequence,
            "finishing an interrupted publication"
        );
        let delta = self.file_ref(
            &layout::delta_path(self.state_sequence),
            self.state_sequence,
        )?;
        let snapshot = self.latest_snapshot_ref()?;
        self.write_checkpoint(signers, now, Some(delta), snapshot)
    }

    /// Re-signs the checkpoint with a new issue time and expiry, changing
    /// nothing else (the feed's heartbeat against freeze attacks).
    pub fn refresh(&mut self, signers: &[&SecretKey], now: i64) -> Result<(), PublishError> {
        self.finish_interrupted(signers, now)?;
        let delta = self.checkpoint.delta.clone();
        let snapshot = self.checkpoint.snapshot.clone();
        self.write_checkpoint(signers, now, delta, snapshot)
    }

    /// Publishes the full export `records`: diffs it against the current
    /// state and, when something changed, writes a delta (and a snapshot
    /// when asked or when the policy says so); always signs a new checkpoint.
    pub fn publish(
        &mut self,
        mut records: Vec<Record>,
        signers: &[&SecretKey],
        opts: PublishOptions,
    ) -> Result<PublishReport, PublishError> {
        self.finish_interrupted(signers, opts.now)?;
        let chosen = signers_for(&self.root.online_keys, signers, "the delta")?;
        canonicalise(&mut records);
        if records.len() as u64 > self.root.limits.max_records {
            return Err(PublishError::Refused {
                reason: format!(
                    "{} records exceed the root's limit of {}",
                    records.len(),
                    self.root.limits.max_records
                ),
            });
        }
        let ops = diff(&self.state, &records);
        if let Some(limit) = opts.max_delete_permille {
            let deletes = ops.iter().filter(|o| matches!(o, Op::Delete(_))).count() as u64;
            if deletes.saturating_mul(1000) > (self.state.len() as u64).saturating_mul(limit) {
                return Err(PublishError::Refused {
                    reason: format!(
                        "the export would delete {deletes} of {} published records, more than {limit} per mille; \
                         check the export, or allow it explicitly",
                        self.state.len()
                    ),
                });
            }
        }
        if ops.is_empty() {
            let mut snapshot = None;
            let mut snapshot_bytes = 0;
            let have = self.snapshot_sequences()?.contains(&self.state_sequence);
            if opts.snapshot && !have {
                snapshot_bytes = self.write_snapshot(
                    self.state_sequence,
                    self.state_root,
                    &self.state,
                    opts.now,
                    &chosen,
                )?;
                snapshot = Some(self.state_sequence);
            }
            let delta = self.checkpoint.delta.clone();
            let snap_ref = self.latest_snapshot_ref()?;
            self.write_checkpoint(signers, opts.now, delta, snap_ref)?;
            return Ok(PublishReport {
                sequence: self.state_sequence,
                state_root: self.state_root,
                record_count: self.state.len() as u64,
                upserts: 0,
                deletes: 0,
                delta_bytes: 0,
                snapshot,
                snapshot_bytes,
                unchanged: true,
            });
        }
        let new_root = state_of(&records).root();
        let sequence = self.state_sequence + 1;
        let upserts = ops.iter().filter(|o| matches!(o, Op::Upsert(_))).count() as u64;
        let deletes = ops.len() as u64 - upserts;
        let header = DeltaHeader {
            feed: self.root.feed.clone(),
            root_version: self.root.version,
            sequence,
            prev_state_root: self.state_root,
            state_root: new_root,
            prev_record_count: self.state.len() as u64,
            record_count: records.len() as u64,
            issued_at: opts.now,
            upserts,
            deletes,
        };
        let delta_bytes = delta::encode(&header, &ops, &chosen)?;
        if delta_bytes.len() as u64 > self.root.limits.max_delta_bytes {
            return Err(PublishError::Refused {
                reason: format!(
                    "the delta is {} bytes, over the root's limit of {}; raise the limit with a root rotation",
                    delta_bytes.len(),
                    self.root.limits.max_delta_bytes
                ),
            });
        }
        let delta_rel = layout::delta_path(sequence);
        let delta_path = self.dir.join(&delta_rel);
        if let Some(p) = delta_path.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        write_atomically(&delta_path, &delta_bytes)?;
        let delta_ref = FileRef {
            sequence,
            length: delta_bytes.len() as u64,
            sha256: hex(&sha256(&delta_bytes)),
        };
        let policy_snapshot = (self.config.snapshot_every > 0
            && sequence.is_multiple_of(self.config.snapshot_every))
            || (ops.len() as u64).saturating_mul(1000)
                > (self.state.len().max(records.len()) as u64)
                    .saturating_mul(self.config.snapshot_change_permille);
        let mut snapshot_bytes = 0;
        let snapshot = if opts.snapshot || policy_snapshot {
            snapshot_bytes =
                self.write_snapshot(sequence, new_root, &records, opts.now, &chosen)?;
            Some(sequence)
        } else {
            None
        };
        let pdir = self.dir.join(layout::PUBLISHER_DIR);
        write_atomically(
            &pdir.join(STATE_FILE),
            &encode_state(sequence, &new_root, &records)?,
        )?;
        self.state = records;
        self.state_sequence = sequence;
        self.state_root = new_root;
        let snap_ref = self.latest_snapshot_ref()?;
        self.write_checkpoint(signers, opts.now, Some(delta_ref), snap_ref)?;
        self.prune_snapshots()?;
        Ok(PublishReport {
            sequence,
            state_root: new_root,
            record_count: self.state.len() as u64,
            upserts,
            deletes,
            delta_bytes: delta_bytes.len() as u64,
            snapshot,
            snapshot_bytes,
            unchanged: false,
        })
    }

    fn write_snapshot(
        &self,
        sequence: u64,
        state_root: Hash32,
        records: &[Record],
        now: i64,
        signers: &[&SecretKey],
    ) -> Result<u64, PublishError> {
        let dir = self.dir.join(layout::snapshot_dir(sequence));
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let chunks = encode_chunks(records, self.config.chunk_raw_bytes)?;
        let mut total = 0u64;
        let mut refs = Vec::with_capacity(chunks.len());
        for (i, (r, bytes)) in chunks.into_iter().enumerate() {
            write_atomically(&self.dir.join(layout::chunk_path(sequence, i)), &bytes)?;
            total += bytes.len() as u64;
            refs.push(r);
        }
        let m = SnapshotManifest {
            feed: self.root.feed.clone(),
            root_version: self.root.version,
            sequence,
            state_root,
            record_count: records.len() as u64,
            issued_at: now,
            chunks: refs,
        };
        let mb = m.seal(signers);
        total += mb.len() as u64;
        write_atomically(&self.dir.join(layout::manifest_path(sequence)), &mb)?;
        Ok(total)
    }

    fn prune_snapshots(&self) -> Result<(), PublishError> {
        let seqs = self.snapshot_sequences()?;
        if seqs.len() > SNAPSHOTS_KEPT {
            for s in &seqs[..seqs.len() - SNAPSHOTS_KEPT] {
                let d = self.dir.join(layout::snapshot_dir(*s));
                fs::remove_dir_all(&d).map_err(io(&d))?;
            }
        }
        Ok(())
    }

    /// Writes root version N+1 with the changes in `opts`, signed by a
    /// threshold of the old root-role keys and of the new ones (among
    /// `signers`); then re-signs the checkpoint under the new root with the
    /// new online keys (which `signers` must also hold), since posts that
    /// find the new root refuse a checkpoint signed under the old one.
    /// Files signed before the rotation stay as they are: each names the
    /// root version that signed it.
    pub fn rotate_root(
        &mut self,
        opts: &RotateOptions,
        signers: &[&SecretKey],
    ) -> Result<Root, PublishError> {
        let next = Root {
            feed: self.root.feed.clone(),
            version: self.root.version + 1,
            expires_at: opts.expires_at,
            root_keys: opts
                .root_keys
                .as_ref()
                .map_or_else(|| self.root.root_keys.clone(), RoleKeys::key_set),
            online_keys: opts
                .online_keys
                .as_ref()
                .map_or_else(|| self.root.online_keys.clone(), RoleKeys::key_set),
            max_checkpoint_validity: opts
                .max_checkpoint_validity
                .unwrap_or(self.root.max_checkpoint_validity),
            limits: self.root.limits.clone(),
        };
        check_root_threshold(&next.root_keys)?;
        let mut chosen: BTreeMap<String, &SecretKey> = BTreeMap::new();
        for k in signers_for(&self.root.root_keys, signers, "the old root")? {
            chosen.insert(k.keyid().to_string(), k);
        }
        for k in signers_for(&next.root_keys, signers, "the new root")? {
            chosen.insert(k.keyid().to_string(), k);
        }
        // Checked before anything is written: the checkpoint must be
        // re-signed under the new root at once.
        signers_for(
            &next.online_keys,
            signers,
            "re-signing the checkpoint under the new root",
        )?;
        let list: Vec<&SecretKey> = chosen.values().copied().collect();
        let bytes = next.seal(&list);
        let verified = self.root.verify_next(&bytes)?;
        write_atomically(&self.dir.join(layout::root_path(next.version)), &bytes)?;
        self.root = verified.clone();
        self.refresh(signers, opts.now)?;
        Ok(verified)
    }

    /// The records of a key, for tests and tools.
    pub fn get(&self, key: &DocumentKey) -> Option<&Record> {
        self.state
            .binary_search_by(|r| r.key.cmp(key))
            .ok()
            .map(|i| &self.state[i])
    }
}
