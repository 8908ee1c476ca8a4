//! Errors for values that do not satisfy the model's rules. Each variant says
//! what was wrong in words an operator can act on.

use std::fmt;

/// A value that is not a valid document number, state, type, status, date or
/// reference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The document number is empty once spaces, hyphens and `<` fillers are
    /// removed.
    EmptyNumber,
    /// The document number is longer than [`crate::MAX_NUMBER_LEN`] characters.
    NumberTooLong { len: usize },
    /// The document number has a character outside `A-Z0-9` (after the
    /// separators have been removed).
    InvalidNumberChar { ch: char },
    /// The issuing state is empty once `<` fillers are removed.
    EmptyState,
    /// The issuing state is longer than three letters.
    StateTooLong { len: usize },
    /// The issuing state has a character other than a letter.
    InvalidStateChar { ch: char },
    /// The issuing state is not an ICAO 9303 code and no record of the data
    /// set carries it, so it would match nothing; `suggestion` is the code
    /// meant when the text names a state or is its ISO 3166-1 code.
    UnknownState {
        given: String,
        suggestion: Option<&'static crate::state_codes::StateCode>,
    },
    /// The document type is empty.
    EmptyType,
    /// The document type is longer than two characters.
    TypeTooLong { len: usize },
    /// The document type has a character other than a letter.
    InvalidTypeChar { ch: char },
    /// The status is not one of the five known statuses.
    UnknownStatus { value: String },
    /// The date is not a valid `YYYY-MM-DD` calendar date.
    InvalidDate { value: String },
    /// The date is valid but outside the supported range.
    DateOutOfRange { value: String },
    /// The reference is longer than [`crate::MAX_REFERENCE_LEN`] bytes.
    ReferenceTooLong { len: usize },
    /// The reference contains a control character.
    InvalidReferenceChar,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ModelError::*;
        match self {
            EmptyNumber => write!(f, "document number is empty"),
            NumberTooLong { len } => write!(
                f,
                "document number has {len} characters; at most {} are allowed",
                crate::MAX_NUMBER_LEN
            ),
            InvalidNumberChar { ch } => write!(
                f,
                "document number contains {ch:?}; only letters A-Z, digits 0-9, spaces, hyphens and '<' are allowed"
            ),
            EmptyState => write!(f, "issuing state is empty"),
            StateTooLong { len } => write!(
                f,
                "issuing state has {len} letters; an ICAO code has at most 3 (e.g. D, FRA, UTO)"
            ),
            InvalidStateChar { ch } => write!(
                f,
                "issuing state contains {ch:?}; an ICAO code has only letters A-Z, padded with '<'"
            ),
            UnknownState {
                given,
                suggestion: Some(code),
            } => write!(
                f,
                "{given:?} is not an ICAO 9303 issuing state code; did you mean {code}?"
            ),
            UnknownState {
                given,
                suggestion: None,
            } => write!(
                f,
                "{given:?} is not an ICAO 9303 issuing state code and no record in the data set carries it; give the ICAO code (e.g. D for Germany, FRA, GBR, UTO)"
            ),
            EmptyType => write!(f, "document type is empty"),
            TypeTooLong { len } => write!(
                f,
                "document type has {len} characters; at most 2 are allowed (e.g. P, PP, ID, V)"
            ),
            InvalidTypeChar { ch } => write!(
                f,
                "document type contains {ch:?}; only letters A-Z are allowed (e.g. P, PP, ID, V)"
            ),
            UnknownStatus { value } => write!(
                f,
                "unknown status {value:?}; expected one of stolen, lost, revoked, invalidated, stolen_blank"
            ),
            InvalidDate { value } => {
                write!(
                    f,
                    "invalid date {value:?}; expected a calendar date as YYYY-MM-DD"
                )
            }
            DateOutOfRange { value } => write!(
                f,
                "date {value} is outside the supported range {} to {}",
                crate::Date::MIN,
                crate::Date::MAX
            ),
            ReferenceTooLong { len } => write!(
                f,
                "reference is {len} bytes long; at most {} are allowed",
                crate::MAX_REFERENCE_LEN
            ),
            InvalidReferenceChar => write!(f, "reference contains a control character"),
        }
    }
}

impl std::error::Error for ModelError {}
