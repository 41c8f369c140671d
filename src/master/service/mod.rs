//! `master service install | uninstall | status`: run `codexport master serve` in the
//! background, started at login and restarted on failure.
//!
//! - Linux: a systemd *user* unit `codexport-master.service` ([`systemd`]).
//! - Windows: a Task Scheduler task `codexport-master` at logon ([`schtasks`]).
//! - Anything else: [`ServiceError::Unsupported`].
//!
//! Both backends compile on every platform (their pure parts are tested everywhere); which one
//! runs is picked with `cfg!`. Inputs are plain [`ServiceSettings`]; each operation returns a
//! report the CLI prints.

pub mod schtasks;
pub mod systemd;

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::exit::{Exit, ExitStatus};
use crate::paths::Roots;

/// Environment variable naming the `systemctl` binary (default: `systemctl` on PATH). Tests
/// point it at a path that does not exist, so they never reach the real user systemd.
pub const SYSTEMCTL_ENV: &str = "CODEXPORT_SYSTEMCTL";
/// Variables the service must see as the operator's shell does, copied when they are set.
pub const CARRIED_ENV: [&str; 2] = ["CODEX_HOME", "CODEXPORT_HOME"];
/// How long a status query (`systemctl --user show-environment`, `is-active`, ...) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an action (`daemon-reload`, `enable --now`, `schtasks /Create`) may take.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the service operations need, resolved once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Absolute path of the codexport binary the service runs (the running one).
    pub exe: PathBuf,
    /// `(name, absolute value)` of each [`CARRIED_ENV`] variable that is set, in that order.
    pub env: Vec<(String, PathBuf)>,
    /// Directory of systemd user units: `$XDG_CONFIG_HOME/systemd/user` when `XDG_CONFIG_HOME`
    /// is an absolute path, else `$HOME/.config/systemd/user`.
    pub unit_dir: PathBuf,
    /// The `systemctl` program ([`SYSTEMCTL_ENV`], default `systemctl`).
    pub systemctl: OsString,
}

impl ServiceSettings {
    /// Resolve from the process environment: the running executable, `HOME` (via `roots`),
    /// `XDG_CONFIG_HOME`, `CODEX_HOME`/`CODEXPORT_HOME` (their resolved absolute values from
    /// `roots`, only when the variable is set) and [`SYSTEMCTL_ENV`].
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
        Ok(ServiceSettings {
            exe,
            env,
            unit_dir: systemd::unit_dir(&roots.home, xdg.as_deref()),
            systemctl: std::env::var_os(SYSTEMCTL_ENV)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "systemctl".into()),
        })
    }
}

/// Which service manager a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manager {
    /// A systemd user unit (Linux).
    SystemdUser,
    /// A Windows Task Scheduler task.
    TaskScheduler,
}

/// What an install did to the unit file or task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// There was none; it was written.
    Created,
    /// There was one with other content; it was rewritten.
    Updated,
    /// There was one with exactly this content.
    Unchanged,
}

/// Whether codexport could talk to the service manager, and what it did or what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Activation {
    /// The manager answered; these commands ran successfully, in order.
    Done {
        /// The commands, as shell text.
        ran: Vec<String>,
    },
    /// The manager could not be reached (`reason`); the operator runs `commands` later.
    Manual {
        /// Why, e.g. `Failed to connect to bus: No medium found`.
        reason: String,
        /// The exact commands to run, in order.
        commands: Vec<String>,
    },
}

/// Result of [`install`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file path (systemd) or task name (Task Scheduler).
    pub location: String,
    /// What happened to the definition.
    pub change: Change,
    /// The command the service runs, as the definition spells it.
    pub command: String,
    /// What was done with the manager.
    pub activation: Activation,
}

/// Result of [`uninstall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file path (systemd) or task name (Task Scheduler).
    pub location: String,
    /// False when nothing was installed (nothing was done).
    pub removed: bool,
    /// What was done with the manager (`None` when nothing was installed).
    pub activation: Option<Activation>,
}

