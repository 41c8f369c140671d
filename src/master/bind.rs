//! Which address `master serve` listens on.
//!
//! Order: `--bind` when given; else master.toml `bind`, where `auto` (the default) means the
//! Tailscale IPv4 address when `tailscale ip -4` answers within [`TAILSCALE_TIMEOUT`], else
//! 127.0.0.1. A missing `tailscale` binary, a non-zero exit, a hang or unparsable output all
//! fall back to loopback: the master is never exposed by accident.

use std::io::Read;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::settings::{AUTO_BIND, MasterSettings};

/// Environment variable naming the `tailscale` binary to run (default: `tailscale` on PATH).
pub const TAILSCALE_ENV: &str = "CODEXPORT_TAILSCALE";
/// How long `tailscale ip -4` may take before codexport gives up on it.
pub const TAILSCALE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the bind address came from, for the `serving ...` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindSource {
    /// `--bind` on the command line.
    Flag,
    /// An explicit address in master.toml.
    Settings,
    /// `bind = "auto"` and `tailscale ip -4` answered.
    Tailscale,
    /// `bind = "auto"` and Tailscale did not answer: loopback.
    Loopback,
}

impl BindSource {
    /// Short human description: `--bind`, `master.toml`, `tailscale ip -4`, ...
    pub fn describe(self) -> &'static str {
        match self {
            BindSource::Flag => "--bind",
            BindSource::Settings => "master.toml",
            BindSource::Tailscale => "tailscale ip -4",
            BindSource::Loopback => "no Tailscale address found; loopback only",
        }
    }
}

/// Pick the address to bind (an IP or host name, no port).
pub fn resolve(flag: Option<&str>, settings: &MasterSettings) -> (String, BindSource) {
    if let Some(addr) = flag.filter(|a| *a != AUTO_BIND) {
        return (addr.to_string(), BindSource::Flag);
    }
    if flag.is_none() && settings.bind != AUTO_BIND {
        return (settings.bind.clone(), BindSource::Settings);
    }
    match tailscale_ipv4(TAILSCALE_TIMEOUT) {
        Some(ip) => (ip.to_string(), BindSource::Tailscale),
        None => ("127.0.0.1".into(), BindSource::Loopback),
    }
}

/// `host:port`, bracketing IPv6 literals.
pub fn socket_addr(bind: &str, port: u16) -> String {
    if bind.contains(':') && !bind.starts_with('[') {
        format!("[{bind}]:{port}")
    } else {
        format!("{bind}:{port}")
    }
}

/// True for the any-address binds that expose the master on every interface.
pub fn is_wildcard(bind: &str) -> bool {
    matches!(
        bind.trim_matches(|c| c == '[' || c == ']'),
        "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0"
    )
}

/// Run `tailscale ip -4` (or [`TAILSCALE_ENV`]) and return the first IPv4 address it prints;
/// `None` when it is absent, fails, prints no address or runs longer than `timeout` (then it
/// is killed).
pub fn tailscale_ipv4(timeout: Duration) -> Option<Ipv4Addr> {
    let program = std::env::var_os(TAILSCALE_ENV).unwrap_or_else(|| "tailscale".into());
    let mut child = Command::new(program)
        .args(["ip", "-4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    if !status.success() {
        return None;
    }
    let mut out = String::new();
    child.stdout.take()?.take(4096).read_to_string(&mut out).ok()?;
    out.lines().find_map(|l| l.trim().parse::<Ipv4Addr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_addresses_win_and_wildcards_are_recognised() {
        let mut settings = MasterSettings::default();
        assert_eq!(
            resolve(Some("10.1.2.3"), &settings),
            ("10.1.2.3".to_string(), BindSource::Flag)
        );
        settings.bind = "192.168.1.5".into();
        assert_eq!(
            resolve(None, &settings),
            ("192.168.1.5".to_string(), BindSource::Settings)
        );
        assert!(is_wildcard("0.0.0.0") && is_wildcard("::") && is_wildcard("[::]"));
        assert!(!is_wildcard("127.0.0.1"));
        assert_eq!(socket_addr("::1", 5), "[::1]:5");
        assert_eq!(socket_addr("127.0.0.1", 5), "127.0.0.1:5");
    }
}
