//! The npm distribution (npm/README.md): `scripts/npm-pack.sh` packs this test binary, npm
//! installs the tarballs offline (files, no registry), and `npx` runs codexport through the Node
//! launcher: `--version`, `demo`, exit codes and signals relayed, the error when the platform
//! package is missing, and a follower joined through npx whose hook and MCP commands name
//! `$CODEXPORT_HOME/bin/codexport`, never the npm tree. Needs node, npm and npx: with `CI` set a
//! missing one fails the test.

mod common;
#[path = "npm_dist/support.rs"]
mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Machine, Run};
use support::*;

#[test]
fn npx_runs_the_packed_binary() {
    let Some(t) = tools() else { return };
    let d = dist(&t);
    let m = Machine::new();
    let cache = m.home.join(".npm-cache");

    let started = Instant::now();
    let version = npx(&t, &m, &d.project, &cache, &[], &["--version"]);
    eprintln!("npx --offline codexport --version took {:?}", started.elapsed());
    assert_eq!(
        (version.code, version.stdout.as_str()),
        (0, format!("codexport {VERSION}\n").as_str())
    );

    // The exit code comes through: a usage error is the binary's own code, not node's 1.
    let direct = m.run(&["no-such-command"]);
    let through = npx(&t, &m, &d.project, &cache, &[], &["no-such-command"]);
    assert_ne!(direct.code, 0);
    assert_eq!(through.code, direct.code, "{}", through.stderr);
    assert!(through.stderr.contains("unrecognized subcommand"), "{}", through.stderr);

    let demo = npx(&t, &m, &d.project, &cache, &[], &["demo"]);
    assert_eq!(demo.code, 0, "stdout:\n{}\nstderr:\n{}", demo.stdout, demo.stderr);
    for line in [
        "== 4. codexport plan",
        "  + $CODEXPORT_HOME/bin/codexport ",
        "Plan: ",
        "== 5. codexport apply",
        "applied revision sha256:",
        "plan after apply: no changes",
    ] {
        assert!(demo.stdout.contains(line), "demo printed no {line:?}:\n{}", demo.stdout);
    }
}

#[test]
fn missing_or_unsupported_platform_is_explained() {
    let Some(t) = tools() else { return };
    let d = dist(&t);
    let m = Machine::new();
    let cache = m.home.join(".npm-cache");
    let dir = project(&m.home.join("project"));
    install(&t, &dir, &m.home, &[&d.main], &["--omit=optional"]);
    assert!(dir.join("node_modules/codexport/bin/codexport.js").is_file());

    let run = npx(&t, &m, &dir, &cache, &[], &["--version"]);
    let platform = npm_platform();
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    for part in [
        format!("the package @codexport/{platform}, which holds the binary for {platform}, is not installed"),
        format!("npm install @codexport/{platform}"),
        "--omit=optional".to_string(),
        "cargo install --locked codexport".to_string(),
    ] {
        assert!(run.stderr.contains(&part), "no {part:?} in:\n{}", run.stderr);
    }

    // A platform with no package: node told it runs on AIX.
    let preload = m.home.join("aix.js");
    fs_err::write(
        &preload,
        "Object.defineProperty(process, 'platform', { value: 'aix' });\n",
    )
    .unwrap();
    let mut c = Command::new(&t.node);
    c.arg("--require")
        .arg(&preload)
        .arg(d.project.join("node_modules/codexport/bin/codexport.js"))
        .arg("--version")
        .env("HOME", &m.home);
    let run = Run::from_output(c.output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no prebuilt binary for this platform (aix-"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cargo install --locked codexport"),
        "{}",
        run.stderr
    );
}

