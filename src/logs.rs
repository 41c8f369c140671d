//! The daily log file `$CODEXPORT_HOME/logs/codexport-YYYY-MM-DD.log` (UTC dates) and the
//! redaction every log line passes through.
//!
//! - The directory is 0700 and each file 0600; lines are appended (`O_APPEND`), so several
//!   codexport processes can share a day's file.
//! - A file past [`MAX_FILE_BYTES`] is renamed to `codexport-YYYY-MM-DD.log.1` (replacing an
//!   older `.1`) and a new one is started: at most two files per day.
//! - Files dated more than [`KEEP_DAYS`] days before today are deleted when a file is opened
//!   (at start-up, and at midnight in a long `master serve`).
//! - Writing never fails a command: I/O errors drop the line.
//!
//! Events must not carry secrets in the first place (paths, counts, sizes and hashes only);
//! [`redact`] is the safety net for the shapes a secret has in codexport: `cxp_` tokens,
//! `Bearer` credentials, `token=`/`api_key=`/`--token=` values and JSON values of secret keys
//! ([`redaction`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod redaction;

/// Replace what looks like a secret with `[redacted]` (see [`redaction`] for the shapes).
pub use redaction::redact;

/// The directory under `$CODEXPORT_HOME` holding the logs.
pub const LOGS_DIR: &str = "logs";
/// Name prefix of the daily files.
pub const FILE_PREFIX: &str = "codexport-";
/// Size past which a day's file is rotated to `.1` (5 MiB).
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Days of logs kept besides today's.
pub const KEEP_DAYS: u64 = 7;

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    date_of(SystemTime::now())
}

fn date_of(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date; `None` when it is not one.
fn day_number(date: &str) -> Option<u64> {
    if date.len() != 10 {
        return None;
    }
    let t = humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs() / 86_400)
}

/// The date `days` days before today, `YYYY-MM-DD` (tests create old files with it).
pub fn days_ago(days: u64) -> String {
    date_of(SystemTime::now() - Duration::from_secs(days * 86_400))
}

/// The file name of `date`'s log.
pub fn file_name(date: &str) -> String {
    format!("{FILE_PREFIX}{date}.log")
}

/// Delete the daily files (and their `.1`) in `dir` dated more than `keep_days` days before
/// `today`. Other files are left alone. Returns what was deleted.
pub fn prune(dir: &Path, today: &str, keep_days: u64) -> std::io::Result<Vec<PathBuf>> {
    let Some(today) = day_number(today) else {
        return Ok(Vec::new());
    };
    let mut deleted = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(date) = name.strip_prefix(FILE_PREFIX).and_then(|rest| rest.get(..10)) else {
            continue;
        };
        let rest = &name[FILE_PREFIX.len() + 10..];
        if !matches!(rest, ".log" | ".log.1") {
            continue;
        }
        if day_number(date).is_some_and(|d| d + keep_days < today) {
            fs_err::remove_file(entry.path())?;
            deleted.push(entry.path());
        }
    }
    Ok(deleted)
}

/// The daily log file; a `tracing_subscriber` writer (`MakeWriter`).
pub struct DailyFile {
    dir: PathBuf,
    cap: u64,
    open: Mutex<Option<(String, fs_err::File)>>,
}

impl DailyFile {
    /// Create `$CODEXPORT_HOME/logs` (0700), delete files older than [`KEEP_DAYS`], open today's.
    ///
    /// Errors: a state directory of `codexport_home` that is a symlink
    /// ([`crate::fs::refuse_linked_state_dirs`]), creating or opening the file.
    pub fn open(codexport_home: &Path) -> std::io::Result<Self> {
        // A symlinked logs/ would put (redacted) logs wherever it points: refused, no file log.
        crate::fs::refuse_linked_state_dirs(codexport_home)?;
        Self::with_cap(&codexport_home.join(LOGS_DIR), MAX_FILE_BYTES)
    }

    /// Like [`DailyFile::open`] on `dir` with another size cap (tests).
    pub fn with_cap(dir: &Path, cap: u64) -> std::io::Result<Self> {
        let log = DailyFile {
            dir: dir.to_path_buf(),
            cap,
            open: Mutex::new(None),
        };
        let today = today();
        let file = log.open_day(&today)?;
        *log.open.lock().unwrap_or_else(|e| e.into_inner()) = Some((today, file));
        Ok(log)
    }

