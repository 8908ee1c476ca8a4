//! Property tests: the index must answer exactly like a plain `HashMap` model
//! holding the same records, for stored keys, near-misses and number-only
//! queries; and its bytes must depend only on the set of records.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use sltd_index::{BuildOptions, Entry, Index, IndexBuilder, IndexKind, LayeredIndex, merge_layers};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, Query, Record, Reference, Status,
};

const STATES: &[&str] = &["UTO", "D", "FRA", "GB", "USA", "XXA", "A", "ZZZ"];
const TYPES: &[&str] = &["P", "PP", "PD", "I", "ID", "AC", "V", "C"];

fn number_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        // Short numbers that collide across states often.
        "[0-9]{1,3}",
        "[A-Z0-9]{5,12}",
        // Maximum length.
        "[A-Z0-9]{30}",
        "[A-Z]{1,2}[0-9]{6,8}",
    ]
}

fn record_strategy() -> impl Strategy<Value = Record> {
    (
        0..STATES.len(),
        number_strategy(),
        0..TYPES.len(),
        0..5u8,
        any::<u16>(),
        proptest::option::of(0..STATES.len()),
        "[ -~]{0,32}",
    )
        .prop_map(|(s, n, t, st, d, rs, r)| Record {
            key: DocumentKey::normalise(STATES[s], &n).unwrap(),
            doc_type: DocumentType::normalise(TYPES[t]).unwrap(),
            status: Status::from_code(st).unwrap(),
            reported_on: Date::from_days(d),
            reporting_state: rs.map(|i| IssuingState::normalise(STATES[i]).unwrap()),
            reference: Reference::new(&r).unwrap(),
        })
}

/// What the index should hold: one record per key, the one with the greatest
/// precedence.
fn model(records: &[Record]) -> HashMap<DocumentKey, Record> {
    let mut m: HashMap<DocumentKey, Record> = HashMap::new();
    for r in records {
        m.entry(r.key)
            .and_modify(|old| {
                if r.precedence(old).is_gt() {
                    *old = *r;
                }
            })
            .or_insert(*r);
    }
    m
}

fn build(records: &[Record]) -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions {
        created_at: 1_700_000_000,
        ..BuildOptions::default()
    });
    for r in records {
        b.push(*r);
    }
    b.finish().unwrap().bytes
}

fn sorted(mut v: Vec<Record>) -> Vec<Record> {
    v.sort_by_key(|r| (r.key, r.doc_type));
    v
}

fn model_answer(m: &HashMap<DocumentKey, Record>, q: &Query) -> Vec<Record> {
    sorted(m.values().filter(|r| q.matches(r)).copied().collect())
}

/// Variants of a stored number that must not hit unless stored themselves.
fn near_misses(n: &DocumentNumber) -> Vec<String> {
    let s = n.as_str();
    let mut out = Vec::new();
    if s.len() > 1 {
        out.push(s[..s.len() - 1].to_string()); // prefix
        out.push(s[1..].to_string()); // suffix
    }
    if s.len() < 30 {
        out.push(format!("{s}0")); // extension
    }
    // One character changed, including OCR confusions.
    for (i, c) in s.char_indices() {
        let swap = match c {
            '0' => 'O',
            'O' => '0',
            '1' => 'I',
            '8' => 'B',
            '5' => 'S',
            'Z' => '2',
            '9' => 'A',
            _ => '9',
        };
        let mut t = s.to_string();
        t.replace_range(i..i + 1, &swap.to_string());
        out.push(t);
    }
    out
}

