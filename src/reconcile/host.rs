//! The one side-effect trait of a reconcile (DESIGN.md: like chezmoi's `System`).
//!
//! Planning reads through [`Host::observe`]; executing writes through the other methods. The
//! real implementation uses `crate::fs`; tests may record instead.

use std::path::Path;

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

/// Side effects of a reconcile. Paths are absolute.
pub trait Host {
    /// Look at a path without following symlinks; hashes regular files.
    fn observe(&self, path: &Path) -> std::io::Result<Observed>;
    /// Create one directory (its parent exists).
    fn create_dir(&self, path: &Path) -> std::io::Result<()>;
    /// Remove an empty directory.
    fn remove_dir(&self, path: &Path) -> std::io::Result<()>;
    /// Write bytes atomically with a mode.
    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()>;
    /// Copy a file atomically with a mode (creating the destination's parents).
    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()>;
    /// Remove a file.
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
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

    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        fs_err::create_dir(path)
    }

    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        fs_err::remove_dir(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        crate::fs::write_atomic(path, bytes, mode)
    }

    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent)?;
        }
        crate::fs::copy_atomic(from, to, mode)
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        fs_err::remove_file(path)
    }
}
