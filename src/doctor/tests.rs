use super::*;

#[test]
fn toml_errors_lose_their_source_excerpt() {
    let secret = "cxp_0123456789abcdef";
    let err = format!("token = \"{secret}\" trailing\n")
        .parse::<toml::Table>()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(secret), "the raw error quotes the line: {text}");
    let line = one_line(&text);
    assert!(!line.contains(secret), "{line}");
    assert!(line.contains("line 1") && !line.contains('\n'), "{line}");
}

#[test]
fn bounded_gives_up_on_a_slow_closure() {
    assert_eq!(bounded(Duration::from_secs(5), || 7), Some(7));
    let start = std::time::Instant::now();
    let slow = bounded(Duration::from_millis(50), || std::thread::sleep(Duration::from_secs(5)));
    assert_eq!(slow, None);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_machine_with_no_role_gets_a_warning_with_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    let roots = Roots {
        home: dir.path().to_path_buf(),
        codex_home: dir.path().join(".codex"),
        codexport_home: dir.path().join(".codexport"),
    };
    fs_err::create_dir_all(&roots.codex_home).unwrap();
    let report = run(&roots);
    assert!(report.roles.is_empty());
    let setup = &report.sections[0];
    assert_eq!(setup.title, "setup");
    let fix = setup.checks[0].fix.as_deref().unwrap();
    assert!(fix.contains("codexport master init") && fix.contains("codexport follower join"));
    assert_eq!(report.sections[1].title, "machine");
    assert_eq!(report.summary.fail, 0, "{report:#?}");
    assert!(report.passed());
}

#[test]
fn short_revisions_never_split_a_character() {
    assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab");
    assert_eq!(short("ééééééééééééééé"), "sha256:éééééééééééé");
    assert_eq!(human_bytes(100 * 1024 * 1024), "100.0 MiB");
}

/// A manifest with one npm server and one cargo server, and an install env whose PATH is an
/// empty directory: node is needed to run, npm and cargo to install.
#[test]
fn tools_are_checked_for_the_artifacts_that_need_them() {
    use crate::mcp::artifact::Artifact;
    use crate::mcp::install::{InstallEnv, MARKER, install_dir, install_key};
    use crate::mcp::manifest::{MANIFEST_VERSION, Manifest};
    use crate::model::McpServerSpec;
    use crate::model::document::McpTransport;

    let dir = tempfile::tempdir().unwrap();
    let roots = Roots {
        home: dir.path().join("home"),
        codex_home: dir.path().join("home/.codex"),
        codexport_home: dir.path().join("home/.codexport"),
    };
    let npm = Artifact::Npm {
        package: "@x/server".into(),
        version: "1.2.3".into(),
        bin: Some("server".into()),
        entry: None,
        arg_index: None,
    };
    let cargo = Artifact::Cargo {
        crate_name: "mcp-rs".into(),
        version: "0.1.0".into(),
        bin: "mcp-rs".into(),
    };
    let spec = |artifact: &Artifact| McpServerSpec {
        transport: McpTransport::Stdio,
        definition: serde_json::Map::new(),
        artifact: Some(artifact.clone()),
    };
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        variables: Default::default(),
        servers: [("files".to_string(), spec(&npm)), ("rs".to_string(), spec(&cargo))].into(),
    };
    // The cargo artifact is installed already: cargo is only needed to reinstall it.
    let installed = install_dir(&roots.codexport_home, "rs", &cargo).unwrap().unwrap();
    fs_err::create_dir_all(&installed).unwrap();
    fs_err::write(installed.join(MARKER), install_key(&cargo)).unwrap();
    let mut env = InstallEnv::from_process(&roots.codexport_home, &roots.home);
    env.path = vec![dir.path().join("empty-bin")];
    let checks = follower_local::tool_checks(&roots, &env, Some(manifest.clone()));
    let by_name = |n: &str| {
        checks
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("{n}: {checks:#?}"))
    };
    assert_eq!(by_name("tool:node").status, Status::Fail, "needed to run `files`");
    assert_eq!(by_name("tool:npm").status, Status::Fail, "`files` is not installed");
    assert_eq!(by_name("tool:cargo").status, Status::Warn, "only to reinstall `rs`");
    assert!(by_name("tool:npm").fix.as_deref().unwrap().contains("Node.js"));

    // With node and npm on PATH they are ok, and name their server.
    let bin = dir.path().join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    for tool in ["node", "npm"] {
        fs_err::write(bin.join(tool), "#!/bin/sh\n").unwrap();
    }
    env.path = vec![bin];
    let checks = follower_local::tool_checks(&roots, &env, Some(manifest));
    let node = checks.iter().find(|c| c.name == "tool:node").unwrap();
    assert_eq!(node.status, Status::Ok);
    assert!(node.detail.ends_with("(for files)"), "{}", node.detail);
}
