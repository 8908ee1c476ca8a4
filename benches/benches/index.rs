//! In-process index benchmarks at 1M and 10M records (`SLTD_BENCH_SIZES`):
//! single negative and positive lookups, batched lookups, number-only
//! lookups, build throughput, and in the same run the machine's floor (a
//! dependent random read in a buffer the size of the index).
//!
//! `benches/run-index.sh` runs this and prints every figure as a ratio to the
//! floor.

use std::hint::black_box;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::fence;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sltd_benches::{
    Chase, build, build_streaming, hit_queries, label, miss_queries, number_only, records, sizes,
};
use sltd_index::Index;
use sltd_model::Query;

const QUERIES: usize = 1 << 20;
const BATCH: usize = 300;

fn lookups(c: &mut Criterion) {
    for n in sizes() {
        let size = label(n);
        // Generation and build in one pass (timed together, so this is a
        // floor on build throughput; the criterion build group below times
        // the build alone).
        let (bytes, recs, took) = build_streaming(n, 1 << 20);
        eprintln!(
            "[{size}] index {} bytes, {:.2} bytes/record; generated and built in {:.1?} ({:.2} M records/s)",
            bytes.len(),
            bytes.len() as f64 / n as f64,
            took,
            n as f64 / took.as_secs_f64() / 1e6
        );
        let index = Index::open(&bytes[..]).expect("built index opens");
        let hits = hit_queries(&recs, QUERIES, 11);
        let misses = miss_queries(&index, QUERIES, 12);
        let numbers: Vec<_> = misses.iter().map(number_only).collect();
        drop(recs);

        let mut chase = Chase::new(bytes.len());
        lookup_group(
            c,
            &format!("index/{size}"),
            &index,
            &mut chase,
            &hits,
            &misses,
            &numbers,
        );
    }
}

/// The lookup benchmarks of one configuration, next to its floor.
fn lookup_group<B: AsRef<[u8]>>(
    c: &mut Criterion,
    group: &str,
    index: &Index<B>,
    chase: &mut Chase,
    hits: &[Query],
    misses: &[Query],
    numbers: &[Query],
) {
    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));

    // Single lookups are timed one after another with a full fence in
    // between, so each pays its own cache misses: the latency a unary
    // request sees. The floor is timed the same way.
    g.bench_function("floor_dependent_read", |b| {
        b.iter(|| {
            fence(SeqCst);
            black_box(chase.step())
        })
    });

    let mut out = Vec::with_capacity(8);
    let mut i = 0usize;
    for (name, qs) in [
        ("negative", misses),
        ("negative_number_only", numbers),
        ("positive", hits),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                fence(SeqCst);
                out.clear();
                i = (i + 1) & (QUERIES - 1);
                index.lookup(&qs[i], &mut out).expect("lookup");
                black_box(out.len())
            })
        });
    }
    // The same without fences: how many independent lookups one core
    // completes per second when the CPU overlaps them.
    g.bench_function("negative_unfenced", |b| {
        b.iter(|| {
            out.clear();
            i = (i + 1) & (QUERIES - 1);
            index.lookup(&misses[i], &mut out).expect("lookup");
            black_box(out.len())
        })
    });

    g.throughput(Throughput::Elements(BATCH as u64));
    let mut j = 0usize;
    for (name, qs) in [("batch300_negative", misses), ("batch300_positive", hits)] {
        g.bench_function(BenchmarkId::new(name, BATCH), |b| {
            b.iter(|| {
                fence(SeqCst);
                j = (j + BATCH) % (QUERIES - BATCH);
                let mut found = 0usize;
                index
                    .lookup_batch(&qs[j..j + BATCH], |_, _| found += 1)
                    .expect("lookup");
                black_box(found)
            })
        });
    }
    g.finish();
}

fn builds(c: &mut Criterion) {
    // Above 10M the records alone outgrow memory next to repeated builds;
    // the lookups group prints a one-shot build figure for every size.
    for n in sizes().into_iter().filter(|&n| n <= 10_000_000) {
        let size = label(n);
        let recs = records(n);
        let mut g = c.benchmark_group(format!("build/{size}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(if n >= 5_000_000 { 60 } else { 10 }));
        g.throughput(Throughput::Elements(n));
        g.bench_function("build", |b| b.iter(|| black_box(build(&recs).len())));
        g.finish();
    }
}

criterion_group!(benches, lookups, builds);
criterion_main!(benches);
