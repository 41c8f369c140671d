//! The macOS backend: a per-user launchd agent `~/Library/LaunchAgents/dev.codexport.master.plist`
//! managed with `launchctl` (the `bootstrap` / `bootout` / `print` / `kickstart` subcommands
//! of launchctl(1), macOS 10.10 and later).
//!
//! The agent (launchd.plist(5)) runs `<$CODEXPORT_HOME/bin/codexport> master serve` in the
//! `gui/<uid>` domain, so it starts when the user logs in; `RunAtLoad` starts it when it is
//! loaded; `KeepAlive = {SuccessfulExit = false}` restarts it when it exits non-zero or by a
//! signal (like systemd's `Restart=on-failure`: a clean exit is not respawned, and launchd
//! spaces restarts by its 10 s `ThrottleInterval`); `ProcessType = Interactive` keeps launchd
//! from throttling its CPU and I/O as it does `Background` jobs, because followers' session
//! hooks wait on this server with a budget of milliseconds. Its stdout and stderr go to
//! `$CODEXPORT_HOME/logs/master-service.log` (the directory 0700).
//!
//! The plist is written here as XML (Apple's PropertyList-1.0 DTD) with every string escaped
//! ([`xml_text`]); [`render_plist`], [`program_arguments`] and [`parse_print`] are pure and
//! tested on every platform (the tests also read the XML with Python's `plistlib`).
//! [`install`], [`uninstall`] and [`status`] take the `launchctl` program from the settings
//! ([`super::LAUNCHCTL_ENV`]), so tests run them against a stand-in.

use std::path::{Path, PathBuf};

use super::{
    ACTION_TIMEOUT, Activation, Change, InstallReport, Manager, QUERY_TIMEOUT, ServiceError, ServiceSettings,
    StatusReport, UninstallReport, binary, run, run_ok,
};

/// The job's label, and the plist's file stem: reverse-DNS as launchd.plist(5) asks, unique to
/// codexport, and the same `codexport`/`master` words as the other backends' names.
pub const LABEL: &str = "dev.codexport.master";
/// File name of the agent's log (stdout and stderr) under `$CODEXPORT_HOME/logs/`. Not of the
/// `codexport-YYYY-MM-DD.log` shape, so the daily log rotation leaves it alone.
pub const LOG_FILE: &str = "master-service.log";
/// What `status` reports for loaded/state when `launchctl` cannot be run.
pub const UNKNOWN: &str = "unknown (launchctl not reachable)";

/// The per-user agents directory: `<home>/Library/LaunchAgents`.
pub fn agents_dir(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
}

/// The plist's path: `<agents_dir>/dev.codexport.master.plist`.
pub fn plist_path(agents_dir: &Path) -> PathBuf {
    agents_dir.join(format!("{LABEL}.plist"))
}

/// The launchd domain of the user's login session: `gui/<uid>`.
pub fn domain(uid: u32) -> String {
    format!("gui/{uid}")
}

/// The service target of the agent: `gui/<uid>/dev.codexport.master`.
pub fn service_target(uid: u32) -> String {
    format!("gui/{uid}/{LABEL}")
}

/// `text` as XML character data: `&`, `<`, `>` as entities.
///
/// Errors (the reason): a character XML 1.0 cannot carry (controls other than tab and newline,
/// U+FFFE, U+FFFF), or a carriage return, which XML parsers turn into a newline.
pub fn xml_text(text: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' => out.push(c),
            '\r' => return Err("a carriage return does not survive XML"),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                return Err("XML cannot carry this control character");
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The agent's plist for `exe` (absolute), `env` (name, absolute path) as
/// `EnvironmentVariables`, and `log_file` as `StandardOutPath` and `StandardErrorPath`.
///
/// Errors: [`ServiceError::Unquotable`] for a path that is not UTF-8, a relative executable,
/// a bad variable name, or a character [`xml_text`] refuses.
pub fn render_plist(exe: &Path, env: &[(String, PathBuf)], log_file: &Path) -> Result<String, ServiceError> {
    let text = |what: &str, value: &Path| -> Result<String, ServiceError> {
        let unquotable = |reason| ServiceError::Unquotable {
            what: what.to_string(),
            value: value.display().to_string(),
            reason,
        };
        let s = value.to_str().ok_or_else(|| unquotable("it is not UTF-8"))?;
        xml_text(s).map_err(unquotable)
    };
    if !exe.is_absolute() {
        return Err(ServiceError::Unquotable {
            what: "executable".into(),
            value: exe.display().to_string(),
            reason: "launchd needs an absolute path",
        });
    }
    let exe = text("executable", exe)?;
    let log = text("log file", log_file)?;
    let mut environment = String::new();
    if !env.is_empty() {
        environment.push_str("\t<key>EnvironmentVariables</key>\n\t<dict>\n");
        for (name, value) in env {
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ServiceError::Unquotable {
                    what: "variable name".into(),
                    value: name.clone(),
                    reason: "not a valid environment variable name",
                });
            }
            let value = text(name, value)?;
            environment.push_str(&format!("\t\t<key>{name}</key>\n\t\t<string>{value}</string>\n"));
        }
        environment.push_str("\t</dict>\n");
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Written by `codexport master service install`, which rewrites it; removed by\n     \
         `codexport master service uninstall`. -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\t<string>{LABEL}</string>\n\
         \t<key>ProgramArguments</key>\n\t<array>\n\
         \t\t<string>{exe}</string>\n\t\t<string>master</string>\n\t\t<string>serve</string>\n\
         \t</array>\n\
         {environment}\
         \t<key>RunAtLoad</key>\n\t<true/>\n\
         \t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
         \t<key>ProcessType</key>\n\t<string>Interactive</string>\n\
         \t<key>StandardOutPath</key>\n\t<string>{log}</string>\n\
         \t<key>StandardErrorPath</key>\n\t<string>{log}</string>\n\
         </dict>\n\
         </plist>\n"
    ))
}

