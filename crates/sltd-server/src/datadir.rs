//! `sltdd --data-dir DIR`: serve the generation that `sltd-sync` installed
//! in a data directory (a base index plus delta segments), and follow its
//! `CURRENT` pointer.
//!
//! A new generation usually differs from the previous one by a segment: the
//! base file is the same file (sltd-sync never reuses a file name for other
//! bytes). Files already mapped, made resident and verified are kept and
//! shared with the new generation, so a switch costs only the new segment's
//! verification, not the base's, and takes milliseconds even at 100M records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sltd_feed::datadir::{CURRENT, DataDir};
use sltd_index::{Index, LayeredIndex, MapOptions, SharedMmap, open_file};

use crate::dataset::{Dataset, DatasetMeta, DatasetSource, FileStamp, LoadError, SourceStamp};

/// A data directory written by `sltd-sync`.
#[derive(Debug)]
pub struct DataDirSource {
    dir: PathBuf,
    /// Verified files by path, with the stamp they had when verified.
    verified: Mutex<HashMap<PathBuf, (FileStamp, Index<SharedMmap>)>>,
}

impl DataDirSource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The file at `path`, mapped resident and verified; reused from an
    /// earlier generation when the file is unchanged.
    fn open_verified(
        &self,
        path: &Path,
        cache: &HashMap<PathBuf, (FileStamp, Index<SharedMmap>)>,
    ) -> Result<(FileStamp, Index<SharedMmap>), LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let stamp = FileStamp::of(path).map_err(io)?;
        if let Some((seen, index)) = cache.get(path)
            && *seen == stamp
        {
            return Ok((stamp, index.clone()));
        }
        let err = |source| LoadError::Index {
            path: path.to_path_buf(),
            source,
        };
        let index = open_file(path, MapOptions { resident: true }).map_err(err)?;
        index.verify().map_err(err)?;
        Ok((stamp, index.into_shared()))
    }
}

impl DatasetSource for DataDirSource {
    fn describe(&self) -> String {
        format!("data directory {}", self.dir.display())
    }

    fn load(&self) -> Result<Dataset, LoadError> {
        let invalid = |reason: String| LoadError::Invalid { reason };
        let dir = DataDir::open(&self.dir).map_err(|e| invalid(e.to_string()))?;
        let generation = dir
            .current()
            .map_err(|e| invalid(e.to_string()))?
            .ok_or_else(|| {
                invalid(format!(
                    "no data generation is installed in {} yet: run `sltd-sync run` first",
                    self.dir.display()
                ))
            })?;
        let mut cache = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut fresh = HashMap::new();
        let mut open = |path: &Path| -> Result<Index<SharedMmap>, LoadError> {
            let (stamp, index) = self.open_verified(path, &cache)?;
            fresh.insert(path.to_path_buf(), (stamp, index.clone()));
            Ok(index)
        };
        let base = open(&generation.base)?;
        let segments = generation
            .segments
            .iter()
            .map(|p| open(p))
            .collect::<Result<Vec<_>, _>>()?;
        if base.header().feed_sequence > generation.sequence {
            return Err(invalid(format!(
                "{}: base index is at sequence {} but the generation claims {}",
                generation.base.display(),
                base.header().feed_sequence,
                generation.sequence
            )));
        }
        let index = LayeredIndex::new(base, segments).map_err(|source| LoadError::Index {
            path: generation.base.clone(),
            source,
        })?;
        // Keep only what this generation uses: older files can be unmapped
        // once the old generation's last query finishes.
        *cache = fresh;
        Ok(Dataset::new(
            index,
            DatasetMeta {
                content_id: generation.state_root_hex(),
                sequence: generation.sequence,
                as_of: generation.as_of,
                expires_at: Some(generation.expires_at),
                record_count: generation.record_count,
                source: format!("{} (generation {})", self.describe(), generation.id),
            },
        ))
    }

    fn stamp(&self) -> Option<SourceStamp> {
        FileStamp::of(&self.dir.join(CURRENT))
            .ok()
            .map(|s| SourceStamp(vec![s]))
    }
}
