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
        let mut tmp = self.temp_file()?;
        let mut input = fs_err::File::open(src)?;
        let mut hashing = HashingWriter {
            inner: tmp.as_file_mut(),
            hasher: Sha256::new(),
            size: 0,
        };
        std::io::copy(&mut input, &mut hashing)?;
        let (hash, size) = (hex::encode(hashing.hasher.finalize()), hashing.size);
        self.commit_temp(tmp, &hash)?;
        Ok((hash, size))
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
}
