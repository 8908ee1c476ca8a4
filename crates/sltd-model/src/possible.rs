//! Possible matches: listed records that are not the document asked for but
//! may be, offered beside a NO HIT and never as a hit.
//!
//! Only an exact match is a hit: a false hit detains an innocent traveller.
//! But a number typed by hand or read by OCR with one confusable character,
//! or an issuing state misread or mistyped (no MRZ check digit covers the
//! state), turns a listed document into a silent NO HIT. So when a check has
//! no exact match, these rules name the records to show a person beside it:
//!
//! - **Confusable character**: the record's number is the query's with one
//!   character replaced by its OCR confusion partner, [`CONFUSABLE_PAIRS`]
//!   (`0`/`O`, `1`/`I`, `8`/`B`, `5`/`S`, `2`/`Z`, `6`/`G`, either way
//!   round); issuing state and type as the query's, when given.
//! - **Other issuing state**: the record has exactly the query's number (and
//!   type, when given) under another state; only when the query gave one.
//!
//! The wider classes of characters an MRZ check digit cannot tell apart
//! (`{0,A,K,U,<}`, `{1,B,L,V}`, ... : the characters of equal value modulo
//! 10) are not used for numbers. They are not visual confusions (nobody reads
//! `A` for `K`), they would triple the candidates per character, and a
//! number's check digit already exposes most single misreads; where it fails,
//! the candidates that make it right are ranked first. For the issuing
//! state, where those classes matter because no check digit covers it, the
//! other-state rule covers every misread, not only those classes.
//!
//! Work is bounded: one substitution per candidate, and each character has at
//! most one partner, so a query makes at most [`MAX_NUMBER_VARIANTS`] (30)
//! candidate numbers plus one number-only probe, all in one batched lookup.

use std::fmt;

use crate::mrz::{CheckDigitField, Mrz};
use crate::{DocumentNumber, IssuingState, MAX_NUMBER_LEN, Query, Record};

/// The character pairs OCR and hand typing confuse in document numbers; each
/// applies in both directions.
pub const CONFUSABLE_PAIRS: [(u8, u8); 6] = [
    (b'0', b'O'),
    (b'1', b'I'),
    (b'8', b'B'),
    (b'5', b'S'),
    (b'2', b'Z'),
    (b'6', b'G'),
];

/// The most candidate numbers one query makes: one per character of the
/// longest number, as no character has more than one partner. Enforced, not
/// only implied, so a change to the pairs cannot make the work grow.
pub const MAX_NUMBER_VARIANTS: usize = MAX_NUMBER_LEN;

/// The most lookups one query's possible matches take: the candidates plus
/// the number under any state.
pub const MAX_PROBES: usize = MAX_NUMBER_VARIANTS + 1;

/// The partner of `c` in [`CONFUSABLE_PAIRS`], if it has one.
#[inline]
pub fn confusable_partner(c: u8) -> Option<u8> {
    CONFUSABLE_PAIRS.iter().find_map(|&(a, b)| {
        if c == a {
            Some(b)
        } else if c == b {
            Some(a)
        } else {
            None
        }
    })
}

/// Each byte mapped to the first character of its confusion pair (`O` to
/// `0`, `I` to `1`, ...), every other byte to itself.
static CANONICAL: [u8; 256] = canonical_table();

const fn canonical_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    let mut p = 0;
    while p < CONFUSABLE_PAIRS.len() {
        let (a, b) = CONFUSABLE_PAIRS[p];
        t[b as usize] = a;
        p += 1;
    }
    t
}

/// The number with every confusable character replaced by the first of its
/// pair (`C01XO0T47` becomes `C01X00T47`). A record can be a possible match
/// of a query only if their numbers have the same canonical form (one
/// substitution apart, or equal), which lets a filter over the canonical
/// forms of a data set rule out most misses with one look.
pub fn canonical_form(number: &DocumentNumber) -> DocumentNumber {
    let bytes = number.as_bytes();
    let mut raw = [0u8; MAX_NUMBER_LEN];
    for (dst, &b) in raw.iter_mut().zip(bytes) {
        *dst = CANONICAL[usize::from(b)];
    }
    // Canonical characters are characters of the number's alphabet.
    DocumentNumber::from_normalised(&raw[..bytes.len()]).unwrap_or(*number)
}

/// A candidate number: the query's number with one character replaced by
/// its confusion partner.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NumberVariant {
    pub number: DocumentNumber,
    /// 0-based position of the replaced character.
    pub position: usize,
    /// The character in the query's number.
    pub query_char: u8,
    /// The character in the candidate.
    pub record_char: u8,
}

