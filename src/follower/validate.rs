//! Validation of a desired-state document's bytes after its signature checked out: size cap,
//! shape, revision, paths, hashes and sizes, and no path that codexport never writes (Codex's
//! runtime state, by [`crate::codex::layout::is_runtime_state`]). Pure (no I/O, no key), so it
//! can be fuzzed (`fuzz/fuzz_targets/document.rs`); [`super::sync::verify_document`] wraps it
//! with the signature and the pins.
//!
//! [`check_roots`] adds the one rule that depends on this follower's roots: no path under
//! `CODEXPORT_HOME` when it lies inside `CODEX_HOME`. It is called where a document meets the
//! roots: when a sync stages it and when a plan or an apply loads it.

use std::path::Path;

use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON, is_runtime_state};
use crate::exit::{Exit, ExitStatus};
use crate::model::document::{API_VERSION, KIND, MAX_DOCUMENT_BYTES};
use crate::model::wire::MAX_FILE_BYTES;
use crate::model::{DesiredState, relpath};
use crate::paths::Roots;

/// Why a document is refused. The messages are the `reason` of
/// [`super::FollowerError::Untrusted`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Over [`MAX_DOCUMENT_BYTES`].
    #[error("document is {0} bytes, over the {MAX_DOCUMENT_BYTES}-byte cap")]
    TooLarge(usize),
    /// Not YAML of the document's shape.
    #[error("not a valid desired-state document: {0}")]
    Malformed(String),
    /// Another `apiVersion`/`kind`.
    #[error("unsupported document {api_version}/{kind} (this codexport reads {API_VERSION}/{KIND})")]
    Unsupported {
        /// The document's `apiVersion`.
        api_version: String,
        /// The document's `kind`.
        kind: String,
    },
    /// The document names another key than the pinned one.
    #[error("the document names a different master key")]
    OtherMaster,
    /// `metadata.revision` is not the hash of `spec`.
    #[error("revision {claimed} does not match its spec ({actual})")]
    Revision {
        /// `metadata.revision`.
        claimed: String,
        /// The hash of `spec`.
        actual: String,
    },
    /// A path, hash, size or MCP source file that a follower must not accept.
    #[error("{0}")]
    Refused(String),
}

impl ExitStatus for DocumentError {
    fn exit(&self) -> Exit {
        Exit::Trust
    }
}

/// Parse document bytes: size cap, YAML shape, `apiVersion` and `kind`. Nothing else is checked.
pub fn parse_document(bytes: &[u8]) -> Result<DesiredState, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(bytes.len()));
    }
    let doc: DesiredState = serde_yaml::from_slice(bytes).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    if doc.api_version != API_VERSION || doc.kind != KIND {
        return Err(DocumentError::Unsupported {
            api_version: doc.api_version,
            kind: doc.kind,
        });
    }
    Ok(doc)
}

/// Check a parsed document: its revision is the hash of its spec; every path passes
/// [`relpath::validate_set`], is not `config.toml`/`hooks.json` nor below them, letter case
/// ignored ([`relpath::reserved_top`]: `Config.toml` overwrites `config.toml` on macOS and
/// Windows), and is not Codex runtime state ([`is_runtime_state`]: a master may say anything,
/// the follower's own classification decides); every hash is 64 hex digits and every size
/// within [`MAX_FILE_BYTES`]; MCP source artifacts list acceptable files.
pub fn check_document(doc: &DesiredState) -> Result<(), DocumentError> {
    let refuse = DocumentError::Refused;
    let revision = doc.spec.revision();
    if revision != doc.metadata.revision {
        return Err(DocumentError::Revision {
            claimed: doc.metadata.revision.clone(),
            actual: revision,
        });
    }
    relpath::validate_set(doc.spec.files.iter().map(|f| f.path.as_str())).map_err(|e| refuse(e.to_string()))?;
    for f in &doc.spec.files {
        if let Some(reserved) = relpath::reserved_top(&f.path, &[CONFIG_TOML, HOOKS_JSON]) {
            let same = if f.path == reserved {
                String::new()
            } else {
                format!(" ({:?} is {reserved} on a case-insensitive file system)", f.path)
            };
            return Err(refuse(format!(
                "{}{same}: {CONFIG_TOML}/{HOOKS_JSON} must travel as spec.config/spec.hooks, not as a plain file",
                f.path
            )));
        }
        if is_runtime_state(&f.path) {
            return Err(refuse(format!(
                "{} is Codex runtime state (sessions, history, logs, SQLite databases, Codex's own skills/.system): codexport never writes it, whatever the master says (a master on an older codexport publishes skills/.system: upgrade codexport there)",
                f.path
            )));
        }
        if !crate::blobstore::is_sha256_hex(&f.sha256) || f.size > MAX_FILE_BYTES {
            return Err(refuse(format!("{}: bad hash or size over the cap", f.path)));
        }
    }
    for b in doc.spec.config.iter().chain(doc.spec.hooks.iter()) {
        if !crate::blobstore::is_sha256_hex(&b.sha256) || b.size > MAX_FILE_BYTES {
            return Err(refuse(
                "config/hooks blob has a bad hash or is over the size cap".into(),
            ));
        }
    }
    for (name, server) in &doc.spec.mcp_servers {
        if let Some(artifact) = &server.artifact {
            crate::mcp::source::validate(name, artifact.files()).map_err(|e| refuse(e.to_string()))?;
        }
    }
    Ok(())
}

