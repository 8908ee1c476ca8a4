//! What each fuzz target runs, one function per target, so every target in
//! `fuzz_targets/` is one line and the harnesses can be read (and built)
//! together.
//!
//! Signed feed files are checked before they are parsed, so random bytes
//! never reach the parsers behind a signature. The `*_signed` harnesses
//! build the signed parts themselves from the fuzzer's bytes (with a fixed
//! test key, the lengths and hashes recomputed), so the fuzzer explores the
//! payload parsers and decoders, not the signature check.

use std::io::Write as _;

use sltd_feed::keys::{PublicKey, SecretKey, seal};
use sltd_feed::metadata::{
    CHECKPOINT_TYPE, ChunkRef, DELTA_TYPE, Limits, ROOT_TYPE, Root, SNAPSHOT_TYPE, SPEC_VERSION,
};
use sltd_feed::{hex, sha256};

const FEED: &str = "fuzz.example";

fn test_key() -> SecretKey {
    SecretKey::from_seed(&[7; 32])
}

/// A root trusting only [`test_key`] (for both roles), with small limits so that no input
/// can make a harness allocate much.
fn test_root() -> Root {
    let key = test_key();
    Root {
        feed: FEED.into(),
        version: 1,
        expires_at: i64::MAX,
        root_keys: sltd_feed::keys::KeySet {
            keys: vec![key.public().clone()],
            threshold: 1,
        },
        online_keys: sltd_feed::keys::KeySet {
            keys: vec![key.public().clone()],
            threshold: 1,
        },
        max_checkpoint_validity: i64::MAX,
        limits: Limits {
            max_checkpoint_bytes: 64 << 10,
            max_delta_bytes: 1 << 20,
            max_delta_raw_bytes: 4 << 20,
            max_manifest_bytes: 1 << 20,
            max_chunk_bytes: 4 << 20,
            max_records: 1 << 20,
        },
    }
}

/// The unsigned outer layers of every feed file, and the key files: the
/// envelope, the root a post pins (`--trust`), the checkpoint's claimed
/// root version, and public and secret key files.
pub fn feed_envelope(data: &[u8]) {
    for ty in [ROOT_TYPE, CHECKPOINT_TYPE, SNAPSHOT_TYPE, DELTA_TYPE] {
        let _ = sltd_feed::keys::Envelope::parse(data, "fuzz", ty);
    }
    let _ = Root::from_trusted_bytes(data);
    let _ = test_root().verify_next(data);
    let _ = sltd_feed::metadata::Checkpoint::claimed_root_version(data);
    let _ = sltd_feed::metadata::Checkpoint::verify(&test_root(), data, 0);
    let _ = sltd_feed::metadata::SnapshotManifest::verify(&test_root(), data);
    let _ = PublicKey::from_file_bytes(data);
    let _ = SecretKey::from_file_bytes(data);
}

/// Root, checkpoint and snapshot-manifest payloads (JSON) behind a valid
/// signature.
pub fn feed_metadata_signed(data: &[u8]) {
    let key = test_key();
    let root = test_root();
    let checkpoint = seal(CHECKPOINT_TYPE, data, &[&key]);
    if let Ok(c) = sltd_feed::metadata::Checkpoint::verify_signed(&root, &checkpoint) {
        let _ = c.check_state(&c.state_root, c.record_count);
        let _ = c.check_against(c.sequence.saturating_sub(1), &c.state_root);
    }
    let _ = sltd_feed::metadata::Checkpoint::verify(&root, &checkpoint, 1_700_000_000);
    let manifest = seal(SNAPSHOT_TYPE, data, &[&key]);
    let _ = sltd_feed::metadata::SnapshotManifest::verify(&root, &manifest);
    // A rotation signed by the old key (the new keys are whatever the
    // payload names, so their signatures fail unless it names the old key).
    let rotation = seal(ROOT_TYPE, data, &[&key]);
    let _ = root.verify_next(&rotation);
    let _ = Root::from_trusted_bytes(&rotation);
}

