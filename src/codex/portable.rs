//! Portable path variables in config documents.
//!
//! On the master, absolute paths under the master's home / CODEX_HOME become `${home}` /
//! `${codexHome}`; on the follower, `${name}` variables are expanded again. Both directions walk
//! the parsed document (`toml_edit::DocumentMut` or `serde_json::Value`) and rewrite only string
//! values and table keys, never the file's text, so comments and layout survive.
//!
//! Escaping: a literal `${` already present in a master string is written as `$${`, and
//! expansion turns `$${` back into `${`. Every other `$` is literal (`$HOME`, `$`, `$$`).

use std::collections::{BTreeMap, BTreeSet};

use toml_edit::DocumentMut;

#[path = "portable_walk.rs"]
mod walk;

use walk::{walk_json, walk_toml};

/// The master's absolute paths that become variables: `codex_home` -> `${codexHome}`,
/// `home` -> `${home}`.
///
/// Trailing slashes are ignored. A path that is empty or `/` after trimming is never rewritten
/// (a home of `/` would otherwise turn every absolute path into a variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterPaths {
    /// The master user's home directory, e.g. `/home/alice`.
    pub home: String,
    /// The master's CODEX_HOME, e.g. `/home/alice/.codex`.
    pub codex_home: String,
}

/// Error from expanding variables on the follower.
///
/// `key` is the dotted key path of the offending string value or key, e.g.
/// `mcp_servers.fs.args[1]` or `projects."${home}/x"`; it is empty when returned by
/// [`expand_str`], which has no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${variable}` has no value in the variable map.
    #[error("unknown variable `${{{variable}}}`{}", at(.key))]
    UnknownVariable {
        /// Dotted key path of the string or key.
        key: String,
        /// The variable name between `${` and `}`.
        variable: String,
    },
    /// A `${` with no closing `}`.
    #[error("unterminated `${{` (write `$${{` for a literal `${{`){}", at(.key))]
    Unterminated {
        /// Dotted key path of the string or key.
        key: String,
    },
    /// Two keys of one table expand to the same name; `key` is the path of the second.
    #[error("two keys expand to the same key{}", at(.key))]
    DuplicateKey {
        /// Dotted key path of the colliding (expanded) key.
        key: String,
    },
}

fn at(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" in `{key}`")
    }
}

impl ExpandError {
    fn at(mut self, path: &str) -> Self {
        match &mut self {
            Self::UnknownVariable { key, .. } | Self::Unterminated { key } => {
                *key = path.to_owned();
            }
            Self::DuplicateKey { .. } => {}
        }
        self
    }
}

/// Characters that continue a path: a master path only matches when not glued to one of these.
/// [`portable_str`] also refuses a `$` on the left, so that `$` + `${home}` never reads back as
/// the escape `$${`.
fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '~')
}

/// The (path, variable) pairs to try, longest path first (`codexHome` wins a tie).
fn targets(master: &MasterPaths) -> Vec<(&str, &'static str)> {
    let mut t: Vec<(&str, &'static str)> = [
        (master.codex_home.trim_end_matches('/'), "codexHome"),
        (master.home.trim_end_matches('/'), "home"),
    ]
    .into_iter()
    .filter(|(p, _)| !p.is_empty())
    .collect();
    t.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    t
}

