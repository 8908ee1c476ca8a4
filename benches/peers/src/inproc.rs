//! In-process peers: the sltd index against what a program would embed
//! instead, a `std::collections::HashMap`, an `fst` map to record offsets,
//! LMDB (through `heed`) and cdb, on the same deduplicated records and the
//! same query streams (`sltd_benches::hit_queries` / `miss_queries`, mixed
//! at each hit ratio with one seed).
//!
//! Single lookups are timed one after another with a full fence between
//! them, as `benches/benches/index.rs` does, so each pays its own latency;
//! batches of 300 are timed as a whole. Every answer of every timed loop is
//! counted against the ground truth, and an untimed pass compares every
//! returned record field by field.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::fence;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sltd_benches::{Chase, hit_queries, miss_queries};
use sltd_index::{Index, MapOptions};
use sltd_model::{DocumentKey, Query, Record};

use crate::data::{decode_value, dedup, encode_value, key_bytes, read_csv};
use crate::emit;

const BATCH: usize = 300;

/// Settings of one in-process run.
#[derive(Debug)]
pub struct Settings {
    pub csv: PathBuf,
    pub label: String,
    pub work: PathBuf,
    pub rounds: usize,
    pub hit_ratios: Vec<f64>,
    /// Seconds per timed loop.
    pub secs: f64,
    /// Queries per stream.
    pub queries: usize,
    /// Peers to run (names), or every peer.
    pub peers: Vec<String>,
}

/// A lookup structure under test: appends the records answering `q`.
trait Lookup {
    fn lookup(&self, q: &Query, out: &mut Vec<Record>);

    /// Found records for a batch; the default is a plain loop, which lets the
    /// CPU overlap independent lookups as far as it can.
    fn lookup_batch(&self, qs: &[Query], out: &mut Vec<Record>) -> usize {
        let mut found = 0;
        for q in qs {
            out.clear();
            self.lookup(q, out);
            found += out.len();
        }
        found
    }
}

struct Sltd(Index<Vec<u8>>);

impl Lookup for Sltd {
    #[inline]
    fn lookup(&self, q: &Query, out: &mut Vec<Record>) {
        self.0.lookup(q, out).expect("built index");
    }

    fn lookup_batch(&self, qs: &[Query], _out: &mut Vec<Record>) -> usize {
        let mut found = 0;
        self.0
            .lookup_batch(qs, |_, r| {
                black_box(r);
                found += 1
            })
            .expect("built index");
        found
    }
}

struct Plain(HashMap<DocumentKey, Record>);

impl Lookup for Plain {
    #[inline]
    fn lookup(&self, q: &Query, out: &mut Vec<Record>) {
        let Some(state) = q.state else { return };
        let key = DocumentKey {
            state,
            number: q.number,
        };
        if let Some(r) = self.0.get(&key)
            && q.matches(r)
        {
            out.push(*r);
        }
    }
}

/// `fst::Map` from key bytes to the offset of the value in `values`
/// (one length byte, then the encoded value).
struct Fst {
    map: fst::Map<Vec<u8>>,
    values: Vec<u8>,
}

impl Lookup for Fst {
    #[inline]
    fn lookup(&self, q: &Query, out: &mut Vec<Record>) {
        let Some(state) = q.state else { return };
        let key = DocumentKey {
            state,
            number: q.number,
        };
        let mut k = [0u8; 40];
        let kl = stack_key(&key, &mut k);
        if let Some(off) = self.map.get(&k[..kl]) {
            let off = off as usize;
            let len = self.values[off] as usize;
            if let Some(r) = decode_value(key, &self.values[off + 1..off + 1 + len])
                && q.matches(&r)
            {
                out.push(r);
            }
        }
    }
}

struct Lmdb {
    env: heed::Env,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
}

/// LMDB with one read transaction held for the whole measurement, the most
/// favourable way to use it (a server would renew one per request).
struct LmdbView<'e> {
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
    txn: heed::RoTxn<'e, heed::WithTls>,
}

impl Lookup for LmdbView<'_> {
    #[inline]
    fn lookup(&self, q: &Query, out: &mut Vec<Record>) {
        let Some(state) = q.state else { return };
        let key = DocumentKey {
            state,
            number: q.number,
        };
        let mut k = [0u8; 40];
        let kl = stack_key(&key, &mut k);
        if let Some(v) = self.db.get(&self.txn, &k[..kl]).expect("lmdb get")
            && let Some(r) = decode_value(key, v)
            && q.matches(&r)
        {
            out.push(r);
        }
    }
}

