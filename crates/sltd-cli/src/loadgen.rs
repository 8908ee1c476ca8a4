//! `sltd loadgen`: drives a running `sltdd` with unary, batch or streaming
//! checks and reports latency percentiles and throughput.
//!
//! The key stream, the open-loop pacer, the closed-loop workers and the
//! tallies are `sltd_load`'s (the peers benchmark uses the same code); this
//! module turns queries into gRPC requests and checks the verdicts.
//! Open loop (`--rate`) measures each latency from the request's intended
//! send time (no coordinated omission); closed loop (`--concurrency`) finds
//! the maximum throughput. Hits are drawn from the keys file, misses are
//! generated and checked not to be in it; every answer is compared with the
//! verdict it must have. Ctrl-C ends the measuring early and reports what
//! was measured. `--tcp-pingpong` measures the loopback transport floor
//! instead.

use sltd_log::outln;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use prost::Message;
use prost::bytes::BufMut;
use serde_json::{Value, json};
use sltd_load::{
    Answer, Failure, KeyStream, KeyStreamOptions, OpenLoop, Outcome, Phase, Query, Schedule, Stop,
    Tally, Window,
};
use sltd_proto::status::code_name;
use sltd_proto::v1 as pb;
use sltd_proto::v1::check_request::Query as PbQuery;
use tonic::client::Grpc;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder};
use tonic::codegen::Bytes;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::EXIT_ERROR;
use crate::client::ConnectArgs;
use crate::retry::MethodConfig;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  sltd loadgen --keys export.csv --rate 10000 --duration 30          open loop, unary
  sltd loadgen --keys export.csv --concurrency 16 --duration 30      closed loop, unary
  sltd loadgen --keys export.csv --concurrency 4 --batch 300         batches of 300
  sltd loadgen --keys export.csv --concurrency 4 --stream            bidirectional streams
  sltd loadgen --tcp-pingpong --duration 10                          loopback TCP floor
  sltd loadgen --keys export.csv --rate 1000 --json                  one JSON object

Ctrl-C ends the measuring early and reports what was measured until then.
Exit status 0 when every request succeeded with the expected verdict, 2
otherwise.")]
pub(crate) struct LoadgenArgs {
    #[command(flatten)]
    conn: ConnectArgs,

    /// CSV export (the `sltd gen` format) to draw hits from.
    #[arg(long, value_name = "CSV", required_unless_present = "tcp_pingpong")]
    keys: Option<PathBuf>,

    /// Open loop: requests (or batches) per second, on a fixed schedule.
    #[arg(long, value_name = "R", conflicts_with = "concurrency")]
    rate: Option<f64>,

    /// Closed loop: requests in flight at once [default: 16; with --stream,
    /// the number of streams, default 4].
    #[arg(long, value_name = "C")]
    concurrency: Option<usize>,

    /// Seconds to measure.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    duration: f64,

    /// Seconds to run before measuring (connections, caches, CPU clocks).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    warmup: f64,

    /// Send CheckBatch calls of N documents each.
    #[arg(long, value_name = "N", conflicts_with = "stream")]
    batch: Option<usize>,

    /// Use CheckStream: each stream keeps --window documents in flight.
    #[arg(long)]
    stream: bool,

    /// Documents in flight per stream.
    #[arg(long, value_name = "N", default_value_t = 64)]
    window: usize,

    /// HTTP/2 connections to spread the load over.
    #[arg(long, value_name = "N", default_value_t = 4)]
    connections: usize,

    /// Share of queries that must hit (drawn from --keys); the rest are
    /// generated numbers that are not in it.
    #[arg(long, value_name = "F", default_value_t = 0.1)]
    hit_ratio: f64,

    /// Skip rows of --keys that fail validation (counted) instead of
    /// refusing the file.
    #[arg(long)]
    skip_invalid: bool,

    /// Most keys sampled from the CSV (reservoir sampling).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_keys: usize,

    /// Seed for sampling and miss generation.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Open loop: most requests in flight; beyond it a request is counted
    /// as an error instead of being sent.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    max_in_flight: usize,

