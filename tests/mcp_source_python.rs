//! Local Python source, end to end (issue 5), on a follower **without uv**: the master runs a
//! small project (`pyproject.toml` + a script importing `mcp-server-time` from PyPI); it
//! travels as blobs, codexport installs uv itself (`python3 -m venv` + `pip install uv`), runs
//! `uv sync` in the restored project, and the launcher answers MCP.

mod common;

use std::path::PathBuf;

use common::Machine;
use common::mcp::{McpClient, McpPair, launcher, required_tool};

const PYPROJECT: &str = r#"[project]
name = "time-py"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["mcp-server-time==2026.10.19"]
"#;

const SERVER: &str = "from mcp_server_time import main\n\nmain()\n";

/// The test's PATH without any directory that has a `uv`: this follower must install its own.
fn path_without_uv() -> std::ffi::OsString {
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    std::env::join_paths(dirs.into_iter().filter(|d| !d.join("uv").exists())).unwrap()
}

#[test]
fn local_python_project_runs_on_a_follower_that_had_no_uv() {
    if required_tool("python3", "install Python 3.10+").is_none() {
        return;
    }
    let master = Machine::new();
    let project = master.home.join("src/time-py");
    for (rel, body) in [
        ("pyproject.toml", PYPROJECT),
        ("server.py", SERVER),
        ("__pycache__/server.cpython-312.pyc", "junk"),
        (".venv/pyvenv.cfg", "home = /usr/bin\n"),
    ] {
        let p = project.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, body).unwrap();
    }
    let config = "[mcp_servers.timepy]\ncommand = \"python3\"\nargs = [\"{home}/src/time-py/server.py\"]\n";
    let pair = McpPair::new(master, config);
    let artifact = &pair.published_servers()["timepy"]["artifact"];
    assert_eq!(artifact["kind"], "source-python", "{artifact:#}");
    let paths: Vec<&str> = artifact["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["pyproject.toml", "server.py"], "no .venv, no __pycache__");

    let f = &pair.follower;
    let path = path_without_uv();
    let out = f.ok_with_path(&["mcp", "install", "timepy"], &path);
    assert!(
        out.stdout.contains("timepy: installed"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        f.codexport_home.join("mcp-artifacts/tools/uv").exists(),
        "codexport installed its own uv"
    );
    let mut client = McpClient::spawn(launcher(f, "timepy", &path));
    let init = client.initialize();
    assert_eq!(init["serverInfo"]["name"], "mcp-time", "{init}");
    let tools = client.request("tools/list", serde_json::json!({}));
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "get_current_time"),
        "{tools}"
    );
}
