//! Reading the machine readable zone (MRZ) of a travel document, ICAO Doc 9303.
//!
//! A document reader delivers the MRZ as text; a border check needs the
//! issuing state, the document number and the document type from it, and must
//! know whether the check digits agree. A failed check digit is reported, not
//! fatal: the lookup still runs on the number as read, because a stolen
//! document with a misprinted or tampered check digit must still be found.
//!
//! Supported layouts: TD1 (3 x 30), TD2 (2 x 36), TD3 (2 x 44), MRV-A (2 x 44,
//! visa) and MRV-B (2 x 36, visa), including the long document number rule of
//! TD1 and TD2 (a number longer than nine characters continues in the
//! optional data field).

use std::fmt;
use std::str::FromStr;

use crate::{DocumentNumber, DocumentType, IssuingState, ModelError, Query};

/// The layout of a machine readable zone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MrzFormat {
    /// ID card size: 3 lines of 30 characters.
    Td1,
    /// 2 lines of 36 characters (official travel documents).
    Td2,
    /// Passport: 2 lines of 44 characters.
    Td3,
    /// Visa on a passport-sized page: 2 lines of 44 characters.
    MrvA,
    /// Smaller visa: 2 lines of 36 characters.
    MrvB,
}

impl MrzFormat {
    /// The name ICAO uses (`TD1`, `MRV-A`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MrzFormat::Td1 => "TD1",
            MrzFormat::Td2 => "TD2",
            MrzFormat::Td3 => "TD3",
            MrzFormat::MrvA => "MRV-A",
            MrzFormat::MrvB => "MRV-B",
        }
    }

    /// Number of lines.
    pub fn line_count(self) -> usize {
        match self {
            MrzFormat::Td1 => 3,
            _ => 2,
        }
    }

    /// Characters per line.
    pub fn line_len(self) -> usize {
        match self {
            MrzFormat::Td1 => 30,
            MrzFormat::Td2 | MrzFormat::MrvB => 36,
            MrzFormat::Td3 | MrzFormat::MrvA => 44,
        }
    }

    /// Whether the format is a visa (no composite check digit).
    pub fn is_visa(self) -> bool {
        matches!(self, MrzFormat::MrvA | MrzFormat::MrvB)
    }
}

impl fmt::Display for MrzFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a check digit covers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CheckDigitField {
    DocumentNumber,
    BirthDate,
    ExpiryDate,
    /// The optional data of line 2 (TD3 only).
    OptionalData,
    /// The composite check digit over most of the MRZ (not on visas).
    Composite,
}

impl CheckDigitField {
    /// The name used in answers (`document_number`, `birth_date`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckDigitField::DocumentNumber => "document_number",
            CheckDigitField::BirthDate => "birth_date",
            CheckDigitField::ExpiryDate => "expiry_date",
            CheckDigitField::OptionalData => "optional_data",
            CheckDigitField::Composite => "composite",
        }
    }
}

impl fmt::Display for CheckDigitField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check digit: the value computed from the data, the character found in
/// the MRZ, and whether they agree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CheckDigit {
    pub field: CheckDigitField,
    /// The digit computed over the covered characters (`'0'..='9'`).
    pub expected: char,
    /// The character at the check digit position.
    pub found: char,
    pub valid: bool,
}

/// The fields of a machine readable zone. Raw fields are the characters as
/// read, fillers (`<`) included.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Mrz {
    pub format: MrzFormat,
    /// The two-character document code as read (`P<`, `PD`, `I<`, `V<`).
    pub document_code: String,
    /// The type used for matching: the first letter of the document code.
    pub document_type: DocumentType,
    /// The issuing state as read (`UTO`, `D<<`).
    pub issuing_state_raw: String,
    /// The issuing state without fillers (`D<<` is `D`).
    pub issuing_state: IssuingState,
    /// The characters of the document number as read, fillers included; for
    /// a long number, the nine characters of the number field followed by the
    /// continuation from the optional data (without its check digit).
    pub document_number_raw: String,
    /// The normalised document number, what a lookup uses.
    pub document_number: DocumentNumber,
    /// Whether the number used the TD1/TD2 long-number rule.
    pub long_number: bool,
    /// Nationality as read (`UTO`, `D<<`).
    pub nationality: String,
    /// Date of birth as read, `YYMMDD` (may contain `<` when unknown).
    pub birth_date: String,
    /// Sex as read: `M`, `F`, `X` or `<`.
    pub sex: char,
    /// Date of expiry as read, `YYMMDD`.
    pub expiry_date: String,
    /// The optional data field as read: line 2 for TD2, TD3 and visas, line 1
    /// positions 16-30 for TD1. For a long number it holds the continuation
    /// of the number and its check digit first.
    pub optional_data: String,
    /// TD1 only: the second optional data field (line 2, positions 19-29).
    pub optional_data_2: Option<String>,
    /// Primary identifier (surname), fillers turned into spaces.
    pub primary_identifier: String,
    /// Secondary identifier (given names), fillers turned into spaces.
    pub secondary_identifier: String,
    /// Every check digit of the format, in the order they appear.
    pub check_digits: Vec<CheckDigit>,
    /// Whether the text had lower-case letters, read as upper case.
    pub upper_cased: bool,
}

