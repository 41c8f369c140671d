//! What a rollback could not undo ([`UndoFailure`]), and the journals left in `journal/`
//! ([`kept`]) that `status` and `doctor` show: runs whose rollback failed, or that were
//! interrupted. The journal format is in [`super::journal`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::host::Host;
use super::journal::{DIR, Line};

/// An undo that did not happen: the path left as the failed run made it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct UndoFailure {
    /// The path not put back.
    pub path: PathBuf,
    /// Why (the I/O error, or what was found instead of the backup).
    pub reason: String,
}

impl UndoFailure {
    pub(super) fn new(path: &Path, reason: String) -> Self {
        UndoFailure {
            path: path.to_path_buf(),
            reason,
        }
    }
}

/// What to do about a kept journal (shown by errors, `status` and `doctor`).
pub const KEPT_FIX: &str = "fix the cause, then run `codexport apply` again to retry the rollback; or put each path back by hand (from the backup named) and delete the journal";

/// `p: reason; p2: reason2`.
pub fn list(failures: &[UndoFailure]) -> String {
    failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
}

/// A journal left in `journal/`: a run whose rollback failed, or one interrupted (a crash);
/// the next run retries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptJournal {
    /// The journal file.
    pub path: PathBuf,
    /// The generation the run would have created.
    pub generation: u64,
    /// The undos its last rollback could not do; empty for an interrupted run.
    pub failures: Vec<UndoFailure>,
}

/// Every uncommitted journal under `codexport_home` (read-only, for `status` and `doctor`).
/// Seen while a run holds the lock, a journal is that run's own: callers say so.
pub fn kept(codexport_home: &Path) -> std::io::Result<Vec<KeptJournal>> {
    let host = super::host::RealHost;
    let dir = codexport_home.join(DIR);
    let mut out = Vec::new();
    for name in host.list_dir(&dir)?.into_iter().filter(|n| n.ends_with(".jsonl")) {
        let path = dir.join(&name);
        let Some(bytes) = host.read(&path)? else { continue };
        let lines: Vec<Line> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        if lines.last() == Some(&Line::Committed) {
            continue;
        }
        let failures = lines
            .iter()
            .rev()
            .find_map(|l| match l {
                Line::RollbackFailed { failures } => Some(failures.clone()),
                _ => None,
            })
            .unwrap_or_default();
        out.push(KeptJournal {
            generation: name.trim_end_matches(".jsonl").parse().unwrap_or(0),
            path,
            failures,
        });
    }
    Ok(out)
}
