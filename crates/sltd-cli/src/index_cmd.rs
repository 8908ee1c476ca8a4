//! `sltd index ...`: build, query, inspect and verify index files.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum IndexCommand {}

pub(crate) fn run(cmd: IndexCommand) -> anyhow::Result<u8> {
    match cmd {}
}
