//! `inventory.json`: what codexport last wrote (path -> sha256, mode), the applied revision and
//! the generation. The three-way compare reads it; `execute` writes it last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name inside CODEXPORT_HOME.
pub const FILE_NAME: &str = "inventory.json";

/// One file codexport wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// Hex sha256 of what was written.
    pub sha256: String,
    /// Mode it was written with.
    pub mode: u32,
}

/// The whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Revision last applied.
    #[serde(default)]
    pub revision: Option<String>,
    /// Generation of the last apply that changed something (backups/<generation>/).
    #[serde(default)]
    pub generation: u64,
    /// When it was applied (RFC 3339).
    #[serde(default)]
    pub applied_at: Option<String>,
    /// Files by path relative to CODEX_HOME.
    #[serde(default)]
    pub files: BTreeMap<String, InventoryEntry>,
}

impl Inventory {
    /// Path under `codexport_home`.
    pub fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(FILE_NAME)
    }

    /// Load (empty when absent).
    pub fn load(codexport_home: &Path) -> std::io::Result<Self> {
        let path = Self::path(codexport_home);
        match fs_err::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Inventory::default()),
            Err(e) => Err(e),
        }
    }

    /// Write atomically (mode 0600).
    pub fn save(&self, codexport_home: &Path) -> std::io::Result<()> {
        crate::fs::create_private_dir(codexport_home)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::fs::write_atomic(&Self::path(codexport_home), &bytes, crate::fs::SECRET_MODE)
    }
}
