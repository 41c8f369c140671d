//! The launchd agent: XML escaping, the plist (insta snapshot, and read back by Python's
//! `plistlib`), `launchctl print` parsing, and install/status/uninstall against a recording
//! stand-in `launchctl` (a shell script, so on every Unix, Linux included).

use super::*;

/// The fixed settings of the snapshot: a macOS home, a CODEX_HOME with a space, `&` and `<`.
fn sample() -> (PathBuf, Vec<(String, PathBuf)>, PathBuf) {
    (
        PathBuf::from("/Users/alice/.codexport/bin/codexport"),
        vec![
            ("CODEX_HOME".into(), PathBuf::from("/Users/alice/My Codex & <co>")),
            ("CODEXPORT_HOME".into(), PathBuf::from("/Users/alice/.codexport")),
        ],
        PathBuf::from("/Users/alice/.codexport/logs/master-service.log"),
    )
}

#[test]
fn xml_text_escapes_markup_and_refuses_what_xml_cannot_carry() {
    assert_eq!(xml_text("/a b/c"), Ok("/a b/c".into()));
    assert_eq!(xml_text("a&b<c>d"), Ok("a&amp;b&lt;c&gt;d".into()));
    assert_eq!(xml_text("&amp;"), Ok("&amp;amp;".into()));
    assert_eq!(xml_text("\"q\" 'a' $HOME 100% é"), Ok("\"q\" 'a' $HOME 100% é".into()));
    assert_eq!(xml_text("tab\tnew\nline"), Ok("tab\tnew\nline".into()));
    for bad in ["a\rb", "a\u{1}b", "a\u{1b}b", "a\u{7f}b", "a\u{fffe}b", "a\u{ffff}"] {
        assert!(xml_text(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_plist_snapshot() {
    let (exe, env, log) = sample();
    let plist = render_plist(&exe, &env, &log).unwrap();
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("master-service-launchd-plist", plist);
    });
}

#[test]
fn unrenderable_plists_name_what_is_wrong() {
    let log = Path::new("/tmp/x.log");
    let err = render_plist(Path::new("bin/codexport"), &[], log).unwrap_err();
    assert!(err.to_string().contains("absolute path"), "{err}");
    let err = render_plist(
        Path::new("/usr/bin/codexport"),
        &[("CODEX_HOME".into(), PathBuf::from("/a\rb"))],
        log,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("CODEX_HOME \"/a\\rb\" cannot go into"),
        "{err}"
    );
    let err = render_plist(Path::new("/usr/bin/codexport"), &[("A B".into(), "/x".into())], log).unwrap_err();
    assert!(
        err.to_string().contains("not a valid environment variable name"),
        "{err}"
    );
    let without_env = render_plist(Path::new("/usr/bin/codexport"), &[], log).unwrap();
    assert!(!without_env.contains("EnvironmentVariables"), "{without_env}");
}

#[test]
fn program_arguments_read_back_what_render_wrote() {
    let exe = Path::new("/Users/a b/x&y <z>/it's \"q\"/codexport");
    let plist = render_plist(exe, &[], Path::new("/l")).unwrap();
    let args = program_arguments(&plist).unwrap();
    assert_eq!(args, [exe.to_str().unwrap(), "master", "serve"]);
    assert_eq!(
        command_text(&args),
        "\"/Users/a b/x&y <z>/it's \"q\"/codexport\" master serve"
    );
    assert_eq!(program_arguments("<plist/>"), None);
    let numeric = "<key>ProgramArguments</key>\n<array><string>&#65;&#x42;&quot;</string></array>";
    assert_eq!(program_arguments(numeric), Some(vec!["AB\"".to_string()]));
    let bad = "<key>ProgramArguments</key><array><string>a&bogus;</string></array>";
    assert_eq!(program_arguments(bad), None);
}

/// `python3 -c` on `plist`, printing the parsed plist as JSON; `None` (skip) when python3 is
/// missing and `CI` is unset.
fn plistlib(plist: &str) -> Option<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.plist");
    fs_err::write(&path, plist).unwrap();
    let script = "import json, plistlib, sys\nwith open(sys.argv[1], 'rb') as f:\n    d = plistlib.load(f)\nprint(json.dumps(d))";
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "python3 is required in CI: {e}");
            eprintln!("skipping: python3 not found ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "plistlib refused the plist: {}\n{plist}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn plistlib_reads_every_key_and_value_back() {
    let home = "/Users/a b/R&D <x> \"q\" it's $HOME 100% é";
    let exe = PathBuf::from(format!("{home}/.codexport/bin/codexport"));
    let env = vec![
        ("CODEX_HOME".to_string(), PathBuf::from(format!("{home}/.codex"))),
        (
            "CODEXPORT_HOME".to_string(),
            PathBuf::from(format!("{home}/.codexport")),
        ),
    ];
    let log = PathBuf::from(format!("{home}/.codexport/logs/master-service.log"));
    let Some(parsed) = plistlib(&render_plist(&exe, &env, &log).unwrap()) else {
        return;
    };
    let log = log.to_str().unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({
            "Label": "dev.codexport.master",
            "ProgramArguments": [exe.to_str().unwrap(), "master", "serve"],
            "EnvironmentVariables": {
                "CODEX_HOME": format!("{home}/.codex"),
                "CODEXPORT_HOME": format!("{home}/.codexport"),
            },
            "RunAtLoad": true,
            "KeepAlive": {"SuccessfulExit": false},
            "ProcessType": "Interactive",
            "StandardOutPath": log,
            "StandardErrorPath": log,
        })
    );
    let (exe, env, log) = sample();
    let parsed = plistlib(&render_plist(&exe, &env, &log).unwrap()).unwrap();
    assert_eq!(
        parsed["EnvironmentVariables"]["CODEX_HOME"],
        "/Users/alice/My Codex & <co>"
    );
}

/// `launchctl print gui/501/dev.codexport.master` of a running agent (the shape of macOS 13/14;
/// nested blocks hold `state`-like keys that must not be read).
const PRINT_RUNNING: &str = "gui/501/dev.codexport.master = {
\tactive count = 1
\tpath = /Users/alice/Library/LaunchAgents/dev.codexport.master.plist
\ttype = LaunchAgent
\tstate = running

\tprogram = /Users/alice/.codexport/bin/codexport
\targuments = {
\t\t/Users/alice/.codexport/bin/codexport
\t\tmaster
\t\tserve
\t}

\tenvironment = {
\t\tstate = not-the-state
\t\tpid = 1
\t}

\tdomain = gui/501 [100005]
\tasid = 100005
\tminimum runtime = 10
\texit timeout = 5
\truns = 1
\tpid = 4242
\timmediate reason = speculative
\tforks = 0
\texecs = 1
\tinitialized = 1
\ttrampolined = 1
\tstarted suspended = 0
\tproxy started suspended = 0
\tlast exit code = (never exited)
}
";

