//! Mapping index files into memory. This is the only module in sltd that
//! uses `unsafe`, for the one call that maps a file.

#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use crate::{Index, IndexError};

/// An index over a read-only memory map of its file.
pub type MappedIndex = Index<Mmap>;

/// A read-only file map shared by several owners: a daemon's successive
/// data generations keep one map of a base file that did not change, instead
/// of mapping and verifying it again.
#[derive(Clone, Debug)]
pub struct SharedMmap(Arc<Mmap>);

impl AsRef<[u8]> for SharedMmap {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Index<Mmap> {
    /// Turns the map into one that can be cloned cheaply.
    pub fn into_shared(self) -> Index<SharedMmap> {
        self.map_bytes(|m| SharedMmap(Arc::new(m)))
    }
}

/// How to map an index file.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapOptions {
    /// Advise the kernel that every page will be needed, so it starts
    /// reading the file in; the verification that follows
    /// ([`Index::verify_checksums`] on every core, or [`Index::verify`])
    /// reads every byte and so faults the whole map in before the first
    /// lookup. A daemon sets this before it verifies and reports ready.
    pub resident: bool,
}

/// Maps `path` read-only and opens it as an index (structure checks only;
/// call [`Index::verify`] to check every byte).
///
/// sltd never modifies an index file in place: new data is written to a new
/// file and renamed over the old name, so a live map keeps seeing the file
/// it mapped.
pub fn open_file(path: &Path, opts: MapOptions) -> Result<MappedIndex, IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(IndexError::BadMagic);
    }
    let options = MmapOptions::new();
    // SAFETY: the map is read-only and private to this process. sltd's
    // writers never modify an index file in place (they write a temporary
    // file and rename it), so the bytes under the map do not change while it
    // lives. Another program truncating the file would make access fault
    // rather than return wrong data; the data directory is owned by the
    // service user to rule that out.
    let map = unsafe { options.map(&file) }.map_err(io)?;
    if opts.resident {
        // Advice only: failure to advise leaves a correct, merely colder
        // map. Not MAP_POPULATE: that faults the map in on one core, inside
        // mmap(2); the verification's reads do it on all of them.
        let _ = map.advise(memmap2::Advice::WillNeed);
    }
    Index::open(map)
}
