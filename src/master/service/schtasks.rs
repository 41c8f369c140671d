//! The Windows backend: a Task Scheduler task `codexport-master` that runs at logon, managed
//! with `schtasks.exe` (stable since Windows 7, unlike the task XML schema).
//!
//! The task runs the service's copy of the binary, `$CODEXPORT_HOME\bin\codexport.exe`
//! ([`super::binary`]). The argument builders are pure and snapshot-tested on every platform;
//! [`install`], [`uninstall`] and [`status`] run `schtasks` and are only called on Windows.
//! They are not exercised on a Windows machine by the test suite.
//!
//! Quoting: `/TR` is one argument whose value is the task's command line,
//! `"<exe>" master serve` (inner quotes around the path, so a path with spaces works; Rust's
//! `Command` adds the outer quoting by the MSVC argv rules). Task Scheduler has no per-task
//! environment, so when CODEX_HOME/CODEXPORT_HOME are set the command line becomes
//! `cmd.exe /d /s /c "set "NAME=value"&& ... && "<exe>" master serve"` (`/s`: cmd strips
//! exactly the outer quotes; `set "NAME=value"` keeps spaces and `&` literal). `%` is refused
//! in paths because both Task Scheduler and cmd expand `%NAME%`, and schtasks refuses a `/TR`
//! longer than [`TR_MAX`] characters.

use std::path::{Path, PathBuf};

use super::{
    ACTION_TIMEOUT, Activation, Change, InstallReport, Manager, QUERY_TIMEOUT, ServiceError, ServiceSettings,
    StatusReport, UninstallReport, binary, run, run_ok,
};

/// The task name (`/TN`).
pub const TASK_NAME: &str = "codexport-master";
/// The longest `/TR` value schtasks accepts ("Value for '/tr' option cannot be more than 261
/// character(s)").
pub const TR_MAX: usize = 261;
/// The program.
pub const SCHTASKS: &str = "schtasks";

/// The task's command line (the `/TR` value) for `exe` with `env` (name, path).
///
/// Errors: [`ServiceError::Unquotable`] for a value that is not Unicode or holds `"`, `%` or a
/// control character, or a bad variable name; [`ServiceError::TooLong`] over [`TR_MAX`].
pub fn task_command(exe: &Path, env: &[(String, PathBuf)]) -> Result<String, ServiceError> {
    let exe = checked("executable", exe)?;
    let run = format!("\"{exe}\" master serve");
    let command = if env.is_empty() {
        run
    } else {
        let mut sets = String::new();
        for (name, value) in env {
            let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(ServiceError::Unquotable {
                    what: "variable name".into(),
                    value: name.clone(),
                    reason: "not a valid environment variable name",
                });
            }
            sets.push_str(&format!("set \"{name}={}\"&& ", checked(name, value)?));
        }
        format!("cmd.exe /d /s /c \"{sets}{run}\"")
    };
    let len = command.chars().count();
    if len > TR_MAX {
        return Err(ServiceError::TooLong { len, command });
    }
    Ok(command)
}

/// A path as text fit for the task command line.
fn checked<'a>(what: &str, path: &'a Path) -> Result<&'a str, ServiceError> {
    let refuse = |reason| ServiceError::Unquotable {
        what: what.to_string(),
        value: path.display().to_string(),
        reason,
    };
    let text = path.to_str().ok_or_else(|| refuse("it is not valid Unicode"))?;
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(refuse("quotes and control characters cannot be quoted for cmd.exe"));
    }
    if text.contains('%') {
        return Err(refuse(
            "Task Scheduler and cmd.exe expand %NAME%, so `%` cannot be carried",
        ));
    }
    Ok(text)
}

/// Arguments of `schtasks` (without the program name) that create or replace the logon task:
/// `/Create /SC ONLOGON /TN codexport-master /TR "<exe>" master serve /F`, the `/TR` value as
/// one argument ([`task_command`]).
///
/// Errors: as [`task_command`].
pub fn schtasks_create_args(exe: &Path, env: &[(String, PathBuf)]) -> Result<Vec<String>, ServiceError> {
    let command = task_command(exe, env)?;
    Ok(["/Create", "/SC", "ONLOGON", "/TN", TASK_NAME, "/TR", &command, "/F"]
        .map(String::from)
        .to_vec())
}

