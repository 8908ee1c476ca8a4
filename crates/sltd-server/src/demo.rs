//! `sltdd --demo`: a data set to try the daemon with, built on the spot:
//! the ICAO specimen documents (known hits) plus generated records.

use std::path::{Path, PathBuf};

use sltd_index::{BuildOptions, IndexBuilder, IndexError, write_atomically};
use sltd_model::Record;

use sltd_feed::now_unix;

/// Generated records in the demo data set, besides the specimens.
pub const DEMO_GENERATED_RECORDS: u64 = 1_000_000;
/// Seed of the demo data: every demo serves the same records.
pub const DEMO_SEED: u64 = 2024;
/// File name of the demo index inside its directory.
pub const DEMO_INDEX_NAME: &str = "demo.sltd";

/// The specimen records every demo data set contains.
pub fn specimens() -> Vec<Record> {
    sltd_export::generate::specimen_records()
}

/// Builds an index of the specimens plus `generated` generated records into
/// `dir` and returns its path. `progress(done, total)` is called now and
/// then while records are generated.
pub fn build_demo_index(
    dir: &Path,
    generated: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf, IndexError> {
    let total = generated + specimens().len() as u64;
    let mut builder = IndexBuilder::new(BuildOptions {
        created_at: now_unix(),
        ..BuildOptions::default()
    });
    builder.reserve(usize::try_from(total).unwrap_or(0));
    for (i, record) in sltd_export::generate::generate(total, DEMO_SEED).enumerate() {
        builder.push(record);
        if i % 65_536 == 0 {
            progress(i as u64, total);
        }
    }
    progress(total, total);
    let built = builder.finish()?;
    let path = dir.join(DEMO_INDEX_NAME);
    write_atomically(&path, &built.bytes)?;
    Ok(path)
}
