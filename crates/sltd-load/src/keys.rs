//! The key stream: which documents a load run asks for and the verdict each
//! must get, drawn from an export with a seeded generator.
//!
//! Hits are a reservoir sample of the export's records; misses are numbers
//! from the synthetic generator's patterns for a sampled issuing state,
//! checked not to be in the export. Both are shuffled together. Every random
//! draw comes from one ChaCha8 stream seeded by the caller, and the set of
//! the export's numbers uses a fixed hash, so the same export, seed, hit
//! ratio and sample size always give the same queries: every server in a
//! comparison is asked exactly the same thing.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sltd_export::ExportReader;
use sltd_model::{DocumentKey, Record};

use crate::error::KeyStreamError;

/// Most queries in a stream; a run cycles through them.
const MAX_QUERIES: usize = 200_000;
/// Fewest queries in a stream, however small the sample.
const MIN_QUERIES: usize = 10_000;
/// Queries per sampled record, between the two bounds above.
const QUERIES_PER_SAMPLED_RECORD: usize = 4;
/// Generated numbers tried for one miss before giving up.
const MAX_MISS_ATTEMPTS: u32 = 10_000;

/// How to draw a key stream.
#[derive(Clone, Debug)]
pub struct KeyStreamOptions {
    /// Seed of every random draw.
    pub seed: u64,
    /// Share of queries that must hit, between 0 and 1.
    pub hit_ratio: f64,
    /// Most records sampled from the export to draw hits from.
    pub max_keys: usize,
    /// Skip rows that fail validation (counted) instead of refusing the
    /// export. A file that cannot be read at all is refused either way.
    pub skip_invalid: bool,
}

impl Default for KeyStreamOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            hit_ratio: 0.1,
            max_keys: 1_000_000,
            skip_invalid: false,
        }
    }
}

/// One query of a run and the verdict it must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    pub key: DocumentKey,
    /// The export holds a record for `key` (a miss's number is in no
    /// record of the export, whatever its state).
    pub hit: bool,
}

/// The queries of a run, in the order they are sent (cycled through).
#[derive(Clone, Debug)]
pub struct KeyStream {
    queries: Vec<Query>,
    rows_read: u64,
    rows_skipped: u64,
}

