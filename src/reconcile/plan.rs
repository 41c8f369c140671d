//! Plans as data: what a reconcile would do, step by step, and why. Rendered by `cli/` as
//! text, JSON or YAML; `schemas/plan.v1.schema.json` is generated from these types.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::model::FileClass;

use super::ReconcileError;
use super::graph::order;
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::render::Desired;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Create something absent.
    Create,
    /// Replace something present (backed up first).
    Update,
    /// Remove a file codexport wrote earlier (backed up first).
    Delete,
    /// Already as desired.
    Noop,
}

/// The kind of step (graph node type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum StepKind {
    /// Create a directory under CODEX_HOME.
    EnsureDir,
    /// Write a replicated file.
    WriteFile,
    /// Write the rendered config.toml.
    WriteConfig,
    /// Write the rendered hooks.json.
    WriteHooks,
    /// Remove a file the new revision dropped.
    RemoveFile,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStep {
    /// Stable id, e.g. `file:skills/a/SKILL.md`, `dir:skills/a`, `remove:prompts/old.md`.
    pub id: String,
    /// Node type.
    pub kind: StepKind,
    /// What happens.
    pub action: Action,
    /// Path relative to CODEX_HOME.
    pub path: String,
    /// File class, when the step is about a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<FileClass>,
    /// Why, in words.
    pub reason: String,
    /// Size on disk now (bytes), when there is a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_before: Option<u64>,
    /// Size after the step (bytes), when there will be a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_after: Option<u64>,
    /// Mode after the step (`0o644`), when there will be a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// True for secret files: renderers show `(sensitive)` instead of any value.
    #[serde(default)]
    pub sensitive: bool,
}

/// Counts by action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Steps that create.
    pub create: usize,
    /// Steps that update.
    pub update: usize,
    /// Steps that delete.
    pub delete: usize,
    /// Steps with nothing to do.
    pub noop: usize,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "codexport plan (v1)")]
pub struct Plan {
    /// The revision the plan converges to.
    pub revision: String,
    /// The revision applied before, if any.
    pub applied_revision: Option<String>,
    /// Steps in execution order.
    pub steps: Vec<PlanStep>,
    /// Counts by action.
    pub summary: Summary,
}

impl Plan {
    /// True when any step would change the disk.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::Noop)
    }
}

