//! A filter over the canonical forms of a data set's numbers
//! ([`sltd_model::possible::canonical_form`]), so that looking for possible
//! matches costs a miss one more cache line instead of one per candidate.
//!
//! A miss with possible matches asked for would probe every candidate
//! number (about six for a typical number), each a random bucket: on this
//! kind of machine, with 4 KiB pages under nested paging, those misses
//! overlap poorly and cost five times a plain miss. But a record can be a
//! possible match only if its number has the query's canonical form, and
//! almost no query's has one in the data. The filter answers "certainly not"
//! from one 64-byte line (a blocked Bloom filter); only a "maybe" (a real
//! candidate, or about 1% false positives) runs the probes. It has no false
//! negatives for any record it was built from, which the tests check against
//! a model.
//!
//! It lives in anonymous memory advised for transparent huge pages (where
//! the kernel grants them): its reads are random over the whole filter, and
//! with 4 KiB pages nearly every one would also miss the TLB.

use sltd_model::DocumentNumber;
use sltd_model::possible::canonical_form;

/// Bits of filter per record: about 1% false positives with [`BITS_SET`].
const BITS_PER_RECORD: u64 = 12;
/// Bits set per canonical number, all in one line.
const BITS_SET: u32 = 7;
/// Seed of the filter's hash (any constant; not the index's seed).
const SEED: u64 = 0x7366_696c_7465_7231;
/// Bytes of one line of the filter: a cache line.
const LINE: usize = 64;

/// Which canonical numbers a data set may hold.
pub struct ConfusableFilter {
    /// `lines * LINE` bytes, page-aligned, so no line crosses a cache line.
    bits: memmap2::MmapMut,
    lines: u64,
    numbers: u64,
}

impl std::fmt::Debug for ConfusableFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfusableFilter")
            .field("bytes", &self.bytes())
            .field("numbers", &self.numbers)
            .finish()
    }
}

impl ConfusableFilter {
    /// An empty filter sized for `records` numbers; fails only if the
    /// memory cannot be had.
    pub fn with_capacity(records: u64) -> std::io::Result<Self> {
        Self::with_lines(Self::lines_for(records))
    }

    /// Lines of the filter for `records` numbers: the one sizing rule, which
    /// the index file format specifies (`docs/FORMAT.md`).
    pub(crate) fn lines_for(records: u64) -> u64 {
        records
            .saturating_mul(BITS_PER_RECORD)
            .div_ceil(512)
            .clamp(1, u64::from(u32::MAX))
    }

    /// The filter stored in an index file's filter section (`bytes`, whole
    /// lines), copied into memory of its own: that memory can have huge
    /// pages, the file's map cannot.
    pub(crate) fn from_section(bytes: &[u8], numbers: u64) -> std::io::Result<Self> {
        let lines = (bytes.len() / LINE) as u64;
        if bytes.is_empty() || !bytes.len().is_multiple_of(LINE) || lines > u64::from(u32::MAX) {
            return Err(std::io::Error::other("filter section is not whole lines"));
        }
        let mut filter = Self::with_lines(lines)?;
        filter.bits.copy_from_slice(bytes);
        filter.numbers = numbers;
        Ok(filter)
    }

