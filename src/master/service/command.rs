//! Running a service manager's command (`systemctl`, `launchctl`, `schtasks`) with stdin
//! closed, output captured (64 KiB each) and a deadline.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ServiceError;

/// What a finished command printed.
#[derive(Debug)]
pub(crate) struct Ran {
    /// True when it exited 0.
    pub(crate) success: bool,
    /// Exit status as text (`exit 1`, `signal`).
    pub(crate) status: String,
    /// Standard output (at most 64 KiB).
    pub(crate) stdout: String,
    /// Standard error (at most 64 KiB), trimmed.
    pub(crate) stderr: String,
}

/// `program args...` as shell-like text for messages.
pub(crate) fn display(program: &std::ffi::OsStr, args: &[&str]) -> String {
    let mut text = program.to_string_lossy().into_owned();
    for a in args {
        text.push(' ');
        text.push_str(a);
    }
    text
}

/// Run `program args...` with stdin closed, capturing output; killed after `timeout`.
///
/// Errors: [`ServiceError::Command`] when it cannot start or runs too long (a non-zero exit is
/// returned in [`Ran`], not as an error).
pub(crate) fn run(program: &std::ffi::OsStr, args: &[&str], timeout: Duration) -> Result<Ran, ServiceError> {
    let failed = |reason: String| ServiceError::Command {
        command: display(program, args),
        reason,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => failed("not found".into()),
            _ => failed(e.to_string()),
        })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(p) = pipe {
                let _ = p.take(64 * 1024).read_to_string(&mut text);
            }
            text
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!("no answer within {} s", timeout.as_secs())));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default().trim().to_string();
    Ok(Ran {
        success: status.success(),
        status: status
            .code()
            .map(|c| format!("exit {c}"))
            .unwrap_or_else(|| "killed by a signal".into()),
        stdout,
        stderr,
    })
}

/// Run and require exit 0; returns the command as text for the report.
///
/// Errors: [`ServiceError::Command`] with the exit status and stderr.
pub(crate) fn run_ok(program: &std::ffi::OsStr, args: &[&str], timeout: Duration) -> Result<String, ServiceError> {
    let ran = run(program, args, timeout)?;
    let command = display(program, args);
    if ran.success {
        Ok(command)
    } else {
        let detail = if ran.stderr.is_empty() {
            ran.stdout.trim().to_string()
        } else {
            ran.stderr
        };
        Err(ServiceError::Command {
            command,
            reason: format!("{}: {detail}", ran.status),
        })
    }
}
