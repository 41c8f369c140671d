//! Hook trust keys when the follower's `~/.codex` is a symlink (a dotfiles manager's
//! `~/.codex -> ~/dotfiles/codex`; on macOS every path under `/tmp` is one), checked by the
//! real Codex CLI (`@openai/codex@0.169.0`, docs/codex-facts.md "Trust keys and symlinked
//! CODEX_HOME").
//!
//! Codex names hooks.json (and config.toml) in a trust key by its home as it found it: with
//! `CODEX_HOME` set, the canonical path (links resolved); with `CODEX_HOME` unset, `$HOME/.codex`
//! as written, link and all. A key under the other name is silently not trust. Both cases are
//! run here, each with the master's hooks (several SessionStart handlers in hooks.json, one
//! inline `[[hooks.SessionStart]]` in config.toml, one the master did not trust) and
//! codexport's own SessionStart hook.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codexport::codex::hooks::trust_hash;
use common::{Machine, Run, codex_bin};
use serde_json::{Map, Value, json};

/// Records that it ran as `ran-<name>` next to itself (in `hooks/`, reachable through the link
/// and the real path alike). No stdout: that would go into the model's context.
const MARK: &str = "#!/bin/sh\ncat > \"$(dirname \"$0\")/ran-$1\"\n";

const MATCHER: &str = "startup|resume";

/// The master's trusted handlers (hooks.json, then the inline one of config.toml) and the one
/// it did not trust.
const TRUSTED: [&str; 4] = ["a", "b", "c", "inline"];
const UNTRUSTED: &str = "stale";

fn handler(codex_home: &str, name: &str) -> Map<String, Value> {
    let command = format!("sh {codex_home}/hooks/mark.sh {name}");
    json!({"type": "command", "command": command, "timeout": 10})
        .as_object()
        .unwrap()
        .clone()
}

/// A master whose hooks.json has two SessionStart groups (`a`, `b` | `c`, `stale`) and whose
/// config.toml has one inline SessionStart hook (`inline`); config.toml trusts `a`, `b`, `c` and
/// `inline` under the keys its own Codex uses, and holds an old hash for `stale`.
fn master() -> Machine {
    let m = Machine::new();
    let ch = m.codex_home.display().to_string();
    fs_err::create_dir_all(m.codex_home.join("hooks")).unwrap();
    fs_err::write(m.codex_home.join("hooks/mark.sh"), MARK).unwrap();
    let hooks = json!({"hooks": {"SessionStart": [
        {"matcher": MATCHER, "hooks": [handler(&ch, "a"), handler(&ch, "b")]},
        {"matcher": MATCHER, "hooks": [handler(&ch, "c"), handler(&ch, UNTRUSTED)]},
    ]}});
    fs_err::write(
        m.codex_home.join("hooks.json"),
        serde_json::to_string_pretty(&hooks).unwrap(),
    )
    .unwrap();
    let hash = |name: &str| trust_hash("SessionStart", Some(MATCHER), &handler(&ch, name));
    let entry = |source: &str, at: &str, hash: String| {
        format!("[hooks.state.\"{ch}/{source}:session_start:{at}\"]\ntrusted_hash = \"{hash}\"\n\n")
    };
    let config = [
        format!(
            "[[hooks.SessionStart]]\nmatcher = \"{MATCHER}\"\n[[hooks.SessionStart.hooks]]\ntype = \"command\"\ncommand = \"sh {ch}/hooks/mark.sh inline\"\ntimeout = 10\n\n"
        ),
        entry("hooks.json", "0:0", hash("a")),
        entry("hooks.json", "0:1", hash("b")),
        entry("hooks.json", "1:0", hash("c")),
        entry("hooks.json", "1:1", hash("stale-v0")),
        entry("config.toml", "0:0", hash("inline")),
    ]
    .concat();
    fs_err::write(m.codex_home.join("config.toml"), config).unwrap();
    m
}

