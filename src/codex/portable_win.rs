//! Windows path forms for [`super`]: the path style of a machine, the master paths to match
//! (POSIX literally, Windows drive paths in any of their spellings), and the separator
//! conversion of the path text after a variable.
//!
//! Character classes (exact):
//! - *path characters* (boundaries, as for POSIX masters): alphanumeric, `_ - . / ~`, and for
//!   Windows paths also `\`;
//! - *run characters* (the path text after a variable whose separators are converted): the
//!   Windows path characters plus `@` and `+` (npm scopes, `c++`). Everything else ends the run:
//!   space, quotes, `: ; , = $ { } ( ) [ ] * ? < > | ! # % & ^`, control characters.

use std::borrow::Cow;

use super::{MasterPaths, is_path_char};

/// The verbatim prefix Windows (and Codex, for `[projects]` keys) puts before a drive path:
/// `\\?\C:\Users\x`.
pub(super) const VERBATIM: &str = r"\\?\";

/// How a machine writes absolute paths: separators `/` (`Posix`) or `\` (`Windows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathStyle {
    /// `/home/bob/x`: Linux, macOS and other Unix systems.
    Posix,
    /// `C:\Users\bob\x` (drive letter, `\` separators, optional verbatim prefix `\\?\`).
    Windows,
}

impl PathStyle {
    /// The style of the machine this binary was built for: `Windows` when `cfg!(windows)`,
    /// else `Posix`.
    pub const fn native() -> Self {
        if cfg!(windows) { Self::Windows } else { Self::Posix }
    }

    /// The style of an absolute path, or `None` for a relative or empty one.
    ///
    /// `Windows`: a drive path (`C:\x`, `c:/x`, an ASCII letter, `:`, then `\` or `/`) or a path
    /// starting with `\\` (verbatim `\\?\...`, device `\\.\...`, UNC `\\server\share`).
    /// `Posix`: a path starting with `/`. `C:x` (drive-relative) is `None`.
    pub fn of(path: &str) -> Option<Self> {
        if is_windows_absolute(path) {
            Some(Self::Windows)
        } else if path.starts_with('/') {
            Some(Self::Posix)
        } else {
            None
        }
    }
}

/// `true` for a Windows separator, `\` or `/`.
fn is_sep(c: char) -> bool {
    matches!(c, '\\' | '/')
}

/// A path character of a Windows path (see the module doc).
pub(super) fn is_win_path_char(c: char) -> bool {
    is_path_char(c) || c == '\\'
}

/// A run character (see the module doc).
fn is_run_char(c: char) -> bool {
    is_win_path_char(c) || matches!(c, '@' | '+')
}

/// Drive path (`C:\`, `C:/`) or a `\\` path (verbatim, device, UNC).
fn is_windows_absolute(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with(r"\\") || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && is_sep(char::from(b[2])))
}

/// One character of a Windows path compared without case (Unicode lowercase, char by char).
fn same_ignoring_case(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// A master path on a drive, normalised: `C:\Users\alice\`, `c:/Users//alice` and
/// `\\?\C:\Users\alice` are all drive `C` with parts `["Users", "alice"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WinPath<'a> {
    drive: char,
    parts: Vec<&'a str>,
}

impl<'a> WinPath<'a> {
    /// Parses a drive path, with or without the verbatim prefix; `None` for anything else
    /// (POSIX, UNC, relative). A drive root (`C:\`) has no parts.
    fn parse(s: &'a str) -> Option<Self> {
        let s = s.strip_prefix(VERBATIM).unwrap_or(s);
        if !is_windows_absolute(s) || s.starts_with('\\') {
            return None;
        }
        let drive = s.chars().next()?;
        let parts = s[2..].split(is_sep).filter(|p| !p.is_empty()).collect();
        Some(WinPath { drive, parts })
    }

    /// `true` for a drive root (`C:\`), which is never rewritten.
    fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// Length used to try longer master paths first.
    fn len(&self) -> usize {
        2 + self.parts.iter().map(|p| p.len() + 1).sum::<usize>()
    }

    /// Byte length of this path at the start of `rest` in any spelling (either separator, one per
    /// step, any case), when it ends at a boundary: the end, a separator, or a non-path character.
    fn match_at(&self, rest: &str) -> Option<usize> {
        let mut chars = rest.chars();
        if !chars.next().is_some_and(|d| d.eq_ignore_ascii_case(&self.drive)) || chars.next() != Some(':') {
            return None;
        }
        let mut pos = 2;
        for part in &self.parts {
            if !rest[pos..].starts_with(is_sep) {
                return None;
            }
            pos += 1;
            let mut text = rest[pos..].chars();
            for want in part.chars() {
                let got = text.next().filter(|&g| same_ignoring_case(g, want))?;
                pos += got.len_utf8();
            }
        }
        let after = rest[pos..].chars().next();
        after.is_none_or(|a| is_sep(a) || !is_win_path_char(a)).then_some(pos)
    }
}