impl KeyStream {
    /// Draws the stream from the export at `path`.
    pub fn from_export(path: &Path, opts: &KeyStreamOptions) -> Result<Self, KeyStreamError> {
        let file = File::open(path).map_err(|error| KeyStreamError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_reader(
            BufReader::with_capacity(1 << 20, file),
            &path.display().to_string(),
            opts,
        )
    }

    /// Draws the stream from an export read from `input`; `name` names it
    /// in errors.
    pub fn from_reader(
        input: impl Read,
        name: &str,
        opts: &KeyStreamOptions,
    ) -> Result<Self, KeyStreamError> {
        if !(0.0..=1.0).contains(&opts.hit_ratio) {
            return Err(KeyStreamError::HitRatio {
                value: opts.hit_ratio,
            });
        }
        if opts.max_keys == 0 {
            return Err(KeyStreamError::NoKeysAllowed);
        }
        let row_error = |error| KeyStreamError::Row {
            input: name.to_string(),
            error,
        };
        let reader = ExportReader::new(input).map_err(row_error)?;
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut sample: Vec<Record> = Vec::new();
        // Hashes of every number in the file, to make sure a miss is a miss.
        // A collision only rejects a candidate miss, never makes a false one.
        let mut numbers: HashSet<u64> = HashSet::new();
        let (mut rows_read, mut rows_skipped) = (0u64, 0u64);
        for row in reader {
            let rec = match row {
                Ok(rec) => rec,
                Err(e) if opts.skip_invalid && !e.is_fatal() => {
                    rows_skipped += 1;
                    continue;
                }
                Err(e) => return Err(row_error(e)),
            };
            numbers.insert(number_hash(rec.key.number.as_str()));
            rows_read += 1;
            if sample.len() < opts.max_keys {
                sample.push(rec);
            } else {
                let j = rng.random_range(0..rows_read);
                if let Some(slot) = usize::try_from(j).ok().and_then(|j| sample.get_mut(j)) {
                    *slot = rec;
                }
            }
        }
        if sample.is_empty() {
            return Err(KeyStreamError::NoRecords {
                input: name.to_string(),
                rows_skipped,
            });
        }
        let len = (sample.len() * QUERIES_PER_SAMPLED_RECORD).clamp(MIN_QUERIES, MAX_QUERIES);
        let mut queries = Vec::with_capacity(len);
        for i in 0..len {
            if rng.random_bool(opts.hit_ratio) {
                queries.push(Query {
                    key: sample[i % sample.len()].key,
                    hit: true,
                });
                continue;
            }
            let state = sample[rng.random_range(0..sample.len())].key.state;
            let mut attempts = 0;
            let number = loop {
                let n = sltd_export::generate::random_miss_number(&mut rng, &state);
                if !numbers.contains(&number_hash(n.as_str())) {
                    break n;
                }
                attempts += 1;
                if attempts == MAX_MISS_ATTEMPTS {
                    return Err(KeyStreamError::NoMissFound {
                        input: name.to_string(),
                        attempts,
                    });
                }
            };
            queries.push(Query {
                key: DocumentKey { state, number },
                hit: false,
            });
        }
        // Spread the hits over the stream rather than in sample order
        // (Fisher-Yates, drawing the same ranges as every earlier stream did,
        // so that published runs can be repeated query for query).
        for i in (1..queries.len()).rev() {
            let j = rng.random_range(0..=i);
            queries.swap(i, j);
        }
        Ok(Self {
            queries,
            rows_read,
            rows_skipped,
        })
    }

    /// The queries, in sending order.
    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    /// The queries, in sending order.
    pub fn into_queries(self) -> Vec<Query> {
        self.queries
    }

    /// Good rows read from the export.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Bad rows skipped (only with [`KeyStreamOptions::skip_invalid`]).
    pub fn rows_skipped(&self) -> u64 {
        self.rows_skipped
    }
}

/// A hash of a normalised document number that is the same in every
/// process and on every platform (the stream must not depend on either).
fn number_hash(number: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(number.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use sltd_export::ExportWriter;

    use super::*;

    fn export(records: &[Record]) -> Vec<u8> {
        let mut w = ExportWriter::new(Vec::new()).unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        w.finish().unwrap()
    }

    fn records(n: u64, seed: u64) -> Vec<Record> {
        sltd_export::generate::generate(n, seed).collect()
    }

    fn draw(csv: &[u8], opts: &KeyStreamOptions) -> Result<KeyStream, KeyStreamError> {
        KeyStream::from_reader(csv, "export.csv", opts)
    }

    fn opts(seed: u64, hit_ratio: f64) -> KeyStreamOptions {
        KeyStreamOptions {
            seed,
            hit_ratio,
            ..KeyStreamOptions::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
        let csv = export(&records(3_000, 1));
        let a = draw(&csv, &opts(7, 0.3)).unwrap();
        let b = draw(&csv, &opts(7, 0.3)).unwrap();
        assert_eq!(a.queries(), b.queries());
        let c = draw(&csv, &opts(8, 0.3)).unwrap();
        assert_ne!(a.queries(), c.queries());
        // A sample smaller than the file is a seeded reservoir sample too.
        let small = KeyStreamOptions {
            max_keys: 100,
            ..opts(7, 0.5)
        };
        let x = draw(&csv, &small).unwrap();
        let y = draw(&csv, &small).unwrap();
        assert_eq!(x.queries(), y.queries());
    }

    #[test]
    fn hits_are_in_the_export_and_misses_are_not() {
        let recs = records(3_000, 2);
        let by_key: BTreeMap<DocumentKey, &Record> = recs.iter().map(|r| (r.key, r)).collect();
        let numbers: BTreeSet<&str> = recs.iter().map(|r| r.key.number.as_str()).collect();
        let s = draw(&export(&recs), &opts(3, 0.5)).unwrap();
        assert_eq!(s.rows_read(), 3_000);
        // 4 queries per sampled record, within the bounds.
        assert_eq!(s.queries().len(), 12_000);
        for q in s.queries() {
            if q.hit {
                assert!(by_key.contains_key(&q.key), "{:?}", q.key);
            } else {
                assert!(!numbers.contains(q.key.number.as_str()), "{:?}", q.key);
                // A miss keeps a state that the export has.
                assert!(recs.iter().any(|r| r.key.state == q.key.state));
            }
        }
    }

    /// The number of hits is binomial(n, p): it stays within six standard
    /// deviations of n * p (for a fixed seed this is exact, and a broken
    /// draw lands far outside).
    #[test]
    fn the_hit_ratio_is_within_its_binomial_bounds() {
        let csv = export(&records(3_000, 4));
        for p in [0.01, 0.1, 0.5, 0.9] {
            for seed in 0..3 {
                let s = draw(&csv, &opts(seed, p)).unwrap();
                let n = s.queries().len() as f64;
                let hits = s.queries().iter().filter(|q| q.hit).count() as f64;
                let sd = (n * p * (1.0 - p)).sqrt();
                assert!(
                    (hits - n * p).abs() <= 6.0 * sd,
                    "p {p} seed {seed}: {hits} hits of {n}"
                );
            }
        }
        let all = draw(&csv, &opts(1, 1.0)).unwrap();
        assert!(all.queries().iter().all(|q| q.hit));
        let none = draw(&csv, &opts(1, 0.0)).unwrap();
        assert!(none.queries().iter().all(|q| !q.hit));
    }

    #[test]
    fn hits_come_from_a_sample_of_at_most_max_keys() {
        let csv = export(&records(3_000, 5));
        let s = draw(
            &csv,
            &KeyStreamOptions {
                max_keys: 50,
                ..opts(1, 1.0)
            },
        )
        .unwrap();
        let distinct: BTreeSet<DocumentKey> = s.queries().iter().map(|q| q.key).collect();
        assert_eq!(distinct.len(), 50);
        // Bounded below: a tiny sample still gives a usable stream.
        assert_eq!(s.queries().len(), MIN_QUERIES);
    }

    const HEADER: &str =
        "issuing_country,document_type,document_number,status,reported_on,reference\n";

    #[test]
    fn a_bad_row_is_an_error_naming_its_line_unless_skipping_is_asked() {
        let csv = format!(
            "{HEADER}UTO,P,L898902C3,stolen,2024-01-02,R1\nUTO,P,AB.12,stolen,2024-01-02,R2\nD,P,C01X00T47,lost,2024-01-02,R3\n"
        );
        let err = draw(csv.as_bytes(), &opts(1, 0.5)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("export.csv: line 3: document_number"),
            "{text}"
        );
        assert!(matches!(err, KeyStreamError::Row { .. }));

        let s = draw(
            csv.as_bytes(),
            &KeyStreamOptions {
                skip_invalid: true,
                ..opts(1, 0.5)
            },
        )
        .unwrap();
        assert_eq!((s.rows_read(), s.rows_skipped()), (2, 1));
        // A bad header is never skipped: it would lose the whole file.
        let err = draw(
            b"country,number\nUTO,L898902C3\n",
            &KeyStreamOptions {
                skip_invalid: true,
                ..opts(1, 0.5)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }

    #[test]
    fn an_empty_sample_is_a_clear_error() {
        for ratio in [0.0, 0.5] {
            let err = draw(HEADER.as_bytes(), &opts(1, ratio)).unwrap_err();
            assert!(
                matches!(
                    err,
                    KeyStreamError::NoRecords {
                        rows_skipped: 0,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("no records"), "{err}");
        }
        let only_bad = format!("{HEADER}UTO,P,AB.12,stolen,2024-01-02,R2\n");
        let err = draw(
            only_bad.as_bytes(),
            &KeyStreamOptions {
                skip_invalid: true,
                ..opts(1, 0.5)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("1 bad rows skipped"), "{err}");
        let err = draw(
            b"",
            &KeyStreamOptions {
                skip_invalid: true,
                ..opts(1, 0.5)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn settings_that_cannot_draw_are_refused() {
        let csv = export(&records(10, 1));
        for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let err = draw(&csv, &opts(1, bad)).unwrap_err();
            assert!(matches!(err, KeyStreamError::HitRatio { .. }), "{bad}");
        }
        let err = draw(
            &csv,
            &KeyStreamOptions {
                max_keys: 0,
                ..opts(1, 0.5)
            },
        )
        .unwrap_err();
        assert!(matches!(err, KeyStreamError::NoKeysAllowed));
        let err =
            KeyStream::from_export(Path::new("/nonexistent/x.csv"), &opts(1, 0.5)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.csv"), "{err}");
    }
}
