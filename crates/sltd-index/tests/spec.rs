//! The worked examples of `docs/FORMAT.md` and `docs/MATCHING.md`, read
//! from the documents themselves: the builder must produce exactly the
//! bytes they show, the reader must accept them, and the normalisation and
//! precedence rules must give the results they list. A spec edit that
//! drifts from the code fails here.

mod spec_blocks;

use std::collections::BTreeMap;

use sltd_index::{BuildOptions, Entry, Index, IndexBuilder, IndexError, IndexKind};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, ModelError, Query, Record,
    Reference, Status,
};
use spec_blocks::{block, columns, hex, lines, to_hex};

const FORMAT: &str = include_str!("../../../docs/FORMAT.md");
const MATCHING: &str = include_str!("../../../docs/MATCHING.md");

/// A record from a line in the export schema (no quoting in the examples):
/// issuing_country, document_type, document_number, status, reported_on,
/// reference, reporting_country.
fn record(csv: &str) -> Record {
    let c: Vec<&str> = csv.split(',').collect();
    assert_eq!(c.len(), 7, "seven columns in {csv:?}");
    Record {
        key: DocumentKey::normalise(c[0], c[2]).unwrap(),
        doc_type: DocumentType::normalise(c[1]).unwrap(),
        status: c[3].parse().unwrap(),
        reported_on: c[4].parse().unwrap(),
        reference: Reference::new(c[5]).unwrap(),
        reporting_state: (!c[6].is_empty()).then(|| IssuingState::normalise(c[6]).unwrap()),
    }
}

