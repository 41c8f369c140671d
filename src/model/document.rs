//! The desired-state document (DESIGN.md "The desired-state document").
//!
//! Shape: `{apiVersion: codexport/v1, kind: DesiredState, metadata, spec}` serialized as YAML.
//! The revision is `sha256:<hex>` over the canonical JSON of `spec` only, so the same tree gives
//! the same revision whatever the time of publishing. The JSON Schema in
//! `schemas/desired-state.v1.schema.json` is generated from these types.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `apiVersion` of documents this build reads and writes.
pub const API_VERSION: &str = "codexport/v1";
/// `kind` of the desired-state document.
pub const KIND: &str = "DesiredState";
/// Largest document a follower accepts (bytes); a bigger one is refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "codexport desired state (v1)")]
pub struct DesiredState {
    /// Always `codexport/v1`.
    pub api_version: String,
    /// Always `DesiredState`.
    pub kind: String,
    /// Identity of the document: revision, master, time.
    pub metadata: Metadata,
    /// What a follower should converge to. The revision hashes exactly this.
    pub spec: Spec,
}

/// Document metadata; only `spec` is covered by the revision (the signature covers all bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// `sha256:<64 hex>` of the canonical JSON of `spec`.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub revision: String,
    /// Who published it.
    pub master: MasterInfo,
    /// RFC 3339 UTC time of publishing; not part of the revision.
    pub generated_at: String,
    /// Publication number, covered by the signature: every document a master signs has a
    /// higher one than the last (`max(previous + 1, Unix seconds)`, so a master whose state was
    /// reset still moves forward), kept across key rotations. A follower refuses a document
    /// numbered below, or equal to but different from, the newest it accepted: a recorded old
    /// document replayed by the network is refused (TUF "rollback attack"). 0 in documents from
    /// before sequence numbers.
    #[serde(default)]
    pub sequence: u64,
}

/// The publishing master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MasterInfo {
    /// Hex sha256 of the raw 32-byte Ed25519 public key.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub fingerprint: String,
    /// Hex of the raw 32-byte Ed25519 public key.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub public_key: String,
    /// The master's host name (informational).
    pub hostname: String,
    /// The master's home directory, which `${home}` stood for on the master.
    pub home: String,
    /// The master's CODEX_HOME, which `${codexHome}` stood for on the master.
    pub codex_home: String,
}

/// The desired state proper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Every replicated file except config.toml and hooks.json, sorted by path.
    pub files: Vec<FileEntry>,
    /// The canonical config.toml with master paths turned into `${home}`/`${codexHome}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BlobRef>,
    /// The master's hooks.json with master paths turned into variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<BlobRef>,
    /// Every `[mcp_servers.*]` of the canonical config, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_servers: BTreeMap<String, McpServerSpec>,
    /// `${vars}` that config.toml and hooks.json use besides `home` and `codexHome`; a follower
    /// must define each in `[pathVariables]` of its local.toml.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_variables: Vec<String>,
}

impl Spec {
    /// The revision of this spec: `sha256:` + hex sha256 of its canonical JSON.
    pub fn revision(&self) -> String {
        // Serializing plain structs, strings and JSON values cannot fail.
        super::revision::spec_revision(self).unwrap_or_default()
    }
}

/// A blob by content: hash and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlobRef {
    /// Lowercase hex sha256 of the bytes.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// One replicated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to CODEX_HOME, `/`-separated, normalised (see `model::relpath`).
    pub path: String,
    /// Lowercase hex sha256 of the content.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits as on the master (secrets are always written 0600).
    pub mode: FileMode,
    /// What kind of file this is (decides defaults such as the secret mode).
    pub class: FileClass,
}

/// File classes (DESIGN.md): decide modes, exclusion by class and plan redaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileClass {
    /// config.toml, hooks.json, agent-role TOML, themes.
    Config,
    /// AGENTS.md, AGENTS.override.md, RTK.md.
    Instructions,
    /// skills/ and skill-libraries/.
    Skill,
    /// rules/.
    Rule,
    /// prompts/.
    Prompt,
    /// hooks/ (scripts that hooks call).
    HookScript,
    /// mise.toml and other tool configuration.
    Tooling,
    /// auth.json, .credentials.json: mode 0600, value never shown.
    Secret,
}