/// Delta files: byte 0 chooses raw bytes (framing, header length, magic)
/// or a delta built around the rest, whose signed header (from bytes 1-2:
/// the operation counts) has the right body length and hash, so the body's
/// decompression and operation decoding are reached.
pub fn feed_delta(data: &[u8]) {
    let root = test_root();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = sltd_feed::delta::verify(&root, rest, 1, &[0; 32]);
        return;
    }
    let (counts, ops) = rest.split_at(rest.len().min(2));
    let upserts = counts.first().copied().unwrap_or(0) as u64;
    let deletes = counts.get(1).copied().unwrap_or(0) as u64;
    // Mode bit 1: the ops as one zstd frame; otherwise the bytes are the
    // compressed body themselves (bad frames, several frames, skippable
    // frames).
    let body = if mode & 2 != 0 {
        zstd::bulk::compress(ops, 1).unwrap_or_default()
    } else {
        ops.to_vec()
    };
    let raw_length = if mode & 2 != 0 {
        ops.len() as u64
    } else {
        u64::from(mode >> 2) * 64
    };
    let header = serde_json::json!({
        "spec_version": SPEC_VERSION,
        "feed": FEED,
        "root_version": 1,
        "sequence": 1,
        "prev_state_root": hex(&[0; 32]),
        "state_root": hex(&[1; 32]),
        "prev_record_count": 0,
        "record_count": upserts,
        "issued_at": 1_700_000_000,
        "upserts": upserts,
        "deletes": deletes,
        "body_length": body.len(),
        "body_raw_length": raw_length,
        "body_sha256": hex(&sha256(&body)),
    });
    let env = seal(
        DELTA_TYPE,
        &serde_json::to_vec(&header).unwrap_or_default(),
        &[&test_key()],
    );
    let mut file = Vec::with_capacity(12 + env.len() + body.len());
    file.extend_from_slice(b"SLTDDLT1");
    file.extend_from_slice(&(env.len() as u32).to_le_bytes());
    file.extend_from_slice(&env);
    file.extend_from_slice(&body);
    let _ = sltd_feed::delta::verify(&root, &file, 1, &[0; 32]);
}

/// Snapshot chunks, listed in a (trusted) manifest with their right length
/// and hash: byte 0 chooses whether the rest is compressed by the harness
/// (the record decoder is reached) or taken as the compressed chunk.
pub fn feed_snapshot_chunk(data: &[u8]) {
    let root = test_root();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (bytes, raw_length) = if mode & 1 != 0 {
        (
            zstd::bulk::compress(rest, 1).unwrap_or_default(),
            rest.len() as u64,
        )
    } else {
        (rest.to_vec(), u64::from(mode >> 1) * 256)
    };
    let chunk = ChunkRef {
        file: "chunk-000000.zst".into(),
        length: bytes.len() as u64,
        raw_length,
        records: u64::from(mode >> 4),
        sha256: hex(&sha256(&bytes)),
    };
    let mut out = Vec::new();
    let _ = sltd_feed::snapshot::decode_chunk(&root, &chunk, &bytes, None, &mut out);
    for w in out.windows(2) {
        assert!(
            w[0].key < w[1].key,
            "a decoded chunk must be strictly ascending"
        );
    }
}

/// The state file (`state/buckets-*.bin`) and single encoded records.
pub fn feed_state(data: &[u8]) {
    let _ = sltd_feed::state::StateHash::from_bytes(data);
    let _ = sltd_feed::decode_record(data);
    let _ = sltd_feed::decode_records(data, "fuzz");
}

