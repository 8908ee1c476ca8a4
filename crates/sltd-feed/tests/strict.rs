//! The decoders accept exactly the encodings `docs/FEED.md` allows, and
//! every signed count is checked against what the client computes. Each bad
//! file here is correctly signed with the publisher's own sealing functions,
//! so only the rule under test can refuse it.

use std::collections::BTreeMap;
use std::io::Write;

use sltd_feed::apply::PendingState;
use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::keys::{KeySet, SecretKey, seal};
use sltd_feed::metadata::{
    CHECKPOINT_TYPE, Checkpoint, ChunkRef, DELTA_TYPE, Limits, Root, SnapshotManifest,
};
use sltd_feed::snapshot::decode_chunk;
use sltd_feed::state::StateHash;
use sltd_feed::{FeedError, encode_key, encode_record, hex, now_unix, sha256};
use sltd_model::{DocumentKey, Record, Status};

fn key() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

fn root() -> Root {
    let k = key();
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

/// `n` generated records with distinct keys, ascending by key.
fn records(n: u64, seed: u64) -> Vec<Record> {
    let m: BTreeMap<DocumentKey, Record> = sltd_export::generate::generate(n, seed)
        .map(|r| (r.key, r))
        .collect();
    m.into_values().collect()
}

/// Operations ascending by key: every record of `recs` upserted.
fn upserts(recs: &[Record]) -> Vec<Op> {
    recs.iter().map(|r| Op::Upsert(*r)).collect()
}

/// The decompressed body of a delta: tag, then record or key.
fn raw_ops(ops: &[Op]) -> Vec<u8> {
    let mut raw = Vec::new();
    for op in ops {
        match op {
            Op::Upsert(r) => {
                raw.push(1);
                encode_record(r, &mut raw);
            }
            Op::Delete(k) => {
                raw.push(2);
                encode_key(k, &mut raw);
            }
        }
    }
    raw
}

/// A correctly signed delta file for sequence 1 from the empty state, with
/// `body` (any bytes) as its body and `raw_len` as its signed raw length.
fn delta_file(ops: &[Op], body: &[u8], raw_len: u64) -> Vec<u8> {
    let recs: Vec<Record> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Upsert(r) => Some(*r),
            Op::Delete(_) => None,
        })
        .collect();
    let header = serde_json::json!({
        "spec_version": 2,
        "feed": "t",
        "root_version": 1,
        "sequence": 1,
        "prev_state_root": hex(&StateHash::empty().root()),
        "state_root": hex(&StateHash::of(&recs).root()),
        "prev_record_count": 0,
        "record_count": recs.len(),
        "issued_at": 1,
        "upserts": recs.len(),
        "deletes": ops.len() - recs.len(),
        "body_length": body.len(),
        "body_raw_length": raw_len,
        "body_sha256": hex(&sha256(body)),
    });
    let env = seal(DELTA_TYPE, &serde_json::to_vec(&header).unwrap(), &[&key()]);
    let mut out = b"SLTDDLT1".to_vec();
    out.extend_from_slice(&(env.len() as u32).to_le_bytes());
    out.extend_from_slice(&env);
    out.extend_from_slice(body);
    out
}

fn verify_first_delta(bytes: &[u8]) -> Result<delta::VerifiedDelta, FeedError> {
    delta::verify(&root(), bytes, 1, &StateHash::empty().root())
}

fn zstd(raw: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(raw, 3).unwrap()
}

/// A skippable frame (RFC 8878 section 3.1.2) holding `data`.
fn skippable(data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x50, 0x2a, 0x4d, 0x18];
    f.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.extend_from_slice(data);
    f
}

fn malformed_because(r: Result<impl std::fmt::Debug, FeedError>, needle: &str) {
    match r {
        Err(FeedError::Malformed { reason, .. }) => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            )
        }
        other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn the_one_allowed_framing_is_accepted() {
    let ops = upserts(&records(50, 1));
    let raw = raw_ops(&ops);
    let v = verify_first_delta(&delta_file(&ops, &zstd(&raw), raw.len() as u64)).unwrap();
    assert_eq!(v.ops, ops);
    // A content checksum is allowed, and checked.
    let mut c = zstd::bulk::Compressor::new(3).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    let mut with_sum = c.compress(&raw).unwrap();
    let v = verify_first_delta(&delta_file(&ops, &with_sum, raw.len() as u64)).unwrap();
    assert_eq!(v.ops, ops);
    let last = with_sum.len() - 1;
    with_sum[last] ^= 1;
    assert!(verify_first_delta(&delta_file(&ops, &with_sum, raw.len() as u64)).is_err());
}

