//! Corruption that reaches past the checksums: an index file built from
//! arbitrary bytes (so its structure starts valid), then edited at
//! positions the bytes choose. Shared by the property test
//! (`tests/structure.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/index_structure.rs`).
//!
//! What must hold, whatever the bytes:
//! - an edited file whose checksums were left alone is refused by `open`
//!   or `verify_checksums`: no flipped byte is served;
//! - resealed (every checksum recomputed), a file that passes `open` never
//!   panics or reads out of bounds in a lookup, an iteration, or in reading
//!   its states and filter; and if it still passes `verify`, every entry it
//!   lists is found by a lookup of its key.

use sltd_index::{BuildOptions, Entry, Index, IndexBuilder, IndexKind, reseal};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, Query, Record, Reference, Status,
};

const STATES: &[&str] = &["UTO", "D", "FRA", "GB", "XXA", "YUG", "A", "ZZZ"];
const TYPES: &[&str] = &["P", "PP", "I", "ID", "V", "AC"];
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Bytes consumed per entry.
const ENTRY_BYTES: usize = 8;

fn entry_from(b: &[u8], segment: bool) -> Entry {
    let state = IssuingState::normalise(STATES[usize::from(b[0]) % STATES.len()]).unwrap();
    // Short numbers from a small alphabet collide, share buckets and spill.
    let len = 1 + usize::from(b[1] % 12);
    let number: String = (0..len)
        .map(|i| {
            let pick =
                b[2 + i % 4].wrapping_add(i as u8 * 7) % if b[1] & 0x80 != 0 { 4 } else { 36 };
            ALPHABET[usize::from(pick)] as char
        })
        .collect();
    let key = DocumentKey {
        state,
        number: DocumentNumber::normalise(&number).unwrap(),
    };
    if segment && b[6].is_multiple_of(5) {
        return Entry::Deleted(key);
    }
    let reference: String = (0..usize::from(b[7] % 33))
        .map(|i| (b'a' + (b[7].wrapping_add(i as u8)) % 26) as char)
        .collect();
    Entry::Record(Record {
        key,
        doc_type: DocumentType::normalise(TYPES[usize::from(b[6]) % TYPES.len()]).unwrap(),
        status: Status::from_code(b[6] % 5).unwrap(),
        reported_on: Date::from_days(u16::from_le_bytes([b[4], b[5]])),
        reporting_state: (b[5] & 1 == 1)
            .then(|| IssuingState::normalise(STATES[usize::from(b[3]) % STATES.len()]).unwrap()),
        reference: Reference::new(&reference).unwrap(),
    })
}

/// Runs the whole check on `data`; panics when a property fails.
pub(crate) fn run(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let segment = head & 1 == 1;
    let entries = usize::from(head >> 1).min(rest.len() / ENTRY_BYTES);
    let (entry_bytes, edits) = rest.split_at(entries * ENTRY_BYTES);
    let mut b = IndexBuilder::new(BuildOptions {
        kind: if segment {
            IndexKind::Segment
        } else {
            IndexKind::Base
        },
        created_at: 1_700_000_000,
        ..BuildOptions::default()
    });
    for e in entry_bytes.chunks_exact(ENTRY_BYTES) {
        b.push_entry(entry_from(e, segment)).unwrap();
    }
    let original = b.finish().unwrap().bytes;
    {
        let index = Index::open(&original[..]).unwrap();
        index.verify().unwrap();
    }

    // Edits: (position, xor) in 5 bytes each.
    let mut file = original.clone();
    for e in edits.chunks_exact(5) {
        let at = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize % file.len();
        file[at] ^= e[4];
    }
    if file != original
        && let Ok(index) = Index::open(&file[..])
    {
        assert!(
            index.verify_checksums().is_err(),
            "an edited file passed open and its checksums"
        );
    }

    if reseal(&mut file).is_err() {
        return;
    }
    let Ok(index) = Index::open(&file[..]) else {
        return;
    };
    exercise(&index, entry_bytes, segment);
    let _ = index.issuing_states();
    let _ = index
        .confusable_filter()
        .map(|f| f.may_contain(&DocumentNumber::normalise("L898902C3").unwrap()));
    if index.verify().is_ok() {
        for e in index.entries() {
            let e = e.expect("a verified file's entries decode");
            assert_eq!(
                index.get(e.key()).expect("a verified file answers"),
                Some(e),
                "a verified file lists an entry its lookup does not find"
            );
        }
    }
}

/// Lookups of the numbers the file was built from and of a few others: they
/// may fail, never panic.
fn exercise<B: AsRef<[u8]>>(index: &Index<B>, entry_bytes: &[u8], segment: bool) {
    let mut queries: Vec<Query> = entry_bytes
        .chunks_exact(ENTRY_BYTES)
        .take(64)
        .map(|e| Query::number(entry_from(e, segment).key().number))
        .collect();
    for n in ["0", "L898902C3", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"] {
        queries.push(Query {
            number: DocumentNumber::normalise(n).unwrap(),
            state: Some(IssuingState::normalise("D").unwrap()),
            doc_type: Some(DocumentType::normalise("P").unwrap()),
        });
    }
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for q in &queries {
        let _ = index.lookup(q, &mut out);
        let _ = index.lookup_entries(q, &mut entries);
    }
    let _ = index.lookup_batch(&queries, |_, _| {});
    for e in index.entries().take(1 << 12) {
        let _ = e;
    }
}
