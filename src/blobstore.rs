//! Content-addressed blob store (`<root>/<2 hex>/<64 hex>`), used by the master (`master/blobs`)
//! and the follower (`store/blobs`). Blobs are immutable: written once under their hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Up to this many blobs, [`BlobStore::commit_pending`] fsyncs each one instead of flushing the
/// whole file system.
pub const FEW_BLOBS: usize = 8;

/// A directory of blobs named by their sha256.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// True when `s` is 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl BlobStore {
    /// A store rooted at `root` (created lazily on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `sha256` lives (whether or not it exists). The caller must pass a
    /// validated hash ([`is_sha256_hex`]); anything else maps to a path that never exists.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        if !is_sha256_hex(sha256) {
            return self.root.join("invalid");
        }
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// Every blob present: (hash, size in bytes). Anything else in the directory (temp files,
    /// stray names) is not listed.
    pub fn list(&self) -> std::io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let top = match fs_err::read_dir(&self.root) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for shard in top {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs_err::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata()?;
                if is_sha256_hex(&name) && meta.is_file() && entry.path() == self.path_of(&name) {
                    out.push((name, meta.len()));
                }
            }
        }
        Ok(out)
    }

    /// True when the blob is present.
    pub fn contains(&self, sha256: &str) -> bool {
        is_sha256_hex(sha256) && self.path_of(sha256).is_file()
    }

    /// Store bytes; returns their hash. A no-op when the blob already exists.
    pub fn put_bytes(&self, bytes: &[u8]) -> std::io::Result<String> {
        let hash = crate::fs::sha256_hex(bytes);
        if !self.contains(&hash) {
            let path = self.path_of(&hash);
            self.create_dir(&hash[..2])?;
            crate::fs::write_atomic(&path, bytes, 0o600)?;
        }
        Ok(hash)
    }

    /// Copy `src` into a temp file in the store, hashing what is read: (temp, hash, size).
    fn copy_hashing(&self, src: &Path) -> std::io::Result<(tempfile::NamedTempFile, String, u64)> {
        let mut tmp = self.temp_file()?;
        let mut input = fs_err::File::open(src)?;
        let mut hashing = HashingWriter {
            inner: tmp.as_file_mut(),
            hasher: Sha256::new(),
            size: 0,
        };
        std::io::copy(&mut input, &mut hashing)?;
        let (hash, size) = (hex::encode(hashing.hasher.finalize()), hashing.size);
        Ok((tmp, hash, size))
    }

    /// Copy `src` into the store, hashing it in one pass (the file may change under us: the blob
    /// is named by what was actually read), without making anything durable: the content goes to a temp
    /// file in the store, which [`BlobStore::commit_pending`] later makes durable and moves into
    /// place with every other one (two `syncfs` calls instead of one fsync per blob). Returns
    /// (hash, size, the pending blob); dropping the pending blob deletes its temp file.
    pub fn put_file_pending(&self, src: &Path) -> std::io::Result<(String, u64, Pending)> {
        let (tmp, hash, size) = self.copy_hashing(src)?;
        let pending = Pending {
            path: tmp.into_temp_path(),
            sha256: hash.clone(),
        };
        Ok((hash, size, pending))
    }

    /// Make `pending` blobs durable and put them in place: flush the file system once (their
    /// data), rename each into place, flush once more (the renames). A crash before the renames
    /// leaves only `.incoming-*` temp files (removed by [`BlobStore::remove_stale_temps`]),
    /// never a blob whose name does not match its bytes.
    ///
    /// Up to [`FEW_BLOBS`] blobs (a sync after an edit), and off Linux, each file is
    /// fsynced instead, then each shard directory that received one: `syncfs` flushes every
    /// dirty page of the file system, including other programs' writes, which costs more than
    /// a few fsyncs.
    pub fn commit_pending(&self, pending: Vec<Pending>) -> std::io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let per_file = pending.len() <= FEW_BLOBS || !crate::fs::CAN_DEFER_SYNC;
        if per_file {
            for p in &pending {
                fs_err::File::open(&p.path)?.sync_all()?;
            }
        } else {
            crate::fs::sync_file_system(&self.root)?;
        }
        let mut shards = std::collections::BTreeSet::new();
        let mut new_shard = false;
        for p in pending {
            if self.contains(&p.sha256) {
                continue;
            }
            let shard = &p.sha256[..2];
            // Each shard directory is checked (and made) once per batch, not once per blob.
            if !shards.contains(shard) {
                new_shard |= !self.root.join(shard).is_dir();
                self.create_dir(shard)?;
            }
            let dest = self.path_of(&p.sha256);
            p.path
                .persist(&dest)
                .map_err(|e| std::io::Error::other(format!("rename into {}: {}", dest.display(), e.error)))?;
            shards.insert(shard.to_string());
        }
        if per_file {
            for shard in &shards {
                crate::fs::sync_dir(&self.root.join(shard));
            }
            if new_shard {
                crate::fs::sync_dir(&self.root);
            }
        } else {
            crate::fs::sync_file_system(&self.root)?;
        }
        Ok(())
    }

    /// Remove temp files a crashed writer left in the store root (the caller holds the lock that
    /// makes it the only writer).
    pub fn remove_stale_temps(&self) -> std::io::Result<()> {
        let Ok(entries) = fs_err::read_dir(&self.root) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".incoming-") {
                let _ = fs_err::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// A temp file inside the store, for callers that verify content while writing it.
    pub fn temp_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        self.create_dir("")?;
        self.temp_file_in_root()
    }

    /// Create the store root (mode 0700) when missing.
    pub fn ensure_root(&self) -> std::io::Result<()> {
        self.create_dir("")
    }

    /// [`BlobStore::temp_file`] without checking the root first: for writers of thousands of
    /// blobs that called [`BlobStore::ensure_root`] once.
    pub fn temp_file_in_root(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix(".incoming-").tempfile_in(&self.root)
    }

    /// Turn a fully written temp file from [`BlobStore::temp_file`], whose content was verified
    /// to hash to `sha256`, into a [`Pending`] blob for [`BlobStore::commit_pending`] (mode 0600;
    /// the descriptor is closed, so thousands can wait).
    pub fn pending_from_temp(&self, tmp: tempfile::NamedTempFile, sha256: &str) -> std::io::Result<Pending> {
        crate::fs::set_open_mode(tmp.as_file(), tmp.path(), 0o600)?;
        Ok(Pending {
            path: tmp.into_temp_path(),
            sha256: sha256.to_string(),
        })
    }
}

