//! Reading an export row by row, with every problem tied to the line it is on
//! so an operator can open the file and fix it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, ModelError, Record, Reference,
    Status, state_codes,
};

use crate::{HEADER, REPORTING_COUNTRY};

/// What is wrong with a line of an export.
#[derive(Debug)]
#[non_exhaustive]
pub enum RowErrorKind {
    /// Reading the underlying stream failed.
    Io(io::Error),
    /// The CSV structure itself could not be read.
    Malformed { message: String },
    /// The input has no lines at all.
    MissingHeader,
    /// The first line is not the export header.
    BadHeader { found: Vec<String> },
    /// A row has the wrong number of fields.
    FieldCount { found: usize, expected: usize },
    /// A field is not valid UTF-8.
    NotUtf8 { column: &'static str },
    /// A field breaks a rule of the document model.
    Field {
        column: &'static str,
        error: ModelError,
    },
}

impl fmt::Display for RowErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = HEADER.join(",");
        match self {
            RowErrorKind::Io(e) => write!(f, "read error: {e}"),
            RowErrorKind::Malformed { message } => write!(f, "malformed CSV: {message}"),
            RowErrorKind::MissingHeader => {
                write!(f, "the file is empty; expected the header {header}")
            }
            RowErrorKind::BadHeader { found } => write!(
                f,
                "the header must be {header} (optionally followed by ,{REPORTING_COUNTRY}); found {}",
                found.join(",")
            ),
            RowErrorKind::FieldCount { found, expected } => write!(
                f,
                "expected {expected} fields as in the header, found {found}"
            ),
            RowErrorKind::NotUtf8 { column } => write!(f, "{column}: not valid UTF-8 text"),
            RowErrorKind::Field { column, error } => write!(f, "{column}: {error}"),
        }
    }
}

/// A problem on one line of an export: its 1-based line number in the file
/// (the header is line 1) and what is wrong.
#[derive(Debug)]
pub struct RowError {
    line: u64,
    kind: RowErrorKind,
}

impl RowError {
    /// The 1-based line the row starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &RowErrorKind {
        &self.kind
    }

    /// The column at fault, when one field is.
    pub fn column(&self) -> Option<&'static str> {
        match self.kind {
            RowErrorKind::Field { column, .. } | RowErrorKind::NotUtf8 { column } => Some(column),
            _ => None,
        }
    }

    /// Whether reading cannot go on past this error. A bad row can be skipped
    /// and reading continues; after a fatal error (I/O, header, broken CSV)
    /// the reader yields nothing more, so skipping it would silently lose the
    /// rest of the file.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            RowErrorKind::Io(_)
                | RowErrorKind::Malformed { .. }
                | RowErrorKind::MissingHeader
                | RowErrorKind::BadHeader { .. }
        )
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for RowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RowErrorKind::Io(e) => Some(e),
            RowErrorKind::Field { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn csv_error(line: u64, e: csv::Error) -> RowError {
    let kind = match e.into_kind() {
        csv::ErrorKind::Io(e) => RowErrorKind::Io(e),
        other => RowErrorKind::Malformed {
            message: format!("{other:?}"),
        },
    };
    RowError { line, kind }
}

/// What an export held, counted while reading it: every command that
/// loads an export reports the same figures from here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Rows read as records.
    pub records: u64,
    unknown_states: BTreeMap<IssuingState, UnknownStateRows>,
}

/// Rows whose issuing state is not an ICAO 9303 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownStateRows {
    pub rows: u64,
    /// The line of the first such row.
    pub first_line: u64,
}

impl ExportStats {
    /// Rows whose issuing state is not an ICAO 9303 code (a withdrawn code
    /// such as `YUG`, an ISO code such as `DEU`, or a typo). They load as
    /// they are: a query for such a code finds them, and a query with the
    /// right ICAO code finds them among its possible matches.
    pub fn unknown_state_rows(&self) -> u64 {
        self.unknown_states.values().map(|u| u.rows).sum()
    }

