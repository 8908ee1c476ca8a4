//! The client's data directory: installed data generations, the `CURRENT`
//! pointer that names the one to serve, and the sync's own state.
//!
//! ```text
//! DATA/
//!   CURRENT                   id of the generation to serve, one line
//!   generations/<id>.json     one generation: sequence, state root, as-of,
//!                             expiry, and the files that make it up
//!   files/                    index files (base and delta segments), state
//!                             bucket files and checkpoints; immutable, and a
//!                             name is never reused for other bytes
//!   state/root.json           newest trusted root metadata
//!   state/checkpoint.json     newest verified checkpoint (rollback defence)
//!   state/status.json         outcome of the last sync runs
//!   state/download/           partial downloads, resumed by the next run
//!   lock                      held by a running sync
//! ```
//!
//! Installation writes the new files (temporary name, fsync, rename, fsync
//! of the directory), then the generation file, then `CURRENT` the same
//! way. A reader therefore always finds `CURRENT` naming a complete
//! generation, whenever a sync is killed. The previous generation is kept
//! so that an operator can roll back.
//!
//! A daemon uses [`DataDir::open`], polls [`DataDir::current_id`] (one small
//! read; [`CurrentWatch`] does the bookkeeping) and, when it changed, calls
//! [`DataDir::current`] and [`Generation::open_index`]. Because file names are never reused, a
//! daemon may keep the map of a path it already has open. If opening a file
//! fails with "not found", a newer sync removed an old generation in
//! between: read `CURRENT` again and retry.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sltd_index::{LayeredIndex, MapOptions, open_file};

use crate::FeedError;
use crate::encoding::{Hash32, hex, parse_hash_hex};
use crate::freshness::{Freshness, FreshnessPolicy, age_seconds};
use crate::state::StateHash;
use crate::time::now_unix;

/// The pointer file naming the generation being served.
pub const CURRENT: &str = "CURRENT";
const GENERATIONS: &str = "generations";
const FILES: &str = "files";
const STATE: &str = "state";
const LOCK: &str = "lock";
/// Longest `CURRENT` or generation file read.
const MAX_META_BYTES: u64 = 1 << 20;

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
}

impl Generation {
    /// Maps the base and segments and stacks them (structure checks only).
    pub fn open_index(&self, opts: MapOptions) -> Result<LayeredIndex<memmap2::Mmap>, FeedError> {
        let base = open_file(&self.base, opts)?;
        let segments = self
            .segments
            .iter()
            .map(|p| open_file(p, opts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LayeredIndex::new(base, segments)?)
    }

    /// FRESH, STALE or EXPIRED at Unix time `now`.
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
}

/// What a sync hands to [`DataDir::install`]. Paths are inside the data
/// directory, as returned by [`DataDir::write_file`].
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

/// Held while a sync runs; released on drop (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, FeedError> {
    use std::io::Read;
    let f = fs::File::open(path).map_err(FeedError::io(path))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(FeedError::io(path))?;
    if buf.len() as u64 > cap {
        return Err(FeedError::TooLarge {
            what: path.display().to_string(),
            limit: cap,
        });
    }
    Ok(buf)
}

