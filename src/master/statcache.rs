//! The master's stat cache: `(path, size, mtime, ctime, inode) -> sha256`, so a republish
//! rehashes only the files that changed; and the parallel hash-and-store of the files that did.
//!
//! File: `$CODEXPORT_HOME/master/statcache.tsv`, written atomically (0600) by a publish whose
//! cache differs from the one it started from (on a thread beside signing). Lines:
//! - `codexport-statcache v2` (a v1 file, from older builds, is ignored: everything is hashed
//!   once more);
//! - `shard <2 hex> <mtime ns> <ctime ns> <inode>`: the stamp of a blob store shard directory;
//! - `<sha256> <size> <mtime ns> <ctime ns> <inode>\t<relative path>`: one file, sorted by path;
//! - `end <number of file lines>`: last. A file without it (torn by a crash: the file is a
//!   hint and not fsynced) is ignored as a whole.
//!
//! Relative paths never hold a tab or a newline (published paths have no control characters).
//! The cache is only a hint: a missing, unreadable or malformed file means "hash again", never
//! an error.
//!
//! A cached hash is used only when size, mtime, ctime and inode all match and the blob is still
//! in the store. The store check costs no lookup per blob: a shard directory whose stamp is
//! the one recorded has lost no blob since (removing a file changes its directory's mtime), so
//! only blobs in other shards are looked up. Like git's "racy clean" rule, a file or shard
//! whose mtime or ctime is less than [`RACY_WINDOW`] older than the publish is not recorded,
//! so a change within the same timestamp tick is always seen by the next publish.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::blobstore::BlobStore;

use super::scan::{FileStamp, ScannedFile};

/// File name inside the master directory.
pub const FILE_NAME: &str = "statcache.tsv";
const HEADER: &str = "codexport-statcache v2";
/// Entries younger than this (mtime or ctime) at publish time are not cached.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
/// Threads that hash and store files. More than the cores: storing a blob ends with an
/// fsync, which waits on the device, not the CPU; concurrent fsyncs share journal commits.
pub const IO_THREADS: usize = 16;
/// Up to this many files to read, [`hash_and_store`] stays on the calling thread: starting
/// [`IO_THREADS`] threads costs more than hashing a few edited files.
pub const SERIAL_MISSES: usize = 32;

/// One cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
    /// Size in bytes when hashed.
    pub size: u64,
    /// mtime, ctime and inode when hashed.
    pub stamp: FileStamp,
}

/// The cache: relative path -> [`Entry`] (sorted by path), and the blob store's shard stamps.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatCache {
    entries: Vec<(String, Entry)>,
    shards: Vec<(u8, FileStamp)>,
}

/// The hash of one file, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Lowercase hex sha256.
    pub sha256: String,
    /// Size in bytes (as hashed).
    pub size: u64,
    /// True when the file was not read (cache hit).
    pub cached: bool,
}

