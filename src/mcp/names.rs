//! Checks on names and versions that come from the document before they are used in a path or
//! an argv (a master could otherwise point an install outside `mcp-artifacts/` or pass a flag).
//! Each returns a one-line reason on refusal.

/// An npm package name (`name` or `@scope/name`, lowercase, no leading `.`/`-`/`_`).
pub fn check_npm_name(name: &str) -> Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '-', '_'])
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    let ok = match name.strip_prefix('@').map(|r| r.split_once('/')) {
        Some(Some((scope, pkg))) => ok_part(scope) && ok_part(pkg),
        Some(None) => false,
        None => ok_part(name),
    };
    if ok && name.len() <= 214 {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid npm package name"))
    }
}

/// A plain name (crate, PyPI package, bin, server): ASCII letters, digits, `-._`, no leading
/// `.`/`-`.
pub fn check_word(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} {s:?} is not a plain name"))
    }
}

/// An exact version: starts alphanumeric, then letters, digits, `-.+_` (no ranges, no `/`).
pub fn check_version(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-.+_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("version {v:?} is not an exact version"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_document_cannot_escape_the_artifacts_dir() {
        assert!(check_npm_name("@modelcontextprotocol/server-everything").is_ok());
        assert!(check_npm_name("left-pad").is_ok());
        for bad in ["../x", "@x/../../y", "@x", "-rf", ".hidden", "A"] {
            assert!(check_npm_name(bad).is_err(), "{bad}");
        }
        assert!(check_version("2026.8.31").is_ok());
        assert!(check_version("1.0.0-beta.1+b").is_ok());
        for bad in ["../1", "^1.2", "1 || 2", "", "-1"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        let a = crate::mcp::artifact::Artifact::Uv {
            package: "../evil".into(),
            version: "1".into(),
            bin: "x".into(),
        };
        assert!(crate::mcp::install::install_dir(std::path::Path::new("/c"), "s", &a).is_err());
    }
}
