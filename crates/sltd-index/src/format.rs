//! The byte layout of an index file, as specified in `docs/FORMAT.md`. Every
//! constant and encoding rule of the format lives in this module; the reader
//! and the builder call it.
//!
//! All integers are little-endian and every field is read from a byte slice
//! with bounds checks, so the format is independent of the host and of the
//! buffer's alignment.

use sltd_model::{
    Date, DocumentKey, DocumentNumber, DocumentType, IssuingState, MAX_NUMBER_LEN,
    MAX_REFERENCE_LEN, Record, Reference, Status,
};

use crate::IndexError;

/// First eight bytes of every index file.
pub(crate) const MAGIC: [u8; 8] = *b"SLTDIDX\0";
/// Incompatible layout changes bump the major version; readers refuse any
/// major version they do not know.
pub const FORMAT_VERSION_MAJOR: u16 = 2;
/// Compatible additions (fields carved out of the reserved header bytes)
/// bump the minor version; readers accept any minor version of their major.
pub const FORMAT_VERSION_MINOR: u16 = 0;

pub(crate) const HEADER_LEN: usize = 256;
pub(crate) const LINE: usize = 64;
pub(crate) const BUCKET_LEN: usize = LINE;
pub(crate) const SLOTS: usize = 16;
/// Largest offset of a record relative to its bucket's base (12 bits).
pub(crate) const MAX_REL_OFFSET: usize = (1 << 12) - 1;
/// Largest byte offset of a bucket's base in the records section (40 bits).
pub(crate) const MAX_BASE: u64 = (1 << 40) - 1;
/// Upper bound on `max_probe` that `open` accepts; keeps every lookup short
/// even on a hostile file.
pub(crate) const MAX_PROBE_LIMIT: u32 = 1024;
/// The fixed part of a record before its optional and variable fields.
pub(crate) const RECORD_FIXED_LEN: usize = 7;
/// Status code marking a deletion (only in segment files).
pub(crate) const TOMBSTONE_CODE: u8 = 7;
/// Bytes of one issuing state code in the states section.
pub(crate) const STATE_CODE_LEN: usize = 2;
/// Packed state codes are 15 bits, so a file holds at most this many.
pub(crate) const MAX_STATE_CODES: u64 = 1 << 15;
/// The integrity chunks the builder writes: 16 MiB, a few hundred for the
/// real list, so start-up can spread their checksums over every core.
pub(crate) const DEFAULT_CHUNK_SHIFT: u32 = 24;
/// Chunk sizes `open` accepts: 64 KiB to 1 TiB.
pub(crate) const CHUNK_SHIFT_RANGE: std::ops::RangeInclusive<u32> = 16..=40;
/// Bytes of one chunk checksum in the sums section.
pub(crate) const CHUNK_SUM_LEN: usize = 8;

/// Whether a file is a complete data set or a delta segment layered on top of
/// one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IndexKind {
    /// A complete data set. Holds records only.
    Base,
    /// A delta segment consulted before the base: holds records (upserts)
    /// and deletions.
    Segment,
}

impl IndexKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            IndexKind::Base => 0,
            IndexKind::Segment => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(IndexKind::Base),
            1 => Some(IndexKind::Segment),
            _ => None,
        }
    }
}

/// One entry of an index: a record, or (in a segment) the deletion of a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Entry {
    Record(Record),
    Deleted(DocumentKey),
}

impl Entry {
    /// The document key of the entry.
    pub fn key(&self) -> &DocumentKey {
        match self {
            Entry::Record(r) => &r.key,
            Entry::Deleted(k) => k,
        }
    }
}

