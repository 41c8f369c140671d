//! The three-way compare of one managed path (like chezmoi): desired vs last written
//! (inventory) vs actual on disk, and what the `onDrift` policy makes of a difference.
//!
//! Pure functions: they decide, they never touch the disk.

use crate::follower::local::OnDrift;

use super::host::Observed;
use super::inventory::InventoryEntry;
use super::plan::{Action, fmt_mode};

/// What to do with one path, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action.
    pub action: Action,
    /// Why, in words (shown in plans).
    pub reason: String,
    /// True when the disk differs from both desired and last written.
    pub drift: bool,
    /// A directory, symlink or special file is where the file must go (moved aside, never followed).
    pub obstruction: Option<&'static str>,
}

impl Decision {
    fn plain(action: Action, reason: impl Into<String>) -> Self {
        Decision {
            action,
            reason: reason.into(),
            drift: false,
            obstruction: None,
        }
    }

    fn drift(what: String, policy: OnDrift, resolve: Action, obstruction: Option<&'static str>) -> Self {
        let (action, how) = match policy {
            OnDrift::Overwrite => (resolve, "the local version is backed up, then replaced"),
            OnDrift::Keep => (Action::Noop, "kept (onDrift = keep)"),
            OnDrift::Fail => (resolve, "onDrift = fail stops the apply"),
        };
        Decision {
            action,
            reason: format!("drift: {what}; {how}"),
            drift: true,
            obstruction,
        }
    }
}

/// Decide for a path the desired state has (content `sha256`, permission bits `mode`).
pub fn decide_write(
    sha256: &str,
    mode: u32,
    last: Option<&InventoryEntry>,
    actual: &Observed,
    policy: OnDrift,
) -> Decision {
    match actual {
        Observed::Absent => Decision::plain(Action::Create, "absent"),
        Observed::File {
            sha256: a_sha,
            mode: a_mode,
            ..
        } => {
            if a_sha == sha256 && *a_mode == mode {
                return Decision::plain(Action::Noop, "up to date");
            }
            match last {
                Some(l) if &l.sha256 == a_sha && l.mode == *a_mode => {
                    if a_sha == sha256 {
                        Decision::plain(
                            Action::Update,
                            format!(
                                "mode changed on the master ({} -> {})",
                                fmt_mode(*a_mode),
                                fmt_mode(mode)
                            ),
                        )
                    } else {
                        Decision::plain(Action::Update, "changed on the master")
                    }
                }
                Some(l) if &l.sha256 == a_sha => {
                    let what = format!("mode changed locally ({} -> {})", fmt_mode(l.mode), fmt_mode(*a_mode));
                    Decision::drift(what, policy, Action::Update, None)
                }
                Some(_) => Decision::drift(
                    "edited locally since codexport wrote it".into(),
                    policy,
                    Action::Update,
                    None,
                ),
                None => Decision::drift(
                    "exists but was not written by codexport".into(),
                    policy,
                    Action::Update,
                    None,
                ),
            }
        }
        other => Decision::drift(
            format!("a {} is in the way", other.kind()),
            policy,
            Action::Update,
            Some(other.kind()),
        ),
    }
}

/// A credential file (`auth.json`, ...) changed on this machine while the master's copy did
/// not: Codex refreshed its own login (ChatGPT logins rotate their refresh token), and putting
/// the master's older copy back could log the machine out. Kept, not drift; the inventory keeps
/// what codexport wrote, so a new copy from the master still wins (with a backup, as drift).
/// `None` when the rule does not apply. The caller decides secrecy by path.
pub fn keep_refreshed_secret(sha256: &str, last: Option<&InventoryEntry>, actual: &Observed) -> Option<Decision> {
    match (last, actual) {
        (Some(l), Observed::File { sha256: a_sha, .. }) if l.sha256 == sha256 && a_sha != sha256 => {
            Some(Decision::plain(
                Action::Noop,
                "changed on this machine (Codex refreshes its login); the master's copy did not change: kept",
            ))
        }
        _ => None,
    }
}

