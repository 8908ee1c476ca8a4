//! Snapshot chunks: the full record set at a sequence, in canonical records
//! strictly ascending by key, cut into independently compressed zstd chunks
//! listed (length, hash, record count) in a signed manifest, so a client
//! downloads, verifies and resumes them one at a time.

use sltd_model::{DocumentKey, Record};

use crate::FeedError;
use crate::encoding::{Cursor, decompress_capped, encode_record, hex, sha256};
use crate::layout::chunk_file_name;
use crate::metadata::{ChunkRef, Root};

/// Uncompressed bytes per chunk the publisher aims for.
pub const DEFAULT_CHUNK_RAW_BYTES: usize = 16 << 20;

/// Cuts `records` (strictly ascending by key) into compressed chunks.
/// Returns the chunk references and bytes in order.
pub fn encode_chunks(
    records: &[Record],
    chunk_raw_bytes: usize,
) -> Result<Vec<(ChunkRef, Vec<u8>)>, FeedError> {
    let mut out = Vec::new();
    let mut raw = Vec::with_capacity(chunk_raw_bytes + 128);
    let mut n = 0u64;
    let flush = |raw: &mut Vec<u8>,
                 n: &mut u64,
                 out: &mut Vec<(ChunkRef, Vec<u8>)>|
     -> Result<(), FeedError> {
        let z = zstd::bulk::compress(raw, 9).map_err(|e| FeedError::Encode {
            what: "snapshot chunk",
            reason: format!("zstd: {e}"),
        })?;
        out.push((
            ChunkRef {
                file: chunk_file_name(out.len()),
                length: z.len() as u64,
                raw_length: raw.len() as u64,
                records: *n,
                sha256: hex(&sha256(&z)),
            },
            z,
        ));
        raw.clear();
        *n = 0;
        Ok(())
    };
    for r in records {
        encode_record(r, &mut raw);
        n += 1;
        if raw.len() >= chunk_raw_bytes {
            flush(&mut raw, &mut n, &mut out)?;
        }
    }
    if n > 0 {
        flush(&mut raw, &mut n, &mut out)?;
    }
    Ok(out)
}

/// Verifies chunk `chunk` (whose bytes are `bytes`) and decodes its records,
/// checking that they continue strictly ascending after `after`.
pub fn decode_chunk(
    root: &Root,
    chunk: &ChunkRef,
    bytes: &[u8],
    after: Option<&DocumentKey>,
    out: &mut Vec<Record>,
) -> Result<(), FeedError> {
    let what = || format!("snapshot chunk {}", chunk.file);
    chunk.file_ref(0).check(&what(), bytes)?;
    if chunk.raw_length > root.limits.max_chunk_bytes {
        return Err(FeedError::TooLarge {
            what: format!("{} (decompressed)", what()),
            limit: root.limits.max_chunk_bytes,
        });
    }
    let raw = decompress_capped(bytes, chunk.raw_length, "snapshot chunk")?;
    if raw.len() as u64 != chunk.raw_length {
        return Err(FeedError::malformed(
            "snapshot chunk",
            "decompressed length differs from the manifest",
        ));
    }
    let mut c = Cursor::new(&raw, "snapshot chunk");
    let mut last = after.copied();
    let start = out.len();
    while !c.is_empty() {
        let r = c.record()?;
        if last.is_some_and(|l| l >= r.key) {
            return Err(c.err("records not strictly ascending by key"));
        }
        last = Some(r.key);
        out.push(r);
    }
    if (out.len() - start) as u64 != chunk.records {
        return Err(FeedError::malformed(
            "snapshot chunk",
            "record count differs from the manifest",
        ));
    }
    Ok(())
}