struct Cdb(cdb::CDB);

impl Lookup for Cdb {
    #[inline]
    fn lookup(&self, q: &Query, out: &mut Vec<Record>) {
        let Some(state) = q.state else { return };
        let key = DocumentKey {
            state,
            number: q.number,
        };
        let mut k = [0u8; 40];
        let kl = stack_key(&key, &mut k);
        if let Some(v) = self.0.get(&k[..kl]) {
            let v = v.expect("cdb read");
            if let Some(r) = decode_value(key, &v)
                && q.matches(&r)
            {
                out.push(r);
            }
        }
    }
}

/// `STATE:NUMBER` into a stack buffer (no allocation on the lookup path).
#[inline]
fn stack_key(key: &DocumentKey, buf: &mut [u8; 40]) -> usize {
    let s = key.state.as_bytes();
    let n = key.number.as_bytes();
    buf[..s.len()].copy_from_slice(s);
    buf[s.len()] = b':';
    buf[s.len() + 1..s.len() + 1 + n.len()].copy_from_slice(n);
    s.len() + 1 + n.len()
}

/// What building a peer cost and what it occupies.
struct Built<P> {
    peer: P,
    build_s: f64,
    bytes: u64,
    /// Time to open the built file again, ready to answer (file-backed
    /// peers; the page cache is warm, the file having just been written).
    open_ms: Option<f64>,
}

fn sorted_kv(records: &[Record]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kv: Vec<(Vec<u8>, Vec<u8>)> = records
        .iter()
        .map(|r| {
            let mut k = Vec::with_capacity(16);
            key_bytes(&r.key, &mut k);
            let mut v = Vec::with_capacity(16);
            encode_value(r, &mut v);
            (k, v)
        })
        .collect();
    kv.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    kv
}

fn build_sltd(records: &[Record], dir: &Path) -> anyhow::Result<Built<Sltd>> {
    let t = Instant::now();
    let bytes = sltd_benches::build(records);
    let build_s = t.elapsed().as_secs_f64();
    let path = dir.join("inproc.sltd");
    sltd_index::write_atomically(&path, &bytes)?;
    let t = Instant::now();
    let mapped = sltd_index::open_file(&path, MapOptions { resident: true })?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(mapped);
    let len = bytes.len() as u64;
    Ok(Built {
        peer: Sltd(Index::open(bytes)?),
        build_s,
        bytes: len,
        open_ms: Some(open_ms),
    })
}

fn build_hashmap(records: &[Record]) -> Built<Plain> {
    let t = Instant::now();
    let mut map = HashMap::with_capacity(records.len());
    for r in records {
        map.insert(r.key, *r);
    }
    let build_s = t.elapsed().as_secs_f64();
    // hashbrown: a power of two of buckets at most 7/8 full, each the
    // (key, value) pair plus one control byte.
    let buckets = (map.capacity() * 8 / 7).next_power_of_two() as u64;
    let bytes = buckets * (std::mem::size_of::<(DocumentKey, Record)>() as u64 + 1);
    Built {
        peer: Plain(map),
        build_s,
        bytes,
        open_ms: None,
    }
}

fn build_fst(records: &[Record]) -> anyhow::Result<Built<Fst>> {
    let t = Instant::now();
    let kv = sorted_kv(records);
    let mut values = Vec::with_capacity(kv.len() * 12);
    let mut builder = fst::MapBuilder::memory();
    for (k, v) in &kv {
        builder.insert(k, values.len() as u64)?;
        values.push(v.len() as u8);
        values.extend_from_slice(v);
    }
    drop(kv);
    let map = builder.into_map();
    let build_s = t.elapsed().as_secs_f64();
    let bytes = (map.as_fst().as_bytes().len() + values.len()) as u64;
    Ok(Built {
        peer: Fst { map, values },
        build_s,
        bytes,
        open_ms: None,
    })
}

