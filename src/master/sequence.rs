//! The master's publication number (`metadata.sequence` of the desired-state document).
//!
//! Every document the master signs gets a number higher than any it signed before, so that a
//! follower can refuse an older signed document replayed to it (TUF's rollback attack; see
//! SECURITY.md). The last number issued is kept in `$CODEXPORT_HOME/master/sequence` (decimal,
//! 0600), which `master init --rotate-key` leaves alone. The next number is
//! `max(last + 1, now in Unix seconds)`: a master whose state directory was lost or restored
//! from an old backup still numbers its next document above what its followers accepted, as
//! long as its clock is not behind; a clock that goes back is covered by `last + 1`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// File name under the master's state directory.
pub const SEQUENCE_FILE: &str = "sequence";

/// The last number issued; 0 when none was (or the file is unreadable: the clock then
/// carries the next number past anything issued before).
pub fn last(dir: &Path) -> u64 {
    fs_err::read_to_string(dir.join(SEQUENCE_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Reserve the next number and record it before the document that carries it is written (a
/// crash in between only skips a number).
///
/// Errors: writing `dir/sequence`.
pub fn next(dir: &Path) -> std::io::Result<u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let next = (last(dir) + 1).max(now);
    crate::fs::write_atomic(&dir.join(SEQUENCE_FILE), format!("{next}\n").as_bytes(), 0o600)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_only_grow_even_when_the_clock_is_behind_or_the_file_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let a = next(dir.path()).unwrap();
        let b = next(dir.path()).unwrap();
        assert!(a > 1_700_000_000, "starts at the clock: {a}");
        assert!(b > a);
        // A number from the future (a clock that was ahead): the next is one more.
        fs_err::write(dir.path().join(SEQUENCE_FILE), "99999999999\n").unwrap();
        assert_eq!(next(dir.path()).unwrap(), 100_000_000_000);
        // Lost or garbled: the clock carries on (at least where it started).
        fs_err::write(dir.path().join(SEQUENCE_FILE), "garbage").unwrap();
        assert!(next(dir.path()).unwrap() >= a);
    }
}
