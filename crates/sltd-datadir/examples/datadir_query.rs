//! Opens a data directory's current generation the way a running daemon
//! switches to it, and looks numbers up; prints how long each step took.
//! Used by `crates/sltd-sync/bench/feed_bench.sh` to time "delta available
//! -> queryable".
//!
//! Like `sltdd --data-dir`, it opens with `GenerationOpener` and
//! `OpenOptions::SERVE` (mapped resident, every file fully verified). A
//! running daemon already has the previous generation open, so it first
//! opens that one (untimed as the switch) and then the current one, which
//! shares the unchanged files and verifies only the new ones.
//!
//! `cargo run --release -p sltd-datadir --example datadir_query -- DATA NUMBER...`

use std::time::Instant;

use sltd_datadir::{DataDir, GenerationOpener, OpenOptions};
use sltd_model::{DocumentNumber, Query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: datadir_query DATA NUMBER...")?;
    let d = DataDir::open(std::path::Path::new(&dir))?;
    let opener = GenerationOpener::new(OpenOptions::SERVE);
    let g = d.current()?.ok_or("nothing installed")?;
    let t = Instant::now();
    let previous = match &g.previous {
        Some(id) => Some(opener.open(&d.generation(id)?)?),
        None => None,
    };
    let warm = t.elapsed();
    let t = Instant::now();
    let idx = opener.open(&g)?;
    let switched = t.elapsed();
    drop(previous);
    let mut out = Vec::new();
    for n in args {
        out.clear();
        let q = Instant::now();
        idx.lookup(&Query::number(DocumentNumber::normalise(&n)?), &mut out)?;
        println!("{n}: {} hit(s) in {:?}", out.len(), q.elapsed());
    }
    println!(
        "previous generation opened and verified in {:.6} s",
        warm.as_secs_f64()
    );
    println!(
        "generation {} sequence {} ({} segment(s)) switched in {:.6} s",
        g.id,
        g.sequence,
        g.segments.len(),
        switched.as_secs_f64()
    );
    Ok(())
}
