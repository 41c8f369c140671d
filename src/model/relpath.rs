//! Rules for relative paths inside a document (DESIGN.md: "Paths are relative, `/`-separated,
//! normalised; anything absolute, with `..`, a backslash, a NUL, a Windows drive or a
//! case-folding clash is rejected on both sides").

use std::collections::HashMap;

/// Longest accepted relative path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Deepest accepted relative path, in components.
pub const MAX_DEPTH: usize = 32;
/// Longest accepted path component, in bytes (the usual file-system limit).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Why a relative path was rejected. Every variant carries the offending path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    /// Empty string.
    #[error("empty path")]
    Empty,
    /// Starts with `/` or a Windows drive (`C:`).
    #[error("{0:?} is absolute; document paths must be relative to CODEX_HOME")]
    Absolute(String),
    /// Contains `\`.
    #[error("{0:?} contains a backslash; document paths use `/`")]
    Backslash(String),
    /// Contains a NUL byte or another control character.
    #[error("{0:?} contains a control character")]
    Control(String),
    /// Has an empty, `.` or `..` component.
    #[error("{0:?} is not normalised (empty, `.` or `..` component)")]
    NotNormalised(String),
    /// Over the length or depth caps.
    #[error(
        "{0:?} is too long or too deep (caps: {MAX_PATH_BYTES} bytes, {MAX_DEPTH} levels, {MAX_COMPONENT_BYTES} bytes a name)"
    )]
    TooLong(String),
    /// Two paths differ only by letter case (they would clash on macOS/Windows).
    #[error("{0:?} and {1:?} differ only by letter case")]
    CaseClash(String, String),
    /// The same path twice.
    #[error("{0:?} appears twice")]
    Duplicate(String),
}

/// Check one relative path.
pub fn validate(path: &str) -> Result<(), RelPathError> {
    let owned = || path.to_string();
    if path.is_empty() {
        return Err(RelPathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(RelPathError::TooLong(owned()));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(RelPathError::Control(owned()));
    }
    if path.contains('\\') {
        return Err(RelPathError::Backslash(owned()));
    }
    let b = path.as_bytes();
    if path.starts_with('/') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':') {
        return Err(RelPathError::Absolute(owned()));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_DEPTH || parts.iter().any(|p| p.len() > MAX_COMPONENT_BYTES) {
        return Err(RelPathError::TooLong(owned()));
    }
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err(RelPathError::NotNormalised(owned()));
    }
    Ok(())
}

/// Check a set of paths: each valid, no duplicates, no two that differ only by case.
pub fn validate_set<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), RelPathError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for p in paths {
        validate(p)?;
        if let Some(prev) = seen.insert(p.to_lowercase(), p) {
            return Err(if prev == p {
                RelPathError::Duplicate(p.into())
            } else {
                RelPathError::CaseClash(prev.into(), p.into())
            });
        }
    }
    Ok(())
}

/// The name in `reserved` that the first component of `path` is, letter case ignored as
/// [`validate_set`] folds it (`Config.toml`, `HOOKS.JSON/x`): on a case-insensitive file
/// system (macOS, Windows) that path is the reserved file, or needs it to be a directory.
/// `None` when it is none of them.
pub fn reserved_top<'a>(path: &str, reserved: &[&'a str]) -> Option<&'a str> {
    let top = path.split('/').next().unwrap_or(path).to_lowercase();
    reserved.iter().copied().find(|r| r.to_lowercase() == top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_relative_paths() {
        for p in [
            "config.toml",
            "skills/a/SKILL.md",
            ".credentials.json",
            "skills/a b/x.md",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_escapes_and_oddities() {
        let cases = [
            ("", RelPathError::Empty),
            ("/etc/passwd", RelPathError::Absolute("/etc/passwd".into())),
            ("C:/x", RelPathError::Absolute("C:/x".into())),
            ("a\\b", RelPathError::Backslash("a\\b".into())),
            ("a\0b", RelPathError::Control("a\0b".into())),
            ("../x", RelPathError::NotNormalised("../x".into())),
            ("a/./b", RelPathError::NotNormalised("a/./b".into())),
            ("a//b", RelPathError::NotNormalised("a//b".into())),
            ("a/", RelPathError::NotNormalised("a/".into())),
        ];
        for (p, want) in cases {
            assert_eq!(validate(p), Err(want), "{p:?}");
        }
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        assert!(matches!(validate(&deep), Err(RelPathError::TooLong(_))));
    }

    #[test]
    fn rejects_case_clashes_and_duplicates() {
        assert!(matches!(
            validate_set(["skills/A.md", "skills/a.md"]),
            Err(RelPathError::CaseClash(..))
        ));
        assert!(matches!(validate_set(["x", "x"]), Err(RelPathError::Duplicate(_))));
        assert_eq!(validate_set(["a", "b/a"]), Ok(()));
    }

    #[test]
    fn reserved_names_match_whatever_their_case() {
        let reserved = ["config.toml", "hooks.json"];
        for (p, want) in [
            ("config.toml", Some("config.toml")),
            ("Config.TOML", Some("config.toml")),
            ("HOOKS.JSON/x", Some("hooks.json")),
            ("skills/config.toml", None),
            ("config.toml.bak", None),
        ] {
            assert_eq!(reserved_top(p, &reserved), want, "{p}");
        }
    }
}