#[test]
fn launcher_relays_signals_and_dies_of_the_binarys_signal() {
    let Some(t) = tools() else { return };
    let d = dist(&t);
    let m = Machine::with_example();
    m.ok(&["master", "init"]);

    // SIGTERM to the launcher alone reaches the binary, which shuts down and exits 0.
    let (mut child, port) = serve_through_launcher(&t, d, &m);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for(&mut child, 20);
    assert_eq!((status.code(), status.signal()), (Some(0), None), "{status:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens on {port} after the launcher exited"
    );

    // The binary killed by a signal: the launcher dies of the same signal.
    let (mut child, _) = serve_through_launcher(&t, d, &m);
    let binaries = children_of(child.id());
    assert_eq!(binaries.len(), 1, "children of the launcher: {binaries:?}");
    let kill = Command::new("kill")
        .args(["-KILL", &binaries[0].to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for(&mut child, 20);
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

#[test]
fn follower_joined_through_npx_runs_its_own_copy() {
    let Some(t) = tools() else { return };
    let d = dist(&t);
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "npx-follower");

    // The worst case: no project, npx installs codexport into its own cache (`_npx/<hash>`), so
    // the running binary lives there.
    let follower = Machine::new();
    let npm_tmp = tempfile::tempdir().unwrap();
    let cache = npm_tmp.path().join("npm-cache");
    let cwd = project(&npm_tmp.path().join("elsewhere"));
    let pre: [&OsArg; 5] = [
        "--yes".as_ref(),
        "--package".as_ref(),
        d.platform.as_os_str(),
        "--package".as_ref(),
        d.main.as_os_str(),
    ];
    let run = npx(
        &t,
        &follower,
        &cwd,
        &cache,
        &pre,
        &["follower", "join", &link, "--apply"],
    );
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let run = npx(&t, &follower, &cwd, &cache, &pre, &["hook", "install"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let npx_binary = walkdir::WalkDir::new(cache.join("_npx"))
        .into_iter()
        .flatten()
        .find(|e| e.file_type().is_file() && e.path().ends_with("bin/codexport"))
        .map(|e| e.into_path())
        .unwrap_or_else(|| panic!("npx installed no bin/codexport under {}", cache.display()));

    let launcher = follower.codexport_home.join("bin/codexport");
    let meta = fs_err::symlink_metadata(&launcher).unwrap();
    assert!(
        meta.file_type().is_file(),
        "{} is not a regular file",
        launcher.display()
    );
    assert!(fs_err::read(&launcher).unwrap() == fs_err::read(&npx_binary).unwrap());

    let hooks: serde_json::Value =
        serde_json::from_slice(&fs_err::read(follower.codex_home.join("hooks.json")).unwrap()).unwrap();
    let mut commands = Vec::new();
    hook_commands(&hooks, &mut commands);
    let ours: Vec<&String> = commands.iter().filter(|c| c.contains("reconcile --hook")).collect();
    assert_eq!(ours.len(), 1, "codexport hook commands in hooks.json: {commands:?}");
    assert!(ours[0].contains(&format!("'{}'", launcher.display())), "{}", ours[0]);

    let config: toml::Table =
        toml::from_str(&fs_err::read_to_string(follower.codex_home.join("config.toml")).unwrap()).unwrap();
    let servers = config["mcp_servers"].as_table().unwrap();
    let stdio: Vec<_> = servers.values().filter(|s| s.get("command").is_some()).collect();
    assert!(!stdio.is_empty(), "the example has command MCP servers: {servers:?}");
    for server in stdio {
        assert_eq!(
            server["command"].as_str(),
            Some(launcher.to_str().unwrap()),
            "{server:?}"
        );
    }

    let npm_trees = [npm_tmp.path(), d.project.as_path()];
    for file in ["hooks.json", "config.toml"] {
        let text = fs_err::read_to_string(follower.codex_home.join(file)).unwrap();
        for tree in npm_trees {
            assert!(
                !text.contains(&tree.display().to_string()),
                "{file} names {}:\n{text}",
                tree.display()
            );
        }
        assert!(
            !text.contains("/node_modules/") && !text.contains("/_npx/"),
            "{file}:\n{text}"
        );
    }

    // The npm tree gone (npx cache cleared): the hook command still runs, as Codex runs it
    // (sh, no npm on PATH), and records its run.
    drop(npm_tmp);
    let last = follower.codexport_home.join("hook-last.json");
    assert!(!last.exists());
    let mut c = Command::new("sh");
    c.args(["-c", ours[0].as_str()])
        .env_clear()
        .env("HOME", &follower.home)
        .env("CODEX_HOME", &follower.codex_home)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null());
    ok("the hook command", &mut c);
    let record: serde_json::Value = serde_json::from_slice(&fs_err::read(&last).unwrap()).unwrap();
    assert_eq!(record["outcome"], "up-to-date", "{record}");
}
