//! `codexport doctor`: preflight checks of this machine's roles, each one line with a status
//! (`ok`, `warn`, `fail`, `skip`), a detail and, for every problem, a one-line fix.
//!
//! Sections: `master` (when `$CODEXPORT_HOME/master/` exists), `follower` (when
//! `enrollment.toml` exists), and `machine` (always: CODEX_HOME, CODEXPORT_HOME, the `codex`
//! binary, free disk space). Every check is bounded in time: network requests get
//! [`NETWORK_TIMEOUT`], child processes [`COMMAND_TIMEOUT`], file system probes (which can hang
//! on a network file system) [`LOCAL_TIMEOUT`]. Details never carry a secret: no token, no
//! file content; TOML errors lose their source excerpt ([`one_line`]).
//!
//! This module only computes a [`Report`]; `cli::doctor` prints it.

mod follower;
mod follower_local;
mod machine;
mod master;

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::paths::Roots;

/// Longest wait for one request to the master.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest run of a child process (`codex --version`, `systemctl --user ...` as a whole).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest file system probe (writability, free space, hashing the launcher).
pub const LOCAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Below this much free space (bytes) on the file system of CODEX_HOME or CODEXPORT_HOME,
/// `doctor` warns: backups and generations live there.
pub const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;
/// Clock difference with the master (seconds) above which `doctor` warns.
pub const MAX_CLOCK_SKEW_SECS: u64 = 5 * 60;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something should be looked at; does not change the exit code.
    Warn,
    /// Broken: `doctor` exits 1.
    Fail,
    /// Not applicable here, or not checkable because an earlier check failed.
    Skip,
}

impl Status {
    /// `ok`, `warn`, `fail`, `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check: a stable name, its status, what was found and, for a problem, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable kebab-case name, e.g. `master-reachable`, `mcp:github`, `tool:npm`.
    pub name: String,
    /// Outcome.
    pub status: Status,
    /// What was found, one line.
    pub detail: String,
    /// One line telling how to fix it; set for `warn` and `fail`, sometimes for `skip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// An `ok` check.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail, None)
    }

    /// A `warn` check with its fix.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail, Some(fix.into()))
    }

    /// A `fail` check with its fix.
    pub fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail, Some(fix.into()))
    }

    /// A `skip` check.
    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, detail, None)
    }

    /// A check that did not finish within `limit`: `status` decides how bad that is.
    pub fn timed_out(name: impl Into<String>, status: Status, what: &str, limit: Duration) -> Self {
        Self::new(
            name,
            status,
            format!("{what} did not finish within {} s", limit.as_secs()),
            Some("run `codexport doctor` again; if it persists, check the file system or network involved".into()),
        )
    }

    /// Replace the fix (builder style).
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>, fix: Option<String>) -> Self {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// The checks of one role (`master`, `follower`) or of the machine (`machine`), or the
/// `setup` section of a machine with no role yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `master`, `follower`, `setup` or `machine`.
    pub title: &'static str,
    /// Its checks, in order.
    pub checks: Vec<Check>,
}

/// How many checks ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `ok` checks.
    pub ok: usize,
    /// `warn` checks.
    pub warn: usize,
    /// `fail` checks.
    pub fail: usize,
    /// `skip` checks.
    pub skip: usize,
}

/// Everything `doctor` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `master`, `follower`, both or none.
    pub roles: Vec<&'static str>,
    /// Sections in order: master, follower (or setup), machine.
    pub sections: Vec<Section>,
    /// Counts by status.
    pub summary: Summary,
}

impl Report {
    /// True when no check failed (warnings allowed): `doctor` exits 0.
    pub fn passed(&self) -> bool {
        self.summary.fail == 0
    }
}

/// Run every check that applies to this machine.
pub fn run(roots: &Roots) -> Report {
    let mut roles = Vec::new();
    let mut sections = Vec::new();
    if roots.master_dir().exists() {
        roles.push("master");
        sections.push(Section {
            title: "master",
            checks: master::checks(roots),
        });
    }
    if crate::follower::enrollment::Enrollment::path(&roots.codexport_home).exists() {
        roles.push("follower");
        sections.push(Section {
            title: "follower",
            checks: follower::checks(roots),
        });
    }
    if roles.is_empty() {
        sections.push(Section {
            title: "setup",
            checks: vec![Check::warn(
                "role",
                "this machine is neither a master nor a follower yet",
                "on the master: `codexport master init`; on each follower: `codexport follower join '<link>'`",
            )],
        });
    }
    sections.push(Section {
        title: "machine",
        checks: machine::checks(roots),
    });
    let mut summary = Summary::default();
    for check in sections.iter().flat_map(|s| &s.checks) {
        match check.status {
            Status::Ok => summary.ok += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
            Status::Skip => summary.skip += 1,
        }
    }
    Report {
        roles,
        sections,
        summary,
    }
}

/// Run `f` on its own thread and wait at most `limit` for its result; `None` when it did not
/// finish in time (the thread is left to end on its own) or panicked.
pub(crate) fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// An error message as one line without any quoted source: TOML parse errors show the
/// offending line of the file (`1 | token = "..."`), which may hold a secret (a token in
/// enrollment.toml, an MCP `env` value in config.toml). Those excerpt lines are dropped; the
/// rest (position and message) is joined with `: `.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| {
            !l.trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start()
                .starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// `812 B`, `1.5 KiB`, `3.0 MiB`, `12.3 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `sha256:abcdef123456` (the first 12 hex digits) for details.
pub(crate) fn short(revision: &str) -> String {
    let hex = revision.strip_prefix("sha256:").unwrap_or(revision);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

#[cfg(test)]
mod tests;