fn queries_for(m: &HashMap<DocumentKey, Record>, r: &Record) -> Vec<Query> {
    let mut qs = vec![Query::number(r.key.number)];
    for s in STATES {
        for t in [None, Some("P"), Some("I"), Some("V")] {
            qs.push(Query {
                number: r.key.number,
                state: Some(IssuingState::normalise(s).unwrap()),
                doc_type: t.map(|t| DocumentType::normalise(t).unwrap()),
            });
        }
    }
    for miss in near_misses(&r.key.number) {
        let number = DocumentNumber::normalise(&miss).unwrap();
        qs.push(Query::number(number));
        qs.push(Query {
            number,
            state: Some(r.key.state),
            doc_type: None,
        });
    }
    let _ = m;
    qs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn index_answers_like_a_hashmap(records in proptest::collection::vec(record_strategy(), 0..400)) {
        let bytes = build(&records);
        let index = Index::open(&bytes[..]).unwrap();
        index.verify().unwrap();
        let m = model(&records);
        prop_assert_eq!(index.header().record_count, m.len() as u64);
        prop_assert_eq!(index.header().duplicates_dropped, (records.len() - m.len()) as u64);
        let mut all_queries = Vec::new();
        for r in &records {
            for q in queries_for(&m, r) {
                let mut got = Vec::new();
                index.lookup(&q, &mut got).unwrap();
                prop_assert_eq!(sorted(got), model_answer(&m, &q), "query {:?}", q);
                all_queries.push(q);
            }
            let stored = index.get(&r.key).unwrap();
            prop_assert_eq!(stored, Some(Entry::Record(m[&r.key])));
        }
        // Batched lookups give the same answers as single ones.
        let mut batched: Vec<Vec<Record>> = vec![Vec::new(); all_queries.len()];
        index.lookup_batch(&all_queries, |i, r| batched[i].push(r)).unwrap();
        for (q, got) in all_queries.iter().zip(batched) {
            prop_assert_eq!(sorted(got), model_answer(&m, q));
        }
        // Iteration yields exactly the model's records.
        let mut listed: Vec<Record> = index
            .entries()
            .map(|e| match e.unwrap() { Entry::Record(r) => r, Entry::Deleted(_) => unreachable!() })
            .collect();
        listed = sorted(listed);
        let mut want: Vec<Record> = m.values().copied().collect();
        want = sorted(want);
        prop_assert_eq!(listed, want);
    }

    #[test]
    fn output_depends_only_on_the_record_set(
        records in proptest::collection::vec(record_strategy(), 1..200),
        seed in any::<u64>(),
    ) {
        // Distinct records (one per key), shuffled.
        let distinct: Vec<Record> = model(&records).into_values().collect();
        let mut shuffled = distinct.clone();
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(build(&distinct), build(&shuffled));
    }

    #[test]
    fn segments_override_the_base(
        base in proptest::collection::vec(record_strategy(), 0..150),
        upserts in proptest::collection::vec(record_strategy(), 0..40),
        deletes in proptest::collection::vec(0usize..1000, 0..40),
    ) {
        let mut m = model(&base);
        let base_keys: Vec<DocumentKey> = m.keys().copied().collect();
        let mut seg = IndexBuilder::new(BuildOptions { kind: IndexKind::Segment, ..BuildOptions::default() });
        let mut seg_entries: HashMap<DocumentKey, Entry> = HashMap::new();
        for r in &upserts {
            seg_entries.insert(r.key, Entry::Record(*r));
        }
        for d in &deletes {
            if let Some(k) = base_keys.get(d % base_keys.len().max(1)) {
                seg_entries.entry(*k).or_insert(Entry::Deleted(*k));
            }
        }
        for e in seg_entries.values() {
            seg.push_entry(*e).unwrap();
            match e {
                Entry::Record(r) => { m.insert(r.key, *r); }
                Entry::Deleted(k) => { m.remove(k); }
            }
        }
        let seg_bytes = seg.finish().unwrap().bytes;
        let base_bytes = build(&base);
        let seg_index = Index::open(&seg_bytes[..]).unwrap();
        seg_index.verify().unwrap();
        let layered = LayeredIndex::new(Index::open(&base_bytes[..]).unwrap(), vec![seg_index]).unwrap();
        for r in base.iter().chain(&upserts) {
            for q in queries_for(&m, r) {
                let mut got = Vec::new();
                layered.lookup(&q, &mut got).unwrap();
                prop_assert_eq!(sorted(got), model_answer(&m, &q));
            }
            prop_assert_eq!(layered.get(&r.key).unwrap(), m.get(&r.key).copied());
        }
        let queries: Vec<Query> = base.iter().chain(&upserts).flat_map(|r| queries_for(&m, r)).collect();
        let mut batched: Vec<Vec<Record>> = vec![Vec::new(); queries.len()];
        layered.lookup_batch(&queries, |i, r| batched[i].push(r)).unwrap();
        for (q, got) in queries.iter().zip(batched) {
            prop_assert_eq!(sorted(got), model_answer(&m, q));
        }
    }

    #[test]
    fn merged_layers_serve_what_the_stack_serves(
        base in proptest::collection::vec(record_strategy(), 0..150),
        layers in proptest::collection::vec(
            proptest::collection::vec((record_strategy(), any::<bool>(), 0usize..1000), 0..30),
            0..4,
        ),
    ) {
        // A model of the layered view: the base's records, then each layer
        // (oldest first) upserting or deleting keys.
        let mut m: BTreeMap<DocumentKey, Record> = model(&base).into_iter().collect();
        let mut merged_model: BTreeMap<DocumentKey, Entry> = BTreeMap::new();
        let mut segments = Vec::new();
        for layer in &layers {
            let known: Vec<DocumentKey> = m.keys().copied().collect();
            let mut entries: BTreeMap<DocumentKey, Entry> = BTreeMap::new();
            for (r, delete, pick) in layer {
                let e = match known.get(pick % known.len().max(1)) {
                    Some(k) if *delete => Entry::Deleted(*k),
                    _ => Entry::Record(*r),
                };
                entries.insert(*e.key(), e);
            }
            let mut seg = IndexBuilder::new(BuildOptions { kind: IndexKind::Segment, ..BuildOptions::default() });
            for e in entries.values() {
                seg.push_entry(*e).unwrap();
                match e {
                    Entry::Record(r) => { m.insert(r.key, *r); }
                    Entry::Deleted(k) => { m.remove(k); }
                }
                merged_model.insert(*e.key(), *e);
            }
            segments.push(seg.finish().unwrap().bytes);
        }
        let base_bytes = build(&base);
        let opened: Vec<Index<&[u8]>> = segments.iter().map(|b| Index::open(&b[..]).unwrap()).collect();
        prop_assert_eq!(merge_layers(&opened).unwrap(), merged_model);
        let layered = LayeredIndex::new(Index::open(&base_bytes[..]).unwrap(), opened).unwrap();
        let mut served: BTreeMap<DocumentKey, Record> = BTreeMap::new();
        layered.for_each_record(|r| {
            assert!(served.insert(r.key, r).is_none(), "a key served twice");
        }).unwrap();
        prop_assert_eq!(served, m);
    }
}

