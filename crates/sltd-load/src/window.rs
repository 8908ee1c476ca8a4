//! When a run sends and which requests it measures: a warm-up, then the
//! measured window, ended early by a [`Stop`] (an operator's Ctrl-C); and
//! the open-loop schedule of intended send times.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::WindowError;

/// Ends a run early; every clone ends the same run. The requests sent
/// before the stop are measured and reported.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<OnceLock<Instant>>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends the run now (later calls change nothing).
    pub fn stop(&self) {
        let _ = self.0.set(Instant::now());
    }

    /// When the run was stopped, if it was.
    pub fn stopped_at(&self) -> Option<Instant> {
        self.0.get().copied()
    }
}

/// Where a moment falls in a [`Window`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the measured window: sent, not counted.
    WarmUp,
    /// Sent and counted.
    Measured,
    /// At or after the end or the stop: not sent.
    Over,
}

/// A run's timeline: requests sent before `measure_from` warm up
/// connections and caches and are not counted; requests sent from then to
/// the end (or the stop) are measured.
#[derive(Clone, Debug)]
pub struct Window {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    stop: Stop,
}

impl Window {
    /// A window starting at `start`, warming up for `warmup` seconds, then
    /// measuring for `duration` seconds.
    pub fn new(start: Instant, warmup: f64, duration: f64) -> Result<Self, WindowError> {
        // Also bounded so that the sums below cannot overflow.
        const MAX_SECONDS: f64 = 1e9;
        if !(duration > 0.0 && duration <= MAX_SECONDS) {
            return Err(WindowError::Duration { seconds: duration });
        }
        if !(0.0..=MAX_SECONDS).contains(&warmup) {
            return Err(WindowError::Warmup { seconds: warmup });
        }
        let measure_from = start + Duration::from_secs_f64(warmup);
        Ok(Self {
            start,
            measure_from,
            end: measure_from + Duration::from_secs_f64(duration),
            stop: Stop::new(),
        })
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn measure_from(&self) -> Instant {
        self.measure_from
    }

    /// The planned end; [`Window::measured`] accounts for a stop.
    pub fn end(&self) -> Instant {
        self.end
    }

    /// The handle that ends this run early.
    pub fn stop_handle(&self) -> Stop {
        self.stop.clone()
    }

    /// The end of sending: the planned end or the stop, whichever is first.
    fn closes_at(&self) -> Instant {
        self.stop.stopped_at().map_or(self.end, |s| s.min(self.end))
    }

    /// Whether nothing more may be sent at `now`.
    pub fn is_over(&self, now: Instant) -> bool {
        now >= self.closes_at()
    }

    /// What becomes of a request sent (or due to be sent) at `t`. Decided
    /// from one reading of the stop, so that a stop arriving meanwhile
    /// cannot leave a request sent but neither measured nor warm-up.
    pub fn phase(&self, t: Instant) -> Phase {
        if t >= self.closes_at() {
            Phase::Over
        } else if t < self.measure_from {
            Phase::WarmUp
        } else {
            Phase::Measured
        }
    }

    /// How long the measured window lasted, or will have lasted: shorter
    /// than planned after a stop, zero when stopped during the warm-up.
    pub fn measured(&self) -> Duration {
        self.closes_at()
            .saturating_duration_since(self.measure_from)
    }
}

/// The open-loop schedule: request `i` is due at `start + i / rate`,
/// computed from `i` (never by adding intervals, which would drift).
#[derive(Clone, Debug)]
pub struct Schedule {
    window: Window,
    rate: f64,
}

impl Schedule {
    /// `rate` requests per second over `window`.
    pub fn new(window: Window, rate: f64) -> Result<Self, WindowError> {
        if !(rate > 0.0 && rate <= 1e9) {
            return Err(WindowError::Rate { per_second: rate });
        }
        Ok(Self { window, rate })
    }