/// The strings of the `ProgramArguments` array of a plist as [`render_plist`] writes it
/// (entities decoded); `None` when there is no such array in that shape.
pub fn program_arguments(plist: &str) -> Option<Vec<String>> {
    let (_, rest) = plist.split_once("<key>ProgramArguments</key>")?;
    let rest = rest.trim_start().strip_prefix("<array>")?;
    let (array, _) = rest.split_once("</array>")?;
    let mut args = Vec::new();
    let mut rest = array.trim();
    while !rest.is_empty() {
        let (value, after) = rest.strip_prefix("<string>")?.split_once("</string>")?;
        args.push(xml_unescape(value)?);
        rest = after.trim_start();
    }
    Some(args)
}

/// Decode the five XML entities and numeric character references; `None` on any other `&`.
fn xml_unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (entity, after) = rest[i + 1..].split_once(';')?;
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e => match e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                Some(hex) => char::from_u32(u32::from_str_radix(hex, 16).ok()?)?,
                None => char::from_u32(e.strip_prefix('#')?.parse().ok()?)?,
            },
        };
        out.push(c);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

/// `ProgramArguments` as one line for reports: `"<exe>" arg arg`.
pub fn command_text(args: &[String]) -> String {
    match args.split_first() {
        Some((exe, [])) => format!("\"{exe}\""),
        Some((exe, rest)) => format!("\"{exe}\" {}", rest.join(" ")),
        None => String::new(),
    }
}

/// What codexport reads from `launchctl print gui/<uid>/<label>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintInfo {
    /// `state = ...`: `running`, `not running`, `spawn scheduled`, ...
    pub state: Option<String>,
    /// `pid = ...`, while it runs.
    pub pid: Option<u32>,
    /// `last exit code = ...`: a number or `(never exited)`.
    pub last_exit_code: Option<String>,
}

