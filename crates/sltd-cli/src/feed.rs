//! `sltd feed ...`: the publisher side of the signed feed. Key generation,
//! creating a feed, publishing a full export as a signed delta, refreshing
//! the checkpoint, rotating the root keys, and a small static server.
//! The format lives in `sltd_feed` and the publisher in `sltd_publisher`;
//! this module only wires them to files and flags.

use sltd_log::outln;
use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sltd_feed::keys::{PublicKey, SecretKey};
use sltd_feed::metadata::Limits;
use sltd_feed::{format_unix, hex, now_unix};
use sltd_publisher::keys::write_secret_key;
use sltd_publisher::serve::{ServeOptions, StaticServer};
use sltd_publisher::{
    InitOptions, PublishOptions, Publisher, PublisherConfig, RoleKeys, RotateOptions,
};

#[derive(Subcommand, Debug)]
pub(crate) enum FeedCommand {
    /// Generate an Ed25519 signing key (KEYFILE, mode 0600) and its public
    /// key (KEYFILE.pub).
    Keygen {
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Create a feed: FEED/1.root.json and an empty signed checkpoint.
    Init(InitArgs),
    /// Publish a full export: diff it against the feed, sign a delta and a
    /// new checkpoint (only a refreshed checkpoint when nothing changed).
    Publish(PublishArgs),
    /// Re-sign the checkpoint with a new issue time and expiry.
    Refresh {
        #[arg(long)]
        dir: PathBuf,
        /// Online signing key file(s); enough to reach the online threshold.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
    },
    /// Write root version N+1 with new root (offline) or online keys, signed
    /// by a threshold of the old and of the new root keys, then re-sign the
    /// checkpoint under it with the new online keys.
    RotateRoot(RotateArgs),
    /// Serve the feed directory over HTTP (for tests and small sites).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    sltd feed keygen --output root-1.key    # offline keys: kept on separate media\n  \
    sltd feed keygen --output root-2.key\n  \
    sltd feed keygen --output root-3.key\n  \
    sltd feed keygen --output feed.key      # the online key, on the publishing machine\n  \
    sltd feed init --dir FEED --root-key root-1.key --root-key root-2.key \\\n      \
    --root-key root-3.key.pub --key feed.key --name example-sltd\n\n\
    Give clients a copy of FEED/1.root.json to pin with sltd-sync --trust.")]
pub(crate) struct InitArgs {
    #[arg(long)]
    dir: PathBuf,
    /// Root (offline) key files: secret key files sign the root, public key
    /// files (.pub) are only listed. They sign nothing but root metadata.
    #[arg(long = "root-key", required = true)]
    root_keys: Vec<PathBuf>,
    /// Root-key signatures required on a root (at least 2).
    #[arg(long, default_value_t = sltd_publisher::MIN_ROOT_THRESHOLD)]
    root_threshold: usize,
    /// Online signing key file(s) held here: they sign checkpoints, deltas
    /// and snapshots.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Further online public keys (KEYFILE.pub) to list in the root.
    #[arg(long = "public-key")]
    public_keys: Vec<PathBuf>,
    /// Online-key signatures required on every checkpoint, delta and
    /// snapshot.
    #[arg(long, default_value_t = 1)]
    threshold: usize,
    /// The feed's name, in every signed file.
    #[arg(long, default_value = "sltd")]
    name: String,
    /// How long the root stays valid.
    #[arg(long, default_value = "365days")]
    root_expires: humantime::Duration,
    /// How long each checkpoint stays valid; publish or refresh more often.
    #[arg(long, default_value = "7days")]
    checkpoint_ttl: humantime::Duration,
    /// The longest validity the root allows any checkpoint (default: the
    /// checkpoint TTL): how long stolen online keys can freeze a post.
    #[arg(long)]
    max_checkpoint_validity: Option<humantime::Duration>,
    /// Write a snapshot every N sequences (0: only on request or after a
    /// large change).
    #[arg(long, default_value_t = 100)]
    snapshot_every: u64,
    /// Largest delta file clients accept, bytes.
    #[arg(long)]
    max_delta_bytes: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// The full export (CSV, the index schema).
    #[arg(long)]
    input: PathBuf,
    /// Also write a snapshot at the new sequence.
    #[arg(long)]
    snapshot: bool,
    /// Leave out rows that fail validation instead of refusing the export
    /// (as `sltd index build --skip-invalid`). A left-out row deletes its
    /// record from the feed if it was published before.
    #[arg(long)]
    skip_invalid: bool,
    /// Refuse the export when a row's issuing country is not an ICAO 9303
    /// code (as `sltd index build --refuse-unknown-countries`).
    #[arg(long)]
    refuse_unknown_countries: bool,
    /// Refuse to delete more than this percentage of published records.
    #[arg(long, default_value_t = 10.0)]
    max_delete_percent: f64,
    /// Issue time override, Unix seconds (tests and replays).
    #[arg(long, hide = true)]
    now: Option<i64>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example (retire online key feed.key for feed-2.key):\n  \
    sltd feed rotate-root --dir FEED --key root-1.key --key root-2.key \\\n      \
    --key feed-2.key --new-key feed-2.key.pub\n\n\
    The checkpoint is re-signed under the new root at once, with the new\n\
    online keys, so they must be among --key."
)]
pub(crate) struct RotateArgs {
    #[arg(long)]
    dir: PathBuf,
    /// Secret key files: enough of the old and of the new root keys to
    /// reach both root thresholds, and enough of the new online keys to
    /// re-sign the checkpoint.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Root (offline) keys of the new root: public (.pub) or secret key
    /// files. Without it, the root keys stay.
    #[arg(long = "new-root-key")]
    new_root_keys: Vec<PathBuf>,
    /// Root-key threshold of the new root (default: 2 with new root keys,
    /// otherwise unchanged).
    #[arg(long)]
    root_threshold: Option<usize>,
    /// Online keys of the new root: public (.pub) or secret key files.
    /// Without it, the online keys stay.
    #[arg(long = "new-key")]
    new_keys: Vec<PathBuf>,
    /// Online-key threshold of the new root (default: 1 with new online
    /// keys, otherwise unchanged).
    #[arg(long)]
    threshold: Option<usize>,
    /// The longest validity the new root allows a checkpoint (default:
    /// unchanged).
    #[arg(long)]
    max_checkpoint_validity: Option<humantime::Duration>,
    #[arg(long, default_value = "365days")]
    expires: humantime::Duration,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Behave like a server without Range support (tests).
    #[arg(long, hide = true)]
    no_range: bool,
    /// Cut the first response for each file after N bytes (tests).
    #[arg(long, hide = true)]
    cut_after: Option<u64>,
}

fn read_secret(path: &Path) -> anyhow::Result<SecretKey> {
    SecretKey::read(path).with_context(|| format!("reading signing key {}", path.display()))
}

fn read_secrets(paths: &[PathBuf]) -> anyhow::Result<Vec<SecretKey>> {
    paths.iter().map(|p| read_secret(p)).collect()
}

/// A public key from a `.pub` file or from a secret key file.
fn read_public(path: &Path) -> anyhow::Result<PublicKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    PublicKey::from_file_bytes(&bytes)
        .or_else(|_| SecretKey::from_file_bytes(&bytes).map(|k| k.public().clone()))
        .with_context(|| {
            format!(
                "{} is neither a public nor a secret key file",
                path.display()
            )
        })
}