impl FileClass {
    /// The name used in documents and plans (`hook-script`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FileClass::Config => "config",
            FileClass::Instructions => "instructions",
            FileClass::Skill => "skill",
            FileClass::Rule => "rule",
            FileClass::Prompt => "prompt",
            FileClass::HookScript => "hook-script",
            FileClass::Tooling => "tooling",
            FileClass::Secret => "secret",
        }
    }

    /// Every class, in the order of [`FileClass::NAMES`].
    pub const ALL: [FileClass; 8] = [
        FileClass::Config,
        FileClass::Instructions,
        FileClass::Skill,
        FileClass::Rule,
        FileClass::Prompt,
        FileClass::HookScript,
        FileClass::Tooling,
        FileClass::Secret,
    ];

    /// The names of every class (as in documents and `exclude = ["class:NAME"]`).
    pub const NAMES: [&'static str; 8] = [
        "config",
        "instructions",
        "skill",
        "rule",
        "prompt",
        "hook-script",
        "tooling",
        "secret",
    ];

    /// The class with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// An MCP server of the canonical config: its transport and full definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerSpec {
    /// `stdio` (a `command`) or `http` (a `url`).
    pub transport: McpTransport,
    /// Every key of the `[mcp_servers.<name>]` table as written (portable paths), unknown
    /// keys included.
    pub definition: serde_json::Map<String, serde_json::Value>,
    /// What the master inferred this command server runs (absent for URL servers); see
    /// `mcp::infer` for the rules and `mcp::artifact` for the shapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<crate::mcp::artifact::Artifact>,
}

/// How Codex talks to an MCP server (CODEX-FACTS.md: chosen by `command` vs `url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum McpTransport {
    /// A local process speaking MCP over stdin/stdout.
    Stdio,
    /// Streamable HTTP at a URL.
    Http,
}

impl std::fmt::Display for McpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            McpTransport::Stdio => "stdio",
            McpTransport::Http => "http",
        })
    }
}

/// Permission bits, written in documents as an octal string such as `"0o755"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileMode(pub u32);

impl FileMode {
    /// True when any execute bit is set.
    pub fn is_executable(self) -> bool {
        self.0 & 0o111 != 0
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0o{:03o}", self.0)
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s
            .strip_prefix("0o")
            .ok_or_else(|| serde::de::Error::custom(format!("mode {s:?} must look like \"0o644\"")))?;
        match u32::from_str_radix(digits, 8) {
            Ok(m) if m <= 0o7777 && (3..=4).contains(&digits.len()) => Ok(FileMode(m)),
            _ => Err(serde::de::Error::custom(format!(
                "mode {s:?} is not an octal permission like \"0o644\""
            ))),
        }
    }
}

impl JsonSchema for FileMode {
    fn schema_name() -> Cow<'static, str> {
        "FileMode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Permission bits as an octal string, e.g. \"0o644\" or \"0o755\".",
            "type": "string",
            "pattern": "^0o[0-7]{3,4}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_round_trips_as_octal_string() {
        let m: FileMode = serde_yaml::from_str("'0o755'").unwrap();
        assert_eq!(m, FileMode(0o755));
        assert_eq!(serde_yaml::to_string(&FileMode(0o600)).unwrap().trim(), "'0o600'");
        assert!(serde_yaml::from_str::<FileMode>("'755'").is_err());
        assert!(serde_yaml::from_str::<FileMode>("'0o7778'").is_err());
    }

    #[test]
    fn revision_ignores_metadata_and_tracks_spec() {
        let spec = Spec {
            files: vec![],
            config: None,
            hooks: None,
            mcp_servers: BTreeMap::new(),
            path_variables: vec![],
        };
        let mut other = spec.clone();
        assert_eq!(spec.revision(), other.revision());
        other.path_variables.push("workspaceRoot".into());
        assert_ne!(spec.revision(), other.revision());
        assert!(spec.revision().starts_with("sha256:"));
    }
}
