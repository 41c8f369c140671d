//! The master's stat cache: `(path, size, mtime, ctime, inode) -> sha256`, so a republish
//! rehashes only the files that changed; and the parallel hashing of the files that did.
//!
//! File: `$CODEXPORT_HOME/master/statcache.tsv`, written atomically (0600) by a publish whose
//! cache differs from the one it started from (on a thread beside signing). Lines:
//! - `codexport-statcache v3` (a file of another version, from older builds, is ignored:
//!   everything is hashed once more; v2 also recorded blob store shards, which a publish no
//!   longer fills);
//! - `<sha256> <size> <mtime ns> <ctime ns> <inode>\t<relative path>`: one file, sorted by path;
//! - `end <number of file lines>`: last. A file without it (torn by a crash: the file is a
//!   hint and not fsynced) is ignored as a whole.
//!
//! Relative paths never hold a tab or a newline (published paths have no control characters).
//! The cache is only a hint: a missing, unreadable or malformed file means "hash again", never
//! an error.
//!
//! A cached hash is used only when size, mtime, ctime and inode all match. Like git's "racy
//! clean" rule, a file whose mtime or ctime is less than [`RACY_WINDOW`] older than the publish
//! is not recorded, so a change within the same timestamp tick is always seen by the next
//! publish.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use super::scan::{FileStamp, ScannedFile};

/// File name inside the master directory.
pub const FILE_NAME: &str = "statcache.tsv";
const HEADER: &str = "codexport-statcache v3";
/// Entries younger than this (mtime or ctime) at publish time are not cached.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
/// Up to this many files to read, [`hash_files`] stays on the calling thread: starting
/// threads costs more than hashing a few edited files.
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

/// The cache: relative path -> [`Entry`], sorted by path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatCache {
    entries: Vec<(String, Entry)>,
}

/// The hash of one file, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Hashed {
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
            if let Some(entry) = parse_line(&line) {
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
    /// fresh entries.
    pub fn record(files: &[&ScannedFile], hashed: &[Hashed], now: SystemTime) -> StatCache {
        let limit = racy_limit(now);
        let fresh = |s: &FileStamp| s.mtime_ns >= limit || s.ctime_ns >= limit;
        let mut entries: Vec<(String, Entry)> = (0..files.len().min(hashed.len()))
            .filter(|&i| files[i].size == hashed[i].size && !fresh(&files[i].stamp))
            .map(|i| {
                let entry = Entry {
                    sha256: hashed[i].sha256.clone(),
                    size: hashed[i].size,
                    stamp: files[i].stamp,
                };
                (files[i].rel.clone(), entry)
            })
            .collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        StatCache { entries }
    }

    /// Write the cache to `dir/statcache.tsv` atomically (0600). No fsync: a torn file has no
    /// `end` line and is ignored.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut out = String::with_capacity(64 + self.entries.len() * 160);
        out.push_str(HEADER);
        out.push('\n');
        // Writing into a String cannot fail. Stamps go out as i64 (ns until 2262): formatting
        // an i128 costs several times more, and 10k lines of them showed in the profile.
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

/// Hash `files`; a file whose size and stamp match `cache` is not read at all. Results are in
/// the order of `files`. Nothing is copied: the master serves published files from where they
/// are ([`super::blob_origin`]).
///
/// Cache hits are settled on this thread; only the misses are read, on [`hash_threads`]
/// threads when there are more than [`SERIAL_MISSES`] of them (a warm republish after one edit
/// starts no threads). Each file is streamed through a fixed 64 KiB buffer: never a whole file
/// in memory.
///
/// Errors: the first I/O error reading a file, naming it.
pub fn hash_files(files: &[&ScannedFile], cache: &StatCache) -> std::io::Result<Vec<Hashed>> {
    let mut out: Vec<Option<Hashed>> = cache
        .lookup_all(files)
        .into_iter()
        .map(|hit| {
            hit.map(|e| Hashed {
                sha256: e.sha256.clone(),
                size: e.size,
                cached: true,
            })
        })
        .collect();
    let misses: Vec<usize> = (0..files.len()).filter(|&i| out[i].is_none()).collect();
    let one = |&i: &usize| -> std::io::Result<Hashed> {
        let (sha256, size) = crate::fs::sha256_file(&files[i].abs)?;
        Ok(Hashed {
            sha256,
            size,
            cached: false,
        })
    };
    let pool = (misses.len() > SERIAL_MISSES)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(hash_threads()).build().ok())
        .flatten();
    let results: std::io::Result<Vec<Hashed>> = match pool {
        Some(pool) => pool.install(|| misses.par_iter().map(one).collect()),
        // Few misses, or no threads to be had: do it on this one.
        None => misses.iter().map(one).collect(),
    };
    for (i, hashed) in misses.into_iter().zip(results?) {
        out[i] = Some(hashed);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Threads that hash: one per core, and at least 4, since a file not yet in the page cache
/// waits on the device rather than a core.
pub fn hash_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()).max(4)
}

#[cfg(test)]
#[path = "statcache_tests.rs"]
mod tests;
