//! Possible matches from a real index against a brute-force model over a
//! `HashMap`: every record that differs from the query by one confusable
//! character (every position, every pair) or only by its issuing state must
//! be offered, nothing else may be, and nothing offered is ever an exact
//! match; the confusable filter never rules out a query that has some. Also:
//! the issuing states an index reports are exactly those its records carry.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use sltd_index::{BuildOptions, Entry, Index, IndexBuilder, IndexKind, LayeredIndex};
use sltd_model::mrz::Mrz;
use sltd_model::possible::{CONFUSABLE_PAIRS, PossibleMatchReason, possible_matches};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, Query, Record, Reference, Status,
};

const STATES: &[&str] = &["D", "FRA", "UTO", "GBD", "XXA"];
const TYPES: &[&str] = &["P", "PD", "I", "V"];

/// Numbers drawn mostly from confusable characters, short, so that records
/// one substitution apart are common.
fn number_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0O1I8B5S2Z6GX]{1,5}",
        "[0O1I]{1,3}[A-Z0-9]{0,4}",
        "[0O8B]{28,30}",
    ]
}

fn record_strategy() -> impl Strategy<Value = Record> {
    (0..STATES.len(), number_strategy(), 0..TYPES.len()).prop_map(|(s, n, t)| Record {
        key: DocumentKey::normalise(STATES[s], &n).unwrap(),
        doc_type: DocumentType::normalise(TYPES[t]).unwrap(),
        status: Status::Stolen,
        reported_on: Date::from_days(19_000),
        reporting_state: None,
        reference: Reference::EMPTY,
    })
}

fn query_strategy() -> impl Strategy<Value = Query> {
    (
        number_strategy(),
        proptest::option::of(0..STATES.len() + 1),
        proptest::option::of(0..TYPES.len()),
    )
        .prop_map(|(n, s, t)| Query {
            number: DocumentNumber::normalise(&n).unwrap(),
            // One state no record has.
            state: s.map(|i| IssuingState::normalise(STATES.get(i).unwrap_or(&"ZZZ")).unwrap()),
            doc_type: t.map(|i| DocumentType::normalise(TYPES[i]).unwrap()),
        })
}

fn build(kind: IndexKind, entries: impl IntoIterator<Item = Entry>) -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions {
        kind,
        created_at: 1_700_000_000,
        ..BuildOptions::default()
    });
    for e in entries {
        b.push_entry(e).unwrap();
    }
    b.finish().unwrap().bytes
}

fn is_pair(a: u8, b: u8) -> bool {
    CONFUSABLE_PAIRS
        .iter()
        .any(|&(x, y)| (a, b) == (x, y) || (a, b) == (y, x))
}

/// The brute-force rule, written from the definition rather than from the
/// candidates: the single position where the numbers differ, if exactly one.
fn one_confusable_apart(q: &DocumentNumber, r: &DocumentNumber) -> Option<usize> {
    let (q, r) = (q.as_bytes(), r.as_bytes());
    if q.len() != r.len() {
        return None;
    }
    let mut diff = q.iter().zip(r).enumerate().filter(|(_, (a, b))| a != b);
    match (diff.next(), diff.next()) {
        (Some((i, (&a, &b))), None) if is_pair(a, b) => Some(i + 1),
        _ => None,
    }
}

/// What the model says: (key, reason tag, position) for every record.
fn model_possible(
    m: &HashMap<DocumentKey, Record>,
    q: &Query,
) -> BTreeSet<(DocumentKey, &'static str, usize)> {
    let type_ok = |r: &Record| q.doc_type.is_none_or(|t| t.matches(&r.doc_type));
    let mut out = BTreeSet::new();
    for r in m.values() {
        if q.matches(r) || !type_ok(r) {
            continue;
        }
        if let Some(pos) = one_confusable_apart(&q.number, &r.key.number)
            && q.state.is_none_or(|s| s == r.key.state)
        {
            out.insert((r.key, "confusable", pos));
        }
        if let Some(s) = q.state
            && r.key.number == q.number
            && r.key.state != s
        {
            out.insert((r.key, "other_state", 0));
        }
    }
    out
}

