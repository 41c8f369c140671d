//! codexport's own SessionStart hook: whether it is installed (`$CODEXPORT_HOME/hook.json`),
//! the command line Codex runs, and how it is added to a hooks.json document.
//!
//! Codex skips an untrusted hook silently (CODEX-FACTS.md "Hooks"), so the hook always travels
//! with its `[hooks.state."<abs hooks.json>:session_start:<g>:0"] trusted_hash` entry; both are
//! added by every render while the hook is installed (see `reconcile::render_hook`). The group
//! is appended *after* every other SessionStart group, so the indices (and trust keys) of the
//! master's and the user's hooks never move.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The hook's state file inside CODEXPORT_HOME.
pub const FILE_NAME: &str = "hook.json";
/// The SessionStart matcher: a new session or a resumed one (not `clear`/`compact`).
pub const MATCHER: &str = "startup|resume";
/// Default total budget of `reconcile --hook`, in milliseconds.
pub const DEFAULT_BUDGET_MS: u64 = 3000;
/// The subcommand and flag every codexport hook command contains (how an older entry is found).
pub const MARKER: &str = "reconcile --hook";

/// `$CODEXPORT_HOME/hook.json`: the hook is installed, with this budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookSettings {
    /// Total budget of one `reconcile --hook` run (connect + fetch + apply), in milliseconds.
    pub budget_ms: u64,
}

impl HookSettings {
    /// The installed hook, or `None` when it is not installed (or the file is unreadable: the
    /// hook is then treated as not installed, and `hook status` says why).
    pub fn load(codexport_home: &Path) -> Result<Option<Self>, String> {
        let path = codexport_home.join(FILE_NAME);
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Path of the state file.
    pub fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(FILE_NAME)
    }

    /// Codex's `timeout` for the handler, in seconds: the budget rounded up, plus 2 s, so that
    /// Codex never kills a run that is giving up cleanly on its own.
    pub fn timeout_secs(&self) -> u64 {
        self.budget_ms.div_ceil(1000) + 2
    }
}

/// Which shell runs the command string (Codex runs a hook's `command` through the platform
/// shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `sh -c` (Linux, macOS).
    Posix,
    /// `cmd.exe /C` (Windows).
    Cmd,
    /// PowerShell (Windows, when Codex is configured for it).
    PowerShell,
}

impl Shell {
    /// The shell of this platform.
    pub const fn native() -> Self {
        if cfg!(windows) { Shell::Cmd } else { Shell::Posix }
    }
}

/// The hook command: run `launcher reconcile --hook --timeout-ms N` with `CODEXPORT_HOME` set,
/// quoted for `shell`. Pure; every path is quoted, whatever it contains.
///
/// - POSIX: `CODEXPORT_HOME='/h/.codexport' '/h/.codexport/bin/codexport' reconcile --hook ...`
///   (single quotes; a `'` is written `'\''`).
/// - cmd.exe: `set "CODEXPORT_HOME=C:\h" && "C:\h\bin\codexport.exe" reconcile --hook ...`
///   (double quotes; `"` cannot occur in a Windows path; `%` as in [`windows_quote`]).
/// - PowerShell: `$env:CODEXPORT_HOME='C:\h'; & 'C:\h\bin\codexport.exe' reconcile --hook ...`
///   (single quotes; a `'` is written `''`).
pub fn command(launcher: &Path, codexport_home: &Path, budget_ms: u64, shell: Shell) -> String {
    let exe = launcher.display().to_string();
    let home = codexport_home.display().to_string();
    let tail = format!("{MARKER} --timeout-ms {budget_ms}");
    match shell {
        Shell::Posix => format!("CODEXPORT_HOME={} {} {tail}", posix_quote(&home), posix_quote(&exe)),
        Shell::Cmd => format!(
            "set \"CODEXPORT_HOME={}\" && \"{}\" {tail}",
            windows_quote(&home),
            windows_quote(&exe)
        ),
        Shell::PowerShell => format!(
            "$env:CODEXPORT_HOME={}; & {} {tail}",
            powershell_quote(&home),
            powershell_quote(&exe)
        ),
    }
}

/// `'...'` for `sh`, with `'` written as `'\''`.
pub fn posix_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Text for inside `"..."` on cmd.exe. cmd expands `%VAR%` even inside quotes and has no escape
/// there, so each `%` is written `"^%"`: close the quote, a caret-escaped literal `%`, reopen.
pub fn windows_quote(s: &str) -> String {
    s.replace('%', "\"^%\"")
}

/// `'...'` for PowerShell, with `'` written as `''`.
pub fn powershell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// True when a hooks.json handler is a codexport hook (this or an older installation).
pub fn is_codexport_handler(handler: &Value) -> bool {
    handler
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("codexport") && c.contains(MARKER))
}

/// `hooks_json` without any codexport handler; SessionStart groups left empty by that are
/// removed (they are always the last ones, so no other index moves).
pub fn without_codexport_hook(mut hooks_json: Value) -> Value {
    let Some(events) = hooks_json.get_mut("hooks").and_then(Value::as_object_mut) else {
        return hooks_json;
    };
    let Some(groups) = events.get_mut("SessionStart").and_then(Value::as_array_mut) else {
        return hooks_json;
    };
    let before = groups.len();
    for group in groups.iter_mut() {
        if let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) {
            handlers.retain(|h| !is_codexport_handler(h));
        }
    }
    groups.retain(|g| g.get("hooks").and_then(Value::as_array).is_none_or(|h| !h.is_empty()));
    if groups.is_empty() && before > 0 {
        events.shift_remove("SessionStart");
    }
    hooks_json
}

/// `hooks_json` (any older codexport handler removed) with the codexport SessionStart group
/// appended; returns the document and the index of that group.
pub fn with_codexport_hook(hooks_json: Value, command: &str, timeout_secs: u64) -> (Value, usize) {
    let mut doc = without_codexport_hook(hooks_json);
    if !doc.is_object() {
        doc = json!({});
    }
    let root = doc.as_object_mut().map(|o| {
        o.entry("hooks")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .map(|h| h.entry("SessionStart").or_insert_with(|| json!([])))
    });
    let mut index = 0;
    if let Some(Some(groups)) = root {
        if !groups.is_array() {
            *groups = json!([]);
        }
        if let Some(array) = groups.as_array_mut() {
            index = array.len();
            array.push(handler_group(command, timeout_secs));
        }
    }
    (doc, index)
}

/// The SessionStart group of the codexport hook.
pub fn handler_group(command: &str, timeout_secs: u64) -> Value {
    json!({
        "matcher": MATCHER,
        "hooks": [{"type": "command", "command": command, "timeout": timeout_secs}],
    })
}

#[cfg(test)]
#[path = "hook_tests.rs"]
mod tests;
