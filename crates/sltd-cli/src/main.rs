//! `sltd`: the command line for everything around the lookup daemon:
//! building and inspecting index files, generating test data, checking
//! documents against a running daemon, load testing and publishing the feed.

#![forbid(unsafe_code)]

mod check;
mod client;
mod desk;
mod feed;
mod gen_cmd;
mod index_cmd;
mod loadgen;
mod retry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when a lookup found a record (like grep).
pub(crate) const EXIT_HIT: u8 = 0;
/// Exit status when a lookup found nothing.
pub(crate) const EXIT_NO_HIT: u8 = 1;
/// Exit status for any error.
pub(crate) const EXIT_ERROR: u8 = 2;
/// Exit status when a lookup found nothing exactly but offered possible
/// matches: a person must compare them with the document.
pub(crate) const EXIT_POSSIBLE_MATCH: u8 = 3;

#[derive(Parser, Debug)]
#[command(name = "sltd", version, about = "Stolen and lost travel document checks: build, query and publish", long_about = None)]
struct Cli {
    /// Log format (logs go to standard error; results to standard output).
    #[arg(
        long,
        global = true,
        env = "SLTD_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: sltd_log::LogFormat,
    /// Log filter, e.g. `info` or `debug` [default: warn].
    #[arg(long, global = true, env = "SLTD_LOG", value_name = "FILTER")]
    log_filter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a realistic synthetic CSV export.
    Gen(gen_cmd::GenArgs),
    /// Build, query, inspect and verify index files.
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
    /// Publish the signed update feed: keys, init, publish, rotate-root, serve.
    #[command(subcommand)]
    Feed(feed::FeedCommand),
    /// Check documents against a running sltdd (exit 0 hit, 1 no hit, 2 error, 3 possible matches).
    Check(check::CheckArgs),
    /// Load-test a running sltdd: open or closed loop, unary, batch or stream.
    Loadgen(loadgen::LoadgenArgs),
    /// The border desk: MRZ from a passport reader (keyboard or serial), verdict full screen.
    Desk(desk::DeskArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = sltd_log::init(
        "sltd",
        cli.log_format,
        cli.log_filter.as_deref().unwrap_or("warn"),
    ) {
        sltd_log::report("sltd", &e);
        return ExitCode::from(EXIT_ERROR);
    }
    let result = match cli.command {
        Command::Gen(args) => gen_cmd::run(args),
        Command::Index(cmd) => index_cmd::run(cmd),
        Command::Feed(cmd) => feed::run(cmd),
        Command::Check(args) => check::run(args),
        Command::Loadgen(args) => loadgen::run(args),
        Command::Desk(args) => desk::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if sltd_log::ends_on_closed_stdout(err.as_ref()) => {
            ExitCode::from(sltd_log::EXIT_STDOUT_CLOSED)
        }
        Err(err) => {
            sltd_log::report("sltd", err.as_ref());
            ExitCode::from(EXIT_ERROR)
        }
    }
}
