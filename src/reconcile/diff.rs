//! Unified diffs for plans (`similar`), with secrets redacted before diffing.
//!
//! - A secret path ([`crate::codex::layout::is_secret`]: `auth.json`, `.credentials.json`,
//!   whatever class the document gives it) gets no diff at all.
//! - config.toml, by structure: every value under `mcp_servers.*.env`, `*.http_headers`,
//!   `shell_environment_policy.set`, under any key whose name looks secret
//!   ([`crate::logs::redaction::is_secret_name`]: token, secret, password, API key, ...,
//!   compared after normalising case and `-`/`_`, but not `*_env_var`, which names a
//!   variable), and in arrays the element after a secret-looking flag (`"--token", "x"`).
//! - Every file, config.toml included, line by line: secret-shaped text
//!   ([`crate::logs::redaction`]): URL query values of secret parameters (`?token=`,
//!   `&api-key=`), `--flag=value` arguments of secret flags, `Bearer` credentials, JSON values
//!   of secret keys (hooks.json commands, for one).

use std::borrow::Cow;

use similar::TextDiff;

use crate::logs::redaction::{is_secret_name, redact_with};

/// Largest file (bytes, either side) a plan shows a diff for.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;
/// What a redacted value becomes.
pub const SENSITIVE: &str = "(sensitive)";

/// A unified diff of two text files, `None` when either side is not UTF-8 text or too big, and
/// always for a secret path.
pub fn unified(path: &str, old: &[u8], new: &[u8]) -> Option<String> {
    if crate::codex::layout::is_secret(path) || old.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        return None;
    }
    let (old, new) = (std::str::from_utf8(old).ok()?, std::str::from_utf8(new).ok()?);
    let (old, new) = if path == crate::codex::layout::CONFIG_TOML {
        (redact_config(old), redact_config(new))
    } else {
        (old.to_string(), new.to_string())
    };
    let (old, new) = (redact_lines(&old), redact_lines(&new));
    let diff = TextDiff::from_lines(&old, &new);
    let text = diff
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    Some(text)
}

/// `text` with secret-shaped values replaced by `(sensitive)`, one line at a time.
pub fn redact_lines(text: &str) -> String {
    text.split_inclusive('\n').map(|l| redact_with(l, SENSITIVE)).collect()
}

/// config.toml with secret values replaced by `(sensitive)`; unparseable text is replaced whole.
pub fn redact_config(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return format!("{SENSITIVE}\n");
    };
    redact_table(doc.as_table_mut(), &mut Vec::new());
    doc.to_string()
}

/// Every value below this table is secret.
fn is_secret_table(path: &[String]) -> bool {
    let last = path.last().map(String::as_str);
    matches!(last, Some("env" | "http_headers"))
        || path == ["shell_environment_policy", "set"]
        || last.is_some_and(is_secret_name)
}

/// A lone flag whose value is the next argument: `--token`, `-api-key`.
fn is_secret_flag(arg: &str) -> bool {
    arg.starts_with('-') && !arg.contains('=') && is_secret_name(arg)
}

/// `SENSITIVE` with the decoration (comments, spacing) of `old`.
fn sensitive_like(old: &toml_edit::Value, text: &str) -> toml_edit::Value {
    let mut value = toml_edit::Value::from(text);
    *value.decor_mut() = old.decor().clone();
    value
}

fn redact_table(table: &mut dyn toml_edit::TableLike, path: &mut Vec<String>) {
    let secret_table = is_secret_table(path);
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        let Some(item) = table.get_mut(&key) else { continue };
        path.push(key);
        if let Some(sub) = item.as_table_like_mut() {
            redact_table(sub, path);
        } else if let Some(tables) = item.as_array_of_tables_mut() {
            for t in tables.iter_mut() {
                redact_table(t, path);
            }
        } else if let Some(value) = item.as_value_mut() {
            if secret_table || path.last().is_some_and(|k| is_secret_name(k)) {
                *value = sensitive_like(value, SENSITIVE);
            } else {
                redact_value(value, path);
            }
        }
        path.pop();
    }
}