/// Every candidate number of `number`, by position, at most
/// [`MAX_NUMBER_VARIANTS`].
pub fn number_variants(number: &DocumentNumber) -> impl Iterator<Item = NumberVariant> + '_ {
    let bytes = number.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter_map(move |(position, &query_char)| {
            let record_char = confusable_partner(query_char)?;
            let mut raw = [0u8; MAX_NUMBER_LEN];
            raw[..bytes.len()].copy_from_slice(bytes);
            raw[position] = record_char;
            // The partner of a character of A-Z0-9 is in A-Z0-9.
            let number = DocumentNumber::from_normalised(&raw[..bytes.len()]).ok()?;
            Some(NumberVariant {
                number,
                position,
                query_char,
                record_char,
            })
        })
        .take(MAX_NUMBER_VARIANTS)
}

/// Why a record is offered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PossibleMatchReason {
    /// The record's number differs from the query's in one confusable
    /// character.
    ConfusableCharacter {
        /// 1-based position in the normalised number.
        position: usize,
        query_char: char,
        record_char: char,
        /// The query was an MRZ whose number check digit failed, and the
        /// record's number satisfies it.
        fixes_check_digit: bool,
    },
    /// The record has the query's number under another issuing state.
    OtherIssuingState { query_state: IssuingState },
}

/// A listed record that may be the document asked for. Never a hit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PossibleMatch {
    pub record: Record,
    pub reason: PossibleMatchReason,
}

impl PossibleMatch {
    /// Likeliest first: a candidate that fixes a failed check digit, then
    /// the same number under another state, then the other candidates by
    /// position; ties by record key, so answers are deterministic.
    fn rank(&self) -> (u8, usize, crate::DocumentKey) {
        let (class, position) = match self.reason {
            PossibleMatchReason::ConfusableCharacter {
                fixes_check_digit: true,
                position,
                ..
            } => (0, position),
            PossibleMatchReason::OtherIssuingState { .. } => (1, 0),
            PossibleMatchReason::ConfusableCharacter { position, .. } => (2, position),
        };
        (class, position, self.record.key)
    }
}

impl fmt::Display for PossibleMatch {
    /// The reason in words, for an officer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            PossibleMatchReason::ConfusableCharacter {
                position,
                query_char,
                record_char,
                fixes_check_digit,
            } => {
                write!(
                    f,
                    "position {position}: {query_char} in the query, {record_char} in the record"
                )?;
                if fixes_check_digit {
                    f.write_str("; this number makes the failed MRZ check digit right")?;
                }
                Ok(())
            }
            PossibleMatchReason::OtherIssuingState { query_state } => write!(
                f,
                "listed under {}, not {query_state}",
                self.record.key.state
            ),
        }
    }
}

/// The callback a batched lookup reports each record to, with the index of
/// the probe it answers.
pub type OnMatch<'a> = dyn FnMut(usize, Record) + 'a;