    /// Measure a plain TCP ping-pong over loopback (64-byte messages, one
    /// connection per --concurrency) instead of talking to a daemon.
    #[arg(long, conflicts_with_all = ["keys", "batch", "stream", "rate"])]
    tcp_pingpong: bool,

    /// Async worker threads of the load generator [default: one per CPU].
    /// On a machine shared with the daemon, fewer threads leave it more CPU.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Process id of the daemon (Linux): report the CPU it used during the
    /// measured window, per document checked.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// CPU time used in the measured window, seconds.
#[derive(Clone, Copy, Debug, Default)]
struct CpuUse {
    client: Option<f64>,
    server: Option<f64>,
}

/// utime + stime of a process from /proc, seconds (Linux; USER_HZ is 100
/// on every Linux configuration that matters).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Samples the CPU time of this process and of the daemon when the
/// measured window opens and when it closes (at its end or a stop).
fn sample_cpu(server_pid: Option<u32>, window: Window) -> std::thread::JoinHandle<CpuUse> {
    std::thread::spawn(move || {
        let server = server_pid.map(|p| p.to_string());
        let read = || (cpu_seconds("self"), server.as_deref().and_then(cpu_seconds));
        let now = Instant::now();
        if window.measure_from() > now {
            std::thread::sleep(window.measure_from() - now);
        }
        let (c0, s0) = read();
        while !window.is_over(Instant::now()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (c1, s1) = read();
        CpuUse {
            client: c0.zip(c1).map(|(a, b)| b - a),
            server: s0.zip(s1).map(|(a, b)| b - a),
        }
    })
}

/// Ends the measuring on the first Ctrl-C; a second one exits at once. The
/// handler is in place when this returns.
#[cfg(unix)]
fn stop_on_ctrl_c(stop: Stop) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
    tokio::spawn(async move {
        if interrupt.recv().await.is_some() {
            eprintln!("sltd loadgen: interrupted; reporting what was measured");
            stop.stop();
        }
        if interrupt.recv().await.is_some() {
            std::process::exit(i32::from(EXIT_ERROR));
        }
    });
    Ok(())
}

/// Ends the measuring on the first Ctrl-C; a second one exits at once.
#[cfg(not(unix))]
fn stop_on_ctrl_c(stop: Stop) -> anyhow::Result<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("sltd loadgen: interrupted; reporting what was measured");
            stop.stop();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(EXIT_ERROR));
        }
    });
    Ok(())
}

/// One request, encoded once up front, and the verdicts its answer must
/// have. Sending pre-encoded bytes keeps the load generator's own work
/// (cloning and encoding requests) from competing with the daemon for the
/// CPU it shares on one machine.
#[derive(Clone, Debug)]
struct Work {
    body: Bytes,
    hits: Vec<bool>,
}

/// The requests of a run, cycled through.
fn work_pool(queries: &[Query], batch: Option<usize>) -> Vec<Work> {
    match batch {
        None => queries
            .iter()
            .map(|q| Work {
                body: Bytes::from(doc_request(q).encode_to_vec()),
                hits: vec![q.hit],
            })
            .collect(),
        Some(n) => {
            let count = (queries.len() / n).clamp(1, 2_000);
            (0..count)
                .map(|b| {
                    let chosen: Vec<&Query> = (0..n)
                        .map(|k| &queries[(b * n + k) % queries.len()])
                        .collect();
                    let req = pb::CheckBatchRequest {
                        queries: chosen.iter().map(|q| doc_request(q)).collect(),
                    };
                    Work {
                        body: Bytes::from(req.encode_to_vec()),
                        hits: chosen.iter().map(|q| q.hit).collect(),
                    }
                })
                .collect()
        }
    }
}

/// Sends bytes as they are; decodes answers with prost.
#[derive(Debug)]
struct PreEncoded<M>(std::marker::PhantomData<M>);

