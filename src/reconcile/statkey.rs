//! The follower's stat cache: what `lstat` said about each managed file right after codexport
//! wrote (or checked) it, kept in the inventory. When size, mtime, ctime and inode are all
//! unchanged, the file's content is the one recorded, so a plan need not read and hash it
//! (the trick of git's index). ctime cannot be set by `touch`, and any write moves it, so a
//! same-size edit within one mtime tick is still seen.
//!
//! Unix only: on other platforms [`of`] gives `None` and every file is hashed.

use serde::{Deserialize, Serialize};

/// The stat fields that identify a file version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatKey {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i128,
    /// Inode number.
    pub ino: u64,
}

/// The key of a regular file's metadata (from `lstat`), `None` elsewhere or on non-Unix.
pub fn of(meta: &std::fs::Metadata) -> Option<StatKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.file_type().is_file().then(|| StatKey {
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The key of the file at `path` (not following a symlink); `None` when absent or not a file.
pub fn of_path(path: &std::path::Path) -> Option<StatKey> {
    fs_err::symlink_metadata(path).ok().as_ref().and_then(of)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn any_write_changes_the_key_even_at_the_same_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs_err::write(&p, "aaaa").unwrap();
        let first = of_path(&p).unwrap();
        assert_eq!(of_path(&p), Some(first), "stable when untouched");
        let mtime = fs_err::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs_err::write(&p, "bbbb").unwrap();
        fs_err::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let second = of_path(&p).unwrap();
        assert_eq!((second.size, second.mtime_ns), (first.size, first.mtime_ns));
        assert_ne!(second, first, "ctime moved");
        assert_eq!(of_path(&dir.path().join("absent")), None);
        assert_eq!(of_path(dir.path()), None, "a directory has no key");
    }
}
