//! Generation 0: what the follower had before codexport first wrote to it.
//!
//! The first apply that changes anything replaces the follower's own files (its `auth.json`,
//! `AGENTS.md`, `config.toml`, ...) and moves them into `backups/<n>/`, which pruning deletes
//! after `keepGenerations` applies. So that the originals are never lost, that apply also
//! records `generations/0.json` (kind `original`): every file in `CODEX_HOME` it replaced or
//! removed, with its hash and mode, its bytes copied into the follower store, where garbage
//! collection keeps them as long as the record exists. Generation 0 is never pruned.
//! `codexport rollback --to 0` (and `codexport follower leave`) restore it byte for byte:
//! the files codexport added are removed and the replaced ones come back.
//!
//! It is written inside the apply's commit (before the journal's commit mark), from the
//! backups that apply made: an apply that rolls back and a later first apply record it again
//! (the inventory's generation is still 0 until one commits).

use std::collections::BTreeMap;
use std::path::Path;

use super::generations::{self, BACKUPS, Generation, GenerationKind};
use super::host::{Host, Observed};
use super::inventory::InventoryEntry;
use super::plan::{Action, Plan, StepKind};
use super::render::Root;

/// The number of the pre-codexport generation.
pub const ORIGINAL: u64 = 0;
/// The revision recorded for it (no master revision describes it).
pub const ORIGINAL_REVISION: &str = "original";

/// Record generation 0 from the backups of `generation` (the first apply's number), for the
/// files of `plan` in `CODEX_HOME` it updated or deleted. Directories moved aside are not
/// recorded (their files come back from `backups/<generation>/` by hand: said in
/// docs/operations.md).
///
/// Errors: reading a backup, writing the store or the record.
pub fn record(
    host: &dyn Host,
    codexport_home: &Path,
    plan: &Plan,
    generation: u64,
    created_at: &str,
) -> std::io::Result<()> {
    let store = crate::follower::store::FollowerStore::new(codexport_home).blobs();
    let backups = codexport_home.join(BACKUPS).join(generation.to_string());
    let mut files = BTreeMap::new();
    let replaced = plan.steps.iter().filter(|s| {
        s.root == Root::CodexHome
            && matches!(s.action, Action::Update | Action::Delete)
            && !matches!(s.kind, StepKind::EnsureDir | StepKind::RemoveDir)
    });
    for step in replaced {
        let backup = backups.join(&step.path);
        let Observed::File { sha256, mode, .. } = host.observe(&backup)? else {
            continue;
        };
        let blob = store.path_of(&sha256);
        if host.observe(&blob)? == Observed::Absent {
            if let Some(parent) = blob.parent() {
                host.create_private_dir_all(parent)?;
            }
            host.copy_file(&backup, &blob, crate::fs::SECRET_MODE)?;
        }
        files.insert(
            step.path.clone(),
            InventoryEntry {
                sha256,
                mode,
                stat: None,
            },
        );
    }
    let record = Generation {
        number: ORIGINAL,
        revision: ORIGINAL_REVISION.into(),
        kind: GenerationKind::Original,
        created_at: created_at.to_string(),
        changed: files.keys().cloned().collect(),
        backup_dir: format!("{BACKUPS}/{generation}"),
        files,
        // Before codexport: it owned nothing.
        config_keys: Some(BTreeMap::new()),
        unattended: false,
    };
    generations::save(host, codexport_home, &record)
}