#[test]
fn a_delta_body_of_two_frames_is_refused() {
    let ops = upserts(&records(50, 2));
    let raw = raw_ops(&ops);
    let (a, b) = raw.split_at(raw.len() / 2);
    let mut body = zstd(a);
    body.extend_from_slice(&zstd(b));
    // The frames decode to exactly the signed operations; only the framing
    // rule refuses them.
    malformed_because(
        verify_first_delta(&delta_file(&ops, &body, raw.len() as u64)),
        "exactly one frame",
    );
}

#[test]
fn a_skippable_frame_is_refused_before_or_after_the_body() {
    let ops = upserts(&records(50, 3));
    let raw = raw_ops(&ops);
    let mut after = zstd(&raw);
    after.extend_from_slice(&skippable(b"hidden"));
    malformed_because(
        verify_first_delta(&delta_file(&ops, &after, raw.len() as u64)),
        "exactly one frame",
    );
    let mut before = skippable(b"hidden");
    before.extend_from_slice(&zstd(&raw));
    malformed_because(
        verify_first_delta(&delta_file(&ops, &before, raw.len() as u64)),
        "skippable frame",
    );
}

#[test]
fn a_frame_must_state_the_signed_content_size() {
    let ops = upserts(&records(50, 4));
    let raw = raw_ops(&ops);
    // A streaming encoder that was not told the size leaves it out.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&raw).unwrap();
    let unsized_body = enc.finish().unwrap();
    assert!(matches!(
        zstd::zstd_safe::get_frame_content_size(&unsized_body),
        Ok(None)
    ));
    malformed_because(
        verify_first_delta(&delta_file(&ops, &unsized_body, raw.len() as u64)),
        "does not state the content size",
    );
    // Stated, but not the signed length.
    let mut longer = raw.clone();
    longer.extend_from_slice(&raw_ops(&upserts(&records(1, 5))));
    malformed_because(
        verify_first_delta(&delta_file(&ops, &zstd(&longer), raw.len() as u64)),
        "the signed length is",
    );
}

#[test]
fn a_frame_naming_a_dictionary_is_refused() {
    // Hand-made frame: descriptor 0x21 = single segment, 1-byte dictionary
    // id; dictionary 7; content size 1; one raw block holding "x".
    let body = [
        0x28, 0xb5, 0x2f, 0xfd, 0x21, 0x07, 0x01, 0x09, 0x00, 0x00, b'x',
    ];
    malformed_because(
        verify_first_delta(&delta_file(&[], &body, 1)),
        "names a dictionary",
    );
}

#[test]
fn a_snapshot_chunk_of_two_frames_or_with_a_skippable_frame_is_refused() {
    let recs = records(80, 6);
    let mut raw = Vec::new();
    for r in &recs {
        encode_record(r, &mut raw);
    }
    let chunk = |bytes: &[u8]| ChunkRef {
        file: "chunk-000000.zst".into(),
        length: bytes.len() as u64,
        raw_length: raw.len() as u64,
        records: recs.len() as u64,
        sha256: hex(&sha256(bytes)),
    };
    let good = zstd(&raw);
    let mut out = Vec::new();
    decode_chunk(&root(), &chunk(&good), &good, None, &mut out).unwrap();
    assert_eq!(out, recs);
    let (a, b) = raw.split_at(raw.len() / 3);
    let mut two = zstd(a);
    two.extend_from_slice(&zstd(b));
    malformed_because(
        decode_chunk(&root(), &chunk(&two), &two, None, &mut Vec::new()),
        "exactly one frame",
    );
    let mut skip = good.clone();
    skip.extend_from_slice(&skippable(&[0; 16]));
    malformed_because(
        decode_chunk(&root(), &chunk(&skip), &skip, None, &mut Vec::new()),
        "exactly one frame",
    );
}

