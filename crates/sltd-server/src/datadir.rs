//! `sltdd --data-dir DIR`: serve the generation that `sltd-sync` installed
//! in a data directory (a base index plus delta segments), and follow its
//! `CURRENT` pointer.
//!
//! Opening is `sltd_datadir`'s [`GenerationOpener`] with
//! [`OpenOptions::SERVE`]: every file mapped resident and fully verified,
//! once, and shared with the next generation while unchanged, so a switch
//! costs only the new segment's verification.

use std::path::PathBuf;

use sltd_datadir::{DataDir, DataDirError, FileStamp, GenerationOpener, OpenOptions, layout};

use crate::dataset::{Dataset, DatasetMeta, DatasetSource, LoadError, SourceStamp};

/// A data directory written by `sltd-sync`.
#[derive(Debug)]
pub struct DataDirSource {
    dir: PathBuf,
    opener: GenerationOpener,
}

impl DataDirSource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            opener: GenerationOpener::new(OpenOptions::SERVE),
        }
    }
}

impl From<DataDirError> for LoadError {
    fn from(e: DataDirError) -> Self {
        match e {
            DataDirError::Io { path, source } => LoadError::Io { path, source },
            DataDirError::Index { path, source } => LoadError::Index { path, source },
            other => LoadError::Invalid {
                reason: other.to_string(),
            },
        }
    }
}

impl DatasetSource for DataDirSource {
    fn describe(&self) -> String {
        format!("data directory {}", self.dir.display())
    }

    fn load(&self) -> Result<Dataset, LoadError> {
        let dir = DataDir::open(&self.dir)?;
        let (generation, index) =
            dir.open_current(&self.opener)?
                .ok_or_else(|| LoadError::Invalid {
                    reason: format!(
                        "no data generation is installed in {} yet: run `sltd-sync run` first",
                        self.dir.display()
                    ),
                })?;
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

    fn sync_status(&self) -> Option<sltd_datadir::SyncStatus> {
        DataDir::open(&self.dir).ok()?.status().ok()
    }

    fn stamp(&self) -> Option<SourceStamp> {
        FileStamp::of(&self.dir.join(layout::CURRENT))
            .ok()
            .map(|s| SourceStamp(vec![s]))
    }
}
