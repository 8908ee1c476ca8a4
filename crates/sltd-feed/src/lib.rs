//! The signed sltd update feed: its format, signing and verification, the
//! state root, the publisher, and the client's data directory.
//!
//! The format and its threat model are specified in `docs/FEED.md`. This
//! crate does no networking: `sltd-sync` fetches bytes and hands them here
//! to be verified, and `sltd feed` publishes through [`publish::Publisher`].
//!
//! Trust flows from a pinned root ([`metadata::Root`]) to a signed
//! checkpoint ([`metadata::Checkpoint`]), and from the checkpoint's state
//! root to every delta ([`delta`]) and snapshot ([`snapshot`]) through the
//! chain of state roots ([`state`]). Nothing is installed in a data
//! directory ([`datadir`]) before it has been verified.

#![forbid(unsafe_code)]

pub mod apply;
pub mod datadir;
pub mod delta;
mod encoding;
mod error;
pub mod freshness;
pub mod keys;
pub mod layout;
pub mod metadata;
pub mod publish;
pub mod snapshot;
pub mod state;
pub mod time;

pub use datadir::write_private_file;
pub use encoding::{
    Hash32, b64, decode_record, encode_key, encode_record, hex, parse_hash_hex, sha256, unb64,
};
pub use error::FeedError;
pub use time::{format_unix, now_unix};
