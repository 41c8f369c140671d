//! Follower checks that involve the master: enrollment, reachability (with latency), the pinned
//! identity, the token, the clock, the staged document and the revisions. The checks that
//! only look at this machine are in [`super::follower_local`].

use std::time::{Duration, Instant, SystemTime};

use crate::follower::FollowerError;
use crate::follower::client::MasterClient;
use crate::follower::enrollment::Enrollment;
use crate::follower::store::FollowerStore;
use crate::master::identity::fingerprint_of;
use crate::model::wire::{Meta, PROTOCOL};
use crate::paths::Roots;
use crate::reconcile::inventory::Inventory;

use super::{Check, MAX_CLOCK_SKEW_SECS, NETWORK_TIMEOUT, bounded, one_line, short};

const REJOIN: &str = "on the master: `codexport master link --host <address> --name <follower>`; here: `codexport follower join '<link>'`";

/// [`REJOIN`] for a follower whose name is known.
fn rejoin(name: &str) -> String {
    REJOIN.replace("<follower>", name)
}

/// What one unauthenticated `GET /v1/meta` saw.
struct Probe {
    meta: Meta,
    date: Option<String>,
    received: SystemTime,
    latency: Duration,
}

/// Every follower check, in order.
pub(super) fn checks(roots: &Roots) -> Vec<Check> {
    let mut out = Vec::new();
    match Enrollment::load(&roots.codexport_home) {
        Ok(enrollment) => {
            out.push(enrollment_check(&enrollment));
            out.extend(master_checks(roots, &enrollment));
        }
        Err(e) => {
            out.push(Check::fail("enrollment", one_line(&e.to_string()), REJOIN));
            for name in [
                "master-reachable",
                "master-identity",
                "token",
                "clock",
                "staged",
                "revisions",
                "freshness",
            ] {
                out.push(Check::skip(name, "needs a readable enrollment.toml"));
            }
        }
    }
    out.extend(super::follower_local::checks(roots));
    out
}

fn enrollment_check(e: &Enrollment) -> Check {
    let key_matches = hex::decode(&e.public_key).is_ok_and(|k| fingerprint_of(&k) == e.fingerprint);
    if !key_matches {
        return Check::fail(
            "enrollment",
            "enrollment.toml's pinned public key does not hash to its pinned fingerprint (edited by hand?)",
            rejoin(&e.name),
        );
    }
    Check::ok(
        "enrollment",
        format!(
            "`{}` follows {} (pinned {})",
            e.name,
            e.master,
            fingerprint_prefix(&e.fingerprint)
        ),
    )
}

/// Reachability, identity, token, clock, staged document and revisions.
fn master_checks(roots: &Roots, e: &Enrollment) -> Vec<Check> {
    let mut out = Vec::new();
    let probe = probe(e);
    let mut remote = None;
    match &probe {
        Ok(p) if p.meta.protocol != PROTOCOL => out.push(Check::fail(
            "master-reachable",
            format!(
                "{} answered in {} ms but speaks protocol {} (this codexport speaks {PROTOCOL})",
                e.master,
                p.latency.as_millis(),
                p.meta.protocol
            ),
            "run the same codexport version on the master and here",
        )),
        Ok(p) => out.push(Check::ok(
            "master-reachable",
            format!("{} answered in {} ms", e.master, p.latency.as_millis()),
        )),
        Err(reason) => out.push(Check::fail(
            "master-reachable",
            reason.clone(),
            "make sure `codexport master serve` runs on the master (`codexport master service status` there) and that this machine reaches it (`tailscale status`)",
        )),
    }
    match &probe {
        Ok(p) if p.meta.fingerprint == e.fingerprint && p.meta.public_key == e.public_key => {
            remote = Some(p.meta.revision.clone());
            out.push(Check::ok(
                "master-identity",
                format!(
                    "the master presents the pinned key {}",
                    fingerprint_prefix(&e.fingerprint)
                ),
            ));
        }
        Ok(p) => out.push(Check::fail(
            "master-identity",
            format!(
                "pinned {}, the master at {} presents {}: nothing will be synced",
                fingerprint_prefix(&e.fingerprint),
                e.master,
                fingerprint_prefix(&p.meta.fingerprint)
            ),
            format!(
                "if the master rotated its key on purpose, re-join ({REJOIN}); otherwise find out what answers there"
            ),
        )),
        Err(_) => out.push(Check::skip("master-identity", "the master did not answer")),
    }
    out.push(match &probe {
        Ok(_) => token_check(roots, e),
        Err(_) => Check::skip("token", "the master did not answer"),
    });
    out.push(match &probe {
        Ok(p) => clock_check(p),
        Err(_) => Check::skip("clock", "the master did not answer"),
    });
    let (staged_check, staged) = staged_check(roots, e);
    out.push(staged_check);
    out.push(revisions_check(roots, staged.as_deref(), remote.as_deref()));
    out.push(freshness_check(roots));
    out
}

