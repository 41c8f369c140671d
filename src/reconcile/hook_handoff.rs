//! The SessionStart hook's hand-off of an apply it cannot finish within its budget.
//!
//! A master that rewrites a 3,000-file skill makes an apply that takes seconds. Run inside the
//! hook it would be cut off by the budget, rolled back at the next run, and cut off again at
//! every Codex start: it would never converge. So the hook estimates first (the plan's changes
//! against [`FILES_PER_SEC`] and the time left) and, when the apply does not fit, starts
//! `codexport reconcile --handed-off` in the background instead: its own process group (Codex
//! ending the hook's group does not end it), stdin/stdout/stderr on `/dev/null` (Codex reads
//! the hook's stdout to its end), recorded in [`MARKER`] `{"pid", "at", "revision"}`. The hook
//! returns at once with the outcome `handed-off`.
//!
//! The hook also hands off a download still under way when its budget runs out, from a master
//! that did answer (a silent master is backed off from instead, [`crate::follower::backoff`]).
//!
//! The background run finishes the sync, takes the lock (waiting as any writer does), applies
//! the staged revision as an unattended run (valve and journal as always; a crash is recovered by the next run from
//! its journal), records its own outcome in `hook-last.json` and one line in `hook.log`, and
//! removes the marker. A hook run meanwhile finds the lock held and records `skipped`, naming
//! the background run: it does not disturb it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::follower::local::McpInstall;
use crate::paths::Roots;

use super::ApplyOptions;
use super::hook_run::{HookRecord, Outcome};
use super::host::RealHost;

/// Marker file under `CODEXPORT_HOME` while a handed-off apply runs.
pub const MARKER: &str = "hook-handoff.json";

/// Changes the hook expects to apply per second inside its budget. Conservative: a 10k-file
/// first join runs at about 2,500 files/s on the reference machine (issue 23's table), a
/// 3,000-file rewrite by the hook took 4.5 s (about 700/s with its sync).
pub const FILES_PER_SEC: u64 = 500;

/// The most changes the hook applies itself with `left` of its budget (at least 1).
pub fn max_changes(left: Duration) -> usize {
    ((left.as_millis() as u64 * FILES_PER_SEC / 1000).max(1)) as usize
}

/// The marker's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The background process.
    pub pid: u32,
    /// When it was started (RFC 3339).
    pub at: String,
    /// The staged revision it applies, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

impl Handoff {
    fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(MARKER)
    }

    /// The hand-off on record (an unreadable marker counts as none).
    pub fn load(codexport_home: &Path) -> Option<Self> {
        serde_json::from_slice(&fs_err::read(Self::path(codexport_home)).ok()?).ok()
    }
}

/// Start the background apply; the caller must not hold the lock any more (the child waits
/// for it otherwise). Returns the child's pid, recorded in [`MARKER`].
///
/// Errors: finding our own executable, spawning it, writing the marker.
pub fn spawn(roots: &Roots, revision: Option<String>) -> std::io::Result<u32> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .args(["reconcile", "--handed-off"])
        .env("CODEX_HOME", &roots.codex_home)
        .env("CODEXPORT_HOME", &roots.codexport_home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn()?;
    let marker = Handoff {
        pid: child.id(),
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        revision,
    };
    let json = serde_json::to_vec_pretty(&marker).map_err(std::io::Error::other)?;
    crate::fs::write_atomic_unsynced(&Handoff::path(&roots.codexport_home), &json, crate::fs::SECRET_MODE)?;
    tracing::info!(pid = marker.pid, "hook: the apply is handed off to a background run");
    Ok(marker.pid)
}

/// `codexport reconcile --handed-off`: apply the staged revision as an unattended run, record
/// the outcome like a hook run, remove the marker. Never fails: the outcome is the record.
pub fn finish(roots: &Roots) -> HookRecord {
    let started = Instant::now();
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let options = ApplyOptions {
        mcp_install: Some(McpInstall::Manual),
        unattended: true,
        ..Default::default()
    };
    // The hook may have handed off mid-download: finish the sync first (one small request
    // when the revision is already staged and complete).
    let applied = super::inventory::Inventory::load(&roots.codexport_home)
        .ok()
        .and_then(|i| i.revision);
    if let Err(e) = crate::follower::sync::sync(roots, applied, &crate::progress::NoProgress) {
        tracing::info!("handed-off run: the sync failed ({e}); applying what is staged");
    }
    let (outcome, revision, message) = match super::apply_staged(roots, &RealHost, &options) {
        Ok(done) if done.report.generation.is_some() => (Outcome::Applied, Some(done.report.revision), None),
        Ok(done) => (Outcome::UpToDate, Some(done.report.revision), None),
        Err(e) => super::hook_run::apply_failure(e),
    };
    let said = format!(
        "the background apply handed off by the hook (pid {})",
        std::process::id()
    );
    let record = HookRecord {
        at,
        outcome,
        revision,
        message: Some(match message {
            Some(m) => format!("{said}: {m}"),
            None => said,
        }),
        duration_ms: started.elapsed().as_millis() as u64,
        source: None,
    };
    tracing::info!(
        outcome = record.outcome.as_str(),
        ms = record.duration_ms,
        "handed-off apply done"
    );
    let _ = super::hook_run::save(roots, &record);
    let _ = fs_err::remove_file(Handoff::path(&roots.codexport_home));
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_applies_what_fits_in_the_time_left() {
        assert_eq!(max_changes(Duration::from_secs(2)), 1000);
        assert_eq!(max_changes(Duration::from_millis(1)), 1, "never zero");
        assert_eq!(max_changes(Duration::ZERO), 1);
    }
}
