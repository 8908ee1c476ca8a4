//! One sync: fetch the checkpoint, walk the root chain, verify everything
//! needed to reach the checkpoint's sequence, and only then install a new
//! data generation. Compaction follows as a separate step, after the new
//! data is already being served.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sltd_feed::apply::{EmptyState, PendingState, StateLookup};
use sltd_feed::datadir::{DataDir, Generation, GenerationId, NewGeneration};
use sltd_feed::metadata::{
    Checkpoint, FileRef, MAX_ROOT_BYTES, MAX_ROOT_STEPS, Root, SnapshotManifest,
};
use sltd_feed::state::StateHash;
use sltd_feed::{FeedError, Hash32, delta, hex, layout, snapshot};
use sltd_index::{BuildOptions, Entry, Index, IndexBuilder, IndexKind, LayeredIndex, MapOptions};
use sltd_model::{DocumentKey, Record};

use crate::SyncError;
use crate::source::{Conditional, NoProgress, Progress, Source, Validators};

/// Creates a progress display for one download.
pub trait ProgressFactory: Send + Sync {
    fn start(&self, what: &str) -> Box<dyn Progress>;
}

/// When to merge segments into a new base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compaction {
    /// When segments hold more than `compact_permille` of the base's size.
    Auto,
    Never,
    /// After every sync that leaves segments.
    Always,
}

/// Settings of a sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// The clock, Unix seconds (tests set it; `None` is the system clock).
    pub now: Option<i64>,
    /// Above this many delta segments they are merged into one.
    pub max_segments: usize,
    pub compaction: Compaction,
    /// Compact when segment entries exceed this per mille of base records.
    pub compact_permille: u64,
    /// Take the snapshot instead when more deltas than this are missing and
    /// a newer snapshot exists.
    pub max_delta_backlog: u64,
    /// Start over from the latest snapshot.
    pub resync: bool,
    pub progress: Option<Arc<dyn ProgressFactory>>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("now", &self.now)
            .field("max_segments", &self.max_segments)
            .field("compaction", &self.compaction)
            .field("compact_permille", &self.compact_permille)
            .field("max_delta_backlog", &self.max_delta_backlog)
            .field("resync", &self.resync)
            .finish()
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            now: None,
            max_segments: 8,
            compaction: Compaction::Auto,
            compact_permille: 20,
            max_delta_backlog: 1000,
            resync: false,
            progress: None,
        }
    }
}

/// Where the time of a sync went (serialised as milliseconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    #[serde(serialize_with = "as_millis")]
    pub fetch: Duration,
    #[serde(serialize_with = "as_millis")]
    pub verify_apply: Duration,
    #[serde(serialize_with = "as_millis")]
    pub build: Duration,
    #[serde(serialize_with = "as_millis")]
    pub install: Duration,
    #[serde(serialize_with = "as_millis")]
    pub compact: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// What a sync did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// Sequence installed before the sync.
    pub from_sequence: Option<u64>,
    /// Sequence installed after it.
    pub sequence: u64,
    pub state_root: String,
    pub deltas_applied: u64,
    /// Sequence of the snapshot taken, if one was.
    pub snapshot: Option<u64>,
    pub bytes_downloaded: u64,
    /// Keys changed by the deltas applied.
    pub changed_keys: u64,
    /// The generation installed (none when already up to date).
    pub installed: Option<String>,
    /// A compaction produced a new base.
    pub compacted: bool,
    /// The checkpoint had not changed (conditional GET).
    pub not_modified: bool,
    pub timings: Timings,
}

#[derive(Serialize, Deserialize, Default)]
struct Known {
    sequence: u64,
    state_root: String,
}

const HTTP_STATE: &str = "http.json";
const KNOWN: &str = "known.json";
const TRUSTED_ROOT: &str = "root.json";
const LAST_CHECKPOINT: &str = "checkpoint.json";

/// The installed data a delta is applied to.
enum Installed {
    Empty(EmptyState),
    Mapped(LayeredIndex<memmap2::Mmap>),
    Memory(LayeredIndex<Vec<u8>>),
}

impl StateLookup for Installed {
    fn get_record(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError> {
        match self {
            Installed::Empty(e) => e.get_record(key),
            Installed::Mapped(l) => l.get_record(key),
            Installed::Memory(l) => l.get_record(key),
        }
    }
}

/// One sync of `data` from `source`, trusting `pinned_root` (the bytes of
/// the root the operator pinned) and any later root verified from it.
#[derive(Debug)]
pub struct Syncer<'a> {
    source: &'a dyn Source,
    data: DataDir,
    pinned_root: Vec<u8>,
    opts: SyncOptions,
}