    /// The filter's bytes, as the filter section stores them.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    fn with_lines(lines: u64) -> std::io::Result<Self> {
        let len = usize::try_from(lines)
            .ok()
            .and_then(|l| l.checked_mul(LINE))
            .ok_or_else(|| std::io::Error::other("confusable filter too large"))?;
        let bits = memmap2::MmapMut::map_anon(len)?;
        // Advice only: without huge pages the filter works the same, slower.
        #[cfg(target_os = "linux")]
        let _ = bits.advise(memmap2::Advice::HugePage);
        Ok(Self {
            bits,
            lines,
            numbers: 0,
        })
    }

    /// The first byte of the line, and the bit positions within it, of a
    /// canonical number.
    #[inline]
    fn locate(&self, canonical: &DocumentNumber) -> (usize, u64) {
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(canonical.as_bytes(), SEED);
        let line = ((h >> 32) * self.lines) >> 32;
        // The line came from the high half; the positions from a remix, so
        // they do not repeat the line choice.
        let bits = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (line as usize * LINE, bits)
    }

    /// Adds the canonical form of `number`.
    pub fn insert(&mut self, number: &DocumentNumber) {
        let (at, mut bits) = self.locate(&canonical_form(number));
        let Some(line) = self.bits.get_mut(at..at + LINE) else {
            return;
        };
        for _ in 0..BITS_SET {
            let pos = (bits & 511) as usize;
            line[pos / 8] |= 1 << (pos % 8);
            bits >>= 9;
        }
        self.numbers += 1;
    }

    /// Adds many numbers, sorted by the line they set, so the writes walk
    /// the filter in address order (one TLB miss per page, not per number).
    pub fn insert_many(&mut self, numbers: &[DocumentNumber]) {
        let mut at: Vec<(usize, u64)> = numbers
            .iter()
            .map(|n| self.locate(&canonical_form(n)))
            .collect();
        at.sort_unstable_by_key(|&(line, _)| line);
        for (line_at, mut bits) in at {
            let Some(line) = self.bits.get_mut(line_at..line_at + LINE) else {
                continue;
            };
            for _ in 0..BITS_SET {
                let pos = (bits & 511) as usize;
                line[pos / 8] |= 1 << (pos % 8);
                bits >>= 9;
            }
        }
        self.numbers += numbers.len() as u64;
    }

    /// Whether a record whose number has the canonical form of `number` may
    /// be in the data set. False means certainly not: no record can be a
    /// possible match of a query for `number`.
    #[inline]
    pub fn may_contain(&self, number: &DocumentNumber) -> bool {
        self.probe(number).may_contain()
    }

    /// Reads the filter's line for `number` now and answers later: issued
    /// before the exact lookup of the same query, its cache miss overlaps
    /// with the lookup's instead of following it.
    #[inline]
    pub fn probe(&self, number: &DocumentNumber) -> FilterProbe {
        let (at, bits) = self.locate(&canonical_form(number));
        // `locate` stays within the map; a line that did not would read as
        // all ones: "maybe", never a wrong "no".
        let mut line = [0xff; LINE];
        if let Some(src) = self.bits.get(at..at + LINE) {
            line.copy_from_slice(src);
        }
        FilterProbe { line, bits }
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.bits.len()
    }

    /// Numbers inserted.
    pub fn numbers(&self) -> u64 {
        self.numbers
    }
}

/// A filter line read for one number; see [`ConfusableFilter::probe`].
#[derive(Clone, Copy, Debug)]
pub struct FilterProbe {
    line: [u8; LINE],
    bits: u64,
}

impl FilterProbe {
    /// As [`ConfusableFilter::may_contain`].
    #[inline]
    pub fn may_contain(&self) -> bool {
        let mut bits = self.bits;
        let mut all = true;
        for _ in 0..BITS_SET {
            let pos = (bits & 511) as usize;
            all &= self.line[pos / 8] & (1 << (pos % 8)) != 0;
            bits >>= 9;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> DocumentNumber {
        DocumentNumber::normalise(s).unwrap()
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let stored: Vec<DocumentNumber> = (0..20_000u32).map(|i| n(&format!("X{i:07}Q"))).collect();
        let mut f = ConfusableFilter::with_capacity(stored.len() as u64).unwrap();
        let (one, many) = stored.split_at(7_000);
        for s in one {
            f.insert(s);
        }
        f.insert_many(many);
        for s in &stored {
            assert!(f.may_contain(s));
            // Every confusable spelling of a stored number.
            let text = s.as_str().replace('0', "O").replace('1', "I");
            assert!(f.may_contain(&n(&text)), "{text}");
        }
        let false_positives = (0..20_000u32)
            .filter(|i| f.may_contain(&n(&format!("Y{i:07}Q"))))
            .count();
        // About 1% expected; 3% leaves room for the hash.
        assert!(false_positives < 600, "{false_positives}");
        assert_eq!(f.numbers(), 20_000);
        assert_eq!(f.bytes(), 20_000usize * 12 / 512 * 64 + 64);
    }

    #[test]
    fn empty_filter_contains_nothing() {
        let f = ConfusableFilter::with_capacity(0).unwrap();
        assert!(!f.may_contain(&n("L898902C3")));
        assert_eq!(f.bytes(), 64);
    }
}
