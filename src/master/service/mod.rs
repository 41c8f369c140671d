//! `master service install | uninstall | status`: run `codexport master serve` in the
//! background, started at login and restarted on failure.
//!
//! - Linux: a systemd *user* unit `codexport-master.service` ([`systemd`]).
//! - macOS: a per-user LaunchAgent `~/Library/LaunchAgents/dev.codexport.master.plist`
//!   ([`launchd`]).
//! - Windows: a Task Scheduler task `codexport-master` at logon ([`schtasks`]).
//! - Anything else: [`ServiceError::Unsupported`].
//!
//! Every backend compiles on every platform (their pure parts are tested everywhere); which
//! one runs is picked with `cfg!`. Inputs are plain [`ServiceSettings`]; each operation returns
//! a report the CLI prints.
//!
//! The service never runs the binary `install` was started from, which may be a file in a
//! cache that gets deleted (`npx codexport` runs one from npm's temporary npx cache): install
//! first copies it to `$CODEXPORT_HOME/bin/codexport` ([`binary`]) and every backend points at
//! that copy.

pub mod binary;
mod command;
pub mod launchd;
mod report;
pub mod schtasks;
pub mod systemd;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{Exit, ExitStatus};
use crate::paths::Roots;

pub(crate) use command::{display, run, run_ok};
pub use report::{Activation, BinaryReport, Change, InstallReport, Manager, StatusReport, UninstallReport};

/// Environment variable naming the `systemctl` binary (default: `systemctl` on PATH). Tests
/// point it at a path that does not exist, so they never reach the real user systemd.
pub const SYSTEMCTL_ENV: &str = "CODEXPORT_SYSTEMCTL";
/// Environment variable naming the `launchctl` binary (default: `launchctl` on PATH), for the
/// same reason as [`SYSTEMCTL_ENV`].
pub const LAUNCHCTL_ENV: &str = "CODEXPORT_LAUNCHCTL";
/// Variables the service must see as the operator's shell does, copied when they are set.
pub const CARRIED_ENV: [&str; 2] = ["CODEX_HOME", "CODEXPORT_HOME"];
/// How long a status query (`systemctl --user show-environment`, `is-active`, ...) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an action (`daemon-reload`, `enable --now`, `schtasks /Create`) may take.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the service operations need, resolved once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Absolute path of the running codexport binary, which `install` copies to
    /// [`ServiceSettings::service_exe`].
    pub exe: PathBuf,
    /// The binary the service runs: `$CODEXPORT_HOME/bin/codexport` (`codexport.exe` on
    /// Windows; [`binary::service_exe`]).
    pub service_exe: PathBuf,
    /// `(name, absolute value)` of each [`CARRIED_ENV`] variable that is set, in that order.
    pub env: Vec<(String, PathBuf)>,
    /// Directory of systemd user units: `$XDG_CONFIG_HOME/systemd/user` when `XDG_CONFIG_HOME`
    /// is an absolute path, else `$HOME/.config/systemd/user`.
    pub unit_dir: PathBuf,
    /// The `systemctl` program ([`SYSTEMCTL_ENV`], default `systemctl`).
    pub systemctl: OsString,
    /// Directory of per-user launchd agents: `$HOME/Library/LaunchAgents`.
    pub launch_agents_dir: PathBuf,
    /// Where the launchd agent's stdout/stderr go: `$CODEXPORT_HOME/logs`.
    pub log_dir: PathBuf,
    /// The `launchctl` program ([`LAUNCHCTL_ENV`], default `launchctl`).
    pub launchctl: OsString,
    /// The real user id, for launchd's `gui/<uid>` domain (0 where there are no uids).
    pub uid: u32,
}

impl ServiceSettings {
    /// Resolve from the process environment: the running executable, `HOME` (via `roots`),
    /// `XDG_CONFIG_HOME`, `CODEX_HOME`/`CODEXPORT_HOME` (their resolved absolute values from
    /// `roots`, only when the variable is set), [`SYSTEMCTL_ENV`], [`LAUNCHCTL_ENV`] and the
    /// user id.
    ///
    /// Errors: [`ServiceError::CurrentExe`] when the running binary cannot be found.
    pub fn from_env(roots: &Roots) -> Result<Self, ServiceError> {
        let exe = std::env::current_exe().map_err(ServiceError::CurrentExe)?;
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let env = CARRIED_ENV
            .iter()
            .filter(|k| set(k))
            .map(|k| {
                let value = if *k == "CODEX_HOME" {
                    &roots.codex_home
                } else {
                    &roots.codexport_home
                };
                (k.to_string(), value.clone())
            })
            .collect();
        let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        let program = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.into())
        };
        Ok(ServiceSettings {
            exe,
            service_exe: binary::service_exe(&roots.codexport_home),
            env,
            unit_dir: systemd::unit_dir(&roots.home, xdg.as_deref()),
            systemctl: program(SYSTEMCTL_ENV, "systemctl"),
            launch_agents_dir: launchd::agents_dir(&roots.home),
            log_dir: roots.codexport_home.join(crate::logs::LOGS_DIR),
            launchctl: program(LAUNCHCTL_ENV, "launchctl"),
            uid: current_uid(),
        })
    }
}

