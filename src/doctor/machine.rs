//! Checks of the machine, whatever its role: CODEX_HOME and CODEXPORT_HOME exist and are
//! writable, `codex` is on PATH (and its version), and there is free disk space for them.

use std::path::{Path, PathBuf};

use crate::paths::Roots;

use super::{COMMAND_TIMEOUT, Check, LOCAL_TIMEOUT, MIN_FREE_BYTES, Status, bounded, human_bytes, one_line};

/// The machine checks, in order.
pub(super) fn checks(roots: &Roots) -> Vec<Check> {
    let has_role =
        roots.master_dir().exists() || crate::follower::enrollment::Enrollment::path(&roots.codexport_home).exists();
    let mut out = vec![
        codex_home_check(&roots.codex_home, has_role),
        codexport_home_check(&roots.codexport_home),
        codex_check(),
    ];
    out.extend(disk_checks(roots));
    out
}

fn codex_home_check(dir: &Path, has_role: bool) -> Check {
    if !dir.exists() {
        let detail = format!("{} does not exist", dir.display());
        let fix = format!("mkdir -p {} (Codex and codexport both write there)", dir.display());
        return if has_role {
            Check::fail("codex-home", detail, fix)
        } else {
            Check::warn("codex-home", detail, fix)
        };
    }
    writable("codex-home", dir)
}

fn codexport_home_check(dir: &Path) -> Check {
    if !dir.exists() {
        return Check::ok(
            "codexport-home",
            format!(
                "{} does not exist yet (`master init` or `follower join` creates it)",
                dir.display()
            ),
        );
    }
    writable("codexport-home", dir)
}

/// A directory that exists: is it one, and can a file be created in it?
fn writable(name: &str, dir: &Path) -> Check {
    if !dir.is_dir() {
        return Check::fail(
            name,
            format!("{} is not a directory", dir.display()),
            format!("move {} aside; it must be a directory", dir.display()),
        );
    }
    let probe_dir = dir.to_path_buf();
    let result = bounded(LOCAL_TIMEOUT, move || {
        tempfile::Builder::new()
            .prefix(".codexport-doctor-")
            .tempfile_in(&probe_dir)
            .map(drop)
    });
    match result {
        Some(Ok(())) => Check::ok(name, format!("{} exists and is writable", dir.display())),
        Some(Err(e)) => Check::fail(
            name,
            format!("{} is not writable: {}", dir.display(), one_line(&e.to_string())),
            format!(
                "give your user write access (`ls -ld {0}`; e.g. `chmod u+w {0}`)",
                dir.display()
            ),
        ),
        None => Check::timed_out(name, Status::Fail, "creating a file", LOCAL_TIMEOUT),
    }
}

/// `codex` on PATH, and what `codex --version` prints (at most [`COMMAND_TIMEOUT`]).
fn codex_check() -> Check {
    let Some(codex) = find_on_path("codex") else {
        return Check::warn(
            "codex",
            "`codex` is not on PATH",
            "install the Codex CLI (`npm install -g @openai/codex`) or add its directory to PATH",
        );
    };
    let program = codex.clone().into_os_string();
    let ran = bounded(COMMAND_TIMEOUT, move || {
        crate::master::service::run(&program, &["--version"], COMMAND_TIMEOUT)
    });
    match ran {
        Some(Ok(r)) if r.success => {
            let version = r.stdout.lines().next().unwrap_or("").trim().to_string();
            Check::ok("codex", format!("{version} at {}", codex.display()))
        }
        Some(Ok(r)) => Check::warn(
            "codex",
            format!(
                "`{} --version` failed ({}): {}",
                codex.display(),
                r.status,
                one_line(&r.stderr)
            ),
            "reinstall the Codex CLI (`npm install -g @openai/codex`)",
        ),
        Some(Err(e)) => Check::warn(
            "codex",
            one_line(&e.to_string()),
            "reinstall the Codex CLI (`npm install -g @openai/codex`)",
        ),
        None => Check::timed_out("codex", Status::Warn, "`codex --version`", COMMAND_TIMEOUT),
    }
}

/// The first `name` (or `name.exe`/`name.cmd` on Windows) in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let names: Vec<String> = if cfg!(windows) {
        vec![format!("{name}.exe"), format!("{name}.cmd"), name.to_string()]
    } else {
        vec![name.to_string()]
    };
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .flat_map(|d| names.iter().map(move |n| d.join(n)).collect::<Vec<_>>())
        .find(|p| p.is_file())
}

/// Free space on the file systems of CODEX_HOME and CODEXPORT_HOME: one `disk` check when
/// they share one, else `disk-codex-home` and `disk-codexport-home`.
fn disk_checks(roots: &Roots) -> Vec<Check> {
    let homes = [
        ("codex-home", "CODEX_HOME", roots.codex_home.clone()),
        ("codexport-home", "CODEXPORT_HOME", roots.codexport_home.clone()),
    ];
    let Some(results) = bounded(LOCAL_TIMEOUT, move || {
        homes.map(|(suffix, label, dir)| (suffix, label, free_space(&existing_ancestor(&dir))))
    }) else {
        return vec![Check::timed_out("disk", Status::Warn, "statvfs", LOCAL_TIMEOUT)];
    };
    if let [(_, _, Ok(Some((dev_a, bytes)))), (_, _, Ok(Some((dev_b, _))))] = &results
        && dev_a == dev_b
    {
        return vec![disk_check("disk", "CODEX_HOME and CODEXPORT_HOME", *bytes)];
    }
    results
        .into_iter()
        .map(|(suffix, label, free)| {
            let name = format!("disk-{suffix}");
            match free {
                Ok(Some((_, bytes))) => disk_check(&name, label, bytes),
                Ok(None) => Check::skip(name, "free space is not checked on this platform"),
                Err(e) => Check::warn(name, one_line(&e.to_string()), "check the file system (`df -h`)"),
            }
        })
        .collect()
}

fn disk_check(name: &str, label: &str, bytes: u64) -> Check {
    let detail = format!("{} free on the file system of {label}", human_bytes(bytes));
    if bytes < MIN_FREE_BYTES {
        Check::warn(
            name,
            format!("only {detail}"),
            "free some space: codexport keeps backups there (`keepGenerations` in local.toml prunes them)",
        )
    } else {
        Check::ok(name, detail)
    }
}

/// `dir`, or its nearest ancestor that exists (CODEXPORT_HOME before the first command).
fn existing_ancestor(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|a| a.exists())
        .unwrap_or_else(|| Path::new("/"))
        .to_path_buf()
}

/// (device id, bytes available to this user) of the file system holding `dir`; `None` where
/// `statvfs` does not exist.
#[cfg(unix)]
fn free_space(dir: &Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let device = fs_err::metadata(dir)?.dev();
    let stat = rustix::fs::statvfs(dir).map_err(|e| {
        std::io::Error::new(
            std::io::Error::from(e).kind(),
            format!("statvfs {}: {e}", dir.display()),
        )
    })?;
    Ok(Some((device, stat.f_bavail.saturating_mul(stat.f_frsize))))
}

#[cfg(not(unix))]
fn free_space(_dir: &Path) -> std::io::Result<Option<(u64, u64)>> {
    Ok(None)
}
