//! `codexport reconcile --hook`: the SessionStart hook's run. Best effort and bounded:
//!
//! - a hard total budget (connect + fetch + apply); when it runs out the run gives up and
//!   reports it (an apply already under way gets a short grace period, and an interrupted one
//!   is rolled back by the journal at the next run); an apply that would not fit in what is
//!   left is handed off to a background run instead ([`super::hook_handoff`]);
//! - skips at once when another codexport run holds the lock;
//! - asks `/v1/meta` with `If-None-Match: <applied revision>` first: an unchanged master costs
//!   one small request;
//! - never installs MCP artifacts (that takes minutes): plans show them pending;
//! - writes nothing to stdout (Codex would add it to the model's context) and always exits 0.
//!
//! Every run appends one line to `$CODEXPORT_HOME/logs/hook.log` and records its outcome in
//! `$CODEXPORT_HOME/hook-last.json` for `codexport status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::follower::FollowerError;
use crate::follower::backoff::Backoff;
use crate::follower::enrollment::Enrollment;
use crate::follower::local::McpInstall;
use crate::paths::Roots;

use super::host::{Host, LockError, RealHost};
use super::{ApplyOptions, ReconcileError};

/// Outcome file inside CODEXPORT_HOME.
pub const LAST_FILE: &str = "hook-last.json";
/// Log file inside CODEXPORT_HOME.
pub const LOG_FILE: &str = "logs/hook.log";
/// The log is rotated to `hook.log.1` beyond this size, in bytes.
pub const LOG_MAX_BYTES: u64 = 256 * 1024;
/// Extra time an apply already under way may take after the budget ran out. Short: an apply
/// that does not fit is handed off before it starts ([`super::hook_handoff`]), so this only
/// covers one that was estimated to fit.
pub const APPLY_GRACE: Duration = Duration::from_millis(500);

/// What one hook run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A new revision was applied.
    Applied,
    /// The master's revision is the one applied.
    UpToDate,
    /// Another codexport run held the lock.
    Skipped,
    /// The master did not answer.
    Unreachable,
    /// The budget ran out.
    Timeout,
    /// Fingerprint, signature or token check failed: nothing applied.
    TrustFailure,
    /// The safety valve refused the revision (mass delete, emptied config).
    Refused,
    /// Drift under `onDrift = fail`.
    Drift,
    /// Anything else (not joined, bad local files, a failed step rolled back).
    Error,
    /// The master did not answer lately: not contacted this time
    /// ([`crate::follower::backoff`]).
    Backoff,
    /// The apply did not fit in the budget: a background run applies it
    /// ([`super::hook_handoff`]).
    HandedOff,
}

impl Outcome {
    /// The name as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::UpToDate => "up-to-date",
            Outcome::Skipped => "skipped",
            Outcome::Unreachable => "unreachable",
            Outcome::Timeout => "timeout",
            Outcome::TrustFailure => "trust-failure",
            Outcome::Refused => "refused",
            Outcome::Drift => "drift",
            Outcome::Error => "error",
            Outcome::Backoff => "backoff",
            Outcome::HandedOff => "handed-off",
        }
    }
}

