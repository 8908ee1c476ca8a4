//! Turns the JSON lines of a run into the `## Peers` section of
//! `docs/BENCHMARKS.md` (medians over rounds, with the range when there
//! are several) and PNG charts. Only the `## Peers` section is rewritten;
//! every other section of the file is left as it is.
//!
//! The "where sltd wins" lines are computed from the numbers, so they stay
//! true when the run is repeated.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

const INPROC_PEERS: [&str; 5] = ["sltd-index", "HashMap", "fst", "LMDB", "cdb"];
const SERVERS: [&str; 3] = ["sltdd", "Redis", "PostgreSQL"];
const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Median, least and greatest of a set of rounds.
#[derive(Clone, Copy, Debug)]
struct Stat {
    med: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stat(mut v: Vec<f64>) -> Option<Stat> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        med,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

/// A number in a few significant digits with a k/M suffix.
fn num(x: f64) -> String {
    let a = x.abs();
    if a < 0.005 {
        return "0".into();
    }
    if a >= 999_500.0 {
        format!("{:.2}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<Stat>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n > 1 && num(s.min) != num(s.max) => {
            format!("{} ({}–{})", num(s.med), num(s.min), num(s.max))
        }
        Some(s) => num(s.med),
    }
}

struct Results {
    rows: Vec<Value>,
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn f64_of(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// A filter on result fields: (field, wanted value).
type Filter<'a> = &'a [(&'a str, Value)];

fn matches(v: &Value, f: Filter) -> bool {
    f.iter().all(|(k, want)| match (v.get(*k), want) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(a), b) => a == b,
        (None, Value::Null) => true,
        (None, _) => false,
    })
}

impl Results {
    fn stat(&self, f: Filter, field: &str) -> Option<Stat> {
        stat(
            self.rows
                .iter()
                .filter(|v| matches(v, f))
                .filter_map(|v| f64_of(v, field))
                .collect(),
        )
    }

    fn sum(&self, f: Filter, field: &str) -> f64 {
        self.rows
            .iter()
            .filter(|v| matches(v, f))
            .filter_map(|v| f64_of(v, field))
            .sum()
    }

    /// Sizes present, smallest first.
    fn sizes(&self) -> Vec<String> {
        let mut s: Vec<(u64, String)> = self
            .rows
            .iter()
            .filter_map(|v| {
                let size = str_of(v, "size");
                (!size.is_empty()).then(|| (records_of(size), size.to_string()))
            })
            .collect();
        s.sort();
        s.dedup();
        s.into_iter().map(|(_, l)| l).collect()
    }

    /// The largest size at which the peers ran too (at 100M sltd runs
    /// alone), else the largest size.
    fn compared_size(&self) -> Option<String> {
        let sizes = self.sizes();
        sizes
            .iter()
            .rev()
            .find(|sz| {
                self.rows
                    .iter()
                    .any(|v| str_of(v, "size") == sz.as_str() && str_of(v, "peer") == "PostgreSQL")
            })
            .or(sizes.last())
            .cloned()
    }

    fn values(&self, f: Filter, field: &str) -> Vec<f64> {
        let mut out: Vec<f64> = self
            .rows
            .iter()
            .filter(|v| matches(v, f))
            .filter_map(|v| f64_of(v, field))
            .collect();
        out.sort_by(f64::total_cmp);
        out.dedup();
        out
    }
}

fn records_of(label: &str) -> u64 {
    let (n, m) = match label.chars().last() {
        Some('k' | 'K') => (&label[..label.len() - 1], 1_000),
        Some('M' | 'm') => (&label[..label.len() - 1], 1_000_000),
        _ => (label, 1),
    };
    n.parse::<u64>().unwrap_or(0) * m
}

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

fn n(x: f64) -> Value {
    serde_json::json!(x)
}

/// Single-request and batch modes of each server, with a label.
fn single_mode(peer: &str) -> &'static str {
    match peer {
        "sltdd" => "unary",
        "Redis" => "get",
        _ => "single",
    }
}

fn batch_modes(peer: &str) -> &'static [(&'static str, &'static str)] {
    match peer {
        "sltdd" => &[
            ("batch", "CheckBatch of 300"),
            ("stream", "CheckStream, 4 streams x 64 in flight"),
        ],
        "Redis" => &[("mget", "MGET of 300"), ("pipeline", "pipeline of 300 GET")],
        _ => &[("batch", "prepared unnest join of 300")],
    }
}

pub fn run(results: &Path, md: &Path, charts: &Path, meta: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results).with_context(|| results.display().to_string())?;
    let rows = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()?;
    let r = Results { rows };
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(meta)?)?;
    std::fs::create_dir_all(charts)?;
    let chart_files = draw_charts(&r, charts).unwrap_or_else(|e| {
        eprintln!("sltd-peers report: no charts: {e:#}");
        Vec::new()
    });
    let section = markdown(&r, &meta, md, charts, &chart_files);
    splice(md, &section)?;
    eprintln!("wrote the ## Peers section of {}", md.display());
    Ok(())
}

