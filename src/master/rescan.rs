//! The incremental scan of `master serve`'s watcher: the previous [`ScanReport`] and the paths
//! that changed since give the report a full [`super::scan::scan`] would give now, reading only
//! those paths (and the top level of CODEX_HOME).
//!
//! Correct when `changed` names every path created, written, removed, renamed (both names) or
//! re-moded since `previous` was taken, or a directory above it: what the watcher's events
//! carry. The watcher falls back to a full scan whenever it cannot vouch for that (an event
//! queue overflow, a watch error, too many paths, new settings). `tests` check the result
//! against a full scan after each kind of change.

use std::collections::HashSet;
use std::path::Path;

use globset::GlobSet;

use crate::codex::layout::is_runtime_state;

use super::scan::{ScanError, ScanReport, build_globs, list_top_level, scan_root, visit, walk_dir};
use super::settings::MasterSettings;

/// A report brought up to date, and whether its set of published paths moved.
#[derive(Debug)]
pub struct Rescanned {
    /// What a full scan would report now.
    pub report: ScanReport,
    /// False when the same paths are published as before (only contents, sizes, stamps or
    /// modes changed): the path checks of the whole set need not run again.
    pub paths_changed: bool,
}

/// Bring `previous` (a full scan of `codex_home` under the same `settings`, or a rescan of one)
/// up to date after changes at or under `changed` (paths relative to CODEX_HOME,
/// `/`-separated). Each changed path is read again: a file is `lstat`ed, a directory walked.
///
/// Errors: as [`super::scan::scan`] (a file over the cap, a name that is not UTF-8, an I/O
/// error naming the path).
pub fn rescan(
    codex_home: &Path,
    settings: &MasterSettings,
    previous: ScanReport,
    changed: &[String],
) -> Result<Rescanned, ScanError> {
    let exclude = build_globs(&settings.exclude)?;
    let roots = outermost(changed);
    let mut report = previous;
    let removed = remove_under(&mut report.files, |f| f.rel.as_str(), &roots);
    let mut removed_paths: Vec<String> = removed.into_iter().map(|f| f.rel).collect();
    for list in [
        &mut report.symlinks,
        &mut report.runtime_skipped,
        &mut report.special_skipped,
        &mut report.excluded,
    ] {
        remove_under(list, String::as_str, &roots);
    }
    // The top level is listed again from scratch (one directory read).
    report.runtime_skipped.retain(|r| r.contains('/'));
    report.not_included.clear();

    let mut found = ScanReport::default();
    for root in &roots {
        for entry in &settings.include {
            let entry = entry.trim_end_matches('/');
            if entry.is_empty() {
                continue;
            }
            if root == entry || is_under(root, entry) {
                scan_inside(codex_home, entry, root, &exclude, &mut found)?;
            } else if is_under(entry, root) {
                scan_root(codex_home, entry, &exclude, &mut found)?;
            }
        }
    }
    let mut added_paths: Vec<String> = found.files.iter().map(|f| f.rel.clone()).collect();
    report.merge(found);
    list_top_level(codex_home, settings, &mut report)?;
    report.normalise();
    removed_paths.sort();
    added_paths.sort();
    added_paths.dedup();
    Ok(Rescanned {
        report,
        paths_changed: removed_paths != added_paths,
    })
}

/// `path` is strictly below `dir`.
fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The changed paths without those below another one, sorted.
fn outermost(changed: &[String]) -> Vec<String> {
    let all: HashSet<&str> = changed.iter().map(|c| c.trim_end_matches('/')).collect();
    let mut out: Vec<String> = all
        .iter()
        .filter(|c| !c.is_empty())
        .filter(|c| !c.match_indices('/').any(|(i, _)| all.contains(&c[..i])))
        .map(|c| c.to_string())
        .collect();
    out.sort();
    out
}

/// Remove from `items` (sorted by `key`) every item at or below one of `roots`; returns them.
/// Binary searches, not a pass per root: the items below `r` are the contiguous run from
/// `r/` up to (not including) `r0` (`0` follows `/` in byte order).
fn remove_under<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &str, roots: &[String]) -> Vec<T> {
    let mut doomed = vec![false; items.len()];
    let mut any = false;
    for root in roots {
        let (below_from, below_to) = (format!("{root}/"), format!("{root}0"));
        let from = items.partition_point(|i| key(i) < root.as_str());
        let to = items.partition_point(|i| key(i) < below_to.as_str());
        for (i, flag) in doomed.iter_mut().enumerate().take(to).skip(from) {
            let k = key(&items[i]);
            if k == root || k.starts_with(&below_from) {
                *flag = true;
                any = true;
            }
        }
    }
    if !any {
        return Vec::new();
    }
    let mut removed = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for (item, doomed) in std::mem::take(items).into_iter().zip(doomed) {
        if doomed { removed.push(item) } else { kept.push(item) }
    }
    *items = kept;
    removed
}

/// `rel` (at or below the `include` entry `entry`) as a full scan would find it: nothing when
/// some directory between the entry and it is not a directory any more (a symlink is never
/// followed, and is reported where it is), else the file or the whole directory.
fn scan_inside(
    codex_home: &Path,
    entry: &str,
    rel: &str,
    exclude: &GlobSet,
    found: &mut ScanReport,
) -> Result<(), ScanError> {
    if rel == entry || is_runtime_state(entry) {
        return scan_root(codex_home, entry, exclude, found);
    }
    let walk_err = |path: &Path, source: std::io::Error| ScanError::Walk {
        path: path.to_path_buf(),
        source,
    };
    // Every directory from the entry down to rel's parent must still be a real directory.
    let mut dir = entry.len();
    while let Some(next) = rel[dir + 1..].find('/') {
        dir += 1 + next;
        if !is_real_dir(&codex_home.join(&rel[..dir])).map_err(|e| walk_err(&codex_home.join(&rel[..dir]), e))? {
            return Ok(());
        }
    }
    if !is_real_dir(&codex_home.join(entry)).map_err(|e| walk_err(&codex_home.join(entry), e))? {
        return Ok(());
    }
    let abs = codex_home.join(rel);
    let meta = match fs_err::symlink_metadata(&abs) {
        Ok(m) => m,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(walk_err(&abs, e)),
    };
    if meta.is_dir() {
        found.merge(walk_dir(&abs, rel, exclude)?);
        Ok(())
    } else {
        visit(rel.to_string(), abs, meta.file_type(), || Ok(meta), exclude, found)
    }
}

/// A directory that is not a symlink; false when missing.
fn is_real_dir(path: &Path) -> std::io::Result<bool> {
    match fs_err::symlink_metadata(path) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if gone(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Not there (any more), or a component of the path is a file now.
fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
#[path = "rescan_tests.rs"]
mod tests;