fn key(text: &str) -> DocumentKey {
    let (state, number) = text.split_once('/').unwrap();
    DocumentKey::normalise(state, number).unwrap()
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// How the examples word a refusal.
fn refusal(e: &ModelError) -> String {
    use ModelError::*;
    let what = match e {
        EmptyNumber | EmptyState | EmptyType => "empty".to_string(),
        NumberTooLong { len } | StateTooLong { len } | TypeTooLong { len } => {
            format!("too long, {len} characters")
        }
        InvalidNumberChar { ch } | InvalidStateChar { ch } | InvalidTypeChar { ch } => {
            format!("character {}", json(&ch.to_string()))
        }
        UnknownStatus { .. } => "unknown".into(),
        InvalidDate { .. } => "not a date".into(),
        DateOutOfRange { .. } => "out of range".into(),
        ReferenceTooLong { len } => format!("too long, {len} bytes"),
        InvalidReferenceChar => "control character or not UTF-8".into(),
        other => panic!("no wording for {other:?}"),
    };
    format!("refused: {what}")
}

/// A result as the test words it: JSON strings in it re-encoded the way
/// `json` does, so that `"\u00a0"` and a literal U+00A0 compare equal.
fn canonical(result: &str) -> String {
    let (prefix, rest) = match result.find('"') {
        Some(i) => result.split_at(i),
        None => return result.to_string(),
    };
    let s: String = serde_json::from_str(rest)
        .unwrap_or_else(|e| panic!("bad JSON string in result {result:?}: {e}"));
    format!("{prefix}{}", json(&s))
}

/// Each line of a MATCHING.md table: a JSON string, then the result.
fn table(name: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = lines(block(MATCHING, name))
        .map(|line| {
            let mut values = serde_json::Deserializer::from_str(line).into_iter::<String>();
            let input = values
                .next()
                .unwrap_or_else(|| panic!("no JSON string in {line:?}"))
                .unwrap();
            let result = canonical(line[values.byte_offset()..].trim());
            (input, result)
        })
        .collect();
    assert!(rows.len() >= 5, "{name} has examples");
    rows
}

fn check_table<T>(
    name: &str,
    f: impl Fn(&str) -> Result<T, ModelError>,
    show: impl Fn(T) -> String,
) {
    for (input, expected) in table(name) {
        let got = match f(&input) {
            Ok(v) => show(v),
            Err(e) => refusal(&e),
        };
        assert_eq!(got, expected, "{name}: input {}", json(&input));
    }
}

#[test]
fn normalisation_examples() {
    check_table("normalise-number", DocumentNumber::normalise, |n| {
        n.as_str().to_string()
    });
    check_table("normalise-state", IssuingState::normalise, |s| {
        s.as_str().to_string()
    });
    check_table("normalise-type", DocumentType::normalise, |t| {
        t.as_str().to_string()
    });
    check_table("status", |s| s.parse::<Status>(), |s| s.code().to_string());
    check_table("dates", |s| s.parse::<Date>(), |d| d.days().to_string());
    check_table("reference", Reference::new, |r| json(r.as_str()));
}

#[test]
fn key_order_example() {
    let keys: Vec<DocumentKey> = lines(block(MATCHING, "key-order")).map(key).collect();
    assert!(keys.len() >= 5);
    for w in keys.windows(2) {
        assert!(w[0] < w[1], "{} before {}", w[0], w[1]);
    }
    let mut shuffled = keys.clone();
    shuffled.reverse();
    shuffled.sort();
    assert_eq!(shuffled, keys);
}

/// The duplicate rule read as plain alphabetical order of the strings
/// (status still by code): what the document says is *not* the rule.
fn alphabetical(a: &Record, b: &Record) -> std::cmp::Ordering {
    let view = |r: &Record| {
        (
            r.reported_on,
            r.status.code(),
            r.doc_type.as_str().to_string(),
            r.reporting_state.map(|s| s.as_str().to_string()),
            r.reference.as_str().to_string(),
        )
    };
    view(a).cmp(&view(b))
}

#[test]
fn duplicate_key_examples() {
    let mut groups: BTreeMap<String, Vec<(Record, String)>> = BTreeMap::new();
    for line in lines(block(MATCHING, "duplicates")) {
        let c = columns(line);
        assert_eq!(c.len(), 3, "{line:?}");
        groups
            .entry(c[0].to_string())
            .or_default()
            .push((record(c[1]), c[2].to_string()));
    }
    assert!(groups.len() >= 5);
    for (group, rows) in &groups {
        let kept: Vec<&Record> = rows
            .iter()
            .filter(|(_, o)| o == "kept")
            .map(|(r, _)| r)
            .collect();
        assert_eq!(kept.len(), 1, "group {group} keeps one record");
        let kept = *kept[0];
        // The builder keeps it, whatever the input order.
        for order in [false, true] {
            let mut b = IndexBuilder::new(BuildOptions::default());
            let mut input: Vec<Record> = rows.iter().map(|(r, _)| *r).collect();
            if order {
                input.reverse();
            }
            for r in input {
                b.push(r);
            }
            let built = b.finish().unwrap();
            assert_eq!(built.header.duplicates_dropped, rows.len() as u64 - 1);
            let idx = Index::open(&built.bytes[..]).unwrap();
            assert_eq!(
                idx.get(&kept.key).unwrap(),
                Some(Entry::Record(kept)),
                "group {group}"
            );
        }
        // `Record::precedence` is the rule the document states.
        let greatest = rows
            .iter()
            .map(|(r, _)| r)
            .max_by(|a, b| a.precedence(b))
            .unwrap();
        assert_eq!(*greatest, kept, "group {group}");
        // Where the document says an alphabetical reading differs, it does.
        let alpha = rows
            .iter()
            .map(|(r, _)| r)
            .max_by(|a, b| alphabetical(a, b))
            .unwrap();
        let alpha_claim = rows
            .iter()
            .find(|(_, o)| o == "dropped (alphabetical: kept)")
            .map_or(kept, |(r, _)| *r);
        assert_eq!(*alpha, alpha_claim, "group {group}, alphabetical reading");
        for (_, o) in rows {
            assert!(
                ["kept", "dropped", "dropped (alphabetical: kept)"].contains(&o.as_str()),
                "outcome {o:?}"
            );
        }
    }
}

#[test]
fn hash_examples() {
    let header = header_fields();
    let seed = u64::from_str_radix(header["hash_seed"].trim_start_matches("0x"), 16).unwrap();
    assert!(FORMAT.contains(&format!("`{:#018x}`", seed)));
    for line in lines(block(FORMAT, "hash")) {
        let c = columns(line);
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(c[0].as_bytes(), seed);
        assert_eq!(format!("{h:016x}"), c[1], "{line}");
        assert_eq!(format!("{:04x}", h & 0xffff), c[2], "{line}");
        let home = ((h >> 32) * 1000) >> 32;
        assert_eq!(home.to_string(), c[3], "{line}");
    }
}

/// The records section of a one-entry file.
fn single_entry_file(kind: IndexKind, entry: Entry) -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions {
        kind,
        ..BuildOptions::default()
    });
    b.push_entry(entry).unwrap();
    b.finish().unwrap().bytes
}

