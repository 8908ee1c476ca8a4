//! Redis and PostgreSQL over loopback: loading the data set the way a
//! careful operator would, and driving them with `sltd loadgen`'s own
//! pacer, workers and tallies (`sltd_load`: open loop timed from each
//! request's intended send time, closed loop at a fixed concurrency, HDR
//! histograms, the same JSON fields), so the three servers are compared on
//! equal terms.
//!
//! Every answer is decoded and compared field by field with the ground truth
//! carried by the key stream ([`crate::keys`]). As in `sltd loadgen`, a
//! request whose answers are not all right counts as one mismatch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::SinkExt;
use serde_json::json;
use sltd_load::{Answer, OpenLoop, Outcome, Schedule, Window};
use sltd_model::{Date, DocumentKey, DocumentType, IssuingState, Record, Reference, Status};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{NoTls, Statement};

use crate::data::{dedup, encode_value, key_bytes, read_csv};
use crate::keys::Item;

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's date epoch.
const PG_EPOCH_DAYS: i32 = 10_957;

/// How a request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Redis `GET`, one key per request.
    RedisGet,
    /// Redis `MGET` of `batch` keys.
    RedisMget,
    /// `batch` `GET`s written as one pipeline.
    RedisPipeline,
    /// One prepared `SELECT ... WHERE state = $1 AND number = $2`.
    PgSingle,
    /// One prepared statement for `batch` keys (see [`PG_BATCH`]).
    PgBatch,
}

impl Mode {
    pub fn parse(peer: &str, mode: &str) -> anyhow::Result<Self> {
        Ok(match (peer, mode) {
            ("redis", "get") => Mode::RedisGet,
            ("redis", "mget") => Mode::RedisMget,
            ("redis", "pipeline") => Mode::RedisPipeline,
            ("pg", "single") => Mode::PgSingle,
            ("pg", "batch") => Mode::PgBatch,
            _ => bail!("unknown peer/mode {peer}/{mode}"),
        })
    }

    fn batched(self) -> bool {
        matches!(self, Mode::RedisMget | Mode::RedisPipeline | Mode::PgBatch)
    }
}

const PG_SINGLE: &str = "SELECT doc_type, status, reported_on, reporting_state, reference \
     FROM sltd WHERE state = $1 AND number = $2";

/// A batch as PostgreSQL can answer it from the (state, number) primary key:
/// the keys arrive as two arrays and are joined against the table. A
/// row-valued `(state, number) = ANY($1)` would be the literal form, but
/// PostgreSQL cannot use a two-column index for it and scans the table.
const PG_BATCH: &str = "SELECT s.state, s.number, s.doc_type, s.status, s.reported_on, \
     s.reporting_state, s.reference \
     FROM unnest($1::text[], $2::text[]) AS q(state, number) \
     JOIN sltd s ON s.state = q.state AND s.number = q.number";

struct PgDate(i32);

