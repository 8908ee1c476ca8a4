#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sltd_fuzz_support::open_and_look_up(data));

mod sltd_fuzz_support {
    use sltd_index::Index;
    use sltd_model::{DocumentKey, DocumentNumber, Query};

    /// Opens arbitrary bytes as an index and, if that succeeds, runs lookups
    /// and a full verify: none may panic, loop or read out of bounds.
    pub fn open_and_look_up(data: &[u8]) {
        let Ok(index) = Index::open(data) else { return };
        let mut out = Vec::new();
        for n in ["L898902C3", "D23145890", "1", "A", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"] {
            let q = Query::number(DocumentNumber::normalise(n).unwrap());
            let _ = index.lookup(&q, &mut out);
            let _ = index.lookup_batch(&[q, q], |_, _| {});
            let _ = index.get(&DocumentKey::normalise("UTO", n).unwrap());
        }
        for e in index.entries().take(1 << 16) {
            let _ = e;
        }
        let _ = index.verify();
    }
}