/// The small files of a post's data directory, as the daemon and the sync
/// read them: `CURRENT`, a generation's metadata, `state/known.json` and
/// the sync status. The first byte chooses which file the rest becomes.
pub fn datadir_files(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    // On tmpfs where there is one: the data directory fsyncs what it writes.
    let shm = std::path::Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    let Ok(tmp) = tmp else {
        return;
    };
    let Ok(dir) = sltd_datadir::DataDir::create(tmp.path()) else {
        return;
    };
    use sltd_datadir::layout::{CURRENT, GENERATIONS, generation_file_name};
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Ok(mut f) = std::fs::File::create(&path) {
            let _ = f.write_all(bytes);
        }
    };
    let id = "g-00000000000000000001-a";
    match which % 4 {
        0 => write(tmp.path().join(CURRENT), body),
        1 => {
            write(tmp.path().join(CURRENT), id.as_bytes());
            write(
                tmp.path().join(GENERATIONS).join(generation_file_name(id)),
                body,
            );
        }
        2 => {
            let _ = dir.write_state_file(sltd_datadir::StateFile::Known, body);
        }
        _ => {
            let _ = dir.write_state_file(sltd_datadir::StateFile::Status, body);
        }
    }
    let Ok(dir) = sltd_datadir::DataDir::open(dir.path()) else {
        return;
    };
    if let Ok(Some(g)) = dir.current() {
        let _ = dir.load_state(&g);
    }
    let _ = dir.generations();
    let _ = dir.known_checkpoint();
    let _ = dir.status();
}

/// The CSV export reader: every row read, none may panic; a row error names
/// a line within the input.
pub fn export_csv(data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let Ok(reader) = sltd_export::ExportReader::new(data) else {
        return;
    };
    for row in reader.take(1 << 16) {
        if let Err(e) = row {
            assert!(
                e.line() >= 1 && e.line() <= lines,
                "line {} of {lines}",
                e.line()
            );
            let _ = e.to_string();
        }
    }
}

/// MRZ parsing of arbitrary text.
pub fn mrz_parse(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sltd_model::mrz::parse(text);
    }
}

/// Opens arbitrary bytes as an index and, if that succeeds, runs lookups
/// and a full verify: none may panic, loop or read out of bounds.
pub fn index_open_lookup(data: &[u8]) {
    use sltd_index::Index;
    use sltd_model::{DocumentKey, DocumentNumber, Query};

    let Ok(index) = Index::open(data) else { return };
    let mut out = Vec::new();
    for n in [
        "L898902C3",
        "D23145890",
        "1",
        "A",
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let Ok(number) = DocumentNumber::normalise(n) else {
            continue;
        };
        let q = Query::number(number);
        let _ = index.lookup(&q, &mut out);
        let _ = index.lookup_batch(&[q, q], |_, _| {});
        if let Ok(key) = DocumentKey::normalise("UTO", n) {
            let _ = index.get(&key);
        }
    }
    for e in index.entries().take(1 << 16) {
        let _ = e;
    }
    let _ = index.verify();
}

/// Feeds arbitrary bytes as passport-reader input. Byte 0xFF lets more than
/// the scan gap pass, 0xFE is a Backspace; every other byte is input. No
/// panic; every MRZ that comes out has a known shape (and the MRZ parser
/// takes it without panicking); nothing is left over after the end.
pub fn reader_input(data: &[u8]) {
    use std::time::{Duration, Instant};

    use sltd_desk::reader::{ReaderInput, Scan, Shape};

    let gap = Duration::from_millis(100);
    let mut now = Instant::now();
    let mut input = ReaderInput::new(gap);
    let mut out = Vec::new();
    for &b in data {
        match b {
            0xFF => {
                now += gap * 2;
                input.poll(now, &mut out);
            }
            0xFE => input.erase(now),
            _ => input.push_bytes(&[b], now, &mut out),
        }
    }
    input.finish(&mut out);
    assert!(input.progress().is_none());
    for scan in &out {
        match scan {
            Scan::Mrz(text) => {
                let lens: Vec<usize> = text.split('\n').map(str::len).collect();
                let shape = Shape::with_line_len(lens[0]).expect("known line length");
                assert_eq!(lens, vec![shape.line_len; shape.lines]);
                let _ = sltd_model::mrz::parse(text);
            }
            Scan::Unreadable(why) => {
                let _ = why.to_string();
            }
        }
    }
}