    /// Each unknown issuing state with its rows, by code.
    pub fn unknown_states(&self) -> impl Iterator<Item = (&IssuingState, &UnknownStateRows)> {
        self.unknown_states.iter()
    }

    /// One line per unknown code, with the ICAO code meant when the code is
    /// an ISO 3166-1 code: `DEU: 12 rows, first on line 40 (ISO 3166-1 code
    /// of Germany; ICAO code D)`.
    pub fn unknown_state_lines(&self) -> Vec<String> {
        self.unknown_states
            .iter()
            .map(|(state, u)| {
                let mut line = format!(
                    "{state}: {} row{}, first on line {}",
                    u.rows,
                    if u.rows == 1 { "" } else { "s" },
                    u.first_line
                );
                if let Some(code) = state_codes::iso_alias(state) {
                    line.push_str(&format!(
                        " (ISO 3166-1 code of {}; ICAO code {})",
                        code.name(),
                        code.code()
                    ));
                }
                line
            })
            .collect()
    }

    fn count(&mut self, record: &Record, line: u64) {
        self.records += 1;
        let state = record.key.state;
        if !state_codes::is_known(&state) {
            self.unknown_states
                .entry(state)
                .or_insert(UnknownStateRows {
                    rows: 0,
                    first_line: line,
                })
                .rows += 1;
        }
    }
}

/// Reads records from an export, streaming: one row in memory at a time.
///
/// Iterating yields `Result<Record, RowError>` per data row. After a bad row
/// the next one is read as usual; after a fatal error (see
/// [`RowError::is_fatal`]) iteration ends. Lines may end in `\n` or `\r\n`;
/// blank lines are skipped.
#[derive(Debug)]
pub struct ExportReader<R> {
    csv: csv::Reader<Tracked<R>>,
    row: csv::ByteRecord,
    columns: usize,
    done: bool,
    stats: ExportStats,
}

/// The input, watched for how it ends, so that the line a row starts on can
/// be worked out exactly (see [`ExportReader::start_line`]).
#[derive(Debug)]
struct Tracked<R> {
    inner: R,
    total: u64,
    last: Option<u8>,
    eof: bool,
}

impl<R: io::Read> io::Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.eof = !buf.is_empty();
        } else {
            self.total += n as u64;
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

impl<R: io::Read> ExportReader<R> {
    /// Reads and checks the header. Leading and trailing spaces around header
    /// names, their case and a UTF-8 byte order mark are tolerated.
    pub fn new(input: R) -> Result<Self, RowError> {
        // `\n` alone ends a record: with csv's CRLF mode the `\n` of a `\r\n`
        // pair is consumed with the next record, which puts line numbers off
        // by one. A `\r` left at the end of the last field is removed below.
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_reader(Tracked {
                inner: input,
                total: 0,
                last: None,
                eof: false,
            });
        let mut row = csv::ByteRecord::new();
        let Some(line) = next_row(&mut csv, &mut row).map_err(|e| csv_error(1, e))? else {
            return Err(RowError {
                line: 1,
                kind: RowErrorKind::MissingHeader,
            });
        };
        let names: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let f = if i == 0 {
                    f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
                } else {
                    f
                };
                String::from_utf8_lossy(f).trim().to_string()
            })
            .collect();
        let expected = HEADER.iter().chain([&REPORTING_COUNTRY]);
        let matches = (names.len() == 6 || names.len() == 7)
            && names
                .iter()
                .zip(expected)
                .all(|(n, e)| n.eq_ignore_ascii_case(e));
        if !matches {
            return Err(RowError {
                line,
                kind: RowErrorKind::BadHeader { found: names },
            });
        }
        Ok(Self {
            csv,
            row,
            columns: names.len(),
            done: false,
            stats: ExportStats::default(),
        })
    }

    /// What the rows read so far held. Read it after the last row (iterate
    /// with `by_ref()` to keep the reader).
    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }

    /// Whether the file has the optional `reporting_country` column.
    pub fn has_reporting_country(&self) -> bool {
        self.columns == 7
    }

    fn parse_row(&self, line: u64) -> Result<Record, RowError> {
        let row = &self.row;
        if row.len() != self.columns {
            return Err(RowError {
                line,
                kind: RowErrorKind::FieldCount {
                    found: row.len(),
                    expected: self.columns,
                },
            });
        }
        let raw = |i: usize| -> &[u8] { without_cr(row, i) };
        let text = |i: usize| -> Result<&str, RowError> {
            std::str::from_utf8(raw(i)).map_err(|_| RowError {
                line,
                kind: RowErrorKind::NotUtf8 { column: column(i) },
            })
        };
        let field = |i: usize, error: ModelError| RowError {
            line,
            kind: RowErrorKind::Field {
                column: column(i),
                error,
            },
        };
        let state = IssuingState::normalise(text(0)?).map_err(|e| field(0, e))?;
        let doc_type = DocumentType::normalise(text(1)?).map_err(|e| field(1, e))?;
        let number = DocumentNumber::normalise(text(2)?).map_err(|e| field(2, e))?;
        let status: Status = text(3)?.parse().map_err(|e| field(3, e))?;
        let reported_on: Date = text(4)?.trim().parse().map_err(|e| field(4, e))?;
        let reference = Reference::from_bytes(raw(5)).map_err(|e| field(5, e))?;
        let reporting_state = if self.columns == 7 {
            let raw = text(6)?;
            if raw.trim().is_empty() {
                None
            } else {
                Some(IssuingState::normalise(raw).map_err(|e| field(6, e))?)
            }
        } else {
            None
        };
        Ok(Record {
            key: DocumentKey { state, number },
            doc_type,
            status,
            reported_on,
            reporting_state,
            reference,
        })
    }
}

