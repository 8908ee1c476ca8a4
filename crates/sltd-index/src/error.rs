//! Errors from opening, verifying, reading and building index files.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong with an index file.
#[derive(Debug)]
#[non_exhaustive]
pub enum IndexError {
    /// The file could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// The file does not start with the index magic bytes.
    BadMagic,
    /// The file was written by an incompatible format version.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The file is shorter or longer than its header says.
    LengthMismatch { expected: u64, actual: u64 },
    /// A header field is inconsistent; `what` names it.
    BadHeader { what: &'static str },
    /// A section's checksum does not match its contents.
    ChecksumMismatch { section: &'static str },
    /// A bucket or record is malformed; found by `verify` or by a lookup.
    Corrupt { what: &'static str, offset: u64 },
    /// The builder was given something it cannot store.
    Build { reason: String },
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            IndexError::BadMagic => write!(f, "not an sltd index file (bad magic bytes)"),
            IndexError::UnsupportedVersion { major, minor }
                if *major < crate::FORMAT_VERSION_MAJOR =>
            {
                write!(
                    f,
                    "index format version {major}.{minor} is no longer read (this build reads {}.x): \
                     rebuild it with `sltd index build` (a data directory: sync into a new, empty one)",
                    crate::FORMAT_VERSION_MAJOR
                )
            }
            IndexError::UnsupportedVersion { major, minor } => write!(
                f,
                "index format version {major}.{minor} is not supported (this build reads {}.x)",
                crate::FORMAT_VERSION_MAJOR
            ),
            IndexError::LengthMismatch { expected, actual } => write!(
                f,
                "index file is {actual} bytes but its header says {expected} (truncated or appended to)"
            ),
            IndexError::BadHeader { what } => write!(f, "corrupt index header: {what}"),
            IndexError::ChecksumMismatch { section } => {
                write!(
                    f,
                    "checksum mismatch in the {section} section: the file is corrupt"
                )
            }
            IndexError::Corrupt { what, offset } => {
                write!(f, "corrupt index: {what} at byte {offset}")
            }
            IndexError::Build { reason } => write!(f, "cannot build index: {reason}"),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IndexError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
