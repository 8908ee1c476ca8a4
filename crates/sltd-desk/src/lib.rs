//! `sltd desk`: the front-end of a border desk with a passport reader.
//!
//! At a small border post nothing connects the reader to `sltdd`. This
//! crate does: it takes the MRZ text straight from the reader, typed into
//! the terminal by a keyboard-wedge reader or sent over a serial port,
//! groups it into whole MRZs ([`reader`]), checks each against the daemon
//! and shows the verdict full screen ([`run_tui`]), with every failed check
//! digit, the data set's age and freshness, and manual entry for a document
//! without an MRZ. [`ScanSource`] gives the same scans to programs without a
//! screen (`sltd desk --json-lines`).

#![forbid(unsafe_code)]

mod app;
mod input;
pub mod reader;
mod screen;
mod ui;

use std::fmt;

pub use app::{DeskOptions, run_tui};
pub use input::{ReaderEvent, ScanSource, SerialSettings};
pub use serialport::{DataBits, FlowControl, Parity, StopBits};

/// Why the desk cannot run.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeskError {
    /// The full-screen desk needs a terminal on standard input and output.
    NotATerminal,
    /// Drawing on, or reading from, the terminal failed.
    Terminal(std::io::Error),
    /// The serial port could not be opened.
    Serial {
        device: String,
        source: serialport::Error,
    },
}

impl fmt::Display for DeskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeskError::NotATerminal => f.write_str(
                "standard input and output must be a terminal; use --json-lines for scripts",
            ),
            DeskError::Terminal(e) => write!(f, "terminal: {e}"),
            DeskError::Serial { device, source } => {
                write!(f, "cannot open serial port {device}: {source}")
            }
        }
    }
}

impl std::error::Error for DeskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeskError::Terminal(e) => Some(e),
            DeskError::Serial { source, .. } => Some(source),
            DeskError::NotATerminal => None,
        }
    }
}
