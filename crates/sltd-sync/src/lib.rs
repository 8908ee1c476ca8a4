//! Keeps a border post's data directory in step with the signed feed.
//!
//! A [`engine::Syncer`] fetches from a [`source::Source`] (HTTP(S) or a
//! directory), has `sltd_feed` verify every byte, and installs new data
//! generations atomically with `sltd_feed::datadir`. [`serve`] is the small
//! static server behind `sltd feed serve`.

#![forbid(unsafe_code)]

pub mod engine;
mod error;
pub mod serve;
pub mod source;

pub use engine::{Compaction, ProgressFactory, SyncOptions, SyncReport, Syncer};
pub use error::SyncError;
