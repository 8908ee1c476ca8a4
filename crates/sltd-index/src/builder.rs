//! Building an index file from records.
//!
//! Memory: the builder keeps every entry encoded (about 25 bytes for a
//! typical record) plus a 16-byte sort entry, then lays out the table and
//! records (about 34 bytes a record) and the confusable filter (1.5 bytes a
//! record) before copying them into the file's buffer. Peak is therefore
//! about 75 bytes a record: 7.5 GB for 100 million records.
//!
//! Threads: the sort runs on two (split by the hash's top bit, its first
//! key), and the confusable filter is filled on a second thread from the
//! numbers the layout hands it as it places each entry (so the arena, read
//! in hash order, is read once). The bytes do not depend on it.

use std::io::{self, Write};
use std::path::Path;

use sltd_model::{DocumentNumber, Record};

use crate::IndexError;
use crate::confusable::ConfusableFilter;
use crate::format::{
    BUCKET_LEN, BucketHead, CHUNK_SUM_LEN, DEFAULT_CHUNK_SHIFT, DEFAULT_SEED, Entry,
    FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR, HEADER_LEN, Header, IndexKind, LINE, MAX_BASE,
    MAX_PROBE_LIMIT, MAX_REL_OFFSET, MAX_STATE_CODES, RawEntry, SLOTS, STATE_CODE_LEN,
    TOMBSTONE_CODE, encode_bucket, encode_entry, fingerprint, hash_number, home_bucket,
    states_section, u64_at,
};
use crate::reader::{chunk_sums, content_id};

/// Target average number of keys per home bucket. With 16 slots a bucket,
/// about 1% of buckets overflow into the next one at this load.
const TARGET_LOAD: f64 = 9.0;

/// What goes into the header besides the records.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub kind: IndexKind,
    /// Creation time written to the header, Unix seconds. Part of the output
    /// bytes, so fix it for reproducible builds.
    pub created_at: i64,
    pub feed_sequence: u64,
    pub state_root: [u8; 32],
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            kind: IndexKind::Base,
            created_at: 0,
            feed_sequence: 0,
            state_root: [0; 32],
        }
    }
}

/// Figures about a finished build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Entries pushed.
    pub input: u64,
    /// Entries stored.
    pub stored: u64,
    /// Entries dropped because another entry had the same key.
    pub duplicates: u64,
    /// Buckets whose keys continue in the next bucket.
    pub spilling_buckets: u64,
    pub file_len: u64,
}

/// A built index held in memory.
#[derive(Debug)]
pub struct BuiltIndex {
    pub bytes: Vec<u8>,
    pub header: Header,
    pub stats: BuildStats,
}

impl BuiltIndex {
    /// Writes the index to `path` atomically; see [`write_atomically`].
    pub fn write_to(&self, path: &Path) -> Result<(), IndexError> {
        write_atomically(path, &self.bytes)
    }
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    hash: u64,
    /// Offset of the encoded entry in the arena, with
    /// [`DELETION_FLAG`] set for a deletion.
    at: u64,
}

/// Marks a deletion in [`Pending::at`] (arena offsets stay far below it),
/// so entries can be counted by kind without reading the arena.
const DELETION_FLAG: u64 = 1 << 63;

impl Pending {
    fn offset(&self) -> usize {
        (self.at & !DELETION_FLAG) as usize
    }

    fn is_deletion(&self) -> bool {
        self.at & DELETION_FLAG != 0
    }
}

/// Collects entries and lays them out as an index file.
///
/// Duplicate keys: when several entries share a key, the one kept is the
/// greatest by [`Record::precedence`] (the latest report wins); in a segment a
/// deletion ranks below any record. The number dropped is in [`BuildStats`]
/// and in the header.
pub struct IndexBuilder {
    opts: BuildOptions,
    arena: Vec<u8>,
    pending: Vec<Pending>,
    /// 0: every core.
    threads: usize,
}

/// Below this many entries a build sorts on one thread.
const PARALLEL_SORT_MIN: usize = 1 << 16;
/// Numbers handed to the filter at a time: small enough to stay in cache,
/// each batch inserted in line order.
const FILTER_BATCH: usize = 1 << 16;
/// Batches queued for the filter thread.
const FILTER_BATCHES_IN_FLIGHT: usize = 4;