impl StatCache {
    /// Load `dir/statcache.tsv`; empty when missing, unreadable, of another version or torn.
    /// Malformed lines are skipped.
    pub fn load(dir: &Path) -> Self {
        let Ok(file) = fs_err::File::open(dir.join(FILE_NAME)) else {
            return StatCache::default();
        };
        let mut lines = BufReader::new(file).lines();
        if !matches!(lines.next(), Some(Ok(h)) if h == HEADER) {
            return StatCache::default();
        }
        let mut cache = StatCache::default();
        for line in lines.map_while(Result::ok) {
            if let Some(count) = line.strip_prefix("end ") {
                if count.parse() != Ok(cache.entries.len()) {
                    break;
                }
                if !cache.entries.is_sorted_by(|a, b| a.0 < b.0) {
                    cache.entries.sort_by(|a, b| a.0.cmp(&b.0));
                    cache.entries.dedup_by(|a, b| a.0 == b.0);
                }
                return cache;
            }
            if let Some(shard) = line.strip_prefix("shard ") {
                cache.shards.extend(parse_shard(shard));
                cache.shards.sort_by_key(|(s, _)| *s);
            } else if let Some(entry) = parse_line(&line) {
                cache.entries.push(entry);
            }
        }
        // No end line, or the wrong count: torn or edited. Hash again.
        StatCache::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached hash of `file`, when its size and stamp are unchanged.
    pub fn lookup(&self, file: &ScannedFile) -> Option<&Entry> {
        let i = self.entries.binary_search_by(|e| e.0.as_str().cmp(&file.rel)).ok()?;
        Some(&self.entries[i].1).filter(|e| e.size == file.size && e.stamp == file.stamp)
    }

    /// The shards (first byte of a hash) whose directory has the stamp recorded: no blob that
    /// was in them when the cache was saved has been removed since.
    fn unchanged_shards(&self, store: &BlobStore) -> [bool; 256] {
        let mut ok = [false; 256];
        if self.shards.is_empty() {
            return ok;
        }
        let now: std::collections::HashMap<u8, FileStamp> = shard_stamps(store).into_iter().collect();
        for (shard, stamp) in &self.shards {
            ok[*shard as usize] = now.get(shard) == Some(stamp);
        }
        ok
    }

    /// The cached entry of each of `files` (same order) whose size and stamp are unchanged. One
    /// merge pass when `files` is sorted by path (as a scan returns it), else a binary search
    /// each.
    fn lookup_all<'a>(&'a self, files: &[&ScannedFile]) -> Vec<Option<&'a Entry>> {
        if !files.is_sorted_by(|a, b| a.rel <= b.rel) {
            return files.iter().map(|f| self.lookup(f)).collect();
        }
        let mut next = 0;
        files
            .iter()
            .map(|f| {
                while next < self.entries.len() && self.entries[next].0 < f.rel {
                    next += 1;
                }
                let (rel, entry) = self.entries.get(next)?;
                (rel == &f.rel && entry.size == f.size && entry.stamp == f.stamp).then_some(entry)
            })
            .collect()
    }

    /// The cache a publish leaves: `files` and their hashes (same order), leaving out racily
    /// fresh entries, with the stamps of the shard directories of `store` as they are now
    /// (racily fresh ones left out). Call it after every blob of the publish is committed.
    pub fn record(files: &[&ScannedFile], stored: &[Stored], store: &BlobStore, now: SystemTime) -> StatCache {
        let limit = racy_limit(now);
        let fresh = |s: &FileStamp| s.mtime_ns >= limit || s.ctime_ns >= limit;
        let mut entries: Vec<(String, Entry)> = (0..files.len().min(stored.len()))
            .filter(|&i| files[i].size == stored[i].size && !fresh(&files[i].stamp))
            .map(|i| {
                let entry = Entry {
                    sha256: stored[i].sha256.clone(),
                    size: stored[i].size,
                    stamp: files[i].stamp,
                };
                (files[i].rel.clone(), entry)
            })
            .collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        let shards = shard_stamps(store).into_iter().filter(|(_, s)| !fresh(s)).collect();
        StatCache { entries, shards }
    }

    /// Write the cache to `dir/statcache.tsv` atomically (0600). No fsync: a torn file has no
    /// `end` line and is ignored.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut out = String::with_capacity(64 + self.shards.len() * 48 + self.entries.len() * 160);
        out.push_str(HEADER);
        out.push('\n');
        // Writing into a String cannot fail. Stamps go out as i64 (ns until 2262): formatting
        // an i128 costs several times more, and 10k lines of them showed in the profile.
        for (shard, s) in &self.shards {
            let _ = writeln!(out, "shard {shard:02x} {} {} {}", ns(s.mtime_ns), ns(s.ctime_ns), s.ino);
        }
        for (rel, e) in &self.entries {
            let s = &e.stamp;
            let _ = writeln!(
                out,
                "{} {} {} {} {}\t{}",
                e.sha256,
                e.size,
                ns(s.mtime_ns),
                ns(s.ctime_ns),
                s.ino,
                rel
            );
        }
        let _ = writeln!(out, "end {}", self.entries.len());
        crate::fs::write_atomic_unsynced(&dir.join(FILE_NAME), out.as_bytes(), 0o600)
    }
}

/// A stamp for the file: as i64 when it fits (always, until the year 2262), else as it is.
fn ns(v: i128) -> NsText {
    match i64::try_from(v) {
        Ok(small) => NsText::Small(small),
        Err(_) => NsText::Large(v),
    }
}

enum NsText {
    Small(i64),
    Large(i128),
}

impl std::fmt::Display for NsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NsText::Small(v) => v.fmt(f),
            NsText::Large(v) => v.fmt(f),
        }
    }
}

/// Stamps newer than this many ns since the epoch (`now - RACY_WINDOW`) are racily fresh.
fn racy_limit(now: SystemTime) -> i128 {
    now.checked_sub(RACY_WINDOW)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The stamp of every shard directory (`<store>/<2 hex>/`) present; empty when the store
/// cannot be read.
fn shard_stamps(store: &BlobStore) -> Vec<(u8, FileStamp)> {
    let Ok(entries) = std::fs::read_dir(store.root()) else {
        return Vec::new();
    };
    let mut out: Vec<(u8, FileStamp)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let shard = name
                .to_str()
                .filter(|n| n.len() == 2)
                .and_then(|n| u8::from_str_radix(n, 16).ok())?;
            // Lowercase only: the store never names a shard `AB`.
            let meta = e
                .metadata()
                .ok()
                .filter(|m| m.is_dir() && name.to_str() == Some(&format!("{shard:02x}")))?;
            Some((shard, FileStamp::of(&meta)))
        })
        .collect();
    out.sort_by_key(|(shard, _)| *shard);
    out
}