/// [`parse_document`] then [`check_document`]: everything [`super::sync::verify_document`]
/// checks except the signature and the pinned key.
pub fn validate_document(bytes: &[u8]) -> Result<DesiredState, DocumentError> {
    let doc = parse_document(bytes)?;
    check_document(&doc)?;
    Ok(doc)
}

/// Where `codexport_home` lies inside `codex_home`: its path relative to it, `/`-separated
/// and lower-cased (a case-insensitive file system maps `.CODEXPORT` onto `.codexport`); `""`
/// when both are the same directory; `None` when it lies elsewhere. Lexical: the caller
/// compares resolved paths too.
pub fn codexport_home_within(codex_home: &Path, codexport_home: &Path) -> Option<String> {
    let rel = codexport_home.strip_prefix(codex_home).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_lowercase())
        .collect();
    Some(parts.join("/"))
}

/// Refuse a document with a path under `CODEXPORT_HOME` when `CODEXPORT_HOME` lies inside
/// `CODEX_HOME` (e.g. `~/.codex/.codexport`): such a path would overwrite the enrollment (its
/// token), the store or the journal. Compared as configured and with symlinks resolved (when
/// both exist); when both roots are one directory, every path is refused.
///
/// Errors: [`DocumentError::Refused`] naming the path and `CODEXPORT_HOME`.
pub fn check_roots(doc: &DesiredState, roots: &Roots) -> Result<(), DocumentError> {
    let resolved = match (
        fs_err::canonicalize(&roots.codex_home),
        fs_err::canonicalize(&roots.codexport_home),
    ) {
        (Ok(codex), Ok(own)) => codexport_home_within(&codex, &own),
        _ => None,
    };
    let within = [
        codexport_home_within(&roots.codex_home, &roots.codexport_home),
        resolved,
    ];
    for prefix in within.iter().flatten() {
        let hit = doc.spec.files.iter().find(|f| {
            let path = f.path.to_lowercase();
            prefix.is_empty() || path == *prefix || path.starts_with(&format!("{prefix}/"))
        });
        if let Some(f) = hit {
            return Err(DocumentError::Refused(format!(
                "{} is inside CODEXPORT_HOME ({}, which lies inside CODEX_HOME): codexport never replicates its own state",
                f.path,
                roots.codexport_home.display()
            )));
        }
    }
    Ok(())
}

/// [`check_roots`] as the follower's trust error for the document from `master`
/// ([`super::FollowerError::Untrusted`], exit 5; the hook records `trust-failure`).
pub fn refuse_for_roots(doc: &DesiredState, roots: &Roots, master: &str) -> Result<(), super::FollowerError> {
    check_roots(doc, roots).map_err(|e| super::FollowerError::Untrusted {
        url: master.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codexport_home_within_codex_home() {
        let within = |a: &str, b: &str| codexport_home_within(Path::new(a), Path::new(b));
        assert_eq!(
            within("/h/.codex", "/h/.codex/.codexport").as_deref(),
            Some(".codexport")
        );
        assert_eq!(within("/h/.codex", "/h/.codex/A/B").as_deref(), Some("a/b"));
        assert_eq!(within("/h/.codex", "/h/.codex").as_deref(), Some(""));
        assert_eq!(within("/h/.codex", "/h/.codexport"), None);
        assert_eq!(within("/h/.codex", "/h"), None);
    }
}
