//! The key stream of the network runs, the same for every server.
//!
//! `sltd loadgen` draws its queries from the CSV with a seeded generator
//! (`build_items` in `crates/sltd-cli/src/loadgen.rs`). This module repeats
//! that algorithm step for step, with the same random calls in the same
//! order and the same types, so for the same CSV, seed and hit ratio Redis and
//! PostgreSQL get exactly the queries sltdd gets. (The loadgen keeps 64-bit
//! hashes of the numbers to reject a generated miss that is in the file; so
//! does this, with a fixed hasher: the streams could differ only if one of
//! the two hash sets had a collision on a candidate, about 1 in 10^8.)
//!
//! Each item also carries its ground truth: for a hit, the record the index
//! keeps for that key (greatest precedence over every row of the file), so
//! Redis's and PostgreSQL's answers are checked field by field.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sltd_model::{DocumentKey, IssuingState, Record};

use crate::data::{decode_value, encode_value, key_bytes, parse_key};

/// One query and the record it must return (`None`: a miss).
#[derive(Clone, Debug)]
pub struct Item {
    pub key: DocumentKey,
    /// `STATE:NUMBER`, as stored in Redis.
    pub key_bytes: Vec<u8>,
    pub expect: Option<Record>,
}

fn number_hash(n: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    n.hash(&mut h);
    h.finish()
}

fn rows(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Record>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| path.display().to_string())?;
    Ok(reader.map(|r| r.map_err(anyhow::Error::from)))
}

/// The loadgen's items for `csv`, `seed`, `hit_ratio` and `max_keys`, with
/// their ground truth.
// Written as the loadgen writes it, counter included, to stay in step.
#[allow(clippy::explicit_counter_loop)]
pub fn build(csv: &Path, seed: u64, hit_ratio: f64, max_keys: usize) -> anyhow::Result<Vec<Item>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample: Vec<Record> = Vec::new();
    let mut numbers: HashSet<u64> = HashSet::new();
    let mut seen = 0u64;
    for row in rows(csv)? {
        let rec = row?;
        numbers.insert(number_hash(rec.key.number.as_bytes()));
        seen += 1;
        if sample.len() < max_keys {
            sample.push(rec);
        } else {
            let j = rng.random_range(0..seen);
            if (j as usize) < max_keys {
                sample[j as usize] = rec;
            }
        }
    }
    if sample.is_empty() {
        bail!("{}: no records", csv.display());
    }
    let pool = 200_000.min((sample.len() * 4).max(10_000));
    let mut keys: Vec<(DocumentKey, bool)> = Vec::with_capacity(pool);
    for i in 0..pool {
        let hit = !sample.is_empty() && rng.random_bool(hit_ratio);
        if hit {
            keys.push((sample[i % sample.len()].key, true));
        } else {
            let state = sample
                .get(rng.random_range(0..sample.len().max(1)))
                .map(|r| r.key.state)
                .unwrap_or_else(|| IssuingState::normalise("UTO").expect("valid"));
            let number = loop {
                let n = sltd_export::generate::random_miss_number(&mut rng, &state);
                if !numbers.contains(&number_hash(n.as_bytes())) {
                    break n;
                }
            };
            keys.push((DocumentKey { state, number }, false));
        }
    }
    for i in (1..keys.len()).rev() {
        let j = rng.random_range(0..=i);
        keys.swap(i, j);
    }
    drop((sample, numbers));

    // Ground truth of the hits: a second pass keeps, for each wanted key,
    // the record of greatest precedence, the index's rule.
    let mut truth: HashMap<DocumentKey, Option<Record>> =
        keys.iter().filter(|k| k.1).map(|k| (k.0, None)).collect();
    for row in rows(csv)? {
        let rec = row?;
        if let Some(slot) = truth.get_mut(&rec.key) {
            match slot {
                Some(kept) if rec.precedence(kept).is_le() => {}
                _ => *slot = Some(rec),
            }
        }
    }
    keys.into_iter()
        .map(|(key, hit)| {
            let expect = if hit {
                Some(truth[&key].context("a sampled key vanished")?)
            } else {
                None
            };
            let mut kb = Vec::new();
            key_bytes(&key, &mut kb);
            Ok(Item {
                key,
                key_bytes: kb,
                expect,
            })
        })
        .collect()
}

/// Writes items as: per item, key length, key, value length (0 for a
/// miss), value.
pub fn save(items: &[Item], path: &Path) -> anyhow::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    let mut v = Vec::new();
    for it in items {
        w.write_all(&[it.key_bytes.len() as u8])?;
        w.write_all(&it.key_bytes)?;
        match &it.expect {
            Some(r) => {
                encode_value(r, &mut v);
                w.write_all(&[v.len() as u8])?;
                w.write_all(&v)?;
            }
            None => w.write_all(&[0])?,
        }
    }
    w.flush()?;
    Ok(())
}

pub fn load(path: &Path) -> anyhow::Result<Vec<Item>> {
    let mut raw = Vec::new();
    File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .read_to_end(&mut raw)?;
    let mut items = Vec::new();
    let mut at = 0usize;
    fn take<'a>(raw: &'a [u8], at: &mut usize, n: usize) -> anyhow::Result<&'a [u8]> {
        let s = raw.get(*at..*at + n).context("truncated keys file")?;
        *at += n;
        Ok(s)
    }
    while at < raw.len() {
        let kl = take(&raw, &mut at, 1)?[0] as usize;
        let kb = take(&raw, &mut at, kl)?.to_vec();
        let key = parse_key(&kb)?;
        let vl = take(&raw, &mut at, 1)?[0] as usize;
        let expect = if vl == 0 {
            None
        } else {
            Some(decode_value(key, take(&raw, &mut at, vl)?).context("bad value in keys file")?)
        };
        items.push(Item {
            key,
            key_bytes: kb,
            expect,
        });
    }
    Ok(items)
}
