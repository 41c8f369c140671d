//! Content-addressed blob store (`<root>/<2 hex>/<64 hex>`), used by the master (`master/blobs`)
//! and the follower (`store/blobs`). Blobs are immutable: written once under their hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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

    /// Copy a file into the store while hashing it in one pass (the file may change under us:
    /// the blob is named by what was actually read). Returns (hash, size).
    pub fn put_file(&self, src: &Path) -> std::io::Result<(String, u64)> {
        let (tmp, hash, size) = self.copy_hashing(src)?;
        self.commit_temp(tmp, &hash)?;
        Ok((hash, size))
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

    /// Like [`BlobStore::put_file`] without making anything durable: the content goes to a temp
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
    /// never a blob whose name does not match its bytes. Off Linux, each file is fsynced.
    pub fn commit_pending(&self, pending: Vec<Pending>) -> std::io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        if !sync_file_system(&self.root)? {
            for p in &pending {
                fs_err::File::open(&p.path)?.sync_all()?;
            }
        }
        for p in pending {
            if self.contains(&p.sha256) {
                continue;
            }
            self.create_dir(&p.sha256[..2])?;
            let dest = self.path_of(&p.sha256);
            p.path
                .persist(&dest)
                .map_err(|e| std::io::Error::other(format!("rename into {}: {}", dest.display(), e.error)))?;
        }
        if !sync_file_system(&self.root)? {
            crate::fs::sync_dir(&self.root);
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
        tempfile::Builder::new().prefix(".incoming-").tempfile_in(&self.root)
    }

    /// Move a fully written and verified temp file into place as blob `sha256`.
    pub fn commit_temp(&self, tmp: tempfile::NamedTempFile, sha256: &str) -> std::io::Result<()> {
        if self.contains(sha256) {
            return Ok(());
        }
        tmp.as_file().sync_all()?;
        crate::fs::set_mode(tmp.path(), 0o600)?;
        self.create_dir(&sha256[..2])?;
        let dest = self.path_of(sha256);
        tmp.persist(&dest)
            .map_err(|e| std::io::Error::other(format!("rename into {}: {}", dest.display(), e.error)))?;
        Ok(())
    }
}

/// A blob written by [`BlobStore::put_file_pending`], waiting for [`BlobStore::commit_pending`].
#[derive(Debug)]
pub struct Pending {
    path: tempfile::TempPath,
    sha256: String,
}

/// `syncfs` on the file system holding `dir` (Linux); false where it is not available.
fn sync_file_system(dir: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let d = fs_err::File::open(dir)?;
        rustix::fs::syncfs(&d).map_err(std::io::Error::from)?;
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Ok(false)
    }
}

/// Threads that commit blobs in [`BlobStore::with_committer`]. More than the cores: a commit
/// is an fsync, which waits on the device; concurrent fsyncs share journal commits.
pub const COMMIT_THREADS: usize = 16;

/// Hands verified temp files to the commit threads of [`BlobStore::with_committer`].
pub struct Committer {
    tx: std::sync::mpsc::SyncSender<(tempfile::NamedTempFile, String)>,
}

impl Committer {
    /// Queue `tmp` (fully written, content verified to hash to `sha256`) for
    /// [`BlobStore::commit_temp`]; blocks while the queue is full.
    pub fn submit(&self, tmp: tempfile::NamedTempFile, sha256: String) -> std::io::Result<()> {
        self.tx
            .send((tmp, sha256))
            .map_err(|_| std::io::Error::other("the blob commit threads stopped"))
    }
}

impl BlobStore {
    /// Run `produce` while `threads` threads commit (fsync, rename) what it submits, so the
    /// fsyncs of many small blobs overlap instead of queueing behind one another. Returns when
    /// every submitted blob is committed: `produce`'s error first, else the first commit error.
    /// At most `4 * threads` temp files wait in the queue (bounded memory and descriptors).
    pub fn with_committer<R, E: From<std::io::Error>>(
        &self,
        threads: usize,
        produce: impl FnOnce(&Committer) -> Result<R, E>,
    ) -> Result<R, E> {
        let threads = threads.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<(tempfile::NamedTempFile, String)>(threads * 4);
        let rx = std::sync::Mutex::new(rx);
        let failed: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);
        let out = std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((tmp, sha256)) = job else { break };
                        if let Err(e) = self.commit_temp(tmp, &sha256) {
                            failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        }
                    }
                });
            }
            let committer = Committer { tx };
            let out = produce(&committer);
            drop(committer);
            out
        })?;
        match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e.into()),
            None => Ok(out),
        }
    }
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
    fn put_file_and_bytes_agree_on_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let src = dir.path().join("f");
        fs_err::write(&src, b"abc").unwrap();
        let (h, size) = store.put_file(&src).unwrap();
        assert_eq!(size, 3);
        assert_eq!(h, store.put_bytes(b"abc").unwrap());
        assert_eq!(fs_err::read(store.path_of(&h)).unwrap(), b"abc");
        assert!(!store.contains("../../etc/passwd"));
    }

    #[test]
    fn the_committer_stores_everything_submitted() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let hashes = store
            .with_committer(4, |c| -> std::io::Result<Vec<String>> {
                let mut hashes = Vec::new();
                for i in 0..50 {
                    let body = format!("blob {i}");
                    let mut tmp = store.temp_file()?;
                    tmp.write_all(body.as_bytes())?;
                    let hash = crate::fs::sha256_hex(body.as_bytes());
                    c.submit(tmp, hash.clone())?;
                    hashes.push(hash);
                }
                Ok(hashes)
            })
            .unwrap();
        assert!(hashes.iter().all(|h| store.contains(h)));
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
