//! install / status / uninstall of the launchd backend, called directly (so on Linux too)
//! with a stand-in `launchctl`: a shell script that records its argv, one call a line with
//! each argument followed by `|`, and keeps "loaded" as a file (bootstrap creates it, bootout
//! removes it; print answers like launchctl, exit 113 when not loaded).

use std::os::unix::fs::PermissionsExt;

use super::super::*;
use crate::master::service::{Activation, Change, ServiceSettings};

struct Stub {
    _dir: tempfile::TempDir,
    home: PathBuf,
    settings: ServiceSettings,
    log: PathBuf,
}

impl Stub {
    /// A home with a space, `&` and `<` in it; `fail_on` makes that launchctl verb exit 5.
    fn new(fail_on: &str) -> Stub {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("Mac HD & <alice>");
        let codexport_home = home.join(".codexport");
        fs_err::create_dir_all(&codexport_home).unwrap();
        let running = dir.path().join("npx cache/codexport");
        fs_err::create_dir_all(running.parent().unwrap()).unwrap();
        fs_err::write(&running, b"the running binary").unwrap();
        let log = dir.path().join("launchctl.log");
        let loaded = dir.path().join("loaded");
        let script = dir.path().join("launchctl");
        fs_err::write(
            &script,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s|' \"$a\" >> '{log}'; done; echo >> '{log}'\n\
                 case \"$1\" in\n  {fail_on}) echo 'Bootstrap failed: 5: Input/output error' >&2; exit 5;;\n  \
                 print) if [ -f '{loaded}' ]; then printf '%s = {{\\n\\tstate = running\\n\\tpid = 4242\\n}}\\n' \"$2\"; \
                 else echo \"Could not find service in domain for port\" >&2; exit 113; fi;;\n  \
                 bootstrap) touch '{loaded}';;\n  bootout) rm -f '{loaded}';;\nesac\nexit 0\n",
                log = log.display(),
                loaded = loaded.display(),
            ),
        )
        .unwrap();
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let settings = ServiceSettings {
            exe: running,
            service_exe: binary::service_exe(&codexport_home),
            env: vec![("CODEXPORT_HOME".into(), codexport_home.clone())],
            unit_dir: home.join(".config/systemd/user"),
            systemctl: "/nonexistent/systemctl".into(),
            launch_agents_dir: agents_dir(&home),
            log_dir: codexport_home.join("logs"),
            launchctl: script.into(),
            uid: 501,
        };
        Stub {
            _dir: dir,
            home,
            settings,
            log,
        }
    }

    /// The calls recorded since the last `take_calls`.
    fn take_calls(&self) -> Vec<String> {
        let text = fs_err::read_to_string(&self.log).unwrap_or_default();
        let _ = fs_err::remove_file(&self.log);
        text.lines().map(String::from).collect()
    }
}

fn ran(activation: &Activation) -> &[String] {
    match activation {
        Activation::Done { ran } => ran,
        other => panic!("not done: {other:?}"),
    }
}

