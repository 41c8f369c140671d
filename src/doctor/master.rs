//! Master checks: identity, master.toml, the published revision (and its signature), the
//! service, whether a server answers, the bind address, and followers that are behind.

use std::path::Path;
use std::time::Instant;

use crate::follower::client::MasterClient;
use crate::master::bind::{BindSource, is_wildcard, resolve, socket_addr};
use crate::master::followers::{FollowerState, list, load_seen};
use crate::master::identity::{Identity, IdentityError, verify};
use crate::master::publish::{SIGNATURE_FILE, STATE_FILE, current_revision};
use crate::master::service::{self, Manager, ServiceError, ServiceSettings, systemd::UNIT_NAME};
use crate::master::settings::MasterSettings;
use crate::master::tokens::TokenFile;
use crate::paths::Roots;

use super::{COMMAND_TIMEOUT, Check, NETWORK_TIMEOUT, Status, bounded, one_line, short};

/// The master checks, in order.
pub(super) fn checks(roots: &Roots) -> Vec<Check> {
    let dir = roots.master_dir();
    let identity = Identity::load(&dir);
    let settings = MasterSettings::load(&dir);
    let (published_check, published) = published_check(&dir, identity.as_ref().ok());
    let bind = settings.as_ref().ok().map(|s| (resolve(None, s), s.port));
    let fingerprint = identity.as_ref().ok().map(Identity::fingerprint);
    let (server_check, answered) = match &bind {
        Some(((addr, _), port)) => server_check(addr, *port, fingerprint.as_deref(), published.as_deref()),
        None => (Check::skip("server", "needs a valid master.toml"), false),
    };
    vec![
        identity_check(&identity),
        settings_check(&settings),
        published_check,
        service_check(roots, answered),
        server_check,
        match &bind {
            Some(((addr, source), _)) => bind_check(addr, *source),
            None => Check::skip("bind", "needs a valid master.toml"),
        },
        followers_check(&dir, published.as_deref()),
    ]
}

fn identity_check(identity: &Result<Identity, IdentityError>) -> Check {
    match identity {
        Ok(id) => Check::ok("identity", format!("fingerprint {}", id.fingerprint())),
        Err(IdentityError::Missing(_)) => Check::fail(
            "identity",
            "no identity.key: this master cannot sign",
            "run `codexport master init`",
        ),
        Err(e) => Check::fail(
            "identity",
            one_line(&e.to_string()),
            "restore identity.key from a backup, or `codexport master init --rotate-key` (every follower must re-join)",
        ),
    }
}

fn settings_check(settings: &Result<MasterSettings, crate::master::settings::SettingsError>) -> Check {
    match settings {
        Ok(s) => Check::ok(
            "master-settings",
            format!(
                "master.toml: port {}, bind {}, {} include entries, {} exclude patterns",
                s.port,
                s.bind,
                s.include.len(),
                s.exclude.len()
            ),
        ),
        Err(e) => Check::fail(
            "master-settings",
            one_line(&e.to_string()),
            crate::exit::ExitStatus::hint(e).unwrap_or_else(|| "fix master.toml".into()),
        ),
    }
}