/// The decoded header of an index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version_major: u16,
    pub version_minor: u16,
    pub kind: IndexKind,
    /// Entries stored (records, plus deletions in a segment).
    pub record_count: u64,
    /// Buckets in the table, including the spill tail after the home buckets.
    pub bucket_count: u64,
    /// Buckets a key's hash can select.
    pub home_bucket_count: u64,
    pub table_offset: u64,
    pub table_len: u64,
    pub records_offset: u64,
    pub records_len: u64,
    pub hash_seed: u64,
    /// Most buckets a lookup ever scans.
    pub max_probe: u32,
    /// Input records dropped because another record had the same key.
    pub duplicates_dropped: u64,
    /// When the file was built, Unix seconds.
    pub created_at: i64,
    /// The feed sequence number this data set corresponds to (0 if none).
    pub feed_sequence: u64,
    /// The feed state root at that sequence (zero if none).
    pub state_root: [u8; 32],
    /// XXH3-128 of the table and records sections: identifies the data set.
    pub content_id: [u8; 16],
    pub table_checksum: u64,
    pub records_checksum: u64,
    /// Issuing state codes in the states section.
    pub state_count: u32,
    /// Bytes of the confusable filter section: a multiple of 64, at least 64.
    pub filter_len: u64,
    /// Records (not deletions) whose numbers the filter holds.
    pub filter_records: u64,
    /// Each integrity chunk is `1 << chunk_shift` bytes (the last one may be
    /// shorter).
    pub chunk_shift: u32,
    /// XXH3-64 of the sums section.
    pub sums_checksum: u64,
    /// XXH3-64 of header bytes 0..248, as stored: it covers every other
    /// checksum, so it names one exact file content.
    pub header_checksum: u64,
}

impl Header {
    /// Where the states section starts: right after the records.
    pub fn states_offset(&self) -> u64 {
        self.records_offset.saturating_add(self.records_len)
    }

    /// Where the confusable filter section starts.
    pub fn filter_offset(&self) -> u64 {
        self.states_offset()
            .saturating_add(u64::from(self.state_count) * STATE_CODE_LEN as u64)
    }

    /// Where the sums section (one checksum per chunk) starts.
    pub fn sums_offset(&self) -> u64 {
        self.filter_offset().saturating_add(self.filter_len)
    }

    /// Bytes of each integrity chunk.
    pub fn chunk_len(&self) -> u64 {
        1u64 << self.chunk_shift.min(63)
    }

    /// Integrity chunks: the bytes from the end of the header to the start
    /// of the sums section, cut every `chunk_len` bytes.
    pub fn chunk_count(&self) -> u64 {
        self.sums_offset()
            .saturating_sub(HEADER_LEN as u64)
            .div_ceil(self.chunk_len())
    }

    /// Total file length the header describes.
    pub fn file_len(&self) -> u64 {
        self.sums_offset()
            .saturating_add(self.chunk_count().saturating_mul(CHUNK_SUM_LEN as u64))
    }

