//! The canonical binary encoding of records and keys that deltas, snapshots
//! and the state root hash, and the text encodings (hex, base64) every file
//! of the feed uses. One encoding, one decoder: a record has
//! exactly one byte string, so its hash is well defined.

use std::io::Read;

use base64::Engine;
use sha2::{Digest, Sha256};
use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, Record, Reference, Status,
};

use crate::FeedError;

/// A SHA-256 digest.
pub type Hash32 = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of `bytes`: how hashes, key ids and content ids are
/// written everywhere.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Parses exactly 64 lowercase hex digits (upper case is refused: a hash
/// has one spelling).
pub fn parse_hash_hex(text: &str) -> Option<Hash32> {
    if text.len() != 64 {
        return None;
    }
    data_encoding::HEXLOWER
        .decode(text.as_bytes())
        .ok()?
        .try_into()
        .ok()
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding; anything else is refused (the
/// engine rejects non-canonical trailing bits).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The first four bytes of a Zstandard frame (RFC 8878 section 3.1.1).
const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Checks that `body` is exactly one Zstandard frame of the form the feed
/// allows, and returns the content size its header states.
///
/// Delta bodies, snapshot chunks and the publisher's state are each one
/// frame: no skippable frame before or after it, no second frame, no byte
/// after it, no dictionary, and a stated content size (so a body has one
/// decoded length, known before decoding). A content checksum may be
/// present; the decoder then checks it.
pub(crate) fn zstd_frame_content_size(body: &[u8]) -> Result<u64, String> {
    match body.get(..4) {
        Some(m) if m == ZSTD_FRAME_MAGIC => {}
        // Magic numbers 0x184D2A50 to 0x184D2A5F, little-endian.
        Some(m) if m[0] & 0xf0 == 0x50 && m[1..] == [0x2a, 0x4d, 0x18] => {
            return Err("a skippable frame is not allowed".into());
        }
        _ => return Err("does not start with a zstd frame".into()),
    }
    let descriptor = body.get(4).copied().unwrap_or(0);
    if descriptor & 0x03 != 0 {
        return Err("the frame header names a dictionary; none is allowed".into());
    }
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(body).map_err(|code| {
        format!(
            "not a complete zstd frame ({})",
            zstd::zstd_safe::get_error_name(code)
        )
    })?;
    if frame_len != body.len() {
        return Err(format!(
            "{} bytes follow the zstd frame; exactly one frame is allowed",
            body.len() - frame_len
        ));
    }
    match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(size)) => Ok(size),
        Ok(None) => Err("the frame header does not state the content size".into()),
        Err(_) => Err("bad zstd frame header".into()),
    }
}

/// Tag of an upsert operation in a delta body.
pub(crate) const OP_UPSERT: u8 = 1;
/// Tag of a delete operation in a delta body.
pub(crate) const OP_DELETE: u8 = 2;

/// Appends the canonical encoding of `key`:
/// `state_len u8 | state | number_len u8 | number`.
pub fn encode_key(key: &DocumentKey, out: &mut Vec<u8>) {
    let s = key.state.as_bytes();
    let n = key.number.as_bytes();
    out.push(s.len() as u8);
    out.extend_from_slice(s);
    out.push(n.len() as u8);
    out.extend_from_slice(n);
}

