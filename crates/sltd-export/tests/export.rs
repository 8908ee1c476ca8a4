//! The export format end to end: what the writer produces the reader returns
//! unchanged, generation is deterministic, and every bad row is reported on
//! the line it is on.

use sltd_export::generate::{Generator, generate, specimen_records};
use sltd_export::{ExportReader, ExportWriter, RowError, RowErrorKind, WriteError};
use sltd_model::{ModelError, Record, Status};

const HEADER: &str = "issuing_country,document_type,document_number,status,reported_on,reference";

fn write_all(records: impl IntoIterator<Item = Record>) -> Vec<u8> {
    let mut w = ExportWriter::new(Vec::new()).unwrap();
    for r in records {
        w.write(&r).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Vec<Record> {
    ExportReader::new(bytes)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The errors of a file, as (line, column) pairs.
fn errors(text: &str) -> Vec<RowError> {
    ExportReader::new(text.as_bytes())
        .unwrap()
        .filter_map(Result::err)
        .collect()
}

fn one_error(text: &str) -> RowError {
    let mut errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.remove(0)
}

#[test]
fn round_trip_generated_data() {
    let records: Vec<Record> = generate(20_000, 42).collect();
    assert_eq!(records.len(), 20_000);
    let bytes = write_all(records.iter().copied());
    assert!(bytes.starts_with(format!("{HEADER}\n").as_bytes()));
    assert_eq!(read_all(&bytes), records);
}

#[test]
fn round_trip_with_reporting_country() {
    let records: Vec<Record> = Generator::new(5)
        .with_reporting_states()
        .take(5_000)
        .collect();
    assert!(records.iter().any(|r| r.reporting_state.is_some()));

    // The standard writer refuses rather than drop the field.
    let mut w = ExportWriter::new(Vec::new()).unwrap();
    let with_rs = records
        .iter()
        .find(|r| r.reporting_state.is_some())
        .unwrap();
    let err = w.write(with_rs).unwrap_err();
    assert!(matches!(err, WriteError::ReportingStateNotInSchema { .. }));
    assert!(err.to_string().contains("reporting_country"), "{err}");

    let mut w = ExportWriter::with_reporting_country(Vec::new()).unwrap();
    for r in &records {
        w.write(r).unwrap();
    }
    let bytes = w.finish().unwrap();
    assert!(bytes.starts_with(format!("{HEADER},reporting_country\n").as_bytes()));
    let mut reader = ExportReader::new(&bytes[..]).unwrap();
    assert!(reader.has_reporting_country());
    let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records);
}

#[test]
fn generation_is_deterministic() {
    let a = write_all(generate(10_000, 7));
    let b = write_all(generate(10_000, 7));
    let c = write_all(generate(10_000, 8));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // A longer run starts with the shorter one.
    let d = write_all(generate(20_000, 7));
    assert!(d.starts_with(&a));
}

#[test]
fn specimens_always_present() {
    let specimens = specimen_records();
    assert_eq!(specimens.len(), 4);
    let numbers: Vec<&str> = specimens.iter().map(|r| r.key.number.as_str()).collect();
    assert_eq!(numbers, ["L898902C3", "D23145890", "L8988901C", "L898902C"]);
    let types: Vec<&str> = specimens.iter().map(|r| r.doc_type.as_str()).collect();
    assert_eq!(types, ["P", "I", "V", "P"]);
    let mut statuses: Vec<Status> = specimens.iter().map(|r| r.status).collect();
    statuses.sort();
    statuses.dedup();
    assert_eq!(statuses.len(), 4, "all different statuses");
    assert!(specimens.iter().all(|r| r.key.state.as_str() == "UTO"));

    for seed in [0, 1, u64::MAX] {
        let first: Vec<Record> = generate(100, seed).take(4).collect();
        assert_eq!(first, specimens);
        // No generated record reuses the specimen state.
        assert!(
            generate(10_000, seed)
                .skip(4)
                .all(|r| r.key.state.as_str() != "UTO")
        );
    }
    assert_eq!(generate(2, 0).count(), 2);
    assert_eq!(generate(0, 0).count(), 0);
}

#[test]
fn every_status_appears_in_10k_records() {
    let records: Vec<Record> = generate(10_000, 1).collect();
    for status in Status::ALL {
        assert!(
            records.iter().skip(4).any(|r| r.status == status),
            "{status} missing"
        );
    }
}

#[test]
fn bad_rows_name_line_and_column() {
    let text = format!(
        "{HEADER}\n\
         FRA,P,12AB34567,lost,2020-01-02,\n\
         FRA,P,12AB.4567,lost,2020-01-02,\n\
         FRA,P,12AB34567,lost,2020-02-30,\n\
         FRA,P,12AB34567,found,2020-01-02,\n\
         FRA,P,12AB34567,lost\n\
         F1A,P,12AB34567,lost,2020-01-02,\n\
         FRA,P,12AB34567,lost,2020-01-02,{}\n\
         FRA,P,12AB34567,lost,2020-01-02,ok\n",
        "x".repeat(33)
    );
    let all: Vec<_> = ExportReader::new(text.as_bytes()).unwrap().collect();
    assert_eq!(all.len(), 8);
    assert!(all[0].is_ok() && all[7].is_ok());
    let errs: Vec<RowError> = all.into_iter().filter_map(Result::err).collect();
    let got: Vec<(u64, Option<&str>)> = errs.iter().map(|e| (e.line(), e.column())).collect();
    assert_eq!(
        got,
        [
            (3, Some("document_number")),
            (4, Some("reported_on")),
            (5, Some("status")),
            (6, None),
            (7, Some("issuing_country")),
            (8, Some("reference")),
        ]
    );
    assert!(errs.iter().all(|e| !e.is_fatal()));
    assert_eq!(
        errs[0].to_string(),
        format!(
            "line 3: document_number: {}",
            ModelError::InvalidNumberChar { ch: '.' }
        )
    );
    assert!(
        errs[0]
            .to_string()
            .starts_with("line 3: document_number: document number contains '.'; only letters")
    );
    assert!(errs[1].to_string().contains("2020-02-30"));
    assert!(errs[2].to_string().contains("unknown status \"found\""));
    assert!(matches!(
        errs[3].kind(),
        RowErrorKind::FieldCount {
            found: 4,
            expected: 6
        }
    ));
    assert_eq!(
        errs[3].to_string(),
        "line 6: expected 6 fields as in the header, found 4"
    );
    assert!(errs[4].to_string().contains("'1'"));
    assert!(errs[5].to_string().contains("33 bytes"));
}

#[test]
fn too_many_fields_and_bad_reporting_country() {
    let e = one_error(&format!("{HEADER}\nD,P,C01X00T47,lost,2020-01-02,,FRA\n"));
    assert_eq!(e.line(), 2);
    assert!(matches!(
        e.kind(),
        RowErrorKind::FieldCount {
            found: 7,
            expected: 6
        }
    ));
    let e = one_error(&format!(
        "{HEADER},reporting_country\nD,P,C01X00T47,lost,2020-01-02,,F2A\n"
    ));
    assert_eq!(e.column(), Some("reporting_country"));
}

#[test]
fn header_problems_are_fatal_and_clear() {
    let e = ExportReader::new(&b""[..]).unwrap_err();
    assert!(matches!(e.kind(), RowErrorKind::MissingHeader));
    assert!(e.is_fatal());
    assert!(e.to_string().contains(HEADER), "{e}");

    let e = ExportReader::new(&b"FRA,P,12AB34567,lost,2020-01-02,\n"[..]).unwrap_err();
    assert_eq!(e.line(), 1);
    assert!(matches!(e.kind(), RowErrorKind::BadHeader { .. }));
    assert!(
        e.to_string().starts_with("line 1: the header must be"),
        "{e}"
    );

    let e = ExportReader::new(&b"country,type,number,status,date,reference\n"[..]).unwrap_err();
    assert!(e.to_string().contains("found country,type"), "{e}");

    // Case, spaces and a byte order mark are tolerated.
    let text = "\u{feff}Issuing_Country, document_type ,document_number,status,reported_on,reference\n\
                D,P,C01X00T47,lost,2020-01-02,\n";
    assert_eq!(read_all(text.as_bytes()).len(), 1);
}

#[test]
fn crlf_quotes_and_empty_reference() {
    let text = format!(
        "{HEADER}\r\n\
         D<<,pp,C01X-00T47,Stolen,2021-03-04,\r\n\
         \"GBR\",\"P\",\"123 456 789\",\"lost\",\"2019-12-31\",\"HMPO, case 7\"\r\n\
         USA,P,<123456789,stolen_blank,2017-06-30,\"say \"\"hi\"\"\"\r\n"
    );
    let records = read_all(text.as_bytes());
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].key.state.as_str(), "D");
    assert_eq!(records[0].doc_type.as_str(), "PP");
    assert_eq!(records[0].key.number.as_str(), "C01X00T47");
    assert_eq!(records[0].status, Status::Stolen);
    assert!(records[0].reference.is_empty());
    assert_eq!(records[1].key.number.as_str(), "123456789");
    assert_eq!(records[1].reference.as_str(), "HMPO, case 7");
    assert_eq!(records[2].reference.as_str(), "say \"hi\"");
    assert_eq!(records[2].status, Status::StolenBlank);

    // Written back, quoting survives a second round trip.
    let again = read_all(&write_all(records.iter().copied()));
    assert_eq!(again, records);

    // Line numbers still count with CRLF.
    let e = one_error(&format!(
        "{HEADER}\r\nD,P,X,lost,2020-01-01,\r\nD,P,X,lost,2020-01-1,\r\n"
    ));
    assert_eq!((e.line(), e.column()), (3, Some("reported_on")));
}

