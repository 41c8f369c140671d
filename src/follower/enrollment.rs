//! Join links and `enrollment.toml` (master URL, pinned fingerprint and public key, token).
//!
//! Link format (DESIGN.md): `codexport://join?host=H&port=P&fingerprint=F&token=T`. It carries
//! no Codex secret; the token only lets its holder fetch from that master.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::FollowerError;

/// File name inside CODEXPORT_HOME.
pub const FILE_NAME: &str = "enrollment.toml";

/// What a follower needs to reach and trust its master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    /// `http://host:port`.
    pub master_url: String,
    /// Pinned fingerprint (64 hex).
    pub fingerprint: String,
    /// Bearer token.
    pub token: String,
}

impl JoinLink {
    /// Build from parts, validating them.
    pub fn new(master_url: &str, fingerprint: &str, token: &str) -> Result<Self, FollowerError> {
        let url = url::Url::parse(master_url)
            .map_err(|e| FollowerError::BadLink(format!("master URL {master_url:?}: {e}")))?;
        // Only scheme, host and port: user info, a path, a query or a fragment would send the
        // token somewhere the operator did not read in the URL.
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(FollowerError::BadLink(format!(
                "master URL {master_url:?} must be http://HOST:PORT"
            )));
        }
        let fingerprint = fingerprint.trim().to_ascii_lowercase();
        if !crate::blobstore::is_sha256_hex(&fingerprint) {
            return Err(FollowerError::BadLink("fingerprint must be 64 hex digits".into()));
        }
        if token.is_empty() || token.len() > 256 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FollowerError::BadLink("token is empty or malformed".into()));
        }
        Ok(JoinLink {
            master_url: master_url.trim_end_matches('/').to_string(),
            fingerprint,
            token: token.to_string(),
        })
    }

    /// Parse a `codexport://join?...` link.
    pub fn parse(link: &str) -> Result<Self, FollowerError> {
        let url = url::Url::parse(link.trim()).map_err(|e| FollowerError::BadLink(e.to_string()))?;
        if url.scheme() != "codexport" || url.host_str() != Some("join") {
            return Err(FollowerError::BadLink(format!(
                "{:?} is not a codexport://join link",
                url.scheme()
            )));
        }
        let get = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
        let missing = |k: &str| FollowerError::BadLink(format!("the link has no {k}="));
        let host = get("host").ok_or_else(|| missing("host"))?;
        let port: u16 = get("port")
            .ok_or_else(|| missing("port"))?
            .parse()
            .map_err(|_| FollowerError::BadLink("port is not a number".into()))?;
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        // A host name or address, nothing else: `/`, `?`, `#`, `@` in `host=` would otherwise
        // turn into a path, query or user info of the master URL (tests/fuzz_seeds.rs).
        let host = url::Host::parse(&host).map_err(|e| FollowerError::BadLink(format!("host {host:?}: {e}")))?;
        JoinLink::new(
            &format!("http://{host}:{port}"),
            &get("fingerprint").ok_or_else(|| missing("fingerprint"))?,
            &get("token").ok_or_else(|| missing("token"))?,
        )
    }

    /// Format as a link.
    pub fn to_link(host: &str, port: u16, fingerprint: &str, token: &str) -> String {
        let mut url = url::Url::parse("codexport://join").unwrap_or_else(|_| unreachable!("constant URL"));
        url.query_pairs_mut()
            .append_pair("host", host)
            .append_pair("port", &port.to_string())
            .append_pair("fingerprint", fingerprint)
            .append_pair("token", token);
        url.to_string()
    }
}

/// `enrollment.toml`: written by codexport at join, mode 0600 (it holds the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enrollment {
    /// Master base URL, `http://host:port`.
    pub master: String,
    /// Pinned fingerprint: hex sha256 of the master's public key.
    pub fingerprint: String,
    /// Pinned raw public key (hex); signatures are checked against it.
    pub public_key: String,
    /// Bearer token.
    pub token: String,
    /// This follower's name, sent in `X-Codexport-Follower`.
    pub name: String,
    /// When the join happened (RFC 3339).
    pub joined_at: String,
}

impl Enrollment {
    /// Path of the file under `codexport_home`.
    pub fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(FILE_NAME)
    }

    /// Load it; [`FollowerError::NotEnrolled`] when absent.
    pub fn load(codexport_home: &Path) -> Result<Self, FollowerError> {
        let path = Self::path(codexport_home);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FollowerError::NotEnrolled(path)),
            Err(e) => return Err(e.into()),
        };
        toml::from_str(&text).map_err(|e| {
            // The parser's Display quotes the offending line, which may be the token's: keep only
            // the position and the message.
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: ")
                })
                .unwrap_or_default();
            FollowerError::BadEnrollment {
                path,
                reason: format!("{at}{}", e.message().trim()),
            }
        })
    }

    /// Write it (mode 0600).
    pub fn save(&self, codexport_home: &Path) -> Result<(), FollowerError> {
        crate::fs::create_private_dir(codexport_home)?;
        let body = toml::to_string(self).map_err(|e| FollowerError::BadEnrollment {
            path: Self::path(codexport_home),
            reason: e.to_string(),
        })?;
        let text = format!("# Written by `codexport follower join`. Re-join to change it.\n{body}");
        crate::fs::write_atomic(&Self::path(codexport_home), text.as_bytes(), crate::fs::SECRET_MODE)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_enrollment_is_named_without_quoting_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "cxp_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        fs_err::write(
            dir.path().join("enrollment.toml"),
            format!("master = \"http://x:1\"\ntoken = \"{secret}\" oops\n"),
        )
        .unwrap();
        let err = Enrollment::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("enrollment.toml") && err.contains("line 2"), "{err}");
        assert!(!err.contains(secret) && !err.contains("cxp_"), "{err}");
    }

    #[test]
    fn link_round_trips() {
        let fp = "ab".repeat(32);
        let link = JoinLink::to_link("100.64.0.1", 17342, &fp, "cxp_t");
        let parsed = JoinLink::parse(&link).unwrap();
        assert_eq!(
            parsed,
            JoinLink {
                master_url: "http://100.64.0.1:17342".into(),
                fingerprint: fp.clone(),
                token: "cxp_t".into()
            }
        );
        let v6 = JoinLink::parse(&JoinLink::to_link("::1", 1, &fp, "t")).unwrap();
        assert_eq!(v6.master_url, "http://[::1]:1");
    }

    #[test]
    fn bad_links_name_the_problem() {
        let fp = "ab".repeat(32);
        for (link, needle) in [
            ("https://join?host=a".to_string(), "not a codexport://join"),
            ("codexport://join?port=1".to_string(), "no host="),
            (
                format!("codexport://join?host=a&port=x&fingerprint={fp}&token=t"),
                "port",
            ),
            (
                "codexport://join?host=a&port=1&fingerprint=zz&token=t".to_string(),
                "fingerprint",
            ),
        ] {
            let err = JoinLink::parse(&link).unwrap_err().to_string();
            assert!(err.contains(needle), "{link}: {err}");
        }
    }
}