/// Appends the canonical encoding of `record`: the key, then
/// `type_len u8 | type | status u8 | reported_on u16le |
/// reporting_state_len u8 | reporting_state | reference_len u8 | reference`.
pub fn encode_record(record: &Record, out: &mut Vec<u8>) {
    encode_key(&record.key, out);
    let t = record.doc_type.as_bytes();
    out.push(t.len() as u8);
    out.extend_from_slice(t);
    out.push(record.status.code());
    out.extend_from_slice(&record.reported_on.days().to_le_bytes());
    match &record.reporting_state {
        Some(s) => {
            out.push(s.as_bytes().len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        None => out.push(0),
    }
    let r = record.reference.as_bytes();
    out.push(r.len() as u8);
    out.extend_from_slice(r);
}

/// A bounds-checked reader over untrusted bytes.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    pub(crate) fn err(&self, reason: &str) -> FeedError {
        FeedError::malformed(self.what, format!("{reason} at byte {}", self.pos))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FeedError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("unexpected end of data"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FeedError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FeedError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FeedError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn letters(&mut self, min: usize, max: usize, field: &str) -> Result<&'a [u8], FeedError> {
        let len = self.u8()? as usize;
        if len < min || len > max {
            return Err(self.err(&format!("{field} length {len} out of range")));
        }
        let b = self.take(len)?;
        if !b.iter().all(u8::is_ascii_uppercase) {
            return Err(self.err(&format!("{field} is not upper-case letters")));
        }
        Ok(b)
    }

    fn state(&mut self, min: usize) -> Result<Option<IssuingState>, FeedError> {
        let b = self.letters(min, sltd_model::MAX_STATE_LEN, "issuing state")?;
        if b.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(b).map_err(|_| self.err("state"))?;
        IssuingState::normalise(text)
            .map(Some)
            .map_err(|e| self.err(&e.to_string()))
    }

    pub(crate) fn key(&mut self) -> Result<DocumentKey, FeedError> {
        let state = self.state(1)?.ok_or_else(|| self.err("empty state"))?;
        let len = self.u8()? as usize;
        let raw = self.take(len)?;
        let number = DocumentNumber::from_normalised(raw).map_err(|e| self.err(&e.to_string()))?;
        Ok(DocumentKey { state, number })
    }

    pub(crate) fn record(&mut self) -> Result<Record, FeedError> {
        let key = self.key()?;
        let t = self.letters(1, sltd_model::MAX_TYPE_LEN, "document type")?;
        let doc_type = DocumentType::normalise(std::str::from_utf8(t).unwrap_or_default())
            .map_err(|e| self.err(&e.to_string()))?;
        let status = Status::from_code(self.u8()?).ok_or_else(|| self.err("unknown status"))?;
        let reported_on = Date::from_days(self.u16()?);
        let reporting_state = self.state(0)?;
        let rlen = self.u8()? as usize;
        let raw = self.take(rlen)?;
        let reference = Reference::from_bytes(raw).map_err(|e| self.err(&e.to_string()))?;
        Ok(Record {
            key,
            doc_type,
            status,
            reported_on,
            reporting_state,
            reference,
        })
    }
}

/// Decompresses `body`, which must be one zstd frame in the feed's one
/// framing (see [`zstd_frame_content_size`]) stating a content size of
/// exactly `raw_length` bytes, the signed length. Output beyond that is
/// never produced.
pub fn decompress_capped(body: &[u8], raw_length: u64, what: &str) -> Result<Vec<u8>, FeedError> {
    let malformed = |reason: String| FeedError::Malformed {
        what: "compressed data",
        reason: format!("{what}: {reason}"),
    };
    let stated = zstd_frame_content_size(body).map_err(malformed)?;
    if stated != raw_length {
        return Err(malformed(format!(
            "the frame states {stated} bytes of content, the signed length is {raw_length}"
        )));
    }
    let dec = zstd::stream::read::Decoder::new(body).map_err(|e| malformed(e.to_string()))?;
    let mut out = Vec::new();
    dec.single_frame()
        .take(raw_length.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| malformed(e.to_string()))?;
    if out.len() as u64 > raw_length {
        return Err(FeedError::TooLarge {
            what: format!("{what} (decompressed)"),
            limit: raw_length,
        });
    }
    Ok(out)
}

/// Decodes one canonical record that fills `bytes` exactly.
pub fn decode_record(bytes: &[u8]) -> Result<Record, FeedError> {
    let mut c = Cursor::new(bytes, "record");
    let r = c.record()?;
    if !c.is_empty() {
        return Err(c.err("trailing bytes"));
    }
    Ok(r)
}

/// Decodes canonical records filling `bytes` exactly, refusing any that is
/// not strictly after the one before it in key order. `what` names the file
/// in errors.
pub fn decode_records(bytes: &[u8], what: &'static str) -> Result<Vec<Record>, FeedError> {
    let mut c = Cursor::new(bytes, what);
    let mut out: Vec<Record> = Vec::new();
    while !c.is_empty() {
        let r = c.record()?;
        if out.last().is_some_and(|l| l.key >= r.key) {
            return Err(c.err("records not strictly ascending by key"));
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        Record {
            key: DocumentKey::normalise("D", "C01X00T47").unwrap(),
            doc_type: DocumentType::normalise("PP").unwrap(),
            status: Status::Lost,
            reported_on: "2024-03-01".parse().unwrap(),
            reporting_state: Some(IssuingState::normalise("FRA").unwrap()),
            reference: Reference::new("ref/1").unwrap(),
        }
    }

    #[test]
    fn record_round_trip_and_exact_bytes() {
        let mut out = Vec::new();
        encode_record(&rec(), &mut out);
        assert_eq!(
            out,
            b"\x01D\x09C01X00T47\x02PP\x01\x47\x4d\x03FRA\x05ref/1".to_vec()
        );
        assert_eq!(decode_record(&out).unwrap(), rec());
        assert_eq!(decode_records(&out, "test").unwrap(), vec![rec()]);
        let mut twice = out.clone();
        twice.extend_from_slice(&out);
        assert!(decode_records(&twice, "test").is_err(), "a key twice");
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode_record(&longer).is_err());
        for cut in 0..out.len() {
            assert!(decode_record(&out[..cut]).is_err());
        }
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        // lower-case state
        assert!(decode_record(b"\x01d\x01A\x01P\x00\x00\x00\x00\x00").is_err());
        // status out of range
        assert!(decode_record(b"\x01D\x01A\x01P\x09\x00\x00\x00\x00").is_err());
        assert!(decode_record(b"\x01D\x01A\x01P\x00\x00\x00\x00\x00").is_ok());
    }

    #[test]
    fn key_order_is_encoding_order() {
        let keys = [("D", "B"), ("D", "AA"), ("FRA", "A"), ("UT", "Z9")];
        let mut ks: Vec<DocumentKey> = keys
            .iter()
            .map(|(s, n)| DocumentKey::normalise(s, n).unwrap())
            .collect();
        ks.sort();
        let enc: Vec<Vec<u8>> = ks
            .iter()
            .map(|k| {
                let mut v = Vec::new();
                encode_key(k, &mut v);
                v
            })
            .collect();
        let mut sorted = enc.clone();
        sorted.sort();
        assert_eq!(enc, sorted);
    }

    #[test]
    fn hex_has_one_spelling() {
        let h = sha256(b"x");
        let text = hex(&h);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_hash_hex(&text), Some(h));
        assert_eq!(parse_hash_hex(&text.to_uppercase()), None);
        assert_eq!(parse_hash_hex(&text[..62]), None);
        assert_eq!(hex(&[0x0f, 0xa0]), "0fa0");
    }
}