#[test]
fn line_numbers_count_multi_line_quoted_fields() {
    // A quoted field spanning two lines: the bad reference is reported on
    // the line its row starts, and later rows keep their real line numbers.
    let text =
        format!("{HEADER}\nD,P,X1,lost,2020-01-01,\"two\nlines\"\nD,P,X.2,lost,2020-01-01,\n");
    let errs = errors(&text);
    let got: Vec<(u64, Option<&str>)> = errs.iter().map(|e| (e.line(), e.column())).collect();
    assert_eq!(got, [(2, Some("reference")), (4, Some("document_number"))]);
}

#[test]
fn non_utf8_field_is_named() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"D,P,X1,lost,2020-01-01,\xff\nD,\xffP,X1,lost,2020-01-01,\n");
    let errs: Vec<RowError> = ExportReader::new(&bytes[..])
        .unwrap()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errs.len(), 2);
    assert_eq!((errs[0].line(), errs[0].column()), (2, Some("reference")));
    assert_eq!(
        (errs[1].line(), errs[1].column()),
        (3, Some("document_type"))
    );
}

#[test]
fn io_error_ends_iteration() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let data = format!("{HEADER}\nD,P,X1,lost,2020-01-01,\n");
            if self.0 < data.len() {
                let n = (data.len() - self.0).min(buf.len());
                buf[..n].copy_from_slice(&data.as_bytes()[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            } else {
                Err(std::io::Error::other("disk on fire"))
            }
        }
    }
    let items: Vec<_> = ExportReader::new(Failing(0)).unwrap().collect();
    assert!(items.len() <= 2, "{items:?}");
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.is_fatal());
    assert!(last.to_string().contains("disk on fire"));
}