/// A fresh machine whose `~/.codex` is a relative symlink to `~/dotfiles/codex`.
fn follower_with_linked_codex_home() -> Machine {
    let m = Machine::new();
    fs_err::remove_dir(&m.codex_home).unwrap();
    fs_err::create_dir_all(m.home.join("dotfiles/codex")).unwrap();
    std::os::unix::fs::symlink("dotfiles/codex", &m.codex_home).unwrap();
    assert!(
        fs_err::symlink_metadata(&m.codex_home)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    m
}

/// How the follower's commands and Codex find CODEX_HOME.
#[derive(Clone, Copy, Debug)]
enum Home {
    /// `CODEX_HOME=<home>/.codex` (the link).
    EnvSet,
    /// `CODEX_HOME` unset: Codex and codexport both default to `$HOME/.codex` (the link).
    Default,
}

impl Home {
    fn apply(self, c: &mut Command, m: &Machine) {
        match self {
            Home::EnvSet => c.env("CODEX_HOME", &m.codex_home),
            Home::Default => c.env_remove("CODEX_HOME"),
        };
    }

    /// The CODEX_HOME Codex names hook sources by (what Codex's own trust writes).
    fn as_codex_names_it(self, m: &Machine) -> PathBuf {
        match self {
            Home::EnvSet => fs_err::canonicalize(&m.codex_home).unwrap(),
            Home::Default => m.codex_home.clone(),
        }
    }
}

fn codexport(m: &Machine, home: Home, args: &[&str]) -> Run {
    let mut c = m.command(args);
    home.apply(&mut c, m);
    Run::from_output(c.output().unwrap()).expect_code(0)
}

fn revision(m: &Machine) -> String {
    let inventory: Value =
        serde_json::from_str(&fs_err::read_to_string(m.codexport_home.join("inventory.json")).unwrap()).unwrap();
    inventory["revision"].as_str().unwrap().to_string()
}

/// Runs `codex exec` on `m` (HOME of `m`, CODEX_HOME as `home` says; no API key, no network)
/// until `want` markers are in `hooks/` and `revision(m) == want_revision` (codexport's own hook
/// applied it), or `secs` passed; then ends it by PID (`timeout` relays the SIGTERM to the node
/// launcher, which relays it to the native binary) and returns the names that ran, sorted, and
/// Codex's stderr.
fn run_codex(
    codex: &Path,
    m: &Machine,
    home: Home,
    want: usize,
    want_revision: &str,
    secs: u64,
) -> (Vec<String>, String) {
    let stderr = m.home.join("codex-stderr.txt");
    let mut c = Command::new("timeout");
    c.args(["-k", "2", &(secs + 5).to_string()])
        .arg(codex)
        .args(["exec", "--skip-git-repo-check", "hi"])
        .current_dir(&m.home)
        .env("HOME", &m.home)
        // Whatever runs must not rely on the environment for codexport's home (its hook command
        // sets it): point it nowhere.
        .env("CODEXPORT_HOME", "/nonexistent-codexport-home")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs_err::File::create(&stderr).unwrap().into_parts().0);
    home.apply(&mut c, m);
    let mut child = c.spawn().unwrap();
    let hooks = m.codex_home.join("hooks");
    let ran = || -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(&hooks)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_prefix("ran-").map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline && (ran().len() < want || revision(m) != want_revision) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The untrusted hook would have run alongside the others: give it a moment to show.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();
    let names = ran();
    for name in &names {
        let event: Value =
            serde_json::from_str(&fs_err::read_to_string(hooks.join(format!("ran-{name}"))).unwrap()).unwrap();
        assert_eq!(event["hook_event_name"], "SessionStart", "{name}");
    }
    (names, fs_err::read_to_string(&stderr).unwrap_or_default())
}

fn scenario(home: Home) {
    let master = master();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = follower_with_linked_codex_home();
    codexport(
        &follower,
        home,
        &["follower", "join", &master.link(&server, "dotfiles")],
    );
    codexport(&follower, home, &["apply"]);
    codexport(&follower, home, &["hook", "install"]);
    assert!(
        follower.home.join("dotfiles/codex/hooks.json").is_file(),
        "written through the link"
    );
    assert!(
        fs_err::symlink_metadata(&follower.codex_home)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );

    // The keys are those Codex uses for this machine.
    let root = home.as_codex_names_it(&follower).display().to_string();
    let config: toml::Table =
        toml::from_str(&fs_err::read_to_string(follower.codex_home.join("config.toml")).unwrap()).unwrap();
    let mut keys: Vec<&String> = config["hooks"]["state"].as_table().unwrap().keys().collect();
    keys.sort();
    let mut want: Vec<String> = ["0:0", "0:1", "1:0", "1:1", "2:0"]
        .iter()
        .map(|at| format!("{root}/hooks.json:session_start:{at}"))
        .chain([format!("{root}/config.toml:session_start:0:0")])
        .collect();
    want.sort();
    assert_eq!(keys, want.iter().collect::<Vec<_>>(), "{home:?}: trust keys");
    let status: Value =
        serde_json::from_str(&codexport(&follower, home, &["hook", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status["trusted"], true, "{home:?}: {status}");
    assert_eq!(
        status["trustKey"],
        format!("{root}/hooks.json:session_start:2:0"),
        "{home:?}"
    );
    let status: Value =
        serde_json::from_str(&codexport(&follower, home, &["status", "--output", "json"]).stdout).unwrap();
    assert_eq!(
        status["follower"]["hooks"],
        json!({"configured": 5, "trusted": 4}),
        "{home:?}: hooks.json's a, b, c and codexport's (the inline hook is not counted)"
    );

    let Some(codex) = codex_bin() else { return };
    fs_err::write(master.codex_home.join("AGENTS.md"), "# v2\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let before = revision(&follower);
    let published: Value = serde_json::from_str(&master.ok(&["status", "--output", "json"]).stdout).unwrap();
    let v2 = published["master"]["publishedRevision"].as_str().unwrap().to_string();
    assert_ne!(v2, before);
    let (ran, stderr) = run_codex(&codex, &follower, home, TRUSTED.len(), &v2, 20);
    assert_eq!(
        ran, TRUSTED,
        "{home:?}: the hooks the master trusted ran, the stale one did not\n{stderr}"
    );
    assert_eq!(
        revision(&follower),
        v2,
        "{home:?}: codexport's own hook ran and applied v2\n{stderr}"
    );
}

#[test]
fn codex_runs_the_trusted_hooks_when_codex_home_is_set_to_a_symlink() {
    scenario(Home::EnvSet);
}

#[test]
fn codex_runs_the_trusted_hooks_when_the_default_codex_home_is_a_symlink() {
    scenario(Home::Default);
}