fn build_lmdb(records: &[Record], dir: &Path) -> anyhow::Result<Built<Lmdb>> {
    let path = dir.join("inproc.lmdb");
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path)?;
    let map_size = (records.len() * 256 + (1 << 30)).next_multiple_of(1 << 20);
    let open = |path: &Path| -> anyhow::Result<heed::Env> {
        let mut opts = heed::EnvOpenOptions::new();
        opts.map_size(map_size).max_dbs(1);
        // SAFETY (heed's contract): this process is the only one opening
        // the environment, and it is never opened twice at once.
        #[allow(unsafe_code)]
        Ok(unsafe { opts.open(path)? })
    };
    let t = Instant::now();
    let env = open(&path)?;
    let kv = sorted_kv(records);
    let mut wtxn = env.write_txn()?;
    let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
        env.create_database(&mut wtxn, None)?;
    for (k, v) in &kv {
        db.put_with_flags(&mut wtxn, heed::PutFlags::APPEND, k, v)?;
    }
    wtxn.commit()?;
    let build_s = t.elapsed().as_secs_f64();
    drop(kv);
    let bytes = env.non_free_pages_size()?;
    // Reopen to time what a restarted process pays.
    env.prepare_for_closing().wait();
    let t = Instant::now();
    let env = open(&path)?;
    let rtxn = env.read_txn()?;
    let db: heed::Database<heed::types::Bytes, heed::types::Bytes> = env
        .open_database(&rtxn, None)?
        .context("lmdb database missing")?;
    drop(rtxn);
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Built {
        peer: Lmdb { env, db },
        build_s,
        bytes,
        open_ms: Some(open_ms),
    })
}

fn build_cdb(records: &[Record], dir: &Path) -> anyhow::Result<Built<Cdb>> {
    let path = dir.join("inproc.cdb");
    let t = Instant::now();
    let mut w = cdb::CDBWriter::create(path.display().to_string())?;
    let (mut k, mut v) = (Vec::new(), Vec::new());
    for r in records {
        key_bytes(&r.key, &mut k);
        encode_value(r, &mut v);
        w.add(&k, &v)?;
    }
    w.finish()?;
    let build_s = t.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    let t = Instant::now();
    let db = cdb::CDB::open(&path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Built {
        peer: Cdb(db),
        build_s,
        bytes,
        open_ms: Some(open_ms),
    })
}

/// One query stream and, per position, how many records must answer.
struct Stream {
    name: String,
    queries: Vec<Query>,
    expect: Vec<u8>,
}

fn truth_count(truth: &HashMap<DocumentKey, Record>, q: &Query) -> u8 {
    let Some(state) = q.state else { return 0 };
    let key = DocumentKey {
        state,
        number: q.number,
    };
    u8::from(truth.get(&key).is_some_and(|r| q.matches(r)))
}

fn stream(name: String, queries: Vec<Query>, truth: &HashMap<DocumentKey, Record>) -> Stream {
    let expect = queries.iter().map(|q| truth_count(truth, q)).collect();
    Stream {
        name,
        queries,
        expect,
    }
}

