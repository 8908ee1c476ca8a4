//! Corrupt files: every truncation and every single-bit flip must be caught
//! by `open` or `verify`, and no lookup on a file that passed `open` may
//! panic, whatever its contents.

use sltd_index::{BuildOptions, Index, IndexBuilder, IndexError, IndexKind};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, Query, Record, Reference, Status,
};

fn sample(kind: IndexKind) -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions {
        kind,
        created_at: 1_700_000_000,
        ..BuildOptions::default()
    });
    for i in 0..120u32 {
        let r = Record {
            key: DocumentKey::normalise(
                ["UTO", "D", "FRA"][i as usize % 3],
                &format!("N{}", i / 2),
            )
            .unwrap(),
            doc_type: DocumentType::normalise(["P", "ID", "V"][i as usize % 3]).unwrap(),
            status: Status::from_code((i % 5) as u8).unwrap(),
            reported_on: Date::from_days(18_000 + i as u16),
            reporting_state: (i % 4 == 0).then(|| IssuingState::normalise("XPO").unwrap()),
            reference: Reference::new(&format!("REF/{i}")).unwrap(),
        };
        b.push(r);
    }
    if kind == IndexKind::Segment {
        b.push_entry(sltd_index::Entry::Deleted(
            DocumentKey::normalise("GB", "GONE1").unwrap(),
        ))
        .unwrap();
    }
    b.finish().unwrap().bytes
}

/// Runs a spread of lookups; they may fail, never panic.
fn exercise<B: AsRef<[u8]>>(index: &Index<B>) {
    let mut out = Vec::new();
    let mut queries = Vec::new();
    for i in 0..64 {
        let number = DocumentNumber::normalise(&format!("N{i}")).unwrap();
        queries.push(Query::number(number));
        queries.push(Query {
            number,
            state: Some(IssuingState::normalise("D").unwrap()),
            doc_type: Some(DocumentType::normalise("I").unwrap()),
        });
    }
    for q in &queries {
        let _ = index.lookup(q, &mut out);
    }
    let _ = index.lookup_batch(&queries, |_, _| {});
    let _ = index.get(&DocumentKey::normalise("UTO", "N1").unwrap());
    for e in index.entries().take(10_000) {
        let _ = e;
    }
}

#[test]
fn intact_files_verify() {
    for kind in [IndexKind::Base, IndexKind::Segment] {
        let bytes = sample(kind);
        let index = Index::open(&bytes[..]).unwrap();
        index.verify().unwrap();
        index.verify_checksums().unwrap();
        exercise(&index);
    }
}

#[test]
fn every_truncation_is_refused_at_open() {
    let bytes = sample(IndexKind::Base);
    for len in 0..bytes.len() {
        let err = Index::open(&bytes[..len]).expect_err("a truncated file must not open");
        assert!(
            matches!(
                err,
                IndexError::BadMagic | IndexError::LengthMismatch { .. }
            ),
            "len {len}: {err}"
        );
    }
    // Appended bytes are refused too.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Index::open(&longer[..]),
        Err(IndexError::LengthMismatch { .. })
    ));
}

#[test]
fn every_bit_flip_is_caught() {
    for kind in [IndexKind::Base, IndexKind::Segment] {
        let bytes = sample(kind);
        let mut flipped = bytes.clone();
        // Every bit of the header; one bit of every byte of the sections
        // (rotating through the bit positions).
        let flips = (0..256 * 8)
            .map(|i| (i / 8, i % 8))
            .chain((256..bytes.len()).map(|at| (at, at % 8)));
        {
            for (at, bit) in flips {
                flipped[at] ^= 1 << bit;
                match Index::open(&flipped[..]) {
                    Err(_) => {}
                    Ok(index) => {
                        exercise(&index);
                        assert!(
                            index.verify().is_err(),
                            "flip of bit {bit} at byte {at} passed verify"
                        );
                        // The checksums alone cover every byte the header
                        // does not.
                        assert!(
                            index.verify_checksums().is_err(),
                            "flip of bit {bit} at byte {at} passed the checksums"
                        );
                    }
                }
                flipped[at] ^= 1 << bit;
            }
        }
    }
}

#[test]
fn wrong_magic_and_version_are_named() {
    let bytes = sample(IndexKind::Base);
    let mut m = bytes.clone();
    m[0] = b'X';
    assert!(matches!(Index::open(&m[..]), Err(IndexError::BadMagic)));
    let mut v = bytes.clone();
    v[8..10].copy_from_slice(&3u16.to_le_bytes());
    let err = Index::open(&v[..]).unwrap_err();
    assert!(matches!(
        err,
        IndexError::UnsupportedVersion { major: 3, .. }
    ));
    assert!(err.to_string().contains("version 3.0 is not supported"));
    // A version 1 file, as every earlier build wrote: refused, with what
    // to do.
    v[8..10].copy_from_slice(&1u16.to_le_bytes());
    let err = Index::open(&v[..]).unwrap_err();
    assert!(matches!(
        err,
        IndexError::UnsupportedVersion { major: 1, .. }
    ));
    let msg = err.to_string();
    assert!(msg.contains("version 1.0 is no longer read"), "{msg}");
    assert!(msg.contains("sltd index build"), "{msg}");
}

/// A file whose checksums were recomputed after tampering passes `open` and
/// the checksum part of `verify`; lookups must still be safe, and the
/// structural checks of `verify` must still notice. Garbage in the table and
/// records sections, with valid header checksums, is the worst case.
#[test]
fn garbage_sections_with_a_valid_header_never_panic() {
    let bytes = sample(IndexKind::Segment);
    let header_len = 256;
    let mut state = 0x1234_5678_9abc_def0u64;
    for round in 0..200 {
        let mut g = bytes.clone();
        for b in &mut g[header_len..] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Keep some rounds mostly intact so lookups get deep.
            if round % 2 == 0 || state.is_multiple_of(16) {
                *b = state as u8;
            }
        }
        let tampered = Index::open(&g[..]).expect("header untouched");
        exercise(&tampered);
        assert!(tampered.verify().is_err());
    }
}

#[test]
fn unaligned_buffers_read_the_same() {
    let bytes = sample(IndexKind::Base);
    let mut shifted = vec![0u8; bytes.len() + 3];
    shifted[3..].copy_from_slice(&bytes);
    let a = Index::open(&bytes[..]).unwrap();
    let b = Index::open(&shifted[3..]).unwrap();
    b.verify().unwrap();
    let q = Query::number(DocumentNumber::normalise("N7").unwrap());
    let (mut x, mut y) = (Vec::new(), Vec::new());
    a.lookup(&q, &mut x).unwrap();
    b.lookup(&q, &mut y).unwrap();
    assert_eq!(x, y);
    assert_eq!(x.len(), 2);
}