impl Mrz {
    /// Parses MRZ text: the lines separated by line breaks (or any white
    /// space), or concatenated into one string. Surrounding white space is
    /// ignored.
    ///
    /// Lower-case ASCII letters are read as upper case and
    /// [`upper_cased`](Mrz::upper_cased) is set: a document reader never
    /// produces them, but MRZ text pasted from a document or typed by hand
    /// may have them.
    pub fn parse(text: &str) -> Result<Mrz, MrzError> {
        parse(text)
    }

    /// Whether every check digit agrees with its data.
    pub fn all_check_digits_valid(&self) -> bool {
        self.check_digits.iter().all(|c| c.valid)
    }

    /// The check digit covering `field`, if the format has one.
    pub fn check_digit(&self, field: CheckDigitField) -> Option<&CheckDigit> {
        self.check_digits.iter().find(|c| c.field == field)
    }

    /// Whether the document number check digit of this MRZ agrees with
    /// `number` in place of the number read: the characters read are
    /// replaced one for one, fillers kept where they were. False when
    /// `number` has another length. Possible matches use it to rank the
    /// candidates that would make a failed check digit right.
    pub fn number_check_digit_agrees(&self, number: &DocumentNumber) -> bool {
        let Some(cd) = self.check_digit(CheckDigitField::DocumentNumber) else {
            return false;
        };
        let mut candidate = number.as_bytes().iter();
        let mut raw = Vec::with_capacity(self.document_number_raw.len());
        for b in self.document_number_raw.bytes() {
            if b == b'<' {
                raw.push(b);
            } else if let Some(&c) = candidate.next() {
                raw.push(c);
            } else {
                return false;
            }
        }
        if candidate.next().is_some() {
            return false;
        }
        check_digit_parts(&[&raw]).is_some_and(|d| char::from(d) == cd.found)
    }

    /// The exact lookup this document asks for: its number, issuing state
    /// and type.
    pub fn query(&self) -> Query {
        Query {
            number: self.document_number,
            state: Some(self.issuing_state),
            doc_type: Some(self.document_type),
        }
    }
}

impl FromStr for Mrz {
    type Err = MrzError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Why text could not be read as an MRZ.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum MrzError {
    /// Nothing but white space.
    Empty,
    /// A character outside `A-Z`, `0-9` and `<` (lower-case `a-z` are read
    /// as upper case). Positions are 1-based within the line as given.
    InvalidChar {
        line: usize,
        position: usize,
        ch: char,
    },
    /// The text is longer than any MRZ could be ([`MAX_MRZ_TEXT`]); refused
    /// before it is read.
    TooLong { bytes: usize },
    /// The line count or line lengths match no MRZ format.
    WrongShape { line_lengths: Vec<usize> },
    /// The document code does not fit the format found from the lengths.
    UnknownDocumentCode { code: String, line_len: usize },
    /// The issuing state field is not an ICAO code.
    InvalidIssuingState { found: String, source: ModelError },
    /// The document number field gives no usable number.
    InvalidDocumentNumber { found: String, source: ModelError },
}

/// The longest MRZ text read, in bytes: the largest MRZ (3 x 30 or
/// 2 x 44 characters) with generous white space around and between its
/// lines. Anything longer is refused before a character is looked at.
pub const MAX_MRZ_TEXT: usize = 256;

/// Line lengths named in a [`MrzError::WrongShape`] message; the count
/// says how many more there were.
const SHOWN_LINE_LENGTHS: usize = 4;

const EXPECTED_SHAPES: &str = "expected 3 lines of 30 characters (TD1), 2 lines of 36 (TD2, MRV-B) \
     or 2 lines of 44 (TD3, MRV-A), or the same lines concatenated \
     (90, 72 or 88 characters)";

impl fmt::Display for MrzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MrzError::Empty => write!(f, "MRZ text is empty; {EXPECTED_SHAPES}"),
            MrzError::InvalidChar { line, position, ch } => write!(
                f,
                "MRZ text may contain only A-Z, 0-9 and '<': found {ch:?} at line {line}, position {position}"
            ),
            MrzError::TooLong { bytes } => write!(
                f,
                "MRZ text is {bytes} bytes long; at most {MAX_MRZ_TEXT} are read ({EXPECTED_SHAPES})"
            ),
            MrzError::WrongShape { line_lengths } => {
                let mut lens: Vec<String> = line_lengths
                    .iter()
                    .take(SHOWN_LINE_LENGTHS)
                    .map(ToString::to_string)
                    .collect();
                let n = line_lengths.len();
                if n > SHOWN_LINE_LENGTHS {
                    lens.push("...".into());
                }
                write!(
                    f,
                    "MRZ has {n} line{} of {} characters; {EXPECTED_SHAPES}",
                    if n == 1 { "" } else { "s" },
                    lens.join(", ")
                )
            }
            MrzError::UnknownDocumentCode { code, line_len } => {
                let hint = match line_len {
                    30 => "a TD1 MRZ (3 x 30) starts with I, A or C",
                    36 => "a 2 x 36 MRZ starts with I, A or C (TD2) or V (MRV-B visa)",
                    _ => "a 2 x 44 MRZ starts with P (TD3 passport) or V (MRV-A visa)",
                };
                write!(f, "unknown document code {code:?}; {hint}")
            }
            MrzError::InvalidIssuingState { found, source } => write!(
                f,
                "issuing state {found:?} in the MRZ is not usable: {source}"
            ),
            MrzError::InvalidDocumentNumber { found, source } => write!(
                f,
                "document number {found:?} in the MRZ is not usable: {source}"
            ),
        }
    }
}