/// Fenced single lookups for about `secs`: (ns per lookup, mismatched
/// answer counts).
fn time_single<P: Lookup>(p: &P, s: &Stream, secs: f64) -> (f64, u64) {
    let n = s.queries.len();
    let mut out = Vec::with_capacity(4);
    let (mut done, mut found, mut want) = (0usize, 0u64, 0u64);
    let mut i = 0usize;
    let t = Instant::now();
    loop {
        for _ in 0..4096 {
            fence(SeqCst);
            out.clear();
            p.lookup(&s.queries[i], &mut out);
            found += out.len() as u64;
            want += u64::from(s.expect[i]);
            i += 1;
            if i == n {
                i = 0;
            }
        }
        done += 4096;
        if t.elapsed().as_secs_f64() >= secs {
            break;
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / done as f64;
    (ns, found.abs_diff(want))
}

/// Batches of 300, a fence between batches: (ns per lookup, mismatches).
fn time_batch<P: Lookup>(p: &P, s: &Stream, secs: f64) -> (f64, u64) {
    let batches = s.queries.len() / BATCH;
    let want_per: Vec<u64> = s
        .expect
        .chunks_exact(BATCH)
        .map(|c| c.iter().map(|&e| u64::from(e)).sum())
        .collect();
    let mut out = Vec::with_capacity(4);
    let (mut done, mut found, mut want) = (0usize, 0u64, 0u64);
    let mut b = 0usize;
    let t = Instant::now();
    loop {
        for _ in 0..16 {
            fence(SeqCst);
            let qs = &s.queries[b * BATCH..(b + 1) * BATCH];
            found += p.lookup_batch(qs, &mut out) as u64;
            want += want_per[b];
            b += 1;
            if b == batches {
                b = 0;
            }
        }
        done += 16 * BATCH;
        if t.elapsed().as_secs_f64() >= secs {
            break;
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / done as f64;
    (ns, found.abs_diff(want))
}

/// Every answer compared with the ground truth, field by field.
fn verify<P: Lookup>(p: &P, s: &Stream, truth: &HashMap<DocumentKey, Record>) -> u64 {
    let mut out = Vec::new();
    let mut bad = 0;
    for q in &s.queries {
        out.clear();
        p.lookup(q, &mut out);
        let want = q
            .state
            .and_then(|state| {
                truth.get(&DocumentKey {
                    state,
                    number: q.number,
                })
            })
            .filter(|r| q.matches(r));
        let ok = match want {
            Some(w) => out.len() == 1 && out[0] == *w,
            None => out.is_empty(),
        };
        bad += u64::from(!ok);
    }
    bad
}

/// Peers behind one interface for the round loop; dispatch happens once per
/// timed loop, never per lookup.
enum Peer {
    Sltd(Sltd),
    HashMap(Plain),
    Fst(Fst),
    Lmdb(Lmdb),
    Cdb(Cdb),
}

impl Peer {
    fn name(&self) -> &'static str {
        match self {
            Peer::Sltd(_) => "sltd-index",
            Peer::HashMap(_) => "HashMap",
            Peer::Fst(_) => "fst",
            Peer::Lmdb(_) => "LMDB",
            Peer::Cdb(_) => "cdb",
        }
    }

    fn with<R>(&self, f: &mut dyn FnMut(&dyn LookupDyn) -> R) -> R {
        match self {
            Peer::Sltd(p) => f(p),
            Peer::HashMap(p) => f(p),
            Peer::Fst(p) => f(p),
            Peer::Lmdb(l) => {
                let txn = l.env.read_txn().expect("lmdb read txn");
                f(&LmdbView { db: l.db, txn })
            }
            Peer::Cdb(p) => f(p),
        }
    }
}

/// The monomorphised timing loops of one peer, callable through `dyn` (one
/// virtual call per timed loop).
trait LookupDyn {
    fn single(&self, s: &Stream, secs: f64) -> (f64, u64);
    fn batch(&self, s: &Stream, secs: f64) -> (f64, u64);
    fn check(&self, s: &Stream, truth: &HashMap<DocumentKey, Record>) -> u64;
}

impl<P: Lookup> LookupDyn for P {
    fn single(&self, s: &Stream, secs: f64) -> (f64, u64) {
        time_single(self, s, secs)
    }
    fn batch(&self, s: &Stream, secs: f64) -> (f64, u64) {
        time_batch(self, s, secs)
    }
    fn check(&self, s: &Stream, truth: &HashMap<DocumentKey, Record>) -> u64 {
        verify(self, s, truth)
    }
}

pub fn run(st: &Settings) -> anyhow::Result<u64> {
    let wants = |name: &str| st.peers.is_empty() || st.peers.iter().any(|p| p == name);
    std::fs::create_dir_all(&st.work)?;
    let t = Instant::now();
    let rows = read_csv(&st.csv)?;
    let truth = dedup(&rows);
    let mut records: Vec<Record> = truth.values().copied().collect();
    records.sort_unstable_by_key(|r| r.key);
    eprintln!(
        "[{}] {} rows, {} distinct keys, read in {:.1} s",
        st.label,
        rows.len(),
        records.len(),
        t.elapsed().as_secs_f64()
    );
    let n = records.len() as f64;
    let base = json!({"part": "inproc", "size": st.label, "records": records.len()});
    drop(rows);

    let mut peers = Vec::new();
    let sltd = build_sltd(&records, &st.work)?;
    let index_len = sltd.bytes as usize;
    // Query streams: hits from the stored records, misses checked against
    // the index, mixed at each ratio with one seed.
    let hits = hit_queries(&records, st.queries, 11);
    let misses = miss_queries(&sltd.peer.0, st.queries, 12);
    let mut streams = vec![
        stream("neg".into(), misses.clone(), &truth),
        stream("pos".into(), hits.clone(), &truth),
    ];
    for &h in &st.hit_ratios {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let qs = (0..st.queries)
            .map(|i| {
                if rng.random_bool(h) {
                    hits[i]
                } else {
                    misses[i]
                }
            })
            .collect();
        streams.push(stream(format!("mix{}", pct(h)), qs, &truth));
    }
    drop((hits, misses));

    let mut add = |name: &str, build_s: f64, bytes: u64, open_ms: Option<f64>, peer: Peer| {
        eprintln!(
            "[{}] {name}: built in {build_s:.2} s, {:.1} bytes/record",
            st.label,
            bytes as f64 / n
        );
        emit(
            &base,
            json!({"peer": name, "metric": "build_s", "value": build_s}),
        );
        emit(
            &base,
            json!({"peer": name, "metric": "bytes_per_record", "value": bytes as f64 / n}),
        );
        if let Some(ms) = open_ms {
            emit(
                &base,
                json!({"peer": name, "metric": "open_ms", "value": ms}),
            );
        }
        peers.push(peer);
    };
    if wants("sltd-index") {
        add(
            "sltd-index",
            sltd.build_s,
            sltd.bytes,
            sltd.open_ms,
            Peer::Sltd(sltd.peer),
        );
    }
    if wants("HashMap") {
        let b = build_hashmap(&records);
        add(
            "HashMap",
            b.build_s,
            b.bytes,
            b.open_ms,
            Peer::HashMap(b.peer),
        );
    }
    if wants("fst") {
        let b = build_fst(&records)?;
        add("fst", b.build_s, b.bytes, b.open_ms, Peer::Fst(b.peer));
    }
    if wants("LMDB") {
        let b = build_lmdb(&records, &st.work)?;
        add("LMDB", b.build_s, b.bytes, b.open_ms, Peer::Lmdb(b.peer));
    }
    if wants("cdb") {
        // Classic cdb addresses 32 bits; at about 40 bytes a record plus
        // 16 of hash table, 4 GiB is reached near 70M records.
        if records.len() as u64 * 64 > u64::from(u32::MAX) {
            eprintln!("[{}] cdb skipped: the format is limited to 4 GiB", st.label);
        } else {
            let b = build_cdb(&records, &st.work)?;
            add("cdb", b.build_s, b.bytes, b.open_ms, Peer::Cdb(b.peer));
        }
    }
    drop(records);

    let mut mismatches = 0u64;
    for p in &peers {
        let bad: u64 = streams
            .iter()
            .take(2)
            .map(|s| p.with(&mut |l| l.check(s, &truth)))
            .sum();
        emit(
            &base,
            json!({"peer": p.name(), "metric": "verify_mismatches", "value": bad}),
        );
        mismatches += bad;
    }
    drop(truth);

    let mut chase = Chase::new(index_len);
    for round in 0..st.rounds {
        let floor = time_chase(&mut chase, st.secs);
        emit(
            &base,
            json!({"peer": "memory floor", "metric": "floor_ns", "round": round, "value": floor}),
        );
        // Alternate the order: rotate by the round, reverse every other one.
        let mut order: Vec<usize> = (0..peers.len()).collect();
        order.rotate_left(round % peers.len().max(1));
        if round % 2 == 1 {
            order.reverse();
        }
        for &pi in &order {
            let p = &peers[pi];
            p.with(&mut |l| {
                for s in &streams {
                    let (ns, bad) = l.single(s, st.secs);
                    mismatches += bad;
                    emit(&base, json!({"peer": p.name(), "metric": format!("{}_ns", s.name), "round": round, "value": ns, "mismatches": bad}));
                    if s.name.starts_with("mix") {
                        let (ns, bad) = l.batch(s, st.secs);
                        mismatches += bad;
                        emit(&base, json!({"peer": p.name(), "metric": format!("batch_{}_ns", s.name), "round": round, "value": ns, "mismatches": bad}));
                    }
                }
            });
            eprintln!("[{}] round {round}: {} done", st.label, p.name());
        }
    }
    Ok(mismatches)
}

fn time_chase(chase: &mut Chase, secs: f64) -> f64 {
    let mut done = 0u64;
    let t = Instant::now();
    loop {
        for _ in 0..4096 {
            fence(SeqCst);
            black_box(chase.step());
        }
        done += 4096;
        if t.elapsed().as_secs_f64() >= secs {
            break;
        }
    }
    t.elapsed().as_nanos() as f64 / done as f64
}

/// `0.01` as `1`, `0.5` as `50`: hit ratios in metric names.
pub fn pct(h: f64) -> String {
    let p = h * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as i64)
    } else {
        format!("{p}")
    }
}
