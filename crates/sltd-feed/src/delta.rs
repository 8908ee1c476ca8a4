//! Delta files: the signed, ordered changes that take the state from one
//! sequence to the next.
//!
//! Layout: `"SLTDDLT1"`, a u32le header length (at most 1 MiB), the header
//! (a signed envelope of type [`DELTA_TYPE`]), then the body: a zstd frame of
//! operations, each `tag u8` then a record (upsert, tag 1) or a key (delete,
//! tag 2), strictly ascending by key. The header signs the body's length and
//! SHA-256, so no byte of the file is unsigned.

use serde::{Deserialize, Serialize};
use sltd_model::{DocumentKey, Record};

use crate::FeedError;
use crate::encoding::{
    Cursor, Hash32, OP_DELETE, OP_UPSERT, decompress_capped, encode_key, encode_record, hex,
    parse_hash_hex, sha256,
};
use crate::keys::{Envelope, SecretKey, seal};
use crate::metadata::{DELTA_TYPE, RootHistory, SPEC_VERSION};

const MAGIC: &[u8; 8] = b"SLTDDLT1";
const MAX_HEADER: usize = 1 << 20;

/// One change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Upsert(Record),
    Delete(DocumentKey),
}

impl Op {
    pub fn key(&self) -> &DocumentKey {
        match self {
            Op::Upsert(r) => &r.key,
            Op::Delete(k) => k,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct HeaderJson {
    spec_version: u32,
    feed: String,
    root_version: u64,
    sequence: u64,
    prev_state_root: String,
    state_root: String,
    prev_record_count: u64,
    record_count: u64,
    issued_at: i64,
    upserts: u64,
    deletes: u64,
    body_length: u64,
    body_raw_length: u64,
    body_sha256: String,
}

/// The signed facts about a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaHeader {
    pub feed: String,
    /// The root whose online keys sign the delta.
    pub root_version: u64,
    pub sequence: u64,
    pub prev_state_root: Hash32,
    pub state_root: Hash32,
    pub prev_record_count: u64,
    pub record_count: u64,
    pub issued_at: i64,
    pub upserts: u64,
    pub deletes: u64,
}

/// A delta whose signature, chain position, length and body hash have been
/// checked, with its operations decoded. Whether it applies to the local
/// state is for [`crate::apply`] to find out.
#[derive(Debug, Clone)]
pub struct VerifiedDelta {
    pub header: DeltaHeader,
    pub ops: Vec<Op>,
}

/// Encodes a delta file. `ops` must be strictly ascending by key.
pub fn encode(
    header: &DeltaHeader,
    ops: &[Op],
    signers: &[&SecretKey],
) -> Result<Vec<u8>, FeedError> {
    let mut raw = Vec::with_capacity(ops.len() * 40);
    for w in ops.windows(2) {
        if w[0].key() >= w[1].key() {
            return Err(FeedError::Encode {
                what: "delta",
                reason: "operations are not strictly ascending by key".into(),
            });
        }
    }
    for op in ops {
        match op {
            Op::Upsert(r) => {
                raw.push(OP_UPSERT);
                encode_record(r, &mut raw);
            }
            Op::Delete(k) => {
                raw.push(OP_DELETE);
                encode_key(k, &mut raw);
            }
        }
    }
    let body = zstd::bulk::compress(&raw, 9).map_err(|e| FeedError::Encode {
        what: "delta",
        reason: format!("zstd: {e}"),
    })?;
    let j = HeaderJson {
        spec_version: SPEC_VERSION,
        feed: header.feed.clone(),
        root_version: header.root_version,
        sequence: header.sequence,
        prev_state_root: hex(&header.prev_state_root),
        state_root: hex(&header.state_root),
        prev_record_count: header.prev_record_count,
        record_count: header.record_count,
        issued_at: header.issued_at,
        upserts: header.upserts,
        deletes: header.deletes,
        body_length: body.len() as u64,
        body_raw_length: raw.len() as u64,
        body_sha256: hex(&sha256(&body)),
    };
    let env = seal(
        DELTA_TYPE,
        &serde_json::to_vec(&j).unwrap_or_default(),
        signers,
    );
    let mut out = Vec::with_capacity(12 + env.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(env.len() as u32).to_le_bytes());
    out.extend_from_slice(&env);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Verifies the delta file `bytes` as the one for `expected_sequence`,
/// following local state `prev_root`. Checks, in order: size bound (the
/// newest root's), magic, signatures (the online keys of the root version
/// the header names, which must be one of `roots`), feed, sequence (replay
/// or gap), previous state root, body length and hash, decompressed size,
/// and that operations are canonical.
pub fn verify(
    roots: &impl RootHistory,
    bytes: &[u8],
    expected_sequence: u64,
    prev_root: &Hash32,
) -> Result<VerifiedDelta, FeedError> {
    let what = "delta";
    let root = roots.newest();
    if bytes.len() as u64 > root.limits.max_delta_bytes {
        return Err(FeedError::TooLarge {
            what: format!("delta {expected_sequence}"),
            limit: root.limits.max_delta_bytes,
        });
    }
    let mut c = Cursor::new(bytes, what);
    if c.take(8).ok() != Some(&MAGIC[..]) {
        return Err(FeedError::malformed(what, "not a delta file (bad magic)"));
    }
    let hlen = c.u32()? as usize;
    if hlen > MAX_HEADER {
        return Err(FeedError::malformed(what, "header longer than 1 MiB"));
    }
    let env_bytes = c.take(hlen).map_err(|_| FeedError::Truncated {
        what: format!("delta {expected_sequence} header"),
        expected: hlen as u64,
        actual: (bytes.len().saturating_sub(12)) as u64,
    })?;
    let env = Envelope::parse(env_bytes, what, DELTA_TYPE)?;
    let j: HeaderJson =
        serde_json::from_slice(&env.payload).map_err(|e| FeedError::malformed(what, e))?;
    let signer = roots.signed_under("delta", j.root_version)?;
    env.verify(&signer.online_keys, "delta")?;
    if j.spec_version != SPEC_VERSION {
        return Err(FeedError::malformed(what, "spec version"));
    }
    root.check_feed(&j.feed)?;
    if j.sequence < expected_sequence {
        return Err(FeedError::DeltaReplay {
            expected: expected_sequence,
            found: j.sequence,
        });
    }
    if j.sequence > expected_sequence {
        return Err(FeedError::DeltaGap {
            expected: expected_sequence,
            found: j.sequence,
        });
    }
    let hash = |s: &str| parse_hash_hex(s).ok_or_else(|| FeedError::malformed(what, "bad hash"));
    let prev = hash(&j.prev_state_root)?;
    if prev != *prev_root {
        return Err(FeedError::DeltaChainBroken {
            sequence: j.sequence,
            expected_prev_root: hex(prev_root),
            found_prev_root: j.prev_state_root,
        });
    }
    let body = &bytes[c.position()..];
    if (body.len() as u64) < j.body_length {
        return Err(FeedError::Truncated {
            what: format!("delta {}", j.sequence),
            expected: j.body_length,
            actual: body.len() as u64,
        });
    }
    if (body.len() as u64) > j.body_length {
        return Err(FeedError::TooLarge {
            what: format!("delta {}", j.sequence),
            limit: (c.position() as u64).saturating_add(j.body_length),
        });
    }
    if hex(&sha256(body)) != j.body_sha256 {
        return Err(FeedError::HashMismatch {
            what: format!("delta {} body", j.sequence),
        });
    }
    if j.body_raw_length > root.limits.max_delta_raw_bytes {
        return Err(FeedError::TooLarge {
            what: format!("delta {} operations", j.sequence),
            limit: root.limits.max_delta_raw_bytes,
        });
    }
    let raw = decompress_capped(body, j.body_raw_length, "delta body")?;
    if raw.len() as u64 != j.body_raw_length {
        return Err(FeedError::malformed(
            what,
            "decompressed length differs from the signed one",
        ));
    }
    let ops = decode_ops(&raw)?;
    let upserts = ops.iter().filter(|o| matches!(o, Op::Upsert(_))).count() as u64;
    if upserts != j.upserts || ops.len() as u64 - upserts != j.deletes {
        return Err(FeedError::malformed(
            what,
            "operation counts differ from the signed ones",
        ));
    }
    Ok(VerifiedDelta {
        header: DeltaHeader {
            feed: j.feed,
            root_version: j.root_version,
            sequence: j.sequence,
            prev_state_root: prev,
            state_root: hash(&j.state_root)?,
            prev_record_count: j.prev_record_count,
            record_count: j.record_count,
            issued_at: j.issued_at,
            upserts: j.upserts,
            deletes: j.deletes,
        },
        ops,
    })
}

fn decode_ops(raw: &[u8]) -> Result<Vec<Op>, FeedError> {
    let mut c = Cursor::new(raw, "delta operations");
    let mut ops: Vec<Op> = Vec::new();
    while !c.is_empty() {
        let op = match c.u8()? {
            OP_UPSERT => Op::Upsert(c.record()?),
            OP_DELETE => Op::Delete(c.key()?),
            _ => return Err(c.err("unknown operation tag")),
        };
        if let Some(last) = ops.last()
            && last.key() >= op.key()
        {
            return Err(c.err("operations not strictly ascending by key"));
        }
        ops.push(op);
    }
    Ok(ops)
}
