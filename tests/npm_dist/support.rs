//! Helpers of tests/npm_dist.rs: node/npm/npx (required in CI), the tarballs packed once by
//! scripts/npm-pack.sh, offline installs, npx on a test machine, and process plumbing.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::mcp::required_tool;
use crate::common::{Machine, Run, bin};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Tools {
    pub node: PathBuf,
    pub npm: PathBuf,
    pub npx: PathBuf,
}

/// node, npm and npx, or `None` (test skipped) when one is missing outside CI.
pub fn tools() -> Option<Tools> {
    let hint = "install Node.js 16 or later (Debian: apt-get install nodejs npm)";
    Some(Tools {
        node: required_tool("node", hint)?,
        npm: required_tool("npm", hint)?,
        npx: required_tool("npx", hint)?,
    })
}

/// This machine's npm platform name (`process.platform`-`process.arch`).
pub fn npm_platform() -> String {
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
pub struct Dist {
    pub main: PathBuf,
    pub platform: PathBuf,
    pub project: PathBuf,
}

static DIST: OnceLock<Dist> = OnceLock::new();

/// npm/npx with a temp `home` and its own npm cache, no update check, audit or fund request.
pub fn npm_command(tool: &Path, home: &Path, cache: &Path) -> Command {
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

pub fn ok(what: &str, c: &mut Command) -> Run {
    let run = Run::from_output(c.output().unwrap());
    assert_eq!(
        run.code, 0,
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

/// A fresh npm project in `dir`.
pub fn project(dir: &Path) -> PathBuf {
    fs_err::create_dir_all(dir).unwrap();
    fs_err::write(
        dir.join("package.json"),
        r#"{"name":"p","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    dir.to_path_buf()
}

/// `npm install --offline` of the tarballs `files` into `project` (plus `extra` flags).
pub fn install(t: &Tools, project: &Path, home: &Path, files: &[&Path], extra: &[&str]) {
    let mut c = npm_command(&t.npm, home, &home.join(".npm-cache"));
    c.current_dir(project)
        .args(["install", "--offline", "--no-audit", "--no-fund"])
        .args(extra)
        .args(files);
    ok("npm install", &mut c);
}

pub fn dist(t: &Tools) -> &'static Dist {
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
pub fn npx(t: &Tools, m: &Machine, dir: &Path, cache: &Path, pre: &[&OsArg], args: &[&str]) -> Run {
    let mut c = npm_command(&t.npx, &m.home, cache);
    with_env_of(&mut c, m);
    c.current_dir(dir)
        .arg("--offline")
        .args(pre)
        .arg("codexport")
        .args(args);
    Run::from_output(c.output().unwrap())
}

pub type OsArg = std::ffi::OsStr;

/// Wait up to `secs` for `child`; kill it and panic when it is still running.
pub fn wait_for(child: &mut std::process::Child, secs: u64) -> ExitStatus {
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
pub fn serve_through_launcher(t: &Tools, d: &Dist, m: &Machine) -> (std::process::Child, u16) {
    let mut c = Command::new(&t.node);
    with_env_of(&mut c, m);
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
pub fn children_of(pid: u32) -> Vec<u32> {
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

/// Every `command` string in hooks.json (any depth).
pub fn hook_commands(v: &serde_json::Value, out: &mut Vec<String>) {
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

/// Give `c` the environment the harness gives codexport on `m` (HOME, CODEX_HOME,
/// CODEXPORT_HOME, manual MCP installs, no real systemctl, ...).
pub fn with_env_of(c: &mut Command, m: &Machine) {
    for (k, v) in m.command(&[]).get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
}
