//! Why a sync failed. Everything the feed's verification refuses is a
//! [`FeedError`] with its own variant; this adds the ways fetching fails.

use std::fmt;

use sltd_feed::FeedError;

#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// The feed or the data directory refused something; see [`FeedError`].
    Feed(FeedError),
    /// A file the feed should have is missing at the source.
    NotFound { what: String },
    /// The source could not be reached or answered with an error.
    Fetch { what: String, reason: String },
    /// The configuration is unusable.
    Config { reason: String },
}

impl SyncError {
    /// A short stable name for status files and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Feed(e) => e.kind(),
            SyncError::NotFound { .. } => "not_found",
            SyncError::Fetch { .. } => "fetch",
            SyncError::Config { .. } => "config",
        }
    }

    /// Whether the error is a refusal of the feed's contents (an attack or a
    /// publisher fault), as opposed to an operational failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SyncError::Feed(e) if !matches!(e, FeedError::Io { .. } | FeedError::Locked { .. } | FeedError::DataDir { .. } | FeedError::Index(_))
        )
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
            SyncError::NotFound { what } => write!(f, "{what} not found at the source"),
            SyncError::Fetch { what, reason } => write!(f, "fetching {what}: {reason}"),
            SyncError::Config { reason } => write!(f, "configuration: {reason}"),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SyncError::Feed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FeedError> for SyncError {
    fn from(e: FeedError) -> Self {
        SyncError::Feed(e)
    }
}

impl From<sltd_index::IndexError> for SyncError {
    fn from(e: sltd_index::IndexError) -> Self {
        SyncError::Feed(FeedError::Index(e))
    }
}
