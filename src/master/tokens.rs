//! Per-follower bearer tokens (`tokens.json`), stored as sha256 hashes, never in clear.
//!
//! A token is `cxp_` + 64 hex digits (32 random bytes); the prefix lets secret scanners spot it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name inside the master directory.
pub const FILE_NAME: &str = "tokens.json";

/// One follower's token record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowerToken {
    /// Follower name given to `master link --name`.
    pub name: String,
    /// Hex sha256 of the token.
    pub token_sha256: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// True once revoked: the token then fails like a wrong one.
    #[serde(default)]
    pub revoked: bool,
}

/// All tokens of this master.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenFile {
    /// Records in creation order.
    pub followers: Vec<FollowerToken>,
}

/// Errors with tokens.json.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// tokens.json is not what codexport wrote.
    #[error("{path} is not a valid tokens file: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The OS random source failed.
    #[error("could not get random bytes from the OS: {0}")]
    Random(String),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for TokenError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Error
    }
}

impl TokenFile {
    /// Load `dir/tokens.json` (empty when absent).
    pub fn load(dir: &Path) -> Result<Self, TokenError> {
        let path = dir.join(FILE_NAME);
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Invalid {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Write `dir/tokens.json` (mode 0600).
    pub fn save(&self, dir: &Path) -> Result<(), TokenError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| TokenError::Invalid {
            path: FILE_NAME.into(),
            reason: e.to_string(),
        })?;
        crate::fs::write_atomic(&dir.join(FILE_NAME), &bytes, crate::fs::SECRET_MODE)?;
        Ok(())
    }

    /// Mint a token for `name`, replacing (revoking) any earlier token of that name.
    /// Returns the token in clear: the only time it exists outside the follower.
    pub fn mint(&mut self, name: &str) -> Result<String, TokenError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
        let token = format!("cxp_{}", hex::encode(raw));
        self.followers.retain(|f| f.name != name);
        self.followers.push(FollowerToken {
            name: name.to_string(),
            token_sha256: crate::fs::sha256_hex(token.as_bytes()),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            revoked: false,
        });
        Ok(token)
    }

    /// Revoke every token named `name`; returns false when there is none (already revoked
    /// tokens count: revoking twice is not an error).
    pub fn revoke(&mut self, name: &str) -> bool {
        let mut found = false;
        for f in self.followers.iter_mut().filter(|f| f.name == name) {
            f.revoked = true;
            found = true;
        }
        found
    }

    /// The follower a presented token belongs to, if it is known and not revoked.
    pub fn check(&self, token: &str) -> Option<&FollowerToken> {
        let hash = crate::fs::sha256_hex(token.as_bytes());
        self.followers
            .iter()
            .find(|f| !f.revoked && constant_time_eq(f.token_sha256.as_bytes(), hash.as_bytes()))
    }

    /// A name not used yet: `follower-1`, `follower-2`, ...
    pub fn next_default_name(&self) -> String {
        (1..)
            .map(|n| format!("follower-{n}"))
            .find(|n| !self.followers.iter().any(|f| &f.name == n))
            .unwrap_or_default()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_check_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = TokenFile::load(dir.path()).unwrap();
        let t1 = file.mint("laptop").unwrap();
        assert!(t1.starts_with("cxp_") && t1.len() == 68);
        file.save(dir.path()).unwrap();
        let file = TokenFile::load(dir.path()).unwrap();
        assert_eq!(file.check(&t1).map(|f| f.name.as_str()), Some("laptop"));
        assert!(file.check("cxp_wrong").is_none());
        let raw = fs_err::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!raw.contains(&t1), "tokens are stored hashed");
        let mut file = file;
        let t2 = file.mint("laptop").unwrap();
        assert!(file.check(&t1).is_none());
        assert!(file.check(&t2).is_some());
        assert_eq!(file.next_default_name(), "follower-1");
        assert!(file.revoke("laptop"));
        assert!(file.check(&t2).is_none(), "revoked");
        assert!(!file.revoke("nobody"));
    }
}
