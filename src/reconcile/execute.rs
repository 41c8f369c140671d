//! Execute a plan: journal first, back up everything before it is overwritten or removed into
//! `backups/<generation>/`, write atomically, roll back in reverse order when a step fails, then
//! write the inventory, the generation record and the journal's commit mark, in that order.
//!
//! The caller holds the lock and has recovered any interrupted run (see `reconcile::mod`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::paths::Roots;

use super::ReconcileError;
use super::execute_parallel;
use super::execute_step::{change, prepare};
use super::generations::{self, BACKUPS, Generation, GenerationKind};
use super::host::Host;
use super::inventory::{self, Inventory, InventoryEntry};
use super::journal::{Header, Journal};
use super::plan::{Action, Plan, PlanStep, StepKind};
use super::render::{Content, Desired, DesiredFile, Root};
use crate::mcp::install::InstallEnv;

/// Where backups of codexport's own files go inside a generation's backup directory.
pub const OWN_BACKUPS: &str = "@codexport-home";

/// Knobs of one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Recorded as an apply or a rollback.
    pub kind: GenerationKind,
    /// Apply even when the safety valve refuses the plan.
    pub allow_mass_delete: bool,
    /// Generations kept after this run.
    pub keep_generations: usize,
    /// No operator runs it (the SessionStart hook): recorded in the generation.
    pub unattended: bool,
}

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
    /// Paths left alone because of drift under `onDrift = keep`.
    pub kept: Vec<String>,
    /// Generations pruned after this run.
    pub pruned: Vec<u64>,
    /// MCP servers whose artifact failed to install: (server, error with command and stderr tail).
    pub broken: Vec<(String, String)>,
}

