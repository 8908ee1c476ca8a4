//! The data directory itself: installed generations, the `CURRENT` pointer
//! that names the one to serve, the lock, garbage collection, rollback and
//! the sync's state files.
//!
//! Installation writes the new files (temporary name, fsync, rename, fsync
//! of the directory: `sltd_index::write_atomically`), then the generation
//! file, then `CURRENT` the same way. A reader therefore always finds
//! `CURRENT` naming a complete generation, whenever a sync is killed. The
//! previous generation is kept so that an operator can roll back.
//!
//! A daemon polls [`DataDir::current_id`] (one small read; [`CurrentWatch`]
//! does the bookkeeping) and, when it changed, opens the new generation with
//! [`DataDir::open_current`]. File names are never reused, so a file already
//! open stays valid; one that vanished was removed by a newer sync, and
//! `open_current` reads `CURRENT` again.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sltd_feed::freshness::{Freshness, FreshnessPolicy, age_seconds};
use sltd_feed::metadata::Checkpoint;
use sltd_feed::state::StateHash;
use sltd_feed::{Hash32, hex, now_unix, parse_hash_hex};

use crate::DataDirError;
use crate::layout::{
    self, CURRENT, DOWNLOAD, FILES, FileKind, GENERATIONS, LOCK, ROOTS, STATE, StateFile,
};

/// Longest `CURRENT`, generation or state file read.
const MAX_META_BYTES: u64 = 1 << 20;
/// The exact size of a state bucket file, and a little more.
const MAX_BUCKETS_BYTES: u64 = 4 << 20;

/// A data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// The name of an installed generation, as `CURRENT` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenerationId(String);

impl GenerationId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(text: &str) -> Option<Self> {
        let t = text.trim_end_matches('\n');
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| GenerationId(t.to_string()))
    }
}

impl std::fmt::Display for GenerationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct GenerationJson {
    format: u32,
    id: String,
    feed: String,
    sequence: u64,
    state_root: String,
    record_count: u64,
    as_of: i64,
    expires_at: i64,
    installed_at: i64,
    base: String,
    segments: Vec<String>,
    buckets: String,
    checkpoint: String,
    previous: Option<String>,
    /// Index files that passed the full check when installed; absent in
    /// generations installed before it was recorded (their files are then
    /// fully checked when opened).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    verified: Vec<VerifiedJson>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct VerifiedJson {
    file: String,
    /// How: `structure`, every byte and every structure
    /// (`sltd_index::Index::verify`). The only check recorded.
    check: String,
    /// The file's header checksum then, 16 hex digits: it covers every
    /// other checksum of the file, so it names that exact content.
    header_checksum: String,
}

/// The one check a generation records: [`sltd_index::Index::verify`].
const STRUCTURE_CHECK: &str = "structure";

/// An index file of a generation that passed the full check
/// ([`sltd_index::Index::verify`]: every byte, every structure) when the
/// generation was installed, with the header checksum it had then. A
/// reader that finds the file's header checksum unchanged needs only its
/// integrity checksums to know it holds the bytes that were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedFile {
    pub path: PathBuf,
    pub header_checksum: u64,
}

/// One installed data set: a base index plus delta segments (oldest first)
/// at a feed sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub id: GenerationId,
    pub feed: String,
    pub sequence: u64,
    pub state_root: [u8; 32],
    pub record_count: u64,
    /// Issue time (Unix seconds) of the signed checkpoint this data was
    /// verified against: the data is known current as of then.
    pub as_of: i64,
    /// Expiry (Unix seconds) of that checkpoint.
    pub expires_at: i64,
    /// When this generation was installed.
    pub installed_at: i64,
    pub base: PathBuf,
    /// Delta segments, oldest first; each is consulted before the base.
    pub segments: Vec<PathBuf>,
    /// The state hash buckets at `sequence`.
    pub buckets: PathBuf,
    /// The signed checkpoint envelope this generation was verified against.
    pub checkpoint: PathBuf,
    /// The generation this one replaced.
    pub previous: Option<GenerationId>,
    /// Its index files that passed the full check when it was installed.
    pub verified: Vec<VerifiedFile>,
}

impl Generation {
    /// The header checksum `path` had when the full check passed on it at
    /// installation; `None` if it was not recorded.
    pub fn verified_header_checksum(&self, path: &Path) -> Option<u64> {
        self.verified
            .iter()
            .find(|v| v.path == path)
            .map(|v| v.header_checksum)
    }