/// How old the newest signed document accepted is (replay floor and freeze warning).
fn freshness_check(roots: &Roots) -> Check {
    use crate::follower::freshness::{FREEZE_WARN_AFTER, Freshness};
    match Freshness::load(&roots.codexport_home) {
        Ok(Some(f)) => {
            let days = f.age().map(|a| a.as_secs() / 86_400);
            let detail = format!(
                "publication {} signed {}{}; older ones are refused",
                f.sequence,
                f.generated_at,
                days.map(|d| format!(" ({d} day(s) ago)")).unwrap_or_default()
            );
            if f.age().is_some_and(|a| a > FREEZE_WARN_AFTER) {
                Check::warn(
                    "freshness",
                    detail,
                    "the master publishes only when something changed; if it did change since, something between here and the master holds this follower back: compare with `codexport master status` on the master",
                )
            } else {
                Check::ok("freshness", detail)
            }
        }
        Ok(None) => Check::skip("freshness", "no signed document accepted yet"),
        Err(e) => Check::fail(
            "freshness",
            one_line(&e.to_string()),
            "remove the damaged freshness.json, then run `codexport sync` (the next document becomes the floor)",
        ),
    }
}

fn fingerprint_prefix(fp: &str) -> String {
    format!("{}...", fp.chars().take(16).collect::<String>())
}

/// One unauthenticated `GET /v1/meta`, at most [`NETWORK_TIMEOUT`].
fn probe(e: &Enrollment) -> Result<Probe, String> {
    let base = e.master.clone();
    let result = bounded(NETWORK_TIMEOUT, move || {
        let client = MasterClient::with_timeout(&base, None, NETWORK_TIMEOUT)?;
        let start = Instant::now();
        let (meta, date) = client.meta_with_date()?;
        Ok::<_, FollowerError>(Probe {
            meta,
            date,
            received: SystemTime::now(),
            latency: start.elapsed(),
        })
    });
    match result {
        Some(Ok(p)) => Ok(p),
        Some(Err(err)) => Err(one_line(&err.to_string())),
        None => Err(format!(
            "{} did not answer within {} s",
            e.master,
            NETWORK_TIMEOUT.as_secs()
        )),
    }
}

/// An authenticated `GET /v1/meta`: a refused token gets the 404 of an unknown path.
fn token_check(roots: &Roots, e: &Enrollment) -> Check {
    let applied = Inventory::load(&roots.codexport_home).ok().and_then(|i| i.revision);
    let (base, token, name) = (e.master.clone(), e.token.clone(), e.name.clone());
    let result = bounded(NETWORK_TIMEOUT, move || {
        MasterClient::with_timeout(&base, Some(token), NETWORK_TIMEOUT)?
            .identify(&name, applied)
            .meta(None)
    });
    match result {
        Some(Ok(_)) => Check::ok("token", "accepted (an authenticated request to /v1/meta)"),
        Some(Err(FollowerError::TokenRefused { .. })) => Check::fail(
            "token",
            format!(
                "the master refuses this follower's token (revoked, or replaced by a newer link for `{}`)",
                e.name
            ),
            rejoin(&e.name),
        ),
        Some(Err(err)) => Check::fail(
            "token",
            one_line(&err.to_string()),
            "run `codexport doctor` again; `codexport sync` shows the full error",
        ),
        None => Check::timed_out(
            "token",
            super::Status::Fail,
            "the authenticated request",
            NETWORK_TIMEOUT,
        ),
    }
}

