//! `sltd`: the command line for everything around the lookup daemon:
//! building and inspecting index files, generating test data, checking
//! documents against a running daemon, load testing and publishing the feed.

#![forbid(unsafe_code)]

mod index_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when a lookup found a record (like grep).
pub(crate) const EXIT_HIT: u8 = 0;
/// Exit status when a lookup found nothing.
pub(crate) const EXIT_NO_HIT: u8 = 1;
/// Exit status for any error.
pub(crate) const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(name = "sltd", version, about = "Stolen and lost travel document checks: build, query and publish", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build, query, inspect and verify index files.
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Index(cmd) => index_cmd::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("sltd: error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
