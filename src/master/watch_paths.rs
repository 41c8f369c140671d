//! What the watcher of `master serve` listens to ([`WatchSet`]) and which events count
//! ([`Filter`]): the same include, exclude and runtime-state rules as [`super::scan`], so
//! Codex's own writes on the master (sessions, history, logs, SQLite) never cause a publish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode};

use crate::codex::layout::is_runtime_state;
use crate::paths::Roots;

use super::settings::{FILE_NAME as SETTINGS_FILE, MasterSettings};

/// Decides whether a file-system event may change what a publish would produce.
pub(super) struct Filter {
    /// CODEX_HOME as given and, where it differs, with symlinks resolved (macOS reports
    /// `/private/var/...` for `/var/...`).
    codex_homes: Vec<PathBuf>,
    /// master.toml, the same two ways.
    settings_files: Vec<PathBuf>,
    /// `include` entries without their trailing `/`; `None` when master.toml could not be
    /// read, and then every non-runtime path under CODEX_HOME counts.
    include: Option<Vec<String>>,
    exclude: GlobSet,
}

fn with_resolved(path: PathBuf) -> Vec<PathBuf> {
    let resolved = path.parent().and_then(|parent| {
        let name = path.file_name()?;
        Some(fs_err::canonicalize(parent).ok()?.join(name))
    });
    match resolved {
        Some(r) if r != path => vec![path, r],
        _ => vec![path],
    }
}

/// Where an event path is, for the publish that follows.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ChangedPath {
    /// master.toml.
    Settings,
    /// This path below CODEX_HOME (relative, `/`-separated).
    Rel(String),
    /// CODEX_HOME itself, a name that is not UTF-8, or somewhere else: scan everything.
    Unknown,
}

impl Filter {
    /// Where `path` (from an event) is: master.toml, a path below CODEX_HOME, or unknown.
    pub(super) fn changed_path(&self, path: &Path) -> ChangedPath {
        if self.settings_files.iter().any(|f| f == path) {
            return ChangedPath::Settings;
        }
        let Some(rel) = self.codex_homes.iter().find_map(|h| path.strip_prefix(h).ok()) else {
            return ChangedPath::Unknown;
        };
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        match parts {
            Some(parts) if !parts.is_empty() && !parts.iter().any(|p| matches!(*p, "." | ".." | "/")) => {
                ChangedPath::Rel(parts.join("/"))
            }
            _ => ChangedPath::Unknown,
        }
    }

    /// The filter for `settings` (`None`: master.toml is unreadable right now).
    pub(super) fn new(roots: &Roots, settings: Option<&MasterSettings>) -> Self {
        let include = settings.map(|s| {
            s.include
                .iter()
                .map(|i| i.trim_end_matches('/').to_string())
                .filter(|i| !i.is_empty())
                .collect()
        });
        // A bad pattern stops the publish itself (with its name); until it is fixed, count more.
        let exclude = settings
            .and_then(|s| super::scan::build_globs(&s.exclude).ok())
            .unwrap_or_else(GlobSet::empty);
        Filter {
            codex_homes: with_resolved(roots.codex_home.clone()),
            settings_files: with_resolved(roots.master_dir())
                .into_iter()
                .map(|d| d.join(SETTINGS_FILE))
                .collect(),
            include,
            exclude,
        }
    }