/// Replaces the `## Peers` section (up to the next `## ` heading) or appends
/// it.
fn splice(md: &Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(md).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let lines: Vec<&str> = old.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == "## Peers");
    let new = match start {
        Some(i) => {
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map_or(lines.len(), |j| i + 1 + j);
            let mut out = lines[..i].join("\n");
            if i > 0 {
                out.push('\n');
            }
            out.push_str(section.trim_end());
            out.push('\n');
            if end < lines.len() {
                out.push('\n');
                out.push_str(&lines[end..].join("\n"));
                out.push('\n');
            }
            out
        }
        None => {
            let mut out = old.trim_end().to_string();
            out.push_str("\n\n");
            out.push_str(section);
            out
        }
    };
    let tmp = md.with_extension("md.tmp");
    std::fs::write(&tmp, new)?;
    std::fs::rename(&tmp, md)?;
    Ok(())
}

fn rel(from_md: &Path, file: &Path) -> String {
    let base = from_md.parent().unwrap_or(Path::new("."));
    file.strip_prefix(base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.display().to_string())
}

fn markdown(r: &Results, meta: &Value, md: &Path, charts: &Path, files: &[String]) -> String {
    let mut o = String::new();
    let rounds = meta["rounds"].as_u64().unwrap_or(1);
    let cpu = meta["cpu"].as_str().unwrap_or("");
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .unwrap_or("")
        .trim();
    let cores = cpu
        .lines()
        .find_map(|l| l.strip_prefix("CPU(s):"))
        .unwrap_or("")
        .trim();
    let _ = writeln!(o, "## Peers\n");
    let _ = writeln!(
        o,
        "sltd against what a border authority would run instead, measured in one run on one \
         machine with the same data (one `sltd gen` file, duplicate keys resolved by the index's \
         rule so every peer stores the same set) and the same seeded key streams. Every answer is \
         checked against the ground truth; a case with a wrong answer or an error is listed at the \
         end. Generated by `benches/peers/run.sh` (the code is in `benches/peers/`); do not edit \
         by hand, re-run it.\n"
    );
    let _ = writeln!(
        o,
        "- Machine: {model}, {cores} cores, kernel {}; Redis {}, PostgreSQL {}.",
        meta["kernel"].as_str().unwrap_or(""),
        meta["redis"].as_str().unwrap_or("?"),
        meta["postgres"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        o,
        "- Date {}; command `{}`; {} round(s), peers in alternating order; network cases {} s each \
         after 1 s of warm-up. Cells are medians over rounds, with (min–max) when rounds differ.",
        meta["date"].as_str().unwrap_or(""),
        meta["command"].as_str().unwrap_or(""),
        rounds,
        meta["duration_s"]
    );
    let _ = writeln!(
        o,
        "- Caveats: 2 cores shared by the load generator and the server, so network figures are \
         a lower bound for every server alike; other engineers' builds may have run on the same \
         machine during the run (load average at the end: {}), which adds noise, mostly to the \
         tails. sltdd writes its audit log to /dev/null here (the JSON line of each hit is still \
         made).",
        meta["loadavg"].as_str().unwrap_or("?")
    );
    if meta["smoke"].as_u64() == Some(1) {
        let _ = writeln!(
            o,
            "- **Smoke run** (debug builds, tiny data): the numbers mean nothing."
        );
    }
    o.push('\n');
    for f in files {
        let _ = writeln!(o, "![{f}]({})", rel(md, &charts.join(f)));
    }
    if !files.is_empty() {
        o.push('\n');
    }

    for size in r.sizes() {
        inproc_tables(r, &size, &mut o);
        server_tables(r, &size, &mut o);
    }
    how_to_read(&mut o);
    verdict(r, &mut o);

    let bad: Vec<String> = r
        .rows
        .iter()
        .filter(|v| {
            f64_of(v, "mismatches").unwrap_or(0.0) > 0.0
                || f64_of(v, "errors").unwrap_or(0.0) > 0.0
                || (str_of(v, "metric") == "verify_mismatches"
                    && f64_of(v, "value").unwrap_or(0.0) > 0.0)
        })
        .map(|v| {
            format!(
                "- {} {} {} {} {}: mismatches {}, errors {}",
                str_of(v, "size"),
                str_of(v, "peer"),
                str_of(v, "mode"),
                str_of(v, "metric"),
                v.get("hit_ratio")
                    .map(|h| format!("hit ratio {h}"))
                    .unwrap_or_default(),
                v.get("mismatches")
                    .or_else(|| v.get("value"))
                    .cloned()
                    .unwrap_or_default(),
                v.get("errors").cloned().unwrap_or(Value::from(0))
            )
        })
        .collect();
    let redone: Vec<String> = r
        .rows
        .iter()
        .filter(|v| v.get("remeasured").and_then(Value::as_bool) == Some(true))
        .map(|v| {
            format!(
                "{} {} {}",
                str_of(v, "peer"),
                str_of(v, "metric"),
                str_of(v, "size")
            )
        })
        .collect();
    if !redone.is_empty() {
        let _ = writeln!(
            o,
            "Re-measured after the run, with the servers loaded the same way, because the run's \
             own method was corrected afterwards: {}.\n",
            redone.join("; ")
        );
    }
    let _ = writeln!(o, "### Answers checked\n");
    if bad.is_empty() {
        let checked = r.sum(&[("part", s("net"))], "keys");
        let _ = writeln!(
            o,
            "Every answer matched the ground truth: {} network keys, and every in-process lookup \
             (counted in each timed loop, compared field by field in an untimed pass).\n",
            num(checked)
        );
    } else {
        let _ = writeln!(
            o,
            "**Cases with wrong answers or errors** (their figures do not count):\n"
        );
        for b in bad {
            let _ = writeln!(o, "{b}");
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Redis's and PostgreSQL's answers are decoded and compared with the expected record field \
         by field; sltdd's are checked by `sltd loadgen`, which compares the verdict (HIT or \
         NO_HIT) of every answer. The key streams are the same: `sltd-peers keys` draws them with \
         the loadgen's own code (`sltd_load::KeyStream`, seed 42).\n"
    );
    o
}

fn inproc_tables(r: &Results, size: &str, o: &mut String) {
    let base = [("part", s("inproc")), ("size", s(size))];
    if !r.rows.iter().any(|v| matches(v, &base)) {
        return;
    }
    let records = r
        .rows
        .iter()
        .find(|v| matches(v, &base))
        .and_then(|v| f64_of(v, "records"))
        .unwrap_or(0.0);
    let hits: Vec<String> = r
        .rows
        .iter()
        .filter(|v| matches(v, &base))
        .filter_map(|v| {
            str_of(v, "metric")
                .strip_prefix("batch_mix")
                .map(str::to_string)
        })
        .filter_map(|m| m.strip_suffix("_ns").map(str::to_string))
        .fold(Vec::new(), |mut acc, h| {
            if !acc.contains(&h) {
                acc.push(h);
            }
            acc
        });
    let floor = r.stat(
        &[base[0].clone(), base[1].clone(), ("metric", s("floor_ns"))],
        "value",
    );
    let _ = writeln!(
        o,
        "### In-process, {size} ({} distinct records)\n",
        num(records)
    );
    let _ = writeln!(
        o,
        "Nanoseconds per lookup; single lookups are separated by a full fence so each pays its own \
         latency; batches are 300 lookups (sltd uses `lookup_batch`, the others a plain loop); \
         memory floor (one dependent random read in a buffer the size of the sltd index): \
         **{} ns**.\n",
        cell(floor)
    );
    let mut head = "| peer | negative | positive |".to_string();
    let mut sep = "|---|---:|---:|".to_string();
    for h in &hits {
        let _ = write!(head, " mixed {h}% hits | batch {h}% hits |");
        sep.push_str("---:|---:|");
    }
    head.push_str(" build s | bytes/record | open ms |");
    sep.push_str("---:|---:|---:|");
    let _ = writeln!(o, "{head}\n{sep}");
    for peer in INPROC_PEERS {
        let f = |metric: &str| {
            r.stat(
                &[
                    base[0].clone(),
                    base[1].clone(),
                    ("peer", s(peer)),
                    ("metric", s(metric)),
                ],
                "value",
            )
        };
        if f("build_s").is_none() {
            continue;
        }
        let mut line = format!("| {peer} | {} | {} |", cell(f("neg_ns")), cell(f("pos_ns")));
        for h in &hits {
            let _ = write!(
                line,
                " {} | {} |",
                cell(f(&format!("mix{h}_ns"))),
                cell(f(&format!("batch_mix{h}_ns")))
            );
        }
        let _ = write!(
            line,
            " {} | {} | {} |",
            cell(f("build_s")),
            cell(f("bytes_per_record")),
            cell(f("open_ms"))
        );
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(
        o,
        "\nBytes per record: the sltd file; the HashMap's table (buckets x (key + record + 1 \
         control byte)); the fst plus its value store; LMDB's used pages; the cdb file. Open: \
         mapping the built file again, warm page cache (sltd maps it resident). LMDB is read \
         inside one long read transaction, its most favourable use.\n"
    );
}

fn server_tables(r: &Results, size: &str, o: &mut String) {
    let sz = ("size", s(size));
    if !r
        .rows
        .iter()
        .any(|v| matches(v, &[("part", s("net")), sz.clone()]))
    {
        return;
    }
    let _ = writeln!(o, "### Servers on loopback, {size}\n");
    let _ = writeln!(
        o,
        "| server | load s | ready ms | resident bytes/record (PSS) | on disk bytes/record |\n|---|---:|---:|---:|---:|"
    );
    for peer in SERVERS {
        let f = |metric: &str| {
            r.stat(
                &[
                    ("part", s("server")),
                    sz.clone(),
                    ("peer", s(peer)),
                    ("metric", s(metric)),
                ],
                "value",
            )
        };
        if f("ready_ms").is_none() && f("load_s").is_none() {
            continue;
        }
        let _ = writeln!(
            o,
            "| {peer} | {} | {} | {} | {} |",
            cell(f("load_s")),
            cell(f("ready_ms")),
            cell(f("pss_bytes_per_record")),
            cell(f("disk_bytes_per_record"))
        );
    }
    let _ = writeln!(
        o,
        "\nLoad, from the CSV file (parsing it included) to a store ready to serve: sltd `index \
         build`; Redis `MSET`s of 1000 keys (16 in flight); PostgreSQL `COPY`, then the primary \
         key and `VACUUM ANALYZE`. Ready: process start to \
         answering at full speed: sltdd to SERVING (index mapped resident and every byte verified, \
         checksums included); PostgreSQL restart, `pg_prewarm` of table and key (the files are in \
         the page cache); Redis (no persistence) start plus the reload. Resident memory is \
         measured after the runs: the proportional set size of the server's processes; for \
         PostgreSQL, its processes' own pages plus the shared buffers holding data (its files \
         are also in the page cache, not counted).\n"
    );
    let net = ("part", s("net"));
    let hits = r.values(&[net.clone(), sz.clone()], "hit_ratio");
    let rates = r.values(&[net.clone(), sz.clone(), ("loop", s("open"))], "rate");
    for &h in &hits {
        let hr = ("hit_ratio", n(h));
        let _ = writeln!(
            o,
            "**{size}, {}% hits: one key per request, open loop** (latency from the intended send \
             time, microseconds):\n",
            crate::inproc::pct(h)
        );
        let _ = writeln!(
            o,
            "| server | rate/s | p50 | p99 | p99.9 | achieved/s |\n|---|---:|---:|---:|---:|---:|"
        );
        for peer in SERVERS {
            for &rate in &rates {
                let f: Vec<(&str, Value)> = vec![
                    net.clone(),
                    sz.clone(),
                    hr.clone(),
                    ("peer", s(peer)),
                    ("mode", s(single_mode(peer))),
                    ("rate", n(rate)),
                ];
                if r.stat(&f, "p50_us").is_none() {
                    continue;
                }
                let _ = writeln!(
                    o,
                    "| {peer} | {} | {} | {} | {} | {} |",
                    num(rate),
                    cell(r.stat(&f, "p50_us")),
                    cell(r.stat(&f, "p99_us")),
                    cell(r.stat(&f, "p999_us")),
                    cell(r.stat(&f, "throughput_rps"))
                );
            }
        }
        let concs = r.values(
            &[net.clone(), sz.clone(), hr.clone(), ("loop", s("closed"))],
            "concurrency",
        );
        let unary_concs: Vec<f64> = concs
            .iter()
            .copied()
            .filter(|&c| {
                SERVERS.iter().any(|p| {
                    r.stat(
                        &[
                            net.clone(),
                            sz.clone(),
                            hr.clone(),
                            ("peer", s(p)),
                            ("mode", s(single_mode(p))),
                            ("concurrency", n(c)),
                        ],
                        "throughput_rps",
                    )
                    .is_some()
                })
            })
            .collect();
        let _ = writeln!(
            o,
            "\n**{size}, {}% hits: maximum throughput, closed loop** (requests/s; p99 µs in \
             brackets; 4 connections):\n",
            crate::inproc::pct(h)
        );
        let mut head = "| server, one key per request |".to_string();
        let mut sep = "|---|".to_string();
        for c in &unary_concs {
            let _ = write!(head, " concurrency {c} |");
            sep.push_str("---:|");
        }
        let _ = writeln!(o, "{head}\n{sep}");
        for peer in SERVERS {
            let mut line = format!("| {peer} |");
            let mut any = false;
            for &c in &unary_concs {
                let f: Vec<(&str, Value)> = vec![
                    net.clone(),
                    sz.clone(),
                    hr.clone(),
                    ("peer", s(peer)),
                    ("mode", s(single_mode(peer))),
                    ("concurrency", n(c)),
                ];
                let t = r.stat(&f, "throughput_rps");
                any |= t.is_some();
                let _ = write!(line, " {} [{}] |", cell(t), cell(r.stat(&f, "p99_us")));
            }
            if any {
                let _ = writeln!(o, "{line}");
            }
        }
        let _ = writeln!(
            o,
            "\n| server, batches | keys/s (concurrency: value) | p99 µs per request |\n|---|---|---|"
        );
        for peer in SERVERS {
            for (mode, label) in batch_modes(peer) {
                let base: Vec<(&str, Value)> = vec![
                    net.clone(),
                    sz.clone(),
                    hr.clone(),
                    ("peer", s(peer)),
                    ("mode", s(mode)),
                ];
                let cs = r.values(&base, "concurrency");
                if cs.is_empty() {
                    continue;
                }
                let mut keys = Vec::new();
                let mut p99 = Vec::new();
                for c in cs {
                    let mut f = base.clone();
                    f.push(("concurrency", n(c)));
                    keys.push(format!("{c}: {}", cell(r.stat(&f, "keys_per_s"))));
                    p99.push(format!("{c}: {}", cell(r.stat(&f, "p99_us"))));
                }
                let _ = writeln!(
                    o,
                    "| {peer}, {label} | {} | {} |",
                    keys.join(", "),
                    p99.join(", ")
                );
            }
        }
        let pp: Vec<(&str, Value)> = vec![
            net.clone(),
            sz.clone(),
            hr.clone(),
            ("peer", s("TCP ping-pong")),
        ];
        if r.stat(&pp, "p50_us").is_some() {
            let _ = writeln!(
                o,
                "\nFloor: loopback TCP ping-pong of 64 bytes, one connection: p50 {} µs, p99 {} µs, \
                 {} round trips/s.",
                cell(r.stat(&pp, "p50_us")),
                cell(r.stat(&pp, "p99_us")),
                cell(r.stat(&pp, "throughput_rps"))
            );
        }
        o.push('\n');
    }
}

/// What each figure is made of: the mechanisms behind the tables, true
/// whatever the numbers of a given run.
fn how_to_read(o: &mut String) {
    let _ = writeln!(o, "### How to read these numbers\n");
    for line in [
        "In process, a lookup's cost is the number of dependent cache misses it takes. The sltd \
         index is laid out so that a negative lookup reads one cache line of the table and a \
         positive one a second line for the record. A `HashMap<DocumentKey, Record>` (SipHash, the \
         standard hasher) also reads a control group and a bucket, but takes 150 to 250 bytes a \
         record (its table grows by doubling). cdb reads a slot of its hash table, then the record to compare the key. LMDB \
         descends a B+tree of 4 KiB pages; fst walks its automaton byte by byte: both take several \
         dependent reads per lookup, which is why they are slower however compact they are.",
        "Batches: sltd's `lookup_batch` issues the reads of a window of queries before using any \
         of them, so their misses overlap; the other structures are run in a plain loop, where \
         the CPU overlaps what its out-of-order window allows.",
        "Over the network, each server spends a few microseconds of CPU on a lookup; the rest is \
         the protocol and the kernel. Redis's RESP and PostgreSQL's wire protocol are lighter per \
         request than gRPC over HTTP/2, which is sltdd's public contract, so one key per request \
         favours them; batches and streams amortise the framing. The machine has 2 cores, shared \
         by the load generator and the server: at high concurrency the client's own CPU is part \
         of every figure, for every server alike.",
        "Memory: sltdd maps its index file, so its resident memory is the file plus the \
         process's fixed cost; Redis holds every key as a separate object; PostgreSQL holds its \
         table and primary key in shared buffers (sized to fit the data here) and again in the \
         page cache, which is not counted (see its on-disk size).",
    ] {
        let _ = writeln!(o, "{line}\n");
    }
}

/// Ratio statements: sltd against the best other peer for each figure.
fn verdict(r: &Results, o: &mut String) {
    let Some(size) = r.compared_size() else {
        return;
    };
    let size = &size;
    let sz = ("size", s(size));
    let mut wins = Vec::new();
    let mut losses = Vec::new();
    let mut judge = |what: String,
                     ours: Option<Stat>,
                     theirs: Vec<(&str, Option<Stat>)>,
                     lower_better: bool| {
        let Some(ours) = ours else { return };
        let best = theirs
            .into_iter()
            .filter_map(|(p, st)| st.map(|st| (p, st.med)))
            .min_by(|a, b| {
                if lower_better {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            });
        let Some((peer, theirs)) = best else { return };
        let ratio = if lower_better {
            theirs / ours.med
        } else {
            ours.med / theirs
        };
        let line = format!(
            "{what}: sltd {} vs {peer} {} ({:.2}x)",
            num(ours.med),
            num(theirs),
            ratio
        );
        if ratio >= 1.0 {
            wins.push(line);
        } else {
            losses.push(line);
        }
    };
    let ip = |peer: &str, metric: &str| {
        r.stat(
            &[
                ("part", s("inproc")),
                sz.clone(),
                ("peer", s(peer)),
                ("metric", s(metric)),
            ],
            "value",
        )
    };
    let others = |metric: &str| -> Vec<(&'static str, Option<Stat>)> {
        INPROC_PEERS[1..]
            .iter()
            .map(|p| (*p, ip(p, metric)))
            .collect()
    };
    for (metric, label, lower) in [
        ("neg_ns", "in-process negative lookup, ns", true),
        ("pos_ns", "in-process positive lookup, ns", true),
        (
            "batch_mix1_ns",
            "in-process batch of 300 at 1% hits, ns per lookup",
            true,
        ),
        (
            "batch_mix50_ns",
            "in-process batch of 300 at 50% hits, ns per lookup",
            true,
        ),
        ("build_s", "build time, s", true),
        ("bytes_per_record", "in-process bytes per record", true),
    ] {
        judge(
            format!("{label} ({size})"),
            ip("sltd-index", metric),
            others(metric),
            lower,
        );
    }
    let srv = |peer: &str, metric: &str| {
        r.stat(
            &[
                ("part", s("server")),
                sz.clone(),
                ("peer", s(peer)),
                ("metric", s(metric)),
            ],
            "value",
        )
    };
    for (metric, label) in [
        ("pss_bytes_per_record", "server resident bytes per record"),
        ("ready_ms", "server ready after start, ms"),
        ("load_s", "server load time, s"),
    ] {
        judge(
            format!("{label} ({size})"),
            srv("sltdd", metric),
            vec![
                ("Redis", srv("Redis", metric)),
                ("PostgreSQL", srv("PostgreSQL", metric)),
            ],
            true,
        );
    }
    let net = ("part", s("net"));
    let hits = r.values(&[net.clone(), sz.clone()], "hit_ratio");
    if let Some(&h) = hits.first() {
        let hr = ("hit_ratio", n(h));
        let pct = crate::inproc::pct(h);
        let unary = |peer: &str, extra: (&'static str, Value), field: &str| {
            r.stat(
                &[
                    net.clone(),
                    sz.clone(),
                    hr.clone(),
                    ("peer", s(peer)),
                    ("mode", s(single_mode(peer))),
                    extra,
                ],
                field,
            )
        };
        for rate in r.values(
            &[net.clone(), sz.clone(), hr.clone(), ("loop", s("open"))],
            "rate",
        ) {
            judge(
                format!("p99 µs at {} req/s ({size}, {pct}% hits)", num(rate)),
                unary("sltdd", ("rate", n(rate)), "p99_us"),
                vec![
                    ("Redis", unary("Redis", ("rate", n(rate)), "p99_us")),
                    (
                        "PostgreSQL",
                        unary("PostgreSQL", ("rate", n(rate)), "p99_us"),
                    ),
                ],
                true,
            );
        }
        for c in r.values(
            &[
                net.clone(),
                sz.clone(),
                hr.clone(),
                ("loop", s("closed")),
                ("peer", s("sltdd")),
                ("mode", s("unary")),
            ],
            "concurrency",
        ) {
            judge(
                format!("requests/s, one key each, concurrency {c} ({size}, {pct}% hits)"),
                unary("sltdd", ("concurrency", n(c)), "throughput_rps"),
                vec![
                    (
                        "Redis",
                        unary("Redis", ("concurrency", n(c)), "throughput_rps"),
                    ),
                    (
                        "PostgreSQL",
                        unary("PostgreSQL", ("concurrency", n(c)), "throughput_rps"),
                    ),
                ],
                false,
            );
        }
        let best_batch = |peer: &str| {
            batch_modes(peer)
                .iter()
                .filter_map(|(m, _)| {
                    r.values(
                        &[
                            net.clone(),
                            sz.clone(),
                            hr.clone(),
                            ("peer", s(peer)),
                            ("mode", s(m)),
                        ],
                        "concurrency",
                    )
                    .into_iter()
                    .filter_map(|c| {
                        r.stat(
                            &[
                                net.clone(),
                                sz.clone(),
                                hr.clone(),
                                ("peer", s(peer)),
                                ("mode", s(m)),
                                ("concurrency", n(c)),
                            ],
                            "keys_per_s",
                        )
                    })
                    .max_by(|a, b| a.med.total_cmp(&b.med))
                })
                .max_by(|a, b| a.med.total_cmp(&b.med))
        };
        judge(
            format!("best batch or stream keys/s ({size}, {pct}% hits)"),
            best_batch("sltdd"),
            vec![
                ("Redis", best_batch("Redis")),
                ("PostgreSQL", best_batch("PostgreSQL")),
            ],
            false,
        );
    }
    let _ = writeln!(o, "### Where sltd wins and where it does not\n");
    let _ = writeln!(
        o,
        "Computed from the tables above (largest size; sltd against the best of the others):\n"
    );
    if !wins.is_empty() {
        let _ = writeln!(o, "Wins:\n");
        for w in wins {
            let _ = writeln!(o, "- {w}");
        }
        o.push('\n');
    }
    if !losses.is_empty() {
        let _ = writeln!(o, "Does not win:\n");
        for l in losses {
            let _ = writeln!(o, "- {l}");
        }
        o.push('\n');
    }
}

// ---------------------------------------------------------------- charts

fn load_font() -> anyhow::Result<()> {
    let candidates = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ];
    let path = candidates
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| find_ttf(Path::new("/usr/share/fonts")))
        .context("no TrueType font under /usr/share/fonts (apt-get install fonts-dejavu-core)")?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(&path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{} is not a usable font", path.display()))?;
    Ok(())
}

fn find_ttf(dir: &Path) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_ttf(&p) {
                return Some(f);
            }
        } else if p.extension().is_some_and(|x| x == "ttf") {
            return Some(p);
        }
    }
    None
}