#[test]
fn blank_lines_and_unterminated_last_line_keep_line_numbers() {
    let text = format!(
        "\n{HEADER}\n\nD,P,X1,lost,2020-01-01,\n\r\nD,P,X.2,lost,2020-01-01,\n\nD,P,X.3,lost,2020-01-01,"
    );
    let all: Vec<_> = ExportReader::new(text.as_bytes()).unwrap().collect();
    assert_eq!(all.len(), 3);
    assert!(all[0].is_ok());
    let lines: Vec<u64> = all
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(RowError::line)
        .collect();
    assert_eq!(lines, [6, 8]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use sltd_model::{Date, DocumentKey, DocumentType, IssuingState, Reference};

    fn record() -> impl Strategy<Value = Record> {
        (
            "[A-Z]{1,3}",
            "[A-Z0-9]{1,30}",
            "[A-Z]{1,2}",
            0usize..5,
            any::<u16>(),
            "[^\\p{Cc}]{0,10}",
            proptest::option::of("[A-Z]{1,3}"),
        )
            .prop_filter_map("reference too long", |(s, n, t, st, d, r, rs)| {
                Some(Record {
                    key: DocumentKey::normalise(&s, &n).ok()?,
                    doc_type: DocumentType::normalise(&t).ok()?,
                    status: Status::ALL[st],
                    reported_on: Date::from_days(d),
                    reporting_state: rs.map(|x| IssuingState::normalise(&x).unwrap()),
                    reference: Reference::new(&r).ok()?,
                })
            })
    }

    proptest! {
        #[test]
        fn any_records_round_trip(records in prop::collection::vec(record(), 0..50)) {
            let mut w = ExportWriter::with_reporting_country(Vec::new()).unwrap();
            for r in &records {
                w.write(r).unwrap();
            }
            let bytes = w.finish().unwrap();
            let back: Vec<Record> = ExportReader::new(&bytes[..])
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(back, records);
        }

        #[test]
        fn any_text_never_panics(text in "\\PC{0,300}") {
            let input = format!("{HEADER}\n{text}");
            for item in ExportReader::new(input.as_bytes()).unwrap() {
                if let Err(e) = item {
                    prop_assert!(e.line() >= 2);
                }
            }
        }
    }
}

#[test]
fn unknown_issuing_states_are_counted_not_refused() {
    let text = "issuing_country,document_type,document_number,status,reported_on,reference\n\
        D,P,C01X00T47,stolen,2024-01-02,\n\
        YUG,P,AB123,lost,1990-05-06,old\n\
        DEU,P,C01X00T48,stolen,2024-01-02,\n\
        YUG,P,AB124,lost,1990-05-06,\n\
        UTO,P,L898902C3,stolen,2024-01-02,\n\
        XYZ,P,1,stolen,2024-01-02,\n\
        FRA,P,,stolen,2024-01-02,\n";
    let mut reader = ExportReader::new(text.as_bytes()).unwrap();
    let rows: Vec<_> = reader.by_ref().collect();
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 6);
    let stats = reader.stats();
    assert_eq!(stats.records, 6);
    assert_eq!(stats.unknown_state_rows(), 4);
    let unknown: Vec<_> = stats
        .unknown_states()
        .map(|(s, u)| (s.to_string(), u.rows, u.first_line))
        .collect();
    assert_eq!(
        unknown,
        [
            ("DEU".to_string(), 1, 4),
            ("XYZ".to_string(), 1, 7),
            ("YUG".to_string(), 2, 3)
        ]
    );
    let lines = stats.unknown_state_lines();
    assert_eq!(
        lines[0],
        "DEU: 1 row, first on line 4 (ISO 3166-1 code of Germany; ICAO code D)"
    );
    assert_eq!(lines[2], "YUG: 2 rows, first on line 3");
}

#[test]
fn generated_exports_use_icao_codes_only() {
    let bytes = write_all(sltd_export::generate::generate(20_000, 3));
    let mut reader = ExportReader::new(&bytes[..]).unwrap();
    assert!(reader.by_ref().all(|r| r.is_ok()));
    assert_eq!(reader.stats().records, 20_000);
    assert_eq!(
        reader.stats().unknown_state_rows(),
        0,
        "{:?}",
        reader.stats()
    );
}