#[derive(Debug)]
struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl<M: Message + Default + Send + 'static> Codec for PreEncoded<M> {
    type Encode = Bytes;
    type Decode = M;
    type Encoder = BytesEncoder;
    type Decoder = tonic_prost::ProstDecoder<M>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::new(BufferSettings::default())
    }
}

fn codec<M>() -> PreEncoded<M> {
    PreEncoded(std::marker::PhantomData)
}

/// A failed call as the report counts it: under its status code's name.
fn failure(e: &tonic::Status) -> Failure {
    let code = code_name(e.code());
    Failure::new(code, format!("{code}: {}", crate::client::status_text(e)))
}

/// Waits until the connection can take a call; a connection that cannot
/// is UNAVAILABLE, as gRPC clients report it.
async fn ready(grpc: &mut Grpc<Channel>) -> Result<(), tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connection: {e}")))
}

/// The measuring window the arguments ask for, starting at `start`.
fn window(args: &LoadgenArgs, start: Instant) -> anyhow::Result<Window> {
    Window::new(start, args.warmup, args.duration).context("--duration / --warmup")
}

pub(crate) fn run(args: LoadgenArgs) -> anyhow::Result<u8> {
    // Refuse bad timings before reading any file.
    window(&args, Instant::now())?;
    if args.tcp_pingpong {
        let (tally, measured, cpu) = tcp_pingpong(&args)?;
        return report(&args, "tcp-pingpong", &tally, measured, cpu, 0);
    }
    if args.connections == 0 || args.window == 0 || args.batch == Some(0) {
        anyhow::bail!("--connections, --window and --batch must be at least 1");
    }
    if let Some(rate) = args.rate {
        Schedule::new(window(&args, Instant::now())?, rate).context("--rate")?;
    }
    let keys = args.keys.as_ref().context("--keys is required")?;
    let stream = KeyStream::from_export(
        keys,
        &KeyStreamOptions {
            seed: args.seed,
            hit_ratio: args.hit_ratio,
            max_keys: args.max_keys,
            skip_invalid: args.skip_invalid,
        },
    )
    .context("cannot draw the queries (--keys, --hit-ratio, --max-keys)")?;
    if stream.rows_skipped() > 0 {
        eprintln!(
            "sltd loadgen: skipped {} invalid rows of {}",
            stream.rows_skipped(),
            keys.display()
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let mode = if args.stream {
        "stream"
    } else if args.batch.is_some() {
        "batch"
    } else {
        "unary"
    };
    let (tally, measured, cpu, retries) = rt.block_on(drive(&args, stream.queries()))?;
    report(&args, mode, &tally, measured, cpu, retries)
}

fn doc_request(q: &Query) -> pb::CheckRequest {
    pb::CheckRequest {
        request_id: String::new(),
        query: Some(PbQuery::Document(pb::Document {
            number: q.key.number.as_str().to_string(),
            issuing_country: q.key.state.as_str().to_string(),
            document_type: String::new(),
        })),
        include_possible_matches: None,
    }
}

fn verdict_ok(resp: &pb::CheckResponse, hit: bool) -> bool {
    let want = if hit {
        pb::Verdict::Hit
    } else {
        pb::Verdict::NoHit
    };
    resp.verdict == want as i32
}

/// How unary calls are sent: what `--service-config` says of each method
/// (retries, timeouts), and how many retries were made.
#[derive(Debug, Default)]
struct Calls {
    check: MethodConfig,
    batch: MethodConfig,
    retries: AtomicU64,
}

impl Calls {
    fn new(conn: &ConnectArgs) -> anyhow::Result<Self> {
        Ok(Self {
            check: conn.method_config("Check")?,
            batch: conn.method_config("CheckBatch")?,
            retries: AtomicU64::new(0),
        })
    }

    /// Sends `body` to `path` with `method`'s retry policy.
    async fn unary<M: Message + Default + Send + 'static>(
        &self,
        grpc: &Grpc<Channel>,
        method: &MethodConfig,
        path: &'static str,
        body: &Bytes,
    ) -> Result<M, Failure> {
        method
            .call(
                |timeout| {
                    let mut grpc = grpc.clone();
                    let mut req = tonic::Request::new(body.clone());
                    if let Some(t) = timeout {
                        req.set_timeout(t);
                    }
                    async move {
                        ready(&mut grpc).await?;
                        grpc.unary(req, PathAndQuery::from_static(path), codec())
                            .await
                            .map(tonic::Response::into_inner)
                    }
                },
                |_| {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                },
            )
            .await
            .map_err(|e| failure(&e))
    }
}

/// One request of the current mode.
async fn one_call(grpc: &Grpc<Channel>, calls: &Calls, work: &Work, batch: bool) -> Outcome {
    if batch {
        let resp: pb::CheckBatchResponse = calls
            .unary(grpc, &calls.batch, "/sltd.v1.Lookup/CheckBatch", &work.body)
            .await?;
        let correct = resp.results.len() == work.hits.len()
            && resp
                .results
                .iter()
                .zip(&work.hits)
                .all(|(r, &hit)| verdict_ok(r, hit));
        Ok(Answer {
            keys: work.hits.len() as u64,
            correct,
        })
    } else {
        let resp: pb::CheckResponse = calls
            .unary(grpc, &calls.check, "/sltd.v1.Lookup/Check", &work.body)
            .await?;
        Ok(Answer {
            keys: 1,
            correct: verdict_ok(&resp, work.hits[0]),
        })
    }
}

async fn connect_all(args: &LoadgenArgs) -> anyhow::Result<Vec<Grpc<Channel>>> {
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let channel = args
            .conn
            .endpoint()?
            .connect()
            .await
            .map_err(|e| crate::client::connect_error(&args.conn.server, &e))?;
        clients.push(Grpc::new(channel).max_decoding_message_size(64 * 1024 * 1024));
    }
    Ok(clients)
}

