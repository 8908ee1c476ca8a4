//! Opening a generation: its base and segments mapped, made resident on
//! request, verified, and stacked into the layered view that answers
//! queries. The one way `sltdd --data-dir` and `sltd-sync` open data.
//!
//! A new generation usually differs from the previous one by a segment:
//! the base is the same file (a file name is never reused for other
//! bytes). An opener keeps every file it verified, keyed by path and
//! [`FileStamp`], and shares it with the next generation while the file is
//! unchanged, so a daemon's switch costs only the new segment's
//! verification, not the base's, and takes milliseconds even at 100M
//! records.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sltd_index::{Index, LayeredIndex, MapOptions, SharedMmap, open_file};

use crate::{DataDir, DataDirError, Generation};

/// How many times [`DataDir::open_current`] follows `CURRENT` when the
/// files it named vanish under it (each time a newer sync installed and
/// collected the old generation meanwhile).
const OPEN_ATTEMPTS: usize = 5;

/// Identifies one version of a file cheaply (no reading): a rename over the
/// path changes the inode, an in-place write changes the size or the mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    /// The stamp of the file at `path` (following symlinks).
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// How much of each file is checked before it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Every byte and every structure ([`Index::verify`]): what a daemon
    /// serves must have passed this. Where the generation records that the
    /// file passed it at installation, and the file's header checksum is
    /// the one recorded, its integrity checksums
    /// ([`Index::verify_checksums`], on every core) prove it holds the bytes
    /// that passed: a 100M-record base then opens in well under a second
    /// instead of half a minute.
    Full,
    /// The section checksums ([`Index::verify_checksums`]): every byte is
    /// as its writer left it. Enough for the sync, which reads the files it
    /// built itself, and whose reads are checked again by the state root
    /// after every delta; a full check of a 100M-record base would cost
    /// half a minute on every run.
    Checksums,
}

/// How an [`GenerationOpener`] opens files.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Fault every page in before the index is used (a daemon does, before
    /// it reports ready).
    pub resident: bool,
    pub verification: Verification,
}

impl OpenOptions {
    /// What a daemon serves from: resident and fully verified.
    pub const SERVE: OpenOptions = OpenOptions {
        resident: true,
        verification: Verification::Full,
    };

    /// What a sync reads from: mapped on demand, checksums verified.
    pub const SYNC: OpenOptions = OpenOptions {
        resident: false,
        verification: Verification::Checksums,
    };
}

/// Opens generations, verifying each file once and sharing it across
/// generations while it is unchanged.
#[derive(Debug)]
pub struct GenerationOpener {
    opts: OpenOptions,
    /// Verified files by path, with the stamp they had when verified.
    verified: Mutex<HashMap<PathBuf, (FileStamp, Index<SharedMmap>)>>,
}

impl GenerationOpener {
    pub fn new(opts: OpenOptions) -> Self {
        Self {
            opts,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The file at `path`, mapped and verified; reused from an earlier
    /// generation when the file is unchanged.
    fn open_file(
        &self,
        path: &Path,
        g: &Generation,
        cache: &HashMap<PathBuf, (FileStamp, Index<SharedMmap>)>,
    ) -> Result<(FileStamp, Index<SharedMmap>), DataDirError> {
        let stamp = FileStamp::of(path).map_err(DataDirError::io(path))?;
        if let Some((seen, index)) = cache.get(path)
            && *seen == stamp
        {
            return Ok((stamp, index.clone()));
        }
        let err = DataDirError::index;
        let index = open_file(
            path,
            MapOptions {
                resident: self.opts.resident,
            },
        )
        .map_err(err(path))?;
        let checked_at_install =
            g.verified_header_checksum(path) == Some(index.header().header_checksum);
        match self.opts.verification {
            Verification::Full if !checked_at_install => index.verify(),
            Verification::Full | Verification::Checksums => index.verify_checksums(),
        }
        .map_err(err(path))?;
        Ok((stamp, index.into_shared()))
    }

    /// Opens `g`: maps its base and segments (verifying those not verified
    /// before) and stacks them. Afterwards the opener keeps only `g`'s
    /// files: older maps are released once their last user drops them.
    pub fn open(&self, g: &Generation) -> Result<LayeredIndex<SharedMmap>, DataDirError> {
        let mut cache = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = HashMap::new();
        let mut open = |path: &Path| -> Result<Index<SharedMmap>, DataDirError> {
            let (stamp, index) = self.open_file(path, g, &cache)?;
            kept.insert(path.to_path_buf(), (stamp, index.clone()));
            Ok(index)
        };
        let base = open(&g.base)?;
        let segments = g
            .segments
            .iter()
            .map(|p| open(p))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((path, found)) = std::iter::once((&g.base, &base))
            .chain(g.segments.iter().zip(&segments))
            .map(|(p, i)| (p, i.header().feed_sequence))
            .find(|(_, s)| *s > g.sequence)
        {
            return Err(DataDirError::Unusable {
                reason: format!(
                    "{} is at sequence {found} but generation {} claims {}",
                    path.display(),
                    g.id,
                    g.sequence
                ),
            });
        }
        let index = LayeredIndex::new(base, segments).map_err(DataDirError::index(&g.base))?;
        *cache = kept;
        Ok(index)
    }
}

impl DataDir {
    /// The current generation and its layered index, opened with `opener`;
    /// `None` before the first installation. When a file of the generation
    /// vanished (a newer sync installed and removed it meanwhile), reads
    /// `CURRENT` again and opens what it names now.
    pub fn open_current(
        &self,
        opener: &GenerationOpener,
    ) -> Result<Option<(Generation, LayeredIndex<SharedMmap>)>, DataDirError> {
        let mut attempts = 0;
        loop {
            let Some(g) = self.current()? else {
                return Ok(None);
            };
            match opener.open(&g) {
                Ok(index) => return Ok(Some((g, index))),
                Err(e) if e.is_not_found() && attempts + 1 < OPEN_ATTEMPTS => {
                    attempts += 1;
                    if self.current_id()?.as_ref() == Some(&g.id) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
