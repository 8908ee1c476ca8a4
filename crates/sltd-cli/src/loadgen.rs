//! `sltd loadgen`: drives a running `sltdd` with unary, batch or streaming
//! checks and reports latency percentiles and throughput.
//!
//! Open loop (`--rate`): requests are sent on a fixed schedule whatever the
//! answers do, and each latency is measured from the request's *intended*
//! send time, so a stall shows up in the percentiles instead of silently
//! lowering the load (no coordinated omission). Closed loop
//! (`--concurrency`): each worker sends its next request when the previous
//! answer arrives; this finds the maximum throughput.
//!
//! Hits are drawn from the keys file, misses are generated and checked not
//! to be in it; every answer is compared with the verdict it must have.
//! `--tcp-pingpong` measures the loopback transport floor instead.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use prost::Message;
use prost::bytes::BufMut;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sltd_model::Record;
use sltd_proto::v1 as pb;
use sltd_proto::v1::check_request::Query as PbQuery;
use tonic::client::Grpc;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder};
use tonic::codegen::Bytes;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::EXIT_ERROR;
use crate::client::ConnectArgs;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  sltd loadgen --keys export.csv --rate 10000 --duration 30          open loop, unary
  sltd loadgen --keys export.csv --concurrency 16 --duration 30      closed loop, unary
  sltd loadgen --keys export.csv --concurrency 4 --batch 300         batches of 300
  sltd loadgen --keys export.csv --concurrency 4 --stream            bidirectional streams
  sltd loadgen --tcp-pingpong --duration 10                          loopback TCP floor
  sltd loadgen --keys export.csv --rate 1000 --json                  one JSON object

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

/// Samples the CPU time of this process and of the daemon at the start and
/// the end of the measured window.
fn sample_cpu(
    server_pid: Option<u32>,
    from: Instant,
    to: Instant,
) -> std::thread::JoinHandle<CpuUse> {
    std::thread::spawn(move || {
        let server = server_pid.map(|p| p.to_string());
        let read = || (cpu_seconds("self"), server.as_deref().and_then(cpu_seconds));
        let wait = |t: Instant| {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        };
        wait(from);
        let (c0, s0) = read();
        wait(to);
        let (c1, s1) = read();
        CpuUse {
            client: c0.zip(c1).map(|(a, b)| b - a),
            server: s0.zip(s1).map(|(a, b)| b - a),
        }
    })
}