impl std::fmt::Debug for dyn Source + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.describe())
    }
}

fn download_name(path: &str) -> String {
    path.replace('/', "_")
}

impl<'a> Syncer<'a> {
    /// Prepares a sync; creates the data directory layout if needed.
    pub fn new(
        source: &'a dyn Source,
        data_dir: &Path,
        pinned_root: Vec<u8>,
        opts: SyncOptions,
    ) -> Result<Self, SyncError> {
        let data = DataDir::create(data_dir)?;
        Ok(Self {
            source,
            data,
            pinned_root,
            opts,
        })
    }

    pub fn data(&self) -> &DataDir {
        &self.data
    }

    fn now(&self) -> i64 {
        self.opts.now.unwrap_or_else(sltd_feed::now_unix)
    }

    /// Runs the sync and records its outcome in `state/status.json`.
    pub fn run(&self) -> Result<SyncReport, SyncError> {
        let lock = self.data.lock()?;
        let started = self.now();
        let result = self.run_locked();
        let mut status = self.data.status().unwrap_or_default();
        status.last_attempt = Some(started);
        match &result {
            Ok(r) => {
                status.last_success = Some(self.now());
                status.consecutive_failures = 0;
                status.checkpoint_sequence = Some(r.sequence);
            }
            Err(e) => {
                status.last_error = Some(e.to_string());
                status.last_error_kind = Some(e.kind().to_string());
                status.last_error_at = Some(self.now());
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            }
        }
        if let Err(e) = self.data.write_status(&status) {
            tracing::warn!(error = %e, "could not record the sync status");
        }
        drop(lock);
        result
    }

    /// Merges the current generation's segments into a new base now.
    pub fn compact_now(&self) -> Result<Option<GenerationId>, SyncError> {
        let _lock = self.data.lock()?;
        match self.data.current()? {
            Some(g) if !g.segments.is_empty() => Ok(Some(self.compact(&g)?.id)),
            _ => Ok(None),
        }
    }

    fn trusted_root(&self) -> Result<Root, SyncError> {
        let pinned = Root::from_trusted_bytes(&self.pinned_root)?;
        if let Some(bytes) = self.data.read_state_file(TRUSTED_ROOT, MAX_ROOT_BYTES)? {
            // Verified through the chain when it was stored.
            if let Ok(stored) = Root::from_trusted_bytes(&bytes)
                && stored.feed == pinned.feed
                && stored.version > pinned.version
            {
                return Ok(stored);
            }
        }
        Ok(pinned)
    }

    fn known(&self) -> Result<(u64, Hash32), SyncError> {
        let empty = StateHash::empty().root();
        let Some(b) = self.data.read_state_file(KNOWN, 4096)? else {
            return Ok((0, empty));
        };
        let k: Known =
            serde_json::from_slice(&b).map_err(|e| FeedError::malformed("known.json", e))?;
        let root = sltd_feed::parse_hash_hex(&k.state_root)
            .ok_or_else(|| FeedError::malformed("known.json", "root"))?;
        Ok((k.sequence, root))
    }

    fn progress(&self, what: &str) -> Box<dyn Progress> {
        match &self.opts.progress {
            Some(f) => f.start(what),
            None => Box::new(NoProgress),
        }
    }

    /// Fetches a feed file through the resumable download directory,
    /// checking length and hash when the signed metadata gives them. The
    /// partial file stays for the next run only if the transfer broke off.
    fn fetch(
        &self,
        path: &str,
        cap: u64,
        expected: Option<&FileRef>,
        report: &mut SyncReport,
    ) -> Result<Vec<u8>, SyncError> {
        let dest = self.data.download_dir().join(download_name(path));
        let resumed = dest.exists();
        let cap = expected.map_or(cap, |e| e.length.min(cap));
        let pb = self.progress(path);
        let got = self.source.download(path, &dest, cap, pb.as_ref());
        let n = got?;
        report.bytes_downloaded += n;
        let bytes = std::fs::read(&dest).map_err(|e| FeedError::Io {
            path: dest.clone(),
            source: e,
        })?;
        if let Some(e) = expected {
            let bad_len = (bytes.len() as u64) != e.length;
            if bad_len || Some(sltd_feed::sha256(&bytes)) != e.hash() {
                let _ = std::fs::remove_file(&dest);
                if resumed {
                    // The partial file may have come from another version of
                    // a mutable mirror; try once from scratch.
                    tracing::info!(path, "resumed download does not verify; downloading again");
                    return self.fetch(path, cap, expected, report);
                }
                if (bytes.len() as u64) < e.length {
                    return Err(FeedError::Truncated {
                        what: path.into(),
                        expected: e.length,
                        actual: bytes.len() as u64,
                    }
                    .into());
                }
                return Err(FeedError::HashMismatch { what: path.into() }.into());
            }
        }
        Ok(bytes)
    }

