//! PyPI via uv, end to end (issue 5): `mcp-server-time` installed on the master with
//! `uv tool install`, inferred from the uv receipt and dist-info, installed on the follower into
//! its own uv tool directory, launched by `codexport mcp run` and answering `initialize`.

mod common;

use std::process::Command;

use common::Machine;
use common::mcp::{McpClient, McpPair, launcher, path_with, required_tool};

const PACKAGE: &str = "mcp-server-time";
const VERSION: &str = "2026.10.19";

#[test]
fn uv_tool_server_runs_on_the_follower() {
    let Some(uv) = required_tool("uv", "python3 -m pip install --user uv==0.13.8") else {
        return;
    };
    let master = Machine::new();
    let status = Command::new(&uv)
        .args(["tool", "install", &format!("{PACKAGE}=={VERSION}")])
        .env("HOME", &master.home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_BIN_HOME")
        .env_remove("UV_TOOL_DIR")
        .env_remove("UV_TOOL_BIN_DIR")
        .status()
        .unwrap();
    assert!(status.success(), "uv tool install on the master failed");
    let shim = master.home.join(".local/bin/mcp-server-time");
    assert!(shim.is_symlink(), "uv made no shim at {}", shim.display());
    let config =
        "[mcp_servers.time]\ncommand = \"{home}/.local/bin/mcp-server-time\"\nargs = [\"--local-timezone\", \"UTC\"]\n";
    let pair = McpPair::new(master, config);

    let artifact = &pair.published_servers()["time"]["artifact"];
    assert_eq!(
        artifact,
        &serde_json::json!({"kind": "uv", "package": PACKAGE, "version": VERSION, "bin": "mcp-server-time"})
    );

    let f = &pair.follower;
    let path = path_with(&[&uv]);
    let out = f.ok_with_path(&["mcp", "install", "time"], &path);
    assert!(out.stdout.contains("time: installed"), "{}", out.stdout);
    let bin = f
        .codexport_home
        .join(format!("mcp-artifacts/uv/{PACKAGE}@{VERSION}/bin/mcp-server-time"));
    assert!(bin.exists(), "{}", bin.display());
    assert!(
        !f.home.join(".local/bin/mcp-server-time").exists(),
        "the follower's own uv tools must stay untouched"
    );

    let mut client = McpClient::spawn(launcher(f, "time", &path));
    let init = client.initialize();
    assert_eq!(init["serverInfo"]["version"], VERSION, "{init}");
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
