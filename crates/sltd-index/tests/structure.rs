//! Random corruption of valid index files, with and without recomputed
//! checksums (see `structure_harness`): no edited byte is served, and no
//! resealed file that opens makes a reader panic or read out of bounds.

mod structure_harness;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn corrupted_files_are_refused_or_read_safely(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        structure_harness::run(&data);
    }

    /// Mostly intact files: a few edits, so lookups get deep into valid
    /// structure.
    #[test]
    fn a_few_edits_are_refused_or_read_safely(
        head in any::<u8>(),
        entries in proptest::collection::vec(any::<u8>(), 0..1024),
        edits in proptest::collection::vec(any::<u8>(), 0..15),
    ) {
        // Whole entries (at most 127), then the edits.
        let n = (entries.len() / 8).min(127);
        let mut data = vec![(n as u8) << 1 | (head & 1)];
        data.extend(&entries[..n * 8]);
        data.extend(&edits);
        structure_harness::run(&data);
    }
}