/// Decide for a path codexport wrote earlier that the desired state dropped; `None` when there
/// is nothing to do (already gone, or no longer a file codexport could have written).
pub fn decide_remove(last: &InventoryEntry, actual: &Observed, policy: OnDrift) -> Option<Decision> {
    match actual {
        Observed::File { sha256, mode, .. } if *sha256 == last.sha256 && *mode == last.mode => {
            Some(Decision::plain(Action::Delete, "dropped by the master"))
        }
        Observed::File { .. } => Some(Decision::drift(
            "dropped by the master but edited locally".into(),
            policy,
            Action::Delete,
            None,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sha: &str, mode: u32) -> Observed {
        Observed::File {
            sha256: sha.into(),
            size: 1,
            mode,
        }
    }
    fn inv(sha: &str, mode: u32) -> InventoryEntry {
        InventoryEntry {
            sha256: sha.into(),
            mode,
            stat: None,
        }
    }

    #[test]
    fn the_three_states() {
        let ow = OnDrift::Overwrite;
        assert_eq!(
            decide_write("n", 0o644, None, &Observed::Absent, ow).action,
            Action::Create
        );
        assert_eq!(
            decide_write("n", 0o644, Some(&inv("o", 0o644)), &file("n", 0o644), ow).action,
            Action::Noop
        );
        let d = decide_write("n", 0o644, Some(&inv("o", 0o644)), &file("o", 0o644), ow);
        assert_eq!(
            (d.action, d.drift, d.reason.as_str()),
            (Action::Update, false, "changed on the master")
        );
        let d = decide_write("n", 0o755, Some(&inv("n", 0o644)), &file("n", 0o644), ow);
        assert_eq!((d.action, d.drift), (Action::Update, false), "{}", d.reason);
        let d = decide_write("n", 0o644, Some(&inv("n", 0o644)), &file("n", 0o600), ow);
        assert!(d.drift && d.reason.contains("mode changed locally"), "{}", d.reason);
    }

    #[test]
    fn drift_follows_the_policy() {
        let local_edit = |p| decide_write("n", 0o644, Some(&inv("o", 0o644)), &file("x", 0o644), p);
        assert_eq!(local_edit(OnDrift::Overwrite).action, Action::Update);
        assert_eq!(local_edit(OnDrift::Keep).action, Action::Noop);
        let fail = local_edit(OnDrift::Fail);
        assert!(fail.drift && fail.reason.contains("onDrift = fail"));
        let refreshed = keep_refreshed_secret("n", Some(&inv("n", 0o600)), &file("r", 0o600));
        assert_eq!(refreshed.map(|d| (d.action, d.drift)), Some((Action::Noop, false)));
        let master_moved = keep_refreshed_secret("m", Some(&inv("n", 0o600)), &file("r", 0o600));
        assert_eq!(master_moved, None, "the master's new copy wins");
        assert_eq!(
            keep_refreshed_secret("n", None, &file("r", 0o600)),
            None,
            "never written"
        );
        let link = decide_write("n", 0o644, None, &Observed::Symlink, OnDrift::Overwrite);
        assert_eq!((link.obstruction, link.drift), (Some("symlink"), true));
    }

    #[test]
    fn removals_only_touch_what_codexport_wrote() {
        assert_eq!(
            decide_remove(&inv("o", 0o644), &Observed::Absent, OnDrift::Overwrite),
            None
        );
        assert_eq!(
            decide_remove(&inv("o", 0o644), &Observed::Dir, OnDrift::Overwrite),
            None
        );
        assert_eq!(
            decide_remove(&inv("o", 0o644), &file("o", 0o644), OnDrift::Keep)
                .unwrap()
                .action,
            Action::Delete
        );
        assert_eq!(
            decide_remove(&inv("o", 0o644), &file("x", 0o644), OnDrift::Keep)
                .unwrap()
                .action,
            Action::Noop
        );
    }
}
