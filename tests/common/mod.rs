//! Test harness: machines (temp HOME, CODEX_HOME, CODEXPORT_HOME), the real `codexport` binary,
//! and the real master server started as a child process on 127.0.0.1.
#![allow(dead_code)]

pub mod counting;
pub mod hostile;
pub mod mcp;
pub mod proxy;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A plain reqwest client for tests that talk to the master themselves. reqwest is built
/// without a default crypto provider (codexport uses ring): install it first, as codexport's
/// own client does.
pub fn http() -> reqwest::blocking::Client {
    codexport::follower::client::install_crypto_provider();
    reqwest::blocking::Client::new()
}

/// The codexport binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_codexport")
}

/// One machine: its own temp HOME with `.codex` and `.codexport` inside.
pub struct Machine {
    _dir: tempfile::TempDir,
    pub home: PathBuf,
    pub codex_home: PathBuf,
    pub codexport_home: PathBuf,
}

/// Remove the machine's temp dir, retrying for up to 2 s: a Codex CLI run (tests/codex_cli.rs
/// and others) can leave a process writing its sqlite files under `.codex` for a moment after
/// the command returned, and `TempDir`'s own removal then fails silently (it left 47 dirs of
/// about 240 MB each in /tmp on one machine).
impl Drop for Machine {
    fn drop(&mut self) {
        kill_processes_of(&self.home);
        for _ in 0..20 {
            match std::fs::remove_dir_all(self._dir.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(100))
                }
                _ => return,
            }
        }
        eprintln!("could not remove {} (left behind)", self._dir.path().display());
    }
}

/// Kill every process still running with `HOME=<home>` in its environment: what a test's
/// children left behind (an MCP server that `codex exec` started outlives the `codex` the test
/// stopped, and kept writing its cache into the home after the drop removed it). Linux only
/// (`/proc/<pid>/environ`); elsewhere a no-op.
fn kill_processes_of(home: &std::path::Path) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let wanted = [b"HOME=".as_slice(), home.as_os_str().as_bytes()].concat();
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == me {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if environ.split(|b| *b == 0).any(|var| var == wanted.as_slice())
                && let Some(pid) = rustix::process::Pid::from_raw(pid)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = home;
}

