//! Codex hook trust hashes (CODEX-FACTS.md "Hooks", "Trust").
//!
//! Codex runs a non-managed hook only when config.toml has
//! `[hooks.state."<abs path of hooks.json>:<event_snake>:<group>:<handler>"] trusted_hash =
//! "sha256:<hex>"` matching it; the path starts with CODEX_HOME as Codex names it
//! ([`codex_home_in_keys`]: canonical when `CODEX_HOME` is set). The hash is sha256 over the compact, key-sorted JSON of
//! `{"event_name", "matcher" (omitted when absent), "hooks": [handler]}` where the handler
//! always carries `type`, `command`, `timeout` and `async`, plus `statusMessage` only when
//! set, each **as Codex normalises it before hashing** ([`trust_hash`]): the matcher is dropped
//! for events that ignore it, the timeout defaults, floors and caps per event, and on Windows
//! `commandWindows` replaces `command` (`async` is hashed as written, even for `SessionEnd`,
//! which Codex runs synchronously). Algorithm as in
//! codex-rs/hooks discovery; the 8 vectors of `corpus/other/trust_hash_vectors.json` and
//! `tests/trust_hash_codex.rs` (every event and edge shape against the `currentHash` the real
//! Codex 0.169.0 and 0.171.0 report through the app server's `hooks/list`) are the tests.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::model::canonical::canonical_sha256;

/// Codex's default handler timeout in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// `SessionStart` -> `session_start`, `PreToolUse` -> `pre_tool_use`.
pub fn event_snake_case(event: &str) -> String {
    let mut out = String::with_capacity(event.len() + 4);
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Events whose matcher Codex ignores, and drops before hashing (measured: `hooks/list`
/// reports `matcher: null` for them, Codex 0.169.0 and 0.171.0).
pub const EVENTS_WITHOUT_MATCHER: &[&str] = &["UserPromptSubmit", "Stop", "Interrupt"];

/// Events Codex gives a short budget: default 1 s, at most [`SHORT_EVENT_MAX_SECS`] (Codex
/// warns "clamping SessionEnd hook timeout to 3s").
pub const SHORT_EVENTS: &[&str] = &["SessionEnd", "Interrupt"];

/// The longest timeout Codex allows a [`SHORT_EVENTS`] handler, in seconds.
pub const SHORT_EVENT_MAX_SECS: u64 = 3;

/// The timeout Codex runs (and hashes) a handler of `event` with, in seconds: `raw` or the
/// event's default, at least 1, capped for [`SHORT_EVENTS`]. A `timeout` that is not a
/// non-negative integer is hashed as written (Codex refuses the file).
pub fn effective_timeout(event: &str, raw: Option<&Value>) -> Value {
    let short = SHORT_EVENTS.contains(&event);
    let default = if short { 1 } else { DEFAULT_TIMEOUT_SECS };
    let secs = match raw {
        None | Some(Value::Null) => default,
        Some(v) => match v.as_u64() {
            Some(n) => n,
            None => return v.clone(),
        },
    };
    let secs = secs.max(1);
    json!(if short { secs.min(SHORT_EVENT_MAX_SECS) } else { secs })
}

/// The trust hash (`sha256:<hex>`) of one handler of a matcher group of `event` (PascalCase,
/// as in hooks.json). `handler` is the handler object as written; it is normalised as Codex
/// does before hashing (see the module doc).
pub fn trust_hash(event: &str, matcher: Option<&str>, handler: &Map<String, Value>) -> String {
    let mut normalized = Map::new();
    normalized.insert(
        "type".into(),
        handler.get("type").cloned().unwrap_or_else(|| json!("command")),
    );
    let command = handler
        .get("commandWindows")
        .filter(|c| cfg!(windows) && !c.is_null())
        .or_else(|| handler.get("command"));
    normalized.insert("command".into(), command.cloned().unwrap_or(Value::Null));
    normalized.insert("timeout".into(), effective_timeout(event, handler.get("timeout")));
    // As written, even for SessionEnd, which Codex runs synchronously anyway (measured).
    normalized.insert("async".into(), handler.get("async").cloned().unwrap_or(json!(false)));
    if let Some(message) = handler.get("statusMessage").filter(|m| !m.is_null()) {
        normalized.insert("statusMessage".into(), message.clone());
    }
    let mut identity = Map::new();
    identity.insert("event_name".into(), json!(event_snake_case(event)));
    if let Some(m) = matcher.filter(|_| !EVENTS_WITHOUT_MATCHER.contains(&event)) {
        identity.insert("matcher".into(), json!(m));
    }
    identity.insert("hooks".into(), Value::Array(vec![Value::Object(normalized)]));
    canonical_sha256(&Value::Object(identity)).unwrap_or_default()
}

/// Every `(trust key, trust hash)` of a hooks.json document located at `source` (the absolute
/// path Codex reads it from), in file order. Malformed parts are skipped: Codex would not run
/// them either.
pub fn trust_entries(source: &str, hooks_json: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(events) = hooks_json.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    for (event, groups) in events {
        let snake = event_snake_case(event);
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            let matcher = group.get("matcher").and_then(Value::as_str);
            for (h, handler) in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(handler) = handler.as_object() {
                    out.push((format!("{source}:{snake}:{g}:{h}"), trust_hash(event, matcher, handler)));
                }
            }
        }
    }
    out
}

