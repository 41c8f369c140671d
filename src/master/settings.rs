//! `$CODEXPORT_HOME/master/master.toml`: port, bind address, include and exclude.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codex::layout::{DEFAULT_EXCLUDE, DEFAULT_INCLUDE};

/// Default TCP port of `master serve`.
pub const DEFAULT_PORT: u16 = 17342;
/// File name inside the master directory.
pub const FILE_NAME: &str = "master.toml";
/// `bind = "auto"`: the Tailscale IPv4 address when `tailscale ip -4` answers, else 127.0.0.1.
pub const AUTO_BIND: &str = "auto";

/// The master's settings. Unknown keys are an error (typos must not pass silently).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterSettings {
    /// TCP port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Address to bind: [`AUTO_BIND`] (the default: the Tailscale address when `tailscale ip -4`
    /// answers, else 127.0.0.1), or an explicit address such as 127.0.0.1.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// What to publish, relative to CODEX_HOME; `dir/` means everything below `dir`.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Glob patterns (relative to CODEX_HOME) never published; `dir/` means `dir/**`.
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
    /// Path variables: name -> absolute path on this master, e.g. `workspaceRoot =
    /// "/home/alice/work"`. Paths under it are published as `${workspaceRoot}` and every
    /// follower gives the variable its own value in `[pathVariables]` of its local.toml.
    #[serde(
        default,
        rename = "pathVariables",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub path_variables: std::collections::BTreeMap<String, String>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_bind() -> String {
    AUTO_BIND.into()
}
fn default_include() -> Vec<String> {
    DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect()
}
fn default_exclude() -> Vec<String> {
    DEFAULT_EXCLUDE.iter().map(|s| s.to_string()).collect()
}

impl Default for MasterSettings {
    fn default() -> Self {
        MasterSettings {
            port: DEFAULT_PORT,
            bind: default_bind(),
            include: default_include(),
            exclude: default_exclude(),
            path_variables: Default::default(),
        }
    }
}

/// Errors reading or writing master.toml.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file is not valid TOML or has an unknown key.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// master.toml.
        path: PathBuf,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// No master.toml: `master init` has not run on this machine.
    #[error("this machine is not a master yet ({} is missing)", .0.display())]
    NotInitialized(PathBuf),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for SettingsError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            SettingsError::Invalid { .. } | SettingsError::NotInitialized(_) => crate::exit::Exit::Usage,
            SettingsError::Io(_) => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            SettingsError::NotInitialized(_) => {
                Some("run `codexport master init` on the machine whose ~/.codex is canonical".into())
            }
            SettingsError::Invalid { .. } => {
                Some("fix the file, or delete it and run `codexport master init` to write the defaults".into())
            }
            SettingsError::Io(_) => None,
        }
    }
}

impl MasterSettings {
    /// Load `dir/master.toml`.
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        let path = dir.join(FILE_NAME);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SettingsError::NotInitialized(path)),
            Err(e) => return Err(e.into()),
        };
        let settings: MasterSettings = toml::from_str(&text).map_err(|e| SettingsError::Invalid {
            path: path.clone(),
            reason: crate::codex::config::toml_error_line(&text, &e),
        })?;
        settings
            .validate()
            .map_err(|reason| SettingsError::Invalid { path, reason })?;
        Ok(settings)
    }

    /// Check what the TOML parser cannot: every `include` entry is a relative, normalised path
    /// inside CODEX_HOME (no `..`, not absolute). Returns the reason naming the entry.
    pub fn validate(&self) -> Result<(), String> {
        for entry in &self.include {
            let rel = entry.strip_suffix('/').unwrap_or(entry);
            crate::model::relpath::validate(rel)
                .map_err(|e| format!("include entry {entry:?} must be a path inside CODEX_HOME: {e}"))?;
        }
        for (name, path) in &self.path_variables {
            crate::follower::local::check_variable_name(name)?;
            if crate::codex::portable::PathStyle::of(path).is_none() {
                return Err(format!(
                    "pathVariables.{name} = {path:?} is not an absolute path on this master"
                ));
            }
        }
        Ok(())
    }

    /// Write `dir/master.toml` with a commented header.
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let body = toml::to_string_pretty(self).map_err(|e| SettingsError::Invalid {
            path: dir.join(FILE_NAME),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# codexport master settings. `bind = \"auto\"`: the Tailscale address if `tailscale ip -4` answers, else 127.0.0.1.\n\
             # `include`: paths relative to CODEX_HOME (`dir/` = everything below).\n\
             # `exclude`: glob patterns never published. Runtime state (sessions, history, logs, *.sqlite) is never published.\n{body}"
        );
        crate::fs::write_atomic(&dir.join(FILE_NAME), text.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_entries_must_stay_inside_codex_home() {
        let dir = tempfile::tempdir().unwrap();
        for (bad, needle) in [
            ("../outside/", "not normalised"),
            ("/etc/", "is absolute"),
            ("skills/../../x", "not normalised"),
            ("C:/x", "is absolute"),
        ] {
            let text = format!("include = [\"AGENTS.md\", {bad:?}]\n");
            fs_err::write(dir.path().join(FILE_NAME), text).unwrap();
            let err = MasterSettings::load(dir.path()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("include entry {bad:?}")) && msg.contains(needle),
                "{msg}"
            );
            assert_eq!(crate::exit::ExitStatus::exit(&err), crate::exit::Exit::Usage);
        }
        fs_err::write(dir.path().join(FILE_NAME), "include = [\"skills/\", \"AGENTS.md\"]\n").unwrap();
        let ok = MasterSettings::load(dir.path()).unwrap();
        assert_eq!(ok.bind, AUTO_BIND);
    }
}
