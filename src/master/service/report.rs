//! What the service operations report: the manager, what happened to the definition and to
//! the service's copy of the binary, and what was run. The CLI prints these as text or as
//! JSON/YAML (`--output`), so every field is part of the output format.

use serde::Serialize;

/// Which service manager a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manager {
    /// A systemd user unit (Linux).
    SystemdUser,
    /// A Windows Task Scheduler task.
    TaskScheduler,
    /// A per-user launchd LaunchAgent (macOS).
    Launchd,
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

/// Result of [`install`](super::install).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file or plist path (systemd, launchd) or task name (Task Scheduler).
    pub location: String,
    /// What happened to the definition.
    pub change: Change,
    /// The command the service runs, as the definition spells it.
    pub command: String,
    /// The service's own copy of the binary, which the definition runs.
    pub binary: BinaryReport,
    /// The file the service's output goes to (launchd); absent where the manager keeps it
    /// (systemd's journal, Task Scheduler).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// What was done with the manager.
    pub activation: Activation,
}

/// What [`install`](super::install) did to the service's copy of the binary,
/// `$CODEXPORT_HOME/bin/codexport` (`codexport.exe` on Windows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryReport {
    /// The copy's path.
    pub path: String,
    /// The running binary it was copied from.
    pub from: String,
    /// `created` / `updated` (the bytes differed, or a link stood there) / `unchanged`.
    pub change: Change,
}

/// Result of [`uninstall`](super::uninstall).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file or plist path (systemd, launchd) or task name (Task Scheduler).
    pub location: String,
    /// False when nothing was installed (nothing was done).
    pub removed: bool,
    /// What was done with the manager (`None` when nothing was installed).
    pub activation: Option<Activation>,
}

/// Result of [`status`](super::status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The service manager.
    pub manager: Manager,
    /// Unit file or plist path (systemd, launchd) or task name (Task Scheduler).
    pub location: String,
    /// Whether the unit file or task exists.
    pub installed: bool,
    /// The command it runs (`ExecStart=` value, the task's "Task To Run", or the plist's
    /// `ProgramArguments` as `"<exe>" master serve`).
    pub command: Option<String>,
    /// `systemctl --user is-enabled` (`enabled`, `disabled`, ...), the task's state, or for
    /// launchd `loaded` / `not loaded`; `unknown (...)` when the manager cannot be reached.
    pub enabled: String,
    /// `systemctl --user is-active` (`active`, `inactive`, `failed`, ...), the task's status,
    /// or the `state` of `launchctl print` (`running`, `not running`, ...).
    pub active: String,
    /// The running process (launchd's `pid`); absent when not running or not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Why the manager could not be reached, when it could not.
    pub unreachable: Option<String>,
}
