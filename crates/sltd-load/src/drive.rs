//! Driving a run: the open-loop pacer and the closed-loop workers. Both call
//! back into the caller for each request, so the same timing and counting
//! serve every protocol.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::DriveError;
use crate::tally::Tally;
use crate::window::{Phase, Schedule, Window};

/// An answered request: how many documents it asked about, and whether
/// every verdict was the expected one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub keys: u64,
    pub correct: bool,
}

/// Why a request has no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What the report counts it under: a gRPC status code by its name
    /// (`UNAVAILABLE`), or the load generator's own word (`overloaded`,
    /// `unanswered`, `error` for a peer's error without a code).
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// An error without a kind of its own counts as `error`.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new("error", message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::new("error", message)
    }
}

/// What came of one request: an answer, or why there was none.
pub type Outcome = Result<Answer, Failure>;

/// An open-loop run.
#[derive(Clone, Debug)]
pub struct OpenLoop {
    pub schedule: Schedule,
    /// Most requests in flight; a request due beyond it is counted as an
    /// error instead of being sent, so an overloaded server cannot make the
    /// load generator pile up requests without bound.
    pub max_in_flight: usize,
    /// How long to wait for the last answers after the end.
    pub drain: Duration,
}

/// The longest sleep of the pacer, so that a stop is noticed promptly at
/// low rates.
const PACER_NAP: Duration = Duration::from_millis(50);

fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends request `i` at its intended time on the schedule, whatever the
/// answers do: `send(i)` makes the request's future, which runs on the
/// current runtime. Each latency counts from the intended send time.
pub async fn open_loop<F, Fut>(run: OpenLoop, mut send: F) -> Result<Tally, DriveError>
where
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    /// Requests in flight, and measured requests not answered yet (changed
    /// under the tally's lock, so the two always agree).
    #[derive(Default)]
    struct Counts {
        in_flight: AtomicUsize,
        outstanding: AtomicUsize,
    }
    let shared = Arc::new(Mutex::new(Tally::new()));
    let counts = Arc::new(Counts::default());
    let handle = tokio::runtime::Handle::current();
    let schedule = run.schedule.clone();
    let max_in_flight = run.max_in_flight;
    let pacer = {
        let shared = Arc::clone(&shared);
        let counts = Arc::clone(&counts);
        // A dedicated OS thread keeps the schedule: the async timer wheel's
        // millisecond granularity is too coarse at 10k requests a second.
        // Lateness of this thread is charged to the latency, not hidden.
        std::thread::spawn(move || {
            let window = schedule.window().clone();
            let mut tick = 0u64;
            loop {
                let intended = schedule.intended(tick);
                if window.is_over(intended) {
                    break;
                }
                let mut now = Instant::now();
                while intended > now && !window.is_over(now) {
                    std::thread::sleep((intended - now).min(PACER_NAP));
                    now = Instant::now();
                }
                // Stopped while waiting: what was due before the stop has
                // gone out.
                let measured = match window.phase(intended) {
                    Phase::Over => break,
                    Phase::WarmUp => false,
                    Phase::Measured => true,
                };
                if counts.in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    if measured {
                        lock(&shared).failed(Failure::new(
                            "overloaded",
                            "client overloaded: too many requests in flight",
                        ));
                    }
                    tick += 1;
                    continue;
                }
                counts.in_flight.fetch_add(1, Ordering::Relaxed);
                if measured {
                    counts.outstanding.fetch_add(1, Ordering::Relaxed);
                }
                let request = send(tick);
                let shared = Arc::clone(&shared);
                let counts = Arc::clone(&counts);
                handle.spawn(async move {
                    let sent = Instant::now();
                    let outcome = request.await;
                    let (latency, service) = (intended.elapsed(), sent.elapsed());
                    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                    if measured {
                        let mut t = lock(&shared);
                        t.record_scheduled(outcome, latency, service);
                        counts.outstanding.fetch_sub(1, Ordering::Relaxed);
                    }
                });
                tick += 1;
            }
        })
    };
    tokio::task::spawn_blocking(move || pacer.join())
        .await
        .map_err(|_| DriveError::PacerPanicked)?
        .map_err(|_| DriveError::PacerPanicked)?;
    let deadline = Instant::now() + run.drain;
    while counts.outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = lock(&shared);
    let mut total = t.clone();
    total.unanswered(counts.outstanding.load(Ordering::Relaxed) as u64);
    Ok(total)
}