    fn done_with(&self, path: &str) {
        let _ = std::fs::remove_file(self.data.download_dir().join(download_name(path)));
    }

    /// The checkpoint bytes, and the HTTP validators to store once it has
    /// verified (none when the server said "not modified").
    fn fetch_checkpoint(
        &self,
        report: &mut SyncReport,
    ) -> Result<(Vec<u8>, Option<Validators>), SyncError> {
        let cap = 1 << 20; // bounded again by the root's limit when verified
        let last = self.data.read_state_file(LAST_CHECKPOINT, cap)?;
        let validators: Validators = match &last {
            Some(_) => self
                .data
                .read_state_file(HTTP_STATE, 64 << 10)?
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
            None => Validators::default(),
        };
        match self
            .source
            .get_conditional(layout::CHECKPOINT, cap, &validators)?
        {
            Conditional::NotModified => {
                report.not_modified = true;
                Ok((last.unwrap_or_default(), None))
            }
            Conditional::Body { bytes, validators } => {
                report.bytes_downloaded += bytes.len() as u64;
                Ok((bytes, Some(validators)))
            }
        }
    }

    fn run_locked(&self) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        self.data.collect_garbage()?;
        let now = self.now();
        let t0 = Instant::now();
        let mut root = self.trusted_root()?;
        let (cp_bytes, validators) = self.fetch_checkpoint(&mut report)?;
        // Walk the root chain one version at a time up to the version the
        // checkpoint claims (the claim is only a hint: the checkpoint must
        // then verify under the root reached).
        let claimed = Checkpoint::claimed_root_version(&cp_bytes)?;
        if claimed > root.version {
            if claimed - root.version > MAX_ROOT_STEPS {
                return Err(FeedError::RootVersion {
                    expected: root.version + 1,
                    found: claimed,
                }
                .into());
            }
            while root.version < claimed {
                let path = layout::root_path(root.version + 1);
                let bytes = self.source.get(&path, MAX_ROOT_BYTES)?;
                report.bytes_downloaded += bytes.len() as u64;
                root = root.verify_next(&bytes)?;
                self.data.write_state_file(TRUSTED_ROOT, &bytes)?;
                tracing::info!(version = root.version, "trusted a new root");
            }
        }
        root.check_expiry(now)?;
        let cp = Checkpoint::verify(&root, &cp_bytes, now)?;
        let current = self.data.current()?;
        let (known_seq, known_root) = self.known()?;
        cp.check_against(known_seq, &known_root)?;
        if let Some(g) = &current {
            if g.feed != root.feed {
                return Err(FeedError::FeedMismatch {
                    expected: root.feed.clone(),
                    found: g.feed.clone(),
                }
                .into());
            }
            cp.check_against(g.sequence, &g.state_root)?;
        }
        // The checkpoint is authentic and not a rollback: remember it.
        let known = Known {
            sequence: cp.sequence,
            state_root: hex(&cp.state_root),
        };
        self.data
            .write_state_file(KNOWN, &serde_json::to_vec(&known).unwrap_or_default())?;
        self.data.write_state_file(LAST_CHECKPOINT, &cp_bytes)?;
        if let Some(v) = validators {
            self.data
                .write_state_file(HTTP_STATE, &serde_json::to_vec(&v).unwrap_or_default())?;
        }
        report.timings.fetch = t0.elapsed();
        report.from_sequence = current.as_ref().map(|g| g.sequence);
        report.sequence = cp.sequence;
        report.state_root = hex(&cp.state_root);

        if let Some(g) = &current
            && g.sequence == cp.sequence
            && !self.opts.resync
        {
            if cp.issued_at > g.as_of {
                // Same data, newer signed statement: refresh the as-of time.
                let t = Instant::now();
                let cpf = self
                    .data
                    .write_file("checkpoint", cp.sequence, "json", &cp_bytes)?;
                let ng = self.data.install(NewGeneration {
                    feed: g.feed.clone(),
                    sequence: g.sequence,
                    state_root: g.state_root,
                    record_count: g.record_count,
                    as_of: cp.issued_at,
                    expires_at: cp.expires_at,
                    base: g.base.clone(),
                    segments: g.segments.clone(),
                    buckets: g.buckets.clone(),
                    checkpoint: cpf,
                })?;
                report.installed = Some(ng.id.to_string());
                report.timings.install = t.elapsed();
            }
            return Ok(report);
        }

