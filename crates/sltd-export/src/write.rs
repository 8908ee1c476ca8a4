//! Writing an export in the schema the reader accepts, so that what one tool
//! writes every other tool reads back unchanged.

use std::fmt;
use std::io;

use sltd_model::{Date, DocumentKey, Record};

use crate::{HEADER, REPORTING_COUNTRY};

/// Why a record could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// Writing to the underlying stream failed.
    Io(io::Error),
    /// The record has a reporting state but the writer was built for the
    /// standard six columns, which have nowhere to put it.
    ReportingStateNotInSchema { key: DocumentKey },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "write error: {e}"),
            WriteError::ReportingStateNotInSchema { key } => write!(
                f,
                "record {key} has a reporting state, but the export was opened without \
                 the {REPORTING_COUNTRY} column"
            ),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Io(e) => Some(e),
            WriteError::ReportingStateNotInSchema { .. } => None,
        }
    }
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<csv::Error> for WriteError {
    fn from(e: csv::Error) -> Self {
        // The stream's own error, its kind intact (a reader that went away
        // is `BrokenPipe`, not "other").
        if !e.is_io_error() {
            return WriteError::Io(e.into());
        }
        match e.into_kind() {
            csv::ErrorKind::Io(io) => WriteError::Io(io),
            other => WriteError::Io(io::Error::other(format!("{other:?}"))),
        }
    }
}

/// Writes the header, then one line per record (`\n` line ends, quoting only
/// where a field needs it). Output is buffered; call [`ExportWriter::finish`]
/// to flush and get the inner writer back.
#[derive(Debug)]
pub struct ExportWriter<W: io::Write> {
    csv: csv::Writer<W>,
    reporting_country: bool,
}

impl<W: io::Write> ExportWriter<W> {
    /// A writer for the standard six columns.
    pub fn new(output: W) -> Result<Self, WriteError> {
        Self::build(output, false)
    }

    /// A writer that adds the optional `reporting_country` column.
    pub fn with_reporting_country(output: W) -> Result<Self, WriteError> {
        Self::build(output, true)
    }

    fn build(output: W, reporting_country: bool) -> Result<Self, WriteError> {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_writer(output);
        for name in HEADER {
            csv.write_field(name)?;
        }
        if reporting_country {
            csv.write_field(REPORTING_COUNTRY)?;
        }
        csv.write_record(None::<&[u8]>)?;
        Ok(Self {
            csv,
            reporting_country,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &Record) -> Result<(), WriteError> {
        if record.reporting_state.is_some() && !self.reporting_country {
            return Err(WriteError::ReportingStateNotInSchema { key: record.key });
        }
        let date = iso_date(record.reported_on);
        let csv = &mut self.csv;
        csv.write_field(record.key.state.as_bytes())?;
        csv.write_field(record.doc_type.as_bytes())?;
        csv.write_field(record.key.number.as_bytes())?;
        csv.write_field(record.status.as_str())?;
        csv.write_field(date)?;
        csv.write_field(record.reference.as_bytes())?;
        if self.reporting_country {
            let rs = record.reporting_state;
            csv.write_field(rs.as_ref().map_or(&b""[..], |s| s.as_bytes()))?;
        }
        csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.csv.flush()?;
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, WriteError> {
        self.csv
            .into_inner()
            .map_err(|e| WriteError::Io(e.into_error()))
    }
}

/// `YYYY-MM-DD` without going through `fmt`, which matters when writing
/// millions of records.
fn iso_date(date: Date) -> [u8; 10] {
    let (y, m, d) = date.ymd();
    let y = y as u32;
    let digit = |v: u32| b'0' + (v % 10) as u8;
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(d / 10),
        digit(d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_date_matches_display() {
        for days in [0u16, 1, 59, 365, 10_000, 16_801, 20_000, u16::MAX] {
            let d = Date::from_days(days);
            assert_eq!(iso_date(d).as_slice(), d.to_string().as_bytes());
        }
    }
}
