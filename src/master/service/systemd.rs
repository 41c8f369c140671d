//! The Linux backend: a systemd user unit `codexport-master.service`.
//!
//! The unit lives in `$XDG_CONFIG_HOME/systemd/user/` (default `~/.config/systemd/user/`), runs
//! `$CODEXPORT_HOME/bin/codexport master serve` (the copy [`super::binary`] makes), restarts on failure and is wanted by `default.target`, so the
//! user manager starts it at login (and at boot with `loginctl enable-linger`). Paths are
//! quoted by the rules of systemd.syntax(7), systemd.service(5) "Command lines" and
//! systemd.exec(5) `Environment=`; the quoting functions are pure and unit-tested, and
//! `tests/master_service.rs` runs `systemd-analyze verify` on a generated unit.
//!
//! A user manager is "reachable" when `systemctl --user show-environment` exits 0 within
//! [`QUERY_TIMEOUT`]. When it is not (a container, `su` without a login session, no
//! `XDG_RUNTIME_DIR`), install still writes the unit and reports the commands to run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{
    ACTION_TIMEOUT, Activation, Change, InstallReport, Manager, QUERY_TIMEOUT, ServiceError, ServiceSettings,
    StatusReport, UninstallReport, binary, display, run, run_ok,
};

/// File name of the unit.
pub const UNIT_NAME: &str = "codexport-master.service";
/// `RestartSec=` of the unit: long enough not to spin, short enough that followers barely notice.
pub const RESTART_SEC: &str = "5s";
/// What `status` reports for enabled/active when no user systemd answers.
pub const UNKNOWN: &str = "unknown (no user systemd)";

/// The user unit directory: `<xdg_config_home>/systemd/user` when it is set and absolute (the
/// XDG base directory spec ignores relative values), else `<home>/.config/systemd/user`.
pub fn unit_dir(home: &Path, xdg_config_home: Option<&Path>) -> PathBuf {
    match xdg_config_home {
        Some(x) if x.is_absolute() => x.join("systemd/user"),
        _ => home.join(".config/systemd/user"),
    }
}

/// Quote the executable of `ExecStart=`: `"<path>"` with `%` doubled (specifiers, systemd.unit(5)).
///
/// `$` stays as it is: systemd does no variable expansion in the executable path (checked with
/// `systemd-analyze verify`, where `$$` made the path not found). Errors (the reason): a
/// relative or non-normalized path, a control character, or `"`, `'` or `\`, which systemd
/// refuses in an executable name ("Executable name contains special characters").
pub fn quote_executable(path: &str) -> Result<String, &'static str> {
    if !path.starts_with('/') {
        return Err("systemd needs an absolute path");
    }
    if path.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    if path.contains(['"', '\'', '\\']) {
        return Err("systemd refuses quotes and backslashes in the executable path");
    }
    let normalized = path[1..]
        .split('/')
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if !normalized {
        return Err("systemd needs a normalized path (no `.`, `..`, `//` or trailing `/`)");
    }
    Ok(format!("\"{}\"", path.replace('%', "%%")))
}

/// Quote one argument of `ExecStart=` (systemd.syntax(7), systemd.service(5)): in double
/// quotes, `\` and `"` backslash-escaped, `%` as `%%`, `$` as `$$` (no variable expansion),
/// control characters as C escapes (`\n`, `\t`, `\xNN`, `\uNNNN`).
pub fn quote_argument(arg: &str) -> String {
    format!("\"{}\"", escape(arg, true))
}

/// Quote one `Environment=` assignment (systemd.exec(5)): `"NAME=value"`, with `\` and `"`
/// backslash-escaped and `%` as `%%`; `$` stays (no variable expansion in `Environment=`).
///
/// Errors (the reason): a name that is not `[A-Za-z_][A-Za-z0-9_]*`, or a value with a
/// control character other than tab and newline (systemd refuses those in values).
pub fn quote_environment(name: &str, value: &str) -> Result<String, &'static str> {
    let mut chars = name.chars();
    let valid_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err("not a valid environment variable name");
    }
    if value.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return Err("systemd refuses control characters in environment values");
    }
    Ok(format!("\"{name}={}\"", escape(value, false)))
}

