#![no_main]
//! Builds a valid index from the fuzzer's bytes, edits it, recomputes its
//! checksums and reads it: the harness the property tests run
//! (`crates/sltd-index/tests/structure_harness`).

#[path = "../../crates/sltd-index/tests/structure_harness/mod.rs"]
mod structure_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| structure_harness::run(data));
