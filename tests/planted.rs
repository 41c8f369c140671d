//! Never read through what was planted (issue 20 item 3): a `config.toml` that is a symlink to
//! an outside file, to `/dev/zero`, or a FIFO is never read (no outside key is merged, nothing
//! hangs or fills memory), and codexport's state directories under CODEXPORT_HOME that are
//! symlinks are refused with a clear error before anything is written through them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Machine, Pair, Run};

/// `args` on `m`, killed after 20 s (a FIFO read would hang forever).
fn bounded(m: &Machine, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let mut command = std::process::Command::new("timeout");
    command.args(["-k", "2", "20"]).arg(common::bin()).args(args);
    let probe = m.command(args);
    for (k, v) in probe.get_envs() {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    let out = command.stdin(std::process::Stdio::null()).output().unwrap();
    (Run::from_output(out), started.elapsed())
}

#[test]
fn a_planted_config_toml_link_or_fifo_is_never_read() {
    let pair = Pair::applied();
    let f = &pair.follower;
    let config = f.codex_home.join("config.toml");
    let outside = f.home.parent().unwrap().join("outside.toml");
    fs_err::write(&outside, "[mcp_servers.planted]\ncommand = \"/tmp/evil\"\n").unwrap();
    for target in [outside.as_path(), std::path::Path::new("/dev/zero")] {
        fs_err::remove_file(&config).unwrap();
        std::os::unix::fs::symlink(target, &config).unwrap();
        let (run, took) = bounded(f, &["reconcile"]);
        assert!(took < Duration::from_secs(15), "{target:?}: took {took:?}");
        let now = fs_err::symlink_metadata(&config).map(|m| m.file_type().is_symlink());
        if run.code == 0 {
            // Moved aside as an obstruction, never followed: the new file has no planted key.
            assert_eq!(now.ok(), Some(false), "{target:?}");
            let text = fs_err::read_to_string(&config).unwrap();
            assert!(
                !text.contains("mcp_servers.planted"),
                "{target:?}: an outside key was merged:\n{text}"
            );
        } else {
            assert!(run.stderr.contains("config.toml"), "{target:?}: {}", run.stderr);
        }
        assert_eq!(
            fs_err::read_to_string(&outside).unwrap(),
            "[mcp_servers.planted]\ncommand = \"/tmp/evil\"\n",
            "the outside file is untouched"
        );
    }

    fs_err::remove_file(&config).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, &config, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let (run, took) = bounded(f, &["reconcile"]);
    assert!(
        took < Duration::from_secs(15),
        "a FIFO hung the run: {took:?}\n{}",
        run.stderr
    );
}

#[test]
fn symlinked_state_directories_are_refused_and_nothing_lands_outside() {
    let pair = Pair::joined();
    let f = &pair.follower;
    let outside = tempfile::tempdir().unwrap();
    fs_err::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    fs_err::create_dir_all(&f.codexport_home).unwrap();
    let backups = f.codexport_home.join("backups");
    if backups.exists() {
        fs_err::remove_dir_all(&backups).unwrap();
    }
    std::os::unix::fs::symlink(outside.path(), &backups).unwrap();
    fs_err::write(f.codex_home.join("AGENTS.md"), "mine").unwrap();
    let run = f.run(&["apply"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("backups is a symbolic link") && run.stderr.contains("replace it with a directory"),
        "{}",
        run.stderr
    );
    assert_eq!(fs_err::read_to_string(f.codex_home.join("AGENTS.md")).unwrap(), "mine");
    assert_eq!(
        fs_err::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
    let mode = fs_err::metadata(outside.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the outside directory was not chmod'ed");

    let run = f.run(&["sync"]);
    assert_ne!(run.code, 0, "sync refuses too");
    assert!(run.stderr.contains("backups is a symbolic link"), "{}", run.stderr);
}
