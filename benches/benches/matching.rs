//! What possible matches cost in process, at 1M and 10M records
//! (`SLTD_BENCH_SIZES`), next to the plain lookups they follow:
//!
//! - `miss`: a plain negative lookup (what a check with possible matches off
//!   costs, and what every check cost before them);
//! - `miss_possible_matches_unfiltered`: the same miss, then its possible
//!   matches (one batched lookup of every candidate number and the number
//!   under any state), as `sltd index query` runs it;
//! - `miss_possible_matches`: the same with the data set's confusable filter
//!   consulted first, as the daemon runs it for a unary Check;
//! - `hit` and `hit_possible_matches`: a positive lookup, without and with
//!   possible matches asked for (a hit never looks for them);
//! - `typo_possible_matches`: a query one confusable character away from a
//!   listed record, which finds it;
//! - `resolve_state`: deciding the query's issuing state (the table check
//!   every query with a state pays).
//!
//! Each single check is timed with a full fence before it, as in
//! `index.rs`, so each pays its own cache misses: the latency a unary
//! request sees. `benches/run-index.sh` style: run with
//! `cargo bench -p sltd-benches --bench matching`.

use std::hint::black_box;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::fence;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sltd_benches::{build_streaming, hit_queries, label, miss_queries, sizes};
use sltd_index::{ConfusableFilter, Index, LayeredIndex};
use sltd_model::possible::{confusable_partner, possible_matches};
use sltd_model::{DocumentNumber, Query, Record, state_codes};

const QUERIES: usize = 1 << 16;

/// One check as the daemon answers it: the exact lookup, then (on a miss,
/// when asked) the possible matches, unless `filter` rules them out.
/// Returns how many records came back.
#[inline]
fn check<B: AsRef<[u8]>>(
    index: &Index<B>,
    filter: Option<&ConfusableFilter>,
    q: &Query,
    with_possible: bool,
    out: &mut Vec<Record>,
) -> usize {
    out.clear();
    index.lookup(q, out).expect("lookup");
    if out.is_empty() && with_possible && filter.is_none_or(|f| f.may_contain(&q.number)) {
        possible_matches(q, None, |probes, on_match| {
            index.lookup_batch(probes, on_match)
        })
        .expect("lookup")
        .len()
    } else {
        out.len()
    }
}

/// As [`check`], with the filter's line read before the exact lookup so
/// the two cache misses overlap.
#[inline]
fn check_overlapped<B: AsRef<[u8]>>(
    index: &Index<B>,
    filter: &ConfusableFilter,
    q: &Query,
    out: &mut Vec<Record>,
) -> usize {
    out.clear();
    let probe = filter.probe(&q.number);
    index.lookup(q, out).expect("lookup");
    if out.is_empty() && probe.may_contain() {
        possible_matches(q, None, |probes, on_match| {
            index.lookup_batch(probes, on_match)
        })
        .expect("lookup")
        .len()
    } else {
        out.len()
    }
}

/// Queries one confusable character away from a stored record (the first
/// confusable character of its number replaced), that miss exactly.
fn typo_queries<B: AsRef<[u8]>>(index: &Index<B>, hits: &[Query]) -> Vec<Query> {
    let mut out = Vec::with_capacity(hits.len());
    let mut found = Vec::new();
    for q in hits {
        let bytes = q.number.as_bytes();
        let Some(i) = bytes.iter().position(|&c| confusable_partner(c).is_some()) else {
            continue;
        };
        let mut raw = bytes.to_vec();
        raw[i] = confusable_partner(raw[i]).unwrap_or(raw[i]);
        let Ok(number) = DocumentNumber::from_normalised(&raw) else {
            continue;
        };
        let typo = Query { number, ..*q };
        found.clear();
        index.lookup(&typo, &mut found).expect("lookup");
        if found.is_empty() {
            out.push(typo);
        }
    }
    out
}