/// `workers` workers, each sending its next request when the previous
/// answer arrives: `send(worker, n)` makes the worker's `n`th request.
/// Each latency counts from the send.
pub async fn closed_loop<F, Fut>(
    window: Window,
    workers: usize,
    send: F,
) -> Result<Tally, DriveError>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let send = Arc::new(send);
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers.max(1) {
        let send = Arc::clone(&send);
        let window = window.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            for n in 0u64.. {
                let sent = Instant::now();
                let phase = window.phase(sent);
                if phase == Phase::Over {
                    break;
                }
                let outcome = send(worker, n).await;
                if phase == Phase::Measured {
                    tally.record(outcome, sent.elapsed());
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for (worker, task) in tasks.into_iter().enumerate() {
        let t = task
            .await
            .map_err(|_| DriveError::WorkerPanicked { worker })?;
        total.merge(&t);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(warmup: f64, duration: f64) -> Window {
        Window::new(Instant::now() + Duration::from_millis(20), warmup, duration).unwrap()
    }

    /// Every request due in the measured window is sent and counted, in
    /// schedule order, however late the pacer runs: the open loop never
    /// skips a tick.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_open_loop_sends_every_tick_of_its_schedule() {
        let schedule = Schedule::new(window(0.05, 0.2), 2_000.0).unwrap();
        let expected = schedule.measured_ticks();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&sent);
        let run = OpenLoop {
            schedule: schedule.clone(),
            max_in_flight: usize::MAX,
            drain: Duration::from_secs(60),
        };
        let t = open_loop(run, move |i| {
            log.lock().unwrap().push(i);
            async move {
                Ok(Answer {
                    keys: 3,
                    correct: i % 7 != 0,
                })
            }
        })
        .await
        .unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(*sent, (0..schedule.ticks()).collect::<Vec<_>>());
        assert_eq!(t.requests(), expected);
        assert_eq!(t.keys(), 3 * expected);
        let first_measured = schedule.ticks() - expected;
        let wrong = (first_measured..schedule.ticks())
            .filter(|i| i % 7 == 0)
            .count();
        assert_eq!(t.mismatches(), wrong as u64);
        assert_eq!(t.errors(), 0);
        assert!(t.service().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_open_loop_counts_overload_and_unanswered_requests() {
        // Nothing is ever answered: one request goes out, every later one
        // is refused by the in-flight limit, and the one sent is counted
        // unanswered after the (zero) drain.
        let schedule = Schedule::new(window(0.0, 0.1), 500.0).unwrap();
        let expected = schedule.measured_ticks();
        let run = OpenLoop {
            schedule,
            max_in_flight: 1,
            drain: Duration::ZERO,
        };
        let t = open_loop(run, |_| std::future::pending::<Outcome>())
            .await
            .unwrap();
        assert_eq!(t.requests(), expected);
        assert_eq!(t.errors(), expected);
        assert_eq!(t.keys(), 0);
        assert!(t.first_error().unwrap().contains("overloaded"));
        assert!(!t.passed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_ends_an_open_loop_early() {
        let w = window(0.0, 3600.0);
        let stop = w.stop_handle();
        let schedule = Schedule::new(w.clone(), 1_000.0).unwrap();
        let run = OpenLoop {
            schedule: schedule.clone(),
            max_in_flight: usize::MAX,
            drain: Duration::from_secs(60),
        };
        let stopper = stop.clone();
        let t = open_loop(run, move |i| {
            if i == 100 {
                stopper.stop();
            }
            async {
                Ok(Answer {
                    keys: 1,
                    correct: true,
                })
            }
        })
        .await
        .unwrap();
        // Every tick due before the stop was sent (more than 101 when the
        // pacer ran late), and none after it.
        let at = stop.stopped_at().unwrap();
        let due = (0u64..).take_while(|&i| schedule.intended(i) < at).count() as u64;
        assert!(due >= 101, "{due}");
        assert_eq!(t.requests(), due);
        assert!(t.passed());
        assert!(w.measured() < Duration::from_secs(3600));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_closed_loop_numbers_each_workers_requests() {
        // Measuring from now: every request sent is counted.
        let w = Window::new(Instant::now(), 0.0, 3600.0).unwrap();
        let stop = w.stop_handle();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let t = closed_loop(w, 3, move |worker, n| {
            log.lock().unwrap().push((worker, n));
            if worker == 0 && n == 20 {
                stop.stop();
            }
            async move {
                tokio::task::yield_now().await;
                if n == 1 {
                    Err(format!("worker {worker} failed once").into())
                } else {
                    Ok(Answer {
                        keys: 1,
                        correct: true,
                    })
                }
            }
        })
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        for worker in 0..3 {
            let ns: Vec<u64> = seen
                .iter()
                .filter(|(w, _)| *w == worker)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(ns, (0..ns.len() as u64).collect::<Vec<_>>(), "{worker}");
        }
        assert_eq!(t.requests(), seen.len() as u64);
        // Each worker failed its second request, if it got that far.
        let failed = (0..3).filter(|w| seen.contains(&(*w, 1))).count() as u64;
        assert_eq!(t.errors(), failed);
        assert_eq!(t.keys(), t.requests() - failed);
    }
}
