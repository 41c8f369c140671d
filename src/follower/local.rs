//! `$CODEXPORT_HOME/local.toml`: the follower's own settings, written by the operator.
//!
//! Unknown keys are an error naming the key and the file: a typo must not pass silently.
//! The JSON Schema `schemas/local.v1.schema.json` is generated from [`LocalSettings`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exit::{Exit, ExitStatus};

/// File name inside CODEXPORT_HOME.
pub const FILE_NAME: &str = "local.toml";
/// Generations kept when `keepGenerations` is not set.
pub const DEFAULT_KEEP_GENERATIONS: usize = 10;

/// What to do with a managed file edited locally since codexport wrote it (three-way drift).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnDrift {
    /// Back up the local version into the new generation, then write the master's.
    #[default]
    Overwrite,
    /// Leave the local version and report it.
    Keep,
    /// Stop before any write (exit 3).
    Fail,
}

impl OnDrift {
    /// The name as written in local.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDrift::Overwrite => "overwrite",
            OnDrift::Keep => "keep",
            OnDrift::Fail => "fail",
        }
    }
}

/// When MCP artifacts (npm/uv/cargo packages, source projects) are installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum McpInstall {
    /// As graph steps of every reconcile (needs npm/uv/cargo and the registries).
    #[default]
    Auto,
    /// Only by `codexport mcp install` (for metered or offline machines); plans show what is missing.
    Manual,
}

/// Environment variable that overrides `mcpInstall` (`auto` or `manual`).
pub const MCP_INSTALL_ENV: &str = "CODEXPORT_MCP_INSTALL";

/// The follower's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "codexport follower settings (local.toml, v1)")]
pub struct LocalSettings {
    /// Drift policy: `overwrite` (default), `keep` or `fail`.
    #[serde(default)]
    pub on_drift: OnDrift,
    /// How many generations (and their backups) to keep; older ones are pruned. Default 10.
    #[serde(default = "default_keep")]
    pub keep_generations: usize,
    /// `auto` (default): MCP artifacts are installed by reconcile; `manual`: only by
    /// `codexport mcp install`. The environment variable `CODEXPORT_MCP_INSTALL` overrides it.
    #[serde(default)]
    pub mcp_install: McpInstall,
    /// Names of master MCP servers that `mcps.local.toml` may replace on this follower
    /// (otherwise a local server with a master server's name is an error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_mcp_overrides: Vec<String>,
    /// Names of master skills that `skills/<name>/` may replace on this follower.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_skill_overrides: Vec<String>,
    /// Values of the `${name}` variables the master's config uses (besides the built-in
    /// `home` and `codexHome`), e.g. `workspaceRoot = "/srv/work"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub path_variables: BTreeMap<String, String>,
    /// Paths (relative to CODEX_HOME; a directory covers everything under it) or classes
    /// (`class:secret`, `class:skill`, ...) this follower does not take from the master.
    /// Excluded files are left as they are and no longer managed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// Variables every follower defines itself.
pub const BUILTIN_VARIABLES: &[&str] = &["home", "codexHome"];

fn default_keep() -> usize {
    DEFAULT_KEEP_GENERATIONS
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            on_drift: OnDrift::default(),
            keep_generations: DEFAULT_KEEP_GENERATIONS,
            mcp_install: McpInstall::default(),
            allow_mcp_overrides: Vec::new(),
            allow_skill_overrides: Vec::new(),
            path_variables: BTreeMap::new(),
            exclude: Vec::new(),
        }
    }
}

/// local.toml could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct LocalSettingsError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong (line, column, key).
    pub reason: String,
}

impl ExitStatus for LocalSettingsError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
    fn hint(&self) -> Option<String> {
        Some(
            "known keys: onDrift = \"overwrite\" | \"keep\" | \"fail\", keepGenerations = N, mcpInstall = \"auto\" | \"manual\", allowMcpOverrides = [names], allowSkillOverrides = [names], exclude = [\"path\" or \"class:NAME\"], [pathVariables] name = \"value\" (schema: schemas/local.v1.schema.json)"
                .into(),
        )
    }
}

