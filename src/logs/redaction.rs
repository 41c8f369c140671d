//! Redaction of secrets in free text: log lines, stderr, and the lines of a plan's diffs.
//!
//! A secret is recognised by its shape, never by its value:
//! - `cxp_` follower tokens;
//! - `Bearer <credential>`;
//! - `NAME=VALUE` where NAME looks secret ([`is_secret_name`]): link and URL query parameters
//!   (`?token=`, `&api_key=`, `?api-key=`), `--token=...`-style arguments, environment
//!   assignments. In a URL query (after `?` or `&`) `key`, `sig` and `code` count as well;
//! - `"NAME": "VALUE"` (JSON) where NAME looks secret.
//!
//! The value is replaced by a marker (`[redacted]` in logs, `(sensitive)` in plans); the name
//! stays, so a reader sees what was hidden.

use std::borrow::Cow;

/// Words that make a key, flag, header or query-parameter name secret, compared after
/// [`normalise`] (`API-Key`, `api_key` and `apiKey` are all `api_key`/`apikey`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "credential",
    "private_key",
    "access_key",
    "session_key",
    "authorization",
];

/// Names that are secret only as URL query parameters (Google `key=`, Azure `sig=`, OAuth
/// `code=`); elsewhere they are too common to hide.
const QUERY_ONLY: &[&str] = &["key", "sig", "signature", "code"];

/// `name` lower-cased, `-` turned into `_`, leading `-`/`_` dropped (`--Api-Key` -> `api_key`).
pub fn normalise(name: &str) -> String {
    name.trim_start_matches(['-', '_'])
        .chars()
        .map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() })
        .collect()
}

/// True when a key, flag, header or parameter `name` says its value is a secret: it contains
/// one of the secret words after [`normalise`]. A name that only points at a secret
/// (`*_env_var`, `*_env_vars`, `env_key`: the *name* of an environment variable) is not one.
pub fn is_secret_name(name: &str) -> bool {
    let n = normalise(name);
    if n.ends_with("_env_var") || n.ends_with("_env_vars") || n == "env_key" {
        return false;
    }
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

fn is_secret_query_name(name: &str) -> bool {
    is_secret_name(name) || QUERY_ONLY.contains(&normalise(name).as_str())
}

/// True when `text` holds something [`redact`] would hide.
pub fn looks_secret(text: &str) -> bool {
    matches!(redact_with(text, "[redacted]"), Cow::Owned(_))
}

/// [`redact_with`] with the log marker `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_with(text, "[redacted]")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn ends_unquoted(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | '"' | '\'' | '#' | ';' | ',' | ')' | ']' | '}' | '<' | '>' | '`'
        )
}

/// Length of the value starting at `rest`: up to the closing quote when it starts with one
/// (the quotes are kept), else up to the first [`ends_unquoted`] character. Returns
/// (bytes to skip before the value, value length).
fn value_span(rest: &str) -> (usize, usize) {
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &rest[1..];
            (1, inner.find(q).unwrap_or(inner.len()))
        }
        _ => (0, rest.find(ends_unquoted).unwrap_or(rest.len())),
    }
}

/// `text` with every secret-shaped value (see the module docs) replaced by `marker`.
/// Borrowed when nothing was replaced.
pub fn redact_with<'a>(text: &'a str, marker: &str) -> Cow<'a, str> {
    let mut out = String::new();
    // Bytes of `text` already copied to `out`.
    let mut done = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    let replace = |out: &mut String, done: &mut usize, from: usize, to: usize| {
        out.push_str(&text[*done..from]);
        out.push_str(marker);
        *done = to;
    };
    while i < text.len() {
        let rest = &text[i..];
        let prev = text[..i].chars().next_back();
        let starts_word = !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if starts_word && let Some(after) = rest.strip_prefix("cxp_") {
            let len = after.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len());
            if len > 0 {
                replace(&mut out, &mut done, i + 4, i + 4 + len);
                i += 4 + len;
                continue;
            }
        }
        if starts_word && let Some(after) = rest.strip_prefix("Bearer ") {
            let len = after
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(after.len());
            if len > 0 {
                replace(&mut out, &mut done, i + 7, i + 7 + len);
                i += 7 + len;
                continue;
            }
        }
        match bytes[i] {
            b'=' => {
                let name_start = text[..i]
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| is_name_char(*c))
                    .last()
                    .map_or(i, |(at, _)| at);
                let name = &text[name_start..i];
                let in_query = text[..name_start].ends_with(['?', '&']);
                let secret = if in_query {
                    is_secret_query_name(name)
                } else {
                    is_secret_name(name)
                };
                let (skip, len) = value_span(&text[i + 1..]);
                let from = i + 1 + skip;
                if secret && text[from..].starts_with(marker) {
                    // Redacted already (a config value, then its line).
                    i = from + marker.len();
                    continue;
                }
                if secret && len > 0 {
                    replace(&mut out, &mut done, from, from + len);
                    i = from + len;
                    continue;
                }
            }
            b'"' => {
                // `"NAME": "VALUE"`
                if let Some(close) = rest[1..].find('"') {
                    let name = &rest[1..1 + close];
                    let after = &rest[2 + close..];
                    let trimmed = after.trim_start();
                    if let Some(value) = trimmed.strip_prefix(':').map(str::trim_start)
                        && value.starts_with('"')
                        && is_secret_name(name)
                    {
                        let (skip, len) = value_span(value);
                        let from = i + (rest.len() - value.len()) + skip;
                        if len > 0 && !text[from..].starts_with(marker) {
                            replace(&mut out, &mut done, from, from + len);
                            i = from + len;
                            continue;
                        }
                    }
                }
            }
            _ => {}
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_after_normalising_case_and_hyphens() {
        for name in [
            "api-key",
            "API_KEY",
            "X-Api-Key",
            "--token",
            "Client-Secret",
            "apiKey",
            "GITHUB_TOKEN",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["bearer_token_env_var", "env_key", "model", "url", "key", "args"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn url_queries_flags_and_json_values_are_redacted() {
        let cases = [
            ("https://x/mcp?token=abc", "https://x/mcp?token=M"),
            ("https://x/mcp?a=1&api_key=abc#f", "https://x/mcp?a=1&api_key=M#f"),
            ("https://x/mcp?api-key=abc&b=2", "https://x/mcp?api-key=M&b=2"),
            ("https://x/maps?key=AIza", "https://x/maps?key=M"),
            ("notify --token=s3cret done", "notify --token=M done"),
            ("--API-KEY='s p'", "--API-KEY='M'"),
            ("token=\"abc def\" next", "token=\"M\" next"),
            (
                "{\"OPENAI_API_KEY\": \"sk-1\", \"model\": \"x\"}",
                "{\"OPENAI_API_KEY\": \"M\", \"model\": \"x\"}",
            ),
            (
                "curl -H 'Authorization: Bearer abc' x",
                "curl -H 'Authorization: Bearer M' x",
            ),
            ("id cxp_abc.", "id cxp_M."),
        ];
        for (text, want) in cases {
            assert_eq!(redact_with(text, "M"), want, "{text}");
        }
        for text in [
            "key=value",
            "model=gpt",
            "a == b",
            "x=\"\"",
            "mycxp_abc",
            "\"token\": 3",
            "héllo=1 é",
        ] {
            assert!(matches!(redact_with(text, "M"), Cow::Borrowed(_)), "{text}");
        }
        assert!(looks_secret("x --password=p") && !looks_secret("x --verbose=2"));
        assert_eq!(
            redact_with("u?token=(sensitive)&x", "(sensitive)"),
            "u?token=(sensitive)&x"
        );
    }
}
