//! The journal of a run: `journal/<generation>.jsonl`, one JSON value a line, fsynced.
//!
//! Write-ahead: a step's undo record is appended before the step touches the disk, so a run
//! killed at any point can be rolled back by the next one ([`recover`]). Lines: a header with
//! the inventory before the run, one `step` line per step, and `committed` once the inventory
//! and generation record are written. A committed journal only needs deleting.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::host::{Host, Observed};
use super::inventory::Inventory;

pub use super::journal_kept::{KEPT_FIX, KeptJournal, UndoFailure, kept, list};

/// Directory of journals under CODEXPORT_HOME.
pub const DIR: &str = "journal";

/// How to undo one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "undo")]
pub enum Undo {
    /// Remove a directory the step created (only if still empty).
    RemoveDir {
        /// The directory.
        path: PathBuf,
    },
    /// Re-create a directory the step removed.
    CreateDir {
        /// The directory.
        path: PathBuf,
    },
    /// Remove a file the step created.
    RemoveFile {
        /// The file.
        path: PathBuf,
    },
    /// Copy the backup back over the target.
    Restore {
        /// The file the step overwrote or removed.
        target: PathBuf,
        /// Its backup.
        backup: PathBuf,
        /// Its mode before the step.
        mode: u32,
    },
    /// Remove what the step wrote, then rename the moved-aside obstruction back.
    MoveBack {
        /// Where the obstruction was.
        target: PathBuf,
        /// Where it was moved.
        backup: PathBuf,
    },
}

impl Undo {
    fn touched(&self) -> [Option<&Path>; 2] {
        match self {
            Undo::RemoveDir { path } | Undo::CreateDir { path } | Undo::RemoveFile { path } => [Some(path), None],
            Undo::Restore { target, backup, .. } | Undo::MoveBack { target, backup } => [Some(target), Some(backup)],
        }
    }

    /// Undo: every undo is safe to run even when its step never happened. `roots` are the
    /// managed roots (`CODEX_HOME`, `CODEXPORT_HOME`): an undo whose path is under none of
    /// them, or whose directories on the way are no longer plain directories (a symlink swapped
    /// in since), is not run, so a rollback never writes through a link either (see
    /// [`super::confine`]).
    ///
    /// Errors: [`UndoFailure`] naming the path that was not put back and why: the undo was
    /// refused (confinement), its I/O failed, or the backup to restore is gone or is no longer a
    /// file. A directory left because it is no longer empty, or already gone, is not a failure.
    pub fn apply(&self, host: &dyn Host, roots: &[&Path]) -> Result<(), UndoFailure> {
        for path in self.touched().into_iter().flatten() {
            let confined = roots
                .iter()
                .find(|root| path.starts_with(root))
                .map(|root| super::confine::check(root, path, host));
            match confined {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(UndoFailure::new(path, format!("not undone: {e}"))),
                None => {
                    return Err(UndoFailure::new(
                        path,
                        "not undone: the path is outside the managed roots".into(),
                    ));
                }
            }
        }
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| UndoFailure::new(&path, e.to_string())
        };
        match self {
            Undo::RemoveDir { path } => match host.remove_dir(path) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
                    ) =>
                {
                    Ok(())
                }
                other => other.map_err(failed(path)),
            },
            Undo::CreateDir { path } => match host.observe(path).map_err(failed(path))? {
                Observed::Absent => host.create_dir(path).map_err(failed(path)),
                _ => Ok(()),
            },
            Undo::RemoveFile { path } => host.remove_file(path).map_err(failed(path)),
            Undo::Restore { target, backup, mode } => {
                let saved = host.observe(backup).map_err(failed(target))?;
                let Observed::File { sha256, .. } = saved else {
                    return Err(UndoFailure::new(
                        target,
                        format!(
                            "not restored: its backup {} is {}",
                            backup.display(),
                            match saved {
                                Observed::Absent => "gone".to_string(),
                                other => format!("a {}, not a file", other.kind()),
                            }
                        ),
                    ));
                };
                match host.observe(target).map_err(failed(target))? {
                    // Unchanged (its step never ran): nothing to write.
                    Observed::File {
                        sha256: now, mode: m, ..
                    } if sha256 == now && m == *mode => Ok(()),
                    _ => host.copy_file(backup, target, *mode).map_err(failed(target)),
                }
            }
            Undo::MoveBack { target, backup } => match host.observe(backup).map_err(failed(target))? {
                // Never moved (its step never ran), or already moved back.
                Observed::Absent => Ok(()),
                _ => host
                    .remove_file(target)
                    .and_then(|_| host.rename(backup, target))
                    .map_err(failed(target)),
            },
        }
    }
}