/// A blob written by [`BlobStore::put_file_pending`], waiting for [`BlobStore::commit_pending`].
#[derive(Debug)]
pub struct Pending {
    path: tempfile::TempPath,
    sha256: String,
}

impl BlobStore {
    /// Create the root (or `root/<sub>`) with mode 0700 when missing: blobs include secret
    /// files, so the store is private like every codexport state directory.
    fn create_dir(&self, sub: &str) -> std::io::Result<()> {
        let dir = if sub.is_empty() {
            self.root.clone()
        } else {
            self.root.join(sub)
        };
        if !dir.is_dir() {
            crate::fs::create_private_dir(&dir)?;
            if !sub.is_empty() {
                crate::fs::set_mode(&self.root, 0o700)?;
            }
        }
        Ok(())
    }
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_file_pending_and_put_bytes_agree_on_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let src = dir.path().join("f");
        fs_err::write(&src, b"abc").unwrap();
        let (h, size, pending) = store.put_file_pending(&src).unwrap();
        assert_eq!(size, 3);
        store.commit_pending(vec![pending]).unwrap();
        assert_eq!(h, store.put_bytes(b"abc").unwrap());
        assert_eq!(fs_err::read(store.path_of(&h)).unwrap(), b"abc");
        assert!(!store.contains("../../etc/passwd"));
    }

    #[test]
    fn verified_temp_files_become_blobs_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let mut pending = Vec::new();
        let mut hashes = Vec::new();
        for i in 0..50 {
            let body = format!("blob {i}");
            let mut tmp = store.temp_file().unwrap();
            tmp.write_all(body.as_bytes()).unwrap();
            let hash = crate::fs::sha256_hex(body.as_bytes());
            pending.push(store.pending_from_temp(tmp, &hash).unwrap());
            hashes.push(hash);
        }
        assert!(hashes.iter().all(|h| !store.contains(h)), "nothing before the commit");
        store.commit_pending(pending).unwrap();
        assert!(hashes.iter().all(|h| store.contains(h)));
        assert_eq!(
            crate::fs::mode_of(&fs_err::metadata(store.path_of(&hashes[0])).unwrap()),
            0o600
        );
        let leftovers = fs_err::read_dir(store.root()).unwrap().filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with(".incoming-")
        });
        assert_eq!(leftovers.count(), 0);
    }

    #[test]
    fn pending_blobs_appear_only_when_committed_and_stale_temps_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let src = dir.path().join("src");
        fs_err::create_dir_all(&src).unwrap();
        let mut pending = Vec::new();
        let mut hashes = Vec::new();
        for (i, body) in ["a", "b", "a"].iter().enumerate() {
            let file = src.join(i.to_string());
            fs_err::write(&file, body).unwrap();
            let (hash, size, p) = store.put_file_pending(&file).unwrap();
            assert_eq!(size, 1);
            assert!(!store.contains(&hash), "not in place before the commit");
            pending.push(p);
            hashes.push(hash);
        }
        store.commit_pending(pending).unwrap();
        assert!(hashes.iter().all(|h| store.contains(h)));
        assert_eq!(fs_err::read(store.path_of(&hashes[1])).unwrap(), b"b");
        let temps = |s: &BlobStore| {
            fs_err::read_dir(s.root())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".incoming-")
                })
                .count()
        };
        assert_eq!(temps(&store), 0, "the duplicate's temp file is gone too");
        // A crashed writer's temp file is removed by the next writer.
        let (_, _, stale) = store.put_file_pending(&src.join("1")).unwrap();
        std::mem::forget(stale);
        assert_eq!(temps(&store), 1);
        store.remove_stale_temps().unwrap();
        assert_eq!(temps(&store), 0);
    }
}
