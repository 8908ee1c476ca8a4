//! Synthetic exports that look like the real thing, for demos, tests and
//! benchmarks: issuers weighted like real volumes, each with its own document
//! number formats, all five statuses, dates over the last ten years and short
//! references. Output is a pure function of the seed.
//!
//! The specimen documents of ICAO Doc 9303 (state `UTO`) come first from
//! [`generate`], so every generated data set has known hits.
//!
//! The weights and formats are plausible, not official statistics: they give
//! an index the same mix of key lengths, alphabets and skew as a real export.

use std::sync::OnceLock;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, MAX_REFERENCE_LEN, Record,
    Reference, Status,
};

/// One issuing state: its share of the records and the number formats it
/// uses. Pattern tokens: `9` a digit, `@` a letter, `*` a letter or digit,
/// `%` a character of the German document alphabet
/// (`CFGHJKLMNPRTVWXYZ0-9`), `^` a German passport series letter
/// (`CFGHJK`), `~` a German ID card series letter (`LMNPRTVWXY`); any other
/// character stands for itself.
struct Issuer {
    code: &'static str,
    weight: u32,
    /// Prefix of the issuer's own reference numbers (`BKA-23-48211`).
    agency: &'static str,
    passport: &'static [&'static str],
    /// Empty when the state issues no ID card that travels.
    id_card: &'static [&'static str],
}

const fn issuer(
    code: &'static str,
    weight: u32,
    agency: &'static str,
    passport: &'static [&'static str],
    id_card: &'static [&'static str],
) -> Issuer {
    Issuer {
        code,
        weight,
        agency,
        passport,
        id_card,
    }
}

#[rustfmt::skip]
const ISSUERS: &[Issuer] = &[
    issuer("USA", 160, "DOS", &["999999999", "999999999", "999999999", "@99999999"], &[]),
    issuer("GBR", 70, "HMPO", &["999999999"], &[]),
    issuer("D", 65, "BKA", &["^%%%%%%%%"], &["~%%%%%%%%"]),
    issuer("FRA", 60, "DCPJ", &["99@@99999"], &["999999999999", "*********"]),
    issuer("ITA", 45, "PS", &["@@9999999"], &["CA99999@@"]),
    issuer("ESP", 40, "DGP", &["@@@999999"], &["@@@999999"]),
    issuer("IND", 45, "MEA", &["@9999999"], &[]),
    issuer("CHN", 40, "MPS", &["E99999999", "E@9999999"], &[]),
    issuer("RUS", 35, "MVD", &["999999999"], &[]),
    issuer("CAN", 30, "IRCC", &["@@999999"], &[]),
    issuer("AUS", 25, "APO", &["@9999999", "@@9999999"], &[]),
    issuer("BRA", 25, "DPF", &["@@999999"], &[]),
    issuer("TUR", 24, "EGM", &["U99999999"], &["@99@99999"]),
    issuer("MEX", 22, "SRE", &["@99999999"], &[]),
    issuer("UKR", 22, "DMS", &["@@999999"], &["999999999"]),
    issuer("POL", 20, "KGP", &["@@9999999"], &["@@@999999"]),
    issuer("NLD", 16, "RVIG", &["@@******9"], &["@@******9"]),
    issuer("PHL", 14, "DFA", &["P9999999@"], &[]),
    issuer("PAK", 14, "DGIP", &["@@9999999"], &[]),
    issuer("BEL", 12, "FOD", &["@@999999"], &["999999999999"]),
    issuer("SWE", 12, "NPA", &["99999999"], &["99999999"]),
    issuer("IDN", 12, "DJI", &["@9999999"], &[]),
    issuer("NGA", 12, "NIS", &["@99999999"], &[]),
    issuer("ROU", 10, "DGP", &["99999999"], &["@@999999"]),
    issuer("ZAF", 10, "DHA", &["@99999999"], &[]),
    issuer("CHE", 9, "FEDPOL", &["@9999999"], &["@9999999"]),
    issuer("AUT", 9, "BMI", &["@9999999"], &["@9999999"]),
    issuer("COL", 9, "CANC", &["@@999999"], &[]),
    issuer("PRT", 8, "SEF", &["@999999"], &["999999999@@9"]),
    issuer("GRC", 8, "HP", &["@@9999999"], &["@@999999"]),
    issuer("JPN", 8, "MOFA", &["@@9999999"], &[]),
    issuer("KOR", 8, "MOFA", &["M99999999", "M999@9999"], &[]),
    issuer("BGD", 8, "DIP", &["@@9999999", "@99999999"], &[]),
    issuer("ARG", 8, "RNP", &["@@@999999"], &["99999999"]),
    issuer("EGY", 7, "PID", &["@99999999"], &[]),
    issuer("VEN", 7, "SAIME", &["999999999"], &[]),
    issuer("VNM", 7, "IMM", &["@99999999"], &[]),
    issuer("IRN", 7, "NOCR", &["@99999999"], &[]),
    issuer("IRL", 6, "DFA", &["@@9999999"], &[]),
    issuer("CZE", 6, "MVCR", &["99999999"], &["999999999"]),
    issuer("THA", 6, "CPD", &["@@9999999"], &[]),
    issuer("MAR", 6, "DGSN", &["@@9999999"], &[]),
    issuer("NOR", 5, "POD", &["@9999999"], &[]),
    issuer("DNK", 5, "RPOL", &["999999999"], &[]),
    issuer("HUN", 5, "BM", &["@@9999999"], &["999999@@"]),
    issuer("PER", 5, "MIG", &["999999999"], &[]),
    issuer("MYS", 5, "JIM", &["@99999999"], &[]),
    issuer("DZA", 5, "DGSN", &["999999999"], &[]),
    issuer("FIN", 4, "POL", &["@@9999999"], &["999999999"]),
    issuer("CHL", 4, "SRCEI", &["@99999999"], &["999999999"]),
    issuer("SAU", 4, "JAW", &["@99999999"], &[]),
    issuer("ISR", 4, "PIBA", &["99999999"], &[]),
    issuer("KEN", 4, "DIS", &["@@9999999"], &[]),
    issuer("ARE", 3, "ICP", &["9999999"], &[]),
    issuer("ETH", 3, "INVEA", &["EP9999999"], &[]),
    issuer("NZL", 3, "DIA", &["@@999999"], &[]),
    issuer("SGP", 2, "ICA", &["@9999999@"], &[]),
    issuer("RKS", 1, "MPB", &["P99999999"], &["999999999"]),
    issuer("EUE", 1, "EU", &["99999999"], &[]),
    issuer("UNO", 1, "UN", &["999999999"], &[]),
];

