//! Why a sync failed. Everything the feed's verification refuses is a
//! [`FeedError`] with its own variant, everything the data directory could
//! not do a [`DataDirError`]; this adds the ways fetching fails.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use sltd_datadir::DataDirError;
use sltd_feed::FeedError;

#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// The feed refused something: forged, replayed, expired, too large...
    /// See [`FeedError`].
    Feed(FeedError),
    /// The data directory could not be read or written, or is locked.
    DataDir(DataDirError),
    /// A file the feed should have is missing at the source.
    NotFound { what: String },
    /// The source could not be reached or answered with an error.
    Fetch { what: String, reason: String },
    /// The source broke a rule of the transport (too slow, a refused
    /// redirect, ...): see [`TransferFault`].
    Transfer { what: String, fault: TransferFault },
    /// A partial download could not be written.
    Io { path: PathBuf, source: io::Error },
    /// The configuration is unusable.
    Config { reason: String },
    /// Shutdown was asked for; the sync stopped before installing anything.
    Interrupted,
}

/// How a source broke a rule of the transport. Each is its own error kind
/// in `state/status.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferFault {
    /// The transfer took longer than its total deadline.
    Deadline { limit: Duration },
    /// A window of `window` brought `bytes`, below `min_rate` bytes/s.
    TooSlow {
        bytes: u64,
        window: Duration,
        min_rate: u64,
    },
    /// HTTP 416 for a request without a Range header, or again after the
    /// partial file was discarded.
    RangeNotSatisfiable,
    /// A redirect the policy does not allow.
    Redirect { to: String, why: &'static str },
    /// The feed file in a directory source is not a regular file (a FIFO,
    /// a device, a directory).
    NotAFile,
}

impl TransferFault {
    pub fn kind(&self) -> &'static str {
        match self {
            TransferFault::Deadline { .. } => "deadline",
            TransferFault::TooSlow { .. } => "too_slow",
            TransferFault::RangeNotSatisfiable => "range_not_satisfiable",
            TransferFault::Redirect { .. } => "redirect_refused",
            TransferFault::NotAFile => "not_a_file",
        }
    }
}

impl fmt::Display for TransferFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferFault::Deadline { limit } => write!(
                f,
                "not done within its deadline of {} (download_timeout / metadata deadline)",
                humantime::format_duration(*limit)
            ),
            TransferFault::TooSlow {
                bytes,
                window,
                min_rate,
            } => write!(
                f,
                "too slow: {bytes} bytes in {:.1} s, below the minimum of {min_rate} bytes/s \
                 (download_min_rate)",
                window.as_secs_f64()
            ),
            TransferFault::RangeNotSatisfiable => write!(
                f,
                "HTTP 416 Range Not Satisfiable even for the whole file; the mirror is broken"
            ),
            TransferFault::Redirect { to, why } => {
                write!(f, "redirect to {to} refused: {why}")
            }
            TransferFault::NotAFile => write!(f, "not a regular file; refused without reading"),
        }
    }
}

impl SyncError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SyncError {
        let path = path.into();
        move |source| SyncError::Io { path, source }
    }

    /// A short stable name for status files and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Feed(e) => e.kind(),
            SyncError::DataDir(e) => e.kind(),
            SyncError::NotFound { .. } => "not_found",
            SyncError::Fetch { .. } => "fetch",
            SyncError::Transfer { fault, .. } => fault.kind(),
            SyncError::Io { .. } => "io",
            SyncError::Config { .. } => "config",
            SyncError::Interrupted => "interrupted",
        }
    }

    /// Whether the error is a refusal of the feed's contents (an attack or a
    /// publisher fault), as opposed to an operational failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SyncError::Feed(e) if !matches!(e, FeedError::Io { .. } | FeedError::Index(_))
        )
    }

    /// Whether another sync holds the data directory's lock.
    pub fn is_locked(&self) -> bool {
        matches!(self, SyncError::DataDir(DataDirError::Locked { .. }))
    }

    /// The feed error, if that is what this is.
    pub fn feed(&self) -> Option<&FeedError> {
        match self {
            SyncError::Feed(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Feed(e) => e.fmt(f),
            SyncError::DataDir(e) => e.fmt(f),
            SyncError::NotFound { what } => write!(f, "{what} not found at the source"),
            SyncError::Fetch { what, reason } => write!(f, "fetching {what}: {reason}"),
            SyncError::Transfer { what, fault } => write!(f, "fetching {what}: {fault}"),
            SyncError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            SyncError::Config { reason } => write!(f, "configuration: {reason}"),
            SyncError::Interrupted => write!(f, "interrupted by shutdown; nothing installed"),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SyncError::Feed(e) => Some(e),
            SyncError::DataDir(e) => Some(e),
            SyncError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FeedError> for SyncError {
    fn from(e: FeedError) -> Self {
        SyncError::Feed(e)
    }
}

impl From<DataDirError> for SyncError {
    fn from(e: DataDirError) -> Self {
        SyncError::DataDir(e)
    }
}

impl From<sltd_index::IndexError> for SyncError {
    fn from(e: sltd_index::IndexError) -> Self {
        SyncError::Feed(FeedError::Index(e))
    }
}