/// One bar group chart: `groups` along x, one bar per series in each group.
struct Bars<'a> {
    title: String,
    y_label: &'a str,
    groups: Vec<String>,
    series: Vec<(String, Vec<Option<f64>>)>,
    log: bool,
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_bars(area: &Area, b: &Bars) -> anyhow::Result<()> {
    let vals: Vec<f64> = b
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .filter(|v| *v > 0.0)
        .collect();
    if vals.is_empty() {
        return Ok(());
    }
    let max = vals.iter().copied().fold(0.0, f64::max);
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let k = b.groups.len() as f64;
    let ns = b.series.len() as f64;
    let mut builder = ChartBuilder::on(area);
    let chart = builder
        .caption(&b.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70);
    let draw_series = |lo: f64| -> Vec<(f64, f64, f64, usize)> {
        let mut rects = Vec::new();
        for (si, (_, v)) in b.series.iter().enumerate() {
            for (gi, val) in v.iter().enumerate() {
                if let Some(val) = val.filter(|v| *v > 0.0) {
                    let x0 = gi as f64 + 0.1 + 0.8 * si as f64 / ns;
                    rects.push((x0, x0 + 0.8 / ns * 0.9, val.max(lo), si));
                }
            }
        }
        rects
    };
    macro_rules! finish {
        ($chart:expr, $lo:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc(b.y_label)
                .y_label_formatter(&|v| num(*v))
                .label_style(("sans-serif", 14))
                .draw()?;
            let rects = draw_series($lo);
            for (si, (name, _)) in b.series.iter().enumerate() {
                let color = COLORS[si % COLORS.len()];
                chart
                    .draw_series(
                        rects
                            .iter()
                            .filter(|r| r.3 == si)
                            .map(|r| Rectangle::new([(r.0, $lo), (r.1, r.2)], color.filled())),
                    )?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
            let style = TextStyle::from(("sans-serif", 14).into_font())
                .pos(Pos::new(HPos::Center, VPos::Top));
            // backend_coord is absolute; drawing on a sub-area is relative.
            let (bx, by) = area.get_base_pixel();
            for (gi, g) in b.groups.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(gi as f64 + 0.5, $lo));
                area.draw(&Text::new(g.clone(), (px - bx, py - by + 6), style.clone()))?;
            }
            // With one series, the value above each bar.
            if b.series.len() == 1 {
                let top = TextStyle::from(("sans-serif", 13).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                for r in &rects {
                    let (px, py) = chart.backend_coord(&((r.0 + r.1) / 2.0, r.2));
                    area.draw(&Text::new(num(r.2), (px - bx, py - by - 3), top.clone()))?;
                }
            }
        }};
    }
    if b.log {
        let lo = 10f64.powf((min * 0.5).log10().floor());
        let hi = 10f64.powf((max * 3.0).log10().ceil());
        let c = chart.build_cartesian_2d(0f64..k, (lo..hi).log_scale())?;
        finish!(c, lo);
    } else {
        let c = chart.build_cartesian_2d(0f64..k, 0f64..max * 1.25)?;
        finish!(c, 0.0);
    }
    Ok(())
}

