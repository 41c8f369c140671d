//! The configuration / secret / runtime classification of `~/.codex` paths.
//!
//! Source: CODEX-FACTS.md "What in ~/.codex is configuration, what is runtime state" (checked
//! against a fresh CODEX_HOME after one `codex exec` with Codex CLI 0.169.0), and what Codex
//! 0.171.0 adds: its bundled skills in `skills/.system/`, the app-server daemon's `packages/`,
//! `app-server-control/`, `app-server-daemon/`, the TUI's `tui-thread-reference-capabilities/`
//! and lock files. `tests/codex_runtime.rs` runs a real `codex exec` (oldest supported and
//! newest) in a temp CODEX_HOME and fails on anything it creates that this list does not know.

use crate::model::FileClass;

/// What a master publishes unless `master.toml` says otherwise. An entry ending in `/` is a
/// directory (everything below it); any other entry is one file.
pub const DEFAULT_INCLUDE: &[&str] = &[
    "config.toml",
    "hooks.json",
    "AGENTS.md",
    "AGENTS.override.md",
    "RTK.md",
    "mise.toml",
    "auth.json",
    ".credentials.json",
    "prompts/",
    "rules/",
    "skills/",
    "skill-libraries/",
    "hooks/",
    "agents/",
    "themes/",
];

/// Glob patterns excluded by default inside included directories: version-control and
/// package-manager directories that are rebuilt where they are needed.
pub const DEFAULT_EXCLUDE: &[&str] = &["**/.git/**", "**/node_modules/**", "**/__pycache__/**", "**/.DS_Store"];

/// Top-level names Codex creates at run time, for itself and this machine. Never published,
/// never managed, never removed, whatever `include` or a document says; the publish hint never
/// offers them.
pub const RUNTIME_TOP_LEVEL: &[&str] = &[
    "sessions",
    "archived_sessions",
    "session_index.jsonl",
    "history.jsonl",
    "log",
    "memories",
    "shell_snapshots",
    "thread-writer-locks",
    "tmp",
    ".tmp",
    "cache",
    "worktrees",
    "computer-use",
    "version.json",
    "models_cache.json",
    "internal_storage.json",
    "installation_id",
    ".codex-global-state.json",
    ".sandbox_migration",
    ".personality_migration",
    "cap_sid",
    // Codex 0.171: the app-server daemon (a copy of the Codex binary, pid files, sockets).
    "packages",
    "app-server-control",
    "app-server-daemon",
    "ambient-suggestions",
    "tui-thread-reference-capabilities",
    "rollout-migrations",
    "attachments",
    "generated_images",
    "auth.lock",
    "auth.json.lock",
    ".sqlite-maintenance.lock",
];

/// Directories below the top level that Codex writes for itself: its bundled skills (rewritten
/// at every start by the running Codex version, with a `.codex-system-skills.marker`) and the
/// plugin cache.
pub const RUNTIME_NESTED: &[&str] = &["skills/.system", "plugins/cache"];

/// The Codex config file name.
pub const CONFIG_TOML: &str = "config.toml";
/// The Codex hooks file name.
pub const HOOKS_JSON: &str = "hooks.json";

/// True when `rel` (relative to CODEX_HOME, `/`-separated) is Codex runtime state: a
/// [`RUNTIME_TOP_LEVEL`] name or anything below it, a [`RUNTIME_NESTED`] directory or anything
/// below it, or any SQLite database file with its `-wal`/`-shm`/`-journal` companions at any
/// depth (copying a live SQLite file corrupts it).
pub fn is_runtime_state(rel: &str) -> bool {
    let top = rel.split('/').next().unwrap_or(rel);
    if RUNTIME_TOP_LEVEL.contains(&top) {
        return true;
    }
    let nested = |dir: &&str| {
        rel.strip_prefix(*dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if RUNTIME_NESTED.iter().any(nested) {
        return true;
    }
    let name = rel.rsplit('/').next().unwrap_or(rel);
    // Without allocating: the scan calls this for every file of the tree.
    let base = ["-wal", "-shm", "-journal"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    [".sqlite", ".sqlite3", ".db"].iter().any(|ext| base.ends_with(ext))
}

/// Top-level names of the Codex credential files.
pub const SECRET_TOP_LEVEL: &[&str] = &["auth.json", ".credentials.json"];

/// True when `rel` (relative to CODEX_HOME, `/`-separated) is a credential file or below one,
/// its first component compared ignoring ASCII case (`Auth.json` is `auth.json` on macOS and
/// Windows). A follower decides secrecy with this, from the path, never from the class a
/// document declares: secrets are written 0600 and never diffed.
pub fn is_secret(rel: &str) -> bool {
    let top = rel.split('/').next().unwrap_or(rel);
    SECRET_TOP_LEVEL.iter().any(|s| s.eq_ignore_ascii_case(top))
}

/// The class of a replicated path ([`FileClass::Secret`] exactly when [`is_secret`]).
pub fn classify(rel: &str) -> FileClass {
    if is_secret(rel) {
        return FileClass::Secret;
    }
    let top = rel.split('/').next().unwrap_or(rel);
    match top {
        "config.toml" | "hooks.json" | "agents" | "themes" => FileClass::Config,
        "AGENTS.md" | "AGENTS.override.md" | "RTK.md" => FileClass::Instructions,
        "skills" | "skill-libraries" => FileClass::Skill,
        "rules" => FileClass::Rule,
        "prompts" => FileClass::Prompt,
        "hooks" => FileClass::HookScript,
        _ => FileClass::Tooling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_state_is_recognised_at_any_depth_for_sqlite() {
        for p in [
            "sessions/2026/x.jsonl",
            "history.jsonl",
            "log/codex-tui.log",
            "state_5.sqlite",
            "state_5.sqlite-wal",
            "logs_2.sqlite-shm",
            "skills/x/cache.sqlite",
            "skills/x/cache.sqlite3-wal",
            "a/b.db-journal",
            "plugins/cache/a",
            "plugins/cache",
            "version.json",
            "skills/.system",
            "skills/.system/.codex-system-skills.marker",
            "skills/.system/imagegen/SKILL.md",
            "packages/standalone/codex",
            "app-server-daemon/app-server.pid",
            "auth.json.lock",
        ] {
            assert!(is_runtime_state(p), "{p}");
        }
        for p in [
            "config.toml",
            "skills/sessions/SKILL.md",
            "plugins/x.toml",
            "rules/default.rules",
            "logbook.md",
            "skills/x/notes-wal",
            "skills/x/db-shm.md",
            "skills/x/x.db.md",
            "skills/.systemic/SKILL.md",
            "skills/x/.system/SKILL.md",
            "plugins/cached.toml",
        ] {
            assert!(!is_runtime_state(p), "{p}");
        }
    }

    #[test]
    fn classes_follow_the_top_level_name() {
        assert_eq!(classify("auth.json"), FileClass::Secret);
        assert_eq!(classify(".credentials.json"), FileClass::Secret);
        assert_eq!(classify("Auth.JSON"), FileClass::Secret, "the same file on macOS");
        assert_eq!(classify("auth.json.bak"), FileClass::Tooling);
        assert_eq!(classify("skills/a/scripts/x.sh"), FileClass::Skill);
        assert_eq!(classify("hooks/notify.sh"), FileClass::HookScript);
        assert_eq!(classify("AGENTS.md"), FileClass::Instructions);
        assert_eq!(classify("mise.toml"), FileClass::Tooling);
        assert_eq!(classify("agents/reviewer.toml"), FileClass::Config);
    }
}