/// Where Codex took its home from, which decides how it names that home in trust keys
/// (docs/codex-facts.md "Trust keys and symlinked CODEX_HOME"; codex-rs/utils/home-dir
/// `find_codex_home`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodexHomeFrom {
    /// `CODEX_HOME` is set (non-empty, valid UTF-8): Codex canonicalizes it, so every symlink
    /// in it is resolved (`~/.codex -> ~/dotfiles/codex`, macOS `/tmp -> /private/tmp`).
    EnvVar,
    /// `CODEX_HOME` is unset, empty or not UTF-8: `$HOME/.codex` as written, links kept.
    Default,
}

impl CodexHomeFrom {
    /// What a Codex started with this process's environment decides. Codex reads the variable
    /// with `std::env::var`, so a value that is not UTF-8 counts as unset.
    pub fn from_env() -> Self {
        match std::env::var("CODEX_HOME") {
            Ok(v) if !v.is_empty() => CodexHomeFrom::EnvVar,
            _ => CodexHomeFrom::Default,
        }
    }
}

/// The path Codex names `codex_home` (absolute, as codexport resolved it) by in the trust keys
/// of its hook sources: `<this>/hooks.json:<event>:<g>:<h>` and `<this>/config.toml:...`.
///
/// - [`CodexHomeFrom::EnvVar`]: canonical, as Codex's `Path::canonicalize`. A home that does
///   not exist yet (a new machine, before the first apply) gets its longest existing ancestor
///   canonicalized and the rest appended: what the path resolves to once created.
/// - [`CodexHomeFrom::Default`]: the path as given, `.` and `..` removed lexically (Codex's
///   `AbsolutePathBuf`); symlinks are kept.
///
/// Reads the disk (symlinks) for `EnvVar` only; never fails (a path that cannot be resolved at
/// all is returned as given).
pub fn codex_home_in_keys(codex_home: &Path, from: CodexHomeFrom) -> PathBuf {
    match from {
        CodexHomeFrom::EnvVar => resolve_links(codex_home),
        CodexHomeFrom::Default => lexically_normal(codex_home),
    }
}

/// `<codex_home_in_keys>/hooks.json`: the path Codex names the user's hooks.json by.
pub fn hooks_json_in_keys(codex_home: &Path, from: CodexHomeFrom) -> PathBuf {
    codex_home_in_keys(codex_home, from).join(crate::codex::layout::HOOKS_JSON)
}