    /// True when `event` may change the published document. Reads (open, close without
    /// writing) never count: a publish reads every file it publishes.
    pub(super) fn relevant(&self, event: &Event) -> bool {
        if event.need_rescan() {
            return true;
        }
        match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return false,
            _ => {}
        }
        event.paths.iter().any(|p| self.relevant_path(p))
    }

    fn relevant_path(&self, path: &Path) -> bool {
        if self.settings_files.iter().any(|f| f == path) {
            return true;
        }
        let Some(rel) = self.codex_homes.iter().find_map(|h| path.strip_prefix(h).ok()) else {
            return false;
        };
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        match parts {
            Some(parts) if parts.is_empty() => false,
            Some(parts) => {
                let rel = parts.join("/");
                // A directory all of whose contents are excluded (`skills/x/node_modules`
                // under `**/node_modules/**`) counts as excluded too.
                let excluded_dir = || {
                    self.exclude.is_match(format!("{rel}/")) && fs_err::symlink_metadata(path).is_ok_and(|m| m.is_dir())
                };
                self.relevant_rel(&rel) && !excluded_dir()
            }
            // Not UTF-8: the scan refuses it by name, so a publish has something to say.
            None => true,
        }
    }

    /// `rel` is relative to CODEX_HOME, `/`-separated.
    pub(super) fn relevant_rel(&self, rel: &str) -> bool {
        if is_runtime_state(rel) || self.exclude.is_match(rel) {
            return false;
        }
        let Some(include) = &self.include else {
            return true;
        };
        // Inside an included path, or an ancestor of one (a directory created or renamed).
        include.iter().any(|i| {
            let inside = rel == i || rel.strip_prefix(i.as_str()).is_some_and(|r| r.starts_with('/'));
            let ancestor = i.strip_prefix(rel).is_some_and(|r| r.starts_with('/'));
            inside || ancestor
        })
    }
}

/// The directories to watch for `roots` and `settings`: path -> recursive. CODEX_HOME and the
/// master directory non-recursively (top-level files, master.toml), every existing included
/// directory recursively, and the existing ancestors of included paths non-recursively, so a
/// directory that appears later is seen. Symlinked directories are not watched (the scan does
/// not follow them either). Runtime state (`sessions/`, `log/`...) is never watched.
pub(super) fn desired(roots: &Roots, settings: Option<&MasterSettings>) -> BTreeMap<PathBuf, bool> {
    let is_dir = |p: &Path| fs_err::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let mut out = BTreeMap::new();
    out.insert(roots.master_dir(), false);
    out.insert(roots.codex_home.clone(), false);
    let include = settings.map(|s| s.include.clone()).unwrap_or_default();
    for entry in &include {
        let rel = entry.trim_end_matches('/');
        if rel.is_empty() || is_runtime_state(rel) {
            continue;
        }
        let mut path = roots.codex_home.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for (n, part) in parts.iter().enumerate() {
            path.push(part);
            if !is_dir(&path) {
                break;
            }
            let last = n + 1 == parts.len();
            let recursive = out.get(&path).copied().unwrap_or(false) || last;
            out.insert(path.clone(), recursive);
        }
    }
    // Drop what a recursive watch above already covers.
    let recursive: Vec<PathBuf> = out.iter().filter(|(_, r)| **r).map(|(p, _)| p.clone()).collect();
    out.retain(|p, _| !recursive.iter().any(|top| p != top && p.starts_with(top)));
    out
}

/// Identifies a directory so a swapped one (`mv new skills`) is watched again: device and
/// inode where the platform has them.
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    let meta = fs_err::symlink_metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0))
    }
}

/// The watches in place: path -> (recursive, directory identity when watched).
#[derive(Default)]
pub(super) struct WatchSet {
    current: BTreeMap<PathBuf, (bool, Option<(u64, u64)>)>,
}