impl std::error::Error for MrzError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MrzError::InvalidIssuingState { source, .. }
            | MrzError::InvalidDocumentNumber { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The value of one MRZ character in check digit arithmetic.
fn char_value(b: u8) -> Option<u32> {
    match b {
        b'<' => Some(0),
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        _ => None,
    }
}

/// Check digit over several pieces, the weights continuing across them.
fn check_digit_parts(parts: &[&[u8]]) -> Option<u8> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    let mut i = 0usize;
    for part in parts {
        for &b in *part {
            sum += char_value(b)? * WEIGHTS[i % 3];
            i += 1;
        }
    }
    Some(b'0' + (sum % 10) as u8)
}

/// The ICAO 9303 check digit of `data`: `<` counts 0, digits their value,
/// `A`..`Z` 10..35, weights 7, 3, 1 repeating, sum mod 10. `None` when `data`
/// has a character outside `A-Z0-9<`.
pub fn check_digit(data: &str) -> Option<char> {
    check_digit_parts(&[data.as_bytes()]).map(char::from)
}

/// Reads MRZ text; see [`Mrz::parse`].
pub fn parse(text: &str) -> Result<Mrz, MrzError> {
    if text.len() > MAX_MRZ_TEXT {
        return Err(MrzError::TooLong { bytes: text.len() });
    }
    let upper_cased = text.bytes().any(|b| b.is_ascii_lowercase());
    let upper;
    let text = if upper_cased {
        upper = text.to_ascii_uppercase();
        upper.as_str()
    } else {
        text
    };
    let lines: Vec<&str> = text.split_whitespace().collect();
    if lines.is_empty() {
        return Err(MrzError::Empty);
    }
    for (li, line) in lines.iter().enumerate() {
        for (pi, ch) in line.chars().enumerate() {
            let (line, position) = (li + 1, pi + 1);
            if !(ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '<') {
                return Err(MrzError::InvalidChar { line, position, ch });
            }
        }
    }
    // Every character is now ASCII, so byte length is character count and
    // slicing by byte offsets is safe.
    let wrong_shape = || MrzError::WrongShape {
        line_lengths: lines.iter().map(|l| l.len()).collect(),
    };
    let line_len = match lines.as_slice() {
        [one] => match one.len() {
            90 => 30,
            72 => 36,
            88 => 44,
            _ => return Err(wrong_shape()),
        },
        [a, b] if a.len() == b.len() && (a.len() == 36 || a.len() == 44) => a.len(),
        [a, b, c] if a.len() == 30 && b.len() == 30 && c.len() == 30 => 30,
        _ => return Err(wrong_shape()),
    };
    let joined: Vec<u8> = lines.concat().into_bytes();
    let rows: Vec<&[u8]> = joined.chunks(line_len).collect();

    let code = &rows[0][0..2];
    let second_ok = code[1] == b'<' || code[1].is_ascii_uppercase();
    let format = match (line_len, code[0]) {
        _ if !second_ok => None,
        (30, b'I' | b'A' | b'C') => Some(MrzFormat::Td1),
        (36, b'I' | b'A' | b'C') => Some(MrzFormat::Td2),
        (36, b'V') => Some(MrzFormat::MrvB),
        (44, b'P') => Some(MrzFormat::Td3),
        (44, b'V') => Some(MrzFormat::MrvA),
        _ => None,
    };
    let Some(format) = format else {
        return Err(MrzError::UnknownDocumentCode {
            code: text_of(code),
            line_len,
        });
    };
    let mut mrz = match format {
        MrzFormat::Td1 => parse_td1(rows[0], rows[1], rows[2]),
        _ => parse_two_line(format, rows[0], rows[1]),
    }?;
    mrz.upper_cased = upper_cased;
    Ok(mrz)
}

fn text_of(bytes: &[u8]) -> String {
    // Only validated ASCII reaches here.
    String::from_utf8_lossy(bytes).into_owned()
}