/// `schtasks` arguments that start the task now: `/Run /TN codexport-master`.
pub fn schtasks_run_args() -> Vec<String> {
    ["/Run", "/TN", TASK_NAME].map(String::from).to_vec()
}

/// `schtasks` arguments that stop the running task: `/End /TN codexport-master`.
pub fn schtasks_end_args() -> Vec<String> {
    ["/End", "/TN", TASK_NAME].map(String::from).to_vec()
}

/// `schtasks` arguments that delete the task without asking: `/Delete /TN codexport-master /F`.
pub fn schtasks_delete_args() -> Vec<String> {
    ["/Delete", "/TN", TASK_NAME, "/F"].map(String::from).to_vec()
}

/// `schtasks` arguments that describe the task as one verbose CSV row without a header:
/// `/Query /TN codexport-master /V /FO CSV /NH` (see [`parse_query_csv`]).
pub fn schtasks_query_args() -> Vec<String> {
    ["/Query", "/TN", TASK_NAME, "/V", "/FO", "CSV", "/NH"]
        .map(String::from)
        .to_vec()
}

/// The fields codexport reads from the verbose CSV row of `schtasks /Query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRow {
    /// Column 4, "Status": `Ready`, `Running`, `Disabled`... (in the system's language).
    pub status: String,
    /// Column 9, "Task To Run": the command line.
    pub task_to_run: String,
    /// Column 12, "Scheduled Task State": `Enabled` or `Disabled` (in the system's language).
    pub state: String,
}

/// Parse the first non-empty line of `schtasks /Query /V /FO CSV /NH` output. The columns are
/// positional (their headers are translated, their order is not): HostName, TaskName,
/// Next Run Time, Status, Logon Mode, Last Run Time, Last Result, Author, Task To Run, Start
/// In, Comment, Scheduled Task State, ... `None` when the line has fewer than 12 fields.
pub fn parse_query_csv(output: &str) -> Option<QueryRow> {
    let line = output.lines().find(|l| !l.trim().is_empty())?;
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    let get = |i: usize| fields.get(i).cloned();
    Some(QueryRow {
        status: get(3)?,
        task_to_run: get(8)?,
        state: get(11)?,
    })
}

fn query() -> Result<Option<QueryRow>, ServiceError> {
    let args = schtasks_query_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = run(SCHTASKS.as_ref(), &args, QUERY_TIMEOUT)?;
    Ok(if ran.success {
        parse_query_csv(&ran.stdout)
    } else {
        None
    })
}

fn schtasks(args: Vec<String>) -> Result<String, ServiceError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(SCHTASKS.as_ref(), &args, ACTION_TIMEOUT)
}

/// Copy the binary, create (or replace) the logon task pointing at the copy, and start it
/// now. A task whose command line or binary changed is ended first: Windows cannot replace
/// the file of a running program.
///
/// Errors: as [`schtasks_create_args`], the binary copy's errors, and
/// [`ServiceError::Command`] when schtasks fails (creating an ONLOGON task may need an
/// elevated prompt).
pub fn install(settings: &ServiceSettings) -> Result<InstallReport, ServiceError> {
    let command = task_command(&settings.service_exe, &settings.env)?;
    let change = match query()? {
        None => Change::Created,
        Some(row) if row.task_to_run == command => Change::Unchanged,
        Some(_) => Change::Updated,
    };
    let binary_change = binary::planned_change(&settings.exe, &settings.service_exe)?;
    if change == Change::Updated || (change == Change::Unchanged && binary_change != Change::Unchanged) {
        // Not running is fine: /End then fails and /Run starts the new command line.
        let _ = schtasks(schtasks_end_args());
    }
    let binary = binary::install_copy(&settings.exe, &settings.service_exe)?;
    let mut ran = Vec::new();
    if change != Change::Unchanged {
        ran.push(schtasks(schtasks_create_args(&settings.service_exe, &settings.env)?)?);
    }
    ran.push(schtasks(schtasks_run_args())?);
    Ok(InstallReport {
        manager: Manager::TaskScheduler,
        location: TASK_NAME.into(),
        change,
        command,
        binary,
        log: None,
        activation: Activation::Done { ran },
    })
}

