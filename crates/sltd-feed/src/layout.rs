//! Where each file of a feed lives, relative to the feed's base (a directory
//! or a URL). Every name is derived here and nowhere else.

/// The checkpoint: the only file that changes.
pub const CHECKPOINT: &str = "checkpoint.json";
/// Publisher-only state; never served (`sltd feed serve` and the nginx
/// example refuse dot paths).
pub const PUBLISHER_DIR: &str = ".publisher";

/// Root metadata of version `version`: `N.root.json`.
pub fn root_path(version: u64) -> String {
    format!("{version}.root.json")
}

/// The delta that produces `sequence`.
pub fn delta_path(sequence: u64) -> String {
    format!("deltas/{sequence:020}.delta")
}

/// The directory of the snapshot at `sequence`.
pub fn snapshot_dir(sequence: u64) -> String {
    format!("snapshots/{sequence:020}")
}

/// The manifest of the snapshot at `sequence`.
pub fn manifest_path(sequence: u64) -> String {
    format!("{}/manifest.json", snapshot_dir(sequence))
}

/// The name of chunk `index` inside a snapshot directory.
pub fn chunk_file_name(index: usize) -> String {
    format!("chunk-{index:06}.zst")
}

/// The path of chunk `index` of the snapshot at `sequence`.
pub fn chunk_path(sequence: u64, index: usize) -> String {
    format!("{}/{}", snapshot_dir(sequence), chunk_file_name(index))
}
