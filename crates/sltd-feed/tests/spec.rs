//! The worked examples of `docs/FEED.md`, read from the document itself:
//! the encoders must produce exactly the bytes it shows and the decoders
//! must accept them, and the encoding rules it states (JSON, base64, hex,
//! zstd framing) must be the ones the verifiers apply. A spec edit that
//! drifts from the code fails here.

#[path = "../../sltd-index/tests/spec_blocks/mod.rs"]
mod spec_blocks;

use std::collections::BTreeMap;

use sltd_feed::apply::PendingState;
use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::keys::{Envelope, KeySet, SecretKey, pae, seal};
use sltd_feed::metadata::{CHECKPOINT_TYPE, Checkpoint, DELTA_TYPE, Limits, Root};
use sltd_feed::state::{StateHash, leaf_hash};
use sltd_feed::{FeedError, b64, decode_record, encode_key, encode_record, hex, now_unix, sha256};
use sltd_model::{DocumentKey, DocumentType, IssuingState, Record, Reference};
use spec_blocks::{block, columns, lines, to_hex};

const FEED: &str = include_str!("../../../docs/FEED.md");

/// A record from a line in the export schema (no quoting in the examples).
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

fn hex_block(name: &str) -> Vec<u8> {
    spec_blocks::hex(block(FEED, name))
}

fn one_line(name: &str) -> &'static str {
    let mut l = lines(block(FEED, name));
    let first = l.next().unwrap();
    assert!(l.next().is_none(), "{name} has one line");
    first
}

/// The labelled lines of a block, in order.
fn labelled(name: &str) -> Vec<(&'static str, &'static str)> {
    lines(block(FEED, name))
        .map(|l| {
            let c = columns(l);
            assert_eq!(c.len(), 2, "{l:?}");
            (c[0], c[1])
        })
        .collect()
}

fn test_key() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

fn test_root() -> Root {
    let k = test_key();
    let offline = SecretKey::from_seed(&[200; 32]);
    let r = Root {
        feed: "t".into(),
        version: 1,
        expires_at: now_unix() + 1000,
        // Signing with the online key `k` is what these tests exercise; the
        // root role holds another key.
        root_keys: KeySet {
            keys: vec![offline.public().clone()],
            threshold: 1,
        },
        online_keys: KeySet {
            keys: vec![k.public().clone()],
            threshold: 1,
        },
        max_checkpoint_validity: 30 * 86_400,
        limits: Limits::default(),
    };
    Root::from_trusted_bytes(&r.seal(&[&offline])).unwrap()
}

#[test]
fn canonical_record_and_key() {
    let r = record(one_line("feed-record-input"));
    let mut out = Vec::new();
    encode_record(&r, &mut out);
    assert_eq!(to_hex(&out), to_hex(&hex_block("feed-record")));
    assert_eq!(decode_record(&hex_block("feed-record")).unwrap(), r);
    let mut k = Vec::new();
    encode_key(&r.key, &mut k);
    assert_eq!(to_hex(&k), to_hex(&hex_block("feed-key")));
}

fn example_ops() -> Vec<Op> {
    lines(block(FEED, "delta-ops-input"))
        .map(|l| match columns(l).as_slice() {
            ["delete", k] => Op::Delete(key(k)),
            ["upsert", csv] => Op::Upsert(record(csv)),
            other => panic!("not an operation: {other:?}"),
        })
        .collect()
}

/// The state the example operations apply to: the record of 3.1 (whose
/// key the example deletes).
fn example_prev_state() -> Vec<Record> {
    vec![record(one_line("feed-record-input"))]
}

fn example_next_state() -> Vec<Record> {
    let mut m: BTreeMap<DocumentKey, Record> = example_prev_state()
        .into_iter()
        .map(|r| (r.key, r))
        .collect();
    for op in example_ops() {
        match op {
            Op::Upsert(r) => m.insert(r.key, r),
            Op::Delete(k) => m.remove(&k),
        };
    }
    m.into_values().collect()
}