    pub fn window(&self) -> &Window {
        &self.window
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `tick` is due.
    pub fn intended(&self, tick: u64) -> Instant {
        let nanos = (tick as f64 * 1e9 / self.rate).round();
        // Saturates far beyond any window: such a tick is never sent.
        self.window.start + Duration::from_nanos(nanos as u64)
    }

    /// Requests due before the planned end.
    pub fn ticks(&self) -> u64 {
        self.first_at_or_after(self.window.end)
    }

    /// Requests due in the planned measured window.
    pub fn measured_ticks(&self) -> u64 {
        self.ticks() - self.first_at_or_after(self.window.measure_from)
    }

    /// The first tick due at or after `t`.
    fn first_at_or_after(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.window.start);
        let mut tick = (since.as_secs_f64() * self.rate).floor() as u64;
        // The float estimate can be one off either way.
        while tick > 0 && self.intended(tick - 1) >= t {
            tick -= 1;
        }
        while self.intended(tick) < t {
            tick += 1;
        }
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_warms_up_then_measures() {
        let t0 = Instant::now();
        let w = Window::new(t0, 0.5, 2.0).unwrap();
        assert_eq!(w.measure_from() - t0, Duration::from_millis(500));
        assert_eq!(w.end() - t0, Duration::from_millis(2_500));
        assert_eq!(w.phase(t0), Phase::WarmUp);
        assert_eq!(w.phase(t0 + Duration::from_millis(500)), Phase::Measured);
        assert_eq!(w.phase(t0 + Duration::from_millis(2_499)), Phase::Measured);
        assert_eq!(w.phase(t0 + Duration::from_millis(2_500)), Phase::Over);
        assert!(w.is_over(t0 + Duration::from_millis(2_500)));
        assert_eq!(w.measured(), Duration::from_secs(2));
    }

    #[test]
    fn a_stop_ends_the_window_early() {
        // Planned far in the future: the stop, now, comes during the
        // warm-up, so nothing was measured.
        let w = Window::new(Instant::now() + Duration::from_secs(3600), 1.0, 10.0).unwrap();
        let stop = w.stop_handle();
        assert!(!w.is_over(w.start()));
        stop.stop();
        let at = stop.stopped_at().unwrap();
        assert!(w.is_over(at) && w.is_over(w.start()));
        assert_eq!(w.phase(w.measure_from()), Phase::Over);
        assert_eq!(w.measured(), Duration::ZERO);
        // A stop after the measuring started shortens it.
        let t0 = Instant::now() - Duration::from_secs(5);
        let w = Window::new(t0, 1.0, 3600.0).unwrap();
        w.stop_handle().stop();
        let measured = w.measured();
        assert!(measured >= Duration::from_secs(4) && measured < Duration::from_secs(3600));
    }

    #[test]
    fn windows_that_cannot_be_run_are_refused() {
        let t0 = Instant::now();
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Window::new(t0, 0.0, d),
                Err(WindowError::Duration { .. })
            ));
        }
        for w in [-0.1, f64::NAN] {
            assert!(matches!(
                Window::new(t0, w, 1.0),
                Err(WindowError::Warmup { .. })
            ));
        }
        let w = Window::new(t0, 0.0, 1.0).unwrap();
        for r in [0.0, -5.0, f64::NAN, 2e9] {
            assert!(matches!(
                Schedule::new(w.clone(), r),
                Err(WindowError::Rate { .. })
            ));
        }
    }

    #[test]
    fn the_schedule_is_exact_and_does_not_drift() {
        let t0 = Instant::now();
        let s = Schedule::new(Window::new(t0, 0.5, 1.0).unwrap(), 1_000.0).unwrap();
        for i in [0u64, 1, 2, 999, 1_000, 1_499] {
            assert_eq!(s.intended(i) - t0, Duration::from_millis(i));
        }
        assert_eq!(s.ticks(), 1_500);
        assert_eq!(s.measured_ticks(), 1_000);
        // A rate whose interval is not a whole number of nanoseconds: tick
        // 3 million is exactly a million seconds in.
        let s = Schedule::new(Window::new(t0, 0.0, 1.0).unwrap(), 3.0).unwrap();
        assert_eq!(s.intended(3_000_000) - t0, Duration::from_secs(1_000_000));
        assert_eq!(s.intended(1) - t0, Duration::from_nanos(333_333_333));
        assert_eq!(s.ticks(), 3);
        // Ticks on the boundaries: due at the end is not sent, due at the
        // start of measuring is measured.
        let s = Schedule::new(Window::new(t0, 0.25, 0.5).unwrap(), 8.0).unwrap();
        assert_eq!(s.ticks(), 6);
        assert_eq!(s.measured_ticks(), 4);
    }
}