/// The record of the last hook run (`hook-last.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRecord {
    /// When the run started (RFC 3339).
    pub at: String,
    /// What happened.
    pub outcome: Outcome,
    /// The revision applied or current, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Why, for anything but applied / up-to-date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall time of the run, in milliseconds.
    pub duration_ms: u64,
    /// The SessionStart `source` Codex sent (`startup`, `resume`), when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl HookRecord {
    /// The last recorded run, if any (an unreadable record counts as none).
    pub fn load(codexport_home: &std::path::Path) -> Option<Self> {
        let bytes = fs_err::read(codexport_home.join(LAST_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Run the hook with `budget`; `session` yields the SessionStart JSON from stdin, if any (asked
/// at the end, so reading stdin never delays the run). Never fails: the outcome is recorded
/// (best effort) and returned.
pub fn run(roots: &Roots, budget: Duration, session: impl FnOnce() -> Option<serde_json::Value>) -> HookRecord {
    let started = Instant::now();
    let now = std::time::SystemTime::now();
    let at = humantime::format_rfc3339_seconds(now).to_string();
    if let Some(backoff) = Backoff::load(&roots.codexport_home).filter(|b| b.active(now)) {
        let record = HookRecord {
            at,
            outcome: Outcome::Backoff,
            revision: None,
            message: Some(format!(
                "the master has not answered since {} ({}); not contacting it until {} (`codexport sync` tries now)",
                backoff.since, backoff.reason, backoff.until
            )),
            duration_ms: started.elapsed().as_millis() as u64,
            source: None,
        };
        tracing::info!(until = %backoff.until, "hook run: backing off");
        let _ = save(roots, &record);
        return record;
    }
    let deadline = started + budget;
    let flags = Arc::new(Flags::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let worker_roots = roots.clone();
    let worker_flags = Arc::clone(&flags);
    let spawned = std::thread::Builder::new().name("hook".into()).spawn(move || {
        let result = std::panic::catch_unwind(|| attempt(&worker_roots, deadline, &worker_flags))
            .unwrap_or_else(|_| (Outcome::Error, None, Some("internal error (panic)".to_string())));
        let _ = tx.send(result);
    });
    let (outcome, revision, message) = match spawned {
        Err(e) => (Outcome::Error, None, Some(e.to_string())),
        Ok(_) => match rx.recv_timeout(budget) {
            Ok(result) => result,
            Err(_) if flags.applying.load(Ordering::SeqCst) => rx.recv_timeout(APPLY_GRACE).unwrap_or((
                Outcome::Timeout,
                None,
                Some(format!("the apply did not finish within the budget + {APPLY_GRACE:?}")),
            )),
            Err(_) if flags.answered.load(Ordering::SeqCst) => {
                // The master answered and is still sending a big revision: the background run
                // goes on with it (the worker stops before applying; the lock is released when
                // this process ends, and the background run waits for it).
                flags.gave_up.store(true, Ordering::SeqCst);
                hand_off(
                    roots,
                    None,
                    format!("the download did not finish in the {} ms budget", budget.as_millis()),
                )
            }
            Err(_) => {
                // Still waiting for the master when the budget ran out: back off.
                let message = format!("gave up after {} ms (the budget)", budget.as_millis());
                bump_once(roots, &flags.backed_off, &message);
                (Outcome::Timeout, None, Some(message))
            }
        },
    };
    let record = HookRecord {
        at,
        outcome,
        revision,
        message,
        duration_ms: started.elapsed().as_millis() as u64,
        source: session()
            .as_ref()
            .and_then(|s| s.get("source"))
            .and_then(|s| s.as_str())
            .map(|s| s.chars().take(32).collect()),
    };
    tracing::info!(
        outcome = record.outcome.as_str(),
        revision = record.revision.as_deref(),
        ms = record.duration_ms,
        source = record.source.as_deref(),
        message = record.message.as_deref(),
        "hook run"
    );
    let _ = save(roots, &record);
    record
}

/// (outcome, revision, message) of one attempt.
pub(super) type Attempt = (Outcome, Option<String>, Option<String>);

/// Bump the back-off once per hook run: the worker, still talking to the master, fails too
/// after the main thread gave up on it (two bumps doubled the first interval).
fn bump_once(roots: &Roots, backed_off: &AtomicBool, reason: &str) {
    if !backed_off.swap(true, Ordering::SeqCst) {
        let _ = Backoff::bump(&roots.codexport_home, std::time::SystemTime::now(), reason);
    }
}

/// What the worker and the hook's main thread tell each other.
#[derive(Default)]
struct Flags {
    /// Set when the apply starts.
    applying: AtomicBool,
    /// Set when the back-off was bumped.
    backed_off: AtomicBool,
    /// Set when the master announced a new revision.
    answered: AtomicBool,
    /// Set when the main thread handed the run off: the worker must not start applying.
    gave_up: AtomicBool,
}

/// Start the background run ([`super::hook_handoff`]) and say so.
fn hand_off(roots: &Roots, revision: Option<String>, why: String) -> Attempt {
    match super::hook_handoff::spawn(roots, revision.clone()) {
        Ok(pid) => (
            Outcome::HandedOff,
            revision,
            Some(format!("{why}: going on in the background (pid {pid})")),
        ),
        Err(e) => (
            Outcome::Error,
            None,
            Some(format!("{why}; could not start the background run: {e}")),
        ),
    }
}

fn attempt(roots: &Roots, deadline: Instant, flags: &Flags) -> Attempt {
    let lock = match RealHost.lock(&roots.codexport_home.join("lock"), Duration::ZERO) {
        Ok(lock) => lock,
        Err(LockError::Held { .. }) => {
            let why = match super::hook_handoff::Handoff::load(&roots.codexport_home) {
                Some(h) => format!(
                    "the background apply an earlier hook run handed off (pid {}, since {}) holds the lock",
                    h.pid, h.at
                ),
                None => "another codexport run holds the lock".into(),
            };
            return (Outcome::Skipped, None, Some(why));
        }
        Err(e) => return (Outcome::Error, None, Some(e.to_string())),
    };
    let enrollment = match Enrollment::load(&roots.codexport_home) {
        Ok(e) => e,
        Err(e) => return (Outcome::Error, None, Some(e.to_string())),
    };
    let applied = super::inventory::Inventory::load(&roots.codexport_home)
        .ok()
        .and_then(|i| i.revision);
    let left = deadline.saturating_duration_since(Instant::now());
    let synced = crate::follower::sync::sync_for_hook(roots, &enrollment, applied.clone(), left, &flags.answered);
    match &synced {
        // A slow download from a master that answered is handed off, not backed off from.
        Err(FollowerError::Interrupted { .. }) if flags.answered.load(Ordering::SeqCst) => {}
        Err(e @ (FollowerError::Unreachable { .. } | FollowerError::Interrupted { .. })) => {
            bump_once(roots, &flags.backed_off, &e.to_string());
        }
        // The master answered (even to refuse): no back-off.
        _ => Backoff::clear(&roots.codexport_home),
    }
    let staged = match synced {
        Ok(None) => return (Outcome::UpToDate, applied, None),
        Ok(Some(outcome)) => Some(outcome.revision),
        // A request cut off by the budget's own timeout is the budget running out, whatever
        // the HTTP client calls it (it races the main thread's wait).
        Err(e @ FollowerError::Unreachable { .. }) if Instant::now() >= deadline => {
            return (Outcome::Timeout, None, Some(e.to_string()));
        }
        Err(e) => return sync_failure(e),
    };
    if flags.gave_up.load(Ordering::SeqCst) {
        return (Outcome::HandedOff, staged, None);
    }
    flags.applying.store(true, Ordering::SeqCst);
    let left = deadline.saturating_duration_since(Instant::now());
    let options = ApplyOptions {
        mcp_install: Some(McpInstall::Manual),
        unattended: true,
        max_changes: Some(super::hook_handoff::max_changes(left)),
        ..Default::default()
    };
    let too_big = match super::apply_staged_locked(roots, &RealHost, &options) {
        Ok(done) if done.report.generation.is_some() => return (Outcome::Applied, Some(done.report.revision), None),
        Ok(done) => return (Outcome::UpToDate, Some(done.report.revision), None),
        Err(ReconcileError::OverBudget { changes, .. }) => changes,
        Err(e) => return apply_failure(e),
    };
    // The background run needs the lock.
    drop(lock);
    let why = format!("{too_big} changes do not fit in the {} ms left", left.as_millis());
    hand_off(roots, staged, why)
}

fn sync_failure(e: FollowerError) -> Attempt {
    (follower_outcome(&e), None, Some(e.to_string()))
}

/// The outcome of a follower error, whether the sync or the apply (the staged document is
/// verified again when loaded, and checked against this follower's roots) found it.
fn follower_outcome(e: &FollowerError) -> Outcome {
    match e {
        FollowerError::Unreachable { .. } => Outcome::Unreachable,
        FollowerError::Interrupted { .. } => Outcome::Timeout,
        FollowerError::FingerprintMismatch { .. }
        | FollowerError::Untrusted { .. }
        | FollowerError::TokenRefused { .. } => Outcome::TrustFailure,
        FollowerError::Replayed { .. } => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// The outcome of a failed apply.
pub(super) fn apply_failure(e: ReconcileError) -> Attempt {
    let outcome = match &e {
        ReconcileError::Follower(f) => follower_outcome(f),
        ReconcileError::Refused(_) => Outcome::Refused,
        ReconcileError::Drift(_) => Outcome::Drift,
        ReconcileError::Locked(_) => Outcome::Skipped,
        _ => Outcome::Error,
    };
    (outcome, None, Some(e.to_string()))
}

/// Record the outcome and append one log line (rotating the log past [`LOG_MAX_BYTES`]).
pub(super) fn save(roots: &Roots, record: &HookRecord) -> std::io::Result<()> {
    let home = &roots.codexport_home;
    crate::fs::create_private_dir(home)?;
    let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    // Not fsynced: a status record read by `status` and `doctor`, where an unreadable one
    // counts as none. An fsync here was a device flush on every Codex session start.
    crate::fs::write_atomic_unsynced(&home.join(LAST_FILE), &json, crate::fs::SECRET_MODE)?;
    crate::fs::refuse_linked_state_dirs(home)?;
    let log = home.join(LOG_FILE);
    if let Some(dir) = log.parent() {
        crate::fs::create_private_dir(dir)?;
    }
    if fs_err::metadata(&log).is_ok_and(|m| m.len() > LOG_MAX_BYTES) {
        fs_err::rename(&log, log.with_extension("log.1"))?;
    }
    let line = format!(
        "{} {} {}ms{}{}\n",
        record.at,
        record.outcome.as_str(),
        record.duration_ms,
        record.revision.as_deref().map(|r| format!(" {r}")).unwrap_or_default(),
        record
            .message
            .as_deref()
            .map(|m| format!(" {}", m.replace('\n', " ")))
            .unwrap_or_default(),
    );
    use std::io::Write;
    let mut file = fs_err::OpenOptions::new().create(true).append(true).open(&log)?;
    crate::fs::set_mode(&log, crate::fs::SECRET_MODE)?;
    file.write_all(line.as_bytes())
}