fn resolve_links(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = fs_err::canonicalize(at) {
            return missing.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// How many hook handlers `codex_home/hooks.json` has, and how many of them Codex will run
/// because config.toml trusts them with a matching hash, keyed as a Codex started with this
/// process's environment names hooks.json ([`hooks_json_in_keys`] with
/// [`CodexHomeFrom::from_env`]). `None` when there is no hooks.json.
pub fn trusted_count(codex_home: &Path) -> Option<(usize, usize)> {
    let hooks_path = codex_home.join(crate::codex::layout::HOOKS_JSON);
    let hooks: Value = serde_json::from_str(&fs_err::read_to_string(&hooks_path).ok()?).ok()?;
    let key_path = hooks_json_in_keys(codex_home, CodexHomeFrom::from_env());
    let entries = trust_entries(&key_path.display().to_string(), &hooks);
    let config: toml::Table = fs_err::read_to_string(codex_home.join(crate::codex::layout::CONFIG_TOML))
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default();
    let trusted = entries
        .iter()
        .filter(|(key, hash)| config_trusts(&config, key, hash))
        .count();
    Some((entries.len(), trusted))
}

/// True when `config` (a parsed config.toml) trusts the handler with trust key `key` and hash
/// `hash`: `[hooks.state."<key>"] trusted_hash` matches and `enabled` is not false.
pub fn config_trusts(config: &toml::Table, key: &str, hash: &str) -> bool {
    let entry = config
        .get("hooks")
        .and_then(|h| h.get("state"))
        .and_then(|s| s.get(key));
    entry.is_some_and(|e| {
        e.get("trusted_hash").and_then(|v| v.as_str()) == Some(hash)
            && e.get("enabled").and_then(|v| v.as_bool()) != Some(false)
    })
}

/// Feature keys under `[features]` that switch Codex's hooks on or off: `hooks`, and the older
/// name `codex_hooks`, which Codex 0.169.0 still honours (`codex features list` shows `hooks
/// false` for either).
pub const HOOKS_FEATURE_KEYS: [&str; 2] = ["hooks", "codex_hooks"];

/// The `[features]` key of `config` that disables hooks (`hooks = false`), if any: Codex then
/// runs no hook at all, trusted or not.
pub fn hooks_feature_disabled(config: &toml::Table) -> Option<&'static str> {
    let features = config.get("features")?.as_table()?;
    HOOKS_FEATURE_KEYS
        .into_iter()
        .find(|k| features.get(*k).and_then(|v| v.as_bool()) == Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_feature_off_under_either_name() {
        let parse = |t: &str| t.parse::<toml::Table>().unwrap();
        assert_eq!(hooks_feature_disabled(&parse("model = \"x\"\n")), None);
        assert_eq!(hooks_feature_disabled(&parse("[features]\nhooks = true\n")), None);
        assert_eq!(
            hooks_feature_disabled(&parse("[features]\nhooks = false\n")),
            Some("hooks")
        );
        assert_eq!(
            hooks_feature_disabled(&parse("[features]\ncodex_hooks = false\n")),
            Some("codex_hooks")
        );
    }

    fn vectors() -> Vec<(String, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/other/trust_hash_vectors.json");
        let v: Value = serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap();
        v["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["state_key"].as_str().unwrap().to_string(),
                    x["trusted_hash"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn the_real_hooks_json_gives_the_real_trust_hashes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/other/NullSense__dotfiles__home_.codex_hooks.json");
        let hooks: Value = serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap();
        let entries = trust_entries("/home/nullsense/.codex/hooks.json", &hooks);
        let mut matched = 0;
        for (key, want) in vectors().into_iter().filter(|(k, _)| k.starts_with("/home/nullsense/")) {
            let got = entries
                .iter()
                .find(|(k, _)| *k == key)
                .unwrap_or_else(|| panic!("no entry for {key}: {entries:?}"));
            assert_eq!(got.1, want, "{key}");
            matched += 1;
        }
        assert_eq!(matched, 7);
    }

    #[test]
    fn trusted_count_needs_the_right_key_hash_and_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = json!({"hooks": {"SessionStart": [{"matcher": "startup|resume", "hooks": [
            {"type": "command", "command": "echo a", "timeout": 5},
            {"type": "command", "command": "echo b"}
        ]}]}});
        fs_err::write(dir.path().join("hooks.json"), hooks.to_string()).unwrap();
        let key_path = hooks_json_in_keys(dir.path(), CodexHomeFrom::from_env());
        let entries = trust_entries(&key_path.display().to_string(), &hooks);
        let config = format!(
            "[hooks.state.\"{}\"]\ntrusted_hash = \"{}\"\n[hooks.state.\"{}\"]\ntrusted_hash = \"{}\"\nenabled = false\n",
            entries[0].0, entries[0].1, entries[1].0, entries[1].1
        );
        fs_err::write(dir.path().join("config.toml"), &config).unwrap();
        assert_eq!(trusted_count(dir.path()), Some((2, 1)), "the disabled one does not run");
        fs_err::write(
            dir.path().join("config.toml"),
            config.replace(&entries[0].1, "sha256:00"),
        )
        .unwrap();
        assert_eq!(trusted_count(dir.path()), Some((2, 0)), "a stale hash is not trust");
        assert_eq!(trusted_count(&dir.path().join("none")), None);
    }

    #[test]
    fn codex_names_a_linked_home_by_its_target_only_when_codex_home_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs_err::canonicalize(dir.path()).unwrap();
        fs_err::create_dir_all(real.join("dotfiles/codex")).unwrap();
        std::os::unix::fs::symlink("dotfiles/codex", real.join(".codex")).unwrap();
        let link = real.join(".codex");
        assert_eq!(
            codex_home_in_keys(&link, CodexHomeFrom::EnvVar),
            real.join("dotfiles/codex")
        );
        assert_eq!(codex_home_in_keys(&link, CodexHomeFrom::Default), link);
        assert_eq!(
            hooks_json_in_keys(&link, CodexHomeFrom::EnvVar),
            real.join("dotfiles/codex/hooks.json")
        );
        // Not created yet: the existing part is resolved, the rest appended.
        assert_eq!(
            codex_home_in_keys(&link.join("new/home"), CodexHomeFrom::EnvVar),
            real.join("dotfiles/codex/new/home")
        );
        // `..` goes lexically by default (through the link's name), physically when resolved.
        let dotted = real.join(".codex/../.codex/./x");
        assert_eq!(
            codex_home_in_keys(&dotted, CodexHomeFrom::Default),
            real.join(".codex/x")
        );
        assert_eq!(
            codex_home_in_keys(&real.join(".codex/.."), CodexHomeFrom::EnvVar),
            real.join("dotfiles")
        );
    }

    #[test]
    fn inline_config_hooks_hash_the_same_way() {
        // corpus vector 8: [[hooks.PreToolUse]] matcher = "Edit|Write" in config.toml.
        let handler =
            json!({"type": "command", "command": "python3 /home/alex/.claude/hooks/ascii-check.py", "timeout": 10});
        let want = vectors()
            .into_iter()
            .find(|(k, _)| k.ends_with("config.toml:pre_tool_use:0:0"))
            .unwrap()
            .1;
        assert_eq!(
            trust_hash("PreToolUse", Some("Edit|Write"), handler.as_object().unwrap()),
            want
        );
        assert_eq!(event_snake_case("UserPromptSubmit"), "user_prompt_submit");
    }
}
