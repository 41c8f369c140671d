//! Quoting by systemd.syntax(7) / systemd.service(5) / systemd.exec(5), unit rendering and the
//! unit directory. (`tests/master_service.rs` runs `systemd-analyze verify` on real units.)

use super::*;

#[test]
fn executable_paths_are_double_quoted_with_specifiers_escaped() {
    assert_eq!(
        quote_executable("/usr/bin/codexport"),
        Ok("\"/usr/bin/codexport\"".into())
    );
    assert_eq!(
        quote_executable("/home/a b/My Tools/codexport"),
        Ok("\"/home/a b/My Tools/codexport\"".into())
    );
    assert_eq!(
        quote_executable("/opt/100%/codexport"),
        Ok("\"/opt/100%%/codexport\"".into())
    );
    // No variable expansion in the executable: `$` stays single.
    assert_eq!(quote_executable("/opt/$HOME/cx"), Ok("\"/opt/$HOME/cx\"".into()));
    assert_eq!(quote_executable("/opt/a;b/cx"), Ok("\"/opt/a;b/cx\"".into()));
}

#[test]
fn executable_paths_systemd_refuses_are_refused() {
    for bad in [
        "codexport",
        "./codexport",
        "/opt/\"q\"/cx",
        "/opt/it's/cx",
        "/opt/back\\slash/cx",
        "/opt/new\nline/cx",
        "/opt/del\u{7f}/cx",
        "/opt/../cx",
        "/opt/./cx",
        "/opt//cx",
        "/opt/x/.",
    ] {
        assert!(quote_executable(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn arguments_escape_quotes_backslashes_specifiers_and_dollars() {
    assert_eq!(quote_argument("serve"), "\"serve\"");
    assert_eq!(quote_argument("a b"), "\"a b\"");
    assert_eq!(quote_argument("100%"), "\"100%%\"");
    assert_eq!(quote_argument("$HOME ${X}"), "\"$$HOME $${X}\"");
    assert_eq!(quote_argument("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_eq!(quote_argument("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
    assert_eq!(quote_argument("it's"), "\"it's\"");
    assert_eq!(quote_argument("a\nb\tc\u{1}d\u{85}"), "\"a\\nb\\tc\\x01d\\u0085\"");
    assert_eq!(quote_argument(""), "\"\"");
}

#[test]
fn environment_assignments_are_quoted_whole_and_keep_dollars() {
    assert_eq!(
        quote_environment("CODEX_HOME", "/home/alice/.codex"),
        Ok("\"CODEX_HOME=/home/alice/.codex\"".into())
    );
    assert_eq!(
        quote_environment("CODEX_HOME", "/home/a b/my codex"),
        Ok("\"CODEX_HOME=/home/a b/my codex\"".into())
    );
    assert_eq!(quote_environment("X", "50%"), Ok("\"X=50%%\"".into()));
    assert_eq!(quote_environment("X", "$HOME"), Ok("\"X=$HOME\"".into()));
    assert_eq!(quote_environment("X", "a\"b\\c'd"), Ok("\"X=a\\\"b\\\\c'd\"".into()));
    assert_eq!(quote_environment("X", "a\nb"), Ok("\"X=a\\nb\"".into()));
    assert!(quote_environment("X", "a\u{1b}b").is_err());
    for bad in ["", "1X", "A-B", "A B", "A=B"] {
        assert!(quote_environment(bad, "v").is_err(), "{bad:?}");
    }
}

#[test]
fn the_unit_runs_master_serve_restarts_on_failure_and_carries_the_homes() {
    let unit = render_unit(
        Path::new("/home/a b/bin/codexport"),
        &[
            ("CODEX_HOME".into(), PathBuf::from("/home/a b/.codex")),
            ("CODEXPORT_HOME".into(), PathBuf::from("/srv/100%")),
        ],
    )
    .unwrap();
    let lines: Vec<&str> = unit.lines().collect();
    for want in [
        "ExecStart=\"/home/a b/bin/codexport\" master serve",
        "Environment=\"CODEX_HOME=/home/a b/.codex\"",
        "Environment=\"CODEXPORT_HOME=/srv/100%%\"",
        "Restart=on-failure",
        "RestartSec=5s",
        "WantedBy=default.target",
    ] {
        assert!(lines.contains(&want), "{want:?} missing from\n{unit}");
    }
    assert_eq!(
        exec_start(&unit).as_deref(),
        Some("\"/home/a b/bin/codexport\" master serve")
    );
    let without_env = render_unit(Path::new("/usr/bin/codexport"), &[]).unwrap();
    assert!(!without_env.contains("Environment="), "{without_env}");
}

#[test]
fn unrenderable_paths_name_what_is_wrong() {
    let err = render_unit(Path::new("/opt/it's/codexport"), &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("executable \"/opt/it's/codexport\" cannot go into"),
        "{err}"
    );
    let err = render_unit(
        Path::new("/usr/bin/codexport"),
        &[("CODEX_HOME".into(), PathBuf::from("/x\u{1b}y"))],
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("CODEX_HOME "), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/codexport"));
        assert!(
            render_unit(not_utf8, &[])
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}

#[test]
fn the_unit_directory_follows_xdg_config_home_when_absolute() {
    let home = Path::new("/home/alice");
    assert_eq!(unit_dir(home, None), PathBuf::from("/home/alice/.config/systemd/user"));
    assert_eq!(
        unit_dir(home, Some(Path::new("/cfg"))),
        PathBuf::from("/cfg/systemd/user")
    );
    assert_eq!(
        unit_dir(home, Some(Path::new("relative/cfg"))),
        PathBuf::from("/home/alice/.config/systemd/user")
    );
    assert_eq!(
        unit_dir(home, Some(Path::new(""))),
        PathBuf::from("/home/alice/.config/systemd/user")
    );
}

#[test]
fn manual_commands_restart_only_a_changed_unit_or_binary() {
    assert!(!needs_restart(Change::Created, Change::Updated));
    assert!(needs_restart(Change::Updated, Change::Unchanged));
    assert!(needs_restart(Change::Unchanged, Change::Updated));
    assert!(needs_restart(Change::Unchanged, Change::Created));
    assert!(!needs_restart(Change::Unchanged, Change::Unchanged));
    assert_eq!(
        manual_install_commands(false),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now codexport-master.service"
        ]
    );
    assert_eq!(manual_install_commands(true).len(), 3);
    assert_eq!(
        manual_install_commands(true)[2],
        "systemctl --user restart codexport-master.service"
    );
}
