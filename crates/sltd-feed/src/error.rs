//! Why the feed or a file of it was refused. Each attack in the threat model
//! of `docs/FEED.md` maps to its own variant, so an operator (and a test)
//! can tell a replayed delta from a forged one.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sltd_index::IndexError;

/// What went wrong; see `docs/FEED.md` for the rule each variant enforces.
#[derive(Debug)]
#[non_exhaustive]
pub enum FeedError {
    /// A file could not be read or written.
    Io { path: PathBuf, source: io::Error },
    /// A file does not follow the format; `what` names the file kind.
    Malformed { what: &'static str, reason: String },
    /// A signature by a key the root lists does not verify: the file was
    /// tampered with or signed by someone else.
    BadSignature { role: &'static str, keyid: String },
    /// Signatures are present but none is by a key the trusted root lists.
    UnknownKey { role: &'static str, keyid: String },
    /// The same key signed more than once; it counts once, and the rest do
    /// not reach the threshold.
    DuplicateKey { role: &'static str, keyid: String },
    /// Fewer valid signatures by distinct listed keys than the threshold.
    BelowThreshold {
        role: &'static str,
        valid: usize,
        threshold: usize,
    },
    /// A root file names another version than the one expected in the chain.
    RootVersion { expected: u64, found: u64 },
    /// The newest trusted root has expired.
    RootExpired { version: u64, expires_at: i64 },
    /// A file belongs to another feed than the trusted root's.
    FeedMismatch { expected: String, found: String },
    /// A checkpoint older than one already seen.
    Rollback { known: u64, offered: u64 },
    /// A checkpoint with a sequence already seen but another state root.
    Fork {
        sequence: u64,
        known_root: String,
        offered_root: String,
    },
    /// The checkpoint's validity period has ended.
    CheckpointExpired { expires_at: i64, now: i64 },
    /// A checkpoint claims a root version other than the one that verified it.
    CheckpointRootVersion { signed_under: u64, claimed: u64 },
    /// A checkpoint is valid for longer than the root allows
    /// (`max_checkpoint_validity`).
    CheckpointValidity {
        issued_at: i64,
        expires_at: i64,
        max: i64,
    },
    /// A checkpoint of a sequence already verified, issued before the one
    /// verified: time does not go back for a sequence.
    IssuedAtRollback {
        sequence: u64,
        known: i64,
        offered: i64,
    },
    /// A file names a root version the post does not trust (not in the chain
    /// from its pinned root to the newest).
    UnknownRootVersion {
        what: &'static str,
        root_version: u64,
        newest: u64,
    },
    /// A root stored in the data directory does not verify as the next link
    /// of the chain from the pinned root.
    StoredRoot { version: u64, reason: String },
    /// A delta from the past was offered where the next one was expected.
    DeltaReplay { expected: u64, found: u64 },
    /// A delta from the future was offered: one or more were skipped or the
    /// deltas were reordered.
    DeltaGap { expected: u64, found: u64 },
    /// A delta does not start from the state it is applied to.
    DeltaChainBroken {
        sequence: u64,
        expected_prev_root: String,
        found_prev_root: String,
    },
    /// After applying a delta (or loading a snapshot) the computed state root
    /// differs from the signed one.
    StateRootMismatch {
        sequence: u64,
        expected: String,
        computed: String,
    },
    /// A delta deletes a key the state does not hold.
    DeleteOfAbsentKey { sequence: u64, key: String },
    /// A delta upserts a record the state already holds unchanged: not the
    /// one canonical delta between two states.
    UpsertUnchanged { sequence: u64, key: String },
    /// A signed record count differs from the one the client computes for
    /// the same state; `field` names the signed field.
    RecordCountMismatch {
        sequence: u64,
        field: &'static str,
        signed: u64,
        computed: u64,
    },
    /// A file is larger than its signed (or configured) bound.
    TooLarge { what: String, limit: u64 },
    /// A file is shorter than its signed length.
    Truncated {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A file's hash differs from the signed one.
    HashMismatch { what: String },
    /// The data in an index file could not be read or written.
    Index(IndexError),
    /// A key file is unusable.
    Key { reason: String },
    /// A file of the feed could not be encoded (operations out of order, a
    /// compressor failure): what a publisher would have written is refused.
    Encode { what: &'static str, reason: String },
}

impl FeedError {
    /// A [`FeedError::Io`] for `path`, as a `map_err` argument.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> FeedError {
        let path = path.into();
        move |source| FeedError::Io { path, source }
    }

    /// A [`FeedError::Malformed`] for a file of kind `what`.
    pub fn malformed(what: &'static str, reason: impl fmt::Display) -> FeedError {
        FeedError::Malformed {
            what,
            reason: reason.to_string(),
        }
    }

    /// A short stable name for the kind of error, used in status files and
    /// logs (`bad_signature`, `rollback`, ...).
    pub fn kind(&self) -> &'static str {
        use FeedError::*;
        match self {
            Io { .. } => "io",
            Malformed { .. } => "malformed",
            BadSignature { .. } => "bad_signature",
            UnknownKey { .. } => "unknown_key",
            DuplicateKey { .. } => "duplicate_key",
            BelowThreshold { .. } => "below_threshold",
            RootVersion { .. } => "root_version",
            RootExpired { .. } => "root_expired",
            FeedMismatch { .. } => "feed_mismatch",
            Rollback { .. } => "rollback",
            Fork { .. } => "fork",
            CheckpointExpired { .. } => "checkpoint_expired",
            CheckpointRootVersion { .. } => "checkpoint_root_version",
            CheckpointValidity { .. } => "checkpoint_validity",
            IssuedAtRollback { .. } => "issued_at_rollback",
            UnknownRootVersion { .. } => "unknown_root_version",
            StoredRoot { .. } => "stored_root",
            DeltaReplay { .. } => "delta_replay",
            DeltaGap { .. } => "delta_gap",
            DeltaChainBroken { .. } => "delta_chain_broken",
            StateRootMismatch { .. } => "state_root_mismatch",
            DeleteOfAbsentKey { .. } => "delete_of_absent_key",
            UpsertUnchanged { .. } => "upsert_unchanged",
            RecordCountMismatch { .. } => "record_count_mismatch",
            TooLarge { .. } => "too_large",
            Truncated { .. } => "truncated",
            HashMismatch { .. } => "hash_mismatch",
            Index(_) => "index",
            Key { .. } => "key",
            Encode { .. } => "encode",
        }
    }
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FeedError::*;
        match self {
            Io { path, source } => write!(f, "{}: {source}", path.display()),
            Malformed { what, reason } => write!(f, "malformed {what}: {reason}"),
            BadSignature { role, keyid } => write!(
                f,
                "{role}: the signature by key {keyid} does not verify (file forged or tampered with)"
            ),
            UnknownKey { role, keyid } => write!(
                f,
                "{role}: signed only by keys the trusted root does not list (e.g. {keyid})"
            ),
            DuplicateKey { role, keyid } => write!(
                f,
                "{role}: key {keyid} signed more than once and counts once; not enough distinct keys"
            ),
            BelowThreshold {
                role,
                valid,
                threshold,
            } => write!(
                f,
                "{role}: {valid} valid signature(s) by distinct keys, {threshold} required"
            ),
            RootVersion { expected, found } => write!(
                f,
                "root metadata version {found} found where version {expected} was expected"
            ),
            RootExpired {
                version,
                expires_at,
            } => write!(
                f,
                "root metadata version {version} expired at {} (Unix {expires_at})",
                crate::format_unix(*expires_at)
            ),
            FeedMismatch { expected, found } => write!(
                f,
                "file belongs to feed {found:?}, not to the trusted feed {expected:?} (files mixed from two feeds)"
            ),
            Rollback { known, offered } => write!(
                f,
                "rollback refused: checkpoint sequence {offered} is older than sequence {known} already verified"
            ),
            Fork {
                sequence,
                known_root,
                offered_root,
            } => write!(
                f,
                "fork refused: checkpoint sequence {sequence} has state root {offered_root}, but {known_root} was verified for it"
            ),
            CheckpointExpired { expires_at, now } => write!(
                f,
                "checkpoint expired at {} ({}s ago): the feed is frozen or the mirror is stale",
                crate::format_unix(*expires_at),
                now - expires_at
            ),
            CheckpointRootVersion {
                signed_under,
                claimed,
            } => write!(
                f,
                "checkpoint claims root version {claimed} but verified under root version {signed_under}"
            ),
            CheckpointValidity {
                issued_at,
                expires_at,
                max,
            } => write!(
                f,
                "checkpoint is valid for {} s (issued {issued_at}, expires {expires_at}), longer than the root's max_checkpoint_validity of {max} s",
                expires_at.saturating_sub(*issued_at)
            ),
            IssuedAtRollback {
                sequence,
                known,
                offered,
            } => write!(
                f,
                "checkpoint of sequence {sequence} issued at {offered}, before the one already verified for it (issued at {known})"
            ),
            UnknownRootVersion {
                what,
                root_version,
                newest,
            } => write!(
                f,
                "{what} is signed under root version {root_version}, which this post does not trust (its chain from the pinned root reaches version {newest})"
            ),
            StoredRoot { version, reason } => write!(
                f,
                "stored root version {version} does not verify from the pinned root ({reason}); if the pin was replaced on purpose this is detected and handled, otherwise the data directory's state/roots/ was tampered with: remove it to rebuild the chain from the feed"
            ),
            DeltaReplay { expected, found } => write!(
                f,
                "replayed delta refused: expected sequence {expected}, got the older {found}"
            ),
            DeltaGap { expected, found } => write!(
                f,
                "delta out of order refused: expected sequence {expected}, got {found} (skipped or reordered)"
            ),
            DeltaChainBroken {
                sequence,
                expected_prev_root,
                found_prev_root,
            } => write!(
                f,
                "delta {sequence} starts from state root {found_prev_root}, but the local state is {expected_prev_root}"
            ),
            StateRootMismatch {
                sequence,
                expected,
                computed,
            } => write!(
                f,
                "state root mismatch at sequence {sequence}: signed {expected}, computed {computed}"
            ),
            DeleteOfAbsentKey { sequence, key } => write!(
                f,
                "delta {sequence} deletes {key}, which the local state does not hold (state diverged)"
            ),
            UpsertUnchanged { sequence, key } => write!(
                f,
                "delta {sequence} upserts {key} with the record the state already holds (not a canonical delta)"
            ),
            RecordCountMismatch {
                sequence,
                field,
                signed,
                computed,
            } => write!(
                f,
                "record count mismatch at sequence {sequence}: {field} is signed as {signed}, the local state has {computed}"
            ),
            TooLarge { what, limit } => {
                write!(f, "{what} is larger than its bound of {limit} bytes")
            }
            Truncated {
                what,
                expected,
                actual,
            } => write!(f, "{what} is truncated: {actual} bytes of {expected}"),
            HashMismatch { what } => {
                write!(
                    f,
                    "{what} does not match its signed hash (tampered or corrupt)"
                )
            }
            Index(e) => write!(f, "index: {e}"),
            Key { reason } => write!(f, "key: {reason}"),
            Encode { what, reason } => write!(f, "cannot encode the {what}: {reason}"),
        }
    }
}

impl std::error::Error for FeedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeedError::Io { source, .. } => Some(source),
            FeedError::Index(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IndexError> for FeedError {
    fn from(e: IndexError) -> Self {
        FeedError::Index(e)
    }
}
