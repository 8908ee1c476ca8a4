//! Document keys and their normalisation: the one place that decides when two
//! spellings of a document number or an issuing state are the same.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// Longest normalised document number accepted.
pub const MAX_NUMBER_LEN: usize = 30;
/// Longest normalised issuing state (ICAO codes have three letters).
pub const MAX_STATE_LEN: usize = 3;
/// Longest document type (the two-letter MRZ document code).
pub const MAX_TYPE_LEN: usize = 2;

/// A normalised document number: 1 to 30 characters from `A-Z0-9`.
///
/// Normalisation upper-cases the input and drops spaces, hyphens and `<`
/// fillers; any other character is an error, never silently removed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentNumber {
    len: u8,
    bytes: [u8; MAX_NUMBER_LEN],
}

impl DocumentNumber {
    /// Normalises `text` into a document number.
    pub fn normalise(text: &str) -> Result<Self, ModelError> {
        let mut bytes = [0u8; MAX_NUMBER_LEN];
        let mut len = 0usize;
        for ch in text.chars() {
            let up = ch.to_ascii_uppercase();
            match up {
                ' ' | '-' | '<' => continue,
                'A'..='Z' | '0'..='9' => {
                    if len == MAX_NUMBER_LEN {
                        // Count the full length for the message.
                        let total = text
                            .chars()
                            .filter(|c| !matches!(c, ' ' | '-' | '<'))
                            .count();
                        return Err(ModelError::NumberTooLong { len: total });
                    }
                    bytes[len] = up as u8;
                    len += 1;
                }
                _ => return Err(ModelError::InvalidNumberChar { ch }),
            }
        }
        if len == 0 {
            return Err(ModelError::EmptyNumber);
        }
        Ok(Self {
            len: len as u8,
            bytes,
        })
    }

    /// Builds a number from bytes that are already normalised (`A-Z0-9`,
    /// 1 to 30 of them), as stored in an index. Anything else is an error.
    #[inline]
    pub fn from_normalised(raw: &[u8]) -> Result<Self, ModelError> {
        if raw.is_empty() {
            return Err(ModelError::EmptyNumber);
        }
        if raw.len() > MAX_NUMBER_LEN {
            return Err(ModelError::NumberTooLong { len: raw.len() });
        }
        let mut bytes = [0u8; MAX_NUMBER_LEN];
        for (dst, &b) in bytes.iter_mut().zip(raw) {
            if !(b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(ModelError::InvalidNumberChar { ch: b as char });
            }
            *dst = b;
        }
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The normalised characters as ASCII bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The normalised number as text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Number of characters.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a document number is never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentNumber({:?})", self.as_str())
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentNumber {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::normalise(s)
    }
}

/// Parses 1 to `max` letters after upper-casing and removing trailing `<`
/// fillers; shared by states and document types.
fn normalise_letters<const N: usize>(
    text: &str,
    empty: ModelError,
    too_long: fn(usize) -> ModelError,
    bad_char: fn(char) -> ModelError,
) -> Result<([u8; N], u8), ModelError> {
    let trimmed = text.trim().trim_end_matches('<');
    let mut out = [0u8; N];
    let mut len = 0usize;
    for ch in trimmed.chars() {
        let up = ch.to_ascii_uppercase();
        if !up.is_ascii_uppercase() {
            return Err(bad_char(ch));
        }
        if len == N {
            return Err(too_long(trimmed.chars().count()));
        }
        out[len] = up as u8;
        len += 1;
    }
    if len == 0 {
        return Err(empty);
    }
    Ok((out, len as u8))
}

/// A normalised issuing state: the ICAO code without `<` fillers, so `D<<`
/// and `D` are the same state. One to three letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuingState {
    len: u8,
    bytes: [u8; MAX_STATE_LEN],
}

impl IssuingState {
    /// Normalises `text`: surrounding white space is ignored, letters are
    /// upper-cased and trailing `<` fillers removed.
    pub fn normalise(text: &str) -> Result<Self, ModelError> {
        let (bytes, len) = normalise_letters::<MAX_STATE_LEN>(
            text,
            ModelError::EmptyState,
            |len| ModelError::StateTooLong { len },
            |ch| ModelError::InvalidStateChar { ch },
        )?;
        Ok(Self { len, bytes })
    }

    /// The letters of the state.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The state as text, without fillers (`D`, `FRA`).
    #[inline]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl IssuingState {
    /// Builds a state from 1 to 3 upper-case ASCII letters (already
    /// normalised, as stored in an index); anything else is `None`.
    #[inline]
    pub fn from_letters(letters: &[u8]) -> Option<Self> {
        letters_array(letters).map(|(bytes, len)| Self { len, bytes })
    }
}

/// Copies 1 to `N` upper-case ASCII letters into an array.
#[inline]
fn letters_array<const N: usize>(letters: &[u8]) -> Option<([u8; N], u8)> {
    if letters.is_empty() || letters.len() > N || !letters.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let mut bytes = [0u8; N];
    bytes[..letters.len()].copy_from_slice(letters);
    Some((bytes, letters.len() as u8))
}

