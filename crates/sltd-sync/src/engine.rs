//! One sync: fetch the checkpoint and what it needs, hand every byte to
//! `sltd_feed` to be verified (root chain, checkpoint, deltas, snapshot
//! chunks, state roots: [`sltd_feed::trust`]), and hand the verified result
//! to `sltd_datadir` to be installed as a new data generation. Nothing is
//! written to the data directory's served data before everything up to the
//! checkpoint's sequence has verified. Compaction follows as a separate
//! step, after the new data is already being served.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sltd_datadir::{
    CompactionPolicy, DataDir, Generation, GenerationOpener, OpenOptions, StateFile, VerifiedState,
};
use sltd_feed::apply::{PendingState, StateLookup};
use sltd_feed::metadata::RootHistory;
use sltd_feed::metadata::{Checkpoint, FileRef, MAX_ROOT_BYTES, SnapshotManifest};
use sltd_feed::state::StateHash;
use sltd_feed::trust::{self, Installed, Known, PostKnowledge, ReachedState, RootChain};
use sltd_feed::{delta, layout, snapshot};
use sltd_index::{BuildOptions, Index, IndexBuilder, IndexKind, LayeredIndex};
use sltd_model::DocumentKey;

use crate::source::{NoProgress, Progress, Source};
use crate::{Shutdown, SyncError};

/// The checkpoint is small; the root's own limit applies once verified.
const MAX_CHECKPOINT_FETCH: u64 = 1 << 20;

/// Creates a progress display for one download.
pub trait ProgressFactory: Send + Sync {
    fn start(&self, what: &str) -> Box<dyn Progress>;
}

/// Settings of a sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// The clock, Unix seconds (tests set it; `None` is the system clock).
    pub now: Option<i64>,
    /// When segments are merged and compacted.
    pub compaction: CompactionPolicy,
    /// Take the snapshot instead when more deltas than this are missing and
    /// a newer snapshot exists.
    pub max_delta_backlog: u64,
    /// Start over from the latest snapshot.
    pub resync: bool,
    pub progress: Option<Arc<dyn ProgressFactory>>,
    /// Asked between downloads: once triggered, the sync stops before it
    /// installs anything ([`SyncError::Interrupted`]).
    pub shutdown: Option<Shutdown>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("now", &self.now)
            .field("compaction", &self.compaction)
            .field("max_delta_backlog", &self.max_delta_backlog)
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            now: None,
            compaction: CompactionPolicy::default(),
            max_delta_backlog: 1000,
            resync: false,
            progress: None,
            shutdown: None,
        }
    }
}

/// Where the time of a sync went (serialised as milliseconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    #[serde(rename = "fetch_ms", serialize_with = "as_millis")]
    pub fetch: Duration,
    #[serde(rename = "verify_apply_ms", serialize_with = "as_millis")]
    pub verify_apply: Duration,
    #[serde(rename = "build_ms", serialize_with = "as_millis")]
    pub build: Duration,
    #[serde(rename = "install_ms", serialize_with = "as_millis")]
    pub install: Duration,
    #[serde(rename = "compact_ms", serialize_with = "as_millis")]
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
    /// The checkpoint fetched is, byte for byte, the one the last sync
    /// verified.
    pub not_modified: bool,
    /// The pinned root changed since the last sync: the stored root chain
    /// and what was learned under the old pin were set aside.
    pub pin_changed: bool,
    /// Keys were rotated: the high-water mark (and installed data as a
    /// floor) learned under retired keys was forgotten.
    pub forgot_retired: bool,
    pub timings: Timings,
}

/// Syncs `data` from `source`, trusting `pinned_root` (the bytes of the
/// root the operator pinned) and any later root verified from it. One
/// syncer can [`run`](Syncer::run) many times (`watch`): files it verified
/// are not verified again while unchanged.
pub struct Syncer<'a> {
    source: &'a dyn Source,
    data: DataDir,
    pinned_root: Vec<u8>,
    opts: SyncOptions,
    opener: GenerationOpener,
}

