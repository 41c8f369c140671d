//! Where things live: `HOME`, `CODEX_HOME` and `CODEXPORT_HOME` resolved once per command.
//!
//! Rules from CODEX-FACTS.md "CODEX_HOME": `CODEX_HOME` when set and non-empty, otherwise
//! `~/.codex`. `CODEXPORT_HOME` defaults to `~/.codexport`.
//!
//! Codex itself refuses a `CODEX_HOME` that does not exist, but codexport is how a new machine
//! gets its `~/.codex`: a missing one is not an error here, and the first apply creates it
//! (mode 0700, in `reconcile::run`, through the `Host`). Something that exists and is not a directory is.

use std::path::{Path, PathBuf};

/// Errors resolving the three roots.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `HOME` (nor `USERPROFILE` on Windows) is set.
    #[error("HOME is not set: codexport needs it to find ~/.codex and ~/.codexport")]
    NoHome,
    /// The Codex home exists and is not a directory (nor a symlink to one).
    #[error("{0} (CODEX_HOME) exists and is not a directory")]
    CodexHomeNotDir(PathBuf),
}

impl crate::exit::ExitStatus for PathsError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Usage
    }
    fn hint(&self) -> Option<String> {
        match self {
            PathsError::NoHome => Some("set HOME to your home directory".into()),
            PathsError::CodexHomeNotDir(p) => Some(format!(
                "move {} aside, or point CODEX_HOME at a directory",
                p.display()
            )),
        }
    }
}

/// The three absolute roots every command works with.
#[derive(Debug, Clone)]
pub struct Roots {
    /// The user's home directory (`${home}` in portable documents).
    pub home: PathBuf,
    /// Codex's home (`${codexHome}`), `~/.codex` unless `CODEX_HOME` is set.
    pub codex_home: PathBuf,
    /// codexport's own state, `~/.codexport` unless `CODEXPORT_HOME` is set.
    pub codexport_home: PathBuf,
}

impl Roots {
    /// Resolve from the process environment.
    ///
    /// A missing Codex home is fine (see the module doc); nothing is created here.
    ///
    /// Errors: [`PathsError::NoHome`]; [`PathsError::CodexHomeNotDir`] when the Codex home
    /// exists and is not a directory.
    pub fn from_env() -> Result<Self, PathsError> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME").or_else(|| var("USERPROFILE")).ok_or(PathsError::NoHome)?;
        let codex_home = var("CODEX_HOME").unwrap_or_else(|| home.join(".codex"));
        if codex_home.exists() && !codex_home.is_dir() {
            return Err(PathsError::CodexHomeNotDir(codex_home));
        }
        let codexport_home = var("CODEXPORT_HOME").unwrap_or_else(|| home.join(".codexport"));
        Ok(Roots {
            home: absolute(&home),
            codex_home: absolute(&codex_home),
            codexport_home: absolute(&codexport_home),
        })
    }

    /// `$CODEXPORT_HOME/master`, the master's state directory.
    pub fn master_dir(&self) -> PathBuf {
        self.codexport_home.join("master")
    }
}

/// Make a path absolute against the current directory without touching the disk, without a
/// trailing slash (`CODEX_HOME=/h/.codex/` would otherwise render `${codexHome}/x` as
/// `/h/.codex//x`, which no longer matches Codex's trust keys; found by fuzzing).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .components()
        .collect()
}