/// What a run measured: the tally, the measured time, CPU use, and how many
/// calls the retry policy sent again.
type Measured = (Tally, Duration, CpuUse, u64);

async fn drive(args: &LoadgenArgs, queries: &[Query]) -> anyhow::Result<Measured> {
    let calls = Arc::new(Calls::new(&args.conn)?);
    let clients = Arc::new(connect_all(args).await?);
    let pool = Arc::new(work_pool(
        queries,
        if args.stream { None } else { args.batch },
    ));
    // Open loop: a short lead, so that the first requests are not late.
    let lead = if args.rate.is_some() {
        Duration::from_millis(50)
    } else {
        Duration::ZERO
    };
    let window = window(args, Instant::now() + lead)?;
    stop_on_ctrl_c(window.stop_handle())?;
    eprintln!(
        "sltd loadgen: {} queries drawn; measuring {} s after {} s of warm-up (Ctrl-C stops early)",
        queries.len(),
        args.duration,
        args.warmup
    );
    let cpu = sample_cpu(args.server_pid, window.clone());
    let batch = args.batch.is_some();
    let tally = if args.stream {
        drive_stream(args, &clients, &pool, &window).await?
    } else if let Some(rate) = args.rate {
        let run = OpenLoop {
            schedule: Schedule::new(window.clone(), rate)?,
            max_in_flight: args.max_in_flight,
            // The last requests finish within the client timeout.
            drain: Duration::from_secs_f64(args.conn.timeout + 1.0),
        };
        let calls = Arc::clone(&calls);
        sltd_load::open_loop(run, move |i| {
            let client = clients[i as usize % clients.len()].clone();
            let (pool, calls) = (Arc::clone(&pool), Arc::clone(&calls));
            async move { one_call(&client, &calls, &pool[i as usize % pool.len()], batch).await }
        })
        .await?
    } else {
        let workers = args.concurrency.unwrap_or(16).max(1);
        let calls = Arc::clone(&calls);
        sltd_load::closed_loop(window.clone(), workers, move |w, n| {
            let client = clients[w % clients.len()].clone();
            let (pool, calls) = (Arc::clone(&pool), Arc::clone(&calls));
            // Workers start at different places in the pool.
            let at = w * pool.len() / workers + n as usize;
            async move { one_call(&client, &calls, &pool[at % pool.len()], batch).await }
        })
        .await?
    };
    let cpu = cpu.join().unwrap_or_default();
    let retries = calls.retries.load(Ordering::Relaxed);
    Ok((tally, window.measured(), cpu, retries))
}

