//! Portable path variables in config documents.
//!
//! On the master, absolute paths under the master's home / CODEX_HOME become `${home}` /
//! `${codexHome}`; on the follower, `${name}` variables are expanded again. Both directions walk
//! the parsed document (`toml_edit::DocumentMut` or `serde_json::Value`) and rewrite only string
//! values and table keys, never the file's text, so comments and layout survive.
//!
//! Windows: a master whose home is a drive path (`C:\Users\alice`) has its paths matched in
//! every Windows spelling, and the path text after the variable gets `/` separators
//! (`${home}/src/app`); a follower expands for its [`PathStyle`], turning those `/` back into `\`
//! on Windows. `\\?\${home}` (from a verbatim `\\?\C:\...` key) only ever comes from a
//! Windows master.
//!
//! Escaping: a literal `${` already present in a master string is written as `$${`, and
//! expansion turns `$${` back into `${`. Every other `$` is literal (`$HOME`, `$`, `$$`).

use std::collections::{BTreeMap, BTreeSet};

use toml_edit::DocumentMut;

#[path = "portable_walk.rs"]
mod walk;

#[path = "portable_win.rs"]
mod win;

use walk::{walk_json, walk_json_with, walk_toml, walk_toml_with};
pub use win::PathStyle;

/// The master's absolute paths that become variables: `codex_home` -> `${codexHome}`,
/// `home` -> `${home}`.
///
/// Either path may be POSIX (`/home/alice`) or a Windows drive path (`C:\Users\alice`,
/// `C:/Users/alice`, `\\?\C:\Users\alice`); see [`portable_str`] for how each is matched.
/// Trailing `/` and `\` are ignored. A path that is empty, `/` or a drive root (`C:\`) after
/// trimming is never rewritten (it would otherwise turn every absolute path into a variable).
///
/// `variables` are the master's own path variables (`[pathVariables]` of master.toml, e.g.
/// `workspaceRoot = "/home/alice/work"`): name -> path, matched like `home`; every follower
/// gives each one its own value in its local.toml. The longest matching path wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterPaths {
    /// The master user's home directory, e.g. `/home/alice`.
    pub home: String,
    /// The master's CODEX_HOME, e.g. `/home/alice/.codex`.
    pub codex_home: String,
    /// Extra path variables: name -> master path.
    pub variables: std::collections::BTreeMap<String, String>,
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