#[test]
fn same_number_in_many_states_overflows_buckets_correctly() {
    // 500 states' worth of records for one number would overflow any bucket;
    // use every 1-3 letter combination we can for a few numbers.
    let mut records = Vec::new();
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (i, a) in letters.iter().enumerate() {
        for b in &letters[..10] {
            let state = format!("{}{}", *a as char, *b as char);
            for n in ["123", "L898902C3"] {
                records.push(Record {
                    key: DocumentKey::normalise(&state, n).unwrap(),
                    doc_type: DocumentType::normalise(if i % 2 == 0 { "P" } else { "I" }).unwrap(),
                    status: Status::Lost,
                    reported_on: Date::from_days(19_000),
                    reporting_state: None,
                    reference: Reference::EMPTY,
                });
            }
        }
    }
    let bytes = build(&records);
    let index = Index::open(&bytes[..]).unwrap();
    index.verify().unwrap();
    let mut out = Vec::new();
    index
        .lookup(
            &Query::number(DocumentNumber::normalise("123").unwrap()),
            &mut out,
        )
        .unwrap();
    assert_eq!(out.len(), 260);
    out.clear();
    let q = Query {
        number: DocumentNumber::normalise("L898902C3").unwrap(),
        state: Some(IssuingState::normalise("QC").unwrap()),
        doc_type: None,
    };
    index.lookup(&q, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key.state.as_str(), "QC");
}

#[test]
fn empty_index_answers_nothing() {
    let bytes = build(&[]);
    let index = Index::open(&bytes[..]).unwrap();
    index.verify().unwrap();
    let mut out = Vec::new();
    index
        .lookup(
            &Query::number(DocumentNumber::normalise("X1").unwrap()),
            &mut out,
        )
        .unwrap();
    assert!(out.is_empty());
}

#[test]
fn deletions_are_refused_in_a_base() {
    let mut b = IndexBuilder::new(BuildOptions::default());
    let key = DocumentKey::normalise("UTO", "X1").unwrap();
    assert!(b.push_entry(Entry::Deleted(key)).is_err());
}

/// The bytes do not depend on how many threads built them: enough entries
/// for the parallel sort, with duplicate keys across the hash halves.
#[test]
fn output_is_the_same_on_one_thread_and_on_two() {
    let records: Vec<Record> = sltd_export::generate::generate(70_000, 11)
        .chain(sltd_export::generate::generate(5_000, 11))
        .collect();
    let build = |threads: usize, reversed: bool| {
        let mut b = IndexBuilder::new(BuildOptions {
            created_at: 1_700_000_000,
            ..BuildOptions::default()
        })
        .threads(threads);
        if reversed {
            records.iter().rev().for_each(|r| b.push(*r));
        } else {
            records.iter().for_each(|r| b.push(*r));
        }
        b.finish().unwrap().bytes
    };
    let one = build(1, false);
    assert_eq!(one, build(2, false), "one thread and two differ");
    assert_eq!(one, build(2, true), "input order changed the bytes");
    Index::open(&one[..]).unwrap().verify().unwrap();
}