async fn drive_stream(
    args: &LoadgenArgs,
    clients: &[Grpc<Channel>],
    pool: &Arc<Vec<Work>>,
    window: &Window,
) -> anyhow::Result<Tally> {
    let streams = args.concurrency.unwrap_or(4).max(1);
    let in_flight = args.window;
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mut client = clients[s % clients.len()].clone();
        let pool = Arc::clone(pool);
        let window = window.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            // (send time, measured, expected hit), in send order: answers
            // come back in the same order.
            let pending: Arc<Mutex<VecDeque<(Instant, bool, bool)>>> =
                Arc::new(Mutex::new(VecDeque::with_capacity(in_flight)));
            let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(in_flight);
            let sender = {
                let pending = Arc::clone(&pending);
                let permits = Arc::clone(&permits);
                let pool = Arc::clone(&pool);
                let window = window.clone();
                tokio::spawn(async move {
                    let mut next = s * pool.len() / streams;
                    loop {
                        let Ok(permit) = permits.acquire().await else {
                            break;
                        };
                        let sent = Instant::now();
                        let phase = window.phase(sent);
                        if phase == Phase::Over {
                            break;
                        }
                        permit.forget();
                        let work = &pool[next % pool.len()];
                        next += 1;
                        pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_back((sent, phase == Phase::Measured, work.hits[0]));
                        if tx.send(work.body.clone()).await.is_err() {
                            break;
                        }
                    }
                })
            };
            let opened = match ready(&mut client).await {
                Ok(()) => client
                    .streaming(
                        tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
                        PathAndQuery::from_static("/sltd.v1.Lookup/CheckStream"),
                        codec::<pb::CheckResponse>(),
                    )
                    .await
                    .map_err(|e| failure(&e)),
                Err(e) => Err(failure(&e)),
            };
            let mut responses = match opened {
                Ok(r) => r.into_inner(),
                Err(e) => {
                    tally.failed(e);
                    sender.abort();
                    return tally;
                }
            };
            loop {
                match responses.message().await {
                    Ok(Some(resp)) => {
                        let Some((sent, measured, hit)) = pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .pop_front()
                        else {
                            tally.error("an answer without a request");
                            break;
                        };
                        permits.add_permits(1);
                        if measured {
                            let correct = verdict_ok(&resp, hit);
                            tally.record(Ok(Answer { keys: 1, correct }), sent.elapsed());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tally.error(failure(&e));
                        break;
                    }
                }
            }
            let _ = sender.await;
            let left = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(_, measured, _)| *measured)
                .count() as u64;
            tally.unanswered(left);
            tally
        }));
    }
    let mut total = Tally::new();
    for t in tasks {
        total.merge(&t.await?);
    }
    Ok(total)
}

