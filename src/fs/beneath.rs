//! [`Beneath`]: files opened under a directory without following a link below it.

use std::path::Path;

/// A directory under which files are opened for reading without following a symbolic link
/// anywhere below it (the directory itself may be one, like a `~/.codex` that points
/// elsewhere).
///
/// Why: the master serves published files straight from `CODEX_HOME`; a link put in place of
/// a published path, or of a directory on its way, after the publish must not make it serve a
/// file from somewhere else.
///
/// On Linux the directory is opened once and each file with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS)`: the kernel refuses a link on the way, with no window between check
/// and open, and only the relative part of each path is walked. Elsewhere, or on kernels older
/// than 5.6, every directory on the way is checked with `lstat` and the file opened with
/// `O_NOFOLLOW` where there is one.
pub struct Beneath {
    root: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    dir: Option<std::os::fd::OwnedFd>,
}

impl Beneath {
    /// Files under `root` (opened now on Linux; a failure there falls back to path checks, so
    /// the errors of [`Beneath::open`] still name the path).
    pub fn new(root: &Path) -> Self {
        Beneath {
            root: root.to_path_buf(),
            #[cfg(target_os = "linux")]
            dir: rustix::fs::open(
                root,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok(),
        }
    }

    /// The root given to [`Beneath::new`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Open the regular file `rel` (a validated relative path: `/`-separated, no `..`; see
    /// `model::relpath`) for reading, with its metadata taken through the open descriptor.
    ///
    /// Errors: `InvalidInput` naming the path when `rel` is not normalised, a component is a
    /// link or not a directory, or the file is not a regular file; otherwise the I/O error of
    /// the open, naming the path.
    pub fn open(&self, rel: &str) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
        let path = self.root.join(rel);
        if rel
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(refuse(&path, "not a normalised relative path"));
        }
        let file = match self.open_in_kernel(rel) {
            Some(Ok(file)) => file,
            Some(Err(e)) if is_link_refusal(&e) => return Err(refuse(&path, "a link on the way")),
            Some(Err(e)) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("opening {}: {e}", path.display()),
                ));
            }
            None => self.open_checking_each_directory(rel, &path)?,
        };
        let meta = file
            .metadata()
            .map_err(|e| std::io::Error::new(e.kind(), format!("reading the metadata of {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(refuse(&path, "not a regular file"));
        }
        Ok((file, meta))
    }

    /// `openat2` beneath the open directory; `None` when there is none or the kernel lacks it.
    fn open_in_kernel(&self, rel: &str) -> Option<std::io::Result<std::fs::File>> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags, ResolveFlags};
            let dir = self.dir.as_ref()?;
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(
                dir,
                rel,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                how,
            ) {
                Err(rustix::io::Errno::NOSYS) => None,
                r => Some(r.map(std::fs::File::from).map_err(std::io::Error::from)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = rel;
            None
        }
    }

    fn open_checking_each_directory(&self, rel: &str, path: &Path) -> std::io::Result<std::fs::File> {
        let mut at = self.root.clone();
        let mut parts = rel.split('/').peekable();
        while let Some(part) = parts.next() {
            at.push(part);
            if parts.peek().is_some() && !fs_err::symlink_metadata(&at)?.is_dir() {
                return Err(refuse(&at, "not a directory (a link or a file)"));
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        #[cfg(not(unix))]
        if fs_err::symlink_metadata(path)?.is_symlink() {
            return Err(refuse(path, "a link"));
        }
        options.open(path).map_err(|e| {
            if is_link_refusal(&e) {
                refuse(path, "a link")
            } else {
                std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
            }
        })
    }
}

fn refuse(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{}: {what}, refused", path.display()),
    )
}

/// True for what `open` with `O_NOFOLLOW` answers when the last component is a link (ELOOP),
/// and `openat2` for a link or an escape on the way (ELOOP, EXDEV).
fn is_link_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return [rustix::io::Errno::LOOP, rustix::io::Errno::XDEV]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()));
    #[cfg(not(unix))]
    return {
        let _ = e;
        false
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    type Open = dyn Fn(&Path, &str) -> std::io::Result<(std::fs::File, std::fs::Metadata)>;

    #[test]
    fn beneath_opens_files_and_refuses_links_on_the_way() {
        let in_kernel = |root: &Path, rel: &str| Beneath::new(root).open(rel);
        // The path-checking fallback (other systems, kernels without openat2).
        let checking = |root: &Path, rel: &str| {
            #[allow(unused_mut)]
            let mut beneath = Beneath::new(root);
            #[cfg(target_os = "linux")]
            {
                beneath.dir = None;
            }
            beneath.open(rel)
        };
        for open in [&in_kernel as &Open, &checking as &Open] {
            check_beneath(open);
        }
    }

    fn check_beneath(open_beneath: &Open) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs_err::create_dir_all(root.join("skills/a")).unwrap();
        fs_err::write(root.join("skills/a/SKILL.md"), "hello").unwrap();
        let (_, meta) = open_beneath(&root, "skills/a/SKILL.md").unwrap();
        assert_eq!(meta.len(), 5);

        let outside = dir.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::write(outside.join("secret"), "s").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.join("secret"), root.join("skills/a/link.md")).unwrap();
            std::os::unix::fs::symlink(&outside, root.join("skills/b")).unwrap();
            for rel in ["skills/a/link.md", "skills/b/secret"] {
                let err = open_beneath(&root, rel).unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{rel}: {err}");
                assert!(err.to_string().contains("refused"), "{err}");
            }
            // The root itself may be a link.
            std::os::unix::fs::symlink(&root, dir.path().join("via-link")).unwrap();
            assert!(open_beneath(&dir.path().join("via-link"), "skills/a/SKILL.md").is_ok());
        }
        for rel in [
            "skills/../skills/a/SKILL.md",
            "/etc/passwd",
            "skills//a/SKILL.md",
            "skills/a",
        ] {
            assert!(open_beneath(&root, rel).is_err(), "{rel}");
        }
        let missing = open_beneath(&root, "skills/a/none.md").unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("none.md"), "{missing}");
    }
}