/// Finds the possible matches of `query`, which had no exact match, with
/// one batched lookup. `lookup_batch(probes, on_match)` must call
/// `on_match(i, record)` for every record answering `probes[i]`, as the
/// index's batched lookups do. `mrz` is the MRZ the query was read from, if
/// any, to rank candidates against its number check digit.
///
/// Nothing that answers `query` itself is ever returned.
pub fn possible_matches<E>(
    query: &Query,
    mrz: Option<&Mrz>,
    lookup_batch: impl FnOnce(&[Query], &mut OnMatch<'_>) -> Result<(), E>,
) -> Result<Vec<PossibleMatch>, E> {
    // On the stack: a miss with possible matches allocates nothing unless
    // it finds something.
    let mut probes = [*query; MAX_PROBES];
    let mut variants = [None::<NumberVariant>; MAX_PROBES];
    let mut n = 0;
    if query.state.is_some() {
        probes[0].state = None;
        n = 1;
    }
    for v in number_variants(&query.number) {
        probes[n].number = v.number;
        variants[n] = Some(v);
        n += 1;
    }
    let check_failed = mrz
        .and_then(|m| m.check_digit(CheckDigitField::DocumentNumber))
        .is_some_and(|cd| !cd.valid);
    let mut found = Vec::new();
    lookup_batch(&probes[..n], &mut |i, record| {
        // Defensive: only what the probe asked for, never the query's own
        // exact answer.
        if i >= n || query.matches(&record) {
            return;
        }
        let reason = match variants[i] {
            Some(v) => {
                if record.key.number != v.number {
                    return;
                }
                PossibleMatchReason::ConfusableCharacter {
                    position: v.position + 1,
                    query_char: char::from(v.query_char),
                    record_char: char::from(v.record_char),
                    fixes_check_digit: check_failed
                        && mrz.is_some_and(|m| m.number_check_digit_agrees(&v.number)),
                }
            }
            None => match query.state {
                Some(query_state) if record.key.number == query.number => {
                    PossibleMatchReason::OtherIssuingState { query_state }
                }
                _ => return,
            },
        };
        found.push(PossibleMatch { record, reason });
    })?;
    found.sort_by_key(PossibleMatch::rank);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Date, DocumentKey, DocumentType, Reference, Status};

    fn n(s: &str) -> DocumentNumber {
        DocumentNumber::normalise(s).unwrap()
    }

    #[test]
    fn partners_are_symmetric_and_stay_in_the_alphabet() {
        for &(a, b) in &CONFUSABLE_PAIRS {
            assert_eq!(confusable_partner(a), Some(b));
            assert_eq!(confusable_partner(b), Some(a));
            assert!(a.is_ascii_digit() && b.is_ascii_uppercase());
        }
        assert_eq!(confusable_partner(b'X'), None);
        assert_eq!(confusable_partner(b'<'), None);
    }

    #[test]
    fn canonical_form_joins_every_candidate() {
        assert_eq!(canonical_form(&n("C01XO0T47")).as_str(), "C01X00T47");
        assert_eq!(canonical_form(&n("OIBSZGX")).as_str(), "018526X");
        let q = n("B0O1I5S2Z6G8");
        for v in number_variants(&q) {
            assert_eq!(canonical_form(&v.number), canonical_form(&q), "{v:?}");
        }
    }

    #[test]
    fn variants_one_substitution_each() {
        let v: Vec<_> = number_variants(&n("C01X00T47")).collect();
        let numbers: Vec<_> = v.iter().map(|v| v.number.as_str().to_string()).collect();
        assert_eq!(
            numbers,
            ["CO1X00T47", "C0IX00T47", "C01XO0T47", "C01X0OT47"]
        );
        assert_eq!(v[1].position, 2);
        assert_eq!((v[1].query_char, v[1].record_char), (b'1', b'I'));
        assert_eq!(number_variants(&n("XXXX")).count(), 0);
        // The worst case is bounded by the cap.
        assert_eq!(number_variants(&n(&"0".repeat(30))).count(), 30);
    }

    fn record(state: &str, number: &str, ty: &str) -> Record {
        Record {
            key: DocumentKey::normalise(state, number).unwrap(),
            doc_type: DocumentType::normalise(ty).unwrap(),
            status: Status::Stolen,
            reported_on: Date::from_days(19_000),
            reporting_state: None,
            reference: Reference::EMPTY,
        }
    }

    /// Every probe answered from a list, as an index would.
    fn scan(records: &[Record]) -> impl FnOnce(&[Query], &mut OnMatch<'_>) -> Result<(), ()> + '_ {
        move |probes, on_match| {
            for (i, q) in probes.iter().enumerate() {
                for r in records.iter().filter(|r| q.matches(r)) {
                    on_match(i, *r);
                }
            }
            Ok(())
        }
    }

    #[test]
    fn ranks_and_explains() {
        let listed = [
            record("D", "C01X00T47", "P"),
            record("D", "C0IX00T47", "P"),
            record("FRA", "C01XOOT47", "P"),
            record("D", "C01X0OT47", "I"),
        ];
        let q = Query {
            number: n("C01XO0T47"),
            state: Some(IssuingState::normalise("D").unwrap()),
            doc_type: Some(DocumentType::normalise("P").unwrap()),
        };
        let found = possible_matches(&q, None, scan(&listed)).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|p| (p.record.key.to_string(), p.to_string()))
            .collect();
        assert_eq!(
            got,
            [(
                "D/C01X00T47".to_string(),
                "position 5: O in the query, 0 in the record".to_string()
            )]
        );
        // By number alone: any state, any type.
        let q = Query::number(n("C01XO0T47"));
        let found = possible_matches(&q, None, scan(&listed)).unwrap();
        let keys: Vec<_> = found.iter().map(|p| p.record.key.to_string()).collect();
        assert_eq!(keys, ["D/C01X00T47", "FRA/C01XOOT47"]);
        // Another state.
        let q = Query {
            number: n("C01XOOT47"),
            state: Some(IssuingState::normalise("F").unwrap()),
            doc_type: None,
        };
        let found = possible_matches(&q, None, scan(&listed)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string(), "listed under FRA, not F");
    }
}
