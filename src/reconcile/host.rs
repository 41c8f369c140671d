//! The one side-effect trait of a reconcile (DESIGN.md; like chezmoi's `System`).
//!
//! Everything `reconcile/` reads or writes on disk goes through [`Host`]: the real
//! implementation uses `crate::fs`; [`RecordingHost`] reads the real disk but only records the
//! writes, so `plan`, `apply --dry-run` and `apply` run one code path.

use std::path::{Path, PathBuf};

use crate::mcp::artifact::Artifact;
use crate::mcp::install::{InstallEnv, InstallError};
use std::time::{Duration, Instant};

pub use super::host_recording::{Effect, RecordingHost};

/// What is at a path, without following a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Nothing.
    Absent,
    /// A regular file.
    File {
        /// Hex sha256 of its content.
        sha256: String,
        /// Size in bytes.
        size: u64,
        /// Permission bits.
        mode: u32,
    },
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A socket, FIFO or device.
    Special,
}

impl Observed {
    /// A word for messages: "directory", "symlink", ...
    pub fn kind(&self) -> &'static str {
        match self {
            Observed::Absent => "missing path",
            Observed::File { .. } => "file",
            Observed::Dir => "directory",
            Observed::Symlink => "symlink",
            Observed::Special => "special file",
        }
    }
}

