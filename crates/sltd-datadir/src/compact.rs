//! The index files of a data directory: a delta's changes written as a
//! segment, too many segments merged into one, and compaction, which
//! merges a generation's segments into a new base and installs it as
//! another generation of the same sequence while the old one is served.
//!
//! Every merge follows the layered view's rule through the index crate
//! (`sltd_index::merge_layers`, `LayeredIndex::for_each_record`).

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sltd_feed::Hash32;
use sltd_feed::state::StateHash;
use sltd_index::{BuildOptions, Entry, IndexBuilder, IndexKind, LayeredIndex, merge_layers};

use crate::dir::write_atomically;
use crate::layout::FileKind;
use crate::{DataDir, DataDirError, Generation, GenerationOpener, NewGeneration};

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

/// How a data directory keeps its generations small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionPolicy {
    pub mode: Compaction,
    /// Compact when segment entries exceed this per mille of base records.
    pub compact_permille: u64,
    /// Above this many delta segments they are merged into one.
    pub max_segments: usize,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            mode: Compaction::Auto,
            compact_permille: 20,
            max_segments: 8,
        }
    }
}

impl DataDir {
    /// Writes `bytes`, a base index built elsewhere (from a snapshot), to a
    /// new file.
    pub fn write_base(&self, sequence: u64, bytes: &[u8]) -> Result<PathBuf, DataDirError> {
        self.write_file(FileKind::Base, sequence, bytes)
    }