/// Plain TCP ping-pong over loopback: the transport floor under any RPC.
fn tcp_pingpong(args: &LoadgenArgs) -> anyhow::Result<(Tally, Duration, CpuUse)> {
    const MSG: usize = 64;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let connections = args.concurrency.unwrap_or(1).max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let echo = std::thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..connections {
            let Ok((mut s, _)) = listener.accept() else {
                break;
            };
            handlers.push(std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&buf).is_err() {
                        break;
                    }
                }
            }));
        }
        for h in handlers {
            let _ = h.join();
        }
    });
    let window = window(args, Instant::now())?;
    let cpu = sample_cpu(args.server_pid, window.clone());
    let mut clients = Vec::new();
    for _ in 0..connections {
        let stop = Arc::clone(&stop);
        let window = window.clone();
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        clients.push(std::thread::spawn(move || {
            let mut tally = Tally::new();
            let mut buf = [7u8; MSG];
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let phase = window.phase(sent);
                if phase == Phase::Over {
                    break;
                }
                if let Err(e) = s.write_all(&buf).and_then(|_| s.read_exact(&mut buf)) {
                    tally.error(e.to_string());
                    break;
                }
                if phase == Phase::Measured {
                    let answer = Answer {
                        keys: 1,
                        correct: true,
                    };
                    tally.record(Ok(answer), sent.elapsed());
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for c in clients {
        total.merge(
            &c.join()
                .map_err(|_| anyhow::anyhow!("ping-pong thread panicked"))?,
        );
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    let cpu = cpu.join().unwrap_or_default();
    Ok((total, window.measured(), cpu))
}

fn report(
    args: &LoadgenArgs,
    mode: &str,
    t: &Tally,
    measured: Duration,
    cpu: CpuUse,
    retries: u64,
) -> anyhow::Result<u8> {
    let secs = measured.as_secs_f64();
    let (loop_kind, concurrency) = match (args.rate, mode) {
        (Some(_), _) => ("open", None),
        (None, "stream") => ("closed", Some(args.concurrency.unwrap_or(4))),
        (None, "tcp-pingpong") => ("closed", Some(args.concurrency.unwrap_or(1))),
        (None, _) => ("closed", Some(args.concurrency.unwrap_or(16))),
    };
    let pingpong = mode == "tcp-pingpong";
    let per_second = |c: f64| (secs > 0.0).then(|| c / secs);
    let mut v = json!({
        "mode": mode,
        "loop": loop_kind,
        "server": (!pingpong).then_some(&args.conn.server),
        "rate": args.rate,
        "concurrency": concurrency,
        "connections": (!pingpong).then_some(args.connections),
        "batch": args.batch,
        "window": (mode == "stream").then_some(args.window),
        "hit_ratio": (!pingpong).then_some(args.hit_ratio),
        "client_cpu_cores": cpu.client.and_then(per_second),
        "server_cpu_cores": cpu.server.and_then(per_second),
        "server_cpu_us_per_key": cpu.server.filter(|_| t.keys() > 0).map(|c| c * 1e6 / t.keys() as f64),
        "service_config": args.conn.service_config,
        "retries": retries,
    });
    if let Value::Object(m) = &mut v {
        m.extend(t.summary(measured));
    }
    if args.json {
        outln!("{v}");
    } else {
        let target = match (args.rate, concurrency) {
            (Some(r), _) => format!("open loop at {r} req/s"),
            (None, Some(c)) => format!("closed loop, concurrency {c}"),
            _ => String::new(),
        };
        outln!("sltd loadgen: {mode}, {target}, {secs:.3} s measured");
        outln!(
            "  requests {}  keys {}  errors {}  mismatches {}  retries {retries}",
            t.requests(),
            t.keys(),
            t.errors_text(),
            t.mismatches()
        );
        outln!(
            "  throughput {:.0} req/s, {:.0} keys/s",
            v["throughput_rps"].as_f64().unwrap_or_default(),
            v["keys_per_s"].as_f64().unwrap_or_default()
        );
        let l = t.latency();
        outln!(
            "  latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.p999_us,
            l.max_us,
            l.mean_us
        );
        if let Some(s) = t.service() {
            outln!(
                "  from the actual send (excludes the load generator's own lateness): p50 {}  p99 {}  p99.9 {}",
                s.p50_us,
                s.p99_us,
                s.p999_us
            );
        }
        if let Some(c) = cpu.client.and_then(per_second) {
            let daemon = cpu.server.map_or(String::new(), |sv| {
                format!(
                    ", daemon {:.2} cores ({:.1} us per document)",
                    per_second(sv).unwrap_or_default(),
                    sv * 1e6 / t.keys().max(1) as f64
                )
            });
            outln!("  CPU: load generator {c:.2} cores{daemon}");
        }
        if let Some(e) = t.first_error() {
            outln!("  first error: {e}");
        }
    }
    Ok(if t.passed() { 0 } else { EXIT_ERROR })
}
