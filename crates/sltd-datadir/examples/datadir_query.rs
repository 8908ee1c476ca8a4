//! Opens a data directory's current generation the way the daemon does
//! (`GenerationOpener` with `OpenOptions::SERVE`: mapped resident, every
//! file fully verified) and looks numbers up; prints how long it took. Used
//! by `crates/sltd-sync/bench/feed_bench.sh` to time "delta available ->
//! queryable".
//!
//! `cargo run --release -p sltd-datadir --example datadir_query -- DATA NUMBER...`

use std::time::Instant;

use sltd_datadir::{DataDir, GenerationOpener, OpenOptions};
use sltd_model::{DocumentNumber, Query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: datadir_query DATA NUMBER...")?;
    let t = Instant::now();
    let d = DataDir::open(std::path::Path::new(&dir))?;
    let opener = GenerationOpener::new(OpenOptions::SERVE);
    let (g, idx) = d.open_current(&opener)?.ok_or("nothing installed")?;
    let opened = t.elapsed();
    let mut out = Vec::new();
    for n in args {
        out.clear();
        let q = Instant::now();
        idx.lookup(&Query::number(DocumentNumber::normalise(&n)?), &mut out)?;
        println!("{n}: {} hit(s) in {:?}", out.len(), q.elapsed());
    }
    println!(
        "generation {} sequence {} ({} segment(s)) opened and verified in {:?}",
        g.id,
        g.sequence,
        g.segments.len(),
        opened
    );
    Ok(())
}