/// Redact secret-shaped text in a value that is not secret as a whole.
fn redact_value(value: &mut toml_edit::Value, path: &mut Vec<String>) {
    match value {
        toml_edit::Value::String(s) => {
            if let Cow::Owned(text) = redact_with(s.value(), SENSITIVE) {
                *value = sensitive_like(value, &text);
            }
        }
        toml_edit::Value::Array(items) => {
            let mut hide_next = false;
            for v in items.iter_mut() {
                if std::mem::take(&mut hide_next) && v.is_str() {
                    *v = sensitive_like(v, SENSITIVE);
                    continue;
                }
                hide_next = v.as_str().is_some_and(is_secret_flag);
                redact_value(v, path);
            }
        }
        toml_edit::Value::InlineTable(t) => redact_table(t, path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_a_config_diff() {
        let old = "model = \"a\"\n[mcp_servers.gh]\ncommand = \"x\"\nenv = { GITHUB_TOKEN = \"ghp_old\" }\n[mcp_servers.api]\nurl = \"u\"\nbearer_token_env_var = \"TOK\"\nhttp_headers = { Authorization = \"Bearer s3cret\" }\n";
        let new = old
            .replace("ghp_old", "ghp_new")
            .replace("model = \"a\"", "model = \"b\"")
            .replace("s3cret", "t0p");
        let diff = unified("config.toml", old.as_bytes(), new.as_bytes()).unwrap();
        for secret in ["ghp_old", "ghp_new", "s3cret", "t0p"] {
            assert!(!diff.contains(secret), "{secret} leaked:\n{diff}");
        }
        assert!(
            diff.contains("-model = \"a\"") && diff.contains("+model = \"b\""),
            "{diff}"
        );
        assert!(
            diff.contains("bearer_token_env_var = \"TOK\"") || !diff.contains("TOK"),
            "names of variables are not secrets"
        );
    }

    #[test]
    fn secrets_in_urls_flags_hyphenated_keys_and_tables_of_tables_are_redacted() {
        let old = "notify = [\"n\", \"--token=t1\", \"--api-key\", \"k1\", \"plain\"]\n[mcp_servers.a]\nurl = \"https://x/mcp?token=u1&v=2\"\nquery_params = { \"api-key\" = \"q1\" }\n[[profiles.p.list]]\nclient_secret = \"c1\"\n";
        let new = old.replace('1', "2");
        let diff = unified("config.toml", old.as_bytes(), new.as_bytes()).unwrap();
        for secret in ["t1", "t2", "k1", "k2", "u1", "u2", "q1", "q2", "c1", "c2"] {
            assert!(!diff.contains(secret), "{secret} leaked:\n{diff}");
        }
        let shown = redact_lines(&redact_config(old));
        for secret in ["t1", "k1", "u1", "q1", "c1"] {
            assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
        }
        assert!(shown.contains("https://x/mcp?token=(sensitive)&v=2"), "{shown}");
        assert!(
            shown.contains("\"plain\"") && shown.contains("\"--token=(sensitive)\""),
            "{shown}"
        );
    }

    #[test]
    fn secret_paths_get_no_diff_and_other_files_are_redacted_by_shape() {
        assert_eq!(unified("auth.json", b"{\"a\": 1}", b"{\"a\": 2}"), None);
        assert_eq!(unified("Auth.json", b"a", b"b"), None);
        let hooks = |t: &str| format!("{{\"command\": \"curl -H 'Authorization: Bearer {t}' --password={t}\"}}\n");
        let diff = unified("hooks.json", hooks("old").as_bytes(), hooks("new").as_bytes());
        // Both sides redact to the same text: no change is left to show.
        assert_eq!(
            diff.as_deref().map(|d| d.contains("old") || d.contains("new")),
            Some(false)
        );
    }

    #[test]
    fn binary_and_huge_files_get_no_diff() {
        assert!(unified("a.bin", &[0xff, 0xfe], b"x").is_none());
        assert!(unified("a.md", &vec![b'a'; MAX_DIFF_BYTES + 1], b"x").is_none());
        assert!(unified("a.md", b"one\n", b"two\n").unwrap().contains("-one\n+two"));
    }
}