impl LocalSettings {
    /// Load `codexport_home/local.toml` (defaults when absent), then apply
    /// `CODEXPORT_MCP_INSTALL` when it is set.
    pub fn load(codexport_home: &Path) -> Result<Self, LocalSettingsError> {
        let mut settings = Self::load_file(codexport_home)?;
        match std::env::var(MCP_INSTALL_ENV).as_deref() {
            Ok("auto") => settings.mcp_install = McpInstall::Auto,
            Ok("manual") => settings.mcp_install = McpInstall::Manual,
            Ok(other) => {
                return Err(LocalSettingsError {
                    path: PathBuf::from(MCP_INSTALL_ENV),
                    reason: format!("{other:?} is neither \"auto\" nor \"manual\""),
                });
            }
            Err(_) => {}
        }
        Ok(settings)
    }

    fn load_file(codexport_home: &Path) -> Result<Self, LocalSettingsError> {
        let path = codexport_home.join(FILE_NAME);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LocalSettings::default()),
            Err(e) => {
                return Err(LocalSettingsError {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let settings: LocalSettings = toml::from_str(&text).map_err(|e| LocalSettingsError {
            path: path.clone(),
            reason: crate::codex::config::toml_error_line(&text, &e),
        })?;
        if settings.keep_generations == 0 {
            return Err(LocalSettingsError {
                path,
                reason: "keepGenerations must be at least 1".into(),
            });
        }
        settings.check().map_err(|reason| LocalSettingsError { path, reason })?;
        Ok(settings)
    }
}

impl LocalSettings {
    /// Check what serde cannot: variable names, exclude entries.
    fn check(&self) -> Result<(), String> {
        for name in self.path_variables.keys() {
            check_variable_name(name)?;
        }
        for entry in &self.exclude {
            match entry.strip_prefix("class:") {
                Some(class) => {
                    if crate::model::FileClass::from_name(class).is_none() {
                        return Err(format!(
                            "exclude: unknown class {class:?} (classes: {})",
                            crate::model::FileClass::NAMES.join(", ")
                        ));
                    }
                }
                None => {
                    crate::model::relpath::validate(entry.trim_end_matches('/')).map_err(|e| format!("exclude: {e}"))?
                }
            }
        }
        Ok(())
    }

    /// True when `path` (relative to CODEX_HOME) of class `class` is excluded on this follower.
    pub fn excludes(&self, path: &str, class: crate::model::FileClass) -> bool {
        is_excluded(&self.exclude, path, class)
    }
}

/// Check a `[pathVariables]` name (local.toml or master.toml): letters, digits and `_`, not
/// starting with a digit, and not one of the built-in [`BUILTIN_VARIABLES`].
pub fn check_variable_name(name: &str) -> Result<(), String> {
    if BUILTIN_VARIABLES.contains(&name) {
        return Err(format!(
            "pathVariables.{name}: `${{{name}}}` is built in (each machine's own path) and cannot be redefined"
        ));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "pathVariables: {name:?} is not a variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

/// True when an `exclude` entry of local.toml covers `path` (relative to CODEX_HOME): the same
/// path, a directory above it, or `class:<its class>`.
pub fn is_excluded(rules: &[String], path: &str, class: crate::model::FileClass) -> bool {
    rules.iter().any(|e| match e.strip_prefix("class:") {
        Some(c) => c == class.as_str(),
        None => {
            let e = e.trim_end_matches('/');
            path == e || path.strip_prefix(e).is_some_and(|rest| rest.starts_with('/'))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_typos_and_values() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LocalSettings::load(dir.path()).unwrap(), LocalSettings::default());
        fs_err::write(dir.path().join(FILE_NAME), "onDrift = \"keep\"\nkeepGenerations = 3\n").unwrap();
        let s = LocalSettings::load(dir.path()).unwrap();
        assert_eq!((s.on_drift, s.keep_generations), (OnDrift::Keep, 3));
        fs_err::write(dir.path().join(FILE_NAME), "onDrfit = \"keep\"\n").unwrap();
        let err = LocalSettings::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("local.toml") && err.contains("onDrfit"), "{err}");
        fs_err::write(dir.path().join(FILE_NAME), "onDrift = \"maybe\"\n").unwrap();
        assert!(
            LocalSettings::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("maybe")
        );
    }
}