    /// The content identity as lowercase hex.
    pub fn content_id_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.content_id)
    }

    /// The state root as lowercase hex.
    pub fn state_root_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.state_root)
    }

    /// Average records per home bucket.
    pub fn load_factor(&self) -> f64 {
        if self.bucket_count == 0 {
            return 0.0;
        }
        self.record_count as f64 / (self.bucket_count as f64 * SLOTS as f64)
    }

    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&self.version_major.to_le_bytes());
        h[10..12].copy_from_slice(&self.version_minor.to_le_bytes());
        h[12..14].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        h[14] = self.kind.code();
        h[16..24].copy_from_slice(&self.record_count.to_le_bytes());
        h[24..32].copy_from_slice(&self.bucket_count.to_le_bytes());
        h[32..40].copy_from_slice(&self.table_offset.to_le_bytes());
        h[40..48].copy_from_slice(&self.table_len.to_le_bytes());
        h[48..56].copy_from_slice(&self.records_offset.to_le_bytes());
        h[56..64].copy_from_slice(&self.records_len.to_le_bytes());
        h[64..72].copy_from_slice(&self.hash_seed.to_le_bytes());
        h[72..76].copy_from_slice(&self.max_probe.to_le_bytes());
        h[76..80].copy_from_slice(&(SLOTS as u32).to_le_bytes());
        h[80..88].copy_from_slice(&self.duplicates_dropped.to_le_bytes());
        h[88..96].copy_from_slice(&self.created_at.to_le_bytes());
        h[96..104].copy_from_slice(&self.feed_sequence.to_le_bytes());
        h[104..136].copy_from_slice(&self.state_root);
        h[136..152].copy_from_slice(&self.content_id);
        h[152..160].copy_from_slice(&self.table_checksum.to_le_bytes());
        h[160..168].copy_from_slice(&self.records_checksum.to_le_bytes());
        h[168..176].copy_from_slice(&self.home_bucket_count.to_le_bytes());
        h[176..184].copy_from_slice(&self.filter_len.to_le_bytes());
        h[184..188].copy_from_slice(&self.state_count.to_le_bytes());
        h[188..192].copy_from_slice(&self.chunk_shift.to_le_bytes());
        h[192..200].copy_from_slice(&self.filter_records.to_le_bytes());
        h[200..208].copy_from_slice(&self.sums_checksum.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&h[..248]);
        h[248..256].copy_from_slice(&sum.to_le_bytes());
        h
    }

    /// Decodes and checks a header against the length of the whole file.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, IndexError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(IndexError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(IndexError::LengthMismatch {
                expected: HEADER_LEN as u64,
                actual: bytes.len() as u64,
            });
        }
        let major = u16_at(bytes, 8);
        let minor = u16_at(bytes, 10);
        if major != FORMAT_VERSION_MAJOR {
            return Err(IndexError::UnsupportedVersion { major, minor });
        }
        if bytes.len() < HEADER_LEN {
            return Err(IndexError::LengthMismatch {
                expected: HEADER_LEN as u64,
                actual: bytes.len() as u64,
            });
        }
        let h = &bytes[..HEADER_LEN];
        let stored_sum = u64_at(h, 248);
        if xxhash_rust::xxh3::xxh3_64(&h[..248]) != stored_sum {
            return Err(IndexError::ChecksumMismatch { section: "header" });
        }
        let bad = |what| Err(IndexError::BadHeader { what });
        if usize::from(u16_at(h, 12)) != HEADER_LEN {
            return bad("header length");
        }
        let Some(kind) = IndexKind::from_code(h[14]) else {
            return bad("kind");
        };
        if h[15] != 0 || (minor == 0 && h[208..248].iter().any(|&b| b != 0)) {
            return bad("reserved bytes are not zero");
        }
        if u32_at(h, 76) as usize != SLOTS {
            return bad("slots per bucket");
        }
        let mut state_root = [0u8; 32];
        state_root.copy_from_slice(&h[104..136]);
        let mut content_id = [0u8; 16];
        content_id.copy_from_slice(&h[136..152]);
        let header = Header {
            version_major: major,
            version_minor: minor,
            kind,
            record_count: u64_at(h, 16),
            bucket_count: u64_at(h, 24),
            table_offset: u64_at(h, 32),
            table_len: u64_at(h, 40),
            records_offset: u64_at(h, 48),
            records_len: u64_at(h, 56),
            hash_seed: u64_at(h, 64),
            max_probe: u32_at(h, 72),
            duplicates_dropped: u64_at(h, 80),
            created_at: u64_at(h, 88) as i64,
            feed_sequence: u64_at(h, 96),
            state_root,
            content_id,
            table_checksum: u64_at(h, 152),
            records_checksum: u64_at(h, 160),
            home_bucket_count: u64_at(h, 168),
            filter_len: u64_at(h, 176),
            state_count: u32_at(h, 184),
            chunk_shift: u32_at(h, 188),
            filter_records: u64_at(h, 192),
            sums_checksum: u64_at(h, 200),
            header_checksum: stored_sum,
        };
        header.check_layout(bytes.len() as u64)?;
        Ok(header)
    }

    fn check_layout(&self, actual_len: u64) -> Result<(), IndexError> {
        let bad = |what| Err(IndexError::BadHeader { what });
        if self.table_offset != HEADER_LEN as u64 {
            return bad("table offset");
        }
        if self.bucket_count.checked_mul(BUCKET_LEN as u64) != Some(self.table_len) {
            return bad("table length does not match bucket count");
        }
        if self.home_bucket_count == 0
            || self.home_bucket_count > self.bucket_count
            || self.home_bucket_count > u64::from(u32::MAX)
        {
            return bad("home bucket count");
        }
        if self.table_offset.checked_add(self.table_len) != Some(self.records_offset) {
            return bad("records offset");
        }
        if self.records_len > MAX_BASE + 1 {
            return bad("records section too large");
        }
        if self.max_probe == 0 || self.max_probe > MAX_PROBE_LIMIT {
            return bad("max probe");
        }
        if self.record_count > self.bucket_count.saturating_mul(SLOTS as u64) {
            return bad("more records than slots");
        }
        if u64::from(self.state_count) > MAX_STATE_CODES.min(self.record_count) {
            return bad("state count");
        }
        if self.filter_len < LINE as u64
            || !self.filter_len.is_multiple_of(LINE as u64)
            || self.filter_len / LINE as u64 > u64::from(u32::MAX)
        {
            return bad("filter length");
        }
        if self.filter_records > self.record_count {
            return bad("filter record count");
        }
        if !CHUNK_SHIFT_RANGE.contains(&self.chunk_shift) {
            return bad("chunk size");
        }
        // The section accessors saturate: absurd fields give an absurd
        // length, which no real buffer has.
        let expected = self.file_len();
        if expected != actual_len {
            return Err(IndexError::LengthMismatch {
                expected,
                actual: actual_len,
            });
        }
        Ok(())
    }
}

