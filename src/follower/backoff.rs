//! The SessionStart hook's back-off from a master that does not answer.
//!
//! A master laptop asleep on the tailnet accepts connections (or black-holes them) and never
//! answers: every Codex start would pay the hook's whole budget. After a hook run that found
//! the master unreachable or ran out of time talking to it, later hook runs skip the master
//! for a growing interval ([`FIRST`] doubling to [`MAX`]) and record the outcome `backoff`,
//! so a Codex start costs milliseconds. Any successful contact and any manual sync (`sync`,
//! `plan` without `--offline`, `reconcile`) ends it. State: `$CODEXPORT_HOME/hook-backoff.json`
//! `{"since": RFC 3339, "until": RFC 3339, "intervalSecs": N, "reason": "..."}` (0600); an
//! unreadable file counts as no back-off (the hook then simply tries the master).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// File name under `CODEXPORT_HOME`.
pub const FILE_NAME: &str = "hook-backoff.json";
/// The first interval.
pub const FIRST: Duration = Duration::from_secs(60);
/// The longest interval.
pub const MAX: Duration = Duration::from_secs(30 * 60);

/// An active back-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// When the master first failed to answer in this row (RFC 3339).
    pub since: String,
    /// Hook runs before this time do not contact the master (RFC 3339).
    pub until: String,
    /// The current interval, in seconds.
    pub interval_secs: u64,
    /// What the last failed contact said.
    pub reason: String,
}

impl Backoff {
    fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(FILE_NAME)
    }

    /// The back-off on record, if any.
    pub fn load(codexport_home: &Path) -> Option<Self> {
        serde_json::from_slice(&fs_err::read(Self::path(codexport_home)).ok()?).ok()
    }

    /// True while `now` is before `until`.
    pub fn active(&self, now: SystemTime) -> bool {
        humantime::parse_rfc3339(&self.until).is_ok_and(|until| now < until)
    }

    /// Record one more failed contact: the interval doubles from [`FIRST`] up to [`MAX`].
    ///
    /// Errors: writing the file.
    pub fn bump(codexport_home: &Path, now: SystemTime, reason: &str) -> std::io::Result<Self> {
        let previous = Self::load(codexport_home);
        let interval = previous
            .as_ref()
            .map(|b| Duration::from_secs(b.interval_secs.saturating_mul(2)).min(MAX))
            .unwrap_or(FIRST);
        let at = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
        let next = Backoff {
            since: previous.map(|b| b.since).unwrap_or_else(|| at(now)),
            until: at(now + interval),
            interval_secs: interval.as_secs(),
            reason: reason.chars().take(300).collect(),
        };
        let json = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        crate::fs::write_atomic_unsynced(&Self::path(codexport_home), &json, crate::fs::SECRET_MODE)?;
        Ok(next)
    }

    /// End the back-off (a successful contact, or the operator asked for a sync).
    pub fn clear(codexport_home: &Path) {
        let _ = fs_err::remove_file(Self::path(codexport_home));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_doubles_up_to_the_cap_and_clear_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let first = Backoff::bump(dir.path(), now, "timed out").unwrap();
        assert_eq!(first.interval_secs, 60);
        assert!(first.active(now) && !first.active(now + Duration::from_secs(61)));
        let mut last = first.clone();
        for _ in 0..10 {
            last = Backoff::bump(dir.path(), now, "timed out").unwrap();
        }
        assert_eq!(last.interval_secs, 30 * 60, "capped");
        assert_eq!(last.since, first.since, "since the first failure in the row");
        Backoff::clear(dir.path());
        assert_eq!(Backoff::load(dir.path()), None);
    }
}
