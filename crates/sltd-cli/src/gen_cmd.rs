//! `sltd gen`: realistic synthetic CSV exports for demos, tests and load
//! tests.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sltd_export::{ExportWriter, WriteError};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sltd gen --records 1000000 --output export.csv\n  \
    sltd gen --records 10000000 --seed 7 --output big.csv\n\n\
    The output always starts with the specimen documents of ICAO Doc 9303 as\n\
    state UTO records (L898902C3, D23145890, L8988901C, L898902C), so demos and\n\
    tests have known hits. The same seed gives the same file.")]
pub(crate) struct GenArgs {
    /// Records to write, specimens included.
    #[arg(long, short = 'n')]
    records: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// File to write (`-` for standard output).
    #[arg(long, short)]
    output: PathBuf,
}

pub(crate) fn run(args: GenArgs) -> anyhow::Result<u8> {
    let to_stdout = args.output.as_os_str() == "-";
    let bar = (!to_stdout && io::stderr().is_terminal()).then(|| {
        ProgressBar::new(args.records).with_style(
            ProgressStyle::with_template(
                "{spinner} {human_pos}/{human_len} records [{wide_bar}] eta {eta}",
            )
            .expect("static template"),
        )
    });
    if to_stdout {
        let mut out = write_all(&args, io::stdout().lock(), None)?;
        out.flush()?;
        return Ok(0);
    }
    sltd_index::write_atomically_with(&args.output, |w| {
        write_all(&args, w, bar.as_ref()).map(drop)
    })
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!(
        "wrote {} records to {}",
        args.records,
        args.output.display()
    );
    Ok(0)
}

fn write_all<W: Write>(args: &GenArgs, out: W, bar: Option<&ProgressBar>) -> anyhow::Result<W> {
    let mut w = ExportWriter::new(BufWriter::with_capacity(1 << 20, out)).map_err(export_error)?;
    for (i, record) in sltd_export::generate::generate(args.records, args.seed).enumerate() {
        w.write(&record).map_err(export_error)?;
        if let Some(b) = bar
            && i % 65_536 == 0
        {
            b.set_position(i as u64);
        }
    }
    let buffered = w.finish().map_err(export_error)?;
    Ok(buffered.into_inner().map_err(|e| e.into_error())?)
}

/// A write error as itself, so that a closed standard output is seen as one.
fn export_error(e: WriteError) -> anyhow::Error {
    match e {
        WriteError::Io(io) => io.into(),
        other => other.into(),
    }
}
