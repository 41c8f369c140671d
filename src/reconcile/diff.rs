//! Unified diffs for plans (`similar`), with secrets redacted before diffing.
//!
//! Redacted in config.toml: every value under `mcp_servers.*.env`, `*.http_headers`,
//! `shell_environment_policy.set`, and any key whose name says token, secret, password or
//! API key (but not `*_env_var`, which names a variable, not a value).

use similar::TextDiff;

/// Largest file (bytes, either side) a plan shows a diff for.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;
/// What a redacted value becomes.
pub const SENSITIVE: &str = "(sensitive)";

/// A unified diff of two text files, `None` when either side is not UTF-8 text or too big.
pub fn unified(path: &str, old: &[u8], new: &[u8]) -> Option<String> {
    if old.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        return None;
    }
    let (old, new) = (std::str::from_utf8(old).ok()?, std::str::from_utf8(new).ok()?);
    let (old, new) = if path == crate::codex::layout::CONFIG_TOML {
        (redact_config(old), redact_config(new))
    } else {
        (old.to_string(), new.to_string())
    };
    let diff = TextDiff::from_lines(&old, &new);
    let text = diff
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    Some(text)
}

/// config.toml with secret values replaced by `(sensitive)`; unparseable text is replaced whole.
pub fn redact_config(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return format!("{SENSITIVE}\n");
    };
    redact_table(doc.as_table_mut(), &mut Vec::new());
    doc.to_string()
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.ends_with("_env_var") || k.ends_with("_env_vars") {
        return false;
    }
    [
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn is_secret_table(path: &[String]) -> bool {
    let last = path.last().map(String::as_str);
    matches!(last, Some("env" | "http_headers")) || path == ["shell_environment_policy", "set"]
}

fn redact_table(table: &mut dyn toml_edit::TableLike, path: &mut Vec<String>) {
    let secret_table = is_secret_table(path);
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        let Some(item) = table.get_mut(&key) else { continue };
        if let Some(sub) = item.as_table_like_mut() {
            path.push(key);
            redact_table(sub, path);
            path.pop();
        } else if (secret_table || is_secret_key(&key)) && item.is_value() {
            let decor = item.as_value().map(|v| v.decor().clone());
            let mut value = toml_edit::Value::from(SENSITIVE);
            if let Some(d) = decor {
                *value.decor_mut() = d;
            }
            *item = toml_edit::Item::Value(value);
        }
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
    fn binary_and_huge_files_get_no_diff() {
        assert!(unified("a.bin", &[0xff, 0xfe], b"x").is_none());
        assert!(unified("a.md", &vec![b'a'; MAX_DIFF_BYTES + 1], b"x").is_none());
        assert!(unified("a.md", b"one\n", b"two\n").unwrap().contains("-one\n+two"));
    }
}