/// Formats for a state missing from the table.
const DEFAULT_PATTERNS: &[&str] = &["@9999999", "@@9999999", "999999999"];

/// Document types and their shares (per mille). `I` and `ID` fall back to
/// `P` for a state without a travelling ID card.
const TYPES: &[(&str, u32)] = &[
    ("P", 620),
    ("PP", 110),
    ("PD", 12),
    ("PO", 12),
    ("I", 90),
    ("ID", 100),
    ("AC", 6),
    ("V", 50),
];

/// Statuses and their shares (per mille): losses dominate real reports.
const STATUSES: &[(Status, u32)] = &[
    (Status::Lost, 600),
    (Status::Stolen, 250),
    (Status::Revoked, 80),
    (Status::Invalidated, 60),
    (Status::StolenBlank, 10),
];

/// Share of records (per mille) reported by a state other than the issuer.
const REPORTED_ELSEWHERE: u32 = 40;

const FIRST_DAY: (i32, u32, u32) = (2016, 1, 1);
const LAST_DAY: (i32, u32, u32) = (2026, 10, 31);

const DIGITS: &[u8] = b"0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const GERMAN: &[u8] = b"CFGHJKLMNPRTVWXYZ0123456789";
const GERMAN_PASSPORT: &[u8] = b"CFGHJK";
const GERMAN_ID: &[u8] = b"LMNPRTVWXY";

/// What is computed once from the tables above.
struct Tables {
    issuer_cumulative: Vec<u32>,
    states: Vec<IssuingState>,
    types: Vec<DocumentType>,
    type_cumulative: Vec<u32>,
    passport_type: DocumentType,
    status_cumulative: Vec<u32>,
    first_day: u16,
    day_span: u32,
}

