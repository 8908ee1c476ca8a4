//! Waiting for a condition that pushes no signal (a file appearing, a
//! daemon switching data sets): polling with a deadline that only bounds how
//! long a broken build hangs. Where a program does signal readiness (a
//! printed line, a health check), the tests wait for that instead.

use std::time::{Duration, Instant};

/// Pause between two probes.
const POLL: Duration = Duration::from_millis(20);

/// Calls `probe` until it gives a value, for at most `timeout`; panics
/// naming `what` after that.
#[track_caller]
pub fn until<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    until_every(POLL, timeout, what, probe)
}

/// As [`until`], probing every `every` (for probes that start a process).
#[track_caller]
pub fn until_every<T>(
    every: Duration,
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
}
