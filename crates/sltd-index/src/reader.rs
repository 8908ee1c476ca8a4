//! Reading an index: `open`, `verify` and lookups over any byte buffer.

use std::collections::BTreeSet;
use std::hint::black_box;

use sltd_model::{DocumentKey, IssuingState, Query, Record};

use crate::{ConfusableFilter, IndexError};

use crate::format::{
    BUCKET_LEN, BucketHead, Entry, HEADER_LEN, Header, IndexKind, LINE, MAX_STATE_CODES,
    PackedNumber, RawEntry, SLOTS, STATE_CODE_LEN, TOMBSTONE_CODE, fingerprint, hash_number,
    home_bucket, slot_fingerprint, slot_offset, states_section, u64_at, unpack_state,
};

/// An opened index over bytes the caller owns (a `Vec<u8>`, a memory map...).
#[derive(Debug, Clone)]
pub struct Index<B> {
    bytes: B,
    header: Header,
}

/// Lookups run through up to this many queries at a time in
/// [`Index::lookup_batch`], touching all their buckets before resolving any.
const BATCH_WINDOW: usize = 32;

impl<B: AsRef<[u8]>> Index<B> {
    /// Opens an index: checks the magic, version, header checksum, section
    /// bounds and the exact length. Cost is independent of the file size.
    pub fn open(bytes: B) -> Result<Self, IndexError> {
        let header = Header::decode(bytes.as_ref())?;
        Ok(Self { bytes, header })
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The same index over the same bytes held differently (for example
    /// behind an `Arc`). `f` must return the bytes it was given.
    pub(crate) fn map_bytes<C: AsRef<[u8]>>(self, f: impl FnOnce(B) -> C) -> Index<C> {
        Index {
            bytes: f(self.bytes),
            header: self.header,
        }
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> B {
        self.bytes
    }

    fn table(&self) -> &[u8] {
        let start = self.header.table_offset as usize;
        self.bytes
            .as_ref()
            .get(start..start + self.header.table_len as usize)
            .unwrap_or_default()
    }

    fn records(&self) -> &[u8] {
        let start = self.header.records_offset as usize;
        self.bytes
            .as_ref()
            .get(start..start + self.header.records_len as usize)
            .unwrap_or_default()
    }

    fn section(&self, start: u64, len: u64) -> &[u8] {
        let start = start as usize;
        self.bytes
            .as_ref()
            .get(start..start.saturating_add(len as usize))
            .unwrap_or_default()
    }

    /// The states section: ascending packed issuing state codes.
    fn states(&self) -> &[u8] {
        let h = &self.header;
        self.section(
            h.states_offset(),
            u64::from(h.state_count) * STATE_CODE_LEN as u64,
        )
    }

    /// The confusable filter section.
    fn filter_section(&self) -> &[u8] {
        self.section(self.header.filter_offset(), self.header.filter_len)
    }

    /// Checks that no byte changed since the file was written: the checksum
    /// of every integrity chunk (every byte after the header, which
    /// [`Index::open`] checked), computed on every core. Reading the whole
    /// file, it also faults a fresh map in. Much cheaper than
    /// [`Index::verify`] (hashing only, no walk): enough for a file that
    /// was fully verified once, when it was written or installed, and is
    /// known by its header checksum to be that file.
    pub fn verify_checksums(&self) -> Result<(), IndexError> {
        let h = &self.header;
        let bytes = self.bytes.as_ref();
        let sums_at = h.sums_offset() as usize;
        let (Some(data), Some(sums)) = (bytes.get(HEADER_LEN..sums_at), bytes.get(sums_at..))
        else {
            return Err(IndexError::BadHeader {
                what: "sums offset",
            });
        };
        if xxhash_rust::xxh3::xxh3_64(sums) != h.sums_checksum {
            return Err(IndexError::ChecksumMismatch { section: "sums" });
        }
        if chunk_sums(data, h.chunk_shift) != sums {
            return Err(IndexError::ChecksumMismatch {
                section: "integrity chunk",
            });
        }
        Ok(())
    }

    /// Checks every byte: both section checksums, the content identity, every
    /// bucket and every record (that each decodes, sits in the bucket chain
    /// its hash selects, does not cross a cache line, and is counted once).
    pub fn verify(&self) -> Result<(), IndexError> {
        self.verify_checksums()?;
        let h = &self.header;
        let table = self.table();
        let records = self.records();
        if xxhash_rust::xxh3::xxh3_64(table) != h.table_checksum {
            return Err(IndexError::ChecksumMismatch { section: "table" });
        }
        if xxhash_rust::xxh3::xxh3_64(records) != h.records_checksum {
            return Err(IndexError::ChecksumMismatch { section: "records" });
        }
        if content_id(table, records) != h.content_id {
            return Err(IndexError::ChecksumMismatch {
                section: "content identity",
            });
        }
        self.verify_structure()?;
        self.verify_summaries()
    }

    /// The structural part of [`verify`](Self::verify): every bucket and
    /// every entry.
    fn verify_structure(&self) -> Result<(), IndexError> {
        let h = &self.header;
        let table = self.table();
        let records = self.records();
        let mut seen = 0u64;
        // One bit per byte of the records section: each byte belongs to at
        // most one entry, and bytes that belong to none must be zero.
        let mut used = vec![0u64; records.len().div_ceil(64)];
        let corrupt = |what, offset: usize| IndexError::Corrupt {
            what,
            offset: offset as u64,
        };
        for b in 0..h.bucket_count as usize {
            let at = b * BUCKET_LEN;
            let bucket = &table[at..at + BUCKET_LEN];
            let file_at = HEADER_LEN + at;
            let head = BucketHead::decode(u64_at(bucket, 0))
                .ok_or_else(|| corrupt("bucket header", file_at))?;
            if head.spill && b + 1 == h.bucket_count as usize {
                return Err(corrupt("spill flag on the last bucket", file_at));
            }
            if head.count == 0 && head.base != 0 {
                return Err(corrupt("empty bucket with a record base", file_at));
            }
            for i in head.count..SLOTS {
                if slot_fingerprint(bucket, i) != 0 || slot_offset(bucket, i) != 0 {
                    return Err(corrupt("unused slot is not zero", file_at));
                }
            }
            for i in 0..head.count {
                let off = head.base as usize + slot_offset(bucket, i);
                let raw = records
                    .get(off..)
                    .and_then(RawEntry::parse)
                    .ok_or_else(|| corrupt("record bounds", file_at))?;
                let rec_at = h.records_offset as usize + off;
                if raw.bytes.len() <= LINE && off / LINE != (off + raw.bytes.len() - 1) / LINE {
                    return Err(corrupt("record crosses a cache line", rec_at));
                }
                let entry = raw
                    .decode(h.kind == IndexKind::Segment)
                    .ok_or_else(|| corrupt("record contents", rec_at))?;
                let hash = hash_number(&entry.key().number, h.hash_seed);
                if fingerprint(hash) != slot_fingerprint(bucket, i) {
                    return Err(corrupt("fingerprint does not match record", file_at));
                }
                let home = home_bucket(hash, h.home_bucket_count) as usize;
                if home > b || b - home >= h.max_probe as usize {
                    return Err(corrupt("record outside its bucket chain", file_at));
                }
                // Every bucket from home up to here must say it spills.
                for c in home..b {
                    let w = u64_at(table, c * BUCKET_LEN);
                    if !BucketHead::decode(w).is_some_and(|hd| hd.spill) {
                        return Err(corrupt("broken spill chain", file_at));
                    }
                }
                // Exactly one entry per key.
                let mut found = 0;
                self.scan(&entry.key().number, |e| {
                    if e.key() == entry.key() {
                        found += 1;
                    }
                    true
                })?;
                if found != 1 {
                    return Err(corrupt("duplicate key", rec_at));
                }
                for byte in off..off + raw.bytes.len() {
                    if used[byte / 64] & (1 << (byte % 64)) != 0 {
                        return Err(corrupt("records overlap", rec_at));
                    }
                    used[byte / 64] |= 1 << (byte % 64);
                }
                seen += 1;
            }
        }
        for (line, (word, chunk)) in used.iter().zip(records.chunks(64)).enumerate() {
            for (bit, &byte) in chunk.iter().enumerate() {
                if byte != 0 && word & (1 << bit) == 0 {
                    return Err(corrupt(
                        "padding byte is not zero",
                        h.records_offset as usize + line * 64 + bit,
                    ));
                }
            }
        }
        if seen != h.record_count {
            return Err(IndexError::BadHeader {
                what: "record count does not match the table",
            });
        }
        Ok(())
    }

    /// The summary part of [`verify`](Self::verify): the states and filter
    /// sections hold exactly what the records give (a filter missing a
    /// number would hide a possible match).
    fn verify_summaries(&self) -> Result<(), IndexError> {
        let h = &self.header;
        let mut seen = vec![0u64; MAX_STATE_CODES as usize / 64];
        let mut records = 0u64;
        self.for_each_raw(|raw| {
            if raw.status != TOMBSTONE_CODE {
                let code = usize::from(raw.state);
                seen[code / 64] |= 1 << (code % 64);
                records += 1;
            }
        })?;
        if self.states() != states_section(&seen) {
            return Err(IndexError::Corrupt {
                what: "states section does not match the records",
                offset: h.states_offset(),
            });
        }
        let corrupt_filter = IndexError::Corrupt {
            what: "filter section does not match the records",
            offset: h.filter_offset(),
        };
        if h.filter_records != records
            || h.filter_len / LINE as u64 != ConfusableFilter::lines_for(records)
        {
            return Err(corrupt_filter);
        }
        let mut filter =
            ConfusableFilter::with_capacity(records).map_err(|e| IndexError::Build {
                reason: format!("cannot allocate the confusable filter: {e}"),
            })?;
        self.fill_confusable_filter(&mut filter)?;
        if filter.as_bytes() != self.filter_section() {
            return Err(corrupt_filter);
        }
        Ok(())
    }

    /// Visits every entry whose number equals `number`, in slot order; stops
    /// early when `visit` returns false.
    #[inline]
    fn scan(
        &self,
        number: &sltd_model::DocumentNumber,
        mut visit: impl FnMut(Entry) -> bool,
    ) -> Result<(), IndexError> {
        let h = &self.header;
        let hash = hash_number(number, h.hash_seed);
        let home = home_bucket(hash, h.home_bucket_count);
        self.scan_hashed(hash, home, number, &mut visit)
    }

    #[inline]
    fn scan_hashed(
        &self,
        hash: u64,
        home: u64,
        number: &sltd_model::DocumentNumber,
        visit: &mut impl FnMut(Entry) -> bool,
    ) -> Result<(), IndexError> {
        let h = &self.header;
        let table = self.table();
        let records = self.records();
        let fp = fingerprint(hash);
        let segment = h.kind == IndexKind::Segment;
        let mut packed: Option<PackedNumber> = None;
        let mut b = home;
        for _ in 0..h.max_probe {
            let at = b as usize * BUCKET_LEN;
            let Some(bucket) = table.get(at..at + BUCKET_LEN) else {
                return Err(IndexError::Corrupt {
                    what: "spill chain runs past the table",
                    offset: (HEADER_LEN + at) as u64,
                });
            };
            let corrupt = |what| IndexError::Corrupt {
                what,
                offset: (HEADER_LEN + at) as u64,
            };
            let head =
                BucketHead::decode(u64_at(bucket, 0)).ok_or_else(|| corrupt("bucket header"))?;
            let mut candidates = matching_slots(bucket, fp, head.count);
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let off = (head.base as usize).saturating_add(slot_offset(bucket, i));
                let raw = records
                    .get(off..)
                    .and_then(RawEntry::parse)
                    .ok_or_else(|| corrupt("record bounds"))?;
                // Packed only once a fingerprint matches: most misses never
                // get here.
                let packed = packed.get_or_insert_with(|| PackedNumber::new(number));
                if !raw.number_is(packed) {
                    continue;
                }
                let entry = raw
                    .decode(segment)
                    .ok_or_else(|| corrupt("record contents"))?;
                if !visit(entry) {
                    return Ok(());
                }
            }
            if !head.spill {
                return Ok(());
            }
            b += 1;
        }
        Ok(())
    }

    /// Appends to `out` every record that answers `query`. Deletions in a
    /// segment are not records and are skipped; see [`Index::lookup_entries`].
    pub fn lookup(&self, query: &Query, out: &mut Vec<Record>) -> Result<(), IndexError> {
        self.lookup_entries_with(query, |e| {
            if let Entry::Record(r) = e {
                out.push(r);
            }
        })
    }

    /// Appends to `out` every entry (record or deletion) whose key answers
    /// `query`; a deletion matches on state and number only.
    pub fn lookup_entries(&self, query: &Query, out: &mut Vec<Entry>) -> Result<(), IndexError> {
        self.lookup_entries_with(query, |e| out.push(e))
    }

    fn lookup_entries_with(
        &self,
        query: &Query,
        mut sink: impl FnMut(Entry),
    ) -> Result<(), IndexError> {
        self.scan(&query.number, |e| {
            if entry_matches(query, &e) {
                sink(e);
            }
            true
        })
    }

    /// The entry stored for exactly `key`, if any.
    pub fn get(&self, key: &DocumentKey) -> Result<Option<Entry>, IndexError> {
        let mut found = None;
        self.scan(&key.number, |e| {
            if e.key() == key {
                found = Some(e);
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }

    /// Runs many lookups, calling `on_match(i, record)` for each record that
    /// answers `queries[i]`, in query order. Queries are taken a window at a
    /// time: all of a window's buckets are touched first, then the record
    /// lines of their candidates, so the cache misses of the whole window
    /// overlap; then each query is resolved from cache.
    pub fn lookup_batch(
        &self,
        queries: &[Query],
        mut on_match: impl FnMut(usize, Record),
    ) -> Result<(), IndexError> {
        let h = &self.header;
        let table = self.table();
        let records = self.records();
        let mut hashes = [(0u64, 0u64); BATCH_WINDOW];
        let mut settled = [false; BATCH_WINDOW];
        for (w, window) in queries.chunks(BATCH_WINDOW).enumerate() {
            let mut touch = 0u64;
            for (slot, q) in hashes.iter_mut().zip(window) {
                let hash = hash_number(&q.number, h.hash_seed);
                let home = home_bucket(hash, h.home_bucket_count);
                *slot = (hash, home);
                touch ^= u64_at(table, home as usize * BUCKET_LEN);
            }
            black_box(touch);
            // Second pass: the buckets are arriving; touch the record line of
            // each query's first candidate so a hit's second miss overlaps
            // with the others too. Negatives rarely have a candidate.
            let mut touch = 0u8;
            for (settled, &(hash, home)) in settled.iter_mut().zip(&hashes[..window.len()]) {
                *settled = false;
                let at = home as usize * BUCKET_LEN;
                let Some(bucket) = table.get(at..at + BUCKET_LEN) else {
                    continue;
                };
                let Some(head) = BucketHead::decode(u64_at(bucket, 0)) else {
                    continue;
                };
                let candidates = matching_slots(bucket, fingerprint(hash), head.count);
                if candidates != 0 {
                    let slot = candidates.trailing_zeros() as usize;
                    let off = (head.base as usize).saturating_add(slot_offset(bucket, slot));
                    touch ^= records.get(off).copied().unwrap_or(0);
                }
                // No candidate and no spill: a miss, already answered.
                *settled = candidates == 0 && !head.spill;
            }
            black_box(touch);
            for (i, (q, &(hash, home))) in window.iter().zip(&hashes).enumerate() {
                if settled[i] {
                    continue;
                }
                let idx = w * BATCH_WINDOW + i;
                self.scan_hashed(hash, home, &q.number, &mut |e| {
                    if let Entry::Record(r) = e
                        && q.matches(&r)
                    {
                        on_match(idx, r);
                    }
                    true
                })?;
            }
        }
        Ok(())
    }

    /// Calls `visit` with every stored entry's raw fields, in table order,
    /// without decoding the rest: the one walk that load-time summaries
    /// share.
    fn for_each_raw(&self, mut visit: impl FnMut(&RawEntry<'_>)) -> Result<(), IndexError> {
        let table = self.table();
        let records = self.records();
        for b in 0..self.header.bucket_count as usize {
            let at = b * BUCKET_LEN;
            let corrupt = |what| IndexError::Corrupt {
                what,
                offset: (HEADER_LEN + at) as u64,
            };
            let bucket = table
                .get(at..at + BUCKET_LEN)
                .ok_or_else(|| corrupt("bucket bounds"))?;
            let head =
                BucketHead::decode(u64_at(bucket, 0)).ok_or_else(|| corrupt("bucket header"))?;
            for i in 0..head.count {
                let off = (head.base as usize).saturating_add(slot_offset(bucket, i));
                let raw = records
                    .get(off..)
                    .and_then(RawEntry::parse)
                    .ok_or_else(|| corrupt("record bounds"))?;
                visit(&raw);
            }
        }
        Ok(())
    }

    /// Every issuing state that a record of this file carries (deletions
    /// are not counted), read from the states section: a few bytes,
    /// whatever the file's size.
    pub fn issuing_states(&self) -> Result<BTreeSet<IssuingState>, IndexError> {
        let corrupt = IndexError::Corrupt {
            what: "states section",
            offset: self.header.states_offset(),
        };
        let mut states = BTreeSet::new();
        let mut last = None;
        for code in self.states().chunks_exact(STATE_CODE_LEN) {
            let code = u16::from_le_bytes([code[0], code[1]]);
            if last.is_some_and(|l| l >= code) {
                return Err(corrupt);
            }
            last = Some(code);
            states.insert(unpack_state(code).ok_or(IndexError::Corrupt {
                what: "states section",
                offset: self.header.states_offset(),
            })?);
        }
        Ok(states)
    }

    /// The confusable filter of this file's record numbers, read from its
    /// filter section into memory of its own.
    pub fn confusable_filter(&self) -> Result<ConfusableFilter, IndexError> {
        ConfusableFilter::from_section(self.filter_section(), self.header.filter_records).map_err(
            |e| IndexError::Build {
                reason: format!("cannot load the confusable filter: {e}"),
            },
        )
    }

    /// Adds the number of every record of this file (not deletions) to
    /// `filter`.
    pub fn fill_confusable_filter(&self, filter: &mut ConfusableFilter) -> Result<(), IndexError> {
        // In chunks small enough to stay in cache, each inserted in line
        // order.
        const CHUNK: usize = 1 << 16;
        let mut bad = false;
        let mut chunk = Vec::with_capacity(CHUNK);
        self.for_each_raw(|raw| {
            if raw.status != TOMBSTONE_CODE {
                match raw.number() {
                    Some(n) => chunk.push(n),
                    None => bad = true,
                }
                if chunk.len() == CHUNK {
                    filter.insert_many(&chunk);
                    chunk.clear();
                }
            }
        })?;
        filter.insert_many(&chunk);
        if bad {
            return Err(IndexError::Corrupt {
                what: "record number",
                offset: self.header.records_offset,
            });
        }
        Ok(())
    }

    /// Every entry in table order.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            table: self.table(),
            records: self.records(),
            segment: self.header.kind == IndexKind::Segment,
            records_offset: self.header.records_offset,
            bucket: 0,
            slot: 0,
        }
    }

    /// Counts used for reporting: buckets that spill into the next one.
    pub fn spilling_buckets(&self) -> u64 {
        let table = self.table();
        (0..self.header.bucket_count as usize)
            .filter(|&b| {
                BucketHead::decode(u64_at(table, b * BUCKET_LEN)).is_some_and(|hd| hd.spill)
            })
            .count() as u64
    }
}

/// A bit mask of the slots among the first `count` whose fingerprint is
/// `fp`. Written over a fixed-size array so it compiles to a few vector
/// compares.
#[inline]
fn matching_slots(bucket: &[u8], fp: u16, count: usize) -> u32 {
    let Ok(bucket) = <&[u8; BUCKET_LEN]>::try_from(bucket) else {
        return 0;
    };
    let mut mask = 0u32;
    for i in 0..SLOTS {
        let slot = u16::from_le_bytes([bucket[8 + 2 * i], bucket[9 + 2 * i]]);
        mask |= u32::from(slot == fp) << i;
    }
    mask & ((1u32 << count) - 1)
}

/// Whether `entry` answers `query`: a record by [`Query::matches`], a
/// deletion by its key alone (the type is not known for a deleted key).
pub(crate) fn entry_matches(query: &Query, entry: &Entry) -> bool {
    match entry {
        Entry::Record(r) => query.matches(r),
        Entry::Deleted(k) => k.number == query.number && query.state.is_none_or(|s| s == k.state),
    }
}

/// The data-set identity: XXH3-128 over the table and the records sections.
pub(crate) fn content_id(table: &[u8], records: &[u8]) -> [u8; 16] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(table);
    hasher.update(records);
    hasher.digest128().to_le_bytes()
}

/// The sums section for `data` (every byte after the header, up to the
/// sums): XXH3-64 of each `1 << chunk_shift`-byte chunk, little-endian, the
/// last chunk possibly shorter. Hashed on every core; reading a fresh map
/// this way also faults it in on every core.
pub(crate) fn chunk_sums(data: &[u8], chunk_shift: u32) -> Vec<u8> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let chunk = 1usize << chunk_shift.min(usize::BITS - 1);
    let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
    let mut sums = vec![0u64; chunks.len()];
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(chunks.len())
        .max(1);
    // Chunks are handed out one at a time, so a slower core takes fewer.
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(c) = chunks.get(i) else {
                return done;
            };
            done.push((i, xxhash_rust::xxh3::xxh3_64(c)));
        }
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        let mut all = work();
        for h in helpers {
            // A helper cannot panic (hashing slices); if one did, its chunks
            // stay zero and the comparison fails: refused, never accepted.
            all.extend(h.join().unwrap_or_default());
        }
        for (i, sum) in all {
            sums[i] = sum;
        }
    });
    sums.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Recomputes every checksum of an index file after its sections were
