//! Execute a plan: take the lock, back up everything before it is overwritten or removed into
//! `backups/<generation>/`, write atomically, roll back in reverse order when a step fails, and
//! write the inventory last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ReconcileError;
use super::host::Host;
use super::inventory::{Inventory, InventoryEntry};
use super::plan::{Action, Plan, StepKind};
use super::render::{Content, Desired, DesiredFile};

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Revision now applied.
    pub revision: String,
    /// Generation created (`None` when nothing changed).
    pub generation: Option<u64>,
    /// Steps that changed the disk.
    pub changed: usize,
    /// Files backed up (relative paths) into `backups/<generation>/`.
    pub backed_up: Vec<String>,
}

/// An exclusive lock on `$CODEXPORT_HOME/lock`, released on drop (and by the OS on a crash).
pub struct Lock {
    _file: std::fs::File,
}

impl Lock {
    /// Take the lock or fail at once with [`ReconcileError::Locked`].
    pub fn try_acquire(codexport_home: &Path) -> Result<Self, ReconcileError> {
        crate::fs::create_private_dir(codexport_home)?;
        let path = codexport_home.join("lock");
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?
            .into_parts()
            .0;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ReconcileError::Locked(path)),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

enum Undo {
    RemoveDir(PathBuf),
    Restore {
        target: PathBuf,
        backup: PathBuf,
        mode: u32,
    },
    Remove(PathBuf),
}

/// Apply `plan` (built from `desired`) under `codex_home`, with state in `codexport_home`.
///
/// Errors: [`ReconcileError::RolledBack`] when a step failed (everything before it undone).
pub fn apply(
    plan: &Plan,
    desired: &Desired,
    inventory: &Inventory,
    codex_home: &Path,
    codexport_home: &Path,
    host: &dyn Host,
) -> Result<ApplyReport, ReconcileError> {
    let _lock = Lock::try_acquire(codexport_home)?;
    let by_path: HashMap<&str, &DesiredFile> = desired.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let generation = next_generation(codexport_home, inventory)?;
    let backup_root = codexport_home.join("backups").join(generation.to_string());
    let mut undo: Vec<Undo> = Vec::new();
    let mut report = ApplyReport {
        revision: plan.revision.clone(),
        ..Default::default()
    };
    for step in plan.steps.iter().filter(|s| s.action != Action::Noop) {
        let target = codex_home.join(&step.path);
        let result = (|| -> std::io::Result<()> {
            match step.kind {
                StepKind::EnsureDir => {
                    host.create_dir(&target)?;
                    undo.push(Undo::RemoveDir(target.clone()));
                }
                StepKind::RemoveFile => {
                    let backup = backup_root.join(&step.path);
                    let mode = mode_on_disk(&target);
                    host.copy_file(&target, &backup, mode)?;
                    report.backed_up.push(step.path.clone());
                    host.remove_file(&target)?;
                    undo.push(Undo::Restore {
                        target: target.clone(),
                        backup,
                        mode,
                    });
                }
                StepKind::WriteFile | StepKind::WriteConfig | StepKind::WriteHooks => {
                    let file = by_path
                        .get(step.path.as_str())
                        .ok_or_else(|| std::io::Error::other("the plan does not match the desired state"))?;
                    if step.action == Action::Update {
                        let backup = backup_root.join(&step.path);
                        let mode = mode_on_disk(&target);
                        host.copy_file(&target, &backup, mode)?;
                        report.backed_up.push(step.path.clone());
                        write(host, file, &target)?;
                        undo.push(Undo::Restore {
                            target: target.clone(),
                            backup,
                            mode,
                        });
                    } else {
                        write(host, file, &target)?;
                        undo.push(Undo::Remove(target.clone()));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            roll_back(host, undo);
            return Err(ReconcileError::RolledBack {
                step: step.id.clone(),
                reason: e.to_string(),
            });
        }
        report.changed += 1;
    }
    let next = Inventory {
        revision: Some(plan.revision.clone()),
        generation: if report.changed > 0 {
            generation
        } else {
            inventory.generation
        },
        applied_at: if report.changed > 0 || inventory.revision.as_deref() != Some(&plan.revision) {
            Some(now())
        } else {
            inventory.applied_at.clone()
        },
        files: desired
            .files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    InventoryEntry {
                        sha256: f.sha256.clone(),
                        mode: f.mode,
                    },
                )
            })
            .collect(),
    };
    if &next != inventory
        && let Err(e) = next.save(codexport_home)
    {
        roll_back(host, undo);
        return Err(ReconcileError::RolledBack {
            step: "inventory".into(),
            reason: e.to_string(),
        });
    }
    report.generation = (report.changed > 0).then_some(generation);
    Ok(report)
}

fn write(host: &dyn Host, file: &DesiredFile, target: &Path) -> std::io::Result<()> {
    match &file.content {
        Content::Rendered(bytes) => host.write_file(target, bytes, file.mode),
        Content::Blob(blob) => host.copy_file(blob, target, file.mode),
    }
}

fn roll_back(host: &dyn Host, undo: Vec<Undo>) {
    for u in undo.into_iter().rev() {
        let _ = match u {
            Undo::RemoveDir(p) => host.remove_dir(&p),
            Undo::Remove(p) => host.remove_file(&p),
            Undo::Restore { target, backup, mode } => host.copy_file(&backup, &target, mode),
        };
    }
}

fn mode_on_disk(path: &Path) -> u32 {
    fs_err::symlink_metadata(path)
        .map(|m| crate::fs::mode_of(&m))
        .unwrap_or(0o644)
}

/// One more than the highest generation seen in the inventory or under `backups/`.
fn next_generation(codexport_home: &Path, inventory: &Inventory) -> std::io::Result<u64> {
    let mut highest = inventory.generation;
    if let Ok(entries) = fs_err::read_dir(codexport_home.join("backups")) {
        for e in entries.flatten() {
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                highest = highest.max(n);
            }
        }
    }
    Ok(highest + 1)
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
