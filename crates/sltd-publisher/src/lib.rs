//! The central side of the sltd feed: the [`publish::Publisher`] that turns
//! each full export into a signed delta, snapshots and a new checkpoint, and
//! the small static server ([`serve`]) behind `sltd feed serve`.
//!
//! The feed's format and every rule a border post checks live in
//! `sltd_feed`; this crate only writes what those rules accept (it reads
//! back and verifies what it signed). Border posts never link it: they use
//! `sltd-sync` and `sltd-datadir`.

#![forbid(unsafe_code)]

mod error;
pub mod keys;
pub mod publish;
pub mod serve;

pub use error::PublishError;
pub use publish::{
    InitOptions, MIN_ROOT_THRESHOLD, PublishOptions, PublishReport, Publisher, PublisherConfig,
    RoleKeys, RotateOptions, canonicalise, diff, state_of,
};