fn draw_charts(r: &Results, dir: &Path) -> anyhow::Result<Vec<String>> {
    load_font()?;
    let size = r.compared_size().context("no results")?;
    let sz = ("size", s(&size));
    let net = ("part", s("net"));
    let mut files = Vec::new();
    let hits = r.values(&[net.clone(), sz.clone()], "hit_ratio");

    // Latency percentiles per server, open loop, one panel per rate.
    if let Some(&h) = hits.first() {
        let hr = ("hit_ratio", n(h));
        let rates = r.values(
            &[net.clone(), sz.clone(), hr.clone(), ("loop", s("open"))],
            "rate",
        );
        if !rates.is_empty() {
            let name = "peers-latency.png".to_string();
            let path = dir.join(&name);
            let root = BitMapBackend::new(&path, (400 * rates.len() as u32 + 100, 520))
                .into_drawing_area();
            root.fill(&WHITE)?;
            let panels = root.split_evenly((1, rates.len()));
            for (panel, &rate) in panels.iter().zip(&rates) {
                let q = |peer: &str, field: &str| {
                    r.stat(
                        &[
                            net.clone(),
                            sz.clone(),
                            hr.clone(),
                            ("peer", s(peer)),
                            ("mode", s(single_mode(peer))),
                            ("rate", n(rate)),
                        ],
                        field,
                    )
                    .map(|st| st.med)
                };
                let peers: Vec<&str> = SERVERS
                    .iter()
                    .copied()
                    .filter(|p| q(p, "p50_us").is_some())
                    .collect();
                let series = [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")]
                    .iter()
                    .map(|(l, f)| (l.to_string(), peers.iter().map(|p| q(p, f)).collect()))
                    .collect();
                draw_bars(
                    panel,
                    &Bars {
                        title: format!(
                            "{} req/s, {size}, {}% hits",
                            num(rate),
                            crate::inproc::pct(h)
                        ),
                        y_label: "latency, µs (log)",
                        groups: peers.iter().map(|p| p.to_string()).collect(),
                        series,
                        log: true,
                    },
                )?;
            }
            root.present()?;
            files.push(name);
        }

        // Throughput per concurrency (unary), and best batch keys/s.
        let concs = r.values(
            &[
                net.clone(),
                sz.clone(),
                hr.clone(),
                ("loop", s("closed")),
                ("peer", s("sltdd")),
                ("mode", s("unary")),
            ],
            "concurrency",
        );
        if !concs.is_empty() {
            let name = "peers-throughput.png".to_string();
            let path = dir.join(&name);
            let root = BitMapBackend::new(&path, (1100, 520)).into_drawing_area();
            root.fill(&WHITE)?;
            let (left, right) = root.split_horizontally(560);
            let series = SERVERS
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        concs
                            .iter()
                            .map(|&c| {
                                r.stat(
                                    &[
                                        net.clone(),
                                        sz.clone(),
                                        hr.clone(),
                                        ("peer", s(p)),
                                        ("mode", s(single_mode(p))),
                                        ("concurrency", n(c)),
                                    ],
                                    "throughput_rps",
                                )
                                .map(|st| st.med)
                            })
                            .collect(),
                    )
                })
                .collect();
            draw_bars(
                &left,
                &Bars {
                    title: format!(
                        "one key per request, {size}, {}% hits",
                        crate::inproc::pct(h)
                    ),
                    y_label: "requests/s",
                    groups: concs.iter().map(|c| format!("concurrency {c}")).collect(),
                    series,
                    log: false,
                },
            )?;
            let mut groups = Vec::new();
            let mut vals = Vec::new();
            for peer in SERVERS {
                for (mode, _) in batch_modes(peer) {
                    let best = r
                        .values(
                            &[
                                net.clone(),
                                sz.clone(),
                                hr.clone(),
                                ("peer", s(peer)),
                                ("mode", s(mode)),
                            ],
                            "concurrency",
                        )
                        .into_iter()
                        .filter_map(|c| {
                            r.stat(
                                &[
                                    net.clone(),
                                    sz.clone(),
                                    hr.clone(),
                                    ("peer", s(peer)),
                                    ("mode", s(mode)),
                                    ("concurrency", n(c)),
                                ],
                                "keys_per_s",
                            )
                        })
                        .map(|st| st.med)
                        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                    if best.is_some() {
                        let short = if peer == "PostgreSQL" { "PG" } else { peer };
                        groups.push(format!("{short} {mode}"));
                        vals.push(best);
                    }
                }
            }
            draw_bars(
                &right,
                &Bars {
                    title: "batches of 300: best keys/s".into(),
                    y_label: "keys/s",
                    groups,
                    series: vec![("keys/s".into(), vals)],
                    log: false,
                },
            )?;
            root.present()?;
            files.push(name);
        }
    }

    // Bytes per record.
    let mut groups = Vec::new();
    let mut vals = Vec::new();
    for peer in INPROC_PEERS {
        if let Some(st) = r.stat(
            &[
                ("part", s("inproc")),
                sz.clone(),
                ("peer", s(peer)),
                ("metric", s("bytes_per_record")),
            ],
            "value",
        ) {
            groups.push(peer.to_string());
            vals.push(Some(st.med));
        }
    }
    for peer in SERVERS {
        if let Some(st) = r.stat(
            &[
                ("part", s("server")),
                sz.clone(),
                ("peer", s(peer)),
                ("metric", s("pss_bytes_per_record")),
            ],
            "value",
        ) {
            groups.push(format!("{peer} (resident)"));
            vals.push(Some(st.med));
        }
    }
    if !groups.is_empty() {
        let name = "peers-bytes-per-record.png".to_string();
        let path = dir.join(&name);
        let root = BitMapBackend::new(&path, (1100, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        draw_bars(
            &root,
            &Bars {
                title: format!("bytes per record, {size}"),
                y_label: "bytes/record",
                groups,
                series: vec![("bytes per record".into(), vals)],
                log: false,
            },
        )?;
        root.present()?;
        files.push(name);
    }

    // In-process lookups.
    let metrics: Vec<(String, String)> = {
        let mut m = vec![
            ("negative".to_string(), "neg_ns".to_string()),
            ("positive".into(), "pos_ns".into()),
        ];
        for h in r.values(&[("part", s("inproc")), sz.clone()], "hit_ratio") {
            let _ = h;
        }
        for v in &r.rows {
            if matches(v, &[("part", s("inproc")), sz.clone()]) {
                let metric = str_of(v, "metric");
                if let Some(h) = metric
                    .strip_prefix("batch_mix")
                    .and_then(|x| x.strip_suffix("_ns"))
                {
                    let entry = (format!("batch, {h}% hits"), metric.to_string());
                    if !m.contains(&entry) {
                        m.push(entry);
                    }
                }
            }
        }
        m
    };
    let peers: Vec<&str> = INPROC_PEERS
        .iter()
        .copied()
        .filter(|p| {
            r.stat(
                &[
                    ("part", s("inproc")),
                    sz.clone(),
                    ("peer", s(p)),
                    ("metric", s("neg_ns")),
                ],
                "value",
            )
            .is_some()
        })
        .collect();
    if !peers.is_empty() {
        let name = "peers-inproc.png".to_string();
        let path = dir.join(&name);
        let root = BitMapBackend::new(&path, (1100, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut series: Vec<(String, Vec<Option<f64>>)> = metrics
            .iter()
            .map(|(label, metric)| {
                (
                    label.clone(),
                    peers
                        .iter()
                        .map(|p| {
                            r.stat(
                                &[
                                    ("part", s("inproc")),
                                    sz.clone(),
                                    ("peer", s(p)),
                                    ("metric", s(metric)),
                                ],
                                "value",
                            )
                            .map(|st| st.med)
                        })
                        .collect(),
                )
            })
            .collect();
        if let Some(f) = r.stat(
            &[("part", s("inproc")), sz.clone(), ("metric", s("floor_ns"))],
            "value",
        ) {
            series.push((
                "memory floor".into(),
                peers.iter().map(|_| Some(f.med)).collect(),
            ));
        }
        draw_bars(
            &root,
            &Bars {
                title: format!("in-process lookups, {size} (ns per lookup, log)"),
                y_label: "ns per lookup",
                groups: peers.iter().map(|p| p.to_string()).collect(),
                series,
                log: true,
            },
        )?;
        root.present()?;
        files.push(name);
    }
    Ok(files)
}