/// Result of one command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The result of a `Command` a test built itself (e.g. with extra env).
    pub fn from_output(out: Output) -> Self {
        Run::from(out)
    }

    /// Panic with the whole output unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl Machine {
    pub fn new() -> Self {
        // The test's name is in the directory's, so a home left behind (a child process still
        // writing into it after the drop) says which test made it.
        // (Cut to 48 characters: paths under the home stay short.)
        let test: String = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-")
            .chars()
            .take(48)
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("codexport-test-{test}-"))
            .tempdir()
            .unwrap();
        let home = dir.path().join("home");
        let codex_home = home.join(".codex");
        let codexport_home = home.join(".codexport");
        fs_err::create_dir_all(&codex_home).unwrap();
        Machine {
            _dir: dir,
            home,
            codex_home,
            codexport_home,
        }
    }

    /// A machine whose ~/.codex is the bundled example (master-basic) for this home.
    pub fn with_example() -> Self {
        let m = Machine::new();
        codexport::example::write_master_basic(&m.codex_home, &m.home).unwrap();
        m
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("HOME", &self.home)
            .env("CODEX_HOME", &self.codex_home)
            .env("CODEXPORT_HOME", &self.codexport_home)
            .env("NO_COLOR", "1")
            // Log levels come from the flags a test gives (tests/logging.rs sets RUST_LOG itself).
            .env_remove("RUST_LOG")
            // Reconciles install no MCP packages unless a test asks for it (tests/mcp_*.rs).
            .env("CODEXPORT_MCP_INSTALL", "manual")
            // `master service` never reaches the real user systemd nor the real ~/.config
            // (tests/master_service.rs overrides both where it needs to).
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("CODEXPORT_SYSTEMCTL", "/nonexistent/codexport-test/systemctl")
            .env("CODEXPORT_LAUNCHCTL", "/nonexistent/codexport-test/launchctl")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Run with `PATH` set to `path` (tools a test installed) and require exit 0.
    pub fn ok_with_path(&self, args: &[&str], path: &std::ffi::OsStr) -> Run {
        Run::from(self.command(args).env("PATH", path).output().unwrap()).expect_code(0)
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        self.run(args).expect_code(0)
    }

    /// Every regular file under CODEX_HOME: relative path -> (bytes, mode).
    pub fn codex_files(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        tree(&self.codex_home)
    }

    /// Every path (files, dirs, links) under CODEXPORT_HOME, relative.
    pub fn codexport_paths(&self) -> Vec<String> {
        if !self.codexport_home.exists() {
            return vec![];
        }
        let mut out: Vec<String> = walkdir::WalkDir::new(&self.codexport_home)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                e.unwrap()
                    .path()
                    .strip_prefix(&self.codexport_home)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        out.sort();
        out
    }

    /// Start `codexport master serve` on a free loopback port.
    pub fn serve(&self) -> Server {
        self.serve_with(&[], &[])
    }

    /// [`Machine::serve`] with more arguments (`--no-watch`) and environment variables.
    pub fn serve_with(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = self.command(&["master", "serve", "--bind", "127.0.0.1", "--port", "0"]);
        command.args(args).envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Server { child, url, port }
    }

    /// `master init` + a link for a follower, returning the link.
    pub fn link(&self, server: &Server, name: &str) -> String {
        self.link_on_port(server.port, name)
    }

    /// A join link for follower `name` that points at `port` on loopback (a proxy in front of
    /// the server, for instance).
    pub fn link_on_port(&self, port: u16, name: &str) -> String {
        let out = self.ok(&[
            "master",
            "link",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--name",
            name,
            "--output",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["joinLink"].as_str().unwrap().to_string()
    }
}

/// `paths` (relative to CODEXPORT_HOME) without the daily log files, which every command
/// writes, failed ones included.
pub fn without_logs(paths: Vec<String>) -> Vec<String> {
    paths
        .into_iter()
        .filter(|p| p != "logs" && !p.starts_with("logs/codexport-"))
        .collect()
}

/// Regular files under `root` (symlinks are listed with an empty body and mode 0).
pub fn tree(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        if e.file_type().is_file() {
            let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
            out.insert(rel, (fs_err::read(e.path()).unwrap(), mode));
        } else if e.file_type().is_symlink() {
            out.insert(rel, (Vec::new(), 0));
        }
    }
    out
}

/// A running `codexport master serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Server {
    /// Send SIGTERM and wait; returns the exit code.
    pub fn terminate(mut self) -> i32 {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A master with the example published and serving, plus a follower joined and applied.
pub struct Pair {
    pub master: Machine,
    pub server: Server,
    pub follower: Machine,
    pub link: String,
}

impl Pair {
    /// Master initialised with the example; follower joined (not applied).
    pub fn joined() -> Pair {
        let master = Machine::with_example();
        master.ok(&["master", "init"]);
        let server = master.serve();
        let link = master.link(&server, "test-follower");
        let follower = Machine::new();
        follower.ok(&["follower", "join", &link]);
        Pair {
            master,
            server,
            follower,
            link,
        }
    }

    /// Joined and applied.
    pub fn applied() -> Pair {
        let pair = Pair::joined();
        pair.follower.ok(&["apply"]);
        pair
    }
}

/// The `codex` binary for real-client checks: `$CODEX_BIN`, `.tools/codex/node_modules/.bin/codex`,
/// or `codex` on PATH. With `CI` set, a missing binary fails the test instead of skipping it.
pub fn codex_bin() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CODEX_BIN").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/codex/node_modules/.bin/codex")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("codex"))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the real Codex CLI is required in CI: npm install --prefix .tools/codex @openai/codex@0.169.0"
        );
        eprintln!("skipping the real-Codex check: codex not found (set CODEX_BIN)");
    }
    found
}

