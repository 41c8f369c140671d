//! npm end to end (issue 5): a real MCP server from the npm registry installed on the master,
//! inferred from its package.json, installed on the follower at the exact version, launched by
//! `codexport mcp run` and spoken to over stdio.

mod common;

use std::process::Command;

use common::Machine;
use common::mcp::{McpClient, McpPair, launcher, path_with, required_tool};

const PACKAGE: &str = "@modelcontextprotocol/server-everything";
const VERSION: &str = "2026.8.31";

const CONFIG: &str = r#"
[mcp_servers.everything]
command = "{home}/npm-global/node_modules/.bin/mcp-server-everything"
startup_timeout_sec = 30
enabled_tools = ["echo", "get-sum"]

[mcp_servers.everything-node]
command = "node"
args = ["{home}/npm-global/node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"]
cwd = "{home}"

[mcp_servers.everything-node.env]
EVERYTHING_HOME = "{home}/data"

[mcp_servers.everything-npx]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-everything@2026.8.31", "stdio"]
"#;

#[test]
fn npm_server_runs_on_the_follower_in_both_command_shapes() {
    let Some(npm) = required_tool("npm", "install Node.js 20+ with npm") else {
        return;
    };
    let master = Machine::new();
    let prefix = master.home.join("npm-global");
    let status = Command::new(&npm)
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(format!("{PACKAGE}@{VERSION}"))
        .status()
        .unwrap();
    assert!(status.success(), "npm install on the master failed");
    let pair = McpPair::new(master, CONFIG);

    // The master inferred the package from facts, for both shapes.
    let servers = pair.published_servers();
    let shim = &servers["everything"]["artifact"];
    assert_eq!(shim["kind"], "npm", "{servers:#}");
    assert_eq!(shim["package"], PACKAGE);
    assert_eq!(shim["version"], VERSION);
    assert_eq!(shim["bin"], "mcp-server-everything");
    assert!(shim.get("argIndex").is_none());
    let node = &servers["everything-node"]["artifact"];
    assert_eq!(
        (&node["kind"], &node["version"], &node["argIndex"]),
        (&"npm".into(), &VERSION.into(), &0.into())
    );
    let status = pair.master.ok(&["master", "status"]).stdout;
    assert!(
        status.contains(&format!("everything (stdio: ${{home}}/npm-global/node_modules/.bin/mcp-server-everything) -> npm {PACKAGE}@{VERSION}")),
        "{status}"
    );

    // The follower installs the exact version under its own CODEXPORT_HOME, once.
    let f = &pair.follower;
    let path = path_with(&[&npm]);
    // Reconcile installs the artifact as a graph step (mcpInstall = auto).
    let out = f
        .command(&["reconcile"])
        .env("PATH", &path)
        .env("CODEXPORT_MCP_INSTALL", "auto")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("+ mcp:everything"), "{stdout}");
    let installed = f.codexport_home.join(format!(
        "mcp-artifacts/npm/{PACKAGE}@{VERSION}/node_modules/{PACKAGE}/package.json"
    ));
    assert!(installed.is_file(), "{}", installed.display());
    let again = f.command(&["mcp", "install"]).env("PATH", &path).output().unwrap();
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("everything: already installed"), "{again}");
    assert!(again.contains("everything-node: already installed"), "{again}");
    let manifest = f.codexport_home.join("mcp-manifest.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&manifest).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let text = fs_err::read_to_string(&manifest).unwrap();
    assert!(text.contains("\"EVERYTHING_HOME\": \"${home}/data\""), "{text}");

    let list = f
        .command(&["mcp", "list", "--output", "json"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        assert_eq!(row["ready"], true, "{row}");
    }
    assert_eq!(rows[0]["name"], "everything");
    let runs = rows[0]["reason"].as_str().unwrap();
    assert!(runs.contains(&f.codexport_home.display().to_string()), "{rows:#}");
    assert_eq!(servers["everything-npx"]["artifact"]["kind"], "portable");

    // What Codex runs: the command, args and env that reconcile wrote into config.toml.
    let config: toml::Table =
        toml::from_str(&fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap()).unwrap();
    let entry = &config["mcp_servers"]["everything"];
    let mut codex_like = std::process::Command::new(entry["command"].as_str().unwrap());
    codex_like.args(entry["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()));
    codex_like.env_clear().env("PATH", &path).env("HOME", &f.home);
    use std::process::Stdio;
    codex_like
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in entry["env"].as_table().unwrap() {
        codex_like.env(k, v.as_str().unwrap());
    }
    let mut client = McpClient::spawn(codex_like);
    assert!(
        client.initialize()["serverInfo"]["name"].is_string(),
        "the launcher in config.toml answers"
    );

    // Codex spawns the launcher; it must answer MCP with nothing of its own on stdout.
    // The npx server is portable: the launcher runs it as it is.
    for name in ["everything", "everything-node", "everything-npx"] {
        let mut client = McpClient::spawn(launcher(f, name, &path));
        let init = client.initialize();
        assert!(init["serverInfo"]["name"].is_string(), "{name}: {init}");
        let tools = client.request("tools/list", serde_json::json!({}));
        let tools = tools["tools"].as_array().unwrap();
        assert!(tools.iter().any(|t| t["name"] == "echo"), "{name}: {tools:?}");
    }
}
