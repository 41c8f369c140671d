//! The master's recent documents, kept so `GET /v1/state` can answer a follower that holds one
//! of them with a [`crate::model::delta::StateDelta`] instead of the whole document.
//!
//! `master/history/<hex sha256 of the bytes>.yaml` (mode 0600, like `state.yaml`: documents
//! carry MCP `env` values), the newest [`KEEP`] by modification time. A cache: losing it costs
//! followers one full download, so a failure to record is logged and never fails a publish, and
//! a file is used only when its bytes still hash to its name.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use crate::blobstore::is_sha256_hex;
use crate::model::delta::{self, digest};

/// Directory under the master directory.
pub const HISTORY_DIR: &str = "history";
/// Documents kept: a follower more than this many publishes behind gets the whole document.
pub const KEEP: usize = 8;
/// Deltas kept in memory (base hash, target hash -> encoded delta or "not worth it").
const CACHED_DELTAS: usize = 16;

fn path_of(dir: &Path, hash: &str) -> PathBuf {
    dir.join(HISTORY_DIR).join(format!("{hash}.yaml"))
}

/// Record `bytes` (a document just published under `dir`) and prune to the newest [`KEEP`].
/// Errors are logged at warn level, never returned (see the module doc).
pub fn record(dir: &Path, bytes: &[u8]) {
    if let Err(e) = try_record(dir, bytes) {
        tracing::warn!(dir = %dir.join(HISTORY_DIR).display(), "could not record the document for deltas: {e}");
    }
}

fn try_record(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let history = dir.join(HISTORY_DIR);
    crate::fs::create_private_dir(&history)?;
    // No fsync: a torn file after a crash fails the hash check in `load` and is not used.
    crate::fs::write_atomic_unsynced(&path_of(dir, &digest(bytes)), bytes, 0o600)?;
    let mut kept: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in fs_err::read_dir(&history)? {
        let entry = entry?;
        let modified = entry.metadata()?.modified()?;
        kept.push((modified, entry.path()));
    }
    kept.sort_by(|a, b| b.cmp(a));
    for (_, stale) in kept.into_iter().skip(KEEP) {
        fs_err::remove_file(stale)?;
    }
    Ok(())
}

/// The recorded document whose bytes hash to `hash`, if it is still kept and intact.
pub fn load(dir: &Path, hash: &str) -> Option<Vec<u8>> {
    if !is_sha256_hex(hash) {
        return None;
    }
    let bytes = fs_err::read(path_of(dir, hash)).ok()?;
    (digest(&bytes) == hash).then_some(bytes)
}

/// Encoded deltas from recent bases to the served document, computed once per pair: after a
/// publish every follower asks for the same one.
#[derive(Default)]
pub(super) struct DeltaCache {
    entries: Mutex<VecDeque<(String, String, Option<Bytes>)>>,
}

impl DeltaCache {
    /// The JSON delta from the kept document `base` to `target` (whose hash is `target_hash`),
    /// or `None` when the base is unknown, is the target, or the delta would not be at most
    /// half the document.
    pub(super) fn get(&self, dir: &Path, base: &str, target: &Bytes, target_hash: &str) -> Option<Bytes> {
        if base == target_hash {
            return None;
        }
        if let Ok(entries) = self.entries.lock()
            && let Some((_, _, cached)) = entries.iter().find(|(b, t, _)| b == base && t == target_hash)
        {
            return cached.clone();
        }
        let base_bytes = load(dir, base)?;
        let started = std::time::Instant::now();
        let encoded = delta::encode(&base_bytes, target)
            .and_then(|d| serde_json::to_vec(&d).ok())
            .filter(|json| json.len() <= target.len() / 2)
            .map(Bytes::from);
        tracing::debug!(
            base,
            target = target_hash,
            delta_bytes = encoded.as_ref().map_or(0, Bytes::len),
            document_bytes = target.len(),
            ms = started.elapsed().as_millis() as u64,
            "state delta computed"
        );
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() == CACHED_DELTAS {
                entries.pop_front();
            }
            entries.push_back((base.to_string(), target_hash.to_string(), encoded.clone()));
        }
        encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_refuses_torn_files() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..(KEEP + 3) {
            record(dir.path(), format!("document {i}\n").as_bytes());
            // Distinct modification times even on coarse clocks.
            let p = path_of(dir.path(), &digest(format!("document {i}\n").as_bytes()));
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            fs_err::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let count = fs_err::read_dir(dir.path().join(HISTORY_DIR)).unwrap().count();
        assert_eq!(count, KEEP);
        assert!(load(dir.path(), &digest(b"document 3\n")).is_some());
        record(dir.path(), b"document last\n");
        assert_eq!(
            load(dir.path(), &digest(b"document 3\n")),
            None,
            "the oldest goes first"
        );
        assert!(load(dir.path(), &digest(b"document last\n")).is_some());
        let count = fs_err::read_dir(dir.path().join(HISTORY_DIR)).unwrap().count();
        assert_eq!(count, KEEP);
        assert_eq!(load(dir.path(), &digest(b"document 0\n")), None, "oldest pruned");
        let newest = digest(format!("document {}\n", KEEP + 2).as_bytes());
        assert!(load(dir.path(), &newest).is_some());

        fs_err::write(path_of(dir.path(), &newest), b"torn").unwrap();
        assert_eq!(load(dir.path(), &newest), None, "bytes that do not hash to the name");
        assert_eq!(load(dir.path(), "../state"), None);
    }

    #[test]
    fn small_deltas_are_served_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let lines = |changed: &str| (0..400).map(|i| format!("line {i} {changed}\n")).collect::<String>();
        let mut base = lines("a");
        base.push_str("tail\n");
        record(dir.path(), base.as_bytes());
        let target = Bytes::from(base.replace("line 7 a", "line 7 b"));
        let cache = DeltaCache::default();
        let hash = digest(&target);
        let json = cache.get(dir.path(), &digest(base.as_bytes()), &target, &hash).unwrap();
        let d: delta::StateDelta = serde_json::from_slice(&json).unwrap();
        assert_eq!(delta::apply(base.as_bytes(), &d, 1 << 20).unwrap(), target.as_ref());
        // Cached: the history file is gone, the answer is the same.
        fs_err::remove_dir_all(dir.path().join(HISTORY_DIR)).unwrap();
        assert_eq!(
            cache.get(dir.path(), &digest(base.as_bytes()), &target, &hash),
            Some(json)
        );
        // A base nobody published, and a delta as large as the document, get none.
        assert_eq!(cache.get(dir.path(), &digest(b"never"), &target, &hash), None);
        let unrelated = Bytes::from(lines("z"));
        record(dir.path(), base.as_bytes());
        assert_eq!(
            cache.get(dir.path(), &digest(base.as_bytes()), &unrelated, &digest(&unrelated)),
            None
        );
    }
}
