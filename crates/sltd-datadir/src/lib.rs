//! A border post's data directory: the verified data generations that
//! `sltd-sync` installs and `sltdd --data-dir` serves.
//!
//! A generation is a base index plus delta segments at a feed sequence,
//! with the state hash and the signed checkpoint it was verified against.
//! `CURRENT` names the one to serve; installing a generation is crash-safe
//! (every file written by `sltd_index::write_atomically`, `CURRENT` last),
//! the previous one is kept for [`DataDir::rollback`], and older ones are
//! collected. The directory also holds the sync's own state (trusted root,
//! highest verified checkpoint, transport cache, status) and its lock.
//!
//! Nothing is verified against the feed here: `sltd_feed` has every trust
//! rule, and the sync hands over only what passed them
//! ([`VerifiedState`]). What this crate checks is the post's own disk:
//! [`GenerationOpener`] verifies each index file before it is used, and
//! [`DataDir::load_state`] that the stored state matches its generation.
//!
//! Layout: [`layout`] (`docs/FEED.md` section 10).

#![forbid(unsafe_code)]

mod compact;
mod dir;
mod error;
pub mod layout;
mod open;

pub use compact::{Compaction, CompactionPolicy};
pub use dir::{
    CurrentWatch, DataDir, DirLock, Generation, GenerationId, KnownCheckpoint, NewGeneration,
    SyncStatus, VerifiedFile, VerifiedState,
};
pub use error::DataDirError;
pub use layout::StateFile;
pub use open::{FileStamp, GenerationOpener, OpenOptions, Verification};