/// Surname and given names from a name field: `<<` separates them, single
/// `<` separate words.
fn names(field: &[u8]) -> (String, String) {
    let text = text_of(field);
    let (primary, secondary) = text.split_once("<<").unwrap_or((text.as_str(), ""));
    let clean = |s: &str| {
        s.split('<')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (clean(primary), clean(secondary))
}

fn check(field: CheckDigitField, parts: &[&[u8]], found: u8) -> CheckDigit {
    // Callers pass validated MRZ characters only, so the digit always exists.
    let expected = check_digit_parts(parts).unwrap_or(b'0');
    CheckDigit {
        field,
        expected: char::from(expected),
        found: char::from(found),
        valid: expected == found,
    }
}

/// The document number of a TD1 or TD2 MRZ, following the long-number rule:
/// when the check digit position holds `<`, the number continues in the
/// optional data up to the first `<`, whose last character is the check
/// digit over the whole number. Returns the raw number, whether it was long,
/// and its check digit.
fn number_with_long_rule(field: &[u8], cd: u8, optional: &[u8]) -> (Vec<u8>, bool, CheckDigit) {
    if cd == b'<' {
        let end = optional
            .iter()
            .position(|&b| b == b'<')
            .unwrap_or(optional.len());
        let segment = &optional[..end];
        if let Some((&digit, rest)) = segment.split_last() {
            // A single character before the filler is read as the check digit
            // of the nine-character number (no continuation).
            let mut raw = field.to_vec();
            raw.extend_from_slice(rest);
            let cd = check(CheckDigitField::DocumentNumber, &[&raw], digit);
            return (raw, !rest.is_empty(), cd);
        }
    }
    (
        field.to_vec(),
        false,
        check(CheckDigitField::DocumentNumber, &[field], cd),
    )
}

struct Common {
    state_raw: String,
    state: IssuingState,
    number_raw: String,
    number: DocumentNumber,
    doc_type: DocumentType,
}

fn common(code: &[u8], state: &[u8], number_raw: &[u8]) -> Result<Common, MrzError> {
    let state_raw = text_of(state);
    let issuing_state =
        IssuingState::normalise(&state_raw).map_err(|source| MrzError::InvalidIssuingState {
            found: state_raw.clone(),
            source,
        })?;
    let number_raw = text_of(number_raw);
    let number = DocumentNumber::normalise(&number_raw).map_err(|source| {
        MrzError::InvalidDocumentNumber {
            found: number_raw.clone(),
            source,
        }
    })?;
    // The format check already made the first character a letter.
    let doc_type = DocumentType::normalise(&text_of(&code[..1])).map_err(|_| {
        MrzError::UnknownDocumentCode {
            code: text_of(code),
            line_len: 0,
        }
    })?;
    Ok(Common {
        state_raw,
        state: issuing_state,
        number_raw,
        number,
        doc_type,
    })
}

fn parse_td1(l1: &[u8], l2: &[u8], l3: &[u8]) -> Result<Mrz, MrzError> {
    let optional = &l1[15..30];
    let (number_raw, long_number, number_cd) = number_with_long_rule(&l1[5..14], l1[14], optional);
    let c = common(&l1[0..2], &l1[2..5], &number_raw)?;
    let (primary, secondary) = names(l3);
    let check_digits = vec![
        number_cd,
        check(CheckDigitField::BirthDate, &[&l2[0..6]], l2[6]),
        check(CheckDigitField::ExpiryDate, &[&l2[8..14]], l2[14]),
        check(
            CheckDigitField::Composite,
            &[&l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]],
            l2[29],
        ),
    ];
    Ok(Mrz {
        format: MrzFormat::Td1,
        document_code: text_of(&l1[0..2]),
        document_type: c.doc_type,
        issuing_state_raw: c.state_raw,
        issuing_state: c.state,
        document_number_raw: c.number_raw,
        document_number: c.number,
        long_number,
        nationality: text_of(&l2[15..18]),
        birth_date: text_of(&l2[0..6]),
        sex: char::from(l2[7]),
        expiry_date: text_of(&l2[8..14]),
        optional_data: text_of(optional),
        optional_data_2: Some(text_of(&l2[18..29])),
        primary_identifier: primary,
        secondary_identifier: secondary,
        check_digits,
        upper_cased: false,
    })
}

