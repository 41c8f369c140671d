//! One test per inference rule, on real files and symlinks in a temp master home.

use std::os::unix::fs::symlink;

use serde_json::json;

use super::*;

struct Tree {
    _dir: tempfile::TempDir,
    home: PathBuf,
    bin: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home/alice");
        let bin = dir.path().join("pathbin");
        fs_err::create_dir_all(home.join(".codex")).unwrap();
        fs_err::create_dir_all(&bin).unwrap();
        Tree { _dir: dir, home, bin }
    }

    fn env(&self) -> InferEnv {
        InferEnv {
            master: MasterPaths {
                home: self.home.display().to_string(),
                codex_home: self.home.join(".codex").display().to_string(),
                variables: Default::default(),
            },
            path: vec![self.bin.clone()],
        }
    }

    fn file(&self, rel: &str, body: &str, mode: u32) -> PathBuf {
        let p = self.home.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(&p, body).unwrap();
        crate::fs::set_mode(&p, mode).unwrap();
        p
    }

    fn infer(&self, def: serde_json::Value) -> Inferred {
        infer(def.as_object().unwrap(), &self.env()).unwrap()
    }

    fn npm_package(&self) {
        self.file(
            "npm-global/node_modules/@scope/srv/package.json",
            r#"{"name":"@scope/srv","version":"1.2.3","bin":{"srv":"dist/index.js"}}"#,
            0o644,
        );
        self.file(
            "npm-global/node_modules/@scope/srv/dist/index.js",
            "#!/usr/bin/env node\n",
            0o755,
        );
        self.file("npm-global/node_modules/@scope/srv/dist/other.js", "", 0o644);
        fs_err::create_dir_all(self.home.join("npm-global/node_modules/.bin")).unwrap();
        symlink(
            "../@scope/srv/dist/index.js",
            self.home.join("npm-global/node_modules/.bin/srv"),
        )
        .unwrap();
    }
}

fn npm(bin: Option<&str>, entry: Option<&str>, arg_index: Option<usize>) -> Artifact {
    Artifact::Npm {
        package: "@scope/srv".into(),
        version: "1.2.3".into(),
        bin: bin.map(Into::into),
        entry: entry.map(Into::into),
        arg_index,
    }
}

#[test]
fn runners_are_portable_whatever_they_resolve_to() {
    let t = Tree::new();
    for def in [
        json!({"command": "npx", "args": ["-y", "@x/y@1"]}),
        json!({"command": "/usr/bin/npx", "args": ["x"]}),
        json!({"command": "uvx", "args": ["mcp-server-fetch"]}),
        json!({"command": "bunx", "args": ["x"]}),
        json!({"command": "docker", "args": ["run", "-i", "--rm", "img"]}),
        json!({"command": "podman", "args": ["run", "img"]}),
        json!({"command": "pipx", "args": ["run", "x"]}),
    ] {
        assert_eq!(t.infer(def.clone()).artifact, Artifact::Portable, "{def}");
    }
    // `pipx install` is not a runner, and pipx is not on this PATH.
    let a = t.infer(json!({"command": "pipx", "args": ["install", "x"]})).artifact;
    assert_eq!(a, Artifact::LocalBinary { path: "pipx".into() });
}

#[test]
fn npm_bin_shim_through_a_symlink_and_node_entry_both_give_the_package() {
    let t = Tree::new();
    t.npm_package();
    let shim = json!({"command": "${home}/npm-global/node_modules/.bin/srv", "args": ["stdio"]});
    assert_eq!(t.infer(shim).artifact, npm(Some("srv"), None, None));
    let node = json!({"command": "node", "args": ["${home}/npm-global/node_modules/@scope/srv/dist/index.js"]});
    assert_eq!(t.infer(node).artifact, npm(Some("srv"), None, Some(0)));
    let other =
        json!({"command": "node", "args": ["--inspect", "${home}/npm-global/node_modules/@scope/srv/dist/other.js"]});
    assert_eq!(t.infer(other).artifact, npm(None, Some("dist/other.js"), Some(1)));
    // A bare command on PATH that is a symlink into node_modules (npm -g style).
    symlink(
        t.home.join("npm-global/node_modules/@scope/srv/dist/index.js"),
        t.bin.join("srv"),
    )
    .unwrap();
    assert_eq!(
        t.infer(json!({"command": "srv"})).artifact,
        npm(Some("srv"), None, None)
    );
}