    /// FRESH, STALE or EXPIRED at Unix time `now`: the feed's one rule.
    pub fn freshness(&self, now: i64, policy: &FreshnessPolicy) -> Freshness {
        policy.freshness(now, self.as_of, Some(self.expires_at))
    }

    /// Seconds since `as_of`.
    pub fn age(&self, now: i64) -> i64 {
        age_seconds(now, self.as_of)
    }

    /// The state root as hex.
    pub fn state_root_hex(&self) -> String {
        hex(&self.state_root)
    }

    /// Every file the generation is made of.
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.base, &self.buckets, &self.checkpoint]
            .into_iter()
            .chain(&self.segments)
    }
}

/// What [`DataDir::install`] installs. Paths are inside the data
/// directory's `files/`, as its `write_*` functions return them.
#[derive(Clone, Debug)]
pub struct NewGeneration {
    pub feed: String,
    pub sequence: u64,
    pub state_root: Hash32,
    pub record_count: u64,
    pub as_of: i64,
    pub expires_at: i64,
    pub base: PathBuf,
    pub segments: Vec<PathBuf>,
    pub buckets: PathBuf,
    pub checkpoint: PathBuf,
}

/// A checkpoint that passed verification, the envelope it was read from,
/// and the state hash of the data it describes: what a generation is
/// installed at.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedState<'a> {
    pub checkpoint: &'a Checkpoint,
    /// The signed envelope as fetched, kept beside the data.
    pub envelope: &'a [u8],
    pub hash: &'a StateHash,
}

/// The outcome of the last sync runs, for `sltd-sync status` and the
/// daemon.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    /// Stable name of the last error's kind (`rollback`, `bad_signature`...).
    pub last_error_kind: Option<String>,
    pub last_error_at: Option<i64>,
    pub consecutive_failures: u32,
    /// Newest checkpoint sequence seen and verified.
    pub checkpoint_sequence: Option<u64>,
}

/// The highest checkpoint verified so far: a lower one is a rollback, the
/// same sequence with another root a fork, the same sequence issued earlier
/// an `issued_at` rollback. It is set aside when the keys it was verified
/// under are retired or the pin changes (`sltd_feed::trust`), so it records
/// both.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCheckpoint {
    pub sequence: u64,
    #[serde(with = "hash_text")]
    pub state_root: Hash32,
    /// The checkpoint's `issued_at` (absent in older records).
    #[serde(default)]
    pub issued_at: Option<i64>,
    /// The root version it verified under (absent in older records).
    #[serde(default)]
    pub root_version: Option<u64>,
    /// The SHA-256 of the pinned root file it was verified from.
    #[serde(default, with = "opt_hash_text")]
    pub pin_sha256: Option<Hash32>,
}

mod opt_hash_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use sltd_feed::{Hash32, hex, parse_hash_hex};

    pub(super) fn serialize<S: Serializer>(h: &Option<Hash32>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&hex(h)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash32>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_hash_hex(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("not a 64-digit hex hash")),
        }
    }
}

mod hash_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use sltd_feed::{Hash32, hex, parse_hash_hex};

    pub(super) fn serialize<S: Serializer>(h: &Hash32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(h))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash32, D::Error> {
        let text = String::deserialize(d)?;
        parse_hash_hex(&text).ok_or_else(|| serde::de::Error::custom("not a 64-digit hex hash"))
    }
}

/// Held while a sync runs; released on drop (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, DataDirError> {
    use std::io::Read;
    let f = fs::File::open(path).map_err(DataDirError::io(path))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(DataDirError::io(path))?;
    if buf.len() as u64 > cap {
        return Err(DataDirError::TooLarge {
            path: path.to_path_buf(),
            limit: cap,
        });
    }
    Ok(buf)
}

/// The index crate's crash-safe replace (temporary file, fsync, rename,
/// fsync of the directory), with its error as ours.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    sltd_index::write_atomically(path, bytes).map_err(DataDirError::index(path))
}

/// The full check of an index file about to be installed, or the record of
/// it that `current` holds for the same file and header checksum.
fn verify_for_install(
    path: &Path,
    current: Option<&Generation>,
) -> Result<VerifiedFile, DataDirError> {
    let index =
        sltd_index::open_file(path, Default::default()).map_err(DataDirError::index(path))?;
    let header_checksum = index.header().header_checksum;
    if current.and_then(|c| c.verified_header_checksum(path)) != Some(header_checksum) {
        index.verify().map_err(DataDirError::index(path))?;
    }
    Ok(VerifiedFile {
        path: path.to_path_buf(),
        header_checksum,
    })
}

