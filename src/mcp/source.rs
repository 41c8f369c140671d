//! The files of a `source-python` / `source-node` project: collected on the master into the blob
//! store, restored on the follower into `mcp-artifacts/src/<name>-<hash>/`.
//!
//! Left out: `.git`, `node_modules`, `.venv`/`venv`, `__pycache__` and tool caches everywhere;
//! `build/`, `dist/` and `*.egg-info` at the top of a Python project; `build/`/`dist/` at the top
//! of a Node project unless the entry lies inside them. Symlinks and special files are skipped.

use std::path::{Path, PathBuf};

use crate::blobstore::BlobStore;
use crate::model::{FileMode, relpath};

use super::artifact::{Artifact, SourceFile};

/// Most files a source artifact may have.
pub const MAX_SOURCE_FILES: usize = 5_000;
/// Most bytes a source artifact may have (64 MiB).
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// Errors collecting or restoring a source artifact.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The project is bigger than the caps.
    #[error("MCP server `{server}`: project {} has over {MAX_SOURCE_FILES} files or {MAX_SOURCE_BYTES} bytes", dir.display())]
    TooLarge {
        /// The server.
        server: String,
        /// The project directory on the master.
        dir: PathBuf,
    },
    /// A blob of the artifact is missing from the follower store.
    #[error("MCP server `{server}`: blob {sha256} for {path} is not in the store (run `codexport sync`)")]
    MissingBlob {
        /// The server.
        server: String,
        /// The file's relative path.
        path: String,
        /// Its hash.
        sha256: String,
    },
    /// A file path in the document is not a safe relative path.
    #[error("MCP server `{server}`: {reason}")]
    BadPath {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// I/O on a named path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for SourceError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            SourceError::TooLarge { .. } => crate::exit::Exit::Usage,
            SourceError::BadPath { .. } => crate::exit::Exit::Trust,
            _ => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            SourceError::TooLarge { .. } => {
                Some("publish the server as a package (npm, PyPI) or remove large files from its directory".into())
            }
            SourceError::MissingBlob { .. } => Some("run `codexport sync`".into()),
            _ => None,
        }
    }
}

const ALWAYS_SKIPPED: &[&str] = &[
    ".git",
    "node_modules",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".DS_Store",
];

/// Walk `dir`, put every kept file into `blobs` and return the list sorted by path.
///
/// Errors: [`SourceError::TooLarge`] over the caps; I/O errors name the path.
pub fn collect(
    server: &str,
    dir: &Path,
    artifact: &Artifact,
    blobs: &BlobStore,
) -> Result<Vec<SourceFile>, SourceError> {
    let python = matches!(artifact, Artifact::SourcePython { .. });
    let entry_top = match artifact {
        Artifact::SourceNode { entry, .. } => entry.split('/').next().unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let mut files = Vec::new();
    let mut bytes = 0u64;
    let walker = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let top = e.depth() == 1;
            let is_dir = e.file_type().is_dir();
            let skipped = ALWAYS_SKIPPED.contains(&name.as_ref())
                || (is_dir && e.path().join("pyvenv.cfg").is_file())
                || (top && is_dir && python && (name == "build" || name == "dist" || name.ends_with(".egg-info")))
                || (top && is_dir && !python && (name == "build" || name == "dist") && name != entry_top);
            !skipped
        });
    // Blobs become durable together at the end (two syncfs, not one fsync a file).
    let mut pending = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| std::io::Error::other(e.to_string()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if relpath::validate(&rel).is_err() {
            continue;
        }
        let meta = fs_err::metadata(entry.path())?;
        let (sha256, size, blob) = blobs.put_file_pending(entry.path())?;
        pending.push(blob);
        bytes += size;
        files.push(SourceFile {
            path: rel,
            sha256,
            size,
            mode: FileMode(crate::fs::mode_of(&meta) & 0o777),
        });
        if files.len() > MAX_SOURCE_FILES || bytes > MAX_SOURCE_BYTES {
            return Err(SourceError::TooLarge {
                server: server.to_string(),
                dir: dir.to_path_buf(),
            });
        }
    }
    blobs.commit_pending(pending)?;
    Ok(files)
}

/// Check the file list of a source artifact from a document: safe distinct relative paths.
pub fn validate(server: &str, files: &[SourceFile]) -> Result<(), SourceError> {
    relpath::validate_set(files.iter().map(|f| f.path.as_str())).map_err(|e| SourceError::BadPath {
        server: server.to_string(),
        reason: e.to_string(),
    })?;
    for f in files {
        if !crate::blobstore::is_sha256_hex(&f.sha256) || f.size > MAX_SOURCE_BYTES {
            return Err(SourceError::BadPath {
                server: server.to_string(),
                reason: format!("{}: bad hash or size over the cap", f.path),
            });
        }
    }
    Ok(())
}

/// Write the files of a source artifact from `blobs` into `target` (created; existing files
/// with other content are replaced). Paths are validated first.
pub fn restore(server: &str, files: &[SourceFile], blobs: &BlobStore, target: &Path) -> Result<(), SourceError> {
    validate(server, files)?;
    for f in files {
        let src = blobs.path_of(&f.sha256);
        if !src.is_file() {
            return Err(SourceError::MissingBlob {
                server: server.to_string(),
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            });
        }
        let dst = target.join(&f.path);
        if let Some(parent) = dst.parent() {
            fs_err::create_dir_all(parent)?;
        }
        crate::fs::copy_atomic(&src, &dst, f.mode.0 & 0o755)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_leaves_out_vcs_deps_and_build_output_and_restore_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("proj");
        for rel in [
            "pyproject.toml",
            "srv/__init__.py",
            "srv/__pycache__/x.pyc",
            ".git/HEAD",
            ".venv/bin/python",
            "env/pyvenv.cfg",
            "dist/srv.whl",
            "srv.egg-info/PKG-INFO",
            "docs/dist/keep.md",
        ] {
            let p = project.join(rel);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(&p, rel).unwrap();
        }
        crate::fs::set_mode(&project.join("srv/__init__.py"), 0o755).unwrap();
        let blobs = BlobStore::new(dir.path().join("blobs"));
        let artifact = Artifact::SourcePython {
            dir: "${home}/proj".into(),
            bin: None,
            entry: Some("srv/__init__.py".into()),
            arg_index: None,
            files: vec![],
        };
        let files = collect("s", &project, &artifact, &blobs).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["docs/dist/keep.md", "pyproject.toml", "srv/__init__.py"]);
        assert_eq!(files[2].mode, FileMode(0o755));

        let target = dir.path().join("restored");
        restore("s", &files, &blobs, &target).unwrap();
        assert_eq!(
            fs_err::read_to_string(target.join("srv/__init__.py")).unwrap(),
            "srv/__init__.py"
        );
        let mut bad = files.clone();
        bad[0].path = "../escape".into();
        assert!(matches!(
            restore("s", &bad, &blobs, &target),
            Err(SourceError::BadPath { .. })
        ));
    }
}
