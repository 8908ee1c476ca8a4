//! Data directories at the real list's size without a feed, for
//! `benches/scale.sh`: the publisher cannot yet export 100M records on a
//! 24 GiB machine, so the daemon's start-up, generation swaps and
//! compaction are measured on generations installed from an index file.
//!
//! Each generation is installed the way `sltd-sync` installs one
//! (`DataDir::install`: the full check of every new index file, recorded in
//! the generation) with the real state hash of its records. Its checkpoint
//! envelope is `{}`: nothing here came from a feed, and `sltdd` does not read
//! the envelope, so do not run `sltd-sync` against such a directory.
//!
//! ```text
//! sltd-bench-datadir install DIR INDEX          generation 1: INDEX as the base
//! sltd-bench-datadir add-segment DIR N SEED     next generation: N new records in a segment
//! ```
//!
//! Each prints one JSON line of timings (milliseconds).

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Instant;

use sltd_datadir::{DataDir, NewGeneration};
use sltd_feed::state::StateHash;
use sltd_index::{Entry, Index, MapOptions, open_file};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["install", dir, index] => install(Path::new(dir), Path::new(index)),
        ["add-segment", dir, n, seed] => match (n.parse(), seed.parse()) {
            (Ok(n), Ok(seed)) => add_segment(Path::new(dir), n, seed),
            _ => Err("N and SEED are numbers".into()),
        },
        _ => Err("usage: sltd-bench-datadir install DIR INDEX | add-segment DIR N SEED".into()),
    };
    if let Err(e) = result {
        eprintln!("sltd-bench-datadir: {e}");
        std::process::exit(2);
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn now() -> i64 {
    sltd_feed::now_unix()
}

/// The state hash of every record of `index`: decoded here, hashed (a
/// SHA-256 per record, a minute at 100M on one core) on two threads.
fn state_of<B: AsRef<[u8]>>(index: &Index<B>) -> Result<StateHash> {
    const BATCH: usize = 1 << 16;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<sltd_model::Record>>(4);
                let handle = s.spawn(move || {
                    let mut h = StateHash::empty();
                    for batch in rx {
                        for r in &batch {
                            h.insert(r);
                        }
                    }
                    h
                });
                (tx, handle)
            })
            .collect();
        let mut batch = Vec::with_capacity(BATCH);
        let mut next = 0;
        for e in index.entries() {
            if let Entry::Record(r) = e? {
                batch.push(r);
            }
            if batch.len() == BATCH {
                workers[next % 2].0.send(std::mem::take(&mut batch))?;
                batch.reserve(BATCH);
                next += 1;
            }
        }
        workers[next % 2].0.send(batch)?;
        let mut total = StateHash::empty();
        for (tx, handle) in workers {
            drop(tx);
            total.merge(&handle.join().map_err(|_| "a hashing thread panicked")?);
        }
        Ok(total)
    })
}

fn install(dir: &Path, index_path: &Path) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let data = DataDir::create(dir)?;
    let _lock = data.lock()?;
    let index = open_file(index_path, MapOptions::default())?;
    let t = Instant::now();
    let hash = state_of(&index)?;
    let state_ms = t.elapsed().as_millis();
    let record_count = index.header().record_count;
    let t = Instant::now();
    let base = data.write_base(1, index.bytes())?;
    let copy_ms = t.elapsed().as_millis();
    drop(index);
    let t = Instant::now();
    let g = data.install(NewGeneration {
        feed: "bench".into(),
        sequence: 1,
        state_root: hash.root(),
        record_count,
        as_of: now(),
        expires_at: now() + 30 * 86_400,
        base,
        segments: Vec::new(),
        buckets: data.write_buckets(1, &hash)?,
        checkpoint: data.write_checkpoint(1, b"{}")?,
    })?;
    println!(
        "{{\"step\":\"install\",\"generation\":\"{}\",\"records\":{record_count},\"state_hash_ms\":{state_ms},\"copy_ms\":{copy_ms},\"install_with_full_check_ms\":{},\"total_ms\":{}}}",
        g.id,
        t.elapsed().as_millis(),
        started.elapsed().as_millis()
    );
    Ok(())
}

fn add_segment(dir: &Path, n: u64, seed: u64) -> Result<()> {
    let started = Instant::now();
    let data = DataDir::open(dir)?;
    let _lock = data.lock()?;
    let g = data.current()?.ok_or("no generation installed")?;
    let mut hash = data.load_state(&g)?;
    let sequence = g.sequence + 1;
    // New keys (the generator's numbers never start with "ZQ"), so every
    // record is an addition.
    let records: Vec<_> = sltd_export::generate::generate(n, seed)
        .enumerate()
        .map(|(i, mut r)| {
            r.key.number =
                sltd_model::DocumentNumber::normalise(&format!("ZQ{seed:04}{i:08}")).unwrap();
            r
        })
        .collect();
    for r in &records {
        hash.insert(r);
    }
    let t = Instant::now();
    let segment = data
        .write_segment(
            sequence,
            hash.root(),
            records.iter().map(|r| Entry::Record(*r)),
            now(),
        )?
        .ok_or("no changes")?;
    let write_ms = t.elapsed().as_millis();
    let mut segments = g.segments.clone();
    segments.push(segment);
    let t = Instant::now();
    let installed = data.install(NewGeneration {
        feed: g.feed.clone(),
        sequence,
        state_root: hash.root(),
        record_count: g.record_count + n,
        as_of: now(),
        expires_at: now() + 30 * 86_400,
        base: g.base.clone(),
        segments,
        buckets: data.write_buckets(sequence, &hash)?,
        checkpoint: data.write_checkpoint(sequence, b"{}")?,
    })?;
    println!(
        "{{\"step\":\"add-segment\",\"generation\":\"{}\",\"sequence\":{sequence},\"changes\":{n},\"write_segment_ms\":{write_ms},\"install_ms\":{},\"total_ms\":{}}}",
        installed.id,
        t.elapsed().as_millis(),
        started.elapsed().as_millis()
    );
    Ok(())
}