/// The real user id (`getuid`); 0 where the platform has none (Windows).
fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Errors of the service operations. Each names the file or command involved.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No backend for this platform.
    #[error(
        "`master service` supports systemd user units (Linux), launchd agents (macOS) and Task Scheduler (Windows), not {0}"
    )]
    Unsupported(&'static str),
    /// `std::env::current_exe` failed.
    #[error("cannot find the path of the running codexport binary: {0}")]
    CurrentExe(#[source] std::io::Error),
    /// A path or value cannot be written into the unit or task safely.
    #[error("{what} {value:?} cannot go into the service definition: {reason}")]
    Unquotable {
        /// What it is: `executable`, `CODEX_HOME`, ...
        what: String,
        /// The value.
        value: String,
        /// Why (which character, which rule).
        reason: &'static str,
    },
    /// The schtasks `/TR` command line is over its 261-character limit.
    #[error("the task command line is {len} characters, over the 261 schtasks allows: {command}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The command line.
        command: String,
    },
    /// The service's copy of the binary cannot be put at `path` (a directory stands there, or
    /// its directory is a link).
    #[error("{path}: {reason}, refused")]
    Refused {
        /// The path.
        path: PathBuf,
        /// What stands there.
        reason: &'static str,
    },
    /// Copying the running binary to the service's copy failed.
    #[error("cannot copy {from} to {to}")]
    CopyBinary {
        /// The running binary.
        from: PathBuf,
        /// The service's copy.
        to: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading, writing or removing a file failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A manager command could not start, timed out, or exited non-zero.
    #[error("`{command}` failed: {reason}")]
    Command {
        /// The command, as shell text.
        command: String,
        /// Exit status and stderr, `not found`, or the timeout.
        reason: String,
    },
}

impl ExitStatus for ServiceError {
    fn exit(&self) -> Exit {
        match self {
            ServiceError::Unsupported(_) | ServiceError::Unquotable { .. } | ServiceError::TooLong { .. } => {
                Exit::Usage
            }
            _ => Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ServiceError::Unsupported(_) => Some("run `codexport master serve` from your own service manager".into()),
            ServiceError::Unquotable { .. } | ServiceError::TooLong { .. } => {
                Some("install codexport (or point CODEX_HOME/CODEXPORT_HOME) under a plainer, shorter path".into())
            }
            ServiceError::Command { command, .. } if command.contains("systemctl") => Some(format!(
                "see `systemctl --user status {0}` and `journalctl --user -u {0}`",
                systemd::UNIT_NAME
            )),
            ServiceError::Command { command, .. } if command.contains("launchctl") => Some(format!(
                "see `launchctl print gui/$(id -u)/{}` and the log {}",
                launchd::LABEL,
                launchd::LOG_FILE
            )),
            ServiceError::Refused { .. } => {
                Some("move what stands there away, then run `codexport master service install` again".into())
            }
            _ => None,
        }
    }
}

/// Copy the running binary to [`ServiceSettings::service_exe`], write or rewrite the service
/// definition pointing at that copy, and start (or restart) it when the manager is reachable.
///
/// Errors: [`ServiceError`] naming the file or command; [`ServiceError::Unsupported`] on
/// platforms other than Linux, macOS and Windows.
pub fn install(settings: &ServiceSettings) -> Result<InstallReport, ServiceError> {
    if cfg!(windows) {
        schtasks::install(settings)
    } else if cfg!(target_os = "macos") {
        launchd::install(settings)
    } else if cfg!(target_os = "linux") {
        systemd::install(settings)
    } else {
        Err(ServiceError::Unsupported(std::env::consts::OS))
    }
}

/// Stop and remove the service; reports `removed: false` when nothing was installed.
///
/// Errors: as [`install`].
pub fn uninstall(settings: &ServiceSettings) -> Result<UninstallReport, ServiceError> {
    if cfg!(windows) {
        schtasks::uninstall(settings)
    } else if cfg!(target_os = "macos") {
        launchd::uninstall(settings)
    } else if cfg!(target_os = "linux") {
        systemd::uninstall(settings)
    } else {
        Err(ServiceError::Unsupported(std::env::consts::OS))
    }
}

/// Whether the service is installed, what it runs, and whether it is enabled and running.
///
/// Errors: as [`install`] (an unreachable manager is not an error: it is reported).
pub fn status(settings: &ServiceSettings) -> Result<StatusReport, ServiceError> {
    if cfg!(windows) {
        schtasks::status(settings)
    } else if cfg!(target_os = "macos") {
        launchd::status(settings)
    } else if cfg!(target_os = "linux") {
        systemd::status(settings)
    } else {
        Err(ServiceError::Unsupported(std::env::consts::OS))
    }
}
