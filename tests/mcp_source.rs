//! Local Node source, end to end (issue 5): a small MCP server project on the master (using the
//! real `@modelcontextprotocol/sdk` from npm) travels as blobs, is restored on the follower,
//! gets its dependencies from `npm install --omit=dev`, and answers MCP through the launcher.

mod common;

use common::Machine;
use common::mcp::{McpClient, McpPair, launcher, path_with, required_tool};

const PACKAGE_JSON: &str = r#"{
  "name": "hello-local-mcp",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "dependencies": { "@modelcontextprotocol/sdk": "1.32.2" }
}
"#;

const SERVER: &str = r#"import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const server = new Server({ name: "hello-local", version: "0.1.0" }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [{ name: "hello", description: "Say hello", inputSchema: { type: "object", properties: {} } }],
}));
await server.connect(new StdioServerTransport());
"#;

#[test]
fn local_node_project_travels_as_blobs_and_runs_on_the_follower() {
    let Some(npm) = required_tool("npm", "install Node.js 20+ with npm") else {
        return;
    };
    let master = Machine::new();
    let project = master.home.join("src/hello-mcp");
    for (rel, body) in [
        ("package.json", PACKAGE_JSON),
        ("src/server.mjs", SERVER),
        (".git/HEAD", "ref: refs/heads/main\n"),
        ("node_modules/junk/index.js", "// must not travel\n"),
    ] {
        let p = project.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, body).unwrap();
    }
    let config = "[mcp_servers.hello]\ncommand = \"node\"\nargs = [\"{home}/src/hello-mcp/src/server.mjs\"]\n";
    let pair = McpPair::new(master, config);

    let artifact = &pair.published_servers()["hello"]["artifact"];
    assert_eq!(artifact["kind"], "source-node", "{artifact:#}");
    assert_eq!(artifact["dir"], "${home}/src/hello-mcp");
    assert_eq!(artifact["entry"], "src/server.mjs");
    let paths: Vec<&str> = artifact["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["package.json", "src/server.mjs"]);

    // The follower fetched the project's blobs with the rest of the revision.
    let f = &pair.follower;
    let path = path_with(&[&npm]);
    let out = f.ok_with_path(&["mcp", "install", "hello"], &path);
    assert!(out.stdout.contains("hello: installed"), "{}", out.stdout);
    let src = fs_err::read_dir(f.codexport_home.join("mcp-artifacts/src"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(src.file_name().unwrap().to_string_lossy().starts_with("hello-"));
    assert_eq!(fs_err::read_to_string(src.join("src/server.mjs")).unwrap(), SERVER);
    assert!(
        src.join("node_modules/@modelcontextprotocol/sdk/package.json")
            .is_file()
    );
    assert!(!src.join(".git").exists() && !src.join("node_modules/junk").exists());

    let mut client = McpClient::spawn(launcher(f, "hello", &path));
    let init = client.initialize();
    assert_eq!(init["serverInfo"]["name"], "hello-local", "{init}");
    let tools = client.request("tools/list", serde_json::json!({}));
    assert_eq!(tools["tools"][0]["name"], "hello", "{tools}");
}
