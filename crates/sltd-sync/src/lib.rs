//! Keeps a border post's data directory in step with the signed feed.
//!
//! A [`Syncer`] fetches from a [`source::Source`] (HTTP(S) or a
//! directory), has `sltd_feed` verify every byte, and has `sltd_datadir`
//! install what verified as a new data generation. [`watch::watch`] repeats
//! it on a schedule until shut down.

#![forbid(unsafe_code)]

pub mod engine;
mod error;
pub mod source;
pub mod watch;

pub use engine::{ProgressFactory, SyncOptions, SyncReport, Syncer};
pub use error::{SyncError, TransferFault};
pub use sltd_datadir::{Compaction, CompactionPolicy};
pub use watch::{Schedule, Shutdown};