#[inline]
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

#[inline]
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// The states section for a set of packed state codes, given as a bit set
/// (one bit per 15-bit code): ascending codes, two bytes each.
pub(crate) fn states_section(seen: &[u64]) -> Vec<u8> {
    let mut states = Vec::new();
    for (w, &word) in seen.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let code = (w * 64 + bits.trailing_zeros() as usize) as u16;
            bits &= bits - 1;
            states.extend_from_slice(&code.to_le_bytes());
        }
    }
    states
}

// ---------------------------------------------------------------------------
// Hashing: which bucket a number lives in, and its fingerprint.

/// The seed every builder uses; stored in the header so it could change.
pub(crate) const DEFAULT_SEED: u64 = 0x5d1d_0c5e_ed00_0001;

/// The hash of a normalised number. Only the number is hashed, so every
/// state's record for one number shares a bucket and a lookup by number
/// alone reads the same line as a lookup by (state, number).
#[inline]
pub(crate) fn hash_number(number: &DocumentNumber, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(number.as_bytes(), seed)
}

/// The home bucket for a hash: the high 32 bits scaled to the bucket count.
#[inline]
pub(crate) fn home_bucket(hash: u64, home_buckets: u64) -> u64 {
    ((hash >> 32) * home_buckets) >> 32
}

/// The 16-bit fingerprint kept in a slot: the low bits of the hash.
#[inline]
pub(crate) fn fingerprint(hash: u64) -> u16 {
    hash as u16
}

// ---------------------------------------------------------------------------
// Buckets.

/// A decoded bucket header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BucketHead {
    pub base: u64,
    pub count: usize,
    pub spill: bool,
}

impl BucketHead {
    #[inline]
    pub(crate) fn decode(word: u64) -> Option<Self> {
        let count = ((word >> 40) & 0x1f) as usize;
        if count > SLOTS || word >> 46 != 0 {
            return None;
        }
        Some(Self {
            base: word & MAX_BASE,
            count,
            spill: word & (1 << 45) != 0,
        })
    }

    pub(crate) fn encode(self) -> u64 {
        self.base | ((self.count as u64) << 40) | (u64::from(self.spill) << 45)
    }
}

/// The fingerprint in slot `i` of a 64-byte bucket.
#[inline]
pub(crate) fn slot_fingerprint(bucket: &[u8], i: usize) -> u16 {
    u16_at(bucket, 8 + 2 * i)
}