/// edited (the section checksums, the content identity, the integrity
/// chunks and the header checksum), from the layout its header gives. For
/// tests and fuzzing: a resealed file reaches past the checksums, so only
/// the structural checks can refuse it. Fails if the header's layout does
/// not match `file`'s length.
#[doc(hidden)]
pub fn reseal(file: &mut [u8]) -> Result<(), IndexError> {
    // Decode the layout without the header checksum, which may be stale.
    let mut probe = file
        .get(..HEADER_LEN)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    if probe.len() == HEADER_LEN {
        let sum = xxhash_rust::xxh3::xxh3_64(&probe[..HEADER_LEN - 8]);
        probe[HEADER_LEN - 8..].copy_from_slice(&sum.to_le_bytes());
        file[..HEADER_LEN].copy_from_slice(&probe);
    }
    let mut h = Header::decode(file)?;
    let (t0, r0) = (h.table_offset as usize, h.records_offset as usize);
    let r1 = r0 + h.records_len as usize;
    let sums_at = h.sums_offset() as usize;
    let (table, records) = (&file[t0..r0], &file[r0..r1]);
    h.table_checksum = xxhash_rust::xxh3::xxh3_64(table);
    h.records_checksum = xxhash_rust::xxh3::xxh3_64(records);
    h.content_id = content_id(table, records);
    let sums = chunk_sums(&file[HEADER_LEN..sums_at], h.chunk_shift);
    file[sums_at..].copy_from_slice(&sums);
    h.sums_checksum = xxhash_rust::xxh3::xxh3_64(&sums);
    file[..HEADER_LEN].copy_from_slice(&h.encode());
    Ok(())
}

