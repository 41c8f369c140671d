//! Scan the master's CODEX_HOME: what to publish, what was left out and why.
//!
//! Symlinks are never followed (they are reported, not copied), runtime state is never
//! published, a file over [`MAX_FILE_BYTES`] stops the scan with its name.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

use crate::codex::layout::{classify, is_runtime_state};
use crate::model::FileClass;
use crate::model::wire::MAX_FILE_BYTES;

use super::settings::MasterSettings;

/// One file to publish.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// Relative to CODEX_HOME, `/`-separated.
    pub rel: String,
    /// Absolute path on the master.
    pub abs: PathBuf,
    /// Size in bytes at scan time.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Class by location.
    pub class: FileClass,
    /// mtime, ctime and inode at scan time (the stat cache key, with `size`).
    pub stamp: FileStamp,
}

/// What identifies a version of a file without reading it: mtime and ctime in nanoseconds
/// since the Unix epoch, and the inode (0 where the platform has none). ctime catches a
/// rewrite that restored the old mtime; the inode catches a file replaced by a rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStamp {
    /// Modification time, ns since the epoch.
    pub mtime_ns: i128,
    /// Status change time, ns since the epoch (mtime where the platform has none).
    pub ctime_ns: i128,
    /// Inode number.
    pub ino: u64,
}

impl FileStamp {
    /// The stamp and size of `path` (symlinks followed).
    ///
    /// Errors: the `stat` error, naming the path.
    pub fn of_path(path: &Path) -> std::io::Result<(FileStamp, u64)> {
        let meta = fs_err::metadata(path)?;
        Ok((FileStamp::of(&meta), meta.len()))
    }

    /// The stamp of already-read metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileStamp {
                mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
                ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            FileStamp {
                mtime_ns,
                ctime_ns: mtime_ns,
                ino: 0,
            }
        }
    }
}

/// What a scan found.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    /// Files to publish, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Symlinks found under included paths (relative paths); not followed, not published.
    pub symlinks: Vec<String>,
    /// Codex runtime state found and left out (top-level names, and SQLite files at any depth).
    pub runtime_skipped: Vec<String>,
    /// Top-level entries of CODEX_HOME that `include` does not cover (not published; add them
    /// to `include` in master.toml to publish them).
    pub not_included: Vec<String>,
    /// Sockets, FIFOs and other non-regular files left out.
    pub special_skipped: Vec<String>,
    /// Files left out by `exclude` patterns (relative paths, sorted). A list, not a count, so
    /// [`super::rescan`] can take out the ones under a changed directory.
    pub excluded: Vec<String>,
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file is over the size cap.
    #[error("{rel} is {size} bytes, over the {MAX_FILE_BYTES}-byte (64 MiB) cap for published files")]
    TooLarge {
        /// The file, relative to CODEX_HOME (`/`-separated), as `exclude` patterns match it.
        rel: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A file name is not UTF-8 (documents carry UTF-8 paths).
    #[error("{} has a name that is not UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// An exclude pattern is not a valid glob.
    #[error("exclude pattern {pattern:?} in master.toml is not a valid glob: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Walking the tree failed.
    #[error("reading {}: {source}", path.display())]
    Walk {
        /// Where.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl crate::exit::ExitStatus for ScanError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            ScanError::TooLarge { .. } | ScanError::BadPattern { .. } | ScanError::NotUtf8 { .. } => {
                crate::exit::Exit::Usage
            }
            ScanError::Walk { .. } => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ScanError::TooLarge { rel, .. } => Some(format!(
                "add {rel:?} (or a pattern matching it) to `exclude` in $CODEXPORT_HOME/master/master.toml, then run `codexport master rebuild`"
            )),
            ScanError::NotUtf8 { path } => Some(format!(
                "rename {} or add a pattern matching it to `exclude` in $CODEXPORT_HOME/master/master.toml, then run `codexport master rebuild`",
                path.display()
            )),
            _ => None,
        }
    }
}

/// Scan `codex_home` according to `settings`.
///
/// Directories are read in parallel (rayon's global pool) and each entry is `lstat`ed relative
/// to its open directory (`DirEntry::metadata`, `fstatat` on Linux), not through its whole
/// path: a 10k-file tree costs 10k short lookups instead of 10k full path walks. The lists in
/// the report are sorted by path, so the result does not depend on the order threads finish.
pub fn scan(codex_home: &Path, settings: &MasterSettings) -> Result<ScanReport, ScanError> {
    let exclude = build_globs(&settings.exclude)?;
    let mut report = ScanReport::default();
    for entry in &settings.include {
        scan_root(codex_home, entry, &exclude, &mut report)?;
    }
    list_top_level(codex_home, settings, &mut report)?;
    report.normalise();
    Ok(report)
}