impl fmt::Debug for IssuingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuingState({:?})", self.as_str())
    }
}

impl fmt::Display for IssuingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IssuingState {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::normalise(s)
    }
}

/// The document type: one or two letters, the MRZ document code (`P`, `PP`,
/// `PD`, `I`, `ID`, `AC`, `V`, ...). Matching compares the first letter only,
/// so an MRZ `PD` matches a record of type `P`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentType {
    len: u8,
    bytes: [u8; MAX_TYPE_LEN],
}

impl DocumentType {
    /// Normalises `text`: upper-cased, trailing `<` removed (`P<` is `P`).
    pub fn normalise(text: &str) -> Result<Self, ModelError> {
        let (bytes, len) = normalise_letters::<MAX_TYPE_LEN>(
            text,
            ModelError::EmptyType,
            |len| ModelError::TypeTooLong { len },
            |ch| ModelError::InvalidTypeChar { ch },
        )?;
        Ok(Self { len, bytes })
    }

    /// The letter that matching compares.
    #[inline]
    pub fn class(&self) -> u8 {
        self.bytes[0]
    }

    /// Whether a record of this type satisfies a query for `other`: the first
    /// letters are equal.
    #[inline]
    pub fn matches(&self, other: &DocumentType) -> bool {
        self.class() == other.class()
    }

    /// The type's letters.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The type as text.
    #[inline]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl DocumentType {
    /// Builds a type from 1 or 2 upper-case ASCII letters (already
    /// normalised, as stored in an index); anything else is `None`.
    #[inline]
    pub fn from_letters(letters: &[u8]) -> Option<Self> {
        letters_array(letters).map(|(bytes, len)| Self { len, bytes })
    }
}

impl fmt::Debug for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentType({:?})", self.as_str())
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentType {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::normalise(s)
    }
}

/// What identifies a record: issuing state plus normalised document number.
/// Two records with the same key are the same document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DocumentKey {
    pub state: IssuingState,
    pub number: DocumentNumber,
}

impl DocumentKey {
    /// Normalises both parts.
    pub fn normalise(state: &str, number: &str) -> Result<Self, ModelError> {
        Ok(Self {
            state: IssuingState::normalise(state)?,
            number: DocumentNumber::normalise(number)?,
        })
    }
}

impl fmt::Display for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.state, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_normalisation() {
        let n = DocumentNumber::normalise(" l898-902 c3<< ").unwrap();
        assert_eq!(n.as_str(), "L898902C3");
        assert_eq!(
            DocumentNumber::normalise("<< - "),
            Err(ModelError::EmptyNumber)
        );
        assert_eq!(
            DocumentNumber::normalise("AB.12"),
            Err(ModelError::InvalidNumberChar { ch: '.' })
        );
        assert_eq!(
            DocumentNumber::normalise("ÄB12"),
            Err(ModelError::InvalidNumberChar { ch: 'Ä' })
        );
        let long = "A".repeat(31);
        assert_eq!(
            DocumentNumber::normalise(&long),
            Err(ModelError::NumberTooLong { len: 31 })
        );
        assert_eq!(
            DocumentNumber::normalise(&"9".repeat(30)).unwrap().len(),
            30
        );
    }

    #[test]
    fn state_normalisation() {
        assert_eq!(IssuingState::normalise("D<<").unwrap().as_str(), "D");
        assert_eq!(
            IssuingState::normalise("d").unwrap(),
            IssuingState::normalise("D<<").unwrap()
        );
        assert_eq!(IssuingState::normalise(" uto ").unwrap().as_str(), "UTO");
        assert_eq!(IssuingState::normalise("<<<"), Err(ModelError::EmptyState));
        assert_eq!(
            IssuingState::normalise("FRAN"),
            Err(ModelError::StateTooLong { len: 4 })
        );
        assert_eq!(
            IssuingState::normalise("D<E"),
            Err(ModelError::InvalidStateChar { ch: '<' })
        );
        assert_eq!(
            IssuingState::normalise("U1O"),
            Err(ModelError::InvalidStateChar { ch: '1' })
        );
    }

    #[test]
    fn type_matching_uses_first_letter() {
        let pd = DocumentType::normalise("PD").unwrap();
        let p = DocumentType::normalise("p<").unwrap();
        let i = DocumentType::normalise("I").unwrap();
        assert!(pd.matches(&p));
        assert!(!pd.matches(&i));
        assert!(DocumentType::normalise("PPP").is_err());
    }

    #[test]
    fn from_normalised_rejects_unnormalised_bytes() {
        assert!(DocumentNumber::from_normalised(b"AB1").is_ok());
        assert!(DocumentNumber::from_normalised(b"ab1").is_err());
        assert!(DocumentNumber::from_normalised(b"").is_err());
        assert!(DocumentNumber::from_normalised(&[b'A'; 31]).is_err());
    }
}
