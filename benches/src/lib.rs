//! Shared set-up for the benchmarks: generated data sets, indexes built from
//! them, query streams of hits and misses, and the machine's memory floor.

#![forbid(unsafe_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sltd_index::{BuildOptions, Index, IndexBuilder};
use sltd_model::{Query, Record};

/// Data-set sizes to run, from `SLTD_BENCH_SIZES` (comma separated, `k`/`M`
/// suffixes allowed), default `1M,10M`.
pub fn sizes() -> Vec<u64> {
    let spec = std::env::var("SLTD_BENCH_SIZES").unwrap_or_else(|_| "1M,10M".into());
    spec.split(',')
        .filter_map(|s| {
            let s = s.trim();
            let (num, mult) = match s.chars().last()? {
                'k' | 'K' => (&s[..s.len() - 1], 1_000),
                'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
                _ => (s, 1),
            };
            num.parse::<u64>().ok().map(|n| n * mult)
        })
        .collect()
}

/// A label such as `1M` or `100k` for a size.
pub fn label(n: u64) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// `n` generated records (seed 1), specimens included.
pub fn records(n: u64) -> Vec<Record> {
    sltd_export::generate::generate(n, 1).collect()
}

/// Builds an index of `n` generated records (seed 1) straight from the
/// generator, without holding the records, and keeps every `n / sample`-th
/// record for queries. Returns the index bytes, the sample and the build time.
pub fn build_streaming(n: u64, sample: usize) -> (Vec<u8>, Vec<Record>, std::time::Duration) {
    let every = (n / sample as u64).max(1);
    let mut kept = Vec::with_capacity(sample);
    let started = std::time::Instant::now();
    let mut b = IndexBuilder::new(BuildOptions::default());
    b.reserve(n as usize);
    for (i, r) in sltd_export::generate::generate(n, 1).enumerate() {
        if (i as u64).is_multiple_of(every) {
            kept.push(r);
        }
        b.push(r);
    }
    let bytes = b.finish().expect("generated records build").bytes;
    (bytes, kept, started.elapsed())
}

/// Builds an in-memory index of `records`.
pub fn build(records: &[Record]) -> Vec<u8> {
    let mut b = IndexBuilder::new(BuildOptions::default());
    b.reserve(records.len());
    for r in records {
        b.push(*r);
    }
    b.finish().expect("generated records build").bytes
}

/// `count` queries by (state, number, type) for stored records, in random
/// order.
pub fn hit_queries(records: &[Record], count: usize, seed: u64) -> Vec<Query> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let r = &records[rng.random_range(0..records.len())];
            Query {
                number: r.key.number,
                state: Some(r.key.state),
                doc_type: Some(r.doc_type),
            }
        })
        .collect()
}

/// `count` queries that miss: generated documents of another seed, checked
/// against the index.
pub fn miss_queries<B: AsRef<[u8]>>(index: &Index<B>, count: usize, seed: u64) -> Vec<Query> {
    let mut out = Vec::with_capacity(count);
    let mut found = Vec::new();
    for r in sltd_export::generate::Generator::new(seed.wrapping_add(0x5eed)) {
        let q = Query {
            number: r.key.number,
            state: Some(r.key.state),
            doc_type: Some(r.doc_type),
        };
        found.clear();
        index.lookup(&q, &mut found).expect("built index");
        if found.is_empty() {
            out.push(q);
            if out.len() == count {
                break;
            }
        }
    }
    out
}

/// A query by number alone.
pub fn number_only(q: &Query) -> Query {
    Query::number(q.number)
}

/// The memory floor: a buffer of `bytes` bytes laid out as one random cycle
/// through all its 64-byte lines (Sattolo's algorithm), so each step of
/// [`Chase::step`] is a dependent load from a random line: a cache miss (and
/// a TLB miss) like a lookup's, with nothing else.
#[derive(Debug)]
pub struct Chase {
    lines: memmap2::MmapMut,
    at: usize,
}

impl Chase {
    pub fn new(bytes: usize) -> Self {
        let lines = (bytes / 64).max(2);
        let mut order: Vec<u64> = (0..lines as u64).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Sattolo: a single cycle.
        for i in (1..lines).rev() {
            let j = rng.random_range(0..i);
            order.swap(i, j);
        }
        let mut map = memmap2::MmapMut::map_anon(lines * 64).expect("anonymous map");
        let mut link = |from: u64, to: u64| {
            let at = from as usize * 64;
            map[at..at + 8].copy_from_slice(&to.to_le_bytes());
        };
        for w in order.windows(2) {
            link(w[0], w[1]);
        }
        link(order[lines - 1], order[0]);
        Self {
            lines: map,
            at: order[0] as usize,
        }
    }

    /// One dependent random read.
    #[inline]
    pub fn step(&mut self) -> u64 {
        let at = self.at * 64;
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.lines[at..at + 8]);
        let next = u64::from_le_bytes(word);
        self.at = next as usize;
        next
    }
}
