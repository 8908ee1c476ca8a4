//! Why a publication (or creating a feed, or rotating its root) did not
//! happen. A refused publication writes nothing clients can see: the
//! checkpoint, the one file that makes a sequence visible, is written last.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sltd_feed::FeedError;

/// What went wrong while publishing.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// A feed file could not be encoded, or one read back (a root, the
    /// checkpoint, a key file) does not verify.
    Feed(FeedError),
    /// A file of the feed directory could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// The feed directory is not in a state the publisher can work from
    /// (no feed, a feed already there, publisher state out of step).
    FeedDir { reason: String },
    /// The publication was refused before anything was written: too few
    /// signing keys, over a limit of the root, or an export that would
    /// delete too much.
    Refused { reason: String },
}

impl PublishError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> PublishError {
        let path = path.into();
        move |source| PublishError::Io { path, source }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Feed(e) => e.fmt(f),
            PublishError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            PublishError::FeedDir { reason } => write!(f, "feed directory: {reason}"),
            PublishError::Refused { reason } => write!(f, "publication refused: {reason}"),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Feed(e) => Some(e),
            PublishError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FeedError> for PublishError {
    fn from(e: FeedError) -> Self {
        PublishError::Feed(e)
    }
}

/// The crash-safe replace of the index crate, with its error as ours.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), PublishError> {
    sltd_index::write_atomically(path, bytes).map_err(|e| match e {
        sltd_index::IndexError::Io { path, source } => PublishError::Io { path, source },
        other => PublishError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(other.to_string()),
        },
    })
}