    /// The path of `date`'s file.
    pub fn path_for(&self, date: &str) -> PathBuf {
        self.dir.join(file_name(date))
    }

    fn open_day(&self, date: &str) -> std::io::Result<fs_err::File> {
        crate::fs::create_private_dir(&self.dir)?;
        prune(&self.dir, date, KEEP_DAYS)?;
        let path = self.path_for(date);
        let mut options = fs_err::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        fs_err::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::fs::SECRET_MODE);
        let file = options.open(&path)?;
        crate::fs::set_mode(&path, crate::fs::SECRET_MODE)?;
        Ok(file)
    }

    /// Append one formatted line (redacted), rolling over at midnight and past the cap.
    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let today = today();
        let rotate = match &*open {
            Some((date, file)) if *date == today => file.metadata()?.len() >= self.cap,
            _ => false,
        };
        if rotate {
            let path = self.path_for(&today);
            // Another process may have rotated it already: rename only the file we write to.
            if open.as_ref().is_some_and(|(_, file)| same_file(file, &path)) {
                fs_err::rename(&path, path.with_extension("log.1"))?;
            }
            *open = None;
        }
        if open.as_ref().is_none_or(|(date, _)| *date != today) {
            *open = Some((today.clone(), self.open_day(&today)?));
        }
        let text = String::from_utf8_lossy(line);
        match open.as_mut() {
            Some((_, file)) => file.write_all(redact(&text).as_bytes()),
            None => Ok(()),
        }
    }
}

#[cfg(unix)]
fn same_file(file: &fs_err::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs_err::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &fs_err::File, path: &Path) -> bool {
    path.exists()
}

/// One event's writer for [`DailyFile`].
pub struct DailyWriter<'a>(&'a DailyFile);

impl Write for DailyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A log line that cannot be written is dropped: logging never fails a command, and an
        // error here would make tracing print to stderr (stdout and stderr are not ours in
        // `mcp run` and the hook).
        let _ = self.0.append(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for DailyFile {
    type Writer = DailyWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        DailyWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn redact_hides_tokens_bearers_and_link_tokens() {
        let token = format!("cxp_{}", "ab".repeat(32));
        let line = format!("join link codexport://join?host=h&token={token}&x=1 auth \"Bearer {token}\" {token}.");
        let out = redact(&line);
        assert!(!out.contains(&token[4..]), "{out}");
        assert_eq!(
            out,
            "join link codexport://join?host=h&token=[redacted]&x=1 auth \"Bearer [redacted]\" cxp_[redacted]."
        );
        assert_eq!(redact("plain line, cxp_ alone"), "plain line, cxp_ alone");
        assert!(matches!(redact("plain line"), Cow::Borrowed(_)));
        assert_eq!(redact("héllo cxp_"), "héllo cxp_");
    }

    #[test]
    fn prune_deletes_only_daily_files_older_than_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let today = "2026-03-10";
        for name in [
            "codexport-2026-03-02.log",   // 8 days: deleted
            "codexport-2026-03-02.log.1", // deleted too
            "codexport-2026-03-03.log",   // 7 days: kept
            "codexport-2026-03-10.log",
            "codexport-garbage-date.log",
            "hook.log",
        ] {
            fs_err::write(dir.path().join(name), "x").unwrap();
        }
        let deleted = prune(dir.path(), today, KEEP_DAYS).unwrap();
        assert_eq!(deleted.len(), 2, "{deleted:?}");
        let mut left: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "codexport-2026-03-03.log",
                "codexport-2026-03-10.log",
                "codexport-garbage-date.log",
                "hook.log"
            ]
        );
    }

    #[test]
    fn the_file_is_private_redacted_and_rotated_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let log = DailyFile::with_cap(&logs, 100).unwrap();
        let path = log.path_for(&today());
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&log);
        w.write_all(format!("token cxp_{}\n", "0".repeat(64)).as_bytes())
            .unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "token cxp_[redacted]\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&logs), 0o700);
        }
        for _ in 0..10 {
            w.write_all(&[b'y'; 30]).unwrap();
        }
        let rotated = path.with_extension("log.1");
        assert!(rotated.exists());
        assert!(fs_err::metadata(&path).unwrap().len() <= 130);
        assert!(fs_err::metadata(&rotated).unwrap().len() <= 130);
    }
}