/// A delta from `old` to `new` encoded by the publisher's encoder, with
/// `edit` applied to the header first.
fn signed_delta(old: &[Record], ops: &[Op], edit: impl FnOnce(&mut DeltaHeader)) -> Vec<u8> {
    let mut model: BTreeMap<DocumentKey, Record> = old.iter().map(|r| (r.key, *r)).collect();
    for op in ops {
        match op {
            Op::Upsert(r) => model.insert(r.key, *r),
            Op::Delete(k) => model.remove(k),
        };
    }
    let mut header = DeltaHeader {
        feed: "t".into(),
        root_version: 1,
        sequence: 1,
        prev_state_root: StateHash::of(old).root(),
        state_root: StateHash::of(model.values()).root(),
        prev_record_count: old.len() as u64,
        record_count: model.len() as u64,
        issued_at: 1,
        upserts: ops.iter().filter(|o| matches!(o, Op::Upsert(_))).count() as u64,
        deletes: ops.iter().filter(|o| matches!(o, Op::Delete(_))).count() as u64,
    };
    edit(&mut header);
    delta::encode(&header, ops, &[&key()]).unwrap()
}

fn apply_to(old: &[Record], bytes: &[u8]) -> Result<(), FeedError> {
    let model: BTreeMap<DocumentKey, Record> = old.iter().map(|r| (r.key, *r)).collect();
    let hash = StateHash::of(old);
    let v = delta::verify(&root(), bytes, 1, &hash.root())?;
    PendingState::new(&model, hash, 0).apply(&v)
}

#[test]
fn a_wrong_prev_record_count_is_refused() {
    let old = records(40, 7);
    let ops = vec![Op::Delete(old[3].key)];
    assert!(apply_to(&old, &signed_delta(&old, &ops, |_| {})).is_ok());
    let bytes = signed_delta(&old, &ops, |h| h.prev_record_count += 1);
    // The file itself verifies: the count is only wrong against the state.
    assert!(delta::verify(&root(), &bytes, 1, &StateHash::of(&old).root()).is_ok());
    match apply_to(&old, &bytes) {
        Err(FeedError::RecordCountMismatch {
            field,
            signed,
            computed,
            ..
        }) => {
            assert_eq!(field, "delta prev_record_count");
            assert_eq!((signed, computed), (41, 40));
        }
        other => panic!("expected a record count mismatch, got {other:?}"),
    }
}

#[test]
fn a_record_count_contradicting_the_root_is_refused() {
    let old = records(40, 8);
    let ops = vec![Op::Delete(old[0].key)];
    let bytes = signed_delta(&old, &ops, |h| h.record_count += 1);
    assert!(matches!(
        apply_to(&old, &bytes),
        Err(FeedError::RecordCountMismatch {
            field: "delta record_count",
            ..
        })
    ));
}

#[test]
fn an_upsert_that_changes_nothing_is_refused() {
    let old = records(40, 9);
    let mut changed = old[5];
    changed.status = if changed.status == Status::Lost {
        Status::Stolen
    } else {
        Status::Lost
    };
    assert!(apply_to(&old, &signed_delta(&old, &[Op::Upsert(changed)], |_| {})).is_ok());
    let same = signed_delta(&old, &[Op::Upsert(old[5])], |_| {});
    assert!(matches!(
        apply_to(&old, &same),
        Err(FeedError::UpsertUnchanged { sequence: 1, .. })
    ));
}

fn checkpoint_payload() -> serde_json::Value {
    let recs = records(10, 10);
    serde_json::json!({
        "spec_version": 2,
        "feed": "t",
        "root_version": 1,
        "sequence": 3,
        "state_root": hex(&StateHash::of(&recs).root()),
        "record_count": recs.len(),
        "issued_at": now_unix(),
        "expires_at": now_unix() + 100,
        "delta": { "sequence": 3, "length": 1000, "sha256": hex(&sha256(b"d")) },
        "snapshot": { "sequence": 2, "length": 500, "sha256": hex(&sha256(b"s")) },
    })
}

fn verify_checkpoint(payload: &serde_json::Value) -> Result<Checkpoint, FeedError> {
    let bytes = seal(
        CHECKPOINT_TYPE,
        &serde_json::to_vec(payload).unwrap(),
        &[&key()],
    );
    Checkpoint::verify(&root(), &bytes, now_unix())
}

