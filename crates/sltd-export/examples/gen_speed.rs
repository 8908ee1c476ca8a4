//! Measures how fast synthetic exports are generated and written as CSV.
//!
//! `cargo run --release -p sltd-export --example gen_speed -- [records] [output]`
//! writes to `io::sink()` unless an output file is given, which is then read
//! back to measure the reader too.

use std::io::{self, Write};
use std::time::Instant;

use sltd_export::generate::generate;
use sltd_export::{ExportReader, ExportWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let path = args.next();
    let output: Box<dyn Write> = match &path {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(io::sink()),
    };
    let start = Instant::now();
    let mut count = 0u64;
    for _ in generate(records, 1) {
        count += 1;
    }
    let gen_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut writer = ExportWriter::new(output)?;
    for record in generate(records, 1) {
        writer.write(&record)?;
    }
    writer.finish()?.flush()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} records: generate only {:.2} M/s, generate + CSV {:.2} M/s ({secs:.2} s)",
        count as f64 / gen_secs / 1e6,
        count as f64 / secs / 1e6,
    );
    if let Some(path) = path {
        let start = Instant::now();
        let reader = ExportReader::new(std::fs::File::open(path)?)?;
        let mut read = 0u64;
        for record in reader {
            record?;
            read += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "read back {read} records: {:.2} M/s",
            read as f64 / secs / 1e6
        );
    }
    Ok(())
}