/// A master path to replace, in the form it is matched in.
pub(super) enum Target<'a> {
    /// Matched literally (case-sensitive), with POSIX path boundaries.
    Posix(&'a str),
    /// Matched in any spelling of a Windows drive path.
    Windows(WinPath<'a>),
}

impl Target<'_> {
    fn len(&self) -> usize {
        match self {
            Target::Posix(p) => p.len(),
            Target::Windows(w) => w.len(),
        }
    }
}

/// The (path, variable) pairs to try, longest path first (`codexHome` wins a tie). A drive path
/// (`C:\...`, `C:/...`, `\\?\C:\...`) becomes a Windows target, anything else a literal one with
/// trailing `/` and `\` trimmed; empty paths and roots (`/`, `C:\`) are left out.
pub(super) fn targets(master: &MasterPaths) -> Vec<(Target<'_>, &str)> {
    let builtin = [(&master.codex_home, "codexHome"), (&master.home, "home")];
    let extra = master.variables.iter().map(|(name, path)| (path, name.as_str()));
    let mut t: Vec<(Target<'_>, &str)> = builtin
        .into_iter()
        .chain(extra)
        .filter_map(|(p, var)| match WinPath::parse(p) {
            Some(w) => (!w.is_root()).then_some((Target::Windows(w), var)),
            None => {
                let p = p.trim_end_matches(['/', '\\']);
                (!p.is_empty()).then_some((Target::Posix(p), var))
            }
        })
        .collect();
    t.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    t
}

/// A master path found at the current position.
pub(super) struct Hit<'a> {
    /// `home`, `codexHome` or a master path variable.
    pub(super) var: &'a str,
    /// Bytes of the input taken, the verbatim prefix included.
    pub(super) len: usize,
    /// Written as `\\?\C:\...`: the prefix is kept before the variable.
    pub(super) verbatim: bool,
    /// A Windows target: the path text after it gets `/` separators.
    pub(super) windows: bool,
}

/// The first target at the start of `rest` (`done` is the text before it, `prev` its last char).
pub(super) fn find_hit<'a>(
    targets: &[(Target<'_>, &'a str)],
    done: &str,
    rest: &str,
    prev: Option<char>,
) -> Option<Hit<'a>> {
    let free = |path_char: fn(char) -> bool| prev.is_none_or(|p| !path_char(p) && p != '$');
    targets.iter().find_map(|(t, var)| match t {
        // `\\?\${var}` is reserved for a Windows verbatim path (a POSIX follower drops the `\\?\`).
        Target::Posix(p) if free(is_path_char) && !done.ends_with(VERBATIM) => rest
            .strip_prefix(p)
            .is_some_and(|after| after.chars().next().is_none_or(|a| a == '/' || !is_path_char(a)))
            .then_some(Hit {
                var,
                len: p.len(),
                verbatim: false,
                windows: false,
            }),
        Target::Windows(w) if free(is_win_path_char) => {
            let verbatim = rest.starts_with(VERBATIM);
            let skip = if verbatim { VERBATIM.len() } else { 0 };
            w.match_at(&rest[skip..]).map(|n| Hit {
                var,
                len: skip + n,
                verbatim,
                windows: true,
            })
        }
        _ => None,
    })
}

/// Byte length of the leading run of run characters of `s` (the path text after a variable).
pub(super) fn run_len(s: &str) -> usize {
    s.find(|c: char| !is_run_char(c)).unwrap_or(s.len())
}

/// Appends `run` to `out` with every `\` and `/` replaced by `sep`.
pub(super) fn push_with_sep(out: &mut String, run: &str, sep: char) {
    out.extend(run.chars().map(|c| if is_sep(c) { sep } else { c }));
}

/// Whether, on a follower of `style`, the separators after `${name}` (value `value`) are
/// converted: on Windows for `home`, `codexHome` and any value that is an absolute Windows path.
pub(super) fn converts_after(style: PathStyle, name: &str, value: &str) -> bool {
    style == PathStyle::Windows && (matches!(name, "home" | "codexHome") || is_windows_absolute(value))
}

/// The text for a variable written as `\\?\${name}`, replacing the `\\?\` already written.
///
/// POSIX: the prefix is dropped, the value inserted as it is. Windows: a value that already is
/// verbatim (`\\?\`) or a device path (`\\.\`) is inserted as it is; a UNC value
/// `\\server\share\x` becomes `\\?\UNC\server\share\x`; a drive value keeps the prefix and gets
/// `\` separators; anything else keeps the prefix and is inserted as it is.
pub(super) fn verbatim_value(style: PathStyle, value: &str) -> Cow<'_, str> {
    match style {
        PathStyle::Posix => Cow::Borrowed(value),
        PathStyle::Windows if value.starts_with(VERBATIM) || value.starts_with(r"\\.\") => Cow::Borrowed(value),
        PathStyle::Windows if value.starts_with(r"\\") => {
            Cow::Owned(format!(r"{VERBATIM}UNC\{}", value[2..].replace('/', r"\")))
        }
        PathStyle::Windows if is_windows_absolute(value) => {
            Cow::Owned(format!("{VERBATIM}{}", value.replace('/', r"\")))
        }
        PathStyle::Windows => Cow::Owned(format!("{VERBATIM}{value}")),
    }
}
