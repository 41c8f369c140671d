//! Reconcile: render the staged desired state for this follower, observe the disk, plan,
//! and execute with a journal, backups, rollback and generations. `plan` never writes;
//! `execute` never decides. Every side effect goes through [`host::Host`].

pub mod compare;
pub mod config_merge;
pub mod config_step;
pub mod confine;
pub mod diff;
pub mod dirs;
pub mod execute;
mod execute_parallel;
mod execute_step;
pub mod generation_zero;
pub mod generations;
pub mod graph;
pub mod hook_handoff;
pub mod hook_run;
pub mod hook_scope;
pub mod host;
mod host_recording;
pub mod inventory;
pub mod journal;
mod journal_kept;
pub mod overlay_apply;
pub mod own_steps;
pub mod plan;
pub mod render;
pub mod render_hook;
pub mod render_mcp;
pub mod statkey;
pub mod store_gc;
mod valve;

use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{Exit, ExitStatus};
use crate::follower::enrollment::Enrollment;
use crate::follower::local::{LocalSettings, LocalSettingsError, McpInstall, OnDrift};
use crate::follower::store::FollowerStore;
use crate::paths::Roots;

use execute::{ApplyReport, ExecuteOptions};
use generations::GenerationKind;
use host::{Host, LockError};

/// How long `apply` waits for another run to release the lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Why a plan or an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The staged document could not be rendered for this follower.
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// The step graph is inconsistent (a bug, or a hostile document).
    #[error(transparent)]
    Graph(#[from] graph::GraphError),
    /// local.toml is invalid.
    #[error(transparent)]
    Local(#[from] LocalSettingsError),
    /// Something other than a directory is where codexport must create a directory.
    #[error("{} is a {kind} where codexport needs a directory; move it away, then run again", path.display())]
    Obstructed {
        /// The path.
        path: PathBuf,
        /// What is there (file, symlink, special file).
        kind: &'static str,
    },
    /// Another codexport holds the lock.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The safety valve refused the plan.
    #[error("refused: {0}")]
    Refused(String),
    /// Drift under `onDrift = fail`.
    #[error("drift under onDrift = fail: {}", .0.join(", "))]
    Drift(Vec<String>),
    /// A saved plan no longer matches the desired or observed state.
    #[error("the saved plan is stale: {0}")]
    StalePlan(String),
    /// A step failed; everything done before it was rolled back, except `undo_failures`
    /// (then the journal is kept for the next run to retry, and `status` / `doctor` show it).
    #[error("step {step} failed: {reason}; the apply was rolled back{}", except(.undo_failures))]
    RolledBack {
        /// The failed step id.
        step: String,
        /// Why it failed.
        reason: String,
        /// Undos that failed (path and reason); empty when the rollback was complete.
        undo_failures: Vec<journal::UndoFailure>,
    },
    /// `rollback` has nothing to go back to, or the content is gone.
    #[error("cannot roll back: {0}")]
    NoGeneration(String),
    /// Enrollment or the staged document.
    #[error(transparent)]
    Follower(#[from] crate::follower::FollowerError),
    /// The plan has more changes than the caller can apply in its time ([`ApplyOptions::max_changes`]);
    /// nothing was written.
    #[error("the plan has {changes} changes, more than the {max} that fit in the time left")]
    OverBudget {
        /// Changes in the plan.
        changes: usize,
        /// The most the caller allowed.
        max: usize,
    },
    /// I/O outside any step (inventory, lock, journal, backups directory).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `, except: <path>: <reason>; ...` after "rolled back", or nothing.
fn except(failures: &[journal::UndoFailure]) -> String {
    if failures.is_empty() {
        String::new()
    } else {
        format!(", except: {} (the journal is kept)", journal::list(failures))
    }
}

impl ExitStatus for ReconcileError {
    fn exit(&self) -> Exit {
        match self {
            ReconcileError::Render(e) => e.exit(),
            ReconcileError::Follower(e) => e.exit(),
            ReconcileError::Local(e) => e.exit(),
            ReconcileError::Obstructed { .. }
            | ReconcileError::Locked(_)
            | ReconcileError::Refused(_)
            | ReconcileError::Drift(_)
            | ReconcileError::StalePlan(_)
            | ReconcileError::OverBudget { .. } => Exit::Drift,
            ReconcileError::RolledBack { .. } => Exit::RolledBack,
            ReconcileError::NoGeneration(_) => Exit::Usage,
            ReconcileError::Graph(_) | ReconcileError::Io(_) => Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            ReconcileError::Render(e) => return e.hint(),
            ReconcileError::Follower(e) => return e.hint(),
            ReconcileError::Local(e) => return e.hint(),
            ReconcileError::Locked(_) => "wait for the other run to finish, then try again".into(),
            ReconcileError::Refused(_) => "check the master; if this is intended, run `codexport reconcile --allow-mass-delete`".into(),
            ReconcileError::Drift(_) => "look at `codexport plan`; set onDrift = \"overwrite\" or \"keep\" in local.toml, or undo the local edits".into(),
            ReconcileError::StalePlan(_) => "run `codexport plan` again and review the new plan".into(),
            ReconcileError::NoGeneration(_) => "list generations with `codexport generations`".into(),
            ReconcileError::OverBudget { .. } => "run `codexport apply`, which has no time budget".into(),
            ReconcileError::RolledBack { undo_failures, .. } if !undo_failures.is_empty() => {
                journal::KEPT_FIX.into()
            }
            _ => return None,
        })
    }
}

/// The staged revision rendered and planned against this follower's disk.
#[derive(Debug)]
pub struct Prepared {
    /// What the follower should have.
    pub desired: render::Desired,
    /// What codexport last wrote.
    pub inventory: inventory::Inventory,
    /// The ordered steps.
    pub plan: plan::Plan,
    /// local.toml.
    pub settings: LocalSettings,
}

/// Load the enrollment, the staged document (verified again) and local.toml; render and plan.
/// Never writes.
pub fn prepare(roots: &Roots, host: &dyn Host) -> Result<Prepared, ReconcileError> {
    prepare_with(roots, host, None)
}

/// [`prepare`], with `mcpInstall` forced to `mcp_install` when given (the hook never installs).
fn prepare_with(roots: &Roots, host: &dyn Host, mcp_install: Option<McpInstall>) -> Result<Prepared, ReconcileError> {
    let mut settings = LocalSettings::load(&roots.codexport_home)?;
    if let Some(mode) = mcp_install {
        settings.mcp_install = mode;
    }
    let enrollment = Enrollment::load(&roots.codexport_home)?;
    let store = FollowerStore::new(&roots.codexport_home);
    let staged = store
        .load_staged(&enrollment)?
        .ok_or(crate::follower::FollowerError::NothingStaged)?;
    crate::follower::validate::refuse_for_roots(&staged.doc, roots, &enrollment.master)?;
    let overlay = crate::follower::overlay::Overlay::load(&roots.codexport_home).map_err(render::RenderError::from)?;
    let local = render::Local {
        settings: &settings,
        overlay: &overlay,
    };
    let desired = render::render(&staged.doc, &store.blobs(), roots, host, local)?;
    plan_for(roots, desired, settings.on_drift, settings, host)
}

fn plan_for(
    roots: &Roots,
    mut desired: render::Desired,
    policy: OnDrift,
    settings: LocalSettings,
    host: &dyn Host,
) -> Result<Prepared, ReconcileError> {
    let inventory = inventory::load(host, &roots.codexport_home)?;
    render_hook::apply(&mut desired, &inventory, roots, host)?;
    config_step::merge_into(&mut desired, &inventory, roots, policy, host)?;
    let plan = plan::build(&desired, &inventory, roots, policy, settings.mcp_install, host)?;
    log_plan(&plan);
    Ok(Prepared {
        desired,
        inventory,
        plan,
        settings,
    })
}

/// The plan's summary at info, each step that does something (or found drift) at debug.
fn log_plan(plan: &plan::Plan) {
    let s = &plan.summary;
    tracing::info!(
        revision = %plan.revision,
        create = s.create,
        update = s.update,
        delete = s.delete,
        noop = s.noop,
        drift = s.drift,
        refused = plan.refusal.is_some(),
        "plan"
    );
    for step in plan.steps.iter().filter(|s| s.action != plan::Action::Noop || s.drift) {
        tracing::debug!(id = %step.id, action = ?step.action, drift = step.drift, reason = %step.reason, "step");
    }
}

/// Options of [`apply_staged`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Apply even when the safety valve refuses the plan.
    pub allow_mass_delete: bool,
    /// Only apply if the fresh plan equals this saved one (`apply --plan FILE`).
    pub expected: Option<plan::Plan>,
    /// Force `mcpInstall` (the SessionStart hook passes `manual`: installs take minutes).
    pub mcp_install: Option<McpInstall>,
    /// Told about each MCP artifact install (a spinner on a terminal).
    pub progress: crate::progress::SharedProgress,
    /// No operator runs it (the SessionStart hook); see [`generations::Generation::unattended`].
    pub unattended: bool,
    /// Execute only a plan of at most this many changes, else [`ReconcileError::OverBudget`]
    /// before anything is written (the hook hands a bigger one off, [`hook_handoff`]).
    pub max_changes: Option<usize>,
}

/// What [`apply_staged`] did.
#[derive(Debug)]
pub struct Applied {
    /// Interrupted runs rolled back first.
    pub recovered: Vec<journal::Recovered>,
    /// The plan that was executed.
    pub prepared: Prepared,
    /// The execution.
    pub report: ApplyReport,
}

/// Under the lock: recover interrupted runs, plan the staged revision, execute it.
pub fn apply_staged(roots: &Roots, host: &dyn Host, options: &ApplyOptions) -> Result<Applied, ReconcileError> {
    let _lock = host.lock(&roots.codexport_home.join("lock"), LOCK_WAIT)?;
    apply_staged_locked(roots, host, options)
}

/// [`apply_staged`] for a caller that already holds the lock (`reconcile --hook`).
pub fn apply_staged_locked(roots: &Roots, host: &dyn Host, options: &ApplyOptions) -> Result<Applied, ReconcileError> {
    crate::fs::refuse_linked_state_dirs(&roots.codexport_home)?;
    let recovered = journal::recover(host, &roots.codexport_home, &roots.codex_home)?;
    let prepared = prepare_with(roots, host, options.mcp_install)?;
    if let Some(saved) = &options.expected {
        check_saved(saved, &prepared.plan)?;
    }
    let plan = &prepared.plan;
    let changes = plan.summary.create + plan.summary.update + plan.summary.delete;
    // A refusal or blocking drift is reported as such, never handed off.
    if let Some(max) = options.max_changes
        && changes > max
        && plan.refusal.is_none()
        && plan.blocking_drift().is_empty()
    {
        return Err(ReconcileError::OverBudget { changes, max });
    }
    let execute = ExecuteOptions {
        kind: GenerationKind::Apply,
        allow_mass_delete: options.allow_mass_delete,
        keep_generations: prepared.settings.keep_generations,
        unattended: options.unattended,
    };
    run(roots, host, recovered, prepared, execute, &*options.progress)
}

/// Under the lock: restore generation `to` (default: the one before the newest) byte for byte
/// from the store, recorded as a new generation.
pub fn rollback(roots: &Roots, to: Option<u64>, host: &dyn Host) -> Result<Applied, ReconcileError> {
    let _lock = host.lock(&roots.codexport_home.join("lock"), LOCK_WAIT)?;
    crate::fs::refuse_linked_state_dirs(&roots.codexport_home)?;
    let recovered = journal::recover(host, &roots.codexport_home, &roots.codex_home)?;
    let settings = LocalSettings::load(&roots.codexport_home)?;
    let all = generations::list(host, &roots.codexport_home)?;
    let target = match to {
        Some(n) => all
            .iter()
            .find(|g| g.number == n)
            .ok_or_else(|| ReconcileError::NoGeneration(format!("generation {n} does not exist (or was pruned)")))?,
        None if all.len() >= 2 => &all[all.len() - 2],
        None => return Err(ReconcileError::NoGeneration("there is no earlier generation".into())),
    };
    let blobs = FollowerStore::new(&roots.codexport_home).blobs();
    let mut files = Vec::new();
    for (path, entry) in &target.files {
        let blob = blobs.path_of(&entry.sha256);
        let size = match host.file_size(&blob)? {
            Some(size) => size,
            None => {
                return Err(ReconcileError::NoGeneration(format!(
                    "the content of {path} in generation {} is no longer in the store",
                    target.number
                )));
            }
        };
        let class = crate::codex::layout::classify(path);
        files.push(render::DesiredFile {
            path: path.clone(),
            root: render::Root::CodexHome,
            content: render::Content::Blob(blob),
            sha256: entry.sha256.clone(),
            size,
            mode: entry.mode,
            class,
        });
    }
    // Ownership never grows by a rollback: the target's keys, or (a record from before they
    // were kept) the keys codexport owns now.
    let restore_owned = match &target.config_keys {
        Some(keys) => keys.clone(),
        None => inventory::load(host, &roots.codexport_home)?.owned_keys().clone(),
    };
    let desired = render::Desired {
        revision: target.revision.clone(),
        files,
        installs: Vec::new(),
        config: None,
        exclude: settings.exclude.clone(),
        restore: true,
        restore_owned: Some(restore_owned),
    };
    let prepared = plan_for(roots, desired, OnDrift::Overwrite, settings, host)?;
    let execute = ExecuteOptions {
        kind: GenerationKind::Rollback,
        allow_mass_delete: true,
        keep_generations: prepared.settings.keep_generations,
        unattended: false,
    };
    run(roots, host, recovered, prepared, execute, &crate::progress::NoProgress)
}

fn run(
    roots: &Roots,
    host: &dyn Host,
    recovered: Vec<journal::Recovered>,
    prepared: Prepared,
    options: ExecuteOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<Applied, ReconcileError> {
    let kind = options.kind;
    let started = std::time::Instant::now();
    // A machine where Codex never ran has no ~/.codex: create it as Codex would (0700). A
    // symlink to a directory (dotfiles managers) is not Absent and stays as it is.
    if host.observe(&roots.codex_home)? == host::Observed::Absent {
        host.create_private_dir_all(&roots.codex_home)?;
        tracing::info!(path = %roots.codex_home.display(), "created the Codex home (0700)");
    }
    let report = execute::execute(
        &prepared.plan,
        &prepared.desired,
        &prepared.inventory,
        roots,
        host,
        options,
        progress,
    )?;
    let r = &report;
    tracing::info!(
        revision = %r.revision,
        generation = r.generation,
        changed = r.changed,
        backed_up = r.backed_up.len(),
        kept = r.kept.len(),
        broken = r.broken.len(),
        pruned = r.pruned.len(),
        ms = started.elapsed().as_millis() as u64,
        "{kind:?} done"
    );
    Ok(Applied {
        recovered,
        prepared,
        report,
    })
}

/// A saved plan may be applied only when neither the desired nor the observed state changed.
fn check_saved(saved: &plan::Plan, fresh: &plan::Plan) -> Result<(), ReconcileError> {
    if saved.revision != fresh.revision {
        return Err(ReconcileError::StalePlan(format!(
            "the staged revision is now {} (the plan was made for {})",
            fresh.revision, saved.revision
        )));
    }
    if saved.desired_fingerprint != fresh.desired_fingerprint {
        return Err(ReconcileError::StalePlan(
            "the desired state changed (overlay or policy)".into(),
        ));
    }
    if saved.observed_fingerprint != fresh.observed_fingerprint || saved.steps != fresh.steps {
        let old: std::collections::HashMap<&str, &plan::PlanStep> =
            saved.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut changed: Vec<&str> = fresh
            .steps
            .iter()
            .filter(|s| old.get(s.id.as_str()) != Some(s))
            .map(|s| s.path.as_str())
            .collect();
        changed.extend(
            saved
                .steps
                .iter()
                .filter(|s| !fresh.steps.iter().any(|f| f.id == s.id))
                .map(|s| s.path.as_str()),
        );
        let what = if changed.is_empty() {
            "files under ~/.codex changed since the plan was made".to_string()
        } else {
            format!("changed since the plan was made: {}", changed.join(", "))
        };
        return Err(ReconcileError::StalePlan(what));
    }
    Ok(())
}