fn column(i: usize) -> &'static str {
    HEADER.get(i).copied().unwrap_or(REPORTING_COUNTRY)
}

impl<R: io::Read> Iterator for ExportReader<R> {
    type Item = Result<Record, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let before = self.csv.position().line();
        match next_row(&mut self.csv, &mut self.row) {
            Ok(Some(line)) => {
                let row = self.parse_row(line);
                if let Ok(record) = &row {
                    self.stats.count(record, line);
                }
                Some(row)
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(csv_error(before, e)))
            }
        }
    }
}

/// Reads the next row that is not blank into `row`; returns the line it
/// starts on, or `None` at the end of the input.
fn next_row<R: io::Read>(
    csv: &mut csv::Reader<Tracked<R>>,
    row: &mut csv::ByteRecord,
) -> Result<Option<u64>, csv::Error> {
    while csv.read_byte_record(row)? {
        // A blank `\r\n` line reads as one field holding `\r`.
        if row.len() == 1 && without_cr(row, 0).is_empty() {
            continue;
        }
        return Ok(Some(start_line(csv, row)));
    }
    Ok(None)
}

/// Field `i` without the `\r` of a `\r\n` line end (only the last field of
/// a row can carry it).
fn without_cr(row: &csv::ByteRecord, i: usize) -> &[u8] {
    let field = &row[i];
    if i + 1 == row.len() {
        field.strip_suffix(b"\r").unwrap_or(field)
    } else {
        field
    }
}

/// The 1-based line `row`, just read, starts on. The reader's line count
/// after the row includes the newlines inside quoted fields and the row's
/// own `\n` (absent only when the file ends without one); counting back
/// from there is exact even after skipped blank lines.
fn start_line<R: io::Read>(csv: &csv::Reader<Tracked<R>>, row: &csv::ByteRecord) -> u64 {
    let end_line = csv.position().line();
    let inside: u64 = row
        .iter()
        .map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64)
        .sum();
    let input = csv.get_ref();
    let unterminated =
        input.eof && csv.position().byte() == input.total && input.last != Some(b'\n');
    end_line
        .saturating_sub(inside)
        .saturating_sub(u64::from(!unterminated))
        .max(1)
}