fn cumulative(weights: impl Iterator<Item = u32>) -> Vec<u32> {
    weights
        .scan(0u32, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

fn day(ymd: (i32, u32, u32)) -> u16 {
    Date::from_ymd(ymd.0, ymd.1, ymd.2)
        .expect("generator date bounds are valid dates")
        .days()
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let doc_type = |t: &str| DocumentType::normalise(t).expect("generator types are valid");
        let first_day = day(FIRST_DAY);
        Tables {
            issuer_cumulative: cumulative(ISSUERS.iter().map(|i| i.weight)),
            states: ISSUERS
                .iter()
                .map(|i| IssuingState::normalise(i.code).expect("generator states are valid"))
                .collect(),
            types: TYPES.iter().map(|(t, _)| doc_type(t)).collect(),
            type_cumulative: cumulative(TYPES.iter().map(|(_, w)| *w)),
            passport_type: doc_type("P"),
            status_cumulative: cumulative(STATUSES.iter().map(|(_, w)| *w)),
            first_day,
            day_span: u32::from(day(LAST_DAY) - first_day) + 1,
        }
    })
}

/// A uniform value in `0..n` (`n > 0`) from one 32-bit draw.
fn below<R: RngCore + ?Sized>(rng: &mut R, n: u32) -> u32 {
    ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32
}

/// An index drawn with the weights behind `cumulative`.
fn pick<R: RngCore + ?Sized>(rng: &mut R, cumulative: &[u32]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1);
    let r = below(rng, total);
    cumulative.partition_point(|&c| c <= r)
}

fn choose<R: RngCore + ?Sized>(rng: &mut R, alphabet: &[u8]) -> u8 {
    alphabet[below(rng, alphabet.len() as u32) as usize]
}

fn number_from_pattern<R: RngCore + ?Sized>(rng: &mut R, pattern: &str) -> DocumentNumber {
    let mut buf = [0u8; sltd_model::MAX_NUMBER_LEN];
    let pattern = pattern.as_bytes();
    for (out, &token) in buf.iter_mut().zip(pattern) {
        *out = match token {
            b'9' => choose(rng, DIGITS),
            b'@' => choose(rng, LETTERS),
            b'*' => choose(rng, ALNUM),
            b'%' => choose(rng, GERMAN),
            b'^' => choose(rng, GERMAN_PASSPORT),
            b'~' => choose(rng, GERMAN_ID),
            literal => literal,
        };
    }
    DocumentNumber::from_normalised(&buf[..pattern.len()])
        .expect("generator number patterns yield valid numbers")
}

fn number_for<R: RngCore + ?Sized>(rng: &mut R, patterns: &[&str]) -> DocumentNumber {
    let patterns = if patterns.is_empty() {
        DEFAULT_PATTERNS
    } else {
        patterns
    };
    let pattern = patterns[below(rng, patterns.len() as u32) as usize];
    number_from_pattern(rng, pattern)
}

/// Issuer index, type and number of one random document.
fn draw_document<R: RngCore + ?Sized>(rng: &mut R) -> (usize, DocumentType, DocumentNumber) {
    let t = tables();
    let i = pick(rng, &t.issuer_cumulative);
    let issuer = &ISSUERS[i];
    let type_index = pick(rng, &t.type_cumulative);
    let mut doc_type = t.types[type_index];
    let is_id_card = matches!(doc_type.class(), b'I');
    let patterns = if is_id_card {
        if issuer.id_card.is_empty() {
            doc_type = t.passport_type;
            issuer.passport
        } else {
            issuer.id_card
        }
    } else {
        issuer.passport
    };
    (i, doc_type, number_for(rng, patterns))
}

/// A small stack buffer for building references without allocating.
struct RefBuf {
    len: usize,
    bytes: [u8; MAX_REFERENCE_LEN],
}