fn records_section(file: &[u8]) -> &[u8] {
    let h = Index::open(file).unwrap().header().clone();
    &file[h.records_offset as usize..(h.records_offset + h.records_len) as usize]
}

fn check_entry_example(name: &str, kind: IndexKind, entry: Entry) {
    let expected = hex(block(FORMAT, name));
    let file = single_entry_file(kind, entry);
    let records = records_section(&file);
    assert_eq!(records.len(), 64, "one line");
    assert_eq!(
        to_hex(&records[..expected.len()]),
        to_hex(&expected),
        "{name}"
    );
    assert!(records[expected.len()..].iter().all(|&b| b == 0));
    // The length the format gives for these bytes is theirs.
    assert_eq!(entry_len(&expected), expected.len(), "{name}");
    let idx = Index::open(&file[..]).unwrap();
    idx.verify().unwrap();
    assert_eq!(idx.get(entry.key()).unwrap(), Some(entry));
}

/// An entry's length from its first bytes, as the format states it.
fn entry_len(b: &[u8]) -> usize {
    let l = usize::from(b[0] & 0x1f);
    let state = u16::from_le_bytes([b[1], b[2]]);
    let tr = u16::from_le_bytes([b[3], b[4]]);
    7 + if state & 0x8000 != 0 { 2 } else { 0 } + (6 * l).div_ceil(8) + usize::from(tr >> 10)
}

#[test]
fn record_examples() {
    let one = |name: &str| record(lines(block(FORMAT, name)).next().unwrap());
    check_entry_example(
        "index-record",
        IndexKind::Base,
        Entry::Record(one("index-record-input")),
    );
    check_entry_example(
        "index-record-reporting",
        IndexKind::Segment,
        Entry::Record(one("index-record-reporting-input")),
    );
    let deleted = key(lines(block(FORMAT, "index-deletion-input")).next().unwrap());
    check_entry_example(
        "index-deletion",
        IndexKind::Segment,
        Entry::Deleted(deleted),
    );
}

fn example_input() -> Vec<Record> {
    lines(block(FORMAT, "index-input"))
        .filter(|l| !l.starts_with("issuing_country,"))
        .map(record)
        .collect()
}

fn example_file() -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions {
        created_at: 1_700_000_000,
        ..BuildOptions::default()
    });
    for r in example_input() {
        b.push(r);
    }
    b.finish().unwrap().bytes
}

#[test]
fn the_example_file_byte_for_byte() {
    let doc = hex(block(FORMAT, "index-file"));
    let built = example_file();
    assert_eq!(built.len(), doc.len());
    for (i, (a, b)) in built.chunks(16).zip(doc.chunks(16)).enumerate() {
        assert_eq!(to_hex(a), to_hex(b), "line at {:04x}", i * 16);
    }
    // The document's bytes open, verify and answer.
    let idx = Index::open(&doc[..]).unwrap();
    idx.verify().unwrap();
    let mut winners: BTreeMap<DocumentKey, Record> = BTreeMap::new();
    for r in example_input() {
        let w = winners.entry(r.key).or_insert(r);
        if r.precedence(w).is_gt() {
            *w = r;
        }
    }
    for (k, r) in &winners {
        assert_eq!(idx.get(k).unwrap(), Some(Entry::Record(*r)));
    }
    let mut out = Vec::new();
    let n = DocumentNumber::normalise("L898902C3").unwrap();
    idx.lookup(&Query::number(n), &mut out).unwrap();
    assert_eq!(out.len(), 3);
}

fn header_fields() -> BTreeMap<String, String> {
    lines(block(FORMAT, "index-header"))
        .map(|l| {
            let c = columns(l);
            assert_eq!(c.len(), 2, "{l:?}");
            (c[0].to_string(), c[1].to_string())
        })
        .collect()
}