fn json_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // Uniqueness, not secrecy: the clock's nanoseconds will do.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    hex(&b)
}

impl DataDir {
    /// Opens an existing data directory for reading (no lock, no writes).
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        if !path.is_dir() {
            return Err(DataDirError::Unusable {
                reason: format!("{} is not a directory", path.display()),
            });
        }
        Ok(DataDir {
            root: path.to_path_buf(),
        })
    }

    /// Opens a data directory, creating it and its layout if needed.
    pub fn create(path: &Path) -> Result<DataDir, DataDirError> {
        let state = path.join(STATE);
        for p in [
            path.join(GENERATIONS),
            path.join(FILES),
            state.join(DOWNLOAD),
        ] {
            fs::create_dir_all(&p).map_err(DataDirError::io(&p))?;
        }
        Ok(DataDir {
            root: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn state_dir(&self) -> PathBuf {
        self.root.join(STATE)
    }

    /// Where a partial download of the feed file `feed_path` is kept
    /// between runs.
    pub fn download_path(&self, feed_path: &str) -> PathBuf {
        self.state_dir()
            .join(DOWNLOAD)
            .join(layout::download_file_name(feed_path))
    }

    /// Removes every partial download. Call it after a sync that reached
    /// the checkpoint's sequence: what is left then was needed only for a
    /// state already passed (a delta a snapshot made unnecessary, a file of
    /// a feed version since replaced), and would otherwise stay for good.
    pub fn clear_downloads(&self) -> Result<(), DataDirError> {
        let dir = self.state_dir().join(DOWNLOAD);
        for e in fs::read_dir(&dir)
            .map_err(DataDirError::io(&dir))?
            .flatten()
        {
            let p = e.path();
            fs::remove_file(&p).map_err(DataDirError::io(&p))?;
        }
        Ok(())
    }

    /// Takes the sync lock without waiting; [`DataDirError::Locked`] if
    /// another process holds it.
    pub fn lock(&self) -> Result<DirLock, DataDirError> {
        use fs4::fs_std::FileExt;
        let path = self.root.join(LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(DataDirError::io(&path))?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(DirLock { _file: file }),
            Ok(false) => Err(DataDirError::Locked { path }),
            Err(e) => Err(DataDirError::Io { path, source: e }),
        }
    }

    /// The id in `CURRENT`, or `None` before the first installation. One
    /// small read: cheap enough to poll several times a second.
    pub fn current_id(&self) -> Result<Option<GenerationId>, DataDirError> {
        let path = self.root.join(CURRENT);
        match read_capped(&path, MAX_META_BYTES) {
            Ok(b) => {
                let text = String::from_utf8(b).unwrap_or_default();
                GenerationId::parse(&text)
                    .map(Some)
                    .ok_or_else(|| DataDirError::malformed(&path, "does not hold a generation id"))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The generation to serve, or `None` before the first installation.
    ///
    /// A `CURRENT` that does not hold a generation id, or names a
    /// generation file that is missing or does not parse (a disk error, an
    /// operator's hand), does not stop the post: the newest generation that
    /// reads back is used instead, with an error logged, until the next
    /// sync installs a new one and rewrites `CURRENT` (`sltd-sync run
    /// --resync` rebuilds from the snapshot). With no usable generation at
    /// all this is `None`, as before the first installation.
    pub fn current(&self) -> Result<Option<Generation>, DataDirError> {
        Ok(self.resolve_current()?.0)
    }

    /// [`current`](Self::current), and whether it is a fallback because
    /// `CURRENT` was unusable.
    fn resolve_current(&self) -> Result<(Option<Generation>, bool), DataDirError> {
        let (broken, error) = match self.current_id() {
            Ok(None) => return Ok((None, false)),
            Ok(Some(id)) => match self.generation(&id) {
                Ok(g) => return Ok((Some(g), false)),
                Err(e) if e.is_damage() => (Some(id), e),
                Err(e) => return Err(e),
            },
            Err(e) if e.is_damage() => (None, e),
            Err(e) => return Err(e),
        };
        let fallback = self
            .generations()?
            .into_iter()
            .rev()
            .filter(|id| Some(id) != broken.as_ref())
            .find_map(|id| self.generation(&id).ok());
        match &fallback {
            Some(g) => tracing::error!(
                error = %error,
                using = %g.id,
                sequence = g.sequence,
                "CURRENT is unusable; using the newest valid generation (the next sync points \
                 CURRENT at it; `sltd-sync run --resync` rebuilds from the snapshot)"
            ),
            None => tracing::error!(
                error = %error,
                "CURRENT is unusable and no generation reads back; treating the data directory \
                 as empty until `sltd-sync run` installs one"
            ),
        }
        Ok((fallback, true))
    }

    fn generation_path(&self, id: &str) -> PathBuf {
        self.root
            .join(GENERATIONS)
            .join(layout::generation_file_name(id))
    }

    /// Reads one generation's metadata.
    pub fn generation(&self, id: &GenerationId) -> Result<Generation, DataDirError> {
        let path = self.generation_path(id.as_str());
        let bytes = read_capped(&path, MAX_META_BYTES)?;
        let j: GenerationJson =
            serde_json::from_slice(&bytes).map_err(|e| DataDirError::malformed(&path, e))?;
        if j.format != 1 || j.id != id.0 {
            return Err(DataDirError::malformed(&path, "format or id mismatch"));
        }
        let file = |reference: &str| {
            layout::resolve_generation_file_ref(&self.root, reference).ok_or_else(|| {
                DataDirError::malformed(&path, format!("bad file name {reference:?}"))
            })
        };
        Ok(Generation {
            id: id.clone(),
            feed: j.feed,
            sequence: j.sequence,
            state_root: parse_hash_hex(&j.state_root)
                .ok_or_else(|| DataDirError::malformed(&path, "state root"))?,
            record_count: j.record_count,
            as_of: j.as_of,
            expires_at: j.expires_at,
            installed_at: j.installed_at,
            base: file(&j.base)?,
            segments: j
                .segments
                .iter()
                .map(|s| file(s))
                .collect::<Result<_, _>>()?,
            buckets: file(&j.buckets)?,
            checkpoint: file(&j.checkpoint)?,
            previous: j.previous.as_deref().and_then(GenerationId::parse),
            verified: j
                .verified
                .iter()
                .filter(|v| v.check == STRUCTURE_CHECK)
                .map(|v| {
                    Ok(VerifiedFile {
                        path: file(&v.file)?,
                        header_checksum: u64::from_str_radix(&v.header_checksum, 16)
                            .ok()
                            .filter(|_| v.header_checksum.len() == 16)
                            .ok_or_else(|| {
                                DataDirError::malformed(&path, "verified header checksum")
                            })?,
                    })
                })
                .collect::<Result<_, DataDirError>>()?,
        })
    }

    /// Every generation present, in id order (ids sort by sequence).
    pub fn generations(&self) -> Result<Vec<GenerationId>, DataDirError> {
        let dir = self.root.join(GENERATIONS);
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(DataDirError::io(&dir))? {
            let e = e.map_err(DataDirError::io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) =
                layout::generation_id_of_file_name(&name).and_then(GenerationId::parse)
            {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// A fresh, never used path in `files/` for a file of `kind` at
    /// `sequence`.
    pub(crate) fn new_file_path(&self, kind: FileKind, sequence: u64) -> PathBuf {
        loop {
            let p = self
                .root
                .join(FILES)
                .join(kind.file_name(sequence, &random_suffix()));
            if !p.exists() {
                return p;
            }
        }
    }

    /// Writes `bytes` to a new file of `kind` in `files/`, atomically and
    /// durably.
    pub(crate) fn write_file(
        &self,
        kind: FileKind,
        sequence: u64,
        bytes: &[u8],
    ) -> Result<PathBuf, DataDirError> {
        let p = self.new_file_path(kind, sequence);
        write_atomically(&p, bytes)?;
        Ok(p)
    }

    /// Writes the state hash buckets at `sequence` to a new file.
    pub fn write_buckets(&self, sequence: u64, hash: &StateHash) -> Result<PathBuf, DataDirError> {
        self.write_file(FileKind::Buckets, sequence, &hash.to_bytes())
    }

    /// Writes a checkpoint envelope to a new file.
    pub fn write_checkpoint(
        &self,
        sequence: u64,
        envelope: &[u8],
    ) -> Result<PathBuf, DataDirError> {
        self.write_file(FileKind::Checkpoint, sequence, envelope)
    }

    fn file_ref(&self, p: &Path) -> Result<String, DataDirError> {
        let files = self.root.join(FILES);
        p.strip_prefix(&files)
            .ok()
            .and_then(|n| n.to_str())
            .filter(|n| !n.contains('/'))
            .map(layout::generation_file_ref)
            .ok_or_else(|| DataDirError::Unusable {
                reason: format!("{} is not in {}", p.display(), files.display()),
            })
    }

    /// Installs a generation: writes its metadata, then points `CURRENT`
    /// at it, both atomically; then removes generations older than the
    /// previous one and files nothing kept refers to. Call with the lock
    /// held.
    ///
    /// Every index file of `g` gets the full check
    /// ([`sltd_index::Index::verify`]) here, once, unless the current
    /// generation recorded it for the same file with the same header
    /// checksum; the generation records each, so that a daemon opening it
    /// needs only the file's integrity checksums. A file that fails is not
    /// installed.
    pub fn install(&self, g: NewGeneration) -> Result<Generation, DataDirError> {
        let previous = self.current_id()?;
        let verified = {
            let current = previous.as_ref().and_then(|id| self.generation(id).ok());
            std::iter::once(&g.base)
                .chain(&g.segments)
                .map(|p| verify_for_install(p, current.as_ref()))
                .collect::<Result<Vec<_>, _>>()?
        };
        let id = GenerationId(layout::generation_id(g.sequence, &random_suffix()));
        let j = GenerationJson {
            format: 1,
            id: id.0.clone(),
            feed: g.feed,
            sequence: g.sequence,
            state_root: hex(&g.state_root),
            record_count: g.record_count,
            as_of: g.as_of,
            expires_at: g.expires_at,
            installed_at: now_unix(),
            base: self.file_ref(&g.base)?,
            segments: g
                .segments
                .iter()
                .map(|s| self.file_ref(s))
                .collect::<Result<_, _>>()?,
            buckets: self.file_ref(&g.buckets)?,
            checkpoint: self.file_ref(&g.checkpoint)?,
            previous: previous.as_ref().map(|p| p.0.clone()),
            verified: verified
                .iter()
                .map(|v| {
                    Ok(VerifiedJson {
                        file: self.file_ref(&v.path)?,
                        check: STRUCTURE_CHECK.into(),
                        header_checksum: format!("{:016x}", v.header_checksum),
                    })
                })
                .collect::<Result<_, DataDirError>>()?,
        };
        write_atomically(&self.generation_path(id.as_str()), &json_bytes(&j))?;
        write_atomically(&self.root.join(CURRENT), format!("{id}\n").as_bytes())?;
        let installed = self.generation(&id)?;
        if let Err(e) = self.collect_garbage() {
            tracing::warn!(error = %e, "could not remove old generations");
        }
        Ok(installed)
    }

    /// Installs the generation serving `base` and `segments` (files of this
    /// directory) at the verified state: writes the state buckets and the
    /// checkpoint envelope beside them, then the generation. Call with the
    /// lock held.
    pub fn install_state(
        &self,
        state: VerifiedState<'_>,
        base: PathBuf,
        segments: Vec<PathBuf>,
    ) -> Result<Generation, DataDirError> {
        let cp = state.checkpoint;
        let buckets = self.write_buckets(cp.sequence, state.hash)?;
        let checkpoint = self.write_checkpoint(cp.sequence, state.envelope)?;
        let g = self.install(NewGeneration {
            feed: cp.feed.clone(),
            sequence: cp.sequence,
            state_root: cp.state_root,
            record_count: cp.record_count,
            as_of: cp.issued_at,
            expires_at: cp.expires_at,
            base,
            segments,
            buckets,
            checkpoint,
        })?;
        tracing::info!(generation = %g.id, sequence = g.sequence, records = g.record_count, "installed");
        Ok(g)
    }

    /// Installs `g`'s data again under a newer signed statement about the
    /// same sequence and state (a re-signed checkpoint), so that its as-of
    /// moves on. Call with the lock held.
    pub fn install_refreshed(
        &self,
        g: &Generation,
        checkpoint: &Checkpoint,
        envelope: &[u8],
    ) -> Result<Generation, DataDirError> {
        if checkpoint.sequence != g.sequence || checkpoint.state_root != g.state_root {
            return Err(DataDirError::Unusable {
                reason: format!(
                    "a refreshed checkpoint must describe generation {}'s sequence and state",
                    g.id
                ),
            });
        }
        let cpf = self.write_checkpoint(g.sequence, envelope)?;
        self.install(NewGeneration {
            feed: g.feed.clone(),
            sequence: g.sequence,
            state_root: g.state_root,
            record_count: g.record_count,
            as_of: checkpoint.issued_at,
            expires_at: checkpoint.expires_at,
            base: g.base.clone(),
            segments: g.segments.clone(),
            buckets: g.buckets.clone(),
            checkpoint: cpf,
        })
    }

    /// Points `CURRENT` back at the previous generation. Returns it. Call
    /// with the lock held.
    pub fn rollback(&self) -> Result<Generation, DataDirError> {
        let cur = self.current()?.ok_or_else(|| DataDirError::Unusable {
            reason: "nothing is installed".into(),
        })?;
        let prev = cur.previous.ok_or_else(|| DataDirError::Unusable {
            reason: "the current generation has no previous one".into(),
        })?;
        let g = self.generation(&prev)?;
        write_atomically(&self.root.join(CURRENT), format!("{prev}\n").as_bytes())?;
        Ok(g)
    }

    /// Keeps the current generation and the one it replaced; removes other
    /// generation files, files in `files/` that no kept generation names,
    /// and leftover temporary files. Call with the lock held.
    pub fn collect_garbage(&self) -> Result<(), DataDirError> {
        let mut keep_gens = Vec::new();
        let (current, fell_back) = self.resolve_current()?;
        if fell_back {
            // Repair the pointer before anything else relies on it.
            let path = self.root.join(CURRENT);
            match &current {
                Some(g) => {
                    write_atomically(&path, format!("{}\n", g.id).as_bytes())?;
                    tracing::warn!(generation = %g.id, "CURRENT repaired");
                }
                None => fs::remove_file(&path).map_err(DataDirError::io(&path))?,
            }
        }
        if let Some(cur) = current {
            if let Some(prev) = &cur.previous
                && let Ok(p) = self.generation(prev)
            {
                keep_gens.push(p);
            }
            keep_gens.push(cur);
        }
        let keep_files: std::collections::HashSet<&PathBuf> =
            keep_gens.iter().flat_map(Generation::files).collect();
        let gens_dir = self.root.join(GENERATIONS);
        for e in fs::read_dir(&gens_dir)
            .map_err(DataDirError::io(&gens_dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let kept = keep_gens
                .iter()
                .any(|g| name == layout::generation_file_name(g.id.as_str()));
            if !kept {
                let _ = fs::remove_file(e.path());
            }
        }
        let files_dir = self.root.join(FILES);
        for e in fs::read_dir(&files_dir)
            .map_err(DataDirError::io(&files_dir))?
            .flatten()
        {
            if !keep_files.contains(&e.path()) {
                let _ = fs::remove_file(e.path());
            }
        }
        for name in layout::OBSOLETE_STATE_FILES {
            let _ = fs::remove_file(self.state_dir().join(name));
        }
        for dir in [&gens_dir, &self.root, &self.state_dir()] {
            for e in fs::read_dir(dir).map_err(DataDirError::io(dir))?.flatten() {
                if sltd_index::is_leftover_temporary(&e.file_name().to_string_lossy()) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// Loads the state hash of a generation, checking it against the
    /// generation's state root.
    pub fn load_state(&self, g: &Generation) -> Result<StateHash, DataDirError> {
        let bytes = read_capped(&g.buckets, MAX_BUCKETS_BYTES)?;
        let s = StateHash::from_bytes(&bytes)?;
        if s.root() != g.state_root || s.count() != g.record_count {
            return Err(DataDirError::Unusable {
                reason: format!(
                    "state buckets of generation {} do not match its state root",
                    g.id
                ),
            });
        }
        Ok(s)
    }

    /// Reads one of the sync's state files if present.
    pub fn read_state_file(&self, file: StateFile) -> Result<Option<Vec<u8>>, DataDirError> {
        match read_capped(&self.state_dir().join(file.name()), MAX_META_BYTES) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The root version the checkpoint of `g` names (it verified under that
    /// root when `g` was installed); `None` when it does not read.
    pub fn root_version_of(&self, g: &Generation) -> Result<Option<u64>, DataDirError> {
        let bytes = read_capped(&g.checkpoint, MAX_META_BYTES)?;
        Ok(Checkpoint::claimed_root_version(&bytes).ok())
    }

    /// Root `version` as stored by an earlier sync (`state/roots/`), or
    /// `None`. The bytes are only a copy: the sync verifies them as a link
    /// of the chain from the pinned root every time.
    pub fn read_stored_root(&self, version: u64) -> Result<Option<Vec<u8>>, DataDirError> {
        let path = self
            .state_dir()
            .join(ROOTS)
            .join(layout::stored_root_file_name(version));
        match read_capped(&path, sltd_feed::metadata::MAX_ROOT_BYTES) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores root `version`, just verified from the chain.
    pub fn write_stored_root(&self, version: u64, bytes: &[u8]) -> Result<(), DataDirError> {
        let dir = self.state_dir().join(ROOTS);
        fs::create_dir_all(&dir).map_err(DataDirError::io(&dir))?;
        write_atomically(&dir.join(layout::stored_root_file_name(version)), bytes)
    }

    /// Removes every stored root (the pin changed: the chain is rebuilt
    /// from the new pin and the feed).
    pub fn clear_stored_roots(&self) -> Result<(), DataDirError> {
        let dir = self.state_dir().join(ROOTS);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DataDirError::Io {
                path: dir,
                source: e,
            }),
        }
    }

    /// Replaces one of the sync's state files atomically.
    pub fn write_state_file(&self, file: StateFile, bytes: &[u8]) -> Result<(), DataDirError> {
        write_atomically(&self.state_dir().join(file.name()), bytes)
    }

    /// The highest checkpoint verified so far, if any.
    pub fn known_checkpoint(&self) -> Result<Option<KnownCheckpoint>, DataDirError> {
        let Some(b) = self.read_state_file(StateFile::Known)? else {
            return Ok(None);
        };
        serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| DataDirError::malformed(self.state_dir().join(StateFile::Known.name()), e))
    }

    /// Remembers a verified checkpoint as the highest seen, with the pin it
    /// was verified from, and its envelope (verified again when the
    /// transport says it is unchanged).
    pub fn remember_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        envelope: &[u8],
        pin_sha256: &Hash32,
    ) -> Result<(), DataDirError> {
        let known = KnownCheckpoint {
            sequence: checkpoint.sequence,
            state_root: checkpoint.state_root,
            issued_at: Some(checkpoint.issued_at),
            root_version: Some(checkpoint.root_version),
            pin_sha256: Some(*pin_sha256),
        };
        self.write_state_file(StateFile::Known, &json_bytes(&known))?;
        self.write_state_file(StateFile::LastCheckpoint, envelope)
    }

    /// The last sync outcomes (default when never run).
    pub fn status(&self) -> Result<SyncStatus, DataDirError> {
        match self.read_state_file(StateFile::Status)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                DataDirError::malformed(self.state_dir().join(StateFile::Status.name()), e)
            }),
            None => Ok(SyncStatus::default()),
        }
    }

    /// Records the sync outcomes.
    pub fn write_status(&self, s: &SyncStatus) -> Result<(), DataDirError> {
        self.write_state_file(StateFile::Status, &json_bytes(s))
    }
}

/// Tells a reader when `CURRENT` names another generation: what a daemon
/// polls (a few times a second costs one small read each).
#[derive(Debug, Clone)]
pub struct CurrentWatch {
    dir: DataDir,
    seen: Option<GenerationId>,
}

impl CurrentWatch {
    /// Starts watching; the first [`CurrentWatch::poll`] reports the
    /// generation installed now, if any.
    pub fn new(dir: DataDir) -> Self {
        Self { dir, seen: None }
    }

    /// The id last reported.
    pub fn seen(&self) -> Option<&GenerationId> {
        self.seen.as_ref()
    }

    /// The new current generation if `CURRENT` changed since the last call,
    /// `None` if it did not. The change is remembered only when the
    /// generation's metadata could be read, so a failed poll is retried.
    pub fn poll(&mut self) -> Result<Option<Generation>, DataDirError> {
        let id = self.dir.current_id()?;
        if id == self.seen || id.is_none() {
            return Ok(None);
        }
        let g = self.dir.current()?;
        self.seen = g.as_ref().map(|g| g.id.clone());
        Ok(g)
    }
}