/// Per-query time of `f` over `qs[from..from + n]`, each query fenced.
fn time_fenced(qs: &[Query], from: usize, n: usize, mut f: impl FnMut(&Query) -> usize) -> f64 {
    let started = std::time::Instant::now();
    let mut sum = 0usize;
    for k in 0..n {
        fence(SeqCst);
        sum += f(&qs[(from + k) % qs.len()]);
    }
    black_box(sum);
    started.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The ratios the floors are about, measured in alternating rounds so that
/// other work on a shared machine slows both sides of each ratio alike:
/// the median over rounds of (time of the variant / time of a plain miss or
/// hit in the same round). Each measurement takes the next block of
/// queries, so none runs on lines the one before it brought into the
/// caches, and the order of the ways flips every round.
fn paired_ratios<B: AsRef<[u8]>>(
    size: &str,
    index: &Index<B>,
    filter: &ConfusableFilter,
    misses: &[Query],
    hits: &[Query],
) {
    const ROUND: usize = 4096;
    const ROUNDS: usize = 64;
    type Way<'a> = &'a dyn Fn(&Query, &mut Vec<Record>) -> usize;
    let plain: Way<'_> = &|q, out| check(index, None, q, false, out);
    let filtered: Way<'_> = &|q, out| check(index, Some(filter), q, true, out);
    let unfiltered: Way<'_> = &|q, out| check(index, None, q, true, out);
    let overlapped: Way<'_> = &|q, out| check_overlapped(index, filter, q, out);
    // (name, queries, way); the first of each kind is the reference.
    let ways: [(&str, &[Query], Way<'_>); 7] = [
        ("miss", misses, plain),
        ("miss with possible matches", misses, filtered),
        ("miss, unfiltered", misses, unfiltered),
        ("miss, overlapped", misses, overlapped),
        ("hit", hits, plain),
        ("hit with possible matches asked", hits, filtered),
        ("hit, overlapped", hits, overlapped),
    ];
    let mut out = Vec::with_capacity(8);
    let mut block = 0usize;
    let mut times = vec![Vec::with_capacity(ROUNDS); ways.len()];
    for round in 0..ROUNDS {
        // Every other round in reverse, so no way always runs first.
        for step in 0..ways.len() {
            let k = if round % 2 == 0 {
                step
            } else {
                ways.len() - 1 - step
            };
            let (_, qs, way) = ways[k];
            block += 1;
            times[k].push(time_fenced(qs, block * ROUND, ROUND, |q| way(q, &mut out)));
        }
    }
    let ratio = |k: usize, base: usize| {
        median(
            times[k]
                .iter()
                .zip(&times[base])
                .map(|(a, b)| a / b)
                .collect(),
        )
    };
    let mut line = format!(
        "[{size}] paired, median of {ROUNDS} rounds: miss {:.1} ns, hit {:.1} ns",
        median(times[0].clone()),
        median(times[4].clone())
    );
    for (k, (name, _, _)) in ways.iter().enumerate() {
        let base = if k < 4 { 0 } else { 4 };
        if k != base {
            line.push_str(&format!("; {name} {:.3}x", ratio(k, base)));
        }
    }
    eprintln!("{line}");
}

fn matching(c: &mut Criterion) {
    for n in sizes() {
        let size = label(n);
        let (bytes, recs, _) = build_streaming(n, 1 << 16);
        let index = Index::open(&bytes[..]).expect("built index opens");
        let hits = hit_queries(&recs, QUERIES, 21);
        let misses = miss_queries(&index, QUERIES, 22);
        let typos = typo_queries(&index, &hits);
        drop(recs);
        let started = std::time::Instant::now();
        let layered =
            LayeredIndex::new(Index::open(&bytes[..]).expect("opens"), Vec::new()).expect("a base");
        let filter = layered.confusable_filter().expect("filter builds");
        let filter_took = started.elapsed();
        let passed = misses
            .iter()
            .filter(|q| filter.may_contain(&q.number))
            .count();
        let probes: f64 = misses
            .iter()
            .map(|q| {
                sltd_model::possible::number_variants(&q.number).count() as f64
                    + f64::from(u8::from(q.state.is_some()))
            })
            .sum::<f64>()
            / misses.len() as f64;
        eprintln!(
            "[{size}] {} bytes; misses probe {probes:.2} candidates on average; {} typo queries; \
             confusable filter {} bytes ({:.2} bytes/record), built in {filter_took:.1?}, \
             passes {passed} of {} misses ({:.2}%)",
            bytes.len(),
            typos.len(),
            filter.bytes(),
            filter.bytes() as f64 / n as f64,
            misses.len(),
            100.0 * passed as f64 / misses.len() as f64
        );

        paired_ratios(&size, &index, &filter, &misses, &hits);

        let mut g = c.benchmark_group(format!("matching/{size}"));
        g.measurement_time(Duration::from_secs(4));
        g.warm_up_time(Duration::from_secs(1));
        g.throughput(Throughput::Elements(1));
        let mut out = Vec::with_capacity(8);
        let mut i = 0usize;
        for (name, qs, with_possible, filter) in [
            ("miss", &misses, false, None),
            ("miss_possible_matches_unfiltered", &misses, true, None),
            ("miss_possible_matches", &misses, true, Some(&filter)),
            ("hit", &hits, false, None),
            ("hit_possible_matches", &hits, true, Some(&filter)),
            ("typo_possible_matches", &typos, true, Some(&filter)),
        ] {
            g.bench_function(name, |b| {
                b.iter(|| {
                    fence(SeqCst);
                    i = (i + 1) % qs.len();
                    black_box(check(&index, filter, &qs[i], with_possible, &mut out))
                })
            });
        }
        for (name, qs) in [
            ("miss_possible_matches_overlapped", &misses),
            ("hit_possible_matches_overlapped", &hits),
        ] {
            g.bench_function(name, |b| {
                b.iter(|| {
                    fence(SeqCst);
                    i = (i + 1) % qs.len();
                    black_box(check_overlapped(&index, &filter, &qs[i], &mut out))
                })
            });
        }
        let states: Vec<_> = misses.iter().filter_map(|q| q.state).collect();
        g.bench_function("resolve_state", |b| {
            b.iter(|| {
                i = (i + 1) % states.len();
                black_box(state_codes::resolve(states[i], |_| false).is_ok())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, matching);
criterion_main!(benches);
