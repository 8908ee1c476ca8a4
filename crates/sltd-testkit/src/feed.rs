//! A signed feed made the way an operator makes one, with `sltd feed
//! keygen`, `init` and `publish`, and served with `sltd feed serve`.

use std::path::{Path, PathBuf};

use crate::process::{Program, Run, Spawned, Stream};

/// A feed directory, its online signing key, its offline root keys and the
/// pinned root a border post trusts (a copy of `1.root.json`, taken out of
/// band).
#[derive(Clone, Debug)]
pub struct Feed {
    pub dir: PathBuf,
    /// The online key: signs checkpoints, deltas and snapshots.
    pub key: PathBuf,
    /// The offline root keys (2 of 3 sign a root).
    pub root_keys: Vec<PathBuf>,
    pub trust: PathBuf,
}

fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

impl Feed {
    /// Creates `work/FEED` with the online key `work/feed.key` and the
    /// root keys `work/root-{1,2,3}.key` (the third listed by its public
    /// key only), with further `sltd feed init` flags (e.g.
    /// `--checkpoint-ttl 30s`), and pins its root at `work/1.root.json`.
    #[track_caller]
    pub fn create(sltd: &Program, work: &Path, init_flags: &[&str]) -> Self {
        let dir = work.join("FEED");
        let key = work.join("feed.key");
        let root_keys: Vec<PathBuf> = (1..=3)
            .map(|i| work.join(format!("root-{i}.key")))
            .collect();
        for k in std::iter::once(&key).chain(&root_keys) {
            sltd.run(["feed", "keygen", "--output", text(k)]).success();
        }
        let third_pub = work.join("root-3.key.pub");
        let mut args = vec![
            "feed",
            "init",
            "--dir",
            text(&dir),
            "--key",
            text(&key),
            "--root-key",
            text(&root_keys[0]),
            "--root-key",
            text(&root_keys[1]),
            "--root-key",
            text(&third_pub),
            "--name",
            "test",
        ];
        args.extend_from_slice(init_flags);
        sltd.run(&args).success();
        let trust = work.join("1.root.json");
        std::fs::copy(dir.join("1.root.json"), &trust).expect("pin the root");
        Self {
            dir,
            key,
            root_keys,
            trust,
        }
    }

    /// Publishes the full export `csv` as the next sequence (with a
    /// snapshot when asked).
    #[track_caller]
    pub fn publish(&self, sltd: &Program, csv: &Path, snapshot: bool) -> Run {
        let mut args = vec![
            "feed",
            "publish",
            "--dir",
            text(&self.dir),
            "--key",
            text(&self.key),
            "--input",
            text(csv),
        ];
        if snapshot {
            args.push("--snapshot");
        }
        sltd.run(&args).success()
    }

    /// A copy of the feed directory as it is now: an old state a hostile
    /// mirror could replay later.
    pub fn copy_to(&self, to: &Path) -> PathBuf {
        copy_dir(&self.dir, to);
        to.to_path_buf()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the feed") {
        let entry = entry.expect("a directory entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy a feed file");
        }
    }
}

/// `sltd feed serve` on 127.0.0.1 port 0, killed when dropped.
#[derive(Debug)]
pub struct FeedServer {
    process: Spawned,
    url: String,
}

impl FeedServer {
    /// Serves `dir` and waits for the URL it prints first.
    #[track_caller]
    pub fn start(sltd: &Program, dir: &Path) -> Self {
        let process = sltd.spawn([
            "feed",
            "serve",
            "--dir",
            text(dir),
            "--listen",
            "127.0.0.1:0",
        ]);
        let url = process.wait_for_line(
            Stream::Stdout,
            crate::READY_TIMEOUT,
            "the feed server's URL",
            |line| line.starts_with("http://").then(|| line.trim().to_string()),
        );
        Self { process, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn process(&self) -> &Spawned {
        &self.process
    }
}
