//! Who has been seen: `followers-seen.json` and the `master followers` listing.
//!
//! The server records, for every request that presents a valid token, the token's follower
//! name, the time, and the `X-Codexport-Applied-Revision` / `X-Codexport-Follower` headers the
//! follower sent. Recording only touches memory; a background task writes the file at most
//! every [`FLUSH_INTERVAL`], so requests never wait for the disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::tokens::TokenFile;

/// File name inside the master directory.
pub const SEEN_FILE: &str = "followers-seen.json";
/// Longest time between a request and its record reaching [`SEEN_FILE`].
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// Longest self-reported follower name kept (bytes); longer names are cut.
const MAX_REPORTED_NAME: usize = 64;

/// What the master last saw of one follower (keyed by the token's name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// RFC 3339 UTC time of the last request with this follower's token.
    pub last_seen: String,
    /// The revision the follower said it has applied (`sha256:...`), if it said one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<String>,
    /// The name the follower reported in `X-Codexport-Follower` (its host name by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_name: Option<String>,
}

/// Load `dir/followers-seen.json` (empty when absent or unreadable: it is only a cache).
pub fn load_seen(dir: &Path) -> BTreeMap<String, Seen> {
    fs_err::read(dir.join(SEEN_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// In-memory record of followers seen since the server started, flushed to [`SEEN_FILE`].
#[derive(Debug)]
pub struct SeenTracker {
    dir: PathBuf,
    state: Mutex<(BTreeMap<String, Seen>, bool)>,
}

impl SeenTracker {
    /// Start from what `dir/followers-seen.json` holds.
    pub fn load(dir: &Path) -> Self {
        SeenTracker {
            dir: dir.to_path_buf(),
            state: Mutex::new((load_seen(dir), false)),
        }
    }

    /// Record a request by the follower whose token is named `name`. Header values are
    /// untrusted: a revision that is not `sha256:<64 hex>` is ignored, names are cut and
    /// stripped of control characters.
    pub fn record(&self, name: &str, reported: Option<&str>, applied: Option<&str>) {
        let applied = applied
            .map(str::trim)
            .filter(|r| r.strip_prefix("sha256:").is_some_and(crate::blobstore::is_sha256_hex));
        let reported = reported.map(|r| {
            r.chars()
                .filter(|c| !c.is_control())
                .scan(0, |len, c| {
                    *len += c.len_utf8();
                    (*len <= MAX_REPORTED_NAME).then_some(c)
                })
                .collect::<String>()
        });
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, dirty) = &mut *guard;
        let entry = seen.entry(name.to_string()).or_insert_with(|| Seen {
            last_seen: now.clone(),
            applied_revision: None,
            reported_name: None,
        });
        entry.last_seen = now;
        if let Some(a) = applied {
            entry.applied_revision = Some(a.to_string());
        }
        if reported.is_some() {
            entry.reported_name = reported;
        }
        *dirty = true;
    }

    /// Write the file (mode 0600) when something was recorded since the last flush.
    pub fn flush(&self) -> std::io::Result<()> {
        let snapshot = {
            let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if !guard.1 {
                return Ok(());
            }
            guard.1 = false;
            guard.0.clone()
        };
        let bytes = serde_json::to_vec_pretty(&snapshot).map_err(std::io::Error::other)?;
        crate::fs::write_atomic(&self.dir.join(SEEN_FILE), &bytes, crate::fs::SECRET_MODE)
    }
}

/// Where a follower stands against the published revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowerState {
    /// Its applied revision is the published one.
    Current,
    /// It reported another applied revision, or none yet.
    Behind,
    /// Its token was never used.
    NeverSeen,
    /// Its token was revoked.
    Revoked,
}

/// One row of `master followers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowerRow {
    /// Token name (`master link --name`); what `master revoke` takes.
    pub name: String,
    /// When the token was minted (RFC 3339).
    pub created: String,
    /// Last request with the token (RFC 3339), if any.
    pub last_seen: Option<String>,
    /// Last applied revision the follower reported.
    pub applied_revision: Option<String>,
    /// Name the follower reported for itself.
    pub reported_name: Option<String>,
    /// Current, behind, never seen or revoked.
    pub state: FollowerState,
}

/// Rows for every token in `tokens`, in creation order, compared with `published`.
pub fn list(tokens: &TokenFile, seen: &BTreeMap<String, Seen>, published: Option<&str>) -> Vec<FollowerRow> {
    tokens
        .followers
        .iter()
        .map(|t| {
            let s = seen.get(&t.name);
            let applied = s.and_then(|s| s.applied_revision.clone());
            let state = if t.revoked {
                FollowerState::Revoked
            } else if s.is_none() {
                FollowerState::NeverSeen
            } else if applied.is_some() && applied.as_deref() == published {
                FollowerState::Current
            } else {
                FollowerState::Behind
            };
            FollowerRow {
                name: t.name.clone(),
                created: t.created_at.clone(),
                last_seen: s.map(|s| s.last_seen.clone()),
                applied_revision: applied,
                reported_name: s.and_then(|s| s.reported_name.clone()),
                state,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_flush_and_list_against_the_published_revision() {
        let dir = tempfile::tempdir().unwrap();
        let mut tokens = TokenFile::default();
        for n in ["a", "b", "c", "d"] {
            tokens.mint(n).unwrap();
        }
        tokens.followers[3].revoked = true;
        let rev = format!("sha256:{}", "1".repeat(64));
        let old = format!("sha256:{}", "2".repeat(64));
        let tracker = SeenTracker::load(dir.path());
        tracker.record("a", Some("laptop\u{7}"), Some(&rev));
        tracker.record("b", Some(&"x".repeat(300)), Some(&old));
        tracker.record("b", None, Some("not a revision"));
        tracker.flush().unwrap();
        let seen = load_seen(dir.path());
        let rows = list(&tokens, &seen, Some(&rev));
        let states: Vec<_> = rows.iter().map(|r| r.state).collect();
        assert_eq!(
            states,
            [
                FollowerState::Current,
                FollowerState::Behind,
                FollowerState::NeverSeen,
                FollowerState::Revoked
            ]
        );
        assert_eq!(rows[0].reported_name.as_deref(), Some("laptop"));
        assert_eq!(rows[1].applied_revision.as_deref(), Some(old.as_str()), "junk ignored");
        assert_eq!(rows[1].reported_name.as_ref().map(String::len), Some(MAX_REPORTED_NAME));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(dir.path().join(SEEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