fn new_filter(records: u64) -> Result<ConfusableFilter, IndexError> {
    ConfusableFilter::with_capacity(records).map_err(|e| IndexError::Build {
        reason: format!("cannot allocate the confusable filter: {e}"),
    })
}

/// The table and records sections of a build, and what laying them out
/// found.
struct Layout {
    table: Vec<u8>,
    records: Vec<u8>,
    bucket_count: u64,
    max_probe: u64,
    spilling: u64,
}

// Not derived: the arena can hold gigabytes.
impl std::fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBuilder")
            .field("opts", &self.opts)
            .field("entries", &self.pending.len())
            .field("arena_bytes", &self.arena.len())
            .finish()
    }
}

impl IndexBuilder {
    pub fn new(opts: BuildOptions) -> Self {
        Self {
            opts,
            arena: Vec::new(),
            pending: Vec::new(),
            threads: 0,
        }
    }

    /// Builds on at most `threads` threads (0, the default: every core).
    /// The output bytes do not depend on it.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Reserves room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.pending.reserve(n);
        self.arena.reserve(n * 24);
    }

    /// Entries pushed so far.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a record.
    pub fn push(&mut self, record: Record) {
        self.push_entry(Entry::Record(record)).ok();
    }

    /// Adds an entry; deletions are only allowed in a segment.
    pub fn push_entry(&mut self, entry: Entry) -> Result<(), IndexError> {
        if matches!(entry, Entry::Deleted(_)) && self.opts.kind != IndexKind::Segment {
            return Err(IndexError::Build {
                reason: "a deletion can only be stored in a segment".into(),
            });
        }
        let hash = hash_number(&entry.key().number, DEFAULT_SEED);
        let at = self.arena.len() as u64;
        encode_entry(&entry, &mut self.arena);
        let flag = if matches!(entry, Entry::Deleted(_)) {
            DELETION_FLAG
        } else {
            0
        };
        self.pending.push(Pending {
            hash,
            at: at | flag,
        });
        Ok(())
    }

    fn raw(&self, p: &Pending) -> RawEntry<'_> {
        // Every pending entry was encoded by `encode_entry`, so it parses.
        RawEntry::parse(&self.arena[p.offset()..]).expect("builder arena holds valid entries")
    }

    fn decode(&self, p: &Pending) -> Entry {
        self.raw(p)
            .decode(true)
            .expect("builder arena holds valid entries")
    }

    /// Lays out the file.
    pub fn finish(mut self) -> Result<BuiltIndex, IndexError> {
        let input = self.pending.len() as u64;
        let mut pending = std::mem::take(&mut self.pending);
        self.sort(&mut pending);
        // `dedup_by` keeps the first of each run of equal keys.
        pending.dedup_by(|later, first| {
            later.hash == first.hash && self.decode(later).key() == self.decode(first).key()
        });
        let kept = pending;
        let duplicates = input - kept.len() as u64;
        let n = kept.len();
        let home_buckets = ((n as f64 / TARGET_LOAD).ceil() as u64).max(1);
        if home_buckets > u64::from(u32::MAX) {
            return Err(IndexError::Build {
                reason: format!("{n} records is more than one index can hold"),
            });
        }
        // The layout reads every entry once, in table order; it hands each
        // record's state and number on, and the filter is filled on a
        // second thread meanwhile.
        let records = kept.iter().filter(|p| !p.is_deletion()).count() as u64;
        let mut seen_states = vec![0u64; MAX_STATE_CODES as usize / 64];
        let (laid_out, filter) = std::thread::scope(|s| {
            let threaded = self.thread_count() > 1;
            let (numbers_tx, numbers_rx) =
                std::sync::mpsc::sync_channel::<Vec<DocumentNumber>>(FILTER_BATCHES_IN_FLIGHT);
            let filler = threaded.then(|| {
                s.spawn(move || {
                    let mut filter = new_filter(records)?;
                    for batch in numbers_rx {
                        filter.insert_many(&batch);
                    }
                    Ok::<_, IndexError>(filter)
                })
            });
            let mut inline = if threaded {
                None
            } else {
                Some(new_filter(records))
            };
            let mut batch = Vec::with_capacity(FILTER_BATCH);
            let mut flush = |batch: &mut Vec<DocumentNumber>| match &mut inline {
                Some(Ok(filter)) => {
                    filter.insert_many(batch);
                    batch.clear();
                }
                Some(Err(_)) => batch.clear(),
                // A failed filter thread has dropped its end: its error
                // is reported below.
                None => {
                    let _ =
                        numbers_tx.send(std::mem::replace(batch, Vec::with_capacity(FILTER_BATCH)));
                }
            };
            let laid_out = self.lay_out(&kept, home_buckets, &mut |raw| {
                if raw.status == TOMBSTONE_CODE {
                    return;
                }
                let code = usize::from(raw.state);
                seen_states[code / 64] |= 1 << (code % 64);
                batch.push(raw.number().expect("builder arena holds valid entries"));
                if batch.len() == FILTER_BATCH {
                    flush(&mut batch);
                }
            });
            flush(&mut batch);
            drop(numbers_tx);
            let filter = match filler {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => inline.unwrap_or_else(|| new_filter(records)),
            };
            (laid_out, filter)
        });
        let Layout {
            table,
            records,
            bucket_count: bucket,
            max_probe,
            spilling,
        } = laid_out?;
        let filter = filter?;
        let states = states_section(&seen_states);
        let filter_records = filter.numbers();
        drop(kept);
        drop(self.arena);
        let state_count = (states.len() / STATE_CODE_LEN) as u32;
        let filter_bytes = filter.as_bytes();
        let filter_len = filter_bytes.len() as u64;
        let table_len = table.len();
        let records_len = records.len();
        let sections_len = table_len + records_len + states.len() + filter_bytes.len();
        let chunk_count = sections_len.div_ceil(1 << DEFAULT_CHUNK_SHIFT);
        let mut bytes = Vec::with_capacity(HEADER_LEN + sections_len + chunk_count * CHUNK_SUM_LEN);
        bytes.resize(HEADER_LEN, 0);
        bytes.extend_from_slice(&table);
        drop(table);
        bytes.extend_from_slice(&records);
        drop(records);
        bytes.extend_from_slice(&states);
        bytes.extend_from_slice(filter_bytes);
        drop(filter);
        let table = &bytes[HEADER_LEN..HEADER_LEN + table_len];
        let records = &bytes[HEADER_LEN + table_len..HEADER_LEN + table_len + records_len];
        let table_checksum = xxhash_rust::xxh3::xxh3_64(table);
        let records_checksum = xxhash_rust::xxh3::xxh3_64(records);
        let content_id = content_id(table, records);
        let sums = chunk_sums(&bytes[HEADER_LEN..], DEFAULT_CHUNK_SHIFT);
        let sums_checksum = xxhash_rust::xxh3::xxh3_64(&sums);
        bytes.extend_from_slice(&sums);
        let mut header = Header {
            version_major: FORMAT_VERSION_MAJOR,
            version_minor: FORMAT_VERSION_MINOR,
            kind: self.opts.kind,
            record_count: n as u64,
            bucket_count: bucket,
            home_bucket_count: home_buckets,
            table_offset: HEADER_LEN as u64,
            table_len: table_len as u64,
            records_offset: (HEADER_LEN + table_len) as u64,
            records_len: records_len as u64,
            hash_seed: DEFAULT_SEED,
            max_probe: max_probe as u32,
            duplicates_dropped: duplicates,
            created_at: self.opts.created_at,
            feed_sequence: self.opts.feed_sequence,
            state_root: self.opts.state_root,
            content_id,
            table_checksum,
            records_checksum,
            state_count,
            filter_len,
            filter_records,
            chunk_shift: DEFAULT_CHUNK_SHIFT,
            sums_checksum,
            header_checksum: 0,
        };
        let encoded = header.encode();
        header.header_checksum = u64_at(&encoded, HEADER_LEN - 8);
        bytes[..HEADER_LEN].copy_from_slice(&encoded);
        let stats = BuildStats {
            input,
            stored: n as u64,
            duplicates,
            spilling_buckets: spilling,
            file_len: bytes.len() as u64,
        };
        Ok(BuiltIndex {
            bytes,
            header,
            stats,
        })
    }

    /// Sorts by hash, then key, then precedence (greatest first): equal
    /// keys end up adjacent with the entry to keep first, and the order
    /// depends only on the set of entries. On two or more threads the
    /// entries are first split by the top bit of their hash, which is the
    /// first sort key, so the halves sort alone and the result is the same.
    fn sort(&self, pending: &mut [Pending]) {
        let cmp = |a: &Pending, b: &Pending| {
            a.hash.cmp(&b.hash).then_with(|| {
                let (ea, eb) = (self.decode(a), self.decode(b));
                ea.key()
                    .number
                    .cmp(&eb.key().number)
                    .then(ea.key().state.cmp(&eb.key().state))
                    .then_with(|| entry_precedence(&eb, &ea))
            })
        };
        if self.thread_count() < 2 || pending.len() < PARALLEL_SORT_MIN {
            pending.sort_unstable_by(cmp);
            return;
        }
        // In-place partition: lower half of the hash space first.
        let (mut lo, mut hi) = (0, pending.len());
        while lo < hi {
            if pending[lo].hash >> 63 == 0 {
                lo += 1;
            } else {
                hi -= 1;
                pending.swap(lo, hi);
            }
        }
        let (low, high) = pending.split_at_mut(lo);
        std::thread::scope(|s| {
            s.spawn(|| high.sort_unstable_by(cmp));
            low.sort_unstable_by(cmp);
        });
    }

    /// Threads the build may use: as set by [`IndexBuilder::threads`], or
    /// every core.
    fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// The table and the records section, from the sorted entries: buckets
    /// filled in order, spilling into the next (`docs/FORMAT.md`, *Spill*).
    /// `on_entry` sees every entry as it is placed.
    fn lay_out(
        &self,
        kept: &[Pending],
        home_buckets: u64,
        on_entry: &mut impl FnMut(&RawEntry<'_>),
    ) -> Result<Layout, IndexError> {
        let n = kept.len();
        let mut table: Vec<u8> = Vec::with_capacity((home_buckets as usize + 8) * BUCKET_LEN);
        let mut packer = LinePacker::new(self.arena.len() + self.arena.len() / 16);
        let mut carry: Vec<(Pending, u64)> = Vec::new(); // (entry, home bucket)
        let mut next = 0usize;
        let mut max_probe = 1u64;
        let mut spilling = 0u64;
        let mut bucket = 0u64;
        let mut in_bucket: Vec<(Pending, u64)> = Vec::with_capacity(SLOTS * 4);
        while bucket < home_buckets || !carry.is_empty() {
            in_bucket.clear();
            in_bucket.append(&mut carry);
            while next < n && home_bucket(kept[next].hash, home_buckets) == bucket {
                in_bucket.push((kept[next], bucket));
                next += 1;
            }
            let spill = in_bucket.len() > SLOTS;
            if spill {
                carry.extend(in_bucket.drain(SLOTS..));
                spilling += 1;
            }
            for (_, home) in &in_bucket {
                max_probe = max_probe.max(bucket - home + 1);
            }
            let (head, fps, offsets) = self.place(&in_bucket, spill, &mut packer, on_entry)?;
            table.extend_from_slice(&encode_bucket(head, &fps, &offsets));
            bucket += 1;
        }
        if max_probe > u64::from(MAX_PROBE_LIMIT) {
            return Err(IndexError::Build {
                reason: format!("a spill chain of {max_probe} buckets is too long"),
            });
        }
        Ok(Layout {
            table,
            records: packer.records,
            bucket_count: bucket,
            max_probe,
            spilling,
        })
    }

    /// Places one bucket's entries in the records section; see
    /// [`LinePacker`].
    fn place(
        &self,
        entries: &[(Pending, u64)],
        spill: bool,
        packer: &mut LinePacker,
        on_entry: &mut impl FnMut(&RawEntry<'_>),
    ) -> Result<(BucketHead, Vec<u16>, Vec<usize>), IndexError> {
        let raws: Vec<&[u8]> = entries
            .iter()
            .map(|(p, _)| {
                let raw = self.raw(p);
                on_entry(&raw);
                raw.bytes
            })
            .collect();
        // Largest first packs lines tighter; ties keep slot order.
        let mut order: Vec<usize> = (0..raws.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(raws[i].len()));
        let mut absolute = vec![0usize; raws.len()];
        for i in order {
            absolute[i] = packer.put(raws[i]);
        }
        let base = absolute.iter().copied().min().unwrap_or(0);
        if base as u64 > MAX_BASE {
            return Err(IndexError::Build {
                reason: "records section exceeds 1 TiB".into(),
            });
        }
        let offsets: Vec<usize> = absolute.iter().map(|&a| a - base).collect();
        debug_assert!(offsets.iter().all(|&o| o <= MAX_REL_OFFSET));
        let fps = entries.iter().map(|(p, _)| fingerprint(p.hash)).collect();
        Ok((
            BucketHead {
                base: base as u64,
                count: entries.len(),
                spill,
            },
            fps,
            offsets,
        ))
    }
}

/// Lines a record may still be placed into, behind the newest one. Bounds
/// how far apart one bucket's records can be: at most `(OPEN_LINES + 16)`
/// lines, 2 KiB, well inside the 12-bit slot offset.
const OPEN_LINES: usize = 16;

/// Packs entries into 64-byte lines so that none crosses a line: each entry
/// goes into the one of the last few lines with the least room that still
/// fits it (best fit),
/// or starts a new line. Unused bytes stay zero.
struct LinePacker {
    records: Vec<u8>,
    /// (line number, bytes used), oldest first.
    open: std::collections::VecDeque<(usize, usize)>,
}

impl LinePacker {
    fn new(capacity: usize) -> Self {
        Self {
            records: Vec::with_capacity(capacity),
            open: std::collections::VecDeque::with_capacity(OPEN_LINES + 1),
        }
    }

    /// Copies `raw` (at most one line long) in; returns its offset.
    fn put(&mut self, raw: &[u8]) -> usize {
        debug_assert!(raw.len() <= LINE);
        // Best fit: the open line with the least room that still fits.
        let slot = self
            .open
            .iter_mut()
            .filter(|(_, used)| LINE - *used >= raw.len())
            .min_by_key(|(_, used)| LINE - *used);
        let at = match slot {
            Some((line, used)) => {
                let at = *line * LINE + *used;
                *used += raw.len();
                at
            }
            None => {
                let line = self.records.len() / LINE;
                self.records.resize(self.records.len() + LINE, 0);
                self.open.push_back((line, raw.len()));
                if self.open.len() > OPEN_LINES {
                    self.open.pop_front();
                }
                line * LINE
            }
        };
        self.records[at..at + raw.len()].copy_from_slice(raw);
        at
    }
}

/// Which of two entries for the same key is kept: the greater.
fn entry_precedence(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Entry::Record(x), Entry::Record(y)) => x.precedence(y),
        (Entry::Deleted(_), Entry::Record(_)) => Less,
        (Entry::Record(_), Entry::Deleted(_)) => Greater,
        (Entry::Deleted(_), Entry::Deleted(_)) => Equal,
    }
}

