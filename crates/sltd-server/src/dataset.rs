//! The data set a daemon serves, and where it comes from.
//!
//! A [`Dataset`] is an opened, resident and fully verified layered index
//! plus what answers report about it (identity, sequence, age). It is
//! immutable: a reload builds a new one and swaps it in, so a query always
//! sees one consistent data set from start to finish.
//!
//! A [`DatasetSource`] knows how to load one: [`IndexFileSource`]
//! (`sltdd --index FILE`) or [`crate::DataDirSource`] (`sltdd --data-dir
//! DIR`, the generations `sltd-sync` installs). The RPC code never needs to
//! know which one is in use.

use std::fmt;
use std::path::{Path, PathBuf};

pub use sltd_datadir::FileStamp;
use sltd_feed::freshness::{Freshness, FreshnessPolicy, age_seconds};
use sltd_index::{IndexError, LayeredIndex, MapOptions, SharedMmap, open_file};
use sltd_model::{DocumentNumber, IssuingState, Query, Record};

use crate::summary::DatasetSummary;

/// An opened, resident, verified data set and what answers say about it.
#[derive(Debug)]
pub struct Dataset {
    index: LayeredIndex<SharedMmap>,
    meta: DatasetMeta,
    /// The issuing states its records carry and the confusable filter.
    summary: DatasetSummary,
}

/// What answers and metrics report about a data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetMeta {
    /// Content identity (hex): equal ids answer identically.
    pub content_id: String,
    /// Feed sequence number; 0 when not built from the feed.
    pub sequence: u64,
    /// The time the data reflects, Unix seconds: the feed checkpoint's issue
    /// time, or a plain index file's build time.
    pub as_of: i64,
    /// When the data stops being trustworthy (a checkpoint's expiry), Unix
    /// seconds.
    pub expires_at: Option<i64>,
    /// Records in the data set.
    pub record_count: u64,
    /// Where it was loaded from, for status pages and logs.
    pub source: String,
}

impl DatasetMeta {
    /// Seconds between `as_of` and `now` (negative if the data claims to be
    /// from the future, which freshness treats as fresh).
    pub fn age_seconds(&self, now: i64) -> i64 {
        age_seconds(now, self.as_of)
    }

    /// Freshness at `now` under `policy`: the feed's one rule
    /// ([`FreshnessPolicy::freshness`]).
    pub fn freshness(&self, now: i64, policy: &FreshnessPolicy) -> Freshness {
        policy.freshness(now, self.as_of, self.expires_at)
    }
}

impl Dataset {
    /// Wraps an opened index. Call only with an index whose every file has
    /// passed `verify()`: the daemon serves it as is.
    pub fn new(index: LayeredIndex<SharedMmap>, meta: DatasetMeta) -> Self {
        // Each file's stored states and filter, loaded once and shared
        // with the next data set while the file is unchanged.
        let summary = DatasetSummary::of(&index);
        Self {
            index,
            meta,
            summary,
        }
    }

    /// Whether a query for `number` may have possible matches here; false
    /// means certainly none, so the candidates need not be probed.
    pub fn may_have_possible_matches(&self, number: &DocumentNumber) -> bool {
        self.summary.may_have_possible_matches(number)
    }

    /// Whether a record of this data set carries `state`.
    pub fn has_issuing_state(&self, state: &IssuingState) -> bool {
        self.summary.has_issuing_state(state)
    }

    pub fn meta(&self) -> &DatasetMeta {
        &self.meta
    }

    pub fn index(&self) -> &LayeredIndex<SharedMmap> {
        &self.index
    }

    /// Appends every record answering `query`.
    pub fn lookup(&self, query: &Query, out: &mut Vec<Record>) -> Result<(), IndexError> {
        self.index.lookup(query, out)
    }

    /// Answers many queries; `on_match(i, record)` for each record answering
    /// `queries[i]`, prefetching across the batch.
    pub fn lookup_batch(
        &self,
        queries: &[Query],
        on_match: impl FnMut(usize, Record),
    ) -> Result<(), IndexError> {
        self.index.lookup_batch(queries, on_match)
    }
}