#[test]
fn launchctl_print_is_read_at_the_top_level_only() {
    assert_eq!(
        parse_print(PRINT_RUNNING),
        PrintInfo {
            state: Some("running".into()),
            pid: Some(4242),
            last_exit_code: Some("(never exited)".into()),
        }
    );
    let exited = "gui/501/dev.codexport.master = {\n\tstate = not running\n\tlast exit code = 1\n}\n";
    assert_eq!(
        parse_print(exited),
        PrintInfo {
            state: Some("not running".into()),
            pid: None,
            last_exit_code: Some("1".into()),
        }
    );
    assert_eq!(parse_print(""), PrintInfo::default());
}

#[test]
fn manual_commands_bootout_only_an_updated_agent_and_quote_the_path() {
    let plist = Path::new("/Users/a b/Library/LaunchAgents/dev.codexport.master.plist");
    assert_eq!(
        manual_install_commands(501, plist, Change::Created),
        ["launchctl bootstrap gui/501 '/Users/a b/Library/LaunchAgents/dev.codexport.master.plist'"]
    );
    let plain = Path::new("/Users/alice/Library/LaunchAgents/dev.codexport.master.plist");
    assert_eq!(
        manual_install_commands(501, plain, Change::Updated),
        [
            "launchctl bootout gui/501/dev.codexport.master",
            "launchctl bootstrap gui/501 /Users/alice/Library/LaunchAgents/dev.codexport.master.plist"
        ]
    );
}

#[cfg(unix)]
#[path = "launchd_stub_tests.rs"]
mod stub;
