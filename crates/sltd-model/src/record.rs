//! A stolen or lost document record and its fields.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{DocumentKey, DocumentType, IssuingState, ModelError};

/// Longest reference (the issuing state's own reference text), in bytes.
pub const MAX_REFERENCE_LEN: usize = 32;

/// Why a document is listed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Status {
    Stolen,
    Lost,
    Revoked,
    Invalidated,
    /// A blank document stolen before personalisation.
    StolenBlank,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 5] = [
        Status::Stolen,
        Status::Lost,
        Status::Revoked,
        Status::Invalidated,
        Status::StolenBlank,
    ];

    /// The stable numeric code used by the index and feed formats.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status for a numeric code, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The name used in CSV files and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stolen => "stolen",
            Status::Lost => "lost",
            Status::Revoked => "revoked",
            Status::Invalidated => "invalidated",
            Status::StolenBlank => "stolen_blank",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ModelError;
    /// Accepts the names case-insensitively; `stolen blank` and
    /// `stolen-blank` are read as `stolen_blank`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == norm)
            .ok_or_else(|| ModelError::UnknownStatus {
                value: s.to_string(),
            })
    }
}

/// A calendar date between 1970-01-01 and 2149-06-06, stored as days since
/// 1970-01-01 so that it fits in two bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(u16);

impl Date {
    /// The earliest date representable.
    pub const MIN: Date = Date(0);
    /// The latest date representable.
    pub const MAX: Date = Date(u16::MAX);

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: u16) -> Self {
        Date(days)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> u16 {
        self.0
    }

    /// The date from a year, month and day, if it is a real calendar date in
    /// range.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day);
        u16::try_from(days).ok().map(Date)
    }

    /// The date that contains the Unix time `secs`, if in range.
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        u16::try_from(secs.div_euclid(86_400)).ok().map(Date)
    }

    /// Year, month and day.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(i64::from(self.0))
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl FromStr for Date {
    type Err = ModelError;
    /// Parses exactly `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ModelError::InvalidDate {
            value: s.to_string(),
        };
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(invalid());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, ModelError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse().map_err(|_| invalid())
        };
        let (y, m, d) = (num(0..4)? as i32, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(invalid());
        }
        Date::from_ymd(y, m, d).ok_or_else(|| ModelError::DateOutOfRange {
            value: s.to_string(),
        })
    }
}

/// The issuing state's own reference for a record: opaque text of at most
/// 32 bytes, possibly empty, without control characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    len: u8,
    bytes: [u8; MAX_REFERENCE_LEN],
}

impl Reference {
    /// The empty reference.
    pub const EMPTY: Reference = Reference {
        len: 0,
        bytes: [0; MAX_REFERENCE_LEN],
    };

    /// Checks and stores `text` as given (no trimming).
    pub fn new(text: &str) -> Result<Self, ModelError> {
        Self::from_bytes(text.as_bytes())
    }

    /// Checks and stores raw bytes: they must be UTF-8 without control
    /// characters, at most 32 bytes long.
    #[inline]
    pub fn from_bytes(raw: &[u8]) -> Result<Self, ModelError> {
        if raw.len() > MAX_REFERENCE_LEN {
            return Err(ModelError::ReferenceTooLong { len: raw.len() });
        }
        // Printable ASCII, the usual case, needs no further checks.
        if raw.iter().all(|b| (0x20..0x7f).contains(b)) {
            let mut bytes = [0u8; MAX_REFERENCE_LEN];
            bytes[..raw.len()].copy_from_slice(raw);
            return Ok(Self {
                len: raw.len() as u8,
                bytes,
            });
        }
        let text = std::str::from_utf8(raw).map_err(|_| ModelError::InvalidReferenceChar)?;
        if text.chars().any(char::is_control) {
            return Err(ModelError::InvalidReferenceChar);
        }
        let mut bytes = [0u8; MAX_REFERENCE_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The reference's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Whether the reference is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({:?})", self.as_str())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stolen or lost document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Record {
    pub key: DocumentKey,
    pub doc_type: DocumentType,
    pub status: Status,
    /// When the theft, loss or invalidation was reported.
    pub reported_on: Date,
    /// The state that reported it, when it is not the issuing state.
    pub reporting_state: Option<IssuingState>,
    pub reference: Reference,
}

impl Record {
    /// Orders two records for the same key so that the one to keep is the
    /// greater: the later `reported_on` wins; on equal dates the comparison
    /// falls through status code, type, reporting state and reference, so the
    /// choice never depends on the order records arrive in.
    pub fn precedence(&self, other: &Record) -> Ordering {
        (
            self.reported_on,
            self.status,
            self.doc_type,
            self.reporting_state,
            self.reference,
        )
            .cmp(&(
                other.reported_on,
                other.status,
                other.doc_type,
                other.reporting_state,
                other.reference,
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            assert_eq!(Status::from_code(st.code()), Some(st));
        }
        assert_eq!(
            "Stolen Blank".parse::<Status>().unwrap(),
            Status::StolenBlank
        );
        assert!("found".parse::<Status>().is_err());
        assert_eq!(Status::from_code(5), None);
    }

    #[test]
    fn dates() {
        let d: Date = "2024-02-29".parse().unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        assert_eq!("1970-01-01".parse::<Date>().unwrap(), Date::MIN);
        assert_eq!(Date::MAX.to_string(), "2149-06-06");
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
        assert!("2023-1-01".parse::<Date>().is_err());
        assert!("+023-01-01".parse::<Date>().is_err());
        assert!(matches!(
            "1969-12-31".parse::<Date>(),
            Err(ModelError::DateOutOfRange { .. })
        ));
        for days in [0u16, 1, 59, 365, 10_000, 20_000, u16::MAX] {
            let d = Date::from_days(days);
            assert_eq!(d.to_string().parse::<Date>().unwrap(), d);
        }
    }

    #[test]
    fn references() {
        assert!(Reference::new("BKA/2023/0042").is_ok());
        assert!(Reference::new(&"x".repeat(33)).is_err());
        assert!(Reference::new("a\nb").is_err());
        assert!(Reference::new("").unwrap().is_empty());
    }
}
