//! `sltd-peers`: the side-by-side benchmark of sltd against Redis,
//! PostgreSQL, LMDB, cdb, fst and a plain HashMap. `run.sh` beside this
//! crate drives it; each subcommand prints JSON lines that `report` turns
//! into the `## Peers` section of `docs/BENCHMARKS.md` and PNG charts.
//!
//! Subcommands:
//!   inproc     --csv F --label L --work DIR [--rounds R] [--hit-ratios 0.01,0.5]
//!              [--secs S] [--queries N] [--peers a,b]
//!   keys       --csv F --seed S --hit-ratio H [--max-keys N] --out FILE
//!   redis-load --addr A --csv F        pg-load --addr A --csv F
//!   redis-ready --addr A               pg-ready --addr A
//!   net        --peer redis|pg --mode M --addr A --keys-file F
//!              (--rate R | --concurrency C) [--batch 300] [--duration S]
//!              [--warmup S] [--connections 4] [--hit-ratio H]
//!   report     --results F --md FILE --charts DIR --meta FILE
//!
//! Exit status 3 when any answer was wrong.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

mod data;
mod inproc;
mod keys;
mod net;
mod report;

/// Exit status when an answer did not match the ground truth.
const EXIT_MISMATCH: u8 = 3;

/// Prints one result line: `base` merged with `fields`.
pub fn emit(base: &serde_json::Value, fields: serde_json::Value) {
    let mut v = base.clone();
    if let (Some(m), serde_json::Value::Object(f)) = (v.as_object_mut(), fields) {
        m.extend(f);
    }
    println!("{v}");
}

/// `--name value` pairs.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(raw: &[String]) -> anyhow::Result<Self> {
        let mut m = HashMap::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                bail!("unexpected argument {a:?}");
            };
            let value = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            m.insert(name.to_string(), value.clone());
        }
        Ok(Self(m))
    }

    fn get(&self, name: &str) -> anyhow::Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("--{name} is required"))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {v:?}: {e}")),
        }
    }

    fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.get(name).map(PathBuf::from)
    }
}

fn run() -> anyhow::Result<u8> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        bail!(
            "usage: sltd-peers inproc|keys|redis-load|pg-load|redis-ready|pg-ready|net|report ..."
        );
    };
    let a = Args::parse(rest)?;
    match cmd.as_str() {
        "inproc" => {
            let st = inproc::Settings {
                csv: a.path("csv")?,
                label: a.get("label")?.to_string(),
                work: a.path("work")?,
                rounds: a.num("rounds", 3)?,
                hit_ratios: a
                    .opt("hit-ratios")
                    .unwrap_or("0.01,0.5")
                    .split(',')
                    .map(|s| s.trim().parse::<f64>())
                    .collect::<Result<_, _>>()?,
                secs: a.num("secs", 1.0)?,
                queries: a.num("queries", 1 << 20)?,
                peers: a
                    .opt("peers")
                    .map(|p| p.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
            };
            let bad = inproc::run(&st)?;
            if bad > 0 {
                eprintln!("sltd-peers inproc: {bad} wrong answers");
                return Ok(EXIT_MISMATCH);
            }
        }
        "keys" => {
            let items = keys::build(
                &a.path("csv")?,
                a.num("seed", 42)?,
                a.num("hit-ratio", 0.1)?,
                a.num("max-keys", 1_000_000)?,
            )?;
            keys::save(&items, &a.path("out")?)?;
            let hits = items.iter().filter(|i| i.expect.is_some()).count();
            eprintln!("{} keys, {hits} hits", items.len());
        }
        "redis-load" => println!("{}", net::redis_load(a.get("addr")?, &a.path("csv")?)?),
        "pg-load" => println!("{}", net::pg_load(a.get("addr")?, &a.path("csv")?)?),
        "redis-ready" => net::redis_ready(a.get("addr")?, Duration::from_secs(60))?,
        "pg-ready" => net::pg_ready(a.get("addr")?, Duration::from_secs(120))?,
        "net" => {
            let peer = a.get("peer")?;
            let mode_name = a.get("mode")?;
            let d = net::Drive {
                peer: peer.to_string(),
                mode_name: mode_name.to_string(),
                mode: net::Mode::parse(peer, mode_name)?,
                addr: a.get("addr")?.to_string(),
                rate: a.opt("rate").map(str::parse).transpose()?,
                concurrency: a.num("concurrency", 16)?,
                connections: a.num("connections", 4)?,
                batch: a.num("batch", 300)?,
                duration: a.num("duration", 10.0)?,
                warmup: a.num("warmup", 1.0)?,
                hit_ratio: a.num("hit-ratio", 0.0)?,
            };
            let items = keys::load(&a.path("keys-file")?)?;
            let v = d.clone();
            let out = net::drive(&v, items)?;
            println!("{out}");
            let bad = out["mismatches"].as_u64().unwrap_or(0) + out["errors"].as_u64().unwrap_or(0);
            if bad > 0 || out["requests"].as_u64() == Some(0) {
                return Ok(EXIT_MISMATCH);
            }
        }
        "report" => report::run(
            &a.path("results")?,
            &a.path("md")?,
            &a.path("charts")?,
            &a.path("meta")?,
        )?,
        other => bail!("unknown subcommand {other:?}"),
    }
    Ok(0)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sltd-peers: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