/// Everything under the `include` entry `entry` (a file or a directory, with or without its
/// trailing `/`) into `report`. The root itself is never followed: a symlinked `skills` is
/// reported, not published. A missing root, an empty entry or runtime state add nothing.
pub(super) fn scan_root(
    codex_home: &Path,
    entry: &str,
    exclude: &GlobSet,
    report: &mut ScanReport,
) -> Result<(), ScanError> {
    let rel_root = entry.trim_end_matches('/');
    if rel_root.is_empty() || is_runtime_state(rel_root) {
        return Ok(());
    }
    let root = codex_home.join(rel_root);
    let meta = match fs_err::symlink_metadata(&root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ScanError::Walk { path: root, source: e }),
    };
    let rel = relative(codex_home, &root)?;
    if meta.is_dir() {
        report.merge(walk_dir(&root, &rel, exclude)?);
        Ok(())
    } else {
        visit(rel, root, meta.file_type(), || Ok(meta), exclude, report)
    }
}

impl ScanReport {
    /// Sort every list by path and drop duplicates (overlapping `include` entries).
    pub(super) fn normalise(&mut self) {
        self.files.sort_by(|a, b| a.rel.cmp(&b.rel));
        self.files.dedup_by(|a, b| a.rel == b.rel);
        for list in [
            &mut self.symlinks,
            &mut self.runtime_skipped,
            &mut self.special_skipped,
            &mut self.excluded,
            &mut self.not_included,
        ] {
            list.sort();
            list.dedup();
        }
    }

    pub(super) fn merge(&mut self, other: ScanReport) {
        self.files.extend(other.files);
        self.symlinks.extend(other.symlinks);
        self.runtime_skipped.extend(other.runtime_skipped);
        self.not_included.extend(other.not_included);
        self.special_skipped.extend(other.special_skipped);
        self.excluded.extend(other.excluded);
    }
}

/// Everything under the directory `abs` (relative path `rel`), subdirectories in parallel.
pub(super) fn walk_dir(abs: &Path, rel: &str, exclude: &GlobSet) -> Result<ScanReport, ScanError> {
    let walk_err = |path: &Path, source: std::io::Error| ScanError::Walk {
        path: path.to_path_buf(),
        source,
    };
    let mut report = ScanReport::default();
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(abs).map_err(|e| walk_err(abs, e))? {
        let entry = entry.map_err(|e| walk_err(abs, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(ScanError::NotUtf8 { path });
        };
        let file_type = entry.file_type().map_err(|e| walk_err(&path, e))?;
        let child = format!("{rel}/{name}");
        if file_type.is_dir() && is_runtime_state(&child) {
            // Not walked: `skills/.system/` is Codex's own, thousands of files in one line.
            report.runtime_skipped.push(child);
            continue;
        }
        if file_type.is_dir() {
            subdirs.push((path, child));
            continue;
        }
        let meta = || entry.metadata().map_err(|e| walk_err(&path, e));
        visit(child, path.clone(), file_type, meta, exclude, &mut report)?;
    }
    let nested: Result<Vec<ScanReport>, ScanError> = subdirs
        .par_iter()
        .map(|(path, child)| walk_dir(path, child, exclude))
        .collect();
    for found in nested? {
        report.merge(found);
    }
    Ok(report)
}

/// Record top-level entries that are runtime state or not covered by `include`.
pub(super) fn list_top_level(
    codex_home: &Path,
    settings: &MasterSettings,
    report: &mut ScanReport,
) -> Result<(), ScanError> {
    let entries = match fs_err::read_dir(codex_home) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ScanError::Walk {
                path: codex_home.to_path_buf(),
                source: e,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    for name in names {
        let included = settings.include.iter().any(|i| {
            let i = i.trim_end_matches('/');
            i == name || i.starts_with(&format!("{name}/"))
        });
        if is_runtime_state(&name) {
            report.runtime_skipped.push(name);
        } else if !included {
            report.not_included.push(name);
        }
    }
    Ok(())
}

/// One non-directory entry: left out (and why), or a file to publish. `meta` is called only
/// for regular files that are published (the only ones whose size and stamp matter).
pub(super) fn visit(
    rel: String,
    abs: PathBuf,
    file_type: std::fs::FileType,
    meta: impl FnOnce() -> Result<std::fs::Metadata, ScanError>,
    exclude: &GlobSet,
    report: &mut ScanReport,
) -> Result<(), ScanError> {
    if exclude.is_match(&rel) {
        report.excluded.push(rel);
        return Ok(());
    }
    if is_runtime_state(&rel) {
        report.runtime_skipped.push(rel);
        return Ok(());
    }
    if file_type.is_symlink() {
        report.symlinks.push(rel);
        return Ok(());
    }
    if !file_type.is_file() {
        report.special_skipped.push(rel);
        return Ok(());
    }
    let meta = meta()?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ScanError::TooLarge { rel, size: meta.len() });
    }
    report.files.push(ScannedFile {
        class: classify(&rel),
        size: meta.len(),
        mode: crate::fs::mode_of(&meta),
        stamp: FileStamp::of(&meta),
        abs,
        rel,
    });
    Ok(())
}