/// Compare desired, last written (inventory) and actual; return the ordered plan.
///
/// Errors: [`ReconcileError::Obstructed`] when a directory, symlink or special file stands
/// where a file or directory must go (never followed, never replaced silently).
pub fn build(
    desired: &Desired,
    inventory: &Inventory,
    codex_home: &Path,
    host: &dyn Host,
) -> Result<Plan, ReconcileError> {
    let mut steps: BTreeMap<String, PlanStep> = BTreeMap::new();
    let mut edges = Vec::new();
    let mut dirs_seen: HashSet<String> = HashSet::new();
    for file in &desired.files {
        let parent = ensure_dirs(&file.path, codex_home, host, &mut steps, &mut edges, &mut dirs_seen)?;
        let abs = codex_home.join(&file.path);
        let observed = if parent_is_new(&parent, &steps) {
            Observed::Absent
        } else {
            host.observe(&abs)?
        };
        let (kind, prefix) = match file.path.as_str() {
            CONFIG_TOML => (StepKind::WriteConfig, "config"),
            HOOKS_JSON => (StepKind::WriteHooks, "hooks"),
            _ => (StepKind::WriteFile, "file"),
        };
        let last = inventory.files.get(&file.path);
        let (action, reason, size_before) = match observed {
            Observed::Absent => (Action::Create, "absent".to_string(), None),
            Observed::File { sha256, size, mode } => {
                if sha256 == file.sha256 && mode == file.mode {
                    (Action::Noop, "up to date".into(), Some(size))
                } else if sha256 == file.sha256 {
                    (
                        Action::Update,
                        format!("mode {} -> {}", fmt_mode(mode), fmt_mode(file.mode)),
                        Some(size),
                    )
                } else {
                    let why = match last {
                        Some(l) if l.sha256 == sha256 => "changed on the master",
                        Some(_) => "edited locally since codexport wrote it: the local version is backed up",
                        None => "not written by codexport: the existing file is backed up",
                    };
                    (Action::Update, why.into(), Some(size))
                }
            }
            other => {
                return Err(ReconcileError::Obstructed {
                    path: abs,
                    kind: other.kind(),
                });
            }
        };
        let id = format!("{prefix}:{}", file.path);
        if let Some(p) = parent {
            edges.push((format!("dir:{p}"), id.clone()));
        }
        let step = PlanStep {
            id: id.clone(),
            kind,
            action,
            path: file.path.clone(),
            class: Some(file.class),
            reason,
            size_before,
            size_after: Some(file.size),
            mode: Some(fmt_mode(file.mode)),
            sensitive: file.class == FileClass::Secret,
        };
        steps.insert(id, step);
    }
    let wanted: HashSet<&str> = desired.files.iter().map(|f| f.path.as_str()).collect();
    for (path, last) in &inventory.files {
        if wanted.contains(path.as_str()) {
            continue;
        }
        let abs = codex_home.join(path);
        if let Observed::File { sha256, size, .. } = host.observe(&abs)? {
            let reason = if sha256 == last.sha256 {
                "dropped by the master"
            } else {
                "dropped by the master; local edits are backed up"
            };
            let id = format!("remove:{path}");
            let class = Some(crate::codex::layout::classify(path));
            let sensitive = class == Some(FileClass::Secret);
            let step = PlanStep {
                id: id.clone(),
                kind: StepKind::RemoveFile,
                action: Action::Delete,
                path: path.clone(),
                class,
                reason: reason.into(),
                size_before: Some(size),
                size_after: None,
                mode: None,
                sensitive,
            };
            steps.insert(id, step);
        }
    }
    let ids: Vec<String> = steps.keys().cloned().collect();
    let ordered = order(&ids, &edges)?;
    let steps: Vec<PlanStep> = ordered.into_iter().filter_map(|id| steps.remove(&id)).collect();
    let mut summary = Summary::default();
    for s in &steps {
        match s.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::Noop => summary.noop += 1,
        }
    }
    Ok(Plan {
        revision: desired.revision.clone(),
        applied_revision: inventory.revision.clone(),
        steps,
        summary,
    })
}

/// Add `EnsureDir` steps for the missing ancestors of `rel`; returns the parent directory when
/// it is created by this plan (the file step then depends on it).
fn ensure_dirs(
    rel: &str,
    codex_home: &Path,
    host: &dyn Host,
    steps: &mut BTreeMap<String, PlanStep>,
    edges: &mut Vec<(String, String)>,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, ReconcileError> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut parent: Option<String> = None;
    for i in 1..parts.len() {
        let dir = parts[..i].join("/");
        if seen.insert(dir.clone()) {
            let observed = if parent_is_new(&parent, steps) {
                Observed::Absent
            } else {
                host.observe(&codex_home.join(&dir))?
            };
            match observed {
                Observed::Dir => {}
                Observed::Absent => {
                    let id = format!("dir:{dir}");
                    let step = PlanStep {
                        id: id.clone(),
                        kind: StepKind::EnsureDir,
                        action: Action::Create,
                        path: dir.clone(),
                        class: None,
                        reason: "absent".into(),
                        size_before: None,
                        size_after: None,
                        mode: None,
                        sensitive: false,
                    };
                    steps.insert(id, step);
                }
                other => {
                    return Err(ReconcileError::Obstructed {
                        path: codex_home.join(&dir),
                        kind: other.kind(),
                    });
                }
            }
        }
        if let Some(p) = &parent
            && steps.contains_key(&format!("dir:{dir}"))
            && steps.contains_key(&format!("dir:{p}"))
        {
            edges.push((format!("dir:{p}"), format!("dir:{dir}")));
        }
        parent = Some(dir);
    }
    Ok(parent.filter(|p| steps.contains_key(&format!("dir:{p}"))))
}

fn parent_is_new(parent: &Option<String>, steps: &BTreeMap<String, PlanStep>) -> bool {
    parent.as_ref().is_some_and(|p| steps.contains_key(&format!("dir:{p}")))
}

/// `0o644`-style mode string.
pub fn fmt_mode(mode: u32) -> String {
    format!("0o{:03o}", mode & 0o7777)
}
