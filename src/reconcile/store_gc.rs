//! Garbage collection of the follower store: after an apply, blobs that neither the staged
//! revision nor any kept generation refers to are removed, so the store tracks what rollback
//! can still restore instead of growing with every revision (it is also capped, see
//! `follower::store::store_cap`).
//!
//! Conservative by construction: nothing is removed unless the staged document loads and
//! verifies (otherwise the set of needed blobs is unknown), and removals go through the
//! [`Host`], so a dry run removes nothing.

use std::collections::HashSet;

use crate::follower::enrollment::Enrollment;
use crate::follower::store::FollowerStore;
use crate::paths::Roots;

use super::generations;
use super::host::Host;
use super::inventory;

/// What a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Remove the blobs no one needs any more (see the module doc).
pub fn collect(roots: &Roots, host: &dyn Host) -> std::io::Result<GcReport> {
    let home = &roots.codexport_home;
    let Ok(enrollment) = Enrollment::load(home) else {
        return Ok(GcReport::default());
    };
    let store = FollowerStore::new(home);
    let Ok(Some(staged)) = store.load_staged(&enrollment) else {
        return Ok(GcReport::default());
    };
    let spec = &staged.doc.spec;
    let mut keep: HashSet<String> = spec.files.iter().map(|f| f.sha256.clone()).collect();
    keep.extend(spec.config.iter().chain(spec.hooks.iter()).map(|b| b.sha256.clone()));
    keep.extend(crate::mcp::artifact_blobs(spec).map(|(sha, _)| sha.clone()));
    for g in generations::list(host, home)? {
        keep.extend(g.files.into_values().map(|e| e.sha256));
    }
    keep.extend(inventory::load(host, home)?.files.into_values().map(|e| e.sha256));
    let blobs = store.blobs();
    let mut report = GcReport::default();
    for (sha, size) in blobs.list()? {
        if !keep.contains(&sha) {
            host.remove_file(&blobs.path_of(&sha))?;
            report.removed += 1;
            report.bytes += size;
        }
    }
    Ok(report)
}
