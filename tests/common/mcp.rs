//! MCP test helpers: required tools (fail in CI when missing), a minimal real MCP client over
//! stdio (newline-delimited JSON-RPC), and a master/follower pair set up for MCP servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use super::{Machine, Server};

/// Find `tool` on PATH (or `~/.local/bin`, where `pip install --user` puts uv). With `CI` set,
/// a missing tool fails the test; otherwise the test is skipped with a message.
pub fn required_tool(tool: &str, install_hint: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/bin"));
    }
    let found = dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{tool}` is required in CI: {install_hint}"
        );
        eprintln!("skipping: `{tool}` not found ({install_hint})");
    }
    found
}

/// PATH for child processes: the test's PATH plus the directory of each given tool.
pub fn path_with(tools: &[&Path]) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = tools.iter().filter_map(|t| t.parent().map(Path::to_path_buf)).collect();
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap()
}

/// A master with `config` as its config.toml, published and served, and a follower joined.
pub struct McpPair {
    pub master: Machine,
    pub server: Server,
    pub follower: Machine,
}

impl McpPair {
    /// `config` may use `{home}` for the master's home directory.
    pub fn new(master: Machine, config: &str) -> McpPair {
        let text = config.replace("{home}", &master.home.display().to_string());
        fs_err::write(master.codex_home.join("config.toml"), text).unwrap();
        master.ok(&["master", "init"]);
        let server = master.serve();
        let link = master.link(&server, "mcp-follower");
        let follower = Machine::new();
        follower.ok(&["follower", "join", &link]);
        McpPair {
            master,
            server,
            follower,
        }
    }

    /// The published document's MCP servers (JSON).
    pub fn published_servers(&self) -> serde_json::Value {
        let text = fs_err::read_to_string(self.master.codexport_home.join("master/state.yaml")).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        doc["spec"]["mcpServers"].clone()
    }
}

/// `codexport mcp run NAME` spawned the way Codex spawns a stdio server: a cleared environment
/// with HOME, PATH and the server's `env` table (`CODEXPORT_HOME`), piped stdio.
pub fn launcher(follower: &Machine, name: &str, path: &std::ffi::OsStr) -> Command {
    let mut c = Command::new(super::bin());
    c.args(["mcp", "run", name])
        .env_clear()
        .env("HOME", &follower.home)
        .env("PATH", path)
        .env("CODEXPORT_HOME", &follower.codexport_home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A real MCP client over a child's stdin/stdout.
pub struct McpClient {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    next_id: u64,
}

impl McpClient {
    pub fn spawn(mut c: Command) -> McpClient {
        // Its own process group, so `Drop` stops what the launcher started too (uvx and npx
        // leave children that otherwise go on writing into the test's home after it is gone).
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        let mut child = c.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr) = channel();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        McpClient {
            child,
            stdin,
            lines,
            stderr,
            next_id: 1,
        }
    }

    /// Send a request and return its `result`. The first line read must be JSON-RPC: any byte
    /// that is not the server's own JSON (e.g. a banner from the launcher) fails here.
    pub fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = match self.lines.recv_timeout(Duration::from_secs(90)) {
                Ok(l) => l,
                Err(_) => panic!("no answer to {method}; stderr: {}", self.stderr_now()),
            };
            let msg: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON-RPC ({e}): {line:?}"));
            assert_eq!(msg["jsonrpc"], "2.0", "{line}");
            if msg["id"] == id {
                assert!(msg.get("error").is_none(), "{method} failed: {line}");
                return msg["result"].clone();
            }
        }
    }

    pub fn notify(&mut self, method: &str) {
        self.send(serde_json::json!({"jsonrpc": "2.0", "method": method}));
    }

    fn send(&mut self, msg: serde_json::Value) {
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// `initialize` + `notifications/initialized`; returns the initialize result.
    pub fn initialize(&mut self) -> serde_json::Value {
        let result = self.request(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "codexport-tests", "version": "0"}
            }),
        );
        self.notify("notifications/initialized");
        result
    }

    fn stderr_now(&mut self) -> String {
        let _ = self.child.kill();
        self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
