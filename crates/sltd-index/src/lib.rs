//! The sltd index: a compact, memory-mappable hash table of stolen and lost
//! travel document records, answering exact lookups by (issuing state,
//! number) or by number alone.
//!
//! The byte layout is specified in `docs/FORMAT.md`. The reader, [`Index`],
//! is generic over `AsRef<[u8]>`: the caller owns the bytes, which may be a
//! `Vec<u8>` or a memory map from [`open_file`]. [`Index::open`] checks the
//! structure cheaply; [`Index::verify`] checks every byte. A lookup on a file
//! that passed `open` never panics, never loops and never reads outside the
//! buffer: corrupt contents surface as [`IndexError`].
//!
//! [`IndexBuilder`] writes the format deterministically: the same set of
//! records in any order gives the same bytes.

#![deny(unsafe_code)]

mod builder;
mod confusable;
mod error;
mod format;
mod layered;
mod mmap;
mod reader;

pub use builder::{
    BuildOptions, BuildStats, BuiltIndex, IndexBuilder, is_leftover_temporary, write_atomically,
    write_atomically_with,
};
pub use confusable::{ConfusableFilter, FilterProbe};
pub use error::IndexError;
pub use format::{Entry, FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR, Header, IndexKind};
pub use layered::{LayeredIndex, merge_layers};
pub use mmap::{MapOptions, MappedIndex, SharedMmap, open_file};
pub use reader::{Entries, Index, reseal};
