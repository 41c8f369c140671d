//! The launcher's failure modes: a `local-binary` the follower lacks, an unknown name, a URL
//! server. Each exits non-zero with one stderr line and writes nothing to stdout.

mod common;

use common::Machine;
use common::mcp::{McpPair, launcher};

const CONFIG: &str = r#"
[mcp_servers.mine]
command = "{home}/bin/my-mcp"
args = ["--data", "{home}/data"]

[mcp_servers.remote]
url = "https://example.invalid/mcp"
"#;

fn pair() -> McpPair {
    let master = Machine::new();
    let script = master.home.join("bin/my-mcp");
    fs_err::create_dir_all(script.parent().unwrap()).unwrap();
    fs_err::write(&script, "#!/bin/sh\nexec cat\n").unwrap();
    codexport::fs::set_mode(&script, 0o755).unwrap();
    let pair = McpPair::new(master, CONFIG);
    pair.follower.ok(&["mcp", "install"]);
    pair
}

fn run(pair: &McpPair, name: &str) -> (i32, String, String) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let out = launcher(&pair.follower, name, &path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_local_binary_missing_on_the_follower_fails_with_one_line_and_empty_stdout() {
    let pair = pair();
    let artifact = &pair.published_servers()["mine"]["artifact"];
    assert_eq!(
        artifact,
        &serde_json::json!({"kind": "local-binary", "path": "${home}/bin/my-mcp"})
    );

    let (code, stdout, stderr) = run(&pair, "mine");
    assert_ne!(code, 0);
    assert_eq!(stdout, "", "nothing may reach the MCP channel");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let follower_path = pair.follower.home.join("bin/my-mcp").display().to_string();
    for needle in [
        "`mine`",
        follower_path.as_str(),
        "missing on this machine",
        "repair: install",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }

    // Once the tool exists on the follower, the same launcher runs it with follower paths.
    let script = pair.follower.home.join("bin/my-mcp");
    fs_err::create_dir_all(script.parent().unwrap()).unwrap();
    fs_err::write(&script, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
    codexport::fs::set_mode(&script, 0o755).unwrap();
    let (code, stdout, stderr) = run(&pair, "mine");
    assert_eq!(code, 0, "{stderr}");
    let data = pair.follower.home.join("data").display().to_string();
    assert_eq!(stdout, format!("--data\n{data}\n"));
    assert_eq!(stderr, "");

    let list = pair.follower.ok(&["mcp", "list", "--output", "json"]).stdout;
    let rows: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
}

#[test]
fn unknown_names_and_url_servers_are_refused_without_stdout() {
    let pair = pair();
    for (name, needle) in [("nope", "not in the manifest"), ("remote", "URL server")] {
        let (code, stdout, stderr) = run(&pair, name);
        assert_eq!(code, 4, "{stderr}");
        assert_eq!(stdout, "");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
    let list = pair.follower.run(&["mcp", "list"]);
    assert_eq!(list.code, 1, "a server that cannot run makes `mcp list` fail");
    assert!(list.stdout.contains("NOT READY"), "{}", list.stdout);
}

#[test]
fn without_a_manifest_the_launcher_names_the_server_and_the_repair() {
    let follower = Machine::new();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let out = launcher(&follower, "any", &path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`any`")
            && stderr.contains("mcp-manifest.json")
            && stderr.contains("repair: run `codexport reconcile`"),
        "{stderr}"
    );
}
