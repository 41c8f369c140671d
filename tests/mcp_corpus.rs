//! Inference over the real-world configs of `tests/corpus/configs/` with a temp master home:
//! no panic, runners portable, URL servers without artifact, absent files local binaries.
//! The rule each server hits is printed (run with `--nocapture` to see the table).

use std::path::{Path, PathBuf};

use codexport::codex::portable::MasterPaths;
use codexport::mcp::artifact::Artifact;
use codexport::mcp::infer::{InferEnv, STANDARD_DIRS, infer};

#[test]
fn corpus_mcp_servers_are_classified() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/configs");
    let home = tempfile::tempdir().unwrap();
    let env = InferEnv {
        master: MasterPaths {
            home: home.path().display().to_string(),
            codex_home: home.path().join(".codex").display().to_string(),
            variables: Default::default(),
        },
        path: STANDARD_DIRS.iter().map(PathBuf::from).collect(),
    };
    let mut entries: Vec<PathBuf> = fs_err::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let (mut configs, mut servers) = (0, 0);
    for path in entries {
        let Ok(table) = toml::from_str::<toml::Table>(&fs_err::read_to_string(&path).unwrap()) else {
            continue;
        };
        configs += 1;
        let Some(toml::Value::Table(mcp)) = table.get("mcp_servers") else {
            continue;
        };
        for (name, server) in mcp {
            let def = serde_json::to_value(server).unwrap();
            let def = def.as_object().unwrap();
            let inferred = infer(def, &env);
            servers += 1;
            let command = def.get("command").and_then(|c| c.as_str());
            let file = path.file_name().unwrap().to_string_lossy();
            let kind = inferred.as_ref().map_or("(url)", |i| i.artifact.kind());
            eprintln!("{file}\t{name}\t{}\t{kind}", command.unwrap_or("-"));
            match command {
                None => assert!(inferred.is_none(), "{file}: {name}"),
                Some(c) => {
                    let artifact = inferred.unwrap().artifact;
                    let base = c.rsplit('/').next().unwrap();
                    if ["npx", "uvx", "docker", "bunx", "podman"].contains(&base) {
                        assert_eq!(artifact, Artifact::Portable, "{file}: {name}");
                    }
                    if c.starts_with('/') && !Path::new(c).exists() {
                        assert_eq!(artifact, Artifact::LocalBinary { path: c.into() }, "{file}: {name}");
                    }
                }
            }
        }
    }
    assert_eq!(configs, 20, "20 corpus configs parse");
    assert!(servers >= 25, "only {servers} MCP servers seen");
}