/// Rewrite one string: escape any pre-existing literal `${` as `$${`, then replace the master
/// path prefixes (`codex_home`, `home`) at path boundaries by `${codexHome}` / `${home}`.
/// All occurrences are replaced, the longer master path tried first. Returns `None` when the
/// string is unchanged. Never fails.
///
/// Boundaries: a master path matches only where the character before it is the start of the
/// string or neither a path character nor `$`, and the character after it is the end of the
/// string, a separator, or not a path character. Path characters are alphanumeric, `_ - . / ~`,
/// plus `\` for a Windows master path; separators are `/`, plus `\` for a Windows master path.
///
/// - A POSIX master path (anything but a drive path) matches literally and case-sensitively,
///   but never directly after `\\?\` (`\\?\${..}` is reserved for Windows verbatim paths).
/// - A Windows master path (a drive path, e.g. `C:\Users\alice`) matches in any spelling:
///   exactly one `\` or `/` between components (`C:/Users\alice`, not `C:\Users\\alice`), any
///   case (`c:\USERS\Alice`; Unicode lowercase per character), and behind the verbatim prefix
///   (`\\?\C:\Users\alice`: the boundary rule then applies before the `\\?\`, which is kept:
///   `\\?\${home}`). The path text right after the match, up to the first character that is not
///   a run character (alphanumeric, `_ - . ~ @ + / \`), gets `/` separators:
///   `"C:\Users\alice\src\app" x\y` -> `"${home}/src/app" x\y`.
pub fn portable_str(s: &str, master: &MasterPaths) -> Option<String> {
    let targets = win::targets(master);
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
        if let Some(hit) = win::find_hit(&targets, &s[..s.len() - rest.len()], rest, prev) {
            if hit.verbatim {
                out.push_str(win::VERBATIM);
            }
            out.push_str("${");
            out.push_str(hit.var);
            out.push('}');
            prev = rest[..hit.len].chars().next_back();
            rest = &rest[hit.len..];
            if hit.windows {
                let (run, after) = rest.split_at(win::run_len(rest));
                win::push_with_sep(&mut out, run, '/');
                prev = run.chars().next_back().or(prev);
                rest = after;
            }
            changed = true;
            continue;
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

/// Expand `${name}` from `vars` for a follower of the native style ([`PathStyle::native`]); see
/// [`expand_str_styled`].
///
/// Errors: [`ExpandError::UnknownVariable`] naming the variable, or
/// [`ExpandError::Unterminated`]; `key` is empty in both.
pub fn expand_str(s: &str, vars: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    expand_str_styled(s, vars, PathStyle::native())
}

/// Expand `${name}` from `vars` (`$${` -> literal `${`; any other `$` is literal) for a follower
/// whose paths are written in `style`. Values are inserted as they are, not expanded again,
/// except as follows.
///
/// - `Windows`: after `${home}`, `${codexHome}` or any variable whose value is an absolute
///   Windows path (see [`PathStyle::of`]), the `/` of the path text that directly follows
///   become `\`, up to the first character that is not a run character (alphanumeric,
///   `_ - . ~ @ + / \`): `${home}/src/app x/y` -> `C:\Users\bob\src\app x/y`.
/// - `\\?\` directly before a variable (a Windows master's verbatim path): dropped on `Posix`
///   (`\\?\${home}/x` -> `/home/bob/x`); kept on `Windows`, where a drive value gets `\`
///   separators, a value that is already verbatim replaces the prefix and a UNC value
///   `\\srv\share` becomes `\\?\UNC\srv\share`.
/// - Any other `\` is left alone in both styles.
///
/// Errors: as [`expand_str`].
pub fn expand_str_styled(s: &str, vars: &BTreeMap<String, String>, style: PathStyle) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    // Inside the path text after a variable whose separators become `\`.
    let mut in_run = false;
    let mut verbatim = false;
    for piece in lex(s) {
        match piece {
            Piece::Lit(t) => {
                // The run only turns `/` into `\`, so `out` ends with `\\?\` when `t` does.
                verbatim = t.ends_with(win::VERBATIM);
                let rest = if in_run {
                    let (run, after) = t.split_at(win::run_len(t));
                    win::push_with_sep(&mut out, run, '\\');
                    in_run = after.is_empty();
                    after
                } else {
                    t
                };
                out.push_str(rest);
            }
            Piece::Var(name) => {
                let Some(v) = vars.get(name) else {
                    return Err(ExpandError::UnknownVariable {
                        key: String::new(),
                        variable: name.to_owned(),
                    });
                };
                if verbatim {
                    out.truncate(out.len() - win::VERBATIM.len());
                    out.push_str(&win::verbatim_value(style, v));
                } else {
                    out.push_str(v);
                }
                in_run = win::converts_after(style, name, v);
                verbatim = false;
            }
            Piece::Unterminated => return Err(ExpandError::Unterminated { key: String::new() }),
        }
    }
    Ok(out)
}

/// Makes every string value and key of config.toml portable with [`portable_str`], in place.
/// Comments, order and formatting of everything else are kept; a renamed key keeps its position
/// and decor. Returns the number of strings and keys rewritten. Never fails: when two keys of one
/// table would get the same portable name (one Windows path spelled two ways, e.g.
/// `C:\Users\alice\x` and `c:/users/alice/x`), the first keeps the new name and the later ones
/// stay as they are.
pub fn portable_toml(doc: &mut DocumentMut, master: &MasterPaths) -> usize {
    walk_toml_with(doc, &mut |s| Ok(portable_str(s, master)), true).unwrap_or(0)
}

/// Like [`portable_toml`] for a JSON document (e.g. hooks.json); object key order is kept.
/// Returns the number of strings and keys rewritten. Never fails.
pub fn portable_json(v: &mut serde_json::Value, master: &MasterPaths) -> usize {
    walk_json_with(v, &mut |s| Ok(portable_str(s, master)), true).unwrap_or(0)
}

fn expander(
    vars: &BTreeMap<String, String>,
    style: PathStyle,
) -> impl FnMut(&str) -> Result<Option<String>, ExpandError> {
    move |s| Ok(Some(expand_str_styled(s, vars, style)?).filter(|new| new != s))
}

/// Expands variables ([`expand_str`], native style) in every string value and key of a TOML
/// document, in place; see [`expand_toml_styled`].
pub fn expand_toml(doc: &mut DocumentMut, vars: &BTreeMap<String, String>) -> Result<usize, ExpandError> {
    expand_toml_styled(doc, vars, PathStyle::native())
}

/// Expands variables ([`expand_str_styled`] with `style`) in every string value and key of a
/// TOML document, in place. Returns the number of strings and keys that changed. A renamed key
/// keeps its position and decor.
///
/// Errors name the dotted key path (e.g. `mcp_servers.fs.args[1]`, `projects."${home}/x"`) and,
/// for [`ExpandError::UnknownVariable`], the variable. On error the document may be partly
/// expanded and should be discarded.
pub fn expand_toml_styled(
    doc: &mut DocumentMut,
    vars: &BTreeMap<String, String>,
    style: PathStyle,
) -> Result<usize, ExpandError> {
    walk_toml(doc, &mut expander(vars, style))
}

/// Like [`expand_toml`] for a JSON document (native style); object key order is kept.
pub fn expand_json(v: &mut serde_json::Value, vars: &BTreeMap<String, String>) -> Result<usize, ExpandError> {
    expand_json_styled(v, vars, PathStyle::native())
}

/// Like [`expand_toml_styled`] for a JSON document (e.g. hooks.json); object key order is kept.
pub fn expand_json_styled(
    v: &mut serde_json::Value,
    vars: &BTreeMap<String, String>,
    style: PathStyle,
) -> Result<usize, ExpandError> {
    walk_json(v, &mut expander(vars, style))
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

/// Like [`variables_in_toml`] for a JSON document (hooks.json).
pub fn variables_in_json(v: &serde_json::Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut collect = |s: &str| -> Result<Option<String>, ExpandError> {
        for piece in lex(s) {
            if let Piece::Var(name) = piece {
                names.insert(name.to_owned());
            }
        }
        Ok(None)
    };
    let _ = walk_json(&mut v.clone(), &mut collect);
    names
}

#[cfg(test)]
#[path = "portable_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "portable_windows_tests.rs"]
mod windows_tests;