impl RefBuf {
    fn new() -> Self {
        Self {
            len: 0,
            bytes: [0; MAX_REFERENCE_LEN],
        }
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(MAX_REFERENCE_LEN - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn digits(&mut self, mut value: u32, width: usize) {
        let mut tmp = [b'0'; 10];
        for slot in tmp[..width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.push(&tmp[..width]);
    }

    fn random_digits<R: RngCore + ?Sized>(&mut self, rng: &mut R, width: usize) {
        for _ in 0..width {
            let d = choose(rng, DIGITS);
            self.push(&[d]);
        }
    }
}

/// A reference in one of the styles issuers use; about one in seven empty.
fn reference<R: RngCore + ?Sized>(rng: &mut R, issuer: &Issuer, reported_on: Date) -> Reference {
    let year = reported_on.ymd().0 as u32;
    let mut buf = RefBuf::new();
    match below(rng, 100) {
        0..15 => {}
        // A national case number: 0012345678.
        15..43 => {
            buf.push(b"00");
            buf.random_digits(rng, 8);
        }
        // Agency, year, serial: BKA-23-48211.
        43..68 => {
            buf.push(issuer.agency.as_bytes());
            buf.push(b"-");
            buf.digits(year % 100, 2);
            buf.push(b"-");
            buf.random_digits(rng, 5);
        }
        // Year and serial: 2023/004512.
        68..83 => {
            buf.digits(year, 4);
            buf.push(b"/");
            buf.random_digits(rng, 6);
        }
        // Issuer code and serial: FRA4821193.
        _ => {
            buf.push(issuer.code.as_bytes());
            buf.random_digits(rng, 7);
        }
    }
    Reference::from_bytes(&buf.bytes[..buf.len]).expect("generated references are short ASCII")
}

fn record<R: RngCore + ?Sized>(rng: &mut R, with_reporting_state: bool) -> Record {
    let t = tables();
    let (issuer_index, doc_type, number) = draw_document(rng);
    let issuer = &ISSUERS[issuer_index];
    let status = STATUSES[pick(rng, &t.status_cumulative)].0;
    // Half uniform, half skewed towards recent years, as reports grow and
    // old records expire.
    let a = below(rng, t.day_span);
    let b = below(rng, t.day_span);
    let offset = if rng.next_u32() & 1 == 0 { a } else { a.max(b) };
    let reported_on = Date::from_days(t.first_day + offset as u16);
    let reference = reference(rng, issuer, reported_on);
    // Always drawn, so that turning reporting states on changes nothing else.
    let elsewhere = below(rng, 1000) < REPORTED_ELSEWHERE;
    let other = pick(rng, &t.issuer_cumulative);
    let reporting_state =
        (with_reporting_state && elsewhere && other != issuer_index).then(|| t.states[other]);
    Record {
        key: DocumentKey {
            state: t.states[issuer_index],
            number,
        },
        doc_type,
        status,
        reported_on,
        reporting_state,
        reference,
    }
}

/// An endless stream of generated records, the same for the same seed.
#[derive(Clone, Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    reporting_states: bool,
}

impl Generator {
    /// A generator seeded with `seed`. Records have no reporting state, as
    /// the standard six-column export cannot hold one.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            reporting_states: false,
        }
    }