/// The published revision, and whether state.yaml.sig verifies with this identity.
fn published_check(dir: &Path, identity: Option<&Identity>) -> (Check, Option<String>) {
    let rebuild = "run `codexport master rebuild`";
    let Some(revision) = current_revision(dir) else {
        return (
            Check::fail(
                "published",
                "no published revision (state.yaml missing or unreadable)",
                rebuild,
            ),
            None,
        );
    };
    let Some(identity) = identity else {
        return (
            Check::warn(
                "published",
                format!("{} (signature not checked: no identity)", short(&revision)),
                "run `codexport master init`",
            ),
            Some(revision),
        );
    };
    let signed = match (
        fs_err::read(dir.join(STATE_FILE)),
        fs_err::read_to_string(dir.join(SIGNATURE_FILE)),
    ) {
        (Ok(bytes), Ok(sig)) => verify(&identity.public_key_hex(), &bytes, sig.trim()).map_err(|e| e.to_string()),
        (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
    };
    let check = match signed {
        Ok(()) => Check::ok(
            "published",
            format!("{} (signature verified with identity.key)", short(&revision)),
        ),
        Err(reason) => Check::fail(
            "published",
            format!(
                "{}: {SIGNATURE_FILE} does not verify with identity.key: {}",
                short(&revision),
                one_line(&reason)
            ),
            format!("{rebuild} (it signs again with the current key)"),
        ),
    };
    (check, Some(revision))
}

/// `master service status`, at most [`COMMAND_TIMEOUT`] for all the `systemctl` queries.
fn service_check(roots: &Roots, server_answers: bool) -> Check {
    let settings = match ServiceSettings::from_env(roots) {
        Ok(s) => s,
        Err(e) => {
            return Check::warn(
                "service",
                one_line(&e.to_string()),
                "run `codexport master service status`",
            );
        }
    };
    let report = match bounded(COMMAND_TIMEOUT, move || service::status(&settings)) {
        Some(Ok(r)) => r,
        Some(Err(ServiceError::Unsupported(os))) => {
            return Check::skip(
                "service",
                format!("no service support on {os}: run `codexport master serve` from your own service manager"),
            );
        }
        Some(Err(e)) => {
            return Check::warn(
                "service",
                one_line(&e.to_string()),
                "run `codexport master service status`",
            );
        }
        None => return Check::timed_out("service", Status::Warn, "the service status query", COMMAND_TIMEOUT),
    };
    let restart = match report.manager {
        Manager::SystemdUser => {
            format!(
                "run `codexport master service install` again (it starts it); logs: `journalctl --user -u {UNIT_NAME}`"
            )
        }
        Manager::TaskScheduler => "run `codexport master service install` again (it starts it)".to_string(),
        Manager::Launchd => format!(
            "run `codexport master service install` again (it loads it); see `launchctl print gui/$(id -u)/{}`",
            service::launchd::LABEL
        ),
    };
    if !report.installed {
        let serving = if server_answers {
            "; a `master serve` started by hand answers, but it stops at logout or reboot"
        } else {
            ""
        };
        return Check::warn(
            "service",
            format!("not installed ({}){serving}", report.location),
            "run `codexport master service install`",
        );
    }
    if let Some(reason) = &report.unreachable {
        return Check::warn(
            "service",
            format!(
                "{} is installed, but the service manager is not reachable: {}",
                report.location,
                one_line(reason)
            ),
            format!("in a login session of this user: {restart}"),
        );
    }
    if report.active == "active" || report.active.eq_ignore_ascii_case("running") {
        Check::ok(
            "service",
            format!("{}: {}, {}", report.location, report.enabled, report.active),
        )
    } else {
        Check::warn(
            "service",
            format!("{} is installed but {}", report.location, report.active),
            restart,
        )
    }
}

/// Does a server answer where `master serve` listens, with this identity and revision?
fn server_check(addr: &str, port: u16, fingerprint: Option<&str>, published: Option<&str>) -> (Check, bool) {
    let host = match addr {
        a if is_wildcard(a) && a.contains(':') => "::1",
        a if is_wildcard(a) => "127.0.0.1",
        a => a,
    };
    let url = format!("http://{}", socket_addr(host, port));
    let base = url.clone();
    let result = bounded(NETWORK_TIMEOUT, move || {
        let start = Instant::now();
        let meta = MasterClient::with_timeout(&base, None, NETWORK_TIMEOUT)?.meta(None)?;
        Ok::<_, crate::follower::FollowerError>((meta, start.elapsed()))
    });
    let (meta, latency) = match result {
        Some(Ok((Some(meta), latency))) => (meta, latency),
        Some(Ok((None, _))) | Some(Err(_)) | None => {
            return (
                Check::fail(
                    "server",
                    format!("nothing answers at {url}: followers cannot sync"),
                    "run `codexport master service install` (or keep `codexport master serve` running)",
                ),
                false,
            );
        }
    };
    if fingerprint.is_some_and(|fp| fp != meta.fingerprint) {
        return (
            Check::fail(
                "server",
                format!(
                    "{url} answers with another identity ({}...)",
                    &meta.fingerprint.chars().take(16).collect::<String>()
                ),
                "stop whatever serves there (an older `master serve`?), then start the service again",
            ),
            true,
        );
    }
    let detail = format!(
        "{url} answered in {} ms, serving {}",
        latency.as_millis(),
        short(&meta.revision)
    );
    let check = match published {
        Some(p) if p != meta.revision => Check::warn(
            "server",
            format!("{detail}, but {} is published", short(p)),
            "it picks up new revisions by itself; if this persists, restart it",
        ),
        _ => Check::ok("server", detail),
    };
    (check, true)
}

fn bind_check(addr: &str, source: BindSource) -> Check {
    let loopback = addr == "localhost"
        || addr
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match source {
        BindSource::Loopback => Check::warn(
            "bind",
            format!(
                "auto resolves to {addr} ({}): followers on other machines cannot connect",
                source.describe()
            ),
            "start Tailscale (`tailscale up`), or set `bind` in master.toml",
        ),
        _ if is_wildcard(addr) => Check::warn(
            "bind",
            format!(
                "{addr} ({}) listens on every network interface, not only Tailscale",
                source.describe()
            ),
            "set `bind = \"auto\"` (the Tailscale address) in master.toml, then restart the server",
        ),
        BindSource::Tailscale => Check::ok("bind", format!("auto resolves to {addr} ({})", source.describe())),
        _ if loopback => Check::ok(
            "bind",
            format!("{addr} ({}): only this machine can connect", source.describe()),
        ),
        _ => Check::ok("bind", format!("{addr} ({})", source.describe())),
    }
}

/// Followers that are behind or were never seen (from followers-seen.json).
fn followers_check(dir: &Path, published: Option<&str>) -> Check {
    let tokens = match TokenFile::load(dir) {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                "followers",
                one_line(&e.to_string()),
                "restore tokens.json from a backup",
            );
        }
    };
    let rows: Vec<_> = list(&tokens, &load_seen(dir), published)
        .into_iter()
        .filter(|r| r.state != FollowerState::Revoked)
        .collect();
    if rows.is_empty() {
        return Check::skip("followers", "no follower linked yet")
            .with_fix("codexport master link --host <address> --name <follower>");
    }
    let names = |state: FollowerState| -> Vec<String> {
        rows.iter()
            .filter(|r| r.state == state)
            .map(|r| match (&r.applied_revision, &r.last_seen, state) {
                (_, _, FollowerState::Current) => r.name.clone(),
                (Some(a), Some(seen), _) => format!("{} (applied {}, seen {seen})", r.name, short(a)),
                (None, Some(seen), _) => format!("{} (nothing applied, seen {seen})", r.name),
                _ => r.name.clone(),
            })
            .collect()
    };
    let current = names(FollowerState::Current);
    let (behind, never) = (names(FollowerState::Behind), names(FollowerState::NeverSeen));
    let mut parts = Vec::new();
    for (label, list) in [("current", &current), ("behind", &behind), ("never seen", &never)] {
        if !list.is_empty() {
            parts.push(format!("{label}: {}", list.join(", ")));
        }
    }
    let detail = format!(
        "{} follower{}; {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        parts.join("; ")
    );
    match (behind.is_empty(), never.is_empty()) {
        (true, true) => Check::ok("followers", detail),
        (false, _) => Check::warn(
            "followers",
            detail,
            "run `codexport reconcile` on them (`codexport hook install` makes every Codex session do it)",
        ),
        (true, false) => Check::warn(
            "followers",
            detail,
            "join them with their link (`codexport follower join '<link>'`), or `codexport master revoke <name>`",
        ),
    }
}
