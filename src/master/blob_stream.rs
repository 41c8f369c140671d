//! The body of a blob answer (`POST /v1/blobs` frames, `GET /v1/blobs/{sha256}` raw bytes),
//! read on one blocking thread into chunks of up to [`CHUNK`] bytes.
//!
//! Why not `tokio::fs` + `ReaderStream`: every `tokio::fs` open and read is a hop to the
//! blocking pool, and `ReaderStream` reads 4 KiB at a time, so a 10k-file, 148 MiB batch cost
//! about 40 000 hops and 2.4-2.9 s to stream to `curl -o /dev/null` on loopback (benches/README,
//! session 7). Here one thread opens the files one after another (one descriptor at a time,
//! whatever the batch), packs frame headers and small blobs together into one chunk and hands
//! full chunks to the response through a bounded channel ([`QUEUED`] chunks, so memory stays
//! below `QUEUED * CHUNK` whatever the batch size and however slow the follower reads).

use std::io::Read;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Bytes per chunk handed to the HTTP body (256 KiB).
pub(super) const CHUNK: usize = 256 * 1024;
/// Chunks waiting for the socket at most (so at most 2 MiB of a batch in memory).
const QUEUED: usize = 8;

/// One part of an answer: an optional frame header, then exactly `size` bytes of `source`.
pub(super) struct Part {
    /// Written before the file's bytes (the frame header of `POST /v1/blobs`; none for a
    /// single raw blob).
    pub head: Option<Vec<u8>>,
    /// Where the bytes are read from.
    pub source: Source,
    /// Its size when the request was checked; a file that is shorter now ends the stream with
    /// an error (the follower then reports a truncated answer), never with wrong bytes.
    pub size: u64,
}

/// Where the bytes of a blob are read from.
pub(super) enum Source {
    /// A file of the master's blob store, named by its hash and never rewritten: sent as is.
    Store(PathBuf),
    /// A published file read where it lives, `root/rel` (`root` = the master's `CODEX_HOME`),
    /// opened without following links ([`crate::fs::Beneath`]). It can have changed since
    /// the publish, so it is hashed while it is read and the chunk holding its last byte is
    /// only sent once the hash is `sha256`; otherwise the stream ends with an error, and the
    /// follower, which also checks every hash, never receives the whole blob.
    Codex {
        /// The master's `CODEX_HOME`.
        root: PathBuf,
        /// The published relative path.
        rel: String,
        /// The published hash (lowercase hex).
        sha256: String,
    },
}

impl Source {
    /// Open for reading; read errors then name the file (fs-err). `beneath` keeps the last
    /// `CODEX_HOME` opened (every Codex part of an answer has the same one).
    fn open(&self, size: u64, beneath: &mut Option<crate::fs::Beneath>) -> std::io::Result<fs_err::File> {
        match self {
            Source::Store(path) => fs_err::File::open(path),
            Source::Codex { root, rel, .. } => {
                let dir = match beneath {
                    Some(dir) if dir.root() == root => dir,
                    _ => beneath.insert(crate::fs::Beneath::new(root)),
                };
                let (file, meta) = dir.open(rel)?;
                if meta.len() != size {
                    return Err(self.changed());
                }
                Ok(fs_err::File::from_parts(file, root.join(rel)))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Store(path) => path.display().to_string(),
            Source::Codex { root, rel, .. } => root.join(rel).display().to_string(),
        }
    }

    fn changed(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} changed since it was published; the next publish sends it",
                self.describe()
            ),
        )
    }
}