    /// Gives about 4% of records a reporting state other than the issuer
    /// (for the seven-column export). Every other field stays the same as
    /// without it.
    pub fn with_reporting_states(mut self) -> Self {
        self.reporting_states = true;
        self
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        Some(record(&mut self.rng, self.reporting_states))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

/// The specimen documents of ICAO Doc 9303 (DOMAIN.md test vectors) as state
/// `UTO` records, each with a different status: the known hits of every
/// generated data set.
pub fn specimen_records() -> Vec<Record> {
    let specimen =
        |number: &str, doc_type: &str, status, ymd: (i32, u32, u32), reference: &str| Record {
            key: DocumentKey::normalise("UTO", number).expect("specimen keys are valid"),
            doc_type: DocumentType::normalise(doc_type).expect("specimen types are valid"),
            status,
            reported_on: Date::from_ymd(ymd.0, ymd.1, ymd.2).expect("specimen dates are valid"),
            reporting_state: None,
            reference: Reference::new(reference).expect("specimen references are valid"),
        };
    vec![
        specimen(
            "L898902C3",
            "P",
            Status::Stolen,
            (2024, 3, 14),
            "UTO-TD3-0001",
        ),
        specimen("D23145890", "I", Status::Lost, (2023, 9, 2), "UTO-TD1-0002"),
        specimen(
            "L8988901C",
            "V",
            Status::Revoked,
            (2022, 6, 21),
            "UTO-MRV-0003",
        ),
        specimen("L898902C", "P", Status::Invalidated, (2019, 11, 5), ""),
    ]
}

/// `records` records for `seed`: the specimens of [`specimen_records`] first,
/// then generated ones.
pub fn generate(records: u64, seed: u64) -> impl Iterator<Item = Record> {
    let n = usize::try_from(records).unwrap_or(usize::MAX);
    specimen_records()
        .into_iter()
        .chain(Generator::new(seed))
        .take(n)
}

/// A random document as a load generator would present it: a weighted
/// issuer, a type and a number in that issuer's format. Nothing stops it from
/// being in a data set by chance; callers that need a miss check it against
/// their hit set.
pub fn random_document<R: RngCore + ?Sized>(rng: &mut R) -> (DocumentKey, DocumentType) {
    let (i, doc_type, number) = draw_document(rng);
    let key = DocumentKey {
        state: tables().states[i],
        number,
    };
    (key, doc_type)
}

/// A random passport number in the format `state` uses (a generic format for
/// a state the generator does not know). Callers that need a miss check it
/// against their hit set.
pub fn random_miss_number<R: RngCore + ?Sized>(
    rng: &mut R,
    state: &IssuingState,
) -> DocumentNumber {
    let patterns = tables()
        .states
        .iter()
        .position(|s| s == state)
        .map_or(DEFAULT_PATTERNS, |i| ISSUERS[i].passport);
    number_for(rng, patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        let t = tables();
        assert_eq!(t.states.len(), ISSUERS.len());
        assert!(ISSUERS.len() >= 40);
        let mut codes: Vec<_> = ISSUERS.iter().map(|i| i.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ISSUERS.len(), "duplicate issuer");
        assert!(!codes.contains(&"UTO"), "specimen state must stay unique");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for issuer in ISSUERS {
            for p in issuer.passport.iter().chain(issuer.id_card) {
                let n = number_from_pattern(&mut rng, p);
                assert_eq!(n.len(), p.len(), "{p}");
            }
            assert!(issuer.agency.len() + 9 <= MAX_REFERENCE_LEN);
        }
        assert_eq!(t.day_span, u32::from(day(LAST_DAY) - day(FIRST_DAY)) + 1);
    }

    #[test]
    fn german_numbers_use_the_german_alphabet() {
        let d = IssuingState::normalise("D").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let n = random_miss_number(&mut rng, &d);
            assert_eq!(n.len(), 9);
            assert!(n.as_bytes().iter().all(|b| GERMAN.contains(b)), "{n}");
        }
        let unknown = IssuingState::normalise("ZZZ").unwrap();
        assert!(random_miss_number(&mut rng, &unknown).len() >= 8);
    }

    #[test]
    fn distributions_are_plausible() {
        let records: Vec<Record> = Generator::new(3).take(100_000).collect();
        let count = |f: &dyn Fn(&Record) -> bool| records.iter().filter(|r| f(r)).count();
        let usa = count(&|r| r.key.state.as_str() == "USA");
        let p = count(&|r| r.doc_type.class() == b'P');
        let lost = count(&|r| r.status == Status::Lost);
        let blank = count(&|r| r.status == Status::StolenBlank);
        assert!((12_000..20_000).contains(&usa), "{usa}");
        assert!(p > 70_000, "{p}");
        assert!((55_000..65_000).contains(&lost), "{lost}");
        assert!((500..1_500).contains(&blank), "{blank}");
        let states: std::collections::HashSet<_> = records.iter().map(|r| r.key.state).collect();
        assert_eq!(states.len(), ISSUERS.len());
        let long = count(&|r| r.key.number.len() > 9);
        assert!(long > 0, "some long ID card numbers");
        let bytes: usize = records.iter().map(|r| r.reference.as_bytes().len()).sum();
        let avg = bytes as f64 / records.len() as f64;
        assert!((8.0..10.5).contains(&avg), "average reference {avg}");
        let first = Date::from_ymd(2016, 1, 1).unwrap();
        let last = Date::from_ymd(2026, 10, 31).unwrap();
        assert!(
            records
                .iter()
                .all(|r| (first..=last).contains(&r.reported_on))
        );
        let recent = count(&|r| r.reported_on.ymd().0 >= 2021);
        assert!(recent > 55_000, "skewed to recent years: {recent}");
        assert!(records.iter().all(|r| r.reporting_state.is_none()));
    }

    #[test]
    fn reporting_states_change_nothing_else() {
        let plain: Vec<Record> = Generator::new(9).take(20_000).collect();
        let with: Vec<Record> = Generator::new(9)
            .with_reporting_states()
            .take(20_000)
            .collect();
        let mut elsewhere = 0;
        for (a, b) in plain.iter().zip(&with) {
            let mut b2 = *b;
            if let Some(rs) = b.reporting_state {
                assert_ne!(rs, b.key.state);
                elsewhere += 1;
            }
            b2.reporting_state = None;
            assert_eq!(*a, b2);
        }
        assert!((500..1_200).contains(&elsewhere), "{elsewhere}");
    }

    #[test]
    fn random_documents_follow_formats() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..1000 {
            let (key, doc_type) = random_document(&mut rng);
            assert!((6..=12).contains(&key.number.len()), "{key}");
            assert!(doc_type.as_str() != "I" || key.state.as_str() != "USA");
        }
    }
}