impl std::fmt::Debug for Syncer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("source", &self.source.describe())
            .field("data", &self.data)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
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
            opener: GenerationOpener::new(OpenOptions::SYNC),
        })
    }

    pub fn data(&self) -> &DataDir {
        &self.data
    }

    fn now(&self) -> i64 {
        self.opts.now.unwrap_or_else(sltd_feed::now_unix)
    }

    fn check_shutdown(&self) -> Result<(), SyncError> {
        match &self.opts.shutdown {
            Some(s) if s.is_triggered() => Err(SyncError::Interrupted),
            _ => Ok(()),
        }
    }

    /// Runs the sync and records its outcome in the data directory's status.
    pub fn run(&self) -> Result<SyncReport, SyncError> {
        let lock = self.data.lock()?;
        let started = self.now();
        let result = self.run_locked();
        if result.is_ok()
            && let Err(e) = self.data.clear_downloads()
        {
            tracing::warn!(error = %e, "could not remove finished partial downloads");
        }
        let mut status = self.data.status().unwrap_or_default();
        status.last_attempt = Some(started);
        match &result {
            Ok(r) => {
                status.last_success = Some(self.now());
                status.consecutive_failures = 0;
                status.checkpoint_sequence = Some(r.sequence);
            }
            Err(e) => {
                // Text from the feed or the mirror, stored and shown later.
                status.last_error = Some(
                    sltd_model::printable(&sltd_log::chain(e), sltd_model::MAX_LOGGED_TEXT)
                        .into_owned(),
                );
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

    fn progress(&self, what: &str) -> Box<dyn Progress> {
        match &self.opts.progress {
            Some(f) => f.start(what),
            None => Box::new(NoProgress),
        }
    }

    /// Fetches a feed file through the resumable download directory,
    /// checking it against its signed length and hash when the metadata
    /// gives them. The partial file stays for the next run only if the
    /// transfer broke off.
    fn fetch(
        &self,
        path: &str,
        cap: u64,
        expected: Option<&FileRef>,
        report: &mut SyncReport,
    ) -> Result<Vec<u8>, SyncError> {
        self.check_shutdown()?;
        let dest = self.data.download_path(path);
        let resumed = dest.exists();
        let cap = expected.map_or(cap, |e| e.length.min(cap));
        let pb = self.progress(path);
        report.bytes_downloaded += self.source.download(path, &dest, cap, pb.as_ref())?;
        let bytes = std::fs::read(&dest).map_err(SyncError::io(&dest))?;
        if let Some(e) = expected
            && let Err(refused) = e.check(path, &bytes)
        {
            let _ = std::fs::remove_file(&dest);
            if resumed {
                // The partial file may have come from another version of a
                // mutable mirror; try once from scratch.
                tracing::info!(path, "resumed download does not verify; downloading again");
                return self.fetch(path, cap, expected, report);
            }
            return Err(refused.into());
        }
        Ok(bytes)
    }

    fn done_with(&self, path: &str) {
        let _ = std::fs::remove_file(self.data.download_path(path));
    }

    /// The checkpoint bytes, fetched whole every time. A conditional GET
    /// would save a kilobyte but could skip a checkpoint for good: HTTP
    /// validators (`Last-Modified`, and nginx's `ETag` made of the mtime and
    /// the size) have one-second resolution, so a checkpoint republished
    /// within the second of the last fetch would be answered 304.
    fn fetch_checkpoint(&self, report: &mut SyncReport) -> Result<Vec<u8>, SyncError> {
        let bytes = self.source.get(layout::CHECKPOINT, MAX_CHECKPOINT_FETCH)?;
        report.bytes_downloaded += bytes.len() as u64;
        report.not_modified = self
            .data
            .read_state_file(StateFile::LastCheckpoint)?
            .is_some_and(|last| last == bytes);
        Ok(bytes)
    }

    /// The roots this sync trusts, rebuilt from the pinned root: the
    /// stored chain (each link verified again), then the feed probed for
    /// the next version until it has none; each new root is stored. When
    /// the pin changed since the post's knowledge was recorded, the stored
    /// chain is dropped first (it chained from the old pin).
    fn root_chain(
        &self,
        pin_changed: bool,
        report: &mut SyncReport,
    ) -> Result<RootChain, SyncError> {
        if pin_changed {
            self.data.clear_stored_roots()?;
        }
        trust::build_root_chain(
            &self.pinned_root,
            |version| Ok(self.data.read_stored_root(version)?),
            |version| match self.source.get(&layout::root_path(version), MAX_ROOT_BYTES) {
                Ok(bytes) => {
                    report.bytes_downloaded += bytes.len() as u64;
                    Ok(Some(bytes))
                }
                Err(SyncError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            |root, bytes| {
                self.data.write_stored_root(root.version, bytes)?;
                tracing::info!(version = root.version, "trusted a new root");
                Ok(())
            },
        )
    }

    fn run_locked(&self) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        self.data.collect_garbage()?;
        let now = self.now();
        let t0 = Instant::now();
        let cp_bytes = self.fetch_checkpoint(&mut report)?;
        let current = self.data.current()?;
        let known = self.data.known_checkpoint()?;
        let pin = RootChain::from_pin(&self.pinned_root)?;
        let pin_changed = trust::pin_changed(
            known.as_ref().and_then(|k| k.pin_sha256.as_ref()),
            &pin,
            known.is_some() || current.is_some(),
        );
        if pin_changed {
            tracing::warn!(
                pin = %sltd_feed::hex(pin.pin_sha256()),
                "the pinned root changed: the stored root chain and what was learned under the old pin are set aside"
            );
        }
        let chain = self.root_chain(pin_changed, &mut report)?;
        let root = chain.newest().clone();
        let installed_root_version = match &current {
            Some(g) => self.data.root_version_of(g)?,
            None => None,
        };
        let post = PostKnowledge {
            highest: known.map(|k| Known {
                sequence: k.sequence,
                state_root: k.state_root,
                issued_at: k.issued_at,
                root_version: k.root_version,
            }),
            installed: current.as_ref().map(|g| Installed {
                feed: &g.feed,
                sequence: g.sequence,
                state_root: g.state_root,
                record_count: g.record_count,
                as_of: g.as_of,
                root_version: installed_root_version,
            }),
            pin_sha256: known.and_then(|k| k.pin_sha256),
        };
        let accepted = trust::accept_checkpoint(&chain, &cp_bytes, now, &post)?;
        if accepted.forgot {
            tracing::warn!(
                root_version = root.version,
                "keys were rotated (or the pin changed): the high-water mark learned under retired keys is forgotten"
            );
        }
        report.pin_changed = accepted.pin_changed;
        report.forgot_retired = accepted.forgot;
        let cp = accepted.checkpoint;
        report.from_sequence = current.as_ref().map(|g| g.sequence);
        // The installed data is no base for the deltas when it was learned
        // under retired keys and lies beyond (or beside) the checkpoint.
        let current = current.filter(|_| accepted.installed_is_base);
        // The checkpoint is authentic and not a rollback: remember it.
        self.data
            .remember_checkpoint(&cp, &cp_bytes, chain.pin_sha256())?;
        report.timings.fetch = t0.elapsed();
        report.sequence = cp.sequence;
        report.state_root = sltd_feed::hex(&cp.state_root);

        if let Some(g) = &current
            && g.sequence == cp.sequence
            && !self.opts.resync
        {
            if cp.issued_at > g.as_of {
                // Same data, newer signed statement: the as-of moves on.
                let t = Instant::now();
                let ng = self.data.install_refreshed(g, &cp, &cp_bytes)?;
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
            self.sync_by_snapshot(&chain, &cp, &cp_bytes, &mut report)?
        } else {
            match self.sync_by_deltas(&chain, &cp, &cp_bytes, current.as_ref(), &mut report) {
                Err(SyncError::NotFound { what }) if snapshot_newer(from) => {
                    tracing::warn!(%what, "a delta is missing; taking the snapshot");
                    self.sync_by_snapshot(&chain, &cp, &cp_bytes, &mut report)?
                }
                Err(SyncError::Feed(e @ sltd_feed::FeedError::DeltaChainBroken { .. }))
                    if snapshot_newer(0) =>
                {
                    tracing::warn!(error = %e, "local state is out of step with the feed; taking the snapshot");
                    self.sync_by_snapshot(&chain, &cp, &cp_bytes, &mut report)?
                }
                r => r?,
            }
        };
        report.installed = Some(installed.id.to_string());

        let t = Instant::now();
        if let Some(g) =
            self.data
                .compact_if_due(&installed, &self.opener, &self.opts.compaction, self.now())?
        {
            report.installed = Some(g.id.to_string());
            report.compacted = true;
        }
        report.timings.compact = t.elapsed();
        Ok(report)
    }

    /// Fetches and verifies the deltas after `base_seq` up to the
    /// checkpoint, applying each on top of `lookup` in memory.
    fn apply_deltas<'l, L: StateLookup>(
        &self,
        chain: &RootChain,
        cp: &Checkpoint,
        lookup: &'l L,
        hash: StateHash,
        base_seq: u64,
        report: &mut SyncReport,
    ) -> Result<PendingState<'l, L>, SyncError> {
        let root = chain.newest();
        let mut pending = PendingState::new(lookup, hash, base_seq);
        for seq in base_seq + 1..=cp.sequence {
            let path = layout::delta_path(seq);
            // The checkpoint pins its own delta; earlier ones are bounded
            // by the root and checked by their signed headers.
            let expected = cp.delta.as_ref().filter(|d| d.sequence == seq);
            let t = Instant::now();
            let bytes = self.fetch(&path, root.limits.max_delta_bytes, expected, report)?;
            report.timings.fetch += t.elapsed();
            let t = Instant::now();
            let verified =
                delta::verify(chain, &bytes, seq, pending.root()).and_then(|d| pending.apply(&d));
            self.done_with(&path);
            verified?;
            report.timings.verify_apply += t.elapsed();
            report.deltas_applied += 1;
        }
        cp.check_state(pending.root(), pending.hash().count())?;
        report.changed_keys = pending.changed() as u64;
        Ok(pending)
    }

    fn install(
        &self,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        hash: &StateHash,
        base: std::path::PathBuf,
        segments: Vec<std::path::PathBuf>,
        report: &mut SyncReport,
    ) -> Result<Generation, SyncError> {
        self.check_shutdown()?;
        let t = Instant::now();
        let state = VerifiedState {
            checkpoint: cp,
            envelope: cp_bytes,
            hash,
        };
        let g = self.data.install_state(state, base, segments)?;
        report.timings.install = t.elapsed();
        Ok(g)
    }

    fn sync_by_deltas(
        &self,
        chain: &RootChain,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        current: Option<&Generation>,
        report: &mut SyncReport,
    ) -> Result<Generation, SyncError> {
        let (index, hash) = match current {
            Some(g) => {
                let index = self.opener.open(g)?;
                let hash = self.data.state_of(g, &index)?;
                (Some(index), hash)
            }
            None => (None, StateHash::empty()),
        };
        let base_seq = current.map_or(0, |g| g.sequence);
        let pending = self.apply_deltas(chain, cp, &index, hash, base_seq, report)?;
        let t = Instant::now();
        let now = self.now();
        let base = match current {
            Some(g) => g.base.clone(),
            None => self.data.write_empty_base(now)?,
        };
        let new = self
            .data
            .write_segment(cp.sequence, cp.state_root, pending.entries(), now)?;
        let (_, hash) = pending.into_parts();
        drop(index);
        let segments = self.data.stack_segment(
            current.map(|g| g.segments.clone()).unwrap_or_default(),
            new,
            cp.sequence,
            cp.state_root,
            &self.opts.compaction,
            now,
        )?;
        report.timings.build = t.elapsed();
        self.install(cp, cp_bytes, &hash, base, segments, report)
    }

    fn sync_by_snapshot(
        &self,
        chain: &RootChain,
        cp: &Checkpoint,
        cp_bytes: &[u8],
        report: &mut SyncReport,
    ) -> Result<Generation, SyncError> {
        let root = chain.newest();
        let sref = cp.snapshot.clone().ok_or_else(|| SyncError::NotFound {
            what: "snapshot".into(),
        })?;
        report.snapshot = Some(sref.sequence);
        let t = Instant::now();
        let mpath = layout::manifest_path(sref.sequence);
        let mbytes = self.fetch(&mpath, root.limits.max_manifest_bytes, Some(&sref), report)?;
        let m = SnapshotManifest::verify(chain, &mbytes)?;
        self.done_with(&mpath);
        trust::check_snapshot_pointer(cp, &m)?;
        report.timings.fetch += t.elapsed();
        let mut builder = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: self.now(),
            feed_sequence: m.sequence,
            state_root: m.state_root,
        });
        builder.reserve(usize::try_from(m.record_count.min(root.limits.max_records)).unwrap_or(0));
        let mut hash = StateHash::empty();
        let mut last: Option<DocumentKey> = None;
        let mut recs = Vec::new();
        for (i, c) in m.chunks.iter().enumerate() {
            let path = layout::chunk_path(m.sequence, i);
            let t = Instant::now();
            let bytes = self.fetch(
                &path,
                root.limits.max_chunk_bytes,
                Some(&c.file_ref(m.sequence)),
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
        trust::check_state_reached(
            "snapshot manifest record_count",
            m.sequence,
            &m.state_root,
            m.record_count,
            ReachedState {
                root: &hash.root(),
                count: hash.count(),
            },
        )?;
        let t = Instant::now();
        let built = builder.finish()?;
        report.timings.build += t.elapsed();
        let snapshot_state = LayeredIndex::new(Index::open(built.bytes)?, Vec::new())?;
        let pending = self.apply_deltas(chain, cp, &snapshot_state, hash, m.sequence, report)?;
        let t = Instant::now();
        let now = self.now();
        let segment =
            self.data
                .write_segment(cp.sequence, cp.state_root, pending.entries(), now)?;
        let (_, hash) = pending.into_parts();
        let base = self
            .data
            .write_base(m.sequence, snapshot_state.base().bytes())?;
        drop(snapshot_state);
        for c in 0..m.chunks.len() {
            self.done_with(&layout::chunk_path(m.sequence, c));
        }
        report.timings.build += t.elapsed();
        self.install(
            cp,
            cp_bytes,
            &hash,
            base,
            segment.into_iter().collect(),
            report,
        )
    }
}
