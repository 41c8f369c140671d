//! `codexport master service` on Linux: the systemd user unit, with no user systemd
//! (`CODEXPORT_SYSTEMCTL` names a binary that does not exist), with a recording stand-in for
//! `systemctl`, and checked by `systemd-analyze verify` when that tool is installed. The unit
//! runs the copy `install` makes at `$CODEXPORT_HOME/bin/codexport`, never the binary that ran
//! `install` (issue 18). (The launchd backend is tested in `src/master/service/launchd_tests.rs`
//! against a stand-in `launchctl`.)
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Machine, Run};

const UNIT: &str = "codexport-master.service";
const NO_SYSTEMCTL: &str = "/nonexistent/codexport-test/systemctl";

/// The binary as `std::env::current_exe` reports it (symlinks resolved).
fn exe() -> PathBuf {
    fs_err::canonicalize(common::bin()).unwrap()
}

/// The service's copy of the binary, which the unit runs.
fn copy(m: &Machine) -> PathBuf {
    m.codexport_home.join("bin/codexport")
}

/// A master (example published) and `master service <args>` run with extra env.
fn service(m: &Machine, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let mut argv = vec!["master", "service"];
    argv.extend_from_slice(args);
    let mut c = m.command(&argv);
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from_output(c.output().unwrap())
}

fn master() -> Machine {
    let m = Machine::with_example();
    m.ok(&["master", "init"]);
    m
}

#[test]
fn without_user_systemd_install_writes_the_unit_and_prints_the_commands() {
    let m = master();
    // Default location: XDG_CONFIG_HOME unset -> $HOME/.config/systemd/user.
    let mut c = m.command(&["master", "service", "install"]);
    c.env_remove("XDG_CONFIG_HOME").env("CODEXPORT_SYSTEMCTL", NO_SYSTEMCTL);
    let out = Run::from_output(c.output().unwrap()).expect_code(0);
    let unit = m.home.join(".config/systemd/user").join(UNIT);
    let copy = copy(&m);
    assert_eq!(
        out.stdout,
        format!(
            "wrote unit {unit}\n  runs: \"{copy}\" master serve\n  \
             binary: {copy} (copied from {exe})\n\
             user systemd is not reachable, so the unit is written but NOT enabled or started\n  \
             (`{NO_SYSTEMCTL} --user show-environment` failed: not found)\n\
             run these in a login session of this user:\n  \
             systemctl --user daemon-reload\n  \
             systemctl --user enable --now codexport-master.service\n\
             to keep it running after logout and start it at boot: loginctl enable-linger $USER\n",
            unit = unit.display(),
            copy = copy.display(),
            exe = exe().display(),
        )
    );
    let text = fs_err::read_to_string(&unit).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        format!("ExecStart=\"{}\" master serve", copy.display()),
        format!("Environment=\"CODEX_HOME={}\"", m.codex_home.display()),
        format!("Environment=\"CODEXPORT_HOME={}\"", m.codexport_home.display()),
        "Restart=on-failure".into(),
        "WantedBy=default.target".into(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} missing:\n{text}");
    }
}

#[test]
fn install_status_uninstall_are_idempotent() {
    let m = master();
    let unit = m.home.join(".config/systemd/user").join(UNIT);
    let first = service(&m, &["install"], &[]).expect_code(0);
    assert!(first.stdout.starts_with("wrote unit "), "{}", first.stdout);
    let before = fs_err::read(&unit).unwrap();
    let again = service(&m, &["install"], &[]).expect_code(0);
    assert!(
        again
            .stdout
            .starts_with(&format!("unit {} is unchanged\n", unit.display())),
        "{}",
        again.stdout
    );
    assert_eq!(fs_err::read(&unit).unwrap(), before);

    let status = service(&m, &["status"], &[]).expect_code(0).stdout;
    assert!(
        status.contains(&format!("unit:     {} (installed)", unit.display())),
        "{status}"
    );
    assert!(status.contains("enabled:  unknown (no user systemd)"), "{status}");
    assert!(status.contains("active:   unknown (no user systemd)"), "{status}");
    let json = service(&m, &["status", "--output", "json"], &[]).expect_code(0).stdout;
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(s["manager"], "systemd-user");
    assert_eq!(s["installed"], true);
    assert_eq!(s["location"], unit.display().to_string());
    assert_eq!(s["command"], format!("\"{}\" master serve", copy(&m).display()));
    assert_eq!(s["enabled"], "unknown (no user systemd)");
    assert!(s["unreachable"].as_str().unwrap().contains("not found"), "{json}");

    let removed = service(&m, &["uninstall"], &[]).expect_code(0).stdout;
    assert!(
        removed.starts_with(&format!("removed unit {}\n", unit.display())),
        "{removed}"
    );
    assert!(
        removed.contains("  systemctl --user stop codexport-master.service\n"),
        "{removed}"
    );
    assert!(!unit.exists());
    let twice = service(&m, &["uninstall"], &[]).expect_code(0).stdout;
    assert_eq!(
        twice,
        format!("not installed: no unit {}; nothing to do\n", unit.display())
    );
    let status = service(&m, &["status", "--output", "json"], &[]).expect_code(0).stdout;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["installed"],
        false
    );
}

