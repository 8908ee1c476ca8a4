//! What sltd's test suites share, so that each fixture and each way of
//! running a program exists once:
//!
//! - [`fixtures`]: records, exports and index files of a known content, the
//!   ICAO specimen MRZ texts, numbers that are in no generated export;
//! - [`pki`]: a throw-away certificate authority with server and client
//!   certificates, for TLS and mutual TLS;
//! - [`process`]: finding the workspace's binaries (building them when only
//!   a test package was built), running them to completion or in the
//!   background with their output captured for failure messages, killed
//!   when dropped;
//! - [`sltdd`]: a daemon process on 127.0.0.1:0, ready when its health
//!   check says so;
//! - [`feed`]: a signed feed made with `sltd feed` as an operator makes one;
//! - [`http`] and [`wait`]: a bare HTTP/1.1 client for the admin listener
//!   and polling with a deadline, for conditions that push no signal;
//! - [`ports`]: free ports for programs that cannot listen on port 0;
//! - [`tools`]: the system programs some tests drive, or a loud skip.
//!
//! Nothing here uses the internal API of the feed, sync or server crates:
//! tests that go through this crate exercise the programs and the file
//! formats, so those crates can change shape underneath.

#![forbid(unsafe_code)]

pub mod feed;
pub mod fixtures;
pub mod http;
pub mod pki;
pub mod ports;
pub mod process;
pub mod sltdd;
pub mod tools;
pub mod wait;

use std::time::Duration;

/// How long a program may take to get ready (listen, load its data) on a
/// loaded two-core machine before a test gives up. Generous on purpose: it
/// only bounds how long a broken build hangs.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