/// Why a data set could not be loaded. The daemon keeps serving the data set
/// it has, if any.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// An index file failed to open or verify.
    Index { path: PathBuf, source: IndexError },
    /// A file could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The source is inconsistent (for example a data directory whose
    /// checkpoint does not match its files); `reason` says how.
    Invalid { reason: String },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Index { path, source } => {
                write!(f, "cannot load index {}: {source}", path.display())
            }
            LoadError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            LoadError::Invalid { reason } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Index { source, .. } => Some(source),
            LoadError::Io { source, .. } => Some(source),
            LoadError::Invalid { .. } => None,
        }
    }
}

/// A cheap fingerprint of what a source would load. When it changes, the
/// daemon reloads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceStamp(pub Vec<FileStamp>);

/// Where a daemon's data set comes from.
///
/// Implementations do the slow work in [`load`](Self::load) (map, make
/// resident, verify every byte); the daemon calls it off the request path
/// and swaps the result in only when it succeeds.
pub trait DatasetSource: Send + Sync + fmt::Debug + 'static {
    /// A short description for logs and status, e.g. `index file /a/b.sltd`.
    fn describe(&self) -> String;

    /// Opens, makes resident and verifies the current data set.
    fn load(&self) -> Result<Dataset, LoadError>;

    /// A cheap fingerprint of the current data set (file metadata, never
    /// contents), polled to notice a replacement. `None` when it cannot be
    /// determined right now (e.g. the file is missing during a rename); the
    /// poller then does nothing.
    fn stamp(&self) -> Option<SourceStamp>;

    /// What `sltd-sync` last recorded about its syncs, when the data set
    /// comes from a data directory it keeps; `None` otherwise (or when the
    /// record cannot be read). Reads a small file.
    fn sync_status(&self) -> Option<sltd_datadir::SyncStatus> {
        None
    }
}

/// A single base index file: `sltdd --index FILE`.
#[derive(Clone, Debug)]
pub struct IndexFileSource {
    path: PathBuf,
}

impl IndexFileSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl DatasetSource for IndexFileSource {
    fn describe(&self) -> String {
        format!("index file {}", self.path.display())
    }

    fn load(&self) -> Result<Dataset, LoadError> {
        let err = |source| LoadError::Index {
            path: self.path.clone(),
            source,
        };
        let base = open_file(&self.path, MapOptions { resident: true }).map_err(err)?;
        // Every byte, before anything is served from it: a truncated or
        // corrupted replacement must be refused, not half-served.
        base.verify().map_err(err)?;
        let header = base.header().clone();
        let index = LayeredIndex::new(base.into_shared(), Vec::new()).map_err(err)?;
        Ok(Dataset::new(
            index,
            DatasetMeta {
                content_id: header.content_id_hex(),
                sequence: header.feed_sequence,
                as_of: header.created_at,
                expires_at: None,
                record_count: header.record_count,
                source: self.describe(),
            },
        ))
    }

    fn stamp(&self) -> Option<SourceStamp> {
        FileStamp::of(&self.path).ok().map(|s| SourceStamp(vec![s]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(as_of: i64, expires_at: Option<i64>) -> DatasetMeta {
        DatasetMeta {
            content_id: String::new(),
            sequence: 0,
            as_of,
            expires_at,
            record_count: 0,
            source: String::new(),
        }
    }

    #[test]
    fn freshness_is_the_feed_rule() {
        let p = FreshnessPolicy::default();
        let stale = p.stale_after.as_secs() as i64;
        for (as_of, expires_at, now) in [
            (1000, None, 1000 + stale),
            (1000, None, 1001 + stale),
            (1000, Some(1500), 1500),
            (1000, Some(1500), 1501),
            (5000, None, 1000),
        ] {
            assert_eq!(
                meta(as_of, expires_at).freshness(now, &p),
                p.freshness(now, as_of, expires_at)
            );
        }
        // A plain index file has no expiry: old, never expired.
        assert_eq!(meta(0, None).freshness(i64::MAX, &p), Freshness::Stale);
    }
}