/// Escape for a double-quoted systemd word; `$` doubled when `dollar` (command lines only).
fn escape(s: &str, dollar: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The text of the unit for `exe` with `env` (name, absolute path) as `Environment=` lines.
///
/// Errors: [`ServiceError::Unquotable`] for a path that is not UTF-8 or that
/// [`quote_executable`] / [`quote_environment`] refuse.
pub fn render_unit(exe: &Path, env: &[(String, PathBuf)]) -> Result<String, ServiceError> {
    let unquotable = |what: &str, value: &Path, reason| ServiceError::Unquotable {
        what: what.to_string(),
        value: value.display().to_string(),
        reason,
    };
    let exe_text = exe
        .to_str()
        .ok_or_else(|| unquotable("executable", exe, "it is not UTF-8"))?;
    let exec = quote_executable(exe_text).map_err(|r| unquotable("executable", exe, r))?;
    let mut environment = String::new();
    for (name, value) in env {
        let text = value
            .to_str()
            .ok_or_else(|| unquotable(name, value, "it is not UTF-8"))?;
        let quoted = quote_environment(name, text).map_err(|r| unquotable(name, value, r))?;
        environment.push_str(&format!("Environment={quoted}\n"));
    }
    Ok(format!(
        "# Written by `codexport master service install`, which rewrites it; removed by\n\
         # `codexport master service uninstall`. Logs: journalctl --user -u {UNIT_NAME}\n\
         [Unit]\n\
         Description=codexport master: serves this machine's Codex config to followers\n\
         \n\
         [Service]\n\
         Type=exec\n\
         ExecStart={exec} master serve\n\
         {environment}\
         Restart=on-failure\n\
         RestartSec={RESTART_SEC}\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n"
    ))
}

/// The value of the first `ExecStart=` line of a unit's text.
pub fn exec_start(unit: &str) -> Option<String> {
    unit.lines()
        .find_map(|l| l.trim_start().strip_prefix("ExecStart="))
        .map(|v| v.trim().to_string())
}

/// Whether an install must restart a running service: its unit changed, or the unit stayed
/// but the binary it runs did (a new unit is started by `enable --now`).
pub fn needs_restart(unit: Change, binary: Change) -> bool {
    unit == Change::Updated || (unit == Change::Unchanged && binary != Change::Unchanged)
}

/// The commands an operator runs after install when no user systemd answered, in order;
/// `restart` as [`needs_restart`] says.
pub fn manual_install_commands(restart: bool) -> Vec<String> {
    let mut commands = vec![
        "systemctl --user daemon-reload".to_string(),
        format!("systemctl --user enable --now {UNIT_NAME}"),
    ];
    if restart {
        commands.push(format!("systemctl --user restart {UNIT_NAME}"));
    }
    commands
}

/// `Ok` when a user manager answers `systemctl --user show-environment`; else why not.
fn reachable(systemctl: &OsStr) -> Result<(), String> {
    let args = ["--user", "show-environment"];
    match run(systemctl, &args, QUERY_TIMEOUT) {
        Ok(ran) if ran.success => Ok(()),
        Ok(ran) => Err(format!(
            "`{}` failed: {}",
            display(systemctl, &args),
            ran.stderr.lines().next().unwrap_or(&ran.status)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Copy the binary, write (or rewrite) the unit; when a user manager answers, `daemon-reload`,
/// `enable --now`, and `restart` when the unit or the binary changed ([`needs_restart`]).
///
/// Errors: [`ServiceError::Unquotable`], [`ServiceError::Io`] naming the unit file, the binary
/// copy's errors, [`ServiceError::Command`] when a systemctl action fails (the unit is written
/// by then).
pub fn install(settings: &ServiceSettings) -> Result<InstallReport, ServiceError> {
    let text = render_unit(&settings.service_exe, &settings.env)?;
    let path = settings.unit_dir.join(UNIT_NAME);
    let change = match fs_err::read(&path) {
        Ok(old) if old == text.as_bytes() => Change::Unchanged,
        Ok(_) => Change::Updated,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Change::Created,
        Err(e) => return Err(e.into()),
    };
    let binary = binary::install_copy(&settings.exe, &settings.service_exe)?;
    let restart = needs_restart(change, binary.change);
    if change != Change::Unchanged {
        fs_err::create_dir_all(&settings.unit_dir)?;
        crate::fs::write_atomic(&path, text.as_bytes(), 0o644)?;
    }
    let activation = match reachable(&settings.systemctl) {
        Err(reason) => Activation::Manual {
            reason,
            commands: manual_install_commands(restart),
        },
        Ok(()) => {
            let sc = settings.systemctl.as_os_str();
            let mut ran = vec![
                run_ok(sc, &["--user", "daemon-reload"], ACTION_TIMEOUT)?,
                run_ok(sc, &["--user", "enable", "--now", UNIT_NAME], ACTION_TIMEOUT)?,
            ];
            if restart {
                ran.push(run_ok(sc, &["--user", "restart", UNIT_NAME], ACTION_TIMEOUT)?);
            }
            Activation::Done { ran }
        }
    };
    Ok(InstallReport {
        manager: Manager::SystemdUser,
        location: path.display().to_string(),
        change,
        command: exec_start(&text).unwrap_or_default(),
        binary,
        log: None,
        activation,
    })
}

/// Stop, disable and remove the unit, then `daemon-reload`. Without a user manager: remove the
/// unit and its `default.target.wants/` link (what `disable` removes) and report the commands
/// that stop a still-running instance. Nothing installed: `removed: false`, nothing done.
///
/// Errors: [`ServiceError::Io`] naming the file, [`ServiceError::Command`] (nothing is removed
/// when `disable --now` fails).
pub fn uninstall(settings: &ServiceSettings) -> Result<UninstallReport, ServiceError> {
    let path = settings.unit_dir.join(UNIT_NAME);
    let location = path.display().to_string();
    if fs_err::symlink_metadata(&path).is_err() {
        return Ok(UninstallReport {
            manager: Manager::SystemdUser,
            location,
            removed: false,
            activation: None,
        });
    }
    let activation = match reachable(&settings.systemctl) {
        Ok(()) => {
            let sc = settings.systemctl.as_os_str();
            let disabled = run_ok(sc, &["--user", "disable", "--now", UNIT_NAME], ACTION_TIMEOUT)?;
            fs_err::remove_file(&path)?;
            let reloaded = run_ok(sc, &["--user", "daemon-reload"], ACTION_TIMEOUT)?;
            Activation::Done {
                ran: vec![disabled, reloaded],
            }
        }
        Err(reason) => {
            fs_err::remove_file(&path)?;
            let wants = settings.unit_dir.join("default.target.wants").join(UNIT_NAME);
            if fs_err::symlink_metadata(&wants).is_ok_and(|m| m.file_type().is_symlink()) {
                fs_err::remove_file(&wants)?;
            }
            Activation::Manual {
                reason,
                commands: vec![
                    format!("systemctl --user stop {UNIT_NAME}"),
                    "systemctl --user daemon-reload".to_string(),
                ],
            }
        }
    };
    Ok(UninstallReport {
        manager: Manager::SystemdUser,
        location,
        removed: true,
        activation: Some(activation),
    })
}

/// Installed or not, its `ExecStart=`, and `is-enabled` / `is-active` when a user manager
/// answers ([`UNKNOWN`] otherwise).
///
/// Errors: [`ServiceError::Io`] when the unit exists but cannot be read.
pub fn status(settings: &ServiceSettings) -> Result<StatusReport, ServiceError> {
    let path = settings.unit_dir.join(UNIT_NAME);
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let (enabled, active, unreachable) = match reachable(&settings.systemctl) {
        Ok(()) => {
            let ask = |verb: &str, missing: &str| -> Result<String, ServiceError> {
                let ran = run(&settings.systemctl, &["--user", verb, UNIT_NAME], QUERY_TIMEOUT)?;
                let answer = ran.stdout.trim();
                Ok(if answer.is_empty() { missing } else { answer }.to_string())
            };
            (ask("is-enabled", "not-found")?, ask("is-active", "inactive")?, None)
        }
        Err(reason) => (UNKNOWN.to_string(), UNKNOWN.to_string(), Some(reason)),
    };
    Ok(StatusReport {
        manager: Manager::SystemdUser,
        location: path.display().to_string(),
        installed: text.is_some(),
        command: text.as_deref().and_then(exec_start),
        enabled,
        active,
        pid: None,
        unreachable,
    })
}

#[cfg(test)]
#[path = "systemd_tests.rs"]
mod tests;