/// One query and the verdict it must get.
#[derive(Clone, Debug)]
struct Item {
    req: pb::CheckRequest,
    hit: bool,
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
fn work_pool(items: &[Item], batch: Option<usize>) -> Vec<Work> {
    match batch {
        None => items
            .iter()
            .map(|i| Work {
                body: Bytes::from(i.req.encode_to_vec()),
                hits: vec![i.hit],
            })
            .collect(),
        Some(n) => {
            let count = (items.len() / n).clamp(1, 2_000);
            (0..count)
                .map(|b| {
                    let chosen: Vec<&Item> =
                        (0..n).map(|k| &items[(b * n + k) % items.len()]).collect();
                    let req = pb::CheckBatchRequest {
                        queries: chosen.iter().map(|i| i.req.clone()).collect(),
                    };
                    Work {
                        body: Bytes::from(req.encode_to_vec()),
                        hits: chosen.iter().map(|i| i.hit).collect(),
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

fn status_text(e: &tonic::Status) -> String {
    format!("{:?}: {}", e.code(), e.message())
}

async fn ready(grpc: &mut Grpc<Channel>) -> Result<(), String> {
    grpc.ready().await.map_err(|e| format!("connection: {e}"))
}

/// Latencies and counts gathered by one worker; merged at the end.
#[derive(Debug)]
struct Tally {
    hist: Histogram<u64>,
    /// Open loop only: latency from the actual send, without the wait
    /// between the intended send time and the send. A large gap between the
    /// two means the load generator itself was late (CPU contention).
    service: Histogram<u64>,
    requests: u64,
    keys: u64,
    errors: u64,
    mismatches: u64,
    first_error: Option<String>,
    cpu: CpuUse,
}

impl Tally {
    fn new() -> Self {
        Self {
            // 1 us .. 60 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            service: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            requests: 0,
            keys: 0,
            errors: 0,
            mismatches: 0,
            first_error: None,
            cpu: CpuUse::default(),
        }
    }

    fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hist.saturating_record(us);
    }

    fn record_service(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.service.saturating_record(us);
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    fn merge(&mut self, o: &Tally) {
        let _ = self.hist.add(&o.hist);
        let _ = self.service.add(&o.service);
        self.requests += o.requests;
        self.keys += o.keys;
        self.errors += o.errors;
        self.mismatches += o.mismatches;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
    }
}

pub(crate) fn run(args: LoadgenArgs) -> anyhow::Result<u8> {
    if args.duration.is_nan() || args.duration <= 0.0 || args.warmup.is_nan() || args.warmup < 0.0 {
        bail!("--duration must be positive and --warmup not negative");
    }
    if args.tcp_pingpong {
        let tally = tcp_pingpong(&args)?;
        return report(&args, "tcp-pingpong", &tally);
    }
    if !(0.0..=1.0).contains(&args.hit_ratio) {
        bail!("--hit-ratio must be between 0 and 1");
    }
    if args.connections == 0 || args.window == 0 || args.batch == Some(0) {
        bail!("--connections, --window and --batch must be at least 1");
    }
    if let Some(r) = args.rate
        && (r.is_nan() || r <= 0.0)
    {
        bail!("--rate must be positive");
    }
    let keys = args.keys.as_ref().context("--keys is required")?;
    let items = build_items(keys, &args)?;
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
    let tally = rt.block_on(drive(&args, items))?;
    report(&args, mode, &tally)
}

/// Samples hit keys from the CSV and generates misses, shuffled together
/// with the requested hit ratio.
fn build_items(path: &PathBuf, args: &LoadgenArgs) -> anyhow::Result<Vec<Item>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("{}", path.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut sample: Vec<Record> = Vec::new();
    // Hashes of every number in the file, to make sure a miss is a miss.
    // A collision only rejects a candidate miss, never makes a false one.
    let hasher = std::collections::hash_map::RandomState::new();
    let hash = |n: &[u8]| hasher.hash_one(n);
    let mut numbers: HashSet<u64> = HashSet::new();
    let (mut seen, mut bad) = (0u64, 0u64);
    for row in reader {
        match row {
            Ok(rec) => {
                numbers.insert(hash(rec.key.number.as_bytes()));
                seen += 1;
                if sample.len() < args.max_keys {
                    sample.push(rec);
                } else {
                    let j = rng.random_range(0..seen);
                    if (j as usize) < args.max_keys {
                        sample[j as usize] = rec;
                    }
                }
            }
            Err(e) if e.is_fatal() => return Err(e).context(format!("{}", path.display())),
            Err(_) => bad += 1,
        }
    }
    if sample.is_empty() && args.hit_ratio > 0.0 {
        bail!("{}: no usable records to draw hits from", path.display());
    }
    if bad > 0 {
        eprintln!(
            "sltd loadgen: skipped {bad} invalid rows of {}",
            path.display()
        );
    }
    let pool = 200_000.min((sample.len() * 4).max(10_000));
    let mut items = Vec::with_capacity(pool);
    for i in 0..pool {
        let hit = !sample.is_empty() && rng.random_bool(args.hit_ratio);
        let id = String::new();
        let item = if hit {
            let r = &sample[i % sample.len()];
            Item {
                req: doc_request(id, r.key.number.as_str(), r.key.state.as_str()),
                hit: true,
            }
        } else {
            let state = sample
                .get(rng.random_range(0..sample.len().max(1)))
                .map(|r| r.key.state)
                .unwrap_or_else(|| sltd_model::IssuingState::normalise("UTO").expect("valid"));
            let number = loop {
                let n = sltd_export::generate::random_miss_number(&mut rng, &state);
                if !numbers.contains(&hash(n.as_bytes())) {
                    break n;
                }
            };
            Item {
                req: doc_request(id, number.as_str(), state.as_str()),
                hit: false,
            }
        };
        items.push(item);
    }
    // Spread hits over the pool rather than in sample order.
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
    Ok(items)
}

fn doc_request(request_id: String, number: &str, state: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        request_id,
        query: Some(PbQuery::Document(pb::Document {
            number: number.to_string(),
            issuing_country: state.to_string(),
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

/// One request of the current mode: (documents, matched expectations).
async fn one_call(
    grpc: &mut Grpc<Channel>,
    work: &Work,
    batch: bool,
) -> Result<(u64, bool), String> {
    ready(grpc).await?;
    if batch {
        let resp: pb::CheckBatchResponse = grpc
            .unary(
                tonic::Request::new(work.body.clone()),
                PathAndQuery::from_static("/sltd.v1.Lookup/CheckBatch"),
                codec(),
            )
            .await
            .map_err(|e| status_text(&e))?
            .into_inner();
        let ok = resp.results.len() == work.hits.len()
            && resp
                .results
                .iter()
                .zip(&work.hits)
                .all(|(r, &hit)| verdict_ok(r, hit));
        Ok((work.hits.len() as u64, ok))
    } else {
        let resp: pb::CheckResponse = grpc
            .unary(
                tonic::Request::new(work.body.clone()),
                PathAndQuery::from_static("/sltd.v1.Lookup/Check"),
                codec(),
            )
            .await
            .map_err(|e| status_text(&e))?
            .into_inner();
        Ok((1, verdict_ok(&resp, work.hits[0])))
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
            .with_context(|| format!("cannot connect to {}", args.conn.server))?;
        clients.push(Grpc::new(channel).max_decoding_message_size(64 * 1024 * 1024));
    }
    Ok(clients)
}

async fn drive(args: &LoadgenArgs, items: Vec<Item>) -> anyhow::Result<Tally> {
    let clients = connect_all(args).await?;
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.duration);
    let pool = Arc::new(work_pool(
        &items,
        if args.stream { None } else { args.batch },
    ));
    if args.stream {
        return drive_stream(args, clients, pool, warmup, measure).await;
    }
    match args.rate {
        Some(rate) => drive_open(args, clients, pool, rate, warmup, measure).await,
        None => drive_closed(args, clients, pool, warmup, measure).await,
    }
}

async fn drive_closed(
    args: &LoadgenArgs,
    clients: Vec<Grpc<Channel>>,
    pool: Arc<Vec<Work>>,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Tally> {
    let concurrency = args.concurrency.unwrap_or(16).max(1);
    let t0 = Instant::now();
    let (measure_from, end) = (t0 + warmup, t0 + warmup + measure);
    let cpu = sample_cpu(args.server_pid, measure_from, end);
    let batch = args.batch.is_some();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut client = clients[w % clients.len()].clone();
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            // Workers start at different places in the pool.
            let mut next = w * pool.len() / concurrency;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let result = one_call(&mut client, &pool[next % pool.len()], batch).await;
                next += 1;
                if sent < measure_from {
                    continue;
                }
                tally.requests += 1;
                match result {
                    Ok((keys, ok)) => {
                        tally.record(sent.elapsed());
                        tally.keys += keys;
                        tally.mismatches += u64::from(!ok);
                    }
                    Err(e) => tally.error(e),
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for t in tasks {
        total.merge(&t.await?);
    }
    total.cpu = cpu.join().unwrap_or_default();
    Ok(total)
}

async fn drive_open(
    args: &LoadgenArgs,
    clients: Vec<Grpc<Channel>>,
    pool: Arc<Vec<Work>>,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Tally> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let shared = Arc::new(Mutex::new(Tally::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let outstanding = Arc::new(AtomicU64::new(0));
    let handle = tokio::runtime::Handle::current();
    let batch = args.batch.is_some();
    let max_in_flight = args.max_in_flight;
    let t0 = Instant::now() + Duration::from_millis(50);
    let (measure_from, end) = (t0 + warmup, t0 + warmup + measure);
    let cpu = sample_cpu(args.server_pid, measure_from, end);
    let pacer = {
        let shared = Arc::clone(&shared);
        let in_flight = Arc::clone(&in_flight);
        let outstanding = Arc::clone(&outstanding);
        // A dedicated OS thread keeps the schedule: the async timer wheel has
        // a 1 ms granularity, too coarse at 10k req/s. Lateness of this
        // thread is charged to the latency, not hidden.
        std::thread::spawn(move || {
            let mut i: u64 = 0;
            loop {
                let intended = t0 + interval.mul_f64(i as f64);
                if intended >= end {
                    break;
                }
                let now = Instant::now();
                if intended > now {
                    std::thread::sleep(intended - now);
                }
                let measured = intended >= measure_from;
                if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    if measured {
                        let mut t = shared.lock().unwrap_or_else(|p| p.into_inner());
                        t.requests += 1;
                        t.error("client overloaded: --max-in-flight reached".into());
                    }
                    i += 1;
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                outstanding.fetch_add(1, Ordering::Relaxed);
                let mut client = clients[i as usize % clients.len()].clone();
                let pool = Arc::clone(&pool);
                let shared = Arc::clone(&shared);
                let in_flight = Arc::clone(&in_flight);
                let outstanding = Arc::clone(&outstanding);
                handle.spawn(async move {
                    let work = &pool[i as usize % pool.len()];
                    let sent = Instant::now();
                    let result = one_call(&mut client, work, batch).await;
                    let latency = intended.elapsed();
                    let service = sent.elapsed();
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    if measured {
                        let mut t = shared.lock().unwrap_or_else(|p| p.into_inner());
                        t.requests += 1;
                        match result {
                            Ok((keys, ok)) => {
                                t.record(latency);
                                t.record_service(service);
                                t.keys += keys;
                                t.mismatches += u64::from(!ok);
                            }
                            Err(e) => t.error(e),
                        }
                    }
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                });
                i += 1;
            }
        })
    };
    tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the pacer thread panicked"))?;
    // Let the last requests finish (bounded by the client timeout).
    let deadline = Instant::now() + Duration::from_secs_f64(args.conn.timeout + 1.0);
    while outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut total = Tally::new();
    total.merge(&shared.lock().unwrap_or_else(|p| p.into_inner()));
    let left = outstanding.load(Ordering::Relaxed);
    if left > 0 {
        total.requests += left;
        total.errors += left;
        total
            .first_error
            .get_or_insert_with(|| format!("{left} requests unanswered at the end"));
    }
    total.cpu = cpu.join().unwrap_or_default();
    Ok(total)
}

async fn drive_stream(
    args: &LoadgenArgs,
    clients: Vec<Grpc<Channel>>,
    pool: Arc<Vec<Work>>,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Tally> {
    let streams = args.concurrency.unwrap_or(4).max(1);
    let window = args.window;
    let t0 = Instant::now();
    let (measure_from, end) = (t0 + warmup, t0 + warmup + measure);
    let cpu = sample_cpu(args.server_pid, measure_from, end);
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mut client = clients[s % clients.len()].clone();
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            // (send time, expected hit), in send order: answers come back in
            // the same order.
            let pending: Arc<Mutex<VecDeque<(Instant, bool)>>> =
                Arc::new(Mutex::new(VecDeque::with_capacity(window)));
            let permits = Arc::new(tokio::sync::Semaphore::new(window));
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(window);
            let sender = {
                let pending = Arc::clone(&pending);
                let permits = Arc::clone(&permits);
                let pool = Arc::clone(&pool);
                tokio::spawn(async move {
                    let mut next = s * pool.len() / streams;
                    while Instant::now() < end {
                        let Ok(permit) = permits.acquire().await else {
                            break;
                        };
                        permit.forget();
                        let work = &pool[next % pool.len()];
                        next += 1;
                        pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_back((Instant::now(), work.hits[0]));
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
                    .map_err(|e| status_text(&e)),
                Err(e) => Err(e),
            };
            let mut responses = match opened {
                Ok(r) => r.into_inner(),
                Err(e) => {
                    tally.requests += 1;
                    tally.error(e);
                    sender.abort();
                    return tally;
                }
            };
            loop {
                match responses.message().await {
                    Ok(Some(resp)) => {
                        let Some((sent, hit)) = pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .pop_front()
                        else {
                            tally.error("an answer without a request".into());
                            break;
                        };
                        permits.add_permits(1);
                        if sent >= measure_from {
                            tally.requests += 1;
                            tally.keys += 1;
                            tally.record(sent.elapsed());
                            tally.mismatches += u64::from(!verdict_ok(&resp, hit));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tally.error(status_text(&e));
                        break;
                    }
                }
            }
            let _ = sender.await;
            let left = pending.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
            if left > 0 {
                tally.requests += left;
                tally.error(format!("{left} stream messages unanswered"));
                tally.errors += left - 1;
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for t in tasks {
        total.merge(&t.await?);
    }
    total.cpu = cpu.join().unwrap_or_default();
    Ok(total)
}

/// Plain TCP ping-pong over loopback: the transport floor under any RPC.
fn tcp_pingpong(args: &LoadgenArgs) -> anyhow::Result<Tally> {
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
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.duration);
    let t0 = Instant::now();
    let (measure_from, end) = (t0 + warmup, t0 + warmup + measure);
    let cpu = sample_cpu(args.server_pid, measure_from, end);
    let mut clients = Vec::new();
    for _ in 0..connections {
        let stop = Arc::clone(&stop);
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        clients.push(std::thread::spawn(move || {
            let mut tally = Tally::new();
            let mut buf = [7u8; MSG];
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                if let Err(e) = s.write_all(&buf).and_then(|_| s.read_exact(&mut buf)) {
                    tally.error(e.to_string());
                    break;
                }
                if sent >= measure_from {
                    tally.requests += 1;
                    tally.keys += 1;
                    tally.record(sent.elapsed());
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
    total.cpu = cpu.join().unwrap_or_default();
    Ok(total)
}

fn report(args: &LoadgenArgs, mode: &str, t: &Tally) -> anyhow::Result<u8> {
    let secs = args.duration;
    let q = |p: f64| t.hist.value_at_quantile(p);
    let (loop_kind, concurrency) = match (args.rate, mode) {
        (Some(_), _) => ("open", None),
        (None, "stream") => ("closed", Some(args.concurrency.unwrap_or(4))),
        (None, "tcp-pingpong") => ("closed", Some(args.concurrency.unwrap_or(1))),
        (None, _) => ("closed", Some(args.concurrency.unwrap_or(16))),
    };
    let v = json!({
        "mode": mode,
        "loop": loop_kind,
        "server": if mode == "tcp-pingpong" { None } else { Some(&args.conn.server) },
        "rate": args.rate,
        "concurrency": concurrency,
        "connections": if mode == "tcp-pingpong" { None } else { Some(args.connections) },
        "batch": args.batch,
        "window": (mode == "stream").then_some(args.window),
        "hit_ratio": (mode != "tcp-pingpong").then_some(args.hit_ratio),
        "duration_s": secs,
        "requests": t.requests,
        "keys": t.keys,
        "errors": t.errors,
        "mismatches": t.mismatches,
        "throughput_rps": t.requests as f64 / secs,
        "keys_per_s": t.keys as f64 / secs,
        "mean_us": t.hist.mean(),
        "p50_us": q(0.50),
        "p90_us": q(0.90),
        "p99_us": q(0.99),
        "p999_us": q(0.999),
        "max_us": t.hist.max(),
        "service_p50_us": (args.rate.is_some()).then(|| t.service.value_at_quantile(0.5)),
        "service_p99_us": (args.rate.is_some()).then(|| t.service.value_at_quantile(0.99)),
        "service_p999_us": (args.rate.is_some()).then(|| t.service.value_at_quantile(0.999)),
        "first_error": t.first_error,
        "client_cpu_cores": t.cpu.client.map(|c| c / secs),
        "server_cpu_cores": t.cpu.server.map(|c| c / secs),
        "server_cpu_us_per_key": t.cpu.server.filter(|_| t.keys > 0).map(|c| c * 1e6 / t.keys as f64),
    });
    if args.json {
        println!("{v}");
    } else {
        let target = match (args.rate, concurrency) {
            (Some(r), _) => format!("open loop at {r} req/s"),
            (None, Some(c)) => format!("closed loop, concurrency {c}"),
            _ => String::new(),
        };
        println!("sltd loadgen: {mode}, {target}, {secs} s measured");
        println!(
            "  requests {}  keys {}  errors {}  mismatches {}",
            t.requests, t.keys, t.errors, t.mismatches
        );
        println!(
            "  throughput {:.0} req/s, {:.0} keys/s",
            t.requests as f64 / secs,
            t.keys as f64 / secs
        );
        println!(
            "  latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            q(0.50),
            q(0.90),
            q(0.99),
            q(0.999),
            t.hist.max(),
            t.hist.mean()
        );
        if args.rate.is_some() {
            println!(
                "  from the actual send (excludes the load generator's own lateness): p50 {}  p99 {}  p99.9 {}",
                t.service.value_at_quantile(0.5),
                t.service.value_at_quantile(0.99),
                t.service.value_at_quantile(0.999)
            );
        }
        if let Some(c) = t.cpu.client {
            print!("  CPU: load generator {:.2} cores", c / secs);
            if let Some(sv) = t.cpu.server {
                print!(
                    ", daemon {:.2} cores ({:.1} us per document)",
                    sv / secs,
                    sv * 1e6 / t.keys.max(1) as f64
                );
            }
            println!();
        }
        if let Some(e) = &t.first_error {
            println!("  first error: {e}");
        }
    }
    Ok(if t.errors == 0 && t.mismatches == 0 && t.requests > 0 {
        0
    } else {
        EXIT_ERROR
    })
}