fn parse_shard(text: &str) -> Option<(u8, FileStamp)> {
    let mut it = text.split(' ');
    let shard = it.next().filter(|h| h.len() == 2)?;
    let shard = u8::from_str_radix(shard, 16).ok()?;
    let stamp = FileStamp {
        mtime_ns: it.next()?.parse().ok()?,
        ctime_ns: it.next()?.parse().ok()?,
        ino: it.next()?.parse().ok()?,
    };
    it.next().is_none().then_some((shard, stamp))
}

fn parse_line(line: &str) -> Option<(String, Entry)> {
    let (head, rel) = line.split_once('\t')?;
    let mut it = head.split(' ');
    let sha256 = it.next().filter(|h| crate::blobstore::is_sha256_hex(h))?.to_string();
    let size = it.next()?.parse().ok()?;
    let mtime_ns = it.next()?.parse().ok()?;
    let ctime_ns = it.next()?.parse().ok()?;
    let ino = it.next()?.parse().ok()?;
    if it.next().is_some() || rel.is_empty() {
        return None;
    }
    let stamp = FileStamp {
        mtime_ns,
        ctime_ns,
        ino,
    };
    Some((rel.to_string(), Entry { sha256, size, stamp }))
}

/// Hash `files` and copy each into `store` unless the store already holds it. A file whose
/// size and stamp match `cache` (and whose blob is in the store) is not read at all. Results
/// are in the order of `files`.
///
/// Cache hits are settled on this thread (blob presence from the shard stamps, see the module
/// documentation); only the misses are read, on [`IO_THREADS`] threads when there are
/// more than [`SERIAL_MISSES`] of them (a warm republish after one edit starts no threads).
///
/// Each file is streamed through a fixed buffer: never a whole file in memory. When the store
/// already exists, a file is hashed first and copied only if its blob is missing; into an
/// empty store it is copied and hashed in one pass.
///
/// Errors: the first I/O error (reading a file, writing the store).
pub fn hash_and_store(files: &[&ScannedFile], store: &BlobStore, cache: &StatCache) -> std::io::Result<Vec<Stored>> {
    let hash_first = store.root().is_dir();
    store.remove_stale_temps()?;
    let unchanged = cache.unchanged_shards(store);
    let present = |sha256: &str| {
        let shard = u8::from_str_radix(sha256.get(..2).unwrap_or("zz"), 16).ok();
        shard.is_some_and(|s| unchanged[s as usize]) || store.contains(sha256)
    };
    let mut out: Vec<Option<Stored>> = cache
        .lookup_all(files)
        .into_iter()
        .map(|hit| {
            let hit = hit.filter(|e| present(&e.sha256))?;
            Some(Stored {
                sha256: hit.sha256.clone(),
                size: hit.size,
                cached: true,
            })
        })
        .collect();
    let misses: Vec<usize> = (0..files.len()).filter(|&i| out[i].is_none()).collect();
    type One = (Stored, Option<crate::blobstore::Pending>);
    let one = |&i: &usize| -> std::io::Result<One> {
        let file = files[i];
        if hash_first {
            let (sha256, size) = crate::fs::sha256_file(&file.abs)?;
            if store.contains(&sha256) {
                let stored = Stored {
                    sha256,
                    size,
                    cached: false,
                };
                return Ok((stored, None));
            }
        }
        let (sha256, size, pending) = store.put_file_pending(&file.abs)?;
        let stored = Stored {
            sha256,
            size,
            cached: false,
        };
        Ok((stored, Some(pending)))
    };
    let pool = (misses.len() > SERIAL_MISSES)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(IO_THREADS).build().ok())
        .flatten();
    let results: std::io::Result<Vec<One>> = match pool {
        Some(pool) => pool.install(|| misses.par_iter().map(one).collect()),
        // Few misses, or no threads to be had: do it on this one.
        None => misses.iter().map(one).collect(),
    };
    let mut pending = Vec::new();
    for (i, (stored, p)) in misses.into_iter().zip(results?) {
        out[i] = Some(stored);
        pending.extend(p);
    }
    // Durable before the document that names them is signed (publish writes it next).
    store.commit_pending(pending)?;
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
#[path = "statcache_tests.rs"]
mod tests;