/// What a follower's config.toml should parse to: `original` (master paths already replaced)
/// with every command MCP server pointed at the follower's launcher, as the renderer does.
pub fn with_launcher(original: &str, follower: &Machine) -> toml::Table {
    let mut table: toml::Table = toml::from_str(original).unwrap();
    let launcher = follower.codexport_home.join("bin/codexport").display().to_string();
    let home = follower.codexport_home.display().to_string();
    if let Some(toml::Value::Table(servers)) = table.get_mut("mcp_servers") {
        for (name, server) in servers.iter_mut() {
            let toml::Value::Table(server) = server else { continue };
            if server.contains_key("command") && !server.contains_key("url") {
                server.remove("cwd");
                server.insert("command".into(), launcher.clone().into());
                server.insert(
                    "args".into(),
                    toml::Value::Array(vec!["mcp".into(), "run".into(), name.clone().into()]),
                );
                let env = toml::Table::from_iter([("CODEXPORT_HOME".to_string(), toml::Value::from(home.clone()))]);
                server.insert("env".into(), toml::Value::Table(env));
            }
        }
    }
    table
}

/// A plan (JSON) with what depends on the machine replaced by placeholders: fingerprints, and
/// the sizes of config.toml/hooks.json (they hold the follower's temp home) and of the
/// launcher binary (this build).
pub fn normalize_plan_json(mut plan: serde_json::Value) -> serde_json::Value {
    plan["desiredFingerprint"] = "[fingerprint]".into();
    plan["observedFingerprint"] = "[fingerprint]".into();
    for step in plan["steps"].as_array_mut().unwrap() {
        if ["WriteConfig", "WriteHooks", "InstallSelf"].contains(&step["kind"].as_str().unwrap_or("")) {
            for k in ["sizeBefore", "sizeAfter"] {
                if step.get(k).is_some() {
                    step[k] = "[depends on the machine]".into();
                }
            }
        }
    }
    plan
}

/// A text plan with the same placeholders as [`normalize_plan_json`].
pub fn normalize_plan_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            let varying = [" config.toml ", " hooks.json ", "$CODEXPORT_HOME/bin/codexport "]
                .iter()
                .any(|p| l.contains(p));
            match (varying, l.find("(")) {
                (true, Some(i)) => {
                    let class = l[i + 1..].split(',').next().unwrap_or("");
                    let rest = l[i..].split_once(", ").map(|(_, r)| r).unwrap_or("");
                    let after_size = rest
                        .split_once(", ")
                        .map(|(_, r)| format!(", {r}"))
                        .unwrap_or_else(|| ")".into());
                    format!("{}({class}, [size]{after_size}\n", &l[..i])
                }
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

/// Like uv's CLI snapshots: success, exit code, stdout, stderr.
pub fn transcript(run: &Run) -> String {
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        run.code == 0,
        run.code,
        run.stdout,
        run.stderr
    )
}

/// Runs the real `codex exec` on `m` (HOME and CODEX_HOME of `m`, no API key, no network) until
/// its SessionStart hooks completed, then ends it (it would stall on the network). `timeout`
/// bounds the run at `secs` even if the test panics, and relays our SIGTERM to the node
/// launcher, which relays it to the native binary. Panics with Codex's stderr when no
/// SessionStart hook completed.
pub fn codex_until_session_start(codex: &Path, m: &Machine, secs: u32) {
    let mut child = Command::new("timeout")
        .args(["-k", "2", &secs.to_string()])
        .arg(codex)
        .args(["exec", "--skip-git-repo-check", "hi"])
        .current_dir(&m.home)
        .env("HOME", &m.home)
        .env("CODEX_HOME", &m.codex_home)
        // Whatever runs must not rely on the environment for codexport's home (its hook
        // command sets it): point it nowhere.
        .env("CODEXPORT_HOME", "/nonexistent-codexport-home")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let completed = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .inspect(|l| seen.push(l.clone()))
        .any(|l| l.contains("hook: SessionStart Completed"));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();
    assert!(
        completed,
        "codex ran no SessionStart hook within {secs} s; stderr:\n{}",
        seen.join("\n")
    );
}