/// Errors taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Still held by another process after the wait.
    #[error("another codexport holds {} (waited {waited:?})", path.display())]
    Held {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// I/O opening the lock file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A held lock; released on drop (and by the OS when the process dies).
pub struct LockGuard {
    pub(super) _file: Option<std::fs::File>,
}

/// Side effects of a reconcile. Paths are absolute. `Sync`: the apply writes independent files
/// from several threads (`execute_parallel`).
pub trait Host: Sync {
    /// Look at a path without following symlinks; hashes regular files.
    fn observe(&self, path: &Path) -> std::io::Result<Observed>;
    /// The stat cache key of a file (see [`super::statkey`]); `None` when absent or unknown.
    fn stat_key(&self, path: &Path) -> Option<super::statkey::StatKey> {
        super::statkey::of_path(path)
    }
    /// Like [`Host::observe`] for a file codexport wrote: when its `lstat` still matches
    /// `known.stat`, the recorded hash is returned without reading the file.
    fn observe_known(&self, path: &Path, known: &super::inventory::InventoryEntry) -> std::io::Result<Observed> {
        if let Some(stat) = known.stat
            && let Ok(meta) = fs_err::symlink_metadata(path)
            && super::statkey::of(&meta) == Some(stat)
        {
            return Ok(Observed::File {
                sha256: known.sha256.clone(),
                size: stat.size,
                mode: crate::fs::mode_of(&meta),
            });
        }
        self.observe(path)
    }
    /// The size of `path` when it is a regular file (`lstat`, the content is not read); `None`
    /// when absent or anything else. For store blobs, verified against their name when they
    /// were received: rendering and rollback only need to know they are still there, and
    /// hashing the whole store on every plan cost a read of every byte (148 MiB at 10k files).
    fn file_size(&self, path: &Path) -> std::io::Result<Option<u64>> {
        match fs_err::symlink_metadata(path) {
            Ok(meta) => Ok(meta.file_type().is_file().then_some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Read a whole regular file; `None` when absent. The real host never reads through a
    /// symlink, never opens a FIFO or device, and caps the size ([`crate::fs::read_regular`]):
    /// what is on disk may have been planted.
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>>;
    /// Names in a directory, sorted; empty when the directory is absent.
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<String>>;
    /// Create one directory (its parent exists).
    fn create_dir(&self, path: &Path) -> std::io::Result<()>;
    /// Create a directory and its parents (mode 0700: only for codexport's own state).
    fn create_private_dir_all(&self, path: &Path) -> std::io::Result<()>;
    /// Remove an empty directory.
    fn remove_dir(&self, path: &Path) -> std::io::Result<()>;
    /// Remove a directory tree of codexport's own state (pruned backups).
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()>;
    /// Write bytes atomically with a mode.
    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()>;
    /// Copy a file atomically with a mode (creating the destination's parents, 0700).
    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()>;
    /// Rename (creating the destination's parents, 0700).
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()>;
    /// Remove a file (absent is not an error).
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
    /// Append one line to a file and fsync it (the journal), creating it with mode 0600.
    fn append(&self, path: &Path, line: &[u8]) -> std::io::Result<()>;
    /// Like [`Host::write_file`], durable only after the next [`Host::sync_deferred`] (one
    /// flush for a whole batch instead of an fsync per file). Default: [`Host::write_file`].
    fn write_file_deferred(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        self.write_file(path, bytes, mode)
    }
    /// Like [`Host::copy_file`], durable only after the next [`Host::sync_deferred`].
    fn copy_file_deferred(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        self.copy_file(from, to, mode)
    }
    /// Like [`Host::rename`], durable only after the next [`Host::sync_deferred`].
    fn rename_deferred(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.rename(from, to)
    }
    /// Like [`Host::append`] (`lines` may hold several `\n`-separated lines), durable only
    /// after the next [`Host::sync_deferred`].
    fn append_deferred(&self, path: &Path, lines: &[u8]) -> std::io::Result<()> {
        self.append(path, lines)
    }
    /// Make every deferred write on the file systems holding `dirs` durable. Default: nothing
    /// to do (the default deferred writes are durable on their own).
    fn sync_deferred(&self, _dirs: &[&Path]) -> std::io::Result<()> {
        Ok(())
    }
    /// Take an exclusive lock on `path`, waiting up to `wait`.
    fn lock(&self, path: &Path, wait: Duration) -> Result<LockGuard, LockError>;
    /// Install an MCP artifact (runs npm, uv or cargo; see `mcp::install`).
    fn install_mcp(&self, server: &str, artifact: &Artifact, env: &InstallEnv) -> Result<(), InstallError>;
}

/// Copy atomically, creating the destination's parents; `durable`: fsync file and directory.
fn copy_with(from: &Path, to: &Path, mode: u32, durable: bool) -> std::io::Result<()> {
    // One `stat` in the common case (the parent exists: the plan's directory steps made it);
    // `create_dir_all` would try `mkdir` first and `stat` after its EEXIST.
    if let Some(parent) = to.parent()
        && !parent.is_dir()
    {
        fs_err::create_dir_all(parent)?;
    }
    if durable {
        crate::fs::copy_atomic(from, to, mode)
    } else {
        crate::fs::copy_atomic_unsynced(from, to, mode)
    }
}

/// Rename, creating the destination's parents; `durable`: fsync the destination directory.
fn rename_with(from: &Path, to: &Path, durable: bool) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::rename(from, to)?;
    if durable && let Some(parent) = to.parent() {
        crate::fs::sync_dir(parent);
    }
    Ok(())
}

/// Append `lines` and a newline, creating the file with mode 0600; `durable`: fsync it.
fn append_with(path: &Path, lines: &[u8], durable: bool) -> std::io::Result<()> {
    use std::io::Write;
    let existed = path.exists();
    let mut f = fs_err::OpenOptions::new().create(true).append(true).open(path)?;
    if !existed {
        crate::fs::set_mode(path, crate::fs::SECRET_MODE)?;
    }
    f.write_all(lines)?;
    f.write_all(b"\n")?;
    if durable {
        f.sync_all()?;
    }
    Ok(())
}

/// The device of a file system object (one `syncfs` per device); 0 off Unix.
fn device_of(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::dev(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealHost;

impl Host for RealHost {
    fn observe(&self, path: &Path) -> std::io::Result<Observed> {
        let meta = match fs_err::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Observed::Absent),
            Err(e) => return Err(e),
        };
        let ft = meta.file_type();
        Ok(if ft.is_symlink() {
            Observed::Symlink
        } else if ft.is_dir() {
            Observed::Dir
        } else if ft.is_file() {
            let (sha256, size) = crate::fs::sha256_file(path)?;
            Observed::File {
                sha256,
                size,
                mode: crate::fs::mode_of(&meta),
            }
        } else {
            Observed::Special
        })
    }

    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        // Never through a link, never a FIFO or device, never past the cap.
        crate::fs::read_regular(path, crate::fs::READ_CAP)
    }

    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let entries = match fs_err::read_dir(path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for e in entries {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        fs_err::create_dir(path)
    }

    fn create_private_dir_all(&self, path: &Path) -> std::io::Result<()> {
        crate::fs::create_private_dir(path)
    }

    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        fs_err::remove_dir(path)
    }

    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        match fs_err::remove_dir_all(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        crate::fs::write_atomic(path, bytes, mode)
    }

    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        copy_with(from, to, mode, true)
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        rename_with(from, to, true)
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        match fs_err::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn append(&self, path: &Path, line: &[u8]) -> std::io::Result<()> {
        append_with(path, line, true)
    }

    // Off Linux (no syncfs) the deferred writes stay durable ones.
    fn write_file_deferred(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        if crate::fs::CAN_DEFER_SYNC {
            crate::fs::write_atomic_unsynced(path, bytes, mode)
        } else {
            self.write_file(path, bytes, mode)
        }
    }

    fn copy_file_deferred(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        copy_with(from, to, mode, !crate::fs::CAN_DEFER_SYNC)
    }

    fn rename_deferred(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        rename_with(from, to, !crate::fs::CAN_DEFER_SYNC)
    }

    fn append_deferred(&self, path: &Path, lines: &[u8]) -> std::io::Result<()> {
        append_with(path, lines, !crate::fs::CAN_DEFER_SYNC)
    }

    fn sync_deferred(&self, dirs: &[&Path]) -> std::io::Result<()> {
        let mut seen = Vec::new();
        for dir in dirs {
            let device = fs_err::metadata(dir).map(|m| device_of(&m))?;
            if !seen.contains(&device) {
                seen.push(device);
                crate::fs::sync_file_system(dir)?;
            }
        }
        Ok(())
    }

    fn lock(&self, path: &Path, wait: Duration) -> Result<LockGuard, LockError> {
        if let Some(parent) = path.parent() {
            crate::fs::create_private_dir(parent)?;
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?
            .into_parts()
            .0;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { _file: Some(file) }),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Held {
                        path: path.to_path_buf(),
                        waited: start.elapsed(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }

    fn install_mcp(&self, server: &str, artifact: &Artifact, env: &InstallEnv) -> Result<(), InstallError> {
        crate::mcp::install::install(server, artifact, env).map(|_| ())
    }
}