/// Rewrite one string: escape any pre-existing literal `${` as `$${`, then replace the master
/// path prefixes (`codex_home`, `home`) at path boundaries by `${codexHome}` / `${home}`.
///
/// A master path matches only where the character before it is the start of the string or
/// neither a path character (alphanumeric, `_ - . / ~`) nor `$`, and the character after it is
/// the end of the string, `/`, or not a path character. All occurrences are replaced.
/// Returns `None` when the string is unchanged. Never fails.
pub fn portable_str(s: &str, master: &MasterPaths) -> Option<String> {
    let targets = targets(master);
    let mut out = String::with_capacity(s.len() + 8);
    let mut changed = false;
    let mut prev: Option<char> = None;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("${") {
            out.push_str("$${");
            rest = &rest[2..];
            prev = Some('{');
            changed = true;
            continue;
        }
        if prev.is_none_or(|p| !is_path_char(p) && p != '$') {
            let hit = targets.iter().find(|(p, _)| {
                rest.strip_prefix(p)
                    .is_some_and(|after| after.chars().next().is_none_or(|a| a == '/' || !is_path_char(a)))
            });
            if let Some((p, var)) = hit {
                out.push_str("${");
                out.push_str(var);
                out.push('}');
                rest = &rest[p.len()..];
                prev = p.chars().next_back();
                changed = true;
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        prev = Some(c);
    }
    changed.then_some(out)
}

enum Piece<'a> {
    Lit(&'a str),
    Var(&'a str),
    Unterminated,
}

/// Split a portable string into literal text and `${name}` references.
fn lex(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let (mut i, mut start) = (0, 0);
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("$${") {
            out.push(Piece::Lit(&s[start..i]));
            out.push(Piece::Lit("${"));
            i += 3;
            start = i;
        } else if rest.starts_with("${") {
            out.push(Piece::Lit(&s[start..i]));
            let Some(end) = rest.find('}') else {
                out.push(Piece::Unterminated);
                return out;
            };
            out.push(Piece::Var(&rest[2..end]));
            i += end + 1;
            start = i;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push(Piece::Lit(&s[start..]));
    out
}

/// Expand `${name}` from `vars` (`$${` -> literal `${`; any other `$` is literal). Values are
/// inserted as they are, not expanded again.
///
/// Errors: [`ExpandError::UnknownVariable`] naming the variable, or
/// [`ExpandError::Unterminated`]; `key` is empty in both.
pub fn expand_str(s: &str, vars: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    for piece in lex(s) {
        match piece {
            Piece::Lit(t) => out.push_str(t),
            Piece::Var(name) => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(ExpandError::UnknownVariable {
                        key: String::new(),
                        variable: name.to_owned(),
                    });
                }
            },
            Piece::Unterminated => return Err(ExpandError::Unterminated { key: String::new() }),
        }
    }
    Ok(out)
}

/// Makes every string value and key of config.toml portable with [`portable_str`], in place.
/// Comments, order and formatting of everything else are kept; a renamed key keeps its position
/// and decor. Returns the number of strings and keys rewritten. Never fails.
pub fn portable_toml(doc: &mut DocumentMut, master: &MasterPaths) -> usize {
    walk_toml(doc, &mut |s| Ok(portable_str(s, master))).unwrap_or(0)
}

/// Like [`portable_toml`] for a JSON document (e.g. hooks.json); object key order is kept.
/// Returns the number of strings and keys rewritten. Never fails.
pub fn portable_json(v: &mut serde_json::Value, master: &MasterPaths) -> usize {
    walk_json(v, &mut |s| Ok(portable_str(s, master))).unwrap_or(0)
}

fn expander(vars: &BTreeMap<String, String>) -> impl FnMut(&str) -> Result<Option<String>, ExpandError> {
    |s| Ok(Some(expand_str(s, vars)?).filter(|new| new != s))
}

/// Expands variables ([`expand_str`]) in every string value and key of a TOML document, in
/// place. Returns the number of strings and keys that changed.
///
/// Errors name the dotted key path (e.g. `mcp_servers.fs.args[1]`, `projects."${home}/x"`) and,
/// for [`ExpandError::UnknownVariable`], the variable. On error the document may be partly
/// expanded and should be discarded.
pub fn expand_toml(doc: &mut DocumentMut, vars: &BTreeMap<String, String>) -> Result<usize, ExpandError> {
    walk_toml(doc, &mut expander(vars))
}

/// Like [`expand_toml`] for a JSON document; object key order is kept.
pub fn expand_json(v: &mut serde_json::Value, vars: &BTreeMap<String, String>) -> Result<usize, ExpandError> {
    walk_json(v, &mut expander(vars))
}

/// Every variable name used (`${name}`, not the escaped `$${`) in the document's string values
/// and keys, sorted. An unterminated `${` is ignored here (expansion reports it).
pub fn variables_in_toml(doc: &DocumentMut) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut collect = |s: &str| -> Result<Option<String>, ExpandError> {
        for piece in lex(s) {
            if let Piece::Var(name) = piece {
                names.insert(name.to_owned());
            }
        }
        Ok(None)
    };
    // The walker needs `&mut`; a clone keeps this function read-only.
    let _ = walk_toml(&mut doc.clone(), &mut collect);
    names
}

#[cfg(test)]
#[path = "portable_tests.rs"]
mod tests;
