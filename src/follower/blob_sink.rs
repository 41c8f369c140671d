//! Where a `POST /v1/blobs` answer goes: verified blobs become temp files in the follower's
//! store, written by a few threads while the calling thread goes on reading and hashing the
//! stream.
//!
//! Why threads: a first join receives every file of the tree (10k blobs in the benchmark), and
//! creating that many files costs more than reading and hashing them; on ext4, two threads
//! creating files took 0.67-0.85 s where one took 1.17-1.26 s (benches/README, session 7).
//! A frame body is kept in memory while it is read only up to [`BUFFERED_BLOB`] bytes (a
//! larger blob is spilled to its temp file as it arrives, on the reading thread), and at most
//! [`QUEUED`] verified blobs wait for a writer, so memory stays under about
//! `(QUEUED + WRITERS) * BUFFERED_BLOB` (5 MiB) whatever the batch.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use crate::blobstore::{BlobStore, Pending};
use crate::model::wire::BlobSink;

/// Frame bodies up to this size are buffered and handed to a writer thread (128 KiB).
pub const BUFFERED_BLOB: usize = 128 * 1024;
/// Verified blobs waiting for a writer at most.
const QUEUED: usize = 32;
/// Writer threads.
const WRITERS: usize = 3;

/// Run `read` with a sink writing into `store`, then return what it returned and every blob it
/// committed, each a closed temp file waiting for [`BlobStore::commit_pending`]. A write error
/// makes the next commit fail (so the stream stops) and is returned.
/// `blobs` is how many blobs the stream is expected to carry: no more writers than that start
/// (a sync after one edit starts one thread, not [`WRITERS`]).
pub fn with_writers<T, E>(
    store: &BlobStore,
    blobs: usize,
    read: impl FnOnce(&mut ParallelSink<'_>) -> Result<T, E>,
) -> std::io::Result<(Result<T, E>, Vec<Pending>)> {
    store.ensure_root()?;
    let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, String)>(QUEUED);
    let rx = Mutex::new(rx);
    let shared = Shared {
        pending: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        failed: AtomicBool::new(false),
    };
    let outcome = std::thread::scope(|scope| {
        // At least one: a blob committed with none would wait forever once the queue is full.
        for _ in 0..WRITERS.min(blobs).max(1) {
            scope.spawn(|| write_queued(store, &rx, &shared));
        }
        let mut sink = ParallelSink {
            store,
            tx: Some(tx),
            shared: &shared,
        };
        let outcome = read(&mut sink);
        // Closing the queue lets the writers finish what is queued and stop.
        sink.tx = None;
        outcome
    });
    if let Some(e) = shared.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok((outcome, shared.pending.into_inner().unwrap_or_else(|p| p.into_inner())))
}

/// State the writers and the reading thread share.
struct Shared {
    pending: Mutex<Vec<Pending>>,
    error: Mutex<Option<std::io::Error>>,
    failed: AtomicBool,
}

impl Shared {
    fn fail(&self, e: std::io::Error) {
        self.failed.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }
}

fn write_queued(store: &BlobStore, rx: &Mutex<mpsc::Receiver<(Vec<u8>, String)>>, shared: &Shared) {
    loop {
        // The lock is held only while taking one item.
        let item = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((bytes, sha256)) = item else { return };
        if shared.failed.load(Ordering::Relaxed) {
            continue; // drain without writing, so the reading thread is never blocked
        }
        let written = store.temp_file_in_root().and_then(|mut tmp| {
            tmp.write_all(&bytes)?;
            store.pending_from_temp(tmp, &sha256)
        });
        match written {
            Ok(p) => shared.pending.lock().unwrap_or_else(|p| p.into_inner()).push(p),
            Err(e) => shared.fail(e),
        }
    }
}

/// The [`BlobSink`] of [`with_writers`].
pub struct ParallelSink<'a> {
    store: &'a BlobStore,
    tx: Option<mpsc::SyncSender<(Vec<u8>, String)>>,
    shared: &'a Shared,
}