/// The header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Generation this run creates.
    pub generation: u64,
    /// Revision it applies.
    pub revision: String,
    /// The inventory before the run, restored by a rollback.
    pub previous_inventory: Inventory,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Line {
    Header(Header),
    Step {
        id: String,
        undo: Undo,
    },
    /// Appended when a rollback left undos undone: the journal is kept for the next run to
    /// retry, and for `status` and `doctor` to show.
    RollbackFailed {
        failures: Vec<UndoFailure>,
    },
    Committed,
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    undo: Vec<Undo>,
    /// Step lines staged by [`Journal::stage`], not yet appended.
    staged: Vec<u8>,
}

impl Journal {
    /// Start a journal for `header.generation`.
    pub fn begin(host: &dyn Host, codexport_home: &Path, header: Header) -> std::io::Result<Self> {
        let dir = codexport_home.join(DIR);
        host.create_private_dir_all(&dir)?;
        let path = dir.join(format!("{}.jsonl", header.generation));
        host.remove_file(&path)?;
        append(host, &path, &Line::Header(header))?;
        Ok(Journal {
            path,
            undo: Vec::new(),
            staged: Vec::new(),
        })
    }

    /// Record how to undo a step, before the step runs.
    pub fn record(&mut self, host: &dyn Host, id: &str, undo: Undo) -> std::io::Result<()> {
        append(
            host,
            &self.path,
            &Line::Step {
                id: id.to_string(),
                undo: undo.clone(),
            },
        )?;
        self.undo.push(undo);
        Ok(())
    }

    /// Record how to undo a step in memory; [`Journal::flush_staged`] appends every staged
    /// line at once. A rollback undoes staged steps too (every undo is safe when its step never
    /// ran), so the caller may stage a whole batch before running any of it.
    pub fn stage(&mut self, id: &str, undo: Undo) -> std::io::Result<()> {
        let line = Line::Step {
            id: id.to_string(),
            undo: undo.clone(),
        };
        if !self.staged.is_empty() {
            self.staged.push(b'\n');
        }
        serde_json::to_writer(&mut self.staged, &line).map_err(std::io::Error::other)?;
        self.undo.push(undo);
        Ok(())
    }

    /// Append the staged lines with one deferred write: durable after the caller's
    /// [`Host::sync_deferred`], which must come before any staged step runs.
    pub fn flush_staged(&mut self, host: &dyn Host) -> std::io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        host.append_deferred(&self.path, &self.staged)?;
        self.staged.clear();
        Ok(())
    }

    /// Undo every recorded step in reverse order (confined to `roots`, see [`Undo::apply`]),
    /// then drop the journal; returns the undos that failed. When any failed, the journal is
    /// kept with a `rollbackFailed` line naming them: the next run retries it ([`recover`])
    /// and `status` / `doctor` show it ([`kept`]).
    pub fn roll_back(self, host: &dyn Host, roots: &[&Path]) -> Vec<UndoFailure> {
        let failures: Vec<UndoFailure> = self
            .undo
            .iter()
            .rev()
            .filter_map(|u| u.apply(host, roots).err())
            .collect();
        if failures.is_empty() {
            let _ = host.remove_file(&self.path);
        } else {
            for f in &failures {
                tracing::warn!(path = %f.path.display(), "undo failed: {}", f.reason);
            }
            let marked = Line::RollbackFailed {
                failures: failures.clone(),
            };
            // Staged undo lines first: the kept journal must list every step to retry.
            let staged = self.staged.clone();
            let kept = if staged.is_empty() {
                Ok(())
            } else {
                host.append(&self.path, &staged)
            };
            if let Err(e) = kept.and_then(|()| append(host, &self.path, &marked)) {
                tracing::warn!(journal = %self.path.display(), "could not mark the journal: {e}");
            }
        }
        failures
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Mark the run complete and delete the journal.
    pub fn commit(self, host: &dyn Host) -> std::io::Result<()> {
        append(host, &self.path, &Line::Committed)?;
        crate::crash_point!("journal::after-commit");
        host.remove_file(&self.path)
    }
}

