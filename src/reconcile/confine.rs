//! Write-time confinement: just before a step writes, removes or creates something under a
//! root, every directory between the root and the target is checked again (the plan checked
//! them when it was made; someone may have swapped a directory for a symlink since). A symlink,
//! file or special file on the way stops the step, so nothing is ever written through a link
//! to somewhere outside `CODEX_HOME` / `CODEXPORT_HOME`.
//!
//! Components above the root are not checked (a home under a symlinked `/home` is fine). This
//! narrows the window to the moment of the write; it is not `openat(O_NOFOLLOW)` per component.

use std::path::{Component, Path};

use super::host::{Host, Observed};

/// Error unless every directory strictly between `root` and `target` is a real directory (or
/// absent). `target` must be under `root`; a path with `..` or outside `root` is refused too.
pub fn check(root: &Path, target: &Path, host: &dyn Host) -> std::io::Result<()> {
    let rel = target
        .strip_prefix(root)
        .map_err(|_| std::io::Error::other(format!("{} is outside {}", target.display(), root.display())))?;
    let parts: Vec<Component<'_>> = rel.components().collect();
    if parts.iter().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(std::io::Error::other(format!(
            "{} is not a plain path under {}",
            target.display(),
            root.display()
        )));
    }
    let mut dir = root.to_path_buf();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        dir.push(part);
        match host.observe(&dir)? {
            Observed::Dir | Observed::Absent => {}
            other => {
                return Err(std::io::Error::other(format!(
                    "{} is a {} now (it was not when the plan was made): refusing to write through it",
                    dir.display(),
                    other.kind()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::host::RealHost;

    #[test]
    fn a_symlinked_directory_on_the_way_stops_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("codex");
        let outside = dir.path().join("outside");
        fs_err::create_dir_all(root.join("skills/a")).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        assert!(check(&root, &root.join("skills/a/SKILL.md"), &RealHost).is_ok());
        assert!(
            check(&root, &root.join("new/dir/file"), &RealHost).is_ok(),
            "absent is fine"
        );
        fs_err::remove_dir_all(root.join("skills")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("skills")).unwrap();
        let err = check(&root, &root.join("skills/a/SKILL.md"), &RealHost).unwrap_err();
        assert!(err.to_string().contains("skills is a symlink now"), "{err}");
        assert!(check(&root, &dir.path().join("elsewhere"), &RealHost).is_err());
        assert!(check(&root, &root.join("a/../../x"), &RealHost).is_err());
        // The root itself may be reached through a symlink.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(check(&link, &link.join("x"), &RealHost).is_ok());
    }
}