#[test]
fn xdg_config_home_decides_where_the_unit_goes_and_install_needs_a_master() {
    let m = Machine::new();
    let out = service(&m, &["install"], &[]).expect_code(4);
    assert!(
        out.stderr.contains("hint: run `codexport master init`"),
        "{}",
        out.stderr
    );
    m.ok(&["master", "init"]);
    let cfg = m.home.join("elsewhere/cfg");
    service(&m, &["install"], &[("XDG_CONFIG_HOME", cfg.as_os_str())]).expect_code(0);
    assert!(cfg.join("systemd/user").join(UNIT).is_file());
    assert!(!m.home.join(".config/systemd").exists());
}

/// A stand-in `systemctl` that logs its arguments and answers like a running user manager;
/// `fail_on` makes that verb exit 1 with a message.
fn recording_systemctl(dir: &Path, fail_on: &str) -> (PathBuf, PathBuf) {
    let log = dir.join("systemctl.log");
    let script = dir.join("systemctl");
    fs_err::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\n\
             case \"$2\" in\n  {fail_on}) echo 'Failed to {fail_on}: boom' >&2; exit 1;;\n  \
             is-enabled) echo enabled;;\n  is-active) echo active;;\nesac\nexit 0\n",
            log = log.display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn with_user_systemd_install_enables_and_uninstall_disables() {
    let m = master();
    let tools = tempfile::tempdir().unwrap();
    let (systemctl, log) = recording_systemctl(tools.path(), "none");
    let env = [("CODEXPORT_SYSTEMCTL", systemctl.as_os_str())];
    let sc = systemctl.display().to_string();
    let out = service(&m, &["install"], &env).expect_code(0).stdout;
    assert!(out.contains(&format!("ran: {sc} --user daemon-reload\n")), "{out}");
    assert!(
        out.contains(&format!("ran: {sc} --user enable --now {UNIT}\n")),
        "{out}"
    );
    let status = service(&m, &["status"], &env).expect_code(0).stdout;
    assert!(status.contains("enabled:  enabled\nactive:   active\n"), "{status}");
    service(&m, &["uninstall"], &env).expect_code(0);
    assert_eq!(
        fs_err::read_to_string(&log).unwrap(),
        format!(
            "--user show-environment\n--user daemon-reload\n--user enable --now {UNIT}\n\
             --user show-environment\n--user is-enabled {UNIT}\n--user is-active {UNIT}\n\
             --user show-environment\n--user disable --now {UNIT}\n--user daemon-reload\n"
        )
    );

    let (failing, _) = recording_systemctl(tools.path(), "enable");
    let out = service(&m, &["install"], &[("CODEXPORT_SYSTEMCTL", failing.as_os_str())]).expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "error: `{} --user enable --now {UNIT}` failed: exit 1: Failed to enable: boom",
            failing.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: see `systemctl --user status"),
        "{}",
        out.stderr
    );
}

/// `systemd-analyze verify --user` accepts the unit `install` wrote (a CODEX_HOME with spaces,
/// `%`, `$`, quotes and backslashes; a CODEXPORT_HOME, which holds the executable, with spaces,
/// `%` and `$`) and a unit whose executable path has spaces, `%` and `$` (it checks the
/// executable exists, so a quoting mistake shows). Skipped when the tool is absent, except
/// under CI (`.ci/run` installs the `systemd` package).
#[test]
fn systemd_analyze_verifies_the_generated_units() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is required in CI (Debian package systemd)"
        );
        eprintln!("skipping: systemd-analyze not found");
        return;
    };
    assert!(version.status.success());
    let m = master();
    let codex = m.home.join("odd homes/100% $HOME \"q\" back\\slash it's/codex");
    let codexport = m.home.join("odd homes/50% $PATH/codexport");
    for (from, to) in [(&m.codex_home, &codex), (&m.codexport_home, &codexport)] {
        fs_err::create_dir_all(to.parent().unwrap()).unwrap();
        fs_err::rename(from, to).unwrap();
    }
    let env = [
        ("CODEX_HOME", codex.as_os_str()),
        ("CODEXPORT_HOME", codexport.as_os_str()),
    ];
    service(&m, &["install"], &env).expect_code(0);
    let written = m.home.join(".config/systemd/user").join(UNIT);
    let text = fs_err::read_to_string(&written).unwrap();
    assert!(
        text.contains("100%% $HOME \\\"q\\\" back\\\\slash it's/codex\""),
        "{text}"
    );
    assert!(
        text.contains("ExecStart=\"/") && text.contains("/odd homes/50%% $PATH/codexport/bin/codexport\" master serve"),
        "{text}"
    );
    verify(&m.home, &written);

    let bin_dir = m.home.join("my tools/50% $PATH");
    fs_err::create_dir_all(&bin_dir).unwrap();
    let script = bin_dir.join("codexport");
    fs_err::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs_err::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let unit = codexport::master::service::systemd::render_unit(&script, &[]).unwrap();
    let path = m.home.join(UNIT);
    fs_err::write(&path, unit).unwrap();
    verify(&m.home, &path);
}

/// Run `systemd-analyze verify --user` on `unit` with a private HOME and runtime directory;
/// it must exit 0 and say nothing about the unit.
fn verify(home: &Path, unit: &Path) {
    let runtime = tempfile::tempdir().unwrap(); // 0700, as systemd wants
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(unit)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains(UNIT),
        "systemd-analyze verify {}: {:?}\n{stderr}\n{}",
        unit.display(),
        out.status,
        fs_err::read_to_string(unit).unwrap()
    );
}

/// `command` with another program: same arguments and environment.
fn with_program(template: &Command, program: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(template.get_args());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdin(std::process::Stdio::null());
    c
}

/// Issue 18: `install` run from a binary in npm's temporary npx cache copies it to
/// `$CODEXPORT_HOME/bin/codexport`, the unit runs the copy, and the copy outlives the cache.
/// A changed copy is replaced and the service restarted; the same bytes leave it alone.
#[test]
fn the_unit_runs_a_copy_of_the_binary_never_the_npx_cache() {
    let m = master();
    let npx = m.home.join(".npm/_npx/0123abcd/node_modules/codexport/bin/codexport");
    fs_err::create_dir_all(npx.parent().unwrap()).unwrap();
    fs_err::copy(common::bin(), &npx).unwrap();
    let tools = tempfile::tempdir().unwrap();
    let (systemctl, log) = recording_systemctl(tools.path(), "none");
    let install = || {
        let mut c = with_program(&m.command(&["master", "service", "install"]), &npx);
        c.env("CODEXPORT_SYSTEMCTL", &systemctl);
        Run::from_output(c.output().unwrap()).expect_code(0).stdout
    };
    let out = install();
    let copy = copy(&m);
    assert!(
        out.contains(&format!(
            "  binary: {} (copied from {})\n",
            copy.display(),
            npx.display()
        )),
        "{out}"
    );
    let unit = fs_err::read_to_string(m.home.join(".config/systemd/user").join(UNIT)).unwrap();
    assert_eq!(
        codexport::master::service::systemd::exec_start(&unit),
        Some(format!("\"{}\" master serve", copy.display()))
    );
    assert!(!unit.contains(".npm"), "{unit}");
    assert_eq!(fs_err::read(&copy).unwrap(), fs_err::read(common::bin()).unwrap());
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&copy).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o755);

    // Same bytes: nothing rewritten, no restart.
    let again = install();
    assert!(again.contains("(up to date)\n"), "{again}");
    // An older copy (other bytes): replaced, and the running service restarted.
    fs_err::write(&copy, "#!/bin/sh\necho old\n").unwrap();
    let _ = fs_err::remove_file(&log);
    let upgraded = install();
    assert!(upgraded.contains("(copied from "), "{upgraded}");
    assert_eq!(fs_err::read(&copy).unwrap(), fs_err::read(common::bin()).unwrap());
    assert_eq!(
        fs_err::read_to_string(&log).unwrap(),
        format!("--user show-environment\n--user daemon-reload\n--user enable --now {UNIT}\n--user restart {UNIT}\n")
    );

    // npm cleans its cache: the service's binary is still there and runs.
    fs_err::remove_dir_all(m.home.join(".npm")).unwrap();
    let version = Command::new(&copy).arg("--version").output().unwrap();
    assert!(version.status.success(), "{version:?}");
}

/// A CODEXPORT_HOME systemd cannot name an executable under (a quote) is refused before
/// anything is copied or written, with the fix in the hint.
#[test]
fn a_codexport_home_systemd_cannot_run_from_is_refused_before_copying() {
    let m = master();
    let odd = m.home.join("it's here");
    fs_err::rename(&m.codexport_home, &odd).unwrap();
    let out = service(&m, &["install"], &[("CODEXPORT_HOME", odd.as_os_str())]).expect_code(4);
    assert!(
        out.stderr.contains(&format!(
            "error: executable \"{}\" cannot go into the service definition: systemd refuses quotes",
            odd.join("bin/codexport").display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: install codexport (or point"),
        "{}",
        out.stderr
    );
    assert!(!odd.join("bin").exists());
    assert!(!m.home.join(".config/systemd/user").join(UNIT).exists());
}