impl<'a> FromSql<'a> for PgDate {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgDate(i32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// A record from the columns of a row, starting at column `at`.
fn pg_record(key: DocumentKey, row: &tokio_postgres::Row, at: usize) -> Option<Record> {
    let doc_type: &str = row.try_get(at).ok()?;
    let status: i16 = row.try_get(at + 1).ok()?;
    let date: PgDate = row.try_get(at + 2).ok()?;
    let reporting: Option<&str> = row.try_get(at + 3).ok()?;
    let reference: &str = row.try_get(at + 4).ok()?;
    Some(Record {
        key,
        doc_type: DocumentType::from_letters(doc_type.as_bytes())?,
        status: Status::from_code(u8::try_from(status).ok()?)?,
        reported_on: Date::from_days(u16::try_from(date.0 + PG_EPOCH_DAYS).ok()?),
        reporting_state: match reporting {
            Some(s) => Some(IssuingState::from_letters(s.as_bytes())?),
            None => None,
        },
        reference: Reference::new(reference).ok()?,
    })
}

pub struct PgConn {
    client: tokio_postgres::Client,
    single: Statement,
    batch: Statement,
}

#[derive(Clone)]
pub enum Conn {
    Redis(redis::aio::MultiplexedConnection),
    Pg(Arc<PgConn>),
}

fn redis_url(addr: &str) -> String {
    format!("redis://{addr}/")
}

async fn redis_connect(addr: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(redis_url(addr))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(Duration::from_secs(30)))
        .set_connection_timeout(Some(Duration::from_secs(10)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

fn pg_config(addr: &str) -> String {
    let (host, port) = addr.split_once(':').unwrap_or((addr, "5432"));
    format!("host={host} port={port} user=sltd dbname=sltd connect_timeout=10")
}

async fn pg_client(addr: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&pg_config(addr), NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection: {e}");
        }
    });
    Ok(client)
}

pub async fn connect(mode: Mode, addr: &str) -> anyhow::Result<Conn> {
    Ok(match mode {
        Mode::RedisGet | Mode::RedisMget | Mode::RedisPipeline => {
            Conn::Redis(redis_connect(addr).await?)
        }
        Mode::PgSingle | Mode::PgBatch => {
            let client = pg_client(addr).await?;
            let single = client
                .prepare_typed(PG_SINGLE, &[Type::TEXT, Type::TEXT])
                .await?;
            let batch = client
                .prepare_typed(PG_BATCH, &[Type::TEXT_ARRAY, Type::TEXT_ARRAY])
                .await?;
            Conn::Pg(Arc::new(PgConn {
                client,
                single,
                batch,
            }))
        }
    })
}

fn decode_redis(it: &Item, v: Option<Vec<u8>>) -> bool {
    let got = v.and_then(|b| crate::data::decode_value(it.key, &b));
    got == it.expect
}

/// One request: the keys asked about, and whether every answer was right.
async fn call(conn: &mut Conn, mode: Mode, items: &[Item], start: usize, batch: usize) -> Outcome {
    let answer = |keys: u64, correct: bool| Ok(Answer { keys, correct });
    let pick = |k: usize| &items[(start + k) % items.len()];
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match (conn, mode) {
        (Conn::Redis(con), Mode::RedisGet) => {
            let it = pick(0);
            let v: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&it.key_bytes)
                .query_async(con)
                .await
                .map_err(|e| err(&e))?;
            answer(1, decode_redis(it, v))
        }
        (Conn::Redis(con), Mode::RedisMget) => {
            let mut c = redis::cmd("MGET");
            for k in 0..batch {
                c.arg(&pick(k).key_bytes);
            }
            let vs: Vec<Option<Vec<u8>>> = c.query_async(con).await.map_err(|e| err(&e))?;
            let ok = vs.len() == batch
                && vs
                    .into_iter()
                    .enumerate()
                    .all(|(k, v)| decode_redis(pick(k), v));
            answer(batch as u64, ok)
        }
        (Conn::Redis(con), Mode::RedisPipeline) => {
            let mut p = redis::pipe();
            for k in 0..batch {
                p.cmd("GET").arg(&pick(k).key_bytes);
            }
            let vs: Vec<Option<Vec<u8>>> = p.query_async(con).await.map_err(|e| err(&e))?;
            let ok = vs.len() == batch
                && vs
                    .into_iter()
                    .enumerate()
                    .all(|(k, v)| decode_redis(pick(k), v));
            answer(batch as u64, ok)
        }
        (Conn::Pg(pg), Mode::PgSingle) => {
            let it = pick(0);
            let row = pg
                .client
                .query_opt(
                    &pg.single,
                    &[&it.key.state.as_str(), &it.key.number.as_str()],
                )
                .await
                .map_err(|e| err(&e))?;
            let got = row.and_then(|r| pg_record(it.key, &r, 0));
            answer(1, got == it.expect)
        }
        (Conn::Pg(pg), Mode::PgBatch) => {
            let chosen: Vec<&Item> = (0..batch).map(pick).collect();
            let states: Vec<&str> = chosen.iter().map(|i| i.key.state.as_str()).collect();
            let numbers: Vec<&str> = chosen.iter().map(|i| i.key.number.as_str()).collect();
            let rows = pg
                .client
                .query(&pg.batch, &[&states, &numbers])
                .await
                .map_err(|e| err(&e))?;
            let mut got: HashMap<DocumentKey, Option<Record>> = HashMap::with_capacity(rows.len());
            for r in &rows {
                let (s, n): (&str, &str) = (r.get(0), r.get(1));
                let key = DocumentKey::normalise(s, n).map_err(|e| err(&e))?;
                got.insert(key, pg_record(key, r, 2));
            }
            let ok = chosen
                .iter()
                .all(|it| match (&it.expect, got.get(&it.key)) {
                    (None, None) => true,
                    (Some(want), Some(Some(have))) => want == have,
                    _ => false,
                });
            answer(batch as u64, ok)
        }
        _ => Err("connection does not match mode".into()),
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct Drive {
    pub peer: String,
    pub mode_name: String,
    pub mode: Mode,
    pub addr: String,
    pub rate: Option<f64>,
    pub concurrency: usize,
    pub connections: usize,
    pub batch: usize,
    pub duration: f64,
    pub warmup: f64,
    pub hit_ratio: f64,
}

pub fn drive(d: &Drive, items: Vec<Item>) -> anyhow::Result<serde_json::Value> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let items = Arc::new(items);
    let (mode, batch) = (d.mode, d.batch);
    let step = if mode.batched() { batch } else { 1 };
    let (tally, measured) = rt.block_on(async {
        let mut conns = Vec::with_capacity(d.connections);
        for _ in 0..d.connections.max(1) {
            conns.push(connect(d.mode, &d.addr).await?);
        }
        let conns = Arc::new(conns);
        let tally = match d.rate {
            Some(rate) => {
                // A short lead, so that the first requests are not late.
                let start = Instant::now() + Duration::from_millis(50);
                let window = Window::new(start, d.warmup, d.duration)?;
                let run = OpenLoop {
                    schedule: Schedule::new(window.clone(), rate)?,
                    max_in_flight: 50_000,
                    drain: Duration::from_secs(30),
                };
                let t = sltd_load::open_loop(run, move |i| {
                    let mut conn = conns[i as usize % conns.len()].clone();
                    let items = Arc::clone(&items);
                    let start = i as usize * step;
                    async move { call(&mut conn, mode, &items, start, batch).await }
                })
                .await?;
                (t, window.measured())
            }
            None => {
                let window = Window::new(Instant::now(), d.warmup, d.duration)?;
                let workers = d.concurrency.max(1);
                let t = sltd_load::closed_loop(window.clone(), workers, move |w, n| {
                    let mut conn = conns[w % conns.len()].clone();
                    let items = Arc::clone(&items);
                    // Workers start at different places in the stream.
                    let start = w * items.len() / workers + n as usize * step;
                    async move { call(&mut conn, mode, &items, start, batch).await }
                })
                .await?;
                (t, window.measured())
            }
        };
        anyhow::Ok(tally)
    })?;
    let mut v = json!({
        "peer": d.peer,
        "mode": d.mode_name,
        "loop": if d.rate.is_some() { "open" } else { "closed" },
        "rate": d.rate,
        "concurrency": if d.rate.is_some() { None } else { Some(d.concurrency) },
        "connections": d.connections,
        "batch": d.mode.batched().then_some(d.batch),
        "hit_ratio": d.hit_ratio,
    });
    if let serde_json::Value::Object(m) = &mut v {
        m.extend(tally.summary(measured));
    }
    Ok(v)
}

/// The distinct records of `csv`, as every server gets them.
fn distinct(csv: &std::path::Path) -> anyhow::Result<Vec<Record>> {
    let rows = read_csv(csv)?;
    let mut records: Vec<Record> = dedup(&rows).into_values().collect();
    records.sort_unstable_by_key(|r| r.key);
    Ok(records)
}

/// Loads Redis with `MSET`s of 1000 keys, 16 in flight: (JSON figures).
/// The time counts from reading the CSV, as `sltd index build`'s does.
pub fn redis_load(addr: &str, csv: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let records = distinct(csv)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut con = redis_connect(addr).await?;
        let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await?;
        let mut cmds = Vec::new();
        let (mut k, mut v) = (Vec::new(), Vec::new());
        for chunk in records.chunks(1000) {
            let mut c = redis::cmd("MSET");
            for r in chunk {
                key_bytes(&r.key, &mut k);
                encode_value(r, &mut v);
                c.arg(&k).arg(&v);
            }
            cmds.push(c);
        }
        for group in cmds.chunks(16) {
            let futs = group.iter().map(|c| {
                let mut con = con.clone();
                async move { c.query_async::<()>(&mut con).await }
            });
            for r in futures_util::future::join_all(futs).await {
                r?;
            }
        }
        let load_s = t.elapsed().as_secs_f64();
        let n: u64 = redis::cmd("DBSIZE").query_async(&mut con).await?;
        if n != records.len() as u64 {
            bail!("Redis holds {n} keys, expected {}", records.len());
        }
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut con)
            .await?;
        let used = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Ok(json!({"load_s": load_s, "keys": n, "used_memory": used}))
    })
}

