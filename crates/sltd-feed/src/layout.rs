//! Where each file of a feed lives, relative to the feed's base (a directory
//! or a URL). Every name is derived here and nowhere else.

/// The checkpoint: the only file that changes.
pub const CHECKPOINT: &str = "checkpoint.json";
/// Publisher-only state; never served (`sltd feed serve` and the nginx
/// example refuse dot paths).
pub const PUBLISHER_DIR: &str = ".publisher";

/// The directory of the deltas.
pub const DELTAS_DIR: &str = "deltas";
/// The directory of the snapshots, one subdirectory each.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// The manifest's name inside a snapshot's directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Root metadata of version `version`: `N.root.json`.
pub fn root_path(version: u64) -> String {
    format!("{version}.root.json")
}

/// The delta that produces `sequence`.
pub fn delta_path(sequence: u64) -> String {
    format!("{DELTAS_DIR}/{sequence:020}.delta")
}

/// The name of the snapshot directory (in [`SNAPSHOTS_DIR`]) at `sequence`.
fn snapshot_dir_name(sequence: u64) -> String {
    format!("{sequence:020}")
}

/// The sequence a snapshot directory's name stands for; `None` for any
/// other name.
pub fn parse_snapshot_dir_name(name: &str) -> Option<u64> {
    let ok = name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| name.parse().ok()).flatten()
}

/// The directory of the snapshot at `sequence`.
pub fn snapshot_dir(sequence: u64) -> String {
    format!("{SNAPSHOTS_DIR}/{}", snapshot_dir_name(sequence))
}

/// The manifest of the snapshot at `sequence`.
pub fn manifest_path(sequence: u64) -> String {
    format!("{}/{MANIFEST_FILE}", snapshot_dir(sequence))
}

/// The name of chunk `index` inside a snapshot directory.
pub fn chunk_file_name(index: usize) -> String {
    format!("chunk-{index:06}.zst")
}

/// The path of chunk `index` of the snapshot at `sequence`.
pub fn chunk_path(sequence: u64, index: usize) -> String {
    format!("{}/{}", snapshot_dir(sequence), chunk_file_name(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(root_path(2), "2.root.json");
        assert_eq!(delta_path(7), "deltas/00000000000000000007.delta");
        assert_eq!(
            chunk_path(40, 1),
            "snapshots/00000000000000000040/chunk-000001.zst"
        );
        assert_eq!(
            manifest_path(40),
            "snapshots/00000000000000000040/manifest.json"
        );
        let dir = snapshot_dir(40);
        let name = dir.strip_prefix("snapshots/").unwrap();
        assert_eq!(parse_snapshot_dir_name(name), Some(40));
        assert_eq!(parse_snapshot_dir_name("40"), None);
        assert_eq!(parse_snapshot_dir_name("0000000000000000004x"), None);
    }
}