/// TD2, TD3, MRV-A and MRV-B share the layout of line 2 up to position 28.
fn parse_two_line(format: MrzFormat, l1: &[u8], l2: &[u8]) -> Result<Mrz, MrzError> {
    let len = l2.len();
    // Optional data runs to the end of the line, minus the optional-data
    // check digit (TD3) and the composite check digit (TD2, TD3).
    let optional_end = match format {
        MrzFormat::Td3 => len - 2,
        MrzFormat::Td2 => len - 1,
        _ => len,
    };
    let optional = &l2[28..optional_end];
    let (number_raw, long_number, number_cd) = if format == MrzFormat::Td2 {
        number_with_long_rule(&l2[0..9], l2[9], optional)
    } else {
        (
            l2[0..9].to_vec(),
            false,
            check(CheckDigitField::DocumentNumber, &[&l2[0..9]], l2[9]),
        )
    };
    let c = common(&l1[0..2], &l1[2..5], &number_raw)?;
    let (primary, secondary) = names(&l1[5..]);
    let mut check_digits = vec![
        number_cd,
        check(CheckDigitField::BirthDate, &[&l2[13..19]], l2[19]),
        check(CheckDigitField::ExpiryDate, &[&l2[21..27]], l2[27]),
    ];
    if format == MrzFormat::Td3 {
        let mut cd = check(CheckDigitField::OptionalData, &[optional], l2[42]);
        // ICAO allows a filler instead of the digit when there is no data.
        if cd.found == '<' && optional.iter().all(|&b| b == b'<') {
            cd.valid = true;
        }
        check_digits.push(cd);
    }
    if !format.is_visa() {
        check_digits.push(check(
            CheckDigitField::Composite,
            &[&l2[0..10], &l2[13..20], &l2[21..len - 1]],
            l2[len - 1],
        ));
    }
    Ok(Mrz {
        format,
        document_code: text_of(&l1[0..2]),
        document_type: c.doc_type,
        issuing_state_raw: c.state_raw,
        issuing_state: c.state,
        document_number_raw: c.number_raw,
        document_number: c.number,
        long_number,
        nationality: text_of(&l2[10..13]),
        birth_date: text_of(&l2[13..19]),
        sex: char::from(l2[20]),
        expiry_date: text_of(&l2[21..27]),
        optional_data: text_of(optional),
        optional_data_2: None,
        primary_identifier: primary,
        secondary_identifier: secondary,
        check_digits,
        upper_cased: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];
    const TD2: [&str; 2] = [
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "D231458907UTO7408122F1204159<<<<<<<6",
    ];
    const MRV_A: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
    ];
    const MRV_B: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "L8988901C4XXX4009078F9612109<<<<<<<<",
    ];
    const OLD_TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C<3UTO6908061F9406236ZE184226B<<<<<14",
    ];

    fn names_of(m: &Mrz) -> Vec<&'static str> {
        m.check_digits.iter().map(|c| c.field.as_str()).collect()
    }

    fn assert_specimen(lines: &[&str], format: MrzFormat, number: &str, code: &str) -> Mrz {
        let m = parse(&lines.join("\n")).unwrap();
        assert_eq!(m.format, format);
        assert_eq!(m.document_number.as_str(), number);
        assert_eq!(m.document_code, code);
        assert_eq!(m.issuing_state.as_str(), "UTO");
        assert_eq!(m.issuing_state_raw, "UTO");
        assert_eq!(m.primary_identifier, "ERIKSSON");
        assert_eq!(m.secondary_identifier, "ANNA MARIA");
        assert!(m.all_check_digits_valid(), "{:?}", m.check_digits);
        assert!(!m.long_number);
        // Every presentation of the same lines gives the same answer.
        for text in [
            lines.concat(),
            lines.join("\r\n"),
            format!("  \r\n {}\r\n\t", lines.join(" \r\n  ")),
            format!("{}\n", lines.join("\n\n")),
        ] {
            assert_eq!(parse(&text).unwrap(), m, "{text:?}");
        }
        m
    }

    #[test]
    fn check_digit_values() {
        assert_eq!(check_digit("L898902C3"), Some('6'));
        assert_eq!(check_digit("740812"), Some('2'));
        assert_eq!(check_digit("<<<<<<"), Some('0'));
        assert_eq!(check_digit(""), Some('0'));
        assert_eq!(check_digit("l8"), None);
    }

    #[test]
    fn td3_specimen() {
        let m = assert_specimen(&TD3, MrzFormat::Td3, "L898902C3", "P<");
        assert_eq!(m.document_type.as_str(), "P");
        assert_eq!(m.nationality, "UTO");
        assert_eq!(m.birth_date, "740812");
        assert_eq!(m.sex, 'F');
        assert_eq!(m.expiry_date, "120415");
        assert_eq!(m.optional_data, "ZE184226B<<<<<");
        assert_eq!(m.optional_data_2, None);
        assert_eq!(
            names_of(&m),
            [
                "document_number",
                "birth_date",
                "expiry_date",
                "optional_data",
                "composite"
            ]
        );
        let q = m.query();
        assert_eq!(q.number.as_str(), "L898902C3");
        assert_eq!(q.state.unwrap().as_str(), "UTO");
    }

    #[test]
    fn td1_specimen() {
        let m = assert_specimen(&TD1, MrzFormat::Td1, "D23145890", "I<");
        assert_eq!(m.document_type.as_str(), "I");
        assert_eq!(m.nationality, "UTO");
        assert_eq!(m.birth_date, "740812");
        assert_eq!(m.expiry_date, "120415");
        assert_eq!(m.sex, 'F');
        assert_eq!(m.optional_data_2.as_deref(), Some("<<<<<<<<<<<"));
        assert_eq!(
            names_of(&m),
            ["document_number", "birth_date", "expiry_date", "composite"]
        );
    }

    #[test]
    fn td2_specimen() {
        let m = assert_specimen(&TD2, MrzFormat::Td2, "D23145890", "I<");
        assert_eq!(m.birth_date, "740812");
        assert_eq!(m.optional_data, "<<<<<<<");
        assert_eq!(
            names_of(&m),
            ["document_number", "birth_date", "expiry_date", "composite"]
        );
    }

    #[test]
    fn visa_specimens() {
        let a = assert_specimen(&MRV_A, MrzFormat::MrvA, "L8988901C", "V<");
        assert_eq!(a.document_type.as_str(), "V");
        assert_eq!(a.nationality, "XXX");
        assert_eq!(a.birth_date, "400907");
        assert_eq!(a.sex, 'F');
        assert_eq!(a.expiry_date, "961210");
        assert_eq!(a.optional_data, "6ZE184226B<<<<<<");
        assert_eq!(
            names_of(&a),
            ["document_number", "birth_date", "expiry_date"]
        );
        let b = assert_specimen(&MRV_B, MrzFormat::MrvB, "L8988901C", "V<");
        assert_eq!(
            names_of(&b),
            ["document_number", "birth_date", "expiry_date"]
        );
        assert_eq!(b.optional_data, "<<<<<<<<");
    }

    #[test]
    fn older_td3_with_short_number() {
        let m = assert_specimen(&OLD_TD3, MrzFormat::Td3, "L898902C", "P<");
        assert_eq!(m.document_number_raw, "L898902C<");
        assert_eq!(m.birth_date, "690806");
        assert_eq!(m.expiry_date, "940623");
    }

    #[test]
    fn issuing_state_with_fillers_and_diplomatic_code() {
        let l1 = TD3[0].replacen("P<UTO", "PDD<<", 1);
        let m = parse(&format!("{l1}\n{}", TD3[1])).unwrap();
        assert_eq!(m.document_code, "PD");
        assert_eq!(m.document_type.as_str(), "P");
        assert_eq!(m.issuing_state_raw, "D<<");
        assert_eq!(m.issuing_state.as_str(), "D");
        assert!(m.all_check_digits_valid());
    }

    /// A TD1 whose number is `number` (longer than nine characters), every
    /// check digit computed here.
    fn long_td1(number: &str) -> String {
        let cd = check_digit(number).unwrap();
        let optional = format!("{}{cd}<", &number[9..]);
        let optional = format!("{optional:<<15}");
        let l1 = format!("I<UTO{}<{optional}", &number[..9]);
        let l2_head = "7408122F1204159UTO";
        let l2_opt = "<<<<<<<<<<<";
        let composite = check_digit(&format!(
            "{}{}{}{}",
            &l1[5..30],
            &l2_head[0..7],
            &l2_head[8..15],
            l2_opt
        ))
        .unwrap();
        let l2 = format!("{l2_head}{l2_opt}{composite}");
        format!("{l1}\n{l2}\n{}", TD1[2])
    }

    #[test]
    fn td1_long_number() {
        let text = long_td1("D23145890123");
        let m = parse(&text).unwrap();
        assert_eq!(m.format, MrzFormat::Td1);
        assert!(m.long_number);
        assert_eq!(m.document_number.as_str(), "D23145890123");
        assert_eq!(m.document_number_raw, "D23145890123");
        assert!(m.all_check_digits_valid(), "{:?}", m.check_digits);
        let cd = m.check_digit(CheckDigitField::DocumentNumber).unwrap();
        assert_eq!(cd.expected, check_digit("D23145890123").unwrap());

        // Longest continuation that fits: 9 + 13 characters.
        let m = parse(&long_td1("AB1234567CDEFGHIJ12345")).unwrap();
        assert_eq!(m.document_number.as_str(), "AB1234567CDEFGHIJ12345");
        assert!(m.all_check_digits_valid());
    }

    #[test]
    fn td1_long_number_with_bad_check_digit_still_returns_number() {
        let text = long_td1("D23145890123");
        let good = check_digit("D23145890123").unwrap();
        let bad = if good == '1' { '2' } else { '1' };
        let text = text.replacen(&format!("123{good}<"), &format!("123{bad}<"), 1);
        let m = parse(&text).unwrap();
        assert_eq!(m.document_number.as_str(), "D23145890123");
        assert!(
            !m.check_digit(CheckDigitField::DocumentNumber)
                .unwrap()
                .valid
        );
        assert!(!m.check_digit(CheckDigitField::Composite).unwrap().valid);
        assert!(!m.all_check_digits_valid());
    }

    #[test]
    fn td2_long_number() {
        let number = "D231458901234";
        let cd = check_digit(number).unwrap();
        let optional = format!("{}{cd}<", &number[9..]);
        assert_eq!(optional.len(), 6);
        let optional = format!("{optional:<<7}");
        let head = format!("{}<UTO7408122F1204159", &number[..9]);
        let composite = check_digit(&format!("{}{}{}", &head[0..10], &head[13..20], {
            let mid = &head[21..28];
            format!("{mid}{optional}")
        }))
        .unwrap();
        let l2 = format!("{head}{optional}{composite}");
        assert_eq!(l2.len(), 36);
        let m = parse(&format!("{}\n{l2}", TD2[0])).unwrap();
        assert_eq!(m.format, MrzFormat::Td2);
        assert!(m.long_number);
        assert_eq!(m.document_number.as_str(), number);
        assert!(m.all_check_digits_valid(), "{:?}", m.check_digits);
    }

    #[test]
    fn filler_check_digit_without_continuation_in_td3_is_just_invalid() {
        // The long-number rule belongs to TD1 and TD2 only.
        let l2 = "L898902C3<UTO7408122F1204159ZE184226B<<<<<10";
        let m = parse(&format!("{}\n{l2}", TD3[0])).unwrap();
        assert!(!m.long_number);
        assert_eq!(m.document_number.as_str(), "L898902C3");
        let cd = m.check_digit(CheckDigitField::DocumentNumber).unwrap();
        assert_eq!((cd.found, cd.expected, cd.valid), ('<', '6', false));
    }

    #[test]
    fn td3_optional_check_digit_may_be_filler_when_no_data() {
        let head = "L898902C36UTO7408122F1204159";
        let optional = "<<<<<<<<<<<<<<";
        let data = format!(
            "{}{}{}{optional}<",
            &head[0..10],
            &head[13..20],
            &head[21..28]
        );
        let composite = check_digit(&data).unwrap();
        let l2 = format!("{head}{optional}<{composite}");
        let m = parse(&format!("{}\n{l2}", TD3[0])).unwrap();
        let cd = m.check_digit(CheckDigitField::OptionalData).unwrap();
        assert_eq!(cd.found, '<');
        assert!(cd.valid);
        assert!(m.all_check_digits_valid(), "{:?}", m.check_digits);
    }

    #[test]
    fn bad_check_digit_is_reported_not_fatal() {
        let l2 = TD3[1].replacen("L898902C36", "L898902C37", 1);
        let m = parse(&format!("{}\n{l2}", TD3[0])).unwrap();
        assert_eq!(m.document_number.as_str(), "L898902C3");
        let cd = m.check_digit(CheckDigitField::DocumentNumber).unwrap();
        assert_eq!((cd.expected, cd.found, cd.valid), ('6', '7', false));
        assert!(!m.all_check_digits_valid());
        assert!(m.check_digit(CheckDigitField::BirthDate).unwrap().valid);

        // A changed birth date breaks its digit and the composite.
        let l2 = TD3[1].replacen("7408122", "7408132", 1);
        let m = parse(&format!("{}\n{l2}", TD3[0])).unwrap();
        assert!(!m.check_digit(CheckDigitField::BirthDate).unwrap().valid);
        assert!(!m.check_digit(CheckDigitField::Composite).unwrap().valid);
        assert!(
            m.check_digit(CheckDigitField::DocumentNumber)
                .unwrap()
                .valid
        );
    }

    #[test]
    fn wrong_length_says_what_was_seen() {
        let err = parse(&format!("{}\n{}", TD3[0], &TD3[1][..43])).unwrap_err();
        assert_eq!(
            err,
            MrzError::WrongShape {
                line_lengths: vec![44, 43]
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("2 lines of 44, 43 characters"), "{msg}");
        assert!(msg.contains("2 lines of 44 (TD3, MRV-A)"), "{msg}");

        let err = parse(&TD3.concat()[..87]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("MRZ has 1 line of 87 characters")
        );
    }

    #[test]
    fn wrong_line_count() {
        assert_eq!(
            parse(TD3[0]).unwrap_err(),
            MrzError::WrongShape {
                line_lengths: vec![44]
            }
        );
        assert!(matches!(
            parse(&TD1[..2].join("\n")).unwrap_err(),
            MrzError::WrongShape { .. }
        ));
        let four = [TD1[0], TD1[1], TD1[2], TD1[2]].join("\n");
        assert!(matches!(
            parse(&four).unwrap_err(),
            MrzError::WrongShape { .. }
        ));
        assert_eq!(parse(" \r\n ").unwrap_err(), MrzError::Empty);
    }

    #[test]
    fn over_long_text_is_refused_early_and_every_message_is_short() {
        let huge = "<".repeat(120_000);
        assert_eq!(
            parse(&huge).unwrap_err(),
            MrzError::TooLong { bytes: 120_000 }
        );
        // The longest text still read, as many short lines as fit.
        let many = "A ".repeat(MAX_MRZ_TEXT / 2);
        let err = parse(&many).unwrap_err();
        assert!(matches!(err, MrzError::WrongShape { .. }));
        for e in [err, parse(&huge).unwrap_err()] {
            assert!(e.to_string().len() < 300, "{e}");
        }
        let padded = format!("  {}\r\n\r\n  {}  \n", TD3[0], TD3[1]);
        assert!(padded.len() <= MAX_MRZ_TEXT && parse(&padded).is_ok());
    }

    #[test]
    fn lower_case_is_read_as_upper_case() {
        let upper = parse(&TD3.join("\n")).unwrap();
        assert!(!upper.upper_cased);
        for text in [
            TD3.join("\n").to_lowercase(),
            format!("{}\n{}", TD3[0], TD3[1].replacen('C', "c", 1)),
        ] {
            let m = parse(&text).unwrap();
            assert!(m.upper_cased, "{text}");
            assert_eq!(m.document_number, upper.document_number);
            assert_eq!(m.check_digits, upper.check_digits);
            assert_eq!(m.primary_identifier, upper.primary_identifier);
        }
        // Only ASCII letters are folded: anything else is still refused.
        let err = parse(&TD3.join("\n").replacen('E', "é", 1)).unwrap_err();
        assert!(
            matches!(err, MrzError::InvalidChar { ch: 'é', .. }),
            "{err:?}"
        );
    }

    #[test]
    fn number_check_digit_agreement() {
        let m = parse(&TD3.join("\n")).unwrap();
        let n = |s: &str| DocumentNumber::normalise(s).unwrap();
        assert!(m.number_check_digit_agrees(&n("L898902C3")));
        // One substitution changes the check digit unless both characters
        // have the same value modulo 10: 3 (3) and A (10) do not, 3 and D
        // (13) do.
        assert!(!m.number_check_digit_agrees(&n("L898902CA")));
        assert!(m.number_check_digit_agrees(&n("L898902CD")));
        assert!(!m.number_check_digit_agrees(&n("L898902C")));
        assert!(!m.number_check_digit_agrees(&n("L898902C33")));
        // The 8-character number of the older TD3 keeps its filler.
        let old = parse(&OLD_TD3.join("\n")).unwrap();
        assert!(old.number_check_digit_agrees(&n("L898902C")));
        assert!(!old.number_check_digit_agrees(&n("L898902G")));
        // A misread number whose check digit fails: the right number agrees.
        let misread = TD3[1].replacen("L898902C3", "L89B902C3", 1);
        let bad = parse(&format!("{}\n{misread}", TD3[0])).unwrap();
        assert!(
            !bad.check_digit(CheckDigitField::DocumentNumber)
                .unwrap()
                .valid
        );
        assert!(bad.number_check_digit_agrees(&n("L898902C3")));
    }

    #[test]
    fn non_mrz_text() {
        let err = parse("HELLO, WORLD").unwrap_err();
        assert_eq!(
            err,
            MrzError::InvalidChar {
                line: 1,
                position: 6,
                ch: ','
            }
        );
        assert!(err.to_string().contains("only A-Z, 0-9 and '<'"));
        assert!(matches!(
            parse("Ä").unwrap_err(),
            MrzError::InvalidChar { ch: 'Ä', .. }
        ));
        // Right shape, but not a document.
        let err = parse(&"X".repeat(88)).unwrap_err();
        assert!(matches!(err, MrzError::UnknownDocumentCode { .. }));
        assert!(err.to_string().contains("starts with P"));
        let err = parse(&format!("{}\n{}", TD1[0].replacen('I', "P", 1), TD1[1])).unwrap_err();
        assert!(matches!(err, MrzError::WrongShape { .. }));
        let l1 = TD1[0].replacen("I<", "P<", 1);
        let err = parse(&format!("{l1}\n{}\n{}", TD1[1], TD1[2])).unwrap_err();
        assert!(matches!(
            err,
            MrzError::UnknownDocumentCode { line_len: 30, .. }
        ));
    }

    #[test]
    fn unusable_state_or_number() {
        let l1 = TD3[0].replacen("UTO", "U1O", 1);
        let err = parse(&format!("{l1}\n{}", TD3[1])).unwrap_err();
        assert!(matches!(err, MrzError::InvalidIssuingState { .. }));
        assert!(err.to_string().contains("\"U1O\""), "{err}");
        let l1 = TD3[0].replacen("UTO", "<<<", 1);
        let err = parse(&format!("{l1}\n{}", TD3[1])).unwrap_err();
        assert!(matches!(
            err,
            MrzError::InvalidIssuingState {
                source: ModelError::EmptyState,
                ..
            }
        ));
        let l2 = TD3[1].replacen("L898902C3", "<<<<<<<<<", 1);
        let err = parse(&format!("{}\n{l2}", TD3[0])).unwrap_err();
        assert!(matches!(
            err,
            MrzError::InvalidDocumentNumber {
                source: ModelError::EmptyNumber,
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn printable_text_never_panics(text in "\\PC{0,120}") {
            let _ = parse(&text);
        }

        #[test]
        fn mrz_alphabet_never_panics(
            lines in prop::sample::select(vec![(1usize, 90usize), (1, 72), (1, 88), (3, 30), (2, 36), (2, 44)]),
            first in "[IACPV][A-Z<]",
            body in "[A-Z0-9<]{100}",
        ) {
            let (count, len) = lines;
            let mut flat = format!("{first}{body}");
            flat.truncate(count * len);
            while flat.len() < count * len {
                flat.push('<');
            }
            let text: Vec<&str> = (0..count).map(|i| &flat[i * len..(i + 1) * len]).collect();
            if let Ok(m) = parse(&text.join("\n")) {
                prop_assert!(!m.document_number.is_empty());
            }
        }
    }
}