#[test]
fn uv_tool_shim_gives_package_and_installed_version() {
    let t = Tree::new();
    let tool = ".local/share/uv/tools/mcp-server-time";
    t.file(
        &format!("{tool}/uv-receipt.toml"),
        "[tool]\nrequirements = [{ name = \"mcp-server-time\" }]\nentrypoints = [\n  { name = \"mcp-server-time\", install-path = \"/x\", from = \"mcp-server-time\" },\n]\n",
        0o644,
    );
    t.file(&format!("{tool}/bin/mcp-server-time"), "#!/bin/sh\n", 0o755);
    t.file(
        &format!("{tool}/lib/python3.11/site-packages/mcp_server_time-2026.10.19.dist-info/METADATA"),
        "",
        0o644,
    );
    fs_err::create_dir_all(t.home.join(".local/bin")).unwrap();
    symlink(
        t.home.join(format!("{tool}/bin/mcp-server-time")),
        t.home.join(".local/bin/mcp-server-time"),
    )
    .unwrap();
    let a = t
        .infer(json!({"command": "${home}/.local/bin/mcp-server-time"}))
        .artifact;
    assert_eq!(
        a,
        Artifact::Uv {
            package: "mcp-server-time".into(),
            version: "2026.10.19".into(),
            bin: "mcp-server-time".into()
        }
    );
}

#[test]
fn cargo_installed_binary_is_found_in_crates2_json() {
    let t = Tree::new();
    t.file(
        ".cargo/.crates2.json",
        r#"{"installs":{"my-mcp 0.4.1 (registry+https://github.com/rust-lang/crates.io-index)":{"bins":["my-mcp"]}}}"#,
        0o644,
    );
    let bin = t.file(".cargo/bin/my-mcp", "\x7fELF", 0o755);
    symlink(&bin, t.bin.join("my-mcp")).unwrap();
    let expected = Artifact::Cargo {
        crate_name: "my-mcp".into(),
        version: "0.4.1".into(),
        bin: "my-mcp".into(),
    };
    assert_eq!(t.infer(json!({"command": "my-mcp"})).artifact, expected);
    // A binary in a cargo bin dir that .crates2.json does not list is just local.
    t.file(".cargo/bin/hand-made", "", 0o755);
    let a = t.infer(json!({"command": "${home}/.cargo/bin/hand-made"})).artifact;
    assert_eq!(
        a,
        Artifact::LocalBinary {
            path: "${home}/.cargo/bin/hand-made".into()
        }
    );
}

#[test]
fn cargo_install_from_a_path_or_git_is_not_a_registry_artifact() {
    let t = Tree::new();
    t.file(
        ".cargo/.crates2.json",
        r#"{"installs":{
            "from-path 0.1.0 (path+file:///home/alice/src/from-path)":{"bins":["from-path"]},
            "from-git 0.2.0 (git+https://example.com/x.git#abc)":{"bins":["from-git"]},
            "sparse-one 1.2.3 (sparse+https://index.crates.io/)":{"bins":["sparse-one"]}
        }}"#,
        0o644,
    );
    for name in ["from-path", "from-git"] {
        t.file(&format!(".cargo/bin/{name}"), "\x7fELF", 0o755);
        let command = format!("${{home}}/.cargo/bin/{name}");
        let a = t.infer(json!({ "command": command })).artifact;
        assert_eq!(a, Artifact::LocalBinary { path: command }, "{name}");
    }
    t.file(".cargo/bin/sparse-one", "\x7fELF", 0o755);
    let a = t.infer(json!({"command": "${home}/.cargo/bin/sparse-one"})).artifact;
    assert_eq!(
        a,
        Artifact::Cargo {
            crate_name: "sparse-one".into(),
            version: "1.2.3".into(),
            bin: "sparse-one".into()
        }
    );
}