fn answer<B: AsRef<[u8]>>(
    layered: &LayeredIndex<B>,
    q: &Query,
    mrz: Option<&Mrz>,
) -> Vec<sltd_model::possible::PossibleMatch> {
    possible_matches(q, mrz, |probes, on_match| {
        layered.lookup_batch(probes, on_match)
    })
    .unwrap()
}

fn tags(
    found: &[sltd_model::possible::PossibleMatch],
) -> BTreeSet<(DocumentKey, &'static str, usize)> {
    found
        .iter()
        .map(|p| match p.reason {
            PossibleMatchReason::ConfusableCharacter { position, .. } => {
                (p.record.key, "confusable", position)
            }
            PossibleMatchReason::OtherIssuingState { .. } => (p.record.key, "other_state", 0),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn possible_matches_are_exactly_the_models(
        base in proptest::collection::vec(record_strategy(), 0..120),
        upserts in proptest::collection::vec(record_strategy(), 0..20),
        deletions in proptest::collection::vec(0..120usize, 0..10),
        queries in proptest::collection::vec(query_strategy(), 1..24),
    ) {
        // The model: the base, then the segment applied over it.
        let mut m: HashMap<DocumentKey, Record> = HashMap::new();
        for r in &base {
            m.insert(r.key, *r);
        }
        // Keep one record per key in the input so the model and the
        // builder's duplicate rule cannot disagree.
        let base: Vec<Record> = m.values().copied().collect();
        let deleted: BTreeSet<DocumentKey> = deletions
            .iter()
            .filter_map(|&i| base.get(i).map(|r| r.key))
            .collect();
        let mut seg: HashMap<DocumentKey, Entry> = HashMap::new();
        for k in &deleted {
            seg.insert(*k, Entry::Deleted(*k));
        }
        for r in &upserts {
            seg.insert(r.key, Entry::Record(*r));
        }
        for e in seg.values() {
            match e {
                Entry::Record(r) => { m.insert(r.key, *r); }
                Entry::Deleted(k) => { m.remove(k); }
            }
        }
        let base_bytes = build(IndexKind::Base, base.iter().map(|r| Entry::Record(*r)));
        let seg_bytes = build(IndexKind::Segment, seg.values().copied());
        let layered = LayeredIndex::new(
            Index::open(&base_bytes[..]).unwrap(),
            vec![Index::open(&seg_bytes[..]).unwrap()],
        ).unwrap();
        let filter = layered.confusable_filter().unwrap();

        for q in &queries {
            let found = answer(&layered, q, None);
            // Never an exact match, never twice.
            for p in &found {
                prop_assert!(!q.matches(&p.record), "{q:?} offered its own match {:?}", p.record);
                prop_assert_eq!(m.get(&p.record.key), Some(&p.record), "offered a record not in the data");
            }
            let got = tags(&found);
            prop_assert_eq!(got.len(), found.len(), "duplicates in {:?}", found);
            let want = model_possible(&m, q);
            prop_assert_eq!(&got, &want, "query {:?}", q);
            // The filter may only skip queries that have none.
            if !filter.may_contain(&q.number) {
                prop_assert!(want.is_empty(), "filter ruled out {:?} of {:?}", want, q);
            }
        }
        // And for every record: each of its candidate spellings passes.
        for r in m.values() {
            prop_assert!(filter.may_contain(&r.key.number));
            for v in sltd_model::possible::number_variants(&r.key.number) {
                prop_assert!(filter.may_contain(&v.number), "{:?}", v);
            }
        }

        // The states reported are those the records carry (a state whose
        // last record was deleted may remain: only extra, never missing).
        let states = layered.issuing_states().unwrap();
        let in_model: BTreeSet<IssuingState> = m.values().map(|r| r.key.state).collect();
        prop_assert!(in_model.is_subset(&states));
        let all: BTreeSet<IssuingState> = base.iter().chain(&upserts).map(|r| r.key.state).collect();
        prop_assert!(states.is_subset(&all));
        let base_only = Index::open(&base_bytes[..]).unwrap().issuing_states().unwrap();
        let base_states: BTreeSet<IssuingState> = base.iter().map(|r| r.key.state).collect();
        prop_assert_eq!(base_only, base_states);
    }
}

/// The MRZ vectors of DOMAIN.md, each with one confusable character injected
/// into the document number: the listed specimen is offered (never a hit),
/// and it comes first as the candidate that fixes the failed check digit.
#[test]
fn specimen_mrz_with_one_misread_character() {
    const VECTORS: &[(&[&str], &str)] = &[
        (
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
            "L898902C3",
        ),
        (
            &[
                "I<UTOD231458907<<<<<<<<<<<<<<<",
                "7408122F1204159UTO<<<<<<<<<<<6",
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
            ],
            "D23145890",
        ),
        (
            &[
                "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                "D231458907UTO7408122F1204159<<<<<<<6",
            ],
            "D23145890",
        ),
        (
            &[
                "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
            ],
            "L8988901C",
        ),
        (
            &[
                "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                "L8988901C4XXX4009078F9612109<<<<<<<<",
            ],
            "L8988901C",
        ),
        (
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C<3UTO6908061F9406236ZE184226B<<<<<14",
            ],
            "L898902C",
        ),
    ];
    let specimens: Vec<Record> = VECTORS
        .iter()
        .map(|(lines, number)| {
            let m = Mrz::parse(&lines.join("\n")).unwrap();
            assert_eq!(m.document_number.as_str(), *number);
            Record {
                key: DocumentKey {
                    state: m.issuing_state,
                    number: m.document_number,
                },
                doc_type: m.document_type,
                status: Status::Stolen,
                reported_on: Date::from_days(19_000),
                reporting_state: None,
                reference: Reference::EMPTY,
            }
        })
        .collect();
    let bytes = build(IndexKind::Base, specimens.iter().map(|r| Entry::Record(*r)));
    let layered = LayeredIndex::new(Index::open(&bytes[..]).unwrap(), Vec::new()).unwrap();
    let mut tried = 0;
    for (lines, number) in VECTORS {
        // Line and column of the number in the MRZ text.
        let (row, col) = if lines.len() == 3 { (0, 5) } else { (1, 0) };
        for (i, c) in number.bytes().enumerate() {
            let Some(partner) = sltd_model::possible::confusable_partner(c) else {
                continue;
            };
            let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            text[row].replace_range(col + i..col + i + 1, &char::from(partner).to_string());
            let m = Mrz::parse(&text.join("\n")).unwrap();
            let q = m.query();
            let mut exact = Vec::new();
            layered.lookup(&q, &mut exact).unwrap();
            assert!(exact.is_empty(), "{text:?} must not hit");
            let found = answer(&layered, &q, Some(&m));
            let first = found
                .first()
                .unwrap_or_else(|| panic!("nothing offered for {text:?}"));
            assert_eq!(first.record.key.number.as_str(), *number, "{text:?}");
            let PossibleMatchReason::ConfusableCharacter {
                position,
                fixes_check_digit,
                ..
            } = first.reason
            else {
                panic!("{first:?}");
            };
            assert_eq!(position, i + 1);
            // 6 and G have the same check digit value; no number here has
            // either, so every misread breaks the check digit.
            let cd = m
                .check_digit(sltd_model::mrz::CheckDigitField::DocumentNumber)
                .unwrap();
            assert!(!cd.valid, "{text:?}");
            assert!(fixes_check_digit, "{text:?}: {first}");
            tried += 1;
        }
    }
    assert!(tried >= 10, "{tried}");
}