#[test]
fn the_example_header() {
    let file = example_file();
    let idx = Index::open(&file[..]).unwrap();
    let h = idx.header();
    let actual: BTreeMap<String, String> = [
        (
            "version",
            format!("{}.{}", h.version_major, h.version_minor),
        ),
        (
            "kind",
            if h.kind == IndexKind::Segment {
                "1"
            } else {
                "0"
            }
            .into(),
        ),
        ("record_count", h.record_count.to_string()),
        ("bucket_count", h.bucket_count.to_string()),
        ("home_bucket_count", h.home_bucket_count.to_string()),
        ("table_offset", h.table_offset.to_string()),
        ("table_len", h.table_len.to_string()),
        ("records_offset", h.records_offset.to_string()),
        ("records_len", h.records_len.to_string()),
        ("hash_seed", format!("{:#018x}", h.hash_seed)),
        ("max_probe", h.max_probe.to_string()),
        ("duplicates_dropped", h.duplicates_dropped.to_string()),
        ("created_at", h.created_at.to_string()),
        ("feed_sequence", h.feed_sequence.to_string()),
        ("state_root", to_hex(&h.state_root)),
        ("content_id", h.content_id_hex()),
        ("table_checksum", format!("{:#018x}", h.table_checksum)),
        ("records_checksum", format!("{:#018x}", h.records_checksum)),
        ("state_count", h.state_count.to_string()),
        ("filter_len", h.filter_len.to_string()),
        ("filter_records", h.filter_records.to_string()),
        ("chunk_shift", h.chunk_shift.to_string()),
        ("sums_checksum", format!("{:#018x}", h.sums_checksum)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(header_fields(), actual);
}

#[test]
fn the_example_bucket() {
    let file = example_file();
    let idx = Index::open(&file[..]).unwrap();
    let h = idx.header().clone();
    let keys: Vec<DocumentKey> = idx.entries().map(|e| *e.unwrap().key()).collect();
    // Read the bucket as the format describes it, not through the reader.
    let bucket = &file[256..320];
    let word = u64::from_le_bytes(bucket[..8].try_into().unwrap());
    let (base, count) = (word & ((1 << 40) - 1), (word >> 40) & 0x1f);
    let rows: Vec<Vec<&str>> = lines(block(FORMAT, "index-bucket")).map(columns).collect();
    assert_eq!(count as usize, rows.len());
    for (i, row) in rows.iter().enumerate() {
        let fp = u16::from_le_bytes([bucket[8 + 2 * i], bucket[9 + 2 * i]]);
        let g = &bucket[40 + 3 * (i / 2)..43 + 3 * (i / 2)];
        let g = u32::from_le_bytes([g[0], g[1], g[2], 0]);
        let off = if i % 2 == 0 { g & 0xfff } else { g >> 12 };
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[1], format!("{fp:04x}"), "slot {i}");
        assert_eq!(row[2], off.to_string(), "slot {i}");
        assert_eq!(key(row[3]), keys[i], "slot {i}");
        let at = h.records_offset as usize + base as usize + off as usize;
        assert_eq!(row[4], entry_len(&file[at..]).to_string(), "slot {i}");
    }
}

#[test]
fn the_example_content_id() {
    let file = example_file();
    let idx = Index::open(&file[..]).unwrap();
    let h = idx.header();
    let rows: BTreeMap<String, String> = lines(block(FORMAT, "content-id"))
        .map(|l| {
            let c = columns(l);
            (c[0].to_string(), c[1].to_string())
        })
        .collect();
    assert_eq!(hex(&rows["stored bytes 136..152"]), file[136..152].to_vec());
    assert_eq!(rows["printed content_id"], h.content_id_hex());
    let mut x = xxhash_rust::xxh3::Xxh3::new();
    x.update(&file[256..h.records_offset as usize]);
    x.update(&file[h.records_offset as usize..h.states_offset() as usize]);
    assert_eq!(
        rows["XXH128 digest (big-endian)"],
        format!("{:032x}", x.digest128())
    );
    let mut reversed = file[136..152].to_vec();
    reversed.reverse();
    assert_eq!(rows["XXH128 digest (big-endian)"], to_hex(&reversed));
}

/// Recomputes the checksums and the content identity after an edit, so
/// that only the structural rules can refuse the file.
fn reseal(file: &mut [u8]) {
    sltd_index::reseal(file).unwrap();
}

#[test]
fn bit_15_of_a_reporting_state_word_is_refused() {
    let r = record(
        lines(block(FORMAT, "index-record-reporting-input"))
            .next()
            .unwrap(),
    );
    let mut file = single_entry_file(IndexKind::Base, Entry::Record(r));
    let at = Index::open(&file[..]).unwrap().header().records_offset as usize + 7;
    file[at + 1] |= 0x80;
    reseal(&mut file);
    let idx = Index::open(&file[..]).unwrap();
    assert!(matches!(idx.verify(), Err(IndexError::Corrupt { .. })));
    assert!(matches!(idx.get(&r.key), Err(IndexError::Corrupt { .. })));
    // The same edit undone verifies again: only the bit was wrong.
    file[at + 1] &= 0x7f;
    reseal(&mut file);
    Index::open(&file[..]).unwrap().verify().unwrap();
}

/// The states and filter sections of the example, recomputed from the
/// rules the document states (not through the library's filter).
#[test]
fn the_example_states_and_filter_follow_the_document() {
    let file = example_file();
    let idx = Index::open(&file[..]).unwrap();
    let h = idx.header().clone();
    let kept: Vec<Record> = idx
        .entries()
        .map(|e| match e.unwrap() {
            Entry::Record(r) => r,
            Entry::Deleted(_) => unreachable!("a base holds records"),
        })
        .collect();
    // States: packed codes, ascending.
    let pack = |s: &[u8]| {
        let mut v = 0u16;
        for i in 0..3 {
            v = (v << 5) | s.get(i).map_or(0, |&c| u16::from(c - b'A' + 1));
        }
        v
    };
    let mut codes: Vec<u16> = kept.iter().map(|r| pack(r.key.state.as_bytes())).collect();
    codes.sort_unstable();
    codes.dedup();
    let states: Vec<u8> = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
    let at = h.states_offset() as usize;
    assert_eq!(to_hex(&file[at..at + states.len()]), to_hex(&states));
    assert_eq!(h.state_count as usize, codes.len());
    // Filter: canonical numbers, seven bits in one line each.
    let lines = (12 * kept.len() as u64)
        .div_ceil(512)
        .clamp(1, u32::MAX as u64);
    let mut filter = vec![0u8; lines as usize * 64];
    for r in &kept {
        let canonical: Vec<u8> = r
            .key
            .number
            .as_bytes()
            .iter()
            .map(|&c| match c {
                b'O' => b'0',
                b'I' => b'1',
                b'B' => b'8',
                b'S' => b'5',
                b'Z' => b'2',
                b'G' => b'6',
                c => c,
            })
            .collect();
        let hh = xxhash_rust::xxh3::xxh3_64_with_seed(&canonical, 0x7366_696c_7465_7231);
        let line = (((hh >> 32) * lines) >> 32) as usize;
        let bits = (hh ^ (hh >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        for i in 0..7 {
            let p = ((bits >> (9 * i)) & 511) as usize;
            filter[line * 64 + p / 8] |= 1 << (p % 8);
        }
    }
    let at = h.filter_offset() as usize;
    assert_eq!(h.filter_len as usize, filter.len());
    assert_eq!(to_hex(&file[at..at + filter.len()]), to_hex(&filter));
    // Sums: XXH3-64 of each 2^chunk_shift bytes after the header.
    let sums_at = h.sums_offset() as usize;
    let sums: Vec<u8> = file[256..sums_at]
        .chunks(1 << h.chunk_shift)
        .flat_map(|c| xxhash_rust::xxh3::xxh3_64(c).to_le_bytes())
        .collect();
    assert_eq!(to_hex(&file[sums_at..]), to_hex(&sums));
    assert_eq!(h.sums_checksum, xxhash_rust::xxh3::xxh3_64(&sums));
}
