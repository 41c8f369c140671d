//! The master's stat cache: `(path, size, mtime, ctime, inode) -> sha256`, so a republish
//! rehashes only the files that changed; and the parallel hash-and-store of the files that did.
//!
//! File: `$CODEXPORT_HOME/master/statcache.tsv`, written atomically (0600) after each publish.
//! First line `codexport-statcache v1`, then one line per file:
//! `<sha256> <size> <mtime ns> <ctime ns> <inode>\t<relative path>`. Relative paths never hold a
//! tab or a newline (published paths have no control characters). The cache is only a hint: a
//! missing, unreadable or malformed file (or line) means "hash again", never an error.
//!
//! A cached hash is used only when size, mtime, ctime and inode all match and the blob is still
//! in the store. Like git's "racy clean" rule, an entry whose mtime or ctime is less than
//! [`RACY_WINDOW`] older than the publish is not saved, so a write within the same timestamp
//! tick as the hashing is always seen by the next publish.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::blobstore::BlobStore;

use super::scan::{FileStamp, ScannedFile};

/// File name inside the master directory.
pub const FILE_NAME: &str = "statcache.tsv";
const HEADER: &str = "codexport-statcache v1";
/// Entries younger than this (mtime or ctime) at publish time are not cached.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
/// Threads that hash and store files. More than the cores: storing a blob ends with an
/// fsync, which waits on the device, not the CPU; concurrent fsyncs share journal commits.
pub const IO_THREADS: usize = 16;

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

/// The cache: relative path -> [`Entry`].
#[derive(Debug, Default)]
pub struct StatCache {
    entries: HashMap<String, Entry>,
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
    /// Load `dir/statcache.tsv`; empty when missing or unreadable. Malformed lines are skipped.
    pub fn load(dir: &Path) -> Self {
        let Ok(file) = fs_err::File::open(dir.join(FILE_NAME)) else {
            return StatCache::default();
        };
        let mut lines = BufReader::new(file).lines();
        if !matches!(lines.next(), Some(Ok(h)) if h == HEADER) {
            return StatCache::default();
        }
        let entries = lines.map_while(Result::ok).filter_map(|l| parse_line(&l)).collect();
        StatCache { entries }
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
        self.entries
            .get(&file.rel)
            .filter(|e| e.size == file.size && e.stamp == file.stamp)
    }

    /// A cache of `files` and their hashes (same order), leaving out racily fresh entries.
    pub fn from_stored<'a>(files: impl IntoIterator<Item = (&'a ScannedFile, &'a Stored)>, now: SystemTime) -> Self {
        let limit = now
            .checked_sub(RACY_WINDOW)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        let entries = files
            .into_iter()
            .filter(|(f, s)| f.size == s.size && f.stamp.mtime_ns < limit && f.stamp.ctime_ns < limit)
            .map(|(f, s)| {
                let entry = Entry {
                    sha256: s.sha256.clone(),
                    size: s.size,
                    stamp: f.stamp,
                };
                (f.rel.clone(), entry)
            })
            .collect();
        StatCache { entries }
    }

    /// Write `dir/statcache.tsv` atomically (0600), sorted by path.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut rows: Vec<(&String, &Entry)> = self.entries.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::with_capacity(HEADER.len() + 1 + rows.len() * 140);
        out.push_str(HEADER);
        out.push('\n');
        for (rel, e) in rows {
            let s = &e.stamp;
            out.push_str(&format!(
                "{} {} {} {} {}\t{rel}\n",
                e.sha256, e.size, s.mtime_ns, s.ctime_ns, s.ino
            ));
        }
        crate::fs::write_atomic(&dir.join(FILE_NAME), out.as_bytes(), 0o600)
    }
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