/// Writes `bytes` to `path` atomically: temporary file in the same
/// directory, fsync, rename, fsync of the directory.
///
/// Files are created readable by all (0644): nothing in a feed or a data
/// directory is secret, and the web server or the daemon may run as another
/// user than the publisher or the sync.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FeedError> {
    // One implementation of the crash-safe replace for every sltd file.
    sltd_index::write_atomically(path, bytes).map_err(|e| match e {
        sltd_index::IndexError::Io { path, source } => FeedError::Io { path, source },
        other => FeedError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// Fsyncs a directory so that renames and creations in it are durable.
pub fn sync_dir(path: &Path) -> Result<(), FeedError> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(FeedError::io(path))
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
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
    pub fn open(path: &Path) -> Result<DataDir, FeedError> {
        if !path.is_dir() {
            return Err(FeedError::DataDir {
                reason: format!("{} is not a directory", path.display()),
            });
        }
        Ok(DataDir {
            root: path.to_path_buf(),
        })
    }

    /// Opens a data directory, creating it and its layout if needed.
    pub fn create(path: &Path) -> Result<DataDir, FeedError> {
        for sub in [GENERATIONS, FILES, STATE] {
            let p = path.join(sub);
            fs::create_dir_all(&p).map_err(FeedError::io(&p))?;
        }
        let d = path.join(STATE).join("download");
        fs::create_dir_all(&d).map_err(FeedError::io(&d))?;
        Ok(DataDir {
            root: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The sync's state directory (`state/`).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE)
    }

    /// Where partial downloads live.
    pub fn download_dir(&self) -> PathBuf {
        self.root.join(STATE).join("download")
    }

    /// Takes the sync lock without waiting; [`FeedError::Locked`] if another
    /// process holds it.
    pub fn lock(&self) -> Result<DirLock, FeedError> {
        use fs4::fs_std::FileExt;
        let path = self.root.join(LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(FeedError::io(&path))?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(DirLock { _file: file }),
            Ok(false) => Err(FeedError::Locked { path }),
            Err(e) => Err(FeedError::Io { path, source: e }),
        }
    }

    /// The id in `CURRENT`, or `None` before the first installation. One
    /// small read: cheap enough to poll several times a second.
    pub fn current_id(&self) -> Result<Option<GenerationId>, FeedError> {
        let path = self.root.join(CURRENT);
        match fs::read(&path) {
            Ok(b) => {
                let text = String::from_utf8(b).unwrap_or_default();
                GenerationId::parse(&text)
                    .map(Some)
                    .ok_or_else(|| FeedError::DataDir {
                        reason: format!("{} does not hold a generation id", path.display()),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FeedError::Io { path, source: e }),
        }
    }

    /// The generation to serve, or `None` before the first installation.
    pub fn current(&self) -> Result<Option<Generation>, FeedError> {
        match self.current_id()? {
            Some(id) => self.generation(&id).map(Some),
            None => Ok(None),
        }
    }

    /// Reads one generation's metadata.
    pub fn generation(&self, id: &GenerationId) -> Result<Generation, FeedError> {
        let path = self.root.join(GENERATIONS).join(format!("{id}.json"));
        let bytes = read_capped(&path, MAX_META_BYTES)?;
        let j: GenerationJson = serde_json::from_slice(&bytes)
            .map_err(|e| FeedError::malformed("generation file", e))?;
        if j.format != 1 || j.id != id.0 {
            return Err(FeedError::malformed(
                "generation file",
                "format or id mismatch",
            ));
        }
        let file = |rel: &str| -> Result<PathBuf, FeedError> {
            // Only plain names inside files/: a generation file cannot point
            // outside the data directory.
            let name = rel.strip_prefix("files/").unwrap_or("");
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(FeedError::malformed(
                    "generation file",
                    format!("bad file name {rel:?}"),
                ));
            }
            Ok(self.root.join(FILES).join(name))
        };
        Ok(Generation {
            id: id.clone(),
            feed: j.feed,
            sequence: j.sequence,
            state_root: parse_hash_hex(&j.state_root)
                .ok_or_else(|| FeedError::malformed("generation file", "state root"))?,
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
        })
    }

    /// Every generation present, in id order (ids sort by sequence).
    pub fn generations(&self) -> Result<Vec<GenerationId>, FeedError> {
        let dir = self.root.join(GENERATIONS);
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(FeedError::io(&dir))? {
            let e = e.map_err(FeedError::io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json").and_then(GenerationId::parse) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// A fresh, never used path in `files/` for a file of `kind` at
    /// `sequence` with extension `ext`.
    pub fn new_file_path(&self, kind: &str, sequence: u64, ext: &str) -> PathBuf {
        loop {
            let p = self
                .root
                .join(FILES)
                .join(format!("{kind}-{sequence:020}-{}.{ext}", random_suffix()));
            if !p.exists() {
                return p;
            }
        }
    }

    /// Writes `bytes` to a new file in `files/` atomically and durably.
    pub fn write_file(
        &self,
        kind: &str,
        sequence: u64,
        ext: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, FeedError> {
        let p = self.new_file_path(kind, sequence, ext);
        write_atomically(&p, bytes)?;
        Ok(p)
    }

    fn rel(&self, p: &Path) -> Result<String, FeedError> {
        let files = self.root.join(FILES);
        p.strip_prefix(&files)
            .ok()
            .and_then(|n| n.to_str())
            .filter(|n| !n.contains('/'))
            .map(|n| format!("files/{n}"))
            .ok_or_else(|| FeedError::DataDir {
                reason: format!("{} is not in {}", p.display(), files.display()),
            })
    }

    /// Installs a generation: writes its metadata, then points `CURRENT`
    /// at it, both atomically; then removes generations older than the
    /// previous one and files nothing kept refers to.
    pub fn install(&self, g: NewGeneration) -> Result<Generation, FeedError> {
        let previous = self.current_id()?;
        let id = GenerationId(format!("g-{:020}-{}", g.sequence, random_suffix()));
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
            base: self.rel(&g.base)?,
            segments: g
                .segments
                .iter()
                .map(|s| self.rel(s))
                .collect::<Result<_, _>>()?,
            buckets: self.rel(&g.buckets)?,
            checkpoint: self.rel(&g.checkpoint)?,
            previous: previous.as_ref().map(|p| p.0.clone()),
        };
        let meta = self.root.join(GENERATIONS).join(format!("{id}.json"));
        let mut bytes = serde_json::to_vec_pretty(&j).unwrap_or_default();
        bytes.push(b'\n');
        write_atomically(&meta, &bytes)?;
        write_atomically(&self.root.join(CURRENT), format!("{id}\n").as_bytes())?;
        let installed = self.generation(&id)?;
        if let Err(e) = self.collect_garbage() {
            tracing::warn!(error = %e, "could not remove old generations");
        }
        Ok(installed)
    }

    /// Points `CURRENT` back at the previous generation. Returns it.
    pub fn rollback(&self) -> Result<Generation, FeedError> {
        let cur = self.current()?.ok_or_else(|| FeedError::DataDir {
            reason: "nothing is installed".into(),
        })?;
        let prev = cur.previous.ok_or_else(|| FeedError::DataDir {
            reason: "the current generation has no previous one".into(),
        })?;
        let g = self.generation(&prev)?;
        write_atomically(&self.root.join(CURRENT), format!("{prev}\n").as_bytes())?;
        Ok(g)
    }

    /// Keeps the current generation and the one it replaced; removes other
    /// generation files, files in `files/` that no kept generation names,
    /// and leftover temporary files. Call with the lock held.
    pub fn collect_garbage(&self) -> Result<(), FeedError> {
        let mut keep_gens = Vec::new();
        if let Some(cur) = self.current()? {
            if let Some(prev) = &cur.previous
                && let Ok(p) = self.generation(prev)
            {
                keep_gens.push(p);
            }
            keep_gens.push(cur);
        }
        let mut keep_files: std::collections::HashSet<PathBuf> = Default::default();
        for g in &keep_gens {
            keep_files.insert(g.base.clone());
            keep_files.extend(g.segments.iter().cloned());
            keep_files.insert(g.buckets.clone());
            keep_files.insert(g.checkpoint.clone());
        }
        let gens_dir = self.root.join(GENERATIONS);
        for e in fs::read_dir(&gens_dir)
            .map_err(FeedError::io(&gens_dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let kept = keep_gens.iter().any(|g| name == format!("{}.json", g.id));
            if !kept {
                let _ = fs::remove_file(e.path());
            }
        }
        let files_dir = self.root.join(FILES);
        for e in fs::read_dir(&files_dir)
            .map_err(FeedError::io(&files_dir))?
            .flatten()
        {
            if !keep_files.contains(&e.path()) {
                let _ = fs::remove_file(e.path());
            }
        }
        for dir in [&gens_dir, &self.root, &self.state_dir()] {
            for e in fs::read_dir(dir).map_err(FeedError::io(dir))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".sltd-") && name.ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// Loads the state hash of a generation, checking it against the
    /// generation's state root.
    pub fn load_state(&self, g: &Generation) -> Result<StateHash, FeedError> {
        let bytes = read_capped(&g.buckets, 4 << 20)?;
        let s = StateHash::from_bytes(&bytes)?;
        if s.root() != g.state_root || s.count() != g.record_count {
            return Err(FeedError::DataDir {
                reason: format!(
                    "state buckets of generation {} do not match its state root",
                    g.id
                ),
            });
        }
        Ok(s)
    }

    /// Reads a file in `state/` if present (bounded).
    pub fn read_state_file(&self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, FeedError> {
        let p = self.state_dir().join(name);
        if !p.exists() {
            return Ok(None);
        }
        read_capped(&p, cap).map(Some)
    }

    /// Replaces a file in `state/` atomically.
    pub fn write_state_file(&self, name: &str, bytes: &[u8]) -> Result<(), FeedError> {
        write_atomically(&self.state_dir().join(name), bytes)
    }

    /// The last sync outcomes (default when never run).
    pub fn status(&self) -> Result<SyncStatus, FeedError> {
        match self.read_state_file("status.json", MAX_META_BYTES)? {
            Some(b) => {
                serde_json::from_slice(&b).map_err(|e| FeedError::malformed("status file", e))
            }
            None => Ok(SyncStatus::default()),
        }
    }

    /// Records the sync outcomes.
    pub fn write_status(&self, s: &SyncStatus) -> Result<(), FeedError> {
        let mut bytes = serde_json::to_vec_pretty(s).unwrap_or_default();
        bytes.push(b'\n');
        self.write_state_file("status.json", &bytes)
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
    pub fn poll(&mut self) -> Result<Option<Generation>, FeedError> {
        let id = self.dir.current_id()?;
        if id == self.seen || id.is_none() {
            return Ok(None);
        }
        let g = self.dir.current()?;
        self.seen = g.as_ref().map(|g| g.id.clone());
        Ok(g)
    }
}

/// Writes `bytes` to a file with mode 0600 (secret keys), failing if it
/// exists.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), FeedError> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(FeedError::io(path))?;
    f.write_all(bytes).map_err(FeedError::io(path))?;
    f.sync_all().map_err(FeedError::io(path))
}
