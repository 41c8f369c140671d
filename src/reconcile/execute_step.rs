//! The two halves of one file step of [`super::execute`]'s group commit: [`prepare`] (backup
//! and undo record, phase 1) and [`change`] (the write, rename or removal, phase 2). Writes are
//! deferred: the caller flushes the file systems once per phase.

use std::collections::HashMap;
use std::path::Path;

use super::host::{Host, Observed};
use super::journal::{Journal, Undo};
use super::plan::{Action, PlanStep, StepKind};
use super::render::{Content, DesiredFile, Root};

/// Phase 1 of `step`: back up what it will overwrite or remove, and stage how to undo it.
pub(super) fn prepare(
    step: &PlanStep,
    target: &Path,
    backup: &Path,
    journal: &mut Journal,
    host: &dyn Host,
) -> std::io::Result<()> {
    match (step.kind, step.action) {
        (StepKind::EnsureDir, _) => journal.stage(&step.id, Undo::RemoveDir { path: target.into() }),
        (StepKind::RemoveDir, _) => journal.stage(&step.id, Undo::CreateDir { path: target.into() }),
        (StepKind::RemoveFile, _) => back_up(step, target, backup, journal, host),
        (_, action) => {
            if step.obstruction.is_some() {
                journal.stage(
                    &step.id,
                    Undo::MoveBack {
                        target: target.into(),
                        backup: backup.into(),
                    },
                )
            } else if action == Action::Update {
                back_up(step, target, backup, journal, host)
            } else {
                journal.stage(&step.id, Undo::RemoveFile { path: target.into() })
            }
        }
    }
}

/// Phase 2 of `step`: the change itself (its undo is already durable).
pub(super) fn change(
    step: &PlanStep,
    target: &Path,
    backup: &Path,
    by_path: &HashMap<(Root, &str), &DesiredFile>,
    host: &dyn Host,
) -> std::io::Result<()> {
    match step.kind {
        StepKind::EnsureDir => host.create_dir(target),
        StepKind::RemoveDir => host.remove_dir(target),
        StepKind::RemoveFile => host.remove_file(target),
        _ => {
            let file = by_path
                .get(&(step.root, step.path.as_str()))
                .ok_or_else(|| std::io::Error::other(format!("{} is not in the desired state", step.path)))?;
            if step.obstruction.is_some() {
                if let Some(parent) = backup.parent() {
                    host.create_private_dir_all(parent)?;
                }
                host.rename_deferred(target, backup)?;
            }
            match &file.content {
                Content::Rendered(bytes) => host.write_file_deferred(target, bytes, file.mode),
                Content::Blob(blob) => host.copy_file_deferred(blob, target, file.mode),
            }
        }
    }
}

/// Copy `target` into the generation's backups (mode kept), then stage how to restore it.
fn back_up(
    step: &PlanStep,
    target: &Path,
    backup: &Path,
    journal: &mut Journal,
    host: &dyn Host,
) -> std::io::Result<()> {
    let mode = mode_on_disk(host, target);
    if let Some(parent) = backup.parent() {
        host.create_private_dir_all(parent)?;
    }
    host.copy_file_deferred(target, backup, mode)?;
    crate::crash_point!("execute::after-backup");
    journal.stage(
        &step.id,
        Undo::Restore {
            target: target.into(),
            backup: backup.into(),
            mode,
        },
    )
}

fn mode_on_disk(host: &dyn Host, path: &Path) -> u32 {
    match host.observe(path) {
        Ok(Observed::File { mode, .. }) => mode,
        _ => 0o600,
    }
}