#[test]
fn local_python_and_node_projects_are_source_artifacts() {
    let t = Tree::new();
    t.file("src/pysrv/pyproject.toml", "[project]\nname = \"pysrv\"\n", 0o644);
    t.file("src/pysrv/.venv/bin/pysrv", "#!/x/python\n", 0o755);
    t.file("src/pysrv/server.py", "", 0o644);
    let venv = t.infer(json!({"command": "${home}/src/pysrv/.venv/bin/pysrv"}));
    assert_eq!(venv.source_dir.as_deref(), Some(t.home.join("src/pysrv").as_path()));
    assert!(
        matches!(&venv.artifact, Artifact::SourcePython { dir, bin: Some(b), entry: None, arg_index: None, .. }
            if dir == "${home}/src/pysrv" && b == "pysrv"),
        "{:?}",
        venv.artifact
    );
    let script = t.infer(json!({"command": "python3", "args": ["${home}/src/pysrv/server.py"]}));
    assert!(
        matches!(&script.artifact, Artifact::SourcePython { bin: None, entry: Some(e), arg_index: Some(0), .. } if e == "server.py"),
        "{:?}",
        script.artifact
    );
    t.file("src/nodesrv/package.json", "{\"name\":\"nodesrv\"}", 0o644);
    t.file("src/nodesrv/lib/main.js", "", 0o644);
    let node = t.infer(json!({"command": "node", "args": ["lib/main.js"], "cwd": "${home}/src/nodesrv"}));
    assert!(
        matches!(&node.artifact, Artifact::SourceNode { entry, arg_index: Some(0), .. } if entry == "lib/main.js"),
        "{:?}",
        node.artifact
    );
    assert_eq!(node.source_dir.as_deref(), Some(t.home.join("src/nodesrv").as_path()));
}

#[test]
fn standard_dirs_are_portable_and_everything_else_is_a_local_binary() {
    let t = Tree::new();
    let env = InferEnv {
        path: vec![PathBuf::from("/bin"), PathBuf::from("/usr/bin")],
        ..t.env()
    };
    let sh = infer(json!({"command": "sh"}).as_object().unwrap(), &env).unwrap();
    assert_eq!(sh.artifact, Artifact::Portable);
    t.file("bin/my-tool", "#!/bin/sh\n", 0o755);
    let a = t.infer(json!({"command": "${home}/bin/my-tool"})).artifact;
    assert_eq!(
        a,
        Artifact::LocalBinary {
            path: "${home}/bin/my-tool".into()
        }
    );
    let missing = t
        .infer(json!({"command": "/Applications/X.app/Contents/bin/x"}))
        .artifact;
    assert_eq!(
        missing,
        Artifact::LocalBinary {
            path: "/Applications/X.app/Contents/bin/x".into()
        }
    );
    let script = t
        .infer(json!({"command": "node", "args": ["${home}/gone/index.js"]}))
        .artifact;
    assert_eq!(
        script,
        Artifact::LocalBinary {
            path: "${home}/gone/index.js".into()
        }
    );
    // Not a file on PATH: an unknown bare command stays as written.
    assert_eq!(
        t.infer(json!({"command": "serena", "args": ["start-mcp-server"]}))
            .artifact,
        Artifact::LocalBinary { path: "serena".into() }
    );
    // URL servers have no artifact.
    assert!(infer(json!({"url": "https://x"}).as_object().unwrap(), &env).is_none());
}

#[test]
fn names_alone_never_decide() {
    // A file named like an npm shim but outside any node_modules, with no project around it.
    let t = Tree::new();
    t.file("tools/mcp-server-everything", "#!/bin/sh\n", 0o755);
    let a = t
        .infer(json!({"command": "${home}/tools/mcp-server-everything"}))
        .artifact;
    assert_eq!(
        a,
        Artifact::LocalBinary {
            path: "${home}/tools/mcp-server-everything".into()
        }
    );
}