/// Parse the top level of `launchctl print <service-target>` output: `key = value` lines one
/// brace deep (nested blocks such as `arguments = { ... }` and `environment = { ... }` are
/// skipped). The format is launchctl's human-readable one, which Apple does not promise to
/// keep; unknown lines are ignored.
pub fn parse_print(output: &str) -> PrintInfo {
    let mut info = PrintInfo::default();
    let mut depth = 0usize;
    for line in output.lines() {
        let line = line.trim();
        if line == "}" {
            depth = depth.saturating_sub(1);
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if value == "{" {
            depth += 1;
            continue;
        }
        if depth != 1 {
            continue;
        }
        match key {
            "state" => info.state = Some(value.to_string()),
            "pid" => info.pid = value.parse().ok(),
            "last exit code" => info.last_exit_code = Some(value.to_string()),
            _ => {}
        }
    }
    info
}

/// A path as shell text for a printed command: as it is when plain, else in single quotes.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@:".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The commands an operator runs after install when `launchctl` could not be run: `bootout`
/// first when an older plist may be loaded, then `bootstrap`.
pub fn manual_install_commands(uid: u32, plist: &Path, change: Change) -> Vec<String> {
    let mut commands = Vec::new();
    if change == Change::Updated {
        commands.push(format!("launchctl bootout {}", service_target(uid)));
    }
    commands.push(format!("launchctl bootstrap {} {}", domain(uid), shell_word(plist)));
    commands
}

/// Copy the binary, write (or rewrite) the plist, and load it: when it is not loaded,
/// `bootstrap`; when it is loaded and the plist changed, `bootout` then `bootstrap`; when only
/// the binary changed, `kickstart -k` (restart). When `launchctl` cannot be run the plist is
/// still written and the commands are reported.
///
/// Errors: [`ServiceError::Unquotable`], [`ServiceError::Io`] naming the file, the binary copy's
/// errors, [`ServiceError::Command`] when a launchctl action fails (the plist is written).
pub fn install(settings: &ServiceSettings) -> Result<InstallReport, ServiceError> {
    let log_file = settings.log_dir.join(LOG_FILE);
    let text = render_plist(&settings.service_exe, &settings.env, &log_file)?;
    let path = plist_path(&settings.launch_agents_dir);
    let change = match fs_err::read(&path) {
        Ok(old) if old == text.as_bytes() => Change::Unchanged,
        Ok(_) => Change::Updated,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Change::Created,
        Err(e) => return Err(e.into()),
    };
    let binary = binary::install_copy(&settings.exe, &settings.service_exe)?;
    crate::fs::create_private_dir(&settings.log_dir)?;
    if change != Change::Unchanged {
        fs_err::create_dir_all(&settings.launch_agents_dir)?;
        crate::fs::write_atomic(&path, text.as_bytes(), 0o644)?;
    }
    let lc = settings.launchctl.as_os_str();
    let target = service_target(settings.uid);
    let path_text = path.display().to_string();
    let activation = match run(lc, &["print", &target], QUERY_TIMEOUT) {
        Err(e) => Activation::Manual {
            reason: e.to_string(),
            commands: manual_install_commands(settings.uid, &path, change),
        },
        Ok(print) => {
            let loaded = print.success;
            let mut ran = Vec::new();
            if loaded && change != Change::Unchanged {
                ran.push(run_ok(lc, &["bootout", &target], ACTION_TIMEOUT)?);
            }
            if !loaded || change != Change::Unchanged {
                ran.push(run_ok(
                    lc,
                    &["bootstrap", &domain(settings.uid), &path_text],
                    ACTION_TIMEOUT,
                )?);
            } else if binary.change != Change::Unchanged {
                ran.push(run_ok(lc, &["kickstart", "-k", &target], ACTION_TIMEOUT)?);
            }
            Activation::Done { ran }
        }
    };
    Ok(InstallReport {
        manager: Manager::Launchd,
        location: path_text,
        change,
        command: program_arguments(&text).map(|a| command_text(&a)).unwrap_or_default(),
        binary,
        log: Some(log_file.display().to_string()),
        activation,
    })
}

/// Unload the agent when it is loaded (`bootout`), then remove the plist. Nothing installed:
/// `removed: false`, nothing done. When `launchctl` cannot be run the plist is removed and the
/// `bootout` command reported. The binary's copy stays (a follower's hook may use it).
///
/// Errors: [`ServiceError::Io`] naming the file, [`ServiceError::Command`] (nothing is removed
/// when `bootout` fails).
pub fn uninstall(settings: &ServiceSettings) -> Result<UninstallReport, ServiceError> {
    let path = plist_path(&settings.launch_agents_dir);
    let location = path.display().to_string();
    if fs_err::symlink_metadata(&path).is_err() {
        return Ok(UninstallReport {
            manager: Manager::Launchd,
            location,
            removed: false,
            activation: None,
        });
    }
    let lc = settings.launchctl.as_os_str();
    let target = service_target(settings.uid);
    let activation = match run(lc, &["print", &target], QUERY_TIMEOUT) {
        Err(e) => Activation::Manual {
            reason: e.to_string(),
            commands: vec![format!("launchctl bootout {target}")],
        },
        Ok(print) => {
            let mut ran = Vec::new();
            if print.success {
                ran.push(run_ok(lc, &["bootout", &target], ACTION_TIMEOUT)?);
            }
            Activation::Done { ran }
        }
    };
    fs_err::remove_file(&path)?;
    Ok(UninstallReport {
        manager: Manager::Launchd,
        location,
        removed: true,
        activation: Some(activation),
    })
}

/// Installed or not, the plist's `ProgramArguments`, and from `launchctl print`: `loaded` or
/// `not loaded`, the state and the pid ([`UNKNOWN`] when launchctl cannot be run).
///
/// Errors: [`ServiceError::Io`] when the plist exists but cannot be read.
pub fn status(settings: &ServiceSettings) -> Result<StatusReport, ServiceError> {
    let path = plist_path(&settings.launch_agents_dir);
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let target = service_target(settings.uid);
    let (enabled, active, pid, unreachable) = match run(&settings.launchctl, &["print", &target], QUERY_TIMEOUT) {
        Err(e) => (UNKNOWN.to_string(), UNKNOWN.to_string(), None, Some(e.to_string())),
        Ok(ran) if ran.success => {
            let info = parse_print(&ran.stdout);
            let state = info.state.unwrap_or_else(|| "unknown".into());
            let active = match info.last_exit_code {
                Some(code) if state != "running" && code != "(never exited)" => {
                    format!("{state} (last exit code {code})")
                }
                _ => state,
            };
            ("loaded".to_string(), active, info.pid, None)
        }
        Ok(_) => ("not loaded".to_string(), "not running".to_string(), None, None),
    };
    Ok(StatusReport {
        manager: Manager::Launchd,
        location: path.display().to_string(),
        installed: text.is_some(),
        command: text.as_deref().and_then(program_arguments).map(|a| command_text(&a)),
        enabled,
        active,
        pid,
        unreachable,
    })
}

#[cfg(test)]
#[path = "launchd_tests.rs"]
mod tests;