#[test]
fn install_bootstraps_restarts_on_change_and_uninstall_boots_out() {
    let s = Stub::new("none");
    let plist = s.home.join("Library/LaunchAgents/dev.codexport.master.plist");
    let target = "gui/501/dev.codexport.master";

    let first = install(&s.settings).unwrap();
    assert_eq!(first.location, plist.display().to_string());
    assert_eq!((first.change, first.binary.change), (Change::Created, Change::Created));
    assert_eq!(
        s.take_calls(),
        [
            format!("print|{target}|"),
            format!("bootstrap|gui/501|{}|", plist.display())
        ]
    );
    assert_eq!(
        ran(&first.activation),
        [format!(
            "{} bootstrap gui/501 {}",
            s.settings.launchctl.to_string_lossy(),
            plist.display()
        )]
    );
    // The agent runs the copy, which holds the running binary's bytes, 0755.
    let copy = s.home.join(".codexport/bin/codexport");
    assert_eq!(first.command, format!("\"{}\" master serve", copy.display()));
    assert_eq!(fs_err::read(&copy).unwrap(), b"the running binary");
    assert_eq!(crate::fs::mode_of(&fs_err::metadata(&copy).unwrap()), 0o755);
    let log_file = s.settings.log_dir.join(LOG_FILE);
    assert_eq!(
        fs_err::read_to_string(&plist).unwrap(),
        render_plist(&copy, &s.settings.env, &log_file).unwrap()
    );
    assert_eq!(first.log, Some(log_file.display().to_string()));
    assert_eq!(
        crate::fs::mode_of(&fs_err::metadata(&s.settings.log_dir).unwrap()),
        0o700
    );

    // Nothing changed and it is loaded: only the query.
    let again = install(&s.settings).unwrap();
    assert_eq!(
        (again.change, again.binary.change),
        (Change::Unchanged, Change::Unchanged)
    );
    assert!(ran(&again.activation).is_empty());
    assert_eq!(s.take_calls(), [format!("print|{target}|")]);

    // A new binary under the same plist: restarted in place.
    fs_err::write(&s.settings.exe, b"the next binary").unwrap();
    let upgraded = install(&s.settings).unwrap();
    assert_eq!(
        (upgraded.change, upgraded.binary.change),
        (Change::Unchanged, Change::Updated)
    );
    assert_eq!(
        s.take_calls(),
        [format!("print|{target}|"), format!("kickstart|-k|{target}|")]
    );
    assert_eq!(fs_err::read(&copy).unwrap(), b"the next binary");

    // A changed plist while loaded: bootout, then bootstrap the new one.
    let mut moved = s;
    moved
        .settings
        .env
        .insert(0, ("CODEX_HOME".into(), moved.home.join("codex & co")));
    let rewritten = install(&moved.settings).unwrap();
    assert_eq!(rewritten.change, Change::Updated);
    assert_eq!(
        moved.take_calls(),
        [
            format!("print|{target}|"),
            format!("bootout|{target}|"),
            format!("bootstrap|gui/501|{}|", plist.display())
        ]
    );

    let st = status(&moved.settings).unwrap();
    assert!(st.installed);
    assert_eq!(st.command.as_deref(), Some(rewritten.command.as_str()));
    assert_eq!(
        (st.enabled.as_str(), st.active.as_str(), st.pid),
        ("loaded", "running", Some(4242))
    );
    assert_eq!(moved.take_calls(), [format!("print|{target}|")]);

    let removed = uninstall(&moved.settings).unwrap();
    assert!(removed.removed);
    assert_eq!(ran(removed.activation.as_ref().unwrap()).len(), 1);
    assert!(!plist.exists());
    assert!(copy.exists(), "the binary stays for a follower's hook");
    assert_eq!(
        moved.take_calls(),
        [format!("print|{target}|"), format!("bootout|{target}|")]
    );
    let twice = uninstall(&moved.settings).unwrap();
    assert!(!twice.removed && twice.activation.is_none());
    assert!(moved.take_calls().is_empty());

    let st = status(&moved.settings).unwrap();
    assert!(!st.installed && st.command.is_none() && st.pid.is_none());
    assert_eq!((st.enabled.as_str(), st.active.as_str()), ("not loaded", "not running"));
    moved.take_calls();
    // Not loaded at install: bootstrap without a bootout.
    install(&moved.settings).unwrap();
    assert_eq!(
        moved.take_calls(),
        [
            format!("print|{target}|"),
            format!("bootstrap|gui/501|{}|", plist.display())
        ]
    );
}

#[test]
fn a_failing_bootstrap_is_an_error_and_a_missing_launchctl_is_reported() {
    let s = Stub::new("bootstrap");
    let err = install(&s.settings).unwrap_err();
    let plist = plist_path(&s.settings.launch_agents_dir);
    assert_eq!(
        err.to_string(),
        format!(
            "`{} bootstrap gui/501 {}` failed: exit 5: Bootstrap failed: 5: Input/output error",
            s.settings.launchctl.to_string_lossy(),
            plist.display()
        )
    );
    assert!(
        crate::exit::ExitStatus::hint(&err)
            .is_some_and(|h| h.contains("launchctl print gui/$(id -u)/dev.codexport.master")),
        "{err}"
    );
    assert!(plist.is_file(), "written before loading");

    let mut none = Stub::new("none");
    none.settings.launchctl = "/nonexistent/codexport-test/launchctl".into();
    let report = install(&none.settings).unwrap();
    let plist = plist_path(&none.settings.launch_agents_dir);
    match &report.activation {
        Activation::Manual { reason, commands } => {
            assert!(reason.contains("not found"), "{reason}");
            assert_eq!(
                commands,
                &[format!("launchctl bootstrap gui/501 '{}'", plist.display())]
            );
        }
        other => panic!("{other:?}"),
    }
    let st = status(&none.settings).unwrap();
    assert!(st.installed);
    assert_eq!(st.enabled, UNKNOWN);
    assert!(st.unreachable.is_some_and(|r| r.contains("not found")));
    let removed = uninstall(&none.settings).unwrap();
    assert!(removed.removed && !plist.exists());
}
