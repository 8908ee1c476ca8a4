//! The document model shared by every part of sltd: what a stolen or lost
//! travel document record is, how document numbers and issuing states are
//! normalised, when a record matches a query, and how the machine readable
//! zone (MRZ) of a travel document is read.
//!
//! This crate does no I/O. Every rule that decides whether two documents are
//! the same lives here, once, and everything else calls it.

#![forbid(unsafe_code)]

mod error;
mod key;
pub mod mrz;
pub mod possible;
mod query;
mod record;
pub mod state_codes;
mod text;
pub mod time;

pub use error::ModelError;
pub use key::{
    DocumentKey, DocumentNumber, DocumentType, IssuingState, MAX_NUMBER_LEN, MAX_STATE_LEN,
    MAX_TYPE_LEN,
};
pub use query::Query;
pub use record::{Date, MAX_REFERENCE_LEN, Record, Reference, Status};
pub use text::{MAX_LOGGED_TEXT, printable};
pub use time::{format_span, format_unix, now_unix};
