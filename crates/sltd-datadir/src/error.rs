//! Why a data directory could not be read, written or opened. Nothing here
//! is an attack on the feed (those are `sltd_feed::FeedError`): these are
//! the post's own disk, its files, and two programs using them at once.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sltd_feed::FeedError;
use sltd_index::IndexError;

/// What went wrong with a data directory.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataDirError {
    /// A file could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// A file of the directory does not have the form the directory writes.
    Malformed { path: PathBuf, reason: String },
    /// A file is larger than the directory ever writes it.
    TooLarge { path: PathBuf, limit: u64 },
    /// An index file could not be opened, verified or built.
    Index { path: PathBuf, source: IndexError },
    /// A stored feed file (state buckets, a checkpoint) does not read back.
    Feed(FeedError),
    /// Another sync holds the directory's lock.
    Locked { path: PathBuf },
    /// The directory cannot do what was asked in its present state (nothing
    /// installed, no previous generation, files that do not match their
    /// generation); `reason` says which.
    Unusable { reason: String },
}

impl DataDirError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> DataDirError {
        let path = path.into();
        move |source| DataDirError::Io { path, source }
    }

    pub(crate) fn index(path: impl Into<PathBuf>) -> impl FnOnce(IndexError) -> DataDirError {
        let path = path.into();
        move |source| match source {
            IndexError::Io { path, source } => DataDirError::Io { path, source },
            source => DataDirError::Index { path, source },
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl fmt::Display) -> DataDirError {
        DataDirError::Malformed {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// Whether a file was missing: a newer sync removed an old generation
    /// while it was being opened (read `CURRENT` again and retry).
    pub fn is_not_found(&self) -> bool {
        matches!(self, DataDirError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// Whether a file the directory wrote is missing or does not read back
    /// as written (as opposed to an operational failure such as a
    /// permission error, which must not be papered over).
    pub fn is_damage(&self) -> bool {
        self.is_not_found()
            || matches!(
                self,
                DataDirError::Malformed { .. } | DataDirError::TooLarge { .. }
            )
    }

    /// A short stable name for the kind of error, used in status files and
    /// logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DataDirError::Io { .. } => "io",
            DataDirError::Malformed { .. } => "data_dir_malformed",
            DataDirError::TooLarge { .. } => "data_dir_too_large",
            DataDirError::Index { .. } => "index",
            DataDirError::Feed(e) => e.kind(),
            DataDirError::Locked { .. } => "locked",
            DataDirError::Unusable { .. } => "data_dir",
        }
    }
}

impl fmt::Display for DataDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDirError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            DataDirError::Malformed { path, reason } => {
                write!(f, "{}: {reason}", path.display())
            }
            DataDirError::TooLarge { path, limit } => write!(
                f,
                "{} is larger than {limit} bytes, more than this directory ever writes",
                path.display()
            ),
            DataDirError::Index { path, source } => {
                write!(f, "index {}: {source}", path.display())
            }
            DataDirError::Feed(e) => write!(f, "data directory: {e}"),
            DataDirError::Locked { path } => write!(
                f,
                "{} is locked by another sync; two syncs never overlap",
                path.display()
            ),
            DataDirError::Unusable { reason } => write!(f, "data directory: {reason}"),
        }
    }
}

impl std::error::Error for DataDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataDirError::Io { source, .. } => Some(source),
            DataDirError::Index { source, .. } => Some(source),
            DataDirError::Feed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FeedError> for DataDirError {
    fn from(e: FeedError) -> Self {
        DataDirError::Feed(e)
    }
}
