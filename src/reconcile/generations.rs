//! Generations (like home-manager): every apply that changed something is recorded in
//! `generations/<n>.json` with its revision, time, changed paths, backup location and the full
//! file list, so `codexport rollback --to N` can restore it byte for byte from the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::host::Host;
use super::inventory::InventoryEntry;

/// Directory of generation records under CODEXPORT_HOME.
pub const DIR: &str = "generations";
/// Directory of backups under CODEXPORT_HOME (`backups/<n>/<path>`).
pub const BACKUPS: &str = "backups";

/// How a generation came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GenerationKind {
    /// An apply of a master revision.
    Apply,
    /// `codexport rollback`.
    Rollback,
    /// Generation 0: the follower's own files before codexport first wrote
    /// ([`super::generation_zero`]); never pruned.
    Original,
}

/// One generation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    /// 1, 2, 3, ...
    pub number: u64,
    /// The master revision this generation holds.
    pub revision: String,
    /// Apply or rollback.
    pub kind: GenerationKind,
    /// RFC 3339 time.
    pub created_at: String,
    /// Paths (relative to CODEX_HOME) this generation created, changed or removed.
    pub changed: Vec<String>,
    /// Where the files it overwrote or removed were backed up (relative to CODEXPORT_HOME).
    pub backup_dir: String,
    /// Every managed file after this generation (path -> sha256, mode); contents are in the store.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub files: BTreeMap<String, InventoryEntry>,
    /// The config.toml keys codexport owned after this generation (encoded key path ->
    /// fingerprint, as in the inventory). A rollback to it owns no key outside this set, so it
    /// never takes over keys the follower or its Codex wrote. `None` in records written before
    /// it was kept (a rollback then owns no key the current inventory does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_keys: Option<BTreeMap<String, String>>,
    /// True when no operator ran it (the SessionStart hook). The safety valve measures
    /// deletions against the newest generation an operator ran, so a master cannot walk files
    /// away a little at a time through unattended runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unattended: bool,
}

/// Path of generation `n`'s record.
pub fn path(codexport_home: &Path, n: u64) -> PathBuf {
    codexport_home.join(DIR).join(format!("{n}.json"))
}

/// Every record, oldest first; unreadable records are skipped (a half-written one after a crash).
pub fn list(host: &dyn Host, codexport_home: &Path) -> std::io::Result<Vec<Generation>> {
    let mut out = Vec::new();
    for name in host.list_dir(&codexport_home.join(DIR))? {
        if let Some(n) = name.strip_suffix(".json").and_then(|n| n.parse::<u64>().ok())
            && let Some(bytes) = host.read(&path(codexport_home, n))?
            && let Ok(g) = serde_json::from_slice::<Generation>(&bytes)
        {
            out.push(g);
        }
    }
    out.sort_by_key(|g| g.number);
    Ok(out)
}

/// Write a record (mode 0600).
pub fn save(host: &dyn Host, codexport_home: &Path, generation: &Generation) -> std::io::Result<()> {
    host.create_private_dir_all(&codexport_home.join(DIR))?;
    let bytes = serde_json::to_vec_pretty(generation).map_err(std::io::Error::other)?;
    host.write_file(&path(codexport_home, generation.number), &bytes, crate::fs::SECRET_MODE)
}

/// One more than the highest generation in records, backups and the inventory.
pub fn next_number(host: &dyn Host, codexport_home: &Path, inventory_generation: u64) -> std::io::Result<u64> {
    let mut highest = inventory_generation;
    for dir in [DIR, BACKUPS] {
        for name in host.list_dir(&codexport_home.join(dir))? {
            if let Ok(n) = name.trim_end_matches(".json").parse::<u64>() {
                highest = highest.max(n);
            }
        }
    }
    Ok(highest + 1)
}

/// Remove all but the newest `keep` records and their backups; returns the numbers removed.
/// Generation 0 (the follower's files before codexport) is never removed nor counted.
///
/// A backup directory without a record belongs to a run that was rolled back (or interrupted
/// and recovered): it is pruned by the same rule, counted among the records, when `keep` runs
/// newer than it are on disk. One whose journal is still there (a rollback that failed, or a
/// run not yet recovered) is never pruned: it may hold the last copy of a user's file.
pub fn prune(host: &dyn Host, codexport_home: &Path, keep: usize) -> std::io::Result<Vec<u64>> {
    let mut all = list(host, codexport_home)?;
    all.retain(|g| g.number != super::generation_zero::ORIGINAL);
    let cut = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for g in &all[..cut] {
        host.remove_dir_all(&codexport_home.join(BACKUPS).join(g.number.to_string()))?;
        host.remove_file(&path(codexport_home, g.number))?;
        removed.push(g.number);
    }
    let recorded: BTreeSet<u64> = all.iter().map(|g| g.number).collect();
    let journals: BTreeSet<u64> = host
        .list_dir(&codexport_home.join(super::journal::DIR))?
        .iter()
        .filter_map(|n| n.strip_suffix(".jsonl").and_then(|n| n.parse().ok()))
        .collect();
    let orphans: Vec<u64> = host
        .list_dir(&codexport_home.join(BACKUPS))?
        .iter()
        .filter_map(|n| n.parse::<u64>().ok())
        .filter(|n| !recorded.contains(n))
        .collect();
    let runs: BTreeSet<u64> = recorded.iter().chain(orphans.iter()).copied().collect();
    for n in orphans {
        let newer = runs.range(n + 1..).count();
        if newer >= keep && !journals.contains(&n) {
            tracing::info!(run = n, "pruning the backups of a run that was rolled back");
            host.remove_dir_all(&codexport_home.join(BACKUPS).join(n.to_string()))?;
        }
    }
    Ok(removed)
}
