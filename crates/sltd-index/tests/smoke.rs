use sltd_index::{BuildOptions, Index, IndexBuilder};
use sltd_model::{Date, DocumentKey, DocumentNumber, DocumentType, Query, Record, Reference, Status};

fn rec(state: &str, num: &str) -> Record {
    Record {
        key: DocumentKey::normalise(state, num).unwrap(),
        doc_type: DocumentType::normalise("P").unwrap(),
        status: Status::Stolen,
        reported_on: "2024-01-02".parse::<Date>().unwrap(),
        reporting_state: None,
        reference: Reference::new("REF-1").unwrap(),
    }
}

#[test]
fn smoke() {
    let mut b = IndexBuilder::new(BuildOptions::default());
    for i in 0..100_000u32 {
        b.push(rec(["UTO", "D", "FRA"][i as usize % 3], &format!("X{i:08}")));
    }
    let built = b.finish().unwrap();
    eprintln!("{:?} bytes/rec {}", built.stats, built.bytes.len() as f64 / 100_000.0);
    let idx = Index::open(&built.bytes[..]).unwrap();
    idx.verify().unwrap();
    let mut out = vec![];
    idx.lookup(&Query::number(DocumentNumber::normalise("X00000005").unwrap()), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    out.clear();
    idx.lookup(&Query::number(DocumentNumber::normalise("X00000005A").unwrap()), &mut out).unwrap();
    assert_eq!(out.len(), 0);
}
