//! Why a load run could not be set up or driven.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sltd_export::RowError;

/// Why no key stream could be drawn from an export.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyStreamError {
    /// The export file could not be opened.
    Open { path: PathBuf, error: io::Error },
    /// A row of the export is bad (and skipping was not asked for), or the
    /// file cannot be read at all.
    Row { input: String, error: RowError },
    /// The export holds no usable record: there is nothing to draw hits
    /// from, nor issuing states for misses.
    NoRecords { input: String, rows_skipped: u64 },
    /// The hit ratio is not a number between 0 and 1.
    HitRatio { value: f64 },
    /// At most zero keys may be sampled: nothing could be drawn.
    NoKeysAllowed,
    /// No generated number outside the export was found for a miss.
    NoMissFound { input: String, attempts: u32 },
}

impl fmt::Display for KeyStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyStreamError::Open { path, error } => {
                write!(f, "cannot open {}: {error}", path.display())
            }
            KeyStreamError::Row { input, error } => write!(
                f,
                "{input}: {error} (fix the row, or skip bad rows explicitly)"
            ),
            KeyStreamError::NoRecords {
                input,
                rows_skipped: 0,
            } => write!(f, "{input}: no records to draw queries from"),
            KeyStreamError::NoRecords {
                input,
                rows_skipped,
            } => write!(
                f,
                "{input}: no usable records to draw queries from ({rows_skipped} bad rows skipped)"
            ),
            KeyStreamError::HitRatio { value } => {
                write!(f, "the hit ratio must be between 0 and 1, not {value}")
            }
            KeyStreamError::NoKeysAllowed => write!(f, "at least one key must be sampled"),
            KeyStreamError::NoMissFound { input, attempts } => write!(
                f,
                "{input}: {attempts} generated numbers in a row are all in the export; cannot make a miss"
            ),
        }
    }
}

// The messages above already carry the underlying error's text; giving it
// as the source too would print it twice in a chain.
impl std::error::Error for KeyStreamError {}

/// A measuring window or a schedule that cannot be run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WindowError {
    /// The measured duration must be a positive number of seconds.
    Duration { seconds: f64 },
    /// The warm-up must be zero or a positive number of seconds.
    Warmup { seconds: f64 },
    /// The rate must be a positive number of requests per second, at most
    /// one per nanosecond.
    Rate { per_second: f64 },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::Duration { seconds } => {
                write!(f, "the duration must be positive seconds, not {seconds}")
            }
            WindowError::Warmup { seconds } => write!(
                f,
                "the warm-up must be zero or positive seconds, not {seconds}"
            ),
            WindowError::Rate { per_second } => write!(
                f,
                "the rate must be positive requests per second (at most 1e9), not {per_second}"
            ),
        }
    }
}

impl std::error::Error for WindowError {}

/// A run that could not be driven to its end.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriveError {
    /// The thread keeping the open-loop schedule panicked.
    PacerPanicked,
    /// A closed-loop worker panicked.
    WorkerPanicked { worker: usize },
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriveError::PacerPanicked => write!(f, "the open-loop pacer thread panicked"),
            DriveError::WorkerPanicked { worker } => {
                write!(f, "closed-loop worker {worker} panicked")
            }
        }
    }
}

impl std::error::Error for DriveError {}
