//! `sltd-sync watch`: sync periodically, with random jitter so that posts
//! do not poll in step, and exponential backoff after failures, until a
//! shutdown is asked for. The loop runs in the calling thread; the binary
//! only wires SIGTERM and SIGINT to [`Shutdown::trigger`].

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{SyncError, SyncReport};

/// A shutdown request that a loop can wait on and a signal handler (or a
/// test) can trigger from another thread. Clones share the request.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<(Mutex<bool>, Condvar)>);

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything waiting on this (and every later wait) to stop.
    pub fn trigger(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout`; true when shutdown was asked for (at once if
    /// it already was).
    pub fn wait(&self, timeout: Duration) -> bool {
        let (flag, cv) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut triggered = flag.lock().unwrap_or_else(PoisonError::into_inner);
        while !*triggered {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            triggered = cv
                .wait_timeout(triggered, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *triggered
    }
}

/// When `watch` syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Time between syncs that succeed.
    pub interval: Duration,
    /// A random extra delay up to this before each sync.
    pub jitter: Duration,
    /// The first wait after a failure; it doubles with each further one.
    pub first_backoff: Duration,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        let interval = Duration::from_secs(300);
        Self {
            interval,
            jitter: interval / 10,
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl Schedule {
    /// The wait before the next sync after `failures` failures in a row,
    /// with `fraction` (in [0, 1)) of the jitter added.
    pub fn delay(&self, failures: u32, fraction: f64) -> Duration {
        let base = if failures == 0 {
            self.interval
        } else {
            self.first_backoff
                .saturating_mul(1u32 << (failures - 1).min(16))
                .min(self.max_backoff)
        };
        base + self.jitter.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

/// Runs `sync_once` at once and then on `schedule` until `shutdown` is
/// triggered; returns how many syncs ran. A sync that found the data
/// directory locked (another sync is running) is not counted as a failure.
/// `sync_once` is also handed the shutdown, so a long sync can stop early.
pub fn watch(
    schedule: &Schedule,
    shutdown: &Shutdown,
    mut sync_once: impl FnMut() -> Result<SyncReport, SyncError>,
) -> u64 {
    let mut failures = 0u32;
    let mut runs = 0u64;
    while !shutdown.is_triggered() {
        runs += 1;
        match sync_once() {
            Ok(_) => failures = 0,
            Err(e) if e.is_locked() => failures = 0,
            Err(SyncError::Interrupted) => break,
            Err(_) => failures = failures.saturating_add(1),
        }
        let wait = schedule.delay(failures, rand::random::<f64>());
        tracing::debug!(wait_s = wait.as_secs(), failures, "next sync");
        if shutdown.wait(wait) {
            break;
        }
    }
    tracing::info!(runs, "watch stopped");
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound_and_jitter_adds() {
        let s = Schedule {
            interval: Duration::from_secs(300),
            jitter: Duration::from_secs(30),
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
        };
        assert_eq!(s.delay(0, 0.0), Duration::from_secs(300));
        assert_eq!(s.delay(0, 0.5), Duration::from_secs(315));
        assert_eq!(s.delay(1, 0.0), Duration::from_secs(30));
        assert_eq!(s.delay(2, 0.0), Duration::from_secs(60));
        assert_eq!(s.delay(3, 0.0), Duration::from_secs(120));
        assert_eq!(s.delay(8, 0.0), Duration::from_secs(3600));
        assert_eq!(s.delay(u32::MAX, 0.0), Duration::from_secs(3600));
        assert_eq!(
            s.delay(0, 7.0),
            Duration::from_secs(330),
            "fraction clamped"
        );
    }

    #[test]
    fn shutdown_wakes_a_waiter_and_stays_triggered() {
        let s = Shutdown::new();
        assert!(!s.wait(Duration::ZERO));
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait(Duration::from_secs(3600)))
        };
        s.trigger();
        assert!(waiter.join().unwrap());
        assert!(s.is_triggered() && s.wait(Duration::from_secs(3600)));
    }

    #[test]
    fn the_loop_runs_until_shutdown_and_backs_off_on_failures() {
        let s = Schedule {
            interval: Duration::ZERO,
            jitter: Duration::ZERO,
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        let shutdown = Shutdown::new();
        let mut calls = 0;
        let runs = watch(&s, &shutdown, || {
            calls += 1;
            if calls == 5 {
                shutdown.trigger();
            }
            if calls % 2 == 0 {
                Err(SyncError::NotFound {
                    what: "checkpoint.json".into(),
                })
            } else {
                Ok(SyncReport::default())
            }
        });
        assert_eq!((runs, calls), (5, 5));
        // Already triggered: no sync at all.
        assert_eq!(
            watch(&s, &shutdown, || unreachable!("no sync after shutdown")),
            0
        );
        // A sync interrupted by shutdown ends the loop.
        let other = Shutdown::new();
        assert_eq!(watch(&s, &other, || Err(SyncError::Interrupted)), 1);
    }
}
