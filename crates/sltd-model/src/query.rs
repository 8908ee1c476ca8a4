//! What a check asks, and the rule for when a record answers it.

use crate::{DocumentNumber, DocumentType, IssuingState, Record};

/// An exact lookup: a normalised number, optionally narrowed by issuing state
/// and by document type (compared on its first letter).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Query {
    pub number: DocumentNumber,
    pub state: Option<IssuingState>,
    pub doc_type: Option<DocumentType>,
}

impl Query {
    /// A query by number alone: every state, every type.
    pub fn number(number: DocumentNumber) -> Self {
        Self {
            number,
            state: None,
            doc_type: None,
        }
    }

    /// Whether `record` answers this query. Only exact equality of the
    /// normalised number (and state, when given) counts.
    pub fn matches(&self, record: &Record) -> bool {
        record.key.number == self.number
            && self.state.is_none_or(|s| s == record.key.state)
            && self.doc_type.is_none_or(|t| t.matches(&record.doc_type))
    }
}
