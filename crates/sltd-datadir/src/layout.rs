//! Where each file of a data directory lives. Every name is derived here
//! and nowhere else (`docs/FEED.md` section 10).
//!
//! ```text
//! DATA/
//!   CURRENT                   id of the generation to serve, one line
//!   generations/<id>.json     one generation: sequence, state root, as-of,
//!                             expiry, and the files that make it up
//!   files/                    index files (base and delta segments), state
//!                             bucket files and checkpoints; immutable, and a
//!                             name is never reused for other bytes
//!   state/roots/N.root.json   every root after the pinned one, verified
//!                             as a chain from the pin on every sync
//!   state/known.json          highest verified checkpoint (rollback defence),
//!                             its issue time, root version and the pin
//!   state/checkpoint.json     its envelope
//!   state/status.json         outcome of the last sync runs
//!   state/download/           partial downloads, resumed by the next run
//!   lock                      held by a running sync
//! ```

use std::path::{Path, PathBuf};

/// The pointer file naming the generation being served.
pub const CURRENT: &str = "CURRENT";
/// The directory of generation metadata files.
pub const GENERATIONS: &str = "generations";
pub(crate) const FILES: &str = "files";
pub(crate) const STATE: &str = "state";
pub(crate) const DOWNLOAD: &str = "download";
pub(crate) const LOCK: &str = "lock";
/// The roots after the pinned one, in `state/`.
pub(crate) const ROOTS: &str = "roots";

/// The name of stored root `version` in `state/roots/`: the feed's own
/// name for it.
pub(crate) fn stored_root_file_name(version: u64) -> String {
    sltd_feed::layout::root_path(version)
}

/// The sync's files in `state/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFile {
    /// The highest checkpoint sequence and state root verified.
    Known,
    /// The envelope of that checkpoint.
    LastCheckpoint,
    /// The outcome of the last sync runs.
    Status,
}

impl StateFile {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StateFile::Known => "known.json",
            StateFile::LastCheckpoint => "checkpoint.json",
            StateFile::Status => "status.json",
        }
    }
}

/// Files earlier versions kept in `state/` and nothing reads any more
/// (`http.json`: HTTP validators of the checkpoint, no longer used since the
/// checkpoint is always fetched whole); removed by garbage collection.
pub(crate) const OBSOLETE_STATE_FILES: &[&str] = &["http.json"];

/// What a file in `files/` holds; its name starts with the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A base index.
    Base,
    /// A delta segment index.
    Segment,
    /// Serialised state hash buckets.
    Buckets,
    /// A signed checkpoint envelope.
    Checkpoint,
}

impl FileKind {
    fn prefix_and_extension(self) -> (&'static str, &'static str) {
        match self {
            FileKind::Base => ("base", "sltdidx"),
            FileKind::Segment => ("segment", "sltdidx"),
            FileKind::Buckets => ("buckets", "bin"),
            FileKind::Checkpoint => ("checkpoint", "json"),
        }
    }

    /// `KIND-SEQUENCE-SUFFIX.EXT`, e.g. `segment-00000000000000000042-1a2b3c4d.sltdidx`.
    pub(crate) fn file_name(self, sequence: u64, suffix: &str) -> String {
        let (prefix, ext) = self.prefix_and_extension();
        format!("{prefix}-{sequence:020}-{suffix}.{ext}")
    }
}

/// The name of a generation's metadata file.
pub fn generation_file_name(id: &str) -> String {
    format!("{id}.json")
}

/// The generation id a file name in `generations/` stands for.
pub(crate) fn generation_id_of_file_name(name: &str) -> Option<&str> {
    name.strip_suffix(".json")
}

/// A new generation's id: `g-SEQUENCE-SUFFIX`, so ids sort by sequence.
pub(crate) fn generation_id(sequence: u64, suffix: &str) -> String {
    format!("g-{sequence:020}-{suffix}")
}

/// How a generation file names a file of `files/`: `files/NAME`.
pub(crate) fn generation_file_ref(name: &str) -> String {
    format!("{FILES}/{name}")
}

/// The file a generation file's reference names, if it is a plain name
/// inside `files/` (a generation file cannot point outside the directory).
pub(crate) fn resolve_generation_file_ref(root: &Path, reference: &str) -> Option<PathBuf> {
    let name = reference.strip_prefix(FILES)?.strip_prefix('/')?;
    let plain = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
    plain.then(|| root.join(FILES).join(name))
}

/// Where a partial download of feed file `feed_path` (e.g.
/// `deltas/00000000000000000042.delta`) is kept: one flat name per feed
/// path in `state/download/`.
pub(crate) fn download_file_name(feed_path: &str) -> String {
    feed_path.replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_references() {
        assert_eq!(
            FileKind::Segment.file_name(42, "00ff"),
            "segment-00000000000000000042-00ff.sltdidx"
        );
        assert_eq!(generation_id(3, "ab"), "g-00000000000000000003-ab");
        assert_eq!(generation_id_of_file_name("g-1.json"), Some("g-1"));
        let root = Path::new("/d");
        assert_eq!(
            resolve_generation_file_ref(root, &generation_file_ref("base-1.sltdidx")),
            Some(PathBuf::from("/d/files/base-1.sltdidx"))
        );
        for bad in [
            "files/",
            "files/../x",
            "files/.hidden",
            "other/x",
            "/etc/passwd",
            "filesx/a",
        ] {
            assert_eq!(resolve_generation_file_ref(root, bad), None, "{bad}");
        }
        assert_eq!(
            download_file_name("snapshots/00000000000000000040/chunk-000001.zst"),
            "snapshots_00000000000000000040_chunk-000001.zst"
        );
    }
}