        let snapshot_newer = |s: u64| {
            cp.snapshot
                .as_ref()
                .is_some_and(|r| r.sequence > s && r.sequence <= cp.sequence)
        };
        let from = current.as_ref().map_or(0, |g| g.sequence);
        let want_snapshot = self.opts.resync
            || (current.is_none() && snapshot_newer(0))
            || (cp.sequence - from > self.opts.max_delta_backlog && snapshot_newer(from));
        let installed = if want_snapshot && cp.snapshot.is_some() {
            self.sync_by_snapshot(&root, &cp, &cp_bytes, &mut report)?
        } else {
            match self.sync_by_deltas(&root, &cp, &cp_bytes, current.as_ref(), &mut report) {
                Err(SyncError::NotFound { what }) if snapshot_newer(from) => {
                    tracing::warn!(%what, "a delta is missing; taking the snapshot");
                    self.sync_by_snapshot(&root, &cp, &cp_bytes, &mut report)?
                }
                Err(SyncError::Feed(e @ FeedError::DeltaChainBroken { .. }))
                    if snapshot_newer(0) =>
                {
                    tracing::warn!(error = %e, "local state is out of step with the feed; taking the snapshot");
                    self.sync_by_snapshot(&root, &cp, &cp_bytes, &mut report)?
                }
                r => r?,
            }
        };
        report.installed = Some(installed.id.to_string());

