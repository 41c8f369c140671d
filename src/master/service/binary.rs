//! The service's own copy of codexport: `$CODEXPORT_HOME/bin/codexport` (`codexport.exe` on
//! Windows), the path every backend runs.
//!
//! Why: the running binary may live somewhere that does not last. `npx codexport ...` runs a
//! file in npm's temporary npx cache (`~/.npm/_npx/<hash>/node_modules/...`), which npm may
//! delete; a service pointing there fails at the next login. Followers already copy their
//! binary to the same place for the hook and the MCP launcher (`reconcile::render::LAUNCHER`);
//! on Unix the master uses the same file, so a machine that is both shares one copy.
//!
//! The copy is atomic (temp file beside it, then rename: a running service keeps the old
//! inode), mode 0755, replaced only when its bytes differ, and never written through a link: a
//! link standing at the path is replaced by the rename, and a `bin` directory that is a link is
//! refused.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{BinaryReport, Change, ServiceError};

/// Mode of the copy: the owner writes, everyone may run it.
pub const MODE: u32 = 0o755;

/// The copy's path under `codexport_home`: `bin/codexport` plus the platform's executable
/// suffix (`.exe` on Windows, where Task Scheduler finds a program by its extension).
pub fn service_exe(codexport_home: &Path) -> PathBuf {
    codexport_home
        .join("bin")
        .join(format!("codexport{}", std::env::consts::EXE_SUFFIX))
}

/// Whether copying `from` to `to` would change `to` (without writing anything): `Created` when
/// nothing is there, `Updated` when the bytes differ or a link stands there, else `Unchanged`.
///
/// Errors: [`ServiceError::Refused`] when `to` is a directory or another non-file, or its
/// parent is a link; [`ServiceError::Io`] naming the path when reading fails.
pub fn planned_change(from: &Path, to: &Path) -> Result<Change, ServiceError> {
    if let Some(dir) = to.parent()
        && fs_err::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(ServiceError::Refused {
            path: dir.to_path_buf(),
            reason: "a link (the service's binary is never written through one)",
        });
    }
    let meta = match fs_err::symlink_metadata(to) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Change::Created),
        Err(e) => return Err(e.into()),
    };
    if meta.file_type().is_symlink() {
        return Ok(Change::Updated);
    }
    if !meta.is_file() {
        return Err(ServiceError::Refused {
            path: to.to_path_buf(),
            reason: "not a regular file",
        });
    }
    Ok(if same_bytes(from, to)? {
        Change::Unchanged
    } else {
        Change::Updated
    })
}

/// Copy `from` (the running binary) to `to` when [`planned_change`] says it differs, creating
/// the directory 0700 when it is missing; an unchanged copy only gets its mode set to [`MODE`].
///
/// Errors: as [`planned_change`]; [`ServiceError::CopyBinary`] when the copy fails.
pub fn install_copy(from: &Path, to: &Path) -> Result<BinaryReport, ServiceError> {
    let change = planned_change(from, to)?;
    let copy_failed = |source| ServiceError::CopyBinary {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    };
    if let Some(dir) = to.parent()
        && !dir.is_dir()
    {
        crate::fs::create_private_dir(dir).map_err(copy_failed)?;
    }
    match change {
        Change::Unchanged => {
            let mode = crate::fs::mode_of(&fs_err::symlink_metadata(to)?);
            if mode != MODE {
                crate::fs::set_mode(to, MODE)?;
            }
        }
        Change::Created | Change::Updated => crate::fs::copy_atomic(from, to, MODE).map_err(copy_failed)?,
    }
    Ok(BinaryReport {
        path: to.display().to_string(),
        from: from.display().to_string(),
        change,
    })
}

/// True when the two files hold the same bytes (sizes first, then 64 KiB blocks).
fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    if fs_err::metadata(a)?.len() != fs_err::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (fs_err::File::open(a)?, fs_err::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Fill `buf` as far as the file allows; returns how many bytes were read (0 at the end).
fn read_full(f: &mut fs_err::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_made_once_replaced_when_it_differs_and_replaces_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("npx-cache/codexport");
        fs_err::create_dir_all(from.parent().unwrap()).unwrap();
        fs_err::write(&from, b"binary v1").unwrap();
        let to = service_exe(&dir.path().join("home"));
        assert!(to.ends_with(format!("bin/codexport{}", std::env::consts::EXE_SUFFIX)));

        let first = install_copy(&from, &to).unwrap();
        assert_eq!(first.change, Change::Created);
        assert_eq!(fs_err::read(&to).unwrap(), b"binary v1");
        #[cfg(unix)]
        assert_eq!(crate::fs::mode_of(&fs_err::metadata(&to).unwrap()), MODE);
        #[cfg(unix)]
        assert_eq!(
            crate::fs::mode_of(&fs_err::metadata(to.parent().unwrap()).unwrap()),
            0o700
        );
        assert_eq!(install_copy(&from, &to).unwrap().change, Change::Unchanged);

        // Same length, other bytes: replaced.
        fs_err::write(&from, b"binary v2").unwrap();
        assert_eq!(planned_change(&from, &to).unwrap(), Change::Updated);
        assert_eq!(install_copy(&from, &to).unwrap().change, Change::Updated);
        assert_eq!(fs_err::read(&to).unwrap(), b"binary v2");

        #[cfg(unix)]
        {
            // A link at the copy's path is replaced, its target left alone.
            let target = dir.path().join("elsewhere");
            fs_err::write(&target, b"not mine").unwrap();
            fs_err::remove_file(&to).unwrap();
            std::os::unix::fs::symlink(&target, &to).unwrap();
            assert_eq!(install_copy(&from, &to).unwrap().change, Change::Updated);
            assert!(!fs_err::symlink_metadata(&to).unwrap().file_type().is_symlink());
            assert_eq!(fs_err::read(&target).unwrap(), b"not mine");

            // A `bin` that is a link is refused, nothing written into it.
            let home = dir.path().join("home2");
            fs_err::create_dir_all(&home).unwrap();
            let real_bin = dir.path().join("real-bin");
            fs_err::create_dir_all(&real_bin).unwrap();
            std::os::unix::fs::symlink(&real_bin, home.join("bin")).unwrap();
            let err = install_copy(&from, &service_exe(&home)).unwrap_err();
            assert!(err.to_string().contains("a link"), "{err}");
            assert_eq!(fs_err::read_dir(&real_bin).unwrap().count(), 0);
        }

        // A directory standing there is refused.
        fs_err::remove_file(&to).unwrap();
        fs_err::create_dir_all(&to).unwrap();
        let err = install_copy(&from, &to).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