/// A signed delta file for the example operations with `body` as its body.
fn example_delta_file(body: &[u8], raw_len: usize) -> Vec<u8> {
    let (prev, next) = (example_prev_state(), example_next_state());
    let ops = example_ops();
    let upserts = ops.iter().filter(|o| matches!(o, Op::Upsert(_))).count();
    let header = serde_json::json!({
        "spec_version": 2,
        "feed": "t",
        "root_version": 1,
        "sequence": 1,
        "prev_state_root": hex(&StateHash::of(&prev).root()),
        "state_root": hex(&StateHash::of(&next).root()),
        "prev_record_count": prev.len(),
        "record_count": next.len(),
        "issued_at": 1,
        "upserts": upserts,
        "deletes": ops.len() - upserts,
        "body_length": body.len(),
        "body_raw_length": raw_len,
        "body_sha256": hex(&sha256(body)),
    });
    let env = seal(
        DELTA_TYPE,
        &serde_json::to_vec(&header).unwrap(),
        &[&test_key()],
    );
    let mut out = b"SLTDDLT1".to_vec();
    out.extend_from_slice(&(env.len() as u32).to_le_bytes());
    out.extend_from_slice(&env);
    out.extend_from_slice(body);
    out
}

fn verify_and_apply(file: &[u8]) -> Result<Vec<Op>, FeedError> {
    let prev = example_prev_state();
    let model: BTreeMap<DocumentKey, Record> = prev.iter().map(|r| (r.key, *r)).collect();
    let hash = StateHash::of(&prev);
    let v = delta::verify(&test_root(), file, 1, &hash.root())?;
    let mut pending = PendingState::new(&model, hash, 0);
    pending.apply(&v)?;
    assert_eq!(pending.root(), &StateHash::of(&example_next_state()).root());
    Ok(v.ops)
}

#[test]
fn delta_operations() {
    let ops = example_ops();
    let (prev, next) = (example_prev_state(), example_next_state());
    let header = DeltaHeader {
        feed: "t".into(),
        root_version: 1,
        sequence: 1,
        prev_state_root: StateHash::of(&prev).root(),
        state_root: StateHash::of(&next).root(),
        prev_record_count: prev.len() as u64,
        record_count: next.len() as u64,
        issued_at: 1,
        upserts: 1,
        deletes: 1,
    };
    let file = delta::encode(&header, &ops, &[&test_key()]).unwrap();
    // The body the encoder wrote decompresses to the document's bytes.
    let hlen = u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize;
    let body = &file[12 + hlen..];
    let raw = zstd::bulk::decompress(body, 1 << 20).unwrap();
    assert_eq!(to_hex(&raw), to_hex(&hex_block("delta-ops")));
    assert_eq!(verify_and_apply(&file).unwrap(), ops);
}

#[test]
fn a_hand_made_zstd_frame() {
    let frame = hex_block("zstd-frame");
    let ops = hex_block("delta-ops");
    // Magic, descriptor, content size, block header, then the data.
    assert_eq!(frame[9..], ops[..]);
    assert_eq!(usize::from(frame[5]), ops.len());
    assert_eq!(zstd::bulk::decompress(&frame, 1 << 20).unwrap(), ops);
    let file = example_delta_file(&frame, ops.len());
    assert_eq!(verify_and_apply(&file).unwrap(), example_ops());
}

/// A frame of `content` in raw blocks, not single-segment, whose window
/// descriptor says 2^`window_log` bytes.
fn frame_with_window(window_log: u8, content: &[u8]) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame_Content_Size_flag 2 (4 bytes), no single segment.
    f.push(0x80);
    f.push((window_log - 10) << 3);
    f.extend_from_slice(&(content.len() as u32).to_le_bytes());
    let header = ((content.len() as u32) << 3) | 1;
    f.extend_from_slice(&header.to_le_bytes()[..3]);
    f.extend_from_slice(content);
    f
}

#[test]
fn the_window_limit_is_128_mib() {
    let ops = hex_block("delta-ops");
    let ok = frame_with_window(27, &ops);
    assert_eq!(
        verify_and_apply(&example_delta_file(&ok, ops.len())).unwrap(),
        example_ops()
    );
    let big = frame_with_window(28, &ops);
    assert!(matches!(
        verify_and_apply(&example_delta_file(&big, ops.len())),
        Err(FeedError::Malformed { .. })
    ));
}

