//! [`RecordingHost`]: the [`Host`] of `plan` and `apply --dry-run`. It reads the real disk but
//! only records the writes, as [`Effect`]s, so dry-run and apply run one code path.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::mcp::artifact::Artifact;
use crate::mcp::install::{InstallEnv, InstallError};

use super::host::{Host, LockError, LockGuard, Observed, RealHost};

/// One recorded side effect (what [`RecordingHost`] keeps instead of doing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `create_dir` or `create_dir_all`.
    CreateDir(PathBuf),
    /// `remove_dir` or `remove_dir_all`.
    RemoveDir(PathBuf),
    /// `write_file` (path, size in bytes, mode).
    Write(PathBuf, u64, u32),
    /// `copy_file` (from, to, mode).
    Copy(PathBuf, PathBuf, u32),
    /// `rename` (from, to).
    Rename(PathBuf, PathBuf),
    /// `remove_file`.
    Remove(PathBuf),
    /// `append` (journal line).
    Append(PathBuf),
    /// `install_mcp` (server name).
    InstallMcp(String),
}

/// Reads the real disk, records every write instead of doing it (dry runs and order tests).
#[derive(Debug, Default)]
pub struct RecordingHost {
    effects: Mutex<Vec<Effect>>,
}

impl RecordingHost {
    /// A host with nothing recorded.
    pub fn new() -> Self {
        RecordingHost::default()
    }

    /// The effects recorded so far, in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.effects.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn record(&self, effect: Effect) -> std::io::Result<()> {
        if let Ok(mut e) = self.effects.lock() {
            e.push(effect);
        }
        Ok(())
    }
}

impl Host for RecordingHost {
    fn observe(&self, path: &Path) -> std::io::Result<Observed> {
        RealHost.observe(path)
    }
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        RealHost.read(path)
    }
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        RealHost.list_dir(path)
    }
    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        self.record(Effect::CreateDir(path.into()))
    }
    fn create_private_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.record(Effect::CreateDir(path.into()))
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        self.record(Effect::RemoveDir(path.into()))
    }
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.record(Effect::RemoveDir(path.into()))
    }
    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        self.record(Effect::Write(path.into(), bytes.len() as u64, mode))
    }
    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        self.record(Effect::Copy(from.into(), to.into(), mode))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.record(Effect::Rename(from.into(), to.into()))
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.record(Effect::Remove(path.into()))
    }
    fn append(&self, path: &Path, _line: &[u8]) -> std::io::Result<()> {
        self.record(Effect::Append(path.into()))
    }
    fn lock(&self, _path: &Path, _wait: Duration) -> Result<LockGuard, LockError> {
        Ok(LockGuard { _file: None })
    }
    fn install_mcp(&self, server: &str, _artifact: &Artifact, _env: &InstallEnv) -> Result<(), InstallError> {
        self.record(Effect::InstallMcp(server.to_string()))
            .map_err(InstallError::from)
    }
}
