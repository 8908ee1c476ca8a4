//! The signed sltd update feed: what the publisher and the border posts
//! share. Its encodings, keys and signatures, the root, checkpoint and
//! manifest metadata, deltas, snapshot chunks, the state root, applying a
//! verified delta to a state, the feed's file names, every trust check a
//! post makes, and the freshness rule.
//!
//! The format and its threat model are specified in `docs/FEED.md`. This
//! crate does no networking and keeps no files: `sltd-sync` fetches bytes
//! and hands them here to be verified, `sltd-datadir` installs what passed,
//! and `sltd-publisher` writes what these rules accept.
//!
//! Trust flows from a pinned root ([`metadata::Root`]) through the chain of
//! later roots, each signed by the offline root keys of the one before
//! ([`trust::RootChain`]), to a checkpoint signed by the newest root's
//! online keys ([`metadata::Checkpoint`]), and from the checkpoint's state
//! root to every delta ([`delta`]) and snapshot ([`snapshot`]) through the
//! chain of state roots ([`state`]); each delta and snapshot is signed by
//! the online keys of the root version it names. [`trust`] has the rules that decide,
//! against what a post already knows, whether to accept each.

#![forbid(unsafe_code)]

pub mod apply;
pub mod delta;
mod encoding;
mod error;
pub mod freshness;
pub mod keys;
pub mod layout;
pub mod metadata;
pub mod snapshot;
pub mod state;
/// Time as every sltd program handles it (kept in the model crate, which
/// the desk shares without the feed).
pub use sltd_model::time;
pub mod trust;

pub use encoding::{
    Hash32, b64, decode_record, decode_records, decompress_capped, encode_key, encode_record, hex,
    parse_hash_hex, sha256, unb64,
};
pub use error::FeedError;
pub use time::{format_span, format_unix, now_unix};