impl WatchSet {
    /// Make the watches match `desired`: unwatch what is gone or was replaced, watch what is
    /// new. Returns one message per path that could not be watched (the rest still work).
    pub(super) fn refresh(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        desired: &BTreeMap<PathBuf, bool>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let stale: Vec<PathBuf> = self
            .current
            .iter()
            .filter(|(path, (recursive, id))| desired.get(*path) != Some(recursive) || dir_id(path) != *id)
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            // Already gone when the directory was removed: nothing to undo.
            let _ = watcher.unwatch(&path);
            self.current.remove(&path);
        }
        for (path, recursive) in desired {
            if self.current.contains_key(path) {
                continue;
            }
            let id = dir_id(path);
            let mode = if *recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match watcher.watch(path, mode) {
                Ok(()) => {
                    self.current.insert(path.clone(), (*recursive, id));
                }
                Err(e) => problems.push(format!("cannot watch {}: {e}", path.display())),
            }
        }
        problems
    }

    /// How many directories are watched (recursive ones count once).
    pub(super) fn len(&self) -> usize {
        self.current.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn roots(dir: &Path) -> Roots {
        Roots {
            home: dir.to_path_buf(),
            codex_home: dir.join(".codex"),
            codexport_home: dir.join(".codexport"),
        }
    }

    fn settings(include: &[&str]) -> MasterSettings {
        MasterSettings {
            include: include.iter().map(|s| s.to_string()).collect(),
            ..MasterSettings::default()
        }
    }

    #[test]
    fn only_included_non_runtime_non_excluded_writes_count() {
        let dir = tempfile::tempdir().unwrap();
        let roots = roots(dir.path());
        let s = settings(&["config.toml", "skills/", "agents/reviewer.toml", "sessions/"]);
        let filter = Filter::new(&roots, Some(&s));
        for rel in [
            "config.toml",
            "skills",
            "skills/a/SKILL.md",
            "agents",
            "agents/reviewer.toml",
        ] {
            assert!(filter.relevant_rel(rel), "{rel}");
        }
        for rel in [
            "config.toml.swp",
            "history.jsonl",
            "sessions/2026/x.jsonl",
            "state_5.sqlite-wal",
            "skills/a/.git/HEAD",
            "skills/a/db.sqlite",
            "agents/other.toml",
            "notes.txt",
        ] {
            assert!(!filter.relevant_rel(rel), "{rel}");
        }
        // master.toml lives outside CODEX_HOME; nothing else there counts.
        let event = |kind, path: PathBuf| Event::new(kind).add_path(path);
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(filter.relevant(&event(modify, roots.master_dir().join("master.toml"))));
        assert!(!filter.relevant(&event(modify, roots.master_dir().join("state.yaml"))));
        // Reads never count (a publish reads every file); a close after writing does.
        let config = roots.codex_home.join("config.toml");
        assert!(!filter.relevant(&event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            config.clone()
        )));
        assert!(!filter.relevant(&event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            config.clone()
        )));
        assert!(filter.relevant(&event(EventKind::Access(AccessKind::Close(AccessMode::Write)), config)));
        // A new directory whose contents are all excluded does not count.
        let modules = roots.codex_home.join("skills/a/node_modules");
        fs_err::create_dir_all(&modules).unwrap();
        assert!(!filter.relevant(&event(EventKind::Create(CreateKind::Folder), modules)));
        // Unreadable settings: everything under CODEX_HOME but runtime state counts.
        let blind = Filter::new(&roots, None);
        assert!(blind.relevant_rel("notes.txt") && !blind.relevant_rel("log/x.log"));
    }

    #[test]
    fn watches_included_directories_and_the_ancestors_of_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let roots = roots(dir.path());
        for d in ["skills/a", "sessions/2026", "extra", "prompts"] {
            fs_err::create_dir_all(roots.codex_home.join(d)).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(roots.codex_home.join("prompts"), roots.codex_home.join("rules")).unwrap();
        let s = settings(&[
            "config.toml",
            "skills/",
            "skills/a/",
            "sessions/",
            "extra/deep/",
            "rules/",
        ]);
        let got: Vec<(String, bool)> = desired(&roots, Some(&s))
            .into_iter()
            .map(|(p, r)| (p.strip_prefix(dir.path()).unwrap().display().to_string(), r))
            .collect();
        let want = [
            (".codex", false),
            (".codex/extra", false),
            (".codex/skills", true),
            (".codexport/master", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(p, r)| (p.to_string(), *r)).collect();
        assert_eq!(got, want, "no runtime state, no symlink, nothing twice");
    }
}
