//! The one place for file-system primitives: atomic writes, modes, streaming hashes.
//!
//! Atomic write = temp file in the same directory, write, fsync, set mode, rename over the
//! target, fsync the directory (DESIGN.md "Execute"). A reader never sees half a file.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

mod beneath;
mod regular;
pub use beneath::Beneath;
pub use regular::{READ_CAP, STATE_DIRS, read_regular, refuse_linked_state_dirs};

/// Name prefix of the temp files of atomic writes (a crash can leave one; recovery removes them).
pub const TEMP_PREFIX: &str = ".codexport-tmp-";

/// Mode for secret files (`auth.json`, `.credentials.json`, keys, tokens): owner read/write.
pub const SECRET_MODE: u32 = 0o600;

/// Write `bytes` to `path` atomically with permission bits `mode` (e.g. `0o644`).
///
/// The parent directory must exist. Errors name the path (fs-err).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, bytes, mode, true)
}

/// [`write_atomic`] without the fsyncs, for caches whose readers check what they read (a
/// crash may leave the old file, the new one, or a torn new one; never a half-renamed name).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, bytes, mode, false)
}

fn write_atomic_with(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> std::io::Result<()> {
    prepare_with(path, bytes, mode, durable)?.commit()
}

/// The first half of [`write_atomic`]: `bytes` in a durable temp file beside `path`, not yet
/// in place. [`PreparedWrite::commit`] moves it there; dropping it removes the temp file. Lets
/// a caller write while it computes something else (publish signs while the document syncs).
pub fn prepare_write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<PreparedWrite> {
    prepare_with(path, bytes, mode, true)
}

fn prepare_with(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> std::io::Result<PreparedWrite> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("{} has no parent directory", path.display())))?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    set_open_mode(tmp.as_file(), tmp.path(), mode)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    Ok(PreparedWrite {
        tmp,
        path: path.to_path_buf(),
        durable,
    })
}

/// A file written by [`prepare_write`], waiting to be renamed into place.
#[derive(Debug)]
pub struct PreparedWrite {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    durable: bool,
}

impl PreparedWrite {
    /// Rename the temp file over the target and (when durable) fsync the directory.
    ///
    /// Errors: the rename, naming the target.
    pub fn commit(self) -> std::io::Result<()> {
        crate::crash_point!("fs::before-rename");
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| std::io::Error::other(format!("rename into {}: {}", path.display(), e.error)))?;
        if self.durable
            && let Some(dir) = path.parent()
        {
            sync_dir(dir);
        }
        Ok(())
    }
}

/// Copy `src` to `dst` atomically with `mode`, streaming (never the whole file in memory).
pub fn copy_atomic(src: &Path, dst: &Path, mode: u32) -> std::io::Result<()> {
    copy_atomic_with(src, dst, mode, true)
}

/// [`copy_atomic`] without the fsyncs: for a batch made durable at once by
/// [`sync_file_system`] (the reconcile's deferred writes).
pub fn copy_atomic_unsynced(src: &Path, dst: &Path, mode: u32) -> std::io::Result<()> {
    copy_atomic_with(src, dst, mode, false)
}

fn copy_atomic_with(src: &Path, dst: &Path, mode: u32, durable: bool) -> std::io::Result<()> {
    let dir = dst
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("{} has no parent directory", dst.display())))?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    set_open_mode(tmp.as_file(), tmp.path(), mode)?;
    let mut input = fs_err::File::open(src)?;
    std::io::copy(&mut input, tmp.as_file_mut())?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    crate::crash_point!("fs::before-rename");
    tmp.persist(dst)
        .map_err(|e| std::io::Error::other(format!("rename into {}: {}", dst.display(), e.error)))?;
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Flush the whole file system holding `dir` (`syncfs`, Linux): every write made so far on it
/// is durable when this returns. Returns false where `syncfs` is not available (the caller
/// then must not have deferred anything).
pub fn sync_file_system(dir: &Path) -> std::io::Result<bool> {
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

/// True where [`sync_file_system`] works, so writes may skip their own fsyncs.
pub const CAN_DEFER_SYNC: bool = cfg!(target_os = "linux");

/// fsync a directory so a rename in it survives a crash; best effort (not all platforms allow it).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Set the permission bits of `path` (Unix); a no-op elsewhere.
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// [`set_mode`] through an open descriptor (`fchmod`, no path lookup); errors name `path`.
pub fn set_open_mode(file: &std::fs::File, path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| std::io::Error::new(e.kind(), format!("setting the mode of {}: {e}", path.display())))?;
    }
    #[cfg(not(unix))]
    let _ = (file, path, mode);
    Ok(())
}

/// The permission bits of already-read metadata (`0o644` when the platform has none).
pub fn mode_of(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        if meta.permissions().readonly() { 0o444 } else { 0o644 }
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Stream a file through sha256 with a fixed 64 KiB buffer; returns (hex digest, size in bytes).
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Create `dir` and its parents with mode 0700 for codexport's private state directories.
/// Every directory this call creates gets 0700, not only the last one.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    set_mode(dir, 0o700)
}