/// Iterator over every entry of an index, in table order.
#[derive(Debug)]
pub struct Entries<'a> {
    table: &'a [u8],
    records: &'a [u8],
    segment: bool,
    records_offset: u64,
    bucket: usize,
    slot: usize,
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let at = self.bucket * BUCKET_LEN;
            let bucket = self.table.get(at..at + BUCKET_LEN)?;
            let corrupt = |what, offset: usize| {
                Some(Err(IndexError::Corrupt {
                    what,
                    offset: offset as u64,
                }))
            };
            let Some(head) = BucketHead::decode(u64_at(bucket, 0)) else {
                self.bucket = self.table.len() / BUCKET_LEN;
                return corrupt("bucket header", HEADER_LEN + at);
            };
            if self.slot >= head.count {
                self.bucket += 1;
                self.slot = 0;
                continue;
            }
            let off = head.base as usize + slot_offset(bucket, self.slot);
            self.slot += 1;
            let rec_at = self.records_offset as usize + off;
            return match self.records.get(off..).and_then(RawEntry::parse) {
                Some(raw) => match raw.decode(self.segment) {
                    Some(e) => Some(Ok(e)),
                    None => corrupt("record contents", rec_at),
                },
                None => corrupt("record bounds", rec_at),
            };
        }
    }
}