/// End and delete the task; `removed: false` when there is none.
///
/// Errors: [`ServiceError::Command`] when `schtasks /Delete` fails.
pub fn uninstall(_settings: &ServiceSettings) -> Result<UninstallReport, ServiceError> {
    if query()?.is_none() {
        return Ok(UninstallReport {
            manager: Manager::TaskScheduler,
            location: TASK_NAME.into(),
            removed: false,
            activation: None,
        });
    }
    let mut ran = Vec::new();
    if let Ok(ended) = schtasks(schtasks_end_args()) {
        ran.push(ended);
    }
    ran.push(schtasks(schtasks_delete_args())?);
    Ok(UninstallReport {
        manager: Manager::TaskScheduler,
        location: TASK_NAME.into(),
        removed: true,
        activation: Some(Activation::Done { ran }),
    })
}

/// The task's command line, scheduled state and status, from `schtasks /Query`.
///
/// Errors: [`ServiceError::Command`] when schtasks cannot run.
pub fn status(_settings: &ServiceSettings) -> Result<StatusReport, ServiceError> {
    let row = query()?;
    Ok(StatusReport {
        manager: Manager::TaskScheduler,
        location: TASK_NAME.into(),
        installed: row.is_some(),
        command: row.as_ref().map(|r| r.task_to_run.clone()),
        enabled: row.as_ref().map_or("not-found".into(), |r| r.state.to_lowercase()),
        active: row.as_ref().map_or("inactive".into(), |r| r.status.to_lowercase()),
        pid: None,
        unreachable: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_spaces_gets_inner_quotes_and_env_goes_through_cmd() {
        let exe = Path::new(r"C:\Program Files\codexport\codexport.exe");
        assert_eq!(
            task_command(exe, &[]).unwrap(),
            r#""C:\Program Files\codexport\codexport.exe" master serve"#
        );
        let env = [("CODEX_HOME".to_string(), PathBuf::from(r"D:\my codex & co"))];
        assert_eq!(
            task_command(exe, &env).unwrap(),
            r#"cmd.exe /d /s /c "set "CODEX_HOME=D:\my codex & co"&& "C:\Program Files\codexport\codexport.exe" master serve""#
        );
    }

    #[test]
    fn percent_quotes_and_long_command_lines_are_refused() {
        let exe = Path::new(r"C:\tools\codexport.exe");
        for bad in [r"C:\100%\x.exe", r#"C:\a"b\x.exe"#, "C:\\new\nline\\x.exe"] {
            assert!(task_command(Path::new(bad), &[]).is_err(), "{bad:?}");
        }
        let env = [("BAD NAME".to_string(), PathBuf::from(r"C:\x"))];
        assert!(task_command(exe, &env).is_err());
        let long = PathBuf::from(format!(r"C:\{}", "d".repeat(250)));
        let err = task_command(exe, &[("CODEX_HOME".into(), long)]).unwrap_err();
        assert!(err.to_string().contains("over the 261 schtasks allows"), "{err}");
    }

    #[test]
    fn the_verbose_csv_row_is_read_by_position() {
        let out = "\r\n\"DESKTOP-1\",\"\\codexport-master\",\"N/A\",\"Running\",\"Interactive only\",\
                   \"11/21/2026 10:00:00 AM\",\"267009\",\"alice\",\
                   \"\"\"C:\\Program Files\\codexport\\codexport.exe\"\" master serve\",\"N/A\",\"N/A\",\
                   \"Enabled\",\"Disabled\"\r\n";
        let row = parse_query_csv(out).unwrap();
        assert_eq!(row.status, "Running");
        assert_eq!(
            row.task_to_run,
            r#""C:\Program Files\codexport\codexport.exe" master serve"#
        );
        assert_eq!(row.state, "Enabled");
        assert_eq!(parse_query_csv("\"a\",\"b\""), None);
        assert_eq!(parse_query_csv(""), None);
    }
}