/// One frame body being received: in memory, or (past [`BUFFERED_BLOB`]) in its temp file.
pub struct Part<'a> {
    store: &'a BlobStore,
    buffer: Vec<u8>,
    file: Option<tempfile::NamedTempFile>,
}

impl Write for Part<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() && self.buffer.len() + buf.len() > BUFFERED_BLOB {
            let mut tmp = self.store.temp_file_in_root()?;
            tmp.write_all(&self.buffer)?;
            self.buffer = Vec::new();
            self.file = Some(tmp);
        }
        match &mut self.file {
            Some(file) => file.write(buf),
            None => {
                self.buffer.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> BlobSink for ParallelSink<'a> {
    type Part = Part<'a>;
    fn begin(&mut self) -> std::io::Result<Self::Part> {
        Ok(Part {
            store: self.store,
            buffer: Vec::new(),
            file: None,
        })
    }
    fn commit(&mut self, part: Self::Part, sha256_hex: &str) -> std::io::Result<()> {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("a blob writer failed"));
        }
        match part.file {
            Some(file) => {
                let pending = self.store.pending_from_temp(file, sha256_hex)?;
                self.shared
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(pending);
                Ok(())
            }
            None => {
                let tx = self
                    .tx
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("blob writers stopped"))?;
                tx.send((part.buffer, sha256_hex.to_string()))
                    .map_err(|_| std::io::Error::other("blob writers stopped"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::wire::{frame_header, read_blob_stream};
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    fn stream_of(blobs: &[Vec<u8>]) -> (Vec<u8>, HashMap<String, u64>) {
        let mut stream = Vec::new();
        let mut wanted = HashMap::new();
        for b in blobs {
            let hash = hex::encode(Sha256::digest(b));
            stream.extend_from_slice(&frame_header(&hash, b.len() as u64).unwrap());
            stream.extend_from_slice(b);
            wanted.insert(hash, b.len() as u64);
        }
        (stream, wanted)
    }

    #[test]
    fn small_and_spilled_blobs_all_become_blobs_with_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let mut blobs: Vec<Vec<u8>> = (0..300).map(|i| format!("blob {i}").into_bytes()).collect();
        blobs.push(vec![7u8; BUFFERED_BLOB + 1]);
        blobs.push(vec![9u8; 3 * BUFFERED_BLOB]);
        let (stream, wanted) = stream_of(&blobs);
        let (outcome, pending) = with_writers(&store, wanted.len(), |sink| {
            read_blob_stream(&mut &stream[..], &wanted, sink)
        })
        .unwrap();
        assert_eq!(outcome.unwrap(), blobs.iter().map(|b| b.len() as u64).sum::<u64>());
        assert_eq!(pending.len(), blobs.len());
        store.commit_pending(pending).unwrap();
        for b in &blobs {
            let hash = hex::encode(Sha256::digest(b));
            assert_eq!(&fs_err::read(store.path_of(&hash)).unwrap(), b);
        }
    }

    #[test]
    fn a_tampered_blob_stops_the_stream_and_nothing_unverified_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let blobs: Vec<Vec<u8>> = (0..50).map(|i| format!("blob {i}").into_bytes()).collect();
        let (mut stream, wanted) = stream_of(&blobs);
        let last = stream.len() - 1;
        stream[last] ^= 1;
        let (outcome, pending) = with_writers(&store, wanted.len(), |sink| {
            read_blob_stream(&mut &stream[..], &wanted, sink)
        })
        .unwrap();
        assert!(outcome.is_err());
        assert_eq!(
            pending.len(),
            49,
            "the 49 verified ones wait; the tampered one never does"
        );
        drop(pending);
        let left: Vec<_> = fs_err::read_dir(store.root()).unwrap().collect();
        assert!(left.is_empty(), "dropped pending blobs leave no temp file: {left:?}");
    }
}
