//! Reconcile: render the staged desired state for this follower, observe the disk, plan,
//! and execute with backups and rollback. `plan` never writes; `execute` never decides.

pub mod execute;
pub mod graph;
pub mod host;
pub mod inventory;
pub mod plan;
pub mod render;

use std::path::PathBuf;

use crate::exit::{Exit, ExitStatus};

/// Why a plan or an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The staged document could not be rendered for this follower.
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// The step graph is inconsistent (a bug, or a hostile document).
    #[error(transparent)]
    Graph(#[from] graph::GraphError),
    /// Something other than a regular file is where codexport must write a file.
    #[error("{} is a {kind} where codexport must write a file; move it away, then run again", path.display())]
    Obstructed {
        /// The path.
        path: PathBuf,
        /// What is there (directory, symlink, special file).
        kind: &'static str,
    },
    /// Another codexport holds the lock.
    #[error("another codexport is applying changes (lock {} is held)", .0.display())]
    Locked(PathBuf),
    /// A step failed; everything done before it was rolled back.
    #[error("step {step} failed: {reason}; the apply was rolled back")]
    RolledBack {
        /// The failed step id.
        step: String,
        /// Why it failed.
        reason: String,
    },
    /// Enrollment or the staged document.
    #[error(transparent)]
    Follower(#[from] crate::follower::FollowerError),
    /// I/O outside any step (inventory, lock, backups directory).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ExitStatus for ReconcileError {
    fn exit(&self) -> Exit {
        match self {
            ReconcileError::Render(e) => e.exit(),
            ReconcileError::Follower(e) => e.exit(),
            ReconcileError::Obstructed { .. } | ReconcileError::Locked(_) => Exit::Drift,
            ReconcileError::RolledBack { .. } => Exit::RolledBack,
            ReconcileError::Graph(_) | ReconcileError::Io(_) => Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ReconcileError::Render(e) => e.hint(),
            ReconcileError::Follower(e) => e.hint(),
            ReconcileError::Locked(_) => Some("wait for the other run to finish, then try again".into()),
            _ => None,
        }
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
}

/// Load the enrollment and the staged document (verified again), render it and plan it.
///
/// Errors: [`crate::follower::FollowerError::NothingStaged`] before the first sync; render and
/// plan errors otherwise. Never writes.
pub fn prepare(roots: &crate::paths::Roots, host: &dyn host::Host) -> Result<Prepared, ReconcileError> {
    use crate::follower::enrollment::Enrollment;
    use crate::follower::store::FollowerStore;
    let enrollment = Enrollment::load(&roots.codexport_home)?;
    let store = FollowerStore::new(&roots.codexport_home);
    let staged = store
        .load_staged(&enrollment)?
        .ok_or(crate::follower::FollowerError::NothingStaged)?;
    let desired = render::render(&staged.doc, &store.blobs(), roots)?;
    let inventory = inventory::Inventory::load(&roots.codexport_home)?;
    let plan = plan::build(&desired, &inventory, &roots.codex_home, host)?;
    Ok(Prepared {
        desired,
        inventory,
        plan,
    })
}

/// Execute a prepared plan with the real host.
pub fn apply(
    roots: &crate::paths::Roots,
    prepared: &Prepared,
    host: &dyn host::Host,
) -> Result<execute::ApplyReport, ReconcileError> {
    execute::apply(
        &prepared.plan,
        &prepared.desired,
        &prepared.inventory,
        &roots.codex_home,
        &roots.codexport_home,
        host,
    )
}