/// How [`write_atomically`] names its temporary files: hidden, and never
/// taken for a file of the directory it writes into.
const TEMPORARY_PREFIX: &str = ".sltd-";
const TEMPORARY_SUFFIX: &str = ".tmp";

/// Whether `file_name` is a temporary file of [`write_atomically`], left
/// behind by a writer killed before its rename (safe to remove under the
/// writer's lock).
pub fn is_leftover_temporary(file_name: &str) -> bool {
    file_name.starts_with(TEMPORARY_PREFIX) && file_name.ends_with(TEMPORARY_SUFFIX)
}

/// Replaces `path` with `bytes` so that a reader sees the old file or the new
/// one, never a mix, even after a crash; see [`write_atomically_with`].
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    write_atomically_with(path, |w| w.write_all(bytes)).map_err(|source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file with `write` so that a reader sees the old file or the new
/// one, never a mix, even after a crash: write a temporary file in the same
/// directory, fsync it, rename it over `path`, then fsync the directory.
///
/// A symbolic link is followed: its target is replaced and the link kept.
/// A path that exists and is not a regular file (`/dev/null`,
/// `/dev/stdout`, a FIFO) has nothing to replace and is written into, as a
/// shell redirection would; a directory is refused by the open.
pub fn write_atomically_with<E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let target = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            write(&mut f)?;
            return Ok(f.flush()?);
        }
        Ok(_) => std::fs::canonicalize(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e.into()),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMPORARY_PREFIX).suffix(TEMPORARY_SUFFIX);
    // Readable by the daemon's user; temporary files default to 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    Ok(())
}
