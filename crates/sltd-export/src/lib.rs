//! The CSV export of stolen and lost travel document records: the format the
//! central system produces and every sltd tool reads, plus a generator of
//! realistic synthetic exports for demos, tests and benchmarks.
//!
//! # Schema
//!
//! UTF-8 text, comma separated, one record per line, `"` quoting where a field
//! needs it (RFC 4180). The first line is the header, exactly:
//!
//! ```text
//! issuing_country,document_type,document_number,status,reported_on,reference
//! ```
//!
//! | column | content |
//! |---|---|
//! | `issuing_country` | ICAO code of the issuing state, fillers optional (`D`, `D<<`, `FRA`); a code outside ICAO 9303 is read and counted in [`ExportStats`] |
//! | `document_type` | one or two letters (`P`, `PP`, `PD`, `I`, `ID`, `AC`, `V`) |
//! | `document_number` | the number; spaces, hyphens and `<` are dropped, anything else outside `A-Z0-9` is an error |
//! | `status` | `stolen`, `lost`, `revoked`, `invalidated` or `stolen_blank` |
//! | `reported_on` | `YYYY-MM-DD` |
//! | `reference` | the issuing state's own reference, at most 32 bytes, may be empty |
//!
//! Every field goes through the normalisation of [`sltd_model`]; this crate
//! never re-implements it.
//!
//! **Optional seventh column.** A file may add `reporting_country` after
//! `reference` (the state that reported the document, when it is not the
//! issuer; empty for none). The reader accepts both headers. The writer emits
//! the seventh column only when built with
//! [`ExportWriter::with_reporting_country`]; the standard six-column writer
//! refuses a record that has a reporting state rather than silently dropping
//! it. The generator leaves the reporting state empty unless asked
//! ([`generate::Generator::with_reporting_states`]).
//!
//! Reading streams: memory use does not depend on the file's size.

#![forbid(unsafe_code)]

pub mod generate;
mod read;
mod write;

pub use read::{ExportReader, ExportStats, RowError, RowErrorKind, UnknownStateRows};
pub use write::{ExportWriter, WriteError};

/// The standard header, column by column.
pub const HEADER: [&str; 6] = [
    "issuing_country",
    "document_type",
    "document_number",
    "status",
    "reported_on",
    "reference",
];

/// The optional seventh column.
pub const REPORTING_COUNTRY: &str = "reporting_country";
