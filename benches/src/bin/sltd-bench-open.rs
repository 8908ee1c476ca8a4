//! What opening an index file for serving costs, step by step: map,
//! integrity checksums on every core (which also fault the map in), the
//! stored issuing states and the confusable filter; and, with `--full`,
//! the full structural check. For `docs/BENCHMARKS.md` (*Scale*).
//!
//! ```text
//! sltd-bench-open FILE [--full]
//! ```

#![forbid(unsafe_code)]

use std::time::Instant;

use sltd_index::{MapOptions, open_file};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: sltd-bench-open FILE [--full]");
        std::process::exit(2);
    };
    let full = args.iter().any(|a| a == "--full");
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let index = open_file(path.as_ref(), MapOptions { resident: true }).unwrap_or_else(|e| {
        eprintln!("sltd-bench-open: {e}");
        std::process::exit(2)
    });
    let map_ms = ms(t);
    let t = Instant::now();
    let checked = index.verify_checksums();
    let checksums_ms = ms(t);
    let t = Instant::now();
    let states = index.issuing_states().map(|s| s.len());
    let states_ms = ms(t);
    let t = Instant::now();
    let filter = index.confusable_filter().map(|f| f.bytes());
    let filter_ms = ms(t);
    let full_ms = full.then(|| {
        let t = Instant::now();
        let r = index.verify();
        (ms(t), r.is_ok())
    });
    println!(
        "{{\"file_bytes\":{},\"records\":{},\"map_ms\":{map_ms:.1},\"checksums_ms\":{checksums_ms:.1},\"checksums_ok\":{},\"states_ms\":{states_ms:.3},\"states\":{},\"filter_ms\":{filter_ms:.1},\"filter_bytes\":{},\"full_check_ms\":{},\"threads\":{}}}",
        index.bytes().len(),
        index.header().record_count,
        checked.is_ok(),
        states.unwrap_or(0),
        filter.unwrap_or(0),
        full_ms.map_or("null".into(), |(m, ok)| format!(
            "{m:.1},\"full_check_ok\":{ok}"
        )),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
}
