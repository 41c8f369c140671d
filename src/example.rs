//! The bundled example master `~/.codex` (`examples/master-basic/`), embedded in the binary so
//! `codexport demo` works from any directory; tests use the same writer.
//!
//! The example's files write the master home as `/home/alice`; [`write_master_basic`] replaces
//! that text with the real home it is installed under (this is preparing fixture data, not
//! rendering). Git keeps only the executable bit and include_dir keeps none, so modes are set
//! by rule: a file starting with `#!` is 0755, `auth.json` is 0600, everything else 0644.

use std::path::Path;

use include_dir::{Dir, DirEntry, include_dir};

static MASTER_BASIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/examples/master-basic");
static MASTER_BASIC_HOME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/examples/master-basic-home");

/// The home directory the example's files were written for.
pub const EXAMPLE_HOME: &str = "/home/alice";

/// Write the example master `~/.codex` into `codex_home` (created if needed) and the few files
/// of `examples/master-basic-home/` (an npm package the `filesystem` MCP server runs) into
/// `home`, with `/home/alice` replaced by `home` in every text file.
pub fn write_master_basic(codex_home: &Path, home: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(codex_home)?;
    let text = home.display().to_string();
    write_dir(&MASTER_BASIC, codex_home, &text)?;
    write_dir(&MASTER_BASIC_HOME, home, &text)
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
