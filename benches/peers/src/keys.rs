//! The key stream of the network runs, the same for every server: the
//! queries come from `sltd_load::KeyStream`, the very code `sltd loadgen`
//! draws its queries with, so for the same CSV, seed and hit ratio Redis and
//! PostgreSQL get exactly the queries sltdd gets.
//!
//! Each item also carries its ground truth: for a hit, the record the index
//! keeps for that key (greatest precedence over every row of the file), so
//! Redis's and PostgreSQL's answers are checked field by field.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::Context;
use sltd_load::{KeyStream, KeyStreamOptions};
use sltd_model::{DocumentKey, Record};

use crate::data::{decode_value, encode_value, key_bytes, parse_key};

/// One query and the record it must return (`None`: a miss).
#[derive(Clone, Debug)]
pub struct Item {
    pub key: DocumentKey,
    /// `STATE:NUMBER`, as stored in Redis.
    pub key_bytes: Vec<u8>,
    pub expect: Option<Record>,
}

/// The loadgen's queries for `csv`, `seed`, `hit_ratio` and `max_keys`,
/// with their ground truth. Bad rows are refused, as the loadgen refuses
/// them by default.
pub fn build(csv: &Path, seed: u64, hit_ratio: f64, max_keys: usize) -> anyhow::Result<Vec<Item>> {
    let opts = KeyStreamOptions {
        seed,
        hit_ratio,
        max_keys,
        skip_invalid: false,
    };
    let queries = KeyStream::from_export(csv, &opts)?.into_queries();

    // Ground truth of the hits: a second pass keeps, for each wanted key,
    // the record of greatest precedence, the index's rule.
    let mut truth: HashMap<DocumentKey, Option<Record>> = queries
        .iter()
        .filter(|q| q.hit)
        .map(|q| (q.key, None))
        .collect();
    let file = File::open(csv).with_context(|| format!("cannot open {}", csv.display()))?;
    let reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| csv.display().to_string())?;
    for row in reader {
        let rec = row.with_context(|| csv.display().to_string())?;
        if let Some(slot) = truth.get_mut(&rec.key) {
            match slot {
                Some(kept) if rec.precedence(kept).is_le() => {}
                _ => *slot = Some(rec),
            }
        }
    }
    queries
        .into_iter()
        .map(|q| {
            let expect = if q.hit {
                Some(
                    truth
                        .get(&q.key)
                        .copied()
                        .flatten()
                        .context("a sampled key vanished")?,
                )
            } else {
                None
            };
            let mut kb = Vec::new();
            key_bytes(&q.key, &mut kb);
            Ok(Item {
                key: q.key,
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
