//! The safety valve of a plan: what `apply` refuses without `--allow-mass-delete` (see
//! [`refusal`]). Reads the disk through the [`Host`] only to count the files below a directory
//! a write would move aside.

use std::collections::HashSet;
use std::path::Path;

use crate::codex::layout::{CONFIG_TOML, is_runtime_state};

use super::ReconcileError;
use super::generations::{self, Generation, GenerationKind};
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::plan::{Action, PlanStep, StepKind};
use super::render::{Desired, Root};

/// The safety valve: deleting more than half of the managed files, or emptying config.toml;
/// or displacing what codexport never wrote, counted with the deletions against everything
/// codexport manages or would manage (the inventory or the desired files, whichever is more).
/// Displaced: a file not in the inventory that a write replaces, or anything in the way of a
/// write (moved aside; a directory counts every file below it). Displaced files are backed up,
/// but backups are pruned with their generation, so this is where a master that names the
/// user's own trees is stopped.
///
/// Deletions are also measured against the newest generation an operator ran (not the
/// SessionStart hook; the largest kept one when every kept generation is unattended): a
/// revision that leaves out more than half of the files managed then is refused. So a master
/// cannot walk the files away through unattended runs, by padding (add 12 files, then drop
/// the 10 real ones) or halving (10 -> 5 -> 3 -> ...). An operator's run moves the reference.
///
/// Except on the first apply (inventory generation 0): the files it replaces are kept for
/// good in generation 0 (see `generation_zero`), so replacing the follower's own `auth.json`
/// or `AGENTS.md` at join loses nothing and is not counted. What generation 0 does not keep
/// (a directory or a link in the way) still counts.
pub(super) fn refusal(
    steps: &[PlanStep],
    desired: &Desired,
    inventory: &Inventory,
    (codex_home, codexport_home): (&Path, &Path),
    host: &dyn Host,
) -> Result<Option<String>, ReconcileError> {
    let managed = inventory.files.len();
    let deletes = steps
        .iter()
        .filter(|s| s.action == Action::Delete && s.kind == StepKind::RemoveFile)
        .count();
    if managed > 0 && deletes * 2 > managed {
        return Ok(Some(format!(
            "this revision deletes {deletes} of the {managed} files codexport manages"
        )));
    }
    if deletes > 0
        && let Some(reason) = since_operator(desired, codexport_home, host)?
    {
        return Ok(Some(reason));
    }
    let wanted = desired.files.iter().filter(|f| f.root == Root::CodexHome).count();
    let base = managed.max(wanted);
    let mut displaced = 0;
    let first_apply = inventory.generation == 0;
    for step in steps.iter().filter(|s| displaces(s, inventory, first_apply)) {
        displaced += match step.obstruction.as_deref() {
            Some("directory") => files_below(&codex_home.join(&step.path), host, DISPLACED_COUNT_CAP)?.max(1),
            _ => 1,
        };
    }
    if displaced > 0 && (deletes + displaced) * 2 > base {
        return Ok(Some(format!(
            "this revision moves aside {displaced} file(s) codexport never wrote{} (it manages {base})",
            if deletes > 0 {
                format!(" and deletes {deletes}")
            } else {
                String::new()
            }
        )));
    }
    let emptied = match &desired.config {
        None => inventory.files.contains_key(CONFIG_TOML),
        Some(outcome) => outcome.owned_empty && !outcome.merge.removed.is_empty(),
    };
    Ok(emptied.then(|| "this revision empties config.toml".to_string()))
}

/// The deletion rule against the reference generation (see [`refusal`]); `None` when it
/// allows the plan or there is no reference yet.
fn since_operator(desired: &Desired, codexport_home: &Path, host: &dyn Host) -> Result<Option<String>, ReconcileError> {
    let kept: Vec<Generation> = generations::list(host, codexport_home)?
        .into_iter()
        .filter(|g| g.kind != GenerationKind::Original)
        .collect();
    let reference = kept
        .iter()
        .rev()
        .find(|g| !g.unattended)
        .or_else(|| kept.iter().max_by_key(|g| g.files.len()));
    let Some(reference) = reference else {
        return Ok(None);
    };
    let wanted: HashSet<&str> = desired
        .files
        .iter()
        .filter(|f| f.root == Root::CodexHome)
        .map(|f| f.path.as_str())
        .collect();
    let gone = reference
        .files
        .keys()
        .filter(|p| !wanted.contains(p.as_str()) && !desired.excludes(p) && !is_runtime_state(p))
        .count();
    let had = reference.files.len();
    Ok((gone * 2 > had).then(|| {
        format!(
            "this revision leaves out {gone} of the {had} files codexport managed at generation {} (the last one an operator ran)",
            reference.number
        )
    }))
}

/// Files counted below one moved-aside directory, at most (enough to trip the valve).
const DISPLACED_COUNT_CAP: usize = 10_000;

/// True when `step` replaces a file codexport never wrote (not on the `first_apply`, whose
/// generation 0 keeps it) or moves something aside. The config.toml merge keeps every key
/// codexport did not write, so it displaces nothing unless something other than a file is in
/// the way.
fn displaces(step: &PlanStep, inventory: &Inventory, first_apply: bool) -> bool {
    if step.action != Action::Update || step.root != Root::CodexHome {
        return false;
    }
    match step.kind {
        StepKind::WriteFile | StepKind::WriteHooks => {
            step.obstruction.is_some() || (!first_apply && !inventory.files.contains_key(&step.path))
        }
        StepKind::WriteConfig => step.obstruction.is_some(),
        _ => false,
    }
}

/// Regular files (and links, special files) below `dir`, never following a link; stops
/// counting at `cap`.
fn files_below(dir: &Path, host: &dyn Host, cap: usize) -> std::io::Result<usize> {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for name in host.list_dir(&d)? {
            if count >= cap {
                return Ok(count);
            }
            let path = d.join(name);
            // `file_size` is an lstat; `observe` would hash every file of the tree.
            if host.file_size(&path)?.is_some() {
                count += 1;
                continue;
            }
            match host.observe(&path)? {
                Observed::Dir => pending.push(path),
                Observed::Absent => {}
                _ => count += 1,
            }
        }
    }
    Ok(count)
}
