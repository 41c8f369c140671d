//! `inventory.json`: what codexport last wrote (path -> sha256, mode; the config.toml keys it
//! owns), the applied revision and the generation. The three-way compare reads it; `execute` writes it last (through the
//! [`Host`], so dry runs write nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::host::Host;

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
    /// `lstat` of the file when codexport last wrote or checked it: when it still matches,
    /// the file is not read again ([`super::statkey`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<super::statkey::StatKey>,
}

/// The whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Revision last applied.
    #[serde(default)]
    pub revision: Option<String>,
    /// Generation of the last apply that changed something.
    #[serde(default)]
    pub generation: u64,
    /// When it was applied (RFC 3339).
    #[serde(default)]
    pub applied_at: Option<String>,
    /// Files by path relative to CODEX_HOME.
    #[serde(default)]
    pub files: BTreeMap<String, InventoryEntry>,
    /// Keys of config.toml codexport wrote (dotted key path -> fingerprint of the value
    /// written, see [`crate::codex::keys`]); every other key of the file belongs to Codex or
    /// to the user and is kept. `None` only in inventories written before key ownership
    /// (then every key of the config.toml codexport last wrote counts as owned); `Some` of an
    /// empty map when codexport owns no key (e.g. after `rollback --to 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_keys: Option<BTreeMap<String, String>>,
}

impl Inventory {
    /// The config.toml keys codexport owns as recorded (empty when none are recorded).
    pub fn owned_keys(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.config_keys.as_ref().unwrap_or(&NONE)
    }
}

/// Path under `codexport_home`.
pub fn path(codexport_home: &Path) -> PathBuf {
    codexport_home.join(FILE_NAME)
}

/// Load (empty when absent). Errors name the file.
pub fn load(host: &dyn Host, codexport_home: &Path) -> std::io::Result<Inventory> {
    let p = path(codexport_home);
    match host.read(&p)? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", p.display())))
        }
        None => Ok(Inventory::default()),
    }
}

/// Write atomically (mode 0600); an empty default inventory removes the file.
pub fn save(host: &dyn Host, codexport_home: &Path, inventory: &Inventory) -> std::io::Result<()> {
    if inventory == &Inventory::default() {
        return host.remove_file(&path(codexport_home));
    }
    host.create_private_dir_all(codexport_home)?;
    let bytes = serde_json::to_vec_pretty(inventory).map_err(std::io::Error::other)?;
    host.write_file(&path(codexport_home), &bytes, crate::fs::SECRET_MODE)
}

impl Inventory {
    /// Load with the real file system (for status and other read-only callers).
    pub fn load(codexport_home: &Path) -> std::io::Result<Self> {
        load(&super::host::RealHost, codexport_home)
    }
}