/// COPY escaping for a text field (references are printable; a backslash
/// is the only character that needs it).
fn copy_text(s: &str, out: &mut String) {
    for c in s.chars() {
        if c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Loads PostgreSQL: a plain table, `COPY`, then the primary key on
/// (state, number), `ANALYZE` and `VACUUM`, as one would for a bulk load.
/// The time counts from reading the CSV, as `sltd index build`'s does.
pub fn pg_load(addr: &str, csv: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let records = distinct(csv)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = pg_client(addr).await?;
        client
            .batch_execute(
                "DROP TABLE IF EXISTS sltd;
                 CREATE EXTENSION IF NOT EXISTS pg_prewarm;
                 CREATE TABLE sltd (
                     state text NOT NULL,
                     number text NOT NULL,
                     doc_type text NOT NULL,
                     status smallint NOT NULL,
                     reported_on date NOT NULL,
                     reporting_state text,
                     reference text NOT NULL
                 );",
            )
            .await?;
        let sink = client.copy_in("COPY sltd FROM STDIN").await?;
        futures_util::pin_mut!(sink);
        let mut buf = String::with_capacity(1 << 20);
        for r in &records {
            use std::fmt::Write;
            let _ = write!(
                buf,
                "{}\t{}\t{}\t{}\t{}\t",
                r.key.state,
                r.key.number,
                r.doc_type,
                r.status.code(),
                r.reported_on
            );
            match &r.reporting_state {
                Some(s) => buf.push_str(s.as_str()),
                None => buf.push_str("\\N"),
            }
            buf.push('\t');
            copy_text(r.reference.as_str(), &mut buf);
            buf.push('\n');
            if buf.len() > (1 << 20) - 256 {
                sink.send(bytes::Bytes::from(std::mem::take(&mut buf)))
                    .await?;
                buf.reserve(1 << 20);
            }
        }
        if !buf.is_empty() {
            sink.send(bytes::Bytes::from(buf)).await?;
        }
        let copied = sink.finish().await?;
        let copy_s = t.elapsed().as_secs_f64();
        client
            .batch_execute("ALTER TABLE sltd ADD PRIMARY KEY (state, number)")
            .await?;
        let pk_s = t.elapsed().as_secs_f64() - copy_s;
        client.batch_execute("VACUUM ANALYZE sltd").await?;
        let load_s = t.elapsed().as_secs_f64();
        if copied != records.len() as u64 {
            bail!(
                "PostgreSQL copied {copied} rows, expected {}",
                records.len()
            );
        }
        let row = client
            .query_one(
                "SELECT pg_total_relation_size('sltd'), pg_relation_size('sltd_pkey')",
                &[],
            )
            .await?;
        let (total, pkey): (i64, i64) = (row.get(0), row.get(1));
        Ok(
            json!({"load_s": load_s, "copy_s": copy_s, "pk_s": pk_s, "rows": copied,
                  "total_bytes": total, "pkey_bytes": pkey}),
        )
    })
}

/// Waits until PostgreSQL accepts a connection, warms its cache with
/// `pg_prewarm` (table and primary key) and answers one query: what a
/// restarted server needs before it serves at full speed.
pub fn pg_ready(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let deadline = Instant::now() + timeout;
        let client = loop {
            match pg_client(addr).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e).context("PostgreSQL never accepted a connection"),
            }
        };
        client
            .batch_execute("SELECT pg_prewarm('sltd'), pg_prewarm('sltd_pkey')")
            .await?;
        client.query(PG_SINGLE, &[&"UTO", &"L898902C3"]).await?;
        Ok(())
    })
}

/// Waits until Redis answers `PING`.
pub fn redis_ready(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = async {
                let mut con = redis_connect(addr).await?;
                let _: String = redis::cmd("PING").query_async(&mut con).await?;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => return Err(e).context("Redis never answered"),
            }
        }
    })
}