#[test]
fn a_checkpoint_without_its_snapshot_or_delta_field_is_refused() {
    let full = checkpoint_payload();
    assert!(verify_checkpoint(&full).is_ok());
    let mut null = full.clone();
    null["snapshot"] = serde_json::Value::Null;
    assert_eq!(verify_checkpoint(&null).unwrap().snapshot, None);
    for field in ["snapshot", "delta"] {
        let mut absent = full.clone();
        absent.as_object_mut().unwrap().remove(field);
        malformed_because(
            verify_checkpoint(&absent),
            &format!("missing field `{field}`"),
        );
    }
}

#[test]
fn checkpoint_pointers_must_agree_with_its_sequence() {
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut p = checkpoint_payload();
        f(&mut p);
        verify_checkpoint(&p)
    };
    malformed_because(
        edit(&|p| p["delta"] = serde_json::Value::Null),
        "without its delta",
    );
    malformed_because(
        edit(&|p| p["delta"]["sequence"] = 2.into()),
        "names sequence 2",
    );
    malformed_because(
        edit(&|p| p["snapshot"]["sequence"] = 4.into()),
        "after the checkpoint",
    );
    malformed_because(edit(&|p| p["sequence"] = 0.into()), "a delta at sequence 0");
    assert!(
        edit(&|p| {
            p["sequence"] = 0.into();
            p["delta"] = serde_json::Value::Null;
            p["snapshot"]["sequence"] = 0.into();
        })
        .is_ok()
    );
    let too_long = Limits::default().max_delta_bytes + 1;
    assert!(matches!(
        edit(&|p| p["delta"]["length"] = too_long.into()),
        Err(FeedError::TooLarge { .. })
    ));
}

#[test]
fn a_checkpoint_count_off_by_one_at_the_installed_root_is_refused() {
    let recs = records(10, 10);
    let root_hash = StateHash::of(&recs).root();
    let mut p = checkpoint_payload();
    let cp = verify_checkpoint(&p).unwrap();
    cp.check_against_installed(3, &root_hash, 10).unwrap();
    p["record_count"] = 11.into();
    let cp = verify_checkpoint(&p).unwrap();
    // Same sequence and root, so neither a rollback nor a fork.
    cp.check_against(3, &root_hash).unwrap();
    match cp.check_against_installed(3, &root_hash, 10) {
        Err(FeedError::RecordCountMismatch {
            field,
            signed,
            computed,
            sequence,
        }) => {
            assert_eq!(field, "checkpoint record_count");
            assert_eq!((sequence, signed, computed), (3, 11, 10));
        }
        other => panic!("expected a record count mismatch, got {other:?}"),
    }
    // An older installed sequence has no count to compare yet.
    cp.check_against_installed(2, &sha256(b"other"), 9).unwrap();
}

#[test]
fn a_manifest_chunk_without_records_is_refused() {
    let recs = records(10, 11);
    let mut raw = Vec::new();
    for r in &recs {
        encode_record(r, &mut raw);
    }
    let z = zstd(&raw);
    let real = ChunkRef {
        file: "chunk-000000.zst".into(),
        length: z.len() as u64,
        raw_length: raw.len() as u64,
        records: recs.len() as u64,
        sha256: hex(&sha256(&z)),
    };
    let empty = ChunkRef {
        file: "chunk-000001.zst".into(),
        length: 9,
        raw_length: 0,
        records: 0,
        sha256: hex(&sha256(b"")),
    };
    let manifest = |chunks: Vec<ChunkRef>| SnapshotManifest {
        feed: "t".into(),
        root_version: 1,
        sequence: 1,
        state_root: StateHash::of(&recs).root(),
        record_count: recs.len() as u64,
        issued_at: 1,
        chunks,
    };
    let ok = manifest(vec![real.clone()]).seal(&[&key()]);
    assert!(SnapshotManifest::verify(&root(), &ok).is_ok());
    let bad = manifest(vec![real, empty]).seal(&[&key()]);
    malformed_because(SnapshotManifest::verify(&root(), &bad), "holds no records");
}