/// Stream `parts` in order. Must be called within a tokio runtime (it starts one blocking task).
/// An I/O error ends the stream with that error, which aborts the response; a follower that
/// goes away stops the reading thread at its next chunk.
pub(super) fn stream(parts: Vec<Part>) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    let (tx, rx) = mpsc::channel(QUEUED);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = fill(parts, &tx) {
            // The receiver may be gone too; nothing else to tell.
            let _ = tx.blocking_send(Err(e));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Why the reading stopped early without an I/O error: the response was dropped.
struct Gone;

fn fill(parts: Vec<Part>, tx: &mpsc::Sender<std::io::Result<Bytes>>) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut beneath = None;
    let send = |chunk: &mut Vec<u8>| -> Result<(), Gone> {
        let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
        tx.blocking_send(Ok(Bytes::from(full))).map_err(|_| Gone)
    };
    for part in parts {
        if let Some(head) = &part.head {
            if chunk.len() + head.len() > CHUNK && send(&mut chunk).is_err() {
                return Ok(());
            }
            chunk.extend_from_slice(head);
        }
        let mut file = part.source.open(part.size, &mut beneath)?;
        let mut hasher = matches!(part.source, Source::Codex { .. }).then(Sha256::new);
        let mut left = part.size;
        while left > 0 {
            if chunk.len() == CHUNK && send(&mut chunk).is_err() {
                return Ok(());
            }
            let room = (CHUNK - chunk.len()) as u64;
            let want = left.min(room);
            let start = chunk.len();
            // `take` + `read_to_end` reads into the chunk's spare capacity: no zeroing, no copy.
            let got = (&mut file).take(want).read_to_end(&mut chunk)? as u64;
            if got < want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} is shorter than the {} bytes it had when the request was checked",
                        part.source.describe(),
                        part.size
                    ),
                ));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk[start..]);
            }
            left -= got;
        }
        // The chunk holding the last byte is still here, unsent: checked before it goes.
        if let (Some(h), Source::Codex { sha256, .. }) = (hasher, &part.source)
            && hex::encode(h.finalize()) != *sha256
        {
            return Err(part.source.changed());
        }
    }
    if !chunk.is_empty() {
        let _ = send(&mut chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn collect(parts: Vec<Part>) -> (Vec<u8>, Option<std::io::Error>, usize) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut body = Vec::new();
            let mut chunks = 0;
            let mut s = Box::pin(stream(parts));
            while let Some(item) = s.next().await {
                match item {
                    Ok(b) => {
                        assert!(b.len() <= CHUNK, "a chunk of {} bytes", b.len());
                        chunks += 1;
                        body.extend_from_slice(&b);
                    }
                    Err(e) => return (body, Some(e), chunks),
                }
            }
            (body, None, chunks)
        })
    }

    #[test]
    fn heads_and_files_arrive_in_order_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        let mut expected = Vec::new();
        // Small files packed together, and one spanning several chunks.
        for (i, size) in [0usize, 1, 100, 3 * CHUNK + 17, 5].into_iter().enumerate() {
            let bytes: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            let path = dir.path().join(format!("blob{i}"));
            std::fs::write(&path, &bytes).unwrap();
            let head = format!("head{i}").into_bytes();
            expected.extend_from_slice(&head);
            expected.extend_from_slice(&bytes);
            parts.push(Part {
                head: Some(head),
                source: Source::Store(path),
                size: size as u64,
            });
        }
        let (body, err, chunks) = collect(parts);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(body, expected);
        assert_eq!(chunks, 4, "3 full chunks and the rest");
    }

    #[test]
    fn a_file_shorter_than_its_size_ends_the_stream_with_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrunk");
        std::fs::write(&path, b"abc").unwrap();
        let (body, err, _) = collect(vec![Part {
            head: None,
            source: Source::Store(path),
            size: 10,
        }]);
        let err = err.expect("an error");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("shrunk"), "{err}");
        assert!(body.len() <= 3, "never more than the file has");
    }

    #[test]
    fn a_missing_file_ends_the_stream_with_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, err, _) = collect(vec![Part {
            head: None,
            source: Source::Store(dir.path().join("gone")),
            size: 1,
        }]);
        assert!(err.expect("an error").to_string().contains("gone"));
    }

    fn codex_part(root: &std::path::Path, rel: &str, sha256: &str, size: u64) -> Part {
        Part {
            head: Some(b"head".to_vec()),
            source: Source::Codex {
                root: root.to_path_buf(),
                rel: rel.into(),
                sha256: sha256.into(),
            },
            size,
        }
    }

    #[test]
    fn a_codex_file_is_sent_when_it_still_hashes_to_its_published_hash() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..2 * CHUNK + 5).map(|b| (b % 251) as u8).collect();
        fs_err::create_dir_all(dir.path().join("skills")).unwrap();
        fs_err::write(dir.path().join("skills/big.bin"), &bytes).unwrap();
        let sha = crate::fs::sha256_hex(&bytes);
        let (body, err, _) = collect(vec![codex_part(dir.path(), "skills/big.bin", &sha, bytes.len() as u64)]);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(&body[..4], b"head");
        assert_eq!(&body[4..], &bytes[..]);
    }

    #[test]
    fn a_codex_file_that_changed_in_place_never_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        // Same size, other bytes: only the hash tells. Small (one chunk) and large (three).
        for size in [10usize, 2 * CHUNK + 5] {
            let published: Vec<u8> = vec![b'a'; size];
            let now: Vec<u8> = vec![b'b'; size];
            fs_err::write(dir.path().join("f.md"), &now).unwrap();
            let sha = crate::fs::sha256_hex(&published);
            let (body, err, _) = collect(vec![codex_part(dir.path(), "f.md", &sha, size as u64)]);
            let err = err.expect("an error");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("f.md changed since it was published"), "{err}");
            assert!(
                body.len() < 4 + size,
                "{size}: the chunk with the last byte is withheld"
            );
        }
    }

    #[test]
    fn a_codex_file_of_another_size_or_behind_a_link_is_refused_before_any_byte() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("f.md"), b"abcd").unwrap();
        let sha = crate::fs::sha256_hex(b"abcd");
        let (body, err, _) = collect(vec![codex_part(dir.path(), "f.md", &sha, 5)]);
        assert!(
            err.expect("an error")
                .to_string()
                .contains("changed since it was published")
        );
        assert!(body.is_empty(), "not even the head: {body:?}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("f.md"), dir.path().join("link.md")).unwrap();
            let (body, err, _) = collect(vec![codex_part(dir.path(), "link.md", &sha, 4)]);
            assert!(err.expect("an error").to_string().contains("refused"));
            assert!(body.is_empty());
        }
    }
}