    /// Writes the base of the empty state (a post that starts from
    /// sequence 0 by deltas).
    pub fn write_empty_base(&self, now: i64) -> Result<PathBuf, DataDirError> {
        let built = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: now,
            feed_sequence: 0,
            state_root: StateHash::empty().root(),
        })
        .finish()
        .map_err(DataDirError::index(self.path()))?;
        self.write_base(0, &built.bytes)
    }

    /// Writes `changes` as a new segment at `sequence` with `state_root`;
    /// `None` when there are no changes.
    pub fn write_segment(
        &self,
        sequence: u64,
        state_root: Hash32,
        changes: impl IntoIterator<Item = Entry>,
        now: i64,
    ) -> Result<Option<PathBuf>, DataDirError> {
        let mut b = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Segment,
            created_at: now,
            feed_sequence: sequence,
            state_root,
        });
        let mut any = false;
        for e in changes {
            b.push_entry(e).map_err(DataDirError::index(self.path()))?;
            any = true;
        }
        if !any {
            return Ok(None);
        }
        let p = self.new_file_path(FileKind::Segment, sequence);
        let built = b.finish().map_err(DataDirError::index(&p))?;
        write_atomically(&p, &built.bytes)?;
        Ok(Some(p))
    }

    /// The segments of a new generation: `segments` (oldest first) plus
    /// `new`, merged into one segment when there would be more than
    /// `policy.max_segments`.
    pub fn stack_segment(
        &self,
        mut segments: Vec<PathBuf>,
        new: Option<PathBuf>,
        sequence: u64,
        state_root: Hash32,
        policy: &CompactionPolicy,
        now: i64,
    ) -> Result<Vec<PathBuf>, DataDirError> {
        segments.extend(new);
        if segments.len() <= policy.max_segments {
            return Ok(segments);
        }
        let opened = segments
            .iter()
            .map(|p| {
                sltd_index::open_file(p, Default::default())
                    .and_then(|i| i.verify_checksums().map(|()| i))
                    .map_err(DataDirError::index(p))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let merged = merge_layers(&opened).map_err(DataDirError::index(&segments[0]))?;
        drop(opened);
        let seg = self.write_segment(sequence, state_root, merged.into_values(), now)?;
        Ok(seg.into_iter().collect())
    }

    /// Whether the generation opened as `index` should be compacted under
    /// `policy`.
    pub fn compaction_due<B: AsRef<[u8]>>(
        &self,
        index: &LayeredIndex<B>,
        policy: &CompactionPolicy,
    ) -> bool {
        if index.segments().is_empty() {
            return false;
        }
        match policy.mode {
            Compaction::Never => false,
            Compaction::Always => true,
            Compaction::Auto => {
                let segment_entries: u64 = index
                    .segments()
                    .iter()
                    .map(|s| s.header().record_count)
                    .sum();
                let base = index.base().header().record_count;
                segment_entries.saturating_mul(1000) > base.saturating_mul(policy.compact_permille)
            }
        }
    }

    /// Builds a new base from `g`'s base and segments and installs it as a
    /// new generation of the same sequence (same state, same checkpoint).
    /// A daemon keeps serving `g` meanwhile. Call with the lock held.
    pub fn compact(
        &self,
        g: &Generation,
        opener: &GenerationOpener,
        now: i64,
    ) -> Result<Generation, DataDirError> {
        let started = Instant::now();
        let index = opener.open(g)?;
        let mut b = IndexBuilder::new(BuildOptions {
            kind: IndexKind::Base,
            created_at: now,
            feed_sequence: g.sequence,
            state_root: g.state_root,
        });
        b.reserve(usize::try_from(g.record_count).unwrap_or(0));
        index
            .for_each_record(|r| b.push(r))
            .map_err(DataDirError::index(&g.base))?;
        drop(index);
        let base = self.new_file_path(FileKind::Base, g.sequence);
        let built = b.finish().map_err(DataDirError::index(&base))?;
        if built.header.record_count != g.record_count {
            return Err(DataDirError::Unusable {
                reason: format!(
                    "compaction produced {} records, generation {} has {}",
                    built.header.record_count, g.id, g.record_count
                ),
            });
        }
        write_atomically(&base, &built.bytes)?;
        drop(built);
        let compacted = self.install(NewGeneration {
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
        tracing::info!(generation = %compacted.id, elapsed_ms = started.elapsed().as_millis() as u64, "compacted");
        Ok(compacted)
    }

    /// Compacts `g` when `policy` says it is due; `None` when it is not.
    /// Call with the lock held.
    pub fn compact_if_due(
        &self,
        g: &Generation,
        opener: &GenerationOpener,
        policy: &CompactionPolicy,
        now: i64,
    ) -> Result<Option<Generation>, DataDirError> {
        if g.segments.is_empty() || policy.mode == Compaction::Never {
            return Ok(None);
        }
        let index = opener.open(g)?;
        if !self.compaction_due(&index, policy) {
            return Ok(None);
        }
        drop(index);
        self.compact(g, opener, now).map(Some)
    }

    /// Compacts the current generation if it has segments; `None` when
    /// there is nothing to compact. Call with the lock held.
    pub fn compact_current(
        &self,
        opener: &GenerationOpener,
        now: i64,
    ) -> Result<Option<Generation>, DataDirError> {
        match self.current()? {
            Some(g) if !g.segments.is_empty() => self.compact(&g, opener, now).map(Some),
            _ => Ok(None),
        }
    }

    /// The state hash of `g` (opened as `index`): its bucket file, or, when
    /// that is unusable, recomputed from every record and checked against
    /// the generation's state root.
    pub fn state_of<B: AsRef<[u8]>>(
        &self,
        g: &Generation,
        index: &LayeredIndex<B>,
    ) -> Result<StateHash, DataDirError> {
        match self.load_state(g) {
            Ok(h) => Ok(h),
            Err(e) => {
                tracing::warn!(error = %e, "state buckets unusable; recomputing them from the index");
                let mut h = StateHash::empty();
                index
                    .for_each_record(|r| h.insert(&r))
                    .map_err(DataDirError::index(&g.base))?;
                if h.root() != g.state_root || h.count() != g.record_count {
                    return Err(DataDirError::Unusable {
                        reason: format!(
                            "installed generation {} does not match its state root",
                            g.id
                        ),
                    });
                }
                Ok(h)
            }
        }
    }
}
