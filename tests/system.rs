//! The three programs together, as processes, through the README's flows:
//! `sltd` builds, queries and publishes; `sltd-sync` installs what the feed
//! publishes; `sltdd` serves it and `sltd check` asks it. Every listener is
//! on 127.0.0.1 port 0 (the programs report where they listen), every file
//! in a temporary directory, and every wait is for a readiness signal (a
//! printed line, a health check) or a condition with a generous deadline,
//! never a fixed sleep. Only command lines, exit statuses and documented
//! output are relied on.
//!
//! The binaries are the ones cargo built for this test run (`cargo test
//! --workspace` builds them); with only this package built, they are built
//! on first use.

mod cluster;
mod common;
mod damaged;
mod demo;
mod feed;
mod hostile;
mod index;
mod monitoring;
mod nginx;
mod status_page;
mod switch;
mod systemd;