/// The public keys of a role from key files (public or secret), and the
/// secret keys among them (which can sign).
fn read_role_keys(paths: &[PathBuf]) -> anyhow::Result<(Vec<SecretKey>, Vec<PublicKey>)> {
    let mut secrets = Vec::new();
    let mut keys: Vec<PublicKey> = Vec::new();
    for p in paths {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let public = match SecretKey::from_file_bytes(&bytes) {
            Ok(k) => {
                let public = k.public().clone();
                secrets.push(k);
                public
            }
            Err(_) => read_public(p)?,
        };
        if !keys.contains(&public) {
            keys.push(public);
        }
    }
    Ok((secrets, keys))
}

fn secs(d: humantime::Duration) -> i64 {
    Duration::from(d).as_secs() as i64
}

pub(crate) fn run(cmd: FeedCommand) -> anyhow::Result<u8> {
    match cmd {
        FeedCommand::Keygen { output } => {
            let k = SecretKey::generate()?;
            let mut pub_path = output.clone().into_os_string();
            pub_path.push(".pub");
            let pub_path = PathBuf::from(pub_path);
            if pub_path.exists() {
                bail!("{} already exists", pub_path.display());
            }
            write_secret_key(&output, &k)
                .with_context(|| format!("writing {} (it must not exist yet)", output.display()))?;
            std::fs::write(&pub_path, k.public().to_file_bytes())?;
            outln!("key id {}", k.keyid());
            outln!(
                "secret key: {} (mode 0600; keep it secret; a root key belongs offline)",
                output.display()
            );
            outln!("public key: {}", pub_path.display());
            Ok(0)
        }
        FeedCommand::Init(a) => {
            let mut secrets = read_secrets(&a.keys)?;
            let mut keys: Vec<PublicKey> = secrets.iter().map(|k| k.public().clone()).collect();
            for p in &a.public_keys {
                let k = read_public(p)?;
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let (root_secrets, root_keys) = read_role_keys(&a.root_keys)?;
            secrets.extend(root_secrets);
            let mut limits = Limits::default();
            if let Some(m) = a.max_delta_bytes {
                limits.max_delta_bytes = m;
            }
            let now = now_unix();
            let opts = InitOptions {
                feed: a.name,
                root_keys: RoleKeys {
                    keys: root_keys,
                    threshold: a.root_threshold,
                },
                online_keys: RoleKeys {
                    keys,
                    threshold: a.threshold,
                },
                root_expires_at: now + secs(a.root_expires),
                max_checkpoint_validity: secs(
                    a.max_checkpoint_validity.unwrap_or(a.checkpoint_ttl),
                ),
                limits,
                config: PublisherConfig {
                    checkpoint_ttl: secs(a.checkpoint_ttl),
                    snapshot_every: a.snapshot_every,
                    ..PublisherConfig::default()
                },
                now,
            };
            let signers: Vec<&SecretKey> = secrets.iter().collect();
            std::fs::create_dir_all(&a.dir)?;
            let p = Publisher::init(&a.dir, &opts, &signers)?;
            let r = p.root();
            outln!(
                "created feed {:?} in {}: root version 1, root keys {} of {} (offline: keep them off this machine), online keys {} of {}",
                r.feed,
                a.dir.display(),
                r.root_keys.threshold,
                r.root_keys.keys.len(),
                r.online_keys.threshold,
                r.online_keys.keys.len(),
            );
            outln!(
                "clients pin {}",
                a.dir.join(sltd_feed::layout::root_path(1)).display()
            );
            Ok(0)
        }
        FeedCommand::Publish(a) => publish(a),
        FeedCommand::Refresh { dir, keys } => {
            let secrets = read_secrets(&keys)?;
            let signers: Vec<&SecretKey> = secrets.iter().collect();
            let mut p = Publisher::open(&dir)?;
            p.refresh(&signers, now_unix())?;
            let c = p.checkpoint();
            outln!(
                "checkpoint sequence {} re-signed; expires {}",
                c.sequence,
                format_unix(c.expires_at)
            );
            Ok(0)
        }
        FeedCommand::RotateRoot(a) => {
            let secrets = read_secrets(&a.keys)?;
            let signers: Vec<&SecretKey> = secrets.iter().collect();
            let role = |files: &[PathBuf], threshold: Option<usize>, default: usize| {
                if files.is_empty() {
                    if threshold.is_some() {
                        bail!(
                            "a new threshold needs the role's keys (--new-root-key or --new-key)"
                        );
                    }
                    return Ok(None);
                }
                let keys = read_role_keys(files)?.1;
                Ok(Some(RoleKeys {
                    keys,
                    threshold: threshold.unwrap_or(default),
                }))
            };
            let now = now_unix();
            let opts = RotateOptions {
                root_keys: role(
                    &a.new_root_keys,
                    a.root_threshold,
                    sltd_publisher::MIN_ROOT_THRESHOLD,
                )?,
                online_keys: role(&a.new_keys, a.threshold, 1)?,
                max_checkpoint_validity: a.max_checkpoint_validity.map(secs),
                expires_at: now + secs(a.expires),
                now,
            };
            let mut p = Publisher::open(&a.dir)?;
            let r = p.rotate_root(&opts, &signers)?;
            outln!(
                "root version {} written: root keys {} of {}, online keys {} of {}",
                r.version,
                r.root_keys.threshold,
                r.root_keys.keys.len(),
                r.online_keys.threshold,
                r.online_keys.keys.len(),
            );
            let c = p.checkpoint();
            outln!(
                "checkpoint sequence {} re-signed under root version {} with the new online key(s); expires {}",
                c.sequence,
                c.root_version,
                format_unix(c.expires_at)
            );
            Ok(0)
        }
        FeedCommand::Serve(a) => {
            let listener = TcpListener::bind(&a.listen)
                .with_context(|| format!("listening on {}", a.listen))?;
            let server = StaticServer::start(
                listener,
                &a.dir,
                ServeOptions {
                    no_range: a.no_range,
                    cut_after: a.cut_after,
                },
            )?;
            // The first line on stdout is the URL, so scripts and tests can
            // listen on port 0 and read where the server ended up.
            outln!("{}", server.url());
            eprintln!("serving {} (Ctrl-C to stop)", a.dir.display());
            loop {
                std::thread::park();
            }
        }
    }
}

/// How many bad rows are printed before the rest are only counted (as in
/// `sltd index build`).
const MAX_REPORTED_ROWS: u64 = 50;

fn publish(a: PublishArgs) -> anyhow::Result<u8> {
    let secrets = read_secrets(&a.keys)?;
    let signers: Vec<&SecretKey> = secrets.iter().collect();
    let mut p = Publisher::open(&a.dir)?;
    let file =
        File::open(&a.input).with_context(|| format!("cannot open {}", a.input.display()))?;
    let len = file.metadata().ok().map(|m| m.len());
    let bar = (std::io::stderr().is_terminal()).then(|| {
        indicatif::ProgressBar::new(len.unwrap_or(0)).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}",
            )
            .expect("static template"),
        )
    });
    let input: Box<dyn std::io::Read> = match &bar {
        Some(b) => Box::new(b.wrap_read(file)),
        None => Box::new(file),
    };
    let mut reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, input))
        .with_context(|| format!("cannot read {}", a.input.display()))?;
    let mut records = Vec::with_capacity(len.map_or(0, |l| (l / 40) as usize));
    let mut bad = 0u64;
    for row in reader.by_ref() {
        match row {
            Ok(r) => records.push(r),
            Err(e) if !e.is_fatal() => {
                bad += 1;
                if bad <= MAX_REPORTED_ROWS {
                    let msg = format!("{}: {e}", a.input.display());
                    match &bar {
                        Some(b) => b.println(msg),
                        None => eprintln!("{msg}"),
                    }
                }
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", a.input.display())),
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if bad > MAX_REPORTED_ROWS {
        eprintln!("... and {} more bad rows", bad - MAX_REPORTED_ROWS);
    }
    if bad > 0 && !a.skip_invalid {
        bail!(
            "{bad} bad row(s) in {}; nothing was published (fix them, or pass --skip-invalid to leave them out)",
            a.input.display()
        );
    }
    crate::index_cmd::report_unknown_countries(
        reader.stats(),
        &a.input,
        a.refuse_unknown_countries,
        "published",
    )?;
    let opts = PublishOptions {
        now: a.now.unwrap_or_else(now_unix),
        snapshot: a.snapshot,
        max_delete_permille: Some((a.max_delete_percent * 10.0).round().max(0.0) as u64),
    };
    let r = p.publish(records, &signers, opts)?;
    if r.unchanged {
        outln!("sequence {}: no change; checkpoint refreshed", r.sequence);
    } else {
        outln!(
            "sequence {}: {} upsert(s), {} delete(s), delta {} bytes, {} records, state root {}",
            r.sequence,
            r.upserts,
            r.deletes,
            r.delta_bytes,
            r.record_count,
            hex(&r.state_root)
        );
    }
    if let Some(s) = r.snapshot {
        outln!("snapshot at sequence {s}: {} bytes", r.snapshot_bytes);
    }
    if bad > 0 {
        outln!("{bad} bad row(s) skipped");
    }
    Ok(0)
}
