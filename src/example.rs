//! The bundled example master `~/.codex` (`examples/master-basic/`), embedded in the binary so
//! `codexport demo` works from any directory; tests use the same writer.
//!
//! The example's files write the master home as `/home/alice`; [`write_master_basic`] replaces
//! that text with the real home it is installed under (this is preparing fixture data, not
//! rendering). Git keeps only the executable bit and include_dir keeps none, so modes are set
//! by rule: a file starting with `#!` is 0755, `auth.json` is 0600, everything else 0644.

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, DirEntry, include_dir};

use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::codex::portable::{MasterPaths, expand_toml, portable_json, portable_toml};
use crate::codex::trust::rekey_trust;

static MASTER_BASIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/examples/master-basic");
static MASTER_BASIC_HOME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/examples/master-basic-home");

/// The home directory the example's files were written for.
pub const EXAMPLE_HOME: &str = "/home/alice";

/// Write the example master `~/.codex` into `codex_home` (created if needed) and the few files
/// of `examples/master-basic-home/` (an npm package the `filesystem` MCP server runs) into
/// `home`, with `/home/alice` replaced by `home` in every text file.
///
/// The example's hook trust entry was approved for alice's paths; the hook command names the
/// home, so its `trusted_hash` is recomputed for `home` (the way a follower re-keys a master's
/// trust, [`crate::codex::trust::rekey_trust`]), and the installed master trusts its hook.
pub fn write_master_basic(codex_home: &Path, home: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(codex_home)?;
    let text = home.display().to_string();
    write_dir(&MASTER_BASIC, codex_home, &text)?;
    write_dir(&MASTER_BASIC_HOME, home, &text)?;
    let config = codex_home.join(CONFIG_TOML);
    let rekeyed = trusted_for(home, codex_home).map_err(std::io::Error::other)?;
    crate::fs::write_atomic(&config, rekeyed.as_bytes(), 0o644)
}

/// The example's config.toml as written for `home`, with its trust hashes recomputed.
fn trusted_for(home: &Path, codex_home: &Path) -> Result<String, String> {
    let file = |name: &str| {
        MASTER_BASIC
            .get_file(name)
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| format!("example file {name} is missing"))
    };
    let alice = MasterPaths {
        home: EXAMPLE_HOME.into(),
        codex_home: format!("{EXAMPLE_HOME}/.codex"),
        variables: Default::default(),
    };
    let vars =
        |home: String, codex_home: String| BTreeMap::from([("home".into(), home), ("codexHome".into(), codex_home)]);
    let mut config: toml_edit::DocumentMut = file(CONFIG_TOML)?.parse().map_err(|e| format!("{e}"))?;
    let mut hooks: serde_json::Value = serde_json::from_str(file(HOOKS_JSON)?).map_err(|e| e.to_string())?;
    portable_toml(&mut config, &alice);
    portable_json(&mut hooks, &alice);
    let here = vars(home.display().to_string(), codex_home.display().to_string());
    rekey_trust(
        &mut config,
        Some(&hooks),
        &vars(alice.home.clone(), alice.codex_home.clone()),
        &here,
    )
    .map_err(|e| e.to_string())?;
    expand_toml(&mut config, &here).map_err(|e| e.to_string())?;
    Ok(config.to_string())
}

fn write_dir(dir: &Dir<'_>, target: &Path, home: &str) -> std::io::Result<()> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => {
                fs_err::create_dir_all(target.join(d.path()))?;
                write_dir(d, target, home)?;
            }
            DirEntry::File(f) => {
                let path = target.join(f.path());
                let bytes = match std::str::from_utf8(f.contents()) {
                    Ok(text) => text.replace(EXAMPLE_HOME, home).into_bytes(),
                    Err(_) => f.contents().to_vec(),
                };
                let mode = if bytes.starts_with(b"#!") {
                    0o755
                } else if f.path().file_name().is_some_and(|n| n == "auth.json") {
                    0o600
                } else {
                    0o644
                };
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                crate::fs::write_atomic(&path, &bytes, mode)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_example_trusts_its_session_start_hook_and_differs_only_in_that_hash() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home/bob");
        let codex_home = home.join(".codex");
        write_master_basic(&codex_home, &home).unwrap();
        let written = fs_err::read_to_string(codex_home.join(CONFIG_TOML)).unwrap();
        let replaced = MASTER_BASIC
            .get_file(CONFIG_TOML)
            .unwrap()
            .contents_utf8()
            .unwrap()
            .replace(EXAMPLE_HOME, &home.display().to_string());
        let differing: Vec<(&str, &str)> = written.lines().zip(replaced.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(written.lines().count(), replaced.lines().count());
        assert_eq!(differing.len(), 1, "{differing:?}");
        assert!(differing[0].0.starts_with("trusted_hash = \"sha256:"));
        assert_eq!(
            crate::codex::hooks::trusted_count(&codex_home),
            Some((2, 1)),
            "(handlers, trusted)"
        );
    }
}
