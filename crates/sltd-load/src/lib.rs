//! Load generation shared by `sltd loadgen` and the peers benchmark
//! (`benches/peers`), so that every server is driven by the same code:
//!
//! - [`KeyStream`]: the seeded stream of queries drawn from an export, hits
//!   and misses in a chosen ratio, each with the verdict it must get. The
//!   same export, seed and ratio give the same queries, whichever server
//!   they are sent to.
//! - [`Window`] and [`Schedule`]: when a run sends and what it measures. In
//!   open loop ([`open_loop`]) requests leave on a fixed schedule whatever
//!   the answers do, and each latency counts from the request's *intended*
//!   send time, so a stall shows in the percentiles instead of silently
//!   lowering the load (no coordinated omission). In closed loop
//!   ([`closed_loop`]) each worker sends its next request when the previous
//!   answer arrives.
//! - [`Tally`]: HDR histograms of latency, request, error and mismatch
//!   counts, and the percentiles report.
//!
//! The crate knows nothing of gRPC or of any peer's protocol: a caller turns
//! each [`Query`] into its own request and reports an [`Outcome`].

#![forbid(unsafe_code)]

mod drive;
mod error;
mod keys;
mod tally;
mod window;

pub use drive::{Answer, Failure, OpenLoop, Outcome, closed_loop, open_loop};
pub use error::{DriveError, KeyStreamError, WindowError};
pub use keys::{KeyStream, KeyStreamOptions, Query};
pub use tally::{Percentiles, Tally};
pub use window::{Phase, Schedule, Stop, Window};