/// Result of [`status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file path (systemd) or task name (Task Scheduler).
    pub location: String,
    /// Whether the unit file or task exists.
    pub installed: bool,
    /// The command it runs (`ExecStart=` value, or the task's "Task To Run").
    pub command: Option<String>,
    /// `systemctl --user is-enabled` (`enabled`, `disabled`, ...) or the task's state;
    /// `unknown (no user systemd)` when the manager cannot be reached.
    pub enabled: String,
    /// `systemctl --user is-active` (`active`, `inactive`, `failed`, ...) or the task's status.
    pub active: String,
    /// Why the manager could not be reached, when it could not.
    pub unreachable: Option<String>,
}

/// Errors of the service operations. Each names the file or command involved.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No backend for this platform.
    #[error("`master service` supports systemd user units (Linux) and Task Scheduler (Windows), not {0}")]
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
            ServiceError::Unsupported(_) => {
                Some("run `codexport master serve` from your own service manager (e.g. launchd)".into())
            }
            ServiceError::Unquotable { .. } | ServiceError::TooLong { .. } => {
                Some("install codexport (or point CODEX_HOME/CODEXPORT_HOME) under a plainer, shorter path".into())
            }
            ServiceError::Command { command, .. } if command.contains("systemctl") => Some(format!(
                "see `systemctl --user status {0}` and `journalctl --user -u {0}`",
                systemd::UNIT_NAME
            )),
            _ => None,
        }
    }
}

/// Write or rewrite the service definition and start it when the manager is reachable.
///
/// Errors: [`ServiceError`] naming the file or command; [`ServiceError::Unsupported`] on
/// platforms other than Linux and Windows.
pub fn install(settings: &ServiceSettings) -> Result<InstallReport, ServiceError> {
    if cfg!(windows) {
        schtasks::install(settings)
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
    } else if cfg!(target_os = "linux") {
        systemd::status(settings)
    } else {
        Err(ServiceError::Unsupported(std::env::consts::OS))
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub(crate) struct Ran {
    /// True when it exited 0.
    pub(crate) success: bool,
    /// Exit status as text (`exit 1`, `signal`).
    pub(crate) status: String,
    /// Standard output (at most 64 KiB).
    pub(crate) stdout: String,
    /// Standard error (at most 64 KiB), trimmed.
    pub(crate) stderr: String,
}

/// `program args...` as shell-like text for messages.
pub(crate) fn display(program: &std::ffi::OsStr, args: &[&str]) -> String {
    let mut text = program.to_string_lossy().into_owned();
    for a in args {
        text.push(' ');
        text.push_str(a);
    }
    text
}

/// Run `program args...` with stdin closed, capturing output; killed after `timeout`.
///
/// Errors: [`ServiceError::Command`] when it cannot start or runs too long (a non-zero exit is
/// returned in [`Ran`], not as an error).
pub(crate) fn run(program: &std::ffi::OsStr, args: &[&str], timeout: Duration) -> Result<Ran, ServiceError> {
    let failed = |reason: String| ServiceError::Command {
        command: display(program, args),
        reason,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => failed("not found".into()),
            _ => failed(e.to_string()),
        })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(p) = pipe {
                let _ = p.take(64 * 1024).read_to_string(&mut text);
            }
            text
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("no answer within {} s", timeout.as_secs())));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default().trim().to_string();
    Ok(Ran {
        success: status.success(),
        status: status
            .code()
            .map(|c| format!("exit {c}"))
            .unwrap_or_else(|| "killed by a signal".into()),
        stdout,
        stderr,
    })
}

/// Run and require exit 0; returns the command as text for the report.
///
/// Errors: [`ServiceError::Command`] with the exit status and stderr.
pub(crate) fn run_ok(program: &std::ffi::OsStr, args: &[&str], timeout: Duration) -> Result<String, ServiceError> {
    let ran = run(program, args, timeout)?;
    let command = display(program, args);
    if ran.success {
        Ok(command)
    } else {
        let detail = if ran.stderr.is_empty() {
            ran.stdout.trim().to_string()
        } else {
            ran.stderr
        };
        Err(ServiceError::Command {
            command,
            reason: format!("{}: {detail}", ran.status),
        })
    }
}
