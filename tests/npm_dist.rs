//! The npm distribution (npm/README.md): `scripts/npm-pack.sh` packs this test binary, npm
//! installs the tarballs offline (files, no registry), and `npx` runs codexport through the Node
//! launcher: `--version`, `demo`, exit codes and signals relayed, the error when the platform
//! package is missing, and a follower joined through npx whose hook and MCP commands name
//! `$CODEXPORT_HOME/bin/codexport`, never the npm tree. Needs node, npm and npx: with `CI` set a
//! missing one fails the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::mcp::required_tool;
use common::{Machine, Run, bin};

const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Tools {
    node: PathBuf,
    npm: PathBuf,
    npx: PathBuf,
}

/// node, npm and npx, or `None` (test skipped) when one is missing outside CI.
fn tools() -> Option<Tools> {
    let hint = "install Node.js 16 or later (Debian: apt-get install nodejs npm)";
    Some(Tools {
        node: required_tool("node", hint)?,
        npm: required_tool("npm", hint)?,
        npx: required_tool("npx", hint)?,
    })
}

/// This machine's npm platform name (`process.platform`-`process.arch`).
fn npm_platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}-{cpu}")
}

/// The tarballs and a project with both installed, made once per test process under
/// `CARGO_TARGET_TMPDIR/npm_dist` (rewritten at every run).
struct Dist {
    main: PathBuf,
    platform: PathBuf,
    project: PathBuf,
}

static DIST: OnceLock<Dist> = OnceLock::new();

/// npm/npx with a temp `home` and its own npm cache, no update check, audit or fund request.
fn npm_command(tool: &Path, home: &Path, cache: &Path) -> Command {
    let mut c = Command::new(tool);
    c.env("HOME", home)
        .env("npm_config_cache", cache)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn ok(what: &str, c: &mut Command) -> Run {
    let run = Run::from_output(c.output().unwrap());
    assert_eq!(
        run.code, 0,
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

/// A fresh npm project in `dir`.
fn project(dir: &Path) -> PathBuf {
    fs_err::create_dir_all(dir).unwrap();
    fs_err::write(
        dir.join("package.json"),
        r#"{"name":"p","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    dir.to_path_buf()
}

/// `npm install --offline` of the tarballs `files` into `project` (plus `extra` flags).
fn install(t: &Tools, project: &Path, home: &Path, files: &[&Path], extra: &[&str]) {
    let mut c = npm_command(&t.npm, home, &home.join(".npm-cache"));
    c.current_dir(project)
        .args(["install", "--offline", "--no-audit", "--no-fund"])
        .args(extra)
        .args(files);
    ok("npm install", &mut c);
}

fn dist(t: &Tools) -> &'static Dist {
    DIST.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm_dist");
        let _ = fs_err::remove_dir_all(&root);
        let out = root.join("tarballs");
        let home = root.join("home");
        fs_err::create_dir_all(&home).unwrap();
        let started = Instant::now();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/npm-pack.sh");
        let mut c = npm_command(Path::new("bash"), &home, &home.join(".npm-cache"));
        c.arg(&script).arg(&out).env("CODEXPORT_BIN", bin());
        let packed = ok("scripts/npm-pack.sh", &mut c);
        eprintln!("npm-pack.sh took {:?}:\n{}", started.elapsed(), packed.stdout);
        let platform = npm_platform();
        assert!(
            packed.stdout.contains(&format!("platform packages built: {platform}")),
            "{}",
            packed.stdout
        );
        let main = out.join(format!("codexport-{VERSION}.tgz"));
        let platform = out.join(format!("codexport-{platform}-{VERSION}.tgz"));
        assert!(main.is_file() && platform.is_file(), "{}", packed.stdout);
        let project = project(&root.join("project"));
        install(t, &project, &home, &[&platform, &main], &[]);
        Dist {
            main,
            platform,
            project,
        }
    })
}

/// `npx --offline codexport ARGS` in `dir` on machine `m` (its HOME, CODEX_HOME,
/// CODEXPORT_HOME and the rest of the test environment), npm cache in `cache`.
fn npx(t: &Tools, m: &Machine, dir: &Path, cache: &Path, pre: &[&OsArg], args: &[&str]) -> Run {
    let mut c = npm_command(&t.npx, &m.home, cache);
    for (k, v) in m.command(&[]).get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(dir)
        .arg("--offline")
        .args(pre)
        .arg("codexport")
        .args(args);
    Run::from_output(c.output().unwrap())
}

type OsArg = std::ffi::OsStr;

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

/// Wait up to `secs` for `child`; kill it and panic when it is still running.
fn wait_for(child: &mut std::process::Child, secs: u64) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the launcher did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `node codexport.js master serve` on `m`: the child, the port the binary printed.
fn serve_through_launcher(t: &Tools, d: &Dist, m: &Machine) -> (std::process::Child, u16) {
    let mut c = Command::new(&t.node);
    for (k, v) in m.command(&[]).get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.arg(d.project.join("node_modules/codexport/bin/codexport.js"))
        .args(["master", "serve", "--bind", "127.0.0.1", "--port", "0", "--no-watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://127.0.0.1:"))
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("serve printed {line:?}"));
    // `master serve` prints its address before it installs its SIGTERM handler (the first poll
    // of its serve loop): one answered request, and the handler is in place.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer:?}");
    (child, port)
}

/// The processes whose parent is `pid` (Linux `/proc`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(pid.to_string().as_str()) {
            out.push(child);
        }
    }
    out
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

/// Every `command` string in hooks.json (any depth).
fn hook_commands(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("command", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => hook_commands(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| hook_commands(v, out)),
        _ => {}
    }
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