/// The 12-bit record offset of slot `i`, relative to the bucket's base.
#[inline]
pub(crate) fn slot_offset(bucket: &[u8], i: usize) -> usize {
    let at = 40 + 3 * (i / 2);
    let mut g = [0u8; 4];
    if let Some(s) = bucket.get(at..at + 3) {
        g[..3].copy_from_slice(s);
    }
    let group = u32::from_le_bytes(g);
    (if i.is_multiple_of(2) {
        group
    } else {
        group >> 12
    } & 0xfff) as usize
}

pub(crate) fn encode_bucket(head: BucketHead, fps: &[u16], offsets: &[usize]) -> [u8; BUCKET_LEN] {
    let mut b = [0u8; BUCKET_LEN];
    b[0..8].copy_from_slice(&head.encode().to_le_bytes());
    for (i, fp) in fps.iter().enumerate() {
        b[8 + 2 * i..10 + 2 * i].copy_from_slice(&fp.to_le_bytes());
    }
    for (i, &off) in offsets.iter().enumerate() {
        let at = 40 + 3 * (i / 2);
        let mut g = [0u8; 4];
        g[..3].copy_from_slice(&b[at..at + 3]);
        let mut group = u32::from_le_bytes(g);
        group |= (off as u32 & 0xfff) << if i.is_multiple_of(2) { 0 } else { 12 };
        b[at..at + 3].copy_from_slice(&group.to_le_bytes()[..3]);
    }
    b
}

// ---------------------------------------------------------------------------
// Records.

/// 5-bit letter code: `A` = 1 ... `Z` = 26, 0 = absent.
#[inline]
fn letters_pack(letters: &[u8]) -> u16 {
    let mut v = 0u16;
    for i in 0..3 {
        v = (v << 5) | letters.get(i).map_or(0, |&c| u16::from(c - b'A' + 1));
    }
    v
}

/// Unpacks up to `n` letters packed as [`letters_pack`] does for three and
/// checks they are left-aligned and valid.
#[inline]
fn letters_unpack(v: u16, n: usize) -> Option<([u8; 3], usize)> {
    let mut out = [0u8; 3];
    let mut len = 0;
    let mut ended = false;
    for i in 0..n {
        let c = ((v >> (5 * (n - 1 - i))) & 0x1f) as u8;
        match c {
            0 => ended = true,
            1..=26 if !ended => {
                out[len] = b'A' + c - 1;
                len += 1;
            }
            _ => return None,
        }
    }
    (len > 0).then_some((out, len))
}

#[inline]
pub(crate) fn pack_state(s: &IssuingState) -> u16 {
    letters_pack(s.as_bytes())
}

#[inline]
pub(crate) fn unpack_state(v: u16) -> Option<IssuingState> {
    let (b, len) = letters_unpack(v, 3)?;
    IssuingState::from_letters(&b[..len])
}

fn pack_type(t: &DocumentType) -> u16 {
    letters_pack(t.as_bytes()) >> 5
}

#[inline]
fn unpack_type(v: u16) -> Option<DocumentType> {
    let (b, len) = letters_unpack(v, 2)?;
    DocumentType::from_letters(&b[..len])
}

/// Six-bit code of a number character: `0-9` = 0..9, `A-Z` = 10..35.
#[inline]
fn char_code(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'Z' => c - b'A' + 10,
        // Padding beyond the number's length.
        _ => 0,
    }
}

/// A number packed six bits per character, least significant bits first,
/// unused bits of the last byte zero. This is also how lookups compare
/// numbers: two numbers are equal exactly when their packings are.
#[derive(Clone, Copy)]
pub(crate) struct PackedNumber {
    pub len: u8,
    pub bytes: [u8; 23],
}