fn append(host: &dyn Host, path: &Path, line: &Line) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    host.append(path, &bytes)
}

/// What a recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Generation of the interrupted run.
    pub generation: u64,
    /// Steps undone (0 when the run had committed).
    pub undone: usize,
    /// Stray temp files removed.
    pub temp_files_removed: usize,
}

/// Roll back every interrupted run found in `journal/`: undo its steps in reverse (confined to
/// `codex_home` and `codexport_home`), restore the inventory, drop its generation record,
/// remove stray temp files (beside its targets and in its backup directory). Committed runs
/// are only cleaned up.
pub fn recover(host: &dyn Host, codexport_home: &Path, codex_home: &Path) -> std::io::Result<Vec<Recovered>> {
    let roots = [codex_home, codexport_home];
    let dir = codexport_home.join(DIR);
    let mut out = Vec::new();
    for name in host.list_dir(&dir)? {
        let path = dir.join(&name);
        let Some(bytes) = host.read(&path)? else { continue };
        let lines: Vec<Line> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let generation = name.trim_end_matches(".jsonl").parse().unwrap_or(0);
        if lines.last() == Some(&Line::Committed) {
            host.remove_file(&path)?;
            out.push(Recovered {
                generation,
                undone: 0,
                temp_files_removed: 0,
            });
            continue;
        }
        let undos: Vec<&Undo> = lines
            .iter()
            .filter_map(|l| {
                if let Line::Step { undo, .. } = l {
                    Some(undo)
                } else {
                    None
                }
            })
            .collect();
        // Temp files first: a half-written file would keep a created directory from being removed.
        let mut dirs: Vec<&Path> = undos
            .iter()
            .flat_map(|u| u.touched())
            .flatten()
            .filter_map(Path::parent)
            .collect();
        dirs.push(codexport_home);
        dirs.sort();
        dirs.dedup();
        let mut temp_files_removed = 0;
        for d in dirs {
            for n in host
                .list_dir(d)?
                .into_iter()
                .filter(|n| n.starts_with(crate::fs::TEMP_PREFIX))
            {
                host.remove_file(&d.join(n))?;
                temp_files_removed += 1;
            }
        }
        // A crash while backing up leaves a temp file in the run's backup directory, which no
        // journaled step names yet.
        let backups = codexport_home
            .join(super::generations::BACKUPS)
            .join(generation.to_string());
        temp_files_removed += remove_temp_files_under(host, &backups)?;
        let failures: Vec<UndoFailure> = undos.iter().rev().filter_map(|u| u.apply(host, &roots).err()).collect();
        if let Some(Line::Header(h)) = lines.first() {
            super::inventory::save(host, codexport_home, &h.previous_inventory)?;
            host.remove_file(&super::generations::path(codexport_home, h.generation))?;
        }
        if !failures.is_empty() {
            // Kept, marked again with what failed this time; the run stops here: applying on
            // top of a half-undone run would bury what is left to put back.
            append(
                host,
                &path,
                &Line::RollbackFailed {
                    failures: failures.clone(),
                },
            )?;
            return Err(std::io::Error::other(format!(
                "the interrupted run {generation} could not be rolled back, except: {}; the journal {} is kept: {}",
                list(&failures),
                path.display(),
                KEPT_FIX
            )));
        }
        host.remove_file(&path)?;
        out.push(Recovered {
            generation,
            undone: undos.len(),
            temp_files_removed,
        });
    }
    Ok(out)
}

/// Remove codexport's temp files anywhere under `dir` (absent is fine); returns how many.
fn remove_temp_files_under(host: &dyn Host, dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(names) = host.list_dir(dir) else {
        return Ok(0);
    };
    for name in names {
        let path = dir.join(&name);
        if name.starts_with(crate::fs::TEMP_PREFIX) {
            host.remove_file(&path)?;
            removed += 1;
        } else if fs_err::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            // Never through a symlink: only real directories are entered.
            removed += remove_temp_files_under(host, &path)?;
        }
    }
    Ok(removed)
}