fn clock_check(p: &Probe) -> Check {
    let Some(remote) = p.date.as_deref().and_then(|d| httpdate::parse_http_date(d).ok()) else {
        return Check::skip("clock", "the master's answer had no usable Date header");
    };
    // The Date header has whole seconds (truncated): up to 1 s plus the latency is no skew.
    let (ahead, skew) = match p.received.duration_since(remote) {
        Ok(d) => (true, d.as_secs()),
        Err(e) => (false, e.duration().as_secs()),
    };
    if skew <= 2 {
        return Check::ok("clock", "in step with the master's (within 2 s)");
    }
    let detail = format!(
        "this clock is {skew} s {} the master's",
        if ahead { "ahead of" } else { "behind" }
    );
    if skew > MAX_CLOCK_SKEW_SECS {
        Check::warn(
            "clock",
            detail,
            "turn on time synchronisation on both machines (e.g. `timedatectl set-ntp true`); times in logs and `master followers` are off otherwise",
        )
    } else {
        Check::ok("clock", detail)
    }
}

/// The staged document, verified again with the pinned key; also returns its revision.
fn staged_check(roots: &Roots, e: &Enrollment) -> (Check, Option<String>) {
    match FollowerStore::new(&roots.codexport_home).load_staged(e) {
        Ok(Some(staged)) => {
            let revision = staged.doc.metadata.revision;
            (
                Check::ok(
                    "staged",
                    format!("{} (signature verified with the pinned key)", short(&revision)),
                ),
                Some(revision),
            )
        }
        Ok(None) => (
            Check::warn("staged", "nothing staged yet", "run `codexport sync`"),
            None,
        ),
        Err(err) => (
            Check::fail(
                "staged",
                one_line(&err.to_string()),
                "run `codexport sync` to fetch it again; if that fails too, apply nothing and read SECURITY.md",
            ),
            None,
        ),
    }
}

/// Applied vs staged vs the master's current revision.
fn revisions_check(roots: &Roots, staged: Option<&str>, remote: Option<&str>) -> Check {
    let applied = match Inventory::load(&roots.codexport_home) {
        Ok(i) => i.revision,
        Err(err) => {
            return Check::fail(
                "revisions",
                one_line(&err.to_string()),
                "inventory.json is codexport's record of what it wrote: move the broken file aside, then run `codexport apply`",
            );
        }
    };
    let Some(applied) = applied else {
        return Check::warn(
            "revisions",
            "nothing applied yet",
            "run `codexport plan`, then `codexport apply`",
        );
    };
    if let Some(remote) = remote
        && Some(remote) != staged
    {
        return Check::warn(
            "revisions",
            format!(
                "the master publishes {}, staged is {}, applied {}",
                short(remote),
                staged.map(short).unwrap_or_else(|| "nothing".into()),
                short(&applied)
            ),
            "run `codexport reconcile`",
        );
    }
    match staged {
        Some(staged) if staged != applied => Check::warn(
            "revisions",
            format!("staged {} is not applied (applied {})", short(staged), short(&applied)),
            "run `codexport plan`, then `codexport apply`",
        ),
        _ if remote.is_some() => Check::ok(
            "revisions",
            format!("applied = staged = the master's {}", short(&applied)),
        ),
        _ => Check::ok(
            "revisions",
            format!("applied = staged {} (the master was not asked)", short(&applied)),
        ),
    }
}