pub(super) fn relative(codex_home: &Path, abs: &Path) -> Result<String, ScanError> {
    let rel = abs.strip_prefix(codex_home).unwrap_or(abs);
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    parts.map(|p| p.join("/")).ok_or_else(|| ScanError::NotUtf8 {
        path: abs.to_path_buf(),
    })
}

/// The `exclude` patterns of master.toml as one glob set (`dir/` means `dir/**`).
///
/// Errors: [`ScanError::BadPattern`] naming the pattern.
pub(super) fn build_globs(patterns: &[String]) -> Result<GlobSet, ScanError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let expanded = match pattern.strip_suffix('/') {
            Some(dir) => format!("{dir}/**"),
            None => pattern.clone(),
        };
        let glob = Glob::new(&expanded).map_err(|e| ScanError::BadPattern {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| ScanError::BadPattern {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, body).unwrap();
    }

    #[test]
    fn includes_config_skips_runtime_symlinks_and_excluded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "config.toml", "a = 1");
        touch(root, "skills/a/SKILL.md", "x");
        touch(root, "skills/a/.git/HEAD", "x");
        touch(root, "skills/a/db.sqlite", "x");
        touch(root, "sessions/x.jsonl", "x");
        touch(root, "random.txt", "not included");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", root.join("skills/a/link")).unwrap();
        let mut settings = MasterSettings::default();
        settings.include.push("sessions/".into());
        let report = scan(root, &settings).unwrap();
        let rels: Vec<&str> = report.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["config.toml", "skills/a/SKILL.md"]);
        assert_eq!(report.excluded, ["skills/a/.git/HEAD"]);
        assert_eq!(report.runtime_skipped, ["sessions", "skills/a/db.sqlite"]);
        assert_eq!(report.not_included, ["random.txt"]);
        #[cfg(unix)]
        assert_eq!(report.symlinks, ["skills/a/link"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_include_root_is_reported_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (home, elsewhere) = (dir.path().join("home"), dir.path().join("elsewhere"));
        touch(&elsewhere, "a/SKILL.md", "outside CODEX_HOME");
        touch(&home, "AGENTS.md", "x");
        touch(&home, "prompts/b/c/deep.md", "x");
        std::os::unix::fs::symlink(&elsewhere, home.join("skills")).unwrap();
        let report = scan(&home, &MasterSettings::default()).unwrap();
        let rels: Vec<&str> = report.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["AGENTS.md", "prompts/b/c/deep.md"]);
        assert_eq!(report.symlinks, ["skills"]);
    }

    #[test]
    fn a_file_over_the_cap_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("AGENTS.md");
        let f = fs_err::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = scan(dir.path(), &MasterSettings::default()).unwrap_err();
        assert!(err.to_string().starts_with("AGENTS.md is "), "{err}");
        assert!(matches!(err, ScanError::TooLarge { .. }));
        let hint = crate::exit::ExitStatus::hint(&err).unwrap();
        assert!(hint.starts_with("add \"AGENTS.md\" "), "{hint}");
        assert!(
            !hint.contains(dir.path().to_str().unwrap()),
            "relative, not absolute: {hint}"
        );
    }
}