/// Execute `plan` (built from `desired` against `inventory`).
///
/// Errors: [`ReconcileError::Refused`] (safety valve), [`ReconcileError::Drift`] (`onDrift =
/// fail`), [`ReconcileError::RolledBack`] (a step failed; everything before it undone).
pub fn execute(
    plan: &Plan,
    desired: &Desired,
    inventory: &Inventory,
    roots: &Roots,
    host: &dyn Host,
    options: ExecuteOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<ApplyReport, ReconcileError> {
    if let Some(reason) = &plan.refusal
        && !options.allow_mass_delete
    {
        return Err(ReconcileError::Refused(reason.clone()));
    }
    let blocking = plan.blocking_drift();
    if !blocking.is_empty() {
        return Err(ReconcileError::Drift(blocking.iter().map(|s| s.to_string()).collect()));
    }
    let by_path: HashMap<(Root, &str), &DesiredFile> =
        desired.files.iter().map(|f| ((f.root, f.path.as_str()), f)).collect();
    let home = &roots.codexport_home;
    let mut report = ApplyReport {
        revision: plan.revision.clone(),
        ..Default::default()
    };
    report.kept = plan
        .steps
        .iter()
        .filter(|s| s.drift && s.action == Action::Noop)
        .map(|s| s.path.clone())
        .collect();
    let mut next = next_inventory(plan, desired, inventory);
    if !plan.has_changes() {
        record_stats(&mut next, plan, roots, host);
        if &next != inventory {
            inventory::save(host, home, &next)?;
        }
        return Ok(report);
    }

    let generation = generations::next_number(host, home, inventory.generation)?;
    next.generation = generation;
    let backup_root = home.join(BACKUPS).join(generation.to_string());
    let header = Header {
        generation,
        revision: plan.revision.clone(),
        previous_inventory: inventory.clone(),
    };
    let mut journal = Journal::begin(host, home, header)?;
    let install_env = InstallEnv::from_process(&roots.codexport_home, &roots.home);
    let place = |step: &PlanStep| {
        let target = step.root.dir(roots).join(&step.path);
        let backup = match step.root {
            Root::CodexHome => backup_root.join(&step.path),
            Root::CodexportHome => backup_root.join(OWN_BACKUPS).join(&step.path),
        };
        (target, backup)
    };
    let changes = || {
        plan.steps
            .iter()
            .filter(|s| s.action != Action::Noop && s.kind != StepKind::InstallMcpArtifact)
    };
    let synced_dirs = [roots.codex_home.as_path(), home.as_path()];
    // Group commit, phase 1: every backup and every undo record, made durable together (one
    // flush) before anything under the roots changes. Undoing a step that never ran is safe,
    // so a failure anywhere after this rolls back the whole batch.
    for step in changes() {
        let (target, backup) = place(step);
        let confined = super::confine::check(step.root.dir(roots), &target, host);
        if let Err(e) = confined.and_then(|()| prepare(step, &target, &backup, &mut journal, host)) {
            tracing::info!(id = %step.id, "backup failed, rolling back: {e}");
            return Err(rolled_back(journal, host, roots, options.keep_generations, &step.id, e));
        }
    }
    if let Err(e) = journal
        .flush_staged(host)
        .and_then(|()| host.sync_deferred(&synced_dirs))
    {
        return Err(rolled_back(
            journal,
            host,
            roots,
            options.keep_generations,
            "journal",
            e,
        ));
    }
    // Phase 2: the changes in plan order (installs in their place), flushed once at the end.
    // Runs of independent file writes go on several threads (see `execute_parallel`).
    let write_one = |step: &PlanStep| -> std::io::Result<()> {
        crate::crash_point!("execute::step");
        let (target, backup) = place(step);
        let parent_ready = match (step.root, target.parent()) {
            (Root::CodexportHome, Some(parent)) => host.create_private_dir_all(parent),
            _ => Ok(()),
        };
        parent_ready
            .and_then(|()| super::confine::check(step.root.dir(roots), &target, host))
            .and_then(|()| change(step, &target, &backup, &by_path, host))
    };
    let done = |step: &PlanStep, report: &mut ApplyReport| {
        if matches!(step.action, Action::Update | Action::Delete) && step.kind != StepKind::RemoveDir {
            report.backed_up.push(step.path.clone());
        }
        tracing::debug!(id = %step.id, "step done");
        report.changed += 1;
    };
    let steps: Vec<&PlanStep> = plan.steps.iter().filter(|s| s.action != Action::Noop).collect();
    let mut at = 0;
    while let Some(&step) = steps.get(at) {
        let run = execute_parallel::run_end(&steps, at);
        if run > at {
            let written = execute_parallel::write_all(&steps[at..run], write_one);
            match written {
                Ok(indices) => indices.into_iter().for_each(|i| done(steps[at + i], &mut report)),
                Err((id, e)) => {
                    tracing::info!(%id, "step failed, rolling back: {e}");
                    return Err(rolled_back(journal, host, roots, options.keep_generations, &id, e));
                }
            }
            at = run;
            continue;
        }
        at += 1;
        if step.kind == StepKind::InstallMcpArtifact {
            crate::crash_point!("execute::step");
            // Installs are idempotent caches: a failure is reported, never rolled back, and
            // the rest of the plan still applies (the server shows as broken).
            let install = desired.installs.iter().find(|i| step.id == format!("mcp:{}", i.server));
            let installed = install.map(|i| {
                progress.working(&format!("installing MCP server {}", i.server));
                let done = host.install_mcp(&i.server, &i.artifact, &install_env);
                progress.finish();
                done
            });
            match installed {
                Some(Ok(())) => report.changed += 1,
                Some(Err(e)) => report
                    .broken
                    .push((step.id.trim_start_matches("mcp:").to_string(), e.to_string())),
                None => {}
            }
            continue;
        }
        if let Err(e) = write_one(step) {
            tracing::info!(id = %step.id, "step failed, rolling back: {e}");
            return Err(rolled_back(journal, host, roots, options.keep_generations, &step.id, e));
        }
        done(step, &mut report);
    }
    if let Err(e) = host.sync_deferred(&synced_dirs) {
        return Err(rolled_back(journal, host, roots, options.keep_generations, "flush", e));
    }
    record_stats(&mut next, plan, roots, host);
    let finish = || -> std::io::Result<()> {
        keep_rendered_content(desired, home, host)?;
        crate::crash_point!("execute::before-inventory");
        inventory::save(host, home, &next)?;
        let record = Generation {
            number: generation,
            revision: plan.revision.clone(),
            kind: options.kind,
            created_at: next.applied_at.clone().unwrap_or_default(),
            changed: plan
                .steps
                .iter()
                .filter(|s| s.action != Action::Noop && s.root == Root::CodexHome)
                .filter(|s| !matches!(s.kind, StepKind::EnsureDir | StepKind::RemoveDir))
                .map(|s| s.path.clone())
                .collect(),
            backup_dir: format!("{BACKUPS}/{generation}"),
            config_keys: Some(next.owned_keys().clone()),
            unattended: options.unattended,
            // The stat cache describes the disk now, not the generation: left out.
            files: next
                .files
                .iter()
                .map(|(p, e)| {
                    (
                        p.clone(),
                        InventoryEntry {
                            stat: None,
                            ..e.clone()
                        },
                    )
                })
                .collect(),
        };
        generations::save(host, home, &record)?;
        if inventory.generation == 0 && options.kind == GenerationKind::Apply {
            super::generation_zero::record(host, home, plan, generation, &record.created_at)?;
        }
        crate::crash_point!("execute::before-commit");
        Ok(())
    };
    if let Err(e) = finish() {
        let undo_failures = journal.roll_back(host, &[&roots.codex_home, &roots.codexport_home]);
        let _ = inventory::save(host, home, inventory);
        let _ = host.remove_file(&generations::path(home, generation));
        if inventory.generation == 0 {
            let _ = host.remove_file(&generations::path(home, super::generation_zero::ORIGINAL));
        }
        prune_after_failure(host, home, options.keep_generations);
        return Err(ReconcileError::RolledBack {
            step: "inventory".into(),
            reason: e.to_string(),
            undo_failures,
        });
    }
    journal.commit(host)?;
    report.pruned = generations::prune(host, home, options.keep_generations)?;
    // Best effort: the apply is committed; a blob left behind is only disk space.
    let _ = super::store_gc::collect(roots, host);
    report.generation = Some(generation);
    Ok(report)
}

/// Roll the journal back and say which step (or phase) failed, and which undos failed.
fn rolled_back(
    journal: Journal,
    host: &dyn Host,
    roots: &Roots,
    keep: usize,
    step: &str,
    e: std::io::Error,
) -> ReconcileError {
    let undo_failures = journal.roll_back(host, &[&roots.codex_home, &roots.codexport_home]);
    prune_after_failure(host, &roots.codexport_home, keep);
    ReconcileError::RolledBack {
        step: step.to_string(),
        reason: e.to_string(),
        undo_failures,
    }
}

/// A rolled-back run made a backup directory and no generation: prune by the usual rule, so
/// failing runs (a hook timing out at every session start) do not pile up backups. Best effort:
/// the error to report is the run's.
fn prune_after_failure(host: &dyn Host, codexport_home: &Path, keep: usize) {
    if let Err(e) = generations::prune(host, codexport_home, keep) {
        tracing::warn!("pruning after a rolled-back run: {e}");
    }
}

/// The inventory after the plan: desired files, except drift kept by policy keeps its old
/// entry (or stays unmanaged), and removed or kept-on-removal files leave it.
fn next_inventory(plan: &Plan, desired: &Desired, inventory: &Inventory) -> Inventory {
    let kept: HashMap<&str, &PlanStep> = plan
        .steps
        .iter()
        .filter(|s| s.drift && s.action == Action::Noop)
        .map(|s| (s.path.as_str(), s))
        .collect();
    let mut files = BTreeMap::new();
    for f in desired.files.iter().filter(|f| f.root == Root::CodexHome) {
        if kept.contains_key(f.path.as_str()) {
            if let Some(old) = inventory.files.get(&f.path) {
                files.insert(f.path.clone(), old.clone());
            }
        } else {
            files.insert(
                f.path.clone(),
                InventoryEntry {
                    sha256: f.sha256.clone(),
                    mode: f.mode,
                    stat: None,
                },
            );
        }
    }
    let changed = plan.has_changes() || inventory.revision.as_deref() != Some(plan.revision.as_str());
    Inventory {
        revision: Some(plan.revision.clone()),
        generation: inventory.generation,
        applied_at: if changed {
            Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string())
        } else {
            inventory.applied_at.clone()
        },
        files,
        config_keys: Some(
            desired
                .config
                .as_ref()
                .map(|c| c.merge.owned.clone())
                .unwrap_or_default(),
        ),
    }
}