impl PackedNumber {
    #[inline]
    pub(crate) fn new(n: &DocumentNumber) -> Self {
        let mut bytes = [0u8; 23];
        // Four characters make three bytes; the tail is zero-padded, which
        // leaves the unused bits zero.
        let mut chars = [0u8; 32];
        let src = n.as_bytes();
        chars[..src.len()].copy_from_slice(src);
        for (group, out) in chars.chunks_exact(4).zip(bytes.chunks_mut(3)) {
            let v = u32::from(char_code(group[0]))
                | u32::from(char_code(group[1])) << 6
                | u32::from(char_code(group[2])) << 12
                | u32::from(char_code(group[3])) << 18;
            let le = v.to_le_bytes();
            let take = out.len();
            out.copy_from_slice(&le[..take]);
        }
        Self {
            len: src.len() as u8,
            bytes,
        }
    }

    #[inline]
    pub(crate) fn byte_len(len: usize) -> usize {
        (len * 6).div_ceil(8)
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..Self::byte_len(self.len as usize)]
    }
}

#[inline]
fn unpack_number(len: usize, packed: &[u8]) -> Option<DocumentNumber> {
    let mut out = [0u8; MAX_NUMBER_LEN];
    let mut acc = 0u32;
    let mut bits = 0;
    let mut src = packed.iter();
    for slot in out.iter_mut().take(len) {
        if bits < 6 {
            acc |= u32::from(*src.next()?) << bits;
            bits += 8;
        }
        let code = (acc & 0x3f) as u8;
        acc >>= 6;
        bits -= 6;
        *slot = match code {
            0..=9 => b'0' + code,
            10..=35 => b'A' + code - 10,
            _ => return None,
        };
    }
    // Leftover bits must be zero so each number has exactly one packing.
    if acc != 0 || src.next().is_some() {
        return None;
    }
    DocumentNumber::from_normalised(&out[..len]).ok()
}

/// Appends the encoding of `entry` to `out`.
pub(crate) fn encode_entry(entry: &Entry, out: &mut Vec<u8>) {
    let key = entry.key();
    let packed = PackedNumber::new(&key.number);
    let (status, doc_type, reporting, reference, date) = match entry {
        Entry::Record(r) => (
            r.status.code(),
            pack_type(&r.doc_type),
            r.reporting_state,
            r.reference.as_bytes(),
            r.reported_on.days(),
        ),
        Entry::Deleted(_) => (TOMBSTONE_CODE, 0, None, &[][..], 0),
    };
    out.push(packed.len | (status << 5));
    let state = pack_state(&key.state) | (u16::from(reporting.is_some()) << 15);
    out.extend_from_slice(&state.to_le_bytes());
    let tr = doc_type | ((reference.len() as u16) << 10);
    out.extend_from_slice(&tr.to_le_bytes());
    out.extend_from_slice(&date.to_le_bytes());
    if let Some(rs) = reporting {
        out.extend_from_slice(&pack_state(&rs).to_le_bytes());
    }
    out.extend_from_slice(packed.as_bytes());
    out.extend_from_slice(reference);
}

/// The parts of an encoded record needed to test a key without decoding the
/// rest.
pub(crate) struct RawEntry<'a> {
    pub number_len: u8,
    pub status: u8,
    pub state: u16,
    pub packed_number: &'a [u8],
    pub bytes: &'a [u8],
}

impl<'a> RawEntry<'a> {
    /// Splits the record that starts at `bytes[0]`; `None` if it does not fit
    /// or its length fields are out of range.
    #[inline]
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Self> {
        let fixed = bytes.get(..RECORD_FIXED_LEN)?;
        let number_len = fixed[0] & 0x1f;
        let status = fixed[0] >> 5;
        let state_word = u16_at(fixed, 1);
        let tr = u16_at(fixed, 3);
        let ref_len = usize::from(tr >> 10);
        if number_len == 0
            || usize::from(number_len) > MAX_NUMBER_LEN
            || ref_len > MAX_REFERENCE_LEN
        {
            return None;
        }
        let opt = if state_word & 0x8000 != 0 { 2 } else { 0 };
        let nlen = PackedNumber::byte_len(usize::from(number_len));
        let total = RECORD_FIXED_LEN + opt + nlen + ref_len;
        let bytes = bytes.get(..total)?;
        Some(Self {
            number_len,
            status,
            state: state_word & 0x7fff,
            packed_number: &bytes[RECORD_FIXED_LEN + opt..RECORD_FIXED_LEN + opt + nlen],
            bytes,
        })
    }

