//! Reading what is on disk without being led astray by what was planted there: a symlink is
//! never followed, a FIFO never blocks, a device (`/dev/zero`) is never read, and a file is
//! never read past a cap (issue 20 item 3).

use std::io::Read;
use std::path::Path;

/// The most bytes [`read_regular`] reads from one file unless told otherwise: the inventory of
/// a 220,000-file tree is about 70 MiB; a Codex file is at most 64 MiB (the master's cap).
pub const READ_CAP: u64 = 512 * 1024 * 1024;

/// Read the regular file `path` whole, `None` when it is absent. Opened with `O_NOFOLLOW |
/// O_NONBLOCK` (Unix) and checked on the open descriptor, so nothing can be swapped in between.
///
/// Errors (`InvalidInput`, naming the path and what it is): a symbolic link, a FIFO, socket or
/// device, or more than `cap` bytes; any other I/O error with the path.
pub fn read_regular(path: &Path, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    #[cfg(not(unix))]
    match fs_err::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(refuse(path, "a symbolic link")),
        _ => {}
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_loop(&e) => return Err(refuse(path, "a symbolic link")),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("opening {}: {e}", path.display()),
            ));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(refuse(path, "not a regular file (a FIFO, socket or device)"));
    }
    if meta.len() > cap {
        return Err(refuse(path, &format!("{} bytes, over the {cap}-byte cap", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the cap tells a file that grew after the stat.
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    if bytes.len() as u64 > cap {
        return Err(refuse(path, &format!("over the {cap}-byte cap")));
    }
    Ok(Some(bytes))
}

/// The directories of codexport's own state under `CODEXPORT_HOME` that it writes into.
pub const STATE_DIRS: &[&str] = &["backups", "store", "logs", "generations", "journal", "bin"];

/// Refuse a [`STATE_DIRS`] entry of `home` that is a symbolic link (or anything but a
/// directory): codexport would chmod the link's target 0700 and put backups of the follower's
/// credentials there. Absent entries are fine (created as real directories when needed).
///
/// Errors: `InvalidInput` naming the path and the fix; an `lstat` error.
pub fn refuse_linked_state_dirs(home: &Path) -> std::io::Result<()> {
    for name in STATE_DIRS {
        let path = home.join(name);
        match fs_err::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                let what = if m.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "not a directory"
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is {what}: codexport keeps its state only in real directories under CODEXPORT_HOME; replace it with a directory (move what it holds into it)",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn refuse(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "{} is {what}: codexport does not read it (replace it with a regular file)",
            path.display()
        ),
    )
}

fn is_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(unix))]
    return {
        let _ = e;
        false
    };
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_devices_and_big_files_are_refused_and_nothing_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        fs_err::write(&file, "model = \"x\"\n").unwrap();
        assert_eq!(read_regular(&file, READ_CAP).unwrap().unwrap(), b"model = \"x\"\n");
        assert_eq!(read_regular(&dir.path().join("absent"), READ_CAP).unwrap(), None);

        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = read_regular(&link, READ_CAP).unwrap_err();
        assert!(e.to_string().contains("a symbolic link"), "{e}");

        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let e = read_regular(&fifo, READ_CAP).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let e = read_regular(Path::new("/dev/zero"), READ_CAP).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let e = read_regular(&file, 4).unwrap_err();
        assert!(e.to_string().contains("over the 4-byte cap"), "{e}");
    }

    #[test]
    fn a_symlinked_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("store")).unwrap();
        refuse_linked_state_dirs(dir.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("backups")).unwrap();
        let e = refuse_linked_state_dirs(dir.path()).unwrap_err();
        assert!(e.to_string().contains("backups is a symbolic link"), "{e}");
    }
}