        let t = Instant::now();
        if self.should_compact(&installed)? {
            let g = self.compact(&installed)?;
            report.installed = Some(g.id.to_string());
            report.compacted = true;
        }
        report.timings.compact = t.elapsed();
        Ok(report)
    }

    fn open_installed(&self, g: Option<&Generation>) -> Result<(Installed, StateHash), SyncError> {
        let Some(g) = g else {
            return Ok((Installed::Empty(EmptyState), StateHash::empty()));
        };
        let idx = g.open_index(MapOptions::default())?;
        let hash = match self.data.load_state(g) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "state buckets unusable; recomputing them from the index");
                let h = state_of_index(&idx)?;
                if h.root() != g.state_root {
                    return Err(FeedError::DataDir {
                        reason: format!(
                            "installed generation {} does not match its state root",
                            g.id
                        ),
                    }
                    .into());
                }
                h
            }
        };
        Ok((Installed::Mapped(idx), hash))
    }

    /// Applies the deltas after `base_seq` up to the checkpoint on top of
    /// `lookup`, verifying each.
    fn apply_deltas<'l>(
        &self,
        root: &Root,
        cp: &Checkpoint,
        lookup: &'l Installed,
        hash: StateHash,
        base_seq: u64,
        report: &mut SyncReport,
    ) -> Result<PendingState<'l, Installed>, SyncError> {
        let mut pending = PendingState::new(lookup, hash, base_seq);
        for seq in base_seq + 1..=cp.sequence {
            let path = layout::delta_path(seq);
            let expected = cp.delta.as_ref().filter(|d| d.sequence == seq);
            let t = Instant::now();
            let bytes = self.fetch(&path, root.limits.max_delta_bytes, expected, report)?;
            report.timings.fetch += t.elapsed();
            let t = Instant::now();
            let verified =
                delta::verify(root, &bytes, seq, pending.root()).and_then(|d| pending.apply(&d));
            if let Err(e) = verified {
                self.done_with(&path);
                return Err(e.into());
            }
            report.timings.verify_apply += t.elapsed();
            self.done_with(&path);
            report.deltas_applied += 1;
        }
        if *pending.root() != cp.state_root || pending.hash().count() != cp.record_count {
            return Err(FeedError::StateRootMismatch {
                sequence: cp.sequence,
                expected: hex(&cp.state_root),
                computed: hex(pending.root()),
            }
            .into());
        }
        report.changed_keys = pending.changed() as u64;
        Ok(pending)
    }

    fn build_segment(
        &self,
        cp: &Checkpoint,
        entries: impl Iterator<Item = Entry>,
    ) -> Result<Option<PathBuf>, SyncError> {
        let mut b = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Segment,
            created_at: self.now(),
            feed_sequence: cp.sequence,
            state_root: cp.state_root,
        });
        let mut any = false;
        for e in entries {
            b.push_entry(e)?;
            any = true;
        }
        if !any {
            return Ok(None);
        }
        let built = b.finish()?;
        let p = self.data.new_file_path("segment", cp.sequence, "sltdidx");
        sltd_feed::datadir::write_atomically(&p, &built.bytes)?;
        Ok(Some(p))
    }

    fn sync_by_deltas(
        &self,
        root: &Root,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        current: Option<&Generation>,
        report: &mut SyncReport,
    ) -> Result<Generation, SyncError> {
        let (lookup, hash) = self.open_installed(current)?;
        let base_seq = current.map_or(0, |g| g.sequence);
        let pending = self.apply_deltas(root, cp, &lookup, hash, base_seq, report)?;
        let t = Instant::now();
        let (base, mut segments) = match current {
            Some(g) => (g.base.clone(), g.segments.clone()),
            None => (self.empty_base(cp)?, Vec::new()),
        };
        if let Some(seg) = self.build_segment(cp, pending.entries())? {
            segments.push(seg);
        }
        let (_, hash) = pending.into_parts();
        drop(lookup);
        if segments.len() > self.opts.max_segments {
            segments = vec![self.merge_segments(cp, &segments)?];
        }
        report.timings.build = t.elapsed();
        let t = Instant::now();
        let g = self.install(root, cp, cp_bytes, &hash, base, segments)?;
        report.timings.install = t.elapsed();
        Ok(g)
    }

    fn empty_base(&self, cp: &Checkpoint) -> Result<PathBuf, SyncError> {
        let built = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: self.now(),
            feed_sequence: 0,
            state_root: StateHash::empty().root(),
        })
        .finish()?;
        let p = self.data.new_file_path("base", 0, "sltdidx");
        let _ = cp;
        sltd_feed::datadir::write_atomically(&p, &built.bytes)?;
        Ok(p)
    }

    fn install(
        &self,
        root: &Root,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        hash: &StateHash,
        base: PathBuf,
        segments: Vec<PathBuf>,
    ) -> Result<Generation, SyncError> {
        let buckets = self
            .data
            .write_file("buckets", cp.sequence, "bin", &hash.to_bytes())?;
        let checkpoint = self
            .data
            .write_file("checkpoint", cp.sequence, "json", cp_bytes)?;
        let g = self.data.install(NewGeneration {
            feed: root.feed.clone(),
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

    /// Merges segments (oldest first) into one segment.
    fn merge_segments(&self, cp: &Checkpoint, segments: &[PathBuf]) -> Result<PathBuf, SyncError> {
        let opened = segments
            .iter()
            .map(|p| sltd_index::open_file(p, MapOptions::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = sltd_index::merge_layers(&opened)?;
        drop(opened);
        let seg = self.build_segment(cp, merged.into_values())?;
        match seg {
            Some(p) => Ok(p),
            None => Err(FeedError::DataDir {
                reason: "merged segments are empty".into(),
            }
            .into()),
        }
    }

    fn sync_by_snapshot(
        &self,
        root: &Root,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        report: &mut SyncReport,
    ) -> Result<Generation, SyncError> {
        let sref = cp.snapshot.clone().ok_or_else(|| SyncError::NotFound {
            what: "snapshot".into(),
        })?;
        report.snapshot = Some(sref.sequence);
        let t = Instant::now();
        let mpath = layout::manifest_path(sref.sequence);
        let mbytes = self.fetch(&mpath, root.limits.max_manifest_bytes, Some(&sref), report)?;
        let m = SnapshotManifest::verify(root, &mbytes)?;
        self.done_with(&mpath);
        if m.sequence != sref.sequence || m.sequence > cp.sequence {
            return Err(FeedError::malformed(
                "snapshot manifest",
                "sequence differs from the checkpoint's pointer",
            )
            .into());
        }
        report.timings.fetch += t.elapsed();
        let mut builder = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: self.now(),
            feed_sequence: m.sequence,
            state_root: m.state_root,
        });
        builder.reserve(m.record_count.min(root.limits.max_records) as usize);
        let mut hash = StateHash::empty();
        let mut last: Option<DocumentKey> = None;
        let mut recs = Vec::new();
        for (i, c) in m.chunks.iter().enumerate() {
            let path = layout::chunk_path(m.sequence, i);
            let t = Instant::now();
            let bytes = self.fetch(
                &path,
                root.limits.max_chunk_bytes,
                Some(&FileRef {
                    sequence: m.sequence,
                    length: c.length,
                    sha256: c.sha256.clone(),
                }),
                report,
            )?;
            report.timings.fetch += t.elapsed();
            let t = Instant::now();
            recs.clear();
            snapshot::decode_chunk(root, c, &bytes, last.as_ref(), &mut recs)?;
            for r in &recs {
                hash.insert(r);
                builder.push(*r);
            }
            last = recs.last().map(|r| r.key).or(last);
            report.timings.verify_apply += t.elapsed();
        }
        if hash.root() != m.state_root || hash.count() != m.record_count {
            return Err(FeedError::StateRootMismatch {
                sequence: m.sequence,
                expected: hex(&m.state_root),
                computed: hex(&hash.root()),
            }
            .into());
        }
        let t = Instant::now();
        let built = builder.finish()?;
        report.timings.build += t.elapsed();
        let base_index = Index::open(built.bytes)?;
        let lookup = Installed::Memory(LayeredIndex::new(base_index, Vec::new())?);
        let pending = self.apply_deltas(root, cp, &lookup, hash, m.sequence, report)?;
        let t = Instant::now();
        let mut segments = Vec::new();
        if let Some(seg) = self.build_segment(cp, pending.entries())? {
            segments.push(seg);
        }
        let (_, hash) = pending.into_parts();
        let Installed::Memory(layered) = lookup else {
            unreachable!("built above")
        };
        let base = self.data.new_file_path("base", m.sequence, "sltdidx");
        sltd_feed::datadir::write_atomically(&base, layered.base().bytes())?;
        drop(layered);
        for c in 0..m.chunks.len() {
            self.done_with(&layout::chunk_path(m.sequence, c));
        }
        report.timings.build += t.elapsed();
        let t = Instant::now();
        let g = self.install(root, cp, cp_bytes, &hash, base, segments)?;
        report.timings.install = t.elapsed();
        Ok(g)
    }

    fn should_compact(&self, g: &Generation) -> Result<bool, SyncError> {
        if g.segments.is_empty() {
            return Ok(false);
        }
        Ok(match self.opts.compaction {
            Compaction::Never => false,
            Compaction::Always => true,
            Compaction::Auto => {
                let mut seg_entries = 0u64;
                for p in &g.segments {
                    seg_entries += sltd_index::open_file(p, MapOptions::default())?
                        .header()
                        .record_count;
                }
                let base = sltd_index::open_file(&g.base, MapOptions::default())?
                    .header()
                    .record_count;
                seg_entries.saturating_mul(1000) > base.saturating_mul(self.opts.compact_permille)
            }
        })
    }

    /// Builds a new base from `g`'s base and segments and installs it as a
    /// new generation of the same sequence. The daemon keeps serving `g`
    /// meanwhile.
    fn compact(&self, g: &Generation) -> Result<Generation, SyncError> {
        let started = Instant::now();
        let idx = g.open_index(MapOptions::default())?;
        let mut b = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: self.now(),
            feed_sequence: g.sequence,
            state_root: g.state_root,
        });
        b.reserve(g.record_count as usize);
        idx.for_each_record(|r| b.push(r))?;
        let built = b.finish()?;
        if built.header.record_count != g.record_count {
            return Err(FeedError::DataDir {
                reason: format!(
                    "compaction produced {} records, the generation has {}",
                    built.header.record_count, g.record_count
                ),
            }
            .into());
        }
        drop(idx);
        let base = self.data.new_file_path("base", g.sequence, "sltdidx");
        sltd_feed::datadir::write_atomically(&base, &built.bytes)?;
        drop(built);
        let ng = self.data.install(NewGeneration {
            feed: g.feed.clone(),
            sequence: g.sequence,
            state_root: g.state_root,
            record_count: g.record_count,
            as_of: g.as_of,
            expires_at: g.expires_at,
            base,
            segments: Vec::new(),
            buckets: g.buckets.clone(),
            checkpoint: g.checkpoint.clone(),
        })?;
        tracing::info!(generation = %ng.id, elapsed_ms = started.elapsed().as_millis() as u64, "compacted");
        Ok(ng)
    }
}

/// Recomputes a state hash from every record of a layered index.
fn state_of_index<B: AsRef<[u8]>>(idx: &LayeredIndex<B>) -> Result<StateHash, SyncError> {
    let mut h = StateHash::empty();
    idx.for_each_record(|r| h.insert(&r))?;
    Ok(h)
}
