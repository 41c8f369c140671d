//! Directory steps: `EnsureDir` for missing ancestors of desired files, and `RemoveDir` for
//! directories the removals leave empty (nothing else is ever removed).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::ReconcileError;
use super::host::{Host, Observed};
use super::plan::{Action, PlanStep, StepKind};

pub fn dir_id(path: &str) -> String {
    format!("dir:{path}")
}

/// Add `EnsureDir` steps for the missing ancestors of `rel`; returns its parent directory.
pub fn ensure_dirs(
    rel: &str,
    codex_home: &Path,
    host: &dyn Host,
    steps: &mut BTreeMap<String, PlanStep>,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, ReconcileError> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut parent: Option<String> = None;
    for i in 1..parts.len() {
        let dir = parts[..i].join("/");
        if seen.insert(dir.clone()) {
            let parent_new = parent.as_ref().is_some_and(|p| steps.contains_key(&dir_id(p)));
            let observed = if parent_new {
                Observed::Absent
            } else {
                host.observe(&codex_home.join(&dir))?
            };
            match observed {
                Observed::Dir => {}
                Observed::Absent => {
                    let requires = parent
                        .iter()
                        .map(|p| dir_id(p))
                        .filter(|id| steps.contains_key(id))
                        .collect();
                    let step = PlanStep::directory(
                        dir_id(&dir),
                        StepKind::EnsureDir,
                        Action::Create,
                        dir.clone(),
                        "absent",
                        requires,
                    );
                    steps.insert(step.id.clone(), step);
                }
                other => {
                    return Err(ReconcileError::Obstructed {
                        path: codex_home.join(&dir),
                        kind: other.kind(),
                    });
                }
            }
        }
        parent = Some(dir);
    }
    Ok(parent)
}

/// Directories whose every entry is being removed are removed too (deepest first), so a
/// skill the master dropped leaves no empty folders behind. Nothing else is ever removed.
pub fn add_empty_dir_removals(
    codex_home: &Path,
    host: &dyn Host,
    steps: &mut BTreeMap<String, PlanStep>,
) -> Result<(), ReconcileError> {
    let mut gone: HashSet<String> = steps
        .values()
        .filter(|s| s.kind == StepKind::RemoveFile && s.action == Action::Delete)
        .map(|s| s.path.clone())
        .collect();
    let mut candidates: Vec<String> = gone
        .iter()
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d.to_string()))
        .collect();
    let mut checked = HashSet::new();
    while let Some(dir) = candidates.pop() {
        if !checked.insert(dir.clone())
            || steps
                .values()
                .any(|s| s.path.starts_with(&format!("{dir}/")) && s.action != Action::Delete)
        {
            continue;
        }
        let entries = host.list_dir(&codex_home.join(&dir))?;
        if entries.is_empty() || !entries.iter().all(|e| gone.contains(&format!("{dir}/{e}"))) {
            continue;
        }
        let requires = entries
            .iter()
            .map(|e| format!("{dir}/{e}"))
            .map(|p| {
                if steps.contains_key(&format!("rmdir:{p}")) {
                    format!("rmdir:{p}")
                } else {
                    format!("remove:{p}")
                }
            })
            .collect();
        let step = PlanStep::directory(
            format!("rmdir:{dir}"),
            StepKind::RemoveDir,
            Action::Delete,
            dir.clone(),
            "left empty by the removals",
            requires,
        );
        steps.insert(step.id.clone(), step);
        gone.insert(dir.clone());
        if let Some((parent, _)) = dir.rsplit_once('/') {
            checked.remove(parent);
            candidates.push(parent.to_string());
        }
    }
    Ok(())
}