/// The stat cache: `lstat` every file the inventory says codexport wrote with the desired
/// content (not the local versions kept under `onDrift = keep`, whose entries keep describing
/// what codexport wrote, so they stay drift).
fn record_stats(next: &mut Inventory, plan: &Plan, roots: &Roots, host: &dyn Host) {
    let kept: std::collections::HashSet<&str> = plan
        .steps
        .iter()
        .filter(|s| s.drift && s.action == Action::Noop)
        .map(|s| s.path.as_str())
        .collect();
    for (path, entry) in next.files.iter_mut() {
        if !kept.contains(path.as_str()) {
            entry.stat = host.stat_key(&roots.codex_home.join(path));
        }
    }
}

/// Keep rendered files (config.toml, hooks.json) in the follower store, so a generation can be
/// restored byte for byte later.
fn keep_rendered_content(desired: &Desired, codexport_home: &Path, host: &dyn Host) -> std::io::Result<()> {
    let store = crate::follower::store::FollowerStore::new(codexport_home).blobs();
    for f in &desired.files {
        if let Content::Rendered(bytes) = &f.content {
            let path = store.path_of(&f.sha256);
            if host.observe(&path)? == super::host::Observed::Absent {
                if let Some(parent) = path.parent() {
                    host.create_private_dir_all(parent)?;
                }
                host.write_file(&path, bytes, crate::fs::SECRET_MODE)?;
            }
        }
    }
    Ok(())
}