#[test]
fn signature_example() {
    let rows = labelled("signature");
    let get = |label: &str| {
        rows.iter()
            .find(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("no {label}"))
            .1
    };
    let seed = sltd_feed::parse_hash_hex(get("seed")).unwrap();
    assert_eq!(seed, [1; 32]);
    let k = SecretKey::from_seed(&seed);
    assert_eq!(b64(k.public().key.as_bytes()), get("public key"));
    assert_eq!(k.keyid(), get("key id"));
    assert_eq!(hex(&sha256(k.public().key.as_bytes())), get("key id"));
    let (ptype, payload) = (get("payload type"), get("payload"));
    assert_eq!(ptype, CHECKPOINT_TYPE);
    let msg = pae(ptype, payload.as_bytes());
    assert_eq!(String::from_utf8(msg.clone()).unwrap(), get("PAE"));
    assert_eq!(b64(&k.sign(&msg)), get("signature"));
    // The publisher's envelope, byte for byte, and it verifies.
    let env = seal(ptype, payload.as_bytes(), &[&k]);
    assert_eq!(String::from_utf8(env).unwrap(), block(FEED, "envelope"));
    let parsed = Envelope::parse(block(FEED, "envelope").as_bytes(), "example", ptype).unwrap();
    assert_eq!(parsed.payload, payload.as_bytes());
    let keys = KeySet {
        keys: vec![k.public().clone()],
        threshold: 1,
    };
    parsed.verify(&keys, "example").unwrap();
}

#[test]
fn state_root_example() {
    let rows = labelled("state-root");
    assert_eq!(rows[0].0, "empty state root");
    assert_eq!(hex(&StateHash::empty().root()), rows[0].1);
    let mut records = Vec::new();
    let mut rest = &rows[1..];
    while let [
        ("record", csv),
        ("leaf", leaf),
        ("bucket", bucket),
        tail @ ..,
    ] = rest
    {
        let r = record(csv);
        let l = leaf_hash(&r);
        assert_eq!(hex(&l), *leaf);
        assert_eq!(u16::from_be_bytes([l[0], l[1]]).to_string(), *bucket);
        records.push(r);
        rest = tail;
    }
    assert_eq!(records.len(), 2);
    assert_eq!(rest, [("state root", rest[0].1)]);
    assert_eq!(hex(&StateHash::of(&records).root()), rest[0].1);
}

fn checkpoint_json() -> serde_json::Value {
    serde_json::json!({
        "spec_version": 2,
        "feed": "t",
        "root_version": 1,
        "sequence": 0,
        "state_root": hex(&StateHash::empty().root()),
        "record_count": 0,
        "issued_at": now_unix(),
        "expires_at": now_unix() + 100,
        "delta": null,
        "snapshot": null,
    })
}

fn verify_payload(payload: &[u8]) -> Result<Checkpoint, FeedError> {
    let bytes = seal(CHECKPOINT_TYPE, payload, &[&test_key()]);
    Checkpoint::verify(&test_root(), &bytes, now_unix())
}

#[test]
fn json_payload_rules() {
    let good = serde_json::to_string(&checkpoint_json()).unwrap();
    assert!(verify_payload(good.as_bytes()).is_ok());
    // White space around the object is allowed.
    assert!(verify_payload(format!(" \n{good}\n ").as_bytes()).is_ok());
    // An unknown field is ignored.
    let mut more = checkpoint_json();
    more["comment"] = "hello".into();
    assert!(verify_payload(&serde_json::to_vec(&more).unwrap()).is_ok());
    let refused = |payload: String| {
        assert!(
            matches!(
                verify_payload(payload.as_bytes()),
                Err(FeedError::Malformed { .. })
            ),
            "{payload}"
        );
    };
    // Trailing bytes, a field twice, a fractional or negative count.
    refused(format!("{good}x"));
    refused(good.replacen("{", "{\"sequence\":0,", 1));
    refused(good.replace("\"record_count\":0", "\"record_count\":0.0"));
    refused(good.replace("\"record_count\":0", "\"record_count\":-1"));
    // Hashes are lowercase hex.
    refused(good.replace(
        &hex(&StateHash::empty().root()),
        &hex(&StateHash::empty().root()).to_uppercase(),
    ));
    // Base64 must be canonical: drop the payload's padding.
    let env = String::from_utf8(seal(CHECKPOINT_TYPE, good.as_bytes(), &[&test_key()])).unwrap();
    let padded = b64(good.as_bytes());
    assert!(padded.ends_with('='), "the example payload needs padding");
    let unpadded = env.replace(&padded, padded.trim_end_matches('='));
    assert!(matches!(
        Checkpoint::verify(&test_root(), unpadded.as_bytes(), now_unix()),
        Err(FeedError::Malformed { .. })
    ));
}