    /// The entry's number, decoded alone.
    #[inline]
    pub(crate) fn number(&self) -> Option<DocumentNumber> {
        unpack_number(usize::from(self.number_len), self.packed_number)
    }

    #[inline]
    pub(crate) fn number_is(&self, q: &PackedNumber) -> bool {
        self.number_len == q.len && self.packed_number == q.as_bytes()
    }

    /// Fully decodes and validates the entry. `allow_tombstone` is true only
    /// for segment files.
    pub(crate) fn decode(&self, allow_tombstone: bool) -> Option<Entry> {
        let state = unpack_state(self.state)?;
        let number = unpack_number(usize::from(self.number_len), self.packed_number)?;
        let key = DocumentKey { state, number };
        let b = self.bytes;
        let tr = u16_at(b, 3);
        let date = u16_at(b, 5);
        let has_reporting = u16_at(b, 1) & 0x8000 != 0;
        if self.status == TOMBSTONE_CODE {
            if !allow_tombstone || tr != 0 || date != 0 || has_reporting {
                return None;
            }
            return Some(Entry::Deleted(key));
        }
        let status = Status::from_code(self.status)?;
        let doc_type = unpack_type(tr & 0x3ff)?;
        let reporting_state = if has_reporting {
            // Bit 15 means nothing here; zero keeps one encoding per record.
            let word = u16_at(b, RECORD_FIXED_LEN);
            if word & 0x8000 != 0 {
                return None;
            }
            Some(unpack_state(word)?)
        } else {
            None
        };
        let ref_len = usize::from(tr >> 10);
        let reference = Reference::from_bytes(b.get(b.len() - ref_len..)?).ok()?;
        Some(Entry::Record(Record {
            key,
            doc_type,
            status,
            reported_on: Date::from_days(date),
            reporting_state,
            reference,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_packing_round_trips() {
        for s in [
            "A",
            "0",
            "Z9",
            "L898902C3",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
        ] {
            let n = DocumentNumber::normalise(s).unwrap();
            let p = PackedNumber::new(&n);
            assert_eq!(unpack_number(n.len(), p.as_bytes()), Some(n));
        }
    }

    #[test]
    fn letters_round_trip() {
        for s in ["D", "UTO", "GB", "ZZZ", "A"] {
            let st = IssuingState::normalise(s).unwrap();
            assert_eq!(unpack_state(pack_state(&st)), Some(st));
        }
        for s in ["P", "PP", "ID", "AC", "V", "ZZ"] {
            let t = DocumentType::normalise(s).unwrap();
            assert_eq!(unpack_type(pack_type(&t)), Some(t));
        }
        // A gap before a letter is not a valid packing.
        assert_eq!(letters_unpack(0b00000_00001_00000, 3), None);
        assert_eq!(letters_unpack(0, 3), None);
    }

    #[test]
    fn slot_offsets_round_trip() {
        let offs: Vec<usize> = (0..SLOTS).map(|i| (i * 257) & 0xfff).collect();
        let fps: Vec<u16> = (0..SLOTS as u16).map(|i| i * 4099).collect();
        let b = encode_bucket(
            BucketHead {
                base: 12345,
                count: SLOTS,
                spill: true,
            },
            &fps,
            &offs,
        );
        for i in 0..SLOTS {
            assert_eq!(slot_offset(&b, i), offs[i]);
            assert_eq!(slot_fingerprint(&b, i), fps[i]);
        }
        let head = BucketHead::decode(u64_at(&b, 0)).unwrap();
        assert_eq!((head.base, head.count, head.spill), (12345, SLOTS, true));
    }
}
