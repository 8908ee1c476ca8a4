//! Data of a known content: records, CSV exports and index files, the ICAO
//! Doc 9303 specimen MRZ texts, and numbers no generated record has.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use sltd_export::ExportWriter;
use sltd_index::{BuildOptions, IndexBuilder};
/// The record type of every fixture.
pub use sltd_model::Record;
use sltd_model::{Date, DocumentKey, DocumentType, Reference, Status};

/// The TD3 (passport) specimen: document L898902C3, issuing state UTO.
pub const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
/// The TD1 (identity card) specimen: document D23145890.
pub const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
/// The TD2 specimen: document D23145890.
pub const TD2: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6";
/// The MRV-A (visa) specimen: document L8988901C.
pub const MRV_A: &str =
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL8988901C4XXX4009078F96121096ZE184226B<<<<<<";
/// The MRV-B (visa) specimen: document L8988901C.
pub const MRV_B: &str =
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nL8988901C4XXX4009078F9612109<<<<<<<<";

/// The seed of [`records`].
pub const SEED: u64 = 7;

/// The specimens plus `generated` generated records (seed [`SEED`]).
pub fn records(generated: u64) -> Vec<Record> {
    let specimens = sltd_export::generate::specimen_records().len() as u64;
    sltd_export::generate::generate(specimens + generated, SEED).collect()
}

/// A stolen passport of issuing state UTO that no generated export holds
/// (give it a number outside the generator's patterns, e.g. from
/// [`miss_number`]).
pub fn new_record(number: &str) -> Record {
    Record {
        key: DocumentKey::normalise("UTO", number).expect("a valid document number"),
        doc_type: DocumentType::normalise("P").expect("a valid type"),
        status: Status::Stolen,
        reported_on: Date::from_ymd(2026, 11, 1).expect("a valid date"),
        reporting_state: None,
        reference: Reference::new("NEW-1").expect("a valid reference"),
    }
}

/// Numbers that no generated record has: the generator never produces
/// the `QQZ` prefix followed by nine digits.
pub fn miss_number(i: usize) -> String {
    format!("QQZ{i:09}")
}

/// Now, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

/// Writes `records` as a CSV export (the standard six columns) to `path`.
pub fn write_export(path: &Path, records: &[Record]) {
    let file = File::create(path).expect("create the export");
    let mut w = ExportWriter::new(BufWriter::new(file)).expect("write the header");
    for r in records {
        w.write(r).expect("write a record");
    }
    w.finish().expect("finish the export");
}

/// Writes an index of `records` to `path` by rename, as a publisher would.
pub fn write_index(path: &Path, records: &[Record], created_at: i64) {
    let mut b = IndexBuilder::new(BuildOptions {
        created_at,
        ..BuildOptions::default()
    });
    for r in records {
        b.push(*r);
    }
    let built = b.finish().expect("build the index");
    sltd_index::write_atomically(path, &built.bytes).expect("write the index");
}

/// A fresh temporary directory with an index of the specimens plus
/// `generated` records at `index.sltd`, built now.
pub fn temp_index(generated: u64) -> (tempfile::TempDir, PathBuf, Vec<Record>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("index.sltd");
    let recs = records(generated);
    write_index(&path, &recs, now());
    (dir, path, recs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miss_numbers_are_in_no_generated_export() {
        let recs = records(20_000);
        let numbers: std::collections::HashSet<&str> =
            recs.iter().map(|r| r.key.number.as_str()).collect();
        for i in 0..1_000 {
            assert!(!numbers.contains(miss_number(i).as_str()));
        }
    }

    #[test]
    fn an_export_and_an_index_hold_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let recs = records(100);
        let csv = dir.path().join("export.csv");
        write_export(&csv, &recs);
        let read: Vec<Record> = sltd_export::ExportReader::new(File::open(&csv).unwrap())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(read, recs);
        let idx = dir.path().join("index.sltd");
        write_index(&idx, &recs, 1_700_000_000);
        let bytes = std::fs::read(&idx).unwrap();
        let index = sltd_index::Index::open(&bytes[..]).unwrap();
        index.verify().unwrap();
        let h = index.header();
        assert_eq!(h.record_count + h.duplicates_dropped, recs.len() as u64);
        assert_eq!(h.created_at, 1_700_000_000);
    }
}
