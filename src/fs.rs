//! The one place for file-system primitives: atomic writes, modes, streaming hashes.
//!
//! Atomic write = temp file in the same directory, write, fsync, set mode, rename over the
//! target, fsync the directory (DESIGN.md "Execute"). A reader never sees half a file.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

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

/// A directory under which files are opened for reading without following a symbolic link
/// anywhere below it (the directory itself may be one, like a `~/.codex` that points
/// elsewhere).
///
/// Why: the master serves published files straight from `CODEX_HOME`; a link put in place of
/// a published path, or of a directory on its way, after the publish must not make it serve a
/// file from somewhere else.
///
/// On Linux the directory is opened once and each file with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS)`: the kernel refuses a link on the way, with no window between check
/// and open, and only the relative part of each path is walked. Elsewhere, or on kernels older
/// than 5.6, every directory on the way is checked with `lstat` and the file opened with
/// `O_NOFOLLOW` where there is one.
pub struct Beneath {
    root: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    dir: Option<std::os::fd::OwnedFd>,
}

impl Beneath {
    /// Files under `root` (opened now on Linux; a failure there falls back to path checks, so
    /// the errors of [`Beneath::open`] still name the path).
    pub fn new(root: &Path) -> Self {
        Beneath {
            root: root.to_path_buf(),
            #[cfg(target_os = "linux")]
            dir: rustix::fs::open(
                root,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok(),
        }
    }

    /// The root given to [`Beneath::new`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Open the regular file `rel` (a validated relative path: `/`-separated, no `..`; see
    /// `model::relpath`) for reading, with its metadata taken through the open descriptor.
    ///
    /// Errors: `InvalidInput` naming the path when `rel` is not normalised, a component is a
    /// link or not a directory, or the file is not a regular file; otherwise the I/O error of
    /// the open, naming the path.
    pub fn open(&self, rel: &str) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
        let path = self.root.join(rel);
        if rel
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(refuse(&path, "not a normalised relative path"));
        }
        let file = match self.open_in_kernel(rel) {
            Some(Ok(file)) => file,
            Some(Err(e)) if is_link_refusal(&e) => return Err(refuse(&path, "a link on the way")),
            Some(Err(e)) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("opening {}: {e}", path.display()),
                ));
            }
            None => self.open_checking_each_directory(rel, &path)?,
        };
        let meta = file
            .metadata()
            .map_err(|e| std::io::Error::new(e.kind(), format!("reading the metadata of {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(refuse(&path, "not a regular file"));
        }
        Ok((file, meta))
    }

    /// `openat2` beneath the open directory; `None` when there is none or the kernel lacks it.
    fn open_in_kernel(&self, rel: &str) -> Option<std::io::Result<std::fs::File>> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags, ResolveFlags};
            let dir = self.dir.as_ref()?;
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(
                dir,
                rel,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                how,
            ) {
                Err(rustix::io::Errno::NOSYS) => None,
                r => Some(r.map(std::fs::File::from).map_err(std::io::Error::from)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = rel;
            None
        }
    }

    fn open_checking_each_directory(&self, rel: &str, path: &Path) -> std::io::Result<std::fs::File> {
        let mut at = self.root.clone();
        let mut parts = rel.split('/').peekable();
        while let Some(part) = parts.next() {
            at.push(part);
            if parts.peek().is_some() && !fs_err::symlink_metadata(&at)?.is_dir() {
                return Err(refuse(&at, "not a directory (a link or a file)"));
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        #[cfg(not(unix))]
        if fs_err::symlink_metadata(path)?.is_symlink() {
            return Err(refuse(path, "a link"));
        }
        options.open(path).map_err(|e| {
            if is_link_refusal(&e) {
                refuse(path, "a link")
            } else {
                std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
            }
        })
    }
}

fn refuse(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{}: {what}, refused", path.display()),
    )
}

/// True for what `open` with `O_NOFOLLOW` answers when the last component is a link (ELOOP),
/// and `openat2` for a link or an escape on the way (ELOOP, EXDEV).
fn is_link_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return [rustix::io::Errno::LOOP, rustix::io::Errno::XDEV]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()));
    #[cfg(not(unix))]
    return {
        let _ = e;
        false
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    type Open = dyn Fn(&Path, &str) -> std::io::Result<(std::fs::File, std::fs::Metadata)>;

    #[test]
    fn beneath_opens_files_and_refuses_links_on_the_way() {
        let in_kernel = |root: &Path, rel: &str| Beneath::new(root).open(rel);
        // The path-checking fallback (other systems, kernels without openat2).
        let checking = |root: &Path, rel: &str| {
            #[allow(unused_mut)]
            let mut beneath = Beneath::new(root);
            #[cfg(target_os = "linux")]
            {
                beneath.dir = None;
            }
            beneath.open(rel)
        };
        for open in [&in_kernel as &Open, &checking as &Open] {
            check_beneath(open);
        }
    }

    fn check_beneath(open_beneath: &Open) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs_err::create_dir_all(root.join("skills/a")).unwrap();
        fs_err::write(root.join("skills/a/SKILL.md"), "hello").unwrap();
        let (_, meta) = open_beneath(&root, "skills/a/SKILL.md").unwrap();
        assert_eq!(meta.len(), 5);

        let outside = dir.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::write(outside.join("secret"), "s").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.join("secret"), root.join("skills/a/link.md")).unwrap();
            std::os::unix::fs::symlink(&outside, root.join("skills/b")).unwrap();
            for rel in ["skills/a/link.md", "skills/b/secret"] {
                let err = open_beneath(&root, rel).unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{rel}: {err}");
                assert!(err.to_string().contains("refused"), "{err}");
            }
            // The root itself may be a link.
            std::os::unix::fs::symlink(&root, dir.path().join("via-link")).unwrap();
            assert!(open_beneath(&dir.path().join("via-link"), "skills/a/SKILL.md").is_ok());
        }
        for rel in [
            "skills/../skills/a/SKILL.md",
            "/etc/passwd",
            "skills//a/SKILL.md",
            "skills/a",
        ] {
            assert!(open_beneath(&root, rel).is_err(), "{rel}");
        }
        let missing = open_beneath(&root, "skills/a/none.md").unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("none.md"), "{missing}");
    }
}