/// Hash `files` and copy each into `store` unless the store already holds it, on
/// [`IO_THREADS`] threads. A file whose size and stamp match `cache` (and whose blob is in the
/// store) is not read at all. Results are in the order of `files`.
///
/// Each file is streamed through a fixed buffer: never a whole file in memory. When the store
/// already exists, a file is hashed first and copied only if its blob is missing; into an
/// empty store it is copied and hashed in one pass.
///
/// Errors: the first I/O error (reading a file, writing the store).
pub fn hash_and_store(files: &[&ScannedFile], store: &BlobStore, cache: &StatCache) -> std::io::Result<Vec<Stored>> {
    let hash_first = store.root().is_dir();
    store.remove_stale_temps()?;
    type One = (Stored, Option<crate::blobstore::Pending>);
    let one = |file: &&ScannedFile| -> std::io::Result<One> {
        if let Some(hit) = cache.lookup(file).filter(|e| store.contains(&e.sha256)) {
            let stored = Stored {
                sha256: hit.sha256.clone(),
                size: hit.size,
                cached: true,
            };
            return Ok((stored, None));
        }
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
    let results: std::io::Result<Vec<One>> = match rayon::ThreadPoolBuilder::new().num_threads(IO_THREADS).build() {
        Ok(pool) => pool.install(|| files.par_iter().map(one).collect()),
        // No threads to be had: do it on this one.
        Err(_) => files.iter().map(one).collect(),
    };
    let (stored, pending): (Vec<Stored>, Vec<_>) = results?.into_iter().unzip();
    // Durable before the document that names them is signed (publish writes it next).
    store.commit_pending(pending.into_iter().flatten().collect())?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(rel: &str, size: u64, mtime_ns: i128) -> ScannedFile {
        ScannedFile {
            rel: rel.into(),
            abs: rel.into(),
            size,
            mode: 0o644,
            class: crate::model::FileClass::Skill,
            stamp: FileStamp {
                mtime_ns,
                ctime_ns: mtime_ns,
                ino: 7,
            },
        }
    }

    #[test]
    fn round_trips_and_skips_racy_and_malformed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (old, fresh) = (
            scanned("skills/a/SKILL.md", 3, 1_000),
            scanned("b.md", 4, i128::MAX / 2),
        );
        let h = "a".repeat(64);
        let stored = |size| Stored {
            sha256: h.clone(),
            size,
            cached: false,
        };
        let (s3, s4) = (stored(3), stored(4));
        let cache = StatCache::from_stored([(&old, &s3), (&fresh, &s4)], SystemTime::now());
        assert_eq!(cache.len(), 1, "the racily fresh entry is left out");
        cache.save(dir.path()).unwrap();
        let mut text = fs_err::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        text.push_str("garbage line\nzz 1 2 3 4\tx\n");
        fs_err::write(dir.path().join(FILE_NAME), text).unwrap();
        let loaded = StatCache::load(dir.path());
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.lookup(&old).unwrap().sha256, h);
        let mut touched = old.clone();
        touched.stamp.mtime_ns += 1;
        assert!(loaded.lookup(&touched).is_none(), "a new mtime misses");
        let mut grown = old.clone();
        grown.size += 1;
        assert!(loaded.lookup(&grown).is_none(), "a new size misses");
        fs_err::write(dir.path().join(FILE_NAME), "not the header\n").unwrap();
        assert!(StatCache::load(dir.path()).is_empty());
    }

    #[test]
    fn hashes_in_parallel_and_reuses_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let mut files = Vec::new();
        for i in 0..40 {
            let abs = dir.path().join(format!("f{i}"));
            fs_err::write(&abs, format!("content {}", i % 10)).unwrap();
            let mut f = scanned(&format!("f{i}"), 9, 1_000);
            f.abs = abs;
            files.push(f);
        }
        let refs: Vec<&ScannedFile> = files.iter().collect();
        let first = hash_and_store(&refs, &store, &StatCache::default()).unwrap();
        assert!(first.iter().all(|s| !s.cached));
        assert_eq!(first[3].sha256, crate::fs::sha256_hex(b"content 3"));
        assert_eq!(first[13].sha256, first[3].sha256);
        let cache = StatCache::from_stored(files.iter().zip(&first), SystemTime::now());
        let second = hash_and_store(&refs, &store, &cache).unwrap();
        assert!(second.iter().all(|s| s.cached));
        assert_eq!(second[7].sha256, first[7].sha256);
    }
}
